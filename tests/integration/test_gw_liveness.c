/* test_gw_liveness.c - gateways at a connectivity server (3 strata-dird + 1 strata-csd on
 * loopback; the gateways are child processes of this test, re-executed as "gw-child", that
 * register and long-poll as strata-gwd does).
 *
 * - A gateway registers only against its directory record (unknown: ENOTFOUND naming the
 *   command to run; another VTEP: EDENIED), becomes live, and is told the VNs it serves.
 * - A host cannot register a gateway address (10.1.0.1) as its port.
 * - kill -9 of the gateway holding VN 100's address: its poll's connection closes, the csd
 *   declares it dead, the address moves to the second gateway within 1 s, and a host session
 *   holding the key receives the move. A stopped gateway (no FIN) is declared dead by the lease;
 *   continued, it registers again. A gateway coming back does not take the address back.
 * - policy set/delete pushes UPD_VNINFO to exactly the gateway sessions serving either VN (and
 *   never to hosts), fast; a change of a gateway's record pushes its new VN list. */
#include "h_tls.h"
#include "test_dir_common.h"

#include <signal.h>
#include <sys/time.h>

/* The csd's lease (2.5 s after the last request) and the write and feed behind it. */
#define CS_LEASE_BOUND_MS 4000

static struct td_cluster C;
static struct strata_dirclient *DC;
static char CS_URL[64], CS_LOG[256], GW_LOG[4][256];
static pid_t CSD, GW[4];
static char SELF[512];

/* ------------------------------------------------------------------ the gateway child */

static uint64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static void print_vnis(const uint32_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%s%u", i ? "," : "", v[i]);
}

/* Register, then long-poll (1 s, as strata-gwd), logging what arrives; register again when
 * told to resynchronise. Never returns. */
static int gw_child(const char *url, const char *name, const char *vtep_text)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    char ident[80];
    snprintf(ident, sizeof(ident), "gw:%s", name);
    struct strata_ip vtep;
    if (strata_ip_parse(vtep_text, &vtep, NULL) != 0)
        return 2;
    struct strata_sclient *cl = NULL;
    struct strata_err e;
    uint64_t session = 0, after = 0;
    for (;;) {
        if (cl == NULL && strata_sclient_open_tls(url, h_tls_ident(ident), &cl, &e) != 0) {
            usleep(100 * 1000);
            continue;
        }
        strata_env *rep = NULL;
        if (session == 0) {
            Strata__V1__HostRegister hr = STRATA__V1__HOST_REGISTER__INIT;
            strata_env req = STRATA__V1__ENVELOPE__INIT;
            hr.host = (char *)name;
            hr.vtep = (ProtobufCBinaryData){strata_ip_len(&vtep), vtep.a};
            hr.gateway = true;
            req.identity = ident;
            req.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER;
            req.host_register = &hr;
            if (strata_sclient_call(cl, &req, 5000, &rep, &e) != 0) {
                usleep(100 * 1000);
                continue;
            }
            if (rep->status != 0) {
                printf("refused %d %s\n", rep->status, rep->message);
                strata_msg_free(rep);
                usleep(200 * 1000);
                continue;
            }
            session = rep->host_register_reply->session;
            after = 0;
            printf("registered vnis=");
            print_vnis(rep->host_register_reply->vnis, rep->host_register_reply->n_vnis);
            printf("\n");
            strata_msg_free(rep);
            continue;
        }
        Strata__V1__UpdatesRequest ur = STRATA__V1__UPDATES_REQUEST__INIT;
        strata_env req = STRATA__V1__ENVELOPE__INIT;
        ur.host = (char *)name;
        ur.session = session;
        ur.after_seq = after;
        ur.wait_ms = 1000;
        req.identity = ident;
        req.body_case = STRATA__V1__ENVELOPE__BODY_UPDATES;
        req.updates = &ur;
        if (strata_sclient_call(cl, &req, 4000, &rep, &e) != 0) {
            usleep(50 * 1000);
            continue;
        }
        if (rep->status != 0 || rep->updates_reply->resync ||
            rep->updates_reply->session != session) {
            printf("resync\n");
            session = 0;
            strata_msg_free(rep);
            continue;
        }
        for (size_t i = 0; i < rep->updates_reply->n_updates; i++) {
            const Strata__V1__Update *u = rep->updates_reply->updates[i];
            if (u->seq > after)
                after = u->seq;
            if (u->kind == STRATA__V1__UPDATE_KIND__UPD_VNINFO) {
                printf("vninfo vni=%u vnis=", u->vni);
                print_vnis(u->vnis, u->n_vnis);
                printf(" at_us=%llu\n", (unsigned long long)wall_us());
            } else {
                printf("update kind=%d vni=%u\n", u->kind, u->vni);
            }
        }
        strata_msg_free(rep);
    }
}

