
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The classifier: every fixture of t/fixtures/victorops reaches its
 * expected.tsv outcome (class, incident, entity id, summary), and a
 * table of deliveries each rule of fixtures/victorops/README.md
 * decides: the class, why an ignored one is, its reason, the fields,
 * the summary fallbacks, who acknowledged or resolved and what they
 * said.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "core.h"


typedef struct {
    const char                   *name;
    const char                   *json;
    ngx_uint_t                    class;
    ngx_uint_t                    why;
    const char                   *reason;
    const char                   *incident;
    const char                   *entity;
    const char                   *summary;
    const char                   *user;
    const char                   *message;
} core_classify_case_t;


static ngx_int_t core_classify_fixture(ngx_str_t *line);
static ngx_uint_t core_split(ngx_str_t *line, ngx_str_t *fields,
    ngx_uint_t n);


static core_classify_case_t  core_classify_cases[] = {

    { "notification type first",
      "{\"notification_type\":\"recovery\",\"message_type\":\"ACKED\","
      "\"entity_id\":\"e\",\"resolved_by\":\"ann\",\"user\":\"bob\","
      "\"state_message\":\"fixed\"}",
      NGX_HTTP_VICTOROPS_RECOVERY, 0, "", "", "e", "e", "ann", "fixed" },

    { "unsupported notification type",
      "{\"notificationType\":\"PAGING_START\",\"incident\":\"7\"}",
      NGX_HTTP_VICTOROPS_IGNORED, NGX_HTTP_VICTOROPS_WHY_TYPE,
      "unsupported notification type PAGING_START", "7", "",
      "VictorOps incident #7", "", "" },

    { "a long unsupported type is cut at 64 bytes, between characters",
      "{\"NOTIFICATIONTYPE\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9tail\",\"entity_id\":\"e\"}",
      NGX_HTTP_VICTOROPS_IGNORED, NGX_HTTP_VICTOROPS_WHY_TYPE,
      "unsupported notification type aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaa", "", "e", "e", "", "" },

    { "nested state, acknowledged, STATE.ACKED_BY first",
      "{\"STATE\":{\"NOTIFICATIONTYPE\":\"ACKNOWLEDGEMENT\","
      "\"ACK_USER\":\"SYSTEM\",\"ACKED_BY\":\"jdoe\"},"
      "\"ALERT\":{\"entity_id\":\"db/mem\"},\"incident_number\":\"#9\"}",
      NGX_HTTP_VICTOROPS_ACK, 0, "", "9", "db/mem",
      "VictorOps incident #9", "jdoe", "" },

    { "ack user SYSTEM with nobody else stays SYSTEM",
      "{\"STATE.CURRENT_ALERT_PHASE\":\"ACKED\",\"STATE.ACK_USER\":"
      "\"SYSTEM\",\"entity_id\":\"e\",\"ack_msg\":\"on it\"}",
      NGX_HTTP_VICTOROPS_ACK, 0, "", "", "e", "e", "SYSTEM", "on it" },

    { "phase RESOLVED",
      "{\"INCIDENT.CURRENT_PHASE\":\"resolved\",\"entity_id\":\"e\"}",
      NGX_HTTP_VICTOROPS_RECOVERY, 0, "", "", "e", "e", "", "" },

    { "phase OK",
      "{\"alert_phase\":\"OK\",\"entity_id\":\"e\"}",
      NGX_HTTP_VICTOROPS_RECOVERY, 0, "", "", "e", "e", "", "" },

    { "message type ACKNOWLEDGEMENT",
      "{\"message_type\":\"acknowledgement\",\"entity_id\":\"e\"}",
      NGX_HTTP_VICTOROPS_ACK, 0, "", "", "e", "e", "", "" },

    { "informational",
      "{\"ALERT.message_type\":\"INFO\",\"entity_id\":\"e\"}",
      NGX_HTTP_VICTOROPS_IGNORED, NGX_HTTP_VICTOROPS_WHY_INFO,
      "informational message", "", "e", "e", "", "" },

    { "CRITICAL is an alert",
      "{\"message_type\":\"CRITICAL\",\"entity_display_name\":\"disk\","
      "\"summary\":\"not this\"}",
      NGX_HTTP_VICTOROPS_ALERT, 0, "", "", "", "disk", "", "" },

    { "no incident, entity or display name",
      "{\"message_type\":\"CRITICAL\",\"summary\":\"s\"}",
      NGX_HTTP_VICTOROPS_IGNORED, NGX_HTTP_VICTOROPS_WHY_INCIDENT,
      "not an incident event", "", "", "s", "", "" },

    { "template variables, empty and null values are unset",
      "{\"entity_id\":\"${{ALERT.entity_id}}\",\"STATE.ENTITY_ID\":\"\","
      "\"ALERT.entity_id\":null,\"incident\":42,\"summary\":\"sum\"}",
      NGX_HTTP_VICTOROPS_ALERT, 0, "", "42", "", "sum", "", "" },

    { "case-insensitive keys, booleans as words",
      "{\"Entity_ID\":true,\"NOTIFICATION_TYPE\":\"Recovery\","
      "\"RESOLVED_BY\":false}",
      NGX_HTTP_VICTOROPS_RECOVERY, 0, "", "", "true", "true", "false", "" },

    { "objects and arrays are not values",
      "{\"entity_id\":{\"x\":1},\"incident_number\":[1],"
      "\"entity_display_name\":\"n\"}",
      NGX_HTTP_VICTOROPS_ALERT, 0, "", "", "", "n", "", "" },

    { NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL }
};


