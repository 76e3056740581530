/* test_trace_verdict.c - every verdict of `strata trace` from hand-made tier answers, and the
 * order in which tiers are judged (the first disagreement is the one named). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "trace_verdict.h"

static const uint8_t MAC_B[6] = {2, 0, 0, 0, 1, 6};
static const uint8_t MAC_X[6] = {2, 0, 0, 0, 9, 9};

static struct strata_ip ip(const char *s)
{
    struct strata_ip a;
    struct strata_err e;
    assert_int_equal(strata_ip_parse(s, &a, &e), 0);
    return a;
}

/* A tier that holds the destination exactly as the directory has it. */
static struct trace_held held(uint64_t version)
{
    struct trace_held h = {.answered = true, .present = true, .has_mac = true, .has_vtep = true};
    memcpy(h.mac, MAC_B, 6);
    h.vtep = ip("192.0.2.2");
    h.version = version;
    return h;
}

/* A healthy same-VN flow: h1 -> 10.1.0.6 on h2 (VTEP 192.0.2.2), version 9 everywhere. */
static struct trace_facts same_vn(void)
{
    struct trace_facts f = {.dst = "10.1.0.6", .src_vni = 100, .src_host = "h1"};
    f.has_src_vtep = true;
    f.src_vtep = ip("192.0.2.1");
    f.dir_answered = true;
    f.key =
        (struct trace_dir_ep){.found = true, .vtep = ip("192.0.2.2"), .host = "h2", .version = 9};
    memcpy(f.key.mac, MAC_B, 6);
    f.kernel = held(0);
    f.agent = held(9);
    f.cs = held(9);
    return f;
}

/* A healthy routed flow: VN 100 -> 10.2.0.7 in VN 200 through gw1 (VTEP 192.0.2.3). */
static struct trace_facts routed(void)
{
    struct trace_facts f = same_vn();
    f.dst = "10.2.0.7";
    f.routed = true;
    f.domain = "acme";
    f.dst_vni = 200;
    f.gw_addr = "10.1.0.1";
    f.gateway = "gw1";
    f.gateway_live = true;
    f.key.vtep = ip("192.0.2.3");
    f.key.host = "gw1";
    f.kernel.vtep = f.agent.vtep = f.cs.vtep = ip("192.0.2.3");
    f.policy_found = true;
    f.policy_allow = true;
    f.policy_version = 7;
    f.dst_ep =
        (struct trace_dir_ep){.found = true, .vtep = ip("192.0.2.2"), .host = "h2", .version = 11};
    memcpy(f.dst_ep.mac, MAC_B, 6);
    f.gw_kernel = held(0);
    return f;
}

#define ASSERT_OUTCOME(f, v, needle)                                                               \
    do {                                                                                           \
        struct trace_outcome o_;                                                                   \
        trace_decide(&(f), &o_);                                                                   \
        if (o_.verdict != (v) || strstr(o_.conclusion, (needle)) == NULL)                          \
            fail_msg("got %s: \"%s\"; want %s with \"%s\"", trace_verdict_name(o_.verdict),        \
                     o_.conclusion, trace_verdict_name(v), (needle));                              \
    } while (0)

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(trace_verdict_name(TRACE_DELIVERED), "delivered");
    assert_string_equal(trace_verdict_name(TRACE_DENIED), "denied");
    assert_string_equal(trace_verdict_name(TRACE_UNKNOWN_DESTINATION), "unknown-destination");
    assert_string_equal(trace_verdict_name(TRACE_STALE), "stale");
    assert_string_equal(trace_verdict_name(TRACE_NO_GATEWAY), "no-gateway");
    assert_string_equal(trace_verdict_name(TRACE_UNREACHABLE), "unreachable");
}

static void test_delivered(void **state)
{
    (void)state;
    struct trace_facts f = same_vn();
    ASSERT_OUTCOME(f, TRACE_DELIVERED, "VTEP 192.0.2.2 (host h2), version 9");
    /* Tiers that hold nothing yet are no fault: the next miss resolves them. */
    f.kernel.present = f.agent.present = f.cs.present = false;
    ASSERT_OUTCOME(f, TRACE_DELIVERED, "every tier agrees");
    /* A local destination: a neighbour entry without FDB entry is right. */
    f = same_vn();
    f.key.vtep = f.src_vtep;
    f.kernel.has_vtep = false;
    f.agent.vtep = f.cs.vtep = f.src_vtep;
    ASSERT_OUTCOME(f, TRACE_DELIVERED, "every tier agrees");
    /* The connectivity server not answering does not judge the flow. */
    f = same_vn();
    f.cs = (struct trace_held){.error = "timed out"};
    ASSERT_OUTCOME(f, TRACE_DELIVERED, "every tier agrees");
}

static void test_delivered_routed(void **state)
{
    (void)state;
    struct trace_facts f = routed();
    ASSERT_OUTCOME(f, TRACE_DELIVERED, "through gateway gw1, allowed by acme 100->200 allow");
    f.gw_kernel = (struct trace_held){.error = "no socket"};
    ASSERT_OUTCOME(f, TRACE_DELIVERED, "the gateway's kernel was not checked");
}

