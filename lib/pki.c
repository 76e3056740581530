/* pki.c - Strata's certificate authority (see pki.h), on OpenSSL 3 libcrypto: EC P-256 keys,
 * X.509 v3 certificates, PEM files created new through strata_file_create. */
#include "pki.h"
#include "tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "addr.h"
#include "fsutil.h"

#define PKI_ORG "Strata"
#define PKI_CA_CN "Strata CA"
#define PKI_CURVE "P-256"
#define PKI_SKEW_S (60 * 60) /* notBefore is an hour ago: peers' clocks disagree */
#define PKI_SERIAL_BYTES 16
#define PKI_KEY_MODE 0600
#define PKI_CERT_MODE 0644
#define PKI_DIR_MODE 0700

/* An error message followed by OpenSSL's reason for it, when it left one. */
static int pki_fail(struct strata_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int pki_fail(struct strata_err *e, int code, const char *fmt, ...)
{
    char what[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    char why[160] = "";
    unsigned long err = ERR_get_error(); /* the oldest: where it went wrong first */
    if (err != 0)
        ERR_error_string_n(err, why, sizeof(why));
    ERR_clear_error();
    return strata_err_set(e, code, "%s%s%s", what, why[0] ? ": " : "", why);
}

int strata_pki_path(const char *dir, const char *name, const char *ext, char *buf, size_t n,
                    struct strata_err *e)
{
    int w = snprintf(buf, n, "%s/%s.%s", dir, name, ext);
    if (w < 0 || (size_t)w >= n)
        return strata_err_set(e, STRATA_EINVAL, "path too long: %.64s...", dir);
    return 0;
}

/* ---------------------------------------------------------------- building certificates */

struct pki_ext {
    int nid;
    const char *value; /* openssl x509v3_config(5) syntax */
};

static const struct pki_ext pki_ca_exts[] = {
    {NID_basic_constraints, "critical,CA:TRUE"},
    {NID_key_usage, "critical,keyCertSign,cRLSign"},
    {NID_subject_key_identifier, "hash"},
};

static const struct pki_ext pki_leaf_exts[] = {
    {NID_basic_constraints, "critical,CA:FALSE"},   {NID_key_usage, "critical,digitalSignature"},
    {NID_ext_key_usage, "serverAuth,clientAuth"},   {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
};

/* O=Strata[, OU=ou], CN=cn. */
static X509_NAME *pki_name(const char *ou, const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    if (n == NULL)
        return NULL;
    if (X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)PKI_ORG, -1, -1,
                                   0) != 1 ||
        (ou != NULL && X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const unsigned char *)ou,
                                                  -1, -1, 0) != 1) ||
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) !=
            1) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

/* 128 random bits: positive (an unsigned big number), and never zero. */
static bool pki_set_serial(X509 *x)
{
    unsigned char b[PKI_SERIAL_BYTES];
    BIGNUM *bn = NULL;
    do {
        BN_free(bn);
        if (RAND_bytes(b, sizeof(b)) != 1)
            return false;
        bn = BN_bin2bn(b, sizeof(b), NULL);
        if (bn == NULL)
            return false;
    } while (BN_is_zero(bn));
    bool ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

/* A v3 certificate of `key` for `subject`, issued by `issuer` (NULL: by itself), valid from an
 * hour ago for `days` days. Extensions and the signature are the caller's. */
static X509 *pki_cert_new(const X509_NAME *subject, const X509 *issuer, EVP_PKEY *key,
                          unsigned days)
{
    X509 *x = X509_new();
    if (x == NULL)
        return NULL;
    const X509_NAME *iname = issuer != NULL ? X509_get_subject_name(issuer) : subject;
    if (X509_set_version(x, X509_VERSION_3) != 1 || !pki_set_serial(x) ||
        X509_set_subject_name(x, subject) != 1 || X509_set_issuer_name(x, iname) != 1 ||
        X509_set_pubkey(x, key) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), -PKI_SKEW_S) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Add `exts` to x; `issuer` (x itself for the CA) gives the authorityKeyIdentifier. */
static bool pki_add_exts(X509 *x, X509 *issuer, const struct pki_ext *exts, size_t n)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, exts[i].nid, exts[i].value);
        bool ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
        X509_EXTENSION_free(ext);
        if (!ok)
            return false;
    }
    return true;
}

