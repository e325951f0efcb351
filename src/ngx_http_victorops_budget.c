
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Budgets shared by the nodes of a PostgreSQL store: alert_limit (Rootly
 * alerts a minute) and api_rate (VictorOps calls a second) are one token
 * bucket per integration in the database's "budgets" table, and each
 * node spends tokens the database granted to it.
 *
 * A node's grants are kept in its shared memory (sh->grants, under the
 * zone's mutex) and spent there by all its workers, without a query per
 * decision.  When a worker finds no token left, or takes the last one,
 * it asks for a small block: one atomic UPDATE of the row, sent through
 * pg_send() (never a blocking call), refills the bucket for the time
 * elapsed on the database's clock and takes at most what it holds.  What
 * was granted to a node is taken out of the shared bucket, so what all
 * nodes spend together never exceeds it.  A refusal says when the next
 * token will be there; until then (1 s at most) no worker of the node
 * asks.  Tokens a node has not spent for 1 s go back to the bucket: the
 * queue is shared, and the jobs this node would spend them on may be
 * another node's by now.
 *
 * Rate-limit pauses (a 429, its Retry-After) are shared too: the node
 * that saw one writes the row's paused_until, and each node reads the
 * pauses every second (and with each grant).  Rootly's pause is on the
 * alert_limit row, VictorOps' on the api_rate row.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>

#include "ngx_http_victorops_module.h"


/*
 * No token, a grant asked for: try again so soon (an answer takes a few
 * ms; api_rate's tokens come one at a time, each after such a wait)
 */
#define NGX_HTTP_VICTOROPS_BUDGET_RETRY   50

/* the store unreachable: no token for so long */
#define NGX_HTTP_VICTOROPS_BUDGET_DOWN    1000

/*
 * The longest a job without a token waits before it is tried again, and
 * a refusal is believed (the node asks again after it): the next token
 * may go to another node, and this node's jobs (in the shared queue)
 * should not wait for this node's next one while that node holds a
 * token and has nothing to spend it on, or has given tokens back
 */
#define NGX_HTTP_VICTOROPS_BUDGET_WAIT    1000

/* how often each node reads the pauses other nodes wrote */
#define NGX_HTTP_VICTOROPS_BUDGET_READ    1000

/* tokens held unspent for so long go back to the bucket */
#define NGX_HTTP_VICTOROPS_BUDGET_IDLE    1000

/*
 * A token of api_rate (a bucket of one) not spent so long after its
 * grant is dropped, never given back nor spent late: a late call would
 * share its second with the calls of the tokens granted since
 */
#define NGX_HTTP_VICTOROPS_BUDGET_FRESH   100


typedef struct ngx_http_victorops_budget_s  ngx_http_victorops_budget_t;


/* a budget, in this worker: its queries and their parameters */

typedef struct {
    ngx_http_victorops_pg_query_t      row;       /* first use */
    ngx_http_victorops_pg_query_t      grant;
    ngx_http_victorops_pg_query_t      pause;
    ngx_http_victorops_pg_query_t      back;      /* unspent tokens */
    ngx_http_victorops_budget_t       *budget;
    ngx_uint_t                         which;
    ngx_uint_t                         peer;
    int64_t                            block;     /* tokens asked for */
    int64_t                            pause_ms;  /* to write next */
    int64_t                            giving;    /* tokens going back */
    const char                        *values[6];
    const char                        *pause_values[6];
    const char                        *back_values[3];
    u_char                             text[6][NGX_INT64_LEN + 1];
    unsigned                           asking:1;
    unsigned                           ensured:1;
    unsigned                           pausing:1;
} ngx_http_victorops_ask_t;


struct ngx_http_victorops_budget_s {
    ngx_http_victorops_integration_t  *vi;
    ngx_http_victorops_ask_t           asks[NGX_HTTP_VICTOROPS_BUDGET_N];
    ngx_http_victorops_pg_query_t      read;
    const char                        *read_values[1];
    ngx_connection_t                   dummy;
    ngx_event_t                        event;     /* read the pauses */
    unsigned                           reading:1;
};


