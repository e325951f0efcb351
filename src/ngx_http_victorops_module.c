
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * ngx_http_victorops_module: Splunk On-Call (VictorOps) and Rootly,
 * connected at the edge.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_victorops_module.h"


static ngx_int_t ngx_http_victorops_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_victorops_masked_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_victorops_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_victorops_mask_handler(ngx_http_request_t *r);
static char *ngx_http_victorops_thread_pool(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_victorops_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_victorops_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_victorops_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_victorops_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_victorops_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_victorops_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_victorops_init_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_victorops_integration_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi);
static void ngx_http_victorops_exit_process(ngx_cycle_t *cycle);
static void ngx_http_victorops_integration_done(
    ngx_http_victorops_integration_t *vi);


/* the module's shared memory zone, named so as not to clash with users' */

static ngx_str_t  ngx_http_victorops_zone =
    ngx_string("ngx_http_victorops_module");


static ngx_conf_num_bounds_t  ngx_http_victorops_connections_bounds = {
    ngx_conf_check_num_bounds, 1, 1024
};


static ngx_command_t  ngx_http_victorops_commands[] = {

    { ngx_string("victorops_integration"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_victorops_integration_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("victorops_max_connections"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_victorops_main_conf_t, max_connections),
      &ngx_http_victorops_connections_bounds },

    { ngx_string("victorops_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_victorops_thread_pool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("victorops_webhook"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_victorops_webhook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("victorops_rootly_events"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_victorops_webhook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_victorops_events_handler },

    { ngx_string("victorops_escalate"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_victorops_webhook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_victorops_escalate_handler },

    { ngx_string("victorops_slack_command"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_victorops_webhook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_victorops_slack_handler },

    { ngx_string("victorops_import_teams"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_victorops_webhook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_victorops_import_handler },

    { ngx_string("victorops_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_victorops_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_victorops_module_ctx = {
    ngx_http_victorops_add_variables,      /* preconfiguration */
    ngx_http_victorops_init,               /* postconfiguration */

    ngx_http_victorops_create_main_conf,   /* create main configuration */
    ngx_http_victorops_init_main_conf,     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_victorops_create_loc_conf,    /* create location configuration */
    ngx_http_victorops_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_victorops_module = {
    NGX_MODULE_V1,
    &ngx_http_victorops_module_ctx,        /* module context */
    ngx_http_victorops_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_victorops_init_module,        /* init module */
    ngx_http_victorops_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_victorops_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_victorops_vars[] = {

    { ngx_string("victorops_request"), NULL,
      ngx_http_victorops_masked_variable,
      offsetof(ngx_http_request_t, request_line),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("victorops_request_uri"), NULL,
      ngx_http_victorops_masked_variable,
      offsetof(ngx_http_request_t, unparsed_uri),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_victorops_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_victorops_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * $victorops_request and $victorops_request_uri: $request and
 * $request_uri with the value of every "secret" argument masked.
 */

static ngx_int_t
ngx_http_victorops_masked_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  *s, masked;

    s = (ngx_str_t *) ((char *) r + data);

    if (s->data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ngx_http_victorops_mask_secret(r->pool, s, &masked) != NGX_OK) {
        return NGX_ERROR;
    }

    v->len = masked.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = masked.data;

    return NGX_OK;
}


/*
 * With an integration configured, the request line every later phase
 * logs ($request, the "request:" context of error log lines, limit_req's
 * rejections among them) has "secret" arguments masked from the
 * post-read phase on.
 */

static ngx_int_t
ngx_http_victorops_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt             *h;
    ngx_http_core_main_conf_t       *cmcf;
    ngx_http_victorops_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_victorops_module);

    if (vmcf->integrations.nelts == 0) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_victorops_mask_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_mask_handler(ngx_http_request_t *r)
{
    ngx_str_t  masked;

    if (r->args.len < sizeof("secret") - 1
        || ngx_strlcasestrn(r->args.data, r->args.data + r->args.len,
                            (u_char *) "secret", sizeof("secret") - 2)
           == NULL)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_victorops_mask_secret(r->pool, &r->request_line, &masked)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->request_line = masked;

    return NGX_DECLINED;
}


/* victorops_thread_pool NAME: where the stores' writers run */

static char *
ngx_http_victorops_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
#if (NGX_THREADS)

    ngx_http_victorops_main_conf_t  *vmcf = conf;

    ngx_str_t  *value;

    if (vmcf->thread_pool.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "needs a thread pool name";
    }

    vmcf->thread_pool = value[1];

    return NGX_CONF_OK;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"victorops_thread_pool\" needs nginx built with "
                       "threads (--with-threads); without them the "
                       "stores' writes run on the event loop");

    return NGX_CONF_ERROR;

#endif
}


static void *
ngx_http_victorops_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_victorops_main_conf_t  *vmcf;

    vmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_victorops_main_conf_t));
    if (vmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&vmcf->integrations, cf->pool, 2,
                       sizeof(ngx_http_victorops_integration_t *))
        != NGX_OK
        || ngx_array_init(&vmcf->references, cf->pool, 2,
                          sizeof(ngx_http_victorops_reference_t))
           != NGX_OK)
    {
        return NULL;
    }

    vmcf->max_connections = NGX_CONF_UNSET_UINT;

    return vmcf;
}


static char *
ngx_http_victorops_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_victorops_main_conf_t  *vmcf = conf;

    ngx_uint_t                          i;
#if (NGX_THREADS)
    ngx_thread_pool_t                  *tp;
#endif
    ngx_http_victorops_integration_t  **vip;

    ngx_conf_init_uint_value(vmcf->max_connections, 16);

    if (ngx_http_victorops_resolve_references(cf, vmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (vmcf->integrations.nelts == 0) {
        return NGX_CONF_OK;
    }

    if (vmcf->integrations.nelts > NGX_HTTP_VICTOROPS_MAX_INTEGRATIONS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "more than %d victorops integrations",
                           NGX_HTTP_VICTOROPS_MAX_INTEGRATIONS);
        return NGX_CONF_ERROR;
    }

#if (NGX_THREADS)

    /*
     * The stores' writers run in victorops_thread_pool, nginx's "default"
     * unless set (a name that no thread_pool defines is an error)
     */

    tp = ngx_thread_pool_add(cf, vmcf->thread_pool.len ? &vmcf->thread_pool
                                                        : NULL);
    if (tp == NULL) {
        return NGX_CONF_ERROR;
    }

#endif

    vip = vmcf->integrations.elts;

    for (i = 0; i < vmcf->integrations.nelts; i++) {
        vip[i]->index = i;
#if (NGX_THREADS)
        vip[i]->thread_pool = tp;
#endif

        if (vip[i]->name.len > NGX_HTTP_VICTOROPS_NAME_MAX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "victorops integration name \"%V\" is "
                               "longer than %d", &vip[i]->name,
                               NGX_HTTP_VICTOROPS_NAME_MAX);
            return NGX_CONF_ERROR;
        }
    }

    /* counters, rate limits and credential health, shared by workers */

    vmcf->shm_zone = ngx_shared_memory_add(cf, &ngx_http_victorops_zone,
                          8 * ngx_pagesize
                          + NGX_HTTP_VICTOROPS_MAX_INTEGRATIONS
                            * sizeof(ngx_http_victorops_shctx_t),
                          &ngx_http_victorops_module);
    if (vmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    vmcf->shm_zone->init = ngx_http_victorops_init_zone;
    vmcf->shm_zone->data = vmcf;

    return NGX_CONF_OK;
}


/*
 * One table of integration states for the zone's lifetime; across
 * reloads an integration finds its state again by name.
 */

static ngx_int_t
ngx_http_victorops_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_victorops_main_conf_t  *vmcf = shm_zone->data;

    ngx_uint_t                          i, j, free;
    ngx_slab_pool_t                    *shpool;
    ngx_http_victorops_shctx_t         *sh;
    ngx_http_victorops_integration_t  **vip, *vi;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shpool->data == NULL || (data == NULL && !shm_zone->shm.exists)) {
        sh = ngx_slab_calloc(shpool, NGX_HTTP_VICTOROPS_MAX_INTEGRATIONS
                                     * sizeof(ngx_http_victorops_shctx_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = sh;

    } else {
        sh = shpool->data;
    }

    vip = vmcf->integrations.elts;

    for (i = 0; i < vmcf->integrations.nelts; i++) {
        vi = vip[i];
        free = NGX_HTTP_VICTOROPS_MAX_INTEGRATIONS;

        for (j = 0; j < NGX_HTTP_VICTOROPS_MAX_INTEGRATIONS; j++) {
            if (sh[j].name_len == vi->name.len
                && ngx_strncmp(sh[j].name, vi->name.data, vi->name.len) == 0)
            {
                break;
            }

            if (sh[j].name_len == 0
                && free == NGX_HTTP_VICTOROPS_MAX_INTEGRATIONS)
            {
                free = j;
            }
        }

        if (j == NGX_HTTP_VICTOROPS_MAX_INTEGRATIONS) {
            if (free == NGX_HTTP_VICTOROPS_MAX_INTEGRATIONS) {

                /* names of removed integrations filled it: start over */

                ngx_memzero(sh, NGX_HTTP_VICTOROPS_MAX_INTEGRATIONS
                                * sizeof(ngx_http_victorops_shctx_t));
                free = 0;
            }

            j = free;
            ngx_memcpy(sh[j].name, vi->name.data, vi->name.len);
            sh[j].name_len = vi->name.len;
        }

        vi->sh = &sh[j];
        vi->shpool = shpool;
    }

    return NGX_OK;
}


static void *
ngx_http_victorops_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_victorops_loc_conf_t  *vlcf;

    vlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_victorops_loc_conf_t));
    if (vlcf == NULL) {
        return NULL;
    }

    vlcf->integration = NGX_CONF_UNSET_PTR;

    return vlcf;
}


static char *
ngx_http_victorops_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_victorops_loc_conf_t  *prev = parent;
    ngx_http_victorops_loc_conf_t  *conf = child;

    ngx_conf_merge_ptr_value(conf->integration, prev->integration, NULL);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_victorops_init_module(ngx_cycle_t *cycle)
{
    CURLcode                            rc;
    ngx_uint_t                          i;
    ngx_http_victorops_main_conf_t     *vmcf;
    ngx_http_victorops_integration_t  **vip;

    /* before any worker forks; libcurl counts the calls */

    rc = curl_global_init(CURL_GLOBAL_DEFAULT);

    if (rc != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "victorops: curl_global_init() failed: %s",
                      curl_easy_strerror(rc));
        return NGX_ERROR;
    }

    vmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_victorops_module);
    if (vmcf == NULL) {
        return NGX_OK;
    }

    /* stores are created and migrated here, before the workers start */

    vip = vmcf->integrations.elts;

    for (i = 0; i < vmcf->integrations.nelts; i++) {

        /*
         * A PostgreSQL store: each worker connects and migrates it; its
         * spool is a SQLite store of the node's
         */

        if (vip[i]->store_pg
            ? ngx_http_victorops_spool_prepare(cycle, vip[i]) == NGX_OK
            : ngx_http_victorops_store_prepare(cycle, vip[i]) == NGX_OK)
        {
            continue;
        }

        /*
         * nginx exits when a module's init fails, on a reload too: there,
         * the running nginx stays up and this integration alone goes
         * without its store (503) until it is fixed and nginx reloaded;
         * "nginx -t" and a first start still fail.
         */

        if (ngx_test_config || ngx_process != NGX_PROCESS_MASTER) {
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "victorops integration \"%V\": reloaded without its "
                      "store, its endpoints answer 503 until the store is "
                      "fixed and nginx reloaded", &vip[i]->name);

        vip[i]->store_failed = 1;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i;
    ngx_http_victorops_main_conf_t     *vmcf;
    ngx_http_victorops_integration_t  **vip;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    vmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_victorops_module);

    if (vmcf == NULL || vmcf->integrations.nelts == 0) {
        return NGX_OK;
    }

    if (ngx_http_victorops_curl_init(cycle, vmcf->max_connections)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    vip = vmcf->integrations.elts;

    for (i = 0; i < vmcf->integrations.nelts; i++) {

        /* without its store an integration answers 503, others go on */

        (void) ngx_http_victorops_integration_init(cycle, vip[i]);
    }

    return NGX_OK;
}


