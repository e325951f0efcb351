
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * What ngx_http_victorops_conf.c defines for the other files; included by
 * ngx_http_victorops_module.h after the shared types.
 */


#ifndef _NGX_HTTP_VICTOROPS_CONF_H_INCLUDED_
#define _NGX_HTTP_VICTOROPS_CONF_H_INCLUDED_


char *ngx_http_victorops_integration_block(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_victorops_webhook(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_VICTOROPS_CONF_H_INCLUDED_ */
