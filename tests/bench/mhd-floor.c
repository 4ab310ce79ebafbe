/* SPDX-License-Identifier: MIT */
/*
 * mhd-floor - the benchmark's floor: a bare libmicrohttpd server answering
 * every request with a constant small JSON body, set up the way libhealth
 * uses libmicrohttpd (one internal thread, poll, answer on the access
 * handler's second call, one persistent response).  Whatever libhealth costs
 * on top of libmicrohttpd shows as a ratio against this server.
 *
 *   mhd-floor [--body JSON] [--bind ADDR] [--load KIND:THREADS] [--startup]
 *             [PORT]
 *
 * PORT defaults to $HEALTH_PORT, else 8080.  --load starts the host's own
 * threads once the daemon serves (see bench_start_load()).  --startup times
 * MHD_start_daemon() to the first 200, prints it and exits.
 */
#define _POSIX_C_SOURCE 200809L

#include "bench-common.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BODY "{\"status\":\"pass\"}"

struct floor_config {
    const char *body;
    const char *bind;
    const char *load;
    unsigned port;
    int startup;
};

static struct MHD_Response *ok_response;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    static int first_call_marker;

    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    (void)upload_size;
    /* Answering on the first call makes libmicrohttpd close the
     * connection after the response: answer on the second. */
    if (*con_cls == NULL) {
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, ok_response);
}

static int make_response(const char *body)
{
    ok_response = MHD_create_response_from_buffer(
        strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
    if (ok_response == NULL)
        return -1;
    if (MHD_add_response_header(ok_response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/health+json") != MHD_YES ||
        MHD_add_response_header(ok_response, MHD_HTTP_HEADER_CACHE_CONTROL,
                                "no-store") != MHD_YES)
        return -1;
    return 0;
}

static struct MHD_Daemon *start_daemon(const struct floor_config *cfg)
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->bind, &sa.sin_addr) != 1)
        return NULL;
    return MHD_start_daemon(
        MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, (uint16_t)cfg->port,
        NULL, NULL, &on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_END);
}

static void usage(void)
{
    fprintf(stderr, "usage: mhd-floor [--body JSON] [--bind ADDR] "
                    "[--load KIND:THREADS] [--startup] [PORT]\n");
}

static int parse_args(int argc, char **argv, struct floor_config *cfg)
{
    const char *port = getenv("HEALTH_PORT");

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--body") == 0 && i + 1 < argc)
            cfg->body = argv[++i];
        else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc)
            cfg->bind = argv[++i];
        else if (strcmp(argv[i], "--load") == 0 && i + 1 < argc)
            cfg->load = argv[++i];
        else if (strcmp(argv[i], "--startup") == 0)
            cfg->startup = 1;
        else if (argv[i][0] != '-')
            port = argv[i];
        else
            return -1;
    }
    if (port != NULL && *port != '\0')
        return bench_parse_uint(port, 65535, &cfg->port);
    return 0;
}

static unsigned bound_port(struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);

    return info != NULL ? info->port : 0;
}

int main(int argc, char **argv)
{
    struct floor_config cfg = { DEFAULT_BODY, "127.0.0.1", NULL, 8080, 0 };
    struct MHD_Daemon *daemon;
    sigset_t signals;
    int64_t t0;
    int rc = 0;

    if (parse_args(argc, argv, &cfg) != 0) {
        usage();
        return 2;
    }
    bench_block_signals(&signals);
    if (make_response(cfg.body) != 0)
        return 1;
    t0 = bench_now_us(CLOCK_MONOTONIC);
    daemon = start_daemon(&cfg);
    if (daemon == NULL) {
        fprintf(stderr, "mhd-floor: cannot start on %s:%u\n", cfg.bind,
                cfg.port);
        return 1;
    }
    if (cfg.startup)
        rc = bench_report_startup(t0, bound_port(daemon)) == 0 ? 0 : 1;
    else if (cfg.load && bench_start_load(cfg.load) != 0) {
        fprintf(stderr, "mhd-floor: --load %s failed\n", cfg.load);
        rc = 1;
    } else {
        bench_print_listening(bound_port(daemon));
        bench_wait_signal(&signals);
    }
    MHD_stop_daemon(daemon);
    MHD_destroy_response(ok_response);
    return rc;
}
