/* dir_bench_events.c - closed-loop clients multiplexed on epoll, a few threads for all. */
#include "dir_bench_events.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls.h"

#define EV_GRACE_US 10000000u /* for replies still out at the deadline */
#define EV_IN_MIN (16u << 10) /* free room asked of the input buffer before each recv */

struct ev_conn {
    void *ctx;
    int fd, fl0;                 /* the socket and its flags before the run */
    struct strata_tls_conn *tls; /* NULL: plaintext */
    const uint8_t *out;          /* the request's bytes as sent (ciphertext with tls) */
    size_t olen, ooff;
    uint8_t *ct;   /* with tls: the request's records (malloc'd), which `out` points at */
    bool want_out; /* registered for EPOLLOUT: the request did not fit the send buffer */
    uint8_t *in;
    size_t ilen, icap;
    uint64_t t0; /* when the request in flight was started */
    bool active;
};

struct ev_thread {
    pthread_t tid;
    const struct dir_bench_aop *op;
    struct ev_conn *c;
    unsigned n, live;
    int ep;
    uint64_t deadline_us;
    unsigned max_consecutive;
    struct dir_bench_lat lat;
};

static void ev_stop(struct ev_thread *t, struct ev_conn *c)
{
    if (!c->active)
        return;
    c->active = false;
    t->live--;
    epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
}

/* A failure of the stream itself: the client cannot go on. */
static void ev_broken(struct ev_thread *t, struct ev_conn *c, int rc, const struct strata_err *e)
{
    dir_bench_lat_err(&t->lat, rc, e, t->max_consecutive);
    ev_stop(t, c);
}

static void ev_watch(struct ev_thread *t, struct ev_conn *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

/* Send what is left of the request; the rest waits for EPOLLOUT. */
static void ev_flush(struct ev_thread *t, struct ev_conn *c)
{
    while (c->ooff < c->olen) {
        ssize_t k = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
        if (k > 0) {
            c->ooff += (size_t)k;
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out)
                ev_watch(t, c, true);
            return;
        } else {
            struct strata_err e = {0};
            ev_broken(t, c, strata_err_set(&e, STRATA_EIO, "send: %s", strerror(errno)), &e);
            return;
        }
    }
    if (c->want_out)
        ev_watch(t, c, false);
}

/* Replace the request's plaintext by its TLS records (and whatever else the session has to
 * send). The copy is the price of a memory-buffer session: OpenSSL encrypts into its BIO. */
static int ev_encrypt(struct ev_conn *c, struct strata_err *e)
{
    int rc = strata_tls_conn_write(c->tls, c->out, c->olen, e);
    if (rc)
        return rc;
    free(c->ct);
    c->ct = strata_tls_conn_output(c->tls, &c->olen);
    c->out = c->ct;
    return c->ct != NULL ? 0 : strata_err_set(e, STRATA_ENOMEM, "out of memory");
}

