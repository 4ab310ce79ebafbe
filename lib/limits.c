/* SPDX-License-Identifier: MIT */
/*
 * Connection slots, the same rules for every peer, loopback included: at
 * most max_total open connections and max_per_ip from one address.
 *
 * - A connection from an address that already holds max_per_ip takes the
 *   place of that address's longest-waiting idle connection (refused if it
 *   has none), so one address can never hold more.
 * - When all max_total slots are taken, the longest-waiting idle
 *   connection of the address holding the most is shut down to make room
 *   (of any address if that one has none idle).  A flood or a slowloris,
 *   from any single address, loopback or not, loses its own connections
 *   first and never locks other peers out.
 *
 * "Idle" is every state but answering a request: a connection waiting
 * for (or trickling) its next request.  A connection shut down here is
 * closed by the thread holding it on its next pass; until then it still holds a
 * socket, so at most max_total + headroom are open at once.
 *
 * Memory: one record per connection and per address, allocated when the
 * number open reaches a new high and then reused; an address table and a
 * heap that double when full.  Everything is bounded by max_total +
 * headroom.  Every operation is O(1) but the heap's O(log addresses).
 *
 * Shared by the front thread and libmicrohttpd's: every entry point
 * takes the lock, held for O(1) or O(log) work, never across I/O but the
 * shutdown() of a cut.  Free of libmicrohttpd types.
 */
#include "health-internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum conn_state {
    CONN_FREE,
    CONN_IDLE, /* on its address's and on the global idle list */
    CONN_BUSY, /* answering a request */
    CONN_CUT   /* shut down here; libmicrohttpd closes it next */
};

struct peer;

struct health__conn {
    struct health__limits *l;
    struct peer *peer;
    struct health__conn *prev; /* its address's idle list, oldest first */
    struct health__conn *next;
    struct health__conn *gprev; /* the global idle list, oldest first */
    struct health__conn *gnext;
    struct health__conn *all; /* every record, for freeing */
    int fd;
    enum conn_state state;
};

/* The open connections of one address. */
struct peer {
    struct in6_addr addr;
    unsigned count;   /* open, cut ones included */
    unsigned live;    /* of which not cut: the heap's key */
    size_t heap_pos;  /* index in l->heap */
    struct peer *all; /* every record, for freeing */
    struct peer *next_free;
    struct health__conn *idle_head;
    struct health__conn *idle_tail;
};

struct health__limits {
    pthread_mutex_t lock;
    unsigned max_total;
    unsigned max_per_ip;
    unsigned headroom;
    unsigned open; /* connections, cut ones included */
    unsigned cut;  /* shut down, not closed yet */
    uint64_t seed; /* of the address hash */

    struct health__conn *all_conns;
    struct health__conn *free_conns;
    struct peer *all_peers;
    struct peer *free_peers;

    struct peer **table; /* open addressing, linear probing */
    size_t table_cap;    /* a power of two, or 0 */
    size_t n_peers;
    struct peer **heap; /* the address with the most live ones first */
    size_t heap_cap;

    struct health__conn *idle_head; /* every idle connection */
    struct health__conn *idle_tail;
};

/* Maps an address to IPv6 form (IPv4 as ::ffff:a.b.c.d). */
bool health__peer_addr(const struct sockaddr *sa, struct in6_addr *out)
{
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET6) {
        *out = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        return true;
    }
    if (sa->sa_family != AF_INET)
        return false;
    memset(out, 0, sizeof(*out));
    out->s6_addr[10] = 0xff;
    out->s6_addr[11] = 0xff;
    memcpy(&out->s6_addr[12],
           &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    return true;
}

