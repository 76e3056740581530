/* test_package.c - the Debian package (issue 24, "Day two"): ci/package builds it from this build
 * tree; it holds every program, systemd unit, man page and the completion where the units and
 * the docs say; the units pass `systemd-analyze verify`; every man page renders without a groff
 * warning and documents every flag its program's --help lists; the extracted programs run; and
 * strata-dird started exactly as its unit's ExecStart says serves `strata cluster status`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "h_tls.h"
#include "harness.h"

#define NDAEMONS 4
static const char *const daemons[NDAEMONS] = {"strata-dird", "strata-csd", "strata-agentd",
                                              "strata-gwd"};
static const char *const units[NDAEMONS] = {"strata-dird@.service", "strata-csd@.service",
                                            "strata-agentd.service", "strata-gwd@.service"};

struct pkg {
    const char *tmp;
    char deb[1024];
    char root[1024];    /* where the package was extracted */
    const char *prefix; /* the install prefix the package was built for ("/usr/local") */
    char *listing;      /* dpkg-deb -c */
    char *info;         /* dpkg-deb -I */
};
static struct pkg P;

static char *run_ok(const char *cmd)
{
    struct h_out o = h_run_out(cmd, P.tmp);
    if (o.status != 0)
        fail_msg("`%s` exited %d: %s%s", cmd, o.status, o.out, o.err);
    free(o.err);
    return o.out;
}

/* A checker that says what is wrong and may still exit 0 (groff, systemd-analyze verify): its
 * stdout and stderr together, which must be empty. */
static char *run_said(const char *cmd)
{
    struct h_out o = h_run_out(cmd, P.tmp);
    if (o.status != 0)
        fail_msg("`%s` exited %d: %s%s", cmd, o.status, o.out, o.err);
    size_t n = strlen(o.out) + strlen(o.err) + 1;
    char *all = malloc(n);
    assert_non_null(all);
    snprintf(all, n, "%s%s", o.out, o.err);
    h_out_free(&o);
    return all;
}

static bool have(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
    return h_run(cmd, NULL) == 0;
}

/* PREFIX/rel inside the extracted tree. */
static const char *in_root(const char *rel)
{
    static char bufs[4][2048];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "%s%s/%s", P.root, P.prefix, rel);
    return b;
}

static int setup(void **state)
{
    (void)state;
    const char *bin = getenv("STRATA_BIN"), *src = getenv("STRATA_SRC");
    P.prefix = getenv("STRATA_PREFIX");
    if (bin == NULL || src == NULL || P.prefix == NULL) {
        fprintf(stderr, "STRATA_BIN, STRATA_SRC and STRATA_PREFIX must be set (ctest does)\n");
        return -1;
    }
    P.tmp = h_tmpdir("pkg");
    /* The build tree is STRATA_BIN's parent; package it as it is (no rebuild inside a test). */
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "'%s/ci/package' --build-dir '%s/..' --no-build --out '%s/out'", src,
             bin, P.tmp);
    uint64_t t0 = h_now_ms();
    char *out = run_ok(cmd);
    char *nl = strrchr(out, '\n');
    if (nl != NULL && nl[1] == '\0')
        *nl = '\0';
    char *last = strrchr(out, '\n');
    snprintf(P.deb, sizeof(P.deb), "%s", last != NULL ? last + 1 : out);
    free(out);
    fprintf(stderr, "package %s built in %llu ms\n", P.deb, (unsigned long long)(h_now_ms() - t0));
    struct stat st;
    if (stat(P.deb, &st) != 0 || st.st_size == 0)
        return -1;
    snprintf(cmd, sizeof(cmd), "dpkg-deb -c '%s'", P.deb);
    P.listing = run_ok(cmd);
    snprintf(cmd, sizeof(cmd), "dpkg-deb -I '%s'", P.deb);
    P.info = run_ok(cmd);
    snprintf(P.root, sizeof(P.root), "%s/root", P.tmp);
    snprintf(cmd, sizeof(cmd), "dpkg-deb -x '%s' '%s'", P.deb, P.root);
    free(run_ok(cmd));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(P.listing);
    free(P.info);
    h_cleanup();
    return 0;
}

