/* dir_fsm_dump.c - canonical text form of the whole FSM state, for comparing two states. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "dir_fsm_int.h"

static void put_ip(FILE *o, const ProtobufCBinaryData *b)
{
    char a[STRATA_IP_STRLEN];
    fputs(b->len ? dir_ip_text(b, a) : "-", o);
}

static void put_ips(FILE *o, const ProtobufCBinaryData *v, size_t n)
{
    if (!n)
        fputc('-', o);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', o);
        put_ip(o, &v[i]);
    }
}

static void dump_vnets(FILE *o, const struct dir_fsm *f)
{
    size_t n;
    Strata__V1__Vnet **v = dir_sorted_vnets(f, &n);
    for (size_t i = 0; i < n; i++) {
        const struct dir_vn *vn = dir_vn_get(f, v[i]->vni);
        fprintf(o, "vnet vni=%u domain=%s name=%s endpoints=%zu flood=", v[i]->vni, v[i]->domain,
                v[i]->name, vn->nendpoints);
        put_ips(o, vn->flood, vn->nflood);
        fprintf(o, " v=%" PRIu64 "\n", v[i]->version);
    }
    free(v);
    Strata__V1__Subnet **s = dir_sorted_subnets(f, 0, &n);
    for (size_t i = 0; i < n; i++) {
        fprintf(o, "subnet vni=%u prefix=", s[i]->vni);
        put_ip(o, &s[i]->prefix);
        fprintf(o, "/%u gateway=", s[i]->plen);
        put_ip(o, &s[i]->gateway);
        fprintf(o, " v=%" PRIu64 "\n", s[i]->version);
    }
    free(s);
}

static void dump_holders(FILE *o, const struct dir_fsm *f)
{
    size_t n;
    Strata__V1__Host **h = dir_sorted_hosts(f, &n);
    for (size_t i = 0; i < n; i++) {
        fprintf(o, "host id=%s vtep=", h[i]->id);
        put_ip(o, &h[i]->vtep);
        fprintf(o, " pod=%s v=%" PRIu64 "\n", h[i]->pod, h[i]->version);
    }
    free(h);
    Strata__V1__Gateway **g = dir_sorted_gateways(f, 0, &n);
    for (size_t i = 0; i < n; i++) {
        fprintf(o, "gateway id=%s vtep=", g[i]->id);
        put_ip(o, &g[i]->vtep);
        fputs(" vnis=", o);
        for (size_t j = 0; j < g[i]->n_vnis; j++)
            fprintf(o, "%s%u", j ? "," : "", g[i]->vnis[j]);
        fprintf(o, "%s live=%d csd=%s v=%" PRIu64 "\n", g[i]->n_vnis ? "" : "-", g[i]->live,
                dir_str(g[i]->csd), g[i]->version);
    }
    free(g);
}

static void dump_endpoints(FILE *o, const struct dir_fsm *f)
{
    size_t n;
    char m[STRATA_MAC_STRLEN];
    Strata__V1__Endpoint **e = dir_sorted_endpoints(f, 0, &n);
    for (size_t i = 0; i < n; i++) {
        fprintf(o, "endpoint vni=%u mac=%s ips=", e[i]->vni, strata_mac_format(e[i]->mac.data, m));
        put_ips(o, e[i]->ips, e[i]->n_ips);
        fprintf(o, " host=%s vtep=", e[i]->host);
        put_ip(o, &e[i]->vtep);
        fprintf(o, " v=%" PRIu64 "\n", e[i]->version);
    }
    free(e);
}

static void dump_rest(FILE *o, const struct dir_fsm *f)
{
    size_t n;
    Strata__V1__Policy **p = dir_sorted_policies(f, &n);
    for (size_t i = 0; i < n; i++)
        fprintf(o, "policy domain=%s from=%u to=%u verdict=%s v=%" PRIu64 "\n", p[i]->domain,
                p[i]->from_vni, p[i]->to_vni,
                p[i]->verdict == STRATA__V1__VERDICT__VERDICT_ALLOW ? "allow" : "deny",
                p[i]->version);
    free(p);
    Strata__V1__Member **m = dir_sorted_members(f, &n);
    for (size_t i = 0; i < n; i++)
        fprintf(o, "member id=%" PRIu64 " raft=%s api=%s\n", m[i]->id, m[i]->raft, m[i]->api);
    free(m);
    for (size_t i = 0; i < f->fifo_len; i++) {
        const struct dir_dedup *d = f->fifo[(f->fifo_head + i) % f->fifo_cap];
        fprintf(o, "dedup client=%" PRIu64 " req=%" PRIu64 " status=%d index=%" PRIu64 " msg=%s\n",
                d->client_id, d->req_id, d->status, d->index, d->msg ? d->msg : "");
    }
}

char *dir_fsm_dump(const struct dir_fsm *f)
{
    char *text = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&text, &len);
    if (!o)
        return NULL;
    fprintf(o, "applied %" PRIu64 "\n", f->applied);
    size_t n;
    Strata__V1__Domain **d = dir_sorted_domains(f, &n);
    for (size_t i = 0; i < n; i++)
        fprintf(o, "domain name=%s v=%" PRIu64 "\n", d[i]->name, d[i]->version);
    free(d);
    dump_vnets(o, f);
    dump_holders(o, f);
    dump_endpoints(o, f);
    dump_rest(o, f);
    if (fclose(o) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
