/* node_dp_mem.c - the in-memory datapath: records what the kernel would hold, counts writes, and
 * keeps un-owned entries apart so tests can prove the agent never touches them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "node_dp.h"

#define MEM_MAX_VN 64
#define MEM_MAX_PORTS 256
#define MEM_MAX_ENT 4096
#define MEM_MAX_MISS 256

struct mem_ent {
    bool used, owned, is_fdb;
    bool on_br; /* a neighbour entry on br<VNI> (bridge endpoint's announce) */
    uint32_t vni;
    struct strata_ip ip; /* neigh: the IP; fdb: the VTEP */
    uint8_t mac[6];
};

struct node_dp_mem {
    uint32_t vns[MEM_MAX_VN];
    bool vn_owned[MEM_MAX_VN]; /* false: another program's devices of that name */
    size_t n_vns;
    bool bridge_endpoint;
    struct {
        uint32_t vni;
        char ifname[32];
    } ports[MEM_MAX_PORTS];
    size_t n_ports;
    struct mem_ent *ent; /* MEM_MAX_ENT slots */
    uint64_t writes;
    size_t announced;
    /* Injected misses, delivered through miss_fd/miss_read like the kernel's: the eventfd is
     * readable while the queue is not empty. */
    struct node_dp_miss miss[MEM_MAX_MISS];
    size_t n_miss;
    bool overrun;
    int miss_efd;
};

static const uint8_t mem_zero[6];

struct node_dp_mem *node_dp_mem_new(void)
{
    struct node_dp_mem *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->ent = calloc(MEM_MAX_ENT, sizeof(*m->ent));
    m->miss_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m->ent == NULL || m->miss_efd < 0) {
        node_dp_mem_free(m);
        return NULL;
    }
    return m;
}

void node_dp_mem_free(struct node_dp_mem *m)
{
    if (m == NULL)
        return;
    if (m->miss_efd >= 0)
        close(m->miss_efd);
    free(m->ent);
    free(m);
}

/* The index of vni's devices, or -1. */
static int mem_vn_index(const struct node_dp_mem *m, uint32_t vni)
{
    for (size_t i = 0; i < m->n_vns; i++)
        if (m->vns[i] == vni)
            return (int)i;
    return -1;
}

static bool mem_has_vn(const struct node_dp_mem *m, uint32_t vni)
{
    return mem_vn_index(m, vni) >= 0;
}

static bool mem_vn_owned(const struct node_dp_mem *m, uint32_t vni)
{
    int i = mem_vn_index(m, vni);
    return i >= 0 && m->vn_owned[i];
}

/* Find a neighbour (is_fdb false: by ip) or FDB entry (by mac, and by vtep when given). */
static struct mem_ent *mem_find(const struct node_dp_mem *m, bool is_fdb, uint32_t vni,
                                const struct strata_ip *ip, const uint8_t *mac)
{
    for (size_t i = 0; i < MEM_MAX_ENT; i++) {
        struct mem_ent *x = &m->ent[i];
        if (!x->used || x->on_br || x->is_fdb != is_fdb || x->vni != vni)
            continue;
        if (!is_fdb && strata_ip_equal(&x->ip, ip))
            return x;
        if (is_fdb && memcmp(x->mac, mac, 6) == 0 && (ip == NULL || strata_ip_equal(&x->ip, ip)))
            return x;
    }
    return NULL;
}

static struct mem_ent *mem_find_br(const struct node_dp_mem *m, uint32_t vni,
                                   const struct strata_ip *ip)
{
    for (size_t i = 0; i < MEM_MAX_ENT; i++) {
        struct mem_ent *x = &m->ent[i];
        if (x->used && x->on_br && x->vni == vni && strata_ip_equal(&x->ip, ip))
            return x;
    }
    return NULL;
}

static struct mem_ent *mem_alloc(struct node_dp_mem *m)
{
    for (size_t i = 0; i < MEM_MAX_ENT; i++)
        if (!m->ent[i].used) {
            m->ent[i].used = true;
            return &m->ent[i];
        }
    return NULL;
}

