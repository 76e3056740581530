/* dird_tls_transport.h - Raft between directory nodes over mutual TLS: a libraft transport whose
 * connections are TLS 1.3 sessions (lib/tls.h) between directory certificates, each bound to the
 * node id it speaks for, and handed to libraft as plaintext socketpairs that this end pumps to
 * and from the session.
 *
 * A connection, from either end:
 *   TCP connect / accept, TCP_NODELAY, deadline armed (DIRD_TLS_HANDSHAKE_MS)
 *   TLS 1.3 handshake, both certificates verified under the CA, roles = directory only
 *   dialler: the certificate's name must be the id libraft dialled
 *   dialler -> acceptor: the preamble (magic, version, node id, raft address), inside TLS
 *   acceptor: the certificate's name must be the id claimed; it answers with an ack
 *   both: a socketpair; one end (a uv_pipe_t) goes to libraft (accept_cb / connect cb), the
 *   other is pumped to the TLS session, deadline disarmed.
 * Anything else closes the connection before libraft hears of it, is counted by cause and logged
 * (at most one line per cause each DIRD_TLS_LOG_EVERY_MS). docs/directory.md, "Raft over TLS". */
#ifndef DIRD_TLS_TRANSPORT_H
#define DIRD_TLS_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"
#include "tls.h"

#define DIRD_TLS_HANDSHAKE_MS 5000    /* TCP connect + TLS handshake + preamble (+ ack) */
#define DIRD_TLS_QUEUE_MAX (4u << 20) /* a direction stops reading above this many bytes queued */
#define DIRD_TLS_PENDING_MAX 64       /* inbound connections in their handshake at once */
#define DIRD_TLS_LOG_EVERY_MS 10000   /* one refusal line per cause at most this often */

/* ---- the preamble: what the dialler says inside TLS before any Raft byte
 *   "SRFT" | version (u16, big endian) | node id (u64, BE) | address length (u8) | address
 * the address being the dialler's own Raft address (IPv4 a.b.c.d:port, at most 21 bytes).
 * The acceptor answers "SRFA" | version (u16, BE) once it has accepted the connection. */
#define DIRD_TLS_PREAMBLE_VERSION 1
#define DIRD_TLS_ADDR_MAX 21 /* "255.255.255.255:65535" */
#define DIRD_TLS_PREAMBLE_MIN (4 + 2 + 8 + 1)
#define DIRD_TLS_PREAMBLE_MAX (DIRD_TLS_PREAMBLE_MIN + DIRD_TLS_ADDR_MAX)
#define DIRD_TLS_ACK_LEN 6
#define DIRD_TLS_MORE 1 /* dird_tls_preamble_decode: not all there yet */

/* Encode the preamble of node `id` at `address` into buf (DIRD_TLS_PREAMBLE_MAX bytes); its
 * length, or 0 when the address does not fit. */
size_t dird_tls_preamble_encode(uint8_t *buf, raft_id id, const char *address);
/* Decode a preamble from the first len bytes received: 0 with *id, address (NUL-terminated) and
 * *used (its length); DIRD_TLS_MORE when a valid beginning is all there is (len is then below
 * DIRD_TLS_PREAMBLE_MAX); or STRATA_EPROTO, saying why in e: another magic or version, id 0, an
 * address that is empty, too long, or not IPv4 a.b.c.d:port. */
int dird_tls_preamble_decode(const uint8_t *buf, size_t len, size_t *used, raft_id *id,
                             char address[DIRD_TLS_ADDR_MAX + 1], struct strata_err *e);
/* The ack into buf (DIRD_TLS_ACK_LEN bytes). */
void dird_tls_ack_encode(uint8_t *buf);

/* Whether a certificate's name is node `id`: its decimal form exactly ("02" is not 2). */
bool dird_tls_name_is_id(const char *name, uint64_t id);

/* Why a connection was refused: the label of strata_dird_raft_tls_refused_<cause>_total. */
enum dird_tls_refusal {
    DIRD_TLS_REFUSED_HANDSHAKE, /* TLS failed: not TLS, no certificate, another CA, closed */
    DIRD_TLS_REFUSED_ROLE,      /* a certificate of our CA for another role than directory */
    DIRD_TLS_REFUSED_IDENTITY,  /* a directory certificate not named by the node id at stake */
    DIRD_TLS_REFUSED_PREAMBLE,  /* a malformed or oversized preamble, or a wrong ack */
    DIRD_TLS_REFUSED_TIMEOUT,   /* not through within DIRD_TLS_HANDSHAKE_MS */
    DIRD_TLS_REFUSED_BUSY,      /* DIRD_TLS_PENDING_MAX inbound handshakes already running */
    DIRD_TLS_REFUSED_N
};
/* "handshake", "role", "identity", "preamble", "timeout", "busy". */
const char *dird_tls_refusal_name(enum dird_tls_refusal r);

struct dird_tls_conn; /* one connection (dird_tls_conn.h) */

struct dird_tls_transport {
    struct raft_uv_transport raft; /* what raft_uv_init is given (raft.impl points here) */
    uv_loop_t *uv;
    struct strata_tls *tls;
    raft_id id;                          /* this node (init) */
    char address[DIRD_TLS_ADDR_MAX + 1]; /* its Raft address, listened on */
    uv_tcp_t listener;
    bool listener_open, closing;
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
    struct dird_tls_conn *conns; /* every connection whose handles are not all closed */
    unsigned pending;            /* inbound connections not yet handed to libraft */
    /* settable after init (tests shorten them) */
    unsigned handshake_ms;
    size_t queue_max;
    /* counters for /metrics (dird_main.c) */
    uint64_t refused[DIRD_TLS_REFUSED_N];
    uint64_t established; /* connections handed to libraft, both directions */
    uint64_t queue_peak;  /* most bytes seen queued towards one side of one connection */
    struct dird_tls_log_limit {
        uint64_t last_ms, unlogged;
        bool logged;
    } log_limit[DIRD_TLS_REFUSED_N];
};

/* Set up the transport on loop uv with the node's TLS context (a directory certificate). The
 * libraft side is &t->raft. Nothing to release afterwards but what close(cb) closes. */
int dird_tls_transport_init(struct dird_tls_transport *t, uv_loop_t *uv, struct strata_tls *tls);

/* ---- between the transport (dird_tls_transport.c) and its connections (dird_tls_conn.c) */
/* A connection accepted on the listener (refused at once when DIRD_TLS_PENDING_MAX run). */
void dird_tls_conn_accept(struct dird_tls_transport *t);
/* Dial node id at address for libraft's req: 0, or a RAFT_* code and t->raft.errmsg. */
int dird_tls_conn_dial(struct dird_tls_transport *t, struct raft_uv_connect *req, raft_id id,
                       const char *address);
/* Close every connection (any state): a dial not yet answered gets RAFT_CANCELED once its
 * handles are closed. */
void dird_tls_conn_close_all(struct dird_tls_transport *t);
/* Count and (rate-limited) log a refusal: `who` is the peer, as in "connection from
 * 127.0.0.1:40122" or "connection to node 2 at 127.0.0.1:27002". */
void dird_tls_refused(struct dird_tls_transport *t, enum dird_tls_refusal why, const char *who,
                      const char *msg);
/* A connection's last handle closed (it is unlinked and freed): the transport may be done. */
void dird_tls_transport_maybe_closed(struct dird_tls_transport *t);

#endif
