/* systemd's notify protocol: a NOTIFY_SOCKET receiver (path and abstract
 * sockets) records every datagram the library sends, with its arrival
 * time, and the tests check what is sent when: READY=1 only once /ready
 * passes, WATCHDOG=1 only while /live passes, STOPPING=1 on
 * health_begin_shutdown(), STATUS= naming the failing checks. */
#include "test.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_LINES 4096

struct line {
    int64_t t_ms;
    unsigned datagram;
    char text[256];
};

/* The receiver: a thread appends every line of every datagram. */
static struct {
    int fd;
    char path[108];
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    struct line lines[MAX_LINES];
    size_t n;
    unsigned datagrams;
} rx;

static void *rx_thread(void *arg)
{
    char buf[4096];
    ssize_t n;

    (void)arg;
    while (!atomic_load(&rx.stop)) {
        struct pollfd p = { .fd = rx.fd, .events = POLLIN };
        if (poll(&p, 1, 20) <= 0)
            continue;
        n = recv(rx.fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        pthread_mutex_lock(&rx.lock);
        rx.datagrams++;
        for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
            ASSERT_LT(rx.n, MAX_LINES);
            rx.lines[rx.n].t_ms = test_now_ms();
            rx.lines[rx.n].datagram = rx.datagrams;
            snprintf(rx.lines[rx.n].text, sizeof(rx.lines[rx.n].text), "%s", l);
            rx.n++;
        }
        pthread_mutex_unlock(&rx.lock);
    }
    return NULL;
}

/* Opens a receiver and points $NOTIFY_SOCKET at it. */
static void rx_open(bool abstract)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    socklen_t len;
    char env[120];
    static unsigned seq;

    memset(&rx.lines, 0, sizeof(rx.lines));
    rx.n = 0;
    rx.datagrams = 0;
    atomic_store(&rx.stop, false);
    pthread_mutex_init(&rx.lock, NULL);
    rx.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(rx.fd, 0);
    if (abstract) {
        snprintf(rx.path, sizeof(rx.path), "health-test-%d-%u", (int)getpid(),
                 seq++);
        memcpy(a.sun_path + 1, rx.path, strlen(rx.path));
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                          strlen(rx.path));
        snprintf(env, sizeof(env), "@%s", rx.path);
    } else {
        snprintf(rx.path, sizeof(rx.path), "/tmp/health-test-%d-%u.sock",
                 (int)getpid(), seq++);
        (void)unlink(rx.path);
        memcpy(a.sun_path, rx.path, strlen(rx.path) + 1);
        len = sizeof(a);
        snprintf(env, sizeof(env), "%s", rx.path);
    }
    ASSERT_OK(bind(rx.fd, (struct sockaddr *)&a, len));
    ASSERT_OK(setenv("NOTIFY_SOCKET", env, 1));
    ASSERT_OK(pthread_create(&rx.thread, NULL, rx_thread, NULL));
}

static void rx_close(void)
{
    atomic_store(&rx.stop, true);
    pthread_join(rx.thread, NULL);
    close(rx.fd);
    if (rx.path[0] == '/')
        (void)unlink(rx.path);
    pthread_mutex_destroy(&rx.lock);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    unsetenv("HEALTH_SYSTEMD");
}

/* Lines equal to @text (or starting with it, when it ends in '='). */
static bool line_is(const struct line *l, const char *text)
{
    size_t n = strlen(text);

    if (n > 0 && text[n - 1] == '=')
        return strncmp(l->text, text, n) == 0;
    return strcmp(l->text, text) == 0;
}

static size_t rx_count(const char *text)
{
    size_t i;
    size_t c = 0;

    pthread_mutex_lock(&rx.lock);
    for (i = 0; i < rx.n; i++)
        c += line_is(&rx.lines[i], text);
    pthread_mutex_unlock(&rx.lock);
    return c;
}

static size_t rx_total(void)
{
    size_t n;

    pthread_mutex_lock(&rx.lock);
    n = rx.n;
    pthread_mutex_unlock(&rx.lock);
    return n;
}

