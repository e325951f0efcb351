
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * A feature's store call (store_call(), store.h) on a PostgreSQL store:
 * where the SQLite store runs the call's "exec" in its thread, the
 * PostgreSQL store sends the call's one query through the worker's
 * connection (pg_send(), never a blocking call) and completes the call
 * from its answer, on the event loop, through the same "done".  A
 * feature gives both forms: its exec, and its query with
 * store_call_sql() and the parameters after it; on a SQLite store these
 * do nothing.  $1 is always the integration's name.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_PGC_PARAMS  8


typedef struct {
    ngx_http_victorops_pg_query_t      q;
    ngx_http_victorops_store_call_t   *call;
    const char                        *values[NGX_HTTP_VICTOROPS_PGC_PARAMS];
    int                                lengths[NGX_HTTP_VICTOROPS_PGC_PARAMS];
    int                                formats[NGX_HTTP_VICTOROPS_PGC_PARAMS];
} ngx_http_victorops_pgc_t;


static void ngx_http_victorops_pgc_answer(ngx_http_victorops_pg_query_t *pq,
    PGresult *res);


/* the call's query (a PostgreSQL store only), its $1 the integration */

ngx_int_t
ngx_http_victorops_store_call_sql(void *data, const char *sql,
    ngx_http_victorops_store_rows_pt rows)
{
    ngx_http_victorops_store_call_t  *call = data;

    ngx_http_victorops_pgc_t          *pgc;
    ngx_http_victorops_integration_t  *vi;

    vi = call->op.integration;

    if (!vi->store_pg) {
        return NGX_OK;
    }

    pgc = ngx_pcalloc(call->pool, sizeof(ngx_http_victorops_pgc_t));
    if (pgc == NULL) {
        return NGX_ERROR;
    }

    pgc->call = call;
    pgc->q.sql = sql;
    pgc->q.values = pgc->values;
    pgc->q.lengths = pgc->lengths;
    pgc->q.formats = pgc->formats;
    pgc->q.handler = ngx_http_victorops_pgc_answer;
    pgc->q.data = pgc;

    call->pgq = &pgc->q;
    call->rows = rows;

    return ngx_http_victorops_store_call_str(call, &vi->name);
}


/* a text parameter, copied NUL-terminated into the call's pool */

ngx_int_t
ngx_http_victorops_store_call_str(void *data, ngx_str_t *s)
{
    ngx_http_victorops_store_call_t  *call = data;

    char  *v;

    if (call->pgq == NULL) {
        return NGX_OK;
    }

    v = ngx_http_victorops_pg_str(call->pool, s);

    return v ? ngx_http_victorops_pg_param(call->pgq,
                                           NGX_HTTP_VICTOROPS_PGC_PARAMS,
                                           v, 0, 0)
             : NGX_ERROR;
}


ngx_int_t
ngx_http_victorops_store_call_int(void *data, int64_t n)
{
    ngx_http_victorops_store_call_t  *call = data;

    char  *v;

    if (call->pgq == NULL) {
        return NGX_OK;
    }

    v = ngx_http_victorops_pg_int(call->pool, n);

    return v ? ngx_http_victorops_pg_param(call->pgq,
                                           NGX_HTTP_VICTOROPS_PGC_PARAMS,
                                           v, 0, 0)
             : NGX_ERROR;
}


/* a bytea parameter, binary; the bytes must live as long as the call */

ngx_int_t
ngx_http_victorops_store_call_bin(void *data, u_char *bytes, size_t len)
{
    ngx_http_victorops_store_call_t  *call = data;

    if (call->pgq == NULL) {
        return NGX_OK;
    }

    return ngx_http_victorops_pg_param(call->pgq,
                                       NGX_HTTP_VICTOROPS_PGC_PARAMS,
                                       len ? (char *) bytes : "",
                                       (int) len, 1);
}


/*
 * store_call_post() on a PostgreSQL store: the query goes out; one the
 * connection cannot take completes the call with NGX_ERROR from a
 * posted event, as an op would.
 */

void
ngx_http_victorops_store_pg_call(ngx_http_victorops_store_call_t *call)
{
    ngx_http_victorops_integration_t  *vi;

    vi = call->op.integration;
    call->op.rc = NGX_OK;

    if (call->pgq == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "victorops integration \"%V\": a store call without "
                      "its PostgreSQL query", &vi->name);

    } else if (ngx_http_victorops_pg_send(vi->pg, call->pgq) == NGX_OK) {
        return;
    }

    call->op.rc = NGX_ERROR;
    ngx_http_victorops_store_pg_failed(vi, &call->op);
}


static void
ngx_http_victorops_pgc_answer(ngx_http_victorops_pg_query_t *pq,
    PGresult *res)
{
    ExecStatusType                    status;
    ngx_http_victorops_pgc_t         *pgc;
    ngx_http_victorops_store_call_t  *call;

    pgc = pq->data;
    call = pgc->call;

    status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (status == PGRES_TUPLES_OK) {
        call->op.rc = call->rows ? call->rows(call, res)
                                 : (PQntuples(res) ? NGX_OK : NGX_DECLINED);

    } else if (status == PGRES_COMMAND_OK) {
        call->op.rc = NGX_OK;

    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "victorops integration \"%V\": PostgreSQL store: %s",
                      &call->op.integration->name,
                      res ? PQresultErrorMessage(res)
                          : (pq->error ? pq->error : "no answer"));

        call->op.rc = NGX_ERROR;
    }

    call->op.handler(&call->op);
}
