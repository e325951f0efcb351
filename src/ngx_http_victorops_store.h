
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_store.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_STORE_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_STORE_H_INCLUDED_


ngx_int_t ngx_http_victorops_store_prepare(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_store_open(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_store_close(ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_store_begin(ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_store_commit(
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_store_rollback(ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_store_insert(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job);
ngx_int_t ngx_http_victorops_store_claim(ngx_http_victorops_integration_t *vi,
    ngx_pool_t *pool, int64_t now, int64_t lease_until, ngx_uint_t n,
    ngx_array_t *jobs);
ngx_int_t ngx_http_victorops_store_done(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job);
ngx_int_t ngx_http_victorops_store_retry(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job, int64_t next_at, ngx_uint_t status,
    ngx_str_t *error);
ngx_int_t ngx_http_victorops_store_release(
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_job_t *job,
    int64_t next_at);
ngx_int_t ngx_http_victorops_store_dead(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job, ngx_uint_t status, ngx_str_t *error,
    int64_t now);
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
ngx_int_t ngx_http_victorops_store_alert_pending(
    ngx_http_victorops_integration_t *vi, ngx_str_t *key);
ngx_int_t ngx_http_victorops_store_dedup_claim(
    ngx_http_victorops_integration_t *vi, u_char *hash, size_t len,
    int64_t now, int64_t since);
ngx_int_t ngx_http_victorops_store_event_seen(
    ngx_http_victorops_integration_t *vi, ngx_str_t *id, int64_t now);
ngx_int_t ngx_http_victorops_store_dedup_expire(
    ngx_http_victorops_integration_t *vi, int64_t deliveries, int64_t events);
ngx_int_t ngx_http_victorops_store_retention(
    ngx_http_victorops_integration_t *vi, int64_t before, ngx_uint_t n,
    ngx_uint_t *dead, ngx_uint_t *links);
ngx_int_t ngx_http_victorops_store_signature_seen(
    ngx_http_victorops_integration_t *vi, u_char *sig, size_t len);
ngx_int_t ngx_http_victorops_store_signature_claim(
    ngx_http_victorops_integration_t *vi, u_char *sig, size_t len,
    int64_t now);
ngx_int_t ngx_http_victorops_store_signature_expire(
    ngx_http_victorops_integration_t *vi, int64_t before);
ngx_int_t ngx_http_victorops_store_stats(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_stats_t *stats);
ngx_int_t ngx_http_victorops_store_due(ngx_http_victorops_integration_t *vi,
    int64_t now);
void ngx_http_victorops_store_checkpoint(ngx_http_victorops_integration_t *vi,
    int frames);
ngx_int_t ngx_http_victorops_store_expire_leases(
    ngx_http_victorops_integration_t *vi, int64_t now, ngx_uint_t *n);
int64_t ngx_http_victorops_store_next_due(
    ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_store_dead_list(
    ngx_http_victorops_integration_t *vi, yajl_gen g, ngx_uint_t limit);
ngx_int_t ngx_http_victorops_store_replay(ngx_http_victorops_integration_t *vi,
    ngx_str_t *id, int64_t now, ngx_uint_t *n);
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
ngx_int_t ngx_http_victorops_store_job_pending(
    ngx_http_victorops_integration_t *vi, ngx_str_t *key, ngx_uint_t kind);
ngx_int_t ngx_http_victorops_store_lease(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job, int64_t until);
ngx_int_t ngx_http_victorops_store_number_linked(
    ngx_http_victorops_integration_t *vi, ngx_str_t *number);


#endif /* _NGX_HTTP_VICTOROPS_STORE_H_INCLUDED_ */
