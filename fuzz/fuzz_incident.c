
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * libFuzzer target for the request-free escalation code
 * (src/ngx_http_victorops_incident.c): Rootly incidents, escalation
 * rules, the escalation job's body, the VictorOps API bodies and the
 * reading of the VictorOps API answers, and the decisions of what a
 * Rootly event means and what a VictorOps job does (decide.c), linked
 * against real nginx core objects (see core.mk).
 *
 * The input has no header: it is the whole document, read
 *
 *   - as a Rootly webhook: parsed with ngx_http_victorops_json_parse(),
 *     then incident_parse() on the root and on its "data" member, the
 *     fixed rules below matched, the escalation body built, parsed back,
 *     put in canonical form, and the VictorOps incident creation body
 *     built from it;
 *   - as a Slack command (the form as the module parses it: an object
 *     of strings): "text", "response_url", "user_name";
 *   - as the body of every VictorOps answer: vo_created, vo_rerouted,
 *     vo_resolved, vo_incidents, vo_policies, vo_oncall, vo_teams,
 *     vo_error, and as a string for parse_iso8601(), slack_text() and
 *     url_allowed();
 *   - the reroute and resolve bodies are then built from what the
 *     readers returned.
 *
 * The answer is read from an exact-size malloc() copy that is freed
 * before anything the readers returned is used, so ASan catches a
 * reader that keeps pointers into the response.  The pool is created
 * with NGX_DEBUG_PALLOC: every pool allocation is its own malloc().
 *
 * Invariants checked (abort() on violation):
 *
 *   - each function returns one of the codes it documents; NGX_ERROR
 *     (out of memory) never happens;
 *   - decide_rootly, for the document and its "data" under every
 *     event type, with and without credentials and auto_resolve:
 *     other types ignored, an incident event without an id invalid,
 *     nothing without credentials, a resolve only with auto_resolve,
 *     an escalation only for a live incident with targets or VictorOps
 *     teams (computed here); a reason unless a job; a job's key,
 *     incident and body (read back: id, title, url, targets, teams)
 *     are the incident's;
 *   - decide_vo for such an escalation's targets, over what may be
 *     linked: the same targets paged do nothing, a resolved incident
 *     is not rerouted, whom to page is asked for while unknown, nobody
 *     is dead with a reason, then reroute, look for an earlier
 *     attempt's creation, or create; a resolve only with open links;
 *   - a parsed incident has an id; its teams and VictorOps teams are
 *     non-empty and distinct;
 *   - rules_match() gives exactly the targets of the matching rules,
 *     in rule order, each once (matches computed here independently);
 *   - the escalation body re-parses as JSON, and escalation_parse() of
 *     it gives back the same id, title, url, targets and teams; the
 *     canonical form of both is the same, of the expected length;
 *   - every body built (escalation, create, reroute, resolve) is
 *     followed by the '\n' gen_finish() promises, re-parses as a JSON
 *     object of the documented shape; building never fails, since every
 *     string comes from the JSON parser (valid UTF-8) or from here;
 *   - the texts that become Rootly timeline events (targets_text,
 *     vo_oncall) make a Rootly incident event body;
 *   - the response readers return non-empty numbers and slugs, and a
 *     reason when they decline;
 *   - vo_find (the incident list search of a retried create, for the
 *     mark vo_mark gives) finds the same fed whole or in two pieces;
 *     when it says the list was read to its end, the answer is one
 *     JSON document; an object with an "incidents" array is read to
 *     its end;
 *   - vo_teams: each team has a name and a slug, and makes a Rootly team
 *     body (rootly_team) with them;
 *   - slack_text (on the input, and on the document's "text" as the
 *     Slack handler has it): the slug is a word inside the text, the
 *     summary has no blanks around it, a page has a slug; the reply
 *     (slack_message) and a Slack page's escalation body round trip,
 *     reply_url too;
 *   - url_allowed (on the input, and on "response_url"): allows only
 *     http(s) URLs that name one of the allowed hosts;
 *   - parse_iso8601() is 0 for what it cannot read, else what timegm()
 *     makes of the same fields (fuzz_text.c);
 *   - vo_error's reason (cut at 200 bytes) makes a JSON body;
 *   - the input as an upstream's error text (fuzz_text.c): utf8_text()
 *     gives well-formed UTF-8 (checked by value) that yajl takes, the
 *     input with control characters as spaces when it is well-formed;
 *     limited to a size, the longest whole-character prefix of that, as
 *     utf8_cut() of it at the size; utf8_cut() backs up exactly over a
 *     character cut short.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_victorops_decide.h"
#include "ngx_http_victorops_slack_api.h"
#include "fuzz_decide.h"
#include "fuzz_text.h"
#include "core_init.h"


#define FUZZ_POOL_SIZE     4096
#define FUZZ_MAX_DEPTH     NGX_HTTP_VICTOROPS_MAX_DEPTH
#define FUZZ_USER          "rootly-bot"
#define FUZZ_NUMBER        "2201"

/* NGX_HTTP_VICTOROPS_TEXT_MAX in ngx_http_victorops_incident.c */
#define FUZZ_TEXT_MAX      4096


