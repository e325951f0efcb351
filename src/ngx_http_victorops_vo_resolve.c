
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The resolve path of the VictorOps sender (vo.c): a Rootly incident
 * resolved in Rootly resolves the open VictorOps incidents linked to
 * it, in one call; what VictorOps resolved is marked in the links, with
 * a timeline event, and the links of the Rootly incident are marked
 * resolved there, so that reconciliation leaves them.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_vo_ctx.h"


static void ngx_http_victorops_vo_open(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_int_t rc);
static ngx_int_t ngx_http_victorops_vo_resolve_open(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_int_t rc, int64_t now,
    int64_t *wait);
static void ngx_http_victorops_vo_resolved_ok(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_array_t *done, ngx_str_t *reason);
static ngx_int_t ngx_http_victorops_vo_resolved_links(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_http_victorops_effects_t *fx,
    ngx_array_t *done, ngx_str_t *text);
static ngx_int_t ngx_http_victorops_vo_rootly_resolved(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_http_victorops_effects_t *fx);


/*
 * Starts a resolve job: the open VictorOps incidents linked to the
 * Rootly incident (read from the store, on PostgreSQL with a query
 * whose answer goes on), resolved in one call (as vo_begin()); with
 * none, the job is done (NGX_DONE).
 */

ngx_int_t
ngx_http_victorops_vo_resolve(ngx_http_victorops_vo_ctx_t *ctx, int64_t now,
    int64_t *wait)
{
    ngx_int_t  rc;

    rc = ngx_http_victorops_vo_open_read(ctx, ngx_http_victorops_vo_open);

    if (rc == NGX_AGAIN) {
        return NGX_OK;      /* under way: the read's answer goes on */
    }

    return ngx_http_victorops_vo_resolve_open(ctx, rc, now, wait);
}


static void
ngx_http_victorops_vo_open(ngx_http_victorops_vo_ctx_t *ctx, ngx_int_t rc)
{
    int64_t  wait;

    wait = 0;
    rc = ngx_http_victorops_vo_resolve_open(ctx, rc, ngx_http_victorops_now(),
                                            &wait);

    ngx_http_victorops_vo_resume(ctx, rc, wait);
}


/* "rc": the read of the open incidents (into ctx->numbers) */

static ngx_int_t
ngx_http_victorops_vo_resolve_open(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_int_t rc, int64_t now, int64_t *wait)
{
    ngx_http_victorops_effects_t      *fx;
    ngx_http_victorops_integration_t  *vi;
    ngx_http_victorops_vo_decision_t   d;

    vi = ctx->vi;

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_victorops_vo_decide(ctx, ctx->numbers.nelts,
                                 NGX_HTTP_VICTOROPS_FACT_UNKNOWN, &d);

    if (d.action == NGX_HTTP_VICTOROPS_VO_NOTHING_OPEN) {

        /* none linked, or VictorOps resolved them first: nothing to send */

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "victorops integration \"%V\": Rootly incident "
                      "\"%V\" resolved, no open VictorOps incident linked "
                      "(job %V)", &vi->name, &ctx->esc.id, &ctx->job.id);

        fx = ngx_http_victorops_effects_create(ngx_cycle->log);

        if (fx && ngx_http_victorops_vo_rootly_resolved(ctx, fx) != NGX_OK) {
            ngx_destroy_pool(fx->pool);
            return NGX_ERROR;
        }

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL, fx);
        return NGX_DONE;
    }

    return ngx_http_victorops_vo_begin(ctx, NGX_HTTP_VICTOROPS_S_RESOLVE, now,
                                       wait);
}


/* the resolve step's call: PATCH the incidents, with the Rootly title */

