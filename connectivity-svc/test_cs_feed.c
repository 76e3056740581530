/* test_cs_feed.c - applying the directory's change feed to the cache and the agents' queues:
 * moves update holders only, an IP leaving an endpoint invalidates its key, a negative answer
 * turning positive is pushed, old changes are ignored, deletes invalidate, flood lists reach the
 * VN's hosts, a gap flushes everything, a feed that stops making progress is declared stalled
 * and flushes what it cannot prove current. No sockets: a loop, a cache and sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cs.h"

static const uint8_t MACX[6] = {0x02, 0, 0, 0, 0, 0x0a};
static uint8_t IP7[4] = {10, 1, 0, 7}, IP8[4] = {10, 1, 0, 8};
static uint8_t VTEP3[4] = {192, 168, 0, 3}, VTEP4[4] = {192, 168, 0, 4};

static uv_loop_t uv;
static struct cs cs;
static struct cs_session *s1, *s2;

static int setup(void **state)
{
    (void)state;
    memset(&cs, 0, sizeof(cs));
    uv_loop_init(&uv);
    cs.uv = &uv;
    cs.negative_ttl_ms = 1000;
    cs.cache = cs_cache_new(100);
    assert_int_equal(cs_agents_new(&cs, &cs.agents), 0);
    s1 = cs_agents_get(cs.agents, "h1");
    s2 = cs_agents_get(cs.agents, "h2");
    assert_non_null(s1);
    assert_non_null(s2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cs_agents_close(cs.agents);
    uv_run(&uv, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&uv), 0);
    cs_agents_free(cs.agents);
    cs_cache_free(cs.cache);
    return 0;
}

static struct cs_entry *put(const uint8_t *ip, bool found, uint64_t version, uint32_t holder)
{
    struct cs_key k;
    if (ip)
        cs_key_ip(100, ip, 4, &k);
    else
        cs_key_mac(100, MACX, &k);
    struct cs_value v = {.found = found, .version = version, .host = "h3"};
    if (found) {
        memcpy(v.mac, MACX, 6);
        v.vtep_len = 4;
        memcpy(v.vtep, VTEP3, 4);
    } else {
        v.expire_ms = strata_now_ms() + 100000;
    }
    struct cs_entry *e;
    assert_int_equal(cs_cache_put(cs.cache, &k, &v, strata_now_ms(), &e), CS_PUT_STORED);
    cs_cache_holder_add(cs.cache, e, holder);
    return e;
}

static struct cs_entry *find(const uint8_t *ip)
{
    struct cs_key k;
    if (ip)
        cs_key_ip(100, ip, 4, &k);
    else
        cs_key_mac(100, MACX, &k);
    return cs_cache_find(cs.cache, &k);
}

/* One endpoint change of MAC X at index with the given IPs and VTEP. */
static void feed_endpoint(uint64_t index, uint8_t *ip, uint8_t *vtep, bool deleted)
{
    ProtobufCBinaryData ips[1] = {{4, ip}};
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    ep.vni = 100;
    ep.mac.data = (uint8_t *)MACX;
    ep.mac.len = 6;
    ep.ips = ips;
    ep.n_ips = 1;
    ep.host = (char *)"h4";
    ep.vtep.data = vtep;
    ep.vtep.len = 4;
    ep.version = index;
    Strata__V1__Change chg = STRATA__V1__CHANGE__INIT, *cp = &chg;
    chg.index = index;
    chg.kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    chg.deleted = deleted;
    chg.endpoint = &ep;
    Strata__V1__FeedReply fr = STRATA__V1__FEED_REPLY__INIT;
    fr.changes = &cp;
    fr.n_changes = 1;
    fr.applied_index = index;
    cs_feed_apply(&cs, &fr);
}

