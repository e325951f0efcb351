
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The store's job queue, in SQLite: accepting a job, claiming due jobs
 * with a lease, what becomes of them (done, retried, released, dead),
 * the questions the queue asks (pending, due, next due), expired leases,
 * retention, and the admin API's view (stats, dead letters, replay).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_store_sqlite.h"


/* the status endpoint's queries stay small whatever the tables hold */

#define NGX_HTTP_VICTOROPS_COUNT_MAX    100000
#define NGX_HTTP_VICTOROPS_OLDEST_SCAN  1000


static ngx_int_t ngx_http_victorops_store_dead_row(yajl_gen g,
    sqlite3_stmt *stmt);


/*
 * Jobs go out in arrival order per incident (key): only the head of a
 * key, its oldest unfinished job, is claimable (ready = 1, schema 7);
 * the others wait behind it whatever their next_at.  A claim reads the
 * ready heads that are due from the partial index jobs_ready, so its
 * cost does not grow with the jobs waiting behind blocked heads (in
 * flight, backing off, held by a rate limit).  A retried or released
 * head stays the head; when it is done (store_done()) or dead (the
 * trigger jobs_died), the key's next unfinished job becomes the head,
 * in the same transaction.
 * An expired lease (a worker that died) makes a head claimable again.
 *
 * In the order of NGX_HTTP_VICTOROPS_SQL_INSERT and the rest (in
 * ngx_http_victorops_store_sqlite.h).
 */

