
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_store.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 *
 * The store's interface: what the module asks of its store, whatever
 * keeps it (SQLite today, in ngx_http_victorops_store*.c, with what is
 * SQLite's alone in ngx_http_victorops_store_sqlite.h).  With this file:
 * ngx_http_victorops_store_jobs.h (the queue) and _store_links.h (links,
 * duplicates, Rootly event ids, signatures).
 */


#ifndef _NGX_HTTP_VICTOROPS_STORE_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_STORE_H_INCLUDED_


ngx_int_t ngx_http_victorops_store_prepare(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_store_open(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_store_close(ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_store_begin(ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_store_commit(
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_store_rollback(ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_store_checkpoint(ngx_http_victorops_integration_t *vi,
    int frames);


#endif /* _NGX_HTTP_VICTOROPS_STORE_H_INCLUDED_ */
