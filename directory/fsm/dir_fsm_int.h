/* dir_fsm_int.h - internals of the directory FSM shared by its files (not a public interface). */
#ifndef DIR_FSM_INT_H
#define DIR_FSM_INT_H

#include <stdarg.h>

#include "dir_fsm.h"
#include "dir_fsm_map.h"
#include "msg.h"

#define DIR_FSM_MAX_GW_VNIS STRATA_MAX_VNIS /* VNs one gateway may serve */

/* A VN and what is derived from it. The flood list is kept so that a change to it can be
 * detected (and announced) by comparing before and after. */
struct dir_vtep_ref {
    struct strata_ip vtep;
    uint32_t count; /* endpoints of this VN whose holder has this VTEP (> 0) */
};

struct dir_vn {
    Strata__V1__Vnet *obj;
    Strata__V1__Subnet **subnets; /* sorted by (family, prefix, plen) */
    size_t nsubnets;
    struct dir_vtep_ref *vteps; /* sorted by address */
    size_t nvteps, capvteps;
    ProtobufCBinaryData *flood; /* current flood list, sorted; data points into flood_ip */
    struct strata_ip *flood_ip;
    size_t nflood;
    size_t nendpoints;
};

/* Something endpoints live on: a host or a gateway (exactly one of host / gw is set). */
struct dir_holder {
    Strata__V1__Host *host;
    Strata__V1__Gateway *gw;
    struct strata_ip vtep;
    size_t nendpoints;
};

struct dir_dedup {
    uint64_t client_id, req_id, index;
    int status;
    char *msg; /* NULL when empty */
};

struct dir_fsm {
    uint64_t applied;
    /* Owns the maps' nodes, the objects they index and the dedup records (dir_fsm_slab.h). */
    struct dir_slab *slab;
    struct dir_map domains;  /* name -> Strata__V1__Domain */
    struct dir_map vns;      /* vni -> struct dir_vn */
    struct dir_map hosts;    /* id -> struct dir_holder (host) */
    struct dir_map gateways; /* id -> struct dir_holder (gateway) */
    struct dir_map vteps;    /* vtep -> struct dir_holder */
    struct dir_map eps_mac;  /* (vni, mac) -> Strata__V1__Endpoint */
    struct dir_map eps_ip;   /* (vni, ip) -> Strata__V1__Endpoint */
    struct dir_map policies; /* (from, to) -> Strata__V1__Policy */
    struct dir_map members;  /* id -> Strata__V1__Member */
    struct dir_map dedup;    /* (client, req) -> struct dir_dedup */
    size_t nsubnets;
    struct dir_dedup **fifo; /* ring, oldest at fifo_head */
    size_t fifo_cap, fifo_head, fifo_len;

    dir_fsm_change_fn hook;
    void *hook_arg;
    /* While applying: the version new objects get, and the VNs whose flood list may change. */
    uint64_t cur_index;
    bool restoring;   /* loading a snapshot: keep versions, emit nothing */
    bool create_only; /* the command being applied asks not to replace (Command.create_only) */
    uint32_t *touched;
    size_t ntouched, captouched;
    /* VNs whose gateway endpoint may have to change (dir_gw_settle), also while applying. */
    uint32_t *gw_touched;
    size_t ngw_touched, capgw_touched;
    /* While a snapshot view is open (dir_fsm_snap_begin), objects and dedup records it may read
     * are not freed but held here, and freed when it ends: the view is encoded on another
     * thread while commands keep applying. */
    struct dir_snap *snap;
    void **held_obj; /* protobuf objects (dir_obj_free) */
    void **held_raw; /* slab blocks (dedup records and their messages) */
    size_t nheld_obj, capheld_obj, nheld_raw, capheld_raw;
};

/* ---- memory: allocation failure aborts; a replica that cannot apply must not diverge. */
void *dir_xmalloc(size_t n);
void *dir_xcalloc(size_t n, size_t sz);
void *dir_xrealloc(void *p, size_t n);
char *dir_xstrdup(const char *s);
/* Deep copy of a protobuf-c message (pack + unpack) into the FSM's slab: free with dir_obj_free
 * on the same FSM. */
void *dir_obj_dup(struct dir_fsm *f, const void *msg);
void dir_obj_free(struct dir_fsm *f, void *msg);
/* dir_slab_free, or held while a snapshot view is open (struct dir_fsm.snap). */
void dir_raw_free(struct dir_fsm *f, void *p);
/* Free what was held for a snapshot view. */
void dir_held_release(struct dir_fsm *f);
/* If a snapshot view is open: wait until nobody is encoding it, cut it loose (encoding it fails
 * from then on, and ending it frees only the view) and free what was held. Before the state
 * itself is freed. */
