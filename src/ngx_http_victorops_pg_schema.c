
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The PostgreSQL store's schema, as migrations: each takes a database
 * from the version before it to its own, one statement a string (pipeline
 * mode runs no multi-statement strings).  ngx_http_victorops_pg.c runs
 * the missing ones at connect, under pg_advisory_xact_lock(), in the
 * transaction that records them in schema_version: several nodes
 * starting together migrate once, and a failed migration leaves nothing.
 *
 * One database serves every integration of every node: each table's key
 * starts with the integration's name.  Times are milliseconds since the
 * epoch (bigint), as the SQLite store keeps them, taken from the
 * database's clock (victorops_now_ms()) wherever nodes must agree: lease
 * expiry, budgets.  Keys and ids are text; bodies and digests bytea.
 *
 * Job states, as in the SQLite store: 0 pending, 1 running (leased),
 * 2 dead letter; delivered jobs are deleted.
 *
 * What the store's ops will run on it: docs/postgresql.md.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


static const char  *ngx_http_victorops_pg_schema_1[] = {

    "CREATE FUNCTION victorops_now_ms() RETURNS bigint"
    " LANGUAGE sql VOLATILE AS"
    " $$SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint$$",

    "COMMENT ON FUNCTION victorops_now_ms() IS"
    " 'The one clock of every node: milliseconds since the epoch, for"
    " leases, budgets and retention'",

    "COMMENT ON TABLE schema_version IS"
    " 'Migrations applied, one row each, written in the migration''s own"
    " transaction under pg_advisory_xact_lock(hashtextextended("
    "''ngx_http_victorops_module schema'', 0))'",

    /*
     * jobs: the durable queue.  A claim takes due jobs that are the head
     * of their key (the lowest seq among the key's pending and running
     * jobs), FOR UPDATE SKIP LOCKED; jobs_one_running enforces one job in
     * flight per key even when two claims race.  lease_until and
     * lease_owner are in no index, so that heartbeats and releases stay
     * HOT updates (fillfactor leaves room for them).
     */

    "CREATE TABLE jobs ("
    " seq bigserial PRIMARY KEY,"
    " integration text NOT NULL,"
    " id text NOT NULL,"
    " kind smallint NOT NULL,"
    " class smallint NOT NULL,"
    " key text NOT NULL,"
    " incident text NOT NULL DEFAULT '',"
    " entity text NOT NULL DEFAULT '',"
    " body bytea NOT NULL,"
    " state smallint NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),"
    " attempts integer NOT NULL DEFAULT 0,"
    " created_at bigint NOT NULL,"
    " next_at bigint NOT NULL,"
    " lease_until bigint NOT NULL DEFAULT 0,"
    " lease_owner text NOT NULL DEFAULT '',"
    " lease_token bigint NOT NULL DEFAULT 0,"
    " last_status integer NOT NULL DEFAULT 0,"
    " last_error text NOT NULL DEFAULT '',"
    " dead_at bigint NOT NULL DEFAULT 0,"
    " UNIQUE (integration, id))"
    " WITH (fillfactor = 80)",

    "COMMENT ON TABLE jobs IS"
    " 'The durable queue of every integration: state 0 pending, 1 running"
    " (leased to lease_owner until lease_until, lease_token proving the"
    " claim), 2 dead letter; delivered jobs are deleted.  Claims take the"
    " head of each key (lowest seq among its pending and running jobs),"
    " FOR UPDATE SKIP LOCKED'",

    "CREATE INDEX jobs_key ON jobs (integration, key, seq)"
    " WHERE state IN (0, 1)",

    "CREATE INDEX jobs_due ON jobs (integration, next_at, seq)"
    " WHERE state = 0",

    "CREATE UNIQUE INDEX jobs_one_running ON jobs (integration, key)"
    " WHERE state = 1",

    "CREATE INDEX jobs_running ON jobs (integration, seq)"
    " WHERE state = 1",

    "CREATE INDEX jobs_dead ON jobs (integration, dead_at)"
    " WHERE state = 2",

    "CREATE INDEX jobs_incident ON jobs (integration, incident)"
    " WHERE incident <> ''",

    /* links: a VictorOps incident and its Rootly alert or incident */

    "CREATE TABLE links ("
    " integration text NOT NULL,"
    " key text NOT NULL,"
    " incident text NOT NULL DEFAULT '',"
    " entity text NOT NULL DEFAULT '',"
    " rootly_incident text NOT NULL DEFAULT '',"
    " rootly_alert text NOT NULL DEFAULT '',"
    " targets text NOT NULL DEFAULT '',"
    " origin smallint NOT NULL DEFAULT 0,"
    " vo_state smallint NOT NULL DEFAULT 0,"
    " rootly_state smallint NOT NULL DEFAULT 0,"
    " synced_at bigint NOT NULL DEFAULT 0,"
    " updated_at bigint NOT NULL,"
    " PRIMARY KEY (integration, key))",

    "COMMENT ON TABLE links IS"
    " 'Incident links: a VictorOps incident (key, incident, entity) and"
    " the Rootly alert or incident it became; targets: what an escalation"
    " pages; origin 1: created from Rootly; vo_state, rootly_state: what"
    " each side last said; synced_at: the last reconciliation'",

    "CREATE INDEX links_incident ON links (integration, incident)",

    "CREATE INDEX links_entity ON links (integration, entity)",

    "CREATE INDEX links_rootly ON links (integration, rootly_incident)",

    "CREATE INDEX links_updated ON links (integration, updated_at)",

    /* duplicate suppression: a delivery's digest within the window */

    "CREATE TABLE dedup ("
    " integration text NOT NULL,"
    " hash bytea NOT NULL,"
    " seen_at bigint NOT NULL,"
    " PRIMARY KEY (integration, hash))",

    "COMMENT ON TABLE dedup IS"
    " 'Digests of accepted deliveries within duplicate_window: an append"
    " inserts ON CONFLICT DO NOTHING, no row returned = a duplicate;"
    " rows older than the window are deleted in batches'",

    "CREATE INDEX dedup_seen ON dedup (integration, seen_at)",

    /* Rootly outgoing webhooks handled, by event id */

    "CREATE TABLE rootly_events ("
    " integration text NOT NULL,"
    " id text NOT NULL,"
    " seen_at bigint NOT NULL,"
    " PRIMARY KEY (integration, id))",

    "COMMENT ON TABLE rootly_events IS"
    " 'Rootly outgoing webhook events already handled, by event id, so"
    " that a redelivery does nothing twice'",

    "CREATE INDEX rootly_events_seen ON rootly_events (integration, seen_at)",

    /* escalation-policy webhook signatures handled (no replays) */

    "CREATE TABLE signatures ("
    " integration text NOT NULL,"
    " sig bytea NOT NULL,"
    " seen_at bigint NOT NULL,"
    " PRIMARY KEY (integration, sig))",

    "COMMENT ON TABLE signatures IS"
    " 'X-VictorOps-Signatures of escalation-policy webhooks handled,"
    " decoded, so that a captured request cannot be replayed on any"
    " node within replay_window'",

    "CREATE INDEX signatures_seen ON signatures (integration, seen_at)",

    /*
     * budgets: token buckets every node draws from (alert_limit per
     * minute, api_rate per second), one row each, updated by one atomic
     * upsert per decision on the database's clock
     */

    "CREATE TABLE budgets ("
    " integration text NOT NULL,"
    " name text NOT NULL CHECK (name IN ('alert_limit', 'api_rate')),"
    " capacity double precision NOT NULL,"
    " per_ms double precision NOT NULL,"
    " tokens double precision NOT NULL,"
    " updated_at bigint NOT NULL,"
    " paused_until bigint NOT NULL DEFAULT 0,"
    " PRIMARY KEY (integration, name))"
    " WITH (fillfactor = 50)",

    "COMMENT ON TABLE budgets IS"
    " 'Rate budgets shared by every node: a token bucket per integration"
    " and limit (alert_limit: Rootly alerts a minute; api_rate: VictorOps"
    " API calls a second), refilled at per_ms up to capacity on the"
    " database''s clock; paused_until: a Retry-After every node honours'",

    /* nodes: who runs the integration, for status and lease takeover */

    "CREATE TABLE nodes ("
    " integration text NOT NULL,"
    " node text NOT NULL,"
    " started_at bigint NOT NULL,"
    " seen_at bigint NOT NULL,"
    " PRIMARY KEY (integration, node))",

    "COMMENT ON TABLE nodes IS"
    " 'The nginx workers using the store (node: node_id or hostname:pid),"
    " when each connected first and was last seen: what a lease owner"
    " that vanished was'",

    NULL
};


