/* dir_bench_report.c - JSON output of the directory benchmark (hand-written: flat and small). */
#include "dir_bench_report.h"

#include <string.h>
#include <unistd.h>

void dir_bench_summary_error(struct dir_bench_summary *s, const char *what, const char *msg)
{
    fprintf(stderr, "dir-bench: %s: %s\n", what, msg);
    if (s->nerrors < DIR_BENCH_MAX_ERRORS)
        snprintf(s->errors[s->nerrors++], sizeof(s->errors[0]), "%s: %s", what, msg);
}

/* A JSON string of plain text: escape quotes, backslashes and control characters. */
static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void json_num(FILE *out, double v, bool valid)
{
    if (valid)
        fprintf(out, "%.2f", v);
    else
        fputs("null", out);
}

static void json_result(FILE *out, const char *rate, const char *lat,
                        const struct dir_bench_result *r)
{
    fprintf(out,
            "\"%s_per_s\":%.1f,\"%s_p50_ms\":%.3f,\"%s_p99_ms\":%.3f,\"%s_max_ms\":%.3f,"
            "\"%s_errors\":%llu",
            rate, r->per_s, lat, r->p50_ms, lat, r->p99_ms, lat, r->max_ms, rate,
            (unsigned long long)r->errors);
    /* CPU per operation: the servers (all members together) and the benchmark's own clients */
    if (r->ops > 0 && r->server_cpu_s >= 0)
        fprintf(out, ",\"%s_server_cpu_ms_per_op\":%.4f", rate,
                r->server_cpu_s * 1000.0 / (double)r->ops);
    if (r->ops > 0)
        fprintf(out, ",\"%s_client_cpu_ms_per_op\":%.4f", rate,
                r->client_cpu_s * 1000.0 / (double)r->ops);
    if (r->first_error[0]) {
        fprintf(out, ",\"%s_first_error\":", rate);
        json_str(out, r->first_error);
    }
}

static void json_failover(FILE *out, bool ran, const struct dir_bench_failover *fo)
{
    if (!ran) {
        fputs("null", out);
        return;
    }
    fputs("{\"median\":", out);
    json_num(out, fo->median_ms, fo->n > 0);
    fputs(",\"samples\":[", out);
    for (unsigned i = 0; i < fo->n; i++)
        fprintf(out, "%s%.1f", i ? "," : "", fo->samples_ms[i]);
    fputs("],\"rejoin\":[", out);
    for (unsigned i = 0; i < fo->n; i++)
        fprintf(out, "%s%.1f", i ? "," : "", fo->rejoin_ms[i]);
    fputs("]}", out);
}

