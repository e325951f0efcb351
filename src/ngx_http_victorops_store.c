
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The embedded store: one SQLite database (WAL) per integration holding
 * the job queue, incident links, duplicate-suppression records and dead
 * letters.  The master creates and migrates it before forking; each
 * worker opens its own handle after the fork.  Write transactions are
 * short, and the time spent waiting for the database lock is measured.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_SCHEMA  6


/* the status endpoint's queries stay small whatever the tables hold */

#define NGX_HTTP_VICTOROPS_COUNT_MAX    100000
#define NGX_HTTP_VICTOROPS_OLDEST_SCAN  1000


/* a store opened by name is never a symbolic link (SQLite 3.31) */

#ifdef SQLITE_OPEN_NOFOLLOW
#define NGX_HTTP_VICTOROPS_NOFOLLOW  SQLITE_OPEN_NOFOLLOW
#else
#define NGX_HTTP_VICTOROPS_NOFOLLOW  0
#endif


enum {
    NGX_HTTP_VICTOROPS_SQL_INSERT = 0,
    NGX_HTTP_VICTOROPS_SQL_CLAIM,
    NGX_HTTP_VICTOROPS_SQL_DONE,
    NGX_HTTP_VICTOROPS_SQL_RETRY,
    NGX_HTTP_VICTOROPS_SQL_RELEASE,
    NGX_HTTP_VICTOROPS_SQL_DEAD,
    NGX_HTTP_VICTOROPS_SQL_LINK_GET,
    NGX_HTTP_VICTOROPS_SQL_LINK_SET,
    NGX_HTTP_VICTOROPS_SQL_LINK_DEL,
    NGX_HTTP_VICTOROPS_SQL_PENDING,
    NGX_HTTP_VICTOROPS_SQL_DEDUP,
    NGX_HTTP_VICTOROPS_SQL_DEDUP_GC,
    NGX_HTTP_VICTOROPS_SQL_STATS,
    NGX_HTTP_VICTOROPS_SQL_DEAD_LIST,
    NGX_HTTP_VICTOROPS_SQL_REPLAY,
    NGX_HTTP_VICTOROPS_SQL_NEXT_DUE,
    NGX_HTTP_VICTOROPS_SQL_DUE,
    NGX_HTTP_VICTOROPS_SQL_EXPIRED,
    NGX_HTTP_VICTOROPS_SQL_EVENT,
    NGX_HTTP_VICTOROPS_SQL_EVENT_GC,
    NGX_HTTP_VICTOROPS_SQL_ESC_GET,
    NGX_HTTP_VICTOROPS_SQL_ESC_SET,
    NGX_HTTP_VICTOROPS_SQL_TARGETS,
    NGX_HTTP_VICTOROPS_SQL_OPEN,
    NGX_HTTP_VICTOROPS_SQL_VO_STATE,
    NGX_HTTP_VICTOROPS_SQL_ROOTLY_STATE,
    NGX_HTTP_VICTOROPS_SQL_SYNC_LIST,
    NGX_HTTP_VICTOROPS_SQL_SYNC_MARK,
    NGX_HTTP_VICTOROPS_SQL_KIND_PENDING,
    NGX_HTTP_VICTOROPS_SQL_NUMBER_LINKED,
    NGX_HTTP_VICTOROPS_SQL_LEASE,
    NGX_HTTP_VICTOROPS_SQL_RETAIN_DUE,
    NGX_HTTP_VICTOROPS_SQL_DEAD_GC,
    NGX_HTTP_VICTOROPS_SQL_LINK_GC,
    NGX_HTTP_VICTOROPS_SQL_SIG_SEEN,
    NGX_HTTP_VICTOROPS_SQL_SIG_CLAIM,
    NGX_HTTP_VICTOROPS_SQL_SIG_GC,
    NGX_HTTP_VICTOROPS_SQL_N
};


struct ngx_http_victorops_store_s {
    sqlite3                      *db;
    sqlite3_stmt                 *stmt[NGX_HTTP_VICTOROPS_SQL_N];
    ngx_log_t                    *log;
    ngx_str_t                     path;
    ngx_uint_t                    busy_calls;
    int                           wal_frames;
#if (NGX_THREADS)
    sqlite3                      *checkpoint_db;      /* the thread's */
    ngx_thread_task_t            *checkpoint_task;
    ngx_thread_pool_t            *thread_pool;
    unsigned                      checkpointing:1;
#endif
    ngx_msec_t                    busy_timeout;
    ngx_http_victorops_shctx_t   *sh;
};


typedef struct {
    gid_t                        *groups;
    int                           ngroups;
    gid_t                         gid;
} ngx_http_victorops_ids_t;


static ngx_fd_t ngx_http_victorops_store_folder(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, u_char *dir,
    ngx_core_conf_t *owner);
static ngx_int_t ngx_http_victorops_store_files(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_fd_t dirfd, u_char *dir,
    u_char *base, ngx_core_conf_t *owner);
static ngx_int_t ngx_http_victorops_store_become(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_core_conf_t *owner,
    ngx_http_victorops_ids_t *saved);
static ngx_int_t ngx_http_victorops_store_restore(ngx_cycle_t *cycle,
    ngx_http_victorops_ids_t *saved);
static ngx_int_t ngx_http_victorops_store_exec(sqlite3 *db, ngx_log_t *log,
    ngx_str_t *path, const char *sql);
static ngx_int_t ngx_http_victorops_store_migrate(sqlite3 *db, ngx_log_t *log,
    ngx_str_t *path);
static int ngx_http_victorops_store_busy(void *data, int count);
static int ngx_http_victorops_store_wal(void *data, sqlite3 *db,
    const char *name, int frames);
#if (NGX_THREADS)
static void ngx_http_victorops_checkpoint_thread(void *data, ngx_log_t *log);
static void ngx_http_victorops_checkpoint_done(ngx_event_t *ev);
#endif
static sqlite3_stmt *ngx_http_victorops_store_stmt(
    ngx_http_victorops_store_t *st, ngx_uint_t n);
static ngx_int_t ngx_http_victorops_store_step(ngx_http_victorops_store_t *st,
    sqlite3_stmt *stmt);
static void ngx_http_victorops_store_error(ngx_http_victorops_store_t *st,
    const char *what);
static ngx_int_t ngx_http_victorops_store_text(ngx_pool_t *pool,
    sqlite3_stmt *stmt, int col, ngx_str_t *out);
static void ngx_http_victorops_bind(sqlite3_stmt *stmt, int n, ngx_str_t *s);
static ngx_int_t ngx_http_victorops_store_exists(
    ngx_http_victorops_store_t *st, sqlite3_stmt *stmt);
static ngx_int_t ngx_http_victorops_store_changed(
    ngx_http_victorops_store_t *st, sqlite3_stmt *stmt);


/* each entry takes a database from the version before it to this one */

