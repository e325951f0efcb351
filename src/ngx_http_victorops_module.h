
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

#include "ngx_http_victorops_json.h"
#include "ngx_http_victorops_payload.h"
#include "ngx_http_victorops_rootly_api.h"
#include "ngx_http_victorops_escalation.h"
#include "ngx_http_victorops_vo_api.h"
#include "ngx_http_victorops_slack_api.h"
#include "ngx_http_victorops_decide.h"


#define NGX_HTTP_VICTOROPS_VERSION        "0.1.0"
#define NGX_HTTP_VICTOROPS_USER_AGENT                                         \
    "ngx_http_victorops_module/" NGX_HTTP_VICTOROPS_VERSION

#define NGX_HTTP_VICTOROPS_RESPONSE_MAX   65536

/* the longest pause (s) a Retry-After or X-RateLimit-Reset may ask for */
#define NGX_HTTP_VICTOROPS_WAIT_MAX       3600


typedef struct {
    u_char                        digest[SHA256_DIGEST_LENGTH];
} ngx_http_victorops_secret_t;


/* counters shown by victorops_status, shared by all workers */

enum {
    NGX_HTTP_VICTOROPS_C_ACCEPTED_ALERT = 0,
    NGX_HTTP_VICTOROPS_C_ACCEPTED_ACK,
    NGX_HTTP_VICTOROPS_C_ACCEPTED_RECOVERY,
    NGX_HTTP_VICTOROPS_C_IGNORED_TYPE,
    NGX_HTTP_VICTOROPS_C_IGNORED_INFO,
    NGX_HTTP_VICTOROPS_C_IGNORED_NOT_INCIDENT,
    NGX_HTTP_VICTOROPS_C_IGNORED_NO_LINK,
    NGX_HTTP_VICTOROPS_C_DUPLICATE,
    NGX_HTTP_VICTOROPS_C_UNAUTHORIZED,
    NGX_HTTP_VICTOROPS_C_INVALID,
    NGX_HTTP_VICTOROPS_C_REJECTED,
    NGX_HTTP_VICTOROPS_C_DELIVERED,
    NGX_HTTP_VICTOROPS_C_RETRIED,
    NGX_HTTP_VICTOROPS_C_DEAD,
    NGX_HTTP_VICTOROPS_C_RATE_LIMITED,
    NGX_HTTP_VICTOROPS_C_ESCALATED,
    NGX_HTTP_VICTOROPS_C_REROUTED,
    NGX_HTTP_VICTOROPS_C_VO_RESOLVED,
    NGX_HTTP_VICTOROPS_C_ONCALL,
    NGX_HTTP_VICTOROPS_C_VO_FAILED,
    NGX_HTTP_VICTOROPS_C_VO_RATE_LIMITED,
    NGX_HTTP_VICTOROPS_C_SYNC_RUNS,
    NGX_HTTP_VICTOROPS_C_SYNC_REPAIRS,
    NGX_HTTP_VICTOROPS_C_SLACK_COMMANDS,
    NGX_HTTP_VICTOROPS_C_SLACK_PAGED,
    NGX_HTTP_VICTOROPS_C_SLACK_REFUSED,
    NGX_HTTP_VICTOROPS_C_N
};


#define NGX_HTTP_VICTOROPS_NAME_MAX       64
#define NGX_HTTP_VICTOROPS_MAX_INTEGRATIONS  64
#define NGX_HTTP_VICTOROPS_ERROR_MAX      160


typedef struct {
    time_t                        time;
    ngx_uint_t                    status;
    u_char                        reason[NGX_HTTP_VICTOROPS_ERROR_MAX];
    size_t                        reason_len;
} ngx_http_victorops_last_error_t;


/* a token bucket: "rate" tokens every "period" ms, "burst" at most */

typedef struct {
    int64_t                       rate;               /* 0: no limit */
    int64_t                       period;             /* ms */
    int64_t                       burst;
} ngx_http_victorops_rate_t;

typedef struct {
    int64_t                       tokens;             /* in 1/1000 */
    int64_t                       refill_ms;
} ngx_http_victorops_bucket_t;


/* an upstream the integration calls: Rootly or VictorOps */

#define NGX_HTTP_VICTOROPS_PEER_ROOTLY    0
#define NGX_HTTP_VICTOROPS_PEER_VO        1
#define NGX_HTTP_VICTOROPS_PEER_N         2

