/* The check pool and flap damping: hung runs are replaced up to the bound
 * and no further, a hung check never delays another, the pool starts
 * under a low process limit with 1,000 checks, a large report names the
 * failing check first, and damping holds both ways. */
#include "test.h"

#include <errno.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static health_status_t pass(health_result_t *r, void *ud)
{
    (void)r;
    (void)ud;
    return HEALTH_PASS;
}

struct hang {
    struct gate gate;
    atomic_int runs;
};

static health_status_t hang(health_result_t *r, void *ud)
{
    struct hang *s = ud;

    (void)r;
    atomic_fetch_add(&s->runs, 1);
    gate_wait(&s->gate);
    return HEALTH_PASS;
}

static bool output_has(int port, const char *name, const char *text)
{
    char path[128];
    struct resp r;
    const char *out;
    bool ok;

    (void)snprintf(path, sizeof(path), "checks.%s.0.output", name);
    http_get(port, "/health", &r);
    out = json_str(&r, path);
    ok = out && strstr(out, text);
    resp_free(&r);
    return ok;
}

/* Hung runs keep their threads and the pool replaces them, up to
 * max_check_threads; past that, a due check that finds no thread within
 * its timeout is recorded as failed.  When the hung runs return, the
 * pool shrinks back. */
static void test_hung_replaced_up_to_bound(void)
{
    enum {
        N = 8,
        MAX = 5
    };
    static const char *const names[N] = { "c0", "c1", "c2", "c3",
                                          "c4", "c5", "c6", "c7" };
    struct health_options o = { .check_threads = 2, .max_check_threads = MAX };
    static struct hang s[N]; /* runs may outlive health_destroy() */
    health_t *h = test_server(&o);
    int port = health_port(h);
    int base = test_threads();
    int entered;
    int i;

    for (i = 0; i < N; i++) {
        struct health_check c = {
            .name = names[i], .timeout_ms = 50, .interval_ms = 10, .run = hang
        };
        memset(&s[i], 0, sizeof(s[i]));
        gate_init(&s[i].gate);
        ASSERT_OK(health_register_check(h, &c, &s[i]));
    }
    WAIT_UNTIL(({
                   entered = 0;
                   for (i = 0; i < N; i++)
                       entered += atomic_load(&s[i].runs);
                   entered == MAX;
               }),
               3000);
    for (i = 0; i < N; i++) {
        if (atomic_load(&s[i].runs))
            WAIT_UNTIL(output_has(port, names[i], "timed out after 50 ms"),
                       2000);
        else
            WAIT_UNTIL(output_has(port, names[i], "all 5 check threads"), 2000);
    }
    ASSERT_LE(test_threads(), base + MAX);
    for (i = 0; i < N; i++)
        ASSERT_LE(atomic_load(&s[i].runs), 1);
    for (i = 0; i < N; i++)
        gate_open(&s[i].gate);
    for (i = 0; i < N; i++)
        WAIT_UNTIL(atomic_load(&s[i].runs) >= 2, 3000);
    WAIT_UNTIL(http_status(port, "/ready") == 200, 3000);
    WAIT_UNTIL(test_threads() <= base + 2, 3000);
    health_destroy(h);
}

struct ticker {
    atomic_int runs;
};

static health_status_t tick(health_result_t *r, void *ud)
{
    struct ticker *t = ud;

    (void)r;
    atomic_fetch_add(&t->runs, 1);
    return HEALTH_PASS;
}

/* A hung check never delays another's schedule, even with a pool of one
 * thread: the hung run's thread is replaced at its deadline. */
static void test_hung_never_delays_other(void)
{
    struct health_options o = { .check_threads = 1 };
    static struct hang stuck; /* runs may outlive health_destroy() */
    static struct ticker t;
    struct health_check hc = { .name = "stuck", .timeout_ms = 50, .run = hang };
    struct health_check tc = { .name = "ticker",
                               .interval_ms = 20,
                               .run = tick };
    health_t *h = test_server(&o);
    int64_t t0;
    int n0;

    memset(&stuck, 0, sizeof(stuck));
    gate_init(&stuck.gate);
    ASSERT_OK(health_register_check(h, &hc, &stuck));
    WAIT_UNTIL(atomic_load(&stuck.runs) == 1, 2000);
    ASSERT_OK(health_register_check(h, &tc, &t));
    WAIT_UNTIL(atomic_load(&t.runs) >= 1, SLOW(500));
    n0 = atomic_load(&t.runs);
    t0 = test_now_ms();
    WAIT_UNTIL(atomic_load(&t.runs) >= n0 + 10, 2000);
    /* 10 runs at a 20 ms interval: about 200 ms, far from stalled. */
    ASSERT_LT(test_now_ms() - t0, SLOW(1000));
    gate_open(&stuck.gate);
    health_destroy(h);
}

