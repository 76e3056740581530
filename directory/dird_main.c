/* dird_main.c - strata-dird: flags, startup (data dir, raft, API server, metrics), the loop's
 * housekeeping (flush writes before blocking, deadlines, state-change logs) and clean shutdown. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addr.h"
#include "dird.h"
#include "flags.h"
#include "fsutil.h"
#include "log.h"

static struct dird g_dird;

/* ---------------------------------------------------------------- loop housekeeping */

static void track_state(struct dird *d)
{
    if (!d->raft_started || d->raft_closing)
        return;
    int state = raft_state(&d->raft);
    raft_id lid = 0;
    const char *laddr = NULL;
    raft_leader(&d->raft, &lid, &laddr);
    if (lid != 0)
        d->leaderless_since_ms = 0;
    else if (d->leaderless_since_ms == 0)
        d->leaderless_since_ms = strata_now_ms();
    if (state != d->last_state || lid != d->last_leader || d->raft.current_term != d->last_term) {
        if (state == RAFT_CANDIDATE && d->last_state != RAFT_CANDIDATE)
            d->m_elections++;
        LOG_INFO("raft state=%s term=%llu leader=%llu leader_raft=%s commit=%llu applied=%llu",
                 dird_role_name(state), (unsigned long long)d->raft.current_term,
                 (unsigned long long)lid, laddr ? laddr : "-",
                 (unsigned long long)d->raft.commit_index, (unsigned long long)dird_applied(d));
        d->last_state = state;
        d->last_leader = lid;
        d->last_term = d->raft.current_term;
    }
    d->m_applied = dird_applied(d);
    d->m_commit = d->raft.commit_index;
    d->m_term = d->raft.current_term;
    d->m_is_leader = state == RAFT_LEADER;
}

/* Runs once per loop iteration before libuv waits for events (prepare) and once after the
 * events of the iteration were handled (check): every write that arrived meanwhile goes into one
 * entry, and whatever the last applies made ready is answered. The prepare phase comes before the
 * iteration's poll, so the check is what flushes the writes that the poll's events queued. */
static void per_iteration(struct dird *d)
{
    if (d->stopping)
        return;
    uint64_t now = strata_now_ms();
    dird_write_flush(d);
    dird_linread_flush(d);
    if (d->fwd_q != NULL)
        dird_forward_flush(d);
    if (d->reads != NULL)
        dird_reads_poll(d, now);
    if (d->lin_reads != NULL)
        dird_linread_poll(d, now);
    if (d->feeds != NULL)
        dird_feed_poll(d, now);
}

static void on_prepare(uv_prepare_t *h)
{
    per_iteration(h->data);
}

static void on_check(uv_check_t *h)
{
    per_iteration(h->data);
}

static void on_tick(uv_timer_t *h)
{
    struct dird *d = h->data;
    if (d->stopping)
        return;
    uint64_t now = strata_now_ms();
    track_state(d);
    dird_peers_tick(d, now);
    dird_cluster_tick(d, now);
    dird_disk_tick(d, now);
    dird_backup_tick(d, now);
    if (d->fwds != NULL)
        dird_forward_poll(d, now);
    dird_reads_poll(d, now);
    dird_linread_poll(d, now);
    dird_feed_poll(d, now);
    d->m_endpoints = dir_fsm_count(d->fsm, STRATA__V1__OBJ_KIND__OBJ_ENDPOINT);
    d->m_vnets = dir_fsm_count(d->fsm, STRATA__V1__OBJ_KIND__OBJ_VNET);
    d->m_hosts = dir_fsm_count(d->fsm, STRATA__V1__OBJ_KIND__OBJ_HOST);
    d->m_gateways = dir_fsm_count(d->fsm, STRATA__V1__OBJ_KIND__OBJ_GATEWAY);
    d->m_gateways_live = dir_fsm_gateways_live(d->fsm);
}

/* ---------------------------------------------------------------- shutdown */

static void handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void after_raft_close(struct dird *d)
{
    /* raft is gone: nothing else can complete. Close our handles; uv_run then returns. */
    dird_write_fail_all(d, STRATA_EUNAVAIL, "directory node shutting down");
    uv_close((uv_handle_t *)&d->prepare, handle_closed);
    uv_close((uv_handle_t *)&d->check, handle_closed);
    uv_close((uv_handle_t *)&d->tick, handle_closed);
    uv_close((uv_handle_t *)&d->close_timer, handle_closed);
    if (d->metrics != NULL) {
        strata_metrics_close(d->metrics);
        d->metrics = NULL;
    }
    strata_loop_close(d->loop);
    LOG_INFO("stopped");
}

