/* harness.h - helpers for integration and system tests: start and stop real daemons, poll with a
 * deadline (never sleep to synchronise), temporary directories, free ports, cleanup on failure. */
#ifndef STRATA_HARNESS_H
#define STRATA_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Path of a built program: "$STRATA_BIN/<name>" (STRATA_BIN is set by CTest to build/bin). */
const char *h_bin(const char *name);

/* A fresh directory under $TMPDIR (or /tmp), removed by h_cleanup(). */
const char *h_tmpdir(const char *tag);

/* A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read, close). */
int h_free_port(void);

/* Start argv[0] (a path) with argv, stdout+stderr appended to `logpath`. Registered for
 * h_cleanup (SIGKILL at exit, even when a test fails). Returns the pid or -1. */
pid_t h_spawn(char *const argv[], const char *logpath);
/* Signal and reap: SIGTERM then wait up to timeout_ms, then SIGKILL. Returns the exit status as
 * from waitpid, or -1. */
int h_stop(pid_t pid, int timeout_ms);
/* SIGKILL and reap. */
void h_kill9(pid_t pid);
bool h_alive(pid_t pid);

/* Poll `pred(arg)` every few ms until it returns true or timeout_ms passes. */
bool h_wait_until(bool (*pred)(void *arg), void *arg, int timeout_ms);

/* Run a shell command line, capturing stdout into a malloc'd string (*out may be NULL). Returns
 * the exit status (0..255) or -1. */
int h_run(const char *cmdline, char **out);

/* A command's exit status (as h_run), its stdout and stderr apart (never NULL), and how long it
 * ran. */
struct h_out {
    int status;
    char *out, *err;
    uint64_t ms;
};
/* Run a shell command line capturing both (stderr through a file in `dir`). */
struct h_out h_run_out(const char *cmdline, const char *dir);
/* Run a setup command line built from fmt; on failure say on stderr which and what it printed
 * (stdout and stderr). 0, or -1 when it did not exit 0. */
int h_must(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A whole file (malloc'd), or NULL when it cannot be read. */
char *h_read_file(const char *path);
void h_out_free(struct h_out *o);

/* GET http://127.0.0.1:port/path (HTTP/1.0, 2 s timeout); the body in a malloc'd string, or NULL
 * when the server cannot be reached or does not answer 200. */
char *h_http_get(int port, const char *path);
/* The value of an unlabelled Prometheus sample `name` in a text exposition, or -1 when absent. */
double h_metric(const char *text, const char *name);

/* Kill every process h_spawn started and remove h_tmpdir directories (unless STRATA_KEEP=1).
 * Installed with atexit() by the first h_spawn/h_tmpdir; safe to call twice. */
void h_cleanup(void);

uint64_t h_now_ms(void);

/* For h_wait_until: whether the directory node at URL `url` (a char *) answers a cluster status
 * naming a leader. */
bool h_dir_has_leader(void *url);

#endif