bool health__is_loopback(const struct in6_addr *a)
{
    return IN6_IS_ADDR_LOOPBACK(a) ||
           (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static uint64_t mix(uint64_t v)
{
    v ^= v >> 30;
    v *= 0xbf58476d1ce4e5b9u;
    v ^= v >> 27;
    v *= 0x94d049bb133111ebu;
    return v ^ (v >> 31);
}

/* Keyed, so that peers cannot pick addresses that collide. */
static size_t slot_of(const struct health__limits *l, const struct in6_addr *a)
{
    uint64_t x;
    uint64_t y;

    memcpy(&x, &a->s6_addr[0], 8);
    memcpy(&y, &a->s6_addr[8], 8);
    return (size_t)(mix(mix(x ^ l->seed) ^ y) & (l->table_cap - 1));
}

int health__limits_new(struct health__limits **ret, unsigned max_total,
                       unsigned max_per_ip, unsigned headroom)
{
    struct health__limits *l = calloc(1, sizeof(*l));

    if (!l)
        return -ENOMEM;
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        free(l);
        return -ENOMEM;
    }
    l->max_total = max_total;
    l->max_per_ip = max_per_ip;
    l->headroom = headroom;
    l->seed = mix((uint64_t)health__mono_ns() ^ (uint64_t)(uintptr_t)l ^
                  (uint64_t)health__wall_ms() << 20);
    *ret = l;
    return 0;
}

void health__limits_free(struct health__limits *l)
{
    struct health__conn *c;
    struct peer *p;

    if (!l)
        return;
    while ((c = l->all_conns)) {
        l->all_conns = c->all;
        free(c);
    }
    while ((p = l->all_peers)) {
        l->all_peers = p->all;
        free(p);
    }
    free(l->table);
    free(l->heap);
    (void)pthread_mutex_destroy(&l->lock);
    free(l);
}

static struct peer *find_peer(const struct health__limits *l,
                              const struct in6_addr *a)
{
    size_t i;

    if (!l->table_cap)
        return NULL;
    for (i = slot_of(l, a); l->table[i]; i = (i + 1) & (l->table_cap - 1))
        if (memcmp(&l->table[i]->addr, a, sizeof(*a)) == 0)
            return l->table[i];
    return NULL;
}

static void table_put(struct health__limits *l, struct peer *p)
{
    size_t i = slot_of(l, &p->addr);

    while (l->table[i])
        i = (i + 1) & (l->table_cap - 1);
    l->table[i] = p;
}

/* Removes @p, shifting back the entries that probed past its slot. */
static void table_del(struct health__limits *l, const struct peer *p)
{
    size_t mask = l->table_cap - 1;
    size_t i = slot_of(l, &p->addr);
    size_t j;

    while (l->table[i] != p)
        i = (i + 1) & mask;
    for (j = (i + 1) & mask; l->table[j]; j = (j + 1) & mask) {
        size_t home = slot_of(l, &l->table[j]->addr);
        /* Move j to the hole at i unless its home lies in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            l->table[i] = l->table[j];
            i = j;
        }
    }
    l->table[i] = NULL;
}

/* Makes room in the table for one more address (at most half full). */
static int table_reserve(struct health__limits *l)
{
    struct peer **old = l->table;
    size_t old_cap = l->table_cap;
    size_t cap = old_cap ? old_cap * 2 : 16;
    size_t i;

    if ((l->n_peers + 1) * 2 <= old_cap)
        return 0;
    l->table = calloc(cap, sizeof(*l->table));
    if (!l->table) {
        l->table = old;
        return -ENOMEM;
    }
    l->table_cap = cap;
    for (i = 0; i < old_cap; i++)
        if (old[i])
            table_put(l, old[i]);
    free(old);
    return 0;
}

static void heap_set(struct health__limits *l, size_t i, struct peer *p)
{
    l->heap[i] = p;
    p->heap_pos = i;
}

static void heap_up(struct health__limits *l, size_t i)
{
    struct peer *p = l->heap[i];

    while (i > 0 && l->heap[(i - 1) / 2]->live < p->live) {
        heap_set(l, i, l->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(l, i, p);
}

static void heap_down(struct health__limits *l, size_t i)
{
    struct peer *p = l->heap[i];
    size_t n = l->n_peers;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && l->heap[c + 1]->live > l->heap[c]->live)
            c++;
        if (l->heap[c]->live <= p->live)
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, p);
}

static int heap_reserve(struct health__limits *l)
{
    struct peer **v;
    size_t cap;

    if (l->n_peers + 1 <= l->heap_cap)
        return 0;
    cap = l->heap_cap ? l->heap_cap * 2 : 16;
    v = realloc(l->heap, cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    l->heap = v;
    l->heap_cap = cap;
    return 0;
}

/* Records for one more connection and, when @a is new, one more address,
 * so that health__limits_open() cannot fail. */
static int reserve(struct health__limits *l, bool new_peer)
{
    struct health__conn *c;
    struct peer *p;

    if (!l->free_conns) {
        c = calloc(1, sizeof(*c));
        if (!c)
            return -ENOMEM;
        c->all = l->all_conns;
        l->all_conns = c;
        c->next = NULL;
        l->free_conns = c;
    }
    if (!new_peer)
        return 0;
    if (!l->free_peers) {
        p = calloc(1, sizeof(*p));
        if (!p)
            return -ENOMEM;
        p->all = l->all_peers;
        l->all_peers = p;
        l->free_peers = p;
    }
    if (table_reserve(l) < 0 || heap_reserve(l) < 0)
        return -ENOMEM;
    return 0;
}

static void idle_push(struct health__limits *l, struct health__conn *c)
{
    struct peer *p = c->peer;

    c->state = CONN_IDLE;
    c->next = NULL;
    c->prev = p->idle_tail;
    if (p->idle_tail)
        p->idle_tail->next = c;
    else
        p->idle_head = c;
    p->idle_tail = c;
    c->gnext = NULL;
    c->gprev = l->idle_tail;
    if (l->idle_tail)
        l->idle_tail->gnext = c;
    else
        l->idle_head = c;
    l->idle_tail = c;
}

static void idle_unlink(struct health__limits *l, struct health__conn *c)
{
    struct peer *p = c->peer;

    if (c->prev)
        c->prev->next = c->next;
    else
        p->idle_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        p->idle_tail = c->prev;
    if (c->gprev)
        c->gprev->gnext = c->gnext;
    else
        l->idle_head = c->gnext;
    if (c->gnext)
        c->gnext->gprev = c->gprev;
    else
        l->idle_tail = c->gprev;
    c->prev = c->next = c->gprev = c->gnext = NULL;
}

/* Shuts down the idle connection @c to make room. */
static void cut(struct health__limits *l, struct health__conn *c)
{
    idle_unlink(l, c);
    if (c->fd >= 0) /* else when it gets one (health__limits_set_fd()) */
        (void)shutdown(c->fd, SHUT_RDWR);
    c->state = CONN_CUT;
    l->cut++;
    c->peer->live--;
    heap_down(l, c->peer->heap_pos);
}

/* The longest-waiting idle connection of the address holding the most,
 * else of anyone; false when every connection is answering a request. */
static bool evict(struct health__limits *l)
{
    struct health__conn *c = NULL;

    if (l->n_peers)
        c = l->heap[0]->idle_head;
    if (!c)
        c = l->idle_head;
    if (!c)
        return false;
    cut(l, c);
    return true;
}

static bool admit(struct health__limits *l, const struct in6_addr *a)
{
    struct peer *p = find_peer(l, a);

    if (l->open >= l->max_total + l->headroom)
        return false; /* sockets shut down here are not closed yet */
    if (reserve(l, !p) < 0)
        return false;
    if (p && p->live >= l->max_per_ip) {
        if (!p->idle_head)
            return false;
        cut(l, p->idle_head);
        return true;
    }
    return l->open - l->cut < l->max_total || evict(l);
}

static struct health__conn *conn_open(struct health__limits *l,
                                      const struct in6_addr *a, int fd)
{
    struct peer *p = find_peer(l, a);
    struct health__conn *c;

    if (reserve(l, !p) < 0)
        return NULL;
    if (!p) {
        p = l->free_peers;
        l->free_peers = p->next_free;
        p->addr = *a;
        p->count = p->live = 0;
        p->idle_head = p->idle_tail = NULL;
        table_put(l, p);
        l->heap[l->n_peers] = p;
        p->heap_pos = l->n_peers++;
    }
    c = l->free_conns;
    l->free_conns = c->next;
    c->l = l;
    c->peer = p;
    c->fd = fd;
    idle_push(l, c);
    p->count++;
    p->live++;
    heap_up(l, p->heap_pos);
    l->open++;
    return c;
}

static void conn_close(struct health__limits *l, struct health__conn *c)
{
    struct peer *p;
    struct peer *last;

    if (!c)
        return;
    p = c->peer;
    if (c->state == CONN_IDLE)
        idle_unlink(l, c);
    if (c->state == CONN_CUT) {
        l->cut--;
    } else {
        p->live--;
        heap_down(l, p->heap_pos);
    }
    l->open--;
    c->state = CONN_FREE;
    c->peer = NULL;
    c->next = l->free_conns;
    l->free_conns = c;
    if (--p->count > 0)
        return;
    table_del(l, p);
    last = l->heap[--l->n_peers];
    if (last != p) {
        heap_set(l, p->heap_pos, last);
        heap_up(l, last->heap_pos);
        heap_down(l, last->heap_pos);
    }
    p->next_free = l->free_peers;
    l->free_peers = p;
}

static void conn_busy(struct health__conn *c, bool busy)
{
    if (!c)
        return;
    if (busy && c->state == CONN_IDLE) {
        idle_unlink(c->l, c);
        c->state = CONN_BUSY;
    } else if (!busy && c->state == CONN_BUSY) {
        idle_push(c->l, c);
    }
}

bool health__limits_admit(struct health__limits *l, const struct in6_addr *a)
{
    bool r;

    (void)pthread_mutex_lock(&l->lock);
    r = admit(l, a);
    (void)pthread_mutex_unlock(&l->lock);
    return r;
}

struct health__conn *health__limits_open(struct health__limits *l,
                                         const struct in6_addr *a, int fd)
{
    struct health__conn *c;

    (void)pthread_mutex_lock(&l->lock);
    c = conn_open(l, a, fd);
    (void)pthread_mutex_unlock(&l->lock);
    return c;
}

void health__limits_close(struct health__limits *l, struct health__conn *c)
{
    if (!c)
        return;
    (void)pthread_mutex_lock(&l->lock);
    conn_close(l, c);
    (void)pthread_mutex_unlock(&l->lock);
}

void health__limits_busy(struct health__conn *c, bool busy)
{
    struct health__limits *l;

    if (!c)
        return;
    l = c->l;
    (void)pthread_mutex_lock(&l->lock);
    conn_busy(c, busy);
    (void)pthread_mutex_unlock(&l->lock);
}

void health__limits_set_fd(struct health__conn *c, int fd)
{
    struct health__limits *l;

    if (!c)
        return;
    l = c->l;
    (void)pthread_mutex_lock(&l->lock);
    c->fd = fd;
    if (fd >= 0 && c->state == CONN_CUT)
        (void)shutdown(fd, SHUT_RDWR);
    (void)pthread_mutex_unlock(&l->lock);
}

bool health__limits_full(struct health__limits *l)
{
    bool full;

    (void)pthread_mutex_lock(&l->lock);
    full = l->open >= l->max_total + l->headroom;
    (void)pthread_mutex_unlock(&l->lock);
    return full;
}
