/* test_msg_validate.c - strata_msg_validate's rules per message type, through a real
 * encode/decode: bad values are refused with the right code and an error naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg.h"
#include "test_msg_fixture.h"

static void test_no_body_or_op(void **state)
{
    (void)state;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.req_id = 5;
    expect_refused(&env, STRATA_EPROTO, "no body");

    struct fx f;
    fx_init(&f);
    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_WRITE);
    f.cmd.op_case = STRATA__V1__COMMAND__OP__NOT_SET;
    expect_refused(&env, STRATA_EPROTO, "write.cmd: command has no operation");
    f.write.cmd = NULL;
    expect_refused(&env, STRATA_EPROTO, "write.cmd: missing");

    /* Validation of a hand-built envelope with a body case but a NULL body. */
    struct strata_err e;
    env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    env.resolve = NULL;
    assert_int_equal(strata_msg_validate(&env, &e), STRATA_EPROTO);
    assert_non_null(strstr(e.msg, "resolve: body missing"));
    env.body_case = 999;
    env.empty = &f.empty;
    assert_int_equal(strata_msg_validate(&env, &e), STRATA_EPROTO);
    assert_non_null(strstr(e.msg, "unknown body case 999"));
    assert_int_equal(strata_msg_validate(NULL, &e), STRATA_EPROTO);
    /* A success reply without a body is refused; an error reply without one is fine. */
    env = (strata_env)STRATA__V1__ENVELOPE__INIT;
    env.status = STRATA_EUNAVAIL;
    env.message = "no leader";
    assert_int_equal(strata_msg_validate(&env, &e), 0);
}

