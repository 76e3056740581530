/* miss-bench.c - how fast strata-agentd turns a kernel miss into a neighbour entry: the time
 * from the l3miss (RTM_GETNEIGH on vx<VNI>) to the owned RTM_NEWNEIGH, with the connectivity
 * server's cache cold and warm, and how many misses per second one agent handles in a burst.
 * Builds its own namespaces (root needed): an infra namespace with one directory node and a
 * connectivity server, three hosts with an agent each, one VM per host. Prints one JSON object.
 *
 *   miss-bench [--n N]      (STRATA_BIN names the directory with the daemons and the CLI) */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "loop.h"
#include "nl/nl.h"

#define NHOST 3
#define MAX_N 1000

static int g_pid;
static int g_n = 200;
static char g_ns[8][48];
static int g_nns;
static const char *g_tmp;
static char g_cli[1024];

static const char *ns_name(const char *tag)
{
    static char b[8][48];
    static int k;
    char *p = b[k++ % 8];
    snprintf(p, 48, "stb-%d-%s", g_pid, tag);
    return p;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return h_run(cmd, NULL);
}

static void die(const char *what)
{
    printf("{\"bench\": \"miss-bench\", \"error\": \"%s\"}\n", what);
    exit(1);
}

static void on_signal(int sig)
{
    (void)sig;
    exit(1); /* runs the atexit cleanups */
}

static void cleanup_ns(void)
{
    for (int i = 0; i < g_nns; i++)
        run("ip netns del %s 2>/dev/null", g_ns[i]);
}

static void add_ns(const char *tag)
{
    snprintf(g_ns[g_nns++], sizeof(g_ns[0]), "%s", ns_name(tag));
    if (run("ip netns add %s && ip -n %s link set lo up", ns_name(tag), ns_name(tag)) != 0)
        die("cannot create namespaces");
}

static bool until_ok(int timeout_ms, const char *cmd)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    while (h_now_ms() < end) {
        if (h_run(cmd, NULL) == 0)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

static void cli(const char *args)
{
    char cmd[2048];
    int n = snprintf(cmd, sizeof(cmd), "%s %s >/dev/null 2>&1", g_cli, args);
    if (n < 0 || (size_t)n >= sizeof(cmd))
        die(args);
    if (!until_ok(10000, cmd))
        die(args);
}

static void endpoint_ip(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "10.1.%d.%d", 1 + i / 250, 1 + i % 250);
}

