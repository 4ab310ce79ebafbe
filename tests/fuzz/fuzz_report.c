/* SPDX-License-Identifier: MIT */
/*
 * fuzz_report: health__report_json() and health__report_text() on
 * snapshots, queries and configs built from the fuzz input.
 *
 * The snapshot mirrors what the library can really hold: names pass
 * health__name_is_valid() (input bytes mapped onto [a-z0-9_.-], duplicates
 * dropped as registration would), flags are the four known ones with READY
 * added when no endpoint flag is set (as health_register_check), states are
 * -1..2 (the runner clamps others), outputs and units are arbitrary bytes
 * truncated and sanitised as store_result() does, an observed value that is
 * not finite is dropped with its unit (as health_result_set_observed), a
 * pending entry has an empty result, and a heartbeat looks as
 * snap_heartbeat() makes it.  Times, durations and stuck times are any
 * int64.  The query's exclude strings are arbitrary bytes or existing
 * names; its per-check name is NULL, an existing name, or another valid
 * name.  The report strings go through health__config_init().
 *
 * JSON checks: it parses completely, is well-formed UTF-8 without control
 * characters, fits 10240 bytes unless it is the no-checks fallback; the
 * top-level status agrees with the returned one, with
 * health__report_status() and with a reference aggregation; the gate
 * output is there exactly when a gate decides; "checks" holds exactly the
 * entries the query selects (fewer only with "notes"), each with its own
 * status and an RFC 3339 time; without details no check shows output,
 * observedValue, observedUnit or durationMs.
 * Text checks: at most 10240 bytes, well-formed UTF-8 whose only control
 * character is '\n', "ok" when passing and not verbose, otherwise one
 * "[+]name ok" / "[+]name warn: why" / "[-]name failed: why" line per
 * check (why "reason withheld" without details) and a closing
 * "<endpoint> check passed|failed" line.
 * Also: health__query_matches() is false exactly for a per-check path
 * that selects nothing; and with one cJSON allocation made to fail (picked
 * by the input), a call returns a valid body or NULL and leaks nothing.
 */
#include "health-internal.h"
#include "fuzz-util.h"

#include <cjson/cJSON.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 64
#define MAX_EXCLUDES 16
#define EXCLUDE_MAX 80
#define BODY_LIMIT 10240
#define ENDPOINT_FLAGS \
 (HEALTH_CHECK_READY | HEALTH_CHECK_LIVE | HEALTH_CHECK_STARTUP)

static const char *const status_names[] = { "pass", "warn", "fail" };
static const char *const endpoint_names[] = { "livez", "readyz", "startedz",
                                              "healthz" };

struct fuzz_case {
    struct health__entry v[MAX_ENTRIES];
    struct health__snapshot snap;
    struct health__query q;
    struct health__config cfg;
    bool verbose;
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
    FUZZ_CHECK(health__name_is_valid(name));
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
        if (strcmp(fc->v[i].name, name) == 0)
            return &fc->v[i];
    return NULL;
}

/* As the runner stores a result: truncated, NUL-terminated, sanitised;
 * the observed value through the setter's rules. */
static void result_from_input(struct fuzz_in *in, struct health__stored *s,
                              bool observe)
{
    char unit[HEALTH_UNIT_MAX];
    union {
        uint64_t u;
        double d;
    } v;

    text_from_input(in, s->r.output, sizeof(s->r.output));
    v.u = fuzz_u64(in);
    text_from_input(in, unit, sizeof(unit));
    if (observe)
        health_result_set_observed(&s->r, v.d, unit);
    health__sanitize_text(s->r.output);
    health__sanitize_text(s->r.unit);
    s->time_ms = (int64_t)fuzz_u64(in);
    s->duration_us = (int64_t)fuzz_u64(in);
}

/* As snap_heartbeat() in registry.c fills a heartbeat's entry. */
static void heartbeat_from_input(struct fuzz_in *in, struct health__entry *e)
{
    int64_t age = (int64_t)(fuzz_u64(in) >> 1);
    unsigned deadline = (unsigned)fuzz_u64(in);

    e->flags = HEALTH_CHECK_LIVE;
    e->passed_once = true;
    e->s.state = age > deadline ? HEALTH_FAIL : HEALTH_PASS;
    e->s.time_ms = (int64_t)fuzz_u64(in);
    e->s.r.has_observed = true;
    e->s.r.observed = (double)age;
    memcpy(e->s.r.unit, "ms", 3);
    if (e->s.state == HEALTH_FAIL)
        (void)snprintf(e->s.r.output, sizeof(e->s.r.output),
                       "no beat for %lld ms (deadline %u ms)", (long long)age,
                       deadline);
}

