/* test_cs_agents.c - agent sessions are bounded and end: distinct names beyond --session-max are
 * refused (EBUSY, counted) while existing sessions keep working; idle sessions are freed with
 * their interest records, so a reused id never inherits another session's keys; churning names
 * keeps ids and memory bounded (run under ASan for leaks). No sockets: a loop, a cache and
 * sessions, and the sweep called with the time it would run at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cs.h"

#define SESS_MAX 1000
#define IDLE_S 1

static uv_loop_t uv;
static struct cs cs;

static int setup(void **state)
{
    (void)state;
    memset(&cs, 0, sizeof(cs));
    uv_loop_init(&uv);
    cs.uv = &uv;
    cs.id = "cs-test";
    cs.session_idle_s = IDLE_S;
    cs.session_max = SESS_MAX;
    cs.cache = cs_cache_new(100);
    assert_non_null(cs.cache);
    assert_int_equal(cs_agents_new(&cs, &cs.agents), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cs_agents_close(cs.agents);
    uv_run(&uv, UV_RUN_NOWAIT); /* frees ended sessions (their timers' close callbacks) */
    assert_int_equal(uv_loop_close(&uv), 0);
    cs_agents_free(cs.agents);
    cs_cache_free(cs.cache);
    return 0;
}

static struct cs_session *open_name(const char *fmt, int i, int *rc)
{
    char name[64];
    snprintf(name, sizeof(name), fmt, i);
    struct cs_session *s = NULL;
    struct strata_err e = {0};
    *rc = cs_agents_open(cs.agents, name, &s, &e);
    if (*rc == STRATA_EBUSY)
        assert_non_null(strstr(e.msg, "maximum"));
    return s;
}

/* A cached key every session below is a holder of. */
static struct cs_entry *shared_entry(void)
{
    static const uint8_t ip[4] = {10, 1, 0, 7}, mac[6] = {2, 0, 0, 0, 0, 7};
    struct cs_key k;
    cs_key_ip(100, ip, 4, &k);
    struct cs_value v = {.found = true, .version = 1, .host = "h3", .vtep_len = 4};
    memcpy(v.mac, mac, 6);
    struct cs_entry *e = NULL;
    assert_true(cs_cache_put(cs.cache, &k, &v, strata_now_ms(), &e) >= 0);
    return e;
}

static void test_names_beyond_the_cap_are_refused(void **state)
{
    (void)state;
    int rc;
    struct cs_session *first = open_name("good%d", 0, &rc);
    assert_int_equal(rc, 0);
    for (int i = 1; i < SESS_MAX; i++) {
        assert_non_null(open_name("attacker%d", i, &rc));
        assert_int_equal(rc, 0);
    }
    assert_int_equal(cs_agents_count(cs.agents), SESS_MAX);
    for (int i = 0; i < 10; i++) {
        assert_null(open_name("late%d", i, &rc));
        assert_int_equal(rc, STRATA_EBUSY);
    }
    assert_int_equal(cs.ctr.sessions_refused, 10);
    assert_int_equal(cs_agents_count(cs.agents), SESS_MAX);
    /* an existing session keeps working: the same session, epoch unchanged */
    uint64_t epoch = first->epoch;
    assert_ptr_equal(open_name("good%d", 0, &rc), first);
    assert_int_equal(rc, 0);
    assert_int_equal(first->epoch, epoch);
}

