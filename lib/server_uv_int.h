/* server_uv_int.h - the tcp:// transport's state, shared by server_uv.c (reading, parsing,
 * answering) and server_uv_limits.c (admission, deadlines, defaults). */
#ifndef STRATA_SERVER_UV_INT_H
#define STRATA_SERVER_UV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server_int.h"
#include "sp_uv.h"
#include "tls.h"

#define UVS_FLUSH_AT (256u << 10)
/* Replies one connection may have made in one go before the others' turn, and all connections
 * in one loop turn before the rest wait for the next: one client's pipelined requests for large
 * replies must not hold up everyone else's for long. */
#define UVS_TURN_BYTES (64u << 10)
#define UVS_TURN_TOTAL (256u << 10)
/* Defaults of the limits in strata_server_opts (see server.h). Replies: 4 MiB is a hundred
 * large list replies; all connections together stay well inside the 256 MB a daemon may use. */
#define UVS_QUEUE_MAX (4u << 20)
#define UVS_QUEUE_TOTAL_MAX (64u << 20)
#define UVS_INPUT_TOTAL_MAX (64u << 20) /* sixteen frames of the largest size at once */
/* Over the total, a connection with less than this waiting still has requests handled: the
 * clients that read their replies are not held back by those that do not. */
#define UVS_FAIR_SHARE (64u << 10)
#define UVS_CONNS_MAX 4096 /* and at most 3/4 of RLIMIT_NOFILE: the daemon needs files too */
#define UVS_CONNS_PER_ADDR 256
/* Connections the kernel may complete before they are accepted (capped by net.core.somaxconn).
 * The 1,000 agents of a pod reconnecting at once after a restart overflowed 128: a tenth of
 * them had their handshake dropped and waited a second for the retransmission (storm-bench,
 * docs/benchmarks.md). */
#define UVS_LISTEN_BACKLOG 4096
#define UVS_HANDSHAKE_MS 5000u /* NNG sends its handshake at once */
#define UVS_FRAME_MS 30000u    /* 4 MiB in 30 s: a link slower than that is not a client */
#define UVS_IDLE_MS 600000u    /* a client with nothing to ask reconnects when it has */
/* An input buffer grown past this by a large frame is shrunk back once the frame is parsed;
 * one unused this long is freed (an idle connection then costs no buffer at all). */
#define UVS_IN_KEEP (2 * SP_UV_READ_CHUNK)
#define UVS_TRIM_MS 1000u
#define UVS_PEER_BUCKETS 256
#define UVS_EVICT_IDLE_MS 1000u /* idle this long, a connection makes room at the cap */

/* Connections open from one source address. */
struct uvs_peer {
    struct uvs_peer *next;
    unsigned n;
    uint8_t len; /* 4 or 16 */
    uint8_t addr[16];
};

struct uvs_conn {
    uv_tcp_t tcp;
    struct uvs *u;
    struct uvs_conn *next, **pprev; /* u->conns */
    struct uvs_conn *dnext;         /* u->dirty */
    struct uvs_conn *lnext;         /* u->later */
    bool dirty, parse_again;        /* on u->dirty: replies to flush, input to parse */
    bool handshaken, reading, closing;
    bool starved;                /* not read: its frame waits for room in u->in_big */
    bool yielded;                /* on u->later: its input is parsed on the next turn */
    bool parsing;                /* in uvs_parse: releases must not re-enter it */
    unsigned held;               /* requests not yet answered */
    struct strata_req *watchers; /* held requests whose handlers watch for the close */
    uint8_t *in;                 /* received, not yet parsed */
    size_t in_len, in_cap;
    uint8_t *out; /* replies of this loop turn */
    size_t out_len, out_cap;
    size_t counted;              /* bytes of replies waiting, as last added to u->queued */
    size_t made;                 /* bytes of replies made, ever (for UVS_TURN_BYTES) */
    size_t big;                  /* in_cap when above UVS_IN_KEEP (counted in u->in_big), else 0 */
    struct uvs_peer *peer;       /* its source address, once admitted */
    struct strata_tls_conn *tls; /* tls+tcp://: the session; `in` and `out` are plaintext */
    /* loop times (ms) for the sweep: accepted, the partial frame in `in` began, and the last
     * time anything was received, delivered or answered */
    uint64_t accepted_ms, frame_ms, active_ms;
};

struct uvs {
    struct strata_server *s;
    uv_tcp_t lis;
    uv_idle_t idle;   /* while replies wait: keeps the loop from blocking before the flush */
    uv_check_t check; /* ... and flushes them at the end of the turn they were made in */
    bool armed;
    int handles;      /* handles whose close callback has not run */
    int conns_n;      /* connection objects not yet freed */
    uv_timer_t sweep; /* deadlines, and freeing idle buffers */
    struct uvs_conn *conns, *dirty;
    struct uvs_conn *later;       /* connections that yielded their turn, in order */
    struct uvs_conn **later_tail; /* where the next one goes */
    unsigned per_conn;
    size_t frame_max;
    size_t queue_max, queue_total_max;
    size_t queued;    /* bytes of replies waiting, all connections */
    size_t turn_made; /* bytes of replies made since the last flush began */
    size_t input_total_max;
    size_t in_big; /* input buffers grown for large frames, all connections */
    int starved_n; /* connections with `starved` set */
    int open_n;    /* connections on u->conns */
    int max_conns, max_per_addr;
    unsigned handshake_ms, frame_ms, idle_ms;
    struct strata_tls *tls; /* tls+tcp://: every connection's context */
    unsigned tls_roles;     /* roles of the peers it accepts (strata_server_opts.tls_roles) */
    struct uvs_peer *peers[UVS_PEER_BUCKETS];
};

static inline uint64_t uvs_now(const struct uvs *u)
{
    return uv_now(u->lis.loop);
}

/* server_uv.c */
void uvs_conn_close(struct uvs_conn *conn);
void uvs_in_free(struct uvs_conn *conn); /* the input buffer, when nothing is in it */
/* Set the input buffer (capacity cap), counting it against the large-frame budget. */
void uvs_in_set(struct uvs_conn *conn, uint8_t *in, size_t cap);
/* Put the connection on the list flushed at the end of this loop turn. */
void uvs_mark(struct uvs_conn *conn);
/* Bring the listener's total of waiting replies up to date with conn's. */
void uvs_account(struct uvs_conn *conn);
/* Read while the connection's requests may be handled; stop otherwise. */
void uvs_update_reading(struct uvs_conn *conn);
/* sp_uv_write's completion for a connection's replies. */
void uvs_written(void *data, int status);

/* server_uv_tls.c */
/* Decrypt what the session holds into the input. 0, or -1 when the connection was closed. */
int uvs_tls_pull(struct uvs_conn *conn);
/* Encrypt this turn's replies and send them, with any handshake message. */
void uvs_tls_flush(struct uvs_conn *conn);
/* Count, log (the first ten, then every thousandth) and close. */
void uvs_tls_failed(struct uvs_conn *conn, const struct strata_err *e);

/* server_uv_limits.c */
void uvs_set_limits(struct uvs *u, const struct strata_server_opts *o);
/* Whether a connection just accepted may stay (counted against its address if so). */
bool uvs_admit(struct uvs_conn *conn);
void uvs_peer_release(struct uvs_conn *conn);
/* The deadlines' timer: its callback and period. */
void uvs_sweep_cb(uv_timer_t *t);
uint64_t uvs_sweep_period(const struct uvs *u);

#endif
