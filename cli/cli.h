/* cli.h - the strata CLI: its command table, the invocation context and the network helpers
 * every command shares. */
#ifndef STRATA_CLI_H
#define STRATA_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "flags.h"
#include "msg.h"

#define CLI_DIRECTORY_DEFAULT "tcp://127.0.0.1:7101"
#define CLI_TIMEOUT_DEFAULT_MS 5000
/* strata-agentd's control socket when started without --ctl: /run/strata/agent-HOST.sock. */
#define CLI_AGENT_CTL_GLOB "/run/strata/agent-*.sock"

/* Every value any command's flags or positionals can carry. A command's flag table points into
 * this struct by offset (CLI_ARG), so the tables stay static and one parser serves them all. */
struct cli_args {
    uint32_t vni, from_vni, from, to;
    uint64_t min_index;
    const char *domain, *name, *cidr, *gateway, *id, *vtep, *pod, *mac, *ip, *host, *via, *agent,
        *cs, *ifname, *src_ip, *dst_ip, *api, *vnis, *dir, *role;
    const char *wait;     /* --wait TIMEOUT on writes (cmd_wait.h) */
    uint64_t days;        /* pki issue --days; 0 = lib/pki.h's default */
    bool replace;         /* host/gateway/endpoint add: change an existing one */
    bool force;           /* cluster backup: replace an existing FILE */
    bool local;           /* cluster backup: the first node's own state, no leader needed */
    uint64_t chunk_bytes; /* cluster backup: state bytes per request; 0 = the server's cap */
    bool linearizable;    /* resolve, list commands: read through the leader's read barrier */
    bool repair;          /* audit: fix what diverges */
    bool audit_details;   /* audit: every VN in detail, digests or not */
    /* trace: the gateway's control socket, and the output form (detailed by default) */
    const char *gateway_ctl;
    bool trace_detailed, trace_summary, trace_minimal;
    int npos;
    char **pos; /* positional arguments, in order */
};

/* A flag's destination stored as an offset into struct cli_args; cli_parse relocates it. */
#define CLI_ARG(field) ((void *)offsetof(struct cli_args, field))

/* The state of one invocation: global flags and the lazily opened directory client. */
struct cli_ctx {
    const char *directory; /* --directory, $STRATA_DIRECTORY or CLI_DIRECTORY_DEFAULT */
    bool json;
    uint64_t timeout_ms;
    FILE *out;     /* results (tables or JSON) */
    bool offline;  /* tests: any network use fails with STRATA_EINTERNAL "network used" */
    int net_calls; /* how many network calls were attempted (tests check it stays 0) */
    bool printed;  /* the result is on ctx->out although the command fails (audit) */
    struct strata_dirclient *dc;
    /* --tls-ca/--tls-cert/--tls-key ($STRATA_TLS_CA, ...) and the context made of them */
    const char *tls_ca, *tls_cert, *tls_key;
    struct strata_tls *tls;
};

typedef int (*cli_handler)(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e);

/* One row of the command table: gives the parser, `--help`, and docs/cli.md. */
struct cli_cmd {
    const char *group;               /* "vnet" */
    const char *sub;                 /* "create", or NULL for a one-word command ("resolve") */
    const struct strata_flag *flags; /* dst = CLI_ARG(field); NULL = no flags */
    const char *pos_usage;           /* positionals for the synopsis: "ID HOST:PORT" */
    int pos_min, pos_max;
    const char *synopsis; /* overrides the synopsis generated from flags (NULL: generate) */
    cli_handler run;
    const char *help; /* one line */
};

extern const struct cli_cmd cli_cmds[];
extern const size_t cli_ncmds;
/* Global flags (dst points into a struct cli_ctx by offset, like CLI_ARG). */
extern const struct strata_flag cli_global_flags[];
#define CLI_CTX(field) ((void *)offsetof(struct cli_ctx, field))

/* ---- parse.c: argv -> command + arguments, without touching the network. */
#define CLI_MAX_FLAGS 48
/* Copy a table whose dst fields are offsets into `base` into `out` (cap entries, the last one
 * left for the terminator) with real pointers; returns how many were copied. */
size_t cli_flags_relocate(const struct strata_flag *src, void *base, struct strata_flag *out,
                          size_t cap);
struct cli_parsed {
    const struct cli_cmd *cmd; /* NULL when only a group was named (with help) */
    const char *group;         /* the group named, when cmd is NULL */
    bool help;                 /* --help was given: print help instead of running */
    struct cli_args args;
    char **argv_buf; /* reordered copy of argv (owned) */
};

/* Parse global flags from argv[*argi..] into ctx (stops at the command word). */
int cli_parse_global(struct cli_ctx *ctx, int argc, char **argv, int *argi, bool *help,
                     struct strata_err *e);
/* Parse "GROUP [SUB] [flags and positionals]" (argv[0] is GROUP). Global flags are accepted
 * anywhere after the command too. Errors name the unknown command or the offending flag. */
int cli_parse(struct cli_ctx *ctx, int argc, char **argv, struct cli_parsed *p,
              struct strata_err *e);
