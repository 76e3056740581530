/* storm-bench - a reconnect storm at one connectivity server: N simulated agents
 * (bench/lib/storm_agents.c: the real agent's client, each agent on its own connection and, over
 * TLS, with its own certificate, so its own handshake) register at a strata-csd and park their
 * long-polls; the server is restarted on the same port, and the bench times how long after the
 * new server listens every agent is registered again with its poll parked. Plaintext and mutual
 * TLS in the same run, alternating, --rounds storms each. One JSON object on stdout, progress
 * on stderr; see docs/benchmarks.md. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "dir_bench_stats.h"
#include "flags.h"
#include "h_tls.h"
#include "harness.h"
#include "log.h"
#include "loop.h"
#include "msg.h"
#include "pki.h"
#include "storm_agents.h"
#include "tls.h"

#define say(...) (fprintf(stderr, "storm-bench: " __VA_ARGS__), fputc('\n', stderr))

#define STORM_TARGET_MS 5000.0 /* issue 21: 1,000 agents of a pod back within 5 s */
#define STORM_ROUNDS_MAX 10
#define STORM_PREFIX "storm"
#define STORM_CSD_ID "storm-csd"
#define STORM_POLL_US 5000 /* how often the server's parked-poll gauge is read */

static struct {
    uint64_t agents, rounds, timeout_ms;
    const char *pki, *bin;
    bool kill9;
    const char *base;
    struct strata_tls **tls; /* agent i's context */
    char errors[8][300];
    unsigned nerrors;
} B = {.agents = 1000, .rounds = 2, .timeout_ms = 60000};

static void bench_error(const char *what, const char *msg)
{
    char line[300];
    snprintf(line, sizeof(line), "%s: %s", what, msg);
    say("%s", line);
    if (B.nerrors < sizeof(B.errors) / sizeof(B.errors[0]))
        snprintf(B.errors[B.nerrors++], sizeof(B.errors[0]), "%s", line);
}

/* ---------------------------------------------------------------- certificates */

struct certs {
    unsigned issued, cached;
    double issue_ms, load_ms;
};

/* Every agent's certificate (issued into --pki when missing, reused otherwise) and its context:
 * the first run pays for the issuing, later ones only for loading. */
static int certs_prepare(struct certs *c, struct strata_err *e)
{
    B.tls = calloc(B.agents, sizeof(*B.tls));
    struct strata_tls_files *f = calloc(B.agents, sizeof(*f));
    if (B.tls == NULL || f == NULL) {
        free(f);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    uint64_t t0 = strata_now_us();
    for (unsigned i = 0; i < B.agents; i++) {
        char host[32], crt[STRATA_PKI_PATH_MAX];
        storm_agent_host(STORM_PREFIX, i, host, sizeof(host));
        if (strata_pki_path(h_tls_dir(), host, "crt", crt, sizeof(crt), e) != 0)
            return e->code;
        bool had = access(crt, F_OK) == 0;
        f[i] = h_tls_files("agent", host, NULL);
        c->issued += !had;
        c->cached += had;
    }
    uint64_t t1 = strata_now_us();
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < B.agents; i++)
        rc = strata_tls_open(&f[i], &B.tls[i], e);
    uint64_t t2 = strata_now_us();
    free(f);
    c->issue_ms = (double)(t1 - t0) / 1000.0;
    c->load_ms = (double)(t2 - t1) / 1000.0;
    return rc;
}

/* ---------------------------------------------------------------- servers */

struct mode {
    bool tls;
    const char *name; /* "plaintext", "tls" */
    char dir_api[64];
    pid_t dird;
};

/* One directory node per mode, up for the whole run: HostRegister is a directory write. */
static int dird_start(struct mode *m, struct strata_err *e)
{
    char raft[32], ddir[300], log[300], cluster[64];
    snprintf(raft, sizeof(raft), "127.0.0.1:%d", h_free_port());
    snprintf(m->dir_api, sizeof(m->dir_api), "%s127.0.0.1:%d", m->tls ? "tls+tcp://" : "tcp://",
             h_free_port());
    snprintf(ddir, sizeof(ddir), "%s/dird-%s", B.base, m->name);
    snprintf(cluster, sizeof(cluster), "1=%s", raft);
    snprintf(log, sizeof(log), "%s/dird-%s.log", B.base, m->name);
    char *argv[20] = {(char *)h_bin("strata-dird"),
                      "--id",
                      "1",
                      "--data-dir",
                      ddir,
                      "--raft",
                      raft,
                      "--api",
                      m->dir_api,
                      "--cluster",
                      cluster};
    int n = 11;
    if (m->tls)
        h_tls_flags(argv, &n, "directory", "1", NULL);
    argv[n] = NULL;
    m->dird = h_spawn(argv, log);
    if (m->dird <= 0 || !h_wait_until(h_dir_has_leader, m->dir_api, 20000))
        return strata_err_set(e, STRATA_EUNAVAIL, "strata-dird did not start (log %s)", log);
    return 0;
}

