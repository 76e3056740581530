/* gw_nft.c - inter-VN policy in nftables (see gw_nft.h for the ruleset). Commands are nft's own
 * language run by libnftables inside the domain namespace: one transaction per call, so a
 * rewrite of a chain or a batch of element changes is atomic for packets. The allowed pairs are
 * mirrored in a sorted array, so that a change sends only what differs. */
#include <inttypes.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_nft.h"
#include "gw_ns.h"
#include "netns.h"

struct gw_nft {
    struct nft_ctx *ctx;
    int ns_fd;
    uint64_t *pairs; /* (from << 32 | to), sorted */
    size_t n, cap;
    struct gw_nft_stats st;
};

/* The chains as `nft list chain` prints them, one rule or header per line. */
static const char *const FORWARD[] = {
    "type filter hook forward priority filter; policy drop;",
    "ct state established,related accept",
    "iifname . oifname vmap @pairs",
};
static const char *const INPUT[] = {
    "type filter hook input priority filter; policy accept;",
    "iifname \"br*\" fib daddr . iif type != { local, broadcast, multicast } drop",
};
#define NLINES(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t key(uint32_t from, uint32_t to)
{
    return (uint64_t)from << 32 | to;
}

/* Run one command (one transaction) in the namespace; *out (if not NULL) gets nft's output,
 * valid until the next command. */
static int run(struct gw_nft *n, const char *cmd, const char **out, struct strata_err *e)
{
    int saved, rc = strata_netns_enter(n->ns_fd, &saved, e);
    if (rc != 0)
        return rc;
    n->st.commands++;
    int r = nft_run_cmd_from_buffer(n->ctx, cmd);
    strata_netns_leave(saved);
    if (r != 0) {
        n->st.errors++;
        const char *err = nft_ctx_get_error_buffer(n->ctx);
        /* nft's message is multi-line (the command, a caret line): keep the first line. */
        size_t len = err ? strcspn(err, "\n") : 0;
        return strata_err_set(e, STRATA_EIO, "nftables: %.*s", (int)(len > 200 ? 200 : len),
                              err ? err : "failed");
    }
    if (out != NULL)
        *out = nft_ctx_get_output_buffer(n->ctx);
    return 0;
}

int gw_nft_open(int ns_fd, struct gw_nft **out, struct strata_err *e)
{
    struct gw_nft *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    n->ns_fd = ns_fd;
    int saved, rc = strata_netns_enter(ns_fd, &saved, e);
    if (rc != 0) {
        free(n);
        return rc;
    }
    n->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    strata_netns_leave(saved);
    if (n->ctx == NULL || nft_ctx_buffer_output(n->ctx) != 0 || nft_ctx_buffer_error(n->ctx) != 0) {
        gw_nft_free(n);
        return strata_err_set(e, STRATA_ENOMEM, "nftables: cannot create a context");
    }
    *out = n;
    return 0;
}

void gw_nft_free(struct gw_nft *n)
{
    if (n == NULL)
        return;
    if (n->ctx)
        nft_ctx_free(n->ctx);
    free(n->pairs);
    free(n);
}

