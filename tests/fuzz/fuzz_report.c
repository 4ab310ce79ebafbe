/* SPDX-License-Identifier: MIT */
/*
 * fuzz_report: health__report_json() and health__report_text() on
 * snapshots, queries and configs built from the fuzz input.
 *
 * The snapshot is the library's own, built the way a service and the
 * runner build it: a handle from health_create() (the report strings and
 * manual startup from the input), checks and heartbeats registered with
 * health_register_check() and health_register_heartbeat() (names mapped
 * onto [a-z0-9_.-], flags and damping from the input; what registration
 * refuses is left out), and runs stored with health__stored_result(),
 * health__stored_timeout() and health__stored_starved() (results
 * filled through the public setters: any status, text longer than the
 * buffers, observed values that are not finite), a run that hangs past
 * its deadline marked as the runner marks it, heartbeats beaten any time
 * ago, optionally health_begin_shutdown(); then health__snapshot_take()
 * under the handle's lock.  The wall-clock time a result was stored at
 * may be replaced by any int64 (a clock set anywhere).  The query's
 * exclude strings are arbitrary bytes or registered names; its per-check
 * name is NULL, a registered name, or another valid name.
 *
 * The expected results come from a model of design.md sections 3 and 5
 * (tables of what each state shows on each endpoint and which gates
 * apply), written apart from report.c; the snapshot is checked against
 * what was registered and stored.
 *
 * JSON checks: it parses completely, is well-formed UTF-8 without control
 * characters, fits 10240 bytes unless it is the no-checks fallback; the
 * top-level status agrees with the returned one, with
 * health__report_status() and with the model; the gate output is there
 * exactly when a gate decides; "checks" holds exactly the entries the
 * query selects (fewer only with "notes"), each with its own status and
 * an RFC 3339 time; without details no check shows output, observedValue,
 * observedUnit or durationMs.
 * Text checks: at most 10240 bytes, well-formed UTF-8 whose only control
 * character is '\n', "ok" when passing and not verbose, otherwise one
 * "[+]name ok" / "[+]name warn: why" / "[-]name failed: why" line per
 * check (why "reason withheld" without details) and a closing
 * "<endpoint> check passed|failed" line.
 * Also: health__query_matches() is false exactly for a per-check path
 * that selects nothing.
 *
 * The body is byte for byte what the former cJSON renderer
 * (tests/report-ref.c) prints, and health__report_json_buf() writes the
 * same bytes into a buffer kept across inputs, without growing it when
 * it renders the same input a second time.
 */
#include "health-internal.h"
#include "fuzz-util.h"
#include "report-ref.h"

#include <cjson/cJSON.h>
#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 64
#define MAX_RUNS 3
#define MAX_EXCLUDES 16
#define EXCLUDE_MAX 80
#define BODY_LIMIT 10240

/* Query byte: endpoint, details, verbose, startup, shutdown, only. */
#define Q_DETAILS 0x04
#define Q_VERBOSE 0x08
#define Q_STARTED 0x10 /* without it: manual startup, never called */
#define Q_SHUTTING 0x20
#define Q_ONLY_MASK 0xc0
#define Q_ONLY_REGISTERED 0x40
#define Q_ONLY_OTHER 0x80

/* Entry byte: the check flags (0x0f) and these. */
#define E_HEARTBEAT 0x10
#define E_CLOCK 0x20
#define E_OBSERVE 0x40
#define E_STUCK 0x80

static const char *const status_names[] = { "pass", "warn", "fail" };
static const char *const endpoint_names[] = { "livez", "readyz", "startedz",
                                              "healthz" };

struct fuzz_case {
    health_t *h;
    struct health__snapshot snap;
    struct health__query q;
    bool verbose;
    bool manual;   /* manual startup, health_set_started() not called */
    bool shutting; /* health_begin_shutdown() called */
    char names[MAX_ENTRIES][HEALTH_NAME_MAX + 1]; /* registered */
    size_t n_names;
    /* heartbeats: the age (ms) each was beaten at, for the snapshot check */
    int64_t beat_age_ms[MAX_ENTRIES];
    unsigned beat_deadline_ms[MAX_ENTRIES];
    char only[HEALTH_NAME_MAX + 1];
    const char *exclude[MAX_EXCLUDES];
    char exclude_buf[MAX_EXCLUDES][EXCLUDE_MAX + 1];
};