static const char  *ngx_http_victorops_schema[] = {

    /* 1: jobs, links, duplicate records */

    "CREATE TABLE jobs ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " kind INTEGER NOT NULL,"
    " class INTEGER NOT NULL,"
    " key TEXT NOT NULL,"
    " incident TEXT NOT NULL DEFAULT '',"
    " entity TEXT NOT NULL DEFAULT '',"
    " body BLOB NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " next_at INTEGER NOT NULL,"
    " lease_until INTEGER NOT NULL DEFAULT 0,"
    " lease_pid INTEGER NOT NULL DEFAULT 0,"
    " last_status INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '',"
    " dead_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_due ON jobs (state, next_at);"
    "CREATE INDEX jobs_key ON jobs (key, seq);"
    "CREATE TABLE links ("
    " key TEXT PRIMARY KEY,"
    " incident TEXT NOT NULL DEFAULT '',"
    " entity TEXT NOT NULL DEFAULT '',"
    " rootly_incident TEXT NOT NULL DEFAULT '',"
    " rootly_alert TEXT NOT NULL DEFAULT '',"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX links_incident ON links (incident);"
    "CREATE INDEX links_entity ON links (entity);"
    "CREATE TABLE dedup ("
    " hash BLOB PRIMARY KEY,"
    " seen_at INTEGER NOT NULL) WITHOUT ROWID;",

    /* 2: claiming walks jobs in arrival order per state */

    "CREATE INDEX jobs_state_seq ON jobs (state, seq);",

    /* 3: Rootly outgoing webhooks already handled, by event id */

    "CREATE TABLE rootly_events ("
    " id TEXT PRIMARY KEY,"
    " seen_at INTEGER NOT NULL) WITHOUT ROWID;",

    /*
     * 4: escalations: what a link pages (targets), where it came from
     * (origin 1: created from Rootly), what each side last said.
     */

    "ALTER TABLE links ADD COLUMN targets TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE links ADD COLUMN origin INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE links ADD COLUMN vo_state INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE links ADD COLUMN rootly_state INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE links ADD COLUMN synced_at INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX links_rootly ON links (rootly_incident);",

    /*
     * 5: retention finds old dead letters and links by index; only dead
     * letters are in jobs_dead, so accepting a job does not touch it.
     */

    "CREATE INDEX jobs_dead ON jobs (dead_at) WHERE state = 2;"
    "CREATE INDEX links_updated ON links (updated_at);",

    /*
     * 6: X-VictorOps-Signatures of escalation-policy webhooks handled,
     * decoded, so that a captured request cannot be replayed
     */

    "CREATE TABLE signatures ("
    " sig BLOB PRIMARY KEY,"
    " seen_at INTEGER NOT NULL) WITHOUT ROWID;"
};


/*
 * Jobs go out in arrival order per incident: a job is due only when no
 * earlier job about the same incident is still pending or leased.  An
 * expired lease (a worker that died) makes a job claimable again.
 */

static const char  *ngx_http_victorops_sql[] = {

    /* NGX_HTTP_VICTOROPS_SQL_INSERT */
    "INSERT INTO jobs (id, kind, class, key, incident, entity, body,"
    " created_at, next_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",

    /* NGX_HTTP_VICTOROPS_SQL_CLAIM */
    "UPDATE jobs SET state = 1, lease_until = ?2, lease_pid = ?3,"
    " attempts = attempts + 1"
    " WHERE seq IN (SELECT j.seq FROM jobs j INDEXED BY jobs_state_seq"
    "  WHERE j.state = 0 AND j.next_at <= ?1"
    "  AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.key = j.key"
    "   AND e.seq < j.seq AND e.state < 2)"
    "  ORDER BY j.seq LIMIT ?4)"
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
    "UPDATE jobs SET state = 2, lease_until = 0, lease_pid = 0,"
    " last_status = ?2, last_error = ?3, dead_at = ?4"
    " WHERE seq = ?1 AND lease_pid = ?5",

    /* NGX_HTTP_VICTOROPS_SQL_LINK_GET */
    "SELECT rootly_incident, rootly_alert FROM links"
    " WHERE key = ?1 OR (?2 != '' AND incident = ?2)"
    " OR (?3 != '' AND entity = ?3)"
    " ORDER BY rootly_incident = '' LIMIT 1",

    /* NGX_HTTP_VICTOROPS_SQL_LINK_SET */
    "INSERT INTO links (key, incident, entity, rootly_incident,"
    " rootly_alert, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    " ON CONFLICT (key) DO UPDATE SET"
    " incident = CASE WHEN ?2 != '' THEN ?2 ELSE incident END,"
    " entity = CASE WHEN ?3 != '' THEN ?3 ELSE entity END,"
    " rootly_incident = CASE WHEN ?4 != '' THEN ?4"
    "  ELSE rootly_incident END,"
    " rootly_alert = CASE WHEN ?5 != '' THEN ?5 ELSE rootly_alert END,"
    " updated_at = ?6",

    /* NGX_HTTP_VICTOROPS_SQL_LINK_DEL */
    "DELETE FROM links WHERE key = ?1 OR (?2 != '' AND incident = ?2)"
    " OR (?3 != '' AND entity = ?3)",

    /* NGX_HTTP_VICTOROPS_SQL_PENDING */
    "SELECT 1 FROM jobs WHERE key = ?1 AND kind = 1 AND state < 2 LIMIT 1",

    /* NGX_HTTP_VICTOROPS_SQL_DEDUP: a change unless seen since ?3 */
    "INSERT INTO dedup (hash, seen_at) VALUES (?1, ?2)"
    " ON CONFLICT (hash) DO UPDATE SET seen_at = ?2 WHERE seen_at <= ?3",

    /* NGX_HTTP_VICTOROPS_SQL_DEDUP_GC */
    "DELETE FROM dedup WHERE seen_at <= ?1",

    /*
     * NGX_HTTP_VICTOROPS_SQL_STATS: rows counted up to ?1; the oldest
     * pending job among the first ?2 of each state in arrival order
     * (a replayed job, early in that order, is younger than it looks)
     */
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE state < 2"
    "  LIMIT ?1)),"
    " (SELECT min(coalesce(q, l), coalesce(l, q)) FROM"
    "  (SELECT (SELECT min(created_at) FROM (SELECT created_at FROM jobs"
    "    INDEXED BY jobs_state_seq WHERE state = 0 ORDER BY seq LIMIT ?2))"
    "   AS q, (SELECT min(created_at) FROM (SELECT created_at FROM jobs"
    "    INDEXED BY jobs_state_seq WHERE state = 1 ORDER BY seq LIMIT ?2))"
    "   AS l)),"
    " (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE state = 2 LIMIT ?1)),"
    " (SELECT count(*) FROM (SELECT 1 FROM links LIMIT ?1))",

    /* NGX_HTTP_VICTOROPS_SQL_DEAD_LIST */
    "SELECT id, class, key, attempts, created_at, dead_at, last_status,"
    " last_error FROM jobs INDEXED BY jobs_state_seq"
    " WHERE state = 2 ORDER BY seq LIMIT ?1",

    /* NGX_HTTP_VICTOROPS_SQL_REPLAY */
    "UPDATE jobs SET state = 0, attempts = 0, next_at = ?2, created_at = ?2,"
    " dead_at = 0 WHERE state = 2 AND (?1 = '' OR id = ?1)",

    /* NGX_HTTP_VICTOROPS_SQL_NEXT_DUE */
    "SELECT min(next_at) FROM jobs WHERE state = 0",

    /* NGX_HTTP_VICTOROPS_SQL_DUE */
    "SELECT 1 FROM jobs WHERE state = 0 AND next_at <= ?1 LIMIT 1",

    /* NGX_HTTP_VICTOROPS_SQL_EXPIRED: the leases of workers that died */
    "UPDATE jobs SET state = 0, lease_until = 0, lease_pid = 0"
    " WHERE state = 1 AND lease_until <= ?1",

    /* NGX_HTTP_VICTOROPS_SQL_EVENT: a change unless seen before */
    "INSERT INTO rootly_events (id, seen_at) VALUES (?1, ?2)"
    " ON CONFLICT (id) DO NOTHING",

    /* NGX_HTTP_VICTOROPS_SQL_EVENT_GC */
    "DELETE FROM rootly_events WHERE seen_at <= ?1",

    /* NGX_HTTP_VICTOROPS_SQL_ESC_GET: the incident paged for ?1 */
    "SELECT key, incident, entity, targets, vo_state, rootly_state"
    " FROM links WHERE rootly_incident = ?1 AND origin = 1"
    " ORDER BY updated_at DESC LIMIT 1",

    /* NGX_HTTP_VICTOROPS_SQL_ESC_SET */
    "INSERT INTO links (key, incident, entity, rootly_incident,"
    " rootly_alert, updated_at, targets, origin)"
    " VALUES (?1, ?2, ?3, ?4, '', ?5, ?6, 1)"
    " ON CONFLICT (key) DO UPDATE SET incident = ?2, entity = ?3,"
    " rootly_incident = ?4, targets = ?6, origin = 1, updated_at = ?5",

    /* NGX_HTTP_VICTOROPS_SQL_TARGETS: rerouted, so paging again */
    "UPDATE links SET targets = ?2, vo_state = 0, updated_at = ?3"
    " WHERE key = ?1",

    /* NGX_HTTP_VICTOROPS_SQL_OPEN: VictorOps incidents still open */
    "SELECT key, incident, entity, targets, vo_state, rootly_state"
    " FROM links WHERE rootly_incident = ?1 AND incident != ''"
    " AND vo_state < 2 ORDER BY incident",

    /* NGX_HTTP_VICTOROPS_SQL_VO_STATE: acknowledged, resolved */
    "UPDATE links SET vo_state = max(vo_state, ?4), updated_at = ?5"
    " WHERE key = ?1 OR (?2 != '' AND incident = ?2)"
    " OR (?3 != '' AND entity = ?3)",

    /* NGX_HTTP_VICTOROPS_SQL_ROOTLY_STATE */
    "UPDATE links SET rootly_state = ?2 WHERE rootly_incident = ?1",

    /* NGX_HTTP_VICTOROPS_SQL_SYNC_LIST: links open on either side */
    "SELECT key, incident, entity, targets, vo_state, rootly_state,"
    " rootly_incident FROM links"
    " WHERE rootly_incident != '' AND incident != ''"
    " AND (vo_state < 2 OR rootly_state = 0)"
    " ORDER BY synced_at LIMIT ?1",

    /* NGX_HTTP_VICTOROPS_SQL_SYNC_MARK */
    "UPDATE links SET synced_at = ?2 WHERE key = ?1",

    /* NGX_HTTP_VICTOROPS_SQL_KIND_PENDING */
    "SELECT 1 FROM jobs WHERE key = ?1 AND kind = ?2 AND state < 2 LIMIT 1",

    /* NGX_HTTP_VICTOROPS_SQL_NUMBER_LINKED */
    "SELECT 1 FROM links WHERE incident = ?1 AND rootly_incident != ''"
    " LIMIT 1",

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

    /* NGX_HTTP_VICTOROPS_SQL_SIG_SEEN */
    "SELECT 1 FROM signatures WHERE sig = ?1",

    /* NGX_HTTP_VICTOROPS_SQL_SIG_CLAIM: a change unless seen before */
    "INSERT INTO signatures (sig, seen_at) VALUES (?1, ?2)"
    " ON CONFLICT (sig) DO NOTHING",

    /* NGX_HTTP_VICTOROPS_SQL_SIG_GC */
    "DELETE FROM signatures WHERE seen_at <= ?1"
};


