
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * JSON in and out: a yajl streaming parser that builds a small tree in
 * a pool, with a depth limit, lookups in the tree by (dotted) name, and
 * helpers around yajl's generator.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_gen.h>

#include "ngx_http_victorops_json.h"


struct ngx_http_victorops_parser_s {
    yajl_handle                   handle;
    ngx_pool_t                   *pool;
    ngx_http_victorops_json_t    *root;
    ngx_http_victorops_json_t   **open;
    ngx_http_victorops_json_t   **last;
    ngx_str_t                     key;
    ngx_str_t                     error;
    off_t                         consumed;
    off_t                         offset;
    ngx_uint_t                    depth;
    ngx_uint_t                    max_depth;
    unsigned                      too_deep:1;
    unsigned                      nomem:1;
    unsigned                      failed:1;
};


static ngx_http_victorops_json_t *ngx_http_victorops_json_add(
    ngx_http_victorops_parser_t *p, ngx_uint_t type);
static int ngx_http_victorops_json_null(void *ctx);
static int ngx_http_victorops_json_boolean(void *ctx, int b);
static int ngx_http_victorops_json_scalar(ngx_http_victorops_parser_t *p,
    ngx_uint_t type, const u_char *s, size_t len);
static int ngx_http_victorops_json_number(void *ctx, const char *s,
    size_t len);
static int ngx_http_victorops_json_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_victorops_json_open(ngx_http_victorops_parser_t *p,
    ngx_uint_t type);
static int ngx_http_victorops_json_start_map(void *ctx);
static int ngx_http_victorops_json_map_key(void *ctx,
    const unsigned char *key, size_t len);
static int ngx_http_victorops_json_end(void *ctx);
static int ngx_http_victorops_json_start_array(void *ctx);
static ngx_int_t ngx_http_victorops_parser_status(
    ngx_http_victorops_parser_t *p, yajl_status status);
static void ngx_http_victorops_parser_cleanup(void *data);
static void ngx_http_victorops_gen_cleanup(void *data);


static yajl_callbacks  ngx_http_victorops_json_callbacks = {
    ngx_http_victorops_json_null,
    ngx_http_victorops_json_boolean,
    NULL,
    NULL,
    ngx_http_victorops_json_number,
    ngx_http_victorops_json_string,
    ngx_http_victorops_json_start_map,
    ngx_http_victorops_json_map_key,
    ngx_http_victorops_json_end,
    ngx_http_victorops_json_start_array,
    ngx_http_victorops_json_end
};


