
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The VictorOps API client on the worker's event loop: a request to the
 * public API (api_url, the X-VO-Api-* credentials, JSON headers, the
 * timeout), and what an answer means for every caller (the VictorOps
 * jobs, reconciliation, the Slack team list, the team import): 2xx,
 * rate limited (429, or 403 with a rate-limit reason: every worker
 * pauses), credentials refused, worth another try, refused.  The peer
 * layer (ngx_http_victorops_peer.c) keeps what all workers share; the
 * bodies and the reading of answers are ngx_http_victorops_vo_api.c's.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_VO_PAUSE      5000
#define NGX_HTTP_VICTOROPS_VO_PAUSE_MAX  60000


/* a request to the VictorOps API: api_url + path */

ngx_http_victorops_transfer_t *
ngx_http_victorops_vo_transfer(ngx_http_victorops_integration_t *vi,
    const char *method, const char *path, ngx_str_t *body)
{
    u_char                         *p;
    size_t                          len, plen;
    ngx_uint_t                      i;
    ngx_str_t                       json = ngx_string("Content-Type: "
                                                      "application/json");
    ngx_str_t                       accept = ngx_string("Accept: "
                                                        "application/json");
    ngx_http_victorops_transfer_t  *t;

    t = ngx_http_victorops_transfer_create(ngx_cycle->log);
    if (t == NULL) {
        return NULL;
    }

    plen = ngx_strlen(path);
    len = vi->api_url.len + plen;

    p = ngx_pnalloc(t->pool, len + 1);
    if (p == NULL) {
        goto failed;
    }

    t->url.data = p;
    p = ngx_cpymem(p, vi->api_url.data, vi->api_url.len);
    p = ngx_cpymem(p, path, plen);
    *p = '\0';
    t->url.len = p - t->url.data;

    t->method.data = (u_char *) method;
    t->method.len = ngx_strlen(method);

    if (body) {
        t->body.data = ngx_pstrdup(t->pool, body);
        if (t->body.data == NULL) {
            goto failed;
        }

        t->body.len = body->len;
    }

    for (i = 0; i < 2; i++) {
        if (ngx_http_victorops_transfer_header(t, &vi->vo_auth[i])
            != NGX_OK)
        {
            goto failed;
        }
    }

    if (ngx_http_victorops_transfer_header(t, &accept) != NGX_OK
        || (body && ngx_http_victorops_transfer_header(t, &json) != NGX_OK))
    {
        goto failed;
    }

    t->timeout = vi->rootly_timeout;
    t->owner = vi->vo;
    t->peer = "victorops";

    return t;

failed:

    ngx_destroy_pool(t->pool);
    return NULL;
}


/*
 * How VictorOps answered: NGX_OK (2xx), NGX_BUSY (rate limited, paused
 * until "until"), NGX_AGAIN (unreachable, timed out, 5xx), NGX_DECLINED
 * (credentials refused), NGX_ERROR (the request was refused: 4xx).
 */

ngx_int_t
ngx_http_victorops_vo_answer(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_transfer_t *t, int64_t now, int64_t *until)
{
    int64_t      delay;
    ngx_str_t    reason;
    ngx_uint_t   status, failures;

    status = (ngx_uint_t) t->status;

    if (ngx_http_victorops_transfer_error(t, &reason) != NGX_OK) {
        ngx_http_victorops_peer_error(vi, NGX_HTTP_VICTOROPS_PEER_VO, 0,
                                      &reason);
        return NGX_AGAIN;
    }

    if (status >= 200 && status < 300) {
        ngx_http_victorops_peer_success(vi, NGX_HTTP_VICTOROPS_PEER_VO);
        return NGX_OK;
    }

    (void) ngx_http_victorops_vo_error(t->pool, &t->response, &reason);
    ngx_http_victorops_peer_error(vi, NGX_HTTP_VICTOROPS_PEER_VO, status,
                                  &reason);

    if (status == 429
        || (status == 403
            && (ngx_strlcasestrn(reason.data, reason.data + reason.len,
                                 (u_char *) "too many", 8 - 1)
                || ngx_strlcasestrn(reason.data, reason.data + reason.len,
                                    (u_char *) "rate", 4 - 1))))
    {
        failures = ngx_http_victorops_peer_failure(vi,
                                                   NGX_HTTP_VICTOROPS_PEER_VO);

        if (t->retry_after) {
            delay = (int64_t) t->retry_after * 1000;

        } else {
            delay = ngx_min((int64_t) NGX_HTTP_VICTOROPS_VO_PAUSE
                            << ngx_min(failures - 1, 4),
                            NGX_HTTP_VICTOROPS_VO_PAUSE_MAX);
        }

        *until = now + delay;

        ngx_http_victorops_peer_pause(vi, NGX_HTTP_VICTOROPS_PEER_VO,
                                      *until);
        ngx_http_victorops_budget_pause(vi, NGX_HTTP_VICTOROPS_PEER_VO, now,
                                        *until);

        ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_VO_RATE_LIMITED);

        ngx_log_error(NGX_LOG_WARN, t->log, 0,
                      "victorops integration \"%V\": victorops rate limit "
                      "(%ui): calls paused for %L ms", &vi->name, status,
                      delay);

        return NGX_BUSY;
    }

    if (status == 401 || status == 403) {
        ngx_http_victorops_peer_refused(vi, NGX_HTTP_VICTOROPS_PEER_VO);

        ngx_log_error(NGX_LOG_ERR, t->log, 0,
                      "victorops integration \"%V\": victorops refused the "
                      "credentials (%ui): check api_id and api_key",
                      &vi->name, status);

        return NGX_DECLINED;
    }

    if (status == 408 || status >= 500) {
        return NGX_AGAIN;
    }

    return NGX_ERROR;
}
