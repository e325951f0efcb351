
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_job.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_JOB_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_JOB_H_INCLUDED_


ngx_int_t ngx_http_victorops_job_id(ngx_pool_t *pool, ngx_str_t *id);
ngx_http_victorops_kind_t *ngx_http_victorops_job_kind(ngx_uint_t kind);
ngx_http_victorops_job_t *ngx_http_victorops_job_copy(ngx_pool_t *pool,
    ngx_http_victorops_job_t *job);
ngx_http_victorops_effects_t *ngx_http_victorops_effects_create(
    ngx_log_t *log);
ngx_http_victorops_effects_t *ngx_http_victorops_effects_alloc(
    ngx_pool_t *pool);
ngx_http_victorops_job_t *ngx_http_victorops_effects_job(
    ngx_http_victorops_effects_t *fx, ngx_http_victorops_job_t *from,
    ngx_uint_t kind, ngx_str_t *body);
ngx_http_victorops_link_t *ngx_http_victorops_effects_link(
    ngx_http_victorops_effects_t *fx, ngx_uint_t op);


#endif /* _NGX_HTTP_VICTOROPS_JOB_H_INCLUDED_ */
