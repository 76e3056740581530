/* cmd_agent.c - talking to an agent's control socket (port attach/detach) and dumping the
 * cache of an agent or a connectivity server. */
#include "cmd_common.h"
#include "cmd_wait.h"
#include "view.h"

#include <ctype.h>
#include <string.h>

#include "addr.h"

/* Linux interface names: 1..15 bytes, no '/', no whitespace, not "." or "..". */
static int agent_check_ifname(const char *s, struct strata_err *e)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15)
        return strata_err_set(e, STRATA_EINVAL, "bad interface name \"%.32s\": 1 to 15 characters",
                              s);
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return strata_err_set(e, STRATA_EINVAL, "bad interface name \"%s\"", s);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p == '/' || *p == ':' || isspace(*p) || !isprint(*p))
            return strata_err_set(e, STRATA_EINVAL,
                                  "bad interface name \"%.32s\": no '/', ':' or blanks", s);
    return 0;
}

static int agent_call(struct cli_ctx *ctx, const char *ctl, strata_env *req, int want,
                      strata_env **reply, char *url, size_t urlsz, struct strata_err *e)
{
    cli_ctl_url(ctl, url, urlsz);
    return cli_peer_call(ctx, url, req, want, (unsigned)ctx->timeout_ms, reply, e);
}

static void agent_report(struct cli_ctx *ctx, const char *op, const char *url,
                         const struct cli_args *a, const char *detail, const char *human,
                         const struct cmd_wait *w)
{
    if (ctx->json) {
        struct cli_json j;
        cli_json_init(&j, ctx->out);
        cli_json_obj_begin(&j, NULL);
        cli_json_str(&j, "op", op);
        cli_json_str(&j, "agent", url);
        cli_json_str(&j, "ifname", a->ifname);
        cli_json_str(&j, "detail", detail);
        if (w != NULL)
            cmd_wait_json(w, &j);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "%s%s%s\n", human, detail[0] ? ": " : "", detail);
        if (w != NULL)
            cmd_wait_print(ctx, w);
    }
}

int cli_port_attach(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    uint8_t mac[6];
    struct strata_ip ip;
    uint8_t plen;
    int rc = cmd_parse_endpoint_mac(a->mac, mac, e);
    if (rc == 0)
        rc = strata_ipplen_parse(a->ip, &ip, &plen, e);
    if (rc == 0)
        rc = agent_check_ifname(a->ifname, e);
    if (rc == 0)
        rc = cmd_wait_check(a, e);
    if (rc != 0)
        return rc;
    Strata__V1__PortAttach pa = STRATA__V1__PORT_ATTACH__INIT;
    pa.vni = a->vni;
    pa.mac.data = mac;
    pa.mac.len = 6;
    pa.ip.data = ip.a;
    pa.ip.len = strata_ip_len(&ip);
    pa.plen = plen;
    pa.ifname = (char *)a->ifname;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_PORT_ATTACH;
    req.port_attach = &pa;
    strata_env *r = NULL;
    char url[512];
    rc = agent_call(ctx, a->agent, &req, STRATA__V1__ENVELOPE__BODY_PORT_REPLY, &r, url,
                    sizeof(url), e);
    if (rc != 0)
        return rc;
    char human[256];
    char canon[STRATA_MAC_STRLEN];
    snprintf(human, sizeof(human), "attached %s (%s %s) to vnet %u", a->ifname,
             cmd_mac_canon(a->mac, canon), a->ip, a->vni);
    /* --wait: the agent registered the endpoint at some index; wait for every holder of it. */
    struct cmd_wait w = {0};
    if (a->wait != NULL && r->port_reply->index == 0)
        rc = strata_err_set(e, STRATA_EPROTO,
                            "port attach --wait: the agent did not say at which index it "
                            "registered the endpoint (an older agent?)");
    else
        rc = cmd_wait_run(ctx, a, r->port_reply->index, &w, e);
    agent_report(ctx, "port attach", url, a, r->port_reply->detail, human, &w);
    cmd_wait_free(&w);
    strata_msg_free(r);
    return rc;
}