/* The listing holds ./PREFIX/rel as a regular file (mode -rw or -rwx). */
static void listed(const char *rel, bool exec)
{
    char want[1024];
    snprintf(want, sizeof(want), " .%s/%s\n", P.prefix, rel);
    for (const char *p = P.listing; (p = strstr(p, want)) != NULL; p++) {
        const char *line = p;
        while (line > P.listing && line[-1] != '\n')
            line--;
        if (line[0] == '-' && (!exec || line[3] == 'x'))
            return;
    }
    fail_msg("the package lacks %s .%s/%s", exec ? "program" : "file", P.prefix, rel);
}

static void test_contents(void **state)
{
    (void)state;
    char rel[512];
    listed("bin/strata", true);
    listed("share/man/man1/strata.1.gz", false);
    listed("share/bash-completion/completions/strata", false);
    listed("lib/sysusers.d/strata.conf", false);
    for (int i = 0; i < NDAEMONS; i++) {
        snprintf(rel, sizeof(rel), "sbin/%s", daemons[i]);
        listed(rel, true);
        snprintf(rel, sizeof(rel), "share/man/man8/%s.8.gz", daemons[i]);
        listed(rel, false);
        snprintf(rel, sizeof(rel), "lib/systemd/system/%s", units[i]);
        listed(rel, false);
    }
    /* Only those five programs: benchmarks and test programs are not for production machines. */
    int programs = 0;
    for (const char *line = P.listing; line != NULL && *line; line = strchr(line, '\n')) {
        line += *line == '\n';
        size_t len = strcspn(line, "\n");
        char l[1024];
        snprintf(l, sizeof(l), "%.*s", (int)len, line);
        if (l[0] == '-' && (strstr(l, "/bin/") != NULL || strstr(l, "/sbin/") != NULL))
            programs++;
    }
    assert_int_equal(programs, 1 + NDAEMONS);
    assert_non_null(strstr(P.info, "Package: strata\n"));
    assert_non_null(strstr(P.info, " postinst "));
}

/* Every library the programs link comes from a package the control file depends on. */
static void test_depends(void **state)
{
    (void)state;
    const char *dep = strstr(P.info, " Depends: ");
    assert_non_null(dep);
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "for f in '%s'/bin/* '%s'/sbin/*; do readelf -d \"$f\" | "
             "sed -n 's/.*(NEEDED).*\\[\\(.*\\)\\]/\\1/p'; done | sort -u",
             in_root(""), in_root(""));
    char *libs = run_ok(cmd);
    int checked = 0;
    for (char *save = NULL, *lib = strtok_r(libs, "\n", &save); lib != NULL;
         lib = strtok_r(NULL, "\n", &save)) {
        /* the sanitizers' runtimes (a test build's) and the dynamic loader are not dependencies */
        if (strncmp(lib, "libasan", 7) == 0 || strncmp(lib, "libubsan", 8) == 0 ||
            strncmp(lib, "ld-linux", 8) == 0)
            continue;
        snprintf(cmd, sizeof(cmd), "dpkg -S '*/%s' | head -1 | cut -d: -f1", lib);
        char *pkg = run_ok(cmd);
        pkg[strcspn(pkg, "\n")] = '\0';
        char want[256];
        snprintf(want, sizeof(want), " %s", pkg);
        const char *hit = strstr(dep, want);
        if (pkg[0] == '\0' || hit == NULL || !strchr(" ,(\n", hit[strlen(want)]))
            fail_msg("%s (package %s) is not in the package's %.300s", lib, pkg, dep);
        checked++;
        free(pkg);
    }
    free(libs);
    fprintf(stderr, "%d linked libraries covered by Depends\n", checked);
    assert_true(checked >= 8);
}

