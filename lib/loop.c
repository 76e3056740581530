/* loop.c - the bridge from NNG's worker threads to a daemon's libuv loop: a mutex-protected FIFO
 * of (fn, arg) items drained by one uv_async_t, the loop's runner with busy polling
 * (strata_loop_run), plus signal handling and clock helpers. */
#include "loop.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

struct loop_item {
    void (*fn)(void *arg);
    void *arg;
    struct loop_item *next;
};

struct strata_loop {
    uv_loop_t *uv;
    uv_async_t async;
    pthread_mutex_t mu;
    struct loop_item *head, *tail; /* guarded by mu */
    bool closing;                  /* guarded by mu: posts refused */

    uv_signal_t sig_term, sig_int, sig_hup;
    bool have_signals;
    bool signal_fired;
    void (*sig_fn)(void *arg);
    void *sig_arg;

    int open_handles; /* freed when the last one is closed by libuv */

    bool running; /* strata_loop_run: it frees the loop once uv_run returns */

    /* Busy polling (strata_loop_set_busy_poll); loop thread only. */
    unsigned poll_us;
    uint64_t poll_until, poll_off_until; /* strata_now_us() */
    uint64_t poll_backoff_us;            /* the last pause; 0 after clean polls */
    struct strata_loop_poll_stats poll_stats;
};

/* When the loop thread is preempted while it polls, another thread wanted this CPU, and polling
 * would take the CPU from work the loop may be waiting for: polling pauses, 1 ms the first time,
 * twice as long each time it happens again, up to 50 ms, and halves after each poll that was not
 * preempted. A lone preemption (Go's sysmon in an idle etcd next door, a timer) then costs a
 * millisecond of sleeping as before, and a saturated machine (every poll preempted) polls about
 * once per 50 ms. */
#define LOOP_POLL_BACKOFF_MIN_US 1000
#define LOOP_POLL_BACKOFF_MAX_US 50000

/* Take the whole queue at once and run it: uv_async_send coalesces, so one wakeup may stand for
 * many posts. Items posted while we run are picked up by the next wakeup (the poster calls
 * uv_async_send after enqueueing). */
static void loop_drain(struct strata_loop *l)
{
    for (;;) {
        pthread_mutex_lock(&l->mu);
        struct loop_item *it = l->head;
        l->head = l->tail = NULL;
        pthread_mutex_unlock(&l->mu);
        if (it == NULL)
            return;
        while (it != NULL) {
            struct loop_item *next = it->next;
            it->fn(it->arg);
            free(it);
            it = next;
        }
    }
}

static void loop_async_cb(uv_async_t *a)
{
    loop_drain(a->data);
}

int strata_loop_new(uv_loop_t *uv, struct strata_loop **out, struct strata_err *e)
{
    struct strata_loop *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "loop: out of memory");
    l->uv = uv;
    pthread_mutex_init(&l->mu, NULL);
    int rc = uv_async_init(uv, &l->async, loop_async_cb);
    if (rc != 0) {
        pthread_mutex_destroy(&l->mu);
        free(l);
        return strata_err_set(e, STRATA_EINTERNAL, "loop: uv_async_init: %s", uv_strerror(rc));
    }
    l->async.data = l;
    l->open_handles = 1;
    *out = l;
    return 0;
}