void cli_parsed_free(struct cli_parsed *p);
/* Parse and run (argv[0] is GROUP); prints results to ctx->out. Help goes to ctx->out too. */
int cli_dispatch(struct cli_ctx *ctx, int argc, char **argv, struct strata_err *e);

/* The exit status of `strata` (docs/cli.md): 0 success; 2 a usage error (an unknown command
 * or flag, a missing or malformed argument: refused before anything was sent, so running it
 * again as it is cannot help); 1 any other failure (the operation failed: refused by the
 * directory, not found, unreachable, timed out, a local file...). */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
/* The exit status for a command that returned `rc` in `ctx`. */
int cli_exit_status(const struct cli_ctx *ctx, int rc);

/* ---- help.c: every help text and the docs come from the table. */
void cli_help_top(FILE *f);
void cli_help_group(FILE *f, const char *group);
void cli_help_cmd(FILE *f, const struct cli_cmd *c);
/* Markdown reference of every command (the generated part of docs/cli.md). */
void cli_help_markdown(FILE *f);
/* "--vni N --domain NAME [--name S]" plus positionals, into buf. */
void cli_synopsis(const struct cli_cmd *c, char *buf, size_t n);
/* "vnet create" (or "resolve"), into buf. */
void cli_help_name(const struct cli_cmd *c, char *buf, size_t n);
/* A command's table (dst offsets into `base`) with real pointers, terminated, into out. */
void cli_help_relocated(const struct strata_flag *tbl, void *base,
                        struct strata_flag out[CLI_MAX_FLAGS]);
/* What strata does, and its exit statuses: shared by --help and the man page. */
extern const char cli_help_about[];
extern const char cli_help_exit[];

/* ---- help_man.c: strata(1) in troff, from the same table (strata --help-man). */
void cli_help_man(FILE *f);
/* ---- help_completion.c: bash completion of commands, subcommands, flags and their values,
 * from the same table (strata --help-completion prints the script). */
void cli_help_completion(FILE *f);

/* ---- net.c: every network call goes through here (so tests can forbid it). */
void cli_ctx_init(struct cli_ctx *ctx);
void cli_ctx_close(struct cli_ctx *ctx);
/* Open the TLS context of --tls-* (none: plaintext) and make it the clients' default. */
int cli_ctx_tls(struct cli_ctx *ctx, struct strata_err *e);
/* One directory write; on success *reply has a write_reply body (caller frees). */
int cli_dir_write(struct cli_ctx *ctx, Strata__V1__Command *cmd, strata_env **reply,
                  struct strata_err *e);
/* Any directory request; checks the reply carries body `want`. */
int cli_dir_call(struct cli_ctx *ctx, strata_env *req, int want, strata_env **reply,
                 struct strata_err *e);
/* One request to one node of the directory list (cluster status). */
int cli_dir_call_node(struct cli_ctx *ctx, int node, strata_env *req, int want, strata_env **reply,
                      struct strata_err *e);
/* One request to a connectivity server, an agent's control socket or one directory node's api
 * (`url` with scheme). A non-zero reply status becomes the returned error with its message. */
int cli_peer_call(struct cli_ctx *ctx, const char *url, strata_env *req, int want,
                  unsigned timeout_ms, strata_env **reply, struct strata_err *e);
/* Account for one use of the network; an error when the command must run offline. */
int cli_net_use(struct cli_ctx *ctx, struct strata_err *e);
/* cli_peer_call without touching ctx (callable from several threads at once); the caller has
 * checked that the network may be used. */
int cli_peer_call_nctx(const char *url, strata_env *req, int want, unsigned timeout_ms,
                       strata_env **reply, struct strata_err *e);
/* An agent's control socket: "ipc://" + ctl unless ctl already has a scheme. */
void cli_ctl_url(const char *ctl, char *buf, size_t n);
/* The agent control socket to use when --agent is not given: the only CLI_AGENT_CTL_GLOB on
 * this machine (an error naming the candidates when there are none or several). */
int cli_default_agent(char *buf, size_t n, struct strata_err *e);
/* Monotonic microseconds, for round-trip measurements. */
uint64_t cli_now_us(void);

/* ---- handlers (cmd_*.c) */
int cli_cluster_status(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_version(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_cluster_add(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_cluster_remove(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_cluster_transfer(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_cluster_backup(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_domain_create(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_domain_delete(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_host_delete(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_subnet_delete(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_domain_list(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_vnet_create(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_vnet_list(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_vnet_delete(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_subnet_create(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_subnet_list(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_host_add(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_host_list(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_gateway_add(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_gateway_list(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_gateway_delete(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_policy_delete(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_policy_set(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_policy_list(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_endpoint_add(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_endpoint_move(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_endpoint_delete(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_endpoint_list(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_resolve(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_trace(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_audit(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_port_attach(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_port_detach(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_cache_show(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_pki_init(struct cli_ctx *, const struct cli_args *, struct strata_err *);
int cli_pki_issue(struct cli_ctx *, const struct cli_args *, struct strata_err *);

#endif
