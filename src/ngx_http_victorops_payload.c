
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Field lookup and classification of VictorOps deliveries, following
 * the rule in fixtures/victorops/README.md, and the form-encoded body
 * of escalation-policy webhooks with its X-VictorOps-Signature.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_victorops_payload.h"


#define ngx_http_victorops_fields(a)  a, sizeof(a) / sizeof(ngx_str_t)


typedef struct {
    ngx_str_t                    *names;
    ngx_uint_t                    n;
    size_t                        offset;
} ngx_http_victorops_field_t;


/* a form member and where it came in the body, for a stable sort */

typedef struct {
    ngx_http_victorops_json_t    *member;
    ngx_uint_t                    index;
} ngx_http_victorops_form_member_t;


static ngx_int_t ngx_http_victorops_form_decode(ngx_pool_t *pool,
    u_char *start, u_char *end, ngx_str_t *out);
static int ngx_libc_cdecl ngx_http_victorops_form_member_cmp(const void *one,
    const void *two);
static ngx_int_t ngx_http_victorops_utf8_valid(ngx_str_t *s);
static size_t ngx_http_victorops_utf8_char(u_char *p, u_char *end);
static ngx_int_t ngx_http_victorops_event_summary(ngx_pool_t *pool,
    ngx_http_victorops_json_t *root, ngx_http_victorops_event_t *ev);
static ngx_int_t ngx_http_victorops_event_class(ngx_pool_t *pool,
    ngx_http_victorops_json_t *root, ngx_http_victorops_event_t *ev);
static void ngx_http_victorops_event_who(ngx_http_victorops_json_t *root,
    ngx_http_victorops_event_t *ev);
static ngx_uint_t ngx_http_victorops_field(ngx_http_victorops_json_t *root,
    ngx_str_t *names, ngx_uint_t n, ngx_str_t *value);
static ngx_uint_t ngx_http_victorops_value_set(ngx_http_victorops_json_t *v);
static ngx_uint_t ngx_http_victorops_is(ngx_str_t *value, const char *word);


static ngx_str_t  ngx_http_victorops_notification_fields[] = {
    ngx_string("notification_type"),
    ngx_string("notificationType"),
    ngx_string("NOTIFICATIONTYPE"),
    ngx_string("STATE.NOTIFICATIONTYPE"),
    ngx_string("ALERT.notificationtype")
};


static ngx_str_t  ngx_http_victorops_phase_fields[] = {
    ngx_string("STATE.CURRENT_ALERT_PHASE"),
    ngx_string("INCIDENT.CURRENT_PHASE"),
    ngx_string("alert_phase"),
    ngx_string("ALERT.message_type"),
    ngx_string("message_type")
};


static ngx_str_t  ngx_http_victorops_incident_fields[] = {
    ngx_string("STATE.INCIDENT_NAME"),
    ngx_string("INCIDENT.INCIDENT_NAME"),
    ngx_string("INCIDENT.INCIDENT_ID"),
    ngx_string("incident_number"),
    ngx_string("incident")
};


static ngx_str_t  ngx_http_victorops_entity_fields[] = {
    ngx_string("ALERT.entity_id"),
    ngx_string("STATE.ENTITY_ID"),
    ngx_string("entity_id")
};


static ngx_str_t  ngx_http_victorops_display_fields[] = {
    ngx_string("ALERT.entity_display_name"),
    ngx_string("INCIDENT.ENTITY_DISPLAY_NAME"),
    ngx_string("entity_display_name")
};


static ngx_str_t  ngx_http_victorops_summary_fields[] = {
    ngx_string("summary")
};


static ngx_str_t  ngx_http_victorops_description_fields[] = {
    ngx_string("ALERT.state_message"),
    ngx_string("STATE.STATE_MESSAGE"),
    ngx_string("state_message")
};


static ngx_str_t  ngx_http_victorops_org_fields[] = {
    ngx_string("ALERT.VO_ORGANIZATION_ID"),
    ngx_string("vo_organization_id"),
    ngx_string("organization")
};


static ngx_str_t  ngx_http_victorops_routing_fields[] = {
    ngx_string("ALERT.routing_key"),
    ngx_string("INCIDENT.ROUTING_KEY"),
    ngx_string("routing_key")
};


