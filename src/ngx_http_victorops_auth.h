
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_auth.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_AUTH_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_AUTH_H_INCLUDED_


ngx_table_elt_t *ngx_http_victorops_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_table_elt_t *prev);
ngx_int_t ngx_http_victorops_auth_secret(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_auth_signature(ngx_http_request_t *r,
    u_char *mac);
ngx_int_t ngx_http_victorops_mask_secret(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);
void ngx_http_victorops_digest(ngx_str_t *secret, u_char *digest);
ngx_int_t ngx_http_victorops_slack_signature(ngx_str_t *ts, ngx_str_t *sig,
    ngx_str_t *body, ngx_array_t *secrets, time_t now, time_t window);
ngx_int_t ngx_http_victorops_bearer(ngx_http_request_t *r,
    ngx_array_t *tokens);
ngx_int_t ngx_http_victorops_rootly_signature(ngx_str_t *header,
    ngx_str_t *body, ngx_array_t *secrets, time_t now, time_t window);


#endif /* _NGX_HTTP_VICTOROPS_AUTH_H_INCLUDED_ */
