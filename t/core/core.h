
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * make check-core: unit tests of the request-free core (src/
 * ngx_http_victorops_{json,payload,rootly_api,escalation,vo_api,
 * slack_api,decide}.c), linked against real nginx core objects
 * (fuzz/core.mk), with no nginx process.  Each suite is a function of
 * its own file; checks count, and a failed one prints where and what,
 * with the case it was in.
 */


#ifndef _CORE_H_INCLUDED_
#define _CORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_decide.h"


#define core_check(expr)                                                      \
    core_ok((expr) != 0, __FILE__, __LINE__, #expr)

/* a string equals a C string, byte for byte (NULL: the empty string) */
#define core_str_is(s, c)                                                     \
    core_ok(core_str_eq(s, c), __FILE__, __LINE__, #s " is \"" c "\"")


typedef struct {
    ngx_pool_t                   *pool;
    const char                   *fixtures;     /* t/fixtures/victorops */
    const char                   *suite;
    const char                   *name;         /* the case, if any */
    ngx_uint_t                    checks;
    ngx_uint_t                    failed;
} core_t;


extern core_t  core;


void core_ok(int ok, const char *file, int line, const char *expr);
int core_str_eq(ngx_str_t *s, const char *c);
ngx_str_t *core_str(const char *c);
ngx_http_victorops_json_t *core_json(const char *text);
ngx_int_t core_file(const char *name, ngx_str_t *content);

void core_classify(void);
void core_form(void);
void core_utf8(void);
void core_bodies(void);
void core_event_record(void);
void core_decide_event(void);
void core_decide_dispatch(void);
void core_decide_call(void);
void core_decide_rootly(void);
void core_decide_vo(void);
void core_slack(void);


#endif /* _CORE_H_INCLUDED_ */
