
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Jobs for the VictorOps public API: page (create or reroute) for a
 * Rootly incident, resolve what Rootly resolved, tell Rootly who is on
 * call.  Every call takes a token of the integration's api_rate bucket,
 * shared by all workers; 429 (and 403 with a rate-limit body) pause all
 * of them.  Creating is exactly once: each create is marked with its
 * job id (in the details), and a job sent before (attempts > 1) first
 * looks for the incident with its mark in the whole incident list; it
 * never creates while that list could not be read to its end.  The
 * requests and what answers mean: ngx_http_victorops_vo_client.c; the
 * bodies and the reading of answers: ..._vo_api.c; the policies of the
 * VictorOps teams paged: ..._policies.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_ONCALL_TTL    30000
#define NGX_HTTP_VICTOROPS_LEASE_MORE    5000

/* a Slack page still failing this long before its response_url expires */
#define NGX_HTTP_VICTOROPS_SLACK_GIVE_UP 300


typedef struct {
    ngx_pool_t                        *pool;
    ngx_http_victorops_policies_t     *policies;
    ngx_pool_t                        *oncall_pool;
    ngx_str_t                          oncall;
    int64_t                            oncall_at;
} ngx_http_victorops_vo_worker_t;


#define NGX_HTTP_VICTOROPS_S_TEAMS       0
#define NGX_HTTP_VICTOROPS_S_FIND        1
#define NGX_HTTP_VICTOROPS_S_CREATE      2
#define NGX_HTTP_VICTOROPS_S_REROUTE     3
#define NGX_HTTP_VICTOROPS_S_RESOLVE     4
#define NGX_HTTP_VICTOROPS_S_ONCALL      5


typedef struct {
    ngx_pool_t                        *pool;
    ngx_http_victorops_integration_t  *vi;
    ngx_http_victorops_job_t           job;
    ngx_http_victorops_escalation_t    esc;
    ngx_http_victorops_link_t          link;
    ngx_uint_t                         linked;
    ngx_str_t                          canon;
    ngx_array_t                        targets;       /* target_t */
    ngx_array_t                        numbers;       /* ngx_str_t */
    ngx_uint_t                         team;
    ngx_uint_t                         step;
    ngx_uint_t                         has_token;
    ngx_uint_t                         calls;
    ngx_uint_t                         gave_up;    /* still failing */
    ngx_http_victorops_vo_find_t      *find;
    ngx_http_victorops_transfer_t     *t;
    ngx_event_t                        wait;
    ngx_connection_t                   dummy;
} ngx_http_victorops_vo_ctx_t;


static ngx_http_victorops_vo_ctx_t *ngx_http_victorops_vo_ctx(
    ngx_http_victorops_job_t *job, ngx_str_t *reason);
static void ngx_http_victorops_vo_decide(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_uint_t open, ngx_uint_t pageable, ngx_http_victorops_vo_decision_t *d);
static ngx_int_t ngx_http_victorops_vo_escalate(
    ngx_http_victorops_vo_ctx_t *ctx, int64_t now, int64_t *wait);
static ngx_int_t ngx_http_victorops_vo_resolve(
    ngx_http_victorops_vo_ctx_t *ctx, int64_t now, int64_t *wait);
static ngx_int_t ngx_http_victorops_vo_oncall_start(
    ngx_http_victorops_vo_ctx_t *ctx, int64_t now, int64_t *wait);
