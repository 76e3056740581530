/* trace.h - `strata trace`: what each tier said as hops (cmd_trace.c gathers them from the
 * daemons' own queries, trace_verdict.c judges them, trace_out.c prints them). */
#ifndef STRATA_CLI_TRACE_H
#define STRATA_CLI_TRACE_H

#include "cli.h"
#include "trace_verdict.h"

#define TRACE_MAX_HOPS 16

/* One line of the trace: what a tier was asked and what it answered. */
struct trace_hop {
    char tier[32];
    char node[128];
    char action[128];
    char result[256];
    uint64_t version; /* 0: none */
    uint64_t age_ms;
    uint64_t elapsed_us;
};

struct trace_report {
    uint32_t vni, dst_vni; /* dst_vni: the destination's VN (== vni for a same-VN flow) */
    const char *src_ip, *dst_ip;
    struct trace_hop hops[TRACE_MAX_HOPS];
    size_t n_hops;
    const char *gateway; /* routed flows: the gateway the flow goes through; NULL else */
    struct trace_outcome outcome;
};

enum trace_mode { TRACE_MODE_DETAILED, TRACE_MODE_SUMMARY, TRACE_MODE_MINIMAL };

/* Print the report as `mode` says, or as one JSON object (INTERFACE.md's keys) when json. */
void trace_print(FILE *f, const struct trace_report *r, enum trace_mode mode, bool json);

#endif
