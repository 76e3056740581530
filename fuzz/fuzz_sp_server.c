/* fuzz_sp_server.c - libFuzzer target: a client's TCP byte stream into a real strata_server on
 * tcp:// (lib/server_uv.c: handshake, frame reassembly, backtraces, limits; lib/server.c: decode
 * and error replies), over loopback, with the loop run on the fuzzer's own thread. Where
 * fuzz_sp_frame checks a copy of the reassembly loop, this one runs the daemons' own.
 *
 * Input: [3 bytes of write sizes][stream]. The stream is written in pieces that cycle through the
 * sizes (1 + byte % 64 bytes), the loop taking a turn after each so that the server reads it
 * piece by piece; then the connection is reset. The handler echoes every request. Checked:
 * nothing crashes or leaks (ASan, UBSan) or hangs (libFuzzer's -timeout). Seeds: those of
 * fuzz_sp_frame's server side (fuzz/corpus/fuzz_sp_frame/seed-server-*, without the side byte),
 * written with FZ_WRITE_CORPUS=DIR. Build: docs/fuzzing.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fz_sp.h"
#include "log.h"
#include "server.h"
#include "sp_wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t uv;
static struct strata_loop *loop;
static struct strata_server *srv;
static struct sockaddr_in addr = {.sin_family = AF_INET};

/* A blocking connect that libFuzzer's timer signal (SIGALRM, every -timeout/2 s) may interrupt:
 * the connection goes on in the kernel, so wait for it rather than fail. */
static int fz_connect(int fd)
{
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
        return 0;
    if (errno != EINTR)
        return -1;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t len = sizeof(err);
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -1;
    errno = err;
    return err == 0 ? 0 : -1;
}

static void echo(struct strata_req *req, const strata_env *env, void *arg)
{
    (void)arg;
    strata_req_reply(req, (strata_env *)env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    const uint8_t *sizes = data, *s = data + 3;
    size_t n = size - 3;
    /* From a source address of 127/8 that changes with every input: the server closes some
     * connections first, and its TIME_WAITs (60 s) must not meet a new connection's SYN, which
     * the kernel answers with a challenge ACK and the client retries only after 1 s. 2^24
     * addresses last well over 60 s at any rate this target reaches. */
    static uint32_t src;
    src = (src + 1) % 0xfffffe;
    struct sockaddr_in from = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(0x7f000000u | (src + 1))};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0 || fz_connect(fd) != 0) {
        perror("fuzz_sp_server: connect");
        abort();
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fz_sp_stream(&uv, fd, sizes, s, n);
    fz_sp_reset(fd);
    fz_sp_pump(&uv, -1);
    fz_sp_pump(&uv, -1);
    return 0;
}

static void fz_close(void)
{
    strata_server_close(srv);
    strata_loop_close(loop);
    uv_run(&uv, UV_RUN_DEFAULT);
    uv_loop_close(&uv);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FZ_WRITE_CORPUS");
    if (dir != NULL) {
        fz_sp_write_seeds(dir, "server");
        exit(0);
    }
    strata_log_init("fuzz_sp_server", STRATA_LOG_ERROR); /* bad messages are logged as warnings */
    /* A free port: bound by the kernel, released, then listened on by the server. */
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(addr);
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    if (probe < 0 || bind(probe, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        getsockname(probe, (struct sockaddr *)&addr, &alen) != 0) {
        perror("fuzz_sp_server: port");
        abort();
    }
    close(probe);
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", ntohs(addr.sin_port));
    struct strata_err e = {0};
    uv_loop_init(&uv);
    struct strata_server_opts o = {.url = url};
    if (strata_loop_new(&uv, &loop, &e) != 0 ||
        strata_server_open(loop, &o, echo, NULL, &srv, &e) != 0) {
        fprintf(stderr, "fuzz_sp_server: %s\n", e.msg);
        abort();
    }
    atexit(fz_close);
    return 0;
}
