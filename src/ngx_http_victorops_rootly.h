
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_rootly.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_ROOTLY_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_ROOTLY_H_INCLUDED_


ngx_int_t ngx_http_victorops_rootly_send(ngx_http_victorops_job_t *job,
    int64_t now, int64_t *wait);
ngx_int_t ngx_http_victorops_rootly_start(ngx_http_victorops_job_t *job);
void ngx_http_victorops_rootly_response(ngx_http_victorops_transfer_t *t,
    ngx_str_t *id, ngx_str_t *reason);
ngx_int_t ngx_http_victorops_rootly_request(ngx_http_victorops_transfer_t *t,
    ngx_http_victorops_integration_t *vi, const char *method, ngx_str_t *path,
    ngx_str_t *body);


#endif /* _NGX_HTTP_VICTOROPS_ROOTLY_H_INCLUDED_ */
