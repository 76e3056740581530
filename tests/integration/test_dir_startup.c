/* test_dir_startup.c - strata-dird's startup checks (issue 24, operator safety): one process per
 * data dir (a lock naming the holder's pid), a data dir bound to its node's id and Raft address
 * (node.conf), every flag checked and every listener bound before anything is written to the data
 * dir, clear bind errors for --raft, error messages with their prefix once, and SIGHUP logged and
 * survived (by strata-csd too, through the shared loop). */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_dir_common.h"

static struct td_cluster C;

/* Wait for a start that must fail; returns its exit status (fails the test if it keeps running). */
static int td_exit_status(pid_t pid)
{
    uint64_t t0 = h_now_ms();
    while (h_alive(pid) && h_now_ms() - t0 < 20000)
        usleep(20000);
    assert_false(h_alive(pid));
    return h_stop(pid, 1000);
}

/* Start node i, expect it to exit non-zero with `needle` in its log (which is emptied first). */
static void start_must_fail(int i, const char *needle)
{
    struct td_node *nd = &C.node[i];
    unlink(nd->log);
    td_start(&C, i);
    int st = td_exit_status(nd->pid);
    nd->pid = 0;
    char *out = NULL;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cat '%s'", nd->log);
    h_run(cmd, &out);
    fprintf(stderr, "node %d refused (status 0x%x): %s", nd->id, st, out ? out : "(no log)\n");
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
    if (td_log_count(nd->log, needle) == 0)
        fail_msg("log %s lacks \"%s\"", nd->log, needle);
    free(out);
}

static bool up_pred(void *arg)
{
    strata_env *r = td_status(arg);
    if (r != NULL)
        strata_msg_free(r);
    return r != NULL;
}

