/* SPDX-License-Identifier: MIT */
/* The cJSON renderer of lib/report.c before the hand-written writer
 * replaced it, kept as it was (only renamed) as the reference the writer's
 * bytes are compared with. */
#include "report-ref.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_LIMIT 10240

static const char *const status_names[] = { "pass", "warn", "fail" };

static health_status_t entry_status(const struct health__query *q,
                                    const struct health__entry *e)
{
    if (e->s.state == HEALTH__PENDING)
        return q->ep == HEALTH__EP_LIVE ? HEALTH_WARN : HEALTH_FAIL;
    return (health_status_t)e->s.state;
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

static char *ref_render(const struct health__snapshot *snap,
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

/* The body health__report_json() returned before the writer, and the
 * trim level it took. */
char *ref_report_json(const struct health__snapshot *snap,
                      const struct health__query *q,
                      const struct health__config *cfg, health_status_t *status,
                      enum trim *trim)
{
    const char *note;
    char *printed;

    *status = health__report_status(snap, q, &note);
    for (*trim = TRIM_NONE; *trim <= TRIM_CHECKS; (*trim)++) {
        printed = ref_render(snap, q, cfg, *trim);
        if (!printed)
            abort();
        if (strlen(printed) <= BODY_LIMIT || *trim == TRIM_CHECKS)
            return printed;
        cJSON_free(printed);
    }
    abort();
}
