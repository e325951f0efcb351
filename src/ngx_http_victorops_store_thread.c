
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The SQLite backend of the store's operations (store.h): the ops a
 * worker posts for an integration wait in a queue; one task at a time
 * takes all of them and runs them in one transaction (group commit
 * across appends, claims and outcomes) on the store's writer
 * connection, in a thread of nginx's pool; when the task completes,
 * each op's handler runs on the event loop, then the next task starts
 * with what was posted meanwhile.  The event loop never uses the writer
 * connection: its reads (and the rarer writes of the other files) go
 * through a connection of its own.  The checkpoint, an op that runs
 * alone, has a connection and a task of its own beside the writer's.
 *
 * Without thread support the same tasks run in a posted event.  A
 * worker that exits with a task in flight waits for it (a timer that is
 * not cancelable keeps it up), and at its very end, after the thread
 * pool has finished every task, completes what is left here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_store_sqlite.h"


#define NGX_HTTP_VICTOROPS_TASK_WAIT  3600000

/* WAL pages past which the writer restarts the WAL itself (32 MB) */
#define NGX_HTTP_VICTOROPS_WAL_RESTART  4096


static void ngx_http_victorops_store_start_handler(ngx_event_t *ev);
static void ngx_http_victorops_store_start(ngx_http_victorops_store_t *st);
#if (NGX_THREADS)
static void ngx_http_victorops_store_thread(void *data, ngx_log_t *log);
#endif
static void ngx_http_victorops_store_task_handler(ngx_event_t *ev);
static void ngx_http_victorops_store_wait_handler(ngx_event_t *ev);
static void ngx_http_victorops_store_task(ngx_http_victorops_store_t *st);
static ngx_int_t ngx_http_victorops_store_group(
    ngx_http_victorops_store_t *st, ngx_http_victorops_store_op_t *one);
static void ngx_http_victorops_store_wal_restart(
    ngx_http_victorops_store_t *st);
static ngx_int_t ngx_http_victorops_store_tx(ngx_http_victorops_store_t *w,
    const char *sql);
