/* nl_addr.h - rtnetlink interface addresses and link MAC addresses: encoders and a parser. */
#ifndef STRATA_NL_ADDR_H
#define STRATA_NL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct nlmsghdr;

/* RTM_NEWADDR (add: create, replace nothing) or RTM_DELADDR of ip/plen on ifindex, scope
 * global. Returns the length written, 0 when cap < STRATA_NL_MSG_MAX or the input is invalid. */
size_t strata_nl_enc_addr(void *buf, size_t cap, uint32_t seq, bool add, int ifindex,
                          const struct strata_ip *ip, uint8_t plen);
/* RTM_NEWLINK setting IFLA_ADDRESS (the link's MAC) on ifindex. */
size_t strata_nl_enc_link_mac(void *buf, size_t cap, uint32_t seq, int ifindex,
                              const uint8_t mac[6]);

/* RTM_GETADDR dump of every interface's addresses, both families. */
size_t strata_nl_enc_addr_dump(void *buf, size_t cap, uint32_t seq);

struct strata_nl_addr {
    int type; /* RTM_NEWADDR / RTM_DELADDR */
    int ifindex;
    struct strata_ip ip;
    uint8_t plen;
    uint8_t scope; /* RT_SCOPE_* */
};
/* Parse an RTM_*ADDR message (IFA_LOCAL, else IFA_ADDRESS); STRATA_EPROTO otherwise. */
int strata_nl_parse_addr(const struct nlmsghdr *nh, struct strata_nl_addr *out);

#endif