static ngx_int_t ngx_http_victorops_vo_next(ngx_http_victorops_vo_ctx_t *ctx);
static ngx_int_t ngx_http_victorops_vo_call(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_vo_wait_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_victorops_vo_find_sink(
    ngx_http_victorops_transfer_t *t, u_char *data, size_t len);
static void ngx_http_victorops_vo_found(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_vo_answered(ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_vo_created_ok(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_str_t *number, ngx_str_t *entity, const char *how);
static void ngx_http_victorops_vo_rerouted_ok(
    ngx_http_victorops_vo_ctx_t *ctx);
static void ngx_http_victorops_vo_paged(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_effects_t *fx, ngx_str_t *text);
static void ngx_http_victorops_vo_resolved_ok(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_array_t *done, ngx_str_t *reason);
static ngx_int_t ngx_http_victorops_vo_oncall_send(
    ngx_http_victorops_vo_ctx_t *ctx);
static ngx_int_t ngx_http_victorops_vo_note(
    ngx_http_victorops_effects_t *fx, ngx_http_victorops_vo_ctx_t *ctx,
    ngx_str_t *text);
static ngx_int_t ngx_http_victorops_vo_targets(
    ngx_http_victorops_vo_ctx_t *ctx);
static ngx_int_t ngx_http_victorops_vo_dup(ngx_pool_t *pool, ngx_str_t *dst,
    ngx_str_t *src);
static void ngx_http_victorops_vo_finish(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_uint_t op, ngx_str_t *error, ngx_http_victorops_effects_t *fx);
static void ngx_http_victorops_vo_failed(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, ngx_int_t rc, int64_t until);
static void ngx_http_victorops_vo_retry(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now, ngx_str_t *reason);
static time_t ngx_http_victorops_vo_reply_until(
    ngx_http_victorops_vo_ctx_t *ctx);
static void ngx_http_victorops_vo_dead(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, ngx_str_t *reason);
static ngx_int_t ngx_http_victorops_vo_reply_job(
    ngx_http_victorops_effects_t *fx, ngx_http_victorops_vo_ctx_t *ctx,
    const char *type, ngx_str_t *text);


ngx_int_t
ngx_http_victorops_vo_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    ngx_pool_t                      *pool;
    ngx_http_victorops_vo_worker_t  *w;

    pool = ngx_create_pool(4096, cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    w = ngx_pcalloc(pool, sizeof(ngx_http_victorops_vo_worker_t));

    if (w) {
        w->policies = ngx_http_victorops_policies_create(pool);
    }

    if (w == NULL || w->policies == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    w->pool = pool;
    vi->vo = w;

    return NGX_OK;
}


void
ngx_http_victorops_vo_done(ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_vo_worker_t  *w;

    w = vi->vo;

    if (w == NULL) {
        return;
    }

    /* the team-policy cache goes with w->pool */

    if (w->oncall_pool) {
        ngx_destroy_pool(w->oncall_pool);
    }

    vi->vo = NULL;
    ngx_destroy_pool(w->pool);
}


/*
 * Starts a claimed VictorOps job.  NGX_OK: under way (it counts as in
 * flight until its outcome); NGX_DONE: finished already (outcome
 * posted); NGX_BUSY: no token, try again after "wait"; NGX_ERROR.
 */

ngx_int_t
ngx_http_victorops_vo_job(ngx_http_victorops_job_t *job, int64_t now,
    int64_t *wait)
{
    ngx_int_t                     rc;
    ngx_str_t                     reason;
    ngx_http_victorops_vo_ctx_t  *ctx;

    ngx_str_null(&reason);
    ctx = NULL;

    if (job->integration->vo == NULL) {
        ngx_str_set(&reason, "no VictorOps API credentials (api_id, api_key)");

    } else {
        ctx = ngx_http_victorops_vo_ctx(job, &reason);

        if (ctx == NULL && reason.len == 0) {
            return NGX_ERROR;
        }
    }

    if (reason.len) {

        /* it can never be sent as it is */

        ngx_http_victorops_job_dead(job, NULL, now, &reason);
        return NGX_DONE;
    }

    switch (job->kind) {

    case NGX_HTTP_VICTOROPS_JOB_ESCALATE:
        rc = ngx_http_victorops_vo_escalate(ctx, now, wait);
        break;

    case NGX_HTTP_VICTOROPS_JOB_RESOLVE:
        rc = ngx_http_victorops_vo_resolve(ctx, now, wait);
        break;

    case NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE:

        /* like an escalation with nothing linked, and no Rootly incident */

        if (ngx_http_victorops_peer_token(ctx->vi, NGX_HTTP_VICTOROPS_PEER_VO,
                                          now, wait)
            != NGX_OK)
        {
            rc = NGX_BUSY;
            break;
        }

        ctx->has_token = 1;
        ctx->step = NGX_HTTP_VICTOROPS_S_TEAMS;
        rc = ngx_http_victorops_vo_next(ctx);
        break;

    default: /* NGX_HTTP_VICTOROPS_JOB_ONCALL */
        rc = ngx_http_victorops_vo_oncall_start(ctx, now, wait);
        break;
    }

    if (rc == NGX_BUSY || rc == NGX_ERROR) {
        ngx_destroy_pool(ctx->pool);
    }

    return rc;
}


/* NULL with "reason" set: a body that can never be read */

static ngx_http_victorops_vo_ctx_t *
ngx_http_victorops_vo_ctx(ngx_http_victorops_job_t *job, ngx_str_t *reason)
{
    ngx_pool_t                   *pool;
    ngx_http_victorops_vo_ctx_t  *ctx;

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_victorops_vo_ctx_t));
    if (ctx == NULL) {
        goto failed;
    }

    ctx->pool = pool;
    ctx->vi = job->integration;
    ctx->job = *job;

    ctx->job.id.data = ngx_pstrdup(pool, &job->id);
    ctx->job.key.data = ngx_pstrdup(pool, &job->key);
    ctx->job.incident.data = ngx_pstrdup(pool, &job->incident);
    ctx->job.entity.data = ngx_pstrdup(pool, &job->entity);
    ctx->job.body.data = ngx_pstrdup(pool, &job->body);

    if (ctx->job.id.data == NULL || ctx->job.key.data == NULL
        || ctx->job.incident.data == NULL || ctx->job.entity.data == NULL
        || ctx->job.body.data == NULL
        || ngx_array_init(&ctx->targets, pool, 4,
                          sizeof(ngx_http_victorops_target_t))
           != NGX_OK
        || ngx_array_init(&ctx->numbers, pool, 2, sizeof(ngx_str_t))
           != NGX_OK)
    {
        goto failed;
    }

    switch (ngx_http_victorops_escalation_parse(pool, &ctx->job.body,
                                                &ctx->esc))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_str_set(reason, "unreadable job body");
        goto failed;

    default:
        goto failed;
    }

    ctx->dummy.fd = (ngx_socket_t) -1;
    ctx->dummy.data = ctx;

    ctx->wait.handler = ngx_http_victorops_vo_wait_handler;
    ctx->wait.data = &ctx->dummy;
    ctx->wait.log = ngx_cycle->log;
    ctx->wait.cancelable = 1;

    return ctx;

failed:

    ngx_destroy_pool(pool);
    return NULL;
}


/*
 * What the job does about the incident it pages for (decide.c), from
 * what is linked: "open" linked incidents (a resolve), whether it has
 * anybody to page ("pageable", once its teams' policies are known).
 */

static void
ngx_http_victorops_vo_decide(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_uint_t open, ngx_uint_t pageable, ngx_http_victorops_vo_decision_t *d)
{
    ngx_http_victorops_vo_facts_t  f;

    f.kind = ctx->job.kind;
    f.attempts = ctx->job.attempts;
    f.targets = ctx->canon;
    f.linked = ctx->linked;
    f.paged = ctx->link.targets;
    f.vo_state = ctx->link.vo_state;
    f.open = open;
    f.pageable = pageable;

    ngx_http_victorops_decide_vo(&f, d);
}


static ngx_int_t
ngx_http_victorops_vo_escalate(ngx_http_victorops_vo_ctx_t *ctx, int64_t now,
    int64_t *wait)
{
    ngx_int_t                          rc;
    ngx_http_victorops_integration_t  *vi;
    ngx_http_victorops_vo_decision_t   d;

    vi = ctx->vi;

    if (ngx_http_victorops_escalation_canon(ctx->pool, &ctx->esc,
                                            &ctx->canon)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_victorops_store_escalation_get(vi, ctx->pool, &ctx->esc.id,
                                                 &ctx->link);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    ctx->linked = (rc == NGX_OK);

    ngx_http_victorops_vo_decide(ctx, 0, NGX_HTTP_VICTOROPS_FACT_UNKNOWN, &d);

    if (d.action == NGX_HTTP_VICTOROPS_VO_SAME) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "victorops integration \"%V\": Rootly incident "
                      "\"%V\" already pages VictorOps incident #%V "
                      "(job %V)", &vi->name, &ctx->esc.id,
                      &ctx->link.incident, &ctx->job.id);

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL,
                                     NULL);
        return NGX_DONE;
    }

    if (d.action == NGX_HTTP_VICTOROPS_VO_GONE) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "victorops integration \"%V\": VictorOps incident "
                      "#%V of Rootly incident \"%V\" is resolved, not "
                      "rerouted (job %V)", &vi->name, &ctx->link.incident,
                      &ctx->esc.id, &ctx->job.id);

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL,
                                     NULL);
        return NGX_DONE;
    }

    if (ngx_http_victorops_peer_token(vi, NGX_HTTP_VICTOROPS_PEER_VO, now, wait)
        != NGX_OK)
    {
        return NGX_BUSY;
    }

    ctx->has_token = 1;
    ctx->step = NGX_HTTP_VICTOROPS_S_TEAMS;

    rc = ngx_http_victorops_vo_next(ctx);

    return (rc == NGX_DONE) ? NGX_DONE : rc;
}