/*
 * In the master, before the fork: the folder, the files, the schema.
 *
 * The folder is handed to the worker user, who may then put anything in
 * it: the master never follows a name there.  The folder and every store
 * file are opened without following symbolic links, checked through
 * their descriptors (a folder; regular files of one link) and their owner
 * and mode changed through them.  SQLite, which opens files by name, runs
 * as the worker user, so nothing in the folder is written as root.
 */

ngx_int_t
ngx_http_victorops_store_prepare(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    u_char                    *p, *dir;
    sqlite3                   *db;
    ngx_fd_t                   fd;
    ngx_err_t                  err;
    ngx_int_t                  rc;
    ngx_uint_t                 switched;
    ngx_core_conf_t           *ccf, *owner;
    ngx_http_victorops_ids_t   ids;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    /* a master running as root gives the store to the worker user */

    owner = (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT)
            ? ccf : NULL;

    dir = ngx_pnalloc(cycle->pool, vi->store.len + 1);
    if (dir == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(dir, vi->store.data, vi->store.len + 1);

    err = ngx_create_full_path(dir, 0755);
    if (err) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                      "victorops integration \"%V\": cannot create the "
                      "folder of store \"%V\"", &vi->name, &vi->store);
        return NGX_ERROR;
    }

    for (p = dir + vi->store.len; p > dir && *p != '/'; p--) {
        /* void */
    }

    if (p == dir || p[1] == '\0'
        || dir + vi->store.len - p + sizeof("-journal") > NGX_MAX_PATH)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "victorops integration \"%V\": store \"%V\" needs a "
                      "folder of its own and a file name", &vi->name,
                      &vi->store);
        return NGX_ERROR;
    }

    *p++ = '\0';

    fd = ngx_http_victorops_store_folder(cycle, vi, dir, owner);
    if (fd == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

    rc = ngx_http_victorops_store_files(cycle, vi, fd, dir, p, owner);

    if (close(fd) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "close(\"%s\") failed", dir);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    switched = 0;

    if (owner && owner->user != 0) {
        if (ngx_http_victorops_store_become(cycle, vi, owner, &ids)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        switched = 1;
    }

    if (sqlite3_open_v2((char *) vi->store.data, &db,
                        SQLITE_OPEN_READWRITE|SQLITE_OPEN_NOMUTEX
                        |NGX_HTTP_VICTOROPS_NOFOLLOW, NULL)
        != SQLITE_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "victorops integration \"%V\": cannot open store "
                      "\"%V\"%s%s%s: %s", &vi->name, &vi->store,
                      switched ? " as user \"" : "",
                      switched ? owner->username : "",
                      switched ? "\"" : "",
                      db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        rc = NGX_ERROR;
        goto done;
    }

    sqlite3_busy_timeout(db, 5000);

    /* a job (the Rootly body with the payload) is about 2 KB: 3 a page */

    rc = ngx_http_victorops_store_exec(db, cycle->log, &vi->store,
                                       "PRAGMA page_size=8192");
    if (rc == NGX_OK) {
        rc = ngx_http_victorops_store_exec(db, cycle->log, &vi->store,
                                           "PRAGMA journal_mode=WAL");
    }
    if (rc == NGX_OK) {
        rc = ngx_http_victorops_store_migrate(db, cycle->log, &vi->store);
    }

    sqlite3_close(db);

done:

    if (switched
        && ngx_http_victorops_store_restore(cycle, &ids) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return rc;
}


/*
 * The store's folder, opened without following a symbolic link; a
 * master running as root makes it the worker user's, mode 0700.
 */

static ngx_fd_t
ngx_http_victorops_store_folder(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, u_char *dir, ngx_core_conf_t *owner)
{
    ngx_fd_t         fd;
    ngx_err_t        err;
    const char      *refused;
    ngx_file_info_t  fi;

    fd = open((char *) dir,
              O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;

        if (err != ELOOP && err != ENOTDIR) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                          "victorops integration \"%V\": cannot open the "
                          "folder \"%s\" of store \"%V\"", &vi->name, dir,
                          &vi->store);
            return NGX_INVALID_FILE;
        }

        refused = (ngx_link_info(dir, &fi) == 0 && S_ISLNK(fi.st_mode))
                  ? "is a symbolic link" : "is not a folder";
        goto refused;
    }

    if (ngx_fd_info(fd, &fi) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      ngx_fd_info_n " \"%s\" failed", dir);
        goto failed;
    }

    refused = NULL;

    if (!S_ISDIR(fi.st_mode)) {
        refused = "is not a folder";

    } else if (fi.st_mode & S_ISVTX) {

        /* /tmp and the like: never taken over */

        refused = "is a shared folder (sticky bit)";

    } else if (owner == NULL && fi.st_uid != geteuid()
               && (fi.st_mode & (S_IWGRP|S_IWOTH)))
    {
        refused = "is writable by other users";
    }

    if (refused) {
        goto refused;
    }

    if (owner
        && (fi.st_uid != owner->user || fi.st_gid != owner->group)
        && fchown(fd, owner->user, owner->group) == -1)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "victorops integration \"%V\": fchown(\"%s\") failed",
                      &vi->name, dir);
        goto failed;
    }

    if ((owner || fi.st_uid == geteuid())
        && (fi.st_mode & 07777) != 0700
        && fchmod(fd, 0700) == -1)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "victorops integration \"%V\": fchmod(\"%s\") failed",
                      &vi->name, dir);
        goto failed;
    }

    return fd;

