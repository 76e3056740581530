/* test_mem_attacks.c - the memory attacks of issue 22 against a 3-node directory on loopback:
 * each must leave every node under 256 MB resident, answering another client promptly, and the
 * leader leading. The attackers connect from 127.0.0.2 so that a per-address cap leaves the
 * probe (127.0.0.1) its way in, as a real attacker's address would. Figures go to stderr (and to
 * docs/reliability.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "h_tls.h"
#include "sp_wire.h"
#include "test_dir_common.h"

#define RSS_MAX_KB (256 * 1024)
#define MAX_FDS 1200

static struct td_cluster C;
static pid_t csd_pid;
static char csd_url[64];
static int fds[MAX_FDS];
static SSL *ssls[MAX_FDS]; /* over TLS: each attacker's session (NULL: plain bytes) */
static int nfds;
static SSL_CTX *attacker_tls; /* an operator's certificate: every request is authorized */

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* The attackers' TLS: blocking handshakes, then partial writes that never wait. */
static SSL_CTX *attacker_ctx(void)
{
    if (attacker_tls == NULL) {
        struct strata_tls_files f = h_tls_files("operator", "attacker", NULL);
        attacker_tls = SSL_CTX_new(TLS_client_method());
        assert_non_null(attacker_tls);
        assert_int_equal(SSL_CTX_load_verify_locations(attacker_tls, f.ca, NULL), 1);
        assert_int_equal(SSL_CTX_use_certificate_file(attacker_tls, f.cert, SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(attacker_tls, f.key, SSL_FILETYPE_PEM), 1);
        SSL_CTX_set_mode(attacker_tls,
                         SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    return attacker_tls;
}

/* A TCP connection from 127.0.0.2 to a tcp:// URL on 127.0.0.1, handshake sent (or not). Over
 * tls+tcp:// "handshake" means both: TLS as an operator, then SP; without it the connection
 * sends nothing at all, as a client without a certificate would. */
static int attacker_conn_url(const char *url, bool handshake)
{
    const char *api = strstr(url, "://") + 3;
    int port = atoi(strchr(api, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.2", &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons((uint16_t)port);
    int small = 4096; /* an attacker that never reads keeps its receive window small */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
        close(fd);
        return -1;
    }
    uint8_t hs[SP_HANDSHAKE_LEN];
    sp_handshake(hs, SP_PROTO_REQ0);
    SSL *ssl = NULL;
    if (handshake && strata_tls_url(url)) {
        ssl = SSL_new(attacker_ctx());
        SSL_set_fd(ssl, fd);
        if (SSL_connect(ssl) != 1 || SSL_write(ssl, hs, sizeof(hs)) != (int)sizeof(hs)) {
            ERR_clear_error();
            SSL_free(ssl);
            close(fd);
            return -1;
        }
    } else if (handshake && write(fd, hs, sizeof(hs)) != (ssize_t)sizeof(hs)) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK); /* the server may stop reading: never block on it */
    if (nfds < MAX_FDS) {
        ssls[nfds] = ssl;
        fds[nfds++] = fd;
    } else {
        SSL_free(ssl);
    }
    return fd;
}

/* The same to a directory node's API. -1 on failure. */
static int attacker_conn(int node, bool handshake)
{
    return attacker_conn_url(C.node[node].api, handshake);
}

static void close_attackers(void)
{
    while (nfds > 0) {
        nfds--;
        SSL_free(ssls[nfds]);
        ssls[nfds] = NULL;
        close(fds[nfds]);
    }
}

/* Appends one framed request (id, env) to buf at *off. */
static void frame(uint8_t *buf, size_t cap, size_t *off, uint32_t id, strata_env *env)
{
    size_t n = strata__v1__envelope__get_packed_size(env);
    assert_true(*off + SP_REQ_HEAD_LEN + n <= cap);
    sp_req_head(buf + *off, id, n);
    strata__v1__envelope__pack(env, buf + *off + SP_REQ_HEAD_LEN);
    *off += SP_REQ_HEAD_LEN + n;
}

static size_t send_some(int fd, const uint8_t *buf, size_t len)
{
    SSL *ssl = NULL;
    for (int i = 0; i < nfds; i++)
        if (fds[i] == fd)
            ssl = ssls[i];
    size_t sent = 0;
    while (sent < len) {
        size_t chunk = len - sent < (1u << 20) ? len - sent : (1u << 20);
        ssize_t w = ssl != NULL ? SSL_write(ssl, buf + sent, (int)chunk)
                                : write(fd, buf + sent, len - sent);
        if (w <= 0) {
            ERR_clear_error();
            break;
        }
        sent += (size_t)w;
    }
    return sent;
}

struct probe {
    double max_ms, ms[4096];
    int n, failures;
};

/* One request with a fresh client (as an operator's CLI would): its time and failure noted. */
static void probe_one(struct probe *p, const char *url, strata_env *req)
{
    uint64_t t0 = h_now_ms();
    strata_env *r = td_call(url, req, 5000);
    double ms = (double)(h_now_ms() - t0);
    if (r == NULL)
        p->failures++;
    else
        strata_msg_free(r);
    if (ms > p->max_ms)
        p->max_ms = ms;
    if (p->n < 4096)
        p->ms[p->n++] = ms;
}

/* Every node answers a status request, and the connectivity server (once it runs) an operator's
 * cache show. */
static void probe_all(struct probe *p)
{
    Strata__V1__ClusterStatusRequest sr = STRATA__V1__CLUSTER_STATUS_REQUEST__INIT;
    strata_env st = STRATA__V1__ENVELOPE__INIT;
    st.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS;
    st.cluster_status = &sr;
    for (int i = 0; i < 3; i++)
        probe_one(p, C.node[i].api, &st);
    if (csd_pid > 0) {
        Strata__V1__CacheShowRequest cr;
        strata_env cs;
        td_csd_show_req(&cs, &cr);
        probe_one(p, csd_url, &cs);
    }
}

struct verdict {
    const char *name;
    long rss_kb[4]; /* the three nodes, the csd */
    struct probe probe;
    int leader_before, leader_after;
};

/* Runs the probe for `ms` while an attack holds, then checks every bound. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void hold_and_check(struct verdict *v, int ms)
{
    uint64_t until = h_now_ms() + (uint64_t)ms;
    while (h_now_ms() < until) {
        probe_all(&v->probe);
        for (int i = 0; i < 4; i++) {
            long kb = i < 3 ? rss_kb(C.node[i].pid) : csd_pid > 0 ? rss_kb(csd_pid) : 0;
            if (kb > v->rss_kb[i])
                v->rss_kb[i] = kb;
        }
        usleep(50 * 1000); /* paces the probe; nothing waits on it */
    }
    v->leader_after = td_wait_leader(&C, 5000);
    qsort(v->probe.ms, (size_t)v->probe.n, sizeof(double), cmp_double);
    fprintf(stderr,
            "attack %-28s rss_mb %5.1f %5.1f %5.1f csd %5.1f  probe_ms p50 %3.0f p99 %3.0f max "
            "%4.0f (%d) failures %d  leader %d -> %d\n",
            v->name, v->rss_kb[0] / 1024.0, v->rss_kb[1] / 1024.0, v->rss_kb[2] / 1024.0,
            v->rss_kb[3] / 1024.0, v->probe.ms[v->probe.n / 2], v->probe.ms[v->probe.n * 99 / 100],
            v->probe.max_ms, v->probe.n, v->probe.failures, v->leader_before, v->leader_after);
    for (int i = 0; i < 4; i++)
        if (v->rss_kb[i] > RSS_MAX_KB)
            fail_msg("%s: %s %d reached %ld MB", v->name, i < 3 ? "node" : "csd", i + 1,
                     v->rss_kb[i] / 1024);
    /* the median is the normal latency; the slowest answers wait behind the attackers' first
     * turns (each served up to 64 KiB of replies a loop turn until its 4 MiB queue is full) */
    if (v->probe.failures > 0 || v->probe.ms[v->probe.n / 2] > 20 || v->probe.max_ms > 1000)
        fail_msg("%s: probe failures %d, slowest %.0f ms", v->name, v->probe.failures,
                 v->probe.max_ms);
    assert_int_equal(v->leader_after, v->leader_before);
}

/* Over 10 connections to url that never read their replies, per_conn bytes of env each; then
 * the bounds are checked while they stay open. */
static void pipeline_unread(const char *name, const char *url, strata_env *env, size_t per_conn)
{
    struct verdict v = {.name = name, .leader_before = td_wait_leader(&C, 5000)};
    uint8_t *buf = malloc(per_conn + 256);
    size_t total = 0;
    for (int c = 0; c < 10; c++) {
        int fd = attacker_conn_url(url, true);
        assert_true(fd >= 0);
        size_t off = 0;
        for (uint32_t id = 1; off + 64 < per_conn; id++)
            frame(buf, per_conn + 256, &off, id, env);
        total += send_some(fd, buf, off);
    }
    free(buf);
    fprintf(stderr, "%s: %zu bytes of requests sent, none read\n", name, total);
    hold_and_check(&v, 3000);
    close_attackers();
}

/* Pipelined small list requests (~100 KB replies) at a node. */
static void attack_pipelined(int node, const char *name)
{
    Strata__V1__ListRequest lr = STRATA__V1__LIST_REQUEST__INIT;
    lr.kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    lr.vni = TD_VNI;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_LIST;
    env.list = &lr;
    pipeline_unread(name, C.node[node].api, &env, 64 * 1024);
}

/* 2 M empty repeated entries in one 4 MB request, several times, at the leader. */
static void attack_decode_cost(int node)
{
    struct verdict v = {.name = "decode cost (leader)", .leader_before = td_wait_leader(&C, 5000)};
    enum { N = 2000000 };
    size_t inner = 2 * (size_t)N, len = SP_REQ_HEAD_LEN;
    uint8_t *b = malloc(inner + 64);
    b[len++] = 0x72; /* Envelope.resolve = 14, length-delimited */
    uint64_t l = inner;
    do {
        b[len++] = (uint8_t)((l & 0x7f) | (l >= 0x80 ? 0x80 : 0));
        l >>= 7;
    } while (l != 0);
    for (size_t i = 0; i < N; i++) {
        b[len++] = 0x0a;
        b[len++] = 0x00;
    }
    sp_req_head(b, 1, len - SP_REQ_HEAD_LEN);
    for (int k = 0; k < 5; k++) {
        int fd = attacker_conn(node, true);
        assert_true(fd >= 0);
        fcntl(fd, F_SETFL, 0);
        send_some(fd, b, len);
    }
    free(b);
    hold_and_check(&v, 3000);
    close_attackers();
}

/* Parked long-polls: 80 feed requests that wait 30 s, each padded with a 1 MB unknown field
 * (80 MB sent; decoded and held whole, they cost 1.5 GB before). */
static void attack_parked(int node)
{
    struct verdict v = {.name = "parked padded long-polls",
                        .leader_before = td_wait_leader(&C, 5000)};
    enum { PAD = 1000000 };
    uint8_t *pad = calloc(1, PAD + 3);
    pad[0] = (uint8_t)(0x80 | (PAD & 0x7f));
    pad[1] = (uint8_t)(0x80 | ((PAD >> 7) & 0x7f));
    pad[2] = (uint8_t)(PAD >> 14);
    ProtobufCMessageUnknownField uf = {
        .tag = 999, .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, .len = PAD + 3, .data = pad};
    Strata__V1__FeedRequest fr = STRATA__V1__FEED_REQUEST__INIT;
    fr.after_index = 1u << 30; /* far ahead: nothing to send, so it parks */
    fr.max = 16;
    fr.wait_ms = 30000;
    fr.base.unknown_fields = &uf;
    fr.base.n_unknown_fields = 1;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_FEED;
    env.feed = &fr;
    size_t cap = 4 * (PAD + 256), total = 0;
    uint8_t *buf = malloc(cap);
    for (int c = 0; c < 20; c++) {
        int fd = attacker_conn(node, true);
        assert_true(fd >= 0);
        size_t off = 0;
        for (uint32_t id = 1; id <= 4; id++)
            frame(buf, cap, &off, id, &env);
        fcntl(fd, F_SETFL, 0);
        total += send_some(fd, buf, off);
    }
    free(buf);
    free(pad);
    fprintf(stderr, "parked: %zu bytes of padded feed requests sent\n", total);
    hold_and_check(&v, 3000);
    close_attackers();
}

/* 100 frames announcing 4 MiB, each sent half and then held. */
static void attack_partial_frames(int node)
{
    struct verdict v = {.name = "partial 4 MiB frames", .leader_before = td_wait_leader(&C, 5000)};
    size_t half = 2u << 20;
    uint8_t *b = calloc(1, SP_LEN_BYTES + half);
    sp_put_be64(b, STRATA_MSG_MAX);
    b[SP_LEN_BYTES] = 0x80; /* a request id with its top bit set */
    size_t total = 0;
    for (int c = 0; c < 100; c++) {
        int fd = attacker_conn(node, true);
        if (fd < 0)
            break;
        total += send_some(fd, b, SP_LEN_BYTES + half);
    }
    free(b);
    fprintf(stderr, "partial frames: %zu bytes sent\n", total);
    hold_and_check(&v, 2000);
    close_attackers();
}

/* 1,100 idle connections (handshake only, or nothing at all). */
static void attack_idle(int node)
{
    struct verdict v = {.name = "1100 idle connections", .leader_before = td_wait_leader(&C, 5000)};
    int opened = 0;
    for (int c = 0; c < 1100; c++)
        opened += attacker_conn(node, c % 2 == 0) >= 0;
    fprintf(stderr, "idle: %d connections opened\n", opened);
    hold_and_check(&v, 2000);
    close_attackers();
}

/* Pipelined cache-show requests (an operator's: the whole cache each time) over 10 connections
 * that never read, at the connectivity server (162 KB of them took a csd to 1.7 GB). */
static void attack_csd_cache_show(void)
{
    Strata__V1__CacheShowRequest cr;
    strata_env env;
    td_csd_show_req(&env, &cr);
    pipeline_unread("pipelined cache show (csd)", csd_url, &env, 16 * 1024);
}

/* A connectivity server on the cluster, its cache filled with the 2,000 endpoints. */
static void start_csd(void)
{
    char urls[512];
    td_urls(&C, 0, urls, sizeof(urls));
    char log[512];
    snprintf(log, sizeof(log), "%s.csd.log", C.node[0].dir);
    csd_pid = td_csd_start(urls, csd_url, sizeof(csd_url), log, NULL);
    Strata__V1__ResolveQuery q[64], *qp[64];
    uint8_t ips[64][4];
    Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.identity = (char *)"operator";
    req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
    req.resolve = &rr;
    uint64_t deadline = h_now_ms() + 15000;
    for (int i = 0; i < 2000; i += 64) {
        rr.n_queries = 0;
        for (int k = 0; k < 64 && i + k < 2000; k++) {
            q[k] = (Strata__V1__ResolveQuery)STRATA__V1__RESOLVE_QUERY__INIT;
            td_ip(i + k, ips[k]);
            q[k].vni = TD_VNI;
            q[k].ip = (ProtobufCBinaryData){4, ips[k]};
            qp[k] = &q[k];
            rr.n_queries++;
        }
        rr.queries = qp;
        strata_env *r;
        while ((r = td_call(csd_url, &req, 2000)) == NULL && h_now_ms() < deadline)
            usleep(50 * 1000); /* the csd is starting: retry until the deadline */
        if (r == NULL)
            fail_msg("the csd did not answer resolves (log %s)", log);
        strata_msg_free(r);
    }
}

static void test_memory_attacks(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    /* ASan keeps freed memory in a 256 MB quarantine by default, which is all resident: the
     * daemons (built like this test) get a small one, so that RSS shows what they hold. */
    char asan[512];
    const char *was = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof(asan), "%s%squarantine_size_mb=8", was ? was : "",
             was && *was ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
#endif
    struct rlimit rl = {MAX_FDS + 200, MAX_FDS + 200};
    setrlimit(RLIMIT_NOFILE, &rl);
    /* Over TLS (the default) the attackers hold an operator's certificate: the worst case, every
     * request authorized; the idle ones without a handshake are clients with no certificate. */
    td_init(&C, 3, "mem-attacks");
    for (int i = 0; i < 3; i++)
        td_start(&C, i);
    int leader = td_wait_leader(&C, 15000);
    assert_true(leader > 0);
    struct strata_dirclient *dc = td_client_with_objects(&C);
    struct strata_err e;
    for (int i = 0; i < 2000; i++) { /* lists worth answering: ~100 KB each */
        uint64_t idx;
        if (td_endpoint_add(dc, i, &idx, &e) != 0)
            fail_msg("endpoint %d: %s", i, e.msg);
    }
    strata_dirclient_close(dc);
    int li = td_index_of(&C, leader), fi = (li + 1) % 3;

    attack_pipelined(fi, "pipelined lists (follower)");
    attack_pipelined(td_index_of(&C, td_wait_leader(&C, 5000)), "pipelined lists (leader)");
    attack_decode_cost(td_index_of(&C, td_wait_leader(&C, 5000)));
    attack_parked(fi);
    attack_partial_frames(fi);
    attack_idle(fi);
    start_csd();
    attack_csd_cache_show();
    for (int i = 0; i < 3; i++)
        td_stop(&C, i);
    SSL_CTX_free(attacker_tls);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* attackers write into connections the servers closed */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_attacks),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    h_cleanup();
    return rc;
}
