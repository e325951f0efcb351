
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_escalation.c defines: Rootly incidents,
 * escalation rules and targets, the escalation job's body.  Request-free
 * (make check-core, fuzz/), included by ngx_http_victorops_module.h.
 */


#ifndef _NGX_HTTP_VICTOROPS_ESCALATION_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_ESCALATION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_payload.h"


/* the longest text written for a timeline event or a VictorOps incident */
#define NGX_HTTP_VICTOROPS_TEXT_MAX       4096

/* how deep the documents read here nest: job bodies, VictorOps answers */
#define NGX_HTTP_VICTOROPS_RESP_DEPTH     16


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


ngx_int_t ngx_http_victorops_incident_parse(ngx_pool_t *pool,
    ngx_http_victorops_json_t *data,
    ngx_http_victorops_rootly_incident_t *inc);
ngx_int_t ngx_http_victorops_incident_terminal(ngx_str_t *status);
ngx_int_t ngx_http_victorops_rules_match(ngx_array_t *rules,
    ngx_http_victorops_rootly_incident_t *inc, ngx_array_t *targets);
ngx_int_t ngx_http_victorops_target_add(ngx_array_t *targets,
    ngx_str_t *type, ngx_str_t *slug);
ngx_int_t ngx_http_victorops_target_valid(ngx_str_t *type, ngx_str_t *slug);
ngx_int_t ngx_http_victorops_targets_parse(ngx_pool_t *pool,
    ngx_http_victorops_json_t *arr, ngx_array_t *targets);
ngx_int_t ngx_http_victorops_targets_gen(yajl_gen g, ngx_array_t *targets);
ngx_int_t ngx_http_victorops_targets_text(ngx_pool_t *pool,
    ngx_array_t *targets, ngx_str_t *text);

ngx_int_t ngx_http_victorops_escalation_key(ngx_pool_t *pool, ngx_str_t *id,
    ngx_str_t *key);
ngx_int_t ngx_http_victorops_escalation_init(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc);
ngx_int_t ngx_http_victorops_escalation_body(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc, ngx_str_t *body);
ngx_int_t ngx_http_victorops_escalation_parse(ngx_pool_t *pool,
    ngx_str_t *body, ngx_http_victorops_escalation_t *esc);
ngx_int_t ngx_http_victorops_escalation_canon(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc, ngx_str_t *canon);
ngx_int_t ngx_http_victorops_escalation_summary(ngx_pool_t *pool,
    ngx_http_victorops_escalation_t *esc, ngx_str_t *summary);

ngx_int_t ngx_http_victorops_str_push(ngx_array_t *a, ngx_str_t *s);
ngx_int_t ngx_http_victorops_str_in(ngx_array_t *a, ngx_str_t *s);


#endif /* _NGX_HTTP_VICTOROPS_ESCALATION_H_INCLUDED_ */
