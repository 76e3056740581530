/* test_view.c - a list view's table and JSON come from the same columns and cells. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "view.h"

static const struct cli_col COLS[] = {
    {"ID", "id", CLI_COL_STR}, {"IPS", "ips", CLI_COL_STRS}, {"VERSION", "version", CLI_COL_U64}};

/* Print two rows (the second with no IPs and no id) as the view would, JSON or not. */
static char *print(bool json)
{
    char *buf = NULL;
    size_t len = 0;
    struct cli_ctx ctx = {.json = json, .out = open_memstream(&buf, &len)};
    assert_non_null(ctx.out);
    static const char *const ips[] = {"10.1.0.5", "fd00::5"};
    struct cli_view v;
    cli_view_begin(&v, &ctx, COLS, CLI_NCOLS(COLS), "things", 42);
    cli_view_row(&v, (const struct cli_cell[]){{.s = "h1"}, {.strs = ips, .n = 2}, {.u = 7}});
    cli_view_row(&v, (const struct cli_cell[]){{.s = NULL}, {.n = 0}, {.u = 12345}});
    cli_view_end(&v);
    fclose(ctx.out);
    return buf;
}

static void test_table(void **state)
{
    (void)state;
    char *out = print(false);
    assert_string_equal(out, "ID  IPS               VERSION\n"
                             "h1  10.1.0.5,fd00::5  7\n"
                             "-   -                 12345\n");
    free(out);
}

static void test_json(void **state)
{
    (void)state;
    char *out = print(true);
    assert_string_equal(out, "{\"applied_index\":42,\"things\":["
                             "{\"id\":\"h1\",\"ips\":[\"10.1.0.5\",\"fd00::5\"],\"version\":7},"
                             "{\"id\":null,\"ips\":[],\"version\":12345}]}\n");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
