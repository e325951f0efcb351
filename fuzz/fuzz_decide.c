
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The decisions (src/ngx_http_victorops_decide.c) under the fuzz
 * targets' inputs: fuzz_payload hands every classified delivery to
 * fuzz_decide_event(), fuzz_incident every Rootly "data" to
 * fuzz_decide_rootly().  Each decision is taken for every combination
 * of the facts its callers may gather, and checked against its rule
 * written out here; what it builds (paths, bodies) is checked too.
 * abort() on violation, as in the targets.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include "ngx_http_victorops_decide.h"
#include "fuzz_decide.h"


#define fuzz_check(expr)                                                      \
    if (!(expr)) {                                                            \
        fuzz_fail(__LINE__, #expr);                                           \
    }


static void fuzz_fail(int line, const char *expr) __attribute__((noreturn));
static void fuzz_check_path(ngx_str_t *path, const char *prefix,
    ngx_str_t *id, const char *suffix);
static void fuzz_check_object(ngx_pool_t *pool, ngx_str_t *body);
static void fuzz_call(ngx_pool_t *pool, ngx_http_victorops_event_t *ev,
    ngx_str_t *text, ngx_str_t *incident, ngx_str_t *alert);
static void fuzz_vo(ngx_str_t *canon);
static void fuzz_rootly_job(ngx_pool_t *pool,
    ngx_http_victorops_rootly_decision_t *d,
    ngx_http_victorops_rootly_incident_t *inc, ngx_array_t *targets,
    ngx_uint_t vo);


static void
fuzz_fail(int line, const char *expr)
{
    fprintf(stderr, "fuzz_decide.c:%d: invariant violated: %s\n",
            line, expr);
    abort();
}


static int
fuzz_str_eq(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || ngx_memcmp(a->data, b->data, a->len) == 0);
}


/*
 * A Rootly path: PREFIX, the id escaped as one path segment (nothing
 * that ends or splits a segment, a query or a URL), SUFFIX.
 */

static void
fuzz_check_path(ngx_str_t *path, const char *prefix, ngx_str_t *id,
    const char *suffix)
{
    u_char  *p, *dst, *src, *end;
    size_t   plen, slen, i;

    plen = strlen(prefix);
    slen = strlen(suffix);

    fuzz_check(path->len >= plen + id->len + slen);
    fuzz_check(ngx_memcmp(path->data, prefix, plen) == 0);
    fuzz_check(ngx_memcmp(path->data + path->len - slen, suffix, slen) == 0);

    p = path->data + plen;
    end = path->data + path->len - slen;

    for (i = 0; p + i < end; i++) {
        fuzz_check(p[i] > 0x20 && p[i] < 0x7f && p[i] != '/' && p[i] != '?'
                   && p[i] != '#' && p[i] != '&');
        fuzz_check(p[i] != '%' || (p + i + 2 < end && isxdigit(p[i + 1])
                                   && isxdigit(p[i + 2])));
    }

    /* it unescapes back to the id */

    dst = malloc(end - p + 1);
    fuzz_check(dst != NULL);

    src = p;
    p = dst;
    ngx_unescape_uri(&dst, &src, end - src, 0);

    fuzz_check((size_t) (dst - p) == id->len
               && ngx_memcmp(p, id->data, id->len) == 0);

    free(p);
}


/* a Rootly body (a timeline event, an alert resolution) re-parses */

static void
fuzz_check_object(ngx_pool_t *pool, ngx_str_t *body)
{
    ngx_http_victorops_json_t    *root;
    ngx_http_victorops_parser_t  *p;

    fuzz_check(body->len > 0 && body->data[body->len] == '\n');

    p = ngx_http_victorops_parser_create(pool, 8);
    fuzz_check(p != NULL);
    fuzz_check(ngx_http_victorops_parser_feed(p, body->data, body->len)
               == NGX_OK);
    fuzz_check(ngx_http_victorops_parser_finish(p, &root) == NGX_OK);
    fuzz_check(root->type == NGX_HTTP_VICTOROPS_JSON_OBJECT);
}


