/*
 * Faults around the server: hostile_faults TEST
 *
 *   fd_exhaustion    the server runs in a child process whose
 *                    RLIMIT_NOFILE leaves room for 16 connections; a
 *                    client opens 64, so accept() fails with EMFILE.  The
 *                    server must stay alive, not spin (CPU time is
 *                    measured), and serve again once the connections go.
 *   stop_under_load  health_stop() and health_destroy() while client
 *                    threads hammer the server (fresh and keep-alive
 *                    connections, pipelined requests) and a check runs:
 *                    each returns within 1 s (SLOW-scaled); the server
 *                    restarts on the same port and serves; nothing leaks.
 */
#include "hostile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define IDLE_S 2u

/* ---------------------------------------------------------------- */

/* The child: a server under a tight descriptor limit.  Writes its port
 * to @out, serves until @in reaches EOF, then destroys and exits. */
static void child_server(int in, int out, int headroom)
{
    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL,
                                .bind_address = "127.0.0.1",
                                .idle_timeout_s = IDLE_S };
    struct rlimit rl;
    health_t *h;
    char byte;
    int port;
    int free_below = 0;
    int hog[256];
    int n_hog = 0;
    int fd;

    if (health_create(&h, &o) < 0 || health_start(h) < 0)
        exit(3);
    /* Descriptors are numbered from the lowest free one and the limit
     * bounds their numbers: set it just past the headroom-th free one. */
    for (fd = 0; free_below < headroom; fd++)
        if (fcntl(fd, F_GETFD) < 0)
            free_below++;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)fd;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        exit(4);
    port = health_port(h);
    if (write(out, &port, sizeof(port)) != sizeof(port))
        exit(5);
    /* 'e': the service itself runs out of descriptors (a leak or a
     * spike elsewhere in the process); 'r': it recovers. */
    while (read(in, &byte, 1) > 0) {
        if (byte == 'e') {
            while (n_hog < (int)(sizeof(hog) / sizeof(hog[0])) &&
                   (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
                hog[n_hog++] = fd;
        } else if (byte == 'r') {
            while (n_hog > 0)
                close(hog[--n_hog]);
        }
        if (write(out, &byte, 1) != 1)
            exit(6);
    }
    health_destroy(h);
    exit(0);
}

/* CPU time (user + system) of @pid in ms. */
static long cpu_ms(pid_t pid)
{
    char path[64];
    char buf[1024];
    unsigned long ut = 0;
    unsigned long st = 0;
    char *p;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(buf, sizeof(buf), f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    p = strrchr(buf, ')');
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &ut, &st) != 2)
        return -1;
    return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static int failures;

/* Sends a command to the child and waits for its acknowledgement. */
static void command(int to, int from, char c)
{
    char ack;

    ASSERT_EQ(write(to, &c, 1), 1);
    ASSERT_EQ(read(from, &ack, 1), 1);
    ASSERT_EQ(ack, c);
}

/* Open descriptors of @pid. */
static int fds_of(pid_t pid)
{
    char path[64];
    struct dirent *e;
    int n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static bool alive(pid_t pid)
{
    int status;

    return waitpid(pid, &status, WNOHANG) == 0;
}

static void test_fd_exhaustion(void)
{
    enum {
        HEADROOM = 16,
        CONNS = 48
    };
    struct kube_probe p = { .host = "127.0.0.1", .path = "/live" };
    struct kube_outcome o;
    int to_child[2];
    int from_child[2];
    int fds[CONNS];
    int port = 0;
    int status;
    int ok_during = 0;
    int tried_during = 0;
    int child_fds = 0;
    long cpu0;
    long cpu1;
    int64_t t0;
    pid_t pid;
    int i;

    ASSERT_OK(pipe(to_child));
    ASSERT_OK(pipe(from_child));
    fflush(NULL);
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        close(to_child[1]);
        close(from_child[0]);
        child_server(to_child[0], from_child[1], HEADROOM);
    }
    close(to_child[0]);
    close(from_child[1]);
    ASSERT_EQ(read(from_child[0], &port, sizeof(port)), sizeof(port));
    p.port = port;
    p.timeout_ms = (int)SLOW(1000);
    WAIT_UNTIL(kube_probe(&p, &o) == KUBE_SUCCESS, 3000);
    WAIT_UNTIL((child_fds = fds_of(pid)) > 0, 1000);

    /* Far more connections than the child has descriptors for. */
    for (i = 0; i < CONNS; i++) {
        fds[i] = hc_connect("127.0.0.1", port, SLOW(1000));
        ASSERT_GE(fds[i], 0);
    }
    /* While accept() fails: alive, and not spinning on the listener. */
    cpu0 = cpu_ms(pid);
    t0 = hostile_now();
    while (hostile_now() - t0 < 1500) {
        tried_during++;
        ok_during += kube_probe(&p, &o) == KUBE_SUCCESS;
        ASSERT_TRUE(alive(pid));
    }
    cpu1 = cpu_ms(pid);
    printf("fd exhaustion: %d connections against a limit of %d free "
           "descriptors: server CPU %ld ms in %lld ms; probes during it %d/%d "
           "ok (last: %s)\n",
           CONNS, HEADROOM, cpu1 - cpu0, (long long)(hostile_now() - t0),
           ok_during, tried_during, o.result == KUBE_SUCCESS ? "ok" : o.error);
    ASSERT_LT(cpu1 - cpu0, 750);

    /* Once they go, it serves again. */
    for (i = 0; i < CONNS; i++)
        close(fds[i]);
    t0 = hostile_now();
    WAIT_UNTIL(kube_probe(&p, &o) == KUBE_SUCCESS, IDLE_S * 1000 + 3000);
    printf("fd exhaustion: serving again %lld ms after the connections "
           "closed\n",
           (long long)(hostile_now() - t0));
    /* And again with the idle timeout doing the work: the connections
     * stay open, the server reaps them and accepts the waiting ones. */
    for (i = 0; i < CONNS; i++)
        fds[i] = hc_connect("127.0.0.1", port, SLOW(1000));
    t0 = hostile_now();
    WAIT_UNTIL(kube_probe(&p, &o) == KUBE_SUCCESS, 4 * IDLE_S * 1000 + 4000);
    printf("fd exhaustion, connections held open: serving again after "
           "%lld ms\n",
           (long long)(hostile_now() - t0));
    for (i = 0; i < CONNS; i++)
        if (fds[i] >= 0)
            close(fds[i]);

    /* The process runs out of descriptors while the server holds no
     * connection at all, then gets them back. */
    WAIT_UNTIL(kube_probe(&p, &o) == KUBE_SUCCESS, IDLE_S * 1000 + 3000);
    WAIT_UNTIL(fds_of(pid) <= child_fds, IDLE_S * 1000 + 3000);
    command(to_child[1], from_child[0], 'e');
    ok_during = 0;
    for (i = 0; i < 3; i++)
        ok_during += kube_probe(&p, &o) == KUBE_SUCCESS;
    command(to_child[1], from_child[0], 'r');
    t0 = hostile_now();
    for (i = 0; hostile_now() - t0 < SLOW(3000); i++)
        if (kube_probe(&p, &o) == KUBE_SUCCESS)
            break;
    printf("fd exhaustion by the service itself: probes during it %d/3 ok; "
           "after the descriptors came back: %s after %lld ms\n",
           ok_during, o.result == KUBE_SUCCESS ? "serving" : "NOT serving",
           (long long)(hostile_now() - t0));
    if (o.result != KUBE_SUCCESS) {
        fprintf(stderr, "FAIL: the server never accepts again after an "
                        "EMFILE with no connection open (libmicrohttpd "
                        "suspends accept() until a connection closes)\n");
        failures++;
    }
    ASSERT_TRUE(alive(pid));
    close(to_child[1]);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    close(from_child[0]);
}

/* ---------------------------------------------------------------- */

struct hammer {
    pthread_t thread;
    int port;
    int kind; /* 0: fresh connections, 1: keep-alive, 2: pipelined */
    atomic_bool *stop;
    atomic_long ok;
    atomic_long failed;
};

/* One GET /live on a kept-alive connection *fd (opened when -1, and
 * closed and reset on any failure). */
static bool keepalive_get(int *fd, int port)
{
    static const char get[] = "GET /live HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[4096];
    size_t len = 0;
    int64_t deadline = hostile_now() + SLOW(1000);

    if (*fd < 0)
        *fd = hc_connect("127.0.0.1", port, SLOW(1000));
    if (*fd < 0)
        return false;
    if (send(*fd, get, sizeof(get) - 1, MSG_NOSIGNAL) !=
        (ssize_t)sizeof(get) - 1)
        goto fail;
    while (hostile_now() < deadline && len < sizeof(buf) - 1) {
        struct pollfd pfd = { .fd = *fd, .events = POLLIN };
        const char *end;
        ssize_t n;
        long clen;

        if (poll(&pfd, 1, 50) != 1)
            continue;
        n = recv(*fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            goto fail;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end || !strstr(buf, "Content-Length: "))
            continue;
        clen = strtol(strstr(buf, "Content-Length: ") + 16, NULL, 10);
        if ((size_t)(end + 4 - buf) + (size_t)clen <= len)
            return strncmp(buf, "HTTP/1.1 200", 12) == 0;
    }
fail:
    close(*fd);
    *fd = -1;
    return false;
}

static void *hammer_main(void *arg)
{
    static const char one[] = "GET /ready HTTP/1.1\r\nHost: x\r\n"
                              "Connection: close\r\n\r\n";
    static const char pipe4[] = "GET /live HTTP/1.1\r\nHost: x\r\n\r\n"
                                "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"
                                "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                                "GET /ready/slow HTTP/1.1\r\nHost: x\r\n"
                                "Connection: close\r\n\r\n";
    struct hammer *m = arg;
    struct hc_reply *r = malloc(sizeof(*r));
    int fd = -1;

    if (!r)
        abort();
    while (!atomic_load(m->stop)) {
        struct hc_request q = { .head = m->kind == 2 ? pipe4 : one };

        if (m->kind == 1) {
            if (keepalive_get(&fd, m->port))
                atomic_fetch_add(&m->ok, 1);
            else
                atomic_fetch_add(&m->failed, 1);
        } else {
            hc_exchange("127.0.0.1", m->port, &q, SLOW(1000), r);
            if (r->n >= 1)
                atomic_fetch_add(&m->ok, 1);
            else
                atomic_fetch_add(&m->failed, 1);
        }
        if (atomic_load(&m->failed) > atomic_load(&m->ok) + 50)
            hostile_pause(5); /* refused while stopped: do not spin */
    }
    if (fd >= 0)
        close(fd);
    free(r);
    return NULL;
}

static health_status_t slowish(health_result_t *r, void *ud)
{
    (void)ud;
    hostile_pause(20);
    health_result_setf(r, "took a while");
    return HEALTH_PASS;
}

static int free_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
    ASSERT_OK(getsockname(fd, (struct sockaddr *)&sa, &len));
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void *idle_thread(void *arg)
{
    return arg;
}

static long total_ok(struct hammer *m, int n)
{
    long s = 0;
    int i;

    for (i = 0; i < n; i++)
        s += atomic_load(&m[i].ok);
    return s;
}

static void test_stop_under_load(void)
{
    enum {
        THREADS = 4
    };
    static const struct health_check slow = {
        .name = "slow", .interval_ms = 10, .timeout_ms = 500, .run = slowish
    };
    struct health_options o = { .bind_address = "127.0.0.1",
                                .idle_timeout_s = IDLE_S };
    struct hammer m[THREADS];
    atomic_bool stop = false;
    health_t *h;
    int threads0;
    int fds0;
    int64_t t0;
    int64_t dt;
    long before;
    int round;
    int i;

    /* Baselines after one thread came and went (a sanitizer runtime
     * starts a thread of its own on the first one). */
    ASSERT_OK(pthread_create(&m[0].thread, NULL, idle_thread, NULL));
    pthread_join(m[0].thread, NULL);
    threads0 = test_threads();
    fds0 = test_fds();
    o.port = free_port();
    ASSERT_OK(health_create(&h, &o));
    ASSERT_OK(health_register_check(h, &slow, NULL));
    ASSERT_OK(health_start(h));
    memset(m, 0, sizeof(m));
    for (i = 0; i < THREADS; i++) {
        m[i].port = o.port;
        m[i].kind = i % 3;
        m[i].stop = &stop;
        ASSERT_OK(pthread_create(&m[i].thread, NULL, hammer_main, &m[i]));
    }
    for (round = 0; round < 3; round++) {
        before = total_ok(m, THREADS);
        WAIT_UNTIL(total_ok(m, THREADS) > before + 200, 5000);
        t0 = hostile_now();
        ASSERT_OK(health_stop(h));
        dt = hostile_now() - t0;
        printf("health_stop under load (round %d): %lld ms\n", round,
               (long long)dt);
        ASSERT_LT(dt, SLOW(1000));
        ASSERT_EQ(health_port(h), -ENOTCONN);
        /* Closed: new connections are refused. */
        i = hc_connect("127.0.0.1", o.port, SLOW(1000));
        ASSERT_EQ(i, -ECONNREFUSED);
        ASSERT_OK(health_start(h));
        ASSERT_EQ(health_port(h), o.port);
    }
    before = total_ok(m, THREADS);
    WAIT_UNTIL(total_ok(m, THREADS) > before + 200, 5000);
    t0 = hostile_now();
    health_destroy(h);
    dt = hostile_now() - t0;
    printf("health_destroy under load: %lld ms\n", (long long)dt);
    ASSERT_LT(dt, SLOW(1000));
    atomic_store(&stop, true);
    for (i = 0; i < THREADS; i++) {
        pthread_join(m[i].thread, NULL);
        printf("  client %d (%s): %ld answered, %ld failed\n", i,
               m[i].kind == 0   ? "fresh"
               : m[i].kind == 1 ? "keep-alive"
                                : "pipelined",
               atomic_load(&m[i].ok), atomic_load(&m[i].failed));
    }
    /* Every library thread and descriptor is gone. */
    WAIT_UNTIL(test_threads() <= threads0, 2000);
    WAIT_UNTIL(test_fds() <= fds0, 2000);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc == 2 && strcmp(argv[1], "fd_exhaustion") == 0)
        test_fd_exhaustion();
    else if (argc == 2 && strcmp(argv[1], "stop_under_load") == 0)
        test_stop_under_load();
    else {
        fprintf(stderr, "usage: hostile_faults fd_exhaustion|"
                        "stop_under_load\n");
        return 2;
    }
    return failures ? 1 : 0;
}
