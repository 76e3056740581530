/* dir_bench_stats.c - closed-loop client threads and latency percentiles. */
#include "dir_bench_stats.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* All clients wait on this gate so that they start together. */
struct drive_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    uint64_t deadline_us;
};

struct drive_thread {
    pthread_t tid;
    void *ctx;
    dir_bench_op_fn op;
    struct drive_gate *gate;
    uint64_t deadline_us;
    unsigned max_consecutive_errors;
    struct dir_bench_lat lat;
};

uint64_t dir_bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

double dir_bench_now_ms(void)
{
    return (double)dir_bench_now_us() / 1000.0;
}

double dir_bench_self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

double dir_bench_procs_cpu_s(const pid_t *pids, unsigned n)
{
    double total = 0;
    long hz = sysconf(_SC_CLK_TCK);
    for (unsigned i = 0; i < n; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            return -1;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        /* fields after "(comm)": state is field 3, utime 14, stime 15 */
        const char *p = strrchr(buf, ')');
        unsigned long long ut, st;
        if (!p ||
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
            return -1;
        total += (double)(ut + st) / (double)hz;
    }
    return total;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void dir_bench_sort_u64(uint64_t *v, size_t n)
{
    if (n > 0)
        qsort(v, n, sizeof(*v), cmp_u64);
}

uint64_t dir_bench_pct_u64(const uint64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    return sorted[(size_t)(p * (double)(n - 1) + 0.5)];
}

double dir_bench_median(double *v, unsigned n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool dir_bench_lat_ok(struct dir_bench_lat *l, uint64_t us)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        uint32_t *p = realloc(l->us, cap * sizeof(*p));
        if (!p) {
            l->oom = true;
            return false;
        }
        l->us = p;
        l->cap = cap;
    }
    l->us[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    l->consecutive = 0;
    return true;
}

bool dir_bench_lat_err(struct dir_bench_lat *l, int rc, const struct strata_err *e,
                       unsigned max_consecutive)
{
    if (l->errors++ == 0)
        snprintf(l->first_err, sizeof(l->first_err), "%s: %s", strata_errname(rc),
                 e->msg[0] ? e->msg : strata_strerror(rc));
    return ++l->consecutive < max_consecutive;
}

static void *drive_main(void *arg)
{
    struct drive_thread *t = arg;

    pthread_mutex_lock(&t->gate->mu);
    while (!t->gate->open)
        pthread_cond_wait(&t->gate->cv, &t->gate->mu);
    t->deadline_us = t->gate->deadline_us;
    pthread_mutex_unlock(&t->gate->mu);
    for (;;) {
        uint64_t t0 = dir_bench_now_us();
        if (t0 >= t->deadline_us)
            break;
        struct strata_err e = {0};
        int rc = t->op(t->ctx, &e);
        uint64_t t1 = dir_bench_now_us();
        if (rc == 0 ? !dir_bench_lat_ok(&t->lat, t1 - t0)
                    : !dir_bench_lat_err(&t->lat, rc, &e, t->max_consecutive_errors))
            break;
    }
    t->lat.end_us = dir_bench_now_us();
    return NULL;
}

/* Nearest-rank percentile of sorted latencies, in ms. */
static double pct_ms(const uint32_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1] / 1000.0;
}

int dir_bench_lat_summary(struct dir_bench_lat *const *ls, unsigned n, uint64_t t0_us, double cpu0,
                          struct dir_bench_result *out, struct strata_err *e)
{
    out->client_cpu_s = dir_bench_self_cpu_s() - cpu0;
    out->server_cpu_s = -1;
    out->idle_cpu_s = -1;
    int rc = 0;
    uint64_t end = t0_us;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        if (ls[i]->end_us > end)
            end = ls[i]->end_us;
        total += ls[i]->n;
        out->errors += ls[i]->errors;
        if (ls[i]->errors && !out->first_error[0])
            snprintf(out->first_error, sizeof(out->first_error), "%s", ls[i]->first_err);
        if (ls[i]->oom)
            rc = strata_err_set(e, STRATA_ENOMEM, "out of memory recording latencies");
    }
    uint32_t *all = total ? malloc(total * sizeof(*all)) : NULL;
    if (total && !all)
        rc = strata_err_set(e, STRATA_ENOMEM, "out of memory");
    size_t k = 0;
    for (unsigned i = 0; i < n; i++) {
        if (all)
            memcpy(all + k, ls[i]->us, ls[i]->n * sizeof(*all));
        k += ls[i]->n;
        free(ls[i]->us);
        ls[i]->us = NULL;
    }
    if (rc) {
        free(all);
        return rc;
    }
    qsort(all, total, sizeof(*all), cmp_u32);
    out->ops = total;
    out->secs = (double)(end - t0_us) / 1e6;
    out->per_s = out->secs > 0 ? (double)total / out->secs : 0;
    out->p50_ms = pct_ms(all, total, 0.50);
    out->p99_ms = pct_ms(all, total, 0.99);
    out->max_ms = total ? all[total - 1] / 1000.0 : 0;
    free(all);
    return 0;
}

int dir_bench_drive(unsigned nclients, void **ctxs, dir_bench_op_fn op, double seconds,
                    unsigned max_consecutive_errors, struct dir_bench_result *out,
                    struct strata_err *e)
{
    memset(out, 0, sizeof(*out));
    out->clients = nclients;
    struct drive_thread *th = calloc(nclients, sizeof(*th));
    struct dir_bench_lat **ls = calloc(nclients, sizeof(*ls));
    if (!th || !ls) {
        free(th);
        free(ls);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    struct drive_gate gate = {.open = false};
    pthread_mutex_init(&gate.mu, NULL);
    pthread_cond_init(&gate.cv, NULL);

    unsigned started = 0;
    int rc = 0;
    for (unsigned i = 0; i < nclients; i++) {
        th[i].ctx = ctxs[i];
        th[i].op = op;
        th[i].gate = &gate;
        th[i].max_consecutive_errors = max_consecutive_errors ? max_consecutive_errors : 1;
        if (pthread_create(&th[i].tid, NULL, drive_main, &th[i]) != 0) {
            rc = strata_err_set(e, STRATA_EINTERNAL, "pthread_create failed");
            break;
        }
        ls[i] = &th[i].lat;
        started++;
    }
    double cpu0 = dir_bench_self_cpu_s();
    uint64_t t0 = dir_bench_now_us();
    pthread_mutex_lock(&gate.mu);
    /* On a failed start, release the started threads with a deadline already passed. */
    gate.deadline_us = rc ? 0 : t0 + (uint64_t)(seconds * 1e6);
    gate.open = true;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);

    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i].tid, NULL);
    pthread_mutex_destroy(&gate.mu);
    pthread_cond_destroy(&gate.cv);
    int src = dir_bench_lat_summary(ls, started, t0, cpu0, out, e);
    free(ls);
    free(th);
    return rc ? rc : src;
}
