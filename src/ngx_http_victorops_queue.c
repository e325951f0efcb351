
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


/* an accepted job in the batch being collected */

typedef struct {
    ngx_queue_t                        queue;
    ngx_http_request_t                *request;   /* NULL: it went away */
    ngx_http_victorops_accept_t        accept;
    ngx_uint_t                         duplicate;
} ngx_http_victorops_pending_t;


typedef struct {
    ngx_queue_t                        queue;
    ngx_uint_t                         op;
    int64_t                            seq;
    int64_t                            at;
    ngx_uint_t                         status;
    ngx_str_t                          error;
    ngx_str_t                          alert;
    ngx_str_t                          key;
    ngx_str_t                          incident;
    ngx_str_t                          entity;
    ngx_http_victorops_effects_t      *effects;
} ngx_http_victorops_outcome_t;


static void ngx_http_victorops_pending_cleanup(void *data);
static ngx_int_t ngx_http_victorops_pending_write(
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_pending_t *p,
    int64_t now);
static ngx_int_t ngx_http_victorops_dup_claim(
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_dup_t *dup,
    int64_t now);
static void ngx_http_victorops_commit_time(
    ngx_http_victorops_integration_t *vi, ngx_log_t *log,
    struct timeval *start, ngx_uint_t n);
static void ngx_http_victorops_outcome_post(ngx_http_victorops_job_t *job,
    ngx_uint_t op, int64_t at, ngx_uint_t status, ngx_str_t *error,
    ngx_str_t *alert, ngx_http_victorops_effects_t *fx);
static void ngx_http_victorops_outcome_handler(ngx_event_t *ev);
static void ngx_http_victorops_outcomes_write(
    ngx_http_victorops_integration_t *vi);
static void ngx_http_victorops_commit_handler(ngx_event_t *ev);
static void ngx_http_victorops_dispatch_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_victorops_dispatch_claim(
    ngx_http_victorops_integration_t *vi, ngx_log_t *log, int64_t now,
    int64_t *next);
static void ngx_http_victorops_dispatch_chores(
    ngx_http_victorops_integration_t *vi, ngx_log_t *log, int64_t now);
static ngx_uint_t ngx_http_victorops_dispatch_jobs(
    ngx_http_victorops_integration_t *vi, ngx_array_t *jobs, int64_t now,
    int64_t *next);
static void ngx_http_victorops_retention(
    ngx_http_victorops_integration_t *vi, ngx_log_t *log, int64_t now);
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

    vi->dispatch_event.handler = ngx_http_victorops_dispatch_handler;
    vi->dispatch_event.data = &vi->dummy;
    vi->dispatch_event.log = cycle->log;
    vi->dispatch_event.cancelable = 1;

    /* whatever an earlier nginx left in the queue goes out first */

    ngx_add_timer(&vi->dispatch_event, 10);

    return NGX_OK;
}


/* before the store closes: what the last sends and releases did */

void
ngx_http_victorops_queue_done(ngx_http_victorops_integration_t *vi)
{
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

    /* what the last sends and releases did goes to disk before closing */

    ngx_http_victorops_outcomes_write(vi);
}


void
ngx_http_victorops_queue_kick(ngx_http_victorops_integration_t *vi)
{
    if (vi->st && !vi->dispatch_event.posted) {
        ngx_post_event(&vi->dispatch_event, &ngx_posted_events);
    }
}


/*
 * The one way in: a handler's job joins this turn's batch, written in
 * one transaction from a posted event (group commit); "a->reply"
 * answers request "r" once the batch is on disk.
 */

