
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Rootly incidents to VictorOps incidents: which escalation rules an
 * incident matches, the escalation job's own body, the bodies of the
 * VictorOps public API calls and the reading of their answers.
 * Nothing here knows about ngx_http_request_t.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <curl/curl.h>
#include <yajl/yajl_parse.h>

#include "ngx_http_victorops_incident.h"


#define NGX_HTTP_VICTOROPS_TEXT_MAX     4096
#define NGX_HTTP_VICTOROPS_RESP_DEPTH   16
#define NGX_HTTP_VICTOROPS_DETAILS_MAX  20480


static ngx_int_t ngx_http_victorops_gen_targets(yajl_gen g,
    ngx_array_t *targets);
static ngx_int_t ngx_http_victorops_json_targets(ngx_pool_t *pool,
    ngx_http_victorops_json_t *arr, ngx_array_t *targets);
static ngx_int_t ngx_http_victorops_str_push(ngx_array_t *a, ngx_str_t *s);
static ngx_int_t ngx_http_victorops_str_in(ngx_array_t *a, ngx_str_t *s);
static int ngx_http_victorops_str_cmp(const void *one, const void *two);
static ngx_int_t ngx_http_victorops_contains(ngx_str_t *s, const char *what);


ngx_int_t
ngx_http_victorops_json_parse(ngx_pool_t *pool, ngx_str_t *text,
    ngx_uint_t depth, ngx_http_victorops_json_t **root)
{
    ngx_int_t                     rc;
    ngx_http_victorops_parser_t  *p;

    *root = NULL;

    p = ngx_http_victorops_parser_create(pool, depth);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (text->len == 0) {
        return NGX_DECLINED;
    }

    rc = ngx_http_victorops_parser_feed(p, text->data, text->len);

    if (rc == NGX_OK) {
        rc = ngx_http_victorops_parser_finish(p, root);
    }

    if (rc == NGX_ABORT) {
        return NGX_ERROR;
    }

    return (rc == NGX_OK && *root) ? NGX_OK : NGX_DECLINED;
}


/* a string (or a number, as written) found by "name"; else DECLINED */

ngx_int_t
ngx_http_victorops_json_text(ngx_http_victorops_json_t *obj,
    const char *name, ngx_str_t *value)
{
    ngx_str_t                   n;
    ngx_http_victorops_json_t  *v;

    ngx_str_null(value);

    if (obj == NULL || obj->type != NGX_HTTP_VICTOROPS_JSON_OBJECT) {
        return NGX_DECLINED;
    }

    n.data = (u_char *) name;
    n.len = ngx_strlen(name);

    v = ngx_http_victorops_json_lookup(obj, &n);

    if (v == NULL
        || (v->type != NGX_HTTP_VICTOROPS_JSON_STRING
            && v->type != NGX_HTTP_VICTOROPS_JSON_NUMBER))
    {
        return NGX_DECLINED;
    }

    *value = v->value;

    return value->len ? NGX_OK : NGX_DECLINED;
}


/*
 * Rootly's webhook "data": a flat incident.  "severity" is an object
 * {"slug","name"} or a string; "groups" (teams) an array of objects
 * {"slug","name","victor_ops_id"} or of strings.
 */

