/* SPDX-License-Identifier: MIT */
/*
 * fuzz_accept: health__metrics_openmetrics() on arbitrary Accept headers.
 *
 * The header is the fuzz input up to its first NUL, in a buffer of
 * exactly that size, so ASan sees any read past the terminator.  Checks,
 * from the content negotiation rules of RFC 9110 section 12.5.1 as the
 * metrics endpoint applies them: a header that never names
 * application/openmetrics-text (in any case) never selects OpenMetrics;
 * appending a range with q=0 ("not acceptable") changes nothing; and
 * appending
 * ", application/openmetrics-text;q=1" to a header that names no text type
 * always selects it.
 */
#include "health-internal.h"
#include "fuzz-util.h"

#include <strings.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool names(const char *s, const char *what)
{
    size_t n = strlen(what);

    for (; *s; s++)
        if (strncasecmp(s, what, n) == 0)
            return true;
    return false;
}

static char *joined(const char *a, const char *b)
{
    size_t na = strlen(a);
    size_t nb = strlen(b);
    char *s = malloc(na + nb + 1);

    FUZZ_CHECK(s != NULL);
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = strnlen((const char *)data, size);
    char *accept = malloc(len + 1);
    char *more;
    bool want;

    FUZZ_CHECK(accept != NULL);
    memcpy(accept, data, len);
    accept[len] = '\0';

    if (!names(accept, "openmetrics"))
        FUZZ_CHECK(!health__metrics_openmetrics(accept));

    want = health__metrics_openmetrics(accept);
    more = joined(accept, ", text/plain;q=0");
    FUZZ_CHECK(health__metrics_openmetrics(more) == want);
    free(more);
    more = joined(accept, ", application/openmetrics-text;q=0");
    FUZZ_CHECK(health__metrics_openmetrics(more) == want);
    free(more);

    if (!names(accept, "text/") && !names(accept, "*/*")) {
        more = joined(accept, ", application/openmetrics-text;q=1");
        FUZZ_CHECK(health__metrics_openmetrics(more));
        free(more);
    }
    free(accept);
    return 0;
}
