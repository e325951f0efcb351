
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The "victorops_rootly_events" content handler: Rootly's outgoing
 * webhooks, {"event":{"id","type","issued_at"},"data":{...}}, signed
 * with X-Rootly-Signature and answered once per event id.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


static void ngx_http_victorops_events_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_victorops_events_process(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_events_reply(ngx_http_request_t *r,
    const char *result, ngx_str_t *id, ngx_str_t *type, const char *reason);
static ngx_int_t ngx_http_victorops_events_reject(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why);


static ngx_str_t  ngx_http_victorops_rootly_signature_header =
    ngx_string("X-Rootly-Signature");


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
    ngx_http_victorops_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_victorops_module);

    ngx_http_finalize_request(r,
                   ngx_http_victorops_events_process(r, vlcf->integration));
}


static ngx_int_t
ngx_http_victorops_events_process(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi)
{
    off_t                         offset;
    ngx_int_t                     rc;
    ngx_str_t                     body, name, id, type, msg;
    ngx_table_elt_t              *sig;
    ngx_http_victorops_json_t    *root, *v;
    ngx_http_victorops_parser_t  *parser;

    if (ngx_http_victorops_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the signature first: nothing of an unsigned body is looked at */

    name = ngx_http_victorops_rootly_signature_header;

    sig = ngx_http_victorops_header(r, &name, NULL);
    if (sig == NULL) {
        return ngx_http_victorops_events_reject(r, vi,
                                                "no X-Rootly-Signature");
    }

    rc = ngx_http_victorops_rootly_signature(&sig->value, &body,
                                             vi->signing_secrets, ngx_time(),
                                             (time_t) (vi->replay_window
                                                       / 1000));
    switch (rc) {

    case NGX_OK:
        break;

    case NGX_ABORT:
        return ngx_http_victorops_events_reject(r, vi,
                                  "timestamp outside the replay window");

    case NGX_DECLINED:
        return ngx_http_victorops_events_reject(r, vi, "bad signature");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    parser = ngx_http_victorops_parser_create(r->pool, vi->json_max_depth);
    if (parser == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    root = NULL;

    rc = ngx_http_victorops_parser_feed(parser, body.data, body.len);
    if (rc == NGX_OK) {
        rc = ngx_http_victorops_parser_finish(parser, &root);
    }

    if (rc == NGX_ABORT) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_victorops_parser_error(parser, &msg, &offset);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "victorops integration \"%V\": rootly event: invalid "
                      "JSON at byte %O: %V", &vi->name, offset, &msg);

        ngx_str_set(&msg, "invalid JSON");
        return ngx_http_victorops_error(r, NGX_HTTP_BAD_REQUEST, &msg);
    }

    ngx_str_set(&name, "event.id");
    v = ngx_http_victorops_json_lookup(root, &name);

    if (v == NULL || v->type != NGX_HTTP_VICTOROPS_JSON_STRING
        || v->value.len == 0)
    {
        ngx_str_set(&msg, "not a Rootly event: no event.id");
        return ngx_http_victorops_error(r, NGX_HTTP_BAD_REQUEST, &msg);
    }

    id = v->value;

    ngx_str_set(&name, "event.type");
    v = ngx_http_victorops_json_lookup(root, &name);

    if (v == NULL || v->type != NGX_HTTP_VICTOROPS_JSON_STRING) {
        ngx_str_set(&msg, "not a Rootly event: no event.type");
        return ngx_http_victorops_error(r, NGX_HTTP_BAD_REQUEST, &msg);
    }

    type = v->value;

    /* Rootly may deliver an event more than once: act on it once */

    if (vi->st == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    rc = ngx_http_victorops_store_event_seen(vi, &id,
                                             ngx_http_victorops_now());
    if (rc == NGX_ERROR) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "victorops integration \"%V\": rootly event \"%V\" "
                      "(%V) already handled", &vi->name, &id, &type);

        return ngx_http_victorops_events_reply(r, "duplicate", &id, &type,
                                               NULL);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": rootly event \"%V\" (%V) "
                  "not acted on", &vi->name, &id, &type);

    return ngx_http_victorops_events_reply(r, "ignored", &id, &type,
                                           "no action for this event type");
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
