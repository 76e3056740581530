/* test_dird_tls_transport.c - Raft over TLS (dird_tls_transport.h), the transport alone.
 *
 * The preamble's decoder on hand-made bytes; then transports on one libuv loop with certificates
 * of a test CA: what reaches the accept callback and what is refused, and why (a raw client on a
 * thread plays the peer: an agent's or an operator's certificate, another CA's, no TLS at all, a
 * directory claiming another node's id, a bad preamble, silence); a dial answered by the wrong
 * node; closing with connections open; backpressure (a reader that does not read holds the
 * memory of both ends to the cap). libraft over it: test_dird_tls_raft.c. */
#include "test_dird_tls_fixture.h"

/* ------------------------------------------------------------------ the preamble */

static void test_preamble_roundtrip(void **state)
{
    (void)state;
    uint8_t buf[DIRD_TLS_PREAMBLE_MAX + 8];
    size_t n = dird_tls_preamble_encode(buf, 258, "10.1.2.3:27001");
    assert_int_equal(n, DIRD_TLS_PREAMBLE_MIN + 14);
    raft_id id = 0;
    char addr[DIRD_TLS_ADDR_MAX + 1];
    size_t used = 0;
    struct strata_err e;
    for (size_t k = 0; k < n; k++) /* every prefix asks for more */
        assert_int_equal(dird_tls_preamble_decode(buf, k, &used, &id, addr, &e), DIRD_TLS_MORE);
    memcpy(buf + n, "raft", 4); /* what follows is not the preamble's */
    assert_int_equal(dird_tls_preamble_decode(buf, n + 4, &used, &id, addr, &e), 0);
    assert_int_equal(used, n);
    assert_int_equal(id, 258);
    assert_string_equal(addr, "10.1.2.3:27001");
    assert_int_equal(dird_tls_preamble_encode(buf, 1, "255.255.255.255:655350"), 0);
}

static void expect_bad(const uint8_t *buf, size_t len, const char *why)
{
    raft_id id = 0;
    char addr[DIRD_TLS_ADDR_MAX + 1];
    size_t used = 0;
    struct strata_err e = {0};
    assert_int_equal(dird_tls_preamble_decode(buf, len, &used, &id, addr, &e), STRATA_EPROTO);
    if (strstr(e.msg, why) == NULL)
        fail_msg("'%s' does not say '%s'", e.msg, why);
}

static void test_preamble_malformed(void **state)
{
    (void)state;
    uint8_t good[DIRD_TLS_PREAMBLE_MAX], b[DIRD_TLS_PREAMBLE_MAX];
    size_t n = dird_tls_preamble_encode(good, 2, "127.0.0.1:27002");
    expect_bad((const uint8_t *)"SRX", 3, "not a Strata"); /* judged from the first bytes */
    expect_bad((const uint8_t *)"\x00\x00\x00\x00\x00\x00\x00\x01", 8, "not a Strata");
    memcpy(b, good, n);
    b[5] = 2;
    expect_bad(b, 6, "version 2");
    memcpy(b, good, n);
    memset(b + 6, 0, 8);
    expect_bad(b, n, "node id 0");
    memcpy(b, good, n);
    b[14] = DIRD_TLS_ADDR_MAX + 1; /* oversized: refused before it is all in */
    expect_bad(b, DIRD_TLS_PREAMBLE_MIN, "address of 22 bytes");
    b[14] = 0;
    expect_bad(b, DIRD_TLS_PREAMBLE_MIN, "address of 0 bytes");
    n = dird_tls_preamble_encode(b, 2, "localhost:27002");
    expect_bad(b, n, "not IPv4");
    n = dird_tls_preamble_encode(b, 2, "127.0.0.1:99999");
    expect_bad(b, n, "not IPv4");
    n = dird_tls_preamble_encode(b, 2, "127.0.0.1:2700");
    b[DIRD_TLS_PREAMBLE_MIN + 3] = '\0'; /* "127\0..." */
    expect_bad(b, n, "not IPv4");
}

static void test_name_is_id(void **state)
{
    (void)state;
    assert_true(dird_tls_name_is_id("2", 2));
    assert_true(dird_tls_name_is_id("18446744073709551615", UINT64_MAX));
    assert_false(dird_tls_name_is_id("02", 2));
    assert_false(dird_tls_name_is_id("2 ", 2));
    assert_false(dird_tls_name_is_id("3", 2));
    assert_false(dird_tls_name_is_id("0", 0));
    assert_false(dird_tls_name_is_id("", 2));
}

