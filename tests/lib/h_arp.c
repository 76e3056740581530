/* h_arp.c - raw ARP requests from inside a namespace (see h_arp.h). */
#include "h_arp.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

struct h_arp_frame {
    struct ether_header eth;
    uint16_t htype, ptype;
    uint8_t hlen, plen;
    uint16_t op;
    uint8_t sha[6], spa[4], tha[6], tpa[4];
} __attribute__((packed));

static void h_arp_frame(struct h_arp_frame *f, const uint8_t mac[6], uint32_t sip, uint32_t tip)
{
    memset(f, 0, sizeof(*f));
    memset(f->eth.ether_dhost, 0xff, 6);
    memcpy(f->eth.ether_shost, mac, 6);
    f->eth.ether_type = htons(ETHERTYPE_ARP);
    f->htype = htons(1);
    f->ptype = htons(ETHERTYPE_IP);
    f->hlen = 6;
    f->plen = 4;
    f->op = htons(1);
    memcpy(f->sha, mac, 6);
    memcpy(f->spa, &sip, 4);
    memcpy(f->tpa, &tip, 4);
}

pid_t h_arp_flood(const char *netns, const char *mac_s, const char *sip_s, const uint32_t *tips,
                  int n, unsigned rate, unsigned duration_ms)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    char path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", netns);
    int nsfd = open(path, O_RDONLY);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0)
        _exit(2);
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));
    struct sockaddr_ll sa = {.sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex("eth0")};
    if (fd < 0 || sa.sll_ifindex == 0)
        _exit(3);
    int sndbuf = 4 << 20;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    uint8_t mac[6];
    unsigned m[6];
    if (sscanf(mac_s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
        _exit(4);
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)m[i];
    uint32_t sip;
    inet_pton(AF_INET, sip_s, &sip);
    uint64_t t0 = h_now_ms(), sent = 0;
    for (;;) {
        uint64_t el = h_now_ms() - t0;
        if (el >= duration_ms)
            break;
        if (rate != 0 && sent >= (uint64_t)rate * el / 1000 + 50) {
            struct timespec ts = {0, 200 * 1000};
            nanosleep(&ts, NULL); /* pacing the sender, not synchronising a test */
            continue;
        }
        struct h_arp_frame f;
        h_arp_frame(&f, mac, sip, tips[sent % (uint64_t)n]);
        if (sendto(fd, &f, sizeof(f), 0, (struct sockaddr *)&sa, sizeof(sa)) == sizeof(f))
            sent++;
    }
    fprintf(stderr, "arp flood in %s: %llu requests in %u ms\n", netns, (unsigned long long)sent,
            duration_ms);
    _exit(0);
}

int h_arp_flood_wait(pid_t pid)
{
    int st = 0;
    if (pid <= 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