static ngx_str_t  ngx_http_victorops_tool_fields[] = {
    ngx_string("ALERT.monitoring_tool"),
    ngx_string("monitoring_tool")
};


static ngx_str_t  ngx_http_victorops_host_fields[] = {
    ngx_string("ALERT.host_name"),
    ngx_string("host_name"),
    ngx_string("host")
};


static ngx_str_t  ngx_http_victorops_message_type_fields[] = {
    ngx_string("ALERT.message_type"),
    ngx_string("message_type"),
    ngx_string("alert_type")
};


static ngx_str_t  ngx_http_victorops_time_fields[] = {
    ngx_string("INCIDENT.INCIDENT_TIMESTAMP"),
    ngx_string("STATE.STATE_START_TIME"),
    ngx_string("ALERT.timestamp"),
    ngx_string("timestamp"),
    ngx_string("started_at")
};


static ngx_str_t  ngx_http_victorops_ack_user_fields[] = {
    ngx_string("STATE.ACKED_BY"),
    ngx_string("ALERT.ack_author"),
    ngx_string("STATE.ACK_USER"),
    ngx_string("ack_user"),
    ngx_string("ack_author"),
    ngx_string("user")
};


static ngx_str_t  ngx_http_victorops_ack_message_fields[] = {
    ngx_string("STATE.ACK_MSG"),
    ngx_string("ALERT.ack_msg"),
    ngx_string("ack_msg"),
    ngx_string("ack_message")
};


static ngx_str_t  ngx_http_victorops_resolve_users[] = {
    ngx_string("STATE.RESOLVED_BY"),
    ngx_string("resolved_by"),
    ngx_string("user")
};


static ngx_str_t  ngx_http_victorops_resolve_messages[] = {
    ngx_string("ALERT.state_message"),
    ngx_string("state_message")
};


#define ngx_http_victorops_event_field(names, field)                          \
    { names, sizeof(names) / sizeof(ngx_str_t),                               \
      offsetof(ngx_http_victorops_event_t, field) }


static ngx_http_victorops_field_t  ngx_http_victorops_event_fields[] = {
    ngx_http_victorops_event_field(ngx_http_victorops_incident_fields,
                                   incident),
    ngx_http_victorops_event_field(ngx_http_victorops_entity_fields,
                                   entity_id),
    ngx_http_victorops_event_field(ngx_http_victorops_display_fields,
                                   display_name),
    ngx_http_victorops_event_field(ngx_http_victorops_description_fields,
                                   description),
    ngx_http_victorops_event_field(ngx_http_victorops_org_fields,
                                   organization),
    ngx_http_victorops_event_field(ngx_http_victorops_routing_fields,
                                   routing_key),
    ngx_http_victorops_event_field(ngx_http_victorops_tool_fields,
                                   monitoring_tool),
    ngx_http_victorops_event_field(ngx_http_victorops_host_fields, host),
    ngx_http_victorops_event_field(ngx_http_victorops_message_type_fields,
                                   message_type),
    ngx_http_victorops_event_field(ngx_http_victorops_time_fields,
                                   started_at),
    { NULL, 0, 0 }
};


static const char  *ngx_http_victorops_class_names[] = {
    "alert",
    "acknowledgement",
    "recovery",
    "ignored"
};


const char *
ngx_http_victorops_class_name(ngx_uint_t class)
{
    return ngx_http_victorops_class_names[class];
}


/*
 * Fills "ev" from a delivery: its fields, its summary and its class
 * (ignored ones with "why" and a reason).  NGX_ERROR: out of memory.
 */

