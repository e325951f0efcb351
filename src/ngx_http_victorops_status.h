
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_status.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_STATUS_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_STATUS_H_INCLUDED_


ngx_int_t ngx_http_victorops_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_http_victorops_status_handler(ngx_http_request_t *r);
char *ngx_http_victorops_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_VICTOROPS_STATUS_H_INCLUDED_ */
