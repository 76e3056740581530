/* sweep.h - every message type of the schema (lib/test_msg_fixture.h's envelopes, valid as far
 * as decoding goes) sent to one running server: each must be answered, and a refusal must carry
 * a message. For the integration and system tests; needs cmocka. */
#ifndef STRATA_TEST_SWEEP_H
#define STRATA_TEST_SWEEP_H

#include "client.h"
#include "test_msg_fixture.h"

/* Sends every body case that `excluded` (may be NULL) does not name to `url`; returns how many
 * were refused. */
static inline unsigned h_sweep_bodies(const char *url, bool (*excluded)(int body_case))
{
    struct strata_sclient *cl;
    struct strata_err e;
    if (strata_sclient_open(url, &cl, &e) != 0)
        fail_msg("%s: %s", url, e.msg);
    struct fx f;
    fx_init(&f);
    int cases[64];
    size_t n = body_cases(cases, 64);
    unsigned refused = 0;
    for (size_t i = 0; i < n; i++) {
        strata_env env;
        if (excluded != NULL && excluded(cases[i]))
            continue;
        if (!fx_body(&f, &env, cases[i]))
            fail_msg("body case %d unknown to the fixture", cases[i]);
        strata_env *r = NULL;
        if (strata_sclient_call(cl, &env, 5000, &r, &e) != 0)
            fail_msg("%s: %s got no answer: %s", url, strata_msg_type_name(cases[i]), e.msg);
        if (r->status != 0 && (r->message == NULL || r->message[0] == '\0'))
            fail_msg("%s: %s refused without a message", url, strata_msg_type_name(cases[i]));
        refused += r->status != 0;
        strata_msg_free(r);
    }
    strata_sclient_close(cl);
    return refused;
}

/* Variants of every body case: its encoding with one to four bits flipped, `rounds` times each.
 * A variant that still decodes and validates is what a server takes from the network, so it is
 * sent, and it must be answered too (a variant of an `excluded` case, or one whose flips turned it
 * into one, is not sent). Deterministic from `seed`. Returns how many variants were sent. */
static inline unsigned h_sweep_variants(const char *url, bool (*excluded)(int body_case),
                                        unsigned rounds, uint64_t seed)
{
    struct strata_sclient *cl;
    struct strata_err e;
    if (strata_sclient_open(url, &cl, &e) != 0)
        fail_msg("%s: %s", url, e.msg);
    struct fx f;
    fx_init(&f);
    int cases[64];
    size_t n = body_cases(cases, 64);
    unsigned sent = 0;
    for (size_t i = 0; i < n; i++) {
        strata_env env;
        if ((excluded != NULL && excluded(cases[i])) || !fx_body(&f, &env, cases[i]))
            continue;
        uint8_t *buf;
        size_t len;
        if (strata_msg_encode(&env, &buf, &len, &e) != 0 || len == 0)
            fail_msg("encoding %s: %s", strata_msg_type_name(cases[i]), e.msg);
        for (unsigned r = 0; r < rounds; r++) {
            for (unsigned k = 0; k < 1 + seed % 4; k++) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                buf[seed % len] ^= (uint8_t)(1u << (seed >> 32) % 8);
            }
            strata_env *v = NULL, *rep = NULL;
            if (strata_msg_decode(buf, len, STRATA_MSG_MAX, &v, &e) == 0 &&
                (excluded == NULL || !excluded(v->body_case))) {
                if (strata_sclient_call(cl, v, 5000, &rep, &e) != 0)
                    fail_msg("%s: a variant of %s (now %s) got no answer: %s", url,
                             strata_msg_type_name(cases[i]), strata_msg_type_name(v->body_case),
                             e.msg);
                sent++;
                strata_msg_free(rep);
            }
            strata_msg_free(v);
            /* back to the valid encoding for the next variant */
            free(buf);
            if (strata_msg_encode(&env, &buf, &len, &e) != 0)
                fail_msg("encoding %s: %s", strata_msg_type_name(cases[i]), e.msg);
        }
        free(buf);
    }
    strata_sclient_close(cl);
    return sent;
}

#endif
