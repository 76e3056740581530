/* fx_topo.c - the fault harness's topology: a bridge namespace (the harness, its clients and the
 * connectivity server) and one namespace per directory node, each on a veth to the bridge, so
 * that the nemesis can cut, drop and pause one node without touching the others. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/vfs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "dirclient.h"
#include "fx.h"
#include "h_tls.h"
#include "harness.h"

static struct fx_topo *fx_live;

/* Runs before h_cleanup (registered after it): the namespaces and the tmpfs go even when the
 * run fails; h_cleanup then kills the daemons (SIGKILL ends a stopped one too). */
static void fx_topo_cleanup(void)
{
    struct fx_topo *t = fx_live;
    if (t == NULL)
        return;
    fx_live = NULL;
    if (t->tmpfs_mounted)
        h_must("umount -l %s", t->data[FX_DISK_NODE]);
    for (int i = 0; i < FX_NODES; i++)
        if (t->ns[i][0])
            h_must("ip netns del %s", t->ns[i]);
    if (t->br_ns[0])
        h_must("ip netns del %s", t->br_ns);
}

static void fx_on_signal(int sig)
{
    (void)sig;
    exit(1); /* the atexit cleanups: namespaces, tmpfs, daemons */
}

/* Namespaces and tmpfs mounts left by a run that was SIGKILLed (a ctest timeout). */
static void fx_reap_stale(void)
{
    DIR *d = opendir("/run/netns");
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        int pid;
        char proc[64];
        if (sscanf(de->d_name, "stf-%d-", &pid) != 1)
            continue;
        snprintf(proc, sizeof(proc), "/proc/%d", pid);
        if (access(proc, F_OK) != 0)
            h_must("ip netns del %s", de->d_name);
    }
    if (d != NULL)
        closedir(d);
    /* our tmpfs mounts name their run: strata-faults-PID */
    FILE *m = fopen("/proc/mounts", "r");
    char src[256], dir[1024], type[64];
    while (m != NULL && fscanf(m, "%255s %1023s %63s %*[^\n]", src, dir, type) == 3) {
        int pid;
        char proc[64];
        if (strcmp(type, "tmpfs") != 0 || sscanf(src, "strata-faults-%d", &pid) != 1)
            continue;
        snprintf(proc, sizeof(proc), "/proc/%d", pid);
        if (access(proc, F_OK) != 0)
            h_must("umount -l %s", dir);
    }
    if (m != NULL)
        fclose(m);
}

bool fx_disk_is_tmpfs(const struct fx_topo *t)
{
    struct statfs sf;
    return t->tmpfs_mounted && statfs(t->data[FX_DISK_NODE], &sf) == 0 &&
           sf.f_type == 0x01021994 /* TMPFS_MAGIC */;
}

const char *fx_node_url(const struct fx_topo *t, int i)
{
    (void)t;
    static char url[FX_NODES][64];
    snprintf(url[i], sizeof(url[i]), "%s192.0.2.%d:7100", h_tls_scheme(), i + 1);
    return url[i];
}

int fx_node_start(struct fx_topo *t, int i)
{
    char id[16], raft[32], log[600], cluster[128];
    snprintf(id, sizeof(id), "%d", i + 1);
    snprintf(raft, sizeof(raft), "192.0.2.%d:7000", i + 1);
    snprintf(log, sizeof(log), "%s/dird%d.log", t->tmp, i + 1);
    snprintf(cluster, sizeof(cluster), "1=192.0.2.1:7000,2=192.0.2.2:7000,3=192.0.2.3:7000");
    char *argv[40] = {"/usr/sbin/ip",
                      "netns",
                      "exec",
                      t->ns[i],
                      (char *)h_bin("strata-dird"),
                      "--id",
                      id,
                      "--data-dir",
                      t->data[i],
                      "--raft",
                      raft,
                      "--api",
                      (char *)fx_node_url(t, i),
                      "--cluster",
                      cluster,
                      NULL};
    char ip[32];
    snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
    h_tls_args(argv, "directory", id, ip);
    t->dird[i] = h_spawn(argv, log);
    return t->dird[i] > 0 ? 0 : -1;
}

static int fx_csd_start(struct fx_topo *t, int i)
{
    char id[16], log[600];
    snprintf(id, sizeof(id), "cs%d", i + 1);
    snprintf(log, sizeof(log), "%s/csd%d.log", t->tmp, i + 1);
    snprintf(t->cs_url[i], sizeof(t->cs_url[i]), "%s192.0.2.254:%d", h_tls_scheme(), 7201 + i);
    char *argv[40] = {"/usr/sbin/ip",
                      "netns",
                      "exec",
                      t->br_ns,
                      (char *)h_bin("strata-csd"),
                      "--id",
                      id,
                      "--pod",
                      "p1",
                      "--listen",
                      t->cs_url[i],
                      "--directory",
                      t->dir_urls,
                      NULL};
    h_tls_args(argv, "connectivity", id, "192.0.2.254");
    t->csd[i] = h_spawn(argv, log);
    return t->csd[i] > 0 ? 0 : -1;
}

