/* trace_verdict.h - `strata trace`'s verdict and conclusion from what each tier said: a pure
 * function, so that every verdict is unit-tested without a daemon. */
#ifndef STRATA_CLI_TRACE_VERDICT_H
#define STRATA_CLI_TRACE_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

enum trace_verdict {
    TRACE_DELIVERED,
    TRACE_DENIED,
    TRACE_UNKNOWN_DESTINATION,
    TRACE_STALE,
    TRACE_NO_GATEWAY,
    TRACE_UNREACHABLE,
};

/* "delivered", "denied", "unknown-destination", "stale", "no-gateway", "unreachable". */
const char *trace_verdict_name(enum trace_verdict v);

/* What one tier holds for the address it was asked about. */
struct trace_held {
    bool answered;     /* false: the tier could not be asked; error says why */
    const char *error; /* may be NULL */
    bool present;      /* it holds a (positive) entry */
    bool negative;     /* it holds a negative answer: the address exists nowhere */
    bool has_mac;
    uint8_t mac[6];
    bool has_vtep; /* false with present: a neighbour entry without an FDB entry */
    struct strata_ip vtep;
    uint64_t version; /* 0: the tier keeps no version (the kernel) */
};

/* An endpoint as the directory has it. */
struct trace_dir_ep {
    bool found;
    uint8_t mac[6];
    struct strata_ip vtep;
    const char *host;
    uint64_t version;
};

/* Everything trace learnt. For a same-VN flow the source host's tiers and `key` are about the
 * destination; for a routed flow about the source VN's gateway address (what the VM sends to),
 * and the destination leg is in the routed fields. Strings may be NULL unless said otherwise. */
struct trace_facts {
    const char *dst;      /* the destination IP as text (not NULL) */
    uint32_t src_vni;     /* the flow's VN */
    const char *src_host; /* the source host's name, for messages */
    bool has_src_vtep;    /* the source host's own VTEP is known */
    struct strata_ip src_vtep;
    bool dir_answered; /* false: the directory could not be asked (dir_error) */
    const char *dir_error;
    struct trace_dir_ep key; /* the directory's answer for what the source host resolves */
    struct trace_held kernel, agent, cs;
    /* routed flows */
    bool routed;
    const char *domain;          /* the source VN's domain */
    uint32_t dst_vni;            /* 0: no VN of the domain has a subnet holding dst */
    const char *gw_addr;         /* the source VN's gateway address (NULL: its subnet has none) */
    const char *gateway;         /* the registered gateway whose VTEP holds gw_addr, NULL: none */
    bool gateway_live;           /* ... and the directory says it is live */
    bool policy_found;           /* a rule domain from src_vni to dst_vni exists */
    bool policy_allow;           /* its verdict */
    uint64_t policy_version;     /* its version */
    struct trace_dir_ep dst_ep;  /* the destination endpoint in dst_vni */
    struct trace_held gw_kernel; /* the gateway's kernel for dst on vx<dst_vni> */
};

struct trace_outcome {
    enum trace_verdict verdict;
    char conclusion[320]; /* one line naming the first point that fails or disagrees */
    char policy[96];      /* "acme 100->200 allow (version 7)" or "default deny", "" same VN */
};

/* Decide the verdict: walks the flow in order (directory, source host's kernel, agent,
 * connectivity server, gateway, policy, destination, gateway's kernel) and stops at the first
 * tier that fails or disagrees with the directory. A tier that holds nothing is not a fault
 * (its next miss resolves it); a tier that could not be asked is, only when the flow cannot be
 * judged without it (the directory, the source agent). */
void trace_decide(const struct trace_facts *f, struct trace_outcome *o);

#endif
