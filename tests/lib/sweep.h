/* sweep.h - every message type of the schema (lib/test_msg_fixture.h's envelopes, valid as far
 * as decoding goes) sent to one running server, then bit-flipped variants of each: every message
 * must be answered, and a refusal of an exact one must carry a message. For the integration and
 * system tests; needs cmocka. */
#ifndef STRATA_TEST_SWEEP_H
#define STRATA_TEST_SWEEP_H

#include "client.h"
#include "test_msg_fixture.h"

struct h_sweep {
    unsigned refused;  /* exact messages refused (with a message) */
    unsigned variants; /* variants sent (and answered) */
};

static inline strata_env *h_sweep_call(struct strata_sclient *cl, const char *url, strata_env *env,
                                       const char *what)
{
    strata_env *r = NULL;
    struct strata_err e;
    if (strata_sclient_call(cl, env, 5000, &r, &e) != 0)
        fail_msg("%s: %s (%s) got no answer: %s", url, what, strata_msg_type_name(env->body_case),
                 e.msg);
    return r;
}

/* Sends every body case that `excluded` (may be NULL) does not name to `url`; then, `rounds`
 * times per case, its encoding with one to four bits flipped (deterministic from `seed`). A
 * variant that still decodes and validates is what a server takes from the network, so it is
 * sent too: valid messages with odd values reach the handlers. A variant whose flips turned it
 * into an excluded case is not sent. */
static inline struct h_sweep h_sweep_bodies(const char *url, bool (*excluded)(int body_case),
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
    struct h_sweep out = {0, 0};
    for (size_t i = 0; i < n; i++) {
        strata_env env;
        if (excluded != NULL && excluded(cases[i]))
            continue;
        if (!fx_body(&f, &env, cases[i]))
            fail_msg("body case %d unknown to the fixture", cases[i]);
        strata_env *r = h_sweep_call(cl, url, &env, "the exact message");
        if (r->status != 0 && (r->message == NULL || r->message[0] == '\0'))
            fail_msg("%s: %s refused without a message", url, strata_msg_type_name(cases[i]));
        out.refused += r->status != 0;
        strata_msg_free(r);
        if (rounds == 0)
            continue;
        uint8_t *orig, *buf;
        size_t len;
        if (strata_msg_encode(&env, &orig, &len, &e) != 0 || len == 0)
            fail_msg("encoding %s: %s", strata_msg_type_name(cases[i]), e.msg);
        buf = malloc(len);
        for (unsigned k = 0; k < rounds; k++) {
            memcpy(buf, orig, len);
            for (unsigned b = 0; b < 1 + seed % 4; b++) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                buf[seed % len] ^= (uint8_t)(1u << (seed >> 32) % 8);
            }
            strata_env *v = NULL;
            if (strata_msg_decode(buf, len, STRATA_MSG_MAX, &v, &e) == 0 &&
                (excluded == NULL || !excluded(v->body_case))) {
                strata_msg_free(h_sweep_call(cl, url, v, "a variant"));
                out.variants++;
            }
            strata_msg_free(v);
        }
        free(buf);
        free(orig);
    }
    strata_sclient_close(cl);
    return out;
}

#endif
