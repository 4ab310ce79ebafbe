/* SPDX-License-Identifier: MIT */
/*
 * Connection limits for peers other than loopback: at most max_connections
 * in all and max_connections_per_ip from one address.  When every remote
 * slot is taken, a connection of the address holding the most (the one
 * that has waited longest without a request being answered) is shut down
 * to make room, so a slowloris or a flood can hold slots only until
 * somebody else (the kubelet) needs one, and loses its own first.
 * Loopback peers (probes inside the container) are not counted here.
 *
 * Used by the HTTP thread only: no locks.  Free of libmicrohttpd types.
 */
#include "health-internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* An open remote connection. */
struct health__conn {
    struct health__conn *prev;
    struct health__conn *next;
    struct in6_addr addr;
    int fd;
    bool busy;        /* a request is being answered */
    bool cut;         /* shut down here; the server closes it next */
    int64_t since_ns; /* opened, or its last answer completed */
};

/* Open connections from one remote address. */
struct peer {
    struct in6_addr addr;
    unsigned count;
};

struct health__limits {
    unsigned max_total;
    unsigned max_per_ip;
    unsigned open; /* remote connections, cut ones included */
    unsigned cut;  /* shut down, not closed yet */
    struct peer *peers;
    size_t n_peers;
    struct health__conn *slots;
    struct health__conn *free_slots;
    struct health__conn *oldest; /* in opening order */
    struct health__conn *newest;
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

/* Room for @slots remote connections: max_connections, plus those shut
 * down but not yet closed when a new one took their place. */
int health__limits_new(struct health__limits **ret, unsigned max_total,
                       unsigned max_per_ip, size_t slots)
{
    struct health__limits *l = calloc(1, sizeof(*l));
    size_t i;

    if (!l)
        return -ENOMEM;
    l->peers = calloc(slots, sizeof(*l->peers));
    l->slots = calloc(slots, sizeof(*l->slots));
    if (!l->peers || !l->slots) {
        health__limits_free(l);
        return -ENOMEM;
    }
    for (i = 0; i + 1 < slots; i++)
        l->slots[i].next = &l->slots[i + 1];
    l->free_slots = l->slots;
    l->max_total = max_total;
    l->max_per_ip = max_per_ip;
    *ret = l;
    return 0;
}

void health__limits_free(struct health__limits *l)
{
    if (!l)
        return;
    free(l->peers);
    free(l->slots);
    free(l);
}

static struct peer *find_peer(struct health__limits *l,
                              const struct in6_addr *a)
{
    size_t i;

    for (i = 0; i < l->n_peers; i++)
        if (memcmp(&l->peers[i].addr, a, sizeof(*a)) == 0)
            return &l->peers[i];
    return NULL;
}

/* The remote address holding the most connections. */
static const struct peer *busiest_peer(const struct health__limits *l)
{
    const struct peer *top = NULL;
    size_t i;

    for (i = 0; i < l->n_peers; i++)
        if (!top || l->peers[i].count > top->count)
            top = &l->peers[i];
    return top;
}

/* The connection waiting longest without an answer, from @a alone when
 * @a is not NULL. */
static struct health__conn *longest_waiting(const struct health__limits *l,
                                            const struct in6_addr *a)
{
    struct health__conn *c;
    struct health__conn *pick = NULL;

    for (c = l->oldest; c; c = c->next) {
        if (c->busy || c->cut || (a && memcmp(&c->addr, a, sizeof(*a)) != 0))
            continue;
        if (!pick || c->since_ns < pick->since_ns)
            pick = c;
    }
    return pick;
}

/* Shuts down a connection to make room: the longest-waiting one of the
 * address that holds the most, so that a flood loses its own connections
 * before a peer with one (the kubelet) loses any; false if none can go. */
static bool evict(struct health__limits *l)
{
    const struct peer *top = busiest_peer(l);
    struct health__conn *pick = top ? longest_waiting(l, &top->addr) : NULL;

    if (!pick)
        pick = longest_waiting(l, NULL);
    if (!pick)
        return false;
    (void)shutdown(pick->fd, SHUT_RDWR);
    pick->cut = true;
    l->cut++;
    return true;
}

bool health__limits_admit(struct health__limits *l, const struct in6_addr *a)
{
    const struct peer *p;

    if (health__is_loopback(a))
        return true;
    p = find_peer(l, a);
    if (p && p->count >= l->max_per_ip)
        return false;
    if (!l->free_slots)
        return false;
    return l->open - l->cut < l->max_total || evict(l);
}

struct health__conn *health__limits_open(struct health__limits *l,
                                         const struct in6_addr *a, int fd)
{
    struct health__conn *c = l->free_slots;
    struct peer *p;

    if (health__is_loopback(a) || !c)
        return NULL;
    l->free_slots = c->next;
    memset(c, 0, sizeof(*c));
    c->addr = *a;
    c->fd = fd;
    c->since_ns = health__mono_ns();
    c->prev = l->newest;
    if (l->newest)
        l->newest->next = c;
    else
        l->oldest = c;
    l->newest = c;
    l->open++;
    p = find_peer(l, a);
    if (!p) {
        p = &l->peers[l->n_peers++];
        p->addr = *a;
        p->count = 0;
    }
    p->count++;
    return c;
}

void health__limits_close(struct health__limits *l, struct health__conn *c)
{
    struct peer *p;

    if (!c)
        return;
    p = find_peer(l, &c->addr);
    if (p && --p->count == 0)
        *p = l->peers[--l->n_peers];
    if (c->cut)
        l->cut--;
    l->open--;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->oldest = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->newest = c->prev;
    c->next = l->free_slots;
    l->free_slots = c;
}

void health__limits_busy(struct health__conn *c, bool busy)
{
    if (!c)
        return;
    c->busy = busy;
    if (!busy)
        c->since_ns = health__mono_ns();
}
