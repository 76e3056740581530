/* test_tls.c - lib/tls.c: contexts from files, sessions pumped through memory, and who the peer
 * is: its role and name, refused when the CA, the role, the address or the name is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above */
#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pki.h"
#include "tls.h"

static char dir[256], other[300];

static void issue(const char *d, const char *role, const char *name, const char *ip)
{
    struct strata_err e;
    const char *ips[1] = {ip};
    struct strata_pki_issue_opts o = {
        .dir = d, .role = role, .name = name, .ips = ips, .nips = ip != NULL};
    if (strata_pki_issue(&o, &e) != 0)
        fail_msg("issue %s: %s", name, e.msg);
}

static struct strata_tls_files files(const char *d, const char *name)
{
    static char ca[8][512], crt[8][512], key[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(ca[k], sizeof(ca[k]), "%s/ca.crt", d);
    snprintf(crt[k], sizeof(crt[k]), "%s/%s.crt", d, name);
    snprintf(key[k], sizeof(key[k]), "%s/%s.key", d, name);
    return (struct strata_tls_files){ca[k], crt[k], key[k]};
}

static struct strata_tls *ctx(const char *d, const char *name)
{
    struct strata_tls_files f = files(d, name);
    struct strata_tls *t;
    struct strata_err e;
    if (strata_tls_open(&f, &t, &e) != 0)
        fail_msg("open %s: %s", name, e.msg);
    return t;
}

static int setup(void **state)
{
    (void)state;
    struct strata_err e;
    snprintf(dir, sizeof(dir), "/tmp/strata-test-tls-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(other, sizeof(other), "%s/other", dir);
    char ca[300];
    snprintf(ca, sizeof(ca), "%s/ca", dir);
    if (strata_pki_init(ca, &e) != 0 || strata_pki_init(other, &e) != 0)
        return -1;
    memmove(dir + strlen(dir), "/ca", 4); /* dir is now the CA's */
    issue(dir, "directory", "1", "127.0.0.1");
    issue(dir, "operator", "admin", NULL);
    issue(dir, "agent", "h1", NULL);
    issue(other, "operator", "admin", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(dir) - 3), dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Move every byte waiting each way until neither side has more: the handshake, then data.
 * Returns the first error (negative), or 0. Plaintext received goes to sbuf/cbuf. */
static int pump(struct strata_tls_conn *c, struct strata_tls_conn *s, char *cbuf, char *sbuf,
                struct strata_err *ce, struct strata_err *se)
{
    size_t cl = 0, sl = 0;
    for (int round = 0; round < 20; round++) {
        ssize_t n;
        while ((n = strata_tls_conn_read(s, sbuf + sl, 256 - sl, se)) > 0)
            sl += (size_t)n;
        if (n < 0)
            return (int)n;
        while ((n = strata_tls_conn_read(c, cbuf + cl, 256 - cl, ce)) > 0)
            cl += (size_t)n;
        if (n < 0)
            return (int)n;
        size_t len;
        uint8_t *b = strata_tls_conn_output(c, &len);
        bool moved = b != NULL;
        if (b != NULL)
            strata_tls_conn_input(s, b, len);
        free(b);
        b = strata_tls_conn_output(s, &len);
        moved |= b != NULL;
        if (b != NULL)
            strata_tls_conn_input(c, b, len);
        free(b);
        if (!moved && round > 0)
            break;
    }
    cbuf[cl] = sbuf[sl] = '\0';
    return 0;
}

/* A session between client `cn` of `cd` and server "1", the client dialling `host`; the server
 * accepting `roles`. Returns the pump's result; the server's peer in *peer when it got one. */
static int session(const char *cd, const char *cn, const char *host, unsigned roles,
                   struct strata_peer *peer, char *smsg)
{
    struct strata_tls *ct = ctx(cd, cn), *st = ctx(dir, "1");
    struct strata_tls_conn *c, *s;
    struct strata_err e, ce = {0}, se = {0};
    struct strata_tls_conn_opts co = {.roles = STRATA_ROLE_SERVERS, .host = host};
    struct strata_tls_conn_opts so = {.server = true, .roles = roles};
    assert_int_equal(strata_tls_conn_new(ct, &co, &c, &e), 0);
    assert_int_equal(strata_tls_conn_new(st, &so, &s, &e), 0);
    /* the client writes before the handshake is done: kept until it is */
    assert_int_equal(strata_tls_conn_write(c, "hello", 5, &e), 0);
    char cbuf[257], sbuf[257];
    int rc = pump(c, s, cbuf, sbuf, &ce, &se);
    if (rc == 0 && strata_tls_conn_ready(s)) {
        assert_string_equal(sbuf, "hello");
        assert_int_equal(strata_tls_conn_write(s, "world", 5, &e), 0);
        rc = pump(c, s, cbuf, sbuf, &ce, &se);
        if (rc == 0)
            assert_string_equal(cbuf, "world");
        *peer = *strata_tls_conn_peer(s);
        assert_int_equal(strata_tls_conn_peer(c)->role, STRATA_ROLE_DIRECTORY);
        assert_string_equal(strata_tls_conn_peer(c)->name, "1");
    }
    snprintf(smsg, 600, "%s|%s", se.msg, ce.msg);
    strata_tls_conn_free(c);
    strata_tls_conn_free(s);
    strata_tls_free(ct);
    strata_tls_free(st);
    return rc;
}

static void test_session_and_peer(void **state)
{
    (void)state;
    struct strata_peer p = {0};
    char msg[600];
    assert_int_equal(session(dir, "admin", "127.0.0.1", 0, &p, msg), 0);
    assert_int_equal(p.role, STRATA_ROLE_OPERATOR);
    assert_string_equal(p.name, "admin");
    assert_string_equal(strata_role_name(p.role), "operator");
    assert_int_equal(strata_role_parse("gateway"), STRATA_ROLE_GATEWAY);
    assert_int_equal(strata_role_parse("root"), STRATA_ROLE_NONE);
}

static void test_refusals(void **state)
{
    (void)state;
    struct strata_peer p;
    char msg[600];
    /* a role the server does not accept */
    assert_int_equal(session(dir, "h1", "127.0.0.1", STRATA_ROLE_DIRECTORY, &p, msg),
                     STRATA_EDENIED);
    assert_non_null(strstr(msg, "agent h1 may not connect here"));
    /* the server's certificate does not name the address dialled */
    assert_int_equal(session(dir, "admin", "127.0.0.2", 0, &p, msg), STRATA_EDENIED);
    assert_non_null(strstr(msg, "mismatch"));
    /* a client of another CA, trusting ours too (else it could not even start): refused */
    char bundle[700], cmd[2000];
    snprintf(bundle, sizeof(bundle), "%s/both.crt", other);
    snprintf(cmd, sizeof(cmd), "cat %s/ca.crt %s/ca.crt > %s", other, dir, bundle);
    assert_int_equal(system(cmd), 0);
    struct strata_tls_files f = files(other, "admin");
    f.ca = bundle;
    struct strata_tls *ct, *st = ctx(dir, "1");
    struct strata_err e, ce, se;
    assert_int_equal(strata_tls_open(&f, &ct, &e), 0);
    struct strata_tls_conn *c, *s;
    struct strata_tls_conn_opts co = {.host = "127.0.0.1"}, so = {.server = true};
    assert_int_equal(strata_tls_conn_new(ct, &co, &c, &e), 0);
    assert_int_equal(strata_tls_conn_new(st, &so, &s, &e), 0);
    char cb[257], sb[257];
    assert_int_equal(pump(c, s, cb, sb, &ce, &se), STRATA_EDENIED);
    assert_false(strata_tls_conn_ready(s));
    assert_null(strata_tls_conn_peer(s));
    strata_tls_conn_free(c);
    strata_tls_conn_free(s);
    strata_tls_free(ct);
    strata_tls_free(st);
}

/* A client that gets plaintext where the server's hello should be (an SP handshake: a tcp://
 * port dialled as tls+tcp://) is told so, not "wrong version number". */
static void test_plaintext_peer(void **state)
{
    (void)state;
    struct strata_tls *ct = ctx(dir, "admin");
    struct strata_tls_conn *c;
    struct strata_err e = {0};
    struct strata_tls_conn_opts co = {.host = "127.0.0.1"};
    assert_int_equal(strata_tls_conn_new(ct, &co, &c, &e), 0);
    static const unsigned char sp[8] = {0, 'S', 'P', 0, 0, 0x31, 0, 0};
    assert_int_equal(strata_tls_conn_input(c, sp, sizeof(sp)), 0);
    char buf[64];
    assert_true(strata_tls_conn_read(c, buf, sizeof(buf), &e) < 0);
    assert_string_equal(e.msg, "TLS: the peer does not speak TLS (a plaintext tcp:// port?)");
    strata_tls_conn_free(c);
    strata_tls_free(ct);
}

/* A certificate our CA signed whose CN is "operator\0junk": the name is refused, never read as
 * "operator". Made by hand: strata pki refuses such a name. */
static void test_nul_in_name(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/ca.key", dir);
    FILE *fp = fopen(path, "r");
    EVP_PKEY *cakey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    fp = fopen(path, "r");
    X509 *ca = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"Strata", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const unsigned char *)"operator", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", V_ASN1_UTF8STRING, (const unsigned char *)"operator\0junk",
                               13, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(ca));
    X509_set_pubkey(x, key);
    assert_true(X509_sign(x, cakey, EVP_sha256()) > 0);
    snprintf(path, sizeof(path), "%s/nul.crt", dir);
    fp = fopen(path, "w");
    PEM_write_X509(fp, x);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/nul.key", dir);
    fp = fopen(path, "w");
    PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
    fclose(fp);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(cakey);
    struct strata_tls_files f = files(dir, "nul");
    struct strata_tls *t = NULL;
    struct strata_err e;
    assert_int_equal(strata_tls_open(&f, &t, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "has a NUL"));
    assert_null(t);
}

static void test_files_and_flags(void **state)
{
    (void)state;
    struct strata_err e;
    struct strata_tls *t;
    /* a key that is not the certificate's */
    struct strata_tls_files f = files(dir, "admin");
    f.key = files(dir, "h1").key;
    assert_int_equal(strata_tls_open(&f, &t, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "is not the key of"));
    /* a certificate of another CA */
    f = files(other, "admin");
    f.ca = files(dir, "admin").ca;
    assert_int_equal(strata_tls_open(&f, &t, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "not valid under the CA"));
    /* a missing file is named */
    f = files(dir, "nobody");
    assert_int_equal(strata_tls_open(&f, &t, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "nobody.crt"));
    /* flags: none is plaintext, some is an error naming the missing one */
    struct strata_tls_files none = {0}, some = {.ca = "x", .cert = "y"};
    assert_int_equal(strata_tls_from_flags(&none, "test", &t, &e), 0);
    assert_null(t);
    assert_int_equal(strata_tls_from_flags(&some, "test", &t, &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "--tls-key is missing"));
    /* a daemon's certificate must be its own */
    f = files(dir, "h1");
    assert_int_equal(strata_tls_daemon(&f, "strata-agentd", STRATA_ROLE_AGENT, "h2", &t, &e),
                     STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "--role agent --id h2"));
    assert_int_equal(strata_tls_daemon(&f, "strata-agentd", STRATA_ROLE_AGENT, "h1", &t, &e), 0);
    assert_ptr_equal(strata_tls_default(), t);
    /* URLs follow the setting: never plaintext with TLS on, never tls+tcp:// without it */
    assert_int_equal(strata_tls_url_check(t, "tcp://127.0.0.1:1", "--cs", &e), STRATA_EINVAL);
    assert_non_null(strstr(e.msg, "use tls+tcp://127.0.0.1:1"));
    assert_int_equal(strata_tls_urls_check(t, "tls+tcp://a:1,ipc:///x,tcp://b:2", "--cs", &e),
                     STRATA_EINVAL);
    assert_int_equal(strata_tls_urls_check(t, "tls+tcp://a:1,ipc:///x", "--cs", &e), 0);
    assert_int_equal(strata_tls_url_check(NULL, "tls+tcp://a:1", "--cs", &e), STRATA_EINVAL);
    strata_tls_set_default(NULL);
    strata_tls_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_and_peer), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_plaintext_peer),   cmocka_unit_test(test_nul_in_name),
        cmocka_unit_test(test_files_and_flags),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
