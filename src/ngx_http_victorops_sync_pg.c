
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Reconciliation on a PostgreSQL store (see ngx_http_victorops_sync.c
 * for the round itself): the lease, a row of "leases" that every node
 * sharing the database competes for, so that one node at a time runs a
 * round; the open links, read after the lease is taken; the repairs, one
 * transaction; the lease let go at the round's end with the time the
 * next round is due.  Every query is asynchronous (pg_batch.c).
 *
 * A round holds the lease for the longest it can take (a VictorOps call
 * and one Rootly call per link, each bounded by rootly_timeout, and its
 * queries): a node that dies in a round loses it then; one that dies
 * between rounds loses nothing, the next round being due anyway.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>

#include "ngx_http_victorops_module.h"


static void ngx_http_victorops_sync_pg_taken(ngx_http_victorops_pgb_t *b,
    void *item, PGresult *res);
static void ngx_http_victorops_sync_pg_take_done(ngx_http_victorops_pgb_t *b);
static ngx_int_t ngx_http_victorops_sync_pg_list(ngx_http_victorops_sync_t *s);
static void ngx_http_victorops_sync_pg_listed(ngx_http_victorops_pgb_t *b,
    void *item, PGresult *res);
static void ngx_http_victorops_sync_pg_list_done(ngx_http_victorops_pgb_t *b);
static void ngx_http_victorops_sync_pg_repaired(ngx_http_victorops_pgb_t *b);


/* links open on either side, the least recently reconciled first */

static const char  ngx_http_victorops_sync_pg_list_sql[] =
    "SELECT key, incident, entity, targets, vo_state, rootly_state,"
    " rootly_incident FROM links WHERE integration = $1"
    " AND rootly_incident <> '' AND incident <> ''"
    " AND (vo_state < 2 OR rootly_state = 0)"
    " ORDER BY synced_at LIMIT $2::integer";

/* the repairs: a job, what each side said, when a link was reconciled */

static const char  ngx_http_victorops_sync_pg_job_sql[] =
    "INSERT INTO jobs (integration, id, kind, class, key, incident, entity,"
    " body, created_at, next_at)"
    " VALUES ($1, $2, $3::smallint, $4::smallint, $5, $6, $7, $8::bytea,"
    " victorops_now_ms(), victorops_now_ms())";

/* a resolve: unless one of its key is unfinished (the SQLite check) */

static const char  ngx_http_victorops_sync_pg_resolve_sql[] =
    "INSERT INTO jobs (integration, id, kind, class, key, incident, entity,"
    " body, created_at, next_at)"
    " SELECT $1, $2, $3::smallint, $4::smallint, $5, $6, $7, $8::bytea,"
    " victorops_now_ms(), victorops_now_ms()"
    " WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE integration = $1"
    " AND key = $5 AND kind = $3::smallint AND state < 2)";

static const char  ngx_http_victorops_sync_pg_vo_state_sql[] =
    "UPDATE links SET vo_state = greatest(vo_state, $5::smallint),"
    " updated_at = victorops_now_ms()"
    " WHERE integration = $1 AND (key = $2 OR ($3 <> '' AND incident = $3)"
    " OR ($4 <> '' AND entity = $4))";

static const char  ngx_http_victorops_sync_pg_rootly_state_sql[] =
    "UPDATE links SET rootly_state = $3::smallint"
    " WHERE integration = $1 AND rootly_incident = $2";

static const char  ngx_http_victorops_sync_pg_synced_sql[] =
    "UPDATE links SET synced_at = victorops_now_ms()"
    " WHERE integration = $1 AND key = $2";


/* the lease, then the links: sync_run(), sync_skip() or sync_end() */

