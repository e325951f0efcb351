
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * libcurl's multi socket interface inside the worker's event loop: one
 * CURLM per worker; curl sockets become nginx connections with level
 * triggered events, curl's timeout becomes one nginx timer.  Nothing
 * here blocks and libcurl is never called from its own callbacks.
 *
 * At most victorops_max_connections transfers run at once; the others
 * wait here, in order, and are handed to libcurl as running ones end.
 * Handed to libcurl at once, they would wait in its own queue for a
 * connection with their CURLOPT_TIMEOUT_MS running: behind a slow
 * upstream they timed out having had little of it, or none, and one
 * that had reached the upstream was sent again.  A transfer a person
 * waits for ("interactive": Slack's list) still goes to libcurl at once,
 * its timeout its deadline.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_victorops_module.h"


typedef struct {
    CURLM                        *multi;
    ngx_log_t                    *log;
    ngx_event_t                   timer;
    ngx_event_t                   next;           /* posted */
    ngx_connection_t              dummy;
    ngx_queue_t                   transfers;      /* running */
    ngx_queue_t                   waiting;
    ngx_uint_t                    active;         /* running and waiting */
    ngx_uint_t                    running;
    ngx_uint_t                    max;
    unsigned                      cleanup:1;
} ngx_http_victorops_curl_t;


static int ngx_http_victorops_curl_socket(CURL *easy, curl_socket_t s,
    int what, void *userp, void *socketp);
static int ngx_http_victorops_curl_timer(CURLM *multi, long timeout_ms,
    void *userp);
static ngx_int_t ngx_http_victorops_curl_event(ngx_connection_t *c,
    ngx_event_t *ev, ngx_uint_t want, ngx_uint_t event);
static void ngx_http_victorops_curl_release(ngx_connection_t *c,
    ngx_uint_t closed);
static int ngx_http_victorops_curl_close(void *clientp, curl_socket_t s);
static void ngx_http_victorops_curl_io_handler(ngx_event_t *ev);
static void ngx_http_victorops_curl_timer_handler(ngx_event_t *ev);
static void ngx_http_victorops_curl_action(curl_socket_t s, int action);
static void ngx_http_victorops_curl_collect(void);
static void ngx_http_victorops_curl_abort(const char *reason);
static ngx_int_t ngx_http_victorops_transfer_run(
    ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_curl_next(ngx_event_t *ev);
static void ngx_http_victorops_transfer_finish(
    ngx_http_victorops_transfer_t *t);
static void ngx_http_victorops_transfer_cleanup(void *data);
static size_t ngx_http_victorops_transfer_write(char *ptr, size_t size,
    size_t nmemb, void *userdata);
static size_t ngx_http_victorops_transfer_header_line(char *ptr, size_t size,
    size_t nmemb, void *userdata);


static ngx_http_victorops_curl_t  ngx_http_victorops_curl;


ngx_int_t
ngx_http_victorops_curl_init(ngx_cycle_t *cycle, ngx_uint_t max_connections)
{
    ngx_http_victorops_curl_t  *vc = &ngx_http_victorops_curl;

    vc->multi = curl_multi_init();
    if (vc->multi == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "victorops: curl_multi_init() failed");
        return NGX_ERROR;
    }

    vc->log = cycle->log;
    vc->active = 0;
    vc->running = 0;
    vc->max = max_connections;
    ngx_queue_init(&vc->transfers);
    ngx_queue_init(&vc->waiting);

    vc->dummy.fd = (ngx_socket_t) -1;

    vc->timer.handler = ngx_http_victorops_curl_timer_handler;
    vc->timer.data = &vc->dummy;
    vc->timer.log = cycle->log;
    vc->timer.cancelable = 1;

    vc->next.handler = ngx_http_victorops_curl_next;
    vc->next.data = &vc->dummy;
    vc->next.log = cycle->log;

    if (curl_multi_setopt(vc->multi, CURLMOPT_SOCKETFUNCTION,
                          ngx_http_victorops_curl_socket) != CURLM_OK
        || curl_multi_setopt(vc->multi, CURLMOPT_SOCKETDATA, vc) != CURLM_OK
        || curl_multi_setopt(vc->multi, CURLMOPT_TIMERFUNCTION,
                             ngx_http_victorops_curl_timer) != CURLM_OK
        || curl_multi_setopt(vc->multi, CURLMOPT_TIMERDATA, vc) != CURLM_OK
        || curl_multi_setopt(vc->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                             (long) max_connections) != CURLM_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "victorops: curl_multi_setopt() failed");
        curl_multi_cleanup(vc->multi);
        vc->multi = NULL;
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_victorops_curl_done(ngx_cycle_t *cycle)
{
    ngx_http_victorops_curl_t  *vc = &ngx_http_victorops_curl;

    if (vc->multi == NULL) {
        return;
    }

    ngx_http_victorops_curl_abort("the worker is exiting");

    /* cached connections close here, through the socket callback */

    vc->cleanup = 1;
    curl_multi_cleanup(vc->multi);
    vc->multi = NULL;
    vc->cleanup = 0;

    if (vc->timer.timer_set) {
        ngx_del_timer(&vc->timer);
    }

    if (vc->next.posted) {
        ngx_delete_posted_event(&vc->next);
    }
}


static int
ngx_http_victorops_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp)
{
    ngx_http_victorops_curl_t  *vc = userp;

    ngx_connection_t  *c;

    c = socketp;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, vc->log, 0,
                   "victorops curl socket %d what:%d conn:%p", s, what, c);

    if (what == CURL_POLL_REMOVE) {

        /*
         * A socket curl gives up while still connecting (a transfer
         * removed before it was on the wire) may be closed already,
         * without the close callback: the kernel dropped it from epoll.
         */

        if (c) {
            ngx_http_victorops_curl_release(c,
                               fcntl(s, F_GETFD) == -1 && ngx_errno == EBADF);
        }

        return 0;
    }

    if (c == NULL) {
        c = ngx_get_connection(s, vc->log);
        if (c == NULL) {
            return -1;
        }

        c->data = vc;
        c->log = vc->log;
        c->read->log = vc->log;
        c->write->log = vc->log;
        c->read->handler = ngx_http_victorops_curl_io_handler;
        c->write->handler = ngx_http_victorops_curl_io_handler;

        if (curl_multi_assign(vc->multi, s, c) != CURLM_OK) {
            ngx_free_connection(c);
            c->fd = (ngx_socket_t) -1;
            return -1;
        }
    }

    if (ngx_http_victorops_curl_event(c, c->read, what & CURL_POLL_IN,
                                      NGX_READ_EVENT)
        != NGX_OK
        || ngx_http_victorops_curl_event(c, c->write, what & CURL_POLL_OUT,
                                         NGX_WRITE_EVENT)
           != NGX_OK)
    {
        return -1;
    }

    return 0;
}


