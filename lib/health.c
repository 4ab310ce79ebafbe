/* SPDX-License-Identifier: MIT */
/* The public entry points: argument checks, the lifecycle, registration,
 * and the glue between registry, runner and HTTP server. */
#include "health-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KNOWN_CHECK_FLAGS                                         \
 (HEALTH_CHECK_READY | HEALTH_CHECK_LIVE | HEALTH_CHECK_STARTUP | \
  HEALTH_CHECK_NONCRITICAL)
#define ENDPOINT_FLAGS \
 (HEALTH_CHECK_READY | HEALTH_CHECK_LIVE | HEALTH_CHECK_STARTUP)

void health__changed(health_t *h)
{
    atomic_fetch_add(&h->gen, 1);
    (void)pthread_cond_broadcast(&h->changed_cond);
}

static int init_sync(health_t *h)
{
    pthread_cond_t *conds[] = { &h->idle_cond, &h->sched_cond, &h->pool_cond,
                                &h->notify_cond, &h->changed_cond };
    size_t i;
    int r;

    r = -pthread_mutex_init(&h->life_lock, NULL);
    if (r < 0)
        return r;
    r = -pthread_mutex_init(&h->lock, NULL);
    if (r < 0)
        goto out_life;
    for (i = 0; i < sizeof(conds) / sizeof(conds[0]); i++) {
        r = health__cond_init(conds[i]);
        if (r < 0)
            goto out_conds;
    }
    return 0;

out_conds:
    while (i-- > 0)
        (void)pthread_cond_destroy(conds[i]);
    (void)pthread_mutex_destroy(&h->lock);
out_life:
    (void)pthread_mutex_destroy(&h->life_lock);
    return r;
}

static void free_handle(health_t *h)
{
    health__notify_fini(h);
    health__config_fini(&h->cfg);
    (void)pthread_cond_destroy(&h->changed_cond);
    (void)pthread_cond_destroy(&h->notify_cond);
    (void)pthread_cond_destroy(&h->pool_cond);
    (void)pthread_cond_destroy(&h->sched_cond);
    (void)pthread_cond_destroy(&h->idle_cond);
    (void)pthread_mutex_destroy(&h->lock);
    (void)pthread_mutex_destroy(&h->life_lock);
    free(h);
}

bool health__forked(const health_t *h)
{
    return h->pid != getpid();
}

int health_create(health_t **ret, const struct health_options *opts)
{
    health_t *h;
    int r;

    if (!ret)
        return -EINVAL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    r = health__config_init(&h->cfg, opts);
    if (r < 0)
        goto out_free;
    r = init_sync(h);
    if (r < 0)
        goto out_config;
    r = health__notify_init(h);
    if (r < 0) {
        h->refs = 1;
        free_handle(h);
        return r;
    }
    h->pid = getpid();
    h->refs = 1;
    *ret = h;
    return 0;

out_config:
    health__config_fini(&h->cfg);
out_free:
    free(h);
    return r == -EAGAIN ? -ENOMEM : r;
}

void health__unref_unlock(health_t *h)
{
    bool last = --h->refs == 0;

    (void)pthread_mutex_unlock(&h->lock);
    if (last)
        free_handle(h);
}

static int start_locked(health_t *h)
{
    sigset_t old;
    int r;

    if (h->started)
        return -EALREADY;
    /* libmicrohttpd's thread inherits the mask: signals are the service's. */
    health__block_signals(&old);
    r = health__http_start(h);
    health__restore_signals(&old);
    if (r < 0)
        return r;
    (void)pthread_mutex_lock(&h->lock);
    h->started = true;
    h->stopping = false;
    r = health__notify_start(h);
    if (r == 0)
        r = health__runner_start(h);
    (void)pthread_mutex_unlock(&h->lock);
    if (r == 0)
        r = health__systemd_start(h);
    return r;
}

static void stop_locked(health_t *h)
{
    (void)pthread_mutex_lock(&h->lock);
    h->stopping = true;
    (void)pthread_mutex_unlock(&h->lock);
    if (!h->started)
        return;
    health__systemd_stop(h);
    health__http_stop(h);
    health__runner_stop(h);
    (void)pthread_mutex_lock(&h->lock);
    h->started = false;
    (void)pthread_mutex_unlock(&h->lock);
}

int health_start(health_t *h)
{
    int r;

    if (!h)
        return -EINVAL;
    if (health__forked(h))
        return -ECHILD;
    (void)pthread_mutex_lock(&h->life_lock);
    if (h->destroyed) {
        r = -ESHUTDOWN;
    } else {
        r = start_locked(h);
        if (r < 0 && r != -EALREADY && h->started)
            stop_locked(h);
    }
    (void)pthread_mutex_unlock(&h->life_lock);
    return r;
}

