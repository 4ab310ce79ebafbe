/* SPDX-License-Identifier: MIT */
/*
 * prefork: the health endpoints of a pre-forking server.
 *
 * The supervising parent owns the handle: it forks the workers first,
 * then creates and starts the handle, and one check reports whether every
 * worker is alive and beating.  Workers never touch the handle (in a
 * child every call on an inherited handle returns -ECHILD, and
 * health_destroy() there frees memory only); they tell the parent they
 * are alive by writing a byte to a pipe.
 *
 *   prefork [WORKERS]      HEALTH_PORT=8080 by default
 *
 * SIGTERM drains (/ready 503, /live 200) for a second, then stops the
 * workers and exits.  Kill a worker (or SIGSTOP it) and /ready fails.
 */
#define _POSIX_C_SOURCE 200809L
#include <health/health.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 64
#define BEAT_MS 200

struct worker {
    pid_t pid;
    int fd; /* read end of the worker's pipe */
    struct timespec last_beat;
};

struct pool {
    struct worker w[MAX_WORKERS];
    int n;
};

static volatile sig_atomic_t stop_requested;

static void on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static long ms_since(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) * 1000 +
           (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* A worker: serves its share of the work and beats through its pipe. */
static void worker_main(int fd)
{
    signal(SIGTERM, SIG_DFL);
    for (;;) {
        if (write(fd, "b", 1) < 0 && errno == EPIPE)
            _exit(0);
        (void)poll(NULL, 0, BEAT_MS);
    }
}

/* Drains every pipe; a worker that beat recently and has not exited is
 * alive. */
static health_status_t workers_alive(health_result_t *r, void *ud)
{
    struct pool *p = ud;
    char buf[64];
    int alive = 0;
    int i;

    for (i = 0; i < p->n; i++) {
        struct worker *w = &p->w[i];
        ssize_t n;
        while ((n = read(w->fd, buf, sizeof(buf))) > 0)
            clock_gettime(CLOCK_MONOTONIC, &w->last_beat);
        if (waitpid(w->pid, NULL, WNOHANG) == 0 &&
            ms_since(&w->last_beat) < 5 * BEAT_MS)
            alive++;
    }
    health_result_setf(r, "%d of %d workers alive", alive, p->n);
    health_result_set_observed(r, alive, "workers");
    return alive == p->n ? HEALTH_PASS : HEALTH_FAIL;
}

static int spawn(struct pool *p, int n)
{
    int fds[2];

    for (p->n = 0; p->n < n; p->n++) {
        struct worker *w = &p->w[p->n];
        if (pipe(fds) < 0)
            return -errno;
        w->pid = fork();
        if (w->pid < 0)
            return -errno;
        if (w->pid == 0) {
            close(fds[0]);
            worker_main(fds[1]);
        }
        close(fds[1]);
        (void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
        (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
        w->fd = fds[0];
        clock_gettime(CLOCK_MONOTONIC, &w->last_beat);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct health_check check = {
        .name = "workers",
        .flags = HEALTH_CHECK_READY | HEALTH_CHECK_LIVE,
        .interval_ms = 500,
        .run = workers_alive,
    };
    static struct pool pool;
    struct sigaction sa = { .sa_handler = on_term };
    int n = argc > 1 ? atoi(argv[1]) : 4;
    health_t *h;
    int r;
    int i;

    if (n < 1 || n > MAX_WORKERS) {
        fprintf(stderr, "usage: prefork [WORKERS 1..%d]\n", MAX_WORKERS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* Fork first: the workers never see the handle. */
    r = spawn(&pool, n);
    if (r == 0)
        r = health_create(&h, NULL);
    if (r == 0)
        r = health_register_check(h, &check, &pool);
    if (r == 0)
        r = health_start(h);
    if (r < 0) {
        fprintf(stderr, "prefork: %s\n", health_strerror(r));
        return 1;
    }
    printf("prefork: %d workers, health on port %d\n", n, health_port(h));
    fflush(stdout);
    while (!stop_requested)
        (void)poll(NULL, 0, 100);
    health_begin_shutdown(h);
    (void)poll(NULL, 0, 1000);
    health_destroy(h);
    for (i = 0; i < pool.n; i++) {
        kill(pool.w[i].pid, SIGTERM);
        waitpid(pool.w[i].pid, NULL, 0);
    }
    return 0;
}