static ngx_int_t
ngx_http_victorops_vo_resolve(ngx_http_victorops_vo_ctx_t *ctx, int64_t now,
    int64_t *wait)
{
    ngx_uint_t                         i;
    ngx_str_t                         *n;
    ngx_array_t                        links;
    ngx_http_victorops_link_t         *link, *l;
    ngx_http_victorops_effects_t      *fx;
    ngx_http_victorops_integration_t  *vi;
    ngx_http_victorops_vo_decision_t   d;

    vi = ctx->vi;

    if (ngx_array_init(&links, ctx->pool, 2,
                       sizeof(ngx_http_victorops_link_t))
        != NGX_OK
        || ngx_http_victorops_store_links_open(vi, ctx->pool, &ctx->esc.id,
                                               &links)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_victorops_vo_decide(ctx, links.nelts,
                                 NGX_HTTP_VICTOROPS_FACT_UNKNOWN, &d);

    if (d.action == NGX_HTTP_VICTOROPS_VO_NOTHING_OPEN) {

        /* none linked, or VictorOps resolved them first: nothing to send */

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "victorops integration \"%V\": Rootly incident "
                      "\"%V\" resolved, no open VictorOps incident linked "
                      "(job %V)", &vi->name, &ctx->esc.id, &ctx->job.id);

        fx = ngx_http_victorops_effects_create(ngx_cycle->log);
        if (fx) {
            l = ngx_array_push(&fx->links);

            if (l) {
                ngx_memzero(l, sizeof(ngx_http_victorops_link_t));
            }

            if (l == NULL
                || ngx_http_victorops_vo_dup(fx->pool, &l->rootly_incident,
                                             &ctx->esc.id)
                   != NGX_OK)
            {
                ngx_destroy_pool(fx->pool);
                return NGX_ERROR;
            }

            l->op = NGX_HTTP_VICTOROPS_LINK_ROOTLY_STATE;
            l->rootly_state = 1;
        }

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL, fx);
        return NGX_DONE;
    }

    link = links.elts;

    for (i = 0; i < links.nelts; i++) {
        n = ngx_array_push(&ctx->numbers);
        if (n == NULL) {
            return NGX_ERROR;
        }

        *n = link[i].incident;
    }

    if (ngx_http_victorops_peer_token(vi, NGX_HTTP_VICTOROPS_PEER_VO, now, wait)
        != NGX_OK)
    {
        return NGX_BUSY;
    }

    ctx->has_token = 1;
    ctx->step = NGX_HTTP_VICTOROPS_S_RESOLVE;

    return ngx_http_victorops_vo_next(ctx);
}


static ngx_int_t
ngx_http_victorops_vo_oncall_start(ngx_http_victorops_vo_ctx_t *ctx,
    int64_t now, int64_t *wait)
{
    ngx_http_victorops_vo_worker_t  *w;

    w = ctx->vi->vo;

    if (w->oncall.len && now - w->oncall_at < NGX_HTTP_VICTOROPS_ONCALL_TTL) {
        return ngx_http_victorops_vo_oncall_send(ctx);
    }

    if (ngx_http_victorops_peer_token(ctx->vi, NGX_HTTP_VICTOROPS_PEER_VO,
                                      now, wait)
        != NGX_OK)
    {
        return NGX_BUSY;
    }

    ctx->has_token = 1;
    ctx->step = NGX_HTTP_VICTOROPS_S_ONCALL;

    return ngx_http_victorops_vo_next(ctx);
}


/*
 * The next call of a job, by its step.  NGX_OK: a call is under way or
 * waits for a token; NGX_DONE: the job finished; NGX_ERROR.
 */

