/* test_dirclient.c - the directory client against fake nodes: a dead one, a follower that names
 * the leader, and a leader that loses a write once; writes keep their ids across retries,
 * validation errors are final, deadlines hold. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "dirclient.h"
#include "loop.h"
#include "server.h"

static char tmp_dir[64];
static char url_dead[128], url_follower[128], url_leader[128], url_orphan[128];

/* What the fake nodes saw; the handlers run on the server thread. */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static int follower_hits;
static int leader_writes;
static uint64_t last_client_id, last_req_id;
static int same_ids_repeats; /* writes that arrived with the ids of the previous one */
static int flaky_failed;

static void follower_handler(struct strata_req *req, const strata_env *env, void *arg)
{
    (void)env;
    (void)arg;
    pthread_mutex_lock(&seen_mu);
    follower_hits++;
    pthread_mutex_unlock(&seen_mu);
    strata_req_error(req, STRATA_ENOTLEADER, "not the leader; leader is %s", url_leader);
}

/* A node left without a quorum, as strata-dird answers once it has known no leader for a
 * while. */
static void orphan_handler(struct strata_req *req, const strata_env *env, void *arg)
{
    (void)env;
    (void)arg;
    strata_req_error(req, STRATA_EUNAVAIL,
                     "no leader: the directory has no quorum (node 3 has known no leader for "
                     "2000 ms)");
}

static void leader_handler(struct strata_req *req, const strata_env *env, void *arg)
{
    (void)arg;
    if (env->body_case != STRATA__V1__ENVELOPE__BODY_WRITE) {
        strata_req_reply(req, (strata_env *)env);
        return;
    }
    const Strata__V1__Command *cmd = env->write->cmd;
    const char *name = cmd->domain_create ? cmd->domain_create->name : "";
    pthread_mutex_lock(&seen_mu);
    leader_writes++;
    if (cmd->client_id == last_client_id && cmd->req_id == last_req_id)
        same_ids_repeats++;
    last_client_id = cmd->client_id;
    last_req_id = cmd->req_id;
    bool fail_once = strcmp(name, "flaky") == 0 && !flaky_failed;
    if (fail_once)
        flaky_failed = 1;
    int n = leader_writes;
    pthread_mutex_unlock(&seen_mu);

    if (fail_once) {
        strata_req_error(req, STRATA_EUNAVAIL, "leadership lost");
        return;
    }
    if (strcmp(name, "bad") == 0) {
        strata_req_error(req, STRATA_EINVAL, "bad name \"%s\"", name);
        return;
    }
    strata_env rep = STRATA__V1__ENVELOPE__INIT;
    Strata__V1__WriteReply wr = STRATA__V1__WRITE_REPLY__INIT;
    wr.index = (uint64_t)n;
    rep.body_case = STRATA__V1__ENVELOPE__BODY_WRITE_REPLY;
    rep.write_reply = &wr;
    strata_req_reply(req, &rep);
}

struct nodes {
    pthread_t th;
    uv_loop_t uv;
    struct strata_loop *loop;
    struct strata_server *follower, *leader, *orphan;
};

static void nodes_stop_cb(void *arg)
{
    struct nodes *n = arg;
    strata_server_close(n->follower);
    strata_server_close(n->leader);
    strata_server_close(n->orphan);
    strata_loop_close(n->loop);
}

static void *nodes_main(void *arg)
{
    struct nodes *n = arg;
    uv_run(&n->uv, UV_RUN_DEFAULT);
    return NULL;
}

static void nodes_start(struct nodes *n)
{
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/strata-testdc-XXXXXX");
    assert_non_null(mkdtemp(tmp_dir));
    snprintf(url_dead, sizeof(url_dead), "ipc://%s/dead", tmp_dir);
    snprintf(url_follower, sizeof(url_follower), "ipc://%s/follower", tmp_dir);
    snprintf(url_leader, sizeof(url_leader), "ipc://%s/leader", tmp_dir);
    snprintf(url_orphan, sizeof(url_orphan), "ipc://%s/orphan", tmp_dir);
    uv_loop_init(&n->uv);
    struct strata_err e = {0};
    assert_int_equal(strata_loop_new(&n->uv, &n->loop, &e), 0);
    struct strata_server_opts of = {.url = url_follower}, ol = {.url = url_leader};
    assert_int_equal(strata_server_open(n->loop, &of, follower_handler, NULL, &n->follower, &e), 0);
    assert_int_equal(strata_server_open(n->loop, &ol, leader_handler, NULL, &n->leader, &e), 0);
    struct strata_server_opts oo = {.url = url_orphan};
    assert_int_equal(strata_server_open(n->loop, &oo, orphan_handler, NULL, &n->orphan, &e), 0);
    assert_int_equal(pthread_create(&n->th, NULL, nodes_main, n), 0);
}

