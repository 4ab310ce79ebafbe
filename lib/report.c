/* SPDX-License-Identifier: MIT */
/*
 * Reports: the aggregate status of an endpoint and its application/health+json
 * body, from a snapshot.  Pure: no locks, no I/O, no clocks.
 *
 * Body shape (draft-inadarei-api-health-check): top-level "status", the
 * optional "version", "releaseId", "serviceId", "description", an "output"
 * when a gate (starting, shutting down) decides, and "checks" keyed by name,
 * each an array of one object with "status", "time", and, when details are
 * shown, "output", "observedValue", "observedUnit" and "durationMs".
 *
 * The JSON is written by hand into a buffer that is kept from one request
 * to the next, so that a probe answered under allocator contention
 * allocates nothing once the buffer is big enough.  The bytes are those
 * cJSON_PrintUnformatted() printed when the reports were built with cJSON
 * (escapes, numbers, key order): clients and tests that compare bodies see
 * no change (tests/test_report_writer.c keeps the cJSON rendering as the
 * reference).  No cJSON allocator is involved, so an application that
 * changes cJSON's global hooks cannot mismatch a body's allocator.
 */
#include "health-internal.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kubelet reads at most 10 KiB of a probe's body. */
#define BODY_LIMIT 10240

/* How much of the report to keep when the full one is too big. */
enum trim {
    TRIM_NONE,
    TRIM_PASSING_OUTPUTS, /* outputs of passing checks dropped */
    TRIM_PASSING_CHECKS,  /* passing checks dropped */
    TRIM_ALL_OUTPUTS,     /* failing checks without outputs */
    TRIM_CHECKS           /* no checks at all */
};

static const char *const status_names[] = { "pass", "warn", "fail" };

static bool excluded(const struct health__query *q, const char *name)
{
    size_t i;

    for (i = 0; i < q->n_exclude; i++)
        if (strcmp(q->exclude[i], name) == 0)
            return true;
    return false;
}

static bool in_endpoint(const struct health__query *q,
                        const struct health__entry *e)
{
    switch (q->ep) {
    case HEALTH__EP_LIVE:
        return (e->flags & HEALTH_CHECK_LIVE) != 0;
    case HEALTH__EP_READY:
        return (e->flags & HEALTH_CHECK_READY) != 0;
    case HEALTH__EP_STARTED:
        /* Until it has passed once; a per-check path shows it always. */
        return (e->flags & HEALTH_CHECK_STARTUP) &&
               (q->only || !e->passed_once);
    case HEALTH__EP_HEALTH:
    default:
        return true;
    }
}

bool health__query_includes(const struct health__query *q,
                            const struct health__entry *e)
{
    if (q->only && strcmp(q->only, e->name) != 0)
        return false;
    if (!q->only && excluded(q, e->name))
        return false;
    return in_endpoint(q, e);
}

bool health__query_matches(const struct health__snapshot *snap,
                           const struct health__query *q)
{
    size_t i;

    if (!q->only)
        return true;
    for (i = 0; i < snap->n; i++)
        if (health__query_includes(q, &snap->v[i]))
            return true;
    return false;
}

/* What the entry's own status is, as this endpoint shows it: a pending
 * check is "warn" on /live (it must not get the process killed) and
 * "fail" elsewhere. */
static health_status_t entry_status(const struct health__query *q,
                                    const struct health__entry *e)
{
    if (e->s.state == HEALTH__PENDING)
        return q->ep == HEALTH__EP_LIVE ? HEALTH_WARN : HEALTH_FAIL;
    return (health_status_t)e->s.state;
}

/* How the entry weighs on the aggregate: a NONCRITICAL failure warns,
 * except on its own per-check path. */
static health_status_t entry_weight(const struct health__query *q,
                                    const struct health__entry *e)
{
    health_status_t st = entry_status(q, e);

    if (st == HEALTH_FAIL && (e->flags & HEALTH_CHECK_NONCRITICAL) && !q->only)
        return HEALTH_WARN;
    return st;
}

