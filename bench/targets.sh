#!/usr/bin/env bash
# Benchmark 6: the ingest targets, each as a ratio to `return 202` in the
# same nginx, same wrk script and parameters, one fresh nginx and store
# per row (WORKERS workers, default 1).
#
#   closed      Rootly on a closed port (not answering): ingest alone;
#               store_sync normal, then full
#   sink        deliveries to a fast local Rootly (bench's nginx sink) in
#               the same worker
#   one-entity  as sink, every webhook on one entity id (a flapping check:
#               distinct incidents, one ordering key)
#   backlog     as closed, after BACKLOG (100k) jobs were queued behind
#               the dead Rootly (compared with the closed row)
#   half-rate   as sink, wrk paced at half the sink row's webhook rate:
#               latency p99 there
#
# Worker CPU per request is read per thread from /proc/PID/task: the event
# loop (the worker's main thread) apart from its other threads (the
# store's thread pool, libcurl's resolver), both per webhook.
#
# Env: DURATION=4s CONNS=32 WORKERS=1 BACKLOG=100000 ROWS="closed full sink
#      one-entity backlog half-rate"
set -euo pipefail
. "$(dirname "$0")/lib.sh"
check_env

DURATION=${DURATION:-4s}
BACKLOG=${BACKLOG:-100000}
ROWS=${ROWS:-closed full sink one-entity backlog half-rate}
OUT=$RESULTS_DIR/targets.md

start_fast_sink targets-sink

rows=()
summary=()
declare -A RATIO RPS

ticks_us() {   # ticks requests -> µs per request
    awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" \
        'BEGIN { printf "%.1f", t * 1e6 / hz / (n ? n : 1) }'
}

# queue $BACKLOG jobs (Rootly closed) before measuring
fill_backlog() {
    local port=$1 i acc last=
    STOP_AFTER=$BACKLOG run_wrk "http://127.0.0.1:$port/hook" 120s \
        >"$dir/wrk-fill.txt" 2>&1
    for i in $(seq 1 30); do
        acc=$(kv "$(status_kv "$port")" pending)
        [ "${acc:-0}" -ge "$((BACKLOG * 99 / 100))" ] && break
        [ "$acc" = "$last" ] && break
        last=$acc
        sleep 1
    done
    note "backlog: $acc jobs pending"
}

# row NAME SYNC UPSTREAM [ENTITY] [BACKLOG] [RATE]
run_row() {
    local name=$1 sync=$2 up=$3 entity=${4:-} backlog=${5:-0} rate=${6:-0}
    local port url pid b h tb0 tb1 th0 th1 s1 pend
    dir=$(bench_tmp "targets-$name")
    port=$(free_port)
    case $up in
        sink)   url=$SINK_URL ;;
        closed) url=http://127.0.0.1:$(free_port) ;;
    esac
    write_conf "$dir" "$port" "$url" "$sync"
    pid=$(nginx_start "$dir" "$port")
    BENCH_PIDS+=("$pid")

    if [ "$backlog" -gt 0 ]; then
        fill_backlog "$port"
    fi

    run_wrk "http://127.0.0.1:$port/baseline" 1s >/dev/null     # warm-up

    tb0=$(workers_thread_ticks "$pid")
    b=$(RATE=$rate run_wrk "http://127.0.0.1:$port/baseline" "$DURATION" \
        | tee "$dir/wrk-baseline.txt" | grep '^BENCH')
    tb1=$(workers_thread_ticks "$pid")
    th0=$(workers_thread_ticks "$pid")
    h=$(ENTITY=$entity RATE=$rate run_wrk "http://127.0.0.1:$port/hook" \
        "$DURATION" | tee "$dir/wrk-hook.txt" | grep '^BENCH')
    th1=$(workers_thread_ticks "$pid")
    s1=$(status_kv "$port")
    pend=$(kv "$s1" pending)
    echo "$b" >"$dir/result.txt"; echo "$h" >>"$dir/result.txt"
    echo "status-after$s1" >>"$dir/result.txt"
    stop_nginx_pid "$pid"

    local brps hrps breq hreq bl hl ht
    brps=$(kv "$b" rps); hrps=$(kv "$h" rps)
    breq=$(kv "$b" requests); hreq=$(kv "$h" requests)
    set -- $tb0; local bm0=$1; set -- $tb1; local bm1=$1
    set -- $th0; local hm0=$1 ho0=$2; set -- $th1; local hm1=$1 ho1=$2
    bl=$(ticks_us "$((bm1 - bm0))" "$breq")
    hl=$(ticks_us "$((hm1 - hm0))" "$hreq")
    ht=$(ticks_us "$((ho1 - ho0))" "$hreq")
    RATIO[$name]=$(awk -v b="$brps" -v h="$hrps" 'BEGIN { printf "%.3f", h / b }')
    RPS[$name]=$hrps

    rows+=("$(awk -v n="$name" -v sync="$sync" -v up="$up" -v brps="$brps" \
        -v hrps="$hrps" -v hp50="$(kv "$h" p50_us)" -v hp99="$(kv "$h" p99_us)" \
        -v bp99="$(kv "$b" p99_us)" -v bl="$bl" -v hl="$hl" -v ht="$ht" \
        -v pend="$pend" -v non="$(kv "$h" non2xx)" -v err="$(kv "$h" errors)" \
        'BEGIN { printf "| %s | %s | %s | %.0f | %.0f | **%.3f** | %.2f / %.2f | %.2f | %s / %s + %s | %s | %s/%s |",
            n, sync, up, brps, hrps, hrps / brps, hp50 / 1000, hp99 / 1000,
            bp99 / 1000, bl, hl, ht, pend, non, err }')")
    note "$name: baseline $brps rps, hook $hrps rps, ratio ${RATIO[$name]}, p99 $(kv "$h" p99_us) us"
    LAST_P99=$(kv "$h" p99_us)
    LAST_CPU="$bl $hl $ht"
}

