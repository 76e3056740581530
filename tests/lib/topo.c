/* topo.c - namespace topologies for system tests and benchmarks (see topo.h). */
#include "topo.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "h_tls.h"
#include "harness.h"

#define IP_BIN "/usr/sbin/ip"

static struct topo *topo_live; /* the one topology of this process, for cleanup */

static int vsh(char **out, const char *fmt, va_list ap)
{
    char cmd[4096];
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    return h_run(cmd, out);
}

int topo_sh(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vsh(out, fmt, ap);
    va_end(ap);
    return rc;
}

struct poll_cmd {
    const char *cmd;
};
static bool cmd_ok(void *arg)
{
    return h_run(((struct poll_cmd *)arg)->cmd, NULL) == 0;
}

bool topo_wait_cmd(int timeout_ms, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    struct poll_cmd p = {cmd};
    return h_wait_until(cmd_ok, &p, timeout_ms);
}

void topo_cleanup(void)
{
    struct topo *t = topo_live;
    if (t == NULL)
        return;
    for (int i = 0; i < t->n_vms; i++)
        topo_sh(NULL, "ip netns del %s 2>/dev/null", t->vm_ns[i]);
    for (int i = 0; i < t->n_nodes; i++) {
        /* A gateway's domain namespaces are its own (st-<name>-<domain>), pinned to outlive it. */
        if (t->nodes[i].gateway)
            topo_sh(NULL, "for n in $(ls /run/netns | grep '^st-%s-'); do ip netns del $n; done",
                    t->nodes[i].name);
        topo_sh(NULL, "ip netns del %s 2>/dev/null", t->nodes[i].ns);
    }
    if (t->infra[0])
        topo_sh(NULL, "ip netns del %s 2>/dev/null", t->infra);
    topo_live = NULL;
}

