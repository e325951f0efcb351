
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_vo_api.c defines: the bodies of VictorOps
 * public API calls and the reading of its answers.  Request-free (make
 * check-core, fuzz/), included by ngx_http_victorops_module.h.
 */


#ifndef _NGX_HTTP_VICTOROPS_VO_API_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_VO_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_payload.h"
#include "ngx_http_victorops_escalation.h"


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


/* a VictorOps team, as GET /api-public/v1/team lists it */

typedef struct {
    ngx_str_t                     name;
    ngx_str_t                     slug;
} ngx_http_victorops_vo_team_t;


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
ngx_int_t ngx_http_victorops_vo_error(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_str_t *reason);
ngx_int_t ngx_http_victorops_vo_incidents(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *incidents);
time_t ngx_http_victorops_parse_iso8601(ngx_str_t *s);
ngx_int_t ngx_http_victorops_vo_teams(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *teams);
ngx_int_t ngx_http_victorops_vo_policies(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *slugs);
ngx_int_t ngx_http_victorops_vo_oncall(ngx_pool_t *pool, ngx_str_t *resp,
    ngx_array_t *targets, ngx_array_t *teams, ngx_str_t *text);

ngx_int_t ngx_http_victorops_vo_mark(ngx_pool_t *pool, ngx_str_t *job,
    ngx_str_t *mark);
ngx_http_victorops_vo_find_t *ngx_http_victorops_vo_find_create(
    ngx_pool_t *pool, ngx_str_t *mark);
ngx_int_t ngx_http_victorops_vo_find_feed(ngx_http_victorops_vo_find_t *f,
    u_char *data, size_t len);
ngx_int_t ngx_http_victorops_vo_find_result(ngx_http_victorops_vo_find_t *f,
    ngx_str_t *number, ngx_str_t *entity, ngx_str_t *reason);


#endif /* _NGX_HTTP_VICTOROPS_VO_API_H_INCLUDED_ */
