/* dird.h - strata-dird internals: one libuv loop owning the Raft instance, the directory FSM,
 * the API server, the write batcher, follower forwarding, parked reads and the change feed. */
#ifndef DIRD_H
#define DIRD_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "arena.h"
#include "client.h"
#include "dir_fsm.h"
#include "dird_tls_transport.h"
#include "loop.h"
#include "metrics.h"
#include "msg.h"
#include "server.h"
#include "tls.h"

/* Identity set on requests a follower forwards to the leader: a node receiving one while not
 * leader answers ENOTLEADER instead of forwarding again (no forwarding loops). */
#define DIRD_FWD_IDENTITY "dird-forward"
#define DIRD_FEED_RING 65536         /* changes held in memory for the feed */
#define DIRD_FEED_WAIT_MAX_MS 30000  /* longest long-poll */
#define DIRD_READ_WAIT_MS 2000       /* longest wait for min_index */
#define DIRD_FWD_TIMEOUT_MS 3000     /* a proxied request, including waiting for a leader */
#define DIRD_MAX_PEERS 16            /* peers whose last contact a leader tracks */
#define DIRD_EXIT_DISK 3             /* exit status after a failed log append (dird_disk.c) */
#define DIRD_TICK_MS 20              /* housekeeping period (deadlines, member table) */
#define DIRD_BACKUP_CHUNK (1u << 20) /* most state bytes one BackupReply carries */
#define DIRD_BACKUP_HOLD_MS 60000    /* a taken backup is held this long after its last read */

struct dird;
struct fwd_req;
struct dird_backup;
struct dird_linread;

struct dird_cfg {
    uint64_t id;
    const char *data_dir;
    const char *raft_addr;
    const char *api_url;
    const char *cluster;
    const char *metrics;
    bool join;
    bool pre_vote;
    const char *restore; /* --restore FILE: found a new cluster on a backup (dird_restore.c) */
    uint64_t election_ms, heartbeat_ms, snap_threshold, snap_trailing, snap_bytes, install_snap_ms;
    uint64_t busy_poll_us; /* strata_loop_set_busy_poll */
    /* --tls-*: with them, the API is tls+tcp:// and Raft runs over TLS between directory
     * certificates (dird_tls_transport.c); tls is NULL in plaintext */
    struct strata_tls_files tls_files;
    struct strata_tls *tls;
};

/* dird_auth.c: whether the TLS peer `p` (NULL in plaintext: anyone) may make this request, or
 * this write; STRATA_EDENIED naming the rule otherwise. */
struct strata_peer;
int dird_auth_request(const struct strata_peer *p, const strata_env *env, struct strata_err *e);
int dird_auth_command(const struct strata_peer *p, const Strata__V1__Command *cmd,
                      struct strata_err *e);

/* A client write waiting for its batch to be submitted and applied. req is NULL for writes the
 * daemon makes itself (member_set, member_del). */
struct dird_write {
    struct dird_write *next;
    struct strata_req *req;
    const Strata__V1__Command *cmd;
    /* storage for internal commands */
    Strata__V1__Command own_cmd;
    Strata__V1__MemberSet own_ms;
    Strata__V1__MemberDel own_md;
    char own_raft[64], own_api[256];
    void (*done)(struct dird *d, int status, void *arg); /* internal writes: completion */
    void *done_arg;
    struct dird_wgroup *group; /* one command of a write_batch request (dird_wbatch.c) */
    unsigned slot;             /* its place in the request */
};

/* A write_batch request on the leader: its commands are queued as consecutive writes, and the
 * reply goes out when the last one completes. */
struct dird_wgroup {
    struct strata_req *req;
    unsigned n, left;
    const Strata__V1__Command **cmds;
    struct dird_wresult {
        int status;
        char *msg; /* malloc'd, errors only */
        uint64_t index;
    } res[];
};

/* A read or feed request waiting for the applied index to move. */
struct dird_parked {
    struct dird_parked *next;
    struct strata_req *req;
    const strata_env *env;
    uint64_t want_index; /* reads: min_index; feed: after_index (wants index > it) */
    bool floor;          /* reads: waiting for the restart floor (dird_read_floor), not min_index */
    uint64_t deadline_ms;
    uint64_t arrival_us;
};

/* A change as the FSM emitted it, packed; unpacked (and the packed bytes dropped) the first
 * time a consumer reads it. Either pointer is owned. */
