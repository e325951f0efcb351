#!/bin/bash
# `make run`: nginx with the module on 127.0.0.1:8080 (PORT), in front of
# local Rootly and VictorOps simulators, or of the real services when
# ROOTLY_URL/ROOTLY_TOKEN (and VO_API_URL/VO_API_ID/VO_API_KEY/VO_USER)
# are set.  `make stop` stops what this started, by pid.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
run=$top/run
port=${PORT:-8080}
nginx=${NGINX:-/usr/sbin/nginx}
module=${MODULE:-$top/build/nginx/objs/ngx_http_victorops_module.so}
python=/usr/bin/python3
openapi=${VOMOCK_OPENAPI:-$top/../shared/reference/rootly-openapi.json}
[ -f "$openapi" ] || openapi=$top/t/mock/rootly-openapi.json

stop_pid() {
    local file=$1 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$file"
}

stop() {
    if [ -f "$run/nginx.pid" ]; then
        "$nginx" -p "$run/" -c "$run/nginx.conf" -s quit 2>/dev/null || true
        for _ in $(seq 50); do [ -f "$run/nginx.pid" ] || break; sleep 0.1; done
        stop_pid "$run/nginx.pid"
    fi
    stop_pid "$run/rootly-sim.pid"
    stop_pid "$run/victorops-sim.pid"
    stop_pid "$run/slack-sim.pid"
}

simulator() {
    local kind=$1; shift
    rm -f "$run/$kind-sim.port"
    "$python" "$top/t/mock/vomock.py" --kind "$kind" --listen 127.0.0.1 \
        --port 0 --port-file "$run/$kind-sim.port" --simulator "$@" \
        >"$run/$kind-sim.log" 2>&1 &
    echo $! >"$run/$kind-sim.pid"
    for _ in $(seq 100); do [ -s "$run/$kind-sim.port" ] && break; sleep 0.1; done
    [ -s "$run/$kind-sim.port" ] || { cat "$run/$kind-sim.log"; exit 1; }
    echo "http://127.0.0.1:$(cat "$run/$kind-sim.port")"
}

case "${1:-start}" in
stop) stop; echo "stopped"; exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

stop
mkdir -p "$run"
umask 077

if [ -n "${ROOTLY_URL:-}" ]; then
    : "${ROOTLY_TOKEN:?set ROOTLY_TOKEN with ROOTLY_URL}"
    rootly_url=$ROOTLY_URL
    printf '%s\n' "$ROOTLY_TOKEN" >"$run/rootly.token"
else
    [ -f "$openapi" ] || { echo "no Rootly OpenAPI document at $openapi (set VOMOCK_OPENAPI)" >&2; exit 1; }
    printf 'simulated-rootly-token\n' >"$run/rootly.token"
    rootly_url=$(simulator rootly --token simulated-rootly-token --openapi "$openapi")
fi

if [ -n "${VO_API_URL:-}" ]; then
    vo_url=$VO_API_URL
    vo_id=${VO_API_ID:?set VO_API_ID with VO_API_URL}
    printf '%s\n' "${VO_API_KEY:?set VO_API_KEY with VO_API_URL}" >"$run/vo.key"
    vo_user=${VO_USER:-rootly-bot}
else
    vo_id=simulated-api-id
    printf 'simulated-api-key\n' >"$run/vo.key"
    vo_user=alice
    vo_url=$(simulator victorops --api-id "$vo_id" --api-key simulated-api-key)
fi

