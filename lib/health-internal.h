/* SPDX-License-Identifier: MIT */
/* Private types and cross-file functions of libhealth.  Nothing here is part
 * of the API or the ABI. */
#ifndef HEALTH_INTERNAL_H
#define HEALTH_INTERNAL_H

#include <health/health.h>

#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

/* The state of a check that has no result yet; other states are
 * health_status_t values. */
#define HEALTH__PENDING (-1)

#define HEALTH__DEFAULT_PORT 8080
#define HEALTH__DEFAULT_TIMEOUT_MS 1000u
#define HEALTH__DEFAULT_INTERVAL_MS 5000u
#define HEALTH__DEFAULT_MAX_CONNECTIONS 512u
#define HEALTH__DEFAULT_MAX_PER_IP 32u
#define HEALTH__DEFAULT_IDLE_TIMEOUT_S 10u
#define HEALTH__DEFAULT_CONNECTION_MEMORY 16384u
#define HEALTH__DEFAULT_CHECK_THREADS 4u
#define HEALTH__DEFAULT_MAX_CHECK_THREADS 64u
#define HEALTH__DEFAULT_STACK_SIZE (512u * 1024u)

/* The documented bounds of the options (health.h). */
#define HEALTH__MAX_TIME_MS 86400000u /* timeouts and intervals: a day */
#define HEALTH__MAX_CONNECTIONS 65536u
#define HEALTH__MAX_IDLE_TIMEOUT_S 3600u
#define HEALTH__MIN_CONNECTION_MEMORY 4096u
#define HEALTH__MAX_CONNECTION_MEMORY (16u * 1024u * 1024u)
#define HEALTH__MAX_CHECK_THREADS 1024u
#define HEALTH__MIN_STACK_SIZE (64u * 1024u)
#define HEALTH__MAX_STACK_SIZE (64u * 1024u * 1024u)
#define HEALTH__INFO_MAX 255u
#define HEALTH__TOKEN_MAX 1024u
#define HEALTH__CIDRS_MAX 256u

struct health_result {
    char output[HEALTH_OUTPUT_MAX];
    char unit[HEALTH_UNIT_MAX];
    double observed;
    bool has_observed;
};

/* Upper bounds (seconds) of the run-duration histogram; a last bucket
 * (+Inf) is implied: it is the number of runs. */
#define HEALTH__DURATION_BUCKETS 12
extern const double health__duration_bounds[HEALTH__DURATION_BUCKETS];

/* Counters over a check's life, for metrics. */
struct health__stats {
    uint64_t runs;     /* runs with a result, timeouts included */
    uint64_t failures; /* of which failed, timeouts included */
    uint64_t timeouts; /* of which timed out */
    /* runs that took at most health__duration_bounds[i] (cumulative) */
    uint64_t le[HEALTH__DURATION_BUCKETS];
    double duration_sum_s;
};

/* When a check's reported status follows its runs (struct health_check). */
struct health__damping {
    unsigned fail_after;    /* >= 1 */
    unsigned fail_after_ms; /* 0: no time rule */
    unsigned pass_after;    /* >= 1 */
};

/* The latest result of a check as the runner stored it, with its history.
 * Times named *_ms are wall clock, ms since the epoch, 0 for never. */
struct health__stored {
    int state; /* reported (damped): HEALTH__PENDING or a health_status_t */
    int raw;   /* the last run's own status, HEALTH__PENDING before one */
    struct health_result r;   /* the last run's output and observed value */
    int64_t time_ms;          /* when the last run's result was produced */
    int64_t duration_us;      /* how long the last run took */
    int64_t since_ms;         /* when state took its current value */
    int64_t last_pass_ms;     /* the last run that passed or warned */
    int64_t last_fail_ms;     /* the last run that failed */
    unsigned fails_in_row;    /* consecutive failed runs, up to the last */
    unsigned passes_in_row;   /* consecutive good runs, up to the last */
    int64_t failing_since_ns; /* monotonic start of the failing streak */
    struct health__stats stats;
};

struct health__check {
    struct health__check *next; /* registration order */
    health_t *h;
    char name[HEALTH_NAME_MAX + 1];
    unsigned flags;
    unsigned timeout_ms;
    unsigned interval_ms;
    health_check_fn *run;
    health_free_fn *free_data;
    void *userdata;
    struct health__damping damping;

