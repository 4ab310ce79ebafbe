/*
 * Local versus remote peers, in a private network namespace: the test
 * unshares one, gives its interface 192.0.2.10 and 2001:db8::10
 * (documentation addresses, reachable only inside it), and talks to the
 * server from them as a "remote" peer.  Needs root; skipped (77)
 * without.
 */
#include "kubeprobe.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

static health_status_t failing(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_setf(r, "secret connection string");
    health_result_set_observed(r, 42, "ms");
    return HEALTH_FAIL;
}

static const struct health_check db = { .name = "db", .run = failing };

static health_t *server(enum health_details details, unsigned per_ip)
{
    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL,
                                .details = details,
                                .max_connections_per_ip = per_ip };
    health_t *h;

    ASSERT_OK(health_create(&h, &o)); /* every interface */
    ASSERT_OK(health_register_check(h, &db, NULL));
    ASSERT_OK(health_start(h));
    return h;
}

static void get(int port, const char *host, const char *path,
                const char *accept, struct resp *r)
{
    const char *hdrs[] = { accept, NULL };

    ASSERT_OK(http_do(port, path,
                      &(struct req){ .host = host,
                                     .headers = accept ? hdrs : NULL,
                                     .fresh = true },
                      r));
}

static bool has_result(int port)
{
    struct resp r;
    bool ok;

    get(port, "127.0.0.1", "/ready", NULL, &r);
    ok = json_has(&r, "checks.db.0.time");
    resp_free(&r);
    return ok;
}

static void test_local_default(void)
{
    health_t *h = server(HEALTH_DETAILS_DEFAULT, 0);
    int port = health_port(h);
    struct resp r;

    WAIT_UNTIL(has_result(port), 2000);
    get(port, "127.0.0.1", "/ready", NULL, &r);
    ASSERT_STR_EQ(json_str(&r, "checks.db.0.output"),
                  "secret connection string");
    resp_free(&r);
    get(port, "192.0.2.10", "/ready", NULL, &r);
    ASSERT_EQ(r.status, 503);
    ASSERT_STR_EQ(json_str(&r, "checks.db.0.status"), "fail");
    ASSERT_FALSE(json_has(&r, "checks.db.0.output"));
    ASSERT_FALSE(json_has(&r, "checks.db.0.observedValue"));
    resp_free(&r);
    get(port, "[2001:db8::10]", "/ready", NULL, &r);
    ASSERT_EQ(r.status, 503);
    ASSERT_FALSE(json_has(&r, "checks.db.0.output"));
    resp_free(&r);
    /* The apiserver's text form withholds the reason from remote peers. */
    get(port, "192.0.2.10", "/readyz?verbose", "Accept: text/plain", &r);
    ASSERT_CONTAINS(r.body, "[-]db failed: reason withheld\n");
    ASSERT_CONTAINS(r.body, "readyz check failed\n");
    ASSERT_STR_EQ(r.content_type, "text/plain; charset=utf-8");
    resp_free(&r);
    get(port, "127.0.0.1", "/readyz?verbose", "Accept: text/plain", &r);
    ASSERT_CONTAINS(r.body, "[-]db failed: secret connection string\n");
    resp_free(&r);
    health_destroy(h);
}

static void test_always(void)
{
    health_t *h = server(HEALTH_DETAILS_ALWAYS, 0);
    int port = health_port(h);
    struct resp r;

    WAIT_UNTIL(has_result(port), 2000);
    get(port, "192.0.2.10", "/health", NULL, &r);
    ASSERT_STR_EQ(json_str(&r, "checks.db.0.output"),
                  "secret connection string");
    resp_free(&r);
    health_destroy(h);
}

static int open_idle(const char *ip, int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, ip, &sa.sin_addr);
    ASSERT_OK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
    return fd;
}

/* Whether the server has closed @fd: EOF within @ms (a shutdown made to
 * admit a connection has happened by the time that one is answered, so
 * 0 is enough to see that a connection is still open). */
static bool closed_by_server(int fd, int ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char c;

    return poll(&pfd, 1, (int)SLOW(ms)) == 1 && recv(fd, &c, 1, 0) <= 0;
}

/* Every address, loopback included, is held to max_connections_per_ip: a
 * new connection from an address at its limit takes the place of that
 * address's longest-waiting idle connection, so a probe from it still
 * gets through while the address never holds more than the limit; other
 * addresses are not affected. */
static void test_per_ip_limit(void)
{
    health_t *h = server(HEALTH_DETAILS_DEFAULT, 4);
    int port = health_port(h);
    struct kube_probe p = { .host = "192.0.2.10",
                            .port = port,
                            .path = "/live",
                            .timeout_ms = (int)SLOW(1000) };
    struct kube_outcome o;
    const char *addrs[] = { "192.0.2.10", "127.0.0.1" };
    int fds[4];
    int i;
    int k;

    for (k = 0; k < 2; k++) {
        for (i = 0; i < 4; i++)
            fds[i] = open_idle(addrs[k], port);
        /* The four are held (the server closes none of them)... */
        for (i = 0; i < 4; i++)
            ASSERT_FALSE(closed_by_server(fds[i], 0));
        /* ...until a fifth comes: the oldest makes room for it. */
        p.host = addrs[k];
        ASSERT_EQ(kube_probe(&p, &o), KUBE_SUCCESS);
        ASSERT_TRUE(closed_by_server(fds[0], 1000));
        for (i = 1; i < 4; i++)
            ASSERT_FALSE(closed_by_server(fds[i], 0));
        /* Other addresses are other peers. */
        p.host = k ? "192.0.2.10" : "127.0.0.1";
        ASSERT_EQ(kube_probe(&p, &o), KUBE_SUCCESS);
        p.host = "2001:db8::10";
        ASSERT_EQ(kube_probe(&p, &o), KUBE_SUCCESS);
        for (i = 0; i < 4; i++)
            close(fds[i]);
    }
    health_destroy(h);
}

int main(void)
{
    if (test_netns_setup() < 0)
        return 77;
    test_local_default();
    test_always();
    test_per_ip_limit();
    return 0;
}