typedef struct {
    ngx_http_victorops_bucket_t   bucket;
    int64_t                       paused_until;
    time_t                        last_success;
    ngx_uint_t                    credentials_failing;
    ngx_uint_t                    failures;           /* in a row */
    ngx_http_victorops_last_error_t  error;
} ngx_http_victorops_peer_t;


/*
 * A budget shared by the nodes of a PostgreSQL store (alert_limit,
 * api_rate): the tokens the database granted to this node and not spent
 * yet, and what its last answer said (ngx_http_victorops_budget.c)
 */

#define NGX_HTTP_VICTOROPS_BUDGET_ALERTS  0   /* alert_limit */
#define NGX_HTTP_VICTOROPS_BUDGET_API     1   /* api_rate */
#define NGX_HTTP_VICTOROPS_BUDGET_N       2

typedef struct {
    int64_t                       stock;              /* whole tokens */
    int64_t                       granted;            /* in all */
    int64_t                       spent;
    int64_t                       grants;             /* answers */
    int64_t                       refused;            /* answers of 0 */
    int64_t                       asking_until;       /* a worker asks */
    int64_t                       used_at;            /* taken, granted */
    int64_t                       granted_at;         /* the last grant */
    int64_t                       returned;           /* unspent */
    int64_t                       dropped;            /* spent too late */
    int64_t                       next_at;            /* none before */
    int64_t                       left;               /* the row's */
} ngx_http_victorops_grant_t;


typedef struct {
    u_char                        name[NGX_HTTP_VICTOROPS_NAME_MAX];
    size_t                        name_len;

    ngx_atomic_t                  counters[NGX_HTTP_VICTOROPS_C_N];
    ngx_atomic_t                  lock_waits;
    ngx_atomic_t                  lock_wait_ms;
    ngx_atomic_t                  commits;
    ngx_atomic_t                  commit_us;
    ngx_atomic_t                  commit_us_max;
    ngx_atomic_t                  tasks;              /* the writer's */
    ngx_atomic_t                  thread_cpu_us;
    ngx_atomic_t                  wal_restarts;       /* the writer's */

    /* a PostgreSQL store's spool on this node (store_spool.c) */
    ngx_atomic_t                  spool_depth;
    ngx_atomic_t                  spool_moved;
    ngx_atomic_t                  spool_dropped;
    ngx_atomic_t                  spool_moved_at;     /* time_t */

    /* under the zone's mutex */
    ngx_http_victorops_peer_t     peers[NGX_HTTP_VICTOROPS_PEER_N];
    ngx_http_victorops_bucket_t   alerts;             /* alert_limit */
    ngx_http_victorops_grant_t    grants[NGX_HTTP_VICTOROPS_BUDGET_N];
    int64_t                       pauses_read;        /* budgets' */

    int64_t                       sync_next;          /* the lease */
    time_t                        sync_last;
    ngx_uint_t                    sync_ok;

    int64_t                       import_until;       /* import_lock.c */
    int64_t                       import_token;
} ngx_http_victorops_shctx_t;


typedef struct ngx_http_victorops_store_s  ngx_http_victorops_store_t;
typedef struct ngx_http_victorops_pg_s     ngx_http_victorops_pg_t;


/* a plain http:// URL to a host that is not loopback, and where it is set */

typedef struct {
    u_char                       *file;               /* NULL: not one */
    ngx_uint_t                    line;
    ngx_str_t                     host;
} ngx_http_victorops_plain_url_t;


typedef struct {
    int64_t                       pending;
    int64_t                       oldest;
    int64_t                       dead;
    int64_t                       links;
} ngx_http_victorops_store_stats_t;


