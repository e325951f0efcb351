
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The "victorops_import_teams" handler: POST (bearer admin_token) reads
 * the VictorOps teams and creates or updates a Rootly team for each,
 * with its victor_ops_id, which escalation and on-call responders then
 * use.  Idempotent; one call at a time to each API, VictorOps within
 * api_rate, Rootly's rate-limit pause honoured; "?dry_run=1" answers
 * the plan without writing.  One import at a time per integration
 * (import_lock.c): another one meanwhile is answered 409.  An import
 * stops when the worker is asked to exit: the client, if still there,
 * gets 503.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_I_LIST        0
#define NGX_HTTP_VICTOROPS_I_FIND        1
#define NGX_HTTP_VICTOROPS_I_CREATE      2
#define NGX_HTTP_VICTOROPS_I_UPDATE      3

/* how often a running import looks whether the worker is exiting */
#define NGX_HTTP_VICTOROPS_I_WATCH       200


typedef struct {
    ngx_str_t                          name;
    ngx_str_t                          error;
} ngx_http_victorops_import_failed_t;


typedef struct {
    ngx_pool_t                        *pool;
    ngx_http_request_t                *request;   /* NULL: the client left */
    ngx_http_victorops_integration_t  *vi;
    ngx_pool_cleanup_t                *cln;
    ngx_http_victorops_transfer_t     *t;         /* the call in flight */
    ngx_event_t                        wait;
    ngx_event_t                        watch;
    ngx_connection_t                   dummy;
    ngx_uint_t                         dry_run;
    ngx_uint_t                         step;
    ngx_uint_t                         next;
    ngx_str_t                          rootly_id;
    ngx_array_t                        teams;      /* vo_team_t */
    ngx_array_t                        created;    /* ngx_str_t */
    ngx_array_t                        updated;
    ngx_array_t                        unchanged;
    ngx_array_t                        failed;     /* import_failed_t */
    ngx_http_victorops_import_lock_t   lock;       /* not in a dry run */
} ngx_http_victorops_import_t;


static ngx_http_victorops_import_t *ngx_http_victorops_import_create(
    ngx_http_request_t *r, ngx_http_victorops_integration_t *vi);
static void ngx_http_victorops_import_locked(
    ngx_http_victorops_import_lock_t *lk, ngx_int_t rc);
static void ngx_http_victorops_import_begin(ngx_http_victorops_import_t *ctx);
static void ngx_http_victorops_import_step(ngx_event_t *ev);
static void ngx_http_victorops_import_watch(ngx_event_t *ev);
static void ngx_http_victorops_import_free(ngx_http_victorops_import_t *ctx);
static ngx_int_t ngx_http_victorops_import_call(
    ngx_http_victorops_import_t *ctx);
static ngx_http_victorops_transfer_t *ngx_http_victorops_import_rootly(
    ngx_http_victorops_import_t *ctx, const char *method, ngx_str_t *path,
    ngx_str_t *body);
