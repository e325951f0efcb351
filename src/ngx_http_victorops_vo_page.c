
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The paging path of the VictorOps sender (vo.c): an escalation, or a
 * Slack page (like an escalation with nothing linked and no Rootly
 * incident).  Its steps: the policies of the VictorOps teams it names
 * (a cache, policies.c), then, as decide.c says, a reroute of the
 * incident linked, a lookup for the incident an earlier attempt may
 * have created (by the mark a create leaves), or a create.  What a
 * page leaves, written with its outcome: the link, a timeline event,
 * the on-call job (oncall_responders); for a Slack page, the reply.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_module.h"
#include "ngx_http_victorops_vo_ctx.h"


static void ngx_http_victorops_vo_escalate_read(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_victorops_vo_escalate_linked(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_int_t rc, int64_t now,
    int64_t *wait);
static void ngx_http_victorops_vo_create_marked(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_victorops_vo_targets(
    ngx_http_victorops_vo_ctx_t *ctx);
static ngx_int_t ngx_http_victorops_vo_find_sink(
    ngx_http_victorops_transfer_t *t, u_char *data, size_t len);
static void ngx_http_victorops_vo_created_ok(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_str_t *number, ngx_str_t *entity, const char *how);
static ngx_int_t ngx_http_victorops_vo_page_link(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_http_victorops_effects_t *fx,
    ngx_str_t *number, ngx_str_t *entity);
static ngx_int_t ngx_http_victorops_vo_slack_paged(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_http_victorops_effects_t *fx,
    ngx_str_t *targets, ngx_str_t *number);
static void ngx_http_victorops_vo_rerouted_ok(
    ngx_http_victorops_vo_ctx_t *ctx);
static void ngx_http_victorops_vo_paged(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_effects_t *fx, ngx_str_t *text);


/*
 * Starts an escalation: what is linked to its Rootly incident (read
 * from the store, on PostgreSQL with a query whose answer goes on),
 * then its teams, unless what is linked makes it moot.
 */

ngx_int_t
ngx_http_victorops_vo_escalate(ngx_http_victorops_vo_ctx_t *ctx, int64_t now,
    int64_t *wait)
{
    ngx_int_t  rc;

    if (ngx_http_victorops_escalation_canon(ctx->pool, &ctx->esc,
                                            &ctx->canon)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_victorops_vo_escalation_read(ctx,
                                         ngx_http_victorops_vo_escalate_read);

    if (rc == NGX_AGAIN) {
        return NGX_OK;      /* under way: the read's answer goes on */
    }

    return ngx_http_victorops_vo_escalate_linked(ctx, rc, now, wait);
}


static void
ngx_http_victorops_vo_escalate_read(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_int_t rc)
{
    int64_t  wait;

    wait = 0;
    rc = ngx_http_victorops_vo_escalate_linked(ctx, rc,
                                               ngx_http_victorops_now(),
                                               &wait);

    ngx_http_victorops_vo_resume(ctx, rc, wait);
}


/* "rc": the link read, NGX_OK (into ctx->link), NGX_DECLINED, NGX_ERROR */

static ngx_int_t
ngx_http_victorops_vo_escalate_linked(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_int_t rc, int64_t now, int64_t *wait)
{
    ngx_http_victorops_integration_t  *vi;
    ngx_http_victorops_vo_decision_t   d;

    vi = ctx->vi;

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    ctx->linked = (rc == NGX_OK);

    ngx_http_victorops_vo_decide(ctx, 0, NGX_HTTP_VICTOROPS_FACT_UNKNOWN, &d);

    if (d.action == NGX_HTTP_VICTOROPS_VO_SAME) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "victorops integration \"%V\": Rootly incident "
                      "\"%V\" already pages VictorOps incident #%V "
                      "(job %V)", &vi->name, &ctx->esc.id,
                      &ctx->link.incident, &ctx->job.id);

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL,
                                     NULL);
        return NGX_DONE;
    }

    if (d.action == NGX_HTTP_VICTOROPS_VO_GONE) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "victorops integration \"%V\": VictorOps incident "
                      "#%V of Rootly incident \"%V\" is resolved, not "
                      "rerouted (job %V)", &vi->name, &ctx->link.incident,
                      &ctx->esc.id, &ctx->job.id);

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL,
                                     NULL);
        return NGX_DONE;
    }

    return ngx_http_victorops_vo_begin(ctx, NGX_HTTP_VICTOROPS_S_TEAMS, now,
                                       wait);
}


