/* SPDX-License-Identifier: MIT */
/*
 * The front thread: it owns the listening socket, accepts every
 * connection and answers the plain probe request (request.c) itself,
 * keep-alive included, from memory it allocated before: no allocation
 * per connection or per request.  Everything else (other methods, query
 * strings, per-check paths, /metrics, the text form, malformed or
 * trickled requests) is handed, unread, to libmicrohttpd.
 *
 * Why: on a host whose own threads contend for the allocator, every
 * malloc() can wait on a glibc arena lock for seconds, and
 * libmicrohttpd allocates per connection (the connection, its memory
 * pool) and per turn of its poll loop.  The kubelet's deadline is one
 * second.  The front path also answers in one wake-up when the request
 * is already there at accept, which is what a CPU-saturated host needs.
 *
 * The hand-over runs on its own thread, because libmicrohttpd allocates
 * in the caller of MHD_add_connection(): a queue of fixed size, filled
 * here without allocating, drained there.  A connection is admitted once,
 * here, and its record in the limits goes with it: from accept to close
 * it is counted, wherever it is.
 *
 * Connections wait here between requests; a connection that sends part
 * of a request goes to libmicrohttpd, which reads it at its pace under
 * its limits.  The connection limits (limits.c) are shared with
 * libmicrohttpd's side: a connection is counted on the side holding it.
 */
#define _GNU_SOURCE /* memmem, accept4 */

#include "health-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FRONT_STACK (256u * 1024u)
/* Connections accepted per pass, so waiting ones are served too. */
#define ACCEPT_BATCH 32
/* Requests answered per connection per pass (pipelining). */
#define PIPELINE_BATCH 8
/* While the limits are full, how often the front looks again. */
#define FULL_RECHECK_NS 10000000
/* After EMFILE and the like, how long the listener rests. */
#define ACCEPT_BACKOFF_NS 100000000
/* The time slice the front thread asks for (short_slice()). */
#define FRONT_SLICE_NS 100000u
#define CONTENT_TYPE "application/health+json"
#define OOM_BODY "{\"status\":\"fail\",\"output\":\"out of memory\"}"

struct slot {
    int fd; /* -1: free */
    struct health__conn *lc;
    struct in6_addr peer;
    bool local_loopback;
    int64_t idle_deadline_ns;
    struct sockaddr_storage sa;
    socklen_t sa_len;
};

struct handoff {
    int fd;
    struct health__conn *lc; /* its record in the limits, handed over too */
    struct sockaddr_storage sa;
    socklen_t sa_len;
};

struct answer {
    struct health__buf body;
    unsigned code;
    uint64_t gen;
    int64_t expires_ns;
    bool valid;
};

struct health__front {
    health_t *h;
    int listen_fd;
    int wake_fd;
    struct health__limits *limits;
    health__handoff_fn *handoff;
    void *handoff_ctx;
    _Atomic bool stop;

    /* The front thread's own. */
    unsigned cap;
    struct slot *slots;
    unsigned *free_slots; /* a stack of free slot indexes */
    unsigned n_free;
    struct pollfd *pfd; /* 2 + cap */
    unsigned *pslot;    /* pfd index to slot index */
    int64_t accept_rest_ns;
    struct health__snapshot snap;
    struct answer answers[4][2]; /* endpoint, details */
    char request[HEALTH__REQUEST_MAX];
    char date[40];
    int64_t date_s;
    pthread_t thread;
    bool thread_started;

    /* The hand-over queue, under ring_lock. */
    pthread_mutex_t ring_lock;
    pthread_cond_t ring_cond;
    struct handoff *ring;
    unsigned ring_cap;
    unsigned ring_head;
    unsigned ring_n;
    bool ring_stop;
    pthread_t handoff_thread;
    bool handoff_started;
};

/* --- hand-over ------------------------------------------------------------ */

static void *handoff_thread(void *arg)
{
    struct health__front *f = arg;
    struct handoff ho;

    for (;;) {
        (void)pthread_mutex_lock(&f->ring_lock);
        while (f->ring_n == 0 && !f->ring_stop)
            (void)pthread_cond_wait(&f->ring_cond, &f->ring_lock);
        if (f->ring_n == 0) {
            (void)pthread_mutex_unlock(&f->ring_lock);
            return NULL;
        }
        ho = f->ring[f->ring_head];
        f->ring_head = (f->ring_head + 1) % f->ring_cap;
        f->ring_n--;
        (void)pthread_mutex_unlock(&f->ring_lock);
        f->handoff(f->handoff_ctx, ho.fd, (struct sockaddr *)&ho.sa, ho.sa_len,
                   ho.lc);
    }
}

