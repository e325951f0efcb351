
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The Rootly sender, shaped like the VictorOps one (vo.c): a claimed
 * job as one Rootly API call, built when it is claimed (decide.c says
 * which; a VictorOps event becomes an alert or activity, and activity
 * goes to whatever Rootly incident or alert is linked by then), and
 * what Rootly's answers mean: delivered, 429 or no calls left (all
 * workers pause), 401/403 (credentials), 5xx and connection
 * errors (retried, and all sends held a while: "Rootly down"), refused
 * (dead letter).  The bodies are rootly_api.c's.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_REASON_MAX    200
#define NGX_HTTP_VICTOROPS_DOWN_MAX      5000
#define NGX_HTTP_VICTOROPS_HOLD          1000


static ngx_int_t ngx_http_victorops_rootly_begin(
    ngx_http_victorops_job_t *job, int64_t now, int64_t *wait);
static ngx_int_t ngx_http_victorops_rootly_call(ngx_http_victorops_job_t *job,
    ngx_pool_t *pool, ngx_uint_t *kind, ngx_http_victorops_call_t *call);
static ngx_int_t ngx_http_victorops_rootly_dispatch(
    ngx_http_victorops_job_t *job, ngx_pool_t *pool,
    ngx_http_victorops_call_facts_t *f, ngx_http_victorops_call_t *call);
static ngx_int_t ngx_http_victorops_rootly_link(ngx_http_victorops_job_t *job,
    ngx_pool_t *pool, ngx_http_victorops_rootly_link_t *link);
static void ngx_http_victorops_rootly_done(ngx_http_victorops_transfer_t *t);
static ngx_int_t ngx_http_victorops_rootly_answer(
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_transfer_t *t,
    int64_t now, ngx_str_t *id, ngx_str_t *reason, int64_t *until);
static void ngx_http_victorops_rootly_down(
    ngx_http_victorops_integration_t *vi, ngx_log_t *log, int64_t now);
static void ngx_http_victorops_rootly_pause(
    ngx_http_victorops_integration_t *vi, int64_t until);


static ngx_str_t  ngx_http_victorops_jsonapi_headers[] = {
    ngx_string("Content-Type: application/vnd.api+json"),
    ngx_string("Accept: application/vnd.api+json"),
    ngx_null_string
};


/*
 * The sender of Rootly jobs (job.c's table): alerts within
 * alert_limit, then the call.  NGX_DECLINED: activity for an incident
 * with nothing linked in Rootly, nothing to send.
 */

ngx_int_t
ngx_http_victorops_rootly_send(ngx_http_victorops_job_t *job, int64_t now,
    int64_t *wait)
{
    ngx_int_t                          rc;
    ngx_http_victorops_integration_t  *vi;

    vi = job->integration;

    rc = ngx_http_victorops_rootly_begin(job, now, wait);

    if (rc == NGX_DECLINED) {
        ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_IGNORED_NO_LINK);
    }

    return rc;
}


/*
 * Starts the Rootly call of a claimed job (also the on-call note a
 * VictorOps job hands over); its outcome is recorded once Rootly
 * answers.  NGX_DECLINED: nothing to send.
 */

ngx_int_t
ngx_http_victorops_rootly_start(ngx_http_victorops_job_t *job)
{
    return ngx_http_victorops_rootly_begin(job, 0, NULL);
}


/*
 * The call, built now (an event job decided first); with "wait", an
 * alert beyond alert_limit waits in the queue, in order (NGX_BUSY).
 */