static void ngx_http_victorops_import_answer(
    ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_import_listed(ngx_http_victorops_import_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now);
static void ngx_http_victorops_import_reason(ngx_http_victorops_transfer_t *t,
    ngx_str_t *reason);
static void ngx_http_victorops_import_found(ngx_http_victorops_import_t *ctx,
    ngx_http_victorops_transfer_t *t);
static ngx_int_t ngx_http_victorops_import_push(ngx_pool_t *pool,
    ngx_array_t *list, ngx_str_t *name);
static void ngx_http_victorops_import_fail(ngx_http_victorops_import_t *ctx,
    ngx_str_t *error);
static void ngx_http_victorops_import_end(ngx_http_victorops_import_t *ctx,
    ngx_uint_t status, const char *error);
static ngx_int_t ngx_http_victorops_import_report(yajl_gen g,
    ngx_http_victorops_import_t *ctx);
static ngx_int_t ngx_http_victorops_import_list(yajl_gen g, const char *key,
    ngx_array_t *list);
static void ngx_http_victorops_import_cleanup(void *data);


ngx_int_t
ngx_http_victorops_import_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_str_t                          msg;
    ngx_http_victorops_import_t       *ctx;
    ngx_http_victorops_loc_conf_t     *vlcf;
    ngx_http_victorops_integration_t  *vi;

    if (!(r->method & NGX_HTTP_POST)) {
        return ngx_http_victorops_not_allowed(r, "POST");
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_victorops_module);
    vi = vlcf->integration;

    if (ngx_http_victorops_bearer(r, vi->admin_tokens) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "victorops integration \"%V\": team import from %V "
                      "unauthorized", &vi->name, &r->connection->addr_text);

        ngx_str_set(&msg, "unauthorized");
        return ngx_http_victorops_error(r, NGX_HTTP_UNAUTHORIZED, &msg);
    }

    ctx = ngx_http_victorops_import_create(r, vi);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a dry run writes nothing: it neither waits for nor holds the lock */

    rc = ctx->dry_run ? NGX_OK : ngx_http_victorops_import_lock(&ctx->lock);

    switch (rc) {

    case NGX_OK:
        break;

    case NGX_AGAIN:
        r->main->count++;
        return NGX_DONE;

    case NGX_DECLINED:
        ctx->cln->handler = NULL;
        ngx_http_victorops_import_free(ctx);

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "victorops integration \"%V\": team import refused: "
                      "another one is running", &vi->name);

        ngx_str_set(&msg, "a team import is already running");
        return ngx_http_victorops_error(r, NGX_HTTP_CONFLICT, &msg);

    default: /* NGX_ERROR: PostgreSQL unavailable, or out of memory */
        ctx->cln->handler = NULL;
        ngx_http_victorops_import_free(ctx);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "victorops integration \"%V\": team import not "
                      "started: its %s could not be taken", &vi->name,
                      vi->store_pg ? "lease in PostgreSQL" : "lock");

        ngx_str_set(&msg, "the store is unavailable: run the team import "
                          "again");
        return ngx_http_victorops_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        &msg);
    }

    r->main->count++;

    ngx_http_victorops_import_begin(ctx);

    return NGX_DONE;
}


/* PostgreSQL's answer about the lock (a lease of "leases") */

static void
ngx_http_victorops_import_locked(ngx_http_victorops_import_lock_t *lk,
    ngx_int_t rc)
{
    ngx_http_victorops_import_t  *ctx;

    ctx = lk->data;

    if (ctx->request == NULL) {

        /* the client left meanwhile */

        ngx_http_victorops_import_free(ctx);
        return;
    }

    switch (rc) {

    case NGX_OK:
        ngx_http_victorops_import_begin(ctx);
        return;

    case NGX_DECLINED:
        ngx_log_error(NGX_LOG_NOTICE, ctx->request->connection->log, 0,
                      "victorops integration \"%V\": team import refused: "
                      "another one is running (node \"%V\")",
                      &ctx->vi->name, &lk->holder);

        ngx_http_victorops_import_end(ctx, NGX_HTTP_CONFLICT,
                                      "a team import is already running");
        return;

    default:
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "victorops integration \"%V\": team import not "
                      "started: its lease in PostgreSQL could not be "
                      "taken", &ctx->vi->name);

        ngx_http_victorops_import_end(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "the store is unavailable: run the "
                                      "team import again");
    }
}


static void
ngx_http_victorops_import_begin(ngx_http_victorops_import_t *ctx)
{
    ngx_add_timer(&ctx->watch, NGX_HTTP_VICTOROPS_I_WATCH);

    ngx_log_error(NGX_LOG_NOTICE, ctx->request->connection->log, 0,
                  "victorops integration \"%V\": team import%s started",
                  &ctx->vi->name, ctx->dry_run ? " (dry run)" : "");

    ngx_http_victorops_import_step(&ctx->wait);
}


/* an import's context: it may outlive the request, and its log */

