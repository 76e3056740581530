/* cs_feed.c - the directory's change feed, consumed as one long-poll at a time from one node
 * (the next one when it fails). Each change refreshes or drops exactly the cached keys it
 * touches and is pushed to exactly the agents that hold them. It is read at the leader when a
 * reply names one of our nodes as the leader (see FeedReply.leader_api). A gap (the node no longer
 * holds what we missed) flushes everything and asks every agent to resynchronise. A feed that stops
 * making progress (every attempt fails) is handled like a gap after a few seconds: logged,
 * counted, and the cache flushed, since nothing cached can be proven current any more. */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cs.h"
#include "log.h"

#define FEED_WAIT_MS 1000
#define FEED_MAX 1024
#define FEED_RETRY_MS 100
#define FEED_STALLED_RETRY_MS 1000 /* each stalled attempt flushes the cache: not too often */

struct cs_feed {
    struct cs *cs;
    strata_env env;
    Strata__V1__FeedRequest fr;
    int cursor;
    struct cs_feed_stall stall;
    uv_timer_t retry;
    bool stopping;
};

static void feed_poll(struct cs_feed *f);

/* Push kind to every holder of e. */
static void notify(struct cs *cs, struct cs_entry *e, enum cs_upd_kind kind, struct cs_payload *p)
{
    if (p == NULL || cs_iset_count(&e->holders) == 0)
        return;
    struct cs_key k;
    cs_entry_key(e, &k);
    const uint32_t *ids = cs_iset_ids(&e->holders);
    for (uint32_t i = 0; i < cs_iset_count(&e->holders); i++)
        cs_agents_push(cs->agents, ids[i], kind, &k, p);
}

static bool ep_has_ip(const Strata__V1__Endpoint *ep, const struct cs_entry *e)
{
    size_t len = cs_key_len(e->kind);
    for (size_t i = 0; i < ep->n_ips; i++)
        if (ep->ips[i].len == len && memcmp(ep->ips[i].data, e->key, len) == 0)
            return true;
    return false;
}

static void apply_endpoint(struct cs *cs, const Strata__V1__Endpoint *ep, uint64_t index,
                           bool deleted, uint64_t now_us)
{
    if (ep->mac.len != 6)
        return;
    uint64_t now_ms = strata_now_ms();
    uint64_t version = deleted || ep->version == 0 ? index : ep->version;
    struct cs_value v = {.found = true, .host = ep->host, .version = version};
    memcpy(v.mac, ep->mac.data, 6);
    if (ep->vtep.len == 4 || ep->vtep.len == 16) {
        v.vtep_len = (uint8_t)ep->vtep.len;
        memcpy(v.vtep, ep->vtep.data, ep->vtep.len);
    }
    struct cs_payload *p = cs_payload_endpoint(ep, now_us);
    if (p == NULL) {
        LOG_ERROR("feed: out of memory: flushing the cache");
        cs_cache_clear(cs->cache, NULL, NULL);
        cs_agents_resync_all(cs->agents);
        return;
    }
    /* Keys answered by this MAC: the MAC itself and every IP that pointed at it. */
    size_t n = 0;
    struct cs_entry **v_entries = cs_cache_by_value_mac(cs->cache, ep->vni, ep->mac.data, &n);
    for (size_t i = 0; i < n; i++) {
        struct cs_entry *e = v_entries[i];
        if (e->version >= version)
            continue; /* already as new as this change */
        if (deleted || (e->kind != CS_KEY_MAC && !ep_has_ip(ep, e))) {
            notify(cs, e, CS_UPD_INVALIDATE, p);
            cs_cache_remove(cs->cache, e);
        } else {
            struct cs_key k;
            cs_entry_key(e, &k);
            cs_cache_put(cs->cache, &k, &v, now_ms, NULL);
            notify(cs, e, CS_UPD_ENDPOINT, p);
        }
    }
    free(v_entries);
    if (!deleted) {
        /* Keys that did not point here yet: negative answers, or an IP taken over from another
         * MAC. */
        struct cs_key k;
        for (size_t i = 0; i < ep->n_ips; i++) {
            if (cs_key_ip(ep->vni, ep->ips[i].data, ep->ips[i].len, &k) != 0)
                continue;
            struct cs_entry *e = cs_cache_find(cs->cache, &k);
            if (e != NULL && e->version < version) {
                cs_cache_put(cs->cache, &k, &v, now_ms, NULL);
                notify(cs, e, CS_UPD_ENDPOINT, p);
            }
        }
        cs_key_mac(ep->vni, ep->mac.data, &k);
        struct cs_entry *e = cs_cache_find(cs->cache, &k);
        if (e != NULL && e->version < version) {
            cs_cache_put(cs->cache, &k, &v, now_ms, NULL);
            notify(cs, e, CS_UPD_ENDPOINT, p);
        }
    }
    cs_payload_unref(p);
}

