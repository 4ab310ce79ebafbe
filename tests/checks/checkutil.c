/* Helpers for the ready-made check tests. */
#include "checkutil.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

void check_seen(int port, const char *name, struct seen *out)
{
    char key[128];
    struct resp r;
    const char *s;
    cJSON *entry;
    cJSON *v;

    memset(out, 0, sizeof(*out));
    if (http_do(port, "/health", NULL, &r) != 0) {
        resp_free(&r);
        return;
    }
    snprintf(key, sizeof(key), "checks.%s.0.status", name);
    s = json_str(&r, key);
    if (s)
        snprintf(out->status, sizeof(out->status), "%s", s);
    snprintf(key, sizeof(key), "checks.%s.0.output", name);
    s = json_str(&r, key);
    if (s)
        snprintf(out->output, sizeof(out->output), "%s", s);
    snprintf(key, sizeof(key), "checks.%s.0.observedUnit", name);
    s = json_str(&r, key);
    if (s)
        snprintf(out->unit, sizeof(out->unit), "%s", s);
    entry = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(r.json, "checks"), name),
        0);
    v = cJSON_GetObjectItemCaseSensitive(entry, "observedValue");
    if (cJSON_IsNumber(v)) {
        out->observed = v->valuedouble;
        out->has_observed = true;
    }
    v = cJSON_GetObjectItemCaseSensitive(entry, "durationMs");
    if (cJSON_IsNumber(v))
        out->duration_ms = v->valuedouble;
    resp_free(&r);
}

void wait_check(int port, const char *name, const char *status,
                const char *text, int ms, struct seen *out)
{
    int64_t deadline = test_now_ms() + SLOW(ms);
    struct seen local;

    if (!out)
        out = &local;
    for (;;) {
        check_seen(port, name, out);
        if (strcmp(out->status, status) == 0 &&
            (!text || strstr(out->output, text)))
            return;
        if (test_now_ms() > deadline) {
            fprintf(stderr,
                    "check %s: waited %d ms for %s%s%s%s, last: %s \"%s\"\n",
                    name, ms, status, text ? " \"" : "", text ? text : "",
                    text ? "\"" : "", out->status, out->output);
            abort();
        }
        (void)poll(NULL, 0, 10);
    }
}

int listen_on(const char *addr, int port, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;
    int fd;

    memset(&ss, 0, sizeof(ss));
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        ASSERT_EQ(inet_pton(AF_INET6, addr, &a->sin6_addr), 1);
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        ASSERT_EQ(inet_pton(AF_INET, addr, &a->sin_addr), 1);
        len = sizeof(*a);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    ASSERT_OK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
    if (ss.ss_family == AF_INET6)
        ASSERT_OK(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        fprintf(stderr, "bind %s port %d: %s\n", addr, port, strerror(errno));
        abort();
    }
    ASSERT_OK(listen(fd, backlog));
    return fd;
}

int port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    ASSERT_OK(getsockname(fd, (struct sockaddr *)&ss, &len));
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int fill_backlog(int port, int *fds, int max)
{
    struct sockaddr_in a;
    struct pollfd p;
    int n = 0;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (n < max) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd, 0);
        fds[n++] = fd;
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
            continue;
        ASSERT_EQ(errno, EINPROGRESS);
        p.fd = fd;
        p.events = POLLOUT;
        if (poll(&p, 1, 200) == 0)
            return n; /* this one hangs: the queue is full */
    }
    fprintf(stderr, "fill_backlog: the queue never filled\n");
    abort();
}

static void serve_one(struct http_server *s, int c)
{
    char buf[1024];
    size_t used = 0;
    ssize_t n;
    char reply[128];
    int mode = atomic_load(&s->mode);

    while (used < sizeof(buf) - 1) {
        n = recv(c, buf + used, sizeof(buf) - 1 - used, 0);
        if (n <= 0)
            break;
        used += (size_t)n;
        buf[used] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    buf[used] = '\0';
    pthread_mutex_lock(&s->lock);
    snprintf(s->last_request, sizeof(s->last_request), "%s", buf);
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&s->requests, 1);
    if (mode == HTTP_SILENT) {
        /* Until the client gives up (or the test ends). */
        while (!atomic_load(&s->stop)) {
            n = recv(c, buf, sizeof(buf), 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
                break;
        }
        return;
    }
    if (mode == HTTP_ANSWER)
        snprintf(reply, sizeof(reply),
                 "HTTP/1.1 %d Whatever\r\nContent-Length: 2\r\n"
                 "Connection: close\r\n\r\nok",
                 atomic_load(&s->status));
    else if (mode == HTTP_GARBAGE)
        snprintf(reply, sizeof(reply), "SSH-2.0-OpenSSH_9.2\r\n");
    else
        reply[0] = '\0';
    if (reply[0])
        (void)send(c, reply, strlen(reply), MSG_NOSIGNAL);
}

static void *http_thread(void *arg)
{
    struct http_server *s = arg;
    struct pollfd p;
    int c;

    while (!atomic_load(&s->stop)) {
        p.fd = s->fd;
        p.events = POLLIN;
        if (poll(&p, 1, 20) <= 0)
            continue;
        c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        /* A silent connection must not stop the server noticing stop. */
        {
            struct timeval tv = { 0, 100000 };
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        }
        serve_one(s, c);
        close(c);
    }
    return NULL;
}

void http_server_start(struct http_server *s, const char *addr)
{
    memset(s, 0, sizeof(*s));
    s->fd = listen_on(addr, 0, 16);
    s->port = port_of(s->fd);
    atomic_init(&s->mode, HTTP_ANSWER);
    atomic_init(&s->status, 200);
    pthread_mutex_init(&s->lock, NULL);
    ASSERT_OK(pthread_create(&s->thread, NULL, http_thread, s));
}

void http_server_stop(struct http_server *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->lock);
}

void http_server_last(struct http_server *s, char *buf, size_t size)
{
    pthread_mutex_lock(&s->lock);
    snprintf(buf, size, "%s", s->last_request);
    pthread_mutex_unlock(&s->lock);
}
