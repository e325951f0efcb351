
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * A PostgreSQL store's connection as others see it: this node's
 * heartbeat (nodes.seen_at), the server's notices in the error log, and
 * the connection's state for the status.  The connection itself:
 * ngx_http_victorops_pg.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_pg_conn.h"


const char  *ngx_http_victorops_pg_states[] = {
    "down", "connecting", "migrating", "ready", "backoff"
};


/*
 * Every 5 s while ready, this node's nodes.seen_at: what tells other
 * nodes it is alive, and what finds a connection that stopped answering
 * (the answer timeout) when the worker has nothing else to send.
 */

void
ngx_http_victorops_pg_beat_handler(ngx_event_t *ev)
{
    ngx_connection_t         *dummy;
    ngx_http_victorops_pg_t  *pg;

    dummy = ev->data;
    pg = dummy->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (pg->state == NGX_HTTP_VICTOROPS_PG_READY && !pg->beat_sent
        && ngx_http_victorops_pg_send(pg, &pg->beat) == NGX_OK)
    {
        pg->beat_sent = 1;
    }

    ngx_add_timer(&pg->beat_event, NGX_HTTP_VICTOROPS_PG_HEARTBEAT);
}


void
ngx_http_victorops_pg_beat_done(ngx_http_victorops_pg_query_t *q,
    PGresult *res)
{
    ngx_http_victorops_pg_t  *pg;

    pg = q->data;
    pg->beat_sent = 0;

    if (res == NULL) {
        return;
    }

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        ngx_log_error(NGX_LOG_WARN, pg->log, 0,
                      "victorops integration \"%V\": PostgreSQL store "
                      "heartbeat failed: %s", &pg->vi->name,
                      PQresultErrorMessage(res));
        return;
    }

    pg->beat_last = ngx_time();
}


/* server notices go to the error log, not to stderr */

void
ngx_http_victorops_pg_notice(void *data, const char *message)
{
    ngx_http_victorops_pg_t  *pg = data;

    size_t  n;
    u_char  text[NGX_HTTP_VICTOROPS_PG_ERROR_MAX];

    n = ngx_http_victorops_pg_text(text, sizeof(text), message);

    ngx_log_error(NGX_LOG_INFO, pg->log, 0,
                  "victorops integration \"%V\": PostgreSQL: %*s",
                  &pg->vi->name, n, text);
}


void
ngx_http_victorops_pg_info(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_pg_info_t *info)
{
    ngx_http_victorops_pg_t  *pg;

    ngx_memzero(info, sizeof(ngx_http_victorops_pg_info_t));

    pg = vi->pg;

    if (pg == NULL) {
        info->state = "down";
        return;
    }

    info->state = ngx_http_victorops_pg_states[pg->state];
    info->ready = (pg->state == NGX_HTTP_VICTOROPS_PG_READY);
    info->down = (pg->state == NGX_HTTP_VICTOROPS_PG_DOWN
                  || pg->state == NGX_HTTP_VICTOROPS_PG_BACKOFF);
    info->node = pg->node;
    info->schema = pg->state == NGX_HTTP_VICTOROPS_PG_READY ? pg->schema : 0;
    info->connects = pg->connects;
    info->failures = pg->failures;
    info->backoff = pg->backoff;
    info->since = pg->since;
    info->heartbeat = pg->beat_last;
    info->error.data = pg->error;
    info->error.len = pg->error_len;
}
