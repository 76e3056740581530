/* dir_fsm_testutil.h - helpers for the FSM's unit tests: build commands from text, record changes.
 */
#ifndef DIR_FSM_TESTUTIL_H
#define DIR_FSM_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dir_fsm.h"
#include "msg.h"

#define T_MAX_CHANGES 4096

/* A fixture: an FSM, the next Raft index, and every change it announced (deep copies). */
struct t_fsm {
    struct dir_fsm *f;
    uint64_t index;
    uint64_t client_id; /* != 0: commands carry (client_id, next req_id) */
    uint64_t req_id;
    struct dir_result res;
    Strata__V1__Change *chg[T_MAX_CHANGES];
    size_t nchg;
    /* != NULL: sees every command before it is applied (test_fsm_fuzz collects its seeds) */
    void (*rec)(struct t_fsm *t, const Strata__V1__Command *c);
    bool create_only; /* every command is sent with Command.create_only so */
};

static inline void t_hook(void *arg, const Strata__V1__Change *c)
{
    struct t_fsm *t = arg;
    size_t n = strata__v1__change__get_packed_size(c);
    uint8_t *b = malloc(n + 1);
    strata__v1__change__pack(c, b);
    assert_true(t->nchg < T_MAX_CHANGES);
    t->chg[t->nchg] = strata__v1__change__unpack(NULL, n, b);
    assert_non_null(t->chg[t->nchg]);
    t->nchg++;
    free(b);
}

static inline void t_clear_changes(struct t_fsm *t)
{
    for (size_t i = 0; i < t->nchg; i++)
        strata__v1__change__free_unpacked(t->chg[i], NULL);
    t->nchg = 0;
}

static inline struct t_fsm *t_new(void)
{
    struct t_fsm *t = calloc(1, sizeof(*t));
    t->f = dir_fsm_new();
    dir_fsm_set_change_hook(t->f, t_hook, t);
    t->index = 1;
    return t;
}

static inline void t_free(struct t_fsm *t)
{
    t_clear_changes(t);
    dir_fsm_free(t->f);
    free(t);
}

static inline int t_apply(struct t_fsm *t, Strata__V1__Command *c)
{
    if (t->client_id) {
        c->client_id = t->client_id;
        c->req_id = ++t->req_id;
    }
    c->create_only = c->create_only || t->create_only;
    if (t->rec != NULL)
        t->rec(t, c);
    dir_fsm_apply_cmd(t->f, t->index++, c, &t->res);
    return t->res.status;
}

static inline void t_mac(const char *s, uint8_t mac[6])
{
    assert_int_equal(strata_mac_parse(s, mac, NULL), 0);
}

static inline ProtobufCBinaryData t_ipb(const char *s, struct strata_ip *ip)
{
    assert_int_equal(strata_ip_parse(s, ip, NULL), 0);
    ProtobufCBinaryData b = {strata_ip_len(ip), ip->a};
    return b;
}

static inline int t_domain(struct t_fsm *t, const char *name)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__Domain d = STRATA__V1__DOMAIN__INIT;
    d.name = (char *)name;
    c.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    c.domain_create = &d;
    return t_apply(t, &c);
}

static inline int t_vnet(struct t_fsm *t, uint32_t vni, const char *domain, const char *name)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__Vnet v = STRATA__V1__VNET__INIT;
    v.vni = vni;
    v.domain = (char *)domain;
    v.name = (char *)name;
    c.op_case = STRATA__V1__COMMAND__OP_VNET_CREATE;
    c.vnet_create = &v;
    return t_apply(t, &c);
}

static inline int t_vnet_del(struct t_fsm *t, uint32_t vni)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__VnetDelete v = STRATA__V1__VNET_DELETE__INIT;
    v.vni = vni;
    c.op_case = STRATA__V1__COMMAND__OP_VNET_DELETE;
    c.vnet_delete = &v;
    return t_apply(t, &c);
}

