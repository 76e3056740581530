/* msg_validate.c - structural validation of every Envelope body after protobuf-c decoding.
 *
 * protobuf-c checks wire syntax only: lengths of bytes fields, counts of repeated fields and
 * ranges of numbers are ours to check. One function per message type; each takes the dotted
 * path of the object it checks so errors name the field ("write.cmd.endpoint_add.mac: 5 bytes,
 * want 6"). Codes: a missing body/op/required sub-message is STRATA_EPROTO, a bad value is
 * STRATA_EINVAL, a count or string over its bound is STRATA_ETOOBIG. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "audit.h"
#include "msg.h"

#define IFNAME_MAX 15 /* IFNAMSIZ - 1 */

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
    } while (0)

/* Child path "parent.field" or "parent.field[i]" (i < 0: no index) into buf. A path too long
 * for buf is truncated: it only ever ends up in an error message. */
static const char *sub(char *buf, size_t cap, const char *parent, const char *field, long i)
{
    int n;
    if (i >= 0)
        n = snprintf(buf, cap, "%s.%s[%ld]", parent, field, i);
    else
        n = snprintf(buf, cap, "%s.%s", parent, field);
    if (n < 0)
        buf[0] = '\0';
    return buf;
}
#define PATH_MAX_LEN 160
#define SUB(field, i) sub(pbuf, sizeof(pbuf), path, field, (long)(i))

/* ------------------------------------------------------------------ field checks */

static int v_str(struct strata_err *e, const char *path, const char *field, const char *s,
                 bool required)
{
    size_t n = s != NULL ? strnlen(s, STRATA_MAX_STR + 1) : 0;
    if (n > STRATA_MAX_STR)
        return strata_err_set(e, STRATA_ETOOBIG, "%s.%s: longer than %d bytes", path, field,
                              STRATA_MAX_STR);
    if (required && n == 0)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: required", path, field);
    return 0;
}

/* allow_zero: the field may be 0 meaning "none/same/all" (ResolveQuery.from_vni, ListRequest). */
static int v_vni(struct strata_err *e, const char *path, const char *field, uint32_t vni,
                 bool allow_zero)
{
    if (vni == 0 && allow_zero)
        return 0;
    if (!strata_vni_valid(vni))
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: VNI %u out of range %u..%u", path, field,
                              vni, STRATA_VNI_MIN, STRATA_VNI_MAX);
    return 0;
}

/* unicast: the MAC names an endpoint being created, so broadcast/multicast/zero are errors. */
static int v_mac(struct strata_err *e, const char *path, const char *field,
                 const ProtobufCBinaryData *b, bool required, bool unicast)
{
    if (b->len == 0 && !required)
        return 0;
    if (b->len != 6)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: %zu bytes, want 6", path, field, b->len);
    if (unicast && !strata_mac_is_unicast(b->data)) {
        char buf[STRATA_MAC_STRLEN];
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: %s is not a unicast address", path, field,
                              strata_mac_format(b->data, buf));
    }
    return 0;
}

static int v_ip(struct strata_err *e, const char *path, const char *field,
                const ProtobufCBinaryData *b, bool required)
{
    if (b->len == 0 && !required)
        return 0;
    if (b->len != 4 && b->len != 16)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: %zu bytes, want 4 or 16", path, field,
                              b->len);
    return 0;
}

/* A VTEP being registered: an address of the host's underlay, so a unicast one. (Checked here,
 * on requests, not when the directory applies its log: entries written before the rule stand.) */
