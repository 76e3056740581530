/* h_tls_probe.h - a blocking client that probes a TLS server as an attacker or a peer would: it
 * connects to 127.0.0.1:port, runs a TLS 1.3 handshake with a given certificate (or none at all:
 * plaintext), sends chosen bytes, and reports what came back and whether the server hung up. */
#ifndef STRATA_H_TLS_PROBE_H
#define STRATA_H_TLS_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strata_tls;

struct h_tls_probe {
    int port;
    struct strata_tls *tls; /* NULL: no TLS, `send` goes out in the clear */
    const uint8_t *send;    /* with TLS: written before the handshake, sent once it is through */
    size_t send_len;
    /* sent once `then_after` bytes of plaintext came back, and the probe closes (with
     * then_len 0 it only closes then) */
    const uint8_t *then;
    size_t then_len, then_after;
    /* results */
    bool ready;  /* the handshake went through on our side */
    bool closed; /* the server closed the connection (within 8 s) */
    uint8_t got[256];
    size_t got_len; /* plaintext received (what fits in got) */
    char err[256];  /* the TLS session's failure, or a socket's */
};

/* Run the probe to its end (at most 8 s of silence). Safe on any thread (no cmocka asserts). */
void h_tls_probe_run(struct h_tls_probe *p);

#endif