void
core_classify(void)
{
    u_char                      *p, *end;
    ngx_str_t                    tsv, line;
    ngx_uint_t                   n;
    core_classify_case_t        *c;
    ngx_http_victorops_json_t   *root;
    ngx_http_victorops_event_t   ev;

    /* every fixture, as expected.tsv says */

    core_check(core_file("expected.tsv", &tsv) == NGX_OK);

    n = 0;
    p = tsv.data;
    end = tsv.data + tsv.len;

    while (p < end) {
        line.data = p;
        p = ngx_strlchr(p, end, '\n');
        p = p ? p : end;
        line.len = p - line.data;
        p++;

        if (line.len == 0 || ngx_strncmp(line.data, "file\t", 5) == 0) {
            continue;
        }

        core_check(core_classify_fixture(&line) == NGX_OK);
        n++;
    }

    core.name = NULL;
    core_check(n >= 12);

    /* the rules, one case each */

    for (c = core_classify_cases; c->name; c++) {
        core.name = c->name;

        root = core_json(c->json);
        core_check(root != NULL);

        if (root == NULL) {
            continue;
        }

        core_check(ngx_http_victorops_classify(core.pool, root, &ev)
                   == NGX_OK);
        core_check(ev.payload == root);
        core_check(ev.class == c->class);
        core_check(ev.why == c->why);
        core_check(core_str_eq(&ev.reason, c->reason));
        core_check(core_str_eq(&ev.incident, c->incident));
        core_check(core_str_eq(&ev.entity_id, c->entity));
        core_check(core_str_eq(&ev.summary, c->summary));
        core_check(core_str_eq(&ev.user, c->user));
        core_check(core_str_eq(&ev.message, c->message));
    }

    core.name = NULL;

    core_check(ngx_strcmp(ngx_http_victorops_class_name(
                              NGX_HTTP_VICTOROPS_ACK), "acknowledgement")
               == 0);
    core_check(ngx_strcmp(ngx_http_victorops_class_name(
                              NGX_HTTP_VICTOROPS_IGNORED), "ignored")
               == 0);
}


/* file, class, incident, entity_id, summary ("-": none, or not checked) */

