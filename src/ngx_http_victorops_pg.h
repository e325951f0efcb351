
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_pg.c defines for the other files: the
 * PostgreSQL store's configuration (a "store postgresql://..." URI) and
 * its connection, one per integration and worker, driven by the worker's
 * event loop.  Included by ngx_http_victorops_module.h; libpq's own
 * header is needed only by the files that read results.
 */


#ifndef _NGX_HTTP_VICTOROPS_PG_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_PG_H_INCLUDED_


/* libpq's PGresult, without libpq-fe.h */
struct pg_result;


/* a connection's state, as the status endpoint names it */

#define NGX_HTTP_VICTOROPS_PG_DOWN        0   /* not started, or closed */
#define NGX_HTTP_VICTOROPS_PG_CONNECTING  1
#define NGX_HTTP_VICTOROPS_PG_MIGRATING   2   /* the schema's check */
#define NGX_HTTP_VICTOROPS_PG_READY       3
#define NGX_HTTP_VICTOROPS_PG_BACKOFF     4   /* waiting to reconnect */


/* the schema: ngx_http_victorops_pg_schema.c */

typedef struct {
    ngx_uint_t                    version;
    const char                   *what;
    const char                  **sql;            /* NULL-terminated */
} ngx_http_victorops_pg_migration_t;

extern ngx_http_victorops_pg_migration_t  ngx_http_victorops_pg_schema[];


/* what the status endpoint shows of this worker's connection */

typedef struct {
    const char                   *state;          /* "ready", ... */
    ngx_uint_t                    ready;          /* queries go out */
    ngx_uint_t                    down;           /* queries refused */
    ngx_str_t                     node;
    ngx_uint_t                    schema;         /* 0: not read yet */
    ngx_uint_t                    connects;
    ngx_uint_t                    failures;       /* in a row */
    ngx_msec_t                    backoff;        /* the next wait */
    time_t                        since;          /* in this state */
    time_t                        heartbeat;      /* last answered */
    ngx_str_t                     error;          /* the last one */
} ngx_http_victorops_pg_info_t;


/* prepared statements of a connection: slots, and a name's size */

#define NGX_HTTP_VICTOROPS_PG_STMTS  32
#define NGX_HTTP_VICTOROPS_PG_NAME   16


typedef struct ngx_http_victorops_pg_query_s  ngx_http_victorops_pg_query_t;

/*
 * A query's answer: "res" its result (PGRES_TUPLES_OK, _COMMAND_OK,
 * _FATAL_ERROR, or _PIPELINE_ABORTED after an earlier error of its
 * batch), freed once the handler returns; NULL when the connection went
 * away (or the worker exits) before an answer came, "q->error" says why.
 * A handler may send more queries.
 */

typedef void (*ngx_http_victorops_pg_handler_pt)(
    ngx_http_victorops_pg_query_t *q, struct pg_result *res);


/*
 * A query, owned by its sender until its handler runs: the SQL, the
 * parameters (text unless "formats" says otherwise) and the handler.
 * Queries sent one after the other in one pass of the event loop go out
 * in one pipeline; "more": the next query belongs to the same batch (no
 * sync point after this one: an error aborts the rest of the batch, and
 * an implicit transaction spans it).  "prepare": "sql" is a fixed text
 * (static, its address its identity) whose plan does not depend on its
 * parameters' values: prepared once per connection (PQsendPrepare() in
 * the pipeline before its first use, again after a reconnect), then
 * sent with PQsendQueryPrepared(); parsed and planned each time without.
 */

struct ngx_http_victorops_pg_query_s {
    ngx_queue_t                   queue;          /* the connection's */
    const char                   *sql;
    int                           nparams;
    const char * const           *values;
    const int                    *lengths;
    const int                    *formats;
    ngx_http_victorops_pg_handler_pt  handler;
    void                         *data;
    const char                   *error;          /* res NULL: why */

    struct pg_result             *res;            /* the connection's */
    unsigned                      more:1;
    unsigned                      prepare:1;      /* "sql": fixed text */
    unsigned                      internal:1;
};


/*
 * A batch of queries of a feature (ngx_http_victorops_pg_batch.c): built
 * in "pool", sent together, one transaction (the implicit one: no BEGIN),
 * "result" called with each query's "item" and its answer (succeeded
 * ones, while none failed), "done" once all are answered and the commit
 * confirmed ("rc" NGX_ERROR if any failed or went unanswered).
 */

