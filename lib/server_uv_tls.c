/* server_uv_tls.c - tls+tcp:// on the loop transport (server_uv.c): ciphertext read into a scratch
 * buffer goes to the connection's session (lib/tls.c), whose plaintext feeds the same SP parser
 * as tcp://; replies are encrypted at the flush. */
#include <stdlib.h>
#include <sys/socket.h>

#include "log.h"
#include "server_uv_int.h"

void uvs_tls_failed(struct uvs_conn *conn, const struct strata_err *e)
{
    struct strata_server *s = conn->u->s;
    s->stats.tls_failed++;
    if (s->stats.tls_failed <= 10 || s->stats.tls_failed % 1000 == 0) {
        char who[64] = "?";
        struct sockaddr_storage ss;
        int sl = sizeof(ss);
        if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &sl) == 0)
            uv_ip_name((struct sockaddr *)&ss, who, sizeof(who));
        LOG_WARN("server: TLS connection #%llu from %s dropped: %s",
                 (unsigned long long)s->stats.tls_failed, who, e->msg);
    }
    uvs_conn_close(conn);
}

/* Decrypt what the session has into the input, growing it as needed: at most a read's worth
 * more than uvs_update_reading let in (reading stops under the same limits as plaintext).
 * 0, or -1 when the connection was closed. */
int uvs_tls_pull(struct uvs_conn *conn)
{
    struct strata_err e;
    int rc = strata_tls_conn_read_all(conn->tls, &conn->in, &conn->in_len, &conn->in_cap, &e);
    uvs_in_set(conn, conn->in, conn->in_cap); /* a grown buffer is counted like any other */
    if (rc == STRATA_ENOMEM) {
        uvs_conn_close(conn);
        return -1;
    }
    if (rc != 0) {
        uvs_tls_failed(conn, &e);
        return -1;
    }
    if (strata_tls_conn_pending(conn->tls) > 0)
        uvs_mark(conn); /* handshake messages */
    return 0;
}

/* The same over TLS: this turn's replies are encrypted (the plaintext buffer is kept) and the
 * records, with any handshake message, go to the socket. */
void uvs_tls_flush(struct uvs_conn *conn)
{
    struct strata_err e;
    if (conn->out_len > 0 && strata_tls_conn_write(conn->tls, conn->out, conn->out_len, &e) != 0) {
        uvs_tls_failed(conn, &e);
        return;
    }
    conn->out_len = 0;
    if (conn->out_cap > UVS_FLUSH_AT) {
        free(conn->out);
        conn->out = NULL;
        conn->out_cap = 0;
    }
    size_t len = 0;
    uint8_t *ct = strata_tls_conn_output(conn->tls, &len);
    if (ct != NULL) {
        int rc = sp_uv_write((uv_stream_t *)&conn->tcp, ct, len, uvs_written, conn);
        if (rc != 0)
            free(ct);
        if (rc < 0) {
            LOG_ERROR("server: cannot write to a client (%s); dropping the connection",
                      uv_strerror(rc));
            uvs_conn_close(conn);
            return;
        }
        if (rc == 0)
            ct = NULL; /* the write owns it */
        conn->active_ms = uvs_now(conn->u);
    }
    uvs_account(conn);
    uvs_update_reading(conn);
}
