/* gw-bench.c - the L3 gateway, measured in network namespaces on the real kernel (root):
 *   policy:     a policy change acknowledged by the directory -> enforced (the pair in, or out
 *               of, the nftables map) on every gateway serving the VNs; p50/p99 over --changes;
 *   throughput: TCP (iperf3) from a VM in VN 100 to one in VN 200 through the gateway, against
 *               the same topology (two hosts, a router namespace, VXLAN both legs) programmed by
 *               hand with plain kernel forwarding and no Strata: the ratio;
 *   failover:   the gateway carrying a ping dies -> first echo answered through the other;
 *               median of --kills. "median_ms": kill -9 of strata-gwd, then its underlay link
 *               down (its kernel, which keeps forwarding without the daemon, cannot carry the
 *               flow: only the other gateway can); "daemon_only": kill -9 alone (the flow does
 *               not even pause); "silent": the link first, so no FIN reaches the connectivity
 *               server and the lease (2.5 s) decides;
 *   pairs:      throughput with 10,000 allowed VN pairs in the gateway's map against 10;
 *   domains:    why a namespace per tenant domain: what one costs to make (namespace, loopback,
 *               nftables table: the gateway's own code) and in memory, against what the other
 *               design (per-domain routing tables) costs on the data path: the plain router
 *               with --rules policy-routing rules (one per VN interface of the other domains)
 *               in front of its main table.
 * Prints one JSON object. Usage: gw-bench [--changes N] [--kills N] [--seconds S] [--pairs N]
 *                                      [--domains N] [--rules N] */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dir_bench_stats.h"
#include "dirclient.h"
#include "flags.h"
#include "gw_l3.h"
#include "gw_nft.h"
#include "gw_ns.h"
#include "netns.h"
#include "harness.h"
#include "loop.h"
#include "topo.h"

static struct topo T;
static struct topo_node *h1, *h2, *gw[2];

static void die(const char *what)
{
    fprintf(stderr, "gw-bench: %s\n", what);
    exit(1);
}

/* The p-quantile of n latencies in us, in ms; -1 when there are none. */
static double pct(uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return -1;
    dir_bench_sort_u64(v, n);
    return (double)dir_bench_pct_u64(v, n, p) / 1000.0;
}

/* ---- setup: the same as tests/system/test_gateway.c, two VNs of one domain */
static void setup(void)
{
    if (topo_start(&T, "gw-bench") != 0)
        die("cannot start the directory and connectivity servers");
    if ((h1 = topo_node(&T, "h1", false)) == NULL || (h2 = topo_node(&T, "h2", false)) == NULL ||
        (gw[0] = topo_node(&T, "gw1", true)) == NULL ||
        (gw[1] = topo_node(&T, "gw2", true)) == NULL)
        die("cannot make the node namespaces");
    const char *prov[] = {
        "domain create acme",
        "vnet create --vni 100 --domain acme",
        "vnet create --vni 200 --domain acme",
        "subnet create --vni 100 --cidr 10.1.0.0/24 --gateway 10.1.0.1",
        "subnet create --vni 200 --cidr 10.2.0.0/24 --gateway 10.2.0.1",
        "gateway add --id gw1 --vtep 192.0.2.3 --vni 100,200",
        "gateway add --id gw2 --vtep 192.0.2.4 --vni 100,200",
    };
    for (size_t i = 0; i < sizeof(prov) / sizeof(prov[0]); i++)
        if (topo_provision(&T, "%s", prov[i]) != 0)
            die("provisioning failed");
    struct topo_node *all[] = {h1, h2, gw[0], gw[1]};
    for (int i = 0; i < 4; i++)
        if (topo_node_start(&T, all[i]) != 0)
            die("a daemon did not start");
    if (topo_vm(&T, "va", h1, "tva", "02:00:00:00:01:05", "10.1.0.5/24", "10.1.0.1") != 0 ||
        topo_vm(&T, "vb", h2, "tvb", "02:00:00:00:02:07", "10.2.0.7/24", "10.2.0.1") != 0 ||
        topo_attach(&T, h1, 100, "tva", "02:00:00:00:01:05", "10.1.0.5/24") != 0 ||
        topo_attach(&T, h2, 200, "tvb", "02:00:00:00:02:07", "10.2.0.7/24") != 0)
        die("cannot make the VMs");
    for (int i = 0; i < 2; i++)
        if (!topo_wait_cmd(10000, "ip -n st-%s-acme addr show br200 2>/dev/null | grep -q 10.2.0.1",
                           gw[i]->name))
            die("a gateway did not set up its interfaces");
}

