
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The decisions of src/ngx_http_victorops_decide.c, table-driven:
 * every action and every reason of each, with the facts that lead
 * there; the duplicate hash; the Rootly calls' paths and bodies, the
 * escalation jobs' keys and bodies, byte for byte.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "core.h"


#define UNKNOWN   NGX_HTTP_VICTOROPS_FACT_UNKNOWN
#define NO        NGX_HTTP_VICTOROPS_FACT_NO
#define YES       NGX_HTTP_VICTOROPS_FACT_YES

#define ALERT     NGX_HTTP_VICTOROPS_ALERT
#define ACK       NGX_HTTP_VICTOROPS_ACK
#define RECOVERY  NGX_HTTP_VICTOROPS_RECOVERY
#define IGNORED   NGX_HTTP_VICTOROPS_IGNORED

#define NO_LINK_REASON  "no linked Rootly incident or alert"


typedef struct {
    const char                   *name;

    ngx_uint_t                    class;
    ngx_uint_t                    why;
    const char                   *reason;
    ngx_uint_t                    found;
    const char                   *incident;
    const char                   *alert;
    ngx_uint_t                    queued;

    ngx_uint_t                    action;
    ngx_uint_t                    kind;
    ngx_uint_t                    why_out;
    const char                   *reason_out;
} core_event_case_t;


typedef struct {
    const char                   *name;

    ngx_uint_t                    kind;
    ngx_uint_t                    class;
    const char                   *incident;
    const char                   *body;
    ngx_uint_t                    found;
    const char                   *linked_incident;
    const char                   *linked_alert;

    ngx_uint_t                    action;
    const char                   *what;
    const char                   *path;
    const char                   *body_out;
    const char                   *reason;
} core_call_case_t;


typedef struct {
    const char                   *name;

    const char                   *type;
    const char                   *data;         /* NULL: no "data" */
    ngx_uint_t                    api;
    ngx_uint_t                    auto_resolve;

    ngx_uint_t                    action;
    const char                   *reason;
    ngx_uint_t                    kind;
    const char                   *key;
    const char                   *body;
} core_rootly_case_t;


typedef struct {
    const char                   *name;

    ngx_uint_t                    kind;
    ngx_uint_t                    attempts;
    const char                   *targets;
    ngx_uint_t                    linked;
    const char                   *paged;
    ngx_uint_t                    vo_state;
    ngx_uint_t                    open;
    ngx_uint_t                    pageable;

    ngx_uint_t                    action;
    const char                   *reason;
} core_vo_case_t;