const char  *ngx_http_victorops_store_jobs_sql[] = {

    /* NGX_HTTP_VICTOROPS_SQL_INSERT */
    "INSERT INTO jobs (id, kind, class, key, incident, entity, body,"
    " created_at, next_at, ready) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
    " ?8, NOT EXISTS (SELECT 1 FROM jobs WHERE key = ?4 AND state < 2))",

    /* NGX_HTTP_VICTOROPS_SQL_CLAIM */
    "UPDATE jobs SET state = 1, lease_until = ?2, lease_pid = ?3,"
    " attempts = attempts + 1"
    " WHERE seq IN (SELECT seq FROM jobs INDEXED BY jobs_ready"
    "  WHERE state = 0 AND ready = 1 AND next_at <= ?1"
    "  ORDER BY next_at, seq LIMIT ?4)"
    " RETURNING seq, id, kind, class, key, incident, entity, body,"
    " attempts, created_at",

    /*
     * Outcomes apply to a job this worker still holds: once its lease
     * ran out, the job is another worker's (NGX_DECLINED).
     */

    /* NGX_HTTP_VICTOROPS_SQL_DONE */
    "DELETE FROM jobs WHERE seq = ?1 AND lease_pid = ?2",

    /* NGX_HTTP_VICTOROPS_SQL_RETRY */
    "UPDATE jobs SET state = 0, next_at = ?2, lease_until = 0,"
    " lease_pid = 0, last_status = ?3, last_error = ?4"
    " WHERE seq = ?1 AND lease_pid = ?5",

    /* NGX_HTTP_VICTOROPS_SQL_RELEASE */
    "UPDATE jobs SET state = 0, next_at = ?2, lease_until = 0,"
    " lease_pid = 0, attempts = max(attempts - ?3, 0)"
    " WHERE seq = ?1 AND lease_pid = ?4",

    /* NGX_HTTP_VICTOROPS_SQL_DEAD */
    "UPDATE jobs SET state = 2, ready = 0, lease_until = 0, lease_pid = 0,"
    " last_status = ?2, last_error = ?3, dead_at = ?4"
    " WHERE seq = ?1 AND lease_pid = ?5",

    /*
     * NGX_HTTP_VICTOROPS_SQL_STATS: rows counted up to ?1.  Unfinished
     * jobs: all rows (the smallest index) less the dead letters (jobs_dead,
     * an index of their own); with ?1 dead letters or more, the table.
     * The oldest pending job: the oldest head (the jobs behind a head
     * are younger) among the first ?2 heads due, and among the first ?2
     * in flight (jobs_leased).
     */
    "WITH dead (n) AS (SELECT count(*) FROM (SELECT 1 FROM jobs"
    "  INDEXED BY jobs_dead WHERE state = 2 LIMIT ?1))"
    " SELECT CASE WHEN (SELECT n FROM dead) < ?1"
    "  THEN (SELECT count(*) FROM (SELECT 1 FROM jobs"
    "   LIMIT ?1 + (SELECT n FROM dead))) - (SELECT n FROM dead)"
    "  ELSE (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE state < 2"
    "   LIMIT ?1)) END,"
    " (SELECT min(coalesce(q, l), coalesce(l, q)) FROM"
    "  (SELECT (SELECT min(created_at) FROM (SELECT created_at FROM jobs"
    "    INDEXED BY jobs_ready WHERE state = 0 AND ready = 1 LIMIT ?2))"
    "   AS q, (SELECT min(created_at) FROM (SELECT created_at FROM jobs"
    "    INDEXED BY jobs_leased WHERE state = 1 LIMIT ?2))"
    "   AS l)),"
    " (SELECT n FROM dead),"
    " (SELECT count(*) FROM (SELECT 1 FROM links LIMIT ?1))",

    /* NGX_HTTP_VICTOROPS_SQL_DEAD_LIST */
    "SELECT id, class, key, attempts, created_at, dead_at, last_status,"
    " last_error FROM jobs INDEXED BY jobs_dead"
    " WHERE state = 2 ORDER BY seq LIMIT ?1",

    /*
     * NGX_HTTP_VICTOROPS_SQL_REPLAY: a dead letter goes back to its
     * place in its key's arrival order (trigger jobs_replayed): it
     * becomes the head unless an older unfinished job of its key or
     * one in flight is; it then goes out before the key's newer jobs.
     */
    "UPDATE jobs SET state = 0, ready = 0, attempts = 0, next_at = ?2,"
    " created_at = ?2, dead_at = 0 WHERE state = 2 AND (?1 = '' OR id = ?1)",

    /* NGX_HTTP_VICTOROPS_SQL_NEXT_DUE: the earliest head */
    "SELECT min(next_at) FROM jobs INDEXED BY jobs_ready"
    " WHERE state = 0 AND ready = 1",

    /* NGX_HTTP_VICTOROPS_SQL_DUE */
    "SELECT 1 FROM jobs INDEXED BY jobs_ready"
    " WHERE state = 0 AND ready = 1 AND next_at <= ?1 LIMIT 1",

    /* NGX_HTTP_VICTOROPS_SQL_EXPIRED: the leases of workers that died */
    "UPDATE jobs SET state = 0, lease_until = 0, lease_pid = 0"
    " WHERE seq IN (SELECT seq FROM jobs INDEXED BY jobs_leased"
    "  WHERE state = 1 AND lease_until <= ?1)",

    /* NGX_HTTP_VICTOROPS_SQL_KIND_PENDING */
    "SELECT 1 FROM jobs WHERE key = ?1 AND kind = ?2 AND state < 2 LIMIT 1",

    /* NGX_HTTP_VICTOROPS_SQL_LEASE: a job taking longer keeps its lease */
    "UPDATE jobs SET lease_until = ?2"
    " WHERE seq = ?1 AND state = 1 AND lease_pid = ?3",

    /* NGX_HTTP_VICTOROPS_SQL_RETAIN_DUE: anything older than ?1 */
    "SELECT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_dead"
    "  WHERE state = 2 AND dead_at <= ?1)"
    " OR EXISTS (SELECT 1 FROM links INDEXED BY links_updated"
    "  WHERE updated_at <= ?1)",

    /* NGX_HTTP_VICTOROPS_SQL_DEAD_GC: dead letters dead since before ?1 */
    "DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs INDEXED BY jobs_dead"
    " WHERE state = 2 AND dead_at <= ?1 ORDER BY dead_at LIMIT ?2)",

    /* NGX_HTTP_VICTOROPS_SQL_LINK_GC: unchanged since, no job waiting */
    "DELETE FROM links WHERE rowid IN (SELECT l.rowid FROM links l"
    " INDEXED BY links_updated WHERE l.updated_at <= ?1"
    " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.key = l.key"
    "  AND j.state < 2)"
    " ORDER BY l.updated_at LIMIT ?2)",

    /*
     * NGX_HTTP_VICTOROPS_SQL_PROMOTE: before job ?1, a head this worker
     * holds, is deleted (done), the next unfinished job of its key
     * becomes the head
     */
    "UPDATE jobs SET ready = 1 WHERE seq = (SELECT n.seq FROM jobs o"
    " JOIN jobs n ON n.key = o.key WHERE o.seq = ?1 AND o.lease_pid = ?2"
    " AND o.ready = 1 AND n.state < 2 AND n.seq != ?1"
    " ORDER BY n.seq LIMIT 1)"
};


