/*
 * demo-service: a small service on libhealth to run and poke.
 *
 *   demo-service [--port N] [--fail-file PATH] [--stall-file PATH] [--hang]
 *                [--startup-delay MS] [--shutdown-delay MS]
 *   demo-service --probe [health-probe arguments]
 *
 * Checks: "dependency" (READY) simulates a downstream service: it fails
 * after SIGUSR1 until SIGUSR2, and while --fail-file exists.  "memory"
 * (LIVE) checks the process's own RSS.  With --hang, "hung" (READY) never
 * returns, to show the timeout.  The heartbeat "main-loop" (LIVE) beats
 * twice a second unless --stall-file exists.  SIGTERM or SIGINT drains:
 * /ready answers 503 at once, the service keeps serving for the shutdown
 * delay, then stops.  --probe runs the built-in probe client, for
 * HEALTHCHECK CMD ["/demo-service", "--probe"].
 */
#include <health/health.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RSS_LIMIT_MB 512.0

struct demo {
    int port;
    const char *fail_file;
    const char *stall_file;
    int hang;
    long startup_delay_ms;
    long shutdown_delay_ms;
    atomic_int broken;
};

static void usage(FILE *f)
{
    fputs("usage: demo-service [--port N] [--fail-file PATH] "
          "[--stall-file PATH] [--hang]\n"
          "                    [--startup-delay MS] [--shutdown-delay MS]\n"
          "       demo-service --probe [URL | PATH] [probe options]\n"
          "Port: --port, else $HEALTH_PORT, else 8080.  SIGUSR1 breaks the\n"
          "simulated dependency, SIGUSR2 heals it, SIGTERM drains.\n",
          f);
}

static int file_exists(const char *path)
{
    return path && access(path, F_OK) == 0;
}

static health_status_t check_dependency(health_result_t *result, void *ud)
{
    struct demo *d = ud;

    if (atomic_load(&d->broken) || file_exists(d->fail_file)) {
        health_result_setf(result, "connection refused (simulated)");
        return HEALTH_FAIL;
    }
    health_result_set_observed(result, 1.5, "ms");
    health_result_setf(result, "dependency answered (simulated)");
    return HEALTH_PASS;
}

static health_status_t check_memory(health_result_t *result, void *ud)
{
    long pages = 0;
    long rss = 0;
    double mb;
    FILE *f = fopen("/proc/self/statm", "r");

    (void)ud;
    if (!f || fscanf(f, "%ld %ld", &pages, &rss) != 2) {
        if (f)
            fclose(f);
        health_result_setf(result, "cannot read /proc/self/statm");
        return HEALTH_WARN;
    }
    fclose(f);
    mb = (double)rss * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
    health_result_set_observed(result, mb, "MiB");
    if (mb > RSS_LIMIT_MB) {
        health_result_setf(result, "RSS %.1f MiB over %.0f MiB", mb,
                           RSS_LIMIT_MB);
        return HEALTH_FAIL;
    }
    return HEALTH_PASS;
}

static health_status_t check_hang(health_result_t *result, void *ud)
{
    (void)result;
    (void)ud;
    for (;;)
        pause();
    return HEALTH_PASS;
}

static const struct health_check dependency_check = {
    .name = "dependency",
    .flags = HEALTH_CHECK_READY,
    .timeout_ms = 500,
    .interval_ms = 1000,
    .run = check_dependency,
};

static const struct health_check memory_check = {
    .name = "memory",
    .flags = HEALTH_CHECK_LIVE,
    .timeout_ms = 500,
    .interval_ms = 5000,
    .run = check_memory,
};

static const struct health_check hung_check = {
    .name = "hung",
    .flags = HEALTH_CHECK_READY,
    .timeout_ms = 1000,
    .interval_ms = 5000,
    .run = check_hang,
};

static void on_change(const char *name, health_status_t status,
                      const char *output, void *ud)
{
    static const char *const names[] = { "pass", "warn", "fail" };

    (void)ud;
    fprintf(stderr, "demo-service: check %s is now %s%s%s\n", name,
            names[status], *output ? ": " : "", output);
}

static void on_log(const char *message, void *ud)
{
    (void)ud;
    fprintf(stderr, "demo-service: %s\n", message);
}

