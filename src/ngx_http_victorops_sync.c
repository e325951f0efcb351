
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Reconciliation: every sync_interval one worker (the one holding the
 * lease in shared memory) reads both sides of the links still open on
 * either side, GET /api-public/v1/incidents once and GET
 * /v1/incidents/{id} per link, and repairs what a lost webhook missed:
 * resolves in VictorOps what Rootly resolved, adds Rootly activity for
 * VictorOps acknowledgements and resolutions nobody reported.  Repairs
 * are jobs, written in one transaction, sent by the queue.
 *
 * With a PostgreSQL store, one node of all those sharing it runs a round
 * (the lease is a row, ngx_http_victorops_sync_pg.c); the shared memory
 * says when this node's workers look.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_module.h"


/* a VictorOps token so near is waited for, so many times at most */
#define NGX_HTTP_VICTOROPS_SYNC_NEAR     100
#define NGX_HTTP_VICTOROPS_SYNC_TRIES    5


static void ngx_http_victorops_sync_handler(ngx_event_t *ev);
static void ngx_http_victorops_sync_start(ngx_http_victorops_integration_t *vi,
    int64_t now);
static void ngx_http_victorops_sync_vo(ngx_http_victorops_sync_t *s);
static void ngx_http_victorops_sync_token(ngx_event_t *ev);
static ngx_int_t ngx_http_victorops_sync_rootly(ngx_http_victorops_sync_t *s);
static void ngx_http_victorops_sync_vo_done(ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_sync_rootly_done(
    ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_sync_repair(ngx_http_victorops_sync_t *s);
static ngx_int_t ngx_http_victorops_sync_exec(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static ngx_int_t ngx_http_victorops_sync_write_job(
    ngx_http_victorops_sync_t *s, ngx_http_victorops_job_t *job);
static ngx_int_t ngx_http_victorops_sync_write_link(
    ngx_http_victorops_sync_t *s, ngx_http_victorops_link_t *link,
    int64_t now);
static ngx_int_t ngx_http_victorops_sync_activity(ngx_http_victorops_sync_t *s,
    ngx_http_victorops_link_t *link, ngx_http_victorops_vo_incident_t *vo,
    ngx_uint_t class, int64_t now);
static ngx_int_t ngx_http_victorops_sync_resolve(ngx_http_victorops_sync_t *s,
    ngx_uint_t i, int64_t now);


/*
 * In each worker of an integration with VictorOps credentials, after
 * queue_init() (the sync event shares the queue's dummy connection):
 * every worker looks, one at a time runs a round.
 */

ngx_int_t
ngx_http_victorops_sync_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    if (vi->sync_interval == 0) {
        return NGX_OK;
    }

    vi->sync_event.handler = ngx_http_victorops_sync_handler;
    vi->sync_event.data = &vi->dummy;
    vi->sync_event.log = cycle->log;
    vi->sync_event.cancelable = 1;

    ngx_add_timer(&vi->sync_event,
                  ngx_min(vi->sync_interval, 1000) + ngx_random() % 1000);

    return NGX_OK;
}


void
ngx_http_victorops_sync_done(ngx_http_victorops_integration_t *vi)
{
    if (vi->sync_event.timer_set) {
        ngx_del_timer(&vi->sync_event);
    }
}


static void
ngx_http_victorops_sync_handler(ngx_event_t *ev)
{
    int64_t                            now;
    ngx_uint_t                         run;
    ngx_msec_t                         delay;
    ngx_connection_t                  *c;
    ngx_http_victorops_shctx_t        *sh;
    ngx_http_victorops_integration_t  *vi;

    c = ev->data;
    vi = c->data;
    sh = vi->sh;

    if (ngx_exiting || ngx_terminate || ngx_quit
        || !ngx_http_victorops_has_store(vi) || sh == NULL)
    {
        return;
    }

    now = ngx_http_victorops_now();
    run = 0;

    /* the lease: whoever moves sync_next forward runs this round */

    ngx_shmtx_lock(&vi->shpool->mutex);

    /* the first round comes one sync_interval after the start */

    if (sh->sync_next == 0) {
        sh->sync_next = now + (int64_t) vi->sync_interval;
    }

    if (now >= sh->sync_next && !vi->syncing) {

        /* held for the longest a round can take; its end sets the next */

        sh->sync_next = now + (int64_t) vi->sync_interval
                        + (NGX_HTTP_VICTOROPS_SYNC_LINKS + 1)
                          * (int64_t) vi->rootly_timeout;
        run = 1;
    }

    /* looked at every second at most: a round may end before its hold */

    delay = (ngx_msec_t) ngx_min(ngx_max(sh->sync_next - now, 100), 1000);

    ngx_shmtx_unlock(&vi->shpool->mutex);

    ngx_add_timer(&vi->sync_event, delay + ngx_random() % 250);

    if (run) {
        ngx_http_victorops_sync_start(vi, now);
    }
}


static void
ngx_http_victorops_sync_start(ngx_http_victorops_integration_t *vi,
    int64_t now)
{
    ngx_pool_t                 *pool;
    ngx_http_victorops_sync_t  *s;

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    s = ngx_pcalloc(pool, sizeof(ngx_http_victorops_sync_t));
    if (s == NULL
        || ngx_array_init(&s->links, pool, NGX_HTTP_VICTOROPS_SYNC_LINKS,
                          sizeof(ngx_http_victorops_link_t))
           != NGX_OK
        || ngx_array_init(&s->vo, pool, 16,
                          sizeof(ngx_http_victorops_vo_incident_t))
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return;
    }

    s->pool = pool;
    s->vi = vi;
    s->started = now;

    /* PostgreSQL: the lease and the links, then sync_run() */

    if (vi->store_pg) {
        vi->syncing = 1;

        if (ngx_http_victorops_sync_pg_start(s) != NGX_OK) {
            ngx_http_victorops_sync_end(s, 0);
        }

        return;
    }

    if (ngx_http_victorops_store_sync_list(vi, pool,
                                           NGX_HTTP_VICTOROPS_SYNC_LINKS,
                                           &s->links)
        != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return;
    }

    ngx_http_victorops_sync_run(s);
}


/* the links are read: the round runs */

void
ngx_http_victorops_sync_run(ngx_http_victorops_sync_t *s)
{
    ngx_http_victorops_integration_t  *vi;

    vi = s->vi;

    if (s->links.nelts == 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "victorops \"%V\": sync: no open links", &vi->name);
        s->ran = 1;
        ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_SYNC_RUNS);
        ngx_http_victorops_sync_end(s, 1);
        return;
    }

    s->status = ngx_pcalloc(s->pool,
                            3 * s->links.nelts * sizeof(ngx_str_t));
    if (s->status == NULL) {
        ngx_http_victorops_sync_end(s, 0);
        return;
    }

    s->title = s->status + s->links.nelts;
    s->url = s->title + s->links.nelts;

    vi->syncing = 1;

    ngx_http_victorops_sync_vo(s);
}


