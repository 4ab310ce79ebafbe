/*
 * Hostile clients against the real server (an in-process health_t on an
 * ephemeral port): hostile_attacks [--netns] ATTACK.
 *
 * Each attack asserts the server's answer (the right 4xx, or a closed
 * connection) while kubelet-like probers (a new connection per probe,
 * 1 s deadline) keep probing: from loopback always, and with --netns
 * also from a second non-loopback address (NS_KUBELET) while the attack
 * comes from other addresses.  The probe success rate during the attack
 * is printed and asserted.  Afterwards the process's fd count must come
 * back to its baseline (waiting for the idle timeout to reap what the
 * server still holds) and RSS too, within a tolerance.
 *
 * A failed expectation is reported and counted, and the attack goes on,
 * so one run shows everything; the exit status is 1 if anything failed.
 * --netns needs root (unshare); without it the test is skipped (77).
 */
#include "hostile.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#define IDLE_S 2u
/* Bytes the kernel may take into socket buffers before a peer's close
 * shows: far below the bodies sent, so a bigger number means the server
 * read the body. */
#define KERNEL_BUFFERS (16u << 20)

static int failures;

#define CHECK(cond, ...)                                           \
 do {                                                              \
  if (!(cond)) {                                                   \
   failures++;                                                     \
   fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
   fprintf(stderr, __VA_ARGS__);                                   \
   fputc('\n', stderr);                                            \
  }                                                                \
 } while (0)

struct env {
    bool netns;
    const char *attacker; /* where request-level attacks come from */
    health_t *h;
    int port;
    unsigned max_conn;
    unsigned per_ip;
    int round;
    char seen[2048]; /* responses seen, for the summary */
};

static void note(struct env *e, const char *fmt, ...) HEALTH_PRINTF(2, 3);

