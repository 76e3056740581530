/* test_pki.c - `strata pki` in-process: a CA and a certificate of every role, checked with
 * OpenSSL itself (chain verification, subject, extensions, SANs, key), the file modes whatever
 * the umask, the no-overwrite rule, refused inputs, and a foreign CA's certificate refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki.h"

struct fixture {
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/strata-pki-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    *state = f;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void path_of(char *buf, const char *dir, const char *file)
{
    if (snprintf(buf, STRATA_PKI_PATH_MAX, "%s/%s", dir, file) >= STRATA_PKI_PATH_MAX)
        fail_msg("path too long");
}

static X509 *load_cert(const char *dir, const char *file)
{
    char p[STRATA_PKI_PATH_MAX];
    path_of(p, dir, file);
    FILE *fp = fopen(p, "r");
    if (fp == NULL)
        fail_msg("cannot open %s", p);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    return x;
}

static EVP_PKEY *load_key(const char *dir, const char *file)
{
    char p[STRATA_PKI_PATH_MAX];
    path_of(p, dir, file);
    FILE *fp = fopen(p, "r");
    if (fp == NULL)
        fail_msg("cannot open %s", p);
    EVP_PKEY *k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(k);
    return k;
}

/* The whole file, NUL-terminated (caller frees); NULL if it cannot be read. */
static char *slurp(const char *dir, const char *file)
{
    char p[STRATA_PKI_PATH_MAX];
    path_of(p, dir, file);
    FILE *fp = fopen(p, "r");
    if (fp == NULL)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static unsigned mode_of(const char *dir, const char *file)
{
    char p[STRATA_PKI_PATH_MAX];
    path_of(p, dir, file);
    struct stat st;
    if (stat(p, &st) != 0)
        fail_msg("cannot stat %s", p);
    return st.st_mode & 07777;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* X509_verify_cert of `leaf` against a store holding only `ca`, for a TLS client and a TLS
 * server alike (the extendedKeyUsage allows both). */
static bool verifies(X509 *ca, X509 *leaf)
{
    bool ok = true;
    const int purposes[] = {X509_PURPOSE_SSL_CLIENT, X509_PURPOSE_SSL_SERVER};
    for (size_t i = 0; i < 2; i++) {
        X509_STORE *store = X509_STORE_new();
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        assert_int_equal(X509_STORE_add_cert(store, ca), 1);
        assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
        assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purposes[i]), 1);
        ok = ok && X509_verify_cert(ctx) == 1;
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
    }
    return ok;
}

static void assert_name_field(X509_NAME *n, int nid, const char *want)
{
    char buf[128];
    if (want == NULL) {
        assert_int_equal(X509_NAME_get_index_by_NID(n, nid, -1), -1);
        return;
    }
    assert_true(X509_NAME_get_text_by_NID(n, nid, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, want);
    /* exactly one of each */
    int i = X509_NAME_get_index_by_NID(n, nid, -1);
    assert_int_equal(X509_NAME_get_index_by_NID(n, nid, i), -1);
}

/* Days from now to t (negative: in the past), rounded towards zero. */
static int days_from_now(const ASN1_TIME *t, int *secs)
{
    int days = 0, s = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &s, NULL, t), 1);
    if (secs != NULL)
        *secs = s;
    return days;
}

static bool ext_critical(X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    assert_true(i >= 0);
    return X509_EXTENSION_get_critical(X509_get_ext(x, i)) == 1;
}

/* A v3 certificate signed with ECDSA-SHA256 over an EC P-256 key, with a positive serial of
 * at most 128 bits. */
static void assert_common(X509 *x, EVP_PKEY *key)
{
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
    assert_true(EVP_PKEY_is_a(key, "EC"));
    char group[64];
    size_t glen = 0;
    assert_int_equal(EVP_PKEY_get_group_name(key, group, sizeof(group), &glen), 1);
    assert_string_equal(group, "prime256v1");
    assert_int_equal(X509_check_private_key(x, key), 1);
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    assert_non_null(serial);
    assert_false(BN_is_negative(serial));
    assert_false(BN_is_zero(serial));
    assert_true(BN_num_bits(serial) <= 128);
    assert_true(BN_num_bits(serial) > 64); /* all but impossible for 128 random bits */
    BN_free(serial);
    int secs;
    int d = days_from_now(X509_get0_notBefore(x), &secs);
    assert_int_equal(d, 0);
    assert_true(secs <= -3590 && secs >= -3700); /* an hour ago, for skewed clocks */
}