#define fuzz_check(expr)                                                      \
    if (!(expr)) {                                                            \
        fuzz_fail(__LINE__, #expr);                                           \
    }


typedef struct {
    const char                   *type;
    const char                   *slug;
} fuzz_target_t;


typedef struct {
    ngx_uint_t                    by;
    const char                   *values[3];
    fuzz_target_t                 targets[3];
} fuzz_rule_t;


static void fuzz_fail(int line, const char *expr) __attribute__((noreturn));


static ngx_log_t       *fuzz_log;


/*
 *   escalate severity=sev0,SEV1 policy=payments-primary user=alice;
 *   escalate team=payments,"Platform Team" policy=payments-primary
 *            policy=platform;
 *   escalate severity=critical user=bob;
 */

static fuzz_rule_t  fuzz_rules[] = {

    { NGX_HTTP_VICTOROPS_BY_SEVERITY,
      { "sev0", "SEV1", NULL },
      { { "EscalationPolicy", "payments-primary" },
        { "User", "alice" },
        { NULL, NULL } } },

    { NGX_HTTP_VICTOROPS_BY_TEAM,
      { "payments", "Platform Team", NULL },
      { { "EscalationPolicy", "payments-primary" },
        { "EscalationPolicy", "platform" },
        { NULL, NULL } } },

    { NGX_HTTP_VICTOROPS_BY_SEVERITY,
      { "critical", NULL, NULL },
      { { "User", "bob" },
        { NULL, NULL },
        { NULL, NULL } } }
};


/* what vo_oncall() and the reroute body get: the paged targets, teams */

static fuzz_target_t  fuzz_paged[] = {
    { "EscalationPolicy", "payments-primary" },
    { "User", "alice" },
    { NULL, NULL }
};

static const char  *fuzz_teams[] = { "team-payments", NULL };

/* slack_response_hosts */

static const char  *fuzz_hosts[] = { "hooks.slack.com", "slack.example:8443",
                                     NULL };


static void
fuzz_fail(int line, const char *expr)
{
    fprintf(stderr, "fuzz_incident.c:%d: invariant violated: %s\n",
            line, expr);
    abort();
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_log = core_nginx_init();

    return (fuzz_log == NULL);
}


static int
fuzz_str_eq(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || ngx_memcmp(a->data, b->data, a->len) == 0);
}


static int
fuzz_str_caseeq(ngx_str_t *a, const char *b)
{
    size_t  i, len;

    len = strlen(b);

    if (a->len != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (ngx_tolower(a->data[i]) != ngx_tolower((u_char) b[i])) {
            return 0;
        }
    }

    return 1;
}


static int
fuzz_str_is(ngx_str_t *a, const char *b)
{
    return a->len == strlen(b) && ngx_memcmp(a->data, b, a->len) == 0;
}


static void
fuzz_str_distinct(ngx_array_t *a)
{
    ngx_str_t   *s;
    ngx_uint_t   i, j;

    s = a->elts;

    for (i = 0; i < a->nelts; i++) {
        fuzz_check(s[i].len > 0 && s[i].data != NULL);

        for (j = 0; j < i; j++) {
            fuzz_check(!fuzz_str_eq(&s[i], &s[j]));
        }
    }
}


/* a member by its exact name and type, as the bodies are generated */

static ngx_http_victorops_json_t *
fuzz_member(ngx_http_victorops_json_t *obj, const char *key, ngx_uint_t type)
{
    size_t                      len;
    ngx_http_victorops_json_t  *m;

    if (obj == NULL || obj->type != NGX_HTTP_VICTOROPS_JSON_OBJECT) {
        return NULL;
    }

    len = strlen(key);

    for (m = obj->child; m; m = m->next) {
        if (m->key.len == len && ngx_memcmp(m->key.data, key, len) == 0) {
            return m->type == type ? m : NULL;
        }
    }

    return NULL;
}


static ngx_uint_t
fuzz_children(ngx_http_victorops_json_t *v)
{
    ngx_uint_t  n;

    for (n = 0, v = v->child; v; v = v->next) {
        n++;
    }

    return n;
}


/* a built body: followed by '\n', re-parses from a copy, is an object */

static ngx_http_victorops_json_t *
fuzz_body(ngx_pool_t *pool, ngx_str_t *body)
{
    u_char                     *buf;
    ngx_int_t                   rc;
    ngx_str_t                   copy;
    ngx_http_victorops_json_t  *root;

    fuzz_check(body->len > 0 && body->data != NULL);
    fuzz_check(body->data[body->len] == '\n');

    buf = malloc(body->len);
    fuzz_check(buf != NULL);
    ngx_memcpy(buf, body->data, body->len);

    copy.data = buf;
    copy.len = body->len;

    rc = ngx_http_victorops_json_parse(pool, &copy, FUZZ_MAX_DEPTH, &root);

    free(buf);

    if (rc != NGX_OK) {
        fprintf(stderr, "body does not re-parse: %.*s\n",
                (int) ngx_min(body->len, 512), body->data);
    }

    fuzz_check(rc == NGX_OK && root != NULL);
    fuzz_check(root->type == NGX_HTTP_VICTOROPS_JSON_OBJECT);

    return root;
}


/* [{"type","slug"}] as gen_targets() writes them, in order */

