
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_slack.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_SLACK_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_SLACK_H_INCLUDED_


ngx_int_t ngx_http_victorops_slack_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_victorops_slack_reply_send(ngx_http_victorops_job_t *job,
    int64_t now, int64_t *wait);
time_t ngx_http_victorops_slack_reply_until(
    ngx_http_victorops_escalation_t *esc, ngx_http_victorops_job_t *job);


#endif /* _NGX_HTTP_VICTOROPS_SLACK_H_INCLUDED_ */
