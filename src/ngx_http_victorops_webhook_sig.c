
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Signed escalation-policy webhooks (escalation_auth_code): a signature
 * is taken once, so that a captured request cannot be replayed.  On a
 * SQLite store the replay check reads "signatures" first (the writer
 * records it with the job, store_thread.c); on a PostgreSQL store,
 * shared by every node, nothing is read on the loop: the signature is
 * inserted in the job's own statement (store_pg.c's APPEND, ON CONFLICT
 * DO NOTHING), or by the store call of an ignored delivery, and a
 * conflict is the replay, answered as a duplicate.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


/* an ignored delivery's signature, on its way to the store */

typedef struct {
    ngx_http_victorops_store_call_t    call;
    ngx_http_victorops_event_t        *ev;        /* the request's */
    u_char                             signature[
                                           NGX_HTTP_VICTOROPS_SIGNATURE_LEN];
} ngx_http_victorops_ignored_t;


static ngx_int_t ngx_http_victorops_ignored_exec(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_ignored_done(ngx_http_victorops_store_op_t *op);


/* an ignored delivery's signature on PostgreSQL: no row, seen before */

static const char  ngx_http_victorops_signature_claim_sql[] =
    "INSERT INTO signatures (integration, sig, seen_at)"
    " VALUES ($1, $2::bytea, victorops_now_ms())"
    " ON CONFLICT (integration, sig) DO NOTHING RETURNING 1";


/*
 * Before the delivery is decided: NGX_DECLINED, go on (on PostgreSQL,
 * always: the signature's insert decides); else what to answer, a
 * replay's "duplicate" or 503 when the store cannot say.
 */

ngx_int_t
ngx_http_victorops_webhook_replayed(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_event_t *ev,
    u_char *signature)
{
    ngx_int_t  rc;

    if (vi->store_pg) {
        return NGX_DECLINED;
    }

    rc = ngx_http_victorops_store_signature_seen(vi, signature,
                                            NGX_HTTP_VICTOROPS_SIGNATURE_LEN);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (rc == NGX_OK) {
        return ngx_http_victorops_webhook_replay(r, vi, ev);
    }

    return NGX_DECLINED;
}


/* a signature seen before: counted, logged, 200 "duplicate" */

ngx_int_t
ngx_http_victorops_webhook_replay(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_event_t *ev)
{
    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_DUPLICATE);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": replayed "
                  "escalation-policy webhook from %V (signature "
                  "seen before) not forwarded again", &vi->name,
                  &r->connection->addr_text);

    ngx_str_null(&ev->reason);

    return ngx_http_victorops_reply(r, NGX_HTTP_OK, "duplicate", ev, NULL);
}


/*
 * Nothing to forward, counted by why.  A signed delivery's signature
 * is remembered all the same (best effort, a store call of its own,
 * answered once done): an acknowledgement ignored today for want of a
 * link must not count if replayed once there is one.  A signature some
 * node (or a concurrent copy) recorded first makes it a replay.
 */

ngx_int_t
ngx_http_victorops_webhook_ignored(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_event_t *ev,
    ngx_http_victorops_event_decision_t *d, u_char *signature)
{
    ngx_uint_t                     counter;
    ngx_http_victorops_ignored_t  *sig;

    switch (d->why) {

    case NGX_HTTP_VICTOROPS_WHY_TYPE:
        counter = NGX_HTTP_VICTOROPS_C_IGNORED_TYPE;
        break;

    case NGX_HTTP_VICTOROPS_WHY_INFO:
        counter = NGX_HTTP_VICTOROPS_C_IGNORED_INFO;
        break;

    case NGX_HTTP_VICTOROPS_WHY_INCIDENT:
        counter = NGX_HTTP_VICTOROPS_C_IGNORED_NOT_INCIDENT;
        break;

    default: /* NGX_HTTP_VICTOROPS_WHY_NO_LINK */
        counter = NGX_HTTP_VICTOROPS_C_IGNORED_NO_LINK;
        break;
    }

    ngx_http_victorops_count(vi, counter);

    ev->reason = d->reason;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": ignored %s%s%V%s: %V",
                  &vi->name,
                  ev->class == NGX_HTTP_VICTOROPS_IGNORED
                      ? "delivery" : ngx_http_victorops_class_name(ev->class),
                  ev->incident.len ? " for incident \"" : "", &ev->incident,
                  ev->incident.len ? "\"" : "", &ev->reason);

    if (signature) {
        sig = ngx_http_victorops_store_call(vi,
                                       sizeof(ngx_http_victorops_ignored_t),
                                       ngx_http_victorops_ignored_exec,
                                       ngx_http_victorops_ignored_done);
        if (sig) {
            sig->ev = ev;
            ngx_memcpy(sig->signature, signature,
                       NGX_HTTP_VICTOROPS_SIGNATURE_LEN);

            if (ngx_http_victorops_store_call_sql(sig,
                                       ngx_http_victorops_signature_claim_sql,
                                       NULL)
                    != NGX_OK
                || ngx_http_victorops_store_call_bin(sig, sig->signature,
                                            NGX_HTTP_VICTOROPS_SIGNATURE_LEN)
                   != NGX_OK)
            {
                ngx_destroy_pool(sig->call.pool);

            } else if (ngx_http_victorops_store_call_post(r, sig) == NGX_OK) {
                return NGX_DONE;
            }

            /* a failed post destroyed the call's pool */
        }
    }

    return ngx_http_victorops_reply(r, NGX_HTTP_OK, "ignored", ev, NULL);
}


static ngx_int_t
ngx_http_victorops_ignored_exec(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_ignored_t  *sig = op->data;

    return ngx_http_victorops_store_signature_claim(wvi, sig->signature,
                                            NGX_HTTP_VICTOROPS_SIGNATURE_LEN,
                                            op->now);
}


/*
 * Best effort: the delivery is ignored all the same, unless its
 * signature was there already (NGX_DECLINED): a replay.
 */

static void
ngx_http_victorops_ignored_done(ngx_http_victorops_store_op_t *op)
{
    ngx_http_request_t            *r;
    ngx_http_victorops_ignored_t  *sig = op->data;

    r = sig->call.request;

    if (op->rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_WARN, r ? r->connection->log : ngx_cycle->log,
                      0, "victorops integration \"%V\": the signature of an "
                      "ignored delivery could not be stored",
                      &op->integration->name);
    }

    if (r == NULL) {
        return;
    }

    if (op->rc == NGX_DECLINED) {
        ngx_http_finalize_request(r,
                              ngx_http_victorops_webhook_replay(r,
                                                    op->integration, sig->ev));
        return;
    }

    ngx_http_finalize_request(r,
                              ngx_http_victorops_reply(r, NGX_HTTP_OK,
                                                       "ignored", sig->ev,
                                                       NULL));
}