struct dird_feed_entry {
    uint64_t index;
    uint8_t *packed;
    size_t len;
    Strata__V1__Change *chg;
};

struct dird_fwd_peer {
    struct dird_fwd_peer *next;
    struct strata_aclient *c;
    char url[256];
    bool no_batch; /* refused write_batch (an older version): forward writes singly */
};

/* libraft's TCP transport, wrapped to set TCP_NODELAY and to read each message at once
 * (dird_transport.c). */
struct dird_transport {
    struct raft_uv_transport outer; /* what raft_uv_init is given */
    struct raft_uv_transport inner; /* raft_uv_tcp_init's */
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
};
int dird_transport_init(struct dird_transport *tp, uv_loop_t *uv);
void dird_transport_release(struct dird_transport *tp);
/* Hands len bytes to a reader that asks for them in pieces (alloc, then read, until done or
 * the stream closes); the wrapper's core, exposed for its unit test. */
void dird_transport_feed(uv_stream_t *stream, uv_alloc_cb alloc, uv_read_cb read, const char *data,
                         size_t len);

/* Snapshots in turn. Every node reaches --snapshot-threshold at the same index, and a snapshot
 * costs a full encoding of the state in CPU (on a pool thread; it stopped the loop, 135-145 ms at
 * ~95k endpoints, before that moved) and a write of the whole state to the disk the log's appends
 * share. libraft 0.15 lets appends go on meanwhile, into a fresh segment (its barrier blocks them
 * only for an installed snapshot, trailing 0). All three at once, with the encoding still on the
 * loop, stalled every write for 320-390 ms (dir-bench, 64 clients). So a voter takes its
 * snapshot only while the applied index is in its own slice of each threshold-long window (voters
 * in the order of their ids); the others keep a quorum going. A node waits at most one more
 * threshold; a non-voter or a lone voter never waits. pos is the voter's place among n voters by id
 * (dird_raft.c asks before each snapshot). */
static inline bool dird_snapshot_turn(uint64_t index, uint64_t threshold, unsigned pos, unsigned n)
{
    if (n <= 1 || pos >= n || threshold < n)
        return true;
    uint64_t slice = threshold / n;
    return (index % threshold) / slice % n == pos;
}

struct dird {
    /* Reads wait until the node has applied this much (then it is 0): the last log index found
     * on disk at start. A node may have served anything up to it before it stopped, and after a
     * restart it applies again from its snapshot only once a leader says what is committed:
     * answering meanwhile would serve a key older than one it served before (found by the fault
     * harness: version 21,844 after 28,261). */
    uint64_t read_floor;
    struct dird_cfg cfg;
    uv_loop_t *uv;
    struct strata_loop *loop;
    struct strata_server *srv;
    struct strata_metrics *metrics;
    struct dir_fsm *fsm;
    /* The snapshot being taken (dird_raft.c): its view is collected on the loop, encoded on a
     * libuv pool thread (which fills snap_encode_ms), ended when libraft is done. */
    struct dir_snap *snap;
    double snap_collect_ms, snap_encode_ms;

    struct raft raft;
    struct raft_io io;
    /* raft_uv's own append, called by the timing wrapper (dird_disk.c) */
    int (*io_append)(struct raft_io *io, struct raft_io_append *req,
                     const struct raft_entry entries[], unsigned n, raft_io_append_cb cb);
    /* ... and its snapshot_put, wrapped to report a snapshot that could not be written */
    int (*io_snapshot_put)(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb);
    bool snap_put_failed; /* the last snapshot of our own was not written (dird_disk.c) */
    /* raft_uv's start and libraft's receive callback, around the guard of dird_recv.c */
    int (*io_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv);
    raft_io_recv_cb raft_recv;
    /* The data dir's free space, read once a second (dird_disk_tick), and the largest snapshot
     * this node has taken, loaded or installed: what a next snapshot will need. */
    uint64_t disk_next_ms, snap_bytes_max;
    bool disk_low; /* LOW DISK said, not yet "disk space back" */
    /* Snapshots by size (dird_disk.c): entry bytes appended since the threshold was last
     * weighed, and the threshold in force (--snapshot-threshold, or less for large entries). */
    uint64_t log_bytes_acc, log_entries_acc, snap_threshold_eff;
    struct dird_transport transport;         /* plaintext Raft (cfg.tls NULL) */
    struct dird_tls_transport tls_transport; /* Raft over TLS (cfg.tls set) */
    struct raft_fsm rfsm;
    bool raft_started, raft_closing, stopping;
    int lock_fd; /* DIR/dird.lock, locked and open for the process's life (dird_datadir.c) */

