#!/usr/bin/env bash
# Where the worker's time goes: perf record (cpu-clock, DWARF call graphs)
# on the single worker while wrk drives /hook, then the top entries.
#
#   UPSTREAM=stalled|sink|closed  PAD=0|65536|1048576  SYNC=normal|full
#   DURATION=4  CONNS=32
#
# Prints: share per DSO, the module's functions with their children
# (inclusive), the top self-time symbols, and where each microsecond of
# the loop and of the store thread goes (phases.py).  Full report:
# bench/tmp-profile-<upstream>-<pad>/perf.txt.  Needs perf (linux-perf);
# hardware counters are not needed (cpu-clock is a software event).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
check_env
command -v perf >/dev/null || die "perf not found (apt-get install -y linux-perf)"

UPSTREAM=${UPSTREAM:-stalled}
PAD=${PAD:-0}
SYNC=${SYNC:-normal}
DURATION=${DURATION:-4}
export PAD
WORKERS=1

dir=$(bench_tmp "profile-$UPSTREAM-$PAD")
hold_pid=
case $UPSTREAM in
    sink)    start_fast_sink profile-sink; url=$SINK_URL ;;
    closed)  url=http://127.0.0.1:$(free_port) ;;
    stalled) start_helper hold "$dir"; url=http://127.0.0.1:$HELPER_PORT ;;
    *) die "UPSTREAM=stalled|sink|closed" ;;
esac
port=$(free_port)
write_conf "$dir" "$port" "$url" "$SYNC"
pid=$(nginx_start "$dir" "$port")
BENCH_PIDS+=("$pid")
worker=$(children_of "$pid")

run_wrk "http://127.0.0.1:$port/hook" 1s >/dev/null
perf record -F 499 -e cpu-clock --call-graph dwarf,32768 -p "$worker" \
    -o "$dir/perf.data" -- sleep "$DURATION" >/dev/null 2>"$dir/perf-record.log" &
perf_pid=$!
BENCH_PIDS+=("$perf_pid")
t0=$(workers_thread_ticks "$pid")
r=$(run_wrk "http://127.0.0.1:$port/hook" "$((DURATION))s" | grep '^BENCH')
t1=$(workers_thread_ticks "$pid")
wait "$perf_pid" || true
forget_pid "$perf_pid"
status=$(status_kv "$port")
stop_nginx_pid "$pid"

# CPU per webhook of the loop and of the other threads (perf's own
# sampling included, as in both), for phases.py
set -- $t0; m0=$1 o0=$2; set -- $t1; m1=$1 o1=$2
n=$(kv "$r" requests)
loop_us=$(awk -v t="$((m1 - m0))" -v n="$n" -v hz="$CLK_TCK" \
    'BEGIN { printf "%.1f", t * 1e6 / hz / (n ? n : 1) }')
thread_us=$(awk -v t="$((o1 - o0))" -v n="$n" -v hz="$CLK_TCK" \
    'BEGIN { printf "%.1f", t * 1e6 / hz / (n ? n : 1) }')
perf script -i "$dir/perf.data" -F tid,ip,sym 2>/dev/null >"$dir/perf.script" || true

set +o pipefail      # the "| head" below cut perf report short on purpose
perf report -i "$dir/perf.data" --children --sort symbol --stdio -g none \
    2>/dev/null >"$dir/perf.txt" || true
{
    echo "### perf: UPSTREAM=$UPSTREAM PAD=$PAD SYNC=$SYNC"
    echo
    echo "wrk: $r"
    echo "status:$status"
    echo
    echo '```'
    echo "# share of worker samples per DSO (self)"
    perf report -i "$dir/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
        | grep '%' | head -10
    echo
    echo "# inclusive (children) share of the module's and key library entry points"
    grep '%' "$dir/perf.txt" \
        | grep -E 'ngx_http_victorops|sqlite3_(step|exec|wal_checkpoint|prepare)|curl_multi_socket_action|yajl_(parse|gen)|SHA256|ngx_http_read_client_request_body|ngx_write_chain_to_temp_file|__libc_(pread|pwrite)|fdatasync|fcntl' \
        | awk '{ $3 = ""; print }' | head -40
    echo
    echo "# top self time"
    perf report -i "$dir/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
        | grep '%' | head -25
    echo '```'
    echo
    echo "Where each microsecond goes (bench/phases.py: samples by thread,"
    echo "each to the first phase with a frame in its call chain, times the"
    echo "thread's CPU per webhook in this run, perf's sampling included):"
    echo
    python3 "$BENCH_DIR/phases.py" "$dir/perf.script" "$worker" \
        "$loop_us" "$thread_us"
} | tee "$RESULTS_DIR/profile-$UPSTREAM-$PAD.md"
