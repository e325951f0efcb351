
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_store_pg.c defines for the other files: the
 * store's ops (ngx_http_victorops_store.h) on a PostgreSQL store, sent
 * through the worker's connection (ngx_http_victorops_pg.c).  Included
 * by ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_STORE_PG_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_STORE_PG_H_INCLUDED_


ngx_int_t ngx_http_victorops_store_pg_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_store_pg_post(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_op_t *op);
void ngx_http_victorops_store_pg_finish(ngx_http_victorops_integration_t *vi);


#endif /* _NGX_HTTP_VICTOROPS_STORE_PG_H_INCLUDED_ */