static ngx_int_t
ngx_http_victorops_rootly_begin(ngx_http_victorops_job_t *job, int64_t now,
    int64_t *wait)
{
    ngx_uint_t                         kind;
    ngx_http_victorops_job_t          *copy;
    ngx_http_victorops_call_t          call;
    ngx_http_victorops_transfer_t     *t;
    ngx_http_victorops_integration_t  *vi;

    vi = job->integration;

    t = ngx_http_victorops_transfer_create(ngx_cycle->log);
    if (t == NULL) {
        return NGX_ERROR;
    }

    switch (ngx_http_victorops_rootly_call(job, t->pool, &kind, &call)) {

    case NGX_OK:
        break;

    case NGX_AGAIN:
        ngx_log_error(NGX_LOG_INFO, t->log, 0,
                      "victorops integration \"%V\": %s for incident "
                      "\"%V\" (job %V) held: nothing linked while a "
                      "VictorOps incident is being created", &vi->name,
                      ngx_http_victorops_class_name(job->class),
                      ngx_http_victorops_job_incident(job), &job->id);

        ngx_destroy_pool(t->pool);

        if (wait == NULL) {
            return NGX_ERROR;
        }

        *wait = NGX_HTTP_VICTOROPS_HOLD;
        return NGX_BUSY;

    default:
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

    if (wait
        && kind == NGX_HTTP_VICTOROPS_JOB_ALERT
        && !vi->alert_limit_reject
        && ngx_http_victorops_alert_token(vi, now, wait) == NGX_BUSY)
    {
        ngx_destroy_pool(t->pool);
        return NGX_BUSY;
    }

    copy = ngx_http_victorops_job_copy(t->pool, job);

    if (copy == NULL
        || ngx_http_victorops_rootly_request(t, vi, "POST", &call.path,
                                             &call.body)
           != NGX_OK)
    {
        goto failed;
    }

    /* what the outcome is about: an event job as decided */

    copy->kind = kind;

    t->handler = ngx_http_victorops_rootly_done;
    t->data = copy;
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


/*
 * The job's Rootly call (decide.c), with the link it may ask for;
 * "kind": the job's, or what an event job was decided to be.
 */

static ngx_int_t
ngx_http_victorops_rootly_call(ngx_http_victorops_job_t *job,
    ngx_pool_t *pool, ngx_uint_t *kind, ngx_http_victorops_call_t *call)
{
    ngx_int_t                        rc;
    ngx_http_victorops_call_facts_t  facts;

    ngx_memzero(&facts, sizeof(ngx_http_victorops_call_facts_t));

    facts.kind = job->kind;
    facts.class = job->class;
    facts.incident = job->incident;
    facts.body = job->body;

    *kind = job->kind;

    if (job->kind == NGX_HTTP_VICTOROPS_JOB_EVENT) {
        rc = ngx_http_victorops_rootly_dispatch(job, pool, &facts, call);

        if (rc != NGX_OK) {
            return (rc == NGX_DECLINED) ? NGX_OK : rc;
        }
    }

    *kind = facts.kind;

    for ( ;; ) {
        if (ngx_http_victorops_decide_call(pool, &facts, call) != NGX_OK) {
            return NGX_ERROR;
        }

        if (call->action != NGX_HTTP_VICTOROPS_CALL_ASK_LINK) {
            return NGX_OK;
        }

        if (ngx_http_victorops_rootly_link(job, pool, &facts.link)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }
}


/*
 * An event job: its payload classified again and decided with the
 * link of its key (decide_dispatch()), then the body of what it
 * became (an alert, or activity text); NGX_DECLINED: nothing linked,
 * "call" says so; NGX_AGAIN: nothing linked while a VictorOps create
 * is under way (a PostgreSQL claim says so): it may be about the
 * incident being created, so it waits for the create's outcome and
 * never becomes a new alert meanwhile.
 */

static ngx_int_t
ngx_http_victorops_rootly_dispatch(ngx_http_victorops_job_t *job,
    ngx_pool_t *pool, ngx_http_victorops_call_facts_t *f,
    ngx_http_victorops_call_t *call)
{
    ngx_http_victorops_json_t            *root;
    ngx_http_victorops_event_t            ev;
    ngx_http_victorops_alert_conf_t       conf;
    ngx_http_victorops_integration_t     *vi;
    ngx_http_victorops_event_decision_t   d;

    vi = job->integration;

    if (ngx_http_victorops_json_parse(pool, &job->body, vi->json_max_depth,
                                      &root)
        != NGX_OK
        || ngx_http_victorops_classify(pool, root, &ev) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "victorops integration \"%V\": job %V: the stored "
                      "event cannot be read", &vi->name, &job->id);
        return NGX_ERROR;
    }

    for ( ;; ) {
        ngx_http_victorops_decide_dispatch(&ev, &f->link, &d);

        if (d.action != NGX_HTTP_VICTOROPS_EVENT_ASK_LINK) {
            break;
        }

        if (ngx_http_victorops_rootly_link(job, pool, &f->link) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (f->link.found == NGX_HTTP_VICTOROPS_FACT_NO && job->link_creating
        && (d.action == NGX_HTTP_VICTOROPS_EVENT_JOB
            || d.why == NGX_HTTP_VICTOROPS_WHY_NO_LINK))
    {
        return NGX_AGAIN;
    }

    if (d.action == NGX_HTTP_VICTOROPS_EVENT_IGNORE) {
        ngx_memzero(call, sizeof(ngx_http_victorops_call_t));
        call->action = NGX_HTTP_VICTOROPS_CALL_NO_LINK;
        call->reason = d.reason;
        return NGX_DECLINED;
    }

    f->kind = d.kind;

    if (d.kind == NGX_HTTP_VICTOROPS_JOB_ALERT) {
        conf.portal_url = vi->portal_url;
        conf.organization = vi->name;

        return ngx_http_victorops_rootly_alert(pool, &ev, &conf, &f->body);
    }

    return ngx_http_victorops_activity_text(pool, &ev, &f->body);
}


/*
 * The link of the job's key, as the store has it now: a PostgreSQL
 * claim read it with the job (no read on the event loop); SQLite's is
 * read from the loop's connection.
 */

static ngx_int_t
ngx_http_victorops_rootly_link(ngx_http_victorops_job_t *job,
    ngx_pool_t *pool, ngx_http_victorops_rootly_link_t *link)
{
    if (job->link_given) {
        if (!job->link_found) {
            link->found = NGX_HTTP_VICTOROPS_FACT_NO;
            return NGX_OK;
        }

        link->found = NGX_HTTP_VICTOROPS_FACT_YES;
        link->incident = job->link_incident;
        link->alert = job->link_alert;

        return NGX_OK;
    }

    if (job->integration->store_pg) {

        /* never read on the loop: only a claim gives the link */

        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "victorops integration \"%V\": job %V needs a link "
                      "its claim did not give", &job->integration->name,
                      &job->id);
        return NGX_ERROR;
    }

    switch (ngx_http_victorops_store_link_get(job->integration, pool,
                                              &job->key, &job->incident,
                                              &job->entity, &link->incident,
                                              &link->alert))
    {
    case NGX_OK:
        link->found = NGX_HTTP_VICTOROPS_FACT_YES;
        return NGX_OK;

    case NGX_DECLINED:
        link->found = NGX_HTTP_VICTOROPS_FACT_NO;
        return NGX_OK;

    default:
        return NGX_ERROR;
    }
}


/*
 * The outcome of one call, from the transfer's completion; the job
 * (a copy in the transfer's pool) goes away with the transfer.
 */

static void
ngx_http_victorops_rootly_done(ngx_http_victorops_transfer_t *t)
{
    int64_t                            now, until;
    ngx_int_t                          rc;
    ngx_str_t                          id, reason;
    ngx_http_victorops_job_t          *job;
    ngx_http_victorops_integration_t  *vi;

    job = t->data;
    vi = job->integration;

    if (!ngx_http_victorops_has_store(vi)) {

        /* the worker exits and its store is closed: nothing to record */

        ngx_http_victorops_queue_leave(job);
        return;
    }

    now = ngx_http_victorops_now();

    if (t->code == CURLE_ABORTED_BY_CALLBACK) {

        /* not sent: the worker exits or Rootly paused us; not an attempt */

        ngx_log_error(NGX_LOG_INFO, t->log, 0,
                      "victorops integration \"%V\": job %V released "
                      "unsent: %s", &vi->name, &job->id, t->error);

        until = ngx_http_victorops_peer_paused(vi,
                                               NGX_HTTP_VICTOROPS_PEER_ROOTLY,
                                               now);

        ngx_http_victorops_job_outcome(job, NGX_HTTP_VICTOROPS_RELEASE,
                                       ngx_max(until, now), 0, NULL, NULL);
        return;
    }

    ngx_http_victorops_queue_kick(vi);

    rc = ngx_http_victorops_rootly_answer(vi, t, now, &id, &reason, &until);

    switch (rc) {

    case NGX_OK:
        ngx_http_victorops_job_delivered(job,
                                  job->kind == NGX_HTTP_VICTOROPS_JOB_ALERT
                                  && id.len ? &id : NULL);
        ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_DELIVERED);

        ngx_log_error(NGX_LOG_INFO, t->log, 0,
                      "victorops integration \"%V\": %s for incident "
                      "\"%V\" (job %V) delivered: rootly answered %l, "
                      "id \"%V\"", &vi->name, t->what,
                      ngx_http_victorops_job_incident(job), &job->id,
                      t->status, &id);
        return;

    case NGX_BUSY:
        ngx_log_error(NGX_LOG_WARN, t->log, 0,
                      "victorops integration \"%V\": rootly rate limit: "
                      "sends paused for %L ms, job %V waits",
                      &vi->name, until - now, &job->id);

        ngx_http_victorops_job_outcome(job, NGX_HTTP_VICTOROPS_RELEASE, until,
                                       0, NULL, NULL);
        return;

    case NGX_AGAIN:
    case NGX_DECLINED:
        ngx_http_victorops_job_retry(job, t, now, &reason);
        return;

    default: /* NGX_ERROR */
        break;
    }

    if (t->status == 400 && job->kind == NGX_HTTP_VICTOROPS_JOB_ACTIVITY
        && job->class == NGX_HTTP_VICTOROPS_ACK)
    {
        /* the alert cannot be acknowledged: it already is, or resolved */

        ngx_log_error(NGX_LOG_INFO, t->log, 0,
                      "victorops integration \"%V\": %s for incident "
                      "\"%V\" (job %V) not needed: rootly answered %l: "
                      "\"%V\"", &vi->name, t->what,
                      ngx_http_victorops_job_incident(job), &job->id,
                      t->status, &reason);

        ngx_http_victorops_job_outcome(job, NGX_HTTP_VICTOROPS_DONE, 0, 0,
                                       NULL, NULL);
        return;
    }

    ngx_http_victorops_job_dead(job, t, now, &reason);
}


/*
 * What Rootly's answer means for every job, as vo_answer() for
 * VictorOps: NGX_OK (2xx: "id" is what Rootly created; with no calls
 * left, sends pause until the window resets), NGX_BUSY (429: sends
 * paused until "until"), NGX_DECLINED (the credentials refused),
 * NGX_AGAIN (unreachable, timed out, 408, 5xx: sends held a while),
 * NGX_ERROR (the request refused); "reason": why not.
 */

static ngx_int_t
ngx_http_victorops_rootly_answer(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_transfer_t *t, int64_t now, ngx_str_t *id,
    ngx_str_t *reason, int64_t *until)
{
    ngx_uint_t  status;

    ngx_str_null(id);

    if (ngx_http_victorops_transfer_error(t, reason) != NGX_OK) {
        ngx_http_victorops_peer_error(vi, NGX_HTTP_VICTOROPS_PEER_ROOTLY, 0,
                                      reason);
        ngx_http_victorops_rootly_down(vi, t->log, now);

        return NGX_AGAIN;
    }

    status = (ngx_uint_t) t->status;

    ngx_http_victorops_rootly_response(t, id, reason);

    if (status >= 200 && status < 300) {
        ngx_http_victorops_peer_success(vi, NGX_HTTP_VICTOROPS_PEER_ROOTLY);

        if (t->ratelimit_remaining == 0 && t->ratelimit_reset) {
            ngx_http_victorops_rootly_pause(vi,
                ngx_min((int64_t) t->ratelimit_reset * 1000,
                        now + NGX_HTTP_VICTOROPS_WAIT_MAX * 1000));
        }

        return NGX_OK;
    }

    ngx_http_victorops_peer_error(vi, NGX_HTTP_VICTOROPS_PEER_ROOTLY, status,
                                  reason);

    switch (status) {

    case 429:
        *until = ngx_http_victorops_peer_retry_at(t, now);

        ngx_http_victorops_rootly_pause(vi, *until);
        ngx_http_victorops_budget_pause(vi, NGX_HTTP_VICTOROPS_PEER_ROOTLY,
                                        now, *until);
        ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_RATE_LIMITED);

        return NGX_BUSY;

    case 401:
    case 403:
        ngx_http_victorops_peer_refused(vi, NGX_HTTP_VICTOROPS_PEER_ROOTLY);

        ngx_log_error(NGX_LOG_ERR, t->log, 0,
                      "victorops integration \"%V\": rootly refused the "
                      "credentials (%ui): check rootly_token", &vi->name,
                      status);

        return NGX_DECLINED;

    case 408:
        break;

    default:
        if (status < 500) {
            return NGX_ERROR;
        }
    }

    ngx_http_victorops_rootly_down(vi, t->log, now);

    return NGX_AGAIN;
}


/*
 * The id of what Rootly created ({"data":{"id":...}}), or a short
 * reason from its errors ({"errors":[{"title","detail"}]} or
 * {"error":"..."}).
 */

void
ngx_http_victorops_rootly_response(ngx_http_victorops_transfer_t *t,
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

    if (body) {
        t->body.data = ngx_pnalloc(t->pool, body->len + 1);
        if (t->body.data == NULL) {
            return NGX_ERROR;
        }

        *ngx_cpymem(t->body.data, body->data, body->len) = '\0';
        t->body.len = body->len;
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


/*
 * Rootly unreachable or failing (connection errors, timeouts, 5xx):
 * besides each job's own backoff, the integration holds all its sends
 * for a while, doubling up to 5 s, so a dead upstream costs one probe
 * at a time instead of a connection attempt for every queued job.
 */

static void
ngx_http_victorops_rootly_down(ngx_http_victorops_integration_t *vi,
    ngx_log_t *log, int64_t now)
{
    int64_t     delay;
    ngx_uint_t  failures;

    if (vi->sh == NULL) {
        return;
    }

    failures = ngx_http_victorops_peer_failure(vi,
                                               NGX_HTTP_VICTOROPS_PEER_ROOTLY);

    delay = ngx_min((int64_t) 500 << ngx_min(failures - 1, 5),
                    NGX_HTTP_VICTOROPS_DOWN_MAX);

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "victorops integration \"%V\": rootly failing (%ui in a "
                  "row): sends held for %L ms", &vi->name, failures, delay);

    ngx_http_victorops_rootly_pause(vi, now + delay);
}


static void
ngx_http_victorops_rootly_pause(ngx_http_victorops_integration_t *vi,
    int64_t until)
{
    if (vi->sh == NULL) {
        return;
    }

    ngx_http_victorops_peer_pause(vi, NGX_HTTP_VICTOROPS_PEER_ROOTLY, until);

    /* sends of this worker not yet on the wire wait for the pause too */

    ngx_http_victorops_curl_release_waiting(vi, "rootly rate limit");
}
