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

#endif
