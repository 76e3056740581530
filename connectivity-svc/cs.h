/* cs.h - strata-csd, the per-pod connectivity server: state shared by its modules (cache,
 * upstream directory client, change feed consumer, agent sessions, authorization, API). */
#ifndef CS_H
#define CS_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "cs_auth.h"
#include "cs_cache.h"
#include "loop.h"
#include "metrics.h"
#include "msg.h"
#include "server.h"
#include "tls.h"

/* Counters: shown by CacheShowRequest as <name> and exported as metrics strata_cs_<name>_total
 * (counters) or strata_cs_<name> (gauges), cs_show.c's table saying which. */
struct cs_counters {
    uint64_t sessions_expired, sessions_refused; /* ended idle; names refused at --session-max */
    uint64_t hits, misses, negative_hits, evictions, entries, cache_bytes;
    uint64_t upstream_requests, upstream_errors;
    uint64_t updates_pushed, invalidations_pushed, floods_pushed, resyncs_pushed;
    uint64_t feed_index, feed_changes, feed_gaps, sessions, parked;
    uint64_t feed_stalls, feed_stalled; /* times the feed stalled; 1 while it is */
    uint64_t feed_to_leader;            /* times the feed moved to the leader it named */
    uint64_t resolve_requests, denied;
    /* gateways (cs_gateways.c) */
    uint64_t gw_registered, gw_refused;      /* gateway HostRegisters accepted / refused */
    uint64_t gw_dead_closed, gw_dead_lease;  /* declared dead: connection closed / lease expired */
    uint64_t gw_live_writes, gw_live_errors; /* gateway_live writes sent / failed */
    uint64_t gw_live;                        /* gauge: gateways this server holds as live */
    uint64_t vninfo_pushed;                  /* UPD_VNINFO queued to gateways */
    uint64_t audits, audit_divergences;      /* audits run; what the last one found (gauge) */
    /* Directory resolve round trips: strata_cs_upstream_resolve_seconds; cache show gives its
     * sum and count as upstream_latency_us_sum and upstream_latency_us_count. */
    struct strata_histo upstream_latency;
    /* Change seen on the feed -> acknowledged by its last holder, per update kind
     * (strata_cs_converge_<kind>_seconds, cs_show.c). */
    struct strata_histo converge[3];
};
enum { CS_CONVERGE_ENDPOINT, CS_CONVERGE_FLOOD, CS_CONVERGE_VNINFO };

struct cs_upstream;
struct cs_feed;
struct cs_agents;
struct cs_session;
struct cs_gws;
struct cs_waits;
struct cs_audit;

struct cs {
    /* flags */
    const char *id, *pod, *listen, *directory, *metrics_addr;
    uint64_t negative_ttl_ms, cache_max, contexts, busy_poll_us;
    struct strata_tls_files tls_files; /* --tls-*: callers are then known by certificate */
    struct strata_tls *tls;
    uint64_t session_idle_s, session_max; /* 0: CS_SESSION_IDLE_S / CS_SESSION_MAX */

    uv_loop_t *uv;
    struct strata_loop *loop;
    struct strata_server *srv;
    struct strata_metrics *metrics;
    uv_timer_t tick; /* refreshes the gauges (entries, cache_bytes, sessions) */
    struct cs_cache *cache;
    struct cs_upstream *up;
    struct cs_feed *feed;
    struct cs_agents *agents;
    struct cs_vninfo *vninfo;
    struct cs_vnmembers *vnmembers; /* cs_ports.c: hosts with a port, per VN, shared */
    struct cs_gws *gws;             /* cs_gateways.c: liveness of the gateways registered here */
    struct cs_waits *waits;         /* cs_wait.c: who got which change, and waits on them */
    struct cs_audit *audit;         /* cs_audit.c: the audit running, if any */
    struct cs_counters ctr;
    /* Highest directory index this server has seen on the feed: every upstream read carries it
     * as min_index, so no answer older than one already seen is ever cached or served. */
    uint64_t feed_index;
    bool stopping;
};

