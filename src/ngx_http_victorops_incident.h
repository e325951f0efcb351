
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Rootly incidents and VictorOps incidents: escalation rules, the
 * bodies sent to the VictorOps public API and the reading of its
 * answers.  Nothing here knows about ngx_http_request_t.
 */


#ifndef _NGX_HTTP_VICTOROPS_INCIDENT_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_INCIDENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_payload.h"


#define NGX_HTTP_VICTOROPS_BY_SEVERITY    1
#define NGX_HTTP_VICTOROPS_BY_TEAM        2


/* {"type":"EscalationPolicy"|"User","slug":...} */

typedef struct {
    ngx_str_t                     type;
    ngx_str_t                     slug;
} ngx_http_victorops_target_t;


/* "escalate severity=sev0,sev1 policy=pol-a user=alice;" */

typedef struct {
    ngx_uint_t                    by;
    ngx_array_t                  *values;       /* ngx_str_t */
    ngx_array_t                  *targets;      /* target_t */
} ngx_http_victorops_rule_t;


/* the parts of a Rootly incident (webhook "data") escalation looks at */

typedef struct {
    ngx_str_t                     id;
    ngx_str_t                     title;
    ngx_str_t                     url;
    ngx_str_t                     status;
    ngx_str_t                     severity;     /* slug, else name */
    ngx_str_t                     severity_name;
    ngx_array_t                   teams;        /* ngx_str_t: slug, name */
    ngx_array_t                   vo_teams;     /* ngx_str_t victor_ops_id */
} ngx_http_victorops_rootly_incident_t;


/* an escalation job's body: what to page for which Rootly incident */

typedef struct {
    ngx_str_t                     id;
    ngx_str_t                     title;
    ngx_str_t                     url;
    ngx_str_t                     summary;
    ngx_str_t                     details;
    ngx_array_t                   targets;      /* target_t */
    ngx_array_t                   teams;        /* ngx_str_t VictorOps team */
    ngx_str_t                     reply_url;    /* Slack's response_url */
    time_t                        reply_until;  /* ... is valid until */
    ngx_str_t                     mark;         /* ends a create's details */
} ngx_http_victorops_escalation_t;


/* Slack: a command's response_url works 30 minutes, 5 times at most */

#define NGX_HTTP_VICTOROPS_SLACK_URL_TTL  1800
#define NGX_HTTP_VICTOROPS_SLACK_URL_USES 5


/* a Slack command's text: "help", "list", "<team or policy> [summary]" */

#define NGX_HTTP_VICTOROPS_SLACK_HELP     0
#define NGX_HTTP_VICTOROPS_SLACK_LIST     1
#define NGX_HTTP_VICTOROPS_SLACK_PAGE     2


/* a VictorOps team, as GET /api-public/v1/team lists it */

typedef struct {
    ngx_str_t                     name;
    ngx_str_t                     slug;
} ngx_http_victorops_vo_team_t;


/* a search of GET /api-public/v1/incidents for a marked incident */

typedef struct ngx_http_victorops_vo_find_s  ngx_http_victorops_vo_find_t;


/* a VictorOps incident as GET /api-public/v1/incidents lists it */

#define NGX_HTTP_VICTOROPS_VO_OPEN        0
#define NGX_HTTP_VICTOROPS_VO_ACKED       1
#define NGX_HTTP_VICTOROPS_VO_RESOLVED    2

typedef struct {
    ngx_str_t                     number;
    ngx_str_t                     entity;
    ngx_str_t                     summary;
    ngx_str_t                     user;         /* last transition's */
    time_t                        start;
    ngx_uint_t                    phase;
} ngx_http_victorops_vo_incident_t;


ngx_int_t ngx_http_victorops_json_parse(ngx_pool_t *pool, ngx_str_t *text,
    ngx_uint_t depth, ngx_http_victorops_json_t **root);
ngx_int_t ngx_http_victorops_json_text(ngx_http_victorops_json_t *obj,
    const char *name, ngx_str_t *value);

ngx_int_t ngx_http_victorops_incident_parse(ngx_pool_t *pool,
    ngx_http_victorops_json_t *data,
    ngx_http_victorops_rootly_incident_t *inc);
