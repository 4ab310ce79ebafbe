/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server: the front thread (front.c) accepts and answers plain
 * probes; libmicrohttpd, with one internal thread in poll mode (epoll in
 * libmicrohttpd 0.9.75 stalls when 128 or 256 connections are ready at
 * once) and no listening socket of its own, answers every other request
 * the front hands over: routing, methods, who sees details (trust.c) and
 * connection limits (limits.c) apply on both sides.
 * The only file that includes microhttpd.h.
 *
 * Requests are answered on the access handler's second call: answering on
 * the first makes libmicrohttpd close every keep-alive connection.  Bodies
 * are cached per endpoint and audience until the state changes or time
 * alone would change them (a heartbeat's age: 1 ms; a hung run's seconds),
 * so a probe costs a lookup.
 */
#include "health-internal.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

#define CONTENT_TYPE "application/health+json"
#define MAX_EXCLUDES 16
/* Sockets beyond max_connections: connections shut down to make room
 * (limits.c) that libmicrohttpd has not closed yet. */
#define CUT_HEADROOM 32u
/* Stack of libmicrohttpd's thread: the answer path keeps its data on the
 * heap (snapshot, cached bodies), so a fraction of the 8 MiB default is
 * plenty, and the process's address space shrinks by the rest. */
#define HTTP_STACK_SIZE (512u * 1024u)

struct cached {
    struct MHD_Response *resp;
    unsigned code;
    uint64_t gen;
    int64_t expires_ns;
};

struct health__http {
    health_t *h;
    struct MHD_Daemon *d;
    struct health__front *front;
    struct MHD_Response *not_found;
    struct MHD_Response *not_allowed;
    struct MHD_Response *bad_request;
    struct MHD_Response *unavailable;
    struct MHD_Response *forbidden;
    /* The fields below are used by the libmicrohttpd thread only. */
    struct health__snapshot snap;
    struct cached cache[4][2];
    struct cached metrics[2]; /* text format, OpenMetrics */
    struct health__limits *limits;

    /* Connections handed over and not yet started by libmicrohttpd, with
     * their records in the limits (hand_to_mhd(), on_connection()). */
    pthread_mutex_t inflight_lock;
    struct inflight *inflight;
    unsigned n_inflight;
    unsigned inflight_cap;
};

struct inflight {
    int fd;
    struct health__conn *lc;
};

/* The arguments of a request that shape its report. */
struct args {
    const char *exclude[MAX_EXCLUDES];
    size_t n_exclude;
    bool verbose;
    bool overflow;
};

/* Takes the record of the handed-over connection @fd out of the
 * in-flight list; NULL if it is not there. */
static struct health__conn *inflight_take(struct health__http *s, int fd)
{
    struct health__conn *lc = NULL;
    unsigned i;

    (void)pthread_mutex_lock(&s->inflight_lock);
    for (i = 0; i < s->n_inflight; i++) {
        if (s->inflight[i].fd == fd) {
            lc = s->inflight[i].lc;
            s->inflight[i] = s->inflight[--s->n_inflight];
            break;
        }
    }
    (void)pthread_mutex_unlock(&s->inflight_lock);
    return lc;
}

/* A connection libmicrohttpd starts or closes.  Every one came from the
 * front, which admitted it: its record comes with it. */
static void on_connection(void *cls, struct MHD_Connection *con, void **sock,
                          enum MHD_ConnectionNotificationCode code)
{
    struct health__http *s = cls;
    const union MHD_ConnectionInfo *fd;
    struct health__conn *lc;

    if (code != MHD_CONNECTION_NOTIFY_STARTED) {
        health__limits_close(s->limits, *sock);
        *sock = NULL;
        return;
    }
    fd = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
    lc = fd ? inflight_take(s, fd->connect_fd) : NULL;
    /* From now on libmicrohttpd tells of the close before it closes:
     * the descriptor is safe to shut down (now, if it was cut). */
    if (lc)
        health__limits_set_fd(lc, fd->connect_fd);
    *sock = lc;
}

