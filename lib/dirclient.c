/* dirclient.c - a blocking directory client: rotates over the configured nodes until one
 * answers, retries writes with the same (client_id, req_id) so that the directory applies each at
 * most once, and gives up at a deadline with the last error seen. */
#include "dirclient.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "loop.h"

/* First per-attempt timeout: a dead node that does not refuse (a host down, a stopped process)
 * costs this much per visit, where a refused connection costs nothing; it doubles every full
 * rotation so that a slow but live node eventually gets the whole remaining time. A node that
 * answered last time gets DC_ALIVE_FACTOR times more (a commit under load can be slow), but not
 * unbounded: a leader that died with our request in flight never answers, and the next leader must
 * get its turn. */
#define DC_ATTEMPT_MS 500u
#define DC_ALIVE_FACTOR 4u
#define DC_BACKOFF_MIN_MS 10u
#define DC_BACKOFF_MAX_MS 50u

struct strata_dirclient {
    int n;
    char **urls;
    struct strata_sclient **cl; /* opened on first use */
    bool *alive;                /* answered the last time it was asked */
    int cur;                    /* last node that answered: start there */
    uint64_t client_id;
    uint64_t next_req_id;
};

static void dc_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int dc_add_url(struct strata_dirclient *c, const char *s, size_t len)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0)
        return 0;
    char **u = realloc(c->urls, (size_t)(c->n + 1) * sizeof(*u));
    if (u == NULL)
        return STRATA_ENOMEM;
    c->urls = u;
    if ((c->urls[c->n] = strndup(s, len)) == NULL)
        return STRATA_ENOMEM;
    c->n++;
    return 0;
}

int strata_dirclient_open(const char *urls, struct strata_dirclient **out, struct strata_err *e)
{
    if (urls == NULL)
        return strata_err_set(e, STRATA_EINVAL, "no directory URL given");
    struct strata_dirclient *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "dirclient: out of memory");
    const char *p = urls;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (dc_add_url(c, p, len) != 0) {
            strata_dirclient_close(c);
            return strata_err_set(e, STRATA_ENOMEM, "dirclient: out of memory");
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (c->n == 0) {
        strata_dirclient_close(c);
        return strata_err_set(e, STRATA_EINVAL, "no directory URL in \"%s\"", urls);
    }
    if ((c->cl = calloc((size_t)c->n, sizeof(*c->cl))) == NULL ||
        (c->alive = calloc((size_t)c->n, sizeof(*c->alive))) == NULL) {
        strata_dirclient_close(c);
        return strata_err_set(e, STRATA_ENOMEM, "dirclient: out of memory");
    }
    while (c->client_id == 0) {
        if (getrandom(&c->client_id, sizeof(c->client_id), 0) != (ssize_t)sizeof(c->client_id)) {
            /* No entropy source: fall back to time and pid, still unique enough per client. */
            c->client_id = strata_wall_us() ^ ((uint64_t)getpid() << 40);
        }
    }
    *out = c;
    return 0;
}

void strata_dirclient_close(struct strata_dirclient *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->n; i++) {
        if (c->cl != NULL && c->cl[i] != NULL)
            strata_sclient_close(c->cl[i]);
        free(c->urls[i]);
    }
    free(c->cl);
    free(c->alive);
    free(c->urls);
    free(c);
}

int strata_dirclient_nodes(const struct strata_dirclient *c)
{
    return c->n;
}

const char *strata_dirclient_node_url(const struct strata_dirclient *c, int i)
{
    return i >= 0 && i < c->n ? c->urls[i] : NULL;
}

/* One request to node i. Returns 0 with *reply (any status) or a transport error in e;
 * *refused tells that nothing listens there (it failed at once: try the next node now). */
