
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What is checked once a block is read.  Once an integration's block is
 * parsed: what its features need (the first thing missing refused), then
 * feature by feature the defaults, the warnings, the values derived from
 * the settings and the ranges refused.  Once http{} is parsed: the
 * directives naming an integration, resolved and checked against what it
 * has.  The directives themselves are read in ngx_http_victorops_conf.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


/*
 * Where stores go by default: "logs/victorops" under nginx's prefix, next
 * to what nginx itself writes at run time in its default layout (logs,
 * pid, lock file); a package sets its own (Debian: /var/lib/nginx).
 */

#ifndef NGX_HTTP_VICTOROPS_STORE_DIR
#define NGX_HTTP_VICTOROPS_STORE_DIR  "logs/victorops"
#endif


static const char *ngx_http_victorops_check_needs(
    ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_check_rootly(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_check_victorops(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_check_webhook(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_check_slack(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_check_queue(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_check_store(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_check_spool(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi);
static ngx_http_victorops_integration_t *ngx_http_victorops_integration_find(
    ngx_http_victorops_main_conf_t *vmcf, ngx_str_t *name);
static ngx_int_t ngx_http_victorops_reference_check(ngx_conf_t *cf,
    ngx_http_victorops_reference_t *ref,
    ngx_http_victorops_integration_t *vi);


/* once the "victorops_integration NAME { ... }" block is parsed */

char *
ngx_http_victorops_integration_check(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi)
{
    const char  *err;

    err = ngx_http_victorops_check_needs(vi);

    if (err) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "victorops integration \"%V\" %s in %s:%ui",
                      &vi->name, err, vi->file, vi->line);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_victorops_check_rootly(cf, vi) != NGX_OK
        || ngx_http_victorops_check_victorops(cf, vi) != NGX_OK
        || ngx_http_victorops_check_webhook(cf, vi) != NGX_OK
        || ngx_http_victorops_check_slack(cf, vi) != NGX_OK
        || ngx_http_victorops_check_queue(cf, vi) != NGX_OK
        || ngx_http_victorops_check_store(cf, vi) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the first thing a feature needs and does not have, NULL if none */

static const char *
ngx_http_victorops_check_needs(ngx_http_victorops_integration_t *vi)
{
    /* Rootly */

    if (vi->rootly_token.len == 0) {
        return "has no rootly_token or rootly_token_file";
    }

    /* VictorOps, and escalating to it */

    if ((vi->api_id.len == 0) != (vi->api_key.len == 0)) {
        return "needs both api_id and api_key (or api_key_file)";
    }

    if ((vi->rules->nelts || vi->escalate_tokens->nelts)
        && (vi->api_id.len == 0 || vi->api_user.len == 0))
    {
        return "needs api_id, api_key and api_user to escalate to "
               "VictorOps";
    }

    if (vi->api_rate == 0) {
        return "has an api_rate of 0";
    }

    /* the webhooks from VictorOps, and their authentication */

    if (vi->json_max_depth != NGX_CONF_UNSET_UINT
        && (vi->json_max_depth == 0 || vi->json_max_depth > 1024))
    {
        return "has a json_max_depth outside 1..1024";
    }

    if (vi->escalation_codes->nelts && vi->escalation_url.len == 0) {
        return "has escalation_auth_code but no escalation_url (the "
               "webhook URL exactly as configured in VictorOps, which the "
               "signature covers)";
    }

    if (vi->escalation_max_body == 0) {
        return "has an escalation_max_body of 0";
    }

    if (vi->escalation_max_fields == 0) {
        return "has an escalation_max_fields of 0";
    }

    return NULL;
}


/*
 * Rootly: the API's URL, the Authorization header, the alert limit, the
 * replay window of its signed webhooks; a token sent in clear is warned
 * about, never refused.
 */

static ngx_int_t
ngx_http_victorops_check_rootly(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi)
{
    u_char  *p;
    size_t   len;

    if (vi->rootly_url.len == 0) {
        ngx_str_set(&vi->rootly_url, "https://api.rootly.com");
    }

    ngx_conf_init_msec_value(vi->rootly_timeout, 10000);
    ngx_conf_init_uint_value(vi->alert_limit, 50);
    ngx_conf_init_uint_value(vi->alert_limit_reject, 0);
    ngx_conf_init_msec_value(vi->replay_window, 300000);

    if (vi->rootly_url_plain.file) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "victorops integration \"%V\": \"rootly_url\" is "
                      "plain http:// to \"%V\", the Rootly token crosses the "
                      "network unencrypted in %s:%ui", &vi->name,
                      &vi->rootly_url_plain.host, vi->rootly_url_plain.file,
                      vi->rootly_url_plain.line);
    }

    len = sizeof("Authorization: Bearer ") - 1 + vi->rootly_token.len;

    p = ngx_pnalloc(cf->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    vi->rootly_auth.data = p;
    vi->rootly_auth.len = ngx_sprintf(p, "Authorization: Bearer %V%Z",
                                      &vi->rootly_token)
                          - p - 1;

    return NGX_OK;
}


/*
 * VictorOps: the API's and the portal's URLs, what is done there, the
 * X-VO-Api-Id and X-VO-Api-Key headers; a key sent in clear is warned
 * about, never refused.
 */

static ngx_int_t
ngx_http_victorops_check_victorops(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *v;
    ngx_uint_t   i;

    if (vi->api_url.len == 0) {
        ngx_str_set(&vi->api_url, "https://api.victorops.com");
    }

    if (vi->portal_url.len == 0) {
        ngx_str_set(&vi->portal_url, "https://portal.victorops.com");
    }

    ngx_conf_init_value(vi->auto_resolve, 1);
    ngx_conf_init_value(vi->oncall_responders, 1);
    ngx_conf_init_msec_value(vi->sync_interval, 60000);
    ngx_conf_init_uint_value(vi->api_rate, 2);

    if (vi->api_url_plain.file && vi->api_id.len) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "victorops integration \"%V\": \"api_url\" is "
                      "plain http:// to \"%V\", the VictorOps API key "
                      "crosses the network unencrypted in %s:%ui", &vi->name,
                      &vi->api_url_plain.host, vi->api_url_plain.file,
                      vi->api_url_plain.line);
    }

    if (vi->api_id.len == 0) {
        return NGX_OK;
    }

    for (i = 0; i < 2; i++) {
        v = i ? &vi->api_key : &vi->api_id;
        len = sizeof("X-VO-Api-Key: ") - 1 + v->len;

        p = ngx_pnalloc(cf->pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        vi->vo_auth[i].data = p;
        vi->vo_auth[i].len = ngx_sprintf(p, "%s%V%Z",
                                         i ? "X-VO-Api-Key: "
                                           : "X-VO-Api-Id: ", v)
                             - p - 1;
    }

    return NGX_OK;
}


/* the webhooks from VictorOps: what a body may hold, duplicates */

static ngx_int_t
ngx_http_victorops_check_webhook(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi)
{
    ngx_conf_init_uint_value(vi->json_max_depth, NGX_HTTP_VICTOROPS_MAX_DEPTH);
    ngx_conf_init_msec_value(vi->duplicate_window, 600000);
    ngx_conf_init_uint_value(vi->duplicate_index,
                             NGX_HTTP_VICTOROPS_DEDUP_DEFAULT);
    ngx_conf_init_size_value(vi->escalation_max_body, 65536);
    ngx_conf_init_uint_value(vi->escalation_max_fields, 256);

    /* the index of recent deliveries, shared by the workers (dedup.c) */

    if (vi->duplicate_window) {
        return ngx_http_victorops_dedup_zone(cf, vi);
    }

    return NGX_OK;
}


/* Slack: the replay window, where replies may go (Slack's own host) */

static ngx_int_t
ngx_http_victorops_check_slack(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi)
{
    ngx_str_t  *v;

    ngx_conf_init_msec_value(vi->slack_replay_window, 300000);

    if (vi->slack_hosts) {
        return NGX_OK;
    }

    vi->slack_hosts = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
    if (vi->slack_hosts == NULL) {
        return NGX_ERROR;
    }

    v = ngx_array_push(vi->slack_hosts);
    if (v == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(v, "hooks.slack.com");

    return NGX_OK;
}


/* the queue: backoff, how long a job is tried, how long dead letters stay */

static ngx_int_t
ngx_http_victorops_check_queue(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi)
{
    ngx_conf_init_msec_value(vi->retry_max_delay, 3600000);
    ngx_conf_init_msec_value(vi->max_age, 86400000);
    ngx_conf_init_value(vi->retention, 30 * 86400);

    if (vi->retry_max_delay < 1000) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "victorops integration \"%V\" has a retry_max_delay "
                      "under 1s in %s:%ui", &vi->name, vi->file, vi->line);
        return NGX_ERROR;
    }

    if (vi->retention < 3600 || vi->retention > (time_t) 100 * 365 * 86400) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "victorops integration \"%V\" has a retention outside "
                      "1h..100y in %s:%ui", &vi->name, vi->file, vi->line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * the store: its file (NAME.db in the default folder), how it writes;
 * or a PostgreSQL URI
 */

static ngx_int_t
ngx_http_victorops_check_store(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi)
{
    u_char  *p;
    size_t   len;

    ngx_conf_init_uint_value(vi->store_sync, 0);
    ngx_conf_init_msec_value(vi->store_busy_timeout, 200);

    if (ngx_http_victorops_pg_check(cf, vi) != NGX_OK) {
        return NGX_ERROR;
    }

    if (vi->store_pg) {
        if (vi->pg_refused.len) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"%V\" in %s:%ui is not supported with a "
                          "PostgreSQL store yet (victorops integration "
                          "\"%V\")", &vi->pg_refused, vi->pg_refused_file,
                          vi->pg_refused_line, &vi->name);
            return NGX_ERROR;
        }

        /*
         * a 429 at once needs a token at once: a grant is asked for
         * asynchronously (ngx_http_victorops_budget.c)
         */

        if (vi->alert_limit_reject && vi->alert_limit) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"alert_limit_overflow reject\" is not supported "
                          "with a PostgreSQL store yet (victorops "
                          "integration \"%V\" in %s:%ui)", &vi->name,
                          vi->file, vi->line);
            return NGX_ERROR;
        }

        return ngx_http_victorops_check_spool(cf, vi);
    }

    if (vi->store_spool.len) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"store_spool\" needs a PostgreSQL store "
                      "(victorops integration \"%V\" in %s:%ui)",
                      &vi->name, vi->file, vi->line);
        return NGX_ERROR;
    }

    if (vi->store.len == 0) {
        len = sizeof(NGX_HTTP_VICTOROPS_STORE_DIR "/.db") - 1 + vi->name.len;

        p = ngx_pnalloc(cf->pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        vi->store.data = p;
        vi->store.len = ngx_sprintf(p, NGX_HTTP_VICTOROPS_STORE_DIR "/%V.db%Z",
                                    &vi->name)
                        - p - 1;
    }

    return ngx_conf_full_name(cf->cycle, &vi->store, 0);
}