/* cidr like "10.1.0.0/24" (host bits are passed through unchecked so tests can send bad ones) */
static inline int t_subnet(struct t_fsm *t, uint32_t vni, const char *cidr, const char *gw)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__Subnet s = STRATA__V1__SUBNET__INIT;
    struct strata_ip p, g;
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", cidr);
    char *slash = strchr(buf, '/');
    assert_non_null(slash);
    *slash = 0;
    uint32_t plen = (uint32_t)strtoul(slash + 1, NULL, 10);
    assert_int_equal(strata_ip_parse(buf, &p, NULL), 0);
    s.vni = vni;
    s.prefix.data = p.a;
    s.prefix.len = strata_ip_len(&p);
    s.plen = plen;
    if (gw)
        s.gateway = t_ipb(gw, &g);
    c.op_case = STRATA__V1__COMMAND__OP_SUBNET_CREATE;
    c.subnet_create = &s;
    return t_apply(t, &c);
}

static inline int t_host(struct t_fsm *t, const char *id, const char *vtep, const char *pod)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__Host h = STRATA__V1__HOST__INIT;
    struct strata_ip ip;
    h.id = (char *)id;
    h.vtep = t_ipb(vtep, &ip);
    h.pod = (char *)pod;
    c.op_case = STRATA__V1__COMMAND__OP_HOST_ADD;
    c.host_add = &h;
    return t_apply(t, &c);
}

static inline int t_gw(struct t_fsm *t, const char *id, const char *vtep, const uint32_t *vnis,
                       size_t n)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__Gateway g = STRATA__V1__GATEWAY__INIT;
    struct strata_ip ip;
    g.id = (char *)id;
    g.vtep = t_ipb(vtep, &ip);
    g.vnis = (uint32_t *)vnis;
    g.n_vnis = n;
    c.op_case = STRATA__V1__COMMAND__OP_GATEWAY_ADD;
    c.gateway_add = &g;
    return t_apply(t, &c);
}

static inline int t_gw_live(struct t_fsm *t, const char *id, bool live, const char *csd)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__GatewayLive g = STRATA__V1__GATEWAY_LIVE__INIT;
    g.id = (char *)id;
    g.live = live;
    g.csd = (char *)csd;
    c.op_case = STRATA__V1__COMMAND__OP_GATEWAY_LIVE;
    c.gateway_live = &g;
    return t_apply(t, &c);
}

static inline int t_gw_del(struct t_fsm *t, const char *id)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__GatewayDelete g = STRATA__V1__GATEWAY_DELETE__INIT;
    g.id = (char *)id;
    c.op_case = STRATA__V1__COMMAND__OP_GATEWAY_DELETE;
    c.gateway_delete = &g;
    return t_apply(t, &c);
}

/* ips: comma-separated list, "" for none */
static inline int t_ep(struct t_fsm *t, uint32_t vni, const char *mac, const char *ips,
                       const char *host)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__Endpoint e = STRATA__V1__ENDPOINT__INIT;
    uint8_t m[6];
    struct strata_ip ip[20];
    ProtobufCBinaryData b[20];
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", ips);
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && n < 20;
         tok = strtok_r(NULL, ",", &save))
        b[n] = t_ipb(tok, &ip[n]), n++;
    t_mac(mac, m);
    e.vni = vni;
    e.mac.data = m;
    e.mac.len = 6;
    e.ips = b;
    e.n_ips = n;
    e.host = (char *)host;
    c.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
    c.endpoint_add = &e;
    return t_apply(t, &c);
}

static inline int t_move(struct t_fsm *t, uint32_t vni, const char *mac, const char *host)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__EndpointMove mv = STRATA__V1__ENDPOINT_MOVE__INIT;
    uint8_t m[6];
    t_mac(mac, m);
    mv.vni = vni;
    mv.mac.data = m;
    mv.mac.len = 6;
    mv.host = (char *)host;
    c.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_MOVE;
    c.endpoint_move = &mv;
    return t_apply(t, &c);
}

static inline int t_del(struct t_fsm *t, uint32_t vni, const char *mac)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__EndpointDelete d = STRATA__V1__ENDPOINT_DELETE__INIT;
    uint8_t m[6];
    t_mac(mac, m);
    d.vni = vni;
    d.mac.data = m;
    d.mac.len = 6;
    c.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_DELETE;
    c.endpoint_delete = &d;
    return t_apply(t, &c);
}

