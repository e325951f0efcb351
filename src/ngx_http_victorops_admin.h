
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The status endpoint's admin actions, shared by ngx_http_victorops_status.c
 * (the requests, SQLite's EXEC) and ngx_http_victorops_admin_pg.c (the
 * same actions and the queue's numbers on a PostgreSQL store).  Not in
 * ngx_http_victorops_module.h: these two files alone include it.
 */


#ifndef _NGX_HTTP_VICTOROPS_ADMIN_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_ADMIN_H_INCLUDED_


/* an admin action: an EXEC (or queries), answered once it completes */

#define NGX_HTTP_VICTOROPS_ADMIN_REPLAY  0
#define NGX_HTTP_VICTOROPS_ADMIN_LINK    1
#define NGX_HTTP_VICTOROPS_ADMIN_UNLINK  2
#define NGX_HTTP_VICTOROPS_ADMIN_DEAD    3    /* the list, PostgreSQL's */

#define NGX_HTTP_VICTOROPS_ADMIN_DEAD_MAX  1000


typedef struct {
    ngx_http_victorops_store_call_t   call;
    ngx_uint_t                        action;
    ngx_uint_t                        n;          /* replayed */
    ngx_str_t                         id;
    ngx_str_t                         key;
    ngx_str_t                         incident;
    ngx_str_t                         entity;
    ngx_str_t                         rootly_incident;
    ngx_str_t                         rootly_alert;
    ngx_str_t                         body;       /* the dead letters */
} ngx_http_victorops_admin_t;


ngx_int_t ngx_http_victorops_admin_pg(ngx_http_victorops_pgb_t *b,
    ngx_http_victorops_store_op_t *op);
ngx_int_t ngx_http_victorops_status_pg_refresh(ngx_http_request_t *r,
    ngx_http_victorops_main_conf_t *vmcf,
    void (*answer)(ngx_http_request_t *r));


#endif /* _NGX_HTTP_VICTOROPS_ADMIN_H_INCLUDED_ */