/*
 * VictorOps first, within api_rate.  A token asked for this node (a
 * PostgreSQL store: budget.c) or due within SYNC_NEAR ms is waited for
 * here, the lease kept, a few times; else the round is skipped, soon
 * again, and is not a round.
 */

static void
ngx_http_victorops_sync_vo(ngx_http_victorops_sync_t *s)
{
    int64_t                            wait, now;
    ngx_http_victorops_transfer_t     *t;
    ngx_http_victorops_integration_t  *vi;

    vi = s->vi;
    now = ngx_http_victorops_now();
    wait = 0;

    if (ngx_http_victorops_peer_token(vi, NGX_HTTP_VICTOROPS_PEER_VO, now,
                                      &wait)
        != NGX_OK)
    {
        if (wait <= NGX_HTTP_VICTOROPS_SYNC_NEAR
            && s->token_tries++ < NGX_HTTP_VICTOROPS_SYNC_TRIES
            && !ngx_exiting && !ngx_terminate && !ngx_quit)
        {
            s->dummy.fd = (ngx_socket_t) -1;
            s->dummy.data = s;

            s->tick.handler = ngx_http_victorops_sync_token;
            s->tick.data = &s->dummy;
            s->tick.log = ngx_cycle->log;
            s->tick.cancelable = 1;

            ngx_add_timer(&s->tick, (ngx_msec_t) ngx_max(wait, 1));
            return;
        }

        ngx_http_victorops_sync_skip(s, ngx_max(wait, 1000));
        return;
    }

    s->ran = 1;
    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_SYNC_RUNS);

    t = ngx_http_victorops_vo_transfer(vi, "GET", "/api-public/v1/incidents",
                                       NULL);
    if (t == NULL) {
        ngx_http_victorops_sync_end(s, 0);
        return;
    }

    t->what = "reconciliation";
    t->handler = ngx_http_victorops_sync_vo_done;
    t->data = s;

    if (ngx_http_victorops_transfer_start(t) != NGX_OK) {
        ngx_destroy_pool(t->pool);
        ngx_http_victorops_sync_end(s, 0);
    }
}