/* ---- cs_upstream.c: the directory client (rotation across nodes, coalescing, batching) */

/* rc 0: `reply` (owned by the callee; strata_msg_free) has status 0 or a final error. Otherwise
 * a transport error after every node was tried until the deadline; reply NULL. */
typedef void (*cs_up_cb)(int rc, strata_env *reply, void *arg);

int cs_up_new(struct cs *cs, struct cs_upstream **out, struct strata_err *e);
/* Cancel everything: callbacks fire with STRATA_EUNAVAIL (now or on a later loop turn). */
void cs_up_close(struct cs_upstream *up);
/* Free once the loop has stopped. */
void cs_up_free(struct cs_upstream *up);
/* Send `req` (owned by the caller, kept valid until cb) to the current node; on a transport
 * failure, timeout or STRATA_EUNAVAIL/ENOTLEADER/ETIMEDOUT/EBUSY move on to the next node and
 * resend until total_ms passed. try_ms bounds each attempt. `cursor` (NULL = the shared one)
 * remembers which node answered last. */
void cs_up_call(struct cs_upstream *up, strata_env *req, unsigned try_ms, unsigned total_ms,
                int *cursor, cs_up_cb cb, void *arg);
/* A write: fills cmd client_id/req_id (so a resend is applied at most once) and calls. */
void cs_up_write(struct cs_upstream *up, strata_env *req, cs_up_cb cb, void *arg);
int cs_up_nodes(const struct cs_upstream *up);
/* The index of the directory node configured as `url`, or -1. */
int cs_up_find(const struct cs_upstream *up, const char *url);

/* Resolve one key. Concurrent resolves of one (key, from_vni) share one upstream query; those
 * queued in one loop turn share one ResolveRequest. fn runs once: with the cache entry that now
 * holds the answer (e may be NULL when it was not cacheable, e.g. a per-query error: then ans
 * carries it), or with status < 0 and ans NULL on failure. */
typedef void (*cs_up_resolve_fn)(void *arg, uint32_t idx, int status, const char *msg,
                                 struct cs_entry *e, const Strata__V1__ResolveAnswer *ans);
int cs_up_resolve(struct cs_upstream *up, const struct cs_key *k, uint32_t from_vni,
                  cs_up_resolve_fn fn, void *arg, uint32_t idx);

/* ---- cs_resolve.c: agents' ResolveRequest */
void cs_resolve_handle(struct cs *cs, struct strata_req *req, const strata_env *env,
                       const struct cs_ident *id, struct cs_session *s);
/* The value a positive directory answer gives (MAC, VTEP, host, and its endpoint's version, else
 * the answer's); false when it gives none (an error, not found, no usable endpoint). v->host
 * points into ans. */
bool cs_value_of_answer(const Strata__V1__ResolveAnswer *ans, struct cs_value *v);
/* Store a directory answer in the cache (called by the upstream once per answered query).
 * Returns the entry now holding the freshest answer for k, or NULL when not cacheable. */
struct cs_entry *cs_resolve_learn(struct cs *cs, const struct cs_key *k, uint32_t from_vni,
                                  const Strata__V1__ResolveAnswer *ans);

/* ---- cs_feed.c: the change feed consumer */
int cs_feed_start(struct cs *cs, struct strata_err *e);
void cs_feed_stop(struct cs *cs);
/* The directory node the feed is read from (an index into --directory), -1 before it starts. A
 * read that must see what the feed saw (min_index = feed_index) asks there: that node has
 * applied it, where another might wait for the leader's next heartbeat to learn the commit. */
int cs_feed_node(const struct cs *cs);
void cs_feed_free(struct cs *cs); /* after the loop stopped */
/* The cache's eviction hook: an entry the LRU drops is forgotten, so its holders would get no
 * further updates for it; they are told to drop it too (and ask again on their next miss). */
