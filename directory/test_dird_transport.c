/* test_dird_transport.c - the Raft transport wrapper: one read per message, nothing lost.
 *
 * Unit level first (dird_transport_feed against a reader that asks for exact-sized pieces, as
 * libraft's does), then libraft itself: two raft_io instances on one loop, talking over the
 * wrapper on loopback, with messages sent back to back and one larger than the read buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dird.h"
#include "harness.h"

/* ------------------------------------------------------------------ a reader in pieces */

/* Reads records of a 4-byte length and that many bytes, asking for exactly what it needs
 * next, the way libraft reads a preamble, a header and a payload. */
struct piece_reader {
    uint8_t hdr[4], body[256];
    size_t got, want; /* bytes of the current part read, and its size */
    bool in_body;
    int records, close_after, enobufs_after, errors, calls;
    char seen[16][256];
};

static struct piece_reader *pr_of(uv_handle_t *h)
{
    return h->data;
}

static void pr_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct piece_reader *r = pr_of(h);
    if (r->enobufs_after >= 0 && r->records == r->enobufs_after) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    uint8_t *base = r->in_body ? r->body : r->hdr;
    *buf = uv_buf_init((char *)base + r->got, (unsigned)(r->want - r->got));
}

static void pr_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct piece_reader *r = pr_of((uv_handle_t *)s);
    r->calls++;
    if (nread < 0) {
        r->errors++;
        uv_close((uv_handle_t *)s, NULL);
        return;
    }
    r->got += (size_t)nread;
    if (r->got < r->want)
        return;
    r->got = 0;
    if (!r->in_body) {
        r->want = (size_t)r->hdr[0] | (size_t)r->hdr[1] << 8;
        r->in_body = true;
        return;
    }
    memcpy(r->seen[r->records], r->body, r->want);
    r->seen[r->records][r->want] = '\0';
    r->records++;
    r->in_body = false;
    r->want = 4;
    if (r->records == r->close_after)
        uv_close((uv_handle_t *)s, NULL);
}

static size_t put_record(uint8_t *p, const char *text)
{
    size_t n = strlen(text);
    p[0] = (uint8_t)n;
    p[1] = (uint8_t)(n >> 8);
    p[2] = p[3] = 0;
    memcpy(p + 4, text, n);
    return 4 + n;
}

struct pr_fixture {
    uv_loop_t loop;
    uv_tcp_t tcp; /* never connected: a stream for the callbacks, closable */
    struct piece_reader r;
};

static struct pr_fixture *pr_setup(void)
{
    struct pr_fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_tcp_init(&f->loop, &f->tcp), 0);
    f->tcp.data = &f->r;
    f->r.want = 4;
    f->r.close_after = -1;
    f->r.enobufs_after = -1;
    return f;
}

