/* h_arp.h - a VM that sends raw ARP requests (each becomes an l3miss at its host's VXLAN device:
 * how system tests make an agent resolve many addresses without as many VMs). */
#ifndef STRATA_H_ARP_H
#define STRATA_H_ARP_H

#include <stdint.h>
#include <sys/types.h>

/* From inside namespace netns (its eth0, MAC mac, address sip): ARP requests for the IPv4
 * addresses tips[0..n) (network byte order) in turn, `rate` per second (0: as fast as possible)
 * for duration_ms. Runs in a child; returns its pid (reap with h_arp_flood_wait), or -1. */
pid_t h_arp_flood(const char *netns, const char *mac, const char *sip, const uint32_t *tips, int n,
                  unsigned rate, unsigned duration_ms);
/* The child's exit status (0: it ran), or -1. */
int h_arp_flood_wait(pid_t pid);

#endif