static void build(void)
{
    char infra[48];
    snprintf(infra, sizeof(infra), "%s", ns_name("infra"));
    add_ns("infra");
    if (run("ip -n %s link add ub0 type bridge && ip -n %s addr add 192.0.2.254/24 dev ub0 && "
            "ip -n %s link set ub0 up",
            infra, infra, infra) != 0)
        die("underlay");
    char log[512], dd[512];
    snprintf(dd, sizeof(dd), "%s/dird", g_tmp);
    snprintf(log, sizeof(log), "%s/dird.log", g_tmp);
    run("mkdir -p %s", dd);
    char *dargv[] = {"/usr/sbin/ip",
                     "netns",
                     "exec",
                     infra,
                     (char *)h_bin("strata-dird"),
                     "--id",
                     "1",
                     "--data-dir",
                     dd,
                     "--raft",
                     "127.0.0.1:7001",
                     "--api",
                     "tcp://127.0.0.1:7101",
                     "--cluster",
                     "1=127.0.0.1:7001",
                     NULL};
    if (h_spawn(dargv, log) <= 0)
        die("strata-dird");
    snprintf(log, sizeof(log), "%s/csd.log", g_tmp);
    char *cargv[] = {"/usr/sbin/ip",
                     "netns",
                     "exec",
                     infra,
                     (char *)h_bin("strata-csd"),
                     "--id",
                     "cs1",
                     "--pod",
                     "p1",
                     "--listen",
                     "tcp://192.0.2.254:7201",
                     "--directory",
                     "tcp://127.0.0.1:7101",
                     NULL};
    if (h_spawn(cargv, log) <= 0)
        die("strata-csd");
    snprintf(g_cli, sizeof(g_cli), "ip netns exec %s %s --directory tcp://127.0.0.1:7101", infra,
             h_bin("strata"));
    cli("domain create bench");
    cli("vnet create --vni 100 --domain bench");
    cli("subnet create --vni 100 --cidr 10.1.0.0/16 --gateway 10.1.255.254");
    cli("host add --id remote --vtep 192.0.2.200 --pod p1");
    /* Endpoints: 25 CLI writes in flight at a time (one at a time takes minutes). */
    char script[512];
    snprintf(script, sizeof(script), "%s/endpoints.sh", g_tmp);
    FILE *f = fopen(script, "w");
    if (f == NULL)
        die("endpoints script");
    for (int i = 0; i < g_n; i++) {
        char ip[32];
        endpoint_ip(i, ip, sizeof(ip));
        fprintf(f,
                "%s endpoint add --vni 100 --mac 02:00:00:aa:%02x:%02x --ip %s --host remote "
                ">/dev/null 2>&1 || exit 1 &\n%s",
                g_cli, i / 256, i % 256, ip, i % 25 == 24 ? "wait\n" : "");
    }
    fprintf(f, "wait\n");
    fclose(f);
    if (run("sh %s", script) != 0)
        die("endpoint add");
    for (int h = 0; h < NHOST; h++) {
        char tag[8], vtag[8], host[8], vtep[32], ctl[512], data[512];
        snprintf(tag, sizeof(tag), "h%d", h + 1);
        snprintf(vtag, sizeof(vtag), "v%d", h + 1);
        snprintf(host, sizeof(host), "h%d", h + 1);
        snprintf(vtep, sizeof(vtep), "192.0.2.%d", h + 1);
        add_ns(tag);
        add_ns(vtag);
        char hn[48], vn[48];
        snprintf(hn, sizeof(hn), "%s", ns_name(tag));
        snprintf(vn, sizeof(vn), "%s", ns_name(vtag));
        if (run("ip -n %s link add u%d type veth peer name eth0 netns %s && ip -n %s link set u%d "
                "master ub0 up && ip -n %s addr add %s/24 dev eth0 && ip -n %s link set eth0 up",
                infra, h + 1, hn, infra, h + 1, hn, vtep, hn) != 0)
            die("host underlay");
        snprintf(ctl, sizeof(ctl), "%s/%s.sock", g_tmp, host);
        snprintf(data, sizeof(data), "%s/%s", g_tmp, host);
        snprintf(log, sizeof(log), "%s/agent-%s.log", g_tmp, host);
        char *aargv[] = {"/usr/sbin/ip",
                         "netns",
                         "exec",
                         hn,
                         (char *)h_bin("strata-agentd"),
                         "--host",
                         host,
                         "--vtep",
                         vtep,
                         "--pod",
                         "p1",
                         "--cs",
                         "tcp://192.0.2.254:7201",
                         "--ctl",
                         ctl,
                         "--data-dir",
                         data,
                         NULL};
        if (h_spawn(aargv, log) <= 0)
            die("strata-agentd");
        char wait[1024];
        snprintf(wait, sizeof(wait), "test -S %s", ctl);
        if (!until_ok(5000, wait))
            die("agent control socket");
        if (run("ip -n %s link add tap0 type veth peer name eth0 netns %s && ip -n %s addr add "
                "10.1.255.%d/16 dev eth0 && ip -n %s link set eth0 up && ip -n %s link set eth0 "
                "address 02:00:00:bb:00:%02x",
                hn, vn, vn, h + 1, vn, vn, h + 1) != 0)
            die("vm");
        char args[1024];
        snprintf(args, sizeof(args),
                 "port attach --agent %s --vni 100 --mac 02:00:00:bb:00:%02x --ip 10.1.255.%d/16 "
                 "--ifname tap0",
                 ctl, h + 1, h + 1);
        cli(args);
    }
}

/* ---- measurement (in a child: netlink in the host namespace, UDP in the VM's) */

struct watch {
    struct strata_ip want;
    uint64_t t_miss, t_inst;
    uint64_t n_inst;
    struct strata_ip *set; /* burst mode: which IPs are installed */
    bool *done;
    int n;
};

