
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_store_spool.c defines for the other files: a
 * PostgreSQL store's local spool ("store_spool PATH", a SQLite store),
 * where a node keeps what it accepts while PostgreSQL is unavailable,
 * and moves it to PostgreSQL when it returns.  Included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_STORE_SPOOL_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_STORE_SPOOL_H_INCLUDED_


/* what the status endpoint shows of the node's spool */

typedef struct {
    ngx_str_t                     path;
    int64_t                       depth;          /* jobs in it */
    int64_t                       moved;          /* to PostgreSQL */
    int64_t                       dropped;        /* duplicates there */
    time_t                        last_moved_at;
} ngx_http_victorops_spool_info_t;


ngx_int_t ngx_http_victorops_spool_prepare(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_spool_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_spool_post(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_op_t *op);
void ngx_http_victorops_spool_finish(ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_spool_close(ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_spool_info(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_spool_info_t *info);


#endif /* _NGX_HTTP_VICTOROPS_STORE_SPOOL_H_INCLUDED_ */