/*
 * The policies of the VictorOps teams mapped from Rootly teams, one
 * call a team not cached; then what the job does (decide.c): reroute,
 * look for an earlier create, create, or nobody to page.
 */

ngx_int_t
ngx_http_victorops_vo_teams_request(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t **tp)
{
    ngx_str_t                         *team;
    ngx_uint_t                         pageable;
    ngx_http_victorops_vo_worker_t    *w;
    ngx_http_victorops_integration_t  *vi;
    ngx_http_victorops_vo_decision_t   d;

    vi = ctx->vi;
    w = vi->vo;
    team = ctx->esc.teams.elts;

    while (ctx->team < ctx->esc.teams.nelts) {
        if (ngx_http_victorops_policies_get(w->policies, &team[ctx->team],
                                            ngx_http_victorops_now())
            == NULL)
        {
            *tp = ngx_http_victorops_policies_request(vi, ctx->pool,
                                                      &team[ctx->team]);

            return (*tp == NULL) ? NGX_ERROR : NGX_OK;
        }

        ctx->team++;
    }

    if (ngx_http_victorops_vo_targets(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    pageable = ctx->targets.nelts ? NGX_HTTP_VICTOROPS_FACT_YES
                                  : NGX_HTTP_VICTOROPS_FACT_NO;

    ngx_http_victorops_vo_decide(ctx, 0, pageable, &d);

    switch (d.action) {

    case NGX_HTTP_VICTOROPS_VO_NO_TARGET:
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "victorops integration \"%V\": escalation of "
                      "Rootly incident \"%V\" has no VictorOps target "
                      "(job %V)", &vi->name, &ctx->esc.id, &ctx->job.id);

        ngx_http_victorops_vo_dead(ctx, NULL, &d.reason);
        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RECORDED, NULL,
                                     NULL);
        return NGX_DONE;

    case NGX_HTTP_VICTOROPS_VO_REROUTE:
        ctx->step = NGX_HTTP_VICTOROPS_S_REROUTE;
        break;

    case NGX_HTTP_VICTOROPS_VO_FIND:

        /* an earlier attempt may have created it: look first */

        ctx->step = NGX_HTTP_VICTOROPS_S_FIND;
        break;

    default: /* NGX_HTTP_VICTOROPS_VO_CREATE */
        ctx->step = NGX_HTTP_VICTOROPS_S_CREATE;
        break;
    }

    return NGX_DECLINED;
}


void
ngx_http_victorops_vo_teams_answered(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now)
{
    ngx_str_t                        slug;
    ngx_http_victorops_vo_worker_t  *w;

    w = ctx->vi->vo;
    slug = ((ngx_str_t *) ctx->esc.teams.elts)[ctx->team];

    if (ngx_http_victorops_policies_store(w->policies, &slug, &t->response,
                                          now)
        != NGX_OK)
    {
        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE, NULL,
                                     NULL);
        return;
    }

    ctx->team++;

    ngx_http_victorops_vo_go_on(ctx);
}


/*
 * A VictorOps team that is not there (404 to its policies): for a
 * Slack page, the name is an escalation policy's; an escalation pages
 * the other teams.
 */

void
ngx_http_victorops_vo_no_team(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t)
{
    ngx_str_t  slug, entity;

    slug = ((ngx_str_t *) ctx->esc.teams.elts)[ctx->team];

    if (ctx->job.kind == NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE) {

        /* not a team: an escalation policy, then */

        ngx_str_set(&entity, "EscalationPolicy");

        if (ngx_http_victorops_target_add(&ctx->targets, &entity, &slug)
            != NGX_OK)
        {
            ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE,
                                         NULL, NULL);
            return;
        }

    } else {
        ngx_log_error(NGX_LOG_WARN, t->log, 0,
                      "victorops integration \"%V\": VictorOps team "
                      "\"%V\" (victor_ops_id of a Rootly team) not "
                      "found, not paged (job %V)", &ctx->vi->name, &slug,
                      &ctx->job.id);
    }

    ctx->team++;

    ngx_http_victorops_vo_go_on(ctx);
}


/* explicit targets and the (cached) policies of mapped VictorOps teams */

