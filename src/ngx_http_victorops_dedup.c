
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The duplicate index: the hashes of recent deliveries and when each
 * was seen, in a shared memory zone of each integration with
 * duplicate_window ("victorops_dedup_NAME"), shared by all workers.
 * A webhook claims its hash here at accept time, in O(log n) under the
 * zone's mutex; the store still records it with the job, in the same
 * transaction (the dedup table), so the first worker to take a webhook
 * after a start rebuilds the index from the store.
 *
 * The index is bounded (duplicate_index entries, an rbtree and a queue
 * in a slab pool, as limit_req's); when it is full the oldest entry
 * goes, and when that one was still within duplicate_window the index
 * no longer knows every recent delivery: until it would have expired,
 * a hash it does not hold is left to the store (NGX_AGAIN: the batch's
 * claim decides).  So is one whose commit failed (released: "uncertain"),
 * and every hash while the index is being rebuilt.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_victorops_module.h"


#define NGX_HTTP_VICTOROPS_DEDUP_HASH     32      /* SHA-256 */
#define NGX_HTTP_VICTOROPS_DEDUP_EXPIRE   2       /* per claim, at most */
#define NGX_HTTP_VICTOROPS_DEDUP_STALE    10000   /* a load gone, ms */
#define NGX_HTTP_VICTOROPS_DEDUP_RETRY    1000    /* after a failed load */

#define NGX_HTTP_VICTOROPS_DEDUP_EMPTY    0
#define NGX_HTTP_VICTOROPS_DEDUP_LOADING  1
#define NGX_HTTP_VICTOROPS_DEDUP_LOADED   2


typedef struct {
    ngx_rbtree_node_t                  node;     /* key: the hash's start */
    ngx_queue_t                        queue;
    int64_t                            seen;     /* epoch ms */
    u_char                             uncertain;
    u_char                             hash[NGX_HTTP_VICTOROPS_DEDUP_HASH];
} ngx_http_victorops_dedup_node_t;


typedef struct {
    ngx_rbtree_t                       rbtree;
    ngx_rbtree_node_t                  sentinel;
    ngx_queue_t                        queue;    /* the newest first */
    ngx_uint_t                         count;
    ngx_uint_t                         state;    /* DEDUP_EMPTY, ... */
    int64_t                            loading;  /* since, epoch ms */
    int64_t                            failed;   /* a load, epoch ms */
    int64_t                            incomplete;   /* until, epoch ms */
} ngx_http_victorops_dedup_sh_t;


/* an integration's, at configuration time (vi->dedup) */

typedef struct {
    ngx_shm_zone_t                    *zone;
    ngx_slab_pool_t                   *shpool;
    ngx_http_victorops_dedup_sh_t     *sh;
    ngx_http_victorops_integration_t  *vi;
} ngx_http_victorops_dedup_t;


/* a rebuild under way */

typedef struct {
    ngx_http_victorops_dedup_t        *dd;
    ngx_uint_t                         rows;
    int64_t                            oldest;
    int64_t                            now;
} ngx_http_victorops_dedup_load_t;


static ngx_int_t ngx_http_victorops_dedup_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_victorops_dedup_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_victorops_dedup_load(ngx_http_victorops_dedup_t *dd,
    int64_t now);
static void ngx_http_victorops_dedup_row(void *data, u_char *hash,
    size_t len, int64_t seen);
static ngx_int_t ngx_http_victorops_dedup_locked(
    ngx_http_victorops_dedup_t *dd, u_char *hash, int64_t now);
static ngx_http_victorops_dedup_node_t *ngx_http_victorops_dedup_lookup(
    ngx_http_victorops_dedup_sh_t *sh, u_char *hash);
static ngx_http_victorops_dedup_node_t *ngx_http_victorops_dedup_add(
    ngx_http_victorops_dedup_t *dd, u_char *hash, int64_t seen, int64_t now);
static void ngx_http_victorops_dedup_expire(ngx_http_victorops_dedup_t *dd,
    int64_t now, ngx_uint_t force);


/*
 * The zone of an integration with duplicate_window: a slab pool of
 * duplicate_index entries (128 bytes each, with the pages' own) and
 * some room for the pool itself.
 */

ngx_int_t
ngx_http_victorops_dedup_zone(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi)
{
    size_t                       size;
    ngx_str_t                    name;
    ngx_http_victorops_dedup_t  *dd;

    dd = ngx_pcalloc(cf->pool, sizeof(ngx_http_victorops_dedup_t));
    if (dd == NULL) {
        return NGX_ERROR;
    }

    name.len = sizeof("victorops_dedup_") - 1 + vi->name.len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(name.data, "victorops_dedup_%V", &vi->name);

    size = (vi->duplicate_index / (ngx_pagesize / 128) + 16)
           * (ngx_pagesize + 64);

    dd->zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_victorops_module);
    if (dd->zone == NULL) {
        return NGX_ERROR;
    }

    dd->zone->init = ngx_http_victorops_dedup_init_zone;
    dd->zone->data = dd;
    dd->vi = vi;

    vi->dedup = dd;

    return NGX_OK;
}


