/*
 * Who may scrape /metrics, seen from a remote peer: in a private network
 * namespace (192.0.2.10 and 2001:db8::10 on its loopback interface,
 * documentation addresses reachable only inside it), /metrics follows the
 * details policy: with "local" a loopback peer gets it and a remote one
 * 403, "always" shows it to both, "never" to neither.  /live answers the
 * remote peer throughout.  The bearer token and the trusted ranges grant
 * it as they grant details.  Needs root; skipped (77) without.
 */
#include "test.h"

#include <errno.h>
#include <sched.h>
#include <unistd.h>

static long status_from(int port, const char *host, const char *path)
{
    struct req q = { .host = host, .fresh = true };
    struct resp r;
    long st;

    ASSERT_OK(http_do(port, path, &q, &r));
    st = r.status;
    resp_free(&r);
    return st;
}

/* /metrics for loopback, remote IPv4 and remote IPv6 peers. */
static void expect(enum health_details details, long local, long remote)
{
    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL,
                                .details = details };
    health_t *h;
    int port;

    ASSERT_OK(health_create(&h, &o)); /* every interface */
    ASSERT_OK(health_start(h));
    port = health_port(h);
    ASSERT_EQ(status_from(port, "127.0.0.1", "/metrics"), local);
    ASSERT_EQ(status_from(port, "192.0.2.10", "/metrics"), remote);
    ASSERT_EQ(status_from(port, "[2001:db8::10]", "/metrics"), remote);
    ASSERT_EQ(status_from(port, "192.0.2.10", "/live"), 200);
    health_destroy(h);
}

static long scrape_with(int port, const char *host, const char *auth)
{
    const char *hdrs[] = { auth, NULL };
    struct req q = { .host = host, .headers = hdrs, .fresh = true };
    struct resp r;
    long st;

    ASSERT_OK(http_do(port, "/metrics", &q, &r));
    st = r.status;
    resp_free(&r);
    return st;
}

/* The grants of the details policy open /metrics too: the bearer token
 * and the trusted ranges. */
static void expect_grants(void)
{
    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL,
                                .token = "s3cret-token",
                                .details_cidrs = "2001:db8::/64" };
    health_t *h;
    int port;

    ASSERT_OK(health_create(&h, &o));
    ASSERT_OK(health_start(h));
    port = health_port(h);
    ASSERT_EQ(scrape_with(port, "192.0.2.10", NULL), 403);
    ASSERT_EQ(scrape_with(port, "192.0.2.10", "Authorization: Bearer nope"),
              403);
    ASSERT_EQ(
        scrape_with(port, "192.0.2.10", "Authorization: Bearer s3cret-token"),
        200);
    ASSERT_EQ(scrape_with(port, "[2001:db8::10]", NULL), 200);
    health_destroy(h);
}

int main(void)
{
    if (geteuid() != 0 || test_netns_setup() < 0)
        return 77;
    expect(HEALTH_DETAILS_LOCAL, 200, 403);
    expect(HEALTH_DETAILS_ALWAYS, 200, 200);
    expect(HEALTH_DETAILS_NEVER, 403, 403);
    expect_grants();
    return 0;
}
