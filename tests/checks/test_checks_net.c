/* The tcp, http and dns checks against real servers on loopback: pass,
 * fail, recovery, targets that hang (the timeout holds), IPv4 and IPv6,
 * and registration that refuses bad arguments. */
#include "checkutil.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static struct health_check mk(const char *name, unsigned timeout_ms)
{
    struct health_check c = { .name = name,
                              .timeout_ms = timeout_ms,
                              .interval_ms = 50 };
    return c;
}

static health_status_t noop(health_result_t *r, void *ud)
{
    (void)r;
    (void)ud;
    return HEALTH_PASS;
}

static void test_bad_arguments(health_t *h)
{
    struct health_check c = mk("bad", 0);
    struct health_check with_run = mk("bad", 0);
    static const unsigned bad_status[] = { 200, 600 };
    static const unsigned low_status[] = { 99 };
    struct health_http_options o = { 0 };
    static const char *const bad_urls[] = { "",
                                            "ftp://127.0.0.1/",
                                            "http://",
                                            "http:///x",
                                            "http://a b/",
                                            "http://user@127.0.0.1/",
                                            "http://127.0.0.1:0/",
                                            "http://127.0.0.1:65536/",
                                            "http://127.0.0.1:/",
                                            "http://[::1/",
                                            "http://::1/",
                                            "http://127.0.0.1:8a/",
                                            "http://bad_host!/",
                                            "http://x\x01y/",
                                            "127.0.0.1:80",
                                            "http://[::1]x/" };
    size_t i;

    with_run.run = noop;
    ASSERT_EQ(health_check_tcp(NULL, &c, "127.0.0.1", 80), -EINVAL);
    ASSERT_EQ(health_check_tcp(h, NULL, "127.0.0.1", 80), -EINVAL);
    ASSERT_EQ(health_check_tcp(h, &with_run, "127.0.0.1", 80), -EINVAL);
    ASSERT_EQ(health_check_tcp(h, &c, NULL, 80), -EINVAL);
    ASSERT_EQ(health_check_tcp(h, &c, "", 80), -EINVAL);
    ASSERT_EQ(health_check_tcp(h, &c, "no spaces", 80), -EINVAL);
    ASSERT_EQ(health_check_tcp(h, &c, "a..b", 80), -EINVAL);
    ASSERT_EQ(health_check_tcp(h, &c, "[::1", 80), -EINVAL);
    ASSERT_EQ(health_check_tcp(h, &c, "[]", 80), -EINVAL);
    ASSERT_EQ(health_check_tcp(h, &c, "127.0.0.1", 0), -EINVAL);
    ASSERT_EQ(health_check_tcp(h, &c, "127.0.0.1", 65536), -EINVAL);
    for (i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
        int r = health_check_http(h, &c, bad_urls[i], NULL);
        if (r != -EINVAL) {
            fprintf(stderr, "url \"%s\": %d\n", bad_urls[i], r);
            abort();
        }
    }
    ASSERT_EQ(health_check_http(h, &c, NULL, NULL), -EINVAL);
    ASSERT_EQ(health_check_http(h, &c, "https://127.0.0.1/", NULL),
              -EPROTONOSUPPORT);
    ASSERT_EQ(health_check_http(h, &c, "HTTPS://127.0.0.1/", NULL),
              -EPROTONOSUPPORT);
    o.statuses = bad_status;
    o.n_statuses = 2;
    ASSERT_EQ(health_check_http(h, &c, "http://127.0.0.1/", &o), -EINVAL);
    o.statuses = low_status;
    o.n_statuses = 1;
    ASSERT_EQ(health_check_http(h, &c, "http://127.0.0.1/", &o), -EINVAL);
    o.statuses = NULL;
    ASSERT_EQ(health_check_http(h, &c, "http://127.0.0.1/", &o), -EINVAL);
    ASSERT_EQ(health_check_dns(h, &c, NULL), -EINVAL);
    ASSERT_EQ(health_check_dns(h, &c, ""), -EINVAL);
    ASSERT_EQ(health_check_dns(h, &c, "bad name"), -EINVAL);
    ASSERT_EQ(health_check_dns(h, &with_run, "localhost"), -EINVAL);

    /* Nothing was registered: the name is still free, once. */
    ASSERT_OK(health_check_tcp(h, &c, "[::1]", 9));
    ASSERT_EQ(health_check_tcp(h, &c, "127.0.0.1", 9), -EEXIST);
    ASSERT_EQ(health_check_http(h, &c, "http://127.0.0.1/", NULL), -EEXIST);
    ASSERT_EQ(health_check_dns(h, &c, "localhost"), -EEXIST);
    ASSERT_OK(health_unregister_check(h, "bad"));
    ASSERT_OK(
        health_check_http(h, &c, "http://LocalHost:1/a/b?c=d#frag", NULL));
    ASSERT_OK(health_unregister_check(h, "bad"));
    ASSERT_OK(health_check_http(h, &c, "http://[::1]:1", NULL));
    ASSERT_OK(health_unregister_check(h, "bad"));
    ASSERT_OK(health_check_dns(h, &c, "::1"));
    ASSERT_OK(health_unregister_check(h, "bad"));
}

