/* test_dir_disk_full.c - a node's disk fills up under writes, the leader's and then a
 * follower's. Its data dir is a small tmpfs (root only: skipped otherwise) that a filler file
 * keeps full, so the first log append that needs a new segment fails with ENOSPC. libraft 0.15
 * cannot go on from there (dird_disk.c), so the node must stop with its own exit status and a
 * clear log line, not die of a signal; the other two must lead and take writes; no write
 * acknowledged before or after may be missing; and once space is back the node must restart and
 * catch up. */
#include "test_dir_common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define DF_BATCH 500      /* endpoints per write_batch: ~22 KB entries fill a segment fast */
#define DF_MAX 3000000    /* endpoint ids available */
#define DF_CLIENT 0xd15cf /* client id of the batches (dedup key with req_id) */
#define DF_EXIT_DISK 3    /* DIRD_EXIT_DISK */

static struct td_cluster C;
static char df_mnt[2][300]; /* one per test */

static void df_unmount(void)
{
    for (int i = 0; i < 2; i++)
        if (df_mnt[i][0] != '\0')
            umount2(df_mnt[i], MNT_DETACH); /* lazy: a daemon may still hold files in it */
}

/* Fill the file system of `dir` until ENOSPC; returns the bytes written. */
static size_t df_fill(const char *dir)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    assert_true(fd >= 0);
    static char buf[1 << 16];
    size_t total = 0;
    for (;;) {
        ssize_t w = write(fd, buf, sizeof(buf));
        if (w <= 0)
            break;
        total += (size_t)w;
    }
    close(fd);
    return total;
}

/* Keeps the disk full: whatever the node frees (libraft deletes old snapshots and segments
 * once a snapshot is written), the filler takes at once, as a disk filled by someone else stays
 * full. Without it a snapshot could land in space freed by the one before, and the leader case
 * sometimes saw no snapshot fail before the log append did. */
struct df_topper {
    pthread_t th;
    char path[400];
    volatile bool stop;
};