void cs_feed_evicted(struct cs_entry *e, void *arg)
{
    struct cs *cs = arg;
    if (cs_iset_count(&e->holders) == 0)
        return;
    struct cs_payload *p = cs_payload_entry(cs, e, strata_wall_us());
    notify(cs, e, CS_UPD_INVALIDATE, p);
    cs_payload_unref(p);
}

struct flood_ctx {
    struct cs *cs;
    uint32_t vni;
    struct cs_payload *p;
};

static void flood_visit(struct cs_session *s, void *arg)
{
    struct flood_ctx *c = arg;
    if (cs_iset_has(&s->vnis, c->vni))
        cs_agents_push(c->cs->agents, s->id, CS_UPD_FLOOD, NULL, c->p);
}

/* STRATA_TEST_FEED_DROP_MAC=MAC: a TEST-ONLY DEFECT that loses every feed change of that
 * endpoint without a gap, so that the cache (and its holders) keep a stale answer: what
 * `strata audit` must find and repair (tests/system/test_audit.c, docs/debugging.md). */
static bool feed_test_drops(const Strata__V1__Endpoint *ep)
{
    static int init;
    static uint8_t mac[6];
    if (init == 0) {
        const char *s = getenv("STRATA_TEST_FEED_DROP_MAC");
        init = s != NULL && strata_mac_parse(s, mac, NULL) == 0 ? 1 : -1;
        if (init == 1)
            LOG_ERROR("STRATA_TEST_FEED_DROP_MAC=%s: TEST-ONLY DEFECT: this server loses every "
                      "change of that endpoint and serves its old value",
                      s);
    }
    return init == 1 && ep->mac.len == 6 && memcmp(ep->mac.data, mac, 6) == 0;
}

static void apply_change(struct cs *cs, const Strata__V1__Change *chg, uint64_t now_us)
{
    switch (chg->kind) {
    case STRATA__V1__OBJ_KIND__OBJ_ENDPOINT:
        if (chg->endpoint != NULL && feed_test_drops(chg->endpoint))
            break;
        if (chg->endpoint != NULL)
            apply_endpoint(cs, chg->endpoint, chg->index, chg->deleted, now_us);
        break;
    case STRATA__V1__OBJ_KIND__OBJ_VNET:
        if (chg->vnet == NULL)
            break;
        cs_vninfo_forget(cs, chg->vnet->vni);
        /* the vnet itself changed (not only its flood list, which gateways get as UPD_FLOOD) */
        if (chg->deleted || chg->vnet->version == chg->index)
            cs_gw_push_vninfo(cs, chg->vnet->vni, now_us);
        if (!chg->deleted) {
            /* The FSM emits a VN change with its flood list whenever that list changes (a VN's
             * creation carries the empty list). */
            struct flood_ctx c = {cs, chg->vnet->vni, NULL};
            c.p = cs_payload_flood(c.vni, chg->flood_vteps, chg->n_flood_vteps, now_us);
            if (c.p != NULL) {
                cs_agents_visit(cs->agents, flood_visit, &c);
                cs_payload_unref(c.p);
            }
        }
        break;
    case STRATA__V1__OBJ_KIND__OBJ_SUBNET:
        cs_vninfo_forget(cs, chg->subnet ? chg->subnet->vni : 0);
        if (chg->subnet != NULL)
            cs_gw_push_vninfo(cs, chg->subnet->vni, now_us);
        break;
    case STRATA__V1__OBJ_KIND__OBJ_GATEWAY:
        cs_vninfo_forget(cs, 0);
        if (chg->gateway != NULL)
            cs_gw_record_changed(cs, chg->gateway, chg->deleted, chg->index, now_us);
        break;
    case STRATA__V1__OBJ_KIND__OBJ_POLICY:
        cs_verdict_flush(cs->cache);
        if (chg->policy != NULL) {
            /* gateways serving either end enforce it: they refetch those VNs' information */
            cs_gw_push_vninfo(cs, chg->policy->from_vni, now_us);
            cs_gw_push_vninfo(cs, chg->policy->to_vni, now_us);
        }
        break;
    default:
        break;
    }
}

