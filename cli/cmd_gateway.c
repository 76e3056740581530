/* cmd_gateway.c - L3 gateways (add, delete, list with liveness and the gateway addresses each
 * holds) and the inter-VN policy they enforce (set, delete, list). */
#include "cmd_common.h"
#include "view.h"
#include "cmd_wait.h"

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

/* Each VNI that some gateway serves, once; vnis has room for all of them. */
static size_t gw_served_vnis(const Strata__V1__ListReply *l, uint32_t *vnis)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n_gateways; i++)
        for (size_t k = 0; k < l->gateways[i]->n_vnis; k++) {
            uint32_t v = l->gateways[i]->vnis[k];
            bool seen = false;
            for (size_t j = 0; j < n && !seen; j++)
                seen = vnis[j] == v;
            if (!seen)
                vnis[n++] = v;
        }
    return n;
}

/* Room for one ResolveRequest of STRATA_MAX_BATCH queries: too big for the stack. */
struct gw_batch {
    uint8_t (*macs)[6];
    Strata__V1__ResolveQuery *q;
    Strata__V1__ResolveQuery **qp;
};

/* Ask for the gateway endpoints of vnis[0..m) by their reserved MACs, as of min_index: eps[k]
 * is vnis[k]'s, pointing into *reply (left NULL when nobody holds it). */
static int gw_ask(struct cli_ctx *ctx, const struct gw_batch *b, const uint32_t *vnis, size_t m,
                  uint64_t min_index, const Strata__V1__Endpoint **eps, strata_env **reply,
                  struct strata_err *e)
{
    for (size_t k = 0; k < m; k++) {
        strata__v1__resolve_query__init(&b->q[k]);
        b->q[k].vni = vnis[k];
        strata_gw_mac(vnis[k], b->macs[k]);
        b->q[k].mac = (ProtobufCBinaryData){6, b->macs[k]};
        b->qp[k] = &b->q[k];
    }
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    rr.queries = b->qp;
    rr.n_queries = m;
    rr.min_index = min_index;
    req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    req.resolve = &rr;
    int rc = cli_dir_call(ctx, &req, STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY, reply, e);
    if (rc != 0)
        return rc;
    const Strata__V1__ResolveReply *rep = (*reply)->resolve_reply;
    for (size_t k = 0; k < m && k < rep->n_answers; k++)
        if (rep->answers[k]->found)
            eps[k] = rep->answers[k]->endpoint;
    return 0;
}

/* Who holds each VN's gateway addresses: the directory's gateway endpoints, asked by their
 * reserved MACs, as of the list's index. *eps[k] answers vnis[k] (NULL: nobody). */