/* Pass, fail on a closed port, pass again on the same port. */
static void test_tcp(health_t *h, int port)
{
    int lfd = listen_on("127.0.0.1", 0, 16);
    int target = port_of(lfd);
    struct health_check c = mk("tcp4", 500);
    char text[64];
    struct seen s;

    ASSERT_OK(health_check_tcp(h, &c, "127.0.0.1", (unsigned)target));
    snprintf(text, sizeof(text), "connected to 127.0.0.1 port %d", target);
    wait_check(port, "tcp4", "pass", text, 3000, &s);
    ASSERT_TRUE(s.has_observed);
    ASSERT_STR_EQ(s.unit, "ms");
    close(lfd);
    wait_check(port, "tcp4", "fail", "Connection refused", 3000, &s);
    lfd = listen_on("127.0.0.1", target, 16);
    wait_check(port, "tcp4", "pass", text, 3000, NULL);
    close(lfd);
    ASSERT_OK(health_unregister_check(h, "tcp4"));
}

static void test_tcp_v6_and_names(health_t *h, int port)
{
    int l6 = listen_on("::1", 0, 16);
    int l4 = listen_on("127.0.0.1", 0, 16);
    struct health_check a = mk("tcp6", 500);
    struct health_check b = mk("tcp6b", 500);
    struct health_check n = mk("tcpname", 500);
    char text[64];

    ASSERT_OK(health_check_tcp(h, &a, "::1", (unsigned)port_of(l6)));
    ASSERT_OK(health_check_tcp(h, &b, "[::1]", (unsigned)port_of(l6)));
    /* "localhost" may list ::1 first, where nothing listens on this port:
     * the next address is tried. */
    ASSERT_OK(health_check_tcp(h, &n, "localhost", (unsigned)port_of(l4)));
    snprintf(text, sizeof(text), "connected to ::1 port %d", port_of(l6));
    wait_check(port, "tcp6", "pass", text, 3000, NULL);
    wait_check(port, "tcp6b", "pass", text, 3000, NULL);
    snprintf(text, sizeof(text), "connected to 127.0.0.1 port %d", port_of(l4));
    wait_check(port, "tcpname", "pass", text, 3000, NULL);
    close(l4);
    wait_check(port, "tcpname", "fail", "localhost port", 3000, NULL);
    close(l6);
    wait_check(port, "tcp6", "fail", "Connection refused", 3000, NULL);
    ASSERT_OK(health_unregister_check(h, "tcp6"));
    ASSERT_OK(health_unregister_check(h, "tcp6b"));
    ASSERT_OK(health_unregister_check(h, "tcpname"));
}

/* A listener that never accepts, its queue full: the check gives up at
 * its own deadline, before the runner's, and recovers once the queue
 * drains. */
static void test_tcp_hang(health_t *h, int port)
{
    int lfd = listen_on("127.0.0.1", 0, 0);
    struct health_check c = mk("tcphang", 400);
    int fds[64];
    int n = fill_backlog(port_of(lfd), fds, 64);
    int64_t t0;
    struct seen s;
    int i;

    c.interval_ms = 200;
    t0 = test_now_ms();
    ASSERT_OK(health_check_tcp(h, &c, "127.0.0.1", (unsigned)port_of(lfd)));
    wait_check(port, "tcphang", "fail", "no connection within 360 ms", 2000,
               &s);
    /* Reported at the deadline (360 ms), not later; and by the check
     * itself, which returned: the runner did not have to time it out. */
    ASSERT_LT(test_now_ms() - t0, SLOW(360) + 300);
    ASSERT_GE(s.duration_ms, 355);
    ASSERT_LT(s.duration_ms, 400);
    for (i = 0; i < n; i++)
        close(fds[i]);
    for (;;) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        if (poll(&p, 1, 0) <= 0)
            break;
        close(accept(lfd, NULL, NULL));
    }
    /* The check connects again (its connection sits in the queue). */
    wait_check(port, "tcphang", "pass", NULL, 3000, NULL);
    ASSERT_OK(health_unregister_check(h, "tcphang"));
    close(lfd);
}

