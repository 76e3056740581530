/* fuzz_feed.c - libFuzzer target: the directory's change feed as strata-csd consumes it. Input:
 * the bytes of a FeedReply; the target frames them as an Envelope's feed_reply, takes that as
 * the csd's client takes a reply (client_decode_reply: bounds, wire check, decode, validation)
 * and, when it is a successful FeedReply, applies it with cs_feed_apply to a small cache (eight
 * entries, so that changes evict) of keys held by two agent sessions, as the unit test
 * connectivity-svc/test_cs_feed.c sets up. Checked: nothing crashes or leaks, the feed index
 * never goes back, the cache stays within its bound. Run with FZ_WRITE_CORPUS=DIR once to write
 * seeds: moves, IP changes and deletes of a cached endpoint, a flood list, a policy, a subnet,
 * a gateway and a gap. Build: docs/fuzzing.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz_util.h"
#include "client_int.h"
#include "cs.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CACHE_MAX 8
#define FZ_BASE_INDEX 5

static const uint8_t MACX[6] = {0x02, 0, 0, 0, 0, 0x0a};
static uint8_t IP7[4] = {10, 1, 0, 7}, IP8[4] = {10, 1, 0, 8};
static uint8_t IP6X[16] = {0xfd, 0, 0, 1, [15] = 7};
static uint8_t VTEP3[4] = {192, 168, 0, 3}, VTEP4[4] = {192, 168, 0, 4};

static uv_loop_t uv;
static struct cs cs;

static void put(uint32_t vni, const uint8_t *ip, size_t iplen, bool found, uint32_t holder)
{
    struct cs_key k;
    if (ip)
        cs_key_ip(vni, ip, iplen, &k);
    else
        cs_key_mac(vni, MACX, &k);
    struct cs_value v = {.found = found, .version = FZ_BASE_INDEX, .host = "h3"};
    if (found) {
        memcpy(v.mac, MACX, 6);
        v.vtep_len = 4;
        memcpy(v.vtep, VTEP3, 4);
    } else {
        v.expire_ms = strata_now_ms() + 100000;
    }
    struct cs_entry *e = NULL;
    if (cs_cache_put(cs.cache, &k, &v, strata_now_ms(), &e) == CS_PUT_STORED && e != NULL)
        cs_cache_holder_add(cs.cache, e, holder);
}

static void setup(void)
{
    memset(&cs, 0, sizeof(cs));
    cs.uv = &uv;
    cs.negative_ttl_ms = 1000;
    cs.cache = cs_cache_new(FZ_CACHE_MAX);
    cs_cache_on_evict(cs.cache, cs_feed_evicted, &cs);
    if (cs_agents_new(&cs, &cs.agents) != 0)
        abort();
    struct cs_session *s1 = cs_agents_get(cs.agents, "h1"), *s2 = cs_agents_get(cs.agents, "h2");
    cs_iset_add(&s1->vnis, 100);
    cs_iset_add(&s2->vnis, 200);
    cs.feed_index = FZ_BASE_INDEX;
    put(100, IP7, 4, true, s1->id);
    put(100, NULL, 0, true, s1->id);
    put(100, NULL, 0, true, s2->id);
    put(100, IP8, 4, false, s2->id);
    put(100, IP6X, 16, true, s2->id);
    put(200, IP7, 4, false, s1->id);
    cs_verdict_put(cs.cache, 100, 200, STRATA__V1__VERDICT__VERDICT_ALLOW);
}

static void teardown(void)
{
    cs_agents_close(cs.agents);
    uv_run(&uv, UV_RUN_NOWAIT);
    cs_agents_free(cs.agents);
    cs_cache_free(cs.cache);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size + 16);
    size_t n = fz_put_varint(buf, STRATA__V1__ENVELOPE__BODY_FEED_REPLY << 3 | 2);
    n += fz_put_varint(buf + n, size);
    memcpy(buf + n, data, size);
    n += size;
    strata_env *reply = NULL;
    struct strata_err e = {0};
    int rc = client_decode_reply(buf, n, &reply, &e);
    free(buf);
    /* cs_feed.c feed_reply */
    if (rc == 0 && reply->status == 0 &&
        reply->body_case == STRATA__V1__ENVELOPE__BODY_FEED_REPLY) {
        setup();
        cs_feed_apply(&cs, reply->feed_reply);
        if (cs.feed_index < FZ_BASE_INDEX || cs_cache_count(cs.cache) > FZ_CACHE_MAX) {
            fprintf(stderr, "feed index %llu, %zu cached keys\n", (unsigned long long)cs.feed_index,
                    cs_cache_count(cs.cache));
            abort();
        }
        teardown();
    }
    strata_msg_free(reply);
    return 0;
}

