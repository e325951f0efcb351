
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Rootly API request bodies (JSON:API), built from classified
 * VictorOps events and VictorOps teams (the team import); they
 * validate against Rootly's OpenAPI schemas.  Free of requests, like
 * payload.c: the Rootly sender (rootly.c) and the import send what is
 * built here.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_rootly_api.h"


typedef struct {
    const char                   *key;
    size_t                        offset;
} ngx_http_victorops_label_t;


static ngx_int_t ngx_http_victorops_rootly_key(ngx_pool_t *pool,
    ngx_http_victorops_event_t *ev, ngx_http_victorops_alert_conf_t *conf,
    ngx_str_t *key);
static ngx_int_t ngx_http_victorops_rootly_text(ngx_pool_t *pool,
    const char *type, const char *key, ngx_str_t *text, const char *extra,
    const char *value, ngx_str_t *body);
static yajl_gen ngx_http_victorops_rootly_begin(ngx_pool_t *pool,
    const char *type);
static ngx_int_t ngx_http_victorops_rootly_end(yajl_gen g, ngx_pool_t *pool,
    ngx_str_t *body);
static ngx_int_t ngx_http_victorops_rootly_portal(ngx_pool_t *pool,
    ngx_http_victorops_event_t *ev, ngx_http_victorops_alert_conf_t *conf,
    ngx_str_t *url);


static ngx_http_victorops_label_t  ngx_http_victorops_labels[] = {
    { "routing_key",
      offsetof(ngx_http_victorops_event_t, routing_key) },
    { "monitoring_tool",
      offsetof(ngx_http_victorops_event_t, monitoring_tool) },
    { "host",
      offsetof(ngx_http_victorops_event_t, host) },
    { "incident_number",
      offsetof(ngx_http_victorops_event_t, incident) },
    { "entity_id",
      offsetof(ngx_http_victorops_event_t, entity_id) },
    { "message_type",
      offsetof(ngx_http_victorops_event_t, message_type) },
    { NULL, 0 }
};


/*
 * POST /v1/alerts, schema "new_alert":
 * {"data":{"type":"alerts","attributes":{"summary":...,...}}}
 */