/*
 * The Rootly call an activity job makes (decide_call) once its link is
 * known, for what the link may hold: the linked incident first, else
 * the alert for an acknowledgement or a recovery, else nothing; the
 * link asked for while unknown only; a note goes to its incident.
 */

static void
fuzz_call(ngx_pool_t *pool, ngx_http_victorops_event_t *ev, ngx_str_t *text,
    ngx_str_t *incident, ngx_str_t *alert)
{
    ngx_uint_t                        found, held;
    ngx_http_victorops_call_t         call;
    ngx_http_victorops_call_facts_t   f;

    for (found = 0; found < 3; found++) {
        for (held = 0; held < 4; held++) {
            ngx_memzero(&f, sizeof(ngx_http_victorops_call_facts_t));

            f.kind = NGX_HTTP_VICTOROPS_JOB_ACTIVITY;
            f.class = ev->class;
            f.body = *text;
            f.link.found = found;

            if (found == NGX_HTTP_VICTOROPS_FACT_YES) {
                f.link.incident = (held & 1) ? *incident : f.link.incident;
                f.link.alert = (held & 2) ? *alert : f.link.alert;
            }

            fuzz_check(ngx_http_victorops_decide_call(pool, &f, &call)
                       == NGX_OK);

            if (found == NGX_HTTP_VICTOROPS_FACT_UNKNOWN) {
                fuzz_check(call.action == NGX_HTTP_VICTOROPS_CALL_ASK_LINK);
                continue;
            }

            fuzz_check(call.action != NGX_HTTP_VICTOROPS_CALL_ASK_LINK);

            if (found == NGX_HTTP_VICTOROPS_FACT_NO) {
                fuzz_check(call.action == NGX_HTTP_VICTOROPS_CALL_NO_LINK
                           && call.reason.len > 0);
                continue;
            }

            if (f.link.incident.len) {
                fuzz_check(call.action == NGX_HTTP_VICTOROPS_CALL_POST
                           && strcmp(call.what, "incident event") == 0);
                fuzz_check_path(&call.path, "/v1/incidents/",
                                &f.link.incident, "/events");
                fuzz_check_object(pool, &call.body);

            } else if (f.link.alert.len
                       && ev->class == NGX_HTTP_VICTOROPS_ACK)
            {
                fuzz_check(call.action == NGX_HTTP_VICTOROPS_CALL_POST
                           && call.body.len == 0);
                fuzz_check_path(&call.path, "/v1/alerts/", &f.link.alert,
                                "/acknowledge");

            } else if (f.link.alert.len
                       && ev->class == NGX_HTTP_VICTOROPS_RECOVERY)
            {
                fuzz_check(call.action == NGX_HTTP_VICTOROPS_CALL_POST);
                fuzz_check_path(&call.path, "/v1/alerts/", &f.link.alert,
                                "/resolve");
                fuzz_check_object(pool, &call.body);

            } else {
                fuzz_check(call.action == NGX_HTTP_VICTOROPS_CALL_NONE);
            }
        }
    }

    ngx_memzero(&f, sizeof(ngx_http_victorops_call_facts_t));

    f.kind = NGX_HTTP_VICTOROPS_JOB_NOTE;
    f.incident = *incident;
    f.body = *text;

    fuzz_check(ngx_http_victorops_decide_call(pool, &f, &call) == NGX_OK);
    fuzz_check(call.action == NGX_HTTP_VICTOROPS_CALL_POST);
    fuzz_check_path(&call.path, "/v1/incidents/", incident, "/events");
    fuzz_check_object(pool, &call.body);
}


/*
 * The webhook's decision (decide_event) over everything the lookups
 * may find: an ignored class is ignored whatever is linked, for its
 * own reason; a lookup is asked for while its answer is unknown, and
 * only then; an alert with no Rootly incident linked makes an alert,
 * and nothing else does; other events make activity, but for want of
 * a link when nothing is linked nor queued, with a reason.  The jobs
 * made are then sent (fuzz_call), and their duplicate hash is the same
 * for the same delivery, another for another class.
 */

