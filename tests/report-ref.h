/* SPDX-License-Identifier: MIT */
/* The reference JSON report (tests/report-ref.c). */
#ifndef HEALTH_REPORT_REF_H
#define HEALTH_REPORT_REF_H

#include "health-internal.h"

/* How much of the report the trim kept (lib/report.c's enum trim). */
enum trim {
    TRIM_NONE,
    TRIM_PASSING_OUTPUTS,
    TRIM_PASSING_CHECKS,
    TRIM_ALL_OUTPUTS,
    TRIM_CHECKS
};

/* The body health__report_json() returned when reports were built with
 * cJSON, and the trim level it took; release it with cJSON_free().
 * Aborts when cJSON fails to allocate. */
char *ref_report_json(const struct health__snapshot *snap,
                      const struct health__query *q,
                      const struct health__config *cfg, health_status_t *status,
                      enum trim *trim);

#endif /* HEALTH_REPORT_REF_H */
