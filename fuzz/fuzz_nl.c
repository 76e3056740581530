/* fuzz_nl.c - libFuzzer target: bytes as the agent reads them from an rtnetlink socket (a
 * dump's answer or a notification: RTM_*NEIGH for neighbours, FDB entries and misses, RTM_*LINK
 * for its vxlan devices). They go through libmnl's mnl_cb_run as lib/nl/nl_sock.c runs them,
 * and every message through both parsers of lib/nl/nl_parse.c, strata_nl_parse_neigh and
 * strata_nl_parse_link, and the ownership rules. Checked: nothing reads outside the buffer, a
 * parsed address is IPv4 or IPv6, and every name comes back NUL-terminated within its field.
 * Run with FZ_WRITE_CORPUS=DIR once to write seeds made by lib/nl's own encoders (an owned
 * neighbour, FDB and flood entries, a vxlan device with its alias, a miss, a delete) and one
 * buffer of several messages. Build: docs/fuzzing.md. */
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fz_util.h"
#include "addr.h"
#include "nl.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* As big as nl_sock.c's receive buffer could need; aligned as a socket buffer is. */
#define FZ_NL_MAX 65536
static uint32_t fz_buf[FZ_NL_MAX / 4];

static void fz_bad(const char *what)
{
    fprintf(stderr, "%s\n", what);
    abort();
}

static void fz_terminated(const char *s, size_t cap, const char *what)
{
    if (memchr(s, '\0', cap) == NULL)
        fz_bad(what);
}

static int fz_msg(const struct nlmsghdr *nh, void *arg)
{
    (void)arg;
    struct strata_nl_neigh n;
    if (strata_nl_parse_neigh(nh, &n) == 0) {
        (void)strata_nl_neigh_owned(&n);
        if (n.has_dst) {
            if (n.dst.family != 4 && n.dst.family != 6)
                fz_bad("neighbour: an address of neither family");
            char text[STRATA_IP_STRLEN];
            (void)strata_ip_format(&n.dst, text);
        }
    }
    struct strata_nl_link l;
    if (strata_nl_parse_link(nh, &l) == 0) {
        (void)strata_nl_link_owned(&l);
        fz_terminated(l.name, sizeof(l.name), "link: name not terminated");
        fz_terminated(l.kind, sizeof(l.kind), "link: kind not terminated");
        fz_terminated(l.alias, sizeof(l.alias), "link: alias not terminated");
    }
    return MNL_CB_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* what strata_nl_recv lets through (libmnl 1.0.4 reads past a 2 GiB nlmsg_len) */
    if (size > FZ_NL_MAX || !strata_nl_lengths_ok((const char *)data, size))
        return 0;
    memcpy(fz_buf, data, size);
    /* Notifications (seq 0, portid 0: any accepted), then as the answer to request 1. */
    (void)mnl_cb_run(fz_buf, size, 0, 0, fz_msg, NULL);
    memcpy(fz_buf, data, size);
    (void)mnl_cb_run(fz_buf, size, 1, 0, fz_msg, NULL);
    return 0;
}

/* ---- seeds */

static void write_seeds(const char *dir)
{
    static uint32_t all[FZ_NL_MAX / 4], one[STRATA_NL_MSG_MAX / 4];
    size_t at = 0, n;
    struct strata_ip ip, vtep, ip6;
    struct strata_err e;
    const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 1}, zero[6] = {0};
    strata_ip_parse("10.1.0.7", &ip, &e);
    strata_ip_parse("192.168.0.2", &vtep, &e);
    strata_ip_parse("fd00:1::7", &ip6, &e);
#define SEED(name, expr)                                                                           \
    do {                                                                                           \
        n = (expr);                                                                                \
        fz_write_seed(dir, name, one, n);                                                          \
        memcpy((char *)all + at, one, n);                                                          \
        at += n;                                                                                   \
    } while (0)
    SEED("neigh", strata_nl_enc_neigh(one, sizeof(one), 0, true, 7, &ip, mac));
    SEED("neigh6-del", strata_nl_enc_neigh(one, sizeof(one), 0, false, 7, &ip6, mac));
    SEED("fdb", strata_nl_enc_fdb(one, sizeof(one), 0, true, false, 8, mac, &vtep));
    SEED("fdb-flood", strata_nl_enc_fdb(one, sizeof(one), 0, true, true, 8, zero, &vtep));
    struct strata_nl_vxlan vx = {.name = "vx100", .vni = 100, .local = vtep, .link = 2};
    SEED("vxlan", strata_nl_enc_vxlan_new(one, sizeof(one), 0, &vx));
    SEED("alias", strata_nl_enc_link_alias(one, sizeof(one), 0, 8, STRATA_NL_ALIAS));
    SEED("bridge", strata_nl_enc_bridge_new(one, sizeof(one), 0, "br100", 1450));
    SEED("link-set", strata_nl_enc_link_set(one, sizeof(one), 0, 8, 9, 1));
    SEED("link-del", strata_nl_enc_link_del(one, sizeof(one), 0, 8));
    /* an l3 miss: RTM_GETNEIGH with NDA_DST only */
    n = strata_nl_enc_neigh(one, sizeof(one), 0, true, 8, &ip, mac);
    struct nlmsghdr *nh = (struct nlmsghdr *)one;
    nh->nlmsg_type = RTM_GETNEIGH;
    nh->nlmsg_len = (uint32_t)mnl_nlmsg_size(sizeof(struct ndmsg));
    mnl_attr_put(nh, NDA_DST, 4, ip.a);
    SEED("miss", nh->nlmsg_len);
#undef SEED
    fz_write_seed(dir, "all", all, at);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FZ_WRITE_CORPUS");
    if (dir != NULL) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}
