/* SPDX-License-Identifier: MIT */
/* Configuration: options struct fields first, then HEALTH_PORT, HEALTH_BIND
 * and HEALTH_DETAILS, then defaults.  Bad values are -EINVAL, never a
 * silent default. */
#include "health-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define KNOWN_OPTION_FLAGS                                                 \
 (HEALTH_OPT_MANUAL_STARTUP | HEALTH_OPT_NO_METRICS | HEALTH_OPT_SYSTEMD | \
  HEALTH_OPT_NO_SYSTEMD)

/* Parses a decimal port 0..65535 with nothing around it. */
static int parse_port(const char *s, int *port)
{
    long v = 0;

    if (!*s || strlen(s) > 5)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (*s - '0');
    }
    if (v > 65535)
        return -EINVAL;
    *port = (int)v;
    return 0;
}

static int resolve_port(struct health__config *cfg, int opt)
{
    const char *env;

    if (opt == HEALTH_PORT_EPHEMERAL) {
        cfg->port = 0;
        return 0;
    }
    if (opt < 0 || opt > 65535)
        return -EINVAL;
    if (opt > 0) {
        cfg->port = opt;
        return 0;
    }
    env = getenv("HEALTH_PORT");
    if (!env || !*env) {
        cfg->port = HEALTH__DEFAULT_PORT;
        return 0;
    }
    return parse_port(env, &cfg->port);
}

/* An IPv4 or IPv6 literal (IPv6 optionally in brackets). */
static int parse_address(struct health__config *cfg, const char *s)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)&cfg->bind_addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&cfg->bind_addr;
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(s);

    memset(&cfg->bind_addr, 0, sizeof(cfg->bind_addr));
    if (inet_pton(AF_INET, s, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        cfg->bind_addr_len = sizeof(*in4);
        return 0;
    }
    if (n >= 2 && n < sizeof(buf) && s[0] == '[' && s[n - 1] == ']') {
        memcpy(buf, s + 1, n - 2);
        buf[n - 2] = '\0';
        s = buf;
    }
    if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        cfg->bind_addr_len = sizeof(*in6);
        return 0;
    }
    return -EINVAL;
}

static int resolve_bind(struct health__config *cfg, const char *opt)
{
    const char *s = opt ? opt : getenv("HEALTH_BIND");

    if (!s || (!opt && !*s)) {
        cfg->bind_any = true;
        return 0;
    }
    cfg->bind_any = false;
    return parse_address(cfg, s);
}

static int resolve_details(struct health__config *cfg, enum health_details d)
{
    const char *env;

    if (d == HEALTH_DETAILS_LOCAL || d == HEALTH_DETAILS_ALWAYS ||
        d == HEALTH_DETAILS_NEVER) {
        cfg->details = d;
        return 0;
    }
    if (d != HEALTH_DETAILS_DEFAULT)
        return -EINVAL;
    env = getenv("HEALTH_DETAILS");
    if (!env || !*env || strcmp(env, "local") == 0)
        cfg->details = HEALTH_DETAILS_LOCAL;
    else if (strcmp(env, "always") == 0)
        cfg->details = HEALTH_DETAILS_ALWAYS;
    else if (strcmp(env, "never") == 0)
        cfg->details = HEALTH_DETAILS_NEVER;
    else
        return -EINVAL;
    return 0;
}

/* HEALTH_OPT_NO_METRICS wins; else $HEALTH_METRICS (on, off), else on. */
static int resolve_metrics(struct health__config *cfg, unsigned flags)
{
    const char *env = getenv("HEALTH_METRICS");

    cfg->metrics = false;
    if (flags & HEALTH_OPT_NO_METRICS)
        return 0;
    if (env && *env && strcmp(env, "on") != 0)
        return strcmp(env, "off") == 0 ? 0 : -EINVAL;
    cfg->metrics = true;
    return 0;
}

/* Copies an optional report string; NULL stays NULL. */
static int copy_info(char **dst, const char *src)
{
    if (!src)
        return 0;
    if (strlen(src) > HEALTH__INFO_MAX)
        return -EINVAL;
    *dst = strdup(src);
    if (!*dst)
        return -ENOMEM;
    health__sanitize_text(*dst);
    return 0;
}

static int copy_strings(struct health__config *cfg,
                        const struct health_options *o)
{
    int r;

    r = copy_info(&cfg->version, o->version);
    if (r == 0)
        r = copy_info(&cfg->release_id, o->release_id);
    if (r == 0)
        r = copy_info(&cfg->service_id, o->service_id);
    if (r == 0)
        r = copy_info(&cfg->description, o->description);
    return r;
}