/* level-triggered, exactly as curl asks: nobody else reads these sockets */

static ngx_int_t
ngx_http_victorops_curl_event(ngx_connection_t *c, ngx_event_t *ev,
    ngx_uint_t want, ngx_uint_t event)
{
    if (want && !ev->active) {
        return ngx_add_event(ev, event, 0);
    }

    if (!want && ev->active) {
        return ngx_del_event(ev, event, 0);
    }

    return NGX_OK;
}


/*
 * curl owns the descriptor: release the connection, never close it.
 * "closed": curl is closing it now, and the kernel drops it from epoll.
 */

static void
ngx_http_victorops_curl_release(ngx_connection_t *c, ngx_uint_t closed)
{
    ngx_uint_t  flags;

    flags = closed ? NGX_CLOSE_EVENT : 0;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, flags);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;
}


/*
 * curl closes a socket: a connection of ours still on it is released
 * first (curl does not always say CURL_POLL_REMOVE before it closes, and
 * an event deleted after the close is an epoll_ctl() on a closed
 * descriptor), and curl forgets it, so that no later callback hands back
 * a connection nginx may have given to somebody else.
 */

static int
ngx_http_victorops_curl_close(void *clientp, curl_socket_t s)
{
    ngx_http_victorops_curl_t  *vc = clientp;

    ngx_uint_t         i;
    ngx_connection_t  *c;

    /*
     * With epoll nginx keeps no table by descriptor (cycle->files): a
     * look through the worker's connections; curl closes a socket
     * seldom (a connection it does not keep), so this costs little.
     */

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, vc->log, 0,
                   "victorops curl close %d", s);

    c = ngx_cycle->connections;

    for (i = 0; i < ngx_cycle->connection_n; i++, c++) {
        if (c->fd == s && c->data == vc
            && c->read->handler == ngx_http_victorops_curl_io_handler)
        {
            break;
        }
    }

    if (i < ngx_cycle->connection_n) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, vc->log, 0,
                       "victorops curl close %d, still watched", s);

        ngx_http_victorops_curl_release(c, 1);

        if (vc->multi && !vc->cleanup) {
            (void) curl_multi_assign(vc->multi, s, NULL);
        }
    }

    return close(s);
}


