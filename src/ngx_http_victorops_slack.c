
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The "victorops_slack_command" content handler: a Slack slash command
 * ("/page payments checkout is down") that pages a VictorOps team.
 * Requests are verified with X-Slack-Signature; every answer is a 200
 * with an ephemeral message within Slack's 3 s (errors too); the page
 * itself is a durable job whose outcome (the incident number, or the
 * error) is posted to the command's response_url, which must be on one
 * of slack_response_hosts, by the Slack reply sender at the end.  With
 * a PostgreSQL store a signed request is also taken once on any node:
 * its signature goes into "signatures" first (a store call), a replay
 * finds it there and is refused.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_SLACK_WAIT    2000
#define NGX_HTTP_VICTOROPS_SLACK_MAX     300

/*
 * Slack gives up on a command after 3 s: a page whose store has not
 * answered by then is answered anyway (store_timeout may be longer)
 */
#define NGX_HTTP_VICTOROPS_SLACK_LATE    2500


/* a new signature gives a row; a replay none, on whichever node */

static const char  ngx_http_victorops_slack_seen_sql[] =
    "INSERT INTO signatures (integration, sig, seen_at)"
    " VALUES ($1, $2::bytea, victorops_now_ms())"
    " ON CONFLICT (integration, sig) DO NOTHING RETURNING 1";


typedef struct {
    ngx_pool_t                        *pool;
    ngx_http_request_t                *request;   /* NULL: the client left */
    ngx_http_victorops_integration_t  *vi;
    ngx_pool_cleanup_t                *cln;
    ngx_event_t                        wait;
    ngx_connection_t                   dummy;
    ngx_str_t                          command;
} ngx_http_victorops_slack_list_t;


/* a signature being recorded (PostgreSQL): the body waits for it */

typedef struct {
    ngx_http_victorops_store_call_t    call;
    ngx_str_t                          body;
} ngx_http_victorops_slack_seen_t;


/* a command's deadline, in the request's pool (a cleanup's data) */

typedef struct {
    ngx_http_request_t                *request;
    ngx_http_victorops_integration_t  *vi;
    ngx_event_t                        event;
    ngx_connection_t                   dummy;
} ngx_http_victorops_slack_late_t;


/* a reply job under way, in its transfer's pool */

typedef struct {
    ngx_http_victorops_job_t          *job;
    ngx_http_victorops_escalation_t    esc;
} ngx_http_victorops_slack_reply_t;


static void ngx_http_victorops_slack_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_victorops_slack_process(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi);
static ngx_int_t ngx_http_victorops_slack_seen(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *sig, ngx_str_t *body);
static ngx_int_t ngx_http_victorops_slack_seen_exec(
    ngx_http_victorops_integration_t *wvi, ngx_http_victorops_store_op_t *op);
static void ngx_http_victorops_slack_seen_done(
    ngx_http_victorops_store_op_t *op);
static ngx_int_t ngx_http_victorops_slack_late(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi);
static void ngx_http_victorops_slack_late_handler(ngx_event_t *ev);
static void ngx_http_victorops_slack_late_off(ngx_http_request_t *r);
static void ngx_http_victorops_slack_late_cleanup(void *data);
static ngx_int_t ngx_http_victorops_slack_form(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *body);
static ngx_int_t ngx_http_victorops_slack_command(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_json_t *form);
static ngx_int_t ngx_http_victorops_slack_page(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_json_t *form,
    ngx_str_t *slug, ngx_str_t *summary);
static void ngx_http_victorops_slack_queued(ngx_http_request_t *r,
    ngx_int_t rc, void *data, ngx_str_t *job);