    /* the batcher: writes queued since the last flush */
    struct dird_write *wq_head, **wq_tail;
    unsigned wq_len;
    unsigned applies_in_flight;
    unsigned appends_out; /* log appends submitted to the storage, not yet durable */
    uv_prepare_t prepare;
    uv_check_t check;
    uv_timer_t tick;
    uv_timer_t close_timer;

    /* results of the entry being applied: handed to the leader's apply callback */
    struct dir_result *results;
    size_t results_cap, results_n;
    struct strata_arena decode; /* apply: the entry's CommandBatch, reset after each entry */
    uint64_t results_index;

    /* raft state tracking for logs */
    int last_state;
    raft_id last_leader;
    uint64_t leaderless_since_ms; /* when this node last stopped knowing a leader; 0: knows one */
    raft_term last_term;

    /* member table self-registration */
    bool member_inflight;
    uint64_t member_next_try_ms;

    /* Leader only: when each peer was last heard from. libraft keeps a per-peer flag that it
     * clears once per election timeout; dird_peers_tick samples it every tick. Emptied whenever
     * this node does not lead. */
    struct dird_peer_seen {
        uint64_t id, ms;
    } seen[DIRD_MAX_PEERS];
    unsigned n_seen;
    uint64_t lead_since_ms; /* first tick as leader; 0 while not leading */

    struct dird_backup *backup; /* the backup held or being taken (dird_backup.c) */
    /* --restore: the backup's state made ready for this cluster, checked before anything was
     * written, and the index it founds the log at (dird_restore.c); freed once written */
    uint8_t *restore_state;
    size_t restore_len;
    uint64_t restore_index;

    /* parked reads and feed waiters */
    struct dird_parked *reads, *feeds;

    /* linearizable reads waiting for a read barrier (dird_linread.c) */
    struct dird_linread *lin_reads;
    unsigned lin_unassigned;   /* of them, those no barrier was proposed for yet */
    unsigned lin_barriers_out; /* barriers proposed, not called back */
    uint64_t lin_seq;          /* the last barrier proposed */
    bool lin_broken;           /* STRATA_TEST_BREAK_READ_BARRIER=1: the test-only defect */

    /* change feed ring */
    struct dird_feed_entry *ring;
    size_t ring_head, ring_len; /* oldest at ring_head */
    uint64_t horizon;

    struct dird_fwd_peer *peers;
    struct fwd_req *fwds;  /* requests proxied to the leader (dird_forward.c) */
    struct fwd_req *fwd_q; /* single writes for this loop turn's batch to the leader */

    /* metrics (uint64_t for lib/metrics) */
    uint64_t m_applied, m_commit, m_term, m_is_leader, m_writes, m_write_errors, m_reads, m_batches,
        m_forwarded, m_fwd_batches, m_feed_waiters, m_read_waiters, m_endpoints, m_vnets, m_hosts,
        m_snapshots, m_snapshot_failures, m_restores, m_elections, m_disk_free, m_recv_trimmed,
        m_log_bytes, m_denied, m_disk_need, m_gateways, m_gateways_live, m_lin_reads,
        m_lin_barriers;
    struct strata_histo h_append; /* raft log append to durable, every node (dird_disk.c) */
    struct strata_histo h_commit; /* leader: raft_apply of a batch to its apply callback */
    struct strata_histo h_write;  /* single writes a client sent here: arrival to reply */
};

/* Time a client's single write (WriteRequest) from its arrival to its reply, on the node that
 * answers it (leader or forwarding follower), into d->h_write. Call just before replying. */
void dird_write_observe(struct dird *d, struct strata_req *req);

/* dird_disk.c: time raft_uv's log appends into d->h_append (after raft_uv_init). */
void dird_disk_wrap(struct dird *d);
/* dird_recv.c: AppendEntries reaching below this node's snapshot are cut there before libraft
 * 0.15 sees them (it would misplace them in its log). */
