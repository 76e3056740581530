/* cmd_table.c - THE command table: every command's flags, positionals, handler and help in one
 * declaration. The parser, `--help` and docs/cli.md are all generated from it. */
#include "cli.h"

#define REQ true
#define OPT false
#define F_STR(n, field, mv, req, h)                                                                \
    {                                                                                              \
        n, STRATA_FLAG_STR, CLI_ARG(field), mv, h, req, 0, 0                                       \
    }
#define F_VNI(n, field, req, h)                                                                    \
    {                                                                                              \
        n, STRATA_FLAG_VNI, CLI_ARG(field), "N", h, req, 0, 0                                      \
    }
#define F_REPLACE(what)                                                                            \
    {                                                                                              \
        "replace", STRATA_FLAG_BOOL, CLI_ARG(replace), NULL,                                       \
            "change an existing " what " (without it, one that differs is refused: EEXIST)", OPT,  \
            0, 0                                                                                   \
    }
/* --wait on a write, and the servers whose holders it waits for. */
#define F_WAIT                                                                                     \
    F_STR("wait", wait, "TIMEOUT", OPT,                                                            \
          "return once every node holding the change applied it to its kernel, or fail after "     \
          "TIMEOUT (5s, 500ms) naming those that did not"),                                        \
        F_STR("cs", cs, "URL[,URL...]", OPT,                                                       \
              "connectivity servers whose holders --wait waits for: every server of every pod "    \
              "(env STRATA_CS)")
#define F_MIN_INDEX                                                                                \
    {                                                                                              \
        "min-index", STRATA_FLAG_U64, CLI_ARG(min_index), "N",                                     \
            "read from a node that has applied at least index N (read-your-writes)", OPT, 0, 0     \
    }
#define F_LINEARIZABLE                                                                             \
    {                                                                                              \
        "linearizable", STRATA_FLAG_BOOL, CLI_ARG(linearizable), NULL,                             \
            "read the current truth: served after a read barrier through the leader (slower; "     \
            "default: serializable, from the node asked)",                                         \
            OPT, 0, 0                                                                              \
    }

const struct strata_flag cli_global_flags[] = {
    {"directory", STRATA_FLAG_STR, CLI_CTX(directory), "URL[,URL...]",
     "directory nodes to ask (env STRATA_DIRECTORY)", OPT, 0, 0},
    {"json", STRATA_FLAG_BOOL, CLI_CTX(json), NULL, "print one JSON object instead of tables", OPT,
     0, 0},
    {"timeout-ms", STRATA_FLAG_U64, CLI_CTX(timeout_ms), "N", "give up after N milliseconds", OPT,
     1, 3600000},
    {"tls-ca", STRATA_FLAG_STR, CLI_CTX(tls_ca), "FILE",
     "CA certificate: talk mutual TLS (tls+tcp:// URLs) (env STRATA_TLS_CA)", OPT, 0, 0},
    {"tls-cert", STRATA_FLAG_STR, CLI_CTX(tls_cert), "FILE",
     "the operator's certificate, from strata pki (env STRATA_TLS_CERT)", OPT, 0, 0},
    {"tls-key", STRATA_FLAG_STR, CLI_CTX(tls_key), "FILE", "its private key (env STRATA_TLS_KEY)",
     OPT, 0, 0},
    STRATA_FLAGS_END,
};

