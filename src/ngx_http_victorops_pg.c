
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The PostgreSQL store's connection (its configuration is checked by
 * ngx_http_victorops_pg_conf.c): one connection per integration and
 * worker, driven by the worker's event loop.
 *
 * libpq runs non-blocking: PQconnectStartParams()/PQconnectPoll() with
 * the socket wrapped as an nginx connection (re-wrapped when libpq
 * changes sockets while connecting), then pipeline mode: queries go out
 * with PQsendQueryParams(), PQpipelineSync() closes each batch, PQflush()
 * runs on write events while libpq has output left, and read events feed
 * PQconsumeInput()/PQisBusy()/PQgetResult().  Results come back in the
 * order sent; each query's handler gets its result.  Events are level
 * triggered, write interest only while output is left, so no state change
 * of libpq's that does no I/O can be missed.
 *
 * Once connected, a worker sets statement_timeout and checks the schema:
 * under pg_advisory_xact_lock() it reads schema_version and runs what
 * migrations are missing (ngx_http_victorops_pg_schema.c) in the same
 * transaction, so that nodes starting together migrate once.  A lost
 * connection, a failed attempt or a query that gets no answer in time
 * fails the queries in flight (their handlers get NULL) and reconnects
 * after an exponential backoff with jitter.  No blocking libpq call is
 * made in a worker: PQfinish() only closes a socket.
 *
 * The password (in the URI, or store_password_file) is never logged: the
 * logs and the status show the URI with it masked.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_pg_conn.h"


#define NGX_HTTP_VICTOROPS_PG_BACKOFF_MIN  250
#define NGX_HTTP_VICTOROPS_PG_BACKOFF_MAX  15000

/*
 * A migration's DDL waiting for a table lock (a long query of another
 * node's) would hold up every query queued behind it: it gives up early,
 * and the attempt is retried.  Waiting for another node's migration (the
 * advisory lock) is bounded by statement_timeout.
 */
#define NGX_HTTP_VICTOROPS_PG_LOCK_TIMEOUT  "5s"


static ngx_int_t ngx_http_victorops_pg_params(ngx_cycle_t *cycle,
    ngx_http_victorops_pg_t *pg);
static void ngx_http_victorops_pg_connect(ngx_http_victorops_pg_t *pg);
static ngx_int_t ngx_http_victorops_pg_wrap(ngx_http_victorops_pg_t *pg);
static void ngx_http_victorops_pg_unwrap(ngx_http_victorops_pg_t *pg);
static ngx_int_t ngx_http_victorops_pg_watch(ngx_http_victorops_pg_t *pg,
    ngx_uint_t read, ngx_uint_t write);
static void ngx_http_victorops_pg_event(ngx_event_t *ev);
static void ngx_http_victorops_pg_poll(ngx_http_victorops_pg_t *pg);
static void ngx_http_victorops_pg_connected(ngx_http_victorops_pg_t *pg);
static void ngx_http_victorops_pg_io(ngx_http_victorops_pg_t *pg);
static ngx_int_t ngx_http_victorops_pg_put(ngx_http_victorops_pg_t *pg,
    ngx_http_victorops_pg_query_t *q);
static ngx_int_t ngx_http_victorops_pg_flush(ngx_http_victorops_pg_t *pg);
static void ngx_http_victorops_pg_results(ngx_http_victorops_pg_t *pg);
static void ngx_http_victorops_pg_send_handler(ngx_event_t *ev);
static void ngx_http_victorops_pg_timer_handler(ngx_event_t *ev);
static void ngx_http_victorops_pg_fail(ngx_http_victorops_pg_t *pg,
    const char *what, const char *detail);
static void ngx_http_victorops_pg_close(ngx_http_victorops_pg_t *pg);
static void ngx_http_victorops_pg_detach(ngx_http_victorops_pg_t *pg,
    ngx_queue_t *failed);
static void ngx_http_victorops_pg_abort(ngx_http_victorops_pg_t *pg,
    ngx_queue_t *queries, const char *error);
static ngx_http_victorops_pg_query_t *ngx_http_victorops_pg_internal(
    ngx_http_victorops_pg_t *pg, const char *sql, int nparams,
    const char **values, ngx_uint_t more);
static void ngx_http_victorops_pg_version(ngx_http_victorops_pg_query_t *q,
    PGresult *res);
static void ngx_http_victorops_pg_step(ngx_http_victorops_pg_query_t *q,
    PGresult *res);
static void ngx_http_victorops_pg_ready(ngx_http_victorops_pg_query_t *q,
    PGresult *res);


/* in each worker: the connection's memory, then the first attempt */