static void test_ca(void **state)
{
    struct fixture *f = *state;
    char sub[STRATA_PKI_PATH_MAX];
    path_of(sub, f->dir, "a/b/pki");
    struct strata_err e = {0};
    assert_int_equal(strata_pki_init(sub, &e), 0);
    assert_int_equal(mode_of(f->dir, "a/b/pki"), 0700);
    assert_int_equal(mode_of(sub, "ca.key"), 0600);
    assert_int_equal(mode_of(sub, "ca.crt"), 0644);
    assert_int_equal(count_entries(sub), 2); /* no temporary file left */

    char *pem = slurp(sub, "ca.key");
    assert_non_null(pem);
    assert_true(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
    free(pem);

    X509 *ca = load_cert(sub, "ca.crt");
    EVP_PKEY *key = load_key(sub, "ca.key");
    assert_common(ca, key);
    X509_NAME *n = X509_get_subject_name(ca);
    assert_name_field(n, NID_organizationName, "Strata");
    assert_name_field(n, NID_organizationalUnitName, NULL);
    assert_name_field(n, NID_commonName, "Strata CA");
    assert_int_equal(X509_NAME_cmp(n, X509_get_issuer_name(ca)), 0);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_true(ext_critical(ca, NID_basic_constraints));
    assert_true(ext_critical(ca, NID_key_usage));
    assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_non_null(X509_get0_subject_key_id(ca));
    int d = days_from_now(X509_get0_notAfter(ca), NULL);
    assert_true(d >= 3649 && d <= 3650);
    assert_int_equal(X509_verify(ca, key), 1); /* self-signed */
    X509_free(ca);
    EVP_PKEY_free(key);
}

static const char *const roles[] = {"operator", "directory", "connectivity", "agent", "gateway"};
/* What each role is issued under: a node id, a csd id, a host name, a gateway id. */
static const char *const names[] = {"alice", "1", "cs-a", "h1.pod-a", "gw1"};

static void test_every_role(void **state)
{
    struct fixture *f = *state;
    struct strata_err e = {0};
    assert_int_equal(strata_pki_init(f->dir, &e), 0);
    X509 *ca = load_cert(f->dir, "ca.crt");
    for (size_t i = 0; i < 5; i++) {
        struct strata_pki_issue_opts o = {.dir = f->dir, .role = roles[i], .name = names[i]};
        if (strata_pki_issue(&o, &e) != 0)
            fail_msg("issue %s %s: %s", roles[i], names[i], e.msg);
        char crt[80], keyf[80];
        snprintf(crt, sizeof(crt), "%s.crt", names[i]);
        snprintf(keyf, sizeof(keyf), "%s.key", names[i]);
        assert_int_equal(mode_of(f->dir, keyf), 0600);
        assert_int_equal(mode_of(f->dir, crt), 0644);
        char *pem = slurp(f->dir, keyf);
        assert_true(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
        free(pem);

        X509 *x = load_cert(f->dir, crt);
        EVP_PKEY *key = load_key(f->dir, keyf);
        assert_common(x, key);
        assert_true(verifies(ca, x));
        X509_NAME *n = X509_get_subject_name(x);
        assert_name_field(n, NID_organizationName, "Strata");
        assert_name_field(n, NID_organizationalUnitName, roles[i]);
        assert_name_field(n, NID_commonName, names[i]);
        assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)), 0);
        assert_int_equal(X509_check_ca(x), 0);
        assert_true(ext_critical(x, NID_basic_constraints));
        assert_true(ext_critical(x, NID_key_usage));
        assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
        assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER | XKU_SSL_CLIENT);
        assert_non_null(X509_get0_subject_key_id(x));
        assert_int_equal(
            ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x), X509_get0_subject_key_id(ca)), 0);
        assert_int_equal(X509_get_ext_by_NID(x, NID_subject_alt_name, -1), -1); /* no --ip */
        int d = days_from_now(X509_get0_notAfter(x), NULL);
        assert_true(d >= 824 && d <= 825);
        X509_free(x);
        EVP_PKEY_free(key);
    }
    assert_int_equal(count_entries(f->dir), 12);
    X509_free(ca);
}