static ngx_int_t ngx_http_victorops_slack_list(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *command);
static void ngx_http_victorops_slack_list_start(ngx_event_t *ev);
static void ngx_http_victorops_slack_list_done(
    ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_slack_list_end(
    ngx_http_victorops_slack_list_t *ctx, ngx_str_t *text);
static void ngx_http_victorops_slack_list_cleanup(void *data);
static ngx_int_t ngx_http_victorops_slack_refuse(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why, ngx_str_t *who);
static ngx_int_t ngx_http_victorops_slack_reject(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why);
static ngx_int_t ngx_http_victorops_slack_reply(ngx_http_request_t *r,
    ngx_str_t *text);
static ngx_int_t ngx_http_victorops_slack_creply(ngx_http_request_t *r,
    const char *text);
static ngx_int_t ngx_http_victorops_slack_reply_post(
    ngx_http_victorops_slack_reply_t *rp, ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_slack_replied(
    ngx_http_victorops_transfer_t *t);


ngx_int_t
ngx_http_victorops_slack_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (!(r->method & NGX_HTTP_POST)) {
        return ngx_http_victorops_not_allowed(r, "POST");
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_victorops_slack_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_victorops_slack_body(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_http_victorops_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_victorops_module);

    rc = ngx_http_victorops_slack_process(r, vlcf->integration);

    /* NGX_DONE: the answer comes with the commit or the VictorOps call */

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


static ngx_int_t
ngx_http_victorops_slack_process(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi)
{
    ngx_int_t         rc;
    ngx_str_t         body, name;
    ngx_table_elt_t  *ts, *sig;

    if (ngx_http_victorops_body(r, &body) != NGX_OK) {
        return ngx_http_victorops_slack_creply(r,
                                "Sorry, the command could not be read.");
    }

    /* the signature first: nothing of an unsigned body is looked at */

    ngx_str_set(&name, "X-Slack-Request-Timestamp");
    ts = ngx_http_victorops_header(r, &name, NULL);

    ngx_str_set(&name, "X-Slack-Signature");
    sig = ngx_http_victorops_header(r, &name, NULL);

    if (ts == NULL || sig == NULL) {
        return ngx_http_victorops_slack_reject(r, vi,
                         "no X-Slack-Signature or X-Slack-Request-Timestamp");
    }

    rc = ngx_http_victorops_slack_signature(&ts->value, &sig->value, &body,
                                            vi->slack_secrets, ngx_time(),
                                            (time_t) (vi->slack_replay_window
                                                      / 1000));
    switch (rc) {

    case NGX_OK:
        break;

    case NGX_ABORT:
        return ngx_http_victorops_slack_reject(r, vi,
                                  "timestamp outside the replay window");

    case NGX_DECLINED:
        return ngx_http_victorops_slack_reject(r, vi, "bad signature");

    default:
        return ngx_http_victorops_slack_creply(r,
                                "Sorry, the command could not be checked.");
    }

    if (ngx_http_victorops_slack_late(r, vi) != NGX_OK) {
        return ngx_http_victorops_slack_creply(r, "Sorry.");
    }

    if (vi->store_pg) {
        return ngx_http_victorops_slack_seen(r, vi, &sig->value, &body);
    }

    return ngx_http_victorops_slack_form(r, vi, &body);
}


/* a signed command is answered within SLACK_LATE, its store or not */

static ngx_int_t
ngx_http_victorops_slack_late(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi)
{
    ngx_pool_cleanup_t               *cln;
    ngx_http_victorops_slack_late_t  *late;

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_victorops_slack_late_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    late = cln->data;
    ngx_memzero(late, sizeof(ngx_http_victorops_slack_late_t));

    late->request = r;
    late->vi = vi;

    late->dummy.fd = (ngx_socket_t) -1;
    late->dummy.data = late;

    late->event.handler = ngx_http_victorops_slack_late_handler;
    late->event.data = &late->dummy;
    late->event.log = r->connection->log;

    cln->handler = ngx_http_victorops_slack_late_cleanup;

    ngx_add_timer(&late->event, NGX_HTTP_VICTOROPS_SLACK_LATE);

    return NGX_OK;
}


/*
 * The store has not answered in time.  The request leaves what it
 * waits for: a page still waiting for its batch is not written (nothing
 * paged); one being written goes on, its outcome posted to response_url
 * as usual; a signature being recorded (PostgreSQL) leaves nothing to
 * page.  Each is said so.
 */

static void
ngx_http_victorops_slack_late_handler(ngx_event_t *ev)
{
    ngx_int_t                         rc;
    const char                       *text, *what;
    ngx_connection_t                 *c;
    ngx_http_request_t               *r;
    ngx_http_victorops_slack_late_t  *late;

    c = ev->data;
    late = c->data;
    r = late->request;
    c = r->connection;

    switch (ngx_http_victorops_queue_withdraw(r)) {

    case NGX_OK:
        what = "the page not queued";
        text = "Sorry, the page could not be queued in time; nothing was "
               "sent. Try again.";
        break;

    case NGX_BUSY:
        what = "the page still being queued";
        text = "Your page is being queued; the incident number follows "
               "here once it is sent.";
        break;

    default:
        what = "the command not checked";
        text = "Sorry, the command could not be checked in time; nothing "
               "was paged. Try again.";
        break;
    }

    ngx_http_victorops_store_call_leave(r);

    ngx_log_error(NGX_LOG_WARN, c->log, 0,
                  "victorops integration \"%V\": slack command answered "
                  "after %M ms without its store: %s", &late->vi->name,
                  (ngx_msec_t) NGX_HTTP_VICTOROPS_SLACK_LATE, what);

    rc = ngx_http_victorops_slack_creply(r, text);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* answered, or answered by another timer (list): no deadline of ours */

static void
ngx_http_victorops_slack_late_off(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *c;

    for (c = r->pool->cleanup; c; c = c->next) {
        if (c->handler == ngx_http_victorops_slack_late_cleanup) {
            ngx_http_victorops_slack_late_cleanup(c->data);
            return;
        }
    }
}


static void
ngx_http_victorops_slack_late_cleanup(void *data)
{
    ngx_http_victorops_slack_late_t  *late = data;

    if (late->event.timer_set) {
        ngx_del_timer(&late->event);
    }
}


/*
 * PostgreSQL: the signature recorded before anything else is done, so
 * that the same request is taken once across every node (the timestamp
 * window alone lets a captured request be replayed within it).
 */

static ngx_int_t
ngx_http_victorops_slack_seen(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *sig, ngx_str_t *body)
{
    u_char                           *s;
    ngx_http_victorops_slack_seen_t  *seen;

    seen = ngx_http_victorops_store_call(vi,
                                      sizeof(ngx_http_victorops_slack_seen_t),
                                      ngx_http_victorops_slack_seen_exec,
                                      ngx_http_victorops_slack_seen_done);
    if (seen == NULL) {
        return ngx_http_victorops_slack_creply(r,
                                "Sorry, the command could not be checked.");
    }

    seen->body = *body;

    /* the call may outlive the request: the bytes go with it */

    s = ngx_pstrdup(seen->call.pool, sig);

    if (s == NULL
        || ngx_http_victorops_store_call_sql(seen,
                                             ngx_http_victorops_slack_seen_sql,
                                             NULL)
           != NGX_OK
        || ngx_http_victorops_store_call_bin(seen, s, sig->len) != NGX_OK)
    {
        ngx_destroy_pool(seen->call.pool);

        return ngx_http_victorops_slack_creply(r,
                                "Sorry, the command could not be checked.");
    }

    /* NGX_ERROR: not posted, the call's pool gone */

    if (ngx_http_victorops_store_call_post(r, seen) != NGX_OK) {
        return ngx_http_victorops_slack_creply(r,
                                "Sorry, the command could not be checked.");
    }

    return NGX_DONE;
}


/* never run: this call is PostgreSQL's */

static ngx_int_t
ngx_http_victorops_slack_seen_exec(ngx_http_victorops_integration_t *wvi,
    ngx_http_victorops_store_op_t *op)
{
    return NGX_ERROR;
}


static void
ngx_http_victorops_slack_seen_done(ngx_http_victorops_store_op_t *op)
{
    ngx_http_victorops_slack_seen_t  *seen = op->data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = seen->call.request;

    if (r == NULL) {
        return;
    }

    c = r->connection;

    switch (op->rc) {

    case NGX_OK:
        rc = ngx_http_victorops_slack_form(r, op->integration, &seen->body);
        break;

    case NGX_DECLINED:
        rc = ngx_http_victorops_slack_reject(r, op->integration,
                                             "replayed request");
        break;

    default:
        rc = ngx_http_victorops_slack_creply(r,
                                "Sorry, the command could not be checked.");
        break;
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


/* a signed command: its form */

static ngx_int_t
ngx_http_victorops_slack_form(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *body)
{
    ngx_http_victorops_json_t  *form;

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_SLACK_COMMANDS);

    if (ngx_http_victorops_form_parse(r->pool, body->data, body->len, &form)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "victorops integration \"%V\": slack command: not a "
                      "form", &vi->name);

        return ngx_http_victorops_slack_creply(r,
                                "Sorry, the command could not be read.");
    }

    return ngx_http_victorops_slack_command(r, vi, form);
}


/* a command from Slack: who may, and what it asks */

static ngx_int_t
ngx_http_victorops_slack_command(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_json_t *form)
{
    ngx_str_t  slug, summary, value, command;

    /* Slack checking the certificate */

    if (ngx_http_victorops_json_text(form, "ssl_check", &value) == NGX_OK
        && value.len == 1 && value.data[0] == '1')
    {
        ngx_str_null(&value);
        return ngx_http_victorops_send(r, NGX_HTTP_OK, "text/plain", &value);
    }

    (void) ngx_http_victorops_json_text(form, "channel_id", &value);

    if (vi->slack_channels
        && !ngx_http_victorops_str_in(vi->slack_channels, &value))
    {
        return ngx_http_victorops_slack_refuse(r, vi,
                          "This command is not allowed in this channel.",
                          &value);
    }

    (void) ngx_http_victorops_json_text(form, "user_id", &value);

    if (vi->slack_users
        && !ngx_http_victorops_str_in(vi->slack_users, &value))
    {
        return ngx_http_victorops_slack_refuse(r, vi,
                          "You are not allowed to page with this command.",
                          &value);
    }

    if (ngx_http_victorops_json_text(form, "command", &command) != NGX_OK) {
        ngx_str_set(&command, "/page");
    }

    (void) ngx_http_victorops_json_text(form, "text", &value);

    switch (ngx_http_victorops_slack_text(&value, &slug, &summary)) {

    case NGX_HTTP_VICTOROPS_SLACK_LIST:
        return ngx_http_victorops_slack_list(r, vi, &command);

    case NGX_HTTP_VICTOROPS_SLACK_PAGE:
        return ngx_http_victorops_slack_page(r, vi, form, &slug, &summary);

    default: /* NGX_HTTP_VICTOROPS_SLACK_HELP */
        value.data = ngx_pnalloc(r->pool, 3 * command.len + 256);
        if (value.data == NULL) {
            return ngx_http_victorops_slack_creply(r, "Sorry.");
        }

        value.len = ngx_sprintf(value.data,
                        "Page a VictorOps team: `%V <team or policy> "
                        "[summary]`, for example `%V team-payments checkout "
                        "is down`. `%V list` shows the teams.",
                        &command, &command, &command)
                    - value.data;

        return ngx_http_victorops_slack_reply(r, &value);
    }
}


/* a page: a durable job; the outcome goes to response_url */

static ngx_int_t
ngx_http_victorops_slack_page(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_http_victorops_json_t *form,
    ngx_str_t *slug, ngx_str_t *summary)
{
    ngx_str_t                         url, type, *s;
    ngx_http_victorops_job_t         *job;
    ngx_http_victorops_accept_t       a;
    ngx_http_victorops_escalation_t   esc;

    (void) ngx_http_victorops_json_text(form, "response_url", &url);

    switch (ngx_http_victorops_url_allowed(&url, vi->slack_hosts)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "victorops integration \"%V\": slack command from %V "
                      "refused: response_url not on slack_response_hosts",
                      &vi->name, &r->connection->addr_text);

        ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_SLACK_REFUSED);

        return ngx_http_victorops_slack_creply(r,
                   "Sorry, this command's response_url is not on an "
                   "allowed host; nothing was paged.");

    default:
        return ngx_http_victorops_slack_creply(r, "Sorry.");
    }

    ngx_str_set(&type, "EscalationPolicy");

    if (ngx_http_victorops_target_valid(&type, slug) != NGX_OK
        || summary->len > NGX_HTTP_VICTOROPS_SLACK_MAX)
    {
        return ngx_http_victorops_slack_creply(r,
                   "Sorry, that is not a team or policy slug (or the "
                   "summary is too long). Try `list`.");
    }

    if (ngx_http_victorops_slack_escalation(r->pool, form, slug, summary,
                                            ngx_time(), &esc)
        != NGX_OK)
    {
        return ngx_http_victorops_slack_creply(r, "Sorry.");
    }

    ngx_memzero(&a, sizeof(ngx_http_victorops_accept_t));

    job = &a.job;

    job->integration = vi;
    job->kind = NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE;
    job->incident = *slug;

    if (ngx_http_victorops_job_id(r->pool, &job->id) != NGX_OK
        || ngx_http_victorops_escalation_body(r->pool, &esc, &job->body)
           != NGX_OK)
    {
        return ngx_http_victorops_slack_creply(r, "Sorry.");
    }

    job->key.data = ngx_pnalloc(r->pool, sizeof("slack:") - 1 + job->id.len);
    if (job->key.data == NULL) {
        return ngx_http_victorops_slack_creply(r, "Sorry.");
    }

    job->key.len = ngx_sprintf(job->key.data, "slack:%V", &job->id)
                   - job->key.data;

    s = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (s == NULL) {
        return ngx_http_victorops_slack_creply(r, "Sorry.");
    }

    *s = *slug;

    a.reply = ngx_http_victorops_slack_queued;
    a.data = s;

    if (ngx_http_victorops_queue_accept(r, &a) != NGX_OK) {
        return ngx_http_victorops_slack_creply(r,
                   "Sorry, the page could not be queued; nothing was sent. "
                   "Try again.");
    }

    return NGX_DONE;
}


static void
ngx_http_victorops_slack_queued(ngx_http_request_t *r, ngx_int_t rc,
    void *data, ngx_str_t *job)
{
    ngx_str_t  *slug = data;

    ngx_str_t                       text;
    ngx_http_victorops_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_victorops_module);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r,
                  ngx_http_victorops_slack_creply(r,
                      "Sorry, the page could not be queued; nothing was "
                      "sent. Try again."));
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": slack page of \"%V\" "
                  "accepted (job %V)", &vlcf->integration->name, slug, job);

    text.data = ngx_pnalloc(r->pool, slug->len + job->len + 128);
    if (text.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    text.len = ngx_sprintf(text.data,
                           "Paging %V in VictorOps (job %V); the incident "
                           "number follows here.", slug, job)
               - text.data;

    ngx_http_finalize_request(r, ngx_http_victorops_slack_reply(r, &text));
}


