/* test_cs_wait.c - convergence waits without sockets: a change bracketed by the feed records
 * exactly the sessions it was pushed to; a wait on its index is over only once each of them
 * acknowledged the update's seq; an index the feed has not reached, or one pushed out of the
 * ring, says so; the convergence histogram counts a change once its last holder acknowledged
 * it, and never one a resync dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cs.h"

static uv_loop_t uv;
static struct cs cs;

static int setup(void **state)
{
    (void)state;
    memset(&cs, 0, sizeof(cs));
    uv_loop_init(&uv);
    cs.uv = &uv;
    cs.id = "cs-test";
    cs.cache = cs_cache_new(100);
    assert_non_null(cs.cache);
    assert_int_equal(cs_agents_new(&cs, &cs.agents), 0);
    assert_int_equal(cs_wait_new(&cs), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cs_wait_close(&cs);
    cs_agents_close(cs.agents);
    uv_run(&uv, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&uv), 0);
    cs_agents_free(cs.agents);
    cs_wait_free(&cs);
    cs_cache_free(cs.cache);
    return 0;
}

static struct cs_session *sess(const char *name)
{
    struct cs_session *s = cs_agents_get(cs.agents, name);
    assert_non_null(s);
    return s;
}

/* The feed applies a change at `index` that moves one endpoint, pushed to sessions s[0..n). */
static void feed_change(uint64_t index, struct cs_session **s, size_t n)
{
    static const uint8_t mac[6] = {2, 0, 0, 0, 0, 7}, vtep[4] = {192, 0, 2, 9};
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    ep.vni = 100;
    ep.mac.data = (uint8_t *)mac;
    ep.mac.len = 6;
    ep.vtep.data = (uint8_t *)vtep;
    ep.vtep.len = 4;
    ep.host = "h9";
    ep.version = index;
    struct cs_key k;
    cs_key_mac(100, mac, &k);
    struct cs_payload *p = cs_payload_endpoint(&ep, strata_wall_us());
    assert_non_null(p);
    cs_wait_change_begin(&cs, index, strata_wall_us());
    for (size_t i = 0; i < n; i++) {
        cs_agents_push(cs.agents, s[i]->id, CS_UPD_ENDPOINT, &k, p);
        cs_agents_push(cs.agents, s[i]->id, CS_UPD_ENDPOINT, &k, p); /* a second key */
    }
    cs_wait_change_end(&cs);
    cs_payload_unref(p);
    if (index > cs.feed_index)
        cs.feed_index = index;
}

struct status {
    bool done;
    Strata__V1__WaitAppliedReply r;
    Strata__V1__WaitHolder *hs, **hps;
};

static struct status status(uint64_t index)
{
    struct status st;
    strata__v1__wait_applied_reply__init(&st.r);
    st.done = cs_wait_status(&cs, index, &st.r, &st.hs, &st.hps);
    return st;
}

static void status_free(struct status *st)
{
    free(st->hs);
    free(st->hps);
}

static const Strata__V1__WaitHolder *holder(const struct status *st, const char *host)
{
    for (size_t i = 0; i < st->r.n_holders; i++)
        if (strcmp(st->r.holders[i]->host, host) == 0)
            return st->r.holders[i];
    return NULL;
}

static void test_wait_is_over_when_every_holder_acknowledged(void **state)
{
    (void)state;
    struct cs_session *s[3] = {sess("h1"), sess("h2"), sess("h3")};
    /* Change 4 went to h3 alone: a wait on 5 does not involve it. */
    struct cs_session *pre[1] = {s[2]};
    feed_change(4, pre, 1);
    uint64_t converged = cs.ctr.converge[CS_CONVERGE_ENDPOINT].count;
    feed_change(5, s, 2); /* h1 and h2 hold the key; h3 does not */

    struct status st = status(5);
    assert_false(st.done);
    assert_true(st.r.seen);
    assert_true(st.r.known);
    assert_int_equal(st.r.n_holders, 2); /* one line per session, not per key */
    assert_false(holder(&st, "h1")->applied);
    assert_int_equal(holder(&st, "h1")->seq, 2); /* the second key's update */
    assert_null(holder(&st, "h3"));
    status_free(&st);

    cs_agents_ack(cs.agents, s[0], 1); /* only the first of its two updates */
    st = status(5);
    assert_false(st.done);
    assert_false(holder(&st, "h1")->applied);
    status_free(&st);

    cs_agents_ack(cs.agents, s[0], 2);
    st = status(5);
    assert_false(st.done);
    assert_true(holder(&st, "h1")->applied);
    assert_false(holder(&st, "h2")->applied);
    status_free(&st);
    assert_int_equal(cs.ctr.converge[CS_CONVERGE_ENDPOINT].count, converged);

    cs_agents_ack(cs.agents, s[1], 2);
    st = status(5);
    assert_true(st.done);
    assert_true(holder(&st, "h2")->applied);
    status_free(&st);
    /* Measured once, when its last holder let go of it. */
    assert_int_equal(cs.ctr.converge[CS_CONVERGE_ENDPOINT].count, converged + 1);
}

static void test_unseen_unknown_and_unheld(void **state)
{
    (void)state;
    struct status st = status(cs.feed_index + 1);
    assert_false(st.done);
    assert_false(st.r.seen);
    status_free(&st);
    /* An index the feed passed with no change recorded: nobody held anything. */
    cs.feed_index += 10;
    st = status(cs.feed_index - 1);
    assert_true(st.done);
    assert_true(st.r.known);
    assert_int_equal(st.r.n_holders, 0);
    status_free(&st);
    /* Pushed out of the ring of recent changes: too old to tell. */
    uint64_t old = cs.feed_index + 1;
    struct cs_session *s[1] = {sess("h1")};
    feed_change(old, s, 1);
    for (uint64_t i = 1; i <= 4096; i++)
        feed_change(old + i, NULL, 0);
    st = status(old);
    assert_true(st.done);
    assert_false(st.r.known);
    status_free(&st);
}

static void test_a_resync_drops_and_is_not_measured(void **state)
{
    (void)state;
    struct cs_session *s[2] = {sess("r1"), sess("r2")};
    uint64_t converged = cs.ctr.converge[CS_CONVERGE_ENDPOINT].count;
    uint64_t index = cs.feed_index + 1;
    feed_change(index, s, 2);
    struct status st = status(index);
    uint64_t seq1 = holder(&st, "r1")->seq;
    status_free(&st);
    cs_agents_ack(cs.agents, s[0], seq1);
    cs_agents_resync(cs.agents, s[1]); /* its queue is dropped unacknowledged */
    st = status(index);
    assert_false(st.done); /* r2 never acknowledged: it is still named */
    assert_false(holder(&st, "r2")->applied);
    status_free(&st);
    assert_int_equal(cs.ctr.converge[CS_CONVERGE_ENDPOINT].count, converged);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wait_is_over_when_every_holder_acknowledged),
        cmocka_unit_test(test_unseen_unknown_and_unheld),
        cmocka_unit_test(test_a_resync_drops_and_is_not_measured),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
