
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


/*
 * The store's operations.  The event loop posts an op (store_post());
 * the backend runs it away from the loop, with whatever other ops are
 * waiting, in one transaction, and calls its "handler" on the loop once
 * it is on disk (or failed: "rc" NGX_ERROR).  Until then the op and all
 * it points to are the backend's: nothing of it may live in a request's
 * pool.
 *
 *   APPEND    accepted jobs ("items": pending_t), each with its duplicate
 *             keys and effects; a pending's "duplicate" says whether a
 *             key of it was taken already (nothing of it written)
 *   CLAIM     up to "n" due jobs leased until "lease", into "jobs"
 *             (job_t, their strings in "pool")
 *   OUTCOMES  what became of claimed jobs ("items": outcome_t), each
 *             with its effects; an outcome's "rc" NGX_DECLINED: its lease
 *             had run out (nothing written)
 *   EXEC      "exec" (a store function, with "data") in the transaction,
 *             or after it ("alone": a checkpoint); its "rc" is the op's
 *   EXPIRE    PostgreSQL's alone (store_pg.c), the op of a chores_t:
 *             what its flags ask (jobs whose lease ran out back to the
 *             queue, whichever node held them; old duplicate records
 *             and Rootly event ids; retention), how many of each in its
 *             counts
 *
 * "exec" runs where the backend runs ops (the SQLite backend: a thread of
 * nginx's pool): it may call the store*.h functions with the "vi" given,
 * and nothing of the event loop.  On a PostgreSQL store an EXEC runs
 * "pg_exec" instead, on the loop: it adds the op's queries to the batch
 * given (and its handler of their answers, "data" the op); the op's
 * "rc" is NGX_ERROR if a query failed, else as the handler left it.
 */

#define NGX_HTTP_VICTOROPS_OP_APPEND    0
#define NGX_HTTP_VICTOROPS_OP_CLAIM     1
#define NGX_HTTP_VICTOROPS_OP_OUTCOMES  2
#define NGX_HTTP_VICTOROPS_OP_EXEC      3
#define NGX_HTTP_VICTOROPS_OP_EXPIRE    4


typedef struct ngx_http_victorops_store_op_s  ngx_http_victorops_store_op_t;

typedef ngx_int_t (*ngx_http_victorops_store_exec_pt)(
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_store_op_t *op);
typedef void (*ngx_http_victorops_store_done_pt)(
    ngx_http_victorops_store_op_t *op);
typedef ngx_int_t (*ngx_http_victorops_store_pg_exec_pt)(
    ngx_http_victorops_pgb_t *b, ngx_http_victorops_store_op_t *op);


struct ngx_http_victorops_store_op_s {
    ngx_queue_t                   queue;          /* the backend's */
    ngx_uint_t                    type;
    ngx_http_victorops_integration_t  *integration;
    ngx_http_victorops_store_done_pt  handler;
    void                         *data;
    int64_t                       now;
    ngx_int_t                     rc;

    ngx_queue_t                   items;          /* APPEND, OUTCOMES */

    ngx_pool_t                   *pool;           /* APPEND, CLAIM */
    ngx_uint_t                    n;
    int64_t                       lease;
    ngx_array_t                   jobs;

    ngx_http_victorops_store_exec_pt  exec;       /* EXEC */
    ngx_http_victorops_store_pg_exec_pt  pg_exec; /* EXEC, PostgreSQL */
    unsigned                      alone:1;
};


typedef ngx_int_t (*ngx_http_victorops_store_rows_pt)(void *call,
    struct pg_result *res);


/*
 * An EXEC made by a feature (store_thread.c): the op first, then what
 * its exec needs, all in "pool", the call's own; "done" runs on the
 * loop, with "request" NULL if the request went away meanwhile (or the
 * worker is closing: nothing may be answered), or if nobody waits (a
 * write that only logs how it went).
 */

typedef struct {
    ngx_http_victorops_store_op_t     op;
    ngx_pool_t                       *pool;
    ngx_http_request_t               *request;
    ngx_pool_cleanup_t               *cleanup;    /* in the request's pool */
    ngx_http_victorops_store_done_pt  done;

    /*
     * A PostgreSQL store's form of the same call (store_pg_call.c): one
     * query, given with store_call_sql() and its parameters, answered on
     * the loop; "rows" reads its result into the call (NULL: rows or
     * none make the op's "rc" NGX_OK or NGX_DECLINED), then "done" runs
     * as after the EXEC.  A feature gives both forms.
     */
    ngx_http_victorops_pg_query_t    *pgq;
    ngx_http_victorops_store_rows_pt  rows;
} ngx_http_victorops_store_call_t;


/*
 * The dispatcher's chores (queue.c): an EXEC on SQLite (the queue's
 * exec runs them), an EXPIRE on PostgreSQL; flags to do, counts done.
 */

typedef struct {
    ngx_http_victorops_store_op_t      op;
    ngx_uint_t                         leases;
    ngx_uint_t                         dedup;
    ngx_uint_t                         retain;
    ngx_uint_t                         expired;
    ngx_uint_t                         dead;
    ngx_uint_t                         links;
    ngx_uint_t                         batch;      /* retention's */
    ngx_msec_t                         duplicate_window;
    time_t                             retention;
} ngx_http_victorops_chores_t;


/* APPEND: an accepted job, copied out of its request */

typedef struct {
    ngx_queue_t                   queue;
    ngx_http_request_t           *request;        /* NULL: it went away */
    ngx_pool_cleanup_t           *cleanup;        /* in the request's pool */
    ngx_http_victorops_accept_t   accept;
    ngx_uint_t                    duplicate;
    unsigned                      committing:1;   /* the writer's */
} ngx_http_victorops_pending_t;


/* OUTCOMES: a claimed job's outcome (op: NGX_HTTP_VICTOROPS_DONE...) */

typedef struct {
    ngx_queue_t                   queue;
    ngx_uint_t                    op;
    int64_t                       seq;
    int64_t                       token;          /* PostgreSQL's lease */
    int64_t                       at;
    ngx_uint_t                    status;
    ngx_int_t                     rc;
    ngx_str_t                     error;
    ngx_str_t                     alert;
    ngx_str_t                     key;
    ngx_str_t                     incident;
    ngx_str_t                     entity;
    ngx_str_t                     creating;       /* PostgreSQL: the job's
                                                     create mark, to drop */
    ngx_http_victorops_effects_t *effects;
    unsigned                      kept:1;         /* sent again */
} ngx_http_victorops_outcome_t;


ngx_int_t ngx_http_victorops_store_prepare(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_store_open(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_store_close(ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_store_begin(ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_store_commit(
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_store_rollback(ngx_http_victorops_integration_t *vi);


#endif /* _NGX_HTTP_VICTOROPS_STORE_H_INCLUDED_ */