static core_event_case_t  core_event_cases[] = {

    { "ignored for its type, before any lookup",
      IGNORED, NGX_HTTP_VICTOROPS_WHY_TYPE, "unsupported notification type X",
      UNKNOWN, "", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_IGNORE, 0, NGX_HTTP_VICTOROPS_WHY_TYPE,
      "unsupported notification type X" },

    { "informational",
      IGNORED, NGX_HTTP_VICTOROPS_WHY_INFO, "informational message",
      UNKNOWN, "", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_IGNORE, 0, NGX_HTTP_VICTOROPS_WHY_INFO,
      "informational message" },

    { "not an incident event",
      IGNORED, NGX_HTTP_VICTOROPS_WHY_INCIDENT, "not an incident event",
      UNKNOWN, "", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_IGNORE, 0, NGX_HTTP_VICTOROPS_WHY_INCIDENT,
      "not an incident event" },

    { "an alert: the link first",
      ALERT, 0, "", UNKNOWN, "", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_ASK_LINK, 0, 0, "" },

    { "an acknowledgement: the link first",
      ACK, 0, "", UNKNOWN, "", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_ASK_LINK, 0, 0, "" },

    { "an alert with nothing linked: a Rootly alert",
      ALERT, 0, "", NO, "", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_JOB, NGX_HTTP_VICTOROPS_JOB_ALERT, 0, "" },

    { "an alert linked to a Rootly alert only: another",
      ALERT, 0, "", YES, "", "a-1", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_JOB, NGX_HTTP_VICTOROPS_JOB_ALERT, 0, "" },

    { "an alert linked to a Rootly incident: activity",
      ALERT, 0, "", YES, "r-1", "a-1", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_JOB, NGX_HTTP_VICTOROPS_JOB_ACTIVITY, 0, "" },

    { "an acknowledgement linked to an incident",
      ACK, 0, "", YES, "r-1", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_JOB, NGX_HTTP_VICTOROPS_JOB_ACTIVITY, 0, "" },

    { "a recovery linked to an alert",
      RECOVERY, 0, "", YES, "", "a-1", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_JOB, NGX_HTTP_VICTOROPS_JOB_ACTIVITY, 0, "" },

    { "a link with neither yet (being created)",
      RECOVERY, 0, "", YES, "", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_JOB, NGX_HTTP_VICTOROPS_JOB_ACTIVITY, 0, "" },

    { "nothing linked: is an alert of it queued?",
      ACK, 0, "", NO, "", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_ASK_QUEUED, 0, 0, "" },

    { "nothing linked, an alert of it queued",
      ACK, 0, "", NO, "", "", YES,
      NGX_HTTP_VICTOROPS_EVENT_JOB, NGX_HTTP_VICTOROPS_JOB_ACTIVITY, 0, "" },

    { "nothing linked, nothing queued",
      RECOVERY, 0, "", NO, "", "", NO,
      NGX_HTTP_VICTOROPS_EVENT_IGNORE, 0, NGX_HTTP_VICTOROPS_WHY_NO_LINK,
      NO_LINK_REASON },

    { NULL, 0, 0, NULL, 0, NULL, NULL, 0, 0, 0, 0, NULL }
};


/*
 * An event job at dispatch: the link as it is then, and nothing of its
 * key still queued (the jobs of a key go out in arrival order).
 */

static core_event_case_t  core_dispatch_cases[] = {

    { "dispatch: an ignored delivery stays ignored",
      IGNORED, NGX_HTTP_VICTOROPS_WHY_INFO, "informational message",
      UNKNOWN, "", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_IGNORE, 0, NGX_HTTP_VICTOROPS_WHY_INFO,
      "informational message" },

    { "dispatch: the link first",
      ACK, 0, "", UNKNOWN, "", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_ASK_LINK, 0, 0, "" },

    { "dispatch: an alert with nothing linked: a Rootly alert",
      ALERT, 0, "", NO, "", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_JOB, NGX_HTTP_VICTOROPS_JOB_ALERT, 0, "" },

    { "dispatch: an alert linked to an alert only: another",
      ALERT, 0, "", YES, "", "a-1", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_JOB, NGX_HTTP_VICTOROPS_JOB_ALERT, 0, "" },

    { "dispatch: an alert linked to an incident: activity",
      ALERT, 0, "", YES, "r-1", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_JOB, NGX_HTTP_VICTOROPS_JOB_ACTIVITY, 0, "" },

    { "dispatch: an acknowledgement behind its delivered alert",
      ACK, 0, "", YES, "", "a-1", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_JOB, NGX_HTTP_VICTOROPS_JOB_ACTIVITY, 0, "" },

    { "dispatch: a recovery on a linked incident",
      RECOVERY, 0, "", YES, "r-1", "a-1", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_JOB, NGX_HTTP_VICTOROPS_JOB_ACTIVITY, 0, "" },

    { "dispatch: nothing linked, never asks whether queued",
      ACK, 0, "", NO, "", "", UNKNOWN,
      NGX_HTTP_VICTOROPS_EVENT_IGNORE, 0, NGX_HTTP_VICTOROPS_WHY_NO_LINK,
      NO_LINK_REASON },

    { "dispatch: a recovery, its alert dead-lettered",
      RECOVERY, 0, "", NO, "", "", YES,
      NGX_HTTP_VICTOROPS_EVENT_IGNORE, 0, NGX_HTTP_VICTOROPS_WHY_NO_LINK,
      NO_LINK_REASON },

    { NULL, 0, 0, NULL, 0, NULL, NULL, 0, 0, 0, 0, NULL }
};