/* "list": VictorOps teams, read now (the answer waits, within 3 s) */

static ngx_int_t
ngx_http_victorops_slack_list(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, ngx_str_t *command)
{
    ngx_pool_t                       *pool;
    ngx_http_victorops_slack_list_t  *ctx;

    /* its VictorOps call is answered within 3 s by its own timers */

    ngx_http_victorops_slack_late_off(r);

    /* it may outlive the request, and its connection's log */

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return ngx_http_victorops_slack_creply(r, "Sorry.");
    }

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_victorops_slack_list_t));
    if (ctx == NULL) {
        ngx_destroy_pool(pool);
        return ngx_http_victorops_slack_creply(r, "Sorry.");
    }

    ctx->cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx->cln == NULL) {
        ngx_destroy_pool(pool);
        return ngx_http_victorops_slack_creply(r, "Sorry.");
    }

    ctx->pool = pool;
    ctx->request = r;
    ctx->vi = vi;
    ctx->command = *command;

    ctx->cln->handler = ngx_http_victorops_slack_list_cleanup;
    ctx->cln->data = ctx;

    ctx->dummy.fd = (ngx_socket_t) -1;
    ctx->dummy.data = ctx;
    ctx->wait.handler = ngx_http_victorops_slack_list_start;
    ctx->wait.data = &ctx->dummy;
    ctx->wait.log = ngx_cycle->log;
    ctx->wait.cancelable = 1;

    ngx_http_victorops_slack_list_start(&ctx->wait);

    return NGX_DONE;
}


