/* h_pki.c - test certificates with libcrypto (see h_pki.h). */
#include "h_pki.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tls.h"

static int pki_fail(const char *what, const char *path)
{
    char eb[256] = "";
    unsigned long err = ERR_get_error();
    if (err != 0)
        ERR_error_string_n(err, eb, sizeof(eb));
    ERR_clear_error();
    fprintf(stderr, "h_pki: %s %s: %s\n", what, path != NULL ? path : "", eb);
    return -1;
}

static int pki_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (ext == NULL)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

/* A certificate for `key` named `subject`, signed by issuer/issuer_key (itself when NULL). */
static X509 *pki_cert(EVP_PKEY *key, X509_NAME *subject, X509 *issuer, EVP_PKEY *issuer_key,
                      bool ca, const char *ip)
{
    X509 *x = X509_new();
    uint64_t serial = 0;
    if (x == NULL || RAND_bytes((unsigned char *)&serial, sizeof(serial)) != 1)
        goto fail;
    serial >>= 1; /* positive */
    X509V3_CTX ctx;
    if (X509_set_version(x, 2) != 1 ||
        ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400) == NULL ||
        X509_set_subject_name(x, subject) != 1 ||
        X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : subject) != 1 ||
        X509_set_pubkey(x, key) != 1)
        goto fail;
    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    char san[64];
    if (ca) {
        if (pki_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
            pki_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
            pki_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0)
            goto fail;
    } else {
        if (pki_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
            pki_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") != 0 ||
            pki_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") != 0)
            goto fail;
        snprintf(san, sizeof(san), "IP:%s", ip != NULL ? ip : "");
        if (ip != NULL && pki_ext(x, &ctx, NID_subject_alt_name, san) != 0)
            goto fail;
    }
    if (X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) <= 0)
        goto fail;
    return x;
fail:
    X509_free(x);
    return NULL;
}

static X509_NAME *pki_name(const char *role, const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    if (n == NULL ||
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"Strata", -1, -1,
                                   0) != 1 ||
        (role != NULL && X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC,
                                                    (const unsigned char *)role, -1, -1, 0) != 1) ||
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) !=
            1) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

/* dir/<file>.crt and dir/<file>.key. */
static int pki_write(const char *dir, const char *file, X509 *x, EVP_PKEY *key)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.crt", dir, file);
    FILE *f = fopen(path, "w");
    if (f == NULL || PEM_write_X509(f, x) != 1) {
        if (f != NULL)
            fclose(f);
        return pki_fail("cannot write", path);
    }
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s.key", dir, file);
    f = fopen(path, "w");
    if (f == NULL || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1) {
        if (f != NULL)
            fclose(f);
        return pki_fail("cannot write", path);
    }
    fclose(f);
    return 0;
}

int h_pki_ca(const char *dir, const char *cn)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509_NAME *n = pki_name(NULL, cn);
    X509 *x = key != NULL && n != NULL ? pki_cert(key, n, NULL, NULL, true, NULL) : NULL;
    int rc = x != NULL ? pki_write(dir, "ca", x, key) : pki_fail("cannot make a CA in", dir);
    X509_free(x);
    X509_NAME_free(n);
    EVP_PKEY_free(key);
    return rc;
}

int h_pki_issue(const char *ca_dir, const char *dir, const char *file, const char *role,
                const char *name, const char *ip)
{
    char path[1024];
    X509 *ca = NULL, *x = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509_NAME *n = NULL;
    int rc = -1;
    snprintf(path, sizeof(path), "%s/ca.crt", ca_dir);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        ca = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/ca.key", ca_dir);
    f = fopen(path, "r");
    if (f != NULL) {
        ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (ca == NULL || ca_key == NULL) {
        pki_fail("cannot read the CA in", ca_dir);
        goto out;
    }
    key = EVP_EC_gen("P-256");
    n = pki_name(role, name);
    x = key != NULL && n != NULL ? pki_cert(key, n, ca, ca_key, false, ip) : NULL;
    rc = x != NULL ? pki_write(dir, file, x, key) : pki_fail("cannot issue", file);
out:
    X509_free(x);
    X509_NAME_free(n);
    EVP_PKEY_free(key);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return rc;
}

struct strata_tls *h_pki_tls(const char *ca_dir, const char *dir, const char *file)
{
    char ca[1024], cert[1024], key[1024];
    snprintf(ca, sizeof(ca), "%s/ca.crt", ca_dir);
    snprintf(cert, sizeof(cert), "%s/%s.crt", dir, file);
    snprintf(key, sizeof(key), "%s/%s.key", dir, file);
    struct strata_tls_files f = {.ca = ca, .cert = cert, .key = key};
    struct strata_tls *t = NULL;
    struct strata_err e;
    if (strata_tls_open(&f, &t, &e) != 0) {
        fprintf(stderr, "h_pki: %s\n", e.msg);
        return NULL;
    }
    return t;
}
