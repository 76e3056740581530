/* cmd_wait.c - `--wait TIMEOUT` on writes: after the write, ask every connectivity server of
 * --cs (or $STRATA_CS) to wait until every holder of the change it pushed it to applied it, and
 * merge their answers into one verdict naming the stragglers. */
#include "cmd_wait.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_SERVERS_MAX 16
#define WAIT_GRACE_MS 2000 /* transport time beyond the wait itself */
/* The longest one server is waited on before the others are asked again: a server may list a
 * stale session of an agent that failed over to another server (it idles out there only after
 * minutes), which only the other server's answer clears. */
#define WAIT_SLICE_MS 500

int cmd_wait_parse(const char *s, uint64_t *ms, struct strata_err *e)
{
    char *end = NULL;
    double v = strtod(s, &end);
    double scale = 1000.0; /* a bare number is seconds */
    if (end == s || !isfinite(v) || v < 0)
        return strata_err_set(e, STRATA_EINVAL, "--wait %.32s: expected a duration (5s, 500ms)", s);
    if (strcmp(end, "ms") == 0)
        scale = 1.0;
    else if (strcmp(end, "m") == 0)
        scale = 60000.0;
    else if (*end != '\0' && strcmp(end, "s") != 0)
        return strata_err_set(e, STRATA_EINVAL, "--wait %.32s: unit must be ms, s or m", s);
    double r = v * scale;
    if (r < 1 || r > 60000)
        return strata_err_set(e, STRATA_EINVAL, "--wait %.32s: between 1 ms and 60 s", s);
    *ms = (uint64_t)r;
    return 0;
}

int cmd_wait_check(const struct cli_args *a, struct strata_err *e)
{
    if (a->wait == NULL)
        return 0;
    uint64_t ms;
    int rc = cmd_wait_parse(a->wait, &ms, e);
    if (rc != 0)
        return rc;
    if (cmd_cs_list(a) == NULL)
        return strata_err_set(e, STRATA_EINVAL,
                              "--wait needs the connectivity servers to ask: --cs URL[,URL...] "
                              "or STRATA_CS");
    return 0;
}

void cmd_wait_free(struct cmd_wait *w)
{
    for (size_t i = 0; i < w->n; i++)
        strata_msg_free(w->replies[i]);
    free(w->replies);
    free(w->urls);
    memset(w, 0, sizeof(*w));
}

/* Whether some server says `host` applied the change. An agent that failed over to another
 * server leaves a stale session at the one it left (until that one idles out), still listed as
 * a holder there: the server the agent now uses is the one that knows. */
static bool wait_host_applied(const struct cmd_wait *w, const char *host)
{
    for (size_t i = 0; i < w->n; i++) {
        const Strata__V1__WaitAppliedReply *r = w->replies[i]->wait_applied_reply;
        for (size_t j = 0; j < r->n_holders; j++)
            if (r->holders[j]->applied && strcmp(r->holders[j]->host, host) == 0)
                return true;
    }
    return false;
}

/* Whether holder (i, j) is the first line naming its host, over every reply. */
static bool wait_host_first(const struct cmd_wait *w, size_t i, size_t j)
{
    const char *host = w->replies[i]->wait_applied_reply->holders[j]->host;
    for (size_t a = 0; a <= i; a++) {
        const Strata__V1__WaitAppliedReply *r = w->replies[a]->wait_applied_reply;
        for (size_t b = 0; b < (a == i ? j : r->n_holders); b++)
            if (strcmp(r->holders[b]->host, host) == 0)
                return false;
    }
    return true;
}

/* Append the stragglers' description to msg. */
static void wait_stragglers(const struct cmd_wait *w, char *msg, size_t cap)
{
    size_t len = strlen(msg);
    unsigned shown = 0, more = 0;
    for (size_t i = 0; i < w->n; i++) {
        const Strata__V1__WaitAppliedReply *r = w->replies[i]->wait_applied_reply;
        if (!r->seen) {
            len += (size_t)snprintf(msg + len, len < cap ? cap - len : 0,
                                    "%sconnectivity server %s had not seen index %llu (feed at "
                                    "%llu)",
                                    shown++ ? "; " : "", r->server, (unsigned long long)w->index,
                                    (unsigned long long)r->feed_index);
            continue;
        }
        if (!r->known) {
            len += (size_t)snprintf(msg + len, len < cap ? cap - len : 0,
                                    "%sconnectivity server %s no longer remembers index %llu",
                                    shown++ ? "; " : "", r->server, (unsigned long long)w->index);
            continue;
        }
        for (size_t j = 0; j < r->n_holders; j++) {
            const Strata__V1__WaitHolder *h = r->holders[j];
            if (!wait_host_first(w, i, j) || wait_host_applied(w, h->host))
                continue;
            if (shown >= 8) {
                more++;
                continue;
            }
            len += (size_t)snprintf(
                msg + len, len < cap ? cap - len : 0, "%snot applied on host %s (%s) after %.1f s",
                shown++ ? "; " : "", h->host, h->note[0] ? h->note : "agent paused?",
                (double)h->elapsed_us / 1e6);
        }
    }
    if (more)
        snprintf(msg + len, len < cap ? cap - len : 0, "; and %u more", more);
}

static void wait_merge(struct cmd_wait *w);