static void test_programs_run(void **state)
{
    (void)state;
    char cmd[2048], rel[256], want[256];
    for (int i = -1; i < NDAEMONS; i++) {
        const char *name = i < 0 ? "strata" : daemons[i];
        snprintf(rel, sizeof(rel), "%s/%s", i < 0 ? "bin" : "sbin", name);
        snprintf(cmd, sizeof(cmd), "'%s' --version", in_root(rel));
        char *out = run_ok(cmd);
        snprintf(want, sizeof(want), "%s %s (git ", name, getenv("STRATA_VERSION"));
        if (strncmp(out, want, strlen(want)) != 0)
            fail_msg("%s --version said \"%s\", not \"%s...\"", name, out, want);
        free(out);
    }
}

/* Each page renders without a warning, and names every flag its program's --help lists. */
static void test_man_pages(void **state)
{
    (void)state;
    char cmd[4096], rel[256], page[256];
    for (int i = -1; i < NDAEMONS; i++) {
        const char *name = i < 0 ? "strata" : daemons[i];
        snprintf(page, sizeof(page), "share/man/man%d/%s.%d.gz", i < 0 ? 1 : 8, name,
                 i < 0 ? 1 : 8);
        if (have("groff")) {
            snprintf(cmd, sizeof(cmd), "zcat '%s' | groff -man -Tutf8 -ww -z", in_root(page));
            char *warn = run_said(cmd);
            if (warn[0] != '\0')
                fail_msg("groff warns about %s: %s", page, warn);
            free(warn);
        }
        snprintf(rel, sizeof(rel), "%s/%s", i < 0 ? "bin" : "sbin", name);
        snprintf(cmd, sizeof(cmd),
                 "'%s' --help | grep -o -- '^  --[a-z][a-z-]*' | sed 's/^ *//' | sort -u",
                 in_root(rel));
        char *flags = run_ok(cmd);
        snprintf(cmd, sizeof(cmd), "zcat '%s'", in_root(page));
        char *troff = run_ok(cmd);
        /* The flags --help lists (its lines "  --name ..."); a flag is documented by its own tagged
         * paragraph (".B" or ".BI" with the flag in quotes) among the options, not by a mention in
         * the synopsis or the prose. */
        const char *opts = strstr(troff, i < 0 ? "\n.SH GLOBAL FLAGS\n" : "\n.SH OPTIONS\n");
        assert_non_null(opts);
        int n = 0;
        for (char *save = NULL, *fl = strtok_r(flags, "\n", &save); fl != NULL;
             fl = strtok_r(NULL, "\n", &save), n++) {
            char tag[128] = "\"";
            size_t t = 1;
            for (const char *c = fl; *c && t + 4 < sizeof(tag); c++) {
                if (*c == '-')
                    tag[t++] = '\\';
                tag[t++] = *c;
            }
            tag[t++] = '"';
            tag[t] = '\0';
            char b[160], bi[160];
            snprintf(b, sizeof(b), "\n.B %s\n", tag);
            snprintf(bi, sizeof(bi), "\n.BI %s ", tag);
            if (strstr(opts, b) == NULL && strstr(opts, bi) == NULL)
                fail_msg("%s's page does not document %s (its --help lists it)", name, fl);
        }
        assert_true(n >= 5);
        assert_non_null(strstr(troff, ".SH NAME\n"));
        free(flags);
        free(troff);
    }
}

static void test_completion(void **state)
{
    (void)state;
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "bash -c 'source \"%s\"; c() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); "
             "_strata; echo \"${COMPREPLY[*]}\"; }; c strata vn; c strata vnet \"\"; "
             "c strata --json vnet create --d; c strata policy set --domain d \"\"'",
             in_root("share/bash-completion/completions/strata"));
    char *out = run_ok(cmd);
    assert_string_equal(out, "vnet\ncreate list delete\n--domain --directory\nallow deny\n");
    free(out);
}