static void test_idle_sessions_end_with_their_interest(void **state)
{
    (void)state;
    struct cs_entry *e = shared_entry();
    int rc;
    uint64_t first_ms = strata_now_ms(); /* no attacker was active before this */
    uint32_t ids[SESS_MAX - 1];
    uint64_t epochs[SESS_MAX - 1];
    for (int i = 0; i < SESS_MAX - 1; i++) {
        struct cs_session *s = open_name("attacker%d", i, &rc);
        assert_non_null(s);
        ids[i] = s->id;
        epochs[i] = s->epoch;
        assert_int_equal(cs_iset_add(&s->vnis, 100 + (uint32_t)i), 1);
        cs_cache_holder_add(cs.cache, e, s->id);
    }
    uint64_t attacked_ms = strata_now_ms(); /* no attacker was active after this */
    while (strata_now_ms() < attacked_ms + 50)
        ; /* the good agent's request comes measurably later */
    struct cs_session *good = open_name("good%d", 0, &rc);
    assert_non_null(good);
    cs_cache_holder_add(cs.cache, e, good->id);
    assert_int_equal(cs_iset_count(&e->holders), SESS_MAX);

    /* not idle long enough yet: nothing ends */
    assert_int_equal(cs_agents_expire(cs.agents, first_ms + IDLE_S * 1000 - 1), 0);
    assert_int_equal(cs_agents_count(cs.agents), SESS_MAX);

    /* every attacker has been idle IDLE_S, the good agent has not */
    assert_int_equal(cs_agents_expire(cs.agents, attacked_ms + IDLE_S * 1000), SESS_MAX - 1);
    assert_int_equal(cs_agents_count(cs.agents), 1);
    assert_int_equal(cs.ctr.sessions_expired, SESS_MAX - 1);
    assert_int_equal(cs.ctr.sessions, 1);
    assert_ptr_equal(cs_agents_find(cs.agents, "good0"), good);
    assert_null(cs_agents_find(cs.agents, "attacker0"));
    assert_int_equal(cs_iset_count(&e->holders), 1);
    assert_int_equal(cs_iset_ids(&e->holders)[0], good->id);
    for (int i = 0; i < SESS_MAX - 1; i++)
        assert_null(cs_agents_lookup(cs.agents, ids[i], epochs[i]));
    assert_ptr_equal(cs_agents_lookup(cs.agents, good->id, good->epoch), good);

    /* Names are accepted again; a reused id starts clean: a new epoch, no VNs, holds nothing. */
    struct cs_session *back = open_name("attacker%d", 0, &rc);
    assert_non_null(back);
    assert_true(back->epoch > epochs[SESS_MAX - 2]);
    assert_int_equal(cs_iset_count(&back->vnis), 0);
    assert_false(cs_iset_has(&e->holders, back->id));
    assert_null(cs_agents_lookup(cs.agents, back->id, epochs[0]));

    /* an update for an ended id goes nowhere */
    struct cs_payload *p = cs_payload_entry(&cs, e, 1);
    for (int i = 0; i < SESS_MAX - 1; i++)
        cs_agents_push(cs.agents, ids[i] == back->id ? UINT32_MAX : ids[i], CS_UPD_ENDPOINT, NULL,
                       p);
    cs_payload_unref(p);
    assert_int_equal(cs.ctr.updates_pushed, 0);
}

/* Names churning through a capped server reuse ids: memory follows the cap, not the number of
 * names ever seen (ASan's leak check covers what ended). */
static void test_churn_stays_bounded(void **state)
{
    (void)state;
    struct cs_entry *e = shared_entry();
    int rc;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < SESS_MAX; i++) {
            char fmt[32];
            snprintf(fmt, sizeof(fmt), "r%d-%%d", round);
            struct cs_session *s = open_name(fmt, i, &rc);
            assert_non_null(s);
            assert_true(s->id < SESS_MAX);
            cs_cache_holder_add(cs.cache, e, s->id);
        }
        assert_int_equal(cs_agents_expire(cs.agents, strata_now_ms() + IDLE_S * 1000), SESS_MAX);
        assert_int_equal(cs_iset_count(&e->holders), 0);
        uv_run(&uv, UV_RUN_NOWAIT);
    }
    assert_int_equal(cs.ctr.sessions_expired, 20 * SESS_MAX);
    assert_int_equal(cs.ctr.sessions_refused, 0);
    assert_int_equal(cs_agents_count(cs.agents), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_names_beyond_the_cap_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_sessions_end_with_their_interest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_churn_stays_bounded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
