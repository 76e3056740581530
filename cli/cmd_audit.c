/* cmd_audit.c - `strata audit --cs URL[,URL...] [--repair]`: ask each connectivity server to
 * audit the nodes it serves against the directory, print the divergences and what the audit
 * cost; with --repair, audit again until the repaired network agrees (or the timeout). Exit 0
 * only when every node answered and nothing diverges. docs/debugging.md, docs/protocol.md. */
#include <stdlib.h>
#include <string.h>

#include "cmd_common.h"
#include "view.h"

#define AUDIT_SERVERS_MAX 16
#define AUDIT_GRACE_MS 3000 /* transport time beyond the server's own timeout */

struct audit_run {
    strata_env *replies[AUDIT_SERVERS_MAX];
    size_t n;
    uint64_t checked, divergences, unanswered;
};

static void audit_run_free(struct audit_run *r)
{
    for (size_t i = 0; i < r->n; i++)
        strata_msg_free(r->replies[i]);
    memset(r, 0, sizeof(*r));
}

static bool audit_consistent(const struct audit_run *r)
{
    return r->divergences == 0 && r->unanswered == 0;
}

static int audit_once(struct cli_ctx *ctx, const char *const *urls, size_t n, bool repair,
                      bool details, struct audit_run *r, struct strata_err *e)
{
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < n; i++) {
        Strata__V1__AuditRequest q = STRATA__V1__AUDIT_REQUEST__INIT;
        q.repair = repair;
        q.details = details;
        q.timeout_ms = (uint32_t)ctx->timeout_ms;
        strata_env req = STRATA__V1__ENVELOPE__INIT;
        req.body_case = STRATA__V1__ENVELOPE__BODY_AUDIT;
        req.audit = &q;
        int rc = cli_peer_call(ctx, urls[i], &req, STRATA__V1__ENVELOPE__BODY_AUDIT_REPLY,
                               (unsigned)ctx->timeout_ms + AUDIT_GRACE_MS, &r->replies[i], e);
        if (rc != 0) {
            audit_run_free(r);
            return rc;
        }
        r->n = i + 1;
        const Strata__V1__AuditReply *a = r->replies[i]->audit_reply;
        r->checked += a->checked;
        r->divergences += a->n_divergences + a->divergences_omitted;
        for (size_t j = 0; j < a->n_nodes; j++)
            r->unanswered += !a->nodes[j]->answered || (a->nodes[j]->note && *a->nodes[j]->note);
    }
    return 0;
}

static const struct cli_col AUDIT_TOP[] = {
    {NULL, "consistent", CLI_COL_BOOL},
    {NULL, "checked", CLI_COL_U64},
    {NULL, "consistent_after_repair", CLI_COL_BOOL | CLI_COL_OPTIONAL},
};
static const struct cli_col DIV_COLS[] = {
    {"HOST", "host", CLI_COL_STR},
    {"VNI", "vni", CLI_COL_U64},
    {"KEY", "key", CLI_COL_STR},
    {"KIND", "kind", CLI_COL_STR},
    {"TIER", "tier", CLI_COL_STR},
    {"HOLDS", "holds", CLI_COL_STR},
    {"DIRECTORY", "directory", CLI_COL_STR},
    {"REPAIRED", "repaired", CLI_COL_BOOL},
};
static const struct cli_col SERVER_COLS[] = {
    {"SERVER", "server", CLI_COL_STR},
    {"NODES", "nodes", CLI_COL_U64},
    {"KEYS", "checked", CLI_COL_U64},
    {"CACHED", "cache_checked", CLI_COL_U64},
    {"DIVERGENT", "divergences", CLI_COL_U64},
    {"MS", "elapsed_ms", CLI_COL_U64},
    {"REPORT-BYTES", "report_bytes", CLI_COL_U64},
    {"DIR-READS", "directory_keys", CLI_COL_U64},
    {"IN-FLIGHT", "in_flight", CLI_COL_U64},
    {"NOT-ANSWERED", "not_answered", CLI_COL_STRS},
    {"IDLE", "idle", CLI_COL_STRS},
};

static void audit_divs(struct cli_view *v, const struct audit_run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const Strata__V1__AuditReply *a = r->replies[i]->audit_reply;
        for (size_t j = 0; j < a->n_divergences; j++) {
            const Strata__V1__AuditDivergence *d = a->divergences[j];
            char holds[300], dir[300];
            snprintf(holds, sizeof(holds), "%s%s%.0llu", d->holds, d->holds_version ? " v" : "",
                     (unsigned long long)d->holds_version);
            snprintf(dir, sizeof(dir), "%s%s%.0llu", d->directory, d->directory_version ? " v" : "",
                     (unsigned long long)d->directory_version);
            struct cli_cell c[CLI_NCOLS(DIV_COLS)] = {
                {.s = d->host}, {.u = d->vni}, {.s = d->key}, {.s = d->kind},
                {.s = d->tier}, {.s = holds},  {.s = dir},    {.b = d->repaired}};
            cli_view_row(v, c);
        }
    }
}

