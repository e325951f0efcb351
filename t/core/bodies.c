
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The Rootly body builders, byte for byte: the new alert (summary,
 * description, keys, portal URL, start time, labels, the delivery as
 * received), the timeline event, the alert resolution, the activity
 * texts, the incident key and the ISO 8601 times.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "core.h"


#define CORE_PORTAL  "https://portal.victorops.com"


typedef struct {
    const char                   *name;
    const char                   *json;
    const char                   *key;
    const char                   *activity;
    const char                   *alert;        /* NULL: not an alert */
} core_body_case_t;


static core_body_case_t  core_body_cases[] = {

    { "every field",
      "{\"entity_id\":\"web/1\",\"incident_number\":\"12\","
      "\"entity_display_name\":\"web 1 down\",\"state_message\":\"disk\","
      "\"vo_organization_id\":\"acme corp\",\"routing_key\":\"ops\","
      "\"timestamp\":1700000000123,\"host_name\":\"web-1\",\"x\":[true,null]}",
      "web/1",
      "Triggered again in VictorOps: web 1 down",
      "{\"data\":{\"type\":\"alerts\",\"attributes\":{"
      "\"summary\":\"web 1 down\",\"description\":\"disk\","
      "\"external_id\":\"victorops:acme corp:web/1\","
      "\"deduplication_key\":\"victorops:acme corp:web/1\","
      "\"external_url\":\"" CORE_PORTAL "/ui/acme%20corp/incident/12/"
      "details\",\"started_at\":\"2023-11-14T22:13:20.123Z\","
      "\"labels\":[{\"key\":\"routing_key\",\"value\":\"ops\"},"
      "{\"key\":\"host\",\"value\":\"web-1\"},"
      "{\"key\":\"incident_number\",\"value\":\"12\"},"
      "{\"key\":\"entity_id\",\"value\":\"web/1\"}],"
      "\"data\":{\"entity_id\":\"web/1\",\"incident_number\":\"12\","
      "\"entity_display_name\":\"web 1 down\",\"state_message\":\"disk\","
      "\"vo_organization_id\":\"acme corp\",\"routing_key\":\"ops\","
      "\"timestamp\":1700000000123,\"host_name\":\"web-1\","
      "\"x\":[true,null]}}}}" },

    { "an incident number only, the configured organization, seconds",
      "{\"incident\":\"5\",\"summary\":\"s\",\"started_at\":\"1700000000\","
      "\"message_type\":\"CRITICAL\",\"monitoring_tool\":\"nagios\"}",
      "#5",
      "Triggered again in VictorOps: s",
      "{\"data\":{\"type\":\"alerts\",\"attributes\":{\"summary\":\"s\","
      "\"external_id\":\"victorops:fallback:5\","
      "\"deduplication_key\":\"victorops:fallback:5\","
      "\"started_at\":\"2023-11-14T22:13:20.000Z\","
      "\"labels\":[{\"key\":\"monitoring_tool\",\"value\":\"nagios\"},"
      "{\"key\":\"incident_number\",\"value\":\"5\"},"
      "{\"key\":\"message_type\",\"value\":\"CRITICAL\"}],"
      "\"data\":{\"incident\":\"5\",\"summary\":\"s\","
      "\"started_at\":\"1700000000\",\"message_type\":\"CRITICAL\","
      "\"monitoring_tool\":\"nagios\"}}}}" },

    { "a display name only, an unreadable time",
      "{\"entity_display_name\":\"db \\u00e9\",\"timestamp\":\"soon\"}",
      "db \xc3\xa9",
      "Triggered again in VictorOps: db \xc3\xa9",
      "{\"data\":{\"type\":\"alerts\",\"attributes\":{"
      "\"summary\":\"db \xc3\xa9\","
      "\"external_id\":\"victorops:fallback:db \xc3\xa9\","
      "\"deduplication_key\":\"victorops:fallback:db \xc3\xa9\","
      "\"labels\":[],\"data\":{\"entity_display_name\":\"db \xc3\xa9\","
      "\"timestamp\":\"soon\"}}}}" },

    { "acknowledged, by whom and what they said",
      "{\"notification_type\":\"ACKNOWLEDGEMENT\",\"entity_id\":\"e\","
      "\"ack_user\":\"jdoe\",\"ack_msg\":\"looking\"}",
      "e", "Acknowledged in VictorOps by jdoe: looking", NULL },

    { "acknowledged by nobody known",
      "{\"notification_type\":\"ACKNOWLEDGEMENT\",\"entity_id\":\"e\"}",
      "e", "Acknowledged in VictorOps", NULL },

    { "resolved: who, never what",
      "{\"notification_type\":\"RECOVERY\",\"entity_id\":\"e\","
      "\"resolved_by\":\"ann\",\"state_message\":\"fixed\"}",
      "e", "Resolved in VictorOps by ann", NULL },

    { NULL, NULL, NULL, NULL, NULL }
};