ngx_int_t
ngx_http_victorops_vo_resolve_request(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t **tp)
{
    ngx_str_t                       message, body;
    ngx_http_victorops_transfer_t  *t;

    message.data = ngx_pnalloc(ctx->pool, 512);
    if (message.data == NULL) {
        return NGX_ERROR;
    }

    /* a long title is cut, never inside a UTF-8 character */

    message.len = ngx_http_victorops_utf8_cut(message.data,
                      ngx_snprintf(message.data, 512,
                                   "Resolved in Rootly: %V%s%V",
                                   ctx->esc.title.len ? &ctx->esc.title
                                                      : &ctx->esc.id,
                                   ctx->esc.url.len ? " " : "",
                                   &ctx->esc.url))
                  - message.data;

    if (ngx_http_victorops_vo_resolve_body(ctx->pool, &ctx->numbers,
                                           &ctx->vi->api_user, &message,
                                           &body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    t = ngx_http_victorops_vo_transfer(ctx->vi, "PATCH",
                                       "/api-public/v1/incidents/resolve",
                                       &body);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->what = "incident resolution";
    *tp = t;

    return NGX_OK;
}


void
ngx_http_victorops_vo_resolve_answered(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now)
{
    ngx_int_t    rc;
    ngx_str_t    reason;
    ngx_array_t  done;

    if (ngx_array_init(&done, ctx->pool, 2, sizeof(ngx_str_t)) != NGX_OK) {
        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE, NULL,
                                     NULL);
        return;
    }

    rc = ngx_http_victorops_vo_resolved(ctx->pool, &t->response, &done,
                                        &reason);

    ngx_http_victorops_vo_resolved_ok(ctx, &done,
                                      rc == NGX_OK ? NULL : &reason);
}


/*
 * What VictorOps resolved ("done"; "reason": why not all of them): the
 * links and a timeline event, the Rootly incident's links marked
 * resolved there; nothing resolved, reconciliation looks again.
 */

static void
ngx_http_victorops_vo_resolved_ok(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_array_t *done, ngx_str_t *reason)
{
    ngx_str_t                      text;
    ngx_http_victorops_effects_t  *fx;

    if (reason) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "victorops integration \"%V\": VictorOps did not "
                      "resolve every incident of Rootly incident \"%V\": "
                      "\"%V\" (job %V)", &ctx->vi->name, &ctx->esc.id,
                      reason, &ctx->job.id);
    }

    fx = ngx_http_victorops_effects_create(ngx_cycle->log);
    if (fx == NULL) {
        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE, NULL,
                                     NULL);
        return;
    }

    if (ngx_http_victorops_vo_resolved_links(ctx, fx, done, &text)
        != NGX_OK)
    {
        goto failed;
    }

    if (done->nelts == 0 && reason) {

        /* nothing resolved: reconciliation looks at it again */

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL, fx);
        return;
    }

    if (ngx_http_victorops_vo_rootly_resolved(ctx, fx) != NGX_OK) {
        goto failed;
    }

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
 * The incidents VictorOps resolved, marked resolved in their links,
 * logged and counted; "text": "Resolved VictorOps incidents #1, #2".
 */

static ngx_int_t
ngx_http_victorops_vo_resolved_links(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_effects_t *fx, ngx_array_t *done, ngx_str_t *text)
{
    u_char                     *p, *last;
    ngx_str_t                  *n;
    ngx_uint_t                  i;
    ngx_http_victorops_link_t  *link;

    text->data = ngx_pnalloc(fx->pool, 1024);
    if (text->data == NULL) {
        return NGX_ERROR;
    }

    p = text->data;
    last = p + 1024;
    p = ngx_slprintf(p, last, "Resolved VictorOps incident%s",
                     done->nelts == 1 ? "" : "s");

    n = done->elts;

    for (i = 0; i < done->nelts; i++) {
        p = ngx_slprintf(p, last, "%s #%V", i ? "," : "", &n[i]);

        link = ngx_http_victorops_effects_link(fx,
                                            NGX_HTTP_VICTOROPS_LINK_VO_STATE);

        if (link == NULL
            || ngx_http_victorops_vo_dup(fx->pool, &link->incident, &n[i])
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        link->vo_state = NGX_HTTP_VICTOROPS_VO_RESOLVED;

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "victorops integration \"%V\": resolved VictorOps "
                      "incident #%V of Rootly incident \"%V\" (job %V)",
                      &ctx->vi->name, &n[i], &ctx->esc.id, &ctx->job.id);

        ngx_http_victorops_count(ctx->vi, NGX_HTTP_VICTOROPS_C_VO_RESOLVED);
    }

    text->len = ngx_http_victorops_utf8_cut(text->data, p) - text->data;

    return NGX_OK;
}


/* the links of the Rootly incident marked resolved in Rootly */

static ngx_int_t
ngx_http_victorops_vo_rootly_resolved(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_effects_t *fx)
{
    ngx_http_victorops_link_t  *link;

    link = ngx_http_victorops_effects_link(fx,
                                        NGX_HTTP_VICTOROPS_LINK_ROOTLY_STATE);

    if (link == NULL
        || ngx_http_victorops_vo_dup(fx->pool, &link->rootly_incident,
                                     &ctx->esc.id)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    link->rootly_state = 1;

    return NGX_OK;
}