static ngx_int_t ngx_http_victorops_budget_rate(
    ngx_http_victorops_integration_t *vi, ngx_uint_t which,
    ngx_http_victorops_rate_t *rate);
static void ngx_http_victorops_budget_ask(
    ngx_http_victorops_integration_t *vi, ngx_uint_t which, int64_t now);
static void ngx_http_victorops_budget_granted(
    ngx_http_victorops_pg_query_t *q, PGresult *res);
static void ngx_http_victorops_budget_answer(ngx_http_victorops_ask_t *a,
    PGresult *res, int64_t now);
static void ngx_http_victorops_budget_paused(
    ngx_http_victorops_pg_query_t *q, PGresult *res);
static void ngx_http_victorops_budget_read(ngx_event_t *ev);
static void ngx_http_victorops_budget_give(ngx_http_victorops_ask_t *a,
    int64_t now);
static void ngx_http_victorops_budget_given(
    ngx_http_victorops_pg_query_t *q, PGresult *res);
static void ngx_http_victorops_budget_pauses(
    ngx_http_victorops_pg_query_t *q, PGresult *res);
static void ngx_http_victorops_budget_hold(
    ngx_http_victorops_integration_t *vi, ngx_uint_t peer, int64_t until);


static const char  *ngx_http_victorops_budget_names[] = {
    "alert_limit",
    "api_rate"
};


/*
 * The row, on a worker's first grant: a full bucket ($3 capacity, $4
 * tokens every $5 ms), unless a node made it already
 */

static const char  ngx_http_victorops_budget_row_sql[] =
    "INSERT INTO budgets (integration, name, capacity, per_ms, tokens,"
    " updated_at) VALUES ($1, $2, $3::float8, $4::float8 / $5::float8,"
    " $3::float8, victorops_now_ms())"
    " ON CONFLICT (integration, name) DO NOTHING";

/*
 * A grant: the row locked (its latest version: FOR UPDATE), refilled for
 * the time since its last update up to the capacity, then at most $6
 * whole tokens taken.  Returns what was granted, the whole tokens left,
 * the ms until the next whole token (0: one is there), the ms the pause
 * still lasts.  The configuration of the node that asks becomes the
 * row's (nodes should agree).
 */

static const char  ngx_http_victorops_budget_grant_sql[] =
    "UPDATE budgets b SET capacity = $3::float8,"
    " per_ms = $4::float8 / $5::float8,"
    " tokens = o.avail - least(floor(o.avail), $6::float8),"
    " updated_at = greatest(b.updated_at, o.now)"
    " FROM (SELECT l.integration, l.name, l.now, l.paused_until,"
    "  least($3::float8, l.tokens + greatest(l.now - l.updated_at, 0)"
    "  * $4::float8 / $5::float8) AS avail"
    "  FROM (SELECT integration, name, tokens, updated_at, paused_until,"
    "   victorops_now_ms() AS now FROM budgets"
    "   WHERE integration = $1 AND name = $2 FOR UPDATE) l) o"
    " WHERE b.integration = o.integration AND b.name = o.name"
    " RETURNING round(o.avail - b.tokens)::bigint,"
    " floor(b.tokens)::bigint,"
    " CASE WHEN b.tokens >= 1 THEN 0"
    "  ELSE ceil((1 - b.tokens) * $5::float8 / $4::float8)::bigint END,"
    " greatest(b.paused_until - o.now, 0)";

/* a pause every node honours: $6 ms from now on the database's clock */

static const char  ngx_http_victorops_budget_pause_sql[] =
    "INSERT INTO budgets AS b (integration, name, capacity, per_ms, tokens,"
    " updated_at, paused_until) VALUES ($1, $2, $3::float8,"
    " $4::float8 / $5::float8, $3::float8, victorops_now_ms(),"
    " victorops_now_ms() + $6::bigint)"
    " ON CONFLICT (integration, name) DO UPDATE"
    " SET paused_until = greatest(b.paused_until, EXCLUDED.paused_until)";