static void test_write_field_errors(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    strata_env env;
    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_WRITE);
    expect_ok(&env);

    f.ep.vni = 0;
    expect_refused(&env, STRATA_EINVAL, "write.cmd.endpoint_add.vni: VNI 0 out of range");
    f.ep.vni = 16777216;
    expect_refused(&env, STRATA_EINVAL, "write.cmd.endpoint_add.vni: VNI 16777216");
    f.ep.vni = 16777215;
    expect_ok(&env);

    f.ep.mac = BDN(MAC1, 5);
    expect_refused(&env, STRATA_EINVAL, "endpoint_add.mac: 5 bytes, want 6");
    f.ep.mac = BDN(MAC1, 0);
    expect_refused(&env, STRATA_EINVAL, "endpoint_add.mac: 0 bytes, want 6");
    f.ep.mac = BD(MAC_MCAST);
    expect_refused(&env, STRATA_EINVAL, "endpoint_add.mac: 01:00:5e:00:00:01 is not a unicast");
    f.ep.mac = BD(MAC_ZERO);
    expect_refused(&env, STRATA_EINVAL, "endpoint_add.mac: 00:00:00:00:00:00 is not a unicast");
    f.ep.mac = BD(MAC1);

    f.ips[1] = BDN(IP6, 5);
    expect_refused(&env, STRATA_EINVAL, "write.cmd.endpoint_add.ips[1]: 5 bytes, want 4 or 16");
    f.ips[1] = BDN(IP6, 0);
    expect_refused(&env, STRATA_EINVAL, "endpoint_add.ips[1]: 0 bytes");
    f.ips[1] = BD(IP6);
    f.ep.vtep = BDN(VTEP, 3);
    expect_refused(&env, STRATA_EINVAL, "endpoint_add.vtep: 3 bytes");
    f.ep.vtep = BDN(VTEP, 0); /* filled in by the directory: may be empty in a write */
    expect_ok(&env);
    f.ep.host = "";
    expect_refused(&env, STRATA_EINVAL, "endpoint_add.host: required");
    f.ep.host = "h1";

    /* Other operations. */
    f.cmd.op_case = STRATA__V1__COMMAND__OP_SUBNET_CREATE;
    f.cmd.subnet_create = &f.subnet;
    expect_ok(&env);
    f.subnet.plen = 33;
    expect_refused(&env, STRATA_EINVAL, "subnet_create.prefix: prefix length 33");
    f.subnet.plen = 8;
    expect_refused(&env, STRATA_EINVAL, "10.1.0.0/8 has host bits set");
    f.subnet.prefix = BD(GW);
    f.subnet.plen = 24;
    expect_refused(&env, STRATA_EINVAL, "subnet_create.prefix: 10.1.0.1/24 has host bits set");
    f.subnet.prefix = BDN(NET, 0);
    expect_refused(&env, STRATA_EINVAL, "subnet_create.prefix: 0 bytes");
    f.subnet.prefix = BD(NET);
    f.subnet.gateway = BD(VTEP);
    expect_refused(&env, STRATA_EINVAL,
                   "subnet_create.gateway: 192.168.0.1 is outside 10.1.0.0/24");
    f.subnet.gateway = BD(IP6);
    expect_refused(&env, STRATA_EINVAL, "subnet_create.gateway: fd00::7 is outside");
    f.subnet.gateway = BDN(GW, 0); /* no gateway: fine */
    expect_ok(&env);
    f.subnet.gateway = BD(GW);

    f.cmd.op_case = STRATA__V1__COMMAND__OP_POLICY_SET;
    f.cmd.policy_set = &f.policy;
    expect_ok(&env);
    f.policy.verdict = STRATA__V1__VERDICT__VERDICT_UNKNOWN;
    expect_refused(&env, STRATA_EINVAL, "policy_set.verdict");
    f.policy.verdict = 7;
    expect_refused(&env, STRATA_EINVAL, "policy_set.verdict");
    f.policy.verdict = STRATA__V1__VERDICT__VERDICT_DENY;
    f.policy.to_vni = 0;
    expect_refused(&env, STRATA_EINVAL, "policy_set.to_vni");
    f.policy.to_vni = 5002;

    Strata__V1__MemberSet ms = STRATA__V1__MEMBER_SET__INIT;
    ms.id = 3;
    ms.raft = "127.0.0.1:9003";
    f.cmd.op_case = STRATA__V1__COMMAND__OP_MEMBER_SET;
    f.cmd.member_set = &ms;
    expect_ok(&env);
    ms.raft = "localhost:9003";
    expect_refused(&env, STRATA_EINVAL, "member_set.raft");
    ms.raft = "127.0.0.1:9003";
    ms.id = 0;
    expect_refused(&env, STRATA_EINVAL, "member_set.id");

    f.cmd.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    f.cmd.domain_create = &f.domain;
    expect_ok(&env);
    f.domain.name = "";
    expect_refused(&env, STRATA_EINVAL, "write.cmd.domain_create.name: required");
    f.domain.name = "acme";

    f.cmd.op_case = STRATA__V1__COMMAND__OP_VNET_CREATE;
    f.cmd.vnet_create = &f.vnet;
    expect_ok(&env);
    f.vnet.domain = "";
    expect_refused(&env, STRATA_EINVAL, "write.cmd.vnet_create.domain: required");
    f.vnet.domain = "acme";
    f.vnet.vni = 0;
    expect_refused(&env, STRATA_EINVAL, "write.cmd.vnet_create.vni: VNI 0");
    f.vnet.vni = 5001;

    Strata__V1__MemberDel md = STRATA__V1__MEMBER_DEL__INIT;
    f.cmd.op_case = STRATA__V1__COMMAND__OP_MEMBER_DEL;
    f.cmd.member_del = &md;
    expect_refused(&env, STRATA_EINVAL, "write.cmd.member_del.id: must be non-zero");
    md.id = 2;
    expect_ok(&env);

    Strata__V1__VnetDelete vd = STRATA__V1__VNET_DELETE__INIT;
    f.cmd.op_case = STRATA__V1__COMMAND__OP_VNET_DELETE;
    f.cmd.vnet_delete = &vd;
    expect_refused(&env, STRATA_EINVAL, "vnet_delete.vni");
    vd.vni = 9;
    expect_ok(&env);

    f.cmd.op_case = STRATA__V1__COMMAND__OP_HOST_ADD;
    f.cmd.host_add = &f.host;
    expect_ok(&env);
    f.host.vtep = BDN(VTEP, 0);
    expect_refused(&env, STRATA_EINVAL, "host_add.vtep: 0 bytes");
    /* a VTEP others cannot tunnel to (issue 24): refused before it reaches the directory */
    static const struct {
        uint8_t a[4];
        const char *why;
    } bad[] = {{{255, 255, 255, 255}, "255.255.255.255 is the broadcast address"},
               {{224, 0, 0, 1}, "224.0.0.1 is a multicast address"},
               {{239, 1, 2, 3}, "239.1.2.3 is a multicast address"},
               {{127, 0, 0, 1}, "127.0.0.1 is a loopback address"},
               {{0, 0, 0, 0}, "0.0.0.0 is unspecified"},
               {{0, 1, 2, 3}, "0.1.2.3 is in 0.0.0.0/8"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f.host.vtep = BDN((uint8_t *)bad[i].a, 4);
        expect_refused(&env, STRATA_EINVAL, bad[i].why);
    }
    static uint8_t mc6[16] = {0xff, 0x02, [15] = 1}, lo6[16] = {[15] = 1};
    f.host.vtep = BDN(mc6, 16);
    expect_refused(&env, STRATA_EINVAL, "ff02::1 is a multicast address");
    f.host.vtep = BDN(lo6, 16);
    expect_refused(&env, STRATA_EINVAL, "::1 is a loopback address");
    f.host.vtep = BD(VTEP);

    f.cmd.op_case = STRATA__V1__COMMAND__OP_GATEWAY_ADD;
    f.cmd.gateway_add = &f.gateway;
    expect_ok(&env);
    f.vnis[1] = 0;
    expect_refused(&env, STRATA_EINVAL, "gateway_add.vnis[1]: VNI 0");
    f.vnis[1] = 7;

    f.cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_MOVE;
    f.cmd.endpoint_move = &f.move;
    expect_ok(&env);
    f.move.host = "";
    expect_refused(&env, STRATA_EINVAL, "endpoint_move.host: required");
    f.move.host = "h2";

    f.cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_DELETE;
    f.cmd.endpoint_delete = &f.del;
    expect_ok(&env);
    f.del.mac = BDN(IP6, 7);
    expect_refused(&env, STRATA_EINVAL, "endpoint_delete.mac: 7 bytes, want 6");
}