int health_stop(health_t *h)
{
    if (!h)
        return -EINVAL;
    if (health__forked(h))
        return -ECHILD;
    (void)pthread_mutex_lock(&h->life_lock);
    stop_locked(h);
    (void)pthread_mutex_unlock(&h->life_lock);
    return 0;
}

/* Takes every check off the handle; those not running are chained on
 * *orphans for the caller to free, the others are left to the thread of
 * their run. */
static void remove_all_checks(health_t *h, struct health__check **orphans)
{
    struct health__check *c;

    while ((c = h->checks)) {
        health__unlink_check(h, c);
        health__runner_remove(h, c);
        c->removed = true;
        if (!c->running) {
            c->next = *orphans;
            *orphans = c;
        }
    }
}

static void release_heartbeats(health_t *h)
{
    struct health__heartbeat *hb;

    while ((hb = h->heartbeats)) {
        h->heartbeats = hb->next;
        health__beat_release(hb->handle);
        free(hb);
    }
}

/* In a forked child the other threads are gone and their locks may be
 * held for ever: free what is the handle's own, call nothing of the
 * user's, take no lock, and leave inherited sockets alone (shutting one
 * down would close the parent's). */
static void destroy_in_child(health_t *h)
{
    struct health__check *c;
    struct health__heartbeat *hb;

    while ((c = h->checks)) { /* no thread runs them here */
        h->checks = c->next;
        health__check_free(c);
    }
    while ((hb = h->heartbeats)) {
        h->heartbeats = hb->next;
        free(hb);
    }
    health__systemd_forget(h);
    health__notify_fini(h);
    health__config_fini(&h->cfg);
    free(h);
}

void health_destroy(health_t *h)
{
    struct health__check *orphans = NULL;
    struct health__check *c;

    if (!h)
        return;
    if (health__forked(h)) {
        destroy_in_child(h);
        return;
    }
    (void)pthread_mutex_lock(&h->lock);
    if (h->destroyed) { /* from a free_data that this destroy called */
        (void)pthread_mutex_unlock(&h->lock);
        return;
    }
    h->destroyed = true; /* from now on no start succeeds */
    (void)pthread_mutex_unlock(&h->lock);
    (void)health_stop(h);
    (void)pthread_mutex_lock(&h->lock);
    health__notify_drop(h);
    remove_all_checks(h, &orphans);
    release_heartbeats(h);
    (void)pthread_mutex_unlock(&h->lock);
    while ((c = orphans)) {
        orphans = c->next;
        if (c->free_data)
            c->free_data(c->userdata);
        health__check_free(c);
    }
    (void)pthread_mutex_lock(&h->lock);
    health__unref_unlock(h);
}

#define MAX_RUNS_IN_ROW 65535u

static bool check_is_valid(const struct health_check *check)
{
    return check && check->run && health__name_is_valid(check->name) &&
           !(check->flags & ~(unsigned)KNOWN_CHECK_FLAGS) &&
           check->timeout_ms <= HEALTH__MAX_TIME_MS &&
           check->interval_ms <= HEALTH__MAX_TIME_MS &&
           check->fail_after_ms <= HEALTH__MAX_TIME_MS &&
           check->fail_after <= MAX_RUNS_IN_ROW &&
           check->pass_after <= MAX_RUNS_IN_ROW;
}

static int check_new(health_t *h, const struct health_check *check,
                     void *userdata, struct health__check **ret)
{
    struct health__check *c;
    unsigned flags = check->flags;

    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    if (!(flags & ENDPOINT_FLAGS))
        flags |= HEALTH_CHECK_READY;
    c->h = h;
    memcpy(c->name, check->name, strlen(check->name) + 1);
    c->flags = flags;
    c->timeout_ms = check->timeout_ms ? check->timeout_ms : h->cfg.timeout_ms;
    c->interval_ms =
        check->interval_ms ? check->interval_ms : h->cfg.interval_ms;
    c->run = check->run;
    c->free_data = check->free_data;
    c->userdata = userdata;
    c->damping.fail_after = check->fail_after ? check->fail_after : 1;
    c->damping.fail_after_ms = check->fail_after_ms;
    c->damping.pass_after = check->pass_after ? check->pass_after : 1;
    c->notified = HEALTH__PENDING;
    health__stored_init(&c->latest);
    *ret = c;
    return 0;
}

int health_register_check(health_t *h, const struct health_check *check,
                          void *userdata)
{
    struct health__check *c;
    int r;

    if (!h || !check_is_valid(check))
        return -EINVAL;
    if (health__forked(h))
        return -ECHILD;
    r = check_new(h, check, userdata, &c);
    if (r < 0)
        return r;
    (void)pthread_mutex_lock(&h->lock);
    if (h->destroyed) {
        r = -ESHUTDOWN;
    } else if (health__name_taken(h, c->name)) {
        r = -EEXIST;
    } else {
        health__append_check(h, c);
        if (h->started && !h->stopping)
            health__runner_add(h, c);
    }
    (void)pthread_mutex_unlock(&h->lock);
    if (r < 0)
        health__check_free(c);
    return r;
}

