/* net.c - every network call the CLI makes: the directory (through lib/dirclient) and single
 * peers (connectivity servers, agent control sockets, one directory node's api). Going through
 * one place lets tests forbid the network and prove validation happens before any send. */
#include "cli.h"

#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "client.h"
#include "dirclient.h"
#include "tls.h"

/* An environment variable's value; an empty one counts as unset (VAR= strata ... turns off). */
static const char *net_env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

void cli_ctx_init(struct cli_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    const char *env = getenv("STRATA_DIRECTORY");
    ctx->directory = env != NULL && env[0] != '\0' ? env : CLI_DIRECTORY_DEFAULT;
    ctx->timeout_ms = CLI_TIMEOUT_DEFAULT_MS;
    ctx->out = stdout;
    ctx->tls_ca = net_env("STRATA_TLS_CA");
    ctx->tls_cert = net_env("STRATA_TLS_CERT");
    ctx->tls_key = net_env("STRATA_TLS_KEY");
}

int cli_ctx_tls(struct cli_ctx *ctx, struct strata_err *e)
{
    struct strata_tls_files f = {ctx->tls_ca, ctx->tls_cert, ctx->tls_key};
    int rc = strata_tls_from_flags(&f, "strata", &ctx->tls, e);
    if (rc == 0)
        strata_tls_set_default(ctx->tls);
    return rc;
}

void cli_ctx_close(struct cli_ctx *ctx)
{
    if (ctx->dc != NULL)
        strata_dirclient_close(ctx->dc);
    ctx->dc = NULL;
    strata_tls_set_default(NULL);
    strata_tls_free(ctx->tls);
    ctx->tls = NULL;
}

uint64_t cli_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int cli_net_use(struct cli_ctx *ctx, struct strata_err *e)
{
    ctx->net_calls++;
    if (ctx->offline)
        return strata_err_set(e, STRATA_EINTERNAL, "network used");
    return 0;
}

static int net_dir(struct cli_ctx *ctx, struct strata_err *e)
{
    if (ctx->dc == NULL &&
        strata_urls_check(ctx->directory, "--directory (or STRATA_DIRECTORY)", e) != 0)
        return e->code;
    int rc = cli_net_use(ctx, e);
    if (rc != 0 || ctx->dc != NULL)
        return rc;
    return strata_dirclient_open(ctx->directory, &ctx->dc, e);
}

/* The reply carries the body we asked for, or the peer speaks another protocol. */
static int net_expect(strata_env **reply, int want, const char *who, struct strata_err *e)
{
    if ((int)(*reply)->body_case == want)
        return 0;
    int got = (int)(*reply)->body_case;
    strata_msg_free(*reply);
    *reply = NULL;
    return strata_err_set(e, STRATA_EPROTO, "%s answered with %s where %s was expected", who,
                          strata_msg_type_name(got), strata_msg_type_name(want));
}

int cli_dir_write(struct cli_ctx *ctx, Strata__V1__Command *cmd, strata_env **reply,
                  struct strata_err *e)
{
    *reply = NULL;
    int rc = net_dir(ctx, e);
    if (rc != 0)
        return rc;
    rc = strata_dirclient_write(ctx->dc, cmd, (unsigned)ctx->timeout_ms, reply, e);
    if (rc != 0)
        return rc;
    return net_expect(reply, STRATA__V1__ENVELOPE__BODY_WRITE_REPLY, "the directory", e);
}

int cli_dir_call(struct cli_ctx *ctx, strata_env *req, int want, strata_env **reply,
                 struct strata_err *e)
{
    *reply = NULL;
    int rc = net_dir(ctx, e);
    if (rc != 0)
        return rc;
    req->identity = "operator";
    rc = strata_dirclient_call(ctx->dc, req, (unsigned)ctx->timeout_ms, reply, e);
    if (rc != 0)
        return rc;
    return net_expect(reply, want, "the directory", e);
}

int cli_dir_call_node(struct cli_ctx *ctx, int node, strata_env *req, int want, strata_env **reply,
                      struct strata_err *e)
{
    *reply = NULL;
    int rc = net_dir(ctx, e);
    if (rc != 0)
        return rc;
    req->identity = "operator";
    rc = strata_dirclient_call_node(ctx->dc, node, req, (unsigned)ctx->timeout_ms, reply, e);
    if (rc != 0)
        return rc;
    return net_expect(reply, want, strata_dirclient_node_url(ctx->dc, node), e);
}

int cli_peer_call(struct cli_ctx *ctx, const char *url, strata_env *req, int want,
                  unsigned timeout_ms, strata_env **reply, struct strata_err *e)
{
    *reply = NULL;
    int rc = cli_net_use(ctx, e);
    if (rc != 0)
        return rc;
    return cli_peer_call_nctx(url, req, want, timeout_ms, reply, e);
}

int cli_peer_call_nctx(const char *url, strata_env *req, int want, unsigned timeout_ms,
                       strata_env **reply, struct strata_err *e)
{
    *reply = NULL;
    int rc;
    struct strata_sclient *c = NULL;
    if ((rc = strata_sclient_open(url, &c, e)) != 0)
        return rc;
    req->identity = "operator";
    rc = strata_sclient_call(c, req, timeout_ms, reply, e);
    strata_sclient_close(c);
    if (rc != 0)
        return rc;
    if ((*reply)->status != 0) {
        rc = (*reply)->status;
        strata_err_set(e, rc, "%s: %s", url,
                       (*reply)->message && (*reply)->message[0] ? (*reply)->message
                                                                 : strata_strerror(rc));
        strata_msg_free(*reply);
        *reply = NULL;
        return rc;
    }
    return net_expect(reply, want, url, e);
}

void cli_ctl_url(const char *ctl, char *buf, size_t n)
{
    if (strstr(ctl, "://") != NULL)
        snprintf(buf, n, "%s", ctl);
    else
        snprintf(buf, n, "ipc://%s", ctl);
}

int cli_default_agent(char *buf, size_t n, struct strata_err *e)
{
    glob_t g;
    int rc = glob(CLI_AGENT_CTL_GLOB, 0, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
        if (rc == 0)
            globfree(&g);
        return strata_err_set(e, STRATA_ENOTFOUND,
                              "no agent control socket matches %s: give --agent CTL",
                              CLI_AGENT_CTL_GLOB);
    }
    if (rc != 0)
        return strata_err_set(e, STRATA_EIO, "cannot list %s", CLI_AGENT_CTL_GLOB);
    if (g.gl_pathc > 1) {
        rc =
            strata_err_set(e, STRATA_EINVAL, "%zu agents here (%s, %s%s): give --agent CTL",
                           g.gl_pathc, g.gl_pathv[0], g.gl_pathv[1], g.gl_pathc > 2 ? ", ..." : "");
        globfree(&g);
        return rc;
    }
    snprintf(buf, n, "%s", g.gl_pathv[0]);
    globfree(&g);
    return 0;
}
