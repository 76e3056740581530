/* dird_linread.c - linearizable reads: the leader answers after a read barrier (a Raft barrier
 * entry, proposed after the read arrived, committed in its term and applied); a follower forwards
 * the read to the leader and relays its answer.
 *
 * Why a barrier entry is enough (ReadIndex done with the log): its commit proves that a majority
 * still took this node as leader after the read arrived, so no other leader can have acknowledged
 * a write this node has not applied. libraft 0.15 calls the barrier back once the entry and every
 * entry before it are applied here, so the FSM then holds every write acknowledged before the
 * read was sent. A barrier proposed BEFORE a read arrived proves nothing for it: a new leader may
 * have been elected (and acknowledged writes) between the barrier's acknowledgements and the
 * read's arrival. So reads only ever ride a barrier proposed after them; those that arrive while
 * one is out wait for the next. Every read that arrived in one loop turn shares one barrier: a log
 * entry and an fsync amortised over them (docs/directory.md, Reads).
 *
 * Forwarding rather than "ask the leader for its index, then wait here": the forwarder exists and
 * follows leader changes already (dird_forward.c), and the answer needs no wait for this node to
 * catch up. It costs the leader the serving, which a linearizable read needs it for anyway. */
#include <stdlib.h>
#include <string.h>

#include "dird.h"
#include "log.h"

/* A linearizable read on the leader, waiting for barrier `seq` (0: none proposed since it came). */
struct dird_linread {
    struct dird_linread *next;
    struct strata_req *req;
    const strata_env *env;
    uint64_t seq;
    uint64_t deadline_ms;
};

struct lin_barrier {
    struct raft_barrier br;
    struct dird *d;
    uint64_t seq;
};

void dird_linread_init(struct dird *d)
{
    const char *s = getenv("STRATA_TEST_BREAK_READ_BARRIER");
    d->lin_broken = s != NULL && strcmp(s, "1") == 0;
    if (d->lin_broken)
        LOG_ERROR("STRATA_TEST_BREAK_READ_BARRIER=1: TEST-ONLY DEFECT: linearizable reads are "
                  "served from local state WITHOUT a read barrier and may be stale");
}

bool dird_read_is_linearizable(const strata_env *env)
{
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_LIST:
        return env->list->linearizable;
    case STRATA__V1__ENVELOPE__BODY_RESOLVE:
        return env->resolve->linearizable;
    default:
        return false;
    }
}

static bool forwarded_here(const strata_env *env)
{
    return strcmp(env->identity ? env->identity : "", DIRD_FWD_IDENTITY) == 0;
}

/* Not the leader (or no longer): a read a follower forwarded here goes back refused (it then
 * waits for the next leader); a client's read is forwarded to the leader. */
static void linread_route_away(struct dird *d, struct strata_req *req, const strata_env *env)
{
    if (forwarded_here(env)) {
        dird_reply_error(req, STRATA_ENOTLEADER,
                         "node %llu is not the leader: no linearizable read here",
                         (unsigned long long)d->cfg.id);
        return;
    }
    if (!dird_forward(d, req, env))
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
}

void dird_linread_handle(struct dird *d, struct strata_req *req, const strata_env *env)
{
    if (d->lin_broken) { /* the documented test-only defect: no barrier, local state */
        dird_reads_local(d, req, env);
        return;
    }
    d->m_lin_reads++;
    if (!dird_is_leader(d)) {
        linread_route_away(d, req, env);
        return;
    }
    struct dird_linread *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        dird_reply_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    r->req = req;
    r->env = env;
    r->deadline_ms = strata_now_ms() + DIRD_READ_WAIT_MS;
    r->next = d->lin_reads;
    d->lin_reads = r;
    d->lin_unassigned++;
}

/* Take out the reads of barriers 1..seq (upto) or of barrier seq alone (0: no barrier yet). */
static struct dird_linread *linread_take(struct dird *d, uint64_t seq, bool upto)
{
    struct dird_linread *out = NULL, **pp = &d->lin_reads;
    while (*pp != NULL) {
        struct dird_linread *r = *pp;
        bool match = upto ? (r->seq != 0 && r->seq <= seq) : r->seq == seq;
        if (!match) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        if (r->seq == 0)
            d->lin_unassigned--;
        r->next = out;
        out = r;
    }
    return out;
}