static void test_ip_sans(void **state)
{
    struct fixture *f = *state;
    struct strata_err e = {0};
    assert_int_equal(strata_pki_init(f->dir, &e), 0);
    const char *ips[] = {"192.0.2.11", "fd00::1:7"};
    struct strata_pki_issue_opts o = {
        .dir = f->dir, .role = "directory", .name = "2", .ips = ips, .nips = 2, .days = 30};
    if (strata_pki_issue(&o, &e) != 0)
        fail_msg("issue: %s", e.msg);
    X509 *ca = load_cert(f->dir, "ca.crt");
    X509 *x = load_cert(f->dir, "2.crt");
    assert_true(verifies(ca, x));
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 2); /* only the IPs: no DNS name */
    static const unsigned char v4[] = {192, 0, 2, 11};
    static const unsigned char v6[16] = {0xfd, 0, [13] = 1, [15] = 7};
    const unsigned char *want[] = {v4, v6};
    const int wlen[] = {4, 16};
    for (int i = 0; i < 2; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        assert_int_equal(g->type, GEN_IPADD);
        assert_int_equal(ASN1_STRING_length(g->d.iPAddress), wlen[i]);
        assert_memory_equal(ASN1_STRING_get0_data(g->d.iPAddress), want[i], wlen[i]);
    }
    GENERAL_NAMES_free(gens);
    assert_int_equal(X509_check_ip_asc(x, "192.0.2.11", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "fd00::1:7", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "192.0.2.12", 0), 0);
    assert_false(ext_critical(x, NID_subject_alt_name));
    int d = days_from_now(X509_get0_notAfter(x), NULL);
    assert_true(d >= 29 && d <= 30);
    X509_free(x);
    X509_free(ca);
}

/* Keys are 0600 and certificates 0644 even when the caller's umask would allow anything. */
static void test_modes_whatever_the_umask(void **state)
{
    struct fixture *f = *state;
    struct strata_err e = {0};
    mode_t old = umask(0);
    int rc = strata_pki_init(f->dir, &e);
    struct strata_pki_issue_opts o = {.dir = f->dir, .role = "agent", .name = "h1"};
    if (rc == 0)
        rc = strata_pki_issue(&o, &e);
    umask(old);
    assert_int_equal(rc, 0);
    assert_int_equal(mode_of(f->dir, "ca.key"), 0600);
    assert_int_equal(mode_of(f->dir, "h1.key"), 0600);
    assert_int_equal(mode_of(f->dir, "ca.crt"), 0644);
    assert_int_equal(mode_of(f->dir, "h1.crt"), 0644);
}

static void test_never_overwrites(void **state)
{
    struct fixture *f = *state;
    struct strata_err e = {0};
    assert_int_equal(strata_pki_init(f->dir, &e), 0);
    char *ca_crt = slurp(f->dir, "ca.crt"), *ca_key = slurp(f->dir, "ca.key");
    assert_int_equal(strata_pki_init(f->dir, &e), STRATA_EEXIST);
    assert_non_null(strstr(e.msg, "ca.key"));
    char *crt2 = slurp(f->dir, "ca.crt"), *key2 = slurp(f->dir, "ca.key");
    assert_string_equal(ca_crt, crt2);
    assert_string_equal(ca_key, key2);
    free(crt2);
    free(key2);
    assert_int_equal(count_entries(f->dir), 2);

    struct strata_pki_issue_opts o = {.dir = f->dir, .role = "gateway", .name = "gw1"};
    assert_int_equal(strata_pki_issue(&o, &e), 0);
    char *crt = slurp(f->dir, "gw1.crt"), *key = slurp(f->dir, "gw1.key");
    o.role = "agent"; /* another role, the same name: still the same files */
    assert_int_equal(strata_pki_issue(&o, &e), STRATA_EEXIST);
    assert_non_null(strstr(e.msg, "gw1.key"));
    crt2 = slurp(f->dir, "gw1.crt");
    key2 = slurp(f->dir, "gw1.key");
    assert_string_equal(crt, crt2);
    assert_string_equal(key, key2);
    free(crt2);
    free(key2);

    /* Either file alone is enough to refuse, and nothing is written beside it. */
    char p[STRATA_PKI_PATH_MAX];
    path_of(p, f->dir, "gw1.key");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(strata_pki_issue(&o, &e), STRATA_EEXIST);
    assert_non_null(strstr(e.msg, "gw1.crt"));
    assert_int_equal(count_entries(f->dir), 3);
    path_of(p, f->dir, "ca.key");
    /* The CA certificate alone refuses init too. */
    char moved[STRATA_PKI_PATH_MAX];
    path_of(moved, f->dir, "ca.key.bak");
    assert_int_equal(rename(p, moved), 0);
    assert_int_equal(strata_pki_init(f->dir, &e), STRATA_EEXIST);
    assert_non_null(strstr(e.msg, "ca.crt"));
    char *crt3 = slurp(f->dir, "ca.crt");
    assert_string_equal(ca_crt, crt3);
    assert_null(slurp(f->dir, "ca.key"));
    free(crt3);
    free(ca_crt);
    free(ca_key);
    free(crt);
    free(key);
}

