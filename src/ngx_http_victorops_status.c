
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The "victorops_status" location: counters, queue, upstream health and
 * rate-limit state per integration, as JSON or Prometheus text (GET);
 * dead letters and incident links through a bearer admin_token (POST).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_admin.h"


typedef struct {
    const char                   *name;
    const char                   *label;
    ngx_uint_t                    counter;
} ngx_http_victorops_metric_t;


static ngx_int_t ngx_http_victorops_status_get(ngx_http_request_t *r);
static void ngx_http_victorops_status_answer(ngx_http_request_t *r);
static ngx_int_t ngx_http_victorops_status_send(ngx_http_request_t *r);
static void ngx_http_victorops_status_stats(
    ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_stats_t *stats);
static ngx_int_t ngx_http_victorops_status_json(ngx_http_request_t *r,
    ngx_http_victorops_main_conf_t *vmcf, ngx_str_t *out);
static ngx_int_t ngx_http_victorops_status_prometheus(ngx_http_request_t *r,
    ngx_http_victorops_main_conf_t *vmcf, ngx_str_t *out);
static ngx_int_t ngx_http_victorops_status_integration_json(yajl_gen g,
    ngx_http_victorops_integration_t *vi, int64_t now);
static ngx_int_t ngx_http_victorops_status_pg_json(yajl_gen g,
    ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_status_counters_json(yajl_gen g,
    ngx_http_victorops_shctx_t *sh);
static ngx_int_t ngx_http_victorops_status_peer_json(yajl_gen g,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_shctx_t *sh,
    ngx_uint_t id, int64_t now);
static ngx_int_t ngx_http_victorops_status_budget_json(yajl_gen g,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_grant_t *grant);
static ngx_int_t ngx_http_victorops_status_error_json(yajl_gen g,
    ngx_http_victorops_last_error_t *e);
static u_char *ngx_http_victorops_status_integration_prometheus(u_char *p,
    ngx_http_victorops_integration_t *vi, int64_t now);
static u_char *ngx_http_victorops_status_peer_prometheus(u_char *p,
    ngx_str_t *name, ngx_http_victorops_shctx_t *sh, ngx_uint_t id,
    int64_t now);
static ngx_int_t ngx_http_victorops_status_admin(ngx_http_request_t *r);
static ngx_int_t ngx_http_victorops_admin_action(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *action, yajl_gen g);
static ngx_int_t ngx_http_victorops_admin_link(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_uint_t unlink);
static ngx_int_t ngx_http_victorops_admin_post(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_uint_t action, ngx_str_t *id,
    ngx_str_t *key, ngx_str_t *incident, ngx_str_t *entity,
    ngx_str_t *rootly_incident, ngx_str_t *rootly_alert);
static ngx_int_t ngx_http_victorops_admin_exec(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_admin_done(ngx_http_victorops_store_op_t *op);
static ngx_int_t ngx_http_victorops_admin_reply(ngx_http_request_t *r,
    ngx_http_victorops_admin_t *a, ngx_int_t rc);
static ngx_int_t ngx_http_victorops_status_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *message);


static ngx_http_victorops_metric_t  ngx_http_victorops_metrics[] = {

    { "accepted", "alert", NGX_HTTP_VICTOROPS_C_ACCEPTED_ALERT },
    { "accepted", "acknowledgement", NGX_HTTP_VICTOROPS_C_ACCEPTED_ACK },
    { "accepted", "recovery", NGX_HTTP_VICTOROPS_C_ACCEPTED_RECOVERY },
    { "ignored", "unsupported notification type",
      NGX_HTTP_VICTOROPS_C_IGNORED_TYPE },
    { "ignored", "informational message", NGX_HTTP_VICTOROPS_C_IGNORED_INFO },
    { "ignored", "not an incident event",
      NGX_HTTP_VICTOROPS_C_IGNORED_NOT_INCIDENT },
    { "ignored", "no linked Rootly incident or alert",
      NGX_HTTP_VICTOROPS_C_IGNORED_NO_LINK },
    { "duplicate", NULL, NGX_HTTP_VICTOROPS_C_DUPLICATE },
    { "unauthorized", NULL, NGX_HTTP_VICTOROPS_C_UNAUTHORIZED },
    { "invalid", NULL, NGX_HTTP_VICTOROPS_C_INVALID },
    { "rejected", NULL, NGX_HTTP_VICTOROPS_C_REJECTED },
    { "delivered", NULL, NGX_HTTP_VICTOROPS_C_DELIVERED },
    { "retried", NULL, NGX_HTTP_VICTOROPS_C_RETRIED },
    { "dead_lettered", NULL, NGX_HTTP_VICTOROPS_C_DEAD },
    { "rate_limited", NULL, NGX_HTTP_VICTOROPS_C_RATE_LIMITED },
    { "escalations", "paged", NGX_HTTP_VICTOROPS_C_ESCALATED },
    { "escalations", "rerouted", NGX_HTTP_VICTOROPS_C_REROUTED },
    { "escalations", "resolved", NGX_HTTP_VICTOROPS_C_VO_RESOLVED },
    { "escalations", "oncall_posted", NGX_HTTP_VICTOROPS_C_ONCALL },
    { "victorops_failed", NULL, NGX_HTTP_VICTOROPS_C_VO_FAILED },
    { "victorops_rate_limited", NULL, NGX_HTTP_VICTOROPS_C_VO_RATE_LIMITED },
    { "sync", "runs", NGX_HTTP_VICTOROPS_C_SYNC_RUNS },
    { "sync", "repairs", NGX_HTTP_VICTOROPS_C_SYNC_REPAIRS },
    { "slack", "commands", NGX_HTTP_VICTOROPS_C_SLACK_COMMANDS },
    { "slack", "paged", NGX_HTTP_VICTOROPS_C_SLACK_PAGED },
    { "slack", "refused", NGX_HTTP_VICTOROPS_C_SLACK_REFUSED },
    { NULL, NULL, 0 }
};


/* by peer: its JSON key, its metrics' infix */

static const char  *ngx_http_victorops_peer_names[] = {
    "rootly",
    "victorops"
};


char *
ngx_http_victorops_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_victorops_status_handler;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_victorops_status_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_victorops_status_get(r);
    }

    if (r->method & NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_victorops_status_admin(r);
    }

    return ngx_http_victorops_not_allowed(r, "GET, HEAD, POST");
}


