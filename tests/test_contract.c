/* The thread, callback and fork contract of the header: what callbacks may
 * call, that stop and destroy never wait on user code, that notifications
 * come in order, that a fork leaves the parent alone, that faults reach
 * the service's handlers, that heartbeats outlive their registration
 * safely, and that limits are validated.  Each case runs under a deadman
 * alarm, so a deadlock fails the test instead of hanging it. */
#include "test.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

static void deadman(unsigned seconds)
{
    alarm((unsigned)SLOW(seconds));
}

/* Whether something accepts connections on 127.0.0.1:@port. */
static bool listening(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* A check whose status the test sets. */
struct flip {
    atomic_int status;
    atomic_int runs;
};

static health_status_t flip_run(health_result_t *r, void *ud)
{
    struct flip *f = ud;

    (void)r;
    atomic_fetch_add(&f->runs, 1);
    return (health_status_t)atomic_load(&f->status);
}

static health_status_t hang_run(health_result_t *r, void *ud)
{
    (void)r;
    gate_wait(ud);
    return HEALTH_PASS;
}

/* What a change callback saw and what it does. */
struct watcher {
    health_t *h;
    struct gate gate;  /* the callback blocks on it when armed */
    atomic_bool block; /* block in the next call */
    atomic_int calls;
    atomic_int inside;      /* callbacks running right now */
    atomic_int max_inside;  /* the most that ever ran at once */
    atomic_int last_status; /* the status of the last call */
    atomic_int action;      /* what the callback does after blocking */
    atomic_int action_ret;  /* what that call returned */
    atomic_int action_ret2; /* ACT_REGISTER: the heartbeat's */
    atomic_bool acted;
};

enum {
    ACT_NONE,
    ACT_STOP,
    ACT_START,
    ACT_DESTROY,
    ACT_REGISTER /* a check and a heartbeat */
};

/* What a check registered by ACT_REGISTER went through. */
static atomic_int late_runs;
static atomic_int late_freed;

static health_status_t late_run(health_result_t *r, void *ud)
{
    (void)r;
    (void)ud;
    atomic_fetch_add(&late_runs, 1);
    return HEALTH_PASS;
}

static void late_free(void *ud)
{
    (void)ud;
    atomic_fetch_add(&late_freed, 1);
}

static void watcher_init(struct watcher *w)
{
    memset(w, 0, sizeof(*w));
    gate_init(&w->gate);
    atomic_store(&w->last_status, -1);
}

static void act(struct watcher *w)
{
    int a = atomic_exchange(&w->action, ACT_NONE);
    int r = 0;

    if (a == ACT_NONE)
        return;
    if (a == ACT_STOP) {
        r = health_stop(w->h);
    } else if (a == ACT_START) {
        r = health_start(w->h);
    } else if (a == ACT_REGISTER) {
        struct health_check late = { .name = "late",
                                     .interval_ms = 5,
                                     .run = late_run,
                                     .free_data = late_free };
        health_heartbeat_t *hb = NULL;

        r = health_register_check(w->h, &late, NULL);
        atomic_store(&w->action_ret2,
                     health_register_heartbeat(w->h, "late-beat", 1000, &hb));
        if (hb)
            abort(); /* *ret is left untouched on failure */
    } else {
        health_destroy(w->h);
    }
    atomic_store(&w->action_ret, r);
    atomic_store(&w->acted, true);
}

static void on_change(const char *name, health_status_t st, const char *out,
                      void *ud)
{
    struct watcher *w = ud;
    int in = atomic_fetch_add(&w->inside, 1) + 1;
    int max = atomic_load(&w->max_inside);

    (void)name;
    (void)out;
    while (in > max && !atomic_compare_exchange_weak(&w->max_inside, &max, in))
        ;
    if (atomic_exchange(&w->block, false))
        gate_wait(&w->gate);
    act(w);
    atomic_store(&w->last_status, (int)st);
    atomic_fetch_add(&w->calls, 1);
    atomic_fetch_sub(&w->inside, 1);
}

/* Every callback has left @w (an acquire on the counter it decrements
 * last), so @w may go out of scope. */
static void quiet(struct watcher *w)
{
    WAIT_UNTIL(atomic_load(&w->inside) == 0, 2000);
}

struct stopper {
    health_t *h;
    atomic_bool done;
};

static void *stop_thread(void *arg)
{
    struct stopper *s = arg;

    ASSERT_OK(health_stop(s->h));
    atomic_store(&s->done, true);
    return NULL;
}

/* Case 1: an on_change that calls health_stop() while another thread is
 * already in health_stop() deadlocked 0.1.  Now the first stop returns
 * without waiting for the callback, and the callback's stop returns too. */
static void test_change_callback_stops(void)
{
    struct watcher w;
    struct flip f = { 0 };
    struct health_check c = { .name = "flip",
                              .interval_ms = 5,
                              .run = flip_run };
    struct health_options o = { .on_change = on_change,
                                .on_change_userdata = &w };
    struct stopper s = { 0 };
    int base = test_threads();
    pthread_t t;
    health_t *h;
    int port;

    deadman(20);
    watcher_init(&w);
    atomic_store(&w.block, true);
    atomic_store(&w.action, ACT_STOP);
    h = test_server(&o);
    w.h = h;
    s.h = h;
    port = health_port(h);
    ASSERT_OK(health_register_check(h, &c, &f));
    WAIT_UNTIL(gate_waiting(&w.gate) == 1, 2000);
    /* The callback blocks; a stop from elsewhere returns regardless. */
    ASSERT_OK(pthread_create(&t, NULL, stop_thread, &s));
    WAIT_UNTIL(atomic_load(&s.done), 2000);
    ASSERT_OK(pthread_join(t, NULL));
    ASSERT_FALSE(listening(port));
    gate_open(&w.gate);
    WAIT_UNTIL(atomic_load(&w.acted), 2000);
    ASSERT_OK(atomic_load(&w.action_ret));
    health_destroy(h);
    /* The notifier has left: @w may go. */
    WAIT_UNTIL(test_threads() <= base, 2000);
    quiet(&w);
    alarm(0);
}

/* Case 2: an on_change that restarts the handle while it is destroyed
 * left a live server behind in 0.1.  Once destroy has begun, no start
 * succeeds, and nothing listens when it has returned.  Registering a
 * check or a heartbeat then fails too, and the check's callbacks are
 * never called. */
static void restart_during_destroy(int action)
{
    struct watcher w;
    struct flip f = { 0 };
    struct health_check c = { .name = "flip",
                              .interval_ms = 5,
                              .run = flip_run };
    struct health_options o = { .on_change = on_change,
                                .on_change_userdata = &w };
    int base = test_threads();
    health_t *h;
    int port;

    deadman(20);
    watcher_init(&w);
    atomic_store(&w.block, true);
    atomic_store(&w.action, action);
    h = test_server(&o);
    w.h = h;
    port = health_port(h);
    ASSERT_OK(health_register_check(h, &c, &f));
    WAIT_UNTIL(gate_waiting(&w.gate) == 1, 2000);
    health_destroy(h); /* returns while the callback still blocks */
    ASSERT_FALSE(listening(port));
    gate_open(&w.gate); /* the callback now acts on the handle */
    WAIT_UNTIL(atomic_load(&w.acted), 2000);
    ASSERT_EQ(atomic_load(&w.action_ret), -ESHUTDOWN);
    if (action == ACT_REGISTER)
        ASSERT_EQ(atomic_load(&w.action_ret2), -ESHUTDOWN);
    ASSERT_FALSE(listening(port));
    WAIT_UNTIL(test_threads() <= base, 2000);
    quiet(&w);
    ASSERT_EQ(atomic_load(&late_runs), 0);
    ASSERT_EQ(atomic_load(&late_freed), 0);
    alarm(0);
}

static void test_restart_during_destroy(void)
{
    restart_during_destroy(ACT_START);
    restart_during_destroy(ACT_REGISTER);
}

/* Case 3: a slow on_change suspended every timeout in 0.1.  While one
 * callback blocks, a hung LIVE check is still recorded as timed out at
 * its deadline and fails /live. */
static void test_slow_callback_keeps_timeouts(void)
{
    struct watcher w;
    struct flip f = { 0 };
    /* Static: the hung check's thread leaves it after this returns, and
     * nothing orders that (a detached thread's exit) before a later
     * test's use of the same stack. */
    static struct gate hang;
    struct health_check quick = { .name = "quick",
                                  .interval_ms = 5,
                                  .run = flip_run };
    struct health_check hung = { .name = "hung",
                                 .flags = HEALTH_CHECK_LIVE,
                                 .timeout_ms = 100,
                                 .run = hang_run };
    struct health_options o = { .on_change = on_change,
                                .on_change_userdata = &w };
    int base = test_threads();
    health_t *h;
    int port;
    int64_t t0;

    deadman(20);
    watcher_init(&w);
    gate_init(&hang);
    atomic_store(&w.block, true);
    h = test_server(&o);
    port = health_port(h);
    ASSERT_OK(health_register_check(h, &quick, &f));
    WAIT_UNTIL(gate_waiting(&w.gate) == 1, 2000);
    t0 = test_now_ms();
    ASSERT_OK(health_register_check(h, &hung, &hang));
    WAIT_UNTIL(http_status(port, "/live") == 503, 1000);
    /* Well before the callback returns (never, until the gate opens). */
    ASSERT_LT(test_now_ms() - t0, SLOW(1000));
    ASSERT_EQ(gate_waiting(&w.gate), 1);
    gate_open(&w.gate);
    gate_open(&hang);
    health_destroy(h);
    WAIT_UNTIL(test_threads() <= base, 2000);
    quiet(&w);
    alarm(0);
}

/* A check that alternates between passing and hanging past its timeout,
 * so results and timeouts are stored by different threads. */
struct churn {
    atomic_int runs;
    atomic_bool settle; /* pass from now on */
};

static health_status_t churn_run(health_result_t *r, void *ud)
{
    struct churn *c = ud;
    int n = atomic_fetch_add(&c->runs, 1);

    (void)r;
    if (atomic_load(&c->settle))
        return HEALTH_PASS;
    if (n % 3 == 1) /* past the 2 ms timeout */
        (void)poll(NULL, 0, 4);
    return n % 3 == 2 ? HEALTH_FAIL : HEALTH_PASS;
}

/* Case 4: notifications came out of order in 0.1.  Now they never
 * overlap, and once the status settles the last one told is the current
 * status. */
static void test_notifications_in_order(void)
{
    struct watcher w;
    struct churn ch = { 0 };
    struct health_check c = {
        .name = "churn", .timeout_ms = 2, .interval_ms = 1, .run = churn_run
    };
    struct health_options o = { .on_change = on_change,
                                .on_change_userdata = &w };
    int base = test_threads();
    health_t *h;
    int port;

    deadman(30);
    watcher_init(&w);
    h = test_server(&o);
    port = health_port(h);
    ASSERT_OK(health_register_check(h, &c, &ch));
    WAIT_UNTIL(atomic_load(&w.calls) >= 60, 10000);
    atomic_store(&ch.settle, true);
    WAIT_UNTIL(http_status(port, "/ready") == 200, 2000);
    WAIT_UNTIL(atomic_load(&w.last_status) == HEALTH_PASS, 2000);
    ASSERT_EQ(atomic_load(&w.max_inside), 1);
    health_destroy(h);
    WAIT_UNTIL(test_threads() <= base, 2000);
    quiet(&w);
    alarm(0);
}

/* The log callback calls health_stop() (and then health_destroy()). */
struct logger {
    health_t *h;
    atomic_int lines;
    atomic_int stop_ret;
    atomic_bool stopped;
    atomic_int left; /* calls that returned: the last touch of the struct */
};

static void log_and_stop(const char *msg, void *ud)
{
    struct logger *l = ud;

    (void)msg;
    atomic_fetch_add(&l->lines, 1);
    if (!atomic_exchange(&l->stopped, true))
        atomic_store(&l->stop_ret, health_stop(l->h));
    atomic_fetch_add(&l->left, 1);
}

/* Case 5: a log callback that called health_stop() made libmicrohttpd
 * abort in 0.1 (it ran on the HTTP thread, which cannot join itself).
 * Log lines are delivered on the notifier, from which every function may
 * be called. */
static void test_log_callback_stops(void)
{
    struct logger l = { 0 };
    struct health_options o = { .log = log_and_stop, .log_userdata = &l };
    static struct gate g; /* as in test_slow_callback_keeps_timeouts() */
    struct health_check c = { .name = "hung",
                              .timeout_ms = 20,
                              .run = hang_run };
    int base = test_threads();
    health_t *h;
    int port;

    deadman(20);
    gate_init(&g);
    h = test_server(&o);
    l.h = h;
    port = health_port(h);
    /* A run past its timeout is logged. */
    ASSERT_OK(health_register_check(h, &c, &g));
    WAIT_UNTIL(atomic_load(&l.stopped), 5000);
    WAIT_UNTIL(!listening(port), 2000);
    ASSERT_OK(atomic_load(&l.stop_ret));
    gate_open(&g);
    health_destroy(h);
    WAIT_UNTIL(test_threads() <= base, 2000);
    WAIT_UNTIL(atomic_load(&l.left) == atomic_load(&l.lines), 2000);
    alarm(0);
}

/* A log callback that blocks on its first line, then keeps the lines. */
struct slow_logger {
    struct gate gate;
    atomic_bool blocked;
    pthread_mutex_t lock;
    char first_after[512]; /* the first line delivered after the block */
    atomic_int after;      /* lines delivered after it */
    atomic_int left;
};

static void log_slowly(const char *msg, void *ud)
{
    struct slow_logger *l = ud;

    if (!atomic_exchange(&l->blocked, true)) {
        gate_wait(&l->gate);
    } else {
        pthread_mutex_lock(&l->lock);
        if (atomic_load(&l->after) == 0)
            snprintf(l->first_after, sizeof(l->first_after), "%s", msg);
        atomic_fetch_add(&l->after, 1);
        pthread_mutex_unlock(&l->lock);
    }
    atomic_fetch_add(&l->left, 1);
}

static health_status_t slow_run(health_result_t *r, void *ud)
{
    struct flip *f = ud;

    (void)r;
    atomic_fetch_add(&f->runs, 1);
    usleep(10000); /* far past its 1 ms timeout: one log line a run */
    return HEALTH_PASS;
}

/* health.h: "(N log lines dropped) " starts a line when earlier ones were
 * lost while the log callback was slow.  The callback blocks while a
 * check times out hundreds of times, far more lines than are kept. */
static void test_log_lines_dropped(void)
{
    /* Static, as the gates above: a run may outlive the handle. */
    static struct slow_logger l;
    static struct flip f;
    struct health_options o = { .log = log_slowly, .log_userdata = &l };
    unsigned long dropped = 0;
    int base = test_threads();
    health_t *h;
    int n = 0;
    int i;

    deadman(60);
    memset(&l, 0, sizeof(l));
    gate_init(&l.gate);
    pthread_mutex_init(&l.lock, NULL);
    h = test_server(&o);
    for (i = 0; i < 4; i++) {
        char name[16];
        struct health_check c = {
            .name = name, .timeout_ms = 1, .interval_ms = 1, .run = slow_run
        };

        snprintf(name, sizeof(name), "slow%d", i);
        ASSERT_OK(health_register_check(h, &c, &f));
    }
    WAIT_UNTIL(gate_waiting(&l.gate) == 1, 5000);
    /* Four times the 64 lines kept. */
    WAIT_UNTIL(atomic_load(&f.runs) >= 256, 20000);
    gate_open(&l.gate);
    WAIT_UNTIL(atomic_load(&l.after) >= 1, 5000);
    pthread_mutex_lock(&l.lock);
    ASSERT_EQ(sscanf(l.first_after, "(%lu log lines dropped) check slow%*d %n",
                     &dropped, &n) >= 1,
              1);
    ASSERT_GT(n, 0);
    ASSERT_TRUE(strstr(l.first_after, "timed out after 1 ms") != NULL);
    pthread_mutex_unlock(&l.lock);
    ASSERT_GE(dropped, 1);
    health_destroy(h);
    WAIT_UNTIL(test_threads() <= base, 5000);
    WAIT_UNTIL(atomic_load(&l.left) == atomic_load(&l.after) + 1, 2000);
    alarm(0);
}

struct churner {
    health_t *h;
    atomic_bool stop;
};

/* Registers and unregisters heartbeats without pause, so that a fork
 * often happens while the process-wide heartbeat table is locked. */
static void *hb_churn(void *arg)
{
    struct churner *c = arg;
    health_heartbeat_t *hb;

    while (!atomic_load(&c->stop)) {
        if (health_register_heartbeat(c->h, "churn", 60000, &hb) == 0)
            (void)health_unregister_heartbeat(c->h, hb);
        if (test_time_scale() > 1)
            (void)sched_yield(); /* valgrind runs one thread at a time */
    }
    return NULL;
}

static void *hammer(void *arg)
{
    int port = *(int *)arg;
    int i;

    for (i = 0; i < 400; i++)
        (void)http_status(port, "/health");
    return NULL;
}

/* Case 6: a forked child that stopped or destroyed the inherited handle
 * shut the parent's socket down in 0.1, and could deadlock on a lock
 * held at the fork.  In a child every call is -ECHILD and destroy only
 * frees memory; the parent goes on serving. */
static void test_fork(void)
{
    static struct flip f; /* runs may outlive health_destroy() */
    struct health_check c = { .name = "db", .interval_ms = 1, .run = flip_run };
    health_heartbeat_t *hb;
    health_t *h = test_server(NULL);
    int port = health_port(h);
    pthread_t t;
    int status;
    int i;
    pid_t pid;

    deadman(60);
    ASSERT_OK(health_register_check(h, &c, &f));
    ASSERT_OK(health_register_heartbeat(h, "loop", 60000, &hb));
    WAIT_UNTIL(http_status(port, "/ready") == 200, 2000);
    /* Fork while another thread keeps the handle's lock busy. */
    struct churner ch = { .h = h };
    pthread_t t2;

    ASSERT_OK(pthread_create(&t, NULL, hammer, &port));
    ASSERT_OK(pthread_create(&t2, NULL, hb_churn, &ch));
    for (i = 0; i < 20; i++) {
        pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            struct health_check c2 = { .name = "child", .run = flip_run };
            /* A deadlock kills the child: the parent sees it.  Generous:
             * under a loaded sanitizer run a child can wait seconds for a
             * CPU. */
            alarm((unsigned)SLOW(20));
            if (health_stop(h) != -ECHILD || health_start(h) != -ECHILD ||
                health_register_check(h, &c2, NULL) != -ECHILD ||
                health_unregister_check(h, "db") != -ECHILD ||
                health_set_started(h) != -ECHILD ||
                health_begin_shutdown(h) != -ECHILD ||
                health_port(h) != -ECHILD ||
                health_unregister_heartbeat(h, hb) != -ECHILD)
                _exit(3);
            health_heartbeat_beat(hb);
            health_destroy(h);
            /* A handle of the child's own works, heartbeats included. */
            if (health_create(&h, NULL) < 0 ||
                health_register_heartbeat(h, "child", 1000, &hb) < 0)
                _exit(5);
            health_destroy(h);
            /* Gone with the process image: what libmicrohttpd's thread
             * left behind in this child is not a leak to report. */
            execl("/bin/true", "true", (char *)NULL);
            _exit(4);
        }
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);
        expect_status(port, "/live", 200);
    }
    ASSERT_OK(pthread_join(t, NULL));
    atomic_store(&ch.stop, true);
    ASSERT_OK(pthread_join(t2, NULL));
    expect_status(port, "/ready", 200);
    ASSERT_OK(health_unregister_heartbeat(h, hb));
    health_destroy(h);
    alarm(0);
}