static void note(struct env *e, const char *fmt, ...)
{
    size_t n = strlen(e->seen);
    va_list ap;

    if (e->round > 0 || n + 2 >= sizeof(e->seen))
        return;
    va_start(ap, fmt);
    (void)vsnprintf(e->seen + n, sizeof(e->seen) - n, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- */
/* Request-level attacks: a set of cases sent at once, each checked. */

/* What "closed without a response" counts as among the statuses. */
#define CLOSED 1

/* One request and what may come back: statuses, or CLOSED.  prompt: answered or
 * closed within 1 s; otherwise the server may hold it until the idle timeout.
 */
struct hcase {
    const char *label;
    const char *head;
    size_t head_len;
    size_t body_len;
    bool shut_wr;
    int want[4];
    bool prompt;
};

static int outcome(const struct hc_reply *r)
{
    if (r->n > 0)
        return r->status[0];
    return r->timed_out ? -1 : CLOSED;
}

static bool wanted(const struct hcase *c, int got)
{
    size_t i;

    for (i = 0; i < sizeof(c->want) / sizeof(c->want[0]); i++)
        if (c->want[i] == got)
            return true;
    return false;
}

static const char *describe(const struct hc_reply *r, char *buf, size_t size)
{
    int o = outcome(r);

    if (r->connect_errno)
        snprintf(buf, size, "connect: %s", strerror(r->connect_errno));
    else if (o > CLOSED)
        snprintf(buf, size, "%d in %lld ms", o, (long long)r->first_ms);
    else if (o == CLOSED)
        snprintf(buf, size, "closed, no response, after %lld ms%s",
                 (long long)r->end_ms, r->reset ? " (reset)" : "");
    else
        snprintf(buf, size, "still open after %lld ms", (long long)r->end_ms);
    return buf;
}

static void run_cases(struct env *e, const struct hcase *cases, int n)
{
    struct hc_request *q = calloc((size_t)n, sizeof(*q));
    struct hc_reply *r = calloc((size_t)n, sizeof(*r));
    char buf[128];
    int i;

    if (!q || !r)
        abort();
    for (i = 0; i < n; i++) {
        q[i].head = cases[i].head;
        q[i].head_len = cases[i].head_len;
        q[i].body_len = cases[i].body_len;
        q[i].shut_wr = cases[i].shut_wr;
    }
    hc_batch(e->attacker, e->port, q, r, n, SLOW(IDLE_S * 1000 + 3000));
    for (i = 0; i < n; i++) {
        const struct hcase *c = &cases[i];
        int o = outcome(&r[i]);

        describe(&r[i], buf, sizeof(buf));
        note(e, "\n    %-24s %s", c->label, buf);
        CHECK(r[i].connect_errno == 0, "%s: %s", c->label, buf);
        CHECK(wanted(c, o), "%s: got %s", c->label, buf);
        CHECK(!c->prompt || r[i].end_ms <= SLOW(1000), "%s: slow: %s", c->label,
              buf);
        if (o == 405)
            CHECK(strcmp(r[i].allow, "GET, HEAD") == 0, "%s: Allow: %s",
                  c->label, r[i].allow);
    }
    free(q);
    free(r);
}

#define CASE(label, head, ...)                                   \
 {                                                               \
  label, head, sizeof(head) - 1, 0, false, { __VA_ARGS__ }, true \
 }
#define SLOWCASE(label, head, ...)                                \
 {                                                                \
  label, head, sizeof(head) - 1, 0, false, { __VA_ARGS__ }, false \
 }

static void attack_garbage(struct env *e)
{
    static char random_bytes[4096];
    static const char tls_hello[] = "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1"
                                    "\x03\x03\x00\x00\x00\x00\x00\x00\x00";
    static const char nuls[1024];
    static char crlfs[2000];
    unsigned seed = 12345;
    size_t i;
    struct hcase cases[] = {
        CASE("text", "hello world, this is not http\r\n\r\n", 400),
        CASE("control bytes", "\x01\x02\x03garbage\r\n\r\n", CLOSED, 400),
        { "4 KiB random",
          random_bytes,
          sizeof(random_bytes),
          0,
          false,
          { CLOSED, 400 },
          false },
        { "TLS ClientHello",
          tls_hello,
          sizeof(tls_hello) - 1,
          0,
          false,
          { CLOSED },
          false },
        { "1 KiB of NULs", nuls, sizeof(nuls), 0, false, { CLOSED }, false },
        { "1000 empty lines",
          crlfs,
          sizeof(crlfs),
          0,
          false,
          { CLOSED },
          false },
        CASE("NUL in method",
             "GET\0 /live HTTP/1.1\r\nHost: x\r\n"
             "Connection: close\r\n\r\n",
             CLOSED, 400, 200),
        CASE("bad header line",
             "GET /live HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", 400),
        CASE("bad version", "GET /live HTTP/9.9\r\nHost: x\r\n\r\n", 505, 400),
        CASE("negative length",
             "GET /live HTTP/1.1\r\nHost: x\r\n"
             "Content-Length: -1\r\n\r\n",
             400),
        CASE("huge length",
             "GET /live HTTP/1.1\r\nHost: x\r\n"
             "Content-Length: 99999999999999999999\r\n\r\n",
             413, 400),
    };

    for (i = 0; i < sizeof(random_bytes); i++) {
        seed = seed * 1103515245u + 12345u;
        random_bytes[i] = (char)(seed >> 16);
    }
    random_bytes[0] = 'Z'; /* a NUL first makes it the NUL case */
    for (i = 0; i < sizeof(crlfs); i += 2)
        memcpy(crlfs + i, "\r\n", 2);
    run_cases(e, cases, (int)(sizeof(cases) / sizeof(cases[0])));
}

static void attack_truncated(struct env *e)
{
    struct hcase cases[] = {
        SLOWCASE("headers cut", "GET /live HTTP/1.1\r\nHost: x\r\n", CLOSED),
        SLOWCASE("request line cut", "GET /li", CLOSED),
        SLOWCASE("two bytes", "GE", CLOSED),
        SLOWCASE("GET body cut",
                 "GET /live HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 100\r\n\r\nabc",
                 CLOSED, 400),
        CASE("POST body cut",
             "POST /live HTTP/1.1\r\nHost: x\r\n"
             "Content-Length: 1000\r\n\r\nabc",
             405),
        { "headers cut, half-closed",
          "GET /live HTTP/1.1\r\nHost: x\r\n",
          0,
          0,
          true,
          { CLOSED, 400 },
          true },
        { "line cut, half-closed",
          "GET /li",
          0,
          0,
          true,
          { CLOSED, 400 },
          true },
    };

    run_cases(e, cases, (int)(sizeof(cases) / sizeof(cases[0])));
}

static char *repeat_lines(const char *first, const char *line, size_t count,
                          size_t *len)
{
    size_t fl = strlen(first);
    size_t ll = strlen(line);
    char *buf = malloc(fl + ll * count + 3);
    size_t i;

    if (!buf)
        abort();
    memcpy(buf, first, fl);
    for (i = 0; i < count; i++)
        memcpy(buf + fl + i * ll, line, ll);
    memcpy(buf + fl + count * ll, "\r\n", 3);
    *len = fl + ll * count + 2;
    return buf;
}

static char *hdr_many;
static char *hdr_one;
static char *hdr_tiny;
static size_t many_len;
static size_t one_len;
static size_t tiny_len;

/* The attacker's buffers, made before the baseline is taken. */
static void setup_headers(void)
{
    char value[1024 + 3];

    if (!hdr_many) {
        memset(value, 'v', sizeof(value) - 3);
        memcpy(value, "X-A: ", 5);
        memcpy(value + sizeof(value) - 3, "\r\n", 3);
        /* 1 MiB in 1 KiB lines, one 1 MiB line, 200k tiny lines. */
        hdr_many = repeat_lines("GET /live HTTP/1.1\r\nHost: x\r\n", value,
                                1024, &many_len);
        hdr_one = repeat_lines("GET /live HTTP/1.1\r\nHost: x\r\nX-Big: ",
                               "vvvvvvvvvvvvvvvv", 65536, &one_len);
        hdr_tiny = repeat_lines("GET /live HTTP/1.1\r\nHost: x\r\n", "a:b\r\n",
                                200000, &tiny_len);
    }
}

static void attack_headers(struct env *e)
{
    {
        struct hcase cases[] = {
            { "1 MiB in 1 KiB headers",
              hdr_many,
              many_len,
              0,
              false,
              { 431 },
              true },
            { "one 1 MiB header", hdr_one, one_len, 0, false, { 431 }, true },
            { "200k tiny headers",
              hdr_tiny,
              tiny_len,
              0,
              false,
              { 431 },
              true },
        };
        run_cases(e, cases, (int)(sizeof(cases) / sizeof(cases[0])));
    }
}

static void attack_url(struct env *e)
{
    static char query[65536 + 64];
    static char path[65536 + 64];
    static char ready[65536 + 64];
    int nq;
    int np;
    int nr;

    memset(query, 'a', sizeof(query));
    memset(path, 'b', sizeof(path));
    memset(ready, 'c', sizeof(ready));
    memcpy(query, "GET /live?", 10);
    memcpy(path, "GET /", 5);
    memcpy(ready, "GET /ready?exclude=", 19);
    nq = 10 + 65536;
    np = 5 + 65536;
    nr = 19 + 65536;
    nq += snprintf(query + nq, sizeof(query) - (size_t)nq,
                   " HTTP/1.1\r\nHost: x\r\n\r\n");
    np += snprintf(path + np, sizeof(path) - (size_t)np,
                   " HTTP/1.1\r\nHost: x\r\n\r\n");
    nr += snprintf(ready + nr, sizeof(ready) - (size_t)nr,
                   " HTTP/1.1\r\nHost: x\r\n\r\n");
    {
        struct hcase cases[] = {
            { "64 KiB query", query, (size_t)nq, 0, false, { 414 }, true },
            { "64 KiB path", path, (size_t)np, 0, false, { 414 }, true },
            { "64 KiB exclude=", ready, (size_t)nr, 0, false, { 414 }, true },
        };
        run_cases(e, cases, (int)(sizeof(cases) / sizeof(cases[0])));
    }
}

/* POST, PUT and GET with big bodies: answered at once, the body unread. */
static void attack_body(struct env *e, bool get)
{
    static const struct {
        const char *label;
        const char *head;
        int want[2];
    } reqs[] = {
        { "POST 64 MiB",
          "POST /live HTTP/1.1\r\nHost: x\r\n"
          "Content-Length: 67108864\r\n\r\n",
          { 405 } },
        { "POST 64 MiB, Expect",
          "POST /ready HTTP/1.1\r\nHost: x\r\n"
          "Expect: 100-continue\r\n"
          "Content-Length: 67108864\r\n\r\n",
          { 405 } },
        { "POST chunked",
          "POST /health HTTP/1.1\r\nHost: x\r\n"
          "Transfer-Encoding: chunked\r\n\r\n",
          { 405 } },
        { "PUT 64 MiB",
          "PUT /live HTTP/1.1\r\nHost: x\r\n"
          "Content-Length: 67108864\r\n\r\n",
          { 405 } },
        { "GET 64 MiB body",
          "GET /live HTTP/1.1\r\nHost: x\r\n"
          "Content-Length: 67108864\r\n\r\n",
          { 400 } },
        { "GET chunked body",
          "GET /live HTTP/1.1\r\nHost: x\r\n"
          "Transfer-Encoding: chunked\r\n\r\n",
          { 400 } },
    };
    const size_t body = 64u << 20;
    char buf[128];
    size_t i;

    for (i = get ? 4 : 0; i < (get ? 6u : 4u); i++) {
        struct hc_request q = { .head = reqs[i].head, .body_len = body };
        struct hc_reply *r = malloc(sizeof(*r));
        int o;

        if (!r)
            abort();
        hc_exchange(e->attacker, e->port, &q, SLOW(IDLE_S * 1000 + 3000), r);
        o = outcome(r);
        describe(r, buf, sizeof(buf));
        note(e, "\n    %-24s %s; client sent %zu of %zu bytes", reqs[i].label,
             buf, r->sent, body + strlen(reqs[i].head));
        CHECK(o == reqs[i].want[0] || (reqs[i].want[1] && o == reqs[i].want[1]),
              "%s: %s", reqs[i].label, buf);
        /* Answered (or refused) without waiting for the body... */
        CHECK(r->end_ms <= SLOW(1000), "%s: took %lld ms", reqs[i].label,
              (long long)r->end_ms);
        /* ...and without reading it. */
        CHECK(r->sent < KERNEL_BUFFERS, "%s: %zu bytes sent", reqs[i].label,
              r->sent);
        CHECK(!strstr(r->data, " 100 Continue"), "%s: sent 100 Continue",
              reqs[i].label);
        free(r);
    }
}

static void attack_post_body(struct env *e)
{
    attack_body(e, false);
}

static void attack_get_body(struct env *e)
{
    attack_body(e, true);
}

static void attack_methods(struct env *e)
{
    static char long_method[8192 + 64];
    int n;

    memset(long_method, 'A', 8192);
    n = 8192 + snprintf(long_method + 8192, sizeof(long_method) - 8192,
                        " /live HTTP/1.1\r\nHost: x\r\n\r\n");
    {
        struct hcase cases[] = {
            CASE("FOO", "FOO /live HTTP/1.1\r\nHost: x\r\n\r\n", 405),
            CASE("DELETE", "DELETE /ready HTTP/1.1\r\nHost: x\r\n\r\n", 405),
            CASE("PUT",
                 "PUT /health HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 0\r\n\r\n",
                 405),
            CASE("PATCH", "PATCH /live HTTP/1.1\r\nHost: x\r\n\r\n", 405),
            CASE("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 405),
            CASE("CONNECT",
                 "CONNECT example.com:443 HTTP/1.1\r\n"
                 "Host: example.com:443\r\n\r\n",
                 405),
            CASE("TRACE", "TRACE /live HTTP/1.1\r\nHost: x\r\n\r\n", 405),
            CASE("lower-case get", "get /live HTTP/1.1\r\nHost: x\r\n\r\n",
                 405),
            CASE("PRI (no preface)", "PRI /live HTTP/1.1\r\nHost: x\r\n\r\n",
                 405),
            { "8 KiB method",
              long_method,
              (size_t)n,
              0,
              false,
              { 405, 400, 414 },
              true },
        };
        run_cases(e, cases, (int)(sizeof(cases) / sizeof(cases[0])));
    }
}

static void attack_http09(struct env *e)
{
    struct hcase cases[] = {
        CASE("GET /live", "GET /live\r\n", 400),
        CASE("GET /live + blank", "GET /live\r\n\r\n", 400),
        CASE("HTTP/0.9 token", "GET /live HTTP/0.9\r\n\r\n", 505, 400),
        /* A control: HTTP/1.0 is served, then closed. */
        CASE("HTTP/1.0 control", "GET /live HTTP/1.0\r\n\r\n", 200),
    };

    run_cases(e, cases, (int)(sizeof(cases) / sizeof(cases[0])));
}

static void attack_h2(struct env *e)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                  "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    struct hcase cases[] = {
        { "h2 preface + SETTINGS",
          preface,
          sizeof(preface) - 1,
          0,
          false,
          { 505, 400, CLOSED },
          true },
        CASE("h2 preface alone", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, 400,
             CLOSED),
        /* h2c upgrade is ignored: an HTTP/1.1 answer. */
        CASE("h2c upgrade",
             "GET /live HTTP/1.1\r\nHost: x\r\n"
             "Connection: Upgrade, HTTP2-Settings, close\r\n"
             "Upgrade: h2c\r\n"
             "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
             200),
    };

    run_cases(e, cases, (int)(sizeof(cases) / sizeof(cases[0])));
}

#define GETL(path) "GET " path " HTTP/1.1\r\nHost: x\r\n\r\n"

static void expect_sequence(struct env *e, const char *label, const char *req,
                            size_t len, const int *want, int n_want)
{
    struct hc_request q = { .head = req, .head_len = len };
    struct hc_reply *r = malloc(sizeof(*r));
    char got[512] = "";
    size_t off = 0;
    int i;

    if (!r)
        abort();
    hc_exchange(e->attacker, e->port, &q, SLOW(IDLE_S * 1000 + 3000), r);
    for (i = 0; i < r->n && off < sizeof(got) - 8; i++)
        off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%d",
                                i ? "," : "", r->status[i]);
    note(e, "\n    %-24s [%s]%s", label, got,
         r->closed || r->reset ? " then closed" : " (left open)");
    CHECK(r->n == n_want, "%s: %d responses [%s], expected %d", label, r->n,
          got, n_want);
    for (i = 0; i < r->n && i < n_want; i++)
        CHECK(r->status[i] == want[i], "%s: response %d is %d, not %d", label,
              i, r->status[i], want[i]);
    CHECK(r->closed || r->reset, "%s: not closed", label);
    CHECK(r->end_ms <= SLOW(1000), "%s: %lld ms", label, (long long)r->end_ms);
    free(r);
}