refused:

    ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                  "victorops integration \"%V\": the folder \"%s\" of store "
                  "\"%V\" %s, refused: give the store a folder of its own",
                  &vi->name, dir, &vi->store, refused);

failed:

    if (fd != NGX_INVALID_FILE) {
        (void) close(fd);
    }

    return NGX_INVALID_FILE;
}


/*
 * NAME.db, -wal, -shm and -journal in the folder "dirfd": never followed,
 * regular files of one link, mode 0600, the worker user's.  NAME.db is
 * created here (SQLite gives its -wal and -shm the database's mode).
 */

static ngx_int_t
ngx_http_victorops_store_files(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_fd_t dirfd, u_char *dir,
    u_char *base, ngx_core_conf_t *owner)
{
    ngx_fd_t          fd;
    ngx_err_t         err;
    ngx_uint_t        i;
    const char       *refused;
    ngx_file_info_t   fi;
    u_char            name[NGX_MAX_PATH];

    static const char  *suffix[] = { "", "-wal", "-shm", "-journal" };

    for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {

        ngx_sprintf(name, "%s%s%Z", base, suffix[i]);

        fd = openat(dirfd, (char *) name,
                    O_RDONLY|O_NOFOLLOW|O_NOCTTY|O_CLOEXEC|O_NONBLOCK);

        if (fd == NGX_INVALID_FILE && ngx_errno == NGX_ENOENT) {
            if (i != 0) {
                continue;
            }

            fd = openat(dirfd, (char *) name,
                        O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_NOCTTY|O_CLOEXEC
                        |O_NONBLOCK, 0600);
        }

        if (fd == NGX_INVALID_FILE) {
            err = ngx_errno;

            if (err == ELOOP) {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                              "victorops integration \"%V\": store file "
                              "\"%s/%s\" is a symbolic link, refused",
                              &vi->name, dir, name);

            } else {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                              "victorops integration \"%V\": cannot open "
                              "store file \"%s/%s\"", &vi->name, dir, name);
            }

            return NGX_ERROR;
        }

        refused = NULL;

        if (ngx_fd_info(fd, &fi) == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          ngx_fd_info_n " \"%s/%s\" failed", dir, name);
            goto failed;
        }

        if (!S_ISREG(fi.st_mode)) {
            refused = "is not a regular file";

        } else if (fi.st_nlink != 1) {
            refused = "has other hard links";
        }

        if (refused) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "victorops integration \"%V\": store file "
                          "\"%s/%s\" %s, refused", &vi->name, dir, name,
                          refused);
            goto failed;
        }

        if (owner
            && (fi.st_uid != owner->user || fi.st_gid != owner->group)
            && fchown(fd, owner->user, owner->group) == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "victorops integration \"%V\": fchown(\"%s/%s\") "
                          "failed", &vi->name, dir, name);
            goto failed;
        }

        if ((owner || fi.st_uid == geteuid())
            && (fi.st_mode & 07777) != 0600
            && fchmod(fd, 0600) == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "victorops integration \"%V\": fchmod(\"%s/%s\") "
                          "failed", &vi->name, dir, name);
            goto failed;
        }

        (void) close(fd);
    }

    return NGX_OK;

failed:

    (void) close(fd);

    return NGX_ERROR;
}


/*
 * The master's SQLite work runs with the worker's effective user, group
 * and supplementary groups, as a worker would; restored afterwards.
 */

