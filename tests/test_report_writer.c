/*
 * The hand-written JSON report writer against the cJSON rendering it
 * replaced: for every snapshot, query and configuration below, the bytes
 * and the status of health__report_json_buf() and health__report_json()
 * must be those the reference (the former cJSON-based renderer, kept
 * in report-ref.c) prints.  Snapshots: edge cases (no checks, every observed
 * value cJSON prints in its own way, every byte in names, outputs, units and
 * the service's strings, every trim level), then random ones.
 *
 * Once its buffer is big enough, a render must not allocate at all: this
 * executable defines malloc, calloc and realloc (as tests/hostile does),
 * so every allocation of the process, libc's own included, is counted.
 * The same definitions make the writer's growth fail, to check -ENOMEM
 * and that the buffer stays usable.
 *
 * Usage: test_report_writer [seed [random-cases]]
 */
#include "health-internal.h"
#include "report-ref.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                           \
 do {                                                                         \
  if (!(cond)) {                                                              \
   fprintf(stderr, "%s:%d: %s failed (case %s)\n", __FILE__, __LINE__, #cond, \
           case_name);                                                        \
   abort();                                                                   \
  }                                                                           \
 } while (0)

static char case_name[128];

/* ---- Counting (and failing) allocator ---------------------------------- */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__interceptor_malloc(size_t n) __attribute__((weak));
extern void *__interceptor_calloc(size_t n, size_t size) __attribute__((weak));
extern void *__interceptor_realloc(void *p, size_t n) __attribute__((weak));

/* Called before a sanitizer's runtime is ready: not instrumented. */
#if defined(__has_attribute)
# if __has_attribute(disable_sanitizer_instrumentation)
#  define RAW __attribute__((disable_sanitizer_instrumentation))
# endif
#endif
#ifndef RAW
# define RAW __attribute__((no_sanitize_address, no_sanitize_thread))
#endif

static atomic_long allocs; /* every allocation while counting */
static atomic_bool counting;
static atomic_bool failing; /* every allocation fails */

static RAW bool alloc_fails(void)
{
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return atomic_load_explicit(&failing, memory_order_relaxed);
}

RAW void *malloc(size_t n)
{
    if (alloc_fails())
        return NULL;
    return __interceptor_malloc ? __interceptor_malloc(n) : __libc_malloc(n);
}

RAW void *calloc(size_t n, size_t size)
{
    if (alloc_fails())
        return NULL;
    return __interceptor_calloc ? __interceptor_calloc(n, size)
                                : __libc_calloc(n, size);
}

RAW void *realloc(void *p, size_t n)
{
    if (alloc_fails())
        return NULL;
    return __interceptor_realloc ? __interceptor_realloc(p, n)
                                 : __libc_realloc(p, n);
}

/* ---- Inputs ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static const double special_values[] = {
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.1,
    0.1 + 0.2,
    1e300,
    -1e300,
    3e9,
    -3e9,
    INT_MAX,
    INT_MIN,
    INT_MAX + 0.5,
    INT_MIN - 0.5,
    INT_MAX - 0.5,
    INT_MIN + 0.5,
    (double)INT_MAX + 1,
    (double)INT_MIN - 1,
    NAN,
    -NAN,
    INFINITY,
    -INFINITY,
    1.0 / 3,
    -2.0 / 3,
    1e15,
    1e16,
    1e17,
    123456789012345678.0,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    1e-7,
    0.5,
    100.25,
    42.0,
    1234.5678,
};
#define N_SPECIAL (sizeof(special_values) / sizeof(special_values[0]))

static double random_double(void)
{
    uint64_t bits;
    double d;

    switch (below(5)) {
    case 0:
        return special_values[below(N_SPECIAL)];
    case 1:
        bits = rnd();
        memcpy(&d, &bits, sizeof(d));
        return d;
    case 2:
        return (double)(int64_t)rnd() / (double)(1 + below(1000000));
    case 3:
        return (double)(int32_t)rnd();
    default:
        return (double)below(100000) / 1000.0;
    }
}

/* Random bytes 1..255 (controls, quotes, backslashes, invalid UTF-8),
 * sanitized as stored text is, or left raw to exercise every escape. */
