/* test_dir_tls_raft.c - a 3-node strata-dird cluster with TLS: the API on tls+tcp:// and Raft
 * over TLS between directory certificates (docs/directory.md, "Raft over TLS").
 *
 * 1. It elects a leader, replicates writes made through the leader (read back at every node),
 *    survives a kill -9 of the leader, and the killed node catches up after a restart.
 * 2. Nothing but a directory node speaking for its own id gets a Raft message through. Every
 *    probe below opens a connection to node 1's Raft port and sends a RequestVote of a term far
 *    above the cluster's (with the flag that lets it disrupt a leader) after the claim of a node
 *    id: had it reached libraft, node 1's term would jump. Probes: an agent's, an operator's and
 *    a connectivity server's certificates of the same CA; a directory certificate of another CA;
 *    plaintext TCP (libraft's own handshake); directory 2 claiming to be node 3. Each is
 *    refused, counted by cause on /metrics and logged once per cause. Last, the same bytes
 *    from directory 3 as itself do move the term (the probe would have shown a leak), and the
 *    cluster settles again. */
#include "h_pki.h"
#include "h_tls.h"
#include "h_tls_probe.h"
#include "test_dir_common.h"
#include "tls.h"

static struct td_cluster C;
static char OTHER[256];
static struct strata_tls *op, *agent, *conn_srv, *other2, *dir2, *dir3;

#define N_WRITES 200

static int setup(void **state)
{
    (void)state;
    h_tls_force(true);
    h_tls_operator(); /* the test's API clients are an operator */
    op = strata_tls_default();
    agent = h_tls_ctx("agent", "h1");
    conn_srv = h_tls_ctx("connectivity", "cs1");
    dir2 = h_tls_ctx("directory", "2");
    dir3 = h_tls_ctx("directory", "3");
    snprintf(OTHER, sizeof(OTHER), "%s", h_tmpdir("dir-tls-other-ca"));
    if (h_pki_ca(OTHER, "Strata CA") != 0 || h_pki_issue(OTHER, "directory", "2", "127.0.0.1") != 0)
        return -1;
    other2 = h_pki_tls(OTHER, "2");
    return other2 != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < TD_MAX_NODES; i++)
        if (C.node[i].pid > 0)
            td_stop(&C, i);
    struct strata_tls *all[] = {agent, conn_srv, dir2, dir3, other2}; /* op is the harness's */
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        strata_tls_free(all[i]);
    return 0;
}

/* ---------------------------------------------------------------- replication and failover */

static bool acked[2 * N_WRITES];
static uint64_t max_index;

/* Endpoints [from, to) through a client whose first URL is node `first`'s. */
static void write_range(int first, int from, int to)
{
    char urls[512];
    struct strata_dirclient *dc;
    struct strata_err e;
    td_urls(&C, first, urls, sizeof(urls));
    if (strata_dirclient_open(urls, &dc, &e) != 0)
        fail_msg("dirclient %s: %s", urls, e.msg);
    for (int i = from; i < to; i++) {
        uint64_t idx = 0;
        if (td_endpoint_add(dc, i, &idx, &e) != 0)
            fail_msg("endpoint %d: %s", i, e.msg);
        acked[i] = true;
        if (idx > max_index)
            max_index = idx;
    }
    strata_dirclient_close(dc);
}

struct caught_up {
    int node, n;
};

static bool caught_up_pred(void *arg)
{
    struct caught_up *c = arg;
    strata_env *rep = td_list(C.node[c->node].api, max_index);
    if (rep == NULL)
        return false;
    bool ok = rep->list_reply->applied_index >= max_index && td_list_has(rep, acked, c->n);
    strata_msg_free(rep);
    return ok;
}

static void expect_all_at(int node, int n)
{
    struct caught_up c = {node, n};
    if (!h_wait_until(caught_up_pred, &c, 15000))
        fail_msg("node %d does not list the %d endpoints at index %llu (log %s)", C.node[node].id,
                 n, (unsigned long long)max_index, C.node[node].log);
}

