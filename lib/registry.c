/* SPDX-License-Identifier: MIT */
/* The registry: which checks and heartbeats exist, and the snapshot of
 * their latest results that a request reads.  Callers hold h->lock. */
#include "health-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool health__name_is_valid(const char *name)
{
    size_t n = 0;

    if (!name)
        return false;
    for (; name[n]; n++) {
        char ch = name[n];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  ch == '_' || ch == '.' || ch == '-';
        if (!ok || n >= HEALTH_NAME_MAX)
            return false;
    }
    return n > 0;
}

struct health__check *health__find_check(const health_t *h, const char *name)
{
    struct health__check *c;

    for (c = h->checks; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

bool health__name_taken(const health_t *h, const char *name)
{
    const struct health_heartbeat *hb;

    if (health__find_check(h, name))
        return true;
    for (hb = h->heartbeats; hb; hb = hb->next)
        if (strcmp(hb->name, name) == 0)
            return true;
    return false;
}

void health__append_check(health_t *h, struct health__check *c)
{
    struct health__check **p = &h->checks;

    while (*p)
        p = &(*p)->next;
    c->next = NULL;
    *p = c;
    atomic_fetch_add(&h->gen, 1);
}

void health__unlink_check(health_t *h, struct health__check *c)
{
    struct health__check **p;

    for (p = &h->checks; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            c->next = NULL;
            break;
        }
    }
    atomic_fetch_add(&h->gen, 1);
}

static int snapshot_reserve(struct health__snapshot *snap, size_t n)
{
    struct health__entry *v;
    size_t cap;

    if (n <= snap->cap)
        return 0;
    cap = snap->cap ? snap->cap : 8;
    while (cap < n)
        cap *= 2;
    v = realloc(snap->v, cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    snap->v = v;
    snap->cap = cap;
    return 0;
}

/* Copies a check; returns when the copy goes stale by time alone: a hung
 * run's report counts the whole seconds it has been running. */
static int64_t snap_check(struct health__entry *e,
                          const struct health__check *c, int64_t now_ns)
{
    int64_t secs;

    memcpy(e->name, c->name, sizeof(e->name));
    e->flags = c->flags;
    e->heartbeat = false;
    e->passed_once = c->passed_once;
    e->s = c->latest;
    e->stuck_s = -1;
    if (!c->running || !c->timed_out)
        return INT64_MAX;
    secs = (now_ns - c->run_start_ns) / 1000000000;
    e->stuck_s = secs;
    return c->run_start_ns + (secs + 1) * 1000000000;
}

static void snap_heartbeat(struct health__entry *e,
                           const struct health_heartbeat *hb, int64_t now_ms,
                           int64_t wall_ms)
{
    int64_t age =
        now_ms - atomic_load_explicit(&hb->last_ms, memory_order_relaxed);

    if (age < 0)
        age = 0;
    memset(e, 0, sizeof(*e));
    memcpy(e->name, hb->name, sizeof(e->name));
    e->flags = HEALTH_CHECK_LIVE;
    e->heartbeat = true;
    e->passed_once = true;
    e->stuck_s = -1;
    e->s.state = age > hb->deadline_ms ? HEALTH_FAIL : HEALTH_PASS;
    e->s.time_ms = wall_ms;
    e->s.r.has_observed = true;
    e->s.r.observed = (double)age;
    memcpy(e->s.r.unit, "ms", 3);
    if (e->s.state == HEALTH_FAIL)
        (void)snprintf(e->s.r.output, sizeof(e->s.r.output),
                       "no beat for %lld ms (deadline %u ms)", (long long)age,
                       hb->deadline_ms);
}

static size_t count_entries(const health_t *h)
{
    const struct health__check *c;
    const struct health_heartbeat *hb;
    size_t n = 0;

    for (c = h->checks; c; c = c->next)
        n++;
    for (hb = h->heartbeats; hb; hb = hb->next)
        n++;
    return n;
}

static bool startup_complete(const health_t *h)
{
    const struct health__check *c;

    if ((h->cfg.flags & HEALTH_OPT_MANUAL_STARTUP) && !h->startup_called)
        return false;
    for (c = h->checks; c; c = c->next)
        if ((c->flags & HEALTH_CHECK_STARTUP) && !c->passed_once)
            return false;
    return true;
}

/* Copies what reports need; the caller holds h->lock. */
int health__snapshot_take(health_t *h, struct health__snapshot *snap)
{
    const struct health__check *c;
    const struct health_heartbeat *hb;
    int64_t now_ns = health__mono_ns();
    int64_t wall_ms = health__wall_ms();
    int64_t coarse_ms = health__mono_coarse_ms();

    if (snapshot_reserve(snap, count_entries(h)) < 0)
        return -ENOMEM;
    snap->gen = atomic_load(&h->gen);
    snap->n = 0;
    /* A heartbeat's age is reported to the millisecond. */
    snap->expires_ns = h->heartbeats ? now_ns + 1000000 : INT64_MAX;
    for (c = h->checks; c; c = c->next) {
        int64_t expires = snap_check(&snap->v[snap->n++], c, now_ns);
        if (expires < snap->expires_ns)
            snap->expires_ns = expires;
    }
    for (hb = h->heartbeats; hb; hb = hb->next)
        snap_heartbeat(&snap->v[snap->n++], hb, coarse_ms, wall_ms);
    snap->startup_complete = startup_complete(h);
    snap->shutting_down = h->shutting_down;
    return 0;
}

void health__snapshot_fini(struct health__snapshot *snap)
{
    free(snap->v);
    memset(snap, 0, sizeof(*snap));
}
