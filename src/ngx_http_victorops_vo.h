
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_vo.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.  A job under way
 * (vo_ctx_t) is opaque here: the sender's own files see it whole
 * (ngx_http_victorops_vo_ctx.h).
 */


#ifndef _NGX_HTTP_VICTOROPS_VO_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_VO_H_INCLUDED_


typedef struct ngx_http_victorops_vo_ctx_s  ngx_http_victorops_vo_ctx_t;


ngx_int_t ngx_http_victorops_vo_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_vo_done(ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_vo_job(ngx_http_victorops_job_t *job,
    int64_t now, int64_t *wait);
void ngx_http_victorops_vo_decide(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_uint_t open, ngx_uint_t pageable, ngx_http_victorops_vo_decision_t *d);
ngx_int_t ngx_http_victorops_vo_begin(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_uint_t step, int64_t now, int64_t *wait);
void ngx_http_victorops_vo_go_on(ngx_http_victorops_vo_ctx_t *ctx);
void ngx_http_victorops_vo_retry(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now, ngx_str_t *reason);
void ngx_http_victorops_vo_dead(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, ngx_str_t *reason);
ngx_int_t ngx_http_victorops_vo_reply_job(ngx_http_victorops_effects_t *fx,
    ngx_http_victorops_vo_ctx_t *ctx, const char *type, ngx_str_t *text);
ngx_int_t ngx_http_victorops_vo_note(ngx_http_victorops_effects_t *fx,
    ngx_http_victorops_vo_ctx_t *ctx, ngx_str_t *text);
ngx_int_t ngx_http_victorops_vo_dup(ngx_pool_t *pool, ngx_str_t *dst,
    ngx_str_t *src);
void ngx_http_victorops_vo_finish(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_uint_t op, ngx_str_t *error, ngx_http_victorops_effects_t *fx);


#endif /* _NGX_HTTP_VICTOROPS_VO_H_INCLUDED_ */
