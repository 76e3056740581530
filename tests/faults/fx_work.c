/* fx_work.c - the fault harness's workload: writers re-adding endpoints with a unique address
 * each time, serializable readers of each directory node, simulated agents resolving through a
 * connectivity server; every operation recorded in the checker's history format. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "client.h"
#include "dirclient.h"
#include "fx.h"
#include "h_tls.h"
#include "harness.h"

#define FX_VNI 100
#define FX_WRITE_MS 3000
#define FX_READ_MS 1500
#define FX_MAX_THREADS 16

int64_t fx_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void fx_hist_record(struct fx_hist *h, const struct lc_op_in *op)
{
    pthread_mutex_lock(&h->mu);
    lc_op_in_print(h->f, op);
    fputc('\n', h->f);
    pthread_mutex_unlock(&h->mu);
    h->ops++;
    if (op->outcome == LC_OK)
        h->ok++;
    else if (op->outcome == LC_FAIL)
        h->fail++;
    else
        h->info++;
}

/* Key `id`: a register ep-ID written again and again (id < FX_NEW_BASE), or n-N written once
 * (id = FX_NEW_BASE + N), so that a lost acknowledged write shows in the final reads whenever
 * it happens, not only when it is a key's last. `seq` makes each write's address unique. */
void fx_hist_healed(struct fx_hist *h, int64_t now)
{
    h->first_ok_write_after = 0;
    h->heal_us = now;
}

