/* agent_main.c - strata-agentd: flags, startup (reconcile the kernel, restore ports, register at
 * the connectivity server), the miss socket on the loop, and clean shutdown on SIGTERM (which
 * leaves the kernel's entries in place so traffic keeps flowing across a restart). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agentd.h"
#include "flags.h"
#include "log.h"

static struct agentd g_d;

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void on_overrun_resync(struct agentd *d)
{
    /* Notifications were lost: re-dump the kernel and re-resolve everything held. */
    d->a.c.overruns++;
    LOG_WARN("netlink overrun (ENOBUFS): full resync");
    size_t n;
    uint32_t *v = agent_port_vnis(d, &n);
    struct strata_err e;
    if (v != NULL && agent_reconcile(&d->a, v, n, &e) != 0)
        LOG_WARN("resync: %s", e.msg);
    free(v);
}

static void on_miss(void *arg, const struct agent_dp_miss *m, bool overrun)
{
    struct agentd *d = arg;
    if (overrun) {
        on_overrun_resync(d);
        return;
    }
    struct agent_vn *vn = agent_vn_find(&d->a, m->vni);
    if (vn == NULL || vn->ports == 0)
        return; /* a device being torn down */
    struct agent_key k;
    if (m->kind == 'i')
        agent_key_ip(&k, m->vni, &m->ip);
    else
        agent_key_mac(&k, m->vni, m->mac);
    agent_miss_handle(&d->a, &k, strata_now_us());
}

static void on_miss_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct agentd *d = h->data;
    struct strata_err e;
    if (status < 0)
        return;
    if (agent_dp_kernel_miss_read(d->kdp, on_miss, d, &e) != 0)
        LOG_WARN("miss socket: %s", e.msg);
}

static void on_registered(void *arg)
{
    agent_port_reregister(arg);
}

static void on_signal(void *arg)
{
    struct agentd *d = arg;
    if (d->stopping)
        return;
    d->stopping = true;
    LOG_INFO("SIGTERM: stopping (kernel entries stay)");
    uv_poll_stop(&d->miss_poll);
    uv_close((uv_handle_t *)&d->miss_poll, NULL);
    agent_port_close(d); /* parked attaches are answered before the servers go */
    agent_csd_close(d->csd);
    if (d->srv != NULL) {
        strata_server_close(d->srv);
        d->srv = NULL;
    }
    if (d->metrics != NULL) {
        strata_metrics_close(d->metrics);
        d->metrics = NULL;
    }
    strata_loop_close(d->loop);
}

static uint64_t now_ms(void)
{
    return strata_now_ms();
}

static int check_flags(struct agentd *d, const char *vtep, struct strata_err *e)
{
    if (strata_name_check(d->host, "--host", e) != 0 || strata_name_check(d->pod, "--pod", e) != 0)
        return e->code;
    struct strata_err pe;
    if (strata_ip_parse(vtep, &d->vtep, &pe) != 0)
        return strata_err_set(e, STRATA_EINVAL, "--vtep: %s", pe.msg);
    if (d->underlay != NULL && (d->underlay[0] == '\0' || strlen(d->underlay) >= IF_NAMESIZE))
        return strata_err_set(e, STRATA_EINVAL, "--underlay-dev: bad interface name");
    return 0;
}

