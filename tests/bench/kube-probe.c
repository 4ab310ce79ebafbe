/* SPDX-License-Identifier: MIT */
/*
 * kube-probe - probes an HTTP endpoint the way the kubelet does: a new TCP
 * connection per probe, "GET PATH" with Connection: close, a deadline per
 * probe (the kubelet's timeoutSeconds), one probe at a time at a fixed rate
 * (a probe that runs late delays the next, none overlap).
 *
 *   kube-probe [--count N] [--rate PER_S] [--deadline-ms MS] [--path P]
 *              [--raw FILE] PORT
 *
 * Defaults: 400 ticks, 20 per second, 1000 ms, /live.  Prints one line:
 *   probes=N ok=N over=N failed=N p50_us=N p99_us=N max_us=N
 * "probes": the probes made (COUNT less the ticks skipped).
 * "ok": a 2xx or 3xx status within the deadline; "over": no complete
 * answer within the deadline (counted at the deadline in the percentiles);
 * "failed": an answer in time that is not 2xx or 3xx, or a reset.
 * --raw writes every probe's microseconds and outcome, one a line.
 * Exits 0 once every probe ran, whatever their outcome.
 */
#define _POSIX_C_SOURCE 200809L

#include "bench-common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROBES 100000u

enum outcome {
    PROBE_OK,
    PROBE_OVER,
    PROBE_FAILED
};

struct probe_config {
    unsigned count;
    unsigned rate;
    unsigned deadline_ms;
    unsigned port;
    const char *path;
    const char *raw;
};

/* Waits for @events on @fd until @deadline_us (CLOCK_MONOTONIC).
 * Returns 1 when ready, 0 at the deadline, -1 on error. */
static int wait_fd(int fd, short events, int64_t deadline_us)
{
    for (;;) {
        struct pollfd p = { fd, events, 0 };
        int64_t left = deadline_us - bench_now_us(CLOCK_MONOTONIC);
        int n;

        if (left <= 0)
            return 0;
        n = poll(&p, 1, (int)((left + 999) / 1000));
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static int open_connection(unsigned port, int64_t deadline_us)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int err = 0;
    socklen_t len = sizeof(err);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return fd;
    if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline_us) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One probe: OK, OVER (deadline passed) or FAILED. */
static enum outcome probe_once(const struct probe_config *cfg,
                               int64_t deadline_us)
{
    char req[512];
    char buf[4096];
    size_t have = 0;
    int status = -1;
    int len = snprintf(req, sizeof(req),
                       "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                       "User-Agent: kube-probe/1.29\r\nAccept: */*\r\n"
                       "Connection: close\r\n\r\n",
                       cfg->path, cfg->port);
    int fd = open_connection(cfg->port, deadline_us);

    if (fd < 0)
        return bench_now_us(CLOCK_MONOTONIC) >= deadline_us ? PROBE_OVER
                                                            : PROBE_FAILED;
    if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
        close(fd);
        return PROBE_FAILED;
    }
    for (;;) {
        int w = wait_fd(fd, POLLIN, deadline_us);
        ssize_t n;

        if (w <= 0) {
            close(fd);
            return w == 0 ? PROBE_OVER : PROBE_FAILED;
        }
        n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        if (status < 0 && have >= 12 &&
            sscanf(buf, "HTTP/1.%*c %d", &status) != 1)
            break;
        if (have > sizeof(buf) / 2)
            have = 0;
    }
    close(fd);
    return status >= 200 && status < 400 ? PROBE_OK : PROBE_FAILED;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* The nearest-rank percentile @p (0..100) of @n sorted values. */
static int64_t percentile(const int64_t *v, unsigned n, unsigned p)
{
    unsigned rank = (n * p + 99) / 100;

    return v[rank > 0 ? rank - 1 : 0];
}

static int parse_args(int argc, char **argv, struct probe_config *cfg)
{
    int have_port = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;

        if (strcmp(arg, "--count") == 0 && val && ++i)
            rc = bench_parse_uint(val, MAX_PROBES, &cfg->count);
        else if (strcmp(arg, "--rate") == 0 && val && ++i)
            rc = bench_parse_uint(val, 1000, &cfg->rate);
        else if (strcmp(arg, "--deadline-ms") == 0 && val && ++i)
            rc = bench_parse_uint(val, 600000, &cfg->deadline_ms);
        else if (strcmp(arg, "--path") == 0 && val && ++i)
            cfg->path = val;
        else if (strcmp(arg, "--raw") == 0 && val && ++i)
            cfg->raw = val;
        else if (arg[0] != '-' && !have_port && ++have_port)
            rc = bench_parse_uint(arg, 65535, &cfg->port);
        else
            rc = -1;
        if (rc != 0)
            return -1;
    }
    if (!have_port || cfg->count == 0 || cfg->rate == 0 ||
        cfg->deadline_ms == 0 || cfg->path[0] != '/' || strlen(cfg->path) > 256)
        return -1;
    return 0;
}

static void sleep_until(int64_t t_us)
{
    struct timespec ts = { (time_t)(t_us / 1000000),
                           (long)(t_us % 1000000) * 1000 };

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

int main(int argc, char **argv)
{
    struct probe_config cfg = { 400, 20, 1000, 0, "/live", NULL };
    unsigned counts[3] = { 0, 0, 0 };
    int64_t *lat;
    int64_t start;
    unsigned n = 0;
    FILE *raw = NULL;

    if (parse_args(argc, argv, &cfg) != 0) {
        fprintf(stderr, "usage: kube-probe [--count N] [--rate PER_S] "
                        "[--deadline-ms MS] [--path P] [--raw FILE] PORT\n");
        return 2;
    }
    lat = calloc(cfg.count, sizeof(*lat));
    if (!lat || (cfg.raw && !(raw = fopen(cfg.raw, "w")))) {
        perror("kube-probe");
        return 1;
    }
    start = bench_now_us(CLOCK_MONOTONIC);
    /* Tick i is due at start + i / rate. */
    for (unsigned tick = 0; tick < cfg.count; tick++) {
        int64_t due = start + (int64_t)tick * 1000000 / cfg.rate;
        int64_t t0, deadline, took;
        enum outcome o;

        if (bench_now_us(CLOCK_MONOTONIC) > due + 1000000 / cfg.rate)
            continue; /* missed while the previous probe ran */
        sleep_until(due);
        t0 = bench_now_us(CLOCK_MONOTONIC);
        deadline = t0 + (int64_t)cfg.deadline_ms * 1000;
        o = probe_once(&cfg, deadline);
        took = bench_now_us(CLOCK_MONOTONIC) - t0;
        if (o == PROBE_OVER || took > (int64_t)cfg.deadline_ms * 1000) {
            o = PROBE_OVER;
            took = (int64_t)cfg.deadline_ms * 1000;
        }
        lat[n++] = took;
        counts[o]++;
        if (raw)
            fprintf(raw, "%lld %s\n", (long long)took,
                    o == PROBE_OK     ? "ok"
                    : o == PROBE_OVER ? "over"
                                      : "failed");
    }
    if (raw)
        fclose(raw);
    qsort(lat, n, sizeof(*lat), cmp_i64);
    printf("probes=%u ok=%u over=%u failed=%u p50_us=%lld p99_us=%lld "
           "max_us=%lld\n",
           n, counts[PROBE_OK], counts[PROBE_OVER], counts[PROBE_FAILED],
           (long long)percentile(lat, n, 50), (long long)percentile(lat, n, 99),
           (long long)lat[n - 1]);
    free(lat);
    return 0;
}
