
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_webhook.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_WEBHOOK_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_WEBHOOK_H_INCLUDED_


ngx_int_t ngx_http_victorops_webhook_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_victorops_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_http_victorops_reply(ngx_http_request_t *r, ngx_uint_t status,
    const char *result, ngx_http_victorops_event_t *ev, ngx_str_t *id);

/* ngx_http_victorops_webhook_sig.c */
ngx_int_t ngx_http_victorops_webhook_replayed(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_event_t *ev,
    u_char *signature);
ngx_int_t ngx_http_victorops_webhook_replay(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_event_t *ev);
ngx_int_t ngx_http_victorops_webhook_ignored(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_event_t *ev,
    ngx_http_victorops_event_decision_t *d, u_char *signature);


#endif /* _NGX_HTTP_VICTOROPS_WEBHOOK_H_INCLUDED_ */
