/* gw_main.c - strata-gwd: flags, then the node daemon runtime as a gateway: reopen the domain
 * namespaces of the last run (reconcile keeps what is right), register at the connectivity
 * server, which answers with the VNs this gateway serves, and run until SIGTERM (which leaves
 * the namespaces, routes, rules and entries in place, so that flows pass while it restarts). */
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "fsutil.h"
#include "gwd.h"
#include "log.h"
#include "tls.h"

static struct gwd g_gw;
static uv_timer_t g_retry;

static void on_registered(void *arg, const Strata__V1__HostRegisterReply *r)
{
    struct gwd *g = arg;
    LOG_INFO("registered at %s: serving %zu VNs", node_csd_current_url(g->nd.csd), r->n_vnis);
    gw_vn_served(g, r->vnis, r->n_vnis);
}

static void on_update(void *arg, const Strata__V1__Update *u)
{
    struct gwd *g = arg;
    if (u->kind != STRATA__V1__UPDATE_KIND__UPD_VNINFO)
        return;
    if (u->vni == 0)
        gw_vn_served(g, u->vnis, u->n_vnis);
    else
        gw_vn_refresh(g, u->vni, u->committed_us);
}

/* At reconcile: every VN whose devices a domain namespace holds stays until the directory's
 * list of served VNs arrives (then what is not served goes, gw_vn_served). */
static uint32_t *keep_vnis(void *arg, const struct node_domain *nd, size_t *n)
{
    struct gwd *g = arg;
    uint32_t *v = gw_dom_vnis(g, nd, n);
    struct gw_dom *dom = NULL;
    for (size_t i = 0; i < g->n_doms && dom == NULL; i++)
        if (g->doms[i]->nd == nd)
            dom = g->doms[i];
    for (size_t i = 0; dom != NULL && i < *n; i++) {
        struct gw_vn *gv = gw_vn_get(g, v[i]);
        if (gv != NULL && gv->dom == NULL) {
            gv->dom = dom;
            node_vn_get(&dom->nd->core, v[i])->ports = 1; /* misses on it are answered */
        }
    }
    return v;
}

static void on_stopping(void *arg)
{
    (void)arg;
    uv_timer_stop(&g_retry);
    uv_close((uv_handle_t *)&g_retry, NULL);
}

static void on_retry(uv_timer_t *t)
{
    gw_vn_retry(t->data);
}

const struct node_daemon_hooks gwd_hooks = {
    .registered = on_registered,
    .update = on_update,
    .keep_vnis = keep_vnis,
    .stopping = on_stopping,
};