static void fx_key(unsigned id, unsigned seq, char *name, size_t len, uint8_t mac[6], uint8_t ip[4])
{
    if (id < FX_NEW_BASE) {
        snprintf(name, len, "ep-%u", id);
        const uint8_t m[6] = {0x02, 0xfa, 0, 0, 0, (uint8_t)(id + 1)};
        const uint8_t a[4] = {10, (uint8_t)(id + 1), (uint8_t)(seq / 250),
                              (uint8_t)(seq % 250 + 1)};
        memcpy(mac, m, 6);
        memcpy(ip, a, 4);
        return;
    }
    unsigned n = id - FX_NEW_BASE;
    snprintf(name, len, "n-%u", n);
    const uint8_t m[6] = {0x02, 0xfc, 0, (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    const uint8_t a[4] = {10, (uint8_t)(64 + n / 62500), (uint8_t)(n / 250 % 250),
                          (uint8_t)(n % 250 + 1)};
    memcpy(mac, m, 6);
    memcpy(ip, a, 4);
}

/* A refusal that proves the write never took effect: validation and authorization. Anything
 * else (a timeout, no leader after a send, a full disk) may have committed: indeterminate. */
static enum lc_outcome fx_outcome(int rc)
{
    switch (rc) {
    case 0:
        return LC_OK;
    case STRATA_EINVAL:
    case STRATA_ENOTFOUND:
    case STRATA_EEXIST:
    case STRATA_ECONFLICT:
    case STRATA_EDENIED:
    case STRATA_ETOOBIG:
        return LC_FAIL;
    default:
        return LC_INFO;
    }
}

/* An endpoint of VN FX_VNI at mac with the one IPv4 address ip (*ipb holds it), on host. */
static void fx_endpoint(Strata__V1__Endpoint *ep, ProtobufCBinaryData *ipb, uint8_t mac[6],
                        uint8_t ip[4], char *host)
{
    strata__v1__endpoint__init(ep);
    *ipb = (ProtobufCBinaryData){4, ip};
    ep->vni = FX_VNI;
    ep->mac.data = mac;
    ep->mac.len = 6;
    ep->ips = ipb;
    ep->n_ips = 1;
    ep->host = host;
}

/* endpoint add (replace) of key `id` on host h<host> with a unique address; its value "hH/IP" in
 * val, the index it was applied at in *index (may be NULL). */
static int fx_put(struct strata_dirclient *c, unsigned id, int host, unsigned seq, char *val,
                  size_t len, uint64_t *index, struct strata_err *e)
{
    uint8_t mac[6], ip[4];
    char hn[16], key[32];
    fx_key(id, seq, key, sizeof(key), mac, ip);
    snprintf(hn, sizeof(hn), "h%d", host);
    snprintf(val, len, "%s/%u.%u.%u.%u", hn, ip[0], ip[1], ip[2], ip[3]);
    Strata__V1__Endpoint ep;
    ProtobufCBinaryData ipb;
    fx_endpoint(&ep, &ipb, mac, ip, hn);
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
    cmd.endpoint_add = &ep;
    strata_env *rep = NULL;
    int rc = strata_dirclient_write(c, &cmd, FX_WRITE_MS, &rep, e);
    if (rc == 0 && index != NULL)
        *index = rep->write_reply ? rep->write_reply->index : 0;
    if (rep != NULL)
        strata_msg_free(rep);
    return rc;
}

/* The value a resolve answer names: "HOST/IP", or "absent". */
static void fx_answer_value(const Strata__V1__ResolveAnswer *a, char *val, size_t len)
{
    if (!a->found || a->endpoint == NULL) {
        snprintf(val, len, "absent");
        return;
    }
    if (a->endpoint->n_ips == 0) {
        /* a connectivity server answers with the host and VTEP, not the addresses: its reads
         * are checked by version (lc_check_monotonic), never for their value */
        snprintf(val, len, "%s/cs", a->endpoint->host);
        return;
    }
    const ProtobufCBinaryData *ip = &a->endpoint->ips[0];
    if (ip->len == 4)
        snprintf(val, len, "%s/%u.%u.%u.%u", a->endpoint->host, ip->data[0], ip->data[1],
                 ip->data[2], ip->data[3]);
    else
        snprintf(val, len, "%s/ip%zu", a->endpoint->host, ip->len);
}

/* One resolve of the keys ids[0..n) (n <= FX_BATCH) through `node` of c (-1: a linearizable
 * read, from whichever node answers), or through the connectivity client cs; each key's answer
 * recorded as an operation of its own. */
static void fx_read(struct fx_hist *h, uint32_t *proc, struct strata_dirclient *c, int node,
                    struct strata_sclient *cs, const char *ident, const unsigned *ids, size_t n,
                    uint64_t min_index, bool final)
{
    static _Thread_local uint8_t mac[FX_BATCH][6];
    static _Thread_local Strata__V1__ResolveQuery q[FX_BATCH];
    static _Thread_local Strata__V1__ResolveQuery *qp[FX_BATCH];
    char key[32], val[64], nodename[16];
    uint8_t ip[4];
    for (size_t i = 0; i < n; i++) {
        fx_key(ids[i], 0, key, sizeof(key), mac[i], ip);
        strata__v1__resolve_query__init(&q[i]);
        q[i].vni = FX_VNI;
        q[i].mac.data = mac[i];
        q[i].mac.len = 6;
        qp[i] = &q[i];
    }
    strata_env env = STRATA__V1__ENVELOPE__INIT, *rep = NULL;
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    rr.queries = qp;
    rr.n_queries = n;
    rr.min_index = min_index;
#ifdef FX_HAVE_LIN_READS
    rr.linearizable = node < 0; /* after the directory's read barrier, through the leader */
#endif
    env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    env.resolve = &rr;
    env.identity = (char *)ident;
    struct strata_err e = {0};
    int64_t t0 = fx_now_us();
    int rc = cs != NULL ? strata_sclient_call(cs, &env, FX_READ_MS, &rep, &e)
             : node < 0 ? strata_dirclient_call(c, &env, FX_READ_MS, &rep, &e)
                        : strata_dirclient_call_node(c, node, &env, FX_READ_MS, &rep, &e);
    int64_t t1 = fx_now_us();
    bool answered =
        rc == 0 && rep->status == 0 && rep->resolve_reply && rep->resolve_reply->n_answers == n;
    snprintf(nodename, sizeof(nodename), cs != NULL ? "cs%d" : "d%d", node + 1);
    bool info = false;
    for (size_t i = 0; i < n; i++) {
        fx_key(ids[i], 0, key, sizeof(key), mac[i], ip);
        /* the keys of one request are read concurrently: one process each */
        if (n > 1 && i > 0)
            *proc = atomic_fetch_add(&h->next_proc, 1);
        struct lc_op_in op = {.proc = *proc,
                              .kind = LC_READ,
                              .key = key,
                              .final = final,
                              .invoke = t0,
                              .complete = t1,
                              .node = nodename,
                              .mode = cs != NULL ? LC_MODE_CS : LC_MODE_SER};
        if (cs == NULL && node < 0) { /* linearizable: checked as such, whoever served it */
            op.mode = LC_MODE_LIN;
            op.node = NULL;
        }
        const Strata__V1__ResolveAnswer *a = answered ? rep->resolve_reply->answers[i] : NULL;
        if (a != NULL && a->status == 0) {
            fx_answer_value(a, val, sizeof(val));
            op.value = val;
            op.outcome = LC_OK;
            op.has_version = true;
            op.version = a->version;
        } else {
            /* a read that did not answer changes nothing: the checker drops it either way */
            op.outcome = rc == 0 ? LC_FAIL : LC_INFO;
            op.complete = op.outcome == LC_INFO ? LC_T_INF : op.complete;
            info |= op.outcome == LC_INFO;
        }
        fx_hist_record(h, &op);
    }
    if (info)
        *proc = atomic_fetch_add(&h->next_proc, 1);
    if (rep != NULL)
        strata_msg_free(rep);
}

struct fx_thread {
    struct fx_work *w;
    pthread_t th;
    int kind, idx; /* 0 writer, 1 reader, 2 resolver */
};

struct fx_work {
    struct fx_topo *t;
    struct fx_hist *h;
    atomic_bool stop;
    bool lin; /* linearizable reads in the mix */
    atomic_uint seq[FX_KEYS];
    struct fx_thread th[FX_MAX_THREADS];
    int n;
};

static void fx_pause_ms(int ms)
{
    /* a client's pace between operations, not a synchronisation */
    usleep((useconds_t)ms * 1000);
}

static void fx_writer(struct fx_thread *x)
{
    struct fx_work *w = x->w;
    struct strata_dirclient *c = NULL;
    struct strata_err e = {0};
    if (strata_dirclient_open(w->t->dir_urls, &c, &e) != 0)
        return;
    unsigned rs = (unsigned)(x->idx * 7919 + 1);
    uint32_t proc = atomic_fetch_add(&w->h->next_proc, 1);
    while (!w->stop) {
        /* one write in four creates a key of its own, the others rewrite a register */
        unsigned k = rand_r(&rs) % FX_KEYS, seq = 0;
        int host = 1 + (int)(rand_r(&rs) % FX_HOSTS);
        if (rand_r(&rs) % 4 == 0)
            k = FX_NEW_BASE + atomic_fetch_add(&w->h->new_keys, 1);
        else
            seq = atomic_fetch_add(&w->seq[k], 1) + 1;
        char key[32], val[64];
        uint8_t mac[6], ip[4];
        fx_key(k, seq, key, sizeof(key), mac, ip);
        struct lc_op_in op = {.proc = proc, .kind = LC_WRITE, .key = key, .value = val};
        op.invoke = fx_now_us();
        int rc = fx_put(c, k, host, seq, val, sizeof(val), NULL, &e);
        op.complete = fx_now_us();
        op.outcome = fx_outcome(rc);
        if (op.outcome == LC_INFO)
            op.complete = LC_T_INF;
        fx_hist_record(w->h, &op);
        if (op.outcome == LC_OK) {
            w->h->writes_ok++;
            long long heal = w->h->heal_us, zero = 0;
            if (heal != 0 && op.complete > heal &&
                atomic_compare_exchange_strong(&w->h->first_ok_write_after, &zero, op.complete)) {
                long long rec = op.complete - heal, max = w->h->rec_max_us;
                w->h->rec_sum_us += rec;
                w->h->rec_n++;
                while (rec > max && !atomic_compare_exchange_weak(&w->h->rec_max_us, &max, rec))
                    ;
            }
            fx_pause_ms(5); /* ~200 writes/s a writer: a 30-minute history stays ~100 MB */
        } else {
            proc = atomic_fetch_add(&w->h->next_proc, 1);
            fx_pause_ms(100);
        }
    }
    strata_dirclient_close(c);
}

static void fx_reader(struct fx_thread *x)
{
    struct fx_work *w = x->w;
    struct strata_dirclient *c = NULL;
    struct strata_err e = {0};
    if (strata_dirclient_open(w->t->dir_urls, &c, &e) != 0)
        return;
    unsigned rs = (unsigned)(x->idx * 104729 + 3);
    uint32_t proc = atomic_fetch_add(&w->h->next_proc, 1);
    for (int i = 0; !w->stop; i++) {
        unsigned k = rand_r(&rs) % FX_KEYS, made = w->h->new_keys;
        if (made > 0 && rand_r(&rs) % 4 == 0)
            k = FX_NEW_BASE + rand_r(&rs) % made;
        /* with linearizable reads on, every other read is one (any node: the barrier goes
         * through the leader), the others serializable reads of each node in turn */
        int node = w->lin && i % 2 == 1 ? -1 : (i / 2 + x->idx) % FX_NODES;
        fx_read(w->h, &proc, c, node, NULL, "operator", &k, 1, 0, false);
        fx_pause_ms(10);
    }
    strata_dirclient_close(c);
}

/* A simulated agent of host h<idx+1>: registers, then resolves keys through the csd. */
static int fx_agent_open(struct fx_topo *t, int idx, struct strata_sclient **c, char *ident,
                         size_t len)
{
    char host[16];
    uint8_t vtep[4] = {192, 0, 2, (uint8_t)(11 + idx)}, mac[6] = {0x02, 0xfb, 0, 0, 0, 0},
            ip[4] = {10, 200, 0, (uint8_t)(idx + 1)};
    mac[5] = (uint8_t)(idx + 1);
    snprintf(host, sizeof(host), "h%d", idx + 1);
    snprintf(ident, len, "host:%s", host);
    struct strata_err e = {0};
    if (strata_sclient_open_tls(t->cs_url[idx % FX_CSDS], h_tls_ident(ident), c, &e) != 0)
        return -1;
    Strata__V1__HostRegister hr = STRATA__V1__HOST_REGISTER__INIT;
    hr.host = host;
    hr.vtep.data = vtep;
    hr.vtep.len = 4;
    hr.pod = (char *)"p1";
    Strata__V1__Endpoint ep;
    ProtobufCBinaryData ipb;
    fx_endpoint(&ep, &ipb, mac, ip, host);
    Strata__V1__PortRegister pr = STRATA__V1__PORT_REGISTER__INIT;
    pr.endpoint = &ep;
    for (int step = 0; step < 2; step++) {
        strata_env env = STRATA__V1__ENVELOPE__INIT, *rep = NULL;
        env.identity = ident;
        if (step == 0) {
            env.body_case = STRATA__V1__ENVELOPE__BODY_HOST_REGISTER;
            env.host_register = &hr;
        } else {
            env.body_case = STRATA__V1__ENVELOPE__BODY_PORT_REGISTER;
            env.port_register = &pr;
        }
        uint64_t end = h_now_ms() + 20000;
        int st = -1;
        while (st != 0 && h_now_ms() < end) {
            int rc = strata_sclient_call(*c, &env, 2000, &rep, &e);
            st = rc != 0 ? rc : rep->status == STRATA_EEXIST ? 0 : rep->status;
            if (st != 0)
                fprintf(stderr, "strata-faults: agent %s: %s\n", host,
                        rc             ? e.msg
                        : rep->message ? rep->message
                                       : strata_strerror(st));
            if (rep)
                strata_msg_free(rep);
            rep = NULL;
            if (st != 0)
                fx_pause_ms(300);
        }
        if (st != 0)
            return -1;
    }
    return 0;
}

static void fx_resolver(struct fx_thread *x)
{
    struct fx_work *w = x->w;
    struct strata_sclient *c = NULL;
    char ident[32];
    if (fx_agent_open(w->t, x->idx, &c, ident, sizeof(ident)) != 0) {
        fprintf(stderr, "strata-faults: agent h%d could not register\n", x->idx + 1);
        if (c)
            strata_sclient_close(c);
        return;
    }
    unsigned rs = (unsigned)(x->idx * 31 + 5);
    uint32_t proc = atomic_fetch_add(&w->h->next_proc, 1);
    while (!w->stop) {
        unsigned k = rand_r(&rs) % FX_KEYS;
        fx_read(w->h, &proc, NULL, x->idx % FX_CSDS, c, ident, &k, 1, 0, false);
        fx_pause_ms(10);
    }
    strata_sclient_close(c);
}

static void *fx_thread_main(void *arg)
{
    struct fx_thread *x = arg;
    if (x->kind == 0)
        fx_writer(x);
    else if (x->kind == 1)
        fx_reader(x);
    else
        fx_resolver(x);
    return NULL;
}

int fx_work_setup(struct fx_topo *t, struct fx_hist *h)
{
    if (fx_cli(t, 30000, "domain create acme") != 0 ||
        fx_cli(t, 10000, "vnet create --vni %d --domain acme", FX_VNI) != 0 ||
        fx_cli(t, 10000, "subnet create --vni %d --cidr 10.0.0.0/8 --gateway 10.255.255.254",
               FX_VNI) != 0)
        return -1;
    for (int i = 1; i <= FX_HOSTS; i++)
        if (fx_cli(t, 10000, "host add --id h%d --vtep 192.0.2.%d --pod p1 --replace", i, 10 + i) !=
            0)
            return -1;
    struct strata_dirclient *c = NULL;
    struct strata_err e = {0};
    if (strata_dirclient_open(t->dir_urls, &c, &e) != 0)
        return -1;
    for (unsigned k = 0; k < FX_KEYS; k++) {
        char key[32], val[64];
        uint8_t mac[6], ip[4];
        fx_key(k, 0, key, sizeof(key), mac, ip);
        if (fx_put(c, k, 1, 0, val, sizeof(val), NULL, &e) != 0) {
            fprintf(stderr, "strata-faults: initial %s: %s\n", key, e.msg);
            strata_dirclient_close(c);
            return -1;
        }
        fprintf(h->f, "op=init key=%s val=%s\n", key, val);
    }
    strata_dirclient_close(c);
    return 0;
}

int fx_work_start(struct fx_topo *t, struct fx_hist *h, const struct fx_work_opts *o,
                  struct fx_work **out)
{
    struct fx_work *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -1;
    w->t = t;
    w->h = h;
    w->lin = o->lin_reads;
    for (int k = 0; k < FX_KEYS; k++)
        w->seq[k] = 0;
    int counts[3] = {o->writers, o->readers, o->resolvers};
    for (int kind = 0; kind < 3; kind++)
        for (int i = 0; i < counts[kind] && w->n < FX_MAX_THREADS; i++) {
            struct fx_thread *x = &w->th[w->n];
            x->w = w;
            x->kind = kind;
            x->idx = i;
            if (pthread_create(&x->th, NULL, fx_thread_main, x) == 0)
                w->n++;
        }
    *out = w;
    return 0;
}

void fx_work_stop(struct fx_work *w)
{
    w->stop = true;
    for (int i = 0; i < w->n; i++)
        pthread_join(w->th[i].th, NULL);
    free(w);
}

int fx_work_final(struct fx_topo *t, struct fx_hist *h)
{
    struct strata_dirclient *c = NULL;
    struct strata_err e = {0};
    if (strata_dirclient_open(t->dir_urls, &c, &e) != 0)
        return -1;
    /* A write of a key nobody else writes: once it is applied, every acknowledged write is. */
    uint64_t index = 0, end = h_now_ms() + 30000;
    char val[64];
    int rc;
    while ((rc = fx_put(c, FX_KEYS, 1, 1, val, sizeof(val), &index, &e)) != 0 && h_now_ms() < end)
        fx_pause_ms(200);
    int leader = -1;
    while ((leader = fx_leader(t)) < 0 && h_now_ms() < end)
        fx_pause_ms(200);
    if (rc != 0 || leader < 0) {
        fprintf(stderr, "strata-faults: no leader for the final reads: %s\n", e.msg);
        strata_dirclient_close(c);
        return -1;
    }
    /* every key ever written, FX_BATCH to a request */
    uint32_t proc = atomic_fetch_add(&h->next_proc, 1);
    unsigned ids[FX_BATCH], nk = 0, made = h->new_keys;
    for (unsigned k = 0; k < FX_KEYS + made; k++) {
        ids[nk++] = k < FX_KEYS ? k : FX_NEW_BASE + (k - FX_KEYS);
        if (nk == FX_BATCH || k + 1 == FX_KEYS + made) {
            fx_read(h, &proc, c, leader, NULL, "operator", ids, nk, index, true);
            nk = 0;
        }
    }
    strata_dirclient_close(c);
    return 0;
}
