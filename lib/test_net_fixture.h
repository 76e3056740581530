/* test_net_fixture.h - helpers shared by the NNG-level unit tests (test_net.c, test_quick.c):
 * ipc URLs in a private temporary directory, and replies deferred through a libuv timer.
 * Header-only and static: each test program is a single file that includes it once. */
#ifndef STRATA_TEST_NET_FIXTURE_H
#define STRATA_TEST_NET_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "server.h"

static char tn_tmp_dir[64];

/* ipc://<private dir>/<name>; four results stay valid at once. */
static const char *test_url(const char *name)
{
    static char buf[4][128];
    static int n;
    char *b = buf[n++ % 4];
    if (tn_tmp_dir[0] == '\0') {
        snprintf(tn_tmp_dir, sizeof(tn_tmp_dir), "/tmp/strata-testnet-XXXXXX");
        assert_non_null(mkdtemp(tn_tmp_dir));
    }
    snprintf(b, 128, "ipc://%s/%s", tn_tmp_dir, name);
    return b;
}

/* cmocka group teardown: remove the directory of test_url. */
static int teardown_all(void **state)
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

struct tn_deferred {
    uv_timer_t t;
    struct strata_req *req;
};

static void tn_deferred_closed(uv_handle_t *h)
{
    free(h->data);
}

static void tn_deferred_fire(uv_timer_t *t)
{
    struct tn_deferred *d = t->data;
    strata_req_reply(d->req, (strata_env *)strata_req_env(d->req)); /* echo */
    uv_close((uv_handle_t *)&d->t, tn_deferred_closed);
}

/* Echo req back from the loop `uv` after ms milliseconds (a handler that replies later). */
static void tn_defer_echo(uv_loop_t *uv, struct strata_req *req, uint64_t ms)
{
    struct tn_deferred *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    d->req = req;
    d->t.data = d;
    uv_timer_init(uv, &d->t);
    uv_timer_start(&d->t, tn_deferred_fire, ms, 0);
}

#endif
