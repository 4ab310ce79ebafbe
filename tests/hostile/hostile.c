#include "hostile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int hostile_netns(void)
{
    char cmd[1024];
    int n;
    int i;

    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "unshare(CLONE_NEWNET): %s: skipped\n",
                strerror(errno));
        return -1;
    }
    n = snprintf(cmd, sizeof(cmd),
                 "ip link set lo up && ip addr add %s/32 dev lo && "
                 "ip addr add %s/32 dev lo && ip addr add %s/32 dev lo",
                 NS_ATTACKER, NS_KUBELET, NS_POD);
    for (i = 0; i < NS_FLOOD_COUNT; i++)
        n += snprintf(cmd + n, sizeof(cmd) - (size_t)n,
                      " && ip addr add " NS_FLOOD_FMT "/32 dev lo",
                      NS_FLOOD_FIRST + i);
    if (system(cmd) != 0) {
        fprintf(stderr, "ip: cannot configure the namespace: skipped\n");
        return -1;
    }
    return 0;
}

int64_t hostile_now(void)
{
    return test_now_ms();
}

void hostile_pause(int ms)
{
    (void)poll(NULL, 0, ms);
}

void hostile_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

bool hostile_nofile_at_least(long n)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return false;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)n) {
        rl.rlim_cur = (rlim_t)n;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)n)
            rl.rlim_max = (rlim_t)n;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return false;
    }
    return true;
}

static int to_sockaddr(const char *ip, int port, struct sockaddr_storage *ss,
                       socklen_t *len)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
        return 0;
    }
    return -EINVAL;
}

int hc_connect(const char *ip, int port, int64_t timeout_ms)
{
    return hc_connect_from(NULL, ip, port, timeout_ms);
}

int hc_connect_from(const char *src, const char *ip, int port,
                    int64_t timeout_ms)
{
    struct sockaddr_storage from;
    socklen_t from_len;
    struct sockaddr_storage ss;
    struct pollfd pfd;
    socklen_t len;
    socklen_t elen = sizeof(int);
    int err = 0;
    int fd;

    if (to_sockaddr(ip, port, &ss, &len) < 0)
        return -EINVAL;
    if (src && to_sockaddr(src, 0, &from, &from_len) < 0)
        return -EINVAL;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (src && bind(fd, (struct sockaddr *)&from, from_len) < 0) {
        err = errno;
        close(fd);
        return -err;
    }
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        if (errno != EINPROGRESS) {
            err = errno;
            close(fd);
            return -err;
        }
        pfd.fd = fd;
        pfd.events = POLLOUT;
        if (poll(&pfd, 1, (int)timeout_ms) != 1) {
            close(fd);
            return -ETIMEDOUT;
        }
        (void)getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        if (err) {
            close(fd);
            return -err;
        }
    }
    return fd;
}

static bool header_value(const char *head, size_t head_len, const char *name,
                         char *out, size_t size)
{
    size_t n = strlen(name);
    const char *p = head;
    const char *end = head + head_len;
    size_t len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 &&
            p[n] == ':') {
            p += n + 1;
            while (p < eol && *p == ' ')
                p++;
            len = (size_t)(eol - p);
            while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' '))
                len--;
            if (len >= size)
                len = size - 1;
            memcpy(out, p, len);
            out[len] = '\0';
            return true;
        }
        p = eol + 1;
    }
    return false;
}

void hc_parse(struct hc_reply *r)
{
    size_t off = 0;
    char value[64];

    r->n = 0;
    while (off < r->len && r->n < HC_MAX_RESPONSES) {
        const char *p = r->data + off;
        const char *hend = strstr(p, "\r\n\r\n");
        int status;
        long clen = 0;

        if (!hend || sscanf(p, "HTTP/1.%*d %d", &status) != 1)
            break;
        if (header_value(p, (size_t)(hend - p), "Content-Length", value,
                         sizeof(value)))
            clen = strtol(value, NULL, 10);
        if (r->n == 0)
            header_value(p, (size_t)(hend - p), "Allow", r->allow,
                         sizeof(r->allow));
        r->conn_close[r->n] = header_value(p, (size_t)(hend - p), "Connection",
                                           value, sizeof(value)) &&
                              strcasecmp(value, "close") == 0;
        if ((size_t)(hend + 4 - r->data) + (size_t)clen > r->len)
            break; /* a truncated body: not complete */
        r->status[r->n++] = status;
        off = (size_t)(hend + 4 - r->data) + (size_t)clen;
    }
}