static ngx_http_victorops_import_t *
ngx_http_victorops_import_create(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi)
{
    ngx_str_t                     arg;
    ngx_pool_t                   *pool;
    ngx_http_victorops_import_t  *ctx;

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_victorops_import_t));
    if (ctx == NULL
        || ngx_array_init(&ctx->teams, pool, 16,
                          sizeof(ngx_http_victorops_vo_team_t))
           != NGX_OK
        || ngx_array_init(&ctx->created, pool, 8, sizeof(ngx_str_t))
           != NGX_OK
        || ngx_array_init(&ctx->updated, pool, 8, sizeof(ngx_str_t))
           != NGX_OK
        || ngx_array_init(&ctx->unchanged, pool, 8, sizeof(ngx_str_t))
           != NGX_OK
        || ngx_array_init(&ctx->failed, pool, 2,
                          sizeof(ngx_http_victorops_import_failed_t))
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NULL;
    }

    ctx->cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx->cln == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    ctx->pool = pool;
    ctx->request = r;
    ctx->vi = vi;
    ctx->dry_run = (ngx_http_victorops_arg(r, "dry_run", &arg) == NGX_OK
                    && !(arg.len == 1 && arg.data[0] == '0'));

    ctx->cln->handler = ngx_http_victorops_import_cleanup;
    ctx->cln->data = ctx;

    ctx->dummy.fd = (ngx_socket_t) -1;
    ctx->dummy.data = ctx;
    ctx->wait.handler = ngx_http_victorops_import_step;
    ctx->wait.data = &ctx->dummy;
    ctx->wait.log = ngx_cycle->log;
    ctx->wait.cancelable = 1;

    /* not cancelable: an exiting worker waits for it to stop the import */

    ctx->watch.handler = ngx_http_victorops_import_watch;
    ctx->watch.data = &ctx->dummy;
    ctx->watch.log = ngx_cycle->log;

    ctx->lock.vi = vi;
    ctx->lock.pool = pool;
    ctx->lock.handler = ngx_http_victorops_import_locked;
    ctx->lock.data = ctx;

    return ctx;
}


/* the next call, when its API lets us make it */

static void
ngx_http_victorops_import_step(ngx_event_t *ev)
{
    int64_t                       wait;
    ngx_uint_t                    peer;
    ngx_connection_t             *c;
    ngx_http_victorops_import_t  *ctx;

    c = ev->data;
    ctx = c->data;

    if (ctx->request == NULL) {
        ngx_http_victorops_import_free(ctx);
        return;
    }

    /* the team list from VictorOps, then calls to Rootly */

    peer = (ctx->step == NGX_HTTP_VICTOROPS_I_LIST)
           ? NGX_HTTP_VICTOROPS_PEER_VO : NGX_HTTP_VICTOROPS_PEER_ROOTLY;

    if (ngx_http_victorops_peer_wait(ctx->vi, peer, ngx_http_victorops_now(),
                                     &ctx->wait, 0, &wait)
        != NGX_OK)
    {
        return;
    }

    if (ngx_http_victorops_import_call(ctx) != NGX_OK) {
        ngx_http_victorops_import_end(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "internal error");
    }
}


