
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The durable queue.  Accepting, the one way in: the jobs handlers
 * hand over in one event-loop turn are written in one transaction
 * (group commit) with their duplicate keys and effects, and their
 * replies called once it has committed.  Dispatching: a timer in every
 * worker claims due jobs with a lease and hands each to the sender of
 * its kind (job.c), counted in flight until the sender records the
 * outcome: delivered, retried with backoff, released (a rate limit),
 * or dead-lettered.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_CLAIM_MAX     32
#define NGX_HTTP_VICTOROPS_INFLIGHT_MAX  64
#define NGX_HTTP_VICTOROPS_POLL          1000
#define NGX_HTTP_VICTOROPS_LEASE_EXTRA   5000
#define NGX_HTTP_VICTOROPS_RETRY_BASE    1000
#define NGX_HTTP_VICTOROPS_LEASE_CHECK   5000
#define NGX_HTTP_VICTOROPS_CHECKPOINT    60000
#define NGX_HTTP_VICTOROPS_EVENTS_KEPT   86400000
#define NGX_HTTP_VICTOROPS_RETAIN_EVERY  60000
#define NGX_HTTP_VICTOROPS_RETAIN_BATCH  500
#define NGX_HTTP_VICTOROPS_SIGNATURES_KEPT  86400000
/* outcomes kept while PostgreSQL is away: how often to look for it */
#define NGX_HTTP_VICTOROPS_OUTCOME_RETRY  250

/* PostgreSQL: a batch that grew to this goes even while one is in flight */
#define NGX_HTTP_VICTOROPS_PG_APPEND_MAX  256


/* a batch of accepted jobs, from its collection until its commit */

typedef struct {
    ngx_http_victorops_store_op_t      op;
    ngx_queue_t                        link;       /* vi->appends */
} ngx_http_victorops_batch_t;


/* the dispatcher's claim of due jobs */

typedef struct {
    ngx_http_victorops_store_op_t      op;
    ngx_uint_t                         room;
} ngx_http_victorops_claim_t;


static void ngx_http_victorops_pending_cleanup(void *data);
static ngx_int_t ngx_http_victorops_accept_copy(ngx_pool_t *pool,
    ngx_http_victorops_accept_t *dst, ngx_http_victorops_accept_t *src);
static ngx_int_t ngx_http_victorops_job_dup(ngx_pool_t *pool,
    ngx_http_victorops_job_t *dst, ngx_http_victorops_job_t *src);
static ngx_int_t ngx_http_victorops_effects_copy(ngx_pool_t *pool,
    ngx_http_victorops_effects_t **dst, ngx_http_victorops_effects_t *src);