typedef struct {
    ngx_str_t                     name;
    u_char                       *file;
    ngx_uint_t                    line;

    ngx_str_t                     rootly_url;
    ngx_http_victorops_plain_url_t  rootly_url_plain;
    ngx_str_t                     rootly_token;
    ngx_str_t                     rootly_auth;     /* "Authorization: ..." */

    ngx_array_t                  *webhook_secrets;    /* secret_t */
    ngx_array_t                  *escalation_codes;   /* ngx_str_t */
    ngx_str_t                     escalation_url;
    size_t                        escalation_max_body;
    ngx_uint_t                    escalation_max_fields;

    ngx_str_t                     api_url;
    ngx_http_victorops_plain_url_t  api_url_plain;
    ngx_str_t                     api_id;
    ngx_str_t                     api_key;
    ngx_str_t                     api_user;
    ngx_str_t                     portal_url;
    ngx_str_t                     store;

    ngx_array_t                  *admin_tokens;       /* secret_t */
    ngx_array_t                  *signing_secrets;    /* ngx_str_t */
    ngx_msec_t                    replay_window;

    ngx_msec_t                    rootly_timeout;
    ngx_uint_t                    json_max_depth;

    ngx_array_t                  *rules;              /* rule_t */
    ngx_array_t                  *escalate_tokens;    /* secret_t */
    ngx_flag_t                    auto_resolve;
    ngx_flag_t                    oncall_responders;
    ngx_msec_t                    sync_interval;
    ngx_uint_t                    api_rate;           /* per second */
    ngx_str_t                     vo_auth[2];         /* X-VO-Api-* */

    ngx_array_t                  *slack_secrets;      /* ngx_str_t */
    ngx_msec_t                    slack_replay_window;
    ngx_array_t                  *slack_hosts;        /* ngx_str_t */
    ngx_array_t                  *slack_channels;     /* ngx_str_t */
    ngx_array_t                  *slack_users;        /* ngx_str_t */

    ngx_uint_t                    alert_limit;        /* per minute */
    ngx_uint_t                    alert_limit_reject;
    ngx_msec_t                    duplicate_window;
    ngx_uint_t                    duplicate_index;    /* entries */
    void                         *dedup;              /* dedup.c's */
    ngx_msec_t                    retry_max_delay;
    ngx_msec_t                    max_age;
    time_t                        retention;
    ngx_uint_t                    store_sync;
    ngx_msec_t                    store_busy_timeout;

    /* a PostgreSQL store ("store postgresql://...") */
    ngx_uint_t                    store_pg;
    ngx_str_t                     store_masked;       /* for logs */
    ngx_str_t                     store_password;     /* NUL-terminated */
    ngx_msec_t                    store_timeout;
    ngx_str_t                     node_id;
    ngx_str_t                     store_spool;        /* SQLite */
    ngx_str_t                     pg_refused;         /* a directive... */
    u_char                       *pg_refused_file;    /* ...and where */
    ngx_uint_t                    pg_refused_line;

    ngx_uint_t                    index;
    ngx_uint_t                    store_failed;       /* on a reload */
#if (NGX_THREADS)
    ngx_thread_pool_t            *thread_pool;
#endif
    ngx_slab_pool_t              *shpool;
    ngx_http_victorops_shctx_t   *sh;

    /* per worker */
    ngx_http_victorops_store_t   *st;
    ngx_queue_t                   batch;              /* pending_t */
    ngx_pool_t                   *batch_pool;
    ngx_queue_t                   appends;            /* committing */
    ngx_connection_t              dummy;
    ngx_event_t                   commit_event;
    ngx_event_t                   dispatch_event;
    ngx_queue_t                   outcomes;
    ngx_event_t                   outcome_event;
    ngx_queue_t                   outcomes_kept;      /* PostgreSQL away */
    ngx_event_t                   outcome_retry;
    ngx_uint_t                    inflight;
    int64_t                       dedup_expired;
    int64_t                       retained;           /* next time */
    int64_t                       leases_checked;
    int64_t                       checkpointed;
    unsigned                      claiming:1;
    unsigned                      choring:1;
    unsigned                      closing:1;
    ngx_event_t                   sync_event;
    void                         *vo;                 /* vo_worker_t */
    ngx_uint_t                    syncing;
    ngx_http_victorops_pg_t      *pg;
    void                         *pg_ops;             /* store_pg.c's */
    void                         *spool;              /* store_spool.c's */
    void                         *budget;             /* budget.c's */
    ngx_http_victorops_store_stats_t  pg_stats;       /* last read */
    int64_t                       pg_stats_at;        /* 0: never */
} ngx_http_victorops_integration_t;


/* a store to queue into, in this worker: SQLite's, or a PostgreSQL one */

#define ngx_http_victorops_has_store(vi)                                      \
    ((vi)->st != NULL || (vi)->pg_ops != NULL)