static int parse_long(const char *s, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(struct demo *d, int argc, char **argv)
{
    long v;
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--hang") == 0) {
            d->hang = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (!val)
            return -1;
        i++;
        if (strcmp(a, "--fail-file") == 0)
            d->fail_file = val;
        else if (strcmp(a, "--stall-file") == 0)
            d->stall_file = val;
        else if (strcmp(a, "--port") == 0 && parse_long(val, 65535, &v) == 0)
            d->port = v ? (int)v : HEALTH_PORT_EPHEMERAL;
        else if (strcmp(a, "--startup-delay") == 0 &&
                 parse_long(val, 3600000, &v) == 0)
            d->startup_delay_ms = v;
        else if (strcmp(a, "--shutdown-delay") == 0 &&
                 parse_long(val, 3600000, &v) == 0)
            d->shutdown_delay_ms = v;
        else
            return -1;
    }
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits up to @ms for one of @set's signals; 0 on timeout. */
static int wait_signal(const sigset_t *set, long long ms)
{
    struct timespec ts;
    int sig;

    if (ms < 0)
        ms = 0;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000;
    sig = sigtimedwait(set, NULL, &ts);
    return sig < 0 ? 0 : sig;
}

static int setup(struct demo *d, health_t **ret)
{
    struct health_options opts = {
        .port = d->port,
        .flags = HEALTH_OPT_MANUAL_STARTUP,
        .version = "0.1.0",
        .service_id = "demo-service",
        .description = "libhealth demo service",
        .on_change = on_change,
        .log = on_log,
    };
    health_t *h;
    int r;

    r = health_create(&h, &opts);
    if (r < 0)
        return r;
    r = health_register_check(h, &dependency_check, d);
    if (r == 0)
        r = health_register_check(h, &memory_check, NULL);
    if (r == 0 && d->hang)
        r = health_register_check(h, &hung_check, NULL);
    if (r == 0)
        r = health_start(h);
    if (r < 0) {
        health_destroy(h);
        return r;
    }
    *ret = h;
    return 0;
}

/* The service's main loop: beats, handles signals, and drains on SIGTERM
 * or SIGINT.  A second SIGTERM during the drain stops at once. */
static void run(struct demo *d, health_t *h, health_heartbeat_t *hb,
                const sigset_t *set)
{
    long long started_at = now_ms();
    long long drain_until = -1;
    int started = 0;
    int sig;

    for (;;) {
        if (!file_exists(d->stall_file))
            health_heartbeat_beat(hb);
        if (!started && now_ms() - started_at >= d->startup_delay_ms) {
            health_set_started(h);
            started = 1;
            fprintf(stderr, "demo-service: startup complete\n");
        }
        if (drain_until >= 0 && now_ms() >= drain_until)
            return;
        sig = wait_signal(set, 500);
        if (sig == SIGUSR1 || sig == SIGUSR2) {
            atomic_store(&d->broken, sig == SIGUSR1);
            fprintf(stderr, "demo-service: dependency %s\n",
                    sig == SIGUSR1 ? "broken" : "healed");
        } else if (sig == SIGTERM || sig == SIGINT) {
            if (drain_until >= 0)
                return;
            health_begin_shutdown(h);
            drain_until = now_ms() + d->shutdown_delay_ms;
            fprintf(stderr, "demo-service: draining for %ld ms\n",
                    d->shutdown_delay_ms);
        }
    }
}

int main(int argc, char **argv)
{
    struct demo d = { .shutdown_delay_ms = 2000 };
    health_heartbeat_t *hb;
    health_t *h;
    sigset_t set;
    int r;

    if (argc > 1 && strcmp(argv[1], "--probe") == 0)
        return health_probe_main(argc - 1, argv + 1);
    r = parse_args(&d, argc, argv);
    if (r != 0) {
        usage(r > 0 ? stdout : stderr);
        return r > 0 ? 0 : 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    r = setup(&d, &h);
    if (r == 0)
        r = health_register_heartbeat(h, "main-loop", 3000, &hb);
    if (r < 0) {
        fprintf(stderr, "demo-service: %s\n", health_strerror(r));
        return 1;
    }
    fprintf(stderr, "demo-service: serving on port %d (pid %d)\n",
            health_port(h), (int)getpid());
    run(&d, h, hb, &set);
    health_destroy(h);
    fprintf(stderr, "demo-service: stopped\n");
    return 0;
}
