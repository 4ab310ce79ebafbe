/* SPDX-License-Identifier: MIT */
/*
 * fuzz_limits: lib/limits.c's slot bookkeeping against a reference model,
 * over a sequence of accepts, closes and requests taken from the input.
 *
 * Small limits (1..16 slots, 1..8 per address, a headroom of 1..4) and 12
 * addresses (IPv4, IPv6, loopback alike).  Each connection's descriptor is
 * one end of a socketpair, so that a shutdown by the library shows on the
 * other end.  Checks, after every operation: health__limits_admit() says
 * yes exactly when the model does; when it makes room it shuts down
 * exactly one connection, and the right one: the address's own
 * longest-idle one when the address is at max_per_ip, else the
 * longest-idle one of an address holding the most live connections or,
 * when the one picked among those has none idle, of anyone; nothing else is
 * ever shut down; health__limits_open() never fails after a yes.  Memory is
 * LeakSanitizer's to check.
 */
#define _GNU_SOURCE

#include "health-internal.h"
#include "fuzz-util.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ADDRS 12
#define CONNS 64

enum st {
    FREE,
    IDLE,
    BUSY,
    CUT
};

struct mconn {
    enum st st;
    int addr;
    uint64_t idle_seq; /* when it last became idle */
    int fd[2];         /* [0]: the library's, [1]: the peer's */
    struct health__conn *c;
};

static struct mconn m[CONNS];
static struct in6_addr addrs[ADDRS];
static uint64_t seq;

static void make_addrs(void)
{
    int i;

    for (i = 0; i < ADDRS; i++) {
        memset(&addrs[i], 0, sizeof(addrs[i]));
        if (i % 3 == 0) { /* 127.0.0.x */
            addrs[i].s6_addr[10] = addrs[i].s6_addr[11] = 0xff;
            addrs[i].s6_addr[12] = 127;
            addrs[i].s6_addr[15] = (uint8_t)(1 + i);
        } else if (i % 3 == 1) { /* 192.0.2.x */
            addrs[i].s6_addr[10] = addrs[i].s6_addr[11] = 0xff;
            addrs[i].s6_addr[12] = 192;
            addrs[i].s6_addr[14] = 2;
            addrs[i].s6_addr[15] = (uint8_t)i;
        } else { /* 2001:db8::x */
            addrs[i].s6_addr[0] = 0x20;
            addrs[i].s6_addr[1] = 0x01;
            addrs[i].s6_addr[2] = 0x0d;
            addrs[i].s6_addr[3] = 0xb8;
            addrs[i].s6_addr[15] = (uint8_t)i;
        }
    }
}

/* Whether the peer end of @k sees the library's shutdown. */
static bool was_cut(const struct mconn *k)
{
    struct pollfd p = { .fd = k->fd[1], .events = POLLIN };

    return poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP));
}

static int live_of(int a)
{
    int n = 0;
    int i;

    for (i = 0; i < CONNS; i++)
        n += (m[i].st == IDLE || m[i].st == BUSY) && m[i].addr == a;
    return n;
}

/* The longest-idle connection of @a (-1: of anyone), or -1. */
static int oldest_idle(int a)
{
    int pick = -1;
    int i;

    for (i = 0; i < CONNS; i++)
        if (m[i].st == IDLE && (a < 0 || m[i].addr == a) &&
            (pick < 0 || m[i].idle_seq < m[pick].idle_seq))
            pick = i;
    return pick;
}

static void release(struct mconn *k)
{
    close(k->fd[0]);
    close(k->fd[1]);
    memset(k, 0, sizeof(*k));
}

/* Every connection not marked CUT must still be whole. */
static void check_nothing_cut(void)
{
    int i;

    for (i = 0; i < CONNS; i++)
        if (m[i].st == IDLE || m[i].st == BUSY)
            FUZZ_CHECK(!was_cut(&m[i]));
}

static void op_accept(struct health__limits *l, int a, unsigned max_total,
                      unsigned per_ip, unsigned headroom)
{
    int open = 0;
    int cut = 0;
    int slot = -1;
    int want_cut = -1;
    int top = 0;
    bool want;
    bool got;
    int i;

    for (i = 0; i < CONNS; i++) {
        open += m[i].st != FREE;
        cut += m[i].st == CUT;
        if (m[i].st == FREE && slot < 0)
            slot = i;
    }
    if (slot < 0)
        return;
    for (i = 0; i < ADDRS; i++)
        if (live_of(i) > top)
            top = live_of(i);
    if ((unsigned)open >= max_total + headroom) {
        want = false;
    } else if ((unsigned)live_of(a) >= per_ip) {
        want_cut = oldest_idle(a);
        want = want_cut >= 0;
    } else if ((unsigned)(open - cut) < max_total) {
        want = true;
    } else {
        want_cut = oldest_idle(-1);
        want = want_cut >= 0;
    }
    got = health__limits_admit(l, &addrs[a]);
    FUZZ_CHECK(got == want);
    if (want_cut >= 0 && (unsigned)live_of(a) < per_ip) {
        int victim = -1;
        for (i = 0; i < CONNS; i++)
            if (m[i].st == IDLE && was_cut(&m[i]))
                victim = i;
        FUZZ_CHECK(victim >= 0);
        /* The longest-idle one of an address holding the most, or (when
         * the address picked among those has none idle) of anyone. */
        FUZZ_CHECK((live_of(m[victim].addr) == top &&
                    victim == oldest_idle(m[victim].addr)) ||
                   victim == want_cut);
        want_cut = victim;
    }
    if (want_cut >= 0) {
        FUZZ_CHECK(was_cut(&m[want_cut]));
        m[want_cut].st = CUT;
    }
    check_nothing_cut();
    if (!got)
        return;
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, m[slot].fd) ==
               0);
    m[slot].c = health__limits_open(l, &addrs[a], m[slot].fd[0]);
    FUZZ_CHECK(m[slot].c != NULL);
    m[slot].st = IDLE;
    m[slot].addr = a;
    m[slot].idle_seq = ++seq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = { data, size };
    struct health__limits *l;
    unsigned max_total = 1 + fuzz_u8(&in) % 16;
    unsigned per_ip = 1 + fuzz_u8(&in) % 8;
    unsigned headroom = 1 + fuzz_u8(&in) % 4;
    int steps = 0;
    int i;

    if (addrs[0].s6_addr[12] != 127)
        make_addrs();
    memset(m, 0, sizeof(m));
    if (health__limits_new(&l, max_total, per_ip, headroom) < 0)
        return 0;
    while (in.n > 0 && steps++ < 512) {
        uint8_t op = fuzz_u8(&in);
        int k = fuzz_u8(&in) % CONNS;

        switch (op % 4) {
        case 0:
        case 1:
            op_accept(l, (op >> 2) % ADDRS, max_total, per_ip, headroom);
            break;
        case 2: /* the server closes it (a cut one, or the peer left) */
            if (m[k].st == FREE)
                break;
            health__limits_close(l, m[k].c);
            release(&m[k]);
            break;
        default: /* a request starts or completes */
            if (m[k].st == IDLE) {
                health__limits_busy(m[k].c, true);
                m[k].st = BUSY;
            } else if (m[k].st == BUSY) {
                health__limits_busy(m[k].c, false);
                m[k].st = IDLE;
                m[k].idle_seq = ++seq;
            }
            break;
        }
    }
    for (i = 0; i < CONNS; i++) {
        if (m[i].st == FREE)
            continue;
        health__limits_close(l, m[i].c);
        release(&m[i]);
    }
    health__limits_free(l);
    return 0;
}