static void random_text(char *s, size_t size, bool sanitize)
{
    static const char specials[] = "\"\\\b\f\n\r\t\x01\x1f\x7f/";
    size_t n = below((unsigned)size);
    size_t i;

    for (i = 0; i < n; i++) {
        switch (below(4)) {
        case 0:
            s[i] = specials[below(sizeof(specials) - 1)];
            break;
        case 1:
            s[i] = (char)(1 + below(255));
            break;
        default:
            s[i] = (char)(' ' + below(95));
        }
    }
    s[n] = '\0';
    if (sanitize)
        health__sanitize_text(s);
}

static int64_t random_time(void)
{
    switch (below(4)) {
    case 0:
        return 0;
    case 1:
        return (int64_t)(rnd() >> 20) - ((int64_t)1 << 42);
    default:
        return 1700000000000 + (int64_t)below(1000000000);
    }
}

static void random_entry(struct health__entry *e, size_t i)
{
    static const int states[] = { HEALTH__PENDING, HEALTH_PASS, HEALTH_WARN,
                                  HEALTH_FAIL };
    struct health__stored *s = &e->s;

    memset(e, 0, sizeof(*e));
    if (below(4))
        (void)snprintf(e->name, sizeof(e->name), "check-%zu", i);
    else
        random_text(e->name, sizeof(e->name), below(2));
    if (!e->name[0])
        (void)snprintf(e->name, sizeof(e->name), "c%zu", i);
    e->flags = below(16);
    e->heartbeat = below(5) == 0;
    e->passed_once = below(2);
    s->state = states[below(4)];
    s->raw = s->state == HEALTH__PENDING ? HEALTH__PENDING : (int)below(3);
    random_text(s->r.output, sizeof(s->r.output), below(4) != 0);
    random_text(s->r.unit, sizeof(s->r.unit), below(4) != 0);
    s->r.has_observed = below(2);
    s->r.observed = random_double();
    s->time_ms = random_time();
    s->duration_us = below(3) ? (int64_t)below(10000000) : (int64_t)rnd();
    s->since_ms = random_time();
    s->last_pass_ms = random_time();
    s->last_fail_ms = random_time();
    s->fails_in_row = below(2) ? below(5) : (unsigned)rnd();
    e->stuck_s = below(3) ? -1 : below(9) ? (int64_t)below(100) : INT64_MAX;
}

struct input {
    struct health__snapshot snap;
    struct health__query q;
    struct health__config cfg;
    const char *exclude[8];
    char info[4][HEALTH__INFO_MAX + 1];
    char only[HEALTH_NAME_MAX + 8];
};

static void random_query(struct input *in)
{
    size_t n = in->snap.n ? below(8) : 0;
    size_t i;

    in->q.ep = (enum health__endpoint)below(4);
    in->q.details = below(3) != 0;
    in->q.only = NULL;
    in->q.exclude = in->exclude;
    in->q.n_exclude = 0;
    if (below(4) == 0) {
        if (in->snap.n && below(4))
            (void)snprintf(in->only, sizeof(in->only), "%s",
                           in->snap.v[below((unsigned)in->snap.n)].name);
        else
            (void)snprintf(in->only, sizeof(in->only), "no-such-check");
        in->q.only = in->only;
    }
    for (i = 0; i < n; i++)
        in->exclude[in->q.n_exclude++] =
            in->snap.v[below((unsigned)in->snap.n)].name;
}

static void random_config(struct input *in)
{
    char **fields[4] = { &in->cfg.version, &in->cfg.release_id,
                         &in->cfg.service_id, &in->cfg.description };
    size_t i;

    for (i = 0; i < 4; i++) {
        random_text(in->info[i], sizeof(in->info[i]), below(2));
        *fields[i] = below(2) ? in->info[i] : NULL;
    }
}

static void random_input(struct input *in, size_t n)
{
    size_t i;

    memset(in, 0, sizeof(*in));
    in->snap.v = calloc(n ? n : 1, sizeof(*in->snap.v));
    if (!in->snap.v)
        abort();
    in->snap.n = in->snap.cap = n;
    for (i = 0; i < n; i++)
        random_entry(&in->snap.v[i], i);
    in->snap.startup_complete = below(4) != 0;
    in->snap.shutting_down = below(4) == 0;
    random_config(in);
    random_query(in);
}

/* ---- Comparison -------------------------------------------------------- */

static struct health__buf shared; /* reused across cases, as a server would */
static unsigned trims_seen[TRIM_CHECKS + 1];
static unsigned compared;

