
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The "victorops_escalate" content handler, for Rootly workflow HTTP
 * actions and scripts: POST {"incident_id","targets":[{"type","slug"}],
 * "summary","details"} with "Authorization: Bearer <escalate_token>".
 * The page (or the reroute, when the incident already paged VictorOps)
 * is a durable job; the answer, 202 with its id, comes once it is on
 * disk.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


static void ngx_http_victorops_escalate_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_victorops_escalate_process(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_escalate_invalid(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why);
static void ngx_http_victorops_escalate_queued(ngx_http_request_t *r,
    ngx_int_t rc, void *data, ngx_str_t *job);


ngx_int_t
ngx_http_victorops_escalate_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_str_t                       msg;
    ngx_http_victorops_loc_conf_t  *vlcf;

    if (!(r->method & NGX_HTTP_POST)) {
        return ngx_http_victorops_not_allowed(r, "POST");
    }

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_victorops_module);

    /* the token first: an unauthorized body is not even read */

    if (ngx_http_victorops_bearer(r, vlcf->integration->escalate_tokens)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "victorops integration \"%V\": escalation from %V "
                      "unauthorized", &vlcf->integration->name,
                      &r->connection->addr_text);

        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        ngx_str_set(&msg, "unauthorized");
        return ngx_http_victorops_error(r, NGX_HTTP_UNAUTHORIZED, &msg);
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_victorops_escalate_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_victorops_escalate_body(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_http_victorops_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_victorops_module);

    rc = ngx_http_victorops_escalate_process(r, vlcf->integration);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


static ngx_int_t
ngx_http_victorops_escalate_process(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi)
{
    ngx_int_t                         rc;
    ngx_str_t                         body, name;
    ngx_http_victorops_json_t        *root, *v;
    ngx_http_victorops_accept_t       a;
    ngx_http_victorops_escalation_t   esc;

    if (ngx_http_victorops_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_victorops_json_parse(r->pool, &body, vi->json_max_depth,
                                       &root);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK || root->type != NGX_HTTP_VICTOROPS_JSON_OBJECT) {
        return ngx_http_victorops_escalate_invalid(r, vi,
                                                   "not a JSON object");
    }

    if (ngx_http_victorops_escalation_init(r->pool, &esc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_victorops_json_text(root, "incident_id", &esc.id)
        != NGX_OK)
    {
        return ngx_http_victorops_escalate_invalid(r, vi,
                                                   "incident_id is required");
    }

    ngx_str_set(&name, "targets");
    v = ngx_http_victorops_json_lookup(root, &name);

    if (v == NULL) {
        return ngx_http_victorops_escalate_invalid(r, vi,
                                                   "targets is required");
    }

    rc = ngx_http_victorops_targets_parse(r->pool, v, &esc.targets);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK || esc.targets.nelts == 0) {
        return ngx_http_victorops_escalate_invalid(r, vi,
                   "targets must be a non-empty array of {\"type\": "
                   "\"EscalationPolicy\" or \"User\", \"slug\"}");
    }

    (void) ngx_http_victorops_json_text(root, "summary", &esc.summary);
    (void) ngx_http_victorops_json_text(root, "details", &esc.details);

    if (esc.summary.len > 1024 || esc.details.len > 20480
        || esc.id.len > 255)
    {
        return ngx_http_victorops_escalate_invalid(r, vi,
                   "incident_id, summary or details too long");
    }

    if (!ngx_http_victorops_has_store(vi)) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_memzero(&a, sizeof(ngx_http_victorops_accept_t));

    a.job.integration = vi;
    a.job.kind = NGX_HTTP_VICTOROPS_JOB_ESCALATE;
    a.job.incident = esc.id;
    a.reply = ngx_http_victorops_escalate_queued;

    if (ngx_http_victorops_escalation_key(r->pool, &esc.id, &a.job.key)
        != NGX_OK
        || ngx_http_victorops_escalation_body(r->pool, &esc, &a.job.body)
           != NGX_OK
        || ngx_http_victorops_job_id(r->pool, &a.job.id) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_victorops_queue_accept(r, &a) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_victorops_escalate_invalid(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why)
{
    ngx_str_t  msg;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": escalation from %V "
                  "rejected: %s", &vi->name, &r->connection->addr_text, why);

    msg.data = (u_char *) why;
    msg.len = ngx_strlen(why);

    return ngx_http_victorops_error(r, NGX_HTTP_BAD_REQUEST, &msg);
}


static void
ngx_http_victorops_escalate_queued(ngx_http_request_t *r, ngx_int_t rc,
    void *data, ngx_str_t *job)
{
    yajl_gen                        g;
    ngx_str_t                       body;
    ngx_http_victorops_loc_conf_t  *vlcf;

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_victorops_module);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": escalation accepted "
                  "(job %V)", &vlcf->integration->name, job);

    g = ngx_http_victorops_gen_create(r->pool);

    if (g == NULL
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "result") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "queued") != NGX_OK
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
