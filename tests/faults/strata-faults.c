/* strata-faults - the fault-injection harness of issue 23: a 3-node directory in network
 * namespaces and a connectivity server under a seeded nemesis and a recorded workload, the
 * history checked for linearizability, lost writes and versions going backwards; one JSON
 * summary on stdout, exit 0 (all checks hold), 1 (a violation) or 2 (the run could not be made).
 * Needs root. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx.h"
#include "harness.h"
#include "lc_checks.h"
#include "lincheck.h"

/* Linearizable reads are in the workload whenever the directory has them (CMake looks for
 * ResolveRequest.linearizable in proto/strata.proto). */
#ifdef FX_HAVE_LIN_READS
#define FX_LIN_DEFAULT true
#else
#define FX_LIN_DEFAULT false
#endif

struct fx_opts {
    int duration_s;
    unsigned seed;
    const char *schedule;
    const char *history; /* where to copy the history, or NULL */
    const char *inject;  /* an anomaly added to the history before the check, or NULL */
    struct fx_work_opts work;
};

static void fx_usage(FILE *f)
{
    fprintf(f, "usage: strata-faults [--duration S] [--seed N] [--schedule short|long]\n"
               "                     [--history FILE] [--writers N] [--readers N] "
               "[--resolvers N]\n"
               "                     [--inject lost-write|backwards] [--lin-reads 0|1]\n"
               "  short: faults held 1-5 s, 1-3 s apart, 75 s by default\n"
               "  long: faults held 1-10 s, 0.5-4 s apart, 1800 s by default\n");
}

