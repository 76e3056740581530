/* cmd_endpoint.c - endpoints (a VM interface: VN, MAC, IPs, host): add, move, delete, list. */
#include "cmd_common.h"
#include "view.h"

#include <string.h>

#include "addr.h"

/* "10.1.0.5,fd00::5" -> ips[]; rejects empty items and duplicates. */
static int ep_parse_ips(const char *s, struct strata_ip *ips, size_t *n, struct strata_err *e)
{
    *n = 0;
    const char *p = s;
    for (;;) {
        size_t len = strcspn(p, ",");
        char item[STRATA_IP_STRLEN];
        if (len == 0 || len >= sizeof(item))
            return strata_err_set(e, STRATA_EINVAL, "bad IP list \"%.64s\"", s);
        memcpy(item, p, len);
        item[len] = '\0';
        if (*n == STRATA_MAX_IPS)
            return strata_err_set(e, STRATA_EINVAL, "more than %d IPs for one endpoint",
                                  STRATA_MAX_IPS);
        int rc = strata_ip_parse(item, &ips[*n], e);
        if (rc != 0)
            return rc;
        for (size_t i = 0; i < *n; i++)
            if (strata_ip_equal(&ips[i], &ips[*n]))
                return strata_err_set(e, STRATA_EINVAL, "IP %s listed twice", item);
        (*n)++;
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

static const struct cli_col EP_COLS[] = {
    {"VNI", "vni", CLI_COL_U64},   {"MAC", "mac", CLI_COL_STR},
    {"IPS", "ips", CLI_COL_STRS},  {"HOST", "host", CLI_COL_STR},
    {"VTEP", "vtep", CLI_COL_STR}, {"VERSION", "version", CLI_COL_U64}};

/* An endpoint's cells for EP_COLS; its strings are kept in *b. */
struct ep_bufs {
    char mac[STRATA_MAC_STRLEN], vtep[48], ips[STRATA_MAX_IPS][48];
    const char *ipp[STRATA_MAX_IPS];
};

static void ep_cells(const Strata__V1__Endpoint *ep, struct ep_bufs *b, struct cli_cell *c)
{
    size_t n = ep->n_ips < STRATA_MAX_IPS ? ep->n_ips : STRATA_MAX_IPS;
    for (size_t i = 0; i < n; i++)
        b->ipp[i] = cli_fmt_ip(&ep->ips[i], b->ips[i]);
    c[0] = (struct cli_cell){.u = ep->vni};
    c[1] = (struct cli_cell){.s = cli_fmt_mac(&ep->mac, b->mac)};
    c[2] = (struct cli_cell){.strs = b->ipp, .n = n};
    c[3] = (struct cli_cell){.s = ep->host};
    c[4] = (struct cli_cell){.s = ep->vtep.len ? cli_fmt_ip(&ep->vtep, b->vtep) : NULL};
    c[5] = (struct cli_cell){.u = ep->version};
}

/* The endpoint as JSON, with the keys `endpoint list` shows it with. */
static void ep_json(struct cli_json *j, const char *key, const Strata__V1__Endpoint *ep)
{
    struct ep_bufs b;
    struct cli_cell c[CLI_NCOLS(EP_COLS)];
    ep_cells(ep, &b, c);
    cli_view_json_obj(j, key, EP_COLS, CLI_NCOLS(EP_COLS), c);
}

/* Report a write that returns the endpoint (add, move). */
static void ep_report(struct cli_ctx *ctx, const char *op, const char *verb, uint64_t index,
                      const struct cli_args *a, const Strata__V1__Endpoint *ep)
{
    char mac[STRATA_MAC_STRLEN];
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, op, index);
        cli_json_u64(&j, "vni", a->vni);
        cli_json_str(&j, "mac", cmd_mac_canon(a->mac, mac));
        cli_json_str(&j, "host", a->host);
        if (ep != NULL)
            ep_json(&j, "endpoint", ep);
        cmd_json_end(&j);
        return;
    }
    char vtep[48] = "-";
    if (ep != NULL)
        cli_fmt_ip(&ep->vtep, vtep);
    fprintf(ctx->out, "%s endpoint %s in vnet %u on host %s (vtep %s) (index %llu)\n", verb,
            cmd_mac_canon(a->mac, mac), a->vni, a->host, vtep, (unsigned long long)index);
}

