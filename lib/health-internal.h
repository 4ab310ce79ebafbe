/* SPDX-License-Identifier: MIT */
/* Private types and cross-file functions of libhealth.  Nothing here is part
 * of the API or the ABI. */
#ifndef HEALTH_INTERNAL_H
#define HEALTH_INTERNAL_H

#include <health/health.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

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
    struct health__check *next;
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
    pthread_cond_t wake;  /* wakes the check's thread */
    bool has_thread;      /* a thread serves this check */
    bool removed;         /* unregistered: its thread frees it */
    bool free_on_thread;  /* free_data is the thread's to call */
    bool running;         /* a run is in flight */
    bool timed_out;       /* the run in flight passed its deadline */
    bool passed_once;     /* for STARTUP gating */
    int64_t run_start_ns; /* monotonic */
    int64_t next_due_ns;  /* monotonic */
    struct health__stored latest;
};

struct health_heartbeat {
    struct health_heartbeat *next;
    char name[HEALTH_NAME_MAX + 1];
    unsigned deadline_ms;
    _Atomic int64_t last_ms; /* coarse monotonic clock */
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
    struct health__trust *trust; /* who else sees details (trust.c) */
};

struct health__http;

struct health {
    pthread_mutex_t life_lock; /* serialises start and stop */
    pthread_mutex_t lock;
    pthread_cond_t idle_cond;     /* a check thread left or a call ended */
    pthread_cond_t watchdog_cond; /* wakes the watchdog */
    pthread_cond_t changed_cond;  /* broadcast by health__changed() */
    struct health__config cfg;

    /* Protected by lock. */
    struct health__check *checks; /* registration order */
    struct health_heartbeat *heartbeats;
    unsigned refs;         /* the handle, plus one per live check thread */
    unsigned threads;      /* live check threads */
    unsigned threads_busy; /* of which inside a callback */
    unsigned notifying;    /* on_change calls in progress */
    bool started;
    bool stopping;
    bool destroyed;
    bool startup_called; /* health_set_started() */
    bool shutting_down;
    bool watchdog_stop;
    bool watchdog_alive;
    int64_t watchdog_wake_ns; /* INT64_MAX: sleeping until signalled */
    pthread_t watchdog;
    struct health__http *http;

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
void health__unref_locked(health_t *h, bool *last);
void health__free(health_t *h);
void health__log(const health_t *h, const char *fmt, ...) HEALTH_PRINTF(2, 3);

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
int health__cond_init(pthread_cond_t *cond);
void health__block_signals(sigset_t *old);
void health__restore_signals(const sigset_t *old);
int health__runner_start(health_t *h);
void health__runner_stop(health_t *h);
int health__runner_add(health_t *h, struct health__check *c);
void health__check_free(struct health__check *c);

/* result.c */
int64_t health__mono_ns(void);
int64_t health__mono_coarse_ms(void);
int64_t health__wall_ms(void);
void health__sanitize_text(char *s);
void health__format_time(int64_t wall_ms, char *buf, size_t size);

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
char *health__report_text(const struct health__snapshot *snap,
                          const struct health__query *q, bool verbose,
                          size_t *len, health_status_t *status);
void health__report_free(void *body);

/* route.c */
int health__route(const char *path, enum health__endpoint *ep,
                  const char **name);

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
struct health__conn *health__limits_open(struct health__limits *l,
                                         const struct in6_addr *a, int fd);
void health__limits_close(struct health__limits *l, struct health__conn *c);
void health__limits_busy(struct health__conn *c, bool busy);

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

/* http.c */
int health__http_start(health_t *h);
void health__http_stop(health_t *h);

#endif /* HEALTH_INTERNAL_H */
