/*
 * Broken checks that test_runner.c does not cover: callbacks that call
 * the API re-entrantly.  hostile_broken_checks SCENARIO
 *
 *   check_reentrant   a check callback registers another check,
 *                     unregisters another (one that hangs), calls
 *                     health_set_started, health_begin_shutdown and at
 *                     last health_stop, from inside the callback
 *   unregister_self   a check unregisters itself and returns a garbage
 *                     status with control characters and invalid UTF-8
 *   change_reentrant  the on_change callback registers and unregisters
 *                     checks, sets started and begins the shutdown
 *   change_stop       the on_change callback (on a check's thread) calls
 *                     health_stop
 *   timeout_stop      the on_change callback for a timeout (on the
 *                     watchdog thread) calls health_stop
 *   timeout_restart   the same, then health_start (a "restart on
 *                     failure" handler); then stop, start and destroy
 *
 * Each scenario runs in a child process, so a deadlock is reported (the
 * child is killed at the deadline) rather than hanging the suite; every
 * report read in between must be valid JSON.
 */
#include "hostile.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static health_status_t pass(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_setf(r, "fine");
    return HEALTH_PASS;
}

/* Reads /health and asserts it parses; returns the status code. */
static long health_json(int port, struct resp *r)
{
    http_get(port, "/health", r);
    ASSERT_TRUE(json_str(r, "status") != NULL); /* aborts unless JSON */
    return r->status;
}

static bool has_check(int port, const char *name)
{
    char key[96];
    struct resp r;
    bool has;

    snprintf(key, sizeof(key), "checks.%s", name);
    health_json(port, &r);
    has = json_has(&r, key);
    resp_free(&r);
    return has;
}

static bool output_is(int port, const char *path, const char *key,
                      const char *want)
{
    struct resp r;
    const char *s;
    bool same;

    http_get(port, path, &r);
    s = json_str(&r, key);
    same = s && strcmp(s, want) == 0;
    resp_free(&r);
    return same;
}

/* ---------------------------------------------------------------- */

struct reent {
    health_t *h;
    atomic_int phase; /* what the next run does */
    atomic_int done;  /* the last phase completed */
    int rc[8];
    int64_t stop_ms;
    struct gate hang;
};

static health_status_t hangs(health_result_t *r, void *ud)
{
    struct reent *s = ud;

    (void)r;
    gate_wait(&s->hang);
    return HEALTH_PASS;
}

static atomic_int victim_freed;

static void victim_free(void *ud)
{
    (void)ud;
    atomic_fetch_add(&victim_freed, 1);
}

static const struct health_check child_check = { .name = "child",
                                                 .interval_ms = 100,
                                                 .run = pass };

static health_status_t reentrant(health_result_t *r, void *ud)
{
    struct reent *s = ud;
    int phase = atomic_exchange(&s->phase, 0); /* each phase runs once */
    int64_t t0;

    switch (phase) {
    case 1:
        s->rc[0] = health_register_check(s->h, &child_check, NULL);
        s->rc[1] = health_unregister_check(s->h, "victim");
        s->rc[2] = health_set_started(s->h);
        s->rc[3] = health_register_check(s->h, &child_check, NULL);
        break;
    case 2:
        s->rc[4] = health_begin_shutdown(s->h);
        break;
    case 3:
        t0 = test_now_ms();
        s->rc[5] = health_stop(s->h);
        s->stop_ms = test_now_ms() - t0;
        s->rc[6] = health_port(s->h);
        break;
    default:
        break;
    }
    if (phase)
        atomic_store(&s->done, phase);
    health_result_setf(r, "phase %d", phase);
    return HEALTH_PASS;
}

