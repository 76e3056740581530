/* cs_main.c - strata-csd: flags, startup (cache, directory client, feed, agent server, metrics)
 * and clean shutdown on SIGTERM. A restarted server starts cold and warms on demand. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cs.h"
#include "flags.h"
#include "log.h"

#define TICK_MS 1000

static struct cs g_cs;

static void on_tick(uv_timer_t *t)
{
    cs_show_refresh(t->data);
}

static void on_signal(void *arg)
{
    struct cs *cs = arg;
    if (cs->stopping)
        return;
    cs->stopping = true;
    LOG_INFO("SIGTERM: stopping");
    uv_timer_stop(&cs->tick);
    uv_close((uv_handle_t *)&cs->tick, NULL);
    cs_agents_close(cs->agents); /* answers parked long-polls */
    cs_gw_close(cs);
    cs_wait_close(cs);
    cs_audit_close(cs);
    cs_feed_stop(cs);
    cs_up_close(cs->up); /* in-flight work completes with EUNAVAIL, replies go out */
    if (cs->srv != NULL) {
        strata_server_close(cs->srv);
        cs->srv = NULL;
    }
    if (cs->metrics != NULL) {
        strata_metrics_close(cs->metrics);
        cs->metrics = NULL;
    }
    strata_loop_close(cs->loop);
}

static int check_flags(struct cs *cs, struct strata_err *e)
{
    if (strata_name_check(cs->id, "--id", e) != 0 || strata_name_check(cs->pod, "--pod", e) != 0)
        return e->code;
    if (strata_url_check(cs->listen, "--listen", e) != 0 ||
        strata_urls_check(cs->directory, "--directory", e) != 0)
        return e->code;
    return 0;
}

/* The man page's words (strata-csd --help-man); the flags come from the table in main. */
static const struct strata_flags_about cs_about = {
    .name = "strata-csd",
    .section = 8,
    .summary = "Strata connectivity server: the directory's answers, cached for one pod",
    .description =
        "strata-csd serves the host agents and gateways of one pod (--pod). It answers their "
        "resolution requests (which VTEP holds a MAC or an IP of a virtual network) from its "
        "cache, asking the directory (--directory) on a miss, follows the directory's change "
        "feed to keep the cache true, and pushes changes to the agents that asked about them "
        "(their interest sets) over the long-poll every agent keeps open.\n"
        "\n"
        "It keeps no state on disk: a restarted server starts cold and warms on demand. Run two "
        "or more per pod; agents fail over between them in the order of their --cs list.\n"
        "\n"
        "With --tls-ca, --tls-cert and --tls-key it listens and dials with mutual TLS only "
        "(tls+tcp:// URLs) and authorizes callers by their certificates.",
    .files = (const char *const[]){"/etc/strata/csd-ID.conf",
                                   "with the packaged unit strata-csd@ID.service: STRATA_FLAGS, "
                                   "the flags besides --id",
                                   NULL},
    .see_also = "The systemd unit strata-csd@.service; docs/connectivity.md in the Strata "
                "sources, installed under share/doc/strata.",
};

