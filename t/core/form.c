
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Form-encoded escalation-policy webhooks: the parser (decoding,
 * empty members, UTF-8 as yajl's generator wants it, unquoting), the
 * member count over pieces of a body, the X-VictorOps-Signature header
 * decoding and the signature itself: the fixture's, as its .meta file
 * gives it, and one computed here with OpenSSL over members in a
 * stable sort by key, refused with a bit flipped or another code.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core.h"


#define CORE_URL   "https://hooks.example.com/victorops/escalation"


static void core_form_fixture(void);
static void core_form_sorted(void);
static void core_form_count(void);
static ngx_array_t *core_codes(const char *first, const char *second);
static ngx_int_t core_meta(ngx_str_t *meta, const char *key,
    ngx_str_t *value);


void
core_form(void)
{
    ngx_str_t                  *s;
    ngx_http_victorops_json_t  *root, *m;

    /* decoding: "+" and %-escapes, empty members skipped, no "=" */

    s = core_str("a=%22x+y%22&&b=%2B%26&c&=v&d=");

    core_check(ngx_http_victorops_form_parse(core.pool, s->data, s->len,
                                             &root)
               == NGX_OK);

    m = root->child;
    core_check(root->type == NGX_HTTP_VICTOROPS_JSON_OBJECT && m != NULL);

    if (m == NULL) {
        return;
    }

    core_str_is(&m->key, "a");
    core_str_is(&m->value, "\"x y\"");
    m = m->next;
    core_str_is(&m->key, "b");
    core_str_is(&m->value, "+&");
    m = m->next;
    core_str_is(&m->key, "c");
    core_str_is(&m->value, "");
    m = m->next;
    core_str_is(&m->key, "");
    core_str_is(&m->value, "v");
    m = m->next;
    core_str_is(&m->key, "d");
    core_check(m->next == NULL && m->type == NGX_HTTP_VICTOROPS_JSON_STRING);

    /* quotes go only in pairs around a value */

    ngx_http_victorops_form_unquote(root);
    core_str_is(&root->child->value, "x y");

    s = core_str("a=%22&b=%22%22&c=%22x");
    core_check(ngx_http_victorops_form_parse(core.pool, s->data, s->len,
                                             &root)
               == NGX_OK);
    ngx_http_victorops_form_unquote(root);
    core_str_is(&root->child->value, "\"");
    core_str_is(&root->child->next->value, "");
    core_str_is(&root->child->next->next->value, "\"x");

    /* UTF-8 that yajl's generator would refuse is refused here */

    s = core_str("entity_id=%D6%D6");
    core_check(ngx_http_victorops_form_parse(core.pool, s->data, s->len,
                                             &root)
               == NGX_DECLINED);

    s = core_str("entity_id=%F8%90%80%80");
    core_check(ngx_http_victorops_form_parse(core.pool, s->data, s->len,
                                             &root)
               == NGX_DECLINED);

    s = core_str("%C3=x");
    core_check(ngx_http_victorops_form_parse(core.pool, s->data, s->len,
                                             &root)
               == NGX_DECLINED);

    s = core_str("entity_id=caf%C3%A9");
    core_check(ngx_http_victorops_form_parse(core.pool, s->data, s->len,
                                             &root)
               == NGX_OK);

    core_form_count();
    core_form_fixture();
    core_form_sorted();
}


/* members counted as a body comes, however it is cut */

static void
core_form_count(void)
{
    size_t                            i;
    ngx_str_t                        *s;
    ngx_http_victorops_form_count_t   c;

    s = core_str("&a=1&&b=2&c&");

    for (i = 0; i <= s->len; i++) {
        ngx_memzero(&c, sizeof(ngx_http_victorops_form_count_t));

        core_check(ngx_http_victorops_form_count(&c, s->data, i, 10)
                   == NGX_OK);
        core_check(ngx_http_victorops_form_count(&c, s->data + i,
                                                 s->len - i, 10)
                   == NGX_OK);
        core_check(c.fields == 3);
    }

    ngx_memzero(&c, sizeof(ngx_http_victorops_form_count_t));
    core_check(ngx_http_victorops_form_count(&c, s->data, s->len, 2)
               == NGX_DECLINED);
    core_check(c.fields == 3);
}


/* the fixture: its URL, auth code and signature (.meta) */

static void
core_form_fixture(void)
{
    u_char                      mac[NGX_HTTP_VICTOROPS_SIGNATURE_LEN];
    ngx_str_t                   body, meta, url, code, sig, *s;
    ngx_array_t                *codes;
    ngx_http_victorops_json_t  *root;

    core.name = "escalation-webhook.form";

    core_check(core_file("escalation-webhook.form", &body) == NGX_OK);
    core_check(core_file("escalation-webhook.meta", &meta) == NGX_OK);

    core_check(core_meta(&meta, "url", &url) == NGX_OK);
    core_check(core_meta(&meta, "auth_code", &code) == NGX_OK);
    core_check(core_meta(&meta, "X-VictorOps-Signature", &sig) == NGX_OK);

    core_check(ngx_http_victorops_form_parse(core.pool, body.data, body.len,
                                             &root)
               == NGX_OK);

    core_check(ngx_http_victorops_form_signature_decode(&sig, mac)
               == NGX_OK);

    codes = ngx_array_create(core.pool, 2, sizeof(ngx_str_t));
    core_check(codes != NULL);

    s = ngx_array_push(codes);
    *s = code;

    core_check(ngx_http_victorops_form_signature(core.pool, &url, root,
                                                 codes, mac)
               == NGX_OK);

    /* the right code second (a rotation); or not there at all */

    codes = core_codes("old-code", "");
    ((ngx_str_t *) codes->elts)[1] = code;

    core_check(ngx_http_victorops_form_signature(core.pool, &url, root,
                                                 codes, mac)
               == NGX_OK);

    codes = core_codes("old-code", "other-code");

    core_check(ngx_http_victorops_form_signature(core.pool, &url, root,
                                                 codes, mac)
               == NGX_DECLINED);

    /* the URL counts; so do the quotes, which unquoting takes away */

    codes = core_codes("", "");
    ((ngx_str_t *) codes->elts)[0] = code;
    codes->nelts = 1;

    url.len--;
    core_check(ngx_http_victorops_form_signature(core.pool, &url, root,
                                                 codes, mac)
               == NGX_DECLINED);
    url.len++;

    ngx_http_victorops_form_unquote(root);
    core_check(ngx_http_victorops_form_signature(core.pool, &url, root,
                                                 codes, mac)
               == NGX_DECLINED);

    core.name = NULL;
}


/*
 * Members in a stable sort by key (equal keys in body order), their
 * values decoded, quotes included, after the URL: computed here.
 */

static void
core_form_sorted(void)
{
    u_char                      mac[EVP_MAX_MD_SIZE];
    u_char                      b64[64];
    u_char                      got[NGX_HTTP_VICTOROPS_SIGNATURE_LEN];
    ngx_str_t                  *s, url, raw, header;
    ngx_uint_t                  i;
    ngx_array_t                *codes;
    unsigned int                len;
    ngx_http_victorops_json_t  *root;

    static const char  data[] = CORE_URL "a\"1\"a0b2 3c";

    static const char  *refused[] = {
        "c2hvcnQ=",                                 /* "short" */
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!=",
        "",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        NULL
    };

    s = core_str("b=2+3&a=%221%22&c=&a=0");
    core_check(ngx_http_victorops_form_parse(core.pool, s->data, s->len,
                                             &root)
               == NGX_OK);

    core_check(HMAC(EVP_sha1(), "code-2", 6, (u_char *) data,
                    sizeof(data) - 1, mac, &len)
               != NULL);
    core_check(len == NGX_HTTP_VICTOROPS_SIGNATURE_LEN);

    raw.data = mac;
    raw.len = NGX_HTTP_VICTOROPS_SIGNATURE_LEN;
    header.data = b64;
    ngx_encode_base64(&header, &raw);

    core_check(ngx_http_victorops_form_signature_decode(&header, got)
               == NGX_OK);
    core_check(ngx_memcmp(got, mac, NGX_HTTP_VICTOROPS_SIGNATURE_LEN) == 0);

    ngx_str_set(&url, CORE_URL);
    codes = core_codes("code-1", "code-2");

    core_check(ngx_http_victorops_form_signature(core.pool, &url, root,
                                                 codes, got)
               == NGX_OK);

    for (i = 0; i < 8 * NGX_HTTP_VICTOROPS_SIGNATURE_LEN; i += 13) {
        got[i / 8] ^= 1 << (i % 8);
        core_check(ngx_http_victorops_form_signature(core.pool, &url, root,
                                                     codes, got)
                   == NGX_DECLINED);
        got[i / 8] ^= 1 << (i % 8);
    }

    /* only base64 of exactly 20 bytes is a signature, padded or not */

    header.len--;
    core_check(ngx_http_victorops_form_signature_decode(&header, got)
               == NGX_OK);
    core_check(ngx_memcmp(got, mac, NGX_HTTP_VICTOROPS_SIGNATURE_LEN) == 0);

    header.len--;
    core_check(ngx_http_victorops_form_signature_decode(&header, got)
               == NGX_DECLINED);

    for (i = 0; refused[i]; i++) {
        header.data = (u_char *) refused[i];
        header.len = ngx_strlen(refused[i]);

        core_check(ngx_http_victorops_form_signature_decode(&header, got)
                   == NGX_DECLINED);
    }
}


static ngx_array_t *
core_codes(const char *first, const char *second)
{
    ngx_array_t  *a;

    a = ngx_array_create(core.pool, 2, sizeof(ngx_str_t));
    if (a == NULL || ngx_array_push_n(a, 2) == NULL) {
        abort();
    }

    ((ngx_str_t *) a->elts)[0] = *core_str(first);
    ((ngx_str_t *) a->elts)[1] = *core_str(second);

    return a;
}


/* "key\tvalue" lines; "#" comments */

static ngx_int_t
core_meta(ngx_str_t *meta, const char *key, ngx_str_t *value)
{
    u_char  *p, *end, *eol;
    size_t   len;

    len = ngx_strlen(key);
    end = meta->data + meta->len;

    for (p = meta->data; p < end; p = eol + 1) {
        eol = ngx_strlchr(p, end, '\n');
        eol = eol ? eol : end;

        if ((size_t) (eol - p) > len && p[len] == '\t'
            && ngx_strncmp(p, key, len) == 0)
        {
            value->data = p + len + 1;
            value->len = eol - value->data;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}