/* Queues @s's connection for libmicrohttpd, with its record in the
 * limits: it stays counted until libmicrohttpd closes it.  Closes it when
 * the queue is full (libmicrohttpd is that far behind). */
static void hand_over(struct health__front *f, struct slot *s)
{
    bool queued = false;

    (void)pthread_mutex_lock(&f->ring_lock);
    if (f->ring_n < f->ring_cap) {
        struct handoff *ho = &f->ring[(f->ring_head + f->ring_n) % f->ring_cap];

        ho->fd = s->fd;
        ho->lc = s->lc;
        ho->sa = s->sa;
        ho->sa_len = s->sa_len;
        f->ring_n++;
        queued = true;
        (void)pthread_cond_signal(&f->ring_cond);
    }
    (void)pthread_mutex_unlock(&f->ring_lock);
    if (!queued) {
        health__limits_close(f->limits, s->lc);
        (void)close(s->fd);
    }
    s->fd = -1;
    s->lc = NULL;
    f->free_slots[f->n_free++] = (unsigned)(s - f->slots);
}

static void close_slot(struct health__front *f, struct slot *s)
{
    health__limits_close(f->limits, s->lc);
    (void)close(s->fd);
    s->fd = -1;
    s->lc = NULL;
    f->free_slots[f->n_free++] = (unsigned)(s - f->slots);
}

/* --- answers ------------------------------------------------------------- */

/* The Date header's value for the current second, in the HTTP form
 * whatever the locale, without gmtime() (which takes the time-zone
 * lock the service's localtime() calls share). */
