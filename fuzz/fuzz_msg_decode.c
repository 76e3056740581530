/* fuzz_msg_decode.c - libFuzzer target: any bytes through strata_msg_decode, as every daemon
 * takes them from the network. What decodes must encode and decode again (nodes forward what
 * they received and pack clients' commands into Raft entries). Build: docs/fuzzing.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_env *env = NULL;
    struct strata_err e;
    if (strata_msg_decode(data, size, STRATA_MSG_MAX, &env, &e) != 0)
        return 0;
    (void)strata_msg_type_name(env->body_case);
    uint8_t *buf = NULL;
    size_t len = 0;
    strata_env *again = NULL;
    if (strata_msg_encode(env, &buf, &len, &e) != 0 ||
        strata_msg_decode(buf, len, STRATA_MSG_MAX, &again, &e) != 0) {
        fprintf(stderr, "decoded, but not once re-encoded: %s\n", e.msg);
        abort();
    }
    strata_msg_free(again);
    free(buf);
    strata_msg_free(env);
    return 0;
}