/* A valid name from the input: a length byte (1..63 from its low six
 * bits; bit 6: one byte repeated, so short inputs reach long names), then
 * bytes mapped onto [a-z0-9_.-]. */
static void name_from_input(struct fuzz_in *in, char *name)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789_.-";
    uint8_t b = fuzz_u8(in);
    size_t n = (b & 0x3fu) % HEALTH_NAME_MAX + 1;
    size_t i;

    for (i = 0; i < n; i++)
        name[i] = (b & 0x40) && i > 0
                      ? name[0]
                      : alphabet[fuzz_u8(in) % (sizeof(alphabet) - 1)];
    name[n] = '\0';
}

/* Text up to @cap - 1 bytes: a string from the input, then a byte whose
 * bit 0 repeats it to fill @cap - 1 bytes (so short inputs reach full
 * outputs and the 10 KiB report limits). */
static void text_from_input(struct fuzz_in *in, char *dst, size_t cap)
{
    size_t n = fuzz_str(in, dst, cap);
    size_t i;

    if (!(fuzz_u8(in) & 1) || n == 0)
        return;
    for (i = n; i < cap - 1; i++)
        dst[i] = dst[i - n];
    dst[cap - 1] = '\0';
}

static const struct health__entry *find_entry(const struct fuzz_case *fc,
                                              const char *name)
{
    size_t i;

    for (i = 0; i < fc->snap.n; i++)
        if (strcmp(fc->snap.v[i].name, name) == 0)
            return &fc->snap.v[i];
    return NULL;
}

/* What a check callback hands back: any status (invalid ones too), text
 * longer than the output buffer through either setter, and an observed
 * value with a unit longer than its buffer. */
static int callback_from_input(struct fuzz_in *in, health_result_t *r,
                               bool plain, bool observe)
{
    char text[HEALTH_OUTPUT_MAX + 64];
    char unit[HEALTH_UNIT_MAX + 8];
    uint8_t s = fuzz_u8(in);
    union {
        uint64_t u;
        double d;
    } v;

    memset(r, 0, sizeof(*r));
    text_from_input(in, text, sizeof(text));
    if (plain)
        health_result_set_output(r, text);
    else
        health_result_setf(r, "%s", text);
    if (observe) {
        v.u = fuzz_u64(in);
        text_from_input(in, unit, sizeof(unit));
        health_result_set_observed(r, v.d, unit);
    }
    return s < 0xe0 ? s % 3 : (int)s - 0xf0; /* -16..15 past 0xe0 */
}

/* After a stored run, as runner.c's store_result() and store_timeout():
 * a run that did not fail counts as having passed once (STARTUP). */
static void mark_passed(struct health__check *c)
{
    if (c->latest.raw != HEALTH_FAIL)
        c->passed_once = true;
}

/* Up to MAX_RUNS runs, one byte each (kind in bits 0-1: a result through
 * health_result_set_output() or health_result_setf(), a timeout, or a run
 * that found no thread; then ms since the previous run), stored as the
 * runner stores them.  @stuck adds a last run that passes its deadline
 * and is still running. */
static void runs_from_input(struct fuzz_in *in, struct health__check *c,
                            unsigned n, bool observe, bool stuck)
{
    /* A hung run started any time ago; the runs before it, before that. */
    int64_t hung_at =
        health__mono_ns() - (stuck ? (int64_t)(fuzz_u64(in) >> 2) : 0);
    int64_t start = hung_at - (int64_t)(MAX_RUNS * 64) * 1000000;
    health_result_t r;
    unsigned i;
    uint8_t k;
    int status;

    for (i = 0; i < n; i++) {
        k = fuzz_u8(in);
        start += (int64_t)(k >> 2) * 1000000;
        switch (k & 3) {
        case 0:
        case 1:
            status = callback_from_input(in, &r, (k & 3) == 0, observe);
            (void)health__stored_result(&c->latest, &c->damping, status, &r,
                                        start, (int64_t)(fuzz_u64(in) >> 2));
            break;
        case 2:
            (void)health__stored_timeout(&c->latest, &c->damping, c->timeout_ms,
                                         start, (int64_t)fuzz_u8(in) * 1000000);
            break;
        default:
            (void)health__stored_starved(&c->latest, &c->damping, fuzz_u8(in),
                                         start);
            break;
        }
        mark_passed(c);
    }
    if (!stuck)
        return;
    /* Still running; the watchdog recorded its timeout. */
    c->run_start_ns = hung_at;
    c->running = true;
    c->timed_out = true;
    (void)health__stored_timeout(&c->latest, &c->damping, c->timeout_ms,
                                 c->run_start_ns, 0);
    mark_passed(c);
}