/* With tls: decrypt the `n` bytes of ciphertext just received into the plaintext input. */
static int ev_decrypt(struct ev_conn *c, const uint8_t *ct, size_t n, struct strata_err *e)
{
    if (strata_tls_conn_input(c->tls, ct, n) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    for (;;) {
        if (c->icap - c->ilen < EV_IN_MIN) {
            size_t cap = c->icap ? c->icap * 2 : 4 * EV_IN_MIN;
            uint8_t *p = realloc(c->in, cap);
            if (!p)
                return strata_err_set(e, STRATA_ENOMEM, "out of memory");
            c->in = p;
            c->icap = cap;
        }
        ssize_t got = strata_tls_conn_read(c->tls, c->in + c->ilen, c->icap - c->ilen, e);
        if (got < 0)
            return (int)got;
        if (got == 0)
            return 0;
        c->ilen += (size_t)got;
    }
}

/* Start the client's next operation, or stop it at the deadline. */
static void ev_start(struct ev_thread *t, struct ev_conn *c)
{
    for (;;) {
        uint64_t now = dir_bench_now_us();
        if (now >= t->deadline_us) {
            ev_stop(t, c);
            return;
        }
        struct strata_err e = {0};
        int rc = t->op->request(c->ctx, &c->out, &c->olen, &e);
        if (rc == 0 && c->tls != NULL)
            rc = ev_encrypt(c, &e);
        if (rc == 0) {
            c->ooff = 0;
            c->t0 = now;
            ev_flush(t, c);
            return;
        }
        if (!dir_bench_lat_err(&t->lat, rc, &e, t->max_consecutive)) {
            ev_stop(t, c);
            return;
        }
    }
}

/* Read what has arrived and finish the operation when its reply is all in. */
static void ev_input(struct ev_thread *t, struct ev_conn *c)
{
    struct strata_err e = {0};
    uint8_t ct[EV_IN_MIN]; /* with tls: ciphertext, decrypted into c->in at once */
    for (;;) {
        if (c->tls != NULL) {
            ssize_t k = recv(c->fd, ct, sizeof(ct), 0);
            if (k > 0) {
                int rc = ev_decrypt(c, ct, (size_t)k, &e);
                if (rc) {
                    ev_broken(t, c, rc, &e);
                    return;
                }
                if ((size_t)k < sizeof(ct))
                    break;
                continue;
            }
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            ev_broken(t, c,
                      strata_err_set(&e, STRATA_EIO, "receive: %s",
                                     k == 0 ? "connection closed" : strerror(errno)),
                      &e);
            return;
        }
        if (c->icap - c->ilen < EV_IN_MIN) {
            size_t cap = c->icap ? c->icap * 2 : 4 * EV_IN_MIN;
            uint8_t *p = realloc(c->in, cap);
            if (!p) {
                ev_broken(t, c, strata_err_set(&e, STRATA_ENOMEM, "out of memory"), &e);
                return;
            }
            c->in = p;
            c->icap = cap;
        }
        size_t room = c->icap - c->ilen;
        ssize_t k = recv(c->fd, c->in + c->ilen, room, 0);
        if (k > 0) {
            c->ilen += (size_t)k;
            /* Short read: the socket is drained. epoll is level-triggered, so anything that
             * arrives later is reported again; reading on until EAGAIN would cost a recv per
             * reply. */
            if ((size_t)k < room)
                break;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        ev_broken(t, c,
                  strata_err_set(&e, STRATA_EIO, "receive: %s",
                                 k == 0 ? "connection closed" : strerror(errno)),
                  &e);
        return;
    }
    while (c->active && c->ilen > 0) {
        size_t used = 0;
        int rc = t->op->reply(c->ctx, c->in, c->ilen, &used, &e);
        if (rc == DIR_BENCH_MORE)
            return;
        if (rc < 0 && used == 0) {
            ev_broken(t, c, rc, &e);
            return;
        }
        memmove(c->in, c->in + used, c->ilen - used);
        c->ilen -= used;
        uint64_t now = dir_bench_now_us();
        bool go = rc == 0 ? dir_bench_lat_ok(&t->lat, now - c->t0)
                          : dir_bench_lat_err(&t->lat, rc, &e, t->max_consecutive);
        if (!go)
            ev_stop(t, c);
        else
            ev_start(t, c);
    }
}

static void *ev_main(void *arg)
{
    struct ev_thread *t = arg;
    struct strata_err e = {0};
    for (unsigned i = 0; i < t->n; i++) {
        struct ev_conn *c = &t->c[i];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (c->fd < 0 || epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
            dir_bench_lat_err(&t->lat, strata_err_set(&e, STRATA_EIO, "client not connected"), &e,
                              t->max_consecutive);
            continue;
        }
        c->active = true;
        t->live++;
    }
    for (unsigned i = 0; i < t->n; i++)
        if (t->c[i].active)
            ev_start(t, &t->c[i]);
    struct epoll_event evs[64];
    while (t->live > 0) {
        int k = epoll_wait(t->ep, evs, 64, 100);
        for (int i = 0; i < k; i++) {
            struct ev_conn *c = evs[i].data.ptr;
            if (c->active && (evs[i].events & EPOLLOUT))
                ev_flush(t, c);
            if (c->active && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                ev_input(t, c);
        }
        if (dir_bench_now_us() < t->deadline_us + EV_GRACE_US)
            continue;
        for (unsigned i = 0; i < t->n; i++)
            if (t->c[i].active)
                ev_broken(t, &t->c[i],
                          strata_err_set(&e, STRATA_ETIMEDOUT, "no reply 10 s after the end"), &e);
    }
    t->lat.end_us = dir_bench_now_us();
    return NULL;
}

int dir_bench_drive_events(unsigned nclients, void **ctxs, const struct dir_bench_aop *op,
                           unsigned nthreads, double seconds, unsigned max_consecutive_errors,
                           struct dir_bench_result *out, struct strata_err *e)
{
    memset(out, 0, sizeof(*out));
    out->clients = nclients;
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > nclients)
        nthreads = nclients;
    struct ev_conn *cs = calloc(nclients, sizeof(*cs));
    struct ev_thread *th = calloc(nthreads, sizeof(*th));
    struct dir_bench_lat **ls = calloc(nthreads, sizeof(*ls));
    int rc = cs && th && ls ? 0 : strata_err_set(e, STRATA_ENOMEM, "out of memory");
    for (unsigned i = 0; cs && i < nclients; i++)
        cs[i].fd = -1;
    /* Thread j carries clients j, j + nthreads, ...: each thread gets clients of every node. */
    for (unsigned j = 0; !rc && j < nthreads; j++) {
        th[j].op = op;
        th[j].c =
            cs + j * (nclients / nthreads) + (j < nclients % nthreads ? j : nclients % nthreads);
        th[j].max_consecutive = max_consecutive_errors ? max_consecutive_errors : 1;
        th[j].ep = epoll_create1(EPOLL_CLOEXEC);
        if (th[j].ep < 0)
            rc = strata_err_set(e, STRATA_EIO, "epoll_create1: %s", strerror(errno));
        ls[j] = &th[j].lat;
    }
    for (unsigned i = 0; !rc && i < nclients; i++) {
        struct ev_thread *t = &th[i % nthreads];
        struct ev_conn *c = &t->c[t->n++];
        c->ctx = ctxs[i];
        c->fd = op->fd(ctxs[i]);
        c->tls = op->tls != NULL ? op->tls(ctxs[i]) : NULL;
        c->fl0 = c->fd >= 0 ? fcntl(c->fd, F_GETFL) : 0;
        if (c->fd >= 0)
            fcntl(c->fd, F_SETFL, c->fl0 | O_NONBLOCK);
    }
    unsigned started = 0;
    double cpu0 = dir_bench_self_cpu_s();
    uint64_t t0 = dir_bench_now_us();
    for (unsigned j = 0; !rc && j < nthreads; j++) {
        th[j].deadline_us = t0 + (uint64_t)(seconds * 1e6);
        if (pthread_create(&th[j].tid, NULL, ev_main, &th[j]) != 0)
            rc = strata_err_set(e, STRATA_EINTERNAL, "pthread_create failed");
        else
            started++;
    }
    for (unsigned j = 0; j < started; j++)
        pthread_join(th[j].tid, NULL);
    int src = rc || !ls ? 0 : dir_bench_lat_summary(ls, started, t0, cpu0, out, e);
    for (unsigned i = 0; cs && i < nclients; i++) {
        free(cs[i].in);
        free(cs[i].ct);
        if (cs[i].fd >= 0)
            fcntl(cs[i].fd, F_SETFL, cs[i].fl0);
    }
    for (unsigned j = 0; th && j < nthreads; j++) {
        if (th[j].ep > 0)
            close(th[j].ep);
        free(th[j].lat.us);
    }
    free(ls);
    free(th);
    free(cs);
    return rc ? rc : src;
}
