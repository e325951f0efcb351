
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The "victorops_integration NAME { ... }" block and the directives
 * that refer to an integration by name, as they are read; what is checked
 * once the block or http{} is parsed is in ngx_http_victorops_conf_check.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_FILE_MAX  4096


/* what the configuration checks of a URL directive need to know */

typedef struct {
    ngx_str_t                     host;
    unsigned                      plain:1;            /* http:// */
    unsigned                      userinfo:1;         /* user:pass@ */
    unsigned                      loopback:1;
} ngx_http_victorops_url_t;


static ngx_http_victorops_integration_t *ngx_http_victorops_integration_create(
    ngx_conf_t *cf, ngx_str_t *name);
static char *ngx_http_victorops_integration_directive(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static char *ngx_http_victorops_conf_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_victorops_conf_value(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_victorops_conf_store(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_victorops_conf_password(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_victorops_conf_secret(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_victorops_conf_signing(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_victorops_conf_escalate(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_victorops_conf_rule(ngx_conf_t *cf,
    ngx_http_victorops_rule_t *rule, ngx_str_t *param);
static ngx_int_t ngx_http_victorops_conf_targets(ngx_conf_t *cf,
    ngx_http_victorops_rule_t *rule, ngx_str_t *name, ngx_str_t *list);
static ngx_int_t ngx_http_victorops_conf_list(ngx_conf_t *cf,
    ngx_str_t *value, ngx_array_t *list);
static char *ngx_http_victorops_conf_words(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_victorops_conf_read(ngx_conf_t *cf,
    ngx_str_t *path, ngx_str_t *value);
static ngx_int_t ngx_http_victorops_conf_header_safe(ngx_str_t *value);
static ngx_int_t ngx_http_victorops_url_parse(ngx_pool_t *pool,
    ngx_str_t *url, ngx_http_victorops_url_t *u);
static ngx_uint_t ngx_http_victorops_host_loopback(ngx_str_t *host);


#define NGX_HTTP_VICTOROPS_FROM_FILE  (void *) 1


static ngx_conf_enum_t  ngx_http_victorops_store_sync[] = {
    { ngx_string("normal"), 0 },
    { ngx_string("full"), 1 },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_victorops_overflow[] = {
    { ngx_string("queue"), 0 },
    { ngx_string("reject"), 1 },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_victorops_duplicate_index_bounds = {
    ngx_conf_check_num_bounds, 16, 16777216
};


static ngx_command_t  ngx_http_victorops_integration_commands[] = {

    { ngx_string("rootly_url"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_url,
      0,
      offsetof(ngx_http_victorops_integration_t, rootly_url),
      NULL },

    { ngx_string("rootly_token"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_value,
      0,
      offsetof(ngx_http_victorops_integration_t, rootly_token),
      NULL },

    { ngx_string("rootly_token_file"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_value,
      0,
      offsetof(ngx_http_victorops_integration_t, rootly_token),
      NGX_HTTP_VICTOROPS_FROM_FILE },

    { ngx_string("rootly_timeout"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, rootly_timeout),
      NULL },

    { ngx_string("webhook_secret"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_secret,
      0,
      offsetof(ngx_http_victorops_integration_t, webhook_secrets),
      NULL },

    { ngx_string("webhook_secret_file"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_secret,
      0,
      offsetof(ngx_http_victorops_integration_t, webhook_secrets),
      NGX_HTTP_VICTOROPS_FROM_FILE },

    { ngx_string("escalation_auth_code"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_signing,
      0,
      offsetof(ngx_http_victorops_integration_t, escalation_codes),
      NULL },

    { ngx_string("escalation_auth_code_file"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_signing,
      0,
      offsetof(ngx_http_victorops_integration_t, escalation_codes),
      NGX_HTTP_VICTOROPS_FROM_FILE },

    { ngx_string("escalation_url"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_url,
      0,
      offsetof(ngx_http_victorops_integration_t, escalation_url),
      NULL },

    { ngx_string("escalation_max_body"),
      NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, escalation_max_body),
      NULL },

    { ngx_string("escalation_max_fields"),
      NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, escalation_max_fields),
      NULL },

    { ngx_string("api_url"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_url,
      0,
      offsetof(ngx_http_victorops_integration_t, api_url),
      NULL },

    { ngx_string("api_id"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_value,
      0,
      offsetof(ngx_http_victorops_integration_t, api_id),
      NULL },

    { ngx_string("api_key"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_value,
      0,
      offsetof(ngx_http_victorops_integration_t, api_key),
      NULL },

    { ngx_string("api_key_file"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_value,
      0,
      offsetof(ngx_http_victorops_integration_t, api_key),
      NGX_HTTP_VICTOROPS_FROM_FILE },

    { ngx_string("api_user"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_value,
      0,
      offsetof(ngx_http_victorops_integration_t, api_user),
      NULL },

    { ngx_string("portal_url"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_url,
      0,
      offsetof(ngx_http_victorops_integration_t, portal_url),
      NULL },

    { ngx_string("store"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_store,
      0,
      offsetof(ngx_http_victorops_integration_t, store),
      NULL },

    { ngx_string("store_password_file"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_password,
      0,
      offsetof(ngx_http_victorops_integration_t, store_password),
      NULL },

    { ngx_string("store_timeout"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, store_timeout),
      NULL },

    { ngx_string("node_id"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_value,
      0,
      offsetof(ngx_http_victorops_integration_t, node_id),
      NULL },

    { ngx_string("store_spool"),
      NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, store_spool),
      NULL },

    { ngx_string("store_sync"),
      NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, store_sync),
      &ngx_http_victorops_store_sync },

    { ngx_string("store_busy_timeout"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, store_busy_timeout),
      NULL },

    { ngx_string("alert_limit"),
      NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, alert_limit),
      NULL },

    { ngx_string("alert_limit_overflow"),
      NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, alert_limit_reject),
      &ngx_http_victorops_overflow },

    { ngx_string("duplicate_window"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, duplicate_window),
      NULL },

    { ngx_string("duplicate_index"),
      NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, duplicate_index),
      &ngx_http_victorops_duplicate_index_bounds },

    { ngx_string("retry_max_delay"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, retry_max_delay),
      NULL },

    { ngx_string("max_age"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, max_age),
      NULL },

    { ngx_string("retention"),
      NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, retention),
      NULL },

    { ngx_string("admin_token"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_secret,
      0,
      offsetof(ngx_http_victorops_integration_t, admin_tokens),
      NULL },

    { ngx_string("admin_token_file"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_secret,
      0,
      offsetof(ngx_http_victorops_integration_t, admin_tokens),
      NGX_HTTP_VICTOROPS_FROM_FILE },

    { ngx_string("rootly_signing_secret"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_signing,
      0,
      offsetof(ngx_http_victorops_integration_t, signing_secrets),
      NULL },

    { ngx_string("rootly_signing_secret_file"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_signing,
      0,
      offsetof(ngx_http_victorops_integration_t, signing_secrets),
      NGX_HTTP_VICTOROPS_FROM_FILE },

    { ngx_string("slack_signing_secret"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_signing,
      0,
      offsetof(ngx_http_victorops_integration_t, slack_secrets),
      NULL },

    { ngx_string("slack_signing_secret_file"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_signing,
      0,
      offsetof(ngx_http_victorops_integration_t, slack_secrets),
      NGX_HTTP_VICTOROPS_FROM_FILE },

    { ngx_string("slack_replay_window"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, slack_replay_window),
      NULL },

    { ngx_string("slack_response_hosts"),
      NGX_CONF_1MORE,
      ngx_http_victorops_conf_words,
      0,
      offsetof(ngx_http_victorops_integration_t, slack_hosts),
      NULL },

    { ngx_string("slack_allowed_channels"),
      NGX_CONF_1MORE,
      ngx_http_victorops_conf_words,
      0,
      offsetof(ngx_http_victorops_integration_t, slack_channels),
      NULL },

    { ngx_string("slack_allowed_users"),
      NGX_CONF_1MORE,
      ngx_http_victorops_conf_words,
      0,
      offsetof(ngx_http_victorops_integration_t, slack_users),
      NULL },

    { ngx_string("rootly_replay_window"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, replay_window),
      NULL },

    { ngx_string("json_max_depth"),
      NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, json_max_depth),
      NULL },

    { ngx_string("escalate"),
      NGX_CONF_1MORE,
      ngx_http_victorops_conf_escalate,
      0,
      0,
      NULL },

    { ngx_string("escalate_token"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_secret,
      0,
      offsetof(ngx_http_victorops_integration_t, escalate_tokens),
      NULL },

    { ngx_string("escalate_token_file"),
      NGX_CONF_TAKE1,
      ngx_http_victorops_conf_secret,
      0,
      offsetof(ngx_http_victorops_integration_t, escalate_tokens),
      NGX_HTTP_VICTOROPS_FROM_FILE },

    { ngx_string("auto_resolve"),
      NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, auto_resolve),
      NULL },

    { ngx_string("oncall_responders"),
      NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, oncall_responders),
      NULL },

    { ngx_string("sync_interval"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, sync_interval),
      NULL },

    { ngx_string("api_rate"),
      NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, api_rate),
      NULL },

      ngx_null_command
};


char *
ngx_http_victorops_integration_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_victorops_main_conf_t  *vmcf = conf;

    char                               *rv;
    ngx_str_t                          *value;
    ngx_uint_t                          i;
    ngx_conf_t                          save;
    ngx_http_victorops_integration_t   *vi, **vip;

    value = cf->args->elts;

    vip = vmcf->integrations.elts;

    for (i = 0; i < vmcf->integrations.nelts; i++) {
        if (vip[i]->name.len == value[1].len
            && ngx_strncmp(vip[i]->name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate victorops integration \"%V\", "
                               "first defined in %s:%ui",
                               &value[1], vip[i]->file, vip[i]->line);
            return NGX_CONF_ERROR;
        }
    }

    vi = ngx_http_victorops_integration_create(cf, &value[1]);
    if (vi == NULL) {
        return NGX_CONF_ERROR;
    }

    vip = ngx_array_push(&vmcf->integrations);
    if (vip == NULL) {
        return NGX_CONF_ERROR;
    }

    *vip = vi;

    save = *cf;
    cf->handler = ngx_http_victorops_integration_directive;
    cf->handler_conf = (char *) vi;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_http_victorops_integration_check(cf, vi);
}


/* an integration as its block starts: every setting unset */

static ngx_http_victorops_integration_t *
ngx_http_victorops_integration_create(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_http_victorops_integration_t  *vi;

    vi = ngx_pcalloc(cf->pool, sizeof(ngx_http_victorops_integration_t));
    if (vi == NULL) {
        return NULL;
    }

    vi->name = *name;
    vi->file = cf->conf_file->file.name.data;
    vi->line = cf->conf_file->line;
    vi->rootly_timeout = NGX_CONF_UNSET_MSEC;
    vi->json_max_depth = NGX_CONF_UNSET_UINT;
    vi->store_sync = NGX_CONF_UNSET_UINT;
    vi->store_busy_timeout = NGX_CONF_UNSET_MSEC;
    vi->store_timeout = NGX_CONF_UNSET_MSEC;
    vi->alert_limit = NGX_CONF_UNSET_UINT;
    vi->alert_limit_reject = NGX_CONF_UNSET_UINT;
    vi->duplicate_window = NGX_CONF_UNSET_MSEC;
    vi->duplicate_index = NGX_CONF_UNSET_UINT;
    vi->retry_max_delay = NGX_CONF_UNSET_MSEC;
    vi->max_age = NGX_CONF_UNSET_MSEC;
    vi->retention = NGX_CONF_UNSET;
    vi->escalation_max_body = NGX_CONF_UNSET_SIZE;
    vi->escalation_max_fields = NGX_CONF_UNSET_UINT;

    vi->webhook_secrets = ngx_array_create(cf->pool, 2,
                                       sizeof(ngx_http_victorops_secret_t));
    vi->admin_tokens = ngx_array_create(cf->pool, 2,
                                       sizeof(ngx_http_victorops_secret_t));
    vi->escalate_tokens = ngx_array_create(cf->pool, 2,
                                       sizeof(ngx_http_victorops_secret_t));
    vi->escalation_codes = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    vi->signing_secrets = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    vi->slack_secrets = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (vi->webhook_secrets == NULL || vi->admin_tokens == NULL
        || vi->escalate_tokens == NULL || vi->escalation_codes == NULL
        || vi->signing_secrets == NULL || vi->slack_secrets == NULL)
    {
        return NULL;
    }

    vi->slack_replay_window = NGX_CONF_UNSET_MSEC;

    vi->replay_window = NGX_CONF_UNSET_MSEC;
    vi->auto_resolve = NGX_CONF_UNSET;
    vi->oncall_responders = NGX_CONF_UNSET;
    vi->sync_interval = NGX_CONF_UNSET_MSEC;
    vi->api_rate = NGX_CONF_UNSET_UINT;

    vi->rules = ngx_array_create(cf->pool, 4,
                                 sizeof(ngx_http_victorops_rule_t));
    if (vi->rules == NULL) {
        return NULL;
    }

    return vi;
}


static char *
ngx_http_victorops_integration_directive(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf)
{
    ngx_http_victorops_integration_t  *vi = conf;

    char           *rv;
    ngx_str_t      *value;
    ngx_command_t  *cmd;

    value = cf->args->elts;

    for (cmd = ngx_http_victorops_integration_commands; cmd->name.len; cmd++)
    {
        if (cmd->name.len != value[0].len
            || ngx_strcmp(cmd->name.data, value[0].data) != 0)
        {
            continue;
        }

        if ((cmd->type & NGX_CONF_1MORE)
            ? cf->args->nelts < 2 : cf->args->nelts != 2)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid number of arguments in \"%V\" "
                               "directive", &cmd->name);
            return NGX_CONF_ERROR;
        }

        rv = cmd->set(cf, cmd, vi);

        if (rv == NGX_CONF_OK && vi->pg_refused.len == 0
            && ngx_http_victorops_pg_refused(&cmd->name))
        {
            /* refused once the block is parsed, if the store is PostgreSQL */

            vi->pg_refused = cmd->name;
            vi->pg_refused_file = cf->conf_file->file.name.data;
            vi->pg_refused_line = cf->conf_file->line;
        }

        if (rv == NGX_CONF_OK || rv == NGX_CONF_ERROR) {
            return rv;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" directive %s",
                           &cmd->name, rv);
        return NGX_CONF_ERROR;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown directive \"%V\" in victorops_integration "
                       "\"%V\"", &value[0], &vi->name);

    return NGX_CONF_ERROR;
}


/*
 * "escalate severity=sev0,sev1 policy=pol-a,pol-b user=alice;" or
 * "escalate team=payments policy=pol-payments;"
 */

static char *
ngx_http_victorops_conf_escalate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_victorops_integration_t  *vi = conf;

    ngx_int_t                     rc;
    ngx_str_t                    *value;
    ngx_uint_t                    i;
    ngx_http_victorops_rule_t    *rule;

    value = cf->args->elts;

    rule = ngx_array_push(vi->rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rule, sizeof(ngx_http_victorops_rule_t));

    rule->values = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    rule->targets = ngx_array_create(cf->pool, 2,
                                     sizeof(ngx_http_victorops_target_t));
    if (rule->values == NULL || rule->targets == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        rc = ngx_http_victorops_conf_rule(cf, rule, &value[i]);

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"escalate\": "
                               "expected severity=, team=, policy= or user= "
                               "with a comma-separated list", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (rule->by == 0 || rule->targets->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"escalate\" needs severity= or team=, and "
                           "policy= or user=");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * One parameter of "escalate": severity= or team= (what the rule
 * matches, once) or policy= or user= (whom it pages).  NGX_DECLINED: an
 * invalid one.
 */

static ngx_int_t
ngx_http_victorops_conf_rule(ngx_conf_t *cf, ngx_http_victorops_rule_t *rule,
    ngx_str_t *param)
{
    ngx_str_t  name, list;

    list.data = ngx_strlchr(param->data, param->data + param->len, '=');
    if (list.data == NULL) {
        return NGX_DECLINED;
    }

    name.data = param->data;
    name.len = list.data - param->data;
    list.data++;
    list.len = param->data + param->len - list.data;

    if ((name.len == 8 && ngx_strncmp(name.data, "severity", 8) == 0)
        || (name.len == 4 && ngx_strncmp(name.data, "team", 4) == 0))
    {
        if (rule->by) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"escalate\" matches by severity= or "
                               "team=, once");
            return NGX_ERROR;
        }

        rule->by = (name.len == 4) ? NGX_HTTP_VICTOROPS_BY_TEAM
                                   : NGX_HTTP_VICTOROPS_BY_SEVERITY;

        if (ngx_http_victorops_conf_list(cf, &list, rule->values) != NGX_OK) {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if ((name.len == 6 && ngx_strncmp(name.data, "policy", 6) == 0)
        || (name.len == 4 && ngx_strncmp(name.data, "user", 4) == 0))
    {
        return ngx_http_victorops_conf_targets(cf, rule, &name, &list);
    }

    return NGX_DECLINED;
}


/*
 * "policy=a,b" or "user=c": the rule's targets, in order.  NGX_DECLINED:
 * an empty or invalid slug.
 */

static ngx_int_t
ngx_http_victorops_conf_targets(ngx_conf_t *cf,
    ngx_http_victorops_rule_t *rule, ngx_str_t *name, ngx_str_t *list)
{
    ngx_str_t    *s, type;
    ngx_uint_t    i;
    ngx_array_t   slugs;

    if (name->len == 4) {
        ngx_str_set(&type, "User");

    } else {
        ngx_str_set(&type, "EscalationPolicy");
    }

    if (ngx_array_init(&slugs, cf->pool, 2, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_victorops_conf_list(cf, list, &slugs) != NGX_OK) {
        return NGX_DECLINED;
    }

    s = slugs.elts;

    for (i = 0; i < slugs.nelts; i++) {
        if (ngx_http_victorops_target_valid(&type, &s[i]) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (ngx_http_victorops_target_add(rule->targets, &type, &s[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* "slack_response_hosts a b c;": a list of words, once */

static char *
ngx_http_victorops_conf_words(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t     *value, *w;
    ngx_uint_t     i;
    ngx_array_t  **list;

    list = (ngx_array_t **) (p + cmd->offset);

    if (*list) {
        return "is duplicate";
    }

    *list = ngx_array_create(cf->pool, cf->args->nelts - 1,
                             sizeof(ngx_str_t));
    if (*list == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0
            || ngx_http_victorops_conf_header_safe(&value[i]) != NGX_OK)
        {
            return "has an invalid value";
        }

        w = ngx_array_push(*list);
        if (w == NULL) {
            return NGX_CONF_ERROR;
        }

        *w = value[i];
    }

    return NGX_CONF_OK;
}


/* "a,b,c" into its non-empty parts */

static ngx_int_t
ngx_http_victorops_conf_list(ngx_conf_t *cf, ngx_str_t *value,
    ngx_array_t *list)
{
    u_char     *p, *last, *comma;
    ngx_str_t  *s;

    p = value->data;
    last = p + value->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        if (comma == p) {
            return NGX_ERROR;
        }

        s = ngx_array_push(list);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->data = p;
        s->len = comma - p;

        p = comma + 1;

        if (comma < last && p == last) {
            return NGX_ERROR;
        }
    }

    return list->nelts ? NGX_OK : NGX_ERROR;
}


/* a single value, given inline or read from a file ("..._file") */

static char *
ngx_http_victorops_conf_value(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cmd->post == NGX_HTTP_VICTOROPS_FROM_FILE) {
        if (ngx_http_victorops_conf_read(cf, &value[1], field) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else {
        if (value[1].len == 0) {
            return "has an empty value";
        }

        *field = value[1];
    }

    if (ngx_http_victorops_conf_header_safe(field) != NGX_OK) {
        return "has a value with control characters";
    }

    return NGX_CONF_OK;
}


/* a SQLite file, or a PostgreSQL URI (postgresql://, postgres://) */

static char *
ngx_http_victorops_conf_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_victorops_integration_t  *vi = conf;

    char  *rv;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (vi->store.len == 0) {
        return "has an empty value";
    }

    if (!ngx_http_victorops_pg_uri(&vi->store)) {
        return NGX_CONF_OK;
    }

    return ngx_http_victorops_pg_conf(cf, vi);
}


/*
 * The PostgreSQL store's password, read now (the workers may not read
 * the file); refused when others than its owner may read it, as libpq
 * ignores such a password file
 */

static char *
ngx_http_victorops_conf_password(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    u_char           *copy;
    ngx_str_t        *field, *value, name, password;
    ngx_uint_t        mode;
    ngx_file_info_t   fi;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(name.data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read \"%s\"", name.data);
        return NGX_CONF_ERROR;
    }

    mode = ngx_file_access(&fi);

    if (mode & 077) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" may be read by others than its owner "
                           "(mode 0%ui%ui%ui): chmod 600 it", name.data,
                           (mode >> 6) & 7, (mode >> 3) & 7, mode & 7);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_victorops_conf_read(cf, &value[1], &password) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    copy = ngx_pnalloc(cf->pool, password.len + 1);
    if (copy == NULL) {
        return NGX_CONF_ERROR;
    }

    *ngx_cpymem(copy, password.data, password.len) = '\0';

    field->data = copy;
    field->len = password.len;

    return NGX_CONF_OK;
}


/*
 * Webhook secrets and bearer tokens are repeatable (rotation: any one
 * configured is accepted) and kept as digests only.
 */

static char *
ngx_http_victorops_conf_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t                    *value, secret;
    ngx_array_t                  *secrets;
    ngx_http_victorops_secret_t  *s;

    value = cf->args->elts;

    if (cmd->post == NGX_HTTP_VICTOROPS_FROM_FILE) {
        if (ngx_http_victorops_conf_read(cf, &value[1], &secret) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else {
        secret = value[1];

        if (secret.len == 0) {
            return "has an empty value";
        }
    }

    secrets = *(ngx_array_t **) (p + cmd->offset);

    s = ngx_array_push(secrets);
    if (s == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_http_victorops_digest(&secret, s->digest);

    if (cmd->post == NGX_HTTP_VICTOROPS_FROM_FILE) {
        ngx_explicit_memzero(secret.data, secret.len);
    }

    return NGX_CONF_OK;
}


/*
 * Rootly's and Slack's signing secrets and VictorOps' escalation auth
 * codes are HMAC keys, kept as they are; repeatable, for rotation.
 */

static char *
ngx_http_victorops_conf_signing(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t     *value, *s;
    ngx_array_t   *secrets;

    value = cf->args->elts;
    secrets = *(ngx_array_t **) (p + cmd->offset);

    s = ngx_array_push(secrets);
    if (s == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cmd->post == NGX_HTTP_VICTOROPS_FROM_FILE) {
        if (ngx_http_victorops_conf_read(cf, &value[1], s) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else {
        if (value[1].len == 0) {
            return "has an empty value";
        }

        *s = value[1];
    }

    return NGX_CONF_OK;
}


/*
 * A URL directive.  Credentials that would cross the network in clear
 * get a warning, never the credential itself: a user:password@ in a
 * plain http:// URL here, and (in integration_check(), once it is known
 * whether a token or key is sent) rootly_url and api_url in plain
 * http:// to a host that is not loopback.
 */

static char *
ngx_http_victorops_conf_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_victorops_integration_t  *vi = conf;

    ngx_str_t                       *field, *value;
    ngx_http_victorops_url_t         u;
    ngx_http_victorops_plain_url_t  *plain;

    field = (ngx_str_t *) ((char *) conf + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_victorops_url_parse(cf->pool, &value[1], &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URL \"%V\" in \"%V\" directive: "
                           "expected http:// or https:// with a host "
                           "and no query", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (u.plain && u.userinfo) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "victorops integration \"%V\": \"%V\" carries "
                           "credentials (user:password@) in a plain http:// "
                           "URL, they cross the network unencrypted",
                           &vi->name, &cmd->name);
    }

    plain = NULL;

    if (cmd->offset == offsetof(ngx_http_victorops_integration_t, rootly_url))
    {
        plain = &vi->rootly_url_plain;

    } else if (cmd->offset
               == offsetof(ngx_http_victorops_integration_t, api_url))
    {
        plain = &vi->api_url_plain;
    }

    if (plain && u.plain && !u.loopback) {
        plain->file = cf->conf_file->file.name.data;
        plain->line = cf->conf_file->line;
        plain->host = u.host;
    }

    *field = value[1];

    if (cmd->offset != offsetof(ngx_http_victorops_integration_t,
                                escalation_url))
    {
        while (field->len && field->data[field->len - 1] == '/') {
            field->len--;
        }
    }

    return NGX_CONF_OK;
}


/* NGX_OK: an http:// or https:// URL with a host and no query */

static ngx_int_t
ngx_http_victorops_url_parse(ngx_pool_t *pool, ngx_str_t *url,
    ngx_http_victorops_url_t *u)
{
    char       *scheme, *host, *query, *user, *password;
    CURLU      *cu;
    ngx_int_t   rc;

    ngx_memzero(u, sizeof(ngx_http_victorops_url_t));

    if (ngx_strlen(url->data) != url->len) {
        return NGX_ERROR;
    }

    cu = curl_url();
    if (cu == NULL) {
        return NGX_ERROR;
    }

    scheme = NULL;
    host = NULL;
    query = NULL;
    user = NULL;
    password = NULL;
    rc = NGX_ERROR;

    if (curl_url_set(cu, CURLUPART_URL, (char *) url->data, 0) != CURLUE_OK
        || curl_url_get(cu, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
        || curl_url_get(cu, CURLUPART_HOST, &host, 0) != CURLUE_OK
        || (ngx_strcmp(scheme, "http") != 0
            && ngx_strcmp(scheme, "https") != 0)
        || host[0] == '\0'
        || curl_url_get(cu, CURLUPART_QUERY, &query, 0) != CURLUE_NO_QUERY
        || ngx_strlchr(url->data, url->data + url->len, '#') != NULL)
    {
        goto done;
    }

    u->plain = (ngx_strcmp(scheme, "http") == 0);
    u->userinfo = (curl_url_get(cu, CURLUPART_USER, &user, 0) == CURLUE_OK
                   || curl_url_get(cu, CURLUPART_PASSWORD, &password, 0)
                      == CURLUE_OK);

    u->host.len = ngx_strlen(host);
    u->host.data = ngx_pnalloc(pool, u->host.len);
    if (u->host.data == NULL) {
        goto done;
    }

    ngx_memcpy(u->host.data, host, u->host.len);

    u->loopback = ngx_http_victorops_host_loopback(&u->host);

    rc = NGX_OK;

done:

    curl_free(scheme);
    curl_free(host);
    curl_free(query);
    curl_free(user);
    curl_free(password);
    curl_url_cleanup(cu);

    return rc;
}


/* localhost, 127.0.0.0/8 and ::1 (libcurl gives IPv6 hosts in brackets) */

static ngx_uint_t
ngx_http_victorops_host_loopback(ngx_str_t *host)
{
    size_t      len;
    in_addr_t   addr;
#if (NGX_HAVE_INET6)
    u_char      addr6[16];

    static u_char  loopback6[16] = { 0, 0, 0, 0, 0, 0, 0, 0,
                                     0, 0, 0, 0, 0, 0, 0, 1 };
#endif

    len = host->len;

    if (len && host->data[len - 1] == '.') {
        len--;
    }

    if (len == sizeof("localhost") - 1
        && ngx_strncasecmp(host->data, (u_char *) "localhost", len) == 0)
    {
        return 1;
    }

    addr = ngx_inet_addr(host->data, host->len);

    if (addr != INADDR_NONE) {
        return (ntohl(addr) >> 24) == 127;
    }

#if (NGX_HAVE_INET6)
    if (host->len > 2
        && host->data[0] == '['
        && host->data[host->len - 1] == ']'
        && ngx_inet6_addr(host->data + 1, host->len - 2, addr6) == NGX_OK)
    {
        return ngx_memcmp(addr6, loopback6, 16) == 0;
    }
#endif

    return 0;
}


static ngx_int_t
ngx_http_victorops_conf_read(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *value)
{
    u_char          *start, *end;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_str_t        name;
    ngx_file_info_t  fi;

    name = *path;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read \"%s\"", name.data);
        return NGX_ERROR;
    }

    n = NGX_ERROR;
    start = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", name.data);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_VICTOROPS_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" is larger than %d bytes",
                           name.data, NGX_HTTP_VICTOROPS_FILE_MAX);
        goto done;
    }

    start = ngx_pnalloc(cf->pool, NGX_HTTP_VICTOROPS_FILE_MAX + 1);
    if (start == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, start, NGX_HTTP_VICTOROPS_FILE_MAX + 1);

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read \"%s\"", name.data);
    }

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", name.data);
    }

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (n > NGX_HTTP_VICTOROPS_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" is larger than %d bytes",
                           name.data, NGX_HTTP_VICTOROPS_FILE_MAX);
        return NGX_ERROR;
    }

    /* one value, surrounding white space (the final newline) ignored */

    end = start + n;

    while (start < end && (*start == ' ' || *start == '\t'
                           || *start == CR || *start == LF))
    {
        start++;
    }

    while (end > start && (end[-1] == ' ' || end[-1] == '\t'
                           || end[-1] == CR || end[-1] == LF))
    {
        end--;
    }

    if (start == end) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%s\" is empty",
                           name.data);
        return NGX_ERROR;
    }

    *end = '\0';

    value->data = start;
    value->len = end - start;

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_conf_header_safe(ngx_str_t *value)
{
    u_char  *p, *end;

    end = value->data + value->len;

    for (p = value->data; p < end; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* "victorops_webhook NAME": the integration is looked up once http{} ends */

char *
ngx_http_victorops_webhook(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_victorops_loc_conf_t  *vlcf = conf;

    ngx_str_t                       *value;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_victorops_main_conf_t  *vmcf;
    ngx_http_victorops_reference_t  *ref;

    if (vlcf->integration != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_victorops_module);

    ref = ngx_array_push(&vmcf->references);
    if (ref == NULL) {
        return NGX_CONF_ERROR;
    }

    ref->name = value[1];
    ref->file = cf->conf_file->file.name.data;
    ref->line = cf->conf_file->line;
    ref->conf = vlcf;
    ref->directive = (const char *) cmd->name.data;

    vlcf->integration = NULL;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = cmd->post ? (ngx_http_handler_pt) cmd->post
                              : ngx_http_victorops_webhook_handler;

    return NGX_CONF_OK;
}
