/* SPDX-License-Identifier: MIT */
/* Ready-made network checks (tcp, http, dns), and what every ready-made
 * check shares: registration, the run's time budget, thresholds.
 *
 * Names are resolved with getaddrinfo() on a detached helper thread so a
 * run can stop waiting at its deadline; C offers no way to cancel
 * getaddrinfo(), and glibc's getaddrinfo_a() would tie the library to
 * glibc while doing the same with threads of its own.  A check has at
 * most one resolution in flight: a run that finds the previous one still
 * going waits for it instead of starting another, which bounds the
 * helper threads to one per check whatever the resolver does. */
#include "checks-internal.h"
#include "health-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define HOST_MAX 253
#define URL_MAX 2048
#define REQUEST_MAX (URL_MAX + 256)
#define STATUS_LINE_MAX 1024
#define DNS_SHOWN 4
/* getaddrinfo() with glibc's files and dns modules touches about 12 KiB
 * of stack (tests/checks/stack.c); NSS modules such as sssd or ldap need
 * more, so leave a wide margin.  Address space only: untouched pages cost
 * nothing. */
#define RESOLVER_STACK (256u * 1024u)

/* ---- Shared by every ready-made check -------------------------------- */

bool health__checks_usable(const health_t *h, const struct health_check *c)
{
    return h && c && !c->run && !c->free_data;
}

int health__checks_register(health_t *h, const struct health_check *check,
                            health_check_fn *run, health_free_fn *free_data,
                            void *state)
{
    struct health_check c = *check;

    c.run = run;
    c.free_data = free_data;
    return health_register_check(h, &c, state);
}

unsigned health__checks_budget_ms(const health_t *h,
                                  const struct health_check *check)
{
    /* The options' default is fixed at health_create(); reading it needs
     * no lock. */
    unsigned t = check->timeout_ms ? check->timeout_ms : h->cfg.timeout_ms;
    unsigned cut;

    if (t == 0)
        t = HEALTH__DEFAULT_TIMEOUT_MS;
    cut = t / 10 < 100 ? t / 10 : 100;
    return t - cut;
}

bool health__checks_fraction_ok(double v)
{
    return isfinite(v) && v >= 0.0 && v <= 1.0;
}

void health__checks_format_bytes(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = { "B",   "KiB", "MiB", "GiB",
                                         "TiB", "PiB", "EiB" };
    double v = (double)bytes;
    size_t i = 0;

    while (v >= 1024.0 && i + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        i++;
    }
    if (i == 0)
        (void)snprintf(buf, size, "%llu B", (unsigned long long)bytes);
    else
        (void)snprintf(buf, size, "%.1f %s", v, units[i]);
}

static int64_t now_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double ms_since(int64_t start_ns)
{
    return (double)(now_ns() - start_ns) / 1e6;
}

/* ---- Name resolution on a helper thread ------------------------------ */

struct resolve_job {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned refs; /* the check's and the helper thread's */
    bool done;
    int err; /* getaddrinfo()'s code */
    struct addrinfo *res;
    char host[HOST_MAX + 1];
    char port[8];
};

/* Drops a reference; the job's lock is held and released here. */
static void job_unref(struct resolve_job *j)
{
    bool last = --j->refs == 0;

    (void)pthread_mutex_unlock(&j->lock);
    if (!last)
        return;
    if (j->res)
        freeaddrinfo(j->res);
    (void)pthread_cond_destroy(&j->cond);
    (void)pthread_mutex_destroy(&j->lock);
    free(j);
}

static void *resolve_thread(void *arg)
{
    struct resolve_job *j = arg;
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    int err;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    err = getaddrinfo(j->host, j->port[0] ? j->port : NULL, &hints, &res);
    (void)pthread_mutex_lock(&j->lock);
    j->done = true;
    j->err = err;
    j->res = err == 0 ? res : NULL;
    (void)pthread_cond_broadcast(&j->cond);
    job_unref(j);
    return NULL;
}

