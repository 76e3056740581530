/* dir-bench - throughput, latency and leader failover of a 3-node strata-dird cluster, side by
 * side with a 3-member etcd cluster doing the same work, and (--tls) with a second Strata
 * cluster whose API is mutual TLS. Prints one JSON object on stdout; progress goes to stderr.
 * See docs/benchmarks.md. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dir_bench_cluster.h"
#include "dir_bench_failover.h"
#include "dir_bench_load.h"
#include "dir_bench_report.h"
#include "dir_bench_stats.h"
#include "etcd_cluster.h"
#include "etcd_failover.h"
#include "flags.h"
#include "h_tls.h"
#include "harness.h"

#define KEYS_CAP (16u << 20)
#define DIR_BENCH_DEFAULT UINT64_MAX /* a flag not given */

#define say(...) (fprintf(stderr, "dir-bench: " __VA_ARGS__), fputc('\n', stderr))

struct bench {
    /* flags */
    const char *bin_dir, *clients_arg;
    uint64_t seconds, failovers, election_timeout_ms, load_threads;
    uint64_t busy_poll_us; /* DIR_BENCH_DEFAULT: the daemon's own */
    bool no_etcd, no_strata, tls;
    struct strata_tls *op_tls; /* --tls: the load generator's operator certificate */
    struct dir_bench_summary sum;
};

static void bench_error(struct bench *b, const char *what, const struct strata_err *e)
{
    dir_bench_summary_error(&b->sum, what, e->msg);
}

static int parse_clients(struct bench *b, struct strata_err *e)
{
    const char *p = b->clients_arg;
    while (*p) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p || v < 1 || v > 1024 || (*end && *end != ','))
            return strata_err_set(e, STRATA_EINVAL, "--clients: expected a list like 1,16,64");
        if (b->sum.nruns == DIR_BENCH_MAX_RUNS)
            return strata_err_set(e, STRATA_EINVAL, "--clients: at most %d values",
                                  DIR_BENCH_MAX_RUNS);
        b->sum.runs[b->sum.nruns++].clients = (unsigned)v;
        p = *end ? end + 1 : end;
    }
    return b->sum.nruns ? 0 : strata_err_set(e, STRATA_EINVAL, "--clients: empty");
}

/* The servers one run drives: their API ports (client i connects to port i mod n, so clients are
 * spread over the nodes as etcd's are over its members: a follower forwards writes to the leader
 * in both systems) and their processes, whose CPU is measured. */
struct drive_target {
    bool etcd;              /* etcd's HTTP gateway, else a Strata API (bench/lib/sp_req.c) */
    struct strata_tls *tls; /* a Strata API on tls+tcp://: the clients' context */
    const int *port;
    const pid_t *pid;
    int n;
    const struct drive_target *idle; /* the other system, running idle meanwhile, or NULL */
};

/* An operation, whole for the thread-per-client driver and split for the event-driven one. */
struct bench_op {
    dir_bench_op_fn fn;
    const struct dir_bench_aop *aop;
};
static const struct bench_op op_strata_write = {dir_bench_op_strata_write,
                                                &dir_bench_aop_strata_write};
static const struct bench_op op_strata_read = {dir_bench_op_strata_read,
                                               &dir_bench_aop_strata_read};
static const struct bench_op op_strata_linread = {dir_bench_op_strata_linread,
                                                  &dir_bench_aop_strata_linread};
static const struct bench_op op_etcd_put = {dir_bench_op_etcd_put, &dir_bench_aop_etcd_put};
static const struct bench_op op_etcd_get = {dir_bench_op_etcd_get, &dir_bench_aop_etcd_get};