void cs_feed_evicted(struct cs_entry *e, void *arg);
/* Apply one FeedReply (exposed for tests). */
void cs_feed_apply(struct cs *cs, const Strata__V1__FeedReply *fr);
/* Whether the feed makes progress (exposed for tests). After CS_FEED_STALL_ATTEMPTS failed
 * attempts in a row spanning at least CS_FEED_STALL_MS, the feed is stalled: logged once as an
 * error, counted (feed_stalls, and the feed_stalled gauge), and handled as a gap without an
 * index to resume from: everything cached is flushed and agents resynchronise. While it stays
 * stalled, every further failure flushes again (holders told), so nothing the server serves is
 * older than one attempt. A reply applied ends it; the feed resumes where it stopped. */
#define CS_FEED_STALL_ATTEMPTS 3
#define CS_FEED_STALL_MS 3000
struct cs_feed_stall {
    unsigned failures; /* attempts failed since the last reply applied */
    uint64_t since_ms; /* when the first of them failed */
    bool stalled;
};
void cs_feed_failed(struct cs *cs, struct cs_feed_stall *st, uint64_t now_ms, const char *why);
void cs_feed_progressed(struct cs *cs, struct cs_feed_stall *st, uint64_t now_ms);

/* ---- cs_agents.c: sessions, update queues, long-poll */
struct cs_session {
    uint32_t id; /* small id used in interest sets */
    char host[64];
    bool gateway;
    bool registered; /* HostRegister succeeded: vtep is the host's own */
    uint8_t vtep_len;
    uint8_t vtep[16];
    uint64_t epoch;           /* HostRegisterReply.session */
    struct cs_iset vnis;      /* VNs with a port on this host (or served, for a gateway) */
    uint32_t denied_vni;      /* last VN the directory said has no port here ... */
    uint64_t denied_until_ms; /* ... and until when that is believed */
};

enum cs_upd_kind {
    CS_UPD_ENDPOINT = 1,
    CS_UPD_INVALIDATE = 2,
    CS_UPD_FLOOD = 3,
    CS_UPD_VNINFO = 5,
    CS_UPD_AUDIT = 6
};

/* What one change says, shared (refcounted) by every session queue it is pushed to. */
struct cs_payload;
struct cs_payload *cs_payload_endpoint(const Strata__V1__Endpoint *ep, uint64_t committed_us);
struct cs_payload *cs_payload_flood(uint32_t vni, ProtobufCBinaryData *vteps, size_t n,
                                    uint64_t committed_us);
/* VNINFO: vni's information changed; or (vni 0) the gateway now serves vnis[0..n). */
struct cs_payload *cs_payload_vninfo(uint32_t vni, const uint32_t *vnis, size_t n,
                                     uint64_t committed_us);
/* AUDIT: answer audit `id` with digests, or the details of parts (vni << 8 | bucket, as
 * cs_audit.h's AUDIT_PART), or repair keys. */
struct cs_payload *cs_payload_audit(uint64_t id, const uint64_t *parts, size_t np,
                                    const struct cs_key *keys, size_t nk);
void cs_payload_unref(struct cs_payload *p);

int cs_agents_new(struct cs *cs, struct cs_agents **out);
void cs_agents_close(struct cs_agents *a); /* answers parked polls, stops timers */
void cs_agents_free(struct cs_agents *a);
struct cs_session *cs_agents_find(struct cs_agents *a, const char *host);
struct cs_session *cs_agents_get(struct cs_agents *a, const char *host); /* find or create */
struct cs_session *cs_agents_by_id(struct cs_agents *a, uint32_t id);
uint32_t cs_agents_count(const struct cs_agents *a);
/* What session (id, epoch) acknowledged (the after_seq of its last UpdatesRequest), and its
 * name; STRATA_ENOTFOUND once the session ended. */
int cs_agents_acked(struct cs_agents *a, uint32_t id, uint64_t epoch, uint64_t *acked,
                    const char **host);
/* Sessions end: one with no parked long-poll and no request for --session-idle-s is freed with
 * its queue and its interest records (the agent, coming back, gets a new epoch and
 * resynchronises), and at most --session-max exist at once (beyond, a new name is refused with
 * STRATA_EBUSY while existing sessions keep working). Defaults below: 10 minutes is far above
 * any agent's poll interval yet frees an abandoned name soon enough; 65536 sessions of ~400
 * bytes each stay under 30 MB. */