static void
ngx_http_victorops_slack_list_start(ngx_event_t *ev)
{
    int64_t                           wait;
    ngx_int_t                         rc;
    ngx_str_t                         text;
    ngx_connection_t                 *c;
    ngx_http_victorops_transfer_t    *t;
    ngx_http_victorops_slack_list_t  *ctx;

    c = ev->data;
    ctx = c->data;

    if (ctx->request == NULL) {
        ngx_destroy_pool(ctx->pool);
        return;
    }

    rc = ngx_http_victorops_peer_wait(ctx->vi, NGX_HTTP_VICTOROPS_PEER_VO,
                                      ngx_http_victorops_now(), &ctx->wait,
                                      NGX_HTTP_VICTOROPS_SLACK_WAIT, &wait);

    if (rc == NGX_AGAIN) {
        return;
    }

    if (rc == NGX_BUSY) {
        ngx_str_set(&text, "VictorOps is busy (rate limited), try again in "
                           "a minute.");
        ngx_http_victorops_slack_list_end(ctx, &text);
        return;
    }

    t = ngx_http_victorops_vo_transfer(ctx->vi, "GET", "/api-public/v1/team",
                                       NULL);
    if (t == NULL) {
        ngx_str_set(&text, "Sorry.");
        ngx_http_victorops_slack_list_end(ctx, &text);
        return;
    }

    t->what = "team list";
    t->handler = ngx_http_victorops_slack_list_done;
    t->data = ctx;
    t->timeout = ngx_min(t->timeout, 2500);
    t->interactive = 1;

    if (ngx_http_victorops_transfer_start(t) != NGX_OK) {
        ngx_destroy_pool(t->pool);
        ngx_str_set(&text, "Sorry.");
        ngx_http_victorops_slack_list_end(ctx, &text);
    }
}


