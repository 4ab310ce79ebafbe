/* SPDX-License-Identifier: MIT */
/*
 * health.h - production-grade /live, /ready, /started and /health HTTP
 * endpoints for C services.
 *
 * A service creates a handle, registers check callbacks (each with a timeout
 * and an interval), starts it, and a libmicrohttpd thread answers probes as
 * application/health+json from the latest stored results.  Probes never
 * wait on a check.
 *
 * Errors: every function that returns int returns 0 (or a documented
 * non-negative value) on success and a negative errno code on failure.
 * health_strerror() turns a code into text.  A call that fails has no side
 * effects: nothing is registered, nothing is taken over, and no callback
 * passed to it is ever called.
 *
 * Thread safety: every function may be called from any thread, except that
 * health_destroy() must not race with any other call on the same handle and
 * must never be called from inside a library callback.  Check callbacks run
 * on library-owned threads, one thread per check; one check never runs
 * concurrently with itself, and different checks run concurrently.  Two
 * handles never share state.
 *
 * Ownership: strings passed in are copied.  userdata is borrowed; the
 * library never dereferences it, and when a free_data function is given it
 * is called exactly once, after the last run has returned.  Strings handed
 * out are static or valid only for the duration of the callback that
 * receives them.  No function returns memory the caller must free.
 *
 * The library installs no signal handlers, never calls exit() or abort(),
 * and never writes to stdout or stderr.  Diagnostics go to the optional
 * logger in struct health_options.
 */
#ifndef HEALTH_HEALTH_H
#define HEALTH_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HEALTH_VERSION_MAJOR 0
#define HEALTH_VERSION_MINOR 2
#define HEALTH_VERSION_PATCH 0
#define HEALTH_VERSION_HEX                                     \
 ((HEALTH_VERSION_MAJOR << 16) | (HEALTH_VERSION_MINOR << 8) | \
  (HEALTH_VERSION_PATCH))

#if defined(_WIN32) && defined(HEALTH_BUILDING_SHARED)
# define HEALTH_API __declspec(dllexport)
#elif defined(_WIN32) && defined(HEALTH_USING_SHARED)
# define HEALTH_API __declspec(dllimport)
#elif defined(__GNUC__) && __GNUC__ >= 4
# define HEALTH_API __attribute__((visibility("default")))
#else
# define HEALTH_API
#endif

#if defined(__GNUC__)
# define HEALTH_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
# define HEALTH_PRINTF(fmt, args)
#endif

/* Longest check or heartbeat name, without the terminating NUL. */
#define HEALTH_NAME_MAX 63
/* Capacity of a result's output text, including the terminating NUL. */
#define HEALTH_OUTPUT_MAX 256
/* Capacity of a result's observedUnit text, including the terminating NUL. */
#define HEALTH_UNIT_MAX 32

typedef struct health health_t;
typedef struct health_result health_result_t;
typedef struct health_heartbeat health_heartbeat_t;

/* What a check reports.  Any other value returned by a check is recorded as
 * HEALTH_FAIL with output "invalid status N". */
typedef enum health_status {
    HEALTH_PASS = 0,
    HEALTH_WARN = 1,
    HEALTH_FAIL = 2
} health_status_t;

/* Which endpoints a check feeds (struct health_check.flags).  /health
 * reports every check whatever its flags. */
enum health_check_flags {
    /* Feeds /ready.  A check with no endpoint flag gets this one. */
    HEALTH_CHECK_READY = 1 << 0,
    /* Feeds /live.  Only for checks that detect a state the process cannot
     * recover from without a restart; never a downstream dependency. */
    HEALTH_CHECK_LIVE = 1 << 1,
    /* Feeds /started (and so /ready) until it has passed (or warned) once. */
    HEALTH_CHECK_STARTUP = 1 << 2,
    /* A failure makes the endpoint's status "warn" (HTTP 200), not "fail". */
    HEALTH_CHECK_NONCRITICAL = 1 << 3
};

