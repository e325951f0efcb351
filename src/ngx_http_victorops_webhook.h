
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_webhook.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_WEBHOOK_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_WEBHOOK_H_INCLUDED_


ngx_int_t ngx_http_victorops_webhook_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_victorops_body(ngx_http_request_t *r, ngx_str_t *body);


#endif /* _NGX_HTTP_VICTOROPS_WEBHOOK_H_INCLUDED_ */