static void check_reentrant(void)
{
    static struct reent s;
    struct health_options o = { .flags = HEALTH_OPT_MANUAL_STARTUP };
    struct health_check re = { .name = "reentrant",
                               .interval_ms = 20,
                               .run = reentrant };
    struct health_check victim = { .name = "victim",
                                   .timeout_ms = 60000,
                                   .run = hangs,
                                   .free_data = victim_free };
    int port;
    int64_t t0;
    struct resp r;

    gate_init(&s.hang);
    s.h = test_server(&o);
    port = health_port(s.h);
    ASSERT_OK(health_register_check(s.h, &victim, &s));
    WAIT_UNTIL(gate_waiting(&s.hang) == 1, 2000);
    ASSERT_OK(health_register_check(s.h, &re, &s));
    expect_status(port, "/started", 503);

    atomic_store(&s.phase, 1);
    WAIT_UNTIL(atomic_load(&s.done) >= 1, 3000);
    printf("inside a check: register %s, unregister a hung check %s, "
           "set_started %s, register again %s\n",
           health_strerror(s.rc[0]), health_strerror(s.rc[1]),
           health_strerror(s.rc[2]), health_strerror(s.rc[3]));
    ASSERT_OK(s.rc[0]);
    ASSERT_OK(s.rc[1]);
    ASSERT_OK(s.rc[2]);
    ASSERT_EQ(s.rc[3], -EEXIST);
    WAIT_UNTIL(output_is(port, "/health", "checks.child.0.output", "fine"),
               3000);
    ASSERT_FALSE(has_check(port, "victim"));
    ASSERT_EQ(atomic_load(&victim_freed), 0); /* still inside its run */
    WAIT_UNTIL(output_is(port, "/ready", "status", "pass"), 3000);
    expect_status(port, "/started", 200);

    atomic_store(&s.phase, 2);
    WAIT_UNTIL(atomic_load(&s.done) >= 2, 3000);
    ASSERT_OK(s.rc[4]);
    WAIT_UNTIL(output_is(port, "/ready", "output", "shutting down"), 3000);
    expect_status(port, "/ready", 503);
    expect_status(port, "/live", 200);
    health_json(port, &r);
    resp_free(&r);

    atomic_store(&s.phase, 3);
    WAIT_UNTIL(atomic_load(&s.done) >= 3, 3000);
    printf("inside a check: health_stop %s in %lld ms, then health_port "
           "%s\n",
           health_strerror(s.rc[5]), (long long)s.stop_ms,
           health_strerror(s.rc[6]));
    ASSERT_OK(s.rc[5]);
    ASSERT_LT(s.stop_ms, SLOW(1000));
    ASSERT_EQ(s.rc[6], -ENOTCONN);

    /* It starts again from outside, all checks still registered. */
    ASSERT_OK(health_start(s.h));
    port = health_port(s.h);
    WAIT_UNTIL(
        output_is(port, "/health", "checks.reentrant.0.output", "phase 0"),
        3000);
    ASSERT_TRUE(has_check(port, "child"));
    t0 = test_now_ms();
    health_destroy(s.h);
    ASSERT_LT(test_now_ms() - t0, SLOW(1000));
    gate_open(&s.hang);
    WAIT_UNTIL(atomic_load(&victim_freed) == 1, 2000);
}

/* ---------------------------------------------------------------- */

struct selfish {
    health_t *h;
    atomic_int runs;
    atomic_int returned;
    atomic_int freed;
    int rc;
};

static health_status_t unregister_self(health_result_t *r, void *ud)
{
    struct selfish *s = ud;

    atomic_fetch_add(&s->runs, 1);
    s->rc = health_unregister_check(s->h, "selfish");
    health_result_setf(r, "bye\x01\x1b[31m\xff\xfe\xc3\x28 \"quoted\" \\");
    health_result_set_observed(r, 1e308 * 10, "\xff\x01");
    atomic_fetch_add(&s->returned, 1);
    return (health_status_t)42;
}

static void selfish_free(void *ud)
{
    struct selfish *s = ud;

    /* After the run that unregistered it has returned. */
    ASSERT_EQ(atomic_load(&s->runs), 1);
    ASSERT_EQ(atomic_load(&s->returned), 1);
    atomic_fetch_add(&s->freed, 1);
}

static void unregister_self_garbage(void)
{
    static struct selfish s;
    struct health_check c = { .name = "selfish",
                              .interval_ms = 10,
                              .run = unregister_self,
                              .free_data = selfish_free };
    struct health_check other = { .name = "other",
                                  .interval_ms = 10,
                                  .run = pass };
    struct resp r;
    int port;
    int i;

    s.h = test_server(NULL);
    port = health_port(s.h);
    ASSERT_OK(health_register_check(s.h, &other, NULL));
    ASSERT_OK(health_register_check(s.h, &c, &s));
    WAIT_UNTIL(atomic_load(&s.freed) == 1, 3000);
    ASSERT_OK(s.rc);
    for (i = 0; i < 20; i++) {
        health_json(port, &r);
        ASSERT_FALSE(json_has(&r, "checks.selfish"));
        ASSERT_FALSE(strstr(r.body, "invalid status"));
        resp_free(&r);
    }
    WAIT_UNTIL(output_is(port, "/ready", "status", "pass"), 3000);
    ASSERT_EQ(atomic_load(&s.runs), 1);
    health_destroy(s.h);
    ASSERT_EQ(atomic_load(&s.freed), 1);
}