/* A child that creates a handle of its own after fork() is not blocked by
 * the heartbeat table's lock, which a parent thread may hold at the fork:
 * hundreds of forks while another thread churns heartbeats. */
static void test_fork_heartbeat_table(void)
{
    health_t *h;
    struct churner ch;
    pthread_t t;
    int status;
    int i;
    pid_t pid;

    deadman(60);
    ASSERT_OK(health_create(&h, NULL));
    memset(&ch, 0, sizeof(ch));
    ch.h = h;
    ASSERT_OK(pthread_create(&t, NULL, hb_churn, &ch));
    /* Fewer where everything runs 20 times slower (valgrind). */
    for (i = 0; i < (test_time_scale() > 1 ? 20 : 300); i++) {
        pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            health_heartbeat_t *hb;
            health_t *mine;
            alarm((unsigned)SLOW(20));
            if (health_create(&mine, NULL) < 0 ||
                health_register_heartbeat(mine, "child", 1000, &hb) < 0)
                _exit(5);
            health_destroy(mine);
            execl("/bin/true", "true", (char *)NULL);
            _exit(4);
        }
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);
    }
    atomic_store(&ch.stop, true);
    ASSERT_OK(pthread_join(t, NULL));
    health_destroy(h);
    alarm(0);
}

static int fault_pipe = -1;