    /* Everything below is protected by h->lock. */
    struct health__check *qnext; /* run queue (runner.c) */
    struct health__check *nnext; /* notification queue (notify.c) */
    bool queued;                 /* waits in the run queue for a thread */
    bool starved;         /* queued past its timeout: recorded as failed */
    bool running;         /* a run is in flight */
    bool timed_out;       /* the run in flight passed its deadline */
    bool removed;         /* unregistered: the thread of its run frees it */
    bool notify_queued;   /* waits in the notification queue */
    bool passed_once;     /* for STARTUP gating */
    int notified;         /* the last state told to on_change */
    int64_t due_ns;       /* monotonic: when the next run is due */
    int64_t run_start_ns; /* monotonic */
    struct health__stored latest;
};

/* A registered heartbeat; its beats live in heartbeat.c's slot table. */
struct health__heartbeat {
    struct health__heartbeat *next;
    char name[HEALTH_NAME_MAX + 1];
    unsigned deadline_ms;
    health_heartbeat_t *handle;
};

/* Where to send systemd notifications, decided by health_create(). */
struct health__sd_config {
    bool on; /* enabled and $NOTIFY_SOCKET set */
    struct sockaddr_un addr;
    socklen_t addr_len;
    int64_t watchdog_ns; /* ping interval ($WATCHDOG_USEC / 2), 0: none */
};

/* The options after defaults and the environment were applied. */
struct health__config {
    int port; /* 0: ephemeral */
    bool bind_any;
    struct sockaddr_storage bind_addr;
    socklen_t bind_addr_len;
    enum health_details details;
    unsigned flags;
    unsigned timeout_ms;
    unsigned interval_ms;
    char *version;
    char *release_id;
    char *service_id;
    char *description;
    health_change_fn *on_change;
    void *on_change_userdata;
    health_log_fn *log;
    void *log_userdata;
    unsigned max_connections;
    unsigned max_connections_per_ip;
    unsigned idle_timeout_s;
    size_t connection_memory;
    unsigned check_threads;
    unsigned max_check_threads;
    size_t check_stack_size;
    struct health__sd_config sd;
    struct health__trust *trust; /* who else sees details (trust.c) */
    bool metrics;                /* serve GET /metrics */
};

struct health__http;
struct health__log_ring;
struct health__systemd;

struct health {
    pthread_mutex_t life_lock; /* serialises start, stop and destroy */
    pthread_mutex_t lock;
    pthread_cond_t idle_cond;    /* a library thread left or went busy */
    pthread_cond_t sched_cond;   /* wakes the scheduler */
    pthread_cond_t pool_cond;    /* wakes idle check threads */
    pthread_cond_t notify_cond;  /* wakes the notifier */
    pthread_cond_t changed_cond; /* broadcast by health__changed() */
    struct health__config cfg;
    pid_t pid; /* the process that created the handle */

    /* Protected by lock. */
    struct health__check *checks; /* registration order */
    struct health__heartbeat *heartbeats;
    unsigned refs; /* the caller's, plus one per live library thread */
    bool started;
    bool stopping;
    bool destroyed;
    bool startup_called; /* health_set_started() */
    bool shutting_down;

    /* The runner (runner.c), protected by lock. */
    struct health__check *runq_head; /* due checks waiting for a thread */
    struct health__check *runq_tail;
    unsigned workers;        /* live check threads */
    unsigned workers_idle;   /* of which waiting for work */
    unsigned workers_busy;   /* of which inside a check callback */
    unsigned workers_hung;   /* of which in a run past its deadline */
    unsigned spawn_failures; /* in a row: the pool cannot grow now */
    bool sched_alive;
    bool sched_stop;
    int64_t sched_wake_ns; /* when the scheduler wakes; 0 while awake */
    pthread_t sched;

    /* The notifier (notify.c), protected by lock. */
    struct health__check *notq_head; /* checks whose status changed */
    struct health__check *notq_tail;
    struct health__log_ring *logs;
    bool notifier_alive;
    bool notifier_busy; /* inside on_change or log */

    struct health__http *http;
    struct health__systemd *sd; /* under life_lock; NULL: not notifying */