/* The gate note that fails the endpoint before any check is looked at. */
static const char *gate(const struct health__snapshot *snap,
                        const struct health__query *q)
{
    if (q->only || q->ep == HEALTH__EP_LIVE)
        return NULL;
    if (!snap->startup_complete)
        return "starting";
    if (snap->shutting_down && q->ep != HEALTH__EP_STARTED)
        return "shutting down";
    return NULL;
}

health_status_t health__report_status(const struct health__snapshot *snap,
                                      const struct health__query *q,
                                      const char **note)
{
    health_status_t worst = HEALTH_PASS;
    health_status_t st;
    size_t i;

    *note = gate(snap, q);
    if (*note)
        worst = HEALTH_FAIL;
    for (i = 0; i < snap->n; i++) {
        if (!health__query_includes(q, &snap->v[i]))
            continue;
        st = entry_weight(q, &snap->v[i]);
        if (st > worst)
            worst = st;
    }
    return worst;
}

/* Appends to a report buffer.  A failed growth is remembered and makes
 * every later write a no-op, so a render checks once, at its end; the
 * buffer stays valid (realloc keeps the old block on failure). */
struct writer {
    struct health__buf *b;
    bool comma; /* the next member or element needs a ',' first */
    bool failed;
};

/* Room for @n more bytes and the terminating NUL. */
static bool reserve(struct writer *w, size_t n)
{
    struct health__buf *b = w->b;
    size_t need;
    size_t cap;
    char *p;

    if (w->failed)
        return false;
    if (b->cap - b->len > n) /* len < cap whenever cap is not 0 */
        return true;
    if (n > SIZE_MAX / 2 - b->len - 1) {
        w->failed = true;
        return false;
    }
    need = b->len + n + 1;
    cap = b->cap < 1024 ? 1024 : b->cap;
    while (cap < need)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p) {
        w->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void put(struct writer *w, const char *s, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->b->p + w->b->len, s, n);
    w->b->len += n;
    w->b->p[w->b->len] = '\0';
}

static void put_char(struct writer *w, char c)
{
    put(w, &c, 1);
}

static void put_str(struct writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void separate(struct writer *w)
{
    if (w->comma)
        put_char(w, ',');
    w->comma = false;
}

/* The escape of byte @c as cJSON's print_string_ptr() writes it, or 0
 * bytes for one that is copied as it is.  Bytes from 0x80 up are copied:
 * cJSON does not escape them, and sanitizing kept them valid UTF-8. */
static size_t escape(unsigned char c, char out[6])
{
    static const char hex[] = "0123456789abcdef";
    static const char short_form[] = {
        ['"'] = '"',  ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
        ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't',
    };

    if (c >= 0x20 && c != '"' && c != '\\')
        return 0;
    out[0] = '\\';
    if (c < sizeof(short_form) && short_form[c]) {
        out[1] = short_form[c];
        return 2;
    }
    memcpy(out + 1, "u00", 3);
    out[4] = hex[c >> 4];
    out[5] = hex[c & 0xf];
    return 6;
}

/* @s's characters, escaped, without the quotes; runs of plain bytes are
 * copied at once. */
static void put_escaped(struct writer *w, const char *s)
{
    const unsigned char *run = (const unsigned char *)s;
    const unsigned char *p;
    char esc[6];
    size_t n;

    for (p = run; *p; p++) {
        n = escape(*p, esc);
        if (!n)
            continue;
        put(w, (const char *)run, (size_t)(p - run));
        put(w, esc, n);
        run = p + 1;
    }
    put(w, (const char *)run, (size_t)(p - run));
}

static void put_string(struct writer *w, const char *s)
{
    separate(w);
    put_char(w, '"');
    put_escaped(w, s);
    put_char(w, '"');
    w->comma = true;
}

static void put_key(struct writer *w, const char *key)
{
    put_string(w, key);
    put_char(w, ':');
    w->comma = false;
}

static void open_object(struct writer *w, char brace)
{
    separate(w);
    put_char(w, brace);
}

static void close_object(struct writer *w, char brace)
{
    put_char(w, brace);
    w->comma = true;
}

/* The locale's decimal point, which printf writes and cJSON turns into
 * '.'. */
static char decimal_point(void)
{
    return localeconv()->decimal_point[0];
}

/* cJSON's test of whether a number printed with 15 digits reads back as
 * the same: within one relative epsilon, not necessarily exact. */
static bool close_enough(double a, double b)
{
    double max = fabs(a) > fabs(b) ? fabs(a) : fabs(b);

    return fabs(a - b) <= max * DBL_EPSILON;
}

/* @d as cJSON's print_number() (1.7.15) writes it: null for NaN and
 * infinities, else 15 significant digits, or 17 when those do not read
 * back close enough; -0 stays "-0". */
static void put_number(struct writer *w, double d)
{
    char buf[32];
    char point = decimal_point();
    size_t i;
    int n;

    if (isnan(d) || isinf(d))
        n = snprintf(buf, sizeof(buf), "null");
    else {
        n = snprintf(buf, sizeof(buf), "%1.15g", d);
        if (!close_enough(strtod(buf, NULL), d))
            n = snprintf(buf, sizeof(buf), "%1.17g", d);
    }
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        w->failed = true;
        return;
    }
    for (i = 0; i < (size_t)n; i++)
        if (buf[i] == point)
            buf[i] = '.';
    separate(w);
    put(w, buf, (size_t)n);
    w->comma = true;
}

