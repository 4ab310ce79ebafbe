/* SPDX-License-Identifier: MIT */
/*
 * The runner: a scheduler thread and a small pool of check threads.
 *
 * The scheduler never runs user code.  It sleeps until the next moment
 * something is due: a check's next run, or the deadline of a run in
 * flight.  Due checks go on the run queue (those due within a short
 * window of each other go together, so checks that share an interval
 * share wakeups); a run past its deadline is recorded as "timed out" at
 * that deadline, whether or not its callback ever returns.
 *
 * Check threads take checks off the queue and run them.  At most one run
 * of a check is in flight: a check is queued only while it is neither
 * queued nor running.  A run that passes its deadline keeps its thread
 * (nothing can take it back) and the pool starts another, so hung checks
 * never hold up the others, up to max_check_threads threads in all; past
 * that, a due check that waits longer than its timeout for a thread is
 * recorded as failed.  When a hung run returns, its thread serves the
 * pool again, or leaves if the pool has enough without it.
 *
 * Check threads and the scheduler hold a reference on the handle, so a
 * hung callback that returns after health_destroy() still finds the lock
 * and its check intact; the last reference frees the handle.
 */
#include "health-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Checks due within this window run together (never more than a
 * twentieth of their interval early). */
#define BATCH_NS (100 * 1000000LL)
/* The scheduler runs no user code: a small stack is plenty. */
#define SCHED_STACK (256u * 1024u)

static int64_t ms_ns(unsigned ms)
{
    return (int64_t)ms * 1000000;
}

void health__check_free(struct health__check *c)
{
    free(c);
}

/* Wakes the scheduler if it sleeps past @when; the lock is held. */
static void poke_scheduler(health_t *h, int64_t when)
{
    if (h->sched_alive && when < h->sched_wake_ns)
        (void)pthread_cond_signal(&h->sched_cond);
}

static void *worker_thread(void *arg);

/* Starts check threads while checks wait and no thread is free: up to
 * check_threads threads that are not hung, and, when a check has waited
 * @urgent (a quarter of its timeout), up to max_check_threads.  The lock
 * is held. */
static void grow_pool(health_t *h, bool urgent)
{
    const struct health__check *c;
    unsigned queued = 0;
    pthread_t t;
    int r;

    for (c = h->runq_head;
         c && queued < h->workers_idle + h->cfg.max_check_threads; c = c->qnext)
        queued++;
    while (queued > h->workers_idle && !h->stopping &&
           h->workers < h->cfg.max_check_threads &&
           (urgent || h->workers - h->workers_hung < h->cfg.check_threads)) {
        r = health__thread_start(&t, worker_thread, h, h->cfg.check_stack_size,
                                 false, "health-check", "");
        if (r < 0) {
            if (h->spawn_failures++ == 0)
                health__log_locked(h,
                                   "cannot start a check thread (%s); %u "
                                   "running",
                                   strerror(-r), h->workers);
            break;
        }
        h->spawn_failures = 0;
        h->workers++;
        h->workers_idle++; /* counted idle until it takes work */
        h->refs++;
    }
}

/* Whether more checks wait than free threads will take. */
static bool backlog(const health_t *h)
{
    const struct health__check *c;
    unsigned queued = 0;

    for (c = h->runq_head; c; c = c->qnext)
        if (++queued > h->workers_idle)
            return true;
    return false;
}

static void enqueue(health_t *h, struct health__check *c)
{
    c->queued = true;
    c->starved = false;
    c->qnext = NULL;
    if (h->runq_tail)
        h->runq_tail->qnext = c;
    else
        h->runq_head = c;
    h->runq_tail = c;
    (void)pthread_cond_signal(&h->pool_cond);
}

static struct health__check *dequeue(health_t *h)
{
    struct health__check *c = h->runq_head;

    if (!c)
        return NULL;
    h->runq_head = c->qnext;
    if (!h->runq_head)
        h->runq_tail = NULL;
    c->qnext = NULL;
    c->queued = false;
    return c;
}