/* ---------------------------------------------------------------- */

struct change_ctx {
    health_t *h;
    int mode; /* 0: re-entrant calls, 1: stop, 2: stop and start again */
    atomic_int calls;
    atomic_int stops;
    int rc[6];
    int64_t stop_ms;
    pthread_mutex_t lock;
};

static struct change_ctx cctx = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const struct health_check extra = { .name = "extra",
                                           .interval_ms = 1000,
                                           .run = pass };

static void on_change(const char *name, health_status_t st, const char *out,
                      void *ud)
{
    struct change_ctx *c = ud;
    int64_t t0;

    (void)st;
    (void)out;
    atomic_fetch_add(&c->calls, 1);
    if (c->mode == 0 && strcmp(name, "flappy") == 0) {
        pthread_mutex_lock(&c->lock);
        c->rc[0] = health_register_check(c->h, &extra, NULL);
        c->rc[1] = health_unregister_check(c->h, "extra");
        c->rc[2] = health_set_started(c->h);
        c->rc[3] = health_begin_shutdown(c->h);
        c->rc[4] = health_unregister_check(c->h, "doomed");
        pthread_mutex_unlock(&c->lock);
    } else if (c->mode >= 1 && atomic_load(&c->stops) == 0) {
        atomic_fetch_add(&c->stops, 1);
        t0 = test_now_ms();
        c->rc[5] = health_stop(c->h);
        c->stop_ms = test_now_ms() - t0;
        if (c->mode == 2)
            c->rc[4] = health_start(c->h); /* "restart on failure" */
        atomic_fetch_add(&c->stops, 1);
    }
}

static atomic_int flips;

static health_status_t flappy(health_result_t *r, void *ud)
{
    (void)ud;
    (void)r;
    return atomic_fetch_add(&flips, 1) % 2 ? HEALTH_FAIL : HEALTH_PASS;
}

static void change_reentrant(void)
{
    struct health_options o = { .on_change = on_change,
                                .on_change_userdata = &cctx,
                                .flags = HEALTH_OPT_MANUAL_STARTUP };
    struct health_check flap = { .name = "flappy",
                                 .interval_ms = 10,
                                 .run = flappy };
    struct health_check doomed = { .name = "doomed",
                                   .interval_ms = 10,
                                   .run = pass };
    int64_t t0;
    int port;
    struct resp r;
    int i;

    cctx.h = test_server(&o);
    port = health_port(cctx.h);
    ASSERT_OK(health_register_check(cctx.h, &doomed, NULL));
    ASSERT_OK(health_register_check(cctx.h, &flap, NULL));
    WAIT_UNTIL(atomic_load(&flips) > 50, 5000);
    pthread_mutex_lock(&cctx.lock);
    printf("inside on_change: register %s, unregister %s, set_started %s, "
           "begin_shutdown %s\n",
           health_strerror(cctx.rc[0]), health_strerror(cctx.rc[1]),
           health_strerror(cctx.rc[2]), health_strerror(cctx.rc[3]));
    ASSERT_OK(cctx.rc[0]);
    ASSERT_OK(cctx.rc[1]);
    ASSERT_OK(cctx.rc[2]);
    ASSERT_OK(cctx.rc[3]);
    pthread_mutex_unlock(&cctx.lock);
    for (i = 0; i < 20; i++) {
        health_json(port, &r);
        ASSERT_FALSE(json_has(&r, "checks.doomed"));
        resp_free(&r);
    }
    expect_status(port, "/ready", 503);
    t0 = test_now_ms();
    health_destroy(cctx.h);
    ASSERT_LT(test_now_ms() - t0, SLOW(1000));
}

static health_status_t hangs_gate(health_result_t *r, void *ud)
{
    (void)r;
    gate_wait(ud);
    return HEALTH_PASS;
}

/* health_stop() from on_change, on a check's thread or (for a timeout)
 * on the watchdog thread; with @restart, health_start() right after it,
 * as a "restart the endpoints on failure" handler would. */
