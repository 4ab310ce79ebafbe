/* SPDX-License-Identifier: MIT */
/*
 * Metrics: the Prometheus exposition of a snapshot, in the text format
 * 0.0.4 or in OpenMetrics 1.0.0, and health_metrics_write().  Rendering is
 * pure: no locks, no I/O, no clock but the time handed in.  Numbers are
 * formatted by hand, so the application's locale never changes a decimal
 * point.  No check output text ever appears.
 *
 * Only the types both Prometheus 2.42 (the server and promtool, whose
 * linter reads OpenMetrics with the 0.0.4 parser) accept: counter, gauge,
 * histogram.  Sets of states are gauges with one series per state, 1 for
 * the current one.  Counters are named with _total in the text format;
 * in OpenMetrics the family drops it and the sample keeps it.  _created
 * is left out (optional; the stored state has no registration time).
 */
#include "health-internal.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#define LIBRARY_VERSION    \
 STR(HEALTH_VERSION_MAJOR) \
 "." STR(HEALTH_VERSION_MINOR) "." STR(HEALTH_VERSION_PATCH)

/* Bytes a body is first given per check; a larger one is rendered twice. */
#define BYTES_PER_ENTRY 2048u

/* The output: at most @size bytes go to @buf, @len counts them all. */
struct out {
    char *buf;
    size_t size;
    size_t len;
    bool om;
};

struct family {
    const char *name; /* without _total */
    const char *type;
    const char *unit; /* OpenMetrics UNIT, or NULL */
    const char *help;
};

static const struct family f_build_info = {
    "health_build_info", "gauge", NULL,
    "Always 1: libhealth's version and the service's version, service_id "
    "and release_id from its options."
};
static const struct family f_startup = {
    "health_startup_complete", "gauge", NULL,
    "1 once startup is complete, 0 while it makes /started and /ready fail."
};
static const struct family f_shutdown = {
    "health_shutting_down", "gauge", NULL,
    "1 once a graceful shutdown has begun (/ready fails from then on)."
};
static const struct family f_endpoint = {
    "health_endpoint_status", "gauge", NULL,
    "1 for each endpoint's current status (pass and warn answer 200, fail "
    "503), 0 for the others."
};
static const struct family f_status = {
    "health_check_status", "gauge", NULL,
    "1 for each check's and heartbeat's current status (pending, pass, "
    "warn, fail), 0 for the others."
};
static const struct family f_runs = { "health_check_runs", "counter", NULL,
                                      "Check runs with a result, timeouts "
                                      "included." };
static const struct family f_failures = {
    "health_check_failures", "counter", NULL,
    "Check runs that failed, timeouts included."
};
static const struct family f_timeouts = {
    "health_check_timeouts", "counter", NULL,
    "Check runs that passed their timeout."
};
static const struct family f_duration = {
    "health_check_duration_seconds", "histogram", "seconds",
    "How long check runs took; a timeout counts as its timeout."
};
static const struct family f_success_age = {
    "health_check_last_success_age_seconds", "gauge", "seconds",
    "Seconds since the last check run that passed or warned; +Inf when "
    "none has."
};
static const struct family f_heartbeat_age = {
    "health_heartbeat_age_seconds", "gauge", "seconds",
    "Seconds since the heartbeat's last beat."
};

static const char *const state_names[] = { "pending", "pass", "warn", "fail" };
static const char *const endpoint_names[] = { "live", "ready", "started",
                                              "health" };