typedef struct {
    const char                   *epoch;
    ngx_int_t                     rc;
    const char                   *iso;
} core_iso_case_t;


static core_iso_case_t  core_iso_cases[] = {
    { "0", NGX_OK, "1970-01-01T00:00:00.000Z" },
    { "99999999999", NGX_OK, "5138-11-16T09:46:39.000Z" },
    { "253402300799", NGX_OK, "1978-01-11T21:31:40.799Z" },
    { "253402300799999", NGX_OK, "9999-12-31T23:59:59.999Z" },
    { "253402300800000", NGX_DECLINED, "" },
    { "-1", NGX_DECLINED, "" },
    { "12ab", NGX_DECLINED, "" },
    { "", NGX_DECLINED, "" },
    { NULL, 0, NULL }
};


static void core_texts(void);
static void core_iso8601(void);


void
core_bodies(void)
{
    ngx_str_t                         key, text, body;
    core_body_case_t                 *c;
    ngx_http_victorops_json_t        *root;
    ngx_http_victorops_event_t        ev;
    ngx_http_victorops_alert_conf_t   conf;

    ngx_str_set(&conf.portal_url, CORE_PORTAL);
    ngx_str_set(&conf.organization, "fallback");

    for (c = core_body_cases; c->name; c++) {
        core.name = c->name;

        root = core_json(c->json);
        core_check(root != NULL
                   && ngx_http_victorops_classify(core.pool, root, &ev)
                      == NGX_OK);

        if (root == NULL) {
            continue;
        }

        core_check(ngx_http_victorops_event_key(core.pool, &ev, &key)
                   == NGX_OK
                   && core_str_eq(&key, c->key));

        core_check(ngx_http_victorops_activity_text(core.pool, &ev, &text)
                   == NGX_OK
                   && core_str_eq(&text, c->activity));

        if (c->alert == NULL) {
            core_check(ev.class != NGX_HTTP_VICTOROPS_ALERT);
            continue;
        }

        core_check(ev.class == NGX_HTTP_VICTOROPS_ALERT);

        if (ngx_http_victorops_rootly_alert(core.pool, &ev, &conf, &body)
            != NGX_OK)
        {
            core_check(0 /* rootly_alert() */);
            continue;
        }

        if (!core_str_eq(&body, c->alert)) {
            fprintf(stderr, "got:  %.*s\nwant: %s\n", (int) body.len,
                    body.data, c->alert);
        }

        core_check(core_str_eq(&body, c->alert));
        core_check(body.data[body.len] == '\n');
    }

    core.name = NULL;

    /* no portal_url: no external_url */

    root = core_json("{\"entity_id\":\"e\",\"incident\":\"1\","
                     "\"vo_organization_id\":\"o\"}");
    ngx_str_null(&conf.portal_url);

    core_check(root != NULL
               && ngx_http_victorops_classify(core.pool, root, &ev)
                  == NGX_OK
               && ngx_http_victorops_rootly_alert(core.pool, &ev, &conf,
                                                  &body)
                  == NGX_OK
               && ngx_strlcasestrn(body.data, body.data + body.len,
                                   (u_char *) "external_url", 12 - 1)
                  == NULL);

    core_texts();
    core_iso8601();
}


/* the timeline event and the alert resolution around a text */

static void
core_texts(void)
{
    ngx_str_t  *text, body;

    text = core_str("Acknowledged in VictorOps by jdoe: \"quoted\"");

    core_check(ngx_http_victorops_rootly_event(core.pool, text, &body)
               == NGX_OK);
    core_str_is(&body,
                "{\"data\":{\"type\":\"incident_events\",\"attributes\":{"
                "\"event\":\"Acknowledged in VictorOps by jdoe: "
                "\\\"quoted\\\"\",\"visibility\":\"internal\"}}}");
    core_check(body.data[body.len] == '\n');

    text = core_str("Resolved in VictorOps by ann");

    core_check(ngx_http_victorops_rootly_resolve(core.pool, text, &body)
               == NGX_OK);
    core_str_is(&body,
                "{\"data\":{\"type\":\"alerts\",\"attributes\":{"
                "\"resolution_message\":\"Resolved in VictorOps by ann\"}}}");

    /* yajl refuses what is not UTF-8: texts go through utf8_text() */

    text = core_str("caf\xe9");

    core_check(ngx_http_victorops_rootly_event(core.pool, text, &body)
               == NGX_ERROR);
}


/* epoch seconds, or milliseconds from 10^11 on, years 1970 to 9999 */

static void
core_iso8601(void)
{
    ngx_str_t         iso;
    ngx_int_t         rc;
    core_iso_case_t  *c;

    for (c = core_iso_cases; c->epoch; c++) {
        core.name = c->epoch;

        ngx_str_null(&iso);
        rc = ngx_http_victorops_iso8601(core.pool, core_str(c->epoch), &iso);

        core_check(rc == c->rc);
        core_check(core_str_eq(&iso, c->iso));
    }

    core.name = NULL;
}
