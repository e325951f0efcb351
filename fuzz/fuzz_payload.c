
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * libFuzzer target for the request-free payload code: the yajl
 * streaming parser fed in chunks, the form-encoded parser, the
 * classifier, the Rootly alert body builder, and the decisions of what
 * a delivery becomes and which Rootly call its job makes (decide.c),
 * linked against real nginx core objects (see core.mk).
 *
 * Input layout:
 *
 *   byte 0     flags: bit 0   form-encoded body (else JSON)
 *                     bit 1   after the split, feed the rest in chunks
 *                             of ((flags >> 2) + 1) bytes (1..64)
 *   bytes 1-2  split offset, little endian, modulo (body length + 1)
 *   bytes 3-   the body
 *
 * Every chunk is copied into its own malloc()ed buffer that is freed
 * right after the call, so ASan catches anything that keeps pointers
 * into the request body.  The pool is created with NGX_DEBUG_PALLOC, so
 * every pool allocation is its own malloc() block and ASan sees
 * overflows of pool allocations too.
 *
 * Invariants checked (abort() on violation):
 *
 *   - chunked and one-piece parses of the same JSON agree: same result,
 *     same tree, same error message;
 *   - the error offset is within the body (or one past its end);
 *   - the form parser returns NGX_OK or NGX_DECLINED, and an object of
 *     strings;
 *   - form_count() over the same chunking as the JSON parser counts the
 *     members the form parser makes, and stops at exactly max + 1;
 *   - form_signature() accepts the HMAC-SHA1 computed here independently
 *     (URL + members in a stable merge sort by key, the second of two
 *     auth codes), refuses it with one bit flipped or without that code;
 *     form_signature_decode() gives back a base64-encoded MAC, and takes
 *     only base64 of 20 bytes (a piece of the input as the header);
 *   - classify succeeds, the class is one of the four, class_name() is
 *     defined, an ignored event has a reason and a "why" code, any other
 *     has no "why" and an incident, entity or display name, an alert has
 *     a summary;
 *   - the payload an event job keeps (event_record(), written out)
 *     re-parses and classifies as the delivery did (class, why,
 *     incident, entity, summary), and decide_dispatch() with nothing
 *     linked makes an alert of an alert and ignores anything else;
 *   - decide_event, over every combination of what the link and queue
 *     lookups may find: an ignored class is ignored whatever is linked,
 *     for its own "why" and reason; a lookup is asked for exactly while
 *     its answer is unknown; an alert with no Rootly incident linked
 *     makes an alert job, and nothing else does; other events make
 *     activity, or are ignored for want of a link (with a reason)
 *     exactly when nothing is linked nor queued; the duplicate hash is
 *     the same for the same delivery, another for another class;
 *   - decide_call for the activity job, whatever the link holds (ids
 *     made of the delivery's bytes): the linked incident first, else
 *     the linked alert for an acknowledgement or a recovery, else
 *     nothing; the link asked for only while unknown; the path is the
 *     prefix, the id escaped as one path segment that unescapes back
 *     to it, and the suffix; bodies re-parse; a note goes to the
 *     incident it names;
 *   - for an alert, rootly_alert succeeds, the body is followed by the
 *     '\n' gen_finish() promises, re-parses as JSON with the same parser,
 *     has the JSON:API shape, its summary and keys match the event, its
 *     external_url is exactly <portal>/ui/<escaped organization>/
 *     incident/<escaped incident>/details, started_at
 *     is an ISO 8601 time that converts back to the epoch value, and the
 *     embedded "data" is the payload tree, member by member.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_victorops_decide.h"
#include "fuzz_decide.h"
#include "core_init.h"


#define FUZZ_POOL_SIZE     4096
#define FUZZ_HEADER        3
#define FUZZ_MAX_DEPTH     NGX_HTTP_VICTOROPS_MAX_DEPTH
#define FUZZ_PORTAL        "https://portal.victorops.com"
#define FUZZ_ORG           "fuzz"
#define FUZZ_URL           "https://hooks.example.com/victorops/escalation"
#define FUZZ_CODE_OLD      "fuzz-auth-code-old"
#define FUZZ_CODE_NEW      "fuzz-auth-code-new"


#define fuzz_check(expr)                                                      \
    if (!(expr)) {                                                            \
        fuzz_fail(__LINE__, #expr);                                           \
    }


static void fuzz_fail(int line, const char *expr) __attribute__((noreturn));
static void fuzz_check_portal(ngx_http_victorops_event_t *ev,
    ngx_http_victorops_alert_conf_t *conf, ngx_http_victorops_json_t *v);


static ngx_log_t       *fuzz_log;

/*
 * FUZZ_AVOID=form-utf8: while the form parser accepts UTF-8 that yajl's
 * generator rejects (ngx_utf8_decode() is lenient; see README.md), let
 * rootly_alert() fail on such form bodies.  Off by default.
 */
static ngx_uint_t       fuzz_avoid_form_utf8;


static void
fuzz_fail(int line, const char *expr)
{
    fprintf(stderr, "fuzz_payload.c:%d: invariant violated: %s\n",
            line, expr);
    abort();
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char  *avoid;

    fuzz_log = core_nginx_init();
    if (fuzz_log == NULL) {
        return 1;
    }

    avoid = getenv("FUZZ_AVOID");

    if (avoid && strstr(avoid, "form-utf8")) {
        fuzz_avoid_form_utf8 = 1;
        fprintf(stderr, "fuzz_payload: FUZZ_AVOID=form-utf8: alerts from "
                        "form bodies yajl calls invalid UTF-8 may fail\n");
    }

    return 0;
}


/* the same tree, member by member */

static int
fuzz_tree_equal(ngx_http_victorops_json_t *a, ngx_http_victorops_json_t *b)
{
    ngx_http_victorops_json_t  *x, *y;

    if (a->type != b->type) {
        return 0;
    }

    switch (a->type) {

    case NGX_HTTP_VICTOROPS_JSON_NUMBER:
    case NGX_HTTP_VICTOROPS_JSON_STRING:
        if (a->value.len != b->value.len
            || ngx_memcmp(a->value.data, b->value.data, a->value.len) != 0)
        {
            return 0;
        }
        break;

    case NGX_HTTP_VICTOROPS_JSON_OBJECT:
    case NGX_HTTP_VICTOROPS_JSON_ARRAY:

        for (x = a->child, y = b->child; x && y; x = x->next, y = y->next) {

            if (a->type == NGX_HTTP_VICTOROPS_JSON_OBJECT
                && (x->key.len != y->key.len
                    || ngx_memcmp(x->key.data, y->key.data, x->key.len) != 0))
            {
                return 0;
            }

            if (!fuzz_tree_equal(x, y)) {
                return 0;
            }
        }

        if (x || y) {
            return 0;
        }

        break;

    default:
        /* null, true, false: the classifier rewrites the values of the last
         * two ("true", "false"); only the type counts */
        break;
    }

    return 1;
}


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


static int
fuzz_str_is(ngx_http_victorops_json_t *v, ngx_str_t *s)
{
    return v != NULL
           && v->value.len == s->len
           && ngx_memcmp(v->value.data, s->data, s->len) == 0;
}


static ngx_int_t
fuzz_parse(ngx_pool_t *pool, const uint8_t *body, size_t len, size_t split,
    size_t chunk, ngx_http_victorops_json_t **root, ngx_str_t *error,
    off_t *offset)
{
    u_char                       *buf;
    size_t                        pos, n;
    ngx_int_t                     rc;
    ngx_uint_t                    first;
    ngx_http_victorops_parser_t  *p;

    p = ngx_http_victorops_parser_create(pool, FUZZ_MAX_DEPTH);
    fuzz_check(p != NULL);

    *root = NULL;
    rc = NGX_OK;
    pos = 0;
    first = 1;

    while (rc == NGX_OK) {

        if (first) {
            n = split;
            first = 0;

        } else if (chunk) {
            n = ngx_min(chunk, len - pos);

        } else {
            n = len - pos;
        }

        /* an exact-size copy, freed once the parser has returned */

        buf = malloc(n ? n : 1);
        fuzz_check(buf != NULL);
        ngx_memcpy(buf, body + pos, n);

        rc = ngx_http_victorops_parser_feed(p, buf, n);

        ngx_memset(buf, 0xa5, n);
        free(buf);

        pos += n;

        if (pos == len) {
            break;
        }
    }

    if (rc == NGX_OK) {
        rc = ngx_http_victorops_parser_finish(p, root);
    }

    fuzz_check(rc == NGX_OK || rc == NGX_ERROR);

    if (rc == NGX_OK) {
        fuzz_check(*root != NULL);

    } else {
        ngx_http_victorops_parser_error(p, error, offset);
        fuzz_check(error->len > 0 && error->data != NULL);

        /*
         * the offset is where yajl stopped, counted from 1 (the webhook
         * tests expect "byte 39" for a bad 39th byte); at a premature
         * EOF it is one past the end: yajl_complete_parse() feeds a space
         */

        fuzz_check(*offset >= 0 && (size_t) *offset <= len + 1);
    }

    return rc;
}


static void
fuzz_check_iso8601(ngx_http_victorops_event_t *ev, ngx_str_t *iso)
{
    char                *end;
    u_char               digits[NGX_INT_T_LEN + 1];
    struct tm            tm;
    unsigned long long   n;
    ngx_uint_t           i;
    unsigned int         ms;
    char                 copy[32];
    time_t               sec;

    /* only a run of decimal digits converts */

    fuzz_check(ev->started_at.len > 0 && ev->started_at.len <= NGX_INT_T_LEN);

    for (i = 0; i < ev->started_at.len; i++) {
        fuzz_check(ev->started_at.data[i] >= '0'
                   && ev->started_at.data[i] <= '9');
    }

    ngx_memcpy(digits, ev->started_at.data, ev->started_at.len);
    digits[ev->started_at.len] = '\0';
    n = strtoull((char *) digits, NULL, 10);

    fuzz_check(iso->len == sizeof("1970-01-01T00:00:00.000Z") - 1);

    ngx_memcpy(copy, iso->data, iso->len);
    copy[iso->len] = '\0';

    ngx_memzero(&tm, sizeof(struct tm));
    end = strptime(copy, "%Y-%m-%dT%H:%M:%S", &tm);
    fuzz_check(end != NULL && end == copy + 19);
    fuzz_check(end[0] == '.' && end[4] == 'Z');
    fuzz_check(sscanf(end + 1, "%3u", &ms) == 1);

    sec = timegm(&tm);

    if (n >= 100000000000ULL) {
        fuzz_check((unsigned long long) sec == n / 1000 && ms == n % 1000);

    } else {
        fuzz_check((unsigned long long) sec == n && ms == 0);
    }
}


/*
 * external_url ("v", NULL: none): exactly <portal>/ui/<escaped
 * organization>/incident/<escaped incident>/details, escaped path
 * segments only; none without an organization, incident or portal.
 */

static void
fuzz_check_portal(ngx_http_victorops_event_t *ev,
    ngx_http_victorops_alert_conf_t *conf, ngx_http_victorops_json_t *v)
{
    u_char  *buf, *p;
    size_t   i;

    if (v == NULL) {
        fuzz_check(ev->organization.len == 0 || ev->incident.len == 0
                   || conf->portal_url.len == 0);
        return;
    }

    fuzz_check(ev->organization.len && ev->incident.len
               && conf->portal_url.len);
    fuzz_check(v->value.len > sizeof(FUZZ_PORTAL "/ui/") - 1
               && ngx_memcmp(v->value.data, FUZZ_PORTAL "/ui/",
                             sizeof(FUZZ_PORTAL "/ui/") - 1) == 0);

    for (i = 0; i < v->value.len; i++) {
        fuzz_check(v->value.data[i] > 0x20 && v->value.data[i] < 0x7f
                   && v->value.data[i] != '#' && v->value.data[i] != '?');
    }

    buf = malloc(sizeof(FUZZ_PORTAL "/ui//incident//details")
                 + 3 * (ev->organization.len + ev->incident.len));
    fuzz_check(buf != NULL);

    p = ngx_cpymem(buf, FUZZ_PORTAL "/ui/", sizeof(FUZZ_PORTAL "/ui/") - 1);
    p = (u_char *) ngx_escape_uri(p, ev->organization.data,
                                  ev->organization.len, NGX_ESCAPE_URI);
    p = ngx_cpymem(p, "/incident/", sizeof("/incident/") - 1);
    p = (u_char *) ngx_escape_uri(p, ev->incident.data, ev->incident.len,
                                  NGX_ESCAPE_URI);
    p = ngx_cpymem(p, "/details", sizeof("/details") - 1);

    i = p - buf;
    fuzz_check(v->value.len == i && ngx_memcmp(v->value.data, buf, i) == 0);

    free(buf);
}


static void
fuzz_check_alert(ngx_pool_t *pool, ngx_http_victorops_event_t *ev,
    ngx_http_victorops_alert_conf_t *conf, ngx_str_t *body)
{
    u_char                       *buf;
    off_t                         offset;
    ngx_int_t                     rc;
    ngx_str_t                     error;
    ngx_http_victorops_json_t    *root, *data, *attrs, *v, *l, *k;
    ngx_http_victorops_parser_t  *parser;

    fuzz_check(body->len > 0 && body->data != NULL);
    fuzz_check(body->data[body->len] == '\n');

    /* the body re-parses with the same parser, from a private copy */

    parser = ngx_http_victorops_parser_create(pool, FUZZ_MAX_DEPTH + 8);
    fuzz_check(parser != NULL);

    buf = malloc(body->len);
    fuzz_check(buf != NULL);
    ngx_memcpy(buf, body->data, body->len);

    rc = ngx_http_victorops_parser_feed(parser, buf, body->len);
    free(buf);

    if (rc == NGX_OK) {
        rc = ngx_http_victorops_parser_finish(parser, &root);
    }

    if (rc != NGX_OK) {
        ngx_http_victorops_parser_error(parser, &error, &offset);
        fprintf(stderr, "alert body does not re-parse: %.*s at %lld\n",
                (int) error.len, error.data, (long long) offset);
    }

    fuzz_check(rc == NGX_OK);

    /* {"data":{"type":"alerts","attributes":{...}}} */

    fuzz_check(root->type == NGX_HTTP_VICTOROPS_JSON_OBJECT);

    data = fuzz_member(root, "data", NGX_HTTP_VICTOROPS_JSON_OBJECT);
    fuzz_check(data != NULL);

    v = fuzz_member(data, "type", NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check(v != NULL && v->value.len == 6
               && ngx_memcmp(v->value.data, "alerts", 6) == 0);

    attrs = fuzz_member(data, "attributes", NGX_HTTP_VICTOROPS_JSON_OBJECT);
    fuzz_check(attrs != NULL);

    v = fuzz_member(attrs, "summary", NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check(fuzz_str_is(v, &ev->summary));

    if (ev->description.len) {
        v = fuzz_member(attrs, "description", NGX_HTTP_VICTOROPS_JSON_STRING);
        fuzz_check(fuzz_str_is(v, &ev->description));
    }

    v = fuzz_member(attrs, "external_id", NGX_HTTP_VICTOROPS_JSON_STRING);
    k = fuzz_member(attrs, "deduplication_key",
                    NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check(v != NULL && k != NULL && fuzz_str_is(k, &v->value));
    fuzz_check(v->value.len > sizeof("victorops::") - 1
               && ngx_memcmp(v->value.data, "victorops:", 10) == 0);

    v = fuzz_member(attrs, "external_url", NGX_HTTP_VICTOROPS_JSON_STRING);
    fuzz_check_portal(ev, conf, v);

    v = fuzz_member(attrs, "started_at", NGX_HTTP_VICTOROPS_JSON_STRING);

    if (v) {
        fuzz_check_iso8601(ev, &v->value);
    }

    l = fuzz_member(attrs, "labels", NGX_HTTP_VICTOROPS_JSON_ARRAY);
    fuzz_check(l != NULL);

    for (l = l->child; l; l = l->next) {
        fuzz_check(l->type == NGX_HTTP_VICTOROPS_JSON_OBJECT);
        k = fuzz_member(l, "key", NGX_HTTP_VICTOROPS_JSON_STRING);
        v = fuzz_member(l, "value", NGX_HTTP_VICTOROPS_JSON_STRING);
        fuzz_check(k != NULL && v != NULL && v->value.len > 0);
    }

    /* the delivery itself, as received */

    v = fuzz_member(attrs, "data", ev->payload->type);
    fuzz_check(v != NULL);
    fuzz_check(fuzz_tree_equal(v, ev->payload));
}


/* whether yajl's validating generator takes every key and string */

static int
fuzz_yajl_utf8(ngx_http_victorops_json_t *root)
{
    int                         ok;
    yajl_gen                    g;
    ngx_http_victorops_json_t  *m;

    g = yajl_gen_alloc(NULL);
    fuzz_check(g != NULL);
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);

    ok = yajl_gen_map_open(g) == yajl_gen_status_ok;

    for (m = root->child; ok && m; m = m->next) {
        ok = yajl_gen_string(g, m->key.data, m->key.len)
                 == yajl_gen_status_ok
             && yajl_gen_string(g, m->value.data, m->value.len)
                 == yajl_gen_status_ok;
    }

    yajl_gen_free(g);

    return ok;
}


/*
 * The queue's view of any non-ignored event: its incident key, the
 * activity text and the two Rootly bodies built from it, which must
 * re-parse as JSON objects.
 */

static void
fuzz_activity(ngx_pool_t *pool, ngx_http_victorops_event_t *ev)
{
    ngx_str_t                     key, text, body;
    ngx_http_victorops_json_t    *root;
    ngx_http_victorops_parser_t  *p;

    fuzz_check(ngx_http_victorops_event_key(pool, ev, &key) == NGX_OK);
    fuzz_check(key.len > 0);

    fuzz_check(ngx_http_victorops_activity_text(pool, ev, &text) == NGX_OK);
    fuzz_check(text.len > 0);

    fuzz_check(ngx_http_victorops_rootly_event(pool, &text, &body) == NGX_OK);

    p = ngx_http_victorops_parser_create(pool, 8);
    fuzz_check(p != NULL);
    fuzz_check(ngx_http_victorops_parser_feed(p, body.data, body.len)
               == NGX_OK);
    fuzz_check(ngx_http_victorops_parser_finish(p, &root) == NGX_OK);
    fuzz_check(root->type == NGX_HTTP_VICTOROPS_JSON_OBJECT);

    fuzz_check(ngx_http_victorops_rootly_resolve(pool, &text, &body)
               == NGX_OK);

    p = ngx_http_victorops_parser_create(pool, 8);
    fuzz_check(p != NULL);
    fuzz_check(ngx_http_victorops_parser_feed(p, body.data, body.len)
               == NGX_OK);
    fuzz_check(ngx_http_victorops_parser_finish(p, &root) == NGX_OK);
}


static ngx_uint_t
fuzz_str_same(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || ngx_memcmp(a->data, b->data, a->len) == 0);
}


/*
 * What an event job keeps (the payload written out) classifies again,
 * at dispatch, as the delivery did; with nothing linked then, an alert
 * makes an alert and anything else is ignored for want of a link.
 */

static void
fuzz_event_record(ngx_pool_t *pool, ngx_http_victorops_event_t *ev)
{
    ngx_str_t                             record;
    ngx_http_victorops_json_t            *root;
    ngx_http_victorops_event_t            again;
    ngx_http_victorops_rootly_link_t      link;
    ngx_http_victorops_event_decision_t   d;

    fuzz_check(ngx_http_victorops_event_record(pool, NULL, ev, &record)
               == NGX_OK);
    fuzz_check(ngx_http_victorops_json_parse(pool, &record, 1024, &root)
               == NGX_OK);
    fuzz_check(ngx_http_victorops_classify(pool, root, &again) == NGX_OK);

    fuzz_check(again.class == ev->class && again.why == ev->why);
    fuzz_check(fuzz_str_same(&again.incident, &ev->incident));
    fuzz_check(fuzz_str_same(&again.entity_id, &ev->entity_id));
    fuzz_check(fuzz_str_same(&again.summary, &ev->summary));

    ngx_memzero(&link, sizeof(ngx_http_victorops_rootly_link_t));
    link.found = NGX_HTTP_VICTOROPS_FACT_NO;

    ngx_http_victorops_decide_dispatch(&again, &link, &d);

    if (ev->class == NGX_HTTP_VICTOROPS_IGNORED) {
        fuzz_check(d.action == NGX_HTTP_VICTOROPS_EVENT_IGNORE
                   && d.why == ev->why);

    } else if (ev->class == NGX_HTTP_VICTOROPS_ALERT) {
        fuzz_check(d.action == NGX_HTTP_VICTOROPS_EVENT_JOB
                   && d.kind == NGX_HTTP_VICTOROPS_JOB_ALERT);

    } else {
        fuzz_check(d.action == NGX_HTTP_VICTOROPS_EVENT_IGNORE
                   && d.why == NGX_HTTP_VICTOROPS_WHY_NO_LINK);
    }
}


static void
fuzz_event(ngx_pool_t *pool, ngx_http_victorops_json_t *root,
    ngx_uint_t form)
{
    ngx_int_t                         rc;
    ngx_str_t                         body;
    ngx_http_victorops_event_t        ev;
    ngx_http_victorops_alert_conf_t   conf;

    fuzz_check(ngx_http_victorops_classify(pool, root, &ev) == NGX_OK);

    fuzz_check(ev.payload == root);
    fuzz_check(ev.class <= NGX_HTTP_VICTOROPS_IGNORED);
    fuzz_check(ngx_http_victorops_class_name(ev.class) != NULL);

    fuzz_decide_event(pool, &ev);
    fuzz_event_record(pool, &ev);

    if (ev.class == NGX_HTTP_VICTOROPS_IGNORED) {
        fuzz_check(ev.reason.len > 0 && ev.reason.data != NULL);
        fuzz_check(ev.why >= NGX_HTTP_VICTOROPS_WHY_TYPE
                   && ev.why <= NGX_HTTP_VICTOROPS_WHY_INCIDENT);
        return;
    }

    fuzz_check(ev.why == 0);

    fuzz_check(ev.incident.len || ev.entity_id.len || ev.display_name.len);

    fuzz_activity(pool, &ev);

    if (ev.class != NGX_HTTP_VICTOROPS_ALERT) {
        return;
    }

    fuzz_check(ev.summary.len > 0);

    ngx_str_set(&conf.portal_url, FUZZ_PORTAL);
    ngx_str_set(&conf.organization, FUZZ_ORG);

    rc = ngx_http_victorops_rootly_alert(pool, &ev, &conf, &body);

    if (rc != NGX_OK && form && fuzz_avoid_form_utf8 && !fuzz_yajl_utf8(root))
    {
        return;
    }

    fuzz_check(rc == NGX_OK);

    fuzz_check_alert(pool, &ev, &conf, &body);
}


static void
fuzz_json(const uint8_t *body, size_t len, size_t split, size_t chunk)
{
    off_t                       offset1, offset2;
    ngx_int_t                   rc1, rc2;
    ngx_str_t                   error1, error2;
    ngx_pool_t                 *pool1, *pool2;
    ngx_http_victorops_json_t  *root1, *root2;

    pool1 = ngx_create_pool(FUZZ_POOL_SIZE, fuzz_log);
    pool2 = ngx_create_pool(FUZZ_POOL_SIZE, fuzz_log);
    fuzz_check(pool1 != NULL && pool2 != NULL);

    /* as the webhook gets it: in chunks; and in one piece */

    rc1 = fuzz_parse(pool1, body, len, split, chunk, &root1, &error1,
                     &offset1);
    rc2 = fuzz_parse(pool2, body, len, len, 0, &root2, &error2, &offset2);

    fuzz_check(rc1 == rc2);

    if (rc1 == NGX_OK) {
        fuzz_check(fuzz_tree_equal(root1, root2));

    } else {
        /*
         * same error; the offsets may differ: when a bad token spans
         * chunks, yajl's "restore error offset" (offset -= token length,
         * clamped at the start of the current chunk) lands elsewhere
         */

        fuzz_check(error1.len == error2.len
                   && ngx_memcmp(error1.data, error2.data, error1.len) == 0);
    }

    ngx_destroy_pool(pool2);

    /* the webhook only goes on with an object */

    if (rc1 == NGX_OK && root1->type == NGX_HTTP_VICTOROPS_JSON_OBJECT) {
        fuzz_event(pool1, root1, 0);
    }

    ngx_destroy_pool(pool1);
}


/* ngx_memn2cmp()'s order, written out: bytes, then the shorter first */

static int
fuzz_key_cmp(ngx_http_victorops_json_t *a, ngx_http_victorops_json_t *b)
{
    size_t  i, n;

    n = ngx_min(a->key.len, b->key.len);

    for (i = 0; i < n; i++) {
        if (a->key.data[i] != b->key.data[i]) {
            return (a->key.data[i] < b->key.data[i]) ? -1 : 1;
        }
    }

    return (a->key.len < b->key.len) ? -1 : (a->key.len > b->key.len);
}


/*
 * A bottom-up merge sort, stable, so equal keys keep their order;
 * returns "a" or "tmp", whichever holds the result.
 */

static ngx_http_victorops_json_t **
fuzz_sort(ngx_http_victorops_json_t **a, ngx_http_victorops_json_t **tmp,
    size_t n)
{
    size_t                       width, lo, mid, hi, i, j, k;
    ngx_http_victorops_json_t  **t;

    for (width = 1; width < n; width *= 2) {

        for (lo = 0; lo < n; lo += 2 * width) {
            mid = ngx_min(lo + width, n);
            hi = ngx_min(lo + 2 * width, n);

            i = lo;
            j = mid;

            for (k = lo; k < hi; k++) {
                if (i < mid && (j >= hi || fuzz_key_cmp(a[i], a[j]) <= 0)) {
                    tmp[k] = a[i++];

                } else {
                    tmp[k] = a[j++];
                }
            }
        }

        t = a;
        a = tmp;
        tmp = t;
    }

    return a;
}


/*
 * The MAC computed here: HMAC-SHA1 with the second code over the URL
 * and every key and value in a stable merge sort by key.
 */

static void
fuzz_mac(ngx_http_victorops_json_t *root, ngx_str_t *url, u_char *mac)
{
    u_char                      *data, *p;
    size_t                       n, i, len;
    unsigned int                 maclen;
    ngx_http_victorops_json_t   *m, **a, **tmp, **sorted;

    n = 0;
    len = url->len;

    for (m = root->child; m; m = m->next) {
        n++;
        len += m->key.len + m->value.len;
    }

    a = malloc((n + 1) * sizeof(ngx_http_victorops_json_t *));
    tmp = malloc((n + 1) * sizeof(ngx_http_victorops_json_t *));
    data = malloc(len + 1);
    fuzz_check(a != NULL && tmp != NULL && data != NULL);

    i = 0;

    for (m = root->child; m; m = m->next) {
        a[i++] = m;
    }

    sorted = fuzz_sort(a, tmp, n);

    for (i = 1; i < n; i++) {
        fuzz_check(fuzz_key_cmp(sorted[i - 1], sorted[i]) <= 0);
    }

    p = ngx_cpymem(data, url->data, url->len);

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, sorted[i]->key.data, sorted[i]->key.len);
        p = ngx_cpymem(p, sorted[i]->value.data, sorted[i]->value.len);
    }

    fuzz_check((size_t) (p - data) == len);

    fuzz_check(HMAC(EVP_sha1(), FUZZ_CODE_NEW, sizeof(FUZZ_CODE_NEW) - 1,
                    data, len, mac, &maclen)
               != NULL);
    fuzz_check(maclen == NGX_HTTP_VICTOROPS_SIGNATURE_LEN);

    free(a);
    free(tmp);
    free(data);
}


/*
 * The X-VictorOps-Signature path: the MAC computed here (URL + every
 * key and value in a stable sort by key, HMAC-SHA1 with the second
 * code) must be accepted, and refused with a bit flipped or without
 * that code.  "header": a piece of the input, taken as a header value.
 */

static void
fuzz_signature(ngx_pool_t *pool, ngx_http_victorops_json_t *root,
    ngx_str_t *header, size_t flip)
{
    u_char        mac[EVP_MAX_MD_SIZE];
    u_char        got[NGX_HTTP_VICTOROPS_SIGNATURE_LEN];
    u_char        b64[64];
    ngx_int_t     rc;
    ngx_str_t     url, *code, encoded, raw;
    ngx_array_t  *codes, *old;

    ngx_str_set(&url, FUZZ_URL);

    fuzz_mac(root, &url, mac);

    codes = ngx_array_create(pool, 2, sizeof(ngx_str_t));
    old = ngx_array_create(pool, 1, sizeof(ngx_str_t));
    fuzz_check(codes != NULL && old != NULL);

    code = ngx_array_push(codes);
    fuzz_check(code != NULL);
    ngx_str_set(code, FUZZ_CODE_OLD);

    code = ngx_array_push(old);
    fuzz_check(code != NULL);
    ngx_str_set(code, FUZZ_CODE_OLD);

    code = ngx_array_push(codes);
    fuzz_check(code != NULL);
    ngx_str_set(code, FUZZ_CODE_NEW);

    /* through the header, as the webhook gets it */

    raw.data = mac;
    raw.len = NGX_HTTP_VICTOROPS_SIGNATURE_LEN;
    encoded.data = b64;
    ngx_encode_base64(&encoded, &raw);

    fuzz_check(ngx_http_victorops_form_signature_decode(&encoded, got)
               == NGX_OK);
    fuzz_check(ngx_memcmp(got, mac, NGX_HTTP_VICTOROPS_SIGNATURE_LEN) == 0);

    fuzz_check(ngx_http_victorops_form_signature(pool, &url, root, codes, got)
               == NGX_OK);
    fuzz_check(ngx_http_victorops_form_signature(pool, &url, root, old, got)
               == NGX_DECLINED);

    got[flip % NGX_HTTP_VICTOROPS_SIGNATURE_LEN] ^= 1 << (flip / 32 % 8);

    fuzz_check(ngx_http_victorops_form_signature(pool, &url, root, codes, got)
               == NGX_DECLINED);

    /* any header: decoded only when it is base64 of exactly 20 bytes */

    rc = ngx_http_victorops_form_signature_decode(header, got);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_OK) {
        fuzz_check(header->len >= 27 && header->len <= 32);

        rc = ngx_http_victorops_form_signature(pool, &url, root, codes, got);
        fuzz_check(rc == (ngx_memcmp(got, mac,
                                     NGX_HTTP_VICTOROPS_SIGNATURE_LEN) == 0
                          ? NGX_OK : NGX_DECLINED));
    }
}