ngx_int_t ngx_http_victorops_incident_terminal(ngx_str_t *status);
ngx_int_t ngx_http_victorops_rules_match(ngx_array_t *rules,
    ngx_http_victorops_rootly_incident_t *inc, ngx_array_t *targets);
ngx_int_t ngx_http_victorops_target_add(ngx_array_t *targets,
    ngx_str_t *type, ngx_str_t *slug);
ngx_int_t ngx_http_victorops_targets_parse(ngx_pool_t *pool,
    ngx_http_victorops_json_t *arr, ngx_array_t *targets);
ngx_int_t ngx_http_victorops_target_valid(ngx_str_t *type, ngx_str_t *slug);

ngx_int_t ngx_http_victorops_escalation_key(ngx_pool_t *pool, ngx_str_t *id,
    ngx_str_t *key);
ngx_int_t ngx_http_victorops_escalation_init(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc);
ngx_int_t ngx_http_victorops_escalation_body(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc, ngx_str_t *body);
ngx_int_t ngx_http_victorops_escalation_parse(ngx_pool_t *pool,
    ngx_str_t *body, ngx_http_victorops_escalation_t *esc);
ngx_int_t ngx_http_victorops_escalation_summary(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc, ngx_str_t *summary);
ngx_int_t ngx_http_victorops_escalation_canon(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc, ngx_str_t *canon);
ngx_int_t ngx_http_victorops_targets_text(ngx_pool_t *pool,
    ngx_array_t *targets, ngx_str_t *text);

ngx_int_t ngx_http_victorops_vo_create_body(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc, ngx_array_t *targets,
    ngx_str_t *user, ngx_str_t *body);
ngx_int_t ngx_http_victorops_vo_reroute_body(ngx_pool_t *pool,
    ngx_str_t *number, ngx_array_t *targets, ngx_str_t *user,
    ngx_str_t *body);
ngx_int_t ngx_http_victorops_vo_resolve_body(ngx_pool_t *pool,
    ngx_array_t *numbers, ngx_str_t *user, ngx_str_t *message,
    ngx_str_t *body);
ngx_int_t ngx_http_victorops_vo_created(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_str_t *number, ngx_str_t *entity, ngx_str_t *reason);
ngx_int_t ngx_http_victorops_vo_rerouted(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_str_t *reason);
ngx_int_t ngx_http_victorops_vo_resolved(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *done, ngx_str_t *reason);
ngx_int_t ngx_http_victorops_vo_incidents(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *incidents);
ngx_int_t ngx_http_victorops_vo_mark(ngx_pool_t *pool, ngx_str_t *job,
    ngx_str_t *mark);
ngx_http_victorops_vo_find_t *ngx_http_victorops_vo_find_create(
    ngx_pool_t *pool, ngx_str_t *mark);
ngx_int_t ngx_http_victorops_vo_find_feed(ngx_http_victorops_vo_find_t *f,
    u_char *data, size_t len);
ngx_int_t ngx_http_victorops_vo_find_result(ngx_http_victorops_vo_find_t *f,
    ngx_str_t *number, ngx_str_t *entity, ngx_str_t *reason);
ngx_int_t ngx_http_victorops_vo_policies(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *slugs);
ngx_int_t ngx_http_victorops_vo_oncall(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *targets, ngx_array_t *teams, ngx_str_t *text);
ngx_int_t ngx_http_victorops_vo_error(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_str_t *reason);
time_t ngx_http_victorops_parse_iso8601(ngx_str_t *s);

ngx_uint_t ngx_http_victorops_slack_text(ngx_str_t *text, ngx_str_t *slug,
    ngx_str_t *summary);
ngx_int_t ngx_http_victorops_url_allowed(ngx_str_t *url, ngx_array_t *hosts);
ngx_int_t ngx_http_victorops_slack_message(ngx_pool_t *pool,
    const char *type, ngx_str_t *text, ngx_str_t *out);
ngx_int_t ngx_http_victorops_vo_teams(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *teams);
ngx_int_t ngx_http_victorops_rootly_team(ngx_pool_t *pool,
    ngx_http_victorops_vo_team_t *team, ngx_str_t *body);


#endif /* _NGX_HTTP_VICTOROPS_INCIDENT_H_INCLUDED_ */
