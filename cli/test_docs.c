/* test_docs.c - docs/cli.md's reference section is exactly what the command table generates,
 * so the documentation cannot drift from the parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

#define BEGIN_MARK "<!-- BEGIN GENERATED -->\n"
#define END_MARK "<!-- END GENERATED -->\n"

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(m);
    fclose(f);
    return buf;
}

static void test_docs_match_table(void **state)
{
    (void)state;
    const char *src = getenv("STRATA_SRC");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof(path), "%s/docs/cli.md", src);
    char *doc = read_all(path);
    if (doc == NULL)
        fail_msg("cannot read %s", path);
    char *begin = strstr(doc, BEGIN_MARK);
    assert_non_null(begin);
    begin += strlen(BEGIN_MARK);
    char *end = strstr(begin, END_MARK);
    assert_non_null(end);
    *end = '\0';

    char *gen = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&gen, &len);
    cli_help_markdown(f);
    fclose(f);
    if (strcmp(begin, gen) != 0)
        fail_msg("docs/cli.md is out of date with cli/cmd_table.c: regenerate it (see the file)");
    free(gen);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs_match_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