/*
 * A PostgreSQL store's spool: a SQLite file (NAME-spool.db in the
 * default folder), made and checked with the others at nginx -t
 */

static ngx_int_t
ngx_http_victorops_check_spool(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi)
{
    u_char  *p;
    size_t   len;

    if (vi->store_spool.len == 0) {
        len = sizeof(NGX_HTTP_VICTOROPS_STORE_DIR "/-spool.db") - 1
              + vi->name.len;

        p = ngx_pnalloc(cf->pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        vi->store_spool.data = p;
        vi->store_spool.len = ngx_sprintf(p, NGX_HTTP_VICTOROPS_STORE_DIR
                                          "/%V-spool.db%Z", &vi->name)
                              - p - 1;

    } else if (ngx_http_victorops_pg_uri(&vi->store_spool)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"store_spool\" is a SQLite file, not a PostgreSQL "
                      "URI (victorops integration \"%V\" in %s:%ui)",
                      &vi->name, vi->file, vi->line);
        return NGX_ERROR;
    }

    return ngx_conf_full_name(cf->cycle, &vi->store_spool, 0);
}


/*
 * What the PostgreSQL store does not do yet: the directives of features
 * whose store reads and writes are SQLite's alone (loop-side reads, EXEC
 * ops).  None now: Rootly's outgoing webhooks, escalate requests,
 * signed escalation-policy webhooks, the VictorOps API's jobs
 * (escalations, resolves, on-call hand-offs), reconciliation, the admin
 * API, Slack's /page and the team import are ported.  The list stays
 * for what a feature added later has not ported yet.
 */