static void unqueue(health_t *h, struct health__check *c)
{
    struct health__check **p;
    struct health__check *prev = NULL;

    if (!c->queued)
        return;
    for (p = &h->runq_head; *p; prev = *p, p = &(*p)->qnext) {
        if (*p == c) {
            *p = c->qnext;
            if (h->runq_tail == c)
                h->runq_tail = prev;
            break;
        }
    }
    c->queued = false;
    c->qnext = NULL;
}

/* Records a stored status change: reports see it, on_change hears it. */
static void changed(health_t *h, struct health__check *c, bool status_changed)
{
    if (c->latest.raw != HEALTH_FAIL && c->latest.raw != HEALTH__PENDING)
        c->passed_once = true; /* warn passes too: it still serves */
    if (status_changed)
        health__notify_change(h, c);
    health__changed(h);
}

/* One run of @c on a check thread; the lock is held on entry and on
 * return, and released around the callback. */
static void run_once(health_t *h, struct health__check *c)
{
    int64_t start = health__mono_ns();
    health_result_t r;
    int status;
    int64_t end;
    bool ch;

    memset(&r, 0, sizeof(r));
    c->running = true;
    c->timed_out = false;
    c->run_start_ns = start;
    h->workers_busy++;
    poke_scheduler(h, start + ms_ns(c->timeout_ms));
    (void)pthread_mutex_unlock(&h->lock);

    status = (int)c->run(&r, c->userdata);

    (void)pthread_mutex_lock(&h->lock);
    end = health__mono_ns();
    h->workers_busy--;
    c->running = false;
    if (c->timed_out)
        h->workers_hung--;
    c->due_ns = start + ms_ns(c->interval_ms);
    if (c->due_ns < end)
        c->due_ns = end;
    poke_scheduler(h, c->due_ns);
    if (c->removed || c->timed_out || h->destroyed)
        return; /* a late or orphaned result is discarded */
    if (end > start + ms_ns(c->timeout_ms))
        ch = health__stored_timeout(&c->latest, &c->damping, c->timeout_ms,
                                    start, end - start - ms_ns(c->timeout_ms));
    else
        ch = health__stored_result(&c->latest, &c->damping, status, &r, start,
                                   end - start);
    changed(h, c, ch);
}

/* Frees a check that was unregistered while it ran, once its run is
 * over; the lock is held on entry and released here. */
static void release_removed(health_t *h, struct health__check *c)
{
    (void)pthread_mutex_unlock(&h->lock);
    if (c->free_data)
        c->free_data(c->userdata);
    health__check_free(c);
    (void)pthread_mutex_lock(&h->lock);
}

static bool surplus(const health_t *h)
{
    return h->stopping || h->destroyed ||
           h->workers - h->workers_hung > h->cfg.check_threads;
}

static void *worker_thread(void *arg)
{
    health_t *h = arg;
    struct health__check *c;

    (void)pthread_mutex_lock(&h->lock);
    h->workers_idle--;
    for (;;) {
        c = h->stopping ? NULL : dequeue(h);
        if (c) {
            run_once(h, c);
            if (c->removed)
                release_removed(h, c);
            continue;
        }
        if (surplus(h))
            break;
        h->workers_idle++;
        (void)pthread_cond_wait(&h->pool_cond, &h->lock);
        h->workers_idle--;
    }
    h->workers--;
    (void)pthread_cond_broadcast(&h->idle_cond);
    health__unref_unlock(h);
    return NULL;
}

/* Records a queued check that found no thread within its timeout,
 * although the pool grew as far as it may; returns when that is due
 * otherwise.  The lock is held. */
static int64_t starve(health_t *h, struct health__check *c, int64_t now)
{
    int64_t when = c->due_ns + ms_ns(c->timeout_ms);

    if (when > now)
        return when;
    if (h->workers < h->cfg.max_check_threads && !h->spawn_failures)
        return now + ms_ns(c->timeout_ms) / 4; /* the pool still grows */
    c->starved = true;
    changed(
        h, c,
        health__stored_starved(&c->latest, &c->damping, h->workers, c->due_ns));
    return INT64_MAX;
}

/* Records every run past its deadline and every queued check that found
 * no thread in time, queues the checks that are due, grows the pool when
 * checks wait, and returns when the next of these is due.  The lock is
 * held. */
