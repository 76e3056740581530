/* test_server_ipc.c - local sockets (ipc://, abstract://) serve their owner only (server.h,
 * ipc_any_user): under umask 0 the socket file is 0600 and owned by the server's euid, another
 * uid cannot connect, and when the file is widened (chmod 0777) its requests are refused with
 * STRATA_EDENIED naming the uid, before any handler sees them, while root and the owner are
 * served. Before: the file was 0777 under umask 0 and anyone could attach an interface through an
 * agent's control socket.
 *
 * Other uids are helper processes forked at the start of main(), before NNG has started a thread
 * (a forked copy of a process whose NNG threads are running cannot use NNG), each dropped to its
 * uid and driven over a pipe by one-line commands. Needs root (skipped otherwise). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "client.h"
#include "fsutil.h"
#include "loop.h"
#include "server.h"

#define NOBODY 65534
#define NOBODY2 65533 /* a second uid that is neither root nor the server's */

/* ------------------------------------------------------------------ an echo server on a thread */

struct srv_thread {
    pthread_t th;
    uv_loop_t uv;
    struct strata_loop *loop;
    struct strata_server *srv;
    bool running;
    int handled;
    struct strata_server_stats stats; /* copied at stop */
};
/* The servers of this process, static: a failed test leaves its server running until the
 * group's teardown stops it. */
static struct srv_thread SRV[3];

static void echo_handler(struct strata_req *req, const strata_env *env, void *arg)
{
    struct srv_thread *t = arg;
    t->handled++;
    strata_req_reply(req, (strata_env *)env);
}

static void *srv_thread_main(void *arg)
{
    struct srv_thread *t = arg;
    uv_run(&t->uv, UV_RUN_DEFAULT);
    return NULL;
}

/* Serve opts on a thread of its own; returns 0 or the open's error (e). */
static int srv_thread_start(struct srv_thread *t, const struct strata_server_opts *opts,
                            struct strata_err *e)
{
    memset(t, 0, sizeof(*t));
    uv_loop_init(&t->uv);
    int rc = strata_loop_new(&t->uv, &t->loop, e);
    if (rc == 0 && (rc = strata_server_open(t->loop, opts, echo_handler, t, &t->srv, e)) != 0)
        strata_loop_close(t->loop);
    if (rc != 0) {
        uv_run(&t->uv, UV_RUN_DEFAULT);
        uv_loop_close(&t->uv);
        return rc;
    }
    if (pthread_create(&t->th, NULL, srv_thread_main, t) != 0)
        abort();
    t->running = true;
    return 0;
}

static void srv_thread_stop_cb(void *arg)
{
    struct srv_thread *t = arg;
    strata_server_stats(t->srv, &t->stats);
    strata_server_close(t->srv);
    strata_loop_close(t->loop);
}

static void srv_thread_stop(struct srv_thread *t)
{
    if (!t->running)
        return;
    t->running = false;
    if (strata_loop_post(t->loop, srv_thread_stop_cb, t) != 0)
        abort();
    pthread_join(t->th, NULL);
    uv_loop_close(&t->uv);
}

/* One echo request with `identity`; "reply STATUS MESSAGE" or "error RC MESSAGE" into out. */
static void echo_call(const char *url, const char *identity, char *out, size_t cap)
{
    Strata__V1__Empty empty = STRATA__V1__EMPTY__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.identity = (char *)identity;
    req.body_case = STRATA__V1__ENVELOPE__BODY_EMPTY;
    req.empty = &empty;
    struct strata_sclient *c;
    struct strata_err e = {0};
    strata_env *rep = NULL;
    int rc = strata_sclient_open(url, &c, &e);
    if (rc == 0) {
        rc = strata_sclient_call(c, &req, 3000, &rep, &e);
        strata_sclient_close(c);
    }
    if (rc != 0)
        snprintf(out, cap, "error %d %s", rc, e.msg);
    else
        snprintf(out, cap, "reply %d %s", rep->status, rep->message ? rep->message : "");
    strata_msg_free(rep);
}