/* The latest STATUS= text, "" before any. */
static const char *rx_status(void)
{
    static char buf[256];
    size_t i;

    buf[0] = '\0';
    pthread_mutex_lock(&rx.lock);
    for (i = rx.n; i-- > 0;) {
        if (line_is(&rx.lines[i], "STATUS=")) {
            snprintf(buf, sizeof(buf), "%s", rx.lines[i].text + 7);
            break;
        }
    }
    pthread_mutex_unlock(&rx.lock);
    return buf;
}

static bool status_is(const char *s)
{
    return strcmp(rx_status(), s) == 0;
}

/* Arrival time of the @k-th (0-based) line equal to @text, or -1. */
static int64_t rx_time(const char *text, size_t k)
{
    size_t i;
    int64_t t = -1;

    pthread_mutex_lock(&rx.lock);
    for (i = 0; i < rx.n; i++) {
        if (line_is(&rx.lines[i], text) && k-- == 0) {
            t = rx.lines[i].t_ms;
            break;
        }
    }
    pthread_mutex_unlock(&rx.lock);
    return t;
}

/* Asserts that no line equal to @text arrives for @ms. */
static void expect_none_for(const char *text, int64_t ms)
{
    size_t before = rx_count(text);
    int64_t end = test_now_ms() + ms;

    while (test_now_ms() < end) {
        ASSERT_EQ(rx_count(text), before);
        test_backoff();
    }
    ASSERT_EQ(rx_count(text), before);
}

/* A check whose result the test sets. */
static health_status_t check_flag(health_result_t *r, void *ud)
{
    atomic_int *v = ud;
    int s = atomic_load(v);

    if (s == HEALTH_FAIL)
        health_result_setf(r, "told to fail");
    return (health_status_t)s;
}

static struct health_check flag_check(const char *name, unsigned flags)
{
    struct health_check c = {
        .name = name,
        .flags = flags,
        .interval_ms = 20,
        .run = check_flag,
    };
    return c;
}

/* A thread that beats @hb every 10 ms while beating is set. */
static struct {
    pthread_t thread;
    health_heartbeat_t *hb;
    atomic_bool beating;
    atomic_bool stop;
} beater;

static void *beat_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&beater.stop)) {
        if (atomic_load(&beater.beating))
            health_heartbeat_beat(beater.hb);
        (void)poll(NULL, 0, 10);
    }
    return NULL;
}

static void beater_start(health_heartbeat_t *hb)
{
    beater.hb = hb;
    atomic_store(&beater.beating, true);
    atomic_store(&beater.stop, false);
    ASSERT_OK(pthread_create(&beater.thread, NULL, beat_thread, NULL));
}

static void beater_stop(void)
{
    atomic_store(&beater.stop, true);
    pthread_join(beater.thread, NULL);
}

static health_t *server(unsigned flags)
{
    struct health_options o = { .flags = flags };

    return test_server(&o);
}

/* Environment choices: what is on, what is refused. */
static void test_config(void)
{
    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL,
                                .bind_address = "127.0.0.1" };
    health_t *h = NULL;

    /* Without $NOTIFY_SOCKET nothing is checked beyond HEALTH_SYSTEMD. */
    unsetenv("NOTIFY_SOCKET");
    setenv("WATCHDOG_USEC", "soon", 1);
    ASSERT_OK(health_create(&h, &o));
    health_destroy(h);
    setenv("HEALTH_SYSTEMD", "maybe", 1);
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    setenv("HEALTH_SYSTEMD", "on", 1);
    ASSERT_OK(health_create(&h, &o));
    health_destroy(h);
    setenv("HEALTH_SYSTEMD", "maybe", 1);
    o.flags = HEALTH_OPT_NO_SYSTEMD; /* the option wins: env not read */
    ASSERT_OK(health_create(&h, &o));
    health_destroy(h);
    o.flags = HEALTH_OPT_SYSTEMD | HEALTH_OPT_NO_SYSTEMD;
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    unsetenv("HEALTH_SYSTEMD");
    o.flags = 0;

    /* With it, a malformed address or watchdog is refused. */
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    unsetenv("WATCHDOG_USEC");
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    setenv("NOTIFY_SOCKET", "@", 1);
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    setenv("NOTIFY_SOCKET",
           "/a/path/far/too/long/for/sun_path/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
           1);
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
    setenv("WATCHDOG_USEC", "soon", 1);
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    setenv("WATCHDOG_USEC", "0", 1);
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    setenv("WATCHDOG_USEC", "1000000", 1);
    setenv("WATCHDOG_PID", "-3", 1);
    ASSERT_EQ(health_create(&h, &o), -EINVAL);
    setenv("WATCHDOG_PID", "1", 1);
    ASSERT_OK(health_create(&h, &o));
    health_destroy(h);
    /* Turned off, even a bad $NOTIFY_SOCKET is never read. */
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    setenv("HEALTH_SYSTEMD", "off", 1);
    ASSERT_OK(health_create(&h, &o));
    health_destroy(h);
    unsetenv("HEALTH_SYSTEMD");
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

