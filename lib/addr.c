/* addr.c - strict parsers and formatters for MACs, IPs, CIDRs, VNIs, numbers and host:port.
 * Every operator-facing and wire-facing address goes through here, so the rules live once. */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest input we quote back in an error message: enough to recognise, bounded for the log. */
#define ADDR_ECHO "%.64s"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int strata_mac_parse(const char *s, uint8_t mac[6], struct strata_err *e)
{
    if (s == NULL || *s == '\0')
        return strata_err_set(e, STRATA_EINVAL, "empty MAC address");
    if (strlen(s) != 17)
        return strata_err_set(
            e, STRATA_EINVAL,
            "bad MAC address \"" ADDR_ECHO "\": want 6 hex pairs like 02:00:00:00:00:01", s);
    char sep = s[2];
    if (sep != ':' && sep != '-')
        return strata_err_set(e, STRATA_EINVAL,
                              "bad MAC address \"" ADDR_ECHO "\": separator must be ':' or '-'", s);
    uint8_t out[6];
    for (int i = 0; i < 6; i++) {
        const char *p = s + 3 * i;
        int hi = hexval(p[0]), lo = hexval(p[1]);
        if (hi < 0 || lo < 0)
            return strata_err_set(e, STRATA_EINVAL,
                                  "bad MAC address \"" ADDR_ECHO "\": non-hex digit in group %d", s,
                                  i + 1);
        if (i < 5 && p[2] != sep)
            return strata_err_set(e, STRATA_EINVAL,
                                  "bad MAC address \"" ADDR_ECHO "\": mixed or missing separators",
                                  s);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(mac, out, 6);
    return 0;
}

char *strata_mac_format(const uint8_t mac[6], char *buf)
{
    snprintf(buf, STRATA_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
             mac[3], mac[4], mac[5]);
    return buf;
}

bool strata_mac_is_unicast(const uint8_t mac[6])
{
    static const uint8_t zero[6];
    return (mac[0] & 1) == 0 && memcmp(mac, zero, 6) != 0;
}

void strata_gw_mac(uint32_t vni, uint8_t mac[6])
{
    mac[0] = 0x02;
    mac[1] = 0x53;
    mac[2] = 0x54;
    mac[3] = (uint8_t)(vni >> 16);
    mac[4] = (uint8_t)(vni >> 8);
    mac[5] = (uint8_t)vni;
}

bool strata_mac_is_gw(const uint8_t mac[6])
{
    return mac[0] == 0x02 && mac[1] == 0x53 && mac[2] == 0x54;
}

int strata_ip_parse(const char *s, struct strata_ip *ip, struct strata_err *e)
{
    if (s == NULL || *s == '\0')
        return strata_err_set(e, STRATA_EINVAL, "empty IP address");
    size_t n = strlen(s);
    if (n >= STRATA_IP_STRLEN)
        return strata_err_set(e, STRATA_EINVAL, "bad IP address \"" ADDR_ECHO "...\": too long", s);
    /* inet_pton is strict about everything else (leading zeros, junk, whitespace) but the '%'
     * check makes the scope-id refusal explicit rather than a libc detail. */
    if (strchr(s, '%') != NULL)
        return strata_err_set(e, STRATA_EINVAL,
                              "bad IP address \"" ADDR_ECHO "\": scope ids are not allowed", s);
    struct strata_ip out = {0};
    int af = strchr(s, ':') != NULL ? AF_INET6 : AF_INET;
    if (inet_pton(af, s, out.a) != 1)
        return strata_err_set(e, STRATA_EINVAL, "bad IP address \"" ADDR_ECHO "\"", s);
    out.family = af == AF_INET6 ? 6 : 4;
    *ip = out;
    return 0;
}

char *strata_ip_format(const struct strata_ip *ip, char *buf)
{
    int af = ip->family == 4 ? AF_INET : ip->family == 6 ? AF_INET6 : 0;
    if (af == 0 || inet_ntop(af, ip->a, buf, STRATA_IP_STRLEN) == NULL)
        snprintf(buf, STRATA_IP_STRLEN, "?");
    return buf;
}

int strata_ip_from_bytes(const uint8_t *b, size_t len, struct strata_ip *ip, struct strata_err *e)
{
    if (len != 4 && len != 16)
        return strata_err_set(e, STRATA_EINVAL, "IP address of %zu bytes, want 4 or 16", len);
    struct strata_ip out = {0};
    out.family = len == 4 ? 4 : 6;
    memcpy(out.a, b, len);
    *ip = out;
    return 0;
}

size_t strata_ip_len(const struct strata_ip *ip)
{
    return ip->family == 4 ? 4 : ip->family == 6 ? 16 : 0;
}

bool strata_ip_equal(const struct strata_ip *a, const struct strata_ip *b)
{
    size_t n = strata_ip_len(a);
    return a->family == b->family && memcmp(a->a, b->a, n) == 0;
}

static unsigned addr_max_plen(const struct strata_ip *ip)
{
    return ip->family == 4 ? 32 : 128;
}

/* True when every bit of `ip` past the first `plen` is zero. */
static bool addr_host_bits_zero(const struct strata_ip *ip, unsigned plen)
{
    size_t n = strata_ip_len(ip);
    for (size_t i = 0; i < n; i++) {
        unsigned bit0 = (unsigned)i * 8;
        uint8_t hostmask;
        if (bit0 + 8 <= plen)
            hostmask = 0;
        else if (bit0 >= plen)
            hostmask = 0xff;
        else
            hostmask = (uint8_t)(0xff >> (plen - bit0));
        if (ip->a[i] & hostmask)
            return false;
    }
    return true;
}

static void addr_mask(struct strata_ip *ip, unsigned plen)
{
    size_t n = strata_ip_len(ip);
    for (size_t i = 0; i < n; i++) {
        unsigned bit0 = (unsigned)i * 8;
        if (bit0 >= plen)
            ip->a[i] = 0;
        else if (bit0 + 8 > plen)
            ip->a[i] &= (uint8_t)(0xff << (8 - (plen - bit0)));
    }
}

int strata_ipplen_parse(const char *s, struct strata_ip *ip, uint8_t *plen, struct strata_err *e)
{
    if (s == NULL || *s == '\0')
        return strata_err_set(e, STRATA_EINVAL, "empty prefix");
    const char *slash = strchr(s, '/');
    if (slash == NULL)
        return strata_err_set(e, STRATA_EINVAL,
                              "\"" ADDR_ECHO "\": missing /prefix-length (like 10.1.0.0/24)", s);
    size_t hlen = (size_t)(slash - s);
    if (hlen >= STRATA_IP_STRLEN)
        return strata_err_set(e, STRATA_EINVAL, "bad prefix \"" ADDR_ECHO "\": address too long",
                              s);
    char host[STRATA_IP_STRLEN];
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    struct strata_ip a;
    int rc = strata_ip_parse(host, &a, e);
    if (rc < 0)
        return rc;
    uint64_t p;
    struct strata_err pe;
    if (strata_u64_parse(slash + 1, 0, addr_max_plen(&a), &p, &pe) < 0)
        return strata_err_set(e, STRATA_EINVAL,
                              "bad prefix \"" ADDR_ECHO "\": prefix length must be 0..%u", s,
                              addr_max_plen(&a));
    *ip = a;
    *plen = (uint8_t)p;
    return 0;
}

int strata_cidr_parse(const char *s, struct strata_cidr *c, struct strata_err *e)
{
    struct strata_ip a;
    uint8_t plen;
    int rc = strata_ipplen_parse(s, &a, &plen, e);
    if (rc < 0)
        return rc;
    if (!addr_host_bits_zero(&a, plen)) {
        struct strata_ip net = a;
        addr_mask(&net, plen);
        char nbuf[STRATA_IP_STRLEN];
        return strata_err_set(e, STRATA_EINVAL, "%s has host bits set (did you mean %s/%u?)", s,
                              strata_ip_format(&net, nbuf), plen);
    }
    c->ip = a;
    c->plen = plen;
    return 0;
}

char *strata_cidr_format(const struct strata_cidr *c, char *buf)
{
    char ibuf[STRATA_IP_STRLEN];
    snprintf(buf, STRATA_IP_STRLEN + 4, "%s/%u", strata_ip_format(&c->ip, ibuf), c->plen);
    return buf;
}

bool strata_cidr_contains(const struct strata_cidr *c, const struct strata_ip *ip)
{
    if (c->ip.family != ip->family || c->ip.family == 0 || c->plen > addr_max_plen(ip))
        return false;
    struct strata_ip masked = *ip;
    addr_mask(&masked, c->plen);
    struct strata_ip net = c->ip;
    addr_mask(&net, c->plen);
    return strata_ip_equal(&masked, &net);
}

const char *strata_cidr_reserved(const struct strata_cidr *c, const struct strata_ip *ip)
{
    size_t bits = strata_ip_len(&c->ip) * 8;
    if (c->plen + 1u >= bits)
        return NULL;
    if (strata_ip_equal(ip, &c->ip))
        return "the network address";
    if (c->ip.family != 4)
        return NULL;
    struct strata_ip last = c->ip;
    for (size_t b = c->plen; b < bits; b++)
        last.a[b / 8] |= (uint8_t)(0x80u >> (b % 8));
    return strata_ip_equal(ip, &last) ? "the broadcast address" : NULL;
}

int strata_cidr_from_bytes(const uint8_t *b, size_t len, uint32_t plen, struct strata_cidr *c,
                           struct strata_err *e)
{
    struct strata_ip a;
    int rc = strata_ip_from_bytes(b, len, &a, e);
    if (rc < 0)
        return rc;
    if (plen > addr_max_plen(&a))
        return strata_err_set(e, STRATA_EINVAL, "prefix length %u out of range 0..%u", plen,
                              addr_max_plen(&a));
    if (!addr_host_bits_zero(&a, plen)) {
        char buf[STRATA_IP_STRLEN];
        return strata_err_set(e, STRATA_EINVAL, "%s/%u has host bits set",
                              strata_ip_format(&a, buf), plen);
    }
    c->ip = a;
    c->plen = (uint8_t)plen;
    return 0;
}

bool strata_vni_valid(uint32_t vni)
{
    return vni >= STRATA_VNI_MIN && vni <= STRATA_VNI_MAX;
}

int strata_vni_parse(const char *s, uint32_t *vni, struct strata_err *e)
{
    uint64_t v = 0; /* gcc -O3 cannot see that the error path never reads it */
    struct strata_err pe;
    if (strata_u64_parse(s, STRATA_VNI_MIN, STRATA_VNI_MAX, &v, &pe) < 0)
        return strata_err_set(e, STRATA_EINVAL, "bad VNI \"" ADDR_ECHO "\": want %u..%u",
                              s ? s : "", STRATA_VNI_MIN, STRATA_VNI_MAX);
    *vni = (uint32_t)v;
    return 0;
}

int strata_u64_parse(const char *s, uint64_t min, uint64_t max, uint64_t *out, struct strata_err *e)
{
    if (s == NULL || *s == '\0')
        return strata_err_set(e, STRATA_EINVAL, "empty number");
    /* strtoull accepts leading space, '+' and '-' (negating!): allow only digits. */
    for (const char *p = s; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return strata_err_set(e, STRATA_EINVAL, "bad number \"" ADDR_ECHO "\": digits only", s);
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || end == s || *end != '\0')
        return strata_err_set(e, STRATA_EINVAL, "number \"" ADDR_ECHO "\" too large", s);
    /* max 0 means unbounded, as in flags.h: nobody means "only zero" by (0, 0). */
    if (max == 0)
        max = UINT64_MAX;
    if (v < min || v > max)
        return strata_err_set(e, STRATA_EINVAL, "%llu out of range %llu..%llu", v,
                              (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)v;
    return 0;
}

int strata_hostport_parse(const char *s, char ip[16], uint16_t *port, struct strata_err *e)
{
    if (s == NULL || *s == '\0')
        return strata_err_set(e, STRATA_EINVAL, "empty address: want a.b.c.d:port");
    const char *colon = strrchr(s, ':');
    if (colon == NULL)
        return strata_err_set(e, STRATA_EINVAL, "bad address \"" ADDR_ECHO "\": want a.b.c.d:port",
                              s);
    size_t hlen = (size_t)(colon - s);
    char host[16];
    struct in_addr in;
    if (hlen == 0 || hlen >= sizeof(host))
        return strata_err_set(e, STRATA_EINVAL,
                              "bad address \"" ADDR_ECHO "\": want an IPv4 a.b.c.d:port", s);
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, &in) != 1)
        return strata_err_set(e, STRATA_EINVAL,
                              "bad address \"" ADDR_ECHO "\": want an IPv4 a.b.c.d:port", s);
    uint64_t p;
    struct strata_err pe;
    if (strata_u64_parse(colon + 1, 1, 65535, &p, &pe) < 0)
        return strata_err_set(e, STRATA_EINVAL,
                              "bad address \"" ADDR_ECHO "\": port must be 1..65535", s);
    memcpy(ip, host, hlen + 1);
    *port = (uint16_t)p;
    return 0;
}