/* ---- policy: acknowledged -> enforced on both gateways */
static struct gw_nft *open_map(const char *gwname)
{
    char ns[64];
    snprintf(ns, sizeof(ns), "st-%s-acme", gwname);
    int fd;
    bool created;
    struct gw_nft *n;
    struct strata_err e;
    if (gw_ns_open(ns, &fd, &created, &e) != 0 || created || gw_nft_open(fd, &n, &e) != 0)
        die("cannot open a gateway's policy map");
    return n;
}

static bool has_pair(struct gw_nft *n, bool *has)
{
    struct gw_nft_pair *p;
    size_t cnt;
    struct strata_err e;
    if (gw_nft_read(n, &p, &cnt, &e) != 0)
        return false;
    *has = false;
    for (size_t i = 0; i < cnt; i++)
        *has = *has || (p[i].from == 100 && p[i].to == 200);
    free(p);
    return true;
}

static int policy_set(struct strata_dirclient *dc, bool allow)
{
    Strata__V1__Policy p = STRATA__V1__POLICY__INIT;
    Strata__V1__Command cmd = STRATA__V1__COMMAND__INIT;
    p.domain = "acme";
    p.from_vni = 100;
    p.to_vni = 200;
    p.verdict = allow ? STRATA__V1__VERDICT__VERDICT_ALLOW : STRATA__V1__VERDICT__VERDICT_DENY;
    cmd.op_case = STRATA__V1__COMMAND__OP_POLICY_SET;
    cmd.policy_set = &p;
    strata_env *r = NULL;
    struct strata_err e;
    int rc = strata_dirclient_write(dc, &cmd, 5000, &r, &e);
    if (r)
        strata_msg_free(r);
    return rc;
}

static void bench_policy(struct strata_dirclient *dc, int changes, uint64_t *lat, size_t *nlat)
{
    struct gw_nft *m[2] = {open_map("gw1"), open_map("gw2")};
    *nlat = 0;
    for (int i = 0; i < changes; i++) {
        bool allow = i % 2 == 0;
        if (policy_set(dc, allow) != 0)
            die("policy set failed");
        uint64_t t0 = strata_now_us(), t1 = 0;
        bool done[2] = {false, false};
        while (!(done[0] && done[1]) && strata_now_us() - t0 < 5000000) {
            for (int g = 0; g < 2; g++) {
                bool has;
                if (!done[g] && has_pair(m[g], &has) && has == allow)
                    done[g] = true;
            }
            t1 = strata_now_us();
        }
        if (!(done[0] && done[1]))
            die("a policy change was not enforced within 5 s");
        lat[(*nlat)++] = t1 - t0;
    }
    gw_nft_free(m[0]);
    gw_nft_free(m[1]);
}

/* ---- throughput */
#define THROUGHPUT_ROUNDS 3

static double iperf(const char *client_ns, const char *server_ns, const char *server_ip, int secs)
{
    char log[512];
    snprintf(log, sizeof(log), "%s/iperf-server.log", T.tmp);
    char *argv[] = {"/usr/sbin/ip", "netns", "exec", (char *)server_ns, "iperf3", "-s", "-1", NULL};
    pid_t s = h_spawn(argv, log);
    if (s <= 0 || !topo_wait_cmd(3000, "ip netns exec %s ss -ltn | grep -q 5201", server_ns))
        die("iperf3 server did not start");
    char *out = NULL;
    int rc = topo_sh(&out, "ip netns exec %s iperf3 -c %s -t %d -J", client_ns, server_ip, secs);
    h_stop(s, 2000);
    /* "sum_received": {... "bits_per_second": N ...} */
    char *p = out ? strstr(out, "\"sum_received\"") : NULL;
    double bps = -1;
    if (rc == 0 && p && (p = strstr(p, "\"bits_per_second\":")) != NULL)
        bps = strtod(p + 18, NULL);
    free(out);
    if (bps <= 0)
        die("iperf3 failed");
    return bps / 1e9;
}

/* The same shape with no Strata: hosts pa and pb, each with a VM (pva, pvb) on a bridge with a
 * VXLAN device, and a router namespace pr (with pd, its routing namespace) on the underlay;
 * every entry static, no nftables. */