static void deferred_close(uv_timer_t *h)
{
    struct dird *d = h->data;
    if (d->raft_closing)
        return; /* the hand-off finished after the fallback fired */
    /* not inside any raft callback here (PITFALLS: raft_close from a callback aborts) */
    dird_raft_close(d, after_raft_close);
}

static void handoff_done(struct raft_transfer *tr)
{
    struct dird *d = tr->data;
    raft_id lid = 0;
    const char *addr = NULL;
    if (d->raft_closing)
        return;
    raft_leader(&d->raft, &lid, &addr);
    if (lid != 0 && lid != d->cfg.id)
        LOG_INFO("leadership handed off before stopping: leader=%llu", (unsigned long long)lid);
    else /* no voter could take over (the others stopped or lag): they will elect one */
        LOG_WARN("leadership hand-off before stopping did not happen (leader=%llu)",
                 (unsigned long long)lid);
    uv_timer_start(&d->close_timer, deferred_close, 0, 0);
}

static void on_signal(void *arg)
{
    struct dird *d = arg;
    if (d->stopping)
        return;
    d->stopping = true;
    LOG_INFO("SIGTERM: stopping");
    if (d->srv != NULL) {
        strata_server_close(d->srv);
        d->srv = NULL;
    }
    dird_reads_fail_all(d);
    dird_linread_fail_all(d);
    dird_feed_poll(d, strata_now_ms()); /* stopping: answers every waiter */
    dird_forward_close(d);
    /* A leader hands off first: the cluster elects at once instead of after a timeout. With no
     * voter heard from lately there is no one to hand to: the others elect when they can. */
    static struct raft_transfer handoff;
    handoff.data = d;
    unsigned others;
    uint64_t to = dird_handoff_target(d, strata_now_ms(), &others);
    if (to == 0 && others > 0)
        LOG_WARN("no voter answering: stopping without a leadership hand-off");
    if (to != 0 && raft_transfer(&d->raft, &handoff, to, handoff_done) == 0)
        uv_timer_start(&d->close_timer, deferred_close, 2000, 0); /* fallback */
    else
        uv_timer_start(&d->close_timer, deferred_close, 0, 0);
}

/* ---------------------------------------------------------------- flags */