static void *df_top(void *arg)
{
    struct df_topper *t = arg;
    static char buf[1 << 12];
    int fd = open(t->path, O_WRONLY | O_APPEND);
    while (fd >= 0 && !t->stop) {
        if (write(fd, buf, sizeof(buf)) <= 0)
            usleep(500); /* nothing free: look again soon */
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* endpoint_adds [base, base+n) as one write_batch to `url`; marks what was acknowledged. Returns
 * how many were, or -1 when the node did not answer the request at all. */
static int df_batch(const char *url, int base, int n, bool *acked, uint64_t *max_index,
                    int *refused_code)
{
    static struct td_ep_cmd b[DF_BATCH];
    static Strata__V1__Command *cmds[DF_BATCH];
    for (int k = 0; k < n; k++) {
        cmds[k] = td_endpoint_cmd(&b[k], base + k, base + k);
        cmds[k]->client_id = DF_CLIENT;
        cmds[k]->req_id = (uint64_t)base + (uint64_t)k + 1;
    }
    Strata__V1__WriteBatchRequest wb = STRATA__V1__WRITE_BATCH_REQUEST__INIT;
    wb.n_cmds = (size_t)n;
    wb.cmds = cmds;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_WRITE_BATCH;
    req.write_batch = &wb;
    strata_env *rep = td_call(url, &req, 5000);
    if (rep == NULL)
        return -1;
    assert_int_equal(rep->body_case, STRATA__V1__ENVELOPE__BODY_WRITE_BATCH_REPLY);
    const Strata__V1__WriteBatchReply *br = rep->write_batch_reply;
    assert_int_equal(br->n_results, (size_t)n);
    int ok = 0;
    for (int k = 0; k < n; k++) {
        const Strata__V1__WriteResult *r = br->results[k];
        if (r->status == 0) {
            acked[base + k] = true;
            ok++;
            if (r->reply->index > *max_index)
                *max_index = r->reply->index;
        } else {
            assert_true(strlen(r->message) > 0); /* a failed write says why */
            *refused_code = r->status;
        }
    }
    strata_msg_free(rep);
    return ok;
}

struct df_applied {
    const char *url;
    uint64_t index;
};

static bool df_applied_pred(void *arg)
{
    const struct df_applied *a = arg;
    strata_env *r = td_status(a->url);
    bool ok = r != NULL && r->cluster_status_reply->self->applied_index >= a->index;
    strata_msg_free(r);
    return ok;
}

/* Every acknowledged endpoint in [0, n) resolves on `url` once it has applied min_index. */
/* Node 1 has said LOW DISK and its free-space gauge is under 1 MiB. */
static bool df_low_pred(void *arg)
{
    struct td_node *n = arg;
    if (td_log_count(n->log, "LOW DISK: ") != 1)
        return false;
    char *t = h_http_get(n->metrics_port, "/metrics");
    double free_b = t != NULL ? h_metric(t, "strata_dird_data_dir_free_bytes") : -1;
    bool low = free_b >= 0 && free_b < (1 << 20); /* -1: not there */
    free(t);
    return low;
}

static void df_check(const char *url, const bool *acked, int n, uint64_t min_index)
{
    /* a restarted node replays and catches up ~750k endpoints first: slow under ASan */
    struct df_applied ap = {url, min_index};
    assert_true(h_wait_until(df_applied_pred, &ap, 120000));
    static uint8_t ip[STRATA_MAX_BATCH][4];
    static Strata__V1__ResolveQuery q[STRATA_MAX_BATCH], *qs[STRATA_MAX_BATCH];
    int idx[STRATA_MAX_BATCH];
    int checked = 0;
    for (int base = 0; base < n;) {
        int m = 0;
        for (; base < n && m < STRATA_MAX_BATCH; base++) {
            if (!acked[base])
                continue;
            td_ip(base, ip[m]);
            q[m] = (Strata__V1__ResolveQuery)STRATA__V1__RESOLVE_QUERY__INIT;
            q[m].vni = TD_VNI;
            q[m].ip = (ProtobufCBinaryData){4, ip[m]};
            qs[m] = &q[m];
            idx[m++] = base;
        }
        if (m == 0)
            break;
        Strata__V1__ResolveRequest rr = STRATA__V1__RESOLVE_REQUEST__INIT;
        rr.n_queries = (size_t)m;
        rr.queries = qs;
        rr.min_index = min_index;
        strata_env req = STRATA__V1__ENVELOPE__INIT;
        req.body_case = STRATA__V1__ENVELOPE__BODY_RESOLVE;
        req.resolve = &rr;
        strata_env *rep = td_call(url, &req, 10000);
        assert_non_null(rep);
        const Strata__V1__ResolveReply *r = rep->resolve_reply;
        assert_int_equal(r->n_answers, (size_t)m);
        for (int k = 0; k < m; k++) {
            uint8_t mac[6];
            td_mac(idx[k], mac);
            if (!r->answers[k]->found)
                fail_msg("acknowledged endpoint %d missing on %s", idx[k], url);
            assert_memory_equal(r->answers[k]->endpoint->mac.data, mac, 6);
        }
        checked += m;
        strata_msg_free(rep);
    }
    fprintf(stderr, "%d acknowledged endpoints all present on %s\n", checked, url);
}

/* Make node `id` the leader (cluster transfer, retried while it catches up). */
static void df_lead_with(int id)
{
    char urls[512], cmd[900];
    td_urls(&C, 0, urls, sizeof(urls));
    snprintf(cmd, sizeof(cmd), "%s --directory %s cluster transfer %d >/dev/null 2>&1",
             h_bin("strata"), urls, id);
    for (uint64_t deadline = h_now_ms() + 20000; h_now_ms() < deadline;) {
        if (td_wait_leader(&C, 5000) == id)
            return;
        h_run(cmd, NULL);
    }
    fail_msg("node %d did not become leader", id);
}

/* Node 1's disk fills; node 1 leads (node1_leads) or node 2 does. t: the test's mount slot. */
static void df_run(int t, const char *tag, bool node1_leads)
{
    if (geteuid() != 0)
        skip(); /* mounting a tmpfs needs root (CI runs as root) */
    td_init(&C, 3, tag);
    struct td_node *n1 = &C.node[0];
    assert_int_equal(mkdir(n1->dir, 0700), 0);
    /* 3 x 8 MiB of libraft's open segments plus room for what it writes before the filler */
    if (mount("tmpfs", n1->dir, "tmpfs", 0, "size=40m") != 0) {
        fprintf(stderr, "cannot mount a tmpfs (%s): skipped\n", strerror(errno));
        skip();
    }
    snprintf(df_mnt[t], sizeof(df_mnt[t]), "%s", n1->dir);
    if (node1_leads) { /* snapshots every 8 entries: those of the full disk must fail loudly */
        C.extra[0] = "--snapshot-threshold";
        C.extra[1] = "8";
    }
    n1->metrics_port = h_free_port();
    if (t == 0)
        atexit(df_unmount); /* runs before h_cleanup removes the directories (LIFO) */
    for (int i = 0; i < 3; i++)
        td_start(&C, i);
    assert_true(td_wait_leader(&C, 15000) > 0);
    strata_dirclient_close(td_client_with_objects(&C));
    df_lead_with(node1_leads ? 1 : 2);
    size_t filled = df_fill(n1->dir);
    fprintf(stderr, "node 1's disk filled with %zu more bytes\n", filled);
    struct df_topper top = {0};
    snprintf(top.path, sizeof(top.path), "%s/filler", n1->dir);
    assert_int_equal(pthread_create(&top.th, NULL, df_top, &top), 0);
    /* Said before it had to stop (and not at the start, with a disk then 40 % free). */
    assert_true(h_wait_until(df_low_pred, n1, 5000));

    bool *acked = calloc(DF_MAX, sizeof(bool));
    assert_non_null(acked);
    uint64_t max_index = 0;
    int refused_code = 0, node = node1_leads ? 0 : 1, base = 0, after_exit = 0, refused = 0;
    uint64_t deadline = h_now_ms() + 150000; /* ~36 s under ASan */
    /* Write until node 1 is gone and five batches have been acknowledged by another node. */
    while (after_exit < 5) {
        assert_true(h_now_ms() < deadline);
        assert_true(base + DF_BATCH <= DF_MAX);
        if (C.node[node].pid > 0 && !h_alive(C.node[node].pid)) {
            node = (node + 1) % 3;
            continue;
        }
        int ok = df_batch(C.node[node].api, base, DF_BATCH, acked, &max_index, &refused_code);
        if (ok < 0) {
            node = (node + 1) % 3; /* gone, or not answering: the next node */
            continue;
        }
        refused += DF_BATCH - ok;
        base += DF_BATCH;
        if (!h_alive(n1->pid) && ok == DF_BATCH)
            after_exit++;
    }
    top.stop = true;
    pthread_join(top.th, NULL);
    int st = h_stop(n1->pid, 1000);
    n1->pid = 0;
    fprintf(stderr, "node 1 exit status 0x%x; %d endpoints sent, %d refused (last code %d)\n", st,
            base, refused, refused_code);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == DF_EXIT_DISK); /* its own exit, no signal */
    assert_int_equal(td_log_count(n1->log, "DISK FULL: raft log append failed"), 1);
    if (node1_leads) {
        int failed = td_log_count(n1->log, "DISK FULL: snapshot not written");
        fprintf(stderr, "node 1: %d snapshots not written before it stopped\n", failed);
        assert_true(failed >= 1);
    }

    int leader = td_wait_leader(&C, 10000);
    assert_true(leader == 2 || leader == 3);
    if (!node1_leads) { /* a follower's full disk costs the writers nothing */
        assert_int_equal(leader, 2);
        assert_int_equal(refused, 0);
    }
    df_check(C.node[td_index_of(&C, leader)].api, acked, base, max_index);

    /* space is back: node 1 restarts and catches up */
    char filler[400];
    snprintf(filler, sizeof(filler), "%s/filler", n1->dir);
    assert_int_equal(unlink(filler), 0);
    td_start(&C, 0);
    df_check(n1->api, acked, base, max_index);
    for (int i = 0; i < 3; i++)
        td_stop(&C, i);
    free(acked);
    df_unmount();
    df_mnt[t][0] = '\0';
}

static void test_leader_disk_full(void **state)
{
    (void)state;
    df_run(0, "dir-disk-full-leader", true);
}

static void test_follower_disk_full(void **state)
{
    (void)state;
    df_run(1, "dir-disk-full-follower", false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader_disk_full),
        cmocka_unit_test(test_follower_disk_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