    /* Bumped on every change a report can see. */
    _Atomic uint64_t gen;
    _Atomic int port; /* bound port, 0 while not serving */
};

/* A check or heartbeat as one report sees it. */
struct health__entry {
    char name[HEALTH_NAME_MAX + 1];
    unsigned flags;
    bool heartbeat;
    bool passed_once;
    struct health__stored s;
    int64_t stuck_s; /* >=0: a timed-out run still in flight this long */
};

/* Everything a report needs, copied out under the lock. */
struct health__snapshot {
    struct health__entry *v;
    size_t n;
    size_t cap;
    bool startup_complete;
    bool shutting_down;
    int64_t expires_ns; /* when time alone changes the report, or INT64_MAX */
    uint64_t gen;
};

enum health__endpoint {
    HEALTH__EP_LIVE,
    HEALTH__EP_READY,
    HEALTH__EP_STARTED,
    HEALTH__EP_HEALTH
};

/* What to report: the endpoint, who asks, and which checks. */
struct health__query {
    enum health__endpoint ep;
    bool details;         /* include outputs and observed values */
    const char *only;     /* a per-check path: that check alone, or NULL */
    const char **exclude; /* names left out */
    size_t n_exclude;
};

/* health.c */
/* Something a report can see changed: bumps h->gen and wakes the waiters
 * on h->changed_cond.  The lock is held. */
void health__changed(health_t *h);
/* Drops a library thread's reference; the lock is held and is released
 * here.  Frees the handle when that was the last reference. */
void health__unref_unlock(health_t *h);
/* Whether the calling process is not the one that created @h. */
bool health__forked(const health_t *h);

/* thread.c */
int health__cond_init(pthread_cond_t *cond);
/* Blocks asynchronous signals on the calling thread (faults stay
 * deliverable), saving the old mask. */
void health__block_signals(sigset_t *old);
void health__restore_signals(const sigset_t *old);
/* Waits on @cond until signalled or @deadline_ns (monotonic; INT64_MAX:
 * no deadline). */
void health__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock,
                             int64_t deadline_ns);
/* Starts a library thread with asynchronous signals blocked, @stack bytes
 * of stack (0: the default) and a name; detached unless @joinable. */
int health__thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
                         size_t stack, bool joinable, const char *prefix,
                         const char *name);

/* notify.c */
/* Queues @c's status for on_change; the lock is held. */
void health__notify_change(health_t *h, struct health__check *c);
/* Forgets a queued notification of @c (unregistered); the lock is held. */
void health__notify_forget(health_t *h, struct health__check *c);
/* A diagnostic line for the log callback, delivered by the notifier.
 * Called without the lock. */
void health__log(health_t *h, const char *fmt, ...) HEALTH_PRINTF(2, 3);
/* The same, with the lock held. */
void health__log_locked(health_t *h, const char *fmt, ...) HEALTH_PRINTF(2, 3);
int health__notify_init(health_t *h);
void health__notify_fini(health_t *h);
/* Starts the notifier thread if callbacks are configured and it is not
 * alive; the lock is held. */
int health__notify_start(health_t *h);
/* Drops every queued notification and log line; the lock is held. */
void health__notify_drop(health_t *h);

/* heartbeat.c */
int health__beat_alloc(health_heartbeat_t **ret);
void health__beat_release(health_heartbeat_t *hb);
/* A beat stamped @ms (coarse monotonic); health_heartbeat_beat() is
 * this with the current time. */
void health__beat_at(health_heartbeat_t *hb, int64_t ms);
/* Milliseconds since the last beat (0 when @hb is no longer valid). */
int64_t health__beat_age_ms(const health_heartbeat_t *hb, int64_t now_ms);

/* listen.c */
int health__listen(const struct health__config *cfg, int *fd);
int health__bound_port(int fd);

/* clock.c */
int64_t health__mono_ns(void);
int64_t health__mono_coarse_ms(void);
int64_t health__wall_ms(void);
void health__format_time(int64_t wall_ms, char *buf, size_t size);

/* text.c */
void health__sanitize_text(char *s);

/* config.c */
int health__config_init(struct health__config *cfg,
                        const struct health_options *opts);
void health__config_fini(struct health__config *cfg);