static ngx_int_t
ngx_http_victorops_import_call(ngx_http_victorops_import_t *ctx)
{
    u_char                         *p;
    ngx_str_t                       path, body;
    ngx_http_victorops_vo_team_t   *team;
    ngx_http_victorops_transfer_t  *t;

    team = &((ngx_http_victorops_vo_team_t *) ctx->teams.elts)[ctx->next];

    switch (ctx->step) {

    case NGX_HTTP_VICTOROPS_I_LIST:
        t = ngx_http_victorops_vo_transfer(ctx->vi, "GET",
                                           "/api-public/v1/team", NULL);
        if (t == NULL) {
            return NGX_ERROR;
        }

        t->what = "team list";
        break;

    case NGX_HTTP_VICTOROPS_I_FIND:
        p = ngx_pnalloc(ctx->pool, sizeof("/v1/teams?filter%5Bname%5D=")
                                   + 3 * team->name.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        path.data = p;
        p = ngx_cpymem(p, "/v1/teams?filter%5Bname%5D=",
                       sizeof("/v1/teams?filter%5Bname%5D=") - 1);
        p = (u_char *) ngx_escape_uri(p, team->name.data, team->name.len,
                                      NGX_ESCAPE_URI_COMPONENT);
        path.len = p - path.data;

        t = ngx_http_victorops_import_rootly(ctx, "GET", &path, NULL);
        break;

    default: /* NGX_HTTP_VICTOROPS_I_CREATE, NGX_HTTP_VICTOROPS_I_UPDATE */
        if (ngx_http_victorops_rootly_team(ctx->pool, team, &body)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ctx->step == NGX_HTTP_VICTOROPS_I_CREATE) {
            ngx_str_set(&path, "/v1/teams");
            t = ngx_http_victorops_import_rootly(ctx, "POST", &path, &body);
            break;
        }

        p = ngx_pnalloc(ctx->pool, sizeof("/v1/teams/")
                                   + 3 * ctx->rootly_id.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        path.data = p;
        p = ngx_cpymem(p, "/v1/teams/", sizeof("/v1/teams/") - 1);
        p = (u_char *) ngx_escape_uri(p, ctx->rootly_id.data,
                                      ctx->rootly_id.len,
                                      NGX_ESCAPE_URI_COMPONENT);
        path.len = p - path.data;

        t = ngx_http_victorops_import_rootly(ctx, "PUT", &path, &body);
        break;
    }

    if (t == NULL) {
        return NGX_ERROR;
    }

    t->handler = ngx_http_victorops_import_answer;
    t->data = ctx;

    if (ngx_http_victorops_transfer_start(t) != NGX_OK) {
        ngx_destroy_pool(t->pool);
        return NGX_ERROR;
    }

    ctx->t = t;

    return NGX_OK;
}


static ngx_http_victorops_transfer_t *
ngx_http_victorops_import_rootly(ngx_http_victorops_import_t *ctx,
    const char *method, ngx_str_t *path, ngx_str_t *body)
{
    ngx_http_victorops_transfer_t  *t;

    t = ngx_http_victorops_transfer_create(ngx_cycle->log);
    if (t == NULL) {
        return NULL;
    }

    if (ngx_http_victorops_rootly_request(t, ctx->vi, method, path, body)
        != NGX_OK)
    {
        ngx_destroy_pool(t->pool);
        return NULL;
    }

    /* not taken back by a 429 of the queue: it waits on its own */

    t->owner = ctx->vi->vo;
    t->what = "team import";

    return t;
}


static void
ngx_http_victorops_import_answer(ngx_http_victorops_transfer_t *t)
{
    int64_t                        now, until;
    ngx_str_t                      reason;
    ngx_http_victorops_import_t   *ctx;
    ngx_http_victorops_vo_team_t  *team;

    ctx = t->data;
    ctx->t = NULL;

    if (ctx->request == NULL) {
        ngx_http_victorops_import_free(ctx);
        return;
    }

    if (t->code == CURLE_ABORTED_BY_CALLBACK) {
        ngx_http_victorops_import_end(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "nginx is shutting down: the team "
                                      "import stopped, run it again");
        return;
    }

    now = ngx_http_victorops_now();

    if (ctx->step == NGX_HTTP_VICTOROPS_I_LIST) {
        ngx_http_victorops_import_listed(ctx, t, now);
        return;
    }

    team = &((ngx_http_victorops_vo_team_t *) ctx->teams.elts)[ctx->next];

    /* Rootly: a rate limit means the same call again, later */

    if (t->code == CURLE_OK && t->status == 429) {
        until = ngx_http_victorops_peer_retry_at(t, now);

        ngx_http_victorops_peer_pause(ctx->vi, NGX_HTTP_VICTOROPS_PEER_ROOTLY,
                                      until);

        /* a reset in the past, or far away: between 1 s and a minute */

        until = ngx_max(until, now + 1000);
        until = ngx_min(until, now + 60000);

        ngx_add_timer(&ctx->wait, (ngx_msec_t) (until - now));
        return;
    }

    if (t->code != CURLE_OK || t->status < 200 || t->status >= 300) {
        ngx_http_victorops_import_reason(t, &reason);

        ngx_log_error(NGX_LOG_ERR, t->log, 0,
                      "victorops integration \"%V\": team import: Rootly "
                      "team \"%V\" failed: %V", &ctx->vi->name, &team->name,
                      &reason);

        ngx_http_victorops_import_fail(ctx, &reason);
        return;
    }

    switch (ctx->step) {

    case NGX_HTTP_VICTOROPS_I_FIND:
        ngx_http_victorops_import_found(ctx, t);
        return;

    case NGX_HTTP_VICTOROPS_I_CREATE:
        (void) ngx_http_victorops_import_push(ctx->pool, &ctx->created,
                                              &team->name);
        break;

    default: /* NGX_HTTP_VICTOROPS_I_UPDATE */
        (void) ngx_http_victorops_import_push(ctx->pool, &ctx->updated,
                                              &team->name);
        break;
    }

    ngx_log_error(NGX_LOG_INFO, t->log, 0,
                  "victorops integration \"%V\": team import: Rootly team "
                  "\"%V\" %s with victor_ops_id \"%V\"", &ctx->vi->name,
                  &team->name,
                  ctx->step == NGX_HTTP_VICTOROPS_I_CREATE ? "created"
                                                           : "updated",
                  &team->slug);

    ngx_http_victorops_import_fail(ctx, NULL);
}


/* the VictorOps team list (GET /api-public/v1/team): on to Rootly */

static void
ngx_http_victorops_import_listed(ngx_http_victorops_import_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now)
{
    int64_t  until;

    if (ngx_http_victorops_vo_answer(ctx->vi, t, now, &until) != NGX_OK
        || ngx_http_victorops_vo_teams(ctx->pool, &t->response, &ctx->teams)
           != NGX_OK)
    {
        ngx_http_victorops_import_end(ctx, NGX_HTTP_BAD_GATEWAY,
                                      "VictorOps teams could not be read: "
                                      "see victorops.last_error in the "
                                      "status");
        return;
    }

    ngx_log_error(NGX_LOG_INFO, t->log, 0,
                  "victorops integration \"%V\": team import: %ui "
                  "VictorOps teams", &ctx->vi->name, ctx->teams.nelts);

    if (ctx->teams.nelts == 0) {
        ngx_http_victorops_import_end(ctx, NGX_HTTP_OK, NULL);
        return;
    }

    ctx->step = NGX_HTTP_VICTOROPS_I_FIND;
    ngx_http_victorops_import_step(&ctx->wait);
}


/* why a call to Rootly failed: libcurl's error, else Rootly's answer */

static void
ngx_http_victorops_import_reason(ngx_http_victorops_transfer_t *t,
    ngx_str_t *reason)
{
    ngx_str_t  rid, id;

    if (ngx_http_victorops_transfer_error(t, reason) != NGX_OK) {
        return;
    }

    ngx_http_victorops_rootly_response(t, &rid, &id);

    reason->data = ngx_pnalloc(t->pool, id.len + 64);
    if (reason->data == NULL) {
        ngx_str_set(reason, "rootly refused it");
        return;
    }

    reason->len = ngx_sprintf(reason->data, "rootly answered %l%s%V",
                              t->status, id.len ? ": " : "", &id)
                  - reason->data;
}


/* GET /v1/teams?filter[name]=: create, update or leave it */

static void
ngx_http_victorops_import_found(ngx_http_victorops_import_t *ctx,
    ngx_http_victorops_transfer_t *t)
{
    ngx_str_t                      name, vo_id, description, s;
    ngx_http_victorops_json_t     *root, *v;
    ngx_http_victorops_vo_team_t  *team;

    team = &((ngx_http_victorops_vo_team_t *) ctx->teams.elts)[ctx->next];

    if (ngx_http_victorops_json_parse(t->pool, &t->response,
                                      NGX_HTTP_VICTOROPS_RESP_DEPTH, &root)
        != NGX_OK)
    {
        ngx_str_set(&s, "unreadable answer to GET /v1/teams");
        ngx_http_victorops_import_fail(ctx, &s);
        return;
    }

    ngx_str_set(&s, "data");
    v = ngx_http_victorops_json_lookup(root, &s);

    ngx_str_null(&ctx->rootly_id);

    for (v = (v && v->type == NGX_HTTP_VICTOROPS_JSON_ARRAY) ? v->child
                                                            : NULL;
         v;
         v = v->next)
    {
        if (ngx_http_victorops_json_text(v, "attributes.name", &name)
            != NGX_OK
            || name.len != team->name.len
            || ngx_strncasecmp(name.data, team->name.data, name.len) != 0
            || ngx_http_victorops_json_text(v, "id", &s) != NGX_OK)
        {
            continue;
        }

        ctx->rootly_id.data = ngx_pstrdup(ctx->pool, &s);
        ctx->rootly_id.len = s.len;

        (void) ngx_http_victorops_json_text(v, "attributes.victor_ops_id",
                                            &vo_id);
        (void) ngx_http_victorops_json_text(v, "attributes.description",
                                            &description);

        if (vo_id.len == team->slug.len
            && ngx_strncmp(vo_id.data, team->slug.data, vo_id.len) == 0
            && description.len == sizeof("VictorOps team ") - 1
                                  + team->slug.len
            && ngx_strncmp(description.data, "VictorOps team ",
                           sizeof("VictorOps team ") - 1) == 0)
        {
            (void) ngx_http_victorops_import_push(ctx->pool, &ctx->unchanged,
                                                  &team->name);
            ngx_http_victorops_import_fail(ctx, NULL);
            return;
        }

        break;
    }

    ctx->step = ctx->rootly_id.len ? NGX_HTTP_VICTOROPS_I_UPDATE
                                   : NGX_HTTP_VICTOROPS_I_CREATE;

    if (ctx->dry_run) {
        (void) ngx_http_victorops_import_push(ctx->pool,
                              ctx->step == NGX_HTTP_VICTOROPS_I_CREATE
                              ? &ctx->created : &ctx->updated, &team->name);
        ngx_http_victorops_import_fail(ctx, NULL);
        return;
    }

    ngx_http_victorops_import_step(&ctx->wait);
}


/* the team is done ("error": failed), on to the next or the answer */

static void
ngx_http_victorops_import_fail(ngx_http_victorops_import_t *ctx,
    ngx_str_t *error)
{
    ngx_http_victorops_vo_team_t       *team;
    ngx_http_victorops_import_failed_t *f;

    team = &((ngx_http_victorops_vo_team_t *) ctx->teams.elts)[ctx->next];

    if (error) {
        f = ngx_array_push(&ctx->failed);
        if (f) {
            f->name = team->name;

            /* recorded as well-formed UTF-8, for the JSON report */

            f->error.len = 0;
            f->error.data = ngx_pnalloc(ctx->pool, 3 * error->len);

            if (f->error.data) {
                f->error.len = ngx_http_victorops_utf8_text(f->error.data,
                                   3 * error->len, error->data, error->len)
                               - f->error.data;
            }
        }
    }

    if (++ctx->next == ctx->teams.nelts) {
        ngx_http_victorops_import_end(ctx, NGX_HTTP_OK, NULL);
        return;
    }

    ctx->step = NGX_HTTP_VICTOROPS_I_FIND;
    ngx_http_victorops_import_step(&ctx->wait);
}


static ngx_int_t
ngx_http_victorops_import_push(ngx_pool_t *pool, ngx_array_t *list,
    ngx_str_t *name)
{
    ngx_str_t  *s;

    s = ngx_array_push(list);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = *name;

    return NGX_OK;
}


/*
 * {"dry_run":false,"created":[...],"updated":[...],"unchanged":[...],
 *  "failed":[{"name","error"}]}, or {"error":...}
 */

static void
ngx_http_victorops_import_end(ngx_http_victorops_import_t *ctx,
    ngx_uint_t status, const char *error)
{
    yajl_gen             g;
    ngx_str_t            body;
    ngx_http_request_t  *r;

    r = ctx->request;

    ctx->cln->handler = NULL;

    g = ngx_http_victorops_gen_create(r->pool);

    if (g == NULL || yajl_gen_map_open(g) != yajl_gen_status_ok) {
        goto failed;
    }

    if (error) {
        if (ngx_http_victorops_gen_cstr(g, "error") != NGX_OK
            || ngx_http_victorops_gen_cstr(g, error) != NGX_OK)
        {
            goto failed;
        }

    } else {
        if (ngx_http_victorops_import_report(g, ctx) != NGX_OK) {
            goto failed;
        }

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "victorops integration \"%V\": team import%s: %ui "
                      "created, %ui updated, %ui unchanged, %ui failed",
                      &ctx->vi->name, ctx->dry_run ? " (dry run)" : "",
                      ctx->created.nelts, ctx->updated.nelts,
                      ctx->unchanged.nelts, ctx->failed.nelts);
    }

    if (yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, r->pool, &body) != NGX_OK)
    {
        goto failed;
    }

    body.len++;

    ngx_http_victorops_import_free(ctx);

    ngx_http_finalize_request(r, ngx_http_victorops_send(r, status,
                                                         "application/json",
                                                         &body));
    return;

failed:

    ngx_http_victorops_import_free(ctx);
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
}


