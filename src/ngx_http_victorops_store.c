
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The embedded store: one SQLite database (WAL) per integration holding
 * the job queue, incident links, duplicate-suppression records and dead
 * letters.  The master creates and migrates it before forking; each
 * worker opens its own handle after the fork.  Write transactions are
 * short, and the time spent waiting for the database lock is measured.
 *
 * This file: the master's preparation of the folder and files (by
 * descriptor), the schema and its migrations, a worker's handle and its
 * pragmas, transactions, statements run for the other store files, WAL
 * checkpoints in the thread pool, closing.  The statements themselves
 * are in ngx_http_victorops_store_jobs.c and _store_links.c; what is
 * SQLite's alone in ngx_http_victorops_store_sqlite.h.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_store_sqlite.h"


#define NGX_HTTP_VICTOROPS_SCHEMA  8


/* a store opened by name is never a symbolic link (SQLite 3.31) */

#ifdef SQLITE_OPEN_NOFOLLOW
#define NGX_HTTP_VICTOROPS_NOFOLLOW  SQLITE_OPEN_NOFOLLOW
#else
#define NGX_HTTP_VICTOROPS_NOFOLLOW  0
#endif


typedef struct {
    gid_t                        *groups;
    int                           ngroups;
    gid_t                         gid;
} ngx_http_victorops_ids_t;


static u_char *ngx_http_victorops_store_dir(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, u_char **base);
static ngx_int_t ngx_http_victorops_store_database(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_core_conf_t *owner);
static ngx_fd_t ngx_http_victorops_store_folder(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, u_char *dir,
    ngx_core_conf_t *owner);
static ngx_int_t ngx_http_victorops_store_files(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_fd_t dirfd, u_char *dir,
    u_char *base, ngx_core_conf_t *owner);
static ngx_int_t ngx_http_victorops_store_file(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_fd_t dirfd, u_char *dir,
    u_char *name, ngx_uint_t create, ngx_core_conf_t *owner);
