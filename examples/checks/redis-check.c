/* SPDX-License-Identifier: MIT */
/*
 * redis-check: health endpoints for a service that depends on Redis, with
 * a hiredis PING as its readiness check, next to a ready-made check of the
 * server's port and, optionally, an HTTP check of an upstream service.
 *
 *   redis-check [HOST [PORT [URL]]]   (127.0.0.1 6379, no URL)
 *
 * Serves on $HEALTH_PORT (8080; 0: any free port) and prints the port on
 * stdout.  Stops on SIGINT or SIGTERM.
 */
#include <health/health.h>

#include <hiredis/hiredis.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct redis_target {
    const char *host;
    int port;
};

/* A new connection per run, with connect and command timeouts below the
 * check's timeout, so a run always returns before its deadline. */
static health_status_t check_redis(health_result_t *result, void *userdata)
{
    const struct redis_target *t = userdata;
    struct timeval tv = { 0, 400 * 1000 };
    health_status_t status = HEALTH_FAIL;
    redisContext *c = redisConnectWithTimeout(t->host, t->port, tv);
    redisReply *reply;

    if (!c || c->err) {
        health_result_setf(result, "connect: %s",
                           c ? c->errstr : "out of memory");
        redisFree(c);
        return HEALTH_FAIL;
    }
    redisSetTimeout(c, tv);
    reply = redisCommand(c, "PING");
    if (!reply)
        health_result_setf(result, "PING: %s", c->errstr);
    else if (reply->type == REDIS_REPLY_STATUS &&
             strcmp(reply->str, "PONG") == 0)
        status = HEALTH_PASS;
    else
        health_result_setf(result, "PING answered \"%s\"",
                           reply->str ? reply->str : "");
    if (status == HEALTH_PASS)
        health_result_setf(result, "PONG");
    freeReplyObject(reply);
    redisFree(c);
    return status;
}

int main(int argc, char **argv)
{
    struct redis_target t = { argc > 1 ? argv[1] : "127.0.0.1",
                              argc > 2 ? atoi(argv[2]) : 6379 };
    const char *url = argc > 3 ? argv[3] : NULL;
    struct health_check redis = { .name = "redis",
                                  .timeout_ms = 1000,
                                  .interval_ms = 1000,
                                  .run = check_redis };
    struct health_check tcp = { .name = "redis-port",
                                .timeout_ms = 500,
                                .interval_ms = 1000 };
    struct health_check up = { .name = "upstream",
                               .timeout_ms = 1000,
                               .interval_ms = 1000 };
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
        r = health_register_check(h, &redis, &t);
    if (r == 0)
        r = health_check_tcp(h, &tcp, t.host, (unsigned)t.port);
    if (r == 0 && url)
        r = health_check_http(h, &up, url, NULL);
    if (r == 0)
        r = health_start(h);
    if (r < 0) {
        fprintf(stderr, "redis-check: %s\n", health_strerror(r));
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
