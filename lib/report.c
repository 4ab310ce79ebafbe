/* SPDX-License-Identifier: MIT */
/*
 * Reports: the aggregate status of an endpoint and its application/health+json
 * body, from a snapshot.  Pure: no locks, no I/O, no clocks.  The only file
 * that includes cJSON.h.
 *
 * Body shape (draft-inadarei-api-health-check): top-level "status", the
 * optional "version", "releaseId", "serviceId", "description", an "output"
 * when a gate (starting, shutting down) decides, and "checks" keyed by name,
 * each an array of one object with "status", "time", and, when details are
 * shown, "output", "observedValue", "observedUnit" and "durationMs".
 * Returned bodies come from malloc() and are released with
 * health__report_free(), never from cJSON's allocator: the application
 * may change cJSON's global hooks (cJSON_InitHooks) while the library
 * holds bodies.  cJSON allocates only within a call.
 */
#include "health-internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
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

static cJSON *entry_output(const struct health__entry *e)
{
    char buf[HEALTH_OUTPUT_MAX + 64];

    if (e->s.state == HEALTH__PENDING)
        return cJSON_CreateString("pending: no result yet");
    if (e->stuck_s >= 1) {
        (void)snprintf(buf, sizeof(buf), "%s; still running after %lld s",
                       e->s.r.output, (long long)e->stuck_s);
        return cJSON_CreateString(buf);
    }
    if (e->stuck_s == 0) {
        (void)snprintf(buf, sizeof(buf), "%s; still running", e->s.r.output);
        return cJSON_CreateString(buf);
    }
    if (!e->s.r.output[0])
        return NULL;
    return cJSON_CreateString(e->s.r.output);
}

static bool add_time(cJSON *o, const char *key, int64_t wall_ms)
{
    char when[40];

    health__format_time(wall_ms, when, sizeof(when));
    return cJSON_AddStringToObject(o, key, when) != NULL;
}

/* When the check last passed and failed, its failures in a row, since
 * when its status holds, and its last run's own status where damping
 * reports another.  Only what says something is added, to keep bodies
 * small: a passing check shows only "statusSince". */
static bool add_history(cJSON *o, const struct health__entry *e)
{
    const struct health__stored *s = &e->s;

    if (s->state == HEALTH__PENDING)
        return true;
    if (s->raw != s->state &&
        !cJSON_AddStringToObject(o, "lastRunStatus", status_names[s->raw]))
        return false;
    if (s->since_ms && !add_time(o, "statusSince", s->since_ms))
        return false;
    if (s->state != HEALTH_PASS && s->last_pass_ms &&
        !add_time(o, "lastPassTime", s->last_pass_ms))
        return false;
    if (s->last_fail_ms && !add_time(o, "lastFailTime", s->last_fail_ms))
        return false;
    return !s->fails_in_row ||
           cJSON_AddNumberToObject(o, "failuresInRow", s->fails_in_row);
}

static bool add_details(cJSON *o, const struct health__entry *e)
{
    cJSON *out = entry_output(e);

    if (out && !cJSON_AddItemToObject(o, "output", out)) {
        cJSON_Delete(out);
        return false;
    }
    if (e->s.r.has_observed &&
        (!cJSON_AddNumberToObject(o, "observedValue", e->s.r.observed) ||
         (e->s.r.unit[0] &&
          !cJSON_AddStringToObject(o, "observedUnit", e->s.r.unit))))
        return false;
    if (!e->heartbeat && e->s.state != HEALTH__PENDING &&
        !cJSON_AddNumberToObject(o, "durationMs",
                                 round((double)e->s.duration_us) / 1000.0))
        return false;
    return e->heartbeat || add_history(o, e);
}

static cJSON *entry_json(const struct health__query *q,
                         const struct health__entry *e, bool details)
{
    char when[40];
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    if (!cJSON_AddStringToObject(o, "status", status_names[entry_status(q, e)]))
        goto fail;
    if (e->s.time_ms) {
        health__format_time(e->s.time_ms, when, sizeof(when));
        if (!cJSON_AddStringToObject(o, "time", when))
            goto fail;
    }
    if (details && !add_details(o, e))
        goto fail;
    return o;

fail:
    cJSON_Delete(o);
    return NULL;
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

/* Adds "checks", failing ones first, then warning, then passing ones, each
 * in registration order; returns how many entries the trim left out, or
 * -1. */
static long add_checks(cJSON *root, const struct health__snapshot *snap,
                       const struct health__query *q, enum trim t)
{
    static const health_status_t order[] = { HEALTH_FAIL, HEALTH_WARN,
                                             HEALTH_PASS };
    cJSON *checks = cJSON_AddObjectToObject(root, "checks");
    cJSON *arr;
    cJSON *o;
    long dropped = 0;
    size_t i;
    size_t k;

    if (!checks)
        return -1;
    for (k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        for (i = 0; i < snap->n; i++) {
            const struct health__entry *e = &snap->v[i];
            if (!health__query_includes(q, e) || entry_status(q, e) != order[k])
                continue;
            if (!keep_entry(q, e, t)) {
                dropped++;
                continue;
            }
            o = entry_json(q, e, entry_details(q, e, t));
            arr = cJSON_AddArrayToObject(checks, e->name);
            if (!o || !arr || !cJSON_AddItemToArray(arr, o)) {
                cJSON_Delete(o);
                return -1;
            }
        }
    }
    return dropped;
}

static bool add_info(cJSON *root, const struct health__config *cfg)
{
    return (!cfg->version ||
            cJSON_AddStringToObject(root, "version", cfg->version)) &&
           (!cfg->release_id ||
            cJSON_AddStringToObject(root, "releaseId", cfg->release_id)) &&
           (!cfg->service_id ||
            cJSON_AddStringToObject(root, "serviceId", cfg->service_id)) &&
           (!cfg->description ||
            cJSON_AddStringToObject(root, "description", cfg->description));
}

static bool add_notes(cJSON *root, long dropped, enum trim t)
{
    char buf[160];
    int n;

    if (t == TRIM_NONE)
        return true;
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
    return cJSON_AddStringToObject(root, "notes", buf) != NULL;
}

static char *render(const struct health__snapshot *snap,
                    const struct health__query *q,
                    const struct health__config *cfg, enum trim t)
{
    const char *note;
    health_status_t st = health__report_status(snap, q, &note);
    cJSON *root = cJSON_CreateObject();
    char *body = NULL;
    long dropped;

    if (!root)
        return NULL;
    if (!cJSON_AddStringToObject(root, "status", status_names[st]) ||
        (note && !cJSON_AddStringToObject(root, "output", note)) ||
        !add_info(root, cfg))
        goto out;
    dropped = add_checks(root, snap, q, t);
    if (dropped < 0 || !add_notes(root, dropped, t))
        goto out;
    body = cJSON_PrintUnformatted(root);
out:
    cJSON_Delete(root);
    return body;
}

char *health__report_json(const struct health__snapshot *snap,
                          const struct health__query *q,
                          const struct health__config *cfg, size_t *len,
                          health_status_t *status)
{
    const char *note;
    enum trim t;
    char *printed;
    char *body;

    *status = health__report_status(snap, q, &note);
    for (t = TRIM_NONE; t <= TRIM_CHECKS; t++) {
        printed = render(snap, q, cfg, t);
        if (!printed)
            return NULL;
        *len = strlen(printed);
        if (*len <= BODY_LIMIT || t == TRIM_CHECKS) {
            body = malloc(*len + 1);
            if (body)
                memcpy(body, printed, *len + 1);
            cJSON_free(printed);
            return body;
        }
        cJSON_free(printed);
    }
    return NULL;
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
