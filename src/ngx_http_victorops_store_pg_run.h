
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * A PostgreSQL store's op under way, shared by the files that run it
 * (ngx_http_victorops_store_pg.c: the ops, their answers;
 * ngx_http_victorops_store_pg_fx.c: effects, queries' parameters).
 */


#ifndef _NGX_HTTP_VICTOROPS_STORE_PG_RUN_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_STORE_PG_RUN_H_INCLUDED_


#define NGX_HTTP_VICTOROPS_PGQ_PARAMS   11

/* what a query's answer says: its role */
#define NGX_HTTP_VICTOROPS_PGQ_PLAIN    0   /* succeeded or not */
#define NGX_HTTP_VICTOROPS_PGQ_JOB      1   /* a row: stored, none: a dup */
#define NGX_HTTP_VICTOROPS_PGQ_OUTCOME  2   /* "1": applied, "0": lease lost */
#define NGX_HTTP_VICTOROPS_PGQ_CLAIM    3   /* the claimed jobs */
#define NGX_HTTP_VICTOROPS_PGQ_EXPIRE   4   /* rows: the jobs queued again */
#define NGX_HTTP_VICTOROPS_PGQ_DEAD     5   /* a count: dead letters gone */
#define NGX_HTTP_VICTOROPS_PGQ_LINKS    6   /* a count: links gone */


/* an integration's, in this worker */

typedef struct {
    ngx_http_victorops_integration_t  *vi;
    ngx_str_t                          name;      /* NUL-terminated */
    ngx_str_t                          node;      /* NUL-terminated */
    ngx_queue_t                        failed;    /* ops, to complete */
    ngx_connection_t                   dummy;
    ngx_event_t                        fail_event;
} ngx_http_victorops_pg_ops_t;


/* an op under way: its queries and how they went */

typedef struct {
    ngx_http_victorops_store_op_t     *op;
    ngx_http_victorops_pg_ops_t       *ops;
    ngx_pool_t                        *pool;
    ngx_array_t                       *building;  /* pgq_t *, being built */
    ngx_uint_t                         queries;   /* not answered yet */
    int64_t                            token;     /* CLAIM's lease */
    ngx_int_t                          rc;
    unsigned                           unavailable:1;
} ngx_http_victorops_pg_run_t;


typedef struct {
    ngx_http_victorops_pg_query_t      q;
    ngx_http_victorops_pg_run_t       *run;
    void                              *item;      /* pending, outcome */
    ngx_uint_t                         role;
    unsigned                           commit:1;  /* after the sync */
    const char                        *values[NGX_HTTP_VICTOROPS_PGQ_PARAMS];
    int                                lengths[NGX_HTTP_VICTOROPS_PGQ_PARAMS];
    int                                formats[NGX_HTTP_VICTOROPS_PGQ_PARAMS];
} ngx_http_victorops_pgq_t;


ngx_int_t ngx_http_victorops_store_pg_effects(ngx_http_victorops_pg_run_t *run,
    ngx_http_victorops_effects_t *fx, ngx_uint_t outcome, ngx_str_t *guard);
ngx_http_victorops_pgq_t *ngx_http_victorops_pgq(
    ngx_http_victorops_pg_run_t *run, const char *sql, ngx_uint_t role,
    void *item);
ngx_int_t ngx_http_victorops_pgq_str(ngx_http_victorops_pgq_t *q,
    ngx_pool_t *pool, ngx_str_t *s);
ngx_int_t ngx_http_victorops_pgq_int(ngx_http_victorops_pgq_t *q,
    ngx_pool_t *pool, int64_t n);
void ngx_http_victorops_pgq_bin(ngx_http_victorops_pgq_t *q, ngx_str_t *s);


#endif /* _NGX_HTTP_VICTOROPS_STORE_PG_RUN_H_INCLUDED_ */