int health_unregister_check(health_t *h, const char *name)
{
    struct health__check *c;
    bool running;

    if (!h || !name)
        return -EINVAL;
    if (health__forked(h))
        return -ECHILD;
    (void)pthread_mutex_lock(&h->lock);
    c = health__find_check(h, name);
    if (!c) {
        (void)pthread_mutex_unlock(&h->lock);
        return -ENOENT;
    }
    health__unlink_check(h, c);
    health__runner_remove(h, c);
    c->removed = true;
    running = c->running; /* then the thread of the run frees it */
    (void)pthread_mutex_unlock(&h->lock);
    if (!running) {
        if (c->free_data)
            c->free_data(c->userdata);
        health__check_free(c);
    }
    return 0;
}

int health_register_heartbeat(health_t *h, const char *name,
                              unsigned deadline_ms, health_heartbeat_t **ret)
{
    struct health__heartbeat *hb;
    int r = 0;

    if (!h || !ret || !health__name_is_valid(name) || deadline_ms == 0 ||
        deadline_ms > HEALTH__MAX_TIME_MS)
        return -EINVAL;
    if (health__forked(h))
        return -ECHILD;
    hb = calloc(1, sizeof(*hb));
    if (!hb)
        return -ENOMEM;
    memcpy(hb->name, name, strlen(name) + 1);
    hb->deadline_ms = deadline_ms;
    (void)pthread_mutex_lock(&h->lock);
    if (h->destroyed)
        r = -ESHUTDOWN;
    else if (health__name_taken(h, name))
        r = -EEXIST;
    else
        r = health__beat_alloc(&hb->handle);
    if (r == 0) {
        hb->next = h->heartbeats;
        h->heartbeats = hb;
        health__changed(h);
    }
    (void)pthread_mutex_unlock(&h->lock);
    if (r < 0) {
        free(hb);
        return r;
    }
    *ret = hb->handle;
    return 0;
}

int health_unregister_heartbeat(health_t *h, health_heartbeat_t *handle)
{
    struct health__heartbeat **p;
    struct health__heartbeat *hb = NULL;

    if (!h || !handle)
        return -EINVAL;
    if (health__forked(h))
        return -ECHILD;
    (void)pthread_mutex_lock(&h->lock);
    for (p = &h->heartbeats; *p; p = &(*p)->next) {
        if ((*p)->handle == handle) {
            hb = *p;
            *p = hb->next;
            health__beat_release(hb->handle);
            health__changed(h);
            break;
        }
    }
    (void)pthread_mutex_unlock(&h->lock);
    free(hb);
    return hb ? 0 : -ENOENT;
}

int health_set_started(health_t *h)
{
    if (!h)
        return -EINVAL;
    if (health__forked(h))
        return -ECHILD;
    (void)pthread_mutex_lock(&h->lock);
    h->startup_called = true;
    health__changed(h);
    (void)pthread_mutex_unlock(&h->lock);
    return 0;
}

int health_begin_shutdown(health_t *h)
{
    if (!h)
        return -EINVAL;
    if (health__forked(h))
        return -ECHILD;
    (void)pthread_mutex_lock(&h->lock);
    h->shutting_down = true;
    health__changed(h);
    (void)pthread_mutex_unlock(&h->lock);
    return 0;
}

int health_port(const health_t *h)
{
    int port;

    if (!h)
        return -EINVAL;
    if (health__forked(h))
        return -ECHILD;
    port = atomic_load(&((health_t *)h)->port);
    return port > 0 ? port : -ENOTCONN;
}

const char *health_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case -EINVAL:
        return "invalid argument";
    case -ENOMEM:
        return "out of memory";
    case -EEXIST:
        return "name already registered";
    case -ENOENT:
        return "no such check or heartbeat";
    case -EALREADY:
        return "already started";
    case -EADDRINUSE:
        return "address already in use";
    case -EADDRNOTAVAIL:
        return "address not available on this host";
    case -EACCES:
        return "permission denied (privileged port?)";
    case -EAGAIN:
        return "no thread could be created";
    case -ENOTCONN:
        return "not started";
    case -EIO:
        return "HTTP server failed to start";
    case -ECHILD:
        return "handle belongs to the parent process (fork)";
    case -ESHUTDOWN:
        return "handle is being destroyed";
    case -EPROTONOSUPPORT:
        return "protocol not supported (https:// URL)";
    default:
        return "unknown error";
    }
}

unsigned health_version(void)
{
    return HEALTH_VERSION_HEX;
}
