/* cmd_resolve.c - the resolution path seen from outside: `resolve` asks the directory (or a
 * connectivity server) where an address lives (`trace`, every tier of a flow: cmd_trace.c). */
#include "cmd_common.h"

#include <string.h>

#include "addr.h"
#include "view.h"

/* What the operator asked, kept in text for messages. */
struct resolve_key {
    bool by_ip;
    struct strata_ip ip;
    uint8_t mac[6];
    const char *text;
};

static int resolve_parse(const struct cli_args *a, struct resolve_key *k, struct strata_err *e)
{
    if ((a->ip == NULL) == (a->mac == NULL))
        return strata_err_set(e, STRATA_EINVAL,
                              "resolve: give exactly one of --ip IP or --mac MAC");
    if (a->via != NULL && strata_url_check(a->via, "--via", e) != 0)
        return e->code;
    k->by_ip = a->ip != NULL;
    k->text = k->by_ip ? a->ip : a->mac;
    if (k->by_ip)
        return strata_ip_parse(a->ip, &k->ip, e);
    return cmd_parse_endpoint_mac(a->mac, k->mac, e);
}

static const struct cli_col RESOLVE_COLS[] = {
    {"vni", "vni", CLI_COL_U64},
    {"ip", "ip", CLI_COL_STR},
    {"mac", "mac", CLI_COL_STR},
    {"vtep", "vtep", CLI_COL_STR},
    {"host", "host", CLI_COL_STR},
    {"version", "version", CLI_COL_U64},
    {"verdict", "verdict", CLI_COL_STR},
    {"tier", "tier", CLI_COL_STR},
    {"elapsed-us", "elapsed_us", CLI_COL_U64},
    {"server-us", "server_us", CLI_COL_U64},
    {"from-vni", "from_vni", CLI_COL_U64},
    {"applied-index", "applied_index", CLI_COL_U64},
    {"ips", "ips", CLI_COL_STRS},
};

static void resolve_print(struct cli_ctx *ctx, const struct cli_args *a,
                          const struct resolve_key *k, const Strata__V1__ResolveReply *rr,
                          const Strata__V1__ResolveAnswer *ans, uint64_t elapsed_us)
{
    const Strata__V1__Endpoint *ep = ans->endpoint;
    char mac[STRATA_MAC_STRLEN] = "-", vtep[48] = "-", ip[48], ipbuf[STRATA_MAX_IPS][48];
    const char *ips[STRATA_MAX_IPS];
    size_t nips = 0;
    const char *ipstr = k->by_ip ? k->text : NULL;
    if (ep != NULL) {
        cli_fmt_mac(&ep->mac, mac);
        cli_fmt_ip(&ep->vtep, vtep);
        if (ipstr == NULL && ep->n_ips > 0)
            ipstr = cli_fmt_ip(&ep->ips[0], ip);
        for (; nips < ep->n_ips && nips < STRATA_MAX_IPS; nips++)
            ips[nips] = cli_fmt_ip(&ep->ips[nips], ipbuf[nips]);
    }
    const char *tier = rr->tier[0] ? rr->tier : (a->via ? "cs" : "directory");
    struct cli_cell c[CLI_NCOLS(RESOLVE_COLS)] = {
        {.u = a->vni},
        {.s = ipstr},
        {.s = ep != NULL ? mac : NULL},
        {.s = ep != NULL && ep->vtep.len ? vtep : NULL},
        {.s = ep != NULL ? ep->host : NULL},
        {.u = ep != NULL && ep->version ? ep->version : ans->version},
        {.s = cli_verdict_name(ans->verdict)},
        {.s = tier},
        {.u = elapsed_us},
        {.u = rr->elapsed_us},
        {.u = a->from_vni ? a->from_vni : a->vni},
        {.u = rr->applied_index},
        {.strs = ips, .n = nips},
    };
    cli_view_record(ctx, RESOLVE_COLS, CLI_NCOLS(RESOLVE_COLS), c);
}

int cli_resolve(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    struct resolve_key k;
    int rc = resolve_parse(a, &k, e);
    if (rc != 0)
        return rc;
    if (a->linearizable && a->via != NULL)
        return strata_err_set(e, STRATA_EINVAL,
                              "--linearizable reads go to the directory: a connectivity server "
                              "(--via) answers from its cache");
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT;
    q.vni = a->vni;
    q.from_vni = a->from_vni;
    if (k.by_ip) {
        q.ip.data = k.ip.a;
        q.ip.len = strata_ip_len(&k.ip);
    } else {
        q.mac.data = k.mac;
        q.mac.len = 6;
    }
    Strata__V1__ResolveQuery *qs[1] = {&q};
    Strata__V1__ResolveRequest rq = STRATA__V1__RESOLVE_REQUEST__INIT;
    rq.queries = qs;
    rq.n_queries = 1;
    rq.min_index = a->min_index;
    rq.linearizable = a->linearizable;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    req.resolve = &rq;
    strata_env *r = NULL;
    int want = STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY;
    uint64_t t0 = cli_now_us();
    if (a->via != NULL)
        rc = cli_peer_call(ctx, a->via, &req, want, (unsigned)ctx->timeout_ms, &r, e);
    else
        rc = cli_dir_call(ctx, &req, want, &r, e);
    uint64_t elapsed = cli_now_us() - t0;
    if (rc != 0)
        return rc;
    const Strata__V1__ResolveReply *rr = r->resolve_reply;
    const Strata__V1__ResolveAnswer *ans = rr->n_answers == 1 ? rr->answers[0] : NULL;
    if (ans == NULL) {
        rc = strata_err_set(e, STRATA_EPROTO, "resolve: %zu answers to 1 query", rr->n_answers);
    } else if (ans->status != 0) {
        rc = strata_err_set(e, ans->status, "resolve %s %s in VNI %u: %s", k.by_ip ? "IP" : "MAC",
                            k.text, a->vni,
                            ans->message[0] ? ans->message : strata_strerror(ans->status));
    } else if (!ans->found) {
        rc = strata_err_set(e, STRATA_ENOTFOUND, "no endpoint with %s %s in VNI %u",
                            k.by_ip ? "IP" : "MAC", k.text, a->vni);
    } else {
        resolve_print(ctx, a, &k, rr, ans, elapsed);
    }
    strata_msg_free(r);
    return rc;
}
