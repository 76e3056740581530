/* dird_auth.c - who may do what at a directory node: one table of rules, each a set of roles,
 * for every request and every write command. The caller is the TLS peer's certificate; in
 * plaintext (no peer) everything is allowed, as the daemon's startup warning says. */
#include <stdio.h>
#include <string.h>

#include "dird.h"

struct dird_rule {
    const char *name;
    unsigned roles;
    const char *why;
};

static const struct dird_rule R_ADMIN = {
    "admin", STRATA_ROLE_OPERATOR | STRATA_ROLE_DIRECTORY,
    "domains, VNs, subnets, gateways and policy are changed by operators"};
static const struct dird_rule R_REGISTER = {
    "register", STRATA_ROLE_OPERATOR | STRATA_ROLE_DIRECTORY | STRATA_ROLE_CONNECTIVITY,
    "hosts and endpoints are registered by operators, or by connectivity servers for their "
    "agents"};
static const struct dird_rule R_READ = {
    "read", STRATA_ROLE_OPERATOR | STRATA_ROLE_DIRECTORY | STRATA_ROLE_CONNECTIVITY,
    "agents and gateways ask their connectivity server, not the directory"};
static const struct dird_rule R_MEMBERSHIP = {"membership",
                                              STRATA_ROLE_OPERATOR | STRATA_ROLE_DIRECTORY,
                                              "cluster membership is changed by operators"};
static const struct dird_rule R_MEMBER_TABLE = {
    "member-table", STRATA_ROLE_DIRECTORY,
    "a member's addresses are recorded by that directory node only (operators use cluster add)"};
static const struct dird_rule R_BACKUP = {
    "backup", STRATA_ROLE_OPERATOR | STRATA_ROLE_DIRECTORY,
    "a backup holds the whole directory: operators take it (directories forward it)"};
static const struct dird_rule R_NONE = {"unknown", 0, "no rule allows this request"};

static const struct dird_rule *rule_of_command(const Strata__V1__Command *cmd)
{
    switch (cmd->op_case) {
    case STRATA__V1__COMMAND__OP_DOMAIN_CREATE:
    case STRATA__V1__COMMAND__OP_VNET_CREATE:
    case STRATA__V1__COMMAND__OP_VNET_DELETE:
    case STRATA__V1__COMMAND__OP_SUBNET_CREATE:
    case STRATA__V1__COMMAND__OP_GATEWAY_ADD:
    case STRATA__V1__COMMAND__OP_GATEWAY_DELETE:
    case STRATA__V1__COMMAND__OP_POLICY_SET:
    case STRATA__V1__COMMAND__OP_POLICY_DELETE:
    case STRATA__V1__COMMAND__OP_HOST_DELETE:
    case STRATA__V1__COMMAND__OP_DOMAIN_DELETE:
    case STRATA__V1__COMMAND__OP_SUBNET_DELETE:
        return &R_ADMIN;
    case STRATA__V1__COMMAND__OP_HOST_ADD:
    case STRATA__V1__COMMAND__OP_ENDPOINT_ADD:
    case STRATA__V1__COMMAND__OP_ENDPOINT_MOVE:
    case STRATA__V1__COMMAND__OP_ENDPOINT_DELETE:
    case STRATA__V1__COMMAND__OP_GATEWAY_LIVE:
        return &R_REGISTER;
    case STRATA__V1__COMMAND__OP_MEMBER_SET:
    case STRATA__V1__COMMAND__OP_MEMBER_DEL:
        return &R_MEMBER_TABLE;
    default:
        return &R_NONE;
    }
}

static const char *command_name(const Strata__V1__Command *cmd)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &strata__v1__command__descriptor, (unsigned)cmd->op_case);
    return f != NULL ? f->name : "an unknown command";
}

static int deny(const struct strata_peer *p, const char *what, const struct dird_rule *r,
                struct strata_err *e)
{
    return strata_err_set(e, STRATA_EDENIED, "%s %s may not %s (rule %s: %s)",
                          strata_role_name(p->role), p->name, what, r->name, r->why);
}

int dird_auth_command(const struct strata_peer *p, const Strata__V1__Command *cmd,
                      struct strata_err *e)
{
    if (p == NULL || cmd == NULL) /* a write without a command is refused as malformed */
        return 0;
    const struct dird_rule *r = rule_of_command(cmd);
    if (!(p->role & r->roles))
        return deny(p, command_name(cmd), r, e);
    /* A node records its own addresses only: a member-table entry from anyone else is how
     * followers were made to forward writes to a fake leader. */
    if (cmd->op_case == STRATA__V1__COMMAND__OP_MEMBER_SET) {
        const Strata__V1__MemberSet *ms = cmd->member_set;
        char id[24];
        snprintf(id, sizeof(id), "%llu", (unsigned long long)(ms != NULL ? ms->id : 0));
        if (strcmp(id, p->name) != 0)
            return strata_err_set(e, STRATA_EDENIED,
                                  "directory %s may not record member %s's addresses (rule %s: "
                                  "%s)",
                                  p->name, id, r->name, r->why);
    }
    return 0;
}

int dird_auth_request(const struct strata_peer *p, const strata_env *env, struct strata_err *e)
{
    if (p == NULL)
        return 0;
    const struct dird_rule *r = &R_NONE;
    switch (env->body_case) {
    case STRATA__V1__ENVELOPE__BODY_WRITE:
        return dird_auth_command(p, env->write->cmd, e);
    case STRATA__V1__ENVELOPE__BODY_WRITE_BATCH:
        /* all or nothing: a batch is one client's, and one refused command refuses it */
        for (size_t i = 0; i < env->write_batch->n_cmds; i++) {
            int rc = dird_auth_command(p, env->write_batch->cmds[i], e);
            if (rc != 0)
                return rc;
        }
        return 0;
    case STRATA__V1__ENVELOPE__BODY_LIST:
    case STRATA__V1__ENVELOPE__BODY_RESOLVE:
    case STRATA__V1__ENVELOPE__BODY_VN_INFO:
    case STRATA__V1__ENVELOPE__BODY_FEED:
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_STATUS:
        r = &R_READ;
        break;
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_ADD:
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_REMOVE:
    case STRATA__V1__ENVELOPE__BODY_CLUSTER_TRANSFER:
        r = &R_MEMBERSHIP;
        break;
    case STRATA__V1__ENVELOPE__BODY_BACKUP:
        r = &R_BACKUP;
        break;
    default:
        break;
    }
    if (!(p->role & r->roles))
        return deny(p, strata_msg_type_name(env->body_case), r, e);
    return 0;
}