/* Drop everything that only the feed keeps current and have every agent resynchronise. */
static void flush_all(struct cs *cs)
{
    cs_cache_clear(cs->cache, NULL, NULL);
    cs_verdict_flush(cs->cache);
    cs_vninfo_forget(cs, 0);
    cs_agents_resync_all(cs->agents);
}

static void resync(struct cs *cs, uint64_t applied)
{
    LOG_WARN("feed: gap after index %llu (node now at %llu): flushing %zu cached keys and asking "
             "%u agents to resynchronise",
             (unsigned long long)cs->feed_index, (unsigned long long)applied,
             cs_cache_count(cs->cache), cs_agents_count(cs->agents));
    cs->ctr.feed_gaps++;
    flush_all(cs);
    if (applied > cs->feed_index)
        cs->feed_index = applied;
}

void cs_feed_failed(struct cs *cs, struct cs_feed_stall *st, uint64_t now_ms, const char *why)
{
    if (st->failures++ == 0)
        st->since_ms = now_ms;
    if (st->stalled) {
        /* Whatever was cached since the last attempt came from the directory, but no change
         * after it can reach us: drop it again, telling its holders. */
        cs_cache_clear(cs->cache, cs_feed_evicted, cs);
        cs_verdict_flush(cs->cache);
        cs_vninfo_forget(cs, 0);
        cs_agents_flush(cs->agents);
        return;
    }
    if (st->failures < CS_FEED_STALL_ATTEMPTS || now_ms - st->since_ms < CS_FEED_STALL_MS)
        return;
    LOG_ERROR("feed: no progress after index %llu for %llu ms (%u attempts, last: %s): flushing "
              "%zu cached keys and asking %u agents to resynchronise; lookups go to the directory "
              "until the feed moves again",
              (unsigned long long)cs->feed_index, (unsigned long long)(now_ms - st->since_ms),
              st->failures, why, cs_cache_count(cs->cache), cs_agents_count(cs->agents));
    st->stalled = true;
    cs->ctr.feed_stalls++;
    cs->ctr.feed_stalled = 1;
    flush_all(cs);
    cs_agents_flush(cs->agents);
}

void cs_feed_progressed(struct cs *cs, struct cs_feed_stall *st, uint64_t now_ms)
{
    if (st->stalled)
        LOG_WARN("feed: moving again at index %llu after %llu ms without progress",
                 (unsigned long long)cs->feed_index, (unsigned long long)(now_ms - st->since_ms));
    st->failures = 0;
    st->stalled = false;
    cs->ctr.feed_stalled = 0;
}

void cs_feed_apply(struct cs *cs, const Strata__V1__FeedReply *fr)
{
    if (fr->gap) {
        resync(cs, fr->applied_index);
    } else {
        uint64_t base = cs->feed_index, now_us = strata_wall_us();
        for (size_t i = 0; i < fr->n_changes; i++) {
            const Strata__V1__Change *chg = fr->changes[i];
            if (chg->index <= base)
                continue; /* seen already (from another node) */
            cs_wait_change_begin(cs, chg->index, now_us);
            apply_change(cs, chg, now_us);
            cs_wait_change_end(cs);
            cs->ctr.feed_changes++;
            if (chg->index > cs->feed_index)
                cs->feed_index = chg->index;
        }
        /* A short reply holds every change up to its applied_index. The directory pages by
         * bytes too; a page it cuts short carries the last index it holds as applied_index, so
         * this never skips a change (older nodes cut only by count). */
        if (fr->n_changes < FEED_MAX && fr->applied_index > cs->feed_index)
            cs->feed_index = fr->applied_index;
    }
    cs->ctr.feed_index = cs->feed_index;
    cs_agents_flush(cs->agents);
    cs_wait_kick(cs);
}