void
fuzz_decide_event(ngx_pool_t *pool, ngx_http_victorops_event_t *ev)
{
    u_char                                h1[32], h2[32];
    ngx_str_t                             key, text, incident, alert;
    ngx_uint_t                            found, held, queued, alert_job;
    ngx_http_victorops_event_facts_t      f;
    ngx_http_victorops_event_decision_t   d;

    /* Rootly ids made of the delivery's bytes: escaping is checked */

    incident = ev->summary.len ? ev->summary : ev->reason;
    alert = ev->entity_id.len ? ev->entity_id : ev->reason;

    for (found = 0; found < 3; found++) {
        for (held = 0; held < 4; held++) {
            for (queued = 0; queued < 3; queued++) {
                ngx_memzero(&f, sizeof(ngx_http_victorops_event_facts_t));

                f.event = ev;
                f.link.found = found;
                f.queued = queued;

                if (found == NGX_HTTP_VICTOROPS_FACT_YES) {
                    f.link.incident = (held & 1) ? incident : f.link.incident;
                    f.link.alert = (held & 2) ? alert : f.link.alert;
                }

                ngx_http_victorops_decide_event(&f, &d);

                if (ev->class == NGX_HTTP_VICTOROPS_IGNORED) {
                    fuzz_check(d.action == NGX_HTTP_VICTOROPS_EVENT_IGNORE
                               && d.why == ev->why
                               && d.reason.data == ev->reason.data
                               && d.reason.len == ev->reason.len);
                    continue;
                }

                if (found == NGX_HTTP_VICTOROPS_FACT_UNKNOWN) {
                    fuzz_check(d.action == NGX_HTTP_VICTOROPS_EVENT_ASK_LINK);
                    continue;
                }

                alert_job = (ev->class == NGX_HTTP_VICTOROPS_ALERT
                             && f.link.incident.len == 0);

                if (alert_job) {
                    fuzz_check(d.action == NGX_HTTP_VICTOROPS_EVENT_JOB
                               && d.kind == NGX_HTTP_VICTOROPS_JOB_ALERT);

                } else if (found == NGX_HTTP_VICTOROPS_FACT_NO
                           && queued == NGX_HTTP_VICTOROPS_FACT_UNKNOWN)
                {
                    fuzz_check(d.action
                               == NGX_HTTP_VICTOROPS_EVENT_ASK_QUEUED);

                } else if (found == NGX_HTTP_VICTOROPS_FACT_NO
                           && queued == NGX_HTTP_VICTOROPS_FACT_NO)
                {
                    fuzz_check(d.action == NGX_HTTP_VICTOROPS_EVENT_IGNORE
                               && d.why == NGX_HTTP_VICTOROPS_WHY_NO_LINK
                               && d.reason.len > 0);

                } else {
                    fuzz_check(d.action == NGX_HTTP_VICTOROPS_EVENT_JOB
                               && d.kind == NGX_HTTP_VICTOROPS_JOB_ACTIVITY);
                }
            }
        }
    }

    if (ev->class == NGX_HTTP_VICTOROPS_IGNORED) {
        return;
    }

    fuzz_check(ngx_http_victorops_event_key(pool, ev, &key) == NGX_OK);
    fuzz_check(ngx_http_victorops_activity_text(pool, ev, &text) == NGX_OK);

    fuzz_check(ngx_http_victorops_event_hash(ev->class, &key, &text, h1)
               == NGX_OK);
    fuzz_check(ngx_http_victorops_event_hash(ev->class, &key, &text, h2)
               == NGX_OK);
    fuzz_check(ngx_memcmp(h1, h2, 32) == 0);
    fuzz_check(ngx_http_victorops_event_hash(ev->class + 1, &key, &text, h2)
               == NGX_OK);
    fuzz_check(ngx_memcmp(h1, h2, 32) != 0);

    if (incident.len == 0) {
        ngx_str_set(&incident, "r-1");
    }

    if (alert.len == 0) {
        ngx_str_set(&alert, "a-1");
    }

    fuzz_call(pool, ev, &text, &incident, &alert);
}