static ngx_int_t
ngx_http_victorops_vo_next(ngx_http_victorops_vo_ctx_t *ctx)
{
    ngx_str_t                         *team, body, *number;
    ngx_uint_t                         pageable;
    ngx_http_victorops_transfer_t     *t;
    ngx_http_victorops_vo_worker_t    *w;
    ngx_http_victorops_integration_t  *vi;
    ngx_http_victorops_vo_decision_t   d;

    vi = ctx->vi;
    w = vi->vo;
    t = NULL;

    switch (ctx->step) {

    case NGX_HTTP_VICTOROPS_S_TEAMS:

        /* the policies of VictorOps teams mapped from Rootly teams */

        team = ctx->esc.teams.elts;

        while (ctx->team < ctx->esc.teams.nelts) {
            if (ngx_http_victorops_policies_get(w->policies,
                                                &team[ctx->team],
                                                ngx_http_victorops_now())
                == NULL)
            {
                t = ngx_http_victorops_policies_request(vi, ctx->pool,
                                                        &team[ctx->team]);
                if (t == NULL) {
                    return NGX_ERROR;
                }

                break;
            }

            ctx->team++;
        }

        if (t) {
            break;
        }

        if (ngx_http_victorops_vo_targets(ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        pageable = ctx->targets.nelts ? NGX_HTTP_VICTOROPS_FACT_YES
                                      : NGX_HTTP_VICTOROPS_FACT_NO;

        ngx_http_victorops_vo_decide(ctx, 0, pageable, &d);

        switch (d.action) {

        case NGX_HTTP_VICTOROPS_VO_NO_TARGET:
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "victorops integration \"%V\": escalation of "
                          "Rootly incident \"%V\" has no VictorOps target "
                          "(job %V)", &vi->name, &ctx->esc.id,
                          &ctx->job.id);

            ngx_http_victorops_vo_dead(ctx, NULL, &d.reason);
            ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RECORDED,
                                         NULL, NULL);
            return NGX_DONE;

        case NGX_HTTP_VICTOROPS_VO_REROUTE:
            ctx->step = NGX_HTTP_VICTOROPS_S_REROUTE;
            break;

        case NGX_HTTP_VICTOROPS_VO_FIND:

            /* an earlier attempt may have created it: look first */

            ctx->step = NGX_HTTP_VICTOROPS_S_FIND;
            break;

        default: /* NGX_HTTP_VICTOROPS_VO_CREATE */
            ctx->step = NGX_HTTP_VICTOROPS_S_CREATE;
            break;
        }

        return ngx_http_victorops_vo_next(ctx);

    case NGX_HTTP_VICTOROPS_S_FIND:

        /* the list is read as it arrives, whatever its length */

        if (ctx->esc.mark.len == 0
            && ngx_http_victorops_vo_mark(ctx->pool, &ctx->job.id,
                                          &ctx->esc.mark)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        ctx->find = ngx_http_victorops_vo_find_create(ctx->pool,
                                                      &ctx->esc.mark);
        if (ctx->find == NULL) {
            return NGX_ERROR;
        }

        t = ngx_http_victorops_vo_transfer(vi, "GET",
                                           "/api-public/v1/incidents", NULL);
        if (t == NULL) {
            return NGX_ERROR;
        }

        t->what = "incident lookup";
        t->sink = ngx_http_victorops_vo_find_sink;
        break;

    case NGX_HTTP_VICTOROPS_S_CREATE:

        /* the mark a later attempt looks for */

        if ((ctx->esc.mark.len == 0
             && ngx_http_victorops_vo_mark(ctx->pool, &ctx->job.id,
                                           &ctx->esc.mark)
                != NGX_OK)
            || ngx_http_victorops_vo_create_body(ctx->pool, &ctx->esc,
                                                 &ctx->targets,
                                                 &vi->api_user, &body)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        t = ngx_http_victorops_vo_transfer(vi, "POST",
                                           "/api-public/v1/incidents", &body);
        if (t == NULL) {
            return NGX_ERROR;
        }

        t->what = "incident creation";
        break;

    case NGX_HTTP_VICTOROPS_S_REROUTE:
        if (ngx_http_victorops_vo_reroute_body(ctx->pool,
                                               &ctx->link.incident,
                                               &ctx->targets, &vi->api_user,
                                               &body)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        t = ngx_http_victorops_vo_transfer(vi, "POST",
                                           "/api-public/v1/incidents/reroute",
                                           &body);
        if (t == NULL) {
            return NGX_ERROR;
        }

        t->what = "incident reroute";
        break;

    case NGX_HTTP_VICTOROPS_S_RESOLVE:
        number = ngx_pnalloc(ctx->pool, sizeof(ngx_str_t));
        if (number == NULL) {
            return NGX_ERROR;
        }

        number->data = ngx_pnalloc(ctx->pool, 512);
        if (number->data == NULL) {
            return NGX_ERROR;
        }

        /* a long title is cut, never inside a UTF-8 character */

        number->len = ngx_http_victorops_utf8_cut(number->data,
                          ngx_snprintf(number->data, 512,
                                       "Resolved in Rootly: %V%s%V",
                                       ctx->esc.title.len ? &ctx->esc.title
                                                          : &ctx->esc.id,
                                       ctx->esc.url.len ? " " : "",
                                       &ctx->esc.url))
                      - number->data;

        if (ngx_http_victorops_vo_resolve_body(ctx->pool, &ctx->numbers,
                                               &vi->api_user, number, &body)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        t = ngx_http_victorops_vo_transfer(vi, "PATCH",
                                           "/api-public/v1/incidents/resolve",
                                           &body);
        if (t == NULL) {
            return NGX_ERROR;
        }

        t->what = "incident resolution";
        break;

    default: /* NGX_HTTP_VICTOROPS_S_ONCALL */
        t = ngx_http_victorops_vo_transfer(vi, "GET",
                                           "/api-public/v1/oncall/current",
                                           NULL);
        if (t == NULL) {
            return NGX_ERROR;
        }

        t->what = "on-call lookup";
        break;
    }

    return ngx_http_victorops_vo_call(ctx, t);
}


/* sends "t" now if a token is ours, else when one is */

static ngx_int_t
ngx_http_victorops_vo_call(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t)
{
    int64_t  now, wait;

    t->handler = ngx_http_victorops_vo_answered;
    t->data = ctx;
    ctx->t = t;

    now = ngx_http_victorops_now();
    wait = 0;

    if (!ctx->has_token) {
        (void) ngx_http_victorops_peer_wait(ctx->vi, NGX_HTTP_VICTOROPS_PEER_VO,
                                            now, &ctx->wait, 0, &wait);
    }

    /*
     * A job making a second call, or waiting for a token, keeps its
     * lease: no other worker takes it meanwhile.
     */

    if (ctx->calls++ || wait) {
        (void) ngx_http_victorops_store_lease(ctx->vi, &ctx->job,
                                              now + wait
                                              + (int64_t) t->timeout
                                              + NGX_HTTP_VICTOROPS_LEASE_MORE);
    }

    if (wait) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "victorops job %V waits %L ms for an api_rate token",
                       &ctx->job.id, wait);

        ctx->calls--;

        /* waiting is not sending: the slot goes to other jobs meanwhile */

        ngx_http_victorops_queue_leave(&ctx->job);

        return NGX_OK;
    }

    ngx_http_victorops_queue_enter(&ctx->job);

    ctx->has_token = 0;

    if (ngx_http_victorops_transfer_start(t) != NGX_OK) {
        ngx_destroy_pool(t->pool);
        ctx->t = NULL;
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, t->log, 0,
                   "victorops job %V: %s: %s", &ctx->job.id, t->what,
                   t->url.data);

    return NGX_OK;
}


/* the incident list of a lookup, as it arrives */

static ngx_int_t
ngx_http_victorops_vo_find_sink(ngx_http_victorops_transfer_t *t,
    u_char *data, size_t len)
{
    ngx_http_victorops_vo_ctx_t  *ctx = t->data;

    return ngx_http_victorops_vo_find_feed(ctx->find, data, len);
}


static void
ngx_http_victorops_vo_wait_handler(ngx_event_t *ev)
{
    ngx_connection_t             *c;
    ngx_http_victorops_vo_ctx_t  *ctx;

    c = ev->data;
    ctx = c->data;

    if (ngx_http_victorops_vo_call(ctx, ctx->t) != NGX_OK) {
        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE, NULL,
                                     NULL);
    }
}


static void
ngx_http_victorops_vo_answered(ngx_http_victorops_transfer_t *t)
{
    int64_t                            now, until;
    ngx_int_t                          rc;
    ngx_str_t                          number, entity, reason, slug;
    ngx_array_t                        done;
    ngx_http_victorops_json_t         *root;
    ngx_http_victorops_vo_ctx_t       *ctx;
    ngx_http_victorops_vo_worker_t    *w;
    ngx_http_victorops_integration_t  *vi;

    ctx = t->data;
    ctx->t = NULL;
    vi = ctx->vi;
    w = vi->vo;
    now = ngx_http_victorops_now();

    if (t->code == CURLE_ABORTED_BY_CALLBACK) {

        /* the worker exits: a create may have gone out, so it counts */

        ngx_log_error(NGX_LOG_INFO, t->log, 0,
                      "victorops integration \"%V\": job %V released: %s",
                      &vi->name, &ctx->job.id, t->error);

        ngx_http_victorops_vo_finish(ctx,
                                     ctx->step == NGX_HTTP_VICTOROPS_S_CREATE
                                     ? NGX_HTTP_VICTOROPS_RETRY
                                     : NGX_HTTP_VICTOROPS_RELEASE,
                                     NULL, NULL);
        return;
    }

    until = now;
    rc = ngx_http_victorops_vo_answer(vi, t, now, &until);

    if (rc == NGX_ERROR && t->status == 404
        && ctx->step == NGX_HTTP_VICTOROPS_S_TEAMS)
    {
        slug = ((ngx_str_t *) ctx->esc.teams.elts)[ctx->team];

        if (ctx->job.kind == NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE) {

            /* not a team: an escalation policy, then */

            ngx_str_set(&entity, "EscalationPolicy");

            if (ngx_http_victorops_target_add(&ctx->targets, &entity, &slug)
                != NGX_OK)
            {
                goto failed;
            }

        } else {
            ngx_log_error(NGX_LOG_WARN, t->log, 0,
                          "victorops integration \"%V\": VictorOps team "
                          "\"%V\" (victor_ops_id of a Rootly team) not "
                          "found, not paged (job %V)", &vi->name, &slug,
                          &ctx->job.id);
        }

        ctx->team++;

        if (ngx_http_victorops_vo_next(ctx) == NGX_ERROR) {
            goto failed;
        }

        return;
    }

    if (rc != NGX_OK) {
        ngx_http_victorops_vo_failed(ctx, t, rc, until);
        return;
    }

    switch (ctx->step) {

    case NGX_HTTP_VICTOROPS_S_TEAMS:
        slug = ((ngx_str_t *) ctx->esc.teams.elts)[ctx->team];

        if (ngx_http_victorops_policies_store(w->policies, &slug,
                                              &t->response, now)
            != NGX_OK)
        {
            goto failed;
        }

        ctx->team++;

        if (ngx_http_victorops_vo_next(ctx) == NGX_ERROR) {
            ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE,
                                         NULL, NULL);
        }

        return;

    case NGX_HTTP_VICTOROPS_S_FIND:
        ngx_http_victorops_vo_found(ctx, t);
        return;

    case NGX_HTTP_VICTOROPS_S_CREATE:
        if (ngx_http_victorops_vo_created(t->pool, &t->response, &number,
                                          &entity, &reason)
            != NGX_OK)
        {
            if (t->truncated
                || ngx_http_victorops_json_parse(t->pool, &t->response,
                                                 NGX_HTTP_VICTOROPS_MAX_DEPTH,
                                                 &root)
                   != NGX_OK)
            {
                /* VictorOps may have created it: the next attempt looks */

                ngx_str_set(&reason, "unreadable answer");
                ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_VO_FAILED);
                ngx_http_victorops_vo_retry(ctx, t, now, &reason);
                ngx_http_victorops_vo_finish(ctx,
                                             NGX_HTTP_VICTOROPS_RECORDED,
                                             NULL, NULL);
                break;
            }

            ngx_http_victorops_vo_dead(ctx, t, &reason);
            ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RECORDED,
                                         NULL, NULL);
            break;
        }

        ngx_http_victorops_vo_created_ok(ctx, &number, &entity, "created");
        break;

    case NGX_HTTP_VICTOROPS_S_REROUTE:
        if (ngx_http_victorops_vo_rerouted(t->pool, &t->response, &reason)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_WARN, t->log, 0,
                          "victorops integration \"%V\": VictorOps "
                          "incident #%V not rerouted: \"%V\" (job %V)",
                          &vi->name, &ctx->link.incident, &reason,
                          &ctx->job.id);

            ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL,
                                         NULL);
            break;
        }

        ngx_http_victorops_vo_rerouted_ok(ctx);
        break;

    case NGX_HTTP_VICTOROPS_S_RESOLVE:
        if (ngx_array_init(&done, ctx->pool, 2, sizeof(ngx_str_t))
            != NGX_OK)
        {
            goto failed;
        }

        rc = ngx_http_victorops_vo_resolved(ctx->pool, &t->response, &done,
                                            &reason);

        ngx_http_victorops_vo_resolved_ok(ctx, &done,
                                          rc == NGX_OK ? NULL : &reason);
        break;

    default: /* NGX_HTTP_VICTOROPS_S_ONCALL */
        if (w->oncall_pool) {
            ngx_destroy_pool(w->oncall_pool);
            ngx_str_null(&w->oncall);
        }

        w->oncall_pool = ngx_create_pool(t->response.len + 128,
                                         ngx_cycle->log);

        if (w->oncall_pool) {
            w->oncall.data = ngx_pstrdup(w->oncall_pool, &t->response);
            w->oncall.len = w->oncall.data ? t->response.len : 0;
            w->oncall_at = now;
        }

        switch (ngx_http_victorops_vo_oncall_send(ctx)) {

        case NGX_OK:
            return;     /* the Rootly send owns the job now */

        case NGX_DONE:
            return;

        default:
            ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE,
                                         NULL, NULL);
            return;
        }
    }

    return;

