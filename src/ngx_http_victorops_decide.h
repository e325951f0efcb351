
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Decisions, as functions of plain data: what a VictorOps delivery
 * becomes, which Rootly call a job makes, what a Rootly event means,
 * and what a VictorOps job does about the incident it pages for.  The
 * callers gather the facts (links, the queue) and act on the decision;
 * a decision that needs a fact not gathered yet asks for it (an ASK_
 * action) and is taken again once the caller has it, so a caller only
 * looks up what the decision needs.  Nothing here knows about requests,
 * the store, shared memory or logs.
 */


#ifndef _NGX_HTTP_VICTOROPS_DECIDE_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_DECIDE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_payload.h"
#include "ngx_http_victorops_rootly_api.h"
#include "ngx_http_victorops_escalation.h"
#include "ngx_http_victorops_vo_api.h"


/* a unit of work for an upstream, as kept in the store */

#define NGX_HTTP_VICTOROPS_JOB_ALERT      1   /* POST /v1/alerts */
#define NGX_HTTP_VICTOROPS_JOB_ACTIVITY   2   /* linked incident activity */
#define NGX_HTTP_VICTOROPS_JOB_ESCALATE   3   /* page or reroute VictorOps */
#define NGX_HTTP_VICTOROPS_JOB_RESOLVE    4   /* resolve VictorOps incidents */
#define NGX_HTTP_VICTOROPS_JOB_NOTE       5   /* a Rootly timeline event */
#define NGX_HTTP_VICTOROPS_JOB_ONCALL     6   /* who is on call, to Rootly */
#define NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE 7   /* page a team from Slack */
#define NGX_HTTP_VICTOROPS_JOB_SLACK_REPLY 8  /* to Slack's response_url */
#define NGX_HTTP_VICTOROPS_JOB_EVENT      9   /* a VictorOps delivery, its
                                                 payload: alert or activity,
                                                 decided at dispatch */


/* what a decision knows of a fact it may need */

#define NGX_HTTP_VICTOROPS_FACT_UNKNOWN   0   /* not looked up yet */
#define NGX_HTTP_VICTOROPS_FACT_NO        1
#define NGX_HTTP_VICTOROPS_FACT_YES       2


/* the Rootly incident or alert a VictorOps incident is linked to */

typedef struct {
    ngx_uint_t                    found;        /* FACT_*: a link */
    ngx_str_t                     incident;     /* Rootly incident id */
    ngx_str_t                     alert;        /* Rootly alert id */
} ngx_http_victorops_rootly_link_t;


/*
 * A classified VictorOps delivery: a Rootly alert, activity on what
 * its incident is linked to (or about to be, by an alert still
 * queued), or nothing, and why.
 */

#define NGX_HTTP_VICTOROPS_EVENT_IGNORE     0   /* nothing: "why", reason */
#define NGX_HTTP_VICTOROPS_EVENT_JOB        1   /* a job of "kind" */
#define NGX_HTTP_VICTOROPS_EVENT_ASK_LINK   2   /* the link of its key? */
#define NGX_HTTP_VICTOROPS_EVENT_ASK_QUEUED 3   /* an alert of it queued? */

/* "why" beyond the classifier's (payload.h) */

#define NGX_HTTP_VICTOROPS_WHY_NO_LINK    4   /* nothing linked to it */

typedef struct {
    ngx_http_victorops_event_t   *event;
    ngx_http_victorops_rootly_link_t  link;
    ngx_uint_t                    queued;       /* FACT_*: an alert job
                                                   of its key, in the
                                                   batch or pending */
} ngx_http_victorops_event_facts_t;

typedef struct {
    ngx_uint_t                    action;
    ngx_uint_t                    kind;         /* JOB_ALERT, JOB_ACTIVITY */
    ngx_uint_t                    why;          /* WHY_*, ignored */
    ngx_str_t                     reason;       /* ... in words */
} ngx_http_victorops_event_decision_t;


/* the Rootly call a claimed job makes, built when it is claimed */

#define NGX_HTTP_VICTOROPS_CALL_POST      0   /* POST "body" to "path" */
#define NGX_HTTP_VICTOROPS_CALL_NONE      1   /* nothing to send */
#define NGX_HTTP_VICTOROPS_CALL_NO_LINK   2   /* nothing linked: reason */
#define NGX_HTTP_VICTOROPS_CALL_ASK_LINK  3   /* the link of its key? */

