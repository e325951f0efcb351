
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * fuzz_incident's input as text (fuzz_text.h): an upstream's error
 * text through utf8_text() and utf8_cut(), and an ISO 8601 time
 * through parse_iso8601(), each checked against a decoding written out
 * here.  abort() on violation, as in the targets.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngx_http_victorops_vo_api.h"
#include "ngx_http_victorops_rootly_api.h"
#include "fuzz_text.h"


#define fuzz_check(expr)                                                      \
    if (!(expr)) {                                                            \
        fuzz_fail(__LINE__, #expr);                                           \
    }


static void fuzz_fail(int line, const char *expr) __attribute__((noreturn));


static void
fuzz_fail(int line, const char *expr)
{
    fprintf(stderr, "fuzz_text.c:%d: invariant violated: %s\n", line, expr);
    abort();
}


/*
 * Well-formed UTF-8 (RFC 3629), decoded by value, independently of
 * payload.c: no overlong forms, no surrogates, nothing past U+10FFFF.
 */

static int
fuzz_utf8_valid(u_char *p, size_t len)
{
    u_char    *end;
    size_t     n, i;
    uint32_t   c, min;

    end = p + len;

    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }

        if ((*p & 0xe0) == 0xc0) {
            n = 1;
            c = *p & 0x1f;
            min = 0x80;

        } else if ((*p & 0xf0) == 0xe0) {
            n = 2;
            c = *p & 0x0f;
            min = 0x800;

        } else if ((*p & 0xf8) == 0xf0) {
            n = 3;
            c = *p & 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if ((size_t) (end - p) <= n) {
            return 0;
        }

        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return 0;
            }

            c = (c << 6) | (p[i] & 0x3f);
        }

        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return 0;
        }

        p += n + 1;
    }

    return 1;
}


/*
 * The input as an upstream's error text: utf8_text() makes it
 * well-formed UTF-8 that yajl's generator takes, the input itself (but
 * for control characters, made spaces) when it is so; a copy limited to
 * "size" bytes is the longest prefix of whole characters of the full
 * one, which is also what utf8_cut() of the full one at "size" gives;
 * utf8_cut() at every byte of it backs up to the start of a character
 * cut short, and only then.
 */

void
fuzz_text_utf8(ngx_pool_t *pool, u_char *data, size_t len)
{
    u_char                     *all, *part, *p;
    size_t                      n, k, size, i;
    ngx_str_t                   s, body;
    ngx_http_victorops_json_t  *root;

    static size_t  sizes[] = { 0, 1, 2, 3, 4, 5, 100, 160, 200, 4096 };

    all = ngx_pnalloc(pool, 3 * len + 1);
    fuzz_check(all != NULL);

    n = ngx_http_victorops_utf8_text(all, 3 * len, data, len) - all;

    fuzz_check(n >= len && n <= 3 * len);
    fuzz_check(fuzz_utf8_valid(all, n));
    fuzz_check((n == len) == fuzz_utf8_valid(data, len));
    for (k = 0; n == len && k < len; k++) {
        fuzz_check(all[k] == ((data[k] < 0x20 || data[k] == 0x7f)
                              ? ' ' : data[k]));
    }

    s.data = all;
    s.len = n;

    /* it makes a Rootly timeline event: JSON that re-parses */

    fuzz_check(ngx_http_victorops_rootly_event(pool, &s, &body) == NGX_OK);
    fuzz_check(body.data[body.len] == '\n');
    fuzz_check(ngx_http_victorops_json_parse(pool, &body,
                                             NGX_HTTP_VICTOROPS_MAX_DEPTH,
                                             &root)
               == NGX_OK
               && root->type == NGX_HTTP_VICTOROPS_JSON_OBJECT);

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]) + 2; i++) {
        size = (i < sizeof(sizes) / sizeof(sizes[0])) ? sizes[i]
               : (i % 2) ? len : n / 2;

        /* exactly "size" bytes: ASan sees a write past them */

        part = ngx_pnalloc(pool, size ? size : 1);
        fuzz_check(part != NULL);

        k = ngx_http_victorops_utf8_text(part, size, data, len) - part;

        fuzz_check(k <= size && k <= n);
        fuzz_check(k == 0 || ngx_memcmp(part, all, k) == 0);
        fuzz_check(k == n || size - k < 4);
        fuzz_check(size > n
                   || ngx_http_victorops_utf8_cut(all, all + size)
                      == all + k);
    }

    for (k = 0; k <= n; k++) {
        p = ngx_http_victorops_utf8_cut(all, all + k);

        if (k == n || (all[k] & 0xc0) != 0x80) {
            fuzz_check(p == all + k);

        } else {
            fuzz_check(p < all + k && all + k - p < 4);
            fuzz_check((*p & 0xc0) == 0xc0);
        }
    }
}


/*
 * "YYYY-MM-DDTHH:MM:SS...": 0 unless the 14 digits are there and in
 * range, else timegm() of the fields.  Years from 0001 only: for
 * January and February of year 0 parse_iso8601() is a day off (its
 * y / 4 truncates toward zero for y = -1); no VictorOps time is there.
 */

void
fuzz_text_iso8601(ngx_str_t *s)
{
    u_char      *p;
    time_t       t, expect;
    struct tm    tm;
    ngx_uint_t   i;
    int          y, m, d, hh, mm, ss;

    static ngx_uint_t  digits[] = { 0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15,
                                    17, 18 };

    t = ngx_http_victorops_parse_iso8601(s);

    if (s->len < 19) {
        fuzz_check(t == 0);
        return;
    }

    p = s->data;

    for (i = 0; i < sizeof(digits) / sizeof(digits[0]); i++) {
        if (p[digits[i]] < '0' || p[digits[i]] > '9') {
            fuzz_check(t == 0);
            return;
        }
    }

#define fuzz_num(at, n)                                                       \
    ((n) == 4 ? (p[at] - '0') * 1000 + (p[at + 1] - '0') * 100                \
                + (p[at + 2] - '0') * 10 + (p[at + 3] - '0')                  \
              : (p[at] - '0') * 10 + (p[at + 1] - '0'))

    y = fuzz_num(0, 4);
    m = fuzz_num(5, 2);
    d = fuzz_num(8, 2);
    hh = fuzz_num(11, 2);
    mm = fuzz_num(14, 2);
    ss = fuzz_num(17, 2);

#undef fuzz_num

    if (m < 1 || m > 12 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60)
    {
        fuzz_check(t == 0);
        return;
    }

    if (y == 0) {
        return;
    }

    /* timegm() normalizes Feb 31 and :60 the same linear way */

    ngx_memzero(&tm, sizeof(struct tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;

    expect = timegm(&tm);

    if (t != expect) {
        fprintf(stderr, "parse_iso8601(\"%.19s\") = %lld, timegm %lld\n",
                (char *) p, (long long) t, (long long) expect);
    }

    fuzz_check(t == expect);
}