char *topo_scrape(const char *ns, int port)
{
    /* No curl on a minimal machine: bash's /dev/tcp, inside the namespace. */
    char *out = NULL;
    if (topo_sh(&out,
                "ip netns exec %s bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d && printf \"GET /metrics "
                "HTTP/1.0\\r\\n\\r\\n\" >&3 && cat <&3'",
                ns, port) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

char *topo_metrics(const struct topo_node *n)
{
    return topo_scrape(n->ns, TOPO_METRICS_PORT);
}

static void on_fatal_signal(int sig)
{
    (void)sig;
    exit(1); /* runs the atexit cleanups: daemons killed, namespaces deleted */
}

const char *topo_cli(const struct topo *t)
{
    static char b[1024];
    snprintf(b, sizeof(b), "ip netns exec %s %s --directory %s", t->infra, h_bin("strata"),
             t->dir_urls);
    return b;
}

int topo_provision(const struct topo *t, const char *fmt, ...)
{
    char args[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    if (topo_wait_cmd(10000, "%s %s >/dev/null 2>&1", topo_cli(t), args))
        return 0;
    fprintf(stderr, "topo: provisioning failed: strata %s\n", args);
    return -1;
}

static pid_t spawn_in(const char *ns, char **args, const char *log)
{
    char *argv[40] = {IP_BIN, "netns", "exec", (char *)ns};
    int k = 4;
    for (int i = 0; args[i] != NULL && k < 39; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    return h_spawn(argv, log);
}

int topo_start(struct topo *t, const char *tag)
{
    memset(t, 0, sizeof(*t));
    t->pid = (int)getpid();
    topo_live = t;
    atexit(topo_cleanup); /* registered before h_spawn's: runs after the daemons are killed */
    signal(SIGTERM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);
    t->tmp = h_tmpdir(tag);
    snprintf(t->infra, sizeof(t->infra), "stt-%d-infra", t->pid);
    if (h_must("ip netns add %s && ip -n %s link set lo up && ip -n %s link add ub0 type bridge "
               "&& ip -n %s addr add 192.0.2.254/24 dev ub0 && ip -n %s link set ub0 up",
               t->infra, t->infra, t->infra, t->infra, t->infra) != 0)
        return -1;
    h_tls_operator();
    const char *sch = h_tls_scheme();
    snprintf(t->dir_urls, sizeof(t->dir_urls), "%s127.0.0.1:7101,%s127.0.0.1:7102,%s127.0.0.1:7103",
             sch, sch, sch);
    for (int i = 0; i < 3; i++) {
        char id[4], dd[512], raft[32], api[32], log[512], metrics[32];
        snprintf(id, sizeof(id), "%d", i + 1);
        snprintf(dd, sizeof(dd), "%s/dird%d", t->tmp, i + 1);
        snprintf(raft, sizeof(raft), "127.0.0.1:700%d", i + 1);
        snprintf(api, sizeof(api), "%s127.0.0.1:710%d", sch, i + 1);
        snprintf(log, sizeof(log), "%s/dird%d.log", t->tmp, i + 1);
        snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", TOPO_DIRD_METRICS_PORT + i);
        if (h_must("mkdir -p %s", dd) != 0)
            return -1;
        char *args[32] = {(char *)h_bin("strata-dird"),
                          "--id",
                          id,
                          "--data-dir",
                          dd,
                          "--raft",
                          raft,
                          "--api",
                          api,
                          "--cluster",
                          "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003",
                          "--metrics",
                          metrics,
                          NULL};
        h_tls_args(args, "directory", id, NULL);
        if ((t->dird_pid[i] = spawn_in(t->infra, args, log)) <= 0)
            return -1;
    }
    snprintf(t->cs_url, sizeof(t->cs_url), "%s192.0.2.254:7201,%s192.0.2.254:7202", sch, sch);
    for (int i = 0; i < 2; i++) {
        char log[512], id[8], listen[64], metrics[32];
        snprintf(log, sizeof(log), "%s/csd%d.log", t->tmp, i + 1);
        snprintf(id, sizeof(id), "cs%d", i + 1);
        snprintf(listen, sizeof(listen), "%s192.0.2.254:720%d", sch, i + 1);
        snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", TOPO_CSD_METRICS_PORT + i);
        char *args[32] = {(char *)h_bin("strata-csd"),
                          "--id",
                          id,
                          "--pod",
                          "p1",
                          "--listen",
                          listen,
                          "--directory",
                          t->dir_urls,
                          "--metrics",
                          metrics,
                          NULL};
        h_tls_args(args, "connectivity", id, "192.0.2.254");
        if ((t->csd_pid[i] = spawn_in(t->infra, args, log)) <= 0)
            return -1;
    }
    return 0;
}

struct topo_node *topo_find(struct topo *t, const char *name)
{
    for (int i = 0; i < t->n_nodes; i++)
        if (strcmp(t->nodes[i].name, name) == 0)
            return &t->nodes[i];
    return NULL;
}

struct topo_node *topo_node(struct topo *t, const char *name, bool gateway)
{
    if (t->n_nodes == TOPO_MAX_NODES)
        return NULL;
    int k = t->n_nodes + 1;
    struct topo_node *n = &t->nodes[t->n_nodes];
    memset(n, 0, sizeof(*n));
    snprintf(n->name, sizeof(n->name), "%s", name);
    snprintf(n->ns, sizeof(n->ns), "stt-%d-%s", t->pid, name);
    snprintf(n->vtep, sizeof(n->vtep), "192.0.2.%d", k);
    snprintf(n->ctl, sizeof(n->ctl), "%s/%s.sock", t->tmp, name);
    n->gateway = gateway;
    t->n_nodes++; /* before the commands: cleanup removes a half-made namespace too */
    if (h_must("ip netns add %s && ip -n %s link set lo up", n->ns, n->ns) != 0 ||
        h_must("ip -n %s link add u%s type veth peer name eth0 netns %s && ip -n %s link set u%s "
               "master ub0 up && ip -n %s addr add %s/24 dev eth0 && ip -n %s link set eth0 up",
               t->infra, name, n->ns, t->infra, name, n->ns, n->vtep, n->ns) != 0)
        return NULL;
    return n;
}

int topo_node_start(struct topo *t, struct topo_node *n)
{
    char data[512], log[512];
    snprintf(data, sizeof(data), "%s/%s", t->tmp, n->name);
    snprintf(log, sizeof(log), "%s/%s.log", t->tmp, n->name);
    char *args[32] = {(char *)h_bin(n->gateway ? "strata-gwd" : "strata-agentd"),
                      n->gateway ? "--id" : "--host",
                      n->name,
                      "--vtep",
                      n->vtep,
                      "--pod",
                      "p1",
                      "--cs",
                      t->cs_url,
                      "--ctl",
                      n->ctl,
                      "--data-dir",
                      data,
                      "--underlay-dev",
                      "eth0",
                      "--metrics",
                      TOPO_METRICS,
                      NULL};
    h_tls_args(args, n->gateway ? "gateway" : "agent", n->name, NULL);
    topo_sh(NULL, "rm -f %s", n->ctl);
    if (n->gateway) {
        /* nsenter, not `ip netns exec`: that one also gives the program a private mount
         * namespace (to remount /sys), where the gateway's pins of its domain namespaces under
         * /run/netns would stay invisible to everyone else. */
        char netns[128];
        snprintf(netns, sizeof(netns), "--net=/run/netns/%s", n->ns);
        char *argv[40] = {"/usr/bin/nsenter", netns};
        for (int i = 0; args[i] != NULL && i < 37; i++)
            argv[i + 2] = args[i];
        n->pid = h_spawn(argv, log);
    } else {
        n->pid = spawn_in(n->ns, args, log);
    }
    if (n->pid <= 0)
        return -1;
    if (!topo_wait_cmd(5000, "test -S %s", n->ctl)) {
        fprintf(stderr, "topo: %s did not open %s (log: %s)\n", n->name, n->ctl, log);
        return -1;
    }
    return 0;
}

void topo_node_stop(struct topo_node *n, bool kill9)
{
    if (n->pid <= 0)
        return;
    if (kill9)
        h_kill9(n->pid);
    else
        h_stop(n->pid, 5000);
    n->pid = 0;
}

const char *topo_vm_ns(const struct topo *t, const char *vm)
{
    static char b[8][64];
    static int k;
    char *p = b[k++ % 8];
    snprintf(p, 64, "stt-%d-%s", t->pid, vm);
    return p;
}

int topo_vm(struct topo *t, const char *vm, struct topo_node *n, const char *ifname,
            const char *mac, const char *ip_plen, const char *gw)
{
    if (t->n_vms == TOPO_MAX_VMS)
        return -1;
    const char *ns = topo_vm_ns(t, vm);
    snprintf(t->vm_ns[t->n_vms++], sizeof(t->vm_ns[0]), "%s", ns);
    if (h_must("ip netns add %s && ip -n %s link set lo up", ns, ns) != 0 ||
        h_must("ip -n %s link add %s type veth peer name eth0 netns %s && ip -n %s link set eth0 "
               "address %s && ip -n %s addr add %s dev eth0 && ip -n %s link set eth0 up",
               n->ns, ifname, ns, ns, mac, ns, ip_plen, ns) != 0)
        return -1;
    if (gw != NULL && h_must("ip -n %s route add default via %s", ns, gw) != 0)
        return -1;
    return 0;
}

int topo_attach(const struct topo *t, const struct topo_node *n, uint32_t vni, const char *ifname,
                const char *mac, const char *ip_plen)
{
    return h_must("%s port attach --agent %s --vni %u --mac %s --ip %s --ifname %s", topo_cli(t),
                  n->ctl, vni, mac, ip_plen, ifname);
}

static uint16_t icmp_sum(const void *p, size_t n)
{
    const uint16_t *w = p;
    uint32_t s = 0;
    for (; n > 1; n -= 2)
        s += *w++;
    if (n)
        s += *(const uint8_t *)w;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* The pinger, in a child that entered the VM's namespace. */
static int ping_in_child(const char *dst, int count, int interval_ms, int wait_ms)
{
    int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    struct sockaddr_in to = {.sin_family = AF_INET};
    if (s < 0 || inet_pton(AF_INET, dst, &to.sin_addr) != 1)
        return -1;
    int got = 0;
    uint16_t id = (uint16_t)getpid();
    for (int seq = 1; seq <= count; seq++) {
        struct icmphdr h = {.type = ICMP_ECHO};
        h.un.echo.id = htons(id);
        h.un.echo.sequence = htons((uint16_t)seq);
        h.checksum = icmp_sum(&h, sizeof(h));
        uint64_t t0 = h_now_ms();
        (void)sendto(s, &h, sizeof(h), 0, (struct sockaddr *)&to, sizeof(to));
        bool ok = false;
        while (!ok) {
            int left = wait_ms - (int)(h_now_ms() - t0);
            if (left <= 0)
                break;
            struct pollfd p = {.fd = s, .events = POLLIN};
            if (poll(&p, 1, left) <= 0)
                break;
            uint8_t buf[1500];
            ssize_t r = recv(s, buf, sizeof(buf), 0);
            if (r < (ssize_t)(sizeof(struct iphdr) + sizeof(struct icmphdr)))
                continue;
            const struct iphdr *ip = (const void *)buf;
            const struct icmphdr *rh = (const void *)(buf + ip->ihl * 4);
            ok = rh->type == ICMP_ECHOREPLY && ntohs(rh->un.echo.id) == id &&
                 ntohs(rh->un.echo.sequence) == seq && ip->saddr == to.sin_addr.s_addr;
        }
        got += ok;
        int rest = interval_ms - (int)(h_now_ms() - t0);
        if (rest > 0 && seq < count)
            usleep((useconds_t)rest * 1000);
    }
    return got;
}

int topo_ping(const struct topo *t, const char *vm, const char *dst, int count, int interval_ms,
              int wait_ms)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        char path[128];
        snprintf(path, sizeof(path), "/run/netns/%s", topo_vm_ns(t, vm));
        int nsfd = open(path, O_RDONLY);
        if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0)
            _exit(1);
        int got = ping_in_child(dst, count, interval_ms, wait_ms);
        _exit(write(fds[1], &got, sizeof(got)) == sizeof(got) ? 0 : 1);
    }
    close(fds[1]);
    int got = -1;
    if (read(fds[0], &got, sizeof(got)) != sizeof(got))
        got = -1;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return got;
}

int topo_reach_within(const struct topo *t, const char *vm, const char *dst, int timeout_ms)
{
    uint64_t t0 = h_now_ms();
    while ((int)(h_now_ms() - t0) < timeout_ms)
        if (topo_ping(t, vm, dst, 1, 0, 100) == 1)
            return (int)(h_now_ms() - t0);
    return -1;
}