static health_status_t never_run(health_result_t *r, void *ud)
{
    (void)r;
    (void)ud;
    return HEALTH_FAIL;
}

/* A check: the damping byte (fail_after in bits 0-1, pass_after in bits
 * 2-3, fail_after_ms 0/5/10/15 in bits 4-5, the number of runs in bits
 * 6-7), then the runs; optionally (once stored) the wall-clock time of
 * the last store. */
static bool check_from_input(struct fuzz_in *in, struct fuzz_case *fc,
                             const char *name, uint8_t b)
{
    struct health_check check = { .name = name, .run = never_run };
    struct health__check *c;
    uint8_t d = fuzz_u8(in);

    check.flags = b & 0x0fu;
    check.fail_after = d & 3u;
    check.pass_after = (d >> 2) & 3u;
    check.fail_after_ms = ((d >> 4) & 3u) * 5;
    if (health_register_check(fc->h, &check, NULL) < 0)
        return false;
    c = health__find_check(fc->h, name);
    FUZZ_CHECK(c != NULL);
    runs_from_input(in, c, (d >> 6) % (MAX_RUNS + 1), b & E_OBSERVE,
                    b & E_STUCK);
    if ((b & E_CLOCK) && c->latest.state != HEALTH__PENDING)
        c->latest.time_ms = (int64_t)fuzz_u64(in);
    return true;
}

/* A heartbeat: the age of its last beat (ms) and its deadline. */
static bool heartbeat_from_input(struct fuzz_in *in, struct fuzz_case *fc,
                                 const char *name)
{
    /* Beats are kept to the millisecond in 40 bits (34 years). */
    int64_t age = (int64_t)(fuzz_u64(in) % (UINT64_C(1) << 39));
    unsigned deadline = (unsigned)fuzz_u64(in);
    health_heartbeat_t *hb;

    if (health_register_heartbeat(fc->h, name, deadline, &hb) < 0)
        return false;
    /* Its last beat, that long ago. */
    health__beat_at(hb, health__mono_coarse_ms() - age);
    fc->beat_age_ms[fc->n_names] = age;
    fc->beat_deadline_ms[fc->n_names] = deadline;
    return true;
}

static void entries_from_input(struct fuzz_in *in, struct fuzz_case *fc)
{
    size_t want = fuzz_u8(in) % (MAX_ENTRIES + 1);
    char *name;
    uint8_t b;
    bool ok;
    size_t i;

    for (i = 0; i < want; i++) {
        b = fuzz_u8(in);
        name = fc->names[fc->n_names];
        name_from_input(in, name);
        fc->beat_age_ms[fc->n_names] = -1;
        ok = b & E_HEARTBEAT ? heartbeat_from_input(in, fc, name)
                             : check_from_input(in, fc, name, b);
        if (ok)
            fc->n_names++;
    }
}

/* The query byte comes first: it says how the handle is created. */
static void query_flags_from_input(struct fuzz_in *in, struct fuzz_case *fc,
                                   uint8_t *b)
{
    *b = fuzz_u8(in);
    fc->q.ep = (enum health__endpoint)(*b & 3);
    fc->q.details = (*b & Q_DETAILS) != 0;
    fc->verbose = (*b & Q_VERBOSE) != 0;
    fc->manual = !(*b & Q_STARTED);
    fc->shutting = (*b & Q_SHUTTING) != 0;
}

