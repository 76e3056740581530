/* test_cs_feed_pages.c - the change feed stays within the frame limit and its consumer keeps up:
 * a host re-IP re-points ~12,000 large endpoints in one Raft index (~4.6 MB of changes, more
 * than STRATA_MSG_MAX), then an endpoint the csd has cached moves. The csd must serve the new
 * location within a deadline; before replies were bounded by bytes, the feed wedged on that
 * index (the directory sent a reply over the csd's receive bound, which dropped it, again and
 * again) and the csd served the old VTEP for ever, counting no gap. Then pages cut by bytes:
 * no change skipped by trusting applied_index on a short page. Then a feed that cannot make
 * progress (a hung node) is declared stalled, and the csd stops answering from its cache. */
#include "test_dir_common.h"

#define BIG_HOST "big-host-with-a-name-of-the-longest-length-a-host-may-have-63ch"
#define MID_HOST "mid-host-with-a-name-of-the-longest-length-a-host-may-have-63ch"
#define BIG_EPS 12000 /* x ~390 bytes per change: ~4.6 MB in one index */
#define BATCH 1000
#define CS_STALL_MIN_MS 3000 /* the csd's CS_FEED_STALL_MS */
#define MAC_X 1              /* the endpoint that moves */
#define MAC_BIG 1000         /* first MAC of the big host's endpoints */

static struct td_cluster C;
static struct strata_dirclient *DC;
static char CS_URL[64], CS_LOG[256];
static int CS_METRICS;
static pid_t CSD;

static void write_cmd(Strata__V1__Command *cmd)
{
    struct strata_err e;
    if (td_write(DC, cmd, NULL, &e) != 0)
        fail_msg("directory write: %s", e.msg);
}

static void host_add(const char *id, uint8_t last)
{
    uint8_t vtep[4] = {192, 168, 0, last};
    Strata__V1__Host h = STRATA__V1__HOST__INIT;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    h.id = (char *)id;
    h.vtep = (ProtobufCBinaryData){4, vtep};
    h.pod = (char *)"p1";
    cmd.op_case = STRATA__V1__COMMAND__OP_HOST_ADD;
    cmd.host_add = &h;
    write_cmd(&cmd);
}

/* An IPv6 subnet in VNI 100 so that endpoints can carry 16 IPv6 addresses each. */
static void subnet6_add(void)
{
    uint8_t pfx[16] = {0xfd};
    Strata__V1__Subnet sn = STRATA__V1__SUBNET__INIT;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    sn.vni = TD_VNI;
    sn.prefix = (ProtobufCBinaryData){16, pfx};
    sn.plen = 16;
    cmd.op_case = STRATA__V1__COMMAND__OP_SUBNET_CREATE;
    cmd.subnet_create = &sn;
    write_cmd(&cmd);
}

/* Endpoint X: MAC_X with 10.0.0.50 on `host`. */
static void endpoint_x(const char *host)
{
    struct td_ep_cmd b;
    Strata__V1__Command *cmd = td_endpoint_cmd(&b, MAC_X, 40);
    b.ep.host = (char *)host;
    write_cmd(cmd);
}

/* Endpoints [first, first + n) of the big host in one write_batch (one Raft index), each with
 * 16 IPv6 addresses: as large as an endpoint change gets. */
