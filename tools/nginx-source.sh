#!/bin/sh
# Print the path of a full nginx source tree of the same version as the
# packaged nginx (`nginx -v`), unpacking it under build/nginx-<version>/
# first if it is not there yet.  nginx-dev only ships headers, so the
# upstream tarball comes from Debian's source package (the .orig.tar.gz),
# fetched with the machine's own apt sources turned into deb-src ones.
#
#   NGINX_SRC_TARBALL=/path/nginx-x.y.z.tar.gz   use this tarball instead
#   NGINX_VERSION=x.y.z                           skip `nginx -v`
#
# Quiet on success apart from the path, printed as the last line.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

nginx=$(command -v nginx || echo /usr/sbin/nginx)
version=${NGINX_VERSION:-$("$nginx" -v 2>&1 \
                           | sed -n 's|^nginx version: nginx/\([0-9.]*\).*|\1|p')}
if [ -z "$version" ]; then
    echo "nginx-source.sh: cannot tell the nginx version (is nginx installed?)" >&2
    exit 1
fi

dest=$top/build/nginx-$version

if [ -f "$dest/src/core/nginx.c" ] && [ -x "$dest/configure" ]; then
    echo "$dest"
    exit 0
fi

mkdir -p "$top/build"
tmp=$(mktemp -d "$top/build/.nginx-source.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

if [ -n "${NGINX_SRC_TARBALL:-}" ]; then
    tarball=$NGINX_SRC_TARBALL
    if [ ! -f "$tarball" ]; then
        echo "nginx-source.sh: $tarball: no such file" >&2
        exit 1
    fi

else
    # deb-src twins of the configured deb entries; the lists and the
    # download go to the temporary directory, the system's apt state is
    # not touched (no lock, no stale deb-src lists left behind)

    list=$tmp/sources.list
    : >"$list"

    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        sed 's/^Types:.*/Types: deb-src/' "$f" >"$tmp/$(basename "$f")"
    done

    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -n 's/^[[:space:]]*deb\(-src\)\{0,1\}[[:space:]]/deb-src /p' \
            "$f" >>"$list"
    done

    mkdir -p "$tmp/parts" "$tmp/lists/partial" "$tmp/archives/partial" \
             "$tmp/download"
    mv "$tmp"/*.sources "$tmp/parts/" 2>/dev/null || true

    set -- -o Dir::Etc::SourceList="$list" \
           -o Dir::Etc::SourceParts="$tmp/parts" \
           -o Dir::State::Lists="$tmp/lists" \
           -o Dir::Cache::Archives="$tmp/archives" \
           -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
           -o APT::Sandbox::User=root \
           -o Debug::NoLocking=1 -qq

    log=$tmp/apt.log

    if ! apt-get "$@" update >"$log" 2>&1; then
        cat "$log" >&2
        echo "nginx-source.sh: apt-get update of the deb-src lists failed" >&2
        exit 1
    fi

    # the source of the installed package first, else the candidate;
    # the .dsc or the Debian diff may be missing from a mirror (seen with
    # security updates): only the upstream tarball matters here

    tarball=$tmp/download/nginx_$version.orig.tar.gz
    installed=$(dpkg-query -W -f '${source:Version}' nginx 2>/dev/null || :)

    for what in ${installed:+"nginx=$installed"} nginx; do
        (cd "$tmp/download" && apt-get "$@" source --download-only "$what") \
            >>"$log" 2>&1 || true
        [ -f "$tarball" ] && break
    done
    if [ ! -f "$tarball" ]; then
        cat "$log" >&2
        echo "nginx-source.sh: no nginx_$version.orig.tar.gz from the" \
             "Debian source package" >&2
        ls "$tmp/download" >&2
        exit 1
    fi
fi

mkdir "$tmp/x"
tar -xzf "$tarball" -C "$tmp/x"

src=$tmp/x/nginx-$version
if [ ! -f "$src/src/core/nginx.c" ]; then
    echo "nginx-source.sh: $tarball does not unpack to nginx-$version/" >&2
    exit 1
fi

if ! grep -q "NGINX_VERSION *\"$version\"" "$src/src/core/nginx.h"; then
    echo "nginx-source.sh: $tarball is not nginx $version" >&2
    exit 1
fi

rm -rf "$dest"
mv "$src" "$dest"

echo "$dest"