static void entry_from_input(struct fuzz_in *in, struct health__entry *e)
{
    uint8_t b = fuzz_u8(in);

    memset(e, 0, sizeof(*e));
    e->stuck_s = -1; /* not a hung run */
    name_from_input(in, e->name);
    if (b & 0x10) {
        e->heartbeat = true;
        heartbeat_from_input(in, e);
        return;
    }
    e->flags = b & 0x0fu;
    if (!(e->flags & ENDPOINT_FLAGS))
        e->flags |= HEALTH_CHECK_READY;
    e->s.state = fuzz_u8(in) % 4 - 1;
    if (e->s.state == HEALTH__PENDING)
        return; /* nothing stored yet, never passed, never stuck */
    e->passed_once = (b & 0x20) != 0;
    result_from_input(in, &e->s, (b & 0x40) != 0);
    if (b & 0x80)
        e->stuck_s = (int64_t)(fuzz_u64(in) >> 1);
}

static void snapshot_from_input(struct fuzz_in *in, struct fuzz_case *fc)
{
    size_t want = fuzz_u8(in) % (MAX_ENTRIES + 1);
    size_t i;

    fc->snap.v = fc->v;
    fc->snap.cap = MAX_ENTRIES;
    for (i = 0; i < want; i++) {
        entry_from_input(in, &fc->v[fc->snap.n]);
        /* Names are unique among a handle's checks and heartbeats. */
        if (!find_entry(fc, fc->v[fc->snap.n].name))
            fc->snap.n++;
    }
}

static void query_from_input(struct fuzz_in *in, struct fuzz_case *fc)
{
    uint8_t b = fuzz_u8(in);
    size_t n = fuzz_u8(in) % (MAX_EXCLUDES + 1);
    size_t i;

    fc->q.ep = (enum health__endpoint)(b & 3);
    fc->q.details = (b & 4) != 0;
    fc->verbose = (b & 8) != 0;
    fc->snap.startup_complete = (b & 16) != 0;
    fc->snap.shutting_down = (b & 32) != 0;
    if ((b & 0xc0) == 0x40 && fc->snap.n) {
        fc->q.only = fc->v[fuzz_u8(in) % fc->snap.n].name;
    } else if ((b & 0xc0) == 0x80) {
        name_from_input(in, fc->only);
        fc->q.only = fc->only;
    }
    for (i = 0; i < n; i++) {
        if (fuzz_bool(in) && fc->snap.n)
            fc->exclude[i] = fc->v[fuzz_u8(in) % fc->snap.n].name;
        else {
            (void)fuzz_str(in, fc->exclude_buf[i], EXCLUDE_MAX + 1);
            fc->exclude[i] = fc->exclude_buf[i];
        }
    }
    fc->q.exclude = fc->exclude;
    fc->q.n_exclude = n;
}

/* The report strings, through the real option parser (no environment is
 * read: port, bind address and details are all given). */
static void config_from_input(struct fuzz_in *in, struct fuzz_case *fc)
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
    o.version = p[0];
    o.release_id = p[1];
    o.service_id = p[2];
    o.description = p[3];
    FUZZ_CHECK(health__config_init(&fc->cfg, &o) == 0);
}

/* The reference selection and aggregation, from design.md section 3. */
static bool ref_includes(const struct health__query *q,
                         const struct health__entry *e)
{
    size_t i;

    if (q->only)
        return strcmp(q->only, e->name) == 0 &&
               (q->ep != HEALTH__EP_STARTED ||
                (e->flags & HEALTH_CHECK_STARTUP)) &&
               (q->ep != HEALTH__EP_LIVE || (e->flags & HEALTH_CHECK_LIVE)) &&
               (q->ep != HEALTH__EP_READY || (e->flags & HEALTH_CHECK_READY));
    for (i = 0; i < q->n_exclude; i++)
        if (strcmp(q->exclude[i], e->name) == 0)
            return false;
    switch (q->ep) {
    case HEALTH__EP_LIVE:
        return e->flags & HEALTH_CHECK_LIVE;
    case HEALTH__EP_READY:
        return e->flags & HEALTH_CHECK_READY;
    case HEALTH__EP_STARTED:
        return (e->flags & HEALTH_CHECK_STARTUP) && !e->passed_once;
    default:
        return true;
    }
}

