#!/bin/sh
# Install the Debian 12 packages a target needs, if any are missing.
# usage: tools/deps.sh build|test|compat|valgrind|fuzz|deb|deb-test|bench|run
set -eu

pkgs="build-essential nginx nginx-dev libcurl4-openssl-dev libyajl-dev
      libsqlite3-dev libssl-dev libpq-dev pkg-config"

for what in "$@"; do
    case "$what" in
    build) ;;
    # postgresql-15: the server the PostgreSQL store's tests start
    # (t/lib/VoPg.pm: initdb, postgres, pg_isready; psql)
    test)     pkgs="$pkgs libtest-base-perl python3 python3-jsonschema curl procps sqlite3 openssl postgresql-15 postgresql-client-15" ;;
    compat)   pkgs="$pkgs libtest-base-perl libtest-longstring-perl liblist-moreutils-perl libhttp-message-perl" ;;
    valgrind) pkgs="$pkgs libtest-base-perl python3 python3-jsonschema valgrind procps sqlite3 postgresql-15 postgresql-client-15" ;;
    fuzz)     pkgs="$pkgs clang libclang-rt-dev" ;;
    deb)      pkgs="$pkgs debhelper dpkg-dev fakeroot" ;;
    deb-test) pkgs="$pkgs curl procps" ;;
    bench)    pkgs="$pkgs wrk python3 python3-jsonschema" ;;
    run)      pkgs="$pkgs python3 python3-jsonschema curl openssl" ;;
    *) echo "tools/deps.sh: unknown set \"$what\"" >&2; exit 2 ;;
    esac
done

missing=
for p in $pkgs; do
    if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null \
         | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing" >&2
    echo "install them as root: apt-get install$missing" >&2
    exit 1
fi

echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
