
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * A PostgreSQL store's op, built: the effects of accepted jobs and of
 * outcomes (links written, follow-up jobs inserted, each under its
 * guard in the op's transaction), and the queries of an op's batch with
 * their parameters.  The ops themselves: ngx_http_victorops_store_pg.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_store_pg_run.h"


static ngx_int_t ngx_http_victorops_store_pg_link(
    ngx_http_victorops_pg_run_t *run, ngx_http_victorops_link_t *link,
    ngx_uint_t outcome, ngx_str_t *guard);
static ngx_int_t ngx_http_victorops_store_pg_fx_job(
    ngx_http_victorops_pg_run_t *run, ngx_http_victorops_job_t *job,
    ngx_uint_t outcome, ngx_str_t *guard);


/*
 * Effects: what a job changes in links and the jobs it leaves to do,
 * each statement guarded by "$2": in the accepting transaction the
 * job's id (written only if the job was), in an outcome's "1" (written
 * only if the outcome applied).  By link op, then the follow-up job;
 * each in both forms, accepted and outcome.
 */

#define NGX_HTTP_VICTOROPS_PG_ACCEPTED                                        \
    " EXISTS (SELECT 1 FROM jobs WHERE integration = $1 AND id = $2)"

#define NGX_HTTP_VICTOROPS_PG_APPLIED                                         \
    " current_setting('victorops.outcome') = $2"

/* LINK_ESCALATION: $3 key, $4 incident, $5 entity, $6 Rootly, $7 targets */

#define NGX_HTTP_VICTOROPS_PG_ESC_SET(guard)                                  \
    "INSERT INTO links (integration, key, incident, entity, rootly_incident," \
    " rootly_alert, updated_at, targets, origin)"                             \
    " SELECT $1, $3, $4, $5, $6, '', victorops_now_ms(), $7, 1 WHERE" guard   \
    " ON CONFLICT (integration, key) DO UPDATE SET"                           \
    " incident = EXCLUDED.incident, entity = EXCLUDED.entity,"                \
    " rootly_incident = EXCLUDED.rootly_incident,"                            \
    " targets = EXCLUDED.targets, origin = 1,"                                \
    " updated_at = EXCLUDED.updated_at"

/* LINK_TARGETS, rerouted: $3 key, $4 targets */

#define NGX_HTTP_VICTOROPS_PG_TARGETS(guard)                                  \
    "UPDATE links SET targets = $4, vo_state = 0,"                            \
    " updated_at = victorops_now_ms() WHERE integration = $1 AND key = $3"    \
    " AND" guard

/* LINK_VO_STATE: $3 key, $4 incident, $5 entity, $6 state */

#define NGX_HTTP_VICTOROPS_PG_VO_STATE(guard)                                 \
    "UPDATE links SET vo_state = greatest(vo_state, $6::smallint),"           \
    " updated_at = victorops_now_ms()"                                        \
    " WHERE integration = $1 AND (key = $3 OR ($4 <> '' AND incident = $4)"   \
    " OR ($5 <> '' AND entity = $5)) AND" guard

/* LINK_ROOTLY_STATE: $3 the Rootly incident, $4 its state */

#define NGX_HTTP_VICTOROPS_PG_ROOTLY_STATE(guard)                             \
    "UPDATE links SET rootly_state = $4::smallint"                            \
    " WHERE integration = $1 AND rootly_incident = $3 AND" guard

/* a follow-up job: $3 id, $4 kind, $5 class, $6 key, $7 incident, $8 body */

#define NGX_HTTP_VICTOROPS_PG_FX_JOB(guard)                                   \
    "INSERT INTO jobs (integration, id, kind, class, key, incident, entity,"  \
    " body, created_at, next_at)"                                             \
    " SELECT $1, $3, $4::smallint, $5::smallint, $6, $7, '', $8::bytea,"      \
    " victorops_now_ms(), victorops_now_ms() WHERE" guard

static const char  *ngx_http_victorops_pg_fx_sql[][2] = {
    { NGX_HTTP_VICTOROPS_PG_ESC_SET(NGX_HTTP_VICTOROPS_PG_ACCEPTED),
      NGX_HTTP_VICTOROPS_PG_ESC_SET(NGX_HTTP_VICTOROPS_PG_APPLIED) },
    { NGX_HTTP_VICTOROPS_PG_TARGETS(NGX_HTTP_VICTOROPS_PG_ACCEPTED),
      NGX_HTTP_VICTOROPS_PG_TARGETS(NGX_HTTP_VICTOROPS_PG_APPLIED) },
    { NGX_HTTP_VICTOROPS_PG_VO_STATE(NGX_HTTP_VICTOROPS_PG_ACCEPTED),
      NGX_HTTP_VICTOROPS_PG_VO_STATE(NGX_HTTP_VICTOROPS_PG_APPLIED) },
    { NGX_HTTP_VICTOROPS_PG_ROOTLY_STATE(NGX_HTTP_VICTOROPS_PG_ACCEPTED),
      NGX_HTTP_VICTOROPS_PG_ROOTLY_STATE(NGX_HTTP_VICTOROPS_PG_APPLIED) },
    { NGX_HTTP_VICTOROPS_PG_FX_JOB(NGX_HTTP_VICTOROPS_PG_ACCEPTED),
      NGX_HTTP_VICTOROPS_PG_FX_JOB(NGX_HTTP_VICTOROPS_PG_APPLIED) }
};

#define NGX_HTTP_VICTOROPS_PG_FX_JOBS  4


/*
 * Effects: the links a job changes and the jobs it leaves to do, in the
 * op's transaction, each under its guard ("outcome": an outcome's, else
 * the accepting transaction's).  Reconciliation's marks (LINK_SYNCED)
 * come from a feature refused with a PostgreSQL store at nginx -t.
 */

ngx_int_t
ngx_http_victorops_store_pg_effects(ngx_http_victorops_pg_run_t *run,
    ngx_http_victorops_effects_t *fx, ngx_uint_t outcome, ngx_str_t *guard)
{
    ngx_uint_t                  i;
    ngx_http_victorops_job_t   *job;
    ngx_http_victorops_link_t  *link;

    link = fx->links.elts;

    for (i = 0; i < fx->links.nelts; i++) {

        if (link[i].op < NGX_HTTP_VICTOROPS_LINK_ESCALATION
            || link[i].op > NGX_HTTP_VICTOROPS_LINK_ROOTLY_STATE)
        {
            ngx_log_error(NGX_LOG_ALERT, run->ops->fail_event.log, 0,
                          "victorops integration \"%V\": a link change "
                          "(%ui) the PostgreSQL store does not write yet, "
                          "skipped", &run->ops->vi->name, link[i].op);
            continue;
        }

        if (ngx_http_victorops_store_pg_link(run, &link[i], outcome, guard)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    job = fx->jobs.elts;

    for (i = 0; i < fx->jobs.nelts; i++) {
        if (ngx_http_victorops_store_pg_fx_job(run, &job[i], outcome, guard)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_store_pg_link(ngx_http_victorops_pg_run_t *run,
    ngx_http_victorops_link_t *link, ngx_uint_t outcome, ngx_str_t *guard)
{
    ngx_int_t                  rc;
    ngx_pool_t                *pool;
    ngx_http_victorops_pgq_t  *q;

    pool = run->pool;

    q = ngx_http_victorops_pgq(run,
                               ngx_http_victorops_pg_fx_sql[link->op - 1]
                                                           [outcome],
                               NGX_HTTP_VICTOROPS_PGQ_PLAIN, NULL);

    if (q == NULL
        || ngx_http_victorops_pgq_str(q, pool, &run->ops->name) != NGX_OK
        || ngx_http_victorops_pgq_str(q, pool, guard) != NGX_OK)
    {
        return NGX_ERROR;
    }

    switch (link->op) {

    case NGX_HTTP_VICTOROPS_LINK_ESCALATION:
        rc = ngx_http_victorops_pgq_str(q, pool, &link->key);
        rc |= ngx_http_victorops_pgq_str(q, pool, &link->incident);
        rc |= ngx_http_victorops_pgq_str(q, pool, &link->entity);
        rc |= ngx_http_victorops_pgq_str(q, pool, &link->rootly_incident);
        rc |= ngx_http_victorops_pgq_str(q, pool, &link->targets);
        break;

    case NGX_HTTP_VICTOROPS_LINK_TARGETS:
        rc = ngx_http_victorops_pgq_str(q, pool, &link->key);
        rc |= ngx_http_victorops_pgq_str(q, pool, &link->targets);
        break;

    case NGX_HTTP_VICTOROPS_LINK_VO_STATE:
        rc = ngx_http_victorops_pgq_str(q, pool, &link->key);
        rc |= ngx_http_victorops_pgq_str(q, pool, &link->incident);
        rc |= ngx_http_victorops_pgq_str(q, pool, &link->entity);
        rc |= ngx_http_victorops_pgq_int(q, pool, link->vo_state);
        break;

    default: /* NGX_HTTP_VICTOROPS_LINK_ROOTLY_STATE */
        rc = ngx_http_victorops_pgq_str(q, pool, &link->rootly_incident);
        rc |= ngx_http_victorops_pgq_int(q, pool, link->rootly_state);
        break;
    }

    return (rc == NGX_OK) ? NGX_OK : NGX_ERROR;
}


/* a job left to do (a timeline event, who is on call) */

static ngx_int_t
ngx_http_victorops_store_pg_fx_job(ngx_http_victorops_pg_run_t *run,
    ngx_http_victorops_job_t *job, ngx_uint_t outcome, ngx_str_t *guard)
{
    ngx_pool_t                *pool;
    ngx_http_victorops_pgq_t  *q;

    pool = run->pool;

    q = ngx_http_victorops_pgq(run,
                               ngx_http_victorops_pg_fx_sql
                                   [NGX_HTTP_VICTOROPS_PG_FX_JOBS][outcome],
                               NGX_HTTP_VICTOROPS_PGQ_PLAIN, NULL);

    if (q == NULL
        || ngx_http_victorops_pgq_str(q, pool, &run->ops->name) != NGX_OK
        || ngx_http_victorops_pgq_str(q, pool, guard) != NGX_OK
        || ngx_http_victorops_pgq_str(q, pool, &job->id) != NGX_OK
        || ngx_http_victorops_pgq_int(q, pool, job->kind) != NGX_OK
        || ngx_http_victorops_pgq_int(q, pool, job->class) != NGX_OK
        || ngx_http_victorops_pgq_str(q, pool, &job->key) != NGX_OK
        || ngx_http_victorops_pgq_str(q, pool, &job->incident) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_victorops_pgq_bin(q, &job->body);

    return NGX_OK;
}


/* a text parameter, NUL-terminated in "pool" */

ngx_int_t
ngx_http_victorops_pgq_str(ngx_http_victorops_pgq_t *q, ngx_pool_t *pool,
    ngx_str_t *s)
{
    char  *v;

    v = ngx_http_victorops_pg_str(pool, s);

    return v ? ngx_http_victorops_pg_param(&q->q,
                                           NGX_HTTP_VICTOROPS_PGQ_PARAMS,
                                           v, 0, 0)
             : NGX_ERROR;
}


ngx_int_t
ngx_http_victorops_pgq_int(ngx_http_victorops_pgq_t *q, ngx_pool_t *pool,
    int64_t n)
{
    char  *v;

    v = ngx_http_victorops_pg_int(pool, n);

    return v ? ngx_http_victorops_pg_param(&q->q,
                                           NGX_HTTP_VICTOROPS_PGQ_PARAMS,
                                           v, 0, 0)
             : NGX_ERROR;
}


/* a bytea parameter, binary: the bytes as they are (they stay alive) */

void
ngx_http_victorops_pgq_bin(ngx_http_victorops_pgq_t *q, ngx_str_t *s)
{
    (void) ngx_http_victorops_pg_param(&q->q, NGX_HTTP_VICTOROPS_PGQ_PARAMS,
                                       s->len ? (char *) s->data : "",
                                       (int) s->len, 1);
}
