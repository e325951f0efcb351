
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * One team import at a time per integration.  Two imports at once both
 * find a team missing and both create it (Rootly refuses the second with
 * "Name has already been taken", a failure in one report); the second
 * caller is answered 409 instead.
 *
 * On one node (a SQLite store) the hold is in the integration's shared
 * zone, for all its workers; with a PostgreSQL store it is the row
 * (integration, "import") of "leases", for all nodes.  A hold lasts
 * NGX_HTTP_VICTOROPS_I_HOLD ms and is renewed while the import runs, so
 * that one held by a worker or node that died lapses on its own.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>
#include <libpq-fe.h>

#include "ngx_http_victorops_module.h"


/* a hold's length, and how often a running import renews it */
#define NGX_HTTP_VICTOROPS_I_HOLD       30000
#define NGX_HTTP_VICTOROPS_I_RENEW      10000


static ngx_int_t ngx_http_victorops_import_pg_take(
    ngx_http_victorops_import_lock_t *lk);
static void ngx_http_victorops_import_pg_taken(ngx_http_victorops_pgb_t *b,
    void *item, PGresult *res);
static void ngx_http_victorops_import_pg_take_done(
    ngx_http_victorops_pgb_t *b);
static void ngx_http_victorops_import_pg_write(
    ngx_http_victorops_import_lock_t *lk, int64_t hold);
static void ngx_http_victorops_import_pg_renewed(ngx_http_victorops_pgb_t *b,
    void *item, PGresult *res);
static void ngx_http_victorops_import_pg_written(ngx_http_victorops_pgb_t *b);


/*
 * Taken when free or lapsed (one taker: the upsert locks the row); with
 * it, whether it was taken and the node holding it otherwise (the
 * statement's snapshot)
 */

static const char  ngx_http_victorops_import_take_sql[] =
    "WITH t AS (INSERT INTO leases AS l (integration, task, owner, token,"
    " until) VALUES ($1, 'import', $2, $3::bigint,"
    " victorops_now_ms() + $4::bigint)"
    " ON CONFLICT (integration, task) DO UPDATE SET owner = EXCLUDED.owner,"
    " token = EXCLUDED.token, until = EXCLUDED.until"
    " WHERE l.until <= victorops_now_ms() RETURNING 1)"
    " SELECT (SELECT count(*) FROM t), (SELECT owner FROM leases"
    " WHERE integration = $1 AND task = 'import')";

/* renewed ($3 > 0) or let go ($3 = 0, a finished import counted) */

static const char  ngx_http_victorops_import_write_sql[] =
    "UPDATE leases SET until = CASE WHEN $3::bigint > 0"
    " THEN victorops_now_ms() + $3::bigint ELSE 0 END,"
    " rounds = rounds + CASE WHEN $3::bigint > 0 THEN 0 ELSE 1 END"
    " WHERE integration = $1 AND task = 'import' AND token = $2::bigint";


/*
 * NGX_OK: held; NGX_DECLINED: another import holds it; NGX_AGAIN: asked
 * (PostgreSQL), lk->handler gets the answer (NGX_OK, NGX_DECLINED, or
 * NGX_ERROR when the store could not say); NGX_ERROR.
 */

ngx_int_t
ngx_http_victorops_import_lock(ngx_http_victorops_import_lock_t *lk)
{
    int64_t                            now, token;
    ngx_http_victorops_shctx_t        *sh;
    ngx_http_victorops_integration_t  *vi;

    vi = lk->vi;

    do {
        if (RAND_bytes((u_char *) &token, sizeof(int64_t)) != 1) {
            return NGX_ERROR;
        }
    } while (token == 0);

    lk->asked = token;

    if (vi->store_pg) {
        return ngx_http_victorops_import_pg_take(lk);
    }

    now = ngx_http_victorops_now();
    sh = vi->sh;

    ngx_shmtx_lock(&vi->shpool->mutex);

    if (sh->import_until > now) {
        ngx_shmtx_unlock(&vi->shpool->mutex);
        return NGX_DECLINED;
    }

    sh->import_until = now + NGX_HTTP_VICTOROPS_I_HOLD;
    sh->import_token = token;

    ngx_shmtx_unlock(&vi->shpool->mutex);

    lk->token = token;
    lk->renewed = now;

    return NGX_OK;
}


/* called as the import goes: renewed every NGX_HTTP_VICTOROPS_I_RENEW */

void
ngx_http_victorops_import_lock_renew(ngx_http_victorops_import_lock_t *lk)
{
    int64_t                            now;
    ngx_http_victorops_shctx_t        *sh;
    ngx_http_victorops_integration_t  *vi;

    now = ngx_http_victorops_now();

    if (lk->token == 0 || now - lk->renewed < NGX_HTTP_VICTOROPS_I_RENEW) {
        return;
    }

    lk->renewed = now;
    vi = lk->vi;

    if (vi->store_pg) {
        ngx_http_victorops_import_pg_write(lk, NGX_HTTP_VICTOROPS_I_HOLD);
        return;
    }

    sh = vi->sh;

    ngx_shmtx_lock(&vi->shpool->mutex);

    if (sh->import_token == lk->token) {
        sh->import_until = now + NGX_HTTP_VICTOROPS_I_HOLD;
    }

    ngx_shmtx_unlock(&vi->shpool->mutex);
}