static void test_registration_and_ports(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    strata_env env;
    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_PORT_REGISTER);
    f.ep.mac = BD(MAC_MCAST);
    expect_refused(&env, STRATA_EINVAL, "port_register.endpoint.mac: 01:00:5e:00:00:01");
    f.port_register.endpoint = NULL;
    expect_refused(&env, STRATA_EPROTO, "port_register.endpoint: missing");

    /* The same endpoint in a reply is only checked for shape. */
    f.port_register.endpoint = &f.ep;
    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY);
    expect_ok(&env);
    f.ep.mac = BDN(MAC1, 5);
    expect_refused(&env, STRATA_EINVAL, "resolve_reply.answers[0].endpoint.mac: 5 bytes");
    /* A reply's endpoint may carry only its key (no MAC, no VNI); set values are still checked. */
    f.ep.mac = BDN(MAC1, 0);
    f.ep.vni = 0;
    expect_ok(&env);
    f.ep.vni = 16777216;
    expect_refused(&env, STRATA_EINVAL, "resolve_reply.answers[0].endpoint.vni");
    f.ep.vni = 5001;
    f.ep.mac = BD(MAC1);

    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_PORT_ATTACH);
    f.port_attach.mac = BD(MAC_ZERO);
    expect_refused(&env, STRATA_EINVAL, "port_attach.mac");
    f.port_attach.mac = BD(MAC1);
    f.port_attach.plen = 33;
    expect_refused(&env, STRATA_EINVAL, "port_attach.plen: 33");
    f.port_attach.ip = BD(IP6);
    f.port_attach.plen = 64;
    expect_ok(&env);
    f.port_attach.plen = 129;
    expect_refused(&env, STRATA_EINVAL, "port_attach.plen");
    f.port_attach.plen = 64;
    f.port_attach.ifname = "0123456789abcdef"; /* 16 > IFNAMSIZ - 1 */
    expect_refused(&env, STRATA_EINVAL, "port_attach.ifname");
    f.port_attach.ifname = "";
    expect_refused(&env, STRATA_EINVAL, "port_attach.ifname");
    f.port_attach.ifname = "0123456789abcde";
    expect_ok(&env);
    f.port_attach.vni = 0;
    expect_refused(&env, STRATA_EINVAL, "port_attach.vni");

    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_HOST_REGISTER);
    f.host_register.vtep = BDN(VTEP, 2);
    expect_refused(&env, STRATA_EINVAL, "host_register.vtep: 2 bytes");
    static uint8_t bcast[4] = {255, 255, 255, 255};
    f.host_register.vtep = BD(bcast);
    expect_refused(&env, STRATA_EINVAL, "host_register.vtep: 255.255.255.255 is the broadcast");
    f.host_register.vtep = BD(VTEP);
    f.host_register.n_vnis = 2;
    f.host_register.vnis = f.vnis;
    expect_ok(&env);
    f.vnis[0] = 16777216;
    expect_refused(&env, STRATA_EINVAL, "host_register.vnis[0]");
    f.vnis[0] = 5001;

    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_PORT_UNREGISTER);
    f.del.vni = 0;
    expect_refused(&env, STRATA_EINVAL, "port_unregister.del.vni");
    f.del.vni = 5001;

    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_UPDATES_REPLY);
    f.update.kind = STRATA__V1__UPDATE_KIND__UPD_RESYNC;
    f.update.vni = 0;
    expect_ok(&env);
    f.update.kind = STRATA__V1__UPDATE_KIND__UPD_FLOOD;
    expect_refused(&env, STRATA_EINVAL, "updates_reply.updates[0].vni");
    f.update.vni = 5001;
    f.update.kind = 9;
    expect_refused(&env, STRATA_EINVAL, "updates_reply.updates[0].kind");
    /* VNINFO: of one VN, or (vni 0) the gateway's new set of VNs */
    f.update.kind = STRATA__V1__UPDATE_KIND__UPD_VNINFO;
    expect_ok(&env);
    f.update.vni = 0;
    f.update.vnis = f.vnis;
    f.update.n_vnis = 2;
    expect_ok(&env);
    f.vnis[1] = 0;
    expect_refused(&env, STRATA_EINVAL, "updates_reply.updates[0].vnis[1]");
    f.vnis[1] = 7;
    static uint32_t many[STRATA_MAX_VNIS + 1];
    for (size_t i = 0; i <= STRATA_MAX_VNIS; i++)
        many[i] = 1;
    f.update.vnis = many;
    f.update.n_vnis = STRATA_MAX_VNIS + 1;
    expect_refused(&env, STRATA_ETOOBIG, "vnis: 4097 entries, max 4096");
    /* and the same bound before decoding */
    uint8_t *buf;
    size_t len;
    struct strata_err e = {0};
    assert_int_equal(strata_msg_encode(&env, &buf, &len, &e), 0);
    strata_env *out = NULL;
    assert_int_equal(strata_msg_decode(buf, len, STRATA_MSG_MAX, &out, &e), STRATA_ETOOBIG);
    assert_non_null(strstr(e.msg, "updates.vnis: 4097")); /* the walk names no index */
    free(buf);
    f.update.n_vnis = 0;

    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_HOST_REGISTER_REPLY);
    f.host_register_reply.vnis = f.vnis;
    f.host_register_reply.n_vnis = 2;
    expect_ok(&env);
    f.vnis[0] = 0;
    expect_refused(&env, STRATA_EINVAL, "host_register_reply.vnis[0]");
    f.vnis[0] = 5001;
}