struct csd {
    int port, metrics_port;
    char url[64], metrics[32], log[300];
    pid_t pid;
};

static void csd_spawn(const struct mode *m, struct csd *c)
{
    char *argv[24] = {(char *)h_bin("strata-csd"),
                      "--id",
                      STORM_CSD_ID,
                      "--pod",
                      "p1",
                      "--listen",
                      c->url,
                      "--directory",
                      (char *)m->dir_api,
                      "--metrics",
                      c->metrics};
    int n = 11;
    if (m->tls)
        h_tls_flags(argv, &n, "connectivity", STORM_CSD_ID, NULL);
    argv[n] = NULL;
    c->pid = h_spawn(argv, c->log);
}

/* When the server at `port` first accepts a connection (strata_now_us), or 0 when it died or
 * did not listen within timeout_ms. A plain connect: over TLS the server just sees a client
 * that left before its handshake. */
static uint64_t wait_listen(int port, pid_t pid, unsigned timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint64_t deadline = strata_now_ms() + timeout_ms;
    while (strata_now_ms() < deadline && h_alive(pid)) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return strata_now_us();
        usleep(200);
    }
    return 0;
}

/* The server's gauge of parked long-polls, or -1 when its metrics cannot be read. */
static double csd_parked(const struct csd *c)
{
    char *text = h_http_get(c->metrics_port, "/metrics");
    double v = text != NULL ? h_metric(text, "strata_cs_parked") : -1;
    free(text);
    return v;
}

/* Wait until the server holds every agent's poll and every agent registered after `since_us`:
 * then the storm is over. Returns that moment (strata_now_us), or 0 on timeout. */
static uint64_t wait_parked(const struct csd *c, struct storm_agents *ag, uint64_t *reg,
                            uint64_t since_us, double *last_parked, unsigned *last_regs)
{
    uint64_t deadline = strata_now_ms() + B.timeout_ms;
    while (strata_now_ms() < deadline) {
        double parked = csd_parked(c);
        storm_agents_registered(ag, reg);
        unsigned regs = 0;
        for (unsigned i = 0; i < B.agents; i++)
            regs += reg[i] > since_us;
        *last_parked = parked;
        *last_regs = regs;
        if (regs == B.agents && parked >= (double)B.agents)
            return strata_now_us();
        usleep(STORM_POLL_US);
    }
    return 0;
}

/* ---------------------------------------------------------------- one storm */

struct storm {
    bool ok;
    double cold_ms;     /* fresh server, agents started -> all registered and parked */
    double down_ms;     /* signal -> the new server listens */
    double start_ms;    /* the new server: spawn -> listening */
    double reg_ms[4];   /* from the new listen: first, median, p99, last agent registered */
    double parked_ms;   /* from the new listen: all registered and parked (the figure) */
    double csd_cpu_ms;  /* the new server, from its start to the end of the storm */
    double dird_cpu_ms; /* the directory node meanwhile (HostRegister writes) */
    double self_cpu_ms; /* this process meanwhile: the agents' side of every handshake */
};

static double pct_ms(uint64_t *v, size_t n, double p, uint64_t t0)
{
    uint64_t x = dir_bench_pct_u64(v, n, p);
    return x > t0 ? (double)(x - t0) / 1000.0 : 0;
}