ngx_int_t
ngx_http_victorops_pg_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_pg_t  *pg;

    pg = ngx_pcalloc(cycle->pool, sizeof(ngx_http_victorops_pg_t));
    if (pg == NULL) {
        return NGX_ERROR;
    }

    pg->vi = vi;
    pg->log = cycle->log;
    pg->timeout = vi->store_timeout;
    pg->backoff = NGX_HTTP_VICTOROPS_PG_BACKOFF_MIN;
    pg->since = ngx_time();

    ngx_queue_init(&pg->waiting);
    ngx_queue_init(&pg->sent);

    pg->dummy.fd = (ngx_socket_t) -1;
    pg->dummy.data = pg;
    pg->dummy.log = cycle->log;

    pg->timer.handler = ngx_http_victorops_pg_timer_handler;
    pg->timer.data = &pg->dummy;
    pg->timer.log = cycle->log;
    pg->timer.cancelable = 1;

    pg->send_event.handler = ngx_http_victorops_pg_send_handler;
    pg->send_event.data = &pg->dummy;
    pg->send_event.log = cycle->log;

    pg->beat_event.handler = ngx_http_victorops_pg_beat_handler;
    pg->beat_event.data = &pg->dummy;
    pg->beat_event.log = cycle->log;
    pg->beat_event.cancelable = 1;

    if (ngx_http_victorops_pg_params(cycle, pg) != NGX_OK) {
        return NGX_ERROR;
    }

    vi->pg = pg;

    ngx_http_victorops_pg_connect(pg);

    return NGX_OK;
}


/*
 * libpq's parameters: the URI expanded ("dbname"), what may be overridden
 * by it before, what may not after; the node's identity as
 * application_name (pg_stat_activity), no GSS encryption (a second
 * socket per attempt) unless the URI asks for it.
 */

static ngx_int_t
ngx_http_victorops_pg_params(ngx_cycle_t *cycle, ngx_http_victorops_pg_t *pg)
{
    u_char                            *p;
    ngx_uint_t                         n;
    ngx_http_victorops_integration_t  *vi;

    vi = pg->vi;

    /* NUL-terminated: libpq's parameters */

    p = ngx_pnalloc(cycle->pool, ngx_max(vi->node_id.len,
                                         cycle->hostname.len + NGX_INT64_LEN
                                         + 1) + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    pg->node.data = p;

    if (vi->node_id.len) {
        p = ngx_cpymem(p, vi->node_id.data, vi->node_id.len);

    } else {
        p = ngx_sprintf(p, "%V:%P", &cycle->hostname, ngx_pid);
    }

    pg->node.len = p - pg->node.data;
    *p = '\0';

    n = 0;

    pg->vi_name = ngx_pnalloc(cycle->pool, vi->name.len + 1);
    if (pg->vi_name == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(pg->vi_name, vi->name.data, vi->name.len) = '\0';

    /* the heartbeat: a query of the queue's kind, through pg_send() */

    pg->beat_values[0] = pg->vi_name;
    pg->beat_values[1] = (char *) pg->node.data;

    pg->beat.sql = "UPDATE nodes SET seen_at = victorops_now_ms()"
                   " WHERE integration = $1 AND node = $2";
    pg->beat.nparams = 2;
    pg->beat.values = pg->beat_values;
    pg->beat.handler = ngx_http_victorops_pg_beat_done;
    pg->beat.data = pg;

    pg->keywords[n] = "application_name";
    pg->values[n++] = (char *) pg->node.data;

    pg->keywords[n] = "gssencmode";
    pg->values[n++] = "disable";

    /* "relation already exists, skipping" and the like: not logged */

    pg->keywords[n] = "options";
    pg->values[n++] = "-c client_min_messages=warning";

    pg->keywords[n] = "dbname";
    pg->values[n++] = (char *) vi->store.data;

    if (vi->store_password.len) {
        pg->keywords[n] = "password";
        pg->values[n++] = (char *) vi->store_password.data;
    }

    pg->keywords[n] = NULL;
    pg->values[n] = NULL;

    p = ngx_pnalloc(cycle->pool, NGX_INT_T_LEN + sizeof("ms"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_sprintf(p, "%Mms", pg->timeout) = '\0';
    pg->timeout_value = (char *) p;

    return NGX_OK;
}


static void
ngx_http_victorops_pg_connect(ngx_http_victorops_pg_t *pg)
{
    PGconn  *conn;

    pg->state = NGX_HTTP_VICTOROPS_PG_CONNECTING;
    pg->since = ngx_time();
    pg->schema = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                   "victorops pg: connecting to %V", &pg->vi->store_masked);

    conn = PQconnectStartParams(pg->keywords, pg->values, 1);

    if (conn == NULL) {
        ngx_http_victorops_pg_fail(pg, "cannot connect", "out of memory");
        return;
    }

    pg->conn = conn;

    if (PQstatus(conn) == CONNECTION_BAD) {
        ngx_http_victorops_pg_fail(pg, "cannot connect",
                                   PQerrorMessage(conn));
        return;
    }

    if (PQsetnonblocking(conn, 1) != 0) {
        ngx_http_victorops_pg_fail(pg, "cannot connect",
                                   PQerrorMessage(conn));
        return;
    }

    (void) PQsetNoticeProcessor(conn, ngx_http_victorops_pg_notice, pg);

    /* as if PQconnectPoll() had said PGRES_POLLING_WRITING */

    pg->poll = PGRES_POLLING_WRITING;

    if (ngx_http_victorops_pg_wrap(pg) != NGX_OK
        || ngx_http_victorops_pg_watch(pg, 0, 1) != NGX_OK)
    {
        ngx_http_victorops_pg_fail(pg, "cannot connect",
                                   "cannot watch the socket");
        return;
    }

    /* queries waiting for the connection keep an exiting worker up */

    pg->timer.cancelable = ngx_queue_empty(&pg->waiting);
    ngx_add_timer(&pg->timer, pg->timeout);
}


/*
 * The socket as an nginx connection; libpq may have closed the last one
 * and opened another (another address, TLS retried without, ...), the
 * same descriptor number possibly: the inode tells.
 */

static ngx_int_t
ngx_http_victorops_pg_wrap(ngx_http_victorops_pg_t *pg)
{
    int                fd;
    struct stat        sb;
    ngx_connection_t  *c;

    fd = PQsocket(pg->conn);

    if (fd == -1 || fstat(fd, &sb) == -1) {
        return NGX_ERROR;
    }

    if (pg->c && pg->c->fd == fd && pg->ino == sb.st_ino) {
        return NGX_OK;
    }

    if (pg->c) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                       "victorops pg: socket changed to %d", fd);

        ngx_http_victorops_pg_unwrap(pg);
    }

    c = ngx_get_connection(fd, pg->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = pg;
    c->read->handler = ngx_http_victorops_pg_event;
    c->write->handler = ngx_http_victorops_pg_event;
    c->read->log = pg->log;
    c->write->log = pg->log;

    pg->c = c;
    pg->ino = sb.st_ino;
    pg->reading = 0;
    pg->writing = 0;

    return NGX_OK;
}


/*
 * The nginx connection goes, the socket stays libpq's: no epoll_ctl()
 * (NGX_CLOSE_EVENT), as libpq has closed it already or will in
 * PQfinish(), which drops it from epoll.
 */

static void
ngx_http_victorops_pg_unwrap(ngx_http_victorops_pg_t *pg)
{
    ngx_connection_t  *c;

    c = pg->c;

    if (c == NULL) {
        return;
    }

    if (ngx_del_conn && (c->read->active || c->write->active)) {
        ngx_del_conn(c, NGX_CLOSE_EVENT);

    } else {
        if (c->read->active) {
            ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->write->active) {
            ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
        }
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    pg->c = NULL;
    pg->reading = 0;
    pg->writing = 0;
}


/* level-triggered interest in reading and writing, as wanted */

static ngx_int_t
ngx_http_victorops_pg_watch(ngx_http_victorops_pg_t *pg, ngx_uint_t read,
    ngx_uint_t write)
{
    ngx_connection_t  *c;

    c = pg->c;

    if (read && !pg->reading) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }

        pg->reading = 1;

    } else if (!read && pg->reading) {
        if (ngx_del_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }

        pg->reading = 0;
    }

    if (write && !pg->writing) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }

        pg->writing = 1;

    } else if (!write && pg->writing) {
        if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }

        pg->writing = 0;
    }

    return NGX_OK;
}


