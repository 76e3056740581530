/* server_uv_limits.c - what a client can hold of the tcp:// transport (server_uv.c): which
 * connections are admitted (a cap on the listener and per source address), the deadlines a
 * connection must meet (handshake, frame, idle), and the limits' defaults. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"
#include "server_uv_int.h"

/* ---------------------------------------------------------------- admission */

/* The connection's source address as a key: 4 bytes for IPv4 (and IPv4-mapped IPv6), else 16.
 * Returns its length, 0 when the peer is unknown (gone already). */
static size_t uvs_peer_key(struct uvs_conn *conn, uint8_t key[16], char *text, size_t text_len)
{
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        uv_ip4_name(a, text, text_len);
        memcpy(key, &a->sin_addr, 4);
        return 4;
    }
    if (ss.ss_family != AF_INET6)
        return 0;
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, text, text_len);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
        memcpy(key, a->sin6_addr.s6_addr + 12, 4);
        return 4;
    }
    memcpy(key, &a->sin6_addr, 16);
    return 16;
}

/* The link that holds (or would hold) the peer entry for key. */
static struct uvs_peer **uvs_peer_link(struct uvs *u, const uint8_t *key, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 16777619u;
    struct uvs_peer **pp = &u->peers[h % UVS_PEER_BUCKETS];
    while (*pp != NULL && ((*pp)->len != len || memcmp((*pp)->addr, key, len) != 0))
        pp = &(*pp)->next;
    return pp;
}

/* Count the connection against its address, unless the address is at its cap. NULL when
 * admitted, else why not. */
static const char *uvs_peer_take(struct uvs_conn *conn, const uint8_t *key, size_t len)
{
    struct uvs *u = conn->u;
    struct uvs_peer **pp = uvs_peer_link(u, key, len);
    if (*pp == NULL) {
        struct uvs_peer *p = calloc(1, sizeof(*p));
        if (p == NULL)
            return "out of memory";
        p->len = (uint8_t)len;
        memcpy(p->addr, key, len);
        *pp = p;
    }
    if ((*pp)->n >= (unsigned)u->max_per_addr)
        return "too many connections from this address";
    (*pp)->n++;
    conn->peer = *pp;
    return NULL;
}

void uvs_peer_release(struct uvs_conn *conn)
{
    struct uvs_peer *p = conn->peer;
    conn->peer = NULL;
    if (p == NULL || --p->n > 0)
        return;
    struct uvs_peer **pp = uvs_peer_link(conn->u, p->addr, p->len);
    *pp = p->next;
    free(p);
}

/* Log at most the first ten and then every thousandth: an attack must not flood the log. */
static bool uvs_log_now(uint64_t count)
{
    return count <= 10 || count % 1000 == 0;
}

/* Whether a connection just accepted may stay: the listener and its address have room. */
/* At the listener's cap, the connection idle longest (nothing unanswered, nothing received or
 * delivered for UVS_EVICT_IDLE_MS) is closed to make room: otherwise idle connections from a
 * few addresses kept every new client out until their idle timeout (10 min). */
static bool uvs_evict_idlest(struct uvs *u, const struct uvs_conn *except)
{
    uint64_t now = uvs_now(u);
    struct uvs_conn *best = NULL;
    for (struct uvs_conn *c = u->conns; c != NULL; c = c->next)
        if (c != except && !c->closing && c->held == 0 && now - c->active_ms >= UVS_EVICT_IDLE_MS &&
            (best == NULL || c->active_ms < best->active_ms))
            best = c;
    if (best == NULL)
        return false;
    uint64_t n = ++u->s->stats.timed_out;
    if (uvs_log_now(n))
        LOG_INFO("server: connection #%llu closed: idle %llu ms, at the connection cap (%d)",
                 (unsigned long long)n, (unsigned long long)(now - best->active_ms), u->max_conns);
    uvs_conn_close(best);
    return true;
}

