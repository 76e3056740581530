/* agent_port.c - VM ports: PortAttach/PortDetach from the control socket, the VN devices they
 * need, their registration at the connectivity server, and the ports file that lets a restarted
 * agent know them. */
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agentd.h"
#include "log.h"

static struct agent_port *port_find(struct agentd *d, const char *ifname)
{
    for (size_t i = 0; i < d->n_ports; i++)
        if (strcmp(d->ports[i].ifname, ifname) == 0)
            return &d->ports[i];
    return NULL;
}

/* One line per port: "IFNAME VNI MAC IP/PLEN"; written to a temporary file and renamed so a
 * crash never leaves half a file. */
static int port_save(struct agentd *d, struct strata_err *e)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", d->state_path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return strata_err_set(e, STRATA_EIO, "%s: %s", tmp, strerror(errno));
    for (size_t i = 0; i < d->n_ports; i++) {
        const struct agent_port *p = &d->ports[i];
        char m[STRATA_MAC_STRLEN], ip[STRATA_IP_STRLEN];
        fprintf(f, "%s %u %s %s/%u\n", p->ifname, p->vni, strata_mac_format(p->mac, m),
                strata_ip_format(&p->ip, ip), p->plen);
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        return strata_err_set(e, STRATA_EIO, "%s: %s", tmp, strerror(errno));
    }
    fclose(f);
    if (rename(tmp, d->state_path) != 0)
        return strata_err_set(e, STRATA_EIO, "%s: %s", d->state_path, strerror(errno));
    return 0;
}

static int port_add(struct agentd *d, const struct agent_port *p)
{
    struct agent_port *v = realloc(d->ports, (d->n_ports + 1) * sizeof(*v));
    if (v == NULL)
        return STRATA_ENOMEM;
    d->ports = v;
    d->ports[d->n_ports++] = *p;
    return 0;
}

static void port_remove(struct agentd *d, struct agent_port *p)
{
    size_t i = (size_t)(p - d->ports);
    d->ports[i] = d->ports[--d->n_ports];
}

int agent_port_load(struct agentd *d, struct strata_err *e)
{
    FILE *f = fopen(d->state_path, "r");
    if (f == NULL)
        return errno == ENOENT
                   ? 0
                   : strata_err_set(e, STRATA_EIO, "%s: %s", d->state_path, strerror(errno));
    char line[256];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        char ifname[64], vni[16], mac[32], ipp[64];
        if (sscanf(line, "%63s %15s %31s %63s", ifname, vni, mac, ipp) != 4)
            continue;
        struct agent_port p = {0};
        if (strlen(ifname) >= sizeof(p.ifname) || strata_vni_parse(vni, &p.vni, e) != 0 ||
            strata_mac_parse(mac, p.mac, e) != 0 ||
            strata_ipplen_parse(ipp, &p.ip, &p.plen, e) != 0) {
            LOG_WARN("%s: skipping bad line: %s", d->state_path, line);
            continue;
        }
        memcpy(p.ifname, ifname, strlen(ifname) + 1); /* length checked above */
        rc = port_add(d, &p);
    }
    fclose(f);
    return rc;
}

uint32_t *agent_port_vnis(const struct agentd *d, size_t *n)
{
    uint32_t *v = calloc(d->n_ports + 1, sizeof(*v));
    *n = 0;
    for (size_t i = 0; v != NULL && i < d->n_ports; i++) {
        bool dup = false;
        for (size_t j = 0; j < *n; j++)
            dup = dup || v[j] == d->ports[i].vni;
        if (!dup)
            v[(*n)++] = d->ports[i].vni;
    }
    return v;
}