/* Raft's files in a data dir (anything but the lock and node.conf). */
static int raft_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (d == NULL)
        return 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, "dird.lock") == 0 || strcmp(de->d_name, "node.conf") == 0)
            continue;
        fprintf(stderr, "  %s holds %s\n", dir, de->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* A listening TCP socket on 127.0.0.1:port, the test's for the rest of its run. */
static int hold_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static void start_ok(int i)
{
    td_start(&C, i);
    if (!h_wait_until(up_pred, C.node[i].api, 15000))
        fail_msg("node %d did not come up (log %s)", C.node[i].id, C.node[i].log);
}

/* A second process on the same data dir is refused while the first runs, naming its pid; the
 * data dir then refuses another --id or --raft, and a data dir from an older version (no
 * node.conf) starts and gets one. */
static void test_lock_and_owner(void **state)
{
    (void)state;
    td_init(&C, 1, "dstart-lock");
    start_ok(0);
    char pid[32];
    snprintf(pid, sizeof(pid), "pid %d", (int)C.node[0].pid);

    /* node slot 1 on node 0's data dir, other ports: the lock refuses it */
    C.node[1] = C.node[0];
    C.node[1].id = 1;
    snprintf(C.node[1].raft, sizeof(C.node[1].raft), "127.0.0.1:%d", h_free_port());
    snprintf(C.node[1].api, sizeof(C.node[1].api), "%s127.0.0.1:%d", h_tls_scheme(), h_free_port());
    snprintf(C.node[1].log, sizeof(C.node[1].log), "%s/second.log", h_tmpdir("dstart-second"));
    char cluster[512];
    snprintf(cluster, sizeof(cluster), "%s", C.cluster_arg);
    snprintf(C.cluster_arg, sizeof(C.cluster_arg), "1=%s", C.node[1].raft);
    start_must_fail(1, pid);
    assert_true(up_pred(C.node[0].api));
    td_stop(&C, 0);

    /* the owner record: another --raft, then another --id, on node 0's data dir */
    start_must_fail(1, "belongs to node 1 at");
    C.node[1].id = 2;
    snprintf(C.node[1].raft, sizeof(C.node[1].raft), "%s", C.node[0].raft);
    snprintf(C.cluster_arg, sizeof(C.cluster_arg), "2=%s", C.node[1].raft);
    start_must_fail(1, "started as node 2");
    snprintf(C.cluster_arg, sizeof(C.cluster_arg), "%s", cluster);

    /* a data dir made before node.conf existed starts, and gets one */
    char conf[300];
    snprintf(conf, sizeof(conf), "%s/node.conf", C.node[0].dir);
    assert_int_equal(access(conf, F_OK), 0);
    assert_int_equal(unlink(conf), 0);
    start_ok(0);
    assert_int_equal(access(conf, F_OK), 0);
    td_stop(&C, 0);
}

/* An API port in use, a --metrics port in use and a --cluster without this node: refused before
 * anything of Raft's is written, and the same data dir bootstraps once the flags are right. */
static void test_checked_before_writing(void **state)
{
    (void)state;
    td_init(&C, 1, "dstart-check");
    struct td_node *nd = &C.node[0];
    char api[64];
    snprintf(api, sizeof(api), "%s", nd->api);

    int port = h_free_port();
    int held = hold_port(port);
    snprintf(nd->api, sizeof(nd->api), "%s127.0.0.1:%d", h_tls_scheme(), port);
    start_must_fail(0, "strata-dird:");
    assert_int_equal(raft_files(nd->dir), 0);
    snprintf(nd->api, sizeof(nd->api), "%s", api);

    nd->metrics_port = port;
    start_must_fail(0, "metrics");
    assert_int_equal(raft_files(nd->dir), 0);
    nd->metrics_port = 0;

    char cluster[512];
    snprintf(cluster, sizeof(cluster), "%s", C.cluster_arg);
    snprintf(C.cluster_arg, sizeof(C.cluster_arg), "2=%s", C.node[1].raft);
    start_must_fail(0, "does not list this node's --id 1");
    assert_int_equal(raft_files(nd->dir), 0);
    snprintf(C.cluster_arg, sizeof(C.cluster_arg), "%s", cluster);
    close(held);

    start_ok(0);
    assert_int_equal(td_wait_leader(&C, 10000), 1);
    assert_true(raft_files(nd->dir) > 0);
    td_stop(&C, 0);
}

/* --raft on an address that is not local or on a port in use: said so, nothing written. And a
 * malformed --raft says its flag once. */
static void test_raft_bind(void **state)
{
    (void)state;
    td_init(&C, 1, "dstart-raft");
    struct td_node *nd = &C.node[0];
    char raft[32];
    snprintf(raft, sizeof(raft), "%s", nd->raft);

    snprintf(nd->raft, sizeof(nd->raft), "192.0.2.1:7000");
    snprintf(C.cluster_arg, sizeof(C.cluster_arg), "1=%s", nd->raft);
    start_must_fail(0, "not a local address");
    assert_int_equal(raft_files(nd->dir), 0);

    int port = h_free_port();
    int held = hold_port(port);
    snprintf(nd->raft, sizeof(nd->raft), "127.0.0.1:%d", port);
    snprintf(C.cluster_arg, sizeof(C.cluster_arg), "1=%s", nd->raft);
    start_must_fail(0, "address in use");
    assert_int_equal(raft_files(nd->dir), 0);
    close(held);

    snprintf(nd->raft, sizeof(nd->raft), "127.0.0.1:x");
    start_must_fail(0, "--raft: bad address");
    assert_int_equal(td_log_count(nd->log, "--raft: --raft"), 0);

    snprintf(nd->raft, sizeof(nd->raft), "%s", raft);
    snprintf(C.cluster_arg, sizeof(C.cluster_arg), "1=%s", nd->raft);
    start_ok(0);
    td_stop(&C, 0);
}

/* SIGHUP is logged and survived, by strata-dird and strata-csd. */
static void test_sighup(void **state)
{
    (void)state;
    td_init(&C, 1, "dstart-hup");
    start_ok(0);
    assert_int_equal(td_wait_leader(&C, 10000), 1);
    char cs_url[64], cs_log[300];
    snprintf(cs_log, sizeof(cs_log), "%s/csd.log", h_tmpdir("dstart-csd"));
    pid_t cs = td_csd_start(C.node[0].api, cs_url, sizeof(cs_url), cs_log, NULL);

    assert_int_equal(kill(C.node[0].pid, SIGHUP), 0);
    assert_int_equal(kill(cs, SIGHUP), 0);
    usleep(300000);
    assert_true(h_alive(C.node[0].pid));
    assert_true(h_alive(cs));
    assert_true(up_pred(C.node[0].api));
    assert_true(td_csd_answers(cs_url));
    assert_int_equal(td_log_count(C.node[0].log, "SIGHUP: ignored"), 1);
    assert_int_equal(td_log_count(cs_log, "SIGHUP: ignored"), 1);

    int st = h_stop(cs, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    td_stop(&C, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_and_owner),
        cmocka_unit_test(test_checked_before_writing),
        cmocka_unit_test(test_raft_bind),
        cmocka_unit_test(test_sighup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    h_cleanup();
    return rc;
}