static inline int t_policy(struct t_fsm *t, const char *domain, uint32_t from, uint32_t to,
                           Strata__V1__Verdict v)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__Policy p = STRATA__V1__POLICY__INIT;
    p.domain = (char *)domain;
    p.from_vni = from;
    p.to_vni = to;
    p.verdict = v;
    c.op_case = STRATA__V1__COMMAND__OP_POLICY_SET;
    c.policy_set = &p;
    return t_apply(t, &c);
}

static inline int t_policy_del(struct t_fsm *t, const char *domain, uint32_t from, uint32_t to)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__PolicyDelete p = STRATA__V1__POLICY_DELETE__INIT;
    p.domain = (char *)domain;
    p.from_vni = from;
    p.to_vni = to;
    c.op_case = STRATA__V1__COMMAND__OP_POLICY_DELETE;
    c.policy_delete = &p;
    return t_apply(t, &c);
}

static inline int t_member(struct t_fsm *t, uint64_t id, const char *raft, const char *api)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__MemberSet m = STRATA__V1__MEMBER_SET__INIT;
    m.id = id;
    m.raft = (char *)raft;
    m.api = (char *)api;
    c.op_case = STRATA__V1__COMMAND__OP_MEMBER_SET;
    c.member_set = &m;
    return t_apply(t, &c);
}

static inline int t_member_del(struct t_fsm *t, uint64_t id)
{
    Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
    Strata__V1__MemberDel m = STRATA__V1__MEMBER_DEL__INIT;
    m.id = id;
    c.op_case = STRATA__V1__COMMAND__OP_MEMBER_DEL;
    c.member_del = &m;
    return t_apply(t, &c);
}

/* Text form of a wire IP for assertions. */
static inline const char *t_ipstr(const ProtobufCBinaryData *b, char *buf)
{
    struct strata_ip ip;
    assert_int_equal(strata_ip_from_bytes(b->data, b->len, &ip, NULL), 0);
    return strata_ip_format(&ip, buf);
}

/* The flood list of a Change as "a,b,c" ("" when empty). */
static inline const char *t_flood(const Strata__V1__Change *c, char *buf, size_t len)
{
    char a[STRATA_IP_STRLEN];
    buf[0] = 0;
    for (size_t i = 0; i < c->n_flood_vteps; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, len - l, "%s%s", i ? "," : "", t_ipstr(&c->flood_vteps[i], a));
    }
    return buf;
}

/* Number of recorded changes of `kind` that carry a flood list update (vnet, not deleted). */
static inline size_t t_count_kind(const struct t_fsm *t, Strata__V1__ObjKind kind, int deleted)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nchg; i++)
        if (t->chg[i]->kind == kind && (deleted < 0 || t->chg[i]->deleted == (deleted != 0)))
            n++;
    return n;
}

/* A common base: domain acme with VNs 100 (10.1.0.0/24, fd00:1::/64) and 200 (10.2.0.0/24),
 * domain other with VN 300 (10.1.0.0/24 again: overlapping address spaces across VNs), hosts h1
 * (192.168.0.1) and h2 (192.168.0.2). Changes cleared. */
static inline void t_base(struct t_fsm *t)
{
    assert_int_equal(t_domain(t, "acme"), 0);
    assert_int_equal(t_domain(t, "other"), 0);
    assert_int_equal(t_vnet(t, 100, "acme", "web"), 0);
    assert_int_equal(t_vnet(t, 200, "acme", "db"), 0);
    assert_int_equal(t_vnet(t, 300, "other", "x"), 0);
    assert_int_equal(t_subnet(t, 100, "10.1.0.0/24", "10.1.0.1"), 0);
    assert_int_equal(t_subnet(t, 100, "fd00:1::/64", NULL), 0);
    assert_int_equal(t_subnet(t, 200, "10.2.0.0/24", "10.2.0.1"), 0);
    assert_int_equal(t_subnet(t, 300, "10.1.0.0/24", "10.1.0.1"), 0);
    assert_int_equal(t_host(t, "h1", "192.168.0.1", "podA"), 0);
    assert_int_equal(t_host(t, "h2", "192.168.0.2", "podA"), 0);
    t_clear_changes(t);
}

#endif