static health_status_t slow_pass(health_result_t *r, void *ud)
{
    (void)r;
    (void)ud;
    (void)poll(NULL, 0, 100);
    return HEALTH_PASS;
}

static void count_fail(const char *name, health_status_t st, const char *out,
                       void *ud)
{
    (void)name;
    (void)out;
    if (st == HEALTH_FAIL)
        atomic_fetch_add((atomic_int *)ud, 1);
    else
        atomic_fetch_add((atomic_int *)ud + 1, 1);
}

/* A burst of slow but healthy checks is no failure: 40 checks of 100 ms
 * with a 400 ms timeout would wait a second on 4 threads, so the pool
 * grows for them instead of recording them as failed. */
static void test_burst_grows_pool(void)
{
    atomic_int seen[2] = { 0, 0 }; /* fail, pass */
    struct health_options o = { .on_change = count_fail,
                                .on_change_userdata = seen };
    health_t *h;
    char name[32];
    int base;
    int i;

    o.port = HEALTH_PORT_EPHEMERAL;
    o.bind_address = "127.0.0.1";
    ASSERT_OK(health_create(&h, &o));
    for (i = 0; i < 40; i++) {
        struct health_check c = { .name = name,
                                  .timeout_ms = (unsigned)SLOW(400),
                                  .interval_ms = 60000,
                                  .run = slow_pass };
        (void)snprintf(name, sizeof(name), "slow-%02d", i);
        ASSERT_OK(health_register_check(h, &c, NULL));
    }
    base = test_threads();
    ASSERT_OK(health_start(h));
    WAIT_UNTIL(atomic_load(&seen[1]) == 40, 5000);
    ASSERT_EQ(atomic_load(&seen[0]), 0);
    /* libmicrohttpd's, the front, the hand-over, the scheduler, the
     * notifier and the pool. */
    ASSERT_LE(test_threads(), base + 5 + 64);
    health_destroy(h);
}

/* health_start() works under a container's pid limit with 1,000 checks:
 * threads do not grow with the check count.  RLIMIT_NPROC binds only
 * unprivileged users, so the child drops to nobody. */
static int initial_threads;

static void test_low_nproc(void)
{
    int status;
    pid_t pid;

    if (geteuid() != 0) {
        printf("low nproc: skipped (needs root to change user)\n");
        return;
    }
    /* The earlier cases' detached threads have left: a child forked from
     * a multi-threaded process may not start threads under TSan. */
    WAIT_UNTIL(test_threads() <= initial_threads, 5000);
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        struct rlimit rl = { 64, 64 };
        int base = test_threads();
        health_t *h;
        char name[32];
        int i;
        int port;

        alarm((unsigned)SLOW(60));
        if (setgid(65534) < 0 || setuid(65534) < 0 ||
            setrlimit(RLIMIT_NPROC, &rl) < 0)
            _exit(2);
        h = test_server(NULL);
        port = health_port(h);
        for (i = 0; i < 1000; i++) {
            struct health_check c = { .name = name, .run = pass };
            (void)snprintf(name, sizeof(name), "check-%04d", i);
            if (health_register_check(h, &c, NULL) < 0)
                _exit(3);
        }
        WAIT_UNTIL(http_status(port, "/ready") == 200, 10000);
        /* libmicrohttpd's, the front and its hand-over thread, the
         * scheduler and the pool's 4: not one per check. */
        if (test_threads() > base + 4 + 4)
            _exit(4);
        health_destroy(h);
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
}

static health_status_t broken(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_set_output(r, "connection refused");
    return HEALTH_FAIL;
}

/* With 1,000 checks and one failing, /health stays under the kubelet's
 * 10 KiB, names the failing check first and says how many passing ones it
 * left out. */