static void storm_run(const struct mode *m, unsigned round, struct storm *out)
{
    memset(out, 0, sizeof(*out));
    struct csd c = {.port = h_free_port(), .metrics_port = h_free_port()};
    snprintf(c.url, sizeof(c.url), "%s127.0.0.1:%d", m->tls ? "tls+tcp://" : "tcp://", c.port);
    snprintf(c.metrics, sizeof(c.metrics), "127.0.0.1:%d", c.metrics_port);
    snprintf(c.log, sizeof(c.log), "%s/csd-%s-%u.log", B.base, m->name, round);
    uint64_t *reg = calloc(B.agents, sizeof(*reg));
    struct storm_agents *ag = NULL;
    struct strata_err e = {0};
    char what[64];
    snprintf(what, sizeof(what), "%s storm %u", m->name, round + 1);
    csd_spawn(m, &c);
    if (reg == NULL || c.pid <= 0 || wait_listen(c.port, c.pid, 10000) == 0 || csd_parked(&c) < 0) {
        bench_error(what, "strata-csd did not start");
        goto out;
    }
    /* All agents at once against the fresh server: the cold start. */
    struct storm_agents_opts ao = {.url = c.url,
                                   .n = (unsigned)B.agents,
                                   .prefix = STORM_PREFIX,
                                   .tls = m->tls ? B.tls : NULL,
                                   .call_timeout_ms = 500,
                                   .poll_wait_ms = 1000};
    uint64_t t0 = strata_now_us();
    if (storm_agents_start(&ao, &ag, &e) != 0) {
        bench_error(what, e.msg);
        goto out;
    }
    double parked = 0;
    unsigned regs = 0;
    uint64_t t1 = wait_parked(&c, ag, reg, 0, &parked, &regs);
    if (t1 == 0) {
        snprintf(e.msg, sizeof(e.msg), "cold start: %u registered, %.0f parked after %llu ms", regs,
                 parked, (unsigned long long)B.timeout_ms);
        bench_error(what, e.msg);
        goto out;
    }
    out->cold_ms = (double)(t1 - t0) / 1000.0;
    usleep(1500 * 1000); /* a steady state: every poll answered and parked again at least once */

    /* The restart: the same port, a server that knows nothing. */
    uint64_t t_kill = strata_now_us();
    if (B.kill9)
        h_kill9(c.pid);
    else
        h_stop(c.pid, 5000);
    double dird0 = dir_bench_procs_cpu_s(&m->dird, 1), self0 = dir_bench_self_cpu_s();
    uint64_t t_spawn = strata_now_us();
    csd_spawn(m, &c);
    uint64_t t_listen = c.pid > 0 ? wait_listen(c.port, c.pid, 10000) : 0;
    if (t_listen == 0) {
        bench_error(what, "the restarted strata-csd did not listen");
        goto out;
    }
    uint64_t t_end = wait_parked(&c, ag, reg, t_kill, &parked, &regs);
    double csd_cpu = dir_bench_procs_cpu_s(&c.pid, 1);
    double dird1 = dir_bench_procs_cpu_s(&m->dird, 1), self1 = dir_bench_self_cpu_s();
    if (t_end == 0) {
        snprintf(e.msg, sizeof(e.msg),
                 "after the restart: %u registered, %.0f parked after %llu ms", regs, parked,
                 (unsigned long long)B.timeout_ms);
        bench_error(what, e.msg);
        goto out;
    }
    dir_bench_sort_u64(reg, B.agents);
    out->ok = true;
    out->down_ms = (double)(t_listen - t_kill) / 1000.0;
    out->start_ms = (double)(t_listen - t_spawn) / 1000.0;
    out->reg_ms[0] = pct_ms(reg, B.agents, 0.0, t_listen);
    out->reg_ms[1] = pct_ms(reg, B.agents, 0.5, t_listen);
    out->reg_ms[2] = pct_ms(reg, B.agents, 0.99, t_listen);
    out->reg_ms[3] = pct_ms(reg, B.agents, 1.0, t_listen);
    out->parked_ms = (double)(t_end - t_listen) / 1000.0;
    out->csd_cpu_ms = csd_cpu * 1000.0;
    out->dird_cpu_ms = (dird1 - dird0) * 1000.0;
    out->self_cpu_ms = (self1 - self0) * 1000.0;
    say("%s: cold start %.0f ms; restart: down %.0f ms (start %.0f), from listen: registered "
        "first %.0f / p50 %.0f / p99 %.0f / last %.0f ms, all parked %.0f ms; CPU ms: csd %.0f, "
        "dird %.0f, agents %.0f",
        what, out->cold_ms, out->down_ms, out->start_ms, out->reg_ms[0], out->reg_ms[1],
        out->reg_ms[2], out->reg_ms[3], out->parked_ms, out->csd_cpu_ms, out->dird_cpu_ms,
        out->self_cpu_ms);
out:
    storm_agents_stop(ag);
    if (c.pid > 0)
        h_stop(c.pid, 5000);
    free(reg);
}

/* ---------------------------------------------------------------- report */

#define MED(field)                                                                                 \
    do {                                                                                           \
        for (unsigned i = 0; i < n; i++)                                                           \
            v[i] = ok[i]->field;                                                                   \
        med->field = dir_bench_median(v, n);                                                       \
    } while (0)

