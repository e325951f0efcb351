
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The "victorops_webhook" content handler: VictorOps outgoing webhooks
 * (JSON) and escalation-policy webhooks (form-encoded) in, Rootly jobs
 * out.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/sha.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_JSON      1
#define NGX_HTTP_VICTOROPS_FORM      2

#define NGX_HTTP_VICTOROPS_READ_BUF  16384
#define NGX_HTTP_VICTOROPS_FORM_BUF  4096


typedef ngx_int_t (*ngx_http_victorops_chunk_pt)(void *data, u_char *buf,
    size_t len);


typedef struct {
    ngx_http_victorops_integration_t  *integration;
    ngx_uint_t                         type;

    /* a form body: what was read so far, capped */
    ngx_str_t                          form;
    size_t                             form_size;
    ngx_http_victorops_form_count_t    count;
    u_char                             mac[NGX_HTTP_VICTOROPS_SIGNATURE_LEN];

    /* queued: what the reply counts, logs and says */
    ngx_http_victorops_event_t        *event;
    ngx_str_t                          incident;

    /* the delivery's hash, claimed in the duplicate index or to note */
    u_char                             hash[SHA256_DIGEST_LENGTH];

    unsigned                           need_signature:1;
    unsigned                           reading:1;
    unsigned                           claimed:1;
    unsigned                           note:1;
} ngx_http_victorops_webhook_ctx_t;


typedef struct {
    u_char                            *start;
    u_char                            *last;
    u_char                            *end;
} ngx_http_victorops_collect_t;


static ngx_int_t ngx_http_victorops_webhook_auth(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, const char **why);
static ngx_uint_t ngx_http_victorops_content_type(ngx_http_request_t *r);
static void ngx_http_victorops_webhook_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_victorops_form_start(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx);
static void ngx_http_victorops_form_read(ngx_http_request_t *r);
static ngx_int_t ngx_http_victorops_form_take(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx);
static ngx_int_t ngx_http_victorops_form_room(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, size_t len);
static ngx_int_t ngx_http_victorops_form_refuse(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_uint_t status);
static ngx_int_t ngx_http_victorops_webhook_process(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx);
static ngx_int_t ngx_http_victorops_webhook_parse(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_json_t **root,
    ngx_str_t *msg);
static ngx_int_t ngx_http_victorops_webhook_json(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_json_t **root,
    ngx_str_t *msg);
static ngx_int_t ngx_http_victorops_webhook_form(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_json_t **root,
    ngx_str_t *msg);
static ngx_int_t ngx_http_victorops_webhook_enqueue(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_event_t *ev,
    u_char *signature);
static ngx_int_t ngx_http_victorops_webhook_limited(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *key, int64_t wait);
static ngx_int_t ngx_http_victorops_webhook_accept(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_event_t *ev,
    ngx_http_victorops_job_t *job, u_char *signature);
static ngx_int_t ngx_http_victorops_webhook_claim(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_dup_t *dup);
static void ngx_http_victorops_webhook_unclaim(void *data);
static ngx_int_t ngx_http_victorops_webhook_duplicate(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_event_t *ev);
static void ngx_http_victorops_webhook_queued(ngx_http_request_t *r,
    ngx_int_t rc, void *data, ngx_str_t *id);
static ngx_int_t ngx_http_victorops_body_chunks(ngx_http_request_t *r,
    ngx_http_victorops_chunk_pt handler, void *data);
static ngx_int_t ngx_http_victorops_parser_chunk(void *data, u_char *buf,
    size_t len);
static ngx_int_t ngx_http_victorops_collect_chunk(void *data, u_char *buf,
    size_t len);
static ngx_int_t ngx_http_victorops_reject(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why);
static ngx_int_t ngx_http_victorops_unauthorized(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why);


