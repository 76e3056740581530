/* err.h - Strata's error codes (0 or negative STRATA_E*) and error objects with a message. */
#ifndef STRATA_ERR_H
#define STRATA_ERR_H

#include <stddef.h>

/* Every function that can fail returns 0 or one of these. The same numbers travel on the wire
 * in Envelope.status, so never renumber: append. */
enum {
    STRATA_OK = 0,
    STRATA_EINVAL = -1,     /* malformed or out-of-range input */
    STRATA_ENOMEM = -2,     /* allocation failed */
    STRATA_ENOTFOUND = -3,  /* no such object (unknown VNI, host, endpoint...) */
    STRATA_EEXIST = -4,     /* object already exists */
    STRATA_ECONFLICT = -5,  /* address already claimed by another object */
    STRATA_ENOTLEADER = -6, /* this directory node cannot take writes; message names the leader */
    STRATA_EUNAVAIL = -7,   /* peer unreachable, no leader, shutting down */
    STRATA_ETIMEDOUT = -8,  /* deadline passed */
    STRATA_EIO = -9,        /* local I/O failure */
    STRATA_ENOSPACE = -10,  /* disk full: nothing was written */
    STRATA_EPROTO = -11,    /* undecodable or invalid message */
    STRATA_ETOOBIG = -12,   /* message or field over its size bound */
    STRATA_EDENIED = -13,   /* not authorized for this identity */
    STRATA_EBUSY = -14,     /* overloaded, try again */
    STRATA_EINTERNAL = -15, /* a bug: should never happen */
    STRATA_ECODE_MIN = -15,
};

/* Human text for a code ("invalid argument"); never NULL, "unknown error" for unknown codes. */
const char *strata_strerror(int code);

/* Stable symbolic name for a code ("EINVAL"), used as the JSON "error" key. Never NULL. */
const char *strata_errname(int code);

/* An error with its message. Functions that take a `struct strata_err *` fill it on failure
 * (when not NULL) and return the code. */
struct strata_err {
    int code;
    char msg[256];
};

/* Record `code` and a printf-style message in `e` (which may be NULL); returns `code` so callers
 * can write `return strata_err_set(e, STRATA_EINVAL, "bad VNI %s", s);`. No argument may point
 * into e->msg: it is overwritten while being read ("--raft: %s", e->msg printed "--raft: --raft:
 * ..."); take the inner error in a strata_err of its own. */
int strata_err_set(struct strata_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reset to STRATA_OK with an empty message. */
void strata_err_clear(struct strata_err *e);

#endif
