
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_sync.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 *
 * A round's reads and writes go to its store: SQLite (the lease in shared
 * memory, the links read on the loop's connection, the repairs an EXEC),
 * or PostgreSQL (ngx_http_victorops_sync_pg.c: the lease a row every node
 * competes for, the links and the repairs asynchronous queries).
 */


#ifndef _NGX_HTTP_VICTOROPS_SYNC_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_SYNC_H_INCLUDED_


#define NGX_HTTP_VICTOROPS_SYNC_LINKS    20
#define NGX_HTTP_VICTOROPS_SYNC_RETRY    5000


/* a round, in its own pool */

typedef struct {
    ngx_http_victorops_store_op_t      op;            /* the repairs */
    ngx_pool_t                        *pool;
    ngx_http_victorops_integration_t  *vi;
    ngx_http_victorops_integration_t  *wvi;           /* the writer's */
    ngx_array_t                        links;         /* link_t */
    ngx_array_t                        vo;            /* vo_incident_t */
    ngx_str_t                         *status;        /* Rootly's, per link */
    ngx_str_t                         *title;
    ngx_str_t                         *url;
    ngx_uint_t                         next;
    ngx_uint_t                         vo_read;
    ngx_uint_t                         repairs;
    int64_t                            started;

    ngx_http_victorops_pgb_t          *batch;         /* PostgreSQL's */
    int64_t                            token;         /* its lease */
    int64_t                            asked;         /* the token asked */
    int64_t                            wait;          /* not taken: due */
    ngx_uint_t                         ran;           /* sync_run() was */
    ngx_uint_t                         token_tries;
    ngx_event_t                        tick;          /* a token's wait */
    ngx_connection_t                   dummy;
} ngx_http_victorops_sync_t;


ngx_int_t ngx_http_victorops_sync_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_sync_done(ngx_http_victorops_integration_t *vi);

/* the round's steps, for sync_pg.c */
void ngx_http_victorops_sync_run(ngx_http_victorops_sync_t *s);
ngx_int_t ngx_http_victorops_sync_link(ngx_http_victorops_sync_t *s,
    ngx_uint_t i, int64_t now, ngx_uint_t *repairs);
void ngx_http_victorops_sync_repaired(ngx_http_victorops_store_op_t *op);
void ngx_http_victorops_sync_end(ngx_http_victorops_sync_t *s,
    ngx_uint_t ok);
void ngx_http_victorops_sync_skip(ngx_http_victorops_sync_t *s,
    int64_t wait);

/* ngx_http_victorops_sync_pg.c */
ngx_int_t ngx_http_victorops_sync_pg_start(ngx_http_victorops_sync_t *s);
ngx_int_t ngx_http_victorops_sync_pg_repair(ngx_http_victorops_sync_t *s);
ngx_int_t ngx_http_victorops_sync_pg_job(ngx_http_victorops_sync_t *s,
    ngx_http_victorops_job_t *job);
ngx_int_t ngx_http_victorops_sync_pg_link(ngx_http_victorops_sync_t *s,
    ngx_http_victorops_link_t *link);
void ngx_http_victorops_sync_pg_release(ngx_http_victorops_sync_t *s,
    int64_t next);


#endif /* _NGX_HTTP_VICTOROPS_SYNC_H_INCLUDED_ */
