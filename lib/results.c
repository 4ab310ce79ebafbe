/* SPDX-License-Identifier: MIT */
/*
 * Results: the latest result of each check with its history and counters,
 * flap damping, and the snapshot of all of them that a request reads.
 * The runner stores into a struct health__stored; reports read copies.
 * Callers hold h->lock; nothing here waits or calls user code.
 */
#include "health-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double health__duration_bounds[HEALTH__DURATION_BUCKETS] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

void health__stored_init(struct health__stored *s)
{
    memset(s, 0, sizeof(*s));
    s->state = HEALTH__PENDING;
    s->raw = HEALTH__PENDING;
}

static void count_run(struct health__stats *st, int64_t took_us, bool failed,
                      bool timed_out)
{
    double secs = (double)took_us / 1e6;
    size_t i;

    st->runs++;
    st->failures += failed;
    st->timeouts += timed_out;
    st->duration_sum_s += secs;
    for (i = 0; i < HEALTH__DURATION_BUCKETS; i++)
        if (secs <= health__duration_bounds[i])
            st->le[i]++;
}

/* The status to report after a run whose own status is @raw: a failure
 * is reported once fail_after runs in a row failed (or they have failed
 * for fail_after_ms), a recovery once pass_after runs in a row passed.
 * Until the first report, the first run decides at once. */
static int damped(const struct health__stored *s,
                  const struct health__damping *d, int raw, int64_t now_ns)
{
    if (s->state == HEALTH__PENDING)
        return raw;
    if (raw == HEALTH_FAIL) {
        if (s->state == HEALTH_FAIL)
            return HEALTH_FAIL;
        if (s->fails_in_row >= d->fail_after ||
            (d->fail_after_ms && now_ns - s->failing_since_ns >=
                                     (int64_t)d->fail_after_ms * 1000000))
            return HEALTH_FAIL;
        return s->state;
    }
    if (s->state == HEALTH_FAIL && s->passes_in_row < d->pass_after)
        return HEALTH_FAIL;
    return raw;
}

/* Records a run's outcome: history, counters and the damped status.
 * @start_ns is the run's monotonic start; returns true when the reported
 * status changed. */
static bool record(struct health__stored *s, const struct health__damping *d,
                   int raw, int64_t start_ns, int64_t wall_ms)
{
    int before = s->state;

    s->raw = raw;
    s->time_ms = wall_ms;
    if (raw == HEALTH_FAIL) {
        if (s->fails_in_row++ == 0)
            s->failing_since_ns = start_ns;
        s->passes_in_row = 0;
        s->last_fail_ms = wall_ms;
    } else {
        s->passes_in_row++;
        s->fails_in_row = 0;
        s->last_pass_ms = wall_ms;
    }
    s->state = damped(s, d, raw, start_ns);
    if (s->state == before)
        return false;
    s->since_ms = wall_ms;
    return true;
}

bool health__stored_result(struct health__stored *s,
                           const struct health__damping *d, int status,
                           const health_result_t *r, int64_t start_ns,
                           int64_t took_ns)
{
    s->r = *r;
    s->r.output[sizeof(s->r.output) - 1] = '\0';
    s->r.unit[sizeof(s->r.unit) - 1] = '\0';
    if (status < HEALTH_PASS || status > HEALTH_FAIL) {
        (void)snprintf(s->r.output, sizeof(s->r.output), "invalid status %d",
                       status);
        status = HEALTH_FAIL;
    }
    health__sanitize_text(s->r.output);
    health__sanitize_text(s->r.unit);
    s->duration_us = took_ns / 1000;
    count_run(&s->stats, s->duration_us, status == HEALTH_FAIL, false);
    return record(s, d, status, start_ns, health__wall_ms());
}

bool health__stored_timeout(struct health__stored *s,
                            const struct health__damping *d,
                            unsigned timeout_ms, int64_t start_ns,
                            int64_t late_ns)
{
    memset(&s->r, 0, sizeof(s->r));
    (void)snprintf(s->r.output, sizeof(s->r.output), "timed out after %u ms",
                   timeout_ms);
    s->duration_us = (int64_t)timeout_ms * 1000;
    count_run(&s->stats, s->duration_us, true, true);
    /* Stamped with the deadline, however late the timer was. */
    return record(s, d, HEALTH_FAIL, start_ns,
                  health__wall_ms() - late_ns / 1000000);
}

bool health__stored_starved(struct health__stored *s,
                            const struct health__damping *d, unsigned busy,
                            int64_t due_ns)
{
    memset(&s->r, 0, sizeof(s->r));
    (void)snprintf(s->r.output, sizeof(s->r.output),
                   "not run: all %u check threads are busy", busy);
    s->duration_us = 0;
    count_run(&s->stats, 0, true, false);
    return record(s, d, HEALTH_FAIL, due_ns, health__wall_ms());
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
                           const struct health__heartbeat *hb, int64_t now_ms,
                           int64_t wall_ms)
{
    int64_t age = health__beat_age_ms(hb->handle, now_ms);

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
    const struct health__heartbeat *hb;
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
    const struct health__heartbeat *hb;
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