int strata_loop_post(struct strata_loop *l, void (*fn)(void *arg), void *arg)
{
    struct loop_item *it = malloc(sizeof(*it));
    if (it == NULL)
        return STRATA_ENOMEM;
    it->fn = fn;
    it->arg = arg;
    it->next = NULL;
    pthread_mutex_lock(&l->mu);
    if (l->closing) {
        pthread_mutex_unlock(&l->mu);
        free(it);
        return STRATA_EUNAVAIL;
    }
    if (l->tail != NULL)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
    /* Still under the lock: strata_loop_close cannot close the handle between our enqueue and
     * this send (it sets closing under the same lock first). */
    uv_async_send(&l->async);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

uv_loop_t *strata_loop_uv(struct strata_loop *l)
{
    return l->uv;
}

static void loop_free(struct strata_loop *l)
{
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* Under strata_loop_run the memory outlives the last handle: strata_loop_run frees it when
 * uv_run has returned. */
static void loop_handle_closed(uv_handle_t *h)
{
    struct strata_loop *l = h->data;
    if (--l->open_handles == 0 && !l->running)
        loop_free(l);
}

/* Poll the loop's epoll fd without blocking until it has an event, the window of
 * strata_loop_expect closes, or another thread wants this CPU. Costs a few syscalls per round;
 * see strata_loop_set_busy_poll for why it pays. */
static void loop_busy_poll(struct strata_loop *l)
{
    uint64_t now = strata_now_us();
    if (now >= l->poll_until || uv_backend_timeout(l->uv) == 0) {
        l->poll_until = 0;
        return;
    }
    uint64_t start = now;
    struct pollfd p = {.fd = uv_backend_fd(l->uv), .events = POLLIN};
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    long preempted = ru.ru_nivcsw;
    for (;;) {
        if (poll(&p, 1, 0) > 0) {
            l->poll_stats.hits++;
            break;
        }
        /* Runs whoever else is runnable on this CPU first; if someone was, that counts as an
         * involuntary switch, and the CPU is better left to them. */
        sched_yield();
        getrusage(RUSAGE_THREAD, &ru);
        now = strata_now_us();
        if (ru.ru_nivcsw != preempted) {
            l->poll_stats.backoffs++;
            uint64_t b = l->poll_backoff_us * 2;
            b = b < LOOP_POLL_BACKOFF_MIN_US ? LOOP_POLL_BACKOFF_MIN_US : b;
            l->poll_backoff_us = b > LOOP_POLL_BACKOFF_MAX_US ? LOOP_POLL_BACKOFF_MAX_US : b;
            l->poll_off_until = now + l->poll_backoff_us;
            break;
        }
        if (now >= l->poll_until) {
            l->poll_stats.misses++;
            break;
        }
    }
    if (now >= l->poll_off_until) /* not preempted */
        l->poll_backoff_us /= 2;
    l->poll_stats.polled_us += now - start;
    l->poll_until = 0;
}

void strata_loop_run(struct strata_loop *l)
{
    l->running = true;
    for (;;) {
        if (l->poll_until != 0)
            loop_busy_poll(l); /* the wait of uv_run, active for a moment first */
        /* 0: nothing is left, our own handles included (they keep the loop alive until
         * strata_loop_close), so nobody refers to `l` any more. */
        if (uv_run(l->uv, UV_RUN_ONCE) == 0) {
            if (l->open_handles == 0)
                loop_free(l);
            return;
        }
    }
}

void strata_loop_set_busy_poll(struct strata_loop *l, unsigned us)
{
    l->poll_us = us;
}

void strata_loop_expect(struct strata_loop *l)
{
    if (l->poll_us == 0)
        return;
    uint64_t now = strata_now_us();
    if (now >= l->poll_off_until)
        l->poll_until = now + l->poll_us;
}

const struct strata_loop_poll_stats *strata_loop_poll_stats(const struct strata_loop *l)
{
    return &l->poll_stats;
}

unsigned long strata_nofile_raise(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (unsigned long)rl.rlim_cur;
}

void strata_loop_close(struct strata_loop *l)
{
    /* Run what is queued (and what those items post in turn), then refuse further posts in the
     * same critical section that finds the queue empty, so nothing is left behind. */
    for (;;) {
        loop_drain(l);
        pthread_mutex_lock(&l->mu);
        bool empty = l->head == NULL;
        if (empty)
            l->closing = true;
        pthread_mutex_unlock(&l->mu);
        if (empty)
            break;
    }
    if (l->have_signals) {
        uv_signal_stop(&l->sig_term);
        uv_signal_stop(&l->sig_int);
        uv_signal_stop(&l->sig_hup);
        l->open_handles += 3;
        uv_close((uv_handle_t *)&l->sig_term, loop_handle_closed);
        uv_close((uv_handle_t *)&l->sig_int, loop_handle_closed);
        uv_close((uv_handle_t *)&l->sig_hup, loop_handle_closed);
    }
    uv_close((uv_handle_t *)&l->async, loop_handle_closed);
}

static void loop_signal_cb(uv_signal_t *h, int signum)
{
    (void)signum;
    struct strata_loop *l = h->data;
    if (l->signal_fired)
        return;
    l->signal_fired = true;
    if (l->sig_fn != NULL)
        l->sig_fn(l->sig_arg);
}

/* SIGHUP's default action ends the process without a word, and operators and tools send it
 * expecting a reload or a log reopen. The daemons log to stderr (nothing to reopen) and read
 * their flags once: say so and go on. */
static void loop_sighup_cb(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    LOG_INFO("SIGHUP: ignored (logs go to stderr; nothing to reopen; flags are read at start)");
}

int strata_loop_on_signal(struct strata_loop *l, void (*fn)(void *arg), void *arg)
{
    signal(SIGPIPE, SIG_IGN);
    l->sig_fn = fn;
    l->sig_arg = arg;
    if (l->have_signals)
        return 0;
    uv_signal_t *sigs[] = {&l->sig_term, &l->sig_int, &l->sig_hup};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        if (uv_signal_init(l->uv, sigs[i]) != 0) {
            /* those initialised are not started: close them like the others */
            while (i-- > 0) {
                sigs[i]->data = l;
                l->open_handles++;
                uv_close((uv_handle_t *)sigs[i], loop_handle_closed);
            }
            return STRATA_EINTERNAL;
        }
    }
    l->sig_term.data = l;
    l->sig_int.data = l;
    l->sig_hup.data = l;
    l->have_signals = true;
    if (uv_signal_start(&l->sig_term, loop_signal_cb, SIGTERM) != 0 ||
        uv_signal_start(&l->sig_int, loop_signal_cb, SIGINT) != 0 ||
        uv_signal_start(&l->sig_hup, loop_sighup_cb, SIGHUP) != 0)
        return STRATA_EINTERNAL;
    return 0;
}

static uint64_t loop_clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t strata_now_us(void)
{
    return loop_clock_us(CLOCK_MONOTONIC);
}

uint64_t strata_now_ms(void)
{
    return loop_clock_us(CLOCK_MONOTONIC) / 1000u;
}

uint64_t strata_wall_us(void)
{
    return loop_clock_us(CLOCK_REALTIME);
}