/* Marks the connection as answering a request, or done with one. */
static void set_busy(struct MHD_Connection *con, bool busy)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    if (ci)
        health__limits_busy(ci->socket_context, busy);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)req_cls;
    (void)toe;
    set_busy(con, false);
}

/* Whether this request gets check outputs and observed values (trust.c). */
static bool wants_details(const struct health__http *s,
                          struct MHD_Connection *con)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);

    return health__trust_details(
        &s->h->cfg, ci ? ci->client_addr : NULL, fd ? fd->connect_fd : -1,
        MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                    MHD_HTTP_HEADER_AUTHORIZATION));
}

static mhd_result collect_arg(void *cls, enum MHD_ValueKind kind,
                              const char *key, const char *value)
{
    struct args *a = cls;

    (void)kind;
    if (strcmp(key, "verbose") == 0) {
        a->verbose = true;
    } else if (strcmp(key, "exclude") == 0 && value) {
        if (a->n_exclude == MAX_EXCLUDES)
            a->overflow = true;
        else
            a->exclude[a->n_exclude++] = value;
    }
    return MHD_YES;
}

static bool add_headers(struct MHD_Response *r, const char *type,
                        const char *allow)
{
    return MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) ==
               MHD_YES &&
           MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
                                   "no-store") == MHD_YES &&
           (!allow || MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
                                              allow) == MHD_YES);
}

