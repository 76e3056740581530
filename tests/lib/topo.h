/* topo.h - network-namespace topologies for system tests and benchmarks: an infra namespace with
 * the underlay bridge, the directory and connectivity servers; node namespaces (hosts and
 * gateways) on the underlay; VMs as namespaces behind veths; ICMP from inside a VM. Every
 * namespace and process is removed at exit, even when a test fails. Needs root. */
#ifndef STRATA_TOPO_H
#define STRATA_TOPO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define TOPO_MAX_NODES 8
#define TOPO_DIRD_METRICS_PORT 9301
#define TOPO_CSD_METRICS_PORT 9311
#define TOPO_MAX_VMS 16

struct topo {
    int pid;         /* names the namespaces: stt-<pid>-<name> */
    const char *tmp; /* logs and data directories */
    char infra[48];  /* namespace of the underlay bridge ub0 (192.0.2.254/24) and the servers */
    char dir_urls[128], cs_url[128];
    pid_t dird_pid[3], csd_pid[2];
    int n_nodes;
    struct topo_node {
        char name[16];
        char ns[48];
        char vtep[32]; /* 192.0.2.<k> */
        char ctl[512];
        pid_t pid; /* its daemon, 0 when stopped */
        bool gateway;
    } nodes[TOPO_MAX_NODES];
    int n_vms;
    char vm_ns[TOPO_MAX_VMS][48];
};

/* Run a shell command line built from fmt (stdout in *out when out is not NULL). */
int topo_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* In a cmocka test (include <cmocka.h> first): run a shell command line and fail the test with
 * its exit status and output when it does not exit 0. */
#define TOPO_SH(...)                                                                               \
    do {                                                                                           \
        char *o_ = NULL;                                                                           \
        int rc_ = topo_sh(&o_, __VA_ARGS__);                                                       \
        if (rc_ != 0)                                                                              \
            fail_msg("exit %d: %s", rc_, o_ ? o_ : "");                                            \
        free(o_);                                                                                  \
    } while (0)
/* Poll a shell command until it exits 0 or timeout_ms passes. */
bool topo_wait_cmd(int timeout_ms, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The infra namespace, the three directory nodes and two connectivity servers (pod p1, ids cs1
 * and cs2, on 192.0.2.254:7201/7202), each serving metrics in the infra namespace on
 * 127.0.0.1:TOPO_DIRD_METRICS_PORT+i and 127.0.0.1:TOPO_CSD_METRICS_PORT+i (i from 0). Returns
 * 0, or -1 with the reason on stderr. */
int topo_start(struct topo *t, const char *tag);
/* "ip netns exec INFRA strata --directory URLS" for command lines. */
const char *topo_cli(const struct topo *t);
/* Run `strata ARGS` until it succeeds (the cluster may still be electing), up to 10 s. */
int topo_provision(const struct topo *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A node namespace on the underlay (VTEP 192.0.2.<index+1> on eth0); no daemon yet. */
struct topo_node *topo_node(struct topo *t, const char *name, bool gateway);
struct topo_node *topo_find(struct topo *t, const char *name);
/* Start the node's daemon (strata-agentd or strata-gwd) and wait for its control socket. */
int topo_node_start(struct topo *t, struct topo_node *n);
/* Every node daemon serves its metrics here, inside its own namespace. */
#define TOPO_METRICS "127.0.0.1:9464"
#define TOPO_METRICS_PORT 9464
/* The node's Prometheus text (malloc'd, the HTTP response's head included), or NULL. */
char *topo_metrics(const struct topo_node *n);
/* GET /metrics from 127.0.0.1:port inside namespace ns, as topo_metrics. */
char *topo_scrape(const char *ns, int port);
/* SIGTERM (or SIGKILL when kill9) and reap. */
void topo_node_stop(struct topo_node *n, bool kill9);

/* A VM namespace `vm` behind a veth whose host end `ifname` stays in node n's namespace;
 * ip_plen like "10.1.0.5/24"; gw (may be NULL) its default route. */
int topo_vm(struct topo *t, const char *vm, struct topo_node *n, const char *ifname,
            const char *mac, const char *ip_plen, const char *gw);
const char *topo_vm_ns(const struct topo *t, const char *vm);
/* strata port attach of the VM's interface on its host. */
int topo_attach(const struct topo *t, const struct topo_node *n, uint32_t vni, const char *ifname,
                const char *mac, const char *ip_plen);

/* From inside vm's namespace: `count` ICMP echoes to dst, interval_ms apart, each waiting up to
 * wait_ms for its reply. Returns how many were answered, or -1. */
int topo_ping(const struct topo *t, const char *vm, const char *dst, int count, int interval_ms,
              int wait_ms);
/* Echoes from vm to dst, one at a time, for up to timeout_ms: when the first was answered, in ms
 * from now; -1 if none was. */
int topo_reach_within(const struct topo *t, const char *vm, const char *dst, int timeout_ms);

/* Remove every namespace the topology made (processes are the harness's: h_cleanup). Installed
 * with atexit by topo_start; safe to call twice. */
void topo_cleanup(void);

#endif
