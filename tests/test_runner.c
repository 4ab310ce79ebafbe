/* The runner's seven invariants (design.md section 4), each shown over real
 * HTTP: probes never wait, timeouts are enforced, no pile-up, checks do not
 * block each other, pending is explicit, registration is live, stopping is
 * bounded. */
#include "test.h"

#include <math.h>
#include <stdatomic.h>

/* A check whose callback blocks on a gate and counts what happens. */
struct probe_state {
    struct gate gate;
    atomic_int runs;     /* callbacks entered */
    atomic_int returned; /* callbacks returned */
    atomic_int freed;    /* free_data calls */
    int status;          /* what it returns once through the gate */
    const char *output;
    health_t *h;
};

static void state_init(struct probe_state *s, int status, const char *output)
{
    memset(s, 0, sizeof(*s));
    gate_init(&s->gate);
    s->status = status;
    s->output = output;
}

static health_status_t gated(health_result_t *r, void *ud)
{
    struct probe_state *s = ud;

    atomic_fetch_add(&s->runs, 1);
    gate_wait(&s->gate);
    if (s->output)
        health_result_setf(r, "%s", s->output);
    atomic_fetch_add(&s->returned, 1);
    return (health_status_t)s->status;
}

static health_status_t counting(health_result_t *r, void *ud)
{
    struct probe_state *s = ud;

    (void)r;
    atomic_fetch_add(&s->runs, 1);
    atomic_fetch_add(&s->returned, 1);
    return (health_status_t)s->status;
}

static void state_free(void *ud)
{
    struct probe_state *s = ud;

    /* free_data runs after the last run has returned. */
    ASSERT_EQ(atomic_load(&s->runs), atomic_load(&s->returned));
    atomic_fetch_add(&s->freed, 1);
}

static struct health_check gated_check(const char *name, unsigned flags,
                                       unsigned timeout_ms)
{
    struct health_check c = { .name = name,
                              .flags = flags,
                              .timeout_ms = timeout_ms,
                              .interval_ms = 60000,
                              .run = gated,
                              .free_data = state_free };
    return c;
}

static bool output_contains(int port, const char *path, const char *check,
                            const char *text)
{
    char key[128];
    struct resp r;
    const char *out;
    bool ok;

    http_get(port, path, &r);
    snprintf(key, sizeof(key), "checks.%s.0.output", check);
    out = json_str(&r, key);
    ok = out && strstr(out, text);
    resp_free(&r);
    return ok;
}

/* Invariants 1 and 2: a callback that never returns; /ready answers fail
 * "timed out" at the deadline and /live keeps answering at once. */
static void test_hung_check_times_out(void)
{
    struct probe_state s;
    struct health_check c = gated_check("hangs", HEALTH_CHECK_READY, 300);
    health_t *h = test_server(NULL);
    int port = health_port(h);
    int64_t t0;
    struct resp r;
    int i;

    state_init(&s, HEALTH_PASS, NULL);
    t0 = test_now_ms();
    ASSERT_OK(health_register_check(h, &c, &s));
    WAIT_UNTIL(atomic_load(&s.runs) == 1, 2000);
    /* While it hangs, probes answer at once: pending, then timed out. */
    http_get(port, "/ready", &r);
    ASSERT_EQ(r.status, 503);
    ASSERT_LT(r.total_ms, SLOW(250));
    resp_free(&r);
    WAIT_UNTIL(
        output_contains(port, "/ready", "hangs", "timed out after 300 ms"),
        2000);
    ASSERT_GE(test_now_ms() - t0, 300);
    ASSERT_LT(test_now_ms() - t0, SLOW(300 + 700));
    for (i = 0; i < 50; i++) {
        http_get(port, "/live", &r);
        ASSERT_EQ(r.status, 200);
        ASSERT_LT(r.total_ms, SLOW(250));
        resp_free(&r);
    }
    /* The report says how long the run has been stuck. */
    WAIT_UNTIL(output_contains(port, "/ready", "hangs", "still running after"),
               2000);
    expect_status(port, "/ready", 503);
    ASSERT_EQ(atomic_load(&s.runs), 1);

    /* Its late result is discarded. */
    s.output = "late result";
    gate_open(&s.gate);
    WAIT_UNTIL(atomic_load(&s.returned) == 1, 2000);
    WAIT_UNTIL(!output_contains(port, "/ready", "hangs", "still running"),
               2000);
    ASSERT_TRUE(output_contains(port, "/ready", "hangs", "timed out after"));
    expect_status(port, "/ready", 503);
    health_destroy(h);
    ASSERT_EQ(atomic_load(&s.freed), 1);
}

