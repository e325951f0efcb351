
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The VictorOps sender's job context and worker state, private to the
 * sender's files: included by ngx_http_victorops_vo.c (the machine),
 * ..._vo_page.c (the paging steps), ..._vo_resolve.c (the resolve step)
 * and ..._vo_oncall.c (the on-call hand-off), after
 * ngx_http_victorops_module.h, never by it.  The rest of the module
 * sees the functions of their headers and an opaque vo_ctx_t.
 */


#ifndef _NGX_HTTP_VICTOROPS_VO_CTX_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_VO_CTX_H_INCLUDED_


/* a worker's: the team-policy cache, and who is on call (a while) */

typedef struct {
    ngx_pool_t                        *pool;
    ngx_http_victorops_policies_t     *policies;
    ngx_pool_t                        *oncall_pool;
    ngx_str_t                          oncall;
    int64_t                            oncall_at;
} ngx_http_victorops_vo_worker_t;


/* the steps of a job, one call each, in the order of vo.c's table */

#define NGX_HTTP_VICTOROPS_S_TEAMS       0
#define NGX_HTTP_VICTOROPS_S_FIND        1
#define NGX_HTTP_VICTOROPS_S_CREATE      2
#define NGX_HTTP_VICTOROPS_S_REROUTE     3
#define NGX_HTTP_VICTOROPS_S_RESOLVE     4
#define NGX_HTTP_VICTOROPS_S_ONCALL      5


/* a job under way: its own pool, copies of the job and of its body */

struct ngx_http_victorops_vo_ctx_s {
    ngx_pool_t                        *pool;
    ngx_http_victorops_integration_t  *vi;
    ngx_http_victorops_job_t           job;
    ngx_http_victorops_escalation_t    esc;
    ngx_http_victorops_link_t          link;
    ngx_uint_t                         linked;
    ngx_str_t                          canon;
    ngx_array_t                        targets;       /* target_t */
    ngx_array_t                        numbers;       /* ngx_str_t */
    ngx_uint_t                         team;
    ngx_uint_t                         step;
    ngx_uint_t                         has_token;
    int64_t                            token_wait;    /* ms, asked */
    int64_t                            lease_until;   /* extended to */
    ngx_uint_t                         calls;
    ngx_uint_t                         gave_up;    /* still failing */
    ngx_uint_t                         creating;   /* its mark written */
    ngx_http_victorops_vo_find_t      *find;
    ngx_http_victorops_transfer_t     *t;
    ngx_event_t                        wait;
    ngx_connection_t                   dummy;
};


/*
 * The sender's store reads and writes (vo_store.c): NGX_AGAIN, the
 * answer goes to a handler later (a PostgreSQL store), with the rc the
 * call would have returned.
 */

typedef void (*ngx_http_victorops_vo_read_pt)(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_int_t rc);

ngx_int_t ngx_http_victorops_vo_escalation_read(
    ngx_http_victorops_vo_ctx_t *ctx, ngx_http_victorops_vo_read_pt handler);
ngx_int_t ngx_http_victorops_vo_open_read(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_vo_read_pt handler);
ngx_int_t ngx_http_victorops_vo_creating(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_http_victorops_vo_read_pt handler);
void ngx_http_victorops_vo_resume(ngx_http_victorops_vo_ctx_t *ctx,
    ngx_int_t rc, int64_t wait);


#endif /* _NGX_HTTP_VICTOROPS_VO_CTX_H_INCLUDED_ */
