
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * make check-core: runs every suite, prints one line per suite and a
 * summary; exits 1 when a check failed.
 *
 *   build/check-core FIXTURES     (FIXTURES: t/fixtures/victorops)
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>
#include <fcntl.h>

#include "core.h"
#include "core_init.h"


typedef struct {
    const char                   *name;
    void                        (*run)(void);
} core_suite_t;


core_t  core;




static core_suite_t  core_suites[] = {
    { "classify", core_classify },
    { "event_record", core_event_record },
    { "form", core_form },
    { "utf8", core_utf8 },
    { "bodies", core_bodies },
    { "decide_event", core_decide_event },
    { "decide_dispatch", core_decide_dispatch },
    { "decide_call", core_decide_call },
    { "decide_rootly", core_decide_rootly },
    { "decide_vo", core_decide_vo },
    { "slack", core_slack },
    { NULL, NULL }
};


int
main(int argc, char **argv)
{
    ngx_log_t     *log;
    ngx_uint_t     checks, failed;
    core_suite_t  *s;

    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURES\n", argv[0]);
        return 2;
    }

    core.fixtures = argv[1];

    log = core_nginx_init();
    if (log == NULL) {
        return 2;
    }

    for (s = core_suites; s->name; s++) {
        core.pool = ngx_create_pool(4096, log);
        if (core.pool == NULL) {
            return 2;
        }

        checks = core.checks;
        failed = core.failed;

        core.suite = s->name;
        core.name = NULL;

        s->run();

        ngx_destroy_pool(core.pool);

        printf("%s %s: %lu checks\n",
               core.failed == failed ? "ok  " : "FAIL", s->name,
               (unsigned long) (core.checks - checks));
    }

    printf("check-core: %lu checks, %lu failed\n",
           (unsigned long) core.checks, (unsigned long) core.failed);

    return core.failed ? 1 : 0;
}


void
core_ok(int ok, const char *file, int line, const char *expr)
{
    core.checks++;

    if (ok) {
        return;
    }

    core.failed++;

    fprintf(stderr, "%s:%d: %s%s%s: failed: %s\n", file, line, core.suite,
            core.name ? ": " : "", core.name ? core.name : "", expr);
}


int
core_str_eq(ngx_str_t *s, const char *c)
{
    size_t  len;

    len = ngx_strlen(c);

    return s->len == len
           && (len == 0 || ngx_memcmp(s->data, c, len) == 0);
}


ngx_str_t *
core_str(const char *c)
{
    ngx_str_t  *s;

    s = ngx_palloc(core.pool, sizeof(ngx_str_t));
    if (s == NULL) {
        abort();
    }

    s->len = ngx_strlen(c);
    s->data = ngx_pnalloc(core.pool, s->len + 1);
    if (s->data == NULL) {
        abort();
    }

    ngx_memcpy(s->data, c, s->len + 1);

    return s;
}


/* a JSON text parsed with the module's parser; NULL: not JSON */

ngx_http_victorops_json_t *
core_json(const char *text)
{
    ngx_http_victorops_json_t  *root;

    if (ngx_http_victorops_json_parse(core.pool, core_str(text),
                                      NGX_HTTP_VICTOROPS_MAX_DEPTH, &root)
        != NGX_OK)
    {
        return NULL;
    }

    return root;
}


/* a file of the fixtures folder, read whole into the suite's pool */

ngx_int_t
core_file(const char *name, ngx_str_t *content)
{
    int          fd;
    char         path[1024];
    ssize_t      n;
    struct stat  st;

    ngx_snprintf((u_char *) path, sizeof(path) - 1, "%s/%s%Z",
                 core.fixtures, name);

    fd = open(path, O_RDONLY);
    if (fd == -1) {
        fprintf(stderr, "check-core: cannot open %s\n", path);
        return NGX_ERROR;
    }

    if (fstat(fd, &st) == -1) {
        close(fd);
        return NGX_ERROR;
    }

    content->len = st.st_size;
    content->data = ngx_pnalloc(core.pool, content->len + 1);

    n = content->data ? read(fd, content->data, content->len) : -1;

    close(fd);

    if (n != (ssize_t) content->len) {
        return NGX_ERROR;
    }

    content->data[content->len] = '\0';

    return NGX_OK;
}