static void change_stop(bool timeout, bool restart)
{
    struct health_options o = { .on_change = on_change,
                                .on_change_userdata = &cctx };
    struct health_check flap = { .name = "flappy",
                                 .interval_ms = 10,
                                 .run = flappy };
    struct health_check hung = { .name = "hung",
                                 .timeout_ms = 100,
                                 .interval_ms = 60000,
                                 .run = hangs_gate };
    static struct gate g;
    int64_t t0;
    int round;

    gate_init(&g);
    cctx.mode = restart ? 2 : 1;
    cctx.h = test_server(&o);
    if (timeout) {
        /* The first change is the check timing out, which the watchdog
         * thread reports. */
        ASSERT_OK(health_register_check(cctx.h, &hung, &g));
    } else {
        ASSERT_OK(health_register_check(cctx.h, &flap, NULL));
    }
    t0 = test_now_ms();
    while (atomic_load(&cctx.stops) != 2) {
        if (test_now_ms() - t0 > SLOW(3000)) {
            fprintf(stderr,
                    "health_stop() called from on_change on the %s thread "
                    "has not returned after %lld ms: deadlock\n",
                    timeout ? "watchdog" : "check", (long long)SLOW(3000));
            abort();
        }
        test_backoff();
    }
    printf("inside on_change (%s thread): health_stop %s in %lld ms%s%s\n",
           timeout ? "watchdog" : "check", health_strerror(cctx.rc[5]),
           (long long)cctx.stop_ms, restart ? ", then health_start " : "",
           restart ? health_strerror(cctx.rc[4]) : "");
    ASSERT_OK(cctx.rc[5]);
    ASSERT_LT(cctx.stop_ms, SLOW(1000));
    if (restart)
        ASSERT_OK(cctx.rc[4]);
    else
        ASSERT_EQ(health_port(cctx.h), -ENOTCONN);
    /* Stop and start from outside a few times, then destroy: each
     * bounded. */
    for (round = 0; round < 3; round++) {
        if (health_port(cctx.h) < 0)
            ASSERT_OK(health_start(cctx.h));
        expect_status(health_port(cctx.h), "/live", 200);
        t0 = test_now_ms();
        ASSERT_OK(health_stop(cctx.h));
        if (test_now_ms() - t0 > SLOW(1000)) {
            fprintf(stderr, "health_stop took %lld ms\n",
                    (long long)(test_now_ms() - t0));
            abort();
        }
    }
    t0 = test_now_ms();
    health_destroy(cctx.h);
    ASSERT_LT(test_now_ms() - t0, SLOW(1000));
    gate_open(&g);
}

/* ---------------------------------------------------------------- */

static void change_stop_check(void)
{
    change_stop(false, false);
}

static void change_stop_watchdog(void)
{
    change_stop(true, false);
}

static void change_restart_watchdog(void)
{
    change_stop(true, true);
}

static const struct {
    const char *name;
    void (*fn)(void);
} scenarios[] = {
    { "check_reentrant", check_reentrant },
    { "unregister_self", unregister_self_garbage },
    { "change_reentrant", change_reentrant },
    { "change_stop", change_stop_check },
    { "timeout_stop", change_stop_watchdog },
    { "timeout_restart", change_restart_watchdog },
};

/* Runs @fn in a child; a child still running at the deadline is killed
 * and reported as deadlocked. */
static bool isolated(const char *name, void (*fn)(void))
{
    /* Well inside ctest's TIMEOUT (240 s) even under valgrind. */
    int64_t limit = SLOW(10000) < 150000 ? SLOW(10000) : 150000;
    int64_t deadline = test_now_ms() + limit;
    int status;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        fn();
        exit(0);
    }
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (test_now_ms() > deadline) {
            fprintf(stderr,
                    "FAIL %s: still running after %lld ms: deadlock; "
                    "killed\n",
                    name, (long long)limit);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return false;
        }
        test_backoff();
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("%s: ok\n", name);
        return true;
    }
    fprintf(stderr, "FAIL %s: child %s %d\n", name,
            WIFEXITED(status) ? "exited with" : "killed by signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return false;
}

int main(int argc, char **argv)
{
    size_t i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        if (argc == 2 && strcmp(argv[1], scenarios[i].name) == 0)
            return isolated(scenarios[i].name, scenarios[i].fn) ? 0 : 1;
    fprintf(stderr, "usage: hostile_broken_checks SCENARIO\nscenarios:");
    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        fprintf(stderr, " %s", scenarios[i].name);
    fputc('\n', stderr);
    return 2;
}
