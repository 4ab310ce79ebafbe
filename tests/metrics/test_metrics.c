/* GET /metrics and health_metrics_write(): formats and negotiation, the
 * values as checks pass, fail and time out, scrapes that never wait, the
 * opt-outs, the details policy, and the API's snprintf contract. */
#include "test.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

/* "MAJOR.MINOR.PATCH" of the header built against. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define VERSION            \
 STR(HEALTH_VERSION_MAJOR) \
 "." STR(HEALTH_VERSION_MINOR) "." STR(HEALTH_VERSION_PATCH)

#define PROMETHEUS_ACCEPT                                                  \
 "Accept: application/openmetrics-text;version=1.0.0,application/"         \
 "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/" \
 "*;q=0.1"
/* Sample values are doubles. */
#define ASSERT_D(a, op, b) ASSERT_BASE(a, op, b, double, "g")
#define TEXT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define OM_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

static atomic_int db_status = HEALTH_PASS;

static health_status_t check_db(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_setf(r, "secret output %d", 42);
    return (health_status_t)atomic_load(&db_status);
}

static health_status_t check_gated(health_result_t *r, void *ud)
{
    (void)r;
    gate_wait(ud);
    return HEALTH_PASS;
}

static const struct health_check db = { .name = "db",
                                        .interval_ms = 20,
                                        .run = check_db };
static const struct health_check slow = {
    .name = "slow", .timeout_ms = 300, .interval_ms = 60000, .run = check_gated
};

/* The value of the sample @series ("name{labels}") in @body; aborts when
 * the body has no such sample. */