/* Unset $NOTIFY_SOCKET, HEALTH_SYSTEMD=off and HEALTH_OPT_NO_SYSTEMD: no
 * thread, nothing sent, and the handle works as ever. */
static void test_nothing_sent(void)
{
    health_t *h;
    int round;

    for (round = 0; round < 3; round++) {
        rx_open(false);
        if (round == 0)
            unsetenv("NOTIFY_SOCKET");
        else if (round == 1)
            setenv("HEALTH_SYSTEMD", "off", 1);
        h = server(round == 2 ? HEALTH_OPT_NO_SYSTEMD : 0);
        WAIT_UNTIL(!test_thread_tid("health-systemd"), 2000);
        expect_status(health_port(h), "/ready", 200);
        ASSERT_OK(health_begin_shutdown(h));
        expect_status(health_port(h), "/ready", 503);
        expect_none_for("STATUS=", 200);
        ASSERT_EQ(rx_total(), 0);
        health_destroy(h);
        rx_close();
    }
}

/* HEALTH_OPT_SYSTEMD wins over HEALTH_SYSTEMD=off; an abstract socket. */
static void test_abstract_and_option(void)
{
    health_t *h;

    rx_open(true);
    setenv("HEALTH_SYSTEMD", "off", 1);
    h = server(HEALTH_OPT_SYSTEMD);
    ASSERT_TRUE(test_thread_tid("health-systemd"));
    WAIT_UNTIL(rx_count("READY=1") == 1, 2000);
    ASSERT_STR_EQ(rx_status(), "ready");
    /* Stopping joins the thread (which may stay in the task list a
     * moment); nothing is sent afterwards. */
    ASSERT_OK(health_stop(h));
    WAIT_UNTIL(!test_thread_tid("health-systemd"), 2000);
    ASSERT_OK(health_begin_shutdown(h));
    expect_none_for("STOPPING=1", 100);
    health_destroy(h);
    rx_close();
}

/* READY=1 waits for manual startup, a STARTUP check and the READY checks;
 * it is sent once; STATUS names what holds it back. */
static void test_ready_timing(void)
{
    atomic_int boot = HEALTH_FAIL;
    atomic_int db = HEALTH_FAIL;
    struct health_check boot_c = flag_check("boot", HEALTH_CHECK_STARTUP);
    struct health_check db_c = flag_check("db", HEALTH_CHECK_READY);
    int64_t t_ready_ok;
    health_t *h;
    int port;

    rx_open(false);
    h = server(HEALTH_OPT_MANUAL_STARTUP);
    port = health_port(h);
    ASSERT_OK(health_register_check(h, &boot_c, &boot));
    ASSERT_OK(health_register_check(h, &db_c, &db));
    WAIT_UNTIL(status_is("starting; failing: boot, db"), 2000);
    expect_status(port, "/ready", 503);
    atomic_store(&boot, HEALTH_PASS);
    WAIT_UNTIL(status_is("starting; failing: db"), 2000);
    expect_status(port, "/started", 503);
    ASSERT_OK(health_set_started(h));
    WAIT_UNTIL(status_is("not ready; failing: db"), 2000);
    expect_status(port, "/started", 200);
    expect_status(port, "/ready", 503);
    ASSERT_EQ(rx_count("READY=1"), 0);
    /* The STARTUP check may fail again: startup stays complete. */
    atomic_store(&boot, HEALTH_FAIL);
    WAIT_UNTIL(status_is("not ready; failing: boot, db"), 2000);
    ASSERT_EQ(rx_count("READY=1"), 0);
    atomic_store(&boot, HEALTH_PASS);
    t_ready_ok = test_now_ms();
    atomic_store(&db, HEALTH_WARN);
    WAIT_UNTIL(rx_count("READY=1") == 1, 2000);
    ASSERT_GE(rx_time("READY=1", 0), t_ready_ok);
    expect_status(port, "/ready", 200);
    WAIT_UNTIL(status_is("ready; warning: db"), 2000);
    /* Failing and passing again sends no second READY=1. */
    atomic_store(&db, HEALTH_FAIL);
    WAIT_UNTIL(status_is("not ready; failing: db"), 2000);
    atomic_store(&db, HEALTH_PASS);
    WAIT_UNTIL(status_is("ready"), 2000);
    ASSERT_EQ(rx_count("READY=1"), 1);
    health_destroy(h);
    rx_close();
}

