
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * A PostgreSQL store's spool: a SQLite store on the node ("store_spool
 * PATH"), opened by each worker beside its PostgreSQL connection, with
 * the SQLite backend's writer thread (store_thread.c), and used only to
 * accept while PostgreSQL is unavailable.
 *
 * Accepting: an APPEND goes to PostgreSQL while this worker's connection
 * takes queries (ready, or connecting: they wait) and the spool is empty;
 * else (closed, backing off, or jobs in the spool: the node's arrival
 * order is kept) it is written to the spool, and its requests answered
 * once it is on the spool's disk.
 * An APPEND that PostgreSQL failed as unavailable ("rc" NGX_AGAIN: the
 * connection broke, the server shuts down) goes to the spool too, not
 * answered 503: its COMMIT may have reached the database before the
 * answer was lost, so the job may be there already; its move then finds
 * its id (or its delivery's hash) and drops it.
 *
 * The spooled rows are the spool's "jobs" (the SQLite schema) and, by
 * seq, a "spool" row each with what PostgreSQL decides on the move: the
 * delivery's hash and duplicate_window, and the link's VictorOps state.
 *
 * Moving: a timer in every worker; while its connection is ready, one
 * worker at a time (a lease on the rows: state 1, lease_pid, lease_until)
 * takes the oldest spooled jobs in spool order, sends them to PostgreSQL
 * as an APPEND (one transaction; the duplicate checks of any APPEND),
 * and deletes them from the spool once the COMMIT's answer is read.  A
 * crash between the two moves them again: at least once, the copy
 * dropped in PostgreSQL by its id or hash.  Claims never read the spool.
 *
 * The spool's depth is in the shared zone: added to by each spool
 * commit (before its requests are answered), set from the spool's own
 * count by the mover unless an append came meanwhile.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_store_sqlite.h"


#define NGX_HTTP_VICTOROPS_SPOOL_BATCH  500
#define NGX_HTTP_VICTOROPS_SPOOL_POLL   1000
#define NGX_HTTP_VICTOROPS_SPOOL_RETRY  250

/*
 * How long a move holds its rows: longer than its PostgreSQL APPEND may
 * take (store_timeout, then the answer timeout 1 s later), short enough
 * that another worker soon takes over from one that exited mid-move
 */

#define ngx_http_victorops_spool_lease(vi)                                    \
    (2 * (int64_t) (vi)->store_timeout + 5000)


/* a worker's spool */

typedef struct {
    ngx_http_victorops_integration_t  *vi;
    ngx_http_victorops_integration_t  *svi;       /* the spool's store */
    ngx_uint_t                         appending; /* APPENDs in flight */
    ngx_uint_t                         single;    /* moves of one left */
    ngx_connection_t                   dummy;
    ngx_event_t                        move_event;
    unsigned                           moving:1;
    unsigned                           spooling:1;
    unsigned                           closed:1;
} ngx_http_victorops_spool_t;


/* an APPEND of the queue's, on its way: its own handler kept */

typedef struct {
    ngx_http_victorops_spool_t        *sp;
    ngx_http_victorops_store_done_pt   handler;
    void                              *data;
    unsigned                           direct:1;  /* not for the spool */
} ngx_http_victorops_spool_via_t;


/* a move: taken from the spool, appended to PostgreSQL, deleted */

typedef struct {
    ngx_http_victorops_store_op_t      op;        /* the spool's EXEC */
    ngx_http_victorops_store_op_t      append;    /* PostgreSQL's */
    ngx_http_victorops_spool_t        *sp;
    ngx_pool_t                        *pool;
    int64_t                            first;     /* seq, taken */
    int64_t                            last;
    int64_t                            depth;     /* the spool's count */
    ngx_atomic_uint_t                  seen;      /* the zone's, before */
    ngx_uint_t                         taken;
    ngx_uint_t                         moved;
    ngx_uint_t                         dropped;
    unsigned                           busy:1;    /* another worker's */
} ngx_http_victorops_move_t;


static ngx_http_victorops_integration_t *ngx_http_victorops_spool_store(
    ngx_cycle_t *cycle, ngx_http_victorops_integration_t *vi);
static ngx_uint_t ngx_http_victorops_spool_keeps(
    ngx_http_victorops_store_op_t *op);
static ngx_uint_t ngx_http_victorops_spool_wanted(
    ngx_http_victorops_spool_t *sp);
static void ngx_http_victorops_spool_write(ngx_http_victorops_spool_t *sp,
    ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_spool_sent(ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_spool_appended(
    ngx_http_victorops_store_op_t *op);
static ngx_int_t ngx_http_victorops_spool_append(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static ngx_int_t ngx_http_victorops_spool_pending(sqlite3 *db,
    sqlite3_stmt *stmt, ngx_http_victorops_pending_t *p);
static void ngx_http_victorops_spool_move_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_victorops_spool_take(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static ngx_int_t ngx_http_victorops_spool_rows(ngx_http_victorops_move_t *mv,
    ngx_http_victorops_store_t *w, int64_t now);
static ngx_int_t ngx_http_victorops_spool_row(ngx_http_victorops_move_t *mv,
    sqlite3_stmt *stmt);
static void ngx_http_victorops_spool_taken(ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_spool_moved(ngx_http_victorops_store_op_t *op);
static ngx_int_t ngx_http_victorops_spool_delete(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_spool_deleted(
    ngx_http_victorops_store_op_t *op);
static ngx_int_t ngx_http_victorops_spool_bury(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_spool_buried(
    ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_spool_depth(ngx_http_victorops_move_t *mv);
static void ngx_http_victorops_spool_end(ngx_http_victorops_move_t *mv,
    ngx_msec_t next);
static ngx_int_t ngx_http_victorops_spool_count(ngx_http_victorops_store_t *w,
    int64_t *n);
static ngx_int_t ngx_http_victorops_spool_exec(ngx_http_victorops_store_t *w,
    const char *sql, const int64_t *v, ngx_uint_t n);
static sqlite3_stmt *ngx_http_victorops_spool_stmt(
    ngx_http_victorops_store_t *w, const char *sql);


/* what PostgreSQL decides of a spooled job when it is moved */

static const char  ngx_http_victorops_spool_create[] =
    "CREATE TABLE IF NOT EXISTS spool ("
    " seq INTEGER PRIMARY KEY,"
    " hash BLOB,"
    " window INTEGER NOT NULL DEFAULT 0,"
    " vo_state INTEGER NOT NULL DEFAULT 0,"
    " link_key TEXT NOT NULL DEFAULT '',"
    " link_incident TEXT NOT NULL DEFAULT '',"
    " link_entity TEXT NOT NULL DEFAULT '')";

static const char  ngx_http_victorops_spool_insert[] =
    "INSERT INTO spool (seq, hash, window, vo_state, link_key,"
    " link_incident, link_entity) VALUES (?1, ?2, coalesce(?3, 0),"
    " coalesce(?4, 0), coalesce(?5, ''), coalesce(?6, ''), coalesce(?7, ''))";

static const char  ngx_http_victorops_spool_count_sql[] =
    "SELECT count(*) FROM jobs WHERE state < 2";

/* another worker moves: it holds rows, its lease not run out */

static const char  ngx_http_victorops_spool_busy[] =
    "SELECT 1 FROM jobs WHERE state = 1 AND lease_until > ?1"
    " AND lease_pid <> ?2 LIMIT 1";

static const char  ngx_http_victorops_spool_select[] =
    "SELECT j.seq, j.id, j.kind, j.class, j.key, j.incident, j.entity,"
    " j.body, s.hash, s.window, s.vo_state, s.link_key, s.link_incident,"
    " s.link_entity"
    " FROM jobs j LEFT JOIN spool s ON s.seq = j.seq"
    " WHERE j.state < 2 ORDER BY j.seq LIMIT ?1";

static const char  ngx_http_victorops_spool_lease[] =
    "UPDATE jobs SET state = 1, lease_until = ?1, lease_pid = ?2"
    " WHERE seq BETWEEN ?3 AND ?4 AND state < 2";

static const char  ngx_http_victorops_spool_done[] =
    "DELETE FROM jobs WHERE seq BETWEEN ?1 AND ?2 AND state = 1"
    " AND lease_pid = ?3";

/* a job PostgreSQL refuses: a dead letter of the spool's, kept there */

static const char  ngx_http_victorops_spool_dead[] =
    "UPDATE jobs SET state = 2, ready = 0, lease_until = 0, lease_pid = 0,"
    " dead_at = ?1, last_error = 'refused by PostgreSQL'"
    " WHERE seq = ?2 AND state = 1 AND lease_pid = ?3";

static const char  ngx_http_victorops_spool_gone[] =
    "DELETE FROM spool WHERE seq BETWEEN ?1 AND ?2"
    " AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.seq = spool.seq)";


/*
 * In the master, before the fork: the spool's folder, file and schema,
 * as a SQLite store's (nginx -t makes them too, and fails without them).
 */

ngx_int_t
ngx_http_victorops_spool_prepare(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_integration_t  *svi;

    svi = ngx_http_victorops_spool_store(cycle, vi);
    if (svi == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_victorops_store_prepare(cycle, svi);
}


/*
 * The spool as a store: a copy of the integration whose store is the
 * spool's file, SQLite's (its counters not the zone's)
 */

static ngx_http_victorops_integration_t *
ngx_http_victorops_spool_store(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_integration_t  *svi;

    svi = ngx_palloc(cycle->pool, sizeof(ngx_http_victorops_integration_t));
    if (svi == NULL) {
        return NULL;
    }

    *svi = *vi;

    svi->store = vi->store_spool;
    svi->store_pg = 0;
    svi->sh = NULL;
    svi->st = NULL;
    svi->pg = NULL;
    svi->pg_ops = NULL;
    svi->spool = NULL;

    return svi;
}


/* in each worker, once its PostgreSQL ops are set up (store_pg_init()) */

ngx_int_t
ngx_http_victorops_spool_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    int64_t                      n;
    ngx_http_victorops_spool_t  *sp;

    sp = ngx_pcalloc(cycle->pool, sizeof(ngx_http_victorops_spool_t));
    if (sp == NULL) {
        return NGX_ERROR;
    }

    sp->vi = vi;

    sp->svi = ngx_http_victorops_spool_store(cycle, vi);
    if (sp->svi == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_victorops_store_open(cycle, sp->svi) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * The spool's own table, at start-up (the workers' first tasks would
     * undo it with a transaction that failed)
     */

    if (sqlite3_exec(sp->svi->st->db, ngx_http_victorops_spool_create, NULL,
                     NULL, NULL)
        != SQLITE_OK)
    {
        ngx_http_victorops_store_error(sp->svi->st, "CREATE TABLE spool");
        ngx_http_victorops_store_close(sp->svi);
        return NGX_ERROR;
    }

    /*
     * What an earlier nginx left is the node's depth until a move counts
     * again (a reload's workers find the zone's count as it was)
     */

    if (ngx_http_victorops_spool_count(sp->svi->st, &n) != NGX_OK) {
        ngx_http_victorops_store_close(sp->svi);
        return NGX_ERROR;
    }

    if (vi->sh && n) {
        (void) ngx_atomic_cmp_set(&vi->sh->spool_depth, 0,
                                  (ngx_atomic_uint_t) n);
    }

    sp->dummy.fd = (ngx_socket_t) -1;
    sp->dummy.data = sp;

    sp->move_event.handler = ngx_http_victorops_spool_move_handler;
    sp->move_event.data = &sp->dummy;
    sp->move_event.log = cycle->log;
    sp->move_event.cancelable = 1;

    /* what an earlier nginx left in the spool moves once connected */

    ngx_add_timer(&sp->move_event, NGX_HTTP_VICTOROPS_SPOOL_RETRY);

    vi->spool = sp;

    return NGX_OK;
}


/*
 * The worker exits (queue_done(), after the PostgreSQL ops that could
 * not be sent were failed, and spooled if they were APPENDs): what the
 * spool's writer holds completes; no move starts again.
 */

void
ngx_http_victorops_spool_finish(ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_spool_t  *sp;

    sp = vi->spool;

    if (sp == NULL) {
        return;
    }

    sp->closed = 1;

    if (sp->move_event.timer_set) {
        ngx_del_timer(&sp->move_event);
    }

    if (sp->move_event.posted) {
        ngx_delete_posted_event(&sp->move_event);
    }

    ngx_http_victorops_store_finish(sp->svi);
}


void
ngx_http_victorops_spool_close(ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_spool_t  *sp;

    sp = vi->spool;

    if (sp == NULL) {
        return;
    }

    sp->closed = 1;

    ngx_http_victorops_store_close(sp->svi);
}


void
ngx_http_victorops_spool_info(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_spool_info_t *info)
{
    ngx_memzero(info, sizeof(ngx_http_victorops_spool_info_t));

    info->path = vi->store_spool;

    if (vi->sh) {
        info->depth = (int64_t) vi->sh->spool_depth;
        info->moved = (int64_t) vi->sh->spool_moved;
        info->dropped = (int64_t) vi->sh->spool_dropped;
        info->last_moved_at = (time_t) vi->sh->spool_moved_at;
    }
}


/*
 * store_post() of a PostgreSQL store's APPEND: to PostgreSQL, or to the
 * spool (see above); either way its handler is called as it would be
 */

void
ngx_http_victorops_spool_post(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_spool_t      *sp;
    ngx_http_victorops_spool_via_t  *via;

    sp = vi->spool;

    via = sp->closed ? NULL
                     : ngx_palloc(op->pool,
                                  sizeof(ngx_http_victorops_spool_via_t));
    if (via == NULL) {
        ngx_http_victorops_store_pg_post(vi, op);
        return;
    }

    via->sp = sp;
    via->handler = op->handler;
    via->data = op->data;
    via->direct = !ngx_http_victorops_spool_keeps(op);

    op->data = via;

    if (!via->direct && ngx_http_victorops_spool_wanted(sp)) {
        ngx_http_victorops_spool_write(sp, op);
        return;
    }

    op->handler = ngx_http_victorops_spool_sent;

    ngx_http_victorops_store_pg_post(vi, op);
}


/*
 * Whether the spool can keep each of the batch's jobs: a delivery's hash
 * and its link's VictorOps state only.  A batch with a Rootly event (its
 * event id) or an escalate request (its link, its follow-up jobs) goes
 * to PostgreSQL whatever its state: while it is unavailable that batch
 * is answered 503, and its senders retry (nothing acknowledged is lost).
 */

static ngx_uint_t
ngx_http_victorops_spool_keeps(ngx_http_victorops_store_op_t *op)
{
    ngx_uint_t                     i;
    ngx_queue_t                   *q;
    ngx_http_victorops_link_t     *link;
    ngx_http_victorops_accept_t   *a;
    ngx_http_victorops_pending_t  *p;

    for (q = ngx_queue_head(&op->items);
         q != ngx_queue_sentinel(&op->items);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_victorops_pending_t, queue);
        a = &p->accept;

        for (i = 0; i < NGX_HTTP_VICTOROPS_DUPS_MAX && a->dups[i].type; i++) {
            if (a->dups[i].type != NGX_HTTP_VICTOROPS_DUP_HASH) {
                return 0;
            }
        }

        if (a->effects == NULL) {
            continue;
        }

        if (a->effects->jobs.nelts) {
            return 0;
        }

        link = a->effects->links.elts;

        for (i = 0; i < a->effects->links.nelts; i++) {
            if (link[i].op != NGX_HTTP_VICTOROPS_LINK_VO_STATE) {
                return 0;
            }
        }
    }

    return 1;
}


/*
 * The spool takes it: PostgreSQL refuses queries (down, backing off), or
 * the spool holds jobs; while connecting or migrating, queries wait for
 * the connection (and fail as unavailable if it cannot be made)
 */

static ngx_uint_t
ngx_http_victorops_spool_wanted(ngx_http_victorops_spool_t *sp)
{
    ngx_http_victorops_pg_info_t  info;

    if (sp->appending || (sp->vi->sh && sp->vi->sh->spool_depth)) {
        return 1;
    }

    ngx_http_victorops_pg_info(sp->vi, &info);

    return info.down;
}


static void
ngx_http_victorops_spool_write(ngx_http_victorops_spool_t *sp,
    ngx_http_victorops_store_op_t *op)
{
    op->type = NGX_HTTP_VICTOROPS_OP_EXEC;
    op->exec = ngx_http_victorops_spool_append;
    op->handler = ngx_http_victorops_spool_appended;
    op->alone = 0;

    sp->appending++;

    ngx_http_victorops_store_post(sp->svi, op);
}


/* PostgreSQL's answer: unavailable, the batch goes to the spool */

static void
ngx_http_victorops_spool_sent(ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_spool_t      *sp;
    ngx_http_victorops_spool_via_t  *via;

    via = op->data;
    sp = via->sp;

    if (op->rc == NGX_AGAIN && !sp->closed && !via->direct) {
        ngx_http_victorops_spool_write(sp, op);
        return;
    }

    if (op->rc == NGX_AGAIN) {
        op->rc = NGX_ERROR;
    }

    op->handler = via->handler;
    op->data = via->data;

    op->handler(op);
}


/* on the spool's disk: counted in its depth before anything is answered */

static void
ngx_http_victorops_spool_appended(ngx_http_victorops_store_op_t *op)
{
    ngx_uint_t                       n;
    ngx_queue_t                     *q;
    ngx_http_victorops_spool_t      *sp;
    ngx_http_victorops_spool_via_t  *via;

    via = op->data;
    sp = via->sp;

    sp->appending--;

    op->type = NGX_HTTP_VICTOROPS_OP_APPEND;
    op->exec = NULL;
    op->handler = via->handler;
    op->data = via->data;

    if (op->rc == NGX_OK) {
        n = 0;

        for (q = ngx_queue_head(&op->items);
             q != ngx_queue_sentinel(&op->items);
             q = ngx_queue_next(q))
        {
            n++;
        }

        if (sp->vi->sh) {
            (void) ngx_atomic_fetch_add(&sp->vi->sh->spool_depth, n);
        }

        if (!sp->spooling) {
            sp->spooling = 1;

            ngx_log_error(NGX_LOG_WARN, sp->move_event.log, 0,
                          "victorops integration \"%V\": PostgreSQL "
                          "unavailable or the spool not empty: accepted "
                          "jobs go to the spool \"%V\"", &sp->vi->name,
                          &sp->vi->store_spool);
        }
    }

    op->handler(op);
}


/*
 * The writer's (a thread): the batch's jobs into the spool, each with
 * what the move needs; no duplicate is decided here (PostgreSQL does,
 * on the move; this node's duplicate index did already).
 */

static ngx_int_t
ngx_http_victorops_spool_append(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_int_t                        rc;
    ngx_queue_t                     *q;
    sqlite3_stmt                    *stmt;
    ngx_http_victorops_store_t      *w;
    ngx_http_victorops_pending_t    *p;

    w = wvi->st;

    stmt = ngx_http_victorops_spool_stmt(w, ngx_http_victorops_spool_insert);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    for (q = ngx_queue_head(&op->items);
         rc == NGX_OK && q != ngx_queue_sentinel(&op->items);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_victorops_pending_t, queue);

        p->duplicate = 0;
        p->accept.job.created = op->now;

        rc = ngx_http_victorops_store_insert(wvi, &p->accept.job);

        if (rc == NGX_OK) {
            rc = ngx_http_victorops_spool_pending(w->db, stmt, p);
        }
    }

    if (rc != NGX_OK) {
        ngx_http_victorops_store_error(w, "spool");
    }

    sqlite3_finalize(stmt);

    return rc;
}


/* the job just inserted: its delivery's hash, its link's state */

static ngx_int_t
ngx_http_victorops_spool_pending(sqlite3 *db, sqlite3_stmt *stmt,
    ngx_http_victorops_pending_t *p)
{
    ngx_uint_t                    i;
    ngx_http_victorops_dup_t     *dup;
    ngx_http_victorops_link_t    *link;
    ngx_http_victorops_accept_t  *a;

    a = &p->accept;

    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);

    sqlite3_bind_int64(stmt, 1, sqlite3_last_insert_rowid(db));

    for (i = 0; i < NGX_HTTP_VICTOROPS_DUPS_MAX && a->dups[i].type; i++) {
        dup = &a->dups[i];

        if (dup->type != NGX_HTTP_VICTOROPS_DUP_HASH) {
            return NGX_ERROR;   /* never here: spool_keeps() */
        }

        sqlite3_bind_blob(stmt, 2, dup->key.data, (int) dup->key.len,
                          SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, (sqlite3_int64) dup->window);
    }

    if (a->effects) {
        link = a->effects->links.elts;

        for (i = 0; i < a->effects->links.nelts; i++) {
            if (link[i].op != NGX_HTTP_VICTOROPS_LINK_VO_STATE) {
                continue;   /* none with PostgreSQL, see store_pg.c */
            }

            sqlite3_bind_int(stmt, 4, (int) link[i].vo_state);
            ngx_http_victorops_bind(stmt, 5, &link[i].key);
            ngx_http_victorops_bind(stmt, 6, &link[i].incident);
            ngx_http_victorops_bind(stmt, 7, &link[i].entity);
            break;
        }
    }

    return (sqlite3_step(stmt) == SQLITE_DONE) ? NGX_OK : NGX_ERROR;
}


/*
 * The mover, on its timer: while this worker's connection is ready, a
 * batch of the oldest spooled jobs is taken (an EXEC of the spool's)
 */

static void
ngx_http_victorops_spool_move_handler(ngx_event_t *ev)
{
    ngx_pool_t                    *pool;
    ngx_connection_t              *c;
    ngx_http_victorops_move_t     *mv;
    ngx_http_victorops_spool_t    *sp;
    ngx_http_victorops_pg_info_t   info;

    c = ev->data;
    sp = c->data;

    if (sp->closed || sp->moving || sp->vi->closing) {
        return;
    }

    ngx_http_victorops_pg_info(sp->vi, &info);

    if (!info.ready) {
        ngx_add_timer(ev, NGX_HTTP_VICTOROPS_SPOOL_RETRY);
        return;
    }

    pool = ngx_create_pool(16384, ev->log);
    if (pool == NULL) {
        ngx_add_timer(ev, NGX_HTTP_VICTOROPS_SPOOL_POLL);
        return;
    }

    mv = ngx_pcalloc(pool, sizeof(ngx_http_victorops_move_t));
    if (mv == NULL) {
        ngx_destroy_pool(pool);
        ngx_add_timer(ev, NGX_HTTP_VICTOROPS_SPOOL_POLL);
        return;
    }

    mv->sp = sp;
    mv->pool = pool;
    mv->seen = sp->vi->sh ? sp->vi->sh->spool_depth : 0;

    ngx_queue_init(&mv->append.items);

    mv->op.type = NGX_HTTP_VICTOROPS_OP_EXEC;
    mv->op.integration = sp->vi;
    mv->op.exec = ngx_http_victorops_spool_take;
    mv->op.handler = ngx_http_victorops_spool_taken;
    mv->op.data = mv;
    mv->op.now = ngx_http_victorops_now();

    sp->moving = 1;

    ngx_http_victorops_store_post(sp->svi, &mv->op);
}


/*
 * The writer's: the spool's count and, unless another worker moves, the
 * oldest jobs leased to this one (its own leases left by a failed move
 * taken again, first)
 */

static ngx_int_t
ngx_http_victorops_spool_take(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    int64_t                      v[2];
    ngx_http_victorops_move_t   *mv;
    ngx_http_victorops_store_t  *w;

    mv = op->data;
    w = wvi->st;

    if (ngx_http_victorops_spool_count(w, &mv->depth) != NGX_OK) {
        return NGX_ERROR;
    }

    if (mv->depth == 0) {
        return NGX_OK;
    }

    v[0] = op->now;
    v[1] = (int64_t) ngx_pid;

    switch (ngx_http_victorops_spool_exec(w, ngx_http_victorops_spool_busy,
                                          v, 2))
    {
    case NGX_DECLINED:
        mv->busy = 1;
        return NGX_OK;

    case NGX_OK:
        return ngx_http_victorops_spool_rows(mv, w, op->now);

    default:
        return NGX_ERROR;
    }
}


static ngx_int_t
ngx_http_victorops_spool_rows(ngx_http_victorops_move_t *mv,
    ngx_http_victorops_store_t *w, int64_t now)
{
    int            rc;
    int64_t        v[4];
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_spool_stmt(w, ngx_http_victorops_spool_select);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int(stmt, 1, mv->sp->single ? 1
                                             : NGX_HTTP_VICTOROPS_SPOOL_BATCH);

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (ngx_http_victorops_spool_row(mv, stmt) != NGX_OK) {
            break;
        }
    }

    sqlite3_finalize(stmt);

    if (rc != SQLITE_DONE) {
        ngx_http_victorops_store_error(w, "spool");
        return NGX_ERROR;
    }

    if (mv->taken == 0) {
        return NGX_OK;
    }

    v[0] = now + ngx_http_victorops_spool_lease(mv->sp->vi);
    v[1] = (int64_t) ngx_pid;
    v[2] = mv->first;
    v[3] = mv->last;

    return ngx_http_victorops_spool_exec(w, ngx_http_victorops_spool_lease,
                                         v, 4);
}


/*
 * A spooled row as an accepted job of the move's APPEND: seq, id, kind,
 * class, key, incident, entity, body, hash, window, vo_state, and the
 * link's key, incident, entity
 */

static ngx_int_t
ngx_http_victorops_spool_row(ngx_http_victorops_move_t *mv,
    sqlite3_stmt *stmt)
{
    ngx_pool_t                    *pool;
    ngx_http_victorops_dup_t      *dup;
    ngx_http_victorops_job_t      *job;
    ngx_http_victorops_link_t     *link;
    ngx_http_victorops_pending_t  *p;

    pool = mv->pool;

    p = ngx_pcalloc(pool, sizeof(ngx_http_victorops_pending_t));
    if (p == NULL) {
        return NGX_ERROR;
    }

    job = &p->accept.job;

    job->integration = mv->sp->vi;
    job->seq = sqlite3_column_int64(stmt, 0);
    job->kind = sqlite3_column_int(stmt, 2);
    job->class = sqlite3_column_int(stmt, 3);

    if (ngx_http_victorops_store_text(pool, stmt, 1, &job->id) != NGX_OK
        || ngx_http_victorops_store_text(pool, stmt, 4, &job->key) != NGX_OK
        || ngx_http_victorops_store_text(pool, stmt, 5, &job->incident)
           != NGX_OK
        || ngx_http_victorops_store_text(pool, stmt, 6, &job->entity)
           != NGX_OK
        || ngx_http_victorops_store_text(pool, stmt, 7, &job->body) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (sqlite3_column_type(stmt, 8) == SQLITE_BLOB) {
        dup = &p->accept.dups[0];
        dup->type = NGX_HTTP_VICTOROPS_DUP_HASH;
        dup->window = (ngx_msec_t) sqlite3_column_int64(stmt, 9);

        if (ngx_http_victorops_store_text(pool, stmt, 8, &dup->key)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (sqlite3_column_int(stmt, 10)) {
        p->accept.effects = ngx_http_victorops_effects_alloc(pool);
        if (p->accept.effects == NULL) {
            return NGX_ERROR;
        }

        link = ngx_http_victorops_effects_link(p->accept.effects,
                                            NGX_HTTP_VICTOROPS_LINK_VO_STATE);
        if (link == NULL) {
            return NGX_ERROR;
        }

        link->vo_state = sqlite3_column_int(stmt, 10);

        if (ngx_http_victorops_store_text(pool, stmt, 11, &link->key)
            != NGX_OK
            || ngx_http_victorops_store_text(pool, stmt, 12, &link->incident)
               != NGX_OK
            || ngx_http_victorops_store_text(pool, stmt, 13, &link->entity)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (mv->taken == 0) {
        mv->first = job->seq;
    }

    mv->last = job->seq;
    mv->taken++;

    ngx_queue_insert_tail(&mv->append.items, &p->queue);

    return NGX_OK;
}


/* back on the loop: the taken jobs go to PostgreSQL in one APPEND */

static void
ngx_http_victorops_spool_taken(ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_move_t   *mv;
    ngx_http_victorops_spool_t  *sp;

    mv = op->data;
    sp = mv->sp;

    if (op->rc != NGX_OK || sp->closed || sp->vi->closing) {
        ngx_http_victorops_spool_end(mv, NGX_HTTP_VICTOROPS_SPOOL_POLL);
        return;
    }

    if (mv->taken == 0) {
        if (!mv->busy) {
            ngx_http_victorops_spool_depth(mv);
        }

        ngx_http_victorops_spool_end(mv, mv->busy
                                         ? NGX_HTTP_VICTOROPS_SPOOL_RETRY
                                         : NGX_HTTP_VICTOROPS_SPOOL_POLL);
        return;
    }

    mv->append.type = NGX_HTTP_VICTOROPS_OP_APPEND;
    mv->append.integration = sp->vi;
    mv->append.handler = ngx_http_victorops_spool_moved;
    mv->append.data = mv;
    mv->append.pool = mv->pool;
    mv->append.now = ngx_http_victorops_now();

    ngx_http_victorops_store_pg_post(sp->vi, &mv->append);
}


/*
 * PostgreSQL committed them (or failed: they stay leased to this worker,
 * taken again by its next move, or by another once the lease ran out):
 * out of the spool
 */

static void
ngx_http_victorops_spool_moved(ngx_http_victorops_store_op_t *op)
{
    ngx_queue_t                   *q;
    ngx_http_victorops_move_t     *mv;
    ngx_http_victorops_spool_t    *sp;
    ngx_http_victorops_pending_t  *p;

    mv = op->data;
    sp = mv->sp;

    if (op->rc == NGX_ERROR && !sp->closed) {

        /*
         * Refused for another reason than availability: one by one, so
         * that the jobs PostgreSQL takes are not held up by one it never
         * will (kept aside in the spool)
         */

        if (mv->taken > 1) {
            ngx_log_error(NGX_LOG_WARN, sp->move_event.log, 0,
                          "victorops integration \"%V\": PostgreSQL "
                          "refused a batch of %ui spooled jobs, moved one "
                          "by one", &sp->vi->name, mv->taken);

            sp->single = mv->taken;
            ngx_http_victorops_spool_end(mv, 0);
            return;
        }

        mv->op.exec = ngx_http_victorops_spool_bury;
        mv->op.handler = ngx_http_victorops_spool_buried;
        mv->op.now = ngx_http_victorops_now();
        mv->seen = sp->vi->sh ? sp->vi->sh->spool_depth : 0;

        ngx_http_victorops_store_post(sp->svi, &mv->op);
        return;
    }

    if (op->rc != NGX_OK || sp->closed) {
        if (!sp->closed) {
            ngx_log_error(NGX_LOG_WARN, sp->move_event.log, 0,
                          "victorops integration \"%V\": %ui spooled jobs "
                          "not moved to PostgreSQL yet", &sp->vi->name,
                          mv->taken);
        }

        ngx_http_victorops_spool_end(mv, NGX_HTTP_VICTOROPS_SPOOL_RETRY);
        return;
    }

    for (q = ngx_queue_head(&op->items);
         q != ngx_queue_sentinel(&op->items);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_victorops_pending_t, queue);

        if (p->duplicate) {
            mv->dropped++;

        } else {
            mv->moved++;
        }
    }

    mv->seen = sp->vi->sh ? sp->vi->sh->spool_depth : 0;

    mv->op.exec = ngx_http_victorops_spool_delete;
    mv->op.handler = ngx_http_victorops_spool_deleted;
    mv->op.now = ngx_http_victorops_now();

    ngx_http_victorops_store_post(sp->svi, &mv->op);
}


static ngx_int_t
ngx_http_victorops_spool_delete(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    int64_t                      v[3];
    ngx_http_victorops_move_t   *mv;
    ngx_http_victorops_store_t  *w;

    mv = op->data;
    w = wvi->st;

    v[0] = mv->first;
    v[1] = mv->last;
    v[2] = (int64_t) ngx_pid;

    if (ngx_http_victorops_spool_exec(w, ngx_http_victorops_spool_done, v, 3)
        != NGX_OK
        || ngx_http_victorops_spool_exec(w, ngx_http_victorops_spool_gone,
                                         v, 2)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_victorops_spool_count(w, &mv->depth);
}


/* moved: counted, the queue woken for them, the next batch at once */

static void
ngx_http_victorops_spool_deleted(ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_move_t         *mv;
    ngx_http_victorops_spool_t        *sp;
    ngx_http_victorops_integration_t  *vi;

    mv = op->data;
    sp = mv->sp;
    vi = sp->vi;

    if (op->rc != NGX_OK) {
        ngx_http_victorops_spool_end(mv, NGX_HTTP_VICTOROPS_SPOOL_RETRY);
        return;
    }

    if (vi->sh) {
        (void) ngx_atomic_fetch_add(&vi->sh->spool_moved, mv->moved);
        (void) ngx_atomic_fetch_add(&vi->sh->spool_dropped, mv->dropped);
        vi->sh->spool_moved_at = (ngx_atomic_uint_t) ngx_time();
    }

    ngx_http_victorops_spool_depth(mv);

    sp->single -= ngx_min(sp->single, mv->taken);

    ngx_log_error(NGX_LOG_NOTICE, sp->move_event.log, 0,
                  "victorops integration \"%V\": %ui spooled jobs moved to "
                  "PostgreSQL, %ui dropped there as duplicates, %L left",
                  &vi->name, mv->moved, mv->dropped, mv->depth);

    if (mv->moved && !sp->closed && !vi->closing) {
        ngx_http_victorops_queue_kick(vi);
    }

    ngx_http_victorops_spool_end(mv, mv->depth ? 0
                                               : NGX_HTTP_VICTOROPS_SPOOL_POLL);
}


/* the writer's: the one job taken, a dead letter of the spool's */

static ngx_int_t
ngx_http_victorops_spool_bury(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    int64_t                      v[3];
    ngx_http_victorops_move_t   *mv;
    ngx_http_victorops_store_t  *w;

    mv = op->data;
    w = wvi->st;

    v[0] = op->now;
    v[1] = mv->first;
    v[2] = (int64_t) ngx_pid;

    if (ngx_http_victorops_spool_exec(w, ngx_http_victorops_spool_dead, v, 3)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_victorops_spool_count(w, &mv->depth);
}


static void
ngx_http_victorops_spool_buried(ngx_http_victorops_store_op_t *op)
{
    ngx_queue_t                   *q;
    ngx_http_victorops_job_t      *job;
    ngx_http_victorops_move_t     *mv;
    ngx_http_victorops_spool_t    *sp;
    ngx_http_victorops_pending_t  *p;

    mv = op->data;
    sp = mv->sp;

    if (op->rc != NGX_OK) {
        ngx_http_victorops_spool_end(mv, NGX_HTTP_VICTOROPS_SPOOL_RETRY);
        return;
    }

    q = ngx_queue_head(&mv->append.items);
    p = ngx_queue_data(q, ngx_http_victorops_pending_t, queue);
    job = &p->accept.job;

    ngx_log_error(NGX_LOG_ERR, sp->move_event.log, 0,
                  "victorops integration \"%V\": spooled job %V for "
                  "incident \"%V\" refused by PostgreSQL, kept in the "
                  "spool \"%V\" as a dead letter", &sp->vi->name, &job->id,
                  ngx_http_victorops_job_incident(job), &sp->vi->store_spool);

    ngx_http_victorops_spool_depth(mv);

    sp->single -= ngx_min(sp->single, 1);

    ngx_http_victorops_spool_end(mv, 0);
}


/*
 * The spool's count, into the zone unless a spool commit added to the
 * depth since the move looked (it counts again next time)
 */

static void
ngx_http_victorops_spool_depth(ngx_http_victorops_move_t *mv)
{
    ngx_http_victorops_spool_t  *sp;

    sp = mv->sp;

    if (sp->vi->sh == NULL) {
        return;
    }

    (void) ngx_atomic_cmp_set(&sp->vi->sh->spool_depth, mv->seen,
                              (ngx_atomic_uint_t) mv->depth);

    if (mv->depth == 0 && sp->spooling) {
        sp->spooling = 0;

        ngx_log_error(NGX_LOG_NOTICE, sp->move_event.log, 0,
                      "victorops integration \"%V\": the spool is empty, "
                      "accepted jobs go to PostgreSQL", &sp->vi->name);
    }
}


/* the move is over; the next one in "next" ms (0: at once) */

static void
ngx_http_victorops_spool_end(ngx_http_victorops_move_t *mv, ngx_msec_t next)
{
    ngx_http_victorops_spool_t  *sp;

    sp = mv->sp;

    sp->moving = 0;

    ngx_destroy_pool(mv->pool);

    if (sp->closed || sp->vi->closing) {
        return;
    }

    if (next == 0) {
        ngx_post_event(&sp->move_event, &ngx_posted_events);
        return;
    }

    ngx_add_timer(&sp->move_event, next);
}


static ngx_int_t
ngx_http_victorops_spool_count(ngx_http_victorops_store_t *w, int64_t *n)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_spool_stmt(w,
                                         ngx_http_victorops_spool_count_sql);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    if (sqlite3_step(stmt) != SQLITE_ROW) {
        ngx_http_victorops_store_error(w, "spool");
        sqlite3_finalize(stmt);
        return NGX_ERROR;
    }

    *n = sqlite3_column_int64(stmt, 0);

    sqlite3_finalize(stmt);

    return NGX_OK;
}


/*
 * A statement of the spool's own, on the writer's connection (at
 * start-up, the event loop's)
 */

static sqlite3_stmt *
ngx_http_victorops_spool_stmt(ngx_http_victorops_store_t *w, const char *sql)
{
    sqlite3_stmt  *stmt;

    if (sqlite3_prepare_v2(w->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        ngx_http_victorops_store_error(w, sql);
        return NULL;
    }

    return stmt;
}


/*
 * One statement with "n" integer parameters: NGX_OK, done; NGX_DECLINED,
 * it gave a row; NGX_ERROR, logged
 */

static ngx_int_t
ngx_http_victorops_spool_exec(ngx_http_victorops_store_t *w, const char *sql,
    const int64_t *v, ngx_uint_t n)
{
    int            rc;
    ngx_uint_t     i;
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_spool_stmt(w, sql);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        sqlite3_bind_int64(stmt, (int) i + 1, (sqlite3_int64) v[i]);
    }

    rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);

    if (rc == SQLITE_ROW) {
        return NGX_DECLINED;
    }

    if (rc != SQLITE_DONE) {
        ngx_http_victorops_store_error(w, "spool");
        return NGX_ERROR;
    }

    return NGX_OK;
}