/* ------------------------------------------------------------------ helpers */

static strata_env *csd_call(strata_env *req, unsigned timeout_ms)
{
    struct strata_sclient *cl;
    struct strata_err e;
    strata_env *rep = NULL;
    if (strata_sclient_open_tls(CS_URL, h_tls_ident(req->identity), &cl, &e) != 0)
        return NULL;
    if (strata_sclient_call(cl, req, timeout_ms, &rep, &e) != 0)
        rep = NULL;
    strata_sclient_close(cl);
    return rep;
}

/* A gateway's HostRegister from this process: the reply, whatever its status. */
static strata_env *gw_register(const char *name, const char *vtep_text)
{
    char ident[80];
    snprintf(ident, sizeof(ident), "gw:%s", name);
    struct strata_ip vtep;
    assert_int_equal(strata_ip_parse(vtep_text, &vtep, NULL), 0);
    Strata__V1__HostRegister hr = STRATA__V1__HOST_REGISTER__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    hr.host = (char *)name;
    hr.vtep = (ProtobufCBinaryData){strata_ip_len(&vtep), vtep.a};
    hr.gateway = true;
    req.identity = ident;
    req.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER;
    req.host_register = &hr;
    strata_env *r = csd_call(&req, 10000);
    assert_non_null(r);
    return r;
}

static void gw_start(int i, const char *name, const char *vtep)
{
    char *argv[] = {SELF, (char *)"gw-child", CS_URL, (char *)name, (char *)vtep, NULL};
    GW[i] = h_spawn(argv, GW_LOG[i]);
    assert_true(GW[i] > 0);
}

static void write_ok(Strata__V1__Command *cmd, uint64_t *index)
{
    struct strata_err e;
    if (td_write(DC, cmd, index, &e) != 0)
        fail_msg("write: %s", e.msg);
}

static void mk_vnet(uint32_t vni, const char *cidr_pfx, const char *gw)
{
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    Strata__V1__Vnet vn = STRATA__V1__VNET__INIT;
    vn.vni = vni;
    vn.domain = (char *)"t1";
    cmd.op_case = STRATA__V1__COMMAND__OP_VNET_CREATE;
    cmd.vnet_create = &vn;
    write_ok(&cmd, NULL);
    struct strata_ip p, g;
    assert_int_equal(strata_ip_parse(cidr_pfx, &p, NULL), 0);
    assert_int_equal(strata_ip_parse(gw, &g, NULL), 0);
    Strata__V1__Subnet sn = STRATA__V1__SUBNET__INIT;
    strata__v1__command__init(&cmd);
    sn.vni = vni;
    sn.prefix = (ProtobufCBinaryData){4, p.a};
    sn.plen = 24;
    sn.gateway = (ProtobufCBinaryData){4, g.a};
    cmd.op_case = STRATA__V1__COMMAND__OP_SUBNET_CREATE;
    cmd.subnet_create = &sn;
    write_ok(&cmd, NULL);
}

static void mk_gateway(const char *id, const char *vtep_text, const uint32_t *vnis, size_t n)
{
    struct strata_ip vtep;
    assert_int_equal(strata_ip_parse(vtep_text, &vtep, NULL), 0);
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    Strata__V1__Gateway g = STRATA__V1__GATEWAY__INIT;
    g.id = (char *)id;
    g.vtep = (ProtobufCBinaryData){4, vtep.a};
    g.vnis = (uint32_t *)vnis;
    g.n_vnis = n;
    cmd.op_case = STRATA__V1__COMMAND__OP_GATEWAY_ADD;
    cmd.gateway_add = &g;
    write_ok(&cmd, NULL);
}

