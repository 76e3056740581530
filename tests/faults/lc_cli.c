/* lc_cli.c - strata-lincheck: parse a history, run the linearizability search and the simple
 * checks, print one JSON verdict (and, on a violation, the minimal sub-history readably). */
#include "lc_cli.h"

#include <inttypes.h>
#include <stdlib.h>

#include "flags.h"
#include "lc_checks.h"
#include "lincheck.h"

static const char *const verdict_names[] = {"linearizable", "violation", "unknown"};

static void print_anomalies(FILE *out, const struct lc_history *h, const struct lc_anomalies *a)
{
    fprintf(out, ",\"lost_writes\":%zu,\"node_backwards\":%zu,\"anomalies\":[", a->lost_writes,
            a->node_backwards);
    for (size_t i = 0; i < a->n; i++) {
        const struct lc_anomaly *x = &a->a[i];
        fprintf(out, "%s{\"kind\":\"%s\",\"line\":%" PRIu32 ",\"msg\":", i ? "," : "",
                x->kind == LC_LOST_WRITE ? "lost-write" : "node-backwards", h->ops[x->op].line);
        lc_json_str(out, x->msg);
        fputc('}', out);
    }
    fputc(']', out);
}

static void print_json(FILE *out, const struct lc_history *h, const struct lc_result *r,
                       const struct lc_anomalies *a, enum lc_verdict verdict, uint64_t ms)
{
    fprintf(out,
            "{\"ops\":%zu,\"keys\":%zu,\"verdict\":\"%s\",\"time_ms\":%" PRIu64
            ",\"linearizability\":\"%s\",\"searched\":%zu,\"steps\":%" PRIu64
            ",\"violating_keys\":%zu,\"unknown_keys\":%zu,\"key\":",
            r->ops, r->keys, verdict_names[verdict], ms, verdict_names[r->verdict], r->searched,
            r->stats.steps, r->violations, r->unknowns);
    if (r->verdict == LC_LINEARIZABLE)
        fprintf(out, "null");
    else
        lc_json_str(out, lc_history_key(h, r->key));
    fprintf(out, ",\"sub_history\":[");
    for (size_t i = 0; i < r->nsub; i++) {
        fprintf(out, "%s", i ? "," : "");
        lc_op_print_json(out, h, &h->ops[r->sub[i]]);
    }
    fprintf(out, "]");
    if (r->verdict == LC_VIOLATION)
        fprintf(out, ",\"sub_history_minimal\":%s", r->shrunk ? "true" : "false");
    print_anomalies(out, h, a);
    fprintf(out, "}\n");
}

/* The violation for a reader: the sub-history in the file format, so it can be checked alone. */
static void print_account(FILE *err, const struct lc_history *h, const struct lc_result *r,
                          const struct lc_anomalies *a)
{
    if (r->verdict == LC_VIOLATION) {
        fprintf(err, "strata-lincheck: key %s is not linearizable; %s sub-history (%zu ops):\n",
                lc_history_key(h, r->key), r->shrunk ? "a minimal" : "a failing (shrink timed out)",
                r->nsub);
        uint32_t k = r->key;
        if (k < h->ninit && h->init[k] != LC_ABSENT)
            fprintf(err, "  op=init key=%s val=%s\n", lc_history_key(h, k),
                    lc_history_value(h, h->init[k]));
        for (size_t i = 0; i < r->nsub; i++) {
            fprintf(err, "  ");
            lc_op_print(err, h, &h->ops[r->sub[i]]);
            fprintf(err, "   # line %" PRIu32 "\n", h->ops[r->sub[i]].line);
        }
    } else if (r->verdict == LC_UNKNOWN) {
        fprintf(err,
                "strata-lincheck: %zu key(s) not decided within the bounds (first: %s); raise "
                "--max-steps or --timeout-ms\n",
                r->unknowns, lc_history_key(h, r->key));
    }
    for (size_t i = 0; i < a->n; i++)
        fprintf(err, "strata-lincheck: %s\n", a->a[i].msg);
    if (a->total > a->n)
        fprintf(err, "strata-lincheck: ... and %zu more anomalies\n", a->total - a->n);
}

int lc_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    struct lc_limits lim = {0};
    uint64_t cache_mb = 1024;
    const struct strata_flag flags[] = {
        {"max-steps", STRATA_FLAG_U64, &lim.max_steps, "N",
         "search steps per key before answering unknown (default 50000000)", false, 1, 0},
        {"timeout-ms", STRATA_FLAG_U64, &lim.timeout_ms, "MS",
         "time for the whole search before answering unknown (default 60000)", false, 1, 0},
        {"shrink-ms", STRATA_FLAG_U64, &lim.shrink_ms, "MS",
         "time to shrink a violation to a minimal sub-history (default 5000)", false, 1, 0},
        {"max-cache-mb", STRATA_FLAG_U64, &cache_mb, "MB",
         "memory for one key's memo before answering unknown", false, 1, 1 << 20},
        STRATA_FLAGS_END,
    };
    struct strata_err e;
    strata_err_clear(&e);
    int argi = 1;
    int rc = strata_flags_parse(flags, argc, argv, &argi, &e);
    if (rc == STRATA_ENOTFOUND) {
        fprintf(out, "usage: strata-lincheck [flags] HISTORY\n"
                     "exit 0 linearizable, 1 violation, 2 unknown or bad input\n");
        strata_flags_usage(out, flags);
        return 0;
    }
    if (rc == 0 && argi != argc - 1)
        rc = strata_err_set(&e, STRATA_EINVAL, "expected one HISTORY file");
    if (rc != 0) {
        fprintf(err, "strata-lincheck: %s\n", e.msg);
        strata_flags_usage(err, flags);
        return 2;
    }
    lim.max_cache_bytes = (size_t)cache_mb << 20;
    uint64_t t0 = lc_now_ms();
    struct lc_history h;
    struct lc_result r = {0};
    struct lc_anomalies *a = calloc(1, sizeof(*a));
    lc_history_init(&h);
    if (a == NULL)
        rc = strata_err_set(&e, STRATA_ENOMEM, "out of memory");
    else if ((rc = lc_history_parse_file(&h, argv[argi], &e)) == 0 &&
             (rc = lc_check(&h, &lim, &r, &e)) == 0 && (rc = lc_check_lost_writes(&h, a, &e)) == 0)
        rc = lc_check_monotonic(&h, a, &e);
    int status = 2;
    if (rc != 0) {
        fprintf(err, "strata-lincheck: %s\n", e.msg);
    } else {
        enum lc_verdict v = r.verdict;
        if (a->total > 0)
            v = LC_VIOLATION;
        print_json(out, &h, &r, a, v, lc_now_ms() - t0);
        print_account(err, &h, &r, a);
        status = (int)v; /* the verdicts are numbered as the exit statuses */
    }
    lc_result_free(&r);
    free(a);
    lc_history_free(&h);
    return status;
}
