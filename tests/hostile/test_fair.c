/*
 * Fair slots: a flood from one address, loopback or not, never locks the
 * other probers out (README, Security; health.h, max_connections).
 *
 *   hostile_fair flood|slowloris sidecar|loopback|remote [evict]
 *
 * In a network namespace of its own, three probers probe /ready on a
 * fresh connection every 50 ms with a 1 s deadline, as three classes of
 * client do in a pod:
 *
 *   sidecar   127.0.0.6 -> the pod IP    (Istio's inbound forwarding)
 *   loopback  127.0.0.1 -> 127.0.0.1     (Docker HEALTHCHECK)
 *   remote    192.0.2.11 -> the pod IP   (the kubelet)
 *
 * while 1,000 connections from one of those classes (the sidecar's and
 * loopback's own address; remote: 192.0.2.20) flood the server for 6 s
 * (longer if needed for 100 probes from each prober),
 * each re-opened as soon as the server drops it: idle ("flood") or
 * trickling a request a byte every 250 ms ("slowloris").  By default the
 * server has its default limits (512, 32 per address): the flooding
 * address is held to its 32.  With "evict", max_connections is 64 and so
 * is max_connections_per_ip: one address can take every slot, and the
 * others get in by evicting its connections.
 *
 * Fails when a prober of another class than the flood's gets under 99 %
 * (or fewer than 100 probes; under valgrind or a sanitizer, with 200
 * connections, the rates are only reported), when the server holds more than
 * max_connections + 32 sockets, or when it keeps any once the flood is
 * gone.  The flood's own class is reported: it shares the flooding
 * address (the remote prober excepted, which is another address and is
 * held to 99 % too).
 */
#include "hostile.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#define RUN_MS 6000
#define GAP_MS 50

enum {
    SIDECAR,
    LOOPBACK,
    REMOTE,
    N_CLASSES
};

static const char *const class_name[N_CLASSES] = { "sidecar", "loopback",
                                                   "remote" };
/* Each class's probe: source and destination. */
static const char *const probe_src[N_CLASSES] = { NS_SIDECAR, "127.0.0.1",
                                                  NS_KUBELET };
static const char *const probe_dst[N_CLASSES] = { NS_POD, "127.0.0.1", NS_POD };
/* Each class's flood: source (the destination is the probe's). */
static const char *const flood_src[N_CLASSES] = { NS_SIDECAR, "127.0.0.1",
                                                  "192.0.2.20" };

static health_status_t pass(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_setf(r, "ok");
    return HEALTH_PASS;
}

static const struct health_check db = { .name = "db",
                                        .flags = HEALTH_CHECK_READY |
                                                 HEALTH_CHECK_LIVE,
                                        .interval_ms = 1000,
                                        .run = pass };

struct conn {
    int fd;
    size_t sent;
};

static const char slow_req[] = "GET /live HTTP/1.1\r\nHost: x\r\nX-Slow: ";

static bool gone(struct conn *c)
{
    char buf[512];
    ssize_t n;

    if (c->fd < 0)
        return true;
    for (;;) {
        n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            close(c->fd);
            c->fd = -1;
            return true;
        }
        return false;
    }
}

static void reopen(struct conn *c, const char *src, const char *dst, int port)
{
    c->sent = 0;
    c->fd = hc_connect_from(src, dst, port, 1000);
}