/*
 * An integration in a worker, in order: its store, the queue on it, the
 * VictorOps client and reconciliation (with VictorOps credentials).  A
 * step that fails leaves the later ones undone; vi->st stays NULL
 * without a store, and the handlers answer 503.
 */

static ngx_int_t
ngx_http_victorops_integration_init(ngx_cycle_t *cycle,
    ngx_http_victorops_integration_t *vi)
{
    if (vi->store_failed) {
        return NGX_DECLINED;
    }

    /*
     * A PostgreSQL store: its connection, the ops on it, the budgets
     * every node shares, the queue, its spool (what is not ported is
     * refused at nginx -t, see docs/postgresql.md)
     */

    if (vi->store_pg) {
        if (ngx_http_victorops_pg_init(cycle, vi) != NGX_OK
            || ngx_http_victorops_store_pg_init(cycle, vi) != NGX_OK
            || ngx_http_victorops_budget_init(cycle, vi) != NGX_OK
            || ngx_http_victorops_queue_init(cycle, vi) != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* without its spool, what PostgreSQL cannot take is refused */

        if (ngx_http_victorops_spool_init(cycle, vi) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "victorops integration \"%V\": no spool \"%V\" "
                          "in this worker, webhooks are answered 503 while "
                          "PostgreSQL is unavailable", &vi->name,
                          &vi->store_spool);
        }

    } else if (ngx_http_victorops_store_open(cycle, vi) != NGX_OK
               || ngx_http_victorops_queue_init(cycle, vi) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the VictorOps client and reconciliation, either store */

    if (vi->api_id.len == 0) {
        return NGX_OK;
    }

    if (ngx_http_victorops_vo_init(cycle, vi) != NGX_OK
        || ngx_http_victorops_sync_init(cycle, vi) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_victorops_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i;
    ngx_http_victorops_main_conf_t     *vmcf;
    ngx_http_victorops_integration_t  **vip;

    /* in-flight sends are released to the queue, then stores close */

    ngx_http_victorops_curl_done(cycle);

    vmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_victorops_module);
    if (vmcf == NULL) {
        return;
    }

    vip = vmcf->integrations.elts;

    for (i = 0; i < vmcf->integrations.nelts; i++) {
        ngx_http_victorops_integration_done(vip[i]);
    }
}


/*
 * The reverse of integration_init(), each step safe when its set-up did
 * not run: the queue writes the last outcomes before the store closes.
 */

static void
ngx_http_victorops_integration_done(ngx_http_victorops_integration_t *vi)
{
    ngx_http_victorops_sync_done(vi);
    ngx_http_victorops_vo_done(vi);
    ngx_http_victorops_queue_done(vi);
    ngx_http_victorops_budget_done(vi);
    ngx_http_victorops_store_close(vi);
    ngx_http_victorops_spool_close(vi);
    ngx_http_victorops_pg_done(vi);
}
