/* harness.c - helpers for integration and system tests: spawn and reap daemons, temporary
 * directories, free ports, polling with a deadline, and cleanup that runs even when a test fails
 * (atexit). */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#define H_MAX_PIDS 256
#define H_MAX_DIRS 64

static pid_t h_pids[H_MAX_PIDS];
static int h_npids;
static char *h_dirs[H_MAX_DIRS];
static int h_ndirs;
static int h_atexit_done;
/* Exit statuses of processes h_alive() reaped, so a later h_stop() can still report them. */
struct h_exit {
    pid_t pid;
    int status;
};
static struct h_exit h_reaped[H_MAX_PIDS];
static int h_nreaped;

static void h_register_cleanup(void)
{
    if (!h_atexit_done) {
        h_atexit_done = 1;
        atexit(h_cleanup);
    }
}

static void h_forget(pid_t pid)
{
    for (int i = 0; i < h_npids; i++) {
        if (h_pids[i] == pid) {
            h_pids[i] = h_pids[--h_npids];
            return;
        }
    }
}

uint64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void h_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

const char *h_bin(const char *name)
{
    /* A small ring of buffers so that several h_bin() results can live in one argv. */
    static char bufs[16][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 16];
    const char *dir = getenv("STRATA_BIN");
    if (dir != NULL && *dir != '\0') {
        snprintf(b, PATH_MAX, "%s/%s", dir, name);
        return b;
    }
    /* Benchmarks are built into build/bin beside the daemons: look next to ourselves. */
    char self[PATH_MAX / 2]; /* half: leaves room for "/name" in b */
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash = n > 0 ? (self[n] = '\0', strrchr(self, '/')) : NULL;
    if (slash != NULL)
        *slash = '\0';
    snprintf(b, PATH_MAX, "%s/%s", slash != NULL ? self : "bin", name);
    return b;
}

const char *h_tmpdir(const char *tag)
{
    h_register_cleanup();
    if (h_ndirs >= H_MAX_DIRS)
        return NULL;
    const char *base = getenv("TMPDIR");
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof(tmpl), "%s/strata-%s-XXXXXX", base && *base ? base : "/tmp",
             tag ? tag : "test");
    if (mkdtemp(tmpl) == NULL)
        return NULL;
    char *d = strdup(tmpl);
    if (d == NULL)
        return NULL;
    h_dirs[h_ndirs++] = d;
    return d;
}

static int h_bind_any_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

int h_free_port(void)
{
    /* The kernel may hand out the same free port twice in a row (nothing holds it yet): never
     * give a test the same port twice. */
    static int given[1024];
    static int ngiven, next;
    for (int attempt = 0; attempt < 100; attempt++) {
        int port = h_bind_any_port();
        if (port < 0)
            return -1;
        bool dup = false;
        for (int i = 0; i < ngiven && !dup; i++)
            dup = given[i] == port;
        if (dup)
            continue;
        given[next++ % 1024] = port; /* a ring: the oldest is forgotten first */
        if (ngiven < 1024)
            ngiven++;
        return port;
    }
    return -1;
}

pid_t h_spawn(char *const argv[], const char *logpath)
{
    h_register_cleanup();
    if (h_npids >= H_MAX_PIDS)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (logpath != NULL) {
            int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
        }
        execv(argv[0], argv);
        fprintf(stderr, "h_spawn: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    h_pids[h_npids++] = pid;
    return pid;
}

static bool h_take_reaped(pid_t pid, int *status)
{
    for (int i = 0; i < h_nreaped; i++) {
        if (h_reaped[i].pid == pid) {
            *status = h_reaped[i].status;
            h_reaped[i] = h_reaped[--h_nreaped];
            return true;
        }
    }
    return false;
}

int h_stop(pid_t pid, int timeout_ms)
{
    if (pid <= 0)
        return -1;
    int reaped;
    if (h_take_reaped(pid, &reaped))
        return reaped;
    kill(pid, SIGTERM);
    uint64_t deadline = h_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            h_forget(pid);
            return status;
        }
        if (r < 0) {
            h_forget(pid);
            return -1;
        }
        if (h_now_ms() >= deadline)
            break;
        h_sleep_ms(5);
    }
    kill(pid, SIGKILL);
    pid_t r = waitpid(pid, &status, 0);
    h_forget(pid);
    return r == pid ? status : -1;
}