/*
 * The queue's numbers of a PostgreSQL store are read first if the last
 * read is older than a second (admin_pg.c): the answer waits for them
 */

static ngx_int_t
ngx_http_victorops_status_get(ngx_http_request_t *r)
{
    ngx_http_victorops_main_conf_t  *vmcf;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_victorops_module);

    if (ngx_http_victorops_status_pg_refresh(r, vmcf,
                                             ngx_http_victorops_status_answer)
        == NGX_DONE)
    {
        return NGX_DONE;
    }

    return ngx_http_victorops_status_send(r);
}


static void
ngx_http_victorops_status_answer(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_victorops_status_send(r));
}


static ngx_int_t
ngx_http_victorops_status_send(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_str_t                        format, body;
    ngx_http_victorops_main_conf_t  *vmcf;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_victorops_module);

    if (ngx_http_arg(r, (u_char *) "format", sizeof("format") - 1, &format)
        == NGX_OK
        && format.len == sizeof("prometheus") - 1
        && ngx_strncmp(format.data, "prometheus", format.len) == 0)
    {
        rc = ngx_http_victorops_status_prometheus(r, vmcf, &body);
        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_victorops_send(r, NGX_HTTP_OK,
                                          "text/plain; version=0.0.4", &body);
    }

    rc = ngx_http_victorops_status_json(r, vmcf, &body);
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_victorops_send(r, NGX_HTTP_OK, "application/json",
                                          &body);
}


#define ngx_http_victorops_gen_int(g, key, n)                                 \
    (ngx_http_victorops_gen_cstr(g, key) != NGX_OK                            \
     || yajl_gen_integer(g, (long long) (n)) != yajl_gen_status_ok)