/* Devices for a port's VN, then the port on its bridge. */
static int port_plug(struct agentd *d, struct agent_port *p, struct strata_err *e)
{
    struct node_vn *vn = node_vn_get(d->a, p->vni);
    if (vn == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    bool fresh = vn->ports == 0;
    int rc = d->a->dp.ops->vn_ensure(d->a->dp.ctx, p->vni, e);
    if (rc == 0)
        rc = d->a->dp.ops->port_enslave(d->a->dp.ctx, p->vni, p->ifname, e);
    if (rc != 0) {
        if (fresh) {
            struct strata_err e2;
            (void)d->a->dp.ops->vn_release(d->a->dp.ctx, p->vni, &e2);
            node_vn_remove(d->a, p->vni);
        }
        return rc;
    }
    vn->ports++;
    p->plugged = true;
    if (fresh && vn->n_flood > 0)
        (void)d->a->dp.ops->flood_set(d->a->dp.ctx, p->vni, vn->flood, vn->n_flood, NULL);
    return 0;
}

/* A known port onto its bridge again (its VN's devices made if they went); idempotent. */
static int port_replug(struct agentd *d, struct agent_port *p, struct strata_err *e)
{
    if (!p->plugged) /* restore could not plug it (the interface was gone): now it is */
        return port_plug(d, p, e);
    int rc = d->a->dp.ops->vn_ensure(d->a->dp.ctx, p->vni, e);
    return rc != 0 ? rc : d->a->dp.ops->port_enslave(d->a->dp.ctx, p->vni, p->ifname, e);
}

static void port_unplug(struct agentd *d, struct agent_port *p)
{
    struct strata_err e;
    if (!p->plugged)
        return; /* never counted: nothing of its VN to release either */
    p->plugged = false;
    if (d->a->dp.ops->port_release(d->a->dp.ctx, p->vni, p->ifname, &e) != 0)
        LOG_WARN("release %s: %s", p->ifname, e.msg);
    struct node_vn *vn = node_vn_find(d->a, p->vni);
    if (vn != NULL && vn->ports > 0)
        vn->ports--;
    if (vn == NULL || vn->ports == 0) {
        /* Last port of the VN here: its devices go, and with them every entry for it. */
        if (d->a->dp.ops->vn_release(d->a->dp.ctx, p->vni, &e) != 0)
            LOG_WARN("release vni=%u: %s", p->vni, e.msg);
        node_drop_vn(d->a, p->vni);
        node_vn_remove(d->a, p->vni);
    }
}

int agent_port_restore(struct agentd *d, struct strata_err *e)
{
    for (size_t i = 0; i < d->n_ports; i++) {
        struct strata_err e2;
        if (port_plug(d, &d->ports[i], &e2) != 0) {
            /* Report and go on (the OVN way): one vanished VM must not block the others. */
            LOG_WARN("restore port %s (vni %u): %s", d->ports[i].ifname, d->ports[i].vni, e2.msg);
        }
    }
    (void)e;
    return 0;
}

/* ---- registration at the connectivity server */

struct port_op {
    struct agentd *d;
    struct strata_req *req; /* NULL for a background re-registration */
    struct agent_port p;
    bool fresh;           /* a new attach: undone when the registration fails */
    struct port_op *next; /* in d->pending while parked */
    uint64_t deadline_ms; /* while parked: fail with EUNAVAIL after this */
};

/* How long an attach waits for the agent to be registered at some connectivity server: enough
 * for a failed call and a failover to the next server, and under the CLI's default 5 s timeout
 * so that the operator sees our answer rather than a timeout. */
#define PORT_PARK_MS 3000

static void port_fill_endpoint(struct agentd *d, const struct agent_port *p,
                               Strata__V1__Endpoint *ep, ProtobufCBinaryData *ipb)
{
    strata__v1__endpoint__init(ep);
    ep->vni = p->vni;
    ep->mac.data = (uint8_t *)p->mac;
    ep->mac.len = 6;
    ipb->data = (uint8_t *)p->ip.a;
    ipb->len = strata_ip_len(&p->ip);
    ep->ips = ipb;
    ep->n_ips = 1;
    ep->host = (char *)d->host;
    ep->vtep.data = d->vtep.a;
    ep->vtep.len = strata_ip_len(&d->vtep);
}

static void port_reply(struct strata_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void port_reply(struct strata_req *req, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    Strata__V1__PortReply pr = STRATA__V1__PORT_REPLY__INIT;
    pr.detail = detail;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_PORT_REPLY;
    env.port_reply = &pr;
    strata_req_reply(req, &env);
}

static int port_call_status(int rc, const strata_env *reply, char *msg, size_t cap)
{
    if (rc != 0) {
        snprintf(msg, cap, "connectivity server unreachable: %s", strata_strerror(rc));
        return rc;
    }
    if (reply->status != 0) {
        snprintf(msg, cap, "%s",
                 reply->message && *reply->message ? reply->message
                                                   : strata_strerror(reply->status));
        return reply->status;
    }
    return 0;
}

static void port_register_done(int rc, strata_env *reply, void *arg)
{
    struct port_op *o = arg;
    struct agentd *d = o->d;
    char msg[256];
    int st = port_call_status(rc, reply, msg, sizeof(msg));
    if (reply != NULL)
        strata_msg_free(reply);
    if (o->req == NULL) {
        if (st != 0)
            LOG_WARN("re-register %s: %s", o->p.ifname, msg);
        free(o);
        return;
    }
    if (d->nd.stopping) {
        strata_req_error(o->req, STRATA_EUNAVAIL, "agent stopping");
        free(o);
        return;
    }
    struct agent_port *p = port_find(d, o->p.ifname);
    if (st != 0) {
        /* Undo a new local attach: the port is not usable unless the network knows it. */
        if (p != NULL && o->fresh) {
            port_unplug(d, p);
            port_remove(d, p);
            struct strata_err e;
            if (port_save(d, &e) != 0)
                LOG_WARN("%s", e.msg);
        }
        strata_req_error(o->req, st, "register endpoint: %s", msg);
        free(o);
        return;
    }
    node_csd_fetch_flood(d->nd.csd, o->p.vni);
    char ip[STRATA_IP_STRLEN];
    LOG_INFO("port %s attached: vni=%u ip=%s", o->p.ifname, o->p.vni,
             strata_ip_format(&o->p.ip, ip));
    port_reply(o->req, "attached %s to br%u (vx%u), endpoint %s registered", o->p.ifname, o->p.vni,
               o->p.vni, ip);
    free(o);
}

static int port_send(struct port_op *o);

static void port_park_timer_cb(uv_timer_t *t)
{
    struct agentd *d = t->data;
    uint64_t now = strata_now_ms();
    struct port_op **pp = &d->pending;
    while (*pp != NULL) {
        struct port_op *o = *pp;
        if (o->deadline_ms > now) {
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        port_register_done(STRATA_EUNAVAIL, NULL, o);
    }
    if (d->pending == NULL)
        uv_timer_stop(t);
}

void agent_port_init(struct agentd *d)
{
    d->pending = NULL;
    uv_timer_init(&d->nd.uv, &d->pending_timer);
    d->pending_timer.data = d;
}

void agent_port_close(void *arg)
{
    struct agentd *d = arg;
    while (d->pending != NULL) {
        struct port_op *o = d->pending;
        d->pending = o->next;
        port_register_done(STRATA_EUNAVAIL, NULL, o);
    }
    uv_timer_stop(&d->pending_timer);
    uv_close((uv_handle_t *)&d->pending_timer, NULL);
}

/* A server refuses the ports of a host it has not registered, so an attach that arrives before
 * HostRegister succeeded (agent start, failover) waits for it instead of failing. */
static int port_register(struct agentd *d, const struct agent_port *p, struct strata_req *req,
                         bool fresh)
{
    struct port_op *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return STRATA_ENOMEM;
    *o = (struct port_op){.d = d, .req = req, .p = *p, .fresh = fresh};
    if (req != NULL && !node_csd_registered(d->nd.csd)) {
        o->deadline_ms = strata_now_ms() + PORT_PARK_MS;
        o->next = d->pending;
        d->pending = o;
        uv_timer_start(&d->pending_timer, port_park_timer_cb, 100, 100);
        return 0;
    }
    int rc = port_send(o);
    if (rc != 0)
        free(o);
    return rc;
}

/* Send o's PortRegister; on failure o still belongs to the caller. */
static int port_send(struct port_op *o)
{
    struct agentd *d = o->d;
    Strata__V1__Endpoint ep;
    ProtobufCBinaryData ipb;
    port_fill_endpoint(d, &o->p, &ep, &ipb);
    Strata__V1__PortRegister pr = STRATA__V1__PORT_REGISTER__INIT;
    pr.endpoint = &ep;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_PORT_REGISTER;
    env.port_register = &pr;
    return node_csd_call(d->nd.csd, &env, 2000, port_register_done, o);
}

static bool port_is_parked(const struct agentd *d, const char *ifname)
{
    for (const struct port_op *o = d->pending; o != NULL; o = o->next)
        if (strcmp(o->p.ifname, ifname) == 0)
            return true;
    return false;
}

void agent_port_reregister(void *arg, const Strata__V1__HostRegisterReply *reply)
{
    (void)reply;
    struct agentd *d = arg;
    for (size_t i = 0; i < d->n_ports; i++)
        if (!port_is_parked(d, d->ports[i].ifname))
            (void)port_register(d, &d->ports[i], NULL, false);
    /* Parked attaches go now, answered when the server replies. */
    struct port_op *o = d->pending;
    d->pending = NULL;
    uv_timer_stop(&d->pending_timer);
    while (o != NULL) {
        struct port_op *next = o->next;
        o->next = NULL;
        if (port_send(o) != 0)
            port_register_done(STRATA_EUNAVAIL, NULL, o);
        o = next;
    }
    size_t n;
    uint32_t *v = agent_port_vnis(d, &n);
    for (size_t i = 0; v != NULL && i < n; i++)
        node_csd_fetch_flood(d->nd.csd, v[i]);
    free(v);
}

void agent_port_attach(struct agentd *d, struct strata_req *req, const Strata__V1__PortAttach *pa)
{
    struct agent_port p = {0};
    struct strata_err e = {0};
    if (pa->ifname == NULL || pa->ifname[0] == '\0' || strlen(pa->ifname) >= sizeof(p.ifname)) {
        strata_req_error(req, STRATA_EINVAL, "ifname must be 1..%zu characters",
                         sizeof(p.ifname) - 1);
        return;
    }
    if (!strata_vni_valid(pa->vni) || pa->mac.len != 6 || !strata_mac_is_unicast(pa->mac.data) ||
        strata_ip_from_bytes(pa->ip.data, pa->ip.len, &p.ip, &e) != 0 ||
        pa->plen > (p.ip.family == 4 ? 32u : 128u)) {
        strata_req_error(req, STRATA_EINVAL,
                         "PortAttach needs a VNI, a unicast MAC and IP/PLEN%s%s",
                         e.msg[0] ? ": " : "", e.msg);
        return;
    }
    snprintf(p.ifname, sizeof(p.ifname), "%s", pa->ifname);
    p.vni = pa->vni;
    memcpy(p.mac, pa->mac.data, 6);
    p.plen = (uint8_t)pa->plen;
    /* One MAC is one endpoint: a second port with it would make a detach of either remove
     * the other's endpoint from the directory (issue 24). */
    for (size_t i = 0; i < d->n_ports; i++) {
        const struct agent_port *q = &d->ports[i];
        char m[STRATA_MAC_STRLEN];
        if (q->vni == p.vni && memcmp(q->mac, p.mac, 6) == 0 && strcmp(q->ifname, p.ifname) != 0) {
            strata_req_error(req, STRATA_EEXIST, "%s in VN %u is already attached on %s",
                             strata_mac_format(p.mac, m), p.vni, q->ifname);
            return;
        }
    }
    struct agent_port *old = port_find(d, p.ifname);
    if (old != NULL) {
        if (old->vni != p.vni || memcmp(old->mac, p.mac, 6) != 0 ||
            !strata_ip_equal(&old->ip, &p.ip) || old->plen != p.plen) {
            /* Changing a port is a detach and an attach: answering "attached" here left the
             * old address in place (issue 24). */
            char m[STRATA_MAC_STRLEN], ip[STRATA_IP_STRLEN];
            strata_req_error(req, STRATA_EEXIST,
                             "%s is already attached as %s %s/%u in VN %u: detach it first to "
                             "change it",
                             p.ifname, strata_mac_format(old->mac, m),
                             strata_ip_format(&old->ip, ip), old->plen, old->vni);
            return;
        }
        /* The same port again: plug it again all the same. After a reboot the ports file
         * survives but the interface is new (same name, not on our bridge): answering
         * "attached" without plugging it left the VM cut off (issue 24). */
        if (port_replug(d, old, &e) != 0) {
            strata_req_error(req, e.code, "%s", e.msg);
            return;
        }
    } else {
        if (port_plug(d, &p, &e) != 0) {
            strata_req_error(req, e.code, "%s", e.msg);
            return;
        }
        if (port_add(d, &p) != 0 || port_save(d, &e) != 0) {
            LOG_WARN("ports file: %s", e.msg);
        }
    }
    int rc = port_register(d, &p, req, old == NULL);
    if (rc != 0) {
        struct agent_port *q = port_find(d, p.ifname);
        if (q != NULL && old == NULL) {
            port_unplug(d, q);
            port_remove(d, q);
            (void)port_save(d, NULL);
        }
        strata_req_error(req, rc, "cannot reach a connectivity server");
    }
}

struct port_del {
    struct agentd *d;
    struct strata_req *req;
    char ifname[IF_NAMESIZE];
};

static void port_unregister_done(int rc, strata_env *reply, void *arg)
{
    struct port_del *o = arg;
    char msg[256];
    int st = port_call_status(rc, reply, msg, sizeof(msg));
    if (reply != NULL)
        strata_msg_free(reply);
    if (st != 0 && st != STRATA_ENOTFOUND)
        strata_req_error(o->req, st, "detached locally, but unregister failed: %s", msg);
    else
        port_reply(o->req, "detached %s, endpoint unregistered", o->ifname);
    free(o);
}

void agent_port_detach(struct agentd *d, struct strata_req *req, const Strata__V1__PortDetach *pd)
{
    struct agent_port *p = pd->ifname != NULL ? port_find(d, pd->ifname) : NULL;
    if (p == NULL) {
        strata_req_error(req, STRATA_ENOTFOUND, "no port %s", pd->ifname ? pd->ifname : "");
        return;
    }
    struct agent_port copy = *p;
    port_unplug(d, p);
    port_remove(d, p);
    struct strata_err e;
    if (port_save(d, &e) != 0)
        LOG_WARN("%s", e.msg);
    struct port_del *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        strata_req_error(req, STRATA_ENOMEM, "out of memory");
        return;
    }
    o->d = d;
    o->req = req;
    snprintf(o->ifname, sizeof(o->ifname), "%s", copy.ifname);
    Strata__V1__EndpointDelete del = STRATA__V1__ENDPOINT_DELETE__INIT;
    del.vni = copy.vni;
    del.mac.data = copy.mac;
    del.mac.len = 6;
    Strata__V1__PortUnregister pu = STRATA__V1__PORT_UNREGISTER__INIT;
    pu.del = &del;
    strata_env env = STRATA__V1__ENVELOPE__INIT;
    env.body_case = STRATA__V1__ENVELOPE__BODY_PORT_UNREGISTER;
    env.port_unregister = &pu;
    if (node_csd_call(d->nd.csd, &env, 2000, port_unregister_done, o) != 0) {
        strata_req_error(req, STRATA_EUNAVAIL, "detached locally; no connectivity server");
        free(o);
    }
}

static bool port_ctl(void *arg, struct strata_req *req, const strata_env *env)
{
    struct agentd *d = arg;
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_PORT_ATTACH:
        agent_port_attach(d, req, env->port_attach);
        return true;
    case STRATA__V1__ENVELOPE__BODY_PORT_DETACH:
        agent_port_detach(d, req, env->port_detach);
        return true;
    default:
        return false;
    }
}

static uint32_t *port_keep_vnis(void *arg, const struct node_domain *dom, size_t *n)
{
    (void)dom; /* one domain */
    return agent_port_vnis(arg, n);
}

const struct node_daemon_hooks agent_port_hooks = {
    .ctl = port_ctl,
    .registered = agent_port_reregister,
    .keep_vnis = port_keep_vnis,
    .stopping = agent_port_close,
};
