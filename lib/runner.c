/* SPDX-License-Identifier: MIT */
/*
 * The runner: one thread per check runs it on its interval, and a watchdog
 * thread records a run that passes its deadline as "timed out" at that
 * deadline, whether or not the callback ever returns.  A check thread stuck
 * in a callback is the only thread that check occupies: no new run starts
 * while one is in flight, so threads stay at checks + 2 (watchdog and HTTP).
 *
 * Check threads are detached and hold a reference on the handle, so a hung
 * callback that returns after health_destroy() still finds the lock and its
 * check intact; the last reference frees the handle.
 */
#define _GNU_SOURCE
#include "health-internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A status change to report once the lock is released. */
struct change {
    health_change_fn *fn;
    void *userdata;
    health_status_t status;
    char name[HEALTH_NAME_MAX + 1];
    char output[HEALTH_OUTPUT_MAX];
};

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

static void wait_until(pthread_cond_t *cond, pthread_mutex_t *lock,
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

/* Library threads take no process signals: those are the service's. */
void health__block_signals(sigset_t *old)
{
    sigset_t all;

    (void)sigfillset(&all);
    (void)pthread_sigmask(SIG_SETMASK, &all, old);
}

void health__restore_signals(const sigset_t *old)
{
    (void)pthread_sigmask(SIG_SETMASK, old, NULL);
}

void health__check_free(struct health__check *c)
{
    (void)pthread_cond_destroy(&c->wake);
    free(c);
}

/* Prepares a change report when @c's state moved; the lock is held. */
static bool note_change(health_t *h, const struct health__check *c, int before,
                        struct change *ch)
{
    if (c->latest.state == before || !h->cfg.on_change || h->destroyed)
        return false;
    ch->fn = h->cfg.on_change;
    ch->userdata = h->cfg.on_change_userdata;
    ch->status = (health_status_t)c->latest.state;
    memcpy(ch->name, c->name, sizeof(ch->name));
    memcpy(ch->output, c->latest.r.output, sizeof(ch->output));
    h->notifying++;
    return true;
}

/* Calls the change callback without the lock; the lock is held on entry
 * and on return. */
static void deliver_change(health_t *h, const struct change *ch)
{
    (void)pthread_mutex_unlock(&h->lock);
    ch->fn(ch->name, ch->status, ch->output, ch->userdata);
    (void)pthread_mutex_lock(&h->lock);
    h->notifying--;
    (void)pthread_cond_broadcast(&h->idle_cond);
}

static void store_timeout(health_t *h, struct health__check *c,
                          int64_t deadline_ns)
{
    c->timed_out = true;
    (void)health__stored_timeout(&c->latest, &c->damping, c->timeout_ms,
                                 c->run_start_ns,
                                 health__mono_ns() - deadline_ns);
    if (c->latest.raw != HEALTH_FAIL)
        c->passed_once = true;
    health__changed(h);
}

static void store_result(health_t *h, struct health__check *c, int status,
                         const health_result_t *r, int64_t took_ns)
{
    (void)health__stored_result(&c->latest, &c->damping, status, r,
                                c->run_start_ns, took_ns);
    if (c->latest.raw != HEALTH_FAIL)
        c->passed_once = true; /* warn passes too: it still serves */
    health__changed(h);
}

/* Tells the watchdog about a new deadline if it would sleep past it. */
static void arm_watchdog(health_t *h, int64_t deadline_ns)
{
    if (deadline_ns < h->watchdog_wake_ns)
        (void)pthread_cond_signal(&h->watchdog_cond);
}

/* One run of @c; the lock is held on entry and on return. */
static void run_once(health_t *h, struct health__check *c, int64_t start)
{
    int64_t deadline = start + (int64_t)c->timeout_ms * 1000000;
    health_result_t r;
    struct change ch;
    int before = c->latest.state;
    int status;
    int64_t end;

    memset(&r, 0, sizeof(r));
    c->running = true;
    c->timed_out = false;
    c->run_start_ns = start;
    h->threads_busy++;
    arm_watchdog(h, deadline);
    (void)pthread_mutex_unlock(&h->lock);

    status = (int)c->run(&r, c->userdata);

    (void)pthread_mutex_lock(&h->lock);
    end = health__mono_ns();
    h->threads_busy--;
    c->running = false;
    c->next_due_ns = start + (int64_t)c->interval_ms * 1000000;
    if (c->next_due_ns < end)
        c->next_due_ns = end;
    if (c->removed || h->destroyed || c->timed_out)
        return; /* a late or orphaned result is discarded */
    if (end > deadline)
        store_timeout(h, c, deadline);
    else
        store_result(h, c, status, &r, end - start);
    if (note_change(h, c, before, &ch)) {
        /* Counted as busy while in the change callback, which may call
         * health_stop(): that waits for idle check threads to leave, and
         * this one cannot leave before the callback returns. */
        h->threads_busy++;
        deliver_change(h, &ch);
        h->threads_busy--;
    }
}

/* Leaves the check's thread; the lock is held on entry, released here. */
static void thread_exit(health_t *h, struct health__check *c)
{
    bool removed = c->removed;
    bool call_free = c->free_on_thread && c->free_data;
    bool last;

    c->has_thread = false;
    h->threads--;
    (void)pthread_cond_broadcast(&h->idle_cond);
    health__unref_locked(h, &last);
    (void)pthread_mutex_unlock(&h->lock);
    if (removed) {
        if (call_free)
            c->free_data(c->userdata);
        health__check_free(c);
    }
    if (last)
        health__free(h);
}

static void *check_thread(void *arg)
{
    struct health__check *c = arg;
    health_t *h = c->h;
    int64_t now;

    (void)pthread_mutex_lock(&h->lock);
    while (!c->removed && !h->stopping) {
        now = health__mono_ns();
        if (now < c->next_due_ns)
            wait_until(&c->wake, &h->lock, c->next_due_ns);
        else
            run_once(h, c, now);
    }
    thread_exit(h, c);
    return NULL;
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

/* Starts @c's thread unless it has one (a run that outlived a stop); the
 * lock is held. */
int health__runner_add(health_t *h, struct health__check *c)
{
    pthread_attr_t attr;
    pthread_t t;
    sigset_t old;
    int r;

    if (c->has_thread)
        return 0;
    r = pthread_attr_init(&attr);
    if (r)
        return -r;
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    health__block_signals(&old);
    r = pthread_create(&t, &attr, check_thread, c);
    health__restore_signals(&old);
    (void)pthread_attr_destroy(&attr);
    if (r)
        return r == EAGAIN ? -EAGAIN : -r;
    name_thread(t, "health:", c->name);
    c->has_thread = true;
    h->threads++;
    h->refs++;
    return 0;
}

/* Records every run past its deadline; returns the next deadline.  The
 * lock is held; it is released around change callbacks, so the scan
 * restarts after one. */
static int64_t watchdog_scan(health_t *h)
{
    struct health__check *c;
    struct change ch;
    int64_t next = INT64_MAX;
    int64_t now = health__mono_ns();
    int64_t deadline;
    int before;

    for (c = h->checks; c; c = c->next) {
        if (!c->running || c->timed_out)
            continue;
        deadline = c->run_start_ns + (int64_t)c->timeout_ms * 1000000;
        if (deadline > now) {
            if (deadline < next)
                next = deadline;
            continue;
        }
        before = c->latest.state;
        store_timeout(h, c, deadline);
        if (note_change(h, c, before, &ch)) {
            deliver_change(h, &ch);
            return now; /* the list may have changed: scan again */
        }
    }
    return next;
}

/* The watchdog holds a reference on the handle: stopped from its own
 * change callback it is detached, not joined, and may outlive the stop
 * (and a restart, whose new watchdog supersedes it: it then leaves). */
static void *watchdog_thread(void *arg)
{
    health_t *h = arg;
    int64_t next;
    bool last;

    (void)pthread_mutex_lock(&h->lock);
    while (!h->watchdog_stop && pthread_equal(h->watchdog, pthread_self())) {
        next = watchdog_scan(h);
        if (next <= health__mono_ns())
            continue;
        h->watchdog_wake_ns = next;
        wait_until(&h->watchdog_cond, &h->lock, next);
        h->watchdog_wake_ns = 0;
    }
    health__unref_locked(h, &last);
    (void)pthread_mutex_unlock(&h->lock);
    if (last)
        health__free(h);
    return NULL;
}

/* Starts the watchdog and a thread per check; the lock is held.  On
 * failure everything started here is stopped again by the caller through
 * health__runner_stop(). */
int health__runner_start(health_t *h)
{
    struct health__check *c;
    sigset_t old;
    int r;

    h->watchdog_stop = false;
    h->watchdog_wake_ns = 0;
    health__block_signals(&old);
    r = pthread_create(&h->watchdog, NULL, watchdog_thread, h);
    health__restore_signals(&old);
    if (r)
        return r == EAGAIN ? -EAGAIN : -r;
    name_thread(h->watchdog, "health-watchdog", "");
    h->watchdog_alive = true;
    h->refs++;
    for (c = h->checks; c; c = c->next) {
        c->next_due_ns = 0;
        r = health__runner_add(h, c);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Stops the watchdog and every check thread that is not inside a callback;
 * called without the lock, after h->stopping was set. */
void health__runner_stop(health_t *h)
{
    struct health__check *c;
    bool join;

    (void)pthread_mutex_lock(&h->lock);
    h->watchdog_stop = true;
    join = h->watchdog_alive;
    h->watchdog_alive = false;
    (void)pthread_cond_broadcast(&h->watchdog_cond);
    for (c = h->checks; c; c = c->next)
        (void)pthread_cond_signal(&c->wake);
    while (h->threads > h->threads_busy)
        (void)pthread_cond_wait(&h->idle_cond, &h->lock);
    (void)pthread_mutex_unlock(&h->lock);
    /* From the watchdog's own change callback: it cannot join itself. */
    if (join && pthread_equal(h->watchdog, pthread_self()))
        (void)pthread_detach(h->watchdog);
    else if (join)
        (void)pthread_join(h->watchdog, NULL);
}