static void show_difference(const char *want, const char *got)
{
    size_t i = 0;

    while (want[i] && want[i] == got[i])
        i++;
    fprintf(stderr,
            "case %s: first difference at byte %zu\n  want: %.120s\n"
            "  got:  %.120s\n",
            case_name, i, want + (i > 40 ? i - 40 : 0),
            got + (i > 40 ? i - 40 : 0));
}

static void expect_same(const char *want, const char *got, size_t got_len)
{
    if (strlen(want) != got_len || memcmp(want, got, got_len) != 0) {
        show_difference(want, got);
        abort();
    }
}

/* Renders again into the same, warm buffer: no allocation at all, the
 * same block, the same bytes. */
static void expect_no_allocation(const struct input *in, const char *want)
{
    char *p = shared.p;
    size_t cap = shared.cap;
    health_status_t st;

    atomic_store(&allocs, 0);
    atomic_store(&counting, true);
    CHECK(health__report_json_buf(&in->snap, &in->q, &in->cfg, &shared, &st) ==
          0);
    atomic_store(&counting, false);
    CHECK(atomic_load(&allocs) == 0);
    CHECK(shared.p == p && shared.cap == cap);
    expect_same(want, shared.p, shared.len);
}

static void compare(const struct input *in)
{
    health_status_t want_st;
    health_status_t st;
    enum trim trim;
    char *want = ref_report_json(&in->snap, &in->q, &in->cfg, &want_st, &trim);
    char *body;
    size_t len;

    trims_seen[trim]++;
    CHECK(health__report_json_buf(&in->snap, &in->q, &in->cfg, &shared, &st) ==
          0);
    CHECK(st == want_st);
    CHECK(shared.p[shared.len] == '\0');
    expect_same(want, shared.p, shared.len);
    expect_no_allocation(in, want);

    body = health__report_json(&in->snap, &in->q, &in->cfg, &len, &st);
    CHECK(body && st == want_st);
    expect_same(want, body, len);
    health__report_free(body);
    cJSON_free(want);
    compared++;
}

/* Every endpoint, with and without details, and a per-check path. */
static void compare_queries(struct input *in)
{
    enum health__endpoint ep;
    int details;

    for (ep = HEALTH__EP_LIVE; ep <= HEALTH__EP_HEALTH; ep++)
        for (details = 0; details < 2; details++) {
            in->q.ep = ep;
            in->q.details = details;
            in->q.only = NULL;
            compare(in);
            if (in->snap.n) {
                in->q.only = in->snap.v[0].name;
                compare(in);
            }
        }
    in->q.only = NULL;
}

/* ---- Cases ------------------------------------------------------------- */

/* Fresh entries; the query no longer names the old ones. */
static void fill_entries(struct input *in, size_t n)
{
    in->q.only = NULL;
    in->q.n_exclude = 0;
    free(in->snap.v);
    in->snap.v = calloc(n ? n : 1, sizeof(*in->snap.v));
    if (!in->snap.v)
        abort();
    in->snap.n = in->snap.cap = n;
}

static void set_entry(struct health__entry *e, size_t i, int state,
                      size_t output_len)
{
    memset(e, 0, sizeof(*e));
    (void)snprintf(e->name, sizeof(e->name), "check-%04zu", i);
    e->flags = HEALTH_CHECK_READY | HEALTH_CHECK_LIVE;
    e->s.state = state;
    e->s.raw = state;
    memset(e->s.r.output, 'o', output_len);
    e->s.time_ms = 1700000000123;
    e->s.duration_us = 1234;
    e->s.since_ms = 1700000000000;
    e->stuck_s = -1;
}

static void case_no_checks(struct input *in)
{
    int gates;

    fill_entries(in, 0);
    for (gates = 0; gates < 4; gates++) {
        snprintf(case_name, sizeof(case_name), "no checks, gates %d", gates);
        in->snap.startup_complete = gates & 1;
        in->snap.shutting_down = (gates & 2) != 0;
        compare_queries(in);
    }
    in->snap.startup_complete = true;
    in->snap.shutting_down = false;
}

static void case_observed_values(struct input *in)
{
    size_t i;

    fill_entries(in, 1);
    set_entry(&in->snap.v[0], 0, HEALTH_PASS, 3);
    in->snap.v[0].s.r.has_observed = true;
    (void)snprintf(in->snap.v[0].s.r.unit, HEALTH_UNIT_MAX, "ms");
    for (i = 0; i < N_SPECIAL; i++) {
        snprintf(case_name, sizeof(case_name), "observed %.17g",
                 special_values[i]);
        in->snap.v[0].s.r.observed = special_values[i];
        in->snap.v[0].s.duration_us = (int64_t)(i * 777777);
        in->snap.v[0].s.fails_in_row = (unsigned)i * 1000003u;
        compare_queries(in);
    }
}

