
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_rootly_api.c defines: Rootly request bodies
 * and the text and keys they are made of, free of requests (the fuzz
 * targets and make check-core call them).
 */


#ifndef _NGX_HTTP_VICTOROPS_ROOTLY_API_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_ROOTLY_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_payload.h"
#include "ngx_http_victorops_vo_api.h"


ngx_int_t ngx_http_victorops_rootly_alert(ngx_pool_t *pool,
    ngx_http_victorops_event_t *ev, ngx_http_victorops_alert_conf_t *conf,
    ngx_str_t *body);
ngx_int_t ngx_http_victorops_rootly_event(ngx_pool_t *pool, ngx_str_t *text,
    ngx_str_t *body);
ngx_int_t ngx_http_victorops_rootly_resolve(ngx_pool_t *pool,
    ngx_str_t *text, ngx_str_t *body);
ngx_int_t ngx_http_victorops_rootly_team(ngx_pool_t *pool,
    ngx_http_victorops_vo_team_t *team, ngx_str_t *body);
ngx_int_t ngx_http_victorops_activity_text(ngx_pool_t *pool,
    ngx_http_victorops_event_t *ev, ngx_str_t *text);
ngx_int_t ngx_http_victorops_event_key(ngx_pool_t *pool,
    ngx_http_victorops_event_t *ev, ngx_str_t *key);
ngx_int_t ngx_http_victorops_iso8601(ngx_pool_t *pool, ngx_str_t *epoch,
    ngx_str_t *iso);


#endif /* _NGX_HTTP_VICTOROPS_ROOTLY_API_H_INCLUDED_ */
