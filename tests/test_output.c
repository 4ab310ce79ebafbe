/* health_result_set_output(): the text is copied as it is (a '%' stays a
 * '%'), truncated to HEALTH_OUTPUT_MAX - 1 bytes, stored exactly as
 * health_result_setf(result, "%s", text) would store it, and served
 * through /health; NULL arguments change nothing. */
#include "test.h"

#define N_CASES 7

static char long_ascii[HEALTH_OUTPUT_MAX + 64];
static char split_utf8[HEALTH_OUTPUT_MAX + 8];
static char expect_ascii[HEALTH_OUTPUT_MAX];
static char expect_utf8[HEALTH_OUTPUT_MAX];

/* Each text, set both ways, and what /health must show (NULL: no
 * "output" at all). */
static struct {
    const char *text;
    const char *expect;
} cases[N_CASES] = {
    { "plain text", "plain text" },
    { "100% done %s %d %n %% %", "100% done %s %d %n %% %" },
    { long_ascii, expect_ascii },
    { split_utf8, expect_utf8 },
    { "tab\there\nnewline\x7f", "tab here newline " },
    { "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93", "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93" },
    { "", NULL },
};

static void make_texts(void)
{
    size_t i;

    /* 300 bytes that differ along their length: truncation keeps the
     * first 255. */
    for (i = 0; i < sizeof(long_ascii) - 1; i++)
        long_ascii[i] = (char)('a' + i % 26);
    long_ascii[sizeof(long_ascii) - 1] = '\0';
    memcpy(expect_ascii, long_ascii, HEALTH_OUTPUT_MAX - 1);
    expect_ascii[HEALTH_OUTPUT_MAX - 1] = '\0';
    /* A two-byte character cut in half by the limit: its lead byte is
     * left alone and becomes '?' when stored. */
    memset(split_utf8, 'x', HEALTH_OUTPUT_MAX - 2);
    memcpy(split_utf8 + HEALTH_OUTPUT_MAX - 2, "\xc3\xa9 tail", 8);
    memcpy(expect_utf8, split_utf8, HEALTH_OUTPUT_MAX - 2);
    expect_utf8[HEALTH_OUTPUT_MAX - 2] = '?';
    expect_utf8[HEALTH_OUTPUT_MAX - 1] = '\0';
}

static health_status_t with_set_output(health_result_t *r, void *ud)
{
    health_result_set_output(r, ud);
    return HEALTH_PASS;
}

static health_status_t with_setf(health_result_t *r, void *ud)
{
    health_result_setf(r, "%s", (const char *)ud);
    return HEALTH_PASS;
}

/* NULL text and NULL result are no-ops: the earlier text stays. */
static health_status_t null_args(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_set_output(r, "kept");
    health_result_set_output(r, NULL);
    health_result_set_output(NULL, "lost");
    return HEALTH_WARN;
}

/* The last setter wins, whichever it is. */
static health_status_t replaced(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_setf(r, "%d", 42);
    health_result_set_output(r, "replaced 100%");
    return HEALTH_PASS;
}

static health_status_t cleared(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_set_output(r, "gone");
    health_result_setf(r, "%s", "");
    health_result_set_output(r, "");
    return HEALTH_PASS;
}

static void add(health_t *h, const char *name, health_check_fn *run, void *ud)
{
    struct health_check c = { .name = name, .run = run };

    ASSERT_OK(health_register_check(h, &c, ud));
}

static const char *output_of(struct resp *r, const char *name)
{
    char path[128];

    snprintf(path, sizeof(path), "checks.%s.0.output", name);
    return json_str(r, path);
}

static bool all_reported(int port)
{
    struct resp r;
    bool ok;

    http_get(port, "/health", &r);
    ok = !strstr(r.body, "pending");
    resp_free(&r);
    return ok;
}

static void test_set_output(void)
{
    /* Details for everyone: the outputs are in /health. */
    struct health_options o = { .details = HEALTH_DETAILS_ALWAYS };
    health_t *h = test_server(&o);
    int port = health_port(h);
    char name[32];
    struct resp r;
    size_t i;

    make_texts();
    for (i = 0; i < N_CASES; i++) {
        snprintf(name, sizeof(name), "out-%zu", i);
        add(h, name, with_set_output, (void *)cases[i].text);
        snprintf(name, sizeof(name), "fmt-%zu", i);
        add(h, name, with_setf, (void *)cases[i].text);
    }
    add(h, "null-args", null_args, NULL);
    add(h, "replaced", replaced, NULL);
    add(h, "cleared", cleared, NULL);
    WAIT_UNTIL(all_reported(port), 5000);

    http_get(port, "/health", &r);
    ASSERT_EQ(r.status, 200);
    for (i = 0; i < N_CASES; i++) {
        char fmt_name[32];
        const char *out;

        snprintf(name, sizeof(name), "out-%zu", i);
        snprintf(fmt_name, sizeof(fmt_name), "fmt-%zu", i);
        out = output_of(&r, name);
        if (!cases[i].expect) {
            ASSERT_TRUE(out == NULL && output_of(&r, fmt_name) == NULL);
            continue;
        }
        ASSERT_STR_EQ(out, cases[i].expect);
        ASSERT_LE(strlen(out), HEALTH_OUTPUT_MAX - 1);
        ASSERT_STR_EQ(out, output_of(&r, fmt_name));
    }
    ASSERT_EQ(strlen(output_of(&r, "out-2")), HEALTH_OUTPUT_MAX - 1);
    ASSERT_STR_EQ(output_of(&r, "null-args"), "kept");
    ASSERT_STR_EQ(json_str(&r, "checks.null-args.0.status"), "warn");
    ASSERT_STR_EQ(output_of(&r, "replaced"), "replaced 100%");
    ASSERT_FALSE(json_has(&r, "checks.cleared.0.output"));
    resp_free(&r);
    health_destroy(h);
}

int main(void)
{
    test_set_output();
    printf("output: 1 passed, 0 failed\n");
    return 0;
}
