/* etcd_failover.c - etcd leader kill / first put / rejoin cycles. */
#include "etcd_failover.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dir_bench_stats.h"
#include "harness.h"

#define PROBE_ATTEMPT_MS 300
#define PROBE_PAUSE_US 2000
#define FAILOVER_LIMIT_MS 20000
#define REJOIN_LIMIT_MS 30000
#define STABLE_LIMIT_MS 20000

static int stable_leader(struct etcd_cluster *c, int *leader, struct strata_err *e)
{
    uint64_t deadline = h_now_ms() + STABLE_LIMIT_MS;
    for (;;) {
        if (etcd_cluster_leader(c, leader, e) == 0)
            return 0;
        if (h_now_ms() > deadline) {
            struct strata_err last = *e; /* not e->msg itself: it is being written */
            return strata_err_set(e, STRATA_ETIMEDOUT, "no etcd leader: %s", last.msg);
        }
        usleep(20 * 1000); /* poll interval */
    }
}

/* Put one key on the survivors, alternating, until one accepts it. */
static int probe_put(struct etcd_cluster *c, int dead, const char *key, const uint8_t *val,
                     size_t vlen, struct strata_err *e)
{
    struct etcd_http *h[ETCD_MEMBERS] = {0};
    uint64_t deadline = h_now_ms() + FAILOVER_LIMIT_MS;
    struct strata_err last = {0};
    int rc = STRATA_ETIMEDOUT;
    for (unsigned k = 0; h_now_ms() <= deadline; k++) {
        int i = (int)(k % ETCD_MEMBERS);
        if (i == dead)
            continue;
        if (!h[i])
            rc = etcd_http_open("127.0.0.1", c->client_port[i], PROBE_ATTEMPT_MS, &h[i], &last);
        if (h[i])
            rc = etcd_put(h[i], key, strlen(key), val, vlen, &last);
        if (rc == 0)
            break;
        if (rc != STRATA_ETIMEDOUT)
            usleep(PROBE_PAUSE_US); /* a quick refusal: leave the CPU to the election */
    }
    for (int i = 0; i < ETCD_MEMBERS; i++)
        etcd_http_close(h[i]);
    if (rc)
        return strata_err_set(e, rc, "no etcd put succeeded after the kill: %s", last.msg);
    return 0;
}

int etcd_failover_run(struct etcd_cluster *c, struct dir_bench_keys *keys, unsigned count,
                      struct dir_bench_failover *out, struct strata_err *e)
{
    memset(out, 0, sizeof(*out));
    if (count > DIR_BENCH_FAILOVER_MAX)
        count = DIR_BENCH_FAILOVER_MAX;
    int rc = 0;
    for (unsigned i = 0; i < count && !rc; i++) {
        int leader = -1;
        if ((rc = stable_leader(c, &leader, e)))
            break;
        uint64_t n = atomic_fetch_add(&keys->next, 1);
        char key[64];
        uint8_t val[256];
        snprintf(key, sizeof(key), "failover/%llu", (unsigned long long)n);
        size_t vlen = dir_bench_command_pack(n, val, sizeof(val));

        etcd_cluster_kill(c, leader);
        double t0 = dir_bench_now_ms();
        if ((rc = probe_put(c, leader, key, val, vlen, e)))
            break;
        out->samples_ms[out->n] = dir_bench_now_ms() - t0;
        fprintf(stderr, "dir-bench:   etcd failover %u: leader e%d killed, put ok after %.0f ms\n",
                i + 1, leader + 1, out->samples_ms[out->n]);
        double t1 = dir_bench_now_ms();
        rc = etcd_cluster_restart(c, leader, REJOIN_LIMIT_MS, e);
        out->rejoin_ms[out->n] = dir_bench_now_ms() - t1;
        out->n++;
    }
    double tmp[DIR_BENCH_FAILOVER_MAX];
    memcpy(tmp, out->samples_ms, sizeof(tmp));
    out->median_ms = dir_bench_median(tmp, out->n);
    return rc;
}
