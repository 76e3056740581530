/* lc_history.h - the fault harness's history of register operations: model, file format, parser. */
#ifndef STRATA_LC_HISTORY_H
#define STRATA_LC_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

/* An operation that may have taken effect at any time after its invocation (a timeout, a lost
 * connection) never completes: its completion time is +infinity (Porcupine, Knossos). */
#define LC_T_INF INT64_MAX

/* Value id 0 is "absent": the key does not exist (never written, or deleted). Every other value
 * string gets an id of its own, shared by all keys. */
#define LC_ABSENT 0u

/* The longest key, value or node name a history may hold, and the longest line. */
#define LC_TOKEN_MAX 255
#define LC_LINE_MAX 4096

enum lc_kind { LC_WRITE, LC_READ };

/* ok: acknowledged; fail: definitely did not take effect (dropped by the checker); info:
 * indeterminate, may or may not have taken effect (Jepsen's :ok, :fail, :info). */
enum lc_outcome { LC_OK, LC_FAIL, LC_INFO };

/* How a read was served: lin (after a read barrier through the leader: checked for
 * linearizability), ser (a directory node's local, serializable read) or cs (a connectivity
 * server's cache). ser and cs reads are checked only by the per-node checks (lc_checks.h). */
enum lc_mode { LC_MODE_LIN, LC_MODE_SER, LC_MODE_CS };

struct lc_op {
    uint32_t line;  /* its line in the history file; 0 when added in memory */
    uint32_t proc;  /* the client (process) that issued it */
    uint32_t key;   /* key id: lc_history.keys */
    uint32_t value; /* value written, or value read; LC_ABSENT for none */
    int64_t invoke,
        complete;     /* any monotonic clock, one for the whole history; complete may be LC_T_INF */
    uint64_t version; /* the version the server answered with, when has_version */
    uint32_t node;    /* node id (lc_history.nodes) that served a ser/cs read; 0 = none */
    uint8_t kind, outcome, mode;
    bool final;       /* a read made after the run, once the cluster is healed and quiet */
    bool has_version; /* version is meaningful */
};

/* Interned strings: id -> string, string -> id. Id 0 is reserved (absent / none). */
struct lc_strtab {
    char **str;     /* str[id], str[0] = the reserved name */
    uint32_t n;     /* ids in use, including 0 */
    uint32_t cap;   /* of str */
    uint32_t *slot; /* open addressing hash table of ids, 0 = empty */
    uint32_t nslot; /* a power of two */
};

struct lc_history {
    struct lc_op *ops;
    size_t n, cap;
    struct lc_strtab keys, values, nodes;
    uint32_t *init; /* init[key]: its value when the history starts (LC_ABSENT unless set) */
    size_t ninit;   /* entries of init */
};

/* An operation described with strings, for building histories in memory (tests, the harness). */
struct lc_op_in {
    uint32_t proc;
    enum lc_kind kind;
    const char *key;
    const char *value; /* "absent" for none; NULL only where no value is known (a read not ok) */
    int64_t invoke, complete;
    enum lc_outcome outcome;
    enum lc_mode mode;
    const char *node; /* NULL unless mode is ser or cs */
    bool final, has_version;
    uint64_t version;
};

void lc_history_init(struct lc_history *h);
void lc_history_free(struct lc_history *h);

/* Append one operation after validating it (the same rules as the parser). On error nothing is
 * added. */
int lc_history_add(struct lc_history *h, const struct lc_op_in *in, struct strata_err *e);

/* Set the value `key` holds before the history starts (the harness's "init" line). */
int lc_history_set_init(struct lc_history *h, const char *key, const char *value,
                        struct strata_err *e);

/* Parse one line of the history format (docs/reliability.md), lineno for messages. Blank lines
 * and lines starting with '#' are skipped. On error: "line N: what is wrong", nothing added. */
int lc_history_parse_line(struct lc_history *h, const char *line, uint32_t lineno,
                          struct strata_err *e);

/* Parse a whole text (lines separated by '\n'); stops at the first bad line. */
int lc_history_parse_str(struct lc_history *h, const char *text, struct strata_err *e);

/* Parse a file; then check that each process's acknowledged and failed operations do not overlap
 * (lc_history_check_procs). Errors name the file and line. */
int lc_history_parse_file(struct lc_history *h, const char *path, struct strata_err *e);

/* A process is sequential: two of its operations with a known completion (ok or fail) must not
 * overlap in time; an indeterminate operation is exempt (its client gave up waiting). Catches a
 * harness mixing clocks or process ids. */
int lc_history_check_procs(const struct lc_history *h, struct strata_err *e);

/* The operations grouped by key, each key's in history order: key k's are
 * idx[start[k]..start[k+1]) (start has keys.n + 1 entries). Free both with free(). */
int lc_history_by_key(const struct lc_history *h, size_t **start, size_t **idx,
                      struct strata_err *e);

/* The string of an id; never NULL. */
const char *lc_history_key(const struct lc_history *h, uint32_t key);
const char *lc_history_value(const struct lc_history *h, uint32_t value);
const char *lc_history_node(const struct lc_history *h, uint32_t node);

/* Print one operation as a line of the history format (without newline): what the parser reads
 * back, so a printed sub-history can be checked again on its own. */
void lc_op_print(FILE *out, const struct lc_history *h, const struct lc_op *op);

/* The same for an operation described with strings: how the harness writes its history, one
 * line per operation as it completes. Prints what it is given; lc_history_add says whether
 * that is valid. */
void lc_op_in_print(FILE *out, const struct lc_op_in *in);

/* Print one operation as a JSON object with the same fields. */
void lc_op_print_json(FILE *out, const struct lc_history *h, const struct lc_op *op);

/* Print a string as a JSON string (quoted, escaped). */
void lc_json_str(FILE *out, const char *s);

#endif