/* Who sees check outputs and observed values (struct health_options). */
enum health_details {
    /* $HEALTH_DETAILS, else HEALTH_DETAILS_LOCAL. */
    HEALTH_DETAILS_DEFAULT = 0,
    /* Peers local at both ends (connected from a loopback address to a
     * loopback address), and those that health_options.token or
     * .details_cidrs grant; other peers get statuses only. */
    HEALTH_DETAILS_LOCAL = 1,
    /* Every peer. */
    HEALTH_DETAILS_ALWAYS = 2,
    /* No peer, whatever the token and details_cidrs say. */
    HEALTH_DETAILS_NEVER = 3
};

/* struct health_options.flags */
enum health_option_flags {
    /* Startup is complete only once health_set_started() is called (and
     * every STARTUP check has passed once).  Without it, startup completes
     * as soon as the STARTUP checks have passed. */
    HEALTH_OPT_MANUAL_STARTUP = 1 << 0,
    /* No GET /metrics endpoint ($HEALTH_METRICS=off means the same). */
    HEALTH_OPT_NO_METRICS = 1 << 1,
    /* Speak systemd's notify protocol (READY=1, WATCHDOG=1, STOPPING=1,
     * STATUS=) whatever $HEALTH_SYSTEMD says, when $NOTIFY_SOCKET is set. */
    HEALTH_OPT_SYSTEMD = 1 << 2,
    /* Never speak systemd's notify protocol. */
    HEALTH_OPT_NO_SYSTEMD = 1 << 3
};

/* struct health_options.port: an ephemeral port, read back with
 * health_port().  $HEALTH_PORT=0 means the same. */
#define HEALTH_PORT_EPHEMERAL (-1)

/* A check: return the status, optionally describe it through @result. */
typedef health_status_t health_check_fn(health_result_t *result,
                                        void *userdata);
/* Releases the userdata given at registration. */
typedef void health_free_fn(void *userdata);
/* A check's status changed (its first result counts as a change).  @output
 * is valid only during the call and may be "". */
typedef void health_change_fn(const char *name, health_status_t status,
                              const char *output, void *userdata);
/* A diagnostic line from the library or libmicrohttpd, without newline. */
typedef void health_log_fn(const char *message, void *userdata);

/*
 * Construction-time settings.  Zero-initialise and set what you need: every
 * zero or NULL field means "environment variable, then default".  The
 * struct and every string in it are copied by health_create().
 */
struct health_options {
    /* 1..65535, or HEALTH_PORT_EPHEMERAL; 0: $HEALTH_PORT, else 8080. */
    int port;
    /* An IPv4 or IPv6 literal; NULL: $HEALTH_BIND, else every interface,
     * IPv4 and IPv6 on one socket ("::", or "0.0.0.0" where the host has
     * no IPv6). */
    const char *bind_address;
    /* Who sees check outputs and observed values, in the JSON and the
     * text form alike; statuses and status codes are the same for every
     * peer.  HEALTH_DETAILS_*; 0: $HEALTH_DETAILS (local, always, never),
     * else local.  Under local, a sidecar that forwards to the pod IP
     * (Istio since 1.10, Linkerd since 2.11) gets statuses only; one that
     * forwards to 127.0.0.1 cannot be told apart from a probe inside the
     * container and gets details (README, Security). */
    enum health_details details;
    /* HEALTH_OPT_* */
    unsigned flags;
    /* Default timeout and interval of checks that leave theirs 0;
     * 0: 1000 ms and 5000 ms. */
    unsigned timeout_ms;
    unsigned interval_ms;

    /* Optional fields of the report ("version", "releaseId", "serviceId",
     * "description"); at most 255 bytes each. */
    const char *version;
    const char *release_id;
    const char *service_id;
    const char *description;

    /* Optional: told of every check status change, on a library thread;
     * it may call any function but health_destroy(). */
    health_change_fn *on_change;
    void *on_change_userdata;
    /* Optional: library and libmicrohttpd diagnostics, on any thread. */
    health_log_fn *log;
    void *log_userdata;

