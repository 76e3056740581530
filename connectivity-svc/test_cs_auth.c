/* test_cs_auth.c - authorization decisions: identities, own-host registration, forged VTEPs,
 * VN membership, operator-only requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cs.h"

static void test_identify(void **state)
{
    (void)state;
    struct cs_ident id;
    struct strata_err e;
    assert_int_equal(cs_auth_identify("operator", &id, &e), 0);
    assert_int_equal(id.kind, CS_ID_OPERATOR);
    assert_int_equal(cs_auth_identify("host:h1", &id, &e), 0);
    assert_int_equal(id.kind, CS_ID_HOST);
    assert_string_equal(id.name, "h1");
    assert_int_equal(cs_auth_identify("gw:g1", &id, &e), 0);
    assert_int_equal(id.kind, CS_ID_GW);
    assert_int_equal(cs_auth_identify("", &id, &e), STRATA_EDENIED);
    assert_int_equal(cs_auth_identify(NULL, &id, &e), STRATA_EDENIED);
    assert_int_equal(cs_auth_identify("host:", &id, &e), STRATA_EDENIED);
    assert_int_equal(cs_auth_identify("host:a b", &id, &e), STRATA_EDENIED);
    assert_int_equal(cs_auth_identify("root", &id, &e), STRATA_EDENIED);
}

static void test_registration(void **state)
{
    (void)state;
    struct cs_ident h1, op;
    struct strata_err e;
    cs_auth_identify("host:h1", &h1, &e);
    cs_auth_identify("operator", &op, &e);
    Strata__V1__HostRegister hr = STRATA__V1__HOST_REGISTER__INIT;
    hr.host = (char *)"h1";
    assert_int_equal(cs_auth_host_register(&h1, &hr, &e), 0);
    hr.host = (char *)"h2";
    assert_int_equal(cs_auth_host_register(&h1, &hr, &e), STRATA_EDENIED);
    hr.host = (char *)"h1";
    hr.gateway = true;
    assert_int_equal(cs_auth_host_register(&h1, &hr, &e), STRATA_EDENIED);

    struct cs_session s = {0};
    uint8_t v1[4] = {192, 168, 0, 1}, v2[4] = {192, 168, 0, 2};
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    ep.host = (char *)"h1";
    /* before HostRegister: refused */
    assert_int_equal(cs_auth_port_register(&h1, &s, &ep, &e), STRATA_EDENIED);
    s.registered = true;
    s.vtep_len = 4;
    memcpy(s.vtep, v1, 4);
    assert_int_equal(cs_auth_port_register(&h1, &s, &ep, &e), 0);
    ep.vtep.data = v2;
    ep.vtep.len = 4;
    assert_int_equal(cs_auth_port_register(&h1, &s, &ep, &e), STRATA_EDENIED);
    assert_string_equal(e.msg, "host h1 may only register endpoints on its own VTEP");
    ep.vtep.len = 0;
    ep.host = (char *)"h2";
    assert_int_equal(cs_auth_port_register(&h1, &s, &ep, &e), STRATA_EDENIED);
    assert_int_equal(cs_auth_port_register(&op, NULL, &ep, &e), 0);

    Strata__V1__EndpointMove mv = STRATA__V1__ENDPOINT_MOVE__INIT;
    mv.host = (char *)"h1";
    assert_int_equal(cs_auth_port_move(&h1, &s, &mv, &e), 0);
    mv.host = (char *)"h2";
    assert_int_equal(cs_auth_port_move(&h1, &s, &mv, &e), STRATA_EDENIED);
    assert_int_equal(cs_auth_port_unregister(&h1, &s, "h1", &e), 0);
    assert_int_equal(cs_auth_port_unregister(&h1, &s, "h2", &e), STRATA_EDENIED);
}

static void test_vni_and_operator(void **state)
{
    (void)state;
    struct cs_ident h1, g1, op;
    struct strata_err e;
    cs_auth_identify("host:h1", &h1, &e);
    cs_auth_identify("gw:g1", &g1, &e);
    cs_auth_identify("operator", &op, &e);
    struct cs_session s = {0};
    assert_int_equal(cs_auth_vni(&op, NULL, 100, 0, &e), 0);
    assert_int_equal(cs_auth_vni(&h1, &s, 100, 0, &e), CS_AUTH_ASK);
    cs_iset_add(&s.vnis, 100);
    assert_int_equal(cs_auth_vni(&h1, &s, 100, 0, &e), 0);
    s.denied_vni = 200;
    s.denied_until_ms = 10;
    assert_int_equal(cs_auth_vni(&h1, &s, 200, 5, &e), STRATA_EDENIED);
    assert_string_equal(e.msg, "host h1 has no port in VN 200");
    assert_int_equal(cs_auth_vni(&h1, &s, 200, 10, &e), CS_AUTH_ASK);
    assert_int_equal(cs_auth_vni(&g1, &s, 100, 0, &e), 0);
    assert_int_equal(cs_auth_vni(&g1, &s, 300, 0, &e), STRATA_EDENIED);
    cs_iset_clear(&s.vnis);

    assert_int_equal(cs_auth_operator(&op, "cache show", &e), 0);
    assert_int_equal(cs_auth_operator(&h1, "cache show", &e), STRATA_EDENIED);
    assert_int_equal(cs_auth_updates(&h1, "h1", &e), 0);
    assert_int_equal(cs_auth_updates(&h1, "h2", &e), STRATA_EDENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identify),
        cmocka_unit_test(test_registration),
        cmocka_unit_test(test_vni_and_operator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