ngx_int_t
ngx_http_victorops_store_insert(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_INSERT);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    ngx_http_victorops_bind(stmt, 1, &job->id);
    sqlite3_bind_int(stmt, 2, (int) job->kind);
    sqlite3_bind_int(stmt, 3, (int) job->class);
    ngx_http_victorops_bind(stmt, 4, &job->key);
    ngx_http_victorops_bind(stmt, 5, &job->incident);
    ngx_http_victorops_bind(stmt, 6, &job->entity);
    sqlite3_bind_blob(stmt, 7, job->body.data, (int) job->body.len,
                      SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 8, job->created);

    return ngx_http_victorops_store_step(vi->st, stmt);
}


/*
 * Claims up to "n" due jobs for this worker until "lease_until"; they
 * are allocated from "pool" into the "jobs" array.
 */

ngx_int_t
ngx_http_victorops_store_claim(ngx_http_victorops_integration_t *vi,
    ngx_pool_t *pool, int64_t now, int64_t lease_until, ngx_uint_t n,
    ngx_array_t *jobs)
{
    ngx_int_t                  rc;
    sqlite3_stmt              *stmt;
    ngx_http_victorops_job_t  *job;

    stmt = ngx_http_victorops_store_stmt(vi->st, NGX_HTTP_VICTOROPS_SQL_CLAIM);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, now);
    sqlite3_bind_int64(stmt, 2, lease_until);
    sqlite3_bind_int64(stmt, 3, (sqlite3_int64) ngx_pid);
    sqlite3_bind_int64(stmt, 4, (sqlite3_int64) n);

    for ( ;; ) {
        rc = ngx_http_victorops_store_step(vi->st, stmt);

        if (rc != NGX_AGAIN) {
            return rc;
        }

        job = ngx_array_push(jobs);
        if (job == NULL) {
            sqlite3_reset(stmt);
            return NGX_ERROR;
        }

        ngx_memzero(job, sizeof(ngx_http_victorops_job_t));

        job->integration = vi;
        job->seq = sqlite3_column_int64(stmt, 0);
        job->kind = sqlite3_column_int(stmt, 2);
        job->class = sqlite3_column_int(stmt, 3);
        job->attempts = sqlite3_column_int(stmt, 8);
        job->created = sqlite3_column_int64(stmt, 9);

        if (ngx_http_victorops_store_text(pool, stmt, 1, &job->id) != NGX_OK
            || ngx_http_victorops_store_text(pool, stmt, 4, &job->key)
               != NGX_OK
            || ngx_http_victorops_store_text(pool, stmt, 5, &job->incident)
               != NGX_OK
            || ngx_http_victorops_store_text(pool, stmt, 6, &job->entity)
               != NGX_OK
            || ngx_http_victorops_store_text(pool, stmt, 7, &job->body)
               != NGX_OK)
        {
            sqlite3_reset(stmt);
            return NGX_ERROR;
        }
    }
}


/* a job that waits or calls again keeps its lease until "until" */

