/* msg_validate_fields.c - the field checks every message validator uses (msg_validate_int.h):
 * strings, VNIs, MACs, addresses, counts, enums. */
#include <string.h>

#include "addr.h"
#include "msg_validate_int.h"

/* ------------------------------------------------------------------ field checks */

int mv_str(struct strata_err *e, const char *path, const char *field, const char *s, bool required)
{
    size_t n = s != NULL ? strnlen(s, STRATA_MAX_STR + 1) : 0;
    if (n > STRATA_MAX_STR)
        return strata_err_set(e, STRATA_ETOOBIG, "%s.%s: longer than %d bytes", path, field,
                              STRATA_MAX_STR);
    if (required && n == 0)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: required", path, field);
    return 0;
}

/* allow_zero: the field may be 0 meaning "none/same/all" (ResolveQuery.from_vni, ListRequest). */
int mv_vni(struct strata_err *e, const char *path, const char *field, uint32_t vni, bool allow_zero)
{
    if (vni == 0 && allow_zero)
        return 0;
    if (!strata_vni_valid(vni))
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: VNI %u out of range %u..%u", path, field,
                              vni, STRATA_VNI_MIN, STRATA_VNI_MAX);
    return 0;
}

/* unicast: the MAC names an endpoint being created, so broadcast/multicast/zero are errors. */
int mv_mac(struct strata_err *e, const char *path, const char *field, const ProtobufCBinaryData *b,
           bool required, bool unicast)
{
    if (b->len == 0 && !required)
        return 0;
    if (b->len != 6)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: %zu bytes, want 6", path, field, b->len);
    if (unicast && !strata_mac_is_unicast(b->data)) {
        char buf[STRATA_MAC_STRLEN];
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: %s is not a unicast address", path, field,
                              strata_mac_format(b->data, buf));
    }
    return 0;
}

int mv_ip(struct strata_err *e, const char *path, const char *field, const ProtobufCBinaryData *b,
          bool required)
{
    if (b->len == 0 && !required)
        return 0;
    if (b->len != 4 && b->len != 16)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: %zu bytes, want 4 or 16", path, field,
                              b->len);
    return 0;
}

/* A VTEP being registered: an address of the host's underlay, so a unicast one. (Checked here,
 * on requests, not when the directory applies its log: entries written before the rule stand.) */
int mv_vtep(struct strata_err *e, const char *path, const ProtobufCBinaryData *b)
{
    TRY(mv_ip(e, path, "vtep", b, true));
    const uint8_t *a = b->data;
    const char *bad = NULL;
    static const uint8_t zero[16], loop6[16] = {[15] = 1};
    if (memcmp(a, zero, b->len) == 0)
        bad = "unspecified";
    else if (b->len == 4 && a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
        bad = "the broadcast address";
    else if ((b->len == 4 && (a[0] & 0xf0) == 0xe0) || (b->len == 16 && a[0] == 0xff))
        bad = "a multicast address";
    else if ((b->len == 4 && a[0] == 127) || (b->len == 16 && memcmp(a, loop6, 16) == 0))
        bad = "a loopback address";
    else if (b->len == 4 && a[0] == 0)
        bad = "in 0.0.0.0/8 (this host, not an address others reach)";
    if (bad == NULL)
        return 0;
    struct strata_ip ip;
    char s[STRATA_IP_STRLEN];
    strata_ip_from_bytes(a, b->len, &ip, NULL);
    return strata_err_set(e, STRATA_EINVAL,
                          "%s.vtep: %s is %s: a VTEP is a unicast address of the host's underlay",
                          path, strata_ip_format(&ip, s), bad);
}

int mv_count(struct strata_err *e, const char *path, const char *field, size_t n, size_t max)
{
    if (n > max)
        return strata_err_set(e, STRATA_ETOOBIG, "%s.%s: %zu entries, max %zu", path, field, n,
                              max);
    return 0;
}

int mv_ips(struct strata_err *e, const char *path, const char *field, size_t n,
           const ProtobufCBinaryData *ips, size_t max)
{
    TRY(mv_count(e, path, field, n, max));
    for (size_t i = 0; i < n; i++)
        if (ips[i].len != 4 && ips[i].len != 16)
            return strata_err_set(e, STRATA_EINVAL, "%s.%s[%zu]: %zu bytes, want 4 or 16", path,
                                  field, i, ips[i].len);
    return 0;
}

int mv_vnis(struct strata_err *e, const char *path, const char *field, size_t n,
            const uint32_t *vnis)
{
    TRY(mv_count(e, path, field, n, STRATA_MAX_VNIS));
    for (size_t i = 0; i < n; i++)
        if (!strata_vni_valid(vnis[i]))
            return strata_err_set(e, STRATA_EINVAL, "%s.%s[%zu]: VNI %u out of range %u..%u", path,
                                  field, i, vnis[i], STRATA_VNI_MIN, STRATA_VNI_MAX);
    return 0;
}

int mv_present(struct strata_err *e, const char *path, const char *field, const void *p)
{
    if (p == NULL)
        return strata_err_set(e, STRATA_EPROTO, "%s.%s: missing", path, field);
    return 0;
}

int mv_verdict(struct strata_err *e, const char *path, const char *field, int v, bool decided)
{
    if (decided && v != STRATA__V1__VERDICT__VERDICT_ALLOW &&
        v != STRATA__V1__VERDICT__VERDICT_DENY)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: %d, want ALLOW or DENY", path, field, v);
    if (v < STRATA__V1__VERDICT__VERDICT_UNKNOWN || v > STRATA__V1__VERDICT__VERDICT_DENY)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: unknown verdict %d", path, field, v);
    return 0;
}

int mv_kind(struct strata_err *e, const char *path, const char *field, int k, bool required)
{
    if (k < STRATA__V1__OBJ_KIND__OBJ_NONE || k > STRATA__V1__OBJ_KIND__OBJ_MEMBER ||
        (required && k == STRATA__V1__OBJ_KIND__OBJ_NONE))
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: unknown object kind %d", path, field, k);
    return 0;
}

/* A member id is a Raft server id: 0 is never valid. */
int mv_id(struct strata_err *e, const char *path, const char *field, uint64_t id)
{
    if (id == 0)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: must be non-zero", path, field);
    return 0;
}

/* libraft only understands IPv4 a.b.c.d:port. */
int mv_raft_addr(struct strata_err *e, const char *path, const char *field, const char *s)
{
    TRY(mv_str(e, path, field, s, true));
    char ip[16];
    uint16_t port;
    struct strata_err pe;
    if (strata_hostport_parse(s, ip, &port, &pe) < 0)
        return strata_err_set(e, STRATA_EINVAL, "%s.%s: %s", path, field, pe.msg);
    return 0;
}
