/* dir_bench_load.c - one Strata write/read or etcd put/get per call, for dir_bench_drive. */
#include "dir_bench_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir_bench_cluster.h"
#include "etcd_cluster.h"

int dir_bench_keys_init(struct dir_bench_keys *k, size_t cap, struct strata_err *e)
{
    atomic_init(&k->next, 0);
    atomic_init(&k->nok, 0);
    k->cap = cap;
    /* calloc: zeroed pages are mapped only as keys are recorded. */
    k->ok = calloc(cap, sizeof(*k->ok));
    return k->ok ? 0 : strata_err_set(e, STRATA_ENOMEM, "out of memory");
}

void dir_bench_keys_free(struct dir_bench_keys *k)
{
    free((void *)k->ok);
    k->ok = NULL;
}

static void keys_record(struct dir_bench_keys *k, uint64_t n)
{
    size_t i = atomic_fetch_add(&k->nok, 1);
    if (i < k->cap)
        atomic_store_explicit(&k->ok[i], (uint32_t)n, memory_order_relaxed);
}

/* A key some writer has recorded; false when none has been recorded yet. Slots are published
 * by their index before their value is stored, so a reader may briefly see a slot being filled:
 * it only reads slots below nok - 64, well behind the writers, when there are that many. */
static bool keys_pick(struct dir_bench_client *c, uint64_t *n)
{
    size_t nok = atomic_load(&c->keys->nok);
    if (nok > c->keys->cap)
        nok = c->keys->cap;
    size_t usable = nok > 128 ? nok - 64 : nok;
    if (!usable)
        return false;
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    *n = atomic_load_explicit(&c->keys->ok[c->rng % usable], memory_order_relaxed);
    return true;
}

void dir_bench_endpoint_addr(uint64_t n, uint8_t mac[6], uint8_t ip[4])
{
    mac[0] = 0x02;
    mac[1] = 0x00;
    mac[2] = (uint8_t)(n >> 24);
    mac[3] = (uint8_t)(n >> 16);
    mac[4] = (uint8_t)(n >> 8);
    mac[5] = (uint8_t)n;
    /* 254 hosts per /24 (last byte 1..254), starting at 10.1.0.1 */
    uint64_t net = n / 254, host = n % 254 + 1;
    ip[0] = 10;
    ip[1] = (uint8_t)(1 + (net >> 8));
    ip[2] = (uint8_t)net;
    ip[3] = (uint8_t)host;
}

void dir_bench_ep_cmd_init(struct dir_bench_ep_cmd *c, uint64_t n)
{
    c->cmd = (Strata__V1__Command)STRATA__V1__COMMAND__INIT;
    c->ep = (Strata__V1__Endpoint)STRATA__V1__ENDPOINT__INIT;
    dir_bench_endpoint_addr(n, c->mac, c->ip);
    c->ipbd.data = c->ip;
    c->ipbd.len = 4;
    c->ep.vni = DIR_BENCH_VNI;
    c->ep.mac.data = c->mac;
    c->ep.mac.len = 6;
    c->ep.n_ips = 1;
    c->ep.ips = &c->ipbd;
    c->ep.host = DIR_BENCH_HOST;
    c->cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
    c->cmd.endpoint_add = &c->ep;
}

size_t dir_bench_command_pack(uint64_t n, uint8_t *buf, size_t cap)
{
    struct dir_bench_ep_cmd c;
    dir_bench_ep_cmd_init(&c, n);
    c.cmd.client_id = 0x9e3779b97f4a7c15ull; /* a random 64-bit id, as dirclient picks one */
    c.cmd.req_id = n + 1;
    size_t len = strata__v1__command__get_packed_size(&c.cmd);
    if (len > cap)
        return 0;
    return strata__v1__command__pack(&c.cmd, buf);
}

/* The request of one operation, in storage the caller keeps until it is sent. */
struct write_msg {
    struct dir_bench_ep_cmd w;
    Strata__V1__WriteRequest wr;
    strata_env env;
};

