/* test_out.c - the CLI's JSON emitter (escaping, nesting, UTF-8 safety) and table layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "out.h"

/* Run fn(f, arg) against a memory stream and return what it wrote (malloc'd). */
static char *capture_escape(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    cli_json_escape(f, s);
    fclose(f);
    return buf;
}

static void test_json_escape(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", "\"\""},
        {"plain", "\"plain\""},
        {"say \"hi\"", "\"say \\\"hi\\\"\""},
        {"back\\slash", "\"back\\\\slash\""},
        {"a\nb\rc\td", "\"a\\nb\\rc\\td\""},
        {"\b\f", "\"\\b\\f\""},
        {"\x01\x1f", "\"\\u0001\\u001f\""},
        {"/ stays", "\"/ stays\""},
        /* valid UTF-8 passes through: e-acute, euro sign, U+1F600 */
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        /* invalid bytes become U+FFFD: a lone continuation, a truncated sequence, an overlong
         * '/', a UTF-16 surrogate, and 0xff */
        {"a\x80z", "\"a\\ufffdz\""},
        {"\xe2\x82", "\"\\ufffd\\ufffd\""},
        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
        {"\xff", "\"\\ufffd\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = capture_escape(cases[i].in);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

static void test_json_nesting(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct cli_json j;
    cli_json_init(&j, f);
    cli_json_obj_begin(&j, NULL);
    cli_json_null(&j, "leader");
    cli_json_arr_begin(&j, "members");
    cli_json_obj_begin(&j, NULL);
    cli_json_u64(&j, "id", 1);
    cli_json_str(&j, "role", "leader");
    cli_json_obj_end(&j);
    cli_json_obj_begin(&j, NULL);
    cli_json_u64(&j, "id", 18446744073709551615ull);
    cli_json_str(&j, "api", NULL);
    cli_json_bool(&j, "ok", false);
    cli_json_i64(&j, "neg", -7);
    cli_json_obj_end(&j);
    cli_json_arr_end(&j);
    cli_json_arr_begin(&j, "empty");
    cli_json_arr_end(&j);
    cli_json_obj_begin(&j, "counters");
    cli_json_u64(&j, "a\"b", 2);
    cli_json_obj_end(&j);
    cli_json_obj_end(&j);
    cli_json_finish(&j);
    fclose(f);
    assert_string_equal(buf, "{\"leader\":null,\"members\":[{\"id\":1,\"role\":\"leader\"},"
                             "{\"id\":18446744073709551615,\"api\":null,\"ok\":false,\"neg\":-7}],"
                             "\"empty\":[],\"counters\":{\"a\\\"b\":2}}\n");
    free(buf);
}

static void test_table_alignment(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    static const char *const hdr[] = {"VNI", "NAME", "V"};
    struct cli_table *t = cli_table_new(3, hdr);
    const char *r1[] = {"100", "blue", "7"};
    const char *r2[] = {"16777215", NULL, ""};
    cli_table_row(t, r1);
    cli_table_row(t, r2);
    cli_table_print(t, f);
    cli_table_free(t);
    fclose(f);
    /* Columns padded to the widest cell plus two blanks; empty cells print "-"; no trailing
     * blanks. */
    assert_string_equal(buf, "VNI       NAME  V\n"
                             "100       blue  7\n"
                             "16777215  -     -\n");
    free(buf);
}

static void test_field_formats(void **state)
{
    (void)state;
    char buf[64];
    uint8_t v4[4] = {10, 1, 0, 7};
    uint8_t mac[6] = {0x02, 0, 0, 0, 0xab, 0x01};
    ProtobufCBinaryData b4 = {4, v4}, bm = {6, mac}, empty = {0, NULL}, bad = {3, v4};
    assert_string_equal(cli_fmt_ip(&b4, buf), "10.1.0.7");
    assert_string_equal(cli_fmt_ip(&empty, buf), "-");
    assert_string_equal(cli_fmt_ip(&bad, buf), "?");
    assert_string_equal(cli_fmt_mac(&bm, buf), "02:00:00:00:ab:01");
    assert_string_equal(cli_fmt_mac(&bad, buf), "?");
    ProtobufCBinaryData two[2] = {{4, v4}, {4, v4}};
    assert_string_equal(cli_fmt_ips(two, 2, buf, sizeof(buf)), "10.1.0.7,10.1.0.7");
    assert_string_equal(cli_fmt_ips(two, 2, buf, 12), "10.1.0.7...");
    assert_string_equal(cli_verdict_name(STRATA__V1__VERDICT__VERDICT_ALLOW), "allow");
    assert_string_equal(cli_verdict_name(STRATA__V1__VERDICT__VERDICT_DENY), "deny");
    assert_string_equal(cli_verdict_name(STRATA__V1__VERDICT__VERDICT_UNKNOWN), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_json_nesting),
        cmocka_unit_test(test_table_alignment),
        cmocka_unit_test(test_field_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
