/* SPDX-License-Identifier: MIT */
/* The public entry points: argument checks, the lifecycle, registration,
 * and the glue between registry, runner and HTTP server. */
#include "health-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KNOWN_CHECK_FLAGS                                         \
 (HEALTH_CHECK_READY | HEALTH_CHECK_LIVE | HEALTH_CHECK_STARTUP | \
  HEALTH_CHECK_NONCRITICAL)
#define ENDPOINT_FLAGS \
 (HEALTH_CHECK_READY | HEALTH_CHECK_LIVE | HEALTH_CHECK_STARTUP)

void health__log(const health_t *h, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    if (!h->cfg.log)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    h->cfg.log(buf, h->cfg.log_userdata);
}

void health__changed(health_t *h)
{
    atomic_fetch_add(&h->gen, 1);
    (void)pthread_cond_broadcast(&h->changed_cond);
}

static int init_sync(health_t *h)
{
    int r;

    r = -pthread_mutex_init(&h->life_lock, NULL);
    if (r < 0)
        return r;
    r = -pthread_mutex_init(&h->lock, NULL);
    if (r < 0)
        goto out_life;
    r = health__cond_init(&h->idle_cond);
    if (r < 0)
        goto out_lock;
    r = health__cond_init(&h->watchdog_cond);
    if (r < 0)
        goto out_idle;
    r = health__cond_init(&h->changed_cond);
    if (r < 0)
        goto out_watchdog;
    return 0;

out_watchdog:
    (void)pthread_cond_destroy(&h->watchdog_cond);
out_idle:
    (void)pthread_cond_destroy(&h->idle_cond);
out_lock:
    (void)pthread_mutex_destroy(&h->lock);
out_life:
    (void)pthread_mutex_destroy(&h->life_lock);
    return r;
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
    h->refs = 1;
    *ret = h;
    return 0;

out_config:
    health__config_fini(&h->cfg);
out_free:
    free(h);
    return r == -EAGAIN ? -ENOMEM : r;
}

/* Drops a reference; the lock is held.  *last tells the caller to call
 * health__free() once it has released the lock. */
void health__unref_locked(health_t *h, bool *last)
{
    *last = --h->refs == 0;
}

void health__free(health_t *h)
{
    (void)pthread_cond_destroy(&h->changed_cond);
    (void)pthread_cond_destroy(&h->watchdog_cond);
    (void)pthread_cond_destroy(&h->idle_cond);
    (void)pthread_mutex_destroy(&h->lock);
    (void)pthread_mutex_destroy(&h->life_lock);
    free(h);
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
    (void)pthread_mutex_lock(&h->life_lock);
    r = start_locked(h);
    if (r < 0 && r != -EALREADY && h->started)
        stop_locked(h);
    (void)pthread_mutex_unlock(&h->life_lock);
    return r;
}

int health_stop(health_t *h)
{
    if (!h)
        return -EINVAL;
    (void)pthread_mutex_lock(&h->life_lock);
    stop_locked(h);
    (void)pthread_mutex_unlock(&h->life_lock);
    return 0;
}

/* Takes every check off the handle; those without a thread are chained on
 * *orphans for the caller to free, the others are left to their thread. */
static void remove_all_checks(health_t *h, struct health__check **orphans)
{
    struct health__check *c;

    while ((c = h->checks)) {
        health__unlink_check(h, c);
        c->removed = true;
        if (c->has_thread) {
            c->free_on_thread = true;
            (void)pthread_cond_signal(&c->wake);
        } else {
            c->next = *orphans;
            *orphans = c;
        }
    }
}

static void free_heartbeats(health_t *h)
{
    struct health_heartbeat *hb;

    while ((hb = h->heartbeats)) {
        h->heartbeats = hb->next;
        free(hb);
    }
}

void health_destroy(health_t *h)
{
    struct health__check *orphans = NULL;
    struct health__check *c;
    bool last;

    if (!h)
        return;
    (void)health_stop(h);
    (void)pthread_mutex_lock(&h->lock);
    h->destroyed = true;
    while (h->notifying > 0)
        (void)pthread_cond_wait(&h->idle_cond, &h->lock);
    remove_all_checks(h, &orphans);
    free_heartbeats(h);
    (void)pthread_mutex_unlock(&h->lock);
    while ((c = orphans)) {
        orphans = c->next;
        if (c->free_data)
            c->free_data(c->userdata);
        health__check_free(c);
    }
    health__config_fini(&h->cfg);
    (void)pthread_mutex_lock(&h->lock);
    health__unref_locked(h, &last);
    (void)pthread_mutex_unlock(&h->lock);
    if (last)
        health__free(h);
}