#define CORE_EVENT_BODY(text)                                                 \
    "{\"data\":{\"type\":\"incident_events\",\"attributes\":{\"event\":"      \
    "\"" text "\",\"visibility\":\"internal\"}}}"

static core_call_case_t  core_call_cases[] = {

    { "an alert job posts its body",
      NGX_HTTP_VICTOROPS_JOB_ALERT, ALERT, "", "{\"x\":1}", UNKNOWN, "", "",
      NGX_HTTP_VICTOROPS_CALL_POST, "alert", "/v1/alerts", "{\"x\":1}",
      "" },

    { "a note: a timeline event on the incident it names, escaped",
      NGX_HTTP_VICTOROPS_JOB_NOTE, 0, "inc 1/2?", "Paged: pol-a",
      UNKNOWN, "", "",
      NGX_HTTP_VICTOROPS_CALL_POST, "timeline event",
      "/v1/incidents/inc%201%2F2%3F/events",
      CORE_EVENT_BODY("Paged: pol-a"), "" },

    { "activity: the link first",
      NGX_HTTP_VICTOROPS_JOB_ACTIVITY, ACK, "", "t", UNKNOWN, "", "",
      NGX_HTTP_VICTOROPS_CALL_ASK_LINK, NULL, "", "", "" },

    { "activity with nothing linked",
      NGX_HTTP_VICTOROPS_JOB_ACTIVITY, ACK, "", "t", NO, "", "",
      NGX_HTTP_VICTOROPS_CALL_NO_LINK, NULL, "", "", NO_LINK_REASON },

    { "activity on the linked incident",
      NGX_HTTP_VICTOROPS_JOB_ACTIVITY, ACK, "", "Acknowledged", YES,
      "r-1", "", NGX_HTTP_VICTOROPS_CALL_POST, "incident event",
      "/v1/incidents/r-1/events", CORE_EVENT_BODY("Acknowledged"), "" },

    { "the incident before the alert",
      NGX_HTTP_VICTOROPS_JOB_ACTIVITY, RECOVERY, "", "Resolved", YES,
      "r-1", "a-1", NGX_HTTP_VICTOROPS_CALL_POST, "incident event",
      "/v1/incidents/r-1/events", CORE_EVENT_BODY("Resolved"), "" },

    { "an acknowledgement of the linked alert, no body",
      NGX_HTTP_VICTOROPS_JOB_ACTIVITY, ACK, "", "Acknowledged", YES,
      "", "a/1", NGX_HTTP_VICTOROPS_CALL_POST, "alert acknowledgement",
      "/v1/alerts/a%2F1/acknowledge", "", "" },

    { "a recovery resolves the linked alert",
      NGX_HTTP_VICTOROPS_JOB_ACTIVITY, RECOVERY, "", "Resolved by ann", YES,
      "", "a-1", NGX_HTTP_VICTOROPS_CALL_POST, "alert resolution",
      "/v1/alerts/a-1/resolve",
      "{\"data\":{\"type\":\"alerts\",\"attributes\":"
      "{\"resolution_message\":\"Resolved by ann\"}}}", "" },

    { "an alert again, an alert linked: nothing to send",
      NGX_HTTP_VICTOROPS_JOB_ACTIVITY, ALERT, "", "Triggered again", YES,
      "", "a-1", NGX_HTTP_VICTOROPS_CALL_NONE, NULL, "", "",
      "nothing linked for its class" },

    { "a link with neither yet: nothing to send",
      NGX_HTTP_VICTOROPS_JOB_ACTIVITY, ACK, "", "Acknowledged", YES,
      "", "", NGX_HTTP_VICTOROPS_CALL_NONE, NULL, "", "",
      "nothing linked for its class" },

    { NULL, 0, 0, NULL, NULL, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL }
};


