
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_vo_page.c defines for the other files (the
 * VictorOps sender, vo.c); included by ngx_http_victorops_module.h
 * after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_VO_PAGE_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_VO_PAGE_H_INCLUDED_


ngx_int_t ngx_http_victorops_vo_escalate(ngx_http_victorops_vo_ctx_t *ctx,
    int64_t now, int64_t *wait);
ngx_int_t ngx_http_victorops_vo_teams_request(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_http_victorops_transfer_t **tp);
void ngx_http_victorops_vo_teams_answered(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now);
void ngx_http_victorops_vo_no_team(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t);
ngx_int_t ngx_http_victorops_vo_find_request(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t **tp);
void ngx_http_victorops_vo_find_answered(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now);
ngx_int_t ngx_http_victorops_vo_create_request(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_http_victorops_transfer_t **tp);
void ngx_http_victorops_vo_create_answered(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now);
ngx_int_t ngx_http_victorops_vo_reroute_request(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_http_victorops_transfer_t **tp);
void ngx_http_victorops_vo_reroute_answered(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now);


#endif /* _NGX_HTTP_VICTOROPS_VO_PAGE_H_INCLUDED_ */
