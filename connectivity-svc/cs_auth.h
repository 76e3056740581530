/* cs_auth.h - every authorization decision of strata-csd, one function per decision, taking the
 * caller's identity (its TLS certificate's; in plaintext, what Envelope.identity claims) and the
 * request. Pure. */
#ifndef CS_AUTH_H
#define CS_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "strata.pb-c.h"

struct cs_session;

enum cs_ident_kind { CS_ID_OPERATOR = 1, CS_ID_HOST, CS_ID_GW };

struct cs_ident {
    enum cs_ident_kind kind;
    char name[64]; /* host or gateway id; empty for the operator */
};

/* Parse "operator", "host:NAME" or "gw:NAME". Anything else (including none) is STRATA_EDENIED. */
int cs_auth_identify(const char *identity, struct cs_ident *id, struct strata_err *e);

/* The same from a TLS peer's certificate, which replaces whatever the envelope claims: an agent
 * is host:NAME, a gateway gw:NAME, an operator the operator; directory and connectivity
 * certificates have no business here. */
struct strata_peer;
int cs_auth_identify_peer(const struct strata_peer *p, struct cs_ident *id, struct strata_err *e);

/* HostRegister: host:NAME for a host, gw:NAME for a gateway, naming itself. */
int cs_auth_host_register(const struct cs_ident *id, const Strata__V1__HostRegister *hr,
                          struct strata_err *e);
/* PortRegister: only endpoints on the caller's own host and VTEP, after HostRegister. */
int cs_auth_port_register(const struct cs_ident *id, const struct cs_session *s,
                          const Strata__V1__Endpoint *ep, struct strata_err *e);
/* PortMove: only onto the caller's own host, after HostRegister. */
int cs_auth_port_move(const struct cs_ident *id, const struct cs_session *s,
                      const Strata__V1__EndpointMove *mv, struct strata_err *e);
/* PortUnregister: only an endpoint currently on the caller's host (cur_host, as the directory
 * says). */
int cs_auth_port_unregister(const struct cs_ident *id, const struct cs_session *s,
                            const char *cur_host, struct strata_err *e);

/* Resolve / VnInfo in vni: 0 = allowed; STRATA_EDENIED = refused; CS_AUTH_ASK = the session does
 * not know of a port in vni yet: ask the directory (then call cs_auth_vni_learned). */
#define CS_AUTH_ASK 1
int cs_auth_vni(const struct cs_ident *id, const struct cs_session *s, uint32_t vni,
                uint64_t now_ms, struct strata_err *e);
/* The refusal after the directory said the host has no port in vni. */
int cs_auth_vni_refused(const struct cs_ident *id, uint32_t vni, struct strata_err *e);

/* UpdatesRequest for `host`. */
int cs_auth_updates(const struct cs_ident *id, const char *host, struct strata_err *e);
/* Operator-only requests (cache show). */
int cs_auth_operator(const struct cs_ident *id, const char *what, struct strata_err *e);

#endif
