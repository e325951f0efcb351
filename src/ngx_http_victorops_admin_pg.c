
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The status endpoint on a PostgreSQL store: the admin actions (dead
 * letters listed and replayed, links set and deleted) as queries of an
 * EXEC op (store_pg.c runs its batch on the worker's connection), and
 * the queue's numbers (pending, oldest, dead letters, links), shared by
 * every node, read by a query at most once a second per worker and
 * integration: a status request waits for it when the last is older.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_admin.h"


/* the queue's numbers are read again once they are this old */
#define NGX_HTTP_VICTOROPS_PG_STATS_AGE  1000

/* and counted up to this (the cost of a status request stays bounded) */
#define NGX_HTTP_VICTOROPS_PG_STATS_MAX  "1000000"


typedef struct {
    ngx_pool_t                  *pool;
    ngx_http_request_t          *request;     /* NULL: it went away */
    ngx_pool_cleanup_t          *cleanup;     /* in the request's pool */
    ngx_uint_t                   waiting;
    void                       (*answer)(ngx_http_request_t *r);
} ngx_http_victorops_status_wait_t;


static void ngx_http_victorops_admin_pg_answer(ngx_http_victorops_pgb_t *b,
    void *item, PGresult *res);
static ngx_int_t ngx_http_victorops_admin_pg_dead(
    ngx_http_victorops_admin_t *a, PGresult *res);
static ngx_int_t ngx_http_victorops_admin_pg_dead_row(yajl_gen g,
    PGresult *res, int row);
static void ngx_http_victorops_status_pg_stats(ngx_http_victorops_pgb_t *b,
    void *item, PGresult *res);
static void ngx_http_victorops_status_pg_done(ngx_http_victorops_pgb_t *b);
static void ngx_http_victorops_status_pg_cleanup(void *data);


/* a dead letter goes back to the queue at its place in its key's order */

static const char  ngx_http_victorops_admin_pg_replay_sql[] =
    "WITH r AS (UPDATE jobs SET state = 0, attempts = 0,"
    " next_at = victorops_now_ms(), created_at = victorops_now_ms(),"
    " dead_at = 0 WHERE integration = $1 AND state = 2"
    " AND ($2 = '' OR id = $2) RETURNING 1) SELECT count(*) FROM r";

static const char  ngx_http_victorops_admin_pg_link_sql[] =
    "INSERT INTO links AS l (integration, key, incident, entity,"
    " rootly_incident, rootly_alert, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, victorops_now_ms())"
    " ON CONFLICT (integration, key) DO UPDATE SET"
    " incident = CASE WHEN EXCLUDED.incident <> '' THEN EXCLUDED.incident"
    "  ELSE l.incident END,"
    " entity = CASE WHEN EXCLUDED.entity <> '' THEN EXCLUDED.entity"
    "  ELSE l.entity END,"
    " rootly_incident = CASE WHEN EXCLUDED.rootly_incident <> ''"
    "  THEN EXCLUDED.rootly_incident ELSE l.rootly_incident END,"
    " rootly_alert = CASE WHEN EXCLUDED.rootly_alert <> ''"
    "  THEN EXCLUDED.rootly_alert ELSE l.rootly_alert END,"
    " updated_at = EXCLUDED.updated_at";

static const char  ngx_http_victorops_admin_pg_unlink_sql[] =
    "WITH d AS (DELETE FROM links WHERE integration = $1"
    " AND (key = $2 OR ($3 <> '' AND incident = $3)"
    " OR ($4 <> '' AND entity = $4)) RETURNING 1) SELECT count(*) FROM d";

static const char  ngx_http_victorops_admin_pg_dead_sql[] =
    "SELECT id, class, key, attempts, created_at, dead_at, last_status,"
    " last_error FROM jobs WHERE integration = $1 AND state = 2"
    " ORDER BY seq LIMIT $2::integer";

static const char  ngx_http_victorops_status_pg_sql[] =
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE integration = $1"
    "  AND state IN (0, 1) LIMIT " NGX_HTTP_VICTOROPS_PG_STATS_MAX ") p),"
    " (SELECT min(created_at) FROM jobs WHERE integration = $1"
    "  AND state IN (0, 1)),"
    " (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE integration = $1"
    "  AND state = 2 LIMIT " NGX_HTTP_VICTOROPS_PG_STATS_MAX ") d),"
    " (SELECT count(*) FROM (SELECT 1 FROM links WHERE integration = $1"
    "  LIMIT " NGX_HTTP_VICTOROPS_PG_STATS_MAX ") l)";


/* an admin action's query: the EXEC's pg_exec (status.c posts it) */

ngx_int_t
ngx_http_victorops_admin_pg(ngx_http_victorops_pgb_t *b,
    ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_pgbq_t   *q;
    ngx_http_victorops_admin_t  *a;

    a = op->data;
    b->result = ngx_http_victorops_admin_pg_answer;

    switch (a->action) {

    case NGX_HTTP_VICTOROPS_ADMIN_REPLAY:
        q = ngx_http_victorops_pgb_add(b,
                                       ngx_http_victorops_admin_pg_replay_sql,
                                       a);

        if (q == NULL
            || ngx_http_victorops_pgbq_str(q, &b->vi->name) != NGX_OK
            || ngx_http_victorops_pgbq_str(q, &a->id) != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;

    case NGX_HTTP_VICTOROPS_ADMIN_DEAD:
        q = ngx_http_victorops_pgb_add(b, ngx_http_victorops_admin_pg_dead_sql,
                                       a);

        if (q == NULL
            || ngx_http_victorops_pgbq_str(q, &b->vi->name) != NGX_OK
            || ngx_http_victorops_pgbq_int(q,
                                           NGX_HTTP_VICTOROPS_ADMIN_DEAD_MAX)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;

    case NGX_HTTP_VICTOROPS_ADMIN_UNLINK:
        q = ngx_http_victorops_pgb_add(b,
                                       ngx_http_victorops_admin_pg_unlink_sql,
                                       a);
        break;

    default: /* NGX_HTTP_VICTOROPS_ADMIN_LINK */
        q = ngx_http_victorops_pgb_add(b, ngx_http_victorops_admin_pg_link_sql,
                                       a);

        if (q == NULL
            || ngx_http_victorops_pgbq_str(q, &b->vi->name) != NGX_OK
            || ngx_http_victorops_pgbq_str(q, &a->key) != NGX_OK
            || ngx_http_victorops_pgbq_str(q, &a->incident) != NGX_OK
            || ngx_http_victorops_pgbq_str(q, &a->entity) != NGX_OK
            || ngx_http_victorops_pgbq_str(q, &a->rootly_incident) != NGX_OK
            || ngx_http_victorops_pgbq_str(q, &a->rootly_alert) != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    /* NGX_HTTP_VICTOROPS_ADMIN_UNLINK */

    if (q == NULL
        || ngx_http_victorops_pgbq_str(q, &b->vi->name) != NGX_OK
        || ngx_http_victorops_pgbq_str(q, &a->key) != NGX_OK
        || ngx_http_victorops_pgbq_str(q, &a->incident) != NGX_OK
        || ngx_http_victorops_pgbq_str(q, &a->entity) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_victorops_admin_pg_answer(ngx_http_victorops_pgb_t *b, void *item,
    PGresult *res)
{
    ngx_http_victorops_admin_t     *a;
    ngx_http_victorops_store_op_t  *op;

    a = item;
    op = b->data;

    switch (a->action) {

    case NGX_HTTP_VICTOROPS_ADMIN_REPLAY:
        a->n = (PQntuples(res) == 1)
               ? (ngx_uint_t) ngx_http_victorops_pgb_int(res, 0, 0) : 0;
        break;

    case NGX_HTTP_VICTOROPS_ADMIN_UNLINK:

        /* NGX_DECLINED: nothing was linked */

        if (PQntuples(res) != 1 || ngx_http_victorops_pgb_int(res, 0, 0) == 0)
        {
            op->rc = NGX_DECLINED;
        }

        break;

    case NGX_HTTP_VICTOROPS_ADMIN_DEAD:
        if (ngx_http_victorops_admin_pg_dead(a, res) != NGX_OK) {
            b->rc = NGX_ERROR;
        }

        break;

    default: /* NGX_HTTP_VICTOROPS_ADMIN_LINK */
        break;
    }
}


/* {"dead_letters":[...]}, as the SQLite store lists them, in a->body */

static ngx_int_t
ngx_http_victorops_admin_pg_dead(ngx_http_victorops_admin_t *a,
    PGresult *res)
{
    int       i, n;
    yajl_gen  g;

    if (PQnfields(res) != 8) {
        return NGX_ERROR;
    }

    g = ngx_http_victorops_gen_create(a->call.pool);
    if (g == NULL
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "dead_letters") != NGX_OK
        || yajl_gen_array_open(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        if (ngx_http_victorops_admin_pg_dead_row(g, res, i) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (yajl_gen_array_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, a->call.pool, &a->body) != NGX_OK)
    {
        return NGX_ERROR;
    }

    a->body.len++;

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_admin_pg_dead_row(yajl_gen g, PGresult *res, int row)
{
    u_char     buf[NGX_HTTP_VICTOROPS_ERROR_MAX];
    ngx_str_t  s;

#define ngx_http_victorops_pg_value(col)                                      \
    s.data = (u_char *) PQgetvalue(res, row, col);                            \
    s.len = PQgetlength(res, row, col);

#define ngx_http_victorops_pg_integer(key, col)                               \
    (ngx_http_victorops_gen_cstr(g, key) != NGX_OK                            \
     || yajl_gen_integer(g, ngx_http_victorops_pgb_int(res, row, col))       \
        != yajl_gen_status_ok)

    ngx_http_victorops_pg_value(0);

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_str(g, "id", &s) != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "class") != NGX_OK
        || ngx_http_victorops_gen_cstr(g,
               ngx_http_victorops_class_name(
                   (ngx_uint_t) ngx_http_victorops_pgb_int(res, row, 1) & 3))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_victorops_pg_value(2);

    if (ngx_http_victorops_gen_str(g, "incident", &s) != NGX_OK
        || ngx_http_victorops_pg_integer("attempts", 3)
        || ngx_http_victorops_pg_integer("created_ms", 4)
        || ngx_http_victorops_pg_integer("dead_ms", 5)
        || ngx_http_victorops_pg_integer("status", 6))
    {
        return NGX_ERROR;
    }

    ngx_http_victorops_pg_value(7);

    s.len = ngx_http_victorops_utf8_text(buf, sizeof(buf), s.data, s.len)
            - buf;
    s.data = buf;

#undef ngx_http_victorops_pg_value
#undef ngx_http_victorops_pg_integer

    if (ngx_http_victorops_gen_str(g, "error", &s) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Before a status answer: the queue's numbers of the PostgreSQL stores
 * whose last read is older than a second, read again.  NGX_DONE: "r"
 * waits, "answer" will finalize it; NGX_DECLINED: nothing to wait for
 * (the numbers are fresh, or the store unreachable: the last ones, or
 * none, are shown).
 */

ngx_int_t
ngx_http_victorops_status_pg_refresh(ngx_http_request_t *r,
    ngx_http_victorops_main_conf_t *vmcf,
    void (*answer)(ngx_http_request_t *r))
{
    int64_t                             now;
    ngx_uint_t                          i;
    ngx_pool_t                         *pool;
    ngx_pool_cleanup_t                 *cln;
    ngx_http_victorops_pgb_t           *b;
    ngx_http_victorops_pgbq_t          *q;
    ngx_http_victorops_status_wait_t   *w;
    ngx_http_victorops_integration_t  **vip, *vi;

    now = ngx_http_victorops_now();
    vip = vmcf ? vmcf->integrations.elts : NULL;
    w = NULL;

    for (i = 0; vmcf && i < vmcf->integrations.nelts; i++) {
        vi = vip[i];

        if (!vi->store_pg || vi->pg_ops == NULL || vi->closing
            || now - vi->pg_stats_at < NGX_HTTP_VICTOROPS_PG_STATS_AGE)
        {
            continue;
        }

        if (w == NULL) {
            pool = ngx_create_pool(1024, r->connection->log);
            if (pool == NULL) {
                return NGX_DECLINED;
            }

            w = ngx_pcalloc(pool, sizeof(ngx_http_victorops_status_wait_t));
            if (w == NULL) {
                ngx_destroy_pool(pool);
                return NGX_DECLINED;
            }

            w->pool = pool;
            w->answer = answer;
        }

        b = ngx_http_victorops_pgb_create(vi, w->pool);
        if (b == NULL) {
            break;
        }

        b->result = ngx_http_victorops_status_pg_stats;
        b->done = ngx_http_victorops_status_pg_done;
        b->data = w;

        q = ngx_http_victorops_pgb_add(b, ngx_http_victorops_status_pg_sql,
                                       vi);

        if (q == NULL
            || ngx_http_victorops_pgbq_str(q, &vi->name) != NGX_OK
            || ngx_http_victorops_pgb_send(b) != NGX_OK)
        {
            continue;
        }

        w->waiting++;
    }

    if (w == NULL) {
        return NGX_DECLINED;
    }

    if (w->waiting == 0) {
        ngx_destroy_pool(w->pool);
        return NGX_DECLINED;
    }

    /* the queries are sent: the request waits, whatever comes next */

    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (cln) {
        cln->handler = ngx_http_victorops_status_pg_cleanup;
        cln->data = w;
        w->cleanup = cln;
    }

    w->request = r;

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_victorops_status_pg_stats(ngx_http_victorops_pgb_t *b, void *item,
    PGresult *res)
{
    ngx_http_victorops_integration_t  *vi;

    vi = item;

    if (PQntuples(res) != 1 || PQnfields(res) != 4) {
        b->rc = NGX_ERROR;
        return;
    }

    vi->pg_stats.pending = ngx_http_victorops_pgb_int(res, 0, 0);
    vi->pg_stats.oldest = ngx_http_victorops_pgb_int(res, 0, 1);
    vi->pg_stats.dead = ngx_http_victorops_pgb_int(res, 0, 2);
    vi->pg_stats.links = ngx_http_victorops_pgb_int(res, 0, 3);
    vi->pg_stats_at = ngx_http_victorops_now();
}


static void
ngx_http_victorops_status_pg_done(ngx_http_victorops_pgb_t *b)
{
    ngx_http_request_t                *r;
    ngx_http_victorops_status_wait_t  *w;
    void                             (*answer)(ngx_http_request_t *r);

    w = b->data;

    if (--w->waiting) {
        return;
    }

    r = w->request;
    answer = w->answer;

    if (r && w->cleanup) {
        w->cleanup->handler = NULL;
    }

    ngx_destroy_pool(w->pool);

    if (r) {
        answer(r);
    }
}


static void
ngx_http_victorops_status_pg_cleanup(void *data)
{
    ngx_http_victorops_status_wait_t  *w = data;

    w->request = NULL;
}