static void attack_pipelined(struct env *e)
{
    static const char five[] = GETL("/live") GETL("/ready") GETL("/nope")
        GETL("/ready/db") "GET /health HTTP/1.1\r\nHost: x\r\nConnection: "
                          "close\r\n\r\n";
    static const int five_want[] = { 200, 200, 404, 200, 200 };
    static const char bad_middle[] =
        GETL("/live") "hello world\r\n\r\n" GETL("/ready");
    static const int bad_want[] = { 200, 400 };
    static const char post_first[] =
        "POST /live HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: 5\r\n\r\nhello" GETL("/live");
    static const int post_want[] = { 405 };
    char many[100 * 40 + 128];
    int many_want[101];
    size_t n = 0;
    int i;

    expect_sequence(e, "5 GETs, one write", five, sizeof(five) - 1, five_want,
                    5);
    for (i = 0; i < 100; i++) {
        memcpy(many + n, GETL("/live"), sizeof(GETL("/live")) - 1);
        n += sizeof(GETL("/live")) - 1;
        many_want[i] = 200;
    }
    n += (size_t)snprintf(many + n, sizeof(many) - n,
                          "GET /ready HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n");
    many_want[100] = 200;
    expect_sequence(e, "101 GETs, one write", many, n, many_want, 101);
    expect_sequence(e, "GET, garbage, GET", bad_middle, sizeof(bad_middle) - 1,
                    bad_want, 2);
    expect_sequence(e, "POST+body, GET", post_first, sizeof(post_first) - 1,
                    post_want, 1);
}