static struct resolve_job *job_start(const char *host, const char *port)
{
    struct resolve_job *j = calloc(1, sizeof(*j));
    pthread_attr_t attr;
    pthread_t t;
    sigset_t old;
    int r;

    if (!j)
        return NULL;
    (void)snprintf(j->host, sizeof(j->host), "%s", host);
    (void)snprintf(j->port, sizeof(j->port), "%s", port ? port : "");
    j->refs = 2;
    if (pthread_mutex_init(&j->lock, NULL) != 0)
        goto out_free;
    if (health__cond_init(&j->cond) < 0)
        goto out_mutex;
    if (pthread_attr_init(&attr) != 0)
        goto out_cond;
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    (void)pthread_attr_setstacksize(&attr, RESOLVER_STACK);
    health__block_signals(&old);
    r = pthread_create(&t, &attr, resolve_thread, j);
    health__restore_signals(&old);
    (void)pthread_attr_destroy(&attr);
    if (r == 0)
        return j;
out_cond:
    (void)pthread_cond_destroy(&j->cond);
out_mutex:
    (void)pthread_mutex_destroy(&j->lock);
out_free:
    free(j);
    return NULL;
}

/* A host to resolve, and the resolution in flight for it. */
struct target {
    char host[HOST_MAX + 1];
    char port[8]; /* "" for none */
    bool numeric;
    unsigned budget_ms;
    struct resolve_job *job; /* in flight, or NULL */
};

static void target_fini(struct target *t)
{
    if (!t->job)
        return;
    (void)pthread_mutex_lock(&t->job->lock);
    job_unref(t->job);
    t->job = NULL;
}

/* Waits for @j until it is done or @deadline_ns passes; its lock is held. */
static void job_wait(struct resolve_job *j, int64_t deadline_ns)
{
    struct timespec ts;

    while (!j->done && now_ns() < deadline_ns) {
        ts.tv_sec = (time_t)(deadline_ns / 1000000000);
        ts.tv_nsec = (long)(deadline_ns % 1000000000);
        (void)pthread_cond_timedwait(&j->cond, &j->lock, &ts);
    }
}

/* Resolves @t before @deadline_ns.  Returns 0 and *@res, a getaddrinfo()
 * code, or EAI_AGAIN with *@late set when the deadline passed first. */
static int resolve(struct target *t, int64_t deadline_ns, struct addrinfo **res,
                   bool *late)
{
    struct resolve_job *j = t->job;
    int err;

    *late = false;
    if (j) {
        (void)pthread_mutex_lock(&j->lock);
        if (!j->done)
            goto wait;
        job_unref(j); /* an answer to an earlier run: ask again */
    }
    j = job_start(t->host, t->port[0] ? t->port : NULL);
    t->job = j;
    if (!j)
        return EAI_MEMORY;
    (void)pthread_mutex_lock(&j->lock);
wait:
    job_wait(j, deadline_ns);
    if (!j->done) {
        (void)pthread_mutex_unlock(&j->lock);
        *late = true;
        return EAI_AGAIN;
    }
    err = j->err;
    *res = j->res;
    j->res = NULL;
    t->job = NULL;
    job_unref(j);
    return err;
}

/* The addresses of @t, or NULL with the result's output set. */
static struct addrinfo *target_lookup(struct target *t, int64_t deadline_ns,
                                      health_result_t *result)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    bool late = false;
    int err;

    if (t->numeric) {
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
        err = getaddrinfo(t->host, t->port[0] ? t->port : NULL, &hints, &res);
    } else {
        err = resolve(t, deadline_ns, &res, &late);
    }
    if (late) {
        health_result_setf(result, "%s: no address within %u ms", t->host,
                           t->budget_ms);
        return NULL;
    }
    if (err != 0 || !res) {
        health_result_setf(result, "%s: %s", t->host,
                           err ? gai_strerror(err) : "no address");
        if (res)
            freeaddrinfo(res);
        return NULL;
    }
    return res;
}

/* Whether @host is a host name or an IP address (IPv6 without brackets);
 * sets *@numeric for an address. */