static ngx_int_t
ngx_http_victorops_vo_targets(ngx_http_victorops_vo_ctx_t *ctx)
{
    ngx_uint_t                       i;
    ngx_http_victorops_target_t     *t;
    ngx_http_victorops_vo_worker_t  *w;

    w = ctx->vi->vo;
    t = ctx->esc.targets.elts;

    for (i = 0; i < ctx->esc.targets.nelts; i++) {
        if (ngx_http_victorops_target_add(&ctx->targets, &t[i].type,
                                          &t[i].slug)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_victorops_policies_targets(w->policies, ctx->pool,
                                               &ctx->esc.teams,
                                               &ctx->targets);
}


/* the incident list, read as it arrives, whatever its length */

ngx_int_t
ngx_http_victorops_vo_find_request(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t **tp)
{
    ngx_http_victorops_transfer_t  *t;

    if (ctx->esc.mark.len == 0
        && ngx_http_victorops_vo_mark(ctx->pool, &ctx->job.id,
                                      &ctx->esc.mark)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->find = ngx_http_victorops_vo_find_create(ctx->pool, &ctx->esc.mark);
    if (ctx->find == NULL) {
        return NGX_ERROR;
    }

    t = ngx_http_victorops_vo_transfer(ctx->vi, "GET",
                                       "/api-public/v1/incidents", NULL);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->what = "incident lookup";
    t->sink = ngx_http_victorops_vo_find_sink;
    *tp = t;

    return NGX_OK;
}


/* the incident list of a lookup, as it arrives */

static ngx_int_t
ngx_http_victorops_vo_find_sink(ngx_http_victorops_transfer_t *t,
    u_char *data, size_t len)
{
    ngx_http_victorops_vo_ctx_t  *ctx = t->data;

    return ngx_http_victorops_vo_find_feed(ctx->find, data, len);
}


/*
 * The answer of a lookup (2xx): the incident with the job's mark was
 * created by an earlier attempt; none: create it; a list that could
 * not be read to its end: look again later, never create on it.
 */

void
ngx_http_victorops_vo_find_answered(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now)
{
    ngx_str_t  number, entity, why, reason;

    switch (ngx_http_victorops_vo_find_result(ctx->find, &number, &entity,
                                              &why))
    {
    case NGX_OK:
        ngx_http_victorops_vo_created_ok(ctx, &number, &entity,
                                         "found, created by an earlier "
                                         "attempt");
        return;

    case NGX_DECLINED:
        ctx->step = NGX_HTTP_VICTOROPS_S_CREATE;
        ngx_http_victorops_vo_go_on(ctx);
        return;

    default: /* NGX_AGAIN */
        break;
    }

    reason.data = ngx_pnalloc(t->pool, why.len + 32);

    if (reason.data == NULL) {
        ngx_str_set(&reason, "incomplete incident list");

    } else {
        reason.len = ngx_sprintf(reason.data, "incomplete incident list: %V",
                                 &why)
                     - reason.data;
    }

    ngx_http_victorops_count(ctx->vi, NGX_HTTP_VICTOROPS_C_VO_FAILED);
    ngx_http_victorops_vo_retry(ctx, t, now, &reason);
    ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RECORDED, NULL,
                                 NULL);
}


/*
 * The create, with the mark a later attempt looks for; on PostgreSQL,
 * after the create's mark in the store (vo_creating(): NGX_AGAIN, the
 * step is made again once it is written).
 */

ngx_int_t
ngx_http_victorops_vo_create_request(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t **tp)
{
    ngx_int_t                       rc;
    ngx_str_t                       body;
    ngx_http_victorops_transfer_t  *t;

    if (!ctx->creating) {
        rc = ngx_http_victorops_vo_creating(ctx,
                                           ngx_http_victorops_vo_create_marked);
        if (rc != NGX_OK) {
            return (rc == NGX_AGAIN) ? NGX_AGAIN : NGX_ERROR;
        }

        ctx->creating = 1;
    }

    if ((ctx->esc.mark.len == 0
         && ngx_http_victorops_vo_mark(ctx->pool, &ctx->job.id,
                                       &ctx->esc.mark)
            != NGX_OK)
        || ngx_http_victorops_vo_create_body(ctx->pool, &ctx->esc,
                                             &ctx->targets,
                                             &ctx->vi->api_user, &body)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    t = ngx_http_victorops_vo_transfer(ctx->vi, "POST",
                                       "/api-public/v1/incidents", &body);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->what = "incident creation";
    *tp = t;

    return NGX_OK;
}


static void
ngx_http_victorops_vo_create_marked(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_int_t rc)
{
    if (rc != NGX_OK) {

        /* never created without its mark: later */

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RELEASE, NULL,
                                     NULL);
        return;
    }

    ctx->creating = 1;

    ngx_http_victorops_vo_go_on(ctx);
}


/*
 * A create's answer (2xx): the incident, else why not; an answer that
 * is not JSON may come from a create that went through, so the next
 * attempt looks before it creates.
 */

void
ngx_http_victorops_vo_create_answered(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now)
{
    ngx_str_t                   number, entity, reason;
    ngx_http_victorops_json_t  *root;

    if (ngx_http_victorops_vo_created(t->pool, &t->response, &number,
                                      &entity, &reason)
        == NGX_OK)
    {
        ngx_http_victorops_vo_created_ok(ctx, &number, &entity, "created");
        return;
    }

    if (t->truncated
        || ngx_http_victorops_json_parse(t->pool, &t->response,
                                         NGX_HTTP_VICTOROPS_MAX_DEPTH, &root)
           != NGX_OK)
    {
        /* VictorOps may have created it: the next attempt looks */

        ngx_str_set(&reason, "unreadable answer");
        ngx_http_victorops_count(ctx->vi, NGX_HTTP_VICTOROPS_C_VO_FAILED);
        ngx_http_victorops_vo_retry(ctx, t, now, &reason);

    } else {
        ngx_http_victorops_vo_dead(ctx, t, &reason);
    }

    ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RECORDED, NULL,
                                 NULL);
}


ngx_int_t
ngx_http_victorops_vo_reroute_request(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t **tp)
{
    ngx_str_t                       body;
    ngx_http_victorops_transfer_t  *t;

    if (ngx_http_victorops_vo_reroute_body(ctx->pool, &ctx->link.incident,
                                           &ctx->targets, &ctx->vi->api_user,
                                           &body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    t = ngx_http_victorops_vo_transfer(ctx->vi, "POST",
                                       "/api-public/v1/incidents/reroute",
                                       &body);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->what = "incident reroute";
    *tp = t;

    return NGX_OK;
}


void
ngx_http_victorops_vo_reroute_answered(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_transfer_t *t, int64_t now)
{
    ngx_str_t  reason;

    if (ngx_http_victorops_vo_rerouted(t->pool, &t->response, &reason)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, t->log, 0,
                      "victorops integration \"%V\": VictorOps "
                      "incident #%V not rerouted: \"%V\" (job %V)",
                      &ctx->vi->name, &ctx->link.incident, &reason,
                      &ctx->job.id);

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL,
                                     NULL);
        return;
    }

    ngx_http_victorops_vo_rerouted_ok(ctx);
}


/*
 * The incident paged (created now, or found created by an earlier
 * attempt, "how"): linked to the Rootly incident, with a timeline
 * event; a Slack page's outcome goes back to Slack instead.
 */

static void
ngx_http_victorops_vo_created_ok(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_str_t *number, ngx_str_t *entity, const char *how)
{
    ngx_str_t                          text, targets;
    ngx_http_victorops_effects_t      *fx;
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->vi;

    (void) ngx_http_victorops_targets_text(ctx->pool, &ctx->targets,
                                           &targets);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "victorops integration \"%V\": paged VictorOps %V for "
                  "Rootly incident \"%V\": incident #%V %s (job %V)",
                  &vi->name, &targets, &ctx->esc.id, number, how,
                  &ctx->job.id);

    fx = ngx_http_victorops_effects_create(ngx_cycle->log);
    if (fx == NULL) {
        goto failed;
    }

    if (ctx->job.kind == NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE) {

        /* the outcome goes back to Slack; there is no Rootly incident */

        ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_SLACK_PAGED);

        if (ngx_http_victorops_vo_slack_paged(ctx, fx, &targets, number)
            != NGX_OK)
        {
            goto failed;
        }

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL, fx);
        return;
    }

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_ESCALATED);

    if (ngx_http_victorops_vo_page_link(ctx, fx, number, entity) != NGX_OK) {
        goto failed;
    }

    text.data = ngx_pnalloc(ctx->pool, targets.len + number->len + 64);
    if (text.data == NULL) {
        goto failed;
    }

    text.len = ngx_sprintf(text.data, "Paged VictorOps %V: incident #%V",
                           &targets, number)
               - text.data;

    ngx_http_victorops_vo_paged(ctx, fx, &text);
    return;

