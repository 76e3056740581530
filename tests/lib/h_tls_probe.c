/* h_tls_probe.c - a blocking TLS probe over lib/tls.h sessions (see h_tls_probe.h). */
#include "h_tls_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tls.h"

static void probe_send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void probe_flush(int fd, struct strata_tls_conn *c)
{
    size_t len = 0;
    uint8_t *out = strata_tls_conn_output(c, &len);
    if (out != NULL)
        probe_send_all(fd, out, len);
    free(out);
}

/* Decrypt what the session holds into p->got. */
static void probe_pull(struct h_tls_probe *p, struct strata_tls_conn *c)
{
    uint8_t buf[4096];
    struct strata_err e;
    for (;;) {
        ssize_t k = strata_tls_conn_read(c, buf, sizeof(buf), &e);
        if (k < 0 && p->err[0] == '\0')
            snprintf(p->err, sizeof(p->err), "%s", e.msg);
        if (k <= 0)
            break;
        size_t room = sizeof(p->got) - p->got_len, n = (size_t)k < room ? (size_t)k : room;
        memcpy(p->got + p->got_len, buf, n);
        p->got_len += n;
    }
    p->ready = p->ready || strata_tls_conn_ready(c);
}

void h_tls_probe_run(struct h_tls_probe *p)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 8};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct strata_tls_conn *c = NULL;
    struct strata_err e;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        snprintf(p->err, sizeof(p->err), "connect: %s", strerror(errno));
        goto out;
    }
    if (p->tls == NULL) {
        probe_send_all(fd, p->send, p->send_len);
    } else {
        struct strata_tls_conn_opts o = {.server = false, .roles = STRATA_ROLE_ANY};
        if (strata_tls_conn_new(p->tls, &o, &c, &e) != 0) {
            snprintf(p->err, sizeof(p->err), "%s", e.msg);
            goto out;
        }
        if (p->send_len > 0)
            strata_tls_conn_write(c, p->send, p->send_len, &e);
        strata_tls_conn_read(c, NULL, 0, &e); /* the ClientHello */
        probe_flush(fd, c);
    }
    for (;;) {
        uint8_t buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            p->closed = n == 0 || errno == ECONNRESET;
            if (!p->closed && p->err[0] == '\0')
                snprintf(p->err, sizeof(p->err), "no close within 8 s");
            break;
        }
        if (c == NULL)
            continue;
        if (strata_tls_conn_input(c, buf, (size_t)n) != 0)
            break;
        probe_pull(p, c);
        if ((p->then_len > 0 || p->then_after > 0) && p->got_len >= p->then_after) {
            if (p->then_len > 0)
                strata_tls_conn_write(c, p->then, p->then_len, &e);
            probe_flush(fd, c);
            break; /* and close */
        }
        probe_flush(fd, c);
    }
out:
    strata_tls_conn_free(c);
    close(fd);
}