/* Reads what is there; false once the connection is over. */
static bool drain(int fd, struct hc_reply *r, int64_t t0)
{
    char scratch[16384];
    ssize_t n;

    for (;;) {
        size_t room = sizeof(r->data) - 1 - r->len;
        char *dst = room ? r->data + r->len : scratch;
        size_t cap = room ? room : sizeof(scratch);

        n = recv(fd, dst, cap, 0);
        if (n > 0) {
            if (r->first_ms < 0)
                r->first_ms = hostile_now() - t0;
            if (room) {
                r->len += (size_t)n;
                r->data[r->len] = '\0';
            }
            continue;
        }
        if (n == 0) {
            r->closed = true;
            return false;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return true;
        r->reset = true;
        return false;
    }
}

static pthread_once_t xs_once = PTHREAD_ONCE_INIT;
static char xs[65536];

static void xs_init(void)
{
    memset(xs, 'x', sizeof(xs));
}

/* Sends the next piece of @q; false when the peer is gone. */
static void push(int fd, const struct hc_request *q, struct hc_reply *r)
{
    size_t head_len = q->head_len ? q->head_len : strlen(q->head);
    size_t total = head_len + q->body_len;
    const char *src;
    size_t len;
    ssize_t w;

    if (r->sent < head_len) {
        src = q->head + r->sent;
        len = head_len - r->sent;
    } else {
        src = xs;
        len = total - r->sent;
        if (len > sizeof(xs))
            len = sizeof(xs);
    }
    w = send(fd, src, len, MSG_NOSIGNAL);
    if (w > 0)
        r->sent += (size_t)w;
    else if (w < 0 && errno != EAGAIN && errno != EINTR)
        r->send_failed = true;
    if (r->sent == total && q->shut_wr)
        (void)shutdown(fd, SHUT_WR);
}

static size_t req_total(const struct hc_request *q)
{
    return (q->head_len ? q->head_len : strlen(q->head)) + q->body_len;
}

void hc_batch_fds(int *fds, const struct hc_request *q, struct hc_reply *r,
                  int n, int64_t timeout_ms)
{
    struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
    int64_t t0 = hostile_now();
    int64_t deadline = t0 + timeout_ms;
    int open = 0;
    int i;

    if (!pfd)
        abort();
    pthread_once(&xs_once, xs_init);
    for (i = 0; i < n; i++) {
        pfd[i].fd = fds[i];
        if (fds[i] >= 0)
            open++;
    }
    while (open > 0) {
        int64_t left = deadline - hostile_now();
        int rc;

        if (left <= 0)
            break;
        for (i = 0; i < n; i++) {
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
            if (pfd[i].fd >= 0 && r[i].sent < req_total(&q[i]) &&
                !r[i].send_failed)
                pfd[i].events |= POLLOUT;
        }
        rc = poll(pfd, (nfds_t)n, (int)left);
        if (rc < 0 && errno != EINTR)
            abort();
        for (i = 0; rc > 0 && i < n; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
                !drain(pfd[i].fd, &r[i], t0)) {
                r[i].end_ms = hostile_now() - t0;
                close(pfd[i].fd);
                pfd[i].fd = -1;
                open--;
                continue;
            }
            if (pfd[i].revents & POLLOUT)
                push(pfd[i].fd, &q[i], &r[i]);
        }
    }
    for (i = 0; i < n; i++) {
        if (pfd[i].fd >= 0) {
            r[i].timed_out = true;
            r[i].end_ms = hostile_now() - t0;
            close(pfd[i].fd);
        }
        hc_parse(&r[i]);
    }
    free(pfd);
}

void hc_reply_init(struct hc_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->first_ms = -1;
    r->end_ms = -1;
}

void hc_batch(const char *ip, int port, const struct hc_request *q,
              struct hc_reply *r, int n, int64_t timeout_ms)
{
    int *fds = calloc((size_t)n, sizeof(*fds));
    int i;

    if (!fds)
        abort();
    for (i = 0; i < n; i++) {
        hc_reply_init(&r[i]);
        fds[i] = hc_connect(ip, port, timeout_ms);
        if (fds[i] < 0)
            r[i].connect_errno = -fds[i];
    }
    hc_batch_fds(fds, q, r, n, timeout_ms);
    free(fds);
}

void hc_exchange_fd(int fd, const struct hc_request *q, int64_t timeout_ms,
                    struct hc_reply *r)
{
    hc_reply_init(r);
    hc_batch_fds(&fd, q, r, 1, timeout_ms);
}

void hc_exchange(const char *ip, int port, const struct hc_request *q,
                 int64_t timeout_ms, struct hc_reply *r)
{
    hc_batch(ip, port, q, r, 1, timeout_ms);
}