static ngx_int_t
ngx_http_victorops_dedup_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_victorops_dedup_t  *odd = data;

    size_t                       len;
    ngx_http_victorops_dedup_t  *dd;

    dd = shm_zone->data;

    if (odd) {
        dd->shpool = odd->shpool;
        dd->sh = odd->sh;
        return NGX_OK;
    }

    dd->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        dd->sh = dd->shpool->data;
        return NGX_OK;
    }

    dd->sh = ngx_slab_calloc(dd->shpool,
                             sizeof(ngx_http_victorops_dedup_sh_t));
    if (dd->sh == NULL) {
        return NGX_ERROR;
    }

    dd->shpool->data = dd->sh;

    ngx_rbtree_init(&dd->sh->rbtree, &dd->sh->sentinel,
                    ngx_http_victorops_dedup_insert);
    ngx_queue_init(&dd->sh->queue);

    len = sizeof(" in victorops duplicate index \"\"")
          + shm_zone->shm.name.len;

    dd->shpool->log_ctx = ngx_slab_alloc(dd->shpool, len);
    if (dd->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(dd->shpool->log_ctx, " in victorops duplicate index \"%V\"%Z",
                &shm_zone->shm.name);

    /* full: the oldest entries make room (dedup_add()) */

    dd->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_victorops_dedup_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t               **p;
    ngx_http_victorops_dedup_node_t  *n, *t;

    n = (ngx_http_victorops_dedup_node_t *) node;

    for ( ;; ) {
        t = (ngx_http_victorops_dedup_node_t *) temp;

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (ngx_memcmp(n->hash, t->hash, NGX_HTTP_VICTOROPS_DEDUP_HASH)
                 < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * A delivery's hash, at accept time.  NGX_OK: claimed (not seen within
 * duplicate_window); NGX_DECLINED: a duplicate; NGX_AGAIN: the index
 * cannot tell, the store's claim in the batch decides.
 */

ngx_int_t
ngx_http_victorops_dedup_claim(ngx_http_victorops_integration_t *vi,
    u_char *hash, int64_t now)
{
    ngx_int_t                    rc;
    ngx_http_victorops_dedup_t  *dd;

    dd = vi->dedup;

    if (dd == NULL || dd->sh == NULL) {
        return NGX_AGAIN;
    }

    if (dd->sh->state != NGX_HTTP_VICTOROPS_DEDUP_LOADED) {
        ngx_http_victorops_dedup_load(dd, now);
    }

    ngx_shmtx_lock(&dd->shpool->mutex);

    rc = ngx_http_victorops_dedup_locked(dd, hash, now);

    ngx_shmtx_unlock(&dd->shpool->mutex);

    return rc;
}


static ngx_int_t
ngx_http_victorops_dedup_locked(ngx_http_victorops_dedup_t *dd,
    u_char *hash, int64_t now)
{
    ngx_http_victorops_dedup_sh_t    *sh;
    ngx_http_victorops_dedup_node_t  *n;

    sh = dd->sh;

    if (sh->state != NGX_HTTP_VICTOROPS_DEDUP_LOADED) {
        return NGX_AGAIN;
    }

    ngx_http_victorops_dedup_expire(dd, now, 0);

    n = ngx_http_victorops_dedup_lookup(sh, hash);

    if (n) {
        if (n->uncertain) {
            return NGX_AGAIN;
        }

        if (n->seen > now - (int64_t) dd->vi->duplicate_window) {
            return NGX_DECLINED;
        }

        n->seen = now;
        ngx_queue_remove(&n->queue);
        ngx_queue_insert_head(&sh->queue, &n->queue);

        return NGX_OK;
    }

    if (now < sh->incomplete) {
        return NGX_AGAIN;
    }

    n = ngx_http_victorops_dedup_add(dd, hash, now, now);

    return n ? NGX_OK : NGX_AGAIN;
}


/*
 * A claimed hash whose job was not stored (the batch failed, the
 * request went away first): whether it was is left to the store.
 */

void
ngx_http_victorops_dedup_release(ngx_http_victorops_integration_t *vi,
    u_char *hash)
{
    ngx_http_victorops_dedup_t       *dd;
    ngx_http_victorops_dedup_node_t  *n;

    dd = vi->dedup;

    if (dd == NULL || dd->sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&dd->shpool->mutex);

    n = ngx_http_victorops_dedup_lookup(dd->sh, hash);

    if (n) {
        n->uncertain = 1;
    }

    ngx_shmtx_unlock(&dd->shpool->mutex);
}


/* a hash the store took (its claim decided, or a rebuild): known now */

void
ngx_http_victorops_dedup_note(ngx_http_victorops_integration_t *vi,
    u_char *hash, int64_t seen)
{
    ngx_http_victorops_dedup_t  *dd;

    dd = vi->dedup;

    if (dd == NULL || dd->sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&dd->shpool->mutex);

    (void) ngx_http_victorops_dedup_add(dd, hash, seen, seen);

    ngx_shmtx_unlock(&dd->shpool->mutex);
}


/*
 * After a start the index is empty: the first worker to need it loads
 * the hashes the store saw within duplicate_window (the newest
 * duplicate_index of them); meanwhile the others leave every hash to
 * the store.  A load that failed is tried again a second later, one
 * whose worker went away after 10 s.
 */

static void
ngx_http_victorops_dedup_load(ngx_http_victorops_dedup_t *dd, int64_t now)
{
    ngx_int_t                         rc;
    ngx_http_victorops_dedup_sh_t    *sh;
    ngx_http_victorops_integration_t *vi;
    ngx_http_victorops_dedup_load_t   load;

    sh = dd->sh;
    vi = dd->vi;

    if (vi->st == NULL) {
        return;
    }

    ngx_shmtx_lock(&dd->shpool->mutex);

    if (sh->state == NGX_HTTP_VICTOROPS_DEDUP_LOADING
        && now - sh->loading > NGX_HTTP_VICTOROPS_DEDUP_STALE)
    {
        sh->state = NGX_HTTP_VICTOROPS_DEDUP_EMPTY;
    }

    if (sh->state != NGX_HTTP_VICTOROPS_DEDUP_EMPTY
        || now - sh->failed < NGX_HTTP_VICTOROPS_DEDUP_RETRY)
    {
        ngx_shmtx_unlock(&dd->shpool->mutex);
        return;
    }

    sh->state = NGX_HTTP_VICTOROPS_DEDUP_LOADING;
    sh->loading = now;

    ngx_shmtx_unlock(&dd->shpool->mutex);

    load.dd = dd;
    load.rows = 0;
    load.oldest = now;
    load.now = now;

    rc = ngx_http_victorops_store_dedup_list(vi,
                                     now - (int64_t) vi->duplicate_window,
                                     vi->duplicate_index,
                                     ngx_http_victorops_dedup_row, &load);

    ngx_shmtx_lock(&dd->shpool->mutex);

    if (rc == NGX_OK) {
        sh->state = NGX_HTTP_VICTOROPS_DEDUP_LOADED;

        /* as many as it holds: older ones may be in the store only */

        if (load.rows >= vi->duplicate_index) {
            sh->incomplete = ngx_max(sh->incomplete,
                                     load.oldest
                                     + (int64_t) vi->duplicate_window);
        }

    } else {
        sh->state = NGX_HTTP_VICTOROPS_DEDUP_EMPTY;
        sh->failed = now;
    }

    ngx_shmtx_unlock(&dd->shpool->mutex);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "victorops integration \"%V\": duplicate index not "
                      "loaded from the store, the store decides meanwhile",
                      &vi->name);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "victorops integration \"%V\": duplicate index loaded "
                  "from the store: %ui recent deliveries", &vi->name,
                  load.rows);
}


