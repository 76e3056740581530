/* test_msg_fixture.h - one valid instance of every strata.v1 message, linked into envelopes
 * by body case, plus encode/decode helpers: shared by the msg unit tests (and usable by any
 * test that needs realistic messages). Include after <cmocka.h>. */
#ifndef STRATA_TEST_MSG_FIXTURE_H
#define STRATA_TEST_MSG_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

static uint8_t __attribute__((unused)) MAC1[6] = {0x02, 0, 0, 0, 0, 0x01};
static uint8_t __attribute__((unused)) MAC_MCAST[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
static uint8_t __attribute__((unused)) MAC_ZERO[6] = {0};
static uint8_t __attribute__((unused)) IP1[4] = {10, 1, 0, 7};
static uint8_t __attribute__((unused)) IP6[16] = {0xfd, 0, [15] = 7};
static uint8_t __attribute__((unused)) NET[4] = {10, 1, 0, 0};
static uint8_t __attribute__((unused)) GW[4] = {10, 1, 0, 1};
static uint8_t __attribute__((unused)) VTEP[4] = {192, 168, 0, 1};

#define BD(arr) ((ProtobufCBinaryData){sizeof(arr), (uint8_t *)(arr)})
#define BDN(arr, n) ((ProtobufCBinaryData){(n), (uint8_t *)(arr)})

/* One of every message type, linked into valid envelopes by fx_body(). */
struct fx {
    Strata__V1__Domain domain;
    Strata__V1__Vnet vnet;
    Strata__V1__Subnet subnet;
    Strata__V1__Host host;
    Strata__V1__Gateway gateway;
    Strata__V1__Endpoint ep;
    Strata__V1__Policy policy;
    Strata__V1__Member member;
    Strata__V1__Command cmd;
    Strata__V1__WriteRequest write;
    Strata__V1__WriteReply write_reply;
    Strata__V1__Command *cmdp[1];
    Strata__V1__WriteBatchRequest write_batch;
    Strata__V1__WriteResult wres[2];
    Strata__V1__WriteResult *wresp[2];
    Strata__V1__WriteBatchReply write_batch_reply;
    Strata__V1__ListRequest list;
    Strata__V1__ListReply list_reply;
    Strata__V1__ResolveQuery q[2];
    Strata__V1__ResolveQuery *qp[2];
    Strata__V1__ResolveRequest resolve;
    Strata__V1__ResolveAnswer ans;
    Strata__V1__ResolveAnswer *ansp[1];
    Strata__V1__ResolveReply resolve_reply;
    Strata__V1__VnInfoRequest vn_info;
    Strata__V1__VnInfoReply vn_info_reply;
    Strata__V1__Change change;
    Strata__V1__Change *changep[1];
    Strata__V1__FeedRequest feed;
    Strata__V1__FeedReply feed_reply;
    Strata__V1__ClusterStatusRequest cluster_status;
    Strata__V1__ClusterStatusReply cluster_status_reply;
    Strata__V1__ClusterAdd cluster_add;
    Strata__V1__ClusterRemove cluster_remove;
    Strata__V1__ClusterTransfer cluster_transfer;
    Strata__V1__ClusterReply cluster_reply;
    Strata__V1__BackupRequest backup;
    Strata__V1__BackupReply backup_reply;
    uint8_t backup_data[8], backup_sha[32];
    Strata__V1__HostRegister host_register;
    Strata__V1__HostRegisterReply host_register_reply;
    Strata__V1__PortRegister port_register;
    Strata__V1__EndpointMove move;
    Strata__V1__PortMove port_move;
    Strata__V1__EndpointDelete del;
    Strata__V1__PortUnregister port_unregister;
    Strata__V1__UpdatesRequest updates;
    Strata__V1__Update update;
    Strata__V1__Update *updatep[1];
    Strata__V1__UpdatesReply updates_reply;
    Strata__V1__PortAttach port_attach;
    Strata__V1__PortDetach port_detach;
    Strata__V1__PortReply port_reply;
    Strata__V1__CacheShowRequest cache_show;
    Strata__V1__CacheEntry entry;
    Strata__V1__CacheEntry *entryp[1];
    Strata__V1__Counter counter;
    Strata__V1__Counter *counterp[1];
    Strata__V1__CacheShowReply cache_show_reply;
    Strata__V1__TraceRequest trace;
    Strata__V1__TraceHop hop;
    Strata__V1__TraceHop *hopp[1];
    Strata__V1__TraceReply trace_reply;
    Strata__V1__WaitAppliedRequest wait_applied;
    Strata__V1__WaitHolder wholder;
    Strata__V1__WaitHolder *wholderp[1];
    Strata__V1__WaitAppliedReply wait_applied_reply;
    Strata__V1__Empty empty;
    Strata__V1__AuditKey akey;
    Strata__V1__AuditVn avn;
    Strata__V1__AuditVn *avnp[1];
    Strata__V1__AuditEntry aentry;
    Strata__V1__AuditEntry *aentryp[1];
    Strata__V1__AuditReport audit_report;
    Strata__V1__AuditRequest audit;
    Strata__V1__AuditDivergence adiv;
    Strata__V1__AuditDivergence *adivp[1];
    Strata__V1__AuditNode anode;
    Strata__V1__AuditNode *anodep[1];
    Strata__V1__AuditReply audit_reply;
    ProtobufCBinaryData ips[2];
    ProtobufCBinaryData flood[2];
    uint32_t vnis[2];
    char *holders[2];
    Strata__V1__Domain *domainp[1];
    Strata__V1__Vnet *vnetp[1];
    Strata__V1__Subnet *subnetp[1];
    Strata__V1__Host *hostp[1];
    Strata__V1__Gateway *gatewayp[1];
    Strata__V1__Endpoint *epp[1];
    Strata__V1__Policy *policyp[1];
    Strata__V1__Member *memberp[1];
};

static inline void fx_init(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    f->ips[0] = BD(IP1);
    f->ips[1] = BD(IP6);
    f->flood[0] = BD(VTEP);
    f->flood[1] = BD(IP1);
    f->vnis[0] = 5001;
    f->vnis[1] = 16777215;
    f->holders[0] = "h1";
    f->holders[1] = "h2";

    f->domain = (Strata__V1__Domain)STRATA__V1__DOMAIN__INIT;
    f->domain.name = "acme";
    f->domain.version = 3;
    f->vnet = (Strata__V1__Vnet)STRATA__V1__VNET__INIT;
    f->vnet.vni = 5001;
    f->vnet.domain = "acme";
    f->vnet.name = "web";
    f->subnet = (Strata__V1__Subnet)STRATA__V1__SUBNET__INIT;
    f->subnet.vni = 5001;
    f->subnet.prefix = BD(NET);
    f->subnet.plen = 24;
    f->subnet.gateway = BD(GW);
    f->host = (Strata__V1__Host)STRATA__V1__HOST__INIT;
    f->host.id = "h1";
    f->host.vtep = BD(VTEP);
    f->host.pod = "p1";
    f->gateway = (Strata__V1__Gateway)STRATA__V1__GATEWAY__INIT;
    f->gateway.id = "gw1";
    f->gateway.vtep = BD(VTEP);
    f->gateway.n_vnis = 2;
    f->gateway.vnis = f->vnis;
    f->ep = (Strata__V1__Endpoint)STRATA__V1__ENDPOINT__INIT;
    f->ep.vni = 5001;
    f->ep.mac = BD(MAC1);
    f->ep.n_ips = 2;
    f->ep.ips = f->ips;
    f->ep.host = "h1";
    f->ep.vtep = BD(VTEP);
    f->ep.version = 42;
    f->policy = (Strata__V1__Policy)STRATA__V1__POLICY__INIT;
    f->policy.domain = "acme";
    f->policy.from_vni = 5001;
    f->policy.to_vni = 5002;
    f->policy.verdict = STRATA__V1__VERDICT__VERDICT_ALLOW;
    f->member = (Strata__V1__Member)STRATA__V1__MEMBER__INIT;
    f->member.id = 1;
    f->member.raft = "127.0.0.1:9001";
    f->member.api = "tcp://127.0.0.1:9101";
    f->member.role = "leader";

    f->cmd = (Strata__V1__Command)STRATA__V1__COMMAND__INIT;
    f->cmd.client_id = 7;
    f->cmd.req_id = 8;
    f->cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
    f->cmd.endpoint_add = &f->ep;
    f->write = (Strata__V1__WriteRequest)STRATA__V1__WRITE_REQUEST__INIT;
    f->write.cmd = &f->cmd;
    f->write_reply = (Strata__V1__WriteReply)STRATA__V1__WRITE_REPLY__INIT;
    f->write_reply.index = 99;
    f->write_reply.endpoint = &f->ep;
    f->cmdp[0] = &f->cmd;
    f->write_batch = (Strata__V1__WriteBatchRequest)STRATA__V1__WRITE_BATCH_REQUEST__INIT;
    f->write_batch.n_cmds = 1;
    f->write_batch.cmds = f->cmdp;
    for (int i = 0; i < 2; i++) {
        f->wres[i] = (Strata__V1__WriteResult)STRATA__V1__WRITE_RESULT__INIT;
        f->wresp[i] = &f->wres[i];
    }
    f->wres[0].reply = &f->write_reply;
    f->wres[1].status = STRATA_ECONFLICT;
    f->wres[1].message = "10.0.0.5 is claimed";
    f->write_batch_reply = (Strata__V1__WriteBatchReply)STRATA__V1__WRITE_BATCH_REPLY__INIT;
    f->write_batch_reply.n_results = 2;
    f->write_batch_reply.results = f->wresp;

    f->list = (Strata__V1__ListRequest)STRATA__V1__LIST_REQUEST__INIT;
    f->list.kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    f->list_reply = (Strata__V1__ListReply)STRATA__V1__LIST_REPLY__INIT;
    f->domainp[0] = &f->domain;
    f->vnetp[0] = &f->vnet;
    f->subnetp[0] = &f->subnet;
    f->hostp[0] = &f->host;
    f->gatewayp[0] = &f->gateway;
    f->epp[0] = &f->ep;
    f->policyp[0] = &f->policy;
    f->memberp[0] = &f->member;
    f->list_reply.applied_index = 100;
    f->list_reply.n_domains = 1;
    f->list_reply.domains = f->domainp;
    f->list_reply.n_vnets = 1;
    f->list_reply.vnets = f->vnetp;
    f->list_reply.n_subnets = 1;
    f->list_reply.subnets = f->subnetp;
    f->list_reply.n_hosts = 1;
    f->list_reply.hosts = f->hostp;
    f->list_reply.n_gateways = 1;
    f->list_reply.gateways = f->gatewayp;
    f->list_reply.n_endpoints = 1;
    f->list_reply.endpoints = f->epp;
    f->list_reply.n_policies = 1;
    f->list_reply.policies = f->policyp;
    f->list_reply.n_members = 1;
    f->list_reply.members = f->memberp;

    for (int i = 0; i < 2; i++) {
        f->q[i] = (Strata__V1__ResolveQuery)STRATA__V1__RESOLVE_QUERY__INIT;
        f->q[i].vni = 5001;
        f->qp[i] = &f->q[i];
    }
    f->q[0].ip = BD(IP1);
    f->q[1].mac = BD(MAC1);
    f->q[1].from_vni = 5002;
    f->resolve = (Strata__V1__ResolveRequest)STRATA__V1__RESOLVE_REQUEST__INIT;
    f->resolve.n_queries = 2;
    f->resolve.queries = f->qp;
    f->ans = (Strata__V1__ResolveAnswer)STRATA__V1__RESOLVE_ANSWER__INIT;
    f->ans.found = 1;
    f->ans.endpoint = &f->ep;
    f->ans.verdict = STRATA__V1__VERDICT__VERDICT_DENY;
    f->ansp[0] = &f->ans;
    f->resolve_reply = (Strata__V1__ResolveReply)STRATA__V1__RESOLVE_REPLY__INIT;
    f->resolve_reply.n_answers = 1;
    f->resolve_reply.answers = f->ansp;
    f->resolve_reply.tier = "directory";

    f->vn_info = (Strata__V1__VnInfoRequest)STRATA__V1__VN_INFO_REQUEST__INIT;
    f->vn_info.vni = 5001;
    f->vn_info_reply = (Strata__V1__VnInfoReply)STRATA__V1__VN_INFO_REPLY__INIT;
    f->vn_info_reply.vnet = &f->vnet;
    f->vn_info_reply.n_subnets = 1;
    f->vn_info_reply.subnets = f->subnetp;
    f->vn_info_reply.n_gateways = 1;
    f->vn_info_reply.gateways = f->gatewayp;
    f->vn_info_reply.n_flood_vteps = 2;
    f->vn_info_reply.flood_vteps = f->flood;

    f->change = (Strata__V1__Change)STRATA__V1__CHANGE__INIT;
    f->change.index = 5;
    f->change.kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    f->change.endpoint = &f->ep;
    f->change.n_flood_vteps = 1;
    f->change.flood_vteps = f->flood;
    f->changep[0] = &f->change;
    f->feed = (Strata__V1__FeedRequest)STRATA__V1__FEED_REQUEST__INIT;
    f->feed.after_index = 4;
    f->feed.max = 100;
    f->feed_reply = (Strata__V1__FeedReply)STRATA__V1__FEED_REPLY__INIT;
    f->feed_reply.n_changes = 1;
    f->feed_reply.changes = f->changep;

    f->cluster_status = (Strata__V1__ClusterStatusRequest)STRATA__V1__CLUSTER_STATUS_REQUEST__INIT;
    f->cluster_status_reply =
        (Strata__V1__ClusterStatusReply)STRATA__V1__CLUSTER_STATUS_REPLY__INIT;
    f->cluster_status_reply.leader_id = 1;
    f->cluster_status_reply.leader_api = "tcp://127.0.0.1:9101";
    f->cluster_status_reply.self = &f->member;
    f->cluster_status_reply.n_members = 1;
    f->cluster_status_reply.members = f->memberp;
    f->cluster_add = (Strata__V1__ClusterAdd)STRATA__V1__CLUSTER_ADD__INIT;
    f->cluster_add.id = 4;
    f->cluster_add.raft = "127.0.0.1:9004";
    f->cluster_remove = (Strata__V1__ClusterRemove)STRATA__V1__CLUSTER_REMOVE__INIT;
    f->cluster_remove.id = 4;
    f->cluster_transfer = (Strata__V1__ClusterTransfer)STRATA__V1__CLUSTER_TRANSFER__INIT;
    f->cluster_transfer.id = 2;
    f->cluster_reply = (Strata__V1__ClusterReply)STRATA__V1__CLUSTER_REPLY__INIT;
    f->cluster_reply.index = 12;
    f->backup = (Strata__V1__BackupRequest)STRATA__V1__BACKUP_REQUEST__INIT;
    f->backup.index = 12;
    f->backup.offset = 4;
    f->backup_reply = (Strata__V1__BackupReply)STRATA__V1__BACKUP_REPLY__INIT;
    f->backup_reply.index = 12;
    f->backup_reply.total_bytes = 12;
    f->backup_reply.offset = 4;
    f->backup_reply.data = (ProtobufCBinaryData){8, f->backup_data};
    f->backup_reply.state_sha256 = (ProtobufCBinaryData){32, f->backup_sha};

    f->host_register = (Strata__V1__HostRegister)STRATA__V1__HOST_REGISTER__INIT;
    f->host_register.host = "h1";
    f->host_register.vtep = BD(VTEP);
    f->host_register.pod = "p1";
    f->host_register_reply = (Strata__V1__HostRegisterReply)STRATA__V1__HOST_REGISTER_REPLY__INIT;
    f->host_register_reply.session = 77;
    f->port_register = (Strata__V1__PortRegister)STRATA__V1__PORT_REGISTER__INIT;
    f->port_register.endpoint = &f->ep;
    f->move = (Strata__V1__EndpointMove)STRATA__V1__ENDPOINT_MOVE__INIT;
    f->move.vni = 5001;
    f->move.mac = BD(MAC1);
    f->move.host = "h2";
    f->port_move = (Strata__V1__PortMove)STRATA__V1__PORT_MOVE__INIT;
    f->port_move.move = &f->move;
    f->del = (Strata__V1__EndpointDelete)STRATA__V1__ENDPOINT_DELETE__INIT;
    f->del.vni = 5001;
    f->del.mac = BD(MAC1);
    f->port_unregister = (Strata__V1__PortUnregister)STRATA__V1__PORT_UNREGISTER__INIT;
    f->port_unregister.del = &f->del;
    f->updates = (Strata__V1__UpdatesRequest)STRATA__V1__UPDATES_REQUEST__INIT;
    f->updates.host = "h1";
    f->updates.session = 77;
    f->update = (Strata__V1__Update)STRATA__V1__UPDATE__INIT;
    f->update.seq = 1;
    f->update.kind = STRATA__V1__UPDATE_KIND__UPD_ENDPOINT;
    f->update.vni = 5001;
    f->update.endpoint = &f->ep;
    f->update.ip = BD(IP1);
    f->updatep[0] = &f->update;
    f->updates_reply = (Strata__V1__UpdatesReply)STRATA__V1__UPDATES_REPLY__INIT;
    f->updates_reply.session = 77;
    f->updates_reply.n_updates = 1;
    f->updates_reply.updates = f->updatep;

    f->port_attach = (Strata__V1__PortAttach)STRATA__V1__PORT_ATTACH__INIT;
    f->port_attach.vni = 5001;
    f->port_attach.mac = BD(MAC1);
    f->port_attach.ip = BD(IP1);
    f->port_attach.plen = 24;
    f->port_attach.ifname = "veth-vm1";
    f->port_detach = (Strata__V1__PortDetach)STRATA__V1__PORT_DETACH__INIT;
    f->port_detach.ifname = "veth-vm1";
    f->port_reply = (Strata__V1__PortReply)STRATA__V1__PORT_REPLY__INIT;
    f->port_reply.detail = "attached";
    f->cache_show = (Strata__V1__CacheShowRequest)STRATA__V1__CACHE_SHOW_REQUEST__INIT;
    f->entry = (Strata__V1__CacheEntry)STRATA__V1__CACHE_ENTRY__INIT;
    f->entry.vni = 5001;
    f->entry.key = "ip 10.1.0.7";
    f->entry.value = "02:00:00:00:00:01 on h1";
    f->entry.n_holders = 2;
    f->entry.holders = f->holders;
    f->entryp[0] = &f->entry;
    f->counter = (Strata__V1__Counter)STRATA__V1__COUNTER__INIT;
    f->counter.name = "cache_hits";
    f->counter.value = 12;
    f->counterp[0] = &f->counter;
    f->cache_show_reply = (Strata__V1__CacheShowReply)STRATA__V1__CACHE_SHOW_REPLY__INIT;
    f->cache_show_reply.n_entries = 1;
    f->cache_show_reply.entries = f->entryp;
    f->cache_show_reply.n_counters = 1;
    f->cache_show_reply.counters = f->counterp;
    f->trace = (Strata__V1__TraceRequest)STRATA__V1__TRACE_REQUEST__INIT;
    f->trace.vni = 5001;
    f->trace.src_ip = BD(IP1);
    f->trace.dst_ip = BD(GW);
    f->hop = (Strata__V1__TraceHop)STRATA__V1__TRACE_HOP__INIT;
    f->hop.tier = "agent";
    f->hop.node = "h1";
    f->hop.action = "lookup";
    f->hop.result = "hit";
    f->hopp[0] = &f->hop;
    f->trace_reply = (Strata__V1__TraceReply)STRATA__V1__TRACE_REPLY__INIT;
    f->trace_reply.n_hops = 1;
    f->trace_reply.hops = f->hopp;
    f->wait_applied = (Strata__V1__WaitAppliedRequest)STRATA__V1__WAIT_APPLIED_REQUEST__INIT;
    f->wait_applied.index = 42;
    f->wait_applied.timeout_ms = 2000;
    f->wholder = (Strata__V1__WaitHolder)STRATA__V1__WAIT_HOLDER__INIT;
    f->wholder.host = "h1";
    f->wholder.seq = 7;
    f->wholderp[0] = &f->wholder;
    f->wait_applied_reply = (Strata__V1__WaitAppliedReply)STRATA__V1__WAIT_APPLIED_REPLY__INIT;
    f->wait_applied_reply.server = "cs1";
    f->wait_applied_reply.seen = true;
    f->wait_applied_reply.known = true;
    f->wait_applied_reply.n_holders = 1;
    f->wait_applied_reply.holders = f->wholderp;
    f->empty = (Strata__V1__Empty)STRATA__V1__EMPTY__INIT;
    f->akey = (Strata__V1__AuditKey)STRATA__V1__AUDIT_KEY__INIT;
    f->akey.vni = 100;
    f->akey.ip = f->ips[0];
    f->avn = (Strata__V1__AuditVn)STRATA__V1__AUDIT_VN__INIT;
    f->avn.vni = 100;
    f->avn.keys = 3;
    f->avn.digest = 0x1234567890abcdefull;
    f->avn.bucket = 64;
    f->avnp[0] = &f->avn;
    f->aentry = (Strata__V1__AuditEntry)STRATA__V1__AUDIT_ENTRY__INIT;
    f->aentry.key = &f->akey;
    f->aentry.held = true;
    f->aentry.version = 7;
    f->aentryp[0] = &f->aentry;
    f->audit_report = (Strata__V1__AuditReport)STRATA__V1__AUDIT_REPORT__INIT;
    f->audit_report.audit_id = 5;
    f->audit_report.n_vns = 1;
    f->audit_report.vns = f->avnp;
    f->audit_report.n_entries = 1;
    f->audit_report.entries = f->aentryp;
    f->audit_report.last = true;
    f->audit = (Strata__V1__AuditRequest)STRATA__V1__AUDIT_REQUEST__INIT;
    f->audit.repair = true;
    f->audit.timeout_ms = 3000;
    f->adiv = (Strata__V1__AuditDivergence)STRATA__V1__AUDIT_DIVERGENCE__INIT;
    f->adiv.host = "h1";
    f->adiv.vni = 100;
    f->adiv.key = "ip 10.1.0.7";
    f->adiv.kind = "stale";
    f->adiv.tier = "kernel";
    f->adivp[0] = &f->adiv;
    f->anode = (Strata__V1__AuditNode)STRATA__V1__AUDIT_NODE__INIT;
    f->anode.host = "h1";
    f->anode.answered = true;
    f->anodep[0] = &f->anode;
    f->audit_reply = (Strata__V1__AuditReply)STRATA__V1__AUDIT_REPLY__INIT;
    f->audit_reply.server = "cs1";
    f->audit_reply.n_nodes = 1;
    f->audit_reply.nodes = f->anodep;
    f->audit_reply.n_divergences = 1;
    f->audit_reply.divergences = f->adivp;
}

/* A valid envelope with body `bc`; false if this test does not know the case (a new body was
 * added to strata.proto: add it here and to msg_validate.c). */
static inline bool fx_body(struct fx *f, strata_env *env, int bc)
{
    *env = (strata_env)STRATA__V1__ENVELOPE__INIT;
    env->req_id = 1234;
    env->identity = "host:h1";
    env->body_case = bc;
    switch (bc) {
#define CASE(NAME, member)                                                                         \
    case STRATA__V1__ENVELOPE__BODY_##NAME:                                                        \
        env->member = &f->member;                                                                  \
        return true;
        CASE(WRITE, write)
        CASE(WRITE_REPLY, write_reply)
        CASE(WRITE_BATCH, write_batch)
        CASE(WRITE_BATCH_REPLY, write_batch_reply)
        CASE(LIST, list)
        CASE(LIST_REPLY, list_reply)
        CASE(RESOLVE, resolve)
        CASE(RESOLVE_REPLY, resolve_reply)
        CASE(VN_INFO, vn_info)
        CASE(VN_INFO_REPLY, vn_info_reply)
        CASE(FEED, feed)
        CASE(FEED_REPLY, feed_reply)
        CASE(CLUSTER_STATUS, cluster_status)
        CASE(CLUSTER_STATUS_REPLY, cluster_status_reply)
        CASE(CLUSTER_ADD, cluster_add)
        CASE(CLUSTER_REMOVE, cluster_remove)
        CASE(CLUSTER_TRANSFER, cluster_transfer)
        CASE(CLUSTER_REPLY, cluster_reply)
        CASE(BACKUP, backup)
        CASE(BACKUP_REPLY, backup_reply)
        CASE(HOST_REGISTER, host_register)
        CASE(HOST_REGISTER_REPLY, host_register_reply)
        CASE(PORT_REGISTER, port_register)
        CASE(PORT_MOVE, port_move)
        CASE(PORT_UNREGISTER, port_unregister)
        CASE(UPDATES, updates)
        CASE(UPDATES_REPLY, updates_reply)
        CASE(PORT_ATTACH, port_attach)
        CASE(PORT_DETACH, port_detach)
        CASE(PORT_REPLY, port_reply)
        CASE(CACHE_SHOW, cache_show)
        CASE(CACHE_SHOW_REPLY, cache_show_reply)
        CASE(TRACE, trace)
        CASE(TRACE_REPLY, trace_reply)
        CASE(WAIT_APPLIED, wait_applied)
        CASE(WAIT_APPLIED_REPLY, wait_applied_reply)
        CASE(EMPTY, empty)
        CASE(AUDIT_REPORT, audit_report)
        CASE(AUDIT, audit)
        CASE(AUDIT_REPLY, audit_reply)
#undef CASE
    default:
        return false;
    }
}

/* Encode env and decode it back; returns the decode result, with the error in *e. */
static inline int roundtrip(const strata_env *env, strata_env **out, struct strata_err *e)
{
    uint8_t *buf;
    size_t len;
    assert_int_equal(strata_msg_encode(env, &buf, &len, e), 0);
    strata_err_clear(e);
    *out = NULL;
    int rc = strata_msg_decode(buf, len, STRATA_MSG_MAX, out, e);
    free(buf);
    if (rc < 0)
        assert_null(*out);
    return rc;
}

/* Expect env to be refused with `code` and an error message containing `needle`. */
static inline void expect_refused(const strata_env *env, int code, const char *needle)
{
    struct strata_err e;
    strata_env *out;
    int rc = roundtrip(env, &out, &e);
    if (rc != code) {
        strata_msg_free(out);
        fail_msg("want %s containing \"%s\", got %s: %s", strata_errname(code), needle,
                 strata_errname(rc), e.msg);
    }
    if (strstr(e.msg, needle) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", e.msg, needle);
    /* Validation on the unencoded message agrees with decode. */
    assert_int_equal(strata_msg_validate(env, &e), code);
}

static inline void expect_ok(const strata_env *env)
{
    struct strata_err e;
    strata_env *out;
    int rc = roundtrip(env, &out, &e);
    if (rc != 0)
        fail_msg("valid %s refused: %s", strata_msg_type_name(env->body_case), e.msg);
    strata_msg_free(out);
}

/* Every body case the descriptor knows, in order. */
static inline size_t body_cases(int *cases, size_t cap)
{
    const ProtobufCMessageDescriptor *d = &strata__v1__envelope__descriptor;
    size_t n = 0;
    for (unsigned i = 0; i < d->n_fields; i++)
        if ((d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && n < cap)
            cases[n++] = (int)d->fields[i].id;
    return n;
}

#endif
