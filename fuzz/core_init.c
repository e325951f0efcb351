
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_os_init() and main() set up before any pool is made, for
 * programs that link nginx core objects without running nginx: the
 * fuzz targets and make check-core (see core.mk).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <fcntl.h>

#include "core_init.h"


/*
 * Returns the log for pools: allocation failures are logged, to
 * /dev/null; ngx_cycle->log is the same (url_allowed() allocates with
 * it).  NULL: nginx's error strings could not be set up.
 */

ngx_log_t *
core_nginx_init(void)
{
    ngx_uint_t  n;

    static ngx_log_t        log;
    static ngx_open_file_t  file;
    static ngx_cycle_t      cycle;

    ngx_pagesize = getpagesize();
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    for (n = ngx_pagesize; n >>= 1; ngx_pagesize_shift++) { /* void */ }

    if (ngx_strerror_init() != NGX_OK) {
        return NULL;
    }

    ngx_time_init();

    file.fd = open("/dev/null", O_WRONLY);
    ngx_str_set(&file.name, "/dev/null");

    log.file = &file;
    log.log_level = NGX_LOG_NOTICE;

    cycle.log = &log;
    ngx_cycle = &cycle;

    return &log;
}