static void plain_topology(void)
{
    const char *i = T.infra;
    int pid = T.pid;
    char c[4096];
#define P(...)                                                                                     \
    do {                                                                                           \
        snprintf(c, sizeof(c), __VA_ARGS__);                                                       \
        if (topo_sh(NULL, "%s", c) != 0)                                                           \
            die(c);                                                                                \
    } while (0)
    const char *names[3] = {"pa", "pb", "pr"};
    const int addr[3] = {21, 22, 23};
    for (int k = 0; k < 3; k++) {
        P("ip netns add stt-%d-%s && ip -n stt-%d-%s link set lo up", pid, names[k], pid, names[k]);
        P("ip -n %s link add u%s type veth peer name eth0 netns stt-%d-%s && ip -n %s link set "
          "u%s master ub0 up && ip -n stt-%d-%s addr add 192.0.2.%d/24 dev eth0 && ip -n "
          "stt-%d-%s link set eth0 up",
          i, names[k], pid, names[k], i, names[k], pid, names[k], addr[k], pid, names[k]);
    }
    /* The router: VXLAN devices created in its underlay namespace, living in its routing
     * namespace pd, as a Strata gateway's do. */
    P("ip netns add stt-%d-pd && ip -n stt-%d-pd link set lo up && ip netns exec stt-%d-pd "
      "sysctl -qw net.ipv4.ip_forward=1",
      pid, pid, pid);
    const int vni[2] = {100, 200};
    const char *gwip[2] = {"10.1.0.1/24", "10.2.0.1/24"};
    const char *vmip[2] = {"10.1.0.5", "10.2.0.7"};
    const char *vmmac[2] = {"02:00:00:00:01:05", "02:00:00:00:02:07"};
    const char *gwmac[2] = {"02:53:54:00:00:64", "02:53:54:00:00:c8"};
    for (int k = 0; k < 2; k++) {
        int v = vni[k];
        P("ip -n stt-%d-pr link add vx%d netns stt-%d-pd type vxlan id %d local 192.0.2.23 "
          "dstport 4789 nolearning",
          pid, v, pid, v);
        P("ip -n stt-%d-pd link add br%d type bridge && ip -n stt-%d-pd link set br%d address %s "
          "&& ip -n stt-%d-pd link set vx%d master br%d && ip -n stt-%d-pd link set vx%d up && ip "
          "-n stt-%d-pd link set br%d up && ip -n stt-%d-pd addr add %s dev br%d",
          pid, v, pid, v, gwmac[k], pid, v, v, pid, v, pid, v, pid, gwip[k], v);
        P("ip netns exec stt-%d-pd bridge fdb append %s dev vx%d dst 192.0.2.%d self permanent",
          pid, vmmac[k], v, addr[k]);
        P("ip -n stt-%d-pd neigh replace %s lladdr %s dev br%d nud permanent", pid, vmip[k],
          vmmac[k], v);
        /* The host and its VM. */
        const char *h = names[k];
        P("ip -n stt-%d-%s link add vx%d type vxlan id %d local 192.0.2.%d dstport 4789 "
          "nolearning && ip -n stt-%d-%s link add br%d type bridge && ip -n stt-%d-%s link set "
          "vx%d master br%d && ip -n stt-%d-%s link set vx%d up && ip -n stt-%d-%s link set br%d "
          "up",
          pid, h, v, v, addr[k], pid, h, v, pid, h, v, v, pid, h, v, pid, h, v);
        P("ip netns exec stt-%d-%s bridge fdb append %s dev vx%d dst 192.0.2.23 self permanent",
          pid, h, gwmac[k], v);
        char vm[16];
        snprintf(vm, sizeof(vm), "p%s", k == 0 ? "va" : "vb");
        snprintf(T.vm_ns[T.n_vms++], sizeof(T.vm_ns[0]), "stt-%d-%s", pid, vm);
        P("ip netns add stt-%d-%s && ip -n stt-%d-%s link add t%s type veth peer name eth0 "
          "netns stt-%d-%s",
          pid, vm, pid, h, vm, pid, vm);
        P("ip -n stt-%d-%s link set t%s master br%d up && ip -n stt-%d-%s link set eth0 address "
          "%s && ip -n stt-%d-%s addr add %s/24 dev eth0 && ip -n stt-%d-%s link set eth0 up && ip "
          "-n stt-%d-%s route add default via %.*s && ip -n stt-%d-%s neigh replace %.*s lladdr %s "
          "dev eth0 nud permanent",
          pid, h, vm, v, pid, vm, vmmac[k], pid, vm, vmip[k], pid, vm, pid, vm, 8, gwip[k], pid, vm,
          8, gwip[k], gwmac[k]);
    }
#undef P
}

