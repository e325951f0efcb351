
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The decisions' checks (fuzz_decide.c), linked into both targets.
 */


#ifndef _FUZZ_DECIDE_H_INCLUDED_
#define _FUZZ_DECIDE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_decide.h"


void fuzz_decide_event(ngx_pool_t *pool, ngx_http_victorops_event_t *ev);
void fuzz_decide_rootly(ngx_pool_t *pool, ngx_http_victorops_json_t *data,
    ngx_array_t *rules);


#endif /* _FUZZ_DECIDE_H_INCLUDED_ */