static void
fuzz_form(const uint8_t *body, size_t len, size_t split, size_t chunk)
{
    u_char                           *buf;
    size_t                            pos, n;
    ngx_int_t                         rc;
    ngx_str_t                         header;
    ngx_uint_t                        members, max;
    ngx_pool_t                       *pool;
    ngx_http_victorops_json_t        *root, *m;
    ngx_http_victorops_form_count_t   count, capped;

    pool = ngx_create_pool(FUZZ_POOL_SIZE, fuzz_log);
    fuzz_check(pool != NULL);

    buf = malloc(len ? len : 1);
    fuzz_check(buf != NULL);
    ngx_memcpy(buf, body, len);

    root = NULL;
    rc = ngx_http_victorops_form_parse(pool, buf, len, &root);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);

    /* members counted as the body comes, in the input's chunking */

    ngx_memzero(&count, sizeof(ngx_http_victorops_form_count_t));

    for (pos = 0, n = split; pos < len; pos += n, n = chunk ? chunk : len) {
        n = ngx_min(n, len - pos);
        fuzz_check(ngx_http_victorops_form_count(&count, buf + pos, n,
                                                 NGX_MAX_UINT32_VALUE)
                   == NGX_OK);
    }

    if (rc == NGX_OK) {
        members = 0;

        for (m = root->child; m; m = m->next) {
            members++;
        }

        fuzz_check(count.fields == members);

        if (members) {
            max = members - 1;
            ngx_memzero(&capped, sizeof(ngx_http_victorops_form_count_t));
            fuzz_check(ngx_http_victorops_form_count(&capped, buf, len, max)
                       == NGX_DECLINED);
            fuzz_check(capped.fields == max + 1);
        }
    }

    /* the first bytes of the body stand for the signature header */

    header.data = buf;
    header.len = ngx_min(len, split % 40);

    if (rc == NGX_OK) {
        fuzz_check(root != NULL
                   && root->type == NGX_HTTP_VICTOROPS_JSON_OBJECT);

        for (m = root->child; m; m = m->next) {
            fuzz_check(m->type == NGX_HTTP_VICTOROPS_JSON_STRING);
            fuzz_check(m->key.data != NULL && m->value.data != NULL);
            fuzz_check(m->key.len <= len && m->value.len <= len);
        }

        /* the signature covers the values with their literal quotes */

        fuzz_signature(pool, root, &header, split);
    }

    ngx_memset(buf, 0xa5, len);
    free(buf);

    if (rc == NGX_OK) {
        ngx_http_victorops_form_unquote(root);

        fuzz_event(pool, root, 1);
    }

    ngx_destroy_pool(pool);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t   len, split, chunk;
    uint8_t  flags;

    if (size < FUZZ_HEADER) {
        return 0;
    }

    flags = data[0];
    split = data[1] | (data[2] << 8);

    data += FUZZ_HEADER;
    len = size - FUZZ_HEADER;

    split %= len + 1;
    chunk = (flags & 0x02) ? (size_t) (flags >> 2) + 1 : 0;

    if (flags & 0x01) {
        fuzz_form(data, len, split, chunk);

    } else {
        fuzz_json(data, len, split, chunk);
    }

    return 0;
}