static int fx_parse(int argc, char **argv, struct fx_opts *o)
{
    static const struct option lo[] = {{"duration", required_argument, NULL, 'd'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"schedule", required_argument, NULL, 'S'},
                                       {"history", required_argument, NULL, 'H'},
                                       {"writers", required_argument, NULL, 'w'},
                                       {"readers", required_argument, NULL, 'r'},
                                       {"resolvers", required_argument, NULL, 'R'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"inject", required_argument, NULL, 'I'},
                                       {"lin-reads", required_argument, NULL, 'L'},
                                       {NULL, 0, NULL, 0}};
    *o = (struct fx_opts){.duration_s = -1,
                          .seed = (unsigned)getpid() ^ (unsigned)h_now_ms(),
                          .schedule = "short",
                          .work = {3, 2, 2, FX_LIN_DEFAULT}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        char *end = NULL;
        long v = optarg ? strtol(optarg, &end, 10) : 0;
        bool num_ok = optarg && *optarg && *end == '\0' && v >= 0 && v <= 1000000;
        switch (c) {
        case 'd':
        case 's':
        case 'w':
        case 'r':
        case 'R':
            if (!num_ok) {
                fprintf(stderr, "strata-faults: --%s: not a number: %s\n",
                        c == 'd'   ? "duration"
                        : c == 's' ? "seed"
                        : c == 'w' ? "writers"
                        : c == 'r' ? "readers"
                                   : "resolvers",
                        optarg);
                return -1;
            }
            if (c == 'd')
                o->duration_s = (int)v;
            else if (c == 's')
                o->seed = (unsigned)v;
            else if (c == 'w')
                o->work.writers = (int)v;
            else if (c == 'r')
                o->work.readers = (int)v;
            else
                o->work.resolvers = (int)v > FX_CSDS * 2 ? FX_CSDS * 2 : (int)v;
            break;
        case 'S':
            if (strcmp(optarg, "short") != 0 && strcmp(optarg, "long") != 0) {
                fprintf(stderr, "strata-faults: --schedule: short or long, not %s\n", optarg);
                return -1;
            }
            o->schedule = optarg;
            break;
        case 'H':
            o->history = optarg;
            break;
        case 'L':
            if (strcmp(optarg, "0") != 0 && strcmp(optarg, "1") != 0) {
                fprintf(stderr, "strata-faults: --lin-reads: 0 or 1, not %s\n", optarg);
                return -1;
            }
            o->work.lin_reads = optarg[0] == '1';
#ifndef FX_HAVE_LIN_READS
            if (o->work.lin_reads) {
                fprintf(stderr, "strata-faults: --lin-reads 1: this tree's directory has no "
                                "linearizable reads (ResolveRequest.linearizable)\n");
                return -1;
            }
#endif
            break;
        case 'I':
            if (strcmp(optarg, "lost-write") != 0 && strcmp(optarg, "backwards") != 0) {
                fprintf(stderr, "strata-faults: --inject: lost-write or backwards, not %s\n",
                        optarg);
                return -1;
            }
            o->inject = optarg;
            break;
        case 'h':
            fx_usage(stdout);
            exit(0);
        default:
            fx_usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "strata-faults: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    if (o->duration_s < 0)
        o->duration_s = strcmp(o->schedule, "long") == 0 ? 1800 : 75;
    return 0;
}

static bool fx_has_leader(void *arg)
{
    return fx_leader(arg) >= 0;
}

static bool fx_recovered(void *arg)
{
    return ((struct fx_hist *)arg)->first_ok_write_after != 0;
}

/* Proof that the checks can fail: one made-up operation, recorded as the harness would. A
 * lost write: a final read of ep-0 returning its initial value, which acknowledged writes
 * overwrote. Backwards: the connectivity server answering ep-0 at version 1 after the run. */
static void fx_inject(struct fx_hist *h, const char *what)
{
    int64_t now = fx_now_us();
    struct lc_op_in op = {.proc = atomic_fetch_add(&h->next_proc, 1),
                          .kind = LC_READ,
                          .key = "ep-0",
                          .value = "h1/10.1.0.1",
                          .invoke = now,
                          .complete = now + 1,
                          .outcome = LC_OK,
                          .has_version = true,
                          .version = 1};
    if (strcmp(what, "lost-write") == 0) {
        op.mode = LC_MODE_SER;
        op.node = "d1";
        op.final = true;
        op.version = UINT64_MAX / 2; /* not a backwards version: only the value is wrong */
    } else {
        op.mode = LC_MODE_CS;
        op.node = "cs1";
    }
    fprintf(stderr, "strata-faults: injected: ");
    lc_op_in_print(stderr, &op);
    fputc('\n', stderr);
    fx_hist_record(h, &op);
}

struct fx_report {
    struct lc_result r;
    struct lc_anomalies an;
    struct lc_history h;
    int rc;
    uint64_t check_ms;
    char err[512];
};

/* Parse the history and run every check in-process. */
static void fx_check(const char *path, struct fx_report *rep)
{
    struct strata_err e = {0};
    lc_history_init(&rep->h);
    uint64_t t0 = lc_now_ms();
    rep->rc = lc_history_parse_file(&rep->h, path, &e);
    if (rep->rc == 0)
        rep->rc = lc_check(&rep->h, NULL, &rep->r, &e);
    if (rep->rc == 0)
        rep->rc = lc_check_lost_writes(&rep->h, &rep->an, &e);
    if (rep->rc == 0)
        rep->rc = lc_check_monotonic(&rep->h, &rep->an, &e);
    rep->check_ms = lc_now_ms() - t0;
    if (rep->rc != 0)
        snprintf(rep->err, sizeof(rep->err), "%s", e.msg);
}

static const char *fx_verdict(const struct fx_report *rep)
{
    if (rep->rc != 0)
        return "unusable";
    if (rep->r.verdict == LC_VIOLATION || rep->an.total > 0)
        return "violation";
    return rep->r.verdict == LC_UNKNOWN ? "unknown" : "linearizable";
}

static void fx_summary(const struct fx_opts *o, struct fx_hist *hist, const unsigned *faults,
                       int64_t recovery_us, struct fx_report *rep, const char *path)
{
    FILE *f = stdout;
    fprintf(f, "{\"seed\":%u,\"schedule\":\"%s\",\"duration_s\":%d,\"lin_reads\":%s,\"history\":",
            o->seed, o->schedule, o->duration_s, o->work.lin_reads ? "true" : "false");
    lc_json_str(f, path);
    fprintf(f, ",\"operations\":%lu,\"acknowledged\":%lu,\"failed\":%lu,\"indeterminate\":%lu,",
            (unsigned long)hist->ops, (unsigned long)hist->ok, (unsigned long)hist->fail,
            (unsigned long)hist->info);
    fprintf(f, "\"writes_acknowledged\":%lu,\"faults\":{", (unsigned long)hist->writes_ok);
    unsigned total = 0;
    for (int k = 0; k < FX_FAULT_KINDS; k++) {
        fprintf(f, "%s\"%s\":%u", k ? "," : "", fx_fault_name((enum fx_fault)k), faults[k]);
        total += k == FX_COMBO ? 0 : faults[k]; /* a combination counts as its two faults */
    }
    fprintf(f, ",\"total\":%u},", total);
    fprintf(f, "\"lost\":%zu,\"stale_reads\":%zu,\"linearizability\":\"%s\",\"checker\":{",
            rep->an.lost_writes, rep->an.node_backwards,
            rep->rc != 0                     ? "unusable"
            : rep->r.verdict == LC_VIOLATION ? "violation"
            : rep->r.verdict == LC_UNKNOWN   ? "unknown"
                                             : "linearizable");
    fprintf(f, "\"verdict\":\"%s\",\"time_ms\":%" PRIu64 ",\"keys\":%zu,\"searched\":%zu",
            fx_verdict(rep), rep->check_ms, rep->r.keys, rep->r.searched);
    if (rep->rc != 0) {
        fprintf(f, ",\"error\":");
        lc_json_str(f, rep->err);
    }
    fprintf(f, "},\"recovery_ms\":");
    if (recovery_us >= 0)
        fprintf(f, "%.1f", (double)recovery_us / 1000.0);
    else
        fprintf(f, "null");
    fprintf(f, ",\"recovery_ms_max\":%.1f,\"recovery_ms_mean\":%.1f,\"heals_recovered\":%lu",
            (double)hist->rec_max_us / 1000.0,
            hist->rec_n ? (double)hist->rec_sum_us / 1000.0 / (double)hist->rec_n : 0.0,
            (unsigned long)hist->rec_n);
    fprintf(f, ",\"anomalies\":[");
    for (size_t i = 0; i < rep->an.n; i++) {
        fprintf(f, "%s{\"kind\":\"%s\",\"msg\":", i ? "," : "",
                rep->an.a[i].kind == LC_LOST_WRITE ? "lost_write" : "backwards");
        lc_json_str(f, rep->an.a[i].msg);
        fputc('}', f);
    }
    fprintf(f, "],\"sub_history\":[");
    for (size_t i = 0; rep->rc == 0 && i < rep->r.nsub; i++) {
        if (i)
            fputc(',', f);
        lc_op_print_json(f, &rep->h, &rep->h.ops[rep->r.sub[i]]);
    }
    fprintf(f, "]}\n");
    fflush(f);
    if (rep->rc == 0 && rep->r.nsub > 0) {
        fprintf(stderr, "strata-faults: the minimal failing sub-history (key %s):\n",
                lc_history_key(&rep->h, rep->r.key));
        for (size_t i = 0; i < rep->r.nsub; i++) {
            lc_op_print(stderr, &rep->h, &rep->h.ops[rep->r.sub[i]]);
            fputc('\n', stderr);
        }
    }
}

int main(int argc, char **argv)
{
    struct fx_opts o;
    if (fx_parse(argc, argv, &o) != 0)
        return 2;
    if (geteuid() != 0) {
        fprintf(stderr, "strata-faults: needs root (network namespaces, nftables, mounts)\n");
        return 77;
    }
    bool lng = strcmp(o.schedule, "long") == 0;
    struct fx_nemesis_opts no = {.seed = o.seed,
                                 .duration_s = o.duration_s,
                                 .hold_min_ms = 1000,
                                 .hold_max_ms = lng ? 10000 : 5000,
                                 .gap_min_ms = lng ? 500 : 1000,
                                 .gap_max_ms = lng ? 4000 : 3000};
    fprintf(stderr,
            "strata-faults: seed %u, schedule %s, %d s (again: --seed %u --schedule %s "
            "--duration %d)\n",
            o.seed, o.schedule, o.duration_s, o.seed, o.schedule, o.duration_s);
    static struct fx_topo t;
    if (fx_topo_start(&t) != 0 || !h_wait_until(fx_has_leader, &t, 30000)) {
        fprintf(stderr, "strata-faults: the cluster did not start (logs in %s)\n", t.tmp);
        return 2;
    }
    static struct fx_hist hist;
    pthread_mutex_init(&hist.mu, NULL);
    char path[700];
    snprintf(path, sizeof(path), "%s/history.txt", t.tmp);
    hist.path = path;
    hist.next_proc = 1;
    if ((hist.f = fopen(path, "w")) == NULL || fx_work_setup(&t, &hist) != 0) {
        fprintf(stderr, "strata-faults: setup failed (logs in %s)\n", t.tmp);
        return 2;
    }
    struct fx_work *w = NULL;
    struct fx_nemesis *n = NULL;
    no.hist = &hist;
    if (fx_work_start(&t, &hist, &o.work, &w) != 0 || fx_nemesis_start(&t, &no, &n) != 0)
        return 2;
    int64_t heal_us = 0;
    fx_nemesis_join(n, &heal_us);
    /* Recovery: the first write acknowledged after the last heal (bounded at 60 s). */
    bool recovered = h_wait_until(fx_recovered, &hist, 60000);
    int64_t recovery_us = recovered ? hist.first_ok_write_after - heal_us : -1;
    fx_work_stop(w);
    int final_rc = fx_work_final(&t, &hist);
    unsigned faults[FX_FAULT_KINDS];
    fx_nemesis_counts(n, faults);
    fx_nemesis_free(n);
    if (o.inject != NULL)
        fx_inject(&hist, o.inject);
    fclose(hist.f);
    if (o.history != NULL) {
        char cmd[1600];
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, o.history);
        h_run(cmd, NULL);
    }
    static struct fx_report rep;
    fx_check(path, &rep);
    fx_summary(&o, &hist, faults, recovery_us, &rep, o.history ? o.history : path);
    bool pass =
        rep.rc == 0 && strcmp(fx_verdict(&rep), "linearizable") == 0 && recovered && final_rc == 0;
    if (!recovered)
        fprintf(stderr, "strata-faults: no write acknowledged within 60 s of the last heal\n");
    if (!pass) {
        /* the history outlives the run's directory: it is what explains the failure */
        char keep[128], cmd[1024];
        snprintf(keep, sizeof(keep), "/tmp/strata-faults-seed%u.history", o.seed);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, keep);
        if (o.history == NULL && h_run(cmd, NULL) == 0)
            fprintf(stderr, "strata-faults: history kept in %s\n", keep);
        fprintf(stderr, "strata-faults: FAILED (seed %u; logs in %s, kept with STRATA_KEEP=1)\n",
                o.seed, t.tmp);
    }
    lc_result_free(&rep.r);
    lc_history_free(&rep.h);
    return pass ? 0 : 1;
}
