/* bench_dird_transport.c - dird-transport-bench: the cost of Raft over TLS against plaintext Raft,
 * the transports alone. Two raft_io instances (libraft's uv backend) on one loop, each with the
 * transport under test, exchange AppendEntries: node 1 sends one entry of --bytes, node 2 answers
 * each with an AppendEntries result; `--window` messages in flight (1: ping-pong, the latency of
 * one Raft round trip; more: throughput). Both ends run in this process on one thread, so the
 * CPU time reported is what both transports spent per round trip (and libraft's encoding and
 * decoding, the same in both). Prints one JSON object per transport.
 *
 *   dird-transport-bench [--seconds S] [--bytes N] [--window W]
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "dird.h"
#include "flags.h"
#include "h_pki.h"
#include "harness.h"

struct bpeer {
    struct dird_transport plain;
    struct dird_tls_transport tls;
    struct raft_io io;
    char addr[32];
};

struct bench {
    uv_loop_t loop;
    struct bpeer p[2];
    uint64_t seconds, bytes, window;
    uint64_t sent, done, errors, closed;
    uint64_t deadline_ns;
    bool stopping;
    struct raft_entry entry;
    uint64_t *t0; /* send time of message i % window */
    double lat_sum_us;
    uint64_t lat_n;
    double *lat; /* every round trip, for percentiles */
    size_t lat_cap;
};

static struct bench B;

static void bsent(struct raft_io_send *req, int status)
{
    if (status != 0)
        B.errors++;
    free(req);
}

static void bsend(int from, int type, uint64_t seq)
{
    struct raft_message m = {0};
    int to = 1 - from;
    m.server_id = (raft_id)to + 1;
    m.server_address = B.p[to].addr;
    if (type == RAFT_IO_APPEND_ENTRIES) {
        m.type = RAFT_IO_APPEND_ENTRIES;
        m.append_entries.term = seq + 1;
        m.append_entries.entries = &B.entry;
        m.append_entries.n_entries = 1;
    } else {
        m.type = RAFT_IO_APPEND_ENTRIES_RESULT;
        m.append_entries_result.term = seq + 1;
        m.append_entries_result.last_log_index = seq;
    }
    struct raft_io_send *req = calloc(1, sizeof(*req));
    if (req == NULL || B.p[from].io.send(&B.p[from].io, req, &m, bsent) != 0) {
        free(req);
        B.errors++;
    }
}

static void bsend_next(void)
{
    B.t0[B.sent % B.window] = uv_hrtime();
    bsend(0, RAFT_IO_APPEND_ENTRIES, B.sent);
    B.sent++;
}

static void brecv(struct raft_io *io, struct raft_message *m)
{
    if (io == &B.p[1].io) { /* node 2: answer */
        uint64_t seq = m->append_entries.term - 1;
        raft_free(m->append_entries.entries[0].batch);
        raft_free(m->append_entries.entries);
        bsend(1, RAFT_IO_APPEND_ENTRIES_RESULT, seq);
        return;
    }
    uint64_t seq = m->append_entries_result.last_log_index;
    uint64_t now = uv_hrtime();
    double us = (double)(now - B.t0[seq % B.window]) / 1000.0;
    if (B.lat_n < B.lat_cap)
        B.lat[B.lat_n] = us;
    B.lat_n++;
    B.lat_sum_us += us;
    B.done++;
    if (now < B.deadline_ns)
        bsend_next();
    else
        B.stopping = true;
}

static void btick(struct raft_io *io)
{
    (void)io;
}