void dird_recv_wrap(struct dird *d);
/* Cuts args to start after the snapshot in log when it starts at or below it and carries the
 * snapshot's entry with the snapshot's term; frees what it drops. Returns the entries dropped. */
unsigned dird_recv_trim(const struct raft_log *log, struct raft_append_entries *args);
/* dird_disk.c: once a second, the data dir's free space into m_disk_free, and a LOW DISK
 * warning when it falls under what the node may need next (from the housekeeping tick). */
void dird_disk_tick(struct dird *d, uint64_t now_ms);
/* dird_disk.c: a snapshot of `bytes` was taken, loaded or installed here. */
void dird_disk_snapshot_seen(struct dird *d, size_t bytes);

/* dird_datadir.c: checks made before anything is written to the data dir. */
/* Lock DIR/dird.lock for the process's life and write our pid in it; STRATA_EBUSY naming the
 * holder's pid when another process holds it. Needs the data dir to exist. */
int dird_datadir_lock(struct dird *d, struct strata_err *e);
/* Whether DIR/node.conf exists (*present) and, if so, names this --id and --raft; an error
 * naming both nodes when it does not. */
int dird_datadir_owner_check(struct dird *d, bool *present, struct strata_err *e);
/* Write DIR/node.conf (this --id and --raft), atomically and only when absent. */
int dird_datadir_owner_write(struct dird *d, struct strata_err *e);
/* Whether a listener can be opened on the --raft address (opened and closed at once): an
 * error saying "address in use" or "not a local address" otherwise. */
int dird_raft_addr_check(const char *hostport, struct strata_err *e);

/* dird_raft.c */
/* --cluster as a Raft configuration (this node alone without it): ids, addresses, no
 * duplicates, and this node listed with its --raft address. Checks only, no I/O. */
int dird_cluster_parse(const struct dird_cfg *cfg, struct raft_configuration *conf,
                       struct strata_err *e);
int dird_raft_start(struct dird *d, struct strata_err *e);
void dird_raft_close(struct dird *d, void (*cb)(struct dird *d));
bool dird_is_leader(struct dird *d);
/* The leader's id and API URL as this node knows them (NULL api when unknown). */
void dird_leader(struct dird *d, uint64_t *id, const char **api);
uint64_t dird_applied(struct dird *d);
void dird_write_enqueue(struct dird *d, struct dird_write *w);
void dird_write_flush(struct dird *d);
void dird_write_fail_all(struct dird *d, int code, const char *msg);
/* Internal write (member_set / member_del), completion optional. */
struct dird_write *dird_write_internal(struct dird *d);
const char *dird_role_name(int state);
/* The endpoint an applied endpoint_add/endpoint_move left in the FSM (NULL for other
 * commands): what a write's reply carries. */
const Strata__V1__Endpoint *dird_write_endpoint(struct dird *d, const Strata__V1__Command *c);

/* dird_wbatch.c */
/* A write_batch request: queued whole on the leader, forwarded as is by a follower. */
void dird_wbatch_handle(struct dird *d, struct strata_req *req, const strata_env *env);
/* One command of a group completed (status 0 with its index, or an error and its text). */
void dird_wgroup_done(struct dird *d, struct dird_wgroup *g, unsigned slot, int status,
                      const char *msg, uint64_t index);