/* Open one lean connection per client, drive `op` on them, close them. */
static int drive(const struct bench *b, const struct drive_target *t, struct dir_bench_keys *keys,
                 unsigned n, const struct bench_op *op, struct dir_bench_result *out,
                 struct strata_err *e)
{
    double secs = (double)b->seconds;
    struct dir_bench_client *cl = calloc(n, sizeof(*cl));
    void **ctx = calloc(n, sizeof(*ctx));
    int rc = cl && ctx ? 0 : strata_err_set(e, STRATA_ENOMEM, "out of memory");
    for (unsigned i = 0; !rc && i < n; i++) {
        cl[i].index = i;
        cl[i].rng = 0x2545f4914f6cdd1dull * (i + 1);
        cl[i].keys = keys;
        cl[i].client_id = 0x9e3779b97f4a7c15ull * (i + 1) ^ h_now_ms();
        int port = t->port[i % (unsigned)t->n];
        rc = t->etcd ? etcd_http_open("127.0.0.1", port, 5000, &cl[i].http, e)
                     : sp_req_open_tls("127.0.0.1", port, 5000, t->tls, &cl[i].sp, e);
        ctx[i] = &cl[i];
    }
    double cpu0 = dir_bench_procs_cpu_s(t->pid, (unsigned)t->n);
    double idle0 = t->idle ? dir_bench_procs_cpu_s(t->idle->pid, (unsigned)t->idle->n) : -1;
    if (!rc && b->load_threads)
        rc = dir_bench_drive_events(n, ctx, op->aop, (unsigned)b->load_threads, secs, 1000, out, e);
    else if (!rc)
        rc = dir_bench_drive(n, ctx, op->fn, secs, 1000, out, e);
    double cpu1 = dir_bench_procs_cpu_s(t->pid, (unsigned)t->n);
    double idle1 = t->idle ? dir_bench_procs_cpu_s(t->idle->pid, (unsigned)t->idle->n) : -1;
    if (!rc) {
        out->server_cpu_s = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
        out->idle_cpu_s = idle0 >= 0 && idle1 >= 0 ? idle1 - idle0 : -1;
    }
    for (unsigned i = 0; cl && i < n; i++) {
        sp_req_close(cl[i].sp);
        etcd_http_close(cl[i].http);
        free(cl[i].frame);
    }
    free(cl);
    free(ctx);
    return rc;
}

/* Print a phase's figures; failed operations also go to the report's error list (a healthy
 * cluster answers every request, so any failure deserves a look). */
static void phase_done(struct bench *b, const char *what, const struct dir_bench_result *r)
{
    say("  %-13s clients=%-3u %9.0f/s  p50 %7.2f ms  p99 %7.2f ms  cpu s/c %.1f/%.1f  errors "
        "%llu%s%s",
        what, r->clients, r->per_s, r->p50_ms, r->p99_ms, r->server_cpu_s, r->client_cpu_s,
        (unsigned long long)r->errors, r->first_error[0] ? "  first: " : "", r->first_error);
    if (r->idle_cpu_s >= 0)
        say("  meanwhile the idle side used %.2f s of CPU", r->idle_cpu_s);
    if (r->errors) {
        char where[64], msg[400];
        snprintf(where, sizeof(where), "%s (%u clients)", what, r->clients);
        snprintf(msg, sizeof(msg), "%llu of %llu failed, first: %s", (unsigned long long)r->errors,
                 (unsigned long long)(r->errors + r->ops), r->first_error);
        dir_bench_summary_error(&b->sum, where, msg);
    }
}

/* The disk as each side meets it, in the directory its data goes to. */
static void bench_disk(struct bench *b, const char *dir, struct dir_bench_disk *d)
{
    struct strata_err e = {0};
    if (dir_bench_disk_probe(dir, d, &e) != 0)
        bench_error(b, "disk probe", &e);
    else
        say("disk: a 4 KiB O_DSYNC write takes %.2f ms alone, %.2f ms with three writers",
            d->one_ms, d->three_ms);
}

/* The two systems are started together and measured in turns, each phase of one right after
 * the same phase of the other: the shared virtual disk's speed moves by 2x within minutes, and a
 * ratio of two phases taken a minute apart measured that drift as much as the systems. The side
 * not being measured is idle (heartbeats only). */
struct strata_side {
    bool up;
    bool tls;
    const char *name; /* "strata", "strata-tls" */
    struct dir_bench_cluster c;
    struct dir_bench_keys keys;
    struct drive_target t;
};