static int check_new(health_t *h, const struct health_check *check,
                     void *userdata, struct health__check **ret)
{
    struct health__check *c;
    unsigned flags = check->flags;
    int r;

    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    r = health__cond_init(&c->wake);
    if (r < 0) {
        free(c);
        return r == -EAGAIN ? -ENOMEM : r;
    }
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
    health__stored_init(&c->latest);
    *ret = c;
    return 0;
}

int health_register_check(health_t *h, const struct health_check *check,
                          void *userdata)
{
    struct health__check *c;
    int r;

    if (!h || !check || !check->run || !health__name_is_valid(check->name) ||
        (check->flags & ~(unsigned)KNOWN_CHECK_FLAGS))
        return -EINVAL;
    r = check_new(h, check, userdata, &c);
    if (r < 0)
        return r;
    (void)pthread_mutex_lock(&h->lock);
    if (h->destroyed || health__name_taken(h, c->name))
        r = h->destroyed ? -EINVAL : -EEXIST;
    else if (h->started && !h->stopping)
        r = health__runner_add(h, c);
    if (r == 0)
        health__append_check(h, c);
    (void)pthread_mutex_unlock(&h->lock);
    if (r < 0)
        health__check_free(c);
    return r;
}

int health_unregister_check(health_t *h, const char *name)
{
    struct health__check *c;
    health_free_fn *free_data = NULL;
    void *userdata = NULL;
    bool owned = false;

    if (!h || !name)
        return -EINVAL;
    (void)pthread_mutex_lock(&h->lock);
    c = health__find_check(h, name);
    if (!c) {
        (void)pthread_mutex_unlock(&h->lock);
        return -ENOENT;
    }
    health__unlink_check(h, c);
    c->removed = true;
    if (c->running) {
        c->free_on_thread = true;
    } else {
        free_data = c->free_data;
        userdata = c->userdata;
        owned = !c->has_thread;
    }
    (void)pthread_cond_signal(&c->wake);
    (void)pthread_mutex_unlock(&h->lock);
    if (free_data)
        free_data(userdata);
    if (owned)
        health__check_free(c);
    return 0;
}

int health_register_heartbeat(health_t *h, const char *name,
                              unsigned deadline_ms, health_heartbeat_t **ret)
{
    struct health_heartbeat *hb;
    int r = 0;

    if (!h || !ret || !health__name_is_valid(name) || deadline_ms == 0)
        return -EINVAL;
    hb = calloc(1, sizeof(*hb));
    if (!hb)
        return -ENOMEM;
    memcpy(hb->name, name, strlen(name) + 1);
    hb->deadline_ms = deadline_ms;
    atomic_init(&hb->last_ms, health__mono_coarse_ms());
    (void)pthread_mutex_lock(&h->lock);
    if (h->destroyed || health__name_taken(h, name)) {
        r = h->destroyed ? -EINVAL : -EEXIST;
    } else {
        hb->next = h->heartbeats;
        h->heartbeats = hb;
        health__changed(h);
    }
    (void)pthread_mutex_unlock(&h->lock);
    if (r < 0) {
        free(hb);
        return r;
    }
    *ret = hb;
    return 0;
}

void health_heartbeat_beat(health_heartbeat_t *hb)
{
    if (hb)
        atomic_store_explicit(&hb->last_ms, health__mono_coarse_ms(),
                              memory_order_relaxed);
}

int health_unregister_heartbeat(health_t *h, health_heartbeat_t *hb)
{
    struct health_heartbeat **p;
    int r = -ENOENT;

    if (!h || !hb)
        return -EINVAL;
    (void)pthread_mutex_lock(&h->lock);
    for (p = &h->heartbeats; *p; p = &(*p)->next) {
        if (*p == hb) {
            *p = hb->next;
            health__changed(h);
            r = 0;
            break;
        }
    }
    (void)pthread_mutex_unlock(&h->lock);
    if (r == 0)
        free(hb);
    return r;
}

int health_set_started(health_t *h)
{
    if (!h)
        return -EINVAL;
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
    default:
        return "unknown error";
    }
}

unsigned health_version(void)
{
    return HEALTH_VERSION_HEX;
}