void dir_snap_detach(struct dir_fsm *f);

/* ---- state */
void dir_fsm_init_state(struct dir_fsm *f);
void dir_fsm_free_state(struct dir_fsm *f);

/* ---- keys */
struct dir_key {
    uint8_t b[32];
    size_t len;
};
void dir_key_vni(struct dir_key *k, uint32_t vni);
void dir_key_mac(struct dir_key *k, uint32_t vni, const uint8_t mac[6]);
void dir_key_ip(struct dir_key *k, uint32_t vni, const struct strata_ip *ip);
void dir_key_vtep(struct dir_key *k, const struct strata_ip *ip);
void dir_key_pair(struct dir_key *k, uint32_t a, uint32_t b);
void dir_key_u64(struct dir_key *k, uint64_t a, uint64_t b);

/* ---- lookups */
struct dir_vn *dir_vn_get(const struct dir_fsm *f, uint32_t vni);
struct dir_holder *dir_holder_get(const struct dir_fsm *f, const char *id);
const char *dir_str(const char *s); /* NULL -> "" */
int dir_fail(struct dir_result *res, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The IP in wire bytes, or "?" when malformed, into buf[STRATA_IP_STRLEN]. */
const char *dir_ip_text(const ProtobufCBinaryData *b, char *buf);
int dir_ip_cmp(const struct strata_ip *a, const struct strata_ip *b);

/* ---- changes */
void dir_emit(struct dir_fsm *f, Strata__V1__ObjKind kind, bool deleted, const void *obj);
void dir_touch(struct dir_fsm *f, uint32_t vni);
/* Recompute the flood list of every touched VN; announce those that changed. */
void dir_flood_settle(struct dir_fsm *f);
/* Recompute one VN's flood list; true when it differs from the previous one. */
bool dir_flood_update(struct dir_fsm *f, struct dir_vn *vn);

/* ---- endpoints (dir_fsm_endpoint.c) */
void dir_ep_link(struct dir_fsm *f, Strata__V1__Endpoint *ep);
void dir_ep_unlink(struct dir_fsm *f, const Strata__V1__Endpoint *ep);
/* Swap `old` (may be NULL) for a copy of `tmpl` with version = the current index; announced. */
Strata__V1__Endpoint *dir_ep_replace(struct dir_fsm *f, Strata__V1__Endpoint *old,
                                     Strata__V1__Endpoint *tmpl);
/* Unlink, announce as deleted and free. */
void dir_ep_remove(struct dir_fsm *f, Strata__V1__Endpoint *ep);
Strata__V1__Endpoint *dir_ep_get(const struct dir_fsm *f, uint32_t vni, const uint8_t *mac);
/* Give every endpoint held by `holder_id` the (new) VTEP `vtep`, emitting each change. */
void dir_ep_repoint(struct dir_fsm *f, const char *holder_id, const struct strata_ip *vtep);
void dir_vn_free(struct dir_fsm *f, struct dir_vn *vn);
bool dir_gw_serves(const Strata__V1__Gateway *g, uint32_t vni);

/* ---- gateway addresses and liveness (dir_fsm_gateway.c). For each VN with gateway addresses
 * the FSM holds one endpoint (MAC strata_gw_mac(vni), IPs = the gateway addresses of its
 * subnets in subnet order) on a live gateway serving the VN: the one holding it while it stays
 * live and serving (sticky), else the live one with the smallest id; none live -> no endpoint. */
/* Whether ip is the gateway address of a subnet of vn. */
bool dir_gw_is_addr(const struct dir_vn *vn, const struct strata_ip *ip);
/* Count of vn's subnets with a gateway address. */
size_t dir_gw_naddrs(const struct dir_vn *vn);
/* Recompute vni's gateway endpoint before this apply ends (no-op while restoring). */
void dir_gw_touch(struct dir_fsm *f, uint32_t vni);
void dir_gw_touch_all(struct dir_fsm *f, const Strata__V1__Gateway *g);
/* Recompute the touched VNs' gateway endpoints (in VNI order), announcing each change. */
void dir_gw_settle(struct dir_fsm *f);
/* After a restore: every VN's gateway endpoint must be what the rule gives (STRATA_EPROTO). */
int dir_gw_check(struct dir_fsm *f, struct strata_err *e);
/* The gateway endpoint of vni if the FSM holds one. */
const Strata__V1__Endpoint *dir_gw_endpoint(const struct dir_fsm *f, uint32_t vni);

/* ---- qsort comparators shared by the files that sort (key order is part of determinism) */
int dir_u32_qcmp(const void *a, const void *b);      /* uint32_t */
int dir_endpoint_qcmp(const void *a, const void *b); /* Endpoint *: (vni, mac) */
int dir_policy_qcmp(const void *a, const void *b);   /* Policy *: (domain, from, to) */

/* ---- sorted views (malloc'd arrays of borrowed pointers; *n receives the count) */
Strata__V1__Domain **dir_sorted_domains(const struct dir_fsm *f, size_t *n);
Strata__V1__Vnet **dir_sorted_vnets(const struct dir_fsm *f, size_t *n);
Strata__V1__Subnet **dir_sorted_subnets(const struct dir_fsm *f, uint32_t vni, size_t *n);
Strata__V1__Host **dir_sorted_hosts(const struct dir_fsm *f, size_t *n);
Strata__V1__Gateway **dir_sorted_gateways(const struct dir_fsm *f, uint32_t vni, size_t *n);
Strata__V1__Endpoint **dir_sorted_endpoints(const struct dir_fsm *f, uint32_t vni, size_t *n);
/* The same in two steps, so that a snapshot can collect on the loop and sort elsewhere: the
 * endpoints (of `vni`, or all) with their sort keys copied from the index, unsorted; then sort
 * them, free `k` and return the endpoints in order. */
struct dir_ep_key {
    uint64_t vni, mac;
    Strata__V1__Endpoint *ep;
};
struct dir_ep_key *dir_endpoint_keys(const struct dir_fsm *f, uint32_t vni, size_t *n);
Strata__V1__Endpoint **dir_endpoint_keys_sort(struct dir_ep_key *k, size_t n);
Strata__V1__Policy **dir_sorted_policies(const struct dir_fsm *f, size_t *n);
Strata__V1__Member **dir_sorted_members(const struct dir_fsm *f, size_t *n);

/* ---- command handlers: 0 or a negative code with res->msg; nothing changes on failure. */
int dir_op_domain_create(struct dir_fsm *f, const Strata__V1__Domain *m, struct dir_result *res);
int dir_op_vnet_create(struct dir_fsm *f, const Strata__V1__Vnet *m, struct dir_result *res);
int dir_op_vnet_delete(struct dir_fsm *f, const Strata__V1__VnetDelete *m, struct dir_result *res);
int dir_op_subnet_create(struct dir_fsm *f, const Strata__V1__Subnet *m, struct dir_result *res);
int dir_op_host_add(struct dir_fsm *f, const Strata__V1__Host *m, struct dir_result *res);
int dir_op_gateway_add(struct dir_fsm *f, const Strata__V1__Gateway *m, struct dir_result *res);
int dir_op_gateway_live(struct dir_fsm *f, const Strata__V1__GatewayLive *m,
                        struct dir_result *res);
int dir_op_gateway_delete(struct dir_fsm *f, const Strata__V1__GatewayDelete *m,
                          struct dir_result *res);
int dir_op_policy_set(struct dir_fsm *f, const Strata__V1__Policy *m, struct dir_result *res);
int dir_op_subnet_delete(struct dir_fsm *f, const Strata__V1__Subnet *m, struct dir_result *res);
int dir_op_host_delete(struct dir_fsm *f, const Strata__V1__HostDelete *m, struct dir_result *res);
int dir_op_domain_delete(struct dir_fsm *f, const Strata__V1__DomainDelete *m,
                         struct dir_result *res);
int dir_op_policy_delete(struct dir_fsm *f, const Strata__V1__PolicyDelete *m,
                         struct dir_result *res);
int dir_op_member_set(struct dir_fsm *f, const Strata__V1__MemberSet *m, struct dir_result *res);
int dir_op_member_del(struct dir_fsm *f, const Strata__V1__MemberDel *m, struct dir_result *res);
int dir_op_endpoint_add(struct dir_fsm *f, const Strata__V1__Endpoint *m, struct dir_result *res);
int dir_op_endpoint_move(struct dir_fsm *f, const Strata__V1__EndpointMove *m,
                         struct dir_result *res);
int dir_op_endpoint_delete(struct dir_fsm *f, const Strata__V1__EndpointDelete *m,
                           struct dir_result *res);

/* ---- dedup (dir_fsm.c) */
void dir_dedup_record(struct dir_fsm *f, uint64_t client_id, uint64_t req_id, int status,
                      const char *msg, uint64_t index);

#endif
