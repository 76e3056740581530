/* test_agent_ctl.c - strata-agentd's control socket, started under umask 000 (in a network
 * namespace of its own, with no connectivity server): the directory it makes is 0755 and the
 * socket 0600, root's; nobody (uid 65534) cannot connect, and once the file is widened its port
 * attach (of the underlay, say) is refused EDENIED naming its uid, and logged; root is served.
 * Before: the socket was 0777 and anyone could attach any interface. Needs root.
 *
 * With no server at --cs, it backs off and says why.
 *
 * Nobody's requests come from a forked child that drops its uid: this process never uses NNG
 * itself (root's request goes through the strata CLI), so the child can. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

#define NOBODY 65534

static char CTL[256], LOG[256];
static pid_t AGENT;

/* Run op(arg) as nobody in a forked child; its one-line answer (static storage). */
static const char *as_nobody(void (*op)(const char *arg, char *out, size_t cap), const char *arg)
{
    static char ans[512];
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        char out[512] = "no uid";
        if (setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0)
            op(arg, out, sizeof(out));
        if (write(fd[1], out, strlen(out)) < 0)
            _exit(1);
        _exit(0); /* no exit handlers: h_cleanup is the parent's */
    }
    close(fd[1]);
    ssize_t n = 0, r;
    while ((r = read(fd[0], ans + n, sizeof(ans) - 1 - (size_t)n)) > 0)
        n += r;
    ans[n > 0 ? n : 0] = '\0';
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    return ans;
}

static void op_connect(const char *path, char *out, size_t cap)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        snprintf(out, cap, "connected");
    else
        snprintf(out, cap, "%s", strerror(errno));
    close(fd);
}

/* A port attach of the namespace's lo through the control socket: "STATUS MESSAGE". */
static void op_attach(const char *path, char *out, size_t cap)
{
    char url[300];
    snprintf(url, sizeof(url), "ipc://%s", path);
    uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x01}, ip[4] = {10, 0, 0, 5};
    Strata__V1__PortAttach pa = STRATA__V1__PORT_ATTACH__INIT;
    pa.vni = 100;
    pa.mac = (ProtobufCBinaryData){6, mac};
    pa.ip = (ProtobufCBinaryData){4, ip};
    pa.plen = 24;
    pa.ifname = (char *)"lo";
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_PORT_ATTACH;
    req.port_attach = &pa;
    struct strata_sclient *c;
    struct strata_err e = {0};
    strata_env *rep = NULL;
    int rc = strata_sclient_open(url, &c, &e);
    if (rc == 0) {
        rc = strata_sclient_call(c, &req, 3000, &rep, &e);
        strata_sclient_close(c);
    }
    if (rc != 0)
        snprintf(out, cap, "call failed: %.400s", e.msg);
    else
        snprintf(out, cap, "%d %.400s", rep->status, rep->message ? rep->message : "");
    strata_msg_free(rep);
}