static int dc_send(struct strata_dirclient *c, int i, strata_env *req, unsigned timeout_ms,
                   strata_env **reply, bool *refused, struct strata_err *e)
{
    *refused = false;
    if (c->cl[i] == NULL) {
        int rc = strata_sclient_open(c->urls[i], &c->cl[i], e);
        if (rc != 0)
            return rc;
    }
    int rc = strata_sclient_call(c->cl[i], req, timeout_ms, reply, e);
    c->alive[i] = rc == 0;
    *refused = rc != 0 && strata_sclient_refused(c->cl[i]);
    return rc;
}

/* Is a node's answer worth trying on another node? "Not me / not now". Writes also retry on
 * busy and timed out: their (client_id, req_id) makes a repeat harmless. */
static bool dc_status_retryable(int status, bool is_write)
{
    return status == STRATA_EUNAVAIL || status == STRATA_ENOTLEADER ||
           (is_write && (status == STRATA_EBUSY || status == STRATA_ETIMEDOUT));
}

/* Transport failures: no answer, or an answer we could not read. */
static bool dc_transport_retryable(int rc)
{
    return rc == STRATA_ETIMEDOUT || rc == STRATA_EUNAVAIL || rc == STRATA_EPROTO;
}

/* A not-leader answer may name the leader's API URL: go there next if it is one of ours. */
static int dc_leader_hint(const struct strata_dirclient *c, const char *msg)
{
    if (msg == NULL)
        return -1;
    for (int i = 0; i < c->n; i++)
        if (strstr(msg, c->urls[i]) != NULL)
            return i;
    return -1;
}

/* A node's answer that the directory has no leader for longer than an election takes (no
 * quorum): the words of directory/dird_forward.c. */
static bool dc_no_leader(int status, const char *msg)
{
    return status == STRATA_EUNAVAIL && msg != NULL && strncmp(msg, "no leader", 9) == 0;
}

