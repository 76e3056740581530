/* test_dird_tls_raft.c - libraft over Raft over TLS: two raft_io instances exchanging messages
 * both ways over dird_tls_transport.c (whole, in order, from the node the certificate names, with
 * the address it claimed), and the ends of the streams libraft accepts, which the transport feeds
 * directly (a peer's close reaches libraft as EOF; libraft refusing a message closes the TCP
 * connection; nothing stays open). */
#include "test_dird_tls_fixture.h"

/* ------------------------------------------------------------------ libraft over it */

#define N_MSGS 40
#define BIG_LEN (200 * 1024)

struct peer {
    struct dird_tls_transport tp;
    struct raft_io io;
    char addr[32];
};

struct net {
    struct peer p[2];
    int received[2], bad, sent, send_errors, closed;
};

static size_t msg_len(int i)
{
    return i == N_MSGS / 2 ? BIG_LEN : 1 + (size_t)i * 37;
}

static uint8_t msg_byte(int i, size_t j)
{
    return (uint8_t)(i * 31 + j * 7);
}

static struct net *net_of(struct raft_io *io)
{
    return io->data;
}

static void net_recv(struct raft_io *io, struct raft_message *m)
{
    struct net *n = net_of(io);
    int k = io == &n->p[0].io ? 0 : 1;
    if (m->type != RAFT_IO_APPEND_ENTRIES || m->append_entries.n_entries != 1 ||
        m->server_id != (raft_id)(2 - k)) {
        n->bad++;
        return;
    }
    int i = n->received[k]++;
    const struct raft_entry *e = &m->append_entries.entries[0];
    bool ok = m->append_entries.term == (raft_term)i + 1 && e->buf.len == msg_len(i) &&
              strcmp(m->server_address, n->p[1 - k].addr) == 0;
    for (size_t j = 0; ok && j < e->buf.len; j++)
        ok = ((const uint8_t *)e->buf.base)[j] == msg_byte(i, j);
    if (!ok)
        n->bad++;
    raft_free(e->batch);
    raft_free(m->append_entries.entries);
}

static void net_tick(struct raft_io *io)
{
    (void)io;
}

static void net_sent(struct raft_io_send *req, int status)
{
    struct net *n = req->data;
    n->sent++;
    if (status != 0)
        n->send_errors++;
    free(req);
}

static void net_closed(struct raft_io *io)
{
    net_of(io)->closed++;
}

static void peer_start(struct net *n, int k, struct strata_tls *tls)
{
    struct peer *p = &n->p[k];
    snprintf(p->addr, sizeof(p->addr), "127.0.0.1:%d", h_free_port());
    assert_int_equal(dird_tls_transport_init(&p->tp, &loop, tls), 0);
    assert_int_equal(raft_uv_init(&p->io, &loop, h_tmpdir("tls-raft"), &p->tp.raft), 0);
    p->io.data = n;
    assert_int_equal(p->io.init(&p->io, (raft_id)k + 1, p->addr), 0);
    assert_int_equal(p->io.start(&p->io, 100, net_tick, net_recv), 0);
}

static void send_all(struct net *n, int from, struct raft_entry *entries)
{
    int to = 1 - from;
    for (int i = 0; i < N_MSGS; i++) {
        struct raft_message m = {0};
        m.type = RAFT_IO_APPEND_ENTRIES;
        m.server_id = (raft_id)to + 1;
        m.server_address = n->p[to].addr;
        m.append_entries.term = (raft_term)i + 1;
        m.append_entries.entries = &entries[i];
        m.append_entries.n_entries = 1;
        struct raft_io_send *req = calloc(1, sizeof(*req));
        assert_non_null(req);
        req->data = n;
        assert_int_equal(n->p[from].io.send(&n->p[from].io, req, &m, net_sent), 0);
    }
}