static void audit_servers(struct cli_view *v, const struct audit_run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const Strata__V1__AuditReply *a = r->replies[i]->audit_reply;
        const char *silent[64];
        size_t ns = 0;
        for (size_t j = 0; j < a->n_nodes && ns < 64; j++)
            if (!a->nodes[j]->answered || (a->nodes[j]->note && *a->nodes[j]->note))
                silent[ns++] = a->nodes[j]->host;
        struct cli_cell c[CLI_NCOLS(SERVER_COLS)] = {
            {.s = a->server},
            {.u = a->n_nodes},
            {.u = a->checked},
            {.u = a->cache_checked},
            {.u = a->n_divergences + a->divergences_omitted},
            {.u = a->elapsed_us / 1000},
            {.u = a->report_bytes},
            {.u = a->directory_keys},
            {.u = a->in_flight},
            {.strs = silent, .n = ns},
            {.strs = (const char *const *)a->idle, .n = a->n_idle}};
        cli_view_row(v, c);
    }
}

/* Why nodes did not answer, for people (the JSON lists who). */
static void audit_notes(struct cli_ctx *ctx, const struct audit_run *r)
{
    for (size_t i = 0; i < r->n && !ctx->json; i++) {
        const Strata__V1__AuditReply *a = r->replies[i]->audit_reply;
        for (size_t j = 0; j < a->n_nodes; j++)
            if (a->nodes[j]->note && *a->nodes[j]->note)
                fprintf(ctx->out, "%s: %s: %s\n", a->server, a->nodes[j]->host, a->nodes[j]->note);
    }
}

static void audit_print(struct cli_ctx *ctx, const struct audit_run *r, bool repaired,
                        const struct audit_run *after)
{
    char title[160];
    snprintf(title, sizeof(title), "%s: %llu keys checked, %llu divergences%s",
             audit_consistent(r) ? "consistent" : "NOT consistent", (unsigned long long)r->checked,
             (unsigned long long)r->divergences,
             r->unanswered ? ", some nodes did not answer" : "");
    struct cli_cell top[] = {{.b = audit_consistent(r)},
                             {.u = r->checked},
                             {.b = repaired && audit_consistent(after), .null = !repaired}};
    struct cli_view_top t = {title, AUDIT_TOP, CLI_NCOLS(AUDIT_TOP), top};
    struct cli_view v;
    cli_view_begin_top(&v, ctx, &t, DIV_COLS, CLI_NCOLS(DIV_COLS), "divergences");
    audit_divs(&v, r);
    cli_view_next(&v, SERVER_COLS, CLI_NCOLS(SERVER_COLS), "servers");
    audit_servers(&v, r);
    cli_view_end(&v);
    audit_notes(ctx, r);
    if (repaired && !ctx->json)
        fprintf(ctx->out, "after repair: %s (%llu keys checked, %llu divergences)\n",
                audit_consistent(after) ? "consistent" : "NOT consistent",
                (unsigned long long)after->checked, (unsigned long long)after->divergences);
}

int cli_audit(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    const char *list = cmd_cs_list(a);
    if (list == NULL)
        return strata_err_set(e, STRATA_EINVAL, "audit needs --cs URL[,URL...] or STRATA_CS");
    char *copy = NULL;
    const char *urls[AUDIT_SERVERS_MAX];
    size_t n = 0;
    int rc = cmd_cs_split(list, AUDIT_SERVERS_MAX, &copy, urls, &n, e);
    struct audit_run r = {0}, after = {0};
    bool repaired = false;
    if (rc == 0)
        rc = audit_once(ctx, urls, n, a->repair, a->audit_details, &r, e);
    if (rc == 0 && a->repair && !audit_consistent(&r)) {
        /* The repairs were asked: audit again until the network agrees or the time is up. */
        repaired = true;
        uint64_t deadline = cli_now_us() + ctx->timeout_ms * 1000;
        do {
            audit_run_free(&after);
            rc = audit_once(ctx, urls, n, false, false, &after, e);
        } while (rc == 0 && !audit_consistent(&after) && cli_now_us() < deadline);
    }
    if (rc == 0) {
        audit_print(ctx, &r, repaired, &after);
        bool ok = repaired ? audit_consistent(&after) : audit_consistent(&r);
        ctx->printed = true;
        if (!ok)
            rc = strata_err_set(e, STRATA_ECONFLICT, "%s",
                                repaired             ? "divergences remain after the repair"
                                : r.divergences == 0 ? "some nodes did not answer the audit"
                                                     : "the network diverges from the directory");
    }
    audit_run_free(&r);
    audit_run_free(&after);
    free(copy);
    return rc;
}
