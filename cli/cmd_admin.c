/* cmd_admin.c - tenants, virtual networks, subnets and hosts: validate locally, write through
 * the directory, list what it holds (gateways and policy are in cmd_gateway.c). */
#include "cmd_common.h"
#include "view.h"

#include <stdlib.h>
#include <string.h>

#include "addr.h"

/* ---------------------------------------------------------------- domain */

int cli_domain_create(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    const char *name = a->pos[0];
    int rc = strata_name_check(name, "domain", e);
    if (rc != 0)
        return rc;
    Strata__V1__Domain d = STRATA__V1__DOMAIN__INIT;
    d.name = (char *)name;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    cmd.domain_create = &d;
    uint64_t index;
    if ((rc = cmd_write(ctx, &cmd, &index, NULL, e)) != 0)
        return rc;
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "domain create", index);
        cli_json_str(&j, "domain", name);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "created domain %s (index %llu)\n", name, (unsigned long long)index);
    }
    return 0;
}

/* A delete of one named object: host delete --id NAME, domain delete NAME. */
static int admin_delete(struct cli_ctx *ctx, Strata__V1__Command *cmd, const char *op,
                        const char *key, const char *name, struct strata_err *e)
{
    uint64_t index;
    int rc = cmd_write(ctx, cmd, &index, NULL, e);
    if (rc != 0)
        return rc;
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, op, index);
        cli_json_str(&j, key, name);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "deleted %s %s (index %llu)\n", key, name, (unsigned long long)index);
    }
    return 0;
}

int cli_domain_delete(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    const char *name = a->pos[0];
    int rc = strata_name_check(name, "domain", e);
    if (rc != 0)
        return rc;
    Strata__V1__DomainDelete d = STRATA__V1__DOMAIN_DELETE__INIT;
    d.name = (char *)name;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_DOMAIN_DELETE;
    cmd.domain_delete = &d;
    return admin_delete(ctx, &cmd, "domain delete", "domain", name, e);
}

int cli_host_delete(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    int rc = strata_name_check(a->id, "host id", e);
    if (rc != 0)
        return rc;
    Strata__V1__HostDelete h = STRATA__V1__HOST_DELETE__INIT;
    h.id = (char *)a->id;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_HOST_DELETE;
    cmd.host_delete = &h;
    return admin_delete(ctx, &cmd, "host delete", "host", a->id, e);
}

static const struct cli_col DOMAIN_COLS[] = {{"DOMAIN", "name", CLI_COL_STR},
                                             {"VERSION", "version", CLI_COL_U64}};

int cli_domain_list(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    strata_env *r;
    int rc =
        cmd_list(ctx, STRATA__V1__OBJ_KIND__OBJ_DOMAIN, 0, a->min_index, a->linearizable, &r, e);
    if (rc != 0)
        return rc;
    const Strata__V1__ListReply *l = r->list_reply;
    struct cli_view v;
    cli_view_begin(&v, ctx, DOMAIN_COLS, CLI_NCOLS(DOMAIN_COLS), "domains", l->applied_index);
    for (size_t i = 0; i < l->n_domains; i++)
        cli_view_row(&v, (const struct cli_cell[]){{.s = l->domains[i]->name},
                                                   {.u = l->domains[i]->version}});
    cli_view_end(&v);
    strata_msg_free(r);
    return 0;
}

/* ---------------------------------------------------------------- vnet */

int cli_vnet_create(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    int rc = strata_name_check(a->domain, "domain", e);
    if (rc == 0 && a->name != NULL)
        rc = cmd_check_label(a->name, "--name", e);
    if (rc != 0)
        return rc;
    Strata__V1__Vnet v = STRATA__V1__VNET__INIT;
    v.vni = a->vni;
    v.domain = (char *)a->domain;
    if (a->name != NULL)
        v.name = (char *)a->name;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_VNET_CREATE;
    cmd.vnet_create = &v;
    uint64_t index;
    if ((rc = cmd_write(ctx, &cmd, &index, NULL, e)) != 0)
        return rc;
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "vnet create", index);
        cli_json_u64(&j, "vni", a->vni);
        cli_json_str(&j, "domain", a->domain);
        cli_json_str(&j, "name", v.name);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "created vnet %u in domain %s (index %llu)\n", a->vni, a->domain,
                (unsigned long long)index);
    }
    return 0;
}

static const struct cli_col VNET_COLS[] = {{"VNI", "vni", CLI_COL_U64},
                                           {"DOMAIN", "domain", CLI_COL_STR},
                                           {"NAME", "name", CLI_COL_STR},
                                           {"VERSION", "version", CLI_COL_U64}};

