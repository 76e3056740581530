/* sp_tcp.c - tcp:// URLs for the loop transports (server_uv.c, client_uv.c): split once,
 * resolve when needed, an IPv4 address preferred. A client looks names up with uv_getaddrinfo
 * (client_uv.c); here are the lookups that never wait on DNS or run at startup. */
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "sp_wire.h"

/* Errors name the problem, not the URL: callers say whose URL it is. */
int sp_tcp_split(const char *url, struct sp_tcp_addr *a, struct strata_err *e)
{
    const char *hp = strstr(url, "://"); /* tcp:// or tls+tcp:// */
    if (hp == NULL)
        return strata_err_set(e, STRATA_EINVAL, "not a URL like tcp://HOST:PORT");
    hp += 3;
    const char *colon = strrchr(hp, ':');
    if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) >= sizeof(a->port))
        return strata_err_set(e, STRATA_EINVAL, "no port");
    size_t hl = (size_t)(colon - hp);
    if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') {
        hp++;
        hl -= 2;
    }
    if (hl >= sizeof(a->host))
        return strata_err_set(e, STRATA_EINVAL, "host name too long");
    memcpy(a->host, hp, hl);
    a->host[hl] = '\0';
    snprintf(a->port, sizeof(a->port), "%s", colon + 1);
    return 0;
}

void sp_tcp_pick(const struct addrinfo *res, struct sockaddr_storage *ss)
{
    const struct addrinfo *pick = res;
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
        if (ai->ai_family == AF_INET) { /* clients dialling "localhost" usually get this one */
            pick = ai;
            break;
        }
    memcpy(ss, pick->ai_addr, pick->ai_addrlen);
}

/* A listener (any address when the host is empty or "*"; a name may be looked up, once, at
 * startup) or a client (a numeric address only: names go through uv_getaddrinfo). */
static int sp_tcp_lookup(const struct sp_tcp_addr *a, bool listener, struct sockaddr_storage *ss,
                         struct strata_err *e)
{
    bool any = listener && (a->host[0] == '\0' || strcmp(a->host, "*") == 0);
    if (!listener && a->host[0] == '\0')
        return strata_err_set(e, STRATA_EINVAL, "no host to connect to");
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (listener ? AI_PASSIVE : AI_NUMERICHOST),
                             .ai_family = any ? AF_INET : AF_UNSPEC};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(any ? NULL : a->host, a->port, &hints, &res);
    if (rc != 0)
        return strata_err_set(e, STRATA_EINVAL, "%s", gai_strerror(rc));
    sp_tcp_pick(res, ss);
    freeaddrinfo(res);
    return 0;
}

int sp_tcp_resolve(const struct sp_tcp_addr *a, struct sockaddr_storage *ss, struct strata_err *e)
{
    return sp_tcp_lookup(a, true, ss, e);
}

int sp_tcp_numeric(const struct sp_tcp_addr *a, struct sockaddr_storage *ss)
{
    struct strata_err e;
    return sp_tcp_lookup(a, false, ss, &e) == 0 ? 0 : STRATA_ENOTFOUND;
}