static void bclosed(struct raft_io *io)
{
    (void)io;
    B.closed++;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run(const char *name, struct strata_tls *tls1, struct strata_tls *tls2)
{
    uv_loop_init(&B.loop);
    B.sent = B.done = B.errors = B.closed = B.lat_n = 0;
    B.lat_sum_us = 0;
    B.stopping = false;
    for (int k = 0; k < 2; k++) {
        struct bpeer *p = &B.p[k];
        memset(p, 0, sizeof(*p));
        snprintf(p->addr, sizeof(p->addr), "127.0.0.1:%d", h_free_port());
        struct raft_uv_transport *t;
        if (tls1 != NULL) {
            dird_tls_transport_init(&p->tls, &B.loop, k == 0 ? tls1 : tls2);
            t = &p->tls.raft;
        } else {
            dird_transport_init(&p->plain, &B.loop);
            t = &p->plain.outer;
        }
        if (raft_uv_init(&p->io, &B.loop, h_tmpdir("transport-bench"), t) != 0 ||
            p->io.init(&p->io, (raft_id)k + 1, p->addr) != 0 ||
            p->io.start(&p->io, 1000, btick, brecv) != 0) {
            fprintf(stderr, "dird-transport-bench: cannot start raft_io %d\n", k + 1);
            exit(1);
        }
    }
    /* warm up: connections both ways */
    B.deadline_ns = uv_hrtime() + 500000000ull;
    for (uint64_t i = 0; i < B.window; i++)
        bsend_next();
    while (!B.stopping || B.done < B.sent)
        uv_run(&B.loop, UV_RUN_ONCE);
    B.sent = B.done = B.lat_n = 0;
    B.lat_sum_us = 0;
    B.stopping = false;
    double c0 = cpu_s();
    uint64_t t0 = uv_hrtime();
    B.deadline_ns = t0 + B.seconds * 1000000000ull;
    for (uint64_t i = 0; i < B.window; i++)
        bsend_next();
    while (!B.stopping || B.done < B.sent)
        uv_run(&B.loop, UV_RUN_ONCE);
    double wall = (double)(uv_hrtime() - t0) / 1e9, cpu = cpu_s() - c0;
    size_t n = B.lat_n < B.lat_cap ? B.lat_n : B.lat_cap;
    qsort(B.lat, n, sizeof(B.lat[0]), cmp_double);
    printf("{\"transport\":\"%s\",\"bytes\":%" PRIu64 ",\"window\":%" PRIu64
           ",\"round_trips_per_s\":%.0f,\"rtt_p50_us\":%.1f,\"rtt_p99_us\":%.1f,"
           "\"cpu_us_per_round_trip\":%.1f,\"errors\":%" PRIu64 "}\n",
           name, B.bytes, B.window, (double)B.done / wall, n ? B.lat[n / 2] : 0.0,
           n ? B.lat[n * 99 / 100] : 0.0, cpu * 1e6 / (double)B.done, B.errors);
    fflush(stdout);
    for (int k = 0; k < 2; k++)
        B.p[k].io.close(&B.p[k].io, bclosed);
    while (B.closed < 2)
        uv_run(&B.loop, UV_RUN_ONCE);
    for (int k = 0; k < 2; k++) {
        raft_uv_close(&B.p[k].io);
        if (tls1 == NULL)
            dird_transport_release(&B.p[k].plain);
    }
    uv_run(&B.loop, UV_RUN_DEFAULT);
    uv_loop_close(&B.loop);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    B.seconds = 3;
    B.bytes = 200;
    B.window = 1;
    const char *only = NULL;
    const struct strata_flag flags[] = {
        {.name = "seconds",
         .type = STRATA_FLAG_U64,
         .dst = &B.seconds,
         .metavar = "S",
         .help = "length of each measurement (default 3)",
         .min = 1,
         .max = 600},
        {.name = "bytes",
         .type = STRATA_FLAG_U64,
         .dst = &B.bytes,
         .metavar = "N",
         .help = "bytes of the entry each AppendEntries carries (default 200)",
         .min = 8,
         .max = 16 << 20},
        {.name = "window",
         .type = STRATA_FLAG_U64,
         .dst = &B.window,
         .metavar = "W",
         .help = "messages in flight (default 1: ping-pong)",
         .min = 1,
         .max = 4096},
        {.name = "only",
         .type = STRATA_FLAG_STR,
         .dst = &only,
         .metavar = "tcp|tls",
         .help = "measure one transport (default: both, tcp first)"},
        STRATA_FLAGS_END,
    };
    struct strata_err e = {0};
    int argi = 1;
    int rc = strata_flags_parse(flags, argc, argv, &argi, &e);
    if (rc == STRATA_ENOTFOUND) {
        printf("usage: dird-transport-bench [flags]\n");
        strata_flags_usage(stdout, flags);
        return 0;
    }
    if (rc != 0 || argi < argc) {
        fprintf(stderr, "dird-transport-bench: %s\n", rc ? e.msg : "unexpected argument");
        return 2;
    }
    B.entry.term = 1;
    B.entry.type = RAFT_COMMAND;
    B.entry.buf.len = (B.bytes + 7) & ~(uint64_t)7;
    B.entry.buf.base = raft_calloc(1, B.entry.buf.len);
    B.t0 = calloc(B.window, sizeof(*B.t0));
    B.lat_cap = 4u << 20;
    B.lat = calloc(B.lat_cap, sizeof(*B.lat));
    const char *dir = h_tmpdir("transport-bench-pki");
    if (h_pki_ca(dir, "bench CA") != 0 || h_pki_issue(dir, "directory", "1", NULL) ||
        h_pki_issue(dir, "directory", "2", NULL)) {
        fprintf(stderr, "dird-transport-bench: cannot make certificates\n");
        return 1;
    }
    struct strata_tls *t1 = h_pki_tls(dir, "1"), *t2 = h_pki_tls(dir, "2");
    if (only == NULL || strcmp(only, "tcp") == 0)
        run("tcp", NULL, NULL);
    if (only == NULL || strcmp(only, "tls") == 0)
        run("tls", t1, t2);
    strata_tls_free(t1);
    strata_tls_free(t2);
    raft_free(B.entry.buf.base);
    free(B.t0);
    free(B.lat);
    h_cleanup();
    return 0;
}