/* The service's crash handler: says which signal it saw, and exits. */
static void on_fault(int sig)
{
    char c = (char)sig;

    (void)!write(fault_pipe, &c, 1);
    _exit(42);
}

static health_status_t crash(health_result_t *r, void *ud)
{
    volatile char *p = ud;

    (void)r;
    p[0] = 1; /* a real fault: the page is PROT_NONE */
    return HEALTH_PASS;
}

/* Case 7: library threads blocked SIGSEGV in 0.1, so a crashing check
 * bypassed the service's handler.  Now the handler runs. */
static void test_fault_reaches_handler(void)
{
    int fds[2];
    char seen = 0;
    int status;
    pid_t pid;

    deadman(20);
    ASSERT_OK(pipe(fds));
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        struct sigaction sa = { .sa_handler = on_fault };
        void *page =
            mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        struct health_check c = { .name = "crash", .run = crash };
        health_t *h;

        alarm((unsigned)SLOW(10));
        close(fds[0]);
        fault_pipe = fds[1];
        sigemptyset(&sa.sa_mask);
        if (page == MAP_FAILED || sigaction(SIGSEGV, &sa, NULL) < 0)
            _exit(2);
        h = test_server(NULL);
        if (health_register_check(h, &c, page) < 0)
            _exit(3);
        for (;;)
            pause();
    }
    close(fds[1]);
    ASSERT_EQ(read(fds[0], &seen, 1), 1);
    close(fds[0]);
    ASSERT_EQ(seen, SIGSEGV);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    /* valgrind reports the fault and exits with its own code. */
    if (!WIFEXITED(status) ||
        (WEXITSTATUS(status) != 42 && WEXITSTATUS(status) != 9)) {
        fprintf(stderr, "child: %s %d\n",
                WIFSIGNALED(status) ? "killed by signal" : "exit status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        abort();
    }
    alarm(0);
}