ngx_http_victorops_parser_t *
ngx_http_victorops_parser_create(ngx_pool_t *pool, ngx_uint_t max_depth)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_victorops_parser_t  *p;

    p = ngx_pcalloc(pool, sizeof(ngx_http_victorops_parser_t));
    if (p == NULL) {
        return NULL;
    }

    p->pool = pool;
    p->max_depth = max_depth;

    p->open = ngx_pcalloc(pool, max_depth * sizeof(void *));
    p->last = ngx_pcalloc(pool, max_depth * sizeof(void *));
    if (p->open == NULL || p->last == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    p->handle = yajl_alloc(&ngx_http_victorops_json_callbacks, NULL, p);
    if (p->handle == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_victorops_parser_cleanup;
    cln->data = p;

    return p;
}


ngx_int_t
ngx_http_victorops_parser_feed(ngx_http_victorops_parser_t *p, u_char *data,
    size_t len)
{
    ngx_int_t  rc;

    if (p->failed) {
        return NGX_ERROR;
    }

    rc = ngx_http_victorops_parser_status(p,
                                          yajl_parse(p->handle, data, len));
    if (rc == NGX_OK) {
        p->consumed += len;
    }

    return rc;
}


ngx_int_t
ngx_http_victorops_parser_finish(ngx_http_victorops_parser_t *p,
    ngx_http_victorops_json_t **root)
{
    ngx_int_t  rc;

    if (p->failed) {
        return NGX_ERROR;
    }

    rc = ngx_http_victorops_parser_status(p,
                                          yajl_complete_parse(p->handle));
    if (rc != NGX_OK) {
        return rc;
    }

    if (p->root == NULL) {
        ngx_str_set(&p->error, "empty body");
        p->offset = p->consumed;
        p->failed = 1;
        return NGX_ERROR;
    }

    *root = p->root;

    return NGX_OK;
}


void
ngx_http_victorops_parser_error(ngx_http_victorops_parser_t *p,
    ngx_str_t *error, off_t *offset)
{
    *error = p->error;
    *offset = p->offset;
}


/* a whole document at once: NGX_DECLINED, empty or not JSON */

ngx_int_t
ngx_http_victorops_json_parse(ngx_pool_t *pool, ngx_str_t *text,
    ngx_uint_t depth, ngx_http_victorops_json_t **root)
{
    ngx_int_t                     rc;
    ngx_http_victorops_parser_t  *p;

    *root = NULL;

    p = ngx_http_victorops_parser_create(pool, depth);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (text->len == 0) {
        return NGX_DECLINED;
    }

    rc = ngx_http_victorops_parser_feed(p, text->data, text->len);

    if (rc == NGX_OK) {
        rc = ngx_http_victorops_parser_finish(p, root);
    }

    if (rc == NGX_ABORT) {
        return NGX_ERROR;
    }

    return (rc == NGX_OK && *root) ? NGX_OK : NGX_DECLINED;
}


/*
 * A dotted name matches a member of the same name (flat keys such as
 * "STATE.NOTIFICATIONTYPE") or the path through nested objects
 * ({"STATE": {"NOTIFICATIONTYPE": ...}}), case-insensitively.
 */

ngx_http_victorops_json_t *
ngx_http_victorops_json_lookup(ngx_http_victorops_json_t *obj,
    ngx_str_t *name)
{
    ngx_str_t                   rest;
    ngx_http_victorops_json_t  *m, *v;

    if (obj == NULL || obj->type != NGX_HTTP_VICTOROPS_JSON_OBJECT) {
        return NULL;
    }

    for (m = obj->child; m; m = m->next) {
        if (m->key.len == name->len
            && ngx_strncasecmp(m->key.data, name->data, name->len) == 0)
        {
            return m;
        }
    }

    for (m = obj->child; m; m = m->next) {
        if (m->type != NGX_HTTP_VICTOROPS_JSON_OBJECT
            || m->key.len == 0
            || m->key.len >= name->len
            || name->data[m->key.len] != '.'
            || ngx_strncasecmp(m->key.data, name->data, m->key.len) != 0)
        {
            continue;
        }

        rest.len = name->len - m->key.len - 1;
        rest.data = name->data + m->key.len + 1;

        v = ngx_http_victorops_json_lookup(m, &rest);
        if (v) {
            return v;
        }
    }

    return NULL;
}


/* a string (or a number, as written) found by "name"; else DECLINED */

ngx_int_t
ngx_http_victorops_json_text(ngx_http_victorops_json_t *obj,
    const char *name, ngx_str_t *value)
{
    ngx_str_t                   n;
    ngx_http_victorops_json_t  *v;

    ngx_str_null(value);

    if (obj == NULL || obj->type != NGX_HTTP_VICTOROPS_JSON_OBJECT) {
        return NGX_DECLINED;
    }

    n.data = (u_char *) name;
    n.len = ngx_strlen(name);

    v = ngx_http_victorops_json_lookup(obj, &n);

    if (v == NULL
        || (v->type != NGX_HTTP_VICTOROPS_JSON_STRING
            && v->type != NGX_HTTP_VICTOROPS_JSON_NUMBER))
    {
        return NGX_DECLINED;
    }

    *value = v->value;

    return value->len ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_victorops_parser_status(ngx_http_victorops_parser_t *p,
    yajl_status status)
{
    u_char         *msg, *end;
    unsigned char  *err;

    if (status == yajl_status_ok) {
        return NGX_OK;
    }

    p->failed = 1;
    p->offset = p->consumed + yajl_get_bytes_consumed(p->handle);

    if (p->nomem) {
        ngx_str_set(&p->error, "out of memory");
        return NGX_ABORT;
    }

    if (p->too_deep) {
        p->error.data = ngx_pnalloc(p->pool, NGX_INT_T_LEN + 32);
        if (p->error.data == NULL) {
            return NGX_ABORT;
        }

        p->error.len = ngx_sprintf(p->error.data, "nesting deeper than %ui",
                                   p->max_depth)
                       - p->error.data;
        return NGX_ERROR;
    }

    /* the terse form never quotes the input */

    err = yajl_get_error(p->handle, 0, NULL, 0);
    if (err == NULL) {
        ngx_str_set(&p->error, "invalid JSON");
        return NGX_ERROR;
    }

    msg = (u_char *) err;
    end = msg + ngx_strlen(msg);

    while (end > msg && (end[-1] == '\n' || end[-1] == '.' || end[-1] == ' '))
    {
        end--;
    }

    p->error.len = end - msg;
    p->error.data = ngx_pnalloc(p->pool, p->error.len);
    if (p->error.data == NULL) {
        yajl_free_error(p->handle, err);
        return NGX_ABORT;
    }

    ngx_memcpy(p->error.data, msg, p->error.len);
    yajl_free_error(p->handle, err);

    return NGX_ERROR;
}


static void
ngx_http_victorops_parser_cleanup(void *data)
{
    ngx_http_victorops_parser_t  *p = data;

    yajl_free(p->handle);
}


static ngx_http_victorops_json_t *
ngx_http_victorops_json_add(ngx_http_victorops_parser_t *p, ngx_uint_t type)
{
    ngx_http_victorops_json_t  *v, *parent;

    v = ngx_pcalloc(p->pool, sizeof(ngx_http_victorops_json_t));
    if (v == NULL) {
        p->nomem = 1;
        return NULL;
    }

    v->type = type;

    if (p->depth == 0) {
        p->root = v;
        return v;
    }

    parent = p->open[p->depth - 1];

    if (parent->type == NGX_HTTP_VICTOROPS_JSON_OBJECT) {
        v->key = p->key;
    }

    if (p->last[p->depth - 1] == NULL) {
        parent->child = v;

    } else {
        p->last[p->depth - 1]->next = v;
    }

    p->last[p->depth - 1] = v;

    return v;
}


static int
ngx_http_victorops_json_null(void *ctx)
{
    return ngx_http_victorops_json_add(ctx, NGX_HTTP_VICTOROPS_JSON_NULL)
           != NULL;
}


static int
ngx_http_victorops_json_boolean(void *ctx, int b)
{
    return ngx_http_victorops_json_add(ctx, b ? NGX_HTTP_VICTOROPS_JSON_TRUE
                                              : NGX_HTTP_VICTOROPS_JSON_FALSE)
           != NULL;
}


static int
ngx_http_victorops_json_scalar(ngx_http_victorops_parser_t *p,
    ngx_uint_t type, const u_char *s, size_t len)
{
    ngx_http_victorops_json_t  *v;

    v = ngx_http_victorops_json_add(p, type);
    if (v == NULL) {
        return 0;
    }

    v->value.len = len;
    v->value.data = ngx_pnalloc(p->pool, len + 1);
    if (v->value.data == NULL) {
        p->nomem = 1;
        return 0;
    }

    *ngx_cpymem(v->value.data, s, len) = '\0';

    return 1;
}


static int
ngx_http_victorops_json_number(void *ctx, const char *s, size_t len)
{
    return ngx_http_victorops_json_scalar(ctx, NGX_HTTP_VICTOROPS_JSON_NUMBER,
                                          (const u_char *) s, len);
}


static int
ngx_http_victorops_json_string(void *ctx, const unsigned char *s, size_t len)
{
    return ngx_http_victorops_json_scalar(ctx, NGX_HTTP_VICTOROPS_JSON_STRING,
                                          s, len);
}


static int
ngx_http_victorops_json_open(ngx_http_victorops_parser_t *p, ngx_uint_t type)
{
    ngx_http_victorops_json_t  *v;

    if (p->depth == p->max_depth) {
        p->too_deep = 1;
        return 0;
    }

    v = ngx_http_victorops_json_add(p, type);
    if (v == NULL) {
        return 0;
    }

    p->open[p->depth] = v;
    p->last[p->depth] = NULL;
    p->depth++;

    return 1;
}


static int
ngx_http_victorops_json_start_map(void *ctx)
{
    return ngx_http_victorops_json_open(ctx, NGX_HTTP_VICTOROPS_JSON_OBJECT);
}


static int
ngx_http_victorops_json_start_array(void *ctx)
{
    return ngx_http_victorops_json_open(ctx, NGX_HTTP_VICTOROPS_JSON_ARRAY);
}


static int
ngx_http_victorops_json_map_key(void *ctx, const unsigned char *key,
    size_t len)
{
    ngx_http_victorops_parser_t  *p = ctx;

    p->key.len = len;
    p->key.data = ngx_pnalloc(p->pool, len + 1);
    if (p->key.data == NULL) {
        p->nomem = 1;
        return 0;
    }

    *ngx_cpymem(p->key.data, key, len) = '\0';

    return 1;
}


static int
ngx_http_victorops_json_end(void *ctx)
{
    ngx_http_victorops_parser_t  *p = ctx;

    p->depth--;

    return 1;
}


/* generation */


yajl_gen
ngx_http_victorops_gen_create(ngx_pool_t *pool)
{
    yajl_gen             g;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NULL;
    }

    if (!yajl_gen_config(g, yajl_gen_validate_utf8, 1)) {
        yajl_gen_free(g);
        return NULL;
    }

    cln->handler = ngx_http_victorops_gen_cleanup;
    cln->data = g;

    return g;
}


static void
ngx_http_victorops_gen_cleanup(void *data)
{
    yajl_gen_free(data);
}


ngx_int_t
ngx_http_victorops_gen_cstr(yajl_gen g, const char *key)
{
    if (yajl_gen_string(g, (const u_char *) key, ngx_strlen(key))
        != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_gen_str(yajl_gen g, const char *key, ngx_str_t *value)
{
    if (ngx_http_victorops_gen_cstr(g, key) != NGX_OK
        || yajl_gen_string(g, value->data, value->len) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_gen_finish(yajl_gen g, ngx_pool_t *pool, ngx_str_t *out)
{
    size_t                len;
    const unsigned char  *buf;

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = len;
    *ngx_cpymem(out->data, buf, len) = '\n';

    return NGX_OK;
}


ngx_int_t
ngx_http_victorops_gen_value(yajl_gen g, ngx_http_victorops_json_t *v)
{
    yajl_gen_status             s;
    ngx_http_victorops_json_t  *m;

    switch (v->type) {

    case NGX_HTTP_VICTOROPS_JSON_NULL:
        s = yajl_gen_null(g);
        break;

    case NGX_HTTP_VICTOROPS_JSON_FALSE:
    case NGX_HTTP_VICTOROPS_JSON_TRUE:
        s = yajl_gen_bool(g, v->type == NGX_HTTP_VICTOROPS_JSON_TRUE);
        break;

    case NGX_HTTP_VICTOROPS_JSON_NUMBER:
        s = yajl_gen_number(g, (const char *) v->value.data, v->value.len);
        break;

    case NGX_HTTP_VICTOROPS_JSON_STRING:
        s = yajl_gen_string(g, v->value.data, v->value.len);
        break;

    case NGX_HTTP_VICTOROPS_JSON_OBJECT:
        if (yajl_gen_map_open(g) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }

        for (m = v->child; m; m = m->next) {
            if (yajl_gen_string(g, m->key.data, m->key.len)
                != yajl_gen_status_ok
                || ngx_http_victorops_gen_value(g, m) != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        s = yajl_gen_map_close(g);
        break;

    default: /* NGX_HTTP_VICTOROPS_JSON_ARRAY */
        if (yajl_gen_array_open(g) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }

        for (m = v->child; m; m = m->next) {
            if (ngx_http_victorops_gen_value(g, m) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        s = yajl_gen_array_close(g);
        break;
    }

    return (s == yajl_gen_status_ok) ? NGX_OK : NGX_ERROR;
}