ngx_int_t
ngx_http_victorops_webhook_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_str_t                          msg;
    ngx_uint_t                         type;
    const char                        *why;
    ngx_http_victorops_loc_conf_t     *vlcf;
    ngx_http_victorops_webhook_ctx_t  *ctx;
    ngx_http_victorops_integration_t  *vi;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_victorops_module);
    vi = vlcf->integration;

    /* the post-read phase masked ?secret= in the logged request line */

    if (!(r->method & NGX_HTTP_POST)) {
        return ngx_http_victorops_not_allowed(r, "POST");
    }

    type = ngx_http_victorops_content_type(r);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_victorops_webhook_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->integration = vi;
    ctx->type = type;

    rc = ngx_http_victorops_webhook_auth(r, ctx, &why);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_victorops_reject(r, vi, why);
    }

    if (type == 0) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "victorops integration \"%V\": unsupported "
                      "content type", &vi->name);

        ngx_str_set(&msg, "unsupported content type, use application/json "
                          "or application/x-www-form-urlencoded");
        return ngx_http_victorops_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                        &msg);
    }

    ngx_http_set_ctx(r, ctx, ngx_http_victorops_module);

    if (type == NGX_HTTP_VICTOROPS_FORM) {
        return ngx_http_victorops_form_start(r, ctx);
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_victorops_webhook_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * The webhook's secret; without one, an escalation-policy webhook may be
 * signed instead (the signature is checked against the body once read; a
 * signature no body can match is refused before).  NGX_DECLINED: refused,
 * "why" says why.
 */

static ngx_int_t
ngx_http_victorops_webhook_auth(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, const char **why)
{
    ngx_int_t                          rc;
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->integration;

    switch (ngx_http_victorops_auth_secret(r, vi)) {

    case NGX_OK:
        return NGX_OK;

    case NGX_ERROR:
        return NGX_ERROR;

    case NGX_DECLINED:

        if (ctx->type == NGX_HTTP_VICTOROPS_FORM
            && vi->escalation_codes->nelts)
        {
            rc = ngx_http_victorops_auth_signature(r, ctx->mac);

            if (rc == NGX_OK) {
                ctx->need_signature = 1;
                return NGX_OK;
            }

            if (rc == NGX_ABORT) {
                *why = "malformed X-VictorOps-Signature";
                return NGX_DECLINED;
            }
        }

        *why = "no secret";
        return NGX_DECLINED;

    default: /* NGX_ABORT */
        *why = "wrong secret";
        return NGX_DECLINED;
    }
}


static ngx_uint_t
ngx_http_victorops_content_type(ngx_http_request_t *r)
{
    u_char     *p, *end;
    ngx_str_t   type;

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    type = r->headers_in.content_type->value;

    end = ngx_strlchr(type.data, type.data + type.len, ';');
    if (end == NULL) {
        end = type.data + type.len;
    }

    while (end > type.data && end[-1] == ' ') {
        end--;
    }

    p = type.data;
    type.len = end - p;

#define ngx_http_victorops_type_is(s)                                         \
    (type.len == sizeof(s) - 1                                                \
     && ngx_strncasecmp(p, (u_char *) s, sizeof(s) - 1) == 0)

    if (ngx_http_victorops_type_is("application/json")
        || ngx_http_victorops_type_is("text/json"))
    {
        return NGX_HTTP_VICTOROPS_JSON;
    }

    if (ngx_http_victorops_type_is("application/x-www-form-urlencoded")) {
        return NGX_HTTP_VICTOROPS_FORM;
    }

#undef ngx_http_victorops_type_is

    /* application/vnd.something+json */

    if (type.len > sizeof("application/+json") - 1
        && ngx_strncasecmp(p, (u_char *) "application/",
                           sizeof("application/") - 1) == 0
        && ngx_strncasecmp(end - 5, (u_char *) "+json", 5) == 0)
    {
        return NGX_HTTP_VICTOROPS_JSON;
    }

    return 0;
}


/*
 * Form bodies (escalation-policy webhooks: the signed ones are read
 * before anybody is authenticated) are capped.  A Content-Length over
 * escalation_max_body is refused before the body is read; otherwise the
 * body is read unbuffered, so that a chunked body growing over the cap,
 * or one with more than escalation_max_fields members, is refused as
 * soon as that is known.
 */

static ngx_int_t
ngx_http_victorops_form_start(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx)
{
    ngx_int_t                          rc;
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->integration;

    if (r->headers_in.content_length_n > (off_t) vi->escalation_max_body) {

        /* as nginx does for client_max_body_size: no "100 Continue" */

        r->expect_tested = 1;

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_victorops_form_refuse(r, ctx,
                                            NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
    }

    if (r->headers_in.content_length_n > 0) {
        ctx->form_size = (size_t) r->headers_in.content_length_n;

        ctx->form.data = ngx_pnalloc(r->pool, ctx->form_size);
        if (ctx->form.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    r->request_body_no_buffering = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_victorops_form_read);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the body handler, then the read event handler while the body comes */

static void
ngx_http_victorops_form_read(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_http_victorops_webhook_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_victorops_module);

    if (ctx->reading) {
        rc = ngx_http_read_unbuffered_request_body(r);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            ngx_http_finalize_request(r, rc);
            return;
        }
    }

    ctx->reading = 1;

    for ( ;; ) {
        rc = ngx_http_victorops_form_take(r, ctx);

        if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (rc > NGX_OK) {

            /* over a cap: nginx drops the rest with a lingering close */

            r->read_event_handler = ngx_http_block_reading;
            ngx_http_finalize_request(r,
                                  ngx_http_victorops_form_refuse(r, ctx, rc));
            return;
        }

        if (!r->reading_body) {
            break;
        }

        if (rc == NGX_AGAIN) {
            r->read_event_handler = ngx_http_victorops_form_read;
            return;
        }

        rc = ngx_http_read_unbuffered_request_body(r);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            ngx_http_finalize_request(r, rc);
            return;
        }
    }

    r->read_event_handler = ngx_http_block_reading;

    rc = ngx_http_victorops_webhook_process(r, ctx);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * What the client sent since the last call goes into ctx->form.
 * NGX_OK: something came; NGX_AGAIN: nothing; NGX_ERROR; or the status
 * to refuse the body with (over escalation_max_body or _fields).
 */

static ngx_int_t
ngx_http_victorops_form_take(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx)
{
    size_t        len;
    u_char       *p;
    ssize_t       n;
    ngx_int_t     rc, taken;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        return NGX_AGAIN;
    }

    taken = NGX_AGAIN;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            len = b->last - b->pos;

        } else if (b->in_file) {

            /* only a body read before this handler: it is no longer read */

            if (b->file_last - b->file_pos
                > (off_t) ctx->integration->escalation_max_body)
            {
                return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
            }

            len = (size_t) (b->file_last - b->file_pos);

        } else {
            continue;
        }

        if (len == 0) {
            continue;
        }

        rc = ngx_http_victorops_form_room(r, ctx, len);
        if (rc != NGX_OK) {
            return rc;
        }

        p = ctx->form.data + ctx->form.len;

        if (ngx_buf_in_memory(b)) {
            ngx_memcpy(p, b->pos, len);
            b->pos = b->last;       /* consumed: nginx may reuse it */

        } else {
            n = ngx_read_file(b->file, p, len, b->file_pos);
            if (n != (ssize_t) len) {
                return NGX_ERROR;
            }

            b->file_pos = b->file_last;
        }

        ctx->form.len += len;
        taken = NGX_OK;

        if (ngx_http_victorops_form_count(&ctx->count, p, len,
                                 ctx->integration->escalation_max_fields)
            != NGX_OK)
        {
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    r->request_body->bufs = NULL;

    return taken;
}


static ngx_int_t
ngx_http_victorops_form_room(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, size_t len)
{
    size_t   size, max;
    u_char  *p;

    max = ctx->integration->escalation_max_body;

    if (len > max - ctx->form.len) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    if (len <= ctx->form_size - ctx->form.len) {
        return NGX_OK;
    }

    /* a chunked body, or longer than announced: double, up to the cap */

    size = ngx_max(2 * ctx->form_size, ctx->form.len + len);
    size = ngx_max(size, NGX_HTTP_VICTOROPS_FORM_BUF);
    size = ngx_min(size, max);

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (ctx->form.len) {
        ngx_memcpy(p, ctx->form.data, ctx->form.len);
    }

    if (ctx->form.data) {
        ngx_pfree(r->pool, ctx->form.data);
    }

    ctx->form.data = p;
    ctx->form_size = size;

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_form_refuse(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_uint_t status)
{
    u_char                            *p;
    ngx_str_t                          msg;
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->integration;

    p = ngx_pnalloc(r->pool, 80 + NGX_SIZE_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    msg.data = p;

    if (status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        msg.len = ngx_sprintf(p, "form body larger than %uz bytes "
                              "(escalation_max_body)",
                              vi->escalation_max_body)
                  - p;

    } else {
        msg.len = ngx_sprintf(p, "form body with more than %ui fields "
                              "(escalation_max_fields)",
                              vi->escalation_max_fields)
                  - p;
    }

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_INVALID);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": %V from %V refused",
                  &vi->name, &msg, &r->connection->addr_text);

    return ngx_http_victorops_error(r, status, &msg);
}


static void
ngx_http_victorops_webhook_body(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_http_victorops_webhook_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_victorops_module);

    rc = ngx_http_victorops_webhook_process(r, ctx);

    /* NGX_DONE: the reply waits for the commit of the batch */

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


static ngx_int_t
ngx_http_victorops_webhook_process(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx)
{
    u_char                            *signature;
    ngx_int_t                          rc;
    ngx_str_t                          msg;
    ngx_http_victorops_json_t         *root;
    ngx_http_victorops_event_t        *ev;
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->integration;

    rc = ngx_http_victorops_webhook_parse(r, ctx, &root, &msg);

    switch (rc) {

    case NGX_OK:
        break;

    case NGX_HTTP_BAD_REQUEST:
        ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_INVALID);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "victorops integration \"%V\": %V", &vi->name, &msg);
        return ngx_http_victorops_error(r, rc, &msg);

    case NGX_HTTP_UNAUTHORIZED:
        return ngx_http_victorops_unauthorized(r, vi,
                                               "bad X-VictorOps-Signature");

    default:
        return rc;
    }

    ev = ngx_palloc(r->pool, sizeof(ngx_http_victorops_event_t));
    if (ev == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_victorops_classify(r->pool, root, ev) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * A signature is remembered once its delivery is handled (the form
     * carries VictorOps' vo_uuid, so no two deliveries share one): the
     * same signed request again is a replay, answered as a duplicate,
     * long after duplicate_window (see webhook_accept()); on PostgreSQL
     * the signature's insert with the job decides (webhook_sig.c).
     */

    signature = NULL;

    if (ctx->need_signature) {
        signature = ctx->mac;

        rc = ngx_http_victorops_webhook_replayed(r, vi, ev, signature);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return ngx_http_victorops_webhook_enqueue(r, ctx, ev, signature);
}


/*
 * What needs no stored state is decided now (ignored deliveries);
 * anything else becomes an event job, the payload once, decided when
 * it is dispatched (rootly.c: an alert, or activity on what its
 * incident is linked to by then).
 */

static ngx_int_t
ngx_http_victorops_webhook_enqueue(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_event_t *ev,
    u_char *signature)
{
    int64_t                               wait;
    ngx_http_victorops_job_t              job;
    ngx_http_victorops_integration_t     *vi;
    ngx_http_victorops_event_facts_t      facts;
    ngx_http_victorops_event_decision_t   d;

    vi = ctx->integration;

    ngx_memzero(&facts, sizeof(ngx_http_victorops_event_facts_t));
    facts.event = ev;

    ngx_http_victorops_decide_event(&facts, &d);

    if (d.action == NGX_HTTP_VICTOROPS_EVENT_IGNORE) {
        return ngx_http_victorops_webhook_ignored(r, vi, ev, &d, signature);
    }

    /* the rest asks for the link: at dispatch */

    ngx_memzero(&job, sizeof(ngx_http_victorops_job_t));

    job.integration = vi;
    job.kind = NGX_HTTP_VICTOROPS_JOB_EVENT;
    job.class = ev->class;
    job.incident = ev->incident;
    job.entity = ev->entity_id;

    if (ngx_http_victorops_event_key(r->pool, ev, &job.key) != NGX_OK
        || ngx_http_victorops_event_record(r->pool,
                                   (ctx->type == NGX_HTTP_VICTOROPS_JSON
                                    && r->request_body)
                                   ? r->request_body->bufs : NULL,
                                   ev, &job.body)
           != NGX_OK
        || ngx_http_victorops_event_hash(ev->class, &job.key, &job.body,
                                         ctx->hash)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ev->class == NGX_HTTP_VICTOROPS_ALERT
        && vi->alert_limit_reject
        && ngx_http_victorops_alert_token(vi, ngx_http_victorops_now(),
                                          &wait)
           == NGX_BUSY)
    {
        return ngx_http_victorops_webhook_limited(r, vi, &job.key, wait);
    }

    if (ngx_http_victorops_job_id(r->pool, &job.id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_victorops_webhook_accept(r, ctx, ev, &job, signature);
}


/* alert_limit reached, with alert_limit_reject: 429 and Retry-After */

static ngx_int_t
ngx_http_victorops_webhook_limited(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *key, int64_t wait)
{
    u_char           *p;
    ngx_str_t         msg;
    ngx_table_elt_t  *h;

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_REJECTED);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "victorops integration \"%V\": alert_limit reached, "
                  "alert for incident \"%V\" rejected", &vi->name, key);

    h = ngx_list_push(&r->headers_out.headers);
    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (h == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%L", (wait + 999) / 1000) - p;

    ngx_str_set(&msg, "alert limit reached, retry later");
    return ngx_http_victorops_error(r, NGX_HTTP_TOO_MANY_REQUESTS, &msg);
}


/*
 * The job goes to the queue with what makes a delivery a duplicate and
 * what VictorOps says of the incident (an acknowledgement or recovery:
 * the link's state, for resolves not to loop), in its transaction.
 */

static ngx_int_t
ngx_http_victorops_webhook_accept(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_event_t *ev,
    ngx_http_victorops_job_t *job, u_char *signature)
{
    ngx_http_victorops_dup_t          *dup;
    ngx_http_victorops_link_t         *link;
    ngx_http_victorops_accept_t        a;
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->integration;

    ngx_memzero(&a, sizeof(ngx_http_victorops_accept_t));

    a.job = *job;
    a.reply = ngx_http_victorops_webhook_queued;
    a.data = ctx;

    ctx->event = ev;
    ctx->incident = *ngx_http_victorops_job_incident(job);

    /*
     * A signed delivery is taken once, long after duplicate_window: its
     * signature is remembered with the job (a replay of one that failed
     * to commit is not a replay); the same delivery within
     * duplicate_window is not stored again.
     */

    dup = a.dups;

    if (signature) {
        dup->type = NGX_HTTP_VICTOROPS_DUP_SIGNATURE;
        dup->key.data = signature;
        dup->key.len = NGX_HTTP_VICTOROPS_SIGNATURE_LEN;
        dup++;
    }

    if (vi->duplicate_window) {
        dup->type = NGX_HTTP_VICTOROPS_DUP_HASH;
        dup->key.data = ctx->hash;
        dup->key.len = SHA256_DIGEST_LENGTH;
        dup->window = vi->duplicate_window;

        switch (ngx_http_victorops_webhook_claim(r, ctx, dup)) {

        case NGX_OK:
            break;

        case NGX_DECLINED:
            return ngx_http_victorops_webhook_duplicate(r, ctx, ev);

        default:
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (job->class != NGX_HTTP_VICTOROPS_ALERT) {
        a.effects = ngx_http_victorops_effects_alloc(r->pool);
        if (a.effects == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        link = ngx_http_victorops_effects_link(a.effects,
                                            NGX_HTTP_VICTOROPS_LINK_VO_STATE);
        if (link == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        link->key = job->key;
        link->incident = job->incident;
        link->entity = job->entity;
        link->vo_state = (job->class == NGX_HTTP_VICTOROPS_RECOVERY)
                         ? NGX_HTTP_VICTOROPS_VO_RESOLVED
                         : NGX_HTTP_VICTOROPS_VO_ACKED;
    }

    if (ngx_http_victorops_queue_accept(r, &a) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "victorops integration \"%V\": cannot queue %s for "
                      "incident \"%V\"", &vi->name,
                      ngx_http_victorops_class_name(ev->class), &job->key);
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/*
 * The delivery's hash in the duplicate index shared by the workers
 * (dedup.c).  NGX_OK: claimed (the batch only records it; until the
 * job is on disk the claim is released if anything goes wrong), or
 * the index cannot tell (the batch's claim in the store decides, and
 * the index learns it); NGX_DECLINED: a duplicate.
 */

static ngx_int_t
ngx_http_victorops_webhook_claim(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_dup_t *dup)
{
    ngx_int_t            rc;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_victorops_dedup_claim(ctx->integration, ctx->hash,
                                        ngx_http_victorops_now());

    switch (rc) {

    case NGX_OK:
        ctx->claimed = 1;
        dup->claimed = 1;

        cln->handler = ngx_http_victorops_webhook_unclaim;
        cln->data = ctx;
        return NGX_OK;

    case NGX_DECLINED:
        return NGX_DECLINED;

    default: /* NGX_AGAIN */
        ctx->note = 1;
        return NGX_OK;
    }
}


/* the request goes away with its hash claimed but not stored */

static void
ngx_http_victorops_webhook_unclaim(void *data)
{
    ngx_http_victorops_webhook_ctx_t  *ctx = data;

    if (ctx->claimed) {
        ctx->claimed = 0;
        ngx_http_victorops_dedup_release(ctx->integration, ctx->hash);
    }
}


/* the same delivery within duplicate_window: 200 "duplicate" */

static ngx_int_t
ngx_http_victorops_webhook_duplicate(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_event_t *ev)
{
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->integration;

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_DUPLICATE);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": duplicate %s for "
                  "incident \"%V\" not forwarded again", &vi->name,
                  ngx_http_victorops_class_name(ev->class), &ctx->incident);

    ngx_str_null(&ev->reason);

    return ngx_http_victorops_reply(r, NGX_HTTP_OK, "duplicate", ev, NULL);
}


/*
 * Once the batch is on disk: the job was stored (NGX_OK), was a
 * duplicate (NGX_DECLINED), or could not be stored; counted by class,
 * logged and answered.
 */

static void
ngx_http_victorops_webhook_queued(ngx_http_request_t *r, ngx_int_t rc,
    void *data, ngx_str_t *id)
{
    ngx_http_victorops_webhook_ctx_t  *ctx = data;

    ngx_str_t                          msg;
    ngx_uint_t                         counter;
    ngx_connection_t                  *c;
    ngx_http_victorops_event_t        *ev;
    ngx_http_victorops_integration_t  *vi;

    c = r->connection;
    vi = ctx->integration;
    ev = ctx->event;

    /* the duplicate index: as the store has it now */

    if (ctx->claimed) {
        ctx->claimed = (rc == NGX_OK) ? 0 : 1;   /* else released */

    } else if (ctx->note && rc == NGX_OK) {
        ngx_http_victorops_dedup_note(vi, ctx->hash,
                                      ngx_http_victorops_now());
    }

    switch (rc) {

    case NGX_OK:

        switch (ev->class) {

        case NGX_HTTP_VICTOROPS_ACK:
            counter = NGX_HTTP_VICTOROPS_C_ACCEPTED_ACK;
            break;

        case NGX_HTTP_VICTOROPS_RECOVERY:
            counter = NGX_HTTP_VICTOROPS_C_ACCEPTED_RECOVERY;
            break;

        default: /* NGX_HTTP_VICTOROPS_ALERT */
            counter = NGX_HTTP_VICTOROPS_C_ACCEPTED_ALERT;
            break;
        }

        ngx_http_victorops_count(vi, counter);

        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "victorops integration \"%V\": accepted %s for "
                      "incident \"%V\" (job %V)", &vi->name,
                      ngx_http_victorops_class_name(ev->class),
                      &ctx->incident, id);

        rc = ngx_http_victorops_reply(r, NGX_HTTP_ACCEPTED, "accepted", ev,
                                      id);
        break;

    case NGX_DECLINED:
        rc = ngx_http_victorops_webhook_duplicate(r, ctx, ev);
        break;

    default: /* NGX_ERROR */
        ngx_str_set(&msg, "cannot store the event, try again");
        rc = ngx_http_victorops_error(r, NGX_HTTP_SERVICE_UNAVAILABLE, &msg);
        break;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_victorops_webhook_parse(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_json_t **root,
    ngx_str_t *msg)
{
    if (ctx->type == NGX_HTTP_VICTOROPS_FORM
        ? ctx->form.len == 0
        : r->request_body == NULL || r->request_body->bufs == NULL)
    {
        ngx_str_set(msg, "empty body");
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ctx->type == NGX_HTTP_VICTOROPS_JSON) {
        return ngx_http_victorops_webhook_json(r, ctx, root, msg);
    }

    return ngx_http_victorops_webhook_form(r, ctx, root, msg);
}


/* a JSON body, fed to the parser piece by piece (memory or temporary file) */

static ngx_int_t
ngx_http_victorops_webhook_json(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_json_t **root,
    ngx_str_t *msg)
{
    off_t                         offset;
    u_char                       *p;
    ngx_int_t                     rc;
    ngx_str_t                     error;
    ngx_http_victorops_parser_t  *parser;

    parser = ngx_http_victorops_parser_create(r->pool,
                                              ctx->integration->json_max_depth);
    if (parser == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_victorops_body_chunks(r, ngx_http_victorops_parser_chunk,
                                        parser);
    if (rc == NGX_OK) {
        rc = ngx_http_victorops_parser_finish(parser, root);
    }

    if (rc == NGX_ERROR) {
        ngx_http_victorops_parser_error(parser, &error, &offset);

        if (offset == 0 && error.len == sizeof("empty body") - 1
            && ngx_strncmp(error.data, "empty body", error.len) == 0)
        {
            *msg = error;
            return NGX_HTTP_BAD_REQUEST;
        }

        p = ngx_pnalloc(r->pool, error.len + NGX_OFF_T_LEN
                                 + sizeof("invalid JSON at byte : "));
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        msg->data = p;
        msg->len = ngx_sprintf(p, "invalid JSON at byte %O: %V",
                               offset, &error)
                   - p;

        return NGX_HTTP_BAD_REQUEST;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if ((*root)->type != NGX_HTTP_VICTOROPS_JSON_OBJECT) {
        ngx_str_set(msg, "payload is not a JSON object");
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
}


/*
 * A form-encoded body: small (capped as it was read), signed over the
 * whole, parsed in one piece.
 */

static ngx_int_t
ngx_http_victorops_webhook_form(ngx_http_request_t *r,
    ngx_http_victorops_webhook_ctx_t *ctx, ngx_http_victorops_json_t **root,
    ngx_str_t *msg)
{
    ngx_int_t                          rc;
    ngx_http_victorops_integration_t  *vi;

    vi = ctx->integration;

    rc = ngx_http_victorops_form_parse(r->pool, ctx->form.data, ctx->form.len,
                                       root);

    if (rc == NGX_DECLINED) {
        ngx_str_set(msg, "invalid UTF-8 in form body");
        return NGX_HTTP_BAD_REQUEST;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->need_signature) {
        rc = ngx_http_victorops_form_signature(r->pool, &vi->escalation_url,
                                               *root, vi->escalation_codes,
                                               ctx->mac);
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_UNAUTHORIZED;
        }
    }

    ngx_http_victorops_form_unquote(*root);

    return NGX_OK;
}


/* every piece of the body, in memory or in the temporary file */

static ngx_int_t
ngx_http_victorops_body_chunks(ngx_http_request_t *r,
    ngx_http_victorops_chunk_pt handler, void *data)
{
    off_t         offset;
    u_char       *buf;
    ssize_t       n;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    buf = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            rc = handler(data, b->pos, b->last - b->pos);
            if (rc != NGX_OK) {
                return rc;
            }

            continue;
        }

        if (!b->in_file) {
            continue;
        }

        if (buf == NULL) {
            buf = ngx_palloc(r->pool, NGX_HTTP_VICTOROPS_READ_BUF);
            if (buf == NULL) {
                return NGX_ABORT;
            }
        }

        for (offset = b->file_pos; offset < b->file_last; offset += n) {
            n = ngx_read_file(b->file, buf,
                              (size_t) ngx_min(b->file_last - offset,
                                               NGX_HTTP_VICTOROPS_READ_BUF),
                              offset);
            if (n == NGX_ERROR || n == 0) {
                return NGX_ABORT;
            }

            rc = handler(data, buf, n);
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    return NGX_OK;
}


/* the whole body in one piece (it is small: signatures cover all of it) */

ngx_int_t
ngx_http_victorops_body(ngx_http_request_t *r, ngx_str_t *body)
{
    size_t                         size;
    ngx_chain_t                   *cl;
    ngx_http_victorops_collect_t   collect;

    size = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        size += ngx_buf_size(cl->buf);
    }

    collect.start = ngx_pnalloc(r->pool, size + 1);
    if (collect.start == NULL) {
        return NGX_ERROR;
    }

    collect.last = collect.start;
    collect.end = collect.start + size;

    if (size
        && ngx_http_victorops_body_chunks(r, ngx_http_victorops_collect_chunk,
                                          &collect)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    body->data = collect.start;
    body->len = collect.last - collect.start;

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_parser_chunk(void *data, u_char *buf, size_t len)
{
    return ngx_http_victorops_parser_feed(data, buf, len);
}


static ngx_int_t
ngx_http_victorops_collect_chunk(void *data, u_char *buf, size_t len)
{
    ngx_http_victorops_collect_t  *collect = data;

    if ((size_t) (collect->end - collect->last) < len) {
        return NGX_ABORT;
    }

    collect->last = ngx_cpymem(collect->last, buf, len);

    return NGX_OK;
}


/* {"result":...,"class":...,"incident":...,"id"|"reason":...} */

ngx_int_t
ngx_http_victorops_reply(ngx_http_request_t *r, ngx_uint_t status,
    const char *result, ngx_http_victorops_event_t *ev, ngx_str_t *id)
{
    yajl_gen   g;
    ngx_str_t  body;

    g = ngx_http_victorops_gen_create(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_cstr(g, "result") != NGX_OK
        || ngx_http_victorops_gen_cstr(g, result) != NGX_OK
        || ngx_http_victorops_gen_cstr(g, "class") != NGX_OK
        || ngx_http_victorops_gen_cstr(g,
                          ngx_http_victorops_class_name(ev->class)) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ev->incident.len
        && ngx_http_victorops_gen_str(g, "incident", &ev->incident) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (id && ngx_http_victorops_gen_str(g, "id", id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ev->reason.len
        && ngx_http_victorops_gen_str(g, "reason", &ev->reason) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_victorops_gen_finish(g, r->pool, &body) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len++;     /* the trailing newline */

    return ngx_http_victorops_send(r, status, "application/json", &body);
}


static ngx_int_t
ngx_http_victorops_reject(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_victorops_unauthorized(r, vi, why);
}


static ngx_int_t
ngx_http_victorops_unauthorized(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why)
{
    ngx_str_t         msg;
    ngx_table_elt_t  *h;

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_UNAUTHORIZED);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": webhook from %V "
                  "unauthorized: %s", &vi->name, &r->connection->addr_text,
                  why);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Bearer realm=\"victorops\"");

    ngx_str_set(&msg, "unauthorized");

    return ngx_http_victorops_error(r, NGX_HTTP_UNAUTHORIZED, &msg);
}
