/* dir_bench_cluster.c - start, seed and break a local 3-node directory for the benchmark. */
#include "dir_bench_cluster.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h_tls.h"
#include "harness.h"

/* A readiness poll: how long to wait between two status probes. */
#define POLL_US (20 * 1000)

bool dir_bench_dird_has_flag(const char *bin, const char *flag)
{
    char cmd[700], *out = NULL;
    snprintf(cmd, sizeof(cmd), "'%s' --help 2>&1", bin);
    h_run(cmd, &out);
    bool has = out && strstr(out, flag);
    free(out);
    return has;
}

unsigned dir_bench_dird_flag_default(const char *bin, const char *flag)
{
    char cmd[700], *out = NULL;
    snprintf(cmd, sizeof(cmd), "'%s' --help 2>&1", bin);
    h_run(cmd, &out);
    unsigned v = 0;
    const char *p = out ? strstr(out, flag) : NULL;
    const char *eol = p ? strchr(p, '\n') : NULL;
    const char *d = p ? strstr(p, "(default") : NULL;
    if (d && (!eol || d < eol)) {
        d += 8; /* "(default N)" or "(default: N)" */
        v = (unsigned)strtoul(d + (*d == ':'), NULL, 10);
    }
    free(out);
    return v;
}

static int spawn_node(struct dir_bench_cluster *c, int i)
{
    char id[16], data[600], raft[32], api[48], cluster[128] = "", eto[16], log[600], met[32],
                                               bp[16];
    snprintf(id, sizeof(id), "%d", i + 1);
    snprintf(data, sizeof(data), "%s/n%d", c->dir, i + 1);
    snprintf(raft, sizeof(raft), "127.0.0.1:%d", c->raft_port[i]);
    snprintf(api, sizeof(api), "%s127.0.0.1:%d", c->tls ? "tls+tcp://" : "tcp://", c->api_port[i]);
    snprintf(log, sizeof(log), "%s/n%d.log", c->dir, i + 1);
    for (int k = 0; k < DIR_BENCH_NODES; k++) {
        size_t l = strlen(cluster);
        snprintf(cluster + l, sizeof(cluster) - l, "%s%d=127.0.0.1:%d", k ? "," : "", k + 1,
                 c->raft_port[k]);
    }
    snprintf(eto, sizeof(eto), "%u", c->election_timeout_ms);
    snprintf(met, sizeof(met), "127.0.0.1:%d", c->metrics_port[i]);
    char *argv[26] = {c->bin,  "--id", id,          "--data-dir", data,        "--raft", raft,
                      "--api", api,    "--cluster", cluster,      "--metrics", met};
    int n = 13;
    if (c->election_timeout_ms) {
        argv[n++] = "--election-timeout-ms";
        argv[n++] = eto;
    }
    if (c->busy_poll_us >= 0) {
        snprintf(bp, sizeof(bp), "%d", c->busy_poll_us);
        argv[n++] = "--busy-poll-us";
        argv[n++] = bp;
    }
    if (c->tls) {
        struct strata_tls_files f = h_tls_files("directory", id, NULL);
        argv[n++] = "--tls-ca";
        argv[n++] = (char *)f.ca;
        argv[n++] = "--tls-cert";
        argv[n++] = (char *)f.cert;
        argv[n++] = "--tls-key";
        argv[n++] = (char *)f.key;
    }
    argv[n] = NULL;
    c->pid[i] = h_spawn(argv, log);
    return c->pid[i] > 0 ? 0 : -1;
}

int dir_bench_node_status(struct strata_dirclient *dc, int i, unsigned timeout_ms,
                          strata_env **reply, struct strata_err *e)
{
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    Strata__V1__ClusterStatusRequest st = STRATA__V1__CLUSTER_STATUS_REQUEST__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS;
    req.cluster_status = &st;
    int rc = strata_dirclient_call_node(dc, i, &req, timeout_ms, reply, e);
    if (rc)
        return rc;
    int body = (int)(*reply)->body_case;
    if (body != STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS_REPLY) {
        strata_msg_free(*reply);
        *reply = NULL;
        return strata_err_set(e, STRATA_EPROTO, "node %d answered ClusterStatus with %s", i + 1,
                              strata_msg_type_name(body));
    }
    return 0;
}

