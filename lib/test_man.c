/* test_man.c - man pages from flag tables: troff escaping, the page's sections, its flags with
 * their defaults, and --help-man answered by strata_flags_parse for tables that carry a
 * description (and refused as an unknown flag by those that do not). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "flags.h"
#include "log.h"
#include "man.h"

static const char *data_dir;
static uint64_t election_ms = 300;
static bool join;
static int log_level = -1;

static const struct strata_flags_about about = {
    .name = "strata-test",
    .section = 8,
    .summary = "a daemon for this test",
    .description = "First paragraph, about --data-dir.\n"
                   "\n"
                   ".starts with a dot and has a \\ backslash.\n"
                   "Example:\n"
                   "  strata-test --data-dir /d \\\n"
                   "      --join",
    .files = (const char *const[]){"/etc/strata/test.conf", "its flags", NULL},
    .see_also = "docs/test.md",
};

static const struct strata_flag tbl[] = {
    {"data-dir", STRATA_FLAG_STR, &data_dir, "DIR", "where it keeps state", true, 0, 0},
    {"election-ms", STRATA_FLAG_U64, &election_ms, "MS", "election timeout", false, 20, 0},
    {"join", STRATA_FLAG_BOOL, &join, NULL, "wait to be added", false, 0, 0},
    STRATA_LOG_FLAG_ROW(&log_level),
    STRATA_FLAGS_END_ABOUT(&about),
};

static const struct strata_flag plain[] = {
    {"join", STRATA_FLAG_BOOL, &join, NULL, "wait to be added", false, 0, 0},
    STRATA_FLAGS_END,
};

/* What `fn` prints (free it). */
static char *printed(void (*fn)(FILE *, const void *), const void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fn(f, arg);
    fclose(f);
    return buf;
}

static void p_escape(FILE *f, const void *s)
{
    strata_man_escape(f, s);
}

static void p_text(FILE *f, const void *s)
{
    strata_man_text(f, s);
}

static void p_man(FILE *f, const void *t)
{
    assert_int_equal(strata_flags_man(f, t), 0);
}

static void test_escape(void **state)
{
    (void)state;
    char *s = printed(p_escape, ".TH not a request");
    assert_string_equal(s, "\\&.TH not a request");
    free(s);
    s = printed(p_escape, "'quote");
    assert_string_equal(s, "\\&'quote");
    free(s);
    /* Dashes of flags are minus signs (they copy as typed); a hyphen inside a word stays. */
    s = printed(p_escape, "use --data-dir, not -x; 1-2x a well-known \\n");
    assert_string_equal(s, "use \\-\\-data\\-dir, not \\-x; 1-2x a well-known \\en");
    free(s);
}

static void test_text_paragraphs_and_examples(void **state)
{
    (void)state;
    char *s = printed(p_text, "one\ntwo\n\nthree\n  ex --a \\\n      b\nafter");
    assert_string_equal(s, "one\ntwo\n.PP\nthree\n.PP\n.RS 4\n.nf\nex \\-\\-a \\e\n    b\n"
                           ".fi\n.RE\nafter\n");
    free(s);
}

static void test_page(void **state)
{
    (void)state;
    data_dir = NULL;
    election_ms = 300;
    char *s = printed(p_man, tbl);
    assert_non_null(strstr(s, ".TH STRATA\\-TEST 8 "));
    assert_non_null(strstr(s, ".SH NAME\nstrata\\-test \\- a daemon for this test\n"));
    /* The synopsis names the required flags. */
    assert_non_null(
        strstr(s, ".SH SYNOPSIS\n.B strata\\-test\n.BI \"\\-\\-data\\-dir\" \" DIR\"\n"));
    /* Every flag tagged, with its help and its default or (required). */
    assert_non_null(strstr(s, ".TP\n.BI \"\\-\\-data\\-dir\" \" DIR\"\nwhere it keeps state "
                              "(required)\n"));
    assert_non_null(strstr(s, ".TP\n.BI \"\\-\\-election\\-ms\" \" MS\"\nelection timeout "
                              "(default: 300)\n"));
    assert_non_null(strstr(s, ".TP\n.B \"\\-\\-join\"\nwait to be added\n"));
    assert_non_null(strstr(s, ".B \"\\-\\-help\\-man\"\n"));
    assert_non_null(strstr(s, "(default: $STRATA_LOG_LEVEL, else info)"));
    /* The description, escaped; the log-level row brings STRATA_LOG_LEVEL to ENVIRONMENT. */
    assert_non_null(strstr(s, ".SH DESCRIPTION\nFirst paragraph, about \\-\\-data\\-dir.\n.PP\n"
                              "\\&.starts with a dot and has a \\e backslash.\n"));
    assert_non_null(strstr(s, ".SH ENVIRONMENT\n.TP\n.B STRATA_LOG_LEVEL\n"));
    assert_non_null(strstr(s, ".SH FILES\n.TP\n.B /etc/strata/test.conf\nits flags\n"));
    /* SEE ALSO: every program, and what the program adds. */
    assert_non_null(strstr(s, ".SH SEE ALSO\n.BR strata (1),\n.BR strata\\-dird (8),\n"));
    assert_non_null(strstr(s, "docs/test.md"));
    free(s);

    /* The defaults shown are those the table's destinations hold when the page is printed. */
    election_ms = 1234;
    s = printed(p_man, tbl);
    assert_non_null(strstr(s, "(default: 1234)"));
    free(s);

    FILE *f = fopen("/dev/null", "w");
    assert_int_equal(strata_flags_man(f, plain), STRATA_EINVAL); /* nothing to say */
    fclose(f);
}

/* argv for a parse: "prog" then args. */
static int parse(const struct strata_flag *t, const char *const *args, struct strata_err *e)
{
    static char *argv[16];
    int argc = 0, argi = 1;
    argv[argc++] = "prog";
    for (; *args != NULL; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return strata_flags_parse(t, argc, argv, &argi, e);
}

/* --help-man answers before anything else is judged (the required --data-dir is missing): the
 * page on stdout, exit status 0. */
static void test_help_man_flag(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        struct strata_err e;
        parse(tbl, (const char *const[]){"--join", "--help-man", NULL}, &e);
        _exit(99); /* not reached: --help-man exits */
    }
    close(fds[1]);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    char buf[4096];
    ssize_t r;
    while ((r = read(fds[0], buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)r, m);
    fclose(m);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(out, ".SH OPTIONS\n"));
    assert_non_null(strstr(out, "strata\\-test \\- a daemon for this test"));
    free(out);

    /* A table without a description (a CLI subcommand's) does not know the flag. */
    struct strata_err e = {0};
    assert_int_equal(parse(plain, (const char *const[]){"--help-man", NULL}, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "unknown flag --help-man"));
    assert_ptr_equal(strata_flags_about(tbl), &about);
    assert_null(strata_flags_about(plain));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_text_paragraphs_and_examples),
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_help_man_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