static void watch_cb(const struct nlmsghdr *nh, void *arg)
{
    struct watch *w = arg;
    struct strata_nl_neigh n;
    if (strata_nl_parse_neigh(nh, &n) != 0 || !n.has_dst || n.family != AF_INET)
        return;
    uint64_t now = strata_now_us();
    if (w->set != NULL) {
        if (n.type != RTM_NEWNEIGH || !strata_nl_neigh_owned(&n))
            return;
        for (int i = 0; i < w->n; i++)
            if (!w->done[i] && strata_ip_equal(&w->set[i], &n.dst)) {
                w->done[i] = true;
                w->n_inst++;
                w->t_inst = now;
            }
        return;
    }
    if (!strata_ip_equal(&n.dst, &w->want))
        return;
    if (n.type == RTM_GETNEIGH && w->t_miss == 0)
        w->t_miss = now;
    else if (n.type == RTM_NEWNEIGH && strata_nl_neigh_owned(&n) && w->t_miss != 0)
        w->t_inst = now;
}

/* A dump answers with RTM_NEWNEIGH messages: count the owned ones of the burst's set. */
static void dump_cb(const struct nlmsghdr *nh, void *arg)
{
    watch_cb(nh, arg);
}

static int enter(const char *ns)
{
    char path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", ns);
    int fd = open(path, O_RDONLY);
    int rc = fd < 0 ? -1 : setns(fd, CLONE_NEWNET);
    if (fd >= 0)
        close(fd);
    return rc;
}

static void udp_poke(int s, const struct strata_ip *ip)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};
    memcpy(&sa.sin_addr, ip->a, 4);
    (void)sendto(s, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa));
}

static bool pump(struct strata_nl *nl, struct watch *w, uint64_t deadline_us)
{
    while (strata_now_us() < deadline_us) {
        struct pollfd p = {.fd = strata_nl_fd(nl), .events = POLLIN};
        int left = (int)((deadline_us - strata_now_us()) / 1000) + 1;
        if (poll(&p, 1, left) > 0) {
            bool overrun;
            (void)strata_nl_recv(nl, watch_cb, w, &overrun, NULL);
        }
        if (w->set == NULL ? w->t_inst != 0 : w->n_inst == (uint64_t)w->n)
            return true;
    }
    return false;
}

/* mode 0: one miss at a time, latencies (us) to fd; mode 1: a burst, (count, elapsed us). */
static void measure(int host, int mode, int fd)
{
    char tag[16], vtag[16];
    snprintf(tag, sizeof(tag), "h%d", host + 1);
    snprintf(vtag, sizeof(vtag), "v%d", host + 1);
    struct strata_nl *nl, *req;
    if (enter(ns_name(tag)) != 0 || strata_nl_open(1u << (RTNLGRP_NEIGH - 1), 8 << 20, &nl, NULL) ||
        strata_nl_open(0, 0, &req, NULL))
        _exit(1);
    if (enter(ns_name(vtag)) != 0)
        _exit(1);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    /* Every datagram to an unresolved address waits in the socket's send buffer: a default
     * buffer holds ~270 of them and the burst would block on the VM, not on the agent. */
    int sndbuf = 16 << 20;
    (void)setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
    struct strata_ip *ips = calloc((size_t)g_n, sizeof(*ips));
    for (int i = 0; i < g_n; i++) {
        char ip[32];
        endpoint_ip(i, ip, sizeof(ip));
        strata_ip_parse(ip, &ips[i], NULL);
    }
    if (mode == 0) {
        for (int i = 0; i < g_n; i++) {
            struct watch w = {.want = ips[i]};
            udp_poke(s, &ips[i]);
            uint64_t lat = 0;
            if (pump(nl, &w, strata_now_us() + 2000000))
                lat = w.t_inst - w.t_miss;
            if (write(fd, &lat, sizeof(lat)) != sizeof(lat))
                _exit(1);
        }
    } else {
        /* Completion is read from dumps, not notifications: a burst's notifications (misses,
         * neighbour and FDB entries, bridge learning) can overflow even a large buffer. */
        bool *done = calloc((size_t)g_n, sizeof(*done));
        struct watch w = {.set = ips, .done = done, .n = g_n};
        char buf[STRATA_NL_MSG_MAX];
        uint64_t t0 = strata_now_us(), t_end = 0;
        for (int i = 0; i < g_n; i++)
            udp_poke(s, &ips[i]);
        while (strata_now_us() < t0 + 10000000) {
            memset(done, 0, (size_t)g_n * sizeof(*done));
            w.n_inst = 0;
            if (strata_nl_enc_dump(buf, sizeof(buf), 0, RTM_GETNEIGH, AF_INET) == 0 ||
                strata_nl_dump(req, buf, dump_cb, &w, NULL) != 0)
                break;
            if (w.n_inst == (uint64_t)g_n) {
                t_end = strata_now_us();
                break;
            }
            usleep(2000);
        }
        uint64_t r[2] = {w.n_inst, t_end > t0 ? t_end - t0 : 0};
        if (write(fd, r, sizeof(r)) != sizeof(r))
            _exit(1);
        free(done);
    }
    free(ips);
    _exit(0);
}

