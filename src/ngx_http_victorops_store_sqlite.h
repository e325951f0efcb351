
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The store's SQLite backend, private to the store's files: included by
 * ngx_http_victorops_store.c (opening, schema, transactions, checkpoints),
 * ngx_http_victorops_store_jobs.c and ngx_http_victorops_store_links.c
 * (their statements), never by ngx_http_victorops_module.h.  The rest of
 * the module sees the functions of ngx_http_victorops_store.h,
 * _store_jobs.h and _store_links.h, and an opaque store_t: no sqlite3
 * handle, statement or SQL text crosses this line.
 */


#ifndef _NGX_HTTP_VICTOROPS_STORE_SQLITE_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_STORE_SQLITE_H_INCLUDED_


#include <sqlite3.h>


/*
 * The statements, prepared on first use and kept for the worker's
 * lifetime; their SQL is in the file that runs them, in this order.
 */

enum {

    /* ngx_http_victorops_store_jobs.c */

    NGX_HTTP_VICTOROPS_SQL_INSERT = 0,
    NGX_HTTP_VICTOROPS_SQL_CLAIM,
    NGX_HTTP_VICTOROPS_SQL_DONE,
    NGX_HTTP_VICTOROPS_SQL_RETRY,
    NGX_HTTP_VICTOROPS_SQL_RELEASE,
    NGX_HTTP_VICTOROPS_SQL_DEAD,
    NGX_HTTP_VICTOROPS_SQL_STATS,
    NGX_HTTP_VICTOROPS_SQL_DEAD_LIST,
    NGX_HTTP_VICTOROPS_SQL_REPLAY,
    NGX_HTTP_VICTOROPS_SQL_NEXT_DUE,
    NGX_HTTP_VICTOROPS_SQL_DUE,
    NGX_HTTP_VICTOROPS_SQL_EXPIRED,
    NGX_HTTP_VICTOROPS_SQL_KIND_PENDING,
    NGX_HTTP_VICTOROPS_SQL_LEASE,
    NGX_HTTP_VICTOROPS_SQL_RETAIN_DUE,
    NGX_HTTP_VICTOROPS_SQL_DEAD_GC,
    NGX_HTTP_VICTOROPS_SQL_LINK_GC,
    NGX_HTTP_VICTOROPS_SQL_PROMOTE,
    NGX_HTTP_VICTOROPS_SQL_JOBS_N,

    /* ngx_http_victorops_store_links.c */

    NGX_HTTP_VICTOROPS_SQL_LINK_GET = NGX_HTTP_VICTOROPS_SQL_JOBS_N,
    NGX_HTTP_VICTOROPS_SQL_LINK_SET,
    NGX_HTTP_VICTOROPS_SQL_LINK_DEL,
    NGX_HTTP_VICTOROPS_SQL_DEDUP,
    NGX_HTTP_VICTOROPS_SQL_DEDUP_GC,
    NGX_HTTP_VICTOROPS_SQL_EVENT,
    NGX_HTTP_VICTOROPS_SQL_EVENT_GC,
    NGX_HTTP_VICTOROPS_SQL_ESC_GET,
    NGX_HTTP_VICTOROPS_SQL_ESC_SET,
    NGX_HTTP_VICTOROPS_SQL_TARGETS,
    NGX_HTTP_VICTOROPS_SQL_OPEN,
    NGX_HTTP_VICTOROPS_SQL_VO_STATE,
    NGX_HTTP_VICTOROPS_SQL_ROOTLY_STATE,
    NGX_HTTP_VICTOROPS_SQL_SYNC_LIST,
    NGX_HTTP_VICTOROPS_SQL_SYNC_MARK,
    NGX_HTTP_VICTOROPS_SQL_SIG_SEEN,
    NGX_HTTP_VICTOROPS_SQL_SIG_CLAIM,
    NGX_HTTP_VICTOROPS_SQL_SIG_GC,
    NGX_HTTP_VICTOROPS_SQL_DEDUP_LIST,
    NGX_HTTP_VICTOROPS_SQL_N
};