static int
ngx_http_victorops_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ngx_http_victorops_curl_t  *vc = userp;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, vc->log, 0,
                   "victorops curl timer %l", timeout_ms);

    /* ngx_add_timer() would keep an old timer less than 300 ms off */

    if (vc->timer.timer_set) {
        ngx_del_timer(&vc->timer);
    }

    if (timeout_ms >= 0) {
        ngx_add_timer(&vc->timer, (ngx_msec_t) timeout_ms);
    }

    return 0;
}


static void
ngx_http_victorops_curl_io_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    if (c->close) {

        /* worker_shutdown_timeout has expired */

        ngx_http_victorops_curl_abort("worker_shutdown_timeout expired");
        return;
    }

    ngx_http_victorops_curl_action(c->fd, ev->write ? CURL_CSELECT_OUT
                                                    : CURL_CSELECT_IN);
}


static void
ngx_http_victorops_curl_timer_handler(ngx_event_t *ev)
{
    ngx_http_victorops_curl_action(CURL_SOCKET_TIMEOUT, 0);
}


static void
ngx_http_victorops_curl_action(curl_socket_t s, int action)
{
    int         running;
    CURLMcode   rc;

    ngx_http_victorops_curl_t  *vc = &ngx_http_victorops_curl;

    if (vc->multi == NULL) {
        return;
    }

    rc = curl_multi_socket_action(vc->multi, s, action, &running);

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, vc->log, 0,
                      "victorops: curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(rc));
    }

    ngx_http_victorops_curl_collect();
}


static void
ngx_http_victorops_curl_collect(void)
{
    int                             left;
    CURL                           *easy;
    CURLcode                        code;
    CURLMsg                        *msg;
    ngx_http_victorops_transfer_t  *t;

    ngx_http_victorops_curl_t  *vc = &ngx_http_victorops_curl;

    for ( ;; ) {
        msg = curl_multi_info_read(vc->multi, &left);
        if (msg == NULL) {
            break;
        }

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        easy = msg->easy_handle;
        code = msg->data.result;

        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t)
            != CURLE_OK)
        {
            continue;
        }

        t->code = code;
        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->status);

        ngx_http_victorops_transfer_finish(t);
    }
}


static void
ngx_http_victorops_curl_abort(const char *reason)
{
    ngx_queue_t                    *q;
    ngx_http_victorops_transfer_t  *t;

    ngx_http_victorops_curl_t  *vc = &ngx_http_victorops_curl;

    /* the waiting first: none starts when a running one ends */

    while (!ngx_queue_empty(&vc->waiting)) {
        q = ngx_queue_head(&vc->waiting);
        t = ngx_queue_data(q, ngx_http_victorops_transfer_t, queue);

        ngx_http_victorops_transfer_abort(t, reason);
    }

    while (!ngx_queue_empty(&vc->transfers)) {
        q = ngx_queue_head(&vc->transfers);
        t = ngx_queue_data(q, ngx_http_victorops_transfer_t, queue);

        ngx_http_victorops_transfer_abort(t, reason);
    }
}


/* ends one transfer now: its handler sees CURLE_ABORTED_BY_CALLBACK */

void
ngx_http_victorops_transfer_abort(ngx_http_victorops_transfer_t *t,
    const char *reason)
{
    t->code = CURLE_ABORTED_BY_CALLBACK;
    t->status = 0;
    ngx_cpystrn((u_char *) t->error, (u_char *) reason, CURL_ERROR_SIZE);

    ngx_http_victorops_transfer_finish(t);
}