static ngx_str_t  ngx_http_victorops_pg_refused_list[] = {
    ngx_null_string
};


ngx_uint_t
ngx_http_victorops_pg_refused(ngx_str_t *directive)
{
    ngx_str_t  *d;

    for (d = ngx_http_victorops_pg_refused_list; d->len; d++) {
        if (d->len == directive->len
            && ngx_strncmp(d->data, directive->data, d->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Once http{} is parsed: each directive naming an integration
 * (victorops_webhook and the like) gets it, if it has what the
 * directive needs.
 */

ngx_int_t
ngx_http_victorops_resolve_references(ngx_conf_t *cf,
    ngx_http_victorops_main_conf_t *vmcf)
{
    ngx_uint_t                         i;
    ngx_http_victorops_reference_t    *ref;
    ngx_http_victorops_integration_t  *vi;

    ref = vmcf->references.elts;

    for (i = 0; i < vmcf->references.nelts; i++) {
        vi = ngx_http_victorops_integration_find(vmcf, &ref[i].name);

        if (vi == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown victorops integration \"%V\" in "
                          "\"%s\" directive in %s:%ui",
                          &ref[i].name, ref[i].directive, ref[i].file,
                          ref[i].line);
            return NGX_ERROR;
        }

        if (ngx_http_victorops_reference_check(cf, &ref[i], vi) != NGX_OK) {
            return NGX_ERROR;
        }

        ref[i].conf->integration = vi;
    }

    return NGX_OK;
}


static ngx_http_victorops_integration_t *
ngx_http_victorops_integration_find(ngx_http_victorops_main_conf_t *vmcf,
    ngx_str_t *name)
{
    ngx_uint_t                          i;
    ngx_http_victorops_integration_t  **vip;

    vip = vmcf->integrations.elts;

    for (i = 0; i < vmcf->integrations.nelts; i++) {
        if (vip[i]->name.len == name->len
            && ngx_strncmp(vip[i]->name.data, name->data, name->len) == 0)
        {
            return vip[i];
        }
    }

    return NULL;
}


/* what each directive needs of the integration it names */

static ngx_int_t
ngx_http_victorops_reference_check(ngx_conf_t *cf,
    ngx_http_victorops_reference_t *ref, ngx_http_victorops_integration_t *vi)
{
    const char  *d, *err;

    d = ref->directive;
    err = NULL;

    /* every location directive runs on a PostgreSQL store too */

    if (ngx_strcmp(d, "victorops_slack_command") == 0) {
        if (vi->slack_secrets->nelts == 0 || vi->api_user.len == 0
            || vi->api_id.len == 0)
        {
            err = "needs slack_signing_secret (or _file), api_id, api_key "
                  "and api_user for";
        }

    } else if (ngx_strcmp(d, "victorops_import_teams") == 0) {
        if (vi->admin_tokens->nelts == 0 || vi->api_id.len == 0) {
            err = "needs admin_token (or _file), api_id and api_key for";
        }

    } else if (ngx_strcmp(d, "victorops_escalate") == 0) {
        if (vi->escalate_tokens->nelts == 0) {
            err = "has no escalate_token or escalate_token_file, needed by";
        }

    } else if (ngx_strcmp(d, "victorops_rootly_events") == 0) {
        if (vi->signing_secrets->nelts == 0) {
            err = "has no rootly_signing_secret or "
                  "rootly_signing_secret_file, needed by";
        }

    } else if (vi->webhook_secrets->nelts == 0
               && vi->escalation_codes->nelts == 0)
    {
        err = "has no webhook_secret, webhook_secret_file or "
              "escalation_auth_code, needed by";
    }

    if (err == NULL) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "victorops integration \"%V\" %s \"%s\" in %s:%ui",
                  &vi->name, err, d, ref->file, ref->line);

    return NGX_ERROR;
}
