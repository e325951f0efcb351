
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
 * never creates while that list could not be read to its end.
 *
 * A job is a machine of steps, one call each (the table below): a step
 * makes its request and takes its answer.  Here is the machine:
 * starting a job, its calls (a token each, the lease kept), the
 * answers that are not 2xx, and what becomes of the job (retried,
 * released, dead-lettered, a Slack page's failure told to Slack).  The
 * steps are those of a page (ngx_http_victorops_vo_page.c: the teams'
 * policies, the lookup, create, reroute), of a resolve (..._vo_resolve.c)
 * and of the on-call hand-off (..._vo_oncall.c); the job context they
 * share is ..._vo_ctx.h.  The requests and what answers mean:
 * ..._vo_client.c; the bodies and the reading of answers: ..._vo_api.c;
 * the policies of the VictorOps teams paged: ..._policies.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_vo_ctx.h"


#define NGX_HTTP_VICTOROPS_LEASE_MORE    5000

/* a Slack page still failing this long before its response_url expires */
#define NGX_HTTP_VICTOROPS_SLACK_GIVE_UP 300


/*
 * A step: "request" makes its call (NGX_OK, the call in "t"; NGX_DECLINED:
 * none, the job moved on to another step; NGX_DONE: the job finished;
 * NGX_ERROR), "answered" takes a 2xx answer to it.
 */

typedef ngx_int_t (*ngx_http_victorops_vo_request_pt)(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_http_victorops_transfer_t **t);
typedef void (*ngx_http_victorops_vo_answered_pt)(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_http_victorops_transfer_t *t,
    int64_t now);

typedef struct {
    ngx_http_victorops_vo_request_pt    request;
    ngx_http_victorops_vo_answered_pt   answered;
} ngx_http_victorops_vo_step_t;


/* a lease extended: an EXEC nobody waits for */

typedef struct {
    ngx_http_victorops_store_call_t   call;
    ngx_http_victorops_job_t          job;        /* its seq and id */
    int64_t                           until;
} ngx_http_victorops_vo_lease_t;


static ngx_http_victorops_vo_ctx_t *ngx_http_victorops_vo_ctx(
    ngx_http_victorops_job_t *job, ngx_str_t *reason);
static ngx_int_t ngx_http_victorops_vo_next(ngx_http_victorops_vo_ctx_t *ctx);
static ngx_int_t ngx_http_victorops_vo_call(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_vo_lease(ngx_http_victorops_vo_ctx_t *ctx,
    int64_t until);
static ngx_int_t ngx_http_victorops_vo_lease_exec(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_vo_lease_done(
    ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_vo_wait_handler(ngx_event_t *ev);
static void ngx_http_victorops_vo_answered(ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_vo_failed(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, ngx_int_t rc, int64_t until);
static time_t ngx_http_victorops_vo_reply_until(
    ngx_http_victorops_vo_ctx_t *ctx);


/* by step, NGX_HTTP_VICTOROPS_S_* (ngx_http_victorops_vo_ctx.h) */

static ngx_http_victorops_vo_step_t  ngx_http_victorops_vo_steps[] = {

    /* NGX_HTTP_VICTOROPS_S_TEAMS (vo_page.c) */
    { ngx_http_victorops_vo_teams_request,
      ngx_http_victorops_vo_teams_answered },

    /* NGX_HTTP_VICTOROPS_S_FIND (vo_page.c) */
    { ngx_http_victorops_vo_find_request,
      ngx_http_victorops_vo_find_answered },

    /* NGX_HTTP_VICTOROPS_S_CREATE (vo_page.c) */
    { ngx_http_victorops_vo_create_request,
      ngx_http_victorops_vo_create_answered },

    /* NGX_HTTP_VICTOROPS_S_REROUTE (vo_page.c) */
    { ngx_http_victorops_vo_reroute_request,
      ngx_http_victorops_vo_reroute_answered },

    /* NGX_HTTP_VICTOROPS_S_RESOLVE (vo_resolve.c) */
    { ngx_http_victorops_vo_resolve_request,
      ngx_http_victorops_vo_resolve_answered },

    /* NGX_HTTP_VICTOROPS_S_ONCALL (vo_oncall.c) */
    { ngx_http_victorops_vo_oncall_request,
      ngx_http_victorops_vo_oncall_answered }
};


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

        rc = ngx_http_victorops_vo_begin(ctx, NGX_HTTP_VICTOROPS_S_TEAMS, now,
                                         wait);
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

void
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


/*
 * A job's first call, from "step", once a token of api_rate is its
 * own, or is asked for it (BUDGET_SOON: the call waits for it): else
 * NGX_BUSY (again after "wait", from the queue), or as vo_next().
 */

ngx_int_t
ngx_http_victorops_vo_begin(ngx_http_victorops_vo_ctx_t *ctx, ngx_uint_t step,
    int64_t now, int64_t *wait)
{
    if (ngx_http_victorops_peer_token(ctx->vi, NGX_HTTP_VICTOROPS_PEER_VO,
                                      now, wait)
        == NGX_OK)
    {
        ctx->has_token = 1;

    } else if (*wait <= NGX_HTTP_VICTOROPS_BUDGET_SOON) {
        ctx->token_wait = ngx_max(*wait, 1);

    } else {
        return NGX_BUSY;
    }

    ctx->step = step;

    return ngx_http_victorops_vo_next(ctx);
}


/*
 * The next call of a job, its step's (a step with none to make moves
 * the job on).  NGX_OK: a call is under way or waits for a token;
 * NGX_DONE: the job finished; NGX_ERROR.
 */

static ngx_int_t
ngx_http_victorops_vo_next(ngx_http_victorops_vo_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_http_victorops_transfer_t  *t;

    do {
        t = NULL;
        rc = ngx_http_victorops_vo_steps[ctx->step].request(ctx, &t);
    } while (rc == NGX_DECLINED);

    if (rc == NGX_AGAIN) {
        return NGX_OK;      /* the step waits for the store: vo_go_on() */
    }

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_victorops_vo_call(ctx, t);
}


/* sends "t" now if a token is ours, else when one is */

static ngx_int_t
ngx_http_victorops_vo_call(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t)
{
    int64_t  now, wait, until;

    t->handler = ngx_http_victorops_vo_answered;
    t->data = ctx;
    ctx->t = t;

    now = ngx_http_victorops_now();
    wait = 0;

    if (ctx->token_wait) {

        /* the token vo_begin() asked for: no sooner */

        wait = ctx->token_wait;
        ctx->token_wait = 0;
        ngx_add_timer(&ctx->wait, (ngx_msec_t) wait);

    } else if (!ctx->has_token) {
        (void) ngx_http_victorops_peer_wait(ctx->vi, NGX_HTTP_VICTOROPS_PEER_VO,
                                            now, &ctx->wait, 0, &wait);
    }

    /*
     * A job making a second call, or waiting for a token, keeps its
     * lease: no other worker takes it meanwhile.  It is extended when
     * what it covers runs short, not at each try.
     */

    until = now + wait + (int64_t) t->timeout;

    if ((ctx->calls++ || wait)
        && until + NGX_HTTP_VICTOROPS_LEASE_MORE / 2 > ctx->lease_until)
    {
        ctx->lease_until = until + NGX_HTTP_VICTOROPS_LEASE_MORE;
        ngx_http_victorops_vo_lease(ctx, ctx->lease_until);
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


/* the job's lease on PostgreSQL, while the claim's token holds it */

static const char  ngx_http_victorops_vo_lease_sql[] =
    "UPDATE jobs SET lease_until = victorops_now_ms() + $4::bigint"
    " WHERE integration = $1 AND seq = $2::bigint AND state = 1"
    " AND lease_token = $3::bigint";


/* the job's lease, extended by the store's writer (best effort) */

static void
ngx_http_victorops_vo_lease(ngx_http_victorops_vo_ctx_t *ctx, int64_t until)
{
    ngx_http_victorops_vo_lease_t  *l;

    l = ngx_http_victorops_store_call(ctx->vi,
                                      sizeof(ngx_http_victorops_vo_lease_t),
                                      ngx_http_victorops_vo_lease_exec,
                                      ngx_http_victorops_vo_lease_done);
    if (l == NULL) {
        return;
    }

    l->job.seq = ctx->job.seq;
    l->job.id.len = ctx->job.id.len;
    l->job.id.data = ngx_pstrdup(l->call.pool, &ctx->job.id);
    l->until = until;

    if (l->job.id.data == NULL
        || ngx_http_victorops_store_call_sql(l,
                                             ngx_http_victorops_vo_lease_sql,
                                             NULL)
           != NGX_OK
        || ngx_http_victorops_store_call_int(l, ctx->job.seq) != NGX_OK
        || ngx_http_victorops_store_call_int(l, ctx->job.token) != NGX_OK
        || ngx_http_victorops_store_call_int(l, until
                                                - ngx_http_victorops_now())
           != NGX_OK)
    {
        ngx_destroy_pool(l->call.pool);
        return;
    }

    (void) ngx_http_victorops_store_call_post(NULL, l);
}


static ngx_int_t
ngx_http_victorops_vo_lease_exec(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_vo_lease_t  *l = op->data;

    return ngx_http_victorops_store_lease(wvi, &l->job, l->until);
}


static void
ngx_http_victorops_vo_lease_done(ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_vo_lease_t  *l = op->data;

    if (op->rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "victorops integration \"%V\": the lease of job %V "
                      "could not be extended", &op->integration->name,
                      &l->job.id);
    }
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
    ngx_http_victorops_vo_ctx_t       *ctx;
    ngx_http_victorops_integration_t  *vi;

    ctx = t->data;
    ctx->t = NULL;
    vi = ctx->vi;
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
        ngx_http_victorops_vo_no_team(ctx, t);
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_victorops_vo_failed(ctx, t, rc, until);
        return;
    }

    ngx_http_victorops_vo_steps[ctx->step].answered(ctx, t, now);
}


/*
 * A job going on after a store answer (vo_store.c) with what its start
 * returned: under way or finished, else released (NGX_BUSY: no api_rate
 * token, for "wait" ms).
 */

void
ngx_http_victorops_vo_resume(ngx_http_victorops_vo_ctx_t *ctx, ngx_int_t rc,
    int64_t wait)
{
    if (rc == NGX_OK || rc == NGX_DONE) {
        return;
    }

    if (rc == NGX_BUSY) {
        ctx->job.created = ngx_http_victorops_now() + wait;
    }

    ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE, NULL, NULL);
}


/* the job's next call; failing that, the job is released */

void
ngx_http_victorops_vo_go_on(ngx_http_victorops_vo_ctx_t *ctx)
{
    if (ngx_http_victorops_vo_next(ctx) == NGX_ERROR) {
        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE, NULL,
                                     NULL);
    }
}


static void
ngx_http_victorops_vo_failed(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, ngx_int_t rc, int64_t until)
{
    int64_t    now;
    ngx_str_t  reason;

    now = ngx_http_victorops_now();

    if (ngx_http_victorops_transfer_error(t, &reason) == NGX_OK) {
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

void
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


/*
 * Given up: dead-lettered, and for a Slack page the error goes back to
 * Slack, in the same transaction.
 */

void
ngx_http_victorops_vo_dead(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, ngx_str_t *reason)
{
    int64_t                        now;
    ngx_str_t                      text;
    ngx_uint_t                     status;
    ngx_http_victorops_effects_t  *fx;

    now = ngx_http_victorops_now();

    if (ctx->job.kind != NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE) {
        ngx_http_victorops_job_dead(&ctx->job, t, now, reason);
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

ngx_int_t
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

ngx_int_t
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


ngx_int_t
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

void
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