static void member_string(struct writer *w, const char *key, const char *s)
{
    put_key(w, key);
    put_string(w, s);
}

static void member_number(struct writer *w, const char *key, double d)
{
    put_key(w, key);
    put_number(w, d);
}

static void member_time(struct writer *w, const char *key, int64_t wall_ms)
{
    char when[40];

    health__format_time(wall_ms, when, sizeof(when));
    member_string(w, key, when);
}

/* The output as the report shows it: a note for a pending check, the
 * last output with how long a timed-out run has been in flight, or the
 * last output alone when there is one. */
static void member_output(struct writer *w, const struct health__entry *e)
{
    char suffix[64];

    if (e->s.state == HEALTH__PENDING) {
        member_string(w, "output", "pending: no result yet");
        return;
    }
    if (e->stuck_s >= 1)
        (void)snprintf(suffix, sizeof(suffix), "; still running after %lld s",
                       (long long)e->stuck_s);
    else if (e->stuck_s == 0)
        (void)snprintf(suffix, sizeof(suffix), "; still running");
    else if (!e->s.r.output[0])
        return;
    else
        suffix[0] = '\0';
    put_key(w, "output");
    separate(w);
    put_char(w, '"');
    put_escaped(w, e->s.r.output);
    put_str(w, suffix);
    put_char(w, '"');
    w->comma = true;
}

/* When the check last passed and failed, its failures in a row, since
 * when its status holds, and its last run's own status where damping
 * reports another.  Only what says something is added, to keep bodies
 * small: a passing check shows only "statusSince". */
static void write_history(struct writer *w, const struct health__entry *e)
{
    const struct health__stored *s = &e->s;

    if (s->state == HEALTH__PENDING)
        return;
    if (s->raw != s->state)
        member_string(w, "lastRunStatus", status_names[s->raw]);
    if (s->since_ms)
        member_time(w, "statusSince", s->since_ms);
    if (s->state != HEALTH_PASS && s->last_pass_ms)
        member_time(w, "lastPassTime", s->last_pass_ms);
    if (s->last_fail_ms)
        member_time(w, "lastFailTime", s->last_fail_ms);
    if (s->fails_in_row)
        member_number(w, "failuresInRow", s->fails_in_row);
}

static void write_details(struct writer *w, const struct health__entry *e)
{
    member_output(w, e);
    if (e->s.r.has_observed) {
        member_number(w, "observedValue", e->s.r.observed);
        if (e->s.r.unit[0])
            member_string(w, "observedUnit", e->s.r.unit);
    }
    if (!e->heartbeat && e->s.state != HEALTH__PENDING)
        member_number(w, "durationMs",
                      round((double)e->s.duration_us) / 1000.0);
    if (!e->heartbeat)
        write_history(w, e);
}

