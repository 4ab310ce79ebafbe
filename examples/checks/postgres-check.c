/* SPDX-License-Identifier: MIT */
/*
 * postgres-check: health endpoints for a service that depends on
 * PostgreSQL, with libpq's PQping() as its readiness check, next to
 * ready-made checks of the server's port and of the process itself.
 *
 *   postgres-check [HOST [PORT [DBNAME]]]   (127.0.0.1 5432 postgres)
 *
 * Serves on $HEALTH_PORT (8080; 0: any free port) and prints the port on
 * stdout.  Stops on SIGINT or SIGTERM.
 */
#include <health/health.h>

#include <libpq-fe.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* PQping() asks the server whether it accepts connections without logging
 * in: a wrong password still answers PQPING_OK.  It blocks for at most
 * connect_timeout (whole seconds, at least 2 in libpq), so the check's
 * timeout is set above it and a run returns before its deadline. */
static health_status_t check_postgres(health_result_t *result, void *userdata)
{
    const char *conninfo = userdata;
    struct timespec a;
    struct timespec b;
    double ms;
    PGPing ping;

    clock_gettime(CLOCK_MONOTONIC, &a);
    ping = PQping(conninfo);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
         (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    switch (ping) {
    case PQPING_OK:
        health_result_setf(result, "accepting connections");
        health_result_set_observed(result, ms, "ms");
        return HEALTH_PASS;
    case PQPING_REJECT:
        health_result_setf(result, "rejecting connections (starting up, "
                                   "shutting down or in recovery)");
        return HEALTH_FAIL;
    case PQPING_NO_RESPONSE:
        health_result_setf(result, "no response");
        return HEALTH_FAIL;
    default:
        health_result_setf(result, "bad connection parameters");
        return HEALTH_FAIL;
    }
}

int main(int argc, char **argv)
{
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    const char *port = argc > 2 ? argv[2] : "5432";
    const char *db = argc > 3 ? argv[3] : "postgres";
    struct health_check pg = { .name = "postgres",
                               .flags = HEALTH_CHECK_READY,
                               .timeout_ms = 3000,
                               .interval_ms = 1000,
                               .run = check_postgres };
    struct health_check tcp = { .name = "postgres-port",
                                .flags = HEALTH_CHECK_READY |
                                         HEALTH_CHECK_NONCRITICAL,
                                .timeout_ms = 500,
                                .interval_ms = 1000 };
    struct health_check mem = { .name = "memory", .flags = HEALTH_CHECK_LIVE };
    struct health_check fds = { .name = "fds", .flags = HEALTH_CHECK_LIVE };
    char conninfo[512];
    sigset_t stop;
    health_t *h;
    int sig;
    int r;

    snprintf(conninfo, sizeof(conninfo),
             "host=%s port=%s dbname=%s connect_timeout=2", host, port, db);
    /* Block the stop signals before any thread starts; sigwait below. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    r = health_create(&h, NULL);
    if (r == 0)
        r = health_register_check(h, &pg, conninfo);
    if (r == 0)
        r = health_check_tcp(h, &tcp, host, (unsigned)atoi(port));
    if (r == 0)
        r = health_check_memory(h, &mem, 0.8, 0.95);
    if (r == 0)
        r = health_check_fds(h, &fds, 0.8, 0.95);
    if (r == 0)
        r = health_start(h);
    if (r < 0) {
        fprintf(stderr, "postgres-check: %s\n", health_strerror(r));
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
