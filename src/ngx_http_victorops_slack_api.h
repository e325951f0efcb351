
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_slack_api.c defines: a Slack command's text
 * and the escalation a page becomes, response_url checks, Slack
 * messages.  Request-free (make check-core, fuzz/), included by
 * ngx_http_victorops_module.h.
 */


#ifndef _NGX_HTTP_VICTOROPS_SLACK_API_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_SLACK_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_payload.h"
#include "ngx_http_victorops_escalation.h"


/* Slack: a command's response_url works 30 minutes, 5 times at most */

#define NGX_HTTP_VICTOROPS_SLACK_URL_TTL  1800
#define NGX_HTTP_VICTOROPS_SLACK_URL_USES 5


/* a Slack command's text: "help", "list", "<team or policy> [summary]" */

#define NGX_HTTP_VICTOROPS_SLACK_HELP     0
#define NGX_HTTP_VICTOROPS_SLACK_LIST     1
#define NGX_HTTP_VICTOROPS_SLACK_PAGE     2


ngx_uint_t ngx_http_victorops_slack_text(ngx_str_t *text, ngx_str_t *slug,
    ngx_str_t *summary);
ngx_int_t ngx_http_victorops_slack_escalation(ngx_pool_t *pool,
    ngx_http_victorops_json_t *form, ngx_str_t *slug, ngx_str_t *summary,
    time_t now, ngx_http_victorops_escalation_t *esc);
ngx_int_t ngx_http_victorops_url_allowed(ngx_str_t *url, ngx_array_t *hosts);
ngx_int_t ngx_http_victorops_slack_message(ngx_pool_t *pool,
    const char *type, ngx_str_t *text, ngx_str_t *out);


#endif /* _NGX_HTTP_VICTOROPS_SLACK_API_H_INCLUDED_ */