static ngx_int_t
core_classify_fixture(ngx_str_t *line)
{
    ngx_str_t                    f[5], body;
    ngx_http_victorops_json_t   *root;
    ngx_http_victorops_event_t   ev;

    static u_char                name[256];     /* core.name, after too */

    if (core_split(line, f, 5) != 5 || f[0].len >= sizeof(name)) {
        return NGX_ERROR;
    }

    ngx_memcpy(name, f[0].data, f[0].len);
    name[f[0].len] = '\0';

    core.name = (const char *) name;

    if (core_file((const char *) name, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    root = NULL;

    if (f[0].len > 5
        && ngx_strncmp(f[0].data + f[0].len - 5, ".form", 5) == 0)
    {
        if (ngx_http_victorops_form_parse(core.pool, body.data, body.len,
                                          &root)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_http_victorops_form_unquote(root);

    } else {
        root = core_json((const char *) body.data);
    }

    if (root == NULL
        || ngx_http_victorops_classify(core.pool, root, &ev) != NGX_OK)
    {
        return NGX_ERROR;
    }

    core_check(f[1].len == ngx_strlen(ngx_http_victorops_class_name(ev.class))
               && ngx_strncmp(f[1].data,
                              ngx_http_victorops_class_name(ev.class),
                              f[1].len) == 0);

    if (f[2].len == 1 && f[2].data[0] == '-') {
        core_check(ev.incident.len == 0);

    } else {
        core_check(ev.incident.len == f[2].len
                   && ngx_strncmp(ev.incident.data, f[2].data, f[2].len)
                      == 0);
    }

    if (f[3].len == 1 && f[3].data[0] == '-') {
        core_check(ev.entity_id.len == 0);

    } else {
        core_check(ev.entity_id.len == f[3].len
                   && ngx_strncmp(ev.entity_id.data, f[3].data, f[3].len)
                      == 0);
    }

    if (!(f[4].len == 1 && f[4].data[0] == '-')) {
        core_check(ev.summary.len == f[4].len
                   && ngx_strncmp(ev.summary.data, f[4].data, f[4].len)
                      == 0);
    }

    /* ignored: a reason and why; else no why, something to key it by */

    if (ev.class == NGX_HTTP_VICTOROPS_IGNORED) {
        core_check(ev.reason.len > 0 && ev.why != 0);

    } else {
        core_check(ev.why == 0);
        core_check(ev.summary.len > 0);
    }

    return NGX_OK;
}


static ngx_uint_t
core_split(ngx_str_t *line, ngx_str_t *fields, ngx_uint_t n)
{
    u_char      *p, *end, *tab;
    ngx_uint_t   i;

    p = line->data;
    end = line->data + line->len;

    for (i = 0; i < n && p <= end; i++) {
        tab = ngx_strlchr(p, end, '\t');
        tab = tab ? tab : end;

        fields[i].data = p;
        fields[i].len = tab - p;

        p = tab + 1;
    }

    return i;
}


/*
 * What an event job keeps (event_record()): a JSON body in memory as
 * it came, in one buffer or in several (the headers' and the rest),
 * else the payload written out; classified again, the same event.
 */

void
core_event_record(void)
{
    ngx_buf_t                    b[3];
    ngx_str_t                    record, *text;
    ngx_chain_t                  cl[3];
    ngx_http_victorops_json_t   *root;
    ngx_http_victorops_event_t   ev, again;

    text = core_str("{\"entity_id\": \"web/1\", \"message_type\": "
                    "\"CRITICAL\", \"incident_number\": \"7\"}");

    root = core_json((const char *) text->data);
    core_check(root != NULL);

    if (root == NULL) {
        return;
    }

    core_check(ngx_http_victorops_classify(core.pool, root, &ev) == NGX_OK);

    ngx_memzero(b, sizeof(b));
    ngx_memzero(cl, sizeof(cl));

    /* one buffer and the empty last one: the body itself */

    core.name = "one buffer";

    b[0].temporary = 1;
    b[0].pos = text->data;
    b[0].last = text->data + text->len;
    b[1].last_buf = 1;
    cl[0].buf = &b[0];
    cl[0].next = &cl[1];
    cl[1].buf = &b[1];

    core_check(ngx_http_victorops_event_record(core.pool, cl, &ev, &record)
               == NGX_OK);
    core_check(record.data == text->data && record.len == text->len);

    /* two buffers: copied, as they came */

    core.name = "two buffers";

    b[0].last = text->data + 10;
    b[2].temporary = 1;
    b[2].pos = text->data + 10;
    b[2].last = text->data + text->len;
    cl[1].buf = &b[2];
    cl[1].next = &cl[2];
    cl[2].buf = &b[1];

    core_check(ngx_http_victorops_event_record(core.pool, cl, &ev, &record)
               == NGX_OK);
    core_check(record.len == text->len
               && ngx_memcmp(record.data, text->data, text->len) == 0
               && record.data != text->data);

    /* no body (a form, a file): the payload written out, the same event */

    core.name = "written out";

    core_check(ngx_http_victorops_event_record(core.pool, NULL, &ev, &record)
               == NGX_OK);
    core_check(core_str_eq(&record,
                           "{\"entity_id\":\"web/1\",\"message_type\":"
                           "\"CRITICAL\",\"incident_number\":\"7\"}"));

    core_check(ngx_http_victorops_json_parse(core.pool, &record,
                                             NGX_HTTP_VICTOROPS_MAX_DEPTH,
                                             &root)
               == NGX_OK
               && ngx_http_victorops_classify(core.pool, root, &again)
                  == NGX_OK
               && again.class == ev.class
               && core_str_eq(&again.incident, "7")
               && core_str_eq(&again.entity_id, "web/1"));

    core.name = NULL;
}
