
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What the VictorOps sender (vo.c) reads and writes in the store before
 * its calls, one function a need, each picking the store's way: SQLite
 * reads on the loop's connection, at once (the call returns the
 * answer); PostgreSQL sends a query (store_call(), store_pg_call.c) and
 * returns NGX_AGAIN, and its answer goes to "handler" on the loop (the
 * job stays in flight meanwhile).  Needs: the link of an escalation's
 * Rootly incident, the open VictorOps incidents linked to a resolved
 * one, and a create's mark (PostgreSQL's alone: several nodes).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_vo_ctx.h"


typedef struct {
    ngx_http_victorops_store_call_t    call;
    ngx_http_victorops_vo_ctx_t       *ctx;
    ngx_http_victorops_vo_read_pt      handler;
} ngx_http_victorops_vo_read_t;


static ngx_int_t ngx_http_victorops_vo_read_post(
    ngx_http_victorops_vo_ctx_t *ctx, const char *sql,
    ngx_http_victorops_store_rows_pt rows, ngx_str_t *param,
    ngx_http_victorops_vo_read_pt handler);
static ngx_int_t ngx_http_victorops_vo_read_exec(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_vo_read_done(ngx_http_victorops_store_op_t *op);
static ngx_int_t ngx_http_victorops_vo_escalation_rows(void *data,
    PGresult *res);
static ngx_int_t ngx_http_victorops_vo_open_rows(void *data, PGresult *res);
static ngx_int_t ngx_http_victorops_vo_text(ngx_pool_t *pool, PGresult *res,
    int row, int col, ngx_str_t *s);


/* as the SQLite store's (store_links.c), for this integration ($1) */

static const char  ngx_http_victorops_vo_escalation_sql[] =
    "SELECT key, incident, entity, targets, vo_state, rootly_state"
    " FROM links WHERE integration = $1 AND rootly_incident = $2"
    " AND origin = 1 ORDER BY updated_at DESC LIMIT 1";

static const char  ngx_http_victorops_vo_open_sql[] =
    "SELECT incident FROM links WHERE integration = $1"
    " AND rootly_incident = $2 AND incident <> '' AND vo_state < 2"
    " ORDER BY incident";

/* the mark: synced_at when first made, updated_at at each attempt */

static const char  ngx_http_victorops_vo_creating_sql[] =
    "INSERT INTO links (integration, key, incident, targets, synced_at,"
    " updated_at) VALUES ($1, $2, '" NGX_HTTP_VICTOROPS_CREATING_INCIDENT "',"
    " $3, victorops_now_ms(), victorops_now_ms())"
    " ON CONFLICT (integration, key)"
    " DO UPDATE SET updated_at = EXCLUDED.updated_at";


/*
 * The VictorOps incident paged for the escalation's Rootly incident,
 * into ctx->link: NGX_OK, NGX_DECLINED (none), NGX_ERROR, or NGX_AGAIN
 * (PostgreSQL: "handler" gets one of the others).
 */

ngx_int_t
ngx_http_victorops_vo_escalation_read(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_vo_read_pt handler)
{
    if (!ctx->vi->store_pg) {
        return ngx_http_victorops_store_escalation_get(ctx->vi, ctx->pool,
                                                       &ctx->esc.id,
                                                       &ctx->link);
    }

    return ngx_http_victorops_vo_read_post(ctx,
                                        ngx_http_victorops_vo_escalation_sql,
                                        ngx_http_victorops_vo_escalation_rows,
                                        &ctx->esc.id, handler);
}


/*
 * The open VictorOps incidents linked to the Rootly incident, their
 * numbers into ctx->numbers: NGX_OK, NGX_ERROR, or NGX_AGAIN as above.
 */

ngx_int_t
ngx_http_victorops_vo_open_read(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_vo_read_pt handler)
{
    ngx_str_t                  *n;
    ngx_uint_t                  i;
    ngx_array_t                 links;
    ngx_http_victorops_link_t  *link;

    if (ctx->vi->store_pg) {
        return ngx_http_victorops_vo_read_post(ctx,
                                             ngx_http_victorops_vo_open_sql,
                                             ngx_http_victorops_vo_open_rows,
                                             &ctx->esc.id, handler);
    }

    if (ngx_array_init(&links, ctx->pool, 2,
                       sizeof(ngx_http_victorops_link_t))
        != NGX_OK
        || ngx_http_victorops_store_links_open(ctx->vi, ctx->pool,
                                               &ctx->esc.id, &links)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    link = links.elts;

    for (i = 0; i < links.nelts; i++) {
        n = ngx_array_push(&ctx->numbers);
        if (n == NULL) {
            return NGX_ERROR;
        }

        *n = link[i].incident;
    }

    return NGX_OK;
}


/*
 * Before a create's call, its mark (PostgreSQL: a row every node sees,
 * see store_pg.h), so that VictorOps' webhooks for the incident wait
 * until the create's outcome links it.  A SQLite store has one node,
 * whose deliveries of an incident being created are not held: NGX_OK.
 */

ngx_int_t
ngx_http_victorops_vo_creating(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_vo_read_pt handler)
{
    ngx_str_t  key;

    if (!ctx->vi->store_pg) {
        return NGX_OK;
    }

    key.len = sizeof(NGX_HTTP_VICTOROPS_CREATING) - 1 + ctx->job.id.len;
    key.data = ngx_pnalloc(ctx->pool, key.len);
    if (key.data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_sprintf(key.data, NGX_HTTP_VICTOROPS_CREATING "%V",
                       &ctx->job.id);

    return ngx_http_victorops_vo_read_post(ctx,
                                           ngx_http_victorops_vo_creating_sql,
                                           NULL, &key, handler);
}


/* the query with "param" ($2) and, for the mark, the Rootly incident */

static ngx_int_t
ngx_http_victorops_vo_read_post(ngx_http_victorops_vo_ctx_t *ctx,
    const char *sql, ngx_http_victorops_store_rows_pt rows, ngx_str_t *param,
    ngx_http_victorops_vo_read_pt handler)
{
    ngx_http_victorops_vo_read_t  *rd;

    rd = ngx_http_victorops_store_call(ctx->vi,
                                       sizeof(ngx_http_victorops_vo_read_t),
                                       ngx_http_victorops_vo_read_exec,
                                       ngx_http_victorops_vo_read_done);
    if (rd == NULL) {
        return NGX_ERROR;
    }

    rd->ctx = ctx;
    rd->handler = handler;

    if (ngx_http_victorops_store_call_sql(rd, sql, rows) != NGX_OK
        || ngx_http_victorops_store_call_str(rd, param) != NGX_OK
        || (rows == NULL
            && ngx_http_victorops_store_call_str(rd, &ctx->esc.id) != NGX_OK)
        || ngx_http_victorops_store_call_post(NULL, rd) != NGX_OK)
    {
        ngx_destroy_pool(rd->call.pool);
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/* never run: these calls are PostgreSQL's */

static ngx_int_t
ngx_http_victorops_vo_read_exec(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    return NGX_ERROR;
}


static void
ngx_http_victorops_vo_read_done(ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_vo_read_t  *rd = op->data;

    rd->handler(rd->ctx, op->rc);
}


/* the escalation's link: NGX_OK, or NGX_DECLINED without one */

static ngx_int_t
ngx_http_victorops_vo_escalation_rows(void *data, PGresult *res)
{
    ngx_http_victorops_vo_read_t  *rd = data;

    ngx_pool_t                 *pool;
    ngx_http_victorops_link_t  *link;

    if (PQntuples(res) == 0) {
        return NGX_DECLINED;
    }

    pool = rd->ctx->pool;
    link = &rd->ctx->link;

    ngx_memzero(link, sizeof(ngx_http_victorops_link_t));

    if (PQnfields(res) != 6
        || ngx_http_victorops_vo_text(pool, res, 0, 0, &link->key) != NGX_OK
        || ngx_http_victorops_vo_text(pool, res, 0, 1, &link->incident)
           != NGX_OK
        || ngx_http_victorops_vo_text(pool, res, 0, 2, &link->entity)
           != NGX_OK
        || ngx_http_victorops_vo_text(pool, res, 0, 3, &link->targets)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    link->vo_state = ngx_atoi((u_char *) PQgetvalue(res, 0, 4),
                              PQgetlength(res, 0, 4));
    link->rootly_state = ngx_atoi((u_char *) PQgetvalue(res, 0, 5),
                                  PQgetlength(res, 0, 5));
    link->rootly_incident = rd->ctx->esc.id;

    if (link->vo_state == (ngx_uint_t) NGX_ERROR
        || link->rootly_state == (ngx_uint_t) NGX_ERROR)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the open incidents' numbers */

static ngx_int_t
ngx_http_victorops_vo_open_rows(void *data, PGresult *res)
{
    ngx_http_victorops_vo_read_t  *rd = data;

    int         i;
    ngx_str_t  *n;

    for (i = 0; i < PQntuples(res); i++) {
        n = ngx_array_push(&rd->ctx->numbers);

        if (n == NULL
            || ngx_http_victorops_vo_text(rd->ctx->pool, res, i, 0, n)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_vo_text(ngx_pool_t *pool, PGresult *res, int row,
    int col, ngx_str_t *s)
{
    s->len = PQgetlength(res, row, col);
    s->data = ngx_pnalloc(pool, s->len + 1);

    if (s->data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(s->data, PQgetvalue(res, row, col), s->len) = '\0';

    return NGX_OK;
}