static ngx_int_t ngx_http_victorops_store_op(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_store_task_time(ngx_http_victorops_store_t *st,
    struct timespec *cpu, ngx_atomic_uint_t us, ngx_uint_t appends);
static void ngx_http_victorops_store_task_done(
    ngx_http_victorops_store_t *st);
#if (NGX_THREADS)
static void ngx_http_victorops_store_alone(void *data, ngx_log_t *log);
static void ngx_http_victorops_store_alone_handler(ngx_event_t *ev);
#endif
static ngx_int_t ngx_http_victorops_store_append(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static ngx_int_t ngx_http_victorops_store_pending(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_pending_t *p,
    int64_t now);
static ngx_int_t ngx_http_victorops_store_dup(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_dup_t *dup,
    int64_t now);
static ngx_int_t ngx_http_victorops_store_outcomes(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static ngx_int_t ngx_http_victorops_store_outcome(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_outcome_t *o,
    int64_t now);
static ngx_int_t ngx_http_victorops_store_effects(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_effects_t *fx,
    int64_t now);
static void ngx_http_victorops_store_call_cleanup(void *data);
static void ngx_http_victorops_store_called(
    ngx_http_victorops_store_op_t *op);
static ngx_int_t ngx_http_victorops_checkpoint_exec(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_checkpoint_done(
    ngx_http_victorops_store_op_t *op);


/* in each worker, once both connections are open (store_open()) */

ngx_int_t
ngx_http_victorops_store_thread_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_store_t *st)
{
    ngx_queue_init(&st->ops);
    ngx_queue_init(&st->running);

    st->dummy.fd = (ngx_socket_t) -1;
    st->dummy.data = st;

    st->start_event.handler = ngx_http_victorops_store_start_handler;
    st->start_event.data = &st->dummy;
    st->start_event.log = cycle->log;

    st->wait_event.handler = ngx_http_victorops_store_wait_handler;
    st->wait_event.data = &st->dummy;
    st->wait_event.log = cycle->log;

    st->checkpoint_op.type = NGX_HTTP_VICTOROPS_OP_EXEC;
    st->checkpoint_op.integration = vi;
    st->checkpoint_op.exec = ngx_http_victorops_checkpoint_exec;
    st->checkpoint_op.handler = ngx_http_victorops_checkpoint_done;
    st->checkpoint_op.data = st;
    st->checkpoint_op.alone = 1;

#if (NGX_THREADS)

    st->thread_pool = vi->thread_pool;

    st->task = ngx_thread_task_alloc(cycle->pool, 0);
    if (st->task == NULL) {
        return NGX_ERROR;
    }

    st->task->ctx = st;
    st->task->handler = ngx_http_victorops_store_thread;
    st->task->event.handler = ngx_http_victorops_store_task_handler;
    st->task->event.data = &st->dummy;
    st->task->event.log = cycle->log;

    if (st->checkpointer) {
        st->alone_task = ngx_thread_task_alloc(cycle->pool, 0);
        if (st->alone_task == NULL) {
            return NGX_ERROR;
        }

        st->alone_task->ctx = st;
        st->alone_task->handler = ngx_http_victorops_store_alone;
        st->alone_task->event.handler = ngx_http_victorops_store_alone_handler;
        st->alone_task->event.data = &st->dummy;
        st->alone_task->event.log = cycle->log;
    }

#else

    st->task_event.handler = ngx_http_victorops_store_task_handler;
    st->task_event.data = &st->dummy;
    st->task_event.log = cycle->log;

#endif

    return NGX_OK;
}


/*
 * The one way to the store's writer: "op" waits for the next task;
 * every op posted in this event-loop turn goes in the same one.  A
 * PostgreSQL store's ops go to its connection instead (store_pg.c), its
 * APPENDs through its spool (store_spool.c), which decides.
 */

void
ngx_http_victorops_store_post(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_store_t  *st;

    if (vi->store_pg) {
        if (op->type == NGX_HTTP_VICTOROPS_OP_APPEND && vi->spool) {
            ngx_http_victorops_spool_post(vi, op);
            return;
        }

        ngx_http_victorops_store_pg_post(vi, op);
        return;
    }

    st = vi->st;

    op->rc = NGX_OK;

#if (NGX_THREADS)

    /*
     * An op that runs alone (a checkpoint) has a connection and a task
     * of its own, beside the writer's: copying the WAL into the database
     * and its fsync never hold up a commit.
     */

    if (op->alone && st->alone_task && st->alone_op == NULL
        && !st->finishing)
    {
        st->alone_op = op;

        if (ngx_thread_task_post(st->thread_pool, st->alone_task) == NGX_OK) {
            return;
        }

        st->alone_op = NULL;
    }

#endif

    ngx_queue_insert_tail(&st->ops, &op->queue);

    if (!st->task_running && !st->completing && !st->start_event.posted) {
        ngx_post_event(&st->start_event, &ngx_posted_events);
    }
}


static void
ngx_http_victorops_store_start_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    ngx_http_victorops_store_start(c->data);
}


static void
ngx_http_victorops_store_start(ngx_http_victorops_store_t *st)
{
    if (st->task_running || ngx_queue_empty(&st->ops)) {
        return;
    }

    /* the task takes every op waiting */

    st->running = st->ops;
    st->running.next->prev = &st->running;
    st->running.prev->next = &st->running;
    ngx_queue_init(&st->ops);

    st->task_running = 1;

    /* a worker exiting gracefully waits for the task */

    ngx_add_timer(&st->wait_event, NGX_HTTP_VICTOROPS_TASK_WAIT);

#if (NGX_THREADS)

    if (!st->finishing
        && ngx_thread_task_post(st->thread_pool, st->task) == NGX_OK)
    {
        return;
    }

    /* the pool's queue is full: on the event loop, this once */

    ngx_http_victorops_store_task(st);
    ngx_http_victorops_store_task_done(st);

#else

    if (st->finishing) {
        ngx_http_victorops_store_task(st);
        ngx_http_victorops_store_task_done(st);
        return;
    }

    st->task_posted = 1;
    ngx_post_event(&st->task_event, &ngx_posted_events);

#endif
}


#if (NGX_THREADS)

static void
ngx_http_victorops_store_thread(void *data, ngx_log_t *log)
{
    ngx_http_victorops_store_task(data);
}

#endif


static void
ngx_http_victorops_store_task_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c;
    ngx_http_victorops_store_t  *st;

    c = ev->data;
    st = c->data;

    if (st->task_posted) {

        /* without threads: the task runs here */

        st->task_posted = 0;
        ngx_http_victorops_store_task(st);
    }

    ngx_http_victorops_store_task_done(st);
}


#if (NGX_THREADS)

static void
ngx_http_victorops_store_alone(void *data, ngx_log_t *log)
{
    ngx_http_victorops_store_t  *st = data;

    ngx_http_victorops_store_op_t  *op;

    op = st->alone_op;

    st->checkpointer->in_task = 1;
    op->rc = op->exec(st->cvi, op);
    st->checkpointer->in_task = 0;
}


static void
ngx_http_victorops_store_alone_handler(ngx_event_t *ev)
{
    ngx_connection_t               *c;
    ngx_http_victorops_store_t     *st;
    ngx_http_victorops_store_op_t  *op;

    c = ev->data;
    st = c->data;

    op = st->alone_op;
    st->alone_op = NULL;

    op->handler(op);
}

#endif


static void
ngx_http_victorops_store_wait_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c;
    ngx_http_victorops_store_t  *st;

    c = ev->data;
    st = c->data;

    if (st->task_running) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "victorops store \"%V\": a task has been running for "
                      "an hour", &st->path);

        ngx_add_timer(ev, NGX_HTTP_VICTOROPS_TASK_WAIT);
    }
}