    /* Limits.  0 means the default given. */
    /* Open connections, loopback peers included: 0: 512.  When all are
     * taken, the idle connection (one waiting for or receiving its next
     * request) that has waited longest, of the address holding the most,
     * is shut down to make room: a flood or a slowloris from one
     * address, loopback or not, cannot lock other peers out (the
     * kubelet, a HEALTHCHECK from 127.0.0.1, a sidecar from 127.0.0.6).
     * A connection shut down is closed on the server's next pass; while
     * 32 wait for that, new ones are refused, so the process holds at
     * most max_connections + 32 connection sockets.  The bookkeeping
     * takes about 200 bytes a connection, allocated as the number open
     * reaches a new high and kept for reuse. */
    unsigned max_connections;
    /* Open connections from one address, loopback addresses included:
     * 0: 32.  A new connection from an address holding that many takes
     * the place of that address's longest-waiting idle connection, or is
     * closed at once if none of them is idle.  Behind a sidecar every
     * peer has the sidecar's address (127.0.0.6 or 127.0.0.1). */
    unsigned max_connections_per_ip;
    /* Seconds a connection may send nothing before it is closed: 0: 10. */
    unsigned idle_timeout_s;
    /* Memory per connection for the request, URL and headers included;
     * a larger request is refused (431 or 414) or closed: 0: 16384. */
    size_t connection_memory;

    /* Since 0.2. */

    /* Who else sees details under HEALTH_DETAILS_LOCAL (not under
     * never; everyone does under always). */
    /* A bearer token: a request with "Authorization: Bearer <token>"
     * (scheme in any case) gets details from any peer.  1..1024 visible
     * ASCII characters, no spaces.  Compared in constant time, never
     * logged or sent back.  A wrong, missing or malformed token only
     * withholds details; it never changes a status code.  NULL: the
     * first line of the file named by $HEALTH_TOKEN_FILE (a mounted
     * Secret), trailing whitespace stripped, read once by health_create():
     * a file that cannot be read or whose first line is not a valid token
     * is -EINVAL.  Neither: no token. */
    const char *token;
    /* Peers in these ranges get details: IPv4 or IPv6 CIDR ranges or
     * single addresses, at most 256, separated by commas or white space,
     * e.g. "10.0.0.0/8, fd00::/8".  An IPv4 range also matches IPv4 peers
     * on an IPv6 socket (::ffff:a.b.c.d); host bits past the prefix are
     * ignored; bad syntax is -EINVAL.  Behind a sidecar the peer is the
     * sidecar (127.0.0.6), not the client: use the token there.
     * NULL: $HEALTH_DETAILS_CIDRS, else none; "": none. */
    const char *details_cidrs;

    /* The check runner. */
    /* Threads kept for running checks: 0: 4 (1..64). */
    unsigned check_threads;
    /* Check threads in all, hung runs included: a run past its timeout
     * keeps its thread and the pool starts another, up to this bound.
     * 0: 64 (check_threads..1024). */
    unsigned max_check_threads;
    /* Stack size of check threads and of the thread that runs on_change
     * and log: 0: 512 KiB (64 KiB..64 MiB). */
    size_t check_stack_size;
};

/*
 * What a check is.  Usually a static const struct; the library copies it.
 */
struct health_check {
    /* Required; copied.  [a-z0-9_.-]{1,63}, unique among the handle's
     * checks and heartbeats. */
    const char *name;
    /* HEALTH_CHECK_*; with none of READY, LIVE, STARTUP: READY. */
    unsigned flags;
    /* A run longer than this is recorded as fail "timed out after N ms"
     * at its deadline; 0: health_options.timeout_ms. */
    unsigned timeout_ms;
    /* Time from one run's start to the next; 0: health_options.interval_ms.
     * A run that outlasts it is followed at once by the next. */
    unsigned interval_ms;
    /* Required. */
    health_check_fn *run;
    /* Optional; called exactly once with the registration's userdata,
     * after the last run has returned. */
    health_free_fn *free_data;

