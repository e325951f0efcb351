#!/usr/bin/env bash
# Benchmark 4: cost per payload size (1 KB, 64 KB, 1 MB).
#
# The fixture's ALERT.state_message is padded so the body is exactly the
# given size (SIZES, bytes; 0 = the fixture as is, 1311 bytes with the
# bench ids).  For each Rootly upstream (stalled: ingest and store only;
# sink: the fast nginx sink, deliveries included) a fresh nginx runs wrk for
# DURATION against /baseline (return 202, body read and discarded) and
# /hook.  Reported: requests/s, mean latency, and worker CPU time per
# request (/proc/PID/stat), the cost that should grow linearly with size.
# client_max_body_size 2m; client_body_buffer_size is nginx's default
# (16k) unless BODY_BUFFER is set, so 64 KB and 1 MB bodies go through a
# temporary file, as they would in a default configuration.
#
# Env: SIZES="0 65536 1048576" UPSTREAMS="stalled sink" DURATION=3s CONNS=8
#      BODY_BUFFER= WORKERS=1
set -euo pipefail
. "$(dirname "$0")/lib.sh"
check_env

SIZES=${SIZES:-0 65536 1048576}
UPSTREAMS=${UPSTREAMS:-stalled sink}
DURATION=${DURATION:-3s}
export CONNS=${CONNS:-8}
OUT=$RESULTS_DIR/payload.md
[ -n "${BODY_BUFFER:-}" ] && export HTTP_EXTRA="    client_body_buffer_size $BODY_BUFFER;"

rows=()
cost=()
for up in $UPSTREAMS; do
    dir=$(bench_tmp "payload-$up")
    hold_pid=
    case $up in
        sink)    start_fast_sink payload-sink; url=$SINK_URL ;;
        stalled) start_helper hold "$dir"; hold_pid=$HELPER_PID
                 url=http://127.0.0.1:$HELPER_PORT ;;
    esac
    port=$(free_port)
    write_conf "$dir" "$port" "$url" normal
    pid=$(nginx_start "$dir" "$port")
    BENCH_PIDS+=("$pid")
    run_wrk "http://127.0.0.1:$port/baseline" 1s >/dev/null

    for size in $SIZES; do
        t0=$(workers_ticks "$pid")
        b=$(PAD=$size run_wrk "http://127.0.0.1:$port/baseline" "$DURATION" | grep '^BENCH')
        t1=$(workers_ticks "$pid")
        s0=$(status_kv "$port")
        t2=$(workers_ticks "$pid")
        h=$(PAD=$size run_wrk "http://127.0.0.1:$port/hook" "$DURATION" | grep '^BENCH')
        t3=$(workers_ticks "$pid")
        s1=$(status_kv "$port")
        echo "$size $b" >>"$dir/result.txt"; echo "$size $h" >>"$dir/result.txt"
        echo "$size status$s1" >>"$dir/result.txt"
        bytes=$size; [ "$size" = 0 ] && bytes=1311
        acc=$(( $(kv "$s1" accepted) - $(kv "$s0" accepted) ))
        rows+=("$(awk -v up="$up" -v bytes="$bytes" -v b="$b" -v h="$h" -v tb="$((t1 - t0))" -v th="$((t3 - t2))" \
            -v hz="$CLK_TCK" -v acc="$acc" -v st="$(stat -c %s "$dir/bench.db" 2>/dev/null || echo 0)" \
            -v bad="$(kv "$h" non2xx)/$(kv "$h" errors)" '
            function g(str, k) { if (match(str, "[ ]" k "=[^ ]*")) return substr(str, RSTART + length(k) + 2, RLENGTH - length(k) - 2); return "" }
            BEGIN {
                br = g(b, "rps"); hr = g(h, "rps"); bn = g(b, "requests"); hn = g(h, "requests")
                bc = tb * 1e6 / hz / (bn ? bn : 1); hc = th * 1e6 / hz / (hn ? hn : 1)
                printf "| %s | %s | %.0f | %.0f | %.3f | %.2f | %.2f | %.0f | %.0f | %.1f | %d | %s |",
                    up, (bytes >= 1048576 ? "1 MB" : (bytes >= 65536 ? "64 KB" : bytes " B")),
                    br, hr, hr / br, g(b, "mean_us") / 1000, g(h, "mean_us") / 1000,
                    bc, hc, hc / (bytes / 1024), acc, bad }')")
        cost+=("$up $bytes $(awk -v th="$((t3 - t2))" -v hz="$CLK_TCK" -v hn="$(kv "$h" requests)" 'BEGIN { printf "%.0f", th * 1e6 / hz / (hn ? hn : 1) }')")
        note "$up size $bytes: baseline $(kv "$b" rps) rps, hook $(kv "$h" rps) rps"
    done
    stop_nginx_pid "$pid"
    [ -n "$hold_pid" ] && stop_helper_pid "$hold_pid"
    [ "$up" = sink ] && stop_nginx_pid "$SINK_PID"
    ls -l "$dir"/bench.db* >&2
done

{
    echo "### Cost per payload size"
    echo
    echo "wrk -t${THREADS:-1} -c$CONNS -d$DURATION, store_sync normal, worker_processes $WORKERS, client_max_body_size 2m, client_body_buffer_size ${BODY_BUFFER:-default (16k): larger bodies are buffered to a temp file}. stalled = Rootly never answers (ingest + store only); sink = fast nginx sink (deliveries included)."
    echo
    echo "| upstream | body | baseline req/s | webhook req/s | ratio | baseline mean ms | webhook mean ms | baseline CPU µs/req | webhook CPU µs/req | webhook CPU µs per KB | jobs accepted | non-2xx/errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
} | tee "$OUT"
# one summary line per upstream: CPU per request by size, and per KB
for up in $UPSTREAMS; do
    printf '%s\n' "${cost[@]}" | awk -v up="$up" '$1 == up {
            n++; sz[n] = $2; c[n] = $3 }
        END {
            for (i = 1; i <= n; i++) {
                v = v (i > 1 ? " / " : "") c[i]
                k = k (i > 1 ? " / " : "") sprintf("%.1f", c[i] / (sz[i] / 1024))
                s = s (i > 1 ? " / " : "") (sz[i] >= 1048576 ? "1 MB" : (sz[i] >= 65536 ? "64 KB" : "1.3 KB"))
            }
            lin = (n > 1) ? (c[n] - c[1]) / ((sz[n] - sz[1]) / 1024) : 0
            printf "| webhook CPU per request %s (Rootly %s) | %s µs (%s µs/KB) | ~linear in size | marginal %.1f µs/KB |\n", s, up, v, k, lin }'
done >"$RESULTS_DIR/payload.summary"