/* Rotate over the nodes until one gives a final answer or the deadline passes. */
static int dc_rotate(struct strata_dirclient *c, strata_env *req, unsigned timeout_ms,
                     bool is_write, const char *what, strata_env **reply, struct strata_err *e)
{
    uint64_t deadline = strata_now_ms() + timeout_ms;
    uint64_t cap = DC_ATTEMPT_MS;
    unsigned backoff = DC_BACKOFF_MIN_MS;
    int node = c->cur, tried = 0;
    int refused_run = 0;  /* nodes in a row where nothing listens */
    int noleader_run = 0; /* nodes in a row that said "no leader" or where nothing listens */
    bool noleader = false;
    int last_code = STRATA_ETIMEDOUT;
    char last_msg[sizeof(e->msg)] = "no attempt made";
    *reply = NULL;
    for (;;) {
        uint64_t now = strata_now_ms();
        if (now >= deadline)
            break;
        unsigned left = (unsigned)(deadline - now);
        strata_env *rep = NULL;
        struct strata_err err = {0};
        uint64_t attempt = c->alive[node] ? cap * DC_ALIVE_FACTOR : cap;
        bool refused = false;
        int rc =
            dc_send(c, node, req, left < attempt ? left : (unsigned)attempt, &rep, &refused, &err);
        int next = (node + 1) % c->n;
        refused_run = refused ? refused_run + 1 : 0;
        bool said_noleader = rc == 0 && dc_no_leader(rep->status, rep->message);
        noleader_run = refused || said_noleader ? noleader_run + 1 : 0;
        noleader = noleader || said_noleader;
        if (rc == 0) {
            c->cur = node;
            if (rep->status == 0) {
                *reply = rep;
                return 0;
            }
            if (!dc_status_retryable(rep->status, is_write)) {
                rc = strata_err_set(e, rep->status, "%s",
                                    rep->message && *rep->message ? rep->message
                                                                  : strata_strerror(rep->status));
                strata_msg_free(rep);
                return rc;
            }
            last_code = rep->status;
            snprintf(last_msg, sizeof(last_msg), "%s: %s", c->urls[node],
                     rep->message && *rep->message ? rep->message : strata_strerror(rep->status));
            int hint = rep->status == STRATA_ENOTLEADER ? dc_leader_hint(c, rep->message) : -1;
            if (hint >= 0 && hint != node)
                next = hint;
            strata_msg_free(rep);
            if (noleader && noleader_run >= c->n)
                break; /* every node either is down or has known no leader for a while */
        } else if (refused_run == c->n) {
            /* No node listens: waiting would not change that, the operator should hear now. */
            if (c->n == 1)
                return strata_err_set(e, rc, "%s", err.msg);
            return strata_err_set(e, rc, "%s: no directory node is listening (last: %s)", what,
                                  err.msg);
        } else if (dc_transport_retryable(rc)) {
            last_code = rc;
            snprintf(last_msg, sizeof(last_msg), "%s", err.msg);
        } else {
            return strata_err_set(e, rc, "%s", err.msg);
        }
        node = next;
        if (++tried % c->n == 0 && cap < timeout_ms)
            cap *= 2;
        if (refused)
            continue; /* it failed at once: the next node now */
        now = strata_now_ms();
        if (now + backoff >= deadline)
            break;
        dc_sleep_ms(backoff);
        backoff = backoff * 2 > DC_BACKOFF_MAX_MS ? DC_BACKOFF_MAX_MS : backoff * 2;
    }
    if (noleader) {
        int up = 0; /* nodes that answered the last time they were asked */
        for (int i = 0; i < c->n; i++)
            up += c->alive[i];
        return strata_err_set(e, STRATA_EUNAVAIL,
                              "%s: no leader: the directory has no quorum (%d of %d nodes "
                              "answer; last: %s)",
                              what, up, c->n, last_msg);
    }
    /* "No leader" for the whole wait is unavailability to the caller; keep timeouts as such. */
    if (last_code == STRATA_ENOTLEADER || last_code == STRATA_EBUSY || last_code == STRATA_EPROTO)
        last_code = STRATA_EUNAVAIL;
    return strata_err_set(e, last_code, "%s: no directory node accepted it within %u ms (last: %s)",
                          what, timeout_ms, last_msg);
}

int strata_dirclient_write(struct strata_dirclient *c, Strata__V1__Command *cmd,
                           unsigned timeout_ms, strata_env **reply, struct strata_err *e)
{
    cmd->client_id = c->client_id;
    cmd->req_id = ++c->next_req_id;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    Strata__V1__WriteRequest wr = STRATA__V1__WRITE_REQUEST__INIT;
    wr.cmd = cmd;
    env.body_case = STRATA__V1__ENVELOPE__BODY_WRITE;
    env.write = &wr;
    return dc_rotate(c, &env, timeout_ms, true, "write", reply, e);
}

int strata_dirclient_call(struct strata_dirclient *c, strata_env *req, unsigned timeout_ms,
                          strata_env **reply, struct strata_err *e)
{
    return dc_rotate(c, req, timeout_ms, false, strata_msg_type_name((int)req->body_case), reply,
                     e);
}

int strata_dirclient_call_node(struct strata_dirclient *c, int i, strata_env *req,
                               unsigned timeout_ms, strata_env **reply, struct strata_err *e)
{
    *reply = NULL;
    if (i < 0 || i >= c->n)
        return strata_err_set(e, STRATA_EINVAL, "no directory node %d (have %d)", i, c->n);
    strata_env *rep = NULL;
    bool refused;
    int rc = dc_send(c, i, req, timeout_ms, &rep, &refused, e);
    if (rc != 0)
        return rc;
    if (rep->status != 0) {
        rc = strata_err_set(e, rep->status, "%s: %s", c->urls[i],
                            rep->message && *rep->message ? rep->message
                                                          : strata_strerror(rep->status));
        strata_msg_free(rep);
        return rc;
    }
    *reply = rep;
    return 0;
}
