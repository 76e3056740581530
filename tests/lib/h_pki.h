/* h_pki.h - certificates for tests, made with OpenSSL's libcrypto: an EC P-256 CA and leaf
 * certificates carrying a Strata role (subject OU) and name (CN), as `strata pki` issues them.
 * It stands in for lib/pki.c until that is merged: replace these calls with it then. */
#ifndef STRATA_H_PKI_H
#define STRATA_H_PKI_H

struct strata_tls;

/* A CA in dir: dir/ca.crt and dir/ca.key (subject O=Strata, CN=cn). 0, or -1 with a message on
 * stderr. */
int h_pki_ca(const char *dir, const char *cn);

/* A certificate signed by the CA of ca_dir: dir/<file>.crt and dir/<file>.key, subject O=Strata,
 * OU=role, CN=name; basicConstraints CA:FALSE, keyUsage digitalSignature, extendedKeyUsage
 * serverAuth and clientAuth, and with ip (servers) a subjectAltName IP:ip. 0, or -1. */
int h_pki_issue(const char *ca_dir, const char *dir, const char *file, const char *role,
                const char *name, const char *ip);

/* A TLS context trusting ca_dir/ca.crt and presenting dir/<file>.crt, or NULL (said on stderr). */
struct strata_tls *h_pki_tls(const char *ca_dir, const char *dir, const char *file);

#endif
