# Shared helpers for the benchmark scripts (sourced, not run).
#
# Every process a script starts is recorded by PID and stopped by PID
# (never by name).  Generated configurations, stores and logs live in
# bench/tmp-<name>/ (ignored by git), recreated on every run.
#
# Environment knobs (all optional):
#   NGINX=/usr/sbin/nginx        nginx binary
#   MODULE=<repo>/build/nginx/objs/ngx_http_victorops_module.so
#   WORKERS=1                    worker_processes of the nginx under test
#   LOG_LEVEL=error              error_log level of the nginx under test

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
NGINX=${NGINX:-/usr/sbin/nginx}
MODULE=${MODULE:-$ROOT/build/nginx/objs/ngx_http_victorops_module.so}
WORKERS=${WORKERS:-1}
LOG_LEVEL=${LOG_LEVEL:-error}
FIXTURE=$ROOT/t/fixtures/victorops/flat-triggered.json
RESULTS_DIR=$BENCH_DIR/tmp-results
SECRET=s3cret

# PIDs this script started (nginx masters, helpers); stopped on exit
BENCH_PIDS=()

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || die "$c not found${2:+ (apt-get install -y $c)}"
    done
}

check_env() {
    [ -x "$NGINX" ] || die "no nginx at $NGINX"
    [ -f "$MODULE" ] || die "no module at $MODULE (build it with make)"
    # one build for the whole run: nginx loads the .so at every start, and
    # a rebuild in the middle would mix builds; sub-scripts inherit it
    if [ -z "${BENCH_MODULE_SNAPSHOT:-}" ]; then
        mkdir -p "$BENCH_DIR/tmp-module"
        cp "$MODULE" "$BENCH_DIR/tmp-module/.new.so"
        touch -r "$MODULE" "$BENCH_DIR/tmp-module/.new.so"
        mv "$BENCH_DIR/tmp-module/.new.so" "$BENCH_DIR/tmp-module/$(basename "$MODULE")"
        export BENCH_MODULE_SOURCE=$MODULE
        export MODULE=$BENCH_DIR/tmp-module/$(basename "$MODULE")
        export BENCH_MODULE_SNAPSHOT=1
    fi
    [ -f "$FIXTURE" ] || die "no fixture at $FIXTURE"
    command -v wrk >/dev/null 2>&1 || die "wrk not found: apt-get install -y wrk"
    command -v python3 >/dev/null 2>&1 || die "python3 not found"
    command -v curl >/dev/null 2>&1 || die "curl not found"
    mkdir -p "$RESULTS_DIR"
}

# a port nobody listens on right now (the kernel picks it: bind to :0)
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# fresh bench/tmp-NAME directory; prints its path
bench_tmp() {
    local d=$BENCH_DIR/tmp-$1
    rm -rf "$d"
    mkdir -p "$d/logs"
    echo "$d"
}

# children of a PID (nginx workers of a master)
children_of() {
    local pid=$1 p
    for p in /proc/[0-9]*; do
        [ -r "$p/stat" ] || continue
        # field 4 of /proc/PID/stat is the parent; the name (field 2) may
        # hold spaces, so cut after the last ')'
        local rest
        rest=$(sed 's/.*) //' "$p/stat" 2>/dev/null) || continue
        set -- $rest
        if [ "${2:-}" = "$pid" ]; then echo "${p#/proc/}"; fi
    done
    return 0
}