bool uvs_admit(struct uvs_conn *conn)
{
    struct uvs *u = conn->u;
    uint8_t key[16];
    char text[64] = "?";
    size_t len = uvs_peer_key(conn, key, text, sizeof(text));
    const char *why = NULL;
    if (len == 0)
        why = "peer address unknown";
    else if (u->open_n > u->max_conns && !uvs_evict_idlest(u, conn))
        why = "too many connections";
    else
        why = uvs_peer_take(conn, key, len);
    if (why == NULL)
        return true;
    uint64_t n = ++u->s->stats.refused;
    if (uvs_log_now(n))
        LOG_WARN("server: connection #%llu refused from %s: %s", (unsigned long long)n, text, why);
    return false;
}

/* ---------------------------------------------------------------- deadlines */

/* Why the connection must be closed now, or NULL. */
static const char *uvs_overdue(const struct uvs_conn *conn, uint64_t now)
{
    const struct uvs *u = conn->u;
    if (!conn->handshaken)
        return now - conn->accepted_ms >= u->handshake_ms ? "no SP handshake in time" : NULL;
    /* Not while its replies wait: a frame we do not read then is not the client's fault. But
     * while it waits for room for a large frame, so that the room is not held for long. */
    if ((conn->reading || conn->starved) && conn->in_len > 0 && now - conn->frame_ms >= u->frame_ms)
        return "a frame not completed in time";
    /* A request held by a handler (a long-poll) keeps its connection, however long. */
    if (conn->held == 0 && now - conn->active_ms >= u->idle_ms)
        return "idle";
    return NULL;
}

/* An idle connection keeps no buffers: a thousand of them cost no more than their sockets. */
static void uvs_trim(struct uvs_conn *conn, uint64_t now)
{
    if (now - conn->active_ms < UVS_TRIM_MS)
        return;
    if (conn->in_len == 0 && conn->in != NULL)
        uvs_in_free(conn);
    if (conn->out_len == 0 && conn->out != NULL) {
        free(conn->out);
        conn->out = NULL;
        conn->out_cap = 0;
    }
}

void uvs_sweep_cb(uv_timer_t *t)
{
    struct uvs *u = t->data;
    uint64_t now = uvs_now(u);
    struct uvs_conn *next;
    for (struct uvs_conn *conn = u->conns; conn != NULL; conn = next) {
        next = conn->next; /* closing unlinks conn */
        const char *why = uvs_overdue(conn, now);
        if (why == NULL) {
            uvs_trim(conn, now);
            continue;
        }
        uint64_t n = ++u->s->stats.timed_out;
        if (uvs_log_now(n))
            LOG_INFO("server: connection #%llu closed: %s", (unsigned long long)n, why);
        uvs_conn_close(conn);
    }
}

/* Deadlines are met within a quarter of the shortest, checked at most every second. */
uint64_t uvs_sweep_period(const struct uvs *u)
{
    unsigned ms = u->handshake_ms;
    if (u->frame_ms < ms)
        ms = u->frame_ms;
    if (u->idle_ms < ms)
        ms = u->idle_ms;
    ms /= 4;
    return ms < 10 ? 10 : ms > UVS_TRIM_MS ? UVS_TRIM_MS : ms;
}

/* The default cap on connections: room for the daemon's own files and peers left over. */
static int uvs_default_max_conns(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur / 4 * 3 >= UVS_CONNS_MAX)
        return UVS_CONNS_MAX;
    int n = (int)(rl.rlim_cur / 4 * 3);
    return n < 16 ? 16 : n;
}

void uvs_set_limits(struct uvs *u, const struct strata_server_opts *o)
{
    u->queue_max = o->queue_max ? o->queue_max : UVS_QUEUE_MAX;
    u->queue_total_max = o->queue_total_max ? o->queue_total_max : UVS_QUEUE_TOTAL_MAX;
    u->input_total_max = o->input_total_max ? o->input_total_max : UVS_INPUT_TOTAL_MAX;
    u->max_conns = o->max_conns > 0 ? o->max_conns : uvs_default_max_conns();
    u->max_per_addr = o->max_conns_per_addr > 0 ? o->max_conns_per_addr : UVS_CONNS_PER_ADDR;
    u->handshake_ms = o->handshake_ms ? o->handshake_ms : UVS_HANDSHAKE_MS;
    u->frame_ms = o->frame_ms ? o->frame_ms : UVS_FRAME_MS;
    u->idle_ms = o->idle_ms ? o->idle_ms : UVS_IDLE_MS;
}
