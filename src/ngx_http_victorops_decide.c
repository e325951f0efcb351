
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Decisions, as functions of plain data (see the header): the
 * webhook's (alert or activity), the Rootly sender's (which call),
 * the Rootly events handler's (escalate, resolve or ignore) and the
 * VictorOps job's (create, reroute, resolve or nothing).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>

#include "ngx_http_victorops_decide.h"


static ngx_int_t ngx_http_victorops_decide_activity(ngx_pool_t *pool,
    ngx_http_victorops_call_facts_t *f, ngx_http_victorops_call_t *call);
static ngx_int_t ngx_http_victorops_incident_event(ngx_pool_t *pool,
    ngx_str_t *incident, ngx_str_t *text, ngx_http_victorops_call_t *call);
static ngx_int_t ngx_http_victorops_rootly_path(ngx_pool_t *pool,
    const char *prefix, ngx_str_t *id, const char *suffix, ngx_str_t *path);
static ngx_int_t ngx_http_victorops_rootly_escalation(ngx_pool_t *pool,
    ngx_http_victorops_rootly_facts_t *f,
    ngx_http_victorops_rootly_incident_t *inc,
    ngx_http_victorops_rootly_decision_t *d);
static ngx_uint_t ngx_http_victorops_rootly_type(ngx_str_t *type);


#define NGX_HTTP_VICTOROPS_TYPE_OTHER     0
#define NGX_HTTP_VICTOROPS_TYPE_ESCALATE  1   /* created, updated */
#define NGX_HTTP_VICTOROPS_TYPE_RESOLVE   2   /* resolved, cancelled */


/*
 * An alert not linked to a Rootly incident makes a Rootly alert (one
 * linked to an alert only makes another); anything else is activity
 * on what its incident is linked to, or about to be by an alert job
 * still in the batch or pending, else nothing.
 */

void
ngx_http_victorops_decide_event(ngx_http_victorops_event_facts_t *f,
    ngx_http_victorops_event_decision_t *d)
{
    ngx_http_victorops_event_t  *ev;

    ngx_memzero(d, sizeof(ngx_http_victorops_event_decision_t));

    ev = f->event;

    if (ev->class == NGX_HTTP_VICTOROPS_IGNORED) {
        d->action = NGX_HTTP_VICTOROPS_EVENT_IGNORE;
        d->why = ev->why;
        d->reason = ev->reason;
        return;
    }

    if (f->link.found == NGX_HTTP_VICTOROPS_FACT_UNKNOWN) {
        d->action = NGX_HTTP_VICTOROPS_EVENT_ASK_LINK;
        return;
    }

    if (ev->class == NGX_HTTP_VICTOROPS_ALERT && f->link.incident.len == 0) {
        d->action = NGX_HTTP_VICTOROPS_EVENT_JOB;
        d->kind = NGX_HTTP_VICTOROPS_JOB_ALERT;
        return;
    }

    if (f->link.found == NGX_HTTP_VICTOROPS_FACT_NO) {

        if (f->queued == NGX_HTTP_VICTOROPS_FACT_UNKNOWN) {
            d->action = NGX_HTTP_VICTOROPS_EVENT_ASK_QUEUED;
            return;
        }

        if (f->queued == NGX_HTTP_VICTOROPS_FACT_NO) {
            d->action = NGX_HTTP_VICTOROPS_EVENT_IGNORE;
            d->why = NGX_HTTP_VICTOROPS_WHY_NO_LINK;
            ngx_str_set(&d->reason, "no linked Rootly incident or alert");
            return;
        }
    }

    d->action = NGX_HTTP_VICTOROPS_EVENT_JOB;
    d->kind = NGX_HTTP_VICTOROPS_JOB_ACTIVITY;
}


/*
 * An event job (JOB_EVENT), when it is dispatched: what it becomes
 * with the link of its key as it is then.  The jobs of a key go out
 * in arrival order, so an alert accepted before it has been delivered
 * (and linked) or dead-lettered by then: none is still queued.
 * ASK_LINK until "link" is known.
 */

