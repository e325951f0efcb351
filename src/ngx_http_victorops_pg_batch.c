
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * A batch of queries on the worker's PostgreSQL connection, for the
 * features whose reads and writes are not store ops (reconciliation,
 * its lease, the admin API, the status' numbers): the queries are built
 * in the caller's pool, sent together (pg_send(), one pipeline batch),
 * each answer given to the batch's "result" handler with the query's
 * "item", and "done" called once all are answered.  The first error is
 * logged and makes "rc" NGX_ERROR.  Never blocks.
 *
 * A batch is one transaction, as store_pg.c's ops are: the implicit one
 * of the extended protocol, from its first statement to the sync that
 * ends it (never an explicit BEGIN: after an error it would leave the
 * session in a failed transaction).  Its commit is confirmed by a
 * "SELECT 1" after the sync (an error of the commit would be its
 * answer); "done" waits for it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>
#include <libpq-fe.h>

#include "ngx_http_victorops_module.h"


static ngx_http_victorops_pgbq_t *ngx_http_victorops_pgb_query(
    ngx_http_victorops_pgb_t *b, const char *sql, void *item);
static void ngx_http_victorops_pgb_answer(ngx_http_victorops_pg_query_t *pq,
    PGresult *res);
static void ngx_http_victorops_pgb_lease_written(ngx_http_victorops_pgb_t *b,
    void *item, PGresult *res);
static void ngx_http_victorops_pgb_lease_done(ngx_http_victorops_pgb_t *b);


/*
 * Leases: tasks one node runs at a time, a row of "leases" each (sync:
 * reconciliation, import: the team import).  Taken when its time has
 * passed (one taker: the upsert locks the row), held for $5 ms; the
 * answer: whether it was taken, how long it stays the holder's and the
 * holder's node (the statement's snapshot: may be stale, or NULL when
 * the row was made meanwhile).
 */

static const char  ngx_http_victorops_pgb_lease_take_sql[] =
    "WITH t AS (INSERT INTO leases AS l (integration, task, owner, token,"
    " until) VALUES ($1, $2, $3, $4::bigint,"
    " victorops_now_ms() + $5::bigint)"
    " ON CONFLICT (integration, task) DO UPDATE SET owner = EXCLUDED.owner,"
    " token = EXCLUDED.token, until = EXCLUDED.until"
    " WHERE l.until <= victorops_now_ms() RETURNING 1)"
    " SELECT (SELECT count(*) FROM t),"
    " (SELECT until - victorops_now_ms() FROM leases"
    " WHERE integration = $1 AND task = $2),"
    " (SELECT owner FROM leases WHERE integration = $1 AND task = $2)";

/* the holder's (token $3): held $4 ms from now (0: let go), $5 rounds */

static const char  ngx_http_victorops_pgb_lease_write_sql[] =
    "UPDATE leases SET until = victorops_now_ms() + $4::bigint,"
    " rounds = rounds + $5::bigint"
    " WHERE integration = $1 AND task = $2 AND token = $3::bigint";


ngx_http_victorops_pgb_t *
ngx_http_victorops_pgb_create(ngx_http_victorops_integration_t *vi,
    ngx_pool_t *pool)
{
    ngx_http_victorops_pgb_t  *b;

    b = ngx_pcalloc(pool, sizeof(ngx_http_victorops_pgb_t));
    if (b == NULL) {
        return NULL;
    }

    if (ngx_array_init(&b->queries, pool, 8, sizeof(void *)) != NGX_OK) {
        return NULL;
    }

    b->vi = vi;
    b->pool = pool;
    b->rc = NGX_OK;

    return b;
}


/* a query of the batch; "item" is given back with its answer */

ngx_http_victorops_pgbq_t *
ngx_http_victorops_pgb_add(ngx_http_victorops_pgb_t *b, const char *sql,
    void *item)
{
    ngx_http_victorops_pgbq_t  *q, **qp;

    q = ngx_http_victorops_pgb_query(b, sql, item);
    if (q == NULL) {
        return NULL;
    }

    qp = ngx_array_push(&b->queries);
    if (qp == NULL) {
        return NULL;
    }

    *qp = q;

    return q;
}


static ngx_http_victorops_pgbq_t *
ngx_http_victorops_pgb_query(ngx_http_victorops_pgb_t *b, const char *sql,
    void *item)
{
    ngx_http_victorops_pgbq_t  *q;

    q = ngx_pcalloc(b->pool, sizeof(ngx_http_victorops_pgbq_t));
    if (q == NULL) {
        return NULL;
    }

    q->batch = b;
    q->item = item;

    q->q.sql = sql;
    q->q.values = q->values;
    q->q.lengths = q->lengths;
    q->q.formats = q->formats;
    q->q.handler = ngx_http_victorops_pgb_answer;
    q->q.data = q;

    return q;
}


/* a text parameter, NUL-terminated in the batch's pool */

ngx_int_t
ngx_http_victorops_pgbq_str(ngx_http_victorops_pgbq_t *q, ngx_str_t *s)
{
    char  *v;

    v = ngx_http_victorops_pg_str(q->batch->pool, s);

    return v ? ngx_http_victorops_pg_param(&q->q,
                                           NGX_HTTP_VICTOROPS_PGB_PARAMS,
                                           v, 0, 0)
             : NGX_ERROR;
}


ngx_int_t
ngx_http_victorops_pgbq_int(ngx_http_victorops_pgbq_t *q, int64_t n)
{
    char  *v;

    v = ngx_http_victorops_pg_int(q->batch->pool, n);

    return v ? ngx_http_victorops_pg_param(&q->q,
                                           NGX_HTTP_VICTOROPS_PGB_PARAMS,
                                           v, 0, 0)
             : NGX_ERROR;
}


/* a bytea parameter, binary: the bytes as they are (they stay alive) */

ngx_int_t
ngx_http_victorops_pgbq_bin(ngx_http_victorops_pgbq_t *q, ngx_str_t *s)
{
    return ngx_http_victorops_pg_param(&q->q, NGX_HTTP_VICTOROPS_PGB_PARAMS,
                                       s->len ? (char *) s->data : "",
                                       (int) s->len, 1);
}


/*
 * Sends the batch: NGX_OK, "done" will be called; NGX_ERROR, nothing was
 * sent (the connection is down or backing off) and nothing will be.
 */

ngx_int_t
ngx_http_victorops_pgb_send(ngx_http_victorops_pgb_t *b)
{
    ngx_uint_t                  i, n;
    ngx_http_victorops_pgbq_t  *q, **qp;

    if (b->queries.nelts == 0) {
        return NGX_ERROR;
    }

    /* the commit's confirmation, a batch of its own */

    q = ngx_http_victorops_pgb_query(b, "SELECT 1", NULL);
    if (q == NULL) {
        return NGX_ERROR;
    }

    q->confirm = 1;

    qp = ngx_array_push(&b->queries);
    if (qp == NULL) {
        return NGX_ERROR;
    }

    *qp = q;

    qp = b->queries.elts;
    n = b->queries.nelts;

    for (i = 0; i < n; i++) {
        qp[i]->q.more = (i + 1 < n && !qp[i + 1]->confirm);

        if (ngx_http_victorops_pg_send(b->vi->pg, &qp[i]->q) != NGX_OK) {

            /* only the first can be refused: the state is the same */

            if (i == 0) {
                return NGX_ERROR;
            }

            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "victorops pg: a batch refused halfway");
            b->rc = NGX_ERROR;
            break;
        }

        b->waiting++;
    }

    return NGX_OK;
}