int cli_vnet_list(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    strata_env *r;
    int rc = cmd_list(ctx, STRATA__V1__OBJ_KIND__OBJ_VNET, 0, a->min_index, a->linearizable, &r, e);
    if (rc != 0)
        return rc;
    const Strata__V1__ListReply *l = r->list_reply;
    struct cli_view v;
    cli_view_begin(&v, ctx, VNET_COLS, CLI_NCOLS(VNET_COLS), "vnets", l->applied_index);
    for (size_t i = 0; i < l->n_vnets; i++) {
        const Strata__V1__Vnet *n = l->vnets[i];
        cli_view_row(&v, (const struct cli_cell[]){
                             {.u = n->vni}, {.s = n->domain}, {.s = n->name}, {.u = n->version}});
    }
    cli_view_end(&v);
    strata_msg_free(r);
    return 0;
}

int cli_vnet_delete(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    Strata__V1__VnetDelete d = STRATA__V1__VNET_DELETE__INIT;
    d.vni = a->vni;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_VNET_DELETE;
    cmd.vnet_delete = &d;
    uint64_t index;
    strata_env *r;
    int rc = cmd_write(ctx, &cmd, &index, &r, e);
    if (rc != 0)
        return rc;
    /* What went with the VN (subnets, policies, gateways' service of it), as the directory
     * applied it: a list read before the delete could miss a change made in between. */
    const char *note =
        r->write_reply != NULL && r->write_reply->note != NULL ? r->write_reply->note : "";
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "vnet delete", index);
        cli_json_u64(&j, "vni", a->vni);
        cli_json_str(&j, "note", note);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "deleted vnet %u (index %llu)%s%s\n", a->vni, (unsigned long long)index,
                *note ? "; " : "", note);
    }
    strata_msg_free(r);
    return 0;
}

/* ---------------------------------------------------------------- subnet */

int cli_subnet_create(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    struct strata_cidr c;
    struct strata_ip gw;
    int rc = strata_cidr_parse(a->cidr, &c, e);
    if (rc == 0)
        rc = strata_ip_parse(a->gateway, &gw, e);
    if (rc != 0)
        return rc;
    char cbuf[STRATA_IP_STRLEN + 4];
    strata_cidr_format(&c, cbuf);
    if (!strata_cidr_contains(&c, &gw))
        return strata_err_set(e, STRATA_EINVAL, "gateway %s is outside %s", a->gateway, cbuf);
    Strata__V1__Subnet s = STRATA__V1__SUBNET__INIT;
    s.vni = a->vni;
    s.prefix.data = c.ip.a;
    s.prefix.len = strata_ip_len(&c.ip);
    s.plen = c.plen;
    s.gateway.data = gw.a;
    s.gateway.len = strata_ip_len(&gw);
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_SUBNET_CREATE;
    cmd.subnet_create = &s;
    uint64_t index;
    if ((rc = cmd_write(ctx, &cmd, &index, NULL, e)) != 0)
        return rc;
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "subnet create", index);
        cli_json_u64(&j, "vni", a->vni);
        cli_json_str(&j, "cidr", cbuf);
        cli_json_str(&j, "gateway", a->gateway);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "created subnet %s (gateway %s) in vnet %u (index %llu)\n", cbuf,
                a->gateway, a->vni, (unsigned long long)index);
    }
    return 0;
}

int cli_subnet_delete(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    struct strata_cidr c;
    int rc = strata_cidr_parse(a->cidr, &c, e);
    if (rc != 0)
        return rc;
    char cbuf[STRATA_IP_STRLEN + 4];
    strata_cidr_format(&c, cbuf);
    Strata__V1__Subnet s = STRATA__V1__SUBNET__INIT;
    s.vni = a->vni;
    s.prefix.data = c.ip.a;
    s.prefix.len = strata_ip_len(&c.ip);
    s.plen = c.plen;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_SUBNET_DELETE;
    cmd.subnet_delete = &s;
    uint64_t index;
    if ((rc = cmd_write(ctx, &cmd, &index, NULL, e)) != 0)
        return rc;
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "subnet delete", index);
        cli_json_u64(&j, "vni", a->vni);
        cli_json_str(&j, "cidr", cbuf);
        cmd_json_end(&j);
    } else {
        fprintf(ctx->out, "deleted subnet %s of vnet %u (index %llu)\n", cbuf, a->vni,
                (unsigned long long)index);
    }
    return 0;
}

static const char *admin_fmt_cidr(const Strata__V1__Subnet *s, char *buf)
{
    struct strata_cidr c;
    if (strata_cidr_from_bytes(s->prefix.data, s->prefix.len, s->plen, &c, NULL) != 0)
        return strcpy(buf, "?");
    return strata_cidr_format(&c, buf);
}

static const struct cli_col SUBNET_COLS[] = {{"VNI", "vni", CLI_COL_U64},
                                             {"CIDR", "cidr", CLI_COL_STR},
                                             {"GATEWAY", "gateway", CLI_COL_STR},
                                             {"VERSION", "version", CLI_COL_U64}};