static void
fuzz_check_targets(ngx_http_victorops_json_t *arr, ngx_array_t *targets)
{
    ngx_uint_t                    i;
    ngx_http_victorops_json_t    *v, *type, *slug;
    ngx_http_victorops_target_t  *t;

    fuzz_check(arr != NULL);
    fuzz_check(fuzz_children(arr) == targets->nelts);

    t = targets->elts;

    for (i = 0, v = arr->child; v; i++, v = v->next) {
        type = fuzz_member(v, "type", NGX_HTTP_VICTOROPS_JSON_STRING);
        slug = fuzz_member(v, "slug", NGX_HTTP_VICTOROPS_JSON_STRING);

        fuzz_check(type != NULL && fuzz_str_eq(&type->value, &t[i].type));
        fuzz_check(slug != NULL && fuzz_str_eq(&slug->value, &t[i].slug));
    }
}


/* a text that becomes a Rootly timeline event (a note job's body) */

static void
fuzz_check_note(ngx_pool_t *pool, ngx_str_t *text)
{
    ngx_str_t  body;

    fuzz_check(text->len <= FUZZ_TEXT_MAX);

    if (text->len == 0) {
        return;
    }

    fuzz_check(ngx_http_victorops_rootly_event(pool, text, &body) == NGX_OK);
    (void) fuzz_body(pool, &body);
}


static ngx_array_t *
fuzz_targets(ngx_pool_t *pool, fuzz_target_t *ft)
{
    ngx_array_t                  *a;
    ngx_http_victorops_target_t  *t;

    a = ngx_array_create(pool, 2, sizeof(ngx_http_victorops_target_t));
    fuzz_check(a != NULL);

    for ( /* void */ ; ft->type; ft++) {
        t = ngx_array_push(a);
        fuzz_check(t != NULL);

        t->type.data = (u_char *) ft->type;
        t->type.len = strlen(ft->type);
        t->slug.data = (u_char *) ft->slug;
        t->slug.len = strlen(ft->slug);

        fuzz_check(ngx_http_victorops_target_valid(&t->type, &t->slug)
                   == NGX_OK);
    }

    return a;
}


static ngx_array_t *
fuzz_rules_create(ngx_pool_t *pool)
{
    ngx_str_t                  *s;
    ngx_uint_t                  i, j;
    ngx_array_t                *rules;
    ngx_http_victorops_rule_t  *rule;

    rules = ngx_array_create(pool, 4, sizeof(ngx_http_victorops_rule_t));
    fuzz_check(rules != NULL);

    for (i = 0; i < sizeof(fuzz_rules) / sizeof(fuzz_rules[0]); i++) {
        rule = ngx_array_push(rules);
        fuzz_check(rule != NULL);

        rule->by = fuzz_rules[i].by;
        rule->values = ngx_array_create(pool, 2, sizeof(ngx_str_t));
        fuzz_check(rule->values != NULL);

        for (j = 0; fuzz_rules[i].values[j]; j++) {
            s = ngx_array_push(rule->values);
            fuzz_check(s != NULL);

            s->data = (u_char *) fuzz_rules[i].values[j];
            s->len = strlen(fuzz_rules[i].values[j]);
        }

        rule->targets = fuzz_targets(pool, fuzz_rules[i].targets);
    }

    return rules;
}


/* which fixed rules the incident matches, computed here */

static ngx_uint_t
fuzz_rule_hit(fuzz_rule_t *r, ngx_http_victorops_rootly_incident_t *inc)
{
    ngx_str_t   *team;
    ngx_uint_t   i, k;

    team = inc->teams.elts;

    for (i = 0; r->values[i]; i++) {

        if (r->by == NGX_HTTP_VICTOROPS_BY_SEVERITY) {
            if (fuzz_str_caseeq(&inc->severity, r->values[i])
                || fuzz_str_caseeq(&inc->severity_name, r->values[i]))
            {
                return 1;
            }

            continue;
        }

        for (k = 0; k < inc->teams.nelts; k++) {
            if (fuzz_str_caseeq(&team[k], r->values[i])) {
                return 1;
            }
        }
    }

    return 0;
}


static void
fuzz_check_match(ngx_http_victorops_rootly_incident_t *inc,
    ngx_array_t *targets)
{
    ngx_uint_t                    i, j, k, n;
    fuzz_target_t                *ft;
    ngx_http_victorops_target_t  *t;

    t = targets->elts;
    n = 0;

    for (i = 0; i < sizeof(fuzz_rules) / sizeof(fuzz_rules[0]); i++) {
        if (!fuzz_rule_hit(&fuzz_rules[i], inc)) {
            continue;
        }

        for (j = 0; fuzz_rules[i].targets[j].type; j++) {
            ft = &fuzz_rules[i].targets[j];

            for (k = 0; k < n; k++) {
                if (fuzz_str_is(&t[k].type, ft->type)
                    && fuzz_str_is(&t[k].slug, ft->slug))
                {
                    break;
                }
            }

            if (k < n) {
                continue;
            }

            fuzz_check(n < targets->nelts);
            fuzz_check(fuzz_str_is(&t[n].type, ft->type)
                       && fuzz_str_is(&t[n].slug, ft->slug));
            n++;
        }
    }

    fuzz_check(n == targets->nelts);
}


/* "Type:slug" and "Team:slug", sorted, joined by ',' */

