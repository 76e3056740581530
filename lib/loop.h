/* loop.h - the libuv loop that owns a daemon's state, and the bridge that hands NNG completions
 * (which run on NNG's threads) to it. */
#ifndef STRATA_LOOP_H
#define STRATA_LOOP_H

#include <uv.h>

#include "err.h"

struct strata_loop;

/* Create the bridge on `uv` (the daemon's loop). */
int strata_loop_new(uv_loop_t *uv, struct strata_loop **out, struct strata_err *e);

/* Run fn(arg) on the loop thread, soon. Thread-safe; callable from NNG callbacks. Order of posts
 * from one thread is preserved. Returns STRATA_EUNAVAIL after strata_loop_close began. */
int strata_loop_post(struct strata_loop *l, void (*fn)(void *arg), void *arg);

uv_loop_t *strata_loop_uv(struct strata_loop *l);

/* Stop accepting posts, run what is queued, close the async handle. Call on the loop thread;
 * the memory is freed once libuv has closed the handle. */
void strata_loop_close(struct strata_loop *l);

/* Install SIGTERM/SIGINT handlers on the loop that call `fn(arg)` once (clean shutdown), and
 * ignore SIGPIPE. */
int strata_loop_on_signal(struct strata_loop *l, void (*fn)(void *arg), void *arg);

/* Monotonic clock in microseconds / milliseconds. */
uint64_t strata_now_us(void);
uint64_t strata_now_ms(void);
/* Wall clock in microseconds since the epoch. */
uint64_t strata_wall_us(void);

#endif