/* ---- seeds */

static void seed(const char *dir, const char *name, const Strata__V1__FeedReply *fr)
{
    size_t n = strata__v1__feed_reply__get_packed_size(fr);
    uint8_t *b = malloc(n + 1);
    strata__v1__feed_reply__pack(fr, b);
    fz_write_seed(dir, name, b, n);
    free(b);
}

static void write_seeds(const char *dir)
{
    ProtobufCBinaryData ips[2] = {{4, IP8}, {16, IP6X}};
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    ep.vni = 100;
    ep.mac.data = (uint8_t *)MACX;
    ep.mac.len = 6;
    ep.ips = ips;
    ep.n_ips = 2;
    ep.host = "h4";
    ep.vtep.data = VTEP4;
    ep.vtep.len = 4;
    ep.version = 10;
    Strata__V1__Change c[6], *cp[6];
    for (int i = 0; i < 6; i++) {
        strata__v1__change__init(&c[i]);
        c[i].index = 10 + (uint64_t)i;
        cp[i] = &c[i];
    }
    Strata__V1__FeedReply fr = STRATA__V1__FEED_REPLY__INIT;
    fr.changes = cp;
    fr.applied_index = 20;

    c[0].kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    c[0].endpoint = &ep;
    fr.n_changes = 1;
    seed(dir, "endpoint-move", &fr);
    c[0].deleted = true;
    seed(dir, "endpoint-delete", &fr);
    c[0].deleted = false;

    uint8_t fl[2][4] = {{192, 168, 0, 3}, {192, 168, 0, 9}};
    ProtobufCBinaryData flood[2] = {{4, fl[0]}, {4, fl[1]}};
    Strata__V1__Vnet vn = STRATA__V1__VNET__INIT;
    vn.vni = 100;
    vn.domain = "acme";
    vn.name = "web";
    c[1].kind = STRATA__V1__OBJ_KIND__OBJ_VNET;
    c[1].vnet = &vn;
    c[1].flood_vteps = flood;
    c[1].n_flood_vteps = 2;
    Strata__V1__Policy pol = STRATA__V1__POLICY__INIT;
    pol.domain = "acme";
    pol.from_vni = 100;
    pol.to_vni = 200;
    c[2].kind = STRATA__V1__OBJ_KIND__OBJ_POLICY;
    c[2].policy = &pol;
    uint8_t net[4] = {10, 1, 0, 0};
    Strata__V1__Subnet sn = STRATA__V1__SUBNET__INIT;
    sn.vni = 100;
    sn.prefix.data = net;
    sn.prefix.len = 4;
    sn.plen = 24;
    c[3].kind = STRATA__V1__OBJ_KIND__OBJ_SUBNET;
    c[3].subnet = &sn;
    uint32_t gvnis[1] = {100};
    Strata__V1__Gateway gw = STRATA__V1__GATEWAY__INIT;
    gw.id = "gw1";
    gw.vtep.data = VTEP3;
    gw.vtep.len = 4;
    gw.vnis = gvnis;
    gw.n_vnis = 1;
    c[4].kind = STRATA__V1__OBJ_KIND__OBJ_GATEWAY;
    c[4].gateway = &gw;
    Strata__V1__Endpoint ep2 = ep;
    ep2.n_ips = 1;
    ep2.ips = &ips[1];
    ep2.version = 0;
    c[5].kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    c[5].endpoint = &ep2;
    c[5].deleted = false;
    fr.n_changes = 6;
    seed(dir, "mixed", &fr);
    fr.changes = &cp[1];
    fr.n_changes = 1;
    seed(dir, "flood", &fr);

    Strata__V1__FeedReply gap = STRATA__V1__FEED_REPLY__INIT;
    gap.gap = true;
    gap.oldest_index = 100;
    gap.applied_index = 500;
    seed(dir, "gap", &gap);
    Strata__V1__FeedReply empty = STRATA__V1__FEED_REPLY__INIT;
    empty.applied_index = 7;
    seed(dir, "empty", &empty);
}

static void fz_free(void)
{
    uv_loop_close(&uv);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FZ_WRITE_CORPUS");
    if (dir != NULL) {
        write_seeds(dir);
        exit(0);
    }
    strata_log_init("fuzz_feed", STRATA_LOG_ERROR); /* a gap is logged as a warning */
    uv_loop_init(&uv);
    atexit(fz_free);
    return 0;
}