/*
 * Takes back the transfers of "owner" that have not sent their request
 * yet (waiting for their turn, or still connecting): after a 429
 * nothing more may go out until the pause ends.
 */

void
ngx_http_victorops_curl_release_waiting(void *owner, const char *reason)
{
    long                            sent;
    ngx_queue_t                    *q, *next;
    ngx_http_victorops_transfer_t  *t;

    ngx_http_victorops_curl_t  *vc = &ngx_http_victorops_curl;

    if (vc->multi == NULL) {
        return;
    }

    for (q = ngx_queue_head(&vc->waiting);
         q != ngx_queue_sentinel(&vc->waiting);
         q = next)
    {
        next = ngx_queue_next(q);
        t = ngx_queue_data(q, ngx_http_victorops_transfer_t, queue);

        if (t->owner == owner) {
            ngx_http_victorops_transfer_abort(t, reason);
        }
    }

    for (q = ngx_queue_head(&vc->transfers);
         q != ngx_queue_sentinel(&vc->transfers);
         q = next)
    {
        next = ngx_queue_next(q);
        t = ngx_queue_data(q, ngx_http_victorops_transfer_t, queue);

        /* the bytes of request curl has written so far */

        if (t->owner != owner
            || curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &sent)
               != CURLE_OK
            || sent > 0)
        {
            continue;
        }

        ngx_http_victorops_transfer_abort(t, reason);
    }
}


ngx_http_victorops_transfer_t *
ngx_http_victorops_transfer_create(ngx_log_t *log)
{
    ngx_pool_t                     *pool;
    ngx_pool_cleanup_t             *cln;
    ngx_http_victorops_transfer_t  *t;

    pool = ngx_create_pool(2048, log);
    if (pool == NULL) {
        return NULL;
    }

    t = ngx_pcalloc(pool, sizeof(ngx_http_victorops_transfer_t));
    if (t == NULL) {
        goto failed;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    cln->handler = ngx_http_victorops_transfer_cleanup;
    cln->data = t;

    t->pool = pool;
    t->log = log;
    t->ratelimit_remaining = -1;

    t->easy = curl_easy_init();
    if (t->easy == NULL) {
        goto failed;
    }

    return t;

failed:

    ngx_destroy_pool(pool);
    return NULL;
}


ngx_int_t
ngx_http_victorops_transfer_header(ngx_http_victorops_transfer_t *t,
    ngx_str_t *header)
{
    u_char             *p;
    struct curl_slist  *list;

    p = ngx_pnalloc(t->pool, header->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(p, header->data, header->len + 1);

    list = curl_slist_append(t->headers, (char *) p);
    if (list == NULL) {
        return NGX_ERROR;
    }

    t->headers = list;

    return NGX_OK;
}


/* t->url, t->method and t->body must be NUL-terminated */

ngx_int_t
ngx_http_victorops_transfer_start(ngx_http_victorops_transfer_t *t)
{
    CURL                       *easy;
    ngx_str_t                   expect = ngx_string("Expect:");
    ngx_http_victorops_curl_t  *vc = &ngx_http_victorops_curl;

    if (vc->multi == NULL) {
        ngx_log_error(NGX_LOG_ALERT, t->log, 0,
                      "victorops: no curl multi handle in this process");
        return NGX_ERROR;
    }

    easy = t->easy;

    /* no "Expect: 100-continue" round trip for larger bodies */

    if (ngx_http_victorops_transfer_header(t, &expect) != NGX_OK) {
        return NGX_ERROR;
    }

    if (curl_easy_setopt(easy, CURLOPT_URL, t->url.data) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_PRIVATE, t) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION,
                            ngx_http_victorops_curl_close)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA,
                            &ngx_http_victorops_curl)
           != CURLE_OK
#if (LIBCURL_VERSION_NUM >= 0x075500)
        || curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https")
           != CURLE_OK
#endif
        || curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) t->timeout)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_USERAGENT,
                            NGX_HTTP_VICTOROPS_USER_AGENT) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION,
                            ngx_http_victorops_transfer_write) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_WRITEDATA, t) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION,
                            ngx_http_victorops_transfer_header_line)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_HEADERDATA, t) != CURLE_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, t->log, 0,
                      "victorops: curl_easy_setopt() failed");
        return NGX_ERROR;
    }

    if (t->body.data) {
        if (curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->body.data)
            != CURLE_OK
            || curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                                (curl_off_t) t->body.len)
               != CURLE_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_strcmp(t->method.data, "GET") != 0
        && ngx_strcmp(t->method.data, "POST") != 0
        && curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, t->method.data)
           != CURLE_OK)
    {
        return NGX_ERROR;
    }

    /*
     * its turn comes after those waiting, in order; one a person waits
     * for (a deadline of its own) goes to libcurl at once
     */

    if (!t->interactive
        && (vc->running >= vc->max || !ngx_queue_empty(&vc->waiting)))
    {
        t->waiting = 1;
        ngx_queue_insert_tail(&vc->waiting, &t->queue);

    } else if (ngx_http_victorops_transfer_run(t) != NGX_OK) {
        return NGX_ERROR;
    }

    vc->active++;
    vc->timer.cancelable = 0;

    return NGX_OK;
}


