/* loop.h - the libuv loop that owns a daemon's state, and the bridge that hands NNG completions
 * (which run on NNG's threads) to it. */
#ifndef STRATA_LOOP_H
#define STRATA_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"

struct strata_loop;

/* Create the bridge on `uv` (the daemon's loop). */
int strata_loop_new(uv_loop_t *uv, struct strata_loop **out, struct strata_err *e);

/* Run fn(arg) on the loop thread, soon. Thread-safe; callable from NNG callbacks. Order of posts
 * from one thread is preserved. Returns STRATA_EUNAVAIL after strata_loop_close began. */
int strata_loop_post(struct strata_loop *l, void (*fn)(void *arg), void *arg);

uv_loop_t *strata_loop_uv(struct strata_loop *l);

/* Run the loop until it has nothing left to do, like uv_run(UV_RUN_DEFAULT), polling for a
 * moment before it sleeps where strata_loop_expect asked for it (strata_loop_set_busy_poll). */
void strata_loop_run(struct strata_loop *l);

/* Busy polling, for servers on the loop (tcp://). On a virtual machine, waking a thread whose
 * CPU is idle costs the waker about 20 us (an inter-processor interrupt through the
 * hypervisor); a TCP ping-pong between two processes that sleep between messages took 61 us
 * here, 20 us when one side polled. So after a server has answered a client
 * (strata_loop_expect), the loop polls for up to `us` microseconds before it sleeps: a client
 * that asks again at once is then heard without a wakeup. It polls only while nobody else wants
 * the CPU: when the loop thread is preempted meanwhile, polling pauses (1 ms, doubling while it
 * keeps happening, up to 50 ms). 0 (the default) disables it. Call before strata_loop_run. */
void strata_loop_set_busy_poll(struct strata_loop *l, unsigned us);
/* The daemons' default (--busy-poll-us): a client that asks again at once does so within it. */
#define STRATA_LOOP_BUSY_POLL_US 50
/* On the loop thread: a client was just answered; poll before the next sleep. */
void strata_loop_expect(struct strata_loop *l);

struct strata_loop_poll_stats {
    uint64_t hits;      /* polls that ended with an event */
    uint64_t misses;    /* polls whose window closed first */
    uint64_t backoffs;  /* polls cut short because another thread wanted the CPU */
    uint64_t polled_us; /* time spent polling */
};
/* Updated by the loop thread; read it there (metrics are rendered on the loop). */
const struct strata_loop_poll_stats *strata_loop_poll_stats(const struct strata_loop *l);

/* Stop accepting posts, run what is queued, close the async handle. Call on the loop thread;
 * the memory is freed once libuv has closed the handle. */
void strata_loop_close(struct strata_loop *l);

/* Install SIGTERM/SIGINT handlers on the loop that call `fn(arg)` once (clean shutdown), log
 * and otherwise ignore SIGHUP (each time; its default would end the process silently), and
 * ignore SIGPIPE. */
int strata_loop_on_signal(struct strata_loop *l, void (*fn)(void *arg), void *arg);

/* Raise the soft limit on open files to the hard one (at most 65536): the server caps its
 * connections at 3/4 of the soft limit, and with the usual soft 1,024 a thousand idle
 * connections from a few addresses were enough to lock API clients out. Returns the limit now
 * in force. Call before opening servers. */
unsigned long strata_nofile_raise(void);

/* Monotonic clock in microseconds / milliseconds. */
uint64_t strata_now_us(void);
uint64_t strata_now_ms(void);
/* Wall clock in microseconds since the epoch. */
uint64_t strata_wall_us(void);

#endif
