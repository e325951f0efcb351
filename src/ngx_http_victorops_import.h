
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_import.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_IMPORT_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_IMPORT_H_INCLUDED_


/* one import at a time per integration: ngx_http_victorops_import_lock.c */

typedef struct ngx_http_victorops_import_lock_s
    ngx_http_victorops_import_lock_t;

typedef void (*ngx_http_victorops_import_locked_pt)(
    ngx_http_victorops_import_lock_t *lk, ngx_int_t rc);


struct ngx_http_victorops_import_lock_s {
    ngx_http_victorops_integration_t    *vi;
    ngx_pool_t                          *pool;     /* the import's */
    ngx_http_victorops_import_locked_pt  handler;  /* PostgreSQL's answer */
    void                                *data;
    int64_t                              token;    /* 0: not held */
    int64_t                              asked;
    int64_t                              renewed;  /* ms */
    ngx_str_t                            holder;   /* the node, if known */
    unsigned                             taking:1;
};


ngx_int_t ngx_http_victorops_import_handler(ngx_http_request_t *r);

ngx_int_t ngx_http_victorops_import_lock(ngx_http_victorops_import_lock_t *lk);
void ngx_http_victorops_import_lock_renew(
    ngx_http_victorops_import_lock_t *lk);
void ngx_http_victorops_import_unlock(ngx_http_victorops_import_lock_t *lk);


#endif /* _NGX_HTTP_VICTOROPS_IMPORT_H_INCLUDED_ */
