/* systest_node_dp_kernel.c - the datapath conformance suite (node_dp_conformance.c) against the
 * kernel backend: in a private network namespace per case (unshare: nothing to clean up, a
 * namespace dies with its last reference), then with the datapath in a second namespace as a
 * gateway runs it (netns_fd, bridge_endpoint). Needs root; inspects with ip(8) and bridge(8). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "node_dp_conformance.h"

struct kenv {
    struct node_dp_kernel *k;
    int under;  /* the case's underlay namespace (ours) */
    int tenant; /* the datapath's namespace, or -1 */
    bool addr_on_br;
};
static struct kenv kenv = {.under = -1, .tenant = -1};

static int ns_self(void)
{
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail_msg("open own netns");
    return fd;
}

/* Run fn-like steps inside the datapath's namespace: enter / leave. */
static void dp_enter(void)
{
    if (kenv.tenant >= 0 && setns(kenv.tenant, CLONE_NEWNET) != 0)
        fail_msg("setns tenant");
}

static void dp_leave(void)
{
    if (kenv.tenant >= 0 && setns(kenv.under, CLONE_NEWNET) != 0)
        abort(); /* the rest of the run would be in the wrong namespace */
}

/* A shell command in the datapath's namespace (under: in the underlay's); its exit code. */
static int sh_in(bool under, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh_in(bool under, const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (!under)
        dp_enter();
    int rc = system(cmd);
    if (!under)
        dp_leave();
    return rc;
}

#define SH(...) sh_in(false, __VA_ARGS__)

static void sh_ok(const char *cmd)
{
    if (SH("%s", cmd) != 0)
        fail_msg("command failed: %s", cmd);
}

/* The first line of a command's output in the datapath's namespace ("" when none). */
static void sh_line(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sh_line(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    dp_enter();
    FILE *f = popen(cmd, "r");
    dp_leave();
    out[0] = '\0';
    if (f == NULL)
        fail_msg("popen %s", cmd);
    if (fgets(out, (int)cap, f) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    pclose(f);
}

/* The word after `key` in s, or "". */
static void word_after(const char *s, const char *key, char *out, size_t cap)
{
    const char *p = strstr(s, key);
    out[0] = '\0';
    if (p == NULL)
        return;
    p += strlen(key);
    size_t n = strcspn(p, " ");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static void k_open(struct node_dp_conf *c, struct node_dp *dp)
{
    if (kenv.under >= 0)
        close(kenv.under);
    if (unshare(CLONE_NEWNET) != 0)
        fail_msg("unshare");
    kenv.under = ns_self();
    kenv.addr_on_br = false;
    if (sh_in(true, "ip link set lo up && ip link add und0 type bridge && ip addr add "
                    "192.0.2.1/24 dev und0 && ip link set und0 up") != 0)
        fail_msg("underlay setup");
    if (c->netns) {
        if (unshare(CLONE_NEWNET) != 0)
            fail_msg("unshare tenant");
        kenv.tenant = ns_self();
        if (setns(kenv.under, CLONE_NEWNET) != 0)
            fail_msg("setns back");
        sh_ok("ip link set lo up");
    }
    struct node_dp_kernel_opts o = {.vtep = {0},
                                    .underlay_dev = "und0",
                                    .netns_fd = kenv.tenant,
                                    .bridge_endpoint = c->bridge_endpoint};
    assert_int_equal(strata_ip_parse("192.0.2.1", &o.vtep, NULL), 0);
    struct strata_err e;
    if (node_dp_kernel_new(&o, &kenv.k, &e) != 0)
        fail_msg("node_dp_kernel_new: %s", e.msg);
    *dp = node_dp_kernel(kenv.k);
}

static void k_close(struct node_dp_conf *c)
{
    (void)c;
    node_dp_kernel_free(kenv.k);
    kenv.k = NULL;
    if (kenv.tenant >= 0)
        close(kenv.tenant); /* the tenant namespace dies with it: its devices go */
    kenv.tenant = -1;
}

static void k_reopen(struct node_dp_conf *c, struct node_dp *dp)
{
    struct node_dp_kernel_opts o = {
        .underlay_dev = "und0", .netns_fd = kenv.tenant, .bridge_endpoint = c->bridge_endpoint};
    assert_int_equal(strata_ip_parse("192.0.2.1", &o.vtep, NULL), 0);
    struct strata_err e;
    node_dp_kernel_free(kenv.k);
    if (node_dp_kernel_new(&o, &kenv.k, &e) != 0)
        fail_msg("node_dp_kernel_new: %s", e.msg);
    *dp = node_dp_kernel(kenv.k);
}

static bool k_has_dev(struct node_dp_conf *c, const char *name)
{
    (void)c;
    return SH("ip link show %s >/dev/null 2>&1", name) == 0;
}

static bool k_dev_owned(struct node_dp_conf *c, const char *name)
{
    (void)c;
    return SH("ip link show %s | grep -q 'alias strata$'", name) == 0;
}

static bool k_neigh_on(const char *dev, const struct strata_ip *ip, uint8_t mac[6])
{
    char ips[STRATA_IP_STRLEN], line[256], ms[32];
    sh_line(line, sizeof(line), "ip neigh show dev %s to %s 2>/dev/null", dev,
            strata_ip_format(ip, ips));
    word_after(line, "lladdr ", ms, sizeof(ms));
    return ms[0] != '\0' && strata_mac_parse(ms, mac, NULL) == 0;
}

static bool k_neigh(struct node_dp_conf *c, uint32_t vni, const struct strata_ip *ip,
                    uint8_t mac[6])
{
    (void)c;
    char dev[16];
    snprintf(dev, sizeof(dev), "vx%u", vni);
    return k_neigh_on(dev, ip, mac);
}

static bool k_bridge_neigh(struct node_dp_conf *c, uint32_t vni, const struct strata_ip *ip,
                           uint8_t mac[6])
{
    (void)c;
    char dev[16];
    snprintf(dev, sizeof(dev), "br%u", vni);
    return k_neigh_on(dev, ip, mac);
}

static bool k_fdb(struct node_dp_conf *c, uint32_t vni, const uint8_t mac[6],
                  struct strata_ip *vtep)
{
    (void)c;
    char ms[STRATA_MAC_STRLEN], line[256], dst[64];
    sh_line(line, sizeof(line), "bridge fdb show dev vx%u | grep '^%s ' | grep ' self'", vni,
            strata_mac_format(mac, ms));
    word_after(line, "dst ", dst, sizeof(dst));
    return dst[0] != '\0' && strata_ip_parse(dst, vtep, NULL) == 0;
}

static size_t k_flood(struct node_dp_conf *c, uint32_t vni, struct strata_ip *out, size_t cap)
{
    (void)c;
    char cmd[160], line[256], dst[64];
    snprintf(cmd, sizeof(cmd), "bridge fdb show dev vx%u | grep '^00:00:00:00:00:00 '", vni);
    dp_enter();
    FILE *f = popen(cmd, "r");
    dp_leave();
    size_t n = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        word_after(line, "dst ", dst, sizeof(dst));
        if (n < cap && strata_ip_parse(dst, &out[n], NULL) == 0)
            n++;
    }
    if (f != NULL)
        pclose(f);
    return n;
}

static void k_port_master(struct node_dp_conf *c, const char *ifname, char *out, size_t cap)
{
    (void)c;
    char line[512];
    sh_line(line, sizeof(line), "ip -o link show %s", ifname);
    word_after(line, " master ", out, cap);
}

static void k_foreign_vn(struct node_dp_conf *c, uint32_t vni)
{
    (void)c;
    char cmd[400];
    snprintf(cmd, sizeof(cmd),
             "ip link add br%u type bridge && ip link set br%u alias theirs && ip link set br%u "
             "up && ip link add vx%u type vxlan id %u dstport 4789 nolearning && ip link set "
             "vx%u alias theirs",
             vni, vni, vni, vni, vni, vni);
    sh_ok(cmd);
}

static void k_foreign_neigh(struct node_dp_conf *c, uint32_t vni, const struct strata_ip *ip,
                            const uint8_t mac[6])
{
    (void)c;
    char ips[STRATA_IP_STRLEN], ms[STRATA_MAC_STRLEN], cmd[200];
    snprintf(cmd, sizeof(cmd), "ip neigh add %s lladdr %s dev vx%u nud permanent",
             strata_ip_format(ip, ips), strata_mac_format(mac, ms), vni);
    sh_ok(cmd);
}

static void k_add_port(struct node_dp_conf *c, const char *ifname)
{
    (void)c;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name %sv", ifname, ifname);
    sh_ok(cmd);
}

static void k_port_to(struct node_dp_conf *c, const char *ifname, uint32_t vni)
{
    (void)c;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "ip link set %s master br%u", ifname, vni);
    sh_ok(cmd);
}

/* The bridge is the endpoint: an address on br<VNI> and a datagram to ip make the bridge ARP
 * for it (l3miss at the proxying vxlan) or, once the vxlan answers, send to its MAC (l2miss). */
static void k_provoke(struct node_dp_conf *c, uint32_t vni, char kind, const struct strata_ip *ip,
                      const uint8_t mac[6])
{
    (void)c, (void)kind, (void)mac;
    if (!kenv.addr_on_br) {
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "ip addr add 10.1.0.1/24 dev br%u && ip link set br%u up", vni,
                 vni);
        sh_ok(cmd);
        kenv.addr_on_br = true;
    }
    dp_enter();
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* in the datapath's namespace */
    dp_leave();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};
    memcpy(&sa.sin_addr, ip->a, 4);
    (void)sendto(s, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa));
    close(s);
}

