
/*
 * Copyright (C) The ngx_http_victorops_module authors
 */


#ifndef _NGX_HTTP_VICTOROPS_MODULE_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <curl/curl.h>
#include <openssl/sha.h>

#include "ngx_http_victorops_payload.h"


#define NGX_HTTP_VICTOROPS_VERSION        "0.1.0"
#define NGX_HTTP_VICTOROPS_USER_AGENT                                         \
    "ngx_http_victorops_module/" NGX_HTTP_VICTOROPS_VERSION

#define NGX_HTTP_VICTOROPS_RESPONSE_MAX   65536


typedef struct {
    u_char                        digest[SHA256_DIGEST_LENGTH];
} ngx_http_victorops_secret_t;


typedef struct {
    ngx_str_t                     name;
    u_char                       *file;
    ngx_uint_t                    line;

    ngx_str_t                     rootly_url;
    ngx_str_t                     rootly_token;
    ngx_str_t                     rootly_auth;     /* "Authorization: ..." */

    ngx_array_t                  *webhook_secrets;    /* secret_t */
    ngx_str_t                     escalation_auth_code;
    ngx_str_t                     escalation_url;

    ngx_str_t                     api_url;
    ngx_str_t                     api_id;
    ngx_str_t                     api_key;
    ngx_str_t                     api_user;
    ngx_str_t                     portal_url;
    ngx_str_t                     store;

    ngx_msec_t                    rootly_timeout;
    ngx_uint_t                    json_max_depth;
} ngx_http_victorops_integration_t;


typedef struct {
    ngx_array_t                   integrations;       /* integration_t * */
    ngx_array_t                   references;         /* reference_t */
    ngx_uint_t                    max_connections;
} ngx_http_victorops_main_conf_t;


typedef struct {
    ngx_http_victorops_integration_t  *integration;
} ngx_http_victorops_loc_conf_t;


/* a directive naming an integration, resolved once http{} is parsed */

typedef struct {
    ngx_str_t                     name;
    u_char                       *file;
    ngx_uint_t                    line;
    ngx_http_victorops_loc_conf_t  *conf;
    const char                   *directive;
} ngx_http_victorops_reference_t;


/* libcurl transfers driven by the worker's event loop */

typedef struct ngx_http_victorops_transfer_s  ngx_http_victorops_transfer_t;

typedef void (*ngx_http_victorops_transfer_pt)(
    ngx_http_victorops_transfer_t *t);

struct ngx_http_victorops_transfer_s {
    ngx_queue_t                   queue;
    ngx_pool_t                   *pool;
    ngx_log_t                    *log;
    CURL                         *easy;
    struct curl_slist            *headers;

    ngx_str_t                     method;
    ngx_str_t                     url;
    ngx_str_t                     body;
    ngx_msec_t                    timeout;

    ngx_http_victorops_transfer_pt  handler;
    void                         *data;

    /* outcome */
    CURLcode                      code;
    long                          status;
    ngx_str_t                     response;
    size_t                        response_size;
    unsigned                      truncated:1;
    time_t                        ratelimit_reset;
    ngx_int_t                     ratelimit_remaining;
    time_t                        retry_after;
    char                          error[CURL_ERROR_SIZE];
};


/* a unit of work for an upstream; the durable queue will hold these */

typedef struct {
    ngx_http_victorops_integration_t  *integration;
    ngx_str_t                     id;
    ngx_str_t                     method;
    ngx_str_t                     path;
    ngx_str_t                     body;
    ngx_str_t                     incident;
    const char                   *what;
} ngx_http_victorops_job_t;


char *ngx_http_victorops_integration_block(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_victorops_webhook(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_victorops_resolve_references(ngx_conf_t *cf,
    ngx_http_victorops_main_conf_t *vmcf);

ngx_table_elt_t *ngx_http_victorops_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_table_elt_t *prev);
ngx_int_t ngx_http_victorops_auth_secret(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_auth_escalation(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_json_t *form);
ngx_int_t ngx_http_victorops_mask_secret(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);
void ngx_http_victorops_digest(ngx_str_t *secret, u_char *digest);

ngx_int_t ngx_http_victorops_curl_init(ngx_cycle_t *cycle,
    ngx_uint_t max_connections);
void ngx_http_victorops_curl_done(ngx_cycle_t *cycle);
ngx_http_victorops_transfer_t *ngx_http_victorops_transfer_create(
    ngx_log_t *log);
ngx_int_t ngx_http_victorops_transfer_header(ngx_http_victorops_transfer_t *t,
    ngx_str_t *header);
ngx_int_t ngx_http_victorops_transfer_start(ngx_http_victorops_transfer_t *t);

ngx_int_t ngx_http_victorops_job_id(ngx_pool_t *pool, ngx_str_t *id);
ngx_int_t ngx_http_victorops_job_submit(ngx_http_victorops_job_t *job,
    ngx_log_t *log);

ngx_int_t ngx_http_victorops_webhook_handler(ngx_http_request_t *r);


extern ngx_module_t  ngx_http_victorops_module;


#endif /* _NGX_HTTP_VICTOROPS_MODULE_H_INCLUDED_ */