ngx_int_t
ngx_http_victorops_rootly_alert(ngx_pool_t *pool,
    ngx_http_victorops_event_t *ev, ngx_http_victorops_alert_conf_t *conf,
    ngx_str_t *body)
{
    yajl_gen                     g;
    ngx_str_t                    key, url, started, *value;
    ngx_http_victorops_label_t  *label;

    if (ngx_http_victorops_rootly_key(pool, ev, conf, &key) != NGX_OK
        || ngx_http_victorops_rootly_portal(pool, ev, conf, &url) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_null(&started);

    if (ev->started_at.len
        && ngx_http_victorops_iso8601(pool, &ev->started_at, &started)
           == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    g = ngx_http_victorops_rootly_begin(pool, "alerts");

    if (g == NULL
        || ngx_http_victorops_gen_str(g, "summary", &ev->summary) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ev->description.len
        && ngx_http_victorops_gen_str(g, "description", &ev->description)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_victorops_gen_str(g, "external_id", &key) != NGX_OK
        || ngx_http_victorops_gen_str(g, "deduplication_key", &key) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (url.len
        && ngx_http_victorops_gen_str(g, "external_url", &url) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (started.len
        && ngx_http_victorops_gen_str(g, "started_at", &started) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_victorops_gen_cstr(g, "labels") != NGX_OK
        || yajl_gen_array_open(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    for (label = ngx_http_victorops_labels; label->key; label++) {
        value = (ngx_str_t *) ((u_char *) ev + label->offset);

        if (value->len == 0) {
            continue;
        }

        if (yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_http_victorops_gen_cstr(g, "key") != NGX_OK
            || ngx_http_victorops_gen_cstr(g, label->key) != NGX_OK
            || ngx_http_victorops_gen_str(g, "value", value) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }
    }

    if (yajl_gen_array_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "data") != NGX_OK
        || ngx_http_victorops_gen_value(g, ev->payload) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_victorops_rootly_end(g, pool, body);
}


/*
 * POST /v1/incidents/{id}/events, schema "new_incident_event":
 * {"data":{"type":"incident_events","attributes":{"event":...,
 * "visibility":"internal"}}}
 */

ngx_int_t
ngx_http_victorops_rootly_event(ngx_pool_t *pool, ngx_str_t *text,
    ngx_str_t *body)
{
    return ngx_http_victorops_rootly_text(pool, "incident_events", "event",
                                          text, "visibility", "internal",
                                          body);
}


/*
 * POST /v1/alerts/{id}/resolve, schema "resolve_alert":
 * {"data":{"type":"alerts","attributes":{"resolution_message":...}}}
 */

ngx_int_t
ngx_http_victorops_rootly_resolve(ngx_pool_t *pool, ngx_str_t *text,
    ngx_str_t *body)
{
    return ngx_http_victorops_rootly_text(pool, "alerts",
                                          "resolution_message", text, NULL,
                                          NULL, body);
}


/*
 * POST /v1/teams and PUT /v1/teams/{id}, schemas "new_team" and
 * "update_team": {"data":{"type":"groups","attributes":{"name",
 * "description","victor_ops_id"}}}
 */

ngx_int_t
ngx_http_victorops_rootly_team(ngx_pool_t *pool,
    ngx_http_victorops_vo_team_t *team, ngx_str_t *body)
{
    yajl_gen   g;
    ngx_str_t  description;

    description.data = ngx_pnalloc(pool, sizeof("VictorOps team ")
                                         + team->slug.len);
    if (description.data == NULL) {
        return NGX_ERROR;
    }

    description.len = ngx_sprintf(description.data, "VictorOps team %V",
                                  &team->slug)
                      - description.data;

    g = ngx_http_victorops_rootly_begin(pool, "groups");

    if (g == NULL
        || ngx_http_victorops_gen_str(g, "name", &team->name) != NGX_OK
        || ngx_http_victorops_gen_str(g, "description", &description)
           != NGX_OK
        || ngx_http_victorops_gen_str(g, "victor_ops_id", &team->slug)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_victorops_rootly_end(g, pool, body);
}


/* {"data":{"type":TYPE,"attributes":{KEY:TEXT[,EXTRA:VALUE]}}} */

static ngx_int_t
ngx_http_victorops_rootly_text(ngx_pool_t *pool, const char *type,
    const char *key, ngx_str_t *text, const char *extra, const char *value,
    ngx_str_t *body)
{
    yajl_gen  g;

    g = ngx_http_victorops_rootly_begin(pool, type);

    if (g == NULL || ngx_http_victorops_gen_str(g, key, text) != NGX_OK) {
        return NGX_ERROR;
    }

    if (extra
        && (ngx_http_victorops_gen_cstr(g, extra) != NGX_OK
            || ngx_http_victorops_gen_cstr(g, value) != NGX_OK))
    {
        return NGX_ERROR;
    }

    return ngx_http_victorops_rootly_end(g, pool, body);
}


/* {"data":{"type":TYPE,"attributes":{ : a JSON:API body begun */

static yajl_gen
ngx_http_victorops_rootly_begin(ngx_pool_t *pool, const char *type)
{
    yajl_gen  g;

    g = ngx_http_victorops_gen_create(pool);
    if (g == NULL) {
        return NULL;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "data") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "type") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, type) != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "attributes") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok)
    {
        return NULL;
    }

    return g;
}


/* }}}: the body begun by rootly_begin() ended, in "body" */

static ngx_int_t
ngx_http_victorops_rootly_end(yajl_gen g, ngx_pool_t *pool, ngx_str_t *body)
{
    if (yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return ngx_http_victorops_gen_finish(g, pool, body);
}


/*
 * "Acknowledged in VictorOps by jdoe: looking at the canary",
 * "Resolved in VictorOps by jdoe", "Triggered again in VictorOps: ..."
 */

ngx_int_t
ngx_http_victorops_activity_text(ngx_pool_t *pool,
    ngx_http_victorops_event_t *ev, ngx_str_t *text)
{
    u_char      *p;
    size_t       len;
    const char  *verb;

    switch (ev->class) {

    case NGX_HTTP_VICTOROPS_ACK:
        verb = "Acknowledged in VictorOps";
        break;

    case NGX_HTTP_VICTOROPS_RECOVERY:
        verb = "Resolved in VictorOps";
        break;

    default:
        verb = "Triggered again in VictorOps";
        break;
    }

    len = ngx_strlen(verb) + sizeof(" by : ") + ev->user.len
          + ev->message.len + ev->summary.len;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    text->data = p;
    p = ngx_cpymem(p, verb, ngx_strlen(verb));

    if (ev->class == NGX_HTTP_VICTOROPS_ALERT) {
        if (ev->summary.len) {
            p = ngx_sprintf(p, ": %V", &ev->summary);
        }

    } else {
        if (ev->user.len) {
            p = ngx_sprintf(p, " by %V", &ev->user);
        }

        if (ev->class == NGX_HTTP_VICTOROPS_ACK && ev->message.len) {
            p = ngx_sprintf(p, ": %V", &ev->message);
        }
    }

    text->len = p - text->data;

    return NGX_OK;
}


/* the incident within an integration: entity id, else "#number", else name */

ngx_int_t
ngx_http_victorops_event_key(ngx_pool_t *pool, ngx_http_victorops_event_t *ev,
    ngx_str_t *key)
{
    if (ev->entity_id.len) {
        *key = ev->entity_id;
        return NGX_OK;
    }

    if (ev->incident.len == 0) {
        *key = ev->display_name;
        return NGX_OK;
    }

    key->data = ngx_pnalloc(pool, ev->incident.len + 1);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_sprintf(key->data, "#%V", &ev->incident) - key->data;

    return NGX_OK;
}


/* "victorops:<organization>:<entity id, else incident number, else name>" */

static ngx_int_t
ngx_http_victorops_rootly_key(ngx_pool_t *pool,
    ngx_http_victorops_event_t *ev, ngx_http_victorops_alert_conf_t *conf,
    ngx_str_t *key)
{
    u_char     *p;
    ngx_str_t  *org, *id;

    org = ev->organization.len ? &ev->organization : &conf->organization;

    if (ev->entity_id.len) {
        id = &ev->entity_id;

    } else if (ev->incident.len) {
        id = &ev->incident;

    } else {
        id = &ev->display_name;
    }

    p = ngx_pnalloc(pool, sizeof("victorops::") - 1 + org->len + id->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    key->data = p;
    key->len = ngx_sprintf(p, "victorops:%V:%V", org, id) - p;

    return NGX_OK;
}


/* "<portal>/ui/<organization>/incident/<number>/details" */

static ngx_int_t
ngx_http_victorops_rootly_portal(ngx_pool_t *pool,
    ngx_http_victorops_event_t *ev, ngx_http_victorops_alert_conf_t *conf,
    ngx_str_t *url)
{
    u_char  *p;

    ngx_str_null(url);

    if (ev->organization.len == 0 || ev->incident.len == 0
        || conf->portal_url.len == 0)
    {
        return NGX_OK;
    }

    /* ngx_escape_uri() triples an escaped byte at the most */

    p = ngx_pnalloc(pool, conf->portal_url.len
                          + sizeof("/ui//incident//details")
                          + 3 * (ev->organization.len + ev->incident.len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    url->data = p;

    p = ngx_sprintf(p, "%V/ui/", &conf->portal_url);
    p = (u_char *) ngx_escape_uri(p, ev->organization.data,
                                  ev->organization.len, NGX_ESCAPE_URI);
    p = ngx_sprintf(p, "/incident/");
    p = (u_char *) ngx_escape_uri(p, ev->incident.data, ev->incident.len,
                                  NGX_ESCAPE_URI);
    p = ngx_sprintf(p, "/details");

    url->len = p - url->data;

    return NGX_OK;
}


/* epoch seconds or milliseconds, as VictorOps sends them, to ISO 8601 */

ngx_int_t
ngx_http_victorops_iso8601(ngx_pool_t *pool, ngx_str_t *epoch, ngx_str_t *iso)
{
    time_t     sec;
    ngx_tm_t   tm;
    ngx_int_t  n, ms;

    n = ngx_atoi(epoch->data, epoch->len);

    if (n == NGX_ERROR) {
        return NGX_DECLINED;
    }

    if (n >= 100000000000) {
        sec = n / 1000;
        ms = n % 1000;

    } else {
        sec = n;
        ms = 0;
    }

    /* years 1970 to 9999 */

    if (sec > 253402300799) {
        return NGX_DECLINED;
    }

    ngx_gmtime(sec, &tm);

    iso->data = ngx_pnalloc(pool, sizeof("1970-01-01T00:00:00.000Z") - 1);
    if (iso->data == NULL) {
        return NGX_ERROR;
    }

    iso->len = ngx_sprintf(iso->data, "%4d-%02d-%02dT%02d:%02d:%02d.%03iZ",
                           tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                           tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec, ms)
               - iso->data;

    return NGX_OK;
}