static void test_body_at_scale(void)
{
    struct health_check bad = { .name = "zz-broken", .run = broken };
    health_t *h = test_server(NULL);
    int port = health_port(h);
    char name[32];
    struct resp r;
    int i;

    for (i = 0; i < 999; i++) {
        struct health_check c = { .name = name, .run = pass };
        (void)snprintf(name, sizeof(name), "check-%04d", i);
        ASSERT_OK(health_register_check(h, &c, NULL));
    }
    ASSERT_OK(health_register_check(h, &bad, NULL));
    for (;;) {
        http_get(port, "/health", &r);
        const char *out = json_str(&r, "checks.zz-broken.0.output");
        if (r.status == 503 && out && strcmp(out, "connection refused") == 0 &&
            strstr(r.body, "999 passing"))
            break;
        resp_free(&r);
        test_backoff();
    }
    ASSERT_LE(r.len, 10240);
    ASSERT_CONTAINS(r.body, "\"checks\":{\"zz-broken\":");
    ASSERT_CONTAINS(json_str(&r, "notes"), "999 passing check(s) left out");
    ASSERT_STR_EQ(json_str(&r, "checks.zz-broken.0.output"),
                  "connection refused");
    resp_free(&r);
    health_destroy(h);
}

/* A check that follows a script: P pass, F fail, T hang past the
 * timeout; at the end of the script it blocks. */
struct script {
    const char *steps;
    atomic_int next;
    struct gate end;
    _Atomic int64_t first_fail_ms;
    sem_t go; /* with stepped: each run waits for the test */
    bool stepped;
    atomic_int entered;
    atomic_bool freed;
};

static health_status_t scripted(health_result_t *r, void *ud)
{
    struct script *s = ud;
    int i;
    char step;

    atomic_fetch_add(&s->entered, 1);
    if (s->stepped && atomic_load(&s->next) <= (int)strlen(s->steps))
        while (sem_wait(&s->go) < 0)
            ;
    i = atomic_fetch_add(&s->next, 1);
    step = i < (int)strlen(s->steps) ? s->steps[i] : '\0';

    switch (step) {
    case 'P':
        return HEALTH_PASS;
    case 'F':
        if (!atomic_load(&s->first_fail_ms))
            atomic_store(&s->first_fail_ms, test_now_ms());
        health_result_set_output(r, "down");
        return HEALTH_FAIL;
    case 'T':
        (void)poll(NULL, 0, 90);
        return HEALTH_PASS;
    default:
        if (!s->stepped)
            gate_wait(&s->end);
        return HEALTH_PASS;
    }
}

/* Called once after the last run returned: @s may go. */
static void script_done(void *ud)
{
    struct script *s = ud;

    atomic_store(&s->freed, true);
}

struct changes {
    pthread_mutex_t lock;
    char seen[64];
    size_t n;
    int64_t fail_ms;
};

static void record(const char *name, health_status_t st, const char *out,
                   void *ud)
{
    struct changes *c = ud;

    (void)name;
    (void)out;
    pthread_mutex_lock(&c->lock);
    if (c->n + 1 < sizeof(c->seen))
        c->seen[c->n++] = "PWF"[st];
    if (st == HEALTH_FAIL && !c->fail_ms)
        c->fail_ms = test_now_ms();
    pthread_mutex_unlock(&c->lock);
}

