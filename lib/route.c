/* SPDX-License-Identifier: MIT */
/* The router: request paths to endpoints.  Pure string work on untrusted
 * input, kept apart from the HTTP server so it can be fuzzed alone. */
#include "health-internal.h"

#include <errno.h>
#include <string.h>

static const struct {
    const char *path;
    enum health__endpoint ep;
} routes[] = {
    { "/live", HEALTH__EP_LIVE },       { "/livez", HEALTH__EP_LIVE },
    { "/ready", HEALTH__EP_READY },     { "/readyz", HEALTH__EP_READY },
    { "/started", HEALTH__EP_STARTED }, { "/startedz", HEALTH__EP_STARTED },
    { "/health", HEALTH__EP_HEALTH },   { "/healthz", HEALTH__EP_HEALTH },
};

/*
 * Maps @path ("/ready", "/readyz/postgres", ...) to an endpoint and, for a
 * per-check path, the check's name (pointing into @path).  Returns 0 or
 * -ENOENT.
 */
int health__route(const char *path, enum health__endpoint *ep,
                  const char **name)
{
    size_t i;
    size_t n;
    const char *rest;

    if (!path)
        return -ENOENT;
    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        n = strlen(routes[i].path);
        if (strncmp(path, routes[i].path, n) != 0)
            continue;
        rest = path + n;
        if (*rest == '\0' || (rest[0] == '/' && rest[1] == '\0')) {
            *ep = routes[i].ep;
            *name = NULL;
            return 0;
        }
        if (rest[0] == '/' && health__name_is_valid(rest + 1)) {
            *ep = routes[i].ep;
            *name = rest + 1;
            return 0;
        }
    }
    return -ENOENT;
}

/* Whether @path is the metrics endpoint ("/metrics" or "/metrics/"). */
bool health__route_metrics(const char *path)
{
    return path &&
           (strcmp(path, "/metrics") == 0 || strcmp(path, "/metrics/") == 0);
}