/* ---------------------------------------------------------------- */
/* Connection-level attacks: they run for a while and hold sockets. */

struct conn {
    int fd;
    const char *src;
    size_t sent;
    int64_t opened;
    int64_t closed_at; /* -1: still open */
};

/* Opens a connection from @src; fd -1 when refused at once. */
static void conn_open(struct conn *c, const char *src, int port)
{
    c->src = src;
    c->sent = 0;
    c->opened = hostile_now();
    c->closed_at = -1;
    c->fd = hc_connect(src, port, 1000);
    if (c->fd < 0)
        c->closed_at = c->opened;
}

/* Whether the server has closed @c (read and discard anything else). */
static bool conn_gone(struct conn *c)
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
            c->closed_at = hostile_now();
            return true;
        }
        return false;
    }
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static const char *flood_src(const struct env *e, int i, char *buf)
{
    if (!e->netns)
        return "127.0.0.1";
    sprintf(buf, NS_FLOOD_FMT, NS_FLOOD_FIRST + i % NS_FLOOD_COUNT);
    return buf;
}

/* Sockets the server holds: this process's fds less the baseline and
 * the attacker's own. */
static int server_side(int fds0, const struct conn *c, int n)
{
    int mine = 0;
    int i;

    for (i = 0; i < n; i++)
        mine += c[i].fd >= 0;
    return test_fds() - fds0 - mine;
}

