/* test_dir_common.h - helpers shared by the strata-dird integration tests: start/stop nodes on
 * loopback, query cluster status, build directory writes, list endpoints. Header-only (static)
 * because tests/CMakeLists.txt builds each test_*.c on its own. */
#ifndef TEST_DIR_COMMON_H
#define TEST_DIR_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above */
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "addr.h"
#include "client.h"
#include "dirclient.h"
#include "harness.h"
#include "msg.h"

#define TD_MAX_NODES 5
#define TD_VNI 100

struct td_node {
    int id;
    char raft[32], api[64], dir[256], log[256];
    pid_t pid;
    bool join;
    int metrics_port; /* > 0: started with --metrics 127.0.0.1:PORT */
};

struct td_cluster {
    int n;
    struct td_node node[TD_MAX_NODES];
    char cluster_arg[512]; /* ID=HOST:PORT,... of the founding members */
    const char *extra[8];  /* extra daemon flags for every start */
    char tls_dir[256];     /* set (td_use_tls): each node runs with DIR/ca.crt, DIR/<id>.crt */
};

/* Allocate ports and directories for n founding nodes (ids 1..n). */
static inline void td_init(struct td_cluster *c, int n, const char *tag)
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    const char *base = h_tmpdir(tag);
    size_t off = 0;
    for (int i = 0; i < TD_MAX_NODES; i++) {
        struct td_node *nd = &c->node[i];
        nd->id = i + 1;
        snprintf(nd->raft, sizeof(nd->raft), "127.0.0.1:%d", h_free_port());
        snprintf(nd->api, sizeof(nd->api), "tcp://127.0.0.1:%d", h_free_port());
        snprintf(nd->dir, sizeof(nd->dir), "%s/node%d", base, nd->id);
        snprintf(nd->log, sizeof(nd->log), "%s/node%d.log", base, nd->id);
        if (i < n)
            off += (size_t)snprintf(c->cluster_arg + off, sizeof(c->cluster_arg) - off, "%s%d=%s",
                                    i ? "," : "", nd->id, nd->raft);
    }
}

/* Run the cluster with TLS: node N presents dir/N.crt (key dir/N.key) under dir/ca.crt, and its
 * API is tls+tcp:// (the test process needs a TLS context: strata_tls_set_default). */
static inline void td_use_tls(struct td_cluster *c, const char *dir)
{
    snprintf(c->tls_dir, sizeof(c->tls_dir), "%s", dir);
    for (int i = 0; i < TD_MAX_NODES; i++) {
        char *api = c->node[i].api;
        size_t n = strlen(api);
        assert_true(n + 5 <= sizeof(c->node[i].api));
        memmove(api + 4, api, n + 1);
        memcpy(api, "tls+", 4);
    }
}

/* Start node i (0-based) with the common flags plus the cluster's extras. */
static inline void td_start(struct td_cluster *c, int i)
{
    struct td_node *nd = &c->node[i];
    char id[16];
    snprintf(id, sizeof(id), "%d", nd->id);
    char *argv[40];
    int a = 0;
    argv[a++] = (char *)h_bin("strata-dird");
    argv[a++] = (char *)"--id";
    argv[a++] = id;
    argv[a++] = (char *)"--data-dir";
    argv[a++] = nd->dir;
    argv[a++] = (char *)"--raft";
    argv[a++] = nd->raft;
    argv[a++] = (char *)"--api";
    argv[a++] = nd->api;
    if (nd->join) {
        argv[a++] = (char *)"--join";
    } else {
        argv[a++] = (char *)"--cluster";
        argv[a++] = c->cluster_arg;
    }
    argv[a++] = (char *)"--election-timeout-ms";
    argv[a++] = (char *)"300";
    argv[a++] = (char *)"--heartbeat-ms";
    argv[a++] = (char *)"50";
    for (int k = 0; k < 8 && c->extra[k] != NULL; k++)
        argv[a++] = (char *)c->extra[k];
    char tls_ca[300], tls_cert[300], tls_key[300];
    if (c->tls_dir[0] != '\0') {
        snprintf(tls_ca, sizeof(tls_ca), "%s/ca.crt", c->tls_dir);
        snprintf(tls_cert, sizeof(tls_cert), "%s/%d.crt", c->tls_dir, nd->id);
        snprintf(tls_key, sizeof(tls_key), "%s/%d.key", c->tls_dir, nd->id);
        argv[a++] = (char *)"--tls-ca";
        argv[a++] = tls_ca;
        argv[a++] = (char *)"--tls-cert";
        argv[a++] = tls_cert;
        argv[a++] = (char *)"--tls-key";
        argv[a++] = tls_key;
    }
    char metrics[32];
    if (nd->metrics_port > 0) {
        snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", nd->metrics_port);
        argv[a++] = (char *)"--metrics";
        argv[a++] = metrics;
    }
    argv[a] = NULL;
    nd->pid = h_spawn(argv, nd->log);
    assert_true(nd->pid > 0);
}

