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
#include "topo.h"

#define NHOST 3
static struct topo T;
static const char *VM_A = "va", *VM_B = "vb", *VM_C = "vc", *VM_D = "vd";

static const char *host_ns(int i)
{
    return T.nodes[i].ns;
}

static const char *ctl(int i)
{
    return T.nodes[i].ctl;
}

static void add_vm(const char *vm, int host, const char *ifname, const char *mac, const char *ip)
{
    char ipp[32];
    snprintf(ipp, sizeof(ipp), "%s/24", ip);
    assert_int_equal(topo_vm(&T, vm, &T.nodes[host], ifname, mac, ipp, NULL), 0);
}

static void attach(int host, uint32_t vni, const char *ifname, const char *mac, const char *ip)
{
    char ipp[32];
    snprintf(ipp, sizeof(ipp), "%s/24", ip);
    assert_int_equal(topo_attach(&T, &T.nodes[host], vni, ifname, mac, ipp), 0);
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0 || topo_start(&T, "agent-overlay") != 0)
        return -1;
    for (int i = 0; i < NHOST; i++) {
        char name[8];
        snprintf(name, sizeof(name), "h%d", i + 1);
        if (topo_node(&T, name, false) == NULL)
            return -1;
    }
    if (topo_provision(&T, "domain create acme") != 0 ||
        topo_provision(&T, "vnet create --vni 100 --domain acme") != 0 ||
        topo_provision(&T, "vnet create --vni 200 --domain acme") != 0 ||
        topo_provision(&T, "subnet create --vni 100 --cidr 10.1.0.0/24 --gateway 10.1.0.254") !=
            0 ||
        topo_provision(&T, "subnet create --vni 200 --cidr 10.1.0.0/24 --gateway 10.1.0.254") != 0)
        return -1;
    for (int i = 0; i < NHOST; i++)
        if (topo_node_start(&T, &T.nodes[i]) != 0)
            return -1;
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
    topo_cleanup();
    return 0;
}

/* ---- tests */

static void test_same_vn_ping(void **state)
{
    (void)state;
    /* First try: the first echo may be lost to ARP resolution, not all of them. */
    int got = topo_ping(&T, VM_B, "10.1.0.1", 3, 1000, 1000);
    assert_true(got >= 1);
    assert_int_equal(topo_ping(&T, VM_B, "10.1.0.1", 3, 200, 1000), 3);
    assert_int_equal(topo_ping(&T, VM_A, "10.1.0.2", 3, 200, 1000), 3);
    /* h2 learnt A through the l3miss path: an owned neighbour and FDB entry. */
    TOPO_SH("ip -n %s neigh show dev vx100 | grep -q '10.1.0.1 lladdr 02:00:00:00:01:01 PERMANENT'",
            host_ns(1));
    TOPO_SH("bridge -n %s fdb show dev vx100 | grep '02:00:00:00:01:01' | grep -q 'dst 192.0.2.1'",
            host_ns(1));
}

static void test_overlapping_vns_isolated(void **state)
{
    (void)state;
    /* D (VN 200, 10.1.0.2) reaches 10.1.0.1 = C, never A (VN 100, same IP). */
    assert_true(topo_ping(&T, VM_D, "10.1.0.1", 3, 1000, 1000) >= 1);
    assert_int_equal(topo_ping(&T, VM_D, "10.1.0.1", 3, 200, 1000), 3);
    TOPO_SH("ip -n %s neigh show 10.1.0.1 | grep -q 02:00:00:00:02:01", topo_vm_ns(&T, VM_D));
    assert_true(topo_ping(&T, VM_C, "10.1.0.2", 3, 1000, 1000) >= 1);
    TOPO_SH("ip -n %s neigh show 10.1.0.2 | grep -q 02:00:00:00:02:02", topo_vm_ns(&T, VM_C));
    TOPO_SH("ip -n %s neigh show 10.1.0.1 | grep -q 02:00:00:00:01:01", topo_vm_ns(&T, VM_B));
    /* On h2 both VNs hold 10.1.0.1, each on its own device with its own answer. */
    TOPO_SH("ip -n %s neigh show dev vx200 | grep -q '10.1.0.1 lladdr 02:00:00:00:02:01'",
            host_ns(1));
    TOPO_SH("ip -n %s neigh show dev vx100 | grep -q '10.1.0.1 lladdr 02:00:00:00:01:01'",
            host_ns(1));
}