typedef struct {
    ngx_uint_t                    kind;         /* the job's */
    ngx_uint_t                    class;        /* ... its event's */
    ngx_str_t                     incident;     /* ... a note's Rootly one */
    ngx_str_t                     body;         /* ... as stored */
    ngx_http_victorops_rootly_link_t  link;
} ngx_http_victorops_call_facts_t;

typedef struct {
    ngx_uint_t                    action;
    const char                   *what;         /* "alert", for logs */
    ngx_str_t                     path;         /* after rootly_url */
    ngx_str_t                     body;
    ngx_str_t                     reason;
} ngx_http_victorops_call_t;


/* a Rootly webhook event: what to do in VictorOps, or why nothing */

#define NGX_HTTP_VICTOROPS_ROOTLY_IGNORE   0   /* nothing: reason */
#define NGX_HTTP_VICTOROPS_ROOTLY_JOB      1   /* a job of "kind" */
#define NGX_HTTP_VICTOROPS_ROOTLY_INVALID  2   /* refused: reason */

typedef struct {
    ngx_str_t                     type;         /* event.type */
    ngx_http_victorops_json_t    *data;         /* the event's "data" */
    ngx_array_t                  *rules;        /* rule_t: "escalate" */
    ngx_uint_t                    api;          /* VictorOps credentials */
    ngx_uint_t                    auto_resolve;
} ngx_http_victorops_rootly_facts_t;

typedef struct {
    ngx_uint_t                    action;
    const char                   *reason;
    ngx_uint_t                    kind;         /* JOB_ESCALATE, _RESOLVE */
    ngx_str_t                     incident;     /* the Rootly incident */
    ngx_str_t                     key;          /* the job's */
    ngx_str_t                     body;         /* ... an escalation */
} ngx_http_victorops_rootly_decision_t;


/*
 * A VictorOps job about a Rootly incident (an escalation, a Slack
 * page, a resolve): what it does given what is linked.
 */

#define NGX_HTTP_VICTOROPS_VO_SAME         0   /* pages those targets */
#define NGX_HTTP_VICTOROPS_VO_GONE         1   /* resolved: no reroute */
#define NGX_HTTP_VICTOROPS_VO_ASK_TARGETS  2   /* whom to page? */
#define NGX_HTTP_VICTOROPS_VO_NO_TARGET    3   /* nobody: dead, reason */
#define NGX_HTTP_VICTOROPS_VO_REROUTE      4
#define NGX_HTTP_VICTOROPS_VO_FIND         5   /* created by an attempt? */
#define NGX_HTTP_VICTOROPS_VO_CREATE       6
#define NGX_HTTP_VICTOROPS_VO_NOTHING_OPEN 7   /* none open to resolve */
#define NGX_HTTP_VICTOROPS_VO_RESOLVE      8

typedef struct {
    ngx_uint_t                    kind;         /* the job's */
    ngx_uint_t                    attempts;     /* ... this one included */
    ngx_str_t                     targets;      /* ... canonical */
    ngx_uint_t                    linked;       /* an incident pages */
    ngx_str_t                     paged;        /* ... these, canonical */
    ngx_uint_t                    vo_state;     /* ... in this state */
    ngx_uint_t                    open;         /* linked, unresolved */
    ngx_uint_t                    pageable;     /* FACT_*: a target */
} ngx_http_victorops_vo_facts_t;

typedef struct {
    ngx_uint_t                    action;
    ngx_str_t                     reason;
} ngx_http_victorops_vo_decision_t;


void ngx_http_victorops_decide_event(ngx_http_victorops_event_facts_t *f,
    ngx_http_victorops_event_decision_t *d);
void ngx_http_victorops_decide_dispatch(ngx_http_victorops_event_t *ev,
    ngx_http_victorops_rootly_link_t *link,
    ngx_http_victorops_event_decision_t *d);
ngx_int_t ngx_http_victorops_event_hash(ngx_uint_t class, ngx_str_t *key,
    ngx_str_t *body, u_char *hash);
ngx_int_t ngx_http_victorops_decide_call(ngx_pool_t *pool,
    ngx_http_victorops_call_facts_t *f, ngx_http_victorops_call_t *call);
ngx_int_t ngx_http_victorops_decide_rootly(ngx_pool_t *pool,
    ngx_http_victorops_rootly_facts_t *f,
    ngx_http_victorops_rootly_decision_t *d);
void ngx_http_victorops_decide_vo(ngx_http_victorops_vo_facts_t *f,
    ngx_http_victorops_vo_decision_t *d);


#endif /* _NGX_HTTP_VICTOROPS_DECIDE_H_INCLUDED_ */
