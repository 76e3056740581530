/* help_man.c - strata(1), the CLI's man page in troff, printed from the command table (like
 * --help and docs/cli.md) so that the installed page cannot drift from the parser. */
#include "cli.h"

#include <string.h>

#include "man.h"

static const char *const man_env[] = {
    "STRATA_DIRECTORY",
    "the directory nodes to ask when --directory is not given (default " CLI_DIRECTORY_DEFAULT ")",
    "STRATA_TLS_CA",
    "--tls-ca when not given",
    "STRATA_TLS_CERT",
    "--tls-cert when not given",
    "STRATA_TLS_KEY",
    "--tls-key when not given (an empty variable counts as unset)",
    "STRATA_LOG_LEVEL",
    "set to debug, info, warn or error to see the client libraries' log lines on stderr "
    "(retries, reconnects); unset, only errors are logged",
    NULL,
};

/* A command's flags as tagged paragraphs; defaults as a fresh invocation has them. */
static void man_cmd_flags(FILE *f, const struct strata_flag *tbl, void *base)
{
    if (tbl == NULL || tbl[0].name == NULL)
        return;
    struct strata_flag t[CLI_MAX_FLAGS];
    cli_help_relocated(tbl, base, t);
    strata_man_flags(f, t);
}

void cli_help_man(FILE *f)
{
    strata_man_head(f, "strata", 1, "operate a Strata overlay network");
    fputs(".SH SYNOPSIS\n.B strata\n.RI [ global-flags ]\n.I command\n.RI [ subcommand ]\n"
          ".RI [ flags ]\n.RI [ arguments ]\n.br\n.B strata\n.B \\-\\-version\n"
          ".SH DESCRIPTION\n",
          f);
    strata_man_text(f, cli_help_about);
    strata_man_text(f, "\nThe global flags may come before or after the command. Every flag is "
                       "written --name value or --name=value. \"strata COMMAND --help\" prints "
                       "one command's flags.");

    /* The defaults a fresh invocation has, without this build's environment in them. */
    struct cli_ctx ctx;
    cli_ctx_init(&ctx);
    ctx.directory = CLI_DIRECTORY_DEFAULT;
    ctx.tls_ca = ctx.tls_cert = ctx.tls_key = NULL;
    fputs(".SH GLOBAL FLAGS\n", f);
    man_cmd_flags(f, cli_global_flags, &ctx);
    const struct strata_flag own[] = {
        {"help", STRATA_FLAG_BOOL, NULL, NULL, "print the commands (or a command's flags)", false,
         0, 0},
        {"version", STRATA_FLAG_BOOL, NULL, NULL, "print the version and exit", false, 0, 0},
        {"help-man", STRATA_FLAG_BOOL, NULL, NULL, "print this manual page (troff) and exit", false,
         0, 0},
        {"help-completion", STRATA_FLAG_BOOL, NULL, NULL,
         "print the bash completion script and exit", false, 0, 0},
        {"help-markdown", STRATA_FLAG_BOOL, NULL, NULL,
         "print the command reference in Markdown (docs/cli.md) and exit", false, 0, 0},
        STRATA_FLAGS_END,
    };
    strata_man_flags(f, own);

    fputs(".SH COMMANDS\n", f);
    for (size_t i = 0; i < cli_ncmds; i++) {
        const struct cli_cmd *c = &cli_cmds[i];
        char name[64], syn[512];
        cli_help_name(c, name, sizeof(name));
        cli_synopsis(c, syn, sizeof(syn));
        fputs(".SS \"strata ", f);
        strata_man_literal(f, name);
        fputs("\"\n.B strata ", f);
        strata_man_literal(f, name);
        fputc('\n', f);
        if (syn[0] != '\0') {
            fputs(".I \"", f);
            strata_man_escape(f, syn);
            fputs("\"\n", f);
        }
        fputs(".PP\n", f);
        strata_man_escape(f, c->help);
        fputs(".\n", f);
        struct cli_args args = {0};
        man_cmd_flags(f, c->flags, &args);
    }

    fputs(".SH EXIT STATUS\n", f);
    strata_man_text(f, cli_help_exit);
    fputs(".SH ENVIRONMENT\n", f);
    strata_man_pairs(f, man_env);
    strata_man_see_also(f, "strata",
                        "docs/cli.md (the same reference with examples) in the Strata sources, "
                        "installed under share/doc/strata.");
}
