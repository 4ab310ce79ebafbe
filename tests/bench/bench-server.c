/* SPDX-License-Identifier: MIT */
/*
 * bench-server - a service built on libhealth, for the benchmarks.
 *
 *   bench-server [--checks N] [--hung M] [--interval-ms MS] [--bind ADDR]
 *                [--load KIND:THREADS] [--startup] [PORT]
 *
 * Registers N checks that pass at once (READY, on a MS interval, default
 * 5000) and M checks that block forever on a pipe read (READY, timed out by
 * the library).  PORT defaults to $HEALTH_PORT, else the library's default;
 * 0 picks an ephemeral port.  --load starts the host's own threads once the
 * library serves (see bench_start_load()).  Prints "start_us=N" (the time
 * health_start() took) and "listening port=N pid=N" and serves until SIGINT
 * or SIGTERM.  A passing check that the library records as failed (a false
 * timeout) prints "false-fail NAME: OUTPUT" on stdout.  --startup instead
 * times health_start() to the first 200 of /live and /ready, prints it and
 * exits.
 */
#define _POSIX_C_SOURCE 200809L

#include "bench-common.h"

#include <health/health.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CHECKS 10000

struct bench_config {
    unsigned checks;
    unsigned hung;
    unsigned interval_ms;
    const char *bind;
    const char *port;
    const char *load;
    int startup;
};

/* The read end of a pipe nobody ever writes to: hung checks block on it. */
static int hang_fd = -1;

static health_status_t passing_check(health_result_t *result, void *userdata)
{
    (void)result;
    (void)userdata;
    return HEALTH_PASS;
}

static health_status_t hung_check(health_result_t *result, void *userdata)
{
    char byte;

    (void)result;
    (void)userdata;
    for (;;) {
        ssize_t n = read(hang_fd, &byte, 1);
        if (n == 0 || (n < 0 && errno != EINTR))
            pause(); /* still hung, whatever happened to the pipe */
    }
    return HEALTH_FAIL;
}

/* Passing checks never fail: a failure recorded for one is the library's
 * (a timeout that the check did not deserve). */
static void on_change(const char *name, health_status_t status,
                      const char *output, void *userdata)
{
    (void)userdata;
    if (status == HEALTH_FAIL && strncmp(name, "pass-", 5) == 0) {
        printf("false-fail %s: %s\n", name, output ? output : "");
        fflush(stdout);
    }
}

static int register_checks(health_t *h, const struct bench_config *cfg,
                           const char *prefix, unsigned count,
                           health_check_fn *run)
{
    for (unsigned i = 0; i < count; i++) {
        char name[HEALTH_NAME_MAX + 1];
        struct health_check check = { 0 };
        int rc;

        snprintf(name, sizeof(name), "%s-%04u", prefix, i);
        check.name = name;
        check.flags = HEALTH_CHECK_READY;
        check.interval_ms = cfg->interval_ms;
        check.run = run;
        rc = health_register_check(h, &check, NULL);
        if (rc < 0) {
            fprintf(stderr, "bench-server: register %s: %s\n", name,
                    health_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct bench_config *cfg)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;

        if (strcmp(arg, "--checks") == 0 && val != NULL && ++i)
            rc = bench_parse_uint(val, MAX_CHECKS, &cfg->checks);
        else if (strcmp(arg, "--hung") == 0 && val != NULL && ++i)
            rc = bench_parse_uint(val, MAX_CHECKS, &cfg->hung);
        else if (strcmp(arg, "--interval-ms") == 0 && val != NULL && ++i)
            rc = bench_parse_uint(val, 86400000, &cfg->interval_ms);
        else if (strcmp(arg, "--bind") == 0 && val != NULL && ++i)
            cfg->bind = val;
        else if (strcmp(arg, "--load") == 0 && val != NULL && ++i)
            cfg->load = val;
        else if (strcmp(arg, "--startup") == 0)
            cfg->startup = 1;
        else if (arg[0] != '-')
            cfg->port = arg;
        else
            rc = -1;
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int make_options(const struct bench_config *cfg,
                        struct health_options *opts)
{
    unsigned port;

    memset(opts, 0, sizeof(*opts));
    opts->bind_address = cfg->bind;
    opts->on_change = on_change;
    /* The load generators open up to 256 connections from 127.0.0.1, and
     * every address, loopback included, is held to the per-address limit:
     * the bench server allows them, as the floor (512 in all) does. */
    opts->max_connections_per_ip = 512;
    if (cfg->port == NULL)
        return 0; /* the library reads $HEALTH_PORT itself */
    if (bench_parse_uint(cfg->port, 65535, &port) != 0)
        return -1;
    opts->port = port == 0 ? HEALTH_PORT_EPHEMERAL : (int)port;
    return 0;
}

static health_t *create_health(const struct bench_config *cfg)
{
    struct health_options opts;
    health_t *h = NULL;
    int rc;

    if (make_options(cfg, &opts) != 0) {
        fprintf(stderr, "bench-server: bad port %s\n", cfg->port);
        return NULL;
    }
    rc = health_create(&h, &opts);
    if (rc < 0) {
        fprintf(stderr, "bench-server: health_create: %s\n",
                health_strerror(rc));
        return NULL;
    }
    if (register_checks(h, cfg, "pass", cfg->checks, passing_check) != 0 ||
        register_checks(h, cfg, "hung", cfg->hung, hung_check) != 0) {
        health_destroy(h);
        return NULL;
    }
    return h;
}

static int open_hang_pipe(void)
{
    int fds[2];

    if (pipe(fds) != 0) {
        perror("bench-server: pipe");
        return -1;
    }
    hang_fd = fds[0]; /* fds[1] stays open and unwritten: reads block */
    return 0;
}

static int serve(health_t *h, const struct bench_config *cfg,
                 const sigset_t *signals)
{
    int64_t t0 = bench_now_us(CLOCK_MONOTONIC);
    int rc = health_start(h);
    int64_t took = bench_now_us(CLOCK_MONOTONIC) - t0;
    int port;

    if (rc < 0) {
        fprintf(stderr, "bench-server: health_start: %s\n",
                health_strerror(rc));
        return 1;
    }
    port = health_port(h);
    if (port < 0)
        return 1;
    if (cfg->startup)
        return bench_report_startup(t0, (unsigned)port) == 0 ? 0 : 1;
    if (cfg->load && bench_start_load(cfg->load) != 0) {
        fprintf(stderr, "bench-server: --load %s failed\n", cfg->load);
        return 1;
    }
    printf("start_us=%lld\n", (long long)took);
    bench_print_listening((unsigned)port);
    bench_wait_signal(signals);
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_config cfg = { 0, 0, 5000, "127.0.0.1", NULL, NULL, 0 };
    sigset_t signals;
    health_t *h;
    int rc;

    if (parse_args(argc, argv, &cfg) != 0) {
        fprintf(stderr, "usage: bench-server [--checks N] [--hung M] "
                        "[--interval-ms MS] [--bind ADDR] "
                        "[--load KIND:THREADS] [--startup] [PORT]\n");
        return 2;
    }
    bench_block_signals(&signals);
    if (cfg.hung > 0 && open_hang_pipe() != 0)
        return 1;
    h = create_health(&cfg);
    if (h == NULL)
        return 1;
    rc = serve(h, &cfg, &signals);
    health_destroy(h);
    return rc;
}
