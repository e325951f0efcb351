
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The UTF-8 helpers: utf8_cut() backs up over a character cut short,
 * and only then; utf8_text() copies well-formed UTF-8 (RFC 3629), a
 * byte that begins no character as U+FFFD, control characters as
 * spaces, and stops before a character that does not fit.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "core.h"


typedef struct {
    const char                   *name;
    const char                   *text;
    size_t                        size;         /* 0: 64 */
    const char                   *copy;
} core_utf8_case_t;


static core_utf8_case_t  core_utf8_cases[] = {

    { "ASCII as is", "plain text", 0, "plain text" },
    { "controls become spaces", "a\nb\tc\x7f" "d\x01", 0, "a b c d " },
    { "2, 3 and 4 bytes", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0,
      "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
    { "Latin-1", "caf\xe9!", 0, "caf\xef\xbf\xbd!" },
    { "overlong 2 bytes", "\xc0\xaf", 0, "\xef\xbf\xbd\xef\xbf\xbd" },
    { "overlong 3 bytes", "\xe0\x80\xaf", 0,
      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
    { "a surrogate", "\xed\xa0\x80", 0,
      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
    { "past U+10FFFF", "\xf4\x90\x80\x80", 0,
      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
    { "a lead byte F5", "\xf5x", 0, "\xef\xbf\xbdx" },
    { "a sequence cut short at the end", "ok\xe2\x82", 0,
      "ok\xef\xbf\xbd\xef\xbf\xbd" },
    { "a character that does not fit is left out", "ab\xe2\x82\xac", 4,
      "ab" },
    { "U+FFFD that does not fit is left out", "abc\xff", 5, "abc" },
    { "exactly full", "ab\xc3\xa9", 4, "ab\xc3\xa9" },
    { "nothing fits", "\xc3\xa9", 1, "" },
    { NULL, NULL, 0, NULL }
};


void
core_utf8(void)
{
    u_char            *p, buf[64];
    size_t             i, len;
    ngx_str_t         *s;
    core_utf8_case_t  *c;

    for (c = core_utf8_cases; c->name; c++) {
        core.name = c->name;

        len = ngx_strlen(c->text);
        ngx_memset(buf, 'X', sizeof(buf));

        p = ngx_http_victorops_utf8_text(buf, c->size ? c->size : 64,
                                         (u_char *) c->text, len);

        core_check((size_t) (p - buf) == ngx_strlen(c->copy)
                   && ngx_memcmp(buf, c->copy, p - buf) == 0);
        core_check(p == buf + sizeof(buf) || *p == 'X');
    }

    core.name = "utf8_cut";

    /* "a" U+00E9 U+20AC U+1F600: cuts at each byte */

    s = core_str("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");

    {
        static size_t  ends[] = { 0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10 };

        for (i = 0; i <= s->len; i++) {
            core_check(ngx_http_victorops_utf8_cut(s->data, s->data + i)
                       == s->data + ends[i]);
        }
    }

    /* at the start of the text, and over ASCII */

    core_check(ngx_http_victorops_utf8_cut(s->data + 1, s->data + 2)
               == s->data + 1);

    s = core_str("abc");
    core_check(ngx_http_victorops_utf8_cut(s->data, s->data + 2)
               == s->data + 2);

    core.name = NULL;
}
