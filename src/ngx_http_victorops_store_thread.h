
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_store_thread.c defines for the other files;
 * included by ngx_http_victorops_module.h after the shared types.  The
 * ops themselves are in ngx_http_victorops_store.h.
 */


#ifndef _NGX_HTTP_VICTOROPS_STORE_THREAD_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_STORE_THREAD_H_INCLUDED_


ngx_int_t ngx_http_victorops_store_thread_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_store_t *st);
void ngx_http_victorops_store_post(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_op_t *op);
void ngx_http_victorops_store_finish(ngx_http_victorops_integration_t *vi);
void *ngx_http_victorops_store_call(ngx_http_victorops_integration_t *vi,
    size_t size, ngx_http_victorops_store_exec_pt exec,
    ngx_http_victorops_store_done_pt done);
ngx_int_t ngx_http_victorops_store_call_post(ngx_http_request_t *r,
    void *call);
void ngx_http_victorops_store_call_leave(ngx_http_request_t *r);
void ngx_http_victorops_store_checkpoint(ngx_http_victorops_integration_t *vi,
    int frames);


#endif /* _NGX_HTTP_VICTOROPS_STORE_THREAD_H_INCLUDED_ */