failed:

    ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE, NULL, NULL);
}


/*
 * The answer of a lookup (2xx): the incident with the job's mark was
 * created by an earlier attempt; none: create it; a list that could
 * not be read to its end: look again later, never create on it.
 */

static void
ngx_http_victorops_vo_found(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t)
{
    ngx_str_t  number, entity, why, reason;

    switch (ngx_http_victorops_vo_find_result(ctx->find, &number, &entity,
                                              &why))
    {
    case NGX_OK:
        ngx_http_victorops_vo_created_ok(ctx, &number, &entity,
                                         "found, created by an earlier "
                                         "attempt");
        return;

    case NGX_DECLINED:
        ctx->step = NGX_HTTP_VICTOROPS_S_CREATE;

        if (ngx_http_victorops_vo_next(ctx) == NGX_ERROR) {
            ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE,
                                         NULL, NULL);
        }

        return;

    default: /* NGX_AGAIN */
        break;
    }

    reason.data = ngx_pnalloc(t->pool, why.len + 32);

    if (reason.data == NULL) {
        ngx_str_set(&reason, "incomplete incident list");

    } else {
        reason.len = ngx_sprintf(reason.data, "incomplete incident list: %V",
                                 &why)
                     - reason.data;
    }

    ngx_http_victorops_count(ctx->vi, NGX_HTTP_VICTOROPS_C_VO_FAILED);
    ngx_http_victorops_vo_retry(ctx, t, ngx_http_victorops_now(), &reason);
    ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RECORDED, NULL,
                                 NULL);
}


