
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_curl.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_CURL_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_CURL_H_INCLUDED_


ngx_int_t ngx_http_victorops_curl_init(ngx_cycle_t *cycle,
    ngx_uint_t max_connections);
void ngx_http_victorops_curl_done(ngx_cycle_t *cycle);
ngx_http_victorops_transfer_t *ngx_http_victorops_transfer_create(
    ngx_log_t *log);
ngx_int_t ngx_http_victorops_transfer_header(ngx_http_victorops_transfer_t *t,
    ngx_str_t *header);
ngx_int_t ngx_http_victorops_transfer_start(ngx_http_victorops_transfer_t *t);
ngx_int_t ngx_http_victorops_transfer_error(ngx_http_victorops_transfer_t *t,
    ngx_str_t *reason);
void ngx_http_victorops_transfer_abort(ngx_http_victorops_transfer_t *t,
    const char *reason);
void ngx_http_victorops_curl_release_waiting(void *owner, const char *reason);


#endif /* _NGX_HTTP_VICTOROPS_CURL_H_INCLUDED_ */