int main(int argc, char **argv)
{
    struct agentd *d = &g_d;
    struct strata_err e = {0};
    const char *vtep = NULL;
    d->negative_ttl_ms = 1000;
    const struct strata_flag flags[] = {
        {"host", STRATA_FLAG_STR, &d->host, "NAME", "this host's id", true, 0, 0},
        {"vtep", STRATA_FLAG_STR, &vtep, "IP", "this host's VTEP (underlay) address", true, 0, 0},
        {"pod", STRATA_FLAG_STR, &d->pod, "POD", "the pod this host is in", true, 0, 0},
        {"cs", STRATA_FLAG_STR, &d->cs_urls, "URL[,URL...]",
         "the pod's connectivity servers (failover in order)", true, 0, 0},
        {"ctl", STRATA_FLAG_STR, &d->ctl, "PATH",
         "control socket (default /run/strata/agent-HOST.sock)", false, 0, 0},
        {"metrics", STRATA_FLAG_STR, &d->metrics_addr, "HOST:PORT",
         "serve Prometheus metrics on http://HOST:PORT/metrics", false, 0, 0},
        {"underlay-dev", STRATA_FLAG_STR, &d->underlay, "IF",
         "underlay device for the VXLAN devices (default: routing decides)", false, 0, 0},
        {"negative-ttl-ms", STRATA_FLAG_U64, &d->negative_ttl_ms, "MS",
         "how long a negative answer is remembered when the server names no TTL", false, 1,
         3600000},
        {"mtu", STRATA_FLAG_U64, &d->mtu, "BYTES",
         "MTU of the VXLAN and bridge devices (0 = kernel default)", false, 68, 65535},
        {"data-dir", STRATA_FLAG_STR, &d->data_dir, "DIR",
         "where the ports file lives (default /var/lib/strata/agent-HOST)", false, 0, 0},
        STRATA_FLAGS_END,
    };
    int argi = 1;
    int rc = strata_flags_parse(flags, argc, argv, &argi, &e);
    if (rc == STRATA_ENOTFOUND) {
        printf("usage: strata-agentd [flags]\n");
        strata_flags_usage(stdout, flags);
        return 0;
    }
    if (rc == 0 && argi < argc)
        rc = strata_err_set(&e, STRATA_EINVAL, "unexpected argument '%s'", argv[argi]);
    if (rc == 0)
        rc = check_flags(d, vtep, &e);
    if (rc != 0) {
        fprintf(stderr, "strata-agentd: %s\n", e.msg);
        strata_flags_usage(stderr, flags);
        return 2;
    }
    char comp[80], ctl[PATH_MAX], data[PATH_MAX];
    snprintf(comp, sizeof(comp), "agentd/%s", d->host);
    strata_log_init(comp, -1);
    signal(SIGPIPE, SIG_IGN);
    if (d->ctl == NULL) {
        snprintf(ctl, sizeof(ctl), "/run/strata/agent-%s.sock", d->host);
        d->ctl = ctl;
    }
    if (d->data_dir == NULL) {
        snprintf(data, sizeof(data), "/var/lib/strata/agent-%s", d->host);
        d->data_dir = data;
    }
    char ctldir[PATH_MAX];
    snprintf(ctldir, sizeof(ctldir), "%s", d->ctl);
    char *slash = strrchr(ctldir, '/');
    if (slash != NULL && slash != ctldir) {
        *slash = '\0';
        (void)mkdir_p(ctldir);
    }
    if (mkdir_p(d->data_dir) != 0) {
        fprintf(stderr, "strata-agentd: --data-dir %s: %s\n", d->data_dir, strerror(errno));
        return 1;
    }
    snprintf(d->state_path, sizeof(d->state_path), "%s/ports", d->data_dir);

    static uv_loop_t uv;
    uv_loop_init(&uv);
    d->uv = &uv;
    struct agent_dp_kernel_opts ko = {
        .vtep = d->vtep, .underlay_dev = d->underlay, .mtu = (uint32_t)d->mtu};
    struct agent_resolver none = {0};
    if (strata_loop_new(&uv, &d->loop, &e) != 0 || agent_dp_kernel_new(&ko, &d->kdp, &e) != 0 ||
        agent_init(&d->a, agent_dp_kernel(d->kdp), none, &d->vtep, (uint32_t)d->negative_ttl_ms,
                   now_ms) != 0) {
        fprintf(stderr, "strata-agentd: %s\n", e.msg[0] ? e.msg : "out of memory");
        return 1;
    }
    struct agent_csd_opts co = {.host = d->host,
                                .pod = d->pod,
                                .urls = d->cs_urls,
                                .vtep = d->vtep,
                                .call_timeout_ms = 500,
                                .poll_wait_ms = 1000};
    if (agent_csd_new(d->loop, &d->a, &co, on_registered, d, &d->csd, &e) != 0) {
        fprintf(stderr, "strata-agentd: %s\n", e.msg);
        return 2;
    }
    d->a.res = agent_csd_resolver(d->csd);
    agent_port_init(d);

    /* Restart without disruption: what the kernel holds stays until proven wrong. */
    size_t nv;
    uint32_t *vnis;
    if (agent_port_load(d, &e) != 0 || (vnis = agent_port_vnis(d, &nv)) == NULL) {
        fprintf(stderr, "strata-agentd: %s\n", e.msg[0] ? e.msg : "out of memory");
        return 1;
    }
    if (agent_reconcile(&d->a, vnis, nv, &e) != 0)
        LOG_WARN("reconcile: %s", e.msg);
    free(vnis);
    (void)agent_port_restore(d, &e);

    uv_poll_init(&uv, &d->miss_poll, agent_dp_kernel_miss_fd(d->kdp));
    d->miss_poll.data = d;
    uv_poll_start(&d->miss_poll, UV_READABLE, on_miss_readable);
    if (agent_ctl_metrics(d, &e) != 0 || agent_ctl_open(d, &e) != 0) {
        LOG_ERROR("startup failed: %s", e.msg);
        fprintf(stderr, "strata-agentd: %s\n", e.msg);
        return 1;
    }
    strata_loop_on_signal(d->loop, on_signal, d);
    agent_csd_start(d->csd);
    char vs[STRATA_IP_STRLEN];
    LOG_INFO("serving ctl=%s vtep=%s cs=%s ports=%zu", d->ctl, strata_ip_format(&d->vtep, vs),
             d->cs_urls, d->n_ports);

    uv_run(&uv, UV_RUN_DEFAULT);
    uv_run(&uv, UV_RUN_NOWAIT);
    if (uv_loop_close(&uv) != 0)
        LOG_WARN("loop closed with handles still open");
    agent_csd_free(d->csd);
    agent_fini(&d->a);
    agent_dp_kernel_free(d->kdp);
    free(d->ports);
    LOG_INFO("stopped");
    return 0;
}