static void test_cache_show_and_trace(void **state)
{
    (void)state;
    assert_int_equal(topo_ping(&T, VM_B, "10.1.0.1", 1, 100, 1000), 1);
    char *out = NULL;
    assert_int_equal(topo_sh(&out, "%s --json cache show --agent %s", topo_cli(&T), ctl(1)), 0);
    assert_non_null(strstr(out, "ip 10.1.0.1"));
    assert_non_null(strstr(out, "vtep 192.0.2.1"));
    assert_non_null(strstr(out, "l3miss"));
    assert_non_null(strstr(out, "coalesced"));
    free(out);
    assert_int_equal(
        topo_sh(&out, "%s --json trace --vni 100 --src-ip 10.1.0.2 --dst-ip 10.1.0.1 --agent %s",
                topo_cli(&T), ctl(1)),
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
    snprintf(log, sizeof(log), "%s/tcpdump.log", T.tmp);
    char *argv[] = {"/usr/sbin/ip", "netns", "exec", T.infra, "tcpdump", "-i",   "uh1", "-nn",
                    "-l",           "-c",    "4",    "udp",   "port",    "4789", NULL};
    pid_t td = h_spawn(argv, log);
    assert_true(td > 0);
    assert_true(topo_wait_cmd(3000, "grep -q 'listening on' %s", log));
    assert_true(topo_ping(&T, VM_B, "10.1.0.1", 3, 100, 1000) >= 1);
    assert_true(topo_wait_cmd(3000, "grep -q 'vni 100' %s", log));
    TOPO_SH("grep -q '192.0.2.2.[0-9]* > 192.0.2.1.4789' %s", log);
    h_stop(td, 1000);
}

static void test_migration(void **state)
{
    (void)state;
    assert_int_equal(topo_ping(&T, VM_B, "10.1.0.1", 2, 100, 1000), 2); /* h2 holds A's key */
    TOPO_SH("%s port detach --agent %s --ifname tva", topo_cli(&T), ctl(0));
    /* A live migration keeps the VM's NIC and its state (its ARP cache): move the host end of
     * the VM's veth to h3 instead of creating a new interface. */
    TOPO_SH("ip -n %s link set tva netns %s", host_ns(0), host_ns(2));
    attach(2, 100, "tva", "02:00:00:00:01:01", "10.1.0.1");
    uint64_t t0 = h_now_ms(); /* the endpoint is registered on h3 from here on */
    /* h2's kernel follows the move within a second, pushed by the connectivity server. */
    bool moved = topo_wait_cmd(1000,
                               "bridge -n %s fdb show dev vx100 | grep 02:00:00:00:01:01 | grep -q "
                               "'dst 192.0.2.3'",
                               host_ns(1));
    uint64_t took = h_now_ms() - t0;
    print_message("migration: h2 FDB points at h3 after %llu ms\n", (unsigned long long)took);
    assert_true(moved);
    /* The acceptance point itself: reachable again from host 2 within 1 s of the attach. */
    bool reached = false;
    while (!reached && h_now_ms() - t0 < 1000)
        reached = topo_ping(&T, VM_B, "10.1.0.1", 1, 0, 100) == 1;
    took = h_now_ms() - t0;
    print_message("migration: reachable from h2 after %llu ms\n", (unsigned long long)took);
    assert_true(reached);
    assert_true(topo_ping(&T, VM_B, "10.1.0.1", 3, 200, 1000) >= 2);
    assert_int_equal(topo_ping(&T, VM_B, "10.1.0.1", 3, 200, 1000), 3);
    /* h1 has no port left in VN 100: its devices are gone. */
    TOPO_SH("! ip -n %s link show vx100 2>/dev/null", host_ns(0));
}

static void test_agent_restart(void **state)
{
    (void)state;
    assert_int_equal(topo_ping(&T, VM_D, "10.1.0.1", 2, 100, 1000),
                     2); /* h2 holds C's key (VN 200) */
    TOPO_SH("ip -n %s neigh show dev vx200 | grep -q '10.1.0.1 lladdr 02:00:00:00:02:01'",
            host_ns(1));
    /* A continuous ping B -> A (VN 100) across h2's agent restart. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pinger = fork();
    if (pinger == 0) {
        close(fds[0]);
        int got = topo_ping(&T, VM_B, "10.1.0.1", 150, 20, 500);
        if (write(fds[1], &got, sizeof(got)) != sizeof(got))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    usleep(300 * 1000);
    assert_true(WIFEXITED(h_stop(T.nodes[1].pid, 5000)));
    /* While h2's agent is down, C leaves (its endpoint is deleted). */
    TOPO_SH("%s port detach --agent %s --ifname tvc", topo_cli(&T), ctl(2));
    assert_int_equal(topo_node_start(&T, &T.nodes[1]), 0);
    int got = -1;
    assert_int_equal(read(fds[0], &got, sizeof(got)), sizeof(got));
    close(fds[0]);
    waitpid(pinger, NULL, 0);
    print_message("restart: %d of 150 echoes answered\n", got);
    assert_true(got >= 145);
    /* The restarted agent removed the entries of the endpoint deleted meanwhile... */
    assert_true(
        topo_wait_cmd(3000, "! ip -n %s neigh show dev vx200 | grep -q '10.1.0.1 '", host_ns(1)));
    assert_true(
        topo_wait_cmd(3000,
                      "! bridge -n %s fdb show dev vx200 | grep 02:00:00:00:02:01 | grep -q "
                      "self",
                      host_ns(1)));
    /* ...and kept the others. */
    TOPO_SH("ip -n %s neigh show dev vx100 | grep -q '10.1.0.1 lladdr 02:00:00:00:01:01'",
            host_ns(1));
    assert_int_equal(topo_ping(&T, VM_B, "10.1.0.1", 3, 100, 1000), 3);
}

/* A host reboots (issue 24): its agent dies, every device of its namespace but the underlay goes
 * (the VMs' interfaces too), the agent comes back to a ports file that names interfaces that no
 * longer exist, and the orchestrator re-creates each VM's interface under the same name and
 * attaches it again: the VMs must be plugged and ping. */
static void test_host_reboot(void **state)
{
    (void)state;
    topo_node_stop(&T.nodes[1], true); /* h2: B (VN 100) and D (VN 200) */
    TOPO_SH("for l in $(ip -n %s -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do "
            "case $l in lo|eth0) ;; *) ip -n %s link del $l 2>/dev/null;; esac; done",
            host_ns(1), host_ns(1));
    TOPO_SH("! ip -n %s link show br100 2>/dev/null", host_ns(1));
    assert_int_equal(topo_node_start(&T, &T.nodes[1]), 0);
    const struct {
        const char *vm, *ifname, *mac, *ip;
        uint32_t vni;
    } vms[2] = {{VM_B, "tvb", "02:00:00:00:01:02", "10.1.0.2", 100},
                {VM_D, "tvd", "02:00:00:00:02:02", "10.1.0.2", 200}};
    for (int i = 0; i < 2; i++) {
        const char *ns = topo_vm_ns(&T, vms[i].vm);
        TOPO_SH("ip -n %s link add %s type veth peer name eth0 netns %s && ip -n %s link set eth0 "
                "address %s && ip -n %s addr add %s/24 dev eth0 && ip -n %s link set eth0 up",
                host_ns(1), vms[i].ifname, ns, ns, vms[i].mac, ns, vms[i].ip, ns);
        attach(1, vms[i].vni, vms[i].ifname, vms[i].mac, vms[i].ip);
        TOPO_SH("ip -n %s link show %s | grep -q 'master br%u'", host_ns(1), vms[i].ifname,
                vms[i].vni);
    }
    /* the first echoes may go to resolution (the VMs' ARP caches are new), not all of them */
    assert_true(topo_ping(&T, VM_B, "10.1.0.1", 3, 1000, 1000) >= 1);
    assert_int_equal(topo_ping(&T, VM_B, "10.1.0.1", 3, 200, 1000), 3);
    /* (D's VN peer C left in test_agent_restart: D's port being on br200 is the check) */
}

/* The host's own interfaces are not VM ports: the underlay (a veth here, carrying the VTEP), a
 * device of another kind, and a MAC attached already on another port are refused, and the
 * underlay stays out of every bridge. */
static void test_attach_refusals(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_not_equal(topo_sh(&out,
                                 "%s port attach --agent %s --vni 100 --mac 02:00:00:00:01:77 "
                                 "--ip 10.1.0.77/24 --ifname eth0 2>&1",
                                 topo_cli(&T), ctl(0)),
                         0);
    assert_non_null(strstr(out, "eth0 carries 192.0.2."));
    free(out);
    TOPO_SH("! ip -n %s link show eth0 | grep -q master", host_ns(0));
    TOPO_SH("ip -n %s link add tdum type bridge", host_ns(0));
    assert_int_not_equal(topo_sh(&out,
                                 "%s port attach --agent %s --vni 100 --mac 02:00:00:00:01:78 "
                                 "--ip 10.1.0.78/24 --ifname tdum 2>&1",
                                 topo_cli(&T), ctl(0)),
                         0);
    assert_non_null(strstr(out, "only veth and tap interfaces are VM ports"));
    free(out);
    TOPO_SH("ip -n %s link del tdum", host_ns(0));
    /* one MAC, one port */
    TOPO_SH(
        "ip -n %s link add tdup1 type veth peer name tdup1v && ip -n %s link add tdup2 type veth "
        "peer name tdup2v",
        host_ns(0), host_ns(0));
    attach(0, 100, "tdup1", "02:00:00:00:01:79", "10.1.0.79");
    assert_int_not_equal(topo_sh(&out,
                                 "%s port attach --agent %s --vni 100 --mac 02:00:00:00:01:79 "
                                 "--ip 10.1.0.80/24 --ifname tdup2 2>&1",
                                 topo_cli(&T), ctl(0)),
                         0);
    assert_non_null(strstr(out, "is already attached on tdup1"));
    free(out);
    /* the same port with another address: refused, naming what it is; nothing changed */
    assert_int_not_equal(topo_sh(&out,
                                 "%s port attach --agent %s --vni 100 --mac 02:00:00:00:01:79 "
                                 "--ip 10.1.0.81/24 --ifname tdup1 2>&1",
                                 topo_cli(&T), ctl(0)),
                         0);
    assert_non_null(strstr(out, "tdup1 is already attached as 02:00:00:00:01:79 10.1.0.79/24 in "
                                "VN 100: detach it first to change it"));
    free(out);
    /* linearizable: a follower that has not applied the attach's registration yet answers
     * "no endpoint" to a serializable read */
    TOPO_SH("%s resolve --linearizable --vni 100 --ip 10.1.0.79 | grep -q 02:00:00:00:01:79",
            topo_cli(&T));
    TOPO_SH("! %s resolve --linearizable --vni 100 --ip 10.1.0.81 | grep -q 02:00:00:00:01:79",
            topo_cli(&T));
    TOPO_SH("%s port detach --agent %s --ifname tdup1", topo_cli(&T), ctl(0));
    TOPO_SH("ip -n %s link del tdup1 && ip -n %s link del tdup2", host_ns(0), host_ns(0));
    assert_int_equal(topo_ping(&T, VM_B, "10.1.0.1", 2, 100, 1000), 2);
}

static bool failed_over(void *arg)
{
    char *out = NULL;
    bool ok =
        topo_sh(&out, "%s --json cache show --agent %s", topo_cli(&T), (const char *)arg) == 0 &&
        out != NULL && strstr(out, "\"cs_failovers\":0") == NULL &&
        strstr(out, "\"cs_failovers\": 0") == NULL && strstr(out, "cs_failovers") != NULL;
    free(out);
    return ok;
}

static void test_cs_failover(void **state)
{
    (void)state;
    h_kill9(T.csd_pid[0]);
    uint64_t t0 = h_now_ms();
    /* Every agent moves to cs2 (a resolve or the long-poll notices within ~1.5 s). */
    for (int i = 0; i < NHOST; i++)
        assert_true(h_wait_until(failed_over, T.nodes[i].ctl, 5000));
    print_message("failover: all agents on cs2 after %llu ms\n",
                  (unsigned long long)(h_now_ms() - t0));
    /* A new VM on h1 registers and resolves through cs2. */
    add_vm("ve", 0, "tve", "02:00:00:00:01:05", "10.1.0.5");
    attach(0, 100, "tve", "02:00:00:00:01:05", "10.1.0.5");
    assert_true(topo_ping(&T, "ve", "10.1.0.2", 3, 1000, 1000) >= 1);
    assert_int_equal(topo_ping(&T, "ve", "10.1.0.2", 3, 200, 1000), 3);
}

/* Every message type the schema has (valid as far as decoding goes) on an agent's control
 * socket: each gets a reply, a refusal carries a message, and the agent still serves its
 * operator afterwards. */
static void test_every_body_is_answered(void **state)
{
    (void)state;
    char url[600];
    snprintf(url, sizeof(url), "ipc://%s", ctl(1));
    struct h_sweep sw = h_sweep_bodies(url, NULL, 20, 0x9e3779b97f4a7c15ull);
    assert_true(sw.refused >= 10);
    assert_true(sw.variants > 50);
    assert_true(h_alive(T.nodes[1].pid));
    char *out = NULL;
    assert_int_equal(topo_sh(&out, "%s --json cache show --agent %s", topo_cli(&T), ctl(1)), 0);
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
        cmocka_unit_test(test_host_reboot),
        cmocka_unit_test(test_attach_refusals),
        cmocka_unit_test(test_cs_failover),
        cmocka_unit_test(test_every_body_is_answered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