static void big_batch(int first, int n, const char *host)
{
    uint8_t(*macs)[6] = calloc((size_t)n, 6);
    uint8_t(*ips)[16][16] = calloc((size_t)n, sizeof(*ips));
    ProtobufCBinaryData(*ipb)[16] = calloc((size_t)n, sizeof(*ipb));
    Strata__V1__Endpoint *eps = calloc((size_t)n, sizeof(*eps));
    Strata__V1__Command *cmds = calloc((size_t)n, sizeof(*cmds));
    Strata__V1__Command **cp = calloc((size_t)n, sizeof(*cp));
    assert_true(macs && ips && ipb && eps && cmds && cp);
    for (int k = 0; k < n; k++) {
        int i = first + k;
        td_mac(i, macs[k]);
        for (int j = 0; j < 16; j++) {
            ips[k][j][0] = 0xfd;
            ips[k][j][12] = (uint8_t)(i >> 8);
            ips[k][j][13] = (uint8_t)i;
            ips[k][j][14] = (uint8_t)(i >> 16);
            ips[k][j][15] = (uint8_t)j;
            ipb[k][j] = (ProtobufCBinaryData){16, ips[k][j]};
        }
        strata__v1__endpoint__init(&eps[k]);
        eps[k].vni = TD_VNI;
        eps[k].mac = (ProtobufCBinaryData){6, macs[k]};
        eps[k].n_ips = 16;
        eps[k].ips = ipb[k];
        eps[k].host = (char *)host;
        strata__v1__command__init(&cmds[k]);
        cmds[k].op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
        cmds[k].endpoint_add = &eps[k];
        cmds[k].client_id = 77;
        cmds[k].req_id = (uint64_t)i;
        cp[k] = &cmds[k];
    }
    Strata__V1__WriteBatchRequest wb = STRATA__V1__WRITE_BATCH_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    wb.n_cmds = (size_t)n;
    wb.cmds = cp;
    req.body_case = STRATA__V1__ENVELOPE__BODY_WRITE_BATCH;
    req.write_batch = &wb;
    strata_env *rep = NULL;
    struct strata_err e;
    if (strata_dirclient_call(DC, &req, 20000, &rep, &e) != 0)
        fail_msg("write batch: %s", e.msg);
    for (size_t k = 0; k < rep->write_batch_reply->n_results; k++)
        if (rep->write_batch_reply->results[k]->status != 0)
            fail_msg("write batch [%zu]: %s", k, rep->write_batch_reply->results[k]->message);
    strata_msg_free(rep);
    free(cp);
    free(cmds);
    free(eps);
    free(ipb);
    free(ips);
    free(macs);
}

static strata_env *resolve_x(void)
{
    uint8_t mac[6];
    td_mac(MAC_X, mac);
    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT, *qp = &q;
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    q.vni = TD_VNI;
    q.mac = (ProtobufCBinaryData){6, mac};
    rr.queries = &qp;
    rr.n_queries = 1;
    req.identity = (char *)"operator";
    req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    req.resolve = &rr;
    return td_call(CS_URL, &req, 5000);
}

/* The VTEP's last byte the csd gives for X (0: no answer), and the tier that answered. */
static int x_vtep(char *tier, size_t len)
{
    strata_env *r = resolve_x();
    int v = 0;
    if (r != NULL && r->resolve_reply->n_answers == 1 && r->resolve_reply->answers[0]->found) {
        const Strata__V1__Endpoint *ep = r->resolve_reply->answers[0]->endpoint;
        if (ep != NULL && ep->vtep.len == 4)
            v = ep->vtep.data[3];
        if (tier != NULL)
            snprintf(tier, len, "%s", r->resolve_reply->tier);
    }
    if (r != NULL)
        strata_msg_free(r);
    return v;
}

static double cs_metric(const char *name)
{
    char *t = h_http_get(CS_METRICS, "/metrics");
    double v = t != NULL ? h_metric(t, name) : -1;
    free(t);
    return v;
}

static bool csd_up(void *arg)
{
    (void)arg;
    return cs_metric("strata_cs_feed_index") >= 0;
}

struct want_x {
    int vtep;
    char tier[32];
};

static bool x_is(void *arg)
{
    struct want_x *w = arg;
    return x_vtep(w->tier, sizeof(w->tier)) == w->vtep && strcmp(w->tier, "cs-cache") == 0;
}

static bool feed_at(void *arg)
{
    return cs_metric("strata_cs_feed_index") >= (double)*(uint64_t *)arg;
}

static uint64_t applied_index(void)
{
    strata_env *r = td_status(C.node[0].api);
    assert_non_null(r);
    uint64_t a = r->cluster_status_reply->self->applied_index;
    strata_msg_free(r);
    return a;
}

