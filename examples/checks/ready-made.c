/* SPDX-License-Identifier: MIT */
/*
 * ready-made: one of each ready-made check, as the README shows them.
 *
 *   ready-made
 *
 * Serves on $HEALTH_PORT (8080; 0: any free port) and prints the port on
 * stdout.  Stops on SIGINT or SIGTERM.
 */
#include <health/health.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

static int register_all(health_t *h)
{
    int r;

    /* tcp: can we reach the database's port? */
    static const struct health_check db_port = {
        .name = "db-port",
        .timeout_ms = 500,
    };
    r = health_check_tcp(h, &db_port, "127.0.0.1", 5432);

    /* http: does the service we call answer 200..399? */
    static const struct health_check billing = {
        .name = "billing",
        .flags = HEALTH_CHECK_READY | HEALTH_CHECK_NONCRITICAL,
        .timeout_ms = 800,
    };
    if (r == 0)
        r = health_check_http(h, &billing, "http://127.0.0.1:9000/ready", NULL);

    /* http with its own set of passing statuses. */
    static const unsigned auth_ok[] = { 200, 401 };
    static const struct health_http_options auth_opts = {
        .statuses = auth_ok,
        .n_statuses = 2,
    };
    static const struct health_check auth = { .name = "auth" };
    if (r == 0)
        r = health_check_http(h, &auth, "http://[::1]:9001/whoami", &auth_opts);

    /* dns: does our own cluster name resolve? */
    static const struct health_check dns = { .name = "dns" };
    if (r == 0)
        r = health_check_dns(h, &dns, "localhost");

    /* disk: warn below 10% free, fail below 5% or 1 GiB. */
    static const struct health_disk_limits disk_limits = {
        .warn_free = 0.10,
        .fail_free = 0.05,
        .fail_free_bytes = 1ull << 30,
        .fail_free_inodes = 0.02,
    };
    static const struct health_check disk = { .name = "disk-data" };
    if (r == 0)
        r = health_check_disk(h, &disk, "/", &disk_limits);

    /* memory: the container's limit; liveness fails at 95%. */
    static const struct health_check mem = {
        .name = "memory",
        .flags = HEALTH_CHECK_LIVE,
    };
    if (r == 0)
        r = health_check_memory(h, &mem, 0.85, 0.95);

    /* fds: descriptors against RLIMIT_NOFILE. */
    static const struct health_check fds = {
        .name = "fds",
        .flags = HEALTH_CHECK_LIVE,
    };
    if (r == 0)
        r = health_check_fds(h, &fds, 0.8, 0.95);

    /* file: the nightly job's marker is less than 26 hours old. */
    static const struct health_check nightly = {
        .name = "nightly-export",
        .flags = HEALTH_CHECK_READY | HEALTH_CHECK_NONCRITICAL,
        .interval_ms = 60000,
    };
    if (r == 0)
        r = health_check_file(h, &nightly, "/var/lib/app/export.ok",
                              26u * 3600 * 1000);
    return r;
}

int main(void)
{
    sigset_t stop;
    health_t *h;
    int sig;
    int r;

    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    r = health_create(&h, NULL);
    if (r == 0)
        r = register_all(h);
    if (r == 0)
        r = health_start(h);
    if (r < 0) {
        fprintf(stderr, "ready-made: %s\n", health_strerror(r));
        health_destroy(h);
        return 1;
    }
    printf("port %d\n", health_port(h));
    fflush(stdout);
    sigwait(&stop, &sig);
    health_begin_shutdown(h);
    health_destroy(h);
    return 0;
}