/* handed to libcurl: its timeout runs from now */

static ngx_int_t
ngx_http_victorops_transfer_run(ngx_http_victorops_transfer_t *t)
{
    ngx_http_victorops_curl_t  *vc = &ngx_http_victorops_curl;

    if (curl_multi_add_handle(vc->multi, t->easy) != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, t->log, 0,
                      "victorops: curl_multi_add_handle() failed");
        return NGX_ERROR;
    }

    t->waiting = 0;
    ngx_queue_insert_tail(&vc->transfers, &t->queue);
    vc->running++;

    return NGX_OK;
}


/*
 * Posted when a transfer ended: those waiting take the free places, in
 * order.  Not at once, from transfer_finish(): a handler, or a caller
 * walking the lists (curl_release_waiting()), would see them move.
 */

static void
ngx_http_victorops_curl_next(ngx_event_t *ev)
{
    ngx_queue_t                    *q;
    ngx_http_victorops_transfer_t  *t;

    ngx_http_victorops_curl_t  *vc = &ngx_http_victorops_curl;

    if (vc->multi == NULL) {
        return;
    }

    while (vc->running < vc->max && !ngx_queue_empty(&vc->waiting)) {
        q = ngx_queue_head(&vc->waiting);
        t = ngx_queue_data(q, ngx_http_victorops_transfer_t, queue);

        ngx_queue_remove(q);

        if (ngx_http_victorops_transfer_run(t) != NGX_OK) {

            /* ends it, not waiting any more: its handler sees why */

            ngx_queue_insert_head(&vc->waiting, q);
            ngx_http_victorops_transfer_abort(t, "curl_multi_add_handle() "
                                                 "failed");
        }
    }
}


/*
 * Why "t" got no answer: NGX_ERROR, "reason" is libcurl's error text
 * (in "t", or libcurl's own).  NGX_OK: an answer came, whose reason is
 * the upstream's, for the caller to read.
 */

ngx_int_t
ngx_http_victorops_transfer_error(ngx_http_victorops_transfer_t *t,
    ngx_str_t *reason)
{
    if (t->code == CURLE_OK) {
        return NGX_OK;
    }

    reason->data = (u_char *) (t->error[0] ? t->error
                                           : curl_easy_strerror(t->code));
    reason->len = ngx_strlen(reason->data);

    return NGX_ERROR;
}


static void
ngx_http_victorops_transfer_finish(ngx_http_victorops_transfer_t *t)
{
    ngx_http_victorops_curl_t  *vc = &ngx_http_victorops_curl;

    ngx_queue_remove(&t->queue);

    if (!t->waiting) {
        (void) curl_multi_remove_handle(vc->multi, t->easy);
        vc->running--;
    }

    if (t->truncated) {

        /* cut at NGX_HTTP_VICTOROPS_RESPONSE_MAX, not inside a character */

        t->response.len = ngx_http_victorops_utf8_cut(t->response.data,
                              t->response.data + t->response.len)
                          - t->response.data;
    }

    /* the worker may exit once no transfer is in flight */

    if (--vc->active == 0) {
        vc->timer.cancelable = 1;
    }

    t->handler(t);

    ngx_destroy_pool(t->pool);

    if (!ngx_queue_empty(&vc->waiting) && vc->running < vc->max
        && !vc->next.posted)
    {
        ngx_post_event(&vc->next, &ngx_posted_events);
    }
}


