/*
 * The demo service under a kubelet-like prober (probe-clients.md 5a):
 * startup, steady state, a dependency outage (readiness fails, liveness
 * does not), a stuck heartbeat (liveness fails), and a SIGTERM drain
 * (readiness fails within one probe, liveness passes until exit).  All
 * the while three probers hit /started, /live and /ready at once with
 * fresh connections and a 1 s deadline, and must never see an error or a
 * timeout.
 *
 * usage: test_kubelet DEMO-SERVICE
 */
#include "kubeprobe.h"
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct demo {
    pid_t pid;
    int port;
    char fail_file[64];
    char stall_file[64];
};

/* The probers' shared tallies. */
static atomic_bool probers_stop;
static atomic_int probe_count;
static atomic_int probe_errors;
static atomic_int live_failures; /* /live answered, and not 200..399 */
static atomic_bool live_expected = true;
static int demo_port;

static void touch(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY, 0600);

    ASSERT_GE(fd, 0);
    close(fd);
}

/* Starts the demo on an ephemeral port and reads the port it prints. */
static void demo_start(struct demo *d, const char *exe, const char *extra)
{
    char line[256];
    size_t n = 0;
    int fds[2];
    char c;

    snprintf(d->fail_file, sizeof(d->fail_file), "/tmp/kube-fail.%d",
             (int)getpid());
    snprintf(d->stall_file, sizeof(d->stall_file), "/tmp/kube-stall.%d",
             (int)getpid());
    unlink(d->fail_file);
    unlink(d->stall_file);
    ASSERT_OK(pipe(fds));
    d->pid = fork();
    ASSERT_GE(d->pid, 0);
    if (d->pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        execl(exe, exe, "--port", "0", "--fail-file", d->fail_file,
              "--stall-file", d->stall_file, "--startup-delay", "400",
              "--shutdown-delay", "600", extra, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    /* "demo-service: serving on port N (pid P)" */
    while (read(fds[0], &c, 1) == 1) {
        if (c != '\n') {
            if (n + 1 < sizeof(line))
                line[n++] = c;
            continue;
        }
        line[n] = '\0';
        n = 0;
        if (sscanf(line, "demo-service: serving on port %d", &d->port) == 1)
            break;
    }
    ASSERT_GT(d->port, 0);
    /* Keep reading its log so it never blocks on a full pipe. */
    if (fork() == 0) {
        while (read(fds[0], &c, 1) == 1)
            ;
        _exit(0);
    }
    close(fds[0]);
}

static enum kube_result probe(int port, const char *path)
{
    struct kube_probe p = { .host = "127.0.0.1",
                            .port = port,
                            .path = path,
                            .timeout_ms = (int)SLOW(1000) };
    struct kube_outcome o;

    kube_probe(&p, &o);
    if (o.result == KUBE_ERROR)
        fprintf(stderr, "probe %s: %s after %ld ms\n", path, o.error,
                o.elapsed_ms);
    ASSERT_TRUE(o.result != KUBE_ERROR);
    ASSERT_LE(o.body_len, 10240);
    if (o.status)
        ASSERT_TRUE(o.closed); /* Connection: close honoured */
    return o.result;
}

static void *prober(void *arg)
{
    const char *path = arg;
    struct kube_probe p = { .host = "127.0.0.1",
                            .port = demo_port,
                            .path = path,
                            .host_header = "10.244.1.7:8080",
                            .user_agent = "kube-probe/1.31+",
                            .timeout_ms = (int)SLOW(1000) };
    struct kube_outcome o;

    bool expected;

    while (!atomic_load(&probers_stop)) {
        expected = atomic_load(&live_expected);
        kube_probe(&p, &o);
        expected = expected && atomic_load(&live_expected);
        atomic_fetch_add(&probe_count, 1);
        if (o.result == KUBE_ERROR || o.elapsed_ms >= SLOW(1000)) {
            fprintf(stderr, "prober %s: %s (%ld ms)\n", path, o.error,
                    o.elapsed_ms);
            atomic_fetch_add(&probe_errors, 1);
        }
        /* Refused once the process has exited is expected. */
        if (strcmp(path, "/live") == 0 && expected && o.status != 0 &&
            o.result != KUBE_SUCCESS)
            atomic_fetch_add(&live_failures, 1);
        test_backoff();
    }
    return NULL;
}

/* One /live probe during the drain: true while the server answers (and
 * then it must pass), false once the port is closed. */
static bool live_until_exit(int port)
{
    struct kube_probe p = { .host = "127.0.0.1",
                            .port = port,
                            .path = "/live",
                            .timeout_ms = (int)SLOW(1000) };
    struct kube_outcome o;

    kube_probe(&p, &o);
    if (o.status == 0)
        return false;
    ASSERT_EQ(o.result, KUBE_SUCCESS);
    return true;
}

static void test_lifecycle_under_probes(const char *exe)
{
    static const char *const paths[] = { "/started", "/live", "/ready" };
    pthread_t t[3];
    struct demo d;
    int status;
    int i;

    demo_start(&d, exe, NULL);
    demo_port = d.port;
    /* Startup: /started and /ready fail until the 400 ms startup delay is
     * over; /live passes from the start. */
    ASSERT_EQ(probe(d.port, "/started"), KUBE_FAILURE);
    ASSERT_EQ(probe(d.port, "/ready"), KUBE_FAILURE);
    ASSERT_EQ(probe(d.port, "/live"), KUBE_SUCCESS);
    WAIT_UNTIL(probe(d.port, "/started") == KUBE_SUCCESS, 3000);
    WAIT_UNTIL(probe(d.port, "/ready") == KUBE_SUCCESS, 3000);

    for (i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, prober, (void *)paths[i]);

    /* A dependency outage fails readiness, never liveness. */
    touch(d.fail_file);
    WAIT_UNTIL(probe(d.port, "/ready") == KUBE_FAILURE, 3000);
    ASSERT_EQ(probe(d.port, "/live"), KUBE_SUCCESS);
    unlink(d.fail_file);
    WAIT_UNTIL(probe(d.port, "/ready") == KUBE_SUCCESS, 3000);
    ASSERT_EQ(atomic_load(&live_failures), 0);

    /* A stuck main loop fails liveness once its heartbeat expires (3 s). */
    atomic_store(&live_expected, false);
    touch(d.stall_file);
    WAIT_UNTIL(probe(d.port, "/live") == KUBE_FAILURE, 6000);
    unlink(d.stall_file);
    WAIT_UNTIL(probe(d.port, "/live") == KUBE_SUCCESS, 3000);
    atomic_store(&live_expected, true);

    /* SIGTERM: readiness fails at the next probe, liveness passes until
     * the process exits. */
    ASSERT_OK(kill(d.pid, SIGTERM));
    WAIT_UNTIL(probe(d.port, "/ready") == KUBE_FAILURE, 100);
    ASSERT_EQ(probe(d.port, "/live"), KUBE_SUCCESS);
    ASSERT_EQ(probe(d.port, "/started"), KUBE_SUCCESS);
    atomic_store(&probers_stop, true);
    for (i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    ASSERT_EQ(atomic_load(&probe_errors), 0);
    ASSERT_EQ(atomic_load(&live_failures), 0);
    ASSERT_GT(atomic_load(&probe_count), 30);
    /* Every answer /live gives until the port closes is a success. */
    while (live_until_exit(d.port))
        test_backoff();
    ASSERT_EQ(waitpid(d.pid, &status, 0), d.pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_EQ(probe(d.port, "/ready"), KUBE_FAILURE); /* refused */
    unlink(d.fail_file);
    unlink(d.stall_file);
}

/* A hung check: readiness fails "timed out", and no probe ever times out
 * or waits. */
static void test_hung_check(const char *exe)
{
    static const char *const paths[] = { "/started", "/live", "/ready" };
    struct kube_probe p = { .host = "127.0.0.1", .path = "/ready" };
    struct kube_outcome o;
    pthread_t t[3];
    struct demo d;
    int64_t t0;
    int i;

    demo_start(&d, exe, "--hang");
    demo_port = d.port;
    p.port = d.port;
    atomic_store(&probers_stop, false);
    atomic_store(&probe_count, 0);
    for (i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, prober, (void *)paths[i]);
    t0 = test_now_ms();
    WAIT_UNTIL(kube_probe(&p, &o) == KUBE_FAILURE &&
                   strstr(o.body, "timed out after 1000 ms"),
               5000);
    while (test_now_ms() - t0 < 2500)
        ASSERT_EQ(probe(d.port, "/live"), KUBE_SUCCESS);
    atomic_store(&probers_stop, true);
    for (i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    ASSERT_EQ(atomic_load(&probe_errors), 0);
    kill(d.pid, SIGKILL);
    waitpid(d.pid, NULL, 0);
}

int main(int argc, char **argv)
{
    ASSERT_EQ(argc, 2);
    signal(SIGPIPE, SIG_IGN);
    test_lifecycle_under_probes(argv[1]);
    test_hung_check(argv[1]);
    return 0;
}
