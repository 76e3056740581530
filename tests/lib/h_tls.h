/* h_tls.h - mutual TLS in tests and benchmarks: one CA per process (made at first use, removed
 * with h_cleanup), certificates issued on demand, daemon flags and client contexts made from
 * them. TLS is on unless STRATA_TEST_TLS=0, so that every test runs as deployed. */
#ifndef STRATA_H_TLS_H
#define STRATA_H_TLS_H

#include <stdbool.h>

#include "tls.h"

/* Whether tests run with TLS (STRATA_TEST_TLS unset or not "0"); can be forced by a test that
 * is about TLS (h_tls_force). */
bool h_tls(void);
void h_tls_force(bool on);
/* "tls+tcp://" or "tcp://": the scheme of every URL a test builds. */
const char *h_tls_scheme(void);

/* The CA's directory (dir/ca.crt, dir/ca.key); $STRATA_TEST_PKI names it for the processes the
 * test starts, which use it too. */
const char *h_tls_dir(void);

/* Keep the PKI in `dir` instead of a fresh one per process: its CA is made there when missing,
 * certificates already there are reused, and nothing is removed at exit. For a benchmark that
 * needs a thousand certificates and should issue them once. Call before any other h_tls_*. */
void h_tls_keep_dir(const char *dir);

/* The files of `role`'s certificate for `name`, issued at the first call with IP SANs
 * 127.0.0.1 and `ip` (NULL: none more). Paths stay valid for the process's life. */
struct strata_tls_files h_tls_files(const char *role, const char *name, const char *ip);

/* Append "--tls-ca CA --tls-cert C --tls-key K" for role/name to argv at *a, when TLS is on. */
void h_tls_argv(char **argv, int *a, const char *role, const char *name, const char *ip);

/* The same whatever STRATA_TEST_TLS says (a benchmark measuring both sides). */
void h_tls_flags(char **argv, int *a, const char *role, const char *name, const char *ip);

/* The same at the end of a NULL-terminated argv with room for six more. */
void h_tls_args(char **argv, const char *role, const char *name, const char *ip);

/* A context speaking as role/name (a test client acting as an agent, a stranger...). Kept for
 * the process's life. */
struct strata_tls *h_tls_ctx(const char *role, const char *name);

/* The context for an envelope identity as plaintext tests claim it: "host:NAME" is agent NAME's
 * certificate, "gw:NAME" gateway NAME's, anything else the process's default (the operator's).
 * NULL when TLS is off. So a test written against claimed identities speaks, under TLS, with
 * the certificate of whoever it claims to be. */
struct strata_tls *h_tls_ident(const char *identity);

/* Make the process an operator: its clients' default context (strata_tls_default) is an
 * operator certificate's, and STRATA_TLS_CA/CERT/KEY name its files for the CLIs it runs. No-op
 * when TLS is off. */
void h_tls_operator(void);

#endif
