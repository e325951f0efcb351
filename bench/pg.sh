#!/usr/bin/env bash
# Benchmark: ingest with the PostgreSQL store, one node and two, as a
# ratio to `return 202` in the same nginx and the same run.
#
# Starts its own PostgreSQL 15 cluster (Debian's postgresql-15: initdb into
# bench/tmp-pg/, as the "postgres" user when run as root, 127.0.0.1 on a
# free port, a Unix socket in the folder; fsync and synchronous_commit ON,
# as in production; pg_stat_statements preloaded, track_wal_io_timing on).
# The postmaster's PID is recorded and it alone is stopped (SIGINT: fast
# shutdown) on exit, after the nginx processes.  Then, each row a fresh
# nginx (WORKERS=1 worker) and a fresh database:
#
#   sqlite-closed  the SQLite store (store_sync normal), Rootly on a closed
#                  port: ingest only, for comparison in the same run
#   pg-closed      store postgresql://..., Rootly on a closed port: ingest
#                  only (failed sends retried with backoff meanwhile)
#   pg-sink        the same, deliveries to a fast local Rootly sink
#   pg-2nodes      two nginx (1 worker each, node_id bench-a / bench-b) on
#                  one database, Rootly closed; two wrk in parallel, one per
#                  node, against /baseline, then both against /hook
#
# wrk (-t1 -cCONNS -dDURATION, bench/webhook.lua: distinct entity ids, so
# nothing is a duplicate) first on /baseline, then on /hook, back to back.
# Per row: req/s, ratio, p50/p99; CPU per webhook of the nginx event loop
# (main thread of the worker), of its other threads (SQLite's store
# thread), of the cluster's client backends and of its other processes
# (walwriter, checkpointer, ...), read from /proc/PID/stat of the
# postmaster's children; transactions committed per job (pg_stat_database
# xact_commit delta / jobs accepted: every transaction, claims and
# outcomes included), WAL bytes and WAL syncs per job (pg_stat_wal); jobs
# accepted (the /status counters) against jobs in the table + delivered
# (a lost job shows as a difference).  Then pg_stat_statements for the
# hook run of each PostgreSQL row: calls, mean ms, rows per statement
# (bench/tmp-results/pg-statements-ROW.md).
#
# Then the APPEND statement alone, without nginx (rows sql-*): pgbench
# runs transactions of SQL_BATCH (16) x the module's APPEND statement
# (dedup record + job, 1.3 KB body), over the extended protocol with a
# parse and plan per statement (what the module does today) and prepared:
# jobs/s, PG CPU per job, WAL bytes per job.
#
# PERF=1: also perf profiles (nginx worker + backend) of the one-node rows,
# from one more DURATION of wrk not in the table (pg-perf-ROW.md).
#
# Env: DURATION=4s CONNS=32 WORKERS=1 ROWS="sqlite-closed pg-closed pg-sink
#      pg-2nodes sql-extended sql-prepared" (also: pg-2nodes-sink,
#      sql-prepared-1, sql-prepared-8c) SQL_BATCH=16 PERF=
#      PGBIN=/usr/lib/postgresql/15/bin PG_SYNC=on (off:
#      synchronous_commit=off, for comparison only) MODULE=other.so
# About 90 s with the default rows (2 min with PERF=1).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
check_env

DURATION=${DURATION:-4s}
ROWS=${ROWS:-sqlite-closed pg-closed pg-sink pg-2nodes sql-extended sql-prepared}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_SYNC=${PG_SYNC:-on}
OUT=$RESULTS_DIR/pg.md

for b in initdb postgres pg_isready psql; do
    [ -x "$PGBIN/$b" ] || die "no $PGBIN/$b: apt-get install postgresql-15 (tools/deps.sh test)"
done

load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the cluster

PG_PID=
PG_DIR=
PG_PORT=