static int v_vtep(struct strata_err *e, const char *path, const ProtobufCBinaryData *b)
{
    TRY(v_ip(e, path, "vtep", b, true));
    const uint8_t *a = b->data;
    const char *bad = NULL;
    static const uint8_t zero[16], loop6[16] = {[15] = 1};
    if (memcmp(a, zero, b->len) == 0)
        bad = "unspecified";
    else if (b->len == 4 && a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
        bad = "the broadcast address";
    else if ((b->len == 4 && (a[0] & 0xf0) == 0xe0) || (b->len == 16 && a[0] == 0xff))
        bad = "a multicast address";
    else if ((b->len == 4 && a[0] == 127) || (b->len == 16 && memcmp(a, loop6, 16) == 0))
        bad = "a loopback address";
    else if (b->len == 4 && a[0] == 0)
        bad = "in 0.0.0.0/8 (this host, not an address others reach)";
    if (bad == NULL)
        return 0;
    struct strata_ip ip;
    char s[STRATA_IP_STRLEN];
    strata_ip_from_bytes(a, b->len, &ip, NULL);
    return strata_err_set(e, STRATA_EINVAL,
                          "%s.vtep: %s is %s: a VTEP is a unicast address of the host's underlay",
                          path, strata_ip_format(&ip, s), bad);
}

static int v_count(struct strata_err *e, const char *path, const char *field, size_t n, size_t max)
{
    if (n > max)
        return strata_err_set(e, STRATA_ETOOBIG, "%s.%s: %zu entries, max %zu", path, field, n,
                              max);
    return 0;
}

static int v_ips(struct strata_err *e, const char *path, const char *field, size_t n,
                 const ProtobufCBinaryData *ips, size_t max)
{
    TRY(v_count(e, path, field, n, max));
    for (size_t i = 0; i < n; i++)
        if (ips[i].len != 4 && ips[i].len != 16)
            return strata_err_set(e, STRATA_EINVAL, "%s.%s[%zu]: %zu bytes, want 4 or 16", path,
                                  field, i, ips[i].len);
    return 0;
}

static int v_vnis(struct strata_err *e, const char *path, const char *field, size_t n,
                  const uint32_t *vnis)
{
    TRY(v_count(e, path, field, n, STRATA_MAX_VNIS));
    for (size_t i = 0; i < n; i++)
        if (!strata_vni_valid(vnis[i]))
            return strata_err_set(e, STRATA_EINVAL, "%s.%s[%zu]: VNI %u out of range %u..%u", path,
                                  field, i, vnis[i], STRATA_VNI_MIN, STRATA_VNI_MAX);
    return 0;
}

static int v_present(struct strata_err *e, const char *path, const char *field, const void *p)
{
    if (p == NULL)
        return strata_err_set(e, STRATA_EPROTO, "%s.%s: missing", path, field);
    return 0;
}

static int v_verdict(struct strata_err *e, const char *path, const char *field, int v, bool decided)
{
    if (decided && v != STRATA__V1__VERDICT__VERDICT_ALLOW &&
        v != STRATA__V1__VERDICT__VERDICT_DENY)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: %d, want ALLOW or DENY", path, field, v);
    if (v < STRATA__V1__VERDICT__VERDICT_UNKNOWN || v > STRATA__V1__VERDICT__VERDICT_DENY)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: unknown verdict %d", path, field, v);
    return 0;
}

static int v_kind(struct strata_err *e, const char *path, const char *field, int k, bool required)
{
    if (k < STRATA__V1__OBJ_KIND__OBJ_NONE || k > STRATA__V1__OBJ_KIND__OBJ_MEMBER ||
        (required && k == STRATA__V1__OBJ_KIND__OBJ_NONE))
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: unknown object kind %d", path, field, k);
    return 0;
}

/* A member id is a Raft server id: 0 is never valid. */
static int v_id(struct strata_err *e, const char *path, const char *field, uint64_t id)
{
    if (id == 0)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: must be non-zero", path, field);
    return 0;
}

/* libraft only understands IPv4 a.b.c.d:port. */
static int v_raft_addr(struct strata_err *e, const char *path, const char *field, const char *s)
{
    TRY(v_str(e, path, field, s, true));
    char ip[16];
    uint16_t port;
    struct strata_err pe;
    if (strata_hostport_parse(s, ip, &port, &pe) < 0)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: %s", path, field, pe.msg);
    return 0;
}

/* ------------------------------------------------------------------ objects
 * `write` is true when the object is being created (a Command or a registration): then key
 * fields are required and endpoint MACs must be unicast. Objects in replies are checked for
 * shape only. */

static int v_domain(struct strata_err *e, const char *path, const Strata__V1__Domain *d, bool write)
{
    return v_str(e, path, "name", d->name, write);
}

static int v_vnet(struct strata_err *e, const char *path, const Strata__V1__Vnet *v, bool write)
{
    TRY(v_vni(e, path, "vni", v->vni, false));
    TRY(v_str(e, path, "domain", v->domain, write));
    return v_str(e, path, "name", v->name, false);
}

static int v_subnet(struct strata_err *e, const char *path, const Strata__V1__Subnet *s)
{
    TRY(v_vni(e, path, "vni", s->vni, false));
    TRY(v_ip(e, path, "prefix", &s->prefix, true));
    struct strata_cidr c;
    struct strata_err pe;
    if (strata_cidr_from_bytes(s->prefix.data, s->prefix.len, s->plen, &c, &pe) < 0)
        return strata_err_set(e, STRATA_EINVAL, "%s.prefix: %s", path, pe.msg);
    TRY(v_ip(e, path, "gateway", &s->gateway, false));
    if (s->gateway.len == 0)
        return 0;
    struct strata_ip gw;
    strata_ip_from_bytes(s->gateway.data, s->gateway.len, &gw, NULL);
    if (!strata_cidr_contains(&c, &gw)) {
        char gbuf[STRATA_IP_STRLEN], cbuf[STRATA_IP_STRLEN + 4];
        return strata_err_set(e, STRATA_EINVAL, "%s.gateway: %s is outside %s", path,
                              strata_ip_format(&gw, gbuf), strata_cidr_format(&c, cbuf));
    }
    return 0;
}

static int v_host(struct strata_err *e, const char *path, const Strata__V1__Host *h, bool write)
{
    TRY(v_str(e, path, "id", h->id, write));
    TRY(write ? v_vtep(e, path, &h->vtep) : v_ip(e, path, "vtep", &h->vtep, false));
    return v_str(e, path, "pod", h->pod, false);
}

static int v_gateway(struct strata_err *e, const char *path, const Strata__V1__Gateway *g,
                     bool write)
{
    TRY(v_str(e, path, "id", g->id, write));
    TRY(write ? v_vtep(e, path, &g->vtep) : v_ip(e, path, "vtep", &g->vtep, false));
    TRY(v_str(e, path, "csd", g->csd, false));
    return v_vnis(e, path, "vnis", g->n_vnis, g->vnis);
}

static int v_gateway_live(struct strata_err *e, const char *path, const Strata__V1__GatewayLive *g)
{
    TRY(v_str(e, path, "id", g->id, true));
    return v_str(e, path, "csd", g->csd, true);
}

static int v_endpoint(struct strata_err *e, const char *path, const Strata__V1__Endpoint *ep,
                      bool write)
{
    /* In replies an endpoint may carry only the key it answers for (an INVALIDATE of an IP
     * key has no MAC): unset fields pass there, but set ones must still be well-formed. */
    TRY(v_vni(e, path, "vni", ep->vni, !write));
    TRY(v_mac(e, path, "mac", &ep->mac, write, write));
    TRY(v_ips(e, path, "ips", ep->n_ips, ep->ips, STRATA_MAX_IPS));
    TRY(v_str(e, path, "host", ep->host, write));
    return v_ip(e, path, "vtep", &ep->vtep, false);
}

static int v_policy(struct strata_err *e, const char *path, const Strata__V1__Policy *p, bool write)
{
    TRY(v_str(e, path, "domain", p->domain, write));
    TRY(v_vni(e, path, "from_vni", p->from_vni, false));
    TRY(v_vni(e, path, "to_vni", p->to_vni, false));
    return v_verdict(e, path, "verdict", p->verdict, write);
}

static int v_policy_delete(struct strata_err *e, const char *path,
                           const Strata__V1__PolicyDelete *p)
{
    TRY(v_str(e, path, "domain", p->domain, true));
    TRY(v_vni(e, path, "from_vni", p->from_vni, false));
    return v_vni(e, path, "to_vni", p->to_vni, false);
}

static int v_member(struct strata_err *e, const char *path, const Strata__V1__Member *m)
{
    TRY(v_str(e, path, "raft", m->raft, false));
    TRY(v_str(e, path, "api", m->api, false));
    TRY(v_str(e, path, "version", m->version, false));
    TRY(v_str(e, path, "git", m->git, false));
    return v_str(e, path, "role", m->role, false);
}

static int v_endpoint_move(struct strata_err *e, const char *path,
                           const Strata__V1__EndpointMove *m)
{
    TRY(v_vni(e, path, "vni", m->vni, false));
    TRY(v_mac(e, path, "mac", &m->mac, true, false));
    return v_str(e, path, "host", m->host, true);
}

static int v_endpoint_delete(struct strata_err *e, const char *path,
                             const Strata__V1__EndpointDelete *d)
{
    TRY(v_vni(e, path, "vni", d->vni, false));
    return v_mac(e, path, "mac", &d->mac, true, false);
}

/* Lists of objects: bound the count first (before touching elements), then check each. */
#define V_LIST(n, arr, field, max, fn, ...)                                                        \
    do {                                                                                           \
        TRY(v_count(e, path, field, (n), (max)));                                                  \
        for (size_t i_ = 0; i_ < (n); i_++) {                                                      \
            TRY(v_present(e, path, field, (arr)[i_]));                                             \
            TRY(fn(e, SUB(field, i_), (arr)[i_], ##__VA_ARGS__));                                  \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------------ directory writes */

static int v_command(struct strata_err *e, const char *path, const Strata__V1__Command *c)
{
    char pbuf[PATH_MAX_LEN];
    switch (c->op_case) {
    case STRATA__V1__COMMAND__OP_DOMAIN_CREATE:
        TRY(v_present(e, path, "domain_create", c->domain_create));
        return v_domain(e, SUB("domain_create", -1), c->domain_create, true);
    case STRATA__V1__COMMAND__OP_VNET_CREATE:
        TRY(v_present(e, path, "vnet_create", c->vnet_create));
        return v_vnet(e, SUB("vnet_create", -1), c->vnet_create, true);
    case STRATA__V1__COMMAND__OP_VNET_DELETE:
        TRY(v_present(e, path, "vnet_delete", c->vnet_delete));
        return v_vni(e, SUB("vnet_delete", -1), "vni", c->vnet_delete->vni, false);
    case STRATA__V1__COMMAND__OP_SUBNET_CREATE:
        TRY(v_present(e, path, "subnet_create", c->subnet_create));
        return v_subnet(e, SUB("subnet_create", -1), c->subnet_create);
    case STRATA__V1__COMMAND__OP_HOST_ADD:
        TRY(v_present(e, path, "host_add", c->host_add));
        return v_host(e, SUB("host_add", -1), c->host_add, true);
    case STRATA__V1__COMMAND__OP_GATEWAY_ADD:
        TRY(v_present(e, path, "gateway_add", c->gateway_add));
        return v_gateway(e, SUB("gateway_add", -1), c->gateway_add, true);
    case STRATA__V1__COMMAND__OP_ENDPOINT_ADD:
        TRY(v_present(e, path, "endpoint_add", c->endpoint_add));
        return v_endpoint(e, SUB("endpoint_add", -1), c->endpoint_add, true);
    case STRATA__V1__COMMAND__OP_ENDPOINT_MOVE:
        TRY(v_present(e, path, "endpoint_move", c->endpoint_move));
        return v_endpoint_move(e, SUB("endpoint_move", -1), c->endpoint_move);
    case STRATA__V1__COMMAND__OP_ENDPOINT_DELETE:
        TRY(v_present(e, path, "endpoint_delete", c->endpoint_delete));
        return v_endpoint_delete(e, SUB("endpoint_delete", -1), c->endpoint_delete);
    case STRATA__V1__COMMAND__OP_POLICY_SET:
        TRY(v_present(e, path, "policy_set", c->policy_set));
        return v_policy(e, SUB("policy_set", -1), c->policy_set, true);
    case STRATA__V1__COMMAND__OP_MEMBER_SET:
        TRY(v_present(e, path, "member_set", c->member_set));
        TRY(v_id(e, SUB("member_set", -1), "id", c->member_set->id));
        TRY(v_raft_addr(e, pbuf, "raft", c->member_set->raft));
        return v_str(e, pbuf, "api", c->member_set->api, false);
    case STRATA__V1__COMMAND__OP_MEMBER_DEL:
        TRY(v_present(e, path, "member_del", c->member_del));
        return v_id(e, SUB("member_del", -1), "id", c->member_del->id);
    case STRATA__V1__COMMAND__OP_GATEWAY_LIVE:
        TRY(v_present(e, path, "gateway_live", c->gateway_live));
        return v_gateway_live(e, SUB("gateway_live", -1), c->gateway_live);
    case STRATA__V1__COMMAND__OP_GATEWAY_DELETE:
        TRY(v_present(e, path, "gateway_delete", c->gateway_delete));
        return v_str(e, SUB("gateway_delete", -1), "id", c->gateway_delete->id, true);
    case STRATA__V1__COMMAND__OP_POLICY_DELETE:
        TRY(v_present(e, path, "policy_delete", c->policy_delete));
        return v_policy_delete(e, SUB("policy_delete", -1), c->policy_delete);
    case STRATA__V1__COMMAND__OP_HOST_DELETE:
        TRY(v_present(e, path, "host_delete", c->host_delete));
        return v_str(e, SUB("host_delete", -1), "id", c->host_delete->id, true);
    case STRATA__V1__COMMAND__OP_SUBNET_DELETE: {
        TRY(v_present(e, path, "subnet_delete", c->subnet_delete));
        const Strata__V1__Subnet *s = c->subnet_delete;
        TRY(v_vni(e, SUB("subnet_delete", -1), "vni", s->vni, false));
        TRY(v_ip(e, SUB("subnet_delete", -1), "prefix", &s->prefix, true));
        if (s->plen > (s->prefix.len == 4 ? 32u : 128u))
            return strata_err_set(e, STRATA_EINVAL, "%s.subnet_delete.plen: %u", path, s->plen);
        return 0;
    }
    case STRATA__V1__COMMAND__OP_DOMAIN_DELETE:
        TRY(v_present(e, path, "domain_delete", c->domain_delete));
        return v_str(e, SUB("domain_delete", -1), "name", c->domain_delete->name, true);
    case STRATA__V1__COMMAND__OP__NOT_SET:
    default:
        return strata_err_set(e, STRATA_EPROTO, "%s: command has no operation", path);
    }
}

static int v_write(struct strata_err *e, const char *path, const Strata__V1__WriteRequest *w)
{
    char pbuf[PATH_MAX_LEN];
    TRY(v_present(e, path, "cmd", w->cmd));
    return v_command(e, SUB("cmd", -1), w->cmd);
}

static int v_write_reply(struct strata_err *e, const char *path, const Strata__V1__WriteReply *r)
{
    char pbuf[PATH_MAX_LEN];
    if (r->endpoint != NULL)
        TRY(v_endpoint(e, SUB("endpoint", -1), r->endpoint, false));
    return 0;
}

static int v_write_batch(struct strata_err *e, const char *path,
                         const Strata__V1__WriteBatchRequest *w)
{
    char pbuf[PATH_MAX_LEN];
    TRY(v_count(e, path, "cmds", w->n_cmds, STRATA_MAX_BATCH));
    if (w->n_cmds == 0)
        return strata_err_set(e, STRATA_EINVAL, "%s.cmds: empty", path);
    for (size_t i = 0; i < w->n_cmds; i++) {
        TRY(v_present(e, path, "cmds", w->cmds[i]));
        TRY(v_command(e, SUB("cmds", i), w->cmds[i]));
    }
    return 0;
}

static int v_write_result(struct strata_err *e, const char *path, const Strata__V1__WriteResult *r)
{
    char pbuf[PATH_MAX_LEN];
    TRY(v_str(e, path, "message", r->message, false));
    if (r->reply != NULL)
        TRY(v_write_reply(e, SUB("reply", -1), r->reply));
    return 0;
}

/* ------------------------------------------------------------------ directory reads */

static int v_list(struct strata_err *e, const char *path, const Strata__V1__ListRequest *l)
{
    TRY(v_kind(e, path, "kind", l->kind, true));
    return v_vni(e, path, "vni", l->vni, true);
}

static int v_list_reply(struct strata_err *e, const char *path, const Strata__V1__ListReply *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_domains, r->domains, "domains", STRATA_MAX_LIST, v_domain, false);
    V_LIST(r->n_vnets, r->vnets, "vnets", STRATA_MAX_LIST, v_vnet, false);
    V_LIST(r->n_subnets, r->subnets, "subnets", STRATA_MAX_LIST, v_subnet);
    V_LIST(r->n_hosts, r->hosts, "hosts", STRATA_MAX_LIST, v_host, false);
    V_LIST(r->n_gateways, r->gateways, "gateways", STRATA_MAX_LIST, v_gateway, false);
    V_LIST(r->n_endpoints, r->endpoints, "endpoints", STRATA_MAX_LIST, v_endpoint, false);
    V_LIST(r->n_policies, r->policies, "policies", STRATA_MAX_LIST, v_policy, false);
    V_LIST(r->n_members, r->members, "members", STRATA_MAX_LIST, v_member);
    return 0;
}

static int v_resolve_query(struct strata_err *e, const char *path,
                           const Strata__V1__ResolveQuery *q)
{
    TRY(v_vni(e, path, "vni", q->vni, false));
    TRY(v_vni(e, path, "from_vni", q->from_vni, true));
    if ((q->ip.len > 0) == (q->mac.len > 0))
        return strata_err_set(e, STRATA_EINVAL, "%s: exactly one of ip and mac must be set", path);
    TRY(v_ip(e, path, "ip", &q->ip, false));
    return v_mac(e, path, "mac", &q->mac, false, false);
}

static int v_resolve(struct strata_err *e, const char *path, const Strata__V1__ResolveRequest *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_queries, r->queries, "queries", STRATA_MAX_BATCH, v_resolve_query);
    return 0;
}

static int v_resolve_answer(struct strata_err *e, const char *path,
                            const Strata__V1__ResolveAnswer *a)
{
    char pbuf[PATH_MAX_LEN];
    if (a->endpoint != NULL)
        TRY(v_endpoint(e, SUB("endpoint", -1), a->endpoint, false));
    TRY(v_verdict(e, path, "verdict", a->verdict, false));
    return v_str(e, path, "message", a->message, false);
}

static int v_resolve_reply(struct strata_err *e, const char *path,
                           const Strata__V1__ResolveReply *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_answers, r->answers, "answers", STRATA_MAX_BATCH, v_resolve_answer);
    return v_str(e, path, "tier", r->tier, false);
}

static int v_vn_info_reply(struct strata_err *e, const char *path, const Strata__V1__VnInfoReply *r)
{
    char pbuf[PATH_MAX_LEN];
    if (r->vnet != NULL)
        TRY(v_vnet(e, SUB("vnet", -1), r->vnet, false));
    V_LIST(r->n_subnets, r->subnets, "subnets", STRATA_MAX_LIST, v_subnet);
    V_LIST(r->n_gateways, r->gateways, "gateways", STRATA_MAX_LIST, v_gateway, false);
    V_LIST(r->n_policies, r->policies, "policies", STRATA_MAX_LIST, v_policy, false);
    return v_ips(e, path, "flood_vteps", r->n_flood_vteps, r->flood_vteps, STRATA_MAX_LIST);
}

/* ------------------------------------------------------------------ change feed */

static int v_change(struct strata_err *e, const char *path, const Strata__V1__Change *c)
{
    char pbuf[PATH_MAX_LEN];
    TRY(v_kind(e, path, "kind", c->kind, false));
    if (c->domain != NULL)
        TRY(v_domain(e, SUB("domain", -1), c->domain, false));
    if (c->vnet != NULL)
        TRY(v_vnet(e, SUB("vnet", -1), c->vnet, false));
    if (c->subnet != NULL)
        TRY(v_subnet(e, SUB("subnet", -1), c->subnet));
    if (c->host != NULL)
        TRY(v_host(e, SUB("host", -1), c->host, false));
    if (c->gateway != NULL)
        TRY(v_gateway(e, SUB("gateway", -1), c->gateway, false));
    if (c->endpoint != NULL)
        TRY(v_endpoint(e, SUB("endpoint", -1), c->endpoint, false));
    if (c->policy != NULL)
        TRY(v_policy(e, SUB("policy", -1), c->policy, false));
    return v_ips(e, path, "flood_vteps", c->n_flood_vteps, c->flood_vteps, STRATA_MAX_LIST);
}

static int v_feed_reply(struct strata_err *e, const char *path, const Strata__V1__FeedReply *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_changes, r->changes, "changes", STRATA_MAX_LIST, v_change);
    return 0;
}

/* ------------------------------------------------------------------ cluster membership */

static int v_cluster_status_reply(struct strata_err *e, const char *path,
                                  const Strata__V1__ClusterStatusReply *r)
{
    char pbuf[PATH_MAX_LEN];
    TRY(v_str(e, path, "leader_api", r->leader_api, false));
    if (r->self != NULL)
        TRY(v_member(e, SUB("self", -1), r->self));
    V_LIST(r->n_members, r->members, "members", STRATA_MAX_LIST, v_member);
    return 0;
}

static int v_backup_reply(struct strata_err *e, const char *path, const Strata__V1__BackupReply *r)
{
    char pbuf[PATH_MAX_LEN];
    if (r->state_sha256.len != 0 && r->state_sha256.len != 32)
        return strata_err_set(e, STRATA_EINVAL, "%s.state_sha256: %zu bytes, want 32", path,
                              r->state_sha256.len);
    if (r->offset > r->total_bytes || r->data.len > r->total_bytes - r->offset)
        return strata_err_set(
            e, STRATA_EINVAL, "%s.data: %zu bytes at offset %llu pass the state's end (%llu bytes)",
            path, r->data.len, (unsigned long long)r->offset, (unsigned long long)r->total_bytes);
    V_LIST(r->n_members, r->members, "members", STRATA_MAX_LIST, v_member);
    return 0;
}

static int v_cluster_add(struct strata_err *e, const char *path, const Strata__V1__ClusterAdd *a)
{
    TRY(v_id(e, path, "id", a->id));
    TRY(v_raft_addr(e, path, "raft", a->raft));
    return v_str(e, path, "api", a->api, false);
}

/* ------------------------------------------------------------------ connectivity server */

static int v_host_register(struct strata_err *e, const char *path,
                           const Strata__V1__HostRegister *h)
{
    TRY(v_str(e, path, "host", h->host, true));
    TRY(v_vtep(e, path, &h->vtep));
    TRY(v_str(e, path, "pod", h->pod, false));
    return v_vnis(e, path, "vnis", h->n_vnis, h->vnis);
}

/* ------------------------------------------------------------------ audit */

static int v_audit_key(struct strata_err *e, const char *path, const Strata__V1__AuditKey *k)
{
    TRY(v_vni(e, path, "vni", k->vni, false));
    if ((k->ip.len == 0) == (k->mac.len == 0))
        return strata_err_set(e, STRATA_EINVAL, "%s: exactly one of ip and mac", path);
    TRY(v_ip(e, path, "ip", &k->ip, false));
    return v_mac(e, path, "mac", &k->mac, false, false);
}

static int v_audit_entry(struct strata_err *e, const char *path, const Strata__V1__AuditEntry *a)
{
    char pbuf[PATH_MAX_LEN];
    TRY(v_present(e, path, "key", a->key));
    TRY(v_audit_key(e, SUB("key", -1), a->key));
    TRY(v_mac(e, path, "held_mac", &a->held_mac, false, false));
    TRY(v_ip(e, path, "held_vtep", &a->held_vtep, false));
    TRY(v_mac(e, path, "kernel_mac", &a->kernel_mac, false, false));
    return v_ip(e, path, "kernel_vtep", &a->kernel_vtep, false);
}

static int v_audit_vn(struct strata_err *e, const char *path, const Strata__V1__AuditVn *v)
{
    if (v->bucket > STRATA_AUDIT_BUCKETS)
        return strata_err_set(e, STRATA_EINVAL, "%s.bucket: %u out of range 0..%u", path, v->bucket,
                              STRATA_AUDIT_BUCKETS);
    return v_vni(e, path, "vni", v->vni, false);
}

static int v_audit_report(struct strata_err *e, const char *path, const Strata__V1__AuditReport *r)
{
    char pbuf[PATH_MAX_LEN];
    TRY(v_str(e, path, "error", r->error, false));
    V_LIST(r->n_vns, r->vns, "vns", STRATA_AUDIT_ENTRIES_MAX, v_audit_vn);
    V_LIST(r->n_entries, r->entries, "entries", STRATA_AUDIT_ENTRIES_MAX, v_audit_entry);
    return 0;
}

static int v_audit_divergence(struct strata_err *e, const char *path,
                              const Strata__V1__AuditDivergence *d)
{
    TRY(v_str(e, path, "host", d->host, false));
    TRY(v_str(e, path, "key", d->key, false));
    TRY(v_str(e, path, "kind", d->kind, false));
    TRY(v_str(e, path, "tier", d->tier, false));
    TRY(v_str(e, path, "holds", d->holds, false));
    return v_str(e, path, "directory", d->directory, false);
}

static int v_audit_node(struct strata_err *e, const char *path, const Strata__V1__AuditNode *n)
{
    TRY(v_str(e, path, "host", n->host, false));
    return v_str(e, path, "note", n->note, false);
}

static int v_audit_reply(struct strata_err *e, const char *path, const Strata__V1__AuditReply *r)
{
    char pbuf[PATH_MAX_LEN];
    TRY(v_str(e, path, "server", r->server, false));
    V_LIST(r->n_nodes, r->nodes, "nodes", STRATA_MAX_LIST, v_audit_node);
    TRY(v_count(e, path, "idle", r->n_idle, STRATA_MAX_LIST));
    for (size_t i = 0; i < r->n_idle; i++)
        TRY(v_str(e, path, "idle", r->idle[i], false));
    V_LIST(r->n_divergences, r->divergences, "divergences", STRATA_MAX_LIST, v_audit_divergence);
    return 0;
}

static int v_update(struct strata_err *e, const char *path, const Strata__V1__Update *u)
{
    char pbuf[PATH_MAX_LEN];
    if (u->kind < STRATA__V1__UPDATE_KIND__UPD_NONE || u->kind > STRATA__V1__UPDATE_KIND__UPD_AUDIT)
        return strata_err_set(e, STRATA_EINVAL, "%s.kind: unknown update kind %d", path, u->kind);
    /* A RESYNC concerns no VN, nor a VNINFO that carries the gateway's new set of VNs; every
     * other kind names one. */
    TRY(v_vni(e, path, "vni", u->vni,
              u->kind == STRATA__V1__UPDATE_KIND__UPD_RESYNC ||
                  u->kind == STRATA__V1__UPDATE_KIND__UPD_VNINFO ||
                  u->kind == STRATA__V1__UPDATE_KIND__UPD_AUDIT));
    V_LIST(u->n_repair, u->repair, "repair", STRATA_AUDIT_ENTRIES_MAX, v_audit_key);
    V_LIST(u->n_parts, u->parts, "parts", STRATA_AUDIT_ENTRIES_MAX, v_audit_vn);
    TRY(v_vnis(e, path, "vnis", u->n_vnis, u->vnis));
    if (u->endpoint != NULL)
        TRY(v_endpoint(e, SUB("endpoint", -1), u->endpoint, false));
    TRY(v_ips(e, path, "flood_vteps", u->n_flood_vteps, u->flood_vteps, STRATA_MAX_LIST));
    TRY(v_verdict(e, path, "verdict", u->verdict, false));
    TRY(v_ip(e, path, "ip", &u->ip, false));
    return v_mac(e, path, "mac", &u->mac, false, false);
}

static int v_updates_reply(struct strata_err *e, const char *path,
                           const Strata__V1__UpdatesReply *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_updates, r->updates, "updates", STRATA_MAX_LIST, v_update);
    return 0;
}

