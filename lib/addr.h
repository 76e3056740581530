/* addr.h - parsing and formatting of MACs, IPv4/IPv6 addresses, CIDRs, VNIs and host:port. */
#ifndef STRATA_ADDR_H
#define STRATA_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define STRATA_VNI_MIN 1u
#define STRATA_VNI_MAX 16777215u
#define STRATA_MAC_STRLEN 18 /* "02:00:00:00:00:01" + NUL */
#define STRATA_IP_STRLEN 46  /* INET6_ADDRSTRLEN */

struct strata_ip {
    uint8_t family; /* 4 or 6; 0 = unset */
    uint8_t a[16];  /* IPv4 uses a[0..3] */
};

struct strata_cidr {
    struct strata_ip ip; /* network address (host bits zero) */
    uint8_t plen;
};

/* "02:00:00:00:00:01" (also '-' separators, case-insensitive). Rejects anything else. */
int strata_mac_parse(const char *s, uint8_t mac[6], struct strata_err *e);
/* Lower-case colon form into buf[STRATA_MAC_STRLEN]; returns buf. */
char *strata_mac_format(const uint8_t mac[6], char *buf);
/* An endpoint MAC must be unicast (I/G bit clear) and not all-zero. */
bool strata_mac_is_unicast(const uint8_t mac[6]);
/* A VN's virtual gateway MAC, 02:53:54:<VNI as 3 bytes> (locally administered): every gateway
 * serving the VN answers for its gateway addresses with it, so a failover changes only the VTEP
 * hosts send to, never the MAC their VMs cached. The prefix is reserved: only the directory
 * places endpoints with it. */
void strata_gw_mac(uint32_t vni, uint8_t mac[6]);
bool strata_mac_is_gw(const uint8_t mac[6]);

/* Dotted IPv4 or RFC 4291 IPv6 text. Rejects empty strings, trailing junk, scope ids. */
int strata_ip_parse(const char *s, struct strata_ip *ip, struct strata_err *e);
/* Text form into buf[STRATA_IP_STRLEN]; returns buf ("?" for an unset address). */
char *strata_ip_format(const struct strata_ip *ip, char *buf);
/* From wire bytes (len 4 or 16); STRATA_EINVAL otherwise. */
int strata_ip_from_bytes(const uint8_t *b, size_t len, struct strata_ip *ip, struct strata_err *e);
/* Wire length of an address: 4, 16, or 0 when unset. */
size_t strata_ip_len(const struct strata_ip *ip);
bool strata_ip_equal(const struct strata_ip *a, const struct strata_ip *b);

/* "10.1.0.0/24" or "fd00::/64": the host bits must be zero (an operator typo otherwise). */
int strata_cidr_parse(const char *s, struct strata_cidr *c, struct strata_err *e);
/* "10.1.0.5/24": an interface address with its prefix length; host bits allowed. */
int strata_ipplen_parse(const char *s, struct strata_ip *ip, uint8_t *plen, struct strata_err *e);
/* "10.1.0.0/24" into buf[STRATA_IP_STRLEN + 4]. */
char *strata_cidr_format(const struct strata_cidr *c, char *buf);
bool strata_cidr_contains(const struct strata_cidr *c, const struct strata_ip *ip);
/* Why no host of c may hold ip: "the network address" (IPv4, and IPv6's subnet-router anycast),
 * "the broadcast address" (IPv4's last), or NULL when a host may. Point-to-point prefixes (/31,
 * /32, /127, /128) have neither. ip must be inside c. */
const char *strata_cidr_reserved(const struct strata_cidr *c, const struct strata_ip *ip);
/* Build a CIDR from wire bytes + plen, checking plen range and zero host bits. */
int strata_cidr_from_bytes(const uint8_t *b, size_t len, uint32_t plen, struct strata_cidr *c,
                           struct strata_err *e);

/* Decimal VNI in [1, 16777215]. */
int strata_vni_parse(const char *s, uint32_t *vni, struct strata_err *e);
bool strata_vni_valid(uint32_t vni);

/* Unsigned decimal with range check; rejects signs, junk, overflow. */
int strata_u64_parse(const char *s, uint64_t min, uint64_t max, uint64_t *out,
                     struct strata_err *e);

/* "a.b.c.d:port" (IPv4 only: libraft's address form). `ip` receives the dotted quad. */
int strata_hostport_parse(const char *s, char ip[16], uint16_t *port, struct strata_err *e);

/* A URL a Strata client or server can use: tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc://PATH.
 * `what` names it in the error ("--cs"): "--cs must be a URL like tcp://HOST:PORT (or
 * tls+tcp://HOST:PORT, ipc://PATH), not "127.0.0.1:7001"". Every daemon and the CLI check their
 * URL flags with it, so a forgotten scheme reads the same everywhere. */
int strata_url_check(const char *url, const char *what, struct strata_err *e);
/* strata_url_check on each of a comma-separated list (blanks around commas allowed); an empty
 * list is an error. */
int strata_urls_check(const char *urls, const char *what, struct strata_err *e);

/* An identifier (host id, domain, pod, gateway): 1..63 chars of [A-Za-z0-9._-]. */
int strata_name_check(const char *s, const char *what, struct strata_err *e);

#endif