static bool ctl_open(void *arg)
{
    (void)arg;
    struct stat st;
    return stat(CTL, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void assert_mode(const char *path, unsigned mode)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    if ((st.st_mode & 07777) != mode || st.st_uid != 0)
        fail_msg("%s: mode %04o owner %u, want %04o owner 0", path, (unsigned)(st.st_mode & 07777),
                 (unsigned)st.st_uid, mode);
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return 0; /* the test skips */
    const char *tmp = h_tmpdir("agent-ctl");
    assert_non_null(tmp);
    assert_int_equal(chmod(tmp, 0755), 0); /* nobody may walk to the socket */
    snprintf(CTL, sizeof(CTL), "%s/run/strata/agent.sock", tmp);
    snprintf(LOG, sizeof(LOG), "%s/agent.log", tmp);
    char data[256];
    snprintf(data, sizeof(data), "%s/data", tmp);
    char *argv[] = {"/usr/bin/unshare",
                    "--net",
                    (char *)h_bin("strata-agentd"),
                    "--host",
                    "h9",
                    "--vtep",
                    "192.0.2.9",
                    "--pod",
                    "p1",
                    "--cs",
                    "tcp://127.0.0.1:1", /* none: the control socket serves regardless */
                    "--ctl",
                    CTL,
                    "--data-dir",
                    data,
                    NULL};
    mode_t old = umask(0); /* the finding: a daemon started under umask 000 */
    AGENT = h_spawn(argv, LOG);
    umask(old);
    assert_true(AGENT > 0);
    if (!h_wait_until(ctl_open, NULL, 10000))
        fail_msg("strata-agentd did not open %s (log %s)", CTL, LOG);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (AGENT <= 0)
        return 0;
    int st = h_stop(AGENT, 10000);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void test_ctl_socket_owner_only(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    assert_mode(CTL, 0600);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", CTL);
    *strrchr(dir, '/') = '\0';
    assert_mode(dir, 0755); /* run/strata, made by the agent */
    *strrchr(dir, '/') = '\0';
    assert_mode(dir, 0755); /* run */

    assert_string_equal(as_nobody(op_connect, CTL), strerror(EACCES));
    char cmd[600], *out = NULL;
    snprintf(cmd, sizeof(cmd), "%s cache show --agent %s", h_bin("strata"), CTL);
    assert_int_equal(h_run(cmd, &out), 0);
    assert_non_null(strstr(out, "0 entries"));
    free(out);

    /* widened (by mistake, or a directory that lets others in): the uid check still refuses */
    assert_int_equal(chmod(CTL, 0777), 0);
    char want[128];
    snprintf(want, sizeof(want),
             "%d local socket: uid 65534 may not use it (only root, its owner, may)",
             STRATA_EDENIED);
    assert_string_equal(as_nobody(op_attach, CTL), want);
    char needle[] = "request refused (#1): local socket: uid 65534";
    char grep[600];
    snprintf(grep, sizeof(grep), "grep -qF '%s' %s", needle, LOG);
    assert_int_equal(h_run(grep, NULL), 0);
}

/* The "next in X s" of each backoff line in the agent's log, in order (at most cap). */
static size_t backoff_waits(double *waits, size_t cap, bool *all_say_why)
{
    FILE *f = fopen(LOG, "r");
    size_t n = 0;
    char line[1024];
    *all_say_why = true;
    while (f != NULL && n < cap && fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, "no connectivity server answers (");
        if (p == NULL)
            continue;
        /* its namespace's lo is down: the connect fails with ENETUNREACH */
        if (strstr(p, "(tcp://127.0.0.1:1: network is unreachable) for ") == NULL)
            *all_say_why = false;
        const char *next = strstr(p, "next in ");
        if (next != NULL)
            waits[n++] = strtod(next + strlen("next in "), NULL);
    }
    if (f != NULL)
        fclose(f);
    return n;
}

static bool backed_off(void *arg)
{
    double waits[8];
    bool why;
    (void)arg;
    return backoff_waits(waits, 8, &why) >= 5;
}

/* With no connectivity server, the agent says why and waits longer each round (issue 24: it
 * logged "failed" every 500 ms forever). */
static void test_backoff_says_why(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    if (!h_wait_until(backed_off, NULL, 15000))
        fail_msg("no 5 backoff lines in %s within 15 s", LOG);
    double waits[8];
    bool why;
    size_t n = backoff_waits(waits, 8, &why);
    assert_true(why);
    /* 0.3 s doubling, each +-25%: the fifth wait is at least 0.75 * 4.8 s */
    for (size_t i = 0; i < n; i++)
        if (waits[i] < 0.2 || waits[i] > 12.5)
            fail_msg("wait %zu is %.1f s", i, waits[i]);
    if (waits[4] < 3.0 * waits[0])
        fail_msg("waits do not grow: %.1f s, then %.1f s", waits[0], waits[4]);
    char grep[600];
    snprintf(grep, sizeof(grep), "grep -c 'failed: failing over' %s", LOG);
    assert_int_not_equal(h_run(grep, NULL), 0); /* the old line, once per attempt, is gone */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_socket_owner_only),
        cmocka_unit_test(test_backoff_says_why),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