struct etcd_side {
    bool up;
    struct etcd_cluster ec;
    struct dir_bench_keys keys;
    struct drive_target t;
};

/* One measured phase: announce it, drive it, print its figures. */
static bool phase(struct bench *b, const struct drive_target *t, struct dir_bench_keys *keys,
                  unsigned clients, const struct bench_op *op, const char *side, const char *what,
                  const char *label, struct dir_bench_result *out)
{
    struct strata_err e = {0};
    say("%s: %u clients, %s for %llus", side, clients, what, (unsigned long long)b->seconds);
    if (drive(b, t, keys, clients, op, out, &e) != 0) {
        char where[64];
        snprintf(where, sizeof(where), "%s %s", side, what);
        bench_error(b, where, &e);
        return false;
    }
    phase_done(b, label, out);
    return true;
}

static void strata_start(struct bench *b, struct strata_side *s)
{
    struct strata_err e = {0};
    const char *bin = h_bin("strata-dird");
    if (access(bin, X_OK) != 0) {
        strata_err_set(&e, STRATA_ENOTFOUND, "%s not found (set --bin or STRATA_BIN)", bin);
        bench_error(b, "strata", &e);
        return;
    }
    unsigned eto = 0;
    if (b->election_timeout_ms && dir_bench_dird_has_flag(bin, "--election-timeout-ms"))
        eto = (unsigned)b->election_timeout_ms;
    /* Report what the nodes run with: the flag given, or the daemon's documented default. */
    b->sum.election_timeout_ms =
        eto ? eto : dir_bench_dird_flag_default(bin, "election-timeout-ms");
    int bp = -1;
    if (b->busy_poll_us != DIR_BENCH_DEFAULT && dir_bench_dird_has_flag(bin, "--busy-poll-us"))
        bp = (int)b->busy_poll_us;
    b->sum.busy_poll_us = bp >= 0 ? bp : (int)dir_bench_dird_flag_default(bin, "busy-poll-us");
    say("starting 3 strata-dird nodes (%s%s, busy poll %d us%s)", bin,
        eto ? ", --election-timeout-ms given" : ", default election timeout", b->sum.busy_poll_us,
        s->tls ? ", API on tls+tcp://" : "");
    if (dir_bench_cluster_start(&s->c, bin, eto, bp, s->tls, 20000, &e) != 0) {
        bench_error(b, s->tls ? "strata-tls cluster start" : "strata cluster start", &e);
        dir_bench_cluster_stop(&s->c);
        return;
    }
    if (dir_bench_cluster_seed(&s->c, &e) != 0 ||
        dir_bench_keys_init(&s->keys, KEYS_CAP, &e) != 0) {
        bench_error(b, s->tls ? "strata-tls seed" : "strata seed", &e);
        dir_bench_cluster_stop(&s->c);
        dir_bench_keys_free(&s->keys);
        return;
    }
    if (!s->tls) /* the TLS cluster's data is on the same disk, probed once */
        bench_disk(b, s->c.dir, &b->sum.disk_strata);
    s->t = (struct drive_target){.port = s->c.api_port,
                                 .pid = s->c.pid,
                                 .n = DIR_BENCH_NODES,
                                 .tls = s->tls ? b->op_tls : NULL};
    s->up = true;
}

static bool strata_writes(struct bench *b, struct strata_side *s, unsigned clients,
                          struct dir_bench_result *res, struct dir_bench_raft_phase *raft)
{
    struct strata_err e = {0};
    struct dir_bench_raft_sample m0, m1;
    char label[32];
    snprintf(label, sizeof(label), "%s write", s->name);
    bool scraped = dir_bench_scrape_raft(s->c.metrics_port, DIR_BENCH_NODES, &m0, &e) == 0;
    if (!phase(b, &s->t, &s->keys, clients, &op_strata_write, s->name, "writes", label, res))
        return false;
    /* Optional figures: a node without the histograms (an older build) only loses them. */
    if (scraped && dir_bench_scrape_raft(s->c.metrics_port, DIR_BENCH_NODES, &m1, &e) == 0) {
        dir_bench_raft_phase(&m0, &m1, (double)res->ops, raft);
        say("  raft: disk append %.2f ms, commit %.2f ms (leader), %.1f writes per entry; "
            "%.2f ms in the node written to",
            raft->append_ms, raft->commit_ms, raft->writes_per_entry, raft->server_ms);
    }
    return true;
}