static const struct strata_flag f_cluster_add[] = {
    F_STR("api", api, "URL", OPT, "the member's client address (tcp://HOST:PORT)"),
    STRATA_FLAGS_END,
};
static const struct strata_flag f_cluster_backup[] = {
    {"force", STRATA_FLAG_BOOL, CLI_ARG(force), NULL, "replace FILE if it exists", OPT, 0, 0},
    {"local", STRATA_FLAG_BOOL, CLI_ARG(local), NULL,
     "from the first node of --directory, leader or not (no quorum needed): its own applied "
     "state, which may lack the last writes",
     OPT, 0, 0},
    {"chunk-bytes", STRATA_FLAG_U64, CLI_ARG(chunk_bytes), "N",
     "state bytes per request (default: the leader's cap, 1 MiB)", OPT, 512, 1u << 20},
    STRATA_FLAGS_END,
};
static const struct strata_flag f_list[] = {F_MIN_INDEX, F_LINEARIZABLE, STRATA_FLAGS_END};
static const struct strata_flag f_vnet_create[] = {
    F_VNI("vni", vni, REQ, "VXLAN network identifier, 1..16777215"),
    F_STR("domain", domain, "NAME", REQ, "tenant that owns the VN"),
    F_STR("name", name, "S", OPT, "human label"),
    STRATA_FLAGS_END,
};
static const struct strata_flag f_vnet_delete[] = {
    F_VNI("vni", vni, REQ, "VN to delete"),
    STRATA_FLAGS_END,
};
static const struct strata_flag f_subnet_create[] = {
    F_VNI("vni", vni, REQ, "VN the subnet belongs to"),
    F_STR("cidr", cidr, "CIDR", REQ, "prefix, host bits zero (10.1.0.0/24, fd00::/64)"),
    F_STR("gateway", gateway, "IP", REQ, "gateway address inside the prefix"),
    STRATA_FLAGS_END,
};
static const struct strata_flag f_subnet_delete[] = {
    F_VNI("vni", vni, REQ, "VN the subnet belongs to"),
    F_STR("cidr", cidr, "CIDR", REQ, "the subnet's prefix"),
    STRATA_FLAGS_END,
};
static const struct strata_flag f_vni_list[] = {
    F_VNI("vni", vni, OPT, "only this VN"),
    F_MIN_INDEX,
    F_LINEARIZABLE,
    STRATA_FLAGS_END,
};
static const struct strata_flag f_host_add[] = {
    F_STR("id", id, "NAME", REQ, "host name"),
    F_STR("vtep", vtep, "IP", REQ, "the host's VXLAN tunnel endpoint address"),
    F_STR("pod", pod, "POD", REQ, "pod (connectivity server group) the host belongs to"),
    F_REPLACE("host (its endpoints follow a new VTEP)"),
    STRATA_FLAGS_END,
};
static const struct strata_flag f_host_delete[] = {
    F_STR("id", id, "NAME", REQ, "host name"),
    STRATA_FLAGS_END,
};
static const struct strata_flag f_gateway_add[] = {
    F_STR("id", id, "NAME", REQ, "gateway name"),
    F_STR("vtep", vtep, "IP", REQ, "the gateway's VXLAN tunnel endpoint address"),
    F_STR("vni", vnis, "N[,N...]", REQ, "VNs it routes for"),
    F_REPLACE("gateway"),
    STRATA_FLAGS_END,
};
static const struct strata_flag f_gateway_delete[] = {
    F_STR("id", id, "NAME", REQ, "gateway name"),
    STRATA_FLAGS_END,
};
static const struct strata_flag f_endpoint_add[] = {
    F_VNI("vni", vni, REQ, "VN of the endpoint"),
    F_STR("mac", mac, "MAC", REQ, "unicast MAC, unique in the VN"),
    F_STR("ip", ip, "IP[,IP...]", REQ, "addresses, each inside a subnet of the VN"),
    F_STR("host", host, "NAME", REQ, "host (or gateway) holding it"),
    F_REPLACE("endpoint"),
    F_WAIT,
    STRATA_FLAGS_END,
};
static const struct strata_flag f_endpoint_move[] = {
    F_VNI("vni", vni, REQ, "VN of the endpoint"),
    F_STR("mac", mac, "MAC", REQ, "the endpoint's MAC"),
    F_STR("host", host, "NAME", REQ, "new host"),
    F_WAIT,
    STRATA_FLAGS_END,
};
static const struct strata_flag f_endpoint_delete[] = {
    F_VNI("vni", vni, REQ, "VN of the endpoint"),
    F_STR("mac", mac, "MAC", REQ, "the endpoint's MAC"),
    F_WAIT,
    STRATA_FLAGS_END,
};
static const struct strata_flag f_policy_set[] = {
    F_STR("domain", domain, "NAME", REQ, "tenant"),
    {"from", STRATA_FLAG_VNI, CLI_ARG(from), "VNI", "source VN", REQ, 0, 0},
    {"to", STRATA_FLAG_VNI, CLI_ARG(to), "VNI", "destination VN", REQ, 0, 0},
    F_WAIT,
    STRATA_FLAGS_END,
};
static const struct strata_flag f_policy_delete[] = {
    F_STR("domain", domain, "NAME", REQ, "tenant"),
    {"from", STRATA_FLAG_VNI, CLI_ARG(from), "VNI", "source VN", REQ, 0, 0},
    {"to", STRATA_FLAG_VNI, CLI_ARG(to), "VNI", "destination VN", REQ, 0, 0},
    F_WAIT,
    STRATA_FLAGS_END,
};
static const struct strata_flag f_policy_list[] = {
    F_STR("domain", domain, "NAME", OPT, "only this tenant's rules"),
    F_MIN_INDEX,
    F_LINEARIZABLE,
    STRATA_FLAGS_END,
};
static const struct strata_flag f_resolve[] = {
    F_VNI("vni", vni, REQ, "VN to look in"),
    F_STR("ip", ip, "IP", OPT, "address to resolve (or --mac)"),
    F_STR("mac", mac, "MAC", OPT, "MAC to resolve (or --ip)"),
    F_VNI("from-vni", from_vni, OPT, "source VN for the policy verdict (default: --vni)"),
    F_STR("via", via, "URL", OPT, "ask this connectivity server instead of the directory"),
    F_MIN_INDEX,
    F_LINEARIZABLE,
    STRATA_FLAGS_END,
};
static const struct strata_flag f_trace[] = {
    F_VNI("vni", vni, REQ, "VN of the flow"),
    F_STR("src-ip", src_ip, "IP", REQ, "source address"),
    F_STR("dst-ip", dst_ip, "IP", REQ, "destination address"),
    F_STR("agent", agent, "CTL", OPT,
          "agent control socket (default: the only " CLI_AGENT_CTL_GLOB " here)"),
    F_STR("gateway-ctl", gateway_ctl, "CTL", OPT,
          "routed flows: the gateway's control socket (default /run/strata/gw-ID.sock)"),
    {"detailed", STRATA_FLAG_BOOL, CLI_ARG(trace_detailed), NULL,
     "every hop as a table, then the verdict (the default)", OPT, 0, 0},
    {"summary", STRATA_FLAG_BOOL, CLI_ARG(trace_summary), NULL,
     "the verdict, its conclusion and one line per tier", OPT, 0, 0},
    {"minimal", STRATA_FLAG_BOOL, CLI_ARG(trace_minimal), NULL,
     "one line: the verdict and its conclusion", OPT, 0, 0},
    STRATA_FLAGS_END,
};
static const struct strata_flag f_audit[] = {
    F_STR("cs", cs, "URL[,URL...]", OPT,
          "the connectivity servers whose nodes to audit (env STRATA_CS)"),
    {"repair", STRATA_FLAG_BOOL, CLI_ARG(repair), NULL,
     "resynchronise exactly the divergent keys, then audit until consistent (--timeout-ms)", OPT, 0,
     0},
    {"details", STRATA_FLAG_BOOL, CLI_ARG(audit_details), NULL,
     "compare every key in detail, not only where digests differ (what the slow path costs)", OPT,
     0, 0},
    STRATA_FLAGS_END,
};
static const struct strata_flag f_port_attach[] = {
    F_STR("agent", agent, "CTL", REQ, "agent control socket path (or URL)"),
    F_VNI("vni", vni, REQ, "VN to attach to"),
    F_STR("mac", mac, "MAC", REQ, "the VM interface's MAC"),
    F_STR("ip", ip, "IP/PLEN", REQ, "the VM's address with prefix length"),
    F_STR("ifname", ifname, "IF", REQ, "host-side interface (veth/tap) to enslave"),
    F_WAIT,
    STRATA_FLAGS_END,
};
static const struct strata_flag f_port_detach[] = {
    F_STR("agent", agent, "CTL", REQ, "agent control socket path (or URL)"),
    F_STR("ifname", ifname, "IF", REQ, "interface to detach"),
    STRATA_FLAGS_END,
};
static const struct strata_flag f_cache_show[] = {
    F_STR("cs", cs, "URL", OPT, "a connectivity server"),
    F_STR("agent", agent, "CTL", OPT, "an agent's control socket"),
    STRATA_FLAGS_END,
};
static const struct strata_flag f_pki_init[] = {
    F_STR("dir", dir, "DIR", REQ, "where ca.crt and ca.key go (made, mode 0700, if missing)"),
    STRATA_FLAGS_END,
};
static const struct strata_flag f_pki_issue[] = {
    F_STR("dir", dir, "DIR", REQ, "the CA's directory; NAME.crt and NAME.key go there too"),
    F_STR("role", role, "ROLE", REQ, "operator, directory, connectivity, agent or gateway"),
    F_STR("id", id, "NAME", REQ,
          "the holder: a directory node's id, a csd's id, an agent's host, a gateway's id"),
    F_STR("ip", ip, "IP[,IP...]", OPT, "addresses clients dial this server at (IP SANs)"),
    {"days", STRATA_FLAG_U64, CLI_ARG(days), "N", "validity, 1..3650 days (default 825)", OPT, 1,
     3650},
    STRATA_FLAGS_END,
};

