/* trace_out.c - `strata trace`'s four outputs (detailed table, summary, one line, JSON) from one
 * report, so that they cannot say different things. */
#include "trace.h"

#include <stdio.h>

#include "cmd_common.h"

static void trace_json(FILE *f, const struct trace_report *r)
{
    struct cli_json j;
    cli_json_init(&j, f);
    cli_json_obj_begin(&j, NULL);
    cli_json_str(&j, "verdict", trace_verdict_name(r->outcome.verdict));
    cli_json_str(&j, "conclusion", r->outcome.conclusion);
    cli_json_str(&j, "gateway", r->gateway);
    cli_json_str(&j, "policy", r->outcome.policy[0] ? r->outcome.policy : NULL);
    cli_json_u64(&j, "vni", r->vni);
    cli_json_u64(&j, "dst_vni", r->dst_vni);
    cli_json_str(&j, "src_ip", r->src_ip);
    cli_json_str(&j, "dst_ip", r->dst_ip);
    cli_json_arr_begin(&j, "hops");
    for (size_t i = 0; i < r->n_hops; i++) {
        const struct trace_hop *h = &r->hops[i];
        cli_json_obj_begin(&j, NULL);
        cli_json_str(&j, "tier", h->tier);
        cli_json_str(&j, "node", h->node);
        cli_json_str(&j, "action", h->action);
        cli_json_str(&j, "result", h->result);
        cli_json_u64(&j, "version", h->version);
        cli_json_u64(&j, "age_ms", h->age_ms);
        cli_json_u64(&j, "elapsed_us", h->elapsed_us);
        cli_json_obj_end(&j);
    }
    cli_json_arr_end(&j);
    cmd_json_end(&j);
}

void trace_print(FILE *f, const struct trace_report *r, enum trace_mode mode, bool json)
{
    if (json) {
        trace_json(f, r);
        return;
    }
    const char *verdict = trace_verdict_name(r->outcome.verdict);
    if (mode == TRACE_MODE_MINIMAL) {
        fprintf(f, "%s: %s\n", verdict, r->outcome.conclusion);
        return;
    }
    fprintf(f, "trace vni %u %s -> %s", r->vni, r->src_ip, r->dst_ip);
    if (r->dst_vni != r->vni)
        fprintf(f, " (vni %u, routed)", r->dst_vni);
    fprintf(f, "\n");
    if (mode == TRACE_MODE_SUMMARY) {
        fprintf(f, "verdict: %s\nconclusion: %s\n", verdict, r->outcome.conclusion);
        for (size_t i = 0; i < r->n_hops; i++)
            fprintf(f, "  %-10s %s: %s\n", r->hops[i].tier, r->hops[i].node, r->hops[i].result);
        return;
    }
    static const char *const hdr[] = {"#",      "TIER",    "NODE",   "ACTION",
                                      "RESULT", "VERSION", "AGE_MS", "ELAPSED_US"};
    struct cli_table *t = cli_table_new(8, hdr);
    for (size_t i = 0; i < r->n_hops; i++) {
        const struct trace_hop *h = &r->hops[i];
        char n[24], ver[24], age[24], el[24];
        const char *row[] = {cmd_u64(i + 1, n),
                             h->tier,
                             h->node,
                             h->action,
                             h->result,
                             h->version ? cmd_u64(h->version, ver) : "-",
                             cmd_u64(h->age_ms, age),
                             h->elapsed_us ? cmd_u64(h->elapsed_us, el) : "-"};
        cli_table_row(t, row);
    }
    cli_table_print(t, f);
    cli_table_free(t);
    fprintf(f, "verdict: %s\n", verdict);
    if (r->gateway != NULL)
        fprintf(f, "gateway: %s\n", r->gateway);
    if (r->outcome.policy[0])
        fprintf(f, "policy: %s\n", r->outcome.policy);
    fprintf(f, "conclusion: %s\n", r->outcome.conclusion);
}
