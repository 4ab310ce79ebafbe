/* SPDX-License-Identifier: MIT */
/*
 * fuzz_route: health__route() on arbitrary request paths.
 *
 * The path is the fuzz input up to its first NUL, in a buffer of exactly
 * that size, so ASan sees any read past the terminator.  Checks: the
 * result is 0 or -ENOENT; on 0 the endpoint is one of the four, and a
 * per-check name points into the path and is valid.  The result is also
 * compared with a reference router written differently (split at the
 * second '/', look the prefix up, check the rest against the name rule
 * [a-z0-9_.-]{1,63} with strspn()).
 */
#include "health-internal.h"
#include "fuzz-util.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    const char *prefix;
    enum health__endpoint ep;
} known[] = {
    { "live", HEALTH__EP_LIVE },       { "livez", HEALTH__EP_LIVE },
    { "ready", HEALTH__EP_READY },     { "readyz", HEALTH__EP_READY },
    { "started", HEALTH__EP_STARTED }, { "startedz", HEALTH__EP_STARTED },
    { "health", HEALTH__EP_HEALTH },   { "healthz", HEALTH__EP_HEALTH },
};

/* A check name as design.md section 4 gives it: [a-z0-9_.-]{1,63}. */
static bool reference_name(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= 63 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* The reference: "/<prefix>", "/<prefix>/" or "/<prefix>/<valid name>". */
static int reference_route(const char *path, enum health__endpoint *ep,
                           const char **name)
{
    const char *slash;
    size_t n;
    size_t i;

    if (path[0] != '/')
        return -ENOENT;
    slash = strchr(path + 1, '/');
    n = slash ? (size_t)(slash - path - 1) : strlen(path + 1);
    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strlen(known[i].prefix) != n ||
            memcmp(known[i].prefix, path + 1, n) != 0)
            continue;
        *ep = known[i].ep;
        *name = NULL;
        if (!slash || slash[1] == '\0')
            return 0;
        *name = slash + 1;
        return reference_name(slash + 1) ? 0 : -ENOENT;
    }
    return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t len = nul ? (size_t)(nul - data) : size;
    char *path = malloc(len + 1);
    enum health__endpoint ep = (enum health__endpoint) - 1;
    enum health__endpoint ref_ep = (enum health__endpoint) - 1;
    const char *name = (const char *)&ep; /* must be overwritten on 0 */
    const char *ref_name = NULL;
    int r;
    int ref;

    FUZZ_CHECK(path != NULL);
    memcpy(path, data, len);
    path[len] = '\0';

    r = health__route(path, &ep, &name);
    FUZZ_CHECK(r == 0 || r == -ENOENT);
    ref = reference_route(path, &ref_ep, &ref_name);
    FUZZ_CHECK(r == ref);
    if (r == 0) {
        FUZZ_CHECK(ep == HEALTH__EP_LIVE || ep == HEALTH__EP_READY ||
                   ep == HEALTH__EP_STARTED || ep == HEALTH__EP_HEALTH);
        FUZZ_CHECK(ep == ref_ep);
        FUZZ_CHECK(name == ref_name);
        if (name) {
            FUZZ_CHECK(name > path && name < path + len);
            FUZZ_CHECK(name[-1] == '/');
            FUZZ_CHECK(health__name_is_valid(name));
            FUZZ_CHECK(strlen(name) <= HEALTH_NAME_MAX);
        }
    }
    FUZZ_CHECK(health__route(NULL, &ep, &name) == -ENOENT);
    free(path);
    return 0;
}