static int setup(void **state)
{
    (void)state;
    td_init(&C, 1, "cs-feed-pages");
    td_start(&C, 0);
    assert_int_not_equal(td_wait_leader(&C, 20000), 0);
    DC = td_client_with_objects(&C); /* host h1 at 192.168.0.1 */
    subnet6_add();
    host_add("h2", 2);
    host_add(BIG_HOST, 9);
    endpoint_x("h1");

    snprintf(CS_LOG, sizeof(CS_LOG), "%s", C.node[0].log);
    snprintf(strrchr(CS_LOG, '/'), sizeof(CS_LOG) - (size_t)(strrchr(CS_LOG, '/') - CS_LOG),
             "/csd.log"); /* beside the node's log */
    CS_METRICS = h_free_port();
    char metrics[32];
    snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", CS_METRICS);
    const char *extra[] = {"--metrics", metrics, NULL};
    CSD = td_csd_start(C.node[0].api, CS_URL, sizeof(CS_URL), CS_LOG, extra);
    assert_true(h_wait_until(csd_up, NULL, 10000)); /* and its metrics */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (CSD > 0)
        h_stop(CSD, 10000);
    strata_dirclient_close(DC);
    td_stop(&C, 0);
    return 0;
}

/* Wait until the csd answers X from its cache at 192.168.0.<vtep>. */
static void cache_x_at(int vtep)
{
    struct want_x w = {.vtep = vtep};
    if (!h_wait_until(x_is, &w, 10000))
        fail_msg("X not cached at .%d (tier %s)", vtep, w.tier);
}

static void expect_x_moves_to(int vtep, const char *what)
{
    struct want_x w = {.vtep = vtep};
    uint64_t t0 = h_now_ms();
    if (!h_wait_until(x_is, &w, 15000))
        fail_msg("%s: after 15 s the csd still answers X at 192.168.0.%d (tier %s), want .%d; "
                 "feed_index %.0f of applied %llu, feed_gaps %.0f, feed_stalls %.0f (log %s)",
                 what, x_vtep(NULL, 0), w.tier, vtep, cs_metric("strata_cs_feed_index"),
                 (unsigned long long)applied_index(), cs_metric("strata_cs_feed_gaps_total"),
                 cs_metric("strata_cs_feed_stalls_total"), CS_LOG);
    fprintf(stderr, "%s: X at .%d after %llu ms, feed_gaps %.0f\n", what, vtep,
            (unsigned long long)(h_now_ms() - t0), cs_metric("strata_cs_feed_gaps_total"));
}

/* One index holding more changes than fit in a message. */
static void test_oversized_index_does_not_wedge(void **state)
{
    (void)state;
    for (int i = 0; i < BIG_EPS; i += BATCH)
        big_batch(MAC_BIG + i, BATCH, BIG_HOST);
    uint64_t a = applied_index();
    assert_true(h_wait_until(feed_at, &a, 15000));
    cache_x_at(1);
    uint64_t pre = applied_index();
    host_add(BIG_HOST, 10); /* re-points all BIG_EPS endpoints in one index */
    endpoint_x("h2");
    expect_x_moves_to(2, "after a re-IP of 12,000 endpoints");
    assert_int_equal((int)cs_metric("strata_cs_feed_stalled"), 0);
    /* The directory answers that index with a gap: no reply could hold it. */
    strata_env *r = td_feed(C.node[0].api, pre, 1024, 0);
    assert_non_null(r);
    assert_true(r->feed_reply->gap);
    assert_true(r->feed_reply->applied_index > pre);
    strata_msg_free(r);
}

/* A page cut by bytes before it has max changes: 500 changes, then an index of ~1.4 MB (a
 * re-IP of 3,000 endpoints), then X's move. The first page holds only the 500 and must not
 * claim the node's applied index (a consumer trusting it would skip the rest); the big index
 * goes alone (over the page budget, under the frame limit); nothing is resynchronised. */
