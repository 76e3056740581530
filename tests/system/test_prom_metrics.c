/* test_prom_metrics.c - every daemon's /metrics passes `promtool check metrics` (issue 24:
 * counters end in _total, base units, no _sum/_count outside histograms): three strata-dird
 * nodes and two strata-csd in the topology's infra namespace, a strata-agentd and a strata-gwd
 * in node namespaces, each scraped once it has done some work (a leader elected, the gateway
 * registered and live, routes on the gateway) by the setup. Then every strata_* metric
 * docs/alerts.yml names is exported by one of them (but the one it says is not exported yet), and
 * the metrics the alerts rely on tell the truth (one leader, the gateway live, the disk's need
 * known). A missing promtool fails unless STRATA_TEST_NO_PROMTOOL is set. Needs root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h_prom.h"
#include "harness.h"
#include "topo.h"

static struct topo T;
static struct topo_node *H1, *GW1;

#define N_TARGETS 7
static struct target {
    char name[16];
    const char *ns;
    int port;
    const char *ready; /* a sample that must be present (and, for ready_min, at least that) */
    double ready_min;
    char *text; /* the last scrape */
} TG[N_TARGETS];

/* The body of an HTTP response (the scrape), or the text itself. */
static const char *body_of(const char *text)
{
    const char *b = strstr(text, "\r\n\r\n");
    return b != NULL ? b + 4 : text;
}

static bool target_ready(void *arg)
{
    struct target *t = arg;
    free(t->text);
    t->text = topo_scrape(t->ns, t->port);
    return t->text != NULL && h_metric(body_of(t->text), t->ready) >= t->ready_min;
}

static int setup(void **state)
{
    (void)state;
    if (topo_start(&T, "prom") != 0)
        return -1;
    if ((H1 = topo_node(&T, "h1", false)) == NULL || (GW1 = topo_node(&T, "gw1", true)) == NULL)
        return -1;
    char gw[128];
    snprintf(gw, sizeof(gw), "gateway add --id gw1 --vtep %s --vni 100", GW1->vtep);
    const char *prov[] = {"domain create acme", "vnet create --vni 100 --domain acme",
                          "subnet create --vni 100 --cidr 10.1.0.0/24 --gateway 10.1.0.1", gw};
    for (size_t i = 0; i < sizeof(prov) / sizeof(prov[0]); i++)
        if (topo_provision(&T, "%s", prov[i]) != 0)
            return -1;
    if (topo_node_start(&T, H1) != 0 || topo_node_start(&T, GW1) != 0)
        return -1;
    for (int i = 0; i < 3; i++)
        TG[i] = (struct target){.ns = T.infra,
                                .port = TOPO_DIRD_METRICS_PORT + i,
                                .ready = "strata_dird_gateways_live",
                                .ready_min = 1};
    for (int i = 0; i < 2; i++)
        TG[3 + i] = (struct target){
            .ns = T.infra, .port = TOPO_CSD_METRICS_PORT + i, .ready = "strata_cs_feed_index"};
    TG[5] = (struct target){
        .ns = H1->ns, .port = TOPO_METRICS_PORT, .ready = "strata_agent_cs_failovers_total"};
    TG[6] = (struct target){
        .ns = GW1->ns, .port = TOPO_METRICS_PORT, .ready = "strata_gw_routes", .ready_min = 1};
    for (int i = 0; i < 3; i++)
        snprintf(TG[i].name, sizeof(TG[i].name), "dird%d", i + 1);
    for (int i = 0; i < 2; i++)
        snprintf(TG[3 + i].name, sizeof(TG[3 + i].name), "csd%d", i + 1);
    snprintf(TG[5].name, sizeof(TG[5].name), "agentd");
    snprintf(TG[6].name, sizeof(TG[6].name), "gwd");
    int bad = 0;
    for (int i = 0; i < N_TARGETS; i++) {
        struct target *t = &TG[i];
        if (!h_wait_until(target_ready, t, 20000)) {
            fprintf(stderr, "setup: %s: no %s >= %g on :%d within 20 s (logs in %s)\n", t->name,
                    t->ready, t->ready_min, t->port, T.tmp);
            bad++;
        }
    }
    return bad == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < N_TARGETS; i++)
        free(TG[i].text);
    return 0;
}

static void test_every_daemon_promtool_clean(void **state)
{
    (void)state;
    const char *pt = h_promtool_or_skip();
    int bad = 0;
    for (int i = 0; i < N_TARGETS; i++) {
        struct target *t = &TG[i];
        char *out = NULL;
        int st = h_promtool_check_metrics(pt, t->text, T.tmp, &out);
        if (st != 0 || out[0] != '\0') {
            fprintf(stderr, "%s: promtool check metrics -> %d:\n%s", t->name, st, out);
            bad++;
        }
        free(out);
    }
    assert_int_equal(bad, 0);
}

/* A sample named exactly `name` (with or without labels) in any scrape. */
static bool exported(const char *name)
{
    size_t nl = strlen(name);
    for (int i = 0; i < N_TARGETS; i++)
        for (const char *p = TG[i].text != NULL ? body_of(TG[i].text) : NULL; p != NULL;) {
            if (strncmp(p, name, nl) == 0 && (p[nl] == ' ' || p[nl] == '{'))
                return true;
            p = strchr(p, '\n');
            p = p != NULL ? p + 1 : NULL;
        }
    return false;
}

static void test_alert_metrics_exist(void **state)
{
    (void)state;
    char path[1024];
    const char *src = getenv("STRATA_SRC");
    snprintf(path, sizeof(path), "%s/docs/alerts.yml", src != NULL ? src : ".");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    int names = 0, missing = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *hash = strchr(line, '#');
        if (hash != NULL && strspn(line, " ") == (size_t)(hash - line))
            continue; /* a comment line names metrics in prose */
        for (const char *p = strstr(line, "strata_"); p != NULL; p = strstr(p, "strata_")) {
            char name[128];
            size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
            snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : 0), p);
            p += n;
            names++;
            if (!exported(name)) {
                fprintf(stderr, "docs/alerts.yml names %s, which no daemon exports\n", name);
                missing++;
            }
        }
    }
    fclose(f);
    assert_true(names >= 8);
    assert_int_equal(missing, 0);
}

/* What the alerts read: exactly one leader, the gateway live on every node, a need for disk. */
static void test_alert_metrics_true(void **state)
{
    (void)state;
    double leaders = 0;
    for (int i = 0; i < 3; i++) {
        const char *b = body_of(TG[i].text);
        leaders += h_metric(b, "strata_dird_is_leader");
        assert_int_equal((int)h_metric(b, "strata_dird_gateways"), 1);
        assert_int_equal((int)h_metric(b, "strata_dird_gateways_live"), 1);
        assert_true(h_metric(b, "strata_dird_data_dir_needed_bytes") >= 8 << 20);
        assert_true(h_metric(b, "strata_dird_data_dir_free_bytes") > 0);
    }
    assert_int_equal((int)leaders, 1);
    for (int i = 3; i < 5; i++)
        assert_int_equal((int)h_metric(body_of(TG[i].text), "strata_cs_feed_stalled"), 0);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("system tests need root: skipped\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_daemon_promtool_clean),
        cmocka_unit_test(test_alert_metrics_exist),
        cmocka_unit_test(test_alert_metrics_true),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
