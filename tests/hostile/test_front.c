/*
 * The front thread (lib/front.c) answers plain probe requests itself and
 * hands everything else, unread, to libmicrohttpd.  These cases attack
 * the seam between the two:
 *
 *   parity      the front's answer to each endpoint, with and without
 *               details, passing and failing, equals libmicrohttpd's
 *               (the same request with a query string goes there):
 *               status, body, Content-Type, Cache-Control
 *   keepalive   requests pipelined on one connection, front ones, then
 *               one the front hands over mid-connection, then more:
 *               every one answered, in order
 *   trickle     a request sent in pieces goes to libmicrohttpd whole
 *   head        HEAD: the headers of the GET, Content-Length included,
 *               and no body
 *   http10      an HTTP/1.0 request: answered, and closed
 *   nodelay     answers to pipelined requests are not held back by
 *               Nagle's algorithm waiting for the client's delayed ACK
 *   idle        a keep-alive connection idle past idle_timeout_s is
 *               closed by the front
 *   stop        health_stop() with connections waiting on the front and
 *               with hand-overs queued: every socket closed, both
 *               threads gone, and a restart serves again
 */
#include "hostile.h"

#include <sys/socket.h>
#include <unistd.h>

static atomic_int verdict = HEALTH_PASS;

static health_status_t db_check(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_set_output(r, "db answered");
    health_result_set_observed(r, 12.5, "ms");
    return (health_status_t)atomic_load(&verdict);
}

static const struct health_check db = { .name = "db",
                                        .flags = HEALTH_CHECK_LIVE |
                                                 HEALTH_CHECK_READY,
                                        .interval_ms = 600000,
                                        .run = db_check };

static health_t *server(enum health_details details, int *port)
{
    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL,
                                .bind_address = "127.0.0.1",
                                .version = "9.9.9",
                                .details = details,
                                .idle_timeout_s = 1 };
    health_t *h;

    ASSERT_OK(health_create(&h, &o));
    ASSERT_OK(health_register_check(h, &db, NULL));
    ASSERT_OK(health_start(h));
    *port = health_port(h);
    return h;
}

/* The value of header @name in the first response of @r ("" if none). */
static void header(const struct hc_reply *r, const char *name, char *out,
                   size_t size)
{
    const char *end = strstr(r->data, "\r\n\r\n");
    const char *p = r->data;
    size_t n = strlen(name);

    out[0] = '\0';
    while (p && end && p < end) {
        const char *eol = strstr(p, "\r\n");
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            size_t len;
            while (*v == ' ')
                v++;
            len = (size_t)(eol - v);
            if (len >= size)
                len = size - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return;
        }
        p = eol ? eol + 2 : NULL;
    }
}

static const char *body_of(const struct hc_reply *r)
{
    const char *b = strstr(r->data, "\r\n\r\n");

    return b ? b + 4 : "";
}

static void get(int port, const char *target, struct hc_reply *r)
{
    char head[512];
    struct hc_request q = { .head = head };

    snprintf(head, sizeof(head),
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: kube-probe/1.30"
             "\r\nAccept: */*\r\nConnection: close\r\n\r\n",
             target);
    hc_reply_init(r);
    hc_exchange("127.0.0.1", port, &q, SLOW(3000), r);
    ASSERT_EQ(r->n, 1);
}

static void same_answer(int port, const char *path)
{
    static struct hc_reply front;
    static struct hc_reply mhd;
    char with_query[128];
    char a[128];
    char b[128];

    snprintf(with_query, sizeof(with_query), "%s?via=libmicrohttpd", path);
    get(port, path, &front);
    get(port, with_query, &mhd);
    if (front.status[0] != mhd.status[0])
        fprintf(stderr, "%s: front %s\nlibmicrohttpd %s\n", path,
                body_of(&front), body_of(&mhd));
    ASSERT_EQ(front.status[0], mhd.status[0]);
    ASSERT_STR_EQ(body_of(&front), body_of(&mhd));
    header(&front, "Content-Type", a, sizeof(a));
    header(&mhd, "Content-Type", b, sizeof(b));
    ASSERT_STR_EQ(a, b);
    header(&front, "Cache-Control", a, sizeof(a));
    header(&mhd, "Cache-Control", b, sizeof(b));
    ASSERT_STR_EQ(a, b);
    header(&front, "Connection", a, sizeof(a));
    ASSERT_STR_EQ(a, "close");
    header(&front, "Date", a, sizeof(a));
    header(&mhd, "Date", b, sizeof(b));
    ASSERT_EQ(strlen(a), strlen(b));
    ASSERT_TRUE(strstr(a, " GMT") != NULL);
}

