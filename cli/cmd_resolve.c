/* cmd_resolve.c - the resolution path seen from outside: `resolve` asks the directory (or a
 * connectivity server) where an address lives; `trace` asks an agent to show every hop. */
#include "cmd_common.h"

#include <string.h>

#include "addr.h"

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

static void resolve_print(struct cli_ctx *ctx, const struct cli_args *a,
                          const struct resolve_key *k, const Strata__V1__ResolveReply *rr,
                          const Strata__V1__ResolveAnswer *ans, uint64_t elapsed_us)
{
    const Strata__V1__Endpoint *ep = ans->endpoint;
    char mac[STRATA_MAC_STRLEN] = "-", vtep[48] = "-", ip[48];
    const char *ipstr = k->by_ip ? k->text : NULL;
    if (ep != NULL) {
        cli_fmt_mac(&ep->mac, mac);
        cli_fmt_ip(&ep->vtep, vtep);
        if (ipstr == NULL && ep->n_ips > 0)
            ipstr = cli_fmt_ip(&ep->ips[0], ip);
    }
    uint64_t version = ep != NULL && ep->version ? ep->version : ans->version;
    const char *tier = rr->tier[0] ? rr->tier : (a->via ? "cs" : "directory");
    const char *verdict = cli_verdict_name(ans->verdict);
    if (ctx->json) {
        struct cli_json j;
        cli_json_init(&j, ctx->out);
        cli_json_obj_begin(&j, NULL);
        cli_json_u64(&j, "vni", a->vni);
        cli_json_str(&j, "ip", ipstr);
        cli_json_str(&j, "mac", ep != NULL ? mac : NULL);
        cli_json_str(&j, "vtep", ep != NULL && ep->vtep.len ? vtep : NULL);
        cli_json_str(&j, "host", ep != NULL ? ep->host : NULL);
        cli_json_u64(&j, "version", version);
        cli_json_str(&j, "verdict", verdict);
        cli_json_str(&j, "tier", tier);
        cli_json_u64(&j, "elapsed_us", elapsed_us);
        cli_json_u64(&j, "server_us", rr->elapsed_us);
        cli_json_u64(&j, "from_vni", a->from_vni ? a->from_vni : a->vni);
        cli_json_u64(&j, "applied_index", rr->applied_index);
        cli_json_arr_begin(&j, "ips");
        for (size_t i = 0; ep != NULL && i < ep->n_ips; i++) {
            char one[48];
            cli_json_str(&j, NULL, cli_fmt_ip(&ep->ips[i], one));
        }
        cli_json_arr_end(&j);
        cmd_json_end(&j);
        return;
    }
    static const char *const hdr[] = {"KEY", "VALUE"};
    struct cli_table *t = cli_table_new(2, hdr);
    char vni[24], ver[24], el[48], fv[24];
    snprintf(el, sizeof(el), "%llu us (server %llu us)", (unsigned long long)elapsed_us,
             (unsigned long long)rr->elapsed_us);
    const char *rows[][2] = {
        {"vni", cmd_u64(a->vni, vni)},
        {"ip", ipstr},
        {"mac", mac},
        {"vtep", vtep},
        {"host", ep != NULL ? ep->host : NULL},
        {"version", cmd_u64(version, ver)},
        {"verdict", verdict},
        {"from-vni", cmd_u64(a->from_vni ? a->from_vni : a->vni, fv)},
        {"tier", tier},
        {"elapsed", el},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        cli_table_row(t, rows[i]);
    cli_table_print(t, ctx->out);
    cli_table_free(t);
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

/* ---------------------------------------------------------------- trace */

static void trace_print(struct cli_ctx *ctx, const struct cli_args *a, const char *url,
                        const Strata__V1__TraceReply *tr, uint64_t elapsed_us)
{
    if (ctx->json) {
        struct cli_json j;
        cli_json_init(&j, ctx->out);
        cli_json_obj_begin(&j, NULL);
        cli_json_u64(&j, "vni", a->vni);
        cli_json_str(&j, "src_ip", a->src_ip);
        cli_json_str(&j, "dst_ip", a->dst_ip);
        cli_json_str(&j, "agent", url);
        cli_json_u64(&j, "elapsed_us", elapsed_us);
        cli_json_arr_begin(&j, "hops");
        for (size_t i = 0; i < tr->n_hops; i++) {
            const Strata__V1__TraceHop *h = tr->hops[i];
            cli_json_obj_begin(&j, NULL);
            cli_json_str(&j, "tier", h->tier);
            cli_json_str(&j, "node", h->node);
            cli_json_str(&j, "action", h->action);
            cli_json_str(&j, "result", h->result);
            cli_json_u64(&j, "version", h->version);
            cli_json_u64(&j, "age_ms", h->age_ms);
            cli_json_u64(&j, "elapsed_us", h->elapsed_us);
            cli_json_obj_end(&j);
        }
        cli_json_arr_end(&j);
        cmd_json_end(&j);
        return;
    }
    fprintf(ctx->out, "trace vni %u %s -> %s via %s (%llu us)\n", a->vni, a->src_ip, a->dst_ip, url,
            (unsigned long long)elapsed_us);
    static const char *const hdr[] = {"#",      "TIER",    "NODE",   "ACTION",
                                      "RESULT", "VERSION", "AGE_MS", "ELAPSED_US"};
    struct cli_table *t = cli_table_new(8, hdr);
    for (size_t i = 0; i < tr->n_hops; i++) {
        const Strata__V1__TraceHop *h = tr->hops[i];
        char n[24], ver[24], age[24], el[24];
        const char *row[] = {cmd_u64(i + 1, n),
                             h->tier,
                             h->node,
                             h->action,
                             h->result,
                             h->version ? cmd_u64(h->version, ver) : "-",
                             cmd_u64(h->age_ms, age),
                             cmd_u64(h->elapsed_us, el)};
        cli_table_row(t, row);
    }
    cli_table_print(t, ctx->out);
    cli_table_free(t);
}

int cli_trace(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    struct strata_ip src, dst;
    int rc = strata_ip_parse(a->src_ip, &src, e);
    if (rc == 0)
        rc = strata_ip_parse(a->dst_ip, &dst, e);
    if (rc != 0)
        return rc;
    if (src.family != dst.family)
        return strata_err_set(e, STRATA_EINVAL, "--src-ip and --dst-ip are of different families");
    char ctl[400], url[512];
    if (a->agent != NULL)
        snprintf(ctl, sizeof(ctl), "%s", a->agent);
    else if ((rc = cli_default_agent(ctl, sizeof(ctl), e)) != 0)
        return rc;
    cli_ctl_url(ctl, url, sizeof(url));
    Strata__V1__TraceRequest tq = STRATA__V1__TRACE_REQUEST__INIT;
    tq.vni = a->vni;
    tq.src_ip.data = src.a;
    tq.src_ip.len = strata_ip_len(&src);
    tq.dst_ip.data = dst.a;
    tq.dst_ip.len = strata_ip_len(&dst);
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_TRACE;
    req.trace = &tq;
    strata_env *r = NULL;
    struct strata_err pe = {0};
    uint64_t t0 = cli_now_us();
    rc = cli_peer_call(ctx, url, &req, STRATA__V1__ENVELOPE__BODY_TRACE_REPLY,
                       (unsigned)ctx->timeout_ms, &r, &pe);
    uint64_t elapsed = cli_now_us() - t0;
    /* pe.msg already names the socket. */
    if (rc == STRATA_ETIMEDOUT || rc == STRATA_EUNAVAIL)
        return strata_err_set(e, rc, "trace: %s (is strata-agentd running with --ctl %s?)", pe.msg,
                              ctl);
    if (rc != 0)
        return strata_err_set(e, rc, "trace: the agent cannot trace: %s", pe.msg);
    trace_print(ctx, a, url, r->trace_reply, elapsed);
    strata_msg_free(r);
    return 0;
}
