
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The "victorops_integration NAME { ... }" block and the directives
 * that refer to an integration by name.
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


/*
 * Where stores go by default: "logs/victorops" under nginx's prefix, next
 * to what nginx itself writes at run time in its default layout (logs,
 * pid, lock file); a package sets its own (Debian: /var/lib/nginx).
 */

#ifndef NGX_HTTP_VICTOROPS_STORE_DIR
#define NGX_HTTP_VICTOROPS_STORE_DIR  "logs/victorops"
#endif


static char *ngx_http_victorops_integration_directive(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static char *ngx_http_victorops_integration_check(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi);
static char *ngx_http_victorops_conf_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_victorops_conf_value(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_victorops_conf_secret(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_victorops_conf_signing(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_victorops_conf_escalate(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
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
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_http_victorops_integration_t, store),
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

    vi = ngx_pcalloc(cf->pool, sizeof(ngx_http_victorops_integration_t));
    if (vi == NULL) {
        return NGX_CONF_ERROR;
    }

    vip = ngx_array_push(&vmcf->integrations);
    if (vip == NULL) {
        return NGX_CONF_ERROR;
    }

    *vip = vi;

    vi->name = value[1];
    vi->file = cf->conf_file->file.name.data;
    vi->line = cf->conf_file->line;
    vi->rootly_timeout = NGX_CONF_UNSET_MSEC;
    vi->json_max_depth = NGX_CONF_UNSET_UINT;
    vi->store_sync = NGX_CONF_UNSET_UINT;
    vi->store_busy_timeout = NGX_CONF_UNSET_MSEC;
    vi->alert_limit = NGX_CONF_UNSET_UINT;
    vi->alert_limit_reject = NGX_CONF_UNSET_UINT;
    vi->duplicate_window = NGX_CONF_UNSET_MSEC;
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
        return NGX_CONF_ERROR;
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
        return NGX_CONF_ERROR;
    }

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


static char *
ngx_http_victorops_integration_check(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *v;
    ngx_uint_t   i;
    const char  *err;

    err = NULL;

    if (vi->rootly_token.len == 0) {
        err = "has no rootly_token or rootly_token_file";

    } else if ((vi->api_id.len == 0) != (vi->api_key.len == 0)) {
        err = "needs both api_id and api_key (or api_key_file)";

    } else if ((vi->rules->nelts || vi->escalate_tokens->nelts)
               && (vi->api_id.len == 0 || vi->api_user.len == 0))
    {
        err = "needs api_id, api_key and api_user to escalate to "
              "VictorOps";

    } else if (vi->api_rate == 0) {
        err = "has an api_rate of 0";

    } else if (vi->json_max_depth != NGX_CONF_UNSET_UINT
               && (vi->json_max_depth == 0 || vi->json_max_depth > 1024))
    {
        err = "has a json_max_depth outside 1..1024";

    } else if (vi->escalation_codes->nelts && vi->escalation_url.len == 0) {
        err = "has escalation_auth_code but no escalation_url (the webhook "
              "URL exactly as configured in VictorOps, which the signature "
              "covers)";

    } else if (vi->escalation_max_body == 0) {
        err = "has an escalation_max_body of 0";

    } else if (vi->escalation_max_fields == 0) {
        err = "has an escalation_max_fields of 0";
    }

    if (err) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "victorops integration \"%V\" %s in %s:%ui",
                      &vi->name, err, vi->file, vi->line);
        return NGX_CONF_ERROR;
    }

    if (vi->rootly_url.len == 0) {
        ngx_str_set(&vi->rootly_url, "https://api.rootly.com");
    }

    if (vi->api_url.len == 0) {
        ngx_str_set(&vi->api_url, "https://api.victorops.com");
    }

    if (vi->portal_url.len == 0) {
        ngx_str_set(&vi->portal_url, "https://portal.victorops.com");
    }

    ngx_conf_init_msec_value(vi->rootly_timeout, 10000);
    ngx_conf_init_uint_value(vi->json_max_depth, NGX_HTTP_VICTOROPS_MAX_DEPTH);
    ngx_conf_init_uint_value(vi->store_sync, 0);
    ngx_conf_init_msec_value(vi->store_busy_timeout, 200);
    ngx_conf_init_uint_value(vi->alert_limit, 50);
    ngx_conf_init_uint_value(vi->alert_limit_reject, 0);
    ngx_conf_init_msec_value(vi->duplicate_window, 600000);
    ngx_conf_init_msec_value(vi->retry_max_delay, 3600000);
    ngx_conf_init_msec_value(vi->max_age, 86400000);
    ngx_conf_init_value(vi->retention, 30 * 86400);
    ngx_conf_init_msec_value(vi->replay_window, 300000);
    ngx_conf_init_value(vi->auto_resolve, 1);
    ngx_conf_init_value(vi->oncall_responders, 1);
    ngx_conf_init_msec_value(vi->sync_interval, 60000);
    ngx_conf_init_uint_value(vi->api_rate, 2);
    ngx_conf_init_msec_value(vi->slack_replay_window, 300000);
    ngx_conf_init_size_value(vi->escalation_max_body, 65536);
    ngx_conf_init_uint_value(vi->escalation_max_fields, 256);

    /* credentials sent in clear over the network: warn, do not refuse */

    if (vi->rootly_url_plain.file) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "victorops integration \"%V\": \"rootly_url\" is "
                      "plain http:// to \"%V\", the Rootly token crosses the "
                      "network unencrypted in %s:%ui", &vi->name,
                      &vi->rootly_url_plain.host, vi->rootly_url_plain.file,
                      vi->rootly_url_plain.line);
    }

    if (vi->api_url_plain.file && vi->api_id.len) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "victorops integration \"%V\": \"api_url\" is "
                      "plain http:// to \"%V\", the VictorOps API key "
                      "crosses the network unencrypted in %s:%ui", &vi->name,
                      &vi->api_url_plain.host, vi->api_url_plain.file,
                      vi->api_url_plain.line);
    }

    if (vi->slack_hosts == NULL) {
        vi->slack_hosts = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
        if (vi->slack_hosts == NULL) {
            return NGX_CONF_ERROR;
        }

        v = ngx_array_push(vi->slack_hosts);
        if (v == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(v, "hooks.slack.com");
    }

    if (vi->api_id.len) {
        for (i = 0; i < 2; i++) {
            v = i ? &vi->api_key : &vi->api_id;
            len = sizeof("X-VO-Api-Key: ") - 1 + v->len;

            p = ngx_pnalloc(cf->pool, len + 1);
            if (p == NULL) {
                return NGX_CONF_ERROR;
            }

            vi->vo_auth[i].data = p;
            vi->vo_auth[i].len = ngx_sprintf(p, "%s%V%Z",
                                             i ? "X-VO-Api-Key: "
                                               : "X-VO-Api-Id: ", v)
                                 - p - 1;
        }
    }

    if (vi->retry_max_delay < 1000) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "victorops integration \"%V\" has a retry_max_delay "
                      "under 1s in %s:%ui", &vi->name, vi->file, vi->line);
        return NGX_CONF_ERROR;
    }

    if (vi->retention < 3600 || vi->retention > (time_t) 100 * 365 * 86400) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "victorops integration \"%V\" has a retention outside "
                      "1h..100y in %s:%ui", &vi->name, vi->file, vi->line);
        return NGX_CONF_ERROR;
    }

    if (vi->store.len == 0) {
        len = sizeof(NGX_HTTP_VICTOROPS_STORE_DIR "/.db") - 1 + vi->name.len;

        p = ngx_pnalloc(cf->pool, len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        vi->store.data = p;
        vi->store.len = ngx_sprintf(p, NGX_HTTP_VICTOROPS_STORE_DIR "/%V.db%Z",
                                    &vi->name)
                        - p - 1;
    }

    if (ngx_conf_full_name(cf->cycle, &vi->store, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    len = sizeof("Authorization: Bearer ") - 1 + vi->rootly_token.len;

    p = ngx_pnalloc(cf->pool, len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    vi->rootly_auth.data = p;
    vi->rootly_auth.len = ngx_sprintf(p, "Authorization: Bearer %V%Z",
                                      &vi->rootly_token)
                          - p - 1;

    return NGX_CONF_OK;
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

    ngx_str_t                    *value, name, list, *s, type;
    ngx_uint_t                    i, j;
    ngx_array_t                   slugs;
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
        list.data = ngx_strlchr(value[i].data, value[i].data + value[i].len,
                                '=');
        if (list.data == NULL) {
            goto invalid;
        }

        name.data = value[i].data;
        name.len = list.data - value[i].data;
        list.data++;
        list.len = value[i].data + value[i].len - list.data;

        if ((name.len == 8 && ngx_strncmp(name.data, "severity", 8) == 0)
            || (name.len == 4 && ngx_strncmp(name.data, "team", 4) == 0))
        {
            if (rule->by) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"escalate\" matches by severity= or "
                                   "team=, once");
                return NGX_CONF_ERROR;
            }

            rule->by = (name.len == 4) ? NGX_HTTP_VICTOROPS_BY_TEAM
                                       : NGX_HTTP_VICTOROPS_BY_SEVERITY;

            if (ngx_http_victorops_conf_list(cf, &list, rule->values)
                != NGX_OK)
            {
                goto invalid;
            }

            continue;
        }

        if ((name.len == 6 && ngx_strncmp(name.data, "policy", 6) == 0)
            || (name.len == 4 && ngx_strncmp(name.data, "user", 4) == 0))
        {
            if (name.len == 4) {
                ngx_str_set(&type, "User");

            } else {
                ngx_str_set(&type, "EscalationPolicy");
            }

            if (ngx_array_init(&slugs, cf->pool, 2, sizeof(ngx_str_t))
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            if (ngx_http_victorops_conf_list(cf, &list, &slugs) != NGX_OK) {
                goto invalid;
            }

            s = slugs.elts;

            for (j = 0; j < slugs.nelts; j++) {
                if (ngx_http_victorops_target_valid(&type, &s[j]) != NGX_OK) {
                    goto invalid;
                }

                if (ngx_http_victorops_target_add(rule->targets, &type,
                                                  &s[j])
                    != NGX_OK)
                {
                    return NGX_CONF_ERROR;
                }
            }

            continue;
        }

        goto invalid;
    }

    if (rule->by == 0 || rule->targets->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"escalate\" needs severity= or team=, and "
                           "policy= or user=");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"escalate\": "
                       "expected severity=, team=, policy= or user= with "
                       "a comma-separated list", &value[i]);

    return NGX_CONF_ERROR;
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


ngx_int_t
ngx_http_victorops_resolve_references(ngx_conf_t *cf,
    ngx_http_victorops_main_conf_t *vmcf)
{
    ngx_uint_t                          i, j;
    ngx_http_victorops_reference_t     *ref;
    ngx_http_victorops_integration_t  **vip, *vi;

    ref = vmcf->references.elts;
    vip = vmcf->integrations.elts;

    for (i = 0; i < vmcf->references.nelts; i++) {
        vi = NULL;

        for (j = 0; j < vmcf->integrations.nelts; j++) {
            if (vip[j]->name.len == ref[i].name.len
                && ngx_strncmp(vip[j]->name.data, ref[i].name.data,
                               ref[i].name.len)
                   == 0)
            {
                vi = vip[j];
                break;
            }
        }

        if (vi == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown victorops integration \"%V\" in "
                          "\"%s\" directive in %s:%ui",
                          &ref[i].name, ref[i].directive, ref[i].file,
                          ref[i].line);
            return NGX_ERROR;
        }

        if (ngx_strcmp(ref[i].directive, "victorops_slack_command") == 0
            && (vi->slack_secrets->nelts == 0 || vi->api_user.len == 0
                || vi->api_id.len == 0))
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "victorops integration \"%V\" needs "
                          "slack_signing_secret (or _file), api_id, api_key "
                          "and api_user for \"%s\" in %s:%ui", &vi->name,
                          ref[i].directive, ref[i].file, ref[i].line);
            return NGX_ERROR;
        }

        if (ngx_strcmp(ref[i].directive, "victorops_import_teams") == 0
            && (vi->admin_tokens->nelts == 0 || vi->api_id.len == 0))
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "victorops integration \"%V\" needs admin_token "
                          "(or _file), api_id and api_key for \"%s\" in "
                          "%s:%ui", &vi->name, ref[i].directive, ref[i].file,
                          ref[i].line);
            return NGX_ERROR;
        }

        if (ngx_strcmp(ref[i].directive, "victorops_slack_command") == 0
            || ngx_strcmp(ref[i].directive, "victorops_import_teams") == 0)
        {
            /* checked above */

        } else if (ngx_strcmp(ref[i].directive, "victorops_escalate") == 0) {
            if (vi->escalate_tokens->nelts == 0) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "victorops integration \"%V\" has no "
                              "escalate_token or escalate_token_file, "
                              "needed by \"%s\" in %s:%ui", &vi->name,
                              ref[i].directive, ref[i].file, ref[i].line);
                return NGX_ERROR;
            }

        } else if (ngx_strcmp(ref[i].directive, "victorops_rootly_events")
                   == 0)
        {
            if (vi->signing_secrets->nelts == 0) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "victorops integration \"%V\" has no "
                              "rootly_signing_secret or "
                              "rootly_signing_secret_file, needed by "
                              "\"%s\" in %s:%ui", &vi->name,
                              ref[i].directive, ref[i].file, ref[i].line);
                return NGX_ERROR;
            }

        } else if (vi->webhook_secrets->nelts == 0
                   && vi->escalation_codes->nelts == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "victorops integration \"%V\" has no "
                          "webhook_secret, webhook_secret_file or "
                          "escalation_auth_code, needed by \"%s\" "
                          "in %s:%ui", &vi->name, ref[i].directive,
                          ref[i].file, ref[i].line);
            return NGX_ERROR;
        }

        ref[i].conf->integration = vi;
    }

    return NGX_OK;
}