/*
 * The VictorOps job's decision (decide_vo) for an escalation's targets
 * over what may be linked: the same targets paged do nothing, a
 * resolved incident is not rerouted, whom to page is asked for while
 * unknown, nobody is a dead job with a reason, then reroute what is
 * linked, else look for an earlier attempt's creation, else create; a
 * resolve resolves when something open is linked.
 */

static void
fuzz_vo(ngx_str_t *canon)
{
    ngx_str_t                          paged[3];
    ngx_uint_t                         i, k, linked, p, state, attempts;
    ngx_uint_t                         open, pageable, same;
    ngx_http_victorops_vo_facts_t      f;
    ngx_http_victorops_vo_decision_t   d;

    static ngx_uint_t  kinds[] = { NGX_HTTP_VICTOROPS_JOB_ESCALATE,
                                   NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE,
                                   NGX_HTTP_VICTOROPS_JOB_RESOLVE };

    paged[0] = *canon;
    paged[1] = *canon;
    paged[1].len -= (canon->len > 0);
    ngx_str_set(&paged[2], "EscalationPolicy:other");

    /* every combination: i runs through them, a digit per fact */

    for (i = 0; i < 3 * 2 * 3 * 3 * 2 * 2 * 3; i++) {
        k = i % 3;
        linked = i / 3 % 2;
        p = i / 6 % 3;
        state = i / 18 % 3;
        attempts = 1 + i / 54 % 2;
        open = i / 108 % 2;
        pageable = i / 216 % 3;

        f.kind = kinds[k];
        f.attempts = attempts;
        f.targets = *canon;
        f.linked = linked;
        f.paged = paged[p];
        f.vo_state = state;
        f.open = open;
        f.pageable = pageable;

        ngx_http_victorops_decide_vo(&f, &d);

        if (f.kind == NGX_HTTP_VICTOROPS_JOB_RESOLVE) {
            fuzz_check(d.action == (open ? NGX_HTTP_VICTOROPS_VO_RESOLVE
                                         : NGX_HTTP_VICTOROPS_VO_NOTHING_OPEN));
            continue;
        }

        same = linked && fuzz_str_eq(&paged[p], canon);

        if (same) {
            fuzz_check(d.action == NGX_HTTP_VICTOROPS_VO_SAME);

        } else if (linked && state == NGX_HTTP_VICTOROPS_VO_RESOLVED) {
            fuzz_check(d.action == NGX_HTTP_VICTOROPS_VO_GONE);

        } else if (pageable == NGX_HTTP_VICTOROPS_FACT_UNKNOWN) {
            fuzz_check(d.action == NGX_HTTP_VICTOROPS_VO_ASK_TARGETS);

        } else if (pageable == NGX_HTTP_VICTOROPS_FACT_NO) {
            fuzz_check(d.action == NGX_HTTP_VICTOROPS_VO_NO_TARGET
                       && d.reason.len > 0);

        } else {
            fuzz_check(d.action == (linked ? NGX_HTTP_VICTOROPS_VO_REROUTE
                                    : attempts > 1
                                      ? NGX_HTTP_VICTOROPS_VO_FIND
                                      : NGX_HTTP_VICTOROPS_VO_CREATE));
        }
    }
}


/*
 * What a Rootly event means (decide_rootly), for "data" under every
 * event type the handler may see, with and without VictorOps
 * credentials and auto_resolve: other types are ignored; an incident
 * event without an id is invalid; without credentials nothing is done;
 * a resolve needs auto_resolve; an escalation needs a live incident
 * and targets (the rules') or VictorOps teams; a job's key, incident
 * and body (read back) are the incident's, its targets and teams those
 * computed here.  Then the VictorOps job's decision for its targets.
 */