static int metrics_setup(struct dird *d, struct strata_err *e)
{
    static const struct {
        const char *name;
        enum strata_metric_kind kind;
        const char *help;
        size_t off;
    } tbl[] = {
#define M(n, k, h, f) {n, STRATA_METRIC_##k, h, offsetof(struct dird, f)}
        M("dird_applied_index", GAUGE, "last Raft index applied to the FSM", m_applied),
        M("dird_commit_index", GAUGE, "Raft commit index", m_commit),
        M("dird_term", GAUGE, "current Raft term", m_term),
        M("dird_is_leader", GAUGE, "1 when this node leads", m_is_leader),
        M("dird_writes_total", COUNTER, "writes queued on this node as leader", m_writes),
        M("dird_write_errors_total", COUNTER, "writes answered with an error", m_write_errors),
        M("dird_reads_total", COUNTER, "list/resolve/vn_info requests", m_reads),
        M("dird_linearizable_reads_total", COUNTER,
          "linearizable list/resolve requests (served after a read barrier or forwarded)",
          m_lin_reads),
        M("dird_read_barriers_total", COUNTER, "read barriers proposed as leader", m_lin_barriers),
        M("dird_denied_total", COUNTER,
          "requests refused because the caller's certificate does not allow them", m_denied),
        M("dird_write_batches_total", COUNTER, "raft entries (batches of writes) submitted",
          m_batches),
        M("dird_forwarded_total", COUNTER, "requests forwarded to the leader", m_forwarded),
        M("dird_forward_batches_total", COUNTER, "write_batch requests carrying them",
          m_fwd_batches),
        M("dird_feed_waiters", GAUGE, "parked change-feed long-polls", m_feed_waiters),
        M("dird_read_waiters", GAUGE, "reads parked for min_index", m_read_waiters),
        M("dird_endpoints", GAUGE, "endpoints in the FSM", m_endpoints),
        M("dird_vnets", GAUGE, "virtual networks in the FSM", m_vnets),
        M("dird_hosts", GAUGE, "hosts in the FSM", m_hosts),
        M("dird_gateways", GAUGE, "gateways in the FSM", m_gateways),
        M("dird_gateways_live", GAUGE,
          "gateways in the FSM that a connectivity server holds as live (gateway_live)",
          m_gateways_live),
        M("dird_snapshots_total", COUNTER, "snapshots taken", m_snapshots),
        M("dird_snapshot_failures_total", COUNTER,
          "snapshots (taken or installed) that could not be written to disk", m_snapshot_failures),
        M("dird_restores_total", COUNTER, "snapshots restored", m_restores),
        M("dird_elections_total", COUNTER, "elections this node started", m_elections),
        M("dird_data_dir_free_bytes", GAUGE,
          "free space in the data dir (read each second; LOW DISK is logged under a log segment "
          "plus twice the largest snapshot)",
          m_disk_free),
        M("dird_data_dir_needed_bytes", GAUGE,
          "free space this node may need next: a log segment plus twice its largest snapshot "
          "(LOW DISK below it)",
          m_disk_need),
        M("dird_log_appended_bytes_total", COUNTER,
          "bytes of Raft entries this node appended to its log", m_log_bytes),
        M("dird_append_trimmed_total", COUNTER,
          "AppendEntries from a leader cut at this node's snapshot (they reached below it)",
          m_recv_trimmed),
#undef M
    };
    if (strata_metrics_new(&d->metrics) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "metrics: out of memory");
    for (size_t i = 0; i < sizeof(tbl) / sizeof(tbl[0]); i++)
        strata_metrics_add(d->metrics, tbl[i].name, tbl[i].kind, tbl[i].help,
                           (const uint64_t *)((const char *)d + tbl[i].off));
    if (strata_metrics_add_busy_poll(d->metrics, "dird", d->loop) != 0 ||
        strata_metrics_add_daemon(d->metrics, "dird") != 0)
        return strata_err_set(e, STRATA_ENOMEM, "metrics: out of memory");
    for (int r = 0; r < DIRD_TLS_REFUSED_N; r++) {
        char name[64];
        snprintf(name, sizeof(name), "dird_raft_tls_refused_%s_total",
                 dird_tls_refusal_name((enum dird_tls_refusal)r));
        strata_metrics_add(d->metrics, name, STRATA_METRIC_COUNTER,
                           "Raft over TLS: connections refused before reaching Raft, by cause "
                           "(docs/directory.md, Raft over TLS)",
                           &d->tls_transport.refused[r]);
    }
    strata_metrics_add(d->metrics, "dird_raft_tls_connections_total", STRATA_METRIC_COUNTER,
                       "Raft over TLS: connections verified and handed to Raft, both directions",
                       &d->tls_transport.established);
    strata_metrics_add(d->metrics, "dird_raft_tls_queue_peak_bytes", STRATA_METRIC_GAUGE,
                       "Raft over TLS: most bytes seen waiting towards one side of a connection",
                       &d->tls_transport.queue_peak);
    strata_metrics_add_histo(d->metrics, "dird_raft_append_seconds",
                             "Raft log append to durable on disk, including the wait behind the "
                             "append in flight",
                             &d->h_append);
    strata_metrics_add_histo(d->metrics, "dird_write_commit_seconds",
                             "leader: a batch of writes from raft_apply to committed and applied",
                             &d->h_commit);
    strata_metrics_add_histo(d->metrics, "dird_write_seconds",
                             "a client's single write on the node it was sent to, from its arrival "
                             "to the reply (forwarding to the leader included), failed ones too",
                             &d->h_write);
    return strata_metrics_listen(d->metrics, d->uv, d->cfg.metrics, e);
}