static int g_fds0;

/* Slowloris: @n connections each send a request one byte at a time, a
 * byte every 250 ms per connection, so none is ever idle for the idle
 * timeout.  The contract (health.h, max_connections): trickling
 * connections hold no more sockets than the limits allow, and a remote
 * peer that finds every slot taken gets the slot of the connection that
 * waited longest without an answer, so probes keep succeeding (asserted
 * by the probers). */
static void slowloris(struct env *e, int n)
{
    static const char req[] = "GET /live HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    struct conn *c = calloc((size_t)n, sizeof(*c));
    int64_t t0 = hostile_now();
    int64_t run_ms = IDLE_S * 1000 * 2 + 1000;
    int64_t limit_ms = IDLE_S * 1000 + 1500;
    char srcbuf[32];
    int refused = 0;
    int cut = 0;
    int late = 0;
    int held_max = 0;
    int i;

    if (!c)
        abort();
    for (i = 0; i < n; i++)
        conn_open(&c[i], flood_src(e, i, srcbuf), e->port);
    while (hostile_now() - t0 < run_ms) {
        for (i = 0; i < n; i++) {
            char byte;
            if (conn_gone(&c[i]))
                continue;
            byte = c[i].sent < sizeof(req) - 1 ? req[c[i].sent] : 'a';
            if (send(c[i].fd, &byte, 1, MSG_NOSIGNAL) == 1)
                c[i].sent++;
        }
        i = server_side(g_fds0, c, n);
        if (i > held_max)
            held_max = i;
        hostile_pause(250);
    }
    for (i = 0; i < n; i++) {
        (void)conn_gone(&c[i]);
        if (c[i].closed_at < 0)
            continue;
        if (c[i].closed_at - c[i].opened < 500)
            refused++;
        else if (c[i].closed_at - c[i].opened <= SLOW(limit_ms))
            cut++;
        else
            late++;
    }
    note(e,
         "\n    %d trickling connections for %lld ms: %d refused at once, "
         "%d cut by the server within %lld ms, %d later, %d never; "
         "server held at most %d sockets",
         n, (long long)run_ms, refused, cut, (long long)limit_ms, late,
         n - refused - cut - late, held_max);
    CHECK(held_max <= (int)(e->max_conn + 32 + 4), "held %d", held_max);
    for (i = 0; i < n; i++)
        conn_close(&c[i]);
    free(c);
}