/* The median storm of the rounds that completed (field by field); false when none did. */
static bool storm_median(const struct storm *s, unsigned rounds, struct storm *med)
{
    const struct storm *ok[STORM_ROUNDS_MAX];
    double v[STORM_ROUNDS_MAX];
    unsigned n = 0;
    for (unsigned r = 0; r < rounds; r++)
        if (s[r].ok)
            ok[n++] = &s[r];
    memset(med, 0, sizeof(*med));
    if (n == 0)
        return false;
    MED(cold_ms);
    MED(down_ms);
    MED(start_ms);
    for (int k = 0; k < 4; k++)
        MED(reg_ms[k]);
    MED(parked_ms);
    MED(csd_cpu_ms);
    MED(dird_cpu_ms);
    MED(self_cpu_ms);
    med->ok = true;
    return true;
}

static void json_storm(FILE *out, const struct storm *s)
{
    fprintf(out,
            "{\"cold_ms\":%.1f,\"down_ms\":%.1f,\"start_ms\":%.1f,\"registered_first_ms\":%.1f,"
            "\"registered_p50_ms\":%.1f,\"registered_p99_ms\":%.1f,\"registered_last_ms\":%.1f,"
            "\"parked_ms\":%.1f,\"csd_cpu_ms\":%.0f,\"dird_cpu_ms\":%.0f,\"agents_cpu_ms\":%.0f}",
            s->cold_ms, s->down_ms, s->start_ms, s->reg_ms[0], s->reg_ms[1], s->reg_ms[2],
            s->reg_ms[3], s->parked_ms, s->csd_cpu_ms, s->dird_cpu_ms, s->self_cpu_ms);
}