/* Invariant 3: hung checks hold one thread each and never start a second
 * run, however fast they are due and however many probes arrive. */
static void test_no_pile_up(void)
{
    enum {
        N = 5
    };
    static const char *const names[N] = { "h0", "h1", "h2", "h3", "h4" };
    struct probe_state s[N];
    health_t *h = test_server(NULL);
    int port = health_port(h);
    int base;
    int i;

    base = test_threads(); /* main + HTTP + scheduler */
    for (i = 0; i < N; i++) {
        struct health_check c = gated_check(names[i], HEALTH_CHECK_READY, 20);
        c.interval_ms = 5;
        state_init(&s[i], HEALTH_PASS, NULL);
        ASSERT_OK(health_register_check(h, &c, &s[i]));
    }
    /* More hung checks than the pool's 4 threads: the pool replaces the
     * hung ones, so every check gets its run. */
    for (i = 0; i < N; i++)
        WAIT_UNTIL(atomic_load(&s[i].runs) == 1, 2000);
    for (i = 0; i < 300; i++) {
        struct resp r;
        http_get(port, i % 2 ? "/ready" : "/health", &r);
        ASSERT_EQ(r.status, 503);
        resp_free(&r);
        ASSERT_LE(test_threads(), base + N);
    }
    for (i = 0; i < N; i++)
        ASSERT_EQ(atomic_load(&s[i].runs), 1);
    WAIT_UNTIL(output_contains(port, "/ready", "h3", "timed out after 20 ms"),
               2000);
    health_destroy(h);
    for (i = 0; i < N; i++) {
        gate_open(&s[i].gate);
        WAIT_UNTIL(atomic_load(&s[i].freed) == 1, 2000);
    }
    /* Every check thread is gone once the callbacks returned. */
    WAIT_UNTIL(test_threads() <= base - 2, 2000);
}

/* Invariant 4: one hung check does not delay another's schedule. */
static void test_checks_independent(void)
{
    struct probe_state hung;
    struct probe_state fast;
    struct health_check c = gated_check("hung", HEALTH_CHECK_READY, 5000);
    struct health_check f = { .name = "fast",
                              .interval_ms = 20,
                              .run = counting,
                              .free_data = state_free };
    health_t *h = test_server(NULL);
    int64_t t0;

    state_init(&hung, HEALTH_PASS, NULL);
    state_init(&fast, HEALTH_PASS, NULL);
    ASSERT_OK(health_register_check(h, &c, &hung));
    WAIT_UNTIL(atomic_load(&hung.runs) == 1, 2000);
    t0 = test_now_ms();
    ASSERT_OK(health_register_check(h, &f, &fast));
    /* 50 runs are due per second; ask for 10 well within one. */
    WAIT_UNTIL(atomic_load(&fast.runs) >= 10, 1000);
    ASSERT_LT(test_now_ms() - t0, SLOW(1000));
    ASSERT_TRUE(output_contains(health_port(h), "/health", "hung", "pending"));
    health_destroy(h);
    gate_open(&hung.gate);
    WAIT_UNTIL(atomic_load(&hung.freed) == 1, 2000);
    ASSERT_EQ(atomic_load(&fast.freed), 1);
}

/* Invariant 5: before its first result a check is pending: it fails
 * /ready and /started, and does not fail /live. */