static void attack_slowloris(struct env *e)
{
    slowloris(e, e->netns ? 192 : 300);
}

/* A flood of idle connections kept up for a while: every connection
 * the server closes is opened again. */
static void flood(struct env *e, int n)
{
    struct conn *c = calloc((size_t)n, sizeof(*c));
    int64_t t0 = hostile_now();
    int64_t run_ms = IDLE_S * 1000 + 1500;
    char srcbuf[32];
    int held_max = 0;
    long opened = 0;
    int i;

    if (!c)
        abort();
    for (i = 0; i < n; i++) {
        conn_open(&c[i], flood_src(e, i, srcbuf), e->port);
        opened++;
    }
    while (hostile_now() - t0 < run_ms) {
        for (i = 0; i < n; i++) {
            if (conn_gone(&c[i]) && opened < 50L * n) {
                conn_open(&c[i], flood_src(e, i, srcbuf), e->port);
                opened++;
            }
        }
        i = server_side(g_fds0, c, n);
        if (i > held_max)
            held_max = i;
        hostile_pause(20);
    }
    note(e,
         "\n    %d connections kept open (%ld opened in %lld ms); "
         "server held at most %d sockets (limit %u + %u being closed)",
         n, opened, (long long)run_ms, held_max, e->max_conn, 32u);
    CHECK(held_max <= (int)(e->max_conn + 32 + 4), "held %d", held_max);
    for (i = 0; i < n; i++)
        conn_close(&c[i]);
    free(c);
}