static void
ngx_http_victorops_slack_list_done(ngx_http_victorops_transfer_t *t)
{
    u_char                           *p, *last;
    int64_t                           until;
    ngx_str_t                         text;
    ngx_uint_t                        i;
    ngx_array_t                       teams;
    ngx_http_request_t               *r;
    ngx_http_victorops_vo_team_t     *team;
    ngx_http_victorops_slack_list_t  *ctx;

    ctx = t->data;
    r = ctx->request;

    if (r == NULL) {
        ngx_destroy_pool(ctx->pool);
        return;
    }

    ngx_str_set(&text, "Sorry, VictorOps could not be reached; try again.");

    if (t->code == CURLE_ABORTED_BY_CALLBACK
        || ngx_http_victorops_vo_answer(ctx->vi, t, ngx_http_victorops_now(),
                                     &until)
        != NGX_OK
        || ngx_array_init(&teams, r->pool, 8,
                          sizeof(ngx_http_victorops_vo_team_t))
           != NGX_OK
        || ngx_http_victorops_vo_teams(r->pool, &t->response, &teams)
           != NGX_OK)
    {
        ngx_http_victorops_slack_list_end(ctx, &text);
        return;
    }

    p = ngx_pnalloc(r->pool, 3000);
    if (p == NULL) {
        ngx_http_victorops_slack_list_end(ctx, &text);
        return;
    }

    text.data = p;
    last = p + 3000;

    p = ngx_slprintf(p, last, "VictorOps teams:");

    team = teams.elts;

    for (i = 0; i < teams.nelts; i++) {
        p = ngx_slprintf(p, last, "%s `%V` (%V)", i ? "," : "",
                         &team[i].slug, &team[i].name);
    }

    if (teams.nelts == 0) {
        p = ngx_slprintf(p, last, " none");
    }

    p = ngx_slprintf(p, last, ". Page one with `%V <team> [summary]`.",
                     &ctx->command);

    text.len = ngx_http_victorops_utf8_cut(text.data, p) - text.data;

    ngx_http_victorops_slack_list_end(ctx, &text);
}