static void
ngx_http_victorops_pgb_answer(ngx_http_victorops_pg_query_t *pq,
    PGresult *res)
{
    char                       *v;
    ExecStatusType              status;
    ngx_http_victorops_pgb_t   *b;
    ngx_http_victorops_pgbq_t  *q;

    q = pq->data;
    b = q->batch;

    status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {

        if (b->rc == NGX_OK) {
            v = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "victorops integration \"%V\": PostgreSQL store: "
                          "%s", &b->vi->name,
                          v ? v : (pq->error ? pq->error : "no answer"));
        }

        b->rc = NGX_ERROR;

    } else if (b->result && b->rc == NGX_OK && !q->confirm) {
        b->result(b, q->item, res);
    }

    if (--b->waiting == 0) {
        b->done(b);
    }
}


/* a text column, copied into "pool" (NUL-terminated) */

ngx_int_t
ngx_http_victorops_pgb_text(ngx_pool_t *pool, struct pg_result *res,
    int row, int col, ngx_str_t *s)
{
    size_t   len;
    u_char  *p;

    len = PQgetlength(res, row, col);

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(p, PQgetvalue(res, row, col), len) = '\0';

    s->data = p;
    s->len = len;

    return NGX_OK;
}


/* a lease's token: random, never 0; 0 if none could be drawn */