static void test_http(health_t *h, int port)
{
    struct http_server srv;
    struct health_check c = mk("http", 400);
    struct health_check only503 = mk("http503", 400);
    static const unsigned st503[] = { 503 };
    struct health_http_options o = { .statuses = st503, .n_statuses = 1 };
    char url[128];
    char req[1024];
    char host[64];
    struct seen s;

    http_server_start(&srv, "127.0.0.1");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready?x=1#top", srv.port);
    ASSERT_OK(health_check_http(h, &c, url, NULL));
    ASSERT_OK(health_check_http(h, &only503, url, &o));
    wait_check(port, "http", "pass", "HTTP 200 from http://127.0.0.1", 3000,
               &s);
    ASSERT_TRUE(s.has_observed);
    ASSERT_STR_EQ(s.unit, "ms");
    wait_check(port, "http503", "fail", "HTTP 200", 3000, NULL);
    http_server_last(&srv, req, sizeof(req));
    ASSERT_CONTAINS(req, "GET /ready?x=1 HTTP/1.1\r\n");
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%d\r\n", srv.port);
    ASSERT_CONTAINS(req, host);
    ASSERT_CONTAINS(req, "Connection: close\r\n");

    atomic_store(&srv.status, 302);
    wait_check(port, "http", "pass", "HTTP 302", 3000, NULL);
    atomic_store(&srv.status, 503);
    wait_check(port, "http", "fail", "HTTP 503", 3000, NULL);
    wait_check(port, "http503", "pass", "HTTP 503", 3000, NULL);
    atomic_store(&srv.status, 200);
    wait_check(port, "http", "pass", "HTTP 200", 3000, NULL);

    /* A server that accepts and never answers: fail at the deadline. */
    atomic_store(&srv.mode, HTTP_SILENT);
    wait_check(port, "http", "fail", "no response within 360 ms", 3000, &s);
    ASSERT_LT(s.duration_ms, 400);
    atomic_store(&srv.mode, HTTP_CLOSE);
    wait_check(port, "http", "fail", "closed before a response", 3000, NULL);
    atomic_store(&srv.mode, HTTP_GARBAGE);
    wait_check(port, "http", "fail", "not an HTTP/1.x response", 3000, NULL);
    atomic_store(&srv.mode, HTTP_ANSWER);
    wait_check(port, "http", "pass", "HTTP 200", 3000, NULL);

    http_server_stop(&srv);
    wait_check(port, "http", "fail", "Connection refused", 3000, NULL);
    ASSERT_OK(health_unregister_check(h, "http"));
    ASSERT_OK(health_unregister_check(h, "http503"));
}

static void test_http_v6(health_t *h, int port)
{
    struct http_server srv;
    struct health_check c = mk("http6", 400);
    char url[128];

    http_server_start(&srv, "::1");
    snprintf(url, sizeof(url), "http://[::1]:%d/", srv.port);
    ASSERT_OK(health_check_http(h, &c, url, NULL));
    wait_check(port, "http6", "pass", "HTTP 200 from http://[::1]", 3000, NULL);
    http_server_stop(&srv);
    ASSERT_OK(health_unregister_check(h, "http6"));
}

/* The library's own endpoints, served by libmicrohttpd, as the target. */
static void test_http_library(health_t *h, int port)
{
    health_t *other = test_server(NULL);
    struct health_check c = mk("peer-ready", 400);
    char url[128];

    snprintf(url, sizeof(url), "http://localhost:%d/ready", health_port(other));
    ASSERT_OK(health_check_http(h, &c, url, NULL));
    wait_check(port, "peer-ready", "pass", "HTTP 200", 3000, NULL);
    ASSERT_OK(health_begin_shutdown(other));
    wait_check(port, "peer-ready", "fail", "HTTP 503", 3000, NULL);
    health_destroy(other);
    wait_check(port, "peer-ready", "fail", "localhost:", 3000, NULL);
    ASSERT_OK(health_unregister_check(h, "peer-ready"));
}

static void test_dns(health_t *h, int port)
{
    struct health_check ok = mk("dns", 1000);
    struct health_check bad = mk("dnsbad", 1000);
    int64_t t0 = test_now_ms();
    struct seen s;

    ASSERT_OK(health_check_dns(h, &ok, "localhost"));
    ASSERT_OK(health_check_dns(h, &bad, "no-such-host.invalid"));
    wait_check(port, "dns", "pass", "localhost: ", 3000, &s);
    ASSERT_TRUE(strstr(s.output, "127.0.0.1") || strstr(s.output, "::1"));
    ASSERT_STR_EQ(s.unit, "ms");
    /* An unknown name fails, with the resolver's answer or at the
     * deadline, whichever comes first. */
    wait_check(port, "dnsbad", "fail", "no-such-host.invalid: ", 3000, &s);
    ASSERT_LT(test_now_ms() - t0, SLOW(900) + 1000);
    ASSERT_OK(health_unregister_check(h, "dns"));
    ASSERT_OK(health_unregister_check(h, "dnsbad"));
}

int main(void)
{
    health_t *h = test_server(NULL);
    int port = health_port(h);

    test_bad_arguments(h);
    test_tcp(h, port);
    test_tcp_v6_and_names(h, port);
    test_tcp_hang(h, port);
    test_http(h, port);
    test_http_v6(h, port);
    test_http_library(h, port);
    test_dns(h, port);
    health_destroy(h);
    printf("checks-net: 8 passed, 0 failed\n");
    return 0;
}