/* The rest of the query, once the names are known. */
static void query_from_input(struct fuzz_in *in, struct fuzz_case *fc,
                             uint8_t b)
{
    size_t n = fuzz_u8(in) % (MAX_EXCLUDES + 1);
    size_t i;

    if ((b & Q_ONLY_MASK) == Q_ONLY_REGISTERED && fc->n_names) {
        fc->q.only = fc->names[fuzz_u8(in) % fc->n_names];
    } else if ((b & Q_ONLY_MASK) == Q_ONLY_OTHER) {
        name_from_input(in, fc->only);
        fc->q.only = fc->only;
    }
    for (i = 0; i < n; i++) {
        if (fuzz_bool(in) && fc->n_names)
            fc->exclude[i] = fc->names[fuzz_u8(in) % fc->n_names];
        else {
            (void)fuzz_str(in, fc->exclude_buf[i], EXCLUDE_MAX + 1);
            fc->exclude[i] = fc->exclude_buf[i];
        }
    }
    fc->q.exclude = fc->exclude;
    fc->q.n_exclude = n;
}

/* The handle, with the report strings from the input (no environment is
 * read: port, bind address and details are all given). */
static void handle_from_input(struct fuzz_in *in, struct fuzz_case *fc)
{
    char strs[4][HEALTH__INFO_MAX + 1];
    const char *p[4] = { NULL, NULL, NULL, NULL };
    struct health_options o;
    size_t i;

    for (i = 0; i < 4; i++) {
        if (!fuzz_bool(in))
            continue;
        text_from_input(in, strs[i], sizeof(strs[i]));
        p[i] = strs[i];
    }
    memset(&o, 0, sizeof(o));
    o.port = HEALTH_PORT_EPHEMERAL;
    o.bind_address = "::1";
    o.details = HEALTH_DETAILS_ALWAYS;
    o.flags = fc->manual ? HEALTH_OPT_MANUAL_STARTUP : 0;
    o.version = p[0];
    o.release_id = p[1];
    o.service_id = p[2];
    o.description = p[3];
    FUZZ_CHECK(health_create(&fc->h, &o) == 0);
    if (fc->shutting)
        FUZZ_CHECK(health_begin_shutdown(fc->h) == 0);
}

/*
 * The model, from design.md sections 3 and 5, as tables rather than code
 * paths.  What an entry shows on an endpoint, by state (pending, pass,
 * warn, fail): pending passes /live (as warn) and fails everything else.
 */
static const health_status_t shown[4][4] = {
    [HEALTH__EP_LIVE] = { HEALTH_WARN, HEALTH_PASS, HEALTH_WARN, HEALTH_FAIL },
    [HEALTH__EP_READY] = { HEALTH_FAIL, HEALTH_PASS, HEALTH_WARN, HEALTH_FAIL },
    [HEALTH__EP_STARTED] = { HEALTH_FAIL, HEALTH_PASS, HEALTH_WARN,
                             HEALTH_FAIL },
    [HEALTH__EP_HEALTH] = { HEALTH_FAIL, HEALTH_PASS, HEALTH_WARN,
                            HEALTH_FAIL },
};

/* Which gates fail an endpoint before its checks are looked at (never on
 * a per-check path): /live passes during startup and shutdown; /started
 * ignores shutdown. */
static const struct {
    bool starting;
    bool shutting;
    unsigned checks; /* the flag that puts a check in the endpoint */
} endpoint_rules[4] = {
    [HEALTH__EP_LIVE] = { false, false, HEALTH_CHECK_LIVE },
    [HEALTH__EP_READY] = { true, true, HEALTH_CHECK_READY },
    [HEALTH__EP_STARTED] = { true, false, HEALTH_CHECK_STARTUP },
    [HEALTH__EP_HEALTH] = { true, true, 0 },
};

/* Startup is complete once health_set_started() was called (when the
 * options ask for it) and every STARTUP check has passed once. */
static bool ref_startup_complete(const struct fuzz_case *fc)
{
    const struct health__check *c;

    if (fc->manual)
        return false;
    for (c = fc->h->checks; c; c = c->next)
        if ((c->flags & HEALTH_CHECK_STARTUP) && !c->passed_once)
            return false;
    return true;
}