/* "name":[{...}], the entry's one-element array. */
static void write_entry(struct writer *w, const struct health__query *q,
                        const struct health__entry *e, bool details)
{
    put_key(w, e->name);
    open_object(w, '[');
    open_object(w, '{');
    member_string(w, "status", status_names[entry_status(q, e)]);
    if (e->s.time_ms)
        member_time(w, "time", e->s.time_ms);
    if (details)
        write_details(w, e);
    close_object(w, '}');
    close_object(w, ']');
}

static bool keep_entry(const struct health__query *q,
                       const struct health__entry *e, enum trim t)
{
    if (t >= TRIM_CHECKS)
        return false;
    if (t >= TRIM_PASSING_CHECKS)
        return entry_status(q, e) != HEALTH_PASS;
    return true;
}

static bool entry_details(const struct health__query *q,
                          const struct health__entry *e, enum trim t)
{
    if (!q->details || t >= TRIM_ALL_OUTPUTS)
        return false;
    if (t >= TRIM_PASSING_OUTPUTS)
        return entry_status(q, e) != HEALTH_PASS;
    return true;
}

/* Writes "checks", failing ones first, then warning, then passing ones,
 * each in registration order; returns how many entries the trim left
 * out. */
static long write_checks(struct writer *w, const struct health__snapshot *snap,
                         const struct health__query *q, enum trim t)
{
    static const health_status_t order[] = { HEALTH_FAIL, HEALTH_WARN,
                                             HEALTH_PASS };
    long dropped = 0;
    size_t i;
    size_t k;

    put_key(w, "checks");
    open_object(w, '{');
    for (k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        for (i = 0; i < snap->n; i++) {
            const struct health__entry *e = &snap->v[i];
            if (!health__query_includes(q, e) || entry_status(q, e) != order[k])
                continue;
            if (!keep_entry(q, e, t)) {
                dropped++;
                continue;
            }
            write_entry(w, q, e, entry_details(q, e, t));
        }
    }
    close_object(w, '}');
    return dropped;
}

static void write_info(struct writer *w, const struct health__config *cfg)
{
    if (cfg->version)
        member_string(w, "version", cfg->version);
    if (cfg->release_id)
        member_string(w, "releaseId", cfg->release_id);
    if (cfg->service_id)
        member_string(w, "serviceId", cfg->service_id);
    if (cfg->description)
        member_string(w, "description", cfg->description);
}

static void write_notes(struct writer *w, long dropped, enum trim t)
{
    char buf[160];
    int n;

    if (t == TRIM_NONE)
        return;
    n = snprintf(buf, sizeof(buf),
                 "report shortened to fit %d bytes: ", BODY_LIMIT);
    if (t == TRIM_PASSING_OUTPUTS)
        (void)snprintf(buf + n, sizeof(buf) - (size_t)n,
                       "outputs of passing checks left out");
    else if (t == TRIM_PASSING_CHECKS)
        (void)snprintf(buf + n, sizeof(buf) - (size_t)n,
                       "%ld passing check(s) left out", dropped);
    else if (t == TRIM_ALL_OUTPUTS)
        (void)snprintf(buf + n, sizeof(buf) - (size_t)n,
                       "%ld passing check(s) and all outputs left out",
                       dropped);
    else
        (void)snprintf(buf + n, sizeof(buf) - (size_t)n,
                       "all %ld checks left out", dropped);
    member_string(w, "notes", buf);
}

static int render(const struct health__snapshot *snap,
                  const struct health__query *q,
                  const struct health__config *cfg, enum trim t,
                  struct health__buf *b)
{
    struct writer w = { .b = b };
    const char *note;
    health_status_t st = health__report_status(snap, q, &note);
    long dropped;

    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
    open_object(&w, '{');
    member_string(&w, "status", status_names[st]);
    if (note)
        member_string(&w, "output", note);
    write_info(&w, cfg);
    dropped = write_checks(&w, snap, q, t);
    write_notes(&w, dropped, t);
    close_object(&w, '}');
    if (!w.failed)
        return 0;
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
    return -ENOMEM;
}