int cli_endpoint_add(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    uint8_t mac[6];
    struct strata_ip ips[STRATA_MAX_IPS];
    ProtobufCBinaryData bins[STRATA_MAX_IPS];
    size_t nips = 0;
    int rc = cmd_parse_endpoint_mac(a->mac, mac, e);
    if (rc == 0)
        rc = ep_parse_ips(a->ip, ips, &nips, e);
    if (rc == 0)
        rc = strata_name_check(a->host, "host", e);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < nips; i++) {
        bins[i].data = ips[i].a;
        bins[i].len = strata_ip_len(&ips[i]);
    }
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    ep.vni = a->vni;
    ep.mac.data = mac;
    ep.mac.len = 6;
    ep.ips = bins;
    ep.n_ips = nips;
    ep.host = (char *)a->host;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
    cmd.endpoint_add = &ep;
    cmd.create_only = !a->replace;
    uint64_t index;
    strata_env *r = NULL;
    if ((rc = cmd_write(ctx, &cmd, &index, &r, e)) != 0)
        return rc;
    ep_report(ctx, "endpoint add", a->replace ? "set" : "added", index, a,
              r->write_reply->endpoint);
    strata_msg_free(r);
    return 0;
}

int cli_endpoint_move(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    uint8_t mac[6];
    int rc = cmd_parse_endpoint_mac(a->mac, mac, e);
    if (rc == 0)
        rc = strata_name_check(a->host, "host", e);
    if (rc != 0)
        return rc;
    Strata__V1__EndpointMove mv = STRATA__V1__ENDPOINT_MOVE__INIT;
    mv.vni = a->vni;
    mv.mac.data = mac;
    mv.mac.len = 6;
    mv.host = (char *)a->host;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_MOVE;
    cmd.endpoint_move = &mv;
    uint64_t index;
    strata_env *r = NULL;
    if ((rc = cmd_write(ctx, &cmd, &index, &r, e)) != 0)
        return rc;
    ep_report(ctx, "endpoint move", "moved", index, a, r->write_reply->endpoint);
    strata_msg_free(r);
    return 0;
}

int cli_endpoint_delete(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    uint8_t mac[6];
    int rc = cmd_parse_endpoint_mac(a->mac, mac, e);
    if (rc != 0)
        return rc;
    Strata__V1__EndpointDelete d = STRATA__V1__ENDPOINT_DELETE__INIT;
    d.vni = a->vni;
    d.mac.data = mac;
    d.mac.len = 6;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_DELETE;
    cmd.endpoint_delete = &d;
    uint64_t index;
    if ((rc = cmd_write(ctx, &cmd, &index, NULL, e)) != 0)
        return rc;
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "endpoint delete", index);
        cli_json_u64(&j, "vni", a->vni);
        cli_json_str(&j, "mac", cmd_mac_canon(a->mac, (char[STRATA_MAC_STRLEN]){0}));
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "deleted endpoint %s in vnet %u (index %llu)\n",
                cmd_mac_canon(a->mac, (char[STRATA_MAC_STRLEN]){0}), a->vni,
                (unsigned long long)index);
    }
    return 0;
}

int cli_endpoint_list(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    strata_env *r;
    int rc = cmd_list(ctx, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT, a->vni, a->min_index,
                      a->linearizable, &r, e);
    if (rc != 0)
        return rc;
    const Strata__V1__ListReply *l = r->list_reply;
    struct cli_view v;
    cli_view_begin(&v, ctx, EP_COLS, CLI_NCOLS(EP_COLS), "endpoints", l->applied_index);
    for (size_t i = 0; i < l->n_endpoints; i++) {
        const Strata__V1__Endpoint *ep = l->endpoints[i];
        if (a->vni != 0 && ep->vni != a->vni)
            continue;
        struct ep_bufs b;
        struct cli_cell c[CLI_NCOLS(EP_COLS)];
        ep_cells(ep, &b, c);
        cli_view_row(&v, c);
    }
    cli_view_end(&v);
    strata_msg_free(r);
    return 0;
}