static void retry_cb(uv_timer_t *t)
{
    feed_poll(t->data);
}

static void feed_reply(int rc, strata_env *reply, void *arg)
{
    struct cs_feed *f = arg;
    struct cs *cs = f->cs;
    if (f->stopping) {
        if (reply)
            strata_msg_free(reply);
        return;
    }
    if (rc == 0 && reply->status == 0 &&
        reply->body_case == STRATA__V1__ENVELOPE__BODY_FEED_REPLY) {
        cs_feed_apply(cs, reply->feed_reply);
        cs_feed_progressed(cs, &f->stall, strata_now_ms());
        /* Read the feed at the leader when it is one of ours: a follower sees a commit only at
         * the leader's next AppendEntries, up to a heartbeat (100 ms) after the last write of
         * a burst, and pushes (policy to the gateways, moves to the hosts) would wait as long. */
        int at = cs->up != NULL ? cs_up_find(cs->up, reply->feed_reply->leader_api) : -1;
        if (at >= 0 && at != f->cursor) {
            LOG_INFO("feed: reading it at the leader, %s", reply->feed_reply->leader_api);
            f->cursor = at;
            cs->ctr.feed_to_leader++;
        }
        strata_msg_free(reply);
        feed_poll(f);
        return;
    }
    const char *why =
        reply ? (reply->message && *reply->message ? reply->message : strata_errname(reply->status))
              : strata_errname(rc);
    LOG_DEBUG("feed: node %d failed (%s): moving on", f->cursor, why);
    /* A failure that repeats at one index (a reply that cannot be sent or decoded, a node in
     * trouble, no node reachable) would otherwise leave the cache serving what it can no
     * longer prove current, silently. */
    cs_feed_failed(cs, &f->stall, strata_now_ms(), why);
    if (reply)
        strata_msg_free(reply);
    f->cursor = (f->cursor + 1) % cs_up_nodes(cs->up);
    uv_timer_start(&f->retry, retry_cb, f->stall.stalled ? FEED_STALLED_RETRY_MS : FEED_RETRY_MS,
                   0);
}

static void feed_poll(struct cs_feed *f)
{
    if (f->stopping)
        return;
    f->fr.after_index = f->cs->feed_index;
    unsigned t = FEED_WAIT_MS + 700; /* a dead node costs at most this */
    cs_up_call(f->cs->up, &f->env, t, t, &f->cursor, feed_reply, f);
}

int cs_feed_node(const struct cs *cs)
{
    return cs->feed != NULL ? cs->feed->cursor : -1;
}

int cs_feed_start(struct cs *cs, struct strata_err *e)
{
    struct cs_feed *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "feed: out of memory");
    f->cs = cs;
    strata__v1__envelope__init(&f->env);
    strata__v1__feed_request__init(&f->fr);
    f->fr.max = FEED_MAX;
    f->fr.wait_ms = FEED_WAIT_MS;
    f->env.body_case = STRATA__V1__ENVELOPE__BODY_FEED;
    f->env.feed = &f->fr;
    f->env.identity = (char *)"operator";
    uv_timer_init(cs->uv, &f->retry);
    f->retry.data = f;
    cs->feed = f;
    feed_poll(f);
    return 0;
}

void cs_feed_stop(struct cs *cs)
{
    struct cs_feed *f = cs->feed;
    if (f == NULL)
        return;
    /* The in-flight poll ends through the upstream's close (callback sees `stopping`); the
     * struct lives until the loop stops because that callback may still come. */
    f->stopping = true;
    uv_timer_stop(&f->retry);
    uv_close((uv_handle_t *)&f->retry, NULL);
}

void cs_feed_free(struct cs *cs)
{
    free(cs->feed);
    cs->feed = NULL;
}