/* ------------------------------------------------------------------ helpers under other uids */

struct helper {
    pid_t pid;
    FILE *to, *from;
};
static struct helper H[2]; /* NOBODY, NOBODY2 */

/* Runs one command, writing a one-line answer:
 *   connect PATH  a plain connect(2) to the socket file: "ok" or "errno N"
 *   call URL      echo_call's answer
 *   serve URL     an echo server of this uid under umask 0: "ok" or "error MESSAGE"
 *   stop          stop it: "ok HANDLED DENIED" */
static void helper_cmd(char *line, FILE *out, struct srv_thread *srv, bool *serving)
{
    char ans[512];
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "connect ", 8) == 0) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", line + 8);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            snprintf(ans, sizeof(ans), "ok");
        else
            snprintf(ans, sizeof(ans), "errno %d", errno);
        close(fd);
    } else if (strncmp(line, "call ", 5) == 0) {
        echo_call(line + 5, "helper", ans, sizeof(ans));
    } else if (strncmp(line, "serve ", 6) == 0 && !*serving) {
        struct strata_server_opts o = {.url = line + 6, .contexts = 4};
        struct strata_err e = {0};
        if (srv_thread_start(srv, &o, &e) == 0) {
            *serving = true;
            snprintf(ans, sizeof(ans), "ok");
        } else {
            snprintf(ans, sizeof(ans), "error %.400s", e.msg);
        }
    } else if (strcmp(line, "stop") == 0 && *serving) {
        srv_thread_stop(srv);
        *serving = false;
        snprintf(ans, sizeof(ans), "ok %d %llu", srv->handled,
                 (unsigned long long)srv->stats.denied);
    } else {
        snprintf(ans, sizeof(ans), "what? %.400s", line);
    }
    fprintf(out, "%s\n", ans);
    fflush(out);
}

static void helper_main(uid_t uid, FILE *in, FILE *out)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    umask(0);
    bool ok = setgroups(0, NULL) == 0 && setgid(uid) == 0 && setuid(uid) == 0;
    struct srv_thread *srv = &SRV[0];
    bool serving = false;
    char line[512];
    while (fgets(line, sizeof(line), in) != NULL) {
        if (!ok) {
            fprintf(out, "nouid\n");
            fflush(out);
            continue;
        }
        helper_cmd(line, out, srv, &serving);
    }
    srv_thread_stop(srv);
    _exit(0); /* no exit handlers: LeakSanitizer cannot trace a process that changed its uid */
}

static void helpers_start(void)
{
    const uid_t uids[2] = {NOBODY, NOBODY2};
    for (int i = 0; i < 2; i++) {
        int down[2], up[2];
        if (pipe(down) != 0 || pipe(up) != 0)
            abort();
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
            abort();
        if (pid == 0) {
            for (int j = 0; j < i; j++) {
                fclose(H[j].to);
                fclose(H[j].from);
            }
            close(down[1]);
            close(up[0]);
            helper_main(uids[i], fdopen(down[0], "r"), fdopen(up[1], "w"));
        }
        close(down[0]);
        close(up[1]);
        H[i].pid = pid;
        H[i].to = fdopen(down[1], "w");
        H[i].from = fdopen(up[0], "r");
    }
}

static void helpers_stop(void)
{
    for (int i = 0; i < 2; i++) {
        if (H[i].pid <= 0)
            continue;
        fclose(H[i].to);
        fclose(H[i].from);
        int st;
        waitpid(H[i].pid, &st, 0);
        H[i].pid = 0;
    }
}

/* Send helper i a command; its answer (static storage, overwritten by the next call). */
static const char *helper(int i, const char *fmt, ...)
{
    static char ans[512];
    va_list ap;
    va_start(ap, fmt);
    vfprintf(H[i].to, fmt, ap);
    va_end(ap);
    fputc('\n', H[i].to);
    fflush(H[i].to);
    if (fgets(ans, sizeof(ans), H[i].from) == NULL)
        fail_msg("helper %d is gone", i);
    ans[strcspn(ans, "\n")] = '\0';
    return ans;
}