/* SIGTERM and check the exit was clean (status 0). */
static inline void td_stop(struct td_cluster *c, int i)
{
    int st = h_stop(c->node[i].pid, 10000);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        fprintf(stderr, "node %d did not exit cleanly: status 0x%x (log %s)\n", c->node[i].id, st,
                c->node[i].log);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    c->node[i].pid = 0;
}

static inline void td_kill9(struct td_cluster *c, int i)
{
    h_kill9(c->node[i].pid);
    c->node[i].pid = 0;
}

/* One request to one node; returns the reply (status 0) or NULL. */
static inline strata_env *td_call(const char *url, strata_env *req, unsigned timeout_ms)
{
    struct strata_sclient *cl;
    struct strata_err e;
    strata_env *rep = NULL;
    if (strata_sclient_open(url, &cl, &e) != 0)
        return NULL;
    if (strata_sclient_call(cl, req, timeout_ms, &rep, &e) != 0)
        rep = NULL;
    strata_sclient_close(cl);
    if (rep != NULL && rep->status != 0) {
        strata_msg_free(rep);
        rep = NULL;
    }
    return rep;
}

static inline strata_env *td_status(const char *url)
{
    Strata__V1__ClusterStatusRequest sr = STRATA__V1__CLUSTER_STATUS_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS;
    req.cluster_status = &sr;
    return td_call(url, &req, 1000);
}

struct td_agree {
    struct td_cluster *c;
    int leader;     /* out: agreed leader id */
    size_t members; /* want this many members in the leader's view (0 = any) */
};

/* Every running node names the same leader, and that leader says it leads. */
static inline bool td_agree_pred(void *arg)
{
    struct td_agree *a = arg;
    uint64_t leader = 0;
    bool ok = true;
    for (int i = 0; i < TD_MAX_NODES && ok; i++) {
        if (a->c->node[i].pid <= 0)
            continue;
        strata_env *r = td_status(a->c->node[i].api);
        if (r == NULL)
            return false;
        const Strata__V1__ClusterStatusReply *s = r->cluster_status_reply;
        if (s->leader_id == 0 || (leader != 0 && s->leader_id != leader))
            ok = false;
        leader = s->leader_id;
        if (ok && s->leader_id == (uint64_t)a->c->node[i].id) {
            if (strcmp(s->self->role, "leader") != 0)
                ok = false;
            if (a->members && s->n_members != a->members)
                ok = false;
        }
        strata_msg_free(r);
    }
    if (!ok || leader == 0)
        return false;
    /* the leader must be one of the running nodes */
    for (int i = 0; i < TD_MAX_NODES; i++)
        if (a->c->node[i].pid > 0 && (uint64_t)a->c->node[i].id == leader) {
            a->leader = (int)leader;
            return true;
        }
    return false;
}