static ngx_int_t ngx_http_victorops_store_own(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_fd_t fd, ngx_file_info_t *fi,
    ngx_core_conf_t *owner, ngx_uint_t mode, u_char *dir, u_char *name);
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
static ngx_http_victorops_store_t *ngx_http_victorops_store_connect(
    ngx_cycle_t *cycle, ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_store_writer(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_store_t *st);
static ngx_http_victorops_store_t *ngx_http_victorops_store_connect_task(
    ngx_cycle_t *cycle, ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_integration_t **tvi);
#if (NGX_THREADS)
static ngx_int_t ngx_http_victorops_store_checkpointer(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_store_t *st);
#endif
static void ngx_http_victorops_store_disconnect(
    ngx_http_victorops_store_t *st);


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
    " seen_at INTEGER NOT NULL) WITHOUT ROWID;",

    /*
     * 7: claims read a ready set: the head of each key (its oldest
     * unfinished job, or the one in flight) has ready = 1, every other
     * job 0; only heads are claimable, so a claim costs the same however
     * many jobs wait behind blocked heads.  Insert sets ready (a row
     * inserted by hand without it is a head); a head that is done hands
     * ready to the key's next unfinished job in the same transaction
     * (store_done()), one that goes dead in the same statement (trigger
     * jobs_died); a replayed dead letter takes back its place unless
     * the head is in flight (jobs_replayed).  No trigger on insert or
     * delete, the hot paths: on SQLite 3.40 a trigger that updates jobs
     * makes each one cost about twice as much.  jobs_due and
     * jobs_state_seq go; jobs_dead holds the state, to count dead
     * letters from the index.
     */

    "ALTER TABLE jobs ADD COLUMN ready INTEGER NOT NULL DEFAULT 1;"
    "UPDATE jobs SET ready = 0 WHERE seq NOT IN (SELECT coalesce("
    " (SELECT min(l.seq) FROM jobs l WHERE l.key = k.key AND l.state = 1),"
    " min(k.seq)) FROM jobs k WHERE k.state < 2 GROUP BY k.key);"
    "DROP INDEX jobs_due;"
    "DROP INDEX jobs_state_seq;"
    "DROP INDEX jobs_dead;"
    "CREATE INDEX jobs_dead ON jobs (state, dead_at) WHERE state = 2;"
    "CREATE INDEX jobs_ready ON jobs (next_at, seq)"
    " WHERE state = 0 AND ready = 1;"
    "CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 1;"
    "CREATE TRIGGER jobs_died AFTER UPDATE OF state ON jobs"
    " WHEN new.state = 2 AND old.state < 2 AND old.ready = 1 BEGIN"
    " UPDATE jobs SET ready = 1 WHERE seq = (SELECT seq FROM jobs"
    "  WHERE key = new.key AND state < 2 ORDER BY seq LIMIT 1);"
    " END;"
    "CREATE TRIGGER jobs_replayed AFTER UPDATE OF state ON jobs"
    " WHEN old.state = 2 AND new.state = 0 BEGIN"
    " UPDATE jobs SET ready = 0 WHERE key = new.key AND ready = 1"
    "  AND state = 0 AND seq > new.seq;"
    " UPDATE jobs SET ready = 1 WHERE seq = new.seq"
    "  AND NOT EXISTS (SELECT 1 FROM jobs WHERE key = new.key"
    "   AND ready = 1 AND state < 2);"
    " END;",

    /*
     * 8: job ids lose their UNIQUE index.  Ids are random (64 bits), so
     * each insert wrote into a random page of that index, a page written
     * out again by every commit: about as many bytes as the job itself.
     * Only a dead letter is looked up by id (replay), through jobs_dead.
     * SQLite cannot drop a column's constraint: the table is rebuilt,
     * its sequence kept (seq never goes back), indexes and triggers made
     * again.
     */

    "CREATE TABLE jobs_v8 ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL,"
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
    " dead_at INTEGER NOT NULL DEFAULT 0,"
    " ready INTEGER NOT NULL DEFAULT 1);"
    "INSERT INTO jobs_v8 (seq, id, kind, class, key, incident, entity, body,"
    " state, attempts, created_at, next_at, lease_until, lease_pid,"
    " last_status, last_error, dead_at, ready)"
    " SELECT seq, id, kind, class, key, incident, entity, body, state,"
    " attempts, created_at, next_at, lease_until, lease_pid, last_status,"
    " last_error, dead_at, ready FROM jobs;"
    "DELETE FROM sqlite_sequence WHERE name = 'jobs_v8';"
    "INSERT INTO sqlite_sequence (name, seq)"
    " SELECT 'jobs_v8', seq FROM sqlite_sequence WHERE name = 'jobs';"
    "DROP TABLE jobs;"
    "ALTER TABLE jobs_v8 RENAME TO jobs;"
    "CREATE INDEX jobs_key ON jobs (key, seq);"
    "CREATE INDEX jobs_dead ON jobs (state, dead_at) WHERE state = 2;"
    "CREATE INDEX jobs_ready ON jobs (next_at, seq)"
    " WHERE state = 0 AND ready = 1;"
    "CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 1;"
    "CREATE TRIGGER jobs_died AFTER UPDATE OF state ON jobs"
    " WHEN new.state = 2 AND old.state < 2 AND old.ready = 1 BEGIN"
    " UPDATE jobs SET ready = 1 WHERE seq = (SELECT seq FROM jobs"
    "  WHERE key = new.key AND state < 2 ORDER BY seq LIMIT 1);"
    " END;"
    "CREATE TRIGGER jobs_replayed AFTER UPDATE OF state ON jobs"
    " WHEN old.state = 2 AND new.state = 0 BEGIN"
    " UPDATE jobs SET ready = 0 WHERE key = new.key AND ready = 1"
    "  AND state = 0 AND seq > new.seq;"
    " UPDATE jobs SET ready = 1 WHERE seq = new.seq"
    "  AND NOT EXISTS (SELECT 1 FROM jobs WHERE key = new.key"
    "   AND ready = 1 AND state < 2);"
    " END;"
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
    u_char           *dir, *base;
    ngx_fd_t          fd;
    ngx_int_t         rc;
    ngx_core_conf_t  *ccf, *owner;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    /* a master running as root gives the store to the worker user */

    owner = (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT)
            ? ccf : NULL;

    dir = ngx_http_victorops_store_dir(cycle, vi, &base);
    if (dir == NULL) {
        return NGX_ERROR;
    }

    fd = ngx_http_victorops_store_folder(cycle, vi, dir, owner);
    if (fd == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

    rc = ngx_http_victorops_store_files(cycle, vi, fd, dir, base, owner);

    if (close(fd) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "close(\"%s\") failed", dir);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_victorops_store_database(cycle, vi, owner);
}


/*
 * The store's folder, created if missing: a copy of the store's path cut
 * at its last "/", and in "base" the database's file name.
 */

static u_char *
ngx_http_victorops_store_dir(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, u_char **base)
{
    u_char     *p, *dir;
    ngx_err_t   err;

    dir = ngx_pnalloc(cycle->pool, vi->store.len + 1);
    if (dir == NULL) {
        return NULL;
    }

    ngx_cpystrn(dir, vi->store.data, vi->store.len + 1);

    err = ngx_create_full_path(dir, 0755);
    if (err) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                      "victorops integration \"%V\": cannot create the "
                      "folder of store \"%V\"", &vi->name, &vi->store);
        return NULL;
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
        return NULL;
    }

    *p++ = '\0';
    *base = p;

    return dir;
}


