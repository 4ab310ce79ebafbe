/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config: health__config_init() / health__config_fini() with
 * HEALTH_PORT, HEALTH_BIND and HEALTH_DETAILS and the option fields taken
 * from the fuzz input.
 *
 * Checks: the result is 0, -EINVAL or -ENOMEM, and equals what a reference
 * reading of design.md section 6 expects; on 0 the port is 0..65535 and
 * the one expected, the bind address parses back to the same bytes, the
 * details mode is a real one, the report strings are the sanitised copies
 * (well-formed UTF-8, no control characters, at most 255 bytes) and the
 * scalar defaults are applied; after fini the struct is zero, and a second
 * fini is harmless.  Leaks are LeakSanitizer's to find.
 *
 * The variables are set with putenv() on static buffers rather than with
 * setenv(): glibc's setenv() keeps every distinct value it was ever given,
 * which would grow without bound over millions of runs.
 */
#define _XOPEN_SOURCE 700

#include "health-internal.h"
#include "fuzz-util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENV_VALUE_MAX 64
#define ADDR_MAX 64
#define INFO_READ_MAX 300 /* past HEALTH__INFO_MAX, to reach -EINVAL */

struct env_var {
    const char *name;
    char buf[32 + ENV_VALUE_MAX + 1];
    const char *value; /* NULL: unset */
};

static struct env_var env_vars[] = {
    { .name = "HEALTH_PORT" },
    { .name = "HEALTH_BIND" },
    { .name = "HEALTH_DETAILS" },
};

enum {
    ENV_PORT,
    ENV_BIND,
    ENV_DETAILS
};

/* Unsets the variable, or sets it to "" or to a string from the input. */
static void env_from_input(struct env_var *v, struct fuzz_in *in)
{
    char value[ENV_VALUE_MAX + 1];
    size_t n = strlen(v->name);

    v->value = NULL;
    (void)unsetenv(v->name);
    switch (fuzz_u8(in) % 3) {
    case 0:
        return;
    case 1:
        value[0] = '\0';
        break;
    default:
        (void)fuzz_str(in, value, sizeof(value));
        break;
    }
    memcpy(v->buf, v->name, n);
    v->buf[n] = '=';
    memcpy(v->buf + n + 1, value, strlen(value) + 1);
    v->value = v->buf + n + 1;
    FUZZ_CHECK(putenv(v->buf) == 0);
}

/* NULL, or a string from the input of up to @cap - 1 bytes: a presence
 * byte, a length byte (0xff: 256 + another byte % 45, to go past
 * HEALTH__INFO_MAX), then the bytes. */
static const char *opt_string(struct fuzz_in *in, char *buf, size_t cap)
{
    size_t want;

    if (!fuzz_bool(in))
        return NULL;
    want = fuzz_u8(in);
    if (want == 0xff)
        want = 256u + fuzz_u8(in) % 45u;
    (void)fuzz_str_n(in, buf, cap, want);
    return buf;
}

static int pick_port(struct fuzz_in *in)
{
    uint8_t mode = fuzz_u8(in);
    uint64_t raw = fuzz_u64(in);

    switch (mode % 4) {
    case 0:
        return 0;
    case 1:
        return HEALTH_PORT_EPHEMERAL;
    case 2:
        return (int)(raw & 0xffff);
    default:
        return (int)(int32_t)(uint32_t)raw;
    }
}

/* The reference for ports: the option, else $HEALTH_PORT as 1..5 decimal
 * digits up to 65535, else 8080.  Returns 0 or -EINVAL. */
static int expect_port(int opt, const char *env, int *port)
{
    size_t n;

    if (opt == HEALTH_PORT_EPHEMERAL) {
        *port = 0;
        return 0;
    }
    if (opt < 0 || opt > 65535)
        return -EINVAL;
    if (opt > 0 || !env || !*env) {
        *port = opt > 0 ? opt : 8080;
        return 0;
    }
    n = strlen(env);
    if (n > 5 || strspn(env, "0123456789") != n ||
        strtol(env, NULL, 10) > 65535)
        return -EINVAL;
    *port = (int)strtol(env, NULL, 10);
    return 0;
}

/* Parses an IPv4 literal or a (bracketed) IPv6 literal into @addr (16
 * bytes); returns the family or 0. */
static int parse_literal(const char *s, unsigned char *addr)
{
    char buf[ADDR_MAX + 1];
    size_t n = strlen(s);

    if (inet_pton(AF_INET, s, addr) == 1)
        return AF_INET;
    if (n >= 2 && n <= ADDR_MAX && s[0] == '[' && s[n - 1] == ']') {
        memcpy(buf, s + 1, n - 2);
        buf[n - 2] = '\0';
        s = buf;
    }
    return inet_pton(AF_INET6, s, addr) == 1 ? AF_INET6 : 0;
}

