
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The text checks of fuzz_incident (fuzz_text.c).
 */


#ifndef _FUZZ_TEXT_H_INCLUDED_
#define _FUZZ_TEXT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


void fuzz_text_utf8(ngx_pool_t *pool, u_char *data, size_t len);
void fuzz_text_iso8601(ngx_str_t *s);


#endif /* _FUZZ_TEXT_H_INCLUDED_ */