static void test_parity(void)
{
    static const char *const paths[] = { "/live",    "/ready",  "/started",
                                         "/health",  "/livez",  "/readyz/",
                                         "/healthz", "/health/" };
    static const enum health_details modes[] = { HEALTH_DETAILS_LOCAL,
                                                 HEALTH_DETAILS_NEVER };
    size_t v;
    size_t m;
    size_t i;

    for (v = 0; v < 2; v++) {
        for (m = 0; m < 2; m++) {
            int port;
            health_t *h;

            atomic_store(&verdict, v ? HEALTH_FAIL : HEALTH_PASS);
            h = server(modes[m], &port);
            /* The first run's result is in (pending passes /live and
             * fails /ready). */
            if (v)
                WAIT_UNTIL(http_status(port, "/live?x") == 503, 3000);
            else
                WAIT_UNTIL(http_status(port, "/ready?x") == 200, 3000);
            for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
                same_answer(port, paths[i]);
            health_destroy(h);
        }
    }
    atomic_store(&verdict, HEALTH_PASS);
}

static void test_keepalive(void)
{
    static const char pipeline[] =
        "GET /live HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /started HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /ready HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" /* libmicrohttpd: 404 */
        "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    static const int want[] = { 200, 200, 200, 200, 404, 200, 200 };
    static struct hc_reply r;
    struct hc_request q = { .head = pipeline };
    int port;
    health_t *h = server(HEALTH_DETAILS_LOCAL, &port);
    size_t i;

    WAIT_UNTIL(hostile_ready(port), 3000);
    /* All at once, then the same one request at a time on one socket. */
    hc_reply_init(&r);
    hc_exchange("127.0.0.1", port, &q, SLOW(3000), &r);
    ASSERT_EQ(r.n, 7);
    for (i = 0; i < 7; i++)
        ASSERT_EQ(r.status[i], want[i]);
    ASSERT_TRUE(r.closed);
    {
        int fd = hc_connect("127.0.0.1", port, SLOW(2000));
        const char *p = pipeline;
        char buf[8192];

        ASSERT_GE(fd, 0);
        for (i = 0; i < 7; i++) {
            const char *next = strstr(p, "\r\n\r\n") + 4;
            size_t got = 0;
            bool whole = false;
            int64_t end = hostile_now() + SLOW(3000);

            ASSERT_EQ(send(fd, p, (size_t)(next - p), MSG_NOSIGNAL), next - p);
            p = next;
            /* Each answer whole before the next request. */
            while (hostile_now() < end) {
                ssize_t n =
                    recv(fd, buf + got, sizeof(buf) - 1 - got, MSG_DONTWAIT);
                char code[8];
                if (n > 0)
                    got += (size_t)n;
                buf[got] = '\0';
                snprintf(code, sizeof(code), " %d ", want[i]);
                if (strstr(buf, code) && strstr(buf, "\r\n\r\n") &&
                    strstr(buf, "Content-Length: ") &&
                    strlen(strstr(buf, "\r\n\r\n") + 4) ==
                        strtoul(strstr(buf, "Content-Length: ") + 16, NULL,
                                10)) {
                    whole = true;
                    break;
                }
                if (n <= 0)
                    test_backoff();
            }
            ASSERT_TRUE(whole);
            ASSERT_TRUE(strstr(buf, "HTTP/1.1 ") == buf);
        }
        ASSERT_TRUE(hc_peer_closed(fd, (int)SLOW(2000)));
        close(fd);
    }
    health_destroy(h);
}

