
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Jobs: an accepted event turned into one Rootly API call.  A job is
 * sent at once and its outcome logged; the durable queue slots in here,
 * between accepting a job and sending it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/rand.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_REASON_MAX  200


static void ngx_http_victorops_job_done(ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_job_response(ngx_http_victorops_transfer_t *t,
    ngx_str_t *id, ngx_str_t *reason);
static ngx_int_t ngx_http_victorops_job_copy(ngx_pool_t *pool,
    ngx_str_t *dst, ngx_str_t *src);


static ngx_str_t  ngx_http_victorops_jsonapi_headers[] = {
    ngx_string("Content-Type: application/vnd.api+json"),
    ngx_string("Accept: application/vnd.api+json"),
    ngx_null_string
};


ngx_int_t
ngx_http_victorops_job_id(ngx_pool_t *pool, ngx_str_t *id)
{
    u_char  rnd[8];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NGX_ERROR;
    }

    id->data = ngx_pnalloc(pool, 2 * sizeof(rnd));
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    id->len = ngx_hex_dump(id->data, rnd, sizeof(rnd)) - id->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_job_submit(ngx_http_victorops_job_t *job, ngx_log_t *log)
{
    u_char                            *p;
    ngx_str_t                         *h;
    ngx_http_victorops_job_t          *copy;
    ngx_http_victorops_transfer_t     *t;
    ngx_http_victorops_integration_t  *vi;

    vi = job->integration;

    t = ngx_http_victorops_transfer_create(ngx_cycle->log);
    if (t == NULL) {
        return NGX_ERROR;
    }

    copy = ngx_pcalloc(t->pool, sizeof(ngx_http_victorops_job_t));
    if (copy == NULL) {
        goto failed;
    }

    copy->integration = vi;
    copy->what = job->what;

    if (ngx_http_victorops_job_copy(t->pool, &copy->id, &job->id) != NGX_OK
        || ngx_http_victorops_job_copy(t->pool, &copy->incident,
                                       &job->incident)
           != NGX_OK
        || ngx_http_victorops_job_copy(t->pool, &t->method, &job->method)
           != NGX_OK
        || ngx_http_victorops_job_copy(t->pool, &t->body, &job->body)
           != NGX_OK)
    {
        goto failed;
    }

    t->url.len = vi->rootly_url.len + job->path.len;

    p = ngx_pnalloc(t->pool, t->url.len + 1);
    if (p == NULL) {
        goto failed;
    }

    t->url.data = p;
    p = ngx_cpymem(p, vi->rootly_url.data, vi->rootly_url.len);
    p = ngx_cpymem(p, job->path.data, job->path.len);
    *p = '\0';

    if (ngx_http_victorops_transfer_header(t, &vi->rootly_auth) != NGX_OK) {
        goto failed;
    }

    for (h = ngx_http_victorops_jsonapi_headers; h->len; h++) {
        if (ngx_http_victorops_transfer_header(t, h) != NGX_OK) {
            goto failed;
        }
    }

    t->timeout = vi->rootly_timeout;
    t->handler = ngx_http_victorops_job_done;
    t->data = copy;

    if (ngx_http_victorops_transfer_start(t) != NGX_OK) {
        goto failed;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "victorops job %V: %V %s",
                   &copy->id, &t->method, t->url.data);

    return NGX_OK;

failed:

    ngx_destroy_pool(t->pool);
    return NGX_ERROR;
}


static void
ngx_http_victorops_job_done(ngx_http_victorops_transfer_t *t)
{
    ngx_http_victorops_job_t  *job = t->data;

    ngx_str_t  id, reason;

    if (t->code != CURLE_OK) {
        ngx_log_error(NGX_LOG_ERR, t->log, 0,
                      "victorops integration \"%V\": %s for incident \"%V\" "
                      "(job %V) not delivered to rootly: %s",
                      &job->integration->name, job->what, &job->incident,
                      &job->id,
                      t->error[0] ? t->error : curl_easy_strerror(t->code));
        return;
    }

    ngx_http_victorops_job_response(t, &id, &reason);

    if (t->status >= 200 && t->status < 300) {
        ngx_log_error(NGX_LOG_INFO, t->log, 0,
                      "victorops integration \"%V\": %s for incident \"%V\" "
                      "(job %V) delivered: rootly answered %l, id \"%V\"",
                      &job->integration->name, job->what, &job->incident,
                      &job->id, t->status, &id);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, t->log, 0,
                  "victorops integration \"%V\": %s for incident \"%V\" "
                  "(job %V) not delivered: rootly answered %l: \"%V\"",
                  &job->integration->name, job->what, &job->incident,
                  &job->id, t->status, &reason);
}


/*
 * The id of what Rootly created ({"data":{"id":...}}), or a short
 * reason from its errors ({"errors":[{"title","detail"}]} or
 * {"error":"..."}).
 */

static void
ngx_http_victorops_job_response(ngx_http_victorops_transfer_t *t,
    ngx_str_t *id, ngx_str_t *reason)
{
    ngx_str_t                     name;
    ngx_http_victorops_json_t    *root, *v;
    ngx_http_victorops_parser_t  *p;

    ngx_str_null(id);
    ngx_str_null(reason);

    root = NULL;

    p = ngx_http_victorops_parser_create(t->pool, 8);

    if (p != NULL
        && t->response.len
        && !t->truncated
        && ngx_http_victorops_parser_feed(p, t->response.data,
                                          t->response.len)
           == NGX_OK)
    {
        (void) ngx_http_victorops_parser_finish(p, &root);
    }

    if (root == NULL) {
        ngx_str_set(reason, "unreadable response");
        return;
    }

    ngx_str_set(&name, "data.id");
    v = ngx_http_victorops_json_lookup(root, &name);

    if (v && v->type == NGX_HTTP_VICTOROPS_JSON_STRING) {
        *id = v->value;
    }

    ngx_str_set(&name, "errors");
    v = ngx_http_victorops_json_lookup(root, &name);

    if (v && v->type == NGX_HTTP_VICTOROPS_JSON_ARRAY && v->child) {
        ngx_str_set(&name, "detail");
        v = ngx_http_victorops_json_lookup(v->child, &name);

    } else {
        ngx_str_set(&name, "error");
        v = ngx_http_victorops_json_lookup(root, &name);
    }

    if (v && v->type == NGX_HTTP_VICTOROPS_JSON_STRING) {
        *reason = v->value;
        reason->len = ngx_min(reason->len, NGX_HTTP_VICTOROPS_REASON_MAX);
    }
}


static ngx_int_t
ngx_http_victorops_job_copy(ngx_pool_t *pool, ngx_str_t *dst, ngx_str_t *src)
{
    dst->len = src->len;
    dst->data = ngx_pnalloc(pool, src->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(dst->data, src->data, src->len) = '\0';

    return NGX_OK;
}
