/* SPDX-License-Identifier: MIT */
/* Clocks: monotonic time for schedules and deadlines, wall time for the
 * times reports show, and their RFC 3339 form. */
#include "health-internal.h"

#include <stdio.h>
#include <time.h>

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