#define CORE_ESC(id, title, targets, teams)                                   \
    "{\"id\":\"" id "\",\"title\":\"" title "\",\"url\":\"\","                \
    "\"summary\":\"\",\"details\":\"\",\"targets\":[" targets "],"            \
    "\"teams\":[" teams "]}"

#define CORE_OTHER                                                            \
    NGX_HTTP_VICTOROPS_ROOTLY_IGNORE, "no action for this event type", 0,     \
    "", ""

#define CORE_IGNORE(reason)                                                   \
    NGX_HTTP_VICTOROPS_ROOTLY_IGNORE, reason, 0, "", ""

#define CORE_INVALID                                                          \
    NGX_HTTP_VICTOROPS_ROOTLY_INVALID,                                        \
    "not a Rootly incident event: no data.id", 0, "", ""

static core_rootly_case_t  core_rootly_cases[] = {

    { "not an incident event", "alert.created", "{\"id\":\"r1\"}", 1, 1,
      CORE_OTHER },

    { "an incident event it does not act on", "incident.deleted",
      "{\"id\":\"r1\"}", 1, 1, CORE_OTHER },

    { "a prefix is not a type", "incident.create", "{\"id\":\"r1\"}", 1, 1,
      CORE_OTHER },

    { "no data", "incident.created", NULL, 1, 1, CORE_INVALID },

    { "no data.id", "incident.resolved", "{\"title\":\"t\"}", 0, 0,
      CORE_INVALID },

    { "no VictorOps credentials", "incident.created",
      "{\"id\":\"r1\",\"severity\":\"sev0\"}", 0, 1,
      CORE_IGNORE("no VictorOps API credentials (api_id, api_key)") },

    { "no VictorOps credentials, a resolve", "incident.resolved",
      "{\"id\":\"r1\"}", 0, 0,
      CORE_IGNORE("no VictorOps API credentials (api_id, api_key)") },

    { "resolved, auto_resolve off", "incident.resolved",
      "{\"id\":\"r1\"}", 1, 0, CORE_IGNORE("auto_resolve is off") },

    { "resolved: resolve what was paged", "incident.resolved",
      "{\"id\":\"r1\",\"title\":\"Down\",\"severity\":\"sev0\"}", 1, 1,
      NGX_HTTP_VICTOROPS_ROOTLY_JOB, NULL, NGX_HTTP_VICTOROPS_JOB_RESOLVE,
      "rootly:r1", CORE_ESC("r1", "Down", "", "") },

    { "cancelled: the same", "incident.cancelled", "{\"id\":7}", 1, 1,
      NGX_HTTP_VICTOROPS_ROOTLY_JOB, NULL, NGX_HTTP_VICTOROPS_JOB_RESOLVE,
      "rootly:7", CORE_ESC("7", "", "", "") },

    { "created, already resolved", "incident.created",
      "{\"id\":\"r1\",\"status\":\"Resolved\",\"severity\":\"sev0\"}", 1, 1,
      CORE_IGNORE("the incident is resolved") },

    { "updated, closed", "incident.updated",
      "{\"id\":\"r1\",\"status\":\"closed\",\"severity\":\"sev0\"}", 1, 1,
      CORE_IGNORE("the incident is resolved") },

    { "created, no rule matches", "incident.created",
      "{\"id\":\"r1\",\"status\":\"started\",\"severity\":\"sev2\","
      "\"groups\":[{\"slug\":\"web\"}]}", 1, 1,
      CORE_IGNORE("no escalation rule matches") },

    { "created, a rule by severity", "incident.created",
      "{\"id\":\"r1\",\"title\":\"Down\",\"url\":\"\","
      "\"severity\":{\"slug\":\"sev0\",\"name\":\"SEV0\"}}", 1, 0,
      NGX_HTTP_VICTOROPS_ROOTLY_JOB, NULL, NGX_HTTP_VICTOROPS_JOB_ESCALATE,
      "rootly:r1",
      CORE_ESC("r1", "Down",
               "{\"type\":\"EscalationPolicy\",\"slug\":\"pol-a\"}", "") },

    { "updated, a rule by team and the team's VictorOps team",
      "incident.updated",
      "{\"id\":\"r2\",\"summary\":\"Slow\",\"teams\":[{\"name\":"
      "\"Payments\",\"victor_ops_id\":\"team-pay\"}]}", 1, 1,
      NGX_HTTP_VICTOROPS_ROOTLY_JOB, NULL, NGX_HTTP_VICTOROPS_JOB_ESCALATE,
      "rootly:r2",
      CORE_ESC("r2", "Slow",
               "{\"type\":\"User\",\"slug\":\"alice\"},"
               "{\"type\":\"EscalationPolicy\",\"slug\":\"pol-a\"}",
               "\"team-pay\"") },

    { "created, no rule but a VictorOps team", "incident.created",
      "{\"id\":\"r3\",\"groups\":[{\"slug\":\"infra\","
      "\"victor_ops_id\":\"team-infra\"}]}", 1, 1,
      NGX_HTTP_VICTOROPS_ROOTLY_JOB, NULL, NGX_HTTP_VICTOROPS_JOB_ESCALATE,
      "rootly:r3", CORE_ESC("r3", "", "", "\"team-infra\"") },

    { NULL, NULL, NULL, 0, 0, 0, NULL, 0, NULL, NULL }
};