/* A peer with `tls` saying `pre` is refused for `why`, and nothing reaches libraft. */
static void expect_refused(struct strata_tls *tls, const uint8_t *pre, size_t len,
                           enum dird_tls_refusal why)
{
    loop_setup();
    struct node n;
    node_start(&n, P.dir1, 1);
    struct raw r = {.p = {.tls = tls, .send = pre, .send_len = len}};
    raw_run(&r, &n);
    assert_true(r.p.closed);
    assert_int_equal(r.p.got_len, 0); /* no ack */
    for (int k = 0; k < DIRD_TLS_REFUSED_N; k++)
        if (n.t.refused[k] != (k == (int)why))
            fail_msg("refused[%s] = %llu (want one %s refusal)", dird_tls_refusal_name(k),
                     (unsigned long long)n.t.refused[k], dird_tls_refusal_name(why));
    assert_int_equal(n.accepted, 0);
    assert_int_equal(n.t.established, 0);
    assert_int_equal(n.t.pending, 0);
    node_stop(&n);
    loop_teardown();
}

static void test_refuse_agent(void **state)
{
    (void)state;
    uint8_t pre[DIRD_TLS_PREAMBLE_MAX];
    expect_refused(P.agent, pre, preamble(pre, 2, "127.0.0.1:27002"), DIRD_TLS_REFUSED_ROLE);
}

static void test_refuse_operator(void **state)
{
    (void)state;
    uint8_t pre[DIRD_TLS_PREAMBLE_MAX];
    expect_refused(P.op, pre, preamble(pre, 2, "127.0.0.1:27002"), DIRD_TLS_REFUSED_ROLE);
}

static void test_refuse_other_ca(void **state)
{
    (void)state;
    uint8_t pre[DIRD_TLS_PREAMBLE_MAX];
    expect_refused(P.other2, pre, preamble(pre, 2, "127.0.0.1:27002"), DIRD_TLS_REFUSED_HANDSHAKE);
}

/* libraft's stock handshake, in the clear: what a plaintext node would send. */
static void test_refuse_plaintext(void **state)
{
    (void)state;
    uint8_t stock[40] = {1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 16};
    memcpy(stock + 24, "127.0.0.1:27002", 15);
    expect_refused(NULL, stock, sizeof(stock), DIRD_TLS_REFUSED_HANDSHAKE);
}

/* Directory 2 claiming to be node 3: the identity binding. */
static void test_refuse_impersonation(void **state)
{
    (void)state;
    uint8_t pre[DIRD_TLS_PREAMBLE_MAX];
    expect_refused(P.dir2, pre, preamble(pre, 3, "127.0.0.1:27003"), DIRD_TLS_REFUSED_IDENTITY);
}

static void test_refuse_bad_preamble(void **state)
{
    (void)state;
    uint8_t pre[DIRD_TLS_PREAMBLE_MAX];
    size_t n = preamble(pre, 2, "127.0.0.1:27002");
    pre[14] = 200; /* an address length past the bound */
    expect_refused(P.dir2, pre, n, DIRD_TLS_REFUSED_PREAMBLE);
}

/* A peer that connects and says nothing is dropped at the deadline. */
static void test_refuse_silent(void **state)
{
    (void)state;
    loop_setup();
    struct node n;
    node_start(&n, P.dir1, 1);
    n.t.handshake_ms = 300;
    struct raw r = {.p = {.tls = NULL, .send_len = 0}};
    uint64_t t0 = h_now_ms();
    raw_run(&r, &n);
    assert_true(r.p.closed);
    assert_true(h_now_ms() - t0 < 3000);
    assert_int_equal(n.t.refused[DIRD_TLS_REFUSED_TIMEOUT], 1);
    assert_int_equal(n.accepted, 0);
    node_stop(&n);
    loop_teardown();
}

/* The read side of an accepted stream: collect until EOF. */
struct sink {
    uint8_t *buf;
    size_t len, cap;
    bool eof;
};

static void sink_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    static char scratch[64 << 10];
    (void)suggested;
    *b = uv_buf_init(scratch, sizeof(scratch));
}

static void sink_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct sink *k = s->data;
    if (n < 0) {
        k->eof = true;
        uv_read_stop(s);
        return;
    }
    if (k->len + (size_t)n > k->cap) {
        k->cap = (k->len + (size_t)n) * 2;
        k->buf = realloc(k->buf, k->cap);
        assert_non_null(k->buf);
    }
    memcpy(k->buf + k->len, b->base, (size_t)n);
    k->len += (size_t)n;
}

/* Directory 2 as itself: accepted with the id and address it claims, acked, and what it sends
 * then reaches the stream libraft was given, followed by EOF when it closes. */