#define CS_SESSION_IDLE_S 600
#define CS_SESSION_MAX 65536
/* Find or create the session of host; on refusal (cap reached, shutting down, out of memory)
 * returns the code and fills e. */
int cs_agents_open(struct cs_agents *a, const char *host, struct cs_session **out,
                   struct strata_err *e);
/* The session with this id and epoch, or NULL once it ended (the id may since belong to another
 * session): what work that outlives a loop turn uses instead of a kept pointer. */
struct cs_session *cs_agents_lookup(struct cs_agents *a, uint32_t id, uint64_t epoch);
/* Whether session s polls: a long-poll parked now, or a request within the last within_ms. */
bool cs_agents_polling(struct cs_agents *a, const struct cs_session *s, uint64_t now_ms,
                       uint64_t within_ms);
/* Free the sessions idle since before now_ms - idle (run by a timer; exposed for tests).
 * Returns how many ended. */
uint32_t cs_agents_expire(struct cs_agents *a, uint64_t now_ms);
/* Queue an update for session id (key = the entry's key, or NULL for a flood). */
void cs_agents_push(struct cs_agents *a, uint32_t id, enum cs_upd_kind kind, const struct cs_key *k,
                    struct cs_payload *p);
/* Every session must drop and re-resolve what it holds (feed gap). */
void cs_agents_resync_all(struct cs_agents *a);
/* One session must (a gateway declared dead: if it still runs, it registers again). */
void cs_agents_resync(struct cs_agents *a, struct cs_session *s);
/* Reply to parked long-polls that have something to send (also done at the end of every loop
 * turn in which something was pushed). */
void cs_agents_flush(struct cs_agents *a);
/* An endpoint payload describing a cached entry's key and value (evictions, invalidations). */
struct cs_payload *cs_payload_entry(struct cs *cs, const struct cs_entry *e, uint64_t committed_us);
void cs_agents_visit(struct cs_agents *a, void (*fn)(struct cs_session *s, void *arg), void *arg);
/* Session s (in its current epoch) acknowledged every update up to after_seq: they leave its
 * queue and count as applied (called for each UpdatesRequest; exposed for tests). */
void cs_agents_ack(struct cs_agents *a, struct cs_session *s, uint64_t after_seq);
void cs_agents_handle_updates(struct cs *cs, struct strata_req *req, const strata_env *env,
                              const char *host);

/* ---- cs_ports.c: HostRegister and port registration on the agent's behalf */
void cs_ports_host_register(struct cs *cs, struct strata_req *req, const strata_env *env,
                            const struct cs_ident *id);
void cs_ports_handle(struct cs *cs, struct strata_req *req, const strata_env *env,
                     const struct cs_ident *id, struct cs_session *s);
/* Decide whether session s has a port in vni, asking the directory when it does not know:
 * fn(arg, 0) allowed, fn(arg, STRATA_EDENIED) not; or another error. */
void cs_ports_check_vni(struct cs *cs, struct cs_session *s, uint32_t vni,
                        void (*fn)(void *arg, int rc), void *arg);
/* (fn may run before it returns when the VN's host list is fresh; STRATA_EBUSY when lists of
 * too many VNs are being fetched at once.) Free what it remembers (after the loop stopped): */
void cs_ports_free(struct cs *cs);

/* ---- cs_gateways.c: gateway sessions. A gateway registers only if the directory has its record
 * (same VTEP); its session serves the VNs that record names, kept current from the feed; the
 * server writes gateway_live{live} for it on registration, and {dead} when the connection of its
 * parked long-poll closes (a killed process: noticed at once) or when it sent no request for
 * CS_GW_LEASE_MS (a host gone without closing: its poll, at most CS_GW_POLL_MAX_MS long, is not
 * renewed). Only the server holding the session declares it dead. Writes for one gateway go one
 * at a time, the latest wish last, so a "dead" and a new registration cannot cross. */
