
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_budget.c defines for the other files: the
 * budgets (alert_limit, api_rate) and the rate-limit pauses every node of
 * a PostgreSQL store shares.  Included by ngx_http_victorops_module.h
 * after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_BUDGET_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_BUDGET_H_INCLUDED_


/*
 * The wait budget_take() gives the one job that asks the database for a
 * token of api_rate: the answer takes some ms, and the token is this
 * node's.  Such a job waits for it where it is (its lease kept), not in
 * the shared queue, where another node might claim it; a token spent
 * late is dropped (budget.c, BUDGET_FRESH).
 */
#define NGX_HTTP_VICTOROPS_BUDGET_SOON    10


ngx_int_t ngx_http_victorops_budget_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
void ngx_http_victorops_budget_done(ngx_http_victorops_integration_t *vi);
ngx_int_t ngx_http_victorops_budget_take(
    ngx_http_victorops_integration_t *vi, ngx_uint_t which, int64_t now,
    int64_t *wait);
int64_t ngx_http_victorops_budget_stock(ngx_http_victorops_integration_t *vi,
    ngx_uint_t which);
void ngx_http_victorops_budget_pause(ngx_http_victorops_integration_t *vi,
    ngx_uint_t peer, int64_t now, int64_t until);


#endif /* _NGX_HTTP_VICTOROPS_BUDGET_H_INCLUDED_ */