struct beater {
    health_heartbeat_t *hb;
    atomic_bool stop;
    atomic_long beats;
};

static void *beat_loop(void *arg)
{
    struct beater *b = arg;

    while (!atomic_load(&b->stop)) {
        health_heartbeat_beat(b->hb);
        atomic_fetch_add(&b->beats, 1);
    }
    return NULL;
}

/* Case 8: a beat after unregister or destroy was a use-after-free in 0.1
 * (ASan sees it).  Now it is a no-op, also while a worker beats during
 * the unregister, and a stale handle never beats a newer heartbeat. */
static void test_heartbeat_lifetime(void)
{
    struct beater b = { 0 };
    health_heartbeat_t *fresh;
    health_heartbeat_t *gone;
    health_t *h = test_server(NULL);
    int port = health_port(h);
    pthread_t t;

    deadman(20);
    ASSERT_OK(health_register_heartbeat(h, "worker", 60000, &b.hb));
    ASSERT_OK(pthread_create(&t, NULL, beat_loop, &b));
    WAIT_UNTIL(atomic_load(&b.beats) > 1000, 2000);
    ASSERT_OK(health_unregister_heartbeat(h, b.hb)); /* while it beats */
    ASSERT_EQ(health_unregister_heartbeat(h, b.hb), -ENOENT);
    /* The released slot is reused; the old handle must not feed it. */
    ASSERT_OK(health_register_heartbeat(h, "fresh", 100, &fresh));
    WAIT_UNTIL(http_status(port, "/live") == 503, 2000);
    ASSERT_OK(health_unregister_heartbeat(h, fresh));
    ASSERT_OK(health_register_heartbeat(h, "gone", 60000, &gone));
    health_destroy(h);
    health_heartbeat_beat(gone); /* after destroy */
    health_heartbeat_beat(fresh);
    atomic_store(&b.stop, true);
    ASSERT_OK(pthread_join(t, NULL));
    health_heartbeat_beat(NULL);
    alarm(0);
}

