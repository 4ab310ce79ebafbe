/* SPDX-License-Identifier: MIT */
/* What the ready-made checks (checks.c, checks_sys.c) share. */
#ifndef HEALTH_CHECKS_INTERNAL_H
#define HEALTH_CHECKS_INTERNAL_H

#include <health/health.h>

#include <stdbool.h>
#include <stdint.h>

/* Registers @check with @run and @free_data filled in and @state as its
 * userdata.  On failure the caller still owns @state. */
int health__checks_register(health_t *h, const struct health_check *check,
                            health_check_fn *run, health_free_fn *free_data,
                            void *state);
/* Whether @check may be given to a constructor (run and free_data NULL). */
bool health__checks_usable(const health_t *h, const struct health_check *c);
/* The time a run may block, in ms: the check's effective timeout less a
 * tenth, at most 100 ms. */
unsigned health__checks_budget_ms(const health_t *h,
                                  const struct health_check *check);
/* Whether @v is a usable fraction threshold: finite, in [0, 1]. */
bool health__checks_fraction_ok(double v);
/* Formats @bytes as "12.3 MiB" into @buf. */
void health__checks_format_bytes(uint64_t bytes, char *buf, size_t size);

#endif /* HEALTH_CHECKS_INTERNAL_H */