/* ------------------------------------------------------------------ fixtures */

static char tmp_dir[64];
static mode_t saved_umask;

static int setup_all(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/strata-ipc-XXXXXX");
    if (mkdtemp(tmp_dir) == NULL || chmod(tmp_dir, 0755) != 0) /* the others may look inside */
        return -1;
    saved_umask = umask(0); /* the finding: a daemon started under umask 000 */
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    umask(saved_umask);
    for (size_t i = 0; i < sizeof(SRV) / sizeof(SRV[0]); i++)
        srv_thread_stop(&SRV[i]);
    helpers_stop();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void need_root(void)
{
    if (geteuid() != 0)
        skip(); /* the helpers cannot take other uids */
}

static void assert_socket(const char *path, unsigned mode, uid_t owner)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    if ((st.st_mode & 07777) != mode || st.st_uid != owner)
        fail_msg("%s: mode %04o owner %u, want %04o owner %u", path, (unsigned)(st.st_mode & 07777),
                 (unsigned)st.st_uid, mode, (unsigned)owner);
}

/* An answer "reply STATUS MESSAGE": the status, the message in msg. */
static int reply_status(const char *ans, char *msg, size_t cap)
{
    int status, at = 0;
    if (sscanf(ans, "reply %d %n", &status, &at) != 1)
        fail_msg("no reply: %s", ans);
    snprintf(msg, cap, "%s", ans + at);
    return status;
}

/* ------------------------------------------------------------------ tests */

/* A root daemon's socket under umask 0: 0600, root's; nobody cannot connect; widened, nobody's
 * requests are refused by uid before the handler; root is served throughout. */
static void test_root_server_owner_only(void **state)
{
    (void)state;
    need_root();
    char path[128], url[136], ans[512], msg[512];
    snprintf(path, sizeof(path), "%s/root.sock", tmp_dir);
    snprintf(url, sizeof(url), "ipc://%s", path);
    struct srv_thread *t = &SRV[0];
    struct strata_server_opts o = {.url = url, .contexts = 4};
    struct strata_err e = {0};
    if (srv_thread_start(t, &o, &e) != 0)
        fail_msg("server: %s", e.msg);
    assert_socket(path, 0600, 0);
    assert_string_equal(helper(0, "connect %s", path), "errno 13"); /* EACCES: the mode */

    echo_call(url, "root", ans, sizeof(ans));
    assert_int_equal(reply_status(ans, msg, sizeof(msg)), 0);

    /* Past the mode (a chmod, or a directory that lets others in), the uid check refuses. */
    assert_int_equal(chmod(path, 0777), 0);
    assert_int_equal(reply_status(helper(0, "call %s", url), msg, sizeof(msg)), STRATA_EDENIED);
    assert_string_equal(msg, "local socket: uid 65534 may not use it (only root, its owner, may)");
    assert_int_equal(reply_status(helper(1, "call %s", url), msg, sizeof(msg)), STRATA_EDENIED);
    assert_non_null(strstr(msg, "uid 65533"));

    echo_call(url, "root", ans, sizeof(ans));
    assert_int_equal(reply_status(ans, msg, sizeof(msg)), 0);
    srv_thread_stop(t);
    assert_int_equal(t->handled, 2); /* root's two: the refused never reached the handler */
    assert_int_equal(t->stats.denied, 2);
    assert_int_equal(t->stats.requests, 4);
    assert_int_equal(access(path, F_OK), -1); /* NNG removed its socket file */
}

