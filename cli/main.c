/* main.c - `strata`: global flags, dispatch through the command table, and the one error line
 * (or JSON error object) every failure ends with. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "out.h"

/* Errors are one line: newlines in a server's message would break scripts that read stderr. */
static void main_one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = ' ';
}

static int main_fail(const struct cli_ctx *ctx, int rc, struct strata_err *e)
{
    if (e->msg[0] == '\0')
        snprintf(e->msg, sizeof(e->msg), "%s", strata_strerror(rc));
    main_one_line(e->msg);
    /* A verdict already printed in full (audit's divergences) ends with its line on stderr:
     * a second JSON object would break the one on stdout. */
    if (ctx->json && !ctx->printed) {
        struct cli_json j;
        cli_json_init(&j, stdout);
        cli_json_obj_begin(&j, NULL);
        cli_json_str(&j, "error", strata_errname(rc));
        cli_json_str(&j, "message", e->msg);
        cli_json_obj_end(&j);
        cli_json_finish(&j);
        fflush(stdout);
    } else {
        fprintf(stderr, "strata: %s\n", e->msg);
    }
    return cli_exit_status(ctx, rc);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    /* Library warnings (retries, reconnects) would add lines to stderr, where a failure must be
     * exactly one line; STRATA_LOG_LEVEL=debug brings them back for debugging. */
    strata_log_init("strata", getenv("STRATA_LOG_LEVEL") != NULL ? -1 : STRATA_LOG_ERROR);

    struct cli_ctx ctx;
    cli_ctx_init(&ctx);
    struct strata_err e = {0};
    /* Generated documents: the build makes docs, the man page and the completion from them. */
    if (argc == 2 && strcmp(argv[1], "--help-markdown") == 0) {
        cli_help_markdown(stdout);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
    if (argc == 2 && strcmp(argv[1], "--help-man") == 0) {
        cli_help_man(stdout);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
    if (argc == 2 && strcmp(argv[1], "--help-completion") == 0) {
        cli_help_completion(stdout);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
    /* Errors must come out as JSON whenever --json was asked for, even when parsing fails
     * before the parser reaches it. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            ctx.json = true;
    int argi = 1;
    bool help = false;
    int rc = cli_parse_global(&ctx, argc, argv, &argi, &help, &e);
    if (rc != 0)
        return main_fail(&ctx, rc, &e);
    if (help) {
        cli_help_top(stdout);
        return 0;
    }
    if (argi >= argc) {
        strata_err_set(&e, STRATA_EINVAL, "missing command (try strata --help)");
        return main_fail(&ctx, STRATA_EINVAL, &e);
    }
    /* A TLS setting that cannot work fails here, whatever the command. */
    rc = cli_ctx_tls(&ctx, &e);
    if (rc == 0)
        rc = cli_dispatch(&ctx, argc - argi, argv + argi, &e);
    cli_ctx_close(&ctx);
    if (rc != 0)
        return main_fail(&ctx, rc, &e);
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