/* "name":{"storms":[...],"median":{...},"worst_parked_ms":W}; *met: every storm in the target. */
static void json_mode(FILE *out, const char *name, const struct storm *s, unsigned rounds,
                      struct storm *med, const char **met)
{
    fprintf(out, ",\"%s\":{\"storms\":[", name);
    double worst = 0;
    bool all = true;
    for (unsigned r = 0; r < rounds; r++) {
        if (r)
            fputc(',', out);
        if (s[r].ok)
            json_storm(out, &s[r]);
        else
            fputs("null", out);
        all = all && s[r].ok;
        if (s[r].ok && s[r].parked_ms > worst)
            worst = s[r].parked_ms;
    }
    fputs("],\"median\":", out);
    if (storm_median(s, rounds, med))
        json_storm(out, med);
    else
        fputs("null", out);
    fprintf(out, ",\"worst_parked_ms\":%.1f}", worst);
    *met = all && worst <= STORM_TARGET_MS ? "true" : "false";
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void report(const struct certs *ce, struct storm s[2][STORM_ROUNDS_MAX], double total_s)
{
    printf("{\"bench\":\"storm-bench\",\"agents\":%llu,\"rounds\":%llu,\"cpus\":%ld,"
           "\"signal\":\"%s\",\"agent_poll_wait_ms\":1000,\"agent_call_timeout_ms\":500,",
           (unsigned long long)B.agents, (unsigned long long)B.rounds,
           sysconf(_SC_NPROCESSORS_ONLN), B.kill9 ? "KILL" : "TERM");
    printf("\"certs\":{\"issued\":%u,\"cached\":%u,\"issue_ms\":%.0f,\"issue_ms_per_cert\":%.2f,"
           "\"load_ms\":%.0f}",
           ce->issued, ce->cached, ce->issue_ms, ce->issued ? ce->issue_ms / ce->issued : 0.0,
           ce->load_ms);
    struct storm med[2];
    const char *met[2];
    json_mode(stdout, "plaintext", s[0], (unsigned)B.rounds, &med[0], &met[0]);
    json_mode(stdout, "tls", s[1], (unsigned)B.rounds, &med[1], &met[1]);
    if (med[0].ok && med[1].ok)
        printf(",\"tls_vs_plaintext\":{\"parked_ms\":%.2f,\"registered_last_ms\":%.2f,"
               "\"cold_ms\":%.2f,\"csd_cpu_ms\":%.2f,\"agents_cpu_ms\":%.2f}",
               ratio(med[1].parked_ms, med[0].parked_ms), ratio(med[1].reg_ms[3], med[0].reg_ms[3]),
               ratio(med[1].cold_ms, med[0].cold_ms), ratio(med[1].csd_cpu_ms, med[0].csd_cpu_ms),
               ratio(med[1].self_cpu_ms, med[0].self_cpu_ms));
    else
        printf(",\"tls_vs_plaintext\":null");
    printf(",\"target_ms\":%.0f,\"met\":{\"plaintext\":%s,\"tls\":%s},\"errors\":[",
           STORM_TARGET_MS, met[0], met[1]);
    for (unsigned i = 0; i < B.nerrors; i++) {
        printf("%s\"", i ? "," : "");
        for (const char *p = B.errors[i]; *p; p++)
            if (*p == '"' || *p == '\\')
                printf("\\%c", *p);
            else if ((unsigned char)*p >= 0x20)
                putchar(*p);
        putchar('"');
    }
    printf("],\"total_s\":%.1f}\n", total_s);
    fflush(stdout);
}

/* ---------------------------------------------------------------- main */

static void on_fatal_signal(int sig)
{
    h_cleanup();
    _exit(128 + sig);
}

int main(int argc, char **argv)
{
    static char pki_default[600];
    const char *tmp = getenv("TMPDIR");
    snprintf(pki_default, sizeof(pki_default), "%s/strata-storm-pki",
             tmp != NULL && *tmp ? tmp : "/tmp");
    B.pki = pki_default;
    const struct strata_flag flags[] = {
        {"agents", STRATA_FLAG_U64, &B.agents, "N", "simulated agents (default 1000)", false, 1,
         20000},
        {"rounds", STRATA_FLAG_U64, &B.rounds, "R",
         "storms per mode, plaintext and TLS alternating (default 2)", false, 1, STORM_ROUNDS_MAX},
        {"pki", STRATA_FLAG_STR, &B.pki, "DIR",
         "CA and certificates, kept between runs: only missing ones are issued (default "
         "$TMPDIR/strata-storm-pki)",
         false, 0, 0},
        {"kill", STRATA_FLAG_BOOL, &B.kill9, NULL,
         "restart with SIGKILL (a crash) instead of SIGTERM (an orderly restart)", false, 0, 0},
        {"timeout-ms", STRATA_FLAG_U64, &B.timeout_ms, "MS",
         "give up on a storm after this long (default 60000)", false, 1000, 600000},
        {"bin", STRATA_FLAG_STR, &B.bin, "DIR",
         "where strata-dird and strata-csd are (default: $STRATA_BIN, else this program's "
         "directory)",
         false, 0, 0},
        STRATA_FLAGS_END,
    };
    struct strata_err e = {0};
    int st = strata_flags_main(flags, argc, argv, "storm-bench");
    if (st >= 0)
        return st;
    if (B.bin != NULL)
        setenv("STRATA_BIN", B.bin, 1);
    /* the agents' clients log every registration at info: 2,000 lines per storm */
    strata_log_init("storm-bench", getenv("STRATA_LOG_LEVEL") != NULL ? -1 : STRATA_LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    atexit(h_cleanup);
    strata_nofile_raise(); /* a connection per agent */
    uint64_t t0 = strata_now_ms();
    B.base = h_tmpdir("storm-bench");

    h_tls_keep_dir(B.pki);
    struct certs ce = {0};
    say("%llu agent certificates in %s", (unsigned long long)B.agents, B.pki);
    if (certs_prepare(&ce, &e) != 0) {
        fprintf(stderr, "storm-bench: certificates: %s\n", e.msg);
        return 1;
    }
    say("  %u issued in %.0f ms (%.2f ms each), %u reused; %.0f ms to load all", ce.issued,
        ce.issue_ms, ce.issued ? ce.issue_ms / ce.issued : 0.0, ce.cached, ce.load_ms);
    strata_tls_set_default(h_tls_ctx("operator", "storm-operator")); /* the readiness checks */

    struct mode modes[2] = {{.tls = false, .name = "plaintext"}, {.tls = true, .name = "tls"}};
    for (int k = 0; k < 2; k++)
        if (dird_start(&modes[k], &e) != 0) {
            fprintf(stderr, "storm-bench: %s\n", e.msg);
            return 1;
        }
    static struct storm storms[2][STORM_ROUNDS_MAX];
    for (unsigned r = 0; r < B.rounds; r++)
        for (int j = 0; j < 2; j++) {
            int k = r % 2 ? 1 - j : j; /* alternate which goes first */
            say("%s: %llu agents, storm %u of %llu", modes[k].name, (unsigned long long)B.agents,
                r + 1, (unsigned long long)B.rounds);
            storm_run(&modes[k], r, &storms[k][r]);
        }
    for (int k = 0; k < 2; k++)
        h_stop(modes[k].dird, 5000);
    report(&ce, storms, (double)(strata_now_ms() - t0) / 1000.0);
    h_cleanup();
    return B.nerrors ? 1 : 0;
}