#define CS_GW_POLL_MAX_MS 1000 /* a gateway's long-poll is answered within this */
#define CS_GW_LEASE_MS 2500    /* 2.5 polls: one lost or slow poll is not a death */
void cs_gw_register(struct cs *cs, struct strata_req *req, const strata_env *env,
                    const struct cs_ident *id);
/* A request of gateway session s arrived (renews its lease). */
void cs_gw_activity(struct cs *cs, struct cs_session *s);
/* The connection of gateway `host`'s parked poll closed. */
void cs_gw_conn_closed(struct cs *cs, const char *host);
/* Feed: a gateway record changed (or was deleted); a VN's VnInfo changed. */
void cs_gw_record_changed(struct cs *cs, const Strata__V1__Gateway *g, bool deleted, uint64_t index,
                          uint64_t now_us);
void cs_gw_push_vninfo(struct cs *cs, uint32_t vni, uint64_t now_us);
/* Whether this server holds gateway `host` live (registered, not declared dead). */
bool cs_gw_alive(struct cs *cs, const char *host);
void cs_gw_close(struct cs *cs); /* stops timers (at shutdown) */
void cs_gw_free(struct cs *cs);  /* after the loop stopped */

/* ---- cs_show.c: cache show, counters, metrics, VN info */
void cs_show_handle(struct cs *cs, struct strata_req *req, const Strata__V1__CacheShowRequest *q);
int cs_show_metrics(struct cs *cs, struct strata_err *e);
void cs_show_refresh(struct cs *cs); /* gauges from the cache */
void cs_vninfo_handle(struct cs *cs, struct strata_req *req, const strata_env *env,
                      const struct cs_ident *id, struct cs_session *s);
void cs_vninfo_forget(struct cs *cs, uint32_t vni); /* 0 = all */
void cs_vninfo_free(struct cs *cs);

/* ---- cs_wait.c: convergence waits. The feed brackets each change it applies with begin/end;
 * every update queued in between is recorded (session, epoch, seq) under the change's index, in
 * a bounded ring of recent changes. A WaitAppliedRequest waits until the feed reached its index
 * and every recorded holder acknowledged a seq at least that high. */
int cs_wait_new(struct cs *cs);
void cs_wait_change_begin(struct cs *cs, uint64_t index, uint64_t now_us);
void cs_wait_change_end(struct cs *cs);
/* cs_agents_push: session (id, epoch) got the current change (if any) as update seq. */
void cs_wait_pushed(struct cs *cs, uint32_t id, uint64_t epoch, uint64_t seq);
/* Something a wait depends on moved (an acknowledgement, the feed): answer the waits now met. */
void cs_wait_kick(struct cs *cs);
void cs_wait_handle(struct cs *cs, struct strata_req *req, const strata_env *env);
/* What a wait on `index` would answer now (exposed for tests): fills r (its holders point into
 * *hs and *hps, which the caller frees, and into session names) and returns whether the wait is
 * over (everything applied, or nothing could ever be told). */
bool cs_wait_status(struct cs *cs, uint64_t index, Strata__V1__WaitAppliedReply *r,
                    Strata__V1__WaitHolder **hs, Strata__V1__WaitHolder ***hps);
void cs_wait_close(struct cs *cs); /* answers pending waits, stops timers (at shutdown) */
void cs_wait_free(struct cs *cs);  /* after the loop stopped */

/* ---- cs_audit.c: `strata audit` (one at a time; cs_audit.h) */
void cs_audit_handle(struct cs *cs, struct strata_req *req, const strata_env *env);
/* A node's AuditReport. */
void cs_audit_report(struct cs *cs, struct strata_req *req, const strata_env *env,
                     struct cs_session *s);
void cs_audit_close(struct cs *cs); /* answers the running audit (at shutdown) */

/* ---- cs_api.c: dispatch of agent and operator requests */
void cs_api_handle(struct strata_req *req, const strata_env *env, void *arg);

#endif