static void
ngx_http_victorops_vo_failed(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, ngx_int_t rc, int64_t until)
{
    int64_t    now;
    ngx_str_t  reason;

    now = ngx_http_victorops_now();

    if (t->code != CURLE_OK) {
        reason.data = (u_char *) (t->error[0] ? t->error
                                              : curl_easy_strerror(t->code));
        reason.len = ngx_strlen(reason.data);

    } else {
        (void) ngx_http_victorops_vo_error(t->pool, &t->response, &reason);
    }

    ngx_http_victorops_count(ctx->vi, NGX_HTTP_VICTOROPS_C_VO_FAILED);

    switch (rc) {

    case NGX_BUSY:
        ctx->job.created = until;   /* reused as "release until" */
        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE, NULL,
                                     NULL);
        break;

    case NGX_ERROR:
        ngx_http_victorops_vo_dead(ctx, t, &reason);
        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RECORDED,
                                     NULL, NULL);
        break;

    default: /* NGX_AGAIN, NGX_DECLINED */
        ngx_http_victorops_vo_retry(ctx, t, now, &reason);
        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RECORDED,
                                     NULL, NULL);
        break;
    }
}


/*
 * Another attempt later; but a Slack page gives up (max_age, or its
 * response_url about to expire) while Slack can still be told.
 */

static void
ngx_http_victorops_vo_retry(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now, ngx_str_t *reason)
{
    if (ctx->job.kind == NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE
        && (now - ctx->job.created >= (int64_t) ctx->vi->max_age
            || now / 1000 >= ngx_http_victorops_vo_reply_until(ctx)
                             - NGX_HTTP_VICTOROPS_SLACK_GIVE_UP))
    {
        ctx->gave_up = 1;
        ngx_http_victorops_vo_dead(ctx, t, reason);
        return;
    }

    ngx_http_victorops_job_retry(&ctx->job, t, now, reason);
}


/* when the Slack command's response_url expires */

static time_t
ngx_http_victorops_vo_reply_until(ngx_http_victorops_vo_ctx_t *ctx)
{
    return ngx_http_victorops_slack_reply_until(&ctx->esc, &ctx->job);
}


static void
ngx_http_victorops_vo_created_ok(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_str_t *number, ngx_str_t *entity, const char *how)
{
    u_char                            *p;
    ngx_str_t                          text, targets;
    ngx_http_victorops_link_t         *link;
    ngx_http_victorops_effects_t      *fx;
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->vi;

    (void) ngx_http_victorops_targets_text(ctx->pool, &ctx->targets,
                                           &targets);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "victorops integration \"%V\": paged VictorOps %V for "
                  "Rootly incident \"%V\": incident #%V %s (job %V)",
                  &vi->name, &targets, &ctx->esc.id, number, how,
                  &ctx->job.id);

    fx = ngx_http_victorops_effects_create(ngx_cycle->log);
    if (fx == NULL) {
        goto failed;
    }

    if (ctx->job.kind == NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE) {

        /* the outcome goes back to Slack; there is no Rootly incident */

        ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_SLACK_PAGED);

        text.data = ngx_pnalloc(ctx->pool, targets.len + number->len
                                           + ctx->esc.summary.len + 64);
        if (text.data == NULL) {
            goto failed;
        }

        text.len = ngx_sprintf(text.data,
                               "Paged VictorOps %V: incident #%V (%V)",
                               &targets, number, &ctx->esc.summary)
                   - text.data;

        if (ngx_http_victorops_vo_reply_job(fx, ctx, "in_channel", &text)
            != NGX_OK)
        {
            goto failed;
        }

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL, fx);
        return;
    }

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_ESCALATED);

    link = ngx_array_push(&fx->links);
    if (link == NULL) {
        goto failed;
    }

    ngx_memzero(link, sizeof(ngx_http_victorops_link_t));

    link->op = NGX_HTTP_VICTOROPS_LINK_ESCALATION;

    if (ngx_http_victorops_vo_dup(fx->pool, &link->incident, number)
        != NGX_OK
        || ngx_http_victorops_vo_dup(fx->pool, &link->entity, entity)
           != NGX_OK
        || ngx_http_victorops_vo_dup(fx->pool, &link->rootly_incident,
                                     &ctx->esc.id)
           != NGX_OK
        || ngx_http_victorops_vo_dup(fx->pool, &link->targets, &ctx->canon)
           != NGX_OK)
    {
        goto failed;
    }

    /* the key inbound webhooks use: the entity id, else "#number" */

    if (entity->len) {
        link->key = link->entity;

    } else {
        p = ngx_pnalloc(fx->pool, number->len + 1);
        if (p == NULL) {
            goto failed;
        }

        link->key.data = p;
        link->key.len = ngx_sprintf(p, "#%V", number) - p;
    }

    text.data = ngx_pnalloc(ctx->pool, targets.len + number->len + 64);
    if (text.data == NULL) {
        goto failed;
    }

    text.len = ngx_sprintf(text.data, "Paged VictorOps %V: incident #%V",
                           &targets, number)
               - text.data;

    ngx_http_victorops_vo_paged(ctx, fx, &text);
    return;

failed:

    ngx_http_victorops_vo_paged(ctx, fx, NULL);
}


/*
 * After a page or a reroute: the timeline event "text" and who is on
 * call, written with the outcome.  Without them ("text" NULL: an error)
 * the attempt counts, and the next one looks before it creates.
 */

static void
ngx_http_victorops_vo_paged(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_effects_t *fx, ngx_str_t *text)
{
    if (fx == NULL
        || text == NULL
        || ngx_http_victorops_vo_note(fx, ctx, text) != NGX_OK
        || (ctx->vi->oncall_responders
            && ngx_http_victorops_effects_job(fx, &ctx->job,
                                              NGX_HTTP_VICTOROPS_JOB_ONCALL,
                                              &ctx->job.body)
               == NULL))
    {
        if (fx) {
            ngx_destroy_pool(fx->pool);
        }

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RETRY, NULL,
                                     NULL);
        return;
    }

    ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL, fx);
}