#define NGX_HTTP_VICTOROPS_PGB_PARAMS  10

typedef struct ngx_http_victorops_pgb_s  ngx_http_victorops_pgb_t;

typedef void (*ngx_http_victorops_pgb_result_pt)(ngx_http_victorops_pgb_t *b,
    void *item, struct pg_result *res);
typedef void (*ngx_http_victorops_pgb_done_pt)(ngx_http_victorops_pgb_t *b);


struct ngx_http_victorops_pgb_s {
    ngx_http_victorops_integration_t  *vi;
    ngx_pool_t                        *pool;
    ngx_array_t                        queries;   /* pgbq_t * */
    ngx_uint_t                         waiting;
    ngx_int_t                          rc;
    ngx_http_victorops_pgb_result_pt   result;
    ngx_http_victorops_pgb_done_pt     done;
    void                              *data;
};


typedef struct {
    ngx_http_victorops_pg_query_t      q;
    ngx_http_victorops_pgb_t          *batch;
    void                              *item;
    ngx_uint_t                         confirm;   /* after the sync */
    const char                        *values[NGX_HTTP_VICTOROPS_PGB_PARAMS];
    int                                lengths[NGX_HTTP_VICTOROPS_PGB_PARAMS];
    int                                formats[NGX_HTTP_VICTOROPS_PGB_PARAMS];
} ngx_http_victorops_pgbq_t;


ngx_int_t ngx_http_victorops_pg_uri(ngx_str_t *store);
char *ngx_http_victorops_pg_conf(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_pg_check(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi);
u_char *ngx_http_victorops_pg_mask(u_char *dst, u_char *src, size_t len);
size_t ngx_http_victorops_pg_text(u_char *dst, size_t size, const char *src);
ngx_int_t ngx_http_victorops_pg_param(ngx_http_victorops_pg_query_t *q,
    int max, const char *value, int len, int format);
char *ngx_http_victorops_pg_str(ngx_pool_t *pool, ngx_str_t *s);
char *ngx_http_victorops_pg_int(ngx_pool_t *pool, int64_t n);
ngx_int_t ngx_http_victorops_pg_stmt(const char **stmts, const char *sql,
    u_char *name);
void ngx_http_victorops_pg_stmt_forget(const char **stmts, const char *sql);
void ngx_http_victorops_pg_prepared(ngx_http_victorops_pg_query_t *q,
    struct pg_result *res);
void ngx_http_victorops_pg_stmt_check(const char **stmts,
    ngx_http_victorops_pg_query_t *q, struct pg_result *res);

ngx_int_t ngx_http_victorops_pg_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_pg_done(ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_pg_send(ngx_http_victorops_pg_t *pg,
    ngx_http_victorops_pg_query_t *q);
void ngx_http_victorops_pg_info(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_pg_info_t *info);

ngx_http_victorops_pgb_t *ngx_http_victorops_pgb_create(
    ngx_http_victorops_integration_t *vi, ngx_pool_t *pool);
ngx_http_victorops_pgbq_t *ngx_http_victorops_pgb_add(
    ngx_http_victorops_pgb_t *b, const char *sql, void *item);
ngx_int_t ngx_http_victorops_pgbq_str(ngx_http_victorops_pgbq_t *q,
    ngx_str_t *s);
ngx_int_t ngx_http_victorops_pgbq_int(ngx_http_victorops_pgbq_t *q,
    int64_t n);
ngx_int_t ngx_http_victorops_pgbq_bin(ngx_http_victorops_pgbq_t *q,
    ngx_str_t *s);
ngx_int_t ngx_http_victorops_pgb_send(ngx_http_victorops_pgb_t *b);
ngx_int_t ngx_http_victorops_pgb_text(ngx_pool_t *pool,
    struct pg_result *res, int row, int col, ngx_str_t *s);
int64_t ngx_http_victorops_pgb_int(struct pg_result *res, int row, int col);
int64_t ngx_http_victorops_pgb_token(void);
ngx_int_t ngx_http_victorops_pgb_lease_take(ngx_http_victorops_pgb_t *b,
    const char *task, int64_t token, int64_t hold);
void ngx_http_victorops_pgb_lease_write(ngx_http_victorops_integration_t *vi,
    const char *task, int64_t token, int64_t hold, int64_t rounds,
    const char *lost);


#endif /* _NGX_HTTP_VICTOROPS_PG_H_INCLUDED_ */
