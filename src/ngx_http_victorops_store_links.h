
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_store_links.c defines for the other files;
 * included by ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_STORE_LINKS_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_STORE_LINKS_H_INCLUDED_


/* a recent delivery's hash and when it was seen (store_dedup_list()) */

typedef void (*ngx_http_victorops_dedup_row_pt)(void *data, u_char *hash,
    size_t len, int64_t seen);


ngx_int_t ngx_http_victorops_store_link_get(
    ngx_http_victorops_integration_t *vi, ngx_pool_t *pool, ngx_str_t *key,
    ngx_str_t *incident, ngx_str_t *entity, ngx_str_t *rootly_incident,
    ngx_str_t *rootly_alert);
ngx_int_t ngx_http_victorops_store_link_set(
    ngx_http_victorops_integration_t *vi, ngx_str_t *key,
    ngx_str_t *incident, ngx_str_t *entity, ngx_str_t *rootly_incident,
    ngx_str_t *rootly_alert, int64_t now);
ngx_int_t ngx_http_victorops_store_link_delete(
    ngx_http_victorops_integration_t *vi, ngx_str_t *key,
    ngx_str_t *incident, ngx_str_t *entity);
ngx_int_t ngx_http_victorops_store_escalation_get(
    ngx_http_victorops_integration_t *vi, ngx_pool_t *pool,
    ngx_str_t *rootly_incident, ngx_http_victorops_link_t *link);
ngx_int_t ngx_http_victorops_store_links_open(
    ngx_http_victorops_integration_t *vi, ngx_pool_t *pool,
    ngx_str_t *rootly_incident, ngx_array_t *links);
ngx_int_t ngx_http_victorops_store_sync_list(
    ngx_http_victorops_integration_t *vi, ngx_pool_t *pool, ngx_uint_t n,
    ngx_array_t *links);
ngx_int_t ngx_http_victorops_store_link_write(
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_link_t *link,
    int64_t now);
ngx_int_t ngx_http_victorops_store_dedup_claim(
    ngx_http_victorops_integration_t *vi, u_char *hash, size_t len,
    int64_t now, int64_t since);
ngx_int_t ngx_http_victorops_store_event_seen(
    ngx_http_victorops_integration_t *vi, ngx_str_t *id, int64_t now);
ngx_int_t ngx_http_victorops_store_dedup_expire(
    ngx_http_victorops_integration_t *vi, int64_t deliveries, int64_t events);
ngx_int_t ngx_http_victorops_store_signature_seen(
    ngx_http_victorops_integration_t *vi, u_char *sig, size_t len);
ngx_int_t ngx_http_victorops_store_signature_claim(
    ngx_http_victorops_integration_t *vi, u_char *sig, size_t len,
    int64_t now);
ngx_int_t ngx_http_victorops_store_signature_expire(
    ngx_http_victorops_integration_t *vi, int64_t before);
ngx_int_t ngx_http_victorops_store_dedup_list(
    ngx_http_victorops_integration_t *vi, int64_t since, ngx_uint_t n,
    ngx_http_victorops_dedup_row_pt handler, void *data);


#endif /* _NGX_HTTP_VICTOROPS_STORE_LINKS_H_INCLUDED_ */