/* Messages both ways, back to back, one of 200 KiB: whole, in order, from the right node. */
static void test_raft_messages(void **state)
{
    (void)state;
    loop_setup();
    struct net *n = calloc(1, sizeof(*n));
    assert_non_null(n);
    peer_start(n, 0, P.dir1);
    peer_start(n, 1, P.dir2);
    static struct raft_entry entries[N_MSGS];
    for (int i = 0; i < N_MSGS; i++) {
        entries[i].term = 1;
        entries[i].type = RAFT_COMMAND;
        entries[i].buf.len = msg_len(i);
        entries[i].buf.base = raft_malloc(entries[i].buf.len);
        assert_non_null(entries[i].buf.base);
        for (size_t j = 0; j < entries[i].buf.len; j++)
            ((uint8_t *)entries[i].buf.base)[j] = msg_byte(i, j);
    }
    send_all(n, 0, entries);
    send_all(n, 1, entries);
    run_until(&n->received[1], N_MSGS, 10000);
    run_until(&n->received[0], N_MSGS, 10000);
    run_until(&n->sent, 2 * N_MSGS, 10000);
    assert_int_equal(n->received[0], N_MSGS);
    assert_int_equal(n->received[1], N_MSGS);
    assert_int_equal(n->bad, 0);
    assert_int_equal(n->send_errors, 0);
    assert_int_equal(n->p[0].tp.established, 2); /* its dial and its accept */
    assert_int_equal(n->p[1].tp.established, 2);

    for (int k = 0; k < 2; k++)
        n->p[k].io.close(&n->p[k].io, net_closed);
    run_until(&n->closed, 2, 10000);
    assert_int_equal(n->closed, 2);
    for (int k = 0; k < 2; k++)
        raft_uv_close(&n->p[k].io);
    for (int i = 0; i < N_MSGS; i++)
        raft_free(entries[i].buf.base);
    free(n);
    loop_teardown();
}

/* libraft's end of an accepted connection is fed directly (dird_tls_conn.c, tc_feed_start):
 * a peer's message reaches libraft and the peer's close shows as EOF, libraft closing its end on
 * a bad message closes the TCP connection, and nothing is left open or touched after. */
static int one_recv;

static void one_recv_cb(struct raft_io *io, struct raft_message *m)
{
    (void)io;
    if (m->type == RAFT_IO_REQUEST_VOTE && m->server_id == 2 && m->request_vote.term == 5 &&
        strcmp(m->server_address, "127.0.0.1:27002") == 0)
        one_recv++;
}

static void one_closed(struct raft_io *io)
{
    (*(int *)io->data)++;
}

static void count_pipe(uv_handle_t *h, void *arg)
{
    if (h->type == UV_NAMED_PIPE && !uv_is_closing(h))
        (*(int *)arg)++;
}

/* Socketpair ends still open on the loop, ours and libraft's. */
static int open_pipes(void)
{
    int n = 0;
    uv_walk(&loop, count_pipe, &n);
    return n;
}

static size_t request_vote(uint8_t *buf, uint64_t term, uint64_t candidate)
{
    size_t n = preamble(buf, candidate, "127.0.0.1:27002");
    uint64_t rv[7] = {3, 40, term, candidate, 0, 0, 0}; /* libraft's encoding (little endian) */
    memcpy(buf + n, rv, sizeof(rv));
    return n + sizeof(rv);
}

static void test_raft_stream_ends(void **state)
{
    (void)state;
    loop_setup();
    struct dird_tls_transport tp;
    struct raft_io io;
    int closed = 0;
    char addr[32];
    int port = h_free_port();
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_int_equal(dird_tls_transport_init(&tp, &loop, P.dir1), 0);
    assert_int_equal(raft_uv_init(&io, &loop, h_tmpdir("tls-raft-one"), &tp.raft), 0);
    io.data = &closed;
    assert_int_equal(io.init(&io, 1, addr), 0);
    assert_int_equal(io.start(&io, 100, net_tick, one_recv_cb), 0);
    one_recv = 0;

    /* a message, then the peer hangs up: delivered, then EOF, and every handle goes */
    uint8_t buf[128];
    struct raw r = {.p = {.tls = P.dir2, .send = buf, .then_after = DIRD_TLS_ACK_LEN}};
    r.p.send_len = request_vote(buf, 5, 2);
    struct node n = {.port = port};
    raw_run(&r, &n);
    assert_int_equal(r.p.got_len, DIRD_TLS_ACK_LEN);
    run_until(&one_recv, 1, 5000);
    assert_int_equal(one_recv, 1);
    run_for(50);
    assert_null(tp.conns);
    assert_int_equal(open_pipes(), 0); /* libraft saw the EOF and closed its end */

    /* a message libraft cannot take (a header of length 0): it closes its end, we the TCP */
    struct raw bad = {.p = {.tls = P.dir2, .send = buf}};
    bad.p.send_len = preamble(buf, 2, "127.0.0.1:27002");
    memcpy(buf + bad.p.send_len, (const uint64_t[]){1, 0}, 16);
    bad.p.send_len += 16;
    raw_run(&bad, &n);
    assert_true(bad.p.closed); /* (before our ack went out, even) */
    run_for(50);
    assert_null(tp.conns);
    assert_int_equal(open_pipes(), 0);
    assert_int_equal(one_recv, 1);
    assert_int_equal(tp.established, 2);

    io.close(&io, one_closed);
    run_until(&closed, 1, 5000);
    assert_int_equal(closed, 1);
    raft_uv_close(&io);
    loop_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raft_messages),
        cmocka_unit_test(test_raft_stream_ends),
    };
    return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
