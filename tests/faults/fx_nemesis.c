/* fx_nemesis.c - the fault harness's nemesis: a seeded schedule of kills, pauses, partitions
 * (nftables drop rules in a node's namespace, or its link down), a full disk, and pairs of
 * them; each fault held for a while, then everything healed. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx.h"
#include "harness.h"

struct fx_nemesis {
    struct fx_topo *t;
    struct fx_nemesis_opts o;
    pthread_t th;
    unsigned rs;
    int64_t t0_us, heal_us;
    unsigned counts[FX_FAULT_KINDS];
};

static const char *const fx_fault_names[FX_FAULT_KINDS] = {
    "kill", "pause", "isolate", "asymmetric", "link_down", "disk_full", "combination"};

const char *fx_fault_name(enum fx_fault k)
{
    return k < FX_FAULT_KINDS ? fx_fault_names[k] : "?";
}

static int fx_rand(struct fx_nemesis *n, int lo, int hi)
{
    return hi <= lo ? lo : lo + (int)(rand_r(&n->rs) % (unsigned)(hi - lo + 1));
}

static void fx_say(struct fx_nemesis *n, const char *what)
{
    fprintf(stderr, "nemesis %7.1fs %s\n", (double)(fx_now_us() - n->t0_us) / 1e6, what);
}

/* nft in node i's namespace: one table `fx` holding every drop rule of the current fault. */
static void fx_nft_drop(struct fx_topo *t, int i, const char *chain_hook, const char *match)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "ip netns exec %s nft 'add table inet fx; add chain inet fx %s { type filter hook "
             "%s priority 0; }; add rule inet fx %s %s drop' 2>&1",
             t->ns[i], chain_hook, chain_hook, chain_hook, match);
    char *out = NULL;
    if (h_run(cmd, &out) != 0)
        fprintf(stderr, "strata-faults: nft: %s", out ? out : "");
    free(out);
}

/* The leader, or (none answers: the previous fault left none) a random node. */
static int fx_target_leader(struct fx_nemesis *n)
{
    int r = fx_rand(n, 0, FX_NODES - 1), l = fx_leader(n->t); /* one draw either way */
    return l >= 0 ? l : r;
}

static void fx_apply(struct fx_nemesis *n, enum fx_fault k)
{
    struct fx_topo *t = n->t;
    char what[256], cmd[700];
    int a = fx_rand(n, 0, FX_NODES - 1), b = (a + fx_rand(n, 1, FX_NODES - 1)) % FX_NODES;
    n->counts[k]++;
    switch (k) {
    case FX_KILL:
        if (t->dird[a] > 0)
            h_kill9(t->dird[a]);
        t->dird[a] = 0;
        snprintf(what, sizeof(what), "kill -9 d%d", a + 1);
        break;
    case FX_PAUSE:
        a = fx_target_leader(n);
        if (t->dird[a] > 0)
            kill(t->dird[a], SIGSTOP);
        snprintf(what, sizeof(what), "SIGSTOP d%d (leader)", a + 1);
        break;
    case FX_ISOLATE: {
        a = fx_target_leader(n);
        char m[128];
        int p = (a + 1) % FX_NODES, q = (a + 2) % FX_NODES;
        snprintf(m, sizeof(m), "ip saddr { 192.0.2.%d, 192.0.2.%d }", p + 1, q + 1);
        fx_nft_drop(t, a, "input", m);
        snprintf(m, sizeof(m), "ip daddr { 192.0.2.%d, 192.0.2.%d }", p + 1, q + 1);
        fx_nft_drop(t, a, "output", m);
        snprintf(what, sizeof(what), "isolate d%d (leader) from d%d and d%d: minority of one",
                 a + 1, p + 1, q + 1);
        break;
    }
    case FX_ASYM: {
        char m[64];
        snprintf(m, sizeof(m), "ip saddr 192.0.2.%d", b + 1);
        fx_nft_drop(t, a, "input", m);
        snprintf(what, sizeof(what), "d%d drops what d%d sends (one way)", a + 1, b + 1);
        break;
    }
    case FX_LINKDOWN:
        snprintf(cmd, sizeof(cmd), "ip -n %s link set eth0 down", t->ns[a]);
        h_run(cmd, NULL);
        snprintf(what, sizeof(what), "link down d%d", a + 1);
        break;
    case FX_DISKFULL:
        /* never more than the tmpfs holds, and only while it is one: a root disk is shared */
        if (!fx_disk_is_tmpfs(t)) {
            n->counts[k]--;
            fprintf(stderr, "strata-faults: %s is no longer a tmpfs: disk fault skipped\n",
                    t->data[FX_DISK_NODE]);
            return;
        }
        snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of=%s/fill bs=1M count=%d 2>/dev/null; true",
                 t->data[FX_DISK_NODE], FX_DISK_MB);
        h_run(cmd, NULL);
        snprintf(what, sizeof(what), "disk full d%d", FX_DISK_NODE + 1);
        break;
    default:
        return;
    }
    fx_say(n, what);
}

static void fx_sleep_ms(int ms)
{
    /* the schedule's own timing: how long a fault holds, not a synchronisation */
    usleep((useconds_t)ms * 1000);
}

static void *fx_nemesis_main(void *arg)
{
    struct fx_nemesis *n = arg;
    int64_t end = n->t0_us + (int64_t)n->o.duration_s * 1000000;
    fx_sleep_ms(fx_rand(n, n->o.gap_min_ms, n->o.gap_max_ms));
    while (fx_now_us() < end) {
        enum fx_fault k = (enum fx_fault)fx_rand(n, 0, FX_FAULT_KINDS - 1);
        if (k == FX_COMBO) {
            n->counts[FX_COMBO]++;
            enum fx_fault k1 = (enum fx_fault)fx_rand(n, 0, FX_COMBO - 1),
                          k2 = (enum fx_fault)((k1 + fx_rand(n, 1, FX_COMBO - 1)) % FX_COMBO);
            fx_say(n, "combination:");
            fx_apply(n, k1);
            fx_apply(n, k2);
        } else {
            fx_apply(n, k);
        }
        fx_sleep_ms(fx_rand(n, n->o.hold_min_ms, n->o.hold_max_ms));
        fx_heal_all(n->t);
        fx_hist_healed(n->o.hist, fx_now_us());
        fx_say(n, "healed");
        if (fx_now_us() < end)
            fx_sleep_ms(fx_rand(n, n->o.gap_min_ms, n->o.gap_max_ms));
    }
    fx_heal_all(n->t);
    n->heal_us = fx_now_us();
    fx_hist_healed(n->o.hist, n->heal_us);
    fx_say(n, "end of schedule: all healed");
    return NULL;
}

int fx_nemesis_start(struct fx_topo *t, const struct fx_nemesis_opts *o, struct fx_nemesis **out)
{
    struct fx_nemesis *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return -1;
    n->t = t;
    n->o = *o;
    n->rs = o->seed;
    n->t0_us = fx_now_us();
    if (pthread_create(&n->th, NULL, fx_nemesis_main, n) != 0) {
        free(n);
        return -1;
    }
    *out = n;
    return 0;
}

void fx_nemesis_join(struct fx_nemesis *n, int64_t *heal_us)
{
    pthread_join(n->th, NULL);
    *heal_us = n->heal_us;
}

void fx_nemesis_counts(const struct fx_nemesis *n, unsigned counts[FX_FAULT_KINDS])
{
    memcpy(counts, n->counts, sizeof(n->counts));
}

void fx_nemesis_free(struct fx_nemesis *n)
{
    free(n);
}