#define ESCALATE  NGX_HTTP_VICTOROPS_JOB_ESCALATE
#define SLACK     NGX_HTTP_VICTOROPS_JOB_SLACK_PAGE
#define RESOLVE   NGX_HTTP_VICTOROPS_JOB_RESOLVE
#define OPEN      NGX_HTTP_VICTOROPS_VO_OPEN
#define ACKED     NGX_HTTP_VICTOROPS_VO_ACKED
#define GONE      NGX_HTTP_VICTOROPS_VO_RESOLVED

static core_vo_case_t  core_vo_cases[] = {

    { "already paging those targets", ESCALATE, 1, "P:a", 1, "P:a", ACKED,
      0, UNKNOWN, NGX_HTTP_VICTOROPS_VO_SAME, "" },

    { "the same, even when resolved", ESCALATE, 3, "P:a", 1, "P:a", GONE,
      0, UNKNOWN, NGX_HTTP_VICTOROPS_VO_SAME, "" },

    { "other targets, resolved in VictorOps: no reroute", ESCALATE, 1,
      "P:b", 1, "P:a", GONE, 0, UNKNOWN, NGX_HTTP_VICTOROPS_VO_GONE, "" },

    { "other targets: whom to page, first", ESCALATE, 1, "P:b", 1, "P:a",
      OPEN, 0, UNKNOWN, NGX_HTTP_VICTOROPS_VO_ASK_TARGETS, "" },

    { "a longer list is other targets", ESCALATE, 1, "P:a,P:b", 1, "P:a",
      OPEN, 0, UNKNOWN, NGX_HTTP_VICTOROPS_VO_ASK_TARGETS, "" },

    { "nothing linked: whom to page, first", ESCALATE, 1, "P:a", 0, "",
      OPEN, 0, UNKNOWN, NGX_HTTP_VICTOROPS_VO_ASK_TARGETS, "" },

    { "nobody to page", ESCALATE, 1, "Team:t", 0, "", OPEN, 0, NO,
      NGX_HTTP_VICTOROPS_VO_NO_TARGET, "no VictorOps target" },

    { "other targets: reroute", ESCALATE, 2, "P:b", 1, "P:a", ACKED, 0, YES,
      NGX_HTTP_VICTOROPS_VO_REROUTE, "" },

    { "a first attempt creates", ESCALATE, 1, "P:a", 0, "", OPEN, 0, YES,
      NGX_HTTP_VICTOROPS_VO_CREATE, "" },

    { "a later attempt looks for what an earlier one created", ESCALATE, 2,
      "P:a", 0, "", OPEN, 0, YES, NGX_HTTP_VICTOROPS_VO_FIND, "" },

    { "a Slack page: nothing linked, whom to page first", SLACK, 1, "", 0,
      "", OPEN, 0, UNKNOWN, NGX_HTTP_VICTOROPS_VO_ASK_TARGETS, "" },

    { "a Slack page creates", SLACK, 1, "", 0, "", OPEN, 0, YES,
      NGX_HTTP_VICTOROPS_VO_CREATE, "" },

    { "a Slack page, nobody to page", SLACK, 4, "", 0, "", OPEN, 0, NO,
      NGX_HTTP_VICTOROPS_VO_NO_TARGET, "no VictorOps target" },

    { "a resolve with open incidents linked", RESOLVE, 1, "", 0, "", OPEN,
      2, UNKNOWN, NGX_HTTP_VICTOROPS_VO_RESOLVE, "" },

    { "a resolve with none open", RESOLVE, 1, "", 0, "", OPEN, 0, UNKNOWN,
      NGX_HTTP_VICTOROPS_VO_NOTHING_OPEN, "" },

    { NULL, 0, 0, NULL, 0, NULL, 0, 0, 0, 0, NULL }
};