int dir_bench_cluster_leader(struct dir_bench_cluster *c, struct strata_dirclient *dc, bool agree,
                             uint64_t *leader, struct strata_err *e)
{
    uint64_t found = 0;
    int answered = 0;
    struct strata_err last = {0};
    for (int i = 0; i < DIR_BENCH_NODES; i++) {
        if (c->pid[i] <= 0)
            continue;
        strata_env *r = NULL;
        if (dir_bench_node_status(dc, i, 500, &r, &last) != 0)
            continue;
        answered++;
        const Strata__V1__ClusterStatusReply *s = r->cluster_status_reply;
        uint64_t l = s->leader_id;
        bool self_leader = s->self && s->self->id == (uint64_t)(i + 1) && s->self->role &&
                           !strcmp(s->self->role, "leader");
        strata_msg_free(r);
        if (agree) {
            if (l == 0 || (found && l != found))
                return strata_err_set(e, STRATA_EUNAVAIL, "nodes disagree on the leader");
            if (l == (uint64_t)(i + 1) && !self_leader)
                return strata_err_set(e, STRATA_EUNAVAIL, "leader %d not yet leader", i + 1);
        }
        if (l)
            found = l;
    }
    if (!answered)
        return strata_err_set(e, STRATA_EUNAVAIL, "no node answered: %s", last.msg);
    if (!found || found > DIR_BENCH_NODES)
        return strata_err_set(e, STRATA_EUNAVAIL, "no leader known");
    *leader = found;
    return 0;
}

int dir_bench_cluster_start(struct dir_bench_cluster *c, const char *bin,
                            unsigned election_timeout_ms, int busy_poll_us, bool tls,
                            unsigned timeout_ms, struct strata_err *e)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->bin, sizeof(c->bin), "%s", bin);
    c->election_timeout_ms = election_timeout_ms;
    c->busy_poll_us = busy_poll_us;
    c->tls = tls;
    const char *dir = h_tmpdir("dir-bench");
    if (!dir)
        return strata_err_set(e, STRATA_EIO, "cannot create a temporary directory");
    snprintf(c->dir, sizeof(c->dir), "%s", dir);
    for (int i = 0; i < DIR_BENCH_NODES; i++) {
        c->raft_port[i] = h_free_port();
        c->api_port[i] = h_free_port();
        c->metrics_port[i] = h_free_port();
        if (c->raft_port[i] <= 0 || c->api_port[i] <= 0 || c->metrics_port[i] <= 0)
            return strata_err_set(e, STRATA_EIO, "no free port");
        size_t l = strlen(c->urls);
        snprintf(c->urls + l, sizeof(c->urls) - l, "%s%s127.0.0.1:%d", i ? "," : "",
                 tls ? "tls+tcp://" : "tcp://", c->api_port[i]);
    }
    for (int i = 0; i < DIR_BENCH_NODES; i++)
        if (spawn_node(c, i) != 0)
            return strata_err_set(e, STRATA_EIO, "cannot start %s", bin);

    struct strata_dirclient *dc = NULL;
    int rc = strata_dirclient_open(c->urls, &dc, e);
    if (rc)
        return rc;
    uint64_t deadline = h_now_ms() + timeout_ms;
    struct strata_err le = {0};
    for (;;) {
        uint64_t leader = 0;
        int ok = 0;
        for (int i = 0; i < DIR_BENCH_NODES; i++) {
            strata_env *r = NULL;
            if (dir_bench_node_status(dc, i, 300, &r, &le) == 0) {
                ok++;
                strata_msg_free(r);
            }
        }
        if (ok == DIR_BENCH_NODES && dir_bench_cluster_leader(c, dc, true, &leader, &le) == 0)
            break;
        for (int i = 0; i < DIR_BENCH_NODES; i++)
            if (!h_alive(c->pid[i])) {
                strata_dirclient_close(dc);
                return strata_err_set(e, STRATA_EUNAVAIL,
                                      "strata-dird %d exited (log %s/n%d.log, "
                                      "kept with STRATA_KEEP=1)",
                                      i + 1, c->dir, i + 1);
            }
        if (h_now_ms() > deadline) {
            strata_dirclient_close(dc);
            return strata_err_set(e, STRATA_ETIMEDOUT, "directory not ready: %s", le.msg);
        }
        usleep(POLL_US);
    }
    strata_dirclient_close(dc);
    return 0;
}

static int seed_write(struct strata_dirclient *dc, Strata__V1__Command *cmd, const char *what,
                      struct strata_err *e)
{
    strata_env *reply = NULL;
    int rc = strata_dirclient_write(dc, cmd, 10000, &reply, e);
    strata_msg_free(reply);
    if (rc == STRATA_EEXIST)
        return 0;
    if (rc) {
        char msg[sizeof(e->msg)];
        snprintf(msg, sizeof(msg), "%s", e ? e->msg : "");
        return strata_err_set(e, rc, "seeding %s: %s", what, msg);
    }
    return 0;
}

