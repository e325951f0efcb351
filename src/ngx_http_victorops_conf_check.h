
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_conf_check.c defines for the other files;
 * included by ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_CONF_CHECK_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_CONF_CHECK_H_INCLUDED_


char *ngx_http_victorops_integration_check(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi);
ngx_uint_t ngx_http_victorops_pg_refused(ngx_str_t *directive);
ngx_int_t ngx_http_victorops_resolve_references(ngx_conf_t *cf,
    ngx_http_victorops_main_conf_t *vmcf);


#endif /* _NGX_HTTP_VICTOROPS_CONF_CHECK_H_INCLUDED_ */
