/* cs-bench - strata-csd measured on loopback, with its peers side by side:
 *   - cached resolutions/s with 1 and 64 concurrent clients, next to a bare NNG req/rep echo
 *     server answering with a message of the same size (same client code, same run);
 *   - miss latency through to the directory (p50/p99);
 *   - convergence: 1,000 simulated agents (bench/agent-sim) all hold one endpoint; the time from
 *     a move's write ack to the last agent receiving the update, over several moves;
 *   - memory per cached entry (the server's counter and its RSS growth).
 *   - with --tls: cached resolutions over mutual TLS against plaintext, the same lean client on
 *     both sides (bench/lib/cs_bench_resolve.c), in alternating rounds.
 * Starts its own strata-dird (1 node) and strata-csd via the test harness (and a second pair on
 * TLS for --tls); prints one JSON object on stdout. Usage: cs-bench [--quick] [--tls].
 * STRATA_BIN points at the programs (default: the directory of this program). */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "client.h"
#include "cs_bench_resolve.h"
#include "dir_bench_stats.h"
#include "dirclient.h"
#include "flags.h"
#include "h_tls.h"
#include "harness.h"
#include "loop.h"
#include "msg.h"

#define ECHO_CTX 64
#define MAX_THREADS 64

static bool quick;

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "cs-bench: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    printf("{\"bench\":\"cs-bench\",\"error\":\"");
    printf(fmt, arg);
    printf("\"}\n");
    exit(1);
}

/* ---------------------------------------------------------------- echo server (own process) */

struct ectx {
    nng_ctx ctx;
    nng_aio *aio;
    bool sending;
};
static size_t echo_reply_size;

static void echo_cb(void *arg)
{
    struct ectx *c = arg;
    if (nng_aio_result(c->aio) != 0) {
        if (c->sending)
            nng_msg_free(nng_aio_get_msg(c->aio));
        c->sending = false;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    if (c->sending) {
        c->sending = false;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    nng_msg *m = nng_aio_get_msg(c->aio);
    nng_msg_realloc(m, echo_reply_size); /* answer with the server's reply size */
    nng_aio_set_msg(c->aio, m);
    c->sending = true;
    nng_ctx_send(c->ctx, c->aio);
}

static int echo_server(const char *url, size_t reply_size)
{
    nng_socket s;
    echo_reply_size = reply_size;
    if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0)
        return 1;
    static struct ectx c[ECHO_CTX];
    for (int i = 0; i < ECHO_CTX; i++) {
        nng_ctx_open(&c[i].ctx, s);
        nng_aio_alloc(&c[i].aio, echo_cb, &c[i]);
        nng_ctx_recv(c[i].ctx, c[i].aio);
    }
    for (;;)
        pause();
}

/* ---------------------------------------------------------------- throughput clients */

struct tput {
    const char *url;
    const void *req;
    size_t len;
    volatile int *stop;
    uint64_t count, errors;
};

static void *tput_thread(void *arg)
{
    struct tput *t = arg;
    nng_socket s;
    if (nng_req0_open(&s) != 0 || nng_dial(s, t->url, NULL, 0) != 0) {
        t->errors++;
        return NULL;
    }
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 2000);
    while (!*t->stop) {
        void *buf = NULL;
        size_t sz = 0;
        if (nng_send(s, (void *)t->req, t->len, 0) != 0 ||
            nng_recv(s, &buf, &sz, NNG_FLAG_ALLOC) != 0) {
            t->errors++;
            continue;
        }
        nng_free(buf, sz);
        t->count++;
    }
    nng_close(s);
    return NULL;
}

/* Requests/s from `threads` synchronous clients over duration_ms. */
static double tput_run(const char *url, const void *req, size_t len, int threads, int duration_ms)
{
    pthread_t th[MAX_THREADS];
    struct tput t[MAX_THREADS];
    volatile int stop = 0;
    for (int i = 0; i < threads; i++) {
        t[i] = (struct tput){.url = url, .req = req, .len = len, .stop = &stop};
        pthread_create(&th[i], NULL, tput_thread, &t[i]);
    }
    usleep(200 * 1000); /* warm-up: connections, caches */
    uint64_t c0 = 0;
    for (int i = 0; i < threads; i++)
        c0 += t[i].count;
    uint64_t t0 = strata_now_us();
    usleep((useconds_t)duration_ms * 1000);
    uint64_t c1 = 0;
    for (int i = 0; i < threads; i++)
        c1 += t[i].count;
    uint64_t t1 = strata_now_us();
    stop = 1;
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    return (double)(c1 - c0) * 1e6 / (double)(t1 - t0);
}

