/* lc_search.c - one key's linearizability search: Wing & Gong's backtracking over a linked list
 * of call and return events, pruned by Lowe's memo of (linearized set, register value). */
#include "lincheck.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LC_DEFAULT_STEPS 50000000ull
#define LC_DEFAULT_CACHE ((size_t)1 << 30)

uint64_t lc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---------------------------------------------------------------- events */

/* A call event points at its return event (match); a return event has match NULL. Linearizing an
 * operation lifts both out of the list; backtracking puts them back where they were. */
struct ev {
    struct ev *prev, *next, *match;
    uint32_t op; /* index into the search's ops */
};

struct ev_sort {
    int64_t time;
    uint32_t op;
    uint8_t is_return;
};

/* By time; at equal times calls first, so operations that touch count as concurrent (the
 * lenient reading: clocks at the harness have finite resolution). */
static int ev_sort_cmp(const void *a, const void *b)
{
    const struct ev_sort *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    if (x->is_return != y->is_return)
        return x->is_return ? 1 : -1;
    return x->op < y->op ? -1 : x->op > y->op;
}

static void ev_lift(struct ev *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev; /* a call always has its return after it */
    struct ev *r = c->match;
    r->prev->next = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
}

static void ev_unlift(struct ev *c)
{
    struct ev *r = c->match;
    r->prev->next = r;
    if (r->next != NULL)
        r->next->prev = r;
    c->prev->next = c;
    c->next->prev = c;
}

/* ---------------------------------------------------------------- memo */

/* Open addressing over (hash, value, the linearized set's encoding in the pool). The hash of a
 * set is kept up to date as operations come and go (Zobrist: one random word per operation,
 * XORed), so a lookup compares encodings only when hashes agree.
 *
 * A set is not stored as a bitset of all the key's operations (10,000 operations: 1.25 KB per
 * configuration, and millions of configurations) but by its frontier: the first operation not
 * placed (operations numbered by invocation, all before it are placed), the placed ones after
 * it (a few: those concurrent with it), then the indeterminate writes placed, numbered apart
 * because they are concurrent with much of the history and would hold the frontier back. */
struct memo_slot {
    uint64_t hash; /* 0 = empty (a real hash of 0 is stored as 1) */
    uint32_t value;
    uint32_t len; /* of the encoding, in words */
    size_t off;   /* into pool */
};