static uint64_t policy(bool set, uint32_t from, uint32_t to)
{
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    Strata__V1__Policy p = STRATA__V1__POLICY__INIT;
    Strata__V1__PolicyDelete d = STRATA__V1__POLICY_DELETE__INIT;
    if (set) {
        p.domain = (char *)"t1";
        p.from_vni = from;
        p.to_vni = to;
        p.verdict = STRATA__V1__VERDICT__VERDICT_ALLOW;
        cmd.op_case = STRATA__V1__COMMAND__OP_POLICY_SET;
        cmd.policy_set = &p;
    } else {
        d.domain = (char *)"t1";
        d.from_vni = from;
        d.to_vni = to;
        cmd.op_case = STRATA__V1__COMMAND__OP_POLICY_DELETE;
        cmd.policy_delete = &d;
    }
    uint64_t index;
    write_ok(&cmd, &index);
    return index;
}

/* Who holds VN 100's gateway address, as directory node 0 says ("" when nobody). */
static void holder_100(char *out, size_t len)
{
    struct strata_ip ip;
    assert_int_equal(strata_ip_parse("10.1.0.1", &ip, NULL), 0);
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT, *qp = &q;
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    q.vni = 100;
    q.ip = (ProtobufCBinaryData){4, ip.a};
    rr.queries = &qp;
    rr.n_queries = 1;
    req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    req.resolve = &rr;
    strata_env *r = td_call(C.node[0].api, &req, 2000);
    out[0] = '\0';
    if (r == NULL)
        snprintf(out, len, "?");
    else if (r->resolve_reply->answers[0]->found)
        snprintf(out, len, "%s", r->resolve_reply->answers[0]->endpoint->host);
    if (r != NULL)
        strata_msg_free(r);
}

static bool holder_is(void *arg)
{
    char h[64];
    holder_100(h, sizeof(h));
    return strcmp(h, (const char *)arg) == 0;
}

static bool gw_logged(void *arg)
{
    const char **a = arg; /* {log, needle} */
    return td_log_count(a[0], a[1]) > 0;
}

/* The gateway registered again (a second "registered vnis=100" line in its log). */
static bool registered_twice(void *arg)
{
    return td_log_count(arg, "registered vnis=100") >= 2;
}

static bool wait_log(const char *log, const char *needle, int ms)
{
    const char *a[] = {log, needle};
    return h_wait_until(gw_logged, a, ms);
}

/* ------------------------------------------------------------------ the host session */

static const char *H1 = "host:h1";

static uint64_t h1_register(void)
{
    uint8_t vtep[4] = {192, 168, 0, 1};
    Strata__V1__HostRegister hr = STRATA__V1__HOST_REGISTER__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    hr.host = (char *)"h1";
    hr.vtep = (ProtobufCBinaryData){4, vtep};
    hr.pod = (char *)"p1";
    req.identity = (char *)H1;
    req.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER;
    req.host_register = &hr;
    strata_env *r = csd_call(&req, 10000);
    assert_non_null(r);
    if (r->status != 0)
        fail_msg("HostRegister h1: %s", r->message);
    uint64_t s = r->host_register_reply->session;
    strata_msg_free(r);
    return s;
}

static strata_env *h1_port(const char *ip_text, int mac_last)
{
    struct strata_ip ip;
    assert_int_equal(strata_ip_parse(ip_text, &ip, NULL), 0);
    uint8_t mac[6] = {2, 0, 0, 0, 1, (uint8_t)mac_last};
    ProtobufCBinaryData ips[1] = {{4, ip.a}};
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    Strata__V1__PortRegister pr = STRATA__V1__PORT_REGISTER__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    ep.vni = 100;
    ep.mac = (ProtobufCBinaryData){6, mac};
    ep.ips = ips;
    ep.n_ips = 1;
    ep.host = (char *)"h1";
    pr.endpoint = &ep;
    req.identity = (char *)H1;
    req.body_case = STRATA__V1__ENVELOPE__BODY_PORT_REGISTER;
    req.port_register = &pr;
    strata_env *r = csd_call(&req, 10000);
    assert_non_null(r);
    return r;
}

/* h1 resolves 10.1.0.1 through the csd (and so holds the key); returns the VTEP's last byte. */
static int h1_resolve_gw(void)
{
    struct strata_ip ip;
    assert_int_equal(strata_ip_parse("10.1.0.1", &ip, NULL), 0);
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT, *qp = &q;
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    q.vni = 100;
    q.ip = (ProtobufCBinaryData){4, ip.a};
    rr.queries = &qp;
    rr.n_queries = 1;
    req.identity = (char *)H1;
    req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    req.resolve = &rr;
    strata_env *r = csd_call(&req, 5000);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    const Strata__V1__ResolveAnswer *a = r->resolve_reply->answers[0];
    int last = a->found ? a->endpoint->vtep.data[3] : -1;
    strata_msg_free(r);
    return last;
}

