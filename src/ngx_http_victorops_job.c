
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Jobs: an accepted event turned into one Rootly API call, built when
 * the job is claimed from the queue (activity goes to whatever Rootly
 * incident or alert is linked by then).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/rand.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_REASON_MAX  200


static ngx_int_t ngx_http_victorops_job_call(ngx_http_victorops_job_t *job,
    ngx_pool_t *pool, ngx_http_victorops_call_t *call);
static void ngx_http_victorops_job_done(ngx_http_victorops_transfer_t *t);
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


/*
 * Starts the Rootly call for a claimed job (decide.c says which).
 * NGX_DECLINED: activity for an incident with no Rootly incident or
 * alert linked, nothing to send.
 */

ngx_int_t
ngx_http_victorops_job_send(ngx_http_victorops_job_t *job)
{
    ngx_http_victorops_job_t          *copy;
    ngx_http_victorops_call_t          call;
    ngx_http_victorops_transfer_t     *t;
    ngx_http_victorops_integration_t  *vi;

    vi = job->integration;

    t = ngx_http_victorops_transfer_create(ngx_cycle->log);
    if (t == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_victorops_job_call(job, t->pool, &call) != NGX_OK) {
        goto failed;
    }

    if (call.action == NGX_HTTP_VICTOROPS_CALL_NO_LINK) {
        ngx_log_error(NGX_LOG_INFO, t->log, 0,
                      "victorops integration \"%V\": %s for incident "
                      "\"%V\" (job %V) ignored: %V", &vi->name,
                      ngx_http_victorops_class_name(job->class),
                      ngx_http_victorops_job_incident(job), &job->id,
                      &call.reason);
    }

    if (call.action != NGX_HTTP_VICTOROPS_CALL_POST) {
        ngx_destroy_pool(t->pool);
        return NGX_DECLINED;
    }

    copy = ngx_palloc(t->pool, sizeof(ngx_http_victorops_job_t));
    if (copy == NULL) {
        goto failed;
    }

    *copy = *job;

    if (ngx_http_victorops_job_copy(t->pool, &copy->id, &job->id) != NGX_OK
        || ngx_http_victorops_job_copy(t->pool, &copy->key, &job->key)
           != NGX_OK
        || ngx_http_victorops_job_copy(t->pool, &copy->incident,
                                       &job->incident)
           != NGX_OK
        || ngx_http_victorops_job_copy(t->pool, &copy->entity, &job->entity)
           != NGX_OK
        || ngx_http_victorops_job_copy(t->pool, &t->body, &call.body)
           != NGX_OK)
    {
        goto failed;
    }

    ngx_str_null(&copy->body);

    if (ngx_http_victorops_rootly_request(t, vi, "POST", &call.path, NULL)
        != NGX_OK)
    {
        goto failed;
    }

    t->handler = ngx_http_victorops_job_done;
    t->data = copy;
    t->owner = vi;
    t->what = call.what;

    if (ngx_http_victorops_transfer_start(t) != NGX_OK) {
        goto failed;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, t->log, 0,
                   "victorops job %V: %s: POST %s, attempt %ui",
                   &copy->id, call.what, t->url.data, copy->attempts);

    return NGX_OK;

failed:

    ngx_destroy_pool(t->pool);
    return NGX_ERROR;
}


/* the job's Rootly call (decide.c), with the link it may ask for */

static ngx_int_t
ngx_http_victorops_job_call(ngx_http_victorops_job_t *job, ngx_pool_t *pool,
    ngx_http_victorops_call_t *call)
{
    ngx_http_victorops_call_facts_t  facts;

    ngx_memzero(&facts, sizeof(ngx_http_victorops_call_facts_t));

    facts.kind = job->kind;
    facts.class = job->class;
    facts.incident = job->incident;
    facts.body = job->body;

    for ( ;; ) {
        if (ngx_http_victorops_decide_call(pool, &facts, call) != NGX_OK) {
            return NGX_ERROR;
        }

        if (call->action != NGX_HTTP_VICTOROPS_CALL_ASK_LINK) {
            return NGX_OK;
        }

        switch (ngx_http_victorops_store_link_get(job->integration, pool,
                                                  &job->key, &job->incident,
                                                  &job->entity,
                                                  &facts.link.incident,
                                                  &facts.link.alert))
        {
        case NGX_OK:
            facts.link.found = NGX_HTTP_VICTOROPS_FACT_YES;
            break;

        case NGX_DECLINED:
            facts.link.found = NGX_HTTP_VICTOROPS_FACT_NO;
            break;

        default:
            return NGX_ERROR;
        }
    }
}


static void
ngx_http_victorops_job_done(ngx_http_victorops_transfer_t *t)
{
    ngx_http_victorops_job_finished(t->data, t);
}


/*
 * The id of what Rootly created ({"data":{"id":...}}), or a short
 * reason from its errors ({"errors":[{"title","detail"}]} or
 * {"error":"..."}).
 */

void
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
        reason->len = ngx_http_victorops_utf8_cut(reason->data,
                          reason->data
                          + ngx_min(reason->len,
                                    NGX_HTTP_VICTOROPS_REASON_MAX))
                      - reason->data;
    }
}


/*
 * Makes "t" a Rootly API request: rootly_url + path, the bearer token,
 * JSON:API headers, rootly_timeout; "body" (if any) is copied.
 */

ngx_int_t
ngx_http_victorops_rootly_request(ngx_http_victorops_transfer_t *t,
    ngx_http_victorops_integration_t *vi, const char *method, ngx_str_t *path,
    ngx_str_t *body)
{
    u_char     *p;
    ngx_str_t  *h;

    p = ngx_pnalloc(t->pool, vi->rootly_url.len + path->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    t->url.data = p;
    p = ngx_cpymem(p, vi->rootly_url.data, vi->rootly_url.len);
    p = ngx_cpymem(p, path->data, path->len);
    *p = '\0';
    t->url.len = p - t->url.data;

    t->method.data = (u_char *) method;
    t->method.len = ngx_strlen(method);

    if (body
        && ngx_http_victorops_job_copy(t->pool, &t->body, body) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_victorops_transfer_header(t, &vi->rootly_auth) != NGX_OK) {
        return NGX_ERROR;
    }

    for (h = ngx_http_victorops_jsonapi_headers; h->len; h++) {
        if (ngx_http_victorops_transfer_header(t, h) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    t->timeout = vi->rootly_timeout;
    t->owner = vi;

    return NGX_OK;
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