typedef struct {
    ngx_array_t                   integrations;       /* integration_t * */
    ngx_array_t                   references;         /* reference_t */
    ngx_uint_t                    max_connections;
    ngx_str_t                     thread_pool;
    ngx_shm_zone_t               *shm_zone;
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
typedef ngx_int_t (*ngx_http_victorops_sink_pt)(
    ngx_http_victorops_transfer_t *t, u_char *data, size_t len);

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

    /*
     * "sink": a 2xx answer goes there as it arrives, instead of into
     * "response" (which keeps other answers, up to RESPONSE_MAX)
     */
    ngx_http_victorops_sink_pt    sink;
    void                         *owner;
    const char                   *what;
    const char                   *peer;               /* "rootly" */

    /* outcome */
    CURLcode                      code;
    long                          status;
    ngx_str_t                     response;
    size_t                        response_size;
    unsigned                      truncated:1;
    unsigned                      waiting:1;      /* for a connection */
    unsigned                      interactive:1;  /* never waits: its
                                                     timeout covers all */
    time_t                        ratelimit_reset;
    ngx_int_t                     ratelimit_remaining;
    time_t                        retry_after;
    char                          error[CURL_ERROR_SIZE];
};


/* a unit of work for an upstream (its kinds: decide.h; senders: job.c) */

typedef struct {
    ngx_http_victorops_integration_t  *integration;
    int64_t                       seq;
    int64_t                       created;            /* epoch ms */
    ngx_str_t                     id;
    ngx_uint_t                    kind;
    ngx_uint_t                    class;
    ngx_uint_t                    attempts;
    ngx_str_t                     key;                /* the incident */
    ngx_str_t                     incident;
    ngx_str_t                     entity;
    ngx_str_t                     body;

    /*
     * A PostgreSQL claim's: the claim's lease token (an outcome applies
     * while the job still holds it), and the link of the job's key, read
     * with the claim ("link_given"), so that dispatch reads nothing more;
     * none found, whether a VictorOps create is under way meanwhile
     */
    int64_t                       token;
    ngx_str_t                     link_incident;
    ngx_str_t                     link_alert;
    unsigned                      link_given:1;
    unsigned                      link_found:1;
    unsigned                      link_creating:1;    /* a create under
                                                         way, any node */

    /* the queue's: counted in flight (queue_enter(), queue_leave()) */
    unsigned                      inflight:1;
} ngx_http_victorops_job_t;


/* what becomes of a claimed job */

#define NGX_HTTP_VICTOROPS_DONE          0
#define NGX_HTTP_VICTOROPS_RETRY         1
#define NGX_HTTP_VICTOROPS_RELEASE       2
#define NGX_HTTP_VICTOROPS_DEAD          3

/* recorded already (job_retry(), job_dead()): nothing more to write */
#define NGX_HTTP_VICTOROPS_RECORDED      4


/*
 * A sender starts a claimed job, counted in flight by the queue until
 * the sender records its outcome: NGX_OK under way, NGX_DONE finished
 * already (outcome recorded), NGX_BUSY no token or paused (again after
 * "wait" ms), NGX_DECLINED nothing to send, NGX_ERROR; the dispatcher
 * records the outcome of the last three.
 */

typedef ngx_int_t (*ngx_http_victorops_send_pt)(
    ngx_http_victorops_job_t *job, int64_t now, int64_t *wait);

typedef struct {
    ngx_uint_t                    kind;
    const char                   *name;
    const char                   *peer;               /* whom it calls */
    ngx_http_victorops_send_pt    send;
} ngx_http_victorops_kind_t;


/* a change to a link, written with an outcome or a repair */

#define NGX_HTTP_VICTOROPS_LINK_ESCALATION    1
#define NGX_HTTP_VICTOROPS_LINK_TARGETS       2
#define NGX_HTTP_VICTOROPS_LINK_VO_STATE      3
#define NGX_HTTP_VICTOROPS_LINK_ROOTLY_STATE  4
#define NGX_HTTP_VICTOROPS_LINK_SYNCED        5

typedef struct {
    ngx_uint_t                    op;
    ngx_str_t                     key;
    ngx_str_t                     incident;
    ngx_str_t                     entity;
    ngx_str_t                     rootly_incident;
    ngx_str_t                     targets;
    ngx_uint_t                    vo_state;
    ngx_uint_t                    rootly_state;
} ngx_http_victorops_link_t;


