/*
 * metrics-dump N [--openmetrics]: prints the exposition of a handle with N
 * checks once every check has a result, for promtool and the OpenMetrics
 * parser.  Every tenth check fails, every tenth warns, one times out, one
 * hangs and stays pending (a STARTUP check, so /started fails), and a
 * heartbeat beats; the options' strings hold quotes and backslashes.
 * Prints "bytes=N render_us=N" to stderr.  Exit 0, or 1 on any error.
 */
#include <health/health.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHECKS 10000

static health_status_t check_mixed(health_result_t *r, void *ud)
{
    unsigned i = (unsigned)(size_t)ud;

    health_result_setf(r, "output \"%u\" is never exported", i);
    if (i % 10 == 1)
        return HEALTH_FAIL;
    return i % 10 == 2 ? HEALTH_WARN : HEALTH_PASS;
}

static health_status_t check_slow(health_result_t *r, void *ud)
{
    struct timespec ts = { 0, 300 * 1000000 };

    (void)r;
    (void)ud;
    (void)nanosleep(&ts, NULL);
    return HEALTH_PASS;
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int register_all(health_t *h, unsigned n)
{
    struct health_check c = { .interval_ms = 600000, .run = check_mixed };
    char name[HEALTH_NAME_MAX + 1];
    unsigned i;
    int r = 0;

    for (i = 0; i < n && r == 0; i++) {
        snprintf(name, sizeof(name), "check-%04u", i);
        c.name = name;
        c.flags = i % 3 == 0 ? HEALTH_CHECK_LIVE : HEALTH_CHECK_READY;
        c.run = i == 3 ? check_slow : check_mixed;
        c.timeout_ms = i == 3 ? 50 : 0;
        r = health_register_check(h, &c, (void *)(size_t)i);
    }
    return r;
}

static health_status_t check_hang(health_result_t *r, void *ud)
{
    (void)r;
    (void)ud;
    for (;;)
        pause();
    return HEALTH_PASS;
}

static int count(const char *s, const char *needle)
{
    int n = 0;

    while ((s = strstr(s, needle))) {
        n++;
        s++;
    }
    return n;
}

/* Waits until the only pending check is the one that never runs. */
static char *wait_results(health_t *h, unsigned flags, int *len)
{
    struct timespec pause_ts = { 0, 20 * 1000000 };
    int64_t deadline = now_us() + 60 * 1000000;
    char *buf = NULL;
    int n;

    for (;;) {
        n = health_metrics_write(h, NULL, 0, flags);
        if (n < 0)
            break;
        free(buf);
        buf = malloc((size_t)n + 1);
        if (!buf) {
            n = -1;
            break;
        }
        /* Results may come in between the two calls: a longer exposition
         * is cut, and looked at again. */
        if (health_metrics_write(h, buf, (size_t)n + 1, flags) <= n &&
            count(buf, "status=\"pending\"} 1\n") == 1 &&
            strstr(buf, "{check=\"never\",status=\"pending\"} 1\n") &&
            strstr(buf, "health_check_timeouts_total{check=\"check-0003\"} 1"))
            break;
        if (now_us() > deadline) {
            fprintf(stderr, "metrics-dump: checks never all ran\n");
            n = -1;
            break;
        }
        (void)nanosleep(&pause_ts, NULL);
    }
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL,
                                .bind_address = "127.0.0.1",
                                .version = "2.0 \"rc\\1\"",
                                .service_id = "dump",
                                .release_id = "a\"b" };
    struct health_check never = { .name = "never",
                                  .flags = HEALTH_CHECK_STARTUP,
                                  .timeout_ms = 600000,
                                  .run = check_hang };
    unsigned flags = argc > 2 && strcmp(argv[2], "--openmetrics") == 0
                         ? HEALTH_METRICS_OPENMETRICS
                         : 0;
    health_heartbeat_t *hb;
    health_t *h;
    char *buf;
    int64_t t0;
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    int len;
    int r;

    if (n < 1 || n > MAX_CHECKS || health_create(&h, &o) < 0)
        return 1;
    r = register_all(h, (unsigned)n);
    if (r == 0)
        r = health_register_heartbeat(h, "main-loop", 60000, &hb);
    if (r == 0)
        r = health_start(h);
    if (r == 0)
        r = health_register_check(h, &never, NULL);
    if (r < 0) {
        fprintf(stderr, "metrics-dump: %s\n", health_strerror(r));
        return 1;
    }
    buf = wait_results(h, flags, &len);
    if (len < 0 || !buf)
        return 1;
    /* Again, timed, with room for ages that grew a digit meanwhile. */
    free(buf);
    buf = malloc((size_t)len + 4097);
    t0 = now_us();
    len = health_metrics_write(h, buf, (size_t)len + 4097, flags);
    t0 = now_us() - t0;
    if (len < 0 || !strstr(buf, "\nhealth_heartbeat_age_seconds{")) {
        fprintf(stderr, "metrics-dump: cut short (%d bytes)\n", len);
        return 1;
    }
    fprintf(stderr, "bytes=%d render_us=%lld\n", len, (long long)t0);
    fwrite(buf, 1, (size_t)len, stdout);
    free(buf);
    health_destroy(h);
    return 0;
}
