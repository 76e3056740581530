/* test_net_fixture.h - helpers for the transport-level unit tests (test_net.c): ipc or tcp
 * test URLs, a loop to run, and replies deferred through a libuv
 * timer.
 * Header-only and static inline: each test program is a single file that includes it once and
 * uses what it needs. */
#ifndef STRATA_TEST_NET_FIXTURE_H
#define STRATA_TEST_NET_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "loop.h"
#include "server.h"

static char tn_tmp_dir[64];
/* Set by a test program to run its tests over tcp:// (the server's loop transport) instead of
 * ipc:// (NNG's transport). */
static bool tn_tcp;

/* A loopback port free at the time of asking, one per name for the program's lifetime. */
static inline int tn_port(const char *name)
{
    static char names[64][32];
    static int ports[64], n;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return ports[i];
    assert_true(n < 64);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    snprintf(names[n], sizeof(names[n]), "%s", name);
    ports[n] = ntohs(sa.sin_port);
    return ports[n++];
}

/* ipc://<private dir>/<name>, or tcp://127.0.0.1:<port of name> when tn_tcp; four results stay
 * valid at once. */
static inline const char *test_url(const char *name)
{
    static char buf[4][128];
    static int n;
    char *b = buf[n++ % 4];
    if (tn_tcp) {
        snprintf(b, 128, "tcp://127.0.0.1:%d", tn_port(name));
        return b;
    }
    if (tn_tmp_dir[0] == '\0') {
        snprintf(tn_tmp_dir, sizeof(tn_tmp_dir), "/tmp/strata-testnet-XXXXXX");
        assert_non_null(mkdtemp(tn_tmp_dir));
    }
    snprintf(b, 128, "ipc://%s/%s", tn_tmp_dir, name);
    return b;
}

/* cmocka group teardown: remove the directory of test_url. */
static inline int teardown_all(void **state)
{
    (void)state;
    if (tn_tmp_dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tn_tmp_dir);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

/* A libuv loop and its strata_loop bridge, for a test that runs the loop itself. */
static inline struct strata_loop *tn_loop_open(uv_loop_t *uv)
{
    uv_loop_init(uv);
    struct strata_loop *l = NULL;
    struct strata_err e = {0};
    if (strata_loop_new(uv, &l, &e) != 0)
        fail_msg("strata_loop_new: %s", e.msg);
    return l;
}

struct tn_deferred {
    uv_timer_t t;
    struct strata_req *req;
};

static inline void tn_deferred_closed(uv_handle_t *h)
{
    free(h->data);
}

static inline void tn_deferred_fire(uv_timer_t *t)
{
    struct tn_deferred *d = t->data;
    strata_req_reply(d->req, (strata_env *)strata_req_env(d->req)); /* echo */
    uv_close((uv_handle_t *)&d->t, tn_deferred_closed);
}

/* Echo req back from the loop `uv` after ms milliseconds (a handler that replies later). */
static inline void tn_defer_echo(uv_loop_t *uv, struct strata_req *req, uint64_t ms)
{
    struct tn_deferred *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    d->req = req;
    d->t.data = d;
    uv_timer_init(uv, &d->t);
    uv_timer_start(&d->t, tn_deferred_fire, ms, 0);
}

#endif