/* The details words of design.md section 6; unset or empty is "local". */
static int expect_details(enum health_details opt, const char *env,
                          enum health_details *d)
{
    static const struct {
        const char *word;
        enum health_details d;
    } words[] = {
        { "", HEALTH_DETAILS_LOCAL },
        { "local", HEALTH_DETAILS_LOCAL },
        { "always", HEALTH_DETAILS_ALWAYS },
        { "never", HEALTH_DETAILS_NEVER },
    };
    size_t i;

    for (i = 1; i < sizeof(words) / sizeof(words[0]); i++) {
        if (opt == words[i].d) {
            *d = opt;
            return 0;
        }
    }
    if (opt != HEALTH_DETAILS_DEFAULT)
        return -EINVAL;
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcmp(env ? env : "", words[i].word) == 0) {
            *d = words[i].d;
            return 0;
        }
    }
    return -EINVAL;
}

static bool info_ok(const char *s)
{
    return !s || strlen(s) <= HEALTH__INFO_MAX;
}

/* A report string in the config: NULL when not given, else the sanitised
 * copy of the option. */
static void check_info(const char *got, const char *opt)
{
    char want[INFO_READ_MAX + 1];
    size_t n;

    if (!opt) {
        FUZZ_CHECK(got == NULL);
        return;
    }
    FUZZ_CHECK(got != NULL && got != opt);
    n = strlen(opt);
    FUZZ_CHECK(n <= HEALTH__INFO_MAX && strlen(got) == n);
    memcpy(want, opt, n + 1);
    health__sanitize_text(want);
    FUZZ_CHECK(memcmp(got, want, n + 1) == 0);
    FUZZ_CHECK(fuzz_text_clean(got, n, '\0'));
}

static void check_bind(const struct health__config *cfg, const char *s)
{
    const struct sockaddr_in *in4 = (const void *)&cfg->bind_addr;
    const struct sockaddr_in6 *in6 = (const void *)&cfg->bind_addr;
    unsigned char addr[16];
    int family;

    if (!s || (s == env_vars[ENV_BIND].value && !*s)) {
        FUZZ_CHECK(cfg->bind_any);
        return;
    }
    FUZZ_CHECK(!cfg->bind_any);
    family = parse_literal(s, addr);
    FUZZ_CHECK(cfg->bind_addr.ss_family == family);
    if (family == AF_INET) {
        FUZZ_CHECK(cfg->bind_addr_len == sizeof(*in4));
        FUZZ_CHECK(memcmp(&in4->sin_addr, addr, 4) == 0);
        FUZZ_CHECK(in4->sin_port == 0);
    } else {
        FUZZ_CHECK(cfg->bind_addr_len == sizeof(*in6));
        FUZZ_CHECK(memcmp(&in6->sin6_addr, addr, 16) == 0);
        FUZZ_CHECK(in6->sin6_port == 0);
    }
}

static unsigned or_default(unsigned v, unsigned def)
{
    return v ? v : def;
}

static void check_scalars(const struct health__config *cfg,
                          const struct health_options *o)
{
    FUZZ_CHECK(cfg->flags == o->flags);
    FUZZ_CHECK(cfg->timeout_ms ==
               or_default(o->timeout_ms, HEALTH__DEFAULT_TIMEOUT_MS));
    FUZZ_CHECK(cfg->interval_ms ==
               or_default(o->interval_ms, HEALTH__DEFAULT_INTERVAL_MS));
    FUZZ_CHECK(cfg->max_connections ==
               or_default(o->max_connections, HEALTH__DEFAULT_MAX_CONNECTIONS));
    FUZZ_CHECK(
        cfg->max_connections_per_ip ==
        or_default(o->max_connections_per_ip, HEALTH__DEFAULT_MAX_PER_IP));
    FUZZ_CHECK(cfg->idle_timeout_s ==
               or_default(o->idle_timeout_s, HEALTH__DEFAULT_IDLE_TIMEOUT_S));
    FUZZ_CHECK(cfg->connection_memory ==
               (o->connection_memory ? o->connection_memory
                                     : HEALTH__DEFAULT_CONNECTION_MEMORY));
}

/* The option flags health.h defines, and its rule that SYSTEMD and
 * NO_SYSTEMD exclude each other. */
static bool flags_ok(unsigned f)
{
    const unsigned known = HEALTH_OPT_MANUAL_STARTUP | HEALTH_OPT_NO_METRICS |
                           HEALTH_OPT_SYSTEMD | HEALTH_OPT_NO_SYSTEMD;

    return !(f & ~known) &&
           (f & (HEALTH_OPT_SYSTEMD | HEALTH_OPT_NO_SYSTEMD)) !=
               (HEALTH_OPT_SYSTEMD | HEALTH_OPT_NO_SYSTEMD);
}

