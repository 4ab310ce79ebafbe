/* Helpers of the hostile-client and fault suites: a raw TCP client that
 * sends arbitrary bytes and parses what comes back, a kubelet-like prober
 * thread that measures the probe success rate during an attack, process
 * counters (RSS, fds) and a private network namespace with documentation
 * addresses for "remote" peers. */
#ifndef HEALTH_HOSTILE_H
#define HEALTH_HOSTILE_H

#include "kubeprobe.h"
#include "test.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Documentation addresses added to lo inside the namespace: the attacker,
 * the kubelet (a second non-loopback peer), and flood sources. */
#define NS_ATTACKER "192.0.2.10"
#define NS_KUBELET "192.0.2.11"
#define NS_FLOOD_FMT "192.0.2.%d"
#define NS_FLOOD_FIRST 20
#define NS_FLOOD_COUNT 8
/* The pod IP of the fairness tests (test_fair.c), and the source a
 * sidecar forwards from (Istio: 127.0.0.6). */
#define NS_POD "192.0.2.1"
#define NS_SIDECAR "127.0.0.6"

/* Unshares a network namespace and adds the addresses above; -1 (with a
 * message) when that is not possible (not root): the caller skips, 77. */
int hostile_netns(void);

/* A request to send: @head verbatim, then @body_len bytes of 'x'. */
struct hc_request {
    const char *head;
    size_t head_len; /* 0: strlen(head) */
    size_t body_len;
    bool shut_wr; /* half-close after sending */
};

#define HC_MAX_RESPONSES 128

/* What came back on one connection. */
struct hc_reply {
    int connect_errno; /* non-zero: the connection never opened */
    size_t sent;       /* request bytes the kernel took */
    bool send_failed;  /* the peer closed or reset while we sent */
    bool closed;       /* EOF from the server */
    bool reset;        /* ECONNRESET from the server */
    bool timed_out;    /* the deadline passed with the connection open */
    int64_t first_ms;  /* ms to the first response byte, -1: none */
    int64_t end_ms;    /* ms to EOF/reset/deadline */
    size_t len;        /* bytes received (kept up to sizeof(data) - 1) */
    char data[32768];  /* NUL-terminated */
    int n;             /* complete responses parsed */
    int status[HC_MAX_RESPONSES];
    bool conn_close[HC_MAX_RESPONSES]; /* "Connection: close" */
    char allow[64];                    /* Allow: of the first response */
};

/* Clears @r before a use (hc_batch_fds does not). */
void hc_reply_init(struct hc_reply *r);
/* Connects to @ip:@port (non-blocking socket, waited up to @timeout_ms);
 * returns the fd or -errno. */
int hc_connect(const char *ip, int port, int64_t timeout_ms);
/* The same from the source address @src (bound before connecting; NULL:
 * the kernel's choice). */
int hc_connect_from(const char *src, const char *ip, int port,
                    int64_t timeout_ms);
/* One exchange on a new connection: sends the request (reading while it
 * sends), then reads until EOF, reset or @timeout_ms from the start. */
void hc_exchange(const char *ip, int port, const struct hc_request *q,
                 int64_t timeout_ms, struct hc_reply *r);
/* The same on an open fd (closed on return). */
void hc_exchange_fd(int fd, const struct hc_request *q, int64_t timeout_ms,
                    struct hc_reply *r);
/* @n exchanges at once, each on its own new connection (q[i] -> r[i]),
 * all bounded by one deadline. */
void hc_batch(const char *ip, int port, const struct hc_request *q,
              struct hc_reply *r, int n, int64_t timeout_ms);
/* The same on open fds (a negative fd is skipped); all are closed. */
void hc_batch_fds(int *fds, const struct hc_request *q, struct hc_reply *r,
                  int n, int64_t timeout_ms);
/* Parses the responses in r->data into r->n, r->status, r->conn_close. */
void hc_parse(struct hc_reply *r);
/* Whether the server has closed @fd (EOF or error, nothing pending) after
 * waiting up to @wait_ms; bytes that arrive are discarded. */
bool hc_peer_closed(int fd, int wait_ms);

/* A kubelet-like prober on its own thread: a new connection per probe,
 * the kubelet's request bytes, a 1 s deadline (SLOW-scaled), pausing
 * @gap_ms between probes.  Counts successes (200..399). */
struct prober {
    pthread_t thread;
    struct kube_probe probe;
    const char *source;     /* bound source address, or NULL */
    struct hc_reply *reply; /* for probes from @source */
    char request[256];      /* the kubelet's bytes, for @source */
    int gap_ms;
    atomic_bool stop;
    atomic_int total;
    atomic_int ok;
    int64_t worst_ms;
    char last_error[160];
    pthread_mutex_t lock;
};
void prober_start(struct prober *p, const char *host, int port,
                  const char *path);
/* The same from the source address @source, a probe every @gap_ms. */
void prober_start_from(struct prober *p, const char *source, const char *host,
                       int port, const char *path, int gap_ms);
/* Stops and joins; prints "probes from HOST: ok/total". */
void prober_stop(struct prober *p);
double prober_rate(const struct prober *p);

/* Resident set size of this process in KiB, after malloc_trim(). */
long hostile_rss_kb(void);
/* True in builds where RSS says little (sanitizers, valgrind). */
bool hostile_instrumented(void);
/* Whether /ready/db answers 200 on a fresh connection from 127.0.0.1. */
bool hostile_ready(int port);

/* Milliseconds since an arbitrary start, like test_now_ms(). */
int64_t hostile_now(void);
/* Sleeps @ms (for pacing a trickle, never for waiting on a condition). */
void hostile_pause(int ms);
/* Raises RLIMIT_NOFILE's soft limit to the hard limit. */
void hostile_raise_nofile(void);
/* Raises RLIMIT_NOFILE to at least @n (the hard limit too, as root);
 * false when that is not possible. */
bool hostile_nofile_at_least(long n);

#endif