static int check_cfg(struct dird_cfg *c, struct strata_err *e)
{
    char ip[16];
    uint16_t port;
    struct strata_err pe;
    if (strata_hostport_parse(c->raft_addr, ip, &port, &pe) != 0)
        return strata_err_set(e, STRATA_EINVAL, "--raft: %s", pe.msg);
    if (c->metrics != NULL && strata_hostport_parse(c->metrics, ip, &port, &pe) != 0)
        return strata_err_set(e, STRATA_EINVAL, "--metrics: %s", pe.msg);
    if (strata_url_check(c->api_url, "--api", e) != 0)
        return e->code;
    if (c->heartbeat_ms >= c->election_ms)
        return strata_err_set(
            e, STRATA_EINVAL, "--heartbeat-ms (%llu) must be below --election-timeout-ms (%llu)",
            (unsigned long long)c->heartbeat_ms, (unsigned long long)c->election_ms);
    if (c->join && c->cluster != NULL)
        return strata_err_set(e, STRATA_EINVAL, "--join and --cluster exclude each other");
    if (c->join && c->restore != NULL)
        return strata_err_set(e, STRATA_EINVAL,
                              "--join and --restore exclude each other (a joining node gets "
                              "the state from the leader)");
    if (!c->join) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        int rc = dird_cluster_parse(c, &conf, e);
        raft_configuration_close(&conf);
        return rc;
    }
    return 0;
}

/* Everything that can refuse this start, before anything is written to the data dir: a typo in
 * a flag or a port in use must not leave Raft state (a bootstrapped configuration) behind. The
 * flags were checked by check_cfg; here the data dir is locked and its owner compared, and the
 * metrics and API listeners are opened and the Raft address tried. Only then is node.conf
 * written and Raft started. */
static int startup(struct dird *d, struct strata_err *e)
{
    struct dird_cfg *c = &d->cfg;
    bool owned;
    if (strata_mkdir_p(c->data_dir, 0750, e) != 0 || dird_datadir_lock(d, e) != 0 ||
        dird_datadir_owner_check(d, &owned, e) != 0 ||
        (c->restore != NULL && dird_restore_check_empty(d, e) != 0))
        return e->code;
    if (strata_loop_new(d->uv, &d->loop, e) != 0 || metrics_setup(d, e) != 0)
        return e->code;
    strata_nofile_raise(); /* room for many clients: the server caps connections by it */
    /* Requests are answered once the loop runs, after Raft started. */
    struct strata_server_opts so = {.url = c->api_url, .contexts = 256, .recv_max = 0};
    if (strata_server_open(d->loop, &so, dird_api_handle, d, &d->srv, e) != 0)
        return e->code;
    strata_server_metrics(d->srv, d->metrics, "dird_api");
    if (dird_raft_addr_check(c->raft_addr, e) != 0)
        return e->code;
    if (!owned && dird_datadir_owner_write(d, e) != 0)
        return e->code;
    return dird_raft_start(d, e);
}

/* The man page's words (strata-dird --help-man); the flags come from the table in main. */
static const char *const dird_man_files[] = {
    "DIR/",
    "the data directory (--data-dir): libraft's log and snapshots, and the lock and owner file "
    "that keep a second node or another cluster from using it",
    "/etc/strata/dird-ID.conf",
    "with the packaged unit strata-dird@ID.service: STRATA_FLAGS, the flags besides --id and "
    "--data-dir (/var/lib/strata/dird-ID)",
    NULL,
};
static const struct strata_flags_about dird_about = {
    .name = "strata-dird",
    .section = 8,
    .summary = "Strata directory node: the Raft-replicated state of the overlay",
    .description =
        "strata-dird is one node of the directory, the overlay's source of truth: tenant domains, "
        "virtual networks, subnets, hosts, gateways, endpoints and policy, replicated with Raft "
        "(libraft) over --raft and served to the CLI and the connectivity servers over --api.\n"
        "\n"
        "Run three or five nodes, each with its own --id and --data-dir. The founding members "
        "get the same --cluster list; a node started with --join waits empty until \"strata "
        "cluster add\" adds it. A node whose data directory holds state ignores --cluster and "
        "rejoins from its disk. Writes go to the leader (followers forward them); a node without "
        "a quorum refuses writes and says so.\n"
        "\n"
        "With --tls-ca, --tls-cert and --tls-key every link (Raft and the API) is mutual TLS and "
        "each request is authorized by the role and name in the caller's certificate (made with "
        "\"strata pki\"); without them the daemon logs that it runs in plaintext.\n"
        "\n"
        "Example, the first of three nodes:\n"
        "  strata-dird --id 1 --data-dir /var/lib/strata/dird-1 --raft 10.0.0.1:7101 \\\n"
        "      --api tcp://10.0.0.1:7001 \\\n"
        "      --cluster 1=10.0.0.1:7101,2=10.0.0.2:7101,3=10.0.0.3:7101",
    .env =
        (const char *const[]){"UV_THREADPOOL_SIZE",
                              "libuv's threadpool, where libraft's disk I/O runs (16 unless set)",
                              NULL},
    .files = dird_man_files,
    .see_also = "The systemd unit strata-dird@.service; docs/directory.md (operations, failure "
                "behaviour, snapshots) and docs/security.md in the Strata sources, installed under "
                "share/doc/strata.",
};