struct memo {
    struct memo_slot *slot;
    size_t nslot, used;
    uint32_t *pool;
    size_t pool_used, pool_cap;
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static size_t memo_bytes(const struct memo *m)
{
    return m->nslot * sizeof(*m->slot) + m->pool_cap * sizeof(*m->pool);
}

static int memo_grow(struct memo *m)
{
    size_t n = m->nslot == 0 ? 1024 : 2 * m->nslot;
    struct memo_slot *s = calloc(n, sizeof(*s));
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < m->nslot; i++) {
        if (m->slot[i].hash == 0)
            continue;
        size_t j = m->slot[i].hash & (n - 1);
        while (s[j].hash != 0)
            j = (j + 1) & (n - 1);
        s[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = s;
    m->nslot = n;
    return 0;
}

/* Remember (set, value) unless already there: 1 added, 0 seen before, -1 out of memory. */
static int memo_add(struct memo *m, uint64_t hash, const uint32_t *enc, uint32_t len,
                    uint32_t value)
{
    hash = hash == 0 ? 1 : hash;
    if (2 * (m->used + 1) > m->nslot && memo_grow(m) != 0)
        return -1;
    size_t mask = m->nslot - 1, i = hash & mask;
    for (; m->slot[i].hash != 0; i = (i + 1) & mask)
        if (m->slot[i].hash == hash && m->slot[i].value == value && m->slot[i].len == len &&
            memcmp(m->pool + m->slot[i].off, enc, len * sizeof(*enc)) == 0)
            return 0;
    if (m->pool_used + len > m->pool_cap) {
        size_t cap = m->pool_cap == 0 ? 4096 : 2 * m->pool_cap;
        while (cap < m->pool_used + len)
            cap *= 2;
        uint32_t *p = realloc(m->pool, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        m->pool = p;
        m->pool_cap = cap;
    }
    memcpy(m->pool + m->pool_used, enc, len * sizeof(*enc));
    m->slot[i] = (struct memo_slot){.hash = hash, .value = value, .len = len, .off = m->pool_used};
    m->pool_used += len;
    m->used++;
    return 1;
}

/* ---------------------------------------------------------------- search */

/* Operations are numbered for the search: those that return (acknowledged, or indeterminate
 * writes bounded by a read, see search_values) 0..m-1 by invocation, then the others. */
struct search {
    size_t n, m;
    size_t *src;            /* per op: its index in h->ops */
    uint32_t *kind, *value; /* per op */
    int64_t *ret;           /* per op: its return time for the search */
    int64_t *tmp;           /* scratch, n */
    uint64_t *zob, *set;
    uint32_t *byv; /* scratch: ops by value */
    struct ev *ev; /* 2n events, plus the head at ev[2n] */
    struct ev_sort *order;
    struct ev **stack_ev;
    uint32_t *stack_value;
    uint32_t *enc;               /* the encoding of the current set: room for n + 2 */
    uint32_t *lval;              /* per op before numbering: its value's dense id */
    uint32_t init;               /* the initial value's dense id */
    uint32_t *rd_left, *wr_left; /* per dense value: reads and writes of it not placed */
    size_t front;                /* the first of 0..m-1 not placed (m when all are) */
    size_t placed;               /* of 0..m-1 */
    struct memo memo;
};

static void search_free(struct search *s)
{
    free(s->src);
    free(s->kind);
    free(s->value);
    free(s->ret);
    free(s->tmp);
    free(s->zob);
    free(s->set);
    free(s->byv);
    free(s->ev);
    free(s->order);
    free(s->stack_ev);
    free(s->stack_value);
    free(s->enc);
    free(s->lval);
    free(s->rd_left);
    free(s->wr_left);
    free(s->memo.slot);
    free(s->memo.pool);
}

static int search_alloc(struct search *s, size_t n)
{
    s->n = n;
    s->src = calloc(n, sizeof(*s->src));
    s->kind = calloc(n, sizeof(*s->kind));
    s->value = calloc(n, sizeof(*s->value));
    s->ret = calloc(n, sizeof(*s->ret));
    s->tmp = calloc(n, sizeof(*s->tmp));
    s->zob = calloc(n, sizeof(*s->zob));
    s->set = calloc((n + 63) / 64, sizeof(*s->set));
    s->byv = calloc(n, sizeof(*s->byv));
    s->ev = calloc(2 * n + 1, sizeof(*s->ev));
    s->order = calloc(2 * n, sizeof(*s->order));
    s->stack_ev = calloc(n, sizeof(*s->stack_ev));
    s->stack_value = calloc(n, sizeof(*s->stack_value));
    s->enc = calloc(n + 2, sizeof(*s->enc));
    s->lval = calloc(n, sizeof(*s->lval));
    s->rd_left = calloc(n + 1, sizeof(*s->rd_left));
    s->wr_left = calloc(n + 1, sizeof(*s->wr_left));
    return s->lval && s->rd_left && s->wr_left && s->src && s->kind && s->value && s->ret &&
                   s->tmp && s->zob && s->set && s->byv && s->ev && s->order && s->stack_ev &&
                   s->stack_value && s->enc
               ? 0
               : -1;
}

static bool search_is_placed(const struct search *s, size_t op)
{
    return (s->set[op / 64] >> (op % 64) & 1) != 0;
}

static void search_place(struct search *s, size_t op)
{
    s->set[op / 64] |= 1ull << (op % 64);
    (s->kind[op] == LC_WRITE ? s->wr_left : s->rd_left)[s->value[op]]--;
    if (op >= s->m)
        return;
    s->placed++;
    while (s->front < s->m && search_is_placed(s, s->front))
        s->front++;
}

static void search_unplace(struct search *s, size_t op)
{
    s->set[op / 64] &= ~(1ull << (op % 64));
    (s->kind[op] == LC_WRITE ? s->wr_left : s->rd_left)[s->value[op]]++;
    if (op >= s->m)
        return;
    s->placed--;
    if (op < s->front)
        s->front = op;
}

/* The placed ops in [from, to), at most `count` of them, appended to enc at *len. */
static void search_encode_range(const struct search *s, size_t from, size_t to, size_t count,
                                uint32_t *enc, uint32_t *len)
{
    for (size_t w = from / 64; count > 0 && w * 64 < to; w++) {
        uint64_t bits = s->set[w];
        if (w == from / 64)
            bits &= ~0ull << (from % 64);
        while (bits != 0 && count > 0) {
            size_t op = w * 64 + (size_t)__builtin_ctzll(bits);
            if (op >= to)
                return;
            enc[(*len)++] = (uint32_t)op;
            count--;
            bits &= bits - 1;
        }
    }
}

/* The set's canonical encoding: front, how many placed after it, those, the others placed. */
static uint32_t search_encode(const struct search *s)
{
    uint32_t len = 0;
    size_t after = s->placed - s->front;
    s->enc[len++] = (uint32_t)s->front;
    s->enc[len++] = (uint32_t)after;
    search_encode_range(s, s->front, s->m, after, s->enc, &len);
    search_encode_range(s, s->m, s->n, s->n - s->m, s->enc, &len);
    return len;
}

static int by_value(const void *a, const void *b, void *arg)
{
    const struct search *s = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (s->value[x] != s->value[y])
        return s->value[x] < s->value[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Dense ids for the values (the memo and the counts are indexed by them), and the returns of
 * indeterminate writes: one never returns, but when it is the only write of its value (and
 * that value is not the initial one), every read of the value must come after it: it must take
 * effect before the first of those reads returns, so that is its return. Without this each
 * such write stays pending to the end of the history and the search drags it along, trying it
 * at every step. */
static void search_values(struct search *s, const struct lc_history *h, const size_t *idx, size_t n,
                          uint32_t init)
{
    uint32_t *byv = s->byv, dense = 0;
    for (size_t i = 0; i < n; i++) {
        byv[i] = (uint32_t)i;
        s->value[i] = h->ops[idx[i]].value;
        s->ret[i] = h->ops[idx[i]].complete;
    }
    qsort_r(byv, n, sizeof(*byv), by_value, s);
    s->init = UINT32_MAX;
    for (size_t g = 0; g < n; dense++) {
        size_t end = g, writes = 0, info = 0;
        int64_t first_read = LC_T_INF;
        for (; end < n && s->value[byv[end]] == s->value[byv[g]]; end++) {
            const struct lc_op *op = &h->ops[idx[byv[end]]];
            s->lval[byv[end]] = dense;
            if (op->kind == LC_WRITE) {
                writes++;
                info = byv[end];
            } else if (op->complete < first_read) {
                first_read = op->complete;
            }
        }
        const struct lc_op *w = &h->ops[idx[info]];
        if (s->value[byv[g]] == init)
            s->init = dense;
        else if (writes == 1 && w->outcome == LC_INFO && first_read >= w->invoke)
            s->ret[info] = first_read;
        g = end;
    }
    if (s->init == UINT32_MAX)
        s->init = dense; /* a value of its own, no op has it */
}

struct number_ctx {
    const struct lc_history *h;
    const size_t *idx;
    const int64_t *ret;
};

static int by_class_invoke(const void *a, const void *b, void *arg)
{
    const struct number_ctx *c = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    bool lx = c->ret[x] == LC_T_INF, ly = c->ret[y] == LC_T_INF;
    int64_t ix = c->h->ops[c->idx[x]].invoke, iy = c->h->ops[c->idx[y]].invoke;
    if (lx != ly)
        return lx ? 1 : -1;
    if (ix != iy)
        return ix < iy ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Number the ops (struct search), then link their events in time order after the head. */
static struct ev *search_link(struct search *s, const struct lc_history *h, const size_t *idx,
                              size_t n, uint32_t init)
{
    search_values(s, h, idx, n, init);
    struct number_ctx c = {h, idx, s->ret};
    uint32_t *perm = s->byv;
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    qsort_r(perm, n, sizeof(*perm), by_class_invoke, &c);
    int64_t *ret = s->tmp;
    for (size_t i = 0; i < n; i++)
        ret[i] = s->ret[perm[i]];
    s->m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct lc_op *op = &h->ops[idx[perm[i]]];
        s->src[i] = idx[perm[i]];
        s->kind[i] = op->kind;
        s->value[i] = s->lval[perm[i]];
        s->ret[i] = ret[i];
        (op->kind == LC_WRITE ? s->wr_left : s->rd_left)[s->value[i]]++;
        s->zob[i] = mix64(0x9e3779b97f4a7c15ull * (i + 1));
        s->m += ret[i] != LC_T_INF;
    }
    for (size_t i = 0; i < n; i++) {
        s->order[2 * i] = (struct ev_sort){.time = h->ops[s->src[i]].invoke, .op = (uint32_t)i};
        s->order[2 * i + 1] =
            (struct ev_sort){.time = s->ret[i], .op = (uint32_t)i, .is_return = 1};
    }
    qsort(s->order, 2 * n, sizeof(*s->order), ev_sort_cmp);
    struct ev *head = &s->ev[2 * n], *prev = head;
    for (size_t i = 0; i < 2 * n; i++) {
        /* ev[2*op] is op's call, ev[2*op+1] its return */
        struct ev *e = &s->ev[2 * s->order[i].op + s->order[i].is_return];
        e->op = s->order[i].op;
        e->match = s->order[i].is_return ? NULL : &s->ev[2 * s->order[i].op + 1];
        e->prev = prev;
        prev->next = e;
        prev = e;
    }
    prev->next = NULL;
    return head;
}

enum lc_verdict lc_check_key(const struct lc_history *h, const size_t *idx, size_t n, uint32_t init,
                             const struct lc_limits *limits, uint64_t deadline_ms,
                             struct lc_stats *stats)
{
    struct lc_stats local = {0};
    stats = stats != NULL ? stats : &local;
    if (n == 0)
        return LC_LINEARIZABLE;
    uint64_t max_steps = limits != NULL && limits->max_steps ? limits->max_steps : LC_DEFAULT_STEPS;
    size_t max_cache =
        limits != NULL && limits->max_cache_bytes ? limits->max_cache_bytes : LC_DEFAULT_CACHE;
    struct search s = {0};
    enum lc_verdict v = LC_UNKNOWN;
    uint64_t steps = 0;
    if (search_alloc(&s, n) != 0)
        goto out;
    struct ev *head = search_link(&s, h, idx, n, init), *ev = head->next;
    uint32_t state = s.init;
    uint64_t hash = 0;
    size_t depth = 0;
    while (head->next != NULL) {
        if ((++steps & 4095) == 0 && (steps > max_steps || memo_bytes(&s.memo) > max_cache ||
                                      (deadline_ms != 0 && lc_now_ms() >= deadline_ms)))
            goto out;
        if (ev->match != NULL) {
            uint32_t op = ev->op;
            /* A write may not overwrite a value that reads still wait for, unless another write
             * can bring it back: with unique values, a wrong early placement of a write then
             * fails at once instead of a few hundred operations later, at the reads. */
            bool legal = s.kind[op] == LC_WRITE
                             ? s.value[op] == state || s.rd_left[state] == 0 || s.wr_left[state] > 0
                             : s.value[op] == state;
            if (legal) {
                uint32_t next = s.kind[op] == LC_WRITE ? s.value[op] : state;
                uint64_t nhash = hash ^ s.zob[op];
                search_place(&s, op);
                uint32_t len = search_encode(&s);
                int added = memo_add(&s.memo, mix64(nhash ^ (0x632be59bd9b4e019ull * next)), s.enc,
                                     len, next);
                if (added < 0)
                    goto out;
                if (added == 1) {
                    s.stack_ev[depth] = ev;
                    s.stack_value[depth++] = state;
                    state = next;
                    hash = nhash;
                    ev_lift(ev);
                    ev = head->next;
                    continue;
                }
                stats->cache_hits++;
                search_unplace(&s, op);
            }
            ev = ev->next;
        } else {
            /* An operation returned before we could place it: undo the last placement. */
            if (depth == 0) {
                v = LC_VIOLATION;
                goto out;
            }
            ev = s.stack_ev[--depth];
            state = s.stack_value[depth];
            search_unplace(&s, ev->op);
            hash ^= s.zob[ev->op];
            ev_unlift(ev);
            ev = ev->next;
        }
    }
    v = LC_LINEARIZABLE;
out:
    stats->steps += steps;
    stats->cache_entries += s.memo.used;
    stats->cache_bytes += memo_bytes(&s.memo);
    search_free(&s);
    return v;
}