/* the token's wait is over: the round goes on, or stops with the worker */

static void
ngx_http_victorops_sync_token(ngx_event_t *ev)
{
    ngx_connection_t           *c;
    ngx_http_victorops_sync_t  *s;

    c = ev->data;
    s = c->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        ngx_http_victorops_sync_skip(s, 1000);
        return;
    }

    ngx_http_victorops_sync_vo(s);
}


static void
ngx_http_victorops_sync_vo_done(ngx_http_victorops_transfer_t *t)
{
    int64_t                     until;
    ngx_http_victorops_sync_t  *s;

    s = t->data;

    if (t->code == CURLE_ABORTED_BY_CALLBACK) {
        ngx_http_victorops_sync_end(s, 0);
        return;
    }

    if (ngx_http_victorops_vo_answer(s->vi, t, ngx_http_victorops_now(),
                                     &until)
        == NGX_OK
        && ngx_http_victorops_vo_incidents(s->pool, &t->response, &s->vo)
           == NGX_OK)
    {
        s->vo_read = 1;

    } else {
        ngx_log_error(NGX_LOG_WARN, t->log, 0,
                      "victorops integration \"%V\": reconciliation could "
                      "not read VictorOps incidents (%l)", &s->vi->name,
                      t->status);
    }


    if (ngx_http_victorops_sync_rootly(s) != NGX_OK) {
        ngx_http_victorops_sync_repair(s);
    }
}


/* the next link's Rootly incident; NGX_DONE when all are read */

