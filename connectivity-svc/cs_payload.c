/* cs_payload.c - the payloads cs_agents.c queues: an endpoint's value, a flood list, a VN-info
 * notice, an audit question; refcounted, and their convergence observed when the last queue
 * holding one lets go of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_payload.h"

static struct cs_payload *payload_new(uint64_t committed_us)
{
    struct cs_payload *p = calloc(1, sizeof(*p));
    if (p != NULL) {
        p->refs = 1;
        p->committed_us = committed_us;
    }
    return p;
}

struct cs_payload *cs_payload_endpoint(const Strata__V1__Endpoint *ep, uint64_t committed_us)
{
    struct cs_payload *p = payload_new(committed_us);
    if (p == NULL)
        return NULL;
    p->has_ep = true;
    strata__v1__endpoint__init(&p->ep);
    p->ep.vni = ep->vni;
    p->ep.version = ep->version;
    if (ep->mac.len == 6) {
        memcpy(p->mac, ep->mac.data, 6);
        p->ep.mac.data = p->mac;
        p->ep.mac.len = 6;
    }
    if (ep->vtep.len == 4 || ep->vtep.len == 16) {
        memcpy(p->vtep, ep->vtep.data, ep->vtep.len);
        p->ep.vtep.data = p->vtep;
        p->ep.vtep.len = ep->vtep.len;
    }
    snprintf(p->host, sizeof(p->host), "%s", ep->host ? ep->host : "");
    p->ep.host = p->host;
    size_t n = 0;
    for (size_t i = 0; i < ep->n_ips && n < STRATA_MAX_IPS; i++) {
        if (ep->ips[i].len != 4 && ep->ips[i].len != 16)
            continue;
        memcpy(p->ipbuf[n], ep->ips[i].data, ep->ips[i].len);
        p->ips[n].data = p->ipbuf[n];
        p->ips[n].len = ep->ips[i].len;
        n++;
    }
    p->ep.ips = p->ips;
    p->ep.n_ips = n;
    return p;
}

struct cs_payload *cs_payload_entry(struct cs *cs, const struct cs_entry *e, uint64_t committed_us)
{
    Strata__V1__Endpoint ep = STRATA__V1__ENDPOINT__INIT;
    ProtobufCBinaryData ip;
    ep.vni = e->vni;
    ep.version = e->version;
    if (e->found) {
        ep.mac.data = (uint8_t *)e->mac;
        ep.mac.len = 6;
        ep.vtep.data = (uint8_t *)e->vtep;
        ep.vtep.len = e->vtep_len;
        ep.host = (char *)cs_cache_host_name(cs->cache, e->host);
    } else if (e->kind == CS_KEY_MAC) {
        ep.mac.data = (uint8_t *)e->key;
        ep.mac.len = 6;
    }
    if (e->kind != CS_KEY_MAC) {
        ip.data = (uint8_t *)e->key;
        ip.len = cs_key_len(e->kind);
        ep.ips = &ip;
        ep.n_ips = 1;
    }
    return cs_payload_endpoint(&ep, committed_us);
}

struct cs_payload *cs_payload_flood(uint32_t vni, ProtobufCBinaryData *vteps, size_t n,
                                    uint64_t committed_us)
{
    struct cs_payload *p = payload_new(committed_us);
    if (p == NULL)
        return NULL;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += vteps[i].len;
    /* one block: the array of n descriptors followed by the addresses */
    p->flood = malloc(n * sizeof(*p->flood) + bytes + 1);
    if (p->flood == NULL) {
        free(p);
        return NULL;
    }
    uint8_t *data = (uint8_t *)(p->flood + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(data, vteps[i].data, vteps[i].len);
        p->flood[i].data = data;
        p->flood[i].len = vteps[i].len;
        data += vteps[i].len;
    }
    p->nflood = n;
    p->ep.vni = vni;
    return p;
}

struct cs_payload *cs_payload_vninfo(uint32_t vni, const uint32_t *vnis, size_t n,
                                     uint64_t committed_us)
{
    struct cs_payload *p = payload_new(committed_us);
    if (p == NULL)
        return NULL;
    if (n > 0) {
        if ((p->vnis = malloc(n * sizeof(*p->vnis))) == NULL) {
            free(p);
            return NULL;
        }
        memcpy(p->vnis, vnis, n * sizeof(*p->vnis));
    }
    p->nvnis = n;
    p->ep.vni = vni;
    return p;
}

struct cs_payload *cs_payload_audit(uint64_t id, const uint64_t *parts, size_t np,
                                    const struct cs_key *keys, size_t nk)
{
    struct cs_payload *p = payload_new(strata_wall_us());
    if (p == NULL)
        return NULL;
    p->audit_id = id;
    if (np > 0) {
        p->parts = calloc(np, sizeof(*p->parts));
        p->partsp = calloc(np, sizeof(*p->partsp));
        if (p->parts == NULL || p->partsp == NULL) {
            cs_payload_unref(p);
            return NULL;
        }
        for (size_t i = 0; i < np; i++) {
            strata__v1__audit_vn__init(&p->parts[i]);
            p->parts[i].vni = (uint32_t)(parts[i] >> 8);
            p->parts[i].bucket = (uint32_t)(parts[i] & 0xff);
            p->partsp[i] = &p->parts[i];
        }
        p->nparts = np;
    }
    if (nk == 0)
        return p;
    p->repair = calloc(nk, sizeof(*p->repair));
    p->repairp = calloc(nk, sizeof(*p->repairp));
    p->repair_keys = malloc(nk * sizeof(*p->repair_keys));
    if (p->repair == NULL || p->repairp == NULL || p->repair_keys == NULL) {
        cs_payload_unref(p);
        return NULL;
    }
    memcpy(p->repair_keys, keys, nk * sizeof(*keys));
    for (size_t i = 0; i < nk; i++) {
        Strata__V1__AuditKey *k = &p->repair[i];
        strata__v1__audit_key__init(k);
        k->vni = keys[i].vni;
        ProtobufCBinaryData *f = keys[i].kind == CS_KEY_MAC ? &k->mac : &k->ip;
        f->data = p->repair_keys[i].b;
        f->len = cs_key_len(keys[i].kind);
        p->repairp[i] = k;
    }
    p->nrepair = nk;
    return p;
}

void cs_payload_unref(struct cs_payload *p)
{
    if (p == NULL || --p->refs > 0)
        return;
    if (p->converge != NULL && !p->lost) {
        uint64_t now = strata_wall_us();
        strata_histo_observe(p->converge,
                             now > p->committed_us ? (now - p->committed_us) * 1000 : 0);
    }
    free(p->flood);
    free(p->vnis);
    free(p->parts);
    free(p->partsp);
    free(p->repair);
    free(p->repairp);
    free(p->repair_keys);
    free(p);
}
