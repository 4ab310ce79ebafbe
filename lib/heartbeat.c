/* SPDX-License-Identifier: MIT */
/*
 * Heartbeat slots.  A beat must be safe from any thread at any time, even
 * after its heartbeat was unregistered or its handle destroyed (a worker
 * loop still beating while the shutdown path unregisters).  So beats never
 * touch memory that is freed: every heartbeat owns a slot in one
 * process-wide table that only grows, and a heartbeat_t is not a pointer
 * but the slot's index and generation.  A slot's one atomic word holds its
 * current generation beside the last beat's time; a beat is a single
 * compare-and-swap that succeeds only while the generation still matches,
 * so a late beat on a released (or reused) slot changes nothing.
 */
#include "health-internal.h"

#include <errno.h>
#include <stdlib.h>

#define GEN_BITS (sizeof(uintptr_t) >= 8 ? 24u : 12u)
#define GEN_MASK ((1u << GEN_BITS) - 1u)
#define TIME_BITS 40u /* coarse monotonic ms: 34 years of uptime */
#define TIME_MASK ((UINT64_C(1) << TIME_BITS) - 1u)
#define SEG_SLOTS 256u
#define MAX_SEGS 4096u /* a million heartbeats */

struct slot {
    _Atomic uint64_t word; /* generation << TIME_BITS | last beat (ms) */
    uint32_t next_free;    /* index + 1 of the next free slot, 0: none */
};

static _Atomic(struct slot *) segs[MAX_SEGS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static uint32_t n_slots;   /* slots handed out so far */
static uint32_t free_head; /* index + 1 of a released slot, 0: none */

/* The table is the process's, not a handle's: a child that creates a
 * handle of its own after fork() must not find its lock held by a parent
 * thread that no longer exists there.  So fork() waits for the lock. */
static void fork_prepare(void)
{
    (void)pthread_mutex_lock(&table_lock);
}

static void fork_done(void)
{
    (void)pthread_mutex_unlock(&table_lock);
}

static void table_init(void)
{
    (void)pthread_atfork(fork_prepare, fork_done, fork_done);
}

static void table_lock_take(void)
{
    (void)pthread_once(&table_once, table_init);
    (void)pthread_mutex_lock(&table_lock);
}

static struct slot *slot_at(uint32_t idx)
{
    struct slot *seg;

    if (idx / SEG_SLOTS >= MAX_SEGS)
        return NULL;
    seg = atomic_load_explicit(&segs[idx / SEG_SLOTS], memory_order_acquire);
    return seg ? &seg[idx % SEG_SLOTS] : NULL;
}

static bool decode(const health_heartbeat_t *hb, uint32_t *idx, uint32_t *gen)
{
    uintptr_t v = (uintptr_t)hb;

    if (v >> GEN_BITS == 0)
        return false;
    *idx = (uint32_t)((v >> GEN_BITS) - 1);
    *gen = (uint32_t)(v & GEN_MASK);
    return true;
}

static uint64_t pack(uint32_t gen, int64_t ms)
{
    return (uint64_t)gen << TIME_BITS | ((uint64_t)ms & TIME_MASK);
}

/* A fresh slot, or -ENOMEM; table_lock is held. */
static int take_slot(uint32_t *idx)
{
    struct slot *seg;

    if (free_head) {
        *idx = free_head - 1;
        free_head = slot_at(*idx)->next_free;
        return 0;
    }
    if (n_slots / SEG_SLOTS >= MAX_SEGS)
        return -ENOMEM;
    if (n_slots % SEG_SLOTS == 0) {
        seg = calloc(SEG_SLOTS, sizeof(*seg));
        if (!seg)
            return -ENOMEM;
        atomic_store_explicit(&segs[n_slots / SEG_SLOTS], seg,
                              memory_order_release);
    }
    *idx = n_slots++;
    return 0;
}

int health__beat_alloc(health_heartbeat_t **ret)
{
    struct slot *s;
    uint32_t idx;
    uint32_t gen;
    int r;

    table_lock_take();
    r = take_slot(&idx);
    if (r == 0) {
        s = slot_at(idx);
        gen = (uint32_t)(atomic_load(&s->word) >> TIME_BITS) & GEN_MASK;
        atomic_store(&s->word, pack(gen, health__mono_coarse_ms()));
        *ret = (health_heartbeat_t *)((uintptr_t)(idx + 1) << GEN_BITS | gen);
    }
    (void)pthread_mutex_unlock(&table_lock);
    return r;
}

void health__beat_release(health_heartbeat_t *hb)
{
    struct slot *s;
    uint32_t idx;
    uint32_t gen;

    if (!decode(hb, &idx, &gen) || !(s = slot_at(idx)))
        return;
    table_lock_take();
    /* A new generation: beats through the old handle no longer match. */
    atomic_store(&s->word, pack((gen + 1) & GEN_MASK, 0));
    s->next_free = free_head;
    free_head = idx + 1;
    (void)pthread_mutex_unlock(&table_lock);
}

int64_t health__beat_age_ms(const health_heartbeat_t *hb, int64_t now_ms)
{
    const struct slot *s;
    uint32_t idx;
    uint32_t gen;
    uint64_t w;
    int64_t age;

    if (!decode(hb, &idx, &gen) || !(s = slot_at(idx)))
        return 0;
    w = atomic_load_explicit(&s->word, memory_order_relaxed);
    if (((uint32_t)(w >> TIME_BITS) & GEN_MASK) != gen)
        return 0;
    age = (now_ms - (int64_t)(w & TIME_MASK)) & (int64_t)TIME_MASK;
    return age;
}

void health__beat_at(health_heartbeat_t *hb, int64_t ms)
{
    struct slot *s;
    uint32_t idx;
    uint32_t gen;
    uint64_t w;

    if (!decode(hb, &idx, &gen) || !(s = slot_at(idx)))
        return;
    w = atomic_load_explicit(&s->word, memory_order_relaxed);
    if (((uint32_t)(w >> TIME_BITS) & GEN_MASK) != gen)
        return;
    /* Fails only if the slot changed since the load: another beat (as
     * fresh as this one) or a release (then this beat must not land). */
    (void)atomic_compare_exchange_strong_explicit(&s->word, &w, pack(gen, ms),
                                                  memory_order_relaxed,
                                                  memory_order_relaxed);
}

void health_heartbeat_beat(health_heartbeat_t *hb)
{
    health__beat_at(hb, health__mono_coarse_ms());
}