static void
ngx_http_victorops_pg_event(ngx_event_t *ev)
{
    ngx_connection_t         *c;
    ngx_http_victorops_pg_t  *pg;

    c = ev->data;
    pg = c->data;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                   "victorops pg: %s event, state %s, fd %d",
                   ev->write ? "write" : "read",
                   ngx_http_victorops_pg_states[pg->state], c->fd);

    switch (pg->state) {

    case NGX_HTTP_VICTOROPS_PG_CONNECTING:

        /* PQconnectPoll() only when the socket is as it asked */

        if (ev->write != (pg->poll == PGRES_POLLING_WRITING)) {
            return;
        }

        ngx_http_victorops_pg_poll(pg);
        return;

    case NGX_HTTP_VICTOROPS_PG_MIGRATING:
    case NGX_HTTP_VICTOROPS_PG_READY:
        ngx_http_victorops_pg_io(pg);
        return;

    default:
        /* a connection that is gone: nothing registered should be left */
        (void) ngx_http_victorops_pg_watch(pg, 0, 0);
        return;
    }
}


static void
ngx_http_victorops_pg_poll(ngx_http_victorops_pg_t *pg)
{
    pg->poll = PQconnectPoll(pg->conn);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                   "victorops pg: PQconnectPoll: %d, status %d",
                   pg->poll, PQstatus(pg->conn));

    switch (pg->poll) {

    case PGRES_POLLING_READING:
    case PGRES_POLLING_WRITING:

        if (ngx_http_victorops_pg_wrap(pg) != NGX_OK
            || ngx_http_victorops_pg_watch(pg,
                                      pg->poll == PGRES_POLLING_READING,
                                      pg->poll == PGRES_POLLING_WRITING)
               != NGX_OK)
        {
            ngx_http_victorops_pg_fail(pg, "cannot connect",
                                       "cannot watch the socket");
        }

        return;

    case PGRES_POLLING_OK:

        if (ngx_http_victorops_pg_wrap(pg) != NGX_OK) {
            ngx_http_victorops_pg_fail(pg, "cannot connect",
                                       "cannot watch the socket");
            return;
        }

        ngx_http_victorops_pg_connected(pg);
        return;

    default: /* PGRES_POLLING_FAILED */
        ngx_http_victorops_pg_fail(pg, "cannot connect",
                                   PQerrorMessage(pg->conn));
        return;
    }
}


