/* parse.c - from argv to a command of the table and its arguments. Pure: no network, so tests
 * can check every parse error without a server. */
#include "cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PARSE_MAX_FLAGS CLI_MAX_FLAGS

size_t cli_flags_relocate(const struct strata_flag *src, void *base, struct strata_flag *out,
                          size_t cap)
{
    size_t n = 0;
    for (; src != NULL && src->name != NULL && n + 1 < cap; src++, n++) {
        out[n] = *src;
        out[n].dst = (char *)base + (uintptr_t)src->dst;
    }
    return n;
}

int cli_parse_global(struct cli_ctx *ctx, int argc, char **argv, int *argi, bool *help,
                     struct strata_err *e)
{
    struct strata_flag tbl[PARSE_MAX_FLAGS];
    size_t n = cli_flags_relocate(cli_global_flags, ctx, tbl, PARSE_MAX_FLAGS);
    memset(&tbl[n], 0, sizeof(tbl[n]));
    *help = false;
    /* Scan for --help ourselves: it may sit after flags whose values the lib would judge. */
    for (int i = *argi; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help = true;
            return 0;
        }
        if (strcmp(argv[i], "--") == 0)
            break;
    }
    int rc = strata_flags_parse(tbl, argc, argv, argi, e);
    if (rc == STRATA_ENOTFOUND) {
        *help = true;
        return 0;
    }
    return rc;
}

static const struct strata_flag *parse_find_flag(const struct strata_flag *tbl, const char *arg)
{
    const char *name = arg + 2;
    size_t len = strcspn(name, "=");
    for (; tbl->name != NULL; tbl++)
        if (strlen(tbl->name) == len && strncmp(tbl->name, name, len) == 0)
            return tbl;
    return NULL;
}