int cli_subnet_list(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    strata_env *r;
    int rc = cmd_list(ctx, STRATA__V1__OBJ_KIND__OBJ_SUBNET, a->vni, a->min_index, a->linearizable,
                      &r, e);
    if (rc != 0)
        return rc;
    const Strata__V1__ListReply *l = r->list_reply;
    struct cli_view v;
    cli_view_begin(&v, ctx, SUBNET_COLS, CLI_NCOLS(SUBNET_COLS), "subnets", l->applied_index);
    for (size_t i = 0; i < l->n_subnets; i++) {
        const Strata__V1__Subnet *s = l->subnets[i];
        if (a->vni != 0 && s->vni != a->vni)
            continue; /* the server filters too; this keeps the output right if it does not */
        char cidr[STRATA_IP_STRLEN + 4], gw[48];
        admin_fmt_cidr(s, cidr);
        cli_view_row(&v, (const struct cli_cell[]){
                             {.u = s->vni},
                             {.s = cidr},
                             {.s = s->gateway.len ? cli_fmt_ip(&s->gateway, gw) : NULL},
                             {.u = s->version}});
    }
    cli_view_end(&v);
    strata_msg_free(r);
    return 0;
}

/* ---------------------------------------------------------------- host */

/* The directory's record of host `id` before a --replace, as "vtep V, pod P" (empty: none). */
static void host_before(struct cli_ctx *ctx, const char *id, char *out, size_t len)
{
    strata_env *r;
    struct strata_err e;
    out[0] = '\0';
    if (cmd_list(ctx, STRATA__V1__OBJ_KIND__OBJ_HOST, 0, 0, false, &r, &e) != 0)
        return;
    for (size_t i = 0; i < r->list_reply->n_hosts; i++) {
        const Strata__V1__Host *h = r->list_reply->hosts[i];
        struct strata_ip ip;
        char a[STRATA_IP_STRLEN];
        if (strcmp(h->id, id) == 0 &&
            strata_ip_from_bytes(h->vtep.data, h->vtep.len, &ip, NULL) == 0)
            snprintf(out, len, "vtep %s, pod %s", strata_ip_format(&ip, a), h->pod);
    }
    strata_msg_free(r);
}

int cli_host_add(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    struct strata_ip vtep;
    int rc = strata_name_check(a->id, "host id", e);
    if (rc == 0)
        rc = strata_ip_parse(a->vtep, &vtep, e);
    if (rc == 0)
        rc = strata_name_check(a->pod, "pod", e);
    if (rc != 0)
        return rc;
    Strata__V1__Host h = STRATA__V1__HOST__INIT;
    h.id = (char *)a->id;
    h.vtep.data = vtep.a;
    h.vtep.len = strata_ip_len(&vtep);
    h.pod = (char *)a->pod;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_HOST_ADD;
    cmd.host_add = &h;
    cmd.create_only = !a->replace;
    char before[128] = "";
    if (a->replace)
        host_before(ctx, a->id, before, sizeof(before));
    uint64_t index;
    if ((rc = cmd_write(ctx, &cmd, &index, NULL, e)) != 0)
        return rc;
    char now[128];
    snprintf(now, sizeof(now), "vtep %s, pod %s",
             strata_ip_format(&vtep, (char[STRATA_IP_STRLEN]){0}), a->pod);
    if (ctx->json) {
        struct cli_json j;
        cmd_json_write_begin(ctx, &j, "host add", index);
        cli_json_str(&j, "id", a->id);
        cli_json_str(&j, "vtep", a->vtep);
        cli_json_str(&j, "pod", a->pod);
        if (before[0] != '\0')
            cli_json_str(&j, "was", before);
        cmd_json_end(&j);
    } else if (before[0] != '\0' && strcmp(before, now) != 0) {
        fprintf(ctx->out, "replaced host %s: %s, was %s (index %llu)\n", a->id, now, before,
                (unsigned long long)index);
    } else {
        fprintf(ctx->out, "added host %s (vtep %s, pod %s) (index %llu)\n", a->id, a->vtep, a->pod,
                (unsigned long long)index);
    }
    return 0;
}

static const struct cli_col HOST_COLS[] = {{"HOST", "id", CLI_COL_STR},
                                           {"VTEP", "vtep", CLI_COL_STR},
                                           {"POD", "pod", CLI_COL_STR},
                                           {"VERSION", "version", CLI_COL_U64}};

int cli_host_list(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    strata_env *r;
    int rc = cmd_list(ctx, STRATA__V1__OBJ_KIND__OBJ_HOST, 0, a->min_index, a->linearizable, &r, e);
    if (rc != 0)
        return rc;
    const Strata__V1__ListReply *l = r->list_reply;
    struct cli_view v;
    cli_view_begin(&v, ctx, HOST_COLS, CLI_NCOLS(HOST_COLS), "hosts", l->applied_index);
    for (size_t i = 0; i < l->n_hosts; i++) {
        const Strata__V1__Host *h = l->hosts[i];
        char vtep[48];
        cli_view_row(&v, (const struct cli_cell[]){{.s = h->id},
                                                   {.s = cli_fmt_ip(&h->vtep, vtep)},
                                                   {.s = h->pod},
                                                   {.u = h->version}});
    }
    cli_view_end(&v);
    strata_msg_free(r);
    return 0;
}