static void write_msg_init(struct dir_bench_client *c, uint64_t n, struct write_msg *m)
{
    dir_bench_ep_cmd_init(&m->w, n);
    m->w.cmd.client_id = c->client_id;
    m->w.cmd.req_id = ++c->req_id;
    m->wr = (Strata__V1__WriteRequest)STRATA__V1__WRITE_REQUEST__INIT;
    m->wr.cmd = &m->w.cmd;
    m->env = (strata_env)STRATA__V1__ENVELOPE__INIT;
    m->env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
    m->env.write = &m->wr;
}

struct read_msg {
    Strata__V1__ResolveQuery q, *qp;
    Strata__V1__ResolveRequest rr;
    strata_env env;
};

/* Picks the key: STRATA_ENOTFOUND when nothing has been written yet. linearizable: through the
 * leader's read barrier (docs/directory.md, Reads). */
static int read_msg_init(struct dir_bench_client *c, struct read_msg *m, bool linearizable,
                         struct strata_err *e)
{
    uint64_t n;
    if (!keys_pick(c, &n))
        return strata_err_set(e, STRATA_ENOTFOUND, "nothing written to read");
    uint8_t mac[6];
    dir_bench_endpoint_addr(n, mac, c->pend_ip);
    m->q = (Strata__V1__ResolveQuery)STRATA__V1__RESOLVE_QUERY__INIT;
    m->q.vni = DIR_BENCH_VNI;
    m->q.ip.data = c->pend_ip;
    m->q.ip.len = 4;
    m->qp = &m->q;
    m->rr = (Strata__V1__ResolveRequest)STRATA__V1__RESOLVE_REQUEST__INIT;
    m->rr.n_queries = 1;
    m->rr.queries = &m->qp;
    m->rr.linearizable = linearizable;
    m->env = (strata_env)STRATA__V1__ENVELOPE__INIT;
    m->env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    m->env.resolve = &m->rr;
    return 0;
}

static int read_check(const struct dir_bench_client *c, const strata_env *reply,
                      struct strata_err *e)
{
    const uint8_t *ip = c->pend_ip;
    if (reply->body_case != STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY ||
        reply->resolve_reply->n_answers != 1)
        return strata_err_set(e, STRATA_EPROTO, "malformed resolve reply");
    if (!reply->resolve_reply->answers[0]->found)
        return strata_err_set(e, STRATA_ENOTFOUND, "endpoint %u.%u.%u.%u not found", ip[0], ip[1],
                              ip[2], ip[3]);
    return 0;
}

/* etcd key for endpoint n: looked up by IP, like a resolve. */
static size_t etcd_key(uint64_t n, char *buf, size_t cap)
{
    uint8_t mac[6], ip[4];
    dir_bench_endpoint_addr(n, mac, ip);
    int l = snprintf(buf, cap, "vn/%u/ip/%u.%u.%u.%u", DIR_BENCH_VNI, ip[0], ip[1], ip[2], ip[3]);
    return l > 0 ? (size_t)l : 0;
}

/* The key and value of the next put (a fresh key, in c->pend_n). */
static void etcd_put_kv(struct dir_bench_client *c, char key[64], size_t *klen, uint8_t val[256],
                        size_t *vlen)
{
    c->pend_n = atomic_fetch_add(&c->keys->next, 1);
    *klen = etcd_key(c->pend_n, key, 64);
    *vlen = dir_bench_command_pack(c->pend_n, val, 256);
}

/* The key of the next get (one written before, in c->pend_n). */
static int etcd_get_key(struct dir_bench_client *c, char key[64], size_t *klen,
                        struct strata_err *e)
{
    if (!keys_pick(c, &c->pend_n))
        return strata_err_set(e, STRATA_ENOTFOUND, "nothing written to read");
    *klen = etcd_key(c->pend_n, key, 64);
    return 0;
}

static int etcd_get_found(const struct dir_bench_client *c, int rc, bool found,
                          struct strata_err *e)
{
    if (rc == 0 && !found) {
        char key[64];
        etcd_key(c->pend_n, key, sizeof(key));
        rc = strata_err_set(e, STRATA_ENOTFOUND, "etcd: key %s not found", key);
    }
    return rc;
}