/* The bounds health.h documents for each limit; 0 is the default. */
static bool limits_ok(const struct health_options *o)
{
    static const unsigned day_ms = 86400000u;

    return o->timeout_ms <= day_ms && o->interval_ms <= day_ms &&
           o->max_connections <= 65536u &&
           o->max_connections_per_ip <= 65536u && o->idle_timeout_s <= 3600u &&
           (!o->connection_memory || (o->connection_memory >= 4096u &&
                                      o->connection_memory <= 16777216u));
}

/* The result design.md section 6 asks for, in health__config_init's order
 * of checks. */
static int expect_result(const struct health_options *o, int *port,
                         enum health_details *d)
{
    const char *bind = o->bind_address;
    unsigned char addr[16];
    int r;

    if (!flags_ok(o->flags) || !limits_ok(o))
        return -EINVAL;
    r = expect_port(o->port, env_vars[ENV_PORT].value, port);
    if (r < 0)
        return r;
    if (!bind && env_vars[ENV_BIND].value && *env_vars[ENV_BIND].value)
        bind = env_vars[ENV_BIND].value;
    if (bind && !parse_literal(bind, addr))
        return -EINVAL;
    r = expect_details(o->details, env_vars[ENV_DETAILS].value, d);
    if (r < 0)
        return r;
    if (!info_ok(o->version) || !info_ok(o->release_id) ||
        !info_ok(o->service_id) || !info_ok(o->description))
        return -EINVAL;
    return 0;
}

static void options_from_input(struct health_options *o, struct fuzz_in *in,
                               char (*strs)[INFO_READ_MAX + 1])
{
    uint8_t b;
    size_t i;
    const char **info[] = { &o->version, &o->release_id, &o->service_id,
                            &o->description };

    o->port = pick_port(in);
    o->bind_address = opt_string(in, strs[4], ADDR_MAX + 1);
    b = fuzz_u8(in);
    o->details = (enum health_details)(b < 0xf0 ? b % 4 : (int8_t)b);
    b = fuzz_u8(in);
    o->flags = b < 0xf0 ? b & 15u : (unsigned)fuzz_u64(in);
    b = fuzz_u8(in);
    o->timeout_ms = b & 1 ? (unsigned)fuzz_u64(in) : 0;
    o->interval_ms = b & 2 ? (unsigned)fuzz_u64(in) : 0;
    o->max_connections = b & 4 ? (unsigned)fuzz_u64(in) : 0;
    o->max_connections_per_ip = b & 8 ? (unsigned)fuzz_u64(in) : 0;
    o->idle_timeout_s = b & 16 ? (unsigned)fuzz_u64(in) : 0;
    o->connection_memory = b & 32 ? (size_t)fuzz_u64(in) : 0;
    for (i = 0; i < 4; i++)
        *info[i] = opt_string(in, strs[i], INFO_READ_MAX + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct health__config zero;
    struct fuzz_in in = { data, size };
    struct health_options o;
    struct health__config cfg;
    char strs[5][INFO_READ_MAX + 1];
    enum health_details want_details = HEALTH_DETAILS_DEFAULT;
    int want_port = -1;
    int want;
    int r;
    size_t i;

    for (i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
        env_from_input(&env_vars[i], &in);
    memset(&o, 0, sizeof(o));
    options_from_input(&o, &in, strs);

    want = expect_result(&o, &want_port, &want_details);
    r = health__config_init(&cfg, &o);
    FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
    if (r != -ENOMEM)
        FUZZ_CHECK(r == want);
    if (r == 0) {
        FUZZ_CHECK(cfg.port >= 0 && cfg.port <= 65535);
        FUZZ_CHECK(cfg.port == want_port);
        FUZZ_CHECK(cfg.details == want_details);
        check_bind(&cfg,
                   o.bind_address ? o.bind_address : env_vars[ENV_BIND].value);
        check_info(cfg.version, o.version);
        check_info(cfg.release_id, o.release_id);
        check_info(cfg.service_id, o.service_id);
        check_info(cfg.description, o.description);
        check_scalars(&cfg, &o);
    } else {
        /* A failed init leaves nothing to free. */
        FUZZ_CHECK(memcmp(&cfg, &zero, sizeof(cfg)) == 0);
    }
    health__config_fini(&cfg);
    FUZZ_CHECK(memcmp(&cfg, &zero, sizeof(cfg)) == 0);
    health__config_fini(&cfg);
    return 0;
}