static void test_bad_input(void **state)
{
    struct fixture *f = *state;
    struct strata_err e = {0};
    assert_int_equal(strata_pki_init(f->dir, &e), 0);
    char long_name[71];
    memset(long_name, 'a', 70);
    long_name[70] = '\0';
    const char *bad_ip[] = {"10.0.0.300"};
    const char *scoped[] = {"fe80::1%eth0"};
    const char *twice[] = {"10.0.0.1", "10.0.0.1"};
    const char *empty_ip[] = {""};
    const struct {
        const char *role, *name;
        const char *const *ips;
        size_t nips;
        unsigned days;
        const char *msg;
    } cases[] = {
        {"admin", "x", NULL, 0, 0, "unknown role \"admin\""},
        {"Agent", "x", NULL, 0, 0, "unknown role"},
        {"", "x", NULL, 0, 0, "unknown role"},
        {NULL, "x", NULL, 0, 0, "unknown role"},
        {"agent", "a/b", NULL, 0, 0, "certificate name \"a/b\""},
        {"agent", "", NULL, 0, 0, "certificate name: empty"},
        {"agent", NULL, NULL, 0, 0, "certificate name: empty"},
        {"agent", long_name, NULL, 0, 0, "longer than 63"},
        {"agent", "..", NULL, 0, 0, NULL},
        {"agent", "ca", NULL, 0, 0, "the CA's own"},
        {"agent", "x", bad_ip, 1, 0, "10.0.0.300"},
        {"agent", "x", scoped, 1, 0, "fe80::1%eth0"},
        {"agent", "x", twice, 2, 0, "10.0.0.1 listed twice"},
        {"agent", "x", empty_ip, 1, 0, "empty IP"},
        {"agent", "x", NULL, 0, 3651, "at most 3650"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct strata_pki_issue_opts o = {.dir = f->dir,
                                          .role = cases[i].role,
                                          .name = cases[i].name,
                                          .ips = cases[i].ips,
                                          .nips = cases[i].nips,
                                          .days = cases[i].days};
        strata_err_clear(&e);
        int rc = strata_pki_issue(&o, &e);
        if (cases[i].msg == NULL) { /* ".." is a legal name; it only must not escape DIR */
            assert_int_equal(rc, 0);
            continue;
        }
        if (rc != STRATA_EINVAL || strstr(e.msg, cases[i].msg) == NULL)
            fail_msg("case %zu: rc %d \"%s\", want EINVAL ~ \"%s\"", i, rc, e.msg, cases[i].msg);
    }
    /* ca.crt, ca.key and the two files of ".." ("...crt", "...key") inside DIR. */
    assert_int_equal(count_entries(f->dir), 4);
    assert_int_equal(mode_of(f->dir, "...key"), 0600);

    struct strata_pki_issue_opts none = {.dir = "", .role = "agent", .name = "x"};
    assert_int_equal(strata_pki_issue(&none, &e), STRATA_EINVAL);
    assert_int_equal(strata_pki_init("", &e), STRATA_EINVAL);
}

static void copy_file(const char *from_dir, const char *to_dir, const char *file)
{
    char *data = slurp(from_dir, file);
    assert_non_null(data);
    char p[STRATA_PKI_PATH_MAX];
    path_of(p, to_dir, file);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(data, fp);
    fclose(fp);
    free(data);
}

static void test_foreign_ca(void **state)
{
    struct fixture *f = *state;
    struct strata_err e = {0};
    char other[STRATA_PKI_PATH_MAX], mixed[STRATA_PKI_PATH_MAX], empty[STRATA_PKI_PATH_MAX];
    path_of(other, f->dir, "other");
    path_of(mixed, f->dir, "mixed");
    path_of(empty, f->dir, "empty");
    assert_int_equal(strata_pki_init(f->dir, &e), 0);
    assert_int_equal(strata_pki_init(other, &e), 0);
    struct strata_pki_issue_opts o = {.dir = other, .role = "directory", .name = "1"};
    assert_int_equal(strata_pki_issue(&o, &e), 0);

    X509 *ca = load_cert(f->dir, "ca.crt");
    X509 *other_ca = load_cert(other, "ca.crt");
    X509 *x = load_cert(other, "1.crt");
    assert_true(verifies(other_ca, x));
    assert_false(verifies(ca, x)); /* same subject names, another key */
    assert_false(verifies(ca, other_ca));
    X509_free(x);
    X509_free(other_ca);
    X509_free(ca);

    /* No CA there: ENOTFOUND saying what to run. */
    assert_int_equal(mkdir(empty, 0700), 0);
    o.dir = empty;
    assert_int_equal(strata_pki_issue(&o, &e), STRATA_ENOTFOUND);
    assert_non_null(strstr(e.msg, "strata pki init"));

    /* One CA's certificate with another's key: refused before anything is written. */
    assert_int_equal(mkdir(mixed, 0700), 0);
    copy_file(f->dir, mixed, "ca.crt");
    copy_file(other, mixed, "ca.key");
    o.dir = mixed;
    assert_int_equal(strata_pki_issue(&o, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "does not match"));
    assert_int_equal(count_entries(mixed), 2);

    /* A leaf is no CA. */
    char leaf_ca[STRATA_PKI_PATH_MAX];
    path_of(leaf_ca, f->dir, "leafca");
    assert_int_equal(mkdir(leaf_ca, 0700), 0);
    o.dir = other;
    o.name = "2";
    assert_int_equal(strata_pki_issue(&o, &e), 0);
    char *crt = slurp(other, "2.crt"), *key = slurp(other, "2.key");
    char p[STRATA_PKI_PATH_MAX];
    path_of(p, leaf_ca, "ca.crt");
    FILE *fp = fopen(p, "w");
    fputs(crt, fp);
    fclose(fp);
    path_of(p, leaf_ca, "ca.key");
    fp = fopen(p, "w");
    fputs(key, fp);
    fclose(fp);
    free(crt);
    free(key);
    o.dir = leaf_ca;
    o.name = "3";
    assert_int_equal(strata_pki_issue(&o, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "not a CA"));

    /* An encrypted CA key is refused, not prompted for. */
    char enc[STRATA_PKI_PATH_MAX];
    path_of(enc, f->dir, "enc");
    assert_int_equal(mkdir(enc, 0700), 0);
    copy_file(f->dir, enc, "ca.crt");
    EVP_PKEY *ca_key = load_key(f->dir, "ca.key");
    path_of(p, enc, "ca.key");
    fp = fopen(p, "w");
    assert_int_equal(
        PEM_write_PKCS8PrivateKey(fp, ca_key, EVP_aes_256_cbc(), "secret", 6, NULL, NULL), 1);
    fclose(fp);
    EVP_PKEY_free(ca_key);
    o.dir = enc;
    assert_int_equal(strata_pki_issue(&o, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "not an unencrypted PEM private key"));
    assert_int_equal(count_entries(enc), 2);

    /* Garbage where the CA certificate should be. */
    path_of(p, mixed, "ca.crt");
    fp = fopen(p, "w");
    fputs("not a certificate\n", fp);
    fclose(fp);
    o.dir = mixed;
    assert_int_equal(strata_pki_issue(&o, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "not a PEM certificate"));
}

/* Two certificates never share a serial (128 random bits each). */
static void test_serials_differ(void **state)
{
    struct fixture *f = *state;
    struct strata_err e = {0};
    assert_int_equal(strata_pki_init(f->dir, &e), 0);
    struct strata_pki_issue_opts o = {.dir = f->dir, .role = "agent", .name = "h1"};
    assert_int_equal(strata_pki_issue(&o, &e), 0);
    o.name = "h2";
    assert_int_equal(strata_pki_issue(&o, &e), 0);
    X509 *a = load_cert(f->dir, "h1.crt"), *b = load_cert(f->dir, "h2.crt");
    X509 *ca = load_cert(f->dir, "ca.crt");
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a), X509_get0_serialNumber(b)), 0);
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a), X509_get0_serialNumber(ca)),
                         0);
    X509_free(a);
    X509_free(b);
    X509_free(ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ip_sans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modes_whatever_the_umask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serials_differ, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
