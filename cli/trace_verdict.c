/* trace_verdict.c - `strata trace`'s verdict: compares what each tier holds with the directory
 * and names the first disagreement. No I/O. */
#include "trace_verdict.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const trace_names[] = {
    [TRACE_DELIVERED] = "delivered",
    [TRACE_DENIED] = "denied",
    [TRACE_UNKNOWN_DESTINATION] = "unknown-destination",
    [TRACE_STALE] = "stale",
    [TRACE_NO_GATEWAY] = "no-gateway",
    [TRACE_UNREACHABLE] = "unreachable",
};

const char *trace_verdict_name(enum trace_verdict v)
{
    return (unsigned)v < sizeof(trace_names) / sizeof(trace_names[0]) ? trace_names[v] : "?";
}

static void trace_set(struct trace_outcome *o, enum trace_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void trace_set(struct trace_outcome *o, enum trace_verdict v, const char *fmt, ...)
{
    o->verdict = v;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->conclusion, sizeof(o->conclusion), fmt, ap);
    va_end(ap);
}

static const char *trace_str(const char *s, const char *dflt)
{
    return s != NULL && *s ? s : dflt;
}

/* Does tier `h` (called `who`) disagree with the directory's `ep` for `addr`? Sets o. `local`:
 * ep lives on the asking host itself (a neighbour entry without an FDB entry is then right). */
static bool trace_disagrees(const struct trace_held *h, const char *who, const char *addr,
                            const struct trace_dir_ep *ep, bool local, struct trace_outcome *o)
{
    char a[STRATA_IP_STRLEN], b[STRATA_IP_STRLEN], m1[STRATA_MAC_STRLEN], m2[STRATA_MAC_STRLEN];
    const char *host = trace_str(ep->host, "?");
    if (h->answered && h->negative) {
        trace_set(o, TRACE_STALE,
                  "%s holds a negative answer for %s (version %llu), the directory has it at VTEP "
                  "%s (host %s), version %llu",
                  who, addr, (unsigned long long)h->version, strata_ip_format(&ep->vtep, b), host,
                  (unsigned long long)ep->version);
        return true;
    }
    if (!h->answered || !h->present)
        return false;
    if (h->has_mac && memcmp(h->mac, ep->mac, 6) != 0) {
        trace_set(o, TRACE_STALE, "%s holds %s at MAC %s, the directory says MAC %s (host %s)", who,
                  addr, strata_mac_format(h->mac, m1), strata_mac_format(ep->mac, m2), host);
        return true;
    }
    if (h->has_vtep && !strata_ip_equal(&h->vtep, &ep->vtep)) {
        trace_set(o, TRACE_STALE, "%s sends %s to VTEP %s, the directory says VTEP %s (host %s)",
                  who, addr, strata_ip_format(&h->vtep, a), strata_ip_format(&ep->vtep, b), host);
        return true;
    }
    if (!h->has_vtep && h->version == 0 && !local) {
        trace_set(o, TRACE_STALE,
                  "%s has a neighbour entry for %s but no FDB entry, the directory says VTEP %s "
                  "(host %s)",
                  who, addr, strata_ip_format(&ep->vtep, b), host);
        return true;
    }
    if (h->version != 0 && h->version < ep->version) {
        trace_set(o, TRACE_STALE, "%s holds %s at version %llu, the directory has version %llu",
                  who, addr, (unsigned long long)h->version, (unsigned long long)ep->version);
        return true;
    }
    return false;
}

/* The source host's tiers against the directory's answer for the key it resolves. */
static bool trace_source_leg(const struct trace_facts *f, const char *addr, struct trace_outcome *o)
{
    char who[160];
    const char *host = trace_str(f->src_host, "the source host");
    bool local = f->has_src_vtep && strata_ip_equal(&f->src_vtep, &f->key.vtep);
    snprintf(who, sizeof(who), "%s's kernel", host);
    if (trace_disagrees(&f->kernel, who, addr, &f->key, local, o))
        return true;
    snprintf(who, sizeof(who), "%s's agent", host);
    if (trace_disagrees(&f->agent, who, addr, &f->key, local, o))
        return true;
    return trace_disagrees(&f->cs, "the connectivity server", addr, &f->key, local, o);
}