/* The heartbeat deadline holds on both sides: beats within the deadline
 * pass, and a beat missed by 10x the deadline never passes. */
static void test_heartbeat_deadline(void)
{
    health_heartbeat_t *hb;
    health_t *h = test_server(NULL);
    int port = health_port(h);
    int64_t last;
    int i;

    deadman(20);
    ASSERT_OK(health_register_heartbeat(h, "loop", (unsigned)SLOW(200), &hb));
    for (i = 0; i < 20; i++) {
        health_heartbeat_beat(hb);
        expect_status(port, "/live", 200);
        (void)poll(NULL, 0, 5);
    }
    last = test_now_ms();
    health_heartbeat_beat(hb);
    WAIT_UNTIL(http_status(port, "/live") == 503, 2000);
    ASSERT_GE(test_now_ms() - last, SLOW(200) - 20);
    ASSERT_LT(test_now_ms() - last, SLOW(2000));
    health_heartbeat_beat(hb);
    /* Reports are cached for at most a millisecond. */
    WAIT_UNTIL(http_status(port, "/live") == 200, 1000);
    health_destroy(h);
    alarm(0);
}

/* Case 9: limits were not validated in 0.1 (UINT_MAX wrapped, 100000000
 * touched 4.7 GB).  Every limit has a bound checked by health_create(). */