ngx_int_t
ngx_http_victorops_store_lease(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job, int64_t until)
{
    sqlite3_stmt  *stmt;

    if (vi->st == NULL) {
        return NGX_ERROR;
    }

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_LEASE);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, job->seq);
    sqlite3_bind_int64(stmt, 2, until);
    sqlite3_bind_int64(stmt, 3, (sqlite3_int64) ngx_pid);

    return ngx_http_victorops_store_changed(vi->st, stmt);
}


/*
 * A job done is deleted, and the next job of its key becomes the head:
 * both or neither (a savepoint when the caller has no transaction open).
 */

ngx_int_t
ngx_http_victorops_store_done(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job)
{
    ngx_int_t      rc;
    ngx_uint_t     own, i;
    sqlite3_stmt  *stmt;

    static ngx_uint_t  steps[] = {
        NGX_HTTP_VICTOROPS_SQL_PROMOTE,
        NGX_HTTP_VICTOROPS_SQL_DONE
    };

    if (vi->st == NULL) {
        return NGX_ERROR;
    }

    own = sqlite3_get_autocommit(vi->st->db);

    if (own
        && sqlite3_exec(vi->st->db, "SAVEPOINT done", NULL, NULL, NULL)
           != SQLITE_OK)
    {
        ngx_http_victorops_store_error(vi->st, "SAVEPOINT done");
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        stmt = ngx_http_victorops_store_stmt(vi->st, steps[i]);
        if (stmt == NULL) {
            rc = NGX_ERROR;
            break;
        }

        sqlite3_bind_int64(stmt, 1, job->seq);
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64) ngx_pid);

        rc = ngx_http_victorops_store_changed(vi->st, stmt);
        if (rc == NGX_ERROR) {
            break;
        }
    }

    if (!own) {
        return rc;
    }

    if (rc == NGX_ERROR
        || sqlite3_exec(vi->st->db, "RELEASE done", NULL, NULL, NULL)
           != SQLITE_OK)
    {
        (void) sqlite3_exec(vi->st->db, "ROLLBACK TO done; RELEASE done",
                            NULL, NULL, NULL);
        return NGX_ERROR;
    }

    return rc;
}


ngx_int_t
ngx_http_victorops_store_retry(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job, int64_t next_at, ngx_uint_t status,
    ngx_str_t *error)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st, NGX_HTTP_VICTOROPS_SQL_RETRY);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, job->seq);
    sqlite3_bind_int64(stmt, 2, next_at);
    sqlite3_bind_int(stmt, 3, (int) status);
    ngx_http_victorops_bind(stmt, 4, error);
    sqlite3_bind_int64(stmt, 5, (sqlite3_int64) ngx_pid);

    return ngx_http_victorops_store_changed(vi->st, stmt);
}


/* back to the queue without counting an attempt (rate limit, shutdown) */

ngx_int_t
ngx_http_victorops_store_release(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job, int64_t next_at)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_RELEASE);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, job->seq);
    sqlite3_bind_int64(stmt, 2, next_at);
    sqlite3_bind_int(stmt, 3, 1);
    sqlite3_bind_int64(stmt, 4, (sqlite3_int64) ngx_pid);

    return ngx_http_victorops_store_changed(vi->st, stmt);
}


ngx_int_t
ngx_http_victorops_store_dead(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job, ngx_uint_t status, ngx_str_t *error,
    int64_t now)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st, NGX_HTTP_VICTOROPS_SQL_DEAD);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, job->seq);
    sqlite3_bind_int(stmt, 2, (int) status);
    ngx_http_victorops_bind(stmt, 3, error);
    sqlite3_bind_int64(stmt, 4, now);
    sqlite3_bind_int64(stmt, 5, (sqlite3_int64) ngx_pid);

    return ngx_http_victorops_store_changed(vi->st, stmt);
}


/* NGX_OK: a job of "kind" about "key" is still queued */