static void attack_flood(struct env *e)
{
    flood(e, (int)e->max_conn + 32 + 64);
}

/* One non-loopback address opens far more than max_connections_per_ip. */
static void attack_per_ip(struct env *e)
{
    enum {
        N = 100
    };
    struct conn c[N];
    int64_t t0 = hostile_now();
    int open = 0;
    int i;

    for (i = 0; i < N; i++)
        conn_open(&c[i], NS_ATTACKER, e->port);
    /* The refused ones are closed at once; the rest stay open. */
    while (hostile_now() - t0 < IDLE_S * 1000 - 500)
        hostile_pause(50);
    for (i = 0; i < N; i++)
        open += !conn_gone(&c[i]);
    note(e, "\n    %d connections from " NS_ATTACKER ": %d kept (limit %u)", N,
         open, e->per_ip);
    CHECK(open <= (int)e->per_ip, "%d connections open from one address", open);
    CHECK(open >= (int)e->per_ip - 1, "only %d connections admitted", open);
    for (i = 0; i < N; i++)
        conn_close(&c[i]);
}

/* ---------------------------------------------------------------- */

struct attack {
    const char *name;
    void (*run)(struct env *e);
    void (*setup)(void); /* optional, before the baselines */
    bool once;           /* one round is the whole attack */
    bool netns_only;     /* needs non-loopback addresses */
    bool loopback_flood; /* from the loopback prober's own address */
    unsigned max_conn;   /* 0: the default (512) */
    unsigned netns_max_conn;
};

static const struct attack attacks[] = {
    { "garbage", attack_garbage, NULL, false, false, false, 0, 0 },
    { "truncated", attack_truncated, NULL, false, false, false, 0, 0 },
    { "headers", attack_headers, setup_headers, false, false, false, 0, 0 },
    { "url", attack_url, NULL, false, false, false, 0, 0 },
    { "post_body", attack_post_body, NULL, false, false, false, 0, 0 },
    { "get_body", attack_get_body, NULL, false, false, false, 0, 0 },
    { "methods", attack_methods, NULL, false, false, false, 0, 0 },
    { "http09", attack_http09, NULL, false, false, false, 0, 0 },
    { "h2_preface", attack_h2, NULL, false, false, false, 0, 0 },
    { "pipelined", attack_pipelined, NULL, false, false, false, 0, 0 },
    /* 300 from 127.0.0.1 are held to its 32; from 8 remote addresses,
     * 192 overrun a limit of 64 (at 24 per address, under the 32). */
    { "slowloris", attack_slowloris, NULL, true, false, false, 0, 64 },
    /* max_connections + the 32 being closed + 64. */
    { "flood", attack_flood, NULL, true, false, true, 64, 64 },
    { "per_ip", attack_per_ip, NULL, true, true, false, 64, 64 },
};

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