bool hc_peer_closed(int fd, int wait_ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char buf[4096];
    ssize_t n;

    for (;;) {
        if (poll(&pfd, 1, wait_ms) != 1)
            return false;
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0)
            return true;
        if (n < 0)
            return errno != EAGAIN && errno != EWOULDBLOCK;
    }
}

/* A probe from p->source: the kubelet's bytes on a new connection, one
 * deadline over the whole exchange, success on 200..399. */
static void probe_from(struct prober *p, struct kube_outcome *o)
{
    struct hc_request q = { .head = p->request };
    int64_t t0 = hostile_now();
    int fd;

    memset(o, 0, sizeof(*o));
    o->result = KUBE_ERROR;
    fd = hc_connect_from(p->source, p->probe.host, p->probe.port,
                         p->probe.timeout_ms);
    if (fd < 0) {
        snprintf(o->error, sizeof(o->error), "connect: %s", strerror(-fd));
    } else {
        int64_t left = p->probe.timeout_ms - (hostile_now() - t0);
        hc_exchange_fd(fd, &q, left > 0 ? left : 1, p->reply);
        if (p->reply->n >= 1) {
            o->status = p->reply->status[0];
            o->result = o->status >= 200 && o->status < 400 ? KUBE_SUCCESS
                                                            : KUBE_FAILURE;
        } else {
            snprintf(o->error, sizeof(o->error), "%s",
                     p->reply->timed_out ? "timed out"
                     : p->reply->reset   ? "reset"
                                         : "closed without a response");
        }
    }
    o->elapsed_ms = (long)(hostile_now() - t0);
}

static void *prober_main(void *arg)
{
    struct prober *p = arg;
    struct kube_outcome o;

    while (!atomic_load(&p->stop)) {
        if (p->source)
            probe_from(p, &o);
        else
            kube_probe(&p->probe, &o);
        atomic_fetch_add(&p->total, 1);
        pthread_mutex_lock(&p->lock);
        if (o.elapsed_ms > p->worst_ms)
            p->worst_ms = o.elapsed_ms;
        if (o.result == KUBE_SUCCESS)
            atomic_fetch_add(&p->ok, 1);
        else
            snprintf(p->last_error, sizeof(p->last_error),
                     "status %d: %s after %ld ms", o.status, o.error,
                     o.elapsed_ms);
        pthread_mutex_unlock(&p->lock);
        hostile_pause(p->gap_ms);
    }
    return NULL;
}

void prober_start(struct prober *p, const char *host, int port,
                  const char *path)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    p->probe.host = host;
    p->probe.port = port;
    p->probe.path = path;
    p->probe.timeout_ms = (int)SLOW(1000);
    p->gap_ms = 20;
    if (pthread_create(&p->thread, NULL, prober_main, p) != 0)
        abort();
}

void prober_start_from(struct prober *p, const char *source, const char *host,
                       int port, const char *path, int gap_ms)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    p->source = source;
    p->probe.host = host;
    p->probe.port = port;
    p->probe.path = path;
    p->probe.timeout_ms = (int)SLOW(1000);
    p->gap_ms = gap_ms;
    p->reply = malloc(sizeof(*p->reply));
    if (!p->reply)
        abort();
    snprintf(p->request, sizeof(p->request),
             "GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
             "User-Agent: kube-probe/1.31\r\nAccept: */*\r\n"
             "Connection: close\r\n\r\n",
             path, host, port);
    if (pthread_create(&p->thread, NULL, prober_main, p) != 0)
        abort();
}

void prober_stop(struct prober *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->lock);
    free(p->reply);
    p->reply = NULL;
}

double prober_rate(const struct prober *p)
{
    int total = atomic_load(&p->total);

    return total ? 100.0 * atomic_load(&p->ok) / total : 0.0;
}

bool hostile_instrumented(void)
{
    const char *pre = getenv("LD_PRELOAD");

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return true;
#elif defined(__has_feature)
# if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return true;
# endif
#endif
    return (pre && strstr(pre, "vgpreload")) || test_time_scale() > 1;
}

long hostile_rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f;

    (void)malloc_trim(0);
    f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* Whether /ready/db answers 200 on a fresh connection from 127.0.0.1. */
bool hostile_ready(int port)
{
    struct hc_request q = { .head = "GET /ready/db HTTP/1.1\r\nHost: x\r\n"
                                    "Connection: close\r\n\r\n" };
    struct hc_reply *r = malloc(sizeof(*r));
    bool ok;

    if (!r)
        abort();
    hc_exchange("127.0.0.1", port, &q, SLOW(1000), r);
    ok = r->n == 1 && r->status[0] == 200;
    free(r);
    return ok;
}