static void
fuzz_check_canon(ngx_pool_t *pool, ngx_http_victorops_escalation_t *esc,
    ngx_str_t *canon)
{
    size_t                        len;
    ngx_str_t                    *team, again;
    ngx_uint_t                    i;
    ngx_http_victorops_target_t  *t;

    t = esc->targets.elts;
    team = esc->teams.elts;
    len = 0;

    for (i = 0; i < esc->targets.nelts; i++) {
        len += t[i].type.len + 1 + t[i].slug.len + 1;
    }

    for (i = 0; i < esc->teams.nelts; i++) {
        len += sizeof("Team:") - 1 + team[i].len + 1;
    }

    if (len == 0) {
        fuzz_check(canon->len == 0);
        return;
    }

    fuzz_check(canon->len == len - 1);

    /* the same escalation gives the same string */

    fuzz_check(ngx_http_victorops_escalation_canon(pool, esc, &again)
               == NGX_OK);
    fuzz_check(fuzz_str_eq(canon, &again));
}


/* an escalation read back: the same as the one written */

static void
fuzz_same_escalation(ngx_http_victorops_escalation_t *esc,
    ngx_http_victorops_escalation_t *esc2)
{
    ngx_str_t                    *team, *team2;
    ngx_uint_t                    i;
    ngx_http_victorops_target_t  *t1, *t2;

    fuzz_check(fuzz_str_eq(&esc2->id, &esc->id));
    fuzz_check(fuzz_str_eq(&esc2->title, &esc->title));
    fuzz_check(fuzz_str_eq(&esc2->url, &esc->url));
    fuzz_check(esc2->summary.len == 0 && esc2->details.len == 0);

    fuzz_check(esc2->targets.nelts == esc->targets.nelts);

    t1 = esc->targets.elts;
    t2 = esc2->targets.elts;

    for (i = 0; i < esc->targets.nelts; i++) {
        fuzz_check(fuzz_str_eq(&t1[i].type, &t2[i].type)
                   && fuzz_str_eq(&t1[i].slug, &t2[i].slug));
    }

    fuzz_check(esc2->teams.nelts == esc->teams.nelts);

    team = esc->teams.elts;
    team2 = esc2->teams.elts;

    for (i = 0; i < esc->teams.nelts; i++) {
        fuzz_check(fuzz_str_eq(&team[i], &team2[i]));
    }
}


/* POST /api-public/v1/incidents */