static ngx_int_t
ngx_http_victorops_sync_rootly(ngx_http_victorops_sync_t *s)
{
    u_char                            *p;
    ngx_str_t                          path;
    ngx_http_victorops_link_t         *link;
    ngx_http_victorops_transfer_t     *t;
    ngx_http_victorops_integration_t  *vi;

    vi = s->vi;

    if (s->next >= s->links.nelts
        || ngx_http_victorops_peer_paused(vi, NGX_HTTP_VICTOROPS_PEER_ROOTLY,
                                          ngx_http_victorops_now()))
    {
        return NGX_DONE;
    }

    link = &((ngx_http_victorops_link_t *) s->links.elts)[s->next];

    t = ngx_http_victorops_transfer_create(ngx_cycle->log);
    if (t == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(t->pool, sizeof("/v1/incidents/")
                             + 3 * link->rootly_incident.len);
    if (p == NULL) {
        goto failed;
    }

    path.data = p;
    p = ngx_cpymem(p, "/v1/incidents/", sizeof("/v1/incidents/") - 1);
    p = (u_char *) ngx_escape_uri(p, link->rootly_incident.data,
                                  link->rootly_incident.len,
                                  NGX_ESCAPE_URI_COMPONENT);
    path.len = p - path.data;

    if (ngx_http_victorops_rootly_request(t, vi, "GET", &path, NULL)
        != NGX_OK)
    {
        goto failed;
    }

    t->handler = ngx_http_victorops_sync_rootly_done;
    t->data = s;
    t->what = "reconciliation";

    if (ngx_http_victorops_transfer_start(t) != NGX_OK) {
        goto failed;
    }

    return NGX_OK;

failed:

    ngx_destroy_pool(t->pool);
    return NGX_ERROR;
}


static void
ngx_http_victorops_sync_rootly_done(ngx_http_victorops_transfer_t *t)
{
    ngx_uint_t                  i;
    ngx_http_victorops_sync_t  *s;
    ngx_http_victorops_json_t  *root;

    s = t->data;
    i = s->next++;

    if (t->code == CURLE_OK && t->status == 200
        && ngx_http_victorops_json_parse(s->pool, &t->response, 16, &root)
           == NGX_OK)
    {
        (void) ngx_http_victorops_json_text(root, "data.attributes.status",
                                            &s->status[i]);
        (void) ngx_http_victorops_json_text(root, "data.attributes.title",
                                            &s->title[i]);
        (void) ngx_http_victorops_json_text(root, "data.attributes.url",
                                            &s->url[i]);

        /* the tree is in s->pool; the strings point into t's response */

        s->status[i].data = ngx_pstrdup(s->pool, &s->status[i]);
        s->title[i].data = ngx_pstrdup(s->pool, &s->title[i]);
        s->url[i].data = ngx_pstrdup(s->pool, &s->url[i]);

        if (s->status[i].data == NULL || s->title[i].data == NULL
            || s->url[i].data == NULL)
        {
            ngx_str_null(&s->status[i]);
        }

    } else if (t->code != CURLE_ABORTED_BY_CALLBACK) {
        ngx_log_error(NGX_LOG_WARN, t->log, 0,
                      "victorops integration \"%V\": reconciliation could "
                      "not read Rootly incident (%l)", &s->vi->name,
                      t->status);
    }


    if (ngx_exiting || ngx_terminate || ngx_quit) {
        ngx_http_victorops_sync_end(s, 0);
        return;
    }

    if (ngx_http_victorops_sync_rootly(s) != NGX_OK) {
        ngx_http_victorops_sync_repair(s);
    }
}


/*
 * What both sides said, against what the links know: the repairs, an
 * EXEC, all of them in the writer's transaction or none.
 */

static void
ngx_http_victorops_sync_repair(ngx_http_victorops_sync_t *s)
{
    ngx_http_victorops_integration_t  *vi;

    vi = s->vi;

    if (!ngx_http_victorops_has_store(vi) || vi->closing) {
        ngx_http_victorops_sync_end(s, 0);
        return;
    }

    /* PostgreSQL: the repairs one transaction, built here, sent */

    if (vi->store_pg) {
        if (ngx_http_victorops_sync_pg_repair(s) != NGX_OK) {
            ngx_http_victorops_sync_end(s, 0);
        }

        return;
    }

    s->op.type = NGX_HTTP_VICTOROPS_OP_EXEC;
    s->op.integration = vi;
    s->op.exec = ngx_http_victorops_sync_exec;
    s->op.handler = ngx_http_victorops_sync_repaired;
    s->op.data = s;
    s->op.now = ngx_http_victorops_now();

    ngx_http_victorops_store_post(vi, &s->op);
}


/*
 * On the store's writer; run again on its own if another op of the
 * task failed, so nothing of "s" is changed but what it counts.
 */

static ngx_int_t
ngx_http_victorops_sync_exec(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_int_t                   rc;
    ngx_uint_t                  i;
    ngx_http_victorops_sync_t  *s = op->data;

    s->wvi = wvi;
    s->repairs = 0;

    rc = NGX_OK;

    for (i = 0; i < s->links.nelts && rc == NGX_OK; i++) {
        rc = ngx_http_victorops_sync_link(s, i, op->now, &s->repairs);
    }

    return (rc == NGX_OK) ? NGX_OK : NGX_ERROR;
}


void
ngx_http_victorops_sync_repaired(ngx_http_victorops_store_op_t *op)
{
    ngx_uint_t                         i;
    ngx_http_victorops_sync_t         *s = op->data;
    ngx_http_victorops_integration_t  *vi;

    vi = s->vi;

    if (op->rc == NGX_OK && s->repairs) {
        for (i = 0; i < s->repairs; i++) {
            ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_SYNC_REPAIRS);
        }

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "victorops integration \"%V\": reconciliation of %ui "
                      "links made %ui repairs", &vi->name, s->links.nelts,
                      s->repairs);

        ngx_http_victorops_queue_kick(vi);
    }

    ngx_http_victorops_sync_end(s, op->rc == NGX_OK);
}


/*
 * One link ("i"), in the reconciliation's transaction (SQLite: on the
 * writer; PostgreSQL: on the loop, its writes added to the batch)
 */