static bool strata_reads(struct bench *b, struct strata_side *s, unsigned clients,
                         struct dir_bench_result *res)
{
    char label[32];
    snprintf(label, sizeof(label), "%s read", s->name);
    return phase(b, &s->t, &s->keys, clients, &op_strata_read, s->name, "resolves", label, res);
}

/* The same resolves, linearizable: each passes the leader's read barrier (a follower forwards
 * it), right after the serializable phase so that the two compare. */
static bool strata_linreads(struct bench *b, struct strata_side *s, unsigned clients,
                            struct dir_bench_result *res)
{
    char label[40];
    snprintf(label, sizeof(label), "%s linread", s->name);
    return phase(b, &s->t, &s->keys, clients, &op_strata_linread, s->name, "linearizable resolves",
                 label, res);
}

static void strata_failovers(struct bench *b, struct strata_side *s)
{
    struct strata_err e = {0};
    say("strata: %llu leader failovers", (unsigned long long)b->failovers);
    b->sum.failover_ran = true;
    if (dir_bench_failover_run(&s->c, &s->keys, (unsigned)b->failovers, &b->sum.fo, &e) != 0)
        bench_error(b, "strata failover", &e);
    else
        b->sum.failover_ok = true;
    say("  failover median %.0f ms over %u samples", b->sum.fo.median_ms, b->sum.fo.n);
}

static void strata_stop(struct strata_side *s)
{
    if (!s->up)
        return;
    dir_bench_cluster_stop(&s->c);
    dir_bench_keys_free(&s->keys);
    s->up = false;
}

static void etcd_start(struct bench *b, struct etcd_side *s)
{
    struct strata_err e = {0};
    char bin[512];
    if (!etcd_find(bin, sizeof(bin), b->sum.etcd_version, sizeof(b->sum.etcd_version))) {
        say("etcd not on PATH: skipping the comparison");
        return;
    }
    b->sum.etcd_found = true;
    say("starting 3 etcd members (%s, %s)", bin, b->sum.etcd_version);
    if (etcd_cluster_start(&s->ec, bin, 30000, &e) != 0 ||
        dir_bench_keys_init(&s->keys, KEYS_CAP, &e) != 0) {
        bench_error(b, "etcd cluster start", &e);
        etcd_cluster_stop(&s->ec);
        dir_bench_keys_free(&s->keys);
        return;
    }
    bench_disk(b, s->ec.dir, &b->sum.disk_etcd);
    s->t = (struct drive_target){
        .etcd = true, .port = s->ec.client_port, .pid = s->ec.pid, .n = ETCD_MEMBERS};
    s->up = true;
}

static void etcd_failovers(struct bench *b, struct etcd_side *s)
{
    struct strata_err e = {0};
    say("etcd: %llu leader failovers", (unsigned long long)b->failovers);
    b->sum.etcd_failover_ran = true;
    if (etcd_failover_run(&s->ec, &s->keys, (unsigned)b->failovers, &b->sum.etcd_fo, &e) != 0)
        bench_error(b, "etcd failover", &e);
    else
        b->sum.etcd_failover_ok = true;
    say("  etcd failover median %.0f ms over %u samples", b->sum.etcd_fo.median_ms,
        b->sum.etcd_fo.n);
}

static void etcd_stop(struct etcd_side *s)
{
    if (!s->up)
        return;
    etcd_cluster_stop(&s->ec);
    dir_bench_keys_free(&s->keys);
    s->up = false;
}

