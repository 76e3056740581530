/* dir_bench_failover.c - leader kill / first write / rejoin cycles. */
#include "dir_bench_failover.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dir_bench_stats.h"
#include "harness.h"

#define PROBE_ATTEMPT_MS 300 /* one write attempt on one survivor */
#define PROBE_PAUSE_US 2000
#define FAILOVER_LIMIT_MS 20000 /* give up on a failover after this */
#define REJOIN_LIMIT_MS 30000
#define STABLE_LIMIT_MS 20000

/* Wait until every live node names the same leader, and return it. */
static int stable_leader(struct dir_bench_cluster *c, struct strata_dirclient *dc, uint64_t *leader,
                         struct strata_err *e)
{
    uint64_t deadline = h_now_ms() + STABLE_LIMIT_MS;
    for (;;) {
        if (dir_bench_cluster_leader(c, dc, true, leader, e) == 0)
            return 0;
        if (h_now_ms() > deadline) {
            struct strata_err last = *e; /* not e->msg itself: it is being written */
            return strata_err_set(e, STRATA_ETIMEDOUT, "no stable leader: %s", last.msg);
        }
        usleep(20 * 1000); /* poll interval */
    }
}

/* Worth another attempt: no answer, or "not me / not now". Anything else is final. */
static bool probe_retryable(int rc)
{
    return rc == STRATA_EUNAVAIL || rc == STRATA_ENOTLEADER || rc == STRATA_ETIMEDOUT ||
           rc == STRATA_EBUSY || rc == STRATA_EPROTO;
}

/* Retry one idempotent write on the survivors, alternating, until one commits it. With
 * DIR_BENCH_VERBOSE set, every attempt is logged with its time since `t0`. */
static int probe_write(struct strata_dirclient *dc, uint64_t dead, Strata__V1__Command *cmd,
                       double t0, uint64_t *index, struct strata_err *e)
{
    Strata__V1__WriteRequest wr = STRATA__V1__WRITE_REQUEST__INIT;
    wr.cmd = cmd;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
    req.write = &wr;
    bool verbose = getenv("DIR_BENCH_VERBOSE") != NULL;
    uint64_t deadline = h_now_ms() + FAILOVER_LIMIT_MS;
    struct strata_err last = {0};
    char prev[DIR_BENCH_NODES][sizeof(last.msg)] = {""}; /* last message logged per node */
    for (unsigned k = 0;; k++) {
        int node = (int)(k % DIR_BENCH_NODES);
        if ((uint64_t)node + 1 == dead)
            continue;
        strata_env *reply = NULL;
        int rc = strata_dirclient_call_node(dc, node, &req, PROBE_ATTEMPT_MS, &reply, &last);
        if (verbose && (rc == 0 || strcmp(last.msg, prev[node]) != 0)) {
            fprintf(stderr, "dir-bench:     %7.1f ms node %d: %s\n", dir_bench_now_ms() - t0,
                    node + 1, rc ? last.msg : "ok");
            snprintf(prev[node], sizeof(prev[node]), "%s", last.msg);
        }
        if (rc == 0) {
            *index = reply->body_case == STRATA__V1__ENVELOPE__BODY_WRITE_REPLY
                         ? reply->write_reply->index
                         : 0;
            strata_msg_free(reply);
            return 0;
        }
        if (!probe_retryable(rc))
            return strata_err_set(e, rc, "write after the kill failed: %s", last.msg);
        if (h_now_ms() > deadline)
            return strata_err_set(e, STRATA_ETIMEDOUT, "no write succeeded after the kill: %s",
                                  last.msg);
        /* A quick refusal ("no leader known") comes back in well under a millisecond: pause
         * briefly so the probe does not take CPU from the election it is waiting for. */
        if (rc != STRATA_ETIMEDOUT)
            usleep(PROBE_PAUSE_US);
    }
}

int dir_bench_failover_run(struct dir_bench_cluster *c, struct dir_bench_keys *keys, unsigned count,
                           struct dir_bench_failover *out, struct strata_err *e)
{
    memset(out, 0, sizeof(*out));
    if (count > DIR_BENCH_FAILOVER_MAX)
        count = DIR_BENCH_FAILOVER_MAX;
    struct strata_dirclient *dc = NULL;
    int rc = strata_dirclient_open(c->urls, &dc, e);
    if (rc)
        return rc;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t client_id = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid();

    for (unsigned i = 0; i < count && !rc; i++) {
        uint64_t leader = 0, index = 0;
        if ((rc = stable_leader(c, dc, &leader, e)))
            break;
        struct dir_bench_ep_cmd w;
        dir_bench_ep_cmd_init(&w, atomic_fetch_add(&keys->next, 1));
        w.cmd.client_id = client_id;
        w.cmd.req_id = i + 1;

        dir_bench_cluster_kill(c, leader);
        double t0 = dir_bench_now_ms();
        if ((rc = probe_write(dc, leader, &w.cmd, t0, &index, e)))
            break;
        out->samples_ms[out->n] = dir_bench_now_ms() - t0;
        fprintf(stderr, "dir-bench:   failover %u: leader %llu killed, write ok after %.0f ms\n",
                i + 1, (unsigned long long)leader, out->samples_ms[out->n]);

        double t1 = dir_bench_now_ms();
        rc = dir_bench_cluster_restart(c, dc, leader, index, REJOIN_LIMIT_MS, e);
        out->rejoin_ms[out->n] = dir_bench_now_ms() - t1;
        out->n++;
    }
    strata_dirclient_close(dc);

    double tmp[DIR_BENCH_FAILOVER_MAX];
    memcpy(tmp, out->samples_ms, sizeof(tmp));
    out->median_ms = dir_bench_median(tmp, out->n);
    return rc;
}
