
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The upstreams an integration calls, Rootly and VictorOps, as its
 * workers share them: a token bucket, a pause (a rate limit answered,
 * or the upstream failing), credential health, the last success and the
 * last error, all in the integration's shared memory under the zone's
 * mutex.  Also the alert_limit bucket, shared the same way.  With a
 * PostgreSQL store the buckets of alert_limit and api_rate are every
 * node's, in the database (ngx_http_victorops_budget.c).  What an
 * answer means for a peer is decided by its sender; this file only
 * keeps the state and hands out tokens.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_module.h"


/* how long a rate-limited answer with no hint of its own pauses */
#define NGX_HTTP_VICTOROPS_PAUSE_DEFAULT 60000


static void ngx_http_victorops_peer_rate(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, ngx_http_victorops_rate_t *rate);
static void ngx_http_victorops_alert_rate(
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_rate_t *rate);


/*
 * Takes a token: NGX_OK, or NGX_BUSY with "*wait", the ms until one may
 * be there.  The caller holds whatever guards "b".  Tokens are counted
 * in thousandths and refill in proportion to the time elapsed, the time
 * a thousandth took kept exactly; idle for a period, the bucket is full.
 */

ngx_int_t
ngx_http_victorops_bucket_take(ngx_http_victorops_bucket_t *b,
    ngx_http_victorops_rate_t *rate, int64_t now, int64_t *wait)
{
    int64_t  cap, add, per;

    if (rate->rate == 0) {
        return NGX_OK;
    }

    cap = rate->burst * 1000;
    per = rate->rate * 1000;        /* thousandths a period */

    if (b->refill_ms == 0 || now - b->refill_ms > rate->period) {
        b->tokens = cap;
        b->refill_ms = now;

    } else if (now > b->refill_ms) {
        add = (now - b->refill_ms) * per / rate->period;

        if (add > 0) {
            b->tokens += add;
            b->refill_ms += add * rate->period / per;
        }

        if (b->tokens >= cap) {
            b->tokens = cap;
            b->refill_ms = now;
        }
    }

    if (b->tokens >= 1000) {
        b->tokens -= 1000;
        return NGX_OK;
    }

    /* rounded down, plus one: never before the token is there */

    *wait = (1000 - b->tokens) * rate->period / per + 1;

    return NGX_BUSY;
}


/* the whole tokens "b" would have now, without taking any */

int64_t
ngx_http_victorops_bucket_available(ngx_http_victorops_bucket_t *b,
    ngx_http_victorops_rate_t *rate, int64_t now)
{
    int64_t  cap, tokens;

    cap = rate->burst * 1000;

    if (b->refill_ms == 0 || now - b->refill_ms > rate->period) {
        tokens = cap;

    } else {
        tokens = b->tokens
                 + (now - b->refill_ms) * rate->rate * 1000 / rate->period;
    }

    return ngx_min(tokens, cap) / 1000;
}


/* the limit on a peer's calls */

static void
ngx_http_victorops_peer_rate(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, ngx_http_victorops_rate_t *rate)
{
    if (peer == NGX_HTTP_VICTOROPS_PEER_VO) {

        /* api_rate calls a second, one at a time */

        rate->rate = (int64_t) vi->api_rate;
        rate->period = 1000;
        rate->burst = 1;
        return;
    }

    /* Rootly: its own 429s only (alert_limit is about alerts) */

    rate->rate = 0;
    rate->period = 1000;
    rate->burst = 0;
}


/* alert_limit alerts a minute, as many at once */

static void
ngx_http_victorops_alert_rate(ngx_http_victorops_integration_t *vi,
    ngx_http_victorops_rate_t *rate)
{
    rate->rate = (int64_t) vi->alert_limit;
    rate->period = 60000;
    rate->burst = (int64_t) vi->alert_limit;
}


/* a token of alert_limit (0: none), shared by all workers */

ngx_int_t
ngx_http_victorops_alert_token(ngx_http_victorops_integration_t *vi,
    int64_t now, int64_t *wait)
{
    ngx_int_t                  rc;
    ngx_http_victorops_rate_t  rate;

    ngx_http_victorops_alert_rate(vi, &rate);

    if (rate.rate == 0 || vi->sh == NULL) {
        return NGX_OK;
    }

    if (vi->budget) {

        /* a PostgreSQL store: every node's budget */

        return ngx_http_victorops_budget_take(vi,
                                              NGX_HTTP_VICTOROPS_BUDGET_ALERTS,
                                              now, wait);
    }

    ngx_shmtx_lock(&vi->shpool->mutex);
    rc = ngx_http_victorops_bucket_take(&vi->sh->alerts, &rate, now, wait);
    ngx_shmtx_unlock(&vi->shpool->mutex);

    return rc;
}


int64_t
ngx_http_victorops_alert_available(ngx_http_victorops_integration_t *vi,
    int64_t now)
{
    int64_t                    n;
    ngx_http_victorops_rate_t  rate;

    ngx_http_victorops_alert_rate(vi, &rate);

    if (rate.rate == 0 || vi->sh == NULL) {
        return 0;
    }

    if (vi->budget) {
        return ngx_http_victorops_budget_stock(vi,
                                             NGX_HTTP_VICTOROPS_BUDGET_ALERTS);
    }

    ngx_shmtx_lock(&vi->shpool->mutex);
    n = ngx_http_victorops_bucket_available(&vi->sh->alerts, &rate, now);
    ngx_shmtx_unlock(&vi->shpool->mutex);

    return n;
}


/*
 * A token for a call to "peer": NGX_OK, or NGX_BUSY with "*wait", the ms
 * until its pause ends or its bucket has one.
 */