/* Each byte 1..255 alone, and in runs, in every string of the body; the
 * same sanitized, as the library stores outputs and names. */
static void case_every_byte(struct input *in)
{
    unsigned c;
    int sanitize;

    fill_entries(in, 2);
    for (sanitize = 0; sanitize < 2; sanitize++)
        for (c = 1; c < 256; c++) {
            struct health__entry *e = &in->snap.v[0];
            snprintf(case_name, sizeof(case_name), "byte %u sanitize %d", c,
                     sanitize);
            set_entry(e, 0, HEALTH_FAIL, 0);
            set_entry(&in->snap.v[1], 1, HEALTH_PASS, 0);
            memset(e->name, (int)c, 3);
            memset(e->s.r.output, (int)c, 1 + c % (HEALTH_OUTPUT_MAX - 1));
            memset(e->s.r.unit, (int)c, 1 + c % (HEALTH_UNIT_MAX - 1));
            memset(in->info[0], (int)c, 5);
            in->info[0][5] = '\0';
            e->s.r.has_observed = true;
            e->s.r.observed = c / 7.0;
            if (sanitize) {
                health__sanitize_text(e->name);
                health__sanitize_text(e->s.r.output);
                health__sanitize_text(e->s.r.unit);
                health__sanitize_text(in->info[0]);
            }
            in->cfg.version = in->info[0];
            in->cfg.release_id = in->info[0];
            in->cfg.service_id = NULL;
            in->cfg.description = in->info[0];
            compare_queries(in);
        }
    memset(&in->cfg, 0, sizeof(in->cfg));
}

/* Pending checks, timed-out runs still in flight, heartbeats, damping
 * (a last run whose status differs), history times. */
static void case_states(struct input *in)
{
    static const int64_t stuck[] = { -1, 0, 1, 59, INT64_MAX };
    static const int states[] = { HEALTH__PENDING, HEALTH_PASS, HEALTH_WARN,
                                  HEALTH_FAIL };
    size_t i;
    size_t k;

    fill_entries(in, 4 * 5 * 2);
    for (i = 0; i < in->snap.n; i++) {
        struct health__entry *e = &in->snap.v[i];
        set_entry(e, i, states[i % 4], i % 3 ? 0 : 40);
        e->stuck_s = stuck[(i / 4) % 5];
        e->heartbeat = i >= 20;
        e->s.raw = e->s.state == HEALTH__PENDING ? HEALTH__PENDING
                                                 : (int)((i / 3) % 3);
        e->s.last_pass_ms = i % 2 ? 1600000000999 : 0;
        e->s.last_fail_ms = i % 3 ? -1234567 : 0;
        e->s.fails_in_row = (unsigned)i;
        e->flags = (unsigned)i % 16;
        e->passed_once = i % 5 == 0;
    }
    for (k = 0; k < 4; k++) {
        snprintf(case_name, sizeof(case_name), "states, gates %zu", k);
        in->snap.startup_complete = k & 1;
        in->snap.shutting_down = (k & 2) != 0;
        in->exclude[0] = in->snap.v[3].name;
        in->exclude[1] = in->snap.v[7].name;
        in->q.n_exclude = k % 3;
        in->q.exclude = in->exclude;
        compare_queries(in);
    }
    in->q.n_exclude = 0;
    in->snap.startup_complete = true;
    in->snap.shutting_down = false;
}

/* Bodies past the limit, each cut at its own trim level: passing outputs,
 * passing checks, all outputs, and every check (1000 failing ones). */