static void usage(void)
{
    fprintf(stderr, "usage: hostile_fair flood|slowloris "
                    "sidecar|loopback|remote [evict]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL };
    struct prober pr[N_CLASSES];
    struct conn *c;
    health_t *h;
    bool slow;
    bool evict;
    int from = -1;
    int port;
    int fds0;
    int held;
    int held_max = 0;
    long opened = 0;
    int64_t t0;
    int64_t next_trickle;
    int failures = 0;
    unsigned max_conn;
    /* Under valgrind or a sanitizer the server is too slow for the
     * rates to mean anything (a probe waits in the kernel's accept queue
     * behind the flood's re-opened connections): a smaller flood, rates
     * reported only. */
    bool timed = !hostile_instrumented();
    int flood_n = timed ? 1000 : 200;
    int i;

    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "evict") != 0))
        usage();
    if (strcmp(argv[1], "flood") != 0 && strcmp(argv[1], "slowloris") != 0)
        usage();
    slow = strcmp(argv[1], "slowloris") == 0;
    evict = argc == 4;
    for (i = 0; i < N_CLASSES; i++)
        if (strcmp(argv[2], class_name[i]) == 0)
            from = i;
    if (from < 0)
        usage();
    if (hostile_netns() < 0)
        return 77;
    if (!hostile_nofile_at_least(4096)) {
        fprintf(stderr, "cannot raise RLIMIT_NOFILE to 4096: skipped\n");
        return 77;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (evict) {
        o.max_connections = 64;
        o.max_connections_per_ip = 64;
    }
    max_conn = evict ? 64 : 512;
    ASSERT_OK(health_create(&h, &o));
    ASSERT_OK(health_register_check(h, &db, NULL));
    ASSERT_OK(health_start(h));
    port = health_port(h);
    WAIT_UNTIL(hostile_ready(port), 3000);
    fds0 = test_fds();

    c = calloc((size_t)flood_n, sizeof(*c));
    if (!c)
        abort();
    for (i = 0; i < N_CLASSES; i++)
        prober_start_from(&pr[i], probe_src[i], probe_dst[i], port, "/ready",
                          GAP_MS);
    t0 = hostile_now();
    next_trickle = t0;
    for (i = 0; i < flood_n; i++) {
        reopen(&c[i], flood_src[from], probe_dst[from], port);
        opened++;
    }
    /* RUN_MS, and on until every prober has made 100 probes. */
    while (
        hostile_now() - t0 < RUN_MS ||
        (timed && hostile_now() - t0 < 20000 &&
         (atomic_load(&pr[0].total) < 100 || atomic_load(&pr[1].total) < 100 ||
          atomic_load(&pr[2].total) < 100))) {
        bool trickle = slow && hostile_now() >= next_trickle;
        int mine = 0;

        for (i = 0; i < flood_n; i++) {
            if (gone(&c[i])) {
                reopen(&c[i], flood_src[from], probe_dst[from], port);
                opened++;
            } else if (trickle) {
                char byte = c[i].sent < sizeof(slow_req) - 1
                                ? slow_req[c[i].sent]
                                : 'a';
                if (send(c[i].fd, &byte, 1, MSG_NOSIGNAL) == 1)
                    c[i].sent++;
            }
            mine += c[i].fd >= 0;
        }
        if (trickle)
            next_trickle += 250;
        /* Sockets the server holds: ours less the flood's and the
         * baseline (a prober's connection may count for one). */
        held = test_fds() - fds0 - mine;
        if (held > held_max)
            held_max = held;
        hostile_pause(20);
    }
    for (i = 0; i < N_CLASSES; i++)
        prober_stop(&pr[i]);

    printf("hostile fair %s from %s (%s, %u slots, %u per address):\n", argv[1],
           class_name[from], flood_src[from], max_conn, evict ? 64u : 32u);
    printf("  %d connections kept up for %lld ms, %ld opened; the server "
           "held at most %d sockets\n",
           flood_n, (long long)(hostile_now() - t0), opened, held_max);
    for (i = 0; i < N_CLASSES; i++) {
        int ok = atomic_load(&pr[i].ok);
        int total = atomic_load(&pr[i].total);
        bool own = i == from && i != REMOTE;
        bool asserted = timed && !own;
        printf("  probes %-8s %-10s -> %-10s %3d/%3d ok (%5.1f%%), "
               "slowest %ld ms%s%s%s\n",
               class_name[i], probe_src[i], probe_dst[i], ok, total,
               prober_rate(&pr[i]), (long)pr[i].worst_ms,
               own      ? " (the flood's own address)"
               : !timed ? " (not asserted)"
                        : "",
               pr[i].last_error[0] ? "; last failure: " : "", pr[i].last_error);
        if (asserted && (total < 100 || prober_rate(&pr[i]) < 99.0)) {
            fprintf(stderr, "FAIL: %s probes %d/%d\n", class_name[i], ok,
                    total);
            failures++;
        }
    }
    if (held_max > (int)max_conn + 32 + 6) {
        fprintf(stderr, "FAIL: the server held %d sockets\n", held_max);
        failures++;
    }
    for (i = 0; i < flood_n; i++)
        if (c[i].fd >= 0)
            close(c[i].fd);
    free(c);
    t0 = hostile_now();
    while (test_fds() > fds0 && hostile_now() - t0 < SLOW(3000))
        test_backoff();
    printf("  after: fds %d -> %d\n", fds0, test_fds());
    if (test_fds() > fds0) {
        fprintf(stderr, "FAIL: fds %d -> %d\n", fds0, test_fds());
        failures++;
    }
    if (!hostile_ready(port)) {
        fprintf(stderr, "FAIL: not serving after the flood\n");
        failures++;
    }
    health_destroy(h);
    return failures ? 1 : 0;
}