ngx_int_t
ngx_http_victorops_classify(ngx_pool_t *pool,
    ngx_http_victorops_json_t *root, ngx_http_victorops_event_t *ev)
{
    ngx_int_t                    rc;
    ngx_http_victorops_field_t  *f;

    ngx_memzero(ev, sizeof(ngx_http_victorops_event_t));

    ev->payload = root;

    for (f = ngx_http_victorops_event_fields; f->names; f++) {
        (void) ngx_http_victorops_field(root, f->names, f->n,
                                        (ngx_str_t *) ((u_char *) ev
                                                       + f->offset));
    }

    if (ev->incident.len && ev->incident.data[0] == '#') {
        ev->incident.len--;
        ev->incident.data++;
    }

    if (ngx_http_victorops_event_summary(pool, root, ev) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_victorops_event_class(pool, root, ev);

    if (rc != NGX_OK) {
        return (rc == NGX_DONE) ? NGX_OK : NGX_ERROR;
    }

    if (ev->incident.len == 0
        && ev->entity_id.len == 0
        && ev->display_name.len == 0)
    {
        ev->class = NGX_HTTP_VICTOROPS_IGNORED;
        ev->why = NGX_HTTP_VICTOROPS_WHY_INCIDENT;
        ngx_str_set(&ev->reason, "not an incident event");
        return NGX_OK;
    }

    ngx_http_victorops_event_who(root, ev);

    return NGX_OK;
}


/*
 * The payload once, as an event job keeps it (rootly.c classifies it
 * again at dispatch): "body", a JSON body as it came, when it is in
 * memory (in one buffer, or several: what came with the headers and
 * the rest), else (NULL, or in a file) the payload written out.  Not
 * compressed: zlib takes ~20 us to save ~700 bytes of a 1.3 KB
 * payload, more than the write it saves.
 */

ngx_int_t
ngx_http_victorops_event_record(ngx_pool_t *pool, ngx_chain_t *body,
    ngx_http_victorops_event_t *ev, ngx_str_t *record)
{
    off_t         size;
    u_char       *p;
    yajl_gen      g;
    ngx_uint_t    n;
    ngx_buf_t    *one;
    ngx_chain_t  *cl;

    n = 0;
    size = 0;
    one = NULL;

    for (cl = body; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            n = 0;
            break;
        }

        if (ngx_buf_size(cl->buf)) {
            one = cl->buf;
            size += ngx_buf_size(cl->buf);
            n++;
        }
    }

    if (n == 1) {
        record->data = one->pos;
        record->len = one->last - one->pos;
        return NGX_OK;
    }

    if (n > 1) {
        p = ngx_pnalloc(pool, (size_t) size);
        if (p == NULL) {
            return NGX_ERROR;
        }

        record->data = p;

        for (cl = body; cl; cl = cl->next) {
            if (ngx_buf_size(cl->buf)) {
                p = ngx_cpymem(p, cl->buf->pos,
                               cl->buf->last - cl->buf->pos);
            }
        }

        record->len = p - record->data;
        return NGX_OK;
    }

    g = ngx_http_victorops_gen_create(pool);

    if (g == NULL
        || ngx_http_victorops_gen_value(g, ev->payload) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_victorops_gen_finish(g, pool, record);
}


/* summary: display name, "summary", "VictorOps incident #N", entity */

static ngx_int_t
ngx_http_victorops_event_summary(ngx_pool_t *pool,
    ngx_http_victorops_json_t *root, ngx_http_victorops_event_t *ev)
{
    size_t   len;
    u_char  *p;

    if (ev->display_name.len) {
        ev->summary = ev->display_name;

    } else if (ngx_http_victorops_field(root,
                  ngx_http_victorops_fields(ngx_http_victorops_summary_fields),
                  &ev->summary))
    {
        /* void */

    } else if (ev->incident.len) {
        len = sizeof("VictorOps incident #") - 1 + ev->incident.len;

        p = ngx_pnalloc(pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ev->summary.len = len;
        ev->summary.data = p;
        ngx_sprintf(p, "VictorOps incident #%V", &ev->incident);

    } else {
        ev->summary = ev->entity_id;
    }

    return NGX_OK;
}


/*
 * The class: notification type first, then the lifecycle fields.
 * NGX_DONE: ignored ("why" and the reason set), nothing more to read.
 */

static ngx_int_t
ngx_http_victorops_event_class(ngx_pool_t *pool,
    ngx_http_victorops_json_t *root, ngx_http_victorops_event_t *ev)
{
    size_t      len;
    u_char     *p;
    ngx_str_t   phase;

    if (ngx_http_victorops_field(root,
            ngx_http_victorops_fields(ngx_http_victorops_notification_fields),
            &ev->notification_type))
    {
        if (ngx_http_victorops_is(&ev->notification_type, "ACKNOWLEDGEMENT")) {
            ev->class = NGX_HTTP_VICTOROPS_ACK;
            return NGX_OK;
        }

        if (ngx_http_victorops_is(&ev->notification_type, "RECOVERY")) {
            ev->class = NGX_HTTP_VICTOROPS_RECOVERY;
            return NGX_OK;
        }

        ev->class = NGX_HTTP_VICTOROPS_IGNORED;
        ev->why = NGX_HTTP_VICTOROPS_WHY_TYPE;

        len = ngx_http_victorops_utf8_cut(ev->notification_type.data,
                  ev->notification_type.data
                  + ngx_min(ev->notification_type.len, 64))
              - ev->notification_type.data;

        p = ngx_pnalloc(pool, sizeof("unsupported notification type ") + len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ev->reason.data = p;
        ev->reason.len = ngx_sprintf(p, "unsupported notification type %*s",
                                     len, ev->notification_type.data)
                         - p;
        return NGX_DONE;
    }

    if (!ngx_http_victorops_field(root,
             ngx_http_victorops_fields(ngx_http_victorops_phase_fields),
             &phase))
    {
        ev->class = NGX_HTTP_VICTOROPS_ALERT;
        return NGX_OK;
    }

    if (ngx_http_victorops_is(&phase, "ACKED")
        || ngx_http_victorops_is(&phase, "ACKNOWLEDGEMENT"))
    {
        ev->class = NGX_HTTP_VICTOROPS_ACK;

    } else if (ngx_http_victorops_is(&phase, "RESOLVED")
               || ngx_http_victorops_is(&phase, "RECOVERY")
               || ngx_http_victorops_is(&phase, "OK"))
    {
        ev->class = NGX_HTTP_VICTOROPS_RECOVERY;

    } else if (ngx_http_victorops_is(&phase, "INFO")) {
        ev->class = NGX_HTTP_VICTOROPS_IGNORED;
        ev->why = NGX_HTTP_VICTOROPS_WHY_INFO;
        ngx_str_set(&ev->reason, "informational message");
        return NGX_DONE;

    } else {
        ev->class = NGX_HTTP_VICTOROPS_ALERT;
    }

    return NGX_OK;
}


/* who acknowledged or resolved, and what they said */

static void
ngx_http_victorops_event_who(ngx_http_victorops_json_t *root,
    ngx_http_victorops_event_t *ev)
{
    ngx_http_victorops_json_t  *v;

    if (ev->class == NGX_HTTP_VICTOROPS_ACK) {
        (void) ngx_http_victorops_field(root,
                 ngx_http_victorops_fields(ngx_http_victorops_ack_user_fields),
                 &ev->user);
        (void) ngx_http_victorops_field(root,
                 ngx_http_victorops_fields(
                                       ngx_http_victorops_ack_message_fields),
                 &ev->message);

        /* STATE.ACK_USER reads "SYSTEM" until somebody acknowledges */

        if (ngx_http_victorops_is(&ev->user, "SYSTEM")) {
            v = ngx_http_victorops_json_lookup(root,
                                  &ngx_http_victorops_ack_user_fields[0]);
            if (v && ngx_http_victorops_value_set(v)) {
                ev->user = v->value;
            }
        }

    } else if (ev->class == NGX_HTTP_VICTOROPS_RECOVERY) {
        (void) ngx_http_victorops_field(root,
                   ngx_http_victorops_fields(ngx_http_victorops_resolve_users),
                   &ev->user);
        (void) ngx_http_victorops_field(root,
                   ngx_http_victorops_fields(
                                          ngx_http_victorops_resolve_messages),
                   &ev->message);
    }
}


static ngx_uint_t
ngx_http_victorops_field(ngx_http_victorops_json_t *root, ngx_str_t *names,
    ngx_uint_t n, ngx_str_t *value)
{
    ngx_uint_t                  i;
    ngx_http_victorops_json_t  *v;

    for (i = 0; i < n; i++) {
        v = ngx_http_victorops_json_lookup(root, &names[i]);

        if (v && ngx_http_victorops_value_set(v)) {
            *value = v->value;
            return 1;
        }
    }

    value->len = 0;
    value->data = NULL;

    return 0;
}


/*
 * Unset: null, empty, not a scalar, or an unresolved template
 * variable such as "${{ALERT.entity_id}}", which VictorOps sends as is.
 */

static ngx_uint_t
ngx_http_victorops_value_set(ngx_http_victorops_json_t *v)
{
    switch (v->type) {

    case NGX_HTTP_VICTOROPS_JSON_STRING:
        if (v->value.len == 0) {
            return 0;
        }

        return ngx_strlcasestrn(v->value.data, v->value.data + v->value.len,
                                (u_char *) "${{", 3 - 1)
               == NULL;

    case NGX_HTTP_VICTOROPS_JSON_NUMBER:
        return 1;

    case NGX_HTTP_VICTOROPS_JSON_TRUE:
        ngx_str_set(&v->value, "true");
        return 1;

    case NGX_HTTP_VICTOROPS_JSON_FALSE:
        ngx_str_set(&v->value, "false");
        return 1;

    default:
        return 0;
    }
}


static ngx_uint_t
ngx_http_victorops_is(ngx_str_t *value, const char *word)
{
    size_t  len;

    len = ngx_strlen(word);

    return value->len == len
           && ngx_strncasecmp(value->data, (u_char *) word, len) == 0;
}


/*
 * An escalation-policy webhook: "a=%22x%22&b=y".  Members keep their
 * decoded values, quotes included, because the signature covers them;
 * ngx_http_victorops_form_unquote() strips the quotes afterwards.
 */

ngx_int_t
ngx_http_victorops_form_parse(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_http_victorops_json_t **root)
{
    u_char                     *p, *end, *amp, *eq;
    ngx_http_victorops_json_t  *obj, *m, *last;

    obj = ngx_pcalloc(pool, sizeof(ngx_http_victorops_json_t));
    if (obj == NULL) {
        return NGX_ERROR;
    }

    obj->type = NGX_HTTP_VICTOROPS_JSON_OBJECT;
    last = NULL;

    p = data;
    end = data + len;

    while (p < end) {
        amp = ngx_strlchr(p, end, '&');
        if (amp == NULL) {
            amp = end;
        }

        if (amp == p) {
            p++;
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');
        if (eq == NULL) {
            eq = amp;
        }

        m = ngx_pcalloc(pool, sizeof(ngx_http_victorops_json_t));
        if (m == NULL) {
            return NGX_ERROR;
        }

        m->type = NGX_HTTP_VICTOROPS_JSON_STRING;

        if (ngx_http_victorops_form_decode(pool, p, eq, &m->key) != NGX_OK
            || ngx_http_victorops_form_decode(pool, eq < amp ? eq + 1 : amp,
                                              amp, &m->value)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (!ngx_http_victorops_utf8_valid(&m->key)
            || !ngx_http_victorops_utf8_valid(&m->value))
        {
            return NGX_DECLINED;
        }

        if (last == NULL) {
            obj->child = m;

        } else {
            last->next = m;
        }

        last = m;
        p = amp + 1;
    }

    *root = obj;

    return NGX_OK;
}


void
ngx_http_victorops_form_unquote(ngx_http_victorops_json_t *root)
{
    ngx_http_victorops_json_t  *m;

    for (m = root->child; m; m = m->next) {
        if (m->value.len >= 2
            && m->value.data[0] == '"'
            && m->value.data[m->value.len - 1] == '"')
        {
            m->value.data++;
            m->value.len -= 2;
        }
    }
}


/*
 * Counts the members of a form body (what ngx_http_victorops_form_parse()
 * makes of it: "&"-separated, empty ones skipped) over consecutive
 * pieces of the body.  NGX_DECLINED as soon as there are more than
 * "max" (c->fields is then max + 1).
 */

ngx_int_t
ngx_http_victorops_form_count(ngx_http_victorops_form_count_t *c, u_char *p,
    size_t len, ngx_uint_t max)
{
    u_char  *end;

    for (end = p + len; p < end; p++) {

        if (*p == '&') {
            c->in_field = 0;
            continue;
        }

        if (!c->in_field) {
            c->in_field = 1;

            if (++c->fields > max) {
                return NGX_DECLINED;
            }
        }
    }

    return NGX_OK;
}


/*
 * The value of an X-VictorOps-Signature header, base64-decoded into
 * "mac" (NGX_HTTP_VICTOROPS_SIGNATURE_LEN bytes).  NGX_DECLINED: it is
 * not the base64 of an HMAC-SHA1, so no body can match it.
 */

ngx_int_t
ngx_http_victorops_form_signature_decode(ngx_str_t *header, u_char *mac)
{
    u_char     buf[NGX_HTTP_VICTOROPS_SIGNATURE_LEN + 4];
    ngx_str_t  decoded;

    if (header->len == 0
        || ngx_base64_decoded_length(header->len) > sizeof(buf))
    {
        return NGX_DECLINED;
    }

    decoded.data = buf;

    if (ngx_decode_base64(&decoded, header) != NGX_OK
        || decoded.len != NGX_HTTP_VICTOROPS_SIGNATURE_LEN)
    {
        return NGX_DECLINED;
    }

    ngx_memcpy(mac, buf, NGX_HTTP_VICTOROPS_SIGNATURE_LEN);

    return NGX_OK;
}


/*
 * X-VictorOps-Signature: Base64(HMAC-SHA1(auth code, the webhook URL as
 * configured in VictorOps followed by each key and value of the form,
 * sorted by key, with no delimiter)).  Values are the decoded ones,
 * literal quotes included (before ngx_http_victorops_form_unquote());
 * members with the same key keep their order in the body.  "mac" is the
 * decoded header; every auth code in "codes" (ngx_str_t) is tried, each
 * compared in constant time.  Sorting is O(n log n): the caller caps n.
 *
 * NGX_OK: one of the codes signed it; NGX_DECLINED: none did;
 * NGX_ERROR: no memory.
 */

ngx_int_t
ngx_http_victorops_form_signature(ngx_pool_t *pool, ngx_str_t *url,
    ngx_http_victorops_json_t *form, ngx_array_t *codes, u_char *mac)
{
    size_t                             len;
    u_char                            *data, *p;
    u_char                             digest[EVP_MAX_MD_SIZE];
    ngx_str_t                         *code;
    ngx_uint_t                         i, n, matched;
    unsigned int                       dlen;
    ngx_http_victorops_json_t         *m;
    ngx_http_victorops_form_member_t  *members;

    n = 0;
    len = url->len;

    for (m = form->child; m; m = m->next) {
        n++;
        len += m->key.len + m->value.len;
    }

    members = ngx_palloc(pool,
                         (n + 1) * sizeof(ngx_http_victorops_form_member_t));
    data = ngx_pnalloc(pool, len + 1);
    if (members == NULL || data == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    for (m = form->child; m; m = m->next) {
        members[n].member = m;
        members[n].index = n;
        n++;
    }

    if (n > 1) {
        ngx_qsort(members, n, sizeof(ngx_http_victorops_form_member_t),
                  ngx_http_victorops_form_member_cmp);
    }

    p = ngx_cpymem(data, url->data, url->len);

    for (i = 0; i < n; i++) {
        m = members[i].member;
        p = ngx_cpymem(p, m->key.data, m->key.len);
        p = ngx_cpymem(p, m->value.data, m->value.len);
    }

    code = codes->elts;
    matched = 0;

    for (i = 0; i < codes->nelts; i++) {
        if (HMAC(EVP_sha1(), code[i].data, (int) code[i].len, data, p - data,
                 digest, &dlen)
            == NULL
            || dlen != NGX_HTTP_VICTOROPS_SIGNATURE_LEN)
        {
            return NGX_ERROR;
        }

        matched |= (CRYPTO_memcmp(digest, mac,
                                  NGX_HTTP_VICTOROPS_SIGNATURE_LEN)
                    == 0);
    }

    return matched ? NGX_OK : NGX_DECLINED;
}


static int ngx_libc_cdecl
ngx_http_victorops_form_member_cmp(const void *one, const void *two)
{
    ngx_int_t                          rc;
    ngx_http_victorops_form_member_t  *a, *b;

    a = (ngx_http_victorops_form_member_t *) one;
    b = (ngx_http_victorops_form_member_t *) two;

    rc = ngx_memn2cmp(a->member->key.data, b->member->key.data,
                      a->member->key.len, b->member->key.len);

    if (rc != 0) {
        return (rc < 0) ? -1 : 1;
    }

    return (a->index < b->index) ? -1 : (a->index > b->index);
}


static ngx_int_t
ngx_http_victorops_form_decode(ngx_pool_t *pool, u_char *start, u_char *end,
    ngx_str_t *out)
{
    u_char  *p, *dst, *src;

    p = ngx_pnalloc(pool, end - start + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    dst = p;

    for (src = start; src < end; src++) {
        *dst++ = (*src == '+') ? ' ' : *src;
    }

    src = p;
    dst = p;
    ngx_unescape_uri(&dst, &src, end - start, 0);

    *dst = '\0';
    out->data = p;
    out->len = dst - p;

    return NGX_OK;
}


/*
 * Well-formed UTF-8 sequences, as yajl's generator checks them: a lead
 * byte 110xxxxx, 1110xxxx or 11110xxx followed by as many 10xxxxxx.
 */

static ngx_int_t
ngx_http_victorops_utf8_valid(ngx_str_t *s)
{
    u_char      *p, *end;
    ngx_uint_t   n;

    p = s->data;
    end = s->data + s->len;

    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }

        if ((*p & 0xe0) == 0xc0) {
            n = 1;

        } else if ((*p & 0xf0) == 0xe0) {
            n = 2;

        } else if ((*p & 0xf8) == 0xf0) {
            n = 3;

        } else {
            return 0;
        }

        if ((size_t) (end - p) <= n) {
            return 0;
        }

        for (p++; n; n--, p++) {
            if ((*p & 0xc0) != 0x80) {
                return 0;
            }
        }
    }

    return 1;
}


/*
 * The end of a text cut at "end" (a byte limit, or ngx_slprintf() at
 * its buffer's end): before a last UTF-8 sequence cut short, which
 * yajl's generator (yajl_gen_validate_utf8) would refuse.  Every cut
 * of a text that may end up in JSON goes through here; the text before
 * "end" is taken as UTF-8 (ngx_http_victorops_utf8_text() makes it so).
 */

u_char *
ngx_http_victorops_utf8_cut(u_char *start, u_char *end)
{
    u_char  *p;
    size_t   n;

    /* back over up to 3 continuation bytes to the lead byte */

    for (p = end; p > start && end - p < 3 && (p[-1] & 0xc0) == 0x80; p--) {
        /* void */
    }

    if (p == start || p[-1] < 0xc0) {
        return end;
    }

    p--;

    n = (*p >= 0xf0) ? 4 : (*p >= 0xe0) ? 3 : 2;

    return ((size_t) (end - p) < n) ? p : end;
}


/*
 * Copies "src" to "dst" as well-formed UTF-8 (RFC 3629: no overlong
 * forms, surrogates or code points past U+10FFFF), in at most "size"
 * bytes: a byte that begins no such character (a Latin-1 error page, a
 * sequence cut short) becomes U+FFFD, and the copy ends before the
 * first character that does not fit; control characters (a newline
 * that would forge a log line) become spaces.  Returns the end of the
 * copy.  Texts from upstream answers are recorded through here.
 */

u_char *
ngx_http_victorops_utf8_text(u_char *dst, size_t size, u_char *src,
    size_t len)
{
    u_char  *last, *end;
    size_t   n;

    last = dst + size;
    end = src + len;

    while (src < end) {
        n = ngx_http_victorops_utf8_char(src, end);

        if (n == 0) {
            if (last - dst < 3) {
                break;
            }

            dst = ngx_cpymem(dst, "\xef\xbf\xbd", 3);
            src++;
            continue;
        }

        if ((size_t) (last - dst) < n) {
            break;
        }

        if (n == 1 && (*src < 0x20 || *src == 0x7f)) {
            *dst++ = ' ';
            src++;
            continue;
        }

        dst = ngx_cpymem(dst, src, n);
        src += n;
    }

    return dst;
}


/* the length of the well-formed UTF-8 character at "p", or 0 */

static size_t
ngx_http_victorops_utf8_char(u_char *p, u_char *end)
{
    u_char  c, lo, hi;
    size_t  n, i;

    c = *p;

    if (c < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = (c == 0xe0) ? 0xa0 : 0x80;     /* overlong */
        hi = (c == 0xed) ? 0x9f : 0xbf;     /* surrogates */

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = (c == 0xf0) ? 0x90 : 0x80;     /* overlong */
        hi = (c == 0xf4) ? 0x8f : 0xbf;     /* past U+10FFFF */

    } else {
        return 0;
    }

    if ((size_t) (end - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }

    return n;
}
