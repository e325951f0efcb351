
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The PostgreSQL store's configuration: "store postgresql://..."
 * (libpq's connection URI, parsed by libpq at nginx -t, never logged
 * with its password), store_password_file, store_timeout; the
 * connection itself is ngx_http_victorops_pg.c's.  And helpers of
 * ngx_http_victorops_pg.c's: libpq's messages on one line, the slots
 * of a connection's prepared statements.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>

#include "ngx_http_victorops_module.h"


/* "postgresql://..." or "postgres://...": libpq's URI, not a file */

ngx_int_t
ngx_http_victorops_pg_uri(ngx_str_t *store)
{
    if ((store->len > sizeof("postgresql://") - 1
         && ngx_strncasecmp(store->data, (u_char *) "postgresql://",
                            sizeof("postgresql://") - 1) == 0)
        || (store->len > sizeof("postgres://") - 1
            && ngx_strncasecmp(store->data, (u_char *) "postgres://",
                               sizeof("postgres://") - 1) == 0))
    {
        return 1;
    }

    return 0;
}


/*
 * A URI with its password masked: "user:***@" and "password=***"; "dst"
 * has room for 2 * len + 8 bytes.  Returns the end of what it wrote.
 */

u_char *
ngx_http_victorops_pg_mask(u_char *dst, u_char *src, size_t len)
{
    u_char  *p, *end, *auth, *at, *colon;

    end = src + len;

    p = ngx_strlcasestrn(src, end, (u_char *) "://", 3 - 1);
    if (p == NULL) {
        return ngx_cpymem(dst, src, len);
    }

    p += 3;
    auth = p;

    /* the authority ends at the first '/', '?' or '#' */

    while (p < end && *p != '/' && *p != '?' && *p != '#') {
        p++;
    }

    at = NULL;

    for (colon = auth; colon < p; colon++) {
        if (*colon == '@') {
            at = colon;
        }
    }

    if (at) {
        colon = ngx_strlchr(auth, at, ':');

        if (colon) {
            dst = ngx_cpymem(dst, src, colon + 1 - src);
            dst = ngx_cpymem(dst, "***", 3);
            src = at;
        }
    }

    /* password=... in the query string */

    while (src < end) {
        p = ngx_strlcasestrn(src, end, (u_char *) "password=",
                             sizeof("password=") - 2);
        if (p == NULL) {
            break;
        }

        p += sizeof("password=") - 1;
        dst = ngx_cpymem(dst, src, p - src);
        dst = ngx_cpymem(dst, "***", 3);

        while (p < end && *p != '&' && *p != '#') {
            p++;
        }

        src = p;
    }

    return ngx_cpymem(dst, src, end - src);
}


/*
 * "store postgresql://...": parsed by libpq now, so that "nginx -t"
 * names a bad one (masked: libpq quotes the URI in its messages)
 */

char *
ngx_http_victorops_pg_conf(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi)
{
    u_char             *masked, *p, *last;
    char               *err;
    size_t              n;
    ngx_str_t           text;
    PQconninfoOption   *opts, *o;

    masked = ngx_pnalloc(cf->pool, 2 * vi->store.len + 8 + 1);
    if (masked == NULL) {
        return NGX_CONF_ERROR;
    }

    last = ngx_http_victorops_pg_mask(masked, vi->store.data, vi->store.len);
    *last = '\0';

    vi->store_masked.data = masked;
    vi->store_masked.len = last - masked;

    err = NULL;
    opts = PQconninfoParse((char *) vi->store.data, &err);

    if (opts == NULL) {
        text.len = 0;
        text.data = NULL;

        if (err) {

            /* libpq's message, the URI in it masked */

            n = ngx_strlen(err);

            text.data = ngx_pnalloc(cf->pool,
                                    2 * n + 8 + vi->store_masked.len);
            if (text.data == NULL) {
                PQfreemem(err);
                return NGX_CONF_ERROR;
            }

            p = (u_char *) ngx_strstr(err, vi->store.data);

            if (p) {
                last = ngx_cpymem(text.data, err, p - (u_char *) err);
                last = ngx_cpymem(last, vi->store_masked.data,
                                  vi->store_masked.len);
                last = ngx_http_victorops_pg_mask(last, p + vi->store.len,
                                      n - (p - (u_char *) err)
                                      - vi->store.len);

            } else {
                last = ngx_http_victorops_pg_mask(text.data, (u_char *) err,
                                                  n);
            }

            while (last > text.data
                   && (last[-1] == LF || last[-1] == CR || last[-1] == ' '))
            {
                last--;
            }

            text.len = last - text.data;
            PQfreemem(err);
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "victorops integration \"%V\": invalid "
                           "PostgreSQL store \"%V\": %V", &vi->name,
                           &vi->store_masked, &text);
        return NGX_CONF_ERROR;
    }

    /* what the store needs to be told and cannot be */

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }

        if (ngx_strcmp(o->keyword, "replication") == 0) {
            PQconninfoFree(opts);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "victorops integration \"%V\": the "
                               "PostgreSQL store \"%V\" may not set "
                               "\"replication\"", &vi->name,
                               &vi->store_masked);
            return NGX_CONF_ERROR;
        }
    }

    PQconninfoFree(opts);

    vi->store_pg = 1;

    return NGX_CONF_OK;
}


