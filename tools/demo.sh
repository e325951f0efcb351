#!/bin/bash
# The walkthrough of `make run`: sends each kind of request to the nginx
# it started (signed the way VictorOps, Rootly and Slack sign them) and
# shows what reached the simulators.  See README "Walkthrough".
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
run=$top/run
fixtures=$top/t/fixtures/victorops

[ -f "$run/demo.env" ] || { echo "start it first: make run" >&2; exit 1; }
# shellcheck source=/dev/null
. "$run/demo.env"
base=http://127.0.0.1:$port

secret() { tr -d '\n' <"$run/$1"; }

hmac_hex() {    # key, data on stdin
    openssl dgst -sha256 -hmac "$1" -r | cut -d' ' -f1
}

webhook() {     # a VictorOps outgoing webhook, from a fixture
    curl -sS -i -H 'Content-Type: application/json' \
        -H "X-Webhook-Secret: $(secret webhook.secret)" \
        --data-binary "@$fixtures/$1" "$base/hooks/victorops"
}

rootly_event() {    # type, severity: a signed Rootly webhook about demo-1
    local type=$1 severity=${2:-sev1} status=started t body
    case $type in *resolved) status=resolved ;; esac
    t=$(date +%s)
    body=$(printf '{"event":{"id":"demo-%s-%s","type":"%s","issued_at":"%s"},"data":{"id":"demo-1","title":"Checkout down","url":"https://rootly.com/account/incidents/demo-1","status":"%s","severity":{"slug":"%s","name":"%s"}}}' \
        "$type" "$t$RANDOM" "$type" "$(date -u +%FT%TZ)" "$status" "$severity" \
        "$(echo "$severity" | tr a-z A-Z)")
    curl -sS -i -H 'Content-Type: application/json' \
        -H "X-Rootly-Signature: t=$t,v1=$(printf '%s%s' "$t" "$body" \
                                          | hmac_hex "$(secret rootly-signing.secret)")" \
        --data-binary "$body" "$base/hooks/rootly"
}

slack() {       # a signed slash command
    local text=$1 t body enc
    t=$(date +%s)
    enc=$(printf '%s' "$text" | od -An -tx1 | tr -d ' \n' | sed 's/\(..\)/%\1/g')
    body="token=demo&team_id=T0DEMO&channel_id=C0DEMO&user_id=U0DEMO&user_name=demo&command=%2Fpage&text=$enc&response_url=$(printf '%s' "$slack_url/commands/T0DEMO/1/demo" | sed 's|:|%3A|g; s|/|%2F|g')&trigger_id=1.2.3"
    curl -sS -i -H 'Content-Type: application/x-www-form-urlencoded' \
        -H "X-Slack-Request-Timestamp: $t" \
        -H "X-Slack-Signature: v0=$(printf 'v0:%s:%s' "$t" "$body" \
                                    | hmac_hex "$(secret slack-signing.secret)")" \
        --data-binary "$body" "$base/hooks/slack"
}

seen() {        # what a simulator received
    case $1 in
    rootly) curl -sS "$rootly_url/_mock/requests?format=text" ;;
    victorops) curl -sS "$vo_url/_mock/requests?format=text" ;;
    slack) curl -sS "$slack_url/_mock/state" ;;
    esac
}

case "${1:-help}" in
alert)          webhook flat-triggered.json ;;
ack)            webhook flat-acknowledged.json ;;
recovery)       webhook flat-resolved.json ;;
ignored)        webhook simple-unsupported.json ;;
escalate)       rootly_event incident.created "${2:-sev1}" ;;
raise)          rootly_event incident.updated sev0 ;;
rootly-resolve) rootly_event incident.resolved ;;
slack)          shift; slack "${*:-help}" ;;
import)         curl -sS -X POST -H "Authorization: Bearer $(secret admin.token)" \
                    "$base/victorops/import-teams${2:+?dry_run=1}" ; echo ;;
status)         curl -sS "$base/victorops/status"; echo ;;
seen)           seen "${2:-rootly}" ;;
*)
    cat <<USAGE
usage: tools/demo.sh STEP

  alert            a VictorOps incident triggers: a Rootly alert
  ack | recovery   it is acknowledged / resolved in VictorOps: the alert follows
  ignored          a notification type the integration ignores (200, reason)
  escalate [sev]   Rootly incident demo-1 created (sev1): VictorOps is paged
  raise            demo-1 raised to sev0: the VictorOps incident is rerouted
  rootly-resolve   demo-1 resolved in Rootly: the VictorOps incident follows
  slack TEXT       a Slack slash command: "help", "list", "team-dba db is slow"
  import [dry]     VictorOps teams become Rootly teams (dry: the plan only)
  status           the operator view
  seen rootly|victorops|slack   what each simulator received
USAGE
    ;;
esac
