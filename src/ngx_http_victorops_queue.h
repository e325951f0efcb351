
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_queue.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_QUEUE_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_QUEUE_H_INCLUDED_


int64_t ngx_http_victorops_now(void);
void ngx_http_victorops_count(ngx_http_victorops_integration_t *vi,
    ngx_uint_t counter);
ngx_int_t ngx_http_victorops_queue_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_queue_done(ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_queue_kick(ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_queue_accept(ngx_http_request_t *r,
    ngx_http_victorops_accept_t *a);
ngx_int_t ngx_http_victorops_queue_withdraw(ngx_http_request_t *r);
void ngx_http_victorops_queue_enter(ngx_http_victorops_job_t *job);
void ngx_http_victorops_queue_leave(ngx_http_victorops_job_t *job);
void ngx_http_victorops_job_outcome(ngx_http_victorops_job_t *job,
    ngx_uint_t op, int64_t at, ngx_uint_t status, ngx_str_t *error,
    ngx_http_victorops_effects_t *fx);
void ngx_http_victorops_job_delivered(ngx_http_victorops_job_t *job,
    ngx_str_t *alert);
void ngx_http_victorops_job_retry(ngx_http_victorops_job_t *job,
    ngx_http_victorops_transfer_t *t, int64_t now, ngx_str_t *reason);
void ngx_http_victorops_job_dead(ngx_http_victorops_job_t *job,
    ngx_http_victorops_transfer_t *t, int64_t now, ngx_str_t *reason);


#endif /* _NGX_HTTP_VICTOROPS_QUEUE_H_INCLUDED_ */
