/* test_help_gen.c - strata(1) and the bash completion are generated from the command table:
 * every command and every one of its flags is in the page, and the completion (run by bash)
 * offers every group, every subcommand and every flag of every command, and files for FILE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

/* What fn prints, into *out (the caller frees it). */
static void gen(void (*fn)(FILE *), char **out)
{
    static size_t len;
    FILE *f = open_memstream(out, &len);
    assert_non_null(f);
    fn(f);
    fclose(f);
}

/* "vnet-create" as troff writes it in a tag: "vnet\-create". */
static void troff_dashes(const char *s, char *buf, size_t n)
{
    size_t o = 0;
    for (; *s && o + 3 < n; s++) {
        if (*s == '-')
            buf[o++] = '\\';
        buf[o++] = *s;
    }
    buf[o] = '\0';
}

static void test_man_has_every_command_and_flag(void **state)
{
    (void)state;
    char *page = NULL;
    gen(cli_help_man, &page);
    assert_non_null(strstr(page, ".TH STRATA 1 "));
    for (size_t i = 0; i < cli_ncmds; i++) {
        const struct cli_cmd *c = &cli_cmds[i];
        char name[64], want[256];
        cli_help_name(c, name, sizeof(name));
        snprintf(want, sizeof(want), ".SS \"strata %s\"\n", name);
        const char *sec = strstr(page, want);
        if (sec == NULL)
            fail_msg("strata(1) lacks the command %s", name);
        const char *next = strstr(sec + 1, "\n.SS ");
        for (const struct strata_flag *f = c->flags; f != NULL && f->name != NULL; f++) {
            char fl[64];
            troff_dashes(f->name, fl, sizeof(fl));
            snprintf(want, sizeof(want), "\"\\-\\-%s\"", fl);
            const char *hit = strstr(sec, want);
            if (hit == NULL || (next != NULL && hit > next))
                fail_msg("strata(1) lacks --%s under %s", f->name, name);
        }
    }
    for (const struct strata_flag *f = cli_global_flags; f->name != NULL; f++) {
        char fl[64], want[128];
        troff_dashes(f->name, fl, sizeof(fl));
        snprintf(want, sizeof(want), "\"\\-\\-%s\"", fl);
        assert_non_null(strstr(page, want));
    }
    /* Defaults are the built-in ones, not this environment's. */
    assert_non_null(strstr(page, "(default: " CLI_DIRECTORY_DEFAULT ")"));
    free(page);
}

static char script[] = "/tmp/strata-comp-XXXXXX";

/* What the completion offers for the words (the last one being completed). */
static char *complete(const char *words)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "bash -c 'source %s; COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
             "_strata; echo \" ${COMPREPLY[*]} \"'",
             script, words);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = NULL;
    size_t len = 0;
    if (getline(&out, &len, p) < 0) {
        free(out);
        out = strdup("");
    }
    assert_int_equal(pclose(p), 0);
    return out;
}

static int has_word(const char *out, const char *w)
{
    char want[128];
    snprintf(want, sizeof(want), " %s ", w);
    return strstr(out, want) != NULL;
}

static void test_completion_offers_the_table(void **state)
{
    (void)state;
    int fd = mkstemp(script);
    assert_true(fd >= 0);
    char *s = NULL;
    gen(cli_help_completion, &s);
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
    free(s);

    char *groups = complete("strata \"\"");
    for (size_t i = 0; i < cli_ncmds; i++) {
        const struct cli_cmd *c = &cli_cmds[i];
        if (!has_word(groups, c->group))
            fail_msg("completion of 'strata ' lacks %s: %s", c->group, groups);
        char words[512];
        if (c->sub != NULL) {
            snprintf(words, sizeof(words), "strata --json %s \"\"", c->group);
            char *subs = complete(words);
            if (!has_word(subs, c->sub))
                fail_msg("completion of 'strata %s ' lacks %s: %s", c->group, c->sub, subs);
            free(subs);
        }
        snprintf(words, sizeof(words), "strata %s %s --", c->group, c->sub ? c->sub : "");
        char *flags = complete(words);
        for (const struct strata_flag *f = c->flags; f != NULL && f->name != NULL; f++) {
            char fl[64];
            snprintf(fl, sizeof(fl), "--%s", f->name);
            if (!has_word(flags, fl))
                fail_msg("completion of '%s' lacks %s: %s", words, fl, flags);
        }
        assert_true(has_word(flags, "--directory")); /* global flags anywhere */
        free(flags);
    }
    free(groups);

    /* A value: files for --tls-ca (given as --flag value or --flag=value), the choices of a
     * positional, nothing for a name; a flag's value is not taken for the command. */
    char words[512];
    snprintf(words, sizeof(words), "strata --tls-ca %s", script);
    char *v = complete(words);
    assert_true(has_word(v, script));
    free(v);
    snprintf(words, sizeof(words), "strata --tls-ca = %s", script);
    v = complete(words);
    assert_true(has_word(v, script));
    free(v);
    v = complete("strata policy set --domain d \"\"");
    assert_string_equal(v, " allow deny \n");
    free(v);
    v = complete("strata vnet create --domain \"\"");
    assert_string_equal(v, "  \n");
    free(v);
    v = complete("strata --directory vnet \"\"");
    assert_true(has_word(v, "vnet")); /* "vnet" was --directory's value: still no command */
    free(v);
    unlink(script);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_man_has_every_command_and_flag),
        cmocka_unit_test(test_completion_offers_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