/* `systemd-analyze verify` of each unit (an instance, found next to its template), on a copy
 * whose ExecStart points into the extracted tree (verify checks the program is there). Verify
 * exits 0 on an unknown key or a bad value: any line it prints fails the test. */
static void test_units_verify(void **state)
{
    (void)state;
    if (!have("systemd-analyze")) {
        fprintf(stderr, "no systemd-analyze: units not verified\n");
        return;
    }
    for (int i = 0; i < NDAEMONS; i++) {
        char src[512], inst[256], cmd[4096];
        snprintf(src, sizeof(src), "lib/systemd/system/%s", units[i]);
        const char *at = strstr(units[i], "@.");
        if (at != NULL)
            snprintf(inst, sizeof(inst), "%.*s@1.%s", (int)(at - units[i]), units[i], at + 2);
        else
            snprintf(inst, sizeof(inst), "%s", units[i]);
        snprintf(cmd, sizeof(cmd),
                 "mkdir -p '%s/units' && sed 's|^ExecStart=%s/|ExecStart=%s%s/|' '%s' > "
                 "'%s/units/%s' && cd '%s/units' && systemd-analyze verify --man=no './%s'",
                 P.tmp, P.prefix, P.root, P.prefix, in_root(src), P.tmp, units[i], P.tmp, inst);
        char *out = run_said(cmd);
        if (out[0] != '\0')
            fail_msg("systemd-analyze verify %s: %s", units[i], out);
        free(out);
    }
}

/* The postinst makes the strata user the units run dird and csd as with systemd-sysusers and
 * the packaged sysusers.d file: done here into the extracted tree (--root), not the machine. */
static void test_sysusers_makes_the_user(void **state)
{
    (void)state;
    if (!have("systemd-sysusers")) {
        fprintf(stderr, "no systemd-sysusers: the user's declaration not checked\n");
        return;
    }
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/etc' && systemd-sysusers --root='%s' strata.conf",
             P.root, P.root);
    free(run_ok(cmd));
    snprintf(cmd, sizeof(cmd), "grep '^strata:' '%s/etc/passwd'", P.root);
    char *line = run_ok(cmd);
    assert_non_null(strstr(line, ":/var/lib/strata:"));
    free(line);
    /* and the units that use it say so */
    snprintf(cmd, sizeof(cmd), "grep -l '^User=strata$' '%s'/*.service | wc -l",
             in_root("lib/systemd/system"));
    char *n = run_ok(cmd);
    assert_int_equal(atoi(n), 2);
    free(n);
}

/* The unit's ExecStart, split as systemd splits it, with %i, the data directory and
 * $STRATA_FLAGS (the EnvironmentFile's variable) given their values. */
static int exec_start(const char *unit, const char *inst, const char *state_dir, const char *flags,
                      char **argv, int max)
{
    char src[1024];
    snprintf(src, sizeof(src), "lib/systemd/system/%s", unit);
    FILE *f = fopen(in_root(src), "r");
    assert_non_null(f);
    static char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strncmp(line, "ExecStart=", 10) == 0;
    fclose(f);
    assert_true(found);
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line + 10, " \n", &save); w != NULL && n + 1 < max;
         w = strtok_r(NULL, " \n", &save)) {
        char word[1024] = "";
        if (strcmp(w, "$STRATA_FLAGS") == 0) {
            static char fl[4096];
            snprintf(fl, sizeof(fl), "%s", flags);
            for (char *s2 = NULL, *x = strtok_r(fl, " ", &s2); x != NULL && n + 1 < max;
                 x = strtok_r(NULL, " ", &s2))
                argv[n++] = x;
            continue;
        }
        /* %i, the packaged paths into the extracted tree and the state directory */
        size_t o = 0;
        for (const char *c = w; *c && o + 512 < sizeof(word);) {
            if (strncmp(c, "%i", 2) == 0) {
                o += (size_t)snprintf(word + o, sizeof(word) - o, "%s", inst);
                c += 2;
            } else if (c == w && strncmp(c, P.prefix, strlen(P.prefix)) == 0) {
                o += (size_t)snprintf(word + o, sizeof(word) - o, "%s%s", P.root, P.prefix);
                c += strlen(P.prefix);
            } else if (strncmp(c, "/var/lib/strata", 15) == 0) {
                o += (size_t)snprintf(word + o, sizeof(word) - o, "%s", state_dir);
                c += 15;
            } else {
                word[o++] = *c++;
            }
        }
        word[o] = '\0';
        assert_null(strchr(word, '%')); /* every specifier the unit uses is handled here */
        assert_null(strchr(word, '$'));
        argv[n++] = strdup(word);
    }
    argv[n] = NULL;
    return n;
}