/*
 * SQLite's part, with the worker's user and groups when the master runs
 * as root: WAL mode, the page size, the schema brought up to date.
 */

static ngx_int_t
ngx_http_victorops_store_database(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_core_conf_t *owner)
{
    sqlite3                   *db;
    ngx_int_t                  rc;
    ngx_uint_t                 switched;
    ngx_http_victorops_ids_t   ids;

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

    if (ngx_http_victorops_store_own(cycle, vi, fd, &fi, owner, 0700, dir,
                                     NULL)
        != NGX_OK)
    {
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


/* NAME.db, -wal, -shm and -journal in the folder "dirfd" */

static ngx_int_t
ngx_http_victorops_store_files(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_fd_t dirfd, u_char *dir,
    u_char *base, ngx_core_conf_t *owner)
{
    ngx_uint_t  i;
    u_char      name[NGX_MAX_PATH];

    static const char  *suffix[] = { "", "-wal", "-shm", "-journal" };

    for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {

        ngx_sprintf(name, "%s%s%Z", base, suffix[i]);

        if (ngx_http_victorops_store_file(cycle, vi, dirfd, dir, name,
                                          i == 0, owner)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A store file: never followed, a regular file of one link, mode 0600,
 * the worker user's.  The database ("create") is created here if missing
 * (SQLite gives its -wal and -shm the database's mode); the others may
 * be missing.
 */

static ngx_int_t
ngx_http_victorops_store_file(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_fd_t dirfd, u_char *dir,
    u_char *name, ngx_uint_t create, ngx_core_conf_t *owner)
{
    ngx_fd_t          fd;
    ngx_err_t         err;
    ngx_int_t         rc;
    const char       *refused;
    ngx_file_info_t   fi;

    fd = openat(dirfd, (char *) name,
                O_RDONLY|O_NOFOLLOW|O_NOCTTY|O_CLOEXEC|O_NONBLOCK);

    if (fd == NGX_INVALID_FILE && ngx_errno == NGX_ENOENT) {
        if (!create) {
            return NGX_OK;
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

    rc = NGX_ERROR;
    refused = NULL;

    if (ngx_fd_info(fd, &fi) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      ngx_fd_info_n " \"%s/%s\" failed", dir, name);
        goto done;
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
        goto done;
    }

    rc = ngx_http_victorops_store_own(cycle, vi, fd, &fi, owner, 0600, dir,
                                      name);

done:

    (void) close(fd);

    return rc;
}


/*
 * A store folder or file ("dir", or "name" in it) as the worker user may
 * use it: its owner when the master runs as root, and "mode" when the
 * file is the worker's or the master's.
 */

static ngx_int_t
ngx_http_victorops_store_own(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_fd_t fd, ngx_file_info_t *fi,
    ngx_core_conf_t *owner, ngx_uint_t mode, u_char *dir, u_char *name)
{
    const char  *slash;

    slash = name ? "/" : "";

    if (name == NULL) {
        name = (u_char *) "";
    }

    if (owner
        && (fi->st_uid != owner->user || fi->st_gid != owner->group)
        && fchown(fd, owner->user, owner->group) == -1)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "victorops integration \"%V\": fchown(\"%s%s%s\") "
                      "failed", &vi->name, dir, slash, name);
        return NGX_ERROR;
    }

    if ((owner || fi->st_uid == geteuid())
        && (ngx_uint_t) (fi->st_mode & 07777) != mode
        && fchmod(fd, (mode_t) mode) == -1)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "victorops integration \"%V\": fchmod(\"%s%s%s\") "
                      "failed", &vi->name, dir, slash, name);
        return NGX_ERROR;
    }

    return NGX_OK;
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


/*
 * In each worker, after the fork: the event loop's connection (reads,
 * and the rarer writes of the other files) and the writer's, on which
 * the store's ops run off the event loop (store_thread.c).
 */

ngx_int_t
ngx_http_victorops_store_open(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_store_t  *st;

    st = ngx_http_victorops_store_connect(cycle, vi);
    if (st == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_victorops_store_writer(cycle, vi, st) != NGX_OK) {
        ngx_http_victorops_store_disconnect(st);
        return NGX_ERROR;
    }

    vi->st = st;

    return NGX_OK;
}


static ngx_http_victorops_store_t *
ngx_http_victorops_store_connect(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_store_t  *st;

    st = ngx_pcalloc(cycle->pool, sizeof(ngx_http_victorops_store_t));
    if (st == NULL) {
        return NULL;
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
        return NULL;
    }

    sqlite3_busy_handler(st->db, ngx_http_victorops_store_busy, st);

    /* replaces SQLite's automatic checkpoint inside the commit */

    sqlite3_wal_hook(st->db, ngx_http_victorops_store_wal, st);

    /* checkpoints run as ops of the writer's, not inside a commit */

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
        return NULL;
    }

    return st;
}


/*
 * A connection for tasks (the writer's, the checkpointer's), and a copy
 * of the integration whose store it is: what the task's ops are given.
 */

static ngx_http_victorops_store_t *
ngx_http_victorops_store_connect_task(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_integration_t **tvi)
{
    ngx_http_victorops_store_t        *t;
    ngx_http_victorops_integration_t  *copy;

    t = ngx_http_victorops_store_connect(cycle, vi);
    if (t == NULL) {
        return NULL;
    }

    t->is_writer = 1;

    copy = ngx_palloc(cycle->pool, sizeof(ngx_http_victorops_integration_t));
    if (copy == NULL) {
        ngx_http_victorops_store_disconnect(t);
        return NULL;
    }

    *copy = *vi;
    copy->st = t;

    *tvi = copy;

    return t;
}


/*
 * The writer: a connection of its own, used by one task at a time (in
 * a thread of nginx's pool), and the integration as its ops see it.
 */

static ngx_int_t
ngx_http_victorops_store_writer(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_store_t *st)
{
    ngx_http_victorops_store_t        *w;
    ngx_http_victorops_integration_t  *wvi;

    w = ngx_http_victorops_store_connect_task(cycle, vi, &wvi);
    if (w == NULL) {
        return NGX_ERROR;
    }

    st->writer = w;
    st->wvi = wvi;

#if (NGX_THREADS)

    if (ngx_http_victorops_store_checkpointer(cycle, vi, st) != NGX_OK) {
        ngx_http_victorops_store_disconnect(w);
        st->writer = NULL;
        return NGX_ERROR;
    }

#endif

    if (ngx_http_victorops_store_thread_init(cycle, vi, st) != NGX_OK) {
        ngx_http_victorops_store_disconnect(w);
        st->writer = NULL;
        return NGX_ERROR;
    }

    return NGX_OK;
}


#if (NGX_THREADS)

/* the checkpointer: a connection of its own, for checkpoints only */

static ngx_int_t
ngx_http_victorops_store_checkpointer(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_store_t *st)
{
    ngx_http_victorops_store_t        *c;
    ngx_http_victorops_integration_t  *cvi;

    c = ngx_http_victorops_store_connect_task(cycle, vi, &cvi);
    if (c == NULL) {
        return NGX_ERROR;
    }

    st->checkpointer = c;
    st->cvi = cvi;

    return NGX_OK;
}

#endif


/*
 * After store_finish(): the ops are done, the thread pool gone (it
 * exits first), nothing uses either connection any more.
 */

void
ngx_http_victorops_store_close(ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_store_t  *st;

    st = vi->st;

    if (st == NULL) {
        return;
    }

    if (st->writer) {
        ngx_http_victorops_store_disconnect(st->writer);
    }

    if (st->checkpointer) {
        ngx_http_victorops_store_disconnect(st->checkpointer);
    }

    ngx_http_victorops_store_disconnect(st);

    vi->st = NULL;
}


static void
ngx_http_victorops_store_disconnect(ngx_http_victorops_store_t *st)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_VICTOROPS_SQL_N; i++) {
        if (st->stmt[i]) {
            sqlite3_finalize(st->stmt[i]);
        }
    }

    sqlite3_close(st->db);
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


/* statement "n", ready to bind: prepared once, reset since its last use */

sqlite3_stmt *
ngx_http_victorops_store_stmt(ngx_http_victorops_store_t *st, ngx_uint_t n)
{
    const char  *sql;

    if (st == NULL) {

        /* a worker without its store: every statement fails (503) */

        return NULL;
    }

#if (NGX_DEBUG)

    if (st->is_writer && !st->in_task) {
        ngx_log_error(NGX_LOG_ALERT, st->log, 0,
                      "victorops store \"%V\": the writer's connection "
                      "used outside a task", &st->path);
    }

#endif

    if (st->stmt[n] == NULL) {
        sql = (n < NGX_HTTP_VICTOROPS_SQL_JOBS_N)
              ? ngx_http_victorops_store_jobs_sql[n]
              : ngx_http_victorops_store_links_sql[n
                                           - NGX_HTTP_VICTOROPS_SQL_JOBS_N];

        if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                               &st->stmt[n], NULL)
            != SQLITE_OK)
        {
            ngx_http_victorops_store_error(st, "prepare");
            return NULL;
        }
    }

#if (NGX_DEBUG)

    /*
     * The event loop's own connection only reads: every write is an op
     * (store_post()), or it could wait up to store_busy_timeout for the
     * writer's transaction.
     */

    if (!st->is_writer && !sqlite3_stmt_readonly(st->stmt[n])) {
        ngx_log_error(NGX_LOG_ALERT, st->log, 0,
                      "victorops store \"%V\": a write on the event "
                      "loop's connection%s: %s", &st->path,
                      st->task_running ? " while a task is in flight" : "",
                      sqlite3_sql(st->stmt[n]));
    }

#endif

    sqlite3_reset(st->stmt[n]);
    sqlite3_clear_bindings(st->stmt[n]);

    return st->stmt[n];
}


