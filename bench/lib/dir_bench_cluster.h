/* dir_bench_cluster.h - a fresh 3-node strata-dird cluster on 127.0.0.1 for the directory
 * benchmark: start, seed (domain, VN, subnet, host), find the leader, kill and restart nodes. */
#ifndef DIR_BENCH_CLUSTER_H
#define DIR_BENCH_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dirclient.h"
#include "err.h"

#define DIR_BENCH_NODES 3
#define DIR_BENCH_VNI 100u
#define DIR_BENCH_HOST "h1"

struct dir_bench_cluster {
    char bin[512];
    char dir[512];
    unsigned election_timeout_ms; /* 0: the daemon's default (flag not passed) */
    int busy_poll_us;             /* -1: the daemon's default (flag not passed) */
    bool tls; /* API on tls+tcp:// (certificates from tests/lib/h_tls); Raft stays plaintext */
    int raft_port[DIR_BENCH_NODES];
    int api_port[DIR_BENCH_NODES];
    int metrics_port[DIR_BENCH_NODES]; /* Prometheus text, for what the figures alone hide */
    pid_t pid[DIR_BENCH_NODES];
    char urls[256]; /* "tcp://127.0.0.1:A1,tcp://...:A2,tcp://...:A3" (node i at index i), or
                       tls+tcp:// */
};

/* True when `strata-dird --help` mentions `flag` (e.g. "--election-timeout-ms"). */
bool dir_bench_dird_has_flag(const char *bin, const char *flag);

/* The "(default N)" that `strata-dird --help` shows on the line of `flag`; 0 if none. */
unsigned dir_bench_dird_flag_default(const char *bin, const char *flag);

/* Start the three nodes (ids 1..3) in fresh data dirs and wait up to timeout_ms until every node
 * answers ClusterStatus and a leader is known. With `tls` each node gets a directory
 * certificate named after its id (for 127.0.0.1) and serves its API on tls+tcp://; the
 * process's clients must then have an operator context as their default (strata_tls_default). */
int dir_bench_cluster_start(struct dir_bench_cluster *c, const char *bin,
                            unsigned election_timeout_ms, int busy_poll_us, bool tls,
                            unsigned timeout_ms, struct strata_err *e);
/* Create the domain, VN 100 (10.0.0.0/8) and host h1 the benchmark writes endpoints into. */
int dir_bench_cluster_seed(struct dir_bench_cluster *c, struct strata_err *e);
void dir_bench_cluster_stop(struct dir_bench_cluster *c);

/* Ask every live node for ClusterStatus; the leader id a node reports (1-based), or 0. When
 * agree is set, all answering nodes must name the same leader and that leader must report
 * itself as leader. */
int dir_bench_cluster_leader(struct dir_bench_cluster *c, struct strata_dirclient *dc, bool agree,
                             uint64_t *leader, struct strata_err *e);

/* SIGKILL node `id` (1-based). */
void dir_bench_cluster_kill(struct dir_bench_cluster *c, uint64_t id);
/* Restart node `id` on its old data dir (the daemon then ignores --cluster) and wait up to
 * timeout_ms until it reports itself a follower or leader with applied_index >= min_applied. */
int dir_bench_cluster_restart(struct dir_bench_cluster *c, struct strata_dirclient *dc, uint64_t id,
                              uint64_t min_applied, unsigned timeout_ms, struct strata_err *e);

/* One ClusterStatus call to node index i (0-based) with a short timeout. */
int dir_bench_node_status(struct strata_dirclient *dc, int i, unsigned timeout_ms,
                          strata_env **reply, struct strata_err *e);

#endif
