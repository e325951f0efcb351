
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_sync.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_SYNC_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_SYNC_H_INCLUDED_


ngx_int_t ngx_http_victorops_sync_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_sync_done(ngx_http_victorops_integration_t *vi);


#endif /* _NGX_HTTP_VICTOROPS_SYNC_H_INCLUDED_ */