pg_stop() {
    local i
    [ -n "$PG_PID" ] || return 0
    if kill -0 "$PG_PID" 2>/dev/null; then
        kill -INT "$PG_PID" 2>/dev/null     # fast shutdown
        for i in $(seq 1 150); do
            kill -0 "$PG_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$PG_PID" 2>/dev/null; then
            note "postgres $PG_PID did not stop in 15 s: SIGQUIT"
            kill -QUIT "$PG_PID" 2>/dev/null
            sleep 2
        fi
    fi
    wait "$PG_PID" 2>/dev/null || true
    PG_PID=
}

# nginx first (its connections), then the cluster
trap 'cleanup; pg_stop' EXIT

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    local i
    PG_DIR=$(bench_tmp pg)
    PG_PORT=$(free_port)
    if [ "$(id -u)" = 0 ]; then
        getent passwd postgres >/dev/null || die "running as root and no postgres user"
        chown -R postgres: "$PG_DIR"
    fi
    chmod 0700 "$PG_DIR"
    as_pg "$PGBIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust \
        -E UTF8 --locale=C >"$PG_DIR/logs/initdb.log" 2>&1 \
        || { cat "$PG_DIR/logs/initdb.log" >&2; die "initdb failed"; }
    # setpriv execs, and so does the subshell: $! is the postmaster's own
    # PID (a function run in the background would leave a bash between)
    local run=()
    [ "$(id -u)" = 0 ] && run=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    ( exec "${run[@]}" "$PGBIN/postgres" -D "$PG_DIR/data" -k "$PG_DIR" \
        -h 127.0.0.1 -p "$PG_PORT" \
        -c max_connections=50 \
        -c shared_preload_libraries=pg_stat_statements \
        -c pg_stat_statements.track=all \
        -c track_wal_io_timing=on -c track_io_timing=on \
        -c synchronous_commit="$PG_SYNC" \
        -c log_line_prefix='%m [%p] ' \
        </dev/null >>"$PG_DIR/logs/server.log" 2>&1 ) &
    PG_PID=$!
    for i in $(seq 1 300); do
        kill -0 "$PG_PID" 2>/dev/null || { cat "$PG_DIR/logs/server.log" >&2; die "postgres exited"; }
        "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -t 1 && break
        sleep 0.1
    done
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -t 1 || die "postgres not ready"
    # in template1 too: each row's database has it
    psql_db postgres "CREATE EXTENSION pg_stat_statements" >/dev/null
    psql_db template1 "CREATE EXTENSION pg_stat_statements" >/dev/null
    [ "$(head -1 "$PG_DIR/data/postmaster.pid")" = "$PG_PID" ] \
        || die "postmaster.pid says $(head -1 "$PG_DIR/data/postmaster.pid"), started $PG_PID"
    note "postgres $PG_PID on 127.0.0.1:$PG_PORT ($PG_DIR), synchronous_commit=$PG_SYNC"
}

# psql_db DB SQL: rows as "a|b" lines
psql_db() {
    PGCONNECT_TIMEOUT=5 "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 \
        -p "$PG_PORT" -U postgres -d "$1" -c "$2"
}

pg_uri() { echo "postgresql://postgres@127.0.0.1:$PG_PORT/$1?sslmode=disable"; }

# CPU ticks of the postmaster's children: "BACKENDS OTHER" (client
# backends: a process title with "127.0.0.1("; others: walwriter,
# checkpointer, bgwriter, autovacuum, stats ...)
pg_ticks() {
    local be=0 other=0 c rest
    for c in $(children_of "$PG_PID"); do
        rest=$(sed 's/.*) //' "/proc/$c/stat" 2>/dev/null) || continue
        set -- $rest
        # no "| grep -q": with pipefail, an early exit fails the pipe
        if grep -qa '127\.0\.0\.1(' "/proc/$c/cmdline" 2>/dev/null; then
            be=$((be + ${12} + ${13}))
        else
            other=$((other + ${12} + ${13}))
        fi
    done
    echo "$be $other"
}

# CPU ticks of the postmaster's children that exited (reaped: its
# cutime + cstime), e.g. the backends of pgbench's connections
pg_reaped_ticks() {
    local rest
    rest=$(sed 's/.*) //' "/proc/$PG_PID/stat")
    set -- $rest
    echo $((${14} + ${15}))
}

