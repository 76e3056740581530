/* cmd_wait.h - `--wait TIMEOUT` on writes: wait until every node holding the change applied it,
 * as the connectivity servers of --cs (or $STRATA_CS) see their holders' acknowledgements. */
#ifndef STRATA_CLI_CMD_WAIT_H
#define STRATA_CLI_CMD_WAIT_H

#include "cmd_common.h"

/* The merged answers of one wait. */
struct cmd_wait {
    bool on; /* --wait was given */
    bool ok; /* every server saw the change and every holder applied it */
    uint64_t index, elapsed_us;
    unsigned holders, applied;
    char *urls; /* --cs, split in place */
    strata_env **replies;
    size_t n;
};

/* "5s", "500ms", "1m", "2" (seconds) -> milliseconds, 1 ms .. 60 s. */
int cmd_wait_parse(const char *s, uint64_t *ms, struct strata_err *e);
/* Validate --wait and that servers are named, before the write is sent (a usage error). */
int cmd_wait_check(const struct cli_args *a, struct strata_err *e);
/* With --wait: ask each server in turn against one deadline and merge. 0 when all applied;
 * STRATA_ETIMEDOUT with a message naming the stragglers ("not applied on host h3 (agent
 * paused?) after 2.0 s"); a transport error naming the server. Without --wait: 0, w->on false.
 * Free w with cmd_wait_free in every case. */
int cmd_wait_run(struct cli_ctx *ctx, const struct cli_args *a, uint64_t index, struct cmd_wait *w,
                 struct strata_err *e);
/* The "wait" member of a write's JSON (nothing without --wait). */
void cmd_wait_json(const struct cmd_wait *w, struct cli_json *j);
/* The human line after the write's ("applied on 3 holders ... in 0.012 s"), when it succeeded. */
void cmd_wait_print(struct cli_ctx *ctx, const struct cmd_wait *w);
void cmd_wait_free(struct cmd_wait *w);

#endif