static void
fuzz_create(ngx_pool_t *pool, ngx_http_victorops_escalation_t *esc2,
    ngx_str_t *user)
{
    ngx_int_t                   rc;
    ngx_str_t                   body, summary;
    ngx_http_victorops_json_t  *root, *v;

    rc = ngx_http_victorops_vo_create_body(pool, esc2, &esc2->targets, user,
                                           &body);
    if (rc != NGX_OK) {
        fprintf(stderr, "vo_create_body failed: title %zu bytes, url %zu\n",
                esc2->title.len, esc2->url.len);
    }

    fuzz_check(rc == NGX_OK);

    root = fuzz_body(pool, &body);

    v = fuzz_member(root, "summary", NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check(v != NULL);

    if (esc2->title.len) {
        fuzz_check(fuzz_str_eq(&v->value, &esc2->title));

    } else {
        summary.len = sizeof("Rootly incident ") - 1 + esc2->id.len;
        fuzz_check(v->value.len == summary.len
                   && ngx_memcmp(v->value.data, "Rootly incident ",
                                 sizeof("Rootly incident ") - 1) == 0);
    }

    v = fuzz_member(root, "details", NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check(v != NULL && v->value.len > 0
               && v->value.len <= FUZZ_TEXT_MAX);

    v = fuzz_member(root, "userName", NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check(v != NULL && fuzz_str_eq(&v->value, user));

    v = fuzz_member(root, "targets", NGX_HTTP_VICTOROPS_JSON_ARRAY);
    fuzz_check_targets(v, &esc2->targets);
}


/*
 * The events handler's view: what the event means (fuzz_decide.c), the
 * incident, the rules, the escalation job's body and its round trip,
 * and the VictorOps creation body the job sends.
 */

static void
fuzz_incident(ngx_pool_t *pool, ngx_http_victorops_json_t *data,
    ngx_array_t *rules, ngx_str_t *user)
{
    ngx_int_t                              rc;
    ngx_str_t                              body, canon1, canon2, text;
    ngx_str_t                             *team, *team2, id;
    ngx_uint_t                             i;
    ngx_http_victorops_json_t             *root, *v;
    ngx_http_victorops_escalation_t        esc, esc2;
    ngx_http_victorops_rootly_incident_t   inc;

    fuzz_decide_rootly(pool, data, rules);

    rc = ngx_http_victorops_incident_parse(pool, data, &inc);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc != NGX_OK) {
        return;
    }

    fuzz_check(ngx_http_victorops_json_text(data, "id", &id) == NGX_OK);
    fuzz_check(inc.id.len > 0 && fuzz_str_eq(&inc.id, &id));

    fuzz_str_distinct(&inc.teams);
    fuzz_str_distinct(&inc.vo_teams);

    (void) ngx_http_victorops_incident_terminal(&inc.status);

    fuzz_check(ngx_http_victorops_escalation_key(pool, &inc.id, &text)
               == NGX_OK);
    fuzz_check(text.len == sizeof("rootly:") - 1 + inc.id.len);

    /* as ngx_http_victorops_decide.c builds an escalation job's body */

    fuzz_check(ngx_http_victorops_escalation_init(pool, &esc) == NGX_OK);

    esc.id = inc.id;
    esc.title = inc.title;
    esc.url = inc.url;

    fuzz_check(ngx_http_victorops_rules_match(rules, &inc, &esc.targets)
               == NGX_OK);
    fuzz_check_match(&inc, &esc.targets);

    team = inc.vo_teams.elts;

    for (i = 0; i < inc.vo_teams.nelts; i++) {
        team2 = ngx_array_push(&esc.teams);
        fuzz_check(team2 != NULL);
        *team2 = team[i];
    }

    fuzz_check(ngx_http_victorops_escalation_body(pool, &esc, &body)
               == NGX_OK);

    root = fuzz_body(pool, &body);

    v = fuzz_member(root, "targets", NGX_HTTP_VICTOROPS_JSON_ARRAY);
    fuzz_check_targets(v, &esc.targets);

    v = fuzz_member(root, "teams", NGX_HTTP_VICTOROPS_JSON_ARRAY);
    fuzz_check(v != NULL && fuzz_children(v) == esc.teams.nelts);

    /* as ngx_http_victorops_vo.c reads the job back */

    fuzz_check(ngx_http_victorops_escalation_parse(pool, &body, &esc2)
               == NGX_OK);

    fuzz_same_escalation(&esc, &esc2);

    fuzz_check(ngx_http_victorops_escalation_canon(pool, &esc, &canon1)
               == NGX_OK);
    fuzz_check(ngx_http_victorops_escalation_canon(pool, &esc2, &canon2)
               == NGX_OK);
    fuzz_check(fuzz_str_eq(&canon1, &canon2));
    fuzz_check_canon(pool, &esc2, &canon2);

    fuzz_check(ngx_http_victorops_targets_text(pool, &esc2.targets, &text)
               == NGX_OK);
    fuzz_check((text.len == 0) == (esc2.targets.nelts == 0));
    fuzz_check_note(pool, &text);

    fuzz_create(pool, &esc2, user);
}


static ngx_array_t *
fuzz_strings(ngx_pool_t *pool, const char **strings)
{
    ngx_str_t    *s;
    ngx_array_t  *a;

    a = ngx_array_create(pool, 2, sizeof(ngx_str_t));
    fuzz_check(a != NULL);

    for ( /* void */ ; *strings; strings++) {
        s = ngx_array_push(a);
        fuzz_check(s != NULL);

        s->data = (u_char *) *strings;
        s->len = strlen(*strings);
    }

    return a;
}


/* whether "s" has the "len" bytes of "what" in it, case-insensitively */

static int
fuzz_str_has(ngx_str_t *s, const char *what, size_t len)
{
    size_t  i, j;

    for (i = 0; i + len <= s->len; i++) {
        for (j = 0; j < len; j++) {
            if (ngx_tolower(s->data[i + j]) != ngx_tolower((u_char) what[j]))
            {
                break;
            }
        }

        if (j == len) {
            return 1;
        }
    }

    return 0;
}


/* a response_url: only http(s) to an allowed host (the host part) */

static void
fuzz_check_url(ngx_str_t *url, ngx_array_t *hosts)
{
    ngx_int_t    rc;
    ngx_uint_t   i, hit;

    rc = ngx_http_victorops_url_allowed(url, hosts);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc != NGX_OK) {
        return;
    }

    fuzz_check(url->len <= 2048);
    fuzz_check(memchr(url->data, '\0', url->len) == NULL);
    fuzz_check(fuzz_str_has(url, "http", 4));

    /* "hosts" is fuzz_hosts: "host" or "host:port" */

    hit = 0;

    for (i = 0; fuzz_hosts[i]; i++) {
        hit |= fuzz_str_has(url, fuzz_hosts[i], strcspn(fuzz_hosts[i], ":"));
    }

    fuzz_check(hit);
}


/*
 * A Slack command's text: the slug is the first word, the summary the
 * rest without blanks around it, both inside the text.
 */

static ngx_uint_t
fuzz_slack_text(ngx_str_t *text, ngx_str_t *slug, ngx_str_t *summary)
{
    u_char      *end;
    size_t       i;
    ngx_uint_t   what;

    what = ngx_http_victorops_slack_text(text, slug, summary);

    fuzz_check(what == NGX_HTTP_VICTOROPS_SLACK_HELP
               || what == NGX_HTTP_VICTOROPS_SLACK_LIST
               || what == NGX_HTTP_VICTOROPS_SLACK_PAGE);

    if (slug->len == 0) {
        fuzz_check(summary->len == 0);
        fuzz_check(what == NGX_HTTP_VICTOROPS_SLACK_HELP);
        return what;
    }

    end = text->data + text->len;

    fuzz_check(slug->data >= text->data && slug->data + slug->len <= end);

    for (i = 0; i < slug->len; i++) {
        fuzz_check(slug->data[i] != ' ' && slug->data[i] != '\t');
    }

    for (i = 0; i < (size_t) (slug->data - text->data); i++) {
        fuzz_check(text->data[i] == ' ' || text->data[i] == '\t');
    }

    if (summary->len) {
        fuzz_check(summary->data >= slug->data + slug->len
                   && summary->data + summary->len <= end);
        fuzz_check(summary->data[0] != ' ' && summary->data[0] != '\t');
        fuzz_check(summary->data[summary->len - 1] != ' '
                   && summary->data[summary->len - 1] != '\t');
    }

    if (what == NGX_HTTP_VICTOROPS_SLACK_PAGE) {
        fuzz_check(slug->len > 0);
    }

    return what;
}


/*
 * The Slack command handler's view of a parsed form: the text, the
 * ephemeral reply, and a page's escalation body as
 * ngx_http_victorops_slack.c builds it, read back as the job does.
 */

static void
fuzz_slack(ngx_pool_t *pool, ngx_http_victorops_json_t *form,
    ngx_array_t *hosts)
{
    ngx_str_t                         text, slug, summary, url, user, body;
    ngx_str_t                         type, *s;
    ngx_http_victorops_json_t        *root, *v;
    ngx_http_victorops_escalation_t   esc, esc2;

    if (ngx_http_victorops_json_text(form, "response_url", &url) == NGX_OK) {
        fuzz_check_url(&url, hosts);
    }

    (void) ngx_http_victorops_json_text(form, "text", &text);

    if (fuzz_slack_text(&text, &slug, &summary)
        != NGX_HTTP_VICTOROPS_SLACK_PAGE)
    {
        return;
    }

    ngx_str_set(&type, "EscalationPolicy");

    if (ngx_http_victorops_target_valid(&type, &slug) != NGX_OK) {
        return;
    }

    if (summary.len == 0) {
        ngx_str_set(&summary, "Paged from Slack");
    }

    /* the reply: {"response_type","text"} */

    fuzz_check(ngx_http_victorops_slack_message(pool, "in_channel", &summary,
                                                &body)
               == NGX_OK);

    root = fuzz_body(pool, &body);

    v = fuzz_member(root, "response_type", NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check(v != NULL && fuzz_str_is(&v->value, "in_channel"));

    v = fuzz_member(root, "text", NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check(v != NULL && fuzz_str_eq(&v->value, &summary));

    /* the page */

    if (ngx_http_victorops_json_text(form, "user_name", &user) != NGX_OK) {
        ngx_str_set(&user, "slack");
    }

    fuzz_check(ngx_http_victorops_escalation_init(pool, &esc) == NGX_OK);

    esc.id = user;
    esc.summary = summary;
    esc.details = text;
    esc.reply_url = url;

    s = ngx_array_push(&esc.teams);
    fuzz_check(s != NULL);
    *s = slug;

    fuzz_check(ngx_http_victorops_escalation_body(pool, &esc, &body)
               == NGX_OK);
    (void) fuzz_body(pool, &body);

    fuzz_check(ngx_http_victorops_escalation_parse(pool, &body, &esc2)
               == NGX_OK);

    fuzz_check(fuzz_str_eq(&esc2.id, &esc.id));
    fuzz_check(fuzz_str_eq(&esc2.summary, &esc.summary));
    fuzz_check(fuzz_str_eq(&esc2.details, &esc.details));
    fuzz_check(fuzz_str_eq(&esc2.reply_url, &esc.reply_url));
    fuzz_check(esc2.targets.nelts == 0 && esc2.teams.nelts == 1);
    fuzz_check(fuzz_str_eq(&((ngx_str_t *) esc2.teams.elts)[0], &slug));
}


/* GET /api-public/v1/team, and the Rootly team bodies made of it */

static void
fuzz_vo_teams(ngx_pool_t *pool, ngx_str_t *resp)
{
    ngx_int_t                      rc;
    ngx_str_t                      body;
    ngx_uint_t                     i;
    ngx_array_t                    teams;
    ngx_http_victorops_json_t     *root, *data, *attrs, *v;
    ngx_http_victorops_vo_team_t  *team;

    fuzz_check(ngx_array_init(&teams, pool, 2,
                              sizeof(ngx_http_victorops_vo_team_t))
               == NGX_OK);

    rc = ngx_http_victorops_vo_teams(pool, resp, &teams);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);

    team = teams.elts;

    for (i = 0; i < teams.nelts; i++) {
        fuzz_check(team[i].name.len > 0 && team[i].slug.len > 0);

        if (i >= 4) {
            continue;
        }

        fuzz_check(ngx_http_victorops_rootly_team(pool, &team[i], &body)
                   == NGX_OK);

        root = fuzz_body(pool, &body);

        data = fuzz_member(root, "data", NGX_HTTP_VICTOROPS_JSON_OBJECT);
        v = fuzz_member(data, "type", NGX_HTTP_VICTOROPS_JSON_STRING);
        fuzz_check(v != NULL && fuzz_str_is(&v->value, "groups"));

        attrs = fuzz_member(data, "attributes",
                            NGX_HTTP_VICTOROPS_JSON_OBJECT);

        v = fuzz_member(attrs, "name", NGX_HTTP_VICTOROPS_JSON_STRING);
        fuzz_check(v != NULL && fuzz_str_eq(&v->value, &team[i].name));

        v = fuzz_member(attrs, "victor_ops_id",
                        NGX_HTTP_VICTOROPS_JSON_STRING);
        fuzz_check(v != NULL && fuzz_str_eq(&v->value, &team[i].slug));

        v = fuzz_member(attrs, "description", NGX_HTTP_VICTOROPS_JSON_STRING);
        fuzz_check(v != NULL && v->value.len
                                == sizeof("VictorOps team ") - 1
                                   + team[i].slug.len);
    }
}


/*
 * The incident list search of a retried create, fed the answer whole
 * and in two pieces: both find the same, a list it calls read to its
 * end is one JSON document, and one the tree parser reads as an
 * object with an "incidents" array is read to its end.
 */

static void
fuzz_find(ngx_pool_t *pool, ngx_str_t *resp)
{
    size_t                         cut;
    ngx_int_t                      rc, rc2, tree;
    ngx_str_t                      job, mark, number, entity, reason;
    ngx_str_t                      number2, entity2, reason2, name;
    ngx_http_victorops_json_t     *root, *v;
    ngx_http_victorops_vo_find_t  *f, *f2;

    ngx_str_set(&job, "0123456789abcdef");

    fuzz_check(ngx_http_victorops_vo_mark(pool, &job, &mark) == NGX_OK);
    fuzz_check(fuzz_str_is(&mark, "[nginx job 0123456789abcdef]"));

    f = ngx_http_victorops_vo_find_create(pool, &mark);
    f2 = ngx_http_victorops_vo_find_create(pool, &mark);
    fuzz_check(f != NULL && f2 != NULL);

    cut = resp->len ? resp->data[0] % (resp->len + 1) : 0;

    fuzz_check(ngx_http_victorops_vo_find_feed(f, resp->data, resp->len)
               == NGX_OK);
    fuzz_check(ngx_http_victorops_vo_find_feed(f2, resp->data, cut)
               == NGX_OK);
    fuzz_check(ngx_http_victorops_vo_find_feed(f2, resp->data + cut,
                                               resp->len - cut)
               == NGX_OK);

    rc = ngx_http_victorops_vo_find_result(f, &number, &entity, &reason);
    rc2 = ngx_http_victorops_vo_find_result(f2, &number2, &entity2,
                                            &reason2);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED || rc == NGX_AGAIN);
    fuzz_check(rc == rc2);
    fuzz_check(rc != NGX_OK
               || (number.len > 0 && number.len <= 64 && entity.len <= 1024
                   && fuzz_str_eq(&number, &number2)
                   && fuzz_str_eq(&entity, &entity2)));
    fuzz_check(rc != NGX_AGAIN || reason.len > 0);

    tree = ngx_http_victorops_json_parse(pool, resp, FUZZ_MAX_DEPTH, &root);
    fuzz_check(rc != NGX_DECLINED || tree == NGX_OK);

    if (tree == NGX_OK) {
        ngx_str_set(&name, "incidents");
        v = ngx_http_victorops_json_lookup(root, &name);

        fuzz_check(rc != NGX_AGAIN
                   || root->type != NGX_HTTP_VICTOROPS_JSON_OBJECT
                   || v == NULL || v->type != NGX_HTTP_VICTOROPS_JSON_ARRAY);
    }
}


/*
 * The input as a Rootly incident webhook: the root, and "data" as the
 * handler takes it (its title becomes "message"), and as a Slack
 * command.
 */

static void
fuzz_webhook(ngx_pool_t *pool, ngx_str_t *resp, ngx_array_t *rules,
    ngx_str_t *user, ngx_array_t *hosts, ngx_str_t *message)
{
    ngx_int_t                   rc;
    ngx_str_t                   name;
    ngx_http_victorops_json_t  *root, *v;

    ngx_str_null(message);

    rc = ngx_http_victorops_json_parse(pool, resp, FUZZ_MAX_DEPTH, &root);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc != NGX_OK) {
        return;
    }

    fuzz_check(root != NULL);

    fuzz_incident(pool, root, rules, user);

    ngx_str_set(&name, "data");
    v = ngx_http_victorops_json_lookup(root, &name);

    fuzz_incident(pool, v, rules, user);

    (void) ngx_http_victorops_json_text(v, "title", message);

    fuzz_slack(pool, root, hosts);
}