/* MemAvailable in kB. */
static long mem_available_kb(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long v = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "MemAvailable: %ld kB", &v) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return v;
}

/* n domain namespaces made as strata-gwd makes them; per domain: ms and kB. */
static void domains_cost(int n, double *ms, double *kb)
{
    struct strata_err e;
    long m0 = mem_available_kb();
    uint64_t t0 = strata_now_us();
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "st-bench-%d-d%d", T.pid, i);
        int fd;
        bool created;
        struct gw_l3 *l3;
        struct gw_nft *nft;
        if (gw_ns_open(name, &fd, &created, &e) != 0 || gw_l3_open(fd, &l3, &e) != 0 ||
            gw_l3_lo_up(l3, &e) != 0 || gw_nft_open(fd, &nft, &e) != 0 ||
            gw_nft_ensure(nft, &e) != 0)
            die(e.msg);
        gw_l3_free(l3);
        gw_nft_free(nft);
        close(fd);
    }
    *ms = (double)(strata_now_us() - t0) / 1000.0 / n;
    *kb = (double)(m0 - mem_available_kb()) / n;
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "st-bench-%d-d%d", T.pid, i);
        gw_ns_remove(name, &e);
    }
}

/* The other design's data path: `rules` policy-routing rules (iif brX lookup T, for VN
 * interfaces that do not exist here: they are what the other domains would need) before the
 * rule that routes this traffic, in the plain router's namespace. */
static void plain_rules(int rules)
{
    char cmd[160];
    FILE *f;
    snprintf(cmd, sizeof(cmd), "ip -n stt-%d-pd -batch -", T.pid);
    if ((f = popen(cmd, "w")) == NULL)
        die("ip -batch");
    for (int k = 0; k < rules; k++)
        fprintf(f, "rule add pref %d iif xbr%d lookup %d\n", 100 + k, k, 1000 + k % 250);
    if (pclose(f) != 0)
        die("ip rule add");
}

static void plain_cleanup(void)
{
    const char *n[] = {"pa", "pb", "pr", "pd"};
    for (int k = 0; k < 4; k++)
        topo_sh(NULL, "ip netns del stt-%d-%s 2>/dev/null", T.pid, n[k]);
}

/* ---- failover: kill -9 of the carrier -> first echo through the other */
static int holder_index(void)
{
    /* The gateway whose VTEP hosts hold for VN 100's gateway MAC. */
    char *out = NULL;
    int idx = -1;
    if (topo_sh(&out, "bridge -n %s fdb show dev vx100 | grep 02:53:54:00:00:64", h1->ns) == 0 &&
        out != NULL)
        idx = strstr(out, "192.0.2.3") ? 0 : strstr(out, "192.0.2.4") ? 1 : -1;
    free(out);
    return idx;
}

/* How the carrying gateway goes. */
enum fo_mode {
    FO_DAEMON,   /* kill -9 of strata-gwd alone: its kernel keeps forwarding */
    FO_DATAPATH, /* kill -9, then its underlay link down: only the other one can carry the flow */
    FO_SILENT,   /* underlay link down first (no FIN reaches the server), then kill -9: the lease */
};

