/* cmd_gateway.c - L3 gateways (add, delete, list with liveness and the gateway addresses each
 * holds) and the inter-VN policy they enforce (set, delete, list). */
#include "cmd_common.h"
#include "view.h"

#include <stdlib.h>
#include <string.h>

#include "addr.h"

#define CMD_MAX_GW_VNIS STRATA_MAX_VNIS

/* ---------------------------------------------------------------- gateway */

/* "100,200" -> vnis[]; rejects empty items, bad VNIs and duplicates. */
static int admin_parse_vnis(const char *s, uint32_t *vnis, size_t cap, size_t *n,
                            struct strata_err *e)
{
    *n = 0;
    const char *p = s;
    for (;;) {
        size_t len = strcspn(p, ",");
        char item[32];
        if (len == 0 || len >= sizeof(item))
            return strata_err_set(e, STRATA_EINVAL, "bad VNI list \"%.64s\"", s);
        memcpy(item, p, len);
        item[len] = '\0';
        uint32_t v;
        int rc = strata_vni_parse(item, &v, e);
        if (rc != 0)
            return rc;
        for (size_t i = 0; i < *n; i++)
            if (vnis[i] == v)
                return strata_err_set(e, STRATA_EINVAL, "VNI %u listed twice", v);
        if (*n == cap)
            return strata_err_set(e, STRATA_EINVAL, "more than %zu VNIs", cap);
        vnis[(*n)++] = v;
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

int cli_gateway_add(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    struct strata_ip vtep;
    static uint32_t vnis[CMD_MAX_GW_VNIS];
    size_t nv = 0;
    int rc = strata_name_check(a->id, "gateway id", e);
    if (rc == 0)
        rc = strata_ip_parse(a->vtep, &vtep, e);
    if (rc == 0)
        rc = admin_parse_vnis(a->vnis, vnis, CMD_MAX_GW_VNIS, &nv, e);
    if (rc != 0)
        return rc;
    Strata__V1__Gateway g = STRATA__V1__GATEWAY__INIT;
    g.id = (char *)a->id;
    g.vtep.data = vtep.a;
    g.vtep.len = strata_ip_len(&vtep);
    g.vnis = vnis;
    g.n_vnis = nv;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_GATEWAY_ADD;
    cmd.gateway_add = &g;
    cmd.create_only = !a->replace;
    uint64_t index;
    if ((rc = cmd_write(ctx, &cmd, &index, NULL, e)) != 0)
        return rc;
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "gateway add", index);
        cli_json_str(&j, "id", a->id);
        cli_json_str(&j, "vtep", a->vtep);
        cli_json_arr_begin(&j, "vnis");
        for (size_t i = 0; i < nv; i++)
            cli_json_u64(&j, NULL, vnis[i]);
        cli_json_arr_end(&j);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "%s gateway %s (vtep %s, vnis %s) (index %llu)\n",
                a->replace ? "set" : "added", a->id, a->vtep, a->vnis, (unsigned long long)index);
    }
    return 0;
}

/* Who holds each VN's gateway addresses: the directory's gateway endpoints, asked by their
 * reserved MACs, as of the list's index. *eps[k] answers vnis[k] (NULL: nobody). */