int gwd_metrics(struct gwd *g, struct strata_err *e)
{
    struct strata_metrics *m = g->nd.metrics;
    if (m == NULL)
        return 0;
    const struct {
        const char *name;
        enum strata_metric_kind kind;
        const char *help;
        const uint64_t *v;
    } ms[] = {
        {"gw_routes", STRATA_METRIC_GAUGE, "subnet gateway addresses (connected routes) installed",
         &g->c.routes},
        {"gw_rules", STRATA_METRIC_GAUGE, "allowed VN pairs in the nftables policy maps",
         &g->c.rules},
        {"gw_policy_updates_total", STRATA_METRIC_COUNTER,
         "pushed VN changes (policy, subnets) applied", &g->c.policy_updates},
        {"gw_vn_info_fetches_total", STRATA_METRIC_COUNTER, "VnInfo requests sent",
         &g->c.vn_info_fetches},
        {"gw_vn_info_errors_total", STRATA_METRIC_COUNTER, "VnInfo requests that failed",
         &g->c.vn_info_errors},
        {"gw_apply_errors_total", STRATA_METRIC_COUNTER,
         "VN information that could not be applied to the kernel", &g->c.apply_errors},
        {"gw_vns_released_total", STRATA_METRIC_COUNTER, "VNs no longer served, released",
         &g->c.vns_released},
    };
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
        if (strata_metrics_add(m, ms[i].name, ms[i].kind, ms[i].help, ms[i].v) != 0)
            return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    if (strata_metrics_add_histo(m, "gw_policy_apply_seconds",
                                 "a VN change seen by the connectivity server until enforced here",
                                 &g->policy_apply) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    return 0;
}

static int check_flags(struct gwd *g, const char *vtep, struct strata_err *e)
{
    if (strata_name_check(g->id, "--id", e) != 0 || strata_name_check(g->pod, "--pod", e) != 0)
        return e->code;
    struct strata_err pe;
    if (strata_ip_parse(vtep, &g->vtep, &pe) != 0)
        return strata_err_set(e, STRATA_EINVAL, "--vtep: %s", pe.msg);
    if (g->underlay != NULL && (g->underlay[0] == '\0' || strlen(g->underlay) >= IF_NAMESIZE))
        return strata_err_set(e, STRATA_EINVAL, "--underlay-dev: bad interface name");
    return 0;
}

/* The man page's words (strata-gwd --help-man); the flags come from the table in main. */
static const struct strata_flags_about gw_about = {
    .name = "strata-gwd",
    .section = 8,
    .summary = "Strata L3 gateway: routing and policy between the virtual networks of a tenant",
    .description =
        "strata-gwd routes between the virtual networks of each tenant domain it serves, in one "
        "network namespace per domain (pinned under /run/netns), with a subnet gateway address "
        "per subnet and the domain's inter-VN policy programmed in nftables. It registers at "
        "its pod's connectivity server (--cs), which tells it the virtual networks the directory "
        "assigns to this gateway (\"strata gateway add\"), and follows their changes.\n"
        "\n"
        "Gateways run in pairs that take over from each other. SIGTERM leaves the namespaces, "
        "routes, rules and entries in place so that flows pass while it restarts; at start it "
        "reconciles what it finds.\n"
        "\n"
        "It needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN (it creates network namespaces "
        "and pins them with bind mounts, which must be made in the host's mount namespace).",
    .files = (const char *const[]){"/run/netns/st-ID-DOMAIN",
                                   "the namespace of each tenant domain served (ip netns list "
                                   "shows them)",
                                   "/run/strata/gw-ID.sock", "the control socket (--ctl)",
                                   "/etc/strata/gwd-ID.conf",
                                   "with the packaged unit strata-gwd@ID.service: STRATA_FLAGS, "
                                   "the flags besides --id",
                                   NULL},
    .see_also = "The systemd unit strata-gwd@.service; docs/gateway.md in the Strata sources, "
                "installed under share/doc/strata.",
};

int main(int argc, char **argv)
{
    struct gwd *g = &g_gw;
    struct strata_err e = {0};
    const char *vtep = NULL;
    static struct strata_tls_files tlsf;
    static struct strata_tls *tls; /* the process's, until it exits */
    int log_level = -1;            /* --log-level, else STRATA_LOG_LEVEL */
    const struct strata_flag flags[] = {
        {"id", STRATA_FLAG_STR, &g->id, "NAME", "this gateway's id (strata gateway add --id)", true,
         0, 0},
        {"vtep", STRATA_FLAG_STR, &vtep, "IP", "this gateway's VTEP (underlay) address", true, 0,
         0},
        {"pod", STRATA_FLAG_STR, &g->pod, "POD", "the pod this gateway is in", true, 0, 0},
        {"cs", STRATA_FLAG_STR, &g->cs_urls, "URL[,URL...]",
         "the pod's connectivity servers (failover in order)", true, 0, 0},
        {"ctl", STRATA_FLAG_STR, &g->ctl, "PATH", "control socket (default /run/strata/gw-ID.sock)",
         false, 0, 0},
        {"metrics", STRATA_FLAG_STR, &g->metrics_addr, "HOST:PORT",
         "serve Prometheus metrics on http://HOST:PORT/metrics", false, 0, 0},
        {"underlay-dev", STRATA_FLAG_STR, &g->underlay, "IF",
         "underlay device for the VXLAN devices (default: routing decides)", false, 0, 0},
        {"mtu", STRATA_FLAG_U64, &g->mtu, "BYTES",
         "MTU of the VXLAN and bridge devices (0 = kernel default)", false, 68, 65535},
        {"data-dir", STRATA_FLAG_STR, &g->data_dir, "DIR",
         "the gateway's data directory (default /var/lib/strata/gw-ID)", false, 0, 0},
        STRATA_TLS_FLAG_ROWS(&tlsf),
        STRATA_LOG_FLAG_ROW(&log_level),
        STRATA_FLAGS_END_ABOUT(&gw_about),
    };
    int argi = 1;
    int rc = strata_flags_parse(flags, argc, argv, &argi, &e);
    if (rc == STRATA_ENOTFOUND) {
        printf("usage: strata-gwd [flags]\n       strata-gwd --version | --help-man\n");
        strata_flags_usage(stdout, flags);
        return 0;
    }
    if (rc == 0 && argi < argc)
        rc = strata_err_set(&e, STRATA_EINVAL, "unexpected argument '%s'", argv[argi]);
    if (rc == 0)
        rc = check_flags(g, vtep, &e);
    if (rc != 0) {
        fprintf(stderr, "strata-gwd: %s\n", e.msg);
        strata_flags_usage(stderr, flags);
        return 2;
    }
    char comp[80], ctl[PATH_MAX], data[PATH_MAX];
    snprintf(comp, sizeof(comp), "gwd/%s", g->id);
    strata_log_init(comp, log_level);
    signal(SIGPIPE, SIG_IGN);
    if (strata_tls_daemon(&tlsf, "strata-gwd", STRATA_ROLE_GATEWAY, g->id, &tls, &e) != 0 ||
        strata_tls_urls_check(tls, g->cs_urls, "--cs", &e) != 0) {
        fprintf(stderr, "strata-gwd: %s\n", e.msg);
        return 2;
    }
    if (g->ctl == NULL) {
        snprintf(ctl, sizeof(ctl), "/run/strata/gw-%s.sock", g->id);
        g->ctl = ctl;
    }
    if (g->data_dir == NULL) {
        snprintf(data, sizeof(data), "/var/lib/strata/gw-%s", g->id);
        g->data_dir = data;
    }
    if (strata_mkdir_parent(g->ctl, 0755, &e) != 0 || strata_mkdir_p(g->data_dir, 0755, &e) != 0) {
        fprintf(stderr, "strata-gwd: %s\n", e.msg);
        return 1;
    }
    struct node_daemon_opts no = {
        .name = "strata-gwd",
        .metrics_prefix = "gw",
        .ctl_path = g->ctl,
        .metrics_addr = g->metrics_addr,
        .csd = {.host = g->id,
                .pod = g->pod,
                .urls = g->cs_urls,
                .vtep = g->vtep,
                .gateway = true,
                .call_timeout_ms = 500,
                .poll_wait_ms = 1000},
        .negative_ttl_ms = 1000,
    };
    struct node_daemon_hooks hooks = gwd_hooks;
    hooks.arg = g;
    if (node_daemon_init(&g->nd, &no, &hooks, &e) != 0) {
        fprintf(stderr, "strata-gwd: %s\n", e.msg[0] ? e.msg : "out of memory");
        return 2;
    }
    /* Restart without disruption: the namespaces of the last run, with their devices, routes,
     * rules and entries, stay until the directory says otherwise. */
    if (gw_dom_discover(g, &e) != 0) {
        fprintf(stderr, "strata-gwd: %s\n", e.msg);
        return 1;
    }
    (void)node_daemon_reconcile(&g->nd, &e); /* logged; what it could not check is re-resolved */
    uv_timer_init(&g->nd.uv, &g_retry);
    g_retry.data = g;
    uv_timer_start(&g_retry, on_retry, GW_RETRY_MS, GW_RETRY_MS);
    if (node_daemon_start(&g->nd, &e) != 0 || gwd_metrics(g, &e) != 0) {
        LOG_ERROR("startup failed: %s", e.msg);
        fprintf(stderr, "strata-gwd: %s\n", e.msg);
        return 1;
    }
    char vs[STRATA_IP_STRLEN];
    LOG_INFO("gateway %s (vtep %s, pod %s) up: %zu domain namespaces kept", g->id,
             strata_ip_format(&g->vtep, vs), g->pod, g->n_doms);
    node_daemon_run(&g->nd);
    node_daemon_fini(&g->nd);
    LOG_INFO("stopped");
    return 0;
}