static int mem_vn_add(struct node_dp_mem *m, uint32_t vni, bool owned, struct strata_err *e)
{
    if (mem_has_vn(m, vni)) {
        if (!mem_vn_owned(m, vni))
            return strata_err_set(
                e, STRATA_EEXIST,
                "vx%u exists and is not Strata's (alias \"\"): remove or rename it", vni);
        return 0;
    }
    if (m->n_vns == MEM_MAX_VN)
        return strata_err_set(e, STRATA_ENOSPACE, "too many VNs");
    m->vn_owned[m->n_vns] = owned;
    m->vns[m->n_vns++] = vni;
    m->writes++;
    return 0;
}

static int mem_vn_ensure(void *ctx, uint32_t vni, struct strata_err *e)
{
    return mem_vn_add(ctx, vni, true, e);
}

static int mem_vn_release(void *ctx, uint32_t vni, struct strata_err *e)
{
    (void)e;
    struct node_dp_mem *m = ctx;
    for (size_t i = 0; i < m->n_vns; i++) {
        if (m->vns[i] != vni || !m->vn_owned[i])
            continue; /* someone else's devices are theirs to remove */
        m->vn_owned[i] = m->vn_owned[m->n_vns - 1];
        m->vns[i] = m->vns[--m->n_vns];
        m->writes++;
        for (size_t j = 0; j < MEM_MAX_ENT; j++)
            if (m->ent[j].used && m->ent[j].vni == vni)
                m->ent[j].used = false;
        return 0;
    }
    return 0;
}

static int mem_port_enslave(void *ctx, uint32_t vni, const char *ifname, struct strata_err *e)
{
    struct node_dp_mem *m = ctx;
    if (!mem_has_vn(m, vni))
        return strata_err_set(e, STRATA_ENOTFOUND, "no devices for vni %u", vni);
    if (!mem_vn_owned(m, vni))
        return strata_err_set(e, STRATA_EEXIST, "br%u exists and is not Strata's", vni);
    if (node_dp_mem_port(m, vni, ifname))
        return 0;
    for (size_t i = 0; i < m->n_ports; i++)
        if (strcmp(m->ports[i].ifname, ifname) == 0 && !mem_vn_owned(m, m->ports[i].vni))
            return strata_err_set(e, STRATA_EEXIST,
                                  "%s is on br%u, which is not Strata's: take it off first", ifname,
                                  m->ports[i].vni);
    if (m->n_ports == MEM_MAX_PORTS || strlen(ifname) >= sizeof(m->ports[0].ifname))
        return strata_err_set(e, STRATA_EINVAL, "cannot enslave %s", ifname);
    m->ports[m->n_ports].vni = vni;
    strcpy(m->ports[m->n_ports].ifname, ifname);
    m->n_ports++;
    m->writes++;
    return 0;
}

static int mem_port_release(void *ctx, uint32_t vni, const char *ifname, struct strata_err *e)
{
    (void)e;
    struct node_dp_mem *m = ctx;
    for (size_t i = 0; i < m->n_ports; i++) {
        if (m->ports[i].vni == vni && strcmp(m->ports[i].ifname, ifname) == 0 &&
            mem_vn_owned(m, vni)) {
            m->ports[i] = m->ports[--m->n_ports];
            m->writes++;
            return 0;
        }
    }
    return 0;
}

static int mem_put(struct node_dp_mem *m, bool is_fdb, uint32_t vni, const struct strata_ip *ip,
                   const uint8_t mac[6], bool owned, bool append, struct strata_err *e)
{
    if (!mem_has_vn(m, vni))
        return strata_err_set(e, STRATA_ENOTFOUND, "no device for vni %u", vni);
    struct mem_ent *x = is_fdb ? mem_find(m, true, vni, append ? ip : NULL, mac)
                               : mem_find(m, false, vni, ip, NULL);
    if (x == NULL)
        x = mem_alloc(m);
    if (x == NULL)
        return strata_err_set(e, STRATA_ENOSPACE, "table full");
    x->owned = owned;
    x->is_fdb = is_fdb;
    x->vni = vni;
    x->ip = *ip;
    memcpy(x->mac, mac, 6);
    m->writes++;
    return 0;
}