/*
 * The task, off the event loop: the ops in one transaction, then the
 * ops that run alone.  An op that fails undoes the transaction; each of
 * the others is then tried again in one of its own, so that only it
 * fails (savepoints would copy every page they touch to a journal).
 */

static void
ngx_http_victorops_store_task(ngx_http_victorops_store_t *st)
{
    ngx_int_t                          rc;
    ngx_uint_t                         n, appends;
    ngx_queue_t                       *q;
    struct timespec                    cpu, wall, end;
    ngx_atomic_uint_t                  us;
    ngx_http_victorops_store_op_t     *op;

    (void) clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    (void) clock_gettime(CLOCK_MONOTONIC, &wall);

    st->writer->in_task = 1;

    n = 0;
    appends = 0;

    for (q = ngx_queue_head(&st->running);
         q != ngx_queue_sentinel(&st->running);
         q = ngx_queue_next(q))
    {
        op = ngx_queue_data(q, ngx_http_victorops_store_op_t, queue);
        n += !op->alone;
        appends += (op->type == NGX_HTTP_VICTOROPS_OP_APPEND);
    }

    rc = n ? ngx_http_victorops_store_group(st, NULL) : NGX_OK;

    for (q = ngx_queue_head(&st->running);
         rc == NGX_DECLINED && n > 1 && q != ngx_queue_sentinel(&st->running);
         q = ngx_queue_next(q))
    {
        op = ngx_queue_data(q, ngx_http_victorops_store_op_t, queue);

        if (!op->alone) {
            (void) ngx_http_victorops_store_group(st, op);
        }
    }

    (void) clock_gettime(CLOCK_MONOTONIC, &end);

    us = (end.tv_sec - wall.tv_sec) * 1000000
         + (end.tv_nsec - wall.tv_nsec) / 1000;

    for (q = ngx_queue_head(&st->running);
         q != ngx_queue_sentinel(&st->running);
         q = ngx_queue_next(q))
    {
        op = ngx_queue_data(q, ngx_http_victorops_store_op_t, queue);

        if (op->alone) {
            op->rc = op->exec(st->wvi, op);
        }
    }

    st->writer->in_task = 0;

    ngx_http_victorops_store_task_time(st, &cpu, us, appends);
}