/* tokens a node did not spend, back into the bucket */

static const char  ngx_http_victorops_budget_back_sql[] =
    "UPDATE budgets SET tokens = least(capacity, tokens + $3::float8)"
    " WHERE integration = $1 AND name = $2";

static const char  ngx_http_victorops_budget_read_sql[] =
    "SELECT name, paused_until - victorops_now_ms() FROM budgets"
    " WHERE integration = $1 AND paused_until > victorops_now_ms()";


/* in each worker of a PostgreSQL store, once its connection is started */

ngx_int_t
ngx_http_victorops_budget_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    u_char                       *name;
    ngx_uint_t                    i;
    ngx_http_victorops_ask_t     *a;
    ngx_http_victorops_rate_t     rate;
    ngx_http_victorops_budget_t  *b;

    b = ngx_pcalloc(cycle->pool, sizeof(ngx_http_victorops_budget_t));
    name = ngx_pnalloc(cycle->pool, vi->name.len + 1);

    if (b == NULL || name == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(name, vi->name.data, vi->name.len) = '\0';

    b->vi = vi;

    for (i = 0; i < NGX_HTTP_VICTOROPS_BUDGET_N; i++) {
        a = &b->asks[i];

        a->budget = b;
        a->which = i;
        a->peer = (i == NGX_HTTP_VICTOROPS_BUDGET_ALERTS)
                  ? NGX_HTTP_VICTOROPS_PEER_ROOTLY : NGX_HTTP_VICTOROPS_PEER_VO;

        (void) ngx_http_victorops_budget_rate(vi, i, &rate);

        /* $1 integration, $2 name, $3 capacity, $4/$5 per ms, $6 ask */

        (void) ngx_sprintf(a->text[0], "%L%Z", rate.burst);
        (void) ngx_sprintf(a->text[1], "%L%Z", rate.rate);
        (void) ngx_sprintf(a->text[2], "%L%Z", rate.period);
        a->block = ngx_max(rate.burst / 10, (int64_t) 1);

        (void) ngx_sprintf(a->text[3], "%L%Z", a->block);

        a->values[0] = (char *) name;
        a->values[1] = ngx_http_victorops_budget_names[i];
        a->values[2] = (char *) a->text[0];
        a->values[3] = (char *) a->text[1];
        a->values[4] = (char *) a->text[2];
        a->values[5] = (char *) a->text[3];

        ngx_memcpy(a->pause_values, a->values, sizeof(a->values));
        a->pause_values[5] = (char *) a->text[4];

        a->row.sql = ngx_http_victorops_budget_row_sql;
        a->row.nparams = 5;
        a->row.values = a->values;
        a->row.handler = ngx_http_victorops_budget_granted;
        a->row.data = a;

        a->grant = a->row;
        a->grant.sql = ngx_http_victorops_budget_grant_sql;
        a->grant.nparams = 6;

        a->pause.sql = ngx_http_victorops_budget_pause_sql;
        a->pause.nparams = 6;
        a->pause.values = a->pause_values;
        a->pause.handler = ngx_http_victorops_budget_paused;
        a->pause.data = a;

        a->back_values[0] = a->values[0];
        a->back_values[1] = a->values[1];
        a->back_values[2] = (char *) a->text[5];

        a->back.sql = ngx_http_victorops_budget_back_sql;
        a->back.nparams = 3;
        a->back.values = a->back_values;
        a->back.handler = ngx_http_victorops_budget_given;
        a->back.data = a;
    }

    b->read_values[0] = (char *) name;

    b->read.sql = ngx_http_victorops_budget_read_sql;
    b->read.nparams = 1;
    b->read.values = b->read_values;
    b->read.handler = ngx_http_victorops_budget_pauses;
    b->read.data = b;

    b->dummy.fd = (ngx_socket_t) -1;
    b->dummy.data = b;

    b->event.handler = ngx_http_victorops_budget_read;
    b->event.data = &b->dummy;
    b->event.log = cycle->log;
    b->event.cancelable = 1;

    ngx_add_timer(&b->event, NGX_HTTP_VICTOROPS_BUDGET_READ);

    vi->budget = b;

    return NGX_OK;
}