failed:

    ngx_http_victorops_vo_paged(ctx, fx, NULL);
}


/* the link of the Rootly incident to the VictorOps incident paged */

static ngx_int_t
ngx_http_victorops_vo_page_link(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_effects_t *fx, ngx_str_t *number, ngx_str_t *entity)
{
    u_char                     *p;
    ngx_http_victorops_link_t  *link;

    link = ngx_http_victorops_effects_link(fx,
                                          NGX_HTTP_VICTOROPS_LINK_ESCALATION);

    if (link == NULL
        || ngx_http_victorops_vo_dup(fx->pool, &link->incident, number)
           != NGX_OK
        || ngx_http_victorops_vo_dup(fx->pool, &link->entity, entity)
           != NGX_OK
        || ngx_http_victorops_vo_dup(fx->pool, &link->rootly_incident,
                                     &ctx->esc.id)
           != NGX_OK
        || ngx_http_victorops_vo_dup(fx->pool, &link->targets, &ctx->canon)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the key inbound webhooks use: the entity id, else "#number" */

    if (entity->len) {
        link->key = link->entity;
        return NGX_OK;
    }

    p = ngx_pnalloc(fx->pool, number->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    link->key.data = p;
    link->key.len = ngx_sprintf(p, "#%V", number) - p;

    return NGX_OK;
}


/* "Paged VictorOps ...: incident #...", back to the Slack channel */

static ngx_int_t
ngx_http_victorops_vo_slack_paged(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_effects_t *fx, ngx_str_t *targets, ngx_str_t *number)
{
    ngx_str_t  text;

    text.data = ngx_pnalloc(ctx->pool, targets->len + number->len
                                       + ctx->esc.summary.len + 64);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    text.len = ngx_sprintf(text.data, "Paged VictorOps %V: incident #%V (%V)",
                           targets, number, &ctx->esc.summary)
               - text.data;

    return ngx_http_victorops_vo_reply_job(fx, ctx, "in_channel", &text);
}


static void
ngx_http_victorops_vo_rerouted_ok(ngx_http_victorops_vo_ctx_t *ctx)
{
    ngx_str_t                          text, targets;
    ngx_http_victorops_link_t         *link;
    ngx_http_victorops_effects_t      *fx;
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->vi;

    (void) ngx_http_victorops_targets_text(ctx->pool, &ctx->targets,
                                           &targets);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "victorops integration \"%V\": rerouted VictorOps "
                  "incident #%V of Rootly incident \"%V\" to %V (job %V)",
                  &vi->name, &ctx->link.incident, &ctx->esc.id, &targets,
                  &ctx->job.id);

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_REROUTED);

    fx = ngx_http_victorops_effects_create(ngx_cycle->log);
    if (fx == NULL) {
        goto failed;
    }

    link = ngx_http_victorops_effects_link(fx,
                                             NGX_HTTP_VICTOROPS_LINK_TARGETS);

    if (link == NULL
        || ngx_http_victorops_vo_dup(fx->pool, &link->key, &ctx->link.key)
           != NGX_OK
        || ngx_http_victorops_vo_dup(fx->pool, &link->targets, &ctx->canon)
           != NGX_OK)
    {
        goto failed;
    }

    text.data = ngx_pnalloc(ctx->pool,
                            targets.len + ctx->link.incident.len + 64);
    if (text.data == NULL) {
        goto failed;
    }

    text.len = ngx_sprintf(text.data,
                           "Rerouted VictorOps incident #%V to %V",
                           &ctx->link.incident, &targets)
               - text.data;

    ngx_http_victorops_vo_paged(ctx, fx, &text);
    return;

failed:

    ngx_http_victorops_vo_paged(ctx, fx, NULL);
}


/*
 * After a page or a reroute: the timeline event "text" and who is on
 * call, written with the outcome.  Without them ("text" NULL: an error)
 * the attempt counts, and the next one looks before it creates.
 */

static void
ngx_http_victorops_vo_paged(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_effects_t *fx, ngx_str_t *text)
{
    if (fx == NULL
        || text == NULL
        || ngx_http_victorops_vo_note(fx, ctx, text) != NGX_OK
        || (ctx->vi->oncall_responders
            && ngx_http_victorops_effects_job(fx, &ctx->job,
                                              NGX_HTTP_VICTOROPS_JOB_ONCALL,
                                              &ctx->job.body)
               == NULL))
    {
        if (fx) {
            ngx_destroy_pool(fx->pool);
        }

        ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_RETRY, NULL,
                                     NULL);
        return;
    }

    ngx_http_victorops_vo_finish(ctx, NGX_HTTP_VICTOROPS_DONE, NULL, fx);
}