ngx_int_t
ngx_http_victorops_sync_pg_start(ngx_http_victorops_sync_t *s)
{
    int64_t                            hold, token;
    ngx_http_victorops_pgb_t          *b;
    ngx_http_victorops_integration_t  *vi;

    vi = s->vi;

    token = ngx_http_victorops_pgb_token();
    if (token == 0) {
        return NGX_ERROR;
    }

    hold = (NGX_HTTP_VICTOROPS_SYNC_LINKS + 1) * (int64_t) vi->rootly_timeout
           + 3 * (int64_t) vi->store_timeout;

    b = ngx_http_victorops_pgb_create(vi, s->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->result = ngx_http_victorops_sync_pg_taken;
    b->done = ngx_http_victorops_sync_pg_take_done;
    b->data = s;

    s->batch = b;
    s->token = 0;

    if (ngx_http_victorops_pgb_lease_take(b, "sync", token, hold) != NGX_OK) {
        return NGX_ERROR;
    }

    s->asked = token;

    return ngx_http_victorops_pgb_send(b);
}


static void
ngx_http_victorops_sync_pg_taken(ngx_http_victorops_pgb_t *b, void *item,
    PGresult *res)
{
    int64_t                     wait;
    ngx_http_victorops_sync_t  *s;

    s = b->data;

    if (PQntuples(res) != 1 || PQnfields(res) != 3) {
        b->rc = NGX_ERROR;
        return;
    }

    if (ngx_http_victorops_pgb_int(res, 0, 0) == 1) {
        s->token = s->asked;
        return;
    }

    /* another node's: looked at again when it is due */

    wait = ngx_http_victorops_pgb_int(res, 0, 1);
    s->wait = ngx_max(wait, 250);
}


static void
ngx_http_victorops_sync_pg_take_done(ngx_http_victorops_pgb_t *b)
{
    ngx_http_victorops_sync_t  *s;

    s = b->data;

    if (b->rc != NGX_OK) {
        s->token = 0;
        ngx_http_victorops_sync_end(s, 0);
        return;
    }

    if (s->token == 0) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "victorops \"%V\": sync: another node holds the "
                       "lease, due in %L ms", &s->vi->name, s->wait);
        ngx_http_victorops_sync_skip(s, s->wait);
        return;
    }

    if (ngx_http_victorops_sync_pg_list(s) != NGX_OK) {
        ngx_http_victorops_sync_end(s, 0);
    }
}