/* ---------------------------------------------------------------- helpers */

static strata_env *write_cmd(struct strata_dirclient *dc, Strata__V1__Command *cmd)
{
    strata_env *rep = NULL;
    struct strata_err e;
    if (strata_dirclient_write(dc, cmd, 20000, &rep, &e) != 0)
        die("directory write failed: %s", e.msg);
    return rep;
}

static void add_host(struct strata_dirclient *dc, const char *id, uint8_t last)
{
    uint8_t vtep[4] = {192, 168, 250, last};
    Strata__V1__Host h = STRATA__V1__HOST__INIT;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    h.id = (char *)id;
    h.vtep.data = vtep;
    h.vtep.len = 4;
    h.pod = (char *)"p1";
    cmd.op_case = STRATA__V1__COMMAND__OP_HOST_ADD;
    cmd.host_add = &h;
    strata_msg_free(write_cmd(dc, &cmd));
}

static void add_endpoint(struct strata_dirclient *dc, const uint8_t mac[6], const uint8_t ip[4],
                         const char *host)
{
    ProtobufCBinaryData ips[1] = {{4, (uint8_t *)ip}};
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    ep.vni = 100;
    ep.mac.data = (uint8_t *)mac;
    ep.mac.len = 6;
    ep.ips = ips;
    ep.n_ips = 1;
    ep.host = (char *)host;
    cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
    cmd.endpoint_add = &ep;
    strata_msg_free(write_cmd(dc, &cmd));
}

static void setup_directory(struct strata_dirclient *dc)
{
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    Strata__V1__Domain dom = STRATA__V1__DOMAIN__INIT;
    dom.name = (char *)"bench";
    cmd.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    cmd.domain_create = &dom;
    strata_msg_free(write_cmd(dc, &cmd));
    Strata__V1__Vnet vn = STRATA__V1__VNET__INIT;
    strata__v1__command__init(&cmd);
    vn.vni = 100;
    vn.domain = (char *)"bench";
    cmd.op_case = STRATA__V1__COMMAND__OP_VNET_CREATE;
    cmd.vnet_create = &vn;
    strata_msg_free(write_cmd(dc, &cmd));
    uint8_t pfx[4] = {10, 0, 0, 0};
    Strata__V1__Subnet sn = STRATA__V1__SUBNET__INIT;
    strata__v1__command__init(&cmd);
    sn.vni = 100;
    sn.prefix.data = pfx;
    sn.prefix.len = 4;
    sn.plen = 8;
    cmd.op_case = STRATA__V1__COMMAND__OP_SUBNET_CREATE;
    cmd.subnet_create = &sn;
    strata_msg_free(write_cmd(dc, &cmd));
    add_host(dc, "hA", 1);
    add_host(dc, "hB", 2);
}

static uint8_t *encode_resolve(const uint8_t (*ips)[4], size_t n, size_t *len)
{
    Strata__V1__ResolveQuery q[256], *qp[256];
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    for (size_t i = 0; i < n; i++) {
        strata__v1__resolve_query__init(&q[i]);
        q[i].vni = 100;
        q[i].ip.data = (uint8_t *)ips[i];
        q[i].ip.len = 4;
        qp[i] = &q[i];
    }
    rr.queries = qp;
    rr.n_queries = n;
    env.identity = (char *)"operator";
    env.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    env.resolve = &rr;
    uint8_t *buf;
    if (strata_msg_encode(&env, &buf, len, NULL) != 0)
        die("%s", "encode failed");
    return buf;
}

