
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_json.c defines: JSON in and out, a yajl
 * streaming parser building a small tree in a pool (with a depth
 * limit), lookups in it, and helpers around yajl's generator.  Free of
 * requests (make check-core, fuzz/).
 */


#ifndef _NGX_HTTP_VICTOROPS_JSON_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_gen.h>


#define NGX_HTTP_VICTOROPS_JSON_NULL      0
#define NGX_HTTP_VICTOROPS_JSON_FALSE     1
#define NGX_HTTP_VICTOROPS_JSON_TRUE      2
#define NGX_HTTP_VICTOROPS_JSON_NUMBER    3
#define NGX_HTTP_VICTOROPS_JSON_STRING    4
#define NGX_HTTP_VICTOROPS_JSON_OBJECT    5
#define NGX_HTTP_VICTOROPS_JSON_ARRAY     6


typedef struct ngx_http_victorops_json_s  ngx_http_victorops_json_t;

struct ngx_http_victorops_json_s {
    ngx_http_victorops_json_t    *child;
    ngx_http_victorops_json_t    *next;
    ngx_str_t                     key;
    ngx_str_t                     value;
    ngx_uint_t                    type;
};


typedef struct ngx_http_victorops_parser_s  ngx_http_victorops_parser_t;


ngx_http_victorops_parser_t *ngx_http_victorops_parser_create(
    ngx_pool_t *pool, ngx_uint_t max_depth);
ngx_int_t ngx_http_victorops_parser_feed(ngx_http_victorops_parser_t *p,
    u_char *data, size_t len);
ngx_int_t ngx_http_victorops_parser_finish(ngx_http_victorops_parser_t *p,
    ngx_http_victorops_json_t **root);
void ngx_http_victorops_parser_error(ngx_http_victorops_parser_t *p,
    ngx_str_t *error, off_t *offset);
ngx_int_t ngx_http_victorops_json_parse(ngx_pool_t *pool, ngx_str_t *text,
    ngx_uint_t depth, ngx_http_victorops_json_t **root);
ngx_http_victorops_json_t *ngx_http_victorops_json_lookup(
    ngx_http_victorops_json_t *obj, ngx_str_t *name);
ngx_int_t ngx_http_victorops_json_text(ngx_http_victorops_json_t *obj,
    const char *name, ngx_str_t *value);

yajl_gen ngx_http_victorops_gen_create(ngx_pool_t *pool);
ngx_int_t ngx_http_victorops_gen_cstr(yajl_gen g, const char *key);
ngx_int_t ngx_http_victorops_gen_str(yajl_gen g, const char *key,
    ngx_str_t *value);
ngx_int_t ngx_http_victorops_gen_finish(yajl_gen g, ngx_pool_t *pool,
    ngx_str_t *out);
ngx_int_t ngx_http_victorops_gen_value(yajl_gen g,
    ngx_http_victorops_json_t *value);


#endif /* _NGX_HTTP_VICTOROPS_JSON_H_INCLUDED_ */
