#include "kubeprobe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX 10240

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(struct kube_outcome *o, enum kube_result r, const char *what)
{
    o->result = r;
    snprintf(o->error, sizeof(o->error), "%s", what);
    return -1;
}

/* Waits for @events on @fd until @deadline; 0 when ready. */
static int wait_fd(int fd, short events, long deadline)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    long left = deadline - now_ms();
    int n;

    if (left <= 0)
        return -1;
    n = poll(&pfd, 1, (int)left);
    return n == 1 ? 0 : -1;
}

static int dial(const struct kube_probe *p, long deadline,
                struct kube_outcome *o)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    struct linger lg = { 1, 1 };
    socklen_t len;
    int err = 0;
    socklen_t elen = sizeof(err);
    int fd;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, p->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((unsigned short)p->port);
        len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, p->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((unsigned short)p->port);
        len = sizeof(*in6);
    } else {
        return fail(o, KUBE_FAILURE, "bad host");
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(o, KUBE_ERROR, "socket");
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
        err = errno;
    if (!err && wait_fd(fd, POLLOUT, deadline) < 0)
        err = ETIMEDOUT;
    if (!err)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err) {
        close(fd);
        /* Refused is a plain failure for the kubelet; a timeout too. */
        return fail(o, KUBE_FAILURE, strerror(err));
    }
    return fd;
}

static int send_request(int fd, const struct kube_probe *p, long deadline,
                        struct kube_outcome *o)
{
    char req[1024];
    char hostport[128];
    int n;
    int off = 0;
    ssize_t w;

    if (strchr(p->host, ':'))
        snprintf(hostport, sizeof(hostport), "[%s]:%d", p->host, p->port);
    else
        snprintf(hostport, sizeof(hostport), "%s:%d", p->host, p->port);
    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
                 "Accept: */*\r\nConnection: close\r\n\r\n",
                 p->path, p->host_header ? p->host_header : hostport,
                 p->user_agent ? p->user_agent : "kube-probe/1.31");
    while (off < n) {
        if (wait_fd(fd, POLLOUT, deadline) < 0)
            return fail(o, KUBE_ERROR, "timeout writing");
        w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN)
            return fail(o, KUBE_ERROR, "write error");
        if (w > 0)
            off += (int)w;
    }
    return 0;
}

/* Reads the response until EOF, the deadline, or headers + 10 KiB. */
static int read_response(int fd, long deadline, struct kube_outcome *o,
                         char *buf, size_t cap, size_t *got)
{
    ssize_t n;
    char *hdr_end;

    *got = 0;
    for (;;) {
        if (wait_fd(fd, POLLIN, deadline) < 0)
            return fail(o, KUBE_ERROR, "timeout awaiting response");
        n = recv(fd, buf + *got, cap - 1 - *got, 0);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n < 0)
            return fail(o, KUBE_ERROR, "read error");
        if (n == 0) {
            o->closed = true;
            break;
        }
        *got += (size_t)n;
        buf[*got] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
        if (hdr_end && *got - (size_t)(hdr_end + 4 - buf) >= BODY_MAX)
            break; /* the kubelet stops at 10 KiB */
        if (*got + 1 >= cap)
            break;
    }
    buf[*got] = '\0';
    return 0;
}

enum kube_result kube_probe(const struct kube_probe *p, struct kube_outcome *o)
{
    long start = now_ms();
    long deadline = start + (p->timeout_ms ? p->timeout_ms : 1000);
    size_t cap = 64 * 1024;
    char *buf = malloc(cap);
    char *body;
    size_t got;
    int fd;

    memset(o, 0, sizeof(*o));
    if (!buf)
        abort();
    fd = dial(p, deadline, o);
    if (fd >= 0) {
        if (send_request(fd, p, deadline, o) == 0 &&
            read_response(fd, deadline, o, buf, cap, &got) == 0) {
            if (sscanf(buf, "HTTP/1.%*d %d", &o->status) != 1)
                fail(o, KUBE_ERROR, "malformed response");
            else
                o->result = o->status >= 200 && o->status < 400 ? KUBE_SUCCESS
                                                                : KUBE_FAILURE;
            body = strstr(buf, "\r\n\r\n");
            if (body) {
                body += 4;
                o->body_len = (long)(got - (size_t)(body - buf));
                if (o->body_len > BODY_MAX)
                    o->body_len = BODY_MAX;
                memcpy(o->body, body, (size_t)o->body_len);
                o->body[o->body_len] = '\0';
            }
        }
        close(fd);
    }
    free(buf);
    o->elapsed_ms = now_ms() - start;
    return o->result;
}