static uint64_t k_fdb_dumps(struct node_dp_conf *c)
{
    (void)c;
    return node_dp_kernel_fdb_dumps(kenv.k);
}

/* The devices live in the tenant namespace only; the vxlan's UDP socket is in the underlay (the
 * vxlan is up: ensure brought it up). */
static void k_check_placement(struct node_dp_conf *c, uint32_t vni)
{
    (void)c;
    assert_int_not_equal(sh_in(true, "ip link show vx%u >/dev/null 2>&1", vni), 0);
    assert_int_not_equal(sh_in(true, "ip link show br%u >/dev/null 2>&1", vni), 0);
    assert_int_equal(SH("ip -d link show vx%u | grep -q 'link-netnsid'", vni), 0);
    assert_int_equal(sh_in(true, "ss -uln | grep -q ':4789 '"), 0);
    assert_int_not_equal(SH("ss -uln | grep -q ':4789 '"), 0);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("node_dp_kernel: needs root, skipped\n");
        return 0;
    }
    struct node_dp_conf c = {
        .name = "node_dp_kernel",
        .open = k_open,
        .close = k_close,
        .has_dev = k_has_dev,
        .dev_owned = k_dev_owned,
        .neigh = k_neigh,
        .bridge_neigh = k_bridge_neigh,
        .fdb = k_fdb,
        .flood = k_flood,
        .port_master = k_port_master,
        .foreign_vn = k_foreign_vn,
        .foreign_neigh = k_foreign_neigh,
        .add_port = k_add_port,
        .port_to = k_port_to,
        .provoke_miss = k_provoke,
        .fdb_dumps = k_fdb_dumps,
        .reopen = k_reopen,
    };
    int rc = node_dp_conformance_run(&c);
    /* As a gateway runs it: a tenant namespace, the bridge as the endpoint. */
    c.name = "node_dp_kernel netns bridge_endpoint";
    c.netns = true;
    c.bridge_endpoint = true;
    c.check_placement = k_check_placement;
    rc |= node_dp_conformance_run(&c);
    return rc;
}