# start "nginx -p DIR -c DIR/nginx.conf" in the foreground of a background
# job (daemon off), wait for PORT to answer; prints the master PID
nginx_start() {
    local dir=$1 port=$2 pid i
    "$NGINX" -t -q -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
        || die "nginx -t failed for $dir/nginx.conf"
    "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
        -g 'daemon off;' </dev/null >>"$dir/logs/stdout.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/master.pid"
    for i in $(seq 1 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
            echo "$pid"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    tail -20 "$dir/logs/error.log" >&2
    die "nginx ($dir) did not start on port $port"
}

# stop by PID: SIGTERM (fast shutdown; STOP_SIGNAL=QUIT for a graceful
# one), then SIGKILL to the master and its workers (by PID) if it does not
# go away within 15 s
nginx_stop() {
    local pid=$1 i w workers
    kill -0 "$pid" 2>/dev/null || return 0
    workers=$(children_of "$pid")
    kill -"${STOP_SIGNAL:-TERM}" "$pid" 2>/dev/null
    for i in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        note "nginx $pid did not quit in 15 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        for w in $workers; do kill -KILL "$w" 2>/dev/null; done
    fi
    wait "$pid" 2>/dev/null || true
}

# generic stop of a helper process started by this script
proc_stop() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    set +e
    for pid in "${BENCH_PIDS[@]}"; do
        if [ -f "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q nginx; then
            nginx_stop "$pid"
        else
            proc_stop "$pid"
        fi
    done
    BENCH_PIDS=()
}

trap cleanup EXIT
trap 'exit 130' INT TERM

# the fast Rootly sink: its own nginx, one worker, answers every request
# with 201 and an alert id (reads and discards the body).  Sets SINK_PID
# and SINK_URL.
start_fast_sink() {
    local dir port
    dir=$(bench_tmp "${1:-sink}")
    port=$(free_port)
    cat >"$dir/nginx.conf" <<EOF
$(user_line)
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log error;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/client_body_temp;
    client_max_body_size 8m;
    client_body_buffer_size 4m;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port backlog=1024;
        default_type application/vnd.api+json;
        location / { return 201 '{"data":{"id":"bench-alert","type":"alerts"}}'; }
    }
}
EOF
    SINK_PID=$(nginx_start "$dir" "$port")
    BENCH_PIDS+=("$SINK_PID")
    SINK_URL=http://127.0.0.1:$port
    SINK_DIR=$dir
}

# a Python helper from e2e.py (sink: timestamping Rootly stand-in; hold:
# accepts and never answers).  start_helper MODE DIR; sets HELPER_PID and
# HELPER_PORT.
start_helper() {
    local mode=$1 dir=$2 i
    rm -f "$dir/$mode.port"
    python3 "$BENCH_DIR/e2e.py" "$mode" --port-file "$dir/$mode.port" \
        </dev/null >>"$dir/logs/$mode.log" 2>&1 &
    HELPER_PID=$!
    BENCH_PIDS+=("$HELPER_PID")
    for i in $(seq 1 100); do
        [ -s "$dir/$mode.port" ] && break
        kill -0 "$HELPER_PID" 2>/dev/null || die "e2e.py $mode exited: $(cat "$dir/logs/$mode.log")"
        sleep 0.05
    done
    HELPER_PORT=$(cat "$dir/$mode.port")
}

# stop one started process and forget it
forget_pid() {
    local pid=$1 p keep=()
    for p in "${BENCH_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    BENCH_PIDS=("${keep[@]}")
}
stop_nginx_pid() { nginx_stop "$1"; forget_pid "$1"; }
stop_helper_pid() { proc_stop "$1"; forget_pid "$1"; }

user_line() {
    if [ "$(id -u)" = 0 ]; then echo "user root root;"; fi
}

# nginx under test: module + a plain "return 202" location in the same
# server (the baseline), same workers.
#   write_conf DIR PORT ROOTLY_URL STORE_SYNC [extra integration lines]
# Locations: /hook (module), /baseline (return 202), /status.
# HTTP_EXTRA: more http{} directives (e.g. client_body_buffer_size 2m;).
write_conf() {
    local dir=$1 port=$2 url=$3 sync=$4 extra=${5:-}
    cat >"$dir/nginx.conf" <<EOF
load_module $MODULE;
$(user_line)
worker_processes $WORKERS;
pid $dir/nginx.pid;
error_log $dir/logs/error.log $LOG_LEVEL;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/client_body_temp;
    client_max_body_size 2m;
    keepalive_requests 1000000;
${HTTP_EXTRA:-}

    victorops_integration bench {
        rootly_url          $url;
        rootly_token        rootly-test-token;
        webhook_secret      $SECRET;
        store               $dir/bench.db;
        store_sync          $sync;
        rootly_timeout      5s;
        alert_limit         0;
$extra
    }

    server {
        listen 127.0.0.1:$port backlog=4096;
        location = /hook     { victorops_webhook bench; }
        location = /baseline { return 202 '{"result":"accepted"}'; }
        location = /status   { victorops_status; }
        location = /         { return 204; }
    }
}
EOF
}