int health__report_json_buf(const struct health__snapshot *snap,
                            const struct health__query *q,
                            const struct health__config *cfg,
                            struct health__buf *b, health_status_t *status)
{
    const char *note;
    enum trim t;
    int r;

    *status = health__report_status(snap, q, &note);
    for (t = TRIM_NONE; t <= TRIM_CHECKS; t++) {
        r = render(snap, q, cfg, t, b);
        if (r < 0 || b->len <= BODY_LIMIT || t == TRIM_CHECKS)
            return r;
    }
    return 0;
}

void health__buf_fini(struct health__buf *b)
{
    free(b->p);
    *b = (struct health__buf){ 0 };
}

/* The body is the writer's own block, handed over: it comes from
 * realloc(), so health__report_free() releases it. */
char *health__report_json(const struct health__snapshot *snap,
                          const struct health__query *q,
                          const struct health__config *cfg, size_t *len,
                          health_status_t *status)
{
    struct health__buf b = { 0 };

    if (health__report_json_buf(snap, q, cfg, &b, status) < 0) {
        health__buf_fini(&b);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* A bounded text buffer; text past the limit is dropped, and noticed. */
struct text {
    char *buf;
    size_t len;
    bool full;
};

static void text_add(struct text *t, const char *fmt, ...) HEALTH_PRINTF(2, 3);

static void text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->full)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->len, BODY_LIMIT + 1 - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n > BODY_LIMIT - t->len) {
        t->full = true;
        return;
    }
    t->len += (size_t)n;
}

static const char *const endpoint_names[] = { "livez", "readyz", "startedz",
                                              "healthz" };

static void text_entry(struct text *t, const struct health__query *q,
                       const struct health__entry *e)
{
    health_status_t st = entry_status(q, e);
    const char *why = "reason withheld";

    if (q->details)
        why = e->s.state == HEALTH__PENDING ? "pending: no result yet"
              : e->s.r.output[0]            ? e->s.r.output
                                            : status_names[st];
    if (st == HEALTH_PASS)
        text_add(t, "[+]%s ok\n", e->name);
    else if (st == HEALTH_WARN)
        text_add(t, "[+]%s warn: %s\n", e->name, why);
    else
        text_add(t, "[-]%s failed: %s\n", e->name, why);
}

/*
 * The Kubernetes apiserver's plain-text form: "ok" alone for a passing
 * endpoint unless @verbose, else a "[+]name ok" / "[-]name failed: reason"
 * line per check (the reason only with details) and a closing
 * "<endpoint> check passed|failed".
 */
char *health__report_text(const struct health__snapshot *snap,
                          const struct health__query *q, bool verbose,
                          size_t *len, health_status_t *status)
{
    struct text t = { .buf = malloc(BODY_LIMIT + 1) };
    const char *note;
    size_t i;

    if (!t.buf)
        return NULL;
    t.buf[0] = '\0';
    *status = health__report_status(snap, q, &note);
    if (!verbose && *status != HEALTH_FAIL) {
        text_add(&t, "ok");
        *len = t.len;
        return t.buf;
    }
    if (note)
        text_add(&t, "[-]%s failed: %s\n",
                 strcmp(note, "starting") == 0 ? "startup" : "shutdown", note);
    for (i = 0; i < snap->n; i++)
        if (health__query_includes(q, &snap->v[i]))
            text_entry(&t, q, &snap->v[i]);
    /* Room for the closing line, cutting whole lines only. */
    t.full = false;
    if (t.len + 64 > BODY_LIMIT) {
        t.len = BODY_LIMIT - 64;
        while (t.len > 0 && t.buf[t.len - 1] != '\n')
            t.len--;
    }
    text_add(&t, "%s check %s\n", endpoint_names[q->ep],
             *status == HEALTH_FAIL ? "failed" : "passed");
    *len = t.len;
    return t.buf;
}

void health__report_free(void *body)
{
    free(body);
}
