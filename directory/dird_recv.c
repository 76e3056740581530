/* dird_recv.c - AppendEntries that reach back past this node's snapshot are cut at the snapshot
 * before libraft 0.15 sees them.
 *
 * libraft 0.15 corrupts a follower's in-memory log when a leader sends it entries from below the
 * first entry that log holds. A node that took a snapshot at S keeps its log from S - trailing
 * on, and after a restart its log starts there (or at 2: the bootstrap entry sits in a segment
 * of its own, which the first snapshot removes). A leader whose progress for that node says
 * "match 0" (it has not heard from it since it was elected, and a rejection in pipeline mode sets
 * next = match + 1) sends it everything from index 1. The follower finds no term for index 1
 * (logTermOf answers 0 below the log's start), takes the whole run for new entries and appends
 * it at the end of its log, under the wrong indexes (replicationAppend). Release builds then
 * either die of SIGSEGV in refsDecr (a later truncation frees what the misplaced entries never
 * owned) or give up with "No log entries found", which turns the node RAFT_UNAVAILABLE for good
 * while it goes on answering reads; an assertion build stops at replication.c:1141 (reproduced
 * by tests/integration/test_dir_restart_snapshot.c, and reported in issue 22). A probe that starts
 * below the log and is rejected walks next_index down one entry per round trip, which is the
 * "wedge" that lasted 20 s and more.
 *
 * Everything up to S is committed and in the snapshot, so those entries can be dropped: when an
 * AppendEntries starts below S and carries the entry at S with the snapshot's term, it is cut to
 * start after S, with S as its previous entry (libraft checks that against the snapshot's term).
 * Nothing else is changed, and libraft gets every other message as it came. */
#include <stdlib.h>
#include <string.h>

#include "dird.h"
#include "log.h"

/* Frees a dropped entry's batch unless a kept entry (or an earlier dropped one) shares it. */
static void recv_free_batch(struct raft_entry *entries, unsigned drop, unsigned n, unsigned k)
{
    void *batch = entries[k].batch;
    if (batch == NULL)
        return;
    for (unsigned j = 0; j < k; j++)
        if (entries[j].batch == batch)
            return;
    for (unsigned j = drop; j < n; j++)
        if (entries[j].batch == batch)
            return;
    raft_free(batch);
}

unsigned dird_recv_trim(const struct raft_log *log, struct raft_append_entries *args)
{
    raft_index s = log->snapshot.last_index;
    raft_index prev = args->prev_log_index;
    if (s == 0 || args->n_entries == 0 || prev >= s || prev + args->n_entries < s)
        return 0;
    unsigned drop = (unsigned)(s - prev); /* entries prev+1 .. s */
    if (args->entries[drop - 1].term != log->snapshot.last_term)
        return 0; /* not the history this node committed: leave it to libraft */
    for (unsigned k = 0; k < drop; k++)
        recv_free_batch(args->entries, drop, args->n_entries, k);
    unsigned keep = args->n_entries - drop;
    if (keep > 0) {
        memmove(args->entries, args->entries + drop, keep * sizeof(args->entries[0]));
    } else {
        raft_free(args->entries);
        args->entries = NULL;
    }
    args->n_entries = keep;
    args->prev_log_index = s;
    args->prev_log_term = log->snapshot.last_term;
    return drop;
}

static struct dird *recv_dird(struct raft_io *io)
{
    return (struct dird *)((char *)io - offsetof(struct dird, io));
}

static void recv_guard(struct raft_io *io, struct raft_message *m)
{
    struct dird *d = recv_dird(io);
    if (m->type == RAFT_IO_APPEND_ENTRIES) {
        raft_index prev = m->append_entries.prev_log_index;
        unsigned dropped = dird_recv_trim(&d->raft.log, &m->append_entries);
        if (dropped > 0) {
            d->m_recv_trimmed++;
            LOG_INFO("append from leader %llu started at %llu, below this node's snapshot at "
                     "%llu: %u entries already in the snapshot skipped",
                     (unsigned long long)m->server_id, (unsigned long long)prev + 1,
                     (unsigned long long)d->raft.log.snapshot.last_index, dropped);
        }
    }
    d->raft_recv(io, m);
}

static int recv_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                      raft_io_recv_cb recv)
{
    struct dird *d = recv_dird(io);
    d->raft_recv = recv;
    return d->io_start(io, msecs, tick, recv_guard);
}

void dird_recv_wrap(struct dird *d)
{
    d->io_start = d->io.start;
    d->io.start = recv_start;
}