static void test_targeted_updates(void **state)
{
    (void)state;
    cs.feed_index = 5;
    put(IP7, true, 5, s1->id);  /* h1 holds ip 10.1.0.7 -> X */
    put(NULL, true, 5, s1->id); /* h1 and h2 hold mac X */
    cs_cache_holder_add(cs.cache, find(NULL), s2->id);
    put(IP8, false, 6, s2->id); /* h2 was told 10.1.0.8 does not exist */

    /* X moves to h4 */
    feed_endpoint(10, IP7, VTEP4, false);
    assert_int_equal(cs.feed_index, 10);
    struct cs_entry *e = find(IP7);
    assert_non_null(e);
    assert_int_equal(e->version, 10);
    assert_memory_equal(e->vtep, VTEP4, 4);
    assert_memory_equal(find(NULL)->vtep, VTEP4, 4);
    assert_int_equal(cs.ctr.updates_pushed, 3); /* h1: ip + mac, h2: mac */
    assert_int_equal(cs.ctr.invalidations_pushed, 0);
    assert_false(find(IP8)->found);

    /* a change older than what the cache saw changes nothing */
    feed_endpoint(9, IP8, VTEP3, false);
    assert_int_equal(cs.ctr.updates_pushed, 3);
    assert_false(find(IP8)->found);

    /* X now answers for 10.1.0.8 instead of 10.1.0.7 */
    feed_endpoint(11, IP8, VTEP4, false);
    assert_null(find(IP7));                           /* h1's key dropped ... */
    assert_int_equal(cs.ctr.invalidations_pushed, 1); /* ... and h1 told */
    e = find(IP8);
    assert_true(e->found); /* negative turned positive */
    assert_int_equal(e->version, 11);
    assert_int_equal(cs.ctr.updates_pushed, 3 + 2 + 1); /* mac: h1, h2; ip8: h2 */

    /* X deleted: every key it answered goes, their holders told */
    feed_endpoint(12, IP8, VTEP4, true);
    assert_null(find(IP8));
    assert_null(find(NULL));
    assert_int_equal(cs.ctr.invalidations_pushed, 1 + 1 + 2);
    assert_int_equal(cs_cache_count(cs.cache), 0);
}

static void test_flood_policy_gap(void **state)
{
    (void)state;
    cs_iset_add(&s1->vnis, 100);
    uint8_t v[2][4] = {{192, 168, 0, 3}, {192, 168, 0, 4}};
    ProtobufCBinaryData fl[2] = {{4, v[0]}, {4, v[1]}};
    Strata__V1__Vnet vn = STRATA__V1__VNET__INIT;
    vn.vni = 100;
    Strata__V1__Change chg = STRATA__V1__CHANGE__INIT, *cp = &chg;
    chg.index = 20;
    chg.kind = STRATA__V1__OBJ_KIND__OBJ_VNET;
    chg.vnet = &vn;
    chg.flood_vteps = fl;
    chg.n_flood_vteps = 2;
    Strata__V1__FeedReply fr = STRATA__V1__FEED_REPLY__INIT;
    fr.changes = &cp;
    fr.n_changes = 1;
    fr.applied_index = 20;
    uint64_t floods = cs.ctr.floods_pushed;
    cs_feed_apply(&cs, &fr);
    assert_int_equal(cs.ctr.floods_pushed, floods + 1); /* h1 only: h2 has no port in VN 100 */

    /* a policy change forgets inter-VN verdicts */
    cs_verdict_put(cs.cache, 100, 200, STRATA__V1__VERDICT__VERDICT_ALLOW);
    Strata__V1__Policy pol = STRATA__V1__POLICY__INIT;
    strata__v1__change__init(&chg);
    chg.index = 21;
    chg.kind = STRATA__V1__OBJ_KIND__OBJ_POLICY;
    chg.policy = &pol;
    fr.applied_index = 21;
    cs_feed_apply(&cs, &fr);
    assert_int_equal(cs_verdict_get(cs.cache, 100, 200), -1);

    /* a gap: the cache is flushed and every session must resynchronise */
    put(IP7, true, 21, s1->id);
    Strata__V1__FeedReply gap = STRATA__V1__FEED_REPLY__INIT;
    gap.gap = true;
    gap.applied_index = 500;
    uint64_t resyncs = cs.ctr.resyncs_pushed;
    cs_feed_apply(&cs, &gap);
    assert_int_equal(cs_cache_count(cs.cache), 0);
    assert_int_equal(cs.ctr.feed_gaps, 1);
    assert_int_equal(cs.feed_index, 500);
    assert_int_equal(cs.ctr.resyncs_pushed, resyncs + 2);
}