static void case_trims(struct input *in)
{
    static const struct {
        size_t n;
        size_t failing;
        size_t output;
        enum trim expect;
    } t[] = {
        { 5, 0, 10, TRIM_NONE },
        { 60, 2, 200, TRIM_PASSING_OUTPUTS },
        { 300, 5, 0, TRIM_PASSING_CHECKS },
        { 60, 50, 200, TRIM_ALL_OUTPUTS },
        { 1000, 1000, 255, TRIM_CHECKS },
        { 1000, 0, 0, TRIM_PASSING_CHECKS },
    };
    health_status_t st;
    enum trim trim;
    size_t k;
    size_t i;
    char *want;

    for (k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
        snprintf(case_name, sizeof(case_name), "trim %zu", k);
        fill_entries(in, t[k].n);
        for (i = 0; i < t[k].n; i++)
            set_entry(&in->snap.v[i], i,
                      i < t[k].failing ? HEALTH_FAIL : HEALTH_PASS,
                      t[k].output);
        in->q.ep = HEALTH__EP_HEALTH;
        in->q.details = true;
        in->q.only = NULL;
        want = ref_report_json(&in->snap, &in->q, &in->cfg, &st, &trim);
        CHECK(trim == t[k].expect);
        cJSON_free(want);
        compare(in);
        compare_queries(in);
    }
}

static void case_random(struct input *in, unsigned n_cases)
{
    unsigned k;

    for (k = 0; k < n_cases; k++) {
        size_t n = below(10) ? below(40) : below(1200);

        snprintf(case_name, sizeof(case_name), "random %u", k);
        free(in->snap.v);
        random_input(in, n);
        compare(in);
    }
}

/* A growth that fails: -ENOMEM, and the buffer as it was, still usable. */
static void case_out_of_memory(struct input *in)
{
    struct health__buf b = { 0 };
    health_status_t st;
    size_t len;
    char *p;
    size_t cap;

    snprintf(case_name, sizeof(case_name), "out of memory");
    fill_entries(in, 1);
    set_entry(&in->snap.v[0], 0, HEALTH_PASS, 10);
    atomic_store(&failing, true);
    CHECK(health__report_json_buf(&in->snap, &in->q, &in->cfg, &b, &st) ==
          -ENOMEM);
    CHECK(!b.p && !b.cap && !b.len);
    CHECK(!health__report_json(&in->snap, &in->q, &in->cfg, &len, &st));
    atomic_store(&failing, false);

    CHECK(health__report_json_buf(&in->snap, &in->q, &in->cfg, &b, &st) == 0);
    p = b.p;
    cap = b.cap;
    fill_entries(in, 300);
    for (len = 0; len < 300; len++)
        set_entry(&in->snap.v[len], len, HEALTH_FAIL, 200);
    atomic_store(&failing, true);
    CHECK(health__report_json_buf(&in->snap, &in->q, &in->cfg, &b, &st) ==
          -ENOMEM);
    atomic_store(&failing, false);
    CHECK(b.p == p && b.cap == cap && b.len == 0 && b.p[0] == '\0');
    compare(in);
    health__buf_fini(&b);
    CHECK(!b.p && !b.cap && !b.len);
}

/* Numbers in a locale whose decimal point is not '.', when one is
 * installed: cJSON printed '.' all the same. */
static void case_locale(struct input *in)
{
    static const char *const locales[] = { "de_DE.UTF-8", "de_DE.utf8",
                                           "fr_FR.UTF-8", "nl_NL.UTF-8" };
    size_t i;

    for (i = 0; i < sizeof(locales) / sizeof(locales[0]); i++)
        if (setlocale(LC_NUMERIC, locales[i]))
            break;
    if (i == sizeof(locales) / sizeof(locales[0])) {
        printf("report_writer: no locale with a decimal comma installed, "
               "skipping that case\n");
        return;
    }
    case_observed_values(in);
    case_random(in, 200);
    setlocale(LC_NUMERIC, "C");
}

int main(int argc, char **argv)
{
    struct input in;
    unsigned n_random = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 3000;
    size_t k;

    rng_state = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x9e3779b97f4a7c15u;
    if (!rng_state)
        rng_state = 1;
    printf("report_writer: seed %" PRIu64 "\n", rng_state);
    memset(&in, 0, sizeof(in));
    in.snap.startup_complete = true;

    case_no_checks(&in);
    case_observed_values(&in);
    case_every_byte(&in);
    case_states(&in);
    case_trims(&in);
    case_out_of_memory(&in);
    case_random(&in, n_random);
    case_locale(&in);

    for (k = 0; k <= TRIM_CHECKS; k++) {
        printf("report_writer: trim level %zu: %u bodies\n", k, trims_seen[k]);
        CHECK(trims_seen[k] > 0);
    }
    printf("report_writer: %u bodies byte-identical to cJSON's, none "
           "allocating once warm\n",
           compared);
    free(in.snap.v);
    health__buf_fini(&shared);
    return 0;
}
