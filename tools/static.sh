#!/bin/bash
# nginx with the module linked in (--add-module), from the upstream source
# of the packaged version: build/static/objs/nginx.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
src=$("$top/tools/nginx-source.sh" | tail -n 1)
tree=$top/build/static

if [ ! -f "$tree/objs/Makefile" ] || [ "$top/config" -nt "$tree/objs/Makefile" ]; then
    rm -rf "$tree"
    cp -r "$src" "$tree"
    (cd "$tree" && ./configure --with-debug --with-http_ssl_module \
        --with-http_sub_module --with-threads \
        --add-module="$top" >"$top/build/static-configure.log" 2>&1) \
        || { tail -20 "$top/build/static-configure.log"; exit 1; }
fi

make -C "$tree" -f objs/Makefile -j"$(nproc)" >"$top/build/static-make.log" 2>&1 \
    || { tail -30 "$top/build/static-make.log"; exit 1; }

"$tree/objs/nginx" -v
echo "$tree/objs/nginx"