void
ngx_http_victorops_budget_done(ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_budget_t  *b;

    b = vi->budget;

    if (b != NULL && b->event.timer_set) {
        ngx_del_timer(&b->event);
    }
}


/* the bucket the database keeps: alert_limit or api_rate (0: no limit) */

static ngx_int_t
ngx_http_victorops_budget_rate(ngx_http_victorops_integration_t *vi,
    ngx_uint_t which, ngx_http_victorops_rate_t *rate)
{
    if (which == NGX_HTTP_VICTOROPS_BUDGET_ALERTS) {

        /* alert_limit alerts a minute, as many at once */

        rate->rate = (int64_t) vi->alert_limit;
        rate->period = 60000;
        rate->burst = (int64_t) vi->alert_limit;

    } else {

        /*
         * api_rate calls a second, one at a time, refilled at 90 % of
         * it.  A token is spent up to BUDGET_FRESH ms after its grant
         * (the answer, the job's next try, its call), so the calls of
         * any second come from grants of 1.1 s at most: 1 + 1.1 * 0.9 *
         * api_rate < api_rate + 1.  At 95 % a token spent 53 ms late
         * could make it api_rate + 1.
         */

        rate->rate = (int64_t) vi->api_rate;
        rate->period = 1000 * 100 / 90;
        rate->burst = 1;
    }

    return rate->rate ? NGX_OK : NGX_DECLINED;
}


/*
 * A token of the shared budget "which": NGX_OK, or NGX_BUSY with "*wait",
 * the ms after which one may be there (1 s at most: the job may go to a
 * node that holds a token).  Finding none asks the database for more
 * (one worker of the node at a time); so does taking the last of a block
 * of several (the next block while there is demand).  A budget of one
 * token at a time (api_rate) is asked for only when one is missed.
 */

ngx_int_t
ngx_http_victorops_budget_take(ngx_http_victorops_integration_t *vi,
    ngx_uint_t which, int64_t now, int64_t *wait)
{
    int64_t                       block;
    ngx_int_t                     rc;
    ngx_uint_t                    ask;
    ngx_http_victorops_grant_t   *g;
    ngx_http_victorops_budget_t  *b;

    b = vi->budget;

    if (vi->sh == NULL || b == NULL) {
        *wait = NGX_HTTP_VICTOROPS_BUDGET_DOWN;
        return NGX_BUSY;
    }

    g = &vi->sh->grants[which];
    block = b->asks[which].block;
    ask = 0;

    ngx_shmtx_lock(&vi->shpool->mutex);

    if (which == NGX_HTTP_VICTOROPS_BUDGET_API && g->stock > 0
        && now - g->granted_at > NGX_HTTP_VICTOROPS_BUDGET_FRESH)
    {
        g->dropped += g->stock;     /* too late to spend */
        g->stock = 0;
    }

    if (g->stock > 0) {
        g->stock--;
        g->spent++;
        g->used_at = now;
        rc = NGX_OK;

        ask = (block > 1 && g->stock == 0 && g->next_at <= now);

    } else if (g->next_at > now) {
        *wait = ngx_min(g->next_at - now, NGX_HTTP_VICTOROPS_BUDGET_WAIT);
        rc = NGX_BUSY;

    } else {
        *wait = NGX_HTTP_VICTOROPS_BUDGET_RETRY;
        rc = NGX_BUSY;
        ask = 1;
    }

    if (ask && g->asking_until > now) {
        ask = 0;        /* another worker asks */

    } else if (ask && which == NGX_HTTP_VICTOROPS_BUDGET_API) {

        /* the asker tries again soon after the answer: a fresh token */

        *wait = NGX_HTTP_VICTOROPS_BUDGET_SOON;
    }

    if (ask) {
        g->asking_until = now + (int64_t) vi->store_timeout + 1000;
    }

    ngx_shmtx_unlock(&vi->shpool->mutex);

    if (ask) {
        ngx_http_victorops_budget_ask(vi, which, now);
    }

    return rc;
}