int cmd_wait_run(struct cli_ctx *ctx, const struct cli_args *a, uint64_t index, struct cmd_wait *w,
                 struct strata_err *e)
{
    memset(w, 0, sizeof(*w));
    w->index = index;
    if (a->wait == NULL)
        return 0;
    uint64_t ms;
    int rc = cmd_wait_parse(a->wait, &ms, e);
    if (rc != 0)
        return rc;
    const char *list = cmd_cs_list(a);
    if (list == NULL)
        return strata_err_set(e, STRATA_EINVAL, "--wait needs --cs URL[,URL...] or STRATA_CS");
    w->on = true;
    w->replies = calloc(WAIT_SERVERS_MAX, sizeof(*w->replies));
    if (w->replies == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    uint64_t start = cli_now_us(), deadline = start + ms * 1000;
    const char *urls[WAIT_SERVERS_MAX];
    size_t nurls = 0;
    if ((rc = cmd_cs_split(list, WAIT_SERVERS_MAX, &w->urls, urls, &nurls, e)) != 0)
        return rc;
    /* Rounds against one deadline: each server answers as soon as its holders applied, or
     * after a slice; the merged answers decide. A server asked with no time left still answers
     * at once with what its holders applied. */
    for (;;) {
        for (size_t i = 0; i < nurls; i++) {
            uint64_t now = cli_now_us(), left = now < deadline ? (deadline - now) / 1000 : 0;
            Strata__V1__WaitAppliedRequest wr = STRATA__V1__WAIT_APPLIED_REQUEST__INIT;
            wr.index = index;
            wr.timeout_ms = (uint32_t)(left < WAIT_SLICE_MS ? left : WAIT_SLICE_MS);
            strata_env req = STRATA__V1__ENVELOPE__INIT;
            req.body_case = STRATA__V1__ENVELOPE__BODY_WAIT_APPLIED;
            req.wait_applied = &wr;
            strata_env *r = NULL;
            rc = cli_peer_call(ctx, urls[i], &req, STRATA__V1__ENVELOPE__BODY_WAIT_APPLIED_REPLY,
                               wr.timeout_ms + WAIT_GRACE_MS, &r, e);
            if (rc != 0)
                return rc;
            strata_msg_free(w->replies[i]);
            w->replies[i] = r;
        }
        w->n = nurls;
        wait_merge(w);
        if (w->ok || cli_now_us() >= deadline)
            break;
    }
    w->elapsed_us = cli_now_us() - start;
    if (w->ok)
        return 0;
    char msg[1024];
    snprintf(msg, sizeof(msg), "index %llu: ", (unsigned long long)index);
    wait_stragglers(w, msg, sizeof(msg));
    return strata_err_set(e, STRATA_ETIMEDOUT, "%s", msg);
}

/* The verdict of the replies so far. */
static void wait_merge(struct cmd_wait *w)
{
    w->ok = true;
    w->holders = w->applied = 0;
    for (size_t i = 0; i < w->n; i++) {
        const Strata__V1__WaitAppliedReply *r = w->replies[i]->wait_applied_reply;
        w->ok = w->ok && r->seen && r->known;
        for (size_t j = 0; j < r->n_holders; j++) {
            if (!wait_host_first(w, i, j))
                continue; /* one host, one verdict */
            w->holders++;
            if (wait_host_applied(w, r->holders[j]->host))
                w->applied++;
            else
                w->ok = false;
        }
    }
}

void cmd_wait_json(const struct cmd_wait *w, struct cli_json *j)
{
    if (!w->on)
        return;
    cli_json_obj_begin(j, "wait");
    cli_json_bool(j, "applied", w->ok);
    cli_json_u64(j, "elapsed_us", w->elapsed_us);
    cli_json_arr_begin(j, "holders");
    for (size_t i = 0; i < w->n; i++) {
        const Strata__V1__WaitAppliedReply *r = w->replies[i]->wait_applied_reply;
        for (size_t k = 0; k < r->n_holders; k++) {
            /* One entry per host, with the merged verdict (see wait_host_applied). */
            const Strata__V1__WaitHolder *h = r->holders[k];
            if (!wait_host_first(w, i, k))
                continue;
            bool applied = wait_host_applied(w, h->host);
            const char *server = r->server;
            for (size_t a = 0; applied && a < w->n; a++) {
                const Strata__V1__WaitAppliedReply *o = w->replies[a]->wait_applied_reply;
                for (size_t b = 0; b < o->n_holders; b++)
                    if (o->holders[b]->applied && strcmp(o->holders[b]->host, h->host) == 0)
                        server = o->server;
            }
            cli_json_obj_begin(j, NULL);
            cli_json_str(j, "host", h->host);
            cli_json_str(j, "server", server);
            cli_json_bool(j, "applied", applied);
            cli_json_obj_end(j);
        }
    }
    cli_json_arr_end(j);
    cli_json_obj_end(j);
}

void cmd_wait_print(struct cli_ctx *ctx, const struct cmd_wait *w)
{
    if (!w->on || ctx->json || !w->ok)
        return;
    fprintf(ctx->out, "applied on %u holder%s (%zu connectivity server%s) in %.3f s\n", w->holders,
            w->holders == 1 ? "" : "s", w->n, w->n == 1 ? "" : "s", (double)w->elapsed_us / 1e6);
}
