/* fuzz_sp_client.c - libFuzzer target: a server's TCP byte stream into a real strata_aclient on
 * tcp:// (lib/client_uv.c: handshake, frame reassembly, reply pairing; lib/client.c:
 * client_decode_reply), over loopback, with the loop run on the fuzzer's own thread: the side of
 * the transport that strata-csd (to the directory) and the agents (to their csd) run.
 *
 * Each input gets a fresh client with three calls in flight (request ids 1, 2 and 3, which the
 * stream's frames may answer). Input: [3 bytes of write sizes][stream], written by the target's
 * listening end in pieces that cycle through the sizes (1 + byte % 64 bytes), the loop taking
 * a turn after each; then the client is closed. Checked: nothing crashes, leaks or hangs, and
 * every call's callback fires exactly once. Seeds: fuzz_sp_frame's client side
 * (fuzz/corpus/fuzz_sp_frame/seed-client-*, without the side byte), written with
 * FZ_WRITE_CORPUS=DIR. Build: docs/fuzzing.md. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "fz_sp.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CALLS 3

static uv_loop_t uv;
static struct strata_loop *loop;
static int lis = -1;
static char url[64];
static int done[FZ_CALLS];

static void call_done(int rc, strata_env *reply, void *arg)
{
    (void)rc;
    done[(int *)arg - done]++;
    strata_msg_free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    const uint8_t *sizes = data, *s = data + 3;
    size_t n = size - 3;
    struct strata_aclient *c = NULL;
    struct strata_err e = {0};
    if (strata_aclient_open(loop, url, &c, &e) != 0) {
        fprintf(stderr, "fuzz_sp_client: %s\n", e.msg);
        abort();
    }
    static Strata__V1__Empty empty = STRATA__V1__EMPTY__INIT;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_EMPTY;
    req.empty = &empty;
    memset(done, 0, sizeof(done));
    for (int i = 0; i < FZ_CALLS; i++)
        if (strata_aclient_call(c, &req, 60000, call_done, &done[i]) != 0)
            abort();
    /* The client dials on the loop; the kernel completes the connection, we take it. */
    int fd = -1;
    for (int i = 0; i < 1000 && fd < 0; i++) {
        fz_sp_pump(&uv, -1);
        fd = accept4(lis, NULL, NULL, SOCK_NONBLOCK);
    }
    if (fd < 0) {
        perror("fuzz_sp_client: accept");
        abort();
    }
    fz_sp_stream(&uv, fd, sizes, s, n);
    strata_aclient_close(c);
    fz_sp_reset(fd);
    for (int i = 0; i < 3; i++)
        fz_sp_pump(&uv, -1);
    for (int i = 0; i < FZ_CALLS; i++)
        if (done[i] != 1) {
            fprintf(stderr, "call %d: %d callbacks\n", i + 1, done[i]);
            abort();
        }
    return 0;
}

static void fz_close(void)
{
    strata_loop_close(loop);
    uv_run(&uv, UV_RUN_DEFAULT);
    uv_loop_close(&uv);
    close(lis);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FZ_WRITE_CORPUS");
    if (dir != NULL) {
        fz_sp_write_seeds(dir, "client");
        exit(0);
    }
    strata_log_init("fuzz_sp_client", STRATA_LOG_ERROR); /* bad replies are logged as warnings */
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(addr);
    lis = socket(AF_INET, SOCK_STREAM, 0);
    if (lis < 0 || bind(lis, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        getsockname(lis, (struct sockaddr *)&addr, &alen) != 0 || listen(lis, 16) != 0) {
        perror("fuzz_sp_client: listen");
        abort();
    }
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", ntohs(addr.sin_port));
    struct strata_err e = {0};
    uv_loop_init(&uv);
    if (strata_loop_new(&uv, &loop, &e) != 0) {
        fprintf(stderr, "fuzz_sp_client: %s\n", e.msg);
        abort();
    }
    atexit(fz_close);
    return 0;
}
