#!/bin/bash
# `make test-deb` (root): install the Debian package into the packaged nginx
# and load it the packaged way (include /etc/nginx/modules-enabled/*.conf),
# from a test nginx on its own prefix, pid file and loopback port: GET
# /status, POST a webhook, the default store in /var/lib/nginx/victorops;
# then remove and purge the package.  A system nginx service is left alone:
# the test stops only the pid it started.  TAP output, non-zero on failure.
#
# usage: tools/test-deb.sh [path/to/libnginx-mod-http-victorops_*.deb]
#        TEST_DEB_KEEP=1 keeps the test nginx's prefix (config, logs)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
pkg=libnginx-mod-http-victorops
nginx=/usr/sbin/nginx
avail=/usr/share/nginx/modules-available/mod-http-victorops.conf
enabled=/etc/nginx/modules-enabled/50-mod-http-victorops.conf
so=/usr/lib/nginx/modules/ngx_http_victorops_module.so
store_dir=/var/lib/nginx/victorops
# data of an earlier installation: the test neither purges nor deletes it
store_existed=
[ -e "$store_dir" ] && store_existed=1

n=0
failed=0
tmp=
nginx_pid=
installed=
removed=

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
    shift
    for line in "$@"; do echo "#   $line"; done
}
check() {   # check "description" command...
    local what=$1; shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else not_ok "$what" "failed: $*"; fi
}
bail() { echo "Bail out! $*"; exit 1; }

stop_nginx() {
    [ -n "$nginx_pid" ] || return 0
    if kill -0 "$nginx_pid" 2>/dev/null; then
        kill -QUIT "$nginx_pid"
        for _ in $(seq 100); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$nginx_pid" 2>/dev/null; then
            kill -TERM "$nginx_pid"
            for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
        fi
    fi
    if kill -0 "$nginx_pid" 2>/dev/null; then
        not_ok "nginx (pid $nginx_pid) stopped"
        kill -KILL "$nginx_pid" 2>/dev/null
    fi
    nginx_pid=
}

