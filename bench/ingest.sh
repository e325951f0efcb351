#!/usr/bin/env bash
# Benchmark 1: ingest throughput, as a ratio to plain nginx in the same run.
#
# For each store_sync (normal, full) and each Rootly upstream:
#   sink     a fast sink: a separate nginx answering 201 {"data":{"id":..}}
#   closed   rootly_url on a closed port: every send fails at connect
#            (ECONNREFUSED) and is retried with backoff
#   stalled  a listener that accepts and never answers: at most 64 sends
#            in flight, then the dispatcher stops claiming; isolates ingest
# a fresh nginx (WORKERS workers, new store) is started, and wrk runs for
# DURATION against
#   /baseline  return 202 (same nginx, same worker, same wrk script/params)
#   /hook      victorops_webhook, persistence on
# Ratio = hook requests/s / baseline requests/s.  Every webhook carries a
# distinct entity id and incident number (bench/webhook.lua), so nothing is
# answered "duplicate".  Worker CPU per request comes from /proc/PID/stat.
#
# Env: DURATION=3s CONNS=32 THREADS=1 WORKERS=1 SYNCS="normal full"
#      UPSTREAMS="sink closed stalled"
set -euo pipefail
. "$(dirname "$0")/lib.sh"
check_env

DURATION=${DURATION:-3s}
SYNCS=${SYNCS:-normal full}
UPSTREAMS=${UPSTREAMS:-sink closed stalled}
OUT=$RESULTS_DIR/ingest.md

start_fast_sink ingest-sink
hold_dir=$(bench_tmp ingest-hold)

rows=()
summary=()

run_variant() {
    local sync=$1 up=$2 dir port url pid b h tb0 tb1 th0 th1 s0 s1 hold_pid=
    dir=$(bench_tmp "ingest-$sync-$up")
    port=$(free_port)
    case $up in
        sink)    url=$SINK_URL ;;
        closed)  url=http://127.0.0.1:$(free_port) ;;
        stalled) start_helper hold "$hold_dir"; hold_pid=$HELPER_PID
                 url=http://127.0.0.1:$HELPER_PORT ;;
    esac
    write_conf "$dir" "$port" "$url" "$sync"
    pid=$(nginx_start "$dir" "$port")
    BENCH_PIDS+=("$pid")

    run_wrk "http://127.0.0.1:$port/baseline" 1s >/dev/null     # warm-up

    tb0=$(workers_ticks "$pid")
    b=$(run_wrk "http://127.0.0.1:$port/baseline" "$DURATION" | tee "$dir/wrk-baseline.txt" | grep '^BENCH')
    tb1=$(workers_ticks "$pid")
    s0=$(status_kv "$port")
    th0=$(workers_ticks "$pid")
    h=$(run_wrk "http://127.0.0.1:$port/hook" "$DURATION" | tee "$dir/wrk-hook.txt" | grep '^BENCH')
    th1=$(workers_ticks "$pid")
    s1=$(status_kv "$port")
    echo "$b" >"$dir/result.txt"; echo "$h" >>"$dir/result.txt"
    echo "status-before$s0" >>"$dir/result.txt"; echo "status-after$s1" >>"$dir/result.txt"

    stop_nginx_pid "$pid"
    [ -n "$hold_pid" ] && stop_helper_pid "$hold_pid"

    local brps hrps breq hreq acc com dlv pend bcpu hcpu tcpu
    brps=$(kv "$b" rps); hrps=$(kv "$h" rps)
    breq=$(kv "$b" requests); hreq=$(kv "$h" requests)
    acc=$(( $(kv "$s1" accepted) - $(kv "$s0" accepted) ))
    com=$(( $(kv "$s1" commits) - $(kv "$s0" commits) ))
    dlv=$(( $(kv "$s1" delivered) - $(kv "$s0" delivered) ))
    pend=$(kv "$s1" pending)
    # the store thread's CPU per accepted job (status store.thread_cpu_us)
    tcpu=$(awk -v t="$(( $(kv "$s1" thread_cpu_us) - $(kv "$s0" thread_cpu_us) ))" -v n="$acc" 'BEGIN { printf "%.1f", t / (n ? n : 1) }')
    # worker CPU per request, microseconds
    bcpu=$(awk -v t="$(( tb1 - tb0 ))" -v n="$breq" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t * 1e6 / hz / (n ? n : 1) }')
    hcpu=$(awk -v t="$(( th1 - th0 ))" -v n="$hreq" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t * 1e6 / hz / (n ? n : 1) }')

    summary+=("$(awk -v sync="$sync" -v up="$up" -v b="$brps" -v h="$hrps" 'BEGIN {
        r = h / b; printf "| ingest ratio, store_sync %s, Rootly %s | %.3f (%.0f / %.0f req/s) | >= 0.5 | %s |", sync, up, r, h, b, (r >= 0.5 ? "yes" : "**no**") }')")
    rows+=("$(awk -v sync="$sync" -v up="$up" -v brps="$brps" -v hrps="$hrps" \
        -v bp99="$(kv "$b" p99_us)" -v hp50="$(kv "$h" p50_us)" -v hp99="$(kv "$h" p99_us)" \
        -v bcpu="$bcpu" -v hcpu="$hcpu" -v tcpu="$tcpu" -v acc="$acc" -v com="$com" -v dlv="$dlv" -v pend="$pend" \
        -v non="$(kv "$h" non2xx)" -v err="$(kv "$h" errors)" 'BEGIN {
            printf "| %s | %s | %.0f | %.0f | **%.3f** | %.2f / %.2f | %s / %s | %s | %d | %.1f | %d | %d | %s/%s |",
                sync, up, brps, hrps, hrps / brps, hp50 / 1000, hp99 / 1000,
                bcpu, hcpu, tcpu, acc, (com ? acc / com : 0), dlv, pend, non, err }')")
    note "$sync/$up: baseline $brps rps, hook $hrps rps"
}

for sync in $SYNCS; do
    for up in $UPSTREAMS; do
        run_variant "$sync" "$up"
    done
done

{
    echo "### Ingest throughput (ratio to \`return 202\` in the same nginx)"
    echo
    echo "wrk -t${THREADS:-1} -c${CONNS:-32} -d$DURATION, bench/webhook.lua (fixture flat-triggered.json, $(wc -c <"$FIXTURE") bytes, distinct entity ids), worker_processes $WORKERS, access_log off, error_log $LOG_LEVEL, alert_limit 0."
    echo
    echo "| store_sync | Rootly upstream | baseline req/s | webhook req/s | ratio | webhook p50 / p99 ms | worker CPU µs/req baseline / webhook | store thread CPU µs/job | jobs accepted | jobs per commit | delivered during run | pending after | non-2xx/errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
} | tee "$OUT"
printf '%s\n' "${summary[@]}" >"$RESULTS_DIR/ingest.summary"
