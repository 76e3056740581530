/* agent_main.c - strata-agentd: flags, then the node daemon runtime with one kernel domain and
 * the agent's ports: reconcile the kernel, restore ports, register at the connectivity server,
 * run until SIGTERM (which leaves the kernel's entries in place, node_daemon.c). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agentd.h"
#include "flags.h"
#include "fsutil.h"
#include "log.h"
#include "tls.h"

static struct agentd g_d;

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

/* The man page's words (strata-agentd --help-man); the flags come from the table in main. */
static const struct strata_flags_about agent_about = {
    .name = "strata-agentd",
    .section = 8,
    .summary = "Strata host agent: the kernel VXLAN datapath of one host",
    .description =
        "strata-agentd programs the Linux kernel's VXLAN datapath on one host (--host): a VXLAN "
        "device and a bridge per virtual network with local ports, and the forwarding and "
        "neighbour entries of remote endpoints. It resolves an address only when the kernel "
        "reports a miss, by asking its pod's connectivity server (--cs), and keeps what it "
        "installed true as the server pushes changes.\n"
        "\n"
        "At start it reconciles: it reads what the kernel holds, keeps what is right and removes "
        "only its own stale entries; SIGTERM leaves the kernel's entries in place, so traffic "
        "flows while it restarts. Ports (endpoints attached to this host) are added with "
        "\"strata port attach\" through its control socket (--ctl) and saved in --data-dir.\n"
        "\n"
        "It needs CAP_NET_ADMIN (netlink) and CAP_NET_RAW (gratuitous ARP announcements).",
    .files =
        (const char *const[]){"/run/strata/agent-HOST.sock",
                              "the control socket (--ctl) that strata port, strata cache "
                              "and strata trace use",
                              "/var/lib/strata/agent-HOST/ports",
                              "the ports attached to this host, restored at start",
                              "/etc/strata/agentd.conf",
                              "with the packaged unit strata-agentd.service: STRATA_FLAGS", NULL},
    .see_also = "The systemd unit strata-agentd.service; docs/agent.md in the Strata sources, "
                "installed under share/doc/strata.",
};

int main(int argc, char **argv)
{
    struct agentd *d = &g_d;
    struct strata_err e = {0};
    const char *vtep = NULL;
    static struct strata_tls_files tlsf;
    static struct strata_tls *tls; /* the process's, until it exits */
    d->negative_ttl_ms = 1000;
    int log_level = -1; /* --log-level, else STRATA_LOG_LEVEL */
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
        STRATA_TLS_FLAG_ROWS(&tlsf),
        STRATA_LOG_FLAG_ROW(&log_level),
        STRATA_FLAGS_END_ABOUT(&agent_about),
    };
    int argi = 1;
    int rc = strata_flags_parse(flags, argc, argv, &argi, &e);
    if (rc == STRATA_ENOTFOUND) {
        printf("usage: strata-agentd [flags]\n       strata-agentd --version | --help-man\n");
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
    strata_log_init(comp, log_level);
    signal(SIGPIPE, SIG_IGN);
    if (strata_tls_daemon(&tlsf, "strata-agentd", STRATA_ROLE_AGENT, d->host, &tls, &e) != 0 ||
        strata_tls_urls_check(tls, d->cs_urls, "--cs", &e) != 0) {
        fprintf(stderr, "strata-agentd: %s\n", e.msg);
        return 2;
    }
    if (d->ctl == NULL) {
        snprintf(ctl, sizeof(ctl), "/run/strata/agent-%s.sock", d->host);
        d->ctl = ctl;
    }
    if (d->data_dir == NULL) {
        snprintf(data, sizeof(data), "/var/lib/strata/agent-%s", d->host);
        d->data_dir = data;
    }
    (void)strata_mkdir_parent(d->ctl, 0755, NULL); /* opening the socket says what failed */
    if (strata_mkdir_p(d->data_dir, 0755, &e) != 0) {
        fprintf(stderr, "strata-agentd: --data-dir: %s\n", e.msg);
        return 1;
    }
    snprintf(d->state_path, sizeof(d->state_path), "%s/ports", d->data_dir);

    struct node_daemon_opts no = {
        .name = "strata-agentd",
        .metrics_prefix = "agent",
        .ctl_path = d->ctl,
        .metrics_addr = d->metrics_addr,
        .csd = {.host = d->host,
                .pod = d->pod,
                .urls = d->cs_urls,
                .vtep = d->vtep,
                .call_timeout_ms = 500,
                .poll_wait_ms = 1000},
        .negative_ttl_ms = (uint32_t)d->negative_ttl_ms,
    };
    struct node_daemon_hooks hooks = agent_port_hooks;
    hooks.arg = d;
    struct node_dp_kernel_opts ko = {
        .vtep = d->vtep, .underlay_dev = d->underlay, .mtu = (uint32_t)d->mtu, .netns_fd = -1};
    struct node_domain *dom;
    if (node_daemon_init(&d->nd, &no, &hooks, &e) != 0 ||
        node_daemon_add_kernel(&d->nd, &ko, &dom, &e) != 0) {
        fprintf(stderr, "strata-agentd: %s\n", e.msg[0] ? e.msg : "out of memory");
        return 2;
    }
    d->a = &dom->core;
    agent_port_init(d);

    /* Restart without disruption: what the kernel holds stays until proven wrong. */
    if (agent_port_load(d, &e) != 0) {
        fprintf(stderr, "strata-agentd: %s\n", e.msg);
        return 1;
    }
    (void)node_daemon_reconcile(&d->nd, &e); /* logged; the ports are restored regardless */
    (void)agent_port_restore(d, &e);
    if (node_daemon_start(&d->nd, &e) != 0) {
        LOG_ERROR("startup failed: %s", e.msg);
        fprintf(stderr, "strata-agentd: %s\n", e.msg);
        return 1;
    }
    char vs[STRATA_IP_STRLEN];
    LOG_INFO("serving ctl=%s vtep=%s cs=%s ports=%zu", d->ctl, strata_ip_format(&d->vtep, vs),
             d->cs_urls, d->n_ports);

    node_daemon_run(&d->nd);
    node_daemon_fini(&d->nd);
    free(d->ports);
    LOG_INFO("stopped");
    return 0;
}