static int mem_neigh_set(void *ctx, uint32_t vni, const struct strata_ip *ip, const uint8_t mac[6],
                         struct strata_err *e)
{
    return mem_put(ctx, false, vni, ip, mac, true, false, e);
}

static int mem_neigh_del(void *ctx, uint32_t vni, const struct strata_ip *ip, struct strata_err *e)
{
    (void)e;
    struct node_dp_mem *m = ctx;
    struct mem_ent *x = mem_find(m, false, vni, ip, NULL);
    if (x != NULL) {
        x->used = false;
        m->writes++;
    }
    if (m->bridge_endpoint && (x = mem_find_br(m, vni, ip)) != NULL) {
        x->used = false;
        m->writes++;
    }
    return 0;
}

static int mem_fdb_set(void *ctx, uint32_t vni, const uint8_t mac[6], const struct strata_ip *vtep,
                       struct strata_err *e)
{
    return mem_put(ctx, true, vni, vtep, mac, true, false, e);
}

static int mem_fdb_del(void *ctx, uint32_t vni, const uint8_t mac[6], struct strata_err *e)
{
    (void)e;
    struct node_dp_mem *m = ctx;
    struct mem_ent *x = mem_find(m, true, vni, NULL, mac);
    if (x != NULL) {
        x->used = false;
        m->writes++;
    }
    return 0;
}