ngx_int_t
ngx_http_victorops_store_job_pending(ngx_http_victorops_integration_t *vi,
    ngx_str_t *key, ngx_uint_t kind)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_KIND_PENDING);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    ngx_http_victorops_bind(stmt, 1, key);
    sqlite3_bind_int(stmt, 2, (int) kind);

    return ngx_http_victorops_store_exists(vi->st, stmt);
}


/* NGX_OK: a job is due (a read: no write lock taken when idle) */

ngx_int_t
ngx_http_victorops_store_due(ngx_http_victorops_integration_t *vi,
    int64_t now)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st, NGX_HTTP_VICTOROPS_SQL_DUE);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, now);

    return ngx_http_victorops_store_exists(vi->st, stmt);
}


/* the earliest next_at of a pending job, 0 if none */

int64_t
ngx_http_victorops_store_next_due(ngx_http_victorops_integration_t *vi)
{
    int64_t        next;
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_NEXT_DUE);
    if (stmt == NULL) {
        return 0;
    }

    if (ngx_http_victorops_store_step(vi->st, stmt) != NGX_AGAIN) {
        return 0;
    }

    next = sqlite3_column_int64(stmt, 0);

    sqlite3_reset(stmt);

    return next;
}


/* jobs leased by a worker that died go back to the queue */

ngx_int_t
ngx_http_victorops_store_expire_leases(ngx_http_victorops_integration_t *vi,
    int64_t now, ngx_uint_t *n)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_EXPIRED);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, now);

    if (ngx_http_victorops_store_step(vi->st, stmt) != NGX_OK) {
        return NGX_ERROR;
    }

    *n = sqlite3_changes(vi->st->db);

    return NGX_OK;
}


/*
 * Retention: at most "n" dead letters dead before "before", and at most
 * "n" links unchanged since then that no waiting job needs, in one
 * transaction.  NGX_DECLINED: nothing that old (a read, no write lock).
 */

ngx_int_t
ngx_http_victorops_store_retention(ngx_http_victorops_integration_t *vi,
    int64_t before, ngx_uint_t n, ngx_uint_t *dead, ngx_uint_t *links)
{
    ngx_int_t      rc;
    ngx_uint_t     i;
    sqlite3_stmt  *stmt;

    static ngx_uint_t  gc[] = {
        NGX_HTTP_VICTOROPS_SQL_DEAD_GC,
        NGX_HTTP_VICTOROPS_SQL_LINK_GC
    };

    *dead = 0;
    *links = 0;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_RETAIN_DUE);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, before);

    rc = ngx_http_victorops_store_step(vi->st, stmt);
    if (rc != NGX_AGAIN) {
        return NGX_ERROR;
    }

    rc = sqlite3_column_int(stmt, 0) ? NGX_OK : NGX_DECLINED;

    sqlite3_reset(stmt);

    if (rc == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    if (ngx_http_victorops_store_begin(vi) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(gc) / sizeof(gc[0]); i++) {
        stmt = ngx_http_victorops_store_stmt(vi->st, gc[i]);
        if (stmt == NULL) {
            goto failed;
        }

        sqlite3_bind_int64(stmt, 1, before);
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64) n);

        if (ngx_http_victorops_store_step(vi->st, stmt) != NGX_OK) {
            goto failed;
        }

        *(i ? links : dead) = sqlite3_changes(vi->st->db);
    }

    if (ngx_http_victorops_store_commit(vi) != NGX_OK) {
        *dead = 0;
        *links = 0;
        return NGX_ERROR;
    }

    return NGX_OK;

failed:

    ngx_http_victorops_store_rollback(vi);

    *dead = 0;
    *links = 0;

    return NGX_ERROR;
}


