/* test_tls_authz.c - issue 21's trust boundaries, with TLS on: a 3-node directory and a
 * connectivity server on tls+tcp://, and clients that are nobody (no certificate, another CA's,
 * plaintext), or somebody with the wrong role or name. Each attack found in plaintext before
 * TLS is replayed and must change nothing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "h_tls.h"
#include "pki.h"
#include "sp_wire.h"
#include "test_dir_common.h"

static struct td_cluster C;
static char DIRS[512], CS_URL[64], CS_LOG[256];
static pid_t CSD;
static struct strata_tls *OP, *H1, *H2, *CS, *D2, *FOREIGN;

/* ---------------------------------------------------------------- plumbing */

/* One request as `t` (NULL: the transport failed, with the error in *rc). */
static strata_env *call_as(struct strata_tls *t, const char *url, strata_env *req, int *rc)
{
    struct strata_sclient *c;
    struct strata_err e;
    strata_env *rep = NULL;
    *rc = strata_sclient_open_tls(url, t, &c, &e);
    if (*rc != 0)
        return NULL;
    *rc = strata_sclient_call(c, req, 5000, &rep, &e);
    strata_sclient_close(c);
    if (*rc != 0)
        fprintf(stderr, "  (%s: %s)\n", url, e.msg);
    return *rc == 0 ? rep : NULL;
}

/* A write as `t` at node 0: its status (the transport's error when there was no reply), and
 * the refusal's text in msg. */
static int write_as(struct strata_tls *t, Strata__V1__Command *cmd, char *msg, size_t len)
{
    Strata__V1__WriteRequest w = STRATA__V1__WRITE_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    w.cmd = cmd;
    req.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
    req.write = &w;
    int rc;
    strata_env *r = call_as(t, C.node[0].api, &req, &rc);
    if (r == NULL)
        return rc;
    rc = r->status;
    snprintf(msg, len, "%s", r->message ? r->message : "");
    strata_msg_free(r);
    return rc;
}

static void expect_denied(int rc, const char *msg, const char *rule)
{
    if (rc != STRATA_EDENIED || strstr(msg, rule) == NULL)
        fail_msg("expected EDENIED by rule '%s', got %d '%s'", rule, rc, msg);
}

static Strata__V1__Command host_cmd(Strata__V1__Host *h, const char *id, uint8_t vtep[4])
{
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    strata__v1__host__init(h);
    h->id = (char *)id;
    h->vtep = (ProtobufCBinaryData){4, vtep};
    h->pod = (char *)"p1";
    cmd.op_case = STRATA__V1__COMMAND__OP_HOST_ADD;
    cmd.host_add = h;
    return cmd;
}

/* The directory's record of a host, as node 0 lists it: its VTEP's last byte, or -1. */
static int host_vtep_last(const char *id)
{
    Strata__V1__ListRequest lr = STRATA__V1__LIST_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    lr.kind = STRATA__V1__OBJ_KIND__OBJ_HOST;
    req.body_case = STRATA__V1__ENVELOPE__BODY_LIST;
    req.list = &lr;
    int rc, last = -1;
    strata_env *r = call_as(OP, C.node[0].api, &req, &rc);
    assert_non_null(r);
    for (size_t i = 0; i < r->list_reply->n_hosts; i++)
        if (strcmp(r->list_reply->hosts[i]->id, id) == 0)
            last = r->list_reply->hosts[i]->vtep.data[3];
    strata_msg_free(r);
    return last;
}

/* Members and the API address each has in the member table, "1=URL,2=URL,3=URL". */
static void members(char *out, size_t len)
{
    strata_env *r = td_status(C.node[0].api);
    assert_non_null(r);
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->cluster_status_reply->n_members; i++) {
        const Strata__V1__Member *m = r->cluster_status_reply->members[i];
        off += (size_t)snprintf(out + off, len - off, "%s%llu=%s", i ? "," : "",
                                (unsigned long long)m->id, m->api);
    }
    strata_msg_free(r);
}

/* Every member has recorded its API address (each node does so itself once it runs). */
static bool members_known(void *arg)
{
    (void)arg;
    char m[512];
    members(m, sizeof(m));
    return strstr(m, "=,") == NULL && m[strlen(m) - 1] != '=' && strstr(m, "3=") != NULL;
}

/* ---------------------------------------------------------------- setup */

