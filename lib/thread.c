/* SPDX-License-Identifier: MIT */
/*
 * Library threads: how they start (asynchronous signals blocked, a chosen
 * stack, a name) and the monotonic condition waits they sleep in.
 */
#define _GNU_SOURCE
#include "health-internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

int health__cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int r;

    r = pthread_condattr_init(&attr);
    if (r)
        return -r;
    r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (r == 0)
        r = pthread_cond_init(cond, &attr);
    (void)pthread_condattr_destroy(&attr);
    return -r;
}

void health__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock,
                             int64_t deadline_ns)
{
    struct timespec ts;

    if (deadline_ns == INT64_MAX) {
        (void)pthread_cond_wait(cond, lock);
        return;
    }
    ts.tv_sec = (time_t)(deadline_ns / 1000000000);
    ts.tv_nsec = (long)(deadline_ns % 1000000000);
    (void)pthread_cond_timedwait(cond, lock, &ts);
}

/* Process signals are the service's, so library threads block them; the
 * signals a fault raises on the faulting thread stay open, so a check that
 * crashes reaches the service's handlers (and the sanitizers') as any
 * other thread would. */
void health__block_signals(sigset_t *old)
{
    static const int faults[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL,
                                  SIGTRAP, SIGSYS, SIGABRT };
    sigset_t set;
    size_t i;

    (void)sigfillset(&set);
    for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
        (void)sigdelset(&set, faults[i]);
    (void)pthread_sigmask(SIG_SETMASK, &set, old);
}

void health__restore_signals(const sigset_t *old)
{
    (void)pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void name_thread(pthread_t t, const char *prefix, const char *name)
{
#ifdef __linux__
    char buf[16]; /* the kernel keeps 15 characters */
    size_t n = strlen(prefix);
    size_t m = strlen(name);

    if (n > sizeof(buf) - 1)
        n = sizeof(buf) - 1;
    if (m > sizeof(buf) - 1 - n)
        m = sizeof(buf) - 1 - n;
    memcpy(buf, prefix, n);
    memcpy(buf + n, name, m);
    buf[n + m] = '\0';
    (void)pthread_setname_np(t, buf);
#else
    (void)t;
    (void)prefix;
    (void)name;
#endif
}

int health__thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
                         size_t stack, bool joinable, const char *prefix,
                         const char *name)
{
    pthread_attr_t attr;
    sigset_t old;
    int r;

    r = pthread_attr_init(&attr);
    if (r)
        return -r;
    if (!joinable)
        (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (stack)
        r = pthread_attr_setstacksize(&attr, stack);
    if (r == 0) {
        health__block_signals(&old);
        r = pthread_create(t, &attr, fn, arg);
        health__restore_signals(&old);
    }
    (void)pthread_attr_destroy(&attr);
    if (r)
        return r == EAGAIN || r == ENOMEM ? -EAGAIN : -r;
    name_thread(*t, prefix, name);
    return 0;
}