/* Every phase of all sides, in turns: writes of one then of the others, reads likewise, at
 * each concurrency; failovers last, as each kills a member. The TLS cluster's phase and the
 * plaintext one's follow each other at once, so that their ratio compares two phases seconds
 * apart, and which goes first alternates from one concurrency to the next. */
static void run_all(struct bench *b, struct strata_side *s, struct strata_side *ts,
                    struct etcd_side *es)
{
    if (s->up && es->up) {
        s->t.idle = &es->t;
        es->t.idle = &s->t;
    }
    for (unsigned r = 0; r < b->sum.nruns; r++) {
        struct dir_bench_run *run = &b->sum.runs[r];
        bool tls_first = r % 2 == 1;
        bool sw = false, tw = false;
        if (tls_first)
            tw = ts->up && strata_writes(b, ts, run->clients, &run->tw, &run->traft);
        sw = s->up && strata_writes(b, s, run->clients, &run->sw, &run->sraft);
        if (!tls_first)
            tw = ts->up && strata_writes(b, ts, run->clients, &run->tw, &run->traft);
        bool ew = es->up && phase(b, &es->t, &es->keys, run->clients, &op_etcd_put, "etcd", "puts",
                                  "etcd put", &run->ep);
        if (tls_first)
            run->tls_ok = tw && strata_reads(b, ts, run->clients, &run->tr);
        run->strata_ok = sw && strata_reads(b, s, run->clients, &run->sr);
        run->lin_ok = run->strata_ok && strata_linreads(b, s, run->clients, &run->slr);
        if (run->lin_ok && run->sr.per_s > 0)
            say("  linearizable/serializable at %u clients: reads %.2f, p50 %.2f vs %.2f ms",
                run->clients, run->slr.per_s / run->sr.per_s, run->slr.p50_ms, run->sr.p50_ms);
        if (!tls_first)
            run->tls_ok = tw && strata_reads(b, ts, run->clients, &run->tr);
        run->etcd_ok = ew && phase(b, &es->t, &es->keys, run->clients, &op_etcd_get, "etcd",
                                   "serializable gets", "etcd get", &run->eg);
        if (sw && tw && run->sw.per_s > 0 && run->sr.per_s > 0)
            say("  tls/plaintext at %u clients: writes %.2f, reads %.2f", run->clients,
                run->tw.per_s / run->sw.per_s, run->tr.per_s / run->sr.per_s);
    }
    if (b->failovers && s->up)
        strata_failovers(b, s);
    if (b->failovers && es->up)
        etcd_failovers(b, es);
}

/* Ctrl-C, a CI timeout or a crash (a sanitizer abort skips atexit) must not leave six daemons
 * behind. h_cleanup is not async-signal-safe, but the process is dying anyway and a leak of
 * servers on the shared machine is worse. */