static void test_limits_validated(void)
{
    static const struct {
        struct health_options o;
        int want;
    } cases[] = {
        { { .max_connections = UINT_MAX }, -EINVAL },
        { { .max_connections = 100000000 }, -EINVAL },
        { { .max_connections = 65537 }, -EINVAL },
        { { .max_connections = 65536 }, 0 },
        { { .max_connections_per_ip = 65537 }, -EINVAL },
        { { .idle_timeout_s = 3601 }, -EINVAL },
        { { .idle_timeout_s = 3600 }, 0 },
        { { .connection_memory = 4095 }, -EINVAL },
        { { .connection_memory = 16 * 1024 * 1024 + 1 }, -EINVAL },
        { { .connection_memory = 16 * 1024 * 1024 }, 0 },
        { { .timeout_ms = 86400001 }, -EINVAL },
        { { .interval_ms = 86400001 }, -EINVAL },
        { { .check_threads = 65 }, -EINVAL },
        { { .check_threads = 64 }, 0 },
        { { .max_check_threads = 1025 }, -EINVAL },
        { { .check_threads = 8, .max_check_threads = 4 }, -EINVAL },
        { { .check_stack_size = 65535 }, -EINVAL },
        { { .check_stack_size = 64 * 1024 }, 0 },
        { { .check_stack_size = (size_t)64 * 1024 * 1024 + 1 }, -EINVAL },
        { { .flags = HEALTH_OPT_SYSTEMD | HEALTH_OPT_NO_SYSTEMD }, -EINVAL },
        { { .flags = 1u << 20 }, -EINVAL },
    };
    struct health_check c = { .name = "x", .run = flip_run };
    size_t i;
    health_t *h = NULL;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = health_create(&h, &cases[i].o);
        if (r != cases[i].want) {
            fprintf(stderr, "case %zu: %d, want %d\n", i, r, cases[i].want);
            abort();
        }
        if (r == 0) {
            health_destroy(h);
            h = NULL;
        }
    }
    ASSERT_OK(health_create(&h, NULL));
    c.timeout_ms = 86400001;
    ASSERT_EQ(health_register_check(h, &c, NULL), -EINVAL);
    c.timeout_ms = 0;
    c.fail_after = 65536;
    ASSERT_EQ(health_register_check(h, &c, NULL), -EINVAL);
    c.fail_after = 0;
    ASSERT_OK(health_register_check(h, &c, NULL));
    health_destroy(h);
}

