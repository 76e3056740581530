/* h_tls.c - the tests' PKI (h_tls.h), made with lib/pki.c as `strata pki` makes it. */
#include "h_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "pki.h"

static int tls_mode = -1; /* -1: from the environment */

bool h_tls(void)
{
    if (tls_mode < 0) {
        const char *v = getenv("STRATA_TEST_TLS");
        tls_mode = v == NULL || strcmp(v, "0") != 0;
    }
    return tls_mode == 1;
}

void h_tls_force(bool on)
{
    tls_mode = on;
}

const char *h_tls_scheme(void)
{
    return h_tls() ? "tls+tcp://" : "tcp://";
}

static void h_tls_die(const char *what, const struct strata_err *e)
{
    fprintf(stderr, "h_tls: %s: %s\n", what, e->msg);
    abort();
}

static char h_tls_path[1024]; /* the CA this process made, removed at its exit */

static void h_tls_remove(void)
{
    const char *keep = getenv("STRATA_KEEP");
    if (h_tls_path[0] == '\0' || (keep != NULL && strcmp(keep, "1") == 0))
        return;
    char cmd[1100];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h_tls_path);
    h_run(cmd, NULL);
}

static const char *tls_dir;

void h_tls_keep_dir(const char *dir)
{
    tls_dir = dir;
}

const char *h_tls_dir(void)
{
    static const char *dir;
    if (dir == NULL && (dir = getenv("STRATA_TEST_PKI")) != NULL)
        return dir; /* a test's child process: its parent's CA */
    if (dir == NULL && tls_dir != NULL) {
        struct strata_err e;
        char ca[STRATA_PKI_PATH_MAX];
        if (strata_pki_path(tls_dir, STRATA_PKI_CA_NAME, "crt", ca, sizeof(ca), &e) != 0)
            h_tls_die(tls_dir, &e);
        if (access(ca, F_OK) != 0 && strata_pki_init(tls_dir, &e) != 0)
            h_tls_die("CA", &e);
        dir = tls_dir;
    }
    if (dir == NULL) {
        /* not an h_tmpdir: tests call h_cleanup between runs, and the CA outlives them */
        struct strata_err e;
        const char *base = getenv("TMPDIR");
        snprintf(h_tls_path, sizeof(h_tls_path), "%s/strata-pki-XXXXXX",
                 base != NULL && *base ? base : "/tmp");
        char path[1100];
        if (mkdtemp(h_tls_path) == NULL) {
            strata_err_set(&e, STRATA_EIO, "mkdtemp %s failed", h_tls_path);
            h_tls_die("CA", &e);
        }
        atexit(h_tls_remove);
        snprintf(path, sizeof(path), "%s/ca", h_tls_path);
        if (strata_pki_init(path, &e) != 0)
            h_tls_die("CA", &e);
        dir = strdup(path);
        setenv("STRATA_TEST_PKI", dir, 1);
    }
    return dir;
}

struct strata_tls_files h_tls_files(const char *role, const char *name, const char *ip)
{
    struct strata_err e;
    const char *dir = h_tls_dir();
    char crt[STRATA_PKI_PATH_MAX], key[STRATA_PKI_PATH_MAX], ca[STRATA_PKI_PATH_MAX];
    if (strata_pki_path(dir, name, "crt", crt, sizeof(crt), &e) != 0 ||
        strata_pki_path(dir, name, "key", key, sizeof(key), &e) != 0 ||
        strata_pki_path(dir, STRATA_PKI_CA_NAME, "crt", ca, sizeof(ca), &e) != 0)
        h_tls_die(name, &e);
    if (access(crt, F_OK) != 0) {
        const char *ips[2] = {"127.0.0.1", ip};
        struct strata_pki_issue_opts o = {
            .dir = dir, .role = role, .name = name, .ips = ips, .nips = ip != NULL ? 2 : 1};
        if (strata_pki_issue(&o, &e) != 0)
            h_tls_die(name, &e);
    }
    struct strata_tls_files f = {strdup(ca), strdup(crt), strdup(key)};
    return f;
}

void h_tls_argv(char **argv, int *a, const char *role, const char *name, const char *ip)
{
    if (h_tls())
        h_tls_flags(argv, a, role, name, ip);
}

void h_tls_flags(char **argv, int *a, const char *role, const char *name, const char *ip)
{
    struct strata_tls_files f = h_tls_files(role, name, ip);
    argv[(*a)++] = (char *)"--tls-ca";
    argv[(*a)++] = (char *)f.ca;
    argv[(*a)++] = (char *)"--tls-cert";
    argv[(*a)++] = (char *)f.cert;
    argv[(*a)++] = (char *)"--tls-key";
    argv[(*a)++] = (char *)f.key;
}

void h_tls_args(char **argv, const char *role, const char *name, const char *ip)
{
    int a = 0;
    while (argv[a] != NULL)
        a++;
    h_tls_argv(argv, &a, role, name, ip);
    argv[a] = NULL;
}

struct strata_tls *h_tls_ctx(const char *role, const char *name)
{
    struct strata_tls_files f = h_tls_files(role, name, NULL);
    struct strata_tls *t;
    struct strata_err e;
    if (strata_tls_open(&f, &t, &e) != 0)
        h_tls_die(name, &e);
    return t;
}

struct strata_tls *h_tls_ident(const char *identity)
{
    static struct {
        char id[80];
        struct strata_tls *t;
    } cache[64];
    if (!h_tls())
        return NULL;
    h_tls_operator();
    const char *role = NULL, *name = NULL;
    if (identity != NULL && strncmp(identity, "host:", 5) == 0)
        role = "agent", name = identity + 5;
    else if (identity != NULL && strncmp(identity, "gw:", 3) == 0)
        role = "gateway", name = identity + 3;
    if (role == NULL || name[0] == '\0')
        return strata_tls_default();
    size_t i = 0;
    for (; i < sizeof(cache) / sizeof(cache[0]) && cache[i].t != NULL; i++)
        if (strcmp(cache[i].id, identity) == 0)
            return cache[i].t;
    struct strata_tls *t = h_tls_ctx(role, name);
    if (i < sizeof(cache) / sizeof(cache[0])) {
        snprintf(cache[i].id, sizeof(cache[i].id), "%s", identity);
        cache[i].t = t;
    }
    return t;
}

void h_tls_operator(void)
{
    static struct strata_tls *op;
    if (!h_tls() || op != NULL)
        return;
    op = h_tls_ctx("operator", "test-operator");
    strata_tls_set_default(op);
    /* and the CLI the tests run */
    struct strata_tls_files f = h_tls_files("operator", "test-operator", NULL);
    setenv("STRATA_TLS_CA", f.ca, 1);
    setenv("STRATA_TLS_CERT", f.cert, 1);
    setenv("STRATA_TLS_KEY", f.key, 1);
}