static ngx_array_t *core_rules(void);


void
core_decide_event(void)
{
    u_char                                hash[32], hash2[32];
    ngx_str_t                            *key, *body;
    core_event_case_t                    *c;
    ngx_http_victorops_event_t            ev;
    ngx_http_victorops_event_facts_t      f;
    ngx_http_victorops_event_decision_t   d;

    static u_char  expect[] =
        "\x9f\x8d\x17\xbf\x18\xa6\x36\x4c\x5a\x98\x14\xdf\xd6\x65\x51\x04"
        "\x71\x3a\x8e\xa9\xdf\x55\x9d\x0e\xa7\x68\xe5\xa1\xe5\x27\xb8\x4f";

    for (c = core_event_cases; c->name; c++) {
        core.name = c->name;

        ngx_memzero(&ev, sizeof(ngx_http_victorops_event_t));
        ev.class = c->class;
        ev.why = c->why;
        ev.reason = *core_str(c->reason);

        ngx_memzero(&f, sizeof(ngx_http_victorops_event_facts_t));
        f.event = &ev;
        f.link.found = c->found;
        f.link.incident = *core_str(c->incident);
        f.link.alert = *core_str(c->alert);
        f.queued = c->queued;

        ngx_http_victorops_decide_event(&f, &d);

        core_check(d.action == c->action);
        core_check(d.kind == c->kind);
        core_check(d.why == c->why_out);
        core_check(core_str_eq(&d.reason, c->reason_out));
    }

    /* what makes two deliveries the same: class, key and body */

    core.name = "duplicate hash";

    key = core_str("web/1");
    body = core_str("{\"x\":1}");

    core_check(ngx_http_victorops_event_hash(ALERT, key, body, hash)
               == NGX_OK);
    core_check(ngx_memcmp(hash, expect, 32) == 0);

    core_check(ngx_http_victorops_event_hash(ACK, key, body, hash2)
               == NGX_OK);
    core_check(ngx_memcmp(hash, hash2, 32) != 0);

    core_check(ngx_http_victorops_event_hash(ALERT, core_str("web/2"), body,
                                             hash2)
               == NGX_OK);
    core_check(ngx_memcmp(hash, hash2, 32) != 0);

    core_check(ngx_http_victorops_event_hash(ALERT, key, core_str("{}"),
                                             hash2)
               == NGX_OK);
    core_check(ngx_memcmp(hash, hash2, 32) != 0);

    core.name = NULL;
}