/* the tokens this node holds, for the status */

int64_t
ngx_http_victorops_budget_stock(ngx_http_victorops_integration_t *vi,
    ngx_uint_t which)
{
    int64_t  n;

    if (vi->sh == NULL) {
        return 0;
    }

    ngx_shmtx_lock(&vi->shpool->mutex);
    n = vi->sh->grants[which].stock;
    ngx_shmtx_unlock(&vi->shpool->mutex);

    return n;
}


/* sends this worker's grant query (the row first, on its first use) */

static void
ngx_http_victorops_budget_ask(ngx_http_victorops_integration_t *vi,
    ngx_uint_t which, int64_t now)
{
    ngx_http_victorops_ask_t     *a;
    ngx_http_victorops_grant_t   *g;
    ngx_http_victorops_budget_t  *b;

    b = vi->budget;
    g = &vi->sh->grants[which];

    if (b == NULL || b->asks[which].asking) {
        return;     /* asking_until runs out */
    }

    a = &b->asks[which];

    a->row.more = 1;
    a->grant.more = 0;

    if ((a->ensured || ngx_http_victorops_pg_send(vi->pg, &a->row) == NGX_OK)
        && ngx_http_victorops_pg_send(vi->pg, &a->grant) == NGX_OK)
    {
        a->asking = 1;
        return;
    }

    /* unreachable: no token for a while */

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "victorops \"%V\": budget not asked: store unreachable",
                   &vi->name);

    ngx_shmtx_lock(&vi->shpool->mutex);
    g->asking_until = 0;
    g->next_at = now + NGX_HTTP_VICTOROPS_BUDGET_DOWN;
    ngx_shmtx_unlock(&vi->shpool->mutex);
}


/* the row's and the grant's answers: the grant's is the one that counts */

static void
ngx_http_victorops_budget_granted(ngx_http_victorops_pg_query_t *q,
    PGresult *res)
{
    int64_t                    now;
    ngx_http_victorops_ask_t  *a;

    a = q->data;

    if (q == &a->row) {
        if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
            a->ensured = 1;
        }

        return;
    }

    a->asking = 0;
    now = ngx_http_victorops_now();

    ngx_http_victorops_budget_answer(a, res, now);
}


static void
ngx_http_victorops_budget_answer(ngx_http_victorops_ask_t *a, PGresult *res,
    int64_t now)
{
    int64_t                            v[4], until;
    ngx_uint_t                         i;
    ngx_http_victorops_grant_t        *g;
    ngx_http_victorops_integration_t  *vi;

    vi = a->budget->vi;
    g = &vi->sh->grants[a->which];

    if (res == NULL
        || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1
        || PQnfields(res) != 4)
    {
        if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
            a->ensured = 0;         /* no row: made again next time */

        } else if (res) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "victorops integration \"%V\": %s budget not "
                          "granted: %s", &vi->name,
                          ngx_http_victorops_budget_names[a->which],
                          PQresultErrorMessage(res));
        }

        ngx_shmtx_lock(&vi->shpool->mutex);
        g->asking_until = 0;
        g->next_at = now + NGX_HTTP_VICTOROPS_BUDGET_RETRY;
        ngx_shmtx_unlock(&vi->shpool->mutex);
        return;
    }

    for (i = 0; i < 4; i++) {
        v[i] = ngx_atoof((u_char *) PQgetvalue(res, 0, i),
                         PQgetlength(res, 0, i));

        if (v[i] == NGX_ERROR) {
            v[i] = 0;
        }
    }

    ngx_log_debug6(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "victorops \"%V\": budget %ui: %L granted, %L left, "
                   "next in %L ms, paused %L ms", &vi->name, a->which,
                   v[0], v[1], v[2], v[3]);

    ngx_shmtx_lock(&vi->shpool->mutex);

    g->stock += v[0];
    g->granted += v[0];
    g->grants++;
    g->refused += (v[0] == 0);
    g->left = v[1];
    g->asking_until = 0;
    g->next_at = v[2] ? now + ngx_min(v[2], NGX_HTTP_VICTOROPS_BUDGET_WAIT)
                      : 0;

    if (v[0]) {
        g->used_at = now;
        g->granted_at = now;
    }

    ngx_shmtx_unlock(&vi->shpool->mutex);

    if (v[3]) {
        until = now + v[3];
        ngx_http_victorops_budget_hold(vi, a->peer, until);
    }
}