# "xact_commit wal_bytes wal_sync wal_sync_time_ms" (cluster's WAL)
pg_counters() {
    psql_db postgres "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = '$1'),
        wal_bytes::bigint, wal_sync, round(wal_sync_time::numeric, 1) FROM pg_stat_wal" | tr '|' ' '
}

# accepted (all kinds), delivered, non-2xx of one nginx's /status
node_counts() {
    curl -s --max-time 30 "http://127.0.0.1:$1/status" | python3 -c '
import json, sys
d = json.load(sys.stdin)["integrations"]["bench"]
a = d["accepted"]
s = d.get("store", {})
print("accepted=%d delivered=%d duplicate=%d retried=%d state=%s"
      % (a["alert"] + a["acknowledgement"] + a["recovery"], d["delivered"],
         d["duplicate"], d["retried"], s.get("state", "-")))'
}

ticks_us() { awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t * 1e6 / hz / (n ? n : 1) }'; }

# ---- one nginx under test

# node_conf DIR PORT ROOTLY_URL STORE(sqlite|DB name) NODE_ID
node_conf() {
    local dir=$1 port=$2 url=$3 store=$4 node=$5
    write_conf "$dir" "$port" "$url" normal
    if [ "$store" != sqlite ]; then
        sed -i -e "s|^\( *store  *\)$dir/bench.db;|\1$(pg_uri "$store");\n        node_id             $node;\n        store_timeout       5s;|" \
               -e '/^ *store_sync /d' "$dir/nginx.conf"
        grep -q 'store  *postgresql://' "$dir/nginx.conf" || die "could not set the PostgreSQL store in $dir/nginx.conf"
    fi
}

# wait until a node's worker says its store is ready (PostgreSQL)
wait_ready() {
    local port=$1 i
    for i in $(seq 1 100); do
        case $(node_counts "$port") in *state=ready*) return 0 ;; esac
        sleep 0.1
    done
    die "store of the nginx on port $port not ready: $(node_counts "$port")"
}

# wrk on several nodes at once, each its own process, same duration;
# prints the merged BENCH line (rps and requests summed, p50 averaged,
# p99 the worst, non2xx/errors summed)
#   wrk_nodes PATH DURATION TAG PORT...
wrk_nodes() {
    local path=$1 dur=$2 tag=$3 port pids=() files=() i=0 f
    shift 3
    for port in "$@"; do
        i=$((i + 1))
        f=$TMPW/wrk-$tag-$i.txt
        files+=("$f")
        PREFIX=$tag$i.$$.$(date +%s%N | cut -c9-16) WRK_EXEC=1 \
            run_wrk "http://127.0.0.1:$port$path" "$dur" >"$f" 2>&1 &
        pids+=("$!")
        BENCH_PIDS+=("$!")
    done
    for i in "${pids[@]}"; do wait "$i" || true; forget_pid "$i"; done
    for f in "${files[@]}"; do grep '^BENCH' "$f" || { cat "$f" >&2; die "wrk failed"; }; done | awk '
        { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
          req += v["requests"]; rps += v["rps"]; p50 += v["p50_us"]; n++
          if (v["p99_us"] > p99) p99 = v["p99_us"]
          non += v["non2xx"]; err += v["errors"] }
        END { printf "BENCH requests=%d rps=%.0f p50_us=%.0f p99_us=%.0f non2xx=%d errors=%d nodes=%d\n",
              req, rps, p50 / n, p99, non, err, n }'
}

rows=()
stmts=()
perfs=()
summary=()