/* dird_api.c */
void dird_api_handle(struct strata_req *req, const strata_env *env, void *arg);
void dird_reply_error(struct strata_req *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A write (single or write_batch) on a node that does not lead: proxy it to the leader, unless a
 * follower already forwarded it here (then ENOTLEADER: no forwarding loops). */
void dird_forward_write(struct dird *d, struct strata_req *req, const strata_env *env);

/* dird_forward.c */
/* Proxy req to the leader (waiting up to DIRD_FWD_TIMEOUT_MS for one to be known, following
 * leader changes; a node that has known no leader for two election timeouts answers EUNAVAIL
 * "no leader: the directory has no quorum ..." at once). false only when out of memory (the
 * caller answers). */
bool dird_forward(struct dird *d, struct strata_req *req, const strata_env *env);
/* Send the single writes queued in this loop turn to the leader as one write_batch request. */
void dird_forward_flush(struct dird *d);
/* Re-route proxied requests after a leader change; expire them at their deadline. */
void dird_forward_poll(struct dird *d, uint64_t now_ms);
/* Send an internal command to the leader's API (member_set from a follower). */
int dird_forward_cmd(struct dird *d, const Strata__V1__Command *cmd,
                     void (*cb)(struct dird *d, int rc, void *arg), void *arg);
void dird_forward_close(struct dird *d);

/* dird_backup.c: BackupRequest. The first (index 0) is taken on the leader (a follower forwards
 * it) and answered with its first piece; later ones read on from the node that holds it. */
void dird_backup_handle(struct dird *d, struct strata_req *req, const strata_env *env);
void dird_backup_tick(struct dird *d, uint64_t now_ms); /* drops one not read for a while */
void dird_backup_free(struct dird *d);                  /* after raft closed */

/* dird_restore.c: strata-dird --restore FILE */
/* Read FILE and check all of it (format, checksum, a state the FSM restores) and keep its state
 * made fit for this cluster in d: before anything is written anywhere. */
int dird_restore_load(struct dird *d, struct strata_err *e);
/* The data dir (locked) holds no Raft state: nothing but dird.lock and node.conf. */
int dird_restore_check_empty(struct dird *d, struct strata_err *e);
/* Found this node's log on the state: a Raft snapshot at the backup's index whose configuration
 * is conf (this cluster's, --cluster), written through libraft's own storage before raft_start,
 * which then loads it as after a restart. Every node started with the same FILE and --cluster
 * gets the same log start. */
int dird_restore_write(struct dird *d, const struct raft_configuration *conf, struct strata_err *e);

/* dird_reads.c */
/* A read: linearizable ones go to dird_linread_handle, the others to dird_reads_local. */
void dird_reads_handle(struct dird *d, struct strata_req *req, const strata_env *env);
/* The index serializable reads wait for after a restart (d->read_floor, lowered to the log's
 * last index if the leader truncated it); 0 once applied. */
uint64_t dird_read_floor(struct dird *d);
/* Serve from this node's applied state, once it has applied the request's min_index (parked
 * until then, for at most DIRD_READ_WAIT_MS). */
void dird_reads_local(struct dird *d, struct strata_req *req, const strata_env *env);
void dird_reads_poll(struct dird *d, uint64_t now_ms); /* serve what is ready or expired */
void dird_reads_fail_all(struct dird *d);

/* dird_linread.c: linearizable reads (read barrier at the leader, forwarding at a follower) */
/* Read STRATA_TEST_BREAK_READ_BARRIER once; "1" serves linearizable reads from local state,
 * without a barrier: a defect that tests and the fault harness plant on purpose (logged). */
void dird_linread_init(struct dird *d);
bool dird_read_is_linearizable(const strata_env *env);
void dird_linread_handle(struct dird *d, struct strata_req *req, const strata_env *env);
/* Propose one barrier for the reads that came since the last (each loop turn). */
void dird_linread_flush(struct dird *d);
void dird_linread_poll(struct dird *d, uint64_t now_ms); /* ETIMEDOUT after DIRD_READ_WAIT_MS */
void dird_linread_fail_all(struct dird *d);

/* dird_feed.c */
int dird_feed_init(struct dird *d);
void dird_feed_hook(void *arg, const Strata__V1__Change *chg);
void dird_feed_reset(struct dird *d, uint64_t horizon); /* after a snapshot restore */
void dird_feed_handle(struct dird *d, struct strata_req *req, const strata_env *env);
void dird_feed_poll(struct dird *d, uint64_t now_ms);
void dird_feed_free(struct dird *d);

/* dird_cluster.c */
void dird_cluster_handle(struct dird *d, struct strata_req *req, const strata_env *env);
void dird_cluster_tick(struct dird *d, uint64_t now_ms); /* member self-registration */
void dird_peers_tick(struct dird *d, uint64_t now_ms);
/* On a leader: true when voter `id` was heard from within an election timeout. */
bool dird_peer_reachable(const struct dird *d, uint64_t id, uint64_t now_ms);
/* On a leader that has led for an election timeout: true when voter `id` was not heard from
 * within one (ClusterStatus then says "unreachable"). */
bool dird_peer_unreachable(const struct dird *d, uint64_t id, uint64_t now_ms);
/* The voter a stopping leader hands off to, or 0 (see dird_cluster.c); *others counts the
 * leader's fellow voters, answering or not (0 when this node does not lead). */
uint64_t dird_handoff_target(struct dird *d, uint64_t now_ms, unsigned *others);

#endif