static ngx_int_t
ngx_http_victorops_store_become(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_core_conf_t *owner,
    ngx_http_victorops_ids_t *saved)
{
    int  n;

    saved->gid = getegid();

    n = getgroups(0, NULL);
    if (n == -1) {
        goto failed;
    }

    saved->groups = ngx_palloc(cycle->pool, (n + 1) * sizeof(gid_t));
    if (saved->groups == NULL) {
        return NGX_ERROR;
    }

    saved->ngroups = getgroups(n, saved->groups);
    if (saved->ngroups == -1) {
        goto failed;
    }

    /* as nginx sets up a worker (the user directive sets the name) */

    if (initgroups(owner->username, owner->group) == -1) {
        goto failed;
    }

    if (setegid(owner->group) == -1 || seteuid(owner->user) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "victorops integration \"%V\": cannot take the "
                      "worker's user and group for store \"%V\"",
                      &vi->name, &vi->store);
        (void) ngx_http_victorops_store_restore(cycle, saved);
        return NGX_ERROR;
    }

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                  "victorops integration \"%V\": cannot take the worker's "
                  "groups for store \"%V\"", &vi->name, &vi->store);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_victorops_store_restore(ngx_cycle_t *cycle,
    ngx_http_victorops_ids_t *saved)
{
    if (seteuid(0) == -1
        || setegid(saved->gid) == -1
        || setgroups(saved->ngroups, saved->groups) == -1)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "victorops: cannot restore the master's user and "
                      "groups after preparing a store");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_store_migrate(sqlite3 *db, ngx_log_t *log, ngx_str_t *path)
{
    int            version, next;
    u_char         pragma[64];
    const char    *sql;
    sqlite3_stmt  *stmt;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL)
        != SQLITE_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, log, 0, "store \"%V\": %s",
                      path, sqlite3_errmsg(db));
        return NGX_ERROR;
    }

    version = (sqlite3_step(stmt) == SQLITE_ROW)
              ? sqlite3_column_int(stmt, 0) : -1;

    sqlite3_finalize(stmt);

    if (version == NGX_HTTP_VICTOROPS_SCHEMA) {
        return NGX_OK;
    }

    if (version > NGX_HTTP_VICTOROPS_SCHEMA || version < 0) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "store \"%V\" has schema version %d, this module "
                      "knows %d", path, version, NGX_HTTP_VICTOROPS_SCHEMA);
        return NGX_ERROR;
    }

    /* one transaction: the database is at the old version or the new */

    if (ngx_http_victorops_store_exec(db, log, path, "BEGIN IMMEDIATE")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_sprintf(pragma, "PRAGMA user_version = %d%Z",
                NGX_HTTP_VICTOROPS_SCHEMA);

    for (next = version + 1; next <= NGX_HTTP_VICTOROPS_SCHEMA; next++) {
        sql = ngx_http_victorops_schema[next - 1];

        if (ngx_http_victorops_store_exec(db, log, path, sql) != NGX_OK) {
            (void) ngx_http_victorops_store_exec(db, log, path, "ROLLBACK");
            return NGX_ERROR;
        }
    }

    if (ngx_http_victorops_store_exec(db, log, path, (char *) pragma)
        != NGX_OK
        || ngx_http_victorops_store_exec(db, log, path, "COMMIT") != NGX_OK)
    {
        (void) ngx_http_victorops_store_exec(db, log, path, "ROLLBACK");
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "store \"%V\": schema migrated from version %d to %d",
                  path, version, NGX_HTTP_VICTOROPS_SCHEMA);

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_store_exec(sqlite3 *db, ngx_log_t *log, ngx_str_t *path,
    const char *sql)
{
    char  *err;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        ngx_log_error(NGX_LOG_EMERG, log, 0, "store \"%V\": %s",
                      path, err ? err : "unknown error");
        sqlite3_free(err);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* in each worker, after the fork */

ngx_int_t
ngx_http_victorops_store_open(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_store_t  *st;

    st = ngx_pcalloc(cycle->pool, sizeof(ngx_http_victorops_store_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    st->log = cycle->log;
    st->path = vi->store;
    st->busy_timeout = vi->store_busy_timeout;
    st->sh = vi->sh;

    if (sqlite3_open_v2((char *) vi->store.data, &st->db,
                        SQLITE_OPEN_READWRITE|SQLITE_OPEN_NOMUTEX
                        |NGX_HTTP_VICTOROPS_NOFOLLOW, NULL)
        != SQLITE_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "victorops integration \"%V\": cannot open store "
                      "\"%V\": %s", &vi->name, &vi->store,
                      st->db ? sqlite3_errmsg(st->db) : "out of memory");
        sqlite3_close(st->db);
        return NGX_ERROR;
    }

    sqlite3_busy_handler(st->db, ngx_http_victorops_store_busy, st);

    /* replaces SQLite's automatic checkpoint inside the commit */

    sqlite3_wal_hook(st->db, ngx_http_victorops_store_wal, st);

    /* checkpoints run from the dispatcher's timer, not inside a commit */

    /* a WAL that grew in a burst is cut back once it starts over */

    if (ngx_http_victorops_store_exec(st->db, cycle->log, &vi->store,
                                      vi->store_sync
                                      ? "PRAGMA synchronous=FULL"
                                      : "PRAGMA synchronous=NORMAL")
        != NGX_OK
        || ngx_http_victorops_store_exec(st->db, cycle->log, &vi->store,
                                         "PRAGMA journal_size_limit=16777216")
           != NGX_OK)
    {
        sqlite3_close(st->db);
        return NGX_ERROR;
    }

#if (NGX_THREADS)

    /*
     * Checkpoints copy the WAL into the database and fsync it: they run in
     * nginx's thread pool, on a connection of their own, off the event loop.
     */

    if (vi->thread_pool) {
        st->checkpoint_task = ngx_thread_task_alloc(cycle->pool, 0);
        if (st->checkpoint_task == NULL) {
            sqlite3_close(st->db);
            return NGX_ERROR;
        }

        if (sqlite3_open_v2((char *) vi->store.data, &st->checkpoint_db,
                            SQLITE_OPEN_READWRITE|SQLITE_OPEN_FULLMUTEX
                            |NGX_HTTP_VICTOROPS_NOFOLLOW, NULL)
            != SQLITE_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "victorops integration \"%V\": cannot open store "
                          "\"%V\" for checkpoints: %s", &vi->name,
                          &vi->store, st->checkpoint_db
                                      ? sqlite3_errmsg(st->checkpoint_db)
                                      : "out of memory");
            sqlite3_close(st->checkpoint_db);
            st->checkpoint_db = NULL;

        } else {
            sqlite3_busy_timeout(st->checkpoint_db, 1000);

            st->thread_pool = vi->thread_pool;
            st->checkpoint_task->ctx = st;
            st->checkpoint_task->handler =
                                     ngx_http_victorops_checkpoint_thread;
            st->checkpoint_task->event.handler =
                                     ngx_http_victorops_checkpoint_done;
            st->checkpoint_task->event.data = st;
            st->checkpoint_task->event.log = cycle->log;
        }
    }

#endif

    vi->st = st;

    return NGX_OK;
}


void
ngx_http_victorops_store_close(ngx_http_victorops_integration_t *vi)
{
    ngx_uint_t                   i;
    ngx_http_victorops_store_t  *st;

    st = vi->st;

    if (st == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_VICTOROPS_SQL_N; i++) {
        if (st->stmt[i]) {
            sqlite3_finalize(st->stmt[i]);
        }
    }

    sqlite3_close(st->db);

#if (NGX_THREADS)

    /* the thread pool's threads are gone by now (it exits first) */

    if (st->checkpoint_db) {
        sqlite3_close(st->checkpoint_db);
    }

#endif

    vi->st = NULL;
}


/*
 * Waiting for another worker's write: a short sleep, counted; the
 * total time a worker waited is in the status endpoint.
 */

static int
ngx_http_victorops_store_busy(void *data, int count)
{
    ngx_http_victorops_store_t  *st = data;

    ngx_msec_t  delay;

    delay = (count < 3) ? 1 : 2;

    if ((ngx_msec_t) count * delay >= st->busy_timeout) {
        return 0;
    }

    st->busy_calls++;

    if (st->sh) {
        (void) ngx_atomic_fetch_add(&st->sh->lock_waits, 1);
        (void) ngx_atomic_fetch_add(&st->sh->lock_wait_ms, delay);
    }

    ngx_msleep(delay);

    return 1;
}


static sqlite3_stmt *
ngx_http_victorops_store_stmt(ngx_http_victorops_store_t *st, ngx_uint_t n)
{
    if (st->stmt[n] == NULL
        && sqlite3_prepare_v3(st->db, ngx_http_victorops_sql[n], -1,
                              SQLITE_PREPARE_PERSISTENT, &st->stmt[n], NULL)
           != SQLITE_OK)
    {
        ngx_http_victorops_store_error(st, "prepare");
        return NULL;
    }

    sqlite3_reset(st->stmt[n]);
    sqlite3_clear_bindings(st->stmt[n]);

    return st->stmt[n];
}


static ngx_int_t
ngx_http_victorops_store_step(ngx_http_victorops_store_t *st,
    sqlite3_stmt *stmt)
{
    int  rc;

    rc = sqlite3_step(stmt);

    if (rc == SQLITE_DONE) {
        sqlite3_reset(stmt);
        return NGX_OK;
    }

    if (rc == SQLITE_ROW) {
        return NGX_AGAIN;
    }

    ngx_http_victorops_store_error(st, sqlite3_sql(stmt));
    sqlite3_reset(stmt);

    return NGX_ERROR;
}


/* a change: NGX_OK made, NGX_DECLINED no row matched, NGX_ERROR */

static ngx_int_t
ngx_http_victorops_store_changed(ngx_http_victorops_store_t *st,
    sqlite3_stmt *stmt)
{
    if (ngx_http_victorops_store_step(st, stmt) != NGX_OK) {
        return NGX_ERROR;
    }

    return sqlite3_changes(st->db) ? NGX_OK : NGX_DECLINED;
}


/* a query for a row: NGX_OK found, NGX_DECLINED none, NGX_ERROR */

static ngx_int_t
ngx_http_victorops_store_exists(ngx_http_victorops_store_t *st,
    sqlite3_stmt *stmt)
{
    ngx_int_t  rc;

    rc = ngx_http_victorops_store_step(st, stmt);

    if (rc == NGX_AGAIN) {
        sqlite3_reset(stmt);
        return NGX_OK;
    }

    return (rc == NGX_OK) ? NGX_DECLINED : NGX_ERROR;
}


static void
ngx_http_victorops_store_error(ngx_http_victorops_store_t *st,
    const char *what)
{
    ngx_log_error(NGX_LOG_ALERT, st->log, 0,
                  "victorops store \"%V\": %s: %s",
                  &st->path, sqlite3_errmsg(st->db), what);
}


static void
ngx_http_victorops_bind(sqlite3_stmt *stmt, int n, ngx_str_t *s)
{
    sqlite3_bind_text(stmt, n, s->data ? (char *) s->data : "",
                      (int) s->len, SQLITE_STATIC);
}


ngx_int_t
ngx_http_victorops_store_begin(ngx_http_victorops_integration_t *vi)
{
    if (sqlite3_exec(vi->st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)
        != SQLITE_OK)
    {
        ngx_http_victorops_store_error(vi->st, "BEGIN IMMEDIATE");
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_store_commit(ngx_http_victorops_integration_t *vi)
{
    if (sqlite3_exec(vi->st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        ngx_http_victorops_store_error(vi->st, "COMMIT");
        (void) sqlite3_exec(vi->st->db, "ROLLBACK", NULL, NULL, NULL);
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_victorops_store_rollback(ngx_http_victorops_integration_t *vi)
{
    (void) sqlite3_exec(vi->st->db, "ROLLBACK", NULL, NULL, NULL);
}


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


static ngx_int_t
ngx_http_victorops_store_text(ngx_pool_t *pool, sqlite3_stmt *stmt, int col,
    ngx_str_t *out)
{
    size_t       len;
    const void  *data;

    data = sqlite3_column_blob(stmt, col);
    len = sqlite3_column_bytes(stmt, col);

    out->len = len;
    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    if (len) {
        ngx_memcpy(out->data, data, len);
    }

    out->data[len] = '\0';

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_store_done(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st, NGX_HTTP_VICTOROPS_SQL_DONE);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, job->seq);
    sqlite3_bind_int64(stmt, 2, (sqlite3_int64) ngx_pid);

    return ngx_http_victorops_store_changed(vi->st, stmt);
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


/* links: a VictorOps incident and the Rootly incident or alert for it */

ngx_int_t
ngx_http_victorops_store_link_get(ngx_http_victorops_integration_t *vi,
    ngx_pool_t *pool, ngx_str_t *key, ngx_str_t *incident, ngx_str_t *entity,
    ngx_str_t *rootly_incident, ngx_str_t *rootly_alert)
{
    ngx_int_t      rc;
    sqlite3_stmt  *stmt;

    ngx_str_null(rootly_incident);
    ngx_str_null(rootly_alert);

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_LINK_GET);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    ngx_http_victorops_bind(stmt, 1, key);
    ngx_http_victorops_bind(stmt, 2, incident);
    ngx_http_victorops_bind(stmt, 3, entity);

    rc = ngx_http_victorops_store_step(vi->st, stmt);

    if (rc != NGX_AGAIN) {
        return (rc == NGX_OK) ? NGX_DECLINED : NGX_ERROR;
    }

    if (ngx_http_victorops_store_text(pool, stmt, 0, rootly_incident)
        != NGX_OK
        || ngx_http_victorops_store_text(pool, stmt, 1, rootly_alert)
           != NGX_OK)
    {
        sqlite3_reset(stmt);
        return NGX_ERROR;
    }

    sqlite3_reset(stmt);

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_store_link_set(ngx_http_victorops_integration_t *vi,
    ngx_str_t *key, ngx_str_t *incident, ngx_str_t *entity,
    ngx_str_t *rootly_incident, ngx_str_t *rootly_alert, int64_t now)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_LINK_SET);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    ngx_http_victorops_bind(stmt, 1, key);
    ngx_http_victorops_bind(stmt, 2, incident);
    ngx_http_victorops_bind(stmt, 3, entity);
    ngx_http_victorops_bind(stmt, 4, rootly_incident);
    ngx_http_victorops_bind(stmt, 5, rootly_alert);
    sqlite3_bind_int64(stmt, 6, now);

    return ngx_http_victorops_store_step(vi->st, stmt);
}


ngx_int_t
ngx_http_victorops_store_link_delete(ngx_http_victorops_integration_t *vi,
    ngx_str_t *key, ngx_str_t *incident, ngx_str_t *entity)
{
    ngx_int_t      rc;
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_LINK_DEL);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    ngx_http_victorops_bind(stmt, 1, key);
    ngx_http_victorops_bind(stmt, 2, incident);
    ngx_http_victorops_bind(stmt, 3, entity);

    rc = ngx_http_victorops_store_step(vi->st, stmt);
    if (rc != NGX_OK) {
        return rc;
    }

    return sqlite3_changes(vi->st->db) ? NGX_OK : NGX_DECLINED;
}


/* NGX_OK: an alert about this incident is still queued */

ngx_int_t
ngx_http_victorops_store_alert_pending(ngx_http_victorops_integration_t *vi,
    ngx_str_t *key)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_PENDING);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    ngx_http_victorops_bind(stmt, 1, key);

    return ngx_http_victorops_store_exists(vi->st, stmt);
}


/*
 * Records a delivery.  NGX_OK: new (or last seen before "since");
 * NGX_DECLINED: a duplicate.
 */

ngx_int_t
ngx_http_victorops_store_dedup_claim(ngx_http_victorops_integration_t *vi,
    u_char *hash, size_t len, int64_t now, int64_t since)
{
    ngx_int_t      rc;
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_DEDUP);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_blob(stmt, 1, hash, (int) len, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, now);
    sqlite3_bind_int64(stmt, 3, since);

    rc = ngx_http_victorops_store_step(vi->st, stmt);
    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    return sqlite3_changes(vi->st->db) ? NGX_OK : NGX_DECLINED;
}


/* NGX_OK: a Rootly event id not seen before; NGX_DECLINED: seen */

ngx_int_t
ngx_http_victorops_store_event_seen(ngx_http_victorops_integration_t *vi,
    ngx_str_t *id, int64_t now)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_EVENT);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    ngx_http_victorops_bind(stmt, 1, id);
    sqlite3_bind_int64(stmt, 2, now);

    if (ngx_http_victorops_store_step(vi->st, stmt) != NGX_OK) {
        return NGX_ERROR;
    }

    return sqlite3_changes(vi->st->db) ? NGX_OK : NGX_DECLINED;
}