int fx_topo_start(struct fx_topo *t)
{
    memset(t, 0, sizeof(*t));
    t->pid = (int)getpid();
    fx_reap_stale();
    t->tmp = h_tmpdir("faults"); /* registers h_cleanup first: ours runs before it */
    if (t->tmp == NULL)
        return -1;
    fx_live = t;
    atexit(fx_topo_cleanup);
    signal(SIGTERM, fx_on_signal);
    signal(SIGINT, fx_on_signal);
    signal(SIGHUP, fx_on_signal);
    signal(SIGPIPE, SIG_IGN);
    snprintf(t->br_ns, sizeof(t->br_ns), "stf-%d-br", t->pid);
    if (h_must("ip netns add %s && ip -n %s link set lo up && ip -n %s link add br0 type bridge && "
               "ip -n %s addr add 192.0.2.254/24 dev br0 && ip -n %s link set br0 up",
               t->br_ns, t->br_ns, t->br_ns, t->br_ns, t->br_ns) != 0)
        return -1;
    for (int i = 0; i < FX_NODES; i++) {
        snprintf(t->ns[i], sizeof(t->ns[i]), "stf-%d-d%d", t->pid, i + 1);
        snprintf(t->data[i], sizeof(t->data[i]), "%s/dird%d", t->tmp, i + 1);
        if (h_must("ip netns add %s && ip -n %s link set lo up && ip -n %s link add v%d type veth "
                   "peer name eth0 netns %s && ip -n %s link set v%d master br0 up && ip -n %s "
                   "addr add 192.0.2.%d/24 dev eth0 && ip -n %s link set eth0 up && mkdir -p %s",
                   t->ns[i], t->ns[i], t->br_ns, i + 1, t->ns[i], t->br_ns, i + 1, t->ns[i], i + 1,
                   t->ns[i], t->data[i]) != 0)
            return -1;
    }
    /* 64 MiB: room for the run's log, small enough to fill in a moment */
    if (h_must("mount -t tmpfs -o size=%dm strata-faults-%d %s", FX_DISK_MB, t->pid,
               t->data[FX_DISK_NODE]) != 0)
        return -1;
    t->tmpfs_mounted = true;
    /* Every client of this process dials from the bridge namespace. */
    char path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", t->br_ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "strata-faults: setns %s: %s\n", path, strerror(errno));
        return -1;
    }
    close(fd);
    h_tls_operator();
    snprintf(t->dir_urls, sizeof(t->dir_urls), "%s,%s,%s", fx_node_url(t, 0), fx_node_url(t, 1),
             fx_node_url(t, 2));
    for (int i = 0; i < FX_NODES; i++)
        if (fx_node_start(t, i) != 0)
            return -1;
    for (int i = 0; i < FX_CSDS; i++)
        if (fx_csd_start(t, i) != 0)
            return -1;
    return 0;
}

int fx_cli(const struct fx_topo *t, int timeout_ms, const char *fmt, ...)
{
    char args[1024], cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "%s --directory %s %s >/dev/null 2>&1", h_bin("strata"), t->dir_urls,
             args);
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    do {
        if (h_run(cmd, NULL) == 0)
            return 0;
        usleep(200 * 1000); /* an operator's retry, not a synchronisation */
    } while (h_now_ms() < end);
    fprintf(stderr, "strata-faults: failed: strata %s\n", args);
    return -1;
}

int fx_leader(const struct fx_topo *t)
{
    for (int i = 0; i < FX_NODES; i++) {
        struct strata_sclient *c = NULL;
        struct strata_err e = {0};
        if (strata_sclient_open(fx_node_url(t, i), &c, &e) != 0)
            continue;
        strata_env req = STRATA__V1__ENVELOPE__INIT, *rep = NULL;
        Strata__V1__ClusterStatusRequest cs = STRATA__V1__CLUSTER_STATUS_REQUEST__INIT;
        req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS;
        req.cluster_status = &cs;
        int leader = -1;
        if (strata_sclient_call(c, &req, 400, &rep, &e) == 0 && rep->status == 0 &&
            rep->cluster_status_reply && rep->cluster_status_reply->self &&
            strcmp(rep->cluster_status_reply->self->role, "leader") == 0)
            leader = i;
        if (rep)
            strata_msg_free(rep);
        strata_sclient_close(c);
        if (leader >= 0)
            return leader;
    }
    return -1;
}

void fx_heal_all(struct fx_topo *t)
{
    for (int i = 0; i < FX_NODES; i++) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd),
                 "ip netns exec %s nft delete table inet fx 2>/dev/null; ip -n %s link set eth0 up",
                 t->ns[i], t->ns[i]);
        h_run(cmd, NULL);
        if (t->dird[i] > 0)
            kill(t->dird[i], SIGCONT);
        if (t->dird[i] <= 0 || !h_alive(t->dird[i]))
            fx_node_start(t, i);
    }
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -f %s/fill", t->data[FX_DISK_NODE]);
    h_run(cmd, NULL);
}
