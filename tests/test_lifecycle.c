/* The lifecycle: startup gating, graceful shutdown, heartbeats. */
#include "test.h"

#include <stdatomic.h>

static atomic_int boot_ok;

static health_status_t boot(health_result_t *r, void *ud)
{
    (void)ud;
    if (!atomic_load(&boot_ok)) {
        health_result_setf(r, "migrations running");
        return HEALTH_FAIL;
    }
    return HEALTH_PASS;
}

static health_status_t pass(health_result_t *r, void *ud)
{
    (void)r;
    (void)ud;
    return HEALTH_PASS;
}

static bool top_output_is(int port, const char *path, const char *text)
{
    struct resp r;
    const char *out;
    bool ok;

    http_get(port, path, &r);
    out = json_str(&r, "output");
    ok = out && strcmp(out, text) == 0;
    resp_free(&r);
    return ok;
}

/* Manual startup: /started and /ready fail until health_set_started()
 * and every STARTUP check has passed once; then STARTUP checks no longer
 * gate /started. */
static void test_startup_gating(void)
{
    struct health_options o = { .flags = HEALTH_OPT_MANUAL_STARTUP };
    struct health_check b = { .name = "boot",
                              .flags = HEALTH_CHECK_STARTUP,
                              .interval_ms = 10,
                              .run = boot };
    struct health_check p = { .name = "db", .interval_ms = 10, .run = pass };
    health_t *h = test_server(&o);
    int port = health_port(h);

    ASSERT_OK(health_register_check(h, &b, NULL));
    ASSERT_OK(health_register_check(h, &p, NULL));
    WAIT_UNTIL(top_output_is(port, "/started", "starting"), 2000);
    expect_status(port, "/started", 503);
    expect_status(port, "/ready", 503);
    ASSERT_TRUE(top_output_is(port, "/ready", "starting"));
    expect_status(port, "/live", 200);
    ASSERT_OK(health_set_started(h));
    /* Still gated by the STARTUP check. */
    expect_status(port, "/started", 503);
    atomic_store(&boot_ok, 1);
    WAIT_UNTIL(http_status(port, "/started") == 200, 2000);
    expect_status(port, "/ready", 200);
    /* Having passed once, a STARTUP check no longer gates /started. */
    atomic_store(&boot_ok, 0);
    WAIT_UNTIL(http_status(port, "/health") == 503, 2000);
    expect_status(port, "/started", 200);
    expect_status(port, "/ready", 200);
    health_destroy(h);
}

/* Without the flag, startup completes once STARTUP checks passed. */
static void test_automatic_startup(void)
{
    health_t *h = test_server(NULL);
    int port = health_port(h);

    expect_status(port, "/started", 200);
    expect_status(port, "/ready", 200);
    ASSERT_OK(health_set_started(h)); /* a no-op here */
    health_destroy(h);
}

/* Shutdown flips /ready only, at once, and stays. */
static void test_shutdown(void)
{
    struct health_check p = { .name = "db",
                              .flags = HEALTH_CHECK_READY | HEALTH_CHECK_LIVE,
                              .run = pass };
    health_t *h = test_server(NULL);
    int port = health_port(h);
    struct resp r;

    ASSERT_OK(health_register_check(h, &p, NULL));
    WAIT_UNTIL(http_status(port, "/ready") == 200, 2000);
    ASSERT_OK(health_begin_shutdown(h));
    http_get(port, "/ready", &r);
    ASSERT_EQ(r.status, 503);
    ASSERT_STR_EQ(json_str(&r, "output"), "shutting down");
    resp_free(&r);
    expect_status(port, "/live", 200);
    expect_status(port, "/started", 200);
    ASSERT_OK(health_begin_shutdown(h));
    expect_status(port, "/ready", 503);
    health_destroy(h);
}

/* A heartbeat fails /live once older than its deadline and recovers on
 * the next beat; /ready is not affected. */
static void test_heartbeat(void)
{
    health_t *h = test_server(NULL);
    int port = health_port(h);
    health_heartbeat_t *hb;
    struct resp r;
    int64_t t0 = test_now_ms();

    ASSERT_OK(health_register_heartbeat(h, "main-loop", 150, &hb));
    http_get(port, "/live", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(json_str(&r, "checks.main-loop.0.status"), "pass");
    ASSERT_STR_EQ(json_str(&r, "checks.main-loop.0.observedUnit"), "ms");
    resp_free(&r);
    WAIT_UNTIL(http_status(port, "/live") == 503, 2000);
    /* Beats are stamped with a coarse clock (a few ms of resolution). */
    ASSERT_GE(test_now_ms() - t0, 150 - 10);
    http_get(port, "/live", &r);
    ASSERT_CONTAINS(json_str(&r, "checks.main-loop.0.output"), "no beat for");
    resp_free(&r);
    expect_status(port, "/ready", 200);
    /* Reports may be up to 1 ms old while a heartbeat is registered. */
    health_heartbeat_beat(hb);
    WAIT_UNTIL(http_status(port, "/live") == 200, 100);
    /* Beating keeps it alive past several deadlines. */
    t0 = test_now_ms();
    while (test_now_ms() - t0 < 500) {
        health_heartbeat_beat(hb);
        expect_status(port, "/live", 200);
    }
    ASSERT_OK(health_unregister_heartbeat(h, hb));
    http_get(port, "/live", &r);
    ASSERT_FALSE(json_has(&r, "checks.main-loop"));
    resp_free(&r);
    health_destroy(h);
}

/* Checks registered before start run at start; the handle may restart. */
static void test_register_before_start(void)
{
    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL,
                                .bind_address = "127.0.0.1" };
    struct health_check p = { .name = "db", .run = pass };
    health_t *h;
    int port;

    ASSERT_OK(health_create(&h, &o));
    ASSERT_OK(health_register_check(h, &p, NULL));
    ASSERT_OK(health_start(h));
    port = health_port(h);
    WAIT_UNTIL(http_status(port, "/ready") == 200, 2000);
    ASSERT_OK(health_stop(h));
    ASSERT_OK(health_start(h));
    port = health_port(h);
    expect_status(port, "/ready", 200);
    health_destroy(h);
}

int main(void)
{
    test_startup_gating();
    test_automatic_startup();
    test_shutdown();
    test_heartbeat();
    test_register_before_start();
    return 0;
}
