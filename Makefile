# ngx_http_victorops_module
#
#   make run            build, then start nginx with the example configuration
#   make test           make check-core, then build and run the whole suite
#                       (the own runner, t/runner)
#   make check-core     C unit tests of the request-free core (t/core), no
#                       nginx process: classifier, form signature, UTF-8,
#                       Rootly bodies, decisions
#   make test-compat    the same files under openresty's real Test::Nginx
#                       (TEST_NGINX_LIB), against the packaged nginx and
#                       against make static's nginx
#   make test-valgrind  the suite under valgrind
#   make fuzz           the libFuzzer target for the parser and classifier
#   make static         nginx with the module linked in (--add-module)
#   make test-static    the suite against that nginx
#   make deb            the Debian package, in build/deb/ (dh_nginx)
#   make test-deb       install it into the packaged nginx and load it (root)
#   NGINX_SRC=/path make   build against another nginx source tree

SHELL      := /bin/bash
TOP        := $(CURDIR)
BUILD      := $(TOP)/build
SRCS       := $(wildcard $(TOP)/src/*.c $(TOP)/src/*.h) $(TOP)/config
JOBS       ?= $(shell nproc)

ifdef NGINX_SRC
NGX_TREE   := $(abspath $(NGINX_SRC))
# what the suite needs of an nginx built from source: sub_filter (the
# runner's self-test), threads (the store's checkpoints), SSL, debug
NGX_FLAGS  := --with-compat --with-http_ssl_module --with-debug \
              --with-http_sub_module --with-threads
NGINX_BIN  := $(NGX_TREE)/objs/nginx
NGX_TARGET := build
else
NGX_TREE   := $(BUILD)/nginx
NGX_FLAGS   = $(shell . /usr/share/nginx/src/conf_flags 2>/dev/null \
                      && echo "$${NGX_CONF_FLAGS[@]}")
NGINX_BIN  := /usr/sbin/nginx
NGX_TARGET := modules
endif

MODULE     := $(NGX_TREE)/objs/ngx_http_victorops_module.so

TEST_FILES ?= t/
# the own Test::Nginx::Socket (make test); openresty's real one, not
# packaged for Debian, for make test-compat (it takes precedence there)
RUNNER     := -I t/runner
TEST_NGINX_LIB ?= $(abspath $(firstword $(wildcard \
                      $(TOP)/../shared/tools/test-nginx/lib)))
TEST_ENV    = TEST_NGINX_BINARY=$(NGINX_BIN) \
              TEST_NGINX_LOAD_MODULES=$(MODULE) \
              VOMOCK_OPENAPI=$(OPENAPI)
OPENAPI    ?= $(firstword $(wildcard $(TOP)/../shared/reference/rootly-openapi.json \
                                     $(TOP)/t/mock/rootly-openapi.json))

.PHONY: all deps module run stop test check-core test-valgrind test-static \
        test-compat fuzz fuzz-regress static deb test-deb clean

all: module

deps:
	@tools/deps.sh build

module: deps $(MODULE)

$(MODULE): $(SRCS)
ifndef NGINX_SRC
	@if [ ! -d $(NGX_TREE) ]; then \
	    mkdir -p $(BUILD) && cp -r /usr/share/nginx/src $(NGX_TREE); fi
endif
	@if [ ! -f $(NGX_TREE)/objs/Makefile ] \
	    || [ $(TOP)/config -nt $(NGX_TREE)/objs/Makefile ]; then \
	    cd $(NGX_TREE) && ./configure $(NGX_FLAGS) \
	        --add-dynamic-module=$(TOP) >$(BUILD)/configure.log 2>&1 \
	    || { tail -20 $(BUILD)/configure.log; exit 1; }; fi
	$(MAKE) -C $(NGX_TREE) -f objs/Makefile -j$(JOBS) $(NGX_TARGET)
	@ls -l $(MODULE)

run: module
	@tools/deps.sh run
	@tools/run.sh start

stop:
	@tools/run.sh stop

test: module
	@$(MAKE) --no-print-directory check-core
	@tools/deps.sh test
	$(TEST_ENV) prove $(RUNNER) -I t/lib -r $(TEST_FILES)

# built with the fuzz targets' nginx core and sanitizers (fuzz/core.mk)
check-core:
	@tools/deps.sh fuzz
	@$(MAKE) --no-print-directory -C t/core

# the real runner: random port and server root per file (t/servroot_PORT)
test-compat: module static
	@tools/deps.sh test compat
	@if [ -z "$(TEST_NGINX_LIB)" ] || [ ! -f "$(TEST_NGINX_LIB)/Test/Nginx/Socket.pm" ]; then \
	    echo "test-compat: set TEST_NGINX_LIB to openresty's Test::Nginx lib/" \
	         "(default: ../shared/tools/test-nginx/lib)" >&2; exit 1; fi
	$(TEST_ENV) TEST_NGINX_RANDOMIZE=1 \
	    prove -I $(TEST_NGINX_LIB) -I t/lib -r $(TEST_FILES)
	TEST_NGINX_BINARY=$(BUILD)/static/objs/nginx TEST_NGINX_LOAD_MODULES= \
	    VOMOCK_OPENAPI=$(OPENAPI) TEST_NGINX_RANDOMIZE=1 \
	    prove -I $(TEST_NGINX_LIB) -I t/lib -r $(TEST_FILES)

test-valgrind: module
	@tools/deps.sh valgrind
	$(TEST_ENV) TEST_NGINX_USE_VALGRIND=1 \
	    TEST_NGINX_VALGRIND_SUPPRESSIONS=$(TOP)/t/valgrind.suppress \
	    prove $(RUNNER) -I t/lib -r $(TEST_FILES)

test-static: static
	@tools/deps.sh test
	TEST_NGINX_BINARY=$(BUILD)/static/objs/nginx TEST_NGINX_LOAD_MODULES= \
	    VOMOCK_OPENAPI=$(OPENAPI) \
	    prove $(RUNNER) -I t/lib -r $(TEST_FILES)

fuzz:
	@tools/deps.sh fuzz
	@$(MAKE) -C fuzz run

fuzz-regress:
	@tools/deps.sh fuzz
	@$(MAKE) -C fuzz regress

static:
	@tools/deps.sh build
	@tools/static.sh

# built from a copy in build/deb/src, never in build/nginx or the work tree
DEB_STAMP  := $(BUILD)/deb/.built
DEB_INPUTS := $(SRCS) $(shell find $(TOP)/debian -type f 2>/dev/null) \
              $(TOP)/README.md $(TOP)/tools/build-deb.sh

deb:
	@tools/deps.sh deb
	@$(MAKE) --no-print-directory $(DEB_STAMP)

$(DEB_STAMP): $(DEB_INPUTS)
	@tools/build-deb.sh
	@touch $@

test-deb: deb
	@tools/deps.sh deb-test
	@tools/test-deb.sh

clean:
	rm -rf $(BUILD) t/servroot* fuzz/build
