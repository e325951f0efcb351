
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Rootly incidents to escalations: the parts of a Rootly incident
 * (webhook "data") escalation looks at, which escalation rules it
 * matches and their VictorOps targets, the escalation job's own body,
 * its canonical form and its summary.  Nothing here knows about
 * ngx_http_request_t.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_escalation.h"


static int ngx_http_victorops_str_cmp(const void *one, const void *two);


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


/* [{"type","slug"}]: DECLINED if one is not a valid VictorOps target */

ngx_int_t
ngx_http_victorops_targets_parse(ngx_pool_t *pool,
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


/* the same, written: [{"type","slug"}] */

ngx_int_t
ngx_http_victorops_targets_gen(yajl_gen g, ngx_array_t *targets)
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
        || ngx_http_victorops_targets_gen(g, &esc->targets) != NGX_OK
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

    if (v && ngx_http_victorops_targets_parse(pool, v, &esc->targets)
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


/* strings as a set: "s" added unless it is in "a" already */

ngx_int_t
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


ngx_int_t
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
