/* h_prom.h - promtool for tests: finding it, and linting a metrics exposition with it. */
#ifndef STRATA_H_PROM_H
#define STRATA_H_PROM_H

#include <stdbool.h>

/* The promtool to run: $STRATA_PROMTOOL (CMake's find_program, set by CTest), else the one
 * ci/install-deps unpacks (/var/cache/strata-ci/prometheus/usr/bin), else `promtool` on PATH.
 * NULL when none runs, after saying on stderr how to get one. */
const char *h_promtool(void);
/* Whether a missing promtool may skip a test: only when STRATA_TEST_NO_PROMTOOL is set (CI
 * never sets it, so there a missing promtool fails). */
bool h_promtool_may_skip(void);
/* For a cmocka test: h_promtool(), else the test skips (h_promtool_may_skip) or fails. */
const char *h_promtool_or_skip(void);

/* `promtool check metrics` on a scrape (an HTTP response's head, if present, is cut off first),
 * through a file in dir. Returns promtool's exit status (0: clean) and its complaints in
 * *out (malloc'd, never NULL). */
int h_promtool_check_metrics(const char *promtool, const char *scrape, const char *dir, char **out);

#endif
