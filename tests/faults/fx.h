/* fx.h - the fault harness strata-faults: a 3-node directory in network namespaces, a
 * connectivity server, a nemesis and a recorded workload (docs/reliability.md, "Fault harness"). */
#ifndef STRATA_FX_H
#define STRATA_FX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "lc_history.h"

#define FX_NODES 3
#define FX_CSDS 1
#define FX_KEYS 6        /* registers ep-0..ep-5, rewritten all along (ep-6: the final barrier) */
#define FX_NEW_BASE 1000 /* key ids from here: n-0, n-1, ..., each written once */
#define FX_BATCH 500     /* keys per final resolve */
#define FX_HOSTS 3

/* ---- topology (fx_topo.c) */
struct fx_topo {
    int pid;
    const char *tmp;
    char br_ns[48];           /* the harness's namespace: bridge br0 at 192.0.2.254/24 */
    char ns[FX_NODES][48];    /* node i's namespace, 192.0.2.(i+1) on eth0 */
    char data[FX_NODES][512]; /* node i's data directory */
    char dir_urls[256], cs_url[FX_CSDS][64];
    pid_t dird[FX_NODES], csd[FX_CSDS];
    bool tmpfs_mounted; /* node FX_DISK_NODE's data dir is a small tmpfs */
};
/* The node whose data directory is a small tmpfs, for the full-disk fault. */
#define FX_DISK_NODE 2
#define FX_DISK_MB 64
/* Whether that data dir is still our tmpfs: the full-disk fault fills nothing else. */
bool fx_disk_is_tmpfs(const struct fx_topo *t);

/* Make the namespaces, move this process into the bridge namespace (every client it runs dials
 * from there), start the three nodes and the connectivity servers. Cleanup is registered. */
int fx_topo_start(struct fx_topo *t);
int fx_node_start(struct fx_topo *t, int i);
/* The API URL of node i. */
const char *fx_node_url(const struct fx_topo *t, int i);
/* The node that says it is leader (asking each in turn, ~1 s at most), or -1. */
int fx_leader(const struct fx_topo *t);
/* Run `strata ARGS` until it succeeds, up to timeout_ms. */
int fx_cli(const struct fx_topo *t, int timeout_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Remove the nft table of every node, bring links up, SIGCONT every node, restart dead ones,
 * remove the disk filler. */
void fx_heal_all(struct fx_topo *t);

/* ---- history (fx_work.c) */
struct fx_hist {
    pthread_mutex_t mu;
    FILE *f;
    const char *path;
    atomic_uint next_proc;
    atomic_ulong ops, ok, fail, info;
    atomic_ulong writes_ok;
    atomic_uint new_keys;                /* n-0 .. n-(new_keys-1) have been written (or tried) */
    atomic_llong first_ok_write_after;   /* t1 of the first ok write completing after `heal_us` */
    atomic_llong heal_us;                /* the latest heal (0: none yet) */
    atomic_llong rec_max_us, rec_sum_us; /* recovery after each heal: the worst, the sum */
    atomic_ulong rec_n;                  /* heals followed by an acknowledged write */
};

int64_t fx_now_us(void);
void fx_hist_record(struct fx_hist *h, const struct lc_op_in *op);
/* A heal at `now`: recovery is measured to the next acknowledged write. */
void fx_hist_healed(struct fx_hist *h, int64_t now);

/* ---- workload (fx_work.c) */
struct fx_work_opts {
    int writers, readers, resolvers; /* threads */
    bool lin_reads; /* half the reads with the directory's read barrier (FX_HAVE_LIN_READS) */
};
struct fx_work;
int fx_work_setup(struct fx_topo *t, struct fx_hist *h);
int fx_work_start(struct fx_topo *t, struct fx_hist *h, const struct fx_work_opts *o,
                  struct fx_work **out);
void fx_work_stop(struct fx_work *w);
/* After the run: a barrier write, then every key read from the leader with final=1. */
int fx_work_final(struct fx_topo *t, struct fx_hist *h);

/* ---- nemesis (fx_nemesis.c) */
enum fx_fault {
    FX_KILL,     /* kill -9 a node, restart it at heal */
    FX_PAUSE,    /* SIGSTOP the leader, SIGCONT at heal */
    FX_ISOLATE,  /* the leader cut from both others (minority of one / majority of two) */
    FX_ASYM,     /* one node drops what one peer sends it, not the other way */
    FX_LINKDOWN, /* a node's link down */
    FX_DISKFULL, /* FX_DISK_NODE's data dir filled */
    FX_COMBO,    /* two of the above at once */
    FX_FAULT_KINDS,
};
const char *fx_fault_name(enum fx_fault k);

struct fx_nemesis_opts {
    unsigned seed;
    int duration_s;
    int hold_min_ms, hold_max_ms, gap_min_ms, gap_max_ms;
    struct fx_hist *hist; /* told of every heal */
};
struct fx_nemesis;
int fx_nemesis_start(struct fx_topo *t, const struct fx_nemesis_opts *o, struct fx_nemesis **out);
/* Wait for the schedule's end, heal everything; returns when healed (its time in *heal_us). */
void fx_nemesis_join(struct fx_nemesis *n, int64_t *heal_us);
void fx_nemesis_counts(const struct fx_nemesis *n, unsigned counts[FX_FAULT_KINDS]);
void fx_nemesis_free(struct fx_nemesis *n);

#endif
