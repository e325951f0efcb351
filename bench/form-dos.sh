#!/usr/bin/env bash
# Hostile escalation-policy (form) bodies: how fast one nginx worker
# refuses them, and how /ping on the same worker fares meanwhile.
#
# bench/form_dos.py sends, for SECONDS_EACH each, back to back from
# ATTACKERS connections: a 1 MB body with distinct keys in descending
# order (the worst case of the insertion sort the signature check used
# to do: 23.5 s for 660 KB) with Content-Length, the same chunked (over
# escalation_max_fields in its first 3 KB), a chunked 1 MB of 256 members
# of 4 KB (over escalation_max_body), a body at both default caps (64 KB,
# 256 fields), one member over
# escalation_max_fields, and, on a location with the caps raised
# (escalation_max_body 2m, escalation_max_fields 1000000), the 1 MB body
# parsed, sorted and HMAC-checked in full.  All carry a made-up
# X-VictorOps-Signature.
#
# Env: SECONDS_EACH=5 ATTACKERS=2; LEGACY=1 for a module without the caps
# (MODULE=/path/old.so): one request of each kind, no raised-caps row.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -x "$NGINX" ] || die "no nginx at $NGINX"
[ -f "$MODULE" ] || die "no module at $MODULE (build it with make)"
need python3 curl

SECONDS_EACH=${SECONDS_EACH:-5}
ATTACKERS=${ATTACKERS:-2}
mkdir -p "$RESULTS_DIR"
OUT=$RESULTS_DIR/form-dos.md

dir=$(bench_tmp form-dos)
port=$(free_port)

roomy_block=
roomy_location=
args=(--port "$port" --seconds "$SECONDS_EACH" --attackers "$ATTACKERS" --roomy)
what="$ATTACKERS connections sending each body back to back for $SECONDS_EACH s"

if [ -n "${LEGACY:-}" ]; then
    args=(--port "$port" --legacy)
    what="legacy module, one request of each kind"
else
    roomy_block="
    victorops_integration roomy {
        rootly_url            http://127.0.0.1:1;
        rootly_token          rootly-test-token;
        store                 $dir/roomy.db;
        escalation_auth_code  vo-auth-code-5b1e;
        escalation_url        https://hooks.example.com/victorops/escalation;
        escalation_max_body   2m;
        escalation_max_fields 1000000;
    }"
    roomy_location="location = /roomy { victorops_webhook roomy; }"
fi

cat >"$dir/nginx.conf" <<CONF
load_module $MODULE;
$(user_line)
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log ${LOG_LEVEL};
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/client_body_temp;
    client_max_body_size 4m;
    keepalive_requests 1000000;

    victorops_integration acme {
        rootly_url           http://127.0.0.1:1;
        rootly_token         rootly-test-token;
        store                $dir/acme.db;
        escalation_auth_code vo-auth-code-5b1e;
        escalation_url       https://hooks.example.com/victorops/escalation;
    }
$roomy_block

    server {
        listen 127.0.0.1:$port backlog=1024;
        location = /hook { victorops_webhook acme; }
        $roomy_location
        location = /ping { return 200 "pong\n"; }
        location = /     { return 204; }
    }
}
CONF

pid=$(nginx_start "$dir" "$port")
BENCH_PIDS+=("$pid")

note "one worker on 127.0.0.1:$port: $what"

{
    echo "### Hostile escalation-policy bodies (bench/form-dos.sh)"
    echo
    echo "One nginx worker; $what; GET /ping every 2 ms on a keep-alive connection to the same worker."
    echo
    python3 "$BENCH_DIR/form_dos.py" "${args[@]}"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'); $(nproc) cores: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "- module: $MODULE, tree $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null)$(cd "$ROOT" && git diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted src changes')"
} | tee "$OUT"

stop_nginx_pid "$pid"