/* the members of an import's answer */

static ngx_int_t
ngx_http_victorops_import_report(yajl_gen g, ngx_http_victorops_import_t *ctx)
{
    ngx_uint_t                           i;
    ngx_http_victorops_import_failed_t  *f;

    if (ngx_http_victorops_gen_cstr(g, "dry_run") != NGX_OK
        || yajl_gen_bool(g, ctx->dry_run) != yajl_gen_status_ok
        || ngx_http_victorops_import_list(g, "created", &ctx->created)
           != NGX_OK
        || ngx_http_victorops_import_list(g, "updated", &ctx->updated)
           != NGX_OK
        || ngx_http_victorops_import_list(g, "unchanged", &ctx->unchanged)
           != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "failed") != NGX_OK
        || yajl_gen_array_open(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    f = ctx->failed.elts;

    for (i = 0; i < ctx->failed.nelts; i++) {
        if (yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_http_victorops_gen_str(g, "name", &f[i].name) != NGX_OK
            || ngx_http_victorops_gen_str(g, "error", &f[i].error) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }
    }

    return (yajl_gen_array_close(g) == yajl_gen_status_ok) ? NGX_OK
                                                           : NGX_ERROR;
}


static ngx_int_t
ngx_http_victorops_import_list(yajl_gen g, const char *key,
    ngx_array_t *list)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    if (ngx_http_victorops_gen_cstr(g, key) != NGX_OK
        || yajl_gen_array_open(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    s = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (yajl_gen_string(g, s[i].data, s[i].len) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }
    }

    return (yajl_gen_array_close(g) == yajl_gen_status_ok) ? NGX_OK
                                                           : NGX_ERROR;
}


/*
 * The worker is asked to exit (SIGQUIT, a reload): the import stops at
 * once, its call in flight aborted, so the worker need not wait for it.
 */

static void
ngx_http_victorops_import_watch(ngx_event_t *ev)
{
    ngx_connection_t             *c;
    ngx_http_victorops_import_t  *ctx;

    c = ev->data;
    ctx = c->data;

    if (!ngx_exiting && !ngx_terminate) {
        ngx_http_victorops_import_lock_renew(&ctx->lock);
        ngx_add_timer(&ctx->watch, NGX_HTTP_VICTOROPS_I_WATCH);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "victorops integration \"%V\": team import stopped: "
                  "nginx is shutting down (%ui of %ui teams done%s)",
                  &ctx->vi->name, ctx->next, ctx->teams.nelts,
                  ctx->request ? "" : ", the client had left");

    if (ctx->t) {

        /* the answer handler ends it */

        ngx_http_victorops_transfer_abort(ctx->t, "nginx is shutting down");
        return;
    }

    if (ctx->request == NULL) {
        ngx_http_victorops_import_free(ctx);
        return;
    }

    ngx_http_victorops_import_end(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "nginx is shutting down: the team import "
                                  "stopped, run it again");
}


static void
ngx_http_victorops_import_free(ngx_http_victorops_import_t *ctx)
{
    if (ctx->wait.timer_set) {
        ngx_del_timer(&ctx->wait);
    }

    if (ctx->watch.timer_set) {
        ngx_del_timer(&ctx->watch);
    }

    ngx_http_victorops_import_unlock(&ctx->lock);

    ngx_destroy_pool(ctx->pool);
}


/*
 * The client went away: the call in flight, or PostgreSQL's answer
 * about the lock, comes without it
 */

static void
ngx_http_victorops_import_cleanup(void *data)
{
    ngx_http_victorops_import_t  *ctx = data;

    ctx->request = NULL;

    if (ctx->t == NULL && !ctx->lock.taking) {
        ngx_http_victorops_import_free(ctx);
    }
}
