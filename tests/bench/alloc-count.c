/* SPDX-License-Identifier: MIT */
/*
 * alloc-count.so - counts the allocations one thread makes, by caller and
 * size, to see what a probe costs on the allocator:
 *
 *   LD_PRELOAD=build-bench/tests/bench/alloc-count.so \
 *   ALLOC_COUNT_THREAD=MHD bench-server 8080
 *
 * Counts malloc, calloc, realloc, free, mmap and munmap called by threads
 * whose name starts with $ALLOC_COUNT_THREAD (default "MHD", libmicrohttpd's
 * thread) and prints one line per caller and size on stderr at exit:
 *   ALLOC FUNCTION SIZE COUNT OBJECT:SYMBOL+OFFSET
 * Divide by the number of probes sent.  Not thread-safe beyond one counted
 * thread; a measuring tool, not part of the library.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_ENTRIES 512

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

struct entry {
    const char *fn;
    void *caller;
    size_t size;
    unsigned long n;
};

static struct entry table[MAX_ENTRIES];
static int entries;
static __thread int busy;

static int counted_thread(void)
{
    char name[17] = "";
    const char *want = getenv("ALLOC_COUNT_THREAD");

    if (!want)
        want = "MHD";
    (void)prctl(PR_GET_NAME, name);
    return strncmp(name, want, strlen(want)) == 0;
}

static void note(const char *fn, void *caller, size_t size)
{
    int i;

    if (busy)
        return;
    busy = 1;
    if (counted_thread()) {
        for (i = 0; i < entries; i++)
            if (table[i].fn == fn && table[i].caller == caller &&
                table[i].size == size)
                break;
        if (i == entries && entries < MAX_ENTRIES)
            table[entries++] = (struct entry){ fn, caller, size, 0 };
        if (i < MAX_ENTRIES)
            table[i].n++;
    }
    busy = 0;
}

void *malloc(size_t size)
{
    note("malloc", __builtin_return_address(0), size);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    note("calloc", __builtin_return_address(0), n * size);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    note("realloc", __builtin_return_address(0), size);
    return __libc_realloc(p, size);
}

void free(void *p)
{
    if (p)
        note("free", __builtin_return_address(0), 0);
    __libc_free(p);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    note("mmap", __builtin_return_address(0), len);
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len)
{
    note("munmap", __builtin_return_address(0), len);
    return (int)syscall(SYS_munmap, addr, len);
}

__attribute__((destructor)) static void dump(void)
{
    busy = 1;
    for (int i = 0; i < entries; i++) {
        Dl_info di;
        const char *sym = "?";
        const char *obj = "?";
        long off = 0;

        if (dladdr(table[i].caller, &di)) {
            if (di.dli_sname) {
                sym = di.dli_sname;
                off = (long)((char *)table[i].caller - (char *)di.dli_saddr);
            }
            if (di.dli_fname)
                obj = strrchr(di.dli_fname, '/')
                          ? strrchr(di.dli_fname, '/') + 1
                          : di.dli_fname;
        }
        fprintf(stderr, "ALLOC %-8s %8zu %8lu %s:%s+%ld\n", table[i].fn,
                table[i].size, table[i].n, obj, sym, off);
    }
}
