
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_response.c defines for the other files; included
 * by ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_RESPONSE_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_RESPONSE_H_INCLUDED_


ngx_int_t ngx_http_victorops_not_allowed(ngx_http_request_t *r,
    const char *allow);
ngx_int_t ngx_http_victorops_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *message);
ngx_int_t ngx_http_victorops_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, ngx_str_t *body);


#endif /* _NGX_HTTP_VICTOROPS_RESPONSE_H_INCLUDED_ */
