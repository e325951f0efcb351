
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The "victorops_rootly_events" content handler: Rootly's outgoing
 * webhooks, {"event":{"id","type","issued_at"},"data":{...}}, signed
 * with X-Rootly-Signature and answered once per event id.  Incidents
 * created or updated that match an escalation rule page VictorOps;
 * resolved or cancelled ones resolve what they paged (auto_resolve).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


static void ngx_http_victorops_events_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_victorops_events_process(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_events_verify(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *body, const char **why);
static ngx_int_t ngx_http_victorops_events_parse(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *body,
    ngx_http_victorops_json_t **root, ngx_str_t *id, ngx_str_t *type,
    ngx_str_t *msg);
static ngx_int_t ngx_http_victorops_events_reply(ngx_http_request_t *r,
    const char *result, ngx_str_t *id, ngx_str_t *type, const char *reason);
static ngx_int_t ngx_http_victorops_events_reject(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why);
static ngx_int_t ngx_http_victorops_events_incident(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_json_t *root,
    ngx_str_t *id, ngx_str_t *type, const char **reason);
static void ngx_http_victorops_events_queued(ngx_http_request_t *r,
    ngx_int_t rc, void *data, ngx_str_t *job);
static ngx_int_t ngx_http_victorops_events_seen(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *id, ngx_str_t *type,
    const char *reason);
static ngx_int_t ngx_http_victorops_events_seen_exec(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_events_seen_done(
    ngx_http_victorops_store_op_t *op);


typedef struct {
    ngx_str_t                     id;
    ngx_str_t                     type;
} ngx_http_victorops_events_ctx_t;


/* an event not acted on: its id recorded, then the answer */

typedef struct {
    ngx_http_victorops_store_call_t   call;
    ngx_str_t                         id;
    ngx_str_t                         type;
    const char                       *reason;     /* static */
} ngx_http_victorops_events_seen_t;


static ngx_str_t  ngx_http_victorops_rootly_signature_header =
    ngx_string("X-Rootly-Signature");


/* an event id recorded, on a PostgreSQL store: no row, seen before */

static const char  ngx_http_victorops_events_seen_sql[] =
    "INSERT INTO rootly_events (integration, id, seen_at)"
    " VALUES ($1, $2, victorops_now_ms())"
    " ON CONFLICT (integration, id) DO NOTHING RETURNING 1";


ngx_int_t
ngx_http_victorops_events_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (!(r->method & NGX_HTTP_POST)) {
        return ngx_http_victorops_not_allowed(r, "POST");
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_victorops_events_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_victorops_events_body(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_http_victorops_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_victorops_module);

    rc = ngx_http_victorops_events_process(r, vlcf->integration);

    /* NGX_DONE: the reply waits for the commit of the batch */

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


static ngx_int_t
ngx_http_victorops_events_process(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi)
{
    ngx_int_t                   rc;
    ngx_str_t                   body, id, type, msg;
    const char                 *reason;
    ngx_http_victorops_json_t  *root;

    if (ngx_http_victorops_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the signature first: nothing of an unsigned body is looked at */

    switch (ngx_http_victorops_events_verify(r, vi, &body, &reason)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        return ngx_http_victorops_events_reject(r, vi, reason);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (ngx_http_victorops_events_parse(r, vi, &body, &root, &id, &type,
                                            &msg))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        return ngx_http_victorops_error(r, NGX_HTTP_BAD_REQUEST, &msg);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* Rootly may deliver an event more than once: act on it once */

    if (!ngx_http_victorops_has_store(vi)) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    reason = NULL;

    rc = ngx_http_victorops_events_incident(r, vi, root, &id, &type,
                                            &reason);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_victorops_events_seen(r, vi, &id, &type, reason);
}


/*
 * The event's id goes to the store's writer (an EXEC; on PostgreSQL,
 * its query, which every node's workers share); once it is stored the
 * answer says whether it was seen before: NGX_DONE posted.
 */

static ngx_int_t
ngx_http_victorops_events_seen(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *id, ngx_str_t *type,
    const char *reason)
{
    ngx_http_victorops_events_seen_t  *e;

    e = ngx_http_victorops_store_call(vi,
                                  sizeof(ngx_http_victorops_events_seen_t),
                                  ngx_http_victorops_events_seen_exec,
                                  ngx_http_victorops_events_seen_done);
    if (e == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    e->reason = reason;
    e->id.len = id->len;
    e->id.data = ngx_pstrdup(e->call.pool, id);
    e->type.len = type->len;
    e->type.data = ngx_pstrdup(e->call.pool, type);

    if (e->id.data == NULL || e->type.data == NULL
        || ngx_http_victorops_store_call_sql(e,
                                      ngx_http_victorops_events_seen_sql,
                                      NULL)
           != NGX_OK
        || ngx_http_victorops_store_call_str(e, &e->id) != NGX_OK)
    {
        ngx_destroy_pool(e->call.pool);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_victorops_store_call_post(r, e) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DONE;
}


/* on the store's writer: NGX_DECLINED seen before */

static ngx_int_t
ngx_http_victorops_events_seen_exec(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_events_seen_t  *e = op->data;

    return ngx_http_victorops_store_event_seen(wvi, &e->id, op->now);
}


static void
ngx_http_victorops_events_seen_done(ngx_http_victorops_store_op_t *op)
{
    ngx_http_request_t                *r;
    ngx_http_victorops_integration_t  *vi;
    ngx_http_victorops_events_seen_t  *e;

    e = op->data;
    r = e->call.request;
    vi = op->integration;

    if (r == NULL) {
        return;
    }

    if (op->rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (op->rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "victorops integration \"%V\": rootly event \"%V\" "
                      "(%V) already handled", &vi->name, &e->id, &e->type);

        ngx_http_finalize_request(r,
                          ngx_http_victorops_events_reply(r, "duplicate",
                                                          &e->id, &e->type,
                                                          NULL));
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": rootly event \"%V\" (%V) "
                  "not acted on: %s", &vi->name, &e->id, &e->type, e->reason);

    ngx_http_finalize_request(r,
                          ngx_http_victorops_events_reply(r, "ignored",
                                                          &e->id, &e->type,
                                                          e->reason));
}


/* X-Rootly-Signature: NGX_OK, NGX_DECLINED ("why" not), NGX_ERROR */

static ngx_int_t
ngx_http_victorops_events_verify(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *body, const char **why)
{
    ngx_str_t         name;
    ngx_table_elt_t  *sig;

    name = ngx_http_victorops_rootly_signature_header;

    sig = ngx_http_victorops_header(r, &name, NULL);
    if (sig == NULL) {
        *why = "no X-Rootly-Signature";
        return NGX_DECLINED;
    }

    switch (ngx_http_victorops_rootly_signature(&sig->value, body,
                                                vi->signing_secrets,
                                                ngx_time(),
                                                (time_t) (vi->replay_window
                                                          / 1000)))
    {
    case NGX_OK:
        return NGX_OK;

    case NGX_ABORT:
        *why = "timestamp outside the replay window";
        return NGX_DECLINED;

    case NGX_DECLINED:
        *why = "bad signature";
        return NGX_DECLINED;

    default:
        return NGX_ERROR;
    }
}


/*
 * The event as JSON, its event.id and event.type: NGX_OK, NGX_DECLINED
 * (not a Rootly event: "msg" says why), NGX_ERROR.
 */

static ngx_int_t
ngx_http_victorops_events_parse(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *body,
    ngx_http_victorops_json_t **root, ngx_str_t *id, ngx_str_t *type,
    ngx_str_t *msg)
{
    off_t                         offset;
    ngx_int_t                     rc;
    ngx_str_t                     name;
    ngx_http_victorops_json_t    *v;
    ngx_http_victorops_parser_t  *parser;

    parser = ngx_http_victorops_parser_create(r->pool, vi->json_max_depth);
    if (parser == NULL) {
        return NGX_ERROR;
    }

    *root = NULL;

    rc = ngx_http_victorops_parser_feed(parser, body->data, body->len);
    if (rc == NGX_OK) {
        rc = ngx_http_victorops_parser_finish(parser, root);
    }

    if (rc == NGX_ABORT) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_victorops_parser_error(parser, msg, &offset);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "victorops integration \"%V\": rootly event: invalid "
                      "JSON at byte %O: %V", &vi->name, offset, msg);

        ngx_str_set(msg, "invalid JSON");
        return NGX_DECLINED;
    }

    ngx_str_set(&name, "event.id");
    v = ngx_http_victorops_json_lookup(*root, &name);

    if (v == NULL || v->type != NGX_HTTP_VICTOROPS_JSON_STRING
        || v->value.len == 0)
    {
        ngx_str_set(msg, "not a Rootly event: no event.id");
        return NGX_DECLINED;
    }

    *id = v->value;

    ngx_str_set(&name, "event.type");
    v = ngx_http_victorops_json_lookup(*root, &name);

    if (v == NULL || v->type != NGX_HTTP_VICTOROPS_JSON_STRING) {
        ngx_str_set(msg, "not a Rootly event: no event.type");
        return NGX_DECLINED;
    }

    *type = v->value;

    return NGX_OK;
}


/*
 * What the event means is decide.c's: a job to page, reroute or
 * resolve in VictorOps, or nothing.  NGX_DONE: queued, the reply comes
 * with the commit; NGX_DECLINED: nothing to do, "reason" says why.
 */

static ngx_int_t
ngx_http_victorops_events_incident(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_json_t *root,
    ngx_str_t *id, ngx_str_t *type, const char **reason)
{
    ngx_str_t                              name, msg;
    ngx_http_victorops_accept_t            a;
    ngx_http_victorops_events_ctx_t       *ctx;
    ngx_http_victorops_rootly_facts_t      facts;
    ngx_http_victorops_rootly_decision_t   d;

    ngx_memzero(&facts, sizeof(ngx_http_victorops_rootly_facts_t));

    ngx_str_set(&name, "data");

    facts.type = *type;
    facts.data = ngx_http_victorops_json_lookup(root, &name);
    facts.rules = vi->rules;
    facts.api = (vi->api_id.len != 0);
    facts.auto_resolve = vi->auto_resolve;

    if (ngx_http_victorops_decide_rootly(r->pool, &facts, &d) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (d.action) {

    case NGX_HTTP_VICTOROPS_ROOTLY_JOB:
        break;

    case NGX_HTTP_VICTOROPS_ROOTLY_INVALID:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "victorops integration \"%V\": rootly event \"%V\" "
                      "(%V) has no data.id", &vi->name, id, type);

        msg.data = (u_char *) d.reason;
        msg.len = ngx_strlen(d.reason);
        return ngx_http_victorops_error(r, NGX_HTTP_BAD_REQUEST, &msg);

    default: /* NGX_HTTP_VICTOROPS_ROOTLY_IGNORE */
        *reason = d.reason;
        return NGX_DECLINED;
    }

    ctx = ngx_palloc(r->pool, sizeof(ngx_http_victorops_events_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->id = *id;
    ctx->type = *type;

    ngx_memzero(&a, sizeof(ngx_http_victorops_accept_t));

    a.job.integration = vi;
    a.job.kind = d.kind;
    a.job.incident = d.incident;
    a.job.key = d.key;
    a.job.body = d.body;
    a.reply = ngx_http_victorops_events_queued;
    a.data = ctx;

    /* Rootly may deliver an event more than once: act on it once */

    a.dups[0].type = NGX_HTTP_VICTOROPS_DUP_EVENT;
    a.dups[0].key = *id;

    if (ngx_http_victorops_job_id(r->pool, &a.job.id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_victorops_queue_accept(r, &a) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* the batch with the job is on disk (or failed): the answer */

static void
ngx_http_victorops_events_queued(ngx_http_request_t *r, ngx_int_t rc,
    void *data, ngx_str_t *job)
{
    ngx_http_victorops_events_ctx_t  *ctx = data;

    yajl_gen                           g;
    ngx_str_t                          body;
    ngx_http_victorops_loc_conf_t     *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_victorops_module);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "victorops integration \"%V\": rootly event \"%V\" "
                      "(%V) already handled", &vlcf->integration->name,
                      &ctx->id, &ctx->type);

        ngx_http_finalize_request(r,
                          ngx_http_victorops_events_reply(r, "duplicate",
                                                          &ctx->id,
                                                          &ctx->type, NULL));
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": rootly event \"%V\" (%V) "
                  "accepted (job %V)", &vlcf->integration->name, &ctx->id,
                  &ctx->type, job);

    g = ngx_http_victorops_gen_create(r->pool);

    if (g == NULL
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "result") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "queued") != NGX_OK
        || ngx_http_victorops_gen_str(g, "event", &ctx->id) != NGX_OK
        || ngx_http_victorops_gen_str(g, "type", &ctx->type) != NGX_OK
        || ngx_http_victorops_gen_str(g, "job", job) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, r->pool, &body) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    body.len++;

    ngx_http_finalize_request(r,
                              ngx_http_victorops_send(r, NGX_HTTP_ACCEPTED,
                                                      "application/json",
                                                      &body));
}


/* {"result":...,"event":...,"type":...[,"reason":...]} */

static ngx_int_t
ngx_http_victorops_events_reply(ngx_http_request_t *r, const char *result,
    ngx_str_t *id, ngx_str_t *type, const char *reason)
{
    yajl_gen   g;
    ngx_str_t  body;

    g = ngx_http_victorops_gen_create(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "result") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, result) != NGX_OK
        || ngx_http_victorops_gen_str(g, "event", id) != NGX_OK
        || ngx_http_victorops_gen_str(g, "type", type) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (reason
        && (ngx_http_victorops_gen_cstr(g, "reason") != NGX_OK
            || ngx_http_victorops_gen_cstr(g, reason) != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, r->pool, &body) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len++;

    return ngx_http_victorops_send(r, NGX_HTTP_OK, "application/json", &body);
}


static ngx_int_t
ngx_http_victorops_events_reject(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why)
{
    ngx_str_t  msg;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": rootly event from %V "
                  "unauthorized: %s", &vi->name, &r->connection->addr_text,
                  why);

    ngx_str_set(&msg, "unauthorized");

    return ngx_http_victorops_error(r, NGX_HTTP_UNAUTHORIZED, &msg);
}
