/* dir_bench_load.h - the operations the directory benchmark times: endpoint_add writes and
 * resolve reads against Strata, puts and serializable gets of the same keys and value size
 * against etcd. Each client thread owns one dir_bench_client. */
#ifndef DIR_BENCH_LOAD_H
#define DIR_BENCH_LOAD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "msg.h"
#include "dir_bench_events.h"
#include "etcd_http.h"
#include "sp_req.h"

/* Keys written so far by one system, shared by its clients: writers take fresh sequence numbers
 * and record those that succeeded; readers pick among the recorded ones. */
struct dir_bench_keys {
    _Atomic uint64_t next; /* next sequence number to write (distinct MAC and IP) */
    _Atomic uint32_t *ok;  /* sequence numbers written successfully */
    _Atomic size_t nok;
    size_t cap;
};

int dir_bench_keys_init(struct dir_bench_keys *k, size_t cap, struct strata_err *e);
void dir_bench_keys_free(struct dir_bench_keys *k);

/* Endpoint number n: MAC 02:00:nn:nn:nn:nn and IP 10.x.y.z (never .0 or .255 in the last byte). */
void dir_bench_endpoint_addr(uint64_t n, uint8_t mac[6], uint8_t ip[4]);

/* The packed strata.v1 Command that adds endpoint n (with a client id and request id as a real
 * client sends them): its size is the value size of the etcd side. Returns the length written to
 * buf (0 if cap is too small). */
size_t dir_bench_command_pack(uint64_t n, uint8_t *buf, size_t cap);

struct dir_bench_client {
    unsigned index; /* client number, spreads reads over nodes */
    uint64_t ops;   /* operations issued so far */
    uint64_t rng;   /* xorshift state for picking keys to read */
    struct dir_bench_keys *keys;
    struct sp_req *sp;          /* Strata: one connection to one node */
    uint64_t client_id, req_id; /* what a real client puts in each write */
    struct etcd_http *http;     /* etcd: one keep-alive connection to one member */
    /* the operation in flight (split operations) */
    uint64_t pend_n;    /* key written, or read from etcd */
    uint8_t pend_ip[4]; /* IP resolved */
    uint32_t pend_id;   /* SP request id */
    uint8_t *frame;     /* SP request bytes (free at close) */
};

/* dir_bench_op_fn implementations (ctx is a struct dir_bench_client). */
int dir_bench_op_strata_write(void *ctx, struct strata_err *e);
int dir_bench_op_strata_read(void *ctx, struct strata_err *e);
int dir_bench_op_strata_linread(void *ctx, struct strata_err *e); /* a linearizable resolve */
int dir_bench_op_etcd_put(void *ctx, struct strata_err *e);
int dir_bench_op_etcd_get(void *ctx, struct strata_err *e);

/* The same four, split for the event-driven driver (dir_bench_events.h). */
extern const struct dir_bench_aop dir_bench_aop_strata_write, dir_bench_aop_strata_read,
    dir_bench_aop_strata_linread, dir_bench_aop_etcd_put, dir_bench_aop_etcd_get;

/* Build the endpoint_add command for endpoint n in caller storage (for the failover probe). */
struct dir_bench_ep_cmd {
    Strata__V1__Command cmd;
    Strata__V1__Endpoint ep;
    ProtobufCBinaryData ipbd;
    uint8_t mac[6], ip[4];
};
void dir_bench_ep_cmd_init(struct dir_bench_ep_cmd *c, uint64_t n);

#endif