/*
 * Connected: pipeline mode; the session's statement_timeout, then the
 * schema, under the advisory lock, in a transaction that stays open
 * across the sync until the version read says what to run.
 */

static void
ngx_http_victorops_pg_connected(ngx_http_victorops_pg_t *pg)
{
    ngx_http_victorops_pg_query_t  *q;

    if (pg->timer.timer_set) {
        ngx_del_timer(&pg->timer);
    }

    if (PQenterPipelineMode(pg->conn) != 1) {
        ngx_http_victorops_pg_fail(pg, "cannot enter pipeline mode",
                                   PQerrorMessage(pg->conn));
        return;
    }

    pg->state = NGX_HTTP_VICTOROPS_PG_MIGRATING;
    pg->since = ngx_time();

    pg->pool = ngx_create_pool(1024, pg->log);
    if (pg->pool == NULL) {
        ngx_http_victorops_pg_fail(pg, "cannot check the schema",
                                   "out of memory");
        return;
    }

    if (ngx_http_victorops_pg_watch(pg, 1, 0) != NGX_OK) {
        ngx_http_victorops_pg_fail(pg, "cannot check the schema",
                                   "cannot watch the socket");
        return;
    }

    if (ngx_http_victorops_pg_internal(pg,
                   "SELECT set_config('statement_timeout', $1, false)",
                   1, (const char **) &pg->timeout_value, 0) == NULL
        || ngx_http_victorops_pg_internal(pg, "BEGIN", 0, NULL, 1) == NULL
        || ngx_http_victorops_pg_internal(pg,
                   "SET LOCAL lock_timeout = '"
                   NGX_HTTP_VICTOROPS_PG_LOCK_TIMEOUT "'", 0, NULL, 1)
           == NULL
        || ngx_http_victorops_pg_internal(pg,
                   "SELECT pg_advisory_xact_lock(hashtextextended("
                   "'ngx_http_victorops_module schema', 0))", 0, NULL, 1)
           == NULL
        || ngx_http_victorops_pg_internal(pg,
                   "CREATE TABLE IF NOT EXISTS schema_version ("
                   " version integer PRIMARY KEY,"
                   " what text NOT NULL,"
                   " node text NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now())",
                   0, NULL, 1) == NULL)
    {
        return;
    }

    q = ngx_http_victorops_pg_internal(pg,
                   "SELECT coalesce(max(version), 0) FROM schema_version",
                   0, NULL, 0);
    if (q == NULL) {
        return;
    }

    q->handler = ngx_http_victorops_pg_version;

    (void) ngx_http_victorops_pg_flush(pg);
}


/*
 * A query of the connection's own (the schema's), in its pool, put in
 * libpq's output at once; its handler, ngx_http_victorops_pg_step(),
 * ends the attempt on an error.
 */

static ngx_http_victorops_pg_query_t *
ngx_http_victorops_pg_internal(ngx_http_victorops_pg_t *pg, const char *sql,
    int nparams, const char **values, ngx_uint_t more)
{
    ngx_http_victorops_pg_query_t  *q;

    q = ngx_pcalloc(pg->pool, sizeof(ngx_http_victorops_pg_query_t));
    if (q == NULL) {
        ngx_http_victorops_pg_fail(pg, "cannot check the schema",
                                   "out of memory");
        return NULL;
    }

    q->sql = sql;
    q->nparams = nparams;
    q->values = values;
    q->handler = ngx_http_victorops_pg_step;
    q->data = pg;
    q->more = more;
    q->internal = 1;

    if (ngx_http_victorops_pg_put(pg, q) != NGX_OK) {
        return NULL;
    }

    return q;
}


/* a step of the schema's check: anything but success ends the attempt */

static void
ngx_http_victorops_pg_step(ngx_http_victorops_pg_query_t *q, PGresult *res)
{
    ngx_http_victorops_pg_t  *pg;

    pg = q->data;

    if (res == NULL) {
        return;
    }

    switch (PQresultStatus(res)) {

    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
        return;

    case PGRES_PIPELINE_ABORTED:
        /* the query that failed said why */
        return;

    default:
        ngx_http_victorops_pg_fail(pg, "schema check failed",
                                   PQresultErrorMessage(res));
        return;
    }
}


/*
 * The database's version, read under the lock: the missing migrations
 * and their schema_version rows, then COMMIT (which releases the lock);
 * nothing but the COMMIT when it is current.
 */

