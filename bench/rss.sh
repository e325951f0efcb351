#!/usr/bin/env bash
# Benchmark 3: memory with 100k jobs queued against a dead Rootly.
#
# RSS = sum of VmRSS of the master and its workers (/proc/PID/status), with
# the RssAnon / RssFile / RssShmem split; store size = db + -wal + -shm.
# Jobs are queued by wrk (bench/webhook.lua, distinct entity ids,
# BENCH_STOP_AFTER); wrk is stopped with SIGINT, by PID, once /status
# counts them all (or accepting stalls / FILL_WAIT runs out).
#
# Phase A  rootly_url -> a listener that never answers ("stalled": at most
#          64 sends in flight, the rest stays queued, nothing is retried):
#          RSS idle, then with JOBS (100k) jobs queued.
# Phase B  the same store, nginx restarted with rootly_url -> a closed port:
#          all JOBS jobs are due and fail at connect (retry storm).  RSS just
#          after start and after RETRY_SECS seconds; retries per second.
# Phase C  empty store, rootly_url -> a closed port from the start (the
#          literal "queue 100k against a dead upstream"): fill for at most
#          FILL_WAIT seconds; RSS and how far the queue got.
#
# Env: JOBS=100000 CONNS=32 WORKERS=1 RETRY_SECS=10 FILL_WAIT=20 PHASES="A B C"
set -euo pipefail
. "$(dirname "$0")/lib.sh"
check_env

JOBS=${JOBS:-100000}
RETRY_SECS=${RETRY_SECS:-10}
FILL_WAIT=${FILL_WAIT:-20}
PHASES=${PHASES:-A B C}
OUT=$RESULTS_DIR/rss.md

mem() {   # "rss anon file shmem" in kB over master + workers
    echo "$(rss_kb "$1") $(status_kb "$1" RssAnon) $(status_kb "$1" RssFile) $(status_kb "$1" RssShmem)"
}
files_kb() {
    local f total=0 s
    for f in "$1/bench.db" "$1/bench.db-wal" "$1/bench.db-shm"; do
        s=$(stat -c %s "$f" 2>/dev/null || echo 0)
        total=$((total + s))
    done
    echo $((total / 1024))
}
row() {   # row LABEL PENDING "rss anon file shm" FILES_KB
    local label=$1 pend=$2 m=$3 f=$4
    set -- $m
    awk -v l="$label" -v n="$pend" -v a="$1" -v b="$2" -v c="$3" -v d="$4" -v f="$f" \
        'BEGIN { printf "| %s | %s | %.1f | %.1f | %.1f | %.1f | %s |\n", l, n, a/1024, b/1024, c/1024, d/1024, (f == "" ? "-" : sprintf("%.1f", f/1024)) }'
}

# fill PORT NGINX_PID MAX_SECONDS: queue up to JOBS jobs; sets FILLED,
# FILL_SECS and writes RSS samples (accepted rss_kb) to $dir/samples.txt
fill() {
    local port=$1 pid=$2 max=$3 wrk_pid start end s acc last= i=0
    start=$(date +%s.%N)
    WRK_EXEC=1 STOP_AFTER=$JOBS run_wrk "http://127.0.0.1:$port/hook" "$((max + 5))s" \
        >"$dir/wrk.txt" 2>&1 &
    wrk_pid=$!
    BENCH_PIDS+=("$wrk_pid")
    : >"$dir/samples.txt"
    while [ "$i" -lt "$max" ]; do
        sleep 1
        i=$((i + 1))
        s=$(status_kv "$port" || true)
        acc=$(kv "$s" accepted); acc=${acc:-0}
        echo "$i $acc $(rss_kb "$pid")" >>"$dir/samples.txt"
        [ "$acc" -ge "$JOBS" ] && break
        # wrk stopped sending (it drops a rendered request on reconnect,
        # so the count may end a few short)
        [ "$acc" -gt 0 ] && [ "$acc" = "$last" ] && break
        last=$acc
    done
    end=$(date +%s.%N)
    kill -INT "$wrk_pid" 2>/dev/null || true
    wait "$wrk_pid" 2>/dev/null || true
    forget_pid "$wrk_pid"
    FILLED=$(kv "$(status_kv "$port")" accepted)
    FILL_SECS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
}

rows=()
notes=()
summary=()
dir=$(bench_tmp rss)

if [[ " $PHASES " == *" A "* || " $PHASES " == *" B "* ]]; then
    # ---- phase A: queue JOBS against a stalled upstream
    start_helper hold "$dir"
    hold_pid=$HELPER_PID
    port=$(free_port)
    write_conf "$dir" "$port" "http://127.0.0.1:$HELPER_PORT" normal
    pid=$(nginx_start "$dir" "$port")
    BENCH_PIDS+=("$pid")
    curl -s -o /dev/null "http://127.0.0.1:$port/status"
    sleep 0.5
    m0=$(mem "$pid")
    rows+=("$(row "A: idle after start (empty store)" 0 "$m0" "$(files_kb "$dir")")")
    fill "$port" "$pid" 60
    sleep 1
    s=$(status_kv "$port")
    m1=$(mem "$pid")
    cp "$dir/samples.txt" "$dir/samples-A.txt"
    rows+=("$(row "A: $FILLED jobs queued (Rootly stalled)" "$(kv "$s" pending)" "$m1" "$(files_kb "$dir")")")
    set -- $m0; r0=$1; set -- $m1; r1=$1
    summary+=("$(awk -v a="$r0" -v b="$r1" -v n="$FILLED" 'BEGIN { g = (b - a) / 1024; printf "| RSS growth, %d jobs queued (Rootly stalled) | %.1f MB | < 10 MB per 100k | %s |", n, g, (g * 100000 / n < 10 ? "yes" : "**no**") }')")
    summary+=("$(awk -v f="$(files_kb "$dir")" -v n="$FILLED" 'BEGIN { printf "| store size, %d jobs queued | %.0f MB (%.1f KB/job) | - | - |", n, f / 1024, f / n }')")
    notes+=("Phase A: $FILLED jobs queued in $FILL_SECS s ($(awk -v n="$FILLED" -v s="$FILL_SECS" 'BEGIN { printf "%.0f", n / s }') jobs/s); VmRSS growth **$(awk -v a="$r0" -v b="$r1" 'BEGIN { printf "%.1f", (b - a) / 1024 }') MB** for $FILLED jobs; store $(awk -v f="$(files_kb "$dir")" -v n="$FILLED" 'BEGIN { printf "%.0f bytes/job", f * 1024 / n }').")
    stop_nginx_pid "$pid"
    stop_helper_pid "$hold_pid"
    awk '{ printf "%s ", $0 } END { print "" }' "$dir/samples-A.txt" >&2