/* clang-format off */
const struct cli_cmd cli_cmds[] = {
    {"cluster", "status", NULL, NULL, 0, 0, NULL, cli_cluster_status,
     "members, roles, term, commit and applied index, leader"},
    {"cluster", "add", f_cluster_add, "ID HOST:PORT", 2, 2, NULL, cli_cluster_add,
     "add a member (started with --join) with its Raft address"},
    {"cluster", "remove", NULL, "ID", 1, 1, NULL, cli_cluster_remove, "remove a member"},
    {"cluster", "transfer", NULL, "ID", 1, 1, NULL, cli_cluster_transfer,
     "hand leadership to a member"},
    {"cluster", "backup", f_cluster_backup, "FILE", 1, 1, NULL, cli_cluster_backup,
     "write the leader's whole state to FILE (strata-dird --restore founds a cluster on it)"},
    {"domain", "create", NULL, "NAME", 1, 1, NULL, cli_domain_create, "create a tenant"},
    {"domain", "list", f_list, NULL, 0, 0, NULL, cli_domain_list, "list tenants"},
    {"domain", "delete", NULL, "NAME", 1, 1, NULL, cli_domain_delete,
     "delete a tenant (refused while it has VNs)"},
    {"vnet", "create", f_vnet_create, NULL, 0, 0, NULL, cli_vnet_create,
     "create a virtual network"},
    {"vnet", "list", f_list, NULL, 0, 0, NULL, cli_vnet_list, "list virtual networks"},
    {"vnet", "delete", f_vnet_delete, NULL, 0, 0, NULL, cli_vnet_delete,
     "delete a virtual network (only once it is empty); its subnets and policies go with it, gateways stop serving it, and the output lists them"},
    {"subnet", "create", f_subnet_create, NULL, 0, 0, NULL, cli_subnet_create,
     "add a subnet to a VN (subnets of different VNs may overlap)"},
    {"subnet", "list", f_vni_list, NULL, 0, 0, NULL, cli_subnet_list, "list subnets"},
    {"subnet", "delete", f_subnet_delete, NULL, 0, 0, NULL, cli_subnet_delete,
     "delete a subnet (refused while an endpoint has an address in it)"},
    {"host", "add", f_host_add, NULL, 0, 0, NULL, cli_host_add, "register a hypervisor host"},
    {"host", "list", f_list, NULL, 0, 0, NULL, cli_host_list, "list hosts"},
    {"host", "delete", f_host_delete, NULL, 0, 0, NULL, cli_host_delete,
     "delete a host (refused while endpoints are on it)"},
    {"gateway", "add", f_gateway_add, NULL, 0, 0, NULL, cli_gateway_add,
     "register an L3 gateway serving some VNs"},
    {"gateway", "list", f_list, NULL, 0, 0, NULL, cli_gateway_list,
     "list gateways: VNs served, liveness, gateway addresses held"},
    {"gateway", "delete", f_gateway_delete, NULL, 0, 0, NULL, cli_gateway_delete,
     "delete a gateway (its gateway addresses move to another)"},
    {"endpoint", "add", f_endpoint_add, NULL, 0, 0, NULL, cli_endpoint_add,
     "register a VM interface (MAC, IPs) on a host"},
    {"endpoint", "move", f_endpoint_move, NULL, 0, 0, NULL, cli_endpoint_move,
     "move an endpoint to another host"},
    {"endpoint", "delete", f_endpoint_delete, NULL, 0, 0, NULL, cli_endpoint_delete,
     "delete an endpoint"},
    {"endpoint", "list", f_vni_list, NULL, 0, 0, NULL, cli_endpoint_list, "list endpoints"},
    {"policy", "set", f_policy_set, "allow|deny", 1, 1, NULL, cli_policy_set,
     "allow or deny traffic from one VN to another"},
    {"policy", "list", f_policy_list, NULL, 0, 0, NULL, cli_policy_list, "list policy rules"},
    {"policy", "delete", f_policy_delete, NULL, 0, 0, NULL, cli_policy_delete,
     "delete a policy rule (traffic between the VNs is denied again)"},
    {"resolve", NULL, f_resolve, NULL, 0, 0,
     "--vni N (--ip IP | --mac MAC) [--from-vni N] [--via URL] [--min-index N] [--linearizable]", cli_resolve,
     "where an address lives: MAC, VTEP, version, verdict, tier, time taken"},
    {"trace", NULL, f_trace, NULL, 0, 0,
     "--vni N --src-ip IP --dst-ip IP [--agent CTL] [--gateway-ctl CTL] "
     "[--detailed | --summary | --minimal]", cli_trace,
     "every tier of one flow (routed ones through their gateway), its policy and a verdict"},
    {"audit", NULL, f_audit, NULL, 0, 0, NULL, cli_audit,
     "compare what every agent and gateway of the servers holds, and its kernel, with the directory; exit 0 only when all agree"},
    {"port", "attach", f_port_attach, NULL, 0, 0, NULL, cli_port_attach,
     "attach a VM interface to a VN through its host's agent"},
    {"port", "detach", f_port_detach, NULL, 0, 0, NULL, cli_port_detach,
     "detach a VM interface"},
    {"cache", "show", f_cache_show, NULL, 0, 0, "(--cs URL | --agent CTL)", cli_cache_show,
     "dump a connectivity server's or agent's cache and counters"},
    {"pki", "init", f_pki_init, NULL, 0, 0, NULL, cli_pki_init,
     "create the CA of mutual TLS: DIR/ca.crt, DIR/ca.key (never replaced)"},
    {"pki", "issue", f_pki_issue, NULL, 0, 0, NULL, cli_pki_issue,
     "issue a role's certificate signed by the CA: DIR/NAME.crt, DIR/NAME.key"},
    {"version", NULL, NULL, NULL, 0, 0, NULL, cli_version,
     "this CLI's version and every directory member's own"},
};
/* clang-format on */

const size_t cli_ncmds = sizeof(cli_cmds) / sizeof(cli_cmds[0]);