static void
ngx_http_victorops_vo_rerouted_ok(ngx_http_victorops_vo_ctx_t *ctx)
{
    ngx_str_t                          text, targets;
    ngx_http_victorops_link_t         *link;
    ngx_http_victorops_effects_t      *fx;
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->vi;

    (void) ngx_http_victorops_targets_text(ctx->pool, &ctx->targets,
                                           &targets);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "victorops integration \"%V\": rerouted VictorOps "
                  "incident #%V of Rootly incident \"%V\" to %V (job %V)",
                  &vi->name, &ctx->link.incident, &ctx->esc.id, &targets,
                  &ctx->job.id);

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_REROUTED);

    fx = ngx_http_victorops_effects_create(ngx_cycle->log);
    if (fx == NULL) {
        goto failed;
    }

    link = ngx_array_push(&fx->links);
    if (link == NULL) {
        goto failed;
    }

    ngx_memzero(link, sizeof(ngx_http_victorops_link_t));

    link->op = NGX_HTTP_VICTOROPS_LINK_TARGETS;

    if (ngx_http_victorops_vo_dup(fx->pool, &link->key, &ctx->link.key)
        != NGX_OK
        || ngx_http_victorops_vo_dup(fx->pool, &link->targets, &ctx->canon)
           != NGX_OK)
    {
        goto failed;
    }

    text.data = ngx_pnalloc(ctx->pool,
                            targets.len + ctx->link.incident.len + 64);
    if (text.data == NULL) {
        goto failed;
    }

    text.len = ngx_sprintf(text.data,
                           "Rerouted VictorOps incident #%V to %V",
                           &ctx->link.incident, &targets)
               - text.data;

    ngx_http_victorops_vo_paged(ctx, fx, &text);
    return;

failed:

    ngx_http_victorops_vo_paged(ctx, fx, NULL);
}


static void
ngx_http_victorops_vo_resolved_ok(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_array_t *done, ngx_str_t *reason)
{
    u_char                            *p, *last;
    ngx_str_t                         *n, text;
    ngx_uint_t                         i;
    ngx_http_victorops_link_t         *link;
    ngx_http_victorops_effects_t      *fx;
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->vi;

    if (reason) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "victorops integration \"%V\": VictorOps did not "
                      "resolve every incident of Rootly incident \"%V\": "
                      "\"%V\" (job %V)", &vi->name, &ctx->esc.id, reason,
                      &ctx->job.id);
    }

    fx = ngx_http_victorops_effects_create(ngx_cycle->log);
    if (fx == NULL) {
        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE, NULL,
                                     NULL);
        return;
    }

    text.data = ngx_pnalloc(fx->pool, 1024);
    if (text.data == NULL) {
        goto failed;
    }

    p = text.data;
    last = p + 1024;
    p = ngx_slprintf(p, last, "Resolved VictorOps incident%s",
                     done->nelts == 1 ? "" : "s");

    n = done->elts;

    for (i = 0; i < done->nelts; i++) {
        p = ngx_slprintf(p, last, "%s #%V", i ? "," : "", &n[i]);

        link = ngx_array_push(&fx->links);
        if (link == NULL) {
            goto failed;
        }

        ngx_memzero(link, sizeof(ngx_http_victorops_link_t));

        link->op = NGX_HTTP_VICTOROPS_LINK_VO_STATE;

        if (ngx_http_victorops_vo_dup(fx->pool, &link->incident, &n[i])
            != NGX_OK)
        {
            goto failed;
        }
        link->vo_state = NGX_HTTP_VICTOROPS_VO_RESOLVED;

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "victorops integration \"%V\": resolved VictorOps "
                      "incident #%V of Rootly incident \"%V\" (job %V)",
                      &vi->name, &n[i], &ctx->esc.id, &ctx->job.id);

        ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_VO_RESOLVED);
    }

    text.len = ngx_http_victorops_utf8_cut(text.data, p) - text.data;

    if (done->nelts == 0 && reason) {

        /* nothing resolved: reconciliation looks at it again */

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL, fx);
        return;
    }

    link = ngx_array_push(&fx->links);
    if (link == NULL) {
        goto failed;
    }

    ngx_memzero(link, sizeof(ngx_http_victorops_link_t));

    link->op = NGX_HTTP_VICTOROPS_LINK_ROOTLY_STATE;

    if (ngx_http_victorops_vo_dup(fx->pool, &link->rootly_incident,
                                  &ctx->esc.id)
        != NGX_OK)
    {
        goto failed;
    }
    link->rootly_state = 1;

    if (done->nelts && ngx_http_victorops_vo_note(fx, ctx, &text) != NGX_OK) {
        goto failed;
    }

    ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL, fx);
    return;

failed:

    ngx_destroy_pool(fx->pool);
    ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE, NULL, NULL);
}


/*
 * Who is on call for the teams paged, as a Rootly timeline event: the
 * job goes on as a NOTE job through the Rootly sender.  NGX_OK: sent
 * (the Rootly outcome finishes the job); NGX_DONE: nobody on call.
 */

static ngx_int_t
ngx_http_victorops_vo_oncall_send(ngx_http_victorops_vo_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_str_t                        text;
    ngx_http_victorops_job_t         note;
    ngx_http_victorops_vo_worker_t  *w;

    w = ctx->vi->vo;

    rc = ngx_http_victorops_vo_oncall(ctx->pool, &w->oncall,
                                      &ctx->esc.targets, &ctx->esc.teams,
                                      &text);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "victorops integration \"%V\": nobody on call in "
                      "VictorOps for Rootly incident \"%V\" (job %V)",
                      &ctx->vi->name, &ctx->esc.id, &ctx->job.id);

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL,
                                     NULL);
        return NGX_DONE;
    }

    ngx_http_victorops_count(ctx->vi, NGX_HTTP_VICTOROPS_C_ONCALL);

    note = ctx->job;
    note.kind = NGX_HTTP_VICTOROPS_JOB_NOTE;
    note.incident = ctx->esc.id;
    note.body = text;

    if (ngx_http_victorops_rootly_start(&note) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the job is the Rootly sender's now, in flight as before */

    if (ctx->wait.timer_set) {
        ngx_del_timer(&ctx->wait);
    }

    ngx_destroy_pool(ctx->pool);

    return NGX_OK;
}


