/* nl_sock.c - rtnetlink socket I/O with libmnl: request/ack, dumps, and a subscription socket
 * that reports lost notifications (ENOBUFS) distinctly so the caller can resynchronise. */
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "nl.h"

struct strata_nl {
    struct mnl_socket *sock;
    uint32_t portid;
    uint32_t seq;
    char buf[65536]; /* > MNL_SOCKET_BUFFER_SIZE (8 KiB pages): dumps fill it */
};

int strata_nl_open(unsigned groups, int rcvbuf, struct strata_nl **out, struct strata_err *e)
{
    struct strata_nl *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "netlink: out of memory");
    n->sock = mnl_socket_open(NETLINK_ROUTE);
    if (n->sock == NULL) {
        free(n);
        return strata_err_set(e, STRATA_EIO, "netlink socket: %s", strerror(errno));
    }
    if (rcvbuf > 0) {
        int fd = mnl_socket_get_fd(n->sock);
        /* FORCE ignores rmem_max (we are root); fall back to the capped form otherwise. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
            (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    if (mnl_socket_bind(n->sock, groups, MNL_SOCKET_AUTOPID) < 0) {
        int err = errno;
        mnl_socket_close(n->sock);
        free(n);
        return strata_err_set(e, STRATA_EIO, "netlink bind: %s", strerror(err));
    }
    if (groups != 0) {
        int fd = mnl_socket_get_fd(n->sock);
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    n->portid = mnl_socket_get_portid(n->sock);
    n->seq = (uint32_t)time(NULL);
    *out = n;
    return 0;
}

void strata_nl_close(struct strata_nl *n)
{
    if (n == NULL)
        return;
    mnl_socket_close(n->sock);
    free(n);
}

int strata_nl_fd(const struct strata_nl *n)
{
    return mnl_socket_get_fd(n->sock);
}

static int nl_sock_errcode(int err)
{
    switch (err) {
    case EEXIST:
        return STRATA_EEXIST;
    case ENOENT:
    case ENODEV:
        return STRATA_ENOTFOUND;
    case ENOMEM:
    case ENOBUFS:
        return STRATA_ENOMEM;
    default:
        return STRATA_EIO;
    }
}

struct nl_sock_dump {
    strata_nl_cb cb;
    void *arg;
};

static int nl_sock_data_cb(const struct nlmsghdr *nh, void *data)
{
    struct nl_sock_dump *d = data;
    if (d != NULL && d->cb != NULL)
        d->cb(nh, d->arg);
    return MNL_CB_OK;
}

bool strata_nl_lengths_ok(const char *buf, size_t len)
{
    size_t off = 0;
    while (len - off >= sizeof(struct nlmsghdr)) {
        const struct nlmsghdr *h = (const struct nlmsghdr *)(buf + off);
        if (h->nlmsg_len < sizeof(*h) || h->nlmsg_len > len - off)
            return false;
        off += NLMSG_ALIGN(h->nlmsg_len);
        if (off > len)
            break; /* the last message's padding may be missing */
    }
    return true;
}

/* Send msg and run the answer until the ack / NLMSG_DONE for our seq. */
static int nl_sock_exchange(struct strata_nl *n, struct nlmsghdr *nh, struct nl_sock_dump *d,
                            struct strata_err *e)
{
    nh->nlmsg_seq = ++n->seq;
    if (mnl_socket_sendto(n->sock, nh, nh->nlmsg_len) < 0)
        return strata_err_set(e, STRATA_EIO, "netlink send: %s", strerror(errno));
    for (;;) {
        ssize_t r = mnl_socket_recvfrom(n->sock, n->buf, sizeof(n->buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return strata_err_set(e, STRATA_EIO, "netlink recv: %s", strerror(errno));
        }
        if (!strata_nl_lengths_ok(n->buf, (size_t)r)) /* see strata_nl_recv */
            return strata_err_set(e, STRATA_EPROTO, "netlink: a message longer than its datagram");
        int rc = mnl_cb_run(n->buf, (size_t)r, nh->nlmsg_seq, n->portid, nl_sock_data_cb, d);
        if (rc == MNL_CB_STOP)
            return 0;
        if (rc < 0) {
            int err = errno;
            return strata_err_set(e, nl_sock_errcode(err), "netlink: %s", strerror(err));
        }
    }
}

int strata_nl_request(struct strata_nl *n, void *msg, struct strata_err *e)
{
    struct nlmsghdr *nh = msg;
    nh->nlmsg_flags |= NLM_F_ACK;
    return nl_sock_exchange(n, nh, NULL, e);
}

int strata_nl_get(struct strata_nl *n, void *msg, strata_nl_cb cb, void *arg, struct strata_err *e)
{
    struct nlmsghdr *nh = msg;
    struct nl_sock_dump d = {cb, arg};
    nh->nlmsg_flags |= NLM_F_ACK; /* the answer, then an ack that ends the exchange */
    return nl_sock_exchange(n, nh, &d, e);
}

int strata_nl_dump(struct strata_nl *n, void *msg, strata_nl_cb cb, void *arg, struct strata_err *e)
{
    struct nl_sock_dump d = {cb, arg};
    return nl_sock_exchange(n, msg, &d, e);
}

int strata_nl_recv(struct strata_nl *n, strata_nl_cb cb, void *arg, bool *overrun,
                   struct strata_err *e)
{
    return strata_nl_recv_max(n, 0, cb, arg, overrun, e);
}

int strata_nl_recv_max(struct strata_nl *n, unsigned max, strata_nl_cb cb, void *arg, bool *overrun,
                       struct strata_err *e)
{
    struct nl_sock_dump d = {cb, arg};
    *overrun = false;
    for (unsigned got = 0; max == 0 || got < max; got++) {
        struct sockaddr_nl from = {0};
        socklen_t flen = sizeof(from);
        ssize_t r = recvfrom(mnl_socket_get_fd(n->sock), n->buf, sizeof(n->buf), MSG_DONTWAIT,
                             (struct sockaddr *)&from, &flen);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == ENOBUFS) {
                *overrun = true;
                continue;
            }
            return strata_err_set(e, STRATA_EIO, "netlink recv: %s", strerror(errno));
        }
        /* Only the kernel's messages, and only lengths that fit what arrived: libmnl 1.0.4 takes
         * nlmsg_len as an int, so one of 2 GiB or more passes its check and the parsers read
         * that far (found by fuzz_nl). The kernel never sends one; another process with
         * CAP_NET_ADMIN in this namespace could. */
        if (from.nl_pid != 0 || !strata_nl_lengths_ok(n->buf, (size_t)r))
            continue;
        /* Notifications carry seq 0 and portid 0: accept any. */
        (void)mnl_cb_run(n->buf, (size_t)r, 0, 0, nl_sock_data_cb, &d);
    }
    return 0;
}