static void test_gateway_ops(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    strata_env env;
    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_WRITE);
    Strata__V1__GatewayLive gl = STRATA__V1__GATEWAY_LIVE__INIT;
    f.cmd.op_case = STRATA__V1__COMMAND__OP_GATEWAY_LIVE;
    f.cmd.gateway_live = &gl;
    expect_refused(&env, STRATA_EINVAL, "gateway_live.id: required");
    gl.id = "gw1";
    expect_refused(&env, STRATA_EINVAL, "gateway_live.csd: required");
    gl.csd = "cs1";
    gl.live = true;
    expect_ok(&env);
    Strata__V1__GatewayDelete gd = STRATA__V1__GATEWAY_DELETE__INIT;
    f.cmd.op_case = STRATA__V1__COMMAND__OP_GATEWAY_DELETE;
    f.cmd.gateway_delete = &gd;
    expect_refused(&env, STRATA_EINVAL, "gateway_delete.id: required");
    gd.id = "gw1";
    expect_ok(&env);
    Strata__V1__PolicyDelete pd = STRATA__V1__POLICY_DELETE__INIT;
    f.cmd.op_case = STRATA__V1__COMMAND__OP_POLICY_DELETE;
    f.cmd.policy_delete = &pd;
    pd.domain = "acme";
    pd.from_vni = 100;
    expect_refused(&env, STRATA_EINVAL, "policy_delete.to_vni");
    pd.to_vni = 200;
    expect_ok(&env);
}