static int gw_holds(struct cli_ctx *ctx, const Strata__V1__ListReply *l, uint32_t **vnis_out,
                    strata_env ***reps_out, const Strata__V1__Endpoint ***eps_out, size_t *n_out,
                    size_t *nreps_out, struct strata_err *e)
{
    size_t n = 0, cap = 0;
    uint32_t *vnis = NULL;
    for (size_t i = 0; i < l->n_gateways; i++)
        cap += l->gateways[i]->n_vnis;
    vnis = calloc(cap + 1, sizeof(*vnis));
    const Strata__V1__Endpoint **eps = calloc(cap + 1, sizeof(*eps));
    size_t nchunks = (cap + STRATA_MAX_BATCH - 1) / STRATA_MAX_BATCH;
    strata_env **reps = calloc(nchunks + 1, sizeof(*reps));
    uint8_t(*macs)[6] = calloc(STRATA_MAX_BATCH, 6);
    Strata__V1__ResolveQuery *q = calloc(STRATA_MAX_BATCH, sizeof(*q));
    Strata__V1__ResolveQuery **qp = calloc(STRATA_MAX_BATCH, sizeof(*qp));
    int rc = 0;
    if (vnis == NULL || eps == NULL || reps == NULL || macs == NULL || q == NULL || qp == NULL) {
        rc = strata_err_set(e, STRATA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < l->n_gateways; i++)
        for (size_t k = 0; k < l->gateways[i]->n_vnis; k++) {
            uint32_t v = l->gateways[i]->vnis[k];
            bool seen = false;
            for (size_t j = 0; j < n && !seen; j++)
                seen = vnis[j] == v;
            if (!seen)
                vnis[n++] = v;
        }
    size_t nreps = 0;
    for (size_t at = 0; at < n; at += STRATA_MAX_BATCH) {
        size_t m = n - at < STRATA_MAX_BATCH ? n - at : STRATA_MAX_BATCH;
        for (size_t k = 0; k < m; k++) {
            strata__v1__resolve_query__init(&q[k]);
            q[k].vni = vnis[at + k];
            strata_gw_mac(vnis[at + k], macs[k]);
            q[k].mac = (ProtobufCBinaryData){6, macs[k]};
            qp[k] = &q[k];
        }
        Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
        strata_env req = STRATA__V1__ENVELOPE__INIT;
        rr.queries = qp;
        rr.n_queries = m;
        rr.min_index = l->applied_index;
        req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
        req.resolve = &rr;
        strata_env *r;
        rc = cli_dir_call(ctx, &req, STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY, &r, e);
        if (rc != 0)
            goto out;
        reps[nreps++] = r;
        for (size_t k = 0; k < m && k < r->resolve_reply->n_answers; k++)
            if (r->resolve_reply->answers[k]->found)
                eps[at + k] = r->resolve_reply->answers[k]->endpoint;
    }
    *nreps_out = nreps;
out:
    free(macs);
    free(q);
    free(qp);
    if (rc != 0) {
        for (size_t i = 0; reps != NULL && i < nchunks; i++)
            if (reps[i] != NULL)
                strata_msg_free(reps[i]);
        free(reps);
        free(vnis);
        free(eps);
        return rc;
    }
    *vnis_out = vnis;
    *reps_out = reps;
    *eps_out = eps;
    *n_out = n;
    return 0;
}

int cli_gateway_list(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    strata_env *r;
    int rc =
        cmd_list(ctx, STRATA__V1__OBJ_KIND__OBJ_GATEWAY, 0, a->min_index, a->linearizable, &r, e);
    if (rc != 0)
        return rc;
    const Strata__V1__ListReply *l = r->list_reply;
    uint32_t *vnis;
    strata_env **reps;
    const Strata__V1__Endpoint **eps;
    size_t nv, nreps = 0;
    if ((rc = gw_holds(ctx, l, &vnis, &reps, &eps, &nv, &nreps, e)) != 0) {
        strata_msg_free(r);
        return rc;
    }
    struct cli_json j;
    struct cli_table *t = NULL;
    if (ctx->json) {
        cli_json_init(&j, ctx->out);
        cli_json_obj_begin(&j, NULL);
        cli_json_u64(&j, "applied_index", l->applied_index);
        cli_json_arr_begin(&j, "gateways");
    } else {
        static const char *const hdr[] = {"GATEWAY", "VTEP", "VNIS", "LIVE", "HOLDS", "VERSION"};
        t = cli_table_new(6, hdr);
    }
    for (size_t i = 0; i < l->n_gateways; i++) {
        const Strata__V1__Gateway *g = l->gateways[i];
        char vtep[48], ver[24], list[256], live[96], holds[1024], ips[512];
        size_t off = 0, hoff = 0;
        list[0] = holds[0] = '\0';
        for (size_t k = 0; k < g->n_vnis && off + 12 < sizeof(list); k++)
            off +=
                (size_t)snprintf(list + off, sizeof(list) - off, "%s%u", k ? "," : "", g->vnis[k]);
        if (ctx->json) {
            cli_json_obj_begin(&j, NULL);
            cli_json_str(&j, "id", g->id);
            cli_json_str(&j, "vtep", cli_fmt_ip(&g->vtep, vtep));
            cli_json_arr_begin(&j, "vnis");
            for (size_t k = 0; k < g->n_vnis; k++)
                cli_json_u64(&j, NULL, g->vnis[k]);
            cli_json_arr_end(&j);
            cli_json_bool(&j, "live", g->live);
            cli_json_str(&j, "csd", g->csd && *g->csd ? g->csd : NULL);
            cli_json_arr_begin(&j, "holds");
        }
        for (size_t k = 0; k < nv; k++) {
            const Strata__V1__Endpoint *ep = eps[k];
            if (ep == NULL || ep->host == NULL || strcmp(ep->host, g->id) != 0)
                continue;
            if (ctx->json) {
                cli_json_obj_begin(&j, NULL);
                cli_json_u64(&j, "vni", vnis[k]);
                cli_json_arr_begin(&j, "ips");
                for (size_t m = 0; m < ep->n_ips; m++)
                    cli_json_str(&j, NULL, cli_fmt_ip(&ep->ips[m], vtep));
                cli_json_arr_end(&j);
                cli_json_obj_end(&j);
            } else if (hoff + 16 < sizeof(holds)) {
                cli_fmt_ips(ep->ips, ep->n_ips, ips, sizeof(ips));
                hoff += (size_t)snprintf(holds + hoff, sizeof(holds) - hoff, "%s%u:%s",
                                         hoff ? " " : "", vnis[k], ips);
            }
        }
        if (ctx->json) {
            cli_json_arr_end(&j);
            cli_json_u64(&j, "version", g->version);
            cli_json_obj_end(&j);
            continue;
        }
        if (g->csd && *g->csd)
            snprintf(live, sizeof(live), "%s (%s)", g->live ? "yes" : "no", g->csd);
        else
            snprintf(live, sizeof(live), "%s", g->live ? "yes" : "no");
        const char *row[] = {g->id, cli_fmt_ip(&g->vtep, vtep), list,
                             live,  hoff ? holds : "-",         cmd_u64(g->version, ver)};
        cli_table_row(t, row);
    }
    if (ctx->json) {
        cli_json_arr_end(&j);
        cmd_json_end(&j);
    } else {
        cli_table_print(t, ctx->out);
        cli_table_free(t);
    }
    for (size_t i = 0; i < nreps; i++)
        strata_msg_free(reps[i]);
    free(reps);
    free(vnis);
    free(eps);
    strata_msg_free(r);
    return 0;
}

int cli_gateway_delete(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    int rc = strata_name_check(a->id, "gateway id", e);
    if (rc != 0)
        return rc;
    Strata__V1__GatewayDelete d = STRATA__V1__GATEWAY_DELETE__INIT;
    d.id = (char *)a->id;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_GATEWAY_DELETE;
    cmd.gateway_delete = &d;
    uint64_t index;
    if ((rc = cmd_write(ctx, &cmd, &index, NULL, e)) != 0)
        return rc;
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "gateway delete", index);
        cli_json_str(&j, "id", a->id);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "deleted gateway %s (index %llu)\n", a->id, (unsigned long long)index);
    }
    return 0;
}