/* ---------------------------------------------------------------- blocking operations */

int dir_bench_op_strata_write(void *ctx, struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    uint64_t n = atomic_fetch_add(&c->keys->next, 1);
    struct write_msg m;
    write_msg_init(c, n, &m);
    strata_env *reply = NULL;
    int rc = sp_req_call(c->sp, &m.env, &reply, e);
    strata_msg_free(reply);
    c->ops++;
    if (rc == 0)
        keys_record(c->keys, n);
    return rc;
}

static int op_strata_read(void *ctx, bool linearizable, struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    struct read_msg m;
    int rc = read_msg_init(c, &m, linearizable, e);
    if (rc)
        return rc;
    strata_env *reply = NULL;
    rc = sp_req_call(c->sp, &m.env, &reply, e);
    c->ops++;
    if (rc == 0)
        rc = read_check(c, reply, e);
    strata_msg_free(reply);
    return rc;
}

int dir_bench_op_strata_read(void *ctx, struct strata_err *e)
{
    return op_strata_read(ctx, false, e);
}

int dir_bench_op_strata_linread(void *ctx, struct strata_err *e)
{
    return op_strata_read(ctx, true, e);
}

int dir_bench_op_etcd_put(void *ctx, struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    char key[64];
    uint8_t val[256];
    size_t klen, vlen;
    etcd_put_kv(c, key, &klen, val, &vlen);
    int rc = etcd_put(c->http, key, klen, val, vlen, e);
    c->ops++;
    if (rc == 0)
        keys_record(c->keys, c->pend_n);
    return rc;
}

int dir_bench_op_etcd_get(void *ctx, struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    char key[64];
    size_t klen = 0;
    bool found = false;
    int rc = etcd_get_key(c, key, &klen, e);
    if (!rc)
        rc = etcd_get(c->http, key, klen, &found, e);
    c->ops++;
    return etcd_get_found(c, rc, found, e);
}

/* ---------------------------------------------------------------- split operations */

static int aop_sp_fd(void *ctx)
{
    return sp_req_fd(((struct dir_bench_client *)ctx)->sp);
}

static struct strata_tls_conn *aop_sp_tls(void *ctx)
{
    return sp_req_tls(((struct dir_bench_client *)ctx)->sp);
}

static int aop_sp_frame(struct dir_bench_client *c, const strata_env *env, const uint8_t **req,
                        size_t *len, struct strata_err *e)
{
    free(c->frame);
    c->frame = NULL;
    int rc = sp_req_frame(c->sp, env, &c->frame, len, &c->pend_id, e);
    *req = c->frame;
    return rc;
}

/* The reply to the pending request, its status checked; DIR_BENCH_MORE until it is all in. */
static int aop_sp_reply(struct dir_bench_client *c, const uint8_t *in, size_t len, size_t *used,
                        strata_env **reply, struct strata_err *e)
{
    int rc = sp_req_parse(in, len, c->pend_id, used, reply, e);
    if (rc == SP_REQ_MORE)
        return DIR_BENCH_MORE;
    c->ops++;
    return rc ? rc : sp_req_status(reply, "strata", e);
}

static int aop_write_request(void *ctx, const uint8_t **req, size_t *len, struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    c->pend_n = atomic_fetch_add(&c->keys->next, 1);
    struct write_msg m;
    write_msg_init(c, c->pend_n, &m);
    return aop_sp_frame(c, &m.env, req, len, e);
}

static int aop_write_reply(void *ctx, const uint8_t *in, size_t len, size_t *used,
                           struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    strata_env *reply = NULL;
    int rc = aop_sp_reply(c, in, len, used, &reply, e);
    strata_msg_free(reply);
    if (rc == 0)
        keys_record(c->keys, c->pend_n);
    return rc;
}

static int read_request(void *ctx, bool linearizable, const uint8_t **req, size_t *len,
                        struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    struct read_msg m;
    int rc = read_msg_init(c, &m, linearizable, e);
    return rc ? rc : aop_sp_frame(c, &m.env, req, len, e);
}