static void test_pending(void)
{
    struct probe_state s;
    struct health_check c = gated_check(
        "slow", HEALTH_CHECK_READY | HEALTH_CHECK_LIVE | HEALTH_CHECK_STARTUP,
        10000);
    health_t *h = test_server(NULL);
    int port = health_port(h);
    struct resp r;

    state_init(&s, HEALTH_PASS, NULL);
    ASSERT_OK(health_register_check(h, &c, &s));
    WAIT_UNTIL(atomic_load(&s.runs) == 1, 2000);
    http_get(port, "/ready", &r);
    ASSERT_EQ(r.status, 503);
    ASSERT_STR_EQ(json_str(&r, "checks.slow.0.status"), "fail");
    ASSERT_STR_EQ(json_str(&r, "checks.slow.0.output"),
                  "pending: no result yet");
    resp_free(&r);
    expect_status(port, "/started", 503);
    http_get(port, "/live", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(json_str(&r, "status"), "warn");
    resp_free(&r);
    gate_open(&s.gate);
    WAIT_UNTIL(http_status(port, "/ready") == 200, 2000);
    expect_status(port, "/started", 200);
    http_get(port, "/live", &r);
    ASSERT_STR_EQ(json_str(&r, "status"), "pass");
    resp_free(&r);
    health_destroy(h);
    ASSERT_EQ(atomic_load(&s.freed), 1);
}

struct churn {
    health_t *h;
    atomic_int next_id;
    int port;
    atomic_int freed;
    atomic_bool done;
};

static health_status_t churn_check(health_result_t *r, void *ud)
{
    (void)r;
    (void)ud;
    return HEALTH_PASS;
}

static void churn_free(void *ud)
{
    struct churn *c = ud;

    atomic_fetch_add(&c->freed, 1);
}

static void *churn_thread(void *arg)
{
    struct churn *c = arg;
    int id = atomic_fetch_add(&c->next_id, 1);
    char name[32];
    int i;

    for (i = 0; i < 200; i++) {
        struct health_check chk = { .name = name,
                                    .interval_ms = 1,
                                    .run = churn_check,
                                    .free_data = churn_free };
        snprintf(name, sizeof(name), "churn-%d-%d", id, i % 7);
        ASSERT_OK(health_register_check(c->h, &chk, c));
        ASSERT_OK(health_unregister_check(c->h, name));
    }
    return NULL;
}

static void *probe_thread(void *arg)
{
    struct churn *c = arg;
    struct resp r;

    while (!atomic_load(&c->done)) {
        ASSERT_OK(
            http_do(c->port, "/health", &(struct req){ .fresh = true }, &r));
        ASSERT_TRUE(r.status == 200 || r.status == 503);
        resp_free(&r);
    }
    return NULL;
}

/* Invariant 6: register and unregister from other threads while probes
 * run; free_data exactly once per registration. */
static void test_live_registration(void)
{
    struct churn c = { 0 };
    pthread_t t1;
    pthread_t t2;
    pthread_t p;

    c.h = test_server(NULL);
    c.port = health_port(c.h);
    pthread_create(&p, NULL, probe_thread, &c);
    pthread_create(&t1, NULL, churn_thread, &c);
    pthread_create(&t2, NULL, churn_thread, &c);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    atomic_store(&c.done, true);
    pthread_join(p, NULL);
    health_destroy(c.h);
    ASSERT_EQ(atomic_load(&c.freed), 400);
}

static health_status_t unregister_self(health_result_t *r, void *ud)
{
    struct probe_state *s = ud;
    health_t *h = s->h;

    (void)r;
    atomic_fetch_add(&s->runs, 1);
    ASSERT_OK(health_unregister_check(h, "self-removing"));
    /* free_data waits for this callback to return. */
    ASSERT_EQ(atomic_load(&s->freed), 0);
    atomic_fetch_add(&s->returned, 1);
    return HEALTH_PASS;
}

/* Invariant 6, continued: unregistering waits for no hung callback, and
 * free_data runs once, after the last run returns. */
static void test_unregister_running(void)
{
    struct probe_state s;
    struct probe_state self;
    struct health_check c = gated_check("stuck", HEALTH_CHECK_READY, 10000);
    struct health_check sc = { .name = "self-removing",
                               .run = unregister_self,
                               .free_data = state_free };
    health_t *h = test_server(NULL);
    int64_t t0;

    state_init(&s, HEALTH_PASS, NULL);
    ASSERT_OK(health_register_check(h, &c, &s));
    WAIT_UNTIL(atomic_load(&s.runs) == 1, 2000);
    t0 = test_now_ms();
    ASSERT_OK(health_unregister_check(h, "stuck"));
    ASSERT_LT(test_now_ms() - t0, SLOW(100));
    ASSERT_EQ(atomic_load(&s.freed), 0);
    expect_status(health_port(h), "/ready", 200);
    gate_open(&s.gate);
    WAIT_UNTIL(atomic_load(&s.freed) == 1, 2000);

    state_init(&self, HEALTH_PASS, NULL);
    self.h = h;
    ASSERT_OK(health_register_check(h, &sc, &self));
    WAIT_UNTIL(atomic_load(&self.freed) == 1, 2000);
    ASSERT_EQ(atomic_load(&self.runs), 1);
    health_destroy(h);
    ASSERT_EQ(atomic_load(&self.freed), 1);
}

/* Invariant 7: stop and destroy return promptly while a check hangs, and
 * the callback that returns later finds its state intact. */
static void test_bounded_stop(void)
{
    struct probe_state s;
    struct health_check c = gated_check("forever", HEALTH_CHECK_READY, 50);
    health_t *h = test_server(NULL);
    int64_t t0;

    state_init(&s, HEALTH_PASS, NULL);
    ASSERT_OK(health_register_check(h, &c, &s));
    WAIT_UNTIL(atomic_load(&s.runs) == 1, 2000);
    t0 = test_now_ms();
    ASSERT_OK(health_stop(h));
    ASSERT_LT(test_now_ms() - t0, SLOW(500));
    /* Start again: the hung run is still the only one. */
    ASSERT_OK(health_start(h));
    WAIT_UNTIL(
        output_contains(health_port(h), "/ready", "forever", "timed out"),
        2000);
    ASSERT_EQ(atomic_load(&s.runs), 1);
    t0 = test_now_ms();
    health_destroy(h);
    ASSERT_LT(test_now_ms() - t0, SLOW(500));
    ASSERT_EQ(atomic_load(&s.freed), 0);
    gate_open(&s.gate);
    WAIT_UNTIL(atomic_load(&s.freed) == 1, 2000);
    ASSERT_EQ(atomic_load(&s.runs), 1);
}

static health_status_t bad_status(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_setf(r, "ignored");
    return (health_status_t)7;
}

static health_status_t messy_output(health_result_t *r, void *ud)
{
    char big[1024];

    (void)ud;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[0] = '\x01';
    big[1] = '\xff';
    big[2] = '"';
    big[3] = '\\';
    health_result_setf(r, "%s", big);
    health_result_set_observed(r, INFINITY, "inf");
    return HEALTH_WARN;
}

struct changes {
    atomic_int n;
    char last[64];
    health_status_t status;
    pthread_mutex_t lock;
};

static void on_change(const char *name, health_status_t st, const char *out,
                      void *ud)
{
    struct changes *c = ud;

    (void)out;
    pthread_mutex_lock(&c->lock);
    snprintf(c->last, sizeof(c->last), "%s", name);
    c->status = st;
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add(&c->n, 1);
}

/* Broken callbacks get a safe, documented outcome; transitions reach the
 * status-change callback. */
static void test_results_and_changes(void)
{
    struct changes ch = { .lock = PTHREAD_MUTEX_INITIALIZER };
    struct health_options o = { .on_change = on_change,
                                .on_change_userdata = &ch };
    struct health_check bad = { .name = "bad", .run = bad_status };
    struct health_check messy = { .name = "messy", .run = messy_output };
    health_t *h = test_server(&o);
    int port = health_port(h);
    const char *out;
    struct resp r;

    ASSERT_OK(health_register_check(h, &bad, NULL));
    ASSERT_OK(health_register_check(h, &messy, NULL));
    WAIT_UNTIL(atomic_load(&ch.n) == 2, 2000);
    http_get(port, "/health", &r);
    ASSERT_STR_EQ(json_str(&r, "checks.bad.0.status"), "fail");
    ASSERT_STR_EQ(json_str(&r, "checks.bad.0.output"), "invalid status 7");
    ASSERT_STR_EQ(json_str(&r, "checks.messy.0.status"), "warn");
    out = json_str(&r, "checks.messy.0.output");
    ASSERT_EQ(strlen(out), HEALTH_OUTPUT_MAX - 1);
    ASSERT_EQ(strncmp(out, " ?\"\\xx", 6), 0);
    ASSERT_FALSE(json_has(&r, "checks.messy.0.observedValue"));
    resp_free(&r);
    health_destroy(h);
}

int main(void)
{
    test_hung_check_times_out();
    test_no_pile_up();
    test_checks_independent();
    test_pending();
    test_live_registration();
    test_unregister_running();
    test_bounded_stop();
    test_results_and_changes();
    return 0;
}
