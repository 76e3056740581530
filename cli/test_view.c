/* test_view.c - a view's table and JSON come from the same columns and cells. */
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

/* The kinds `gateway list`, `cluster status` and `cache show` need: numbers, booleans, nested
 * rows, null and left-out keys, top-level keys besides the array, and a name: value section. */
static const struct cli_col SUB[] = {{"VNI", "vni", CLI_COL_U64}, {"IPS", "ips", CLI_COL_STRS}};
static const struct cli_col RICH[] = {
    {"ID", "id", CLI_COL_STR},      {"VNIS", "vnis", CLI_COL_U32S},
    {"LIVE", "live", CLI_COL_BOOL}, {"HOLDS", "holds", CLI_COL_ROWS},
    {"TERM", "term", CLI_COL_U64},  {"ERROR", "error", CLI_COL_STR | CLI_COL_OPTIONAL}};
static const struct cli_col COUNTERS[] = {{"COUNTER", "name", CLI_COL_NAME},
                                          {"VALUE", "value", CLI_COL_U64}};

static char *print_rich(bool json)
{
    char *buf = NULL;
    size_t len = 0;
    struct cli_ctx ctx = {.json = json, .out = open_memstream(&buf, &len)};
    assert_non_null(ctx.out);
    static const struct cli_col top_cols[] = {{NULL, "leader", CLI_COL_U64},
                                              {NULL, "source", CLI_COL_STR}};
    const struct cli_cell top_cells[] = {{.null = true}, {.s = "here"}};
    const struct cli_view_top top = {"title line", top_cols, 2, top_cells};
    static const uint32_t vnis[] = {100, 200};
    static const char *const ips[] = {"10.1.0.1", "fd00::1"};
    const struct cli_cell holds[] = {{.u = 100}, {.strs = ips, .n = 2}, {.u = 200}, {.n = 0}};
    struct cli_view v;
    cli_view_begin_top(&v, &ctx, &top, RICH, CLI_NCOLS(RICH), "things");
    cli_view_row(&v, (const struct cli_cell[]){{.s = "g1"},
                                               {.u32s = vnis, .n = 2},
                                               {.b = true},
                                               {.sub = SUB, .nsub = 2, .rows = holds, .n = 2},
                                               {.u = 3},
                                               {.s = NULL}});
    cli_view_row(&v,
                 (const struct cli_cell[]){
                     {.s = "g2"}, {.n = 0}, {.b = false}, {.n = 0}, {.null = true}, {.s = "down"}});
    cli_view_next(&v, COUNTERS, CLI_NCOLS(COUNTERS), "counters");
    cli_view_row(&v, (const struct cli_cell[]){{.s = "hits"}, {.u = 5}});
    cli_view_row(&v, (const struct cli_cell[]){{.s = "misses"}, {.u = 0}});
    cli_view_end(&v);
    fclose(ctx.out);
    return buf;
}

static void test_rich_table(void **state)
{
    (void)state;
    char *out = print_rich(false);
    assert_string_equal(out, "title line\n"
                             "ID  VNIS     LIVE  HOLDS                       TERM  ERROR\n"
                             "g1  100,200  yes   100:10.1.0.1,fd00::1 200:-  3     -\n"
                             "g2  -        no    -                           -     down\n"
                             "\n"
                             "COUNTER  VALUE\n"
                             "hits     5\n"
                             "misses   0\n");
    free(out);
}

static void test_rich_json(void **state)
{
    (void)state;
    char *out = print_rich(true);
    assert_string_equal(out, "{\"leader\":null,\"source\":\"here\",\"things\":["
                             "{\"id\":\"g1\",\"vnis\":[100,200],\"live\":true,\"holds\":["
                             "{\"vni\":100,\"ips\":[\"10.1.0.1\",\"fd00::1\"]},"
                             "{\"vni\":200,\"ips\":[]}],\"term\":3},"
                             "{\"id\":\"g2\",\"vnis\":[],\"live\":false,\"holds\":[],"
                             "\"term\":null,\"error\":\"down\"}],"
                             "\"counters\":{\"hits\":5,\"misses\":0}}\n");
    free(out);
}

/* One object alone (`resolve`): a KEY VALUE table, or the object. */
static char *print_record(bool json)
{
    char *buf = NULL;
    size_t len = 0;
    struct cli_ctx ctx = {.json = json, .out = open_memstream(&buf, &len)};
    assert_non_null(ctx.out);
    static const char *const ips[] = {"10.1.0.5"};
    cli_view_record(&ctx, COLS, CLI_NCOLS(COLS),
                    (const struct cli_cell[]){{.s = NULL}, {.strs = ips, .n = 1}, {.u = 9}});
    fclose(ctx.out);
    return buf;
}

static void test_record(void **state)
{
    (void)state;
    char *out = print_record(false);
    assert_string_equal(out, "KEY      VALUE\n"
                             "ID       -\n"
                             "IPS      10.1.0.5\n"
                             "VERSION  9\n");
    free(out);
    out = print_record(true);
    assert_string_equal(out, "{\"id\":null,\"ips\":[\"10.1.0.5\"],\"version\":9}\n");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),     cmocka_unit_test(test_json),
        cmocka_unit_test(test_record),    cmocka_unit_test(test_rich_table),
        cmocka_unit_test(test_rich_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