/* The LRU drops a held key: its holder is told. A session that falls too far behind is asked
 * to resynchronise instead of queueing without bound. */
static void test_eviction_and_overflow(void **state)
{
    (void)state;
    struct cs_cache *big = cs.cache;
    cs.cache = cs_cache_new(2);
    cs_cache_on_evict(cs.cache, cs_feed_evicted, &cs);
    /* fresh sessions: the gap above asked h1 and h2 to resynchronise, so they get no updates */
    struct cs_session *s3 = cs_agents_get(cs.agents, "h3"), *s4 = cs_agents_get(cs.agents, "h4");
    uint64_t inv = cs.ctr.invalidations_pushed;
    put(IP7, true, 30, s3->id);
    put(IP8, true, 30, s4->id);
    put(NULL, true, 30, s3->id); /* evicts ip 10.1.0.7 */
    assert_null(find(IP7));
    assert_int_equal(cs.ctr.invalidations_pushed, inv + 1);
    cs_cache_free(cs.cache);
    cs.cache = big;

    struct cs_payload *p = cs_payload_flood(100, NULL, 0, 1);
    uint64_t resyncs = cs.ctr.resyncs_pushed;
    struct cs_key k;
    cs_key_ip(100, IP7, 4, &k);
    for (int i = 0; i < 5000; i++)
        cs_agents_push(cs.agents, s4->id, CS_UPD_ENDPOINT, &k, p);
    assert_int_equal(cs.ctr.resyncs_pushed, resyncs + 1);
    cs_payload_unref(p);
}

/* A feed that keeps failing is declared stalled only after CS_FEED_STALL_ATTEMPTS failures
 * spanning CS_FEED_STALL_MS; then the cache is flushed (the feed index kept: it resumes there),
 * and what is cached while it stays stalled is dropped at the next failure, its holders told.
 * A reply applied ends the stall; a later run of failures is a new one. */
static void test_stall(void **state)
{
    (void)state;
    struct cs_feed_stall st = {0};
    uint64_t index = cs.feed_index;
    put(IP7, true, 40, s1->id);
    cs_feed_failed(&cs, &st, 1000, "timed out");
    cs_feed_failed(&cs, &st, 2000, "timed out");
    cs_feed_failed(&cs, &st, 3999, "timed out"); /* enough attempts, not yet long enough */
    assert_false(st.stalled);
    assert_non_null(find(IP7));
    assert_int_equal(cs.ctr.feed_stalls, 0);
    cs_feed_failed(&cs, &st, 4000, "timed out");
    assert_true(st.stalled);
    assert_null(find(IP7));
    assert_int_equal(cs_cache_count(cs.cache), 0);
    assert_int_equal(cs.ctr.feed_stalls, 1);
    assert_int_equal(cs.ctr.feed_stalled, 1);
    assert_int_equal(cs.feed_index, index);

    struct cs_session *s5 = cs_agents_get(cs.agents, "h5"); /* not asked to resync */
    put(IP8, true, 41, s5->id);
    uint64_t inv = cs.ctr.invalidations_pushed;
    cs_feed_failed(&cs, &st, 5000, "timed out");
    assert_null(find(IP8));
    assert_int_equal(cs.ctr.invalidations_pushed, inv + 1);
    assert_int_equal(cs.ctr.feed_stalls, 1);

    cs_feed_progressed(&cs, &st, 6000);
    assert_false(st.stalled);
    assert_int_equal(cs.ctr.feed_stalled, 0);
    cs_feed_failed(&cs, &st, 7000, "EUNAVAIL");
    cs_feed_failed(&cs, &st, 8000, "EUNAVAIL");
    cs_feed_progressed(&cs, &st, 8500); /* progress resets the count */
    cs_feed_failed(&cs, &st, 9000, "EUNAVAIL");
    cs_feed_failed(&cs, &st, 12000, "EUNAVAIL");
    assert_false(st.stalled);
    cs_feed_failed(&cs, &st, 12001, "EUNAVAIL");
    assert_true(st.stalled);
    assert_int_equal(cs.ctr.feed_stalls, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_targeted_updates),
        cmocka_unit_test(test_flood_policy_gap),
        cmocka_unit_test(test_eviction_and_overflow),
        cmocka_unit_test(test_stall),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