ngx_int_t
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

ngx_int_t
ngx_http_victorops_store_changed(ngx_http_victorops_store_t *st,
    sqlite3_stmt *stmt)
{
    if (ngx_http_victorops_store_step(st, stmt) != NGX_OK) {
        return NGX_ERROR;
    }

    return sqlite3_changes(st->db) ? NGX_OK : NGX_DECLINED;
}


/* a query for a row: NGX_OK found, NGX_DECLINED none, NGX_ERROR */

ngx_int_t
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


void
ngx_http_victorops_store_error(ngx_http_victorops_store_t *st,
    const char *what)
{
    ngx_log_error(NGX_LOG_ALERT, st->log, 0,
                  "victorops store \"%V\": %s: %s",
                  &st->path, sqlite3_errmsg(st->db), what);
}


void
ngx_http_victorops_bind(sqlite3_stmt *stmt, int n, ngx_str_t *s)
{
    sqlite3_bind_text(stmt, n, s->data ? (char *) s->data : "",
                      (int) s->len, SQLITE_STATIC);
}


/* a column's bytes, copied from "pool" with a terminating NUL */

ngx_int_t
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


/*
 * A transaction; inside one already (a function the writer runs in its
 * task's transaction), a savepoint in it.
 */

ngx_int_t
ngx_http_victorops_store_begin(ngx_http_victorops_integration_t *vi)
{
    const char                  *sql;
    ngx_http_victorops_store_t  *st;

    st = vi->st;

#if (NGX_DEBUG)

    if (!st->is_writer) {
        ngx_log_error(NGX_LOG_ALERT, st->log, 0,
                      "victorops store \"%V\": a transaction on the event "
                      "loop's connection", &st->path);
    }

#endif

    st->nested = !sqlite3_get_autocommit(st->db);

    sql = st->nested ? "SAVEPOINT nested" : "BEGIN IMMEDIATE";

    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        ngx_http_victorops_store_error(st, sql);
        st->nested = 0;
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_store_commit(ngx_http_victorops_integration_t *vi)
{
    const char                  *sql;
    ngx_http_victorops_store_t  *st;

    st = vi->st;

    sql = st->nested ? "RELEASE nested" : "COMMIT";

    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        ngx_http_victorops_store_error(st, sql);
        ngx_http_victorops_store_rollback(vi);
        return NGX_ERROR;
    }

    st->nested = 0;

    return NGX_OK;
}


void
ngx_http_victorops_store_rollback(ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_store_t  *st;

    st = vi->st;

    if (st->nested) {
        st->nested = 0;
        (void) sqlite3_exec(st->db, "ROLLBACK TO nested; RELEASE nested",
                            NULL, NULL, NULL);
        return;
    }

    (void) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}


static int
ngx_http_victorops_store_wal(void *data, sqlite3 *db, const char *name,
    int frames)
{
    ngx_http_victorops_store_t  *st = data;

    st->wal_frames = frames;

    return SQLITE_OK;
}