/* A response that owns @body, a report; NULL on failure (@body freed). */
static struct MHD_Response *body_response(char *body, size_t len,
                                          const char *type)
{
    struct MHD_Response *r;

    r = MHD_create_response_from_buffer_with_free_callback(len, body,
                                                           health__report_free);
    if (!r) {
        health__report_free(body);
        return NULL;
    }
    if (!add_headers(r, type, NULL)) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

static int take_snapshot(struct health__http *s)
{
    int r;

    (void)pthread_mutex_lock(&s->h->lock);
    r = health__snapshot_take(s->h, &s->snap);
    (void)pthread_mutex_unlock(&s->h->lock);
    return r;
}

/* Renders the snapshot as a response; NULL on failure. */
static struct MHD_Response *
render(struct health__http *s, const struct health__query *q, unsigned *code)
{
    health_status_t st;
    size_t len;
    char *body;

    body = health__report_json(&s->snap, q, &s->h->cfg, &len, &st);
    if (!body)
        return NULL;
    *code = st == HEALTH_FAIL ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
    return body_response(body, len, CONTENT_TYPE);
}

static mhd_result answer_cached(struct health__http *s,
                                struct MHD_Connection *con,
                                const struct health__query *q)
{
    struct cached *c = &s->cache[q->ep][q->details];
    int64_t now = health__mono_ns();
    struct MHD_Response *resp;
    unsigned code;

    if (c->resp && c->gen == atomic_load(&s->h->gen) && now < c->expires_ns)
        return MHD_queue_response(con, c->code, c->resp);
    resp = take_snapshot(s) < 0 ? NULL : render(s, q, &code);
    if (!resp)
        return MHD_queue_response(con, MHD_HTTP_SERVICE_UNAVAILABLE,
                                  s->unavailable);
    if (c->resp)
        MHD_destroy_response(c->resp);
    c->resp = resp;
    c->code = code;
    c->gen = s->snap.gen;
    c->expires_ns = s->snap.expires_ns;
    return MHD_queue_response(con, code, resp);
}

/* Whether the client asked for text/plain rather than JSON. */
static bool wants_text(struct MHD_Connection *con)
{
    const char *accept =
        MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Accept");

    return accept && strstr(accept, "text/plain") && !strstr(accept, "json");
}

static struct MHD_Response *text_response(const struct health__snapshot *snap,
                                          const struct health__query *q,
                                          bool verbose, unsigned *code)
{
    struct MHD_Response *r;
    health_status_t st;
    size_t len;
    char *body = health__report_text(snap, q, verbose, &len, &st);

    if (!body)
        return NULL;
    r = body_response(body, len, "text/plain; charset=utf-8");
    if (!r)
        return NULL;
    *code = st == HEALTH_FAIL ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
    return r;
}

/* Per-check paths, exclusions and the text form: rendered every time. */
static mhd_result answer_once(struct health__http *s,
                              struct MHD_Connection *con,
                              const struct health__query *q, bool text,
                              bool verbose)
{
    struct MHD_Response *resp;
    unsigned code;
    mhd_result ret;

    if (take_snapshot(s) < 0)
        return MHD_queue_response(con, MHD_HTTP_SERVICE_UNAVAILABLE,
                                  s->unavailable);
    if (!health__query_matches(&s->snap, q))
        return MHD_queue_response(con, MHD_HTTP_NOT_FOUND, s->not_found);
    resp =
        text ? text_response(&s->snap, q, verbose, &code) : render(s, q, &code);
    if (!resp)
        return MHD_queue_response(con, MHD_HTTP_SERVICE_UNAVAILABLE,
                                  s->unavailable);
    ret = MHD_queue_response(con, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* GET /metrics: the exposition of the same snapshot as the probes, for
 * peers that get details (it names every dependency), 403 for others. */
static mhd_result answer_metrics(struct health__http *s,
                                 struct MHD_Connection *con)
{
    bool om = health__metrics_openmetrics(MHD_lookup_connection_value(
        con, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
    struct cached *c = &s->metrics[om];
    struct MHD_Response *resp = NULL;
    char *body = NULL;
    size_t len;

    if (!wants_details(s, con))
        return MHD_queue_response(con, MHD_HTTP_FORBIDDEN, s->forbidden);
    if (c->resp && c->gen == atomic_load(&s->h->gen) &&
        health__mono_ns() < c->expires_ns)
        return MHD_queue_response(con, MHD_HTTP_OK, c->resp);
    if (take_snapshot(s) == 0)
        body = health__metrics_body(&s->snap, &s->h->cfg, om, health__wall_ms(),
                                    &len);
    if (body)
        resp =
            MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (!resp || !add_headers(resp, health__metrics_content_type(om), NULL)) {
        if (resp)
            MHD_destroy_response(resp);
        else
            free(body);
        return MHD_queue_response(con, MHD_HTTP_SERVICE_UNAVAILABLE,
                                  s->unavailable);
    }
    if (c->resp)
        MHD_destroy_response(c->resp);
    c->resp = resp;
    c->gen = s->snap.gen;
    c->expires_ns = health__metrics_expires(&s->snap, health__mono_ns());
    return MHD_queue_response(con, MHD_HTTP_OK, resp);
}

static mhd_result answer(struct health__http *s, struct MHD_Connection *con,
                         const char *url)
{
    struct health__query q;
    struct args a;
    bool text;

    memset(&q, 0, sizeof(q));
    memset(&a, 0, sizeof(a));
    if (s->h->cfg.metrics && health__route_metrics(url))
        return answer_metrics(s, con);
    if (health__route(url, &q.ep, &q.only) < 0)
        return MHD_queue_response(con, MHD_HTTP_NOT_FOUND, s->not_found);
    (void)MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, collect_arg,
                                    &a);
    if (a.overflow)
        return MHD_queue_response(con, MHD_HTTP_BAD_REQUEST, s->bad_request);
    q.details = wants_details(s, con);
    q.exclude = a.exclude;
    q.n_exclude = a.n_exclude;
    text = wants_text(con);
    if (!q.only && !q.n_exclude && !text)
        return answer_cached(s, con, &q);
    return answer_once(s, con, &q, text, a.verbose);
}

static bool has_body(struct MHD_Connection *con)
{
    const char *len = MHD_lookup_connection_value(
        con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

    return (len && strcmp(len, "0") != 0) ||
           MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

static mhd_result on_request(void *cls, struct MHD_Connection *con,
                             const char *url, const char *method,
                             const char *version, const char *upload_data,
                             size_t *upload_data_size, void **req_cls)
{
    struct health__http *s = cls;

    (void)version;
    (void)upload_data;
    if (!*req_cls)
        set_busy(con, true);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return MHD_queue_response(con, MHD_HTTP_METHOD_NOT_ALLOWED,
                                  s->not_allowed);
    if (!*req_cls) {
        /* A GET with a body: refused at once, without reading the body
         * (libmicrohttpd then closes the connection). */
        if (has_body(con))
            return MHD_queue_response(con, MHD_HTTP_BAD_REQUEST,
                                      s->bad_request);
        *req_cls = s;
        return MHD_YES;
    }
    if (*upload_data_size)
        return MHD_NO; /* a body after all: close */
    return answer(s, con, url);
}

static struct MHD_Response *static_response(const char *body, const char *allow)
{
    struct MHD_Response *r;

    r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                        MHD_RESPMEM_PERSISTENT);
    if (r && !add_headers(r, "application/json", allow)) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

static void free_static(struct health__http *s)
{
    if (s->not_found)
        MHD_destroy_response(s->not_found);
    if (s->not_allowed)
        MHD_destroy_response(s->not_allowed);
    if (s->bad_request)
        MHD_destroy_response(s->bad_request);
    if (s->unavailable)
        MHD_destroy_response(s->unavailable);
    if (s->forbidden)
        MHD_destroy_response(s->forbidden);
}

static int make_static(struct health__http *s)
{
    s->not_found = static_response(
        "{\"error\":\"not found\",\"endpoints\":[\"/live\",\"/ready\","
        "\"/started\",\"/health\"]}",
        NULL);
    s->not_allowed =
        static_response("{\"error\":\"method not allowed\"}", "GET, HEAD");
    s->bad_request = static_response("{\"error\":\"bad request\"}", NULL);
    s->unavailable = static_response(
        "{\"status\":\"fail\",\"output\":\"out of memory\"}", NULL);
    s->forbidden = static_response(
        "{\"error\":\"forbidden\",\"output\":\"/metrics is shown to peers "
        "that get details\"}",
        NULL);
    if (s->not_found && s->not_allowed && s->bad_request && s->unavailable &&
        s->forbidden)
        return 0;
    free_static(s);
    return -ENOMEM;
}

static struct MHD_Daemon *start_daemon(struct health__http *s)
{
    const struct health__config *cfg = &s->h->cfg;
    /* No MHD_USE_ERROR_LOG: libmicrohttpd 0.9.75 crashes when a stop
     * races with the error-logging path of a malformed request. */
    return MHD_start_daemon(
        MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
        0, NULL, NULL, on_request, s, MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections + CUT_HEADROOM, MHD_OPTION_CONNECTION_TIMEOUT,
        cfg->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        cfg->connection_memory, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_STACK_SIZE, MHD_OPTION_END);
}

/*
 * A connection the front thread hands over (front.c), with its record in
 * the limits, which on_connection() attaches once libmicrohttpd starts
 * it.  Until then the record has no descriptor: libmicrohttpd may close
 * the socket on a failure and the number be reused by the next accept,
 * which a cut must never reach.  It stays idle, so a handed-over
 * slowloris can still be cut for room while libmicrohttpd is slow to take
 * it: the shutdown then happens when libmicrohttpd starts it.
 */
static void hand_to_mhd(void *ctx, int fd, const struct sockaddr *sa,
                        socklen_t len, struct health__conn *lc)
{
    struct health__http *s = ctx;
    bool listed = false;

    /* A record left by a start libmicrohttpd gave up on (it closed the
     * socket without a notification) has the same number. */
    health__limits_close(s->limits, inflight_take(s, fd));
    health__limits_set_fd(lc, -1);
    (void)pthread_mutex_lock(&s->inflight_lock);
    if (s->n_inflight < s->inflight_cap) {
        s->inflight[s->n_inflight].fd = fd;
        s->inflight[s->n_inflight++].lc = lc;
        listed = true;
    }
    (void)pthread_mutex_unlock(&s->inflight_lock);
    if (!listed) { /* cannot happen: the list holds as many as the queue */
        health__limits_close(s->limits, lc);
        (void)close(fd);
        return;
    }
    if (MHD_add_connection(s->d, fd, sa, len) != MHD_YES)
        /* libmicrohttpd closed the socket. */
        health__limits_close(s->limits, inflight_take(s, fd));
}

static void http_free(struct health__http *s)
{
    size_t i;

    for (i = 0; i < sizeof(s->cache) / sizeof(s->cache[0][0]); i++) {
        struct cached *c = &s->cache[i / 2][i % 2];
        if (c->resp)
            MHD_destroy_response(c->resp);
    }
    for (i = 0; i < 2; i++)
        if (s->metrics[i].resp)
            MHD_destroy_response(s->metrics[i].resp);
    free_static(s);
    health__snapshot_fini(&s->snap);
    health__limits_free(s->limits);
    free(s->inflight);
    (void)pthread_mutex_destroy(&s->inflight_lock);
    free(s);
}

static int http_new(health_t *h, struct health__http **ret)
{
    struct health__http *s = calloc(1, sizeof(*s));
    const struct health__config *cfg = &h->cfg;

    if (!s)
        return -ENOMEM;
    s->h = h;
    if (pthread_mutex_init(&s->inflight_lock, NULL) != 0) {
        free(s);
        return -ENOMEM;
    }
    /* As many as the front's hand-over queue holds. */
    s->inflight_cap = cfg->max_connections + CUT_HEADROOM;
    s->inflight = calloc(s->inflight_cap, sizeof(*s->inflight));
    if (!s->inflight ||
        health__limits_new(&s->limits, cfg->max_connections,
                           cfg->max_connections_per_ip, CUT_HEADROOM) < 0 ||
        make_static(s) < 0) {
        health__limits_free(s->limits);
        free(s->inflight);
        (void)pthread_mutex_destroy(&s->inflight_lock);
        free(s);
        return -ENOMEM;
    }
    *ret = s;
    return 0;
}

/* Starts libmicrohttpd, then the front thread on @fd, which is owned
 * by the front from then on, or closed here on failure. */
static int serve(struct health__http *s, int fd)
{
    int r;

    s->d = start_daemon(s);
    if (!s->d) {
        (void)close(fd);
        return -EIO;
    }
    r = health__front_start(s->h, fd, s->limits,
                            s->h->cfg.max_connections + CUT_HEADROOM,
                            hand_to_mhd, s, &s->front);
    if (r < 0) {
        (void)close(fd);
        MHD_stop_daemon(s->d);
        s->d = NULL;
    }
    return r;
}

int health__http_start(health_t *h)
{
    struct health__http *s;
    int fd;
    int r;

    r = http_new(h, &s);
    if (r < 0)
        return r;
    r = health__listen(&h->cfg, &fd);
    if (r < 0)
        goto out_free;
    r = health__bound_port(fd);
    if (r < 0) {
        (void)close(fd);
        goto out_free;
    }
    atomic_store(&h->port, r);
    r = serve(s, fd);
    if (r < 0) {
        atomic_store(&h->port, 0);
        goto out_free;
    }
    h->http = s;
    return 0;

out_free:
    http_free(s);
    return r;
}

void health__http_stop(health_t *h)
{
    struct health__http *s = h->http;

    if (!s)
        return;
    /* The front first: its queued hand-overs still reach libmicrohttpd. */
    health__front_stop(s->front);
    MHD_stop_daemon(s->d);
    atomic_store(&h->port, 0);
    h->http = NULL;
    http_free(s);
}
