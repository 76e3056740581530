/* etcd_cluster.h - start a local 3-member etcd cluster on 127.0.0.1 (through the test harness,
 * so h_cleanup stops it) and drive puts / serializable gets over its JSON gateway. */
#ifndef ETCD_CLUSTER_H
#define ETCD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "etcd_http.h"

#define ETCD_MEMBERS 3

struct etcd_cluster {
    char bin[512];
    char dir[512];
    int client_port[ETCD_MEMBERS];
    int peer_port[ETCD_MEMBERS];
    pid_t pid[ETCD_MEMBERS];
    char initial[256]; /* --initial-cluster, kept for restarts */
};

/* Path of `etcd` found on PATH into buf (absolute), and its version line into ver; false when
 * there is none. */
bool etcd_find(char *buf, size_t cap, char *ver, size_t vcap);

/* Start the cluster (`bin` from etcd_find) with data under a fresh harness tmpdir and wait up to
 * timeout_ms until every member accepts a put. */
int etcd_cluster_start(struct etcd_cluster *c, const char *bin, unsigned timeout_ms,
                       struct strata_err *e);
/* SIGTERM every member (the harness would SIGKILL them at exit anyway). */
void etcd_cluster_stop(struct etcd_cluster *c);

/* Index (0-based) of the member that is leader, asking the live members for their status. */
int etcd_cluster_leader(struct etcd_cluster *c, int *leader, struct strata_err *e);
/* SIGKILL member i. */
void etcd_cluster_kill(struct etcd_cluster *c, int i);
/* Restart member i on its data dir and wait up to timeout_ms until it accepts a put. */
int etcd_cluster_restart(struct etcd_cluster *c, int i, unsigned timeout_ms, struct strata_err *e);

/* The JSON bodies of a put and of a serializable range (in ETCD_BODY_MAX bytes of `body`), and
 * the checks of their replies, for etcd_put/etcd_get and the event-driven load driver. */
#define ETCD_BODY_MAX 4096
int etcd_put_body(const void *key, size_t klen, const void *val, size_t vlen, char *body, size_t *n,
                  struct strata_err *e);
int etcd_get_body(const void *key, size_t klen, char *body, size_t *n, struct strata_err *e);
int etcd_put_check(int status, const char *resp, struct strata_err *e);
int etcd_get_check(int status, const char *resp, bool *found, struct strata_err *e);

/* PUT key=value (raw bytes, base64-encoded on the wire). 0 on HTTP 200. */
int etcd_put(struct etcd_http *h, const void *key, size_t klen, const void *val, size_t vlen,
             struct strata_err *e);
/* Serializable GET of key: 0 with *found set on HTTP 200. */
int etcd_get(struct etcd_http *h, const void *key, size_t klen, bool *found, struct strata_err *e);

#endif