/* Wait until the running nodes agree on one leader; returns its id (0 on timeout). */
static inline int td_wait_leader(struct td_cluster *c, int timeout_ms)
{
    struct td_agree a = {.c = c};
    if (!h_wait_until(td_agree_pred, &a, timeout_ms))
        return 0;
    return a.leader;
}

static inline int td_index_of(struct td_cluster *c, int id)
{
    for (int i = 0; i < TD_MAX_NODES; i++)
        if (c->node[i].id == id)
            return i;
    return -1;
}

/* Comma-separated API URLs of the running nodes, starting at node `first`. */
static inline void td_urls(struct td_cluster *c, int first, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int k = 0; k < TD_MAX_NODES; k++) {
        int i = (first + k) % TD_MAX_NODES;
        if (c->node[i].pid <= 0)
            continue;
        off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "", c->node[i].api);
    }
}

/* Lines of a log file holding `needle` (the log accumulates over restarts). With `out`, the
 * number right after the needle on each of the first `max` such lines is stored there, and
 * the count stops at `max`. */
static inline int td_log_scan(const char *path, const char *needle, uint64_t *out, int max)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, needle);
        if (p == NULL)
            continue;
        if (out != NULL) {
            if (n == max)
                break;
            out[n] = strtoull(p + strlen(needle), NULL, 10);
        }
        n++;
    }
    fclose(f);
    return n;
}

static inline int td_log_count(const char *path, const char *needle)
{
    return td_log_scan(path, needle, NULL, 0);
}

/* ---------------------------------------------------------------- writes */

static inline void td_mac(int i, uint8_t mac[6])
{
    mac[0] = 0x02;
    mac[1] = 0x00;
    mac[2] = (uint8_t)(i >> 24);
    mac[3] = (uint8_t)(i >> 16);
    mac[4] = (uint8_t)(i >> 8);
    mac[5] = (uint8_t)i;
}

static inline void td_ip(int i, uint8_t ip[4])
{
    int v = i + 10;
    ip[0] = 10;
    ip[1] = (uint8_t)(v >> 16);
    ip[2] = (uint8_t)(v >> 8);
    ip[3] = (uint8_t)v;
}

/* Write one command; returns the directory's code (0 = ok) and the index in *index. */
static inline int td_write(struct strata_dirclient *dc, Strata__V1__Command *cmd, uint64_t *index,
                           struct strata_err *e)
{
    strata_env *rep = NULL;
    if (index != NULL)
        *index = 0;
    int rc = strata_dirclient_write(dc, cmd, 20000, &rep, e);
    if (rc == 0) {
        if (index != NULL)
            *index = rep->write_reply->index;
        strata_msg_free(rep);
    }
    return rc;
}

/* What an endpoint_add command built by td_endpoint_cmd points into. */
struct td_ep_cmd {
    uint8_t mac[6], ip[4];
    ProtobufCBinaryData ips[1];
    Strata__V1__Endpoint ep;
    Strata__V1__Command cmd;
};

/* endpoint_add of endpoint i (MAC from i) with the IP of endpoint ip_of, in VNI 100 on host h1;
 * client and request ids left 0 (the dirclient fills them). Returns &b->cmd. */
static inline Strata__V1__Command *td_endpoint_cmd(struct td_ep_cmd *b, int i, int ip_of)
{
    td_mac(i, b->mac);
    td_ip(ip_of, b->ip);
    b->ips[0] = (ProtobufCBinaryData){4, b->ip};
    b->ep = (Strata__V1__Endpoint)STRATA__V1__ENDPOINT__INIT;
    b->ep.vni = TD_VNI;
    b->ep.mac = (ProtobufCBinaryData){6, b->mac};
    b->ep.n_ips = 1;
    b->ep.ips = b->ips;
    b->ep.host = (char *)"h1";
    b->cmd = (Strata__V1__Command)STRATA__V1__COMMAND__INIT;
    b->cmd.op_case = STRATA__V1__COMMAND__OP_ENDPOINT_ADD;
    b->cmd.endpoint_add = &b->ep;
    return &b->cmd;
}