    /* Flap damping, since 0.2.  The reported status turns to fail only
     * after @fail_after consecutive failed runs (0: 1), or once runs have
     * failed continuously for @fail_after_ms (0: no time rule), whichever
     * comes first; and back to pass or warn only after @pass_after
     * consecutive good runs (0: 1).  A timeout is a failed run. */
    unsigned fail_after;
    unsigned fail_after_ms;
    unsigned pass_after;
};

/**
 * Creates a handle with a copy of @opts (NULL: all defaults, from the
 * environment where set) and stores it in *@ret.  Nothing is bound and no
 * thread is started until health_start().
 * Returns 0, -EINVAL (NULL @ret; a bad option; a bad HEALTH_PORT,
 * HEALTH_BIND or HEALTH_DETAILS value) or -ENOMEM.  On failure *@ret is
 * left untouched.
 * Since 0.1.
 */
HEALTH_API int health_create(health_t **ret, const struct health_options *opts);

/**
 * Stops the handle (as health_stop()) and frees it.  Checks still
 * registered are unregistered: free_data is called before this returns for
 * checks that are not running, and on the check's own thread when the run
 * returns for a check that hangs.  Nothing of the handle is touched by
 * callers' threads afterwards; a hung callback that returns later finds its
 * state intact.  NULL is a no-op.
 * Must not race with any other call on @h, nor be called from a callback.
 * Since 0.1.
 */
HEALTH_API void health_destroy(health_t *h);

/**
 * Binds the port, starts the HTTP thread and the check threads.  The first
 * run of every check starts at once.
 * Returns 0, -EINVAL (NULL @h), -EALREADY (already started), -EADDRINUSE
 * (port taken), -EADDRNOTAVAIL (bind address not on this host), -EACCES
 * (privileged port), -ENOMEM, -EAGAIN (no thread could be created) or -EIO
 * (libmicrohttpd failed otherwise).  After a stop, a handle may start again.
 * Since 0.1.
 */
HEALTH_API int health_start(health_t *h);

/**
 * Stops serving and stops scheduling checks; the port is closed when this
 * returns.  Does not wait for a check that hangs.  Registrations are kept.
 * Returns 0 (also when not started) or -EINVAL (NULL @h).
 * Since 0.1.
 */
HEALTH_API int health_stop(health_t *h);

/**
 * Registers a check.  @check is copied; @userdata is passed to check->run
 * and check->free_data.  Before its first result the check is pending: it
 * fails /ready and /started and does not fail /live.  After health_start()
 * its first run starts at once.
 * Returns 0, -EINVAL (NULL @h, @check or check->run; a bad name; unknown
 * flags), -EEXIST (name taken), -ENOMEM or -EAGAIN (no thread could be
 * created).  On failure nothing is taken and no callback is ever called.
 * May be called from any thread, callbacks included.
 * Since 0.1.
 */
HEALTH_API int health_register_check(health_t *h,
                                     const struct health_check *check,
                                     void *userdata);

/**
 * Removes the check named @name.  Never waits for a running callback: if
 * the check is not running, its free_data is called before this returns;
 * if it is running, free_data is called on the check's thread when the
 * run returns, and the run's result is discarded.
 * Returns 0, -EINVAL (NULL @h or @name) or -ENOENT (no such check).
 * May be called from any thread, also from inside a check callback (its
 * own check included: free_data then runs after that callback returns).
 * Since 0.1.
 */
HEALTH_API int health_unregister_check(health_t *h, const char *name);

/**
 * Registers a heartbeat named @name (as check names, unique among checks
 * and heartbeats) and stores its handle in *@ret.  /live (and /health)
 * fail while the last beat is older than @deadline_ms; registering counts
 * as a beat.
 * Returns 0, -EINVAL (NULL argument, bad name, @deadline_ms of 0), -EEXIST
 * or -ENOMEM.  On failure *@ret is left untouched.
 * Since 0.1.
 */
HEALTH_API int health_register_heartbeat(health_t *h, const char *name,
                                         unsigned deadline_ms,
                                         health_heartbeat_t **ret);