/* One resolve through a blocking client; returns the reply (status checked) or dies. */
static strata_env *resolve_raw(struct strata_sclient *c, const uint8_t (*ips)[4], size_t n)
{
    size_t len;
    uint8_t *buf = encode_resolve(ips, n, &len);
    strata_env *req = NULL, *rep = NULL;
    struct strata_err e;
    if (strata_msg_decode(buf, len, STRATA_MSG_MAX, &req, &e) != 0)
        die("decode: %s", e.msg);
    free(buf);
    if (strata_sclient_call(c, req, 10000, &rep, &e) != 0)
        die("resolve: %s", e.msg);
    strata_msg_free(req);
    if (rep->status != 0)
        die("resolve refused: %s", rep->message);
    return rep;
}

static uint64_t rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    uint64_t kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtoull(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

static uint64_t counter(struct strata_sclient *c, const char *name)
{
    Strata__V1__CacheShowRequest cr = STRATA__V1__CACHE_SHOW_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT, *rep = NULL;
    req.identity = (char *)"operator";
    req.body_case = STRATA__V1__ENVELOPE__BODY_CACHE_SHOW;
    req.cache_show = &cr;
    struct strata_err e;
    uint64_t v = 0;
    if (strata_sclient_call(c, &req, 10000, &rep, &e) != 0 || rep->status != 0)
        die("%s", "cache show failed");
    for (size_t i = 0; i < rep->cache_show_reply->n_counters; i++)
        if (strcmp(rep->cache_show_reply->counters[i]->name, name) == 0)
            v = rep->cache_show_reply->counters[i]->value;
    strata_msg_free(rep);
    return v;
}

static bool cs_ready(void *arg)
{
    Strata__V1__CacheShowRequest cr = STRATA__V1__CACHE_SHOW_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT, *rep = NULL;
    req.identity = (char *)"operator";
    req.body_case = STRATA__V1__ENVELOPE__BODY_CACHE_SHOW;
    req.cache_show = &cr;
    struct strata_sclient *c;
    bool ok = false;
    if (strata_sclient_open(arg, &c, NULL) == 0) {
        ok = strata_sclient_call(c, &req, 500, &rep, NULL) == 0 && rep->status == 0;
        if (rep)
            strata_msg_free(rep);
        strata_sclient_close(c);
    }
    return ok;
}

static bool echo_ready(void *arg)
{
    nng_socket s;
    bool ok = false;
    if (nng_req0_open(&s) == 0) {
        ok = nng_dial(s, arg, NULL, 0) == 0;
        nng_close(s);
    }
    return ok;
}

/* ---------------------------------------------------------------- the servers */

/* A directory node and a connectivity server in front of it, both in plaintext or both on
 * mutual TLS: certificates from tests/lib/h_tls, the node's named after its id (1), the
 * server's after its --id, both for 127.0.0.1. */
struct stack {
    char api[64], cs_url[64];
    int cs_port;
    pid_t dird, csd;
    struct strata_dirclient *dc;
};

static void stack_start(struct stack *st, const char *base, bool tls)
{
    const char *scheme = tls ? "tls+tcp://" : "tcp://", *tag = tls ? "tls" : "plain";
    const char *id = tls ? "bench-tls" : "bench";
    char raft[32], ddir[300], log[300], cluster[64];
    snprintf(raft, sizeof(raft), "127.0.0.1:%d", h_free_port());
    snprintf(st->api, sizeof(st->api), "%s127.0.0.1:%d", scheme, h_free_port());
    st->cs_port = h_free_port();
    snprintf(st->cs_url, sizeof(st->cs_url), "%s127.0.0.1:%d", scheme, st->cs_port);
    snprintf(ddir, sizeof(ddir), "%s/dird-%s", base, tag);
    snprintf(cluster, sizeof(cluster), "1=%s", raft);
    snprintf(log, sizeof(log), "%s/dird-%s.log", base, tag);
    char *dargv[20] = {(char *)h_bin("strata-dird"),
                       "--id",
                       "1",
                       "--data-dir",
                       ddir,
                       "--raft",
                       raft,
                       "--api",
                       st->api,
                       "--cluster",
                       cluster};
    int n = 11;
    if (tls)
        h_tls_flags(dargv, &n, "directory", "1", NULL);
    dargv[n] = NULL;
    st->dird = h_spawn(dargv, log);
    if (st->dird <= 0 || !h_wait_until(h_dir_has_leader, st->api, 20000))
        die("strata-dird did not start (log %s)", log);
    struct strata_err e;
    if (strata_dirclient_open(st->api, &st->dc, &e) != 0)
        die("dirclient: %s", e.msg);
    setup_directory(st->dc);

    snprintf(log, sizeof(log), "%s/csd-%s.log", base, tag);
    char *cargv[20] = {(char *)h_bin("strata-csd"),
                       "--id",
                       (char *)id,
                       "--pod",
                       "p1",
                       "--listen",
                       st->cs_url,
                       "--directory",
                       st->api,
                       "--negative-ttl-ms",
                       "3600000"};
    n = 11;
    if (tls)
        h_tls_flags(cargv, &n, "connectivity", id, NULL);
    cargv[n] = NULL;
    st->csd = h_spawn(cargv, log);
    if (st->csd <= 0 || !h_wait_until(cs_ready, st->cs_url, 10000))
        die("strata-csd did not start (log %s)", log);
}

static void stack_stop(struct stack *st)
{
    strata_dirclient_close(st->dc);
    h_stop(st->csd, 5000);
    h_stop(st->dird, 5000);
}

/* ---------------------------------------------------------------- TLS against plaintext */

#define TLS_ROUNDS_MAX 8

struct tls_side {
    double per_s[TLS_ROUNDS_MAX], p50[TLS_ROUNDS_MAX], p99[TLS_ROUNDS_MAX];
    double srv_cpu[TLS_ROUNDS_MAX], cli_cpu[TLS_ROUNDS_MAX]; /* ms per resolution */
    uint64_t errors;
};

static void tls_sample(struct tls_side *side, int r, const struct dir_bench_result *res)
{
    double ops = res->ops ? (double)res->ops : 1;
    side->per_s[r] = res->per_s;
    side->p50[r] = res->p50_ms;
    side->p99[r] = res->p99_ms;
    side->srv_cpu[r] = res->server_cpu_s * 1000.0 / ops;
    side->cli_cpu[r] = res->client_cpu_s * 1000.0 / ops;
    side->errors += res->errors;
}

static void tls_json_side(FILE *out, const char *name, struct tls_side *side, int rounds)
{
    fprintf(out, "\"%s_per_s_samples\":[", name);
    for (int r = 0; r < rounds; r++)
        fprintf(out, "%s%.0f", r ? "," : "", side->per_s[r]);
    fprintf(out,
            "],\"%s_per_s\":%.0f,\"%s_p50_ms\":%.3f,\"%s_p99_ms\":%.3f,"
            "\"%s_server_cpu_ms_per_op\":%.4f,\"%s_client_cpu_ms_per_op\":%.4f,\"%s_errors\":%llu",
            name, dir_bench_median(side->per_s, (unsigned)rounds), name,
            dir_bench_median(side->p50, (unsigned)rounds), name,
            dir_bench_median(side->p99, (unsigned)rounds), name,
            dir_bench_median(side->srv_cpu, (unsigned)rounds), name,
            dir_bench_median(side->cli_cpu, (unsigned)rounds), name,
            (unsigned long long)side->errors);
}

/* Cached resolutions of one key at 1 and 64 clients, from the same lean client
 * (bench/lib/cs_bench_resolve.c) against the plaintext server and a TLS one, alternating short
 * rounds; medians. Prints the "tls" member of the report into `out`. */
static void tls_compare(FILE *out, const char *base, const struct stack *plain, int rounds,
                        double secs)
{
    struct stack tls;
    stack_start(&tls, base, true);
    uint8_t key[4] = {10, 1, 0, 1};
    uint8_t mac[6] = {0x02, 0xbb, 0, 0, 0, 1};
    add_endpoint(tls.dc, mac, key, "hA");
    const unsigned conc[2] = {1, 64};
    struct tls_side sides[2][2]; /* [concurrency][plaintext, tls] */
    memset(sides, 0, sizeof(sides));
    struct strata_err e = {0};
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < 2; c++)
            for (int t = 0; t < 2; t++) {
                /* alternate which side goes first: drift in the machine's load hits both */
                int k = (r + c) % 2 ? 1 - t : t;
                const struct stack *st = k ? &tls : plain;
                struct cs_bench_resolve_opts o = {.port = k ? tls.cs_port : plain->cs_port,
                                                  .tls = k ? strata_tls_default() : NULL,
                                                  .server = st->csd,
                                                  .clients = conc[c],
                                                  .threads = 2,
                                                  .seconds = secs,
                                                  .vni = 100};
                memcpy(o.ip, key, 4);
                struct dir_bench_result res;
                if (cs_bench_resolve_run(&o, &res, &e) != 0)
                    die("resolve load: %s", e.msg);
                fprintf(stderr,
                        "cs-bench: %s, %u clients: %.0f/s p50 %.3f ms p99 %.3f ms, csd cpu %.2f s, "
                        "client cpu %.2f s, errors %llu%s%s\n",
                        k ? "tls" : "plaintext", conc[c], res.per_s, res.p50_ms, res.p99_ms,
                        res.server_cpu_s, res.client_cpu_s, (unsigned long long)res.errors,
                        res.errors ? ": " : "", res.first_error);
                tls_sample(&sides[c][k], r, &res);
            }
    stack_stop(&tls);
    fprintf(out, ",\"tls\":{\"rounds\":%d,\"seconds\":%.1f", rounds, secs);
    double ratio64 = 0;
    for (int c = 0; c < 2; c++) {
        double p = dir_bench_median(sides[c][0].per_s, (unsigned)rounds);
        double t = dir_bench_median(sides[c][1].per_s, (unsigned)rounds);
        double ratio = p > 0 ? t / p : 0;
        if (conc[c] == 64)
            ratio64 = ratio;
        fprintf(out, ",\"clients_%u\":{", conc[c]);
        tls_json_side(out, "plaintext", &sides[c][0], rounds);
        fputc(',', out);
        tls_json_side(out, "tls", &sides[c][1], rounds);
        fprintf(out, ",\"ratio\":%.3f}", ratio);
    }
    fprintf(out, ",\"target_ratio_64\":0.7,\"met\":%s}", ratio64 >= 0.7 ? "true" : "false");
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--echo-server") == 0)
        return echo_server(argv[2], (size_t)strtoull(argv[3], NULL, 10));
    bool with_tls = false;
    const struct strata_flag flags[] = {
        {"quick", STRATA_FLAG_BOOL, &quick, NULL, "fewer rounds, agents and entries", false, 0, 0},
        {"tls", STRATA_FLAG_BOOL, &with_tls, NULL,
         "also measure cached resolutions over mutual TLS against plaintext (a second directory "
         "node and server)",
         false, 0, 0},
        STRATA_FLAGS_END,
    };
    int st = strata_flags_main(flags, argc, argv, "cs-bench");
    if (st >= 0)
        return st;
    signal(SIGPIPE, SIG_IGN);
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl <= 0)
        die("%s", "cannot find myself");
    self[sl] = '\0';
    const char *base = h_tmpdir("cs-bench");
    char echo_url[64], log[300];
    snprintf(echo_url, sizeof(echo_url), "tcp://127.0.0.1:%d", h_free_port());
    if (with_tls) /* a fresh CA (tests/lib/h_tls); this process is its operator */
        strata_tls_set_default(h_tls_ctx("operator", "cs-bench"));
    struct stack plain;
    stack_start(&plain, base, false);
    struct strata_dirclient *dc = plain.dc;
    const char *cs_url = plain.cs_url, *api = plain.api;
    pid_t csd = plain.csd;
    struct strata_err e;
    struct strata_sclient *sc;
    if (strata_sclient_open(cs_url, &sc, &e) != 0)
        die("sclient: %s", e.msg);

    /* --- cached resolutions vs echo */
    uint8_t key[1][4] = {{10, 1, 0, 1}};
    uint8_t mac[6] = {0x02, 0xbb, 0, 0, 0, 1};
    add_endpoint(dc, mac, key[0], "hA");
    strata_msg_free(resolve_raw(sc, key, 1)); /* warm the cache */
    size_t req_len;
    uint8_t *req = encode_resolve(key, 1, &req_len);
    size_t rep_len = 0;
    {
        strata_env *rep = resolve_raw(sc, key, 1);
        if (strcmp(rep->resolve_reply->tier, "cs-cache") != 0)
            die("warm resolve answered by %s", rep->resolve_reply->tier);
        rep->req_id = 1;
        uint8_t *b;
        strata_msg_encode(rep, &b, &rep_len, NULL);
        free(b);
        strata_msg_free(rep);
    }
    char rep_arg[32];
    snprintf(rep_arg, sizeof(rep_arg), "%zu", rep_len);
    snprintf(log, sizeof(log), "%s/echo.log", base);
    char *eargv[] = {self, "--echo-server", echo_url, rep_arg, NULL};
    if (h_spawn(eargv, log) <= 0 || !h_wait_until(echo_ready, echo_url, 5000))
        die("%s", "echo server did not start");
    /* Alternate short rounds and keep each side's best: the machine is shared, and a burst of
     * someone else's work should not land on one side only. */
    int dur = 1000, rounds = quick ? 2 : 4;
    double cs1 = 0, ec1 = 0, cs64 = 0, ec64 = 0;
    for (int r = 0; r < rounds; r++) {
        double x;
        if ((x = tput_run(cs_url, req, req_len, 1, dur)) > cs1)
            cs1 = x;
        if ((x = tput_run(echo_url, req, req_len, 1, dur)) > ec1)
            ec1 = x;
        if ((x = tput_run(cs_url, req, req_len, 64, dur)) > cs64)
            cs64 = x;
        if ((x = tput_run(echo_url, req, req_len, 64, dur)) > ec64)
            ec64 = x;
    }
    free(req);

    /* --- the same resolutions over TLS, against plaintext (--tls) */
    char *tls_json = NULL;
    size_t tls_json_len = 0;
    FILE *tj = open_memstream(&tls_json, &tls_json_len);
    if (tj == NULL)
        die("%s", "out of memory");
    if (with_tls)
        tls_compare(tj, base, &plain, quick ? 2 : 3, quick ? 1.0 : 2.0);
    else
        fputs(",\"tls\":null", tj);
    fclose(tj);

    /* --- miss latency */
    int nmiss = quick ? 100 : 500;
    for (int i = 0; i < nmiss; i++) {
        uint8_t m[6] = {0x02, 0xcc, 0, 0, (uint8_t)(i >> 8), (uint8_t)i};
        uint8_t ip[4] = {10, 2, (uint8_t)(i >> 8), (uint8_t)i};
        add_endpoint(dc, m, ip, i % 2 ? "hA" : "hB");
    }
    uint64_t *lat = calloc((size_t)nmiss, sizeof(uint64_t));
    uint64_t *srv = calloc((size_t)nmiss, sizeof(uint64_t));
    for (int i = 0; i < nmiss; i++) {
        uint8_t ip[1][4] = {{10, 2, (uint8_t)(i >> 8), (uint8_t)i}};
        uint64_t t0 = strata_now_us();
        strata_env *rep = resolve_raw(sc, ip, 1);
        lat[i] = strata_now_us() - t0;
        srv[i] = rep->resolve_reply->elapsed_us;
        if (strcmp(rep->resolve_reply->tier, "cs-directory") != 0 ||
            !rep->resolve_reply->answers[0]->found)
            die("%s", "a miss was not answered by the directory");
        strata_msg_free(rep);
    }
    dir_bench_sort_u64(lat, (size_t)nmiss);
    dir_bench_sort_u64(srv, (size_t)nmiss);
    /* the peer: the same lookups asked of the directory itself, without the server between */
    uint64_t *dlat = calloc((size_t)nmiss, sizeof(uint64_t));
    struct strata_sclient *ds;
    if (strata_sclient_open(api, &ds, &e) != 0)
        die("sclient: %s", e.msg);
    for (int i = 0; i < nmiss; i++) {
        uint8_t ip[1][4] = {{10, 2, (uint8_t)(i >> 8), (uint8_t)i}};
        uint64_t t0 = strata_now_us();
        strata_msg_free(resolve_raw(ds, ip, 1));
        dlat[i] = strata_now_us() - t0;
    }
    strata_sclient_close(ds);
    dir_bench_sort_u64(dlat, (size_t)nmiss);

    /* --- convergence with simulated agents */
    int nagents = quick ? 200 : 1000, nmoves = quick ? 5 : 20;
    uint8_t emac[6] = {0x02, 0xbb, 0, 0, 0, 0x99};
    uint8_t eip[4] = {10, 250, 0, 1};
    add_endpoint(dc, emac, eip, "hA");
    /* hA and hB keep a port each in VN 100, so moving E between them changes no flood list:
     * what is measured is the endpoint update's fan-out alone */
    for (uint8_t h = 1; h <= 2; h++) {
        uint8_t pm[6] = {0x02, 0xbb, 0, 0, 1, h}, pip[4] = {10, 3, 0, h};
        add_endpoint(dc, pm, pip, h == 1 ? "hA" : "hB");
    }
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "exec %s --cs %s --agents %d --vni 100 --resolve 10.250.0.1 --expect-versions %d "
             "--max-ms 180000 2>>%s/agent-sim.log",
             h_bin("agent-sim"), cs_url, nagents, nmoves, base);
    FILE *sim = popen(cmd, "r");
    if (sim == NULL)
        die("%s", "cannot start agent-sim");
    char line[1024];
    uint64_t setup_ms = 0;
    bool ready = false;
    while (!ready && fgets(line, sizeof(line), sim)) {
        if (strstr(line, "\"event\":\"ready\"")) {
            ready = true;
            char *p = strstr(line, "\"setup_ms\":");
            setup_ms = p ? strtoull(p + 11, NULL, 10) : 0;
        }
    }
    if (!ready)
        die("agent-sim never got ready (log %s/agent-sim.log)", base);
    uint64_t *conv = calloc((size_t)nmoves, sizeof(uint64_t));
    uint64_t *conv_first = calloc((size_t)nmoves, sizeof(uint64_t));
    int done = 0;
    for (int m = 0; m < nmoves; m++) {
        Strata__V1__EndpointMove mv = STRATA__V1__ENDPOINT_MOVE__INIT;
        Strata__V1__Command c = STRATA__V1__COMMAND__INIT;
        mv.vni = 100;
        mv.mac.data = emac;
        mv.mac.len = 6;
        mv.host = (char *)(m % 2 == 0 ? "hB" : "hA");
        c.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_MOVE;
        c.endpoint_move = &mv;
        strata_env *rep = write_cmd(dc, &c);
        uint64_t ack_us = strata_wall_us();
        uint64_t version = rep->write_reply->endpoint ? rep->write_reply->endpoint->version
                                                      : rep->write_reply->index;
        strata_msg_free(rep);
        bool got = false;
        while (!got && fgets(line, sizeof(line), sim)) {
            char *p = strstr(line, "\"version\":");
            if (!strstr(line, "converged") || p == NULL || strtoull(p + 10, NULL, 10) != version)
                continue;
            char *l = strstr(line, "\"last_us\":"), *f = strstr(line, "\"first_us\":");
            uint64_t last = l ? strtoull(l + 10, NULL, 10) : 0;
            uint64_t first = f ? strtoull(f + 11, NULL, 10) : 0;
            conv[done] = last > ack_us ? last - ack_us : 0;
            conv_first[done] = first > ack_us ? first - ack_us : 0;
            done++;
            got = true;
        }
        if (!got)
            break;
    }
    char summary[1024] = "{}";
    while (fgets(line, sizeof(line), sim))
        if (strstr(line, "\"agents\":") && !strstr(line, "event")) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(summary, sizeof(summary), "%s", line);
        }
    pclose(sim);
    dir_bench_sort_u64(conv, (size_t)done);
    dir_bench_sort_u64(conv_first, (size_t)done);

    /* --- memory per cached entry (negative answers: the same fixed-size entry) */
    int nmem = quick ? 20000 : 100000;
    uint64_t e0 = counter(sc, "entries"), b0 = counter(sc, "cache_bytes");
    uint64_t r0 = rss_kb(csd);
    for (int i = 0; i < nmem; i += 256) {
        uint8_t ips[256][4];
        int n = nmem - i < 256 ? nmem - i : 256;
        for (int k = 0; k < n; k++) {
            uint32_t v = (uint32_t)(i + k);
            uint8_t ip[4] = {10, (uint8_t)(100 + (v >> 16)), (uint8_t)(v >> 8), (uint8_t)v};
            memcpy(ips[k], ip, 4);
        }
        strata_msg_free(resolve_raw(sc, (const uint8_t(*)[4])ips, (size_t)n));
    }
    uint64_t r1 = rss_kb(csd);
    uint64_t e1 = counter(sc, "entries"), b1 = counter(sc, "cache_bytes");
    double per_counter = e1 > e0 ? (double)(b1 - b0) / (double)(e1 - e0) : 0;
    double per_total = e1 ? (double)b1 / (double)e1 : 0;
    double per_rss = e1 > e0 ? (double)(r1 - r0) * 1024.0 / (double)(e1 - e0) : 0;

    printf(
        "{\"bench\":\"cs-bench\",\"quick\":%s,"
        "\"request_bytes\":%zu,\"reply_bytes\":%zu,"
        "\"cached_resolve\":{\"clients_1\":{\"cs_per_s\":%.0f,\"echo_per_s\":%.0f,"
        "\"ratio\":%.3f},\"clients_64\":{\"cs_per_s\":%.0f,\"echo_per_s\":%.0f,"
        "\"ratio\":%.3f},\"target_ratio\":0.7},"
        "\"miss_latency_us\":{\"n\":%d,\"p50\":%llu,\"p99\":%llu,\"server_p50\":%llu,"
        "\"server_p99\":%llu,\"directory_direct_p50\":%llu,\"directory_direct_p99\":%llu,"
        "\"target_p99\":2000},"
        "\"convergence_ms\":{\"agents\":%d,\"moves\":%d,\"setup_ms\":%llu,\"p50\":%.2f,"
        "\"p99\":%.2f,\"max\":%.2f,\"first_agent_p50\":%.2f,\"target_p99\":100,"
        "\"agent_sim\":%s},"
        "\"memory\":{\"entries\":%llu,\"bytes_per_entry_counter\":%.1f,"
        "\"bytes_per_entry_all\":%.1f,\"bytes_per_entry_rss\":%.1f,\"target\":200}%s}\n",
        quick ? "true" : "false", req_len, rep_len, cs1, ec1, ec1 > 0 ? cs1 / ec1 : 0, cs64, ec64,
        ec64 > 0 ? cs64 / ec64 : 0, nmiss, (unsigned long long)dir_bench_pct_u64(lat, nmiss, 0.5),
        (unsigned long long)dir_bench_pct_u64(lat, nmiss, 0.99),
        (unsigned long long)dir_bench_pct_u64(srv, nmiss, 0.5),
        (unsigned long long)dir_bench_pct_u64(srv, nmiss, 0.99),
        (unsigned long long)dir_bench_pct_u64(dlat, nmiss, 0.5),
        (unsigned long long)dir_bench_pct_u64(dlat, nmiss, 0.99), nagents, done,
        (unsigned long long)setup_ms, dir_bench_pct_u64(conv, (size_t)done, 0.5) / 1000.0,
        dir_bench_pct_u64(conv, (size_t)done, 0.99) / 1000.0, done ? conv[done - 1] / 1000.0 : 0.0,
        dir_bench_pct_u64(conv_first, (size_t)done, 0.5) / 1000.0, summary,
        (unsigned long long)(e1 - e0), per_counter, per_total, per_rss, tls_json);
    fflush(stdout);
    free(tls_json);
    strata_sclient_close(sc);
    stack_stop(&plain);
    free(lat);
    free(srv);
    free(dlat);
    free(conv);
    free(conv_first);
    h_cleanup();
    return 0;
}