PG_FUNCS='PostgresMain|GetCachedPlan|ExecScan|SS_process_ctes|fdatasync|__GI_fdatasync \\(inlined\\)|exec_parse_message|exec_bind_message|exec_execute_message|exec_describe_portal_message|pg_parse_query|raw_parser|parse_analyze_fixedparams|parse_analyze_varparams|pg_analyze_and_rewrite_fixedparams|pg_analyze_and_rewrite_varparams|pg_rewrite_query|pg_plan_queries|pg_plan_query|planner|standard_planner|inline_function|eval_const_expressions|PortalRun|ProcessQuery|standard_ExecutorStart|standard_ExecutorRun|ExecInsert|ExecUpdate|ExecOnConflictUpdate|heap_insert|toast_insert_or_update|heap_toast_insert_or_update|_bt_doinsert|finish_xact_command|CommitTransactionCommand|CommitTransaction|RecordTransactionCommit|XLogFlush|XLogWrite|issue_xlog_fsync|XLogInsert|XLogInsertRecord|pq_getbyte|pq_flush|secure_read|secure_write|pgss_store|pgss_ExecutorEnd|pgss_post_parse_analyze|StartTransactionCommand|WaitEventSetWait|ReadyForQuery|ProcessUtility|standard_ProcessUtility'
NGX_FUNCS='ngx_process_events_and_timers|ngx_epoll_process_events|ngx_event_process_posted|ngx_http_victorops_webhook_handler|ngx_http_victorops_webhook_body|ngx_http_victorops_webhook_process|ngx_http_victorops_webhook_enqueue|ngx_http_victorops_webhook_queued|ngx_http_victorops_queue_accept|ngx_http_victorops_commit_handler|ngx_http_victorops_committed|ngx_http_victorops_store_pg_post|ngx_http_victorops_store_pg_answer|ngx_http_victorops_pg_send_handler|ngx_http_victorops_pg_event|ngx_http_victorops_pg_io|ngx_http_victorops_pg_put|ngx_http_victorops_pg_flush|ngx_http_victorops_pg_results|ngx_http_victorops_pg_beat_handler|PQsendQueryParams|PQconsumeInput|PQgetResult|PQflush|PQpipelineSync|ngx_http_read_client_request_body|ngx_http_finalize_request|yajl_parse|ngx_http_victorops_queue_kick|ngx_writev|ngx_unix_recv|epoll_wait'

# PERF=1: one more DURATION of wrk on /hook (not in the table), with
# perf record (cpu-clock, no call graphs) on the nginx worker and the
# cluster's client backends: the share of each process, library and
# symbol.  bench/tmp-results/pg-perf-ROW.md
perf_row() {
    local name=$1 master=$2 port=$3 worker bes c pp f=$TMPW/perf.data
    command -v perf >/dev/null || { note "perf not found: no profile"; return 0; }
    worker=$(children_of "$master")
    worker=${worker%%$'\n'*}
    bes=$(for c in $(children_of "$PG_PID"); do
        if grep -qa '127\.0\.0\.1(' "/proc/$c/cmdline" 2>/dev/null; then echo "$c"; fi; done | paste -sd,)
    perf record -F 999 -e cpu-clock --call-graph dwarf,16384 -p "$worker,$bes" -o "$f" -- sleep "${DURATION%s}" \
        >/dev/null 2>"$TMPW/perf-record.log" &
    pp=$!
    BENCH_PIDS+=("$pp")
    wrk_nodes /hook "$DURATION" perf "$port" >"$TMPW/wrk-perf.txt"
    wait "$pp" || true
    forget_pid "$pp"
    set +o pipefail
    {
        echo "#### perf, row $name: nginx worker $worker, PostgreSQL backends $bes (cpu-clock, % of all samples)"
        echo
        echo "By process and library:"
        echo
        echo '```'
        perf report -i "$f" --no-children --sort comm,dso --stdio 2>/dev/null | grep '%' | head -14
        echo '```'
        echo
        echo "PostgreSQL backend, inclusive share of all samples (call graphs: DWARF):"
        echo
        echo '```'
        perf report -i "$f" --comm postgres --children --sort symbol --stdio -g none 2>/dev/null \
            | grep -E '\] ('"$PG_FUNCS"') ' | head -45
        echo '```'
        echo
        echo "nginx worker, inclusive share of all samples:"
        echo
        echo '```'
        perf report -i "$f" --comm nginx --children --sort symbol --stdio -g none 2>/dev/null \
            | grep -E '\] ('"$NGX_FUNCS"') ' | head -30
        echo '```'
        echo
        echo "Top self symbols:"
        echo
        echo '```'
        perf report -i "$f" --no-children --sort comm,dso,symbol --stdio -g none 2>/dev/null | grep '%' | head -25
        echo '```'
    } >"$RESULTS_DIR/pg-perf-$name.md"
    set -o pipefail
    perfs+=("$RESULTS_DIR/pg-perf-$name.md")
}