static bool host_valid(const char *host, bool *numeric)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    size_t len = strlen(host);
    size_t i;

    if (len == 0 || len > HOST_MAX)
        return false;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    *numeric = getaddrinfo(host, NULL, &hints, &res) == 0;
    if (res)
        freeaddrinfo(res);
    if (*numeric)
        return true;
    if (host[0] == '.' || host[0] == '-' || strstr(host, ".."))
        return false;
    for (i = 0; i < len; i++) {
        char c = host[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

/* Fills @t from @host (brackets allowed around an IPv6 address) and
 * @port (0: none).  Returns 0 or -EINVAL. */
static int target_init(struct target *t, const char *host, unsigned port,
                       unsigned budget_ms)
{
    size_t len;

    if (!host)
        return -EINVAL;
    len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 0 || len > HOST_MAX || port > 65535)
        return -EINVAL;
    memcpy(t->host, host, len);
    t->host[len] = '\0';
    if (!host_valid(t->host, &t->numeric))
        return -EINVAL;
    if (port)
        (void)snprintf(t->port, sizeof(t->port), "%u", port);
    t->budget_ms = budget_ms;
    return 0;
}

/* ---- Connecting ------------------------------------------------------- */

/* Waits for @events on @fd until @deadline_ns.  Returns 0 or -ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline_ns)
{
    struct pollfd p;
    int64_t left;
    int n;

    for (;;) {
        left = deadline_ns - now_ns();
        if (left <= 0)
            return -ETIMEDOUT;
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        n = poll(&p, 1, (int)((left + 999999) / 1000000));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

static void errno_text(int err, char *buf, size_t size)
{
    if (err == ETIMEDOUT) {
        (void)snprintf(buf, size, "no connection in time");
        return;
    }
    if (strerror_r(err, buf, size) != 0)
        (void)snprintf(buf, size, "error %d", err);
}

/* Connects to @ai before @deadline_ns.  Returns a connected non-blocking
 * socket, or a negative errno. */
static int connect_one(const struct addrinfo *ai, int64_t deadline_ns)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof(int);
    int err = 0;
    int r;

    if (fd < 0)
        return -errno;
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        goto fail_errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS && errno != EINTR)
        goto fail_errno;
    r = wait_fd(fd, POLLOUT, deadline_ns);
    if (r < 0) {
        (void)close(fd);
        return r;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        goto fail_errno;
    if (err == 0)
        return fd;
    (void)close(fd);
    return -err;

fail_errno:
    err = errno;
    (void)close(fd);
    return -err;
}

static void addr_text(const struct addrinfo *ai, char *buf, size_t size)
{
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, (socklen_t)size, NULL, 0,
                    NI_NUMERICHOST) != 0)
        (void)snprintf(buf, size, "?");
}

/* Tries @list's addresses in turn with the time left.  Returns a socket
 * and the address it reached in @addr, or -1 with the reason in @why. */
static int connect_any(const struct addrinfo *list, int64_t deadline_ns,
                       char *addr, size_t addr_size, char *why, size_t why_size)
{
    const struct addrinfo *ai;
    int fd = -ETIMEDOUT;

    for (ai = list; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        addr_text(ai, addr, addr_size);
        fd = connect_one(ai, deadline_ns);
        if (fd >= 0 || now_ns() >= deadline_ns)
            break;
    }
    if (fd >= 0)
        return fd;
    errno_text(-fd, why, why_size);
    return -1;
}

/* ---- tcp ---------------------------------------------------------------- */

static void tcp_free(void *userdata)
{
    struct target *t = userdata;

    target_fini(t);
    free(t);
}