int cli_port_detach(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    int rc = agent_check_ifname(a->ifname, e);
    if (rc != 0)
        return rc;
    Strata__V1__PortDetach pd = STRATA__V1__PORT_DETACH__INIT;
    pd.ifname = (char *)a->ifname;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_PORT_DETACH;
    req.port_detach = &pd;
    strata_env *r = NULL;
    char url[512];
    rc = agent_call(ctx, a->agent, &req, STRATA__V1__ENVELOPE__BODY_PORT_REPLY, &r, url,
                    sizeof(url), e);
    if (rc != 0)
        return rc;
    char human[64];
    snprintf(human, sizeof(human), "detached %s", a->ifname);
    agent_report(ctx, "port detach", url, a, r->port_reply->detail, human, NULL);
    strata_msg_free(r);
    return 0;
}

static const struct cli_col CACHE_COLS[] = {
    {"VNI", "vni", CLI_COL_U64},       {"KEY", "key", CLI_COL_STR},
    {"VALUE", "value", CLI_COL_STR},   {"VERSION", "version", CLI_COL_U64},
    {"AGE_MS", "age_ms", CLI_COL_U64}, {"HOLDERS", "holders", CLI_COL_STRS}};

/* The counters are whatever the daemon keeps: their names are data, hence a name: value map. */
static const struct cli_col COUNTER_COLS[] = {{"COUNTER", "name", CLI_COL_NAME},
                                              {"VALUE", "value", CLI_COL_U64}};

static void cache_print(struct cli_ctx *ctx, const char *url, const Strata__V1__CacheShowReply *c)
{
    static const struct cli_col top_cols[] = {{NULL, "source", CLI_COL_STR}};
    const struct cli_cell top_cells[] = {{.s = url}};
    char title[600];
    snprintf(title, sizeof(title), "cache of %s: %zu %s", url, c->n_entries,
             c->n_entries == 1 ? "entry" : "entries");
    const struct cli_view_top top = {title, top_cols, CLI_NCOLS(top_cols), top_cells};
    struct cli_view v;
    cli_view_begin_top(&v, ctx, &top, CACHE_COLS, CLI_NCOLS(CACHE_COLS), "entries");
    for (size_t i = 0; i < c->n_entries; i++) {
        const Strata__V1__CacheEntry *en = c->entries[i];
        cli_view_row(&v, (const struct cli_cell[]){
                             {.u = en->vni},
                             {.s = en->key},
                             {.s = en->value},
                             {.u = en->version},
                             {.u = en->age_ms},
                             {.strs = (const char *const *)en->holders, .n = en->n_holders}});
    }
    cli_view_next(&v, COUNTER_COLS, CLI_NCOLS(COUNTER_COLS), "counters");
    for (size_t i = 0; i < c->n_counters; i++)
        cli_view_row(&v, (const struct cli_cell[]){{.s = c->counters[i]->name},
                                                   {.u = c->counters[i]->value}});
    cli_view_end(&v);
}

int cli_cache_show(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    if ((a->cs == NULL) == (a->agent == NULL))
        return strata_err_set(e, STRATA_EINVAL,
                              "cache show: give exactly one of --cs URL or "
                              "--agent CTL");
    if (a->cs != NULL && strata_url_check(a->cs, "--cs", e) != 0)
        return e->code;
    char url[512];
    if (a->cs != NULL)
        snprintf(url, sizeof(url), "%s", a->cs);
    else
        cli_ctl_url(a->agent, url, sizeof(url));
    Strata__V1__CacheShowRequest cs = STRATA__V1__CACHE_SHOW_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CACHE_SHOW;
    req.cache_show = &cs;
    strata_env *r = NULL;
    int rc = cli_peer_call(ctx, url, &req, STRATA__V1__ENVELOPE__BODY_CACHE_SHOW_REPLY,
                           (unsigned)ctx->timeout_ms, &r, e);
    if (rc != 0)
        return rc;
    cache_print(ctx, url, r->cache_show_reply);
    strata_msg_free(r);
    return 0;
}