/*
 * What a job leaves behind, in the same transaction: a finished job's
 * (its own pool), or an accepted one's (the request's pool).
 */

typedef struct {
    ngx_pool_t                   *pool;
    ngx_array_t                   links;              /* link_t */
    ngx_array_t                   jobs;               /* job_t */
} ngx_http_victorops_effects_t;


/* how logs name a job's incident: its number, else the key */

#define ngx_http_victorops_job_incident(job)                                  \
    ((job)->incident.len ? &(job)->incident : &(job)->key)


/*
 * Once the batch with an accepted job is on disk: NGX_OK, NGX_DECLINED
 * (a duplicate: not stored) or NGX_ERROR (nothing stored); "id" is the
 * job's.
 */

typedef void (*ngx_http_victorops_reply_pt)(ngx_http_request_t *r,
    ngx_int_t rc, void *data, ngx_str_t *id);


/*
 * A duplicate key: a job whose key the store already holds is not
 * stored again.  A delivery's hash counts within "window" ms, a Rootly
 * event id and a signed delivery's signature for a day or longer.
 */

#define NGX_HTTP_VICTOROPS_DUP_HASH       1
#define NGX_HTTP_VICTOROPS_DUP_EVENT      2
#define NGX_HTTP_VICTOROPS_DUP_SIGNATURE  3

#define NGX_HTTP_VICTOROPS_DUPS_MAX       2

typedef struct {
    ngx_uint_t                    type;               /* 0: none */
    ngx_str_t                     key;
    ngx_msec_t                    window;             /* DUP_HASH */

    /* DUP_HASH claimed in the shared index (dedup.c): only recorded */
    unsigned                      claimed:1;
} ngx_http_victorops_dup_t;


/*
 * What a handler hands the queue: the job, who answers once it is on
 * disk, the keys it is taken once for (checked in order; the queue
 * keeps copies), and the effects written in the same transaction (the
 * job's strings and the effects live in the request's pool).
 */

typedef struct {
    ngx_http_victorops_job_t      job;
    ngx_http_victorops_reply_pt   reply;
    void                         *data;
    ngx_http_victorops_dup_t      dups[NGX_HTTP_VICTOROPS_DUPS_MAX];
    ngx_http_victorops_effects_t *effects;            /* NULL: none */
} ngx_http_victorops_accept_t;


/* what each file defines, grouped by file: a map of the code */

#include "ngx_http_victorops_auth.h"
#include "ngx_http_victorops_budget.h"
#include "ngx_http_victorops_conf.h"
#include "ngx_http_victorops_conf_check.h"
#include "ngx_http_victorops_curl.h"
#include "ngx_http_victorops_dedup.h"
#include "ngx_http_victorops_escalate.h"
#include "ngx_http_victorops_events.h"
#include "ngx_http_victorops_import.h"
#include "ngx_http_victorops_job.h"
#include "ngx_http_victorops_peer.h"
#include "ngx_http_victorops_pg.h"
#include "ngx_http_victorops_policies.h"
#include "ngx_http_victorops_queue.h"
#include "ngx_http_victorops_response.h"
#include "ngx_http_victorops_rootly.h"
#include "ngx_http_victorops_slack.h"
#include "ngx_http_victorops_status.h"
#include "ngx_http_victorops_store.h"
#include "ngx_http_victorops_store_jobs.h"
#include "ngx_http_victorops_store_links.h"
#include "ngx_http_victorops_store_pg.h"
#include "ngx_http_victorops_store_spool.h"
#include "ngx_http_victorops_store_thread.h"
#include "ngx_http_victorops_sync.h"
#include "ngx_http_victorops_vo.h"
#include "ngx_http_victorops_vo_client.h"
#include "ngx_http_victorops_vo_oncall.h"
#include "ngx_http_victorops_vo_page.h"
#include "ngx_http_victorops_vo_resolve.h"
#include "ngx_http_victorops_webhook.h"

/*
 * ngx_http_victorops_store_sqlite.h is the store files' own, and
 * ngx_http_victorops_vo_ctx.h the VictorOps sender's: not here
 */


extern ngx_module_t  ngx_http_victorops_module;


#endif /* _NGX_HTTP_VICTOROPS_MODULE_H_INCLUDED_ */
