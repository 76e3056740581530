/* pki.h - Strata's certificate authority (`strata pki`): a CA, and certificates whose subject
 * says who their holder is (O=Strata, OU=role, CN=name), as lib/tls.c reads them back.
 *
 * Keys are EC P-256 in PKCS#8 PEM, certificates X.509 v3 PEM signed with SHA-256. Files are
 * created new, never over existing ones: re-running `init` must not replace a CA that issued
 * live certificates, nor `issue` a key in use. Usable in-process by tests and benchmarks. */
#ifndef STRATA_PKI_H
#define STRATA_PKI_H

#include <stddef.h>

#include "err.h"

#define STRATA_PKI_CA_DAYS 3650     /* the CA's validity: 10 years */
#define STRATA_PKI_DAYS_DEFAULT 825 /* a certificate's, unless asked otherwise */
#define STRATA_PKI_DAYS_MAX 3650
#define STRATA_PKI_MAX_IPS 32 /* subjectAltName addresses in one certificate */
#define STRATA_PKI_PATH_MAX 4096
#define STRATA_PKI_CA_NAME "ca" /* the CA's files: DIR/ca.crt, DIR/ca.key */

/* Create the CA in `dir` (made, mode 0700, with its parents when missing): dir/ca.key (mode
 * 0600) and dir/ca.crt (0644), subject O=Strata, CN=Strata CA, valid 10 years. STRATA_EEXIST,
 * naming the file, when either exists: then nothing is written. */
int strata_pki_init(const char *dir, struct strata_err *e);

struct strata_pki_issue_opts {
    const char *dir;        /* holds ca.crt and ca.key; receives NAME.crt and NAME.key */
    const char *role;       /* operator | directory | connectivity | agent | gateway: the OU */
    const char *name;       /* the CN and the files' base name; obeys strata_name_check */
    const char *const *ips; /* IPv4 or IPv6 text: one subjectAltName iPAddress each */
    size_t nips;            /* 0: no subjectAltName extension at all */
    unsigned days;          /* 1..STRATA_PKI_DAYS_MAX; 0 = STRATA_PKI_DAYS_DEFAULT */
};

/* Issue a certificate signed by dir's CA for o->name with o->role: dir/NAME.key (0600) and
 * dir/NAME.crt (0644). Everything given is checked before any file is read (STRATA_EINVAL
 * naming the bad value); a missing CA is STRATA_ENOTFOUND, a key that does not match the CA's
 * certificate STRATA_EINVAL; STRATA_EEXIST, naming the file, when either output exists. */
int strata_pki_issue(const struct strata_pki_issue_opts *o, struct strata_err *e);

/* "dir/name.ext" into buf (STRATA_PKI_PATH_MAX is enough for any path the kernel takes):
 * where init and issue put their files (the CA's name is STRATA_PKI_CA_NAME). STRATA_EINVAL if it
 * does not fit. */
int strata_pki_path(const char *dir, const char *name, const char *ext, char *buf, size_t n,
                    struct strata_err *e);

#endif