target() {   # target LABEL MEASURED GOAL MET
    summary+=("| $1 | $2 | $3 | $4 |")
}

met() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
    ok = (op == ">=") ? (a >= b) : (a <= b); print ok ? "yes" : "**no**" }'; }

for r in $ROWS; do
    case $r in
    closed)
        run_row closed normal closed
        target "ingest, store_sync normal, Rootly not answering" \
            "${RATIO[closed]}" ">= 0.5" "$(met "${RATIO[closed]}" ">=" 0.5)"
        set -- $LAST_CPU
        target "worker CPU per webhook (event loop) / return 202; store threads" \
            "$2 / $1 µs ($(awk -v a="$2" -v b="$1" 'BEGIN { printf "%.1fx", a / b }')); $3 µs" \
            "<= 2x" "$(awk -v a="$2" -v b="$1" 'BEGIN { print (a <= 2 * b) ? "yes" : "**no**" }')"
        ;;
    full)
        run_row full full closed
        target "ingest, store_sync full, Rootly not answering" \
            "${RATIO[full]}" ">= 0.35" "$(met "${RATIO[full]}" ">=" 0.35)"
        ;;
    sink)
        run_row sink normal sink
        target "ingest with deliveries to a fast local Rootly" \
            "${RATIO[sink]}" ">= 0.35" "$(met "${RATIO[sink]}" ">=" 0.35)"
        ;;
    one-entity)
        run_row one-entity normal sink same
        if [ -n "${RATIO[sink]:-}" ]; then
            target "same, all webhooks on one entity id (vs sink row)" \
                "${RATIO[one-entity]}" "within 10 % of ${RATIO[sink]}" \
                "$(awk -v a="${RATIO[one-entity]}" -v b="${RATIO[sink]}" 'BEGIN { print (a >= 0.9 * b) ? "yes" : "**no**" }')"
        fi
        ;;
    backlog)
        run_row backlog normal closed "" "$BACKLOG"
        if [ -n "${RATIO[closed]:-}" ]; then
            target "ingest with $BACKLOG jobs queued behind a dead Rootly (vs closed row)" \
                "${RATIO[backlog]}" "within 10 % of ${RATIO[closed]}" \
                "$(awk -v a="${RATIO[backlog]}" -v b="${RATIO[closed]}" 'BEGIN { print (a >= 0.9 * b) ? "yes" : "**no**" }')"
        fi
        ;;
    half-rate)
        rate=$(awk -v r="${RPS[sink]:-4000}" 'BEGIN { printf "%d", r / 2 }')
        run_row "half-rate" normal sink "" 0 "$rate"
        target "p99 at half the maximum rate ($rate webhooks/s, deliveries on)" \
            "$(awk -v p="$LAST_P99" 'BEGIN { printf "%.2f ms", p / 1000 }')" \
            "<= 10 ms" "$(awk -v p="$LAST_P99" 'BEGIN { print (p <= 10000) ? "yes" : "**no**" }')"
        ;;
    esac
done

{
    echo "### Ingest targets (ratio to \`return 202\` in the same nginx)"
    echo
    echo "wrk -t1 -c${CONNS:-32} -d$DURATION, bench/webhook.lua (1.3 KB fixture), worker_processes $WORKERS, access_log off, alert_limit 0; a fresh nginx and store per row."
    echo
    echo "| row | store_sync | Rootly | baseline req/s | webhook req/s | ratio | webhook p50 / p99 ms | baseline p99 ms | CPU µs/req: baseline / webhook loop + store threads | pending after | non-2xx/errors |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
} | tee "$OUT"
printf '%s\n' "${summary[@]}" | tee "$RESULTS_DIR/targets.summary"