struct status_wait {
    const char *cmd; /* strata cluster status */
    pid_t pid;       /* the node: a node that exited will not answer */
    bool ok;
};

static bool cli_status_ok(void *arg)
{
    struct status_wait *w = arg;
    if (!h_alive(w->pid))
        return true;
    char *out = NULL;
    int st = h_run(w->cmd, &out);
    w->ok = st == 0 && out != NULL && strstr(out, "\"leader\":1,") != NULL;
    free(out);
    return w->ok;
}

static void test_dird_as_unit_starts_it(void **state)
{
    (void)state;
    int raft = h_free_port(), api = h_free_port(), metrics = h_free_port();
    char flags[2048], state_dir[1024];
    snprintf(state_dir, sizeof(state_dir), "%s/state", P.tmp);
    mkdir(state_dir, 0700); /* systemd's StateDirectory= makes /var/lib/strata/dird-ID */
    char *tls[8] = {0};
    int nt = 0;
    h_tls_argv(tls, &nt, "directory", "1", NULL);
    int o = snprintf(flags, sizeof(flags),
                     "--raft 127.0.0.1:%d --api %s127.0.0.1:%d --cluster 1=127.0.0.1:%d "
                     "--metrics 127.0.0.1:%d --election-timeout-ms 200",
                     raft, h_tls_scheme(), api, raft, metrics);
    for (int i = 0; i < nt; i++)
        o += snprintf(flags + o, sizeof(flags) - (size_t)o, " %s", tls[i]);
    char *argv[64];
    int n = exec_start("strata-dird@.service", "1", state_dir, flags, argv, 64);
    assert_true(n > 8);
    char log[1024];
    snprintf(log, sizeof(log), "%s/dird.log", P.tmp);
    pid_t pid = h_spawn(argv, log);
    assert_true(pid > 0);

    h_tls_operator(); /* STRATA_TLS_* for the CLI */
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' --json --directory %s127.0.0.1:%d cluster status 2>/dev/null",
             in_root("bin/strata"), h_tls_scheme(), api);
    struct status_wait w = {cmd, pid, false};
    if (!h_wait_until(cli_status_ok, &w, 20000) || !w.ok) {
        snprintf(cmd, sizeof(cmd), "cat '%s'", log);
        char *l = NULL;
        h_run(cmd, &l);
        fail_msg("strata-dird started as its unit does never served cluster status: %s", l);
    }
    char *m = h_http_get(metrics, "/metrics");
    assert_non_null(m);
    free(m);
    struct stat st;
    char dd[1100];
    snprintf(dd, sizeof(dd), "%s/dird-1", state_dir);
    assert_int_equal(stat(dd, &st), 0); /* its data directory is the unit's */
    int status = h_stop(pid, 10000);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contents),
        cmocka_unit_test(test_depends),
        cmocka_unit_test(test_programs_run),
        cmocka_unit_test(test_man_pages),
        cmocka_unit_test(test_completion),
        cmocka_unit_test(test_units_verify),
        cmocka_unit_test(test_sysusers_makes_the_user),
        cmocka_unit_test(test_dird_as_unit_starts_it),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
