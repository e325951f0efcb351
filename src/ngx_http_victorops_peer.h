
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_peer.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_PEER_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_PEER_H_INCLUDED_


ngx_int_t ngx_http_victorops_bucket_take(ngx_http_victorops_bucket_t *b,
    ngx_http_victorops_rate_t *rate, int64_t now, int64_t *wait);
int64_t ngx_http_victorops_bucket_available(ngx_http_victorops_bucket_t *b,
    ngx_http_victorops_rate_t *rate, int64_t now);
ngx_int_t ngx_http_victorops_alert_token(
    ngx_http_victorops_integration_t *vi, int64_t now, int64_t *wait);
int64_t ngx_http_victorops_alert_available(
    ngx_http_victorops_integration_t *vi, int64_t now);
ngx_int_t ngx_http_victorops_peer_token(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, int64_t now, int64_t *wait);
ngx_int_t ngx_http_victorops_peer_wait(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, int64_t now, ngx_event_t *ev, int64_t max,
    int64_t *wait);
int64_t ngx_http_victorops_peer_paused(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, int64_t now);
void ngx_http_victorops_peer_pause(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, int64_t until);
int64_t ngx_http_victorops_peer_retry_at(ngx_http_victorops_transfer_t *t,
    int64_t now);
void ngx_http_victorops_peer_success(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer);
ngx_uint_t ngx_http_victorops_peer_failure(
    ngx_http_victorops_integration_t *vi, ngx_uint_t peer);
void ngx_http_victorops_peer_refused(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer);
void ngx_http_victorops_peer_error(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, ngx_uint_t status, ngx_str_t *reason);


#endif /* _NGX_HTTP_VICTOROPS_PEER_H_INCLUDED_ */
