/* dird_tls_conn.h - inside Raft over TLS: one connection, shared by its two halves,
 * dird_tls_conn.c (dial or accept, handshake, identity, refusals, teardown) and dird_tls_pump.c
 * (the hand-off to libraft and the pump between libraft and the TLS session). Ownership,
 * teardown and backpressure are written down atop dird_tls_conn.c. */
#ifndef DIRD_TLS_CONN_H
#define DIRD_TLS_CONN_H

#include "dird_tls_transport.h"

enum tc_state { TC_CONNECTING, TC_HANDSHAKE, TC_RUNNING, TC_CLOSING };

struct dird_tls_conn {
    struct dird_tls_conn *next, **pprev; /* in t->conns */
    struct dird_tls_transport *t;
    enum tc_state state;
    bool inbound;
    bool pending;  /* counted in t->pending (inbound, not yet handed off) */
    bool verified; /* the TLS handshake is through and looked at */
    bool pipe_open, tcp_paused, pipe_paused;
    unsigned handles;                    /* ours not yet closed */
    raft_id id;                          /* dialled; or claimed, once the preamble is in */
    char address[DIRD_TLS_ADDR_MAX + 1]; /* dialled; or claimed */
    char who[96];                        /* the peer, for logs */
    struct raft_uv_connect *req;         /* a dial libraft awaits */
    /* Accepted connections: libraft's end of the socketpair and its reader, fed directly
     * (tc_feed_start); rs is NULL once libraft closed it. */
    uv_stream_t *rs;
    uv_alloc_cb raft_alloc;
    uv_read_cb raft_read;
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_timer_t timer;
    uv_pipe_t pipe;
    struct strata_tls_conn *tls;
    uint8_t pre[DIRD_TLS_PREAMBLE_MAX]; /* the preamble (acceptor) or the ack (dialler) so far */
    size_t pre_len;
};

/* dird_tls_conn.c */
/* Close every handle of c (any state); it is freed in the last close callback. */
void dird_tls_close(struct dird_tls_conn *c);
/* The TCP side's read callback (ciphertext from the peer). */
void dird_tls_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* dird_tls_pump.c */
/* The read buffer of every stream of every connection (one thread; consumed before returning). */
void dird_tls_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
/* Send what the TLS session holds to the peer. 0, or -1 when c was closed. */
int dird_tls_flush(struct dird_tls_conn *c);
/* Plaintext from the peer for libraft. 0, or -1 when c was closed. */
int dird_tls_to_raft(struct dird_tls_conn *c, const uint8_t *data, size_t len);
/* The peer is verified and bound to c->id: hand libraft its stream. 0, or -1 when c was closed. */
int dird_tls_handoff(struct dird_tls_conn *c);

#endif
