/* SPDX-License-Identifier: MIT */
/*
 * systemd's notify protocol, driven by the same results as /live and
 * /ready: one datagram of "KEY=value" lines to $NOTIFY_SOCKET (a path, or
 * an abstract name written with a leading '@'), the protocol systemd
 * documents as stable for independent implementations (sd_notify(3)).
 *
 * A thread of its own ("health-systemd") wakes on every change
 * (h->changed_cond), at the next watchdog ping and when a heartbeat can go
 * stale, takes a snapshot, and sends:
 *   READY=1     once, the first time /ready passes;
 *   WATCHDOG=1  every $WATCHDOG_USEC / 2, only while /live passes;
 *   STOPPING=1  once, when health_begin_shutdown() was called;
 *   STATUS=...  a bounded one-line summary, whenever that line changes.
 * It never runs user code, never blocks on anything but h->lock and its
 * condition wait, and sends with MSG_DONTWAIT: a full or absent receiver
 * costs a retry a second later, never a stalled thread.
 *
 * MAINPID= is not sent: the process that creates the handle is the
 * service's main process, which is where systemd expects notifications
 * from (NotifyAccess=main).
 */
#define _GNU_SOURCE
#include "health-internal.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Longest STATUS= text, in bytes. */
#define STATUS_MAX 200
/* Room kept at the end of the line for "; +N more". */
#define STATUS_MORE 16
/* How soon a failed send is tried again. */
#define RETRY_NS 1000000000
/* How often a stale heartbeat is looked at again, to resume pings soon
 * after the service beats again (a beat wakes no one). */
#define STALE_POLL_NS 250000000
/* The coarse clock heartbeats use lags the precise one by up to a tick. */
#define COARSE_SLACK_NS 10000000
#define STACK_SIZE (256 * 1024)

struct health__systemd {
    health_t *h;
    int fd;
    pthread_t thread;
    bool stop; /* under h->lock */

    /* The thread's own, never shared. */
    bool ready_sent;
    bool stopping_sent;
    int64_t next_ping_ns; /* 0: at once */
    int last_error;       /* errno of the last failed send, 0 after one ok */
    char status[STATUS_MAX + 1];
    struct health__snapshot snap;
};

/* What one round decided to send. */
struct round {
    bool ready;
    bool stopping;
    bool ping;
    bool status;
    char status_line[STATUS_MAX + 1];
};

/* Parses a decimal number without sign or anything around it. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (!*s || strlen(s) > 19)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int parse_socket(struct health__sd_config *n, const char *s)
{
    size_t len = strlen(s);

    memset(&n->addr, 0, sizeof(n->addr));
    n->addr.sun_family = AF_UNIX;
    if (s[0] == '/' && len < sizeof(n->addr.sun_path)) {
        memcpy(n->addr.sun_path, s, len + 1);
        n->addr_len =
            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
        return 0;
    }
    if (s[0] == '@' && len >= 2 && len <= sizeof(n->addr.sun_path)) {
        /* Abstract: a leading NUL, the name, and no terminating NUL. */
        memcpy(n->addr.sun_path + 1, s + 1, len - 1);
        n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
        return 0;
    }
    return -EINVAL;
}

/* $WATCHDOG_USEC applies when $WATCHDOG_PID is unset or is this process
 * (a child that inherited the environment must not ping for its parent). */
static int parse_watchdog(struct health__sd_config *n)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    uint64_t v;
    uint64_t p;

    n->watchdog_ns = 0;
    if (!usec || !*usec)
        return 0;
    if (parse_u64(usec, &v) < 0 || v == 0 || v > INT64_MAX / 1000)
        return -EINVAL;
    if (pid && *pid) {
        if (parse_u64(pid, &p) < 0 || p == 0)
            return -EINVAL;
        if (p != (uint64_t)getpid())
            return 0;
    }
    n->watchdog_ns = (int64_t)v * 1000 / 2;
    if (n->watchdog_ns == 0)
        n->watchdog_ns = 1;
    return 0;
}

int health__sd_config_init(struct health__sd_config *n, unsigned flags)
{
    const char *env = getenv("HEALTH_SYSTEMD");
    const char *sock;
    bool on;

    memset(n, 0, sizeof(*n));
    if ((flags & HEALTH_OPT_SYSTEMD) && (flags & HEALTH_OPT_NO_SYSTEMD))
        return -EINVAL;
    if (flags & (HEALTH_OPT_SYSTEMD | HEALTH_OPT_NO_SYSTEMD))
        on = (flags & HEALTH_OPT_SYSTEMD) != 0;
    else if (!env || !*env || strcmp(env, "on") == 0)
        on = true;
    else if (strcmp(env, "off") == 0)
        on = false;
    else
        return -EINVAL;
    sock = getenv("NOTIFY_SOCKET");
    if (!on || !sock || !*sock)
        return 0;
    if (parse_socket(n, sock) < 0 || parse_watchdog(n) < 0) {
        memset(n, 0, sizeof(*n));
        return -EINVAL;
    }
    n->on = true;
    return 0;
}