/*
 * A rate limit this node saw (429): written for every node, "until" on
 * this node's clock becoming a duration on the database's.  One write
 * at a time per worker; a longer pause seen meanwhile is written next.
 */

void
ngx_http_victorops_budget_pause(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, int64_t now, int64_t until)
{
    ngx_uint_t                    which;
    ngx_http_victorops_ask_t     *a;
    ngx_http_victorops_budget_t  *b;

    b = vi->budget;

    if (b == NULL || until <= now) {
        return;
    }

    which = (peer == NGX_HTTP_VICTOROPS_PEER_ROOTLY)
            ? NGX_HTTP_VICTOROPS_BUDGET_ALERTS : NGX_HTTP_VICTOROPS_BUDGET_API;

    a = &b->asks[which];

    if (a->pausing) {
        a->pause_ms = ngx_max(a->pause_ms, until - now);
        return;
    }

    (void) ngx_sprintf(a->text[4], "%L%Z", until - now);
    a->pause_ms = 0;

    if (ngx_http_victorops_pg_send(vi->pg, &a->pause) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "victorops integration \"%V\": %s pause not shared: "
                      "%s", &vi->name, ngx_http_victorops_budget_names[which],
                      a->pause.error);
        return;
    }

    a->pausing = 1;
}


static void
ngx_http_victorops_budget_paused(ngx_http_victorops_pg_query_t *q,
    PGresult *res)
{
    int64_t                            now;
    ngx_http_victorops_ask_t          *a;
    ngx_http_victorops_integration_t  *vi;

    a = q->data;
    vi = a->budget->vi;

    a->pausing = 0;

    if (res == NULL) {
        return;
    }

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "victorops integration \"%V\": %s pause not shared: "
                      "%s", &vi->name,
                      ngx_http_victorops_budget_names[a->which],
                      PQresultErrorMessage(res));
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "victorops integration \"%V\": %s pause shared with "
                  "every node", &vi->name,
                  ngx_http_victorops_budget_names[a->which]);

    if (a->pause_ms) {
        now = ngx_http_victorops_now();
        ngx_http_victorops_budget_pause(vi, a->peer, now, now + a->pause_ms);
    }
}


/*
 * Every second, in each worker: tokens the node left unspent go back;
 * one worker of the node reads the pauses of all nodes.
 */

static void
ngx_http_victorops_budget_read(ngx_event_t *ev)
{
    int64_t                            now;
    ngx_uint_t                         i, read;
    ngx_connection_t                  *c;
    ngx_http_victorops_budget_t       *b;
    ngx_http_victorops_integration_t  *vi;

    c = ev->data;
    b = c->data;
    vi = b->vi;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(&b->event, NGX_HTTP_VICTOROPS_BUDGET_READ);

    now = ngx_http_victorops_now();

    for (i = 0; i < NGX_HTTP_VICTOROPS_BUDGET_N; i++) {
        ngx_http_victorops_budget_give(&b->asks[i], now);
    }

    if (b->reading) {
        return;
    }

    ngx_shmtx_lock(&vi->shpool->mutex);

    read = (now - vi->sh->pauses_read >= NGX_HTTP_VICTOROPS_BUDGET_READ - 50);

    if (read) {
        vi->sh->pauses_read = now;
    }

    ngx_shmtx_unlock(&vi->shpool->mutex);

    if (read && ngx_http_victorops_pg_send(vi->pg, &b->read) == NGX_OK) {
        b->reading = 1;
    }
}


/*
 * The node's tokens unspent for BUDGET_IDLE go back to the bucket: taken
 * out of the stock first (never spent and given back both); lost if the
 * update fails (fewer tokens, never more).  An api_rate token is
 * dropped once it is no longer fresh.
 */

