/* tls.c - TLS contexts and memory-buffer sessions over OpenSSL (see tls.h). A session reads
 * ciphertext from one memory BIO and writes it to another; the transport moves the bytes. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"

struct strata_tls {
    SSL_CTX *ctx;
    struct strata_peer self;
};

struct strata_tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    unsigned roles;
    bool server, ready, failed;
    bool role_refused; /* peer holds a verified certificate of a role not accepted */
    struct strata_peer peer;
    uint8_t *early; /* plaintext written before the handshake finished */
    size_t early_len;
};

static const char *const role_names[] = {"operator", "directory", "connectivity", "agent",
                                         "gateway"};

const char *strata_role_name(enum strata_role r)
{
    for (unsigned i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
        if (r == (enum strata_role)(1u << i))
            return role_names[i];
    return "none";
}

enum strata_role strata_role_parse(const char *s)
{
    for (unsigned i = 0; s != NULL && i < sizeof(role_names) / sizeof(role_names[0]); i++)
        if (strcmp(s, role_names[i]) == 0)
            return (enum strata_role)(1u << i);
    return STRATA_ROLE_NONE;
}

/* The OpenSSL error queue's oldest entry as text (and the queue emptied), or `dflt`. */
static const char *ssl_errstr(char *buf, size_t len, const char *dflt)
{
    unsigned long err = ERR_get_error();
    ERR_clear_error();
    if (err == 0)
        return dflt;
    ERR_error_string_n(err, buf, len);
    return buf;
}

/* The one entry `nid` of a subject name, copied into out (cap bytes with its NUL). */
static int subject_field(X509_NAME *n, int nid, const char *what, char *out, size_t cap,
                         struct strata_err *e)
{
    int i = X509_NAME_get_index_by_NID(n, nid, -1);
    if (i < 0)
        return strata_err_set(e, STRATA_EDENIED, "certificate has no %s", what);
    if (X509_NAME_get_index_by_NID(n, nid, i) >= 0)
        return strata_err_set(e, STRATA_EDENIED, "certificate has more than one %s", what);
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
    int len = ASN1_STRING_length(s);
    const unsigned char *d = ASN1_STRING_get0_data(s);
    /* a NUL inside would make "operator\0junk" read as "operator" */
    if (len <= 0 || (size_t)len >= cap || memchr(d, 0, (size_t)len) != NULL)
        return strata_err_set(e, STRATA_EDENIED, "certificate's %s is empty, too long or has a NUL",
                              what);
    memcpy(out, d, (size_t)len);
    out[len] = '\0';
    return 0;
}

/* What a certificate (already verified against the CA) says its holder is. */
static int peer_from_cert(X509 *x, struct strata_peer *p, struct strata_err *e)
{
    memset(p, 0, sizeof(*p));
    X509_NAME *n = X509_get_subject_name(x);
    char role[32];
    int rc =
        subject_field(n, NID_organizationalUnitName, "role (subject OU)", role, sizeof(role), e);
    if (rc == 0)
        rc = subject_field(n, NID_commonName, "name (subject CN)", p->name, sizeof(p->name), e);
    if (rc != 0)
        return rc;
    p->role = strata_role_parse(role);
    if (p->role == STRATA_ROLE_NONE)
        return strata_err_set(e, STRATA_EDENIED, "certificate's role '%s' is not a Strata role",
                              role);
    struct strata_err ne;
    if (strata_name_check(p->name, "name", &ne) != 0)
        return strata_err_set(e, STRATA_EDENIED, "certificate's name: %s", ne.msg);
    return 0;
}

/* Whether the context's own certificate chains to its CA (a typo in --tls-ca otherwise shows
 * only as every peer refusing us). */
static int tls_check_own(SSL_CTX *ctx, X509 *own, struct strata_err *e)
{
    X509_STORE_CTX *sc = X509_STORE_CTX_new();
    if (sc == NULL || X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(ctx), own, NULL) != 1) {
        X509_STORE_CTX_free(sc);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    int ok = X509_verify_cert(sc);
    int err = X509_STORE_CTX_get_error(sc);
    X509_STORE_CTX_free(sc);
    ERR_clear_error();
    if (ok != 1)
        return strata_err_set(e, STRATA_EINVAL, "not valid under the CA: %s",
                              X509_verify_cert_error_string(err));
    return 0;
}

int strata_tls_open(const struct strata_tls_files *f, struct strata_tls **out, struct strata_err *e)
{
    *out = NULL;
    char eb[256];
    struct strata_tls *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    ERR_clear_error();
    int rc = 0;
    t->ctx = SSL_CTX_new(TLS_method());
    if (t->ctx == NULL) {
        rc = strata_err_set(e, STRATA_ENOMEM, "TLS context: %s", ssl_errstr(eb, sizeof(eb), "?"));
        goto fail;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION);
    /* idle connections keep no record buffers; no session tickets (clients never resume) */
    SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_num_tickets(t->ctx, 0);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    if (SSL_CTX_load_verify_locations(t->ctx, f->ca, NULL) != 1) {
        rc = strata_err_set(e, STRATA_EINVAL, "--tls-ca %s: %s", f->ca,
                            ssl_errstr(eb, sizeof(eb), "cannot read a CA certificate"));
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(t->ctx, f->cert) != 1) {
        rc = strata_err_set(e, STRATA_EINVAL, "--tls-cert %s: %s", f->cert,
                            ssl_errstr(eb, sizeof(eb), "cannot read a certificate"));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(t->ctx, f->key, SSL_FILETYPE_PEM) != 1 &&
        ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
        rc = strata_err_set(e, STRATA_EINVAL, "--tls-key %s: %s", f->key,
                            ssl_errstr(eb, sizeof(eb), "cannot read a private key"));
        goto fail;
    }
    if (SSL_CTX_check_private_key(t->ctx) != 1) {
        ERR_clear_error();
        rc = strata_err_set(e, STRATA_EINVAL, "--tls-key %s is not the key of --tls-cert %s",
                            f->key, f->cert);
        goto fail;
    }
    X509 *own = SSL_CTX_get0_certificate(t->ctx);
    struct strata_err ce;
    if (tls_check_own(t->ctx, own, &ce) != 0 || peer_from_cert(own, &t->self, &ce) != 0) {
        rc = strata_err_set(e, STRATA_EINVAL, "--tls-cert %s: %s", f->cert, ce.msg);
        goto fail;
    }
    *out = t;
    return 0;
fail:
    strata_tls_free(t);
    return rc;
}

void strata_tls_free(struct strata_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

const struct strata_peer *strata_tls_self(const struct strata_tls *t)
{
    return &t->self;
}

int strata_tls_from_flags(const struct strata_tls_files *f, const char *who,
                          struct strata_tls **out, struct strata_err *e)
{
    static atomic_bool warned;
    *out = NULL;
    int set = (f->ca != NULL) + (f->cert != NULL) + (f->key != NULL);
    if (set == 0) {
        if (!atomic_exchange(&warned, true))
            LOG_WARN("%s runs in plaintext: without --tls-ca, --tls-cert and --tls-key anyone "
                     "who reaches its ports is believed (docs/security.md)",
                     who);
        return 0;
    }
    if (set < 3)
        return strata_err_set(e, STRATA_EINVAL,
                              "TLS needs all of --tls-ca, --tls-cert and "
                              "--tls-key (--%s is missing)",
                              f->ca == NULL     ? "tls-ca"
                              : f->cert == NULL ? "tls-cert"
                                                : "tls-key");
    return strata_tls_open(f, out, e);
}

int strata_tls_daemon(const struct strata_tls_files *f, const char *who, enum strata_role role,
                      const char *name, struct strata_tls **out, struct strata_err *e)
{
    int rc = strata_tls_from_flags(f, who, out, e);
    if (rc != 0 || *out == NULL) {
        strata_tls_set_default(NULL);
        return rc;
    }
    const struct strata_peer *me = &(*out)->self;
    if (me->role != role || (name != NULL && strcmp(me->name, name) != 0)) {
        rc = strata_err_set(e, STRATA_EINVAL,
                            "--tls-cert is %s %s's: %s needs a %s certificate named %s (strata "
                            "pki issue --role %s --id %s)",
                            strata_role_name(me->role), me->name, who, strata_role_name(role),
                            name != NULL ? name : "as it is known", strata_role_name(role),
                            name != NULL ? name : "NAME");
        strata_tls_free(*out);
        *out = NULL;
        return rc;
    }
    strata_tls_set_default(*out);
    return 0;
}

static struct strata_tls *tls_default;

void strata_tls_set_default(struct strata_tls *t)
{
    tls_default = t;
}

struct strata_tls *strata_tls_default(void)
{
    return tls_default;
}

bool strata_tls_url(const char *url)
{
    return url != NULL && strncmp(url, "tls+tcp://", 10) == 0;
}

int strata_tls_url_check(const struct strata_tls *t, const char *url, const char *what,
                         struct strata_err *e)
{
    int rc = url != NULL ? strata_url_check(url, what, e) : 0;
    if (rc != 0)
        return rc;
    if (t == NULL && strata_tls_url(url))
        return strata_err_set(e, STRATA_EINVAL,
                              "%s %s: tls+tcp:// needs --tls-ca, --tls-cert and --tls-key", what,
                              url);
    if (t != NULL && url != NULL && strncmp(url, "tcp://", 6) == 0)
        return strata_err_set(e, STRATA_EINVAL,
                              "%s %s: TLS is on, so use tls+tcp://%s (never plaintext)", what, url,
                              url + 6);
    return 0;
}

int strata_tls_urls_check(const struct strata_tls *t, const char *urls, const char *what,
                          struct strata_err *e)
{
    char one[512];
    int rc = strata_urls_check(urls, what, e);
    if (rc != 0)
        return rc;
    for (const char *p = urls; p != NULL && *p != '\0';) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, ",");
        size_t len = n;
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        snprintf(one, sizeof(one), "%.*s", (int)(len < sizeof(one) ? len : sizeof(one) - 1), p);
        if (len > 0 && (rc = strata_tls_url_check(t, one, what, e)) != 0)
            return rc;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ------------------------------------------------------------------ sessions */

int strata_tls_conn_new(struct strata_tls *t, const struct strata_tls_conn_opts *o,
                        struct strata_tls_conn **out, struct strata_err *e)
{
    *out = NULL;
    struct strata_tls_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    ERR_clear_error();
    c->ssl = SSL_new(t->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        SSL_free(c->ssl);
        free(c);
        ERR_clear_error();
        return strata_err_set(e, STRATA_ENOMEM, "out of memory for a TLS session");
    }
    BIO_set_mem_eof_return(c->rbio, -1); /* empty means "more to come", not end of stream */
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    c->server = o->server;
    c->roles = o->roles != 0 ? o->roles : STRATA_ROLE_ANY;
    if (o->server) {
        SSL_set_accept_state(c->ssl);
    } else {
        SSL_set_connect_state(c->ssl);
        if (o->host != NULL && o->host[0] != '\0') {
            /* the certificate must name what we dialed: an IP SAN, or a DNS name */
            X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
            int ok = X509_VERIFY_PARAM_set1_ip_asc(vp, o->host) == 1;
            if (!ok) {
                ERR_clear_error();
                ok = SSL_set1_host(c->ssl, o->host) == 1;
            }
            if (!ok) {
                strata_tls_conn_free(c);
                ERR_clear_error();
                return strata_err_set(e, STRATA_EINVAL, "TLS: bad host '%.64s'", o->host);
            }
        }
    }
    *out = c;
    return 0;
}

void strata_tls_conn_free(struct strata_tls_conn *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl); /* frees both BIOs */
    free(c->early);
    free(c);
}

int strata_tls_conn_input(struct strata_tls_conn *c, const void *buf, size_t len)
{
    if (len > 0 && BIO_write(c->rbio, buf, (int)len) != (int)len) {
        ERR_clear_error();
        return STRATA_ENOMEM;
    }
    return 0;
}

/* The error of the last SSL call that failed with `r`, as a Strata code and message; 0 when it
 * only needs more input. */
static int conn_fail(struct strata_tls_conn *c, int r, struct strata_err *e)
{
    char eb[256];
    int se = SSL_get_error(c->ssl, r);
    if (se == SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        return 0;
    }
    c->failed = true;
    if (se == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        return strata_err_set(e, STRATA_EUNAVAIL, "TLS: the peer closed the session");
    }
    long vr = SSL_get_verify_result(c->ssl);
    if (!c->ready && vr != X509_V_OK) {
        ERR_clear_error();
        return strata_err_set(e, STRATA_EDENIED, "TLS: the peer's certificate: %s",
                              X509_verify_cert_error_string(vr));
    }
    /* Bytes that are not TLS records at all before the handshake: a plaintext peer (a tcp://
     * port dialled as tls+tcp://, or the other way round). OpenSSL says "wrong version number". */
    unsigned long first = ERR_peek_error();
    if (!c->ready && ERR_GET_LIB(first) == ERR_LIB_SSL &&
        (ERR_GET_REASON(first) == SSL_R_WRONG_VERSION_NUMBER ||
         ERR_GET_REASON(first) == SSL_R_PACKET_LENGTH_TOO_LONG ||
         ERR_GET_REASON(first) == SSL_R_HTTP_REQUEST)) {
        ERR_clear_error();
        return strata_err_set(e, STRATA_EPROTO,
                              "TLS: the peer does not speak TLS (a plaintext tcp:// port?)");
    }
    /* an alert from the peer (it refused our certificate), or a broken stream */
    const char *why = ssl_errstr(eb, sizeof(eb), "broken stream");
    bool alert = strstr(why, "alert") != NULL;
    return strata_err_set(e, alert ? STRATA_EDENIED : STRATA_EPROTO, "TLS: %s%s",
                          alert ? "refused by the peer: " : "", why);
}

/* The handshake is done: the peer's certificate verified against the CA; now its role. */
static int conn_accept_peer(struct strata_tls_conn *c, struct strata_err *e)
{
    X509 *x = SSL_get0_peer_certificate(c->ssl);
    struct strata_err pe;
    c->failed = true;
    if (x == NULL)
        return strata_err_set(e, STRATA_EDENIED, "TLS: the peer sent no certificate");
    if (peer_from_cert(x, &c->peer, &pe) != 0)
        return strata_err_set(e, STRATA_EDENIED, "TLS: the peer's %s", pe.msg);
    if (!(c->peer.role & c->roles)) {
        c->role_refused = true;
        return strata_err_set(e, STRATA_EDENIED, "TLS: %s %s may not connect here",
                              strata_role_name(c->peer.role), c->peer.name);
    }
    c->failed = false;
    c->ready = true;
    if (c->early_len > 0) {
        int rc = strata_tls_conn_write(c, c->early, c->early_len, e);
        free(c->early);
        c->early = NULL;
        c->early_len = 0;
        return rc;
    }
    return 0;
}

ssize_t strata_tls_conn_read(struct strata_tls_conn *c, void *buf, size_t cap, struct strata_err *e)
{
    if (c->failed)
        return strata_err_set(e, STRATA_EPROTO, "TLS: the session failed");
    ERR_clear_error();
    if (!c->ready) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1)
            return conn_fail(c, r, e);
        int rc = conn_accept_peer(c, e);
        if (rc != 0)
            return rc;
    }
    if (cap == 0)
        return 0;
    int n = SSL_read(c->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    return n > 0 ? n : conn_fail(c, n, e);
}