/* Pings every WATCHDOG_USEC / 2 while /live passes, none while a heartbeat
 * is stale or a LIVE check fails, and again once /live passes. */
static void test_watchdog_gating(void)
{
    atomic_int core = HEALTH_PASS;
    struct health_check core_c = flag_check("core", HEALTH_CHECK_LIVE);
    health_heartbeat_t *hb;
    char pid[32];
    size_t n;
    int64_t gap;
    health_t *h;
    int port;

    rx_open(false);
    setenv("WATCHDOG_USEC", "200000", 1); /* a ping every 100 ms */
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    h = server(0);
    port = health_port(h);
    ASSERT_OK(health_register_check(h, &core_c, &core));
    ASSERT_OK(health_register_heartbeat(h, "loop", 300, &hb));
    beater_start(hb);
    WAIT_UNTIL(rx_count("WATCHDOG=1") >= 6, 3000);
    /* The interval, measured between pings 2..5 (not the first). */
    gap = (rx_time("WATCHDOG=1", 5) - rx_time("WATCHDOG=1", 2)) / 3;
    ASSERT_GE(gap, 95);
    ASSERT_LE(gap, SLOW(160));

    /* A stalled heartbeat stops the pings. */
    atomic_store(&beater.beating, false);
    WAIT_UNTIL(status_is("not live; failing: loop"), 2000);
    expect_status(port, "/live", 503);
    expect_none_for("WATCHDOG=1", 400);
    atomic_store(&beater.beating, true);
    n = rx_count("WATCHDOG=1");
    WAIT_UNTIL(rx_count("WATCHDOG=1") > n + 2, 2000);
    ASSERT_STR_EQ(rx_status(), "ready");

    /* So does a failing LIVE check. */
    atomic_store(&core, HEALTH_FAIL);
    WAIT_UNTIL(status_is("not live; failing: core"), 2000);
    expect_status(port, "/live", 503);
    expect_none_for("WATCHDOG=1", 400);
    n = rx_count("WATCHDOG=1");
    atomic_store(&core, HEALTH_PASS);
    WAIT_UNTIL(rx_count("WATCHDOG=1") > n, 1000);
    WAIT_UNTIL(status_is("ready"), 1000);

    /* Shutting down leaves the pings to /live. */
    n = rx_count("WATCHDOG=1");
    ASSERT_OK(health_begin_shutdown(h));
    WAIT_UNTIL(rx_count("STOPPING=1") == 1, 2000);
    WAIT_UNTIL(rx_count("WATCHDOG=1") > n + 2, 2000);
    beater_stop();
    health_destroy(h);
    rx_close();
}

/* $WATCHDOG_PID naming another process: no pings, the rest as usual. */
static void test_watchdog_pid_mismatch(void)
{
    char pid[32];
    health_t *h;

    rx_open(false);
    setenv("WATCHDOG_USEC", "100000", 1);
    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    h = server(0);
    WAIT_UNTIL(rx_count("READY=1") == 1, 2000);
    expect_none_for("WATCHDOG=1", 300);
    ASSERT_EQ(rx_count("WATCHDOG=1"), 0);
    health_destroy(h);
    rx_close();
}

/* STOPPING=1 once on health_begin_shutdown(), with the status; /live
 * still passes and nothing else changes. */
