/* cmd_common.c - write/list plumbing and local validation shared by the command handlers. */
#include "cmd_common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int cmd_write(struct cli_ctx *ctx, Strata__V1__Command *cmd, uint64_t *index, strata_env **reply,
              struct strata_err *e)
{
    strata_env *r = NULL;
    int rc = cli_dir_write(ctx, cmd, &r, e);
    if (rc != 0)
        return rc;
    *index = r->write_reply != NULL ? r->write_reply->index : 0;
    if (reply != NULL)
        *reply = r;
    else
        strata_msg_free(r);
    return 0;
}

void cmd_json_write_begin(struct cli_ctx *ctx, struct cli_json *j, const char *op, uint64_t index)
{
    cli_json_init(j, ctx->out);
    cli_json_obj_begin(j, NULL);
    cli_json_u64(j, "index", index);
    cli_json_str(j, "op", op);
}

void cmd_json_end(struct cli_json *j)
{
    cli_json_obj_end(j);
    cli_json_finish(j);
}

int cmd_list(struct cli_ctx *ctx, Strata__V1__ObjKind kind, uint32_t vni, uint64_t min_index,
             bool linearizable, strata_env **reply, struct strata_err *e)
{
    Strata__V1__ListRequest lr = STRATA__V1__LIST_REQUEST__INIT;
    lr.kind = kind;
    lr.vni = vni;
    lr.min_index = min_index;
    lr.linearizable = linearizable;
    strata_env req = STRATA__V1__ENVELOPE__INIT;
    req.body_case = STRATA__V1__ENVELOPE__BODY_LIST;
    req.list = &lr;
    return cli_dir_call(ctx, &req, STRATA__V1__ENVELOPE__BODY_LIST_REPLY, reply, e);
}

int cmd_parse_endpoint_mac(const char *s, uint8_t mac[6], struct strata_err *e)
{
    int rc = strata_mac_parse(s, mac, e);
    if (rc != 0)
        return rc;
    if (!strata_mac_is_unicast(mac))
        return strata_err_set(e, STRATA_EINVAL, "MAC %.32s is %s: an endpoint needs a unicast MAC",
                              s, (mac[0] & 1) ? "multicast" : "all-zero");
    return 0;
}

const char *cmd_mac_canon(const char *typed, char *buf)
{
    uint8_t mac[6];
    if (typed == NULL || strata_mac_parse(typed, mac, NULL) != 0)
        return typed;
    return strata_mac_format(mac, buf);
}

int cmd_check_label(const char *s, const char *what, struct strata_err *e)
{
    if (strlen(s) > STRATA_MAX_STR)
        return strata_err_set(e, STRATA_EINVAL, "%s is longer than %d bytes", what, STRATA_MAX_STR);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return strata_err_set(e, STRATA_EINVAL, "%s contains a control character", what);
    return 0;
}

int cmd_parse_verdict(const char *s, Strata__V1__Verdict *v, struct strata_err *e)
{
    if (strcmp(s, "allow") == 0)
        *v = STRATA__V1__VERDICT__VERDICT_ALLOW;
    else if (strcmp(s, "deny") == 0)
        *v = STRATA__V1__VERDICT__VERDICT_DENY;
    else
        return strata_err_set(e, STRATA_EINVAL, "verdict must be allow or deny, not \"%.32s\"", s);
    return 0;
}

int cmd_parse_member_id(const char *s, uint64_t *id, struct strata_err *e)
{
    struct strata_err pe = {0};
    if (strata_u64_parse(s, 1, UINT64_MAX, id, &pe) != 0)
        return strata_err_set(e, STRATA_EINVAL, "bad member id \"%.32s\": %s", s, pe.msg);
    return 0;
}

const char *cmd_u64(uint64_t v, char *buf)
{
    snprintf(buf, 24, "%" PRIu64, v);
    return buf;
}

const char *cmd_cs_list(const struct cli_args *a)
{
    const char *list = a->cs != NULL ? a->cs : getenv("STRATA_CS");
    return list != NULL && *list != '\0' ? list : NULL;
}

int cmd_cs_split(const char *list, size_t cap, char **copy, const char **urls, size_t *n,
                 struct strata_err *e)
{
    *n = 0;
    if ((*copy = strdup(list)) == NULL)
        return strata_err_set(e, STRATA_ENOMEM, "out of memory");
    char *save = NULL;
    for (char *u = strtok_r(*copy, ",", &save); u != NULL; u = strtok_r(NULL, ",", &save)) {
        if (*n == cap)
            return strata_err_set(e, STRATA_EINVAL, "--cs: at most %zu servers", cap);
        int rc = strata_url_check(u, "--cs", e);
        if (rc != 0)
            return rc;
        urls[(*n)++] = u;
    }
    return 0;
}
