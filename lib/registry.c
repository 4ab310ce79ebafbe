/* SPDX-License-Identifier: MIT */
/* The registry: which checks and heartbeats exist, by name.  Callers hold
 * h->lock. */
#include "health-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool health__name_is_valid(const char *name)
{
    size_t n = 0;

    if (!name)
        return false;
    for (; name[n]; n++) {
        char ch = name[n];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  ch == '_' || ch == '.' || ch == '-';
        if (!ok || n >= HEALTH_NAME_MAX)
            return false;
    }
    return n > 0;
}

struct health__check *health__find_check(const health_t *h, const char *name)
{
    struct health__check *c;

    for (c = h->checks; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

bool health__name_taken(const health_t *h, const char *name)
{
    const struct health__heartbeat *hb;

    if (health__find_check(h, name))
        return true;
    for (hb = h->heartbeats; hb; hb = hb->next)
        if (strcmp(hb->name, name) == 0)
            return true;
    return false;
}

void health__append_check(health_t *h, struct health__check *c)
{
    struct health__check **p = &h->checks;

    while (*p)
        p = &(*p)->next;
    c->next = NULL;
    *p = c;
    health__changed(h);
}

void health__unlink_check(health_t *h, struct health__check *c)
{
    struct health__check **p;

    for (p = &h->checks; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            c->next = NULL;
            break;
        }
    }
    health__changed(h);
}
