
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * nginx core set up for programs that link its objects without running
 * nginx (core_init.c): the fuzz targets, make check-core.
 */


#ifndef _CORE_INIT_H_INCLUDED_
#define _CORE_INIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


ngx_log_t *core_nginx_init(void);


#endif /* _CORE_INIT_H_INCLUDED_ */