ngx_int_t
ngx_http_victorops_queue_accept(ngx_http_request_t *r,
    ngx_http_victorops_accept_t *a)
{
    ngx_str_t                         *key;
    ngx_uint_t                         i;
    ngx_pool_cleanup_t                *cln;
    ngx_http_victorops_pending_t      *p;
    ngx_http_victorops_integration_t  *vi;

    vi = a->job.integration;

    if (vi->st == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pcalloc(r->pool, sizeof(ngx_http_victorops_pending_t));
    if (p == NULL) {
        return NGX_ERROR;
    }

    p->accept = *a;

    for (i = 0; i < NGX_HTTP_VICTOROPS_DUPS_MAX; i++) {
        key = &p->accept.dups[i].key;

        if (key->len) {
            key->data = ngx_pstrdup(r->pool, key);
            if (key->data == NULL) {
                return NGX_ERROR;
            }
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    p->request = r;

    cln->handler = ngx_http_victorops_pending_cleanup;
    cln->data = p;

    ngx_queue_insert_tail(&vi->batch, &p->queue);

    if (!vi->commit_event.posted) {
        ngx_post_event(&vi->commit_event, &ngx_posted_events);
    }

    return NGX_OK;
}


/* a request that goes away before the commit leaves the batch */

static void
ngx_http_victorops_pending_cleanup(void *data)
{
    ngx_http_victorops_pending_t  *p = data;

    if (p->request) {
        ngx_queue_remove(&p->queue);
    }
}


/* NGX_OK: an alert about "key" is in the batch being collected */

ngx_int_t
ngx_http_victorops_queue_alert_batched(ngx_http_victorops_integration_t *vi,
    ngx_str_t *key)
{
    ngx_queue_t                   *q;
    ngx_http_victorops_job_t      *job;
    ngx_http_victorops_pending_t  *p;

    for (q = ngx_queue_head(&vi->batch);
         q != ngx_queue_sentinel(&vi->batch);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_victorops_pending_t, queue);
        job = &p->accept.job;

        if (job->kind == NGX_HTTP_VICTOROPS_JOB_ALERT
            && job->key.len == key->len
            && ngx_strncmp(job->key.data, key->data, key->len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static void
ngx_http_victorops_commit_handler(ngx_event_t *ev)
{
    int64_t                            now;
    ngx_int_t                          rc;
    ngx_uint_t                         n;
    ngx_queue_t                       *q, batch;
    struct timeval                     start;
    ngx_connection_t                  *c;
    ngx_http_request_t                *r;
    ngx_http_victorops_pending_t      *p;
    ngx_http_victorops_integration_t  *vi;

    c = ev->data;
    vi = c->data;

    if (ngx_queue_empty(&vi->batch)) {
        return;
    }

    /* the batch is ours now: requests leaving go unnoticed */

    batch = vi->batch;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    ngx_queue_init(&vi->batch);

    now = ngx_http_victorops_now();

    ngx_gettimeofday(&start);

    rc = ngx_http_victorops_store_begin(vi);
    n = 0;

    for (q = ngx_queue_head(&batch);
         rc == NGX_OK && q != ngx_queue_sentinel(&batch);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_victorops_pending_t, queue);
        n++;

        rc = ngx_http_victorops_pending_write(vi, p, now);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_victorops_store_commit(vi);

    } else {
        ngx_http_victorops_store_rollback(vi);
    }

    ngx_http_victorops_commit_time(vi, ev->log, &start, n);

    /* what each handler counts, logs and answers is its reply's */

    while (!ngx_queue_empty(&batch)) {
        q = ngx_queue_head(&batch);
        ngx_queue_remove(q);

        p = ngx_queue_data(q, ngx_http_victorops_pending_t, queue);

        r = p->request;
        p->request = NULL;

        p->accept.reply(r, rc != NGX_OK ? NGX_ERROR
                                        : (p->duplicate ? NGX_DECLINED
                                                        : NGX_OK),
                        p->accept.data, &p->accept.job.id);
    }

    /* the fast path: send at once */

    if (rc == NGX_OK) {
        ngx_http_victorops_queue_kick(vi);
    }
}


/*
 * One accepted job, unless a duplicate key of it is taken already:
 * then nothing of it is written (the keys claimed before it stay).
 */

static ngx_int_t
ngx_http_victorops_pending_write(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_pending_t *p, int64_t now)
{
    ngx_int_t                     rc;
    ngx_uint_t                    i;
    ngx_http_victorops_accept_t  *a;

    a = &p->accept;

    a->job.created = now;
    p->duplicate = 0;

    for (i = 0; i < NGX_HTTP_VICTOROPS_DUPS_MAX && a->dups[i].type; i++) {
        rc = ngx_http_victorops_dup_claim(vi, &a->dups[i], now);

        if (rc == NGX_DECLINED) {
            p->duplicate = 1;
            return NGX_OK;
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    rc = ngx_http_victorops_store_insert(vi, &a->job);

    if (rc == NGX_OK && a->effects) {
        rc = ngx_http_victorops_effects_write(vi, a->effects, now);
    }

    return rc;
}


/* NGX_DECLINED: the store holds the key already */

static ngx_int_t
ngx_http_victorops_dup_claim(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_dup_t *dup, int64_t now)
{
    ngx_int_t  rc;

    switch (dup->type) {

    case NGX_HTTP_VICTOROPS_DUP_HASH:

        /* claimed in the shared index (dedup.c): only recorded */

        rc = ngx_http_victorops_store_dedup_claim(vi, dup->key.data,
                                         dup->key.len, now,
                                         dup->claimed
                                         ? now : now - (int64_t) dup->window);

        return (rc == NGX_DECLINED && dup->claimed) ? NGX_OK : rc;

    case NGX_HTTP_VICTOROPS_DUP_EVENT:
        return ngx_http_victorops_store_event_seen(vi, &dup->key, now);

    default: /* NGX_HTTP_VICTOROPS_DUP_SIGNATURE */
        return ngx_http_victorops_store_signature_claim(vi, dup->key.data,
                                                        dup->key.len, now);
    }
}


/* how long a commit took, for the status endpoint ("store") */

static void
ngx_http_victorops_commit_time(ngx_http_victorops_integration_t *vi,
    ngx_log_t *log, struct timeval *start, ngx_uint_t n)
{
    ngx_msec_t      us;
    struct timeval  end;

    ngx_gettimeofday(&end);

    us = (end.tv_sec - start->tv_sec) * 1000000
         + (end.tv_usec - start->tv_usec);

    if (vi->sh) {
        (void) ngx_atomic_fetch_add(&vi->sh->commits, 1);
        (void) ngx_atomic_fetch_add(&vi->sh->commit_us, us);

        if (us > vi->sh->commit_us_max) {
            vi->sh->commit_us_max = us;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "victorops commit: %ui jobs in %M us", n, us);
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

    ngx_http_victorops_outcomes_write(c->data);
}


static void
ngx_http_victorops_outcomes_write(ngx_http_victorops_integration_t *vi)
{
    int64_t                        now, earliest;
    ngx_int_t                      tx, rc;
    ngx_str_t                      none = ngx_null_string;
    ngx_queue_t                   *q;
    ngx_http_victorops_job_t       job;
    ngx_http_victorops_outcome_t  *o;

    if (ngx_queue_empty(&vi->outcomes) || vi->st == NULL) {
        return;
    }

    now = ngx_http_victorops_now();

    /* without a transaction each statement commits on its own */

    tx = (ngx_http_victorops_store_begin(vi) == NGX_OK);

    ngx_memzero(&job, sizeof(ngx_http_victorops_job_t));

    earliest = 0;

    while (!ngx_queue_empty(&vi->outcomes)) {
        q = ngx_queue_head(&vi->outcomes);
        ngx_queue_remove(q);

        o = ngx_queue_data(q, ngx_http_victorops_outcome_t, queue);

        job.seq = o->seq;

        if ((o->op == NGX_HTTP_VICTOROPS_RETRY
             || o->op == NGX_HTTP_VICTOROPS_RELEASE)
            && (earliest == 0 || o->at < earliest))
        {
            earliest = o->at;
        }

        switch (o->op) {

        case NGX_HTTP_VICTOROPS_DONE:
            if (o->alert.len) {
                (void) ngx_http_victorops_store_link_set(vi, &o->key,
                                                         &o->incident,
                                                         &o->entity, &none,
                                                         &o->alert, now);
            }

            rc = ngx_http_victorops_store_done(vi, &job);
            break;

        case NGX_HTTP_VICTOROPS_RETRY:
            rc = ngx_http_victorops_store_retry(vi, &job, o->at, o->status,
                                                &o->error);
            break;

        case NGX_HTTP_VICTOROPS_RELEASE:
            rc = ngx_http_victorops_store_release(vi, &job, o->at);
            break;

        default: /* NGX_HTTP_VICTOROPS_DEAD */
            rc = ngx_http_victorops_store_dead(vi, &job, o->status,
                                               &o->error, o->at);
            break;
        }

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_WARN, vi->dispatch_event.log, 0,
                          "victorops integration \"%V\": a job's outcome "
                          "came after its lease ran out; the job went back "
                          "to the queue", &vi->name);

            if (o->effects) {
                ngx_destroy_pool(o->effects->pool);
                o->effects = NULL;
            }
        }

        if (o->effects) {
            (void) ngx_http_victorops_effects_write(vi, o->effects, now);
            ngx_destroy_pool(o->effects->pool);
        }

        ngx_free(o);
    }

    if (tx) {
        (void) ngx_http_victorops_store_commit(vi);
    }

    /*
     * Jobs back in the queue (a rate limit, a retry) are due again at
     * "earliest": the dispatcher, which may have found nothing due while
     * they were still leased, looks again then.
     */

    if (earliest && vi->dispatch_event.handler) {
        ngx_http_victorops_dispatch_at(vi, now, earliest);
    }
}


/*
 * Effects: the links a finished job changes and the jobs it leaves to
 * do (a timeline event after a page), written with its outcome, in a
 * pool of their own that goes with them.
 */

ngx_http_victorops_effects_t *
ngx_http_victorops_effects_create(ngx_log_t *log)
{
    ngx_pool_t                    *pool;
    ngx_http_victorops_effects_t  *fx;

    pool = ngx_create_pool(2048, log);
    if (pool == NULL) {
        return NULL;
    }

    fx = ngx_http_victorops_effects_alloc(pool);
    if (fx == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    return fx;
}


/* effects in a pool they do not own: an accepted job's, the request's */

ngx_http_victorops_effects_t *
ngx_http_victorops_effects_alloc(ngx_pool_t *pool)
{
    ngx_http_victorops_effects_t  *fx;

    fx = ngx_palloc(pool, sizeof(ngx_http_victorops_effects_t));
    if (fx == NULL
        || ngx_array_init(&fx->links, pool, 2,
                          sizeof(ngx_http_victorops_link_t))
           != NGX_OK
        || ngx_array_init(&fx->jobs, pool, 2,
                          sizeof(ngx_http_victorops_job_t))
           != NGX_OK)
    {
        return NULL;
    }

    fx->pool = pool;

    return fx;
}


/* a new job about the same incident as "from", copied into the effects */

ngx_http_victorops_job_t *
ngx_http_victorops_effects_job(ngx_http_victorops_effects_t *fx,
    ngx_http_victorops_job_t *from, ngx_uint_t kind, ngx_str_t *body)
{
    ngx_http_victorops_job_t  *job;

    job = ngx_array_push(&fx->jobs);
    if (job == NULL) {
        return NULL;
    }

    ngx_memzero(job, sizeof(ngx_http_victorops_job_t));

    job->integration = from->integration;
    job->kind = kind;

    if (ngx_http_victorops_job_id(fx->pool, &job->id) != NGX_OK) {
        return NULL;
    }

    job->key.data = ngx_pstrdup(fx->pool, &from->key);
    job->key.len = from->key.len;
    job->incident.data = ngx_pstrdup(fx->pool, &from->incident);
    job->incident.len = from->incident.len;
    job->body.data = ngx_pstrdup(fx->pool, body);
    job->body.len = body->len;

    if ((from->key.len && job->key.data == NULL)
        || (from->incident.len && job->incident.data == NULL)
        || (body->len && job->body.data == NULL))
    {
        return NULL;
    }

    return job;
}


/* a change to a link in the effects: zeroed, but for its "op" */

ngx_http_victorops_link_t *
ngx_http_victorops_effects_link(ngx_http_victorops_effects_t *fx,
    ngx_uint_t op)
{
    ngx_http_victorops_link_t  *link;

    link = ngx_array_push(&fx->links);
    if (link == NULL) {
        return NULL;
    }

    ngx_memzero(link, sizeof(ngx_http_victorops_link_t));

    link->op = op;

    return link;
}


ngx_int_t
ngx_http_victorops_effects_write(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_effects_t *fx, int64_t now)
{
    ngx_uint_t                  i;
    ngx_http_victorops_job_t   *job;
    ngx_http_victorops_link_t  *link;

    link = fx->links.elts;

    for (i = 0; i < fx->links.nelts; i++) {
        if (ngx_http_victorops_store_link_write(vi, &link[i], now) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    job = fx->jobs.elts;

    for (i = 0; i < fx->jobs.nelts; i++) {
        job[i].created = now;

        if (ngx_http_victorops_store_insert(vi, &job[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (fx->jobs.nelts) {
        ngx_http_victorops_queue_kick(vi);
    }

    return NGX_OK;
}


/*
 * The dispatcher: claims due jobs, as many as there is room in flight
 * for, and hands each to the sender of its kind (job.c's table).
 */

static void
ngx_http_victorops_dispatch_handler(ngx_event_t *ev)
{
    int64_t                            now, next, due, until;
    ngx_connection_t                  *c;
    ngx_http_victorops_integration_t  *vi;

    c = ev->data;
    vi = c->data;

    if (vi->st == NULL || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    now = ngx_http_victorops_now();
    next = now + NGX_HTTP_VICTOROPS_POLL;

    /*
     * The WAL goes into the database from here, between commits and after
     * their replies, not inside a commit as SQLite's automatic checkpoint
     * does; a little WAL left idle is written within a minute.
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
        due = ngx_http_victorops_store_next_due(vi);

        if (due > now) {
            next = ngx_min(next, due);
        }

        ngx_http_victorops_dispatch_at(vi, now, next);
        return;
    }

    switch (ngx_http_victorops_dispatch_claim(vi, ev->log, now, &next)) {

    case NGX_AGAIN:
        ngx_http_victorops_queue_kick(vi);
        return;

    case NGX_ERROR:
        ngx_http_victorops_dispatch_at(vi, now, next);
        return;

    default: /* NGX_OK */
        break;
    }

    due = ngx_http_victorops_store_next_due(vi);

    if (due > now) {
        next = ngx_min(next, due);
    }

    ngx_http_victorops_dispatch_at(vi, now, next);
}


/*
 * Claims what is due, as many as there is room in flight for, with a
 * lease of the send timeout plus 5 s, and dispatches them.  NGX_AGAIN:
 * room for all, more may be due; NGX_ERROR: no memory.
 */

static ngx_int_t
ngx_http_victorops_dispatch_claim(ngx_http_victorops_integration_t *vi,
    ngx_log_t *log, int64_t now, int64_t *next)
{
    int64_t       lease;
    ngx_int_t     rc;
    ngx_uint_t    room;
    ngx_pool_t   *pool;
    ngx_array_t   jobs;

    room = ngx_min(NGX_HTTP_VICTOROPS_INFLIGHT_MAX - vi->inflight,
                   NGX_HTTP_VICTOROPS_CLAIM_MAX);

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    lease = now + (int64_t) vi->rootly_timeout
            + NGX_HTTP_VICTOROPS_LEASE_EXTRA;

    rc = NGX_OK;

    if (ngx_array_init(&jobs, pool, room, sizeof(ngx_http_victorops_job_t))
        == NGX_OK
        && ngx_http_victorops_store_claim(vi, pool, now, lease, room, &jobs)
           == NGX_OK)
    {
        if (ngx_http_victorops_dispatch_jobs(vi, &jobs, now, next)) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                           "victorops \"%V\": alert_limit reached",
                           &vi->name);

        } else if (jobs.nelts == room) {
            rc = NGX_AGAIN;
        }
    }

    ngx_destroy_pool(pool);

    return rc;
}


/*
 * Now and then: jobs leased by workers that died go back; once a
 * minute, deliveries older than duplicate_window, Rootly event ids
 * older than a day and escalation-policy signatures older than a day
 * (or duplicate_window, if longer) are forgotten; retention.
 */

static void
ngx_http_victorops_dispatch_chores(ngx_http_victorops_integration_t *vi,
    ngx_log_t *log, int64_t now)
{
    ngx_uint_t  n;

    if (now - vi->leases_checked > NGX_HTTP_VICTOROPS_LEASE_CHECK) {
        vi->leases_checked = now;

        if (ngx_http_victorops_store_expire_leases(vi, now, &n) == NGX_OK
            && n)
        {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "victorops integration \"%V\": %ui jobs leased by "
                          "a worker that exited are queued again",
                          &vi->name, n);
        }
    }

    if (now - vi->dedup_expired > 60000) {
        vi->dedup_expired = now;
        (void) ngx_http_victorops_store_dedup_expire(vi,
                                       now - (int64_t) vi->duplicate_window,
                                       now - NGX_HTTP_VICTOROPS_EVENTS_KEPT);
        (void) ngx_http_victorops_store_signature_expire(vi,
                       now - ngx_max((int64_t) vi->duplicate_window,
                                     NGX_HTTP_VICTOROPS_SIGNATURES_KEPT));
    }

    if (now >= vi->retained) {
        ngx_http_victorops_retention(vi, log, now);
    }
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


/*
 * Once a minute: dead letters dead for longer than "retention", and
 * links unchanged for that long, are deleted a batch at a time; while
 * there are more, the next batch goes within a second.
 */

static void
ngx_http_victorops_retention(ngx_http_victorops_integration_t *vi,
    ngx_log_t *log, int64_t now)
{
    ngx_int_t   rc;
    ngx_uint_t  dead, links;

    vi->retained = now + NGX_HTTP_VICTOROPS_RETAIN_EVERY;

    rc = ngx_http_victorops_store_retention(vi,
                                            now - (int64_t) vi->retention
                                                  * 1000,
                                            NGX_HTTP_VICTOROPS_RETAIN_BATCH,
                                            &dead, &links);
    if (rc != NGX_OK || (dead == 0 && links == 0)) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "victorops integration \"%V\": retention: %ui dead "
                  "letters and %ui links older than %T s deleted",
                  &vi->name, dead, links, vi->retention);

    if (dead == NGX_HTTP_VICTOROPS_RETAIN_BATCH
        || links == NGX_HTTP_VICTOROPS_RETAIN_BATCH)
    {
        vi->retained = now + NGX_HTTP_VICTOROPS_POLL;
    }
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