static int aop_read_request(void *ctx, const uint8_t **req, size_t *len, struct strata_err *e)
{
    return read_request(ctx, false, req, len, e);
}

static int aop_linread_request(void *ctx, const uint8_t **req, size_t *len, struct strata_err *e)
{
    return read_request(ctx, true, req, len, e);
}

static int aop_read_reply(void *ctx, const uint8_t *in, size_t len, size_t *used,
                          struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    strata_env *reply = NULL;
    int rc = aop_sp_reply(c, in, len, used, &reply, e);
    if (rc == 0)
        rc = read_check(c, reply, e);
    strata_msg_free(reply);
    return rc;
}

static int aop_http_fd(void *ctx)
{
    return etcd_http_fd(((struct dir_bench_client *)ctx)->http);
}

static int aop_put_request(void *ctx, const uint8_t **req, size_t *len, struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    char key[64], body[ETCD_BODY_MAX];
    uint8_t val[256];
    size_t klen, vlen, blen;
    etcd_put_kv(c, key, &klen, val, &vlen);
    int rc = etcd_put_body(key, klen, val, vlen, body, &blen, e);
    return rc ? rc
              : etcd_http_request(c->http, "/v3/kv/put", body, blen, (const char **)req, len, e);
}

/* The HTTP reply to the pending request; DIR_BENCH_MORE until it is all in. A reply asking to
 * close the connection ends this client's run: the driver does not reconnect. */
static int aop_http_reply(struct dir_bench_client *c, const uint8_t *in, size_t len, size_t *used,
                          int *status, struct strata_err *e)
{
    bool close_after = false;
    int rc = etcd_http_parse(c->http, (const char *)in, len, used, status, &close_after, e);
    if (rc == ETCD_HTTP_MORE)
        return DIR_BENCH_MORE;
    c->ops++;
    if (rc == 0 && close_after) {
        *used = 0;
        rc = strata_err_set(e, STRATA_EUNAVAIL, "etcd closed the connection");
    }
    return rc;
}

static int aop_put_reply(void *ctx, const uint8_t *in, size_t len, size_t *used,
                         struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    int status = 0;
    int rc = aop_http_reply(c, in, len, used, &status, e);
    if (rc == 0)
        rc = etcd_put_check(status, etcd_http_body(c->http), e);
    if (rc == 0)
        keys_record(c->keys, c->pend_n);
    return rc;
}

static int aop_get_request(void *ctx, const uint8_t **req, size_t *len, struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    char key[64], body[ETCD_BODY_MAX];
    size_t klen = 0, blen;
    int rc = etcd_get_key(c, key, &klen, e);
    if (!rc)
        rc = etcd_get_body(key, klen, body, &blen, e);
    return rc ? rc
              : etcd_http_request(c->http, "/v3/kv/range", body, blen, (const char **)req, len, e);
}

static int aop_get_reply(void *ctx, const uint8_t *in, size_t len, size_t *used,
                         struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    int status = 0;
    bool found = false;
    int rc = aop_http_reply(c, in, len, used, &status, e);
    if (rc == DIR_BENCH_MORE)
        return rc;
    if (rc == 0)
        rc = etcd_get_check(status, etcd_http_body(c->http), &found, e);
    return etcd_get_found(c, rc, found, e);
}

const struct dir_bench_aop dir_bench_aop_strata_write = {aop_sp_fd, aop_sp_tls, aop_write_request,
                                                         aop_write_reply};
const struct dir_bench_aop dir_bench_aop_strata_read = {aop_sp_fd, aop_sp_tls, aop_read_request,
                                                        aop_read_reply};
const struct dir_bench_aop dir_bench_aop_strata_linread = {aop_sp_fd, aop_sp_tls,
                                                           aop_linread_request, aop_read_reply};
const struct dir_bench_aop dir_bench_aop_etcd_put = {aop_http_fd, NULL, aop_put_request,
                                                     aop_put_reply};
const struct dir_bench_aop dir_bench_aop_etcd_get = {aop_http_fd, NULL, aop_get_request,
                                                     aop_get_reply};
