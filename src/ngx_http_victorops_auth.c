
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * Webhook authentication: the shared secret (query, bearer or header),
 * compared in constant time, the X-VictorOps-Signature header of
 * escalation-policy webhooks (the body is checked in payload.c), bearer
 * tokens, Rootly and Slack signatures.  Secrets are never logged.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_MASK  "***"


static ngx_uint_t ngx_http_victorops_secret_match(ngx_array_t *secrets,
    ngx_str_t *candidate);
static ngx_int_t ngx_http_victorops_hmac_match(ngx_array_t *secrets,
    u_char *data, size_t len, ngx_str_t *sigs, ngx_uint_t n);


static ngx_str_t  ngx_http_victorops_secret_header =
    ngx_string("X-Webhook-Secret");
static ngx_str_t  ngx_http_victorops_signature_header =
    ngx_string("X-VictorOps-Signature");


/* the next request header named "name" after "prev" (NULL: the first) */

ngx_table_elt_t *
ngx_http_victorops_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_table_elt_t *prev)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (prev) {
            if (&h[i] == prev) {
                prev = NULL;
            }

            continue;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }
}


void
ngx_http_victorops_digest(ngx_str_t *secret, u_char *digest)
{
    SHA256(secret->data, secret->len, digest);
}


/*
 * NGX_OK: a presented secret matches one of the integration's secrets;
 * NGX_DECLINED: none was presented; NGX_ABORT: none matched;
 * NGX_ERROR: no memory.
 */

ngx_int_t
ngx_http_victorops_auth_secret(ngx_http_request_t *r,
    ngx_http_victorops_integration_t *vi)
{
    u_char           *dst, *src;
    ngx_str_t         value, arg, *name;
    ngx_uint_t        presented, matched;
    ngx_table_elt_t  *h;

    presented = 0;
    matched = 0;

    name = &ngx_http_victorops_secret_header;

    for (h = ngx_http_victorops_header(r, name, NULL);
         h;
         h = ngx_http_victorops_header(r, name, h))
    {
        presented = 1;
        matched |= ngx_http_victorops_secret_match(vi->webhook_secrets,
                                                   &h->value);
    }

    if (r->headers_in.authorization) {
        value = r->headers_in.authorization->value;

        if (value.len > sizeof("Bearer ") - 1
            && ngx_strncasecmp(value.data, (u_char *) "Bearer ",
                               sizeof("Bearer ") - 1)
               == 0)
        {
            value.data += sizeof("Bearer ") - 1;
            value.len -= sizeof("Bearer ") - 1;

            presented = 1;
            matched |= ngx_http_victorops_secret_match(vi->webhook_secrets,
                                                       &value);
        }
    }

    if (ngx_http_arg(r, (u_char *) "secret", sizeof("secret") - 1, &arg)
        == NGX_OK)
    {
        value.data = ngx_pnalloc(r->pool, arg.len);
        if (value.data == NULL) {
            return NGX_ERROR;
        }

        dst = value.data;
        src = arg.data;
        ngx_unescape_uri(&dst, &src, arg.len, 0);
        value.len = dst - value.data;

        presented = 1;
        matched |= ngx_http_victorops_secret_match(vi->webhook_secrets,
                                                   &value);
    }

    if (matched) {
        return NGX_OK;
    }

    return presented ? NGX_ABORT : NGX_DECLINED;
}


/*
 * Every configured secret or token (digests, secret_t) is compared with
 * the candidate's digest, in full and in constant time.
 */

static ngx_uint_t
ngx_http_victorops_secret_match(ngx_array_t *secrets, ngx_str_t *candidate)
{
    u_char                        digest[SHA256_DIGEST_LENGTH];
    ngx_uint_t                    i, matched;
    ngx_http_victorops_secret_t  *secret;

    ngx_http_victorops_digest(candidate, digest);

    secret = secrets->elts;
    matched = 0;

    for (i = 0; i < secrets->nelts; i++) {
        matched |= (CRYPTO_memcmp(digest, secret[i].digest,
                                  SHA256_DIGEST_LENGTH)
                    == 0);
    }

    return matched;
}