static void
ngx_http_victorops_pg_version(ngx_http_victorops_pg_query_t *q,
    PGresult *res)
{
    u_char                             *p;
    ngx_int_t                           n;
    const char                        **sql, **values;
    ngx_uint_t                          version, latest;
    ngx_http_victorops_pg_t            *pg;
    ngx_http_victorops_pg_migration_t  *m;

    pg = q->data;

    if (res == NULL || pg->state != NGX_HTTP_VICTOROPS_PG_MIGRATING) {
        return;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (PQresultStatus(res) != PGRES_PIPELINE_ABORTED) {
            ngx_http_victorops_pg_fail(pg, "schema check failed",
                                       PQresultErrorMessage(res));
        }

        return;
    }

    n = ngx_atoi((u_char *) PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));

    if (n == NGX_ERROR) {
        ngx_http_victorops_pg_fail(pg, "schema check failed",
                                   "schema_version unreadable");
        return;
    }

    version = n;

    latest = 0;

    for (m = ngx_http_victorops_pg_schema; m->sql; m++) {
        latest = m->version;
    }

    pg->from = version;
    pg->schema = (version > latest) ? version : latest;

    if (version > latest) {
        ngx_log_error(NGX_LOG_WARN, pg->log, 0,
                      "victorops integration \"%V\": the PostgreSQL store "
                      "is at schema version %ui, newer than this module's "
                      "%ui", &pg->vi->name, version, latest);
    }

    for (m = ngx_http_victorops_pg_schema; m->sql; m++) {
        if (m->version <= version) {
            continue;
        }

        for (sql = m->sql; *sql; sql++) {
            if (ngx_http_victorops_pg_internal(pg, *sql, 0, NULL, 1) == NULL) {
                return;
            }
        }

        values = ngx_palloc(pg->pool, 3 * sizeof(char *));
        p = ngx_pnalloc(pg->pool, NGX_INT_T_LEN + 1);

        if (values == NULL || p == NULL) {
            ngx_http_victorops_pg_fail(pg, "cannot check the schema",
                                       "out of memory");
            return;
        }

        *ngx_sprintf(p, "%ui", m->version) = '\0';

        values[0] = (char *) p;
        values[1] = m->what;
        values[2] = (char *) pg->node.data;

        if (ngx_http_victorops_pg_internal(pg,
                       "INSERT INTO schema_version (version, what, node)"
                       " VALUES ($1, $2, $3)", 3, values, 1)
            == NULL)
        {
            return;
        }
    }

    /* this node, seen now; its first connect kept */

    values = ngx_palloc(pg->pool, 2 * sizeof(char *));
    if (values == NULL) {
        ngx_http_victorops_pg_fail(pg, "cannot check the schema",
                                   "out of memory");
        return;
    }

    values[0] = pg->vi_name;
    values[1] = (char *) pg->node.data;

    if (ngx_http_victorops_pg_internal(pg, "COMMIT", 0, NULL, 1) == NULL) {
        return;
    }

    q = ngx_http_victorops_pg_internal(pg,
                   "INSERT INTO nodes (integration, node, started_at,"
                   " seen_at) VALUES ($1, $2, victorops_now_ms(),"
                   " victorops_now_ms()) ON CONFLICT (integration, node)"
                   " DO UPDATE SET seen_at = EXCLUDED.seen_at", 2, values, 0);
    if (q == NULL) {
        return;
    }

    q->handler = ngx_http_victorops_pg_ready;

    (void) ngx_http_victorops_pg_flush(pg);
}


/* the schema's transaction committed: the connection is ready */

static void
ngx_http_victorops_pg_ready(ngx_http_victorops_pg_query_t *q,
    PGresult *res)
{
    ngx_uint_t                latest;
    ngx_http_victorops_pg_t  *pg;

    pg = q->data;

    if (res == NULL || pg->state != NGX_HTTP_VICTOROPS_PG_MIGRATING) {
        return;
    }

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {

        /* an earlier step failed: the pipeline aborted up to here */

        ngx_http_victorops_pg_fail(pg, "schema check failed",
                                   PQresultStatus(res)
                                   == PGRES_PIPELINE_ABORTED
                                   ? "aborted" : PQresultErrorMessage(res));
        return;
    }

    latest = pg->schema;

    if (pg->from < latest) {
        ngx_log_error(NGX_LOG_NOTICE, pg->log, 0,
                      "victorops integration \"%V\": PostgreSQL store "
                      "schema migrated from version %ui to %ui by node "
                      "\"%V\"", &pg->vi->name, pg->from, latest, &pg->node);
    }

    pg->state = NGX_HTTP_VICTOROPS_PG_READY;
    pg->since = ngx_time();
    pg->connects++;

    ngx_log_error(NGX_LOG_NOTICE, pg->log, 0,
                  "victorops integration \"%V\": PostgreSQL store %V "
                  "connected%s (node \"%V\", backend pid %d, schema "
                  "version %ui, after %ui failed attempts)",
                  &pg->vi->name, &pg->vi->store_masked,
                  pg->connects > 1 ? " again" : "", &pg->node,
                  PQbackendPID(pg->conn), latest, pg->failures);

    pg->failures = 0;
    pg->backoff = NGX_HTTP_VICTOROPS_PG_BACKOFF_MIN;
    pg->beat_last = ngx_time();

    if (!pg->beat_event.timer_set) {
        ngx_add_timer(&pg->beat_event, NGX_HTTP_VICTOROPS_PG_HEARTBEAT);
    }

    if (!ngx_queue_empty(&pg->waiting)) {
        ngx_post_event(&pg->send_event, &ngx_posted_events);
    }
}