static void on_fatal_signal(int sig)
{
    h_cleanup();
    if (sig == SIGABRT || sig == SIGSEGV || sig == SIGBUS) {
        signal(sig, SIG_DFL); /* die with the original signal (core dump, exit status) */
        raise(sig);
    }
    _exit(128 + sig);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGABRT, on_fatal_signal);
    signal(SIGSEGV, on_fatal_signal);
    signal(SIGBUS, on_fatal_signal);
    static struct bench b = {.clients_arg = "1,16,64",
                             .seconds = 5,
                             .failovers = 5,
                             .load_threads = 2,
                             .busy_poll_us = DIR_BENCH_DEFAULT};
    const struct strata_flag flags[] = {
        {.name = "bin",
         .type = STRATA_FLAG_STR,
         .dst = &b.bin_dir,
         .metavar = "DIR",
         .help = "where strata-dird is (default: $STRATA_BIN, else this program's directory)"},
        {.name = "clients",
         .type = STRATA_FLAG_STR,
         .dst = &b.clients_arg,
         .metavar = "N,N,...",
         .help = "concurrent clients of each run (default 1,16,64)"},
        {.name = "seconds",
         .type = STRATA_FLAG_U64,
         .dst = &b.seconds,
         .metavar = "S",
         .help = "duration of each measurement (default 5)",
         .min = 1,
         .max = 60},
        {.name = "failovers",
         .type = STRATA_FLAG_U64,
         .dst = &b.failovers,
         .metavar = "N",
         .help = "leader kills to time, 0 to skip (default 5)",
         .min = 0,
         .max = 50},
        {.name = "election-timeout-ms",
         .type = STRATA_FLAG_U64,
         .dst = &b.election_timeout_ms,
         .metavar = "MS",
         .help = "passed to strata-dird when it has the flag (default: the daemon's own)",
         .min = 0,
         .max = 60000},
        {.name = "busy-poll-us",
         .type = STRATA_FLAG_U64,
         .dst = &b.busy_poll_us,
         .metavar = "US",
         .help = "passed to strata-dird when it has the flag (default: the daemon's own)",
         .min = 0,
         .max = 10000},
        {.name = "load-threads",
         .type = STRATA_FLAG_U64,
         .dst = &b.load_threads,
         .metavar = "N",
         .help = "threads carrying all clients on epoll; 0 = a blocking thread per client "
                 "(default 2)",
         .min = 0,
         .max = 64},
        {.name = "no-etcd",
         .type = STRATA_FLAG_BOOL,
         .dst = &b.no_etcd,
         .help = "skip the etcd comparison"},
        {.name = "no-strata",
         .type = STRATA_FLAG_BOOL,
         .dst = &b.no_strata,
         .help = "measure etcd only"},
        {.name = "tls",
         .type = STRATA_FLAG_BOOL,
         .dst = &b.tls,
         .help = "also run a second Strata cluster with its API on mutual TLS and compare"},
        STRATA_FLAGS_END,
    };
    struct strata_err e = {0};
    int argi = 1;
    int rc = strata_flags_parse(flags, argc, argv, &argi, &e);
    if (rc == STRATA_ENOTFOUND) {
        printf("usage: dir-bench [flags]\n");
        strata_flags_usage(stdout, flags);
        return 0;
    }
    if (!rc && argi < argc)
        rc = strata_err_set(&e, STRATA_EINVAL, "unexpected argument '%s'", argv[argi]);
    if (!rc)
        rc = parse_clients(&b, &e);
    if (rc) {
        fprintf(stderr, "dir-bench: %s\n", e.msg);
        return 2;
    }
    if (b.bin_dir) /* otherwise h_bin() looks in $STRATA_BIN, then beside this program */
        setenv("STRATA_BIN", b.bin_dir, 1);
    atexit(h_cleanup);

    uint8_t val[256];
    b.sum.value_bytes = dir_bench_command_pack(1000, val, sizeof(val));
    b.sum.seconds = (unsigned)b.seconds;
    b.sum.load_threads = (unsigned)b.load_threads;
    b.sum.busy_poll_us = -1;
    uint64_t t0 = h_now_ms();
    static struct strata_side side_strata = {.name = "strata"};
    static struct strata_side side_tls = {.name = "strata-tls", .tls = true};
    static struct etcd_side side_etcd;
    if (!b.no_strata) {
        b.sum.strata_ran = true;
        strata_start(&b, &side_strata);
    }
    if (!b.no_strata && b.tls) {
        /* a fresh CA (tests/lib/h_tls); every client of this process is its operator */
        b.op_tls = h_tls_ctx("operator", "dir-bench");
        strata_tls_set_default(b.op_tls);
        b.sum.tls_ran = true;
        strata_start(&b, &side_tls);
    }
    if (!b.no_etcd)
        etcd_start(&b, &side_etcd);
    run_all(&b, &side_strata, &side_tls, &side_etcd);
    strata_stop(&side_strata);
    strata_stop(&side_tls);
    etcd_stop(&side_etcd);
    dir_bench_report(stdout, &b.sum, (double)(h_now_ms() - t0) / 1000.0);
    say("done in %.0f s", (double)(h_now_ms() - t0) / 1000.0);
    h_cleanup();
    return b.sum.nerrors ? 1 : 0;
}