/* ---------------------------------------------------------------- policy */

int cli_policy_set(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    Strata__V1__Verdict v;
    int rc = strata_name_check(a->domain, "domain", e);
    if (rc == 0)
        rc = cmd_parse_verdict(a->pos[0], &v, e);
    if (rc != 0)
        return rc;
    Strata__V1__Policy p = STRATA__V1__POLICY__INIT;
    p.domain = (char *)a->domain;
    p.from_vni = a->from;
    p.to_vni = a->to;
    p.verdict = v;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_POLICY_SET;
    cmd.policy_set = &p;
    uint64_t index;
    if ((rc = cmd_write(ctx, &cmd, &index, NULL, e)) != 0)
        return rc;
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "policy set", index);
        cli_json_str(&j, "domain", a->domain);
        cli_json_u64(&j, "from", a->from);
        cli_json_u64(&j, "to", a->to);
        cli_json_str(&j, "verdict", cli_verdict_name(v));
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "policy %s: vnet %u -> vnet %u %s (index %llu)\n", a->domain, a->from,
                a->to, cli_verdict_name(v), (unsigned long long)index);
    }
    return 0;
}

static const struct cli_col POLICY_COLS[] = {{"DOMAIN", "domain", CLI_COL_STR},
                                             {"FROM", "from", CLI_COL_U64},
                                             {"TO", "to", CLI_COL_U64},
                                             {"VERDICT", "verdict", CLI_COL_STR},
                                             {"VERSION", "version", CLI_COL_U64}};

int cli_policy_list(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    strata_env *r;
    int rc =
        cmd_list(ctx, STRATA__V1__OBJ_KIND__OBJ_POLICY, 0, a->min_index, a->linearizable, &r, e);
    if (rc != 0)
        return rc;
    const Strata__V1__ListReply *l = r->list_reply;
    struct cli_view v;
    cli_view_begin(&v, ctx, POLICY_COLS, CLI_NCOLS(POLICY_COLS), "policies", l->applied_index);
    for (size_t i = 0; i < l->n_policies; i++) {
        const Strata__V1__Policy *p = l->policies[i];
        if (a->domain != NULL && strcmp(a->domain, p->domain) != 0)
            continue;
        cli_view_row(&v, (const struct cli_cell[]){{.s = p->domain},
                                                   {.u = p->from_vni},
                                                   {.u = p->to_vni},
                                                   {.s = cli_verdict_name(p->verdict)},
                                                   {.u = p->version}});
    }
    cli_view_end(&v);
    strata_msg_free(r);
    return 0;
}

int cli_policy_delete(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    int rc = strata_name_check(a->domain, "domain", e);
    if (rc != 0)
        return rc;
    Strata__V1__PolicyDelete p = STRATA__V1__POLICY_DELETE__INIT;
    p.domain = (char *)a->domain;
    p.from_vni = a->from;
    p.to_vni = a->to;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_POLICY_DELETE;
    cmd.policy_delete = &p;
    uint64_t index;
    if ((rc = cmd_write(ctx, &cmd, &index, NULL, e)) != 0)
        return rc;
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "policy delete", index);
        cli_json_str(&j, "domain", a->domain);
        cli_json_u64(&j, "from", a->from);
        cli_json_u64(&j, "to", a->to);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "deleted policy %s: vnet %u -> vnet %u (index %llu)\n", a->domain,
                a->from, a->to, (unsigned long long)index);
    }
    return 0;
}