/* endpoint i in VNI 100 on host h1 (MAC and IP derived from i). */
static inline int td_endpoint_add(struct strata_dirclient *dc, int i, uint64_t *index,
                                  struct strata_err *e)
{
    struct td_ep_cmd b;
    return td_write(dc, td_endpoint_cmd(&b, i, i), index, e);
}

/* Domain t1, VNI 100 in it, subnet 10.0.0.0/8 (gateway 10.0.0.1), host h1. */
static inline void td_setup_objects(struct strata_dirclient *dc)
{
    struct strata_err e;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    Strata__V1__Domain dom = STRATA__V1__DOMAIN__INIT;
    dom.name = (char *)"t1";
    cmd.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    cmd.domain_create = &dom;
    if (td_write(dc, &cmd, NULL, &e) != 0)
        fail_msg("domain create: %s", e.msg);

    Strata__V1__Vnet vn = STRATA__V1__VNET__INIT;
    strata__v1__command__init(&cmd);
    vn.vni = TD_VNI;
    vn.domain = (char *)"t1";
    vn.name = (char *)"web";
    cmd.op_case = STRATA__V1__COMMAND__OP_VNET_CREATE;
    cmd.vnet_create = &vn;
    if (td_write(dc, &cmd, NULL, &e) != 0)
        fail_msg("vnet create: %s", e.msg);

    uint8_t pfx[4] = {10, 0, 0, 0}, gw[4] = {10, 0, 0, 1};
    Strata__V1__Subnet sn = STRATA__V1__SUBNET__INIT;
    strata__v1__command__init(&cmd);
    sn.vni = TD_VNI;
    sn.prefix.len = 4;
    sn.prefix.data = pfx;
    sn.plen = 8;
    sn.gateway.len = 4;
    sn.gateway.data = gw;
    cmd.op_case = STRATA__V1__COMMAND__OP_SUBNET_CREATE;
    cmd.subnet_create = &sn;
    if (td_write(dc, &cmd, NULL, &e) != 0)
        fail_msg("subnet create: %s", e.msg);

    uint8_t vtep[4] = {192, 168, 0, 1};
    Strata__V1__Host h = STRATA__V1__HOST__INIT;
    strata__v1__command__init(&cmd);
    h.id = (char *)"h1";
    h.vtep.len = 4;
    h.vtep.data = vtep;
    h.pod = (char *)"p1";
    cmd.op_case = STRATA__V1__COMMAND__OP_HOST_ADD;
    cmd.host_add = &h;
    if (td_write(dc, &cmd, NULL, &e) != 0)
        fail_msg("host add: %s", e.msg);
}

/* A client over every running node (tried in turn from node 0), with the common objects made. */
static inline struct strata_dirclient *td_client_with_objects(struct td_cluster *c)
{
    char urls[512];
    struct strata_dirclient *dc;
    struct strata_err e;
    td_urls(c, 0, urls, sizeof(urls));
    if (strata_dirclient_open(urls, &dc, &e) != 0)
        fail_msg("dirclient %s: %s", urls, e.msg);
    td_setup_objects(dc);
    return dc;
}

/* List the endpoints of VNI 100 on one node once it has applied min_index (NULL on failure). */
static inline strata_env *td_list(const char *url, uint64_t min_index)
{
    Strata__V1__ListRequest lr = STRATA__V1__LIST_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    lr.kind = STRATA__V1__OBJ_KIND__OBJ_ENDPOINT;
    lr.vni = TD_VNI;
    lr.min_index = min_index;
    req.body_case = STRATA__V1__ENVELOPE__BODY_LIST;
    req.list = &lr;
    return td_call(url, &req, 5000);
}