static double metric(int node, const char *name)
{
    char *text = h_http_get(C.node[node].metrics_port, "/metrics");
    if (text == NULL)
        return -1;
    double v = h_metric(text, name);
    free(text);
    return v;
}

static void test_tls_cluster(void **state)
{
    (void)state;
    td_init(&C, 3, "dir-tls");
    for (int i = 0; i < 3; i++) {
        C.node[i].metrics_port = h_free_port();
        td_start(&C, i);
    }
    int leader = td_wait_leader(&C, 15000);
    assert_true(leader > 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(td_log_count(C.node[i].log, "transport=tls"), 1);

    int li = td_index_of(&C, leader);
    strata_dirclient_close(td_client_with_objects(&C));
    write_range(li, 0, N_WRITES);
    for (int i = 0; i < 3; i++)
        expect_all_at(i, N_WRITES);
    for (int i = 0; i < 3; i++) {
        assert_true(metric(i, "strata_dird_raft_tls_connections_total") >= 2);
        assert_true(metric(i, "strata_dird_raft_tls_refused_handshake_total") == 0);
        assert_true(metric(i, "strata_dird_raft_tls_refused_identity_total") == 0);
    }

    /* kill -9 the leader: the two others elect one over TLS and take writes */
    td_kill9(&C, li);
    int leader2 = td_wait_leader(&C, 15000);
    assert_true(leader2 > 0 && leader2 != leader);
    write_range(td_index_of(&C, leader2), N_WRITES, 2 * N_WRITES);
    for (int i = 0; i < 3; i++)
        if (i != li)
            expect_all_at(i, 2 * N_WRITES);

    /* the old leader comes back on its data dir and catches up */
    td_start(&C, li);
    expect_all_at(li, 2 * N_WRITES);
    assert_true(td_wait_leader(&C, 15000) > 0);
}

/* ---------------------------------------------------------------- refusals */

/* Probe bytes: a claim of node `id` at `addr` (our preamble, or libraft's stock handshake when
 * stock), then a RequestVote of term `term` that may disrupt a leader. Returns the length. */
static size_t probe_bytes(uint8_t *buf, bool stock, uint64_t id, const char *addr, uint64_t term)
{
    size_t n = 0;
    if (stock) { /* libraft 0.15: protocol 1, id, address length (padded to 8), address */
        uint64_t hdr[3] = {1, id, 24};
        memcpy(buf, hdr, sizeof(hdr)); /* little-endian hosts only, as libraft's encoding */
        memset(buf + 24, 0, 24);
        memcpy(buf + 24, addr, strlen(addr));
        n = 48;
    } else {
        size_t alen = strlen(addr);
        memcpy(buf, "SRFT\x00\x01", 6); /* docs/directory.md: the preamble, by hand */
        for (int i = 0; i < 8; i++)
            buf[6 + i] = (uint8_t)(id >> (56 - 8 * i));
        buf[14] = (uint8_t)alen;
        memcpy(buf + 15, addr, alen);
        n = 15 + alen;
    }
    /* libraft's RequestVote: type 3, header of 40 bytes, term, candidate, last index, last
     * term, flags (1: disrupt the leader) */
    uint64_t rv[7] = {3, 40, term, id, 0, 0, 1};
    memcpy(buf + n, rv, sizeof(rv));
    return n + sizeof(rv);
}

/* Probe node 1's Raft port; the node must hang up without an answer. */
static void probe(struct strata_tls *tls, bool stock, uint64_t id, uint64_t term)
{
    uint8_t buf[256];
    struct h_tls_probe p = {.tls = tls};
    p.port = atoi(strrchr(C.node[0].raft, ':') + 1);
    p.send = buf;
    p.send_len = probe_bytes(buf, stock, id, id == 3 ? C.node[2].raft : C.node[1].raft, term);
    h_tls_probe_run(&p);
    if (!p.closed)
        fail_msg("node 1 kept the connection: %s", p.err);
    assert_int_equal(p.got_len, 0); /* no ack, no Raft answer */
}

struct term_at_least {
    uint64_t term;
};

static bool term_at_least_pred(void *arg)
{
    const struct term_at_least *t = arg;
    return metric(0, "strata_dird_term") >= (double)t->term;
}

/* What node 1 counted and logged per cause, before and after the probes: a connection caught
 * mid-handshake by the kill -9 above may have been counted and logged already. */
struct refused_want {
    const char *name, *line;
    double n;  /* more refusals */
    int lines; /* more lines (rate-limited: at most one per cause) */
    double before;
    int lines_before;
};

static void test_refusals(void **state)
{
    (void)state;
    assert_true(td_wait_leader(&C, 15000) > 0);
    double term0 = metric(0, "strata_dird_term");
    assert_true(term0 > 0);
    uint64_t bad_term = (uint64_t)term0 + 1000;
    const char *log = C.node[0].log;
    struct refused_want want[] = {
        {"strata_dird_raft_tls_refused_role_total", "(role)", 3, 1, 0, 0},
        {"strata_dird_raft_tls_refused_handshake_total", "(handshake)", 2, 1, 0, 0},
        {"strata_dird_raft_tls_refused_identity_total", "(identity)", 1, 1, 0, 0},
        {"strata_dird_raft_tls_refused_preamble_total", "(preamble)", 0, 0, 0, 0},
    };
    const size_t n_want = sizeof(want) / sizeof(want[0]);
    for (size_t i = 0; i < n_want; i++) {
        want[i].before = metric(0, want[i].name);
        want[i].lines_before = td_log_count(log, want[i].line);
    }
    probe(agent, false, 2, bad_term);
    probe(op, false, 2, bad_term);
    probe(conn_srv, false, 2, bad_term);
    probe(other2, false, 2, bad_term);
    probe(NULL, true, 2, bad_term);
    probe(dir2, false, 3, bad_term); /* a directory node impersonating another */
    for (size_t i = 0; i < n_want; i++) {
        double now = metric(0, want[i].name);
        int lines = td_log_count(log, want[i].line) - want[i].lines_before;
        if (now - want[i].before != want[i].n)
            fail_msg("%s went from %g to %g, want %g more", want[i].name, want[i].before, now,
                     want[i].n);
        /* one line per cause (rate-limited); none when one was logged in the last 10 s */
        if (lines > want[i].lines || (lines == 0 && want[i].lines_before == 0 && want[i].n > 0))
            fail_msg("%d more lines with %s, want %d", lines, want[i].line, want[i].lines);
    }
    double term1 = metric(0, "strata_dird_term");
    if (term1 >= (double)bad_term)
        fail_msg("a refused connection's RequestVote reached Raft: term %g -> %g", term0, term1);
    /* naming who was turned away and why */
    assert_int_equal(td_log_count(log, "(role): TLS: agent h1 may not connect here"), 1);
    assert_int_equal(td_log_count(log, "(identity): directory '2' claims to be node 3"), 1);
    /* the cluster did not notice */
    assert_true(td_wait_leader(&C, 5000) > 0);

    /* The control: directory 3 as itself, the same bytes. The term moves (the vote itself is
     * refused: its log is empty), so the probes above would have shown a leak. */
    uint8_t buf[256];
    struct h_tls_probe p = {.tls = dir3, .send = buf, .then_after = 6}; /* close after the ack */
    p.port = atoi(strrchr(C.node[0].raft, ':') + 1);
    p.send_len = probe_bytes(buf, false, 3, C.node[2].raft, bad_term);
    h_tls_probe_run(&p);
    assert_true(p.ready);
    assert_int_equal(p.got_len, 6);
    assert_true(metric(0, "strata_dird_raft_tls_refused_identity_total") == want[2].before + 1);
    struct term_at_least t = {bad_term};
    if (!h_wait_until(term_at_least_pred, &t, 5000))
        fail_msg("the control probe did not reach Raft: term %g (probe term %llu)",
                 metric(0, "strata_dird_term"), (unsigned long long)bad_term);
    assert_true(td_wait_leader(&C, 20000) > 0); /* and the cluster settles at the new term */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_cluster),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