/* Do the lines of the chain body in `text` (nft's listing of one chain) equal want[]? */
static bool chain_is(const char *text, const char *const *want, size_t nwant)
{
    const char *p = strstr(text, "chain ");
    if (p == NULL || (p = strchr(p, '\n')) == NULL)
        return false;
    size_t i = 0;
    for (p++; *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        while (len && (*p == '\t' || *p == ' '))
            p++, len--;
        if (len && !(len == 1 && *p == '}')) {
            if (i == nwant || strlen(want[i]) != len || memcmp(want[i], p, len) != 0)
                return false;
            i++;
        } else if (len == 1) {
            break; /* the chain's closing brace */
        }
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    return i == nwant;
}

static int chain_text(char *buf, size_t cap, const char *name, const char *const *lines, size_t nl)
{
    int off = snprintf(buf, cap, "add chain inet " GW_NFT_TABLE " %s { %s }\n", name, lines[0]);
    for (size_t i = 1; i < nl && off > 0 && (size_t)off < cap; i++)
        off += snprintf(buf + off, cap - (size_t)off, "add rule inet " GW_NFT_TABLE " %s %s\n",
                        name, lines[i]);
    return off > 0 && (size_t)off < cap ? 0 : -1;
}

/* Make one chain exactly lines[]: nothing when it is, else delete and re-create it in one
 * transaction (a base chain's hook and policy cannot be changed in place). */
static int ensure_chain(struct gw_nft *n, const char *name, const char *const *lines, size_t nl,
                        struct strata_err *e)
{
    char cmd[1024];
    const char *out;
    snprintf(cmd, sizeof(cmd), "list chain inet " GW_NFT_TABLE " %s", name);
    bool exists = run(n, cmd, &out, NULL) == 0;
    if (exists && chain_is(out, lines, nl))
        return 0;
    int off = 0;
    if (exists)
        off = snprintf(cmd, sizeof(cmd), "delete chain inet " GW_NFT_TABLE " %s\n", name);
    if (chain_text(cmd + off, sizeof(cmd) - (size_t)off, name, lines, nl) != 0)
        return strata_err_set(e, STRATA_EINTERNAL, "nftables: chain %s too long", name);
    int rc = run(n, cmd, NULL, e);
    if (rc == 0 && exists)
        n->st.chains_rewritten++;
    return rc;
}

/* Parse `"br<A>" . "br<B>" : accept` elements out of nft's listing of the map. */
static int parse_pairs(const char *text, uint64_t **out, size_t *cnt, size_t *capp)
{
    const char *p = strstr(text, "elements = {");
    *cnt = 0;
    if (p == NULL)
        return 0;
    for (p += 12; (p = strstr(p, "\"br")) != NULL;) {
        unsigned a, b;
        int used = 0;
        if (sscanf(p, "\"br%u\" . \"br%u\" : accept%n", &a, &b, &used) != 2 || used == 0) {
            p += 3; /* not ours (a drop verdict, another name): it is not an allowed pair */
            continue;
        }
        p += used;
        if (*cnt == *capp) {
            size_t nc = *capp ? *capp * 2 : 64;
            uint64_t *np = realloc(*out, nc * sizeof(*np));
            if (np == NULL)
                return STRATA_ENOMEM;
            *out = np;
            *capp = nc;
        }
        (*out)[(*cnt)++] = key(a, b);
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int load(struct gw_nft *n, struct strata_err *e)
{
    const char *out;
    int rc = run(n, "list map inet " GW_NFT_TABLE " pairs", &out, e);
    if (rc != 0)
        return rc;
    if (parse_pairs(out, &n->pairs, &n->n, &n->cap) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory reading the policy map");
    if (n->n > 0)
        qsort(n->pairs, n->n, sizeof(*n->pairs), cmp_u64);
    return 0;
}

int gw_nft_ensure(struct gw_nft *n, struct strata_err *e)
{
    /* `add` of a table or map that exists changes nothing, and keeps the elements. */
    int rc = run(n,
                 "add table inet " GW_NFT_TABLE "\n"
                 "add map inet " GW_NFT_TABLE " pairs { type ifname . ifname : verdict; }\n",
                 NULL, e);
    if (rc == 0)
        rc = ensure_chain(n, "forward", FORWARD, NLINES(FORWARD), e);
    if (rc == 0)
        rc = ensure_chain(n, "input", INPUT, NLINES(INPUT), e);
    if (rc == 0)
        rc = load(n, e);
    return rc;
}

static size_t find(const struct gw_nft *n, uint64_t k, bool *found)
{
    size_t lo = 0, hi = n->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (n->pairs[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < n->n && n->pairs[lo] == k;
    return lo;
}

bool gw_nft_allowed(const struct gw_nft *n, uint32_t from, uint32_t to)
{
    bool found;
    find(n, key(from, to), &found);
    return found;
}

size_t gw_nft_count(const struct gw_nft *n)
{
    return n->n;
}

static int mirror(struct gw_nft *n, uint64_t k, bool allow)
{
    bool found;
    size_t at = find(n, k, &found);
    if (found == allow)
        return 0;
    if (!allow) {
        memmove(n->pairs + at, n->pairs + at + 1, (n->n - at - 1) * sizeof(*n->pairs));
        n->n--;
        return 0;
    }
    if (n->n == n->cap) {
        size_t nc = n->cap ? n->cap * 2 : 64;
        uint64_t *np = realloc(n->pairs, nc * sizeof(*np));
        if (np == NULL)
            return STRATA_ENOMEM;
        n->pairs = np;
        n->cap = nc;
    }
    memmove(n->pairs + at + 1, n->pairs + at, (n->n - at) * sizeof(*n->pairs));
    n->pairs[at] = k;
    n->n++;
    return 0;
}

static int element_line(char *buf, size_t cap, uint64_t k, bool add)
{
    return snprintf(buf, cap,
                    add ? "add element inet " GW_NFT_TABLE
                          " pairs { \"br%u\" . \"br%u\" : accept }\n"
                        : "delete element inet " GW_NFT_TABLE " pairs { \"br%u\" . \"br%u\" }\n",
                    (unsigned)(k >> 32), (unsigned)(k & 0xffffffffu));
}

int gw_nft_set(struct gw_nft *n, uint32_t from, uint32_t to, bool allow, struct strata_err *e)
{
    uint64_t k = key(from, to);
    if (gw_nft_allowed(n, from, to) == allow)
        return 0;
    char cmd[160];
    element_line(cmd, sizeof(cmd), k, allow);
    int rc = run(n, cmd, NULL, e);
    if (rc != 0)
        return rc;
    if (allow)
        n->st.elements_added++;
    else
        n->st.elements_deleted++;
    if (mirror(n, k, allow) != 0)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    return 0;
}

int gw_nft_sync(struct gw_nft *n, const struct gw_nft_pair *want, size_t cnt, struct strata_err *e)
{
    uint64_t *w = malloc((cnt ? cnt : 1) * sizeof(*w));
    if (w == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    for (size_t i = 0; i < cnt; i++)
        w[i] = key(want[i].from, want[i].to);
    if (cnt > 0)
        qsort(w, cnt, sizeof(*w), cmp_u64);
    size_t m = 0;
    for (size_t i = 0; i < cnt; i++)
        if (m == 0 || w[m - 1] != w[i])
            w[m++] = w[i];
    cnt = m;
    /* Merge the two sorted lists: what only we want is added, what only the kernel has goes. */
    size_t cap = 4096, len = 0, adds = 0, dels = 0;
    char *cmd = malloc(cap);
    int rc = cmd ? 0 : STRATA_ENOMEM;
    for (size_t i = 0, j = 0; rc == 0 && (i < cnt || j < n->n);) {
        uint64_t k;
        bool add;
        if (j == n->n || (i < cnt && w[i] < n->pairs[j])) {
            k = w[i++], add = true;
        } else if (i == cnt || n->pairs[j] < w[i]) {
            k = n->pairs[j++], add = false;
        } else {
            i++, j++;
            continue;
        }
        if (cap - len < 160) {
            char *nc = realloc(cmd, cap * 2);
            if (nc == NULL) {
                rc = STRATA_ENOMEM;
                break;
            }
            cmd = nc, cap *= 2;
        }
        len += (size_t)element_line(cmd + len, cap - len, k, add);
        adds += add, dels += !add;
    }
    if (rc != 0) {
        free(cmd);
        free(w);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    if (len > 0 && (rc = run(n, cmd, NULL, e)) == 0) {
        n->st.elements_added += adds;
        n->st.elements_deleted += dels;
        free(n->pairs);
        n->pairs = w, n->n = cnt, n->cap = cnt ? cnt : 1;
        w = NULL;
    }
    free(cmd);
    free(w);
    return rc;
}

int gw_nft_read(struct gw_nft *n, struct gw_nft_pair **out, size_t *cnt, struct strata_err *e)
{
    const char *text;
    int rc = run(n, "list map inet " GW_NFT_TABLE " pairs", &text, e);
    if (rc != 0)
        return rc;
    uint64_t *k = NULL;
    size_t nk = 0, cap = 0;
    if (parse_pairs(text, &k, &nk, &cap) != 0 ||
        (*out = malloc((nk ? nk : 1) * sizeof(**out))) == NULL) {
        free(k);
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nk; i++)
        (*out)[i] = (struct gw_nft_pair){(uint32_t)(k[i] >> 32), (uint32_t)k[i]};
    *cnt = nk;
    free(k);
    return 0;
}

int gw_nft_remove(struct gw_nft *n, struct strata_err *e)
{
    const char *out;
    if (run(n, "list tables", &out, e) != 0)
        return e ? e->code : STRATA_EIO;
    if (strstr(out, "table inet " GW_NFT_TABLE "\n") == NULL)
        return 0;
    n->n = 0;
    return run(n, "delete table inet " GW_NFT_TABLE, NULL, e);
}

const struct gw_nft_stats *gw_nft_stats(const struct gw_nft *n)
{
    return &n->st;
}
