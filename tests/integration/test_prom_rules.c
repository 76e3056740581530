/* test_prom_rules.c - docs/alerts.yml, the alerting rules operators load: `promtool check rules`
 * accepts it, and `promtool test rules docs/alerts_test.yml` (series worked through for no
 * leader, a lagging node, low disk, a connectivity server cut from the directory, gateways not
 * live) passes; a copy with the lagging threshold raised fails those tests, so they test. A
 * missing promtool fails unless STRATA_TEST_NO_PROMTOOL is set (ci/install-deps provides it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h_prom.h"
#include "harness.h"

static const char *src(void)
{
    const char *s = getenv("STRATA_SRC");
    return s != NULL ? s : ".";
}

/* Run a shell command line; its status, its output (stdout and stderr) printed when it is not
 * `want_ok`. */
static int run_show(const char *cmd, int want_ok)
{
    char *out = NULL;
    int st = h_run(cmd, &out);
    if ((st == 0) != want_ok)
        fprintf(stderr, "%s\n-> %d\n%s\n", cmd, st, out != NULL ? out : "");
    free(out);
    return st;
}

static void test_check_rules(void **state)
{
    (void)state;
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' check rules '%s/docs/alerts.yml' 2>&1", h_promtool_or_skip(),
             src());
    assert_int_equal(run_show(cmd, 1), 0);
}

static void test_rule_unit_tests(void **state)
{
    (void)state;
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' test rules '%s/docs/alerts_test.yml' 2>&1",
             h_promtool_or_skip(), src());
    assert_int_equal(run_show(cmd, 1), 0);
}

/* The unit tests are not vacuous: with the lagging rule's threshold raised tenfold, the lagging
 * node of alerts_test.yml no longer fires when the test expects it, and promtool says so. */
static void test_broken_rule_fails(void **state)
{
    (void)state;
    const char *pt = h_promtool_or_skip();
    const char *dir = h_tmpdir("prom-rules");
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "cp '%s/docs/alerts_test.yml' '%s/' && sed 's/strata_dird_applied_index > 1000$/"
             "strata_dird_applied_index > 10000/' '%s/docs/alerts.yml' > '%s/alerts.yml' && "
             "! cmp -s '%s/docs/alerts.yml' '%s/alerts.yml'",
             src(), dir, src(), dir, src(), dir);
    assert_int_equal(run_show(cmd, 1), 0); /* the sed changed something */
    snprintf(cmd, sizeof(cmd), "'%s' test rules '%s/alerts_test.yml' 2>&1", pt, dir);
    char *out = NULL;
    assert_int_not_equal(h_run(cmd, &out), 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "StrataDirectoryNodeLagging"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_rules),
        cmocka_unit_test(test_rule_unit_tests),
        cmocka_unit_test(test_broken_rule_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
