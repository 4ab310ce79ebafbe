/* The public API's argument checks, error codes and configuration: every
 * bad input is a documented negative errno and a failed call changes
 * nothing. */
#include "test.h"

#include <errno.h>

static int freed;

static health_status_t pass(health_result_t *r, void *ud)
{
    (void)r;
    (void)ud;
    return HEALTH_PASS;
}

static void count_free(void *ud)
{
    (void)ud;
    freed++;
}

static void test_null_arguments(void)
{
    struct health_check c = { .name = "ok", .run = pass };
    health_heartbeat_t *hb = NULL;
    health_t *h;

    ASSERT_EQ(health_create(NULL, NULL), -EINVAL);
    ASSERT_EQ(health_start(NULL), -EINVAL);
    ASSERT_EQ(health_stop(NULL), -EINVAL);
    ASSERT_EQ(health_port(NULL), -EINVAL);
    ASSERT_EQ(health_set_started(NULL), -EINVAL);
    ASSERT_EQ(health_begin_shutdown(NULL), -EINVAL);
    ASSERT_EQ(health_register_check(NULL, &c, NULL), -EINVAL);
    ASSERT_EQ(health_unregister_check(NULL, "ok"), -EINVAL);
    ASSERT_EQ(health_register_heartbeat(NULL, "hb", 10, &hb), -EINVAL);
    ASSERT_EQ(health_unregister_heartbeat(NULL, hb), -EINVAL);
    health_destroy(NULL);
    health_heartbeat_beat(NULL);
    health_result_setf(NULL, "x");
    health_result_set_observed(NULL, 1.0, "ms");

    ASSERT_OK(health_create(&h, NULL));
    ASSERT_EQ(health_register_check(h, NULL, NULL), -EINVAL);
    ASSERT_EQ(health_unregister_check(h, NULL), -EINVAL);
    ASSERT_EQ(health_register_heartbeat(h, "hb", 10, NULL), -EINVAL);
    ASSERT_EQ(health_register_heartbeat(h, NULL, 10, &hb), -EINVAL);
    ASSERT_EQ(health_register_heartbeat(h, "hb", 0, &hb), -EINVAL);
    ASSERT_EQ(health_unregister_heartbeat(h, NULL), -EINVAL);
    ASSERT_EQ(health_port(h), -ENOTCONN);
    ASSERT_OK(health_stop(h)); /* not started: a no-op */
    health_destroy(h);
}

static void test_check_validation(void)
{
    static const char *const bad[] = { "",           "Upper",   "white space",
                                       "slash/name", "quote\"", "ünïcode",
                                       NULL };
    struct health_check c = { .run = pass, .free_data = count_free };
    char long_name[80];
    health_t *h;
    int i;

    ASSERT_OK(health_create(&h, NULL));
    freed = 0;
    for (i = 0; bad[i]; i++) {
        c.name = bad[i];
        ASSERT_EQ(health_register_check(h, &c, NULL), -EINVAL);
    }
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    c.name = long_name;
    ASSERT_EQ(health_register_check(h, &c, NULL), -EINVAL);
    long_name[63] = '\0';
    ASSERT_OK(health_register_check(h, &c, NULL));
    c.name = "no-run";
    c.run = NULL;
    ASSERT_EQ(health_register_check(h, &c, NULL), -EINVAL);
    c.run = pass;
    c.flags = 1u << 20;
    ASSERT_EQ(health_register_check(h, &c, NULL), -EINVAL);
    c.flags = HEALTH_CHECK_LIVE;
    c.name = "a.b_c-9";
    ASSERT_OK(health_register_check(h, &c, NULL));
    /* A duplicate is refused and its free_data never called. */
    ASSERT_EQ(health_register_check(h, &c, NULL), -EEXIST);
    ASSERT_EQ(freed, 0);
    ASSERT_EQ(health_unregister_check(h, "missing"), -ENOENT);
    ASSERT_OK(health_unregister_check(h, "a.b_c-9"));
    ASSERT_EQ(freed, 1);
    ASSERT_EQ(health_unregister_check(h, "a.b_c-9"), -ENOENT);
    health_destroy(h); /* frees the 63-character one */
    ASSERT_EQ(freed, 2);
}

static void test_heartbeat_names(void)
{
    struct health_check c = { .name = "shared", .run = pass };
    health_heartbeat_t *hb = NULL;
    health_heartbeat_t *other = NULL;
    health_t *h;
    health_t *h2;

    ASSERT_OK(health_create(&h, NULL));
    ASSERT_OK(health_create(&h2, NULL));
    ASSERT_OK(health_register_check(h, &c, NULL));
    ASSERT_EQ(health_register_heartbeat(h, "shared", 100, &hb), -EEXIST);
    ASSERT_TRUE(hb == NULL);
    ASSERT_EQ(health_register_heartbeat(h, "Bad Name", 100, &hb), -EINVAL);
    ASSERT_OK(health_register_heartbeat(h, "loop", 100, &hb));
    ASSERT_EQ(
        health_register_check(
            h, &(struct health_check){ .name = "loop", .run = pass }, NULL),
        -EEXIST);
    ASSERT_OK(health_register_heartbeat(h2, "loop", 100, &other));
    ASSERT_EQ(health_unregister_heartbeat(h, other), -ENOENT);
    health_heartbeat_beat(hb);
    ASSERT_OK(health_unregister_heartbeat(h, hb));
    health_destroy(h);
    health_destroy(h2);
}