void
core_decide_call(void)
{
    core_call_case_t                 *c;
    ngx_http_victorops_call_t         call;
    ngx_http_victorops_call_facts_t   f;

    for (c = core_call_cases; c->name; c++) {
        core.name = c->name;

        ngx_memzero(&f, sizeof(ngx_http_victorops_call_facts_t));
        f.kind = c->kind;
        f.class = c->class;
        f.incident = *core_str(c->incident);
        f.body = *core_str(c->body);
        f.link.found = c->found;
        f.link.incident = *core_str(c->linked_incident);
        f.link.alert = *core_str(c->linked_alert);

        core_check(ngx_http_victorops_decide_call(core.pool, &f, &call)
                   == NGX_OK);

        core_check(call.action == c->action);
        core_check(c->what ? call.what && ngx_strcmp(call.what, c->what) == 0
                           : call.what == NULL);
        core_check(core_str_eq(&call.path, c->path));
        core_check(core_str_eq(&call.body, c->body_out));
        core_check(core_str_eq(&call.reason, c->reason));
    }

    core.name = NULL;
}


void
core_decide_rootly(void)
{
    core_rootly_case_t                    *c;
    ngx_http_victorops_rootly_facts_t      f;
    ngx_http_victorops_rootly_decision_t   d;

    for (c = core_rootly_cases; c->name; c++) {
        core.name = c->name;

        ngx_memzero(&f, sizeof(ngx_http_victorops_rootly_facts_t));
        f.type = *core_str(c->type);
        f.data = c->data ? core_json(c->data) : NULL;
        f.rules = core_rules();
        f.api = c->api;
        f.auto_resolve = c->auto_resolve;

        core_check(c->data == NULL || f.data != NULL);

        core_check(ngx_http_victorops_decide_rootly(core.pool, &f, &d)
                   == NGX_OK);

        core_check(d.action == c->action);
        core_check(c->reason ? d.reason && ngx_strcmp(d.reason, c->reason) == 0
                             : d.reason == NULL);
        core_check(d.kind == c->kind);
        core_check(core_str_eq(&d.key, c->key));

        if (!core_str_eq(&d.body, c->body)) {
            fprintf(stderr, "got:  %.*s\nwant: %s\n", (int) d.body.len,
                    d.body.data, c->body);
        }

        core_check(core_str_eq(&d.body, c->body));
        core_check(d.action != NGX_HTTP_VICTOROPS_ROOTLY_JOB
                   || (d.incident.len && d.body.data[d.body.len] == '\n'));
    }

    core.name = NULL;
}


void
core_decide_vo(void)
{
    core_vo_case_t                    *c;
    ngx_http_victorops_vo_facts_t      f;
    ngx_http_victorops_vo_decision_t   d;

    for (c = core_vo_cases; c->name; c++) {
        core.name = c->name;

        ngx_memzero(&f, sizeof(ngx_http_victorops_vo_facts_t));
        f.kind = c->kind;
        f.attempts = c->attempts;
        f.targets = *core_str(c->targets);
        f.linked = c->linked;
        f.paged = *core_str(c->paged);
        f.vo_state = c->vo_state;
        f.open = c->open;
        f.pageable = c->pageable;

        ngx_http_victorops_decide_vo(&f, &d);

        core_check(d.action == c->action);
        core_check(core_str_eq(&d.reason, c->reason));
    }

    core.name = NULL;
}


/*
 *   escalate severity=sev0 policy=pol-a;
 *   escalate team=payments user=alice policy=pol-a;
 */