/* Appends @s to the line when it fits, keeping room for the "more" note. */
static bool append(char *buf, size_t *len, const char *s)
{
    size_t n = strlen(s);

    if (*len + n > STATUS_MAX - STATUS_MORE)
        return false;
    memcpy(buf + *len, s, n + 1);
    *len += n;
    return true;
}

/* Names the entries in @state after @label ("; failing: a, b"); counts
 * those that did not fit in *@more. */
static void append_state(const struct health__snapshot *snap, int state,
                         const char *label, char *buf, size_t *len,
                         size_t *more)
{
    bool first = true;
    size_t i;

    for (i = 0; i < snap->n; i++) {
        const struct health__entry *e = &snap->v[i];
        size_t mark = *len;

        if (e->s.state != state)
            continue;
        if (*more > 0 || !append(buf, len, first ? label : ", ") ||
            !append(buf, len, e->name)) {
            *len = mark;
            buf[mark] = '\0';
            (*more)++;
            continue;
        }
        first = false;
    }
}

/* "ready", "not ready; failing: db", "starting; pending: cache", ... */
static void status_line(const struct health__snapshot *snap, bool live,
                        bool ready, char *buf)
{
    const char *phase;
    size_t len = 0;
    size_t more = 0;

    if (snap->shutting_down)
        phase = "shutting down";
    else if (!live)
        phase = "not live";
    else if (!snap->startup_complete)
        phase = "starting";
    else
        phase = ready ? "ready" : "not ready";
    buf[0] = '\0';
    (void)append(buf, &len, phase);
    append_state(snap, HEALTH_FAIL, "; failing: ", buf, &len, &more);
    append_state(snap, HEALTH__PENDING, "; pending: ", buf, &len, &more);
    append_state(snap, HEALTH_WARN, "; warning: ", buf, &len, &more);
    if (more > 0)
        (void)snprintf(buf + len, STATUS_MAX + 1 - len, "; +%zu more", more);
}

static health_status_t endpoint(const struct health__snapshot *snap,
                                enum health__endpoint ep)
{
    struct health__query q = { .ep = ep };
    const char *note;

    return health__report_status(snap, &q, &note);
}

/* Decides what to send from the snapshot; returns when to look again
 * unless something changes first. */
static int64_t decide(struct health__systemd *sd, int64_t now,
                      int64_t heartbeat_ns, struct round *rd)
{
    const struct health__sd_config *n = &sd->h->cfg.sd;
    bool live = endpoint(&sd->snap, HEALTH__EP_LIVE) != HEALTH_FAIL;
    bool ready = endpoint(&sd->snap, HEALTH__EP_READY) != HEALTH_FAIL;
    int64_t wake = heartbeat_ns;

    memset(rd, 0, sizeof(*rd));
    rd->ready = ready && !sd->ready_sent;
    rd->stopping = sd->snap.shutting_down && !sd->stopping_sent;
    status_line(&sd->snap, live, ready, rd->status_line);
    rd->status = strcmp(rd->status_line, sd->status) != 0;
    if (n->watchdog_ns > 0 && live) {
        if (now >= sd->next_ping_ns)
            rd->ping = true;
        else if (sd->next_ping_ns < wake)
            wake = sd->next_ping_ns;
    }
    return wake;
}

/* When a heartbeat can next go stale, or a poll while one is stale; the
 * lock is held. */
static int64_t heartbeat_wake(const health_t *h, int64_t now)
{
    const struct health__heartbeat *hb;
    int64_t coarse = health__mono_coarse_ms();
    int64_t wake = INT64_MAX;
    int64_t age;
    int64_t at;

    for (hb = h->heartbeats; hb; hb = hb->next) {
        age = health__beat_age_ms(hb->handle, coarse);
        if (age > (int64_t)hb->deadline_ms)
            at = now + STALE_POLL_NS;
        else
            at = now + ((int64_t)hb->deadline_ms + 1 - age) * 1000000 +
                 COARSE_SLACK_NS;
        if (at < wake)
            wake = at;
    }
    return wake;
}