int64_t
ngx_http_victorops_pgb_token(void)
{
    int64_t  token;

    do {
        if (RAND_bytes((u_char *) &token, sizeof(int64_t)) != 1) {
            return 0;
        }
    } while (token == 0);

    return token;
}


/* the lease of "task" asked for, with "token", for "hold" ms */

ngx_int_t
ngx_http_victorops_pgb_lease_take(ngx_http_victorops_pgb_t *b,
    const char *task, int64_t token, int64_t hold)
{
    ngx_str_t                      name;
    ngx_http_victorops_pgbq_t     *q;
    ngx_http_victorops_pg_info_t   info;

    ngx_http_victorops_pg_info(b->vi, &info);

    name.data = (u_char *) task;
    name.len = ngx_strlen(task);

    q = ngx_http_victorops_pgb_add(b, ngx_http_victorops_pgb_lease_take_sql,
                                   NULL);

    if (q == NULL
        || ngx_http_victorops_pgbq_str(q, &b->vi->name) != NGX_OK
        || ngx_http_victorops_pgbq_str(q, &name) != NGX_OK
        || ngx_http_victorops_pgbq_str(q, &info.node) != NGX_OK
        || ngx_http_victorops_pgbq_int(q, token) != NGX_OK
        || ngx_http_victorops_pgbq_int(q, hold) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The lease of "task" held by "token", written in a batch of its own
 * (the holder's pool may go meanwhile): "hold" ms more from now (0: let
 * go), "rounds" counted; "lost", if given, logged when the lease is no
 * longer the holder's.  Not sent (PostgreSQL away): the lease runs out
 * on its own.
 */

void
ngx_http_victorops_pgb_lease_write(ngx_http_victorops_integration_t *vi,
    const char *task, int64_t token, int64_t hold, int64_t rounds,
    const char *lost)
{
    ngx_str_t                   name;
    ngx_pool_t                 *pool;
    ngx_http_victorops_pgb_t   *b;
    ngx_http_victorops_pgbq_t  *q;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    b = ngx_http_victorops_pgb_create(vi, pool);
    if (b == NULL) {
        goto failed;
    }

    b->result = lost ? ngx_http_victorops_pgb_lease_written : NULL;
    b->done = ngx_http_victorops_pgb_lease_done;
    b->data = (void *) lost;

    name.data = (u_char *) task;
    name.len = ngx_strlen(task);

    q = ngx_http_victorops_pgb_add(b, ngx_http_victorops_pgb_lease_write_sql,
                                   NULL);

    if (q == NULL
        || ngx_http_victorops_pgbq_str(q, &vi->name) != NGX_OK
        || ngx_http_victorops_pgbq_str(q, &name) != NGX_OK
        || ngx_http_victorops_pgbq_int(q, token) != NGX_OK
        || ngx_http_victorops_pgbq_int(q, hold) != NGX_OK
        || ngx_http_victorops_pgbq_int(q, rounds) != NGX_OK
        || ngx_http_victorops_pgb_send(b) != NGX_OK)
    {
        goto failed;
    }

    return;

failed:

    ngx_destroy_pool(pool);
}


static void
ngx_http_victorops_pgb_lease_written(ngx_http_victorops_pgb_t *b,
    void *item, PGresult *res)
{
    char  *n;

    n = PQcmdTuples(res);

    if (n[0] == '0' && n[1] == '\0') {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "victorops integration \"%V\": %s",
                      &b->vi->name, (char *) b->data);
    }
}


static void
ngx_http_victorops_pgb_lease_done(ngx_http_victorops_pgb_t *b)
{
    ngx_destroy_pool(b->pool);
}


/* an integer column; 0 if NULL or not a number */

int64_t
ngx_http_victorops_pgb_int(struct pg_result *res, int row, int col)
{
    u_char     *v;
    size_t      len;
    int64_t     n;
    ngx_uint_t  neg;

    if (PQgetisnull(res, row, col)) {
        return 0;
    }

    v = (u_char *) PQgetvalue(res, row, col);
    len = PQgetlength(res, row, col);
    neg = (len && v[0] == '-');

    n = ngx_atoof(v + neg, len - neg);

    if (n == NGX_ERROR) {
        return 0;
    }

    return neg ? -n : n;
}