/* Every function may be called from a check callback, destroy included:
 * the callback's own check is freed after it returns. */
struct self_destroy {
    health_t *h;
    atomic_bool done;
    atomic_int freed;
};

static health_status_t destroy_from_check(health_result_t *r, void *ud)
{
    struct self_destroy *s = ud;

    (void)r;
    if (!atomic_exchange(&s->done, true))
        health_destroy(s->h);
    return HEALTH_PASS;
}

static void count_free(void *ud)
{
    struct self_destroy *s = ud;

    atomic_fetch_add(&s->freed, 1);
}

static void test_destroy_from_check(void)
{
    struct self_destroy s = { 0 };
    struct health_check c = { .name = "self",
                              .run = destroy_from_check,
                              .free_data = count_free };
    int base = test_threads();
    health_t *h = test_server(NULL);
    int port = health_port(h);

    deadman(20);
    s.h = h;
    ASSERT_OK(health_register_check(h, &c, &s));
    WAIT_UNTIL(atomic_load(&s.freed) == 1, 2000);
    ASSERT_FALSE(listening(port));
    WAIT_UNTIL(test_threads() <= base, 2000);
    WAIT_UNTIL(atomic_load(&s.freed) == 1, 2000);
    alarm(0);
}

/* The plain-string setter copies text as it is: a '%' stays literal. */
static health_status_t literal(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_set_output(r, "100% of %s and %n");
    health_result_set_output(NULL, "ignored");
    return HEALTH_WARN;
}

