
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_dedup.c defines for the other files; included
 * by ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_DEDUP_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_DEDUP_H_INCLUDED_


/* entries of the duplicate index by default (duplicate_index) */

#define NGX_HTTP_VICTOROPS_DEDUP_DEFAULT  32768


ngx_int_t ngx_http_victorops_dedup_zone(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_dedup_claim(ngx_http_victorops_integration_t *vi,
    u_char *hash, int64_t now);
void ngx_http_victorops_dedup_release(ngx_http_victorops_integration_t *vi,
    u_char *hash);
void ngx_http_victorops_dedup_note(ngx_http_victorops_integration_t *vi,
    u_char *hash, int64_t seen);


#endif /* _NGX_HTTP_VICTOROPS_DEDUP_H_INCLUDED_ */