static bool ref_includes(const struct health__query *q,
                         const struct health__entry *e)
{
    unsigned need = endpoint_rules[q->ep].checks;
    size_t i;

    if (need && !(e->flags & need))
        return false;
    if (q->only)
        return strcmp(q->only, e->name) == 0;
    for (i = 0; i < q->n_exclude; i++)
        if (strcmp(q->exclude[i], e->name) == 0)
            return false;
    /* /started lists a STARTUP check until its first pass. */
    return q->ep != HEALTH__EP_STARTED || !e->passed_once;
}

static health_status_t ref_entry_status(const struct health__query *q,
                                        const struct health__entry *e)
{
    FUZZ_CHECK(e->s.state >= HEALTH__PENDING && e->s.state <= HEALTH_FAIL);
    return shown[q->ep][e->s.state + 1];
}

static const char *ref_gate(const struct fuzz_case *fc)
{
    if (fc->q.only)
        return NULL;
    if (endpoint_rules[fc->q.ep].starting && !ref_startup_complete(fc))
        return "starting";
    if (endpoint_rules[fc->q.ep].shutting && fc->shutting)
        return "shutting down";
    return NULL;
}

/* The worst status among the selected entries and the gate; a failing
 * NONCRITICAL check counts as warn, except on its own path. */
static health_status_t ref_status(const struct fuzz_case *fc, size_t *n_inc)
{
    health_status_t worst = ref_gate(fc) ? HEALTH_FAIL : HEALTH_PASS;
    health_status_t st;
    size_t i;

    *n_inc = 0;
    for (i = 0; i < fc->snap.n; i++) {
        const struct health__entry *e = &fc->snap.v[i];
        if (!ref_includes(&fc->q, e))
            continue;
        (*n_inc)++;
        st = ref_entry_status(&fc->q, e);
        if (st == HEALTH_FAIL && !fc->q.only &&
            (e->flags & HEALTH_CHECK_NONCRITICAL))
            st = HEALTH_WARN;
        if (st > worst)
            worst = st;
    }
    return worst;
}

/* The snapshot holds what was registered and stored: every name once,
 * each check's stored result, a hung run's seconds, each heartbeat's age
 * against its deadline, and the startup and shutdown state. */
static void check_snapshot(const struct fuzz_case *fc)
{
    const struct health__check *c;
    const struct health__entry *e;
    size_t i;

    FUZZ_CHECK(fc->snap.n == fc->n_names);
    FUZZ_CHECK(fc->snap.startup_complete == ref_startup_complete(fc));
    FUZZ_CHECK(fc->snap.shutting_down == fc->shutting);
    for (i = 0; i < fc->n_names; i++) {
        e = find_entry(fc, fc->names[i]);
        FUZZ_CHECK(e != NULL);
        c = health__find_check(fc->h, fc->names[i]);
        FUZZ_CHECK(e->heartbeat == (c == NULL));
        if (c) {
            FUZZ_CHECK(e->flags == c->flags &&
                       e->passed_once == c->passed_once);
            FUZZ_CHECK(e->s.state == c->latest.state &&
                       e->s.time_ms == c->latest.time_ms);
            FUZZ_CHECK(strcmp(e->s.r.output, c->latest.r.output) == 0);
            FUZZ_CHECK((e->stuck_s >= 0) == (c->running && c->timed_out));
            /* Undamped, the reported status is the last run's. */
            if (c->damping.fail_after == 1 && c->damping.pass_after == 1 &&
                c->damping.fail_after_ms == 0)
                FUZZ_CHECK(c->latest.state == c->latest.raw);
            continue;
        }
        FUZZ_CHECK(e->flags == HEALTH_CHECK_LIVE && e->s.r.has_observed);
        FUZZ_CHECK(e->s.r.observed >= (double)fc->beat_age_ms[i]);
        FUZZ_CHECK(e->s.state == (e->s.r.observed > fc->beat_deadline_ms[i]
                                      ? HEALTH_FAIL
                                      : HEALTH_PASS));
    }
}