/* One datagram, one assignment per line, as sd_notify() sends them. */
static size_t format(const struct round *rd, char *msg, size_t size)
{
    int n = snprintf(msg, size, "%s%s%s%s%s%s", rd->status ? "STATUS=" : "",
                     rd->status ? rd->status_line : "", rd->status ? "\n" : "",
                     rd->ready ? "READY=1\n" : "",
                     rd->stopping ? "STOPPING=1\n" : "",
                     rd->ping ? "WATCHDOG=1\n" : "");

    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static int send_message(struct health__systemd *sd, const char *msg, size_t len)
{
    const struct health__sd_config *n = &sd->h->cfg.sd;
    ssize_t r;

    do
        r = sendto(sd->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                   (const struct sockaddr *)&n->addr, n->addr_len);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

/* Sends what @rd holds and records it; returns false when the send
 * failed and nothing was recorded. */
static bool deliver(struct health__systemd *sd, const struct round *rd,
                    int64_t now)
{
    char msg[STATUS_MAX + 64];
    size_t len = format(rd, msg, sizeof(msg));
    int r;

    if (len == 0)
        return true;
    r = send_message(sd, msg, len);
    if (r < 0) {
        if (-r != sd->last_error)
            health__log(sd->h, "systemd notify: %s", strerror(-r));
        sd->last_error = -r;
        return false;
    }
    sd->last_error = 0;
    sd->ready_sent |= rd->ready;
    sd->stopping_sent |= rd->stopping;
    if (rd->status)
        memcpy(sd->status, rd->status_line, sizeof(sd->status));
    if (rd->ping)
        sd->next_ping_ns = now + sd->h->cfg.sd.watchdog_ns;
    return true;
}

static void wait_until(health_t *h, int64_t deadline_ns)
{
    struct timespec ts;

    if (deadline_ns == INT64_MAX) {
        (void)pthread_cond_wait(&h->changed_cond, &h->lock);
        return;
    }
    ts.tv_sec = (time_t)(deadline_ns / 1000000000);
    ts.tv_nsec = (long)(deadline_ns % 1000000000);
    (void)pthread_cond_timedwait(&h->changed_cond, &h->lock, &ts);
}

static void *systemd_thread(void *arg)
{
    struct health__systemd *sd = arg;
    health_t *h = sd->h;
    struct round rd;
    int64_t now;
    int64_t wake;
    int64_t hb_wake;
    int r;

    (void)pthread_mutex_lock(&h->lock);
    while (!sd->stop) {
        now = health__mono_ns();
        r = health__snapshot_take(h, &sd->snap);
        hb_wake = heartbeat_wake(h, now);
        (void)pthread_mutex_unlock(&h->lock);
        if (r < 0) {
            wake = now + RETRY_NS;
        } else {
            wake = decide(sd, now, hb_wake, &rd);
            if (!deliver(sd, &rd, now) && now + RETRY_NS < wake)
                wake = now + RETRY_NS;
        }
        (void)pthread_mutex_lock(&h->lock);
        /* A change while the lock was released is seen at once. */
        if (!sd->stop && (r < 0 || atomic_load(&h->gen) == sd->snap.gen))
            wait_until(h, wake);
    }
    (void)pthread_mutex_unlock(&h->lock);
    return NULL;
}

int health__systemd_start(health_t *h)
{
    struct health__systemd *sd;
    pthread_attr_t attr;
    sigset_t old;
    int r;

    if (!h->cfg.sd.on || h->sd)
        return 0;
    sd = calloc(1, sizeof(*sd));
    if (!sd)
        return -ENOMEM;
    sd->h = h;
    sd->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sd->fd < 0) {
        r = -errno;
        free(sd);
        return r;
    }
    r = -pthread_attr_init(&attr);
    if (r == 0) {
        (void)pthread_attr_setstacksize(&attr, STACK_SIZE);
        health__block_signals(&old);
        r = -pthread_create(&sd->thread, &attr, systemd_thread, sd);
        health__restore_signals(&old);
        (void)pthread_attr_destroy(&attr);
    }
    if (r < 0) {
        (void)close(sd->fd);
        free(sd);
        return r == -ENOMEM ? r : -EAGAIN;
    }
#ifdef __linux__
    (void)pthread_setname_np(sd->thread, "health-systemd");
#endif
    h->sd = sd;
    return 0;
}

void health__systemd_forget(health_t *h)
{
    struct health__systemd *sd = h->sd;

    if (!sd)
        return;
    health__snapshot_fini(&sd->snap);
    free(sd);
    h->sd = NULL;
}

void health__systemd_stop(health_t *h)
{
    struct health__systemd *sd = h->sd;

    if (!sd)
        return;
    (void)pthread_mutex_lock(&h->lock);
    sd->stop = true;
    (void)pthread_cond_broadcast(&h->changed_cond);
    (void)pthread_mutex_unlock(&h->lock);
    (void)pthread_join(sd->thread, NULL);
    (void)close(sd->fd);
    health__snapshot_fini(&sd->snap);
    free(sd);
    h->sd = NULL;
}