static void nodes_stop(struct nodes *n)
{
    assert_int_equal(strata_loop_post(n->loop, nodes_stop_cb, n), 0);
    pthread_join(n->th, NULL);
    assert_int_equal(uv_loop_close(&n->uv), 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
    assert_int_equal(system(cmd), 0);
}

/* A tcp:// URL where nothing listens: a port the kernel gave and took back. */
static void refused_url(char *buf, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    snprintf(buf, n, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
}

static int write_domain(struct strata_dirclient *c, const char *name, unsigned timeout_ms,
                        strata_env **reply, struct strata_err *e)
{
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    Strata__V1__Domain d = STRATA__V1__DOMAIN__INIT;
    d.name = (char *)name;
    cmd.op_case = STRATA__V1__COMMAND__OP_DOMAIN_CREATE;
    cmd.domain_create = &d;
    int rc = strata_dirclient_write(c, &cmd, timeout_ms, reply, e);
    assert_int_not_equal(cmd.client_id, 0);
    assert_int_not_equal(cmd.req_id, 0);
    return rc;
}

static void test_dirclient_rotation(void **state)
{
    (void)state;
    struct nodes n;
    nodes_start(&n);
    char urls[512];
    snprintf(urls, sizeof(urls), "%s, %s,%s", url_dead, url_follower, url_leader);
    struct strata_dirclient *c;
    struct strata_err e = {0};
    assert_int_equal(strata_dirclient_open(urls, &c, &e), 0);
    assert_int_equal(strata_dirclient_nodes(c), 3);
    assert_string_equal(strata_dirclient_node_url(c, 1), url_follower);
    assert_null(strata_dirclient_node_url(c, 3));

    /* Dead node, then the follower's hint, then the leader. */
    strata_env *rep = NULL;
    uint64_t t0 = strata_now_ms();
    int rc = write_domain(c, "d1", 5000, &rep, &e);
    if (rc != 0)
        fail_msg("write: %s", e.msg);
    assert_int_equal(rep->body_case, STRATA__V1__ENVELOPE__BODY_WRITE_REPLY);
    assert_int_equal(rep->write_reply->index, 1);
    strata_msg_free(rep);
    /* nothing listens at the dead node: it costs nothing, not a per-attempt timeout */
    assert_true(strata_now_ms() - t0 < 400);
    assert_int_equal(follower_hits, 1);

    /* The next write starts at the leader directly. */
    assert_int_equal(write_domain(c, "d2", 5000, &rep, &e), 0);
    strata_msg_free(rep);
    assert_int_equal(follower_hits, 1);
    assert_int_equal(same_ids_repeats, 0);

    /* A write lost to a leadership change is retried with the same ids. */
    assert_int_equal(write_domain(c, "flaky", 5000, &rep, &e), 0);
    strata_msg_free(rep);
    assert_int_equal(same_ids_repeats, 1);

    /* A validation error is final: one attempt, the node's code and message. */
    int before = leader_writes;
    rc = write_domain(c, "bad", 5000, &rep, &e);
    assert_int_equal(rc, STRATA_EINVAL);
    assert_null(rep);
    assert_non_null(strstr(e.msg, "bad name"));
    assert_int_equal(leader_writes, before + 1);

    /* Reads rotate the same way; call_node asks one node only. */
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    Strata__V1__Empty empty = STRATA__V1__EMPTY__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_EMPTY;
    req.empty = &empty;
    assert_int_equal(strata_dirclient_call(c, &req, 3000, &rep, &e), 0);
    strata_msg_free(rep);
    assert_int_equal(strata_dirclient_call_node(c, 1, &req, 3000, &rep, &e), STRATA_ENOTLEADER);
    assert_null(rep);
    assert_non_null(strstr(e.msg, url_leader));
    assert_int_equal(strata_dirclient_call_node(c, 0, &req, 200, &rep, &e), STRATA_EUNAVAIL);
    assert_int_equal(strata_dirclient_call_node(c, 7, &req, 200, &rep, &e), STRATA_EINVAL);
    strata_dirclient_close(c);

    char refused_tcp[64];
    refused_url(refused_tcp, sizeof(refused_tcp));
    /* No leader anywhere: a clear error at the deadline. */
    assert_int_equal(strata_dirclient_open(url_follower, &c, &e), 0);
    t0 = strata_now_ms();
    rc = write_domain(c, "d3", 700, &rep, &e);
    uint64_t dt = strata_now_ms() - t0;
    assert_int_equal(rc, STRATA_EUNAVAIL); /* the follower kept saying "not the leader" */
    assert_non_null(strstr(e.msg, "within 700 ms"));
    assert_in_range(dt, 600, 1500);
    strata_dirclient_close(c);

    /* No quorum: one node up that has known no leader for a while, the others down. The
     * operator hears "no leader" at once, not a timeout. */
    char noq[512];
    snprintf(noq, sizeof(noq), "%s,%s,%s", url_orphan, url_dead, refused_tcp);
    assert_int_equal(strata_dirclient_open(noq, &c, &e), 0);
    t0 = strata_now_ms();
    rc = write_domain(c, "d5", 5000, &rep, &e);
    assert_int_equal(rc, STRATA_EUNAVAIL);
    assert_null(rep);
    assert_true(strata_now_ms() - t0 < 500);
    if (strstr(e.msg, "write: no leader: the directory has no quorum (1 of 3 nodes answer") == NULL)
        fail_msg("%s", e.msg);
    strata_dirclient_close(c);

    /* Nothing listening anywhere: a clear error at once, not at the deadline. */
    assert_int_equal(strata_dirclient_open(url_dead, &c, &e), 0);
    t0 = strata_now_ms();
    rc = strata_dirclient_call(c, &req, 5000, &rep, &e);
    assert_int_equal(rc, STRATA_EUNAVAIL);
    assert_true(strata_now_ms() - t0 < 300);
    char want[300];
    snprintf(want, sizeof(want), "%s: no such socket", url_dead);
    assert_string_equal(e.msg, want);
    strata_dirclient_close(c);

    char refused[64], two[256];
    refused_url(refused, sizeof(refused));
    snprintf(two, sizeof(two), "%s,%s", refused, url_dead);
    assert_int_equal(strata_dirclient_open(two, &c, &e), 0);
    t0 = strata_now_ms();
    rc = write_domain(c, "d4", 5000, &rep, &e);
    assert_int_equal(rc, STRATA_EUNAVAIL);
    assert_true(strata_now_ms() - t0 < 300);
    assert_non_null(strstr(e.msg, "no directory node is listening"));
    strata_dirclient_close(c);
    nodes_stop(&n);
}

/* Nothing listens at a tcp:// URL: a connection to it is refused at once. */
static void test_sclient_refused(void **state)
{
    (void)state;
    char url[64];
    refused_url(url, sizeof(url));
    struct strata_sclient *s = NULL;
    struct strata_err e = {0};
    assert_int_equal(strata_sclient_open(url, &s, &e), 0);
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    Strata__V1__Empty empty = STRATA__V1__EMPTY__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_EMPTY;
    req.empty = &empty;
    strata_env *rep = NULL;
    uint64_t t0 = strata_now_ms();
    assert_int_equal(strata_sclient_call(s, &req, 5000, &rep, &e), STRATA_EUNAVAIL);
    assert_true(strata_now_ms() - t0 < 300);
    assert_true(strata_sclient_refused(s));
    char want[128];
    snprintf(want, sizeof(want), "%s: connection refused", url);
    assert_string_equal(e.msg, want);
    strata_sclient_close(s);
}

static void test_dirclient_bad_urls(void **state)
{
    (void)state;
    struct strata_dirclient *c;
    struct strata_err e = {0};
    assert_int_equal(strata_dirclient_open("", &c, &e), STRATA_EINVAL);
    assert_int_equal(strata_dirclient_open(" , ,", &c, &e), STRATA_EINVAL);
    assert_int_equal(strata_dirclient_open(NULL, &c, &e), STRATA_EINVAL);
    /* An unusable URL is reported when first used, as the node's error. */
    assert_int_equal(strata_dirclient_open("bogus://x", &c, &e), 0);
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    Strata__V1__Empty empty = STRATA__V1__EMPTY__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_EMPTY;
    req.empty = &empty;
    strata_env *rep = NULL;
    assert_int_equal(strata_dirclient_call(c, &req, 300, &rep, &e), STRATA_EINVAL);
    strata_dirclient_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dirclient_rotation),
        cmocka_unit_test(test_dirclient_bad_urls),
        cmocka_unit_test(test_sclient_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