static int gw_holds(struct cli_ctx *ctx, const Strata__V1__ListReply *l, uint32_t **vnis_out,
                    strata_env ***reps_out, const Strata__V1__Endpoint ***eps_out, size_t *n_out,
                    size_t *nreps_out, struct strata_err *e)
{
    size_t cap = 0;
    for (size_t i = 0; i < l->n_gateways; i++)
        cap += l->gateways[i]->n_vnis;
    uint32_t *vnis = calloc(cap + 1, sizeof(*vnis));
    const Strata__V1__Endpoint **eps = calloc(cap + 1, sizeof(*eps));
    size_t nchunks = (cap + STRATA_MAX_BATCH - 1) / STRATA_MAX_BATCH;
    strata_env **reps = calloc(nchunks + 1, sizeof(*reps));
    struct gw_batch b = {calloc(STRATA_MAX_BATCH, 6), calloc(STRATA_MAX_BATCH, sizeof(*b.q)),
                         calloc(STRATA_MAX_BATCH, sizeof(*b.qp))};
    int rc = 0;
    size_t n = 0, nreps = 0;
    if (vnis == NULL || eps == NULL || reps == NULL || b.macs == NULL || b.q == NULL ||
        b.qp == NULL)
        rc = strata_err_set(e, STRATA_ENOMEM, "out of memory");
    else
        n = gw_served_vnis(l, vnis);
    for (size_t at = 0; rc == 0 && at < n; at += STRATA_MAX_BATCH) {
        size_t m = n - at < STRATA_MAX_BATCH ? n - at : STRATA_MAX_BATCH;
        rc = gw_ask(ctx, &b, vnis + at, m, l->applied_index, eps + at, &reps[nreps], e);
        if (rc == 0)
            nreps++;
    }
    free(b.macs);
    free(b.q);
    free(b.qp);
    if (rc != 0) {
        for (size_t i = 0; reps != NULL && i < nreps; i++)
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
    *nreps_out = nreps;
    return 0;
}

/* A gateway's "holds": the VNs whose gateway address it holds, with those addresses. */
static const struct cli_col GW_HOLD_COLS[] = {{"VNI", "vni", CLI_COL_U64},
                                              {"IPS", "ips", CLI_COL_STRS}};

static const struct cli_col GW_COLS[] = {
    {"GATEWAY", "id", CLI_COL_STR},     {"VTEP", "vtep", CLI_COL_STR},
    {"VNIS", "vnis", CLI_COL_U32S},     {"LIVE", "live", CLI_COL_BOOL},
    {"CSD", "csd", CLI_COL_STR},        {"HOLDS", "holds", CLI_COL_ROWS},
    {"VERSION", "version", CLI_COL_U64}};

/* The text of every address the gateway endpoints hold: ipp[k] lists eps[k]'s (n[k] of them). */
struct gw_hold_ips {
    char (*txt)[STRATA_MAX_IPS][48];
    const char *(*ipp)[STRATA_MAX_IPS];
    size_t *n;
};

static int gw_hold_ips(const Strata__V1__Endpoint **eps, size_t nv, struct gw_hold_ips *h,
                       struct strata_err *e)
{
    h->txt = calloc(nv + 1, sizeof(*h->txt));
    h->ipp = calloc(nv + 1, sizeof(*h->ipp));
    h->n = calloc(nv + 1, sizeof(*h->n));
    if (h->txt == NULL || h->ipp == NULL || h->n == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    for (size_t k = 0; k < nv; k++) {
        if (eps[k] == NULL)
            continue;
        h->n[k] = eps[k]->n_ips < STRATA_MAX_IPS ? eps[k]->n_ips : STRATA_MAX_IPS;
        for (size_t m = 0; m < h->n[k]; m++)
            h->ipp[k][m] = cli_fmt_ip(&eps[k]->ips[m], h->txt[k][m]);
    }
    return 0;
}

static void gw_hold_ips_free(struct gw_hold_ips *h)
{
    free(h->txt);
    free(h->ipp);
    free(h->n);
}

/* One gateway's row; holds[nv * 2] is room for its "holds" rows. */
static void gw_row(struct cli_view *v, const Strata__V1__Gateway *g, const uint32_t *vnis,
                   const Strata__V1__Endpoint **eps, size_t nv, const struct gw_hold_ips *h,
                   struct cli_cell *holds)
{
    size_t nh = 0;
    for (size_t k = 0; k < nv; k++) {
        if (eps[k] == NULL || eps[k]->host == NULL || strcmp(eps[k]->host, g->id) != 0)
            continue;
        holds[2 * nh] = (struct cli_cell){.u = vnis[k]};
        holds[2 * nh + 1] = (struct cli_cell){.strs = h->ipp[k], .n = h->n[k]};
        nh++;
    }
    char vtep[48];
    cli_view_row(v,
                 (const struct cli_cell[]){
                     {.s = g->id},
                     {.s = cli_fmt_ip(&g->vtep, vtep)},
                     {.u32s = g->vnis, .n = g->n_vnis},
                     {.b = g->live},
                     {.s = g->csd && *g->csd ? g->csd : NULL},
                     {.sub = GW_HOLD_COLS, .nsub = CLI_NCOLS(GW_HOLD_COLS), .rows = holds, .n = nh},
                     {.u = g->version}});
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
    struct gw_hold_ips h;
    struct cli_cell *holds = calloc(2 * nv + 1, sizeof(*holds));
    rc = gw_hold_ips(eps, nv, &h, e);
    if (rc == 0 && holds == NULL)
        rc = strata_err_set(e, STRATA_ENOMEM, "out of memory");
    if (rc == 0) {
        struct cli_view v;
        cli_view_begin(&v, ctx, GW_COLS, CLI_NCOLS(GW_COLS), "gateways", l->applied_index);
        for (size_t i = 0; i < l->n_gateways; i++)
            gw_row(&v, l->gateways[i], vnis, eps, nv, &h, holds);
        cli_view_end(&v);
    }
    gw_hold_ips_free(&h);
    free(holds);
    for (size_t i = 0; i < nreps; i++)
        strata_msg_free(reps[i]);
    free(reps);
    free(vnis);
    free(eps);
    strata_msg_free(r);
    return rc;
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
    if (rc == 0)
        rc = cmd_wait_check(a, e);
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
    struct cmd_wait w;
    rc = cmd_wait_run(ctx, a, index, &w, e);
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "policy set", index);
        cli_json_str(&j, "domain", a->domain);
        cli_json_u64(&j, "from", a->from);
        cli_json_u64(&j, "to", a->to);
        cli_json_str(&j, "verdict", cli_verdict_name(v));
        cmd_wait_json(&w, &j);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "policy %s: vnet %u -> vnet %u %s (index %llu)\n", a->domain, a->from,
                a->to, cli_verdict_name(v), (unsigned long long)index);
        cmd_wait_print(ctx, &w);
    }
    cmd_wait_free(&w);
    return rc;
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
    if (rc == 0)
        rc = cmd_wait_check(a, e);
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
    /* The gateways serving either VN stop enforcing it: what --wait waits for. */
    struct cmd_wait w;
    rc = cmd_wait_run(ctx, a, index, &w, e);
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "policy delete", index);
        cli_json_str(&j, "domain", a->domain);
        cli_json_u64(&j, "from", a->from);
        cli_json_u64(&j, "to", a->to);
        cmd_wait_json(&w, &j);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "deleted policy %s: vnet %u -> vnet %u (index %llu)\n", a->domain,
                a->from, a->to, (unsigned long long)index);
        cmd_wait_print(ctx, &w);
    }
    cmd_wait_free(&w);
    return rc;
}