static void test_resolve_rules(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    strata_env env;
    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_RESOLVE);
    expect_ok(&env);
    f.q[0].from_vni = 0; /* same VN */
    expect_ok(&env);
    f.q[0].from_vni = 16777216;
    expect_refused(&env, STRATA_EINVAL, "resolve.queries[0].from_vni");
    f.q[0].from_vni = 0;
    f.q[0].mac = BD(MAC1); /* both ip and mac */
    expect_refused(&env, STRATA_EINVAL, "resolve.queries[0]: exactly one of ip and mac");
    f.q[0].mac = BDN(MAC1, 0);
    f.q[0].ip = BDN(IP1, 0); /* neither */
    expect_refused(&env, STRATA_EINVAL, "resolve.queries[0]: exactly one of ip and mac");
    f.q[0].ip = BDN(IP1, 3);
    expect_refused(&env, STRATA_EINVAL, "resolve.queries[0].ip: 3 bytes");
    f.q[0].ip = BD(IP1);
    f.q[1].vni = 0;
    expect_refused(&env, STRATA_EINVAL, "resolve.queries[1].vni: VNI 0");
    f.q[1].vni = 5001;
    f.q[1].mac = BDN(MAC1, 4);
    expect_refused(&env, STRATA_EINVAL, "resolve.queries[1].mac: 4 bytes");
    f.q[1].mac = BD(MAC1);

    /* Batch bound: STRATA_MAX_BATCH queries pass, one more does not. */
    Strata__V1__ResolveQuery **many = calloc(STRATA_MAX_BATCH + 1, sizeof(*many));
    assert_non_null(many);
    for (size_t i = 0; i <= STRATA_MAX_BATCH; i++)
        many[i] = &f.q[0];
    f.resolve.queries = many;
    f.resolve.n_queries = STRATA_MAX_BATCH;
    expect_ok(&env);
    f.resolve.n_queries = STRATA_MAX_BATCH + 1;
    expect_refused(&env, STRATA_ETOOBIG, "resolve.queries: 1025 entries, max 1024");
    free(many);

    /* ListRequest: vni 0 means all; kind must be known. */
    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_LIST);
    expect_ok(&env);
    f.list.vni = 16777216;
    expect_refused(&env, STRATA_EINVAL, "list.vni");
    f.list.vni = 0;
    f.list.kind = STRATA__V1__OBJ_KIND__OBJ_NONE;
    expect_refused(&env, STRATA_EINVAL, "list.kind");
    f.list.kind = 42;
    expect_refused(&env, STRATA_EINVAL, "list.kind");

    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_VN_INFO);
    f.vn_info.vni = 0;
    expect_refused(&env, STRATA_EINVAL, "vn_info.vni");

    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_TRACE);
    f.trace.dst_ip = BDN(GW, 0);
    expect_refused(&env, STRATA_EINVAL, "trace.dst_ip: 0 bytes");

    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_CLUSTER_ADD);
    f.cluster_add.raft = "127.0.0.1";
    expect_refused(&env, STRATA_EINVAL, "cluster_add.raft");
    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_CLUSTER_REMOVE);
    f.cluster_remove.id = 0;
    expect_refused(&env, STRATA_EINVAL, "cluster_remove.id");
}

