
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Jobs: their ids, the copy a sender keeps while a call is under way,
 * their kinds: who sends each (the dispatcher's table), and the effects
 * a job writes with its outcome or acceptance.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/rand.h>

#include "ngx_http_victorops_module.h"


static ngx_int_t ngx_http_victorops_job_str(ngx_pool_t *pool, ngx_str_t *dst,
    ngx_str_t *src);


static ngx_http_victorops_kind_t  ngx_http_victorops_kinds[] = {

    { NGX_HTTP_VICTOROPS_JOB_ALERT, "alert", "rootly",
      ngx_http_victorops_rootly_send },

    { NGX_HTTP_VICTOROPS_JOB_ACTIVITY, "activity", "rootly",
      ngx_http_victorops_rootly_send },

    { NGX_HTTP_VICTOROPS_JOB_ESCALATE, "escalation", "victorops",
      ngx_http_victorops_vo_job },

    { NGX_HTTP_VICTOROPS_JOB_RESOLVE, "resolve", "victorops",
      ngx_http_victorops_vo_job },

    { NGX_HTTP_VICTOROPS_JOB_NOTE, "timeline event", "rootly",
      ngx_http_victorops_rootly_send },

    { NGX_HTTP_VICTOROPS_JOB_ONCALL, "on-call", "victorops",
      ngx_http_victorops_vo_job },

    { NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE, "slack page", "victorops",
      ngx_http_victorops_vo_job },

    { NGX_HTTP_VICTOROPS_JOB_SLACK_REPLY, "slack reply", "slack",
      ngx_http_victorops_slack_reply_send },

    /* a VictorOps delivery, alert or activity as decided at dispatch */

    { NGX_HTTP_VICTOROPS_JOB_EVENT, "event", "rootly",
      ngx_http_victorops_rootly_send },

    { 0, NULL, NULL, NULL }
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


/* NULL: a kind this module does not know */

ngx_http_victorops_kind_t *
ngx_http_victorops_job_kind(ngx_uint_t kind)
{
    ngx_http_victorops_kind_t  *k;

    for (k = ngx_http_victorops_kinds; k->send; k++) {
        if (k->kind == kind) {
            return k;
        }
    }

    return NULL;
}


/*
 * A claimed job, kept in "pool" while its call is under way (the
 * dispatcher's copy goes away with the dispatch); its strings end in
 * a NUL, its body is left out.
 */

ngx_http_victorops_job_t *
ngx_http_victorops_job_copy(ngx_pool_t *pool, ngx_http_victorops_job_t *job)
{
    ngx_http_victorops_job_t  *copy;

    copy = ngx_palloc(pool, sizeof(ngx_http_victorops_job_t));
    if (copy == NULL) {
        return NULL;
    }

    *copy = *job;

    ngx_str_null(&copy->body);
    ngx_str_null(&copy->link_incident);
    ngx_str_null(&copy->link_alert);

    if (ngx_http_victorops_job_str(pool, &copy->id, &job->id) != NGX_OK
        || ngx_http_victorops_job_str(pool, &copy->key, &job->key) != NGX_OK
        || ngx_http_victorops_job_str(pool, &copy->incident, &job->incident)
           != NGX_OK
        || ngx_http_victorops_job_str(pool, &copy->entity, &job->entity)
           != NGX_OK)
    {
        return NULL;
    }

    return copy;
}


/* a copy of "src" in "pool", NUL-terminated */

static ngx_int_t
ngx_http_victorops_job_str(ngx_pool_t *pool, ngx_str_t *dst, ngx_str_t *src)
{
    dst->len = src->len;
    dst->data = ngx_pnalloc(pool, src->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(dst->data, src->data, src->len) = '\0';

    return NGX_OK;
}


/*
 * Effects: the links a finished job changes and the jobs it leaves to
 * do (a timeline event after a page), written with its outcome, in a
 * pool of their own that goes with them.
 */

ngx_http_victorops_effects_t *
ngx_http_victorops_effects_create(ngx_log_t *log)
{
    ngx_pool_t                    *pool;
    ngx_http_victorops_effects_t  *fx;

    pool = ngx_create_pool(2048, log);
    if (pool == NULL) {
        return NULL;
    }

    fx = ngx_http_victorops_effects_alloc(pool);
    if (fx == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    return fx;
}


/* effects in a pool they do not own: an accepted job's, the request's */

ngx_http_victorops_effects_t *
ngx_http_victorops_effects_alloc(ngx_pool_t *pool)
{
    ngx_http_victorops_effects_t  *fx;

    fx = ngx_palloc(pool, sizeof(ngx_http_victorops_effects_t));
    if (fx == NULL
        || ngx_array_init(&fx->links, pool, 2,
                          sizeof(ngx_http_victorops_link_t))
           != NGX_OK
        || ngx_array_init(&fx->jobs, pool, 2,
                          sizeof(ngx_http_victorops_job_t))
           != NGX_OK)
    {
        return NULL;
    }

    fx->pool = pool;

    return fx;
}


/* a new job about the same incident as "from", copied into the effects */

ngx_http_victorops_job_t *
ngx_http_victorops_effects_job(ngx_http_victorops_effects_t *fx,
    ngx_http_victorops_job_t *from, ngx_uint_t kind, ngx_str_t *body)
{
    ngx_http_victorops_job_t  *job;

    job = ngx_array_push(&fx->jobs);
    if (job == NULL) {
        return NULL;
    }

    ngx_memzero(job, sizeof(ngx_http_victorops_job_t));

    job->integration = from->integration;
    job->kind = kind;

    if (ngx_http_victorops_job_id(fx->pool, &job->id) != NGX_OK) {
        return NULL;
    }

    job->key.data = ngx_pstrdup(fx->pool, &from->key);
    job->key.len = from->key.len;
    job->incident.data = ngx_pstrdup(fx->pool, &from->incident);
    job->incident.len = from->incident.len;
    job->body.data = ngx_pstrdup(fx->pool, body);
    job->body.len = body->len;

    if ((from->key.len && job->key.data == NULL)
        || (from->incident.len && job->incident.data == NULL)
        || (body->len && job->body.data == NULL))
    {
        return NULL;
    }

    return job;
}


/* a change to a link in the effects: zeroed, but for its "op" */

ngx_http_victorops_link_t *
ngx_http_victorops_effects_link(ngx_http_victorops_effects_t *fx,
    ngx_uint_t op)
{
    ngx_http_victorops_link_t  *link;

    link = ngx_array_push(&fx->links);
    if (link == NULL) {
        return NULL;
    }

    ngx_memzero(link, sizeof(ngx_http_victorops_link_t));

    link->op = op;

    return link;
}
