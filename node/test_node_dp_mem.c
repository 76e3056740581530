/* test_node_dp_mem.c - the datapath conformance suite (node_dp_conformance.c) against the
 * in-memory backend, plain and as a bridge endpoint. No root. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_dp_conformance.h"

static struct node_dp_mem *mem;

static uint32_t mem_vni_of(const char *name)
{
    unsigned vni = 0;
    return sscanf(name + 2, "%u", &vni) == 1 ? vni : 0;
}

static void mem_open(struct node_dp_conf *c, struct node_dp *dp)
{
    mem = node_dp_mem_new();
    if (mem == NULL)
        abort();
    node_dp_mem_set_bridge_endpoint(mem, c->bridge_endpoint);
    *dp = node_dp_mem(mem);
}

static void mem_close(struct node_dp_conf *c)
{
    (void)c;
    node_dp_mem_free(mem);
    mem = NULL;
}

static bool mem_has_dev(struct node_dp_conf *c, const char *name)
{
    (void)c;
    return node_dp_mem_vn(mem, mem_vni_of(name));
}

static bool mem_dev_owned(struct node_dp_conf *c, const char *name)
{
    (void)c;
    return node_dp_mem_vn_owned(mem, mem_vni_of(name));
}

static bool mem_neigh(struct node_dp_conf *c, uint32_t vni, const struct strata_ip *ip,
                      uint8_t mac[6])
{
    (void)c;
    return node_dp_mem_neigh(mem, vni, ip, mac);
}

static bool mem_bridge_neigh(struct node_dp_conf *c, uint32_t vni, const struct strata_ip *ip,
                             uint8_t mac[6])
{
    (void)c;
    return node_dp_mem_bridge_neigh(mem, vni, ip, mac);
}

static bool mem_fdb(struct node_dp_conf *c, uint32_t vni, const uint8_t mac[6],
                    struct strata_ip *vtep)
{
    (void)c;
    return node_dp_mem_fdb(mem, vni, mac, vtep);
}

static size_t mem_flood(struct node_dp_conf *c, uint32_t vni, struct strata_ip *out, size_t cap)
{
    (void)c;
    return node_dp_mem_flood(mem, vni, out, cap);
}

/* Our vxlan devices are on our bridges (the backend has no other notion of it). */
static void mem_port_master(struct node_dp_conf *c, const char *ifname, char *out, size_t cap)
{
    (void)c;
    out[0] = '\0';
    if (strncmp(ifname, "vx", 2) == 0) {
        uint32_t vni = mem_vni_of(ifname);
        if (node_dp_mem_vn_owned(mem, vni))
            snprintf(out, cap, "br%u", vni);
        return;
    }
    uint32_t vni = node_dp_mem_port_vni(mem, ifname);
    if (vni != 0)
        snprintf(out, cap, "br%u", vni);
}

static void mem_foreign_vn(struct node_dp_conf *c, uint32_t vni)
{
    (void)c;
    node_dp_mem_put_foreign_vn(mem, vni);
}

static void mem_foreign_neigh(struct node_dp_conf *c, uint32_t vni, const struct strata_ip *ip,
                              const uint8_t mac[6])
{
    (void)c;
    node_dp_mem_put_neigh(mem, vni, ip, mac, false);
}

static void mem_add_port(struct node_dp_conf *c, const char *ifname)
{
    (void)c, (void)ifname; /* any name is an interface here */
}

static void mem_port_to(struct node_dp_conf *c, const char *ifname, uint32_t vni)
{
    (void)c;
    node_dp_mem_put_port(mem, vni, ifname);
}

static void mem_provoke(struct node_dp_conf *c, uint32_t vni, char kind, const struct strata_ip *ip,
                        const uint8_t mac[6])
{
    (void)c;
    struct node_dp_miss m = {.vni = vni, .kind = kind};
    if (kind == 'i')
        m.ip = *ip;
    else
        memcpy(m.mac, mac, 6);
    (void)node_dp_mem_inject_miss(mem, &m);
}

int main(void)
{
    struct node_dp_conf c = {
        .name = "node_dp_mem",
        .open = mem_open,
        .close = mem_close,
        .has_dev = mem_has_dev,
        .dev_owned = mem_dev_owned,
        .neigh = mem_neigh,
        .bridge_neigh = mem_bridge_neigh,
        .fdb = mem_fdb,
        .flood = mem_flood,
        .port_master = mem_port_master,
        .foreign_vn = mem_foreign_vn,
        .foreign_neigh = mem_foreign_neigh,
        .add_port = mem_add_port,
        .port_to = mem_port_to,
        .provoke_miss = mem_provoke,
    };
    int rc = node_dp_conformance_run(&c);
    c.name = "node_dp_mem bridge_endpoint";
    c.bridge_endpoint = true;
    rc |= node_dp_conformance_run(&c);
    return rc;
}