static void test_replies_validate_nested_objects(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    strata_env env;
    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_LIST_REPLY);
    f.subnet.plen = 40;
    expect_refused(&env, STRATA_EINVAL, "list_reply.subnets[0].prefix");
    f.subnet.plen = 24;
    f.host.vtep = BDN(VTEP, 1);
    expect_refused(&env, STRATA_EINVAL, "list_reply.hosts[0].vtep: 1 bytes");
    f.host.vtep = BD(VTEP);
    f.vnet.vni = 0;
    expect_refused(&env, STRATA_EINVAL, "list_reply.vnets[0].vni");
    f.vnet.vni = 5001;
    expect_ok(&env);

    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_FEED_REPLY);
    f.ep.vni = 16777216;
    expect_refused(&env, STRATA_EINVAL, "feed_reply.changes[0].endpoint.vni");
    f.ep.vni = 5001;
    f.flood[0] = BD(MAC1);
    expect_refused(&env, STRATA_EINVAL, "feed_reply.changes[0].flood_vteps[0]: 6 bytes");
    f.flood[0] = BD(VTEP);
    f.change.kind = 99;
    expect_refused(&env, STRATA_EINVAL, "feed_reply.changes[0].kind");
    f.change.kind = STRATA__V1__OBJ_KIND__OBJ_VNET;
    /* Every object a change can carry is checked. */
    f.change.domain = &f.domain;
    f.change.vnet = &f.vnet;
    f.change.subnet = &f.subnet;
    f.change.host = &f.host;
    f.change.gateway = &f.gateway;
    f.change.policy = &f.policy;
    expect_ok(&env);
    f.gateway.vtep = BDN(IP6, 5);
    expect_refused(&env, STRATA_EINVAL, "feed_reply.changes[0].gateway.vtep: 5 bytes");
    f.gateway.vtep = BD(VTEP);
    f.policy.verdict = 3;
    expect_refused(&env, STRATA_EINVAL, "feed_reply.changes[0].policy.verdict");
    f.policy.verdict = STRATA__V1__VERDICT__VERDICT_UNKNOWN; /* fine outside a write */
    expect_ok(&env);

    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_VN_INFO_REPLY);
    f.vn_info_reply.n_flood_vteps = 2;
    f.flood[1] = BDN(IP1, 0);
    expect_refused(&env, STRATA_EINVAL, "vn_info_reply.flood_vteps[1]: 0 bytes");
    f.flood[1] = BD(IP1);
    expect_ok(&env);
}