static void test_stopping(void)
{
    health_t *h;
    int64_t t_begin;

    rx_open(false);
    h = server(0);
    WAIT_UNTIL(rx_count("READY=1") == 1, 2000);
    expect_none_for("STOPPING=1", 50);
    t_begin = test_now_ms();
    ASSERT_OK(health_begin_shutdown(h));
    WAIT_UNTIL(rx_count("STOPPING=1") == 1, 2000);
    ASSERT_GE(rx_time("STOPPING=1", 0), t_begin);
    ASSERT_STR_EQ(rx_status(), "shutting down");
    expect_status(health_port(h), "/live", 200);
    ASSERT_OK(health_begin_shutdown(h));
    expect_none_for("STATUS=", 100);
    ASSERT_EQ(rx_count("STOPPING=1"), 1);
    ASSERT_EQ(rx_count("READY=1"), 1);
    health_destroy(h);
    rx_close();
}

/* Shutting down before startup completes: never READY=1. */
static void test_stopping_before_ready(void)
{
    atomic_int db = HEALTH_FAIL;
    struct health_check db_c = flag_check("db", HEALTH_CHECK_READY);
    health_t *h;

    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL,
                                .bind_address = "127.0.0.1" };

    rx_open(false);
    ASSERT_OK(health_create(&h, &o));
    ASSERT_OK(health_register_check(h, &db_c, &db));
    ASSERT_OK(health_start(h));
    WAIT_UNTIL(status_is("not ready; failing: db"), 2000);
    ASSERT_OK(health_begin_shutdown(h));
    WAIT_UNTIL(rx_count("STOPPING=1") == 1, 2000);
    atomic_store(&db, HEALTH_PASS);
    WAIT_UNTIL(status_is("shutting down"), 2000);
    ASSERT_EQ(rx_count("READY=1"), 0);
    health_destroy(h);
    rx_close();
}

/* Many failing checks: the line stays bounded and says how many more. */
static void test_status_bounded(void)
{
    static char names[40][64];
    atomic_int fail = HEALTH_FAIL;
    health_t *h;
    int i;

    rx_open(false);
    h = server(0);
    for (i = 0; i < 40; i++) {
        struct health_check c;
        snprintf(names[i], sizeof(names[i]), "a-rather-long-check-name-%02d",
                 i);
        c = flag_check(names[i], HEALTH_CHECK_READY);
        ASSERT_OK(health_register_check(h, &c, &fail));
    }
    WAIT_UNTIL(strstr(rx_status(), "more") && !strstr(rx_status(), "pending"),
               3000);
    ASSERT_LE(strlen(rx_status()), 200);
    ASSERT_CONTAINS(rx_status(),
                    "not ready; failing: a-rather-long-check-name");
    ASSERT_CONTAINS(rx_status(), " more");
    health_destroy(h);
    rx_close();
}

/* A receiver that is gone: sends fail quietly, the service goes on; when
 * it comes back, the pending messages arrive. */
static void test_receiver_gone(void)
{
    health_t *h;
    char path[108];
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int fd;

    rx_open(false);
    snprintf(path, sizeof(path), "%s", rx.path);
    rx_close();
    setenv("NOTIFY_SOCKET", path, 1);
    h = server(0);
    expect_status(health_port(h), "/ready", 200);
    /* The receiver appears: READY=1 arrives on the next retry. */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    memcpy(a.sun_path, path, strlen(path) + 1);
    ASSERT_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
    {
        char buf[512];
        ssize_t n = 0;
        int64_t end = test_now_ms() + SLOW(3000);
        while (test_now_ms() < end) {
            n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
            if (n > 0)
                break;
            test_backoff();
        }
        ASSERT_GT(n, 0);
        buf[n] = '\0';
        ASSERT_CONTAINS(buf, "READY=1");
    }
    health_destroy(h);
    close(fd);
    unlink(path);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    unsetenv("HEALTH_SYSTEMD");
    test_config();
    test_nothing_sent();
    test_abstract_and_option();
    test_ready_timing();
    test_watchdog_gating();
    test_watchdog_pid_mismatch();
    test_stopping();
    test_stopping_before_ready();
    test_status_bounded();
    test_receiver_gone();
    printf("systemd: ok\n");
    return 0;
}