static const char *http_date(struct health__front *f)
{
    static const char *const days[] = { "Thu", "Fri", "Sat", "Sun",
                                        "Mon", "Tue", "Wed" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
                                          "May", "Jun", "Jul", "Aug",
                                          "Sep", "Oct", "Nov", "Dec" };
    int64_t now = (int64_t)time(NULL);
    int64_t z;
    int64_t era;
    int64_t doe;
    int64_t yoe;
    int64_t doy;
    int64_t mp;
    int64_t secs;
    int64_t y;
    unsigned m;
    unsigned d;

    if (now == f->date_s && f->date[0])
        return f->date;
    if (now < 0)
        now = 0;
    /* Civil from days (Howard Hinnant's algorithm). */
    z = now / 86400 + 719468;
    secs = now % 86400;
    era = z / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    y = yoe + era * 400 + (m <= 2);
    (void)snprintf(f->date, sizeof(f->date),
                   "%s, %02u %s %04lld %02d:%02d:%02d GMT",
                   days[(now / 86400) % 7], d, months[m - 1], (long long)y,
                   (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    f->date_s = now;
    return f->date;
}

/* The current report of @ep for @details, rendered again only when the
 * state changed or time alone changed it. */
static struct answer *current(struct health__front *f, enum health__endpoint ep,
                              bool details)
{
    struct answer *a = &f->answers[ep][details];
    struct health__query q;
    health_status_t st;
    int r;

    if (a->valid && a->gen == atomic_load(&f->h->gen) &&
        health__mono_ns() < a->expires_ns)
        return a;
    (void)pthread_mutex_lock(&f->h->lock);
    r = health__snapshot_take(f->h, &f->snap);
    (void)pthread_mutex_unlock(&f->h->lock);
    memset(&q, 0, sizeof(q));
    q.ep = ep;
    q.details = details;
    if (r < 0 ||
        health__report_json_buf(&f->snap, &q, &f->h->cfg, &a->body, &st) < 0) {
        a->valid = false;
        return NULL;
    }
    a->code = st == HEALTH_FAIL ? 503 : 200;
    a->gen = f->snap.gen;
    a->expires_ns = f->snap.expires_ns;
    a->valid = true;
    return a;
}

/* Writes the whole answer to @req; false when the socket took less. */
static bool respond(struct health__front *f, struct slot *s,
                    const struct health__request *req, enum health__endpoint ep)
{
    char auth[HEALTH__TOKEN_MAX + 32];
    char head[256];
    struct iovec iov[2];
    struct msghdr msg;
    const struct answer *a;
    const char *body = OOM_BODY;
    size_t body_len = sizeof(OOM_BODY) - 1;
    unsigned code = 503;
    bool details;
    int n;
    ssize_t sent;

    if (req->authorization) {
        memcpy(auth, req->authorization, req->authorization_len);
        auth[req->authorization_len] = '\0';
    }
    details = health__trust_decide(f->h->cfg.trust, f->h->cfg.details, &s->peer,
                                   s->local_loopback,
                                   req->authorization ? auth : NULL);
    a = current(f, ep, details);
    if (a) {
        body = a->body.p;
        body_len = a->body.len;
        code = a->code;
    }
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %s\r\nDate: %s\r\n%sContent-Type: " CONTENT_TYPE
                 "\r\nCache-Control: no-store\r\nContent-Length: %zu\r\n\r\n",
                 code == 200 ? "200 OK" : "503 Service Unavailable",
                 http_date(f), req->close ? "Connection: close\r\n" : "",
                 body_len);
    if (n < 0 || (size_t)n >= sizeof(head))
        return false;
    iov[0].iov_base = head;
    iov[0].iov_len = (size_t)n;
    iov[1].iov_base = (void *)body;
    iov[1].iov_len = req->head ? 0 : body_len;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    do
        sent = sendmsg(s->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (sent < 0 && errno == EINTR);
    return sent >= 0 && (size_t)sent == iov[0].iov_len + iov[1].iov_len;
}

/* Which endpoint a plain probe request asks for; false for anything
 * libmicrohttpd answers (per-check paths, /metrics, 404s). */
static bool front_route(const struct health__request *req,
                        enum health__endpoint *ep)
{
    const char *name;

    return health__route(req->path, ep, &name) == 0 && !name;
}

/* @s stays open, waiting for its next request. */
static void keep(struct health__front *f, struct slot *s)
{
    s->idle_deadline_ns =
        health__mono_ns() + (int64_t)f->h->cfg.idle_timeout_s * 1000000000;
}

/* Serves what @s's peer sent: plain probe requests here, anything else
 * to libmicrohttpd.  Looks again without waiting only when more than the
 * request answered was there: a keep-alive peer sends its next request
 * after the answer, and poll() says when. */
static void serve(struct health__front *f, struct slot *s)
{
    struct health__request req;
    enum health__endpoint ep;
    ssize_t peeked;
    ssize_t n;
    int i;

    for (i = 0; i < PIPELINE_BATCH; i++) {
        do
            peeked = recv(s->fd, f->request, sizeof(f->request),
                          MSG_PEEK | MSG_DONTWAIT);
        while (peeked < 0 && errno == EINTR);
        if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            keep(f, s);
            return;
        }
        if (peeked <= 0) {
            close_slot(f, s);
            return;
        }
        if (health__request_parse(f->request, (size_t)peeked, &req) !=
                HEALTH__REQ_OK ||
            !front_route(&req, &ep)) {
            hand_over(f, s);
            return;
        }
        /* The request's bytes, consumed now that it is answered here. */
        do
            n = recv(s->fd, f->request, req.consumed, MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t)req.consumed || !respond(f, s, &req, ep) ||
            req.close) {
            close_slot(f, s);
            return;
        }
        if ((size_t)peeked == req.consumed)
            break;
    }
    keep(f, s);
}

/* --- accepting ------------------------------------------------------------ */

static bool local_is_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct in6_addr a;

    return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
           health__peer_addr((const struct sockaddr *)&ss, &a) &&
           health__is_loopback(&a);
}

static void accept_one(struct health__front *f, int fd,
                       const struct sockaddr_storage *sa, socklen_t len)
{
    struct in6_addr peer;
    struct slot *s;

    if (!health__peer_addr((const struct sockaddr *)sa, &peer) ||
        f->n_free == 0 || !health__limits_admit(f->limits, &peer)) {
        (void)close(fd);
        return;
    }
    s = &f->slots[f->free_slots[--f->n_free]];
    s->lc = health__limits_open(f->limits, &peer, fd);
    if (!s->lc) {
        f->n_free++;
        (void)close(fd);
        return;
    }
    s->fd = fd;
    s->peer = peer;
    s->local_loopback = health__is_loopback(&peer) && local_is_loopback(fd);
    s->sa = *sa;
    s->sa_len = len;
    /* Under load the request is usually there already: answered in the
     * same wake-up. */
    serve(f, s);
}