static void ngx_http_victorops_commit_handler(ngx_event_t *ev);
static void ngx_http_victorops_committed(ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_outcome_post(ngx_http_victorops_job_t *job,
    ngx_uint_t op, int64_t at, ngx_uint_t status, ngx_str_t *error,
    ngx_str_t *alert, ngx_http_victorops_effects_t *fx);
static void ngx_http_victorops_outcome_handler(ngx_event_t *ev);
static void ngx_http_victorops_outcomes_post(
    ngx_http_victorops_integration_t *vi);
static void ngx_http_victorops_outcomes_done(
    ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_outcomes_keep(
    ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_outcome_retry_handler(ngx_event_t *ev);
static void ngx_http_victorops_dispatch_handler(ngx_event_t *ev);
static void ngx_http_victorops_dispatch_pg(
    ngx_http_victorops_integration_t *vi, ngx_log_t *log, int64_t now);
static void ngx_http_victorops_dispatch_expire(
    ngx_http_victorops_integration_t *vi, ngx_log_t *log, int64_t now);
static void ngx_http_victorops_dispatch_claim(
    ngx_http_victorops_integration_t *vi, ngx_log_t *log, int64_t now);
static void ngx_http_victorops_claimed(ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_dispatch_next(
    ngx_http_victorops_integration_t *vi, int64_t now, int64_t next);
static void ngx_http_victorops_dispatch_chores(
    ngx_http_victorops_integration_t *vi, ngx_log_t *log, int64_t now);
static ngx_int_t ngx_http_victorops_chores_exec(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_chores_done(ngx_http_victorops_store_op_t *op);
static ngx_uint_t ngx_http_victorops_dispatch_jobs(
    ngx_http_victorops_integration_t *vi, ngx_array_t *jobs, int64_t now,
    int64_t *next);
static void ngx_http_victorops_dispatch_at(
    ngx_http_victorops_integration_t *vi, int64_t now, int64_t at);
static u_char *ngx_http_victorops_outcome_text(u_char *buf,
    ngx_http_victorops_transfer_t *t, ngx_str_t *reason);


int64_t
ngx_http_victorops_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


void
ngx_http_victorops_count(ngx_http_victorops_integration_t *vi,
    ngx_uint_t counter)
{
    if (vi->sh) {
        (void) ngx_atomic_fetch_add(&vi->sh->counters[counter], 1);
    }
}


/* in each worker, once the integration's store is open */

ngx_int_t
ngx_http_victorops_queue_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    ngx_queue_init(&vi->batch);
    ngx_queue_init(&vi->appends);

    /* the events' "connection", as nginx's debug log expects one */

    vi->dummy.fd = (ngx_socket_t) -1;
    vi->dummy.data = vi;

    vi->commit_event.handler = ngx_http_victorops_commit_handler;
    vi->commit_event.data = &vi->dummy;
    vi->commit_event.log = cycle->log;

    ngx_queue_init(&vi->outcomes);

    vi->outcome_event.handler = ngx_http_victorops_outcome_handler;
    vi->outcome_event.data = &vi->dummy;
    vi->outcome_event.log = cycle->log;

    ngx_queue_init(&vi->outcomes_kept);

    vi->outcome_retry.handler = ngx_http_victorops_outcome_retry_handler;
    vi->outcome_retry.data = &vi->dummy;
    vi->outcome_retry.log = cycle->log;
    vi->outcome_retry.cancelable = 1;

    vi->dispatch_event.handler = ngx_http_victorops_dispatch_handler;
    vi->dispatch_event.data = &vi->dummy;
    vi->dispatch_event.log = cycle->log;
    vi->dispatch_event.cancelable = 1;

    /* whatever an earlier nginx left in the queue goes out first */

    ngx_add_timer(&vi->dispatch_event, 10);

    return NGX_OK;
}


/*
 * Before the store closes (the thread pool has exited): the last
 * outcomes are posted, and every op in flight or waiting completes;
 * what is answered then goes to requests nobody will read.
 */

void
ngx_http_victorops_queue_done(ngx_http_victorops_integration_t *vi)
{
    ngx_queue_t                   *q;
    ngx_http_victorops_pending_t  *p;

    if (vi->dispatch_event.timer_set) {
        ngx_del_timer(&vi->dispatch_event);
    }

    if (vi->dispatch_event.posted) {
        ngx_delete_posted_event(&vi->dispatch_event);
    }

    if (vi->commit_event.posted) {
        ngx_delete_posted_event(&vi->commit_event);
    }

    if (vi->outcome_event.posted) {
        ngx_delete_posted_event(&vi->outcome_event);
    }

    if (vi->outcome_retry.timer_set) {
        ngx_del_timer(&vi->outcome_retry);
    }

    if (!ngx_http_victorops_has_store(vi)) {
        return;
    }

    vi->closing = 1;

    /*
     * What the last sends and releases did goes to disk before closing
     * (a PostgreSQL store: sent; what is not answered before the
     * connection closes is lost, and the leases run out), with those
     * kept while PostgreSQL was away, a last time
     */

    if (!ngx_queue_empty(&vi->outcomes_kept)) {
        ngx_queue_add(&vi->outcomes, &vi->outcomes_kept);
        ngx_queue_init(&vi->outcomes_kept);
    }

    ngx_http_victorops_outcomes_post(vi);

    if (vi->store_pg) {

        /* APPENDs PostgreSQL could not take go to the spool, written */

        ngx_http_victorops_store_pg_finish(vi);
        ngx_http_victorops_spool_finish(vi);

    } else {
        ngx_http_victorops_store_finish(vi);
    }

    /* a batch not yet posted goes, its requests unanswered */

    while (!ngx_queue_empty(&vi->batch)) {
        q = ngx_queue_head(&vi->batch);
        ngx_queue_remove(q);

        p = ngx_queue_data(q, ngx_http_victorops_pending_t, queue);

        if (p->request) {
            p->request = NULL;
            p->cleanup->handler = NULL;
        }
    }

    if (vi->batch_pool) {
        ngx_destroy_pool(vi->batch_pool);
        vi->batch_pool = NULL;
    }
}


void
ngx_http_victorops_queue_kick(ngx_http_victorops_integration_t *vi)
{
    if (ngx_http_victorops_has_store(vi) && !vi->dispatch_event.posted
        && !vi->closing)
    {
        ngx_post_event(&vi->dispatch_event, &ngx_posted_events);
    }
}


/*
 * The one way in: a handler's job joins this turn's batch, copied into
 * the batch's pool (the request may go before the batch is on disk),
 * and written with the batch in one transaction by the store's writer
 * (group commit); "a->reply" answers request "r" once it is on disk.
 */

ngx_int_t
ngx_http_victorops_queue_accept(ngx_http_request_t *r,
    ngx_http_victorops_accept_t *a)
{
    ngx_pool_cleanup_t                *cln;
    ngx_http_victorops_pending_t      *p;
    ngx_http_victorops_integration_t  *vi;

    vi = a->job.integration;

    if (!ngx_http_victorops_has_store(vi) || vi->closing) {
        return NGX_ERROR;
    }

    if (vi->batch_pool == NULL) {
        vi->batch_pool = ngx_create_pool(16384, vi->commit_event.log);
        if (vi->batch_pool == NULL) {
            return NGX_ERROR;
        }
    }

    p = ngx_pcalloc(vi->batch_pool, sizeof(ngx_http_victorops_pending_t));
    if (p == NULL
        || ngx_http_victorops_accept_copy(vi->batch_pool, &p->accept, a)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    p->request = r;
    p->cleanup = cln;

    cln->handler = ngx_http_victorops_pending_cleanup;
    cln->data = p;

    ngx_queue_insert_tail(&vi->batch, &p->queue);

    if (!vi->commit_event.posted) {
        ngx_post_event(&vi->commit_event, &ngx_posted_events);
    }

    return NGX_OK;
}


/*
 * A request that goes away before its batch is taken leaves it; once
 * the batch is the writer's, its job is written all the same, and the
 * answer goes nowhere.
 */

static void
ngx_http_victorops_pending_cleanup(void *data)
{
    ngx_http_victorops_pending_t  *p = data;

    if (p->request == NULL) {
        return;
    }

    p->request = NULL;

    if (!p->committing) {
        ngx_queue_remove(&p->queue);
    }
}


/*
 * The request, answered before its job is (a Slack command past its
 * deadline), leaves it: NGX_OK, it was still waiting for a batch and is
 * not written; NGX_BUSY, its batch is being written and the job goes on,
 * its answer nowhere; NGX_DECLINED, no job.
 */

ngx_int_t
ngx_http_victorops_queue_withdraw(ngx_http_request_t *r)
{
    ngx_uint_t                     busy;
    ngx_pool_cleanup_t            *c;
    ngx_http_victorops_pending_t  *p;

    for (c = r->pool->cleanup; c; c = c->next) {

        if (c->handler != ngx_http_victorops_pending_cleanup) {
            continue;
        }

        p = c->data;
        busy = p->committing;

        /* the request leaves it: out of its batch unless being written */

        ngx_http_victorops_pending_cleanup(p);
        c->handler = NULL;

        return busy ? NGX_BUSY : NGX_OK;
    }

    return NGX_DECLINED;
}


/* what the queue keeps of an accepted job: all of it, in "pool" */

static ngx_int_t
ngx_http_victorops_accept_copy(ngx_pool_t *pool,
    ngx_http_victorops_accept_t *dst, ngx_http_victorops_accept_t *src)
{
    ngx_str_t   *key;
    ngx_uint_t   i;

    *dst = *src;

    for (i = 0; i < NGX_HTTP_VICTOROPS_DUPS_MAX; i++) {
        key = &dst->dups[i].key;

        if (key->len) {
            key->data = ngx_pstrdup(pool, key);
            if (key->data == NULL) {
                return NGX_ERROR;
            }
        }
    }

    if (ngx_http_victorops_job_dup(pool, &dst->job, &src->job) != NGX_OK) {
        return NGX_ERROR;
    }

    if (src->effects == NULL) {
        return NGX_OK;
    }

    return ngx_http_victorops_effects_copy(pool, &dst->effects, src->effects);
}


#define ngx_http_victorops_str_copy(pool, s)                                  \
    (((s)->len == 0)                                                          \
     || (((s)->data = ngx_pstrdup(pool, s)) != NULL))


static ngx_int_t
ngx_http_victorops_job_dup(ngx_pool_t *pool, ngx_http_victorops_job_t *dst,
    ngx_http_victorops_job_t *src)
{
    *dst = *src;

    if (ngx_http_victorops_str_copy(pool, &dst->id)
        && ngx_http_victorops_str_copy(pool, &dst->key)
        && ngx_http_victorops_str_copy(pool, &dst->incident)
        && ngx_http_victorops_str_copy(pool, &dst->entity)
        && ngx_http_victorops_str_copy(pool, &dst->body))
    {
        return NGX_OK;
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_victorops_effects_copy(ngx_pool_t *pool,
    ngx_http_victorops_effects_t **dst, ngx_http_victorops_effects_t *src)
{
    ngx_uint_t                     i;
    ngx_http_victorops_job_t      *job, *from;
    ngx_http_victorops_link_t     *link, *lfrom;
    ngx_http_victorops_effects_t  *fx;

    fx = ngx_http_victorops_effects_alloc(pool);
    if (fx == NULL) {
        return NGX_ERROR;
    }

    lfrom = src->links.elts;

    for (i = 0; i < src->links.nelts; i++) {
        link = ngx_array_push(&fx->links);
        if (link == NULL) {
            return NGX_ERROR;
        }

        *link = lfrom[i];

        if (!ngx_http_victorops_str_copy(pool, &link->key)
            || !ngx_http_victorops_str_copy(pool, &link->incident)
            || !ngx_http_victorops_str_copy(pool, &link->entity)
            || !ngx_http_victorops_str_copy(pool, &link->rootly_incident)
            || !ngx_http_victorops_str_copy(pool, &link->targets))
        {
            return NGX_ERROR;
        }
    }

    from = src->jobs.elts;

    for (i = 0; i < src->jobs.nelts; i++) {
        job = ngx_array_push(&fx->jobs);
        if (job == NULL
            || ngx_http_victorops_job_dup(pool, job, &from[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    *dst = fx;

    return NGX_OK;
}


/* this turn's batch goes to the store's writer */

static void
ngx_http_victorops_commit_handler(ngx_event_t *ev)
{
    ngx_uint_t                         n;
    ngx_queue_t                       *q;
    ngx_connection_t                  *c;
    ngx_http_victorops_batch_t        *batch;
    ngx_http_victorops_pending_t      *p;
    ngx_http_victorops_integration_t  *vi;

    c = ev->data;
    vi = c->data;

    if (ngx_queue_empty(&vi->batch)) {
        return;
    }

    /*
     * PostgreSQL: while an APPEND is in flight, the next batch grows
     * (group commit: one commit's round trip collects the webhooks of
     * many passes); it goes once that one is answered (committed()),
     * or at once if it reached NGX_HTTP_VICTOROPS_PG_APPEND_MAX
     */

    if (vi->store_pg && !ngx_queue_empty(&vi->appends)) {
        n = 0;

        for (q = ngx_queue_head(&vi->batch);
             q != ngx_queue_sentinel(&vi->batch)
             && n < NGX_HTTP_VICTOROPS_PG_APPEND_MAX;
             q = ngx_queue_next(q))
        {
            n++;
        }

        if (n < NGX_HTTP_VICTOROPS_PG_APPEND_MAX) {
            return;
        }
    }

    batch = ngx_pcalloc(vi->batch_pool, sizeof(ngx_http_victorops_batch_t));
    if (batch == NULL) {
        return;     /* the next accept posts the commit again */
    }

    /* the batch is the writer's now, and its pool with it */

    batch->op.items = vi->batch;
    batch->op.items.next->prev = &batch->op.items;
    batch->op.items.prev->next = &batch->op.items;
    ngx_queue_init(&vi->batch);

    for (q = ngx_queue_head(&batch->op.items);
         q != ngx_queue_sentinel(&batch->op.items);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_victorops_pending_t, queue);
        p->committing = 1;
    }

    batch->op.type = NGX_HTTP_VICTOROPS_OP_APPEND;
    batch->op.integration = vi;
    batch->op.handler = ngx_http_victorops_committed;
    batch->op.pool = vi->batch_pool;
    batch->op.now = ngx_http_victorops_now();

    vi->batch_pool = NULL;

    ngx_queue_insert_tail(&vi->appends, &batch->link);

    ngx_http_victorops_store_post(vi, &batch->op);
}


/* the batch is on disk (or not: NGX_ERROR): each handler's reply */

static void
ngx_http_victorops_committed(ngx_http_victorops_store_op_t *op)
{
    ngx_int_t                          rc;
    ngx_queue_t                       *q;
    ngx_pool_t                        *pool;
    ngx_http_request_t                *r;
    ngx_http_victorops_batch_t        *batch;
    ngx_http_victorops_pending_t      *p;
    ngx_http_victorops_integration_t  *vi;

    batch = (ngx_http_victorops_batch_t *) op;
    vi = op->integration;
    pool = op->pool;

    ngx_queue_remove(&batch->link);

    /* PostgreSQL: the batch that grew meanwhile goes now (failed or not) */

    if (vi->store_pg && !vi->closing && !ngx_queue_empty(&vi->batch)
        && !vi->commit_event.posted)
    {
        ngx_post_event(&vi->commit_event, &ngx_posted_events);
    }

    /* what each handler counts, logs and answers is its reply's */

    while (!ngx_queue_empty(&op->items)) {
        q = ngx_queue_head(&op->items);
        ngx_queue_remove(q);

        p = ngx_queue_data(q, ngx_http_victorops_pending_t, queue);

        r = p->request;
        p->request = NULL;

        if (r == NULL) {
            continue;
        }

        p->cleanup->handler = NULL;

        if (vi->closing) {
            continue;
        }

        rc = (op->rc != NGX_OK) ? NGX_ERROR
                                : (p->duplicate ? NGX_DECLINED : NGX_OK);

        p->accept.reply(r, rc, p->accept.data, &p->accept.job.id);
    }

    /* the fast path: send at once */

    if (op->rc == NGX_OK) {
        ngx_http_victorops_queue_kick(vi);
    }

    ngx_destroy_pool(pool);
}


/*
 * In flight: from the dispatcher handing a job to its sender until the
 * sender records the job's outcome; a sender that waits (for a token)
 * leaves meanwhile and enters again when it sends.
 */

void
ngx_http_victorops_queue_enter(ngx_http_victorops_job_t *job)
{
    if (!job->inflight) {
        job->inflight = 1;
        job->integration->inflight++;
    }
}


void
ngx_http_victorops_queue_leave(ngx_http_victorops_job_t *job)
{
    if (job->inflight) {
        job->inflight = 0;

        if (job->integration->inflight) {
            job->integration->inflight--;
        }
    }
}


/*
 * Outcomes of sends (and releases) are written together, one
 * transaction per event-loop turn, like accepted jobs; recording one
 * counts the job out of flight.  NGX_HTTP_VICTOROPS_RECORDED: only
 * that (job_retry() or job_dead() recorded it).
 */

void
ngx_http_victorops_job_outcome(ngx_http_victorops_job_t *job, ngx_uint_t op,
    int64_t at, ngx_uint_t status, ngx_str_t *error,
    ngx_http_victorops_effects_t *fx)
{
    ngx_http_victorops_outcome_post(job, op, at, status, error, NULL, fx);
}


/* delivered; "alert": the Rootly alert it made, linked to its incident */

void
ngx_http_victorops_job_delivered(ngx_http_victorops_job_t *job,
    ngx_str_t *alert)
{
    ngx_http_victorops_outcome_post(job, NGX_HTTP_VICTOROPS_DONE, 0, 0, NULL,
                                    alert, NULL);
}


static void
ngx_http_victorops_outcome_post(ngx_http_victorops_job_t *job,
    ngx_uint_t op, int64_t at, ngx_uint_t status, ngx_str_t *error,
    ngx_str_t *alert, ngx_http_victorops_effects_t *fx)
{
    u_char                            *p;
    size_t                             len;
    ngx_uint_t                         creating;
    ngx_http_victorops_outcome_t      *o;
    ngx_http_victorops_integration_t  *vi;

    vi = job->integration;

    ngx_http_victorops_queue_leave(job);

    if (op == NGX_HTTP_VICTOROPS_RECORDED) {
        if (fx) {
            ngx_destroy_pool(fx->pool);
        }

        return;
    }

    len = sizeof(ngx_http_victorops_outcome_t);

    if (error) {
        len += NGX_HTTP_VICTOROPS_ERROR_MAX;
    }

    if (alert) {
        len += alert->len + job->key.len + job->incident.len
               + job->entity.len;
    }

    /* the end of an escalation: its create's mark goes (PostgreSQL) */

    creating = (vi->store_pg && job->kind == NGX_HTTP_VICTOROPS_JOB_ESCALATE
                && (op == NGX_HTTP_VICTOROPS_DONE
                    || op == NGX_HTTP_VICTOROPS_DEAD));

    if (creating) {
        len += sizeof(NGX_HTTP_VICTOROPS_CREATING) - 1 + job->id.len;
    }

    o = ngx_alloc(len, vi->dispatch_event.log);
    if (o == NULL) {
        if (fx) {
            ngx_destroy_pool(fx->pool);
        }

        return;     /* the lease runs out and the job is sent again */
    }

    ngx_memzero(o, sizeof(ngx_http_victorops_outcome_t));

    o->effects = fx;
    o->op = op;
    o->seq = job->seq;
    o->token = job->token;
    o->at = at;
    o->status = status;

    p = (u_char *) (o + 1);

#define ngx_http_victorops_outcome_str(dst, src)                              \
    (dst).data = p;                                                           \
    (dst).len = (src)->len;                                                   \
    p = ngx_cpymem(p, (src)->data, (src)->len)

    if (error) {

        /* the store's last_error, as the status' (see peer_error()) */

        o->error.data = p;
        p = ngx_http_victorops_utf8_text(p, NGX_HTTP_VICTOROPS_ERROR_MAX,
                                         error->data, error->len);
        o->error.len = p - o->error.data;
    }

    if (alert) {
        ngx_http_victorops_outcome_str(o->alert, alert);
        ngx_http_victorops_outcome_str(o->key, &job->key);
        ngx_http_victorops_outcome_str(o->incident, &job->incident);
        ngx_http_victorops_outcome_str(o->entity, &job->entity);
    }

    if (creating) {
        o->creating.data = p;
        p = ngx_cpymem(p, NGX_HTTP_VICTOROPS_CREATING,
                       sizeof(NGX_HTTP_VICTOROPS_CREATING) - 1);
        p = ngx_cpymem(p, job->id.data, job->id.len);
        o->creating.len = p - o->creating.data;
    }

#undef ngx_http_victorops_outcome_str

    ngx_queue_insert_tail(&vi->outcomes, &o->queue);

    if (!vi->outcome_event.posted) {
        ngx_post_event(&vi->outcome_event, &ngx_posted_events);
    }
}


static void
ngx_http_victorops_outcome_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    ngx_http_victorops_outcomes_post(c->data);
}


/* this turn's outcomes go to the store's writer, in one op */

static void
ngx_http_victorops_outcomes_post(ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_store_op_t  *op;

    if (ngx_queue_empty(&vi->outcomes)
        || !ngx_http_victorops_has_store(vi))
    {
        return;
    }

    op = ngx_alloc(sizeof(ngx_http_victorops_store_op_t),
                   vi->outcome_event.log);
    if (op == NULL) {
        return;     /* the next outcome posts them again */
    }

    ngx_memzero(op, sizeof(ngx_http_victorops_store_op_t));

    op->items = vi->outcomes;
    op->items.next->prev = &op->items;
    op->items.prev->next = &op->items;
    ngx_queue_init(&vi->outcomes);

    op->type = NGX_HTTP_VICTOROPS_OP_OUTCOMES;
    op->integration = vi;
    op->handler = ngx_http_victorops_outcomes_done;
    op->now = ngx_http_victorops_now();

    ngx_http_victorops_store_post(vi, op);
}


static void
ngx_http_victorops_outcomes_done(ngx_http_victorops_store_op_t *op)
{
    int64_t                            earliest;
    ngx_uint_t                         jobs;
    ngx_queue_t                       *q;
    ngx_http_victorops_outcome_t      *o;
    ngx_http_victorops_integration_t  *vi;

    vi = op->integration;
    earliest = 0;
    jobs = 0;

    if (op->rc == NGX_AGAIN && vi->store_pg && !vi->closing) {
        ngx_http_victorops_outcomes_keep(op);
        return;
    }

    while (!ngx_queue_empty(&op->items)) {
        q = ngx_queue_head(&op->items);
        ngx_queue_remove(q);

        o = ngx_queue_data(q, ngx_http_victorops_outcome_t, queue);

        if ((o->op == NGX_HTTP_VICTOROPS_RETRY
             || o->op == NGX_HTTP_VICTOROPS_RELEASE)
            && (earliest == 0 || o->at < earliest))
        {
            earliest = o->at;
        }

        if (o->rc == NGX_DECLINED && o->kept) {
            ngx_log_error(NGX_LOG_NOTICE, vi->dispatch_event.log, 0,
                          "victorops integration \"%V\": a job's outcome "
                          "kept while PostgreSQL was unavailable found the "
                          "job settled or no longer leased (written before "
                          "the connection was lost, or its lease ran out)",
                          &vi->name);

        } else if (o->rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_WARN, vi->dispatch_event.log, 0,
                          "victorops integration \"%V\": a job's outcome "
                          "came after its lease ran out; the job went back "
                          "to the queue", &vi->name);

        } else if (op->rc == NGX_OK) {

            /* the next job of a finished job's key is ready now */

            if (o->op == NGX_HTTP_VICTOROPS_DONE
                || o->op == NGX_HTTP_VICTOROPS_DEAD)
            {
                jobs++;
            }

            if (o->effects) {
                jobs += o->effects->jobs.nelts;
            }
        }

        if (o->effects) {
            ngx_destroy_pool(o->effects->pool);
        }

        ngx_free(o);
    }

    ngx_free(op);

    if (jobs) {
        ngx_http_victorops_queue_kick(vi);
    }

    /*
     * Jobs back in the queue (a rate limit, a retry) are due again at
     * "earliest": the dispatcher, which may have found nothing due while
     * they were still leased, looks again then.
     */

    if (earliest && !vi->closing) {
        ngx_http_victorops_dispatch_at(vi, ngx_http_victorops_now(),
                                       earliest);
    }
}


/*
 * PostgreSQL was unavailable (nothing of the op was written, or its
 * commit was not confirmed): the outcomes are kept, their jobs leased
 * to this worker meanwhile, and sent again once the connection is ready.
 * Each still applies only under its claim's lease token, so one sent
 * again after its lease ran out (the job delivered again elsewhere) or
 * after a commit whose answer was lost changes nothing.  Without this,
 * a job delivered while PostgreSQL went away would be delivered again
 * once its lease ran out.
 */

static void
ngx_http_victorops_outcomes_keep(ngx_http_victorops_store_op_t *op)
{
    ngx_uint_t                         n;
    ngx_queue_t                       *q;
    ngx_http_victorops_outcome_t      *o;
    ngx_http_victorops_integration_t  *vi;

    vi = op->integration;
    n = 0;

    for (q = ngx_queue_head(&op->items);
         q != ngx_queue_sentinel(&op->items);
         q = ngx_queue_next(q))
    {
        o = ngx_queue_data(q, ngx_http_victorops_outcome_t, queue);
        o->kept = 1;
        n++;
    }

    ngx_queue_add(&vi->outcomes_kept, &op->items);
    ngx_free(op);

    ngx_log_error(NGX_LOG_WARN, vi->dispatch_event.log, 0,
                  "victorops integration \"%V\": PostgreSQL unavailable: "
                  "%ui job outcomes kept until it is back (their jobs stay "
                  "leased meanwhile)", &vi->name, n);

    if (!vi->outcome_retry.timer_set) {
        ngx_add_timer(&vi->outcome_retry, NGX_HTTP_VICTOROPS_OUTCOME_RETRY);
    }
}


static void
ngx_http_victorops_outcome_retry_handler(ngx_event_t *ev)
{
    ngx_connection_t                  *c;
    ngx_http_victorops_pg_info_t       info;
    ngx_http_victorops_integration_t  *vi;

    c = ev->data;
    vi = c->data;

    if (vi->closing || ngx_queue_empty(&vi->outcomes_kept)) {
        return;
    }

    ngx_http_victorops_pg_info(vi, &info);

    if (!info.ready) {
        ngx_add_timer(ev, NGX_HTTP_VICTOROPS_OUTCOME_RETRY);
        return;
    }

    ngx_queue_add(&vi->outcomes, &vi->outcomes_kept);
    ngx_queue_init(&vi->outcomes_kept);

    ngx_http_victorops_outcomes_post(vi);
}


/*
 * The dispatcher: claims due jobs, as many as there is room in flight
 * for, and hands each to the sender of its kind (job.c's table).  The
 * claim is an op of the store's writer: one at a time, dispatched when
 * it completes (claimed()).
 */

static void
ngx_http_victorops_dispatch_handler(ngx_event_t *ev)
{
    int64_t                            now, until;
    ngx_connection_t                  *c;
    ngx_http_victorops_integration_t  *vi;

    c = ev->data;
    vi = c->data;

    if (!ngx_http_victorops_has_store(vi) || vi->claiming || vi->closing
        || ngx_exiting || ngx_terminate || ngx_quit)
    {
        return;
    }

    now = ngx_http_victorops_now();

    if (vi->store_pg) {
        ngx_http_victorops_dispatch_pg(vi, ev->log, now);
        return;
    }

    /*
     * The WAL goes into the database from the writer, after a commit, not
     * inside one as SQLite's automatic checkpoint does; a little WAL left
     * idle is written within a minute.
     */

    if (now - vi->checkpointed >= NGX_HTTP_VICTOROPS_CHECKPOINT) {
        vi->checkpointed = now;
        ngx_http_victorops_store_checkpoint(vi, 1);

    } else {
        ngx_http_victorops_store_checkpoint(vi, 1000);
    }

    until = ngx_http_victorops_peer_paused(vi, NGX_HTTP_VICTOROPS_PEER_ROOTLY,
                                           now);

    if (until) {

        /* another worker saw the 429: hold back what we queued, too */

        ngx_http_victorops_curl_release_waiting(vi, "rootly rate limit");
        ngx_http_victorops_dispatch_at(vi, now, until);
        return;
    }

    if (vi->inflight >= NGX_HTTP_VICTOROPS_INFLIGHT_MAX) {
        return;     /* a finishing transfer kicks the dispatcher again */
    }

    ngx_http_victorops_dispatch_chores(vi, ev->log, now);

    /* idle: a read, so workers do not take the write lock for nothing */

    if (ngx_http_victorops_store_due(vi, now) != NGX_OK) {
        ngx_http_victorops_dispatch_next(vi, now,
                                         now + NGX_HTTP_VICTOROPS_POLL);
        return;
    }

    ngx_http_victorops_dispatch_claim(vi, ev->log, now);
}


/*
 * A PostgreSQL store's dispatcher: no idle read first (a claim that
 * finds nothing is one query a second per worker) and no checkpoints;
 * its chores are EXPIRE ops.
 */

static void
ngx_http_victorops_dispatch_pg(ngx_http_victorops_integration_t *vi,
    ngx_log_t *log, int64_t now)
{
    int64_t  until;

    until = ngx_http_victorops_peer_paused(vi, NGX_HTTP_VICTOROPS_PEER_ROOTLY,
                                           now);

    if (until) {
        ngx_http_victorops_curl_release_waiting(vi, "rootly rate limit");
        ngx_http_victorops_dispatch_at(vi, now, until);
        return;
    }

    if (vi->inflight >= NGX_HTTP_VICTOROPS_INFLIGHT_MAX) {
        return;     /* a finishing transfer kicks the dispatcher again */
    }

    ngx_http_victorops_dispatch_expire(vi, log, now);
    ngx_http_victorops_dispatch_claim(vi, log, now);
}


/*
 * Every 5 s in each worker of each node: jobs whose lease ran out go
 * back to the queue, whichever node held them (one killed, or cut off
 * from the database); once a minute, duplicate records older than
 * duplicate_window are deleted, and retention (dead letters and links
 * older than "retention", a batch of each) as SQLite's chores do.
 */

static void
ngx_http_victorops_dispatch_expire(ngx_http_victorops_integration_t *vi,
    ngx_log_t *log, int64_t now)
{
    ngx_http_victorops_chores_t  *ch;

    if (vi->choring
        || now - vi->leases_checked < NGX_HTTP_VICTOROPS_LEASE_CHECK)
    {
        return;
    }

    ch = ngx_calloc(sizeof(ngx_http_victorops_chores_t), log);
    if (ch == NULL) {
        return;
    }

    vi->leases_checked = now;
    ch->leases = 1;

    if (now - vi->dedup_expired > 60000) {
        vi->dedup_expired = now;
        ch->dedup = 1;
    }

    if (now >= vi->retained) {
        vi->retained = now + NGX_HTTP_VICTOROPS_RETAIN_EVERY;
        ch->retain = 1;
    }

    ch->duplicate_window = vi->duplicate_window;
    ch->retention = vi->retention;
    ch->batch = NGX_HTTP_VICTOROPS_RETAIN_BATCH;

    ch->op.type = NGX_HTTP_VICTOROPS_OP_EXPIRE;
    ch->op.integration = vi;
    ch->op.handler = ngx_http_victorops_chores_done;
    ch->op.now = now;

    vi->choring = 1;

    ngx_http_victorops_store_post(vi, &ch->op);
}


/*
 * Claims what is due, as many as there is room in flight for, with a
 * lease of the send timeout plus 5 s.
 */

static void
ngx_http_victorops_dispatch_claim(ngx_http_victorops_integration_t *vi,
    ngx_log_t *log, int64_t now)
{
    ngx_pool_t                  *pool;
    ngx_http_victorops_claim_t  *claim;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        ngx_http_victorops_dispatch_at(vi, now, now + NGX_HTTP_VICTOROPS_POLL);
        return;
    }

    claim = ngx_pcalloc(pool, sizeof(ngx_http_victorops_claim_t));

    if (claim == NULL) {
        goto failed;
    }

    claim->room = ngx_min(NGX_HTTP_VICTOROPS_INFLIGHT_MAX - vi->inflight,
                          NGX_HTTP_VICTOROPS_CLAIM_MAX);

    if (ngx_array_init(&claim->op.jobs, pool, claim->room,
                       sizeof(ngx_http_victorops_job_t))
        != NGX_OK)
    {
        goto failed;
    }

    claim->op.type = NGX_HTTP_VICTOROPS_OP_CLAIM;
    claim->op.integration = vi;
    claim->op.handler = ngx_http_victorops_claimed;
    claim->op.pool = pool;
    claim->op.now = now;
    claim->op.n = claim->room;
    claim->op.lease = now + (int64_t) vi->rootly_timeout
                      + NGX_HTTP_VICTOROPS_LEASE_EXTRA;

    vi->claiming = 1;

    ngx_http_victorops_store_post(vi, &claim->op);

    return;

failed:

    ngx_destroy_pool(pool);
    ngx_http_victorops_dispatch_at(vi, now, now + NGX_HTTP_VICTOROPS_POLL);
}


/*
 * The claimed jobs go to their senders; with room for all, more may be
 * due at once.  A worker on its way out leaves them leased: the lease
 * runs out, and another worker sends them.
 */

static void
ngx_http_victorops_claimed(ngx_http_victorops_store_op_t *op)
{
    int64_t                            now, next;
    ngx_uint_t                         i, limited;
    ngx_http_victorops_job_t          *job;
    ngx_http_victorops_claim_t        *claim;
    ngx_http_victorops_integration_t  *vi;

    claim = (ngx_http_victorops_claim_t *) op;
    vi = op->integration;

    vi->claiming = 0;

    now = ngx_http_victorops_now();
    next = now + NGX_HTTP_VICTOROPS_POLL;

    if (vi->closing) {
        ngx_destroy_pool(op->pool);
        return;
    }

    if (op->rc != NGX_OK) {
        ngx_destroy_pool(op->pool);
        ngx_http_victorops_dispatch_at(vi, now, next);
        return;
    }

    /* the writer's jobs name the integration as the writer saw it */

    job = op->jobs.elts;

    for (i = 0; i < op->jobs.nelts; i++) {
        job[i].integration = vi;
    }

    limited = ngx_http_victorops_dispatch_jobs(vi, &op->jobs, now, &next);

    if (limited) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "victorops \"%V\": alert_limit reached", &vi->name);
    }

    if (!limited && op->jobs.nelts == claim->room) {
        ngx_destroy_pool(op->pool);
        ngx_http_victorops_queue_kick(vi);
        return;
    }

    ngx_destroy_pool(op->pool);

    ngx_http_victorops_dispatch_next(vi, now, next);
}


/* when to look again: at "next" at the latest, sooner if a job is due */

static void
ngx_http_victorops_dispatch_next(ngx_http_victorops_integration_t *vi,
    int64_t now, int64_t next)
{
    int64_t  due;

    /* a PostgreSQL store: the next poll (a read would block the loop) */

    due = vi->store_pg ? 0 : ngx_http_victorops_store_next_due(vi);

    if (due > now) {
        next = ngx_min(next, due);
    }

    ngx_http_victorops_dispatch_at(vi, now, next);
}


/*
 * Now and then, as one op of the writer's: jobs leased by workers that
 * died go back; once a minute, deliveries older than duplicate_window,
 * Rootly event ids older than a day and escalation-policy signatures
 * older than a day (or duplicate_window, if longer) are forgotten;
 * retention.
 */

static void
ngx_http_victorops_dispatch_chores(ngx_http_victorops_integration_t *vi,
    ngx_log_t *log, int64_t now)
{
    ngx_http_victorops_chores_t  *ch;

    if (vi->choring) {
        return;
    }

    ch = ngx_calloc(sizeof(ngx_http_victorops_chores_t), log);
    if (ch == NULL) {
        return;
    }

    if (now - vi->leases_checked > NGX_HTTP_VICTOROPS_LEASE_CHECK) {
        vi->leases_checked = now;
        ch->leases = 1;
    }

    if (now - vi->dedup_expired > 60000) {
        vi->dedup_expired = now;
        ch->dedup = 1;
    }

    if (now >= vi->retained) {
        vi->retained = now + NGX_HTTP_VICTOROPS_RETAIN_EVERY;
        ch->retain = 1;
    }

    if (!ch->leases && !ch->dedup && !ch->retain) {
        ngx_free(ch);
        return;
    }

    ch->duplicate_window = vi->duplicate_window;
    ch->retention = vi->retention;

    ch->op.type = NGX_HTTP_VICTOROPS_OP_EXEC;
    ch->op.integration = vi;
    ch->op.exec = ngx_http_victorops_chores_exec;
    ch->op.handler = ngx_http_victorops_chores_done;
    ch->op.now = now;

    vi->choring = 1;

    ngx_http_victorops_store_post(vi, &ch->op);
}


/* on the store's writer; once a minute, a batch of each at a time */

static ngx_int_t
ngx_http_victorops_chores_exec(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    int64_t                       now;
    ngx_http_victorops_chores_t  *ch;

    ch = (ngx_http_victorops_chores_t *) op;
    now = op->now;

    if (ch->leases
        && ngx_http_victorops_store_expire_leases(wvi, now, &ch->expired)
           != NGX_OK)
    {
        ch->expired = 0;
    }

    if (ch->dedup) {
        (void) ngx_http_victorops_store_dedup_expire(wvi,
                                       now - (int64_t) ch->duplicate_window,
                                       now - NGX_HTTP_VICTOROPS_EVENTS_KEPT);
        (void) ngx_http_victorops_store_signature_expire(wvi,
                       now - ngx_max((int64_t) ch->duplicate_window,
                                     NGX_HTTP_VICTOROPS_SIGNATURES_KEPT));
    }

    if (ch->retain
        && ngx_http_victorops_store_retention(wvi,
                                              now - (int64_t) ch->retention
                                                    * 1000,
                                              NGX_HTTP_VICTOROPS_RETAIN_BATCH,
                                              &ch->dead, &ch->links)
           != NGX_OK)
    {
        ch->dead = 0;
        ch->links = 0;
    }

    return NGX_OK;
}


/*
 * Back on the event loop: what the chores did; while retention has
 * more to delete, the next batch goes within a second.
 */

static void
ngx_http_victorops_chores_done(ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_chores_t       *ch;
    ngx_http_victorops_integration_t  *vi;

    ch = (ngx_http_victorops_chores_t *) op;
    vi = op->integration;

    vi->choring = 0;

    if (op->rc == NGX_OK && ch->expired) {
        ngx_log_error(NGX_LOG_NOTICE, vi->dispatch_event.log, 0,
                      "victorops integration \"%V\": %ui jobs leased by "
                      "a worker that exited are queued again",
                      &vi->name, ch->expired);
    }

    if (op->rc == NGX_OK && (ch->dead || ch->links)) {
        ngx_log_error(NGX_LOG_NOTICE, vi->dispatch_event.log, 0,
                      "victorops integration \"%V\": retention: %ui dead "
                      "letters and %ui links older than %T s deleted",
                      &vi->name, ch->dead, ch->links, ch->retention);

        if (ch->dead == NGX_HTTP_VICTOROPS_RETAIN_BATCH
            || ch->links == NGX_HTTP_VICTOROPS_RETAIN_BATCH)
        {
            vi->retained = op->now + NGX_HTTP_VICTOROPS_POLL;
        }
    }

    if (ch->expired) {
        ngx_http_victorops_queue_kick(vi);
    }

    ngx_free(ch);
}


/*
 * Claimed jobs go to the senders of their kinds, counted in flight
 * until their outcomes; what a sender did not take (no token, paused,
 * nothing to send, an error) is recorded here.  Returns whether a
 * sender was out of tokens ("next": when to look again, at the latest).
 */

static ngx_uint_t
ngx_http_victorops_dispatch_jobs(ngx_http_victorops_integration_t *vi,
    ngx_array_t *jobs, int64_t now, int64_t *next)
{
    int64_t                     wait;
    ngx_str_t                   unknown = ngx_string("unknown job kind");
    ngx_uint_t                  i, limited;
    ngx_http_victorops_job_t   *job;
    ngx_http_victorops_kind_t  *kind;

    job = jobs->elts;
    limited = 0;

    for (i = 0; i < jobs->nelts; i++) {

        kind = ngx_http_victorops_job_kind(job[i].kind);

        if (kind == NULL) {
            ngx_http_victorops_job_dead(&job[i], NULL, now, &unknown);
            continue;
        }

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "victorops \"%V\": job %V, %s, to %s", &vi->name,
                       &job[i].id, kind->name, kind->peer);

        ngx_http_victorops_queue_enter(&job[i]);

        wait = 0;

        switch (kind->send(&job[i], now, &wait)) {

        case NGX_OK:
        case NGX_DONE:
            break;      /* the sender records the outcome */

        case NGX_BUSY:

            /* no token (api_rate, alert_limit): it waits in the queue */

            ngx_http_victorops_job_outcome(&job[i],
                                           NGX_HTTP_VICTOROPS_RELEASE,
                                           now + wait, 0, NULL, NULL);
            *next = ngx_min(*next, now + wait);
            limited = 1;
            break;

        case NGX_DECLINED:
            ngx_http_victorops_job_outcome(&job[i], NGX_HTTP_VICTOROPS_DONE,
                                           0, 0, NULL, NULL);
            break;

        default: /* NGX_ERROR */
            ngx_http_victorops_job_outcome(&job[i],
                                           NGX_HTTP_VICTOROPS_RELEASE,
                                           now + NGX_HTTP_VICTOROPS_POLL, 0,
                                           NULL, NULL);
            break;
        }
    }

    return limited;
}


static void
ngx_http_victorops_dispatch_at(ngx_http_victorops_integration_t *vi,
    int64_t now, int64_t at)
{
    ngx_msec_t  delay;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    delay = (at > now) ? (ngx_msec_t) (at - now) : 1;
    delay = ngx_min(delay, NGX_HTTP_VICTOROPS_POLL);

    /*
     * Never later than already planned: jobs another worker holds
     * leased are not seen as due, but may be back by then.
     */

    if (vi->dispatch_event.timer_set) {
        if ((ngx_msec_int_t) (vi->dispatch_event.timer.key
                              - (ngx_current_msec + delay)) <= 0)
        {
            return;
        }

        ngx_del_timer(&vi->dispatch_event);
    }

    ngx_add_timer(&vi->dispatch_event, delay);
}


void
ngx_http_victorops_job_retry(ngx_http_victorops_job_t *job,
    ngx_http_victorops_transfer_t *t, int64_t now, ngx_str_t *reason)
{
    u_char                             buf[NGX_HTTP_VICTOROPS_ERROR_MAX + 64];
    u_char                            *last;
    int64_t                            delay;
    ngx_uint_t                         shift;
    ngx_http_victorops_integration_t  *vi;

    vi = job->integration;

    if (now - job->created >= (int64_t) vi->max_age) {
        ngx_http_victorops_job_dead(job, t, now, reason);
        return;
    }

    /* exponential, capped, with jitter: between half and all of it */

    shift = ngx_min(job->attempts ? job->attempts - 1 : 0, 30);
    delay = ngx_min((int64_t) NGX_HTTP_VICTOROPS_RETRY_BASE << shift,
                    (int64_t) vi->retry_max_delay);
    delay = delay / 2 + (int64_t) (ngx_random() % (delay / 2 + 1));

    ngx_http_victorops_job_outcome(job, NGX_HTTP_VICTOROPS_RETRY, now + delay,
                                   (ngx_uint_t) t->status, reason, NULL);

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_RETRIED);

    last = ngx_http_victorops_outcome_text(buf, t, reason);

    ngx_log_error(NGX_LOG_ERR, t->log, 0,
                  "victorops integration \"%V\": %s for incident \"%V\" "
                  "(job %V) not delivered, attempt %ui: %*s; retrying in "
                  "%L ms", &vi->name, t->what,
                  ngx_http_victorops_job_incident(job), &job->id,
                  job->attempts, last - buf, buf, delay);
}


void
ngx_http_victorops_job_dead(ngx_http_victorops_job_t *job,
    ngx_http_victorops_transfer_t *t, int64_t now, ngx_str_t *reason)
{
    u_char                             buf[NGX_HTTP_VICTOROPS_ERROR_MAX + 64];
    u_char                            *last;
    ngx_http_victorops_integration_t  *vi;

    vi = job->integration;

    if (t == NULL) {

        /* before any call: it can never be sent as it is */

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "victorops integration \"%V\": job %V dead-lettered: "
                      "%V", &vi->name, &job->id, reason);

        ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_DEAD);
        ngx_http_victorops_job_outcome(job, NGX_HTTP_VICTOROPS_DEAD, now, 0,
                                       reason, NULL);
        return;
    }

    ngx_http_victorops_job_outcome(job, NGX_HTTP_VICTOROPS_DEAD, now,
                                   (ngx_uint_t) t->status, reason, NULL);

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_DEAD);

    last = ngx_http_victorops_outcome_text(buf, t, reason);

    ngx_log_error(NGX_LOG_ERR, t->log, 0,
                  "victorops integration \"%V\": %s for incident \"%V\" "
                  "(job %V) dead-lettered after %ui attempt%s: %*s",
                  &vi->name, t->what, ngx_http_victorops_job_incident(job),
                  &job->id, job->attempts, job->attempts == 1 ? "" : "s",
                  last - buf, buf);
}


/* "rootly answered 500: \"...\"" or curl's own words */

static u_char *
ngx_http_victorops_outcome_text(u_char *buf, ngx_http_victorops_transfer_t *t,
    ngx_str_t *reason)
{
    u_char  *p;

    if (t->code != CURLE_OK) {
        return ngx_http_victorops_utf8_text(buf, NGX_HTTP_VICTOROPS_ERROR_MAX,
                                            reason->data, reason->len);
    }

    p = ngx_sprintf(buf, "%s answered %l: \"",
                    t->peer ? t->peer : "rootly", t->status);
    p = ngx_http_victorops_utf8_text(p, NGX_HTTP_VICTOROPS_ERROR_MAX,
                                     reason->data, reason->len);
    *p++ = '"';

    return p;
}
