/* SPDX-License-Identifier: MIT */
/*
 * probe-harness.c - fake HTTP server and probe runners for the
 * health-probe tests (see probe-harness.h).
 */
#include "probe-harness.h"

#include <health/health.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* How long the fake server waits for a request head, and how long a
 * child process may run, before the test gives up on it. */
#define FAKE_READ_TIMEOUT_MS 5000
#define PROBE_RUN_TIMEOUT_MS 15000

int64_t mono_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls @fd and the server's wake pipe.  Returns 1 when @fd is ready,
 * 0 when told to stop or after @timeout_ms (-1: no limit). */
static int fake_wait(struct fake_server *s, int fd, short events,
                     int timeout_ms)
{
    struct pollfd pfd[2] = { { .fd = fd, .events = events },
                             { .fd = s->wake[0], .events = POLLIN } };
    int r;

    do {
        r = poll(pfd, 2, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r <= 0 || pfd[1].revents)
        return 0;
    return 1;
}

/* Reads the request head ("\r\n\r\n") and records it.  Returns 0, or -1
 * when the peer closed first or the server is stopping. */
static int fake_read_request(struct fake_server *s, int fd)
{
    char buf[sizeof(s->request)];
    size_t len = 0;
    ssize_t n;

    while (len + 1 < sizeof(buf)) {
        if (!fake_wait(s, fd, POLLIN, FAKE_READ_TIMEOUT_MS))
            return -1;
        n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    pthread_mutex_lock(&s->lock);
    memcpy(s->request, buf, len + 1);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* Sends the scripted response, @s->chunk bytes per write.  Small writes
 * are spaced by a millisecond so that they arrive as separate segments:
 * the point of the scenario, not a wait for a condition. */
static void fake_send(struct fake_server *s, int fd)
{
    const struct timespec gap = { 0, 1000000 };
    size_t len = strlen(s->response);
    size_t off = 0;
    size_t n;
    ssize_t w;
    int one = 1;

    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while (off < len) {
        n = s->chunk && s->chunk < len - off ? s->chunk : len - off;
        w = send(fd, s->response + off, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        off += (size_t)w;
        if (s->chunk)
            (void)nanosleep(&gap, NULL);
    }
}

/* Keeps the connection open without answering until the client leaves
 * or the server stops. */
static void fake_hold(struct fake_server *s, int fd)
{
    char buf[256];

    while (fake_wait(s, fd, POLLIN, -1)) {
        if (recv(fd, buf, sizeof(buf), 0) <= 0)
            return;
    }
}

static void fake_serve(struct fake_server *s, int fd)
{
    if (s->mode == FAKE_CLOSE)
        return;
    if (fake_read_request(s, fd) < 0)
        return;
    if (s->mode == FAKE_SILENT) {
        fake_hold(s, fd);
        return;
    }
    fake_send(s, fd);
    (void)shutdown(fd, SHUT_WR);
    /* Wait (bounded) for the client to close, so that closing here never
     * resets a connection whose response is still unread. */
    if (fake_wait(s, fd, POLLIN, FAKE_READ_TIMEOUT_MS)) {
        char buf[256];
        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
            continue;
    }
}

static void *fake_thread(void *arg)
{
    struct fake_server *s = arg;
    int fd;

    while (fake_wait(s, s->listen_fd, POLLIN, -1)) {
        fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->lock);
        s->connections++;
        pthread_mutex_unlock(&s->lock);
        fake_serve(s, fd);
        (void)close(fd);
    }
    return NULL;
}

/* Creates a listening socket on @address port 0; stores the port. */
static int listen_loopback(const char *address, int *port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    int fd;
    int e;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        len = sizeof(*v6);
    } else {
        return -EINVAL;
    }
    fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        e = errno;
        (void)close(fd);
        return -e;
    }
    *port = ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
    return fd;
}

int fake_start(struct fake_server *s, const char *address)
{
    int r;

    s->listen_fd = listen_loopback(address, &s->port);
    if (s->listen_fd < 0)
        return s->listen_fd;
    if (pipe(s->wake) < 0) {
        r = -errno;
        (void)close(s->listen_fd);
        return r;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->request[0] = '\0';
    s->connections = 0;
    r = pthread_create(&s->thread, NULL, fake_thread, s);
    ASSERT_OK(r);
    return 0;
}

void fake_stop(struct fake_server *s)
{
    ASSERT_EQ(write(s->wake[1], "x", 1), 1);
    ASSERT_OK(pthread_join(s->thread, NULL));
    (void)close(s->listen_fd);
    (void)close(s->wake[0]);
    (void)close(s->wake[1]);
    pthread_mutex_destroy(&s->lock);
}

void fake_last_request(struct fake_server *s, char *buf, size_t cap)
{
    pthread_mutex_lock(&s->lock);
    (void)snprintf(buf, cap, "%s", s->request);
    pthread_mutex_unlock(&s->lock);
}

int unused_port(void)
{
    int port = 0;
    int fd = listen_loopback("127.0.0.1", &port);

    ASSERT_GE(fd, 0);
    (void)close(fd);
    return port;
}

/* Reads the child's output until end of stream or @deadline.  Returns 0
 * at end of stream, -1 at the deadline. */
static int drain_output(int fd, char *out, size_t cap, int64_t deadline)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    size_t len = 0;
    char skip[512];
    ssize_t n;

    out[0] = '\0';
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
            return -1;
        if (len + 1 < cap)
            n = read(fd, out + len, cap - 1 - len);
        else
            n = read(fd, skip, sizeof(skip));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        if (len + 1 < cap) {
            len += (size_t)n;
            out[len] = '\0';
        }
    }
}