ngx_int_t
ngx_http_victorops_incident_parse(ngx_pool_t *pool,
    ngx_http_victorops_json_t *data, ngx_http_victorops_rootly_incident_t *inc)
{
    ngx_str_t                   s, name;
    ngx_http_victorops_json_t  *v, *g;

    ngx_memzero(inc, sizeof(ngx_http_victorops_rootly_incident_t));

    if (ngx_array_init(&inc->teams, pool, 4, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&inc->vo_teams, pool, 2, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (data == NULL || data->type != NGX_HTTP_VICTOROPS_JSON_OBJECT
        || ngx_http_victorops_json_text(data, "id", &inc->id) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    (void) ngx_http_victorops_json_text(data, "title", &inc->title);
    (void) ngx_http_victorops_json_text(data, "url", &inc->url);
    (void) ngx_http_victorops_json_text(data, "status", &inc->status);

    if (inc->title.len == 0) {
        (void) ngx_http_victorops_json_text(data, "summary", &inc->title);
    }

    ngx_str_set(&name, "severity");
    v = ngx_http_victorops_json_lookup(data, &name);

    if (v && v->type == NGX_HTTP_VICTOROPS_JSON_STRING) {
        inc->severity = v->value;
        inc->severity_name = v->value;

    } else if (v && v->type == NGX_HTTP_VICTOROPS_JSON_OBJECT) {
        (void) ngx_http_victorops_json_text(v, "slug", &inc->severity);
        (void) ngx_http_victorops_json_text(v, "name", &inc->severity_name);
    }

    ngx_str_set(&name, "groups");
    v = ngx_http_victorops_json_lookup(data, &name);

    if (v == NULL || v->type != NGX_HTTP_VICTOROPS_JSON_ARRAY) {
        ngx_str_set(&name, "teams");
        v = ngx_http_victorops_json_lookup(data, &name);
    }

    if (v == NULL || v->type != NGX_HTTP_VICTOROPS_JSON_ARRAY) {
        return NGX_OK;
    }

    for (g = v->child; g; g = g->next) {

        if (g->type == NGX_HTTP_VICTOROPS_JSON_STRING && g->value.len) {
            if (ngx_http_victorops_str_push(&inc->teams, &g->value)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (g->type != NGX_HTTP_VICTOROPS_JSON_OBJECT) {
            continue;
        }

        if (ngx_http_victorops_json_text(g, "slug", &s) == NGX_OK
            && ngx_http_victorops_str_push(&inc->teams, &s) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_victorops_json_text(g, "name", &s) == NGX_OK
            && ngx_http_victorops_str_push(&inc->teams, &s) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_victorops_json_text(g, "victor_ops_id", &s) == NGX_OK
            && ngx_http_victorops_str_push(&inc->vo_teams, &s) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* resolved, closed and cancelled are final in Rootly */

ngx_int_t
ngx_http_victorops_incident_terminal(ngx_str_t *status)
{
    static ngx_str_t  terminal[] = {
        ngx_string("resolved"),
        ngx_string("closed"),
        ngx_string("cancelled"),
        ngx_null_string
    };

    ngx_str_t  *t;

    for (t = terminal; t->len; t++) {
        if (status->len == t->len
            && ngx_strncasecmp(status->data, t->data, t->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* the targets of every rule the incident matches, each target once */

ngx_int_t
ngx_http_victorops_rules_match(ngx_array_t *rules,
    ngx_http_victorops_rootly_incident_t *inc, ngx_array_t *targets)
{
    ngx_str_t                    *value, *team;
    ngx_uint_t                    i, j, k, hit;
    ngx_http_victorops_rule_t    *rule;
    ngx_http_victorops_target_t  *t;

    if (rules == NULL) {
        return NGX_OK;
    }

    rule = rules->elts;

    for (i = 0; i < rules->nelts; i++) {
        value = rule[i].values->elts;
        team = inc->teams.elts;
        hit = 0;

        for (j = 0; j < rule[i].values->nelts && !hit; j++) {

            if (rule[i].by == NGX_HTTP_VICTOROPS_BY_SEVERITY) {
                hit = (inc->severity.len == value[j].len
                       && ngx_strncasecmp(inc->severity.data, value[j].data,
                                          value[j].len) == 0)
                      || (inc->severity_name.len == value[j].len
                          && ngx_strncasecmp(inc->severity_name.data,
                                             value[j].data, value[j].len)
                             == 0);
                continue;
            }

            for (k = 0; k < inc->teams.nelts; k++) {
                if (team[k].len == value[j].len
                    && ngx_strncasecmp(team[k].data, value[j].data,
                                       value[j].len) == 0)
                {
                    hit = 1;
                    break;
                }
            }
        }

        if (!hit) {
            continue;
        }

        t = rule[i].targets->elts;

        for (j = 0; j < rule[i].targets->nelts; j++) {
            if (ngx_http_victorops_target_add(targets, &t[j].type,
                                              &t[j].slug)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_target_add(ngx_array_t *targets, ngx_str_t *type,
    ngx_str_t *slug)
{
    ngx_uint_t                    i;
    ngx_http_victorops_target_t  *t;

    t = targets->elts;

    for (i = 0; i < targets->nelts; i++) {
        if (t[i].type.len == type->len && t[i].slug.len == slug->len
            && ngx_strncmp(t[i].type.data, type->data, type->len) == 0
            && ngx_strncmp(t[i].slug.data, slug->data, slug->len) == 0)
        {
            return NGX_OK;
        }
    }

    t = ngx_array_push(targets);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->type = *type;
    t->slug = *slug;

    return NGX_OK;
}


/* VictorOps pages escalation policies and users, named by short slugs */

ngx_int_t
ngx_http_victorops_target_valid(ngx_str_t *type, ngx_str_t *slug)
{
    u_char  *p;

    if (!((type->len == sizeof("EscalationPolicy") - 1
           && ngx_strncmp(type->data, "EscalationPolicy", type->len) == 0)
          || (type->len == sizeof("User") - 1
              && ngx_strncmp(type->data, "User", type->len) == 0)))
    {
        return NGX_DECLINED;
    }

    if (slug->len == 0 || slug->len > 255) {
        return NGX_DECLINED;
    }

    /* letters, digits and "-_.@+": no separators, no URL syntax */

    for (p = slug->data; p < slug->data + slug->len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
              || *p == '.' || *p == '@' || *p == '+'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* jobs about a Rootly incident go in order under "rootly:ID" */

ngx_int_t
ngx_http_victorops_escalation_key(ngx_pool_t *pool, ngx_str_t *id,
    ngx_str_t *key)
{
    key->data = ngx_pnalloc(pool, sizeof("rootly:") - 1 + id->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_sprintf(key->data, "rootly:%V", id) - key->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_escalation_init(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc)
{
    ngx_memzero(esc, sizeof(ngx_http_victorops_escalation_t));

    if (ngx_array_init(&esc->targets, pool, 4,
                       sizeof(ngx_http_victorops_target_t))
        != NGX_OK
        || ngx_array_init(&esc->teams, pool, 2, sizeof(ngx_str_t)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The escalation job's body, kept in the store:
 * {"id","title","url","summary","details","targets":[...],"teams":[...]},
 * for Slack also "reply_url" and "reply_until" (epoch seconds)
 */

ngx_int_t
ngx_http_victorops_escalation_body(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc, ngx_str_t *body)
{
    yajl_gen    g;
    ngx_str_t  *team;
    ngx_uint_t  i;

    g = ngx_http_victorops_gen_create(pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_str(g, "id", &esc->id) != NGX_OK
        || ngx_http_victorops_gen_str(g, "title", &esc->title) != NGX_OK
        || ngx_http_victorops_gen_str(g, "url", &esc->url) != NGX_OK
        || ngx_http_victorops_gen_str(g, "summary", &esc->summary) != NGX_OK
        || ngx_http_victorops_gen_str(g, "details", &esc->details) != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "targets") != NGX_OK
        || ngx_http_victorops_gen_targets(g, &esc->targets) != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "teams") != NGX_OK
        || yajl_gen_array_open(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    team = esc->teams.elts;

    for (i = 0; i < esc->teams.nelts; i++) {
        if (yajl_gen_string(g, team[i].data, team[i].len)
            != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }
    }

    if (yajl_gen_array_close(g) != yajl_gen_status_ok
        || (esc->reply_url.len
            && ngx_http_victorops_gen_str(g, "reply_url", &esc->reply_url)
               != NGX_OK)
        || (esc->reply_until
            && (ngx_http_victorops_gen_cstr(g, "reply_until") != NGX_OK
                || yajl_gen_integer(g, (long long) esc->reply_until)
                   != yajl_gen_status_ok))
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, pool, body) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_escalation_parse(ngx_pool_t *pool, ngx_str_t *body,
    ngx_http_victorops_escalation_t *esc)
{
    ngx_int_t                   rc;
    ngx_str_t                   name;
    ngx_http_victorops_json_t  *root, *v;

    if (ngx_http_victorops_escalation_init(pool, esc) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_victorops_json_parse(pool, body,
                                       NGX_HTTP_VICTOROPS_RESP_DEPTH, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_victorops_json_text(root, "id", &esc->id) != NGX_OK) {
        return NGX_DECLINED;
    }

    (void) ngx_http_victorops_json_text(root, "title", &esc->title);
    (void) ngx_http_victorops_json_text(root, "url", &esc->url);
    (void) ngx_http_victorops_json_text(root, "summary", &esc->summary);
    (void) ngx_http_victorops_json_text(root, "details", &esc->details);
    (void) ngx_http_victorops_json_text(root, "reply_url", &esc->reply_url);

    if (ngx_http_victorops_json_text(root, "reply_until", &name) == NGX_OK) {
        esc->reply_until = ngx_atotm(name.data, name.len);

        if (esc->reply_until == NGX_ERROR) {
            esc->reply_until = 0;
        }
    }

    ngx_str_set(&name, "targets");
    v = ngx_http_victorops_json_lookup(root, &name);

    if (v && ngx_http_victorops_json_targets(pool, v, &esc->targets)
             == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&name, "teams");
    v = ngx_http_victorops_json_lookup(root, &name);

    if (v && v->type == NGX_HTTP_VICTOROPS_JSON_ARRAY) {
        for (v = v->child; v; v = v->next) {
            if (v->type == NGX_HTTP_VICTOROPS_JSON_STRING && v->value.len
                && ngx_http_victorops_str_push(&esc->teams, &v->value)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/*
 * What an escalation pages, in one comparable string: the sorted
 * "Type:slug" of its targets and "Team:slug" of its VictorOps teams.
 */

ngx_int_t
ngx_http_victorops_escalation_canon(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc, ngx_str_t *canon)
{
    u_char                       *p;
    size_t                        len;
    ngx_str_t                    *s, *team;
    ngx_uint_t                    i, n;
    ngx_http_victorops_target_t  *t;

    n = esc->targets.nelts + esc->teams.nelts;

    ngx_str_null(canon);

    if (n == 0) {
        return NGX_OK;
    }

    s = ngx_palloc(pool, n * sizeof(ngx_str_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    t = esc->targets.elts;
    team = esc->teams.elts;
    len = 0;

    for (i = 0; i < n; i++) {
        if (i < esc->targets.nelts) {
            s[i].len = t[i].type.len + 1 + t[i].slug.len;
            s[i].data = ngx_pnalloc(pool, s[i].len);
            if (s[i].data == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(s[i].data, "%V:%V", &t[i].type, &t[i].slug);

        } else {
            s[i].len = sizeof("Team:") - 1 + team[i - esc->targets.nelts].len;
            s[i].data = ngx_pnalloc(pool, s[i].len);
            if (s[i].data == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(s[i].data, "Team:%V", &team[i - esc->targets.nelts]);
        }

        len += s[i].len + 1;
    }

    ngx_qsort(s, n, sizeof(ngx_str_t), ngx_http_victorops_str_cmp);

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    canon->data = p;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, s[i].data, s[i].len);
    }

    canon->len = p - canon->data;

    return NGX_OK;
}


/* "policy pol-a, user alice" for timeline events and logs */

ngx_int_t
ngx_http_victorops_targets_text(ngx_pool_t *pool, ngx_array_t *targets,
    ngx_str_t *text)
{
    u_char                       *p, *last;
    ngx_uint_t                    i;
    ngx_http_victorops_target_t  *t;

    p = ngx_pnalloc(pool, NGX_HTTP_VICTOROPS_TEXT_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    text->data = p;
    last = p + NGX_HTTP_VICTOROPS_TEXT_MAX;

    t = targets->elts;

    for (i = 0; i < targets->nelts; i++) {
        p = ngx_slprintf(p, last, "%s%s %V", i ? ", " : "",
                         t[i].type.len == 4 ? "user" : "policy",
                         &t[i].slug);
    }

    text->len = ngx_http_victorops_utf8_cut(text->data, p) - text->data;

    return NGX_OK;
}


/*
 * The VictorOps incident's summary: as given, else the Rootly title,
 * else "Rootly incident ID" (what a retried create looks for, too).
 */

ngx_int_t
ngx_http_victorops_escalation_summary(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc, ngx_str_t *summary)
{
    *summary = esc->summary.len ? esc->summary : esc->title;

    if (summary->len) {
        return NGX_OK;
    }

    summary->data = ngx_pnalloc(pool, sizeof("Rootly incident ") - 1
                                      + esc->id.len);
    if (summary->data == NULL) {
        return NGX_ERROR;
    }

    summary->len = ngx_sprintf(summary->data, "Rootly incident %V", &esc->id)
                   - summary->data;

    return NGX_OK;
}


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
        || ngx_http_victorops_gen_targets(g, targets) != NGX_OK
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
        || ngx_http_victorops_gen_targets(g, targets) != NGX_OK
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
    u_char                       *p, *last, *start;
    ngx_int_t                     rc;
    ngx_str_t                     name, team, slug, policy, user;
    ngx_uint_t                    i, hit, users;
    ngx_http_victorops_json_t    *root, *v, *t, *now, *u;
    ngx_http_victorops_target_t  *target;

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

        if (now == NULL || now->type != NGX_HTTP_VICTOROPS_JSON_ARRAY) {
            continue;
        }

        /* the team was paged: by its VictorOps slug or one of its policies */

        hit = ngx_http_victorops_str_in(teams, &slug);
        target = targets->elts;

        for (v = now->child; v && !hit; v = v->next) {
            if (ngx_http_victorops_json_text(v, "escalationPolicy.slug",
                                             &policy)
                != NGX_OK)
            {
                continue;
            }

            for (i = 0; i < targets->nelts; i++) {
                if (target[i].slug.len == policy.len
                    && ngx_strncmp(target[i].slug.data, policy.data,
                                   policy.len) == 0)
                {
                    hit = 1;
                }
            }
        }

        if (!hit) {
            continue;
        }

        start = p;
        p = ngx_slprintf(p, last, "%sVictorOps on-call for %V: ",
                         text->data == p ? "" : "; ", &team);
        users = 0;

        for (v = now->child; v; v = v->next) {
            (void) ngx_http_victorops_json_text(v, "escalationPolicy.name",
                                                &policy);

            ngx_str_set(&name, "users");
            u = ngx_http_victorops_json_lookup(v, &name);

            if (u == NULL || u->type != NGX_HTTP_VICTOROPS_JSON_ARRAY) {
                continue;
            }

            for (u = u->child; u; u = u->next) {
                if (ngx_http_victorops_json_text(u, "onCallUser.username",
                                                 &user)
                    != NGX_OK)
                {
                    continue;
                }

                p = ngx_slprintf(p, last, "%s%V", users++ ? ", " : "",
                                 &user);

                if (policy.len) {
                    p = ngx_slprintf(p, last, " (%V)", &policy);
                }
            }
        }

        if (users == 0) {
            p = start;
        }
    }

    text->len = ngx_http_victorops_utf8_cut(text->data, p) - text->data;

    return text->len ? NGX_OK : NGX_DECLINED;
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


/*
 * A Slack command's text: "help" (or nothing), "list", or a VictorOps
 * team (or escalation policy) slug and an optional summary.
 */

ngx_uint_t
ngx_http_victorops_slack_text(ngx_str_t *text, ngx_str_t *slug,
    ngx_str_t *summary)
{
    u_char  *p, *end, *word;

    /* no "text" at all is a null string: no arithmetic on its NULL */

    if (text->len == 0) {
        ngx_str_null(slug);
        ngx_str_null(summary);
        return NGX_HTTP_VICTOROPS_SLACK_HELP;
    }

    p = text->data;
    end = p + text->len;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    word = p;

    while (p < end && *p != ' ' && *p != '\t') {
        p++;
    }

    slug->data = word;
    slug->len = p - word;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    summary->data = p;
    summary->len = end - p;

    if (slug->len == 0
        || (slug->len == 4 && ngx_strncasecmp(slug->data, (u_char *) "help", 4)
                              == 0))
    {
        return NGX_HTTP_VICTOROPS_SLACK_HELP;
    }

    if (slug->len == 4 && summary->len == 0
        && ngx_strncasecmp(slug->data, (u_char *) "list", 4) == 0)
    {
        return NGX_HTTP_VICTOROPS_SLACK_LIST;
    }

    return NGX_HTTP_VICTOROPS_SLACK_PAGE;
}


/*
 * NGX_OK: "url" is http(s) to one of "hosts" ("host" or "host:port"),
 * so that a response_url cannot point the module at internal hosts.
 */

ngx_int_t
ngx_http_victorops_url_allowed(ngx_str_t *url, ngx_array_t *hosts)
{
    u_char      *z;
    char        *scheme, *host, *port, *user;
    size_t       hlen, plen;
    CURLU       *u;
    ngx_str_t   *h;
    ngx_int_t    rc;
    ngx_uint_t   i;

    if (url->len == 0 || url->len > 2048 || hosts == NULL) {
        return NGX_DECLINED;
    }

    z = ngx_alloc(url->len + 1, ngx_cycle->log);
    if (z == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(z, url->data, url->len);
    z[url->len] = '\0';

    if (ngx_strlen(z) != url->len) {
        ngx_free(z);
        return NGX_DECLINED;
    }

    u = curl_url();
    if (u == NULL) {
        ngx_free(z);
        return NGX_ERROR;
    }

    scheme = NULL;
    host = NULL;
    port = NULL;
    user = NULL;
    rc = NGX_DECLINED;

    if (curl_url_set(u, CURLUPART_URL, (char *) z, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK
        || (ngx_strcmp(scheme, "https") != 0
            && ngx_strcmp(scheme, "http") != 0)
        || curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER)
    {
        goto done;
    }

    (void) curl_url_get(u, CURLUPART_PORT, &port, 0);

    hlen = ngx_strlen(host);
    plen = port ? ngx_strlen(port) : 0;
    h = hosts->elts;

    for (i = 0; i < hosts->nelts; i++) {

        /* "host" allows any port, "host:port" that port only */

        if (h[i].len == hlen
            && ngx_strncasecmp(h[i].data, (u_char *) host, hlen) == 0)
        {
            rc = NGX_OK;
            break;
        }

        if (port && h[i].len == hlen + 1 + plen
            && ngx_strncasecmp(h[i].data, (u_char *) host, hlen) == 0
            && h[i].data[hlen] == ':'
            && ngx_strncmp(h[i].data + hlen + 1, port, plen) == 0)
        {
            rc = NGX_OK;
            break;
        }
    }

done:

    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_url_cleanup(u);
    ngx_free(z);

    return rc;
}


/* {"response_type":TYPE,"text":...} */

ngx_int_t
ngx_http_victorops_slack_message(ngx_pool_t *pool, const char *type,
    ngx_str_t *text, ngx_str_t *out)
{
    yajl_gen  g;

    g = ngx_http_victorops_gen_create(pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "response_type") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, type) != NGX_OK
        || ngx_http_victorops_gen_str(g, "text", text) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, pool, out) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
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

    g = ngx_http_victorops_gen_create(pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "data") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "type") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "groups") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "attributes") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_str(g, "name", &team->name) != NGX_OK
        || ngx_http_victorops_gen_str(g, "description", &description)
           != NGX_OK
        || ngx_http_victorops_gen_str(g, "victor_ops_id", &team->slug)
           != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, pool, body) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_gen_targets(yajl_gen g, ngx_array_t *targets)
{
    ngx_uint_t                    i;
    ngx_http_victorops_target_t  *t;

    if (yajl_gen_array_open(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    t = targets->elts;

    for (i = 0; i < targets->nelts; i++) {
        if (yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_http_victorops_gen_str(g, "type", &t[i].type) != NGX_OK
            || ngx_http_victorops_gen_str(g, "slug", &t[i].slug) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }
    }

    return (yajl_gen_array_close(g) == yajl_gen_status_ok) ? NGX_OK
                                                           : NGX_ERROR;
}


/* [{"type","slug"}]: DECLINED if one is not a valid VictorOps target */

static ngx_int_t
ngx_http_victorops_json_targets(ngx_pool_t *pool,
    ngx_http_victorops_json_t *arr, ngx_array_t *targets)
{
    ngx_str_t                   type, slug;
    ngx_http_victorops_json_t  *v;

    if (arr->type != NGX_HTTP_VICTOROPS_JSON_ARRAY) {
        return NGX_DECLINED;
    }

    for (v = arr->child; v; v = v->next) {
        if (ngx_http_victorops_json_text(v, "type", &type) != NGX_OK
            || ngx_http_victorops_json_text(v, "slug", &slug) != NGX_OK
            || ngx_http_victorops_target_valid(&type, &slug) != NGX_OK)
        {
            return NGX_DECLINED;
        }

        if (ngx_http_victorops_target_add(targets, &type, &slug) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_targets_parse(ngx_pool_t *pool,
    ngx_http_victorops_json_t *arr, ngx_array_t *targets)
{
    return ngx_http_victorops_json_targets(pool, arr, targets);
}


static ngx_int_t
ngx_http_victorops_str_push(ngx_array_t *a, ngx_str_t *s)
{
    ngx_str_t  *e;

    if (ngx_http_victorops_str_in(a, s)) {
        return NGX_OK;
    }

    e = ngx_array_push(a);
    if (e == NULL) {
        return NGX_ERROR;
    }

    *e = *s;

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_str_in(ngx_array_t *a, ngx_str_t *s)
{
    ngx_str_t   *e;
    ngx_uint_t   i;

    e = a->elts;

    for (i = 0; i < a->nelts; i++) {
        if (e[i].len == s->len
            && ngx_strncmp(e[i].data, s->data, s->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static int
ngx_http_victorops_str_cmp(const void *one, const void *two)
{
    const ngx_str_t  *a = one, *b = two;

    return (int) ngx_memn2cmp(a->data, b->data, a->len, b->len);
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
