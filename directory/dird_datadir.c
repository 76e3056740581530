/* dird_datadir.c - a data dir belongs to one process and to one node. The process holds a lock
 * on DIR/dird.lock for its life (the file names its pid), so a second strata-dird on the same
 * data dir is refused instead of writing the same Raft log. DIR/node.conf records the node's id
 * and Raft address, written once (first start, or the first start of a data dir made before the
 * file existed) and checked at every start: the log and the cluster's configuration speak of
 * that node, and starting it as another would make a second member out of one disk. Also the
 * Raft address's bind check, made before anything is written to the data dir. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "dird.h"
#include "fsutil.h"

#define DATADIR_LOCK "dird.lock"
#define DATADIR_OWNER "node.conf"

static int datadir_path(const struct dird *d, const char *name, char *buf, size_t len,
                        struct strata_err *e)
{
    if ((size_t)snprintf(buf, len, "%s/%s", d->cfg.data_dir, name) >= len)
        return strata_err_set(e, STRATA_EINVAL, "--data-dir %s: path too long", d->cfg.data_dir);
    return 0;
}

int dird_datadir_lock(struct dird *d, struct strata_err *e)
{
    char path[4096];
    if (datadir_path(d, DATADIR_LOCK, path, sizeof(path), e) != 0)
        return e->code;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return strata_err_set(e, STRATA_EIO, "data dir %s: cannot open %s: %s", d->cfg.data_dir,
                              path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char pid[32] = "";
        ssize_t n = err == EWOULDBLOCK ? pread(fd, pid, sizeof(pid) - 1, 0) : -1;
        close(fd);
        if (err != EWOULDBLOCK)
            return strata_err_set(e, STRATA_EIO, "data dir %s: cannot lock %s: %s", d->cfg.data_dir,
                                  path, strerror(err));
        pid[n > 0 ? n : 0] = '\0';
        pid[strspn(pid, "0123456789")] = '\0';
        return strata_err_set(e, STRATA_EBUSY,
                              "data dir %s is in use by another strata-dird (pid %s): one "
                              "process per data dir",
                              d->cfg.data_dir, pid[0] ? pid : "unknown");
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int err = errno;
        close(fd);
        return strata_err_set(e, STRATA_EIO, "data dir %s: cannot write %s: %s", d->cfg.data_dir,
                              path, strerror(err));
    }
    /* kept open, and so locked, until the process ends */
    d->lock_fd = fd;
    return 0;
}

/* The value of `key=` on a line of its own in text, into out; false when absent. */
static bool owner_field(const char *text, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        size_t n = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=' && n - klen - 1 < len) {
            memcpy(out, p + klen + 1, n - klen - 1);
            out[n - klen - 1] = '\0';
            return true;
        }
        p = eol != NULL ? eol + 1 : NULL;
    }
    return false;
}

int dird_datadir_owner_check(struct dird *d, bool *present, struct strata_err *e)
{
    char path[4096], text[1024], id[32], raft[256];
    *present = false;
    if (datadir_path(d, DATADIR_OWNER, path, sizeof(path), e) != 0)
        return e->code;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        return strata_err_set(e, STRATA_EIO, "data dir %s: cannot read %s: %s", d->cfg.data_dir,
                              path, strerror(errno));
    }
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    uint64_t owner_id;
    if (!owner_field(text, "id", id, sizeof(id)) ||
        !owner_field(text, "raft", raft, sizeof(raft)) ||
        strata_u64_parse(id, 1, UINT64_MAX, &owner_id, NULL) != 0)
        return strata_err_set(e, STRATA_EIO,
                              "data dir %s: %s is damaged (want lines id=N and raft=HOST:PORT)",
                              d->cfg.data_dir, path);
    *present = true;
    if (owner_id != d->cfg.id || strcmp(raft, d->cfg.raft_addr) != 0)
        return strata_err_set(e, STRATA_EINVAL,
                              "data dir %s belongs to node %llu at %s; started as node %llu at "
                              "%s (docs/directory.md, the data dir's owner)",
                              d->cfg.data_dir, (unsigned long long)owner_id, raft,
                              (unsigned long long)d->cfg.id, d->cfg.raft_addr);
    return 0;
}

int dird_datadir_owner_write(struct dird *d, struct strata_err *e)
{
    char path[4096], text[512];
    if (datadir_path(d, DATADIR_OWNER, path, sizeof(path), e) != 0)
        return e->code;
    int n = snprintf(text, sizeof(text),
                     "# strata-dird: the node this data dir belongs to, checked at every start\n"
                     "id=%llu\nraft=%s\n",
                     (unsigned long long)d->cfg.id, d->cfg.raft_addr);
    if (n < 0 || (size_t)n >= sizeof(text))
        return strata_err_set(e, STRATA_EINVAL, "--raft too long");
    struct strata_err fe;
    if (strata_file_create(path, 0640, text, (size_t)n, &fe) != 0)
        return strata_err_set(e, fe.code, "data dir %s: %s", d->cfg.data_dir, fe.msg);
    return 0;
}

int dird_raft_addr_check(const char *hostport, struct strata_err *e)
{
    char ip[16];
    uint16_t port;
    struct strata_err pe;
    if (strata_hostport_parse(hostport, ip, &port, &pe) != 0)
        return strata_err_set(e, STRATA_EINVAL, "--raft: %s", pe.msg);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return strata_err_set(e, STRATA_EIO, "--raft %s: socket: %s", hostport, strerror(errno));
    /* as libuv binds it: a connection of an earlier run in TIME_WAIT does not stand in the way */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? listen(fd, 1) : -1;
    int err = errno;
    close(fd);
    if (rc == 0)
        return 0;
    const char *why = err == EADDRINUSE      ? "address in use"
                      : err == EADDRNOTAVAIL ? "not a local address"
                                             : strerror(err);
    return strata_err_set(e, STRATA_EIO, "--raft %s: cannot listen: %s", hostport, why);
}