static void test_accept_directory(void **state)
{
    (void)state;
    loop_setup();
    struct node n;
    node_start(&n, P.dir1, 1);
    uint8_t pre[DIRD_TLS_PREAMBLE_MAX];
    const char *raft_bytes = "AppendEntries, say";
    struct raw r = {.p = {.tls = P.dir2,
                          .send = pre,
                          .send_len = preamble(pre, 2, "127.0.0.1:27002"),
                          .then = (const uint8_t *)raft_bytes,
                          .then_len = strlen(raft_bytes),
                          .then_after = DIRD_TLS_ACK_LEN}};
    raw_run(&r, &n);
    assert_true(r.p.ready);
    assert_int_equal(r.p.got_len, DIRD_TLS_ACK_LEN);
    assert_memory_equal(r.p.got, "SRFA\x00\x01", DIRD_TLS_ACK_LEN);
    assert_int_equal(n.accepted, 1);
    assert_int_equal(n.acc_id, 2);
    assert_string_equal(n.acc_addr, "127.0.0.1:27002");
    assert_int_equal(n.t.established, 1);
    for (int k = 0; k < DIRD_TLS_REFUSED_N; k++)
        assert_int_equal(n.t.refused[k], 0);
    struct sink k = {0};
    n.acc_stream->data = &k;
    assert_int_equal(uv_read_start(n.acc_stream, sink_alloc, sink_read), 0);
    uint64_t deadline = h_now_ms() + 5000;
    while (!k.eof && h_now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    assert_true(k.eof); /* the peer closed TCP: libraft sees EOF */
    assert_int_equal(k.len, strlen(raft_bytes));
    assert_memory_equal(k.buf, raft_bytes, k.len);
    free(k.buf);
    node_stop(&n);
    loop_teardown();
}

/* ------------------------------------------------------------------ dialling */

struct dial {
    struct raft_uv_connect req;
    int done, status;
    uv_stream_t *stream;
};

static void dial_cb(struct raft_uv_connect *req, uv_stream_t *s, int status)
{
    struct dial *d = req->data;
    d->done++;
    d->status = status;
    d->stream = s;
}

static void dial(struct node *from, struct dial *d, raft_id id, const char *addr)
{
    memset(d, 0, sizeof(*d));
    d->req.data = d;
    assert_int_equal(from->t.raft.connect(&from->t.raft, &d->req, id, addr, dial_cb), 0);
}

/* Node 1 dials node 3 but the address answers with directory 2's certificate: refused by the
 * dialler; the acceptor never hands anything to libraft. */
static void test_dial_wrong_node(void **state)
{
    (void)state;
    loop_setup();
    struct node n1, n2;
    node_start(&n1, P.dir1, 1);
    node_start(&n2, P.dir2, 2);
    struct dial d;
    dial(&n1, &d, 3, n2.addr);
    run_until(&d.done, 1, 5000);
    assert_int_equal(d.done, 1);
    assert_int_equal(d.status, RAFT_NOCONNECTION);
    assert_null(d.stream);
    assert_int_equal(n1.t.refused[DIRD_TLS_REFUSED_IDENTITY], 1);
    run_for(50);
    assert_int_equal(n2.accepted, 0);
    /* the right id gets through, and the acceptor learns who dialled */
    dial(&n1, &d, 2, n2.addr);
    run_until(&d.done, 1, 5000);
    assert_int_equal(d.status, 0);
    run_until(&n2.accepted, 1, 5000);
    assert_int_equal(n2.acc_id, 1);
    assert_string_equal(n2.acc_addr, n1.addr);
    uv_close((uv_handle_t *)d.stream, free_stream);
    node_stop(&n1);
    node_stop(&n2);
    loop_teardown();
}

/* Closing a transport answers the dials it still has (RAFT_CANCELED), closes the connections
 * it handed off, and calls back once, after all of it. */
static void test_close_with_connections(void **state)
{
    (void)state;
    loop_setup();
    struct node n1, n2;
    node_start(&n1, P.dir1, 1);
    node_start(&n2, P.dir2, 2);
    struct dial up, hanging;
    dial(&n1, &up, 2, n2.addr);
    run_until(&up.done, 1, 5000);
    run_until(&n2.accepted, 1, 5000);
    assert_int_equal(up.status, 0);
    /* a dial to a peer that never answers the handshake: a bare listening socket */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int port = h_free_port();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    dial(&n1, &hanging, 3, addr);
    run_for(50);
    assert_int_equal(hanging.done, 0);
    struct sink k = {0};
    n2.acc_stream->data = &k;
    uv_read_start(n2.acc_stream, sink_alloc, sink_read);
    n1.t.raft.close(&n1.t.raft, node_closed);
    run_until(&n1.closed, 1, 5000);
    assert_int_equal(n1.closed, 1);
    assert_int_equal(hanging.done, 1);
    assert_int_equal(hanging.status, RAFT_CANCELED);
    /* the acceptor's libraft side sees the end of the connection */
    uint64_t deadline = h_now_ms() + 5000;
    while (!k.eof && h_now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    assert_true(k.eof);
    uv_close((uv_handle_t *)up.stream, free_stream);
    node_stop(&n2);
    close(lfd);
    free(k.buf);
    loop_teardown();
}

/* ------------------------------------------------------------------ backpressure */

#define BP_CHUNK (256u << 10)
#define BP_CHUNKS 64 /* 16 MiB */
#define BP_CAP (256u << 10)

static int bp_written;

static void bp_write_cb(uv_write_t *w, int status)
{
    assert_int_equal(status, 0);
    bp_written++;
    free(w);
}

/* libraft's side of an accepted connection does not read: the acceptor stops reading TCP at the
 * cap, the dialler's queue fills to the cap and it stops reading its socketpair; nothing grows
 * past the caps. Once the reader reads, everything arrives, in order. */
static void test_backpressure(void **state)
{
    (void)state;
    loop_setup();
    struct node n1, n2;
    node_start(&n1, P.dir1, 1);
    node_start(&n2, P.dir2, 2);
    n1.t.queue_max = n2.t.queue_max = BP_CAP;
    struct dial d;
    dial(&n1, &d, 2, n2.addr);
    run_until(&d.done, 1, 5000);
    run_until(&n2.accepted, 1, 5000);
    assert_int_equal(d.status, 0);
    uint8_t *data = malloc((size_t)BP_CHUNK * BP_CHUNKS);
    assert_non_null(data);
    for (size_t i = 0; i < (size_t)BP_CHUNK * BP_CHUNKS; i++)
        data[i] = (uint8_t)(i * 131 + (i >> 16));
    bp_written = 0;
    for (int i = 0; i < BP_CHUNKS; i++) {
        uv_write_t *w = malloc(sizeof(*w));
        uv_buf_t b = uv_buf_init((char *)data + (size_t)i * BP_CHUNK, BP_CHUNK);
        assert_int_equal(uv_write(w, d.stream, &b, 1, bp_write_cb), 0);
    }
    run_for(700);
    /* a read (64 KiB) and its TLS records may land above the cap before reading stops */
    size_t bound = BP_CAP + (80u << 10);
    if (n1.t.queue_peak > bound || n2.t.queue_peak > bound)
        fail_msg("queues grew to %llu (dialler) and %llu (acceptor) bytes; cap %u",
                 (unsigned long long)n1.t.queue_peak, (unsigned long long)n2.t.queue_peak, BP_CAP);
    assert_true(n2.t.queue_peak >= BP_CAP / 2); /* it did fill: the test tests something */
    assert_true(bp_written < BP_CHUNKS);
    struct sink k = {0};
    n2.acc_stream->data = &k;
    uv_read_start(n2.acc_stream, sink_alloc, sink_read);
    uint64_t deadline = h_now_ms() + 20000;
    while (k.len < (size_t)BP_CHUNK * BP_CHUNKS && h_now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(k.len, (size_t)BP_CHUNK * BP_CHUNKS);
    assert_memory_equal(k.buf, data, k.len);
    run_until(&bp_written, BP_CHUNKS, 5000);
    assert_int_equal(bp_written, BP_CHUNKS);
    uv_close((uv_handle_t *)d.stream, free_stream);
    node_stop(&n1);
    node_stop(&n2);
    free(k.buf);
    free(data);
    loop_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preamble_roundtrip),
        cmocka_unit_test(test_preamble_malformed),
        cmocka_unit_test(test_name_is_id),
        cmocka_unit_test(test_refuse_agent),
        cmocka_unit_test(test_refuse_operator),
        cmocka_unit_test(test_refuse_other_ca),
        cmocka_unit_test(test_refuse_plaintext),
        cmocka_unit_test(test_refuse_impersonation),
        cmocka_unit_test(test_refuse_bad_preamble),
        cmocka_unit_test(test_refuse_silent),
        cmocka_unit_test(test_accept_directory),
        cmocka_unit_test(test_dial_wrong_node),
        cmocka_unit_test(test_close_with_connections),
        cmocka_unit_test(test_backpressure),
    };
    return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
