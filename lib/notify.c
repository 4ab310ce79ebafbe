/* SPDX-License-Identifier: MIT */
/*
 * The notifier: the one thread on which on_change and log callbacks run,
 * one at a time, in the order the events happened.  Nothing that records
 * results or timeouts, and no HTTP thread, ever waits for user code here.
 *
 * A status change queues its check (once: a check already queued is not
 * queued again), and the notifier reports the check's status as it is
 * when delivered.  So while a callback blocks, further changes of one
 * check collapse into its latest status, memory stays bounded by the
 * number of checks, and the last status a service is told is the
 * current one.  Log lines wait in a bounded ring; when it is full the
 * oldest are dropped and the next line delivered says how many.
 *
 * The notifier holds a reference on the handle.  It is never joined: a
 * stop waits for it only while it is idle, and a callback that blocks
 * keeps it (and the handle's memory) alive until the callback returns.
 */
#include "health-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_LINES 64
#define LOG_LINE_MAX 256

struct health__log_ring {
    char line[LOG_LINES][LOG_LINE_MAX];
    unsigned head; /* next to deliver */
    unsigned count;
    unsigned dropped; /* lines lost since the last delivered one */
};

int health__notify_init(health_t *h)
{
    if (!h->cfg.log)
        return 0;
    h->logs = calloc(1, sizeof(*h->logs));
    return h->logs ? 0 : -ENOMEM;
}

void health__notify_fini(health_t *h)
{
    free(h->logs);
    h->logs = NULL;
}

static bool has_work(const health_t *h)
{
    return h->notq_head || (h->logs && h->logs->count);
}

void health__notify_change(health_t *h, struct health__check *c)
{
    if (!h->cfg.on_change || c->notify_queued || h->destroyed)
        return;
    c->notify_queued = true;
    c->nnext = NULL;
    if (h->notq_tail)
        h->notq_tail->nnext = c;
    else
        h->notq_head = c;
    h->notq_tail = c;
    (void)pthread_cond_signal(&h->notify_cond);
}

void health__notify_forget(health_t *h, struct health__check *c)
{
    struct health__check **p;
    struct health__check *prev = NULL;

    if (!c->notify_queued)
        return;
    for (p = &h->notq_head; *p; prev = *p, p = &(*p)->nnext) {
        if (*p == c) {
            *p = c->nnext;
            if (h->notq_tail == c)
                h->notq_tail = prev;
            break;
        }
    }
    c->notify_queued = false;
    c->nnext = NULL;
}

void health__notify_drop(health_t *h)
{
    while (h->notq_head)
        health__notify_forget(h, h->notq_head);
    if (h->logs)
        h->logs->count = 0;
}

static void log_v(health_t *h, const char *fmt, va_list ap) HEALTH_PRINTF(2, 0);

static void log_v(health_t *h, const char *fmt, va_list ap)
{
    struct health__log_ring *l = h->logs;
    char *dst;

    if (!l || h->destroyed)
        return;
    if (l->count == LOG_LINES) { /* full: the oldest goes */
        l->head = (l->head + 1) % LOG_LINES;
        l->count--;
        l->dropped++;
    }
    dst = l->line[(l->head + l->count) % LOG_LINES];
    (void)vsnprintf(dst, LOG_LINE_MAX, fmt, ap);
    health__sanitize_text(dst);
    l->count++;
    (void)pthread_cond_signal(&h->notify_cond);
}

void health__log_locked(health_t *h, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_v(h, fmt, ap);
    va_end(ap);
}

void health__log(health_t *h, const char *fmt, ...)
{
    va_list ap;

    if (!h->logs)
        return;
    (void)pthread_mutex_lock(&h->lock);
    va_start(ap, fmt);
    log_v(h, fmt, ap);
    va_end(ap);
    (void)pthread_mutex_unlock(&h->lock);
}

/* Delivers the next event; the lock is held on entry and on return, and
 * released around the callback. */
static void deliver_one(health_t *h)
{
    struct health__log_ring *l = h->logs;
    struct health__check *c = h->notq_head;
    char name[HEALTH_NAME_MAX + 1];
    char text[HEALTH_OUTPUT_MAX + LOG_LINE_MAX];
    int state;

    if (c) {
        health__notify_forget(h, c);
        state = c->latest.state;
        if (state == c->notified || state == HEALTH__PENDING)
            return; /* changed and changed back before delivery */
        c->notified = state;
        memcpy(name, c->name, sizeof(name));
        memcpy(text, c->latest.r.output, sizeof(c->latest.r.output));
        h->notifier_busy = true;
        (void)pthread_mutex_unlock(&h->lock);
        h->cfg.on_change(name, (health_status_t)state, text,
                         h->cfg.on_change_userdata);
    } else {
        if (l->dropped)
            (void)snprintf(text, sizeof(text), "(%u log lines dropped) %s",
                           l->dropped, l->line[l->head]);
        else
            (void)snprintf(text, sizeof(text), "%s", l->line[l->head]);
        l->dropped = 0;
        l->head = (l->head + 1) % LOG_LINES;
        l->count--;
        h->notifier_busy = true;
        (void)pthread_mutex_unlock(&h->lock);
        h->cfg.log(text, h->cfg.log_userdata);
    }
    (void)pthread_mutex_lock(&h->lock);
    h->notifier_busy = false;
}

static void *notifier_thread(void *arg)
{
    health_t *h = arg;

    (void)pthread_mutex_lock(&h->lock);
    /* Events still queued at a stop wait for a restart; destroy drops
     * them. */
    while (!h->stopping && !h->destroyed) {
        if (has_work(h))
            deliver_one(h);
        else
            (void)pthread_cond_wait(&h->notify_cond, &h->lock);
    }
    h->notifier_alive = false;
    (void)pthread_cond_broadcast(&h->idle_cond);
    health__unref_unlock(h);
    return NULL;
}

int health__notify_start(health_t *h)
{
    pthread_t t;
    int r;

    if (h->notifier_alive || (!h->cfg.on_change && !h->cfg.log))
        return 0;
    r = health__thread_start(&t, notifier_thread, h, h->cfg.check_stack_size,
                             false, "health-notify", "");
    if (r < 0)
        return r;
    h->notifier_alive = true;
    h->refs++;
    return 0;
}