/* Reads whose barrier failed: if this node still leads they wait for the next barrier, else they
 * go where a fresh read would. */
static void linread_retry(struct dird *d, struct dird_linread *list)
{
    while (list != NULL) {
        struct dird_linread *r = list;
        list = r->next;
        if (dird_is_leader(d)) {
            r->seq = 0;
            r->next = d->lin_reads;
            d->lin_reads = r;
            d->lin_unassigned++;
            continue;
        }
        linread_route_away(d, r->req, r->env);
        free(r);
    }
}

static void linread_barrier_done(struct raft_barrier *br, int status)
{
    struct lin_barrier *b = br->data;
    struct dird *d = b->d;
    uint64_t seq = b->seq;
    free(b);
    d->lin_barriers_out--;
    if (d->stopping)
        return; /* dird_linread_fail_all answered every read */
    if (status != 0) {
        struct dird_linread *list = linread_take(d, seq, false);
        unsigned n = 0;
        for (struct dird_linread *r = list; r != NULL; r = r->next)
            n++;
        /* once per lost leadership at most: worth a line. libraft 0.15 fails a step-down's
         * requests before it leaves the leader state, so the reads usually go back in the queue
         * here and the next turn's dird_read_barrier routes them away from this node. */
        LOG_INFO("read barrier %llu failed (%s): %u linearizable reads retried",
                 (unsigned long long)seq, raft_strerror(status), n);
        linread_retry(d, list);
        return;
    }
    /* Barriers complete in log order; one that committed also covers reads of an earlier one
     * that failed, as it was proposed after them. */
    struct dird_linread *list = linread_take(d, seq, true);
    while (list != NULL) {
        struct dird_linread *r = list;
        list = r->next;
        dird_reads_local(d, r->req, r->env); /* min_index still honoured */
        free(r);
    }
}

/* THE read barrier: propose one barrier for every linearizable read that has none yet. Nothing
 * else may answer a linearizable read at the leader (the test switch bypasses the whole path in
 * dird_linread_handle instead, so that defeating it is one visible line). */
static void dird_read_barrier(struct dird *d)
{
    if (!dird_is_leader(d)) {
        linread_retry(d, linread_take(d, 0, false));
        return;
    }
    struct lin_barrier *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return; /* tried again next turn; the deadline bounds it */
    b->d = d;
    b->seq = d->lin_seq + 1;
    b->br.data = b;
    int rv = raft_barrier(&d->raft, &b->br, linread_barrier_done);
    if (rv != 0) {
        free(b);
        LOG_DEBUG("read barrier refused: %s", raft_strerror(rv));
        /* RAFT_NOTLEADER also while a leadership transfer is under way: wait and see */
        if (!dird_is_leader(d))
            linread_retry(d, linread_take(d, 0, false));
        return;
    }
    d->lin_seq++;
    d->lin_barriers_out++;
    d->m_lin_barriers++;
    for (struct dird_linread *r = d->lin_reads; r != NULL; r = r->next)
        if (r->seq == 0)
            r->seq = d->lin_seq;
    d->lin_unassigned = 0;
}

void dird_linread_flush(struct dird *d)
{
    if (d->lin_unassigned > 0)
        dird_read_barrier(d);
}

void dird_linread_poll(struct dird *d, uint64_t now_ms)
{
    struct dird_linread **pp = &d->lin_reads;
    while (*pp != NULL) {
        struct dird_linread *r = *pp;
        if (now_ms < r->deadline_ms) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        if (r->seq == 0)
            d->lin_unassigned--;
        dird_reply_error(r->req, STRATA_ETIMEDOUT,
                         "node %llu could not confirm its leadership within %d ms: no "
                         "linearizable read",
                         (unsigned long long)d->cfg.id, DIRD_READ_WAIT_MS);
        free(r);
    }
}

void dird_linread_fail_all(struct dird *d)
{
    while (d->lin_reads != NULL) {
        struct dird_linread *r = d->lin_reads;
        d->lin_reads = r->next;
        dird_reply_error(r->req, STRATA_EUNAVAIL, "directory node shutting down");
        free(r);
    }
    d->lin_unassigned = 0;
}
