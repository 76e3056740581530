/* dir_bench_scrape.h - what the Strata nodes' own metrics say about a write phase: how long
 * Raft's disk appends and the leader's commits took, how long a write spent in the node it was
 * sent to, and how many writes each entry carried. */
#ifndef DIR_BENCH_SCRAPE_H
#define DIR_BENCH_SCRAPE_H

#include <stdbool.h>

#include "err.h"

/* Histogram sums and counts added up over the nodes (only the leader commits). */
struct dir_bench_raft_sample {
    double append_sum_s, appends;
    double commit_sum_s, commits;
    double write_sum_s, writes;
};

/* Scrape GET /metrics of each of the n nodes on 127.0.0.1 and add up the raft histograms. */
int dir_bench_scrape_raft(const int *metrics_ports, int n, struct dir_bench_raft_sample *out,
                          struct strata_err *e);

/* The figures of one phase, from the samples before and after it. */
struct dir_bench_raft_phase {
    bool ok;
    double append_ms;        /* mean disk append, every node */
    double commit_ms;        /* mean raft_apply -> applied on the leader */
    double server_ms;        /* mean arrival -> reply on the node a client wrote to */
    double writes_per_entry; /* acknowledged writes / committed entries */
};
void dir_bench_raft_phase(const struct dir_bench_raft_sample *before,
                          const struct dir_bench_raft_sample *after, double writes,
                          struct dir_bench_raft_phase *out);

#endif