static int64_t scan(health_t *h, int64_t now)
{
    struct health__check *c;
    int64_t next = INT64_MAX;
    int64_t grow_next = INT64_MAX;
    bool urgent = false;
    int64_t when;
    int64_t window;

    for (c = h->checks; c; c = c->next) {
        if (c->running) {
            if (c->timed_out)
                continue;
            when = c->run_start_ns + ms_ns(c->timeout_ms);
            if (when <= now) {
                c->timed_out = true;
                h->workers_hung++;
                health__log_locked(h,
                                   "check %s timed out after %u ms; its "
                                   "thread stays with the run until the "
                                   "callback returns",
                                   c->name, c->timeout_ms);
                changed(h, c,
                        health__stored_timeout(&c->latest, &c->damping,
                                               c->timeout_ms, c->run_start_ns,
                                               now - when));
            } else if (when < next) {
                next = when;
            }
        } else if (c->queued) {
            /* Waiting for a thread: the pool grows past check_threads
             * after a quarter of the timeout. */
            when = c->due_ns + ms_ns(c->timeout_ms) / 4;
            if (when <= now)
                urgent = true;
            else if (when < grow_next)
                grow_next = when;
        } else {
            window = ms_ns(c->interval_ms) / 20;
            if (window > BATCH_NS)
                window = BATCH_NS;
            if (c->due_ns - window <= now)
                enqueue(h, c);
            else if (c->due_ns - window < next)
                next = c->due_ns - window;
        }
    }
    grow_pool(h, urgent);
    /* Then a check still waiting after all of its timeout has failed.
     * Until then that moment is also the earliest its run's deadline can
     * be, so the scheduler sleeps no longer. */
    for (c = h->runq_head; c; c = c->qnext) {
        if (c->starved)
            continue;
        when = starve(h, c, now);
        if (when < next)
            next = when;
    }
    if (backlog(h) && grow_next < next)
        next = grow_next;
    return next;
}

static void *scheduler_thread(void *arg)
{
    health_t *h = arg;
    int64_t next;

    (void)pthread_mutex_lock(&h->lock);
    while (!h->sched_stop) {
        next = scan(h, health__mono_ns());
        if (h->sched_stop)
            break;
        h->sched_wake_ns = next;
        health__cond_wait_until(&h->sched_cond, &h->lock, next);
        h->sched_wake_ns = 0;
    }
    (void)pthread_mutex_unlock(&h->lock);
    return NULL;
}

int health__runner_start(health_t *h)
{
    struct health__check *c;
    int64_t now = health__mono_ns();
    int r;

    for (c = h->checks; c; c = c->next)
        if (!c->running && !c->queued)
            c->due_ns = now; /* a start runs every check at once */
    h->sched_stop = false;
    h->sched_wake_ns = 0;
    r = health__thread_start(&h->sched, scheduler_thread, h, SCHED_STACK, true,
                             "health-sched", "");
    if (r < 0)
        return r;
    h->sched_alive = true;
    return 0;
}

void health__runner_stop(health_t *h)
{
    bool join;

    (void)pthread_mutex_lock(&h->lock);
    h->sched_stop = true;
    join = h->sched_alive;
    h->sched_alive = false;
    (void)pthread_cond_signal(&h->sched_cond);
    (void)pthread_cond_broadcast(&h->pool_cond);
    (void)pthread_cond_broadcast(&h->notify_cond);
    while (h->runq_head)
        (void)dequeue(h);
    /* Threads inside user code are not waited for. */
    while (h->workers > h->workers_busy ||
           (h->notifier_alive && !h->notifier_busy))
        (void)pthread_cond_wait(&h->idle_cond, &h->lock);
    (void)pthread_mutex_unlock(&h->lock);
    if (join)
        (void)pthread_join(h->sched, NULL);
}

void health__runner_add(health_t *h, struct health__check *c)
{
    c->due_ns = health__mono_ns();
    poke_scheduler(h, c->due_ns);
}

void health__runner_remove(health_t *h, struct health__check *c)
{
    unqueue(h, c);
    health__notify_forget(h, c);
}