/*
 * The X-VictorOps-Signature of an escalation-policy webhook, decoded
 * into "mac" before the body is read: NGX_OK; NGX_DECLINED: no such
 * header; NGX_ABORT: one that no body can match (not the base64 of an
 * HMAC-SHA1).  The body is checked by ngx_http_victorops_form_signature().
 */

ngx_int_t
ngx_http_victorops_auth_signature(ngx_http_request_t *r, u_char *mac)
{
    ngx_table_elt_t  *sig;

    sig = ngx_http_victorops_header(r, &ngx_http_victorops_signature_header,
                                    NULL);
    if (sig == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_victorops_form_signature_decode(&sig->value, mac) != NGX_OK)
    {
        return NGX_ABORT;
    }

    return NGX_OK;
}


/*
 * A copy of a URI or request line with the value of every "secret"
 * query argument replaced by "***".
 */

ngx_int_t
ngx_http_victorops_mask_secret(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst)
{
    u_char  *p, *end, *q, *arg, *eq, *next;

    end = src->data + src->len;

    q = ngx_strlchr(src->data, end, '?');
    if (q == NULL) {
        *dst = *src;
        return NGX_OK;
    }

    /* "secret=&" grows to "secret=***&" at the most */

    dst->data = ngx_pnalloc(pool,
                            2 * src->len + sizeof(NGX_HTTP_VICTOROPS_MASK));
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(dst->data, src->data, q + 1 - src->data);

    for (arg = q + 1; arg < end; arg = next) {

        for (next = arg;
             next < end && *next != '&' && *next != ' ' && *next != '#';
             next++)
        {
            /* void */
        }

        eq = ngx_strlchr(arg, next, '=');

        if (eq && eq - arg == sizeof("secret") - 1
            && ngx_strncasecmp(arg, (u_char *) "secret", eq - arg) == 0)
        {
            p = ngx_cpymem(p, arg, eq + 1 - arg);
            p = ngx_cpymem(p, NGX_HTTP_VICTOROPS_MASK,
                           sizeof(NGX_HTTP_VICTOROPS_MASK) - 1);

        } else {
            p = ngx_cpymem(p, arg, next - arg);
        }

        if (next < end && *next != '&') {
            p = ngx_cpymem(p, next, end - next);
            break;
        }

        if (next < end) {
            *p++ = '&';
            next++;
        }
    }

    dst->len = p - dst->data;

    return NGX_OK;
}


/*
 * X-Rootly-Signature: t=<unix seconds>,v1=<lowercase hex HMAC-SHA256 of
 * the timestamp followed directly by the raw body>.  Any configured
 * secret and any v1 value may match (rotation).  NGX_OK: valid;
 * NGX_DECLINED: missing parts or no match; NGX_ABORT: the timestamp is
 * further than "window" seconds from now.
 */