static void test_trickle(void)
{
    static struct hc_reply r;
    int port;
    health_t *h = server(HEALTH_DETAILS_LOCAL, &port);
    int fd;

    WAIT_UNTIL(hostile_ready(port), 3000);
    fd = hc_connect("127.0.0.1", port, SLOW(2000));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(send(fd, "GET /live HTTP/1.1\r\nHo", 22, MSG_NOSIGNAL), 22);
    hostile_pause(100); /* the front sees part of a request */
    {
        struct hc_request q = { .head = "st: x\r\nConnection: close\r\n\r\n" };
        hc_reply_init(&r);
        hc_exchange_fd(fd, &q, SLOW(3000), &r);
    }
    ASSERT_EQ(r.n, 1);
    ASSERT_EQ(r.status[0], 200);
    ASSERT_CONTAINS(body_of(&r), "\"status\":\"pass\"");
    health_destroy(h);
}

static void test_head(void)
{
    static struct hc_reply g;
    static struct hc_reply r;
    struct hc_request q = {
        .head = "HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    };
    char a[64];
    char b[64];
    int port;
    health_t *h = server(HEALTH_DETAILS_LOCAL, &port);

    WAIT_UNTIL(hostile_ready(port), 3000);
    get(port, "/health", &g);
    hc_reply_init(&r);
    hc_exchange("127.0.0.1", port, &q, SLOW(3000), &r);
    ASSERT_TRUE(r.closed);
    /* (hc_parse cannot know a HEAD response has no body.) */
    ASSERT_TRUE(strncmp(r.data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    ASSERT_STR_EQ(body_of(&r), "");
    header(&g, "Content-Length", a, sizeof(a));
    header(&r, "Content-Length", b, sizeof(b));
    ASSERT_STR_EQ(a, b);
    health_destroy(h);
}

static void test_http10(void)
{
    static struct hc_reply r;
    struct hc_request q = { .head = "GET /ready HTTP/1.0\r\n\r\n" };
    int port;
    health_t *h = server(HEALTH_DETAILS_LOCAL, &port);

    WAIT_UNTIL(hostile_ready(port), 3000);
    hc_reply_init(&r);
    hc_exchange("127.0.0.1", port, &q, SLOW(3000), &r);
    ASSERT_EQ(r.n, 1);
    ASSERT_EQ(r.status[0], 200);
    ASSERT_TRUE(r.conn_close[0]);
    ASSERT_TRUE(r.closed);
    ASSERT_FALSE(r.timed_out);
    health_destroy(h);
}

/* Ten pipelined HEADs on a connection past its first exchanges (so the
 * client's ACKs are delayed, not quick): with Nagle's algorithm on, every
 * answer after the first waits for an ACK, at least 40 ms on Linux. */
static void test_nodelay(void)
{
    static const char one[] = "HEAD /live HTTP/1.1\r\nHost: x\r\n\r\n";
    char ten[sizeof(one) * 10];
    char buf[16384];
    int64_t best = INT64_MAX;
    int port;
    health_t *h = server(HEALTH_DETAILS_LOCAL, &port);
    int fd;
    int i;

    WAIT_UNTIL(hostile_ready(port), 3000);
    ten[0] = '\0';
    for (i = 0; i < 10; i++)
        strcat(ten, one);
    fd = hc_connect("127.0.0.1", port, SLOW(2000));
    ASSERT_GE(fd, 0);
    for (i = 0; i < 60; i++) {
        /* 50 exchanges one at a time, then 10 rounds of 10 at once. */
        const char *msg = i < 50 ? one : ten;
        int want = i < 50 ? 1 : 10;
        int64_t start = hostile_now();
        int64_t end = start + SLOW(3000);
        size_t got = 0;
        int answers = 0;

        ASSERT_EQ(send(fd, msg, strlen(msg), MSG_NOSIGNAL),
                  (ssize_t)strlen(msg));
        while (answers < want && hostile_now() < end) {
            ssize_t n =
                recv(fd, buf + got, sizeof(buf) - 1 - got, MSG_DONTWAIT);
            const char *p;

            if (n <= 0) {
                test_backoff();
                continue;
            }
            got += (size_t)n;
            buf[got] = '\0';
            for (answers = 0, p = buf; (p = strstr(p, "\r\n\r\n")); p += 4)
                answers++;
        }
        ASSERT_EQ(answers, want);
        ASSERT_TRUE(strstr(buf, "HTTP/1.1 200 OK\r\n") == buf);
        if (want == 10 && hostile_now() - start < best)
            best = hostile_now() - start;
    }
    /* Best of ten: a held answer costs 40 ms every time. */
    if (test_time_scale() == 1)
        ASSERT_LT(best, 30);
    close(fd);
    health_destroy(h);
}

static void test_idle(void)
{
    int port;
    health_t *h = server(HEALTH_DETAILS_LOCAL, &port);
    int fd;
    char buf[4096];
    int64_t start;

    WAIT_UNTIL(hostile_ready(port), 3000);
    fd = hc_connect("127.0.0.1", port, SLOW(2000));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(
        send(fd, "GET /live HTTP/1.1\r\nHost: x\r\n\r\n", 31, MSG_NOSIGNAL),
        31);
    start = hostile_now();
    WAIT_UNTIL(recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0, 3000);
    /* Kept open for the next request, then closed after 1 s idle. */
    ASSERT_FALSE(hc_peer_closed(fd, 200));
    ASSERT_TRUE(hc_peer_closed(fd, (int)SLOW(4000)));
    ASSERT_GE(hostile_now() - start, 900);
    close(fd);
    health_destroy(h);
}

static void test_stop(void)
{
    enum {
        IDLE = 20,
        HANDED = 20
    };
    int fds_before = test_fds();
    int fds[IDLE + HANDED];
    int port;
    health_t *h = server(HEALTH_DETAILS_LOCAL, &port);
    int i;

    WAIT_UNTIL(hostile_ready(port), 3000);
    ASSERT_TRUE(test_thread_tid("health-front"));
    ASSERT_TRUE(test_thread_tid("health-handoff"));
    /* Some wait on the front for a request, some were handed over with
     * half a request. */
    for (i = 0; i < IDLE + HANDED; i++) {
        fds[i] = hc_connect("127.0.0.1", port, SLOW(2000));
        ASSERT_GE(fds[i], 0);
        if (i >= IDLE)
            ASSERT_EQ(send(fds[i], "GET /live HTTP/1.1\r\n", 20, MSG_NOSIGNAL),
                      20);
    }
    ASSERT_TRUE(hostile_ready(port));
    ASSERT_OK(health_stop(h));
    /* Joined; a joined thread may stay in the task list a moment. */
    WAIT_UNTIL(!test_thread_tid("health-front"), 2000);
    WAIT_UNTIL(!test_thread_tid("health-handoff"), 2000);
    for (i = 0; i < IDLE + HANDED; i++) {
        ASSERT_TRUE(hc_peer_closed(fds[i], (int)SLOW(2000)));
        close(fds[i]);
    }
    ASSERT_OK(health_start(h));
    port = health_port(h);
    WAIT_UNTIL(hostile_ready(port), 3000);
    health_destroy(h);
    ASSERT_EQ(test_fds(), fds_before);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } cases[] = {
        { "parity", test_parity },   { "keepalive", test_keepalive },
        { "trickle", test_trickle }, { "head", test_head },
        { "http10", test_http10 },   { "nodelay", test_nodelay },
        { "idle", test_idle },       { "stop", test_stop },
    };
    size_t i;
    int ran = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        printf("front: %s\n", cases[i].name);
        cases[i].fn();
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "unknown case %s\n", argv[1]);
        return 2;
    }
    return 0;
}