/* One poll of h1's updates; counts VNINFO updates into *vninfo. Returns the VTEP last byte of
 * the first endpoint update for 10.1.0.1 (-2: an invalidation of it; -1: none). */
static int h1_poll(uint64_t session, uint64_t *after, unsigned wait_ms, int *vninfo)
{
    Strata__V1__UpdatesRequest ur = STRATA__V1__UPDATES_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    ur.host = (char *)"h1";
    ur.session = session;
    ur.after_seq = *after;
    ur.wait_ms = wait_ms;
    req.identity = (char *)H1;
    req.body_case = STRATA__V1__ENVELOPE__BODY_UPDATES;
    req.updates = &ur;
    strata_env *r = csd_call(&req, wait_ms + 3000);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    assert_false(r->updates_reply->resync);
    int got = -1;
    for (size_t i = 0; i < r->updates_reply->n_updates; i++) {
        const Strata__V1__Update *u = r->updates_reply->updates[i];
        if (u->seq > *after)
            *after = u->seq;
        if (u->kind == STRATA__V1__UPDATE_KIND__UPD_VNINFO)
            (*vninfo)++;
        bool key = u->ip.len == 4 && memcmp(u->ip.data, (uint8_t[]){10, 1, 0, 1}, 4) == 0;
        if (!key || got != -1)
            continue;
        if (u->kind == STRATA__V1__UPDATE_KIND__UPD_ENDPOINT && u->endpoint != NULL &&
            u->endpoint->vtep.len == 4)
            got = u->endpoint->vtep.data[3];
        else if (u->kind == STRATA__V1__UPDATE_KIND__UPD_INVALIDATE)
            got = -2;
    }
    strata_msg_free(r);
    return got;
}

/* Poll h1 until an update for 10.1.0.1 arrives (or timeout); its result (see h1_poll). */
static int h1_wait_update(uint64_t session, uint64_t *after, int timeout_ms, int *vninfo)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    while (h_now_ms() < deadline) {
        int got = h1_poll(session, after, 500, vninfo);
        if (got != -1)
            return got;
    }
    return -1;
}

/* ------------------------------------------------------------------ the test */