ngx_int_t
ngx_http_victorops_rootly_signature(ngx_str_t *header, ngx_str_t *body,
    ngx_array_t *secrets, time_t now, time_t window)
{
    u_char      *p, *end, *next, *data;
    time_t       t;
    ngx_int_t    rc;
    ngx_str_t    ts, v1[4];
    ngx_uint_t   n;

    ngx_str_null(&ts);
    n = 0;

    end = header->data + header->len;

    for (p = header->data; p < end; p = next + 1) {
        next = ngx_strlchr(p, end, ',');
        if (next == NULL) {
            next = end;
        }

        while (p < next && *p == ' ') {
            p++;
        }

        if (next - p > 2 && p[0] == 't' && p[1] == '=') {
            ts.data = p + 2;
            ts.len = next - p - 2;

        } else if (next - p > 3 && ngx_strncmp(p, "v1=", 3) == 0
                   && n < sizeof(v1) / sizeof(v1[0]))
        {
            v1[n].data = p + 3;
            v1[n].len = next - p - 3;
            n++;
        }
    }

    if (ts.len == 0 || n == 0) {
        return NGX_DECLINED;
    }

    t = ngx_atotm(ts.data, ts.len);

    if (t == NGX_ERROR) {
        return NGX_DECLINED;
    }

    if (t > now + window || t < now - window) {
        return NGX_ABORT;
    }

    data = ngx_alloc(ts.len + body->len + 1, ngx_cycle->log);
    if (data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(data, ts.data, ts.len);
    p = ngx_cpymem(p, body->data, body->len);

    rc = ngx_http_victorops_hmac_match(secrets, data, p - data, v1, n);

    ngx_free(data);

    return rc;
}


/*
 * NGX_OK: one of the "n" signatures is the lowercase hex HMAC-SHA256 of
 * "data" with one of "secrets" (every pair compared, in constant time).
 */

static ngx_int_t
ngx_http_victorops_hmac_match(ngx_array_t *secrets, u_char *data,
    size_t len, ngx_str_t *sigs, ngx_uint_t n)
{
    u_char        mac[EVP_MAX_MD_SIZE];
    u_char        hex[2 * EVP_MAX_MD_SIZE];
    ngx_str_t    *secret;
    ngx_uint_t    i, j, matched;
    unsigned int  maclen;

    secret = secrets->elts;
    matched = 0;

    for (i = 0; i < secrets->nelts; i++) {
        if (HMAC(EVP_sha256(), secret[i].data, (int) secret[i].len, data,
                 len, mac, &maclen)
            == NULL)
        {
            return NGX_ERROR;
        }

        ngx_hex_dump(hex, mac, maclen);

        for (j = 0; j < n; j++) {
            matched |= (sigs[j].len == 2 * maclen
                        && CRYPTO_memcmp(hex, sigs[j].data, 2 * maclen) == 0);
        }
    }

    return matched ? NGX_OK : NGX_DECLINED;
}


/*
 * "Authorization: Bearer <token>" against every configured token
 * ("tokens": digests, secret_t; rotation), in constant time.
 * NGX_OK or NGX_DECLINED.
 */

ngx_int_t
ngx_http_victorops_bearer(ngx_http_request_t *r, ngx_array_t *tokens)
{
    ngx_str_t  token;

    if (r->headers_in.authorization == NULL
        || tokens == NULL
        || tokens->nelts == 0)
    {
        return NGX_DECLINED;
    }

    token = r->headers_in.authorization->value;

    if (token.len <= sizeof("Bearer ") - 1
        || ngx_strncasecmp(token.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    token.data += sizeof("Bearer ") - 1;
    token.len -= sizeof("Bearer ") - 1;

    if (!ngx_http_victorops_secret_match(tokens, &token)) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Slack request signing: X-Slack-Signature "v0=" followed by the hex
 * HMAC-SHA256, with one of "secrets", of "v0:" timestamp ":" raw body.
 * NGX_OK, NGX_DECLINED (bad signature), NGX_ABORT (timestamp outside
 * the window), NGX_ERROR.
 */

ngx_int_t
ngx_http_victorops_slack_signature(ngx_str_t *ts, ngx_str_t *sig,
    ngx_str_t *body, ngx_array_t *secrets, time_t now, time_t window)
{
    u_char     *data, *p;
    time_t      t;
    ngx_int_t   rc;
    ngx_str_t   hex;

    t = ngx_atotm(ts->data, ts->len);

    if (t == NGX_ERROR) {
        return NGX_DECLINED;
    }

    if (t > now + window || t < now - window) {
        return NGX_ABORT;
    }

    if (sig->len <= 3 || ngx_strncmp(sig->data, "v0=", 3) != 0) {
        return NGX_DECLINED;
    }

    data = ngx_alloc(sizeof("v0::") - 1 + ts->len + body->len, ngx_cycle->log);
    if (data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(data, "v0:", 3);
    p = ngx_cpymem(p, ts->data, ts->len);
    *p++ = ':';
    p = ngx_cpymem(p, body->data, body->len);

    hex.data = sig->data + 3;
    hex.len = sig->len - 3;

    rc = ngx_http_victorops_hmac_match(secrets, data, p - data, &hex, 1);

    ngx_free(data);

    return rc;
}
