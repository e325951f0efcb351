
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The PostgreSQL connection's own state, shared by the files that make
 * it (ngx_http_victorops_pg.c: connecting, sending, results, failures;
 * ngx_http_victorops_pg_node.c: heartbeat, notices, status); others use
 * ngx_http_victorops_pg.h.
 */


#ifndef _NGX_HTTP_VICTOROPS_PG_CONN_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_PG_CONN_H_INCLUDED_


#define NGX_HTTP_VICTOROPS_PG_ERROR_MAX    256
#define NGX_HTTP_VICTOROPS_PG_PARAMS       8     /* and the NULL */
#define NGX_HTTP_VICTOROPS_PG_HEARTBEAT    5000


struct ngx_http_victorops_pg_s {
    ngx_http_victorops_integration_t  *vi;
    ngx_log_t                    *log;
    PGconn                       *conn;
    ngx_connection_t             *c;              /* on PQsocket() */
    ino_t                         ino;
    ngx_pool_t                   *pool;           /* the connection's */

    ngx_uint_t                    state;
    PostgresPollingStatusType     poll;           /* while connecting */
    time_t                        since;

    ngx_queue_t                   waiting;        /* not sent yet */
    ngx_queue_t                   sent;           /* waiting for results */
    ngx_uint_t                    syncs;          /* sync results to come */
    const char                   *stmts[NGX_HTTP_VICTOROPS_PG_STMTS];

    ngx_connection_t              dummy;
    ngx_event_t                   timer;          /* timeouts, backoff */
    ngx_event_t                   send_event;     /* posted */
    ngx_event_t                   beat_event;     /* the heartbeat */
    ngx_http_victorops_pg_query_t  beat;
    const char                   *beat_values[2];
    time_t                        beat_last;      /* answered */
    ngx_msec_t                    timeout;
    ngx_msec_t                    backoff;

    ngx_uint_t                    connects;
    ngx_uint_t                    failures;       /* in a row */
    ngx_uint_t                    schema;
    ngx_uint_t                    from;           /* migrated from */

    const char                   *keywords[NGX_HTTP_VICTOROPS_PG_PARAMS];
    const char                   *values[NGX_HTTP_VICTOROPS_PG_PARAMS];
    ngx_str_t                     node;
    char                         *vi_name;
    char                         *timeout_value;  /* "10000ms" */

    size_t                        error_len;
    u_char                        error[NGX_HTTP_VICTOROPS_PG_ERROR_MAX];

    unsigned                      reading:1;      /* events registered */
    unsigned                      writing:1;
    unsigned                      flushing:1;     /* output left */
    unsigned                      beat_sent:1;
};


extern const char  *ngx_http_victorops_pg_states[];

void ngx_http_victorops_pg_beat_handler(ngx_event_t *ev);
void ngx_http_victorops_pg_beat_done(ngx_http_victorops_pg_query_t *q,
    PGresult *res);
void ngx_http_victorops_pg_notice(void *data, const char *message);


#endif /* _NGX_HTTP_VICTOROPS_PG_CONN_H_INCLUDED_ */