static double value_of(const char *body, const char *series)
{
    size_t n = strlen(series);
    const char *p = body;

    while ((p = strstr(p, series))) {
        if ((p == body || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    fprintf(stderr, "no sample %s in:\n%s\n", series, body);
    abort();
}

static bool has_sample(const char *body, const char *series)
{
    char line[256];

    snprintf(line, sizeof(line), "\n%s ", series);
    return strstr(body, line) != NULL;
}

static void get(int port, const char *accept, struct resp *r)
{
    const char *hdrs[] = { accept, NULL };
    struct req q = { .headers = accept ? hdrs : NULL };

    ASSERT_OK(http_do(port, "/metrics", &q, r));
}

/* The value of @series in a fresh scrape. */
static double scrape(int port, const char *series)
{
    struct resp r;
    double v;

    get(port, NULL, &r);
    ASSERT_EQ(r.status, 200);
    v = has_sample(r.body, series) ? value_of(r.body, series) : -1;
    resp_free(&r);
    return v;
}

static void expect_format(int port, const char *accept, bool om)
{
    struct resp r;

    get(port, accept, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.content_type, om ? OM_TYPE : TEXT_TYPE);
    ASSERT_STR_EQ(r.cache_control, "no-store");
    if (om) {
        ASSERT_CONTAINS(r.body, "\n# TYPE health_check_runs counter\n");
        ASSERT_CONTAINS(r.body, "\n# UNIT health_check_duration_seconds "
                                "seconds\n");
        ASSERT_TRUE(r.len >= 6 && !strcmp(r.body + r.len - 6, "# EOF\n"));
    } else {
        ASSERT_CONTAINS(r.body, "\n# TYPE health_check_runs_total counter\n");
        ASSERT_TRUE(strstr(r.body, "# UNIT") == NULL);
        ASSERT_TRUE(strstr(r.body, "# EOF") == NULL);
    }
    ASSERT_CONTAINS(r.body, "\nhealth_check_runs_total{check=\"db\"} ");
    resp_free(&r);
}

static void test_negotiation(void)
{
    health_t *h = test_server(NULL);
    int port = health_port(h);
    struct req head = { .method = "HEAD" };
    struct req post = { .method = "POST" };
    struct resp r;

    ASSERT_OK(health_register_check(h, &db, NULL));
    WAIT_UNTIL(scrape(port, "health_check_runs_total{check=\"db\"}") >= 1,
               5000);
    expect_format(port, NULL, false);
    expect_format(port, "Accept: */*", false);
    expect_format(port, PROMETHEUS_ACCEPT, true);
    expect_format(port, "Accept: application/openmetrics-text", true);
    expect_format(port, "Accept: Application/OpenMetrics-Text ; q=0.3", true);
    expect_format(
        port, "Accept: text/plain, application/openmetrics-text;q=0.9", false);
    expect_format(port, "Accept: application/openmetrics-text;q=0, */*", false);
    expect_format(port, "Accept: application/json", false);
    ASSERT_OK(http_do(port, "/metrics", &head, &r));
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.len, 0);
    ASSERT_STR_EQ(r.content_type, TEXT_TYPE);
    resp_free(&r);
    ASSERT_OK(http_do(port, "/metrics", &post, &r));
    ASSERT_EQ(r.status, 405);
    resp_free(&r);
    expect_status(port, "/metrics/", 200);
    expect_status(port, "/metrics/db", 404);
    expect_status(port, "/metricsx", 404);
    health_destroy(h);
}

/* Pass, fail and recover, a run that times out, a heartbeat, shutdown. */
static void test_values(void)
{
    struct health_options o = { .version = "1.0 \"beta\" \\ x",
                                .release_id = "r7",
                                .service_id = "svc" };
    health_t *h = test_server(&o);
    int port = health_port(h);
    health_heartbeat_t *stalled;
    health_heartbeat_t *hb;
    struct gate g;
    struct resp r;
    double fails;

    gate_init(&g);
    atomic_store(&db_status, HEALTH_PASS);
    ASSERT_OK(health_register_check(h, &db, NULL));
    ASSERT_OK(health_register_heartbeat(h, "loop", 60000, &hb));
    ASSERT_OK(health_register_heartbeat(h, "stalled", 100, &stalled));
    WAIT_UNTIL(
        scrape(port, "health_check_status{check=\"db\",status=\"pass\"}") == 1,
        5000);
    ASSERT_D(scrape(port, "health_check_failures_total{check=\"db\"}"), ==, 0);
    ASSERT_D(scrape(port, "health_endpoint_status{endpoint=\"ready\","
                          "status=\"pass\"}"),
             ==, 1);

    atomic_store(&db_status, HEALTH_FAIL);
    WAIT_UNTIL(
        scrape(port, "health_check_status{check=\"db\",status=\"fail\"}") == 1,
        5000);
    ASSERT_D(scrape(port, "health_check_status{check=\"db\",status=\"pass\"}"),
             ==, 0);
    ASSERT_D(scrape(port, "health_endpoint_status{endpoint=\"ready\","
                          "status=\"fail\"}"),
             ==, 1);
    fails = scrape(port, "health_check_failures_total{check=\"db\"}");
    ASSERT_D(fails, >=, 1);
    WAIT_UNTIL(scrape(port, "health_check_failures_total{check=\"db\"}") >
                   fails,
               5000);
    WAIT_UNTIL(
        scrape(port, "health_check_last_success_age_seconds{check=\"db\"}") >=
            0.05,
        5000);
    atomic_store(&db_status, HEALTH_PASS);
    WAIT_UNTIL(
        scrape(port, "health_check_status{check=\"db\",status=\"pass\"}") == 1,
        5000);
    ASSERT_D(
        scrape(port, "health_check_last_success_age_seconds{check=\"db\"}"), <,
        5);

    /* Pending, then timed out: a scrape never waits for the run. */
    ASSERT_OK(health_register_check(h, &slow, &g));
    WAIT_UNTIL(gate_waiting(&g) == 1, 5000);
    get(port, NULL, &r);
    ASSERT_LT(r.total_ms, SLOW(250));
    ASSERT_D(value_of(r.body, "health_check_status{check=\"slow\","
                              "status=\"pending\"}"),
             ==, 1);
    ASSERT_FALSE(has_sample(r.body, "health_check_last_success_age_seconds{"
                                    "check=\"slow\"}"));
    resp_free(&r);
    WAIT_UNTIL(scrape(port, "health_check_timeouts_total{check=\"slow\"}") == 1,
               5000);
    get(port, NULL, &r);
    ASSERT_LT(r.total_ms, SLOW(250));
    ASSERT_D(value_of(r.body, "health_check_failures_total{check=\"slow\"}"),
             ==, 1);
    ASSERT_D(value_of(r.body, "health_check_duration_seconds_bucket{check="
                              "\"slow\",le=\"0.25\"}"),
             ==, 0);
    ASSERT_D(value_of(r.body, "health_check_duration_seconds_bucket{check="
                              "\"slow\",le=\"0.5\"}"),
             ==, 1);
    ASSERT_D(value_of(r.body, "health_check_duration_seconds_sum{check="
                              "\"slow\"}"),
             ==, 0.3);
    ASSERT_D(value_of(r.body, "health_check_last_success_age_seconds{check="
                              "\"slow\"}"),
             ==, INFINITY);
    ASSERT_D(value_of(r.body, "health_heartbeat_age_seconds{check=\"loop\"}"),
             >=, 0);
    ASSERT_D(value_of(r.body, "health_check_status{check=\"loop\","
                              "status=\"pass\"}"),
             ==, 1);
    ASSERT_CONTAINS(r.body,
                    "\nhealth_build_info{libhealth_version=\"" VERSION "\","
                    "version=\"1.0 \\\"beta\\\" \\\\ x\","
                    "service_id=\"svc\",release_id=\"r7\"} 1\n");
    ASSERT_TRUE(strstr(r.body, "secret") == NULL);
    resp_free(&r);
    gate_open(&g);

    /* A heartbeat that stops beating: its age grows past the deadline. */
    WAIT_UNTIL(scrape(port, "health_check_status{check=\"stalled\","
                            "status=\"fail\"}") == 1,
               5000);
    ASSERT_D(scrape(port, "health_heartbeat_age_seconds{check=\"stalled\"}"), >,
             0.1);
    ASSERT_D(scrape(port, "health_endpoint_status{endpoint=\"live\","
                          "status=\"fail\"}"),
             ==, 1);
    ASSERT_OK(health_unregister_heartbeat(h, stalled));

    ASSERT_D(scrape(port, "health_shutting_down"), ==, 0);
    ASSERT_OK(health_begin_shutdown(h));
    ASSERT_D(scrape(port, "health_shutting_down"), ==, 1);
    ASSERT_D(scrape(port, "health_endpoint_status{endpoint=\"ready\","
                          "status=\"fail\"}"),
             ==, 1);
    ASSERT_D(scrape(port, "health_endpoint_status{endpoint=\"live\","
                          "status=\"fail\"}"),
             ==, 0);
    health_destroy(h);
}

static long metrics_status(const struct health_options *o)
{
    health_t *h = test_server(o);
    long st = http_status(health_port(h), "/metrics");

    health_destroy(h);
    return st;
}

static void test_policy(void)
{
    struct health_options o = { .details = HEALTH_DETAILS_NEVER };
    health_t *h;
    struct resp r;

    h = test_server(&o);
    http_get(health_port(h), "/metrics", &r);
    ASSERT_EQ(r.status, 403);
    ASSERT_STR_EQ(json_str(&r, "error"), "forbidden");
    resp_free(&r);
    expect_status(health_port(h), "/live", 200);
    health_destroy(h);
    o.details = HEALTH_DETAILS_ALWAYS;
    ASSERT_EQ(metrics_status(&o), 200);
    o.details = HEALTH_DETAILS_LOCAL;
    ASSERT_EQ(metrics_status(&o), 200);

    o.flags = HEALTH_OPT_NO_METRICS;
    ASSERT_EQ(metrics_status(&o), 404);
    ASSERT_OK(setenv("HEALTH_METRICS", "bogus", 1));
    ASSERT_EQ(metrics_status(&o), 404); /* the option wins */
    o.flags = 0;
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    ASSERT_OK(setenv("HEALTH_METRICS", "off", 1));
    ASSERT_EQ(metrics_status(&o), 404);
    ASSERT_OK(setenv("HEALTH_METRICS", "on", 1));
    ASSERT_EQ(metrics_status(&o), 200);
    ASSERT_OK(setenv("HEALTH_METRICS", "", 1));
    ASSERT_EQ(metrics_status(&o), 200);
    ASSERT_OK(unsetenv("HEALTH_METRICS"));
}

static void test_write(void)
{
    struct health_options o = { .flags = HEALTH_OPT_NO_METRICS };
    health_t *h;
    char small[16];
    char *buf;
    int len;

    ASSERT_OK(health_create(&h, &o));
    ASSERT_EQ(health_metrics_write(NULL, small, sizeof(small), 0), -EINVAL);
    ASSERT_EQ(health_metrics_write(h, NULL, 1, 0), -EINVAL);
    memset(small, 'x', sizeof(small));
    ASSERT_EQ(health_metrics_write(h, small, sizeof(small), 2), -EINVAL);
    ASSERT_EQ(small[0], 'x');
    ASSERT_OK(health_register_check(h, &db, NULL));

    /* Not started: the check is pending, the exposition is there. */
    len = health_metrics_write(h, NULL, 0, 0);
    ASSERT_GT(len, 0);
    buf = malloc((size_t)len + 1);
    ASSERT_EQ(health_metrics_write(h, buf, (size_t)len + 1, 0), len);
    ASSERT_EQ(strlen(buf), len);
    ASSERT_CONTAINS(buf,
                    "health_check_status{check=\"db\",status=\"pending\"} 1");
    ASSERT_CONTAINS(buf, "\nhealth_check_runs_total{check=\"db\"} 0\n");
    ASSERT_EQ(health_metrics_write(h, small, sizeof(small), 0), len);
    ASSERT_EQ(strlen(small), sizeof(small) - 1);
    ASSERT_OK(strncmp(small, buf, sizeof(small) - 1));
    free(buf);

    ASSERT_OK(health_start(h));
    expect_status(health_port(h), "/metrics", 404);
    WAIT_UNTIL(health_metrics_write(h, small, sizeof(small), 0) > len, 5000);
    len = health_metrics_write(h, NULL, 0, HEALTH_METRICS_OPENMETRICS);
    buf = malloc((size_t)len + 1);
    ASSERT_EQ(health_metrics_write(h, buf, (size_t)len + 1,
                                   HEALTH_METRICS_OPENMETRICS),
              len);
    ASSERT_OK(strcmp(buf + len - 6, "# EOF\n"));
    ASSERT_CONTAINS(buf, "\nhealth_check_runs_total{check=\"db\"} ");
    free(buf);
    health_destroy(h);
}

static health_t *cb_handle;
static atomic_int cb_len = -1;

static health_status_t check_writes_metrics(health_result_t *r, void *ud)
{
    (void)r;
    (void)ud;
    atomic_store(&cb_len, health_metrics_write(cb_handle, NULL, 0, 0));
    return HEALTH_PASS;
}

/* From a check callback, and from a forked child (-ECHILD, without
 * touching the inherited lock; the handle there is not started, so the
 * child's destroy frees all of it). */
static void test_write_contexts(void)
{
    static const struct health_check self = { .name = "self",
                                              .interval_ms = 20,
                                              .run = check_writes_metrics };
    health_t *idle;
    int status;
    pid_t pid;

    cb_handle = test_server(NULL);
    ASSERT_OK(health_register_check(cb_handle, &self, NULL));
    WAIT_UNTIL(atomic_load(&cb_len) > 0, 5000);
    health_destroy(cb_handle);

    ASSERT_OK(health_create(&idle, NULL));
    ASSERT_GT(health_metrics_write(idle, NULL, 0, 0), 0);
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        alarm(5); /* a deadlock kills the child: the parent sees it */
        if (health_metrics_write(idle, NULL, 0, 0) != -ECHILD)
            _exit(3);
        health_destroy(idle);
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    health_destroy(idle);
}

/* Malformed and oversized Accept headers: an answer in some format. */
static void test_hostile_accept(void)
{
    static const char *const accepts[] = {
        "Accept: ;;;,,,;q=,q=2,application/openmetrics-text;q=",
        "Accept: application/openmetrics-text;q=abc",
        "Accept: application/openmetrics-text;;;;q=0.0001",
        "Accept: application/openmetrics-textual, text/plain;q=0.1",
        "Accept: ,application/openmetrics-text;q=1.5;version=1.0.0,",
        "Accept: text/plain;q=0.9,application/openmetrics-text;q=0.900",
    };
    static const bool om[] = { true, true, true, false, true, true };
    health_t *h = test_server(NULL);
    char *big = malloc(8200);
    size_t i;

    ASSERT_OK(health_register_check(h, &db, NULL));
    WAIT_UNTIL(
        scrape(health_port(h), "health_check_runs_total{check=\"db\"}") >= 1,
        5000);

    for (i = 0; i < sizeof(accepts) / sizeof(accepts[0]); i++)
        expect_format(health_port(h), accepts[i], om[i]);
    memcpy(big, "Accept: ", 8);
    for (i = 8; i < 8190; i++)
        big[i] = ",;q=1/*"[i % 7];
    big[i] = '\0';
    expect_format(health_port(h), big, false);
    free(big);
    health_destroy(h);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_negotiation();
    test_values();
    test_policy();
    test_write();
    test_write_contexts();
    test_hostile_accept();
    return 0;
}
