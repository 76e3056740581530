/* etcd_cluster.c - a 3-member etcd cluster for side-by-side benchmarks, and its put/get calls. */
#include "etcd_cluster.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

bool etcd_find(char *buf, size_t cap, char *ver, size_t vcap)
{
    char *out = NULL;
    if (h_run("command -v etcd", &out) != 0 || !out || out[0] != '/') {
        free(out);
        return false;
    }
    out[strcspn(out, "\r\n")] = '\0';
    snprintf(buf, cap, "%s", out);
    free(out);
    out = NULL;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "'%s' --version 2>&1", buf);
    if (h_run(cmd, &out) != 0 || !out) {
        free(out);
        return false;
    }
    out[strcspn(out, "\r\n")] = '\0';
    const char *v = strstr(out, "Version: "); /* "etcd Version: 3.4.23" */
    snprintf(ver, vcap, "%s", v ? v + 9 : out);
    free(out);
    return true;
}

static int start_member(struct etcd_cluster *c, int i, const char *initial)
{
    char name[16], data[600], curl[64], purl[64], log[600];
    snprintf(name, sizeof(name), "e%d", i + 1);
    snprintf(data, sizeof(data), "%s/%s", c->dir, name);
    snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", c->client_port[i]);
    snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", c->peer_port[i]);
    snprintf(log, sizeof(log), "%s/%s.log", c->dir, name);
    char *argv[] = {c->bin,
                    "--name",
                    name,
                    "--data-dir",
                    data,
                    "--listen-client-urls",
                    curl,
                    "--advertise-client-urls",
                    curl,
                    "--listen-peer-urls",
                    purl,
                    "--initial-advertise-peer-urls",
                    purl,
                    "--initial-cluster",
                    (char *)initial,
                    "--initial-cluster-token",
                    "dir-bench",
                    "--initial-cluster-state",
                    "new",
                    "--logger",
                    "zap",
                    "--log-level",
                    "warn",
                    NULL};
    c->pid[i] = h_spawn(argv, log);
    return c->pid[i] > 0 ? 0 : -1;
}

static uint64_t deadline_ms(unsigned timeout_ms)
{
    return h_now_ms() + timeout_ms;
}

/* Ready when the member answers a put (which needs a leader and a quorum). */
static int wait_member(struct etcd_cluster *c, int i, uint64_t deadline, struct strata_err *e)
{
    for (;;) {
        struct strata_err pe = {0};
        struct etcd_http *h = NULL;
        int rc = etcd_http_open("127.0.0.1", c->client_port[i], 1000, &h, &pe);
        if (!rc)
            rc = etcd_put(h, "dir-bench/ready", 15, "1", 1, &pe);
        etcd_http_close(h);
        if (!rc)
            return 0;
        if (!h_alive(c->pid[i]))
            return strata_err_set(e, STRATA_EUNAVAIL, "etcd member e%d exited (see %s/e%d.log)",
                                  i + 1, c->dir, i + 1);
        if (h_now_ms() > deadline)
            return strata_err_set(e, STRATA_ETIMEDOUT, "etcd member e%d not ready: %s", i + 1,
                                  pe.msg);
        usleep(50 * 1000); /* polling interval of a readiness check, not synchronisation */
    }
}

int etcd_cluster_start(struct etcd_cluster *c, const char *bin, unsigned timeout_ms,
                       struct strata_err *e)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->bin, sizeof(c->bin), "%s", bin);
    const char *dir = h_tmpdir("etcd");
    if (!dir)
        return strata_err_set(e, STRATA_EIO, "cannot create a temporary directory");
    snprintf(c->dir, sizeof(c->dir), "%s", dir);
    char *initial = c->initial;
    for (int i = 0; i < ETCD_MEMBERS; i++) {
        c->client_port[i] = h_free_port();
        c->peer_port[i] = h_free_port();
        if (c->client_port[i] <= 0 || c->peer_port[i] <= 0)
            return strata_err_set(e, STRATA_EIO, "no free port");
        size_t l = strlen(initial);
        snprintf(initial + l, sizeof(c->initial) - l, "%se%d=http://127.0.0.1:%d", i ? "," : "",
                 i + 1, c->peer_port[i]);
    }
    for (int i = 0; i < ETCD_MEMBERS; i++)
        if (start_member(c, i, initial) != 0)
            return strata_err_set(e, STRATA_EIO, "cannot start %s", bin);

    for (int i = 0; i < ETCD_MEMBERS; i++) {
        int rc = wait_member(c, i, deadline_ms(timeout_ms), e);
        if (rc)
            return rc;
    }
    return 0;
}

void etcd_cluster_stop(struct etcd_cluster *c)
{
    for (int i = 0; i < ETCD_MEMBERS; i++)
        if (c->pid[i] > 0) {
            h_stop(c->pid[i], 5000);
            c->pid[i] = 0;
        }
}