static health_status_t tcp_run(health_result_t *result, void *userdata)
{
    struct target *t = userdata;
    int64_t start = now_ns();
    int64_t deadline = start + (int64_t)t->budget_ms * 1000000;
    struct addrinfo *list = target_lookup(t, deadline, result);
    char addr[64];
    char why[96];
    double ms;
    int fd;

    if (!list)
        return HEALTH_FAIL;
    fd = connect_any(list, deadline, addr, sizeof(addr), why, sizeof(why));
    freeaddrinfo(list);
    ms = ms_since(start);
    if (fd < 0) {
        if (now_ns() >= deadline)
            health_result_setf(result, "%s port %s: no connection within %u ms",
                               t->host, t->port, t->budget_ms);
        else
            health_result_setf(result, "%s port %s: %s", t->host, t->port, why);
        return HEALTH_FAIL;
    }
    (void)close(fd);
    health_result_setf(result, "connected to %s port %s in %.1f ms", addr,
                       t->port, ms);
    health_result_set_observed(result, ms, "ms");
    return HEALTH_PASS;
}

int health_check_tcp(health_t *h, const struct health_check *check,
                     const char *host, unsigned port)
{
    struct target *t;
    int r;

    if (!health__checks_usable(h, check) || !host || port == 0 || port > 65535)
        return -EINVAL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    r = target_init(t, host, port, health__checks_budget_ms(h, check));
    if (r == 0)
        r = health__checks_register(h, check, tcp_run, tcp_free, t);
    if (r < 0)
        free(t);
    return r;
}

/* ---- dns ---------------------------------------------------------------- */

static health_status_t dns_run(health_result_t *result, void *userdata)
{
    struct target *t = userdata;
    int64_t start = now_ns();
    int64_t deadline = start + (int64_t)t->budget_ms * 1000000;
    struct addrinfo *list = target_lookup(t, deadline, result);
    const struct addrinfo *ai;
    char text[HEALTH_OUTPUT_MAX];
    char addr[64];
    size_t used = 0;
    unsigned shown = 0;
    double ms = ms_since(start);

    if (!list)
        return HEALTH_FAIL;
    text[0] = '\0';
    for (ai = list; ai && shown < DNS_SHOWN; ai = ai->ai_next) {
        addr_text(ai, addr, sizeof(addr));
        if (used < sizeof(text))
            used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s",
                                     shown ? ", " : "", addr);
        shown++;
    }
    freeaddrinfo(list);
    health_result_setf(result, "%s: %s in %.1f ms", t->host, text, ms);
    health_result_set_observed(result, ms, "ms");
    return HEALTH_PASS;
}

int health_check_dns(health_t *h, const struct health_check *check,
                     const char *name)
{
    struct target *t;
    int r;

    if (!health__checks_usable(h, check) || !name || name[0] == '[')
        return -EINVAL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    r = target_init(t, name, 0, health__checks_budget_ms(h, check));
    if (r == 0)
        r = health__checks_register(h, check, dns_run, tcp_free, t);
    if (r < 0)
        free(t);
    return r;
}

/* ---- http --------------------------------------------------------------- */

struct http_state {
    struct target t;
    char *url;
    char *request;
    size_t request_len;
    unsigned *statuses; /* NULL: 200..399 */
    size_t n_statuses;
};

static void http_free(void *userdata)
{
    struct http_state *s = userdata;

    if (!s)
        return;
    target_fini(&s->t);
    free(s->url);
    free(s->request);
    free(s->statuses);
    free(s);
}