static void
ngx_http_victorops_transfer_cleanup(void *data)
{
    ngx_http_victorops_transfer_t  *t = data;

    if (t->easy) {
        curl_easy_cleanup(t->easy);
    }

    if (t->headers) {
        curl_slist_free_all(t->headers);
    }
}


static size_t
ngx_http_victorops_transfer_write(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    ngx_http_victorops_transfer_t  *t = userdata;

    u_char  *p;
    size_t   len, want;

    len = size * nmemb;

    /* t->status: the status line of this answer, read before its body */

    if (t->sink && t->status >= 200 && t->status < 300) {
        return (t->sink(t, (u_char *) ptr, len) == NGX_OK) ? len : 0;
    }

    want = t->response.len + len;

    if (want > NGX_HTTP_VICTOROPS_RESPONSE_MAX) {
        t->truncated = 1;
        len = NGX_HTTP_VICTOROPS_RESPONSE_MAX - t->response.len;
        want = NGX_HTTP_VICTOROPS_RESPONSE_MAX;
    }

    if (want > t->response_size) {
        t->response_size = ngx_max(want, ngx_min(2 * t->response_size + 1024,
                                            NGX_HTTP_VICTOROPS_RESPONSE_MAX));

        p = ngx_pnalloc(t->pool, t->response_size);
        if (p == NULL) {
            return 0;
        }

        if (t->response.len) {
            ngx_memcpy(p, t->response.data, t->response.len);
        }

        t->response.data = p;
    }

    if (len) {
        ngx_memcpy(t->response.data + t->response.len, ptr, len);
        t->response.len += len;
    }

    return size * nmemb;
}


/*
 * The status line ("HTTP/1.1 200 OK", "HTTP/2 200"), the rate-limit
 * headers of Rootly and the Retry-After of both APIs.
 */

static size_t
ngx_http_victorops_transfer_header_line(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    ngx_http_victorops_transfer_t  *t = userdata;

    u_char     *p, *end, *colon;
    size_t      len;
    ngx_int_t   n;

    len = size * nmemb;
    p = (u_char *) ptr;
    end = p + len;

    while (end > p && (end[-1] == CR || end[-1] == LF || end[-1] == ' ')) {
        end--;
    }

    if (end - p > 5 && ngx_strncmp(p, "HTTP/", 5) == 0) {
        colon = ngx_strlchr(p, end, ' ');

        n = (colon && end - colon > 3) ? ngx_atoi(colon + 1, 3) : NGX_ERROR;
        t->status = (n == NGX_ERROR) ? 0 : n;

        return len;
    }

    colon = ngx_strlchr(p, end, ':');
    if (colon == NULL) {
        return len;
    }

    for (colon++; colon < end && *colon == ' '; colon++) { /* void */ }

    n = ngx_atoi(colon, end - colon);

    if (n == NGX_ERROR) {
        return len;
    }

#define ngx_http_victorops_header_is(name)                                    \
    ((size_t) (ngx_strlchr(p, end, ':') - p) == sizeof(name) - 1              \
     && ngx_strncasecmp(p, (u_char *) name, sizeof(name) - 1) == 0)

    if (ngx_http_victorops_header_is("X-RateLimit-Remaining")
        || ngx_http_victorops_header_is("RateLimit-Remaining"))
    {
        t->ratelimit_remaining = n;

    } else if (ngx_http_victorops_header_is("X-RateLimit-Reset")
               || ngx_http_victorops_header_is("RateLimit-Reset"))
    {
        /* epoch seconds; a reset far ahead cannot stop sends for long */

        t->ratelimit_reset = ngx_min((time_t) n,
                                     ngx_time() + NGX_HTTP_VICTOROPS_WAIT_MAX);

    } else if (ngx_http_victorops_header_is("Retry-After")) {
        t->retry_after = ngx_min((time_t) n, NGX_HTTP_VICTOROPS_WAIT_MAX);
    }

#undef ngx_http_victorops_header_is

    return len;
}