static void test_stale(void **state)
{
    (void)state;
    struct trace_facts f = same_vn();
    f.kernel.vtep = ip("192.0.2.99");
    ASSERT_OUTCOME(f, TRACE_STALE,
                   "h1's kernel sends 10.1.0.6 to VTEP 192.0.2.99, the directory "
                   "says VTEP 192.0.2.2");
    f = same_vn();
    memcpy(f.kernel.mac, MAC_X, 6);
    ASSERT_OUTCOME(f, TRACE_STALE, "h1's kernel holds 10.1.0.6 at MAC 02:00:00:00:09:09");
    f = same_vn();
    f.kernel.has_vtep = false;
    ASSERT_OUTCOME(f, TRACE_STALE, "no FDB entry");
    f = same_vn();
    f.agent.version = 8;
    ASSERT_OUTCOME(f, TRACE_STALE,
                   "h1's agent holds 10.1.0.6 at version 8, the directory has "
                   "version 9");
    f = same_vn();
    f.cs.version = 3;
    ASSERT_OUTCOME(f, TRACE_STALE, "the connectivity server holds 10.1.0.6 at version 3");
    /* A negative answer held while the directory has the address. */
    f = same_vn();
    f.agent = (struct trace_held){.answered = true, .negative = true, .version = 4};
    ASSERT_OUTCOME(f, TRACE_STALE, "h1's agent holds a negative answer for 10.1.0.6 (version 4)");
    f = same_vn();
    f.cs = (struct trace_held){.answered = true, .negative = true, .version = 5};
    ASSERT_OUTCOME(f, TRACE_STALE, "the connectivity server holds a negative answer");
    /* The connectivity server's cached VTEP, not only its version. */
    f = same_vn();
    f.cs.vtep = ip("192.0.2.77");
    ASSERT_OUTCOME(f, TRACE_STALE, "the connectivity server sends 10.1.0.6 to VTEP 192.0.2.77");
    /* The first tier that disagrees is named: the kernel before the agent. */
    f = same_vn();
    f.kernel.vtep = ip("192.0.2.99");
    f.agent.version = 1;
    ASSERT_OUTCOME(f, TRACE_STALE, "h1's kernel");
    /* The gateway's kernel on the destination leg. */
    f = routed();
    f.gw_kernel.vtep = ip("192.0.2.50");
    ASSERT_OUTCOME(f, TRACE_STALE, "gateway gw1's kernel sends 10.2.0.7 to VTEP 192.0.2.50");
    /* The source leg of a routed flow is about the gateway address. */
    f = routed();
    f.kernel.vtep = ip("192.0.2.4");
    ASSERT_OUTCOME(f, TRACE_STALE, "h1's kernel sends 10.1.0.1 to VTEP 192.0.2.4");
}

static void test_denied(void **state)
{
    (void)state;
    struct trace_facts f = routed();
    f.policy_allow = false;
    ASSERT_OUTCOME(f, TRACE_DENIED, "policy acme 100->200 deny (version 7)");
    f.policy_found = false;
    ASSERT_OUTCOME(f, TRACE_DENIED, "policy default deny (no rule acme 100->200)");
    /* Denied before the destination is looked at. */
    f.dst_ep.found = false;
    ASSERT_OUTCOME(f, TRACE_DENIED, "default deny");
}

static void test_unknown_destination(void **state)
{
    (void)state;
    struct trace_facts f = same_vn();
    f.key.found = false;
    f.kernel.present = f.agent.present = f.cs.present = false;
    ASSERT_OUTCOME(f, TRACE_UNKNOWN_DESTINATION, "no endpoint holds 10.1.0.6 in VN 100");
    f = routed();
    f.dst_vni = 0;
    ASSERT_OUTCOME(f, TRACE_UNKNOWN_DESTINATION,
                   "in no subnet of VN 100 nor of any VN of domain "
                   "acme");
    f = routed();
    f.dst_ep.found = false;
    ASSERT_OUTCOME(f, TRACE_UNKNOWN_DESTINATION, "no endpoint holds 10.2.0.7 in VN 200");
}

static void test_no_gateway(void **state)
{
    (void)state;
    struct trace_facts f = routed();
    f.gateway_live = false;
    ASSERT_OUTCOME(f, TRACE_NO_GATEWAY,
                   "gateway gw1 holds 10.1.0.1 but the directory says it is "
                   "not live");
    f = routed();
    f.key.found = false;
    f.gateway = NULL;
    ASSERT_OUTCOME(f, TRACE_NO_GATEWAY, "no gateway holds VN 100's gateway address 10.1.0.1");
    f = routed();
    f.gateway = NULL;
    ASSERT_OUTCOME(f, TRACE_NO_GATEWAY, "is at host gw1, which is no registered gateway");
    f = routed();
    f.gw_addr = NULL;
    ASSERT_OUTCOME(f, TRACE_NO_GATEWAY, "VN 100's subnet has no gateway address");
}

static void test_unreachable(void **state)
{
    (void)state;
    struct trace_facts f = same_vn();
    f.dir_answered = false;
    f.dir_error = "connection refused";
    ASSERT_OUTCOME(f, TRACE_UNREACHABLE, "the directory did not answer: connection refused");
    f = same_vn();
    f.agent = (struct trace_held){.error = "timed out"};
    ASSERT_OUTCOME(f, TRACE_UNREACHABLE, "h1's agent did not answer: timed out");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_delivered),
        cmocka_unit_test(test_delivered_routed),
        cmocka_unit_test(test_stale),
        cmocka_unit_test(test_denied),
        cmocka_unit_test(test_unknown_destination),
        cmocka_unit_test(test_no_gateway),
        cmocka_unit_test(test_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
