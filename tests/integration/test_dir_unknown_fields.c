/* test_dir_unknown_fields.c - a directory stores, logs and serves only what it understands:
 * an endpoint written with a 200 KB unknown field resolves in a reply of ordinary size, and
 * refused writes padded with 1 MB unknown fields do not grow the Raft log (issue 22: every
 * resolve reply for such an endpoint was 200 KB, and padded refused writes filled every node's
 * disk at once). */
#include "test_dir_common.h"

static struct td_cluster C;

/* Sends env and returns the size of its reply as encoded on the wire (0 on failure): protobuf-c
 * keeps the fields it does not know when it decodes, so re-encoding gives the same bytes. */
static size_t raw_call_size(const char *url, strata_env *env)
{
    struct strata_sclient *c;
    struct strata_err e;
    strata_env *rep = NULL;
    size_t got = 0;
    assert_int_equal(strata_sclient_open(url, &c, &e), 0);
    if (strata_sclient_call(c, env, 5000, &rep, &e) == 0) {
        got = protobuf_c_message_get_packed_size(&rep->base);
        strata_msg_free(rep);
    }
    strata_sclient_close(c);
    return got;
}

static double log_bytes(void)
{
    char *t = h_http_get(C.node[0].metrics_port, "/metrics");
    assert_non_null(t);
    double v = h_metric(t, "strata_dird_log_appended_bytes_total");
    free(t);
    return v;
}

static void test_unknown_fields_not_kept(void **state)
{
    (void)state;
    td_init(&C, 1, "dir-unknown");
    C.node[0].metrics_port = h_free_port();
    td_start(&C, 0);
    assert_true(td_wait_leader(&C, 15000) > 0);
    struct strata_dirclient *dc = td_client_with_objects(&C);
    struct strata_err e;

    /* protobuf-c packs an unknown field's bytes as they are: the length prefix is among them */
    enum { BIG = 200000, HUGE = 1000000 };
    uint8_t *junk = calloc(1, HUGE + 3);
    assert_non_null(junk);
    junk[0] = (uint8_t)(0x80 | (BIG & 0x7f));
    junk[1] = (uint8_t)(0x80 | ((BIG >> 7) & 0x7f));
    junk[2] = (uint8_t)(BIG >> 14);
    ProtobufCMessageUnknownField uf = {.tag = 999,
                                       .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
                                       .len = BIG + 3,
                                       .data = junk};
    struct td_ep_cmd b;
    Strata__V1__Command *cmd = td_endpoint_cmd(&b, 1, 1);
    b.ep.base.unknown_fields = &uf;
    b.ep.base.n_unknown_fields = 1;
    uint64_t idx;
    if (td_write(dc, cmd, &idx, &e) != 0)
        fail_msg("endpoint with an unknown field: %s", e.msg);

    uint8_t ip[4];
    td_ip(1, ip);
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT, *qp = &q;
    q.vni = TD_VNI;
    q.ip = (ProtobufCBinaryData){4, ip};
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    rr.n_queries = 1;
    rr.queries = &qp;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.req_id = 7;
    req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    req.resolve = &rr;
    size_t n = raw_call_size(C.node[0].api, &req);
    fprintf(stderr, "resolve reply: %zu bytes\n", n);
    assert_true(n > 0 && n < 1024);

    /* domain t1 exists: each write is refused (EEXIST) and carries 1 MB of unknown bytes */
    junk[0] = (uint8_t)(0x80 | (HUGE & 0x7f));
    junk[1] = (uint8_t)(0x80 | ((HUGE >> 7) & 0x7f));
    junk[2] = (uint8_t)(HUGE >> 14);
    uf.len = HUGE + 3;
    double before = log_bytes();
    for (int i = 0; i < 10; i++) {
        Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
        Strata__V1__Domain dom = STRATA__V1__DOMAIN__INIT;
        dom.name = (char *)"t1";
        dom.base.unknown_fields = &uf;
        dom.base.n_unknown_fields = 1;
        c.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
        c.domain_create = &dom;
        assert_int_equal(td_write(dc, &c, NULL, &e), STRATA_EEXIST);
    }
    double grown = log_bytes() - before;
    fprintf(stderr, "10 refused writes with 1 MB unknown fields grew the log by %.0f bytes\n",
            grown);
    assert_true(grown < 10 * 1024);
    free(junk);
    strata_dirclient_close(dc);
    td_stop(&C, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_fields_not_kept),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    h_cleanup();
    return rc;
}
