/* storm_agents.h - N simulated agents on one libuv loop (a thread of its own), each a real
 * agent's connectivity-server client (node/node_csd.c: HostRegister, then the UpdatesRequest
 * long-poll, registering again whenever the server is lost) on its own connection, from its own
 * loopback address (127.1.x.y, as each host of a pod has its own) and, over TLS, with its own
 * certificate and so its own handshake. For reconnect storms: the times at which each agent's
 * HostRegister was last accepted are read from another thread. */
#ifndef STORM_AGENTS_H
#define STORM_AGENTS_H

#include <stdint.h>

#include "addr.h"
#include "err.h"

struct strata_tls;
struct storm_agents;

struct storm_agents_opts {
    const char *url;          /* the connectivity server, tcp:// or tls+tcp:// */
    unsigned n;               /* agents, hosts PREFIX1..PREFIXn */
    const char *prefix;       /* host names */
    struct strata_tls **tls;  /* tls+tcp://: agent i's context (its certificate names host i) */
    unsigned call_timeout_ms; /* strata-agentd's: 500 */
    unsigned poll_wait_ms;    /* strata-agentd's: 1000 */
    /* Non-zero: each agent also holds a node core (the real one, on a datapath that installs
     * nothing) and, once first registered, a port in this VN: MAC 02:5a:00:00:HH:LL, IP
     * 10.200.HH.LL (HHLL = i+1; the VN needs a subnet holding them). storm_agents_resolve then
     * makes every agent resolve its successor's address. */
    uint32_t vni;
};

/* Host name of agent i (0-based): PREFIX<i+1>. */
void storm_agent_host(const char *prefix, unsigned i, char *buf, size_t len);

/* Agent i's port (opts.vni: MAC, IP) and VTEP (NULL: not wanted), to provision ahead. */
void storm_agent_addr(unsigned i, uint8_t mac[6], struct strata_ip *ip, struct strata_ip *vtep);

/* Start the thread and every agent at once (all dial, then register). */
int storm_agents_start(const struct storm_agents_opts *o, struct storm_agents **out,
                       struct strata_err *e);
/* When each agent's HostRegister was last accepted (strata_now_us; 0: never), into reg_us[n];
 * returns how many agents have registered at least once. */
uint64_t storm_agents_registered(struct storm_agents *s, uint64_t *reg_us);
/* How many agents' ports the server accepted (opts.vni). */
uint64_t storm_agents_ports(struct storm_agents *s);
/* opts.vni: a miss on every agent, now, for its successor's IP (agent i asks for agent i+1's,
 * the last for the first's), through the real core and client (batching, coalescing). */
void storm_agents_resolve(struct storm_agents *s);
/* When each agent last installed an answer to storm_agents_resolve (strata_now_us; 0: never);
 * returns how many have. */
uint64_t storm_agents_answered(struct storm_agents *s, uint64_t *ans_us);
/* Close every agent (in-flight calls end), stop the thread, free. */
void storm_agents_stop(struct storm_agents *s);

#endif