static size_t child(int host, int mode, uint64_t *out, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        measure(host, mode, fds[1]);
    }
    close(fds[1]);
    size_t n = 0;
    while (n < cap && read(fds[0], &out[n], sizeof(out[n])) == sizeof(out[n]))
        n++;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return n;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *lat, size_t n, const char *sep)
{
    uint64_t ok[MAX_N];
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (lat[i] != 0)
            ok[m++] = lat[i];
    qsort(ok, m, sizeof(ok[0]), cmp_u64);
    uint64_t p50 = m ? ok[m / 2] : 0,
             p99 = m ? ok[(m * 99) / 100 >= m ? m - 1 : (m * 99) / 100] : 0;
    printf("  \"%s\": {\"misses\": %zu, \"installed\": %zu, \"p50_us\": %llu, \"p99_us\": %llu, "
           "\"max_us\": %llu}%s\n",
           name, n, m, (unsigned long long)p50, (unsigned long long)p99,
           (unsigned long long)(m ? ok[m - 1] : 0), sep);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
            g_n = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: miss-bench [--n N]   (N endpoints, 1..%d)\n", MAX_N);
            return 2;
        }
    }
    if (g_n < 1 || g_n > MAX_N)
        die("--n out of range");
    if (geteuid() != 0)
        die("needs root (network namespaces)");
    g_pid = (int)getpid();
    atexit(cleanup_ns); /* before h_spawn's atexit: runs after the daemons are gone */
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    g_tmp = h_tmpdir("miss-bench");
    build();
    static uint64_t cold[MAX_N], warm[MAX_N], burst[2];
    /* h1 asks first: the connectivity server's cache is cold (it asks the directory). */
    size_t nc = child(0, 0, cold, MAX_N);
    /* h2 asks for the same keys: the server answers from its cache. */
    size_t nw = child(1, 0, warm, MAX_N);
    /* The kernel's ARP table is shared by all namespaces (gc_thresh3 = 1024 entries): empty the
     * first two VMs' caches or the burst's neighbours cannot even be created. */
    run("ip -n %s neigh flush all; ip -n %s neigh flush all", ns_name("v1"), ns_name("v2"));
    /* h3 gets all misses at once (warm server): the agent's own throughput. */
    size_t nb = child(2, 1, burst, 2);
    printf("{\n  \"bench\": \"miss-bench\",\n  \"what\": \"kernel l3miss to owned neighbour entry "
           "installed, one agent\",\n  \"endpoints\": %d,\n",
           g_n);
    report("cold", cold, nc, ",");
    report("warm", warm, nw, ",");
    double per_s = nb == 2 && burst[1] > 0 ? (double)burst[0] * 1e6 / (double)burst[1] : 0;
    printf("  \"burst\": {\"misses\": %d, \"installed\": %llu, \"elapsed_us\": %llu, "
           "\"misses_per_s\": %.0f},\n",
           g_n, (unsigned long long)(nb == 2 ? burst[0] : 0),
           (unsigned long long)(nb == 2 ? burst[1] : 0), per_s);
    printf("  \"targets\": {\"warm_p99_us\": 2000, \"cold_p99_us\": 5000}\n}\n");
    return 0;
}