static void
ngx_http_victorops_dedup_row(void *data, u_char *hash, size_t len,
    int64_t seen)
{
    ngx_http_victorops_dedup_load_t  *load = data;

    ngx_http_victorops_dedup_t  *dd;

    if (len != NGX_HTTP_VICTOROPS_DEDUP_HASH) {
        return;
    }

    dd = load->dd;

    if (load->rows++ == 0) {
        load->oldest = seen;
    }

    ngx_shmtx_lock(&dd->shpool->mutex);

    (void) ngx_http_victorops_dedup_add(dd, hash, seen, load->now);

    ngx_shmtx_unlock(&dd->shpool->mutex);
}


static ngx_http_victorops_dedup_node_t *
ngx_http_victorops_dedup_lookup(ngx_http_victorops_dedup_sh_t *sh,
    u_char *hash)
{
    ngx_int_t                         rc;
    ngx_rbtree_key_t                  key;
    ngx_rbtree_node_t                *node, *sentinel;
    ngx_http_victorops_dedup_node_t  *n;

    ngx_memcpy(&key, hash, sizeof(ngx_rbtree_key_t));

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        n = (ngx_http_victorops_dedup_node_t *) node;

        rc = ngx_memcmp(hash, n->hash, NGX_HTTP_VICTOROPS_DEDUP_HASH);

        if (rc == 0) {
            return n;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * The entry of "hash", seen at "seen" (made known, if it was
 * uncertain); a new one takes the room of the oldest if need be.
 * NULL: no room.
 */

static ngx_http_victorops_dedup_node_t *
ngx_http_victorops_dedup_add(ngx_http_victorops_dedup_t *dd, u_char *hash,
    int64_t seen, int64_t now)
{
    ngx_http_victorops_dedup_sh_t    *sh;
    ngx_http_victorops_dedup_node_t  *n;

    sh = dd->sh;

    n = ngx_http_victorops_dedup_lookup(sh, hash);

    if (n) {
        n->seen = ngx_max(n->seen, seen);
        n->uncertain = 0;
        ngx_queue_remove(&n->queue);
        ngx_queue_insert_head(&sh->queue, &n->queue);
        return n;
    }

    if (sh->count >= dd->vi->duplicate_index) {
        ngx_http_victorops_dedup_expire(dd, now, 1);
    }

    n = ngx_slab_alloc_locked(dd->shpool,
                              sizeof(ngx_http_victorops_dedup_node_t));

    if (n == NULL) {
        ngx_http_victorops_dedup_expire(dd, now, 1);

        n = ngx_slab_alloc_locked(dd->shpool,
                                  sizeof(ngx_http_victorops_dedup_node_t));
        if (n == NULL) {
            return NULL;
        }
    }

    ngx_memcpy(&n->node.key, hash, sizeof(ngx_rbtree_key_t));
    ngx_memcpy(n->hash, hash, NGX_HTTP_VICTOROPS_DEDUP_HASH);
    n->seen = seen;
    n->uncertain = 0;

    ngx_rbtree_insert(&sh->rbtree, &n->node);
    ngx_queue_insert_head(&sh->queue, &n->queue);
    sh->count++;

    return n;
}


/*
 * The oldest entries past duplicate_window go, a few at a time; with
 * "force", the oldest goes anyway, and if it was still within the
 * window the index is incomplete until it would have expired.
 */

static void
ngx_http_victorops_dedup_expire(ngx_http_victorops_dedup_t *dd, int64_t now,
    ngx_uint_t force)
{
    int64_t                           since;
    ngx_uint_t                        i;
    ngx_queue_t                      *q;
    ngx_http_victorops_dedup_sh_t    *sh;
    ngx_http_victorops_dedup_node_t  *n;

    sh = dd->sh;
    since = now - (int64_t) dd->vi->duplicate_window;

    for (i = 0; i < NGX_HTTP_VICTOROPS_DEDUP_EXPIRE; i++) {

        if (ngx_queue_empty(&sh->queue)) {
            return;
        }

        q = ngx_queue_last(&sh->queue);
        n = ngx_queue_data(q, ngx_http_victorops_dedup_node_t, queue);

        if (n->seen > since) {
            if (!force) {
                return;
            }

            sh->incomplete = ngx_max(sh->incomplete,
                                     n->seen
                                     + (int64_t) dd->vi->duplicate_window);
        }

        force = 0;

        ngx_queue_remove(q);
        ngx_rbtree_delete(&sh->rbtree, &n->node);
        ngx_slab_free_locked(dd->shpool, n);
        sh->count--;
    }
}