ngx_int_t
ngx_http_victorops_sync_link(ngx_http_victorops_sync_t *s, ngx_uint_t i,
    int64_t now, ngx_uint_t *repairs)
{
    ngx_int_t                          rc;
    ngx_uint_t                         j, class;
    ngx_http_victorops_link_t         *link, l, cur;
    ngx_http_victorops_vo_incident_t  *vo, *found;
    ngx_http_victorops_integration_t  *vi;

    vi = s->vi;
    link = s->links.elts;
    vo = s->vo.elts;
    rc = NGX_OK;
    found = NULL;

    for (j = 0; s->vo_read && j < s->vo.nelts; j++) {
        if (vo[j].number.len == link[i].incident.len
            && ngx_strncmp(vo[j].number.data, link[i].incident.data,
                           link[i].incident.len) == 0)
        {
            found = &vo[j];
            break;
        }
    }

    /* "link" stays as read: this may run again (sync_exec()) */

    cur = link[i];

    /* VictorOps acknowledged or resolved and nobody told Rootly */

    if (found && found->phase > link[i].vo_state) {
        class = (found->phase == NGX_HTTP_VICTOROPS_VO_RESOLVED)
                ? NGX_HTTP_VICTOROPS_RECOVERY : NGX_HTTP_VICTOROPS_ACK;

        rc = ngx_http_victorops_sync_activity(s, &cur, found, class, now);
        (*repairs)++;
    }

    /* Rootly resolved and VictorOps still has it open */

    if (rc == NGX_OK && s->status[i].len
        && ngx_http_victorops_incident_terminal(&s->status[i])
        && link[i].rootly_state == 0)
    {
        if (vi->auto_resolve
            && cur.vo_state < NGX_HTTP_VICTOROPS_VO_RESOLVED
            && (found == NULL
                || found->phase != NGX_HTTP_VICTOROPS_VO_RESOLVED))
        {
            rc = ngx_http_victorops_sync_resolve(s, i, now);

            if (rc == NGX_OK) {
                (*repairs)++;

            } else if (rc == NGX_DECLINED) {
                rc = NGX_OK;        /* a resolve is queued already */
            }

        } else {
            ngx_memzero(&l, sizeof(ngx_http_victorops_link_t));
            l.op = NGX_HTTP_VICTOROPS_LINK_ROOTLY_STATE;
            l.rootly_incident = link[i].rootly_incident;
            l.rootly_state = 1;
            rc = ngx_http_victorops_sync_write_link(s, &l, now);
        }
    }

    if (rc == NGX_OK) {
        l = link[i];
        l.op = NGX_HTTP_VICTOROPS_LINK_SYNCED;
        rc = ngx_http_victorops_sync_write_link(s, &l, now);
    }

    return rc;
}


/* activity for the linked Rootly incident, as a webhook would have made */