# run_row NAME STORE(sqlite|pg) UPSTREAM(closed|sink) NODES
run_row() {
    local name=$1 store=$2 up=$3 nodes=$4 url db i dir port pids=() ports=() dirs=()
    TMPW=$(bench_tmp "pg-$name")
    case $up in
        sink)   url=$SINK_URL ;;
        closed) url=http://127.0.0.1:$(free_port) ;;
    esac
    db=sqlite
    if [ "$store" = pg ]; then
        db=bench_${name//-/_}
        psql_db postgres "CREATE DATABASE $db" >/dev/null
    fi
    for i in $(seq 1 "$nodes"); do
        dir=$TMPW/node$i
        mkdir -p "$dir/logs"
        port=$(free_port)
        node_conf "$dir" "$port" "$url" "$db" "bench-$i"
        pid=$(nginx_start "$dir" "$port")
        BENCH_PIDS+=("$pid")
        pids+=("$pid"); ports+=("$port"); dirs+=("$dir")
        [ "$store" = pg ] && wait_ready "$port"
    done

    wrk_nodes /baseline 1s warm "${ports[@]}" >/dev/null

    # baseline, then the webhooks, back to back
    local tb0=0 tb1=0 th0m=0 th0o=0 th1m=0 th1o=0 p b h c0 c1 pg0 pg1 n0=() t
    for p in "${pids[@]}"; do set -- $(workers_thread_ticks "$p"); tb0=$((tb0 + $1)); done
    b=$(wrk_nodes /baseline "$DURATION" base "${ports[@]}")
    for p in "${pids[@]}"; do set -- $(workers_thread_ticks "$p"); tb1=$((tb1 + $1)); done

    local acc0=0 acc1=0 dlv1=0 dup1=0 kv1
    for port in "${ports[@]}"; do acc0=$((acc0 + $(kv " $(node_counts "$port")" accepted))); done
    if [ "$store" = pg ]; then
        psql_db "$db" "SELECT pg_stat_statements_reset()" >/dev/null
        sleep 1.1       # backends flush their statistics at most every second
        c0=$(pg_counters "$db")
        pg0=$(pg_ticks)
    fi
    for p in "${pids[@]}"; do set -- $(workers_thread_ticks "$p"); th0m=$((th0m + $1)); th0o=$((th0o + $2)); done
    h=$(wrk_nodes /hook "$DURATION" hook "${ports[@]}")
    for p in "${pids[@]}"; do set -- $(workers_thread_ticks "$p"); th1m=$((th1m + $1)); th1o=$((th1o + $2)); done
    [ "$store" = pg ] && pg1=$(pg_ticks)

    # jobs accepted during the run; then let the batches in flight finish
    sleep 1.2
    for port in "${ports[@]}"; do
        kv1=" $(node_counts "$port")"
        acc1=$((acc1 + $(kv "$kv1" accepted))); dlv1=$((dlv1 + $(kv "$kv1" delivered)))
        dup1=$((dup1 + $(kv "$kv1" duplicate)))
        echo "node $port:$kv1" >>"$TMPW/result.txt"
    done
    echo "$b" >>"$TMPW/result.txt"; echo "$h" >>"$TMPW/result.txt"

    local jobs="-" xpj="-" walpj="-" syncpj="-" syncms="-" bem="-" oth="-" intable="-"
    local acc=$((acc1 - acc0)) hreq breq
    hreq=$(kv "$h" requests); breq=$(kv "$b" requests)
    if [ "$store" = pg ]; then
        c1=$(pg_counters "$db")
        set -- $c0; local x0=$1 w0=$2 s0=$3 st0=$4
        set -- $c1; local x1=$1 w1=$2 s1=$3 st1=$4
        xpj=$(awk -v x="$((x1 - x0))" -v n="$acc" 'BEGIN { printf "%.3f", x / (n ? n : 1) }')
        walpj=$(awk -v w="$((w1 - w0))" -v n="$acc" 'BEGIN { printf "%.0f", w / (n ? n : 1) }')
        syncpj=$(awk -v s="$((s1 - s0))" -v n="$acc" 'BEGIN { printf "%.3f", s / (n ? n : 1) }')
        syncms=$(awk -v s="$((s1 - s0))" -v t0="$st0" -v t1="$st1" 'BEGIN { printf "%.2f", (t1 - t0) / (s ? s : 1) }')
        set -- $pg0; local pb0=$1 po0=$2
        set -- $pg1; local pb1=$1 po1=$2
        bem=$(ticks_us "$((pb1 - pb0))" "$hreq")
        oth=$(ticks_us "$((po1 - po0))" "$hreq")
        intable=$(psql_db "$db" "SELECT count(*) FROM jobs")
        echo "pg before: $c0 $pg0; after: $c1 $pg1; jobs in table: $intable" >>"$TMPW/result.txt"
        {
            echo "#### pg_stat_statements, row $name (hook run, database $db)"
            echo
            echo "| statement | calls | mean ms | total ms | rows | rows/call | WAL bytes/call |"
            echo "|---|---:|---:|---:|---:|---:|---:|"
            psql_db "$db" "SELECT regexp_replace(left(regexp_replace(s.query, '\\s+', ' ', 'g'), 90), '\\|', '/', 'g'),
                    s.calls, round(s.mean_exec_time::numeric, 3), round(s.total_exec_time::numeric, 1),
                    s.rows, round(s.rows::numeric / greatest(s.calls, 1), 2),
                    round(s.wal_bytes / greatest(s.calls, 1))
                FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
               WHERE d.datname = '$db' AND s.query NOT LIKE '%pg_stat_statements%'
               ORDER BY s.total_exec_time DESC LIMIT 12" |
                awk -F'|' '{ printf "| `%s` | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }'
        } >"$RESULTS_DIR/pg-statements-$name.md"
        stmts+=("$RESULTS_DIR/pg-statements-$name.md")
        jobs="$intable + $dlv1"
    else
        jobs="- + $dlv1"
    fi

    [ -n "${PERF:-}" ] && [ "$store" = pg ] && [ "$nodes" = 1 ] && perf_row "$name" "${pids[0]}" "${ports[0]}"

    for p in "${pids[@]}"; do stop_nginx_pid "$p"; done
    for dir in "${dirs[@]}"; do
        grep -E '\[(error|crit|alert|emerg)\]' "$dir/logs/error.log" \
            | grep -v 'connect() failed\|Connection refused\|Couldn.t connect\|the worker exits' \
            | head -5 | sed "s|^|# $name $(basename "$dir"): |" >&2 || true
    done

    local brps hrps
    brps=$(kv "$b" rps); hrps=$(kv "$h" rps)
    rows+=("$(awk -v n="$name" -v st="$store" -v up="$up" -v nodes="$nodes" \
        -v brps="$brps" -v hrps="$hrps" -v hp50="$(kv "$h" p50_us)" -v hp99="$(kv "$h" p99_us)" \
        -v bp99="$(kv "$b" p99_us)" -v bl="$(ticks_us "$((tb1 - tb0))" "$breq")" \
        -v hl="$(ticks_us "$((th1m - th0m))" "$hreq")" -v ht="$(ticks_us "$((th1o - th0o))" "$hreq")" \
        -v bem="$bem" -v oth="$oth" -v xpj="$xpj" -v walpj="$walpj" -v syncpj="$syncpj" -v syncms="$syncms" \
        -v acc="$acc1" -v jobs="$jobs" -v dup="$dup1" \
        -v non="$(kv "$h" non2xx)" -v err="$(kv "$h" errors)" \
        'BEGIN { printf "| %s | %s | %s | %d | %.0f | %.0f | **%.3f** | %.2f / %.2f | %.2f | %s / %s / %s + %s / %s | %s | %s | %s (%s ms) | %d / %s | %s | %s/%s |",
            n, st, up, nodes, brps, hrps, hrps / brps, hp50 / 1000, hp99 / 1000, bp99 / 1000,
            bl, hl, ht, bem, oth, xpj, walpj, syncpj, syncms, acc, jobs, dup, non, err }')")
    summary+=("$(awk -v n="$name" -v nodes="$nodes" -v st="$store" -v up="$up" -v b="$brps" -v h="$hrps" -v p99="$(kv "$h" p99_us)" 'BEGIN {
        printf "| ingest ratio, %s store, Rootly %s, %d node(s) (pg.sh %s) | %.3f (%.0f / %.0f req/s), p99 %.1f ms | - | - |", st == "pg" ? "PostgreSQL" : "SQLite", up, nodes, n, h / b, h, b, p99 / 1000 }')")
    note "$name: baseline $brps rps, hook $hrps rps, p99 $(kv "$h" p99_us) us, accepted $acc, jobs+delivered $jobs"
}