static void
ngx_http_victorops_budget_give(ngx_http_victorops_ask_t *a, int64_t now)
{
    int64_t                            n;
    ngx_http_victorops_grant_t        *g;
    ngx_http_victorops_integration_t  *vi;

    vi = a->budget->vi;
    g = &vi->sh->grants[a->which];

    if (a->giving) {
        return;
    }

    ngx_shmtx_lock(&vi->shpool->mutex);

    n = 0;

    if (a->which == NGX_HTTP_VICTOROPS_BUDGET_API && g->stock > 0
        && now - g->granted_at > NGX_HTTP_VICTOROPS_BUDGET_FRESH)
    {
        g->dropped += g->stock;     /* never given back: see FRESH */
        g->stock = 0;

    } else if (g->stock > 0
               && now - g->used_at >= NGX_HTTP_VICTOROPS_BUDGET_IDLE)
    {
        n = g->stock;
        g->stock = 0;
        g->returned += n;
    }

    ngx_shmtx_unlock(&vi->shpool->mutex);

    if (n == 0) {
        return;
    }

    (void) ngx_sprintf(a->text[5], "%L%Z", n);

    if (ngx_http_victorops_pg_send(vi->pg, &a->back) == NGX_OK) {
        a->giving = n;
        return;
    }

    ngx_shmtx_lock(&vi->shpool->mutex);
    g->stock += n;
    g->returned -= n;
    ngx_shmtx_unlock(&vi->shpool->mutex);
}


static void
ngx_http_victorops_budget_given(ngx_http_victorops_pg_query_t *q,
    PGresult *res)
{
    ngx_http_victorops_ask_t          *a;
    ngx_http_victorops_integration_t  *vi;

    a = q->data;
    vi = a->budget->vi;

    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "victorops integration \"%V\": %L unspent %s "
                      "tokens not given back: %s", &vi->name, a->giving,
                      ngx_http_victorops_budget_names[a->which],
                      res ? PQresultErrorMessage(res) : q->error);
    }

    a->giving = 0;
}


static void
ngx_http_victorops_budget_pauses(ngx_http_victorops_pg_query_t *q,
    PGresult *res)
{
    int                           i;
    char                         *name;
    int64_t                       now, ms;
    ngx_uint_t                    peer;
    ngx_http_victorops_budget_t  *b;

    b = q->data;
    b->reading = 0;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQnfields(res) != 2)
    {
        return;
    }

    now = ngx_http_victorops_now();

    for (i = 0; i < PQntuples(res); i++) {
        name = PQgetvalue(res, i, 0);
        ms = ngx_atoof((u_char *) PQgetvalue(res, i, 1),
                       PQgetlength(res, i, 1));

        if (ms == NGX_ERROR || ms <= 0) {
            continue;
        }

        peer = (ngx_strcmp(name, "api_rate") == 0)
               ? NGX_HTTP_VICTOROPS_PEER_VO : NGX_HTTP_VICTOROPS_PEER_ROOTLY;

        ngx_http_victorops_budget_hold(b->vi, peer, now + ms);
    }
}


/* a pause another node wrote, honoured here (not written back) */

static void
ngx_http_victorops_budget_hold(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, int64_t until)
{
    ngx_uint_t                  longer;
    ngx_http_victorops_peer_t  *p;

    p = &vi->sh->peers[peer];

    ngx_shmtx_lock(&vi->shpool->mutex);

    /* our own pause comes back from the database a little later: 1 s */

    longer = (until > p->paused_until + 1000);

    if (until > p->paused_until) {
        p->paused_until = until;
    }

    ngx_shmtx_unlock(&vi->shpool->mutex);

    if (longer) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "victorops integration \"%V\": %s paused by another "
                      "node for %L ms", &vi->name,
                      (peer == NGX_HTTP_VICTOROPS_PEER_ROOTLY)
                      ? "rootly" : "victorops",
                      until - ngx_http_victorops_now());
    }
}
