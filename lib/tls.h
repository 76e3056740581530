/* tls.h - mutual TLS for every Strata link (OpenSSL, TLS 1.3 only): a context made from a CA, a
 * certificate and its key; sessions driven through memory buffers, so that any transport (the
 * libuv loop's, a blocking socket, the Raft proxy) carries them; and the peer's identity, a role
 * and a name, read from its certificate (subject OU = role, CN = name; `strata pki` issues them).
 *
 * Why OpenSSL and not the mbedTLS that NNG links: a P-256 signature costs 14 us and a
 * verification 41 us here, against 253 us and 789 us in mbedTLS 2.28 (docs/security.md), and a
 * server does one and two of them (and two key exchanges) in every handshake. A whole handshake
 * costs a connectivity server 0.65 ms with OpenSSL (storm-bench: 1,000 agents back in under
 * 1.2 s); mbedTLS's arithmetic alone would be ~2.4 ms. */
#ifndef STRATA_TLS_H
#define STRATA_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* What a certificate says its holder is. The numbers are bits of a role mask. */
enum strata_role {
    STRATA_ROLE_NONE = 0,
    STRATA_ROLE_OPERATOR = 1 << 0,
    STRATA_ROLE_DIRECTORY = 1 << 1,
    STRATA_ROLE_CONNECTIVITY = 1 << 2,
    STRATA_ROLE_AGENT = 1 << 3,
    STRATA_ROLE_GATEWAY = 1 << 4,
};
#define STRATA_ROLE_ANY 0x1f
/* Servers a client may find at the other end of a URL: directory nodes, connectivity servers. */
#define STRATA_ROLE_SERVERS (STRATA_ROLE_DIRECTORY | STRATA_ROLE_CONNECTIVITY)

/* "operator", "directory", "connectivity", "agent", "gateway"; "none" for anything else. */
const char *strata_role_name(enum strata_role r);
/* The role called `s`, or STRATA_ROLE_NONE. */
enum strata_role strata_role_parse(const char *s);

/* An authenticated peer: what its certificate, signed by our CA, says. The name obeys
 * strata_name_check (a NUL or a control character in a certificate's CN refuses the handshake). */
struct strata_peer {
    enum strata_role role;
    char name[64];
};

/* The three files of --tls-ca, --tls-cert, --tls-key (PEM). */
struct strata_tls_files {
    const char *ca, *cert, *key;
};

/* The flag-table rows of --tls-ca, --tls-cert and --tls-key (flags.h), filling the
 * struct strata_tls_files at `files` (a pointer, or an offset for the CLI's tables). */
#define STRATA_TLS_FLAG_ROWS(files)                                                                \
    {"tls-ca",                                                                                     \
     STRATA_FLAG_STR,                                                                              \
     &(files)->ca,                                                                                 \
     "FILE",                                                                                       \
     "CA certificate (PEM): with --tls-cert and --tls-key, mutual TLS on every link",              \
     false,                                                                                        \
     0,                                                                                            \
     0},                                                                                           \
        {"tls-cert",                                                                               \
         STRATA_FLAG_STR,                                                                          \
         &(files)->cert,                                                                           \
         "FILE",                                                                                   \
         "this process's certificate (PEM), issued by strata pki",                                 \
         false,                                                                                    \
         0,                                                                                        \
         0},                                                                                       \
    {                                                                                              \
        "tls-key", STRATA_FLAG_STR, &(files)->key, "FILE", "its private key (PEM)", false, 0, 0    \
    }

/* A process's TLS context: trusts only `ca` (never the system's store) and presents `cert`. */
struct strata_tls;

/* Load and check the files: each readable, the key matching the certificate, the certificate
 * signed by the CA and carrying a Strata role. Errors name the file and what is wrong. */
int strata_tls_open(const struct strata_tls_files *f, struct strata_tls **out,
                    struct strata_err *e);
void strata_tls_free(struct strata_tls *t);
/* Who this process is, from its own certificate. */
const struct strata_peer *strata_tls_self(const struct strata_tls *t);

/* For daemons and the CLI: all three of f's files set -> *out is the context; none set ->
 * *out = NULL and a warning, once per process, that `who` runs in plaintext; some set -> an
 * error naming the missing flag. */
int strata_tls_from_flags(const struct strata_tls_files *f, const char *who,
                          struct strata_tls **out, struct strata_err *e);

/* The same for a daemon whose certificate must be of `role` and named `name` (NULL: any
 * name): a context whose certificate is another's is an error saying which certificate to
 * issue. On success the context (or NULL in plaintext) is also made the default. */