/* A daemon running as nobody: its own uid and root are served, a third uid is not. */
static void test_owner_uid_server(void **state)
{
    (void)state;
    need_root();
    char dir[96], path[128], url[136], ans[512], msg[512];
    snprintf(dir, sizeof(dir), "%s/nobody", tmp_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
    snprintf(path, sizeof(path), "%s/ctl.sock", dir);
    snprintf(url, sizeof(url), "ipc://%s", path);
    assert_string_equal(helper(0, "serve %s", url), "ok");
    assert_socket(path, 0600, NOBODY);

    assert_int_equal(reply_status(helper(0, "call %s", url), msg, sizeof(msg)), 0);
    echo_call(url, "root", ans, sizeof(ans));
    assert_int_equal(reply_status(ans, msg, sizeof(msg)), 0);
    assert_string_equal(helper(1, "connect %s", path), "errno 13");
    assert_int_equal(chmod(path, 0777), 0);
    assert_int_equal(reply_status(helper(1, "call %s", url), msg, sizeof(msg)), STRATA_EDENIED);
    assert_string_equal(msg, "local socket: uid 65533 may not use it (only root and uid 65534, "
                             "its owner, may)");
    assert_string_equal(helper(0, "stop"), "ok 2 1");
}

/* abstract:// has no file and so no mode: the uid check alone keeps others out. */
static void test_abstract_owner_only(void **state)
{
    (void)state;
    need_root();
    char url[96], ans[512], msg[512];
    snprintf(url, sizeof(url), "abstract://strata-test-ipc-%d", (int)getpid());
    struct srv_thread *t = &SRV[1];
    struct strata_server_opts o = {.url = url, .contexts = 4};
    struct strata_err e = {0};
    if (srv_thread_start(t, &o, &e) != 0)
        fail_msg("server: %s", e.msg);
    assert_int_equal(reply_status(helper(0, "call %s", url), msg, sizeof(msg)), STRATA_EDENIED);
    echo_call(url, "root", ans, sizeof(ans));
    assert_int_equal(reply_status(ans, msg, sizeof(msg)), 0);
    srv_thread_stop(t);
    assert_int_equal(t->handled, 1);
    assert_int_equal(t->stats.denied, 1);
}

/* ipc_any_user serves everyone (0666, no uid check), and only on local sockets. */
static void test_any_user(void **state)
{
    (void)state;
    need_root();
    char path[128], url[136], msg[512];
    snprintf(path, sizeof(path), "%s/any.sock", tmp_dir);
    snprintf(url, sizeof(url), "ipc://%s", path);
    struct srv_thread *t = &SRV[2];
    struct strata_server_opts o = {.url = url, .contexts = 4, .ipc_any_user = true};
    struct strata_err e = {0};
    if (srv_thread_start(t, &o, &e) != 0)
        fail_msg("server: %s", e.msg);
    assert_socket(path, 0666, 0);
    assert_int_equal(reply_status(helper(0, "call %s", url), msg, sizeof(msg)), 0);
    srv_thread_stop(t);
    assert_int_equal(t->handled, 1);
    assert_int_equal(t->stats.denied, 0);

    struct strata_server_opts tcp = {.url = "tcp://127.0.0.1:1", .ipc_any_user = true};
    struct strata_server *s = NULL;
    uv_loop_t uv;
    uv_loop_init(&uv);
    struct strata_loop *l = NULL;
    assert_int_equal(strata_loop_new(&uv, &l, &e), 0);
    assert_int_equal(strata_server_open(l, &tcp, echo_handler, t, &s, &e), STRATA_EINVAL);
    strata_loop_close(l);
    uv_run(&uv, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&uv), 0);
}

/* The directory a daemon makes for its control socket (strata_mkdir_parent, as strata-agentd and
 * strata-gwd call it) is 0755 under umask 0, never wider. */
static void test_ctl_dir_mode(void **state)
{
    (void)state;
    char sock[128], dir[96];
    snprintf(dir, sizeof(dir), "%s/run/strata", tmp_dir);
    snprintf(sock, sizeof(sock), "%s/agent-h1.sock", dir);
    struct strata_err e = {0};
    assert_int_equal(strata_mkdir_parent(sock, 0755, &e), 0);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    helpers_start(); /* before NNG starts any thread */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_server_owner_only), cmocka_unit_test(test_owner_uid_server),
        cmocka_unit_test(test_abstract_owner_only),    cmocka_unit_test(test_any_user),
        cmocka_unit_test(test_ctl_dir_mode),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
