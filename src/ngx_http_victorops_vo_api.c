
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The VictorOps public API as bytes: the bodies of its calls (create,
 * reroute, resolve), the reading of its answers (created, rerouted,
 * resolved, errors, the incident list, team policies, who is on call,
 * teams), the mark a create leaves and the streaming search of the
 * incident list for it.  Nothing here knows about ngx_http_request_t;
 * the requests themselves are ngx_http_victorops_vo_client.c's.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_parse.h>

#include "ngx_http_victorops_vo_api.h"


#define NGX_HTTP_VICTOROPS_DETAILS_MAX  20480


static ngx_uint_t ngx_http_victorops_vo_oncall_paged(
    ngx_http_victorops_json_t *now, ngx_str_t *slug, ngx_array_t *targets,
    ngx_array_t *teams);
static u_char *ngx_http_victorops_vo_oncall_users(
    ngx_http_victorops_json_t *now, u_char *p, u_char *last,
    ngx_uint_t *users);
static ngx_int_t ngx_http_victorops_contains(ngx_str_t *s, const char *what);


/*
 * POST /api-public/v1/incidents:
 * {"summary","details","userName","targets":[{"type","slug"}]}; the
 * details end with the mark, if any, within VictorOps' 20480 bytes.
 */

ngx_int_t
ngx_http_victorops_vo_create_body(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc, ngx_array_t *targets,
    ngx_str_t *user, ngx_str_t *body)
{
    u_char     *p, *last;
    size_t      len;
    yajl_gen    g;
    ngx_str_t   summary, details;

    if (ngx_http_victorops_escalation_summary(pool, esc, &summary)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    details = esc->details;

    if (details.len == 0) {
        p = ngx_pnalloc(pool, NGX_HTTP_VICTOROPS_TEXT_MAX);
        if (p == NULL) {
            return NGX_ERROR;
        }

        last = p + NGX_HTTP_VICTOROPS_TEXT_MAX;
        details.data = p;

        p = ngx_slprintf(p, last, "Rootly incident %V", &esc->id);

        if (esc->title.len) {
            p = ngx_slprintf(p, last, ": %V", &esc->title);
        }

        if (esc->url.len) {
            p = ngx_slprintf(p, last, "\n%V", &esc->url);
        }

        details.len = ngx_http_victorops_utf8_cut(details.data, p)
                      - details.data;
    }

    if (esc->mark.len) {
        len = ngx_min(details.len,
                      NGX_HTTP_VICTOROPS_DETAILS_MAX - 2 - esc->mark.len);

        p = ngx_pnalloc(pool, len + 2 + esc->mark.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        last = ngx_cpymem(p, details.data, len);
        last = ngx_http_victorops_utf8_cut(p, last);
        *last++ = LF;
        *last++ = LF;
        last = ngx_cpymem(last, esc->mark.data, esc->mark.len);

        details.data = p;
        details.len = last - p;
    }

    g = ngx_http_victorops_gen_create(pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_str(g, "summary", &summary) != NGX_OK
        || ngx_http_victorops_gen_str(g, "details", &details) != NGX_OK
        || ngx_http_victorops_gen_str(g, "userName", user) != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "targets") != NGX_OK
        || ngx_http_victorops_targets_gen(g, targets) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, pool, body) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* POST /api-public/v1/incidents/reroute */

ngx_int_t
ngx_http_victorops_vo_reroute_body(ngx_pool_t *pool, ngx_str_t *number,
    ngx_array_t *targets, ngx_str_t *user, ngx_str_t *body)
{
    yajl_gen  g;

    g = ngx_http_victorops_gen_create(pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_str(g, "userName", user) != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "reroutes") != NGX_OK
        || yajl_gen_array_open(g) != yajl_gen_status_ok
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_str(g, "incidentNumber", number) != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "targets") != NGX_OK
        || ngx_http_victorops_targets_gen(g, targets) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_array_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, pool, body) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* PATCH /api-public/v1/incidents/resolve */

ngx_int_t
ngx_http_victorops_vo_resolve_body(ngx_pool_t *pool, ngx_array_t *numbers,
    ngx_str_t *user, ngx_str_t *message, ngx_str_t *body)
{
    yajl_gen    g;
    ngx_str_t  *n;
    ngx_uint_t  i;

    g = ngx_http_victorops_gen_create(pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_str(g, "userName", user) != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "incidentNames") != NGX_OK
        || yajl_gen_array_open(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    n = numbers->elts;

    for (i = 0; i < numbers->nelts; i++) {
        if (yajl_gen_string(g, n[i].data, n[i].len) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }
    }

    if (yajl_gen_array_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_str(g, "message", message) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, pool, body) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* {"incidentNumber":"2201","entityId":"..."}; DECLINED with a reason */

ngx_int_t
ngx_http_victorops_vo_created(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_str_t *number, ngx_str_t *entity, ngx_str_t *reason)
{
    ngx_int_t                   rc;
    ngx_http_victorops_json_t  *root;

    ngx_str_set(reason, "unreadable response");

    rc = ngx_http_victorops_json_parse(pool, resp,
                                       NGX_HTTP_VICTOROPS_RESP_DEPTH, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_victorops_json_text(root, "incidentNumber", number)
        != NGX_OK)
    {
        (void) ngx_http_victorops_vo_error(pool, resp, reason);
        return NGX_DECLINED;
    }

    (void) ngx_http_victorops_json_text(root, "entityId", entity);

    return NGX_OK;
}


/* {"statuses":[{"incidentNumber","success":true,"message"}]} */

ngx_int_t
ngx_http_victorops_vo_rerouted(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_str_t *reason)
{
    ngx_int_t                   rc;
    ngx_str_t                   name;
    ngx_http_victorops_json_t  *root, *v, *ok;

    ngx_str_set(reason, "unreadable response");

    rc = ngx_http_victorops_json_parse(pool, resp,
                                       NGX_HTTP_VICTOROPS_RESP_DEPTH, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&name, "statuses");
    v = ngx_http_victorops_json_lookup(root, &name);

    if (v == NULL || v->type != NGX_HTTP_VICTOROPS_JSON_ARRAY
        || v->child == NULL)
    {
        return NGX_DECLINED;
    }

    ngx_str_set(&name, "success");
    ok = ngx_http_victorops_json_lookup(v->child, &name);

    if (ok && ok->type == NGX_HTTP_VICTOROPS_JSON_TRUE) {
        return NGX_OK;
    }

    if (ngx_http_victorops_json_text(v->child, "message", reason) != NGX_OK) {
        ngx_str_set(reason, "reroute not accepted");
    }

    return NGX_DECLINED;
}


/*
 * {"results":[{"incidentNumber","cmdAccepted":true|false,"message"}]}:
 * the numbers resolved now or before go to "done"; DECLINED with the
 * reason of the first other refusal.
 */

ngx_int_t
ngx_http_victorops_vo_resolved(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *done, ngx_str_t *reason)
{
    ngx_int_t                   rc;
    ngx_str_t                   name, number, message;
    ngx_http_victorops_json_t  *root, *v, *r, *ok;

    ngx_str_set(reason, "unreadable response");

    rc = ngx_http_victorops_json_parse(pool, resp,
                                       NGX_HTTP_VICTOROPS_RESP_DEPTH, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&name, "results");
    v = ngx_http_victorops_json_lookup(root, &name);

    if (v == NULL || v->type != NGX_HTTP_VICTOROPS_JSON_ARRAY) {
        return NGX_DECLINED;
    }

    rc = NGX_OK;
    ngx_str_null(reason);

    for (r = v->child; r; r = r->next) {
        if (ngx_http_victorops_json_text(r, "incidentNumber", &number)
            != NGX_OK)
        {
            continue;
        }

        (void) ngx_http_victorops_json_text(r, "message", &message);

        ngx_str_set(&name, "cmdAccepted");
        ok = ngx_http_victorops_json_lookup(r, &name);

        if ((ok && ok->type == NGX_HTTP_VICTOROPS_JSON_TRUE)
            || ngx_http_victorops_contains(&message, "already resolved"))
        {
            if (ngx_http_victorops_str_push(done, &number) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        if (rc == NGX_OK) {
            *reason = message;
            rc = NGX_DECLINED;
        }
    }

    return rc;
}


/* {"error":"..."} or {"message":"..."} */

ngx_int_t
ngx_http_victorops_vo_error(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_str_t *reason)
{
    ngx_http_victorops_json_t  *root;

    if (ngx_http_victorops_json_parse(pool, resp,
                                      NGX_HTTP_VICTOROPS_RESP_DEPTH, &root)
        != NGX_OK
        || (ngx_http_victorops_json_text(root, "error", reason) != NGX_OK
            && ngx_http_victorops_json_text(root, "message", reason)
               != NGX_OK))
    {
        ngx_str_set(reason, "no reason given");
        return NGX_DECLINED;
    }

    reason->len = ngx_http_victorops_utf8_cut(reason->data,
                      reason->data + ngx_min(reason->len, 200))
                  - reason->data;

    return NGX_OK;
}


/* GET /api-public/v1/incidents: {"incidents":[{...}]} */

ngx_int_t
ngx_http_victorops_vo_incidents(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *incidents)
{
    ngx_int_t                          rc;
    ngx_str_t                          name, s;
    ngx_http_victorops_json_t         *root, *v, *i, *tr;
    ngx_http_victorops_vo_incident_t  *vo;

    rc = ngx_http_victorops_json_parse(pool, resp,
                                       NGX_HTTP_VICTOROPS_RESP_DEPTH, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&name, "incidents");
    v = ngx_http_victorops_json_lookup(root, &name);

    if (v == NULL || v->type != NGX_HTTP_VICTOROPS_JSON_ARRAY) {
        return NGX_DECLINED;
    }

    for (i = v->child; i; i = i->next) {
        vo = ngx_array_push(incidents);
        if (vo == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(vo, sizeof(ngx_http_victorops_vo_incident_t));

        if (ngx_http_victorops_json_text(i, "incidentNumber", &vo->number)
            != NGX_OK)
        {
            incidents->nelts--;
            continue;
        }

        (void) ngx_http_victorops_json_text(i, "entityId", &vo->entity);
        (void) ngx_http_victorops_json_text(i, "entityDisplayName",
                                            &vo->summary);

        if (ngx_http_victorops_json_text(i, "startTime", &s) == NGX_OK) {
            vo->start = ngx_http_victorops_parse_iso8601(&s);
        }

        (void) ngx_http_victorops_json_text(i, "currentPhase", &s);

        if (s.len == 5 && ngx_strncasecmp(s.data, (u_char *) "ACKED", 5) == 0)
        {
            vo->phase = NGX_HTTP_VICTOROPS_VO_ACKED;

        } else if (s.len == 8
                   && ngx_strncasecmp(s.data, (u_char *) "RESOLVED", 8) == 0)
        {
            vo->phase = NGX_HTTP_VICTOROPS_VO_RESOLVED;
        }

        ngx_str_set(&name, "transitions");
        tr = ngx_http_victorops_json_lookup(i, &name);

        if (tr && tr->type == NGX_HTTP_VICTOROPS_JSON_ARRAY) {
            for (tr = tr->child; tr; tr = tr->next) {
                (void) ngx_http_victorops_json_text(tr, "by", &vo->user);
            }
        }
    }

    return NGX_OK;
}


/* "2026-11-26T10:00:00Z" (fractions and offsets ignored) -> epoch */

time_t
ngx_http_victorops_parse_iso8601(ngx_str_t *s)
{
    u_char      *p;
    ngx_int_t    y, m, d, hh, mm, ss, days;
    ngx_uint_t   i;

    static ngx_uint_t  digits[] = { 0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15,
                                    17, 18 };

    if (s->len < 19) {
        return 0;
    }

    p = s->data;

    for (i = 0; i < sizeof(digits) / sizeof(digits[0]); i++) {
        if (p[digits[i]] < '0' || p[digits[i]] > '9') {
            return 0;
        }
    }

    y = ngx_atoi(p, 4);
    m = ngx_atoi(p + 5, 2);
    d = ngx_atoi(p + 8, 2);
    hh = ngx_atoi(p + 11, 2);
    mm = ngx_atoi(p + 14, 2);
    ss = ngx_atoi(p + 17, 2);

    if (m < 1 || m > 12 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60)
    {
        return 0;
    }

    /* days since 1970-01-01 in the proleptic Gregorian calendar */

    if (m <= 2) {
        y--;
        m += 12;
    }

    days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * (m - 3) + 2) / 5
           + d - 719469;

    return (time_t) days * 86400 + hh * 3600 + mm * 60 + ss;
}


/* GET /api-public/v1/team: a bare array of {"name","slug",...} */

ngx_int_t
ngx_http_victorops_vo_teams(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *teams)
{
    ngx_int_t                      rc;
    ngx_http_victorops_json_t     *root, *v;
    ngx_http_victorops_vo_team_t  *team;

    rc = ngx_http_victorops_json_parse(pool, resp,
                                       NGX_HTTP_VICTOROPS_RESP_DEPTH, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    if (root->type != NGX_HTTP_VICTOROPS_JSON_ARRAY) {
        return NGX_DECLINED;
    }

    for (v = root->child; v; v = v->next) {
        team = ngx_array_push(teams);
        if (team == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_victorops_json_text(v, "slug", &team->slug) != NGX_OK
            || ngx_http_victorops_json_text(v, "name", &team->name) != NGX_OK)
        {
            teams->nelts--;
        }
    }

    return NGX_OK;
}


/* {"policies":[{"name","slug"}]} or [{"policy":{"name","slug"}}] */

ngx_int_t
ngx_http_victorops_vo_policies(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *slugs)
{
    ngx_int_t                   rc;
    ngx_str_t                   name, slug;
    ngx_http_victorops_json_t  *root, *v;

    rc = ngx_http_victorops_json_parse(pool, resp,
                                       NGX_HTTP_VICTOROPS_RESP_DEPTH, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&name, "policies");
    v = ngx_http_victorops_json_lookup(root, &name);

    if (v == NULL || v->type != NGX_HTTP_VICTOROPS_JSON_ARRAY) {
        return NGX_DECLINED;
    }

    for (v = v->child; v; v = v->next) {
        if (ngx_http_victorops_json_text(v, "slug", &slug) != NGX_OK
            && ngx_http_victorops_json_text(v, "policy.slug", &slug)
               != NGX_OK)
        {
            continue;
        }

        if (ngx_http_victorops_str_push(slugs, &slug) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * GET /api-public/v1/oncall/current, for the teams paged: "VictorOps
 * on-call for Payments: alice (Payments Primary), bob (Payments
 * Secondary)"; teams separated by "; ".  DECLINED: nobody on call.
 */

ngx_int_t
ngx_http_victorops_vo_oncall(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *targets, ngx_array_t *teams, ngx_str_t *text)
{
    u_char                     *p, *last, *start;
    ngx_int_t                   rc;
    ngx_str_t                   name, team, slug;
    ngx_uint_t                  users;
    ngx_http_victorops_json_t  *root, *v, *t, *now;

    rc = ngx_http_victorops_json_parse(pool, resp,
                                       NGX_HTTP_VICTOROPS_RESP_DEPTH, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&name, "teamsOnCall");
    v = ngx_http_victorops_json_lookup(root, &name);

    if (v == NULL || v->type != NGX_HTTP_VICTOROPS_JSON_ARRAY) {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(pool, NGX_HTTP_VICTOROPS_TEXT_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    text->data = p;
    last = p + NGX_HTTP_VICTOROPS_TEXT_MAX;

    for (t = v->child; t; t = t->next) {
        (void) ngx_http_victorops_json_text(t, "team.slug", &slug);

        if (ngx_http_victorops_json_text(t, "team.name", &team) != NGX_OK) {
            team = slug;
        }

        ngx_str_set(&name, "onCallNow");
        now = ngx_http_victorops_json_lookup(t, &name);

        if (now == NULL || now->type != NGX_HTTP_VICTOROPS_JSON_ARRAY
            || !ngx_http_victorops_vo_oncall_paged(now, &slug, targets, teams))
        {
            continue;
        }

        start = p;
        p = ngx_slprintf(p, last, "%sVictorOps on-call for %V: ",
                         text->data == p ? "" : "; ", &team);
        users = 0;

        p = ngx_http_victorops_vo_oncall_users(now, p, last, &users);

        if (users == 0) {
            p = start;
        }
    }

    text->len = ngx_http_victorops_utf8_cut(text->data, p) - text->data;

    return text->len ? NGX_OK : NGX_DECLINED;
}


/* the team was paged: by its VictorOps slug or one of its policies */

static ngx_uint_t
ngx_http_victorops_vo_oncall_paged(ngx_http_victorops_json_t *now,
    ngx_str_t *slug, ngx_array_t *targets, ngx_array_t *teams)
{
    ngx_str_t                     policy;
    ngx_uint_t                    i;
    ngx_http_victorops_json_t    *v;
    ngx_http_victorops_target_t  *target;

    if (ngx_http_victorops_str_in(teams, slug)) {
        return 1;
    }

    target = targets->elts;

    for (v = now->child; v; v = v->next) {
        if (ngx_http_victorops_json_text(v, "escalationPolicy.slug", &policy)
            != NGX_OK)
        {
            continue;
        }

        for (i = 0; i < targets->nelts; i++) {
            if (target[i].slug.len == policy.len
                && ngx_strncmp(target[i].slug.data, policy.data, policy.len)
                   == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


/* "alice (Payments Primary), bob": who is on call now, "users" of them */

static u_char *
ngx_http_victorops_vo_oncall_users(ngx_http_victorops_json_t *now, u_char *p,
    u_char *last, ngx_uint_t *users)
{
    ngx_str_t                   name, policy, user;
    ngx_http_victorops_json_t  *v, *u;

    for (v = now->child; v; v = v->next) {
        (void) ngx_http_victorops_json_text(v, "escalationPolicy.name",
                                            &policy);

        ngx_str_set(&name, "users");
        u = ngx_http_victorops_json_lookup(v, &name);

        if (u == NULL || u->type != NGX_HTTP_VICTOROPS_JSON_ARRAY) {
            continue;
        }

        for (u = u->child; u; u = u->next) {
            if (ngx_http_victorops_json_text(u, "onCallUser.username", &user)
                != NGX_OK)
            {
                continue;
            }

            p = ngx_slprintf(p, last, "%s%V", (*users)++ ? ", " : "", &user);

            if (policy.len) {
                p = ngx_slprintf(p, last, " (%V)", &policy);
            }
        }
    }

    return p;
}


/*
 * The mark a VictorOps create leaves in its details, "[nginx job ID]":
 * VictorOps keeps the details as the message of the incident's first
 * transition, where a retried create finds it again.
 */

ngx_int_t
ngx_http_victorops_vo_mark(ngx_pool_t *pool, ngx_str_t *job, ngx_str_t *mark)
{
    mark->data = ngx_pnalloc(pool, sizeof("[nginx job ]") + job->len);
    if (mark->data == NULL) {
        return NGX_ERROR;
    }

    mark->len = ngx_sprintf(mark->data, "[nginx job %V]%Z", job)
                - mark->data - 1;

    return NGX_OK;
}


/*
 * GET /api-public/v1/incidents read as it arrives, for the incident
 * whose transitions carry a mark: {"incidents":[{"incidentNumber",
 * "entityId","transitions":[{"message"},...],...},...]}.  Nothing but
 * the incident being read is kept, so the list may be of any length.
 * "path": how many of the open containers are, from the root, the
 * ones above: the root object, the incidents array, an incident, its
 * transitions array, a transition.
 */

#define NGX_HTTP_VICTOROPS_F_OTHER       0
#define NGX_HTTP_VICTOROPS_F_INCIDENTS   1
#define NGX_HTTP_VICTOROPS_F_NUMBER      2
#define NGX_HTTP_VICTOROPS_F_ENTITY      3
#define NGX_HTTP_VICTOROPS_F_TRANSITIONS 4
#define NGX_HTTP_VICTOROPS_F_MESSAGE     5

#define NGX_HTTP_VICTOROPS_F_NUMBER_MAX  64
#define NGX_HTTP_VICTOROPS_F_ENTITY_MAX  1024


struct ngx_http_victorops_vo_find_s {
    yajl_handle                   handle;
    ngx_str_t                     mark;
    ngx_str_t                     number;
    ngx_str_t                     entity;
    const char                   *error;
    ngx_uint_t                    depth;
    ngx_uint_t                    path;
    ngx_uint_t                    key;
    unsigned                      listed:1;    /* the array was closed */
    unsigned                      marked:1;    /* this incident has it */
    unsigned                      found:1;
    unsigned                      failed:1;
};


static int ngx_http_victorops_find_null(void *ctx);
static int ngx_http_victorops_find_boolean(void *ctx, int b);
static int ngx_http_victorops_find_number(void *ctx, const char *s,
    size_t len);
static int ngx_http_victorops_find_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_victorops_find_start_map(void *ctx);
static int ngx_http_victorops_find_map_key(void *ctx,
    const unsigned char *key, size_t len);
static int ngx_http_victorops_find_start_array(void *ctx);
static int ngx_http_victorops_find_open(ngx_http_victorops_vo_find_t *f,
    ngx_uint_t map);
static int ngx_http_victorops_find_end(void *ctx);
static void ngx_http_victorops_find_copy(ngx_str_t *dst, size_t max,
    const u_char *s, size_t len);
static void ngx_http_victorops_find_cleanup(void *data);


static yajl_callbacks  ngx_http_victorops_find_callbacks = {
    ngx_http_victorops_find_null,
    ngx_http_victorops_find_boolean,
    NULL,
    NULL,
    ngx_http_victorops_find_number,
    ngx_http_victorops_find_string,
    ngx_http_victorops_find_start_map,
    ngx_http_victorops_find_map_key,
    ngx_http_victorops_find_end,
    ngx_http_victorops_find_start_array,
    ngx_http_victorops_find_end
};


ngx_http_victorops_vo_find_t *
ngx_http_victorops_vo_find_create(ngx_pool_t *pool, ngx_str_t *mark)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_victorops_vo_find_t  *f;

    f = ngx_pcalloc(pool, sizeof(ngx_http_victorops_vo_find_t));
    if (f == NULL || mark->len == 0) {
        return NULL;
    }

    f->mark = *mark;
    f->number.data = ngx_pnalloc(pool, NGX_HTTP_VICTOROPS_F_NUMBER_MAX);
    f->entity.data = ngx_pnalloc(pool, NGX_HTTP_VICTOROPS_F_ENTITY_MAX);

    cln = ngx_pool_cleanup_add(pool, 0);

    if (f->number.data == NULL || f->entity.data == NULL || cln == NULL) {
        return NULL;
    }

    f->handle = yajl_alloc(&ngx_http_victorops_find_callbacks, NULL, f);
    if (f->handle == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_victorops_find_cleanup;
    cln->data = f;

    return f;
}


/* NGX_OK: go on (found, or not readable: the rest is not looked at) */

ngx_int_t
ngx_http_victorops_vo_find_feed(ngx_http_victorops_vo_find_t *f,
    u_char *data, size_t len)
{
    if (f->found || f->failed) {
        return NGX_OK;
    }

    /* the end of the marked incident stops the parser */

    if (yajl_parse(f->handle, data, len) != yajl_status_ok && !f->found) {
        f->failed = 1;

        if (f->error == NULL) {
            f->error = "not valid JSON";
        }
    }

    return NGX_OK;
}


/*
 * Once the answer is in: NGX_OK, the marked incident ("number" and
 * "entity" point into "f"); NGX_DECLINED, the whole list was read and
 * no incident carries the mark; NGX_AGAIN, the list could not be read
 * to its end ("reason").
 */

ngx_int_t
ngx_http_victorops_vo_find_result(ngx_http_victorops_vo_find_t *f,
    ngx_str_t *number, ngx_str_t *entity, ngx_str_t *reason)
{
    ngx_str_null(reason);

    if (f->found) {
        *number = f->number;
        *entity = f->entity;
        return NGX_OK;
    }

    if (!f->failed && yajl_complete_parse(f->handle) != yajl_status_ok) {
        f->failed = 1;
        f->error = "not a whole JSON document";
    }

    if (!f->failed && !f->listed) {
        f->failed = 1;
        f->error = "no \"incidents\" array";
    }

    if (f->failed) {
        reason->data = (u_char *) f->error;
        reason->len = ngx_strlen(f->error);
        return NGX_AGAIN;
    }

    return NGX_DECLINED;
}


static int
ngx_http_victorops_find_null(void *ctx)
{
    return 1;
}


static int
ngx_http_victorops_find_boolean(void *ctx, int b)
{
    return 1;
}


static int
ngx_http_victorops_find_number(void *ctx, const char *s, size_t len)
{
    ngx_http_victorops_vo_find_t  *f = ctx;

    /* "incidentNumber" may be a number */

    if (f->path == 3 && f->depth == 3
        && f->key == NGX_HTTP_VICTOROPS_F_NUMBER)
    {
        ngx_http_victorops_find_copy(&f->number,
                                     NGX_HTTP_VICTOROPS_F_NUMBER_MAX,
                                     (u_char *) s, len);
    }

    return 1;
}


static int
ngx_http_victorops_find_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_victorops_vo_find_t  *f = ctx;

    if (f->path != f->depth) {
        return 1;
    }

    if (f->depth == 3) {
        if (f->key == NGX_HTTP_VICTOROPS_F_NUMBER) {
            ngx_http_victorops_find_copy(&f->number,
                                         NGX_HTTP_VICTOROPS_F_NUMBER_MAX,
                                         s, len);

        } else if (f->key == NGX_HTTP_VICTOROPS_F_ENTITY) {
            ngx_http_victorops_find_copy(&f->entity,
                                         NGX_HTTP_VICTOROPS_F_ENTITY_MAX,
                                         s, len);
        }

    } else if (f->depth == 5 && f->key == NGX_HTTP_VICTOROPS_F_MESSAGE
               && len >= f->mark.len
               && ngx_strlcasestrn((u_char *) s, (u_char *) s + len,
                                   f->mark.data, f->mark.len - 1)
                  != NULL)
    {
        f->marked = 1;
    }

    return 1;
}


static int
ngx_http_victorops_find_start_map(void *ctx)
{
    return ngx_http_victorops_find_open(ctx, 1);
}


static int
ngx_http_victorops_find_start_array(void *ctx)
{
    return ngx_http_victorops_find_open(ctx, 0);
}


static int
ngx_http_victorops_find_open(ngx_http_victorops_vo_find_t *f, ngx_uint_t map)
{
    if (f->depth == NGX_HTTP_VICTOROPS_MAX_DEPTH) {
        f->error = "nesting too deep";
        return 0;
    }

    if (f->path == f->depth) {

        switch (f->depth) {

        case 0:     /* the root object */
        case 4:     /* a transition */
            f->path += map;
            break;

        case 1:     /* "incidents" */
            f->path += (!map && f->key == NGX_HTTP_VICTOROPS_F_INCIDENTS);
            break;

        case 2:     /* an incident */
            if (map) {
                f->path++;
                f->number.len = 0;
                f->entity.len = 0;
                f->marked = 0;
            }

            break;

        case 3:     /* its "transitions" */
            f->path += (!map && f->key == NGX_HTTP_VICTOROPS_F_TRANSITIONS);
            break;

        default:
            break;
        }
    }

    f->depth++;
    f->key = NGX_HTTP_VICTOROPS_F_OTHER;

    return 1;
}


static int
ngx_http_victorops_find_map_key(void *ctx, const unsigned char *key,
    size_t len)
{
    ngx_http_victorops_vo_find_t  *f = ctx;

    f->key = NGX_HTTP_VICTOROPS_F_OTHER;

    if (f->path != f->depth) {
        return 1;
    }

    /* names in any case, as ngx_http_victorops_json_lookup() takes them */

#define ngx_http_victorops_find_key(name)                                     \
    (len == sizeof(name) - 1                                                  \
     && ngx_strncasecmp((u_char *) key, (u_char *) name, len) == 0)

    switch (f->depth) {

    case 1:
        if (ngx_http_victorops_find_key("incidents")) {
            f->key = NGX_HTTP_VICTOROPS_F_INCIDENTS;
        }

        break;

    case 3:
        if (ngx_http_victorops_find_key("incidentNumber")) {
            f->key = NGX_HTTP_VICTOROPS_F_NUMBER;

        } else if (ngx_http_victorops_find_key("entityId")) {
            f->key = NGX_HTTP_VICTOROPS_F_ENTITY;

        } else if (ngx_http_victorops_find_key("transitions")) {
            f->key = NGX_HTTP_VICTOROPS_F_TRANSITIONS;
        }

        break;

    case 5:
        if (ngx_http_victorops_find_key("message")) {
            f->key = NGX_HTTP_VICTOROPS_F_MESSAGE;
        }

        break;

    default:
        break;
    }

#undef ngx_http_victorops_find_key

    return 1;
}


static int
ngx_http_victorops_find_end(void *ctx)
{
    ngx_http_victorops_vo_find_t  *f = ctx;

    if (f->path == f->depth) {
        f->path--;

        if (f->depth == 2) {
            f->listed = 1;

        } else if (f->depth == 3 && f->marked && f->number.len) {

            /* the incident is read: it is the one */

            f->found = 1;
            return 0;
        }
    }

    f->depth--;
    f->key = NGX_HTTP_VICTOROPS_F_OTHER;

    return 1;
}


/* a value longer than "max" is taken as none */

static void
ngx_http_victorops_find_copy(ngx_str_t *dst, size_t max, const u_char *s,
    size_t len)
{
    if (len > max) {
        dst->len = 0;
        return;
    }

    ngx_memcpy(dst->data, s, len);
    dst->len = len;
}


static void
ngx_http_victorops_find_cleanup(void *data)
{
    ngx_http_victorops_vo_find_t  *f = data;

    yajl_free(f->handle);
}


static ngx_int_t
ngx_http_victorops_contains(ngx_str_t *s, const char *what)
{
    size_t  n;

    n = ngx_strlen(what);

    return s->len >= n
           && ngx_strlcasestrn(s->data, s->data + s->len, (u_char *) what,
                               n - 1)
              != NULL;
}