static void test_byte_pages_skip_nothing(void **state)
{
    (void)state;
    int mac = MAC_BIG + 20000;
    host_add(MID_HOST, 20);
    for (int b = 0; b < 3; b++, mac += BATCH)
        big_batch(mac, BATCH, MID_HOST);
    uint64_t before = applied_index();
    assert_true(h_wait_until(feed_at, &before, 15000));
    cache_x_at(2);
    double gaps = cs_metric("strata_cs_feed_gaps_total");
    big_batch(mac, 500, MID_HOST);
    uint64_t small = applied_index();
    host_add(MID_HOST, 21); /* ~3,500 changes in one index: a page of its own */
    endpoint_x("h1");
    uint64_t last = applied_index();

    /* Read the pages as a consumer would. */
    size_t pages = 0;
    for (uint64_t after = before; after < last; pages++) {
        strata_env *r = td_feed(C.node[0].api, after, 1024, 0);
        assert_non_null(r);
        const Strata__V1__FeedReply *fr = r->feed_reply;
        assert_false(fr->gap);
        assert_true(fr->n_changes > 0);
        size_t bytes = strata__v1__feed_reply__get_packed_size(fr);
        uint64_t first = fr->changes[0]->index, top = fr->changes[fr->n_changes - 1]->index;
        fprintf(stderr,
                "page after %llu: %zu changes, %zu bytes, indexes %llu..%llu, applied %llu\n",
                (unsigned long long)after, fr->n_changes, bytes, (unsigned long long)first,
                (unsigned long long)top, (unsigned long long)fr->applied_index);
        assert_true(first > after);
        assert_true(bytes < STRATA_MSG_MAX);
        if (first != top)
            assert_true(bytes <= (1u << 20)); /* only a page of one index exceeds the budget */
        if (top < last)
            assert_int_equal(fr->applied_index, top); /* cut short: claims only what it holds */
        if (after == before)
            assert_int_equal(top, small); /* the big index does not fit with the small one */
        after = top > fr->applied_index ? top : fr->applied_index;
        strata_msg_free(r);
    }
    assert_true(pages >= 3);

    expect_x_moves_to(1, "after a page cut by bytes");
    assert_true(cs_metric("strata_cs_feed_gaps_total") == gaps); /* paged, not resynchronised */
}

static bool stalled_is(void *arg)
{
    return cs_metric("strata_cs_feed_stalled") == *(double *)arg;
}

/* A feed that cannot make progress (the directory node hangs: SIGSTOP) is declared stalled
 * within seconds: an error logged once, counted, and the cache flushed, so the csd stops
 * answering from what it can no longer prove current. It recovers when the node does. */
static void test_stalled_feed_stops_serving_the_cache(void **state)
{
    (void)state;
    cache_x_at(1);
    assert_int_equal((int)cs_metric("strata_cs_feed_stalls_total"), 0);
    assert_true(kill(C.node[0].pid, SIGSTOP) == 0);
    double one = 1, zero = 0;
    uint64_t t0 = h_now_ms();
    bool stalled = h_wait_until(stalled_is, &one, 20000);
    uint64_t took = h_now_ms() - t0;
    char tier[32] = "";
    int vtep = stalled ? x_vtep(tier, sizeof(tier)) : -1;
    assert_true(kill(C.node[0].pid, SIGCONT) == 0);
    assert_true(stalled);
    fprintf(stderr, "stalled after %llu ms; X then: vtep .%d tier '%s'\n", (unsigned long long)took,
            vtep, tier);
    assert_true(took >= CS_STALL_MIN_MS);
    assert_int_equal((int)cs_metric("strata_cs_feed_stalls_total"), 1);
    assert_int_equal(td_log_count(CS_LOG, "feed: no progress after index"), 1);
    assert_int_equal(vtep, 0); /* not answered from the flushed cache */
    assert_true(h_wait_until(stalled_is, &zero, 15000));
    cache_x_at(1);
    assert_int_equal((int)cs_metric("strata_cs_feed_stalls_total"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oversized_index_does_not_wedge),
        cmocka_unit_test(test_byte_pages_skip_nothing),
        cmocka_unit_test(test_stalled_feed_stops_serving_the_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