static ngx_int_t
ngx_http_victorops_sync_pg_list(ngx_http_victorops_sync_t *s)
{
    ngx_http_victorops_pgb_t   *b;
    ngx_http_victorops_pgbq_t  *q;

    b = ngx_http_victorops_pgb_create(s->vi, s->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->result = ngx_http_victorops_sync_pg_listed;
    b->done = ngx_http_victorops_sync_pg_list_done;
    b->data = s;

    s->batch = b;

    q = ngx_http_victorops_pgb_add(b, ngx_http_victorops_sync_pg_list_sql,
                                   NULL);

    if (q == NULL
        || ngx_http_victorops_pgbq_str(q, &s->vi->name) != NGX_OK
        || ngx_http_victorops_pgbq_int(q, NGX_HTTP_VICTOROPS_SYNC_LINKS)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_victorops_pgb_send(b);
}


static void
ngx_http_victorops_sync_pg_listed(ngx_http_victorops_pgb_t *b, void *item,
    PGresult *res)
{
    int                         i, n;
    ngx_pool_t                 *pool;
    ngx_http_victorops_sync_t  *s;
    ngx_http_victorops_link_t  *link;

    s = b->data;
    pool = s->pool;
    n = PQntuples(res);

    if (PQnfields(res) != 7) {
        b->rc = NGX_ERROR;
        return;
    }

    for (i = 0; i < n; i++) {
        link = ngx_array_push(&s->links);
        if (link == NULL) {
            b->rc = NGX_ERROR;
            return;
        }

        ngx_memzero(link, sizeof(ngx_http_victorops_link_t));

        if (ngx_http_victorops_pgb_text(pool, res, i, 0, &link->key)
            != NGX_OK
            || ngx_http_victorops_pgb_text(pool, res, i, 1, &link->incident)
               != NGX_OK
            || ngx_http_victorops_pgb_text(pool, res, i, 2, &link->entity)
               != NGX_OK
            || ngx_http_victorops_pgb_text(pool, res, i, 3, &link->targets)
               != NGX_OK
            || ngx_http_victorops_pgb_text(pool, res, i, 6,
                                           &link->rootly_incident)
               != NGX_OK)
        {
            b->rc = NGX_ERROR;
            return;
        }

        link->vo_state = (ngx_uint_t) ngx_http_victorops_pgb_int(res, i, 4);
        link->rootly_state = (ngx_uint_t) ngx_http_victorops_pgb_int(res, i,
                                                                     5);
    }
}


static void
ngx_http_victorops_sync_pg_list_done(ngx_http_victorops_pgb_t *b)
{
    ngx_http_victorops_sync_t  *s;

    s = b->data;

    if (b->rc != NGX_OK) {
        ngx_http_victorops_sync_end(s, 0);
        return;
    }

    ngx_http_victorops_sync_run(s);
}


/*
 * The repairs, decided on the loop (sync_link()), their writes queued by
 * sync_pg_job() and sync_pg_link(), one batch: all or none.
 */

ngx_int_t
ngx_http_victorops_sync_pg_repair(ngx_http_victorops_sync_t *s)
{
    ngx_uint_t                 i;
    ngx_http_victorops_pgb_t  *b;

    b = ngx_http_victorops_pgb_create(s->vi, s->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->done = ngx_http_victorops_sync_pg_repaired;
    b->data = s;

    s->batch = b;
    s->repairs = 0;
    s->op.data = s;
    s->op.now = ngx_http_victorops_now();

    for (i = 0; i < s->links.nelts; i++) {
        if (ngx_http_victorops_sync_link(s, i, s->op.now, &s->repairs)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_victorops_pgb_send(b);
}


static void
ngx_http_victorops_sync_pg_repaired(ngx_http_victorops_pgb_t *b)
{
    ngx_http_victorops_sync_t  *s;

    s = b->data;

    s->op.rc = b->rc;

    ngx_http_victorops_sync_repaired(&s->op);
}


ngx_int_t
ngx_http_victorops_sync_pg_job(ngx_http_victorops_sync_t *s,
    ngx_http_victorops_job_t *job)
{
    ngx_http_victorops_pgbq_t  *q;

    q = ngx_http_victorops_pgb_add(s->batch,
                                   (job->kind == NGX_HTTP_VICTOROPS_JOB_RESOLVE)
                                   ? ngx_http_victorops_sync_pg_resolve_sql
                                   : ngx_http_victorops_sync_pg_job_sql,
                                   NULL);

    if (q == NULL
        || ngx_http_victorops_pgbq_str(q, &s->vi->name) != NGX_OK
        || ngx_http_victorops_pgbq_str(q, &job->id) != NGX_OK
        || ngx_http_victorops_pgbq_int(q, job->kind) != NGX_OK
        || ngx_http_victorops_pgbq_int(q, job->class) != NGX_OK
        || ngx_http_victorops_pgbq_str(q, &job->key) != NGX_OK
        || ngx_http_victorops_pgbq_str(q, &job->incident) != NGX_OK
        || ngx_http_victorops_pgbq_str(q, &job->entity) != NGX_OK
        || ngx_http_victorops_pgbq_bin(q, &job->body) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_sync_pg_link(ngx_http_victorops_sync_t *s,
    ngx_http_victorops_link_t *link)
{
    ngx_http_victorops_pgbq_t  *q;

    switch (link->op) {

    case NGX_HTTP_VICTOROPS_LINK_VO_STATE:
        q = ngx_http_victorops_pgb_add(s->batch,
                                       ngx_http_victorops_sync_pg_vo_state_sql,
                                       NULL);

        if (q == NULL
            || ngx_http_victorops_pgbq_str(q, &s->vi->name) != NGX_OK
            || ngx_http_victorops_pgbq_str(q, &link->key) != NGX_OK
            || ngx_http_victorops_pgbq_str(q, &link->incident) != NGX_OK
            || ngx_http_victorops_pgbq_str(q, &link->entity) != NGX_OK
            || ngx_http_victorops_pgbq_int(q, link->vo_state) != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;

    case NGX_HTTP_VICTOROPS_LINK_ROOTLY_STATE:
        q = ngx_http_victorops_pgb_add(s->batch,
                                   ngx_http_victorops_sync_pg_rootly_state_sql,
                                   NULL);

        if (q == NULL
            || ngx_http_victorops_pgbq_str(q, &s->vi->name) != NGX_OK
            || ngx_http_victorops_pgbq_str(q, &link->rootly_incident)
               != NGX_OK
            || ngx_http_victorops_pgbq_int(q, link->rootly_state) != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;

    case NGX_HTTP_VICTOROPS_LINK_SYNCED:
        q = ngx_http_victorops_pgb_add(s->batch,
                                       ngx_http_victorops_sync_pg_synced_sql,
                                       NULL);

        if (q == NULL
            || ngx_http_victorops_pgbq_str(q, &s->vi->name) != NGX_OK
            || ngx_http_victorops_pgbq_str(q, &link->key) != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;

    default:
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "victorops integration \"%V\": reconciliation: a "
                      "link change (%ui) not written to PostgreSQL",
                      &s->vi->name, link->op);
        return NGX_ERROR;
    }
}


/*
 * The lease let go: the next round due in "next" ms, whichever node
 * takes it; sent on its own (the round's pool goes now), its answer
 * only logged if it fails
 */

void
ngx_http_victorops_sync_pg_release(ngx_http_victorops_sync_t *s,
    int64_t next)
{
    ngx_http_victorops_pgb_lease_write(s->vi, "sync", s->token, next,
                                       s->ran ? 1 : 0, NULL);
    s->token = 0;
}
