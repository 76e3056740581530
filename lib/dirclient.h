/* dirclient.h - a blocking client of the directory that tries every configured node, retries
 * writes idempotently across leader changes, and gives up with a clear error at a deadline. */
#ifndef STRATA_DIRCLIENT_H
#define STRATA_DIRCLIENT_H

#include <stdint.h>

#include "msg.h"

struct strata_dirclient;

/* `urls`: "tcp://127.0.0.1:7001,tcp://127.0.0.1:7002" (comma-separated). Picks a random
 * client_id so that (client_id, req_id) identify each write cluster-wide. */
int strata_dirclient_open(const char *urls, struct strata_dirclient **out, struct strata_err *e);
void strata_dirclient_close(struct strata_dirclient *c);

/* Submit one write. Fills cmd->client_id/req_id, sends it to the current node; on a transport
 * failure, STRATA_ENOTLEADER, STRATA_EUNAVAIL or STRATA_EBUSY it moves to the next node and
 * retries the same (client_id, req_id) - the directory applies it at most once - until
 * timeout_ms has passed. Returns 0 with *reply (status 0, write_reply body) or the error the
 * directory gave (validation errors are final and not retried).
 * A node where nothing listens (strata_sclient_refused) is passed over at once; when no node
 * listens, or every node is down or answers "no leader" (no quorum), it gives up at once with
 * STRATA_EUNAVAIL: "URL: connection refused", "...: no directory node is listening (...)" or
 * "...: no leader: the directory has no quorum (N of M nodes answer; ...)". The same holds for
 * strata_dirclient_call. */
int strata_dirclient_write(struct strata_dirclient *c, Strata__V1__Command *cmd,
                           unsigned timeout_ms, strata_env **reply, struct strata_err *e);

/* Send any request (reads, cluster commands). Moves to the next node on transport failure or
 * STRATA_EUNAVAIL/ENOTLEADER until timeout_ms. Returns 0 with *reply when a node answered with
 * status 0; otherwise the node's error code and message. */
int strata_dirclient_call(struct strata_dirclient *c, strata_env *req, unsigned timeout_ms,
                          strata_env **reply, struct strata_err *e);

/* Send to node number i (0-based, in the order given) only: used by `cluster status`. */
int strata_dirclient_call_node(struct strata_dirclient *c, int i, strata_env *req,
                               unsigned timeout_ms, strata_env **reply, struct strata_err *e);
int strata_dirclient_nodes(const struct strata_dirclient *c);
const char *strata_dirclient_node_url(const struct strata_dirclient *c, int i);

#endif