int strata_tls_conn_read_all(struct strata_tls_conn *c, uint8_t **buf, size_t *len, size_t *cap,
                             struct strata_err *e)
{
    enum { RECORD = 16384 }; /* TLS's largest plaintext record */
    for (;;) {
        if (*cap - *len < RECORD) {
            size_t n = *cap * 2 > *len + 4 * RECORD ? *cap * 2 : *len + 4 * RECORD;
            uint8_t *b = realloc(*buf, n);
            if (b == NULL)
                return strata_err_set(e, STRATA_ENOMEM, "out of memory for decrypted input");
            *buf = b;
            *cap = n;
        }
        ssize_t got = strata_tls_conn_read(c, *buf + *len, *cap - *len, e);
        if (got <= 0)
            return (int)got;
        *len += (size_t)got;
    }
}

int strata_tls_conn_write(struct strata_tls_conn *c, const void *buf, size_t len,
                          struct strata_err *e)
{
    if (c->failed)
        return strata_err_set(e, STRATA_EPROTO, "TLS: the session failed");
    if (len == 0)
        return 0;
    if (!c->ready) {
        uint8_t *n = realloc(c->early, c->early_len + len);
        if (n == NULL)
            return strata_err_set(e, STRATA_ENOMEM, "out of memory");
        memcpy(n + c->early_len, buf, len);
        c->early = n;
        c->early_len += len;
        return 0;
    }
    ERR_clear_error();
    const uint8_t *p = buf;
    while (len > 0) {
        int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
        int n = SSL_write(c->ssl, p, chunk); /* into a memory BIO: all of it, or a failure */
        if (n <= 0) {
            int rc = conn_fail(c, n, e);
            return rc != 0 ? rc : strata_err_set(e, STRATA_EPROTO, "TLS: write refused");
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t strata_tls_conn_pending(const struct strata_tls_conn *c)
{
    return BIO_ctrl_pending(c->wbio);
}

uint8_t *strata_tls_conn_output(struct strata_tls_conn *c, size_t *len)
{
    size_t n = BIO_ctrl_pending(c->wbio);
    *len = 0;
    if (n == 0)
        return NULL;
    uint8_t *buf = malloc(n);
    if (buf == NULL)
        return NULL;
    int got = BIO_read(c->wbio, buf, (int)n);
    if (got <= 0) {
        free(buf);
        ERR_clear_error();
        return NULL;
    }
    *len = (size_t)got;
    return buf;
}

bool strata_tls_conn_ready(const struct strata_tls_conn *c)
{
    return c->ready;
}

const struct strata_peer *strata_tls_conn_peer(const struct strata_tls_conn *c)
{
    return c->ready ? &c->peer : NULL;
}

const struct strata_peer *strata_tls_conn_refused(const struct strata_tls_conn *c)
{
    return c->role_refused ? &c->peer : NULL;
}