/* ------------------------------------------------------------------ control sockets */

static int v_ifname(struct strata_err *e, const char *path, const char *s)
{
    size_t n = s != NULL ? strnlen(s, IFNAME_MAX + 1) : 0;
    if (n == 0 || n > IFNAME_MAX)
        return strata_err_set(e, STRATA_EINVAL, "%s.ifname: want 1..%d characters", path,
                              IFNAME_MAX);
    return 0;
}

static int v_port_attach(struct strata_err *e, const char *path, const Strata__V1__PortAttach *a)
{
    TRY(v_vni(e, path, "vni", a->vni, false));
    TRY(v_mac(e, path, "mac", &a->mac, true, true));
    TRY(v_ip(e, path, "ip", &a->ip, false));
    unsigned max = a->ip.len == 16 ? 128 : 32;
    if (a->plen > max)
        return strata_err_set(e, STRATA_EINVAL, "%s.plen: %u out of range 0..%u", path, a->plen,
                              max);
    return v_ifname(e, path, a->ifname);
}

static int v_cache_entry(struct strata_err *e, const char *path, const Strata__V1__CacheEntry *c)
{
    TRY(v_vni(e, path, "vni", c->vni, true));
    TRY(v_str(e, path, "key", c->key, false));
    TRY(v_str(e, path, "value", c->value, false));
    TRY(v_count(e, path, "holders", c->n_holders, STRATA_MAX_LIST));
    for (size_t i = 0; i < c->n_holders; i++)
        if (c->holders[i] != NULL && strnlen(c->holders[i], STRATA_MAX_STR + 1) > STRATA_MAX_STR)
            return strata_err_set(e, STRATA_ETOOBIG, "%s.holders[%zu]: longer than %d bytes", path,
                                  i, STRATA_MAX_STR);
    return 0;
}