static void
ngx_http_victorops_slack_list_end(ngx_http_victorops_slack_list_t *ctx,
    ngx_str_t *text)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->wait.timer_set) {
        ngx_del_timer(&ctx->wait);
    }

    ctx->cln->handler = NULL;
    ngx_destroy_pool(ctx->pool);

    ngx_http_finalize_request(r, ngx_http_victorops_slack_reply(r, text));
}


/* the client went away: the VictorOps call finishes without it */

static void
ngx_http_victorops_slack_list_cleanup(void *data)
{
    ngx_http_victorops_slack_list_t  *ctx = data;

    ctx->request = NULL;

    if (ctx->wait.timer_set) {
        ngx_del_timer(&ctx->wait);
        ngx_destroy_pool(ctx->pool);
    }
}


/* allow lists: answered 200, ephemeral, and logged */

static ngx_int_t
ngx_http_victorops_slack_refuse(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why, ngx_str_t *who)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": slack command from \"%V\" "
                  "refused: %s", &vi->name, who, why);

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_SLACK_REFUSED);

    return ngx_http_victorops_slack_creply(r, why);
}


/* not from Slack: 401, the only non-200 answer */

static ngx_int_t
ngx_http_victorops_slack_reject(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi, const char *why)
{
    ngx_str_t  msg;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "victorops integration \"%V\": slack command from %V "
                  "unauthorized: %s", &vi->name, &r->connection->addr_text,
                  why);

    ngx_http_victorops_count(vi, NGX_HTTP_VICTOROPS_C_UNAUTHORIZED);

    ngx_str_set(&msg, "unauthorized");

    ngx_http_victorops_slack_late_off(r);

    return ngx_http_victorops_error(r, NGX_HTTP_UNAUTHORIZED, &msg);
}


