/* cmd_common.h - helpers the command handlers share: sending a write and reporting it, listing
 * one kind of object, and local validation helpers built on lib/addr.h. */
#ifndef STRATA_CLI_CMD_COMMON_H
#define STRATA_CLI_CMD_COMMON_H

#include "cli.h"
#include "out.h"

/* Send one write; on success *index is the Raft index it was applied at and *reply (may be
 * NULL if unwanted) the reply, which the caller frees. */
int cmd_write(struct cli_ctx *ctx, Strata__V1__Command *cmd, uint64_t *index, strata_env **reply,
              struct strata_err *e);

/* Start the JSON object of a write's result: {"index": N, "op": OP, ... (caller adds keys,
 * then calls cmd_json_end). */
void cmd_json_write_begin(struct cli_ctx *ctx, struct cli_json *j, const char *op, uint64_t index);
void cmd_json_end(struct cli_json *j);

/* ListRequest for one kind (vni 0 = all); linearizable: through the leader's read barrier.
 * *reply has a list_reply body. */
int cmd_list(struct cli_ctx *ctx, Strata__V1__ObjKind kind, uint32_t vni, uint64_t min_index,
             bool linearizable, strata_env **reply, struct strata_err *e);

/* Parse a MAC that an endpoint may carry (unicast, not zero). */
int cmd_parse_endpoint_mac(const char *s, uint8_t mac[6], struct strata_err *e);
/* A MAC as the directory spells it (lower case, colons), whatever the spelling typed; the
 * typed text when it does not parse. buf: STRATA_MAC_STRLEN bytes. */
const char *cmd_mac_canon(const char *typed, char *buf);
/* Free-form label: at most STRATA_MAX_STR bytes, no control characters. */
int cmd_check_label(const char *s, const char *what, struct strata_err *e);
/* "allow" | "deny". */
int cmd_parse_verdict(const char *s, Strata__V1__Verdict *v, struct strata_err *e);
/* A cluster member id: decimal >= 1. */
int cmd_parse_member_id(const char *s, uint64_t *id, struct strata_err *e);

/* The connectivity servers to ask: --cs, else $STRATA_CS; NULL when neither names one. */
const char *cmd_cs_list(const struct cli_args *a);
/* Split a comma-separated list of server URLs: *copy (malloc'd, the caller frees it, even on
 * error) holds urls[0..*n), each checked (strata_url_check), at most cap of them. */
int cmd_cs_split(const char *list, size_t cap, char **copy, const char **urls, size_t *n,
                 struct strata_err *e);

/* Decimal text of v into buf[24]. */
const char *cmd_u64(uint64_t v, char *buf);

#endif