/*
 * A worker's store (vi->st): the event loop's connection, the writer's
 * (store_thread.c), with the ops waiting for it and the one task in
 * flight, and the checkpointer's (with threads), for the op that runs
 * alone.  "wvi" and "cvi" are the integration as the ops see it there:
 * copies whose "st" is the writer, the checkpointer.
 */

struct ngx_http_victorops_store_s {
    sqlite3                      *db;
    sqlite3_stmt                 *stmt[NGX_HTTP_VICTOROPS_SQL_N];
    ngx_log_t                    *log;
    ngx_str_t                     path;
    ngx_uint_t                    busy_calls;
    int                           wal_frames;
    int                           wal_seen;           /* the writer's */
    ngx_msec_t                    busy_timeout;
    ngx_http_victorops_shctx_t   *sh;

    ngx_http_victorops_store_t   *writer;
    ngx_http_victorops_integration_t  *wvi;
    ngx_queue_t                   ops;                /* posted */
    ngx_queue_t                   running;            /* the task's */
    ngx_connection_t              dummy;
    ngx_event_t                   start_event;
    ngx_event_t                   wait_event;
    ngx_http_victorops_store_op_t  checkpoint_op;
    ngx_http_victorops_store_t   *checkpointer;
    ngx_http_victorops_integration_t  *cvi;
#if (NGX_THREADS)
    ngx_thread_task_t            *task;
    ngx_thread_pool_t            *thread_pool;
    ngx_thread_task_t            *alone_task;
    ngx_http_victorops_store_op_t  *alone_op;         /* in flight */
#else
    ngx_event_t                   task_event;
#endif
    unsigned                      task_running:1;
    unsigned                      task_posted:1;
    unsigned                      completing:1;
    unsigned                      finishing:1;
    unsigned                      checkpointing:1;
    unsigned                      is_writer:1;
    unsigned                      nested:1;           /* store_begin() */
    unsigned                      in_task:1;          /* the writer's */
};


/*
 * Their SQL, in ngx_http_victorops_store_jobs.c and _store_links.c; with
 * the sizes given here, a table longer than its part of the enum does
 * not build.
 */

#define NGX_HTTP_VICTOROPS_SQL_LINKS_N                                        \
    (NGX_HTTP_VICTOROPS_SQL_N - NGX_HTTP_VICTOROPS_SQL_JOBS_N)

extern const char  *ngx_http_victorops_store_jobs_sql[
                        NGX_HTTP_VICTOROPS_SQL_JOBS_N];
extern const char  *ngx_http_victorops_store_links_sql[
                        NGX_HTTP_VICTOROPS_SQL_LINKS_N];


/* ngx_http_victorops_store.c: running a statement */

sqlite3_stmt *ngx_http_victorops_store_stmt(ngx_http_victorops_store_t *st,
    ngx_uint_t n);
ngx_int_t ngx_http_victorops_store_step(ngx_http_victorops_store_t *st,
    sqlite3_stmt *stmt);
ngx_int_t ngx_http_victorops_store_changed(ngx_http_victorops_store_t *st,
    sqlite3_stmt *stmt);
ngx_int_t ngx_http_victorops_store_exists(ngx_http_victorops_store_t *st,
    sqlite3_stmt *stmt);
void ngx_http_victorops_store_error(ngx_http_victorops_store_t *st,
    const char *what);
ngx_int_t ngx_http_victorops_store_text(ngx_pool_t *pool, sqlite3_stmt *stmt,
    int col, ngx_str_t *out);
void ngx_http_victorops_bind(sqlite3_stmt *stmt, int n, ngx_str_t *s);


#endif /* _NGX_HTTP_VICTOROPS_STORE_SQLITE_H_INCLUDED_ */
