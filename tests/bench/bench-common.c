/* SPDX-License-Identifier: MIT */
#define _POSIX_C_SOURCE 200809L

#include "bench-common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STARTUP_LIMIT_US (5 * 1000 * 1000)
#define LOAD_MAX_THREADS 4096u
#define LOAD_BLOCKS 64u

int bench_parse_uint(const char *text, unsigned max, unsigned *out)
{
    char *end = NULL;
    unsigned long value;

    if (text == NULL || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    value = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || value > max)
        return -1;
    *out = (unsigned)value;
    return 0;
}

int64_t bench_now_us(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int connect_loopback(unsigned port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads the whole response (the server closes) and parses its status. */
static int read_status(int fd)
{
    char buf[4096];
    size_t have = 0;
    int status = -1;

    for (;;) {
        ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        if (status < 0 && have >= 12 &&
            sscanf(buf, "HTTP/1.%*c %d", &status) != 1)
            return -1;
        if (have > sizeof(buf) / 2)
            have = 0; /* status parsed; keep draining */
    }
    return status;
}

int bench_http_status(unsigned port, const char *path)
{
    char req[256];
    int fd, len, status;

    len = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Connection: close\r\n\r\n",
                   path);
    if (len < 0 || (size_t)len >= sizeof(req))
        return -1;
    fd = connect_loopback(port);
    if (fd < 0)
        return -1;
    status = send_all(fd, req, (size_t)len) == 0 ? read_status(fd) : -1;
    close(fd);
    return status;
}

void bench_block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

void bench_wait_signal(const sigset_t *set)
{
    int sig = 0;

    while (sigwait(set, &sig) != 0)
        ;
}

void bench_print_listening(unsigned port)
{
    printf("listening port=%u pid=%ld\n", port, (long)getpid());
    fflush(stdout);
}

/* Polls @path until it answers 200; returns CLOCK_MONOTONIC then, or -1. */
static int64_t wait_200(unsigned port, const char *path, int64_t t0)
{
    const struct timespec pause = { 0, 50 * 1000 };

    for (;;) {
        int64_t now;

        if (bench_http_status(port, path) == 200)
            return bench_now_us(CLOCK_MONOTONIC);
        now = bench_now_us(CLOCK_MONOTONIC);
        if (now - t0 > STARTUP_LIMIT_US)
            return -1;
        nanosleep(&pause, NULL);
    }
}

int bench_report_startup(int64_t t0_mono_us, unsigned port)
{
    int64_t live = wait_200(port, "/live", t0_mono_us);
    int64_t ready;

    if (live < 0) {
        fprintf(stderr, "startup: /live never answered 200\n");
        return -1;
    }
    ready = wait_200(port, "/ready", t0_mono_us);
    if (ready < 0) {
        fprintf(stderr, "startup: /ready never answered 200\n");
        return -1;
    }
    printf("startup live_us=%lld ready_us=%lld\n",
           (long long)(live - t0_mono_us), (long long)(ready - t0_mono_us));
    fflush(stdout);
    return 0;
}

/* --- host load ------------------------------------------------------------ */

static volatile unsigned long load_sink;
static FILE *load_file;
/* Every load thread waits here until all are created, so the load starts
 * at once rather than while the creating thread competes with it. */
static pthread_barrier_t load_start;

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void *load_spin(void *arg)
{
    unsigned long n = 0;

    (void)arg;
    pthread_barrier_wait(&load_start);
    for (;;)
        load_sink = ++n;
    return NULL;
}

static void *load_malloc(void *arg)
{
    unsigned char *blocks[LOAD_BLOCKS] = { NULL };
    uint32_t seed = (uint32_t)(uintptr_t)arg * 2654435761u + 1u;

    pthread_barrier_wait(&load_start);
    for (;;) {
        uint32_t r = xorshift(&seed);
        unsigned slot = r % LOAD_BLOCKS;
        /* 16 B to 32 KiB, more small blocks than large ones. */
        size_t size = (size_t)16 << ((r >> 8) % 11);

        size += (r >> 16) % size;
        free(blocks[slot]);
        blocks[slot] = malloc(size);
        if (blocks[slot])
            blocks[slot][0] = (unsigned char)r;
    }
    return NULL;
}

static void *load_stdio(void *arg)
{
    unsigned long n = 0;

    pthread_barrier_wait(&load_start);
    for (;;) {
        fprintf(load_file, "worker %lu request %lu took %.3f ms: %s\n",
                (unsigned long)(uintptr_t)arg, n, (double)(n % 997) / 7.0,
                "ok");
        n++;
    }
    return NULL;
}

int bench_start_load(const char *spec)
{
    void *(*fn)(void *);
    const char *colon = strchr(spec, ':');
    size_t kind_len = colon ? (size_t)(colon - spec) : 0;
    unsigned threads;
    pthread_attr_t attr;

    if (!colon || bench_parse_uint(colon + 1, LOAD_MAX_THREADS, &threads) != 0)
        return -1;
    if (kind_len == 4 && strncmp(spec, "spin", 4) == 0)
        fn = load_spin;
    else if (kind_len == 6 && strncmp(spec, "malloc", 6) == 0)
        fn = load_malloc;
    else if (kind_len == 5 && strncmp(spec, "stdio", 5) == 0)
        fn = load_stdio;
    else
        return -1;
    if (threads == 0 || (fn == load_stdio && !load_file &&
                         !(load_file = fopen("/dev/null", "w"))))
        return -1;
    if (pthread_barrier_init(&load_start, NULL, threads + 1) != 0)
        return -1;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (unsigned i = 0; i < threads; i++) {
        pthread_t t;

        if (pthread_create(&t, &attr, fn, (void *)(uintptr_t)(i + 1)) != 0) {
            pthread_attr_destroy(&attr);
            return -1;
        }
    }
    pthread_attr_destroy(&attr);
    pthread_barrier_wait(&load_start);
    return 0;
}
