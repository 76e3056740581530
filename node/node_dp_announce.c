/* node_dp_announce.c - tell the VMs of a VN on this host that an IP is at a MAC (a gratuitous
 * ARP reply out of each local port), right after the agent installed the answer to a miss.
 *
 * Why: with `proxy`, the VXLAN device consumes a VM's ARP request and reports an l3miss; the
 * agent installs the neighbour entry within a millisecond, but nothing answers the request that
 * was consumed, so the VM waits for its ARP retransmit timer (1 s by default) - the first packet
 * to any new destination, and the first after a migration flushed a VM's ARP cache, took a
 * second. Linux accepts an ARP reply for an entry it is resolving (INCOMPLETE) and sends what it
 * queued at once; a VM with no entry for that IP ignores it (arp_accept=0 creates nothing), and
 * one with an entry learns the same MAC the neighbour table says. Sent on the ports only, never
 * into the VXLAN device: nothing crosses the underlay. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <string.h>
#include <sys/socket.h>

#include "node_dp.h"

/* Ethernet + ARP (IPv4 over Ethernet) reply, 42 bytes. */
static size_t announce_frame(uint8_t *f, const uint8_t ip[4], const uint8_t mac[6])
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    memcpy(f, bcast, 6);
    memcpy(f + 6, mac, 6);
    f[12] = 0x08, f[13] = 0x06;                      /* ETH_P_ARP */
    f[14] = 0x00, f[15] = 0x01;                      /* hardware: Ethernet */
    f[16] = 0x08, f[17] = 0x00;                      /* protocol: IPv4 */
    f[18] = 6, f[19] = 4;                            /* address lengths */
    f[20] = 0x00, f[21] = 0x02;                      /* reply */
    memcpy(f + 22, mac, 6), memcpy(f + 28, ip, 4);   /* sender: the answer */
    memcpy(f + 32, bcast, 6), memcpy(f + 38, ip, 4); /* target: gratuitous form */
    return 42;
}

int node_dp_announce_arp(int fd, const int *ifindexes, size_t n, const struct strata_ip *ip,
                         const uint8_t mac[6], struct strata_err *e)
{
    if (ip->family != 4)
        return 0; /* IPv6 would take an unsolicited neighbour advertisement: not done yet */
    uint8_t frame[64];
    size_t len = announce_frame(frame, ip->a, mac);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_ll to = {.sll_family = AF_PACKET,
                                 .sll_protocol = htons(ETH_P_ARP),
                                 .sll_ifindex = ifindexes[i],
                                 .sll_halen = 6};
        memcpy(to.sll_addr, frame, 6);
        if (sendto(fd, frame, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0 && rc == 0)
            rc = strata_err_set(e, STRATA_EIO, "announce on ifindex %d: %s", ifindexes[i],
                                strerror(errno));
    }
    return rc;
}
