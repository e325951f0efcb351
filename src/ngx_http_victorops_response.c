
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What every handler answers with: the response itself, the module's
 * JSON errors ({"error":"..."}), 405.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


/* 405 with "Allow", the request body discarded */

ngx_int_t
ngx_http_victorops_not_allowed(ngx_http_request_t *r, const char *allow)
{
    u_char           *p;
    ngx_int_t         rc;
    ngx_str_t         msg;
    ngx_table_elt_t  *h;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);

    p = ngx_pnalloc(r->pool, sizeof("method not allowed, use ") - 1
                             + h->value.len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    msg.data = p;
    msg.len = ngx_sprintf(p, "method not allowed, use %V", &h->value) - p;

    return ngx_http_victorops_error(r, NGX_HTTP_NOT_ALLOWED, &msg);
}


/* {"error":"..."}, for every JSON error reply of the module */

ngx_int_t
ngx_http_victorops_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *message)
{
    yajl_gen   g;
    ngx_str_t  body;

    g = ngx_http_victorops_gen_create(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_str(g, "error", message) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, r->pool, &body) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len++;

    return ngx_http_victorops_send(r, status, "application/json", &body);
}


ngx_int_t
ngx_http_victorops_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = body->len ? 1 : 0;      /* empty: only the last_buf mark */
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
