#!/usr/bin/env bash
# Benchmark 2: end-to-end latency, webhook POST -> alert request at Rootly.
#
# bench/e2e.py client sends COUNT webhooks at RATE/s on one keep-alive
# connection (open loop: a slow reply delays only the next send), each with
# "bench_sent_ns" = CLOCK_MONOTONIC in the payload; bench/e2e.py sink (the
# Rootly stand-in, a separate asyncio process) reads it back from
# attributes.data of the alert and records arrival - sent on the same clock.
# Reported: p50/p90/p99/max of that, and of the 202 reply seen by the client.
#
# Env: RATE=200 COUNT=2000 SYNCS="normal full" WORKERS=1
set -euo pipefail
. "$(dirname "$0")/lib.sh"
check_env

RATE=${RATE:-200}
COUNT=${COUNT:-2000}
SYNCS=${SYNCS:-normal full}
OUT=$RESULTS_DIR/latency.md
rows=()
summary=()

for sync in $SYNCS; do
    dir=$(bench_tmp "latency-$sync")
    start_helper sink "$dir"
    sink_pid=$HELPER_PID
    sink_url=http://127.0.0.1:$HELPER_PORT
    port=$(free_port)
    write_conf "$dir" "$port" "$sink_url" "$sync"
    pid=$(nginx_start "$dir" "$port")
    BENCH_PIDS+=("$pid")

    # warm-up: a few requests (connections, statements, page cache)
    python3 "$BENCH_DIR/e2e.py" client --url "http://127.0.0.1:$port/hook" \
        --sink "$sink_url" --fixture "$FIXTURE" --secret "$SECRET" \
        --rate 100 --count 50 >/dev/null
    curl -s -X POST "$sink_url/reset" >/dev/null

    r=$(python3 "$BENCH_DIR/e2e.py" client --url "http://127.0.0.1:$port/hook" \
        --sink "$sink_url" --fixture "$FIXTURE" --secret "$SECRET" \
        --rate "$RATE" --count "$COUNT" | tee "$dir/result.txt" | grep '^BENCH')
    s=$(status_kv "$port")
    echo "status$s" >>"$dir/result.txt"
    stop_nginx_pid "$pid"
    stop_helper_pid "$sink_pid"

    rows+=("$(awk -v sync="$sync" -v r="$r" -v s="$s" 'function g(str, k,   m) {
            if (match(str, "[ ]" k "=[^ ]*")) { m = substr(str, RSTART + length(k) + 2, RLENGTH - length(k) - 2); return m } return "" }
        BEGIN {
            printf "| %s | %s | %s/%s | %.2f | %.2f | **%.2f** | %.2f | %.2f / %.2f | %s |",
                sync, g(r, "rate"), g(r, "arrived"), g(r, "sent"),
                g(r, "e2e_p50_us") / 1000, g(r, "e2e_p90_us") / 1000,
                g(r, "e2e_p99_us") / 1000, g(r, "e2e_max_us") / 1000,
                g(r, "reply_p50_us") / 1000, g(r, "reply_p99_us") / 1000,
                g(s, "commit_avg_us") }')")
    summary+=("$(awk -v sync="$sync" -v r="$r" 'function g(str, k) { if (match(str, "[ ]" k "=[^ ]*")) return substr(str, RSTART + length(k) + 2, RLENGTH - length(k) - 2); return "" }
        BEGIN { p = g(r, "e2e_p99_us") / 1000; printf "| e2e latency p50 / p99, store_sync %s | %.2f / %.2f ms | p99 <= 5 ms | %s |", sync, g(r, "e2e_p50_us") / 1000, p, (p <= 5 && g(r, "arrived") == g(r, "sent") ? "yes" : "**no**") }')")
    note "$sync: $r"
done

{
    echo "### End-to-end latency (webhook POST -> alert request received by the Rootly sink)"
    echo
    echo "bench/e2e.py: $COUNT webhooks at $RATE/s on one keep-alive connection, distinct entity ids; sink = asyncio Python server on loopback; worker_processes $WORKERS."
    echo
    echo "| store_sync | rate/s | arrived/sent | e2e p50 ms | e2e p90 ms | e2e p99 ms | e2e max ms | 202 reply p50 / p99 ms | commit avg µs |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
} | tee "$OUT"
printf '%s\n' "${summary[@]}" >"$RESULTS_DIR/latency.summary"