static ngx_int_t
ngx_http_victorops_sync_activity(ngx_http_victorops_sync_t *s,
    ngx_http_victorops_link_t *link, ngx_http_victorops_vo_incident_t *vo,
    ngx_uint_t class, int64_t now)
{
    u_char                     *p;
    ngx_http_victorops_job_t    job;
    ngx_http_victorops_link_t   l;

    ngx_memzero(&job, sizeof(ngx_http_victorops_job_t));

    job.integration = s->vi;
    job.kind = NGX_HTTP_VICTOROPS_JOB_ACTIVITY;
    job.class = class;
    job.key = link->key;
    job.incident = link->incident;
    job.entity = link->entity;
    job.created = now;

    if (ngx_http_victorops_job_id(s->pool, &job.id) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(s->pool, 128 + link->incident.len + vo->user.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    job.body.data = p;
    p = ngx_sprintf(p, "VictorOps incident #%V %s", &link->incident,
                    class == NGX_HTTP_VICTOROPS_ACK ? "acknowledged"
                                                    : "resolved");
    if (vo->user.len) {
        p = ngx_sprintf(p, " by %V", &vo->user);
    }

    p = ngx_sprintf(p, " (found by reconciliation)");
    job.body.len = p - job.body.data;

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "victorops integration \"%V\": reconciliation: %V",
                  &s->vi->name, &job.body);

    ngx_memzero(&l, sizeof(ngx_http_victorops_link_t));
    l.op = NGX_HTTP_VICTOROPS_LINK_VO_STATE;
    l.key = link->key;
    l.incident = link->incident;
    l.entity = link->entity;
    l.vo_state = vo->phase;

    if (ngx_http_victorops_sync_write_job(s, &job) != NGX_OK
        || ngx_http_victorops_sync_write_link(s, &l, now) != NGX_OK)
    {
        return NGX_ERROR;
    }

    link->vo_state = vo->phase;

    return NGX_OK;
}


/* Rootly resolved, the webhook never came: a resolve job, once */

static ngx_int_t
ngx_http_victorops_sync_resolve(ngx_http_victorops_sync_t *s, ngx_uint_t i,
    int64_t now)
{
    ngx_int_t                         rc;
    ngx_http_victorops_job_t          job;
    ngx_http_victorops_link_t        *link;
    ngx_http_victorops_escalation_t   esc;

    link = &((ngx_http_victorops_link_t *) s->links.elts)[i];

    ngx_memzero(&job, sizeof(ngx_http_victorops_job_t));

    job.integration = s->vi;
    job.kind = NGX_HTTP_VICTOROPS_JOB_RESOLVE;
    job.incident = link->rootly_incident;
    job.created = now;

    if (ngx_http_victorops_escalation_key(s->pool, &link->rootly_incident,
                                          &job.key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * One resolve of a key unfinished at a time: on PostgreSQL, the
     * batch's insert skips it if one is there (sync_pg_job())
     */

    if (!s->vi->store_pg) {
        rc = ngx_http_victorops_store_job_pending(s->wvi, &job.key,
                                              NGX_HTTP_VICTOROPS_JOB_RESOLVE);
        if (rc != NGX_DECLINED) {
            return (rc == NGX_OK) ? NGX_DECLINED : NGX_ERROR;
        }
    }

    if (ngx_http_victorops_escalation_init(s->pool, &esc) != NGX_OK
        || ngx_http_victorops_job_id(s->pool, &job.id) != NGX_OK)
    {
        return NGX_ERROR;
    }

    esc.id = link->rootly_incident;
    esc.title = s->title[i];
    esc.url = s->url[i];

    if (ngx_http_victorops_escalation_body(s->pool, &esc, &job.body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "victorops integration \"%V\": reconciliation: Rootly "
                  "incident \"%V\" is %V, VictorOps incident #%V is open: "
                  "resolving it (job %V)", &s->vi->name,
                  &link->rootly_incident, &s->status[i], &link->incident,
                  &job.id);

    return ngx_http_victorops_sync_write_job(s, &job);
}


/* a repair's writes: to the writer (SQLite) or to the batch (PostgreSQL) */

static ngx_int_t
ngx_http_victorops_sync_write_job(ngx_http_victorops_sync_t *s,
    ngx_http_victorops_job_t *job)
{
    if (s->vi->store_pg) {
        return ngx_http_victorops_sync_pg_job(s, job);
    }

    return ngx_http_victorops_store_insert(s->wvi, job);
}


static ngx_int_t
ngx_http_victorops_sync_write_link(ngx_http_victorops_sync_t *s,
    ngx_http_victorops_link_t *link, int64_t now)
{
    if (s->vi->store_pg) {
        return ngx_http_victorops_sync_pg_link(s, link);
    }

    return ngx_http_victorops_store_link_write(s->wvi, link, now);
}


void
ngx_http_victorops_sync_end(ngx_http_victorops_sync_t *s, ngx_uint_t ok)
{
    int64_t                            next;
    ngx_http_victorops_integration_t  *vi;

    vi = s->vi;
    vi->syncing = 0;

    next = ok ? (int64_t) vi->sync_interval : NGX_HTTP_VICTOROPS_SYNC_RETRY;

    if (s->token) {
        ngx_http_victorops_sync_pg_release(s, next);
    }

    if (vi->sh) {
        ngx_shmtx_lock(&vi->shpool->mutex);
        vi->sh->sync_last = ngx_time();
        vi->sh->sync_ok = ok;
        vi->sh->sync_next = ngx_http_victorops_now() + next;
        ngx_shmtx_unlock(&vi->shpool->mutex);
    }

    ngx_destroy_pool(s->pool);
}


/*
 * No round now: another node holds the lease, or no VictorOps token;
 * this node looks again after "wait" (a lease held is let go until then)
 */

void
ngx_http_victorops_sync_skip(ngx_http_victorops_sync_t *s, int64_t wait)
{
    ngx_http_victorops_integration_t  *vi;

    vi = s->vi;
    vi->syncing = 0;

    if (s->token) {
        ngx_http_victorops_sync_pg_release(s, wait);
    }

    if (vi->sh) {
        ngx_shmtx_lock(&vi->shpool->mutex);
        vi->sh->sync_next = ngx_http_victorops_now() + wait;
        ngx_shmtx_unlock(&vi->shpool->mutex);
    }

    ngx_destroy_pool(s->pool);
}
