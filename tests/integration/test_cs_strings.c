/* test_cs_strings.c - a string holding a NUL byte or invalid UTF-8 makes a whole request to a
 * real strata-csd (1 strata-dird + 1 strata-csd on loopback) malformed: EPROTO naming the field,
 * before any handler sees it. Before: protobuf-c decoded "operator\0junk" as the C string
 * "operator", and the connectivity server answered the claimed operator. The bytes are written by
 * hand (protobuf-c cannot encode a NUL inside a char *): encoded with a placeholder, patched. */
#include "h_tls.h"
#include "test_dir_common.h"

static struct td_cluster C;
static struct strata_dirclient *DC;
static char CS_URL[64], CS_LOG[256];
static pid_t CSD;

/* ---------------------------------------------------------------- plumbing */

/* Encode env (req_id 77), overwrite the first `what` with as many bytes of `with` (which may hold
 * a NUL), send the bytes as they are and return the decoded reply (NULL: no reply). */
static strata_env *call_patched(strata_env *env, const char *what, const char *with)
{
    env->req_id = 77;
    uint8_t *b;
    size_t l;
    struct strata_err e = {0};
    assert_int_equal(strata_msg_encode(env, &b, &l, &e), 0);
    size_t n = strlen(what);
    bool patched = false;
    for (size_t i = 0; i + n <= l && !patched; i++)
        if (memcmp(b + i, what, n) == 0) {
            memcpy(b + i, with, n);
            patched = true;
        }
    assert_true(patched);

    struct strata_sclient *c;
    strata_env *rep = NULL;
    assert_int_equal(strata_sclient_open(CS_URL, &c, &e), 0);
    if (strata_sclient_call_bytes(c, b, l, 77, 5000, &rep, &e) != 0)
        rep = NULL;
    strata_sclient_close(c);
    free(b);
    assert_non_null(rep);
    assert_int_equal(rep->req_id, 77);
    return rep;
}

static void show_req(strata_env *env, Strata__V1__CacheShowRequest *cr, const char *identity)
{
    td_csd_show_req(env, cr);
    env->identity = (char *)identity;
}

static void assert_eproto(strata_env *rep, const char *field_msg)
{
    if (rep->status != STRATA_EPROTO || strstr(rep->message, field_msg) == NULL)
        fail_msg("want EPROTO \"%s\", got %d \"%s\" (body %s)", field_msg, rep->status,
                 rep->message, strata_msg_type_name(rep->body_case));
    assert_int_equal(rep->body_case, STRATA__V1__ENVELOPE__BODY_EMPTY);
    strata_msg_free(rep);
}

/* ---------------------------------------------------------------- setup */

static int setup(void **state)
{
    (void)state;
    td_init(&C, 1, "cs-strings");
    td_start(&C, 0);
    assert_true(td_wait_leader(&C, 20000) > 0);
    DC = td_client_with_objects(&C); /* host h1 (192.168.0.1, pod p1) in VN 100 */
    const char *base = h_tmpdir("cs-strings-csd");
    snprintf(CS_LOG, sizeof(CS_LOG), "%s/csd.log", base);
    CSD = td_csd_start(C.node[0].api, CS_URL, sizeof(CS_URL), CS_LOG, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = h_stop(CSD, 10000);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        fprintf(stderr, "csd exit status 0x%x (log %s)\n", st, CS_LOG);
    strata_dirclient_close(DC);
    td_stop(&C, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- tests */

/* "operator\0junk" is not the operator: the whole request is malformed. */
static void test_operator_with_nul_is_malformed(void **state)
{
    (void)state;
    Strata__V1__CacheShowRequest cr;
    strata_env env;
    /* the operator itself, through the same raw path: an operator's answer */
    show_req(&env, &cr, "operator");
    strata_env *rep = call_patched(&env, "operator", "operator");
    assert_int_equal(rep->status, 0);
    assert_int_equal(rep->body_case, STRATA__V1__ENVELOPE__BODY_CACHE_SHOW_REPLY);
    strata_msg_free(rep);

    show_req(&env, &cr, "operatorXjunk");
    assert_eproto(call_patched(&env, "operatorXjunk", "operator\0junk"),
                  "identity: a NUL byte inside the string");
    /* a NUL at the end, the shortest forgery */
    show_req(&env, &cr, "operatorX");
    assert_eproto(call_patched(&env, "operatorX", "operator\0"),
                  "identity: a NUL byte inside the string");
    /* and the server still answers the operator */
    assert_true(td_csd_answers(CS_URL));
}

/* A nested string (a port's endpoint host) with a NUL: refused whole, nothing reaches the
 * directory. */
static void test_nested_string_with_nul_is_malformed(void **state)
{
    (void)state;
    uint8_t vtep[4] = {192, 168, 0, 1}, mac[6], ip[4];
    Strata__V1__HostRegister hr = STRATA__V1__HOST_REGISTER__INIT;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    hr.host = (char *)"h1";
    hr.vtep = (ProtobufCBinaryData){4, vtep};
    hr.pod = (char *)"p1";
    env.identity = (char *)"host:h1";
    env.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER;
    env.host_register = &hr;
    strata_env *rep = call_patched(&env, "h1", "h1");
    if (rep->status != 0)
        fail_msg("HostRegister: %s", rep->message);
    strata_msg_free(rep);

    td_mac(9, mac);
    td_ip(9, ip);
    ProtobufCBinaryData ips[1] = {{4, ip}};
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    Strata__V1__PortRegister pr = STRATA__V1__PORT_REGISTER__INIT;
    ep.vni = TD_VNI;
    ep.mac = (ProtobufCBinaryData){6, mac};
    ep.ips = ips;
    ep.n_ips = 1;
    ep.host = (char *)"h1Xjunk";
    ep.vtep = (ProtobufCBinaryData){4, vtep};
    pr.endpoint = &ep;
    strata__v1__envelope__init(&env);
    env.identity = (char *)"host:h1";
    env.body_case = STRATA__V1__ENVELOPE__BODY_PORT_REGISTER;
    env.port_register = &pr;
    assert_eproto(call_patched(&env, "h1Xjunk", "h1\0junk"),
                  "port_register.endpoint.host: a NUL byte inside the string");
    assert_eproto(call_patched(&env, "h1Xjunk", "h1\xffjunk"),
                  "port_register.endpoint.host: not UTF-8");

    strata_env *list = td_list(C.node[0].api, 0);
    assert_non_null(list);
    for (size_t i = 0; i < list->list_reply->n_endpoints; i++)
        assert_memory_not_equal(list->list_reply->endpoints[i]->mac.data, mac, 6);
    strata_msg_free(list);
}

/* Invalid UTF-8 is malformed; valid multi-byte UTF-8 is decoded and judged by the handler (an
 * identity with a name no host may have: EDENIED, not EPROTO). */
static void test_utf8(void **state)
{
    (void)state;
    Strata__V1__CacheShowRequest cr;
    strata_env env;
    show_req(&env, &cr, "host:hXX");
    assert_eproto(call_patched(&env, "host:hXX", "host:h\xc0\xaf"), "identity: not UTF-8");
    if (h_tls())
        return; /* the caller is its certificate (the operator's): the identity is not read */
    strata_env *rep = call_patched(&env, "host:hXX", "host:h\xc3\xa9");
    assert_int_equal(rep->status, STRATA_EDENIED);
    assert_non_null(strstr(rep->message, "unknown identity"));
    strata_msg_free(rep);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operator_with_nul_is_malformed),
        cmocka_unit_test(test_nested_string_with_nul_is_malformed),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