static void accept_some(struct health__front *f)
{
    int i;

    /* With every slot taken, or every socket the limits allow open (cut
     * ones not closed yet), the rest wait in the backlog until one
     * closes, rather than being accepted only to be refused. */
    for (i = 0;
         i < ACCEPT_BATCH && f->n_free > 0 && !health__limits_full(f->limits);
         i++) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        int fd = accept4(f->listen_fd, (struct sockaddr *)&sa, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd >= 0) {
            accept_one(f, fd, &sa, len);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            /* Out of descriptors or memory: rest rather than spin. */
            f->accept_rest_ns = health__mono_ns() + ACCEPT_BACKOFF_NS;
        return;
    }
}

/* --- the loop ------------------------------------------------------------- */

/* Fills the poll set; returns its size and the poll timeout in *@ms. */
static nfds_t poll_set(struct health__front *f, int64_t now, int *ms)
{
    int64_t next = INT64_MAX;
    nfds_t n = 0;
    unsigned i;

    f->pfd[n].fd = f->wake_fd;
    f->pfd[n++].events = POLLIN;
    if (health__limits_full(f->limits)) {
        /* Sockets close on libmicrohttpd's side too: look again soon. */
        next = now + FULL_RECHECK_NS;
    } else if (now >= f->accept_rest_ns && f->n_free > 0) {
        f->pfd[n].fd = f->listen_fd;
        f->pfd[n++].events = POLLIN;
    } else if (f->n_free > 0 && f->accept_rest_ns < next) {
        next = f->accept_rest_ns;
    }
    for (i = 0; i < f->cap; i++) {
        if (f->slots[i].fd < 0)
            continue;
        f->pfd[n].fd = f->slots[i].fd;
        f->pfd[n].events = POLLIN;
        f->pslot[n++] = i;
        if (f->slots[i].idle_deadline_ns < next)
            next = f->slots[i].idle_deadline_ns;
    }
    if (next == INT64_MAX)
        *ms = -1;
    else if (next <= now)
        *ms = 0;
    else
        *ms = (int)((next - now + 999999) / 1000000);
    return n;
}

static void expire_idle(struct health__front *f, int64_t now)
{
    unsigned i;

    for (i = 0; i < f->cap; i++)
        if (f->slots[i].fd >= 0 && f->slots[i].idle_deadline_ns <= now)
            close_slot(f, &f->slots[i]);
}

/* The kernel's struct sched_attr (linux/sched/types.h clashes with
 * sched.h). */
struct slice_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
};

/*
 * Asks the kernel for a short time slice (sched_attr.sched_runtime of a
 * SCHED_OTHER thread: EEVDF, Linux 6.12 and later; refused harmlessly
 * before).  The thread keeps its nice value and its share of the CPU; it
 * is picked sooner after a wake-up and runs for less at a time, which is
 * what a thread that works 0.2 ms per probe wants among busy threads.
 */
static void short_slice(void)
{
    struct slice_attr a;
    int nice;

    if (sched_getscheduler(0) != SCHED_OTHER)
        return;
    errno = 0;
    nice = getpriority(PRIO_PROCESS, 0);
    if (errno)
        return;
    memset(&a, 0, sizeof(a));
    a.size = sizeof(a);
    a.sched_policy = SCHED_OTHER;
    a.sched_nice = nice;
    a.sched_runtime = FRONT_SLICE_NS;
    (void)syscall(SYS_sched_setattr, 0, &a, 0);
}

static void *front_thread(void *arg)
{
    struct health__front *f = arg;

    short_slice();

    while (!atomic_load(&f->stop)) {
        int ms;
        nfds_t n = poll_set(f, health__mono_ns(), &ms);
        nfds_t i;

        if (poll(f->pfd, n, ms) < 0) {
            if (errno == EINTR)
                continue;
            f->accept_rest_ns = health__mono_ns() + ACCEPT_BACKOFF_NS;
        }
        if (atomic_load(&f->stop))
            break;
        for (i = 1; i < n; i++) {
            if (!f->pfd[i].revents)
                continue;
            if (f->pfd[i].fd == f->listen_fd)
                accept_some(f);
            else if (f->slots[f->pslot[i]].fd == f->pfd[i].fd)
                serve(f, &f->slots[f->pslot[i]]);
        }
        expire_idle(f, health__mono_ns());
    }
    return NULL;
}