static int v_counter(struct strata_err *e, const char *path, const Strata__V1__Counter *c)
{
    return v_str(e, path, "name", c->name, false);
}

static int v_cache_show_reply(struct strata_err *e, const char *path,
                              const Strata__V1__CacheShowReply *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_entries, r->entries, "entries", STRATA_MAX_LIST, v_cache_entry);
    V_LIST(r->n_counters, r->counters, "counters", STRATA_MAX_LIST, v_counter);
    return 0;
}

static int v_trace(struct strata_err *e, const char *path, const Strata__V1__TraceRequest *t)
{
    TRY(v_vni(e, path, "vni", t->vni, false));
    TRY(v_ip(e, path, "src_ip", &t->src_ip, true));
    return v_ip(e, path, "dst_ip", &t->dst_ip, true);
}

static int v_trace_hop(struct strata_err *e, const char *path, const Strata__V1__TraceHop *h)
{
    TRY(v_str(e, path, "tier", h->tier, false));
    TRY(v_str(e, path, "node", h->node, false));
    TRY(v_str(e, path, "action", h->action, false));
    return v_str(e, path, "result", h->result, false);
}

static int v_trace_reply(struct strata_err *e, const char *path, const Strata__V1__TraceReply *r)
{
    char pbuf[PATH_MAX_LEN];
    V_LIST(r->n_hops, r->hops, "hops", STRATA_MAX_BATCH, v_trace_hop);
    return 0;
}

