
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_policies.c defines for the other files;
 * included by ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_POLICIES_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_POLICIES_H_INCLUDED_


/* a worker's team-policy cache */

typedef struct ngx_http_victorops_policies_s  ngx_http_victorops_policies_t;


ngx_http_victorops_policies_t *ngx_http_victorops_policies_create(
    ngx_pool_t *pool);
ngx_array_t *ngx_http_victorops_policies_get(
    ngx_http_victorops_policies_t *pc, ngx_str_t *slug, int64_t now);
ngx_http_victorops_transfer_t *ngx_http_victorops_policies_request(
    ngx_http_victorops_integration_t *vi, ngx_pool_t *pool, ngx_str_t *slug);
ngx_int_t ngx_http_victorops_policies_store(
    ngx_http_victorops_policies_t *pc, ngx_str_t *slug, ngx_str_t *resp,
    int64_t now);
ngx_int_t ngx_http_victorops_policies_targets(
    ngx_http_victorops_policies_t *pc, ngx_pool_t *pool, ngx_array_t *teams,
    ngx_array_t *targets);


#endif /* _NGX_HTTP_VICTOROPS_POLICIES_H_INCLUDED_ */