static int mem_flood_set(void *ctx, uint32_t vni, const struct strata_ip *vteps, size_t n,
                         struct strata_err *e)
{
    struct node_dp_mem *m = ctx;
    for (size_t i = 0; i < MEM_MAX_ENT; i++) {
        struct mem_ent *x = &m->ent[i];
        if (!x->used || !x->is_fdb || x->vni != vni || memcmp(x->mac, mem_zero, 6) != 0)
            continue;
        bool keep = false;
        for (size_t j = 0; j < n; j++)
            keep = keep || strata_ip_equal(&vteps[j], &x->ip);
        if (!keep) {
            x->used = false;
            m->writes++;
        }
    }
    for (size_t j = 0; j < n; j++) {
        if (mem_find(m, true, vni, &vteps[j], mem_zero) != NULL)
            continue;
        int rc = mem_put(m, true, vni, &vteps[j], mem_zero, true, true, e);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static bool mem_vn_owned_by_id(const struct node_dp_mem *m, uint32_t vni)
{
    for (size_t i = 0; i < m->n_vns; i++)
        if (m->vns[i] == vni)
            return m->vn_owned[i];
    return false;
}

/* all: every entry on owned devices, Strata's or not, flood entries left out (dump_all). */
static int mem_dump(struct node_dp_mem *m, bool all, struct node_dp_dump *d, struct strata_err *e)
{
    memset(d, 0, sizeof(*d));
    d->vnis = calloc(m->n_vns + 1, sizeof(*d->vnis));
    d->neigh = calloc(MEM_MAX_ENT, sizeof(*d->neigh));
    d->fdb = calloc(MEM_MAX_ENT, sizeof(*d->fdb));
    d->flood = calloc(MEM_MAX_ENT, sizeof(*d->flood));
    if (d->vnis == NULL || d->neigh == NULL || d->fdb == NULL || d->flood == NULL) {
        node_dp_dump_free(d);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < m->n_vns; i++)
        if (m->vn_owned[i])
            d->vnis[d->n_vnis++] = m->vns[i];
    for (size_t i = 0; i < MEM_MAX_ENT; i++) {
        const struct mem_ent *x = &m->ent[i];
        if (!x->used || x->on_br || (!all && !x->owned) || (all && !mem_vn_owned_by_id(m, x->vni)))
            continue;
        if (!x->is_fdb) {
            struct node_dp_neigh *n = &d->neigh[d->n_neigh++];
            n->vni = x->vni;
            n->ip = x->ip;
            memcpy(n->mac, x->mac, 6);
            n->owned = x->owned;
            continue;
        }
        bool flood = memcmp(x->mac, mem_zero, 6) == 0;
        if (flood && all)
            continue;
        struct node_dp_fdb *f = flood ? &d->flood[d->n_flood++] : &d->fdb[d->n_fdb++];
        f->vni = x->vni;
        f->vtep = x->ip;
        memcpy(f->mac, x->mac, 6);
        f->owned = x->owned;
    }
    return 0;
}

static int mem_dump_owned(void *ctx, struct node_dp_dump *d, struct strata_err *e)
{
    return mem_dump(ctx, false, d, e);
}

static int mem_dump_all(void *ctx, struct node_dp_dump *d, struct strata_err *e)
{
    return mem_dump(ctx, true, d, e);
}

static int mem_announce(void *ctx, uint32_t vni, const struct strata_ip *ip, const uint8_t mac[6],
                        struct strata_err *e)
{
    struct node_dp_mem *m = ctx;
    m->announced++;
    if (!m->bridge_endpoint || !mem_has_vn(m, vni))
        return 0;
    struct mem_ent *x = mem_find_br(m, vni, ip);
    if (x == NULL && (x = mem_alloc(m)) == NULL)
        return strata_err_set(e, STRATA_ENOSPACE, "table full");
    *x = (struct mem_ent){.used = true, .owned = true, .on_br = true, .vni = vni, .ip = *ip};
    memcpy(x->mac, mac, 6);
    m->writes++;
    return 0;
}

static bool mem_describe_ip(void *ctx, uint32_t vni, const struct strata_ip *ip, char *buf,
                            size_t cap, struct node_dp_described *out)
{
    struct node_dp_mem *m = ctx;
    struct mem_ent *x = mem_find(m, false, vni, ip, NULL);
    if (x == NULL) {
        snprintf(buf, cap, "no neighbour entry");
        return false;
    }
    char ms[STRATA_MAC_STRLEN];
    snprintf(buf, cap, "lladdr %s PERMANENT", strata_mac_format(x->mac, ms));
    if (out != NULL) {
        *out = (struct node_dp_described){.found = true};
        memcpy(out->mac, x->mac, 6);
    }
    return true;
}

static int mem_miss_fd(void *ctx)
{
    return ((struct node_dp_mem *)ctx)->miss_efd;
}

static int mem_miss_read(void *ctx, node_dp_miss_cb cb, void *arg, struct strata_err *e)
{
    (void)e;
    struct node_dp_mem *m = ctx;
    uint64_t v;
    (void)!read(m->miss_efd, &v, sizeof(v)); /* clear readiness; the queue says what waits */
    /* Take the queue first: cb may inject again (a test's handler). */
    struct node_dp_miss q[MEM_MAX_MISS];
    size_t n = m->n_miss;
    bool overrun = m->overrun;
    memcpy(q, m->miss, n * sizeof(q[0]));
    m->n_miss = 0;
    m->overrun = false;
    for (size_t i = 0; i < n; i++)
        cb(arg, &q[i], false);
    if (overrun)
        cb(arg, NULL, true);
    return 0;
}

static const struct node_dp_ops mem_ops = {
    .vn_ensure = mem_vn_ensure,
    .vn_release = mem_vn_release,
    .port_enslave = mem_port_enslave,
    .port_release = mem_port_release,
    .neigh_set = mem_neigh_set,
    .neigh_del = mem_neigh_del,
    .fdb_set = mem_fdb_set,
    .fdb_del = mem_fdb_del,
    .flood_set = mem_flood_set,
    .dump_owned = mem_dump_owned,
    .dump_all = mem_dump_all,
    .describe_ip = mem_describe_ip,
    .announce = mem_announce,
    .miss_fd = mem_miss_fd,
    .miss_read = mem_miss_read,
};

struct node_dp node_dp_mem(struct node_dp_mem *m)
{
    return (struct node_dp){.ops = &mem_ops, .ctx = m};
}

bool node_dp_mem_vn(const struct node_dp_mem *m, uint32_t vni)
{
    return mem_has_vn(m, vni);
}

bool node_dp_mem_port(const struct node_dp_mem *m, uint32_t vni, const char *ifname)
{
    for (size_t i = 0; i < m->n_ports; i++)
        if (m->ports[i].vni == vni && strcmp(m->ports[i].ifname, ifname) == 0)
            return true;
    return false;
}

bool node_dp_mem_neigh(const struct node_dp_mem *m, uint32_t vni, const struct strata_ip *ip,
                       uint8_t mac_out[6])
{
    struct mem_ent *x = mem_find(m, false, vni, ip, NULL);
    if (x != NULL && mac_out != NULL)
        memcpy(mac_out, x->mac, 6);
    return x != NULL;
}

bool node_dp_mem_fdb(const struct node_dp_mem *m, uint32_t vni, const uint8_t mac[6],
                     struct strata_ip *vtep_out)
{
    struct mem_ent *x = mem_find(m, true, vni, NULL, mac);
    if (x != NULL && vtep_out != NULL)
        *vtep_out = x->ip;
    return x != NULL;
}

size_t node_dp_mem_flood(const struct node_dp_mem *m, uint32_t vni, struct strata_ip *out,
                         size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < MEM_MAX_ENT; i++) {
        const struct mem_ent *x = &m->ent[i];
        if (x->used && x->is_fdb && x->vni == vni && memcmp(x->mac, mem_zero, 6) == 0) {
            if (n < cap)
                out[n] = x->ip;
            n++;
        }
    }
    return n;
}

size_t node_dp_mem_announced(const struct node_dp_mem *m)
{
    return m->announced;
}

size_t node_dp_mem_count(const struct node_dp_mem *m)
{
    size_t n = 0;
    for (size_t i = 0; i < MEM_MAX_ENT; i++)
        n += m->ent[i].used;
    return n;
}

uint64_t node_dp_mem_writes(const struct node_dp_mem *m)
{
    return m->writes;
}

void node_dp_mem_put_neigh(struct node_dp_mem *m, uint32_t vni, const struct strata_ip *ip,
                           const uint8_t mac[6], bool owned)
{
    (void)mem_vn_add(m, vni, true, NULL);
    (void)mem_put(m, false, vni, ip, mac, owned, false, NULL);
}

void node_dp_mem_put_fdb(struct node_dp_mem *m, uint32_t vni, const uint8_t mac[6],
                         const struct strata_ip *vtep, bool owned)
{
    (void)mem_vn_add(m, vni, true, NULL);
    (void)mem_put(m, true, vni, vtep, mac, owned, memcmp(mac, mem_zero, 6) == 0, NULL);
}

int node_dp_mem_inject_miss(struct node_dp_mem *m, const struct node_dp_miss *miss)
{
    if (miss == NULL)
        m->overrun = true;
    else if (m->n_miss == MEM_MAX_MISS)
        return STRATA_ENOSPACE;
    else
        m->miss[m->n_miss++] = *miss;
    uint64_t one = 1;
    (void)!write(m->miss_efd, &one, sizeof(one));
    return 0;
}

void node_dp_mem_put_foreign_vn(struct node_dp_mem *m, uint32_t vni)
{
    (void)mem_vn_add(m, vni, false, NULL);
}

void node_dp_mem_put_port(struct node_dp_mem *m, uint32_t vni, const char *ifname)
{
    if (m->n_ports < MEM_MAX_PORTS && strlen(ifname) < sizeof(m->ports[0].ifname)) {
        m->ports[m->n_ports].vni = vni;
        strcpy(m->ports[m->n_ports].ifname, ifname);
        m->n_ports++;
    }
}

void node_dp_mem_set_bridge_endpoint(struct node_dp_mem *m, bool on)
{
    m->bridge_endpoint = on;
}

bool node_dp_mem_bridge_neigh(const struct node_dp_mem *m, uint32_t vni, const struct strata_ip *ip,
                              uint8_t mac_out[6])
{
    struct mem_ent *x = mem_find_br(m, vni, ip);
    if (x != NULL && mac_out != NULL)
        memcpy(mac_out, x->mac, 6);
    return x != NULL;
}

bool node_dp_mem_vn_owned(const struct node_dp_mem *m, uint32_t vni)
{
    return mem_vn_owned(m, vni);
}

uint32_t node_dp_mem_port_vni(const struct node_dp_mem *m, const char *ifname)
{
    for (size_t i = 0; i < m->n_ports; i++)
        if (strcmp(m->ports[i].ifname, ifname) == 0)
            return m->ports[i].vni;
    return 0;
}