void
fuzz_decide_rootly(ngx_pool_t *pool, ngx_http_victorops_json_t *data,
    ngx_array_t *rules)
{
    ngx_int_t                              parsed;
    ngx_uint_t                             i, t, api, ar, escalate, resolve;
    ngx_array_t                            targets;
    ngx_http_victorops_rootly_facts_t      f;
    ngx_http_victorops_rootly_decision_t   d;
    ngx_http_victorops_rootly_incident_t   inc;

    static const char  *types[] = {
        "incident.created", "incident.updated", "incident.resolved",
        "incident.cancelled", "incident.mitigated", "incident.create",
        "alert.created", "incident.", ""
    };

    parsed = ngx_http_victorops_incident_parse(pool, data, &inc);
    fuzz_check(parsed == NGX_OK || parsed == NGX_DECLINED);

    fuzz_check(ngx_array_init(&targets, pool, 2,
                              sizeof(ngx_http_victorops_target_t))
               == NGX_OK);

    if (parsed == NGX_OK) {
        fuzz_check(ngx_http_victorops_rules_match(rules, &inc, &targets)
                   == NGX_OK);
    }

    for (i = 0; i < 4 * sizeof(types) / sizeof(types[0]); i++) {
        t = i / 4;
        api = i % 2;
        ar = i / 2 % 2;

        f.type.data = (u_char *) types[t];
        f.type.len = strlen(types[t]);
        f.data = data;
        f.rules = rules;
        f.api = api;
        f.auto_resolve = ar;

        fuzz_check(ngx_http_victorops_decide_rootly(pool, &f, &d) == NGX_OK);

        fuzz_check(d.action == NGX_HTTP_VICTOROPS_ROOTLY_JOB
                   || (d.reason != NULL && d.reason[0] != '\0'));

        escalate = (t < 2);
        resolve = (t == 2 || t == 3);

        if (!escalate && !resolve) {
            fuzz_check(d.action == NGX_HTTP_VICTOROPS_ROOTLY_IGNORE);
            continue;
        }

        if (parsed != NGX_OK) {
            fuzz_check(d.action == NGX_HTTP_VICTOROPS_ROOTLY_INVALID);
            continue;
        }

        if (!api
            || (resolve && !ar)
            || (escalate
                && (ngx_http_victorops_incident_terminal(&inc.status)
                    || (targets.nelts == 0 && inc.vo_teams.nelts == 0))))
        {
            fuzz_check(d.action == NGX_HTTP_VICTOROPS_ROOTLY_IGNORE);
            continue;
        }

        fuzz_check(d.action == NGX_HTTP_VICTOROPS_ROOTLY_JOB);
        fuzz_check(d.kind == (escalate ? NGX_HTTP_VICTOROPS_JOB_ESCALATE
                                       : NGX_HTTP_VICTOROPS_JOB_RESOLVE));

        fuzz_rootly_job(pool, &d, &inc, escalate ? &targets : NULL,
                        t == 0 && ar);
    }
}


/*
 * A job's key, incident and body (read back) are the incident's; an
 * escalation's targets and teams are "targets" and the incident's
 * VictorOps teams, a resolve's none; "vo": then the VictorOps job's
 * decision for those targets.
 */

static void
fuzz_rootly_job(ngx_pool_t *pool, ngx_http_victorops_rootly_decision_t *d,
    ngx_http_victorops_rootly_incident_t *inc, ngx_array_t *targets,
    ngx_uint_t vo)
{
    ngx_str_t                         key, canon;
    ngx_http_victorops_escalation_t   esc;

    fuzz_check(fuzz_str_eq(&d->incident, &inc->id));

    fuzz_check(ngx_http_victorops_escalation_key(pool, &inc->id, &key)
               == NGX_OK);
    fuzz_check(fuzz_str_eq(&d->key, &key));

    fuzz_check_object(pool, &d->body);

    fuzz_check(ngx_http_victorops_escalation_parse(pool, &d->body, &esc)
               == NGX_OK);
    fuzz_check(fuzz_str_eq(&esc.id, &inc->id)
               && fuzz_str_eq(&esc.title, &inc->title)
               && fuzz_str_eq(&esc.url, &inc->url));

    if (targets == NULL) {
        fuzz_check(esc.targets.nelts == 0 && esc.teams.nelts == 0);
        return;
    }

    fuzz_check(esc.targets.nelts == targets->nelts
               && esc.teams.nelts == inc->vo_teams.nelts);

    fuzz_check(ngx_http_victorops_escalation_canon(pool, &esc, &canon)
               == NGX_OK);

    if (vo) {
        fuzz_vo(&canon);
    }
}