/**
 * Records a beat: a coarse monotonic clock read and one atomic store, safe
 * in a hot loop and from any thread.  NULL is a no-op.  Must not be called
 * after health_unregister_heartbeat() or health_destroy().
 * Since 0.1.
 */
HEALTH_API void health_heartbeat_beat(health_heartbeat_t *hb);

/**
 * Removes and frees the heartbeat @hb.
 * Returns 0, -EINVAL (NULL argument) or -ENOENT (@hb is not registered on
 * @h).
 * Since 0.1.
 */
HEALTH_API int health_unregister_heartbeat(health_t *h, health_heartbeat_t *hb);

/**
 * Marks startup as complete for a handle created with
 * HEALTH_OPT_MANUAL_STARTUP: /started and /ready may pass from now on (once
 * every STARTUP check has passed).  Idempotent; a no-op without the flag.
 * Returns 0 or -EINVAL (NULL @h).
 * Since 0.1.
 */
HEALTH_API int health_set_started(health_t *h);

/**
 * Begins a graceful shutdown: /ready fails at once with output "shutting
 * down"; /live, /started and the checks go on as before.  Call it on
 * SIGTERM (from the main loop, not from the signal handler), wait for the
 * load balancers to notice, then stop.  Idempotent and irreversible.
 * Returns 0 or -EINVAL (NULL @h).
 * Since 0.1.
 */
HEALTH_API int health_begin_shutdown(health_t *h);

/**
 * Returns the bound TCP port (1..65535) while started, -EINVAL (NULL @h)
 * or -ENOTCONN (not started).
 * Since 0.1.
 */
HEALTH_API int health_port(const health_t *h);

/**
 * Sets the result's output text, printf-style.  Text longer than
 * HEALTH_OUTPUT_MAX - 1 bytes is truncated; invalid UTF-8 and control
 * characters are replaced when the result is stored.  NULL @result or
 * @fmt is a no-op.  Only valid inside the check callback that received
 * @result.
 * Since 0.1.
 */
HEALTH_API void health_result_setf(health_result_t *result, const char *fmt,
                                   ...) HEALTH_PRINTF(2, 3);

/**
 * Sets the result's output text to @text, copied as it is (no format):
 * the same as health_result_setf(result, "%s", text).  NULL @result or
 * @text is a no-op.  Only valid inside the check callback that received
 * @result.
 * Since 0.2.
 */
HEALTH_API void health_result_set_output(health_result_t *result,
                                         const char *text);

/**
 * Sets the result's observedValue and, when @unit is not NULL, its
 * observedUnit (truncated to HEALTH_UNIT_MAX - 1 bytes).  A value that is
 * not finite is ignored.  NULL @result is a no-op.  Only valid inside the
 * check callback that received @result.
 * Since 0.1.
 */
HEALTH_API void health_result_set_observed(health_result_t *result,
                                           double value, const char *unit);

/**
 * Returns a static, human-readable description of a code returned by this
 * library (negative errno), or "unknown error".  Thread-safe.
 * Since 0.1.
 */
HEALTH_API const char *health_strerror(int err);

/**
 * Returns HEALTH_VERSION_HEX of the library actually loaded.
 * Since 0.1.
 */
HEALTH_API unsigned health_version(void);

/**
 * The health-probe client, for a service that probes itself:
 * HEALTHCHECK CMD ["/app", "--probe"] calls this with the arguments after
 * the service's own flag.  @argv[0] is the program name; the rest is
 * [options] [URL | PATH], as health-probe --help prints.  Requests the URL
 * (default http://127.0.0.1:$HEALTH_PORT/live, port 8080 when unset) with
 * its own deadline, prints one short line to stdout, and returns the exit
 * status: 0 for HTTP 200..399, 1 for anything else.  Touches no handle.
 * Since 0.1.
 */
HEALTH_API int health_probe_main(int argc, char **argv);

/* ---- Metrics (since 0.2) ---------------------------------------------- */

/* ---- Ready-made checks (since 0.2) ------------------------------------ */

#ifdef __cplusplus
}
#endif

#endif /* HEALTH_HEALTH_H */