static void test_string_bounds(void **state)
{
    (void)state;
    char big[STRATA_MAX_STR + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0'; /* 256 characters */
    struct fx f;
    fx_init(&f);
    strata_env env;
    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_WRITE);
    f.ep.host = big;
    expect_refused(&env, STRATA_ETOOBIG, "write.cmd.endpoint_add.host: longer than 255");
    big[STRATA_MAX_STR] = '\0'; /* exactly 255: fine */
    expect_ok(&env);
    big[STRATA_MAX_STR] = 'x';
    f.ep.host = "h1";
    env.identity = big;
    expect_refused(&env, STRATA_ETOOBIG, "envelope.identity");
    env.identity = "";
    env.message = big;
    expect_refused(&env, STRATA_ETOOBIG, "envelope.message");
    env.message = "";
    fx_body(&f, &env, STRATA__V1__ENVELOPE__BODY_CACHE_SHOW_REPLY);
    f.holders[1] = big;
    expect_refused(&env, STRATA_ETOOBIG, "cache_show_reply.entries[0].holders[1]");
}

/* write_batch: 1..STRATA_MAX_BATCH commands, each checked like a single write's command, and
 * errors name the command's place; the reply's results are checked the same way. */
static void test_write_batch(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    Strata__V1__Endpoint ep2 = f.ep;
    Strata__V1__Command c2 = f.cmd;
    c2.endpoint_add = &ep2;
    Strata__V1__Command *cmds[2] = {&f.cmd, &c2};
    Strata__V1__WriteBatchRequest wb = STRATA__V1__WRITE_BATCH_REQUEST__INIT;
    wb.n_cmds = 2;
    wb.cmds = cmds;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE_BATCH;
    env.write_batch = &wb;
    expect_ok(&env);
    ep2.mac = BDN(MAC1, 5);
    expect_refused(&env, STRATA_EINVAL, "write_batch.cmds[1].endpoint_add.mac: 5 bytes, want 6");
    ep2.mac = BD(MAC1);
    c2.op_case = STRATA__V1__COMMAND__OP__NOT_SET;
    expect_refused(&env, STRATA_EPROTO, "write_batch.cmds[1]: command has no operation");
    c2.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
    wb.n_cmds = 0;
    expect_refused(&env, STRATA_EINVAL, "write_batch.cmds: empty");

    Strata__V1__Command **many = calloc(STRATA_MAX_BATCH + 1, sizeof(*many));
    assert_non_null(many);
    for (size_t i = 0; i <= STRATA_MAX_BATCH; i++)
        many[i] = &f.cmd;
    wb.cmds = many;
    wb.n_cmds = STRATA_MAX_BATCH + 1;
    expect_refused(&env, STRATA_ETOOBIG, "write_batch.cmds: 1025 entries, max 1024");
    wb.n_cmds = STRATA_MAX_BATCH;
    expect_ok(&env);
    free(many);

    Strata__V1__WriteResult r0 = STRATA__V1__WRITE_RESULT__INIT,
                            r1 = STRATA__V1__WRITE_RESULT__INIT, *rp[2] = {&r0, &r1};
    Strata__V1__WriteReply wr = STRATA__V1__WRITE_REPLY__INIT;
    wr.index = 7;
    wr.endpoint = &ep2;
    r0.reply = &wr;
    r1.status = STRATA_ECONFLICT;
    r1.message = "10.0.0.5 is claimed by another endpoint";
    Strata__V1__WriteBatchReply br = STRATA__V1__WRITE_BATCH_REPLY__INIT;
    br.n_results = 2;
    br.results = rp;
    env = (strata_env)STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE_BATCH_REPLY;
    env.write_batch_reply = &br;
    expect_ok(&env);
    ep2.mac = BDN(MAC1, 5);
    expect_refused(&env, STRATA_EINVAL, "write_batch_reply.results[0].reply.endpoint.mac");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_body_or_op),
        cmocka_unit_test(test_write_field_errors),
        cmocka_unit_test(test_write_batch),
        cmocka_unit_test(test_registration_and_ports),
        cmocka_unit_test(test_resolve_rules),
        cmocka_unit_test(test_gateway_ops),
        cmocka_unit_test(test_replies_validate_nested_objects),
        cmocka_unit_test(test_string_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
