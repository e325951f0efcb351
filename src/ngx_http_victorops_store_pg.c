
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The store's ops on a PostgreSQL store: each op becomes one pipeline
 * batch sent through the worker's connection (pg_send(), never a
 * blocking call), and its handler is called on the event loop once the
 * batch is committed.  Several nodes share the database: the database
 * decides duplicates (the dedup table), claims take the head of each
 * key FOR UPDATE SKIP LOCKED with a random lease token, outcomes apply
 * while the job still holds that token, and any node returns the jobs
 * whose lease ran out.  See docs/postgresql.md.
 *
 * A batch is one transaction: the implicit one of the extended protocol,
 * from the first statement to the sync that ends the batch (committed
 * there, or rolled back whole if a statement failed; an explicit BEGIN
 * would leave the session in a failed transaction after an error, and
 * the next op's statements would fail in it).  The commit is confirmed
 * by a query of its own after the sync ("SELECT 1": an error of the
 * commit would be its answer), and only its answer completes the op.
 *
 * Parameters are text but for bytea (binary); results are text (a job's
 * body comes hex-encoded).  An op the connection cannot take (down,
 * backing off) fails at once (its handler called from a posted event):
 * nothing of it was acknowledged.  An op that failed because PostgreSQL
 * is unavailable (not connected, the connection lost, the server
 * shutting down or too slow) completes with "rc" NGX_AGAIN, any other
 * failure with NGX_ERROR: the spool (store_spool.c) keeps an APPEND of
 * the first kind.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>
#include <libpq-fe.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_store_pg_run.h"


static void ngx_http_victorops_store_pg_fail_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_victorops_store_pg_exec(
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_store_pg_exec_done(
    ngx_http_victorops_pgb_t *b);
static ngx_int_t ngx_http_victorops_store_pg_batch(
    ngx_http_victorops_pg_run_t *run);
static ngx_int_t ngx_http_victorops_store_pg_append(
    ngx_http_victorops_pg_run_t *run);
static ngx_int_t ngx_http_victorops_store_pg_pending(
    ngx_http_victorops_pg_run_t *run, ngx_http_victorops_pending_t *p);
static ngx_int_t ngx_http_victorops_store_pg_outcomes(
    ngx_http_victorops_pg_run_t *run);
static ngx_int_t ngx_http_victorops_store_pg_outcome(
    ngx_http_victorops_pg_run_t *run, ngx_http_victorops_outcome_t *o);
static ngx_int_t ngx_http_victorops_store_pg_claim(
    ngx_http_victorops_pg_run_t *run);
static ngx_int_t ngx_http_victorops_store_pg_expire(
    ngx_http_victorops_pg_run_t *run);
static void ngx_http_victorops_store_pg_answer(
    ngx_http_victorops_pg_query_t *pq, PGresult *res);
static ngx_uint_t ngx_http_victorops_store_pg_unavailable(PGresult *res);
static ngx_int_t ngx_http_victorops_store_pg_jobs(
    ngx_http_victorops_pg_run_t *run, PGresult *res);
static ngx_int_t ngx_http_victorops_store_pg_job(ngx_pool_t *pool,
    PGresult *res, int row, ngx_http_victorops_job_t *job);
static void ngx_http_victorops_store_pg_done(
    ngx_http_victorops_pg_run_t *run);


/*
 * The statements.  $1 is the integration's name wherever a row is
 * looked up by it; times are the database's (victorops_now_ms()), so
 * that nodes agree on due times and leases whatever their clocks.
 */

/*
 * An accepted job, unless its delivery was taken within
 * duplicate_window by any node: no row returned is a duplicate.  A job
 * whose id is there already is one too: a spooled job moved again
 * (store_spool.c) after a move whose COMMIT reached the database.
 */

static const char  ngx_http_victorops_pg_append_dup[] =
    "WITH d AS (INSERT INTO dedup (integration, hash, seen_at)"
    " VALUES ($1, $9::bytea, victorops_now_ms())"
    " ON CONFLICT (integration, hash) DO UPDATE SET seen_at = EXCLUDED.seen_at"
    " WHERE dedup.seen_at <= EXCLUDED.seen_at - $10::bigint RETURNING 1)"
    " INSERT INTO jobs (integration, id, kind, class, key, incident, entity,"
    " body, created_at, next_at)"
    " SELECT $1, $2, $3::smallint, $4::smallint, $5, $6, $7, $8::bytea,"
    " victorops_now_ms(), victorops_now_ms()"
    " WHERE EXISTS (SELECT 1 FROM d)"
    " ON CONFLICT (integration, id) DO NOTHING RETURNING seq";

/*
 * A job for a Rootly event, unless any node recorded its event id
 * already: no row returned is a duplicate.
 */

static const char  ngx_http_victorops_pg_append_event[] =
    "WITH d AS (INSERT INTO rootly_events (integration, id, seen_at)"
    " VALUES ($1, $9, victorops_now_ms())"
    " ON CONFLICT (integration, id) DO NOTHING RETURNING 1)"
    " INSERT INTO jobs (integration, id, kind, class, key, incident, entity,"
    " body, created_at, next_at)"
    " SELECT $1, $2, $3::smallint, $4::smallint, $5, $6, $7, $8::bytea,"
    " victorops_now_ms(), victorops_now_ms()"
    " WHERE EXISTS (SELECT 1 FROM d) RETURNING seq";

/*
 * A signed escalation-policy webhook's job, unless any node took its
 * signature ($9) already; with a duplicate_window, its delivery's digest
 * ($10, within $11 ms) as above, claimed only for a new signature.
 */

#define NGX_HTTP_VICTOROPS_PG_SIG                                             \
    "WITH s AS (INSERT INTO signatures (integration, sig, seen_at)"           \
    " VALUES ($1, $9::bytea, victorops_now_ms())"                             \
    " ON CONFLICT (integration, sig) DO NOTHING RETURNING 1)"

#define NGX_HTTP_VICTOROPS_PG_SIG_JOB(cte)                                    \
    " INSERT INTO jobs (integration, id, kind, class, key, incident, entity," \
    " body, created_at, next_at)"                                             \
    " SELECT $1, $2, $3::smallint, $4::smallint, $5, $6, $7, $8::bytea,"      \
    " victorops_now_ms(), victorops_now_ms()"                                 \
    " WHERE EXISTS (SELECT 1 FROM " cte ")"                                   \
    " ON CONFLICT (integration, id) DO NOTHING RETURNING seq"

static const char  ngx_http_victorops_pg_append_sig[] =
    NGX_HTTP_VICTOROPS_PG_SIG NGX_HTTP_VICTOROPS_PG_SIG_JOB("s");

static const char  ngx_http_victorops_pg_append_sig_dup[] =
    NGX_HTTP_VICTOROPS_PG_SIG
    ", d AS (INSERT INTO dedup (integration, hash, seen_at)"
    " SELECT $1, $10::bytea, victorops_now_ms() WHERE EXISTS (SELECT 1 FROM s)"
    " ON CONFLICT (integration, hash) DO UPDATE SET seen_at = EXCLUDED.seen_at"
    " WHERE dedup.seen_at <= EXCLUDED.seen_at - $11::bigint RETURNING 1)"
    NGX_HTTP_VICTOROPS_PG_SIG_JOB("d");

static const char  ngx_http_victorops_pg_append[] =
    "INSERT INTO jobs (integration, id, kind, class, key, incident, entity,"
    " body, created_at, next_at)"
    " VALUES ($1, $2, $3::smallint, $4::smallint, $5, $6, $7, $8::bytea,"
    " victorops_now_ms(), victorops_now_ms())"
    " ON CONFLICT (integration, id) DO NOTHING RETURNING seq";

/*
 * A create's mark, dropped with the outcome that ends its job (done or
 * dead) if that applied: VictorOps webhooks held meanwhile go on.
 */

static const char  ngx_http_victorops_pg_creating_drop[] =
    "DELETE FROM links WHERE integration = $1 AND key = $2"
    " AND current_setting('victorops.outcome') = '1'";

/*
 * Outcomes apply to a job that still holds the claim's lease token;
 * whether one did is kept for the statements of its effects.
 */

#define NGX_HTTP_VICTOROPS_PG_OUTCOME(dml)                                    \
    "WITH o AS (" dml " WHERE seq = $1 AND state = 1 AND lease_token = $2"    \
    " RETURNING 1) SELECT set_config('victorops.outcome',"                    \
    " (SELECT count(*) FROM o)::text, true)"

static const char  *ngx_http_victorops_pg_outcome_sql[] = {

    /* NGX_HTTP_VICTOROPS_DONE */
    NGX_HTTP_VICTOROPS_PG_OUTCOME("DELETE FROM jobs"),

    /* NGX_HTTP_VICTOROPS_RETRY */
    NGX_HTTP_VICTOROPS_PG_OUTCOME("UPDATE jobs SET state = 0,"
        " next_at = victorops_now_ms() + $3::bigint, lease_until = 0,"
        " lease_owner = '', lease_token = 0, last_status = $4::integer,"
        " last_error = $5"),

    /* NGX_HTTP_VICTOROPS_RELEASE: not an attempt */
    NGX_HTTP_VICTOROPS_PG_OUTCOME("UPDATE jobs SET state = 0,"
        " next_at = victorops_now_ms() + $3::bigint, lease_until = 0,"
        " lease_owner = '', lease_token = 0,"
        " attempts = greatest(attempts - 1, 0)"),

    /* NGX_HTTP_VICTOROPS_DEAD */
    NGX_HTTP_VICTOROPS_PG_OUTCOME("UPDATE jobs SET state = 2,"
        " lease_until = 0, lease_owner = '', lease_token = 0,"
        " last_status = $3::integer, last_error = $4,"
        " dead_at = victorops_now_ms()")
};

/* the Rootly alert a delivered job made, linked whoever holds the job */

static const char  ngx_http_victorops_pg_link_set[] =
    "INSERT INTO links AS l (integration, key, incident, entity,"
    " rootly_incident, rootly_alert, updated_at)"
    " VALUES ($1, $2, $3, $4, '', $5, victorops_now_ms())"
    " ON CONFLICT (integration, key) DO UPDATE SET"
    " incident = CASE WHEN EXCLUDED.incident <> '' THEN EXCLUDED.incident"
    "  ELSE l.incident END,"
    " entity = CASE WHEN EXCLUDED.entity <> '' THEN EXCLUDED.entity"
    "  ELSE l.entity END,"
    " rootly_alert = CASE WHEN EXCLUDED.rootly_alert <> ''"
    "  THEN EXCLUDED.rootly_alert ELSE l.rootly_alert END,"
    " updated_at = EXCLUDED.updated_at";

/*
 * Due heads of keys (no earlier pending or running job of the key, and
 * no later one running either: a dead letter replayed behind a newer
 * job in flight waits for it, as jobs_one_running would refuse it),
 * leased with the claim's token, and with each the link of its key (as
 * store_link_get() finds it) so that dispatch reads nothing more; a
 * VictorOps delivery (kind 9, JOB_EVENT) with none, whether any node is
 * creating a VictorOps incident meanwhile (a create's mark, made before
 * its call and dropped with its job, written again within 10 minutes),
 * first marked before the delivery came (synced_at): the delivery may be
 * about that incident, whose link is not written yet.  A create marked
 * after the delivery came cannot have made its incident: deliveries are
 * not held behind creates that come later.
 *
 * Its plan must not depend on statistics (a table never analyzed): the
 * due index walked in order up to the database's time (an InitPlan, so
 * an index bound), each candidate's head and its key's running job
 * checked by scalar subqueries (never pulled up into a join: an index
 * probe of jobs_key and of jobs_one_running per candidate), the leased
 * rows by their primary key (= ANY).  t/107 checks the plan; it reads
 * this statement from this file.
 */

static const char  ngx_http_victorops_pg_claim[] =
    "WITH cand AS MATERIALIZED (SELECT j.seq FROM jobs j"
    "  WHERE j.integration = $1 AND j.state = 0"
    "  AND j.next_at <= (SELECT victorops_now_ms())"
    "  AND j.seq = (SELECT e.seq FROM jobs e WHERE e.integration = $1"
    "   AND e.key = j.key AND e.state IN (0, 1) ORDER BY e.seq LIMIT 1)"
    "  AND (SELECT r.seq FROM jobs r WHERE r.integration = $1"
    "   AND r.key = j.key AND r.state = 1 LIMIT 1) IS NULL"
    "  ORDER BY j.next_at, j.seq LIMIT $2::integer FOR UPDATE SKIP LOCKED),"
    " c AS (UPDATE jobs j SET state = 1, attempts = j.attempts + 1,"
    "  lease_until = victorops_now_ms() + $3::bigint, lease_owner = $4,"
    "  lease_token = $5::bigint"
    "  WHERE j.seq = ANY (ARRAY(SELECT cand.seq FROM cand))"
    "  RETURNING j.seq, j.id, j.kind, j.class, j.key, j.incident, j.entity,"
    "  j.body, j.attempts, j.created_at)"
    " SELECT c.seq, c.id, c.kind, c.class, c.key, c.incident, c.entity,"
    " encode(c.body, 'hex'), c.attempts, c.created_at,"
    " l.rootly_incident, l.rootly_alert, l.found,"
    " l.found IS NULL AND c.kind = 9 AND EXISTS (SELECT 1 FROM links m"
    "  WHERE m.integration = $1 AND m.incident = '~creating'"
    "  AND m.synced_at <= c.created_at"
    "  AND m.updated_at > victorops_now_ms() - 600000)"
    " FROM c LEFT JOIN LATERAL (SELECT k.rootly_incident, k.rootly_alert,"
    "  1 AS found FROM links k WHERE k.integration = $1"
    "  AND (k.key = c.key OR (c.incident <> '' AND k.incident = c.incident)"
    "  OR (c.entity <> '' AND k.entity = c.entity))"
    "  ORDER BY k.rootly_incident = '' LIMIT 1) l ON true"
    " ORDER BY c.seq";

/* jobs whose lease ran out, whichever node held them */

static const char  ngx_http_victorops_pg_expire[] =
    "UPDATE jobs SET state = 0, lease_until = 0, lease_owner = '',"
    " lease_token = 0 WHERE seq IN (SELECT seq FROM jobs"
    "  WHERE integration = $1 AND state = 1"
    "  AND lease_until <= victorops_now_ms() FOR UPDATE SKIP LOCKED)"
    " RETURNING seq";

static const char  ngx_http_victorops_pg_dedup_gc[] =
    "DELETE FROM dedup WHERE integration = $1"
    " AND seen_at <= victorops_now_ms() - $2::bigint";

/* retention: a batch of dead letters, then of links nothing waits for */

static const char  ngx_http_victorops_pg_dead_gc[] =
    "WITH d AS (DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs"
    "  WHERE integration = $1 AND state = 2"
    "  AND dead_at <= victorops_now_ms() - $2::bigint"
    "  ORDER BY dead_at LIMIT $3::integer) RETURNING 1)"
    " SELECT count(*) FROM d";

static const char  ngx_http_victorops_pg_links_gc[] =
    "WITH d AS (DELETE FROM links WHERE integration = $1 AND key IN"
    "  (SELECT l.key FROM links l WHERE l.integration = $1"
    "   AND l.updated_at <= victorops_now_ms() - $2::bigint"
    "   AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.integration = $1"
    "    AND j.key = l.key AND j.state < 2)"
    "   ORDER BY l.updated_at LIMIT $3::integer) RETURNING 1)"
    " SELECT count(*) FROM d";

/*
 * Rootly event ids are kept a day, as the SQLite store keeps them;
 * Slack's signatures as long as slack_replay_window ($2) and a minute
 */

static const char  ngx_http_victorops_pg_events_gc[] =
    "WITH s AS (DELETE FROM signatures WHERE integration = $1"
    "  AND seen_at <= victorops_now_ms() - $2::bigint)"
    " DELETE FROM rootly_events WHERE integration = $1"
    " AND seen_at <= victorops_now_ms() - 86400000";


/* in each worker, once its connection is started (pg_init()) */

ngx_int_t
ngx_http_victorops_store_pg_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_pg_ops_t   *ops;
    ngx_http_victorops_pg_info_t   info;

    ops = ngx_pcalloc(cycle->pool, sizeof(ngx_http_victorops_pg_ops_t));
    if (ops == NULL) {
        return NGX_ERROR;
    }

    ngx_http_victorops_pg_info(vi, &info);

    ops->vi = vi;
    ops->name.len = vi->name.len;
    ops->name.data = ngx_pnalloc(cycle->pool, vi->name.len + 1);
    ops->node.len = info.node.len;
    ops->node.data = ngx_pnalloc(cycle->pool, info.node.len + 1);

    if (ops->name.data == NULL || ops->node.data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(ops->name.data, vi->name.data, vi->name.len) = '\0';
    *ngx_cpymem(ops->node.data, info.node.data, info.node.len) = '\0';

    ngx_queue_init(&ops->failed);

    ops->dummy.fd = (ngx_socket_t) -1;
    ops->dummy.data = ops;

    ops->fail_event.handler = ngx_http_victorops_store_pg_fail_handler;
    ops->fail_event.data = &ops->dummy;
    ops->fail_event.log = cycle->log;

    vi->pg_ops = ops;

    return NGX_OK;
}


/*
 * The worker exits: ops that could not be sent complete (failed) now;
 * those in flight complete when the connection closes (pg_done()).
 */

void
ngx_http_victorops_store_pg_finish(ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_pg_ops_t  *ops;

    ops = vi->pg_ops;

    if (ops == NULL) {
        return;
    }

    if (ops->fail_event.posted) {
        ngx_delete_posted_event(&ops->fail_event);
    }

    ngx_http_victorops_store_pg_fail_handler(&ops->fail_event);
}


/*
 * The store_post() of a PostgreSQL store: the op as one batch; one the
 * connection cannot take fails, its handler called from a posted event
 * (never from within store_post(): callers set state after posting).
 */

void
ngx_http_victorops_store_pg_post(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_int_t                     rc;
    ngx_pool_t                   *pool;
    ngx_http_victorops_pg_ops_t  *ops;
    ngx_http_victorops_pg_run_t  *run;

    ops = vi->pg_ops;

    op->rc = NGX_OK;
    rc = NGX_ERROR;

    if (op->type == NGX_HTTP_VICTOROPS_OP_EXEC && op->pg_exec) {
        if (ngx_http_victorops_store_pg_exec(vi, op) == NGX_OK) {
            return;
        }

        goto failed;
    }

    pool = ngx_create_pool(4096, ops->fail_event.log);
    if (pool == NULL) {
        goto failed;
    }

    run = ngx_pcalloc(pool, sizeof(ngx_http_victorops_pg_run_t));
    if (run == NULL) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    run->op = op;
    run->ops = ops;
    run->pool = pool;
    run->rc = NGX_OK;

    rc = ngx_http_victorops_store_pg_batch(run);

    if (rc == NGX_OK) {
        return;
    }

    ngx_destroy_pool(pool);

failed:

    /* NGX_DECLINED: the connection took nothing (down, backing off) */

    op->rc = (rc == NGX_DECLINED) ? NGX_AGAIN : NGX_ERROR;

    ngx_http_victorops_store_pg_failed(vi, op);
}


/*
 * An op (or store call) that could not be sent, its "rc" set (NGX_AGAIN:
 * PostgreSQL is unavailable; NGX_ERROR): it completes, posted
 */

void
ngx_http_victorops_store_pg_failed(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_pg_ops_t  *ops;

    ops = vi->pg_ops;

    ngx_queue_insert_tail(&ops->failed, &op->queue);

    if (!ops->fail_event.posted) {
        ngx_post_event(&ops->fail_event, &ngx_posted_events);
    }
}


/* an EXEC of a feature: its queries (op->pg_exec()), one batch */

static ngx_int_t
ngx_http_victorops_store_pg_exec(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_pool_t                *pool;
    ngx_http_victorops_pgb_t  *b;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    b = ngx_http_victorops_pgb_create(vi, pool);
    if (b == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    b->data = op;
    b->done = ngx_http_victorops_store_pg_exec_done;

    if (op->pg_exec(b, op) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    if (ngx_http_victorops_pgb_send(b) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_victorops_store_pg_exec_done(ngx_http_victorops_pgb_t *b)
{
    ngx_http_victorops_store_op_t  *op;

    op = b->data;

    if (b->rc != NGX_OK) {
        op->rc = NGX_ERROR;
    }

    ngx_destroy_pool(b->pool);

    op->handler(op);
}


static void
ngx_http_victorops_store_pg_fail_handler(ngx_event_t *ev)
{
    ngx_queue_t                    *q;
    ngx_connection_t               *c;
    ngx_http_victorops_pg_ops_t    *ops;
    ngx_http_victorops_store_op_t  *op;

    c = ev->data;
    ops = c->data;

    while (!ngx_queue_empty(&ops->failed)) {
        q = ngx_queue_head(&ops->failed);
        ngx_queue_remove(q);

        op = ngx_queue_data(q, ngx_http_victorops_store_op_t, queue);
        op->handler(op);
    }
}


/*
 * The op's queries, built in the run's pool, then sent together: none
 * is sent unless all could be built, and pg_send() takes either all
 * (one pass of the event loop, one batch) or none (it is down:
 * NGX_DECLINED).
 */

static ngx_int_t
ngx_http_victorops_store_pg_batch(ngx_http_victorops_pg_run_t *run)
{
    ngx_int_t                  rc;
    ngx_uint_t                 i, n;
    ngx_array_t                queries;
    ngx_http_victorops_pgq_t  *q, **qp;

    if (ngx_array_init(&queries, run->pool, 8, sizeof(void *)) != NGX_OK) {
        return NGX_ERROR;
    }

    run->building = &queries;

    switch (run->op->type) {

    case NGX_HTTP_VICTOROPS_OP_APPEND:
        rc = ngx_http_victorops_store_pg_append(run);
        break;

    case NGX_HTTP_VICTOROPS_OP_OUTCOMES:
        rc = ngx_http_victorops_store_pg_outcomes(run);
        break;

    case NGX_HTTP_VICTOROPS_OP_CLAIM:
        rc = ngx_http_victorops_store_pg_claim(run);
        break;

    case NGX_HTTP_VICTOROPS_OP_EXPIRE:
        rc = ngx_http_victorops_store_pg_expire(run);
        break;

    default: /* NGX_HTTP_VICTOROPS_OP_EXEC */
        ngx_log_error(NGX_LOG_ALERT, run->ops->fail_event.log, 0,
                      "victorops integration \"%V\": a store function "
                      "(EXEC) on a PostgreSQL store", &run->ops->vi->name);
        rc = NGX_ERROR;
        break;
    }

    if (rc == NGX_OK && queries.nelts) {
        q = ngx_http_victorops_pgq(run, "SELECT 1",
                                   NGX_HTTP_VICTOROPS_PGQ_PLAIN, NULL);
        if (q == NULL) {
            rc = NGX_ERROR;

        } else {
            q->commit = 1;
        }
    }

    run->building = NULL;

    if (rc != NGX_OK || queries.nelts < 2) {
        return NGX_ERROR;
    }

    qp = queries.elts;
    n = queries.nelts;

    for (i = 0; i < n; i++) {
        q = qp[i];
        q->q.more = (i + 1 < n && !qp[i + 1]->commit);

        if (ngx_http_victorops_pg_send(run->ops->vi->pg, &q->q) != NGX_OK) {

            /* only the first can be refused: the state is the same */

            if (i == 0) {
                return NGX_DECLINED;
            }

            ngx_log_error(NGX_LOG_ALERT, run->ops->fail_event.log, 0,
                          "victorops pg: a batch refused halfway");
            run->rc = NGX_ERROR;
            break;
        }

        run->queries++;
    }

    return NGX_OK;
}


/*
 * APPEND: the batch in one transaction; the 202s go out once its
 * commit is confirmed.  Deliveries' hashes go to the database whatever the
 * duplicate index said (it is this node's: it may not tell another
 * node's deliveries).
 */

static ngx_int_t
ngx_http_victorops_store_pg_append(ngx_http_victorops_pg_run_t *run)
{
    ngx_queue_t                   *x;
    ngx_http_victorops_pending_t  *p;

    for (x = ngx_queue_head(&run->op->items);
         x != ngx_queue_sentinel(&run->op->items);
         x = ngx_queue_next(x))
    {
        p = ngx_queue_data(x, ngx_http_victorops_pending_t, queue);

        if (ngx_http_victorops_store_pg_pending(run, p) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_store_pg_pending(ngx_http_victorops_pg_run_t *run,
    ngx_http_victorops_pending_t *p)
{
    ngx_uint_t                    i;
    ngx_pool_t                   *pool;
    const char                   *sql;
    ngx_http_victorops_dup_t     *hash, *event, *sig, *dup;
    ngx_http_victorops_job_t     *job;
    ngx_http_victorops_pgq_t     *q;
    ngx_http_victorops_accept_t  *a;

    a = &p->accept;
    job = &a->job;
    pool = run->pool;
    hash = NULL;
    event = NULL;
    sig = NULL;

    p->duplicate = 0;

    /*
     * Its duplicate keys: a delivery's digest or a Rootly event id; or a
     * signature, alone or before a digest
     */

    for (i = 0; i < NGX_HTTP_VICTOROPS_DUPS_MAX && a->dups[i].type; i++) {
        dup = &a->dups[i];

        if (i > 1
            || (i == 1
                && (sig == NULL || dup->type != NGX_HTTP_VICTOROPS_DUP_HASH)))
        {
            ngx_log_error(NGX_LOG_ALERT, run->ops->fail_event.log, 0,
                          "victorops integration \"%V\": duplicate keys "
                          "the PostgreSQL store does not keep",
                          &run->ops->vi->name);
            return NGX_ERROR;
        }

        switch (dup->type) {

        case NGX_HTTP_VICTOROPS_DUP_SIGNATURE:
            sig = dup;
            break;

        case NGX_HTTP_VICTOROPS_DUP_EVENT:
            event = dup;
            break;

        default: /* NGX_HTTP_VICTOROPS_DUP_HASH */
            hash = dup;
            break;
        }
    }

    if (sig) {
        sql = hash ? ngx_http_victorops_pg_append_sig_dup
                   : ngx_http_victorops_pg_append_sig;

    } else {
        sql = hash ? ngx_http_victorops_pg_append_dup
                   : (event ? ngx_http_victorops_pg_append_event
                            : ngx_http_victorops_pg_append);
    }

    q = ngx_http_victorops_pgq(run, sql, NGX_HTTP_VICTOROPS_PGQ_JOB, p);

    if (q == NULL
        || ngx_http_victorops_pgq_str(q, pool, &run->ops->name) != NGX_OK
        || ngx_http_victorops_pgq_str(q, pool, &job->id) != NGX_OK
        || ngx_http_victorops_pgq_int(q, pool, job->kind) != NGX_OK
        || ngx_http_victorops_pgq_int(q, pool, job->class) != NGX_OK
        || ngx_http_victorops_pgq_str(q, pool, &job->key) != NGX_OK
        || ngx_http_victorops_pgq_str(q, pool, &job->incident) != NGX_OK
        || ngx_http_victorops_pgq_str(q, pool, &job->entity) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_victorops_pgq_bin(q, &job->body);

    if (sig) {
        ngx_http_victorops_pgq_bin(q, &sig->key);
    }

    if (hash) {
        ngx_http_victorops_pgq_bin(q, &hash->key);

        if (ngx_http_victorops_pgq_int(q, pool, hash->window) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (event && ngx_http_victorops_pgq_str(q, pool, &event->key) != NGX_OK) {
        return NGX_ERROR;
    }

    if (a->effects == NULL) {
        return NGX_OK;
    }

    return ngx_http_victorops_store_pg_effects(run, a->effects, 0, &job->id);
}


/* OUTCOMES: one transaction; an outcome that failed fails them all */

static ngx_int_t
ngx_http_victorops_store_pg_outcomes(ngx_http_victorops_pg_run_t *run)
{
    ngx_queue_t                   *x;
    ngx_http_victorops_outcome_t  *o;

    for (x = ngx_queue_head(&run->op->items);
         x != ngx_queue_sentinel(&run->op->items);
         x = ngx_queue_next(x))
    {
        o = ngx_queue_data(x, ngx_http_victorops_outcome_t, queue);

        if (ngx_http_victorops_store_pg_outcome(run, o) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_store_pg_outcome(ngx_http_victorops_pg_run_t *run,
    ngx_http_victorops_outcome_t *o)
{
    int64_t                    delay;
    ngx_str_t                  applied = ngx_string("1");
    ngx_pool_t                *pool;
    ngx_http_victorops_pgq_t  *q;

    pool = run->pool;
    o->rc = NGX_OK;

    /* the alert exists in Rootly: linked even if the lease ran out */

    if (o->op == NGX_HTTP_VICTOROPS_DONE && o->alert.len) {
        q = ngx_http_victorops_pgq(run, ngx_http_victorops_pg_link_set,
                                   NGX_HTTP_VICTOROPS_PGQ_PLAIN, NULL);

        if (q == NULL
            || ngx_http_victorops_pgq_str(q, pool, &run->ops->name) != NGX_OK
            || ngx_http_victorops_pgq_str(q, pool, &o->key) != NGX_OK
            || ngx_http_victorops_pgq_str(q, pool, &o->incident) != NGX_OK
            || ngx_http_victorops_pgq_str(q, pool, &o->entity) != NGX_OK
            || ngx_http_victorops_pgq_str(q, pool, &o->alert) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    q = ngx_http_victorops_pgq(run, ngx_http_victorops_pg_outcome_sql[o->op],
                               NGX_HTTP_VICTOROPS_PGQ_OUTCOME, o);
    if (q == NULL) {
        return NGX_ERROR;
    }

    delay = (o->at > run->op->now) ? o->at - run->op->now : 0;

    if (ngx_http_victorops_pgq_int(q, pool, o->seq) != NGX_OK
        || ngx_http_victorops_pgq_int(q, pool, o->token) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* $3 on: a retry's and a release's delay, a retry's or dead job's
     * status and error */

    if ((o->op == NGX_HTTP_VICTOROPS_RETRY
         || o->op == NGX_HTTP_VICTOROPS_RELEASE)
        && ngx_http_victorops_pgq_int(q, pool, delay) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if ((o->op == NGX_HTTP_VICTOROPS_RETRY || o->op == NGX_HTTP_VICTOROPS_DEAD)
        && (ngx_http_victorops_pgq_int(q, pool, o->status) != NGX_OK
            || ngx_http_victorops_pgq_str(q, pool, &o->error) != NGX_OK))
    {
        return NGX_ERROR;
    }

    /* a create's mark goes once the job is done with (or dead) */

    if (o->creating.len) {
        q = ngx_http_victorops_pgq(run, ngx_http_victorops_pg_creating_drop,
                                   NGX_HTTP_VICTOROPS_PGQ_PLAIN, NULL);

        if (q == NULL
            || ngx_http_victorops_pgq_str(q, pool, &run->ops->name) != NGX_OK
            || ngx_http_victorops_pgq_str(q, pool, &o->creating) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (o->effects == NULL) {
        return NGX_OK;
    }

    return ngx_http_victorops_store_pg_effects(run, o->effects, 1, &applied);
}


/* a query of the run, added to its list (run->queries while building) */

ngx_http_victorops_pgq_t *
ngx_http_victorops_pgq(ngx_http_victorops_pg_run_t *run, const char *sql,
    ngx_uint_t role, void *item)
{
    ngx_http_victorops_pgq_t  *q, **qp;

    q = ngx_pcalloc(run->pool, sizeof(ngx_http_victorops_pgq_t));
    if (q == NULL) {
        return NULL;
    }

    qp = ngx_array_push(run->building);
    if (qp == NULL) {
        return NULL;
    }

    *qp = q;

    q->run = run;
    q->item = item;
    q->role = role;

    q->q.sql = sql;
    q->q.prepare = (sql != ngx_http_victorops_pg_claim);  /* see the claim */
    q->q.values = q->values;
    q->q.lengths = q->lengths;
    q->q.formats = q->formats;
    q->q.handler = ngx_http_victorops_store_pg_answer;
    q->q.data = q;

    return q;
}


/* CLAIM: one statement; its lease token is random, new for each claim */

static ngx_int_t
ngx_http_victorops_store_pg_claim(ngx_http_victorops_pg_run_t *run)
{
    int64_t                         token;
    ngx_pool_t                     *pool;
    ngx_http_victorops_pgq_t       *q;
    ngx_http_victorops_store_op_t  *op;

    op = run->op;
    pool = run->pool;

    op->jobs.nelts = 0;

    do {
        if (RAND_bytes((u_char *) &token, sizeof(int64_t)) != 1) {
            return NGX_ERROR;
        }
    } while (token == 0);

    run->token = token;

    q = ngx_http_victorops_pgq(run, ngx_http_victorops_pg_claim,
                               NGX_HTTP_VICTOROPS_PGQ_CLAIM, NULL);

    if (q == NULL
        || ngx_http_victorops_pgq_str(q, pool, &run->ops->name) != NGX_OK
        || ngx_http_victorops_pgq_int(q, pool, op->n) != NGX_OK
        || ngx_http_victorops_pgq_int(q, pool, op->lease - op->now) != NGX_OK
        || ngx_http_victorops_pgq_str(q, pool, &run->ops->node) != NGX_OK
        || ngx_http_victorops_pgq_int(q, pool, token) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* EXPIRE: what the chores' flags ask, each a statement of the batch */

static ngx_int_t
ngx_http_victorops_store_pg_expire(ngx_http_victorops_pg_run_t *run)
{
    ngx_str_t                     *name;
    ngx_pool_t                    *pool;
    ngx_http_victorops_pgq_t      *q;
    ngx_http_victorops_chores_t   *ch;

    pool = run->pool;
    name = &run->ops->name;
    ch = (ngx_http_victorops_chores_t *) run->op;

    if (ch->dedup) {
        q = ngx_http_victorops_pgq(run, ngx_http_victorops_pg_events_gc,
                                   NGX_HTTP_VICTOROPS_PGQ_PLAIN, NULL);

        if (q == NULL
            || ngx_http_victorops_pgq_str(q, pool, name) != NGX_OK
            || ngx_http_victorops_pgq_int(q, pool,
                   run->op->integration->slack_replay_window + 60000)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ch->dedup && ch->duplicate_window) {
        q = ngx_http_victorops_pgq(run, ngx_http_victorops_pg_dedup_gc,
                                   NGX_HTTP_VICTOROPS_PGQ_PLAIN, NULL);

        if (q == NULL
            || ngx_http_victorops_pgq_str(q, pool, name) != NGX_OK
            || ngx_http_victorops_pgq_int(q, pool, ch->duplicate_window)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ch->retain) {
        q = ngx_http_victorops_pgq(run, ngx_http_victorops_pg_dead_gc,
                                   NGX_HTTP_VICTOROPS_PGQ_DEAD, NULL);

        if (q == NULL
            || ngx_http_victorops_pgq_str(q, pool, name) != NGX_OK
            || ngx_http_victorops_pgq_int(q, pool, ch->retention * 1000)
               != NGX_OK
            || ngx_http_victorops_pgq_int(q, pool, ch->batch) != NGX_OK)
        {
            return NGX_ERROR;
        }

        q = ngx_http_victorops_pgq(run, ngx_http_victorops_pg_links_gc,
                                   NGX_HTTP_VICTOROPS_PGQ_LINKS, NULL);

        if (q == NULL
            || ngx_http_victorops_pgq_str(q, pool, name) != NGX_OK
            || ngx_http_victorops_pgq_int(q, pool, ch->retention * 1000)
               != NGX_OK
            || ngx_http_victorops_pgq_int(q, pool, ch->batch) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (!ch->leases) {
        return NGX_OK;
    }

    q = ngx_http_victorops_pgq(run, ngx_http_victorops_pg_expire,
                               NGX_HTTP_VICTOROPS_PGQ_EXPIRE, NULL);

    if (q == NULL || ngx_http_victorops_pgq_str(q, pool, name) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a query's answer: what it says for its role; the last one completes */

static void
ngx_http_victorops_store_pg_answer(ngx_http_victorops_pg_query_t *pq,
    PGresult *res)
{
    char                          *v;
    ngx_int_t                      n;
    ExecStatusType                 status;
    ngx_http_victorops_pgq_t      *q;
    ngx_http_victorops_pg_run_t   *run;
    ngx_http_victorops_outcome_t  *o;
    ngx_http_victorops_pending_t  *p;

    q = pq->data;
    run = q->run;

    status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {

        if (run->rc == NGX_OK) {
            v = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

            ngx_log_error(NGX_LOG_ERR, run->ops->fail_event.log, 0,
                          "victorops integration \"%V\": PostgreSQL store: "
                          "%s", &run->ops->vi->name,
                          v ? v : (pq->error ? pq->error : "no answer"));
        }

        run->rc = NGX_ERROR;

        if (ngx_http_victorops_store_pg_unavailable(res)) {
            run->unavailable = 1;
        }

    } else {

        switch (q->role) {

        case NGX_HTTP_VICTOROPS_PGQ_JOB:
            p = q->item;
            p->duplicate = (PQntuples(res) == 0);
            break;

        case NGX_HTTP_VICTOROPS_PGQ_OUTCOME:
            o = q->item;
            v = (PQntuples(res) == 1) ? PQgetvalue(res, 0, 0) : "0";
            o->rc = (v[0] == '1') ? NGX_OK : NGX_DECLINED;
            break;

        case NGX_HTTP_VICTOROPS_PGQ_CLAIM:
            if (ngx_http_victorops_store_pg_jobs(run, res) != NGX_OK) {
                run->rc = NGX_ERROR;
            }

            break;

        case NGX_HTTP_VICTOROPS_PGQ_EXPIRE:
            ((ngx_http_victorops_chores_t *) run->op)->expired =
                                                              PQntuples(res);
            break;

        case NGX_HTTP_VICTOROPS_PGQ_DEAD:
        case NGX_HTTP_VICTOROPS_PGQ_LINKS:
            v = (PQntuples(res) == 1) ? PQgetvalue(res, 0, 0) : "0";
            n = ngx_atoi((u_char *) v, ngx_strlen(v));
            n = (n == NGX_ERROR) ? 0 : n;

            if (q->role == NGX_HTTP_VICTOROPS_PGQ_DEAD) {
                ((ngx_http_victorops_chores_t *) run->op)->dead = n;

            } else {
                ((ngx_http_victorops_chores_t *) run->op)->links = n;
            }

            break;

        default: /* NGX_HTTP_VICTOROPS_PGQ_PLAIN */
            break;
        }
    }

    if (--run->queries == 0) {
        ngx_http_victorops_store_pg_done(run);
    }
}


/*
 * A failure that says PostgreSQL is unavailable rather than that the op
 * was wrong: no answer (the connection went), or an error of classes 08
 * (connection exception), 53 (insufficient resources) or 57 (operator
 * intervention: a shutdown, a statement cancelled by store_timeout).
 */

static ngx_uint_t
ngx_http_victorops_store_pg_unavailable(PGresult *res)
{
    char  *state;

    if (res == NULL) {
        return 1;
    }

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    if (state == NULL) {
        return PQresultStatus(res) != PGRES_PIPELINE_ABORTED;
    }

    return ngx_strncmp(state, "08", 2) == 0
           || ngx_strncmp(state, "53", 2) == 0
           || ngx_strncmp(state, "57", 2) == 0;
}


/* the claimed jobs, into the op's "jobs" (their strings in its pool) */

static ngx_int_t
ngx_http_victorops_store_pg_jobs(ngx_http_victorops_pg_run_t *run,
    PGresult *res)
{
    int                             i, n;
    ngx_http_victorops_job_t       *job;
    ngx_http_victorops_store_op_t  *op;

    op = run->op;
    n = PQntuples(res);

    if (PQnfields(res) != 14) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        job = ngx_array_push(&op->jobs);
        if (job == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(job, sizeof(ngx_http_victorops_job_t));

        job->integration = run->ops->vi;

        if (ngx_http_victorops_store_pg_job(op->pool, res, i, job) != NGX_OK) {
            return NGX_ERROR;
        }

        job->token = run->token;
    }

    return NGX_OK;
}


/*
 * One claimed row: seq, id, kind, class, key, incident, entity, the
 * body in hex, attempts, created_at, and the link found with it.
 */

static ngx_int_t
ngx_http_victorops_store_pg_job(ngx_pool_t *pool, PGresult *res, int row,
    ngx_http_victorops_job_t *job)
{
    int         i;
    char       *v;
    u_char     *p;
    size_t      len;
    ngx_str_t  *s[] = { NULL, &job->id, NULL, NULL, &job->key,
                        &job->incident, &job->entity, NULL, NULL, NULL,
                        &job->link_incident, &job->link_alert };

    for (i = 0; i < 12; i++) {
        if (s[i] == NULL) {
            continue;
        }

        len = PQgetlength(res, row, i);

        p = ngx_pnalloc(pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *ngx_cpymem(p, PQgetvalue(res, row, i), len) = '\0';

        s[i]->data = p;
        s[i]->len = len;
    }

    job->seq = ngx_atoof((u_char *) PQgetvalue(res, row, 0),
                         PQgetlength(res, row, 0));
    job->kind = ngx_atoi((u_char *) PQgetvalue(res, row, 2),
                         PQgetlength(res, row, 2));
    job->class = ngx_atoi((u_char *) PQgetvalue(res, row, 3),
                          PQgetlength(res, row, 3));
    job->attempts = ngx_atoi((u_char *) PQgetvalue(res, row, 8),
                             PQgetlength(res, row, 8));
    job->created = ngx_atoof((u_char *) PQgetvalue(res, row, 9),
                             PQgetlength(res, row, 9));

    job->link_given = 1;
    job->link_found = !PQgetisnull(res, row, 12);
    job->link_creating = (PQgetvalue(res, row, 13)[0] == 't');

    /* the body, hex-encoded (bytea in text results would need libpq's
     * own unescaping and its allocation) */

    v = PQgetvalue(res, row, 7);
    len = PQgetlength(res, row, 7) / 2;

    job->body.data = ngx_pnalloc(pool, len + 1);
    if (job->body.data == NULL) {
        return NGX_ERROR;
    }

    job->body.len = len;

    for (p = job->body.data; len; len--) {
        *p++ = (u_char) ((ngx_hextoi((u_char *) v, 2)) & 0xff);
        v += 2;
    }

    *p = '\0';

    if ((ngx_int_t) job->kind == NGX_ERROR
        || (ngx_int_t) job->class == NGX_ERROR
        || job->seq == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* every query answered: the op's handler, on the loop */

static void
ngx_http_victorops_store_pg_done(ngx_http_victorops_pg_run_t *run)
{
    ngx_pool_t                     *pool;
    ngx_http_victorops_store_op_t  *op;

    op = run->op;
    pool = run->pool;

    op->rc = run->rc;

    if (op->rc != NGX_OK && run->unavailable) {
        op->rc = NGX_AGAIN;
    }

    if (op->rc != NGX_OK && op->type == NGX_HTTP_VICTOROPS_OP_CLAIM) {
        op->jobs.nelts = 0;
    }

    if (op->rc != NGX_OK && op->type == NGX_HTTP_VICTOROPS_OP_EXPIRE) {
        ((ngx_http_victorops_chores_t *) op)->expired = 0;
        ((ngx_http_victorops_chores_t *) op)->dead = 0;
        ((ngx_http_victorops_chores_t *) op)->links = 0;
    }

    ngx_destroy_pool(pool);

    op->handler(op);
}
