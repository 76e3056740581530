/* test_agent_overlay.c - the whole stack on the real kernel VXLAN datapath, in network namespaces
 * this test creates (and always deletes): an infra namespace with the underlay bridge, three
 * directory nodes and a connectivity server; three host namespaces each running strata-agentd;
 * VMs as namespaces behind veth pairs. Needs root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sweep.h"

#define NHOST 3
static char ns_infra[48], ns_host[NHOST][48];
static char ns_vm[8][48];
static int n_vm;
static const char *tmp;
static char dir_urls[128], cs_url[128];
static char ctl[NHOST][512];
static pid_t agent_pid[NHOST];
static pid_t csd_pid[2];
static int test_pid; /* names namespaces; fixed at start (children have other pids) */

static const char *VM_A = "va", *VM_B = "vb", *VM_C = "vc", *VM_D = "vd";

/* ---- helpers */

static int shf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int shf(char **out, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return h_run(cmd, out);
}

#define SH(...)                                                                                    \
    do {                                                                                           \
        char *o_ = NULL;                                                                           \
        int rc_ = shf(&o_, __VA_ARGS__);                                                           \
        if (rc_ != 0)                                                                              \
            fail_msg("exit %d: %s", rc_, o_ ? o_ : "");                                            \
        free(o_);                                                                                  \
    } while (0)

static void ns_cleanup(void)
{
    for (int i = 0; i < n_vm; i++)
        shf(NULL, "ip netns del %s 2>/dev/null", ns_vm[i]);
    for (int i = 0; i < NHOST; i++)
        if (ns_host[i][0])
            shf(NULL, "ip netns del %s 2>/dev/null", ns_host[i]);
    if (ns_infra[0])
        shf(NULL, "ip netns del %s 2>/dev/null", ns_infra);
}

static const char *vm_ns(const char *vm)
{
    static char b[8][64];
    static int k;
    char *p = b[k++ % 8];
    snprintf(p, 64, "stt-%d-%s", test_pid, vm);
    return p;
}

struct poll_cmd {
    const char *cmd;
};
static bool cmd_ok(void *arg)
{
    return h_run(((struct poll_cmd *)arg)->cmd, NULL) == 0;
}
static bool wait_cmd(int timeout_ms, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool wait_cmd(int timeout_ms, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    struct poll_cmd p = {cmd};
    return h_wait_until(cmd_ok, &p, timeout_ms);
}

static const char *cli(void)
{
    static char b[1024];
    snprintf(b, sizeof(b), "ip netns exec %s %s --directory %s", ns_infra, h_bin("strata"),
             dir_urls);
    return b;
}

/* ---- ICMP echo from inside a VM namespace (no ping binary needed) */

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

/* In a child in `vm`'s namespace: send `count` echoes `interval_ms` apart, each waiting up to
 * wait_ms for its reply. Returns the number of replies (or -1). */
static int vm_ping(const char *vm, const char *dst, int count, int interval_ms, int wait_ms)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        char path[128];
        snprintf(path, sizeof(path), "/run/netns/%s", vm_ns(vm));
        int nsfd = open(path, O_RDONLY);
        if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0)
            _exit(1);
        int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
        struct sockaddr_in to = {.sin_family = AF_INET};
        inet_pton(AF_INET, dst, &to.sin_addr);
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
        if (write(fds[1], &got, sizeof(got)) != sizeof(got))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    int got = -1;
    if (read(fds[0], &got, sizeof(got)) != sizeof(got))
        got = -1;
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    return got;
}

/* ---- topology */

static void start_agent(int i)
{
    char host[16], vtep[32], data[512], log[512];
    snprintf(host, sizeof(host), "h%d", i + 1);
    snprintf(vtep, sizeof(vtep), "192.0.2.%d", i + 1);
    snprintf(data, sizeof(data), "%s/%s", tmp, host);
    snprintf(log, sizeof(log), "%s/agent-%s.log", tmp, host);
    char *argv[] = {
        "/usr/sbin/ip", "netns", "exec",           ns_host[i], (char *)h_bin("strata-agentd"),
        "--host",       host,    "--vtep",         vtep,       "--pod",
        "p1",           "--cs",  cs_url,           "--ctl",    ctl[i],
        "--data-dir",   data,    "--underlay-dev", "eth0",     NULL};
    agent_pid[i] = h_spawn(argv, log);
    assert_true(agent_pid[i] > 0);
    assert_true(wait_cmd(5000, "test -S %s", ctl[i]));
}