/*
 * Version 2: leases, one row per integration and task done by one node
 * at a time (reconciliation: "sync").  A node takes the row when "until"
 * has passed (an atomic upsert: one taker), holds it while the task
 * runs, and at its end sets "until" to when the next run is due; a node
 * that dies loses it when "until" passes.
 */

static const char  *ngx_http_victorops_pg_schema_2[] = {

    "CREATE TABLE leases ("
    " integration text NOT NULL,"
    " task text NOT NULL,"
    " owner text NOT NULL DEFAULT '',"
    " token bigint NOT NULL DEFAULT 0,"
    " until bigint NOT NULL DEFAULT 0,"
    " rounds bigint NOT NULL DEFAULT 0,"
    " PRIMARY KEY (integration, task))",

    "COMMENT ON TABLE leases IS"
    " 'Tasks one node runs at a time (task sync: reconciliation): owner"
    " (node_id) holds the row with a random token until the time in until"
    " (victorops_now_ms()); taken by whoever finds it passed; a run''s"
    " end sets until to when the next is due; rounds: runs finished'",

    NULL
};


ngx_http_victorops_pg_migration_t  ngx_http_victorops_pg_schema[] = {

    { 1, "jobs, links, dedup, rootly_events, signatures, budgets, nodes",
      ngx_http_victorops_pg_schema_1 },

    { 2, "leases (one node at a time: reconciliation)",
      ngx_http_victorops_pg_schema_2 },

    { 0, NULL, NULL }
};