void h_kill9(pid_t pid)
{
    int reaped;
    if (pid <= 0 || h_take_reaped(pid, &reaped))
        return;
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    h_forget(pid);
}

bool h_alive(pid_t pid)
{
    if (pid <= 0)
        return false;
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == 0)
        return true;
    if (r == pid) { /* reaped: it exited; keep the status for h_stop */
        h_forget(pid);
        if (h_nreaped < H_MAX_PIDS)
            h_reaped[h_nreaped++] = (struct h_exit){pid, status};
    }
    return false;
}

bool h_wait_until(bool (*pred)(void *arg), void *arg, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (pred(arg))
            return true;
        if (h_now_ms() >= deadline)
            return false;
        h_sleep_ms(10);
    }
}

int h_run(const char *cmdline, char **out)
{
    if (out != NULL)
        *out = NULL;
    fflush(NULL);
    FILE *p = popen(cmdline, "r");
    if (p == NULL)
        return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf != NULL) {
        size_t n;
        while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
            len += n;
            if (cap - len < 1024) {
                char *nb = realloc(buf, cap * 2);
                if (nb == NULL)
                    break;
                buf = nb;
                cap *= 2;
            }
        }
        buf[len] = '\0';
    } else {
        char sink[4096];
        while (fread(sink, 1, sizeof(sink), p) > 0) {
        }
    }
    int st = pclose(p);
    if (out != NULL)
        *out = buf;
    else
        free(buf);
    if (st < 0 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static int h_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void h_cleanup(void)
{
    while (h_npids > 0) {
        pid_t pid = h_pids[--h_npids];
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
    }
    const char *keep = getenv("STRATA_KEEP");
    bool remove_dirs = !(keep && strcmp(keep, "1") == 0);
    while (h_ndirs > 0) {
        char *d = h_dirs[--h_ndirs];
        if (remove_dirs)
            nftw(d, h_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        else
            fprintf(stderr, "STRATA_KEEP: kept %s\n", d);
        free(d);
    }
}

char *h_http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return NULL;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf != NULL && (r = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)r;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    close(fd);
    if (buf == NULL)
        return NULL;
    buf[len] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0 || body == NULL) {
        free(buf);
        return NULL;
    }
    memmove(buf, body + 4, strlen(body + 4) + 1);
    return buf;
}

double h_metric(const char *text, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

bool h_dir_has_leader(void *url)
{
    Strata__V1__ClusterStatusRequest sr = STRATA__V1__CLUSTER_STATUS_REQUEST__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT, *rep = NULL;
    req.body_case = STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS;
    req.cluster_status = &sr;
    struct strata_sclient *c;
    bool ok = false;
    if (strata_sclient_open(url, &c, NULL) == 0) {
        ok = strata_sclient_call(c, &req, 500, &rep, NULL) == 0 && rep->status == 0 &&
             rep->cluster_status_reply->leader_id != 0;
        if (rep)
            strata_msg_free(rep);
        strata_sclient_close(c);
    }
    return ok;
}

char *h_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    return buf;
}

static char *h_slurp(const char *path)
{
    char *buf = h_read_file(path);
    return buf != NULL ? buf : strdup("");
}

struct h_out h_run_out(const char *cmdline, const char *dir)
{
    char err_path[PATH_MAX], cmd[8192];
    snprintf(err_path, sizeof(err_path), "%s/stderr.%d", dir, (int)getpid());
    snprintf(cmd, sizeof(cmd), "%s 2>%s", cmdline, err_path);
    struct h_out o = {0};
    uint64_t t0 = h_now_ms();
    o.status = h_run(cmd, &o.out);
    o.ms = h_now_ms() - t0;
    o.err = h_slurp(err_path);
    unlink(err_path);
    if (o.out == NULL)
        o.out = strdup("");
    if (o.err == NULL)
        o.err = strdup("");
    return o;
}

void h_out_free(struct h_out *o)
{
    free(o->out);
    free(o->err);
}

int h_must(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char *out = NULL;
    char full[4200];
    snprintf(full, sizeof(full), "%s 2>&1", cmd);
    int rc = h_run(full, &out);
    if (rc != 0)
        fprintf(stderr, "%s: exit %d: %s\n%s", program_invocation_short_name, rc, cmd,
                out ? out : "");
    free(out);
    return rc == 0 ? 0 : -1;
}