/* readable or writable: input in, output out, then results */

static void
ngx_http_victorops_pg_io(ngx_http_victorops_pg_t *pg)
{
    if (PQconsumeInput(pg->conn) == 0) {
        ngx_http_victorops_pg_fail(pg, "connection lost",
                                   PQerrorMessage(pg->conn));
        return;
    }

    if (pg->flushing && ngx_http_victorops_pg_flush(pg) != NGX_OK) {
        return;
    }

    ngx_http_victorops_pg_results(pg);
}


/*
 * Sends a query: queued until the connection is ready, then sent in the
 * next pass of the event loop with whatever else was queued meanwhile.
 * NGX_DECLINED: the store is unreachable (backoff), "q->error" says so;
 * the handler will not run.
 */

ngx_int_t
ngx_http_victorops_pg_send(ngx_http_victorops_pg_t *pg,
    ngx_http_victorops_pg_query_t *q)
{
    if (pg == NULL
        || pg->state == NGX_HTTP_VICTOROPS_PG_DOWN
        || pg->state == NGX_HTTP_VICTOROPS_PG_BACKOFF)
    {
        q->error = "PostgreSQL store unreachable";
        return NGX_DECLINED;
    }

    q->res = NULL;
    q->internal = 0;
    ngx_queue_insert_tail(&pg->waiting, &q->queue);

    if (pg->state == NGX_HTTP_VICTOROPS_PG_READY && !pg->send_event.posted) {
        ngx_post_event(&pg->send_event, &ngx_posted_events);
    }

    return NGX_OK;
}


/* what was queued goes out; a batch never spans passes: a sync ends it */

static void
ngx_http_victorops_pg_send_handler(ngx_event_t *ev)
{
    ngx_queue_t                    *x;
    ngx_connection_t               *dummy;
    ngx_http_victorops_pg_t        *pg;
    ngx_http_victorops_pg_query_t  *q;

    dummy = ev->data;
    pg = dummy->data;

    if (pg->state != NGX_HTTP_VICTOROPS_PG_READY) {
        return;
    }

    while (!ngx_queue_empty(&pg->waiting)) {
        x = ngx_queue_head(&pg->waiting);
        q = ngx_queue_data(x, ngx_http_victorops_pg_query_t, queue);
        ngx_queue_remove(x);

        if (ngx_queue_empty(&pg->waiting) && q->more) {
            ngx_log_error(NGX_LOG_ALERT, pg->log, 0,
                          "victorops pg: a batch without its end, synced");
            q->more = 0;
        }

        if (ngx_http_victorops_pg_put(pg, q) != NGX_OK) {
            return;
        }
    }

    if (ngx_http_victorops_pg_flush(pg) != NGX_OK) {
        return;
    }

    /* libpq may have read while writing: results may be waiting */

    ngx_http_victorops_pg_results(pg);
}


/* into libpq's output buffer; a sync after the last query of a batch */

static ngx_int_t
ngx_http_victorops_pg_put(ngx_http_victorops_pg_t *pg,
    ngx_http_victorops_pg_query_t *q)
{
    int                             rc;
    u_char                          name[NGX_HTTP_VICTOROPS_PG_NAME];
    ngx_int_t                       slot;
    ngx_http_victorops_pg_query_t  *p;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                   "victorops pg: send%s \"%s\"", q->more ? "" : "+sync",
                   q->sql);

    /* a fixed statement: its Parse in the pipeline before its first use */

    slot = q->prepare ? ngx_http_victorops_pg_stmt(pg->stmts, q->sql, name)
                      : NGX_ABORT;

    if (slot == NGX_DECLINED) {
        p = ngx_pcalloc(pg->pool, sizeof(ngx_http_victorops_pg_query_t));

        if (p && PQsendPrepare(pg->conn, (char *) name, q->sql, q->nparams,
                               NULL))
        {
            p->sql = q->sql;
            p->handler = ngx_http_victorops_pg_prepared;
            p->data = pg->stmts;
            p->internal = 1;
            ngx_queue_insert_tail(&pg->sent, &p->queue);
            slot = NGX_OK;

        } else {
            ngx_http_victorops_pg_stmt_forget(pg->stmts, q->sql);
            slot = NGX_ABORT;
        }
    }

    rc = (slot == NGX_OK)
         ? PQsendQueryPrepared(pg->conn, (char *) name, q->nparams,
                               q->values, q->lengths, q->formats, 0)
         : PQsendQueryParams(pg->conn, q->sql, q->nparams, NULL, q->values,
                             q->lengths, q->formats, 0);

    if (rc == 0) {
        ngx_queue_insert_tail(&pg->sent, &q->queue);
        ngx_http_victorops_pg_fail(pg, "cannot send a query",
                                   PQerrorMessage(pg->conn));
        return NGX_ERROR;
    }

    q->res = NULL;
    ngx_queue_insert_tail(&pg->sent, &q->queue);

    if (!q->more) {
        if (PQpipelineSync(pg->conn) != 1) {
            ngx_http_victorops_pg_fail(pg, "cannot send a query",
                                       PQerrorMessage(pg->conn));
            return NGX_ERROR;
        }

        pg->syncs++;
    }

    /*
     * the answer timeout; with queries in flight an exiting worker waits
     * for their answers (or the timeout) before it goes: their requests
     * are answered, their outcomes written
     */

    pg->timer.cancelable = 0;

    if (!pg->timer.timer_set) {
        ngx_add_timer(&pg->timer, pg->timeout + 1000);
    }

    return NGX_OK;
}


