/* dir_bench_report.h - the directory benchmark's results and their one-object JSON report. */
#ifndef DIR_BENCH_REPORT_H
#define DIR_BENCH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "dir_bench_disk.h"
#include "dir_bench_failover.h"
#include "dir_bench_scrape.h"
#include "dir_bench_stats.h"

#define DIR_BENCH_MAX_RUNS 8
#define DIR_BENCH_MAX_ERRORS 8

/* Targets of the acceptance (ratios are Strata / etcd). */
#define DIR_BENCH_TARGET_WRITES_RATIO 5.0 /* at 16 and 64 clients */
#define DIR_BENCH_TARGET_READS_RATIO 5.0  /* at every concurrency */
#define DIR_BENCH_TARGET_FAILOVER_MS 1000.0
/* Strata over TLS against Strata in plaintext, writes and reads, at 64 clients (issue 21). */
#define DIR_BENCH_TARGET_TLS_RATIO 0.7
#define DIR_BENCH_TARGET_TLS_CLIENTS 64u

struct dir_bench_run {
    unsigned clients;
    bool strata_ok, etcd_ok;
    struct dir_bench_result sw, sr;    /* Strata writes, reads */
    bool lin_ok;                       /* the linearizable read phase ran */
    struct dir_bench_result slr;       /* Strata linearizable reads (read barrier) */
    struct dir_bench_raft_phase sraft; /* the Strata nodes' own view of the write phase */
    struct dir_bench_result ep, eg;    /* etcd puts, gets */
    bool tls_ok;                       /* the TLS cluster's phases (--tls) ran */
    struct dir_bench_result tw, tr;    /* Strata over TLS: writes, reads */
    struct dir_bench_raft_phase traft;
};

struct dir_bench_summary {
    unsigned seconds;
    unsigned nruns;
    struct dir_bench_run runs[DIR_BENCH_MAX_RUNS];
    bool strata_ran;
    bool tls_ran;                 /* --tls: a second Strata cluster, its API on tls+tcp:// */
    unsigned election_timeout_ms; /* passed to strata-dird; 0 = its default */
    int busy_poll_us;             /* what strata-dird ran with; -1 = not known */
    bool failover_ran, failover_ok;
    struct dir_bench_failover fo;
    bool etcd_failover_ran, etcd_failover_ok;
    struct dir_bench_failover etcd_fo;
    bool etcd_found;
    char etcd_version[128];
    size_t value_bytes;    /* packed endpoint_add Command = etcd value size */
    unsigned load_threads; /* epoll threads carrying the clients; 0 = a thread per client */
    struct dir_bench_disk disk_strata, disk_etcd; /* probed before each side's phases */
    char errors[DIR_BENCH_MAX_ERRORS][300];
    unsigned nerrors;
};

/* Record an error for the report (and print it on stderr). */
void dir_bench_summary_error(struct dir_bench_summary *s, const char *what, const char *msg);

/* Write the whole report as one JSON object and a newline. */
void dir_bench_report(FILE *out, const struct dir_bench_summary *s, double total_secs);

#endif