cleanup() {
    stop_nginx
    # a failure half way still leaves the machine without the package
    # (purged unless the store folder was there before: purge deletes it)
    if [ -n "$installed" ] && [ -z "$removed" ]; then
        apt-get "$([ -n "$store_existed" ] && echo remove || echo purge)" \
            -y -qq "$pkg" >/dev/null 2>&1
    fi
    if [ -n "$tmp" ]; then
        if [ -n "${TEST_DEB_KEEP:-}" ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || bail "run as root: it installs $pkg with apt-get"
[ -x "$nginx" ] || bail "no packaged nginx ($nginx): apt-get install nginx"

deb=${1:-}
if [ -z "$deb" ]; then
    deb=$(ls "$top"/build/deb/${pkg}_*.deb 2>/dev/null | tail -n 1)
    if [ -z "$deb" ]; then
        "$top/tools/build-deb.sh" >/dev/null || bail "tools/build-deb.sh failed"
        deb=$(ls "$top"/build/deb/${pkg}_*.deb | tail -n 1)
    fi
fi
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
[ -f "$deb" ] || bail "no package $deb"
echo "# $deb"

if [[ $(dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null) == *"install ok installed"* ]]; then
    bail "$pkg is installed already; remove it first (apt-get remove $pkg)"
fi

# --- the package as built
depends=$(dpkg-deb -f "$deb" Depends)
echo "# Depends: $depends"
for dep in libcurl4 libyajl2 libsqlite3-0 libssl3 nginx-abi-; do
    if grep -Eq "(^|[ ,])$dep" <<<"$depends"; then
        ok "Depends names $dep"
    else
        not_ok "Depends names $dep" "Depends: $depends"
    fi
done
abi=$(grep -o 'nginx-abi-[^ ,]*' <<<"$depends")
provides=$(dpkg-query -W -f '${Provides}' nginx 2>&1)
if [ -n "$abi" ] && grep -Eq "(^|[ ,])$abi(\$|[ ,])" <<<"$provides"; then
    ok "the installed nginx provides $abi"
else
    not_ok "the installed nginx provides ${abi:-nginx-abi-*}" "Provides: $provides"
fi
if dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/lib/nginx/modules/ngx_http_victorops_module.so \
       | grep -aF "$store_dir/%V.db" >/dev/null; then   # (no -q: tar would get SIGPIPE)
    ok "the module's default store is $store_dir/<name>.db"
else
    not_ok "the module's default store is $store_dir/<name>.db" \
        "VICTOROPS_STORE_DIR did not reach the compiled module"
fi

# --- install: apt resolves the runtime dependencies
log=$(apt-get install -y -q "$deb" 2>&1)
rc=$?
installed=1
if [ $rc = 0 ]; then
    ok "apt-get install $(basename "$deb")"
else
    not_ok "apt-get install $(basename "$deb")" "$(tail -5 <<<"$log")"
    bail "cannot install the package"
fi
check "the module is in /usr/lib/nginx/modules" test -f "$so"
if grep -qx 'load_module modules/ngx_http_victorops_module.so;' "$avail" 2>/dev/null; then
    ok "$avail loads the module"
else
    not_ok "$avail loads the module" "$(cat "$avail" 2>&1)"
fi
if [ -L "$enabled" ] && [ "$(readlink -f "$enabled")" = "$avail" ]; then
    ok "enabled: $enabled -> $avail"
else
    not_ok "enabled: $enabled -> $avail" "$(ls -l /etc/nginx/modules-enabled/ 2>&1)"
fi
if [ -z "$store_existed" ]; then
    perms=$(stat -c '%U:%G %a' "$store_dir" 2>&1)
    if [ "$perms" = "www-data:www-data 700" ]; then
        ok "postinst created $store_dir (www-data:www-data 0700)"
    else
        not_ok "postinst created $store_dir (www-data:www-data 0700)" "$perms"
    fi
fi

# --- a test nginx on its own prefix, with the system's modules-enabled
tmp=$(mktemp -d /tmp/vo-test-deb.XXXXXX)
chmod 755 "$tmp"
# the snippets say "load_module modules/...so", relative to the prefix: the
# packaged nginx's prefix (/usr/share/nginx) has the same link
ln -s /usr/lib/nginx/modules "$tmp/modules"
port=$(perl -MIO::Socket::INET -e \
    'print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                 Listen => 1, ReuseAddr => 1)->sockport')
[ -n "$port" ] || bail "no free loopback port"

# Rootly is the test server itself (a 503), so delivery attempts stay on
# loopback; the test only looks at what the module accepted and stored.
cat >"$tmp/nginx.conf" <<EOF
include /etc/nginx/modules-enabled/*.conf;

user www-data;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log info;

events {
    worker_connections 64;
}

http {
    client_body_temp_path $tmp/client_body_temp;
    proxy_temp_path $tmp/proxy_temp;
    fastcgi_temp_path $tmp/fastcgi_temp;
    uwsgi_temp_path $tmp/uwsgi_temp;
    scgi_temp_path $tmp/scgi_temp;
    access_log $tmp/access.log;

    victorops_integration t {
        rootly_url http://127.0.0.1:$port/rootly;
        rootly_token x;
        webhook_secret s;
    }

    server {
        listen 127.0.0.1:$port;

        location = /hook { victorops_webhook t; }
        location = /status { victorops_status; }
        location /rootly/ { return 503; }
    }
}
EOF

store_db=$store_dir/t.db
had_db=
[ -e "$store_db" ] && had_db=1

if out=$("$nginx" -p "$tmp/" -c "$tmp/nginx.conf" -e "$tmp/error.log" -t 2>&1); then
    ok "nginx -t with include /etc/nginx/modules-enabled/*.conf"
else
    not_ok "nginx -t with include /etc/nginx/modules-enabled/*.conf" "$out"
fi

if out=$("$nginx" -p "$tmp/" -c "$tmp/nginx.conf" -e "$tmp/error.log" 2>&1); then
    for _ in $(seq 50); do [ -s "$tmp/nginx.pid" ] && break; sleep 0.1; done
    nginx_pid=$(cat "$tmp/nginx.pid" 2>/dev/null)
fi
if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
    ok "nginx started on 127.0.0.1:$port (pid $nginx_pid)"
else
    not_ok "nginx started on 127.0.0.1:$port" "$out" "$(tail -5 "$tmp/error.log" 2>&1)"
    bail "nginx did not start"
fi

# nginx answers once its worker is up
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/status" && break
    sleep 0.1
done

res=$(curl -sS -o "$tmp/status.json" -w '%{http_code} %{content_type}' \
           "http://127.0.0.1:$port/status" 2>&1)
if [[ $res == "200 application/json"* ]] \
   && perl -MJSON::PP -e '
          local $/; my $j = decode_json(<STDIN>);
          exit !(exists $j->{integrations}{t}
                 && $j->{integrations}{t}{store}{path} eq $ARGV[0])' \
          "$store_db" <"$tmp/status.json"; then
    ok "GET /status: 200 JSON, integration t with store $store_db"
else
    not_ok "GET /status: 200 JSON, integration t with store $store_db" \
        "$res" "$(head -c 600 "$tmp/status.json" 2>/dev/null)"
fi

body='{"entity_id":"deb-test/disk","entity_display_name":"package test","message_type":"CRITICAL","incident_number":"7"}'
res=$(curl -sS -o "$tmp/hook.json" -w '%{http_code}' -X POST \
           -H 'Content-Type: application/json' --data-binary "$body" \
           "http://127.0.0.1:$port/hook?secret=s" 2>&1)
if [ "$res" = 202 ] && grep -q '"result":"accepted"' "$tmp/hook.json"; then
    ok "POST /hook?secret=s: 202 accepted"
else
    not_ok "POST /hook?secret=s: 202 accepted" "$res $(head -c 600 "$tmp/hook.json" 2>/dev/null)"
fi

res=$(curl -sS -o /dev/null -w '%{http_code}' -X POST \
           -H 'Content-Type: application/json' --data-binary "$body" \
           "http://127.0.0.1:$port/hook?secret=wrong" 2>&1)
check "POST /hook with a wrong secret: 401" test "$res" = 401

if [ -f "$store_db" ] && [ "$(stat -c %U "$store_db")" = www-data ]; then
    ok "the default store $store_db exists (owned by www-data)"
else
    not_ok "the default store $store_db exists (owned by www-data)" \
        "$(ls -la "$store_dir" 2>&1)"
fi

# the queue's first delivery attempt (libcurl, from the worker) reaches the
# stand-in Rootly
for _ in $(seq 50); do
    grep -q '"POST /rootly/v1/alerts ' "$tmp/access.log" 2>/dev/null && break
    sleep 0.1
done
check "the queued alert was sent to (the stand-in) Rootly" \
    grep -q '"POST /rootly/v1/alerts ' "$tmp/access.log"

stop_nginx
check "nginx stopped (pid file gone)" test ! -e "$tmp/nginx.pid"
if grep -E '\[(alert|emerg|crit)\]' "$tmp/error.log" >/dev/null; then
    not_ok "no alert, crit or emerg in the error log" \
        "$(grep -E '\[(alert|emerg|crit)\]' "$tmp/error.log" | head -5)"
else
    ok "no alert, crit or emerg in the error log"
fi

# --- remove: the module is disabled and gone, the data stays
log=$(apt-get remove -y -q "$pkg" 2>&1)
rc=$?
removed=1
if [ $rc = 0 ]; then ok "apt-get remove $pkg"; else not_ok "apt-get remove $pkg" "$(tail -5 <<<"$log")"; fi
check "the enabled snippet link is gone" test ! -e "$enabled" -a ! -L "$enabled"
check "the modules-available snippet is gone" test ! -e "$avail"
check "the module is gone" test ! -e "$so"
check "the store is kept on remove" test -f "$store_db"

# --- purge: the default store folder goes, unless it was there before
if [ -z "$store_existed" ]; then
    log=$(apt-get purge -y -q "$pkg" 2>&1)
    rc=$?
    if [ $rc = 0 ]; then ok "apt-get purge $pkg"; else not_ok "apt-get purge $pkg" "$(tail -5 <<<"$log")"; fi
    check "purge deleted $store_dir" test ! -e "$store_dir"
    check "purge left no .removed link" test ! -L "$enabled.removed"
else
    [ -z "$had_db" ] && rm -f "$store_db" "$store_db-wal" "$store_db-shm"
    echo "# $store_dir existed before the test: not purged (purge deletes it)"
fi

echo "1..$n"
echo "test-deb: $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