# sum of VmRSS (kB) of a master and its workers; also prints per-process
# lines to stderr when VERBOSE is set
rss_kb() {
    local pid=$1 total=0 p v
    for p in "$pid" $(children_of "$pid"); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# sum of one /proc/PID/status field (kB) over a master and its workers
status_kb() {
    local pid=$1 field=$2 total=0 p v
    for p in "$pid" $(children_of "$pid"); do
        v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# CPU time (clock ticks: utime+stime) of the workers of a master
workers_ticks() {
    local pid=$1 total=0 p rest
    for p in $(children_of "$pid"); do
        rest=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        set -- $rest
        # after the name: state(1) ppid(2) ... utime(12) stime(13)
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

CLK_TCK=$(getconf CLK_TCK)

# CPU time (clock ticks) of the workers' main threads (the event loops)
# and of their other threads (nginx's thread pools: the store's commits,
# checkpoints; libcurl's resolver) apart: "MAIN OTHER"
workers_thread_ticks() {
    local pid=$1 main=0 other=0 p t rest
    for p in $(children_of "$pid"); do
        for t in /proc/$p/task/[0-9]*; do
            rest=$(sed 's/.*) //' "$t/stat" 2>/dev/null) || continue
            set -- $rest
            if [ "${t##*/}" = "$p" ]; then
                main=$((main + ${12} + ${13}))
            else
                other=$((other + ${12} + ${13}))
            fi
        done
    done
    echo "$main $other"
}

# a field of the integration's status JSON, e.g. status_field PORT queue.pending
status_field() {
    curl -s "http://127.0.0.1:$1/status" | python3 -c '
import json, sys
d = json.load(sys.stdin)["integrations"]["bench"]
for k in sys.argv[1].split("."):
    d = d[k]
print(d)' "$2"
}

# the counters the benchmarks use, as one line of key=value
status_kv() {
    curl -s --max-time 30 "http://127.0.0.1:$1/status" | python3 -c '
import json, sys
d = json.load(sys.stdin)["integrations"]["bench"]
a = d["accepted"]
print(" accepted=%d duplicate=%d invalid=%d rejected=%d delivered=%d retried=%d"
      " dead=%d pending=%d links=%d commits=%d commit_avg_us=%d commit_max_us=%d"
      " lock_waits=%d lock_wait_ms=%d thread_cpu_us=%d"
      % (a["alert"] + a["acknowledgement"] + a["recovery"], d["duplicate"],
         d["invalid"], d["rejected"], d["delivered"], d["retried"],
         d["dead_lettered"], d["queue"]["pending"], d["queue"]["links"],
         d["store"]["commits"], d["store"]["commit_avg_us"],
         d["store"]["commit_max_us"], d["store"]["lock_waits"],
         d["store"]["lock_wait_ms"], d["store"].get("thread_cpu_us", 0)))'
}

status_json() {
    curl -s "http://127.0.0.1:$1/status"
}

# run wrk with the webhook script; prints wrk's output; the last line is
#   BENCH requests=N duration_us=N rps=N p50_us=N p99_us=N mean_us=N non2xx=N errors=N
#   run_wrk URL DURATION [extra wrk args]   (env: PAD, CONNS, THREADS, STOP_AFTER)
# WRK_EXEC=1: exec wrk (in "run_wrk ... &", $! is then wrk's own PID)
WRK_RUN=0
run_wrk() {
    local url=$1 dur=$2
    shift 2
    WRK_RUN=$((WRK_RUN + 1))
    BENCH_FIXTURE=$FIXTURE BENCH_PAD=${PAD:-0} BENCH_STOP_AFTER=${STOP_AFTER:-0} \
    BENCH_SECRET=$SECRET BENCH_ENTITY=${ENTITY:-} BENCH_RATE=${RATE:-0} BENCH_CONNS=${CONNS:-32} BENCH_PREFIX=${PREFIX:-$$.$(date +%s%N | cut -c8-13).$WRK_RUN} BENCH_THREADS=${THREADS:-1} \
        ${WRK_EXEC:+exec} wrk -t"${THREADS:-1}" -c"${CONNS:-32}" -d"$dur" \
            --timeout 10s -s "$BENCH_DIR/webhook.lua" "$@" "$url"
}

# value of key=... in a BENCH line
kv() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<"$1" | tail -1; }

# machine description for results
machine_info() {
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //')"
    echo "- CPU: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores"
    echo "- kernel: $(uname -r); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo "- module: ${BENCH_MODULE_SOURCE:-$MODULE} (copied for the run), built $(date -u -r "$MODULE" '+%Y-%m-%d %H:%M UTC'), tree $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null)$(cd "$ROOT" && git diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted src changes')"
}
