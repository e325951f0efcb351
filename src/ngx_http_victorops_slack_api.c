
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Slack as bytes: a slash command's text, the escalation a page becomes,
 * whether a response_url may be called, the message posted to it.
 * Nothing here knows about ngx_http_request_t.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <curl/curl.h>

#include "ngx_http_victorops_slack_api.h"


/*
 * A Slack command's text: "help" (or nothing), "list", or a VictorOps
 * team (or escalation policy) slug and an optional summary.
 */

ngx_uint_t
ngx_http_victorops_slack_text(ngx_str_t *text, ngx_str_t *slug,
    ngx_str_t *summary)
{
    u_char  *p, *end, *word;

    /* no "text" at all is a null string: no arithmetic on its NULL */

    if (text->len == 0) {
        ngx_str_null(slug);
        ngx_str_null(summary);
        return NGX_HTTP_VICTOROPS_SLACK_HELP;
    }

    p = text->data;
    end = p + text->len;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    word = p;

    while (p < end && *p != ' ' && *p != '\t') {
        p++;
    }

    slug->data = word;
    slug->len = p - word;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    summary->data = p;
    summary->len = end - p;

    if (slug->len == 0
        || (slug->len == 4 && ngx_strncasecmp(slug->data, (u_char *) "help", 4)
                              == 0))
    {
        return NGX_HTTP_VICTOROPS_SLACK_HELP;
    }

    if (slug->len == 4 && summary->len == 0
        && ngx_strncasecmp(slug->data, (u_char *) "list", 4) == 0)
    {
        return NGX_HTTP_VICTOROPS_SLACK_LIST;
    }

    return NGX_HTTP_VICTOROPS_SLACK_PAGE;
}


/*
 * NGX_OK: "url" is http(s) to one of "hosts" ("host" or "host:port"),
 * so that a response_url cannot point the module at internal hosts.
 */

ngx_int_t
ngx_http_victorops_url_allowed(ngx_str_t *url, ngx_array_t *hosts)
{
    u_char      *z;
    char        *scheme, *host, *port, *user;
    size_t       hlen, plen;
    CURLU       *u;
    ngx_str_t   *h;
    ngx_int_t    rc;
    ngx_uint_t   i;

    if (url->len == 0 || url->len > 2048 || hosts == NULL) {
        return NGX_DECLINED;
    }

    z = ngx_alloc(url->len + 1, ngx_cycle->log);
    if (z == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(z, url->data, url->len);
    z[url->len] = '\0';

    if (ngx_strlen(z) != url->len) {
        ngx_free(z);
        return NGX_DECLINED;
    }

    u = curl_url();
    if (u == NULL) {
        ngx_free(z);
        return NGX_ERROR;
    }

    scheme = NULL;
    host = NULL;
    port = NULL;
    user = NULL;
    rc = NGX_DECLINED;

    if (curl_url_set(u, CURLUPART_URL, (char *) z, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK
        || (ngx_strcmp(scheme, "https") != 0
            && ngx_strcmp(scheme, "http") != 0)
        || curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER)
    {
        goto done;
    }

    (void) curl_url_get(u, CURLUPART_PORT, &port, 0);

    hlen = ngx_strlen(host);
    plen = port ? ngx_strlen(port) : 0;
    h = hosts->elts;

    for (i = 0; i < hosts->nelts; i++) {

        /* "host" allows any port, "host:port" that port only */

        if (h[i].len == hlen
            && ngx_strncasecmp(h[i].data, (u_char *) host, hlen) == 0)
        {
            rc = NGX_OK;
            break;
        }

        if (port && h[i].len == hlen + 1 + plen
            && ngx_strncasecmp(h[i].data, (u_char *) host, hlen) == 0
            && h[i].data[hlen] == ':'
            && ngx_strncmp(h[i].data + hlen + 1, port, plen) == 0)
        {
            rc = NGX_OK;
            break;
        }
    }

done:

    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_url_cleanup(u);
    ngx_free(z);

    return rc;
}


/* {"response_type":TYPE,"text":...} */

ngx_int_t
ngx_http_victorops_slack_message(ngx_pool_t *pool, const char *type,
    ngx_str_t *text, ngx_str_t *out)
{
    yajl_gen  g;

    g = ngx_http_victorops_gen_create(pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "response_type") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, type) != NGX_OK
        || ngx_http_victorops_gen_str(g, "text", text) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, pool, out) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A Slack page's escalation job body, from the command's form: "slack:
 * USER_ID" pages "slug" (a team, else a policy: the job looks), with the
 * summary given, else "Paged from Slack by USER"; the outcome goes to
 * the command's response_url while it is valid.
 */

ngx_int_t
ngx_http_victorops_slack_escalation(ngx_pool_t *pool,
    ngx_http_victorops_json_t *form, ngx_str_t *slug, ngx_str_t *summary,
    time_t now, ngx_http_victorops_escalation_t *esc)
{
    u_char     *p;
    ngx_str_t   user, user_id, channel, *s;

    (void) ngx_http_victorops_json_text(form, "user_name", &user);
    (void) ngx_http_victorops_json_text(form, "user_id", &user_id);
    (void) ngx_http_victorops_json_text(form, "channel_id", &channel);

    if (ngx_http_victorops_escalation_init(pool, esc) != NGX_OK) {
        return NGX_ERROR;
    }

    /* "slack:ID", maybe "Paged from Slack by USER", the details */

    p = ngx_pnalloc(pool, 128 + 2 * user.len + 2 * user_id.len
                          + channel.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    esc->id.data = p;
    p = ngx_sprintf(p, "slack:%V", &user_id);
    esc->id.len = p - esc->id.data;

    if (summary->len) {
        esc->summary = *summary;

    } else {
        esc->summary.data = p;
        p = ngx_sprintf(p, "Paged from Slack by %V", &user);
        esc->summary.len = p - esc->summary.data;
    }

    esc->details.data = p;
    p = ngx_sprintf(p, "Paged from Slack by %V (%V) in channel %V",
                    &user, &user_id, &channel);
    esc->details.len = p - esc->details.data;

    (void) ngx_http_victorops_json_text(form, "response_url",
                                        &esc->reply_url);
    esc->reply_until = now + NGX_HTTP_VICTOROPS_SLACK_URL_TTL;

    s = ngx_array_push(&esc->teams);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = *slug;

    return NGX_OK;
}