static size_t changes_n(struct changes *c)
{
    size_t n;

    pthread_mutex_lock(&c->lock);
    n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Runs @steps one at a time and checks, after each, that /ready shows
 * the damped status @want gives for that step (P 200, F 503). */
static void run_script(const char *steps, unsigned fail_after,
                       unsigned pass_after, const char *want)
{
    struct script s = { .steps = steps, .stepped = true };
    struct health_check c = { .name = "dep",
                              .timeout_ms = 30,
                              .interval_ms = 1,
                              .fail_after = fail_after,
                              .pass_after = pass_after,
                              .run = scripted,
                              .free_data = script_done };
    health_t *h = test_server(NULL);
    int port = health_port(h);
    int i;

    ASSERT_OK(sem_init(&s.go, 0, 0));
    ASSERT_OK(health_register_check(h, &c, &s));
    for (i = 0; steps[i]; i++) {
        ASSERT_OK(sem_post(&s.go));
        /* The next run has begun: this one's result is stored. */
        WAIT_UNTIL(atomic_load(&s.entered) == i + 2, 3000);
        if (http_status(port, "/ready") != (want[i] == 'P' ? 200 : 503)) {
            fprintf(stderr, "%s step %d (%c): want %c\n", steps, i, steps[i],
                    want[i]);
            abort();
        }
    }
    ASSERT_OK(sem_post(&s.go));
    health_destroy(h);
    WAIT_UNTIL(atomic_load(&s.freed), 3000);
    ASSERT_OK(sem_destroy(&s.go));
}

/* Damping both ways, with a timeout counted as a failure. */
static void test_damping(void)
{
    /* Defaults: every run's status is reported at once. */
    run_script("PFPFFP", 0, 0, "PFPFFP");
    /* Fail after 2 in a row, pass after 2 in a row. */
    run_script("PFPFFPTPP", 2, 2, "PPPPFFFFP");
    /* A timeout is a failure: it breaks a passing streak. */
    run_script("PFFPTPPP", 2, 3, "PPFFFFFP");
}

/* A damped failure shows the raw last run; then the time rule reports a
 * failure after fail_after_ms of failing, before fail_after runs. */
static void test_damping_report_and_time(void)
{
    struct changes ch = { .lock = PTHREAD_MUTEX_INITIALIZER };
    struct health_options o = { .on_change = record,
                                .on_change_userdata = &ch };
    struct script s = { .steps = "PF" };
    struct script s2 = {
        .steps = "PFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
    };
    struct health_check c = { .name = "dep",
                              .interval_ms = 1,
                              .fail_after = 3,
                              .run = scripted,
                              .free_data = script_done };
    struct health_check c2 = { .name = "slow",
                               .interval_ms = 10,
                               .fail_after = 1000,
                               .fail_after_ms = 100,
                               .run = scripted,
                               .free_data = script_done };
    health_t *h = test_server(&o);
    int port = health_port(h);
    struct resp r;
    int64_t took;

    gate_init(&s.end);
    gate_init(&s2.end);
    ASSERT_OK(health_register_check(h, &c, &s));
    WAIT_UNTIL(atomic_load(&s.next) == 3, 5000);
    http_get(port, "/health", &r);
    ASSERT_STR_EQ(json_str(&r, "checks.dep.0.status"), "pass");
    ASSERT_STR_EQ(json_str(&r, "checks.dep.0.lastRunStatus"), "fail");
    ASSERT_STR_EQ(json_str(&r, "checks.dep.0.output"), "down");
    ASSERT_TRUE(json_has(&r, "checks.dep.0.lastFailTime"));
    ASSERT_TRUE(json_has(&r, "checks.dep.0.statusSince"));
    ASSERT_TRUE(json_has(&r, "checks.dep.0.failuresInRow"));
    resp_free(&r);
    ASSERT_OK(health_unregister_check(h, "dep"));
    gate_open(&s.end);
    WAIT_UNTIL(atomic_load(&s.freed), 3000);

    pthread_mutex_lock(&ch.lock);
    ch.n = 0;
    pthread_mutex_unlock(&ch.lock);
    ASSERT_OK(health_register_check(h, &c2, &s2));
    WAIT_UNTIL(changes_n(&ch) == 2, 3000);
    pthread_mutex_lock(&ch.lock);
    took = ch.fail_ms - atomic_load(&s2.first_fail_ms);
    ASSERT_EQ(ch.seen[1], 'F');
    pthread_mutex_unlock(&ch.lock);
    ASSERT_GE(took, 90);
    ASSERT_LT(took, SLOW(1000));
    gate_open(&s2.end);
    health_destroy(h);
    WAIT_UNTIL(atomic_load(&s2.freed), 3000);
}

static void *nothing(void *arg)
{
    return arg;
}

int main(void)
{
    pthread_t t;

    /* Runtimes that start threads of their own (TSan) start them now. */
    ASSERT_OK(pthread_create(&t, NULL, nothing, NULL));
    ASSERT_OK(pthread_join(t, NULL));
    initial_threads = test_threads();
    signal(SIGPIPE, SIG_IGN);
    test_hung_replaced_up_to_bound();
    test_hung_never_delays_other();
    test_burst_grows_pool();
    test_low_nproc();
    test_body_at_scale();
    test_damping();
    test_damping_report_and_time();
    printf("pool: all passed\n");
    return 0;
}