/* the input as the incident list: numbers, phases; and as searched */

static void
fuzz_incidents(ngx_pool_t *pool, ngx_str_t *resp, ngx_array_t *list)
{
    ngx_int_t                          rc;
    ngx_uint_t                         i;
    ngx_http_victorops_vo_incident_t  *vo;

    rc = ngx_http_victorops_vo_incidents(pool, resp, list);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);

    fuzz_find(pool, resp);

    vo = list->elts;

    for (i = 0; i < list->nelts; i++) {
        fuzz_check(vo[i].number.len > 0);
        fuzz_check(vo[i].phase <= NGX_HTTP_VICTOROPS_VO_RESOLVED);
    }
}


/*
 * The input as the answers whose results are not used further (team
 * policies, on-call, an error), as a team list, an upstream's text, an
 * ISO 8601 time, a Slack command's text and a response_url.
 */

static void
fuzz_answers(ngx_pool_t *pool, ngx_str_t *resp, ngx_array_t *paged,
    ngx_array_t *teams, ngx_array_t *hosts)
{
    ngx_int_t    rc;
    ngx_str_t    oncall, error, slug, summary;
    ngx_array_t  slugs;

    fuzz_check(ngx_array_init(&slugs, pool, 2, sizeof(ngx_str_t)) == NGX_OK);

    rc = ngx_http_victorops_vo_policies(pool, resp, &slugs);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);
    fuzz_str_distinct(&slugs);

    rc = ngx_http_victorops_vo_oncall(pool, resp, paged, teams, &oncall);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_OK) {
        fuzz_check(oncall.len > 0);
        fuzz_check_note(pool, &oncall);
    }

    rc = ngx_http_victorops_vo_error(pool, resp, &error);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);
    fuzz_check(error.len > 0 && error.len <= 200);

    /* the reason goes into JSON: the Slack reply, the status */

    fuzz_check_note(pool, &error);

    fuzz_text_utf8(pool, resp->data, resp->len);

    fuzz_vo_teams(pool, resp);

    fuzz_text_iso8601(resp);

    (void) fuzz_slack_text(resp, &slug, &summary);
    fuzz_check_url(resp, hosts);
}


