/* test_err.c - the error table, error objects and the logfmt logger. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "log.h"

static void test_every_code_has_distinct_name_and_text(void **state)
{
    (void)state;
    for (int c = 0; c >= STRATA_ECODE_MIN; c--) {
        const char *n = strata_errname(c), *t = strata_strerror(c);
        assert_non_null(n);
        assert_non_null(t);
        assert_string_not_equal(n, "EUNKNOWN");
        assert_string_not_equal(t, "unknown error");
        for (int d = c - 1; d >= STRATA_ECODE_MIN; d--) {
            assert_string_not_equal(n, strata_errname(d));
            assert_string_not_equal(t, strata_strerror(d));
        }
    }
    assert_string_equal(strata_errname(STRATA_EINVAL), "EINVAL");
    assert_string_equal(strata_errname(STRATA_ENOTLEADER), "ENOTLEADER");
    assert_string_equal(strata_errname(STRATA_EINTERNAL), "EINTERNAL");
    assert_string_equal(strata_errname(STRATA_OK), "OK");
    assert_string_equal(strata_strerror(STRATA_EINVAL), "invalid argument");
}

static void test_unknown_codes(void **state)
{
    (void)state;
    static const int bad[] = {1, 42, STRATA_ECODE_MIN - 1, -1000, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_string_equal(strata_strerror(bad[i]), "unknown error");
        assert_string_equal(strata_errname(bad[i]), "EUNKNOWN");
    }
}

static void test_err_set_and_clear(void **state)
{
    (void)state;
    struct strata_err e;
    strata_err_clear(&e);
    assert_int_equal(e.code, 0);
    assert_string_equal(e.msg, "");
    assert_int_equal(strata_err_set(&e, STRATA_EINVAL, "bad VNI %s (%d)", "x", 7), STRATA_EINVAL);
    assert_int_equal(e.code, STRATA_EINVAL);
    assert_string_equal(e.msg, "bad VNI x (7)");
    /* control characters echoed from input are escaped: no terminal sequence, one line */
    strata_err_set(&e, STRATA_EINVAL, "domain \"%s\"", "a\033[31mred\nx\x7f");
    assert_string_equal(e.msg, "domain \"a\\x1b[31mred\\x0ax\\x7f\"");
    /* the message may quote itself: formatted apart, then copied */
    strata_err_set(&e, STRATA_EINVAL, "inner");
    strata_err_set(&e, STRATA_EINVAL, "--raft: %s", e.msg);
    assert_string_equal(e.msg, "--raft: inner");
    /* NULL is allowed and still returns the code. */
    assert_int_equal(strata_err_set(NULL, STRATA_EIO, "ignored %d", 1), STRATA_EIO);
    strata_err_clear(NULL);

    /* A message longer than the buffer is truncated, NUL-terminated, never overflows (ASan). */
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(strata_err_set(&e, STRATA_ETOOBIG, "%s%s", big, big), STRATA_ETOOBIG);
    assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
    strata_err_clear(&e);
    assert_int_equal(e.code, STRATA_OK);
    assert_string_equal(e.msg, "");
}

/* Run fn with stderr redirected to a temporary file; return what was written (malloc'd). */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/strata_test_err_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    fn();
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    assert_true(n >= 0);
    char *buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
    close(fd);
    return buf;
}

static void log_some(void)
{
    strata_log_init("dird/1", STRATA_LOG_INFO);
    LOG_DEBUG("hidden %d", 1);
    LOG_INFO("hello %s", "world");
    LOG_WARN("quote \" backslash \\ newline\nend\ttab");
    LOG_ERROR("ctrl \x01 done");
}

static void test_log_format(void **state)
{
    (void)state;
    char *out = capture_stderr(log_some);
    /* Three lines: debug is below the level. */
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3);
    assert_null(strstr(out, "hidden"));

    char *l1 = out, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
    assert_memory_equal(l1, "ts=", 3);
    assert_int_equal(l1[7], '-');
    assert_int_equal(l1[13], 'T');
    assert_int_equal(l1[22], '.');
    assert_int_equal(l1[26], 'Z');
    assert_int_equal(l1[27], ' ');
    assert_memory_equal(l1 + 28, "level=info comp=dird/1 msg=\"hello world\"\n", 41);
    assert_non_null(strstr(l2, "level=warn comp=dird/1 "
                               "msg=\"quote \\\" backslash \\\\ newline\\nend\\ttab\"\n"));
    assert_non_null(strstr(l3, "level=error comp=dird/1 msg=\"ctrl \\x01 done\"\n"));
    free(out);
}

static void log_env_level(void)
{
    setenv("STRATA_LOG_LEVEL", "error", 1);
    strata_log_init("t", -1);
    LOG_WARN("not shown");
    LOG_ERROR("shown");
    setenv("STRATA_LOG_LEVEL", "debug", 1);
    strata_log_init("t", -1);
    LOG_DEBUG("debug shown");
    unsetenv("STRATA_LOG_LEVEL");
    strata_log_init("t", -1);
    LOG_DEBUG("default hides debug");
    LOG_INFO("default shows info");
}

static void test_log_env_level(void **state)
{
    (void)state;
    char *out = capture_stderr(log_env_level);
    assert_null(strstr(out, "not shown"));
    assert_non_null(strstr(out, "msg=\"shown\""));
    assert_non_null(strstr(out, "msg=\"debug shown\""));
    assert_null(strstr(out, "default hides debug"));
    assert_non_null(strstr(out, "msg=\"default shows info\""));
    free(out);
}

#define LOG_THREADS 4
#define LOG_PER_THREAD 300

static void *log_thread(void *arg)
{
    long id = (long)arg;
    /* Long-ish lines make interleaving likely if the logger were not line-atomic. */
    char pad[300];
    memset(pad, 'a' + (int)id, sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (int i = 0; i < LOG_PER_THREAD; i++)
        LOG_INFO("t%ld i%d %s", id, i, pad);
    return NULL;
}

static void log_threads(void)
{
    strata_log_init("mt", STRATA_LOG_INFO);
    pthread_t th[LOG_THREADS];
    for (long i = 0; i < LOG_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, log_thread, (void *)i), 0);
    for (int i = 0; i < LOG_THREADS; i++)
        pthread_join(th[i], NULL);
}

static void test_log_threads_never_interleave(void **state)
{
    (void)state;
    char *out = capture_stderr(log_threads);
    int lines = 0;
    char *save = NULL;
    for (char *l = strtok_r(out, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        lines++;
        assert_memory_equal(l, "ts=", 3);
        assert_non_null(strstr(l, " level=info comp=mt msg=\"t"));
        size_t n = strlen(l);
        assert_int_equal(l[n - 1], '"');
        /* Exactly one padding run of one letter: 299 identical characters before the quote. */
        char c = l[n - 2];
        for (size_t k = n - 300; k < n - 1; k++)
            assert_int_equal(l[k], c);
        assert_int_equal(l[n - 301], ' ');
    }
    assert_int_equal(lines, LOG_THREADS * LOG_PER_THREAD);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_distinct_name_and_text),
        cmocka_unit_test(test_unknown_codes),
        cmocka_unit_test(test_err_set_and_clear),
        cmocka_unit_test(test_log_format),
        cmocka_unit_test(test_log_env_level),
        cmocka_unit_test(test_log_threads_never_interleave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
