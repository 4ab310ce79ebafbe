// go-server: the Go net/http peer of the libhealth benchmarks
// (tests/bench/run --with-peers).  Serves $BODY as application/health+json
// on every path, on 127.0.0.1:PORT.  LOAD=spin:N or LOAD=malloc:N starts N
// goroutines that spin or allocate, the host load of case 8.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

var sink uint64

func spin() {
	for {
		sink++
	}
}

func allocate(seed uint32) {
	var blocks [64][]byte
	for {
		seed ^= seed << 13
		seed ^= seed >> 17
		seed ^= seed << 5
		size := 16 << ((seed >> 8) % 11)
		size += int(seed>>16) % size
		b := make([]byte, size)
		b[0] = byte(seed)
		blocks[seed%64] = b
	}
}

func startLoad(spec string) {
	kind, count, ok := strings.Cut(spec, ":")
	n, err := strconv.Atoi(count)
	if !ok || err != nil {
		return
	}
	for i := 0; i < n; i++ {
		switch kind {
		case "spin":
			go spin()
		case "malloc":
			go allocate(uint32(i)*2654435761 + 1)
		}
	}
}

func main() {
	body := []byte(os.Getenv("BODY"))
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	startLoad(os.Getenv("LOAD"))
	fmt.Printf("listening port=%s pid=%d\n", os.Args[1], os.Getpid())
	handler := func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/health+json")
		h.Set("Cache-Control", "no-store")
		w.Write(body)
	}
	fmt.Fprintln(os.Stderr, http.Serve(ln, http.HandlerFunc(handler)))
	os.Exit(1)
}