/* The decimal string value of "field":"..." in a JSON reply, or 0. */
static unsigned long long json_u64_field(const char *js, const char *field)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", field);
    const char *p = strstr(js, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

int etcd_cluster_leader(struct etcd_cluster *c, int *leader, struct strata_err *e)
{
    for (int i = 0; i < ETCD_MEMBERS; i++) {
        if (c->pid[i] <= 0)
            continue;
        struct etcd_http *h = NULL;
        int status = 0;
        const char *resp = NULL;
        int rc = etcd_http_open("127.0.0.1", c->client_port[i], 1000, &h, e);
        if (!rc)
            rc = etcd_http_post(h, "/v3/maintenance/status", "{}", 2, &status, &resp, NULL, e);
        bool is_leader = false;
        if (!rc && status == 200) {
            unsigned long long self = json_u64_field(resp, "member_id");
            unsigned long long lead = json_u64_field(resp, "leader");
            is_leader = self && self == lead;
        }
        etcd_http_close(h);
        if (is_leader) {
            *leader = i;
            return 0;
        }
    }
    return strata_err_set(e, STRATA_EUNAVAIL, "no etcd member reports itself leader");
}

void etcd_cluster_kill(struct etcd_cluster *c, int i)
{
    if (c->pid[i] > 0)
        h_kill9(c->pid[i]);
    c->pid[i] = 0;
}

int etcd_cluster_restart(struct etcd_cluster *c, int i, unsigned timeout_ms, struct strata_err *e)
{
    /* With a non-empty data dir etcd ignores the --initial-cluster* flags and rejoins. */
    if (c->pid[i] <= 0 && start_member(c, i, c->initial) != 0)
        return strata_err_set(e, STRATA_EIO, "cannot restart etcd member e%d", i + 1);
    return wait_member(c, i, deadline_ms(timeout_ms), e);
}

/* Room for {"key":"<b64>","value":"<b64>"} of small keys and values. */
int etcd_put_body(const void *key, size_t klen, const void *val, size_t vlen, char *body, size_t *n,
                  struct strata_err *e)
{
    if ((klen + vlen) * 2 + 64 > ETCD_BODY_MAX)
        return strata_err_set(e, STRATA_ETOOBIG, "key/value too large");
    *n = (size_t)snprintf(body, ETCD_BODY_MAX, "{\"key\":\"");
    *n += etcd_base64(key, klen, body + *n);
    *n += (size_t)snprintf(body + *n, ETCD_BODY_MAX - *n, "\",\"value\":\"");
    *n += etcd_base64(val, vlen, body + *n);
    *n += (size_t)snprintf(body + *n, ETCD_BODY_MAX - *n, "\"}");
    return 0;
}

int etcd_get_body(const void *key, size_t klen, char *body, size_t *n, struct strata_err *e)
{
    if (klen * 2 + 64 > ETCD_BODY_MAX)
        return strata_err_set(e, STRATA_ETOOBIG, "key too large");
    *n = (size_t)snprintf(body, ETCD_BODY_MAX, "{\"key\":\"");
    *n += etcd_base64(key, klen, body + *n);
    *n += (size_t)snprintf(body + *n, ETCD_BODY_MAX - *n, "\",\"serializable\":true}");
    return 0;
}

int etcd_put_check(int status, const char *resp, struct strata_err *e)
{
    if (status != 200)
        return strata_err_set(e, STRATA_EUNAVAIL, "etcd put: HTTP %d %.120s", status, resp);
    return 0;
}

int etcd_get_check(int status, const char *resp, bool *found, struct strata_err *e)
{
    if (status != 200)
        return strata_err_set(e, STRATA_EUNAVAIL, "etcd range: HTTP %d %.120s", status, resp);
    *found = strstr(resp, "\"kvs\"") != NULL;
    return 0;
}

int etcd_put(struct etcd_http *h, const void *key, size_t klen, const void *val, size_t vlen,
             struct strata_err *e)
{
    char body[ETCD_BODY_MAX];
    size_t n;
    int status = 0;
    const char *resp;
    int rc = etcd_put_body(key, klen, val, vlen, body, &n, e);
    if (!rc)
        rc = etcd_http_post(h, "/v3/kv/put", body, n, &status, &resp, NULL, e);
    return rc ? rc : etcd_put_check(status, resp, e);
}

int etcd_get(struct etcd_http *h, const void *key, size_t klen, bool *found, struct strata_err *e)
{
    char body[ETCD_BODY_MAX];
    size_t n;
    int status = 0;
    const char *resp;
    int rc = etcd_get_body(key, klen, body, &n, e);
    if (!rc)
        rc = etcd_http_post(h, "/v3/kv/range", body, n, &status, &resp, NULL, e);
    return rc ? rc : etcd_get_check(status, resp, found, e);
}