/* Waits for @pid until @deadline, then kills it.  Returns its exit
 * status, or -1 when it had to be killed or died of a signal. */
static int reap(pid_t pid, int64_t deadline)
{
    const struct timespec tick = { 0, 1000000 };
    int status;
    pid_t r;

    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && mono_ms() < deadline)
        (void)nanosleep(&tick, NULL);
    if (r == 0) {
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, &status, 0);
        return -1;
    }
    if (r < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

int run_command(char *const argv[], char *out, size_t cap, unsigned timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    posix_spawn_file_actions_t fa;
    int fds[2];
    pid_t pid;
    int r;

    ASSERT_OK(pipe(fds));
    (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    (void)close(fds[1]);
    if (r != 0) {
        (void)close(fds[0]);
        (void)snprintf(out, cap, "cannot run %s: %s", argv[0], strerror(r));
        return -1;
    }
    if (drain_output(fds[0], out, cap, deadline) < 0)
        deadline = mono_ms();
    (void)close(fds[0]);
    return reap(pid, deadline);
}

/* Calls health_probe_main() with stdout redirected into a pipe.  The one
 * line (or the help text) is far below a pipe's capacity. */
static int run_in_process(char **argv, int argc, char *out, size_t cap)
{
    int fds[2];
    int saved;
    int r;
    ssize_t n;

    ASSERT_OK(pipe(fds));
    (void)fflush(stdout);
    saved = dup(1);
    ASSERT_GE(saved, 0);
    ASSERT_EQ(dup2(fds[1], 1), 1);
    r = health_probe_main(argc, argv);
    (void)fflush(stdout);
    ASSERT_EQ(dup2(saved, 1), 1);
    (void)close(saved);
    (void)close(fds[1]);
    n = read(fds[0], out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
    (void)close(fds[0]);
    return r;
}

int run_probe(const char *binary, const char *const *args, char *out,
              size_t cap)
{
    char *argv[16];
    int argc = 0;
    int r;
    int i;

    argv[argc++] = (char *)(binary ? binary : "health-probe");
    while (args && args[argc - 1] && argc < 15) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    argv[argc] = NULL;
    if (binary)
        r = run_command(argv, out, cap, PROBE_RUN_TIMEOUT_MS);
    else
        r = run_in_process(argv, argc, out, cap);
    fprintf(stderr, "  %s", binary ? "$ health-probe" : "health_probe_main:");
    for (i = 1; i < argc; i++)
        fprintf(stderr, " %.80s", argv[i]);
    fprintf(stderr, " -> %d: %s%s", r, out,
            out[0] && out[strlen(out) - 1] == '\n' ? "" : "\n");
    return r;
}

void assert_one_line(const char *out)
{
    size_t len = strlen(out);

    ASSERT_GE((int64_t)len, 2);
    ASSERT_LT((int64_t)len, 500);
    ASSERT_EQ(out[len - 1], '\n');
    ASSERT_EQ(strchr(out, '\n') - out, (int64_t)len - 1);
}