static bool parse_is_help(const char *s)
{
    return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

/* Flags before positionals, so that "cluster add 4 1.2.3.4:7104 --api URL" and
 * "policy set --domain d --from 1 --to 2 allow" both reach the lib's flag parser (which stops
 * at the first positional) in one piece. */
static int parse_reorder(const struct strata_flag *tbl, int argc, char **argv, char **out,
                         int *nflags, bool *help, struct strata_err *e)
{
    char **pos = calloc((size_t)argc + 1, sizeof(char *));
    if (pos == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    int nf = 0, np = 0;
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            pos[np++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (parse_is_help(a)) {
            *help = true;
            continue;
        }
        out[nf++] = argv[i];
        const struct strata_flag *f = a[1] == '-' ? parse_find_flag(tbl, a) : NULL;
        if (f != NULL && f->type != STRATA_FLAG_BOOL && strchr(a, '=') == NULL) {
            if (i + 1 >= argc) {
                free(pos);
                return strata_err_set(e, STRATA_EINVAL, "flag --%s needs a value (%s)", f->name,
                                      f->metavar ? f->metavar : "VALUE");
            }
            out[nf++] = argv[++i];
        }
    }
    *nflags = nf;
    /* A positional that looks like a flag cannot occur (they were split above), so the lib
     * stops exactly at the first positional. */
    memcpy(out + nf, pos, (size_t)np * sizeof(char *));
    out[nf + np] = NULL;
    free(pos);
    return np;
}

static bool parse_group_exists(const char *group)
{
    for (size_t i = 0; i < cli_ncmds; i++)
        if (strcmp(cli_cmds[i].group, group) == 0)
            return true;
    return false;
}

static const struct cli_cmd *parse_find_cmd(const char *group, const char *sub)
{
    for (size_t i = 0; i < cli_ncmds; i++) {
        const struct cli_cmd *c = &cli_cmds[i];
        if (strcmp(c->group, group) != 0)
            continue;
        if (c->sub == NULL || (sub != NULL && strcmp(c->sub, sub) == 0))
            return c;
    }
    return NULL;
}

/* "create, list, delete" for error messages. */
static void parse_subs(const char *group, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < cli_ncmds && off < n; i++)
        if (strcmp(cli_cmds[i].group, group) == 0 && cli_cmds[i].sub != NULL)
            off += (size_t)snprintf(buf + off, n - off, "%s%s", off ? ", " : "", cli_cmds[i].sub);
}

int cli_parse(struct cli_ctx *ctx, int argc, char **argv, struct cli_parsed *p,
              struct strata_err *e)
{
    memset(p, 0, sizeof(*p));
    if (argc < 1)
        return strata_err_set(e, STRATA_EINVAL, "missing command (try strata --help)");
    const char *group = argv[0];
    if (!parse_group_exists(group))
        return strata_err_set(e, STRATA_EINVAL, "unknown command \"%.64s\" (try strata --help)",
                              group);
    const struct cli_cmd *c = parse_find_cmd(group, NULL);
    int skip = 1;
    if (c == NULL || c->sub != NULL) {
        /* A group with subcommands. */
        char subs[200];
        parse_subs(group, subs, sizeof(subs));
        if (argc < 2 || parse_is_help(argv[1])) {
            if (argc >= 2) {
                p->help = true;
                p->group = group;
                return 0;
            }
            return strata_err_set(e, STRATA_EINVAL, "%s: missing subcommand (%s)", group, subs);
        }
        c = parse_find_cmd(group, argv[1]);
        if (c == NULL)
            return strata_err_set(e, STRATA_EINVAL, "unknown command \"%s %.64s\" (%s has: %s)",
                                  group, argv[1], group, subs);
        skip = 2;
    }
    p->cmd = c;
    p->group = group;

    struct strata_flag tbl[PARSE_MAX_FLAGS];
    size_t n = cli_flags_relocate(c->flags, &p->args, tbl, PARSE_MAX_FLAGS);
    n += cli_flags_relocate(cli_global_flags, ctx, tbl + n, PARSE_MAX_FLAGS - n);
    memset(&tbl[n], 0, sizeof(tbl[n]));

    int rest = argc - skip;
    p->argv_buf = calloc((size_t)rest + 1, sizeof(char *));
    if (p->argv_buf == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    int nflags = 0;
    int np = parse_reorder(tbl, rest, argv + skip, p->argv_buf, &nflags, &p->help, e);
    if (np < 0)
        return np;
    if (p->help)
        return 0;
    const char *name = c->sub ? c->sub : "";
    int argi = 0;
    struct strata_err fe = {0};
    int rc = strata_flags_parse(tbl, nflags + np, p->argv_buf, &argi, &fe);
    if (rc == STRATA_ENOTFOUND) {
        p->help = true;
        return 0;
    }
    if (rc != 0)
        return strata_err_set(e, rc, "%s%s%s: %s", group, c->sub ? " " : "", name, fe.msg);
    p->args.pos = p->argv_buf + argi;
    p->args.npos = nflags + np - argi;
    if (p->args.npos < c->pos_min || p->args.npos > c->pos_max) {
        if (c->pos_max == 0)
            return strata_err_set(e, STRATA_EINVAL, "%s%s%s: unexpected argument \"%.64s\"", group,
                                  c->sub ? " " : "", name, p->args.pos[0]);
        return strata_err_set(e, STRATA_EINVAL, "%s%s%s: expected %s", group, c->sub ? " " : "",
                              name, c->pos_usage);
    }
    return 0;
}

void cli_parsed_free(struct cli_parsed *p)
{
    free(p->argv_buf);
    p->argv_buf = NULL;
}

int cli_dispatch(struct cli_ctx *ctx, int argc, char **argv, struct strata_err *e)
{
    struct cli_parsed p;
    int rc = cli_parse(ctx, argc, argv, &p, e);
    if (rc == 0 && p.help) {
        if (p.cmd != NULL)
            cli_help_cmd(ctx->out, p.cmd);
        else
            cli_help_group(ctx->out, p.group);
    } else if (rc == 0) {
        rc = p.cmd->run(ctx, &p.args, e);
    }
    cli_parsed_free(&p);
    return rc;
}

int cli_exit_status(const struct cli_ctx *ctx, int rc)
{
    if (rc == 0)
        return CLI_EXIT_OK;
    /* Input is judged before the first network call (validation is local first): an EINVAL
     * from a server, after one, is the operation's failure. */
    if (rc == STRATA_EINVAL && ctx->net_calls == 0)
        return CLI_EXIT_USAGE;
    return CLI_EXIT_FAIL;
}
