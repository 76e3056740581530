/* test_backup.c - the backup file: what is encoded decodes back; any flipped byte, any cut, a
 * different version or magic is refused with a message naming the fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup.h"

static uint8_t *sample(size_t *len)
{
    static uint8_t state[3000];
    for (size_t i = 0; i < sizeof(state); i++)
        state[i] = (uint8_t)(i * 7);
    Strata__V1__BackupInfo info = STRATA__V1__BACKUP_INFO__INIT;
    info.index = 4242;
    info.term = 3;
    info.node_id = 2;
    info.objects = 17;
    info.cli_version = "0.0-test";
    uint8_t *buf;
    struct strata_err e;
    assert_int_equal(strata_backup_encode(&info, state, sizeof(state), &buf, len, &e), 0);
    return buf;
}

static void test_roundtrip(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = sample(&len);
    struct strata_backup b;
    struct strata_err e;
    assert_int_equal(strata_backup_decode(buf, len, &b, &e), 0);
    assert_int_equal(b.info->index, 4242);
    assert_int_equal(b.info->term, 3);
    assert_int_equal(b.info->objects, 17);
    assert_int_equal(b.state_len, 3000);
    assert_int_equal(b.state[10], 70);
    strata_backup_free(&b); /* takes buf */
}

static void test_every_flipped_byte_refused(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = sample(&len);
    struct strata_backup b;
    struct strata_err e;
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x20;
        int rc = strata_backup_decode(buf, len, &b, &e);
        if (rc == 0)
            fail_msg("byte %zu flipped: accepted", i);
        assert_int_equal(rc, STRATA_EPROTO);
        buf[i] ^= 0x20;
    }
    free(buf);
}

static void test_every_cut_refused(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = sample(&len);
    struct strata_backup b;
    struct strata_err e;
    for (size_t n = 0; n < len; n++) {
        if (strata_backup_decode(buf, n, &b, &e) == 0)
            fail_msg("cut to %zu of %zu bytes: accepted", n, len);
        if (n > 200)
            assert_non_null(strstr(e.msg, "truncated"));
    }
    free(buf);
}

static void test_version_and_magic(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = sample(&len);
    struct strata_backup b;
    struct strata_err e;
    buf[8] = 2;
    assert_int_equal(strata_backup_decode(buf, len, &b, &e), STRATA_EPROTO);
    assert_non_null(strstr(e.msg, "version 2"));
    buf[8] = 1;
    buf[0] = 'X';
    assert_int_equal(strata_backup_decode(buf, len, &b, &e), STRATA_EPROTO);
    assert_non_null(strstr(e.msg, "not a strata directory backup"));
    free(buf);
}

static void test_read_missing_file(void **state)
{
    (void)state;
    struct strata_backup b;
    struct strata_err e;
    assert_int_equal(strata_backup_read("/nonexistent/strata.bak", &b, &e), STRATA_EIO);
    assert_non_null(strstr(e.msg, "/nonexistent/strata.bak"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),         cmocka_unit_test(test_every_flipped_byte_refused),
        cmocka_unit_test(test_every_cut_refused), cmocka_unit_test(test_version_and_magic),
        cmocka_unit_test(test_read_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