/* subjectAltName: one iPAddress per address, built from the parsed bytes (not from text that
 * OpenSSL would parse a second time). No addresses, no extension. */
static bool pki_add_ips(X509 *x, const struct strata_ip *ips, size_t n)
{
    if (n == 0)
        return true;
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    bool ok = gens != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        ok = g != NULL && os != NULL &&
             ASN1_OCTET_STRING_set(os, ips[i].a, (int)strata_ip_len(&ips[i])) == 1;
        if (ok) {
            GENERAL_NAME_set0_value(g, GEN_IPADD, os); /* g owns os now */
            os = NULL;
            ok = sk_GENERAL_NAME_push(gens, g) > 0;
            if (ok)
                g = NULL;
        }
        ASN1_OCTET_STRING_free(os);
        GENERAL_NAME_free(g);
    }
    ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(gens);
    return ok;
}

/* ---------------------------------------------------------------- files */

/* The PEM text of a BIO into a new file. */
static int pki_save_bio(BIO *b, const char *path, unsigned mode, struct strata_err *e)
{
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    if (len <= 0 || data == NULL)
        return pki_fail(e, STRATA_EINTERNAL, "encode %s", path);
    return strata_file_create(path, mode, data, (size_t)len, e);
}

/* Unencrypted PKCS#8 ("BEGIN PRIVATE KEY"), through secure memory: wiped when freed. */
static int pki_save_key(const char *path, EVP_PKEY *key, struct strata_err *e)
{
    BIO *b = BIO_new(BIO_s_secmem());
    if (b == NULL || PEM_write_bio_PKCS8PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(b);
        return pki_fail(e, STRATA_EINTERNAL, "encode %s", path);
    }
    int rc = pki_save_bio(b, path, PKI_KEY_MODE, e);
    BIO_free(b);
    return rc;
}

static int pki_save_cert(const char *path, X509 *x, struct strata_err *e)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || PEM_write_bio_X509(b, x) != 1) {
        BIO_free(b);
        return pki_fail(e, STRATA_EINTERNAL, "encode %s", path);
    }
    int rc = pki_save_bio(b, path, PKI_CERT_MODE, e);
    BIO_free(b);
    return rc;
}

/* Both files or neither: the key first (a certificate without its key is useless; a key left
 * alone by a crash is refused by the next run, naming it), and it goes again if the
 * certificate cannot be written. Both targets were found absent by the caller. */
static int pki_save_pair(const char *key_path, EVP_PKEY *key, const char *crt_path, X509 *x,
                         struct strata_err *e)
{
    int rc = pki_save_key(key_path, key, e);
    if (rc != 0)
        return rc;
    rc = pki_save_cert(crt_path, x, e);
    if (rc != 0)
        unlink(key_path);
    return rc;
}