int dir_bench_cluster_seed(struct dir_bench_cluster *c, struct strata_err *e)
{
    struct strata_dirclient *dc = NULL;
    int rc = strata_dirclient_open(c->urls, &dc, e);
    if (rc)
        return rc;

    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    Strata__V1__Domain dom = STRATA__V1__DOMAIN__INIT;
    dom.name = "bench";
    cmd.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    cmd.domain_create = &dom;
    rc = seed_write(dc, &cmd, "domain", e);

    Strata__V1__Vnet vn = STRATA__V1__VNET__INIT;
    vn.vni = DIR_BENCH_VNI;
    vn.domain = "bench";
    vn.name = "bench";
    cmd = (Strata__V1__Command)STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_VNET_CREATE;
    cmd.vnet_create = &vn;
    if (!rc)
        rc = seed_write(dc, &cmd, "vnet", e);

    uint8_t prefix[4] = {10, 0, 0, 0};
    Strata__V1__Subnet sn = STRATA__V1__SUBNET__INIT;
    sn.vni = DIR_BENCH_VNI;
    sn.prefix.data = prefix;
    sn.prefix.len = 4;
    sn.plen = 8;
    cmd = (Strata__V1__Command)STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_SUBNET_CREATE;
    cmd.subnet_create = &sn;
    if (!rc)
        rc = seed_write(dc, &cmd, "subnet", e);

    uint8_t vtep[4] = {192, 0, 2, 1};
    Strata__V1__Host host = STRATA__V1__HOST__INIT;
    host.id = DIR_BENCH_HOST;
    host.vtep.data = vtep;
    host.vtep.len = 4;
    host.pod = "p1";
    cmd = (Strata__V1__Command)STRATA__V1__COMMAND__INIT;
    cmd.op_case = STRATA__V1__COMMAND__OP_HOST_ADD;
    cmd.host_add = &host;
    if (!rc)
        rc = seed_write(dc, &cmd, "host", e);

    strata_dirclient_close(dc);
    return rc;
}

void dir_bench_cluster_stop(struct dir_bench_cluster *c)
{
    for (int i = 0; i < DIR_BENCH_NODES; i++)
        if (c->pid[i] > 0) {
            h_stop(c->pid[i], 5000);
            c->pid[i] = 0;
        }
}

void dir_bench_cluster_kill(struct dir_bench_cluster *c, uint64_t id)
{
    if (id < 1 || id > DIR_BENCH_NODES || c->pid[id - 1] <= 0)
        return;
    h_kill9(c->pid[id - 1]);
    c->pid[id - 1] = 0;
}

int dir_bench_cluster_restart(struct dir_bench_cluster *c, struct strata_dirclient *dc, uint64_t id,
                              uint64_t min_applied, unsigned timeout_ms, struct strata_err *e)
{
    if (id < 1 || id > DIR_BENCH_NODES)
        return strata_err_set(e, STRATA_EINVAL, "no node %llu", (unsigned long long)id);
    int i = (int)id - 1;
    if (c->pid[i] <= 0 && spawn_node(c, i) != 0)
        return strata_err_set(e, STRATA_EIO, "cannot restart node %d", i + 1);
    uint64_t deadline = h_now_ms() + timeout_ms;
    struct strata_err le = {0};
    for (;;) {
        strata_env *r = NULL;
        if (dir_bench_node_status(dc, i, 300, &r, &le) == 0) {
            const Strata__V1__Member *self = r->cluster_status_reply->self;
            bool healthy = self && self->role &&
                           (!strcmp(self->role, "follower") || !strcmp(self->role, "leader")) &&
                           self->applied_index >= min_applied &&
                           r->cluster_status_reply->leader_id != 0;
            if (!healthy)
                snprintf(le.msg, sizeof(le.msg), "role %s, applied %llu < %llu",
                         self && self->role ? self->role : "?",
                         (unsigned long long)(self ? self->applied_index : 0),
                         (unsigned long long)min_applied);
            strata_msg_free(r);
            if (healthy)
                return 0;
        }
        if (!h_alive(c->pid[i]))
            return strata_err_set(e, STRATA_EUNAVAIL,
                                  "restarted node %d exited (log %s/n%d.log, "
                                  "kept with STRATA_KEEP=1)",
                                  i + 1, c->dir, i + 1);
        if (h_now_ms() > deadline)
            return strata_err_set(e, STRATA_ETIMEDOUT, "restarted node %d not healthy: %s", i + 1,
                                  le.msg);
        usleep(POLL_US);
    }
}