static int setup(void **state)
{
    (void)state;
    h_tls_force(true);
    td_init(&C, 3, "tls-authz");
    C.node[0].metrics_port = h_free_port();
    for (int i = 0; i < 3; i++)
        td_start(&C, i);
    assert_true(td_wait_leader(&C, 15000) > 0);
    strata_dirclient_close(td_client_with_objects(&C)); /* t1, VN 100, host h1 */
    assert_true(h_wait_until(members_known, NULL, 15000));
    td_urls(&C, 0, DIRS, sizeof(DIRS));
    snprintf(CS_LOG, sizeof(CS_LOG), "%s/csd.log", h_tmpdir("tls-authz-cs"));
    CSD = td_csd_start(DIRS, CS_URL, sizeof(CS_URL), CS_LOG, NULL);
    OP = strata_tls_default();
    H1 = h_tls_ctx("agent", "h1");
    H2 = h_tls_ctx("agent", "h2");
    CS = h_tls_ctx("connectivity", "cs1");
    D2 = h_tls_ctx("directory", "2");

    /* h2 (VTEP .2) exists; VN 200 has no port of h1's */
    uint8_t v2[4] = {192, 168, 0, 2};
    Strata__V1__Host h;
    Strata__V1__Command cmd = host_cmd(&h, "h2", v2);
    char msg[256];
    assert_int_equal(write_as(OP, &cmd, msg, sizeof(msg)), 0);
    Strata__V1__Vnet vn = STRATA__V1__VNET__INIT;
    strata__v1__command__init(&cmd);
    vn.vni = 200;
    vn.domain = (char *)"t1";
    cmd.op_case = STRATA__V1__COMMAND__OP_VNET_CREATE;
    cmd.vnet_create = &vn;
    assert_int_equal(write_as(OP, &cmd, msg, sizeof(msg)), 0);

    /* an operator of another CA: its own CA is in the file it trusts, so that it can open a
     * context at all, and talks to our servers */
    const char *other = h_tmpdir("tls-authz-other");
    char odir[600], bundle[700], cmdline[2048];
    snprintf(odir, sizeof(odir), "%s/ca", other);
    struct strata_err e;
    assert_int_equal(strata_pki_init(odir, &e), 0);
    struct strata_pki_issue_opts io = {.dir = odir, .role = "operator", .name = "mallory"};
    assert_int_equal(strata_pki_issue(&io, &e), 0);
    snprintf(bundle, sizeof(bundle), "%s/both.crt", other);
    snprintf(cmdline, sizeof(cmdline), "cat %s/ca.crt %s/ca.crt > %s", odir, h_tls_dir(), bundle);
    assert_int_equal(h_run(cmdline, NULL), 0);
    char crt[700], key[700];
    snprintf(crt, sizeof(crt), "%s/mallory.crt", odir);
    snprintf(key, sizeof(key), "%s/mallory.key", odir);
    struct strata_tls_files f = {bundle, crt, key};
    assert_int_equal(strata_tls_open(&f, &FOREIGN, &e), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_stop(CSD, 10000);
    for (int i = 0; i < 3; i++)
        td_stop(&C, i);
    strata_tls_free(FOREIGN);
    return 0;
}

/* ---------------------------------------------------------------- nobody */

/* A TLS client with no certificate at all (OpenSSL directly: our contexts always have one).
 * Returns the bytes of an SP handshake it got back: none, when refused. */
static int no_cert_client(const char *url)
{
    struct sp_tcp_addr a;
    assert_int_equal(sp_tcp_split(url, &a, NULL), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(a.port))};
    inet_pton(AF_INET, a.host, &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char ca[1024];
    snprintf(ca, sizeof(ca), "%s/ca.crt", h_tls_dir());
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    int got = 0;
    uint8_t hs[SP_HANDSHAKE_LEN], in[64];
    sp_handshake(hs, SP_PROTO_REQ0);
    if (SSL_connect(ssl) == 1 && SSL_write(ssl, hs, sizeof(hs)) > 0) {
        int n = SSL_read(ssl, in, sizeof(in));
        got = n > 0 ? n : 0;
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return got;
}

static void test_nobody_can_do_anything(void **state)
{
    (void)state;
    char before[512], after[512];
    members(before, sizeof(before));
    /* no certificate, at a directory node and at the connectivity server */
    assert_int_equal(no_cert_client(C.node[0].api), 0);
    assert_int_equal(no_cert_client(CS_URL), 0);
    /* another CA's certificate: the VTEP rewrite and the member removals of the plaintext days */
    uint8_t evil[4] = {192, 168, 0, 66};
    Strata__V1__Host h;
    Strata__V1__Command cmd = host_cmd(&h, "h1", evil);
    char msg[256] = "";
    int rc = write_as(FOREIGN, &cmd, msg, sizeof(msg));
    assert_true(rc == STRATA_EDENIED || rc == STRATA_EUNAVAIL || rc == STRATA_ETIMEDOUT);
    Strata__V1__ClusterRemove cr = STRATA__V1__CLUSTER_REMOVE__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    cr.id = 3;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_REMOVE;
    req.cluster_remove = &cr;
    assert_null(call_as(FOREIGN, C.node[0].api, &req, &rc));
    /* plaintext at a TLS port: not a TLS handshake, dropped */
    char plain[128];
    snprintf(plain, sizeof(plain), "tcp://%.100s", C.node[0].api + strlen("tls+tcp://"));
    strata_env st = STRATA__V1__ENVELOPE__INIT;
    Strata__V1__ClusterStatusRequest csr = STRATA__V1__CLUSTER_STATUS_REQUEST__INIT;
    st.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS;
    st.cluster_status = &csr;
    assert_null(call_as(NULL, plain, &st, &rc));
    /* and nothing changed */
    assert_int_equal(host_vtep_last("h1"), 1);
    members(after, sizeof(after));
    assert_string_equal(before, after);
    /* each was counted and logged as a failed TLS connection, not served */
    assert_true(td_log_count(C.node[0].log, "TLS connection") >= 3);
    char *m = h_http_get(C.node[0].metrics_port, "/metrics");
    assert_non_null(m);
    assert_true(h_metric(m, "strata_dird_api_tls_failed_total") >= 3);
    free(m);
}

/* ---------------------------------------------------------------- wrong role */

static void test_agent_cannot_administer(void **state)
{
    (void)state;
    char msg[256];
    uint8_t evil[4] = {192, 168, 0, 66};
    Strata__V1__Host h;
    Strata__V1__Command cmd = host_cmd(&h, "h2", evil);
    expect_denied(write_as(H1, &cmd, msg, sizeof(msg)), msg, "rule register");
    Strata__V1__Domain d = STRATA__V1__DOMAIN__INIT;
    d.name = (char *)"evil";
    strata__v1__command__init(&cmd);
    cmd.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    cmd.domain_create = &d;
    expect_denied(write_as(H1, &cmd, msg, sizeof(msg)), msg, "rule admin");
    assert_non_null(strstr(msg, "agent h1 may not domain_create"));
    /* reads too: an agent asks its connectivity server */
    strata_env *r = NULL;
    int rc;
    Strata__V1__ListRequest lr = STRATA__V1__LIST_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    lr.kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_LIST;
    req.list = &lr;
    r = call_as(H1, C.node[1].api, &req, &rc);
    assert_non_null(r);
    assert_int_equal(r->status, STRATA_EDENIED);
    strata_msg_free(r);
    /* a connectivity server registers hosts for its agents, but administers nothing */
    expect_denied(write_as(CS, &cmd, msg, sizeof(msg)), msg, "rule admin");
    assert_int_equal(host_vtep_last("h2"), 2);
    char *m = h_http_get(C.node[0].metrics_port, "/metrics");
    assert_non_null(m);
    assert_true(h_metric(m, "strata_dird_denied_total") >= 3);
    free(m);
}

static void test_membership_is_the_operators(void **state)
{
    (void)state;
    char before[512], after[512], msg[256];
    members(before, sizeof(before));
    /* a connectivity server (or an agent) cannot remove, add or move leadership */
    struct strata_tls *who[2] = {CS, H1};
    for (int k = 0; k < 2; k++) {
        Strata__V1__ClusterRemove cr = STRATA__V1__CLUSTER_REMOVE__INIT;
        Strata__V1__ClusterTransfer ct = STRATA__V1__CLUSTER_TRANSFER__INIT;
        strata_env req = STRATA__V1__ENVELOPE__INIT;
        cr.id = 3;
        req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_REMOVE;
        req.cluster_remove = &cr;
        int rc;
        strata_env *r = call_as(who[k], C.node[1].api, &req, &rc);
        assert_non_null(r);
        expect_denied(r->status, r->message, "rule membership");
        strata_msg_free(r);
        ct.id = 2;
        req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_TRANSFER;
        req.cluster_transfer = &ct;
        r = call_as(who[k], C.node[1].api, &req, &rc);
        assert_non_null(r);
        expect_denied(r->status, r->message, "rule membership");
        strata_msg_free(r);
        /* nor take a backup, which holds every tenant's state; an operator may */
        Strata__V1__BackupRequest br = STRATA__V1__BACKUP_REQUEST__INIT;
        req.body_case = STRATA__V1__ENVELOPE__BODY_BACKUP;
        req.backup = &br;
        r = call_as(who[k], C.node[1].api, &req, &rc);
        assert_non_null(r);
        expect_denied(r->status, r->message, "rule backup");
        strata_msg_free(r);
        br.local = true;
        r = call_as(who[k], C.node[1].api, &req, &rc);
        assert_non_null(r);
        expect_denied(r->status, r->message, "rule backup");
        strata_msg_free(r);
    }
    {
        Strata__V1__BackupRequest br = STRATA__V1__BACKUP_REQUEST__INIT;
        strata_env req = STRATA__V1__ENVELOPE__INIT;
        req.body_case = STRATA__V1__ENVELOPE__BODY_BACKUP;
        req.backup = &br;
        int rc;
        strata_env *r = call_as(OP, C.node[1].api, &req, &rc); /* any node (a follower forwards) */
        assert_non_null(r);
        assert_int_equal(r->status, 0);
        assert_true(r->backup_reply->total_bytes > 0);
        strata_msg_free(r);
    }
    /* the member table: the leader's API rewritten to a fake one, by an operator (it must use
     * cluster add), by a connectivity server, and by directory node 2 for node 1 */
    Strata__V1__MemberSet ms = STRATA__V1__MEMBER_SET__INIT;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    ms.id = 1;
    ms.raft = C.node[0].raft;
    ms.api = (char *)"tls+tcp://127.0.0.1:9";
    cmd.op_case = STRATA__V1__COMMAND__OP_MEMBER_SET;
    cmd.member_set = &ms;
    expect_denied(write_as(OP, &cmd, msg, sizeof(msg)), msg, "rule member-table");
    expect_denied(write_as(CS, &cmd, msg, sizeof(msg)), msg, "rule member-table");
    expect_denied(write_as(D2, &cmd, msg, sizeof(msg)), msg, "rule member-table");
    assert_non_null(strstr(msg, "directory 2 may not record member 1"));
    members(after, sizeof(after));
    assert_string_equal(before, after);
}

/* ---------------------------------------------------------------- wrong name */

static strata_env *host_register(struct strata_tls *t, const char *ident, const char *host,
                                 uint8_t vtep_last)
{
    uint8_t vtep[4] = {192, 168, 0, vtep_last};
    Strata__V1__HostRegister hr = STRATA__V1__HOST_REGISTER__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    hr.host = (char *)host;
    hr.vtep = (ProtobufCBinaryData){4, vtep};
    hr.pod = (char *)"p1";
    req.identity = (char *)ident;
    req.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER;
    req.host_register = &hr;
    int rc;
    strata_env *r = call_as(t, CS_URL, &req, &rc);
    assert_non_null(r);
    return r;
}

static void test_agent_is_its_certificate(void **state)
{
    (void)state;
    /* h1 registers as itself, on its own VTEP */
    strata_env *r = host_register(H1, "host:h1", "h1", 1);
    assert_int_equal(r->status, 0);
    strata_msg_free(r);
    /* ... not as h2, whatever it claims to be */
    r = host_register(H1, "host:h2", "h2", 2);
    assert_int_equal(r->status, STRATA_EDENIED);
    assert_non_null(strstr(r->message, "host h1 may only register itself"));
    strata_msg_free(r);
    /* ... nor on h2's VTEP */
    r = host_register(H1, "host:h1", "h1", 2);
    assert_int_equal(r->status, STRATA_EDENIED);
    strata_msg_free(r);
    assert_int_equal(host_vtep_last("h1"), 1);
    assert_int_equal(host_vtep_last("h2"), 2);
    /* claiming to be the operator changes nothing: cache show stays the operator's */
    Strata__V1__CacheShowRequest cr = STRATA__V1__CACHE_SHOW_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.identity = (char *)"operator";
    req.body_case = STRATA__V1__ENVELOPE__BODY_CACHE_SHOW;
    req.cache_show = &cr;
    int rc;
    r = call_as(H2, CS_URL, &req, &rc);
    assert_non_null(r);
    assert_int_equal(r->status, STRATA_EDENIED);
    strata_msg_free(r);
    /* a resolve in VN 200, where h1 has no port */
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT, *qp = &q;
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    uint8_t ip[4] = {10, 0, 0, 9};
    q.vni = 200;
    q.ip = (ProtobufCBinaryData){4, ip};
    rr.queries = &qp;
    rr.n_queries = 1;
    strata__v1__envelope__init(&req);
    req.identity = (char *)"host:h1";
    req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    req.resolve = &rr;
    r = call_as(H1, CS_URL, &req, &rc);
    assert_non_null(r);
    assert_int_equal(r->status, STRATA_EDENIED);
    assert_non_null(strstr(r->message, "host h1 has no port in VN 200"));
    strata_msg_free(r);
    /* directory and connectivity certificates have no business at a connectivity server */
    r = host_register(CS, "host:h1", "h1", 1);
    assert_int_equal(r->status, STRATA_EDENIED);
    strata_msg_free(r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* the refused clients write into closed connections */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nobody_can_do_anything),
        cmocka_unit_test(test_agent_cannot_administer),
        cmocka_unit_test(test_membership_is_the_operators),
        cmocka_unit_test(test_agent_is_its_certificate),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    h_cleanup();
    return rc;
}