secret=${WEBHOOK_SECRET:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
printf '%s\n' "$secret" >"$run/webhook.secret"
admin=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$admin" >"$run/admin.token"
signing=${ROOTLY_SIGNING_SECRET:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
printf '%s\n' "$signing" >"$run/rootly-signing.secret"
escalate=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$escalate" >"$run/escalate.token"
slack_secret=${SLACK_SIGNING_SECRET:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
printf '%s\n' "$slack_secret" >"$run/slack-signing.secret"

# Slack's response_url: a local simulator unless the real Slack is used
if [ -n "${SLACK_SIGNING_SECRET:-}" ]; then
    slack_url=https://hooks.slack.com
    slack_hosts=hooks.slack.com
else
    slack_url=$(simulator slack)
    slack_hosts=127.0.0.1:${slack_url##*:}
fi

# a Rootly incident for the walkthrough to page VictorOps about
if [ -z "${ROOTLY_URL:-}" ]; then
    curl -sf -X POST -d '{"incidents":[{"id":"demo-1","title":"Checkout down"}]}' \
        "$rootly_url/_mock/seed" >/dev/null
fi

user=
if [ "$(id -u)" = 0 ]; then
    user="user www-data;"
    chmod 755 "$run"
    chown www-data "$run/rootly.token" "$run/webhook.secret" "$run/vo.key" \
        "$run/admin.token" "$run/rootly-signing.secret" \
        "$run/escalate.token" "$run/slack-signing.secret" 2>/dev/null || true
fi

sed -e "s|@MODULE@|$module|; s|@RUN@|$run|g; s|@PORT@|$port|" \
    -e "s|@USER@|$user|; s|@ROOTLY_URL@|$rootly_url|; s|@VO_URL@|$vo_url|" \
    -e "s|@VO_API_ID@|$vo_id|; s|@VO_USER@|$vo_user|" \
    -e "s|@SLACK_HOSTS@|$slack_hosts|" \
    "$top/examples/nginx.conf.in" >"$run/nginx.conf"

"$nginx" -p "$run/" -c "$run/nginx.conf" -t -q
"$nginx" -p "$run/" -c "$run/nginx.conf"

for _ in $(seq 50); do [ -s "$run/nginx.pid" ] && break; sleep 0.1; done

# what tools/demo.sh needs to talk to this nginx
cat >"$run/demo.env" <<ENV
port=$port
rootly_url=$rootly_url
vo_url=$vo_url
slack_url=$slack_url
ENV

fixtures=$top/t/fixtures/victorops
cat <<MSG

nginx with ngx_http_victorops_module is listening on 127.0.0.1:$port
  configuration:  $run/nginx.conf
  error log:      $run/error.log
  Rootly:         $rootly_url
  VictorOps API:  $vo_url

Send a VictorOps webhook:

  curl -i -H 'Content-Type: application/json' -H 'X-Webhook-Secret: $secret' \\
       --data-binary @$fixtures/flat-triggered.json \\
       http://127.0.0.1:$port/hooks/victorops

MSG

if [ -z "${ROOTLY_URL:-}" ]; then
    cat <<MSG
See what reached "Rootly":

  curl -s '$rootly_url/_mock/requests?format=text'
  tail -f $run/rootly-sim.log

MSG
fi

cat <<MSG
Walk through every path (README "Walkthrough"): tools/demo.sh help

MSG

cat <<MSG
Page VictorOps from a Rootly workflow (or a script):

  curl -i -H 'Authorization: Bearer $escalate' -H 'Content-Type: application/json' \\
       -d '{"incident_id":"demo-1","summary":"Checkout down","targets":[{"type":"EscalationPolicy","slug":"pol-payments-primary"}]}' \\
       http://127.0.0.1:$port/victorops/escalate

Rootly webhooks go to http://127.0.0.1:$port/hooks/rootly, signed with the
secret in $run/rootly-signing.secret (X-Rootly-Signature).

MSG

cat <<MSG
The operator view (counters, queue, Rootly health), and the admin API:

  curl -s http://127.0.0.1:$port/victorops/status
  curl -s 'http://127.0.0.1:$port/victorops/status?format=prometheus'
  curl -s -X POST -H 'Authorization: Bearer $admin' \\
       'http://127.0.0.1:$port/victorops/status?integration=acme&action=dead_letters'

MSG

echo "Stop everything with: make stop"