/* --- lifecycle ------------------------------------------------------------ */

static void front_free(struct health__front *f)
{
    size_t i;

    for (i = 0; i < 8; i++)
        health__buf_fini(&f->answers[i / 2][i % 2].body);
    health__snapshot_fini(&f->snap);
    free(f->slots);
    free(f->free_slots);
    free(f->pfd);
    free(f->pslot);
    free(f->ring);
    if (f->wake_fd >= 0)
        (void)close(f->wake_fd);
    (void)pthread_mutex_destroy(&f->ring_lock);
    (void)pthread_cond_destroy(&f->ring_cond);
    free(f);
}

static int front_new(health_t *h, int fd, struct health__limits *limits,
                     unsigned cap, struct health__front **ret)
{
    struct health__front *f = calloc(1, sizeof(*f));
    unsigned i;

    if (!f)
        return -ENOMEM;
    f->h = h;
    f->listen_fd = fd;
    f->limits = limits;
    f->cap = cap;
    f->ring_cap = cap;
    f->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (pthread_mutex_init(&f->ring_lock, NULL) != 0) {
        free(f);
        return -ENOMEM;
    }
    if (health__cond_init(&f->ring_cond) != 0) {
        (void)pthread_mutex_destroy(&f->ring_lock);
        free(f);
        return -ENOMEM;
    }
    f->slots = calloc(cap, sizeof(*f->slots));
    f->free_slots = calloc(cap, sizeof(*f->free_slots));
    f->pfd = calloc((size_t)cap + 2, sizeof(*f->pfd));
    f->pslot = calloc((size_t)cap + 2, sizeof(*f->pslot));
    f->ring = calloc(cap, sizeof(*f->ring));
    if (f->wake_fd < 0 || !f->slots || !f->free_slots || !f->pfd || !f->pslot ||
        !f->ring) {
        front_free(f);
        return -ENOMEM;
    }
    for (i = 0; i < cap; i++) {
        f->slots[i].fd = -1;
        f->free_slots[i] = cap - 1 - i;
    }
    f->n_free = cap;
    *ret = f;
    return 0;
}

int health__front_start(health_t *h, int fd, struct health__limits *limits,
                        unsigned cap, health__handoff_fn *handoff, void *ctx,
                        struct health__front **ret)
{
    struct health__front *f;
    int r;

    r = front_new(h, fd, limits, cap, &f);
    if (r < 0)
        return r;
    f->handoff = handoff;
    f->handoff_ctx = ctx;
    r = health__thread_start(&f->handoff_thread, handoff_thread, f, FRONT_STACK,
                             true, "health-handoff", "");
    if (r < 0) {
        front_free(f);
        return r;
    }
    f->handoff_started = true;
    r = health__thread_start(&f->thread, front_thread, f, FRONT_STACK, true,
                             "health-front", "");
    if (r < 0) {
        f->listen_fd = -1; /* the caller keeps it on failure */
        health__front_stop(f);
        return r;
    }
    f->thread_started = true;
    *ret = f;
    return 0;
}

void health__front_stop(struct health__front *f)
{
    uint64_t one = 1;
    unsigned i;

    if (!f)
        return;
    if (f->thread_started) {
        atomic_store(&f->stop, true);
        while (write(f->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
            ;
        (void)pthread_join(f->thread, NULL);
    }
    if (f->handoff_started) {
        (void)pthread_mutex_lock(&f->ring_lock);
        f->ring_stop = true;
        (void)pthread_cond_signal(&f->ring_cond);
        (void)pthread_mutex_unlock(&f->ring_lock);
        (void)pthread_join(f->handoff_thread, NULL);
    }
    for (i = 0; i < f->cap; i++)
        if (f->slots[i].fd >= 0)
            close_slot(f, &f->slots[i]);
    if (f->listen_fd >= 0)
        (void)close(f->listen_fd);
    front_free(f);
}