ngx_int_t
ngx_http_victorops_peer_token(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, int64_t now, int64_t *wait)
{
    ngx_int_t                   rc;
    ngx_http_victorops_rate_t   rate;
    ngx_http_victorops_peer_t  *p;

    if (vi->sh == NULL) {
        return NGX_OK;
    }

    ngx_http_victorops_peer_rate(vi, peer, &rate);

    p = &vi->sh->peers[peer];

    ngx_shmtx_lock(&vi->shpool->mutex);

    if (p->paused_until > now) {
        *wait = p->paused_until - now;
        rc = NGX_BUSY;

    } else if (vi->budget && rate.rate) {
        rc = NGX_DECLINED;      /* every node's budget, below */

    } else {
        rc = ngx_http_victorops_bucket_take(&p->bucket, &rate, now, wait);
    }

    ngx_shmtx_unlock(&vi->shpool->mutex);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_victorops_budget_take(vi, NGX_HTTP_VICTOROPS_BUDGET_API,
                                            now, wait);
    }

    return rc;
}


/*
 * The one way a caller driven by a timer waits for a token of "peer":
 * NGX_OK, a token is ours; NGX_AGAIN, "ev" fires when one may be;
 * NGX_BUSY, that would be "max" ms or more (0: no such limit) and "ev"
 * is left alone.  "*wait": 0, or the ms until then.
 */

ngx_int_t
ngx_http_victorops_peer_wait(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, int64_t now, ngx_event_t *ev, int64_t max,
    int64_t *wait)
{
    if (ngx_http_victorops_peer_token(vi, peer, now, wait) == NGX_OK) {
        *wait = 0;
        return NGX_OK;
    }

    if (max && *wait >= max) {
        return NGX_BUSY;
    }

    ngx_add_timer(ev, (ngx_msec_t) *wait);

    return NGX_AGAIN;
}


/* the end of the peer's pause, or 0 when it is not paused */

int64_t
ngx_http_victorops_peer_paused(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, int64_t now)
{
    int64_t  until;

    if (vi->sh == NULL) {
        return 0;
    }

    ngx_shmtx_lock(&vi->shpool->mutex);
    until = vi->sh->peers[peer].paused_until;
    ngx_shmtx_unlock(&vi->shpool->mutex);

    return (until > now) ? until : 0;
}


/* no calls to "peer" before "until", from any worker */

void
ngx_http_victorops_peer_pause(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, int64_t until)
{
    ngx_http_victorops_peer_t  *p;

    if (vi->sh == NULL) {
        return;
    }

    p = &vi->sh->peers[peer];

    ngx_shmtx_lock(&vi->shpool->mutex);

    if (until > p->paused_until) {
        p->paused_until = until;
    }

    ngx_shmtx_unlock(&vi->shpool->mutex);
}


/*
 * When a rate-limited answer lets us call again: its Retry-After, else
 * its X-RateLimit-Reset, else in a minute; at most an hour, whatever
 * the answer asked for; at least a second, so a reset already past (a
 * skewed clock) is no loop.
 */

int64_t
ngx_http_victorops_peer_retry_at(ngx_http_victorops_transfer_t *t,
    int64_t now)
{
    int64_t  until;

    if (t->retry_after) {
        until = now + (int64_t) t->retry_after * 1000;

    } else if (t->ratelimit_reset) {
        until = (int64_t) (t->ratelimit_reset + 1) * 1000;

    } else {
        until = now + NGX_HTTP_VICTOROPS_PAUSE_DEFAULT;
    }

    until = ngx_min(until, now + NGX_HTTP_VICTOROPS_WAIT_MAX * 1000);
    until = ngx_max(until, now + 1000);

    return until;
}


/* a call went through: credentials good, failures over */

void
ngx_http_victorops_peer_success(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer)
{
    ngx_http_victorops_peer_t  *p;

    if (vi->sh == NULL) {
        return;
    }

    p = &vi->sh->peers[peer];

    ngx_shmtx_lock(&vi->shpool->mutex);
    p->credentials_failing = 0;
    p->failures = 0;
    p->last_success = ngx_time();
    ngx_shmtx_unlock(&vi->shpool->mutex);
}


/* one more failure in a row: how many now (1 without shared state) */

ngx_uint_t
ngx_http_victorops_peer_failure(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer)
{
    ngx_uint_t  failures;

    if (vi->sh == NULL) {
        return 1;
    }

    ngx_shmtx_lock(&vi->shpool->mutex);
    failures = ++vi->sh->peers[peer].failures;
    ngx_shmtx_unlock(&vi->shpool->mutex);

    return failures;
}


/* the peer refused our credentials (401, 403) */

void
ngx_http_victorops_peer_refused(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer)
{
    if (vi->sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&vi->shpool->mutex);
    vi->sh->peers[peer].credentials_failing = 1;
    ngx_shmtx_unlock(&vi->shpool->mutex);
}


/* the peer's last error, for the status endpoint */

void
ngx_http_victorops_peer_error(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, ngx_uint_t status, ngx_str_t *reason)
{
    ngx_http_victorops_last_error_t  *e;

    if (vi->sh == NULL) {
        return;
    }

    e = &vi->sh->peers[peer].error;

    ngx_shmtx_lock(&vi->shpool->mutex);

    /*
     * the reason comes from the upstream's answer: cut to ERROR_MAX on a
     * character boundary, any bytes that are not UTF-8 replaced, so that
     * the status endpoint's JSON can always carry it
     */

    e->time = ngx_time();
    e->status = status;
    e->reason_len = ngx_http_victorops_utf8_text(e->reason,
                                                 NGX_HTTP_VICTOROPS_ERROR_MAX,
                                                 reason->data, reason->len)
                    - e->reason;

    ngx_shmtx_unlock(&vi->shpool->mutex);
}