/* libpq's output to the socket; write interest while some is left */

static ngx_int_t
ngx_http_victorops_pg_flush(ngx_http_victorops_pg_t *pg)
{
    int  rc;

    rc = PQflush(pg->conn);

    if (rc == -1) {
        ngx_http_victorops_pg_fail(pg, "connection lost",
                                   PQerrorMessage(pg->conn));
        return NGX_ERROR;
    }

    pg->flushing = (rc == 1);

    if (ngx_http_victorops_pg_watch(pg, 1, pg->flushing) != NGX_OK) {
        ngx_http_victorops_pg_fail(pg, "connection lost",
                                   "cannot watch the socket");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Results in the order sent: a query's result, then NULL ends it (its
 * handler runs then); a PGRES_PIPELINE_SYNC result per sync.  A handler
 * may send queries or end the connection.
 */

static void
ngx_http_victorops_pg_results(ngx_http_victorops_pg_t *pg)
{
    PGconn                         *conn;
    PGresult                       *res;
    ngx_uint_t                      nulls;
    ngx_queue_t                    *x;
    ExecStatusType                  status;
    ngx_http_victorops_pg_query_t  *q;

    conn = pg->conn;
    nulls = 0;

    while (pg->conn == conn && !PQisBusy(conn)) {

        res = PQgetResult(conn);

        if (res == NULL) {
            if (ngx_queue_empty(&pg->sent)) {
                break;
            }

            x = ngx_queue_head(&pg->sent);
            q = ngx_queue_data(x, ngx_http_victorops_pg_query_t, queue);

            if (q->res == NULL) {

                /* between results: try once more, then wait for input */

                if (++nulls > 1) {
                    break;
                }

                continue;
            }

            nulls = 0;

            ngx_queue_remove(x);
            res = q->res;
            q->res = NULL;

            q->handler(q, res);
            PQclear(res);

            continue;
        }

        nulls = 0;
        status = PQresultStatus(res);

        if (status == PGRES_PIPELINE_SYNC) {
            PQclear(res);

            if (pg->syncs) {
                pg->syncs--;
            }

            continue;
        }

        if (ngx_queue_empty(&pg->sent)) {

            /*
             * An error the server sends on its own before it closes the
             * session (a shutdown, pg_terminate_backend()) while no query
             * waits for a result, a sync still to come (an idle
             * session's goes to the notice processor)
             */

            if (status == PGRES_FATAL_ERROR) {
                ngx_log_error(NGX_LOG_WARN, pg->log, 0,
                              "victorops integration \"%V\": PostgreSQL "
                              "store: %s", &pg->vi->name,
                              PQresultErrorMessage(res));

            } else {
                ngx_log_error(NGX_LOG_ALERT, pg->log, 0,
                              "victorops pg: a result nothing was waiting "
                              "for");
            }

            PQclear(res);
            continue;
        }

        x = ngx_queue_head(&pg->sent);
        q = ngx_queue_data(x, ngx_http_victorops_pg_query_t, queue);

        if (q->res) {
            /* one result per query: a second is dropped */
            PQclear(res);
            continue;
        }

        q->res = res;
        ngx_http_victorops_pg_stmt_check(pg->stmts, q, res);
    }

    if (pg->conn != conn) {
        return;
    }

    /* the answer timeout runs while anything is in flight */

    if (ngx_queue_empty(&pg->sent) && pg->syncs == 0) {
        if (pg->timer.timer_set) {
            ngx_del_timer(&pg->timer);
        }

    } else {
        pg->timer.cancelable = 0;
        ngx_add_timer(&pg->timer, pg->timeout + 1000);
    }
}


static void
ngx_http_victorops_pg_timer_handler(ngx_event_t *ev)
{
    u_char                    buf[64];
    ngx_connection_t         *dummy;
    ngx_http_victorops_pg_t  *pg;

    dummy = ev->data;
    pg = dummy->data;

    switch (pg->state) {

    case NGX_HTTP_VICTOROPS_PG_BACKOFF:
        ngx_http_victorops_pg_connect(pg);
        return;

    case NGX_HTTP_VICTOROPS_PG_CONNECTING:
        *ngx_sprintf(buf, "no answer within %M ms", pg->timeout) = '\0';
        ngx_http_victorops_pg_fail(pg, "cannot connect", (char *) buf);
        return;

    case NGX_HTTP_VICTOROPS_PG_MIGRATING:
    case NGX_HTTP_VICTOROPS_PG_READY:
        *ngx_sprintf(buf, "no answer within %M ms", pg->timeout + 1000)
            = '\0';
        ngx_http_victorops_pg_fail(pg, "connection lost", (char *) buf);
        return;

    default:
        return;
    }
}


/*
 * The attempt or the connection failed: it is closed, the queries in
 * flight or waiting fail (handlers with NULL), and the next attempt
 * waits for the backoff: 250 ms doubling to 15 s, +-25% jitter.
 */

static void
ngx_http_victorops_pg_fail(ngx_http_victorops_pg_t *pg, const char *what,
    const char *detail)
{
    ngx_msec_t   delay;
    ngx_queue_t  failed;

    pg->error_len = ngx_http_victorops_pg_text(pg->error,
                                               NGX_HTTP_VICTOROPS_PG_ERROR_MAX,
                                               detail);

    ngx_http_victorops_pg_detach(pg, &failed);

    ngx_http_victorops_pg_close(pg);

    pg->failures++;

    delay = pg->backoff - pg->backoff / 4
            + (ngx_msec_t) ngx_random() % (pg->backoff / 2 + 1);

    pg->backoff = ngx_min(pg->backoff * 2, NGX_HTTP_VICTOROPS_PG_BACKOFF_MAX);

    ngx_log_error(NGX_LOG_ERR, pg->log, 0,
                  "victorops integration \"%V\": PostgreSQL store %V: %s: "
                  "%*s; reconnecting in %M ms (%ui failures in a row)",
                  &pg->vi->name, &pg->vi->store_masked, what,
                  pg->error_len, pg->error, delay, pg->failures);

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        pg->state = NGX_HTTP_VICTOROPS_PG_DOWN;

    } else {
        pg->state = NGX_HTTP_VICTOROPS_PG_BACKOFF;
        pg->timer.cancelable = 1;
        ngx_add_timer(&pg->timer, delay);
    }

    pg->since = ngx_time();

    ngx_http_victorops_pg_abort(pg, &failed,
                                "PostgreSQL store connection lost");
}


