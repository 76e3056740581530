/* cs_payload.h - what one change (or audit question) says, as cs_agents.c queues it: one
 * refcounted payload shared by every session it is pushed to. Private to connectivity-svc/
 * (cs.h declares the constructors). */
#ifndef CS_PAYLOAD_H
#define CS_PAYLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "cs.h"

struct cs_payload {
    uint32_t refs;
    uint64_t committed_us;
    bool has_ep;
    Strata__V1__Endpoint ep;
    ProtobufCBinaryData ips[STRATA_MAX_IPS];
    uint8_t ipbuf[STRATA_MAX_IPS][16];
    uint8_t mac[6], vtep[16];
    char host[64];
    ProtobufCBinaryData *flood;
    size_t nflood;
    uint32_t *vnis; /* VNINFO with vni 0: the gateway's VNs */
    size_t nvnis;
    uint64_t audit_id; /* AUDIT: the parts to detail and the keys to repair, as the message has
                          them */
    Strata__V1__AuditVn *parts;
    Strata__V1__AuditVn **partsp;
    size_t nparts;
    Strata__V1__AuditKey *repair;
    Strata__V1__AuditKey **repairp;
    struct cs_key *repair_keys;
    size_t nrepair;
    /* Convergence: the histogram of its kind, set when first queued; observed (committed_us to
     * now) when the last queue holding it lets go because its holder acknowledged it. `lost`:
     * some queue dropped it unacknowledged (resync, session end, superseded), so it never
     * converged by update and is not measured. */
    struct strata_histo *converge;
    bool lost;
};

#endif