static ngx_int_t
ngx_http_victorops_slack_reply(ngx_http_request_t *r, ngx_str_t *text)
{
    ngx_str_t  body;

    ngx_http_victorops_slack_late_off(r);

    if (ngx_http_victorops_slack_message(r->pool, "ephemeral", text, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len++;

    return ngx_http_victorops_send(r, NGX_HTTP_OK, "application/json", &body);
}


static ngx_int_t
ngx_http_victorops_slack_creply(ngx_http_request_t *r, const char *text)
{
    ngx_str_t  s;

    s.data = (u_char *) text;
    s.len = ngx_strlen(text);

    return ngx_http_victorops_slack_reply(r, &s);
}


/*
 * The Slack reply sender (job.c's table): a job's text POSTed to the
 * command's response_url while it is valid (Slack, not VictorOps: no
 * api_rate).  A Slack command needs VictorOps credentials: without
 * them (since removed) its replies are dead-lettered.
 */

ngx_int_t
ngx_http_victorops_slack_reply_send(ngx_http_victorops_job_t *job,
    int64_t now, int64_t *wait)
{
    ngx_int_t                          rc;
    ngx_str_t                          reason;
    ngx_http_victorops_transfer_t     *t;
    ngx_http_victorops_slack_reply_t  *rp;

    ngx_str_null(&reason);

    if (job->integration->vo == NULL) {
        ngx_str_set(&reason, "no VictorOps API credentials (api_id, api_key)");
        ngx_http_victorops_job_dead(job, NULL, now, &reason);
        return NGX_DONE;
    }

    t = ngx_http_victorops_transfer_create(ngx_cycle->log);
    if (t == NULL) {
        return NGX_ERROR;
    }

    rp = ngx_palloc(t->pool, sizeof(ngx_http_victorops_slack_reply_t));
    if (rp == NULL) {
        goto failed;
    }

    rp->job = ngx_http_victorops_job_copy(t->pool, job);
    if (rp->job == NULL) {
        goto failed;
    }

    rc = ngx_http_victorops_escalation_parse(t->pool, &job->body, &rp->esc);

    if (rc == NGX_OK) {
        rc = ngx_http_victorops_slack_reply_post(rp, t);

        if (rc == NGX_OK) {
            return NGX_OK;
        }

    } else if (rc == NGX_DECLINED) {
        ngx_str_set(&reason, "unreadable job body");
    }

    ngx_destroy_pool(t->pool);

    if (reason.len) {
        ngx_http_victorops_job_dead(job, NULL, now, &reason);
        return NGX_DONE;
    }

    if (rc == NGX_DONE) {
        ngx_http_victorops_job_outcome(job, NGX_HTTP_VICTOROPS_DONE, now, 0,
                                       NULL, NULL);
        ngx_http_victorops_queue_kick(job->integration);
    }

    return rc;

failed:

    ngx_destroy_pool(t->pool);
    return NGX_ERROR;
}


/* NGX_DONE: dropped, response_url not allowed or expired */

static ngx_int_t
ngx_http_victorops_slack_reply_post(ngx_http_victorops_slack_reply_t *rp,
    ngx_http_victorops_transfer_t *t)
{
    ngx_str_t                          body, json = ngx_string(
                                           "Content-Type: application/json");
    const char                        *type;
    ngx_http_victorops_escalation_t   *esc;
    ngx_http_victorops_integration_t  *vi;

    esc = &rp->esc;
    vi = rp->job->integration;

    if (ngx_http_victorops_url_allowed(&esc->reply_url, vi->slack_hosts)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "victorops integration \"%V\": slack reply (job %V) "
                      "dropped: response_url not on slack_response_hosts",
                      &vi->name, &rp->job->id);
        return NGX_DONE;
    }

    if (ngx_time() >= ngx_http_victorops_slack_reply_until(esc, rp->job)) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "victorops integration \"%V\": slack reply (job %V) "
                      "dropped: response_url expired (%d minutes after the "
                      "command): \"%V\"", &vi->name, &rp->job->id,
                      NGX_HTTP_VICTOROPS_SLACK_URL_TTL / 60, &esc->summary);
        return NGX_DONE;
    }

    type = (esc->details.len == sizeof("in_channel") - 1)
           ? "in_channel" : "ephemeral";

    if (ngx_http_victorops_slack_message(t->pool, type, &esc->summary, &body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    t->url.data = ngx_pnalloc(t->pool, esc->reply_url.len + 1);

    if (t->url.data == NULL
        || ngx_http_victorops_transfer_header(t, &json) != NGX_OK)
    {
        return NGX_ERROR;
    }

    *ngx_cpymem(t->url.data, esc->reply_url.data, esc->reply_url.len) = '\0';
    t->url.len = esc->reply_url.len;
    t->body = body;

    ngx_str_set(&t->method, "POST");
    t->timeout = vi->rootly_timeout;
    t->owner = vi->vo;
    t->peer = "slack";
    t->what = "slack reply";
    t->handler = ngx_http_victorops_slack_replied;
    t->data = rp;

    if (ngx_http_victorops_transfer_start(t) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, t->log, 0,
                   "victorops job %V: %s: %s", &rp->job->id, t->what,
                   t->url.data);

    return NGX_OK;
}


/*
 * Again later after a connection error, 429 or 5xx, unless the
 * response_url may have been used up (5 uses: an attempt that failed
 * may have counted) or has expired; 404, 410: it has (30 minutes, 5
 * uses).
 */

static void
ngx_http_victorops_slack_replied(ngx_http_victorops_transfer_t *t)
{
    int64_t                            now;
    ngx_str_t                          reason;
    ngx_http_victorops_job_t          *job;
    ngx_http_victorops_slack_reply_t  *rp;
    ngx_http_victorops_integration_t  *vi;

    rp = t->data;
    job = rp->job;
    vi = job->integration;
    now = ngx_http_victorops_now();

    ngx_http_victorops_queue_kick(vi);

    if (t->code == CURLE_ABORTED_BY_CALLBACK) {

        /* the worker exits */

        ngx_log_error(NGX_LOG_INFO, t->log, 0,
                      "victorops integration \"%V\": job %V released: %s",
                      &vi->name, &job->id, t->error);

        ngx_http_victorops_job_outcome(job, NGX_HTTP_VICTOROPS_RELEASE, now,
                                       0, NULL, NULL);
        return;
    }

    if (t->code == CURLE_OK && t->status >= 200 && t->status < 300) {
        ngx_log_error(NGX_LOG_INFO, t->log, 0,
                      "victorops integration \"%V\": slack reply (job %V) "
                      "delivered", &vi->name, &job->id);

        ngx_http_victorops_job_outcome(job, NGX_HTTP_VICTOROPS_DONE, now, 0,
                                       NULL, NULL);
        return;
    }

    if (ngx_http_victorops_transfer_error(t, &reason) == NGX_OK) {

        /* the start of Slack's answer */

        reason.data = t->response.data;
        reason.len = ngx_http_victorops_utf8_cut(reason.data,
                         reason.data + ngx_min(t->response.len, 100))
                     - reason.data;
    }

    if ((t->code != CURLE_OK || t->status == 429 || t->status >= 500)
        && job->attempts < NGX_HTTP_VICTOROPS_SLACK_URL_USES
        && ngx_time() < ngx_http_victorops_slack_reply_until(&rp->esc, job))
    {
        ngx_http_victorops_job_retry(job, t, now, &reason);
        return;
    }

    ngx_http_victorops_job_dead(job, t, now, &reason);
}


/* when the Slack command's response_url expires */

time_t
ngx_http_victorops_slack_reply_until(ngx_http_victorops_escalation_t *esc,
    ngx_http_victorops_job_t *job)
{
    if (esc->reply_until) {
        return esc->reply_until;
    }

    /* a job queued before reply_until was kept */

    return (time_t) (job->created / 1000) + NGX_HTTP_VICTOROPS_SLACK_URL_TTL;
}
