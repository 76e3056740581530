/* h_pki.c - certificates in a directory of the test's choosing (a second CA, a probe's own):
 * lib/pki.c as `strata pki` uses it, with the failures said on stderr. */
#include "h_pki.h"

#include <stdio.h>

#include "pki.h"
#include "tls.h"

int h_pki_ca(const char *dir, const char *cn)
{
    (void)cn; /* strata pki names every CA "Strata CA" */
    struct strata_err e;
    if (strata_pki_init(dir, &e) != 0) {
        fprintf(stderr, "h_pki_ca %s: %s\n", dir, e.msg);
        return -1;
    }
    return 0;
}

int h_pki_issue(const char *dir, const char *role, const char *name, const char *ip)
{
    struct strata_err e;
    const char *ips[1] = {ip};
    struct strata_pki_issue_opts o = {
        .dir = dir, .role = role, .name = name, .ips = ips, .nips = ip != NULL};
    if (strata_pki_issue(&o, &e) != 0) {
        fprintf(stderr, "h_pki_issue %s/%s: %s\n", dir, name, e.msg);
        return -1;
    }
    return 0;
}

struct strata_tls *h_pki_tls(const char *dir, const char *name)
{
    char ca[STRATA_PKI_PATH_MAX], crt[STRATA_PKI_PATH_MAX], key[STRATA_PKI_PATH_MAX];
    struct strata_err e;
    struct strata_tls *t = NULL;
    if (strata_pki_path(dir, STRATA_PKI_CA_NAME, "crt", ca, sizeof(ca), &e) != 0 ||
        strata_pki_path(dir, name, "crt", crt, sizeof(crt), &e) != 0 ||
        strata_pki_path(dir, name, "key", key, sizeof(key), &e) != 0) {
        fprintf(stderr, "h_pki_tls: %s\n", e.msg);
        return NULL;
    }
    struct strata_tls_files f = {ca, crt, key};
    if (strata_tls_open(&f, &t, &e) != 0)
        fprintf(stderr, "h_pki_tls %s: %s\n", name, e.msg);
    return t;
}