int main(int argc, char **argv)
{
    struct dird *d = &g_dird;
    struct strata_err e = {0};
    struct dird_cfg *c = &d->cfg;
    c->election_ms = 300;
    c->heartbeat_ms = 50;
    c->snap_threshold = 16384;
    c->busy_poll_us = STRATA_LOOP_BUSY_POLL_US;
    c->snap_trailing = 2048;
    c->snap_bytes = 64u << 20;
    /* libraft's default is 30 s: an install the follower dropped (it was busy writing its own
     * snapshot, measured) is only retried after this long. */
    c->install_snap_ms = 5000;
    /* Pre-vote on by default: besides shielding the cluster from a node that was cut off, it
     * halves failover. libraft followers refuse votes while they still believe in a leader, so
     * without pre-vote the first candidate's term is usually wasted in a split vote (measured
     * ~900 ms with a 300 ms timeout); with it, the second follower to time out wins at once. */
    c->pre_vote = true;
    bool no_pre_vote = false;
    int log_level = -1; /* --log-level, else STRATA_LOG_LEVEL */
    const struct strata_flag flags[] = {
        {"id", STRATA_FLAG_U64, &c->id, "N", "this node's Raft id (> 0)", true, 1, 0},
        {"data-dir", STRATA_FLAG_STR, &c->data_dir, "DIR",
         "where Raft keeps its log and snapshots (created if missing)", true, 0, 0},
        {"raft", STRATA_FLAG_STR, &c->raft_addr, "HOST:PORT",
         "IPv4 address for Raft traffic between directory nodes", true, 0, 0},
        {"api", STRATA_FLAG_STR, &c->api_url, "tcp://HOST:PORT",
         "where clients (CLI, connectivity servers) connect", true, 0, 0},
        {"cluster", STRATA_FLAG_STR, &c->cluster, "ID=HOST:PORT,...",
         "founding members, bootstraps an empty data dir (ignored when it holds state)", false, 0,
         0},
        {"restore", STRATA_FLAG_STR, &c->restore, "FILE",
         "found a new cluster on a backup (strata cluster backup): an empty data dir, and the "
         "same FILE and --cluster on every founding node",
         false, 0, 0},
        {"join", STRATA_FLAG_BOOL, &c->join, NULL,
         "start empty and wait to be added with `strata cluster add`", false, 0, 0},
        {"metrics", STRATA_FLAG_STR, &c->metrics, "HOST:PORT",
         "serve Prometheus metrics on http://HOST:PORT/metrics", false, 0, 0},
        {"election-timeout-ms", STRATA_FLAG_U64, &c->election_ms, "MS",
         "Raft election timeout, randomised to 1-2x", false, 20, 60000},
        {"heartbeat-ms", STRATA_FLAG_U64, &c->heartbeat_ms, "MS",
         "leader heartbeat period, below the election timeout", false, 5, 60000},
        {"snapshot-threshold", STRATA_FLAG_U64, &c->snap_threshold, "N",
         "entries between snapshots", false, 2, 100000000},
        {"snapshot-trailing", STRATA_FLAG_U64, &c->snap_trailing, "N",
         "entries kept in the log after a snapshot", false, 0, 100000000},
        {"snapshot-bytes", STRATA_FLAG_U64, &c->snap_bytes, "BYTES",
         "log bytes between snapshots: large entries bring the threshold (and the trailing "
         "entries) down so that the log stays about this size",
         false, 65536, 1ull << 40},
        {"install-snapshot-timeout-ms", STRATA_FLAG_U64, &c->install_snap_ms, "MS",
         "resend a snapshot the follower has not acknowledged after this long", false, 100,
         3600000},
        {"busy-poll-us", STRATA_FLAG_U64, &c->busy_poll_us, "US",
         "after answering a client, poll this long for the next request before sleeping "
         "(0: off)",
         false, 0, 10000},
        {"pre-vote", STRATA_FLAG_BOOL, &c->pre_vote, NULL,
         "use Raft pre-vote (the default; a partitioned node cannot disrupt the cluster)", false, 0,
         0},
        {"no-pre-vote", STRATA_FLAG_BOOL, &no_pre_vote, NULL, "disable Raft pre-vote", false, 0, 0},
        STRATA_TLS_FLAG_ROWS(&c->tls_files),
        STRATA_LOG_FLAG_ROW(&log_level),
        STRATA_FLAGS_END_ABOUT(&dird_about),
    };
    int argi = 1;
    int rc = strata_flags_parse(flags, argc, argv, &argi, &e);
    if (rc == STRATA_ENOTFOUND) {
        printf("usage: strata-dird [flags]\n       strata-dird --version | --help-man\n");
        strata_flags_usage(stdout, flags);
        return 0;
    }
    if (no_pre_vote)
        c->pre_vote = false;
    if (rc == 0 && argi < argc)
        rc = strata_err_set(&e, STRATA_EINVAL, "unexpected argument '%s'", argv[argi]);
    if (rc == 0)
        rc = check_cfg(c, &e);
    if (rc != 0) {
        fprintf(stderr, "strata-dird: %s (see --help)\n", e.msg);
        return 2;
    }
    char comp[64];
    snprintf(comp, sizeof(comp), "dird/%llu", (unsigned long long)c->id);
    strata_log_init(comp, log_level);
    signal(SIGPIPE, SIG_IGN);
    char idname[24];
    snprintf(idname, sizeof(idname), "%llu", (unsigned long long)c->id);
    if (strata_tls_daemon(&c->tls_files, "strata-dird", STRATA_ROLE_DIRECTORY, idname, &c->tls,
                          &e) != 0 ||
        strata_tls_url_check(c->tls, c->api_url, "--api", &e) != 0) {
        fprintf(stderr, "strata-dird: %s\n", e.msg);
        return 2;
    }
    /* libraft's disk I/O shares libuv's threadpool (4 threads by default) */
    setenv("UV_THREADPOOL_SIZE", "16", 0);

    static uv_loop_t uv;
    uv_loop_init(&uv);
    d->uv = &uv;
    d->wq_tail = &d->wq_head;
    d->last_state = -1;
    d->fsm = dir_fsm_new();
    strata_arena_init(&d->decode, 64 << 10);
    if (d->fsm == NULL || dird_feed_init(d) != 0) {
        fprintf(stderr, "strata-dird: out of memory\n");
        return 1;
    }
    /* the whole backup is checked before the data dir is even made */
    if (c->restore != NULL && dird_restore_load(d, &e) != 0) {
        LOG_ERROR("--restore refused: %s", e.msg);
        fprintf(stderr, "strata-dird: --restore refused: %s\n", e.msg);
        return 1;
    }
    dir_fsm_set_change_hook(d->fsm, dird_feed_hook, d);
    dird_linread_init(d);
    if (startup(d, &e) != 0) {
        free(d->restore_state);
        LOG_ERROR("startup failed: %s", e.msg);
        fprintf(stderr, "strata-dird: %s\n", e.msg);
        return 1;
    }
    strata_loop_set_busy_poll(d->loop, (unsigned)c->busy_poll_us);
    strata_loop_on_signal(d->loop, on_signal, d);
    uv_prepare_init(&uv, &d->prepare);
    d->prepare.data = d;
    uv_prepare_start(&d->prepare, on_prepare);
    uv_check_init(&uv, &d->check);
    d->check.data = d;
    uv_check_start(&d->check, on_check);
    uv_timer_init(&uv, &d->tick);
    d->tick.data = d;
    uv_timer_start(&d->tick, on_tick, DIRD_TICK_MS, DIRD_TICK_MS);
    uv_timer_init(&uv, &d->close_timer);
    d->close_timer.data = d;
    LOG_INFO("serving api=%s raft=%s data_dir=%s election_timeout_ms=%llu heartbeat_ms=%llu",
             c->api_url, c->raft_addr, c->data_dir, (unsigned long long)c->election_ms,
             (unsigned long long)c->heartbeat_ms);

    strata_loop_run(d->loop); /* busy-polls after answering (--busy-poll-us) */
    /* handles closed; drain close callbacks */
    uv_run(&uv, UV_RUN_NOWAIT);
    if (uv_loop_close(&uv) != 0)
        LOG_WARN("loop closed with handles still open");
    dird_feed_free(d);
    dird_backup_free(d);
    dir_fsm_free(d->fsm);
    free(d->results);
    strata_arena_fini(&d->decode);
    return 0;
}