void
ngx_http_victorops_decide_dispatch(ngx_http_victorops_event_t *ev,
    ngx_http_victorops_rootly_link_t *link,
    ngx_http_victorops_event_decision_t *d)
{
    ngx_http_victorops_event_facts_t  facts;

    facts.event = ev;
    facts.link = *link;
    facts.queued = NGX_HTTP_VICTOROPS_FACT_NO;

    ngx_http_victorops_decide_event(&facts, d);
}


/*
 * What makes two deliveries the same: the class, the incident key and
 * the job's body; "hash" gets the SHA-256 of them (32 bytes).
 */

ngx_int_t
ngx_http_victorops_event_hash(ngx_uint_t class, ngx_str_t *key,
    ngx_str_t *body, u_char *hash)
{
    int            ok;
    u_char         c;
    EVP_MD_CTX    *md;
    unsigned int   len;

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    c = (u_char) class;

    ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL)
         && EVP_DigestUpdate(md, &c, 1)
         && EVP_DigestUpdate(md, key->data, key->len)
         && EVP_DigestUpdate(md, body->data, body->len)
         && EVP_DigestFinal_ex(md, hash, &len);

    EVP_MD_CTX_free(md);

    return ok ? NGX_OK : NGX_ERROR;
}


/*
 * An alert job posts its body to /v1/alerts, a note a timeline event
 * to the Rootly incident it names; activity needs the link of its
 * key.  NGX_ERROR: out of memory.
 */

ngx_int_t
ngx_http_victorops_decide_call(ngx_pool_t *pool,
    ngx_http_victorops_call_facts_t *f, ngx_http_victorops_call_t *call)
{
    ngx_memzero(call, sizeof(ngx_http_victorops_call_t));

    switch (f->kind) {

    case NGX_HTTP_VICTOROPS_JOB_ALERT:
        call->action = NGX_HTTP_VICTOROPS_CALL_POST;
        call->what = "alert";
        ngx_str_set(&call->path, "/v1/alerts");
        call->body = f->body;
        return NGX_OK;

    case NGX_HTTP_VICTOROPS_JOB_NOTE:
        call->what = "timeline event";

        return ngx_http_victorops_incident_event(pool, &f->incident,
                                                 &f->body, call);

    default: /* NGX_HTTP_VICTOROPS_JOB_ACTIVITY */
        return ngx_http_victorops_decide_activity(pool, f, call);
    }
}


/*
 * Activity goes to the linked Rootly incident as a timeline event;
 * without one, an acknowledgement or recovery acknowledges or resolves
 * the linked Rootly alert; else nothing is sent.
 */