static void test_gateways(void **state)
{
    (void)state;
    td_init(&C, 3, "gwlive");
    for (int i = 0; i < 3; i++)
        td_start(&C, i);
    assert_true(td_wait_leader(&C, 15000) > 0);
    char urls[512];
    struct strata_err e;
    td_urls(&C, 0, urls, sizeof(urls));
    assert_int_equal(strata_dirclient_open(urls, &DC, &e), 0);
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    Strata__V1__Domain dom = STRATA__V1__DOMAIN__INIT;
    dom.name = (char *)"t1";
    cmd.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    cmd.domain_create = &dom;
    write_ok(&cmd, NULL);
    mk_vnet(100, "10.1.0.0", "10.1.0.1");
    mk_vnet(200, "10.2.0.0", "10.2.0.1");
    mk_vnet(300, "10.3.0.0", "10.3.0.1");
    const uint32_t v12[] = {100, 200}, v1[] = {100}, v3[] = {300}, v13[] = {100, 300};
    mk_gateway("gw1", "192.168.9.1", v12, 2);
    mk_gateway("gw2", "192.168.9.2", v1, 1);
    mk_gateway("gw3", "192.168.9.3", v3, 1);

    const char *base = h_tmpdir("gwlive");
    snprintf(CS_LOG, sizeof(CS_LOG), "%s/csd.log", base);
    for (int i = 0; i < 4; i++)
        snprintf(GW_LOG[i], sizeof(GW_LOG[i]), "%s/gw%d.log", base, i + 1);
    CSD = td_csd_start(urls, CS_URL, sizeof(CS_URL), CS_LOG, NULL);

    /* registration is against the directory's record */
    strata_env *r = gw_register("gw9", "192.168.9.9");
    assert_int_equal(r->status, STRATA_ENOTFOUND);
    assert_non_null(strstr(r->message, "gateway gw9 is not in the directory: strata gateway add "
                                       "--id gw9 --vtep 192.168.9.9"));
    strata_msg_free(r);
    r = gw_register("gw1", "192.168.9.7");
    assert_int_equal(r->status, STRATA_EDENIED);
    assert_non_null(strstr(r->message, "192.168.9.1"));
    strata_msg_free(r);
    char h[64];
    holder_100(h, sizeof(h));
    assert_string_equal(h, ""); /* nobody live yet */

    /* gateways come up: live, told their VNs; gw1 (first) holds VN 100's address */
    gw_start(0, "gw1", "192.168.9.1");
    assert_true(wait_log(GW_LOG[0], "registered vnis=100,200", 10000));
    assert_true(h_wait_until(holder_is, (void *)"gw1", 5000));
    gw_start(1, "gw2", "192.168.9.2");
    gw_start(2, "gw3", "192.168.9.3");
    assert_true(wait_log(GW_LOG[1], "registered vnis=100", 10000));
    assert_true(wait_log(GW_LOG[2], "registered vnis=300", 10000));
    holder_100(h, sizeof(h));
    assert_string_equal(h, "gw1");
    assert_int_equal(td_csd_counter(CS_URL, "gw_registered"), 3);
    assert_int_equal(td_csd_counter(CS_URL, "gw_live"), 3);

    /* a host: its port, never the gateway address */
    uint64_t hs = h1_register(), after = 0;
    r = h1_port("10.1.0.1", 1);
    assert_int_equal(r->status, STRATA_EDENIED);
    assert_string_equal(r->message,
                        "10.1.0.1 is VN 100's gateway address: only a gateway serving VN 100 "
                        "holds it");
    strata_msg_free(r);
    r = h1_port("10.1.0.7", 2);
    assert_int_equal(r->status, 0);
    strata_msg_free(r);
    assert_int_equal(h1_resolve_gw(), 1); /* h1 holds the key: on gw1's VTEP */
    int vninfo_h1 = 0;
    h1_poll(hs, &after, 0, &vninfo_h1); /* drain */

    /* kill -9 gw1: its connection closes; the address moves to gw2 within 1 s, pushed to h1 */
    uint64_t t0 = h_now_ms();
    h_kill9(GW[0]);
    GW[0] = 0;
    int got = h1_wait_update(hs, &after, 3000, &vninfo_h1);
    uint64_t took = h_now_ms() - t0;
    fprintf(stderr, "gateway killed: the move reached the host after %llu ms\n",
            (unsigned long long)took);
    assert_int_equal(got, 2);
    assert_true(took < 1000);
    assert_true(h_wait_until(holder_is, (void *)"gw2", 2000)); /* node 0 may apply later */
    assert_int_equal(h1_resolve_gw(), 2);
    assert_int_equal(td_csd_counter(CS_URL, "gw_dead_closed"), 1);
    /* the operator's view: who is live, by which server, holding what */
    char cmdline[1024], *out = NULL;
    snprintf(cmdline, sizeof(cmdline), "%s --directory %s --json gateway list", h_bin("strata"),
             urls);
    assert_int_equal(h_run(cmdline, &out), 0);
    /* gw1 keeps VN 200's address: nobody live serves VN 200 to take it over */
    assert_non_null(strstr(out, "{\"id\":\"gw1\",\"vtep\":\"192.168.9.1\",\"vnis\":[100,200],"
                                "\"live\":false,\"csd\":\"cs1\",\"holds\":[{\"vni\":200,"
                                "\"ips\":[\"10.2.0.1\"]}],"));
    assert_non_null(strstr(out, "{\"id\":\"gw2\",\"vtep\":\"192.168.9.2\",\"vnis\":[100],"
                                "\"live\":true,\"csd\":\"cs1\",\"holds\":[{\"vni\":100,"
                                "\"ips\":[\"10.1.0.1\"]}],"));
    free(out);

    /* gw1 comes back: live again, but gw2 keeps the address (sticky) */
    gw_start(3, "gw1", "192.168.9.1");
    assert_true(wait_log(GW_LOG[3], "registered vnis=100,200", 10000));
    usleep(300 * 1000);
    holder_100(h, sizeof(h));
    assert_string_equal(h, "gw2"); /* the registration was applied at node 0 before the log */

    /* gw2 stopped (no FIN): the lease declares it dead; gw1 takes over */
    t0 = h_now_ms();
    kill(GW[1], SIGSTOP);
    got = h1_wait_update(hs, &after, 6000, &vninfo_h1);
    took = h_now_ms() - t0;
    fprintf(stderr, "gateway stopped: the move reached the host after %llu ms\n",
            (unsigned long long)took);
    assert_int_equal(got, 1);
    assert_true(took < CS_LEASE_BOUND_MS);
    assert_int_equal(td_csd_counter(CS_URL, "gw_dead_lease"), 1);
    /* continued, it finds itself asked to resynchronise and registers again */
    kill(GW[1], SIGCONT);
    assert_true(wait_log(GW_LOG[1], "resync", 5000));
    assert_true(h_wait_until(registered_twice, (void *)GW_LOG[1], 5000));

    /* policy: UPD_VNINFO to the gateways serving either VN, never to others or to hosts */
    int n1 = td_log_count(GW_LOG[3], "vninfo vni=100"), n2 = td_log_count(GW_LOG[1], "vninfo");
    int n3 = td_log_count(GW_LOG[2], "vninfo");
    policy(true, 100, 200);
    assert_true(wait_log(GW_LOG[3], "vninfo vni=200", 3000));
    assert_true(h_wait_until(gw_logged, (const char *[]){GW_LOG[1], "vninfo vni=100"}, 3000));
    assert_int_equal(td_log_count(GW_LOG[3], "vninfo vni=100"), n1 + 1);
    policy(false, 100, 200);
    assert_true(h_wait_until(gw_logged, (const char *[]){GW_LOG[3], "vninfo vni=100"}, 3000));
    usleep(300 * 1000);
    assert_int_equal(td_log_count(GW_LOG[1], "vninfo"), n2 + 2);
    assert_int_equal(td_log_count(GW_LOG[2], "vninfo"), n3); /* gw3 serves neither */
    policy(true, 300, 100);
    assert_true(wait_log(GW_LOG[2], "vninfo vni=300", 3000));
    h1_poll(hs, &after, 0, &vninfo_h1);
    assert_int_equal(vninfo_h1, 0);

    /* latency: policy acknowledged -> the gateway's notice, over repeated changes */
    enum { ROUNDS = 30 };
    uint64_t lat[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        int before = td_log_count(GW_LOG[2], "vninfo vni=300");
        policy(i % 2 == 1, 300, 100);
        uint64_t acked_wall = wall_us(); /* the child stamps with the same clock */
        static uint64_t at[256];
        uint64_t deadline = h_now_ms() + 3000;
        while (td_log_count(GW_LOG[2], "vninfo vni=300") <= before && h_now_ms() < deadline)
            usleep(1000);
        int n = td_log_scan(GW_LOG[2], "at_us=", at, 256);
        assert_true(n > before);
        lat[i] = at[n - 1] > acked_wall ? at[n - 1] - acked_wall : 0;
    }
    for (int i = 1; i < ROUNDS; i++) /* sort */
        for (int k = i; k > 0 && lat[k] < lat[k - 1]; k--) {
            uint64_t x = lat[k];
            lat[k] = lat[k - 1];
            lat[k - 1] = x;
        }
    fprintf(stderr, "policy acknowledged -> gateway notified: p50 %llu us, p99 %llu us\n",
            (unsigned long long)lat[ROUNDS / 2], (unsigned long long)lat[ROUNDS - 1]);
    /* The csd reads the feed from a follower here, which learns of a commit with the leader's
     * next heartbeat: that, not the csd, is most of this (under 1 ms when it reads from the
     * leader). Bounded loosely so that a loaded machine does not fail it. */
    assert_true(lat[ROUNDS - 1] < 250000);

    /* a gateway's record changes: its session learns its new VNs */
    mk_gateway("gw2", "192.168.9.2", v13, 2);
    assert_true(wait_log(GW_LOG[1], "vninfo vni=0 vnis=100,300", 3000));

    for (int i = 0; i < 4; i++)
        if (GW[i] > 0)
            h_kill9(GW[i]);
    int st = h_stop(CSD, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    strata_dirclient_close(DC);
    for (int i = 0; i < 3; i++)
        td_stop(&C, i);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "gw-child") == 0)
        return gw_child(argv[2], argv[3], argv[4]);
    ssize_t n = readlink("/proc/self/exe", SELF, sizeof(SELF) - 1);
    if (n <= 0)
        return 1;
    SELF[n] = '\0';
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gateways)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    h_cleanup();
    return rc;
}