/* registry.c */
bool health__name_is_valid(const char *name);
struct health__check *health__find_check(const health_t *h, const char *name);
bool health__name_taken(const health_t *h, const char *name);
void health__append_check(health_t *h, struct health__check *c);
void health__unlink_check(health_t *h, struct health__check *c);

/* results.c */
void health__stored_init(struct health__stored *s);
/* Store a run's result, a timeout (@late_ns past the deadline) or a run
 * that found no free thread; each returns true when the reported status
 * changed. */
bool health__stored_result(struct health__stored *s,
                           const struct health__damping *d, int status,
                           const health_result_t *r, int64_t start_ns,
                           int64_t took_ns);
bool health__stored_timeout(struct health__stored *s,
                            const struct health__damping *d,
                            unsigned timeout_ms, int64_t start_ns,
                            int64_t late_ns);
bool health__stored_starved(struct health__stored *s,
                            const struct health__damping *d, unsigned busy,
                            int64_t due_ns);
/* Copies what reports need; the caller holds h->lock.  @snap is reused
 * across calls (its memory only grows). */
int health__snapshot_take(health_t *h, struct health__snapshot *snap);
void health__snapshot_fini(struct health__snapshot *snap);

/* runner.c */
/* Starts the scheduler; the lock is held.  Check threads start on
 * demand. */
int health__runner_start(health_t *h);
/* Stops the scheduler and every check thread that is not inside a
 * callback; called without the lock, after h->stopping was set. */
void health__runner_stop(health_t *h);
/* A check was added or removed; the lock is held. */
void health__runner_add(health_t *h, struct health__check *c);
void health__runner_remove(health_t *h, struct health__check *c);
void health__check_free(struct health__check *c);

/* report.c */
bool health__query_includes(const struct health__query *q,
                            const struct health__entry *e);
bool health__query_matches(const struct health__snapshot *snap,
                           const struct health__query *q);
health_status_t health__report_status(const struct health__snapshot *snap,
                                      const struct health__query *q,
                                      const char **note);
char *health__report_json(const struct health__snapshot *snap,
                          const struct health__query *q,
                          const struct health__config *cfg, size_t *len,
                          health_status_t *status);
/* A growable byte buffer whose memory is reused from one render to the
 * next: it only grows. */
struct health__buf {
    char *p;
    size_t len;
    size_t cap;
};
void health__buf_fini(struct health__buf *b);
/* The JSON report, as health__report_json() renders it, written into @b
 * (its old content replaced, NUL-terminated past len).  Allocates only
 * when @b must grow.  Returns 0 or -ENOMEM. */
int health__report_json_buf(const struct health__snapshot *snap,
                            const struct health__query *q,
                            const struct health__config *cfg,
                            struct health__buf *b, health_status_t *status);
char *health__report_text(const struct health__snapshot *snap,
                          const struct health__query *q, bool verbose,
                          size_t *len, health_status_t *status);
void health__report_free(void *body);

/* route.c */
int health__route(const char *path, enum health__endpoint *ep,
                  const char **name);
bool health__route_metrics(const char *path);

/* metrics.c */
/* Renders the exposition of @snap (OpenMetrics when @om, else the text
 * format 0.0.4) into @buf as snprintf() does; returns the full length. */
size_t health__metrics_render(const struct health__snapshot *snap,
                              const struct health__config *cfg, bool om,
                              int64_t wall_ms, char *buf, size_t size);
/* The same in a malloc()ed buffer of *@len bytes; NULL on failure. */
char *health__metrics_body(const struct health__snapshot *snap,
                           const struct health__config *cfg, bool om,
                           int64_t wall_ms, size_t *len);
/* When time alone changes the exposition of @snap (ages in ms). */
int64_t health__metrics_expires(const struct health__snapshot *snap,
                                int64_t now_ns);
const char *health__metrics_content_type(bool om);
/* Whether an Accept header prefers OpenMetrics to the text format. */
bool health__metrics_openmetrics(const char *accept);

/* limits.c */
struct health__limits;
struct health__conn;
bool health__peer_addr(const struct sockaddr *sa, struct in6_addr *out);
bool health__is_loopback(const struct in6_addr *a);
/* @headroom: connections shut down to make room that may still be open
 * (beyond @max_total) before new ones are refused. */
int health__limits_new(struct health__limits **ret, unsigned max_total,
                       unsigned max_per_ip, unsigned headroom);