/*
 * Forgets deliveries seen before "deliveries" and Rootly event ids seen
 * before "events".
 */

ngx_int_t
ngx_http_victorops_store_dedup_expire(ngx_http_victorops_integration_t *vi,
    int64_t deliveries, int64_t events)
{
    ngx_uint_t     i;
    sqlite3_stmt  *stmt;

    static ngx_uint_t  gc[] = {
        NGX_HTTP_VICTOROPS_SQL_DEDUP_GC,
        NGX_HTTP_VICTOROPS_SQL_EVENT_GC
    };

    for (i = 0; i < sizeof(gc) / sizeof(gc[0]); i++) {
        stmt = ngx_http_victorops_store_stmt(vi->st, gc[i]);
        if (stmt == NULL) {
            return NGX_ERROR;
        }

        sqlite3_bind_int64(stmt, 1, i ? events : deliveries);

        if (ngx_http_victorops_store_step(vi->st, stmt) != NGX_OK) {
            return NGX_ERROR;
        }
    }

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


/* NGX_OK: an escalation-policy signature handled before; NGX_DECLINED */

ngx_int_t
ngx_http_victorops_store_signature_seen(ngx_http_victorops_integration_t *vi,
    u_char *sig, size_t len)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_SIG_SEEN);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_blob(stmt, 1, sig, (int) len, SQLITE_STATIC);

    return ngx_http_victorops_store_exists(vi->st, stmt);
}