static ngx_int_t
ngx_http_victorops_decide_activity(ngx_pool_t *pool,
    ngx_http_victorops_call_facts_t *f, ngx_http_victorops_call_t *call)
{
    ngx_http_victorops_rootly_link_t  *link;

    link = &f->link;

    switch (link->found) {

    case NGX_HTTP_VICTOROPS_FACT_UNKNOWN:
        call->action = NGX_HTTP_VICTOROPS_CALL_ASK_LINK;
        return NGX_OK;

    case NGX_HTTP_VICTOROPS_FACT_NO:
        call->action = NGX_HTTP_VICTOROPS_CALL_NO_LINK;
        ngx_str_set(&call->reason, "no linked Rootly incident or alert");
        return NGX_OK;
    }

    if (link->incident.len) {
        call->what = "incident event";

        return ngx_http_victorops_incident_event(pool, &link->incident,
                                                 &f->body, call);
    }

    call->action = NGX_HTTP_VICTOROPS_CALL_POST;

    if (link->alert.len && f->class == NGX_HTTP_VICTOROPS_ACK) {
        call->what = "alert acknowledgement";

        return ngx_http_victorops_rootly_path(pool, "/v1/alerts/",
                                              &link->alert, "/acknowledge",
                                              &call->path);
    }

    if (link->alert.len && f->class == NGX_HTTP_VICTOROPS_RECOVERY) {
        call->what = "alert resolution";

        if (ngx_http_victorops_rootly_path(pool, "/v1/alerts/",
                                           &link->alert, "/resolve",
                                           &call->path)
            != NGX_OK
            || ngx_http_victorops_rootly_resolve(pool, &f->body, &call->body)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    call->action = NGX_HTTP_VICTOROPS_CALL_NONE;
    ngx_str_set(&call->reason, "nothing linked for its class");

    return NGX_OK;
}


/* a timeline event with "text" on a Rootly incident */

static ngx_int_t
ngx_http_victorops_incident_event(ngx_pool_t *pool, ngx_str_t *incident,
    ngx_str_t *text, ngx_http_victorops_call_t *call)
{
    call->action = NGX_HTTP_VICTOROPS_CALL_POST;

    if (ngx_http_victorops_rootly_path(pool, "/v1/incidents/", incident,
                                       "/events", &call->path)
        != NGX_OK
        || ngx_http_victorops_rootly_event(pool, text, &call->body) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* PREFIX + the escaped Rootly id + SUFFIX, e.g. /v1/alerts/{id}/resolve */

static ngx_int_t
ngx_http_victorops_rootly_path(ngx_pool_t *pool, const char *prefix,
    ngx_str_t *id, const char *suffix, ngx_str_t *path)
{
    u_char  *p;
    size_t   plen, slen;

    plen = ngx_strlen(prefix);
    slen = ngx_strlen(suffix);

    p = ngx_pnalloc(pool, plen + 3 * id->len + slen);
    if (p == NULL) {
        return NGX_ERROR;
    }

    path->data = p;

    p = ngx_cpymem(p, prefix, plen);
    p = (u_char *) ngx_escape_uri(p, id->data, id->len,
                                  NGX_ESCAPE_URI_COMPONENT);
    p = ngx_cpymem(p, suffix, slen);

    path->len = p - path->data;

    return NGX_OK;
}


/*
 * incident.created and incident.updated matching a rule (or naming
 * VictorOps teams): a job to page (or reroute) in VictorOps;
 * incident.resolved and incident.cancelled: a job to resolve what was
 * paged (auto_resolve).  An incident event without data.id is invalid.
 * NGX_ERROR: out of memory.
 */

ngx_int_t
ngx_http_victorops_decide_rootly(ngx_pool_t *pool,
    ngx_http_victorops_rootly_facts_t *f,
    ngx_http_victorops_rootly_decision_t *d)
{
    ngx_uint_t                             type;
    ngx_http_victorops_rootly_incident_t   inc;

    ngx_memzero(d, sizeof(ngx_http_victorops_rootly_decision_t));

    d->action = NGX_HTTP_VICTOROPS_ROOTLY_IGNORE;

    type = ngx_http_victorops_rootly_type(&f->type);

    if (type == NGX_HTTP_VICTOROPS_TYPE_OTHER) {
        d->reason = "no action for this event type";
        return NGX_OK;
    }

    switch (ngx_http_victorops_incident_parse(pool, f->data, &inc)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        d->action = NGX_HTTP_VICTOROPS_ROOTLY_INVALID;
        d->reason = "not a Rootly incident event: no data.id";
        return NGX_OK;

    default:
        return NGX_ERROR;
    }

    if (!f->api) {
        d->reason = "no VictorOps API credentials (api_id, api_key)";
        return NGX_OK;
    }

    if (type == NGX_HTTP_VICTOROPS_TYPE_RESOLVE) {
        if (!f->auto_resolve) {
            d->reason = "auto_resolve is off";
            return NGX_OK;
        }

        d->kind = NGX_HTTP_VICTOROPS_JOB_RESOLVE;

    } else {
        if (ngx_http_victorops_incident_terminal(&inc.status)) {
            d->reason = "the incident is resolved";
            return NGX_OK;
        }

        d->kind = NGX_HTTP_VICTOROPS_JOB_ESCALATE;
    }

    return ngx_http_victorops_rootly_escalation(pool, f, &inc, d);
}


/*
 * The job's body: the incident and, for an escalation, the targets of
 * the rules it matches and the VictorOps teams of its Rootly teams
 * (victor_ops_id), whose policies are paged; none: nothing to page.
 */

static ngx_int_t
ngx_http_victorops_rootly_escalation(ngx_pool_t *pool,
    ngx_http_victorops_rootly_facts_t *f,
    ngx_http_victorops_rootly_incident_t *inc,
    ngx_http_victorops_rootly_decision_t *d)
{
    ngx_str_t                        *team;
    ngx_uint_t                        i;
    ngx_http_victorops_escalation_t   esc;

    if (ngx_http_victorops_escalation_init(pool, &esc) != NGX_OK) {
        return NGX_ERROR;
    }

    esc.id = inc->id;
    esc.title = inc->title;
    esc.url = inc->url;

    if (d->kind == NGX_HTTP_VICTOROPS_JOB_ESCALATE) {

        if (ngx_http_victorops_rules_match(f->rules, inc, &esc.targets)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        team = inc->vo_teams.elts;

        for (i = 0; i < inc->vo_teams.nelts; i++) {
            if (ngx_array_push(&esc.teams) == NULL) {
                return NGX_ERROR;
            }

            ((ngx_str_t *) esc.teams.elts)[esc.teams.nelts - 1] = team[i];
        }

        if (esc.targets.nelts == 0 && esc.teams.nelts == 0) {
            d->kind = 0;
            d->reason = "no escalation rule matches";
            return NGX_OK;
        }
    }

    if (ngx_http_victorops_escalation_key(pool, &inc->id, &d->key) != NGX_OK
        || ngx_http_victorops_escalation_body(pool, &esc, &d->body)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    d->action = NGX_HTTP_VICTOROPS_ROOTLY_JOB;
    d->incident = inc->id;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_victorops_rootly_type(ngx_str_t *type)
{
    ngx_str_t  name;

    if (type->len < 9 || ngx_strncmp(type->data, "incident.", 9) != 0) {
        return NGX_HTTP_VICTOROPS_TYPE_OTHER;
    }

    name.data = type->data + 9;
    name.len = type->len - 9;

    if ((name.len == 7 && ngx_strncmp(name.data, "created", 7) == 0)
        || (name.len == 7 && ngx_strncmp(name.data, "updated", 7) == 0))
    {
        return NGX_HTTP_VICTOROPS_TYPE_ESCALATE;
    }

    if ((name.len == 8 && ngx_strncmp(name.data, "resolved", 8) == 0)
        || (name.len == 9 && ngx_strncmp(name.data, "cancelled", 9) == 0))
    {
        return NGX_HTTP_VICTOROPS_TYPE_RESOLVE;
    }

    return NGX_HTTP_VICTOROPS_TYPE_OTHER;
}


/*
 * An escalation already paging the same targets does nothing, nor
 * does one whose VictorOps incident is resolved (it is not rerouted);
 * else, once its targets are known (the policies of its teams looked
 * up), it reroutes the linked incident, or creates one, looking first
 * whether an earlier attempt did.  A resolve resolves the open linked
 * incidents, if any.
 */

void
ngx_http_victorops_decide_vo(ngx_http_victorops_vo_facts_t *f,
    ngx_http_victorops_vo_decision_t *d)
{
    ngx_memzero(d, sizeof(ngx_http_victorops_vo_decision_t));

    if (f->kind == NGX_HTTP_VICTOROPS_JOB_RESOLVE) {
        d->action = f->open ? NGX_HTTP_VICTOROPS_VO_RESOLVE
                            : NGX_HTTP_VICTOROPS_VO_NOTHING_OPEN;
        return;
    }

    if (f->linked
        && f->paged.len == f->targets.len
        && (f->targets.len == 0
            || ngx_strncmp(f->paged.data, f->targets.data, f->targets.len)
               == 0))
    {
        d->action = NGX_HTTP_VICTOROPS_VO_SAME;
        return;
    }

    if (f->linked && f->vo_state == NGX_HTTP_VICTOROPS_VO_RESOLVED) {
        d->action = NGX_HTTP_VICTOROPS_VO_GONE;
        return;
    }

    switch (f->pageable) {

    case NGX_HTTP_VICTOROPS_FACT_UNKNOWN:
        d->action = NGX_HTTP_VICTOROPS_VO_ASK_TARGETS;
        return;

    case NGX_HTTP_VICTOROPS_FACT_NO:
        d->action = NGX_HTTP_VICTOROPS_VO_NO_TARGET;
        ngx_str_set(&d->reason, "no VictorOps target");
        return;
    }

    if (f->linked) {
        d->action = NGX_HTTP_VICTOROPS_VO_REROUTE;

    } else if (f->attempts > 1) {
        d->action = NGX_HTTP_VICTOROPS_VO_FIND;

    } else {
        d->action = NGX_HTTP_VICTOROPS_VO_CREATE;
    }
}