static ngx_array_t *
core_rules(void)
{
    ngx_array_t                *rules;
    ngx_http_victorops_rule_t  *rule;

    rules = ngx_array_create(core.pool, 2, sizeof(ngx_http_victorops_rule_t));
    rule = rules ? ngx_array_push_n(rules, 2) : NULL;
    if (rule == NULL) {
        abort();
    }

    rule[0].by = NGX_HTTP_VICTOROPS_BY_SEVERITY;
    rule[0].values = ngx_array_create(core.pool, 1, sizeof(ngx_str_t));
    rule[0].targets = ngx_array_create(core.pool, 2,
                                       sizeof(ngx_http_victorops_target_t));

    rule[1].by = NGX_HTTP_VICTOROPS_BY_TEAM;
    rule[1].values = ngx_array_create(core.pool, 1, sizeof(ngx_str_t));
    rule[1].targets = ngx_array_create(core.pool, 2,
                                       sizeof(ngx_http_victorops_target_t));

    if (rule[0].values == NULL || rule[0].targets == NULL
        || rule[1].values == NULL || rule[1].targets == NULL
        || ngx_array_push(rule[0].values) == NULL
        || ngx_array_push(rule[1].values) == NULL)
    {
        abort();
    }

    ((ngx_str_t *) rule[0].values->elts)[0] = *core_str("sev0");
    ((ngx_str_t *) rule[1].values->elts)[0] = *core_str("payments");

    if (ngx_http_victorops_target_add(rule[0].targets,
                                      core_str("EscalationPolicy"),
                                      core_str("pol-a"))
        != NGX_OK
        || ngx_http_victorops_target_add(rule[1].targets, core_str("User"),
                                         core_str("alice"))
           != NGX_OK
        || ngx_http_victorops_target_add(rule[1].targets,
                                         core_str("EscalationPolicy"),
                                         core_str("pol-a"))
           != NGX_OK)
    {
        abort();
    }

    return rules;
}


/*
 * decide_dispatch(): an event job decided at dispatch, then the call
 * the job it became makes with the same link.
 */

void
core_decide_dispatch(void)
{
    core_event_case_t                    *c;
    ngx_http_victorops_call_t             call;
    ngx_http_victorops_event_t            ev;
    ngx_http_victorops_rootly_link_t      link;
    ngx_http_victorops_call_facts_t       f;
    ngx_http_victorops_event_decision_t   d;

    for (c = core_dispatch_cases; c->name; c++) {
        core.name = c->name;

        ngx_memzero(&ev, sizeof(ngx_http_victorops_event_t));
        ev.class = c->class;
        ev.why = c->why;
        ev.reason = *core_str(c->reason);

        link.found = c->found;
        link.incident = *core_str(c->incident);
        link.alert = *core_str(c->alert);

        ngx_http_victorops_decide_dispatch(&ev, &link, &d);

        core_check(d.action == c->action);
        core_check(d.kind == c->kind);
        core_check(d.why == c->why_out);
        core_check(core_str_eq(&d.reason, c->reason_out));
    }

    /* an acknowledgement behind its alert acknowledges the alert */

    core.name = "dispatch: then the call, with the same link";

    ngx_memzero(&ev, sizeof(ngx_http_victorops_event_t));
    ev.class = ACK;

    link.found = YES;
    ngx_str_null(&link.incident);
    link.alert = *core_str("a-7");

    ngx_http_victorops_decide_dispatch(&ev, &link, &d);

    core_check(d.action == NGX_HTTP_VICTOROPS_EVENT_JOB);

    ngx_memzero(&f, sizeof(ngx_http_victorops_call_facts_t));
    f.kind = d.kind;
    f.class = ev.class;
    f.body = *core_str("Acknowledged");
    f.link = link;

    core_check(ngx_http_victorops_decide_call(core.pool, &f, &call)
               == NGX_OK);
    core_check(call.action == NGX_HTTP_VICTOROPS_CALL_POST);
    core_check(core_str_eq(&call.path, "/v1/alerts/a-7/acknowledge"));

    core.name = NULL;
}
