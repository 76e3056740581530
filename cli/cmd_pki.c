/* cmd_pki.c - `strata pki init` and `strata pki issue`: the CA and the certificates of mutual
 * TLS, made on this machine by lib/pki.c (no network). */
#include "cmd_common.h"

#include <stdlib.h>
#include <string.h>

#include "pki.h"

/* Both files of one name, as lib/pki.c writes them. */
struct pki_files {
    char crt[STRATA_PKI_PATH_MAX], key[STRATA_PKI_PATH_MAX];
};

static int pki_files(const char *dir, const char *name, struct pki_files *f, struct strata_err *e)
{
    int rc = strata_pki_path(dir, name, "crt", f->crt, sizeof(f->crt), e);
    return rc != 0 ? rc : strata_pki_path(dir, name, "key", f->key, sizeof(f->key), e);
}

static void pki_print_human(struct cli_ctx *ctx, const struct pki_files *f, const char *what)
{
    fprintf(ctx->out, "wrote %s (mode 0600: keep it secret)\nwrote %s: %s\n", f->key, f->crt, what);
}

int cli_pki_init(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    struct pki_files f;
    int rc = pki_files(a->dir, STRATA_PKI_CA_NAME, &f, e);
    if (rc == 0)
        rc = strata_pki_init(a->dir, e);
    if (rc != 0)
        return rc;
    if (!ctx->json) {
        char what[64];
        snprintf(what, sizeof(what), "the CA, valid %d days", STRATA_PKI_CA_DAYS);
        pki_print_human(ctx, &f, what);
        return 0;
    }
    struct cli_json j;
    cli_json_init(&j, ctx->out);
    cli_json_obj_begin(&j, NULL);
    cli_json_str(&j, "ca", f.crt);
    cli_json_str(&j, "key", f.key);
    cmd_json_end(&j);
    return 0;
}

/* "10.0.0.1,fd00::1" -> items pointing into *copy (the caller frees it). The addresses
 * themselves are judged by strata_pki_issue. */
static int pki_split_ips(const char *s, char **copy, const char **items, size_t *n,
                         struct strata_err *e)
{
    *n = 0;
    *copy = NULL;
    if (s == NULL)
        return 0;
    *copy = strdup(s);
    if (*copy == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    for (char *p = *copy;;) {
        size_t len = strcspn(p, ",");
        if (len == 0)
            return strata_err_set(e, STRATA_EINVAL, "bad IP list \"%.64s\"", s);
        if (*n == STRATA_PKI_MAX_IPS)
            return strata_err_set(e, STRATA_EINVAL, "more than %d IP addresses",
                                  STRATA_PKI_MAX_IPS);
        items[(*n)++] = p;
        if (p[len] == '\0')
            return 0;
        p[len] = '\0';
        p += len + 1;
    }
}

int cli_pki_issue(struct cli_ctx *ctx, const struct cli_args *a, struct strata_err *e)
{
    const char *ips[STRATA_PKI_MAX_IPS];
    char *copy = NULL;
    struct strata_pki_issue_opts o = {
        .dir = a->dir, .role = a->role, .name = a->id, .ips = ips, .days = (unsigned)a->days};
    struct pki_files f;
    int rc = pki_split_ips(a->ip, &copy, ips, &o.nips, e);
    if (rc == 0)
        rc = pki_files(a->dir, a->id, &f, e);
    if (rc == 0)
        rc = strata_pki_issue(&o, e);
    if (rc != 0) {
        free(copy);
        return rc;
    }
    unsigned days = o.days != 0 ? o.days : STRATA_PKI_DAYS_DEFAULT;
    if (!ctx->json) {
        char what[2048];
        size_t off = (size_t)snprintf(what, sizeof(what), "OU=%s, CN=%s, valid %u days", a->role,
                                      a->id, days);
        for (size_t i = 0; i < o.nips && off < sizeof(what); i++)
            off +=
                (size_t)snprintf(what + off, sizeof(what) - off, "%s%s", i ? "," : ", IP ", ips[i]);
        pki_print_human(ctx, &f, what);
    } else {
        struct cli_json j;
        cli_json_init(&j, ctx->out);
        cli_json_obj_begin(&j, NULL);
        cli_json_str(&j, "cert", f.crt);
        cli_json_str(&j, "key", f.key);
        cli_json_str(&j, "role", a->role);
        cli_json_str(&j, "id", a->id);
        cli_json_arr_begin(&j, "ips");
        for (size_t i = 0; i < o.nips; i++)
            cli_json_str(&j, NULL, ips[i]);
        cli_json_arr_end(&j);
        cli_json_u64(&j, "days", days);
        cmd_json_end(&j);
    }
    free(copy);
    return 0;
}
