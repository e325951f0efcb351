
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


/*
 * A VictorOps create's mark (vo_store.c), a row of links keyed by this
 * and the job's id, its incident NGX_HTTP_VICTOROPS_CREATING_INCIDENT,
 * synced_at when first made: written before the create's call, dropped
 * with the outcome that ends the job.  While one made before it came
 * is there, a VictorOps delivery with nothing linked waits (rootly.c):
 * it may be about the incident being created.
 */

#define NGX_HTTP_VICTOROPS_CREATING           "creating:"
#define NGX_HTTP_VICTOROPS_CREATING_INCIDENT  "~creating"


ngx_int_t ngx_http_victorops_store_pg_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_store_pg_post(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_op_t *op);
void ngx_http_victorops_store_pg_finish(ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_store_pg_failed(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_op_t *op);

/* store calls on PostgreSQL: ngx_http_victorops_store_pg_call.c */

ngx_int_t ngx_http_victorops_store_call_sql(void *call, const char *sql,
    ngx_http_victorops_store_rows_pt rows);
ngx_int_t ngx_http_victorops_store_call_str(void *call, ngx_str_t *s);
ngx_int_t ngx_http_victorops_store_call_int(void *call, int64_t n);
ngx_int_t ngx_http_victorops_store_call_bin(void *call, u_char *bytes,
    size_t len);
void ngx_http_victorops_store_pg_call(ngx_http_victorops_store_call_t *call);


#endif /* _NGX_HTTP_VICTOROPS_STORE_PG_H_INCLUDED_ */