int strata_name_check(const char *s, const char *what, struct strata_err *e)
{
    if (what == NULL)
        what = "name";
    if (s == NULL || *s == '\0')
        return strata_err_set(e, STRATA_EINVAL, "%s: empty", what);
    size_t n = 0;
    for (const char *p = s; *p != '\0'; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return strata_err_set(e, STRATA_EINVAL,
                                  "%s \"" ADDR_ECHO "\": only letters, digits, '.', '_', '-'", what,
                                  s);
        if (n >= 63)
            return strata_err_set(e, STRATA_EINVAL, "%s \"" ADDR_ECHO "...\": longer than 63", what,
                                  s);
    }
    return 0;
}

/* ------------------------------------------------------------------ URLs */

#define ADDR_URL_LIKE "a URL like tcp://HOST:PORT (or tls+tcp://HOST:PORT, ipc://PATH)"

int strata_url_check(const char *url, const char *what, struct strata_err *e)
{
    if (url == NULL || url[0] == '\0')
        return strata_err_set(e, STRATA_EINVAL, "%s must be " ADDR_URL_LIKE, what);
    const char *rest = NULL;
    if (strncmp(url, "tcp://", 6) == 0)
        rest = url + 6;
    else if (strncmp(url, "tls+tcp://", 10) == 0)
        rest = url + 10;
    else if (strncmp(url, "ipc://", 6) == 0) {
        if (url[6] == '\0')
            return strata_err_set(e, STRATA_EINVAL,
                                  "%s must be " ADDR_URL_LIKE ": \"%.200s\" has no path", what,
                                  url);
        return 0;
    } else {
        return strata_err_set(e, STRATA_EINVAL, "%s must be " ADDR_URL_LIKE ", not \"%.200s\"",
                              what, url);
    }
    const char *colon = strrchr(rest, ':');
    uint64_t port;
    if (colon == NULL || strata_u64_parse(colon + 1, 0, 65535, &port, NULL) != 0)
        return strata_err_set(e, STRATA_EINVAL,
                              "%s must be " ADDR_URL_LIKE ": \"%.200s\" lacks a HOST:PORT", what,
                              url);
    return 0;
}

int strata_urls_check(const char *urls, const char *what, struct strata_err *e)
{
    if (urls == NULL)
        return strata_url_check(NULL, what, e);
    char one[512];
    int n = 0;
    for (const char *p = urls;;) {
        p += strspn(p, " \t");
        size_t len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len >= sizeof(one))
            return strata_err_set(e, STRATA_EINVAL, "%s: a URL too long", what);
        if (len > 0) {
            memcpy(one, p, len);
            one[len] = '\0';
            int rc = strata_url_check(one, what, e);
            if (rc != 0)
                return rc;
            n++;
        }
        p += strcspn(p, ",");
        if (*p == '\0')
            break;
        p++;
    }
    return n > 0 ? 0 : strata_url_check(NULL, what, e);
}