void health__limits_free(struct health__limits *l);
bool health__limits_admit(struct health__limits *l, const struct in6_addr *a);
/* Whether every socket the limits allow is open, cut ones included: no
 * connection can be admitted until one closes. */
bool health__limits_full(struct health__limits *l);
struct health__conn *health__limits_open(struct health__limits *l,
                                         const struct in6_addr *a, int fd);
void health__limits_close(struct health__limits *l, struct health__conn *c);
void health__limits_busy(struct health__conn *c, bool busy);
/* The descriptor a cut of @c shuts down: -1 while it has none that is
 * safe to shut down (a cut then waits for the next one). */
void health__limits_set_fd(struct health__conn *c, int fd);

/* trust.c */
struct health__trust;
/* The token and CIDR ranges of @o, else of the environment. */
int health__trust_new(struct health__trust **ret,
                      const struct health_options *o);
void health__trust_free(struct health__trust *t);
bool health__trust_in_cidrs(const struct health__trust *t,
                            const struct in6_addr *a);
bool health__trust_token_ok(const struct health__trust *t,
                            const char *authorization);
/* The decision itself, pure: @local_loopback tells whether the address
 * the peer connected to is a loopback one. */
bool health__trust_decide(const struct health__trust *t,
                          enum health_details mode, const struct in6_addr *peer,
                          bool local_loopback, const char *authorization);
/* Whether a request on connection @fd from @peer with the Authorization
 * header @authorization (or NULL) gets details. */
bool health__trust_details(const struct health__config *cfg,
                           const struct sockaddr *peer, int fd,
                           const char *authorization);

/* request.c */
/* The longest request head the front thread reads; a longer one goes to
 * libmicrohttpd. */
#define HEALTH__REQUEST_MAX 4096
#define HEALTH__REQUEST_HEADERS_MAX 64

/* A plain probe request, as health__request_parse() found it. */
struct health__request {
    size_t consumed; /* bytes of the request, its blank line included */
    bool head;       /* HEAD, else GET */
    bool http10;
    bool close;                /* the connection ends after the answer */
    bool has_accept;           /* an Accept header was seen */
    char path[256];            /* the request target, a path with no query */
    const char *authorization; /* into the parsed buffer, or NULL */
    size_t authorization_len;
};

enum health__parse {
    HEALTH__REQ_OK,      /* a plain probe request, whole */
    HEALTH__REQ_PARTIAL, /* no blank line yet */
    HEALTH__REQ_OTHER    /* anything else: libmicrohttpd's to answer */
};

/* Parses the @len bytes at @buf, the start of what the peer sent. */
enum health__parse health__request_parse(const char *buf, size_t len,
                                         struct health__request *r);

/* front.c */
struct health__front;
/* Hands the accepted connection @fd, with its record @lc in the limits,
 * to libmicrohttpd, which owns both from then on (and closes them on
 * failure).  Runs on the hand-over thread. */
typedef void health__handoff_fn(void *ctx, int fd, const struct sockaddr *sa,
                                socklen_t len, struct health__conn *lc);
/* Starts the front thread on the listening socket @fd (owned by the
 * front from then on, unless this fails) with @cap connection slots. */
int health__front_start(health_t *h, int fd, struct health__limits *limits,
                        unsigned cap, health__handoff_fn *handoff, void *ctx,
                        struct health__front **ret);
/* Stops both threads, closes the connections waiting here and the
 * listening socket; queued hand-overs are delivered first. */
void health__front_stop(struct health__front *f);

/* http.c */
int health__http_start(health_t *h);
void health__http_stop(health_t *h);

/* systemd.c */
/* Fills @n from HEALTH_OPT_SYSTEMD / HEALTH_OPT_NO_SYSTEMD in @flags,
 * $HEALTH_SYSTEMD, $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID;
 * -EINVAL on a bad value. */
int health__sd_config_init(struct health__sd_config *n, unsigned flags);
/* Start and stop the notify thread; life_lock is held, h->lock is not. */
int health__systemd_start(health_t *h);
void health__systemd_stop(health_t *h);
/* In a forked child: frees the state, joins and closes nothing. */
void health__systemd_forget(health_t *h);

#endif /* HEALTH_INTERNAL_H */
