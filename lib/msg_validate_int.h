/* msg_validate_int.h - what lib/msg_validate*.c share: the field checks, the path helpers and
 * the validators one file defines for another. Private to lib/. */
#ifndef STRATA_MSG_VALIDATE_INT_H
#define STRATA_MSG_VALIDATE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "msg.h"

#define IFNAME_MAX 15 /* IFNAMSIZ - 1 */

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
    } while (0)

/* Child path "parent.field" or "parent.field[i]" (i < 0: no index) into buf. A path too long
 * for buf is truncated: it only ever ends up in an error message. */
static inline const char *mv_sub(char *buf, size_t cap, const char *parent, const char *field,
                                 long i)
{
    int n;
    if (i >= 0)
        n = snprintf(buf, cap, "%s.%s[%ld]", parent, field, i);
    else
        n = snprintf(buf, cap, "%s.%s", parent, field);
    if (n < 0)
        buf[0] = '\0';
    return buf;
}
#define PATH_MAX_LEN 160
#define SUB(field, i) mv_sub(pbuf, sizeof(pbuf), path, field, (long)(i))

/* Lists of objects: bound the count first (before touching elements), then check each. */
#define V_LIST(n, arr, field, max, fn, ...)                                                        \
    do {                                                                                           \
        TRY(mv_count(e, path, field, (n), (max)));                                                 \
        for (size_t i_ = 0; i_ < (n); i_++) {                                                      \
            TRY(mv_present(e, path, field, (arr)[i_]));                                            \
            TRY(fn(e, SUB(field, i_), (arr)[i_], ##__VA_ARGS__));                                  \
        }                                                                                          \
    } while (0)

/* ---- field checks (msg_validate_fields.c); allow_zero: the field may be 0 meaning
 * "none/same/all"; unicast: the MAC names an endpoint being created */
int mv_str(struct strata_err *e, const char *path, const char *field, const char *s, bool required);
int mv_vni(struct strata_err *e, const char *path, const char *field, uint32_t vni,
           bool allow_zero);
int mv_mac(struct strata_err *e, const char *path, const char *field, const ProtobufCBinaryData *b,
           bool required, bool unicast);
int mv_ip(struct strata_err *e, const char *path, const char *field, const ProtobufCBinaryData *b,
          bool required);
int mv_vtep(struct strata_err *e, const char *path, const ProtobufCBinaryData *b);
int mv_count(struct strata_err *e, const char *path, const char *field, size_t n, size_t max);
int mv_ips(struct strata_err *e, const char *path, const char *field, size_t n,
           const ProtobufCBinaryData *ips, size_t max);
int mv_vnis(struct strata_err *e, const char *path, const char *field, size_t n,
            const uint32_t *vnis);
int mv_present(struct strata_err *e, const char *path, const char *field, const void *p);
int mv_verdict(struct strata_err *e, const char *path, const char *field, int v, bool decided);
int mv_kind(struct strata_err *e, const char *path, const char *field, int k, bool required);
int mv_id(struct strata_err *e, const char *path, const char *field, uint64_t id);
int mv_raft_addr(struct strata_err *e, const char *path, const char *field, const char *s);

/* ---- msg_validate.c */
int mv_endpoint(struct strata_err *e, const char *path, const Strata__V1__Endpoint *ep, bool write);

/* ---- msg_validate_nodes.c: connectivity server, audit, control sockets */
int mv_host_register(struct strata_err *e, const char *path, const Strata__V1__HostRegister *h);
int mv_updates_reply(struct strata_err *e, const char *path, const Strata__V1__UpdatesReply *r);
int mv_ifname(struct strata_err *e, const char *path, const char *s);
int mv_port_attach(struct strata_err *e, const char *path, const Strata__V1__PortAttach *a);
int mv_cache_show_reply(struct strata_err *e, const char *path,
                        const Strata__V1__CacheShowReply *r);
int mv_trace(struct strata_err *e, const char *path, const Strata__V1__TraceRequest *t);
int mv_trace_reply(struct strata_err *e, const char *path, const Strata__V1__TraceReply *r);
int mv_wait_applied_reply(struct strata_err *e, const char *path,
                          const Strata__V1__WaitAppliedReply *r);
int mv_audit_report(struct strata_err *e, const char *path, const Strata__V1__AuditReport *r);
int mv_audit_reply(struct strata_err *e, const char *path, const Strata__V1__AuditReply *r);

#endif
