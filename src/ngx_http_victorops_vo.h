
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_vo.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_VO_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_VO_H_INCLUDED_


ngx_int_t ngx_http_victorops_vo_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_vo_done(ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_vo_job(ngx_http_victorops_job_t *job,
    int64_t now, int64_t *wait);


#endif /* _NGX_HTTP_VICTOROPS_VO_H_INCLUDED_ */