static void json_disk(FILE *out, const struct dir_bench_disk *d)
{
    if (d->ok)
        fprintf(out, "{\"dsync_4k_ms_1\":%.3f,\"dsync_4k_ms_3\":%.3f}", d->one_ms, d->three_ms);
    else
        fputs("null", out);
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* The TLS cluster's figures beside the plaintext one's: "tls" (its own, as "runs" has them) and
 * "tls_vs_plaintext" (TLS / plaintext for rates and latencies, by concurrency). Sets *met (null
 * when not measured at the target's concurrency). */
static void json_tls(FILE *out, const struct dir_bench_summary *s, const char **met)
{
    *met = "null";
    if (!s->tls_ran) {
        fputs(",\"tls\":null,\"tls_vs_plaintext\":null", out);
        return;
    }
    fputs(",\"tls\":{\"runs\":[", out);
    for (unsigned i = 0; i < s->nruns; i++) {
        const struct dir_bench_run *r = &s->runs[i];
        fprintf(out, "%s{\"clients\":%u,\"strata\":", i ? "," : "", r->clients);
        if (!r->tls_ok) {
            fputs("null}", out);
            continue;
        }
        fputc('{', out);
        json_result(out, "writes", "write", &r->tw);
        if (r->traft.ok)
            fprintf(out, ",\"write_server_ms\":%.3f,\"writes_per_entry\":%.2f", r->traft.server_ms,
                    r->traft.writes_per_entry);
        fputc(',', out);
        json_result(out, "reads", "read", &r->tr);
        fputs("}}", out);
    }
    fputs("]},\"tls_vs_plaintext\":{", out);
    bool first = true;
    for (unsigned i = 0; i < s->nruns; i++) {
        const struct dir_bench_run *r = &s->runs[i];
        if (!r->tls_ok || !r->strata_ok)
            continue;
        const struct {
            const char *key;
            double tls, plain;
        } f[] = {
            {"writes", r->tw.per_s, r->sw.per_s},      {"write_p50", r->tw.p50_ms, r->sw.p50_ms},
            {"write_p99", r->tw.p99_ms, r->sw.p99_ms}, {"reads", r->tr.per_s, r->sr.per_s},
            {"read_p50", r->tr.p50_ms, r->sr.p50_ms},  {"read_p99", r->tr.p99_ms, r->sr.p99_ms},
        };
        for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
            fprintf(out, "%s\"%s_%u\":", first ? "" : ",", f[k].key, r->clients);
            json_num(out, ratio(f[k].tls, f[k].plain), f[k].plain > 0);
            first = false;
        }
        if (r->clients == DIR_BENCH_TARGET_TLS_CLIENTS)
            *met = ratio(r->tw.per_s, r->sw.per_s) >= DIR_BENCH_TARGET_TLS_RATIO &&
                           ratio(r->tr.per_s, r->sr.per_s) >= DIR_BENCH_TARGET_TLS_RATIO
                       ? "true"
                       : "false";
    }
    fputc('}', out);
}

void dir_bench_report(FILE *out, const struct dir_bench_summary *s, double total_secs)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    fprintf(out, "{\"bench\":\"dir-bench\",\"nodes\":3,\"seconds\":%u,\"cpus\":%ld,", s->seconds,
            cpus);
    fprintf(out, "\"value_bytes\":%zu,\"load_threads\":%u,\"election_timeout_ms\":", s->value_bytes,
            s->load_threads);
    if (s->election_timeout_ms)
        fprintf(out, "%u,", s->election_timeout_ms);
    else
        fputs("null,", out);
    if (s->busy_poll_us >= 0)
        fprintf(out, "\"busy_poll_us\":%d,", s->busy_poll_us);
    else
        fputs("\"busy_poll_us\":null,", out);
    fputs("\"etcd_version\":", out);
    if (s->etcd_found)
        json_str(out, s->etcd_version);
    else
        fputs("null", out);

    /* Met: writes at 16 and 64 clients, reads at every concurrency, failover median. */
    bool w_known = false, w_met = true, r_known = false, r_met = true;
    fputs(",\"runs\":[", out);
    for (unsigned i = 0; i < s->nruns; i++) {
        const struct dir_bench_run *r = &s->runs[i];
        fprintf(out, "%s{\"clients\":%u,\"strata\":", i ? "," : "", r->clients);
        if (r->strata_ok) {
            fputc('{', out);
            json_result(out, "writes", "write", &r->sw);
            if (r->sraft.ok)
                fprintf(out,
                        ",\"write_raft_append_ms\":%.3f,\"write_commit_ms\":%.3f,"
                        "\"write_server_ms\":%.3f,\"writes_per_entry\":%.2f",
                        r->sraft.append_ms, r->sraft.commit_ms, r->sraft.server_ms,
                        r->sraft.writes_per_entry);
            fputc(',', out);
            json_result(out, "reads", "read", &r->sr);
            fputs(",\"linearizable\":", out);
            if (r->lin_ok) {
                fputc('{', out);
                json_result(out, "reads", "read", &r->slr);
                fputc('}', out);
            } else {
                fputs("null", out);
            }
            fputc('}', out);
        } else {
            fputs("null", out);
        }
        fputs(",\"etcd\":", out);
        if (r->etcd_ok) {
            fputc('{', out);
            json_result(out, "puts", "put", &r->ep);
            fputc(',', out);
            json_result(out, "gets", "get", &r->eg);
            fputc('}', out);
        } else {
            fputs("null", out);
        }
        bool both = r->strata_ok && r->etcd_ok;
        double wr = both ? ratio(r->sw.per_s, r->ep.per_s) : 0;
        double rr = both ? ratio(r->sr.per_s, r->eg.per_s) : 0;
        fputs(",\"ratio\":{\"writes\":", out);
        json_num(out, wr, both);
        fputs(",\"reads\":", out);
        json_num(out, rr, both);
        fputs("}}", out);
        if (both && (r->clients == 16 || r->clients == 64)) {
            w_known = true;
            w_met = w_met && wr >= DIR_BENCH_TARGET_WRITES_RATIO;
        }
        if (both) {
            r_known = true;
            r_met = r_met && rr >= DIR_BENCH_TARGET_READS_RATIO;
        }
    }
    fputc(']', out);
    const char *tls_met;
    json_tls(out, s, &tls_met);
    fputs(",\"disk\":{\"strata\":", out);
    json_disk(out, &s->disk_strata);
    fputs(",\"etcd\":", out);
    json_disk(out, &s->disk_etcd);
    fputs("},\"failover_ms\":", out);
    json_failover(out, s->failover_ran, &s->fo);
    fputs(",\"etcd_failover_ms\":", out);
    json_failover(out, s->etcd_failover_ran, &s->etcd_fo);
    fprintf(out,
            ",\"targets\":{\"writes_16_64_ratio_min\":%g,\"reads_ratio_min\":%g,"
            "\"failover_median_ms_max\":%g,\"tls_vs_plaintext_%u_min\":%g}",
            DIR_BENCH_TARGET_WRITES_RATIO, DIR_BENCH_TARGET_READS_RATIO,
            DIR_BENCH_TARGET_FAILOVER_MS, DIR_BENCH_TARGET_TLS_CLIENTS, DIR_BENCH_TARGET_TLS_RATIO);
    /* A failover that could not complete (no write, node not back) misses the target. */
    bool f_known = s->failover_ran && (!s->failover_ok || s->fo.n > 0);
    fprintf(out, ",\"met\":{\"writes\":%s,\"reads\":%s,\"failover\":%s,\"tls\":%s}",
            w_known ? (w_met ? "true" : "false") : "null",
            r_known ? (r_met ? "true" : "false") : "null",
            f_known ? (s->failover_ok && s->fo.median_ms <= DIR_BENCH_TARGET_FAILOVER_MS ? "true"
                                                                                         : "false")
                    : "null",
            tls_met);
    fputs(",\"errors\":[", out);
    for (unsigned i = 0; i < s->nerrors; i++) {
        if (i)
            fputc(',', out);
        json_str(out, s->errors[i]);
    }
    fprintf(out, "],\"total_s\":%.1f}\n", total_secs);
    fflush(out);
}
