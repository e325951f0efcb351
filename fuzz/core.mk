# The request-free core of the module (the parser, the classifier, the
# Rootly, VictorOps and Slack bodies and answers, the decisions) and a
# real nginx core to link it with, built with clang and sanitizers in
# fuzz/build/.  Included by fuzz/Makefile (the libFuzzer targets) and
# t/core/Makefile (make check-core, the unit tests); the includer sets
# TOP, the top folder.
#
# nginx core is real: the nginx source of the packaged version
# (tools/nginx-source.sh) is configured and built with clang and
# ASan + coverage in fuzz/build/nginx/, and a program links all of its
# objects but nginx.o, which is recompiled with main() renamed (it
# defines ngx_core_module and globals the other objects need), so that
# the program's main() (libFuzzer's, or the unit tests') is the one
# that runs.

B            := $(TOP)/fuzz/build
NGX          := $(B)/nginx
JOBS         ?= $(shell nproc)

CC           := clang
OPT          := -g -O1 -fno-omit-frame-pointer -DNGX_DEBUG_PALLOC=1
# nginx core: ASan and coverage; the module and the programs: UBSan too
SAN_CORE     := -fsanitize=address,fuzzer-no-link
SAN_MODULE   := -fsanitize=address,undefined,fuzzer-no-link \
                -fno-sanitize-recover=all

# the smallest nginx that still builds the http core
NGX_CONF     := --with-cc=$(CC) \
                --with-cc-opt='$(OPT) $(SAN_CORE)' \
                --with-ld-opt='-fsanitize=address' \
                --without-pcre \
                --without-http-cache \
                --without-http_rewrite_module \
                --without-http_gzip_module \
                --without-http_charset_module \
                --without-http_ssi_module \
                --without-http_userid_module \
                --without-http_access_module \
                --without-http_auth_basic_module \
                --without-http_mirror_module \
                --without-http_autoindex_module \
                --without-http_geo_module \
                --without-http_map_module \
                --without-http_split_clients_module \
                --without-http_referer_module \
                --without-http_proxy_module \
                --without-http_fastcgi_module \
                --without-http_uwsgi_module \
                --without-http_scgi_module \
                --without-http_grpc_module \
                --without-http_memcached_module \
                --without-http_limit_conn_module \
                --without-http_limit_req_module \
                --without-http_empty_gif_module \
                --without-http_browser_module \
                --without-http_upstream_hash_module \
                --without-http_upstream_ip_hash_module \
                --without-http_upstream_least_conn_module \
                --without-http_upstream_random_module \
                --without-http_upstream_keepalive_module \
                --without-http_upstream_zone_module

NGX_INCS     := -I $(NGX)/objs -I $(NGX)/src/core -I $(NGX)/src/event \
                -I $(NGX)/src/event/modules -I $(NGX)/src/os/unix \
                -I $(NGX)/src/http -I $(NGX)/src/http/modules \
                -I $(TOP)/src

# the request-free files: no request, store, shared memory or log of
# their own; slack_api.c checks URLs with libcurl's URL API, payload.c
# signatures and decide.c duplicates with libcrypto
CORE_SRCS    := ngx_http_victorops_json.c ngx_http_victorops_payload.c \
                ngx_http_victorops_rootly_api.c \
                ngx_http_victorops_escalation.c \
                ngx_http_victorops_vo_api.c \
                ngx_http_victorops_slack_api.c \
                ngx_http_victorops_decide.c
CORE_OBJS    := $(addprefix $(B)/module/,$(CORE_SRCS:.c=.o))
CORE_HDRS    := $(TOP)/src/ngx_http_victorops_json.h \
                $(TOP)/src/ngx_http_victorops_payload.h \
                $(TOP)/src/ngx_http_victorops_rootly_api.h \
                $(TOP)/src/ngx_http_victorops_escalation.h \
                $(TOP)/src/ngx_http_victorops_vo_api.h \
                $(TOP)/src/ngx_http_victorops_slack_api.h \
                $(TOP)/src/ngx_http_victorops_decide.h
CORE_LIBS    := -lyajl -lcurl -lcrypto

# what nginx's main() sets up, for programs that do not run it
CORE_INIT    := $(B)/core_init.o


# nginx: source of the packaged version, configured and built once

$(NGX)/objs/Makefile:
	@src=$$($(TOP)/tools/nginx-source.sh | tail -n 1) && [ -d "$$src" ] \
	    || { echo "core: no nginx source tree" >&2; exit 1; }; \
	rm -rf $(NGX) && mkdir -p $(B) && cp -r "$$src" $(NGX)
	@echo "core: configuring nginx in $(NGX)"
	@cd $(NGX) && ./configure $(NGX_CONF) >$(B)/nginx-configure.log 2>&1 \
	    || { tail -20 $(B)/nginx-configure.log; exit 1; }

$(NGX)/objs/nginx: $(NGX)/objs/Makefile
	@echo "core: building nginx core with ASan and coverage"
	@$(MAKE) -s -C $(NGX) -f objs/Makefile -j$(JOBS) binary \
	    >$(B)/nginx-build.log 2>&1 \
	    || { tail -30 $(B)/nginx-build.log; exit 1; }

# nginx.c with main() renamed: ngx_core_module, ngx_cycle & co. live there

$(B)/nginx_main.o: $(NGX)/objs/nginx
	$(CC) -c $(OPT) $(SAN_CORE) -Dmain=ngx_fuzz_nginx_main $(NGX_INCS) \
	    -o $@ $(NGX)/src/core/nginx.c

$(CORE_INIT): $(TOP)/fuzz/core_init.c $(TOP)/fuzz/core_init.h \
              $(NGX)/objs/nginx
	$(CC) -c $(OPT) $(SAN_MODULE) -Wall -Wextra -Wno-unused-parameter \
	    $(NGX_INCS) -o $@ $<

$(B)/module/%.o: $(TOP)/src/%.c $(CORE_HDRS) $(NGX)/objs/nginx
	@mkdir -p $(B)/module
	$(CC) -c $(OPT) $(SAN_MODULE) -Wall -Wextra -Wno-unused-parameter \
	    $(NGX_INCS) -o $@ $<

# $(call core_link,SANITIZERS): the program's objects (the .o
# prerequisites), every nginx object but nginx.o, the libraries of
# nginx's own link line (objs/Makefile), and the core's

define core_link
	@libs=$$(sed -n '/^\t$$(LINK) -o objs\/nginx/,/^\s*$$/p' \
	             $(NGX)/objs/Makefile \
	         | grep -v -e 'objs/' -e '$$(LINK)' | tr -d '\\\t' \
	         | tr '\n' ' '); \
	objs=$$(find $(NGX)/objs/src -name '*.o' ! -path '*/core/nginx.o' \
	        | sort); \
	echo "core: linking $@ (nginx link options: $$libs)"; \
	$(CC) $(1) -o $@ $(filter %.o,$^) \
	    $$objs $(NGX)/objs/ngx_modules.o $$libs $(CORE_LIBS)
endef