/*
 * Records a signature (in the batch's transaction, or on its own).
 * NGX_OK: new; NGX_DECLINED: seen before (a replay).
 */

ngx_int_t
ngx_http_victorops_store_signature_claim(
    ngx_http_victorops_integration_t *vi, u_char *sig, size_t len,
    int64_t now)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_SIG_CLAIM);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_blob(stmt, 1, sig, (int) len, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, now);

    return ngx_http_victorops_store_changed(vi->st, stmt);
}


/* forgets signatures seen before "before" */

ngx_int_t
ngx_http_victorops_store_signature_expire(
    ngx_http_victorops_integration_t *vi, int64_t before)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_SIG_GC);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, before);

    return ngx_http_victorops_store_step(vi->st, stmt);
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


static int
ngx_http_victorops_store_wal(void *data, sqlite3 *db, const char *name,
    int frames)
{
    ngx_http_victorops_store_t  *st = data;

    st->wal_frames = frames;

    return SQLITE_OK;
}


/*
 * Copies the WAL into the database as far as readers allow, without
 * waiting, once it holds "frames" pages (SQLite's default is 1000).
 */

void
ngx_http_victorops_store_checkpoint(ngx_http_victorops_integration_t *vi,
    int frames)
{
    int                          rc, log, done;
    ngx_http_victorops_store_t  *st;

    st = vi->st;

    if (st->wal_frames < frames) {
        return;
    }

#if (NGX_THREADS)

    /*
     * Under a sustained burst the thread may fall behind, and the WAL
     * only starts over once a checkpoint has caught up with it: past
     * 16 times the threshold the worker helps, between commits.
     */

    if (st->checkpoint_db && st->wal_frames < 16 * frames) {
        if (st->checkpointing) {
            return;
        }

        if (ngx_thread_task_post(st->thread_pool, st->checkpoint_task)
            == NGX_OK)
        {
            st->checkpointing = 1;
            st->wal_frames = 0;
            return;
        }
    }

#endif

    st->wal_frames = 0;

    rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                   &log, &done);

    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        ngx_http_victorops_store_error(st, "checkpoint");
    }
}


#if (NGX_THREADS)

static void
ngx_http_victorops_checkpoint_thread(void *data, ngx_log_t *log)
{
    ngx_http_victorops_store_t  *st = data;

    int  rc, frames, done;

    rc = sqlite3_wal_checkpoint_v2(st->checkpoint_db, NULL,
                                   SQLITE_CHECKPOINT_PASSIVE, &frames, &done);

    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "victorops store \"%V\": checkpoint: %s",
                      &st->path, sqlite3_errmsg(st->checkpoint_db));
    }
}


static void
ngx_http_victorops_checkpoint_done(ngx_event_t *ev)
{
    ngx_http_victorops_store_t  *st = ev->data;

    st->checkpointing = 0;
}

#endif


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


/* dead letters as a JSON array, for the admin API */

ngx_int_t
ngx_http_victorops_store_dead_list(ngx_http_victorops_integration_t *vi,
    yajl_gen g, ngx_uint_t limit)
{
    u_char         buf[NGX_HTTP_VICTOROPS_ERROR_MAX];
    ngx_int_t      rc;
    ngx_str_t      s;
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

#define ngx_http_victorops_column_str(col)                                    \
        s.data = (u_char *) sqlite3_column_text(stmt, col);                   \
        s.len = sqlite3_column_bytes(stmt, col);

        if (yajl_gen_map_open(g) != yajl_gen_status_ok) {
            goto failed;
        }

        ngx_http_victorops_column_str(0);
        if (ngx_http_victorops_gen_str(g, "id", &s) != NGX_OK) {
            goto failed;
        }

        if (ngx_http_victorops_gen_cstr(g, "class") != NGX_OK
            || ngx_http_victorops_gen_cstr(g,
                   ngx_http_victorops_class_name(
                       (ngx_uint_t) sqlite3_column_int(stmt, 1) & 3))
               != NGX_OK)
        {
            goto failed;
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
            goto failed;
        }

        /* as recorded since, also for rows an older version wrote */

        ngx_http_victorops_column_str(7);
        s.len = ngx_http_victorops_utf8_text(buf, sizeof(buf), s.data, s.len)
                - buf;
        s.data = buf;

        if (ngx_http_victorops_gen_str(g, "error", &s) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok)
        {
            goto failed;
        }

#undef ngx_http_victorops_column_str
    }

    return (yajl_gen_array_close(g) == yajl_gen_status_ok) ? NGX_OK
                                                          : NGX_ERROR;