static void add_vm(const char *vm, int host, const char *ifname, const char *mac, const char *ip)
{
    snprintf(ns_vm[n_vm++], sizeof(ns_vm[0]), "%s", vm_ns(vm));
    SH("ip netns add %s && ip -n %s link set lo up", vm_ns(vm), vm_ns(vm));
    SH("ip -n %s link add %s type veth peer name eth0 netns %s && ip -n %s link set eth0 address "
       "%s && ip -n %s addr add %s/24 dev eth0 && ip -n %s link set eth0 up",
       ns_host[host], ifname, vm_ns(vm), vm_ns(vm), mac, vm_ns(vm), ip, vm_ns(vm));
}

static void attach(int host, uint32_t vni, const char *ifname, const char *mac, const char *ip)
{
    SH("%s port attach --agent %s --vni %u --mac %s --ip %s/24 --ifname %s 2>&1", cli(), ctl[host],
       vni, mac, ip, ifname);
}

static void provision(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void provision(const char *fmt, ...)
{
    char args[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    /* The cluster may still be electing: retry until the write lands. */
    if (!wait_cmd(10000, "%s %s >/dev/null 2>&1", cli(), args))
        fail_msg("provisioning failed: %s", args);
}

static void on_fatal_signal(int sig)
{
    (void)sig;
    exit(1); /* runs the atexit cleanups: daemons killed, namespaces deleted */
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return -1;
    int pid = test_pid = (int)getpid();
    atexit(ns_cleanup); /* registered before h_spawn's: runs after the daemons are killed */
    signal(SIGTERM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);
    tmp = h_tmpdir("agent-overlay");
    snprintf(ns_infra, sizeof(ns_infra), "stt-%d-infra", pid);
    SH("ip netns add %s && ip -n %s link set lo up && ip -n %s link add ub0 type bridge && ip -n "
       "%s addr add 192.0.2.254/24 dev ub0 && ip -n %s link set ub0 up",
       ns_infra, ns_infra, ns_infra, ns_infra, ns_infra);
    for (int i = 0; i < NHOST; i++) {
        snprintf(ns_host[i], sizeof(ns_host[i]), "stt-%d-h%d", pid, i + 1);
        snprintf(ctl[i], sizeof(ctl[i]), "%s/h%d.sock", tmp, i + 1);
        SH("ip netns add %s && ip -n %s link set lo up", ns_host[i], ns_host[i]);
        SH("ip -n %s link add uh%d type veth peer name eth0 netns %s && ip -n %s link set uh%d "
           "master ub0 up && ip -n %s addr add 192.0.2.%d/24 dev eth0 && ip -n %s link set eth0 "
           "up",
           ns_infra, i + 1, ns_host[i], ns_infra, i + 1, ns_host[i], i + 1, ns_host[i]);
    }
    /* Directory (3 nodes) and one connectivity server, inside the infra namespace. */
    snprintf(dir_urls, sizeof(dir_urls),
             "tcp://127.0.0.1:7101,tcp://127.0.0.1:7102,tcp://127.0.0.1:7103");
    for (int i = 1; i <= 3; i++) {
        char id[4], dd[512], raft[32], api[32], log[512];
        snprintf(id, sizeof(id), "%d", i);
        snprintf(dd, sizeof(dd), "%s/dird%d", tmp, i);
        snprintf(raft, sizeof(raft), "127.0.0.1:700%d", i);
        snprintf(api, sizeof(api), "tcp://127.0.0.1:710%d", i);
        snprintf(log, sizeof(log), "%s/dird%d.log", tmp, i);
        SH("mkdir -p %s", dd);
        char *argv[] = {"/usr/sbin/ip",
                        "netns",
                        "exec",
                        ns_infra,
                        (char *)h_bin("strata-dird"),
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
                        NULL};
        assert_true(h_spawn(argv, log) > 0);
    }
    /* Two connectivity servers for the pod; agents use cs1 and fail over to cs2. */
    snprintf(cs_url, sizeof(cs_url), "tcp://192.0.2.254:7201,tcp://192.0.2.254:7202");
    for (int i = 0; i < 2; i++) {
        char log[512], id[8], listen[64];
        snprintf(log, sizeof(log), "%s/csd%d.log", tmp, i + 1);
        snprintf(id, sizeof(id), "cs%d", i + 1);
        snprintf(listen, sizeof(listen), "tcp://192.0.2.254:720%d", i + 1);
        char *cargv[] = {"/usr/sbin/ip",
                         "netns",
                         "exec",
                         ns_infra,
                         (char *)h_bin("strata-csd"),
                         "--id",
                         id,
                         "--pod",
                         "p1",
                         "--listen",
                         listen,
                         "--directory",
                         dir_urls,
                         NULL};
        csd_pid[i] = h_spawn(cargv, log);
        assert_true(csd_pid[i] > 0);
    }
    provision("domain create acme");
    provision("vnet create --vni 100 --domain acme");
    provision("vnet create --vni 200 --domain acme");
    provision("subnet create --vni 100 --cidr 10.1.0.0/24 --gateway 10.1.0.254");
    provision("subnet create --vni 200 --cidr 10.1.0.0/24 --gateway 10.1.0.254");
    for (int i = 0; i < NHOST; i++)
        start_agent(i);
    /* VN 100: A on h1, B on h2. VN 200 reuses the same addresses: C on h3, D on h2. */
    add_vm(VM_A, 0, "tva", "02:00:00:00:01:01", "10.1.0.1");
    add_vm(VM_B, 1, "tvb", "02:00:00:00:01:02", "10.1.0.2");
    add_vm(VM_C, 2, "tvc", "02:00:00:00:02:01", "10.1.0.1");
    add_vm(VM_D, 1, "tvd", "02:00:00:00:02:02", "10.1.0.2");
    attach(0, 100, "tva", "02:00:00:00:01:01", "10.1.0.1");
    attach(1, 100, "tvb", "02:00:00:00:01:02", "10.1.0.2");
    attach(2, 200, "tvc", "02:00:00:00:02:01", "10.1.0.1");
    attach(1, 200, "tvd", "02:00:00:00:02:02", "10.1.0.2");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_cleanup();
    ns_cleanup();
    return 0;
}

/* ---- tests */

static void test_same_vn_ping(void **state)
{
    (void)state;
    /* First try: the first echo may be lost to ARP resolution, not all of them. */
    int got = vm_ping(VM_B, "10.1.0.1", 3, 1000, 1000);
    assert_true(got >= 1);
    assert_int_equal(vm_ping(VM_B, "10.1.0.1", 3, 200, 1000), 3);
    assert_int_equal(vm_ping(VM_A, "10.1.0.2", 3, 200, 1000), 3);
    /* h2 learnt A through the l3miss path: an owned neighbour and FDB entry. */
    SH("ip -n %s neigh show dev vx100 | grep -q '10.1.0.1 lladdr 02:00:00:00:01:01 PERMANENT'",
       ns_host[1]);
    SH("bridge -n %s fdb show dev vx100 | grep '02:00:00:00:01:01' | grep -q 'dst 192.0.2.1'",
       ns_host[1]);
}

static void test_overlapping_vns_isolated(void **state)
{
    (void)state;
    /* D (VN 200, 10.1.0.2) reaches 10.1.0.1 = C, never A (VN 100, same IP). */
    assert_true(vm_ping(VM_D, "10.1.0.1", 3, 1000, 1000) >= 1);
    assert_int_equal(vm_ping(VM_D, "10.1.0.1", 3, 200, 1000), 3);
    SH("ip -n %s neigh show 10.1.0.1 | grep -q 02:00:00:00:02:01", vm_ns(VM_D));
    assert_true(vm_ping(VM_C, "10.1.0.2", 3, 1000, 1000) >= 1);
    SH("ip -n %s neigh show 10.1.0.2 | grep -q 02:00:00:00:02:02", vm_ns(VM_C));
    SH("ip -n %s neigh show 10.1.0.1 | grep -q 02:00:00:00:01:01", vm_ns(VM_B));
    /* On h2 both VNs hold 10.1.0.1, each on its own device with its own answer. */
    SH("ip -n %s neigh show dev vx200 | grep -q '10.1.0.1 lladdr 02:00:00:00:02:01'", ns_host[1]);
    SH("ip -n %s neigh show dev vx100 | grep -q '10.1.0.1 lladdr 02:00:00:00:01:01'", ns_host[1]);
}

static void test_cache_show_and_trace(void **state)
{
    (void)state;
    assert_int_equal(vm_ping(VM_B, "10.1.0.1", 1, 100, 1000), 1);
    char *out = NULL;
    assert_int_equal(shf(&out, "%s --json cache show --agent %s", cli(), ctl[1]), 0);
    assert_non_null(strstr(out, "ip 10.1.0.1"));
    assert_non_null(strstr(out, "vtep 192.0.2.1"));
    assert_non_null(strstr(out, "l3miss"));
    assert_non_null(strstr(out, "coalesced"));
    free(out);
    assert_int_equal(shf(&out,
                         "%s --json trace --vni 100 --src-ip 10.1.0.2 --dst-ip 10.1.0.1 --agent %s",
                         cli(), ctl[1]),
                     0);
    /* kernel, agent and connectivity-server hops, each with what it holds */
    assert_non_null(strstr(out, "kernel"));
    assert_non_null(strstr(out, "PERMANENT"));
    assert_non_null(strstr(out, "agent"));
    assert_non_null(strstr(out, "cs-"));
    free(out);
}

static void test_vxlan_on_the_wire(void **state)
{
    (void)state;
    char log[512];
    snprintf(log, sizeof(log), "%s/tcpdump.log", tmp);
    char *argv[] = {"/usr/sbin/ip", "netns", "exec", ns_infra, "tcpdump", "-i",   "uh1", "-nn",
                    "-l",           "-c",    "4",    "udp",    "port",    "4789", NULL};
    pid_t td = h_spawn(argv, log);
    assert_true(td > 0);
    assert_true(wait_cmd(3000, "grep -q 'listening on' %s", log));
    assert_true(vm_ping(VM_B, "10.1.0.1", 3, 100, 1000) >= 1);
    assert_true(wait_cmd(3000, "grep -q 'vni 100' %s", log));
    SH("grep -q '192.0.2.2.[0-9]* > 192.0.2.1.4789' %s", log);
    h_stop(td, 1000);
}

static void test_migration(void **state)
{
    (void)state;
    assert_int_equal(vm_ping(VM_B, "10.1.0.1", 2, 100, 1000), 2); /* h2 holds A's key */
    SH("%s port detach --agent %s --ifname tva", cli(), ctl[0]);
    /* A live migration keeps the VM's NIC and its state (its ARP cache): move the host end of
     * the VM's veth to h3 instead of creating a new interface. */
    SH("ip -n %s link set tva netns %s", ns_host[0], ns_host[2]);
    attach(2, 100, "tva", "02:00:00:00:01:01", "10.1.0.1");
    uint64_t t0 = h_now_ms(); /* the endpoint is registered on h3 from here on */
    /* h2's kernel follows the move within a second, pushed by the connectivity server. */
    bool moved = wait_cmd(1000,
                          "bridge -n %s fdb show dev vx100 | grep 02:00:00:00:01:01 | grep -q "
                          "'dst 192.0.2.3'",
                          ns_host[1]);
    uint64_t took = h_now_ms() - t0;
    print_message("migration: h2 FDB points at h3 after %llu ms\n", (unsigned long long)took);
    assert_true(moved);
    /* The acceptance point itself: reachable again from host 2 within 1 s of the attach. */
    bool reached = false;
    while (!reached && h_now_ms() - t0 < 1000)
        reached = vm_ping(VM_B, "10.1.0.1", 1, 0, 100) == 1;
    took = h_now_ms() - t0;
    print_message("migration: reachable from h2 after %llu ms\n", (unsigned long long)took);
    assert_true(reached);
    assert_true(vm_ping(VM_B, "10.1.0.1", 3, 200, 1000) >= 2);
    assert_int_equal(vm_ping(VM_B, "10.1.0.1", 3, 200, 1000), 3);
    /* h1 has no port left in VN 100: its devices are gone. */
    SH("! ip -n %s link show vx100 2>/dev/null", ns_host[0]);
}

static void test_agent_restart(void **state)
{
    (void)state;
    assert_int_equal(vm_ping(VM_D, "10.1.0.1", 2, 100, 1000), 2); /* h2 holds C's key (VN 200) */
    SH("ip -n %s neigh show dev vx200 | grep -q '10.1.0.1 lladdr 02:00:00:00:02:01'", ns_host[1]);
    /* A continuous ping B -> A (VN 100) across h2's agent restart. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pinger = fork();
    if (pinger == 0) {
        close(fds[0]);
        int got = vm_ping(VM_B, "10.1.0.1", 150, 20, 500);
        if (write(fds[1], &got, sizeof(got)) != sizeof(got))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    usleep(300 * 1000);
    assert_true(WIFEXITED(h_stop(agent_pid[1], 5000)));
    /* While h2's agent is down, C leaves (its endpoint is deleted). */
    SH("%s port detach --agent %s --ifname tvc", cli(), ctl[2]);
    start_agent(1);
    int got = -1;
    assert_int_equal(read(fds[0], &got, sizeof(got)), sizeof(got));
    close(fds[0]);
    waitpid(pinger, NULL, 0);
    print_message("restart: %d of 150 echoes answered\n", got);
    assert_true(got >= 145);
    /* The restarted agent removed the entries of the endpoint deleted meanwhile... */
    assert_true(
        wait_cmd(3000, "! ip -n %s neigh show dev vx200 | grep -q '10.1.0.1 '", ns_host[1]));
    assert_true(wait_cmd(3000,
                         "! bridge -n %s fdb show dev vx200 | grep 02:00:00:00:02:01 | grep -q "
                         "self",
                         ns_host[1]));
    /* ...and kept the others. */
    SH("ip -n %s neigh show dev vx100 | grep -q '10.1.0.1 lladdr 02:00:00:00:01:01'", ns_host[1]);
    assert_int_equal(vm_ping(VM_B, "10.1.0.1", 3, 100, 1000), 3);
}

static bool failed_over(void *arg)
{
    char *out = NULL;
    bool ok = shf(&out, "%s --json cache show --agent %s", cli(), (const char *)arg) == 0 &&
              out != NULL && strstr(out, "\"cs_failovers\":0") == NULL &&
              strstr(out, "\"cs_failovers\": 0") == NULL && strstr(out, "cs_failovers") != NULL;
    free(out);
    return ok;
}

static void test_cs_failover(void **state)
{
    (void)state;
    h_kill9(csd_pid[0]);
    uint64_t t0 = h_now_ms();
    /* Every agent moves to cs2 (a resolve or the long-poll notices within ~1.5 s). */
    for (int i = 0; i < NHOST; i++)
        assert_true(h_wait_until(failed_over, ctl[i], 5000));
    print_message("failover: all agents on cs2 after %llu ms\n",
                  (unsigned long long)(h_now_ms() - t0));
    /* A new VM on h1 registers and resolves through cs2. */
    add_vm("ve", 0, "tve", "02:00:00:00:01:05", "10.1.0.5");
    attach(0, 100, "tve", "02:00:00:00:01:05", "10.1.0.5");
    assert_true(vm_ping("ve", "10.1.0.2", 3, 1000, 1000) >= 1);
    assert_int_equal(vm_ping("ve", "10.1.0.2", 3, 200, 1000), 3);
}

/* Every message type the schema has (valid as far as decoding goes) on an agent's control
 * socket: each gets a reply, a refusal carries a message, and the agent still serves its
 * operator afterwards. */
static void test_every_body_is_answered(void **state)
{
    (void)state;
    char url[600];
    snprintf(url, sizeof(url), "ipc://%s", ctl[1]);
    struct h_sweep sw = h_sweep_bodies(url, NULL, 20, 0x9e3779b97f4a7c15ull);
    assert_true(sw.refused >= 10);
    assert_true(sw.variants > 50);
    assert_true(h_alive(agent_pid[1]));
    char *out = NULL;
    assert_int_equal(shf(&out, "%s --json cache show --agent %s", cli(), ctl[1]), 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "cs_failovers"));
    free(out);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("system tests need root: skipped\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_vn_ping),
        cmocka_unit_test(test_overlapping_vns_isolated),
        cmocka_unit_test(test_cache_show_and_trace),
        cmocka_unit_test(test_vxlan_on_the_wire),
        cmocka_unit_test(test_migration),
        cmocka_unit_test(test_agent_restart),
        cmocka_unit_test(test_cs_failover),
        cmocka_unit_test(test_every_body_is_answered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