static health_status_t ref_entry_status(const struct health__query *q,
                                        const struct health__entry *e)
{
    if (e->s.state == HEALTH__PENDING)
        return q->ep == HEALTH__EP_LIVE ? HEALTH_WARN : HEALTH_FAIL;
    return (health_status_t)e->s.state;
}

static const char *ref_gate(const struct fuzz_case *fc)
{
    if (fc->q.only || fc->q.ep == HEALTH__EP_LIVE)
        return NULL;
    if (!fc->snap.startup_complete)
        return "starting";
    if (fc->snap.shutting_down && fc->q.ep != HEALTH__EP_STARTED)
        return "shutting down";
    return NULL;
}

static health_status_t ref_status(const struct fuzz_case *fc, size_t *n_inc)
{
    health_status_t worst = ref_gate(fc) ? HEALTH_FAIL : HEALTH_PASS;
    health_status_t st;
    size_t i;

    *n_inc = 0;
    for (i = 0; i < fc->snap.n; i++) {
        if (!ref_includes(&fc->q, &fc->v[i]))
            continue;
        (*n_inc)++;
        st = ref_entry_status(&fc->q, &fc->v[i]);
        if (st == HEALTH_FAIL && !fc->q.only &&
            (fc->v[i].flags & HEALTH_CHECK_NONCRITICAL))
            st = HEALTH_WARN;
        if (st > worst)
            worst = st;
    }
    return worst;
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
        const struct health__entry *c = &fc->v[*next];
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

/*
 * Allocation failures: the two bytes after the config pick the Nth
 * allocation of each report call to fail (0: none).  A call may then
 * return NULL, and must leak nothing (LeakSanitizer).  cJSON's global
 * hooks are fine here: the fuzzer is single-threaded.
 */
static unsigned long alloc_count;
static unsigned long alloc_fail_at;

static void *failing_malloc(size_t size)
{
    if (alloc_fail_at && ++alloc_count == alloc_fail_at)
        return NULL;
    return malloc(size);
}

/* With n 0, cJSON's default hooks: the allocation path of production,
 * realloc() included. */
static void fail_allocation(unsigned long n)
{
    cJSON_Hooks hooks = { failing_malloc, free };

    cJSON_InitHooks(n ? &hooks : NULL);
    alloc_count = 0;
    alloc_fail_at = n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_case fc;
    struct fuzz_in in = { data, size };
    health_status_t status = (health_status_t)-1;
    health_status_t st;
    const char *note = NULL;
    unsigned long fail_at;
    size_t n_inc;
    size_t len = 0;
    char *body;

    memset(&fc, 0, sizeof(fc));
    snapshot_from_input(&in, &fc);
    query_from_input(&in, &fc);
    config_from_input(&in, &fc);
    fail_at = (unsigned long)fuzz_u8(&in) << 8;
    fail_at |= fuzz_u8(&in);

    st = health__report_status(&fc.snap, &fc.q, &note);
    FUZZ_CHECK(st == ref_status(&fc, &n_inc));
    FUZZ_CHECK(note == ref_gate(&fc) ||
               (note && ref_gate(&fc) && strcmp(note, ref_gate(&fc)) == 0));
    /* http.c answers 404 for a per-check path that selects nothing. */
    FUZZ_CHECK(health__query_matches(&fc.snap, &fc.q) ==
               (!fc.q.only || n_inc > 0));

    fail_allocation(fail_at);
    body = health__report_json(&fc.snap, &fc.q, &fc.cfg, &len, &status);
    fail_allocation(0);
    dump("json", body, len);
    FUZZ_CHECK(status == st);
    if (body) {
        size_feature(0, len);
        check_json(&fc, body, len, status);
        health__report_free(body);
    } else {
        FUZZ_CHECK(fail_at != 0);
    }

    len = 0;
    status = (health_status_t)-1;
    fail_allocation(fail_at);
    body = health__report_text(&fc.snap, &fc.q, fc.verbose, &len, &status);
    fail_allocation(0);
    dump("text", body, len);
    if (body) {
        size_feature(1, len);
        FUZZ_CHECK(status == st);
        check_text(&fc, body, len, status);
        health__report_free(body);
    } else {
        FUZZ_CHECK(fail_at != 0);
    }

    health__config_fini(&fc.cfg);
    return 0;
}