/*
 * The task's ops ("one": that op alone) in one transaction: NGX_OK
 * committed, NGX_DECLINED an op failed, NGX_ERROR the transaction did;
 * unless NGX_OK, nothing of them is on disk (their "rc" NGX_ERROR).
 */

static ngx_int_t
ngx_http_victorops_store_group(ngx_http_victorops_store_t *st,
    ngx_http_victorops_store_op_t *one)
{
    ngx_int_t                       rc;
    ngx_queue_t                    *q;
    ngx_http_victorops_store_op_t  *op;

    rc = ngx_http_victorops_store_tx(st->writer, "BEGIN IMMEDIATE");

    for (q = ngx_queue_head(&st->running);
         rc == NGX_OK && q != ngx_queue_sentinel(&st->running);
         q = ngx_queue_next(q))
    {
        op = ngx_queue_data(q, ngx_http_victorops_store_op_t, queue);

        if (op->alone || (one && op != one)) {
            continue;
        }

        op->rc = ngx_http_victorops_store_op(st->wvi, op);

        if (op->rc == NGX_ERROR) {
            rc = NGX_DECLINED;
        }
    }

    if (rc == NGX_OK) {
        rc = ngx_http_victorops_store_tx(st->writer, "COMMIT");
    }

    if (rc == NGX_OK) {
        ngx_http_victorops_store_wal_restart(st);
        return NGX_OK;
    }

    (void) sqlite3_exec(st->writer->db, "ROLLBACK", NULL, NULL, NULL);

    for (q = ngx_queue_head(&st->running);
         q != ngx_queue_sentinel(&st->running);
         q = ngx_queue_next(q))
    {
        op = ngx_queue_data(q, ngx_http_victorops_store_op_t, queue);

        if (!op->alone && (one == NULL || op == one)) {
            op->rc = NGX_ERROR;
            op->jobs.nelts = 0;
        }
    }

    return rc;
}


/*
 * Under sustained load the checkpointer beside the writer never copies
 * the whole WAL (the writer keeps adding to it), and the WAL starts over
 * only after a checkpoint copied all of it: it would grow as long as the
 * load lasts.  Past NGX_HTTP_VICTOROPS_WAL_RESTART pages the writer
 * copies it and restarts it itself, between two transactions: its next
 * task waits meanwhile, the event loop does not.
 */

static void
ngx_http_victorops_store_wal_restart(ngx_http_victorops_store_t *st)
{
    int                          rc, log, done;
    ngx_http_victorops_store_t  *w;

    w = st->writer;

    if (w->wal_frames < NGX_HTTP_VICTOROPS_WAL_RESTART) {
        return;
    }

    rc = sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_RESTART,
                                   &log, &done);

    if (rc == SQLITE_OK) {
        w->wal_frames = 0;

        if (w->sh) {
            (void) ngx_atomic_fetch_add(&w->sh->wal_restarts, 1);
        }

    } else if (rc != SQLITE_BUSY) {
        ngx_http_victorops_store_error(w, "checkpoint");
    }
}