static void put(struct out *o, const char *s, size_t n)
{
    size_t room;

    if (o->len < o->size) {
        room = o->size - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_u64(struct out *o, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, tmp + i, sizeof(tmp) - i);
}

/* @v / 10^@decimals, @v >= 0: (1500, 3) is "1.500". */
static void put_fixed(struct out *o, uint64_t v, unsigned decimals)
{
    char frac[20];
    uint64_t scale = 1;
    unsigned i;

    for (i = 0; i < decimals; i++)
        scale *= 10;
    put_u64(o, v / scale);
    v %= scale;
    for (i = decimals; i > 0; i--) {
        frac[i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    put(o, ".", 1);
    put(o, frac, decimals);
}

/* A bucket bound in seconds, in the form both formats' clients print:
 * 0.005, 0.25, 1.0, 10.0. */
static void put_bound(struct out *o, double secs)
{
    uint64_t us = (uint64_t)(secs * 1e6 + 0.5);
    char frac[8];
    unsigned n = 6;
    unsigned i;

    put_u64(o, us / 1000000);
    put(o, ".", 1);
    us %= 1000000;
    for (i = 6; i > 0; i--) {
        frac[i - 1] = (char)('0' + us % 10);
        us /= 10;
    }
    while (n > 1 && frac[n - 1] == '0')
        n--;
    put(o, frac, n);
}

/* A label value: backslash, double quote and newline escaped. */
static void put_escaped(struct out *o, const char *s)
{
    size_t n;

    for (;;) {
        n = strcspn(s, "\\\"\n");
        put(o, s, n);
        s += n;
        if (!*s)
            return;
        put(o, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
        s++;
    }
}

static bool is_counter(const struct family *f)
{
    return strcmp(f->type, "counter") == 0;
}

static void put_header(struct out *o, const struct family *f)
{
    const char *total = !o->om && is_counter(f) ? "_total" : "";

    put_str(o, "# HELP ");
    put_str(o, f->name);
    put_str(o, total);
    put(o, " ", 1);
    put_str(o, f->help);
    put_str(o, "\n# TYPE ");
    put_str(o, f->name);
    put_str(o, total);
    put(o, " ", 1);
    put_str(o, f->type);
    put(o, "\n", 1);
    if (o->om && f->unit) {
        put_str(o, "# UNIT ");
        put_str(o, f->name);
        put(o, " ", 1);
        put_str(o, f->unit);
        put(o, "\n", 1);
    }
}

/* "name[suffix]{check="@check"" with the brace left open, for the
 * caller's other labels. */
static void put_start(struct out *o, const struct family *f, const char *suffix,
                      const char *check)
{
    put_str(o, f->name);
    put_str(o, suffix);
    put_str(o, "{check=\"");
    put_escaped(o, check);
    put(o, "\"", 1);
}

/* ",@key="@value"" */
static void put_label(struct out *o, const char *key, const char *value)
{
    put(o, ",", 1);
    put_str(o, key);
    put_str(o, "=\"");
    put_escaped(o, value);
    put(o, "\"", 1);
}

static void put_flag(struct out *o, const struct family *f, bool on)
{
    put_header(o, f);
    put_str(o, f->name);
    put_str(o, on ? " 1\n" : " 0\n");
}

static void put_build_info(struct out *o, const struct health__config *cfg)
{
    put_header(o, &f_build_info);
    put_str(o, f_build_info.name);
    put_str(o, "{libhealth_version=\"" LIBRARY_VERSION "\"");
    if (cfg->version)
        put_label(o, "version", cfg->version);
    if (cfg->service_id)
        put_label(o, "service_id", cfg->service_id);
    if (cfg->release_id)
        put_label(o, "release_id", cfg->release_id);
    put_str(o, "} 1\n");
}

static void put_endpoints(struct out *o, const struct health__snapshot *snap)
{
    struct health__query q;
    const char *note;
    health_status_t st;
    int ep;
    int i;

    put_header(o, &f_endpoint);
    for (ep = HEALTH__EP_LIVE; ep <= HEALTH__EP_HEALTH; ep++) {
        memset(&q, 0, sizeof(q));
        q.ep = (enum health__endpoint)ep;
        st = health__report_status(snap, &q, &note);
        for (i = HEALTH_PASS; i <= HEALTH_FAIL; i++) {
            put_str(o, f_endpoint.name);
            put_str(o, "{endpoint=\"");
            put_str(o, endpoint_names[ep]);
            put_str(o, "\",status=\"");
            put_str(o, state_names[i + 1]);
            put_str(o, (int)st == i ? "\"} 1\n" : "\"} 0\n");
        }
    }
}

static void put_states(struct out *o, const struct health__snapshot *snap)
{
    const struct health__entry *e;
    size_t i;
    int s;

    if (!snap->n)
        return;
    put_header(o, &f_status);
    for (i = 0; i < snap->n; i++) {
        e = &snap->v[i];
        for (s = HEALTH__PENDING; s <= HEALTH_FAIL; s++) {
            put_start(o, &f_status, "", e->name);
            put_label(o, "status", state_names[s + 1]);
            put_str(o, e->s.state == s ? "} 1\n" : "} 0\n");
        }
    }
}

/* How many entries are checks rather than heartbeats. */
static size_t count_checks(const struct health__snapshot *snap)
{
    size_t n = 0;
    size_t i;

    for (i = 0; i < snap->n; i++)
        n += !snap->v[i].heartbeat;
    return n;
}

/* One counter over the checks; @at is the counter's offset in
 * struct health__stats. */
static void put_counter(struct out *o, const struct health__snapshot *snap,
                        const struct family *f, size_t at)
{
    const struct health__entry *e;
    uint64_t v;
    size_t i;

    put_header(o, f);
    for (i = 0; i < snap->n; i++) {
        e = &snap->v[i];
        if (e->heartbeat)
            continue;
        memcpy(&v, (const char *)&e->s.stats + at, sizeof(v));
        put_start(o, f, "_total", e->name);
        put_str(o, "} ");
        put_u64(o, v);
        put(o, "\n", 1);
    }
}

static void put_histogram(struct out *o, const struct health__entry *e)
{
    const struct health__stats *st = &e->s.stats;
    size_t i;

    for (i = 0; i < HEALTH__DURATION_BUCKETS; i++) {
        put_start(o, &f_duration, "_bucket", e->name);
        put_str(o, ",le=\"");
        put_bound(o, health__duration_bounds[i]);
        put_str(o, "\"} ");
        put_u64(o, st->le[i]);
        put(o, "\n", 1);
    }
    put_start(o, &f_duration, "_bucket", e->name);
    put_str(o, ",le=\"+Inf\"} ");
    put_u64(o, st->runs);
    put(o, "\n", 1);
    put_start(o, &f_duration, "_sum", e->name);
    put_str(o, "} ");
    put_fixed(o, (uint64_t)(st->duration_sum_s * 1e6 + 0.5), 6);
    put(o, "\n", 1);
    put_start(o, &f_duration, "_count", e->name);
    put_str(o, "} ");
    put_u64(o, st->runs);
    put(o, "\n", 1);
}

static void put_checks(struct out *o, const struct health__snapshot *snap)
{
    size_t i;

    if (!count_checks(snap))
        return;
    put_counter(o, snap, &f_runs, offsetof(struct health__stats, runs));
    put_counter(o, snap, &f_failures, offsetof(struct health__stats, failures));
    put_counter(o, snap, &f_timeouts, offsetof(struct health__stats, timeouts));
    put_header(o, &f_duration);
    for (i = 0; i < snap->n; i++)
        if (!snap->v[i].heartbeat)
            put_histogram(o, &snap->v[i]);
}

/* Ages in ms, shown in seconds. */
static void put_age(struct out *o, const struct family *f, const char *check,
                    int64_t ms)
{
    put_start(o, f, "", check);
    put_str(o, "} ");
    put_fixed(o, ms > 0 ? (uint64_t)ms : 0, 3);
    put(o, "\n", 1);
}

static void put_success_ages(struct out *o, const struct health__snapshot *snap,
                             int64_t wall_ms)
{
    const struct health__entry *e;
    size_t i;

    put_header(o, &f_success_age);
    for (i = 0; i < snap->n; i++) {
        e = &snap->v[i];
        if (e->heartbeat || !e->s.stats.runs)
            continue;
        if (e->s.last_pass_ms) {
            put_age(o, &f_success_age, e->name, wall_ms - e->s.last_pass_ms);
            continue;
        }
        put_start(o, &f_success_age, "", e->name);
        put_str(o, "} +Inf\n");
    }
}

static void put_heartbeat_ages(struct out *o,
                               const struct health__snapshot *snap)
{
    const struct health__entry *e;
    size_t i;

    if (count_checks(snap) == snap->n)
        return;
    put_header(o, &f_heartbeat_age);
    for (i = 0; i < snap->n; i++) {
        e = &snap->v[i];
        if (e->heartbeat)
            put_age(o, &f_heartbeat_age, e->name, (int64_t)e->s.r.observed);
    }
}

/* Whether some check has a run, so the success-age family has samples. */
static bool any_run(const struct health__snapshot *snap)
{
    size_t i;

    for (i = 0; i < snap->n; i++)
        if (!snap->v[i].heartbeat && snap->v[i].s.stats.runs)
            return true;
    return false;
}

size_t health__metrics_render(const struct health__snapshot *snap,
                              const struct health__config *cfg, bool om,
                              int64_t wall_ms, char *buf, size_t size)
{
    struct out o = { buf, size, 0, om };

    put_build_info(&o, cfg);
    put_flag(&o, &f_startup, snap->startup_complete);
    put_flag(&o, &f_shutdown, snap->shutting_down);
    put_endpoints(&o, snap);
    put_states(&o, snap);
    put_checks(&o, snap);
    if (any_run(snap))
        put_success_ages(&o, snap, wall_ms);
    put_heartbeat_ages(&o, snap);
    if (om)
        put_str(&o, "# EOF\n");
    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return o.len;
}

char *health__metrics_body(const struct health__snapshot *snap,
                           const struct health__config *cfg, bool om,
                           int64_t wall_ms, size_t *len)
{
    size_t size = 4096 + snap->n * BYTES_PER_ENTRY;
    char *body = malloc(size);
    char *bigger;

    if (!body)
        return NULL;
    *len = health__metrics_render(snap, cfg, om, wall_ms, body, size);
    if (*len < size)
        return body;
    size = *len + 1;
    bigger = realloc(body, size);
    if (!bigger) {
        free(body);
        return NULL;
    }
    *len = health__metrics_render(snap, cfg, om, wall_ms, bigger, size);
    return bigger;
}

int64_t health__metrics_expires(const struct health__snapshot *snap,
                                int64_t now_ns)
{
    /* Ages are shown to the millisecond. */
    if (snap->n && (any_run(snap) || count_checks(snap) < snap->n))
        return now_ns + 1000000;
    return snap->expires_ns;
}

const char *health__metrics_content_type(bool om)
{
    return om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
              : "text/plain; version=0.0.4; charset=utf-8";
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* A q value in thousandths ("0.5" is 500); 1000 when malformed. */
static unsigned parse_q(const char *s, size_t n)
{
    unsigned q;
    size_t i;

    if (n == 0 || n > 5 || (s[0] != '0' && s[0] != '1') ||
        (n > 1 && s[1] != '.'))
        return 1000;
    q = (unsigned)(s[0] - '0') * 1000;
    for (i = 2; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 1000;
        q += (unsigned)(s[i] - '0') * (i == 2 ? 100u : i == 3 ? 10u : 1u);
    }
    return q > 1000 ? 1000 : q;
}

/* The q of one media range "type/sub;param=v;q=0.5" (@n bytes). */
static unsigned range_q(const char *s, size_t n)
{
    const char *end = s + n;
    const char *p = memchr(s, ';', n);
    const char *v;

    while (p && p < end) {
        p++;
        while (p < end && is_space(*p))
            p++;
        v = memchr(p, ';', (size_t)(end - p));
        if (!v)
            v = end;
        if (v - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
            return parse_q(p + 2, (size_t)(v - p - 2));
        p = v;
    }
    return 1000;
}

static bool type_is(const char *s, size_t n, const char *type)
{
    size_t t = strlen(type);

    while (n && is_space(*s)) {
        s++;
        n--;
    }
    return n >= t && strncasecmp(s, type, t) == 0 &&
           (n == t || s[t] == ';' || is_space(s[t]));
}

bool health__metrics_openmetrics(const char *accept)
{
    unsigned om = 0;
    unsigned text = 0;
    unsigned q;
    size_t n;

    while (accept && *accept) {
        n = strcspn(accept, ",");
        q = range_q(accept, n);
        if (type_is(accept, n, "application/openmetrics-text") && q > om)
            om = q;
        if ((type_is(accept, n, "text/plain") || type_is(accept, n, "text/*") ||
             type_is(accept, n, "*/*")) &&
            q > text)
            text = q;
        accept += n + (accept[n] == ',');
    }
    return om > 0 && om >= text;
}

int health_metrics_write(health_t *h, char *buf, size_t size, unsigned flags)
{
    struct health__snapshot snap;
    size_t len;
    int r;

    if (!h || (!buf && size) || (flags & ~(unsigned)HEALTH_METRICS_OPENMETRICS))
        return -EINVAL;
    if (health__forked(h))
        return -ECHILD;
    memset(&snap, 0, sizeof(snap));
    (void)pthread_mutex_lock(&h->lock);
    r = health__snapshot_take(h, &snap);
    (void)pthread_mutex_unlock(&h->lock);
    if (r < 0) {
        health__snapshot_fini(&snap);
        return r;
    }
    len = health__metrics_render(&snap, &h->cfg,
                                 flags & HEALTH_METRICS_OPENMETRICS,
                                 health__wall_ms(), buf, size);
    health__snapshot_fini(&snap);
    return len > INT_MAX ? -EOVERFLOW : (int)len;
}
