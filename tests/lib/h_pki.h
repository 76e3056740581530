/* h_pki.h - certificates in a directory of the caller's choosing (a second CA to be refused, a
 * benchmark's own): lib/pki.c, as `strata pki` makes them, failures said on stderr. Tests that
 * just need the deployment's certificates use h_tls.h instead. */
#ifndef STRATA_H_PKI_H
#define STRATA_H_PKI_H

struct strata_tls;

/* A CA in dir: dir/ca.crt and dir/ca.key. 0, or -1. (`cn` is kept for the callers' sake: every
 * CA is "Strata CA".) */
int h_pki_ca(const char *dir, const char *cn);

/* A certificate of dir's CA for `name` with `role` (and, for servers, an IP SAN `ip`):
 * dir/NAME.crt and dir/NAME.key. 0, or -1. */
int h_pki_issue(const char *dir, const char *role, const char *name, const char *ip);

/* A TLS context trusting dir/ca.crt and presenting dir/NAME.crt, or NULL. */
struct strata_tls *h_pki_tls(const char *dir, const char *name);

#endif