/* POST /api-public/v1/incidents/reroute */

static void
fuzz_reroute(ngx_pool_t *pool, ngx_str_t *number, ngx_array_t *paged,
    ngx_str_t *user)
{
    ngx_str_t                   body;
    ngx_http_victorops_json_t  *root, *v, *r;

    fuzz_check(ngx_http_victorops_vo_reroute_body(pool, number, paged,
                                                  user, &body)
               == NGX_OK);

    root = fuzz_body(pool, &body);

    v = fuzz_member(root, "userName", NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check(v != NULL && fuzz_str_eq(&v->value, user));

    v = fuzz_member(root, "reroutes", NGX_HTTP_VICTOROPS_JSON_ARRAY);
    fuzz_check(v != NULL && fuzz_children(v) == 1);

    r = fuzz_member(v->child, "incidentNumber",
                    NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check(r != NULL && fuzz_str_eq(&r->value, number));

    fuzz_check_targets(fuzz_member(v->child, "targets",
                                   NGX_HTTP_VICTOROPS_JSON_ARRAY),
                       paged);
}


/* PATCH /api-public/v1/incidents/resolve: what was listed or resolved */

static void
fuzz_resolve(ngx_pool_t *pool, ngx_array_t *done, ngx_str_t *user,
    ngx_str_t *message)
{
    ngx_str_t                  *s, body;
    ngx_uint_t                  i;
    ngx_http_victorops_json_t  *root, *v;

    fuzz_check(ngx_http_victorops_vo_resolve_body(pool, done, user,
                                                  message, &body)
               == NGX_OK);

    root = fuzz_body(pool, &body);

    v = fuzz_member(root, "userName", NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check(v != NULL && fuzz_str_eq(&v->value, user));

    v = fuzz_member(root, "message", NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check(v != NULL && fuzz_str_eq(&v->value, message));

    v = fuzz_member(root, "incidentNames", NGX_HTTP_VICTOROPS_JSON_ARRAY);
    fuzz_check(v != NULL && fuzz_children(v) == done->nelts);

    s = done->elts;

    for (i = 0, v = v->child; v; i++, v = v->next) {
        fuzz_check(v->type == NGX_HTTP_VICTOROPS_JSON_STRING
                   && fuzz_str_eq(&v->value, &s[i]));
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                            *buf;
    ngx_int_t                          rc;
    ngx_str_t                          resp, user, number, entity;
    ngx_str_t                          created, rerouted, resolved, message;
    ngx_str_t                         *s;
    ngx_uint_t                         i, have_number;
    ngx_pool_t                        *pool;
    ngx_array_t                       *rules, *paged, *teams, *hosts;
    ngx_array_t                        done, list;
    ngx_http_victorops_vo_incident_t  *vo;

    pool = ngx_create_pool(FUZZ_POOL_SIZE, fuzz_log);
    fuzz_check(pool != NULL);

    ngx_str_set(&user, FUZZ_USER);

    rules = fuzz_rules_create(pool);
    paged = fuzz_targets(pool, fuzz_paged);
    teams = fuzz_strings(pool, fuzz_teams);
    hosts = fuzz_strings(pool, fuzz_hosts);

    fuzz_check(ngx_array_init(&done, pool, 2, sizeof(ngx_str_t)) == NGX_OK);
    fuzz_check(ngx_array_init(&list, pool, 2,
                              sizeof(ngx_http_victorops_vo_incident_t))
               == NGX_OK);

    /* the response body: an exact-size copy, freed before use of results */

    buf = malloc(size ? size : 1);
    fuzz_check(buf != NULL);
    ngx_memcpy(buf, data, size);

    resp.data = buf;
    resp.len = size;

    fuzz_webhook(pool, &resp, rules, &user, hosts, &message);

    /* the same bytes as the answer to every VictorOps call */

    rc = ngx_http_victorops_vo_created(pool, &resp, &number, &entity,
                                       &created);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);
    fuzz_check(rc != NGX_OK || number.len > 0);
    fuzz_check(rc == NGX_OK || created.len > 0);

    have_number = (rc == NGX_OK);

    rc = ngx_http_victorops_vo_rerouted(pool, &resp, &rerouted);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);
    fuzz_check(rc == NGX_OK || rerouted.len > 0);

    rc = ngx_http_victorops_vo_resolved(pool, &resp, &done, &resolved);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);
    fuzz_check(rc == NGX_DECLINED || resolved.len == 0);
    fuzz_str_distinct(&done);

    fuzz_incidents(pool, &resp, &list);

    fuzz_answers(pool, &resp, paged, teams, hosts);

    /* nothing the readers returned may point into the response */

    ngx_memset(buf, 0xa5, size);
    free(buf);

    /* the reroute and resolve bodies of what was read */

    if (!have_number) {
        ngx_str_set(&number, FUZZ_NUMBER);
    }

    fuzz_reroute(pool, &number, paged, &user);

    vo = list.elts;

    for (i = 0; i < list.nelts; i++) {
        s = ngx_array_push(&done);
        fuzz_check(s != NULL);
        *s = vo[i].number;
    }

    if (message.len == 0) {
        message = rerouted;
    }

    fuzz_resolve(pool, &done, &user, &message);

    ngx_destroy_pool(pool);

    return 0;
}