static int v_wait_holder(struct strata_err *e, const char *path, const Strata__V1__WaitHolder *h)
{
    TRY(v_str(e, path, "host", h->host, false));
    return v_str(e, path, "note", h->note, false);
}

/* A server answers for every session it holds (CS_SESSION_MAX). */
static int v_wait_applied_reply(struct strata_err *e, const char *path,
                                const Strata__V1__WaitAppliedReply *r)
{
    char pbuf[PATH_MAX_LEN];
    TRY(v_str(e, path, "server", r->server, false));
    V_LIST(r->n_holders, r->holders, "holders", 65536, v_wait_holder);
    return 0;
}

/* ------------------------------------------------------------------ envelope */

static int v_body(struct strata_err *e, const strata_env *env)
{
    /* The path starts at the body's field name, which is also its type name. */
    const char *path = strata_msg_type_name(env->body_case);
    char pbuf[PATH_MAX_LEN];
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_WRITE:
        return v_write(e, path, env->write);
    case STRATA__V1__ENVELOPE__BODY_WRITE_REPLY:
        return v_write_reply(e, path, env->write_reply);
    case STRATA__V1__ENVELOPE__BODY_WRITE_BATCH:
        return v_write_batch(e, path, env->write_batch);
    case STRATA__V1__ENVELOPE__BODY_WRITE_BATCH_REPLY:
        V_LIST(env->write_batch_reply->n_results, env->write_batch_reply->results, "results",
               STRATA_MAX_BATCH, v_write_result);
        return 0;
    case STRATA__V1__ENVELOPE__BODY_LIST:
        return v_list(e, path, env->list);
    case STRATA__V1__ENVELOPE__BODY_LIST_REPLY:
        return v_list_reply(e, path, env->list_reply);
    case STRATA__V1__ENVELOPE__BODY_RESOLVE:
        return v_resolve(e, path, env->resolve);
    case STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY:
        return v_resolve_reply(e, path, env->resolve_reply);
    case STRATA__V1__ENVELOPE__BODY_VN_INFO:
        return v_vni(e, path, "vni", env->vn_info->vni, false);
    case STRATA__V1__ENVELOPE__BODY_VN_INFO_REPLY:
        return v_vn_info_reply(e, path, env->vn_info_reply);
    case STRATA__V1__ENVELOPE__BODY_FEED_REPLY:
        return v_feed_reply(e, path, env->feed_reply);
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS_REPLY:
        return v_cluster_status_reply(e, path, env->cluster_status_reply);
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_ADD:
        return v_cluster_add(e, path, env->cluster_add);
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_REMOVE:
        return v_id(e, path, "id", env->cluster_remove->id);
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_TRANSFER:
        return v_id(e, path, "id", env->cluster_transfer->id);
    case STRATA__V1__ENVELOPE__BODY_BACKUP_REPLY:
        return v_backup_reply(e, path, env->backup_reply);
    case STRATA__V1__ENVELOPE__BODY_HOST_REGISTER:
        return v_host_register(e, path, env->host_register);
    case STRATA__V1__ENVELOPE__BODY_HOST_REGISTER_REPLY:
        return v_vnis(e, path, "vnis", env->host_register_reply->n_vnis,
                      env->host_register_reply->vnis);
    case STRATA__V1__ENVELOPE__BODY_PORT_REGISTER:
        TRY(v_present(e, path, "endpoint", env->port_register->endpoint));
        return v_endpoint(e, SUB("endpoint", -1), env->port_register->endpoint, true);
    case STRATA__V1__ENVELOPE__BODY_PORT_MOVE:
        TRY(v_present(e, path, "move", env->port_move->move));
        return v_endpoint_move(e, SUB("move", -1), env->port_move->move);
    case STRATA__V1__ENVELOPE__BODY_PORT_UNREGISTER:
        TRY(v_present(e, path, "del", env->port_unregister->del));
        return v_endpoint_delete(e, SUB("del", -1), env->port_unregister->del);
    case STRATA__V1__ENVELOPE__BODY_UPDATES:
        return v_str(e, path, "host", env->updates->host, false);
    case STRATA__V1__ENVELOPE__BODY_UPDATES_REPLY:
        return v_updates_reply(e, path, env->updates_reply);
    case STRATA__V1__ENVELOPE__BODY_PORT_ATTACH:
        return v_port_attach(e, path, env->port_attach);
    case STRATA__V1__ENVELOPE__BODY_PORT_DETACH:
        return v_ifname(e, path, env->port_detach->ifname);
    case STRATA__V1__ENVELOPE__BODY_PORT_REPLY:
        return v_str(e, path, "detail", env->port_reply->detail, false);
    case STRATA__V1__ENVELOPE__BODY_CACHE_SHOW_REPLY:
        return v_cache_show_reply(e, path, env->cache_show_reply);
    case STRATA__V1__ENVELOPE__BODY_TRACE:
        return v_trace(e, path, env->trace);
    case STRATA__V1__ENVELOPE__BODY_TRACE_REPLY:
        return v_trace_reply(e, path, env->trace_reply);
    case STRATA__V1__ENVELOPE__BODY_WAIT_APPLIED_REPLY:
        return v_wait_applied_reply(e, path, env->wait_applied_reply);
    case STRATA__V1__ENVELOPE__BODY_AUDIT_REPORT:
        return v_audit_report(e, path, env->audit_report);
    case STRATA__V1__ENVELOPE__BODY_AUDIT_REPLY:
        return v_audit_reply(e, path, env->audit_reply);
    /* Bodies with nothing to bound: numbers of any value are acceptable. */
    case STRATA__V1__ENVELOPE__BODY_FEED:
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS:
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_REPLY:
    case STRATA__V1__ENVELOPE__BODY_BACKUP:
    case STRATA__V1__ENVELOPE__BODY_CACHE_SHOW:
    case STRATA__V1__ENVELOPE__BODY_WAIT_APPLIED:
    case STRATA__V1__ENVELOPE__BODY_AUDIT:
    case STRATA__V1__ENVELOPE__BODY_EMPTY:
        return 0;
    case STRATA__V1__ENVELOPE__BODY__NOT_SET:
        return strata_err_set(e, STRATA_EPROTO, "message has no body");
    default: /* only reachable for a hand-built envelope: decoding never sets unknown cases */
        return strata_err_set(e, STRATA_EPROTO, "unknown body case %d", (int)env->body_case);
    }
}

int strata_msg_validate(const strata_env *env, struct strata_err *e)
{
    if (env == NULL)
        return strata_err_set(e, STRATA_EPROTO, "no message");
    TRY(v_str(e, "envelope", "message", env->message, false));
    TRY(v_str(e, "envelope", "identity", env->identity, false));
    /* An error reply needs no body: refusing it would turn the peer's real error into ours. */
    if (env->body_case == STRATA__V1__ENVELOPE__BODY__NOT_SET && env->status < 0)
        return 0;
    if (env->body_case != STRATA__V1__ENVELOPE__BODY__NOT_SET && env->write == NULL)
        return strata_err_set(e, STRATA_EPROTO, "%s: body missing",
                              strata_msg_type_name(env->body_case));
    return v_body(e, env);
}
