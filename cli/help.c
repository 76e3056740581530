/* help.c - `strata --help`, `strata GROUP --help`, `strata GROUP SUB --help` and the command
 * reference in docs/cli.md, all printed from the command table so they cannot drift. */
#include "cli.h"

#include <string.h>

static bool help_has_required(const struct strata_flag *f)
{
    for (; f != NULL && f->name != NULL; f++)
        if (f->required)
            return true;
    return false;
}

static size_t help_flags(const struct strata_flag *f, char *buf, size_t n, size_t off)
{
    for (; f != NULL && f->name != NULL && off < n; f++) {
        const char *sp = off ? " " : "";
        const char *o = f->required ? "" : "[";
        const char *cl = f->required ? "" : "]";
        if (f->type == STRATA_FLAG_BOOL)
            off += (size_t)snprintf(buf + off, n - off, "%s%s--%s%s", sp, o, f->name, cl);
        else
            off += (size_t)snprintf(buf + off, n - off, "%s%s--%s %s%s", sp, o, f->name,
                                    f->metavar ? f->metavar : "VALUE", cl);
    }
    return off;
}

void cli_synopsis(const struct cli_cmd *c, char *buf, size_t n)
{
    buf[0] = '\0';
    if (c->synopsis != NULL) {
        snprintf(buf, n, "%s", c->synopsis);
        return;
    }
    /* Positionals read best first when everything else is optional ("cluster add ID HOST:PORT
     * [--api URL]") and last after required flags ("policy set --domain D ... allow|deny"). */
    bool pos_first = !help_has_required(c->flags);
    size_t off = 0;
    if (pos_first && c->pos_usage != NULL)
        off += (size_t)snprintf(buf, n, "%s", c->pos_usage);
    off = help_flags(c->flags, buf, n, off);
    if (!pos_first && c->pos_usage != NULL && off < n)
        snprintf(buf + off, n - off, "%s%s", off ? " " : "", c->pos_usage);
}

void cli_help_name(const struct cli_cmd *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s", c->group, c->sub ? " " : "", c->sub ? c->sub : "");
}

/* strata_flags_usage reads the defaults through dst: give it real pointers, into a fresh context
 * (so the defaults shown are those in effect, $STRATA_DIRECTORY included) or empty arguments. */
static void help_usage(FILE *f, const struct strata_flag *tbl, void *base)
{
    struct strata_flag t[CLI_MAX_FLAGS];
    cli_help_relocated(tbl, base, t);
    strata_flags_usage(f, t);
}

void cli_help_relocated(const struct strata_flag *tbl, void *base,
                        struct strata_flag out[CLI_MAX_FLAGS])
{
    size_t n = cli_flags_relocate(tbl, base, out, CLI_MAX_FLAGS);
    memset(&out[n], 0, sizeof(out[n]));
}

static void help_globals(FILE *f)
{
    struct cli_ctx ctx;
    cli_ctx_init(&ctx);
    fprintf(f, "\nGlobal flags (before or after the command):\n");
    help_usage(f, cli_global_flags, &ctx);
}

const char cli_help_about[] =
    "Operate a Strata overlay: the directory cluster, tenants, virtual networks,\n"
    "endpoints, policy, and the resolution path (resolve, trace, caches); and\n"
    "make the certificates of its mutual TLS (pki).\n";
const char cli_help_exit[] =
    "Exit status 0 on success, 2 on a usage error (bad command, flag or argument:\n"
    "nothing was sent), 1 when the operation failed; on failure one line\n"
    "'strata: MESSAGE' on stderr (with --json: {\"error\": CODE, \"message\": TEXT}\n"
    "on stdout).\n";

void cli_help_top(FILE *f)
{
    fprintf(f,
            "usage: strata [--directory URL[,URL...]] [--json] [--timeout-ms N] COMMAND ...\n"
            "       strata --version\n\n%s\nCommands:\n",
            cli_help_about);
    for (size_t i = 0; i < cli_ncmds; i++) {
        char name[64];
        cli_help_name(&cli_cmds[i], name, sizeof(name));
        fprintf(f, "  %-18s %s\n", name, cli_cmds[i].help);
    }
    help_globals(f);
    fprintf(f, "\nRun 'strata COMMAND --help' for a command's flags.\n%s", cli_help_exit);
}

void cli_help_group(FILE *f, const char *group)
{
    fprintf(f, "Commands of 'strata %s':\n", group);
    for (size_t i = 0; i < cli_ncmds; i++) {
        const struct cli_cmd *c = &cli_cmds[i];
        if (strcmp(c->group, group) != 0)
            continue;
        char name[64], syn[512];
        cli_help_name(c, name, sizeof(name));
        cli_synopsis(c, syn, sizeof(syn));
        fprintf(f, "  strata %s%s%s\n      %s\n", name, syn[0] ? " " : "", syn, c->help);
    }
    fprintf(f, "\nRun 'strata %s SUBCOMMAND --help' for details.\n", group);
}

void cli_help_cmd(FILE *f, const struct cli_cmd *c)
{
    char name[64], syn[512];
    cli_help_name(c, name, sizeof(name));
    cli_synopsis(c, syn, sizeof(syn));
    fprintf(f, "usage: strata %s%s%s\n\n%s\n", name, syn[0] ? " " : "", syn, c->help);
    if (c->flags != NULL && c->flags[0].name != NULL) {
        fprintf(f, "\nFlags:\n");
        struct cli_args args = {0};
        help_usage(f, c->flags, &args);
    }
    help_globals(f);
}

/* Markdown table cells must not contain a bare '|'. */
static void help_md_cell(FILE *f, const char *s)
{
    for (; s != NULL && *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else
            fputc(*s, f);
    }
}

static void help_md_flags(FILE *f, const struct strata_flag *fl)
{
    if (fl == NULL || fl->name == NULL)
        return;
    fprintf(f, "\n| flag | meaning |\n|---|---|\n");
    for (; fl->name != NULL; fl++) {
        fprintf(f, "| `--%s", fl->name);
        if (fl->type != STRATA_FLAG_BOOL) {
            fputc(' ', f);
            help_md_cell(f, fl->metavar ? fl->metavar : "VALUE");
        }
        fputs("` | ", f);
        help_md_cell(f, fl->help);
        fprintf(f, "%s |\n", fl->required ? " (required)" : "");
    }
}

void cli_help_markdown(FILE *f)
{
    fprintf(f, "### Global flags\n");
    help_md_flags(f, cli_global_flags);
    const char *group = "";
    for (size_t i = 0; i < cli_ncmds; i++) {
        const struct cli_cmd *c = &cli_cmds[i];
        char name[64], syn[512];
        cli_help_name(c, name, sizeof(name));
        cli_synopsis(c, syn, sizeof(syn));
        if (strcmp(group, c->group) != 0) {
            group = c->group;
            fprintf(f, "\n### %s\n", group);
        }
        fprintf(f, "\n`strata %s%s%s`\n\n%s.\n", name, syn[0] ? " " : "", syn, c->help);
        help_md_flags(f, c->flags);
    }
}