static void pr_teardown(struct pr_fixture *f)
{
    if (!uv_is_closing((uv_handle_t *)&f->tcp))
        uv_close((uv_handle_t *)&f->tcp, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
}

static void feed(struct pr_fixture *f, const uint8_t *p, size_t n)
{
    dird_transport_feed((uv_stream_t *)&f->tcp, pr_alloc, pr_read, (const char *)p, n);
}

/* Several records in one read, then one split across two reads at an awkward place. */
static void test_feed_pieces(void **state)
{
    (void)state;
    struct pr_fixture *f = pr_setup();
    uint8_t buf[512];
    size_t n = put_record(buf, "alpha");
    n += put_record(buf + n, "b");
    n += put_record(buf + n, "gamma-gamma");
    size_t split = n + 2; /* inside the fourth record's length */
    n += put_record(buf + n, "delta");
    feed(f, buf, split);
    assert_int_equal(f->r.records, 3);
    feed(f, buf + split, n - split);
    assert_int_equal(f->r.records, 4);
    assert_string_equal(f->r.seen[0], "alpha");
    assert_string_equal(f->r.seen[1], "b");
    assert_string_equal(f->r.seen[2], "gamma-gamma");
    assert_string_equal(f->r.seen[3], "delta");
    assert_int_equal(f->r.errors, 0);
    pr_teardown(f);
}

/* Feeds the records "one" and "two" in one read; returns their size in buf. */
static size_t feed_one_two(struct pr_fixture *f, uint8_t *buf)
{
    size_t n = put_record(buf, "one");
    n += put_record(buf + n, "two");
    feed(f, buf, n);
    return n;
}

/* A reader that closes its stream is not fed again, even with bytes left. */
static void test_feed_stops_on_close(void **state)
{
    (void)state;
    struct pr_fixture *f = pr_setup();
    f->r.close_after = 1;
    uint8_t buf[64];
    size_t n = feed_one_two(f, buf);
    assert_int_equal(f->r.records, 1);
    int calls = f->r.calls;
    assert_true(uv_is_closing((uv_handle_t *)&f->tcp));
    feed(f, buf, n);
    assert_int_equal(f->r.calls, calls);
    pr_teardown(f);
}

/* A reader that cannot give a buffer gets UV_ENOBUFS, as libuv would give it. */
static void test_feed_enobufs(void **state)
{
    (void)state;
    struct pr_fixture *f = pr_setup();
    f->r.enobufs_after = 1;
    uint8_t buf[64];
    feed_one_two(f, buf);
    assert_int_equal(f->r.records, 1);
    assert_int_equal(f->r.errors, 1);
    pr_teardown(f);
}

/* ------------------------------------------------------------------ libraft over the wrapper */

#define N_MSGS 40
#define BIG_LEN (200 * 1024) /* larger than the wrapper's 64 KiB buffer */

struct peer {
    struct dird_transport tp;
    struct raft_io io;
    char addr[32];
};

struct net {
    uv_loop_t loop;
    struct peer p[2];
    int received, bad, sent, send_errors, closed;
};

static size_t msg_len(int i)
{
    return i == N_MSGS / 2 ? BIG_LEN : 1 + (size_t)i * 37;
}

static uint8_t msg_byte(int i, size_t j)
{
    return (uint8_t)(i * 31 + j * 7);
}

static void net_recv(struct raft_io *io, struct raft_message *m)
{
    struct net *n = io->data;
    if (m->type != RAFT_IO_APPEND_ENTRIES || m->append_entries.n_entries != 1) {
        n->bad++;
        return;
    }
    int i = n->received++;
    const struct raft_entry *e = &m->append_entries.entries[0];
    bool ok = m->append_entries.term == (raft_term)i + 1 && e->buf.len == msg_len(i);
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
    struct net *n = io->data;
    n->closed++;
}

static void peer_start(struct net *n, int k)
{
    struct peer *p = &n->p[k];
    snprintf(p->addr, sizeof(p->addr), "127.0.0.1:%d", h_free_port());
    assert_int_equal(dird_transport_init(&p->tp, &n->loop), 0);
    assert_int_equal(raft_uv_init(&p->io, &n->loop, h_tmpdir("transport"), &p->tp.outer), 0);
    p->io.data = n;
    assert_int_equal(p->io.init(&p->io, (raft_id)k + 1, p->addr), 0);
    assert_int_equal(p->io.start(&p->io, 100, net_tick, net_recv), 0);
}

static void run_until(struct net *n, const int *counter, int want)
{
    uint64_t deadline = h_now_ms() + 10000;
    while (*counter < want && h_now_ms() < deadline)
        uv_run(&n->loop, UV_RUN_ONCE);
}

/* Messages sent back to back arrive whole and in order, several per read and one spread over
 * several reads. */
static void test_raft_messages(void **state)
{
    (void)state;
    struct net *n = calloc(1, sizeof(*n));
    assert_non_null(n);
    assert_int_equal(uv_loop_init(&n->loop), 0);
    peer_start(n, 0);
    peer_start(n, 1);

    static struct raft_entry entries[N_MSGS];
    for (int i = 0; i < N_MSGS; i++) {
        struct raft_message m = {0};
        m.type = RAFT_IO_APPEND_ENTRIES;
        m.server_id = 2;
        m.server_address = n->p[1].addr;
        m.append_entries.term = (raft_term)i + 1;
        entries[i].term = 1;
        entries[i].type = RAFT_COMMAND;
        entries[i].buf.len = msg_len(i);
        entries[i].buf.base = raft_malloc(entries[i].buf.len);
        assert_non_null(entries[i].buf.base);
        for (size_t j = 0; j < entries[i].buf.len; j++)
            ((uint8_t *)entries[i].buf.base)[j] = msg_byte(i, j);
        m.append_entries.entries = &entries[i];
        m.append_entries.n_entries = 1;
        struct raft_io_send *req = calloc(1, sizeof(*req));
        assert_non_null(req);
        req->data = n;
        assert_int_equal(n->p[0].io.send(&n->p[0].io, req, &m, net_sent), 0);
    }
    run_until(n, &n->received, N_MSGS);
    run_until(n, &n->sent, N_MSGS);
    assert_int_equal(n->received, N_MSGS);
    assert_int_equal(n->bad, 0);
    assert_int_equal(n->send_errors, 0);

    for (int k = 0; k < 2; k++)
        n->p[k].io.close(&n->p[k].io, net_closed);
    run_until(n, &n->closed, 2);
    assert_int_equal(n->closed, 2);
    for (int k = 0; k < 2; k++) {
        raft_uv_close(&n->p[k].io);
        dird_transport_release(&n->p[k].tp);
    }
    uv_run(&n->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&n->loop), 0);
    for (int i = 0; i < N_MSGS; i++)
        raft_free(entries[i].buf.base);
    free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feed_pieces),
        cmocka_unit_test(test_feed_stops_on_close),
        cmocka_unit_test(test_feed_enobufs),
        cmocka_unit_test(test_raft_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
