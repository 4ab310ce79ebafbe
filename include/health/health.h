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
 * Threads: every function may be called from any thread, and from inside
 * every library callback (check, free_data, on_change, log), the lifecycle
 * functions included.  The one rule: health_destroy() must not race with
 * another call on the same handle from a thread that the library did not
 * start, since the handle is gone when it returns.  Two handles never share
 * state.
 *
 * The library's threads, per started handle:
 * - one libmicrohttpd thread that answers requests; it never runs user
 *   code and never waits on a check;
 * - one scheduler thread that starts due checks and records a run that
 *   passes its timeout as failed at its deadline; it never runs user code,
 *   so no callback can delay a timeout;
 * - a pool of check threads (health_options.check_threads, 4 by default)
 *   that run check callbacks.  One check never runs concurrently with
 *   itself; different checks run concurrently.  A run past its timeout
 *   keeps its thread until the callback returns and the pool starts
 *   another, up to health_options.max_check_threads threads in all;
 * - one systemd thread, only when $NOTIFY_SOCKET is set and the notify
 *   protocol is on (HEALTH_OPT_SYSTEMD); it never runs user code;
 * - one notifier thread, only when on_change or log is set, on which
 *   every on_change and log call runs: one at a time, in the order the
 *   events happened.  While a callback blocks, events wait: the changes of
 *   one check collapse into its latest status (the last status a service
 *   is told is the current one) and at most 64 log lines are kept.
 * health_stop() and health_destroy() never wait for a callback: a callback
 * that is running when they are called finishes on its own thread later
 * (the handle's memory stays valid for it), and no new one starts.
 *
 * Fork: a handle belongs to the process that created it.  In a forked
 * child every function returns -ECHILD, except health_destroy(), which
 * frees the memory the library can free without touching a lock, calls no
 * callback and closes or shuts down nothing (the sockets are the
 * parent's), and health_heartbeat_beat(), a harmless no-op there.
 * Pre-forking servers create the handle in the process that serves it:
 * the parent (supervising the workers) or each worker after its fork.
 *
 * Signals: library threads block asynchronous signals, which are the
 * service's; faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) and
 * SIGABRT raised by a check callback reach the service's handlers as in
 * any other thread.
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
#define HEALTH_VERSION_PATCH 1
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
    /* No GET /metrics endpoint: it answers 404 like any unknown path.
     * Without the flag, $HEALTH_METRICS decides: "on" (the default) or
     * "off".  health_metrics_write() works either way. */
    HEALTH_OPT_NO_METRICS = 1 << 1,
    /* Speak systemd's notify protocol whatever $HEALTH_SYSTEMD says.
     * Without either systemd flag, $HEALTH_SYSTEMD decides ("on" or "off";
     * another value: -EINVAL from health_create()), and unset means on.
     * On, and only when $NOTIFY_SOCKET is set (systemd sets it for
     * Type=notify units; an absolute path or an '@' abstract name), a
     * library thread "health-systemd" started by health_start() and joined
     * by health_stop() sends one datagram per change, never blocking:
     *   READY=1     once, when /ready first passes (startup complete, READY
     *               checks passing);
     *   WATCHDOG=1  every $WATCHDOG_USEC / 2, only while /live passes: a
     *               stalled heartbeat or a failing LIVE check stops the
     *               pings, so systemd's WatchdogSec= restarts the service
     *               (ignored when $WATCHDOG_PID names another process);
     *   STOPPING=1  once, after health_begin_shutdown();
     *   STATUS=     one line of at most 200 bytes, sent when it changes:
     *               "ready", "starting", "not ready", "not live" or
     *               "shutting down", then the failing, pending and warning
     *               checks by name ("not ready; failing: db").
     * $NOTIFY_SOCKET unset: nothing is sent and nothing fails.  A malformed
     * $NOTIFY_SOCKET, $WATCHDOG_USEC or $WATCHDOG_PID is -EINVAL from
     * health_create(); health_start() may then also fail with the errno of
     * socket(2) (-EMFILE, -ENFILE, -ENOBUFS, -ENOMEM).  The environment is
     * read by health_create() and never changed.  Since 0.2. */
    HEALTH_OPT_SYSTEMD = 1 << 2,
    /* Never speak systemd's notify protocol, whatever $HEALTH_SYSTEMD and
     * $NOTIFY_SOCKET say.  Both systemd flags at once: -EINVAL.
     * Since 0.2. */
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
/* A check's reported status changed (its first result counts as a
 * change); with flap damping, the damped status.  Runs on the notifier
 * thread.  @output is valid only during the call and may be "". */
typedef void health_change_fn(const char *name, health_status_t status,
                              const char *output, void *userdata);
/* A diagnostic line from the library, without newline: a run past its
 * timeout, a check thread that could not start.  Runs on the notifier
 * thread; "(N log lines dropped) " starts a line when earlier ones were
 * lost while the callback was slow. */
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
     * 0: 1000 ms and 5000 ms; at most 86400000 (a day). */
    unsigned timeout_ms;
    unsigned interval_ms;

    /* Optional fields of the report ("version", "releaseId", "serviceId",
     * "description"); at most 255 bytes each. */
    const char *version;
    const char *release_id;
    const char *service_id;
    const char *description;

    /* Optional: told of every check status change, on the notifier
     * thread; it may call any function. */
    health_change_fn *on_change;
    void *on_change_userdata;
    /* Optional: the library's diagnostics, on the notifier thread; it may
     * call any function. */
    health_log_fn *log;
    void *log_userdata;

    /* Limits.  0 means the default given; a value past the bound given is
     * -EINVAL from health_create(). */
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
    /* Seconds a connection may send nothing before it is closed: 0: 10;
     * at most 3600. */
    unsigned idle_timeout_s;
    /* Memory per connection for the request, URL and headers included;
     * a larger request is refused (431 or 414) or closed: 0: 16384;
     * 4096..16777216. */
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
     * at its deadline; 0: health_options.timeout_ms; at most a day. */
    unsigned timeout_ms;
    /* Time from one run's start to the next; 0: health_options.interval_ms;
     * at most a day.  A run that outlasts it is followed at once by the
     * next.  Checks due within a twentieth of their interval (at most
     * 100 ms) of each other run together, to share wakeups. */
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
     * consecutive good runs (0: 1).  A timeout is a failed run.  Counts
     * at most 65535, fail_after_ms at most a day. */
    unsigned fail_after;
    unsigned fail_after_ms;
    unsigned pass_after;
};

/**
 * Creates a handle with a copy of @opts (NULL: all defaults, from the
 * environment where set) and stores it in *@ret.  Nothing is bound and no
 * thread is started until health_start().
 * Returns 0, -EINVAL (NULL @ret; a bad option or one past its bound; a
 * bad HEALTH_PORT, HEALTH_BIND, HEALTH_DETAILS, HEALTH_DETAILS_CIDRS,
 * HEALTH_METRICS or HEALTH_SYSTEMD value; a HEALTH_TOKEN_FILE that cannot
 * be read or holds no valid token; with the notify protocol on, a
 * malformed NOTIFY_SOCKET, WATCHDOG_USEC or WATCHDOG_PID) or -ENOMEM.
 * On failure *@ret is left untouched.
 * Since 0.1.
 */
HEALTH_API int health_create(health_t **ret, const struct health_options *opts);

/**
 * Stops the handle (as health_stop()) and frees it.  From the moment it
 * begins, health_start() fails with -ESHUTDOWN and no callback starts.
 * Checks still registered are unregistered: free_data is called before
 * this returns for checks that are not running, and on the check's thread
 * when the run returns for a check that hangs.  Notifications not yet
 * delivered are dropped.  When it returns nothing of the handle listens or
 * runs, except callbacks already running (a hung check, a blocked
 * on_change or log), which find the handle's memory intact when they
 * return and may still call any function on it.  Heartbeat handles become
 * inert.  NULL is a no-op; so is a second call from a free_data that this
 * call runs.
 * May be called from a callback.  Must not race with a call on @h from a
 * thread the library did not start.  In a forked child: see "Fork" above.
 * Since 0.1.
 */
HEALTH_API void health_destroy(health_t *h);

/**
 * Binds the port and starts the HTTP, scheduler and (with on_change or
 * log) notifier threads; check threads start as checks become due.  The
 * first run of every check starts at once.
 * Returns 0, -EINVAL (NULL @h), -EALREADY (already started), -EADDRINUSE
 * (port taken), -EADDRNOTAVAIL (bind address not on this host), -EACCES
 * (privileged port), -ENOMEM, -EAGAIN (no thread could be created), -EIO
 * (libmicrohttpd failed otherwise), -ESHUTDOWN (health_destroy() has
 * begun) or -ECHILD (called in a forked child).  After a stop, a handle
 * may start again.  A check thread that cannot be created (a pid limit)
 * does not fail the start: checks wait for a thread, and one that waits
 * its whole timeout is recorded as failed.
 * Since 0.1.
 */
HEALTH_API int health_start(health_t *h);

/**
 * Stops serving and stops scheduling checks; the port is closed when this
 * returns.  Never waits for a callback: a check that hangs, or an
 * on_change or log call that blocks (including the one this is called
 * from), goes on on its own thread.  Registrations are kept, and so are
 * notifications not yet delivered: a restart delivers them.
 * Returns 0 (also when not started), -EINVAL (NULL @h) or -ECHILD.
 * Since 0.1.
 */
HEALTH_API int health_stop(health_t *h);

/**
 * Registers a check.  @check is copied; @userdata is passed to check->run
 * and check->free_data.  Before its first result the check is pending: it
 * fails /ready and /started and does not fail /live.  After health_start()
 * its first run starts at once.
 * Returns 0, -EINVAL (NULL @h, @check or check->run; a bad name; unknown
 * flags; a field past its bound), -EEXIST (name taken), -ENOMEM,
 * -ESHUTDOWN (health_destroy() has begun) or -ECHILD.  On failure nothing
 * is taken and no callback is ever called.
 * Since 0.1.
 */
HEALTH_API int health_register_check(health_t *h,
                                     const struct health_check *check,
                                     void *userdata);

/**
 * Removes the check named @name.  Never waits for a running callback: if
 * the check is not running, its free_data is called before this returns;
 * if it is running, free_data is called on the check's thread when the
 * run returns, and the run's result is discarded.  A notification of it
 * not yet delivered is dropped.
 * Returns 0, -EINVAL (NULL @h or @name), -ENOENT (no such check) or
 * -ECHILD.  May be called from inside its own check's callback: free_data
 * then runs after that callback returns.
 * Since 0.1.
 */
HEALTH_API int health_unregister_check(health_t *h, const char *name);

/**
 * Registers a heartbeat named @name (as check names, unique among checks
 * and heartbeats) and stores its handle in *@ret.  /live (and /health)
 * fail while the last beat is older than @deadline_ms; registering counts
 * as a beat.
 * Returns 0, -EINVAL (NULL argument, bad name, @deadline_ms of 0 or more
 * than a day), -EEXIST, -ENOMEM, -ESHUTDOWN or -ECHILD.  On failure *@ret
 * is left untouched.
 * Since 0.1.
 */
HEALTH_API int health_register_heartbeat(health_t *h, const char *name,
                                         unsigned deadline_ms,
                                         health_heartbeat_t **ret);

/**
 * Records a beat: a coarse monotonic clock read and one atomic
 * compare-and-swap, safe in a hot loop and from any thread.  NULL is a
 * no-op, and so is a beat after health_unregister_heartbeat() or
 * health_destroy(), at any time, also while they run: a heartbeat handle
 * is a number, never freed memory, and a stale one never beats a heartbeat
 * registered later.  (In a forked child, a no-op too.)
 * Since 0.1.
 */
HEALTH_API void health_heartbeat_beat(health_heartbeat_t *hb);

/**
 * Removes the heartbeat @hb; from now on beats through @hb are no-ops.
 * Returns 0, -EINVAL (NULL argument), -ENOENT (@hb is not registered on
 * @h) or -ECHILD.
 * Since 0.1.
 */
HEALTH_API int health_unregister_heartbeat(health_t *h, health_heartbeat_t *hb);

/**
 * Marks startup as complete for a handle created with
 * HEALTH_OPT_MANUAL_STARTUP: /started and /ready may pass from now on (once
 * every STARTUP check has passed).  Idempotent; a no-op without the flag.
 * Returns 0, -EINVAL (NULL @h) or -ECHILD.
 * Since 0.1.
 */
HEALTH_API int health_set_started(health_t *h);

/**
 * Begins a graceful shutdown: /ready fails at once with output "shutting
 * down"; /live, /started and the checks go on as before.  Call it on
 * SIGTERM (from the main loop, not from the signal handler), wait for the
 * load balancers to notice, then stop.  Idempotent and irreversible.
 * Returns 0, -EINVAL (NULL @h) or -ECHILD.
 * Since 0.1.
 */
HEALTH_API int health_begin_shutdown(health_t *h);

/**
 * Returns the bound TCP port (1..65535) while started, -EINVAL (NULL @h),
 * -ENOTCONN (not started) or -ECHILD.
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

/*
 * GET /metrics serves the handle's state to Prometheus, from the same
 * stored results as the probes: a scrape never runs or waits on a check.
 * It answers peers that get details (HEALTH_DETAILS and the options
 * above) and 403 to the others; HEALTH_OPT_NO_METRICS or
 * $HEALTH_METRICS=off turn it off.  The text format 0.0.4 by default,
 * OpenMetrics 1.0.0 when the Accept header prefers it.  README.md,
 * "Metrics", lists the metrics.
 */

/* health_metrics_write() flags. */
enum health_metrics_flags {
    /* OpenMetrics 1.0.0 (application/openmetrics-text; version=1.0.0),
     * ending in "# EOF", instead of the text format 0.0.4 (text/plain;
     * version=0.0.4). */
    HEALTH_METRICS_OPENMETRICS = 1 << 0
};

/**
 * Writes the exposition GET /metrics serves into @buf, for a service that
 * already runs a metrics endpoint of its own (it may then set
 * HEALTH_OPT_NO_METRICS): as snprintf() does, at most @size bytes with
 * the terminating NUL, cut short when it does not fit (a cut exposition
 * is not valid: call again with the returned length + 1).  @buf may be
 * NULL when @size is 0, to learn the length.  Reads the stored results
 * under the handle's lock and never runs or waits on a check; works
 * whether or not the handle is started.
 * Returns the length of the whole exposition without the NUL (@size or
 * more: it was cut), -EINVAL (NULL @h; NULL @buf with a non-zero @size;
 * unknown @flags), -ECHILD (in a forked child), -ENOMEM (@buf untouched)
 * or -EOVERFLOW (longer than INT_MAX).
 * May be called from any thread, callbacks included.
 * Since 0.2.
 */
HEALTH_API int health_metrics_write(health_t *h, char *buf, size_t size,
                                    unsigned flags);

/* ---- Ready-made checks (since 0.2) ------------------------------------ */

/*
 * Constructors for the checks most services need.  Each takes the handle,
 * a struct health_check whose name, flags, timeout_ms, interval_ms,
 * fail_after, fail_after_ms and pass_after mean what they mean for any
 * check (its run and free_data must be NULL), and the arguments of its
 * kind.  It registers the check with health_register_check(), so that
 * function's rules and return codes hold, and the check owns a private
 * copy of its arguments, freed after its last run.
 *
 * Returns 0, -EINVAL (NULL @h or @check, a non-NULL check->run or
 * check->free_data, a bad argument of the kind), -EPROTONOSUPPORT (an
 * https:// URL), or any code of health_register_check().  On failure
 * nothing is registered.  May be called from any thread.
 *
 * Blocking work (name resolution, connect, the HTTP exchange) runs on the
 * check's thread and gives up at the check's own deadline, a little before
 * the runner's: its timeout less a tenth (at most 100 ms).  Names are
 * resolved with getaddrinfo() on a helper thread, at most one per check;
 * the check stops waiting for it at its deadline, and a resolution that
 * outlives a run (bounded by the system resolver's own timeouts) is
 * waited for by the next run rather than started twice.  Numeric
 * addresses are never resolved.  IPv4 and IPv6 both work; a name's
 * addresses are tried in turn with the time left.
 *
 * Thresholds are fractions in [0, 1]; 0 turns a rule off.  A check
 * reports fail when a fail rule holds, else warn when a warn rule holds,
 * else pass.
 */

/**
 * Connects to @host port @port (1..65535) over TCP and closes.  @host is a
 * name, an IPv4 address or an IPv6 address (bare or in brackets).
 * Output: "connected to ADDRESS port N in T ms", or what failed (name
 * resolution, "connection refused", "no connection within T ms").
 * observedValue: the connect time in "ms" (on pass).
 * Since 0.2.
 */
HEALTH_API int health_check_tcp(health_t *h, const struct health_check *check,
                                const char *host, unsigned port);

/* Options of health_check_http(); all-zero (or NULL) means defaults. */
struct health_http_options {
    /* The statuses that pass, 1 to 500 of them, each 100..599; NULL (with
     * n_statuses 0): 200..399.  Copied. */
    const unsigned *statuses;
    size_t n_statuses;
};

/**
 * Sends "GET" for @url with "Connection: close" and reads the response's
 * status line; passes when the status is in @opts' set (default 200..399).
 * @url is "http://HOST[:PORT][/PATH[?QUERY]]", HOST a name, an IPv4
 * address or an IPv6 address in brackets; at most 2048 bytes, no user
 * info, no spaces or control characters.  The client is the library's
 * own, plain HTTP/1.1: an https:// URL is -EPROTONOSUPPORT (check HTTPS
 * with a client library of your own in a custom check).  @opts may be
 * NULL.
 * Output: "HTTP N from URL in T ms", or what failed.
 * observedValue: the time to the status line in "ms" (whenever one came).
 * Since 0.2.
 */
HEALTH_API int health_check_http(health_t *h, const struct health_check *check,
                                 const char *url,
                                 const struct health_http_options *opts);

/**
 * Resolves @name (a host name, at most 253 bytes) to at least one IPv4 or
 * IPv6 address.
 * Output: "NAME: ADDRESS[, ADDRESS...] in T ms" (up to four addresses),
 * or the resolver's error, or "no answer within T ms".
 * observedValue: the resolution time in "ms" (on pass).
 * Since 0.2.
 */
HEALTH_API int health_check_dns(health_t *h, const struct health_check *check,
                                const char *name);

/* Thresholds of health_check_disk(): a rule holds when what is free (to
 * unprivileged users) falls below it.  Fractions are of the file system's
 * size or inode count; 0 turns a rule off.  A warn threshold set with its
 * fail threshold must not be below it. */
struct health_disk_limits {
    double warn_free;         /* fraction of space free, [0, 1) */
    double fail_free;         /* fraction of space free, [0, 1) */
    uint64_t warn_free_bytes; /* bytes free */
    uint64_t fail_free_bytes; /* bytes free */
    double warn_free_inodes;  /* fraction of inodes free, [0, 1) */
    double fail_free_inodes;  /* fraction of inodes free, [0, 1) */
};

/**
 * Checks the free space and free inodes of the file system holding @path
 * (statvfs(), which must succeed at registration).  A file system that
 * reports no inode count skips the inode rules.  @limits may be NULL (the
 * check then only reports).
 * Output: "F free of S (P%), I inodes free (Q%)"; fail when statvfs()
 * fails.
 * observedValue: the space free in "percent".
 * Since 0.2.
 */
HEALTH_API int health_check_disk(health_t *h, const struct health_check *check,
                                 const char *path,
                                 const struct health_disk_limits *limits);

/**
 * Checks the process's memory against its container's limit: the cgroup
 * of the process (/proc/self/cgroup) and its ancestors; v2 memory.max
 * against memory.current, or v1 memory.limit_in_bytes against
 * memory.usage_in_bytes; the usage less inactive_file (the working set,
 * as the kubelet counts it).  The cgroup closest to its limit counts.
 * With no limit anywhere: the process's RSS against physical memory.
 * @warn and @fail are fractions of the limit used, in [0, 1] (0: off;
 * @warn not above @fail when both are set).  Suitable for /live.
 * Output: "working set U of L limit (P%, cgroup v2)" or "RSS U of M
 * physical memory (P%, no cgroup limit)".
 * observedValue: the fraction used in "percent".
 * Since 0.2.
 */
HEALTH_API int health_check_memory(health_t *h,
                                   const struct health_check *check,
                                   double warn, double fail);

/**
 * Checks the process's open file descriptors against its RLIMIT_NOFILE
 * soft limit.  @warn and @fail are fractions of the limit used, as for
 * health_check_memory().  With no limit (RLIM_INFINITY) the check passes.
 * Output: "N of L file descriptors open (P%)".
 * observedValue: the fraction used in "percent".
 * Since 0.2.
 */
HEALTH_API int health_check_fds(health_t *h, const struct health_check *check,
                                double warn, double fail);

/**
 * Checks that @path exists and, when @max_age_ms is not 0, that it was
 * modified at most @max_age_ms ago: a batch job's "last success" marker.
 * @path must not be empty; the file need not exist at registration.
 * Output: "PATH: modified T s ago", "PATH: missing", or "PATH: modified
 * T s ago, more than M s".
 * observedValue: the age in "s" (when the file exists).
 * Since 0.2.
 */
HEALTH_API int health_check_file(health_t *h, const struct health_check *check,
                                 const char *path, unsigned max_age_ms);

#ifdef __cplusplus
}
#endif

#endif /* HEALTH_HEALTH_H */
