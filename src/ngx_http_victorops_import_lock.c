
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

    token = ngx_http_victorops_pgb_token();
    if (token == 0) {
        return NGX_ERROR;
    }

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
        ngx_http_victorops_pgb_lease_write(vi, "import", lk->token,
                                           NGX_HTTP_VICTOROPS_I_HOLD, 0,
                                           "team import: its lease lapsed "
                                           "(PostgreSQL away for longer "
                                           "than 30 s): another import may "
                                           "run meanwhile");
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
        ngx_http_victorops_pgb_lease_write(vi, "import", lk->token, 0, 1,
                                           NULL);
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
    ngx_http_victorops_pgb_t  *b;

    b = ngx_http_victorops_pgb_create(lk->vi, lk->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->result = ngx_http_victorops_import_pg_taken;
    b->done = ngx_http_victorops_import_pg_take_done;
    b->data = lk;

    if (ngx_http_victorops_pgb_lease_take(b, "import", lk->asked,
                                          NGX_HTTP_VICTOROPS_I_HOLD)
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

    if (PQntuples(res) != 1 || PQnfields(res) != 3) {
        b->rc = NGX_ERROR;
        return;
    }

    if (ngx_http_victorops_pgb_int(res, 0, 0) == 1) {
        lk->token = lk->asked;
        lk->renewed = ngx_http_victorops_now();
        return;
    }

    if (!PQgetisnull(res, 0, 2)) {
        (void) ngx_http_victorops_pgb_text(lk->pool, res, 0, 2, &lk->holder);
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