static unsigned or_default(unsigned v, unsigned def)
{
    return v ? v : def;
}

/* Whether every limit is within its documented bound (health.h). */
static bool limits_are_valid(const struct health_options *o)
{
    unsigned threads =
        or_default(o->check_threads, HEALTH__DEFAULT_CHECK_THREADS);
    unsigned max_threads =
        or_default(o->max_check_threads, HEALTH__DEFAULT_MAX_CHECK_THREADS);

    if (o->timeout_ms > HEALTH__MAX_TIME_MS ||
        o->interval_ms > HEALTH__MAX_TIME_MS ||
        o->max_connections > HEALTH__MAX_CONNECTIONS ||
        o->max_connections_per_ip > HEALTH__MAX_CONNECTIONS ||
        o->idle_timeout_s > HEALTH__MAX_IDLE_TIMEOUT_S)
        return false;
    if (o->connection_memory &&
        (o->connection_memory < HEALTH__MIN_CONNECTION_MEMORY ||
         o->connection_memory > HEALTH__MAX_CONNECTION_MEMORY))
        return false;
    if (o->check_stack_size && (o->check_stack_size < HEALTH__MIN_STACK_SIZE ||
                                o->check_stack_size > HEALTH__MAX_STACK_SIZE))
        return false;
    /* A default max_check_threads rises to an explicit check_threads. */
    if (!o->max_check_threads && threads > max_threads)
        max_threads = threads;
    return threads <= HEALTH__MAX_CHECK_THREADS / 16 &&
           max_threads <= HEALTH__MAX_CHECK_THREADS && threads <= max_threads;
}

static void copy_scalars(struct health__config *cfg,
                         const struct health_options *o)
{
    cfg->flags = o->flags;
    cfg->timeout_ms = or_default(o->timeout_ms, HEALTH__DEFAULT_TIMEOUT_MS);
    cfg->interval_ms = or_default(o->interval_ms, HEALTH__DEFAULT_INTERVAL_MS);
    cfg->on_change = o->on_change;
    cfg->on_change_userdata = o->on_change_userdata;
    cfg->log = o->log;
    cfg->log_userdata = o->log_userdata;
    cfg->max_connections =
        or_default(o->max_connections, HEALTH__DEFAULT_MAX_CONNECTIONS);
    cfg->max_connections_per_ip =
        or_default(o->max_connections_per_ip, HEALTH__DEFAULT_MAX_PER_IP);
    cfg->idle_timeout_s =
        or_default(o->idle_timeout_s, HEALTH__DEFAULT_IDLE_TIMEOUT_S);
    cfg->connection_memory = o->connection_memory
                                 ? o->connection_memory
                                 : HEALTH__DEFAULT_CONNECTION_MEMORY;
    cfg->check_threads =
        or_default(o->check_threads, HEALTH__DEFAULT_CHECK_THREADS);
    cfg->max_check_threads =
        or_default(o->max_check_threads, HEALTH__DEFAULT_MAX_CHECK_THREADS);
    if (cfg->max_check_threads < cfg->check_threads)
        cfg->max_check_threads = cfg->check_threads;
    cfg->check_stack_size =
        o->check_stack_size ? o->check_stack_size : HEALTH__DEFAULT_STACK_SIZE;
}

int health__config_init(struct health__config *cfg,
                        const struct health_options *opts)
{
    static const struct health_options none;
    const struct health_options *o = opts ? opts : &none;
    int r;

    memset(cfg, 0, sizeof(*cfg));
    if ((o->flags & ~(unsigned)KNOWN_OPTION_FLAGS) ||
        ((o->flags & HEALTH_OPT_SYSTEMD) &&
         (o->flags & HEALTH_OPT_NO_SYSTEMD)) ||
        !limits_are_valid(o))
        return -EINVAL;
    r = resolve_port(cfg, o->port);
    if (r == 0)
        r = resolve_bind(cfg, o->bind_address);
    if (r == 0)
        r = resolve_details(cfg, o->details);
    if (r == 0)
        r = health__sd_config_init(&cfg->sd, o->flags);
    if (r == 0)
        r = health__trust_new(&cfg->trust, o);
    if (r == 0)
        r = resolve_metrics(cfg, o->flags);
    if (r == 0)
        r = copy_strings(cfg, o);
    if (r < 0) {
        health__config_fini(cfg);
        return r;
    }
    copy_scalars(cfg, o);
    return 0;
}

void health__config_fini(struct health__config *cfg)
{
    free(cfg->version);
    free(cfg->release_id);
    free(cfg->service_id);
    free(cfg->description);
    health__trust_free(cfg->trust);
    memset(cfg, 0, sizeof(*cfg));
}