int strata_tls_daemon(const struct strata_tls_files *f, const char *who, enum strata_role role,
                      const char *name, struct strata_tls **out, struct strata_err *e);

/* The context used by clients and servers opened without one of their own (strata_aclient_open,
 * strata_sclient_open, strata_server_open with opts->tls NULL): set once at startup. */
void strata_tls_set_default(struct strata_tls *t);
struct strata_tls *strata_tls_default(void);

/* Whether `url` is a tls+tcp:// URL; and checks that a URL fits the process's TLS setting: a
 * tls+tcp:// URL without a context, or (with one) a tcp:// URL, is an error naming `what`. So a
 * TLS daemon never listens, nor dials, in plaintext. ipc:// is local and always allowed. */
bool strata_tls_url(const char *url);
int strata_tls_url_check(const struct strata_tls *t, const char *url, const char *what,
                         struct strata_err *e);
/* strata_tls_url_check on each URL of a comma-separated list. */
int strata_tls_urls_check(const struct strata_tls *t, const char *urls, const char *what,
                          struct strata_err *e);

/* ---- one session, over any byte stream */
struct strata_tls_conn;

struct strata_tls_conn_opts {
    bool server;
    /* Roles accepted at the other end (a mask of enum strata_role); 0 = STRATA_ROLE_ANY. A peer
     * with another role fails the handshake. */
    unsigned roles;
    /* Client side: the host dialed (an IP address or a name), which the server's certificate
     * must name in its subjectAltName (`strata pki issue --ip`); NULL skips the check (Raft,
     * which checks the peer's name against the node id instead). */
    const char *host;
};

int strata_tls_conn_new(struct strata_tls *t, const struct strata_tls_conn_opts *o,
                        struct strata_tls_conn **out, struct strata_err *e);
void strata_tls_conn_free(struct strata_tls_conn *c);

/* Bytes received from the peer (ciphertext). 0, or STRATA_ENOMEM. */
int strata_tls_conn_input(struct strata_tls_conn *c, const void *buf, size_t len);
/* Advance the handshake and decrypt: up to `cap` bytes of plaintext into buf. Returns the number
 * of bytes (> 0), 0 when more input is needed (or nothing is left), or a negative STRATA_E*
 * (STRATA_EDENIED for a peer that failed verification, STRATA_EPROTO for a broken stream,
 * STRATA_EUNAVAIL once the peer closed): the connection must then be closed. Call it after
 * every input until it returns 0 and then send what strata_tls_conn_output holds. */
ssize_t strata_tls_conn_read(struct strata_tls_conn *c, void *buf, size_t cap,
                             struct strata_err *e);
/* strata_tls_conn_read until it returns 0: the plaintext appended to *buf (*len bytes used of
 * *cap), which is grown (realloc) so that a whole record always fits. 0, or the negative
 * STRATA_E* of strata_tls_conn_read, or STRATA_ENOMEM when the buffer cannot grow (what was
 * decrypted before stays in *buf either way). */
int strata_tls_conn_read_all(struct strata_tls_conn *c, uint8_t **buf, size_t *len, size_t *cap,
                             struct strata_err *e);
/* Encrypt `len` bytes of plaintext for the peer. Before the handshake is done they are kept and
 * sent when it is. 0, or a negative STRATA_E*. */
int strata_tls_conn_write(struct strata_tls_conn *c, const void *buf, size_t len,
                          struct strata_err *e);
/* The ciphertext waiting to be sent (handshake messages, records): a malloc'd buffer the caller
 * owns and *len bytes long, or NULL (*len = 0) when nothing waits. */
uint8_t *strata_tls_conn_output(struct strata_tls_conn *c, size_t *len);
/* Bytes of ciphertext waiting in strata_tls_conn_output. */
size_t strata_tls_conn_pending(const struct strata_tls_conn *c);
/* The handshake is done and the peer verified: strata_tls_conn_peer is set. */
bool strata_tls_conn_ready(const struct strata_tls_conn *c);
/* The peer, once ready; NULL before. */
const struct strata_peer *strata_tls_conn_peer(const struct strata_tls_conn *c);
/* After strata_tls_conn_read refused a peer whose certificate verified under the CA but whose
 * role is not in opts->roles: that peer (to say who was turned away); NULL otherwise. */
const struct strata_peer *strata_tls_conn_refused(const struct strata_tls_conn *c);

#endif