static uint64_t one_failover(enum fo_mode mode)
{
    int a = holder_index();
    if (a < 0)
        die("cannot tell which gateway carries the flow");
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe");
    uint64_t t_kill = 0;
    pid_t p = fork();
    if (p == 0) {
        /* Echoes every 5 ms (each waiting 5 ms); reports when the first one after the kill (the
         * parent writes its time into the pipe's other direction: we poll a file) came back. */
        close(fds[0]);
        char path[512];
        snprintf(path, sizeof(path), "%s/killed", T.tmp);
        uint64_t first = 0, deadline = h_now_ms() + 15000;
        while (first == 0 && h_now_ms() < deadline) {
            bool killed = access(path, F_OK) == 0;
            uint64_t t = strata_now_us();
            int got = topo_ping(&T, "va", "10.2.0.7", 1, 0, 5);
            if (killed && got == 1)
                first = t;
        }
        _exit(write(fds[1], &first, sizeof(first)) == sizeof(first) ? 0 : 1);
    }
    close(fds[1]);
    usleep(200 * 1000);
    topo_sh(NULL, "rm -f %s/killed", T.tmp);
    /* t_kill: the moment the flow's path through this gateway can no longer be relied on. */
    if (mode == FO_SILENT) {
        t_kill = strata_now_us();
        topo_sh(NULL, "ip -n %s link set eth0 down", gw[a]->ns);
        topo_node_stop(gw[a], true);
    } else {
        t_kill = strata_now_us();
        topo_node_stop(gw[a], true); /* reaped: its connections closed */
        if (mode == FO_DATAPATH)
            topo_sh(NULL, "ip -n %s link set eth0 down", gw[a]->ns);
    }
    topo_sh(NULL, "touch %s/killed", T.tmp);
    uint64_t first = 0;
    if (read(fds[0], &first, sizeof(first)) != sizeof(first))
        first = 0;
    close(fds[0]);
    waitpid(p, NULL, 0);
    topo_sh(NULL, "rm -f %s/killed", T.tmp);
    topo_sh(NULL, "ip -n %s link set eth0 up", gw[a]->ns);
    if (topo_node_start(&T, gw[a]) != 0 ||
        !topo_wait_cmd(10000, "%s --json gateway list | grep -q '\"id\":\"%s\"[^}]*\"live\":true'",
                       topo_cli(&T), gw[a]->name))
        die("the killed gateway did not come back");
    return first > t_kill ? first - t_kill : 0;
}