int main(int argc, char **argv)
{
    struct cs *cs = &g_cs;
    struct strata_err e = {0};
    cs->negative_ttl_ms = 2000;
    cs->cache_max = 1000000;
    cs->contexts = 4096;
    cs->busy_poll_us = STRATA_LOOP_BUSY_POLL_US;
    cs->session_idle_s = CS_SESSION_IDLE_S;
    cs->session_max = CS_SESSION_MAX;
    int log_level = -1; /* --log-level, else STRATA_LOG_LEVEL */
    const struct strata_flag flags[] = {
        {"id", STRATA_FLAG_STR, &cs->id, "NAME", "this server's name", true, 0, 0},
        {"pod", STRATA_FLAG_STR, &cs->pod, "POD", "the pod it serves", true, 0, 0},
        {"listen", STRATA_FLAG_STR, &cs->listen, "tcp://HOST:PORT",
         "where agents, gateways and operators connect", true, 0, 0},
        {"directory", STRATA_FLAG_STR, &cs->directory, "URL[,URL...]",
         "the directory nodes' API addresses", true, 0, 0},
        {"metrics", STRATA_FLAG_STR, &cs->metrics_addr, "HOST:PORT",
         "serve Prometheus metrics on http://HOST:PORT/metrics", false, 0, 0},
        {"negative-ttl-ms", STRATA_FLAG_U64, &cs->negative_ttl_ms, "MS",
         "how long a negative answer is kept at most", false, 0, 3600000},
        {"cache-max-entries", STRATA_FLAG_U64, &cs->cache_max, "N",
         "cached keys before the least recently used go", false, 1, 1000000000},
        {"contexts", STRATA_FLAG_U64, &cs->contexts, "N",
         "requests in flight at once on --listen; every agent parks one", false, 16, 1000000},
        {"session-idle-s", STRATA_FLAG_U64, &cs->session_idle_s, "S",
         "an agent session with no request and no long-poll this long ends (the agent "
         "resynchronises when it returns)",
         false, 1, 86400},
        {"session-max", STRATA_FLAG_U64, &cs->session_max, "N",
         "agent sessions at once; beyond, new names are refused (EBUSY)", false, 1, 16000000},
        {"busy-poll-us", STRATA_FLAG_U64, &cs->busy_poll_us, "US",
         "after answering on tcp://, poll this long for the next request before sleeping (0: "
         "off)",
         false, 0, 10000},
        STRATA_TLS_FLAG_ROWS(&cs->tls_files),
        STRATA_LOG_FLAG_ROW(&log_level),
        STRATA_FLAGS_END_ABOUT(&cs_about),
    };
    int argi = 1;
    int rc = strata_flags_parse(flags, argc, argv, &argi, &e);
    if (rc == STRATA_ENOTFOUND) {
        printf("usage: strata-csd [flags]\n       strata-csd --version | --help-man\n");
        strata_flags_usage(stdout, flags);
        return 0;
    }
    if (rc == 0 && argi < argc)
        rc = strata_err_set(&e, STRATA_EINVAL, "unexpected argument '%s'", argv[argi]);
    if (rc == 0)
        rc = check_flags(cs, &e);
    if (rc != 0) {
        fprintf(stderr, "strata-csd: %s\n", e.msg);
        strata_flags_usage(stderr, flags);
        return 2;
    }
    char comp[80];
    snprintf(comp, sizeof(comp), "csd/%s", cs->id);
    strata_log_init(comp, log_level);
    signal(SIGPIPE, SIG_IGN);
    if (strata_tls_daemon(&cs->tls_files, "strata-csd", STRATA_ROLE_CONNECTIVITY, cs->id, &cs->tls,
                          &e) != 0 ||
        strata_tls_url_check(cs->tls, cs->listen, "--listen", &e) != 0 ||
        strata_tls_urls_check(cs->tls, cs->directory, "--directory", &e) != 0) {
        fprintf(stderr, "strata-csd: %s\n", e.msg);
        return 2;
    }

    static uv_loop_t uv;
    uv_loop_init(&uv);
    cs->uv = &uv;
    cs->cache = cs_cache_new(cs->cache_max);
    if (cs->cache == NULL || cs_agents_new(cs, &cs->agents) != 0 || cs_wait_new(cs) != 0) {
        fprintf(stderr, "strata-csd: out of memory\n");
        return 1;
    }
    cs_cache_on_evict(cs->cache, cs_feed_evicted, cs);
    strata_nofile_raise(); /* room for many agents: the server caps connections by it */
    struct strata_server_opts so = {.url = cs->listen, .contexts = (int)cs->contexts};
    if (strata_loop_new(&uv, &cs->loop, &e) != 0 || cs_up_new(cs, &cs->up, &e) != 0 ||
        cs_show_metrics(cs, &e) != 0 || cs_feed_start(cs, &e) != 0 ||
        strata_server_open(cs->loop, &so, cs_api_handle, cs, &cs->srv, &e) != 0) {
        LOG_ERROR("startup failed: %s", e.msg);
        fprintf(stderr, "strata-csd: %s\n", e.msg);
        return 1;
    }
    strata_server_metrics(cs->srv, cs->metrics, "cs_listen");
    strata_loop_set_busy_poll(cs->loop, (unsigned)cs->busy_poll_us);
    strata_loop_on_signal(cs->loop, on_signal, cs);
    uv_timer_init(&uv, &cs->tick);
    cs->tick.data = cs;
    uv_timer_start(&cs->tick, on_tick, TICK_MS, TICK_MS);
    LOG_INFO("serving listen=%s pod=%s directory=%s cache_max=%llu negative_ttl_ms=%llu "
             "session_idle_s=%llu session_max=%llu",
             cs->listen, cs->pod, cs->directory, (unsigned long long)cs->cache_max,
             (unsigned long long)cs->negative_ttl_ms, (unsigned long long)cs->session_idle_s,
             (unsigned long long)cs->session_max);

    strata_loop_run(cs->loop); /* busy-polls after answering (--busy-poll-us) */
    uv_run(&uv, UV_RUN_NOWAIT);
    if (uv_loop_close(&uv) != 0)
        LOG_WARN("loop closed with handles still open");
    cs_feed_free(cs);
    cs_up_free(cs->up);
    cs_ports_free(cs);
    cs_agents_free(cs->agents);
    cs_gw_free(cs);
    cs_wait_free(cs);
    cs_vninfo_free(cs);
    cs_cache_free(cs->cache);
    LOG_INFO("stopped");
    return 0;
}