/*
 * The queries queued or in flight leave the connection's lists before it
 * closes: its own (in its pool, which closing frees) are dropped, the
 * others go to "failed", for ngx_http_victorops_pg_abort() once closed.
 */

static void
ngx_http_victorops_pg_detach(ngx_http_victorops_pg_t *pg,
    ngx_queue_t *failed)
{
    ngx_uint_t                      i;
    ngx_queue_t                    *list, *x;
    ngx_http_victorops_pg_query_t  *q;

    ngx_queue_init(failed);

    for (i = 0; i < 2; i++) {
        list = (i == 0) ? &pg->sent : &pg->waiting;

        while (!ngx_queue_empty(list)) {
            x = ngx_queue_head(list);
            q = ngx_queue_data(x, ngx_http_victorops_pg_query_t, queue);
            ngx_queue_remove(x);

            if (q->res) {
                PQclear(q->res);
                q->res = NULL;
            }

            if (!q->internal) {
                ngx_queue_insert_tail(failed, x);
            }
        }
    }
}


/* the handlers of queries that will not be answered */

static void
ngx_http_victorops_pg_abort(ngx_http_victorops_pg_t *pg, ngx_queue_t *queries,
    const char *error)
{
    ngx_queue_t                    *x;
    ngx_http_victorops_pg_query_t  *q;

    while (!ngx_queue_empty(queries)) {
        x = ngx_queue_head(queries);
        q = ngx_queue_data(x, ngx_http_victorops_pg_query_t, queue);
        ngx_queue_remove(x);

        q->error = error;
        q->handler(q, NULL);
    }
}


/* the socket goes, libpq's handle and the connection's pool */

static void
ngx_http_victorops_pg_close(ngx_http_victorops_pg_t *pg)
{
    if (pg->timer.timer_set) {
        ngx_del_timer(&pg->timer);
    }

    if (pg->send_event.posted) {
        ngx_delete_posted_event(&pg->send_event);
    }

    ngx_http_victorops_pg_unwrap(pg);

    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }

    pg->syncs = 0;
    pg->flushing = 0;
    ngx_memzero(pg->stmts, sizeof(pg->stmts));
    pg->state = NGX_HTTP_VICTOROPS_PG_DOWN;

    /* the connection's own queries: detached by the callers first */

    if (pg->pool) {
        ngx_destroy_pool(pg->pool);
        pg->pool = NULL;
    }
}


/* the worker exits: queries fail, the connection closes */

void
ngx_http_victorops_pg_done(ngx_http_victorops_integration_t *vi)
{
    ngx_queue_t               failed;
    ngx_http_victorops_pg_t  *pg;

    pg = vi->pg;

    if (pg == NULL) {
        return;
    }

    ngx_http_victorops_pg_detach(pg, &failed);

    if (pg->beat_event.timer_set) {
        ngx_del_timer(&pg->beat_event);
    }

    ngx_http_victorops_pg_close(pg);

    /* closed first: a handler that sends again is refused */

    ngx_http_victorops_pg_abort(pg, &failed, "the worker exits");

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                   "victorops pg: %V closed", &vi->name);

    vi->pg = NULL;
}
