/* dir_fsm.h - the directory's state machine: tenants, VNs, subnets, hosts, gateways, endpoints,
 * policies and the member table. Pure: no sockets, no files, no clocks, so every node that
 * applies the same commands in the same order holds the same state. */
#ifndef DIR_FSM_H
#define DIR_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"
#include "strata.pb-c.h"

struct dir_fsm;

/* Result of applying one command. status is 0 or a negative STRATA_E* code with msg. */
struct dir_result {
    int status;
    char msg[200];
    uint64_t index; /* index the command was (first) applied at */
    bool duplicate; /* (client_id, req_id) was already applied: first result */
};

/* Called once per change an apply produces, in order, before dir_fsm_apply_cmd returns. The
 * Change and what it points to are only valid during the call (copy what you keep). */
typedef void (*dir_fsm_change_fn)(void *arg, const Strata__V1__Change *chg);

struct dir_fsm *dir_fsm_new(void);
void dir_fsm_free(struct dir_fsm *f);
void dir_fsm_set_change_hook(struct dir_fsm *f, dir_fsm_change_fn fn, void *arg);

/* Apply one command at Raft index `index` (index must grow). Deterministic: validation failures
 * (unknown VNI, IP outside every subnet of the VN, conflicting MAC/IP, unknown host...) are
 * reported in *res and change nothing. A command whose (client_id, req_id) was already applied
 * (client_id != 0) changes nothing and returns the first result with res->duplicate set. The
 * dedup memory is bounded (the most recent DIR_FSM_DEDUP_MAX writes) and is part of snapshots. */
#define DIR_FSM_DEDUP_MAX 65536
void dir_fsm_apply_cmd(struct dir_fsm *f, uint64_t index, const Strata__V1__Command *cmd,
                       struct dir_result *res);
/* Record that index was applied without a command (Raft barrier/config entries). */
void dir_fsm_set_applied(struct dir_fsm *f, uint64_t index);
uint64_t dir_fsm_applied(const struct dir_fsm *f);

/* Serialise the whole state (a deterministic protobuf encoding) into a malloc'd buffer. */
int dir_fsm_snapshot(const struct dir_fsm *f, uint8_t **buf, size_t *len, struct strata_err *e);
/* The same in three steps, so that a large state is encoded off the FSM's thread while commands
 * keep applying (libraft's snapshot_async). dir_fsm_snap_begin, on the FSM's thread, collects a
 * view of the state as it is (borrowed pointers; the endpoints' sort keys are copied) and, until
 * the view ends, holds back the frees of every object and dedup record it may read: commands
 * replace objects rather than change them, so the view stays as it was. NULL when a view is
 * already open (one at a time). dir_snap_encode, on any thread and once, writes exactly what
 * dir_fsm_snapshot would have written at begin, into a buffer from `alloc` (NULL: malloc).
 * dir_snap_end, on the FSM's thread, frees the view and what was held. A restore or free of the
 * FSM while the view is open waits for an encode under way, and makes a later one fail. */
struct dir_snap;
struct dir_snap *dir_fsm_snap_begin(struct dir_fsm *f);
uint64_t dir_snap_applied(const struct dir_snap *s);
int dir_snap_encode(struct dir_snap *s, void *(*alloc)(size_t), uint8_t **buf, size_t *len,
                    struct strata_err *e);
void dir_snap_end(struct dir_snap *s);
/* Replace the whole state with a snapshot's. On error the state is unchanged. No change hook
 * calls: a consumer of the feed learns of a restore through the feed's gap. */
int dir_fsm_restore(struct dir_fsm *f, const uint8_t *buf, size_t len, struct strata_err *e);
/* A snapshot (buf) made fit to found a new cluster with (strata-dird --restore): its member table
 * dropped (the old nodes' addresses; the new ones record theirs) and its applied index set to
 * `index`, which may not be below it. The result (*out, malloc'd) is checked by restoring it
 * into a scratch FSM; *objects (may be NULL) is then dir_fsm_objects of that state. Pure. */
int dir_fsm_snapshot_rebase(const uint8_t *buf, size_t len, uint64_t index, uint8_t **out,
                            size_t *out_len, size_t *objects, struct strata_err *e);
/* A canonical text dump (sorted, one object a line) for comparing two states. malloc'd. */
char *dir_fsm_dump(const struct dir_fsm *f);

/* ---- queries. Returned pointers are borrowed: valid until the next apply/restore. */
const Strata__V1__Endpoint *dir_fsm_endpoint_by_mac(const struct dir_fsm *f, uint32_t vni,
                                                    const uint8_t mac[6]);
const Strata__V1__Endpoint *dir_fsm_endpoint_by_ip(const struct dir_fsm *f, uint32_t vni,
                                                   const struct strata_ip *ip);
const Strata__V1__Vnet *dir_fsm_vnet(const struct dir_fsm *f, uint32_t vni);
const Strata__V1__Host *dir_fsm_host(const struct dir_fsm *f, const char *id);
const Strata__V1__Gateway *dir_fsm_gateway(const struct dir_fsm *f, const char *id);
const Strata__V1__Member *dir_fsm_member(const struct dir_fsm *f, uint64_t id);

/* Inter-VN policy: same VN -> ALLOW; both VNs in one domain with a rule -> the rule; otherwise
 * DENY. Unknown VNs -> UNKNOWN. */
Strata__V1__Verdict dir_fsm_verdict(const struct dir_fsm *f, uint32_t from_vni, uint32_t to_vni);

/* Answer one ResolveQuery (validated: exactly one of ip/mac). Fills `ans` with borrowed
 * pointers (ans->endpoint points into the FSM). Unknown VNI -> ans->status STRATA_ENOTFOUND. */
void dir_fsm_resolve(const struct dir_fsm *f, const Strata__V1__ResolveQuery *q,
                     Strata__V1__ResolveAnswer *ans);

/* Fill `out` (borrowed pointers; arrays malloc'd - release with dir_fsm_list_release) with the
 * objects of `kind` (OBJ_ENDPOINT/OBJ_SUBNET filtered by vni when vni != 0), sorted by key. */
int dir_fsm_list(const struct dir_fsm *f, Strata__V1__ObjKind kind, uint32_t vni,
                 Strata__V1__ListReply *out);
void dir_fsm_list_release(Strata__V1__ListReply *out);

/* VN information: its subnets, the gateways serving it, and its flood list (distinct VTEPs of
 * the hosts holding endpoints in it and of the gateways serving it, sorted). Arrays malloc'd,
 * release with dir_fsm_vn_info_release. STRATA_ENOTFOUND for an unknown VNI. */
int dir_fsm_vn_info(const struct dir_fsm *f, uint32_t vni, Strata__V1__VnInfoReply *out);
void dir_fsm_vn_info_release(Strata__V1__VnInfoReply *out);

/* Counts for metrics. */
size_t dir_fsm_count(const struct dir_fsm *f, Strata__V1__ObjKind kind);
/* Gateways a connectivity server declared live (gateway_live); walks them: metrics only. */
size_t dir_fsm_gateways_live(const struct dir_fsm *f);
/* Domains, VNs, subnets, hosts, gateways, endpoints and policies together (members and the
 * dedup table are not objects an operator made): what a backup reports. */
size_t dir_fsm_objects(const struct dir_fsm *f);

#endif