/* Sends all of @buf before @deadline_ns.  Returns 0 or a negative errno. */
static int send_all(int fd, const char *buf, size_t len, int64_t deadline_ns)
{
    ssize_t n;
    int r;

    while (len > 0) {
        n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -errno;
        r = wait_fd(fd, POLLOUT, deadline_ns);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Reads up to the end of the status line.  Returns its length (without
 * the line end), -ECONNRESET for a close before it, -EPROTO when it is too
 * long, or another negative errno. */
static int read_status_line(int fd, char *buf, size_t size, int64_t deadline_ns)
{
    size_t used = 0;
    char *eol;
    ssize_t n;
    int r;

    for (;;) {
        r = wait_fd(fd, POLLIN, deadline_ns);
        if (r < 0)
            return r;
        n = recv(fd, buf + used, size - 1 - used, 0);
        if (n == 0)
            return -ECONNRESET;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            return -errno;
        }
        used += (size_t)n;
        buf[used] = '\0';
        eol = strchr(buf, '\n');
        if (eol)
            return (int)(eol - buf);
        if (used == size - 1)
            return -EPROTO;
    }
}

/* The status code of an HTTP/1.x status line, or -1. */
static int parse_status(const char *line, size_t len)
{
    if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' ||
        line[7] > '9' || line[8] != ' ')
        return -1;
    if (line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
        line[11] < '0' || line[11] > '9')
        return -1;
    if (len > 12 && line[12] != ' ' && line[12] != '\r')
        return -1;
    return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

static bool status_passes(const struct http_state *s, int status)
{
    size_t i;

    if (!s->statuses)
        return status >= 200 && status <= 399;
    for (i = 0; i < s->n_statuses; i++)
        if (s->statuses[i] == (unsigned)status)
            return true;
    return false;
}

/* One exchange on a connected socket.  Returns the status code, or a
 * negative errno with @why set. */
static int http_exchange(const struct http_state *s, int fd,
                         int64_t deadline_ns, char *why, size_t why_size)
{
    char line[STATUS_LINE_MAX];
    int len;
    int status;

    len = send_all(fd, s->request, s->request_len, deadline_ns);
    if (len == 0)
        len = read_status_line(fd, line, sizeof(line), deadline_ns);
    if (len == -ETIMEDOUT) {
        (void)snprintf(why, why_size, "no response within %u ms",
                       s->t.budget_ms);
        return len;
    }
    if (len == -ECONNRESET || len == -EPROTO) {
        (void)snprintf(why, why_size, "%s",
                       len == -EPROTO ? "status line too long"
                                      : "closed before a response");
        return len;
    }
    if (len < 0) {
        errno_text(-len, why, why_size);
        return len;
    }
    status = parse_status(line, (size_t)len);
    if (status < 0) {
        (void)snprintf(why, why_size, "not an HTTP/1.x response");
        return -EPROTO;
    }
    return status;
}

static health_status_t http_run(health_result_t *result, void *userdata)
{
    struct http_state *s = userdata;
    int64_t start = now_ns();
    int64_t deadline = start + (int64_t)s->t.budget_ms * 1000000;
    struct addrinfo *list = target_lookup(&s->t, deadline, result);
    char addr[64];
    char why[96];
    int status;
    int fd;
    double ms;

    if (!list)
        return HEALTH_FAIL;
    fd = connect_any(list, deadline, addr, sizeof(addr), why, sizeof(why));
    freeaddrinfo(list);
    if (fd < 0 && now_ns() >= deadline)
        (void)snprintf(why, sizeof(why), "no connection within %u ms",
                       s->t.budget_ms);
    if (fd < 0) {
        health_result_setf(result, "%s: %s", s->url, why);
        return HEALTH_FAIL;
    }
    status = http_exchange(s, fd, deadline, why, sizeof(why));
    (void)close(fd);
    if (status < 0) {
        health_result_setf(result, "%s: %s", s->url, why);
        return HEALTH_FAIL;
    }
    ms = ms_since(start);
    health_result_setf(result, "HTTP %d from %s in %.1f ms", status, s->url,
                       ms);
    health_result_set_observed(result, ms, "ms");
    return status_passes(s, status) ? HEALTH_PASS : HEALTH_FAIL;
}

/* Whether @url has only visible ASCII characters and a sane length. */
static bool url_chars_ok(const char *url)
{
    size_t i;

    for (i = 0; url[i]; i++)
        if (i >= URL_MAX || url[i] <= 0x20 || url[i] >= 0x7f)
            return false;
    return true;
}

/* Splits "HOST[:PORT]" (HOST maybe "[v6]") into @s->t; @auth has @len
 * bytes.  Returns 0 or -EINVAL. */
static int parse_authority(struct http_state *s, const char *auth, size_t len)
{
    char host[HOST_MAX + 3];
    const char *colon;
    const char *end = auth + len;
    unsigned long port = 80;
    char *stop;

    if (len == 0 || memchr(auth, '@', len))
        return -EINVAL;
    if (auth[0] == '[') {
        colon = memchr(auth, ']', len);
        colon = colon ? colon + 1 : end + 1;
        if (colon > end || (colon < end && *colon != ':'))
            return -EINVAL;
    } else {
        colon = memchr(auth, ':', len);
        colon = colon ? colon : end;
    }
    if ((size_t)(colon - auth) >= sizeof(host))
        return -EINVAL;
    memcpy(host, auth, (size_t)(colon - auth));
    host[colon - auth] = '\0';
    if (colon < end) {
        if (colon + 1 == end || colon[1] < '0' || colon[1] > '9' ||
            end - colon > 6)
            return -EINVAL;
        port = strtoul(colon + 1, &stop, 10);
        if (stop != end || port == 0 || port > 65535)
            return -EINVAL;
    }
    if (auth[0] != '[' && strchr(host, ':'))
        return -EINVAL;
    return target_init(&s->t, host, (unsigned)port, s->t.budget_ms);
}

/* Parses @url into @s: the target, the copy of the URL and the request.
 * Returns 0, -EINVAL, -EPROTONOSUPPORT or -ENOMEM. */
static int parse_url(struct http_state *s, const char *url)
{
    const char *auth;
    size_t auth_len;
    size_t path_len;
    const char *path;
    int r;

    if (!url_chars_ok(url))
        return -EINVAL;
    if (strncasecmp(url, "https://", 8) == 0)
        return -EPROTONOSUPPORT;
    if (strncasecmp(url, "http://", 7) != 0)
        return -EINVAL;
    auth = url + 7;
    auth_len = strcspn(auth, "/?#");
    r = parse_authority(s, auth, auth_len);
    if (r < 0)
        return r;
    path = auth + auth_len;
    path_len = strcspn(path, "#");
    s->url = strdup(url);
    s->request = malloc(REQUEST_MAX);
    if (!s->url || !s->request)
        return -ENOMEM;
    r = snprintf(s->request, REQUEST_MAX,
                 "GET %s%.*s HTTP/1.1\r\nHost: %.*s\r\n"
                 "User-Agent: libhealth/%d.%d\r\nAccept: */*\r\n"
                 "Connection: close\r\n\r\n",
                 path[0] == '/' ? "" : "/", (int)path_len, path, (int)auth_len,
                 auth, HEALTH_VERSION_MAJOR, HEALTH_VERSION_MINOR);
    if (r < 0 || r >= REQUEST_MAX)
        return -EINVAL;
    s->request_len = (size_t)r;
    return 0;
}

static int copy_statuses(struct http_state *s,
                         const struct health_http_options *opts)
{
    size_t i;

    if (!opts || (!opts->statuses && opts->n_statuses == 0))
        return 0;
    if (!opts->statuses || opts->n_statuses == 0 || opts->n_statuses > 500)
        return -EINVAL;
    for (i = 0; i < opts->n_statuses; i++)
        if (opts->statuses[i] < 100 || opts->statuses[i] > 599)
            return -EINVAL;
    s->statuses = calloc(opts->n_statuses, sizeof(*s->statuses));
    if (!s->statuses)
        return -ENOMEM;
    memcpy(s->statuses, opts->statuses,
           opts->n_statuses * sizeof(*s->statuses));
    s->n_statuses = opts->n_statuses;
    return 0;
}

int health_check_http(health_t *h, const struct health_check *check,
                      const char *url, const struct health_http_options *opts)
{
    struct http_state *s;
    int r;

    if (!health__checks_usable(h, check) || !url)
        return -EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->t.budget_ms = health__checks_budget_ms(h, check);
    r = parse_url(s, url);
    if (r == 0)
        r = copy_statuses(s, opts);
    if (r == 0)
        r = health__checks_register(h, check, http_run, http_free, s);
    if (r < 0)
        http_free(s);
    return r;
}
