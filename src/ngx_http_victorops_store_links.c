
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What the store remembers besides jobs, in SQLite: links (a VictorOps
 * incident and the Rootly incident or alert for it, escalations and
 * what each side last said), deliveries seen (duplicate suppression),
 * Rootly event ids handled, and escalation-policy signatures handled.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_store_sqlite.h"


static ngx_int_t ngx_http_victorops_store_link_row(ngx_pool_t *pool,
    sqlite3_stmt *stmt, ngx_http_victorops_link_t *link);


/*
 * In the order of NGX_HTTP_VICTOROPS_SQL_LINK_GET and the rest (in
 * ngx_http_victorops_store_sqlite.h).
 */

const char  *ngx_http_victorops_store_links_sql[] = {

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

    /* NGX_HTTP_VICTOROPS_SQL_DEDUP: a change unless seen since ?3 */
    "INSERT INTO dedup (hash, seen_at) VALUES (?1, ?2)"
    " ON CONFLICT (hash) DO UPDATE SET seen_at = ?2 WHERE seen_at <= ?3",

    /* NGX_HTTP_VICTOROPS_SQL_DEDUP_GC */
    "DELETE FROM dedup WHERE seen_at <= ?1",

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

    /* NGX_HTTP_VICTOROPS_SQL_SIG_SEEN */
    "SELECT 1 FROM signatures WHERE sig = ?1",

    /* NGX_HTTP_VICTOROPS_SQL_SIG_CLAIM: a change unless seen before */
    "INSERT INTO signatures (sig, seen_at) VALUES (?1, ?2)"
    " ON CONFLICT (sig) DO NOTHING",

    /* NGX_HTTP_VICTOROPS_SQL_SIG_GC */
    "DELETE FROM signatures WHERE seen_at <= ?1",

    /* NGX_HTTP_VICTOROPS_SQL_DEDUP_LIST: the newest ?2 since ?1, in order */
    "SELECT hash, seen_at FROM (SELECT hash, seen_at FROM dedup"
    " WHERE seen_at > ?1 ORDER BY seen_at DESC LIMIT ?2) ORDER BY seen_at"
};


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


/*
 * The deliveries seen since "since", the newest "n" of them, oldest
 * first, to "handler" (the duplicate index, rebuilt after a start).
 */

ngx_int_t
ngx_http_victorops_store_dedup_list(ngx_http_victorops_integration_t *vi,
    int64_t since, ngx_uint_t n, ngx_http_victorops_dedup_row_pt handler,
    void *data)
{
    int            len;
    ngx_int_t      rc;
    const void    *hash;
    sqlite3_stmt  *stmt;

    stmt = ngx_http_victorops_store_stmt(vi->st,
                                         NGX_HTTP_VICTOROPS_SQL_DEDUP_LIST);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, since);
    sqlite3_bind_int64(stmt, 2, (sqlite3_int64) n);

    for ( ;; ) {
        rc = ngx_http_victorops_store_step(vi->st, stmt);

        if (rc != NGX_AGAIN) {
            return rc;
        }

        hash = sqlite3_column_blob(stmt, 0);
        len = sqlite3_column_bytes(stmt, 0);

        if (hash && len > 0) {
            handler(data, (u_char *) hash, (size_t) len,
                    sqlite3_column_int64(stmt, 1));
        }
    }
}