static void test_set_output(void)
{
    struct health_check c = { .name = "lit", .run = literal };
    health_t *h = test_server(NULL);
    int port = health_port(h);
    struct resp r;

    ASSERT_OK(health_register_check(h, &c, NULL));
    WAIT_UNTIL(http_status(port, "/health") == 200 && health_port(h) > 0, 2000);
    for (;;) {
        http_get(port, "/health", &r);
        if (json_str(&r, "checks.lit.0.output"))
            break;
        resp_free(&r);
        test_backoff();
    }
    ASSERT_STR_EQ(json_str(&r, "checks.lit.0.output"), "100% of %s and %n");
    resp_free(&r);
    health_destroy(h);
}

static void *nothing(void *arg)
{
    return arg;
}

int main(void)
{
    pthread_t t;

    signal(SIGPIPE, SIG_IGN);
    /* Runtimes that start threads of their own (TSan) start them now, so
     * thread counts taken below are stable. */
    ASSERT_OK(pthread_create(&t, NULL, nothing, NULL));
    ASSERT_OK(pthread_join(t, NULL));
    test_change_callback_stops();
    test_restart_during_destroy();
    test_slow_callback_keeps_timeouts();
    test_notifications_in_order();
    test_log_callback_stops();
    test_log_lines_dropped();
    test_fork();
    test_fork_heartbeat_table();
    test_fault_reaches_handler();
    test_heartbeat_lifetime();
    test_heartbeat_deadline();
    test_limits_validated();
    test_destroy_from_check();
    test_set_output();
    printf("contract: all passed\n");
    return 0;
}
