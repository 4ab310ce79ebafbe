// go-server: the Go net/http peer of the libhealth benchmarks
// (tests/bench/run --with-peers).  Serves $BODY as application/health+json
// on every path, on 127.0.0.1:PORT.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	body := []byte(os.Getenv("BODY"))
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
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
