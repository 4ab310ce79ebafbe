/* Helpers for the ready-made check tests: reading a check's last result
 * over HTTP, loopback listeners, and a tiny HTTP server whose behaviour
 * the test switches. */
#ifndef HEALTH_CHECKUTIL_H
#define HEALTH_CHECKUTIL_H

#include "../test.h"

#include <stdatomic.h>

/* A check's entry in /health, as a loopback peer sees it. */
struct seen {
    char status[16]; /* "" when the check is absent */
    char output[HEALTH_OUTPUT_MAX];
    char unit[HEALTH_UNIT_MAX];
    double observed;
    bool has_observed;
    double duration_ms;
};

/* Reads check @name from GET /health on @port. */
void check_seen(int port, const char *name, struct seen *out);
/* Waits up to @ms for check @name to report @status (and, when @text is
 * not NULL, an output containing it); aborts printing the last result. */
void wait_check(int port, const char *name, const char *status,
                const char *text, int ms, struct seen *out);

/* A TCP socket bound to @addr ("127.0.0.1", "::1") port @port (0: any) and
 * listening with @backlog; aborts on failure. */
int listen_on(const char *addr, int port, int backlog);
/* The local port of a bound socket. */
int port_of(int fd);
/* Fills the accept queue of a listener on 127.0.0.1 @port that never
 * accepts, so that further connection attempts hang.  Returns the number
 * of client sockets opened, stored in @fds (at most @max). */
int fill_backlog(int port, int *fds, int max);

/* What the tiny HTTP server does with a connection. */
enum http_mode {
    HTTP_ANSWER,  /* reads the request, answers with status */
    HTTP_SILENT,  /* reads the request, never answers */
    HTTP_CLOSE,   /* reads the request, closes */
    HTTP_GARBAGE, /* reads the request, answers garbage */
};

struct http_server {
    int fd;
    int port;
    pthread_t thread;
    atomic_int mode;
    atomic_int status;
    atomic_int requests;
    atomic_bool stop;
    pthread_mutex_t lock;
    char last_request[1024];
};

/* Starts the server on @addr, port 0; it serves until http_server_stop. */
void http_server_start(struct http_server *s, const char *addr);
void http_server_stop(struct http_server *s);
/* A copy of the last request's head. */
void http_server_last(struct http_server *s, char *buf, size_t size);

#endif