static ngx_int_t
ngx_http_victorops_store_tx(ngx_http_victorops_store_t *w, const char *sql)
{
    if (sqlite3_exec(w->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        ngx_http_victorops_store_error(w, sql);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* one op, in the task's transaction */

static ngx_int_t
ngx_http_victorops_store_op(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    switch (op->type) {

    case NGX_HTTP_VICTOROPS_OP_APPEND:
        return ngx_http_victorops_store_append(wvi, op);

    case NGX_HTTP_VICTOROPS_OP_CLAIM:
        op->jobs.nelts = 0;

        return ngx_http_victorops_store_claim(wvi, op->pool, op->now,
                                              op->lease, op->n, &op->jobs);

    case NGX_HTTP_VICTOROPS_OP_OUTCOMES:
        return ngx_http_victorops_store_outcomes(wvi, op);

    default: /* NGX_HTTP_VICTOROPS_OP_EXEC */
        return op->exec(wvi, op);
    }
}


/*
 * The thread's CPU time in every task and, in the status endpoint's
 * "store", the commits of accepted jobs (tasks with appends) and their
 * wall time until COMMIT returned (ops run alone after it not included):
 * shared counters, atomic, so counted from the thread.
 */

static void
ngx_http_victorops_store_task_time(ngx_http_victorops_store_t *st,
    struct timespec *cpu, ngx_atomic_uint_t us, ngx_uint_t appends)
{
    ngx_atomic_uint_t  cpu_us;
    struct timespec    end;

    if (st->sh == NULL) {
        return;
    }

    (void) clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end);

    cpu_us = (end.tv_sec - cpu->tv_sec) * 1000000
             + (end.tv_nsec - cpu->tv_nsec) / 1000;

    (void) ngx_atomic_fetch_add(&st->sh->tasks, 1);
    (void) ngx_atomic_fetch_add(&st->sh->thread_cpu_us, cpu_us);

    if (appends == 0) {
        return;
    }

    (void) ngx_atomic_fetch_add(&st->sh->commits, 1);
    (void) ngx_atomic_fetch_add(&st->sh->commit_us, us);

    if (us > st->sh->commit_us_max) {
        st->sh->commit_us_max = us;
    }
}


/* back on the event loop: each op's handler, then the next task */

static void
ngx_http_victorops_store_task_done(ngx_http_victorops_store_t *st)
{
    ngx_queue_t                    *q, done;
    ngx_http_victorops_store_op_t  *op;

    done = st->running;
    done.next->prev = &done;
    done.prev->next = &done;
    ngx_queue_init(&st->running);

    st->task_running = 0;
    st->wal_seen = st->writer->wal_frames;

    if (st->wait_event.timer_set) {
        ngx_del_timer(&st->wait_event);
    }

    /* what the handlers post waits for the next task, all of it */

    st->completing = 1;

    while (!ngx_queue_empty(&done)) {
        q = ngx_queue_head(&done);
        ngx_queue_remove(q);

        op = ngx_queue_data(q, ngx_http_victorops_store_op_t, queue);

        op->handler(op);
    }

    st->completing = 0;

    if (!ngx_queue_empty(&st->ops)) {
        ngx_http_victorops_store_start(st);
    }
}


/*
 * A worker's end, after the thread pool has exited (its module's
 * exit_process() runs before this module's): a task that was in flight
 * has run; it completes here, and what is still waiting runs on the
 * event loop, until nothing is.
 */

void
ngx_http_victorops_store_finish(ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_store_t  *st;

    st = vi->st;

    if (st == NULL || st->writer == NULL) {
        return;
    }

    st->finishing = 1;

#if (NGX_THREADS)

    if (st->alone_op) {
        ngx_http_victorops_store_alone_handler(&st->alone_task->event);
    }

#endif

    if (st->start_event.posted) {
        ngx_delete_posted_event(&st->start_event);
    }

#if !(NGX_THREADS)

    if (st->task_event.posted) {
        ngx_delete_posted_event(&st->task_event);
    }

#endif

    if (st->task_running) {
        if (st->task_posted) {
            st->task_posted = 0;
            ngx_http_victorops_store_task(st);
        }

        ngx_http_victorops_store_task_done(st);
    }

    while (!ngx_queue_empty(&st->ops)) {
        ngx_http_victorops_store_start(st);
    }
}


/* APPEND: accepted jobs, but those whose duplicate keys are taken */

static ngx_int_t
ngx_http_victorops_store_append(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_queue_t                   *q;
    ngx_http_victorops_pending_t  *p;

    for (q = ngx_queue_head(&op->items);
         q != ngx_queue_sentinel(&op->items);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_victorops_pending_t, queue);

        if (ngx_http_victorops_store_pending(wvi, p, op->now) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * One accepted job, unless a duplicate key of it is taken already:
 * then nothing of it is written (the keys claimed before it stay).
 */

static ngx_int_t
ngx_http_victorops_store_pending(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_pending_t *p, int64_t now)
{
    ngx_int_t                     rc;
    ngx_uint_t                    i;
    ngx_http_victorops_accept_t  *a;

    a = &p->accept;

    a->job.created = now;
    p->duplicate = 0;

    for (i = 0; i < NGX_HTTP_VICTOROPS_DUPS_MAX && a->dups[i].type; i++) {
        rc = ngx_http_victorops_store_dup(wvi, &a->dups[i], now);

        if (rc == NGX_DECLINED) {
            p->duplicate = 1;
            return NGX_OK;
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    rc = ngx_http_victorops_store_insert(wvi, &a->job);

    if (rc == NGX_OK && a->effects) {
        rc = ngx_http_victorops_store_effects(wvi, a->effects, now);
    }

    return rc;
}


/* NGX_DECLINED: the store holds the key already */

static ngx_int_t
ngx_http_victorops_store_dup(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_dup_t *dup, int64_t now)
{
    ngx_int_t  rc;

    switch (dup->type) {

    case NGX_HTTP_VICTOROPS_DUP_HASH:

        /* claimed in the shared index (dedup.c): only recorded */

        rc = ngx_http_victorops_store_dedup_claim(wvi, dup->key.data,
                                         dup->key.len, now,
                                         dup->claimed
                                         ? now : now - (int64_t) dup->window);

        return (rc == NGX_DECLINED && dup->claimed) ? NGX_OK : rc;

    case NGX_HTTP_VICTOROPS_DUP_EVENT:
        return ngx_http_victorops_store_event_seen(wvi, &dup->key, now);

    default: /* NGX_HTTP_VICTOROPS_DUP_SIGNATURE */
        return ngx_http_victorops_store_signature_claim(wvi, dup->key.data,
                                                        dup->key.len, now);
    }
}


/* OUTCOMES: each on its own; one that fails does not stop the others */

static ngx_int_t
ngx_http_victorops_store_outcomes(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_queue_t                   *q;
    ngx_http_victorops_outcome_t  *o;

    for (q = ngx_queue_head(&op->items);
         q != ngx_queue_sentinel(&op->items);
         q = ngx_queue_next(q))
    {
        o = ngx_queue_data(q, ngx_http_victorops_outcome_t, queue);

        o->rc = ngx_http_victorops_store_outcome(wvi, o, op->now);

        if (o->rc != NGX_DECLINED && o->effects) {
            (void) ngx_http_victorops_store_effects(wvi, o->effects, op->now);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_store_outcome(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_outcome_t *o, int64_t now)
{
    ngx_str_t                 none = ngx_null_string;
    ngx_http_victorops_job_t  job;

    ngx_memzero(&job, sizeof(ngx_http_victorops_job_t));

    job.seq = o->seq;

    switch (o->op) {

    case NGX_HTTP_VICTOROPS_DONE:
        if (o->alert.len) {
            (void) ngx_http_victorops_store_link_set(wvi, &o->key,
                                                     &o->incident,
                                                     &o->entity, &none,
                                                     &o->alert, now);
        }

        return ngx_http_victorops_store_done(wvi, &job);

    case NGX_HTTP_VICTOROPS_RETRY:
        return ngx_http_victorops_store_retry(wvi, &job, o->at, o->status,
                                              &o->error);

    case NGX_HTTP_VICTOROPS_RELEASE:
        return ngx_http_victorops_store_release(wvi, &job, o->at);

    default: /* NGX_HTTP_VICTOROPS_DEAD */
        return ngx_http_victorops_store_dead(wvi, &job, o->status,
                                             &o->error, o->at);
    }
}


/* the links a job changes and the jobs it leaves to do */

static ngx_int_t
ngx_http_victorops_store_effects(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_effects_t *fx, int64_t now)
{
    ngx_uint_t                  i;
    ngx_http_victorops_job_t   *job;
    ngx_http_victorops_link_t  *link;

    link = fx->links.elts;

    for (i = 0; i < fx->links.nelts; i++) {
        if (ngx_http_victorops_store_link_write(wvi, &link[i], now)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    job = fx->jobs.elts;

    for (i = 0; i < fx->jobs.nelts; i++) {
        job[i].created = now;

        if (ngx_http_victorops_store_insert(wvi, &job[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The way a feature writes: an EXEC of "size" bytes (a struct that
 * begins with a store_call_t), in a pool of its own that the feature
 * fills with what "exec" needs; NULL: no store (or it is closing).
 */

void *
ngx_http_victorops_store_call(ngx_http_victorops_integration_t *vi,
    size_t size, ngx_http_victorops_store_exec_pt exec,
    ngx_http_victorops_store_done_pt done)
{
    ngx_pool_t                       *pool;
    ngx_http_victorops_store_call_t  *call;

    if (!ngx_http_victorops_has_store(vi) || vi->closing) {
        return NULL;
    }

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    call = ngx_pcalloc(pool, size);
    if (call == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    call->pool = pool;
    call->done = done;

    call->op.type = NGX_HTTP_VICTOROPS_OP_EXEC;
    call->op.integration = vi;
    call->op.exec = exec;
    call->op.handler = ngx_http_victorops_store_called;
    call->op.data = call;
    call->op.now = ngx_http_victorops_now();

    return call;
}


/*
 * Posts the call, for request "r" (NULL: nobody waits); NGX_ERROR: not
 * posted, its pool gone.  A request that goes away meanwhile leaves it:
 * it is written all the same.
 */

ngx_int_t
ngx_http_victorops_store_call_post(ngx_http_request_t *r, void *data)
{
    ngx_http_victorops_store_call_t  *call = data;

    ngx_pool_cleanup_t  *cln;

    if (r) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            ngx_destroy_pool(call->pool);
            return NGX_ERROR;
        }

        cln->handler = ngx_http_victorops_store_call_cleanup;
        cln->data = call;

        call->request = r;
        call->cleanup = cln;
    }

    /* PostgreSQL: the call's query, or its op's pg_exec (store_pg.c) */

    if (call->op.integration->store_pg && call->op.pg_exec == NULL) {
        ngx_http_victorops_store_pg_call(call);
        return NGX_OK;
    }

    ngx_http_victorops_store_post(call->op.integration, &call->op);

    return NGX_OK;
}


static void
ngx_http_victorops_store_call_cleanup(void *data)
{
    ngx_http_victorops_store_call_t  *call = data;

    call->request = NULL;
}


/*
 * The request answered without its calls' answers: they are written all
 * the same, and their answers go nowhere
 */

void
ngx_http_victorops_store_call_leave(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *c;

    for (c = r->pool->cleanup; c; c = c->next) {
        if (c->handler == ngx_http_victorops_store_call_cleanup) {
            ngx_http_victorops_store_call_cleanup(c->data);
            c->handler = NULL;
        }
    }
}


static void
ngx_http_victorops_store_called(ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_store_call_t  *call = op->data;

    if (call->request) {
        call->cleanup->handler = NULL;

        if (op->integration->closing) {
            call->request = NULL;
        }
    }

    call->done(op);

    ngx_destroy_pool(call->pool);
}


/*
 * Copies the WAL into the database as far as readers allow, without
 * waiting, once it holds "frames" pages (SQLite's default is 1000): an
 * op that runs alone, on the checkpointer's connection beside the
 * writer's (without threads: after a task's commit), never inside a
 * commit and never on the event loop.
 */

void
ngx_http_victorops_store_checkpoint(ngx_http_victorops_integration_t *vi,
    int frames)
{
    ngx_http_victorops_store_t  *st;

    st = vi->st;

    if (st->checkpointing
        || ngx_max(st->wal_frames, st->wal_seen) < frames)
    {
        return;
    }

    st->checkpointing = 1;
    st->wal_frames = 0;
    st->wal_seen = 0;

    ngx_http_victorops_store_post(vi, &st->checkpoint_op);
}


static ngx_int_t
ngx_http_victorops_checkpoint_exec(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    int                          rc, log, done;
    ngx_http_victorops_store_t  *w;

    w = wvi->st;

    w->wal_frames = 0;

    rc = sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                   &log, &done);

    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        ngx_http_victorops_store_error(w, "checkpoint");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_victorops_checkpoint_done(ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_store_t  *st = op->data;

    st->checkpointing = 0;
}
