/* SPDX-License-Identifier: MIT */
/* The bounded setters a check callback describes its result with. */
#include "health-internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
