/* SPDX-License-Identifier: MIT */
/* Check results: the bounded setters a callback uses, text sanitising, and
 * the clocks results are stamped with. */
#include "health-internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void health_result_setf(health_result_t *result, const char *fmt, ...)
{
    va_list ap;

    if (!result || !fmt)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(result->output, sizeof(result->output), fmt, ap);
    va_end(ap);
}

void health_result_set_output(health_result_t *result, const char *text)
{
    size_t n;

    if (!result || !text)
        return;
    n = strnlen(text, sizeof(result->output) - 1);
    memcpy(result->output, text, n);
    result->output[n] = '\0';
}

void health_result_set_observed(health_result_t *result, double value,
                                const char *unit)
{
    if (!result || !isfinite(value))
        return;
    result->observed = value;
    result->has_observed = true;
    if (unit)
        (void)snprintf(result->unit, sizeof(result->unit), "%s", unit);
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    (void)clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t health__mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t health__mono_coarse_ms(void)
{
#ifdef CLOCK_MONOTONIC_COARSE
    return clock_ns(CLOCK_MONOTONIC_COARSE) / 1000000;
#else
    return clock_ns(CLOCK_MONOTONIC) / 1000000;
#endif
}

int64_t health__wall_ms(void)
{
    return clock_ns(CLOCK_REALTIME) / 1000000;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one:
 * overlong forms, surrogates and code points past U+10FFFF are invalid. */
static size_t utf8_seq_len(const unsigned char *s)
{
    size_t n;
    size_t i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    cp = s[0] & (0x7fu >> n);
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* Makes s valid UTF-8 without control characters, in place: each invalid
 * byte becomes '?', each control character a space.  Never lengthens s. */
void health__sanitize_text(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n;

    while (*p) {
        n = utf8_seq_len(p);
        if (n == 0) {
            *p++ = '?';
            continue;
        }
        if (n == 1 && (*p < 0x20 || *p == 0x7f))
            *p = ' ';
        p += n;
    }
}

/* RFC 3339 in UTC with milliseconds: 2026-11-28T02:11:30.123Z. */
void health__format_time(int64_t wall_ms, char *buf, size_t size)
{
    time_t secs = (time_t)(wall_ms / 1000);
    int64_t ms = wall_ms % 1000;
    struct tm tm;

    if (ms < 0) { /* before 1970: round down, not toward zero */
        ms += 1000;
        secs--;
    }

    if (!gmtime_r(&secs, &tm)) {
        (void)snprintf(buf, size, "1970-01-01T00:00:00.000Z");
        return;
    }
    (void)snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, (int)ms);
}