static ngx_int_t
ngx_http_victorops_status_json(ngx_http_request_t *r,
    ngx_http_victorops_main_conf_t *vmcf, ngx_str_t *out)
{
    int64_t                             now;
    yajl_gen                            g;
    ngx_uint_t                          i;
    ngx_http_victorops_integration_t  **vip;

    now = ngx_http_victorops_now();

    g = ngx_http_victorops_gen_create(r->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "version") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, NGX_HTTP_VICTOROPS_VERSION)
           != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "integrations") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    vip = vmcf ? vmcf->integrations.elts : NULL;

    for (i = 0; vmcf && i < vmcf->integrations.nelts; i++) {
        if (ngx_http_victorops_status_integration_json(g, vip[i], now)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    if (ngx_http_victorops_gen_finish(g, r->pool, out) != NGX_OK) {
        return NGX_ERROR;
    }

    out->len++;

    return NGX_OK;
}


/* "name": {counters, queue, peers, alert_limit, store} */

static ngx_int_t
ngx_http_victorops_status_integration_json(yajl_gen g,
    ngx_http_victorops_integration_t *vi, int64_t now)
{
    ngx_uint_t                        commits, peer;
    ngx_http_victorops_shctx_t        copy;
    ngx_http_victorops_store_stats_t  stats;

    ngx_shmtx_lock(&vi->shpool->mutex);
    copy = *vi->sh;
    ngx_shmtx_unlock(&vi->shpool->mutex);

    if (yajl_gen_string(g, vi->name.data, vi->name.len)
        != yajl_gen_status_ok
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_status_counters_json(g, &copy) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the queue, from this worker's handle on the store */

    ngx_http_victorops_status_stats(vi, &stats);

    if (ngx_http_victorops_gen_cstr(g, "queue") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_int(g, "pending", stats.pending)
        || ngx_http_victorops_gen_int(g, "oldest_pending_age_ms",
                                      stats.oldest ? now - stats.oldest : 0)
        || ngx_http_victorops_gen_int(g, "dead_letters", stats.dead)
        || ngx_http_victorops_gen_int(g, "links", stats.links)
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    for (peer = 0; peer < NGX_HTTP_VICTOROPS_PEER_N; peer++) {
        if (ngx_http_victorops_status_peer_json(g, vi, &copy, peer, now)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* alert_limit and the store's lock */

    commits = copy.commits ? copy.commits : 1;

    if (ngx_http_victorops_gen_cstr(g, "alert_limit") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_int(g, "per_minute", vi->alert_limit)
        || ngx_http_victorops_gen_int(g, "available",
                               ngx_http_victorops_alert_available(vi, now))
        || ngx_http_victorops_gen_cstr(g, "overflow") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, vi->alert_limit_reject
                                          ? "reject" : "queue")
           != NGX_OK
        || ngx_http_victorops_status_budget_json(g, vi,
                            &copy.grants[NGX_HTTP_VICTOROPS_BUDGET_ALERTS])
           != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    if (vi->store_pg) {
        if (ngx_http_victorops_status_pg_json(g, vi) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_http_victorops_gen_cstr(g, "store") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_str(g, "path", &vi->store) != NGX_OK
        || ngx_http_victorops_gen_int(g, "commits", copy.commits)
        || ngx_http_victorops_gen_int(g, "commit_avg_us",
                                      copy.commit_us / commits)
        || ngx_http_victorops_gen_int(g, "commit_max_us", copy.commit_us_max)
        || ngx_http_victorops_gen_int(g, "lock_waits", copy.lock_waits)
        || ngx_http_victorops_gen_int(g, "lock_wait_ms", copy.lock_wait_ms)
        || ngx_http_victorops_gen_int(g, "tasks", copy.tasks)
        || ngx_http_victorops_gen_int(g, "thread_cpu_us", copy.thread_cpu_us)
        || ngx_http_victorops_gen_int(g, "wal_restarts", copy.wal_restarts)
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The queue's numbers: SQLite's read from this worker's handle on the
 * store; a PostgreSQL store's as last read (status_pg_refresh()), for
 * every node; "pending" -1 when unknown
 */

static void
ngx_http_victorops_status_stats(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_stats_t *stats)
{
    if (vi->store_pg && vi->pg_stats_at) {
        *stats = vi->pg_stats;
        return;
    }

    if (vi->store_pg || vi->st == NULL
        || ngx_http_victorops_store_stats(vi, stats) != NGX_OK)
    {
        ngx_memzero(stats, sizeof(ngx_http_victorops_store_stats_t));
        stats->pending = -1;
    }
}


/*
 * "store": {"backend":"postgresql","uri":masked,"state":"ready",
 * "node":..,"schema_version":1,"connects":1,"failures":0,
 * "state_since":..,"last_heartbeat":..,"last_error":..,"spool":{"path":..,
 * "depth":0,"moved":0,"dropped":0,"last_moved_at":0}}: this worker's
 * connection, the node's spool
 */

static ngx_int_t
ngx_http_victorops_status_pg_json(yajl_gen g,
    ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_pg_info_t     info;
    ngx_http_victorops_spool_info_t  spool;

    ngx_http_victorops_pg_info(vi, &info);
    ngx_http_victorops_spool_info(vi, &spool);

    if (ngx_http_victorops_gen_cstr(g, "store") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "backend") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "postgresql") != NGX_OK
        || ngx_http_victorops_gen_str(g, "uri", &vi->store_masked) != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "state") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, info.state) != NGX_OK
        || ngx_http_victorops_gen_str(g, "node", &info.node) != NGX_OK
        || ngx_http_victorops_gen_int(g, "schema_version", info.schema)
        || ngx_http_victorops_gen_int(g, "connects", info.connects)
        || ngx_http_victorops_gen_int(g, "failures", info.failures)
        || ngx_http_victorops_gen_int(g, "state_since", info.since)
        || ngx_http_victorops_gen_int(g, "last_heartbeat", info.heartbeat)
        || ngx_http_victorops_gen_cstr(g, "last_error") != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (info.error.len == 0) {
        if (yajl_gen_null(g) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }

    } else if (yajl_gen_string(g, info.error.data, info.error.len)
               != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    if (ngx_http_victorops_gen_cstr(g, "spool") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_str(g, "path", &spool.path) != NGX_OK
        || ngx_http_victorops_gen_int(g, "depth", spool.depth)
        || ngx_http_victorops_gen_int(g, "moved", spool.moved)
        || ngx_http_victorops_gen_int(g, "dropped", spool.dropped)
        || ngx_http_victorops_gen_int(g, "last_moved_at", spool.last_moved_at)
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    if (yajl_gen_map_close(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* counters: {"accepted":{"alert":1,...},"duplicate":0,...} */

static ngx_int_t
ngx_http_victorops_status_counters_json(yajl_gen g,
    ngx_http_victorops_shctx_t *sh)
{
    ngx_uint_t                    opened;
    const char                   *group;
    ngx_http_victorops_metric_t  *m;

    group = NULL;
    opened = 0;

    for (m = ngx_http_victorops_metrics; m->name; m++) {

        if (opened && (m->label == NULL || ngx_strcmp(group, m->name))) {
            if (yajl_gen_map_close(g) != yajl_gen_status_ok) {
                return NGX_ERROR;
            }

            opened = 0;
        }

        if (m->label && !opened) {
            if (ngx_http_victorops_gen_cstr(g, m->name) != NGX_OK
                || yajl_gen_map_open(g) != yajl_gen_status_ok)
            {
                return NGX_ERROR;
            }

            group = m->name;
            opened = 1;
        }

        if (ngx_http_victorops_gen_int(g, m->label ? m->label : m->name,
                                       sh->counters[m->counter]))
        {
            return NGX_ERROR;
        }
    }

    if (opened && yajl_gen_map_close(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A peer: credentials, pause, last success and error.  VictorOps also
 * says "not configured" without api_id, and shows its api_rate and the
 * last reconciliation (which reads its incidents).
 */

static ngx_int_t
ngx_http_victorops_status_peer_json(yajl_gen g,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_shctx_t *sh,
    ngx_uint_t id, int64_t now)
{
    ngx_uint_t                  vo;
    const char                 *credentials;
    ngx_http_victorops_peer_t  *p;

    p = &sh->peers[id];
    vo = (id == NGX_HTTP_VICTOROPS_PEER_VO);

    credentials = (vo && vi->api_id.len == 0) ? "not configured"
                  : p->credentials_failing ? "failing" : "ok";

    if (ngx_http_victorops_gen_cstr(g, ngx_http_victorops_peer_names[id])
        != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "credentials") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, credentials) != NGX_OK
        || (vo && ngx_http_victorops_gen_int(g, "api_rate", vi->api_rate))
        || ngx_http_victorops_gen_int(g, "paused_for_ms",
                                      p->paused_until > now
                                      ? p->paused_until - now : 0)
        || ngx_http_victorops_gen_int(g, "last_success", p->last_success))
    {
        return NGX_ERROR;
    }

    if (vo
        && ngx_http_victorops_status_budget_json(g, vi,
                                   &sh->grants[NGX_HTTP_VICTOROPS_BUDGET_API])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (vo
        && (ngx_http_victorops_gen_int(g, "last_sync", sh->sync_last)
            || ngx_http_victorops_gen_cstr(g, "last_sync_ok") != NGX_OK
            || yajl_gen_bool(g, sh->sync_ok) != yajl_gen_status_ok))
    {
        return NGX_ERROR;
    }

    if (ngx_http_victorops_gen_cstr(g, "last_error") != NGX_OK
        || ngx_http_victorops_status_error_json(g, &p->error) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * "budget", with a PostgreSQL store: where alert_limit's or api_rate's
 * tokens come from, "shared" (every node's, granted by the database),
 * what this node was granted, spent, holds, gave back unspent and
 * dropped (too late to spend), its grants (and how many gave nothing),
 * the whole tokens the database had left at the last one.  A SQLite
 * store's budgets are this node's ("local"): its status stays as it
 * was, without "budget".
 */

static ngx_int_t
ngx_http_victorops_status_budget_json(yajl_gen g,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_grant_t *grant)
{
    if (!vi->store_pg) {
        return NGX_OK;
    }

    if (ngx_http_victorops_gen_cstr(g, "budget") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "source") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, vi->budget ? "shared" : "local")
           != NGX_OK
        || ngx_http_victorops_gen_int(g, "granted", grant->granted)
        || ngx_http_victorops_gen_int(g, "spent", grant->spent)
        || ngx_http_victorops_gen_int(g, "held", grant->stock)
        || ngx_http_victorops_gen_int(g, "returned", grant->returned)
        || ngx_http_victorops_gen_int(g, "dropped", grant->dropped)
        || ngx_http_victorops_gen_int(g, "grants", grant->grants)
        || ngx_http_victorops_gen_int(g, "grants_empty", grant->refused)
        || ngx_http_victorops_gen_int(g, "store_tokens_left", grant->left)
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * {"time","status","reason"} of an upstream's last error, or null; the
 * reason is recorded as well-formed UTF-8 (ngx_http_victorops_peer_error())
 */

static ngx_int_t
ngx_http_victorops_status_error_json(yajl_gen g,
    ngx_http_victorops_last_error_t *e)
{
    ngx_str_t  s;

    if (e->time == 0) {
        return (yajl_gen_null(g) == yajl_gen_status_ok) ? NGX_OK : NGX_ERROR;
    }

    s.data = e->reason;
    s.len = e->reason_len;

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_int(g, "time", e->time)
        || ngx_http_victorops_gen_int(g, "status", e->status)
        || ngx_http_victorops_gen_str(g, "reason", &s) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_status_prometheus(ngx_http_request_t *r,
    ngx_http_victorops_main_conf_t *vmcf, ngx_str_t *out)
{
    u_char                             *p;
    size_t                              size;
    int64_t                             now;
    ngx_uint_t                          i;
    ngx_http_victorops_integration_t  **vip;

    now = ngx_http_victorops_now();

    size = 2048;

    if (vmcf) {
        size += vmcf->integrations.nelts
                * (NGX_HTTP_VICTOROPS_C_N + 13)
                * (160 + NGX_HTTP_VICTOROPS_NAME_MAX);
    }

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    p = ngx_sprintf(p,
            "# HELP victorops_events_total Webhook deliveries and jobs, "
            "by outcome.\n"
            "# TYPE victorops_events_total counter\n");

    vip = vmcf ? vmcf->integrations.elts : NULL;

    for (i = 0; vmcf && i < vmcf->integrations.nelts; i++) {
        p = ngx_http_victorops_status_integration_prometheus(p, vip[i], now);
    }

    out->len = p - out->data;

    return NGX_OK;
}


static u_char *
ngx_http_victorops_status_integration_prometheus(u_char *p,
    ngx_http_victorops_integration_t *vi, int64_t now)
{
    ngx_uint_t                         peer;
    ngx_http_victorops_metric_t       *m;
    ngx_http_victorops_shctx_t         copy;
    ngx_http_victorops_store_stats_t   stats;

    ngx_shmtx_lock(&vi->shpool->mutex);
    copy = *vi->sh;
    ngx_shmtx_unlock(&vi->shpool->mutex);

    for (m = ngx_http_victorops_metrics; m->name; m++) {
        p = ngx_sprintf(p, "victorops_events_total{integration=\"%V\","
                        "outcome=\"%s\"", &vi->name, m->name);

        if (m->label) {
            p = ngx_sprintf(p, ",detail=\"%s\"", m->label);
        }

        p = ngx_sprintf(p, "} %uA\n", copy.counters[m->counter]);
    }

    ngx_http_victorops_status_stats(vi, &stats);

    if (stats.pending < 0) {
        stats.pending = 0;
    }

    p = ngx_sprintf(p,
            "victorops_queue_pending{integration=\"%V\"} %L\n"
            "victorops_queue_oldest_pending_seconds{integration=\"%V\"} "
            "%L.%03L\n"
            "victorops_dead_letters{integration=\"%V\"} %L\n"
            "victorops_links{integration=\"%V\"} %L\n",
            &vi->name, stats.pending,
            &vi->name, stats.oldest ? (now - stats.oldest) / 1000 : 0,
            stats.oldest ? (now - stats.oldest) % 1000 : 0,
            &vi->name, stats.dead,
            &vi->name, stats.links);

    for (peer = 0; peer < NGX_HTTP_VICTOROPS_PEER_N; peer++) {
        p = ngx_http_victorops_status_peer_prometheus(p, &vi->name, &copy,
                                                      peer, now);
    }

    return ngx_sprintf(p,
            "victorops_alert_limit_available{integration=\"%V\"} %L\n"
            "victorops_store_commits_total{integration=\"%V\"} %uA\n"
            "victorops_store_commit_seconds_total{integration=\"%V\"} "
            "%uA.%06uA\n"
            "victorops_store_lock_wait_seconds_total{integration=\"%V\"} "
            "%uA.%03uA\n"
            "victorops_store_thread_cpu_seconds_total{integration=\"%V\"} "
            "%uA.%06uA\n",
            &vi->name, ngx_http_victorops_alert_available(vi, now),
            &vi->name, copy.commits,
            &vi->name, copy.commit_us / 1000000, copy.commit_us % 1000000,
            &vi->name, copy.lock_wait_ms / 1000, copy.lock_wait_ms % 1000,
            &vi->name, copy.thread_cpu_us / 1000000,
            copy.thread_cpu_us % 1000000);
}


static u_char *
ngx_http_victorops_status_peer_prometheus(u_char *p, ngx_str_t *name,
    ngx_http_victorops_shctx_t *sh, ngx_uint_t id, int64_t now)
{
    const char                 *peer;
    ngx_http_victorops_peer_t  *st;

    peer = ngx_http_victorops_peer_names[id];
    st = &sh->peers[id];

    return ngx_sprintf(p,
               "victorops_%s_credentials_ok{integration=\"%V\"} %d\n"
               "victorops_%s_paused_seconds{integration=\"%V\"} %L\n",
               peer, name, st->credentials_failing ? 0 : 1,
               peer, name, st->paused_until > now
                           ? (st->paused_until - now + 999) / 1000 : 0);
}


/*
 * POST ?integration=NAME&action=dead_letters|replay|link|unlink
 * with "Authorization: Bearer <admin_token of that integration>".
 */

static ngx_int_t
ngx_http_victorops_status_admin(ngx_http_request_t *r)
{
    yajl_gen                            g;
    ngx_int_t                           rc;
    ngx_str_t                           name, action, body;
    ngx_uint_t                          i;
    ngx_http_victorops_main_conf_t     *vmcf;
    ngx_http_victorops_integration_t  **vip, *vi;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_victorops_module);

    if (ngx_http_victorops_arg(r, "integration", &name) != NGX_OK
        || ngx_http_victorops_arg(r, "action", &action) != NGX_OK)
    {
        return ngx_http_victorops_status_error(r, NGX_HTTP_BAD_REQUEST,
                                   "integration and action are required");
    }

    vi = NULL;
    vip = vmcf ? vmcf->integrations.elts : NULL;

    for (i = 0; vmcf && i < vmcf->integrations.nelts; i++) {
        if (vip[i]->name.len == name.len
            && ngx_strncmp(vip[i]->name.data, name.data, name.len) == 0)
        {
            vi = vip[i];
            break;
        }
    }

    if (vi == NULL) {
        return ngx_http_victorops_status_error(r, NGX_HTTP_NOT_FOUND,
                                               "unknown integration");
    }

    if (vi->admin_tokens->nelts == 0) {
        return ngx_http_victorops_status_error(r, NGX_HTTP_FORBIDDEN,
                                   "no admin_token for this integration");
    }

    if (ngx_http_victorops_bearer(r, vi->admin_tokens) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "victorops integration \"%V\": admin request from %V "
                      "unauthorized", &vi->name, &r->connection->addr_text);

        return ngx_http_victorops_status_error(r, NGX_HTTP_UNAUTHORIZED,
                                               "unauthorized");
    }

    if (!ngx_http_victorops_has_store(vi)) {
        return ngx_http_victorops_status_error(r,
                                               NGX_HTTP_SERVICE_UNAVAILABLE,
                                               "store unavailable");
    }

    g = ngx_http_victorops_gen_create(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_victorops_admin_action(r, vi, &action, g);

    if (rc == NGX_DONE) {

        /* answered once the store has done it */

        r->main->count++;
        return NGX_DONE;
    }

    /* an error answered already (status_error()) */

    if (rc != NGX_OK || r->header_sent) {
        return rc;
    }

    if (ngx_http_victorops_gen_finish(g, r->pool, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len++;

    return ngx_http_victorops_send(r, NGX_HTTP_OK, "application/json",
                                          &body);
}


static ngx_int_t
ngx_http_victorops_admin_action(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *action, yajl_gen g)
{
    ngx_str_t  id;

#define ngx_http_victorops_action_is(s)                                       \
    (action->len == sizeof(s) - 1                                             \
     && ngx_strncmp(action->data, s, sizeof(s) - 1) == 0)

    if (ngx_http_victorops_action_is("dead_letters")) {
        if (vi->store_pg) {
            return ngx_http_victorops_admin_post(r, vi,
                                                 NGX_HTTP_VICTOROPS_ADMIN_DEAD,
                                                 NULL, NULL, NULL, NULL, NULL,
                                                 NULL);
        }

        if (yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_http_victorops_gen_cstr(g, "dead_letters") != NGX_OK
            || ngx_http_victorops_store_dead_list(vi, g, 1000) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_http_victorops_action_is("replay")) {
        if (ngx_http_victorops_arg(r, "id", &id) != NGX_OK) {
            ngx_str_null(&id);      /* all of them */
        }

        return ngx_http_victorops_admin_post(r, vi,
                                             NGX_HTTP_VICTOROPS_ADMIN_REPLAY,
                                             &id, NULL, NULL, NULL, NULL,
                                             NULL);
    }

    if (ngx_http_victorops_action_is("link")) {
        return ngx_http_victorops_admin_link(r, vi, 0);
    }

    if (ngx_http_victorops_action_is("unlink")) {
        return ngx_http_victorops_admin_link(r, vi, 1);
    }

#undef ngx_http_victorops_action_is

    return ngx_http_victorops_status_error(r, NGX_HTTP_BAD_REQUEST,
                      "action is one of dead_letters, replay, link, unlink");
}


/* link or unlink a VictorOps incident and a Rootly one, by hand */

static ngx_int_t
ngx_http_victorops_admin_link(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_uint_t unlink)
{
    ngx_str_t  key, incident, entity, rootly_incident, rootly_alert;

    if (ngx_http_victorops_arg(r, "incident", &incident) != NGX_OK) {
        ngx_str_null(&incident);
    }

    if (ngx_http_victorops_arg(r, "entity", &entity) != NGX_OK) {
        ngx_str_null(&entity);
    }

    if (incident.len == 0 && entity.len == 0) {
        return ngx_http_victorops_status_error(r, NGX_HTTP_BAD_REQUEST,
                                   "incident or entity is required");
    }

    /* the same key a webhook about this incident gets */

    if (entity.len) {
        key = entity;

    } else {
        key.data = ngx_pnalloc(r->pool, incident.len + 1);
        if (key.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        key.len = ngx_sprintf(key.data, "#%V", &incident) - key.data;
    }

    if (unlink) {
        return ngx_http_victorops_admin_post(r, vi,
                                             NGX_HTTP_VICTOROPS_ADMIN_UNLINK,
                                             NULL, &key, &incident, &entity,
                                             NULL, NULL);
    }

    if (ngx_http_victorops_arg(r, "rootly_incident", &rootly_incident)
        != NGX_OK)
    {
        ngx_str_null(&rootly_incident);
    }

    if (ngx_http_victorops_arg(r, "rootly_alert", &rootly_alert) != NGX_OK) {
        ngx_str_null(&rootly_alert);
    }

    if (rootly_incident.len == 0 && rootly_alert.len == 0) {
        return ngx_http_victorops_status_error(r, NGX_HTTP_BAD_REQUEST,
                              "rootly_incident or rootly_alert is required");
    }

    return ngx_http_victorops_admin_post(r, vi, NGX_HTTP_VICTOROPS_ADMIN_LINK,
                                         NULL, &key, &incident, &entity,
                                         &rootly_incident, &rootly_alert);
}


#define ngx_http_victorops_admin_copy(pool, dst, src)                        \
    ((src) == NULL || (src)->len == 0                                         \
     || ((dst)->len = (src)->len,                                             \
         ((dst)->data = ngx_pstrdup(pool, src)) != NULL))


/* the action's arguments, copied out of the request: NGX_DONE posted */

static ngx_int_t
ngx_http_victorops_admin_post(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_uint_t action, ngx_str_t *id,
    ngx_str_t *key, ngx_str_t *incident, ngx_str_t *entity,
    ngx_str_t *rootly_incident, ngx_str_t *rootly_alert)
{
    ngx_pool_t                  *pool;
    ngx_http_victorops_admin_t  *a;

    a = ngx_http_victorops_store_call(vi, sizeof(ngx_http_victorops_admin_t),
                                      ngx_http_victorops_admin_exec,
                                      ngx_http_victorops_admin_done);
    if (a == NULL) {
        return ngx_http_victorops_status_error(r,
                                               NGX_HTTP_SERVICE_UNAVAILABLE,
                                               "store unavailable");
    }

    a->action = action;
    pool = a->call.pool;

    if (vi->store_pg) {
        a->call.op.pg_exec = ngx_http_victorops_admin_pg;
    }

    if (!ngx_http_victorops_admin_copy(pool, &a->id, id)
        || !ngx_http_victorops_admin_copy(pool, &a->key, key)
        || !ngx_http_victorops_admin_copy(pool, &a->incident, incident)
        || !ngx_http_victorops_admin_copy(pool, &a->entity, entity)
        || !ngx_http_victorops_admin_copy(pool, &a->rootly_incident,
                                          rootly_incident)
        || !ngx_http_victorops_admin_copy(pool, &a->rootly_alert,
                                          rootly_alert))
    {
        ngx_destroy_pool(pool);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_victorops_store_call_post(r, a) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DONE;
}


/* on the store's writer */

static ngx_int_t
ngx_http_victorops_admin_exec(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_admin_t  *a = op->data;

    switch (a->action) {

    case NGX_HTTP_VICTOROPS_ADMIN_REPLAY:
        return ngx_http_victorops_store_replay(wvi, &a->id, op->now, &a->n);

    case NGX_HTTP_VICTOROPS_ADMIN_UNLINK:

        /* NGX_DECLINED: nothing was linked */

        return ngx_http_victorops_store_link_delete(wvi, &a->key,
                                                    &a->incident, &a->entity);

    default: /* NGX_HTTP_VICTOROPS_ADMIN_LINK */
        return ngx_http_victorops_store_link_set(wvi, &a->key, &a->incident,
                                                 &a->entity,
                                                 &a->rootly_incident,
                                                 &a->rootly_alert, op->now);
    }
}


/* back on the event loop: what was done, and the answer */

static void
ngx_http_victorops_admin_done(ngx_http_victorops_store_op_t *op)
{
    ngx_log_t                         *log;
    ngx_http_request_t                *r;
    ngx_http_victorops_admin_t        *a;
    ngx_http_victorops_integration_t  *vi;

    a = op->data;
    vi = op->integration;
    r = a->call.request;
    log = r ? r->connection->log : ngx_cycle->log;

    if (op->rc != NGX_ERROR) {
        switch (a->action) {

        case NGX_HTTP_VICTOROPS_ADMIN_REPLAY:
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "victorops integration \"%V\": %ui dead letters "
                          "replayed", &vi->name, a->n);

            ngx_http_victorops_queue_kick(vi);
            break;

        case NGX_HTTP_VICTOROPS_ADMIN_LINK:
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "victorops integration \"%V\": incident \"%V\" "
                          "linked to rootly incident \"%V\" alert \"%V\"",
                          &vi->name, &a->key, &a->rootly_incident,
                          &a->rootly_alert);
            break;
        }
    }

    if (r == NULL) {
        return;
    }

    ngx_http_finalize_request(r, ngx_http_victorops_admin_reply(r, a,
                                                                op->rc));
}


static ngx_int_t
ngx_http_victorops_admin_reply(ngx_http_request_t *r,
    ngx_http_victorops_admin_t *a, ngx_int_t rc)
{
    yajl_gen   g;
    ngx_int_t  ok;
    ngx_str_t  body;

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* PostgreSQL's list of dead letters: made already, in the call's pool */

    if (a->action == NGX_HTTP_VICTOROPS_ADMIN_DEAD) {
        body.len = a->body.len;
        body.data = ngx_pstrdup(r->pool, &a->body);

        if (body.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_victorops_send(r, NGX_HTTP_OK, "application/json",
                                       &body);
    }

    g = ngx_http_victorops_gen_create(r->pool);
    if (g == NULL || yajl_gen_map_open(g) != yajl_gen_status_ok) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (a->action) {

    case NGX_HTTP_VICTOROPS_ADMIN_REPLAY:
        ok = ngx_http_victorops_gen_int(g, "replayed", a->n);
        break;

    case NGX_HTTP_VICTOROPS_ADMIN_UNLINK:
        ok = ngx_http_victorops_gen_cstr(g, "unlinked");

        if (ok == NGX_OK
            && yajl_gen_bool(g, rc == NGX_OK) != yajl_gen_status_ok)
        {
            ok = NGX_ERROR;
        }

        break;

    default: /* NGX_HTTP_VICTOROPS_ADMIN_LINK */
        ok = ngx_http_victorops_gen_str(g, "linked", &a->key);
        break;
    }

    if (ok != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, r->pool, &body) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len++;

    return ngx_http_victorops_send(r, NGX_HTTP_OK, "application/json",
                                   &body);
}


/* a query argument, URL-decoded; NGX_DECLINED when absent or empty */

ngx_int_t
ngx_http_victorops_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   arg;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK
        || arg.len == 0)
    {
        return NGX_DECLINED;
    }

    value->data = ngx_pnalloc(r->pool, arg.len);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    dst = value->data;
    src = arg.data;
    ngx_unescape_uri(&dst, &src, arg.len, 0);
    value->len = dst - value->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_status_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *message)
{
    ngx_str_t  msg;

    msg.data = (u_char *) message;
    msg.len = ngx_strlen(message);

    return ngx_http_victorops_error(r, status, &msg);
}