# ---- the APPEND statements alone, without nginx: pgbench

sql_rows=()

# sql_row MODE(extended|prepared) CLIENTS JOBS_PER_TXN
sql_row() {
    local mode=$1 clients=$2 per=$3 db dir port pid i f c0 c1 pg0 pg1 r0 r1 out tps lat
    command -v "$PGBIN/pgbench" >/dev/null || { note "no pgbench: sql rows skipped"; return 0; }
    db=bench_sql_${mode}_${clients}_$per
    dir=$(bench_tmp "pg-sql-$mode-$clients-$per")
    psql_db postgres "CREATE DATABASE $db" >/dev/null
    # the schema, as a node migrates it
    port=$(free_port)
    node_conf "$dir" "$port" "http://127.0.0.1:$(free_port)" "$db" bench-schema
    pid=$(nginx_start "$dir" "$port")
    BENCH_PIDS+=("$pid")
    wait_ready "$port"
    stop_nginx_pid "$pid"
    # one transaction: BEGIN, JOBS_PER_TXN x the module's APPEND statement
    # (dedup record + job, 1.3 KB body), COMMIT
    f=$dir/append.sql
    {
        echo '\set r random(1, 2000000000)'
        echo 'BEGIN;'
        for i in $(seq 1 "$per"); do
            echo "WITH d AS (INSERT INTO dedup (integration, hash, seen_at) VALUES ('bench', decode(md5(:client_id::text || '.' || :r::text || '.$i'), 'hex'), victorops_now_ms()) ON CONFLICT (integration, hash) DO UPDATE SET seen_at = EXCLUDED.seen_at WHERE dedup.seen_at <= EXCLUDED.seen_at - 3600000::bigint RETURNING 1) INSERT INTO jobs (integration, id, kind, class, key, incident, entity, body, created_at, next_at) SELECT 'bench', md5(:client_id::text || '.' || :r::text || '.$i'), 1::smallint, 1::smallint, 'victorops.acme.bench/' || :client_id::text || '-' || :r::text || '-$i', :r::text || '$i', 'bench/' || :client_id::text || '-' || :r::text || '-$i', convert_to(repeat('x', 1300), 'UTF8'), victorops_now_ms(), victorops_now_ms() WHERE EXISTS (SELECT 1 FROM d) RETURNING seq;"
        done
        echo 'COMMIT;'
    } >"$f"
    sleep 1.1
    c0=$(pg_counters "$db"); pg0=$(pg_ticks); r0=$(pg_reaped_ticks)
    out=$("$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PG_PORT" -U postgres -M "$mode" \
        -c "$clients" -j "$clients" -T "${DURATION%s}" -f "$f" "$db" 2>&1) \
        || { echo "$out" >&2; die "pgbench failed"; }
    sleep 1.1
    pg1=$(pg_ticks); r1=$(pg_reaped_ticks)
    c1=$(pg_counters "$db")
    echo "$out" >"$dir/pgbench.txt"
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -1)
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
    local jobs
    jobs=$(psql_db "$db" "SELECT count(*) FROM jobs")
    set -- $c0; local x0=$1 w0=$2 s0=$3 st0=$4
    set -- $c1; local x1=$1 w1=$2 s1=$3 st1=$4
    # pgbench's backends exited: their CPU is the postmaster's reaped time
    set -- $pg0; local po0=$2
    set -- $pg1; local po1=$2 pb0=0 pb1=$((r1 - r0))
    sql_rows+=("$(awk -v mode="$mode" -v c="$clients" -v per="$per" -v tps="$tps" -v lat="$lat" \
        -v jobs="$jobs" -v be="$(ticks_us "$((pb1 - pb0))" "$jobs")" -v oth="$(ticks_us "$((po1 - po0))" "$jobs")" \
        -v wal="$((w1 - w0))" -v syn="$((s1 - s0))" -v st="$(awk -v a="$st0" -v b="$st1" 'BEGIN { print b - a }')" \
        'BEGIN { printf "| %s | %d | %d | %.0f | **%.0f** | %.2f | %s / %s | %.0f | %.2f (%.2f ms) |",
            mode, c, per, tps, tps * per, lat, be, oth, wal / (jobs ? jobs : 1),
            syn * per / (jobs ? jobs : 1), st / (syn ? syn : 1) }')")
    note "sql $mode -c$clients x$per: $tps txn/s, $jobs jobs"
}

