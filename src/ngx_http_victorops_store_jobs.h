
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_store_jobs.c defines for the other files;
 * included by ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_STORE_JOBS_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_STORE_JOBS_H_INCLUDED_


ngx_int_t ngx_http_victorops_store_insert(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job);
ngx_int_t ngx_http_victorops_store_claim(ngx_http_victorops_integration_t *vi,
    ngx_pool_t *pool, int64_t now, int64_t lease_until, ngx_uint_t n,
    ngx_array_t *jobs);
ngx_int_t ngx_http_victorops_store_lease(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_job_t *job, int64_t until);
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
ngx_int_t ngx_http_victorops_store_job_pending(
    ngx_http_victorops_integration_t *vi, ngx_str_t *key, ngx_uint_t kind);
ngx_int_t ngx_http_victorops_store_due(ngx_http_victorops_integration_t *vi,
    int64_t now);
int64_t ngx_http_victorops_store_next_due(
    ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_store_expire_leases(
    ngx_http_victorops_integration_t *vi, int64_t now, ngx_uint_t *n);
ngx_int_t ngx_http_victorops_store_retention(
    ngx_http_victorops_integration_t *vi, int64_t before, ngx_uint_t n,
    ngx_uint_t *dead, ngx_uint_t *links);
ngx_int_t ngx_http_victorops_store_stats(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_store_stats_t *stats);
ngx_int_t ngx_http_victorops_store_dead_list(
    ngx_http_victorops_integration_t *vi, yajl_gen g, ngx_uint_t limit);
ngx_int_t ngx_http_victorops_store_replay(ngx_http_victorops_integration_t *vi,
    ngx_str_t *id, int64_t now, ngx_uint_t *n);


#endif /* _NGX_HTTP_VICTOROPS_STORE_JOBS_H_INCLUDED_ */