/* Encrypted keys are refused instead of OpenSSL prompting on the terminal. */
static int pki_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static int pki_open_ca_file(const char *path, const char *dir, FILE **f, struct strata_err *e)
{
    *f = fopen(path, "r");
    if (*f == NULL && errno == ENOENT)
        return strata_err_set(e, STRATA_ENOTFOUND,
                              "%s: no such file (run strata pki init --dir %s)", path, dir);
    if (*f == NULL)
        return strata_err_set(e, STRATA_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

/* dir's CA: a CA certificate and the key it was made with. */
static int pki_load_ca(const char *dir, X509 **cert, EVP_PKEY **key, struct strata_err *e)
{
    char crt_path[STRATA_PKI_PATH_MAX], key_path[STRATA_PKI_PATH_MAX];
    int rc = strata_pki_path(dir, STRATA_PKI_CA_NAME, "crt", crt_path, sizeof(crt_path), e);
    if (rc == 0)
        rc = strata_pki_path(dir, STRATA_PKI_CA_NAME, "key", key_path, sizeof(key_path), e);
    if (rc != 0)
        return rc;
    FILE *f;
    rc = pki_open_ca_file(crt_path, dir, &f, e);
    if (rc != 0)
        return rc;
    *cert = PEM_read_X509(f, NULL, pki_no_passphrase, NULL);
    fclose(f);
    if (*cert == NULL)
        return pki_fail(e, STRATA_EINVAL, "%s: not a PEM certificate", crt_path);
    if (X509_check_ca(*cert) == 0) {
        rc = strata_err_set(e, STRATA_EINVAL, "%s is not a CA certificate", crt_path);
        goto fail;
    }
    rc = pki_open_ca_file(key_path, dir, &f, e);
    if (rc != 0)
        goto fail;
    *key = PEM_read_PrivateKey(f, NULL, pki_no_passphrase, NULL);
    fclose(f);
    if (*key == NULL) {
        rc = pki_fail(e, STRATA_EINVAL, "%s: not an unencrypted PEM private key", key_path);
        goto fail;
    }
    if (X509_check_private_key(*cert, *key) != 1) {
        rc = pki_fail(e, STRATA_EINVAL, "%s does not match %s", key_path, crt_path);
        EVP_PKEY_free(*key);
        *key = NULL;
        goto fail;
    }
    return 0;
fail:
    X509_free(*cert);
    *cert = NULL;
    return rc;
}

/* ---------------------------------------------------------------- init and issue */

int strata_pki_init(const char *dir, struct strata_err *e)
{
    if (dir == NULL || *dir == '\0')
        return strata_err_set(e, STRATA_EINVAL, "pki init: no directory");
    char crt_path[STRATA_PKI_PATH_MAX], key_path[STRATA_PKI_PATH_MAX];
    int rc = strata_pki_path(dir, STRATA_PKI_CA_NAME, "crt", crt_path, sizeof(crt_path), e);
    if (rc == 0)
        rc = strata_pki_path(dir, STRATA_PKI_CA_NAME, "key", key_path, sizeof(key_path), e);
    if (rc == 0)
        rc = strata_mkdir_p(dir, PKI_DIR_MODE, e);
    if (rc != 0)
        return rc;
    /* Said here rather than left to strata_file_create: which file, and why it matters. */
    const char *paths[] = {key_path, crt_path};
    for (size_t i = 0; i < 2; i++) {
        struct strata_err fe = {0};
        rc = strata_file_absent(paths[i], &fe);
        if (rc == STRATA_EEXIST)
            return strata_err_set(e, rc,
                                  "%s exists: refusing to replace the CA (the certificates it "
                                  "issued would stop working)",
                                  paths[i]);
        if (rc != 0)
            return strata_err_set(e, rc, "%s", fe.msg);
    }

    X509_NAME *name = pki_name(NULL, PKI_CA_CN);
    EVP_PKEY *key = EVP_EC_gen(PKI_CURVE);
    X509 *x =
        name != NULL && key != NULL ? pki_cert_new(name, NULL, key, STRATA_PKI_CA_DAYS) : NULL;
    if (x == NULL || !pki_add_exts(x, x, pki_ca_exts, sizeof(pki_ca_exts) / sizeof(*pki_ca_exts)) ||
        X509_sign(x, key, EVP_sha256()) <= 0)
        rc = pki_fail(e, STRATA_EINTERNAL, "pki init: cannot make the CA certificate");
    if (rc == 0)
        rc = pki_save_pair(key_path, key, crt_path, x, e);
    X509_free(x);
    EVP_PKEY_free(key);
    X509_NAME_free(name);
    return rc;
}

/* Everything the caller gave, before any file is touched. */
static int pki_issue_check(const struct strata_pki_issue_opts *o, struct strata_ip *ips,
                           struct strata_err *e)
{
    if (o->dir == NULL || *o->dir == '\0')
        return strata_err_set(e, STRATA_EINVAL, "pki issue: no directory");
    if (o->role == NULL || strata_role_parse(o->role) == STRATA_ROLE_NONE)
        return strata_err_set(e, STRATA_EINVAL,
                              "unknown role \"%.32s\": operator, directory, connectivity, agent "
                              "or gateway",
                              o->role != NULL ? o->role : "");
    int rc = strata_name_check(o->name, "certificate name", e);
    if (rc != 0)
        return rc;
    if (strcmp(o->name, STRATA_PKI_CA_NAME) == 0)
        return strata_err_set(e, STRATA_EINVAL,
                              "certificate name \"%s\" is the CA's own (ca.crt, ca.key)",
                              STRATA_PKI_CA_NAME);
    if (o->days > STRATA_PKI_DAYS_MAX)
        return strata_err_set(e, STRATA_EINVAL, "validity of %u days: at most %d", o->days,
                              STRATA_PKI_DAYS_MAX);
    if (o->nips > STRATA_PKI_MAX_IPS)
        return strata_err_set(e, STRATA_EINVAL, "%zu IP addresses: at most %d", o->nips,
                              STRATA_PKI_MAX_IPS);
    for (size_t i = 0; i < o->nips; i++) {
        rc = strata_ip_parse(o->ips[i], &ips[i], e);
        if (rc != 0)
            return rc;
        for (size_t k = 0; k < i; k++)
            if (strata_ip_equal(&ips[k], &ips[i]))
                return strata_err_set(e, STRATA_EINVAL, "IP address %.64s listed twice", o->ips[i]);
    }
    return 0;
}

/* The holder's key and certificate, signed by the CA, into the two (absent) files. */
static int pki_issue_signed(const struct strata_pki_issue_opts *o, const struct strata_ip *ips,
                            X509 *ca, EVP_PKEY *ca_key, const char *key_path, const char *crt_path,
                            struct strata_err *e)
{
    unsigned days = o->days != 0 ? o->days : STRATA_PKI_DAYS_DEFAULT;
    int rc = 0;
    X509_NAME *name = pki_name(o->role, o->name);
    EVP_PKEY *key = EVP_EC_gen(PKI_CURVE);
    X509 *x = name != NULL && key != NULL ? pki_cert_new(name, ca, key, days) : NULL;
    if (x == NULL ||
        !pki_add_exts(x, ca, pki_leaf_exts, sizeof(pki_leaf_exts) / sizeof(*pki_leaf_exts)) ||
        !pki_add_ips(x, ips, o->nips) || X509_sign(x, ca_key, EVP_sha256()) <= 0)
        rc = pki_fail(e, STRATA_EINTERNAL, "pki issue: cannot make the certificate of %s", o->name);
    if (rc == 0)
        rc = pki_save_pair(key_path, key, crt_path, x, e);
    X509_free(x);
    EVP_PKEY_free(key);
    X509_NAME_free(name);
    return rc;
}

int strata_pki_issue(const struct strata_pki_issue_opts *o, struct strata_err *e)
{
    struct strata_ip ips[STRATA_PKI_MAX_IPS];
    int rc = pki_issue_check(o, ips, e);
    char crt_path[STRATA_PKI_PATH_MAX], key_path[STRATA_PKI_PATH_MAX];
    if (rc == 0)
        rc = strata_pki_path(o->dir, o->name, "crt", crt_path, sizeof(crt_path), e);
    if (rc == 0)
        rc = strata_pki_path(o->dir, o->name, "key", key_path, sizeof(key_path), e);
    if (rc != 0)
        return rc;
    X509 *ca = NULL;
    EVP_PKEY *ca_key = NULL;
    rc = pki_load_ca(o->dir, &ca, &ca_key, e);
    if (rc == 0)
        rc = strata_file_absent(key_path, e);
    if (rc == 0)
        rc = strata_file_absent(crt_path, e);
    if (rc == 0)
        rc = pki_issue_signed(o, ips, ca, ca_key, key_path, crt_path, e);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return rc;
}