/* Does the list hold exactly endpoints [0, n) where acked[i] (or all when acked is NULL)? */
static inline bool td_list_has(const strata_env *rep, const bool *acked, int n)
{
    const Strata__V1__ListReply *l = rep->list_reply;
    char *seen = calloc((size_t)n, 1);
    bool ok = true;
    for (size_t k = 0; k < l->n_endpoints; k++) {
        const Strata__V1__Endpoint *ep = l->endpoints[k];
        if (ep->mac.len != 6) {
            ok = false;
            break;
        }
        int i = (ep->mac.data[2] << 24) | (ep->mac.data[3] << 16) | (ep->mac.data[4] << 8) |
                ep->mac.data[5];
        if (i < 0 || i >= n || seen[i]) {
            ok = false;
            break;
        }
        seen[i] = 1;
    }
    for (int i = 0; ok && i < n; i++)
        if ((acked == NULL || acked[i]) && !seen[i]) {
            fprintf(stderr, "endpoint %d missing\n", i);
            ok = false;
        }
    free(seen);
    return ok;
}

/* ---------------------------------------------------------------- a connectivity server */

/* An operator's cache show request, into env (cr is its body). */
static inline void td_csd_show_req(strata_env *env, Strata__V1__CacheShowRequest *cr)
{
    strata__v1__cache_show_request__init(cr);
    strata__v1__envelope__init(env);
    env->identity = (char *)"operator";
    env->body_case = STRATA__V1__ENVELOPE__BODY_CACHE_SHOW;
    env->cache_show = cr;
}

/* Whether a connectivity server at url answers an operator's cache show. */
static inline bool td_csd_answers(const char *url)
{
    Strata__V1__CacheShowRequest cr;
    strata_env req;
    td_csd_show_req(&req, &cr);
    strata_env *r = td_call(url, &req, 2000);
    if (r != NULL)
        strata_msg_free(r);
    return r != NULL;
}

/* One counter of a connectivity server's cache show (UINT64_MAX when it does not answer). */
static inline uint64_t td_csd_counter(const char *url, const char *name)
{
    Strata__V1__CacheShowRequest cr;
    strata_env req;
    td_csd_show_req(&req, &cr);
    strata_env *r = td_call(url, &req, 2000);
    uint64_t v = UINT64_MAX;
    for (size_t i = 0; r != NULL && i < r->cache_show_reply->n_counters; i++)
        if (strcmp(r->cache_show_reply->counters[i]->name, name) == 0)
            v = r->cache_show_reply->counters[i]->value;
    if (r != NULL)
        strata_msg_free(r);
    return v;
}

static inline bool td_csd_up_pred(void *arg)
{
    return td_csd_answers(arg);
}

/* Start strata-csd "cs1" of pod p1 on a free loopback port (its URL into url) against the
 * directory URLs `directory`, with extra flags (NULL-terminated, may be NULL), logging to log;
 * returns once it answers (10 s at most). */
static inline pid_t td_csd_start(const char *directory, char *url, size_t url_len, const char *log,
                                 const char *const *extra)
{
    snprintf(url, url_len, "tcp://127.0.0.1:%d", h_free_port());
    char *argv[32];
    int a = 0;
    const char *fixed[] = {h_bin("strata-csd"), "--id", "cs1",         "--pod",  "p1",
                           "--listen",          url,    "--directory", directory};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv[a++] = (char *)fixed[i];
    for (int i = 0; extra != NULL && extra[i] != NULL && a < 31; i++)
        argv[a++] = (char *)extra[i];
    argv[a] = NULL;
    pid_t pid = h_spawn(argv, log);
    assert_true(pid > 0);
    if (!h_wait_until(td_csd_up_pred, url, 10000))
        fail_msg("strata-csd did not start (log %s)", log);
    return pid;
}

/* One FeedRequest to one node (NULL on failure). */
static inline strata_env *td_feed(const char *url, uint64_t after, uint32_t max, uint32_t wait_ms)
{
    Strata__V1__FeedRequest fr = STRATA__V1__FEED_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    fr.after_index = after;
    fr.max = max;
    fr.wait_ms = wait_ms;
    req.body_case = STRATA__V1__ENVELOPE__BODY_FEED;
    req.feed = &fr;
    return td_call(url, &req, wait_ms + 5000);
}

#endif