/* the import ended: the next may start at once */

void
ngx_http_victorops_import_unlock(ngx_http_victorops_import_lock_t *lk)
{
    ngx_http_victorops_shctx_t        *sh;
    ngx_http_victorops_integration_t  *vi;

    if (lk->token == 0) {
        return;
    }

    vi = lk->vi;

    if (vi->store_pg) {

        /* not sent (PostgreSQL away): the lease lapses on its own */

        ngx_http_victorops_import_pg_write(lk, 0);
        lk->token = 0;
        return;
    }

    sh = vi->sh;

    ngx_shmtx_lock(&vi->shpool->mutex);

    if (sh->import_token == lk->token) {
        sh->import_until = 0;
        sh->import_token = 0;
    }

    ngx_shmtx_unlock(&vi->shpool->mutex);

    lk->token = 0;
}


static ngx_int_t
ngx_http_victorops_import_pg_take(ngx_http_victorops_import_lock_t *lk)
{
    ngx_http_victorops_pgb_t      *b;
    ngx_http_victorops_pgbq_t     *q;
    ngx_http_victorops_pg_info_t   info;

    ngx_http_victorops_pg_info(lk->vi, &info);

    b = ngx_http_victorops_pgb_create(lk->vi, lk->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->result = ngx_http_victorops_import_pg_taken;
    b->done = ngx_http_victorops_import_pg_take_done;
    b->data = lk;

    q = ngx_http_victorops_pgb_add(b, ngx_http_victorops_import_take_sql,
                                   NULL);

    if (q == NULL
        || ngx_http_victorops_pgbq_str(q, &lk->vi->name) != NGX_OK
        || ngx_http_victorops_pgbq_str(q, &info.node) != NGX_OK
        || ngx_http_victorops_pgbq_int(q, lk->asked) != NGX_OK
        || ngx_http_victorops_pgbq_int(q, NGX_HTTP_VICTOROPS_I_HOLD)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    lk->taking = 1;

    if (ngx_http_victorops_pgb_send(b) != NGX_OK) {

        /* the connection is down or backing off: the store cannot say */

        lk->taking = 0;
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


static void
ngx_http_victorops_import_pg_taken(ngx_http_victorops_pgb_t *b, void *item,
    PGresult *res)
{
    ngx_http_victorops_import_lock_t  *lk;

    lk = b->data;

    if (PQntuples(res) != 1 || PQnfields(res) != 2) {
        b->rc = NGX_ERROR;
        return;
    }

    if (ngx_http_victorops_pgb_int(res, 0, 0) == 1) {
        lk->token = lk->asked;
        lk->renewed = ngx_http_victorops_now();
        return;
    }

    if (!PQgetisnull(res, 0, 1)) {
        (void) ngx_http_victorops_pgb_text(lk->pool, res, 0, 1, &lk->holder);
    }
}


static void
ngx_http_victorops_import_pg_take_done(ngx_http_victorops_pgb_t *b)
{
    ngx_http_victorops_import_lock_t  *lk;

    lk = b->data;
    lk->taking = 0;

    if (b->rc != NGX_OK) {

        /* taken, but its commit not confirmed: it lapses on its own */

        lk->token = 0;
        lk->handler(lk, NGX_ERROR);
        return;
    }

    lk->handler(lk, lk->token ? NGX_OK : NGX_DECLINED);
}


/* a renewal or the release, in a pool of its own (the import's may go) */

static void
ngx_http_victorops_import_pg_write(ngx_http_victorops_import_lock_t *lk,
    int64_t hold)
{
    ngx_pool_t                 *pool;
    ngx_http_victorops_pgb_t   *b;
    ngx_http_victorops_pgbq_t  *q;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    b = ngx_http_victorops_pgb_create(lk->vi, pool);
    if (b == NULL) {
        goto failed;
    }

    b->result = hold ? ngx_http_victorops_import_pg_renewed : NULL;
    b->done = ngx_http_victorops_import_pg_written;
    b->data = pool;

    q = ngx_http_victorops_pgb_add(b, ngx_http_victorops_import_write_sql,
                                   NULL);

    if (q == NULL
        || ngx_http_victorops_pgbq_str(q, &lk->vi->name) != NGX_OK
        || ngx_http_victorops_pgbq_int(q, lk->token) != NGX_OK
        || ngx_http_victorops_pgbq_int(q, hold) != NGX_OK
        || ngx_http_victorops_pgb_send(b) != NGX_OK)
    {
        goto failed;
    }

    return;

failed:

    ngx_destroy_pool(pool);
}


static void
ngx_http_victorops_import_pg_renewed(ngx_http_victorops_pgb_t *b,
    void *item, PGresult *res)
{
    char  *n;

    n = PQcmdTuples(res);

    if (n[0] == '0' && n[1] == '\0') {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "victorops integration \"%V\": team import: its "
                      "lease lapsed (PostgreSQL away for longer than %d "
                      "ms): another import may run meanwhile",
                      &b->vi->name, NGX_HTTP_VICTOROPS_I_HOLD);
    }
}


static void
ngx_http_victorops_import_pg_written(ngx_http_victorops_pgb_t *b)
{
    ngx_destroy_pool(b->data);
}