static bool is_digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
static bool is_rfc3339(const char *s)
{
    return strlen(s) == 24 && is_digits(s, 4) && s[4] == '-' &&
           is_digits(s + 5, 2) && s[7] == '-' && is_digits(s + 8, 2) &&
           s[10] == 'T' && is_digits(s + 11, 2) && s[13] == ':' &&
           is_digits(s + 14, 2) && s[16] == ':' && is_digits(s + 17, 2) &&
           s[19] == '.' && is_digits(s + 20, 3) && s[23] == 'Z';
}

static const char *json_string(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static void check_json_entry(const struct fuzz_case *fc, const cJSON *arr)
{
    const struct health__entry *e = find_entry(fc, arr->string);
    const cJSON *o = cJSON_GetArrayItem(arr, 0);
    const char *st = json_string(o, "status");
    const char *when = json_string(o, "time");

    FUZZ_CHECK(e != NULL && ref_includes(&fc->q, e));
    FUZZ_CHECK(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 1);
    FUZZ_CHECK(cJSON_IsObject(o));
    FUZZ_CHECK(st &&
               strcmp(st, status_names[ref_entry_status(&fc->q, e)]) == 0);
    FUZZ_CHECK((when != NULL) == (e->s.time_ms != 0));
    /* Only for times a four-digit year can write. */
    if (e->s.time_ms > 0 && e->s.time_ms < INT64_C(253402300800000))
        FUZZ_CHECK(is_rfc3339(when));
    if (!fc->q.details) {
        FUZZ_CHECK(!cJSON_HasObjectItem(o, "output"));
        FUZZ_CHECK(!cJSON_HasObjectItem(o, "observedValue"));
        FUZZ_CHECK(!cJSON_HasObjectItem(o, "observedUnit"));
        FUZZ_CHECK(!cJSON_HasObjectItem(o, "durationMs"));
    }
}

static void check_json(const struct fuzz_case *fc, const char *body, size_t len,
                       health_status_t status)
{
    const char *end = NULL;
    cJSON *root;
    const cJSON *checks;
    const cJSON *it;
    const char *note = ref_gate(fc);
    const char *out;
    size_t n_inc;
    size_t n = 0;
    bool notes;

    FUZZ_CHECK(body != NULL && strlen(body) == len);
    FUZZ_CHECK(fuzz_text_clean(body, len, '\0'));
    root = cJSON_ParseWithLengthOpts(body, len + 1, &end, 1);
    FUZZ_CHECK(root != NULL && end == body + len);
    FUZZ_CHECK(cJSON_IsObject(root));
    FUZZ_CHECK(status == ref_status(fc, &n_inc));
    out = json_string(root, "status");
    FUZZ_CHECK(out && strcmp(out, status_names[status]) == 0);
    out = json_string(root, "output");
    FUZZ_CHECK(note ? out && strcmp(out, note) == 0 : out == NULL);
    notes = cJSON_HasObjectItem(root, "notes");
    checks = cJSON_GetObjectItemCaseSensitive(root, "checks");
    FUZZ_CHECK(cJSON_IsObject(checks));
    cJSON_ArrayForEach(it, checks)
    {
        check_json_entry(fc, it);
        n++;
    }
    FUZZ_CHECK(notes ? n <= n_inc : n == n_inc);
    FUZZ_CHECK(len <= BODY_LIMIT || (notes && n == 0));
    cJSON_Delete(root);
}

/* Whether line[0..n) is @prefix followed by exactly @rest. */
static bool line_is(const char *line, size_t n, const char *prefix,
                    const char *rest)
{
    size_t p = strlen(prefix);
    size_t r = strlen(rest);

    return n == p + r && memcmp(line, prefix, p) == 0 &&
           memcmp(line + p, rest, r) == 0;
}

/* "[+]name ok", "[+]name warn: why" or "[-]name failed: why", for the
 * entries the query selects, in snapshot order; @next is the index after
 * the previous line's entry. */
static void check_text_line(const struct fuzz_case *fc, const char *line,
                            size_t n, size_t *next)
{
    const char *sp = memchr(line, ' ', n);
    const struct health__entry *e = NULL;
    const char *why = NULL;
    const char *expect;
    size_t rest;

    FUZZ_CHECK(n > 3 && sp != NULL);
    for (; *next < fc->snap.n && !e; (*next)++) {
        const struct health__entry *c = &fc->snap.v[*next];
        if (ref_includes(&fc->q, c) &&
            strlen(c->name) == (size_t)(sp - line) - 3 &&
            memcmp(c->name, line + 3, strlen(c->name)) == 0)
            e = c;
    }
    FUZZ_CHECK(e != NULL);
    rest = n - (size_t)(sp - line);
    switch (ref_entry_status(&fc->q, e)) {
    case HEALTH_PASS:
        FUZZ_CHECK(memcmp(line, "[+]", 3) == 0);
        FUZZ_CHECK(rest == 3 && memcmp(sp, " ok", 3) == 0);
        return;
    case HEALTH_WARN:
        FUZZ_CHECK(memcmp(line, "[+]", 3) == 0);
        FUZZ_CHECK(rest >= 7 && memcmp(sp, " warn: ", 7) == 0);
        why = sp + 7;
        break;
    default:
        FUZZ_CHECK(memcmp(line, "[-]", 3) == 0);
        FUZZ_CHECK(rest >= 9 && memcmp(sp, " failed: ", 9) == 0);
        why = sp + 9;
        break;
    }
    if (!fc->q.details)
        expect = "reason withheld";
    else if (e->s.state == HEALTH__PENDING)
        expect = "pending: no result yet";
    else if (e->s.r.output[0])
        expect = e->s.r.output;
    else
        expect = status_names[ref_entry_status(&fc->q, e)];
    FUZZ_CHECK(line_is(why, (size_t)(line + n - why), "", expect));
}

static void check_text(const struct fuzz_case *fc, const char *body, size_t len,
                       health_status_t status)
{
    const char *note = ref_gate(fc);
    char tail[64];
    const char *line = body;
    const char *nl;
    size_t n_inc;
    size_t tail_len;
    size_t next = 0;

    FUZZ_CHECK(body != NULL && strlen(body) == len);
    FUZZ_CHECK(len <= BODY_LIMIT);
    FUZZ_CHECK(fuzz_text_clean(body, len, '\n'));
    FUZZ_CHECK(status == ref_status(fc, &n_inc));
    if (!fc->verbose && status != HEALTH_FAIL) {
        FUZZ_CHECK(strcmp(body, "ok") == 0);
        return;
    }
    (void)snprintf(tail, sizeof(tail), "%s check %s\n",
                   endpoint_names[fc->q.ep],
                   status == HEALTH_FAIL ? "failed" : "passed");
    tail_len = strlen(tail);
    FUZZ_CHECK(len >= tail_len &&
               memcmp(body + len - tail_len, tail, tail_len) == 0);
    if (note) {
        nl = memchr(body, '\n', len);
        FUZZ_CHECK(nl != NULL);
        FUZZ_CHECK(line_is(body, (size_t)(nl - body),
                           strcmp(note, "starting") == 0
                               ? "[-]startup failed: "
                               : "[-]shutdown failed: ",
                           note));
        line = nl + 1;
    }
    /* Every line but the closing one is a whole check line. */
    for (; (nl = memchr(line, '\n', len - (size_t)(line - body)));
         line = nl + 1) {
        if ((size_t)(nl + 1 - body) == len)
            break;
        check_text_line(fc, line, (size_t)(nl - line), &next);
    }
    FUZZ_CHECK((size_t)(line - body) + tail_len == len);
}

/*
 * Extra coverage features (libFuzzer reads this section as counters): one
 * per band of body size, 256 bytes wide and 16 bytes wide near the limit.
 * Coverage alone does not reward bigger reports, and the trimming and
 * truncation code only runs near 10 KiB; with these, inputs that grow the
 * bodies towards the limit are kept.
 */
#define SIZE_BANDS 64
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t
    size_features[2][SIZE_BANDS];

static void size_feature(int which, size_t len)
{
    size_t fine = BODY_LIMIT - 256;
    size_t band;

    if (len < fine)
        band = len / 256;
    else
        band = fine / 256 + (len - fine) / 16;
    if (band >= SIZE_BANDS)
        band = SIZE_BANDS - 1;
    size_features[which][band]++;
}

/* FUZZ_REPORT_DUMP=1 in the environment: print both bodies to stderr,
 * for looking at what an input renders to. */
static void dump(const char *what, const char *body, size_t len)
{
    static int on = -1;

    if (on < 0)
        on = getenv("FUZZ_REPORT_DUMP") != NULL;
    if (!on || !body)
        return;
    fprintf(stderr, "--- %s (%zu bytes)\n", what, len);
    fwrite(body, 1, len, stderr);
    fprintf(stderr, "\n--- end of %s\n", what);
}

/* The JSON body against the reference, and the writer's reusable buffer:
 * the same bytes, and no growth when the same input renders again. */
static void check_against_reference(const struct fuzz_case *fc,
                                    const char *body, size_t len)
{
    static struct health__buf b;
    health_status_t ref_st;
    health_status_t st;
    enum trim trim;
    char *ref = ref_report_json(&fc->snap, &fc->q, &fc->h->cfg, &ref_st, &trim);
    char *p;
    size_t cap;

    FUZZ_CHECK(strlen(ref) == len && memcmp(ref, body, len) == 0);
    FUZZ_CHECK(
        health__report_json_buf(&fc->snap, &fc->q, &fc->h->cfg, &b, &st) == 0);
    FUZZ_CHECK(st == ref_st && b.len == len && memcmp(b.p, ref, len) == 0);
    p = b.p;
    cap = b.cap;
    FUZZ_CHECK(
        health__report_json_buf(&fc->snap, &fc->q, &fc->h->cfg, &b, &st) == 0);
    FUZZ_CHECK(b.p == p && b.cap == cap && b.len == len);
    FUZZ_CHECK(b.p[len] == '\0' && memcmp(b.p, ref, len) == 0);
    cJSON_free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_case fc;
    struct fuzz_in in = { data, size };
    health_status_t status = (health_status_t)-1;
    health_status_t st;
    const char *note = NULL;
    size_t n_inc;
    size_t len = 0;
    struct health__check *c;
    uint8_t qb;
    char *body;

    memset(&fc, 0, sizeof(fc));
    query_flags_from_input(&in, &fc, &qb);
    handle_from_input(&in, &fc);
    entries_from_input(&in, &fc);
    query_from_input(&in, &fc, qb);

    (void)pthread_mutex_lock(&fc.h->lock);
    FUZZ_CHECK(health__snapshot_take(fc.h, &fc.snap) == 0);
    (void)pthread_mutex_unlock(&fc.h->lock);
    check_snapshot(&fc);

    st = health__report_status(&fc.snap, &fc.q, &note);
    FUZZ_CHECK(st == ref_status(&fc, &n_inc));
    FUZZ_CHECK(note == ref_gate(&fc) ||
               (note && ref_gate(&fc) && strcmp(note, ref_gate(&fc)) == 0));
    /* http.c answers 404 for a per-check path that selects nothing. */
    FUZZ_CHECK(health__query_matches(&fc.snap, &fc.q) ==
               (!fc.q.only || n_inc > 0));

    body = health__report_json(&fc.snap, &fc.q, &fc.h->cfg, &len, &status);
    dump("json", body, len);
    FUZZ_CHECK(body && status == st);
    size_feature(0, len);
    check_json(&fc, body, len, status);
    check_against_reference(&fc, body, len);
    health__report_free(body);

    len = 0;
    status = (health_status_t)-1;
    body = health__report_text(&fc.snap, &fc.q, fc.verbose, &len, &status);
    dump("text", body, len);
    FUZZ_CHECK(body && status == st);
    size_feature(1, len);
    check_text(&fc, body, len, status);
    health__report_free(body);

    health__snapshot_fini(&fc.snap);
    /* No thread runs the "stuck" runs marked above: end them, so destroy
     * frees their checks. */
    for (c = fc.h->checks; c; c = c->next)
        c->running = false;
    health_destroy(fc.h);
    return 0;
}