fi

if [[ " $PHASES " == *" B "* ]]; then
    # ---- phase B: same store, closed port: JOBS due at once
    port=$(free_port)
    write_conf "$dir" "$port" "http://127.0.0.1:$(free_port)" normal
    pid=$(nginx_start "$dir" "$port")
    BENCH_PIDS+=("$pid")
    sleep 0.5
    s0=$(status_kv "$port")
    m0=$(mem "$pid")
    t0=$(workers_ticks "$pid")
    rows+=("$(row "B: restarted on it, Rootly closed port, 0.5 s" "$(kv "$s0" pending)" "$m0" "$(files_kb "$dir")")")
    sleep "$RETRY_SECS"
    s1=$(status_kv "$port")
    m1=$(mem "$pid")
    t1=$(workers_ticks "$pid")
    rows+=("$(row "B: after $RETRY_SECS s of retries" "$(kv "$s1" pending)" "$m1" "$(files_kb "$dir")")")
    summary+=("$(awk -v n="$(( $(kv "$s1" retried) - $(kv "$s0" retried) ))" -v s="$RETRY_SECS" -v p="$(kv "$s1" pending)" 'BEGIN { printf "| dead Rootly with %d jobs due: failed attempts/s | %.0f | - | - |", p, n / s }')")
    notes+=("Phase B: $(( $(kv "$s1" retried) - $(kv "$s0" retried) )) failed attempts in $RETRY_SECS s ($(awk -v n="$(( $(kv "$s1" retried) - $(kv "$s0" retried) ))" -v s="$RETRY_SECS" 'BEGIN { printf "%.0f", n / s }')/s), worker CPU $(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v s="$RETRY_SECS" 'BEGIN { printf "%.0f%%", t / hz / s * 100 }') of one core.")
    stop_nginx_pid "$pid"
fi

if [[ " $PHASES " == *" C "* ]]; then
    # ---- phase C: closed port from the start
    dir=$(bench_tmp rss-closed)
    port=$(free_port)
    write_conf "$dir" "$port" "http://127.0.0.1:$(free_port)" normal
    pid=$(nginx_start "$dir" "$port")
    BENCH_PIDS+=("$pid")
    curl -s -o /dev/null "http://127.0.0.1:$port/status"
    sleep 0.5
    m0=$(mem "$pid")
    rows+=("$(row "C: idle after start (empty store)" 0 "$m0" "$(files_kb "$dir")")")
    fill "$port" "$pid" "$FILL_WAIT"
    s=$(status_kv "$port")
    m1=$(mem "$pid")
    rows+=("$(row "C: $FILLED jobs accepted in $FILL_SECS s (Rootly closed port)" "$(kv "$s" pending)" "$m1" "$(files_kb "$dir")")")
    set -- $m0; r0=$1; set -- $m1; r1=$1
    curve=$(awk '{ if ($1 % 5 == 0 || $1 == 1) printf "%s s: %d; ", $1, $2 }' "$dir/samples.txt")
    summary+=("$(awk -v a="$r0" -v b="$r1" -v n="$FILLED" -v t="$FILL_SECS" 'BEGIN { g = (b - a) / 1024; printf "| RSS growth, Rootly closed port: %d jobs accepted in %s s | %.1f MB | < 10 MB per 100k | %s |", n, t, g, (g * 100000 / n < 10 ? (n >= 99000 ? "yes" : "yes (only " n " jobs)") : "**no**") }')")
    notes+=("Phase C: VmRSS growth $(awk -v a="$r0" -v b="$r1" 'BEGIN { printf "%.1f", (b - a) / 1024 }') MB for $FILLED jobs; accepted jobs over time: $curve (retried $(kv "$s" retried) times meanwhile).")
    stop_nginx_pid "$pid"
fi

{
    echo "### Memory with ${JOBS} jobs queued against a dead Rootly"
    echo
    echo "store_sync normal, worker_processes $WORKERS, wrk -c${CONNS:-32}, distinct entity ids. VmRSS etc. summed over master + workers (MB = 1024 kB)."
    echo
    echo "| state | jobs pending | VmRSS MB | RssAnon MB | RssFile MB | RssShmem MB | store files MB |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    echo
    printf -- '- %s\n' "${notes[@]}"
} | tee "$OUT"
printf '%s\n' "${summary[@]}" >"$RESULTS_DIR/rss.summary"
