/* h_prom.c - see h_prom.h. */
#include "h_prom.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define H_PROM_CI_DIR "/var/cache/strata-ci/prometheus/usr/bin/promtool"

static bool h_prom_runs(const char *path)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "'%s' --version >/dev/null 2>&1", path);
    return h_run(cmd, NULL) == 0;
}

const char *h_promtool(void)
{
    static char found[1024];
    if (found[0] != '\0')
        return found;
    const char *env = getenv("STRATA_PROMTOOL");
    const char *cand[] = {env, H_PROM_CI_DIR, "promtool"};
    for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
        /* CMake writes STRATA_PROMTOOL-NOTFOUND when its search failed. */
        if (cand[i] == NULL || cand[i][0] == '\0' || strstr(cand[i], "NOTFOUND") != NULL ||
            strchr(cand[i], '\'') != NULL || strlen(cand[i]) >= sizeof(found))
            continue;
        if (h_prom_runs(cand[i])) {
            snprintf(found, sizeof(found), "%s", cand[i]);
            return found;
        }
    }
    fprintf(stderr,
            "promtool not found (STRATA_PROMTOOL=%s, %s, PATH): run ci/install-deps as root, "
            "which unpacks Debian's prometheus package's promtool without installing the "
            "server, or set STRATA_PROMTOOL=PATH; STRATA_TEST_NO_PROMTOOL=1 skips this test\n",
            env != NULL ? env : "(unset)", H_PROM_CI_DIR);
    return NULL;
}

bool h_promtool_may_skip(void)
{
    const char *v = getenv("STRATA_TEST_NO_PROMTOOL");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

int h_promtool_check_metrics(const char *promtool, const char *scrape, const char *dir, char **out)
{
    static unsigned seq;
    const char *body = strstr(scrape, "\r\n\r\n");
    body = strncmp(scrape, "HTTP/", 5) == 0 && body != NULL ? body + 4 : scrape;
    char path[1024], cmd[2400];
    snprintf(path, sizeof(path), "%s/scrape-%u.prom", dir, seq++);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(body, f) < 0 || fclose(f) != 0) {
        *out = strdup("cannot write the scrape to a file");
        return -1;
    }
    snprintf(cmd, sizeof(cmd), "'%s' check metrics < '%s' 2>&1", promtool, path);
    *out = NULL;
    int st = h_run(cmd, out);
    if (*out == NULL)
        *out = strdup("");
    return st;
}

const char *h_promtool_or_skip(void)
{
    const char *p = h_promtool();
    if (p == NULL && h_promtool_may_skip())
        skip();
    if (p == NULL)
        fail_msg("promtool missing (see above)");
    return p;
}