int main(int argc, char **argv)
{
    uint64_t changes = 100, kills = 5, seconds = 5, npairs = 10000, ndoms = 50, nrules = 1000;
    struct strata_err e = {0};
    const struct strata_flag flags[] = {
        {"changes", STRATA_FLAG_U64, &changes, "N", "policy changes timed", false, 2, 10000},
        {"kills", STRATA_FLAG_U64, &kills, "N", "gateway kills timed", false, 1, 50},
        {"seconds", STRATA_FLAG_U64, &seconds, "S", "each iperf3 run", false, 1, 120},
        {"pairs", STRATA_FLAG_U64, &npairs, "N", "VN pairs for the enforcement cost", false, 10,
         1000000},
        {"domains", STRATA_FLAG_U64, &ndoms, "N", "domain namespaces made for their cost", false, 1,
         1000},
        {"rules", STRATA_FLAG_U64, &nrules, "N",
         "policy-routing rules in front of the plain router (the other design)", false, 1, 100000},
        STRATA_FLAGS_END,
    };
    int argi = 1;
    int rc = strata_flags_parse(flags, argc, argv, &argi, &e);
    if (rc == STRATA_ENOTFOUND) {
        strata_flags_usage(stdout, flags);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "gw-bench: %s\n", e.msg);
        return 2;
    }
    if (geteuid() != 0)
        die("needs root (network namespaces)");
    setup();
    /* The directory listens in the infra namespace: this thread (and the client's) goes there. */
    char path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", T.infra);
    int infra = open(path, O_RDONLY);
    int saved;
    if (infra < 0 || strata_netns_enter(infra, &saved, &e) != 0)
        die("cannot enter the infra namespace");
    struct strata_dirclient *dc;
    if (strata_dirclient_open(T.dir_urls, &dc, &e) != 0)
        die(e.msg);

    uint64_t *lat = calloc(changes, sizeof(*lat));
    size_t nlat;
    bench_policy(dc, (int)changes, lat, &nlat);
    double p50 = pct(lat, nlat, 0.5), p99 = pct(lat, nlat, 0.99);
    if (policy_set(dc, true) != 0 || topo_ping(&T, "va", "10.2.0.7", 3, 100, 1000) < 1)
        die("the allowed flow does not pass");

    /* Strata and the plain router in turns, THROUGHPUT_ROUNDS each: a slow moment of the
     * machine lands on both, and the medians are compared. */
    plain_topology();
    char pva[64], pvb[64];
    snprintf(pva, sizeof(pva), "stt-%d-pva", T.pid);
    snprintf(pvb, sizeof(pvb), "stt-%d-pvb", T.pid);
    double sg[THROUGHPUT_ROUNDS], pg[THROUGHPUT_ROUNDS], rg[THROUGHPUT_ROUNDS];
    for (int r = 0; r < THROUGHPUT_ROUNDS; r++) {
        sg[r] = iperf(topo_vm_ns(&T, "va"), topo_vm_ns(&T, "vb"), "10.2.0.7", (int)seconds);
        pg[r] = iperf(pva, pvb, "10.2.0.7", (int)seconds);
    }
    plain_rules((int)nrules);
    for (int r = 0; r < THROUGHPUT_ROUNDS; r++)
        rg[r] = iperf(pva, pvb, "10.2.0.7", (int)seconds);
    plain_cleanup();
    double strata_gbps = dir_bench_median(sg, THROUGHPUT_ROUNDS),
           plain_gbps = dir_bench_median(pg, THROUGHPUT_ROUNDS),
           rules_gbps = dir_bench_median(rg, THROUGHPUT_ROUNDS);
    double dom_ms, dom_kb;
    domains_cost((int)ndoms, &dom_ms, &dom_kb);

    /* Enforcement cost: the same flow with npairs allowed pairs in both maps. */
    struct gw_nft *m[2] = {open_map("gw1"), open_map("gw2")};
    struct gw_nft_pair *pairs = calloc(npairs, sizeof(*pairs));
    for (uint64_t k = 0; k < npairs - 1; k++)
        pairs[k] = (struct gw_nft_pair){1000 + (uint32_t)k, 2000000 + (uint32_t)k};
    pairs[npairs - 1] = (struct gw_nft_pair){100, 200};
    for (int g = 0; g < 2; g++)
        if (gw_nft_sync(m[g], pairs, (size_t)npairs, &e) != 0)
            die(e.msg);
    double many_gbps = iperf(topo_vm_ns(&T, "va"), topo_vm_ns(&T, "vb"), "10.2.0.7", (int)seconds);
    for (int g = 0; g < 2; g++) {
        gw_nft_sync(m[g], &pairs[npairs - 1], 1, &e);
        gw_nft_free(m[g]);
    }
    free(pairs);

    uint64_t *fo = calloc(kills, sizeof(*fo)), *fd = calloc(kills, sizeof(*fd)),
             *fs = calloc(kills, sizeof(*fs));
    for (uint64_t k = 0; k < kills; k++) {
        fo[k] = one_failover(FO_DATAPATH);
        fd[k] = one_failover(FO_DAEMON);
    }
    uint64_t silent = kills < 3 ? kills : 3; /* each waits out the lease */
    for (uint64_t k = 0; k < silent; k++)
        fs[k] = one_failover(FO_SILENT);
    double fo_med = pct(fo, kills, 0.5), fo_max = pct(fo, kills, 1.0);
    double fd_med = pct(fd, kills, 0.5), fs_med = pct(fs, silent, 0.5);

    printf("{\"bench\":\"gw-bench\",\"policy\":{\"changes\":%zu,\"p50_ms\":%.2f,\"p99_ms\":%.2f,"
           "\"target_p99_ms\":100},"
           "\"throughput\":{\"strata_gbps\":%.3f,\"plain_gbps\":%.3f,\"ratio\":%.3f,"
           "\"target_ratio\":0.9,\"seconds\":%llu},"
           "\"pairs\":{\"pairs\":%llu,\"gbps\":%.3f,\"gbps_10\":%.3f,\"ratio\":%.3f,"
           "\"target_ratio\":0.9},"
           "\"failover\":{\"kills\":%llu,\"median_ms\":%.1f,\"max_ms\":%.1f,\"target_median_ms\":"
           "1000,\"daemon_only_median_ms\":%.1f,\"silent_kills\":%llu,\"silent_median_ms\":%.1f},"
           "\"domains\":{\"namespaces\":%llu,\"setup_ms_each\":%.2f,\"kb_each\":%.0f,"
           "\"routing_rules\":%llu,\"plain_gbps_with_rules\":%.3f,\"rules_ratio\":%.3f}}\n",
           nlat, p50, p99, strata_gbps, plain_gbps, strata_gbps / plain_gbps,
           (unsigned long long)seconds, (unsigned long long)npairs, many_gbps, strata_gbps,
           many_gbps / strata_gbps, (unsigned long long)kills, fo_med, fo_max, fd_med,
           (unsigned long long)silent, fs_med, (unsigned long long)ndoms, dom_ms, dom_kb,
           (unsigned long long)nrules, rules_gbps, rules_gbps / plain_gbps);
    free(lat);
    free(fo);
    free(fd);
    free(fs);
    strata_dirclient_close(dc);
    strata_netns_leave(saved);
    return 0;
}
