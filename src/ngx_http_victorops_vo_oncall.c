
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The on-call hand-off of the VictorOps sender (vo.c): after a page
 * (with oncall_responders), who is on call for the teams paged, from
 * VictorOps's current on-call list (each worker keeps it 30 s), goes to
 * the Rootly incident as a timeline event: the job goes on as a NOTE
 * job through the Rootly sender.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_vo_ctx.h"


#define NGX_HTTP_VICTOROPS_ONCALL_TTL    30000


static ngx_int_t ngx_http_victorops_vo_oncall_send(
    ngx_http_victorops_vo_ctx_t *ctx);


/* starts an on-call job: the list this worker keeps, else a fresh one */

ngx_int_t
ngx_http_victorops_vo_oncall_start(ngx_http_victorops_vo_ctx_t *ctx,
    int64_t now, int64_t *wait)
{
    ngx_http_victorops_vo_worker_t  *w;

    w = ctx->vi->vo;

    if (w->oncall.len && now - w->oncall_at < NGX_HTTP_VICTOROPS_ONCALL_TTL) {
        return ngx_http_victorops_vo_oncall_send(ctx);
    }

    return ngx_http_victorops_vo_begin(ctx, NGX_HTTP_VICTOROPS_S_ONCALL, now,
                                       wait);
}


/* the on-call step's call */

ngx_int_t
ngx_http_victorops_vo_oncall_request(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t **tp)
{
    ngx_http_victorops_transfer_t  *t;

    t = ngx_http_victorops_vo_transfer(ctx->vi, "GET",
                                       "/api-public/v1/oncall/current",
                                       NULL);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->what = "on-call lookup";
    *tp = t;

    return NGX_OK;
}


/* the on-call list, kept by the worker, then the hand-off */

void
ngx_http_victorops_vo_oncall_answered(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now)
{
    ngx_http_victorops_vo_worker_t  *w;

    w = ctx->vi->vo;

    if (w->oncall_pool) {
        ngx_destroy_pool(w->oncall_pool);
        ngx_str_null(&w->oncall);
    }

    w->oncall_pool = ngx_create_pool(t->response.len + 128, ngx_cycle->log);

    if (w->oncall_pool) {
        w->oncall.data = ngx_pstrdup(w->oncall_pool, &t->response);
        w->oncall.len = w->oncall.data ? t->response.len : 0;
        w->oncall_at = now;
    }

    /* NGX_OK: the Rootly send owns the job now; NGX_DONE: finished */

    if (ngx_http_victorops_vo_oncall_send(ctx) == NGX_ERROR) {
        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE, NULL,
                                     NULL);
    }
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