static void with_env(const char *name, const char *value, int expect)
{
    health_t *h = NULL;

    setenv(name, value, 1);
    ASSERT_EQ(health_create(&h, NULL), expect);
    if (expect == 0)
        health_destroy(h);
    else
        ASSERT_TRUE(h == NULL);
    unsetenv(name);
}

static void test_environment(void)
{
    static const char *const bad_ports[] = { "99999", "-1",     "80a", " 80",
                                             "0x50",  "123456", NULL };
    health_t *h;
    int i;

    for (i = 0; bad_ports[i]; i++)
        with_env("HEALTH_PORT", bad_ports[i], -EINVAL);
    with_env("HEALTH_PORT", "65535", 0);
    with_env("HEALTH_DETAILS", "sometimes", -EINVAL);
    with_env("HEALTH_DETAILS", "always", 0);
    with_env("HEALTH_DETAILS", "never", 0);
    with_env("HEALTH_DETAILS", "local", 0);
    with_env("HEALTH_BIND", "not-an-address", -EINVAL);
    with_env("HEALTH_BIND", "::1", 0);
    with_env("HEALTH_BIND", "[::1]", 0);
    with_env("HEALTH_BIND", "127.0.0.1", 0);

    /* HEALTH_PORT=0 is an ephemeral port; HEALTH_BIND is honoured. */
    setenv("HEALTH_PORT", "0", 1);
    setenv("HEALTH_BIND", "127.0.0.1", 1);
    ASSERT_OK(health_create(&h, NULL));
    ASSERT_OK(health_start(h));
    ASSERT_GT(health_port(h), 0);
    {
        struct resp r;
        http_get(health_port(h), "/live", &r);
        ASSERT_EQ(r.status, 200);
        resp_free(&r);
    }
    health_destroy(h);

    /* An options field wins over the environment. */
    setenv("HEALTH_PORT", "99999", 1);
    {
        struct health_options o = { .port = HEALTH_PORT_EPHEMERAL };
        ASSERT_OK(health_create(&h, &o));
        health_destroy(h);
    }
    unsetenv("HEALTH_PORT");
    unsetenv("HEALTH_BIND");
}

static void test_bad_options(void)
{
    struct health_options o;
    char long_text[300];
    health_t *h = NULL;

    memset(&o, 0, sizeof(o));
    o.port = 65536;
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    o.port = -2;
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    o.port = 0;
    o.details = (enum health_details)42;
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    o.details = HEALTH_DETAILS_DEFAULT;
    o.bind_address = "localhost";
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    o.bind_address = "";
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    o.bind_address = NULL;
    o.flags = 1u << 9;
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    o.flags = 0;
    memset(long_text, 'v', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    o.version = long_text;
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    o.version = NULL;
    o.connection_memory = 100;
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    ASSERT_TRUE(h == NULL);
}

static void test_start_errors(void)
{
    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL,
                                .bind_address = "127.0.0.1" };
    health_t *a;
    health_t *b;
    int fds;

    ASSERT_OK(health_create(&a, &o));
    ASSERT_OK(health_start(a));
    ASSERT_EQ(health_start(a), -EALREADY);
    o.port = health_port(a);
    ASSERT_OK(health_create(&b, &o));
    fds = test_fds();
    ASSERT_EQ(health_start(b), -EADDRINUSE);
    ASSERT_EQ(health_port(b), -ENOTCONN);
    ASSERT_EQ(test_fds(), fds); /* nothing left open */
    health_destroy(b);

    o.bind_address = "192.0.2.1"; /* TEST-NET-1: on no interface here */
    o.port = HEALTH_PORT_EPHEMERAL;
    ASSERT_OK(health_create(&b, &o));
    ASSERT_EQ(health_start(b), -EADDRNOTAVAIL);
    health_destroy(b);

    /* Stop, then start again on a fresh port. */
    ASSERT_OK(health_stop(a));
    ASSERT_EQ(health_port(a), -ENOTCONN);
    ASSERT_OK(health_start(a));
    ASSERT_GT(health_port(a), 0);
    health_destroy(a);
}

static void test_strings(void)
{
    ASSERT_EQ(health_version(), HEALTH_VERSION_HEX);
    ASSERT_STR_EQ(health_strerror(-EADDRINUSE), "address already in use");
    ASSERT_STR_EQ(health_strerror(-EINVAL), "invalid argument");
    ASSERT_STR_EQ(health_strerror(12345), "unknown error");
    ASSERT_STR_EQ(health_strerror(0), "success");
}

int main(void)
{
    test_null_arguments();
    test_check_validation();
    test_heartbeat_names();
    test_environment();
    test_bad_options();
    test_start_errors();
    test_strings();
    return 0;
}
