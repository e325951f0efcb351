#!/bin/bash
# `make deb`: the Debian package libnginx-mod-http-victorops, built with
# dpkg-buildpackage (dh + dh_nginx) from a copy of the source in
# build/deb/src, so the work tree gets no debian/ build output.
# Results: build/deb/libnginx-mod-http-victorops_<version>_<arch>.deb
# (and the .dsc, .tar.xz, .buildinfo, .changes and -dbgsym .ddeb).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/deb
src=$out/src

rm -rf "$out"
mkdir -p "$src"

# the files of the work tree that git would commit (tracked, or untracked
# and not ignored); without git, everything but build output
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$top" && git ls-files -z --cached --others --exclude-standard) \
    | while IFS= read -r -d '' f; do
          [ -e "$top/$f" ] && printf '%s\0' "$f"
      done \
    | (cd "$top" && tar --null -T - -cf -) | tar -xf - -C "$src"
else
    (cd "$top" && tar --exclude=./build --exclude=./.git --exclude='./t/servroot*' \
        --exclude=./run --exclude=./fuzz/build -cf - .) | tar -xf - -C "$src"
fi

[ -x "$src/debian/rules" ] || { echo "build-deb: no debian/rules in $src" >&2; exit 1; }

# the package version should follow the module's
pkg_version=$(cd "$src" && dpkg-parsechangelog -S Version)
mod_version=$(sed -n 's/^#define NGX_HTTP_VICTOROPS_VERSION *"\(.*\)"/\1/p' \
              "$src/src/ngx_http_victorops_module.h")
if [ -n "$mod_version" ] && [ "${pkg_version%%[-+~]*}" != "$mod_version" ]; then
    echo "build-deb: warning: debian/changelog is at $pkg_version," \
         "the module at $mod_version" >&2
fi

# a missing build dependency stops dpkg-buildpackage with its name
(cd "$src" && dpkg-buildpackage -us -uc) >"$out/build.log" 2>&1 \
    || { tail -40 "$out/build.log"; echo "build-deb: failed, see $out/build.log" >&2; exit 1; }

deb=$(ls "$out"/libnginx-mod-http-victorops_*.deb)
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Depends\):/\1:/p'
dpkg-deb --contents "$deb" | awk '{print $NF}' | grep -E '\.so$|\.conf$'
echo "$deb"