failed:

    sqlite3_reset(stmt);
    return NGX_ERROR;
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


/* escalations: the VictorOps incident paged for a Rootly incident */

static ngx_int_t
ngx_http_victorops_store_link_row(ngx_pool_t *pool, sqlite3_stmt *stmt,
    ngx_http_victorops_link_t *link)
{
    ngx_memzero(link, sizeof(ngx_http_victorops_link_t));

    if (ngx_http_victorops_store_text(pool, stmt, 0, &link->key) != NGX_OK
        || ngx_http_victorops_store_text(pool, stmt, 1, &link->incident)
           != NGX_OK
        || ngx_http_victorops_store_text(pool, stmt, 2, &link->entity)
           != NGX_OK
        || ngx_http_victorops_store_text(pool, stmt, 3, &link->targets)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    link->vo_state = sqlite3_column_int(stmt, 4);
    link->rootly_state = sqlite3_column_int(stmt, 5);

    if (sqlite3_column_count(stmt) > 6
        && ngx_http_victorops_store_text(pool, stmt, 6,
                                         &link->rootly_incident)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_store_escalation_get(ngx_http_victorops_integration_t *vi,
    ngx_pool_t *pool, ngx_str_t *rootly_incident,
    ngx_http_victorops_link_t *link)
{
    ngx_int_t      rc;
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_ESC_GET);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    ngx_http_victorops_bind(stmt, 1, rootly_incident);

    rc = ngx_http_victorops_store_step(vi->st, stmt);

    if (rc != NGX_AGAIN) {
        return (rc == NGX_OK) ? NGX_DECLINED : NGX_ERROR;
    }

    rc = ngx_http_victorops_store_link_row(pool, stmt, link);
    link->rootly_incident = *rootly_incident;

    sqlite3_reset(stmt);

    return rc;
}


/* the links of a Rootly incident whose VictorOps incident is open */

ngx_int_t
ngx_http_victorops_store_links_open(ngx_http_victorops_integration_t *vi,
    ngx_pool_t *pool, ngx_str_t *rootly_incident, ngx_array_t *links)
{
    ngx_int_t                   rc;
    sqlite3_stmt               *stmt;
    ngx_http_victorops_link_t  *link;

    stmt = ngx_http_victorops_store_stmt(vi->st, NGX_HTTP_VICTOROPS_SQL_OPEN);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    ngx_http_victorops_bind(stmt, 1, rootly_incident);

    for ( ;; ) {
        rc = ngx_http_victorops_store_step(vi->st, stmt);

        if (rc != NGX_AGAIN) {
            return rc;
        }

        link = ngx_array_push(links);
        if (link == NULL
            || ngx_http_victorops_store_link_row(pool, stmt, link) != NGX_OK)
        {
            sqlite3_reset(stmt);
            return NGX_ERROR;
        }

        link->rootly_incident = *rootly_incident;
    }
}


/* links open on either side, the least recently reconciled first */

ngx_int_t
ngx_http_victorops_store_sync_list(ngx_http_victorops_integration_t *vi,
    ngx_pool_t *pool, ngx_uint_t n, ngx_array_t *links)
{
    ngx_int_t                   rc;
    sqlite3_stmt               *stmt;
    ngx_http_victorops_link_t  *link;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_SYNC_LIST);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, (sqlite3_int64) n);

    for ( ;; ) {
        rc = ngx_http_victorops_store_step(vi->st, stmt);

        if (rc != NGX_AGAIN) {
            return rc;
        }

        link = ngx_array_push(links);
        if (link == NULL
            || ngx_http_victorops_store_link_row(pool, stmt, link) != NGX_OK)
        {
            sqlite3_reset(stmt);
            return NGX_ERROR;
        }
    }
}


/* a change to a link, as an outcome or a repair makes it */

ngx_int_t
ngx_http_victorops_store_link_write(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_link_t *link, int64_t now)
{
    sqlite3_stmt  *stmt;

    switch (link->op) {

    case NGX_HTTP_VICTOROPS_LINK_ESCALATION:
        stmt = ngx_http_victorops_store_stmt(vi->st,
                                             NGX_HTTP_VICTOROPS_SQL_ESC_SET);
        if (stmt == NULL) {
            return NGX_ERROR;
        }

        ngx_http_victorops_bind(stmt, 1, &link->key);
        ngx_http_victorops_bind(stmt, 2, &link->incident);
        ngx_http_victorops_bind(stmt, 3, &link->entity);
        ngx_http_victorops_bind(stmt, 4, &link->rootly_incident);
        sqlite3_bind_int64(stmt, 5, now);
        ngx_http_victorops_bind(stmt, 6, &link->targets);
        break;

    case NGX_HTTP_VICTOROPS_LINK_TARGETS:
        stmt = ngx_http_victorops_store_stmt(vi->st,
                                             NGX_HTTP_VICTOROPS_SQL_TARGETS);
        if (stmt == NULL) {
            return NGX_ERROR;
        }

        ngx_http_victorops_bind(stmt, 1, &link->key);
        ngx_http_victorops_bind(stmt, 2, &link->targets);
        sqlite3_bind_int64(stmt, 3, now);
        break;

    case NGX_HTTP_VICTOROPS_LINK_VO_STATE:
        stmt = ngx_http_victorops_store_stmt(vi->st,
                                             NGX_HTTP_VICTOROPS_SQL_VO_STATE);
        if (stmt == NULL) {
            return NGX_ERROR;
        }

        ngx_http_victorops_bind(stmt, 1, &link->key);
        ngx_http_victorops_bind(stmt, 2, &link->incident);
        ngx_http_victorops_bind(stmt, 3, &link->entity);
        sqlite3_bind_int(stmt, 4, (int) link->vo_state);
        sqlite3_bind_int64(stmt, 5, now);
        break;

    case NGX_HTTP_VICTOROPS_LINK_ROOTLY_STATE:
        stmt = ngx_http_victorops_store_stmt(vi->st,
                                        NGX_HTTP_VICTOROPS_SQL_ROOTLY_STATE);
        if (stmt == NULL) {
            return NGX_ERROR;
        }

        ngx_http_victorops_bind(stmt, 1, &link->rootly_incident);
        sqlite3_bind_int(stmt, 2, (int) link->rootly_state);
        break;

    default: /* NGX_HTTP_VICTOROPS_LINK_SYNCED */
        stmt = ngx_http_victorops_store_stmt(vi->st,
                                             NGX_HTTP_VICTOROPS_SQL_SYNC_MARK);
        if (stmt == NULL) {
            return NGX_ERROR;
        }

        ngx_http_victorops_bind(stmt, 1, &link->key);
        sqlite3_bind_int64(stmt, 2, now);
        break;
    }

    return ngx_http_victorops_store_step(vi->st, stmt);
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


/* NGX_OK: VictorOps incident "number" is linked to a Rootly incident */

ngx_int_t
ngx_http_victorops_store_number_linked(ngx_http_victorops_integration_t *vi,
    ngx_str_t *number)
{
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                        NGX_HTTP_VICTOROPS_SQL_NUMBER_LINKED);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    ngx_http_victorops_bind(stmt, 1, number);

    return ngx_http_victorops_store_exists(vi->st, stmt);
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
