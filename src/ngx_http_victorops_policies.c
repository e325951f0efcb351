
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The team-policy cache: the escalation policies of a VictorOps team
 * (GET /api-public/v1/team/{slug}/policies), which an escalation to a
 * Rootly team's VictorOps team pages.  Each worker keeps them for 5
 * minutes; each team's policies live in a pool of their own, replaced
 * whole when the team is looked up again.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_TEAM_TTL      300000


typedef struct {
    ngx_str_t                          slug;
    ngx_array_t                       *policies;      /* ngx_str_t */
    ngx_pool_t                        *pool;
    int64_t                            at;
} ngx_http_victorops_team_cache_t;


struct ngx_http_victorops_policies_s {
    ngx_array_t                        teams;         /* team_cache_t */
};


static ngx_http_victorops_team_cache_t *ngx_http_victorops_policies_team(
    ngx_http_victorops_policies_t *pc, ngx_str_t *slug, int64_t now);
static void ngx_http_victorops_policies_cleanup(void *data);


/* a worker's cache, in "pool": the teams' own pools go with it */

ngx_http_victorops_policies_t *
ngx_http_victorops_policies_create(ngx_pool_t *pool)
{
    ngx_pool_cleanup_t             *cln;
    ngx_http_victorops_policies_t  *pc;

    pc = ngx_palloc(pool, sizeof(ngx_http_victorops_policies_t));
    if (pc == NULL) {
        return NULL;
    }

    if (ngx_array_init(&pc->teams, pool, 8,
                       sizeof(ngx_http_victorops_team_cache_t))
        != NGX_OK)
    {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_victorops_policies_cleanup;
    cln->data = pc;

    return pc;
}


/*
 * A team's policies (ngx_str_t); NULL: not looked up, or ("now" not 0)
 * longer ago than the cache keeps them.
 */

ngx_array_t *
ngx_http_victorops_policies_get(ngx_http_victorops_policies_t *pc,
    ngx_str_t *slug, int64_t now)
{
    ngx_http_victorops_team_cache_t  *tc;

    tc = ngx_http_victorops_policies_team(pc, slug, now);

    return tc ? tc->policies : NULL;
}


/* GET /api-public/v1/team/{slug}/policies */

ngx_http_victorops_transfer_t *
ngx_http_victorops_policies_request(ngx_http_victorops_integration_t *vi,
    ngx_pool_t *pool, ngx_str_t *slug)
{
    u_char                         *p, *path;
    ngx_http_victorops_transfer_t  *t;

    path = ngx_pnalloc(pool, sizeof("/api-public/v1/team//policies")
                             + 3 * slug->len);
    if (path == NULL) {
        return NULL;
    }

    p = ngx_cpymem(path, "/api-public/v1/team/",
                   sizeof("/api-public/v1/team/") - 1);
    p = (u_char *) ngx_escape_uri(p, slug->data, slug->len,
                                  NGX_ESCAPE_URI_COMPONENT);
    p = ngx_cpymem(p, "/policies", sizeof("/policies"));

    t = ngx_http_victorops_vo_transfer(vi, "GET", (char *) path, NULL);
    if (t == NULL) {
        return NULL;
    }

    t->what = "team policies lookup";

    return t;
}


/* the answer of a lookup (2xx): the team's policies, as of "now" */

ngx_int_t
ngx_http_victorops_policies_store(ngx_http_victorops_policies_t *pc,
    ngx_str_t *slug, ngx_str_t *resp, int64_t now)
{
    ngx_str_t                        *policy;
    ngx_uint_t                        i;
    ngx_http_victorops_team_cache_t  *tc;

    tc = ngx_http_victorops_policies_team(pc, slug, 0);

    if (tc == NULL) {
        tc = ngx_array_push(&pc->teams);
        if (tc == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(tc, sizeof(ngx_http_victorops_team_cache_t));
    }

    if (tc->pool) {
        ngx_destroy_pool(tc->pool);
    }

    tc->pool = ngx_create_pool(1024, ngx_cycle->log);
    if (tc->pool == NULL) {
        tc->slug.len = 0;
        return NGX_ERROR;
    }

    tc->slug.data = ngx_pstrdup(tc->pool, slug);
    tc->slug.len = slug->len;
    tc->at = now;
    tc->policies = ngx_array_create(tc->pool, 4, sizeof(ngx_str_t));

    if (tc->slug.data == NULL || tc->policies == NULL) {
        tc->slug.len = 0;
        return NGX_ERROR;
    }

    /* the policies' slugs are copied out of the response */

    if (ngx_http_victorops_vo_policies(tc->pool, resp, tc->policies)
        == NGX_ERROR)
    {
        tc->slug.len = 0;
        return NGX_ERROR;
    }

    for (i = 0; i < tc->policies->nelts; i++) {
        policy = &((ngx_str_t *) tc->policies->elts)[i];
        policy->data = ngx_pstrdup(tc->pool, policy);

        if (policy->data == NULL) {
            tc->slug.len = 0;
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the cached policies of "teams" as targets, copied into "pool" */

ngx_int_t
ngx_http_victorops_policies_targets(ngx_http_victorops_policies_t *pc,
    ngx_pool_t *pool, ngx_array_t *teams, ngx_array_t *targets)
{
    ngx_str_t    *team, *policy, type, slug;
    ngx_uint_t    i, j;
    ngx_array_t  *policies;

    ngx_str_set(&type, "EscalationPolicy");
    team = teams->elts;

    for (i = 0; i < teams->nelts; i++) {
        policies = ngx_http_victorops_policies_get(pc, &team[i], 0);

        if (policies == NULL) {
            continue;
        }

        policy = policies->elts;

        for (j = 0; j < policies->nelts; j++) {
            slug.len = policy[j].len;
            slug.data = ngx_pstrdup(pool, &policy[j]);

            if (slug.data == NULL
                || ngx_http_victorops_target_add(targets, &type, &slug)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* a cached team; "now" 0: however old */

static ngx_http_victorops_team_cache_t *
ngx_http_victorops_policies_team(ngx_http_victorops_policies_t *pc,
    ngx_str_t *slug, int64_t now)
{
    ngx_uint_t                        i;
    ngx_http_victorops_team_cache_t  *tc;

    tc = pc->teams.elts;

    for (i = 0; i < pc->teams.nelts; i++) {
        if (tc[i].slug.len == slug->len
            && ngx_strncmp(tc[i].slug.data, slug->data, slug->len) == 0)
        {
            if (now && now - tc[i].at > NGX_HTTP_VICTOROPS_TEAM_TTL) {
                return NULL;
            }

            return &tc[i];
        }
    }

    return NULL;
}


static void
ngx_http_victorops_policies_cleanup(void *data)
{
    ngx_uint_t                        i;
    ngx_http_victorops_policies_t    *pc;
    ngx_http_victorops_team_cache_t  *tc;

    pc = data;
    tc = pc->teams.elts;

    for (i = 0; i < pc->teams.nelts; i++) {
        if (tc[i].pool) {
            ngx_destroy_pool(tc[i].pool);
        }
    }
}