ngx_int_t
ngx_http_victorops_store_stats(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_stats_t *stats)
{
    ngx_int_t      rc;
    sqlite3_stmt  *stmt;

    ngx_memzero(stats, sizeof(ngx_http_victorops_store_stats_t));

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_STATS);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, NGX_HTTP_VICTOROPS_COUNT_MAX);
    sqlite3_bind_int64(stmt, 2, NGX_HTTP_VICTOROPS_OLDEST_SCAN);

    rc = ngx_http_victorops_store_step(vi->st, stmt);
    if (rc != NGX_AGAIN) {
        return NGX_ERROR;
    }

    stats->pending = sqlite3_column_int64(stmt, 0);
    stats->oldest = sqlite3_column_int64(stmt, 1);
    stats->dead = sqlite3_column_int64(stmt, 2);
    stats->links = sqlite3_column_int64(stmt, 3);

    sqlite3_reset(stmt);

    return NGX_OK;
}


/* dead letters as a JSON array, for the admin API */

ngx_int_t
ngx_http_victorops_store_dead_list(ngx_http_victorops_integration_t *vi,
    yajl_gen g, ngx_uint_t limit)
{
    ngx_int_t      rc;
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_DEAD_LIST);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, (sqlite3_int64) limit);

    if (yajl_gen_array_open(g) != yajl_gen_status_ok) {
        sqlite3_reset(stmt);
        return NGX_ERROR;
    }

    for ( ;; ) {
        rc = ngx_http_victorops_store_step(vi->st, stmt);

        if (rc == NGX_OK) {
            break;
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (ngx_http_victorops_store_dead_row(g, stmt) != NGX_OK) {
            sqlite3_reset(stmt);
            return NGX_ERROR;
        }
    }

    return (yajl_gen_array_close(g) == yajl_gen_status_ok) ? NGX_OK
                                                          : NGX_ERROR;
}


/* a dead letter (a row of NGX_HTTP_VICTOROPS_SQL_DEAD_LIST) as an object */

static ngx_int_t
ngx_http_victorops_store_dead_row(yajl_gen g, sqlite3_stmt *stmt)
{
    u_char     buf[NGX_HTTP_VICTOROPS_ERROR_MAX];
    ngx_str_t  s;

#define ngx_http_victorops_column_str(col)                                    \
    s.data = (u_char *) sqlite3_column_text(stmt, col);                       \
    s.len = sqlite3_column_bytes(stmt, col);

    if (yajl_gen_map_open(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    ngx_http_victorops_column_str(0);
    if (ngx_http_victorops_gen_str(g, "id", &s) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_victorops_gen_cstr(g, "class") != NGX_OK
        || ngx_http_victorops_gen_cstr(g,
               ngx_http_victorops_class_name(
                   (ngx_uint_t) sqlite3_column_int(stmt, 1) & 3))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_victorops_column_str(2);
    if (ngx_http_victorops_gen_str(g, "incident", &s) != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "attempts") != NGX_OK
        || yajl_gen_integer(g, sqlite3_column_int(stmt, 3))
           != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "created_ms") != NGX_OK
        || yajl_gen_integer(g, sqlite3_column_int64(stmt, 4))
           != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "dead_ms") != NGX_OK
        || yajl_gen_integer(g, sqlite3_column_int64(stmt, 5))
           != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "status") != NGX_OK
        || yajl_gen_integer(g, sqlite3_column_int(stmt, 6))
           != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    /* as recorded since, also for rows an older version wrote */

    ngx_http_victorops_column_str(7);
    s.len = ngx_http_victorops_utf8_text(buf, sizeof(buf), s.data, s.len)
            - buf;
    s.data = buf;

#undef ngx_http_victorops_column_str

    if (ngx_http_victorops_gen_str(g, "error", &s) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* dead letters back to the queue: one by id, or all ("") */

ngx_int_t
ngx_http_victorops_store_replay(ngx_http_victorops_integration_t *vi,
    ngx_str_t *id, int64_t now, ngx_uint_t *n)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_REPLAY);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    ngx_http_victorops_bind(stmt, 1, id);
    sqlite3_bind_int64(stmt, 2, now);

    if (ngx_http_victorops_store_step(vi->st, stmt) != NGX_OK) {
        return NGX_ERROR;
    }

    *n = sqlite3_changes(vi->st->db);

    return NGX_OK;
}
