
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_payload.c defines: VictorOps payload parsing
 * (the form-encoded body and its signature), classification and
 * normalization, UTF-8 text.  Nothing here knows about
 * ngx_http_request_t: the functions work on bytes and pools only, so
 * they can be unit-tested and fuzzed alone.  The JSON tree it reads is
 * ngx_http_victorops_json.h's.
 */


#ifndef _NGX_HTTP_VICTOROPS_PAYLOAD_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_PAYLOAD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_json.h"


#define NGX_HTTP_VICTOROPS_ALERT          0
#define NGX_HTTP_VICTOROPS_ACK            1
#define NGX_HTTP_VICTOROPS_RECOVERY       2
#define NGX_HTTP_VICTOROPS_IGNORED        3


#define NGX_HTTP_VICTOROPS_WHY_TYPE       1   /* unsupported type */
#define NGX_HTTP_VICTOROPS_WHY_INFO       2   /* informational */
#define NGX_HTTP_VICTOROPS_WHY_INCIDENT   3   /* not an incident event */


#define NGX_HTTP_VICTOROPS_MAX_DEPTH      32


/* X-VictorOps-Signature: an HMAC-SHA1, 20 bytes once base64-decoded */

#define NGX_HTTP_VICTOROPS_SIGNATURE_LEN  20


typedef struct {
    ngx_http_victorops_json_t    *payload;

    ngx_uint_t                    class;
    ngx_uint_t                    why;
    ngx_str_t                     reason;

    ngx_str_t                     notification_type;
    ngx_str_t                     incident;
    ngx_str_t                     entity_id;
    ngx_str_t                     display_name;
    ngx_str_t                     summary;
    ngx_str_t                     description;
    ngx_str_t                     organization;
    ngx_str_t                     routing_key;
    ngx_str_t                     monitoring_tool;
    ngx_str_t                     host;
    ngx_str_t                     message_type;
    ngx_str_t                     started_at;
    ngx_str_t                     user;
    ngx_str_t                     message;
} ngx_http_victorops_event_t;


typedef struct {
    ngx_str_t                     portal_url;
    ngx_str_t                     organization;
} ngx_http_victorops_alert_conf_t;


/* form members counted as the body comes, piece by piece */

typedef struct {
    ngx_uint_t                    fields;
    ngx_uint_t                    in_field;
} ngx_http_victorops_form_count_t;


ngx_int_t ngx_http_victorops_form_parse(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_http_victorops_json_t **root);
void ngx_http_victorops_form_unquote(ngx_http_victorops_json_t *root);
ngx_int_t ngx_http_victorops_form_count(ngx_http_victorops_form_count_t *c,
    u_char *p, size_t len, ngx_uint_t max);
ngx_int_t ngx_http_victorops_form_signature_decode(ngx_str_t *header,
    u_char *mac);
ngx_int_t ngx_http_victorops_form_signature(ngx_pool_t *pool, ngx_str_t *url,
    ngx_http_victorops_json_t *form, ngx_array_t *codes, u_char *mac);

ngx_int_t ngx_http_victorops_classify(ngx_pool_t *pool,
    ngx_http_victorops_json_t *root, ngx_http_victorops_event_t *ev);
ngx_int_t ngx_http_victorops_event_record(ngx_pool_t *pool, ngx_chain_t *body,
    ngx_http_victorops_event_t *ev, ngx_str_t *record);
const char *ngx_http_victorops_class_name(ngx_uint_t class);

u_char *ngx_http_victorops_utf8_cut(u_char *start, u_char *end);
u_char *ngx_http_victorops_utf8_text(u_char *dst, size_t size, u_char *src,
    size_t len);


#endif /* _NGX_HTTP_VICTOROPS_PAYLOAD_H_INCLUDED_ */