static void trace_routed(const struct trace_facts *f, struct trace_outcome *o)
{
    const char *dom = trace_str(f->domain, "?");
    if (f->policy_found)
        snprintf(o->policy, sizeof(o->policy), "%s %u->%u %s (version %llu)", dom, f->src_vni,
                 f->dst_vni, f->policy_allow ? "allow" : "deny",
                 (unsigned long long)f->policy_version);
    else
        snprintf(o->policy, sizeof(o->policy), "default deny (no rule %s %u->%u)", dom, f->src_vni,
                 f->dst_vni);
    if (!f->policy_found || !f->policy_allow) {
        trace_set(o, TRACE_DENIED, "gateway %s drops VN %u -> VN %u: policy %s", f->gateway,
                  f->src_vni, f->dst_vni, o->policy);
        return;
    }
    if (!f->dst_ep.found) {
        trace_set(o, TRACE_UNKNOWN_DESTINATION, "no endpoint holds %s in VN %u (the directory)",
                  f->dst, f->dst_vni);
        return;
    }
    char who[160];
    snprintf(who, sizeof(who), "gateway %s's kernel", f->gateway);
    if (trace_disagrees(&f->gw_kernel, who, f->dst, &f->dst_ep, false, o))
        return;
    char v[STRATA_IP_STRLEN];
    trace_set(o, TRACE_DELIVERED, "through gateway %s, allowed by %s, to %s at VTEP %s (host %s)%s",
              f->gateway, o->policy, f->dst, strata_ip_format(&f->dst_ep.vtep, v),
              trace_str(f->dst_ep.host, "?"),
              f->gw_kernel.answered ? ""
                                    : "; the gateway's kernel was not checked (its control "
                                      "socket is not reachable from here)");
}

void trace_decide(const struct trace_facts *f, struct trace_outcome *o)
{
    memset(o, 0, sizeof(*o));
    if (!f->dir_answered) {
        trace_set(o, TRACE_UNREACHABLE, "the directory did not answer: %s",
                  trace_str(f->dir_error, "no reply"));
        return;
    }
    if (f->routed && f->dst_vni == 0) {
        trace_set(o, TRACE_UNKNOWN_DESTINATION,
                  "%s is in no subnet of VN %u nor of any VN of domain %s", f->dst, f->src_vni,
                  trace_str(f->domain, "?"));
        return;
    }
    if (f->routed && (f->gw_addr == NULL || !f->key.found || f->gateway == NULL)) {
        if (f->gw_addr == NULL)
            trace_set(o, TRACE_NO_GATEWAY, "VN %u's subnet has no gateway address", f->src_vni);
        else if (!f->key.found)
            trace_set(o, TRACE_NO_GATEWAY, "no gateway holds VN %u's gateway address %s",
                      f->src_vni, f->gw_addr);
        else
            trace_set(o, TRACE_NO_GATEWAY,
                      "VN %u's gateway address %s is at host %s, which is no registered gateway",
                      f->src_vni, f->gw_addr, trace_str(f->key.host, "?"));
        return;
    }
    if (f->routed && !f->gateway_live) {
        trace_set(o, TRACE_NO_GATEWAY, "gateway %s holds %s but the directory says it is not live",
                  f->gateway, f->gw_addr);
        return;
    }
    if (!f->agent.answered) {
        trace_set(o, TRACE_UNREACHABLE, "%s's agent did not answer: %s",
                  trace_str(f->src_host, "the source host"), trace_str(f->agent.error, "no reply"));
        return;
    }
    if (!f->routed && !f->key.found) {
        trace_set(o, TRACE_UNKNOWN_DESTINATION, "no endpoint holds %s in VN %u (the directory)",
                  f->dst, f->src_vni);
        return;
    }
    if (trace_source_leg(f, f->routed ? f->gw_addr : f->dst, o))
        return;
    if (f->routed) {
        trace_routed(f, o);
        return;
    }
    char v[STRATA_IP_STRLEN];
    trace_set(o, TRACE_DELIVERED,
              "every tier agrees with the directory: %s is at VTEP %s (host %s), version %llu",
              f->dst, strata_ip_format(&f->key.vtep, v), trace_str(f->key.host, "?"),
              (unsigned long long)f->key.version);
}