/*
 * Given up: dead-lettered, and for a Slack page the error goes back to
 * Slack, in the same transaction.
 */

static void
ngx_http_victorops_vo_dead(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, ngx_str_t *reason)
{
    int64_t                        now;
    ngx_str_t                      text;
    ngx_uint_t                     status;
    ngx_http_victorops_effects_t  *fx;

    now = ngx_http_victorops_now();

    if (ctx->job.kind != NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE) {
        if (t) {
            ngx_http_victorops_job_dead(&ctx->job, t, now, reason);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "victorops integration \"%V\": job %V dead-lettered: "
                      "%V", &ctx->vi->name, &ctx->job.id, reason);

        ngx_http_victorops_count(ctx->vi, NGX_HTTP_VICTOROPS_C_DEAD);
        ngx_http_victorops_job_outcome(&ctx->job, NGX_HTTP_VICTOROPS_DEAD,
                                       now, 0, reason, NULL);
        return;
    }

    status = (t && t->code == CURLE_OK) ? (ngx_uint_t) t->status : 0;

    if (ctx->gave_up) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "victorops integration \"%V\": slack page of \"%V\" "
                      "(job %V) dead-lettered after %ui attempt%s, still "
                      "failing: \"%V\"", &ctx->vi->name, &ctx->job.incident,
                      &ctx->job.id, ctx->job.attempts,
                      ctx->job.attempts == 1 ? "" : "s", reason);

    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "victorops integration \"%V\": slack page of \"%V\" "
                      "(job %V) failed: victorops answered %ui: \"%V\"",
                      &ctx->vi->name, &ctx->job.incident, &ctx->job.id,
                      status, reason);
    }

    ngx_http_victorops_count(ctx->vi, NGX_HTTP_VICTOROPS_C_DEAD);

    fx = ngx_http_victorops_effects_create(ngx_cycle->log);

    text.data = ngx_pnalloc(ctx->pool, reason->len + ctx->job.incident.len
                                       + NGX_INT_T_LEN + 96);

    if (fx && text.data) {
        text.len = (ctx->gave_up
                    ? ngx_sprintf(text.data,
                                  "Could not page %V in VictorOps, gave up "
                                  "after %ui attempt%s: %V",
                                  &ctx->job.incident, ctx->job.attempts,
                                  ctx->job.attempts == 1 ? "" : "s", reason)
                    : ngx_sprintf(text.data,
                                  "Could not page %V in VictorOps: %V",
                                  &ctx->job.incident, reason))
                   - text.data;

        if (ngx_http_victorops_vo_reply_job(fx, ctx, "ephemeral", &text)
            != NGX_OK)
        {
            ngx_destroy_pool(fx->pool);
            fx = NULL;
        }
    }

    ngx_http_victorops_job_outcome(&ctx->job, NGX_HTTP_VICTOROPS_DEAD, now,
                                   status, reason, fx);
}


/* a job posting "text" to the Slack command's response_url */

static ngx_int_t
ngx_http_victorops_vo_reply_job(ngx_http_victorops_effects_t *fx,
    ngx_http_victorops_vo_ctx_t *ctx, const char *type, ngx_str_t *text)
{
    ngx_str_t                         body;
    ngx_http_victorops_escalation_t   esc;

    if (ngx_http_victorops_escalation_init(ctx->pool, &esc) != NGX_OK) {
        return NGX_ERROR;
    }

    esc.id = ctx->esc.id;
    esc.summary = *text;
    esc.details.data = (u_char *) type;
    esc.details.len = ngx_strlen(type);
    esc.reply_url = ctx->esc.reply_url;
    esc.reply_until = ngx_http_victorops_vo_reply_until(ctx);

    if (ngx_http_victorops_escalation_body(ctx->pool, &esc, &body) != NGX_OK
        || ngx_http_victorops_effects_job(fx, &ctx->job,
                                          NGX_HTTP_VICTOROPS_JOB_SLACK_REPLY,
                                          &body)
           == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a timeline event for the Rootly incident, after this job */

static ngx_int_t
ngx_http_victorops_vo_note(ngx_http_victorops_effects_t *fx,
    ngx_http_victorops_vo_ctx_t *ctx, ngx_str_t *text)
{
    ngx_http_victorops_job_t  *job, from;

    from = ctx->job;
    from.incident = ctx->esc.id;

    job = ngx_http_victorops_effects_job(fx, &from,
                                         NGX_HTTP_VICTOROPS_JOB_NOTE, text);

    return job ? NGX_OK : NGX_ERROR;
}


/* explicit targets and the (cached) policies of mapped VictorOps teams */

static ngx_int_t
ngx_http_victorops_vo_targets(ngx_http_victorops_vo_ctx_t *ctx)
{
    ngx_uint_t                       i;
    ngx_http_victorops_target_t     *t;
    ngx_http_victorops_vo_worker_t  *w;

    w = ctx->vi->vo;
    t = ctx->esc.targets.elts;

    for (i = 0; i < ctx->esc.targets.nelts; i++) {
        if (ngx_http_victorops_target_add(&ctx->targets, &t[i].type,
                                          &t[i].slug)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_victorops_policies_targets(w->policies, ctx->pool,
                                               &ctx->esc.teams,
                                               &ctx->targets);
}


static ngx_int_t
ngx_http_victorops_vo_dup(ngx_pool_t *pool, ngx_str_t *dst, ngx_str_t *src)
{
    dst->data = ngx_pnalloc(pool, src->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src->data, src->len);
    dst->len = src->len;

    return NGX_OK;
}


/*
 * The end of a job's run: its outcome (NGX_HTTP_VICTOROPS_RECORDED:
 * recorded already by job_retry() or job_dead()), the queue kicked.
 */

static void
ngx_http_victorops_vo_finish(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_uint_t op, ngx_str_t *error, ngx_http_victorops_effects_t *fx)
{
    int64_t                            at;
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->vi;

    if (ctx->wait.timer_set) {
        ngx_del_timer(&ctx->wait);
    }

    at = ngx_http_victorops_now();

    if (op == NGX_HTTP_VICTOROPS_RELEASE && ctx->job.created > at) {
        at = ctx->job.created;
    }

    ngx_http_victorops_job_outcome(&ctx->job, op, at, 0, error, fx);

    if (ctx->t) {
        ngx_destroy_pool(ctx->t->pool);
    }

    ngx_http_victorops_queue_kick(vi);

    ngx_destroy_pool(ctx->pool);
}
