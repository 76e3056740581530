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

int dir_bench_op_strata_write(void *ctx, struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    uint64_t n = atomic_fetch_add(&c->keys->next, 1);
    struct dir_bench_ep_cmd w;
    dir_bench_ep_cmd_init(&w, n);
    w.cmd.client_id = c->client_id;
    w.cmd.req_id = ++c->req_id;
    Strata__V1__WriteRequest wr = STRATA__V1__WRITE_REQUEST__INIT;
    wr.cmd = &w.cmd;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
    req.write = &wr;
    strata_env *reply = NULL;
    int rc = sp_req_call(c->sp, &req, &reply, e);
    strata_msg_free(reply);
    c->ops++;
    if (rc == 0)
        keys_record(c->keys, n);
    return rc;
}

int dir_bench_op_strata_read(void *ctx, struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    uint64_t n;
    if (!keys_pick(c, &n))
        return strata_err_set(e, STRATA_ENOTFOUND, "nothing written to read");
    uint8_t mac[6], ip[4];
    dir_bench_endpoint_addr(n, mac, ip);

    Strata__V1__ResolveQuery q = STRATA__V1__RESOLVE_QUERY__INIT, *qp = &q;
    q.vni = DIR_BENCH_VNI;
    q.ip.data = ip;
    q.ip.len = 4;
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    rr.n_queries = 1;
    rr.queries = &qp;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    req.resolve = &rr;

    strata_env *reply = NULL;
    int rc = sp_req_call(c->sp, &req, &reply, e);
    c->ops++;
    if (rc)
        return rc;
    if (reply->body_case != STRATA__V1__ENVELOPE__BODY_RESOLVE_REPLY ||
        reply->resolve_reply->n_answers != 1)
        rc = strata_err_set(e, STRATA_EPROTO, "malformed resolve reply");
    else if (!reply->resolve_reply->answers[0]->found)
        rc = strata_err_set(e, STRATA_ENOTFOUND, "endpoint %u.%u.%u.%u not found", ip[0], ip[1],
                            ip[2], ip[3]);
    strata_msg_free(reply);
    return rc;
}

/* etcd key for endpoint n: looked up by IP, like a resolve. */
static size_t etcd_key(uint64_t n, char *buf, size_t cap)
{
    uint8_t mac[6], ip[4];
    dir_bench_endpoint_addr(n, mac, ip);
    int l = snprintf(buf, cap, "vn/%u/ip/%u.%u.%u.%u", DIR_BENCH_VNI, ip[0], ip[1], ip[2], ip[3]);
    return l > 0 ? (size_t)l : 0;
}

int dir_bench_op_etcd_put(void *ctx, struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    uint64_t n = atomic_fetch_add(&c->keys->next, 1);
    char key[64];
    uint8_t val[256];
    size_t klen = etcd_key(n, key, sizeof(key));
    size_t vlen = dir_bench_command_pack(n, val, sizeof(val));
    int rc = etcd_put(c->http, key, klen, val, vlen, e);
    c->ops++;
    if (rc == 0)
        keys_record(c->keys, n);
    return rc;
}

int dir_bench_op_etcd_get(void *ctx, struct strata_err *e)
{
    struct dir_bench_client *c = ctx;
    uint64_t n;
    if (!keys_pick(c, &n))
        return strata_err_set(e, STRATA_ENOTFOUND, "nothing written to read");
    char key[64];
    size_t klen = etcd_key(n, key, sizeof(key));
    bool found = false;
    int rc = etcd_get(c->http, key, klen, &found, e);
    c->ops++;
    if (rc == 0 && !found)
        rc = strata_err_set(e, STRATA_ENOTFOUND, "etcd: key %s not found", key);
    return rc;
}