/* once the integration's block is parsed */

ngx_int_t
ngx_http_victorops_pg_check(ngx_conf_t *cf,
    ngx_http_victorops_integration_t *vi)
{
    ngx_conf_init_msec_value(vi->store_timeout, 10000);

    if (!vi->store_pg) {
        if (vi->store_password.data) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "victorops integration \"%V\" has a "
                          "store_password_file without a PostgreSQL store "
                          "in %s:%ui", &vi->name, vi->file, vi->line);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (vi->store_timeout < 100) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "victorops integration \"%V\" has a store_timeout "
                      "under 100ms in %s:%ui", &vi->name, vi->file, vi->line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* libpq's message on one line, without its final newline */

size_t
ngx_http_victorops_pg_text(u_char *dst, size_t size, const char *src)
{
    u_char  *p, *last;

    if (src == NULL || *src == '\0') {
        src = "unknown error";
    }

    p = dst;
    last = dst + size;

    while (*src && p < last) {
        if (*src == LF || *src == CR || *src == '\t' || *src == ' ') {

            /* white space runs (libpq's "\n\t") as one space */

            if (p > dst && p[-1] != ' ') {
                *p++ = ' ';
            }

        } else {
            *p++ = *src;
        }

        src++;
    }

    while (p > dst && p[-1] == ' ') {
        p--;
    }

    return p - dst;
}


/*
 * A fixed statement's slot among a connection's prepared ones, its name
 * in "name" ("vo_N"): NGX_OK prepared (or its Parse already sent),
 * NGX_DECLINED a slot taken for it, to prepare now, NGX_ABORT no slot
 * left (parsed and planned each time).
 */

ngx_int_t
ngx_http_victorops_pg_stmt(const char **stmts, const char *sql, u_char *name)
{
    ngx_int_t   rc;
    ngx_uint_t  i, n;

    n = NGX_HTTP_VICTOROPS_PG_STMTS;

    for (i = 0; i < NGX_HTTP_VICTOROPS_PG_STMTS; i++) {
        if (stmts[i] == sql) {
            break;
        }

        if (stmts[i] == NULL && n == NGX_HTTP_VICTOROPS_PG_STMTS) {
            n = i;
        }
    }

    rc = NGX_OK;

    if (i == NGX_HTTP_VICTOROPS_PG_STMTS) {
        if (n == NGX_HTTP_VICTOROPS_PG_STMTS) {
            return NGX_ABORT;
        }

        i = n;
        stmts[i] = sql;
        rc = NGX_DECLINED;
    }

    *ngx_sprintf(name, "vo_%ui", i) = '\0';

    return rc;
}


void
ngx_http_victorops_pg_stmt_forget(const char **stmts, const char *sql)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_VICTOROPS_PG_STMTS; i++) {
        if (stmts[i] == sql) {
            stmts[i] = NULL;
        }
    }
}


/* a statement that could not be prepared is prepared again at next use */

void
ngx_http_victorops_pg_prepared(ngx_http_victorops_pg_query_t *q,
    struct pg_result *res)
{
    if (res && PQresultStatus(res) != PGRES_COMMAND_OK) {
        ngx_http_victorops_pg_stmt_forget(q->data, q->sql);
    }
}


/*
 * A prepared statement the session does not have (26000: its Parse was
 * skipped by an error earlier in its batch, or a pooler dropped it):
 * prepared again at next use.
 */

void
ngx_http_victorops_pg_stmt_check(const char **stmts,
    ngx_http_victorops_pg_query_t *q, struct pg_result *res)
{
    char  *state;

    if (!q->prepare || PQresultStatus(res) != PGRES_FATAL_ERROR) {
        return;
    }

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    if (state && ngx_strcmp(state, "26000") == 0) {
        ngx_http_victorops_pg_stmt_forget(stmts, q->sql);
    }
}


/*
 * A query's next parameter, into the arrays its values, lengths and
 * formats point at (the query's wrapper's, "max" long): text (format
 * 0, NUL-terminated) or binary (1, "len" bytes).
 */

ngx_int_t
ngx_http_victorops_pg_param(ngx_http_victorops_pg_query_t *q, int max,
    const char *value, int len, int format)
{
    int  n;

    n = q->nparams;

    if (n >= max) {
        return NGX_ERROR;
    }

    ((const char **) q->values)[n] = value;
    ((int *) q->lengths)[n] = len;
    ((int *) q->formats)[n] = format;
    q->nparams++;

    return NGX_OK;
}


/* a text parameter's value: "s" copied NUL-terminated into "pool" */

char *
ngx_http_victorops_pg_str(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    *ngx_cpymem(p, s->data, s->len) = '\0';

    return (char *) p;
}


/* a text parameter's value: "n" in decimal, in "pool" */

char *
ngx_http_victorops_pg_int(ngx_pool_t *pool, int64_t n)
{
    u_char  *p;

    p = ngx_pnalloc(pool, NGX_INT64_LEN + 1);
    if (p == NULL) {
        return NULL;
    }

    (void) ngx_sprintf(p, "%L%Z", n);

    return (char *) p;
}
