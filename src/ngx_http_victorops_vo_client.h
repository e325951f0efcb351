
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_vo_client.c defines for the other files;
 * included by ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_VO_CLIENT_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_VO_CLIENT_H_INCLUDED_


ngx_http_victorops_transfer_t *ngx_http_victorops_vo_transfer(
    ngx_http_victorops_integration_t *vi, const char *method,
    const char *path, ngx_str_t *body);
ngx_int_t ngx_http_victorops_vo_answer(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_transfer_t *t, int64_t now, int64_t *until);


#endif /* _NGX_HTTP_VICTOROPS_VO_CLIENT_H_INCLUDED_ */