pg_start
start_fast_sink pg-sink

for r in $ROWS; do
    case $r in
        sqlite-closed) run_row sqlite-closed sqlite closed 1 ;;
        pg-closed)     run_row pg-closed pg closed 1 ;;
        pg-sink)       run_row pg-sink pg sink 1 ;;
        pg-2nodes)     run_row pg-2nodes pg closed 2 ;;
        pg-2nodes-sink) run_row pg-2nodes-sink pg sink 2 ;;
        sql-extended)  sql_row extended 2 "${SQL_BATCH:-16}" ;;
        sql-prepared)  sql_row prepared 2 "${SQL_BATCH:-16}" ;;
        sql-prepared-1) sql_row prepared 2 1 ;;
        sql-prepared-8c) sql_row prepared 8 "${SQL_BATCH:-16}" ;;
        *) die "unknown row $r" ;;
    esac
done

load_end=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "### Ingest on the PostgreSQL store (ratio to \`return 202\` in the same nginx, same run)"
    echo
    echo "wrk -t1 -c${CONNS:-32} -d$DURATION per node (two nodes: two wrk processes in parallel, one per node, for /baseline and for /hook alike), bench/webhook.lua (1.3 KB fixture, distinct entity ids), worker_processes $WORKERS per nginx, access_log off, alert_limit 0; a fresh nginx and database per row. PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}') on the same machine, loopback TCP, defaults but synchronous_commit=$PG_SYNC (fsync on), shared_buffers 128MB. Load average (1/5/15 min) at start: $load_start; at end: $load_end."
    echo
    echo "| row | store | Rootly | nodes | baseline req/s | webhook req/s | ratio | webhook p50 / p99 ms | baseline p99 ms | CPU µs/webhook: baseline loop / webhook loop / nginx threads + PG backends / PG other | PG commits per job | WAL bytes/job | WAL syncs per job (mean sync ms) | accepted / in jobs table + delivered | duplicate | non-2xx/errors |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    if [ ${#sql_rows[@]} -gt 0 ]; then
        echo
        echo "#### The APPEND statement alone (pgbench, no nginx)"
        echo
        echo "pgbench -M MODE -c CLIENTS -T ${DURATION%s}: each transaction BEGIN, N x the module's APPEND statement (the duplicate record and the job, 1.3 KB body, distinct keys), COMMIT; extended = a parse and plan per statement, as the module sends them today (PQsendQueryParams); prepared = parsed and planned once per connection. Same cluster, same settings."
        echo
        echo "| protocol | clients | jobs per txn | txn/s | jobs/s | latency avg ms | PG CPU µs/job: backends / other | WAL bytes/job | WAL syncs per txn (mean ms) |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        printf '%s\n' "${sql_rows[@]}"
    fi
    for f in "${stmts[@]}" "${perfs[@]}"; do echo; cat "$f"; done
} | tee "$OUT"
printf '%s\n' "${summary[@]}" >"$RESULTS_DIR/pg.summary"