static void usage(void)
{
    size_t i;

    fprintf(stderr, "usage: hostile_attacks [--netns] ATTACK\nattacks:");
    for (i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++)
        fprintf(stderr, " %s", attacks[i].name);
    fputc('\n', stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const struct attack *a = NULL;
    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL,
                                .idle_timeout_s = IDLE_S };
    struct env e = { .attacker = "127.0.0.1" };
    struct prober lo;
    struct prober kube;
    long rss0;
    long rss1;
    int fds0;
    int fds1;
    int64_t t0;
    size_t i;

    if (argc == 3 && strcmp(argv[1], "--netns") == 0) {
        e.netns = true;
        argv++;
    } else if (argc != 2) {
        usage();
    }
    for (i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++)
        if (strcmp(argv[1], attacks[i].name) == 0)
            a = &attacks[i];
    if (!a)
        usage();
    if (a->netns_only && !e.netns)
        usage();
    if (e.netns) {
        if (hostile_netns() < 0)
            return 77;
        e.attacker = NS_ATTACKER;
    }
    hostile_raise_nofile();
    setvbuf(stdout, NULL, _IOLBF, 0);

    o.bind_address = e.netns ? NULL : "127.0.0.1";
    o.max_connections = e.netns ? a->netns_max_conn : a->max_conn;
    e.max_conn = o.max_connections ? o.max_connections : 512;
    if (a->setup)
        a->setup();
    e.per_ip = 32;
    ASSERT_OK(health_create(&e.h, &o));
    ASSERT_OK(health_register_check(e.h, &db, NULL));
    ASSERT_OK(health_start(e.h));
    e.port = health_port(e.h);
    WAIT_UNTIL(hostile_ready(e.port), 3000);

    /* Baselines after a warm-up round of probes. */
    prober_start(&lo, "127.0.0.1", e.port, "/ready");
    WAIT_UNTIL(atomic_load(&lo.total) >= 5, 3000);
    prober_stop(&lo);
    fds0 = g_fds0 = test_fds();
    rss0 = hostile_rss_kb();

    prober_start(&lo, "127.0.0.1", e.port, "/ready");
    if (e.netns)
        prober_start(&kube, NS_KUBELET, e.port, "/ready");
    t0 = hostile_now();
    /* Rounds for at least 1.5 s and 10 probes from each prober. */
    for (e.round = 0;; e.round++) {
        a->run(&e);
        if (a->once || hostile_now() - t0 > SLOW(20000))
            break;
        if (hostile_now() - t0 >= 1500 && atomic_load(&lo.total) >= 10 &&
            (!e.netns || atomic_load(&kube.total) >= 10))
            break;
    }
    prober_stop(&lo);
    if (e.netns)
        prober_stop(&kube);

    printf("hostile %s%s (%d round%s):%s\n", e.netns ? "netns " : "", a->name,
           e.round + 1, e.round ? "s" : "", e.seen);
    printf("  probes from 127.0.0.1: %d/%d ok (%.1f%%), slowest %ld ms%s%s\n",
           atomic_load(&lo.ok), atomic_load(&lo.total), prober_rate(&lo),
           (long)lo.worst_ms, lo.last_error[0] ? "; last failure: " : "",
           lo.last_error);
    if (e.netns)
        printf("  probes from " NS_KUBELET
               ": %d/%d ok (%.1f%%), slowest %ld ms%s%s\n",
               atomic_load(&kube.ok), atomic_load(&kube.total),
               prober_rate(&kube), (long)kube.worst_ms,
               kube.last_error[0] ? "; last failure: " : "", kube.last_error);
    if (!a->loopback_flood || e.netns)
        CHECK(prober_rate(&lo) == 100.0, "loopback probes %d/%d",
              atomic_load(&lo.ok), atomic_load(&lo.total));
    if (e.netns)
        CHECK(prober_rate(&kube) == 100.0,
              "probes from " NS_KUBELET " (not the attacker) %d/%d",
              atomic_load(&kube.ok), atomic_load(&kube.total));

    /* Afterwards: the server lets go of everything and serves again. */
    t0 = hostile_now();
    while (test_fds() > fds0 && hostile_now() - t0 < SLOW(IDLE_S * 1000 + 4000))
        test_backoff();
    fds1 = test_fds();
    rss1 = hostile_rss_kb();
    printf("  after: fds %d -> %d (back in %lld ms), RSS %ld -> %ld KiB\n",
           fds0, fds1, (long long)(hostile_now() - t0), rss0, rss1);
    CHECK(fds1 <= fds0, "fds %d -> %d", fds0, fds1);
    if (!hostile_instrumented())
        CHECK(rss1 - rss0 < 4096, "RSS %ld -> %ld KiB", rss0, rss1);
    CHECK(hostile_ready(e.port), "not serving after the attack");
    t0 = hostile_now();
    health_destroy(e.h);
    CHECK(hostile_now() - t0 < SLOW(1000), "destroy took %lld ms",
          (long long)(hostile_now() - t0));
    if (failures)
        fprintf(stderr, "hostile %s: %d expectation(s) failed\n", a->name,
                failures);
    return failures ? 1 : 0;
}
