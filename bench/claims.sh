#!/usr/bin/env bash
# Benchmark: what a claim costs with a backlog, before and after the ready
# set (schema 7), in the same run.
#
# Backlogs (BACKLOG jobs, default 100,000, written with the sqlite3 CLI
# into a store the module created, so each build gets its own schema):
#   empty    nothing queued
#   entity   BACKLOG jobs of one incident key: its head backs off for an
#            hour, the rest wait behind it (due by time, blocked by order)
#   outage   BACKLOG jobs of distinct keys, every one backing off for an
#            hour after a Rootly outage
#
# Part 1, the SQL alone (no nginx): for each tree (BEFORE_REV, default
# a90b607, and the working tree) a store is built from that tree's schema
# array, filled, and that tree's CLAIM statement (32 jobs) and DUE query
# are timed, each inside BEGIN ... ROLLBACK so every run sees the same
# backlog: median microseconds over ROUNDS runs.  job_us: a job's whole
# way through that store (insert, claim, done; 32 at a time, 8 to an
# incident key, a transaction a step), microseconds a job.
#
# Part 2, nginx: for each module (BEFORE_MODULE if set, a build of
# BEFORE_REV; MODULE, this tree's) and backlog, wrk posts fresh webhooks
# (distinct incidents, a fast Rootly sink) for DURATION: webhooks accepted
# a second, deliveries a second during the run, worker CPU per webhook.
#
# Env: BACKLOG=100000 ROUNDS=50 DURATION=5s CONNS=32 WORKERS=1
#      BEFORE_REV=a90b607 BEFORE_MODULE=/path/to/old/ngx_http_victorops_module.so
#      BACKLOGS="empty entity outage" PART="sql nginx"
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BACKLOG=${BACKLOG:-100000}
ROUNDS=${ROUNDS:-50}
DURATION=${DURATION:-5s}
BEFORE_REV=${BEFORE_REV:-a90b607}
BACKLOGS=${BACKLOGS:-empty entity outage}
PART=${PART:-sql nginx}
OUT=$RESULTS_DIR/claims.md

need sqlite3 python3
mkdir -p "$RESULTS_DIR"

# the SQL that fills a store of schema $2 with backlog $1 (from schema 7
# on, a job says whether it is the head of its key: ready)
fill_sql() {
    local kind=$1 ready= head= all= now
    now=$(date +%s%3N)
    if [ "$2" -ge 7 ]; then
        ready=", ready"; head=", i = 1"; all=", 1"
    fi
    case $kind in
    empty)  echo "SELECT 1 WHERE 0;" ;;
    entity) cat <<EOF
WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $BACKLOG)
INSERT INTO jobs (id, kind, class, key, incident, entity, body, state, attempts,
                  created_at, next_at, last_status$ready)
SELECT printf('backlog%012d', i), 1, 0, 'bench/entity', '1', 'bench/entity',
       randomblob(1200), 0, i = 1, $now - 3600000 + i,
       CASE WHEN i = 1 THEN $now + 3600000 ELSE $now - 3600000 + i END,
       CASE WHEN i = 1 THEN 500 ELSE 0 END$head
FROM n;
EOF
    ;;
    outage) cat <<EOF
WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $BACKLOG)
INSERT INTO jobs (id, kind, class, key, incident, entity, body, state, attempts,
                  created_at, next_at, last_status$ready)
SELECT printf('backlog%012d', i), 1, 0, printf('bench/outage-%d', i), '1',
       printf('bench/outage-%d', i), randomblob(1200), 0, 3, $now - 3600000 + i,
       $now + 3600000, 500$all
FROM n;
EOF
    ;;
    esac
}

# ---------------------------------------------------------------- part 1

sql_part() {
    local dir label kind src schema
    dir=$(bench_tmp claims-sql)
    for label in before after; do
        src=$dir/$label
        mkdir -p "$src"
        if [ "$label" = before ]; then
            (cd "$ROOT" && git show "$BEFORE_REV:src/ngx_http_victorops_store.c") >"$src/store.c"
            (cd "$ROOT" && git show "$BEFORE_REV:src/ngx_http_victorops_store_jobs.c") >"$src/store_jobs.c"
        else
            cp "$ROOT/src/ngx_http_victorops_store.c" "$src/store.c"
            cp "$ROOT/src/ngx_http_victorops_store_jobs.c" "$src/store_jobs.c"
        fi
        schema=$(sed -n 's/^#define NGX_HTTP_VICTOROPS_SCHEMA  *//p' "$src/store.c")
        for kind in $BACKLOGS; do
            fill_sql "$kind" "$schema" >"$src/fill-$kind.sql"
            python3 - "$src" "$kind" "$ROUNDS" <<'EOF'
import re, sqlite3, statistics, sys, time

src, kind, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])

def strings(text, start):
    """the entries of a C array of string literals"""
    i = text.index('{', text.index(start)) + 1
    body = re.sub(r'/\*.*?\*/', '', text[i:text.index('\n};', i)], flags=re.S)
    out, cur = [], ''
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|(,)', body):
        if m.group(2):
            out.append(cur)
            cur = ''
        else:
            cur += m.group(1).encode().decode('unicode_escape')
    if cur.strip():
        out.append(cur)
    return out

schema = strings(open(src + '/store.c').read(), 'ngx_http_victorops_schema[] =')
jobs = strings(open(src + '/store_jobs.c').read(), 'ngx_http_victorops_store_jobs_sql[] =')
claim, due = jobs[1], jobs[11]          # SQL_CLAIM, SQL_DUE

db = sqlite3.connect(src + '/%s.db' % kind, isolation_level=None)
db.execute('PRAGMA page_size = 8192')
db.execute('PRAGMA journal_mode = WAL')
for s in schema:
    db.executescript(s)
db.executescript(open(src + '/fill-%s.sql' % kind).read())

now = int(time.time() * 1000)

def timed(sql, args, write):
    t = []
    for _ in range(rounds):
        if write:
            db.execute('BEGIN IMMEDIATE')
        t0 = time.perf_counter()
        db.execute(sql, args).fetchall()
        t.append((time.perf_counter() - t0) * 1e6)
        if write:
            db.execute('ROLLBACK')
    return statistics.median(t)

c = timed(claim, (now, now + 10000, 1, 32), True)
d = timed(due, (now,), False)

# a job's whole way (insert, claim, done), 32 at a time, one transaction
# each step as the queue does it (synchronous=NORMAL): microseconds a job;
# from schema 7 on, done hands the key's head on first (SQL_PROMOTE)
db.execute('PRAGMA synchronous = NORMAL')
insert = jobs[0]
done = [jobs[18], jobs[2]] if len(jobs) > 18 else [jobs[2]]
body = b'x' * 1300
t0 = time.perf_counter()
for r in range(rounds * 4):
    db.execute('BEGIN IMMEDIATE')
    for i in range(32):
        db.execute(insert, ('life%d.%d' % (r, i), 1, 0, 'life/%d.%d' % (r, i % 8), '',
                            '', body, now))
    db.execute('COMMIT')
    db.execute('BEGIN IMMEDIATE')
    seqs = [row[0] for row in db.execute(claim, (now, now + 10000, 1, 32)).fetchall()]
    db.execute('COMMIT')
    db.execute('BEGIN IMMEDIATE')
    for q in seqs:
        for sql in done:
            db.execute(sql, (q, 1))
    db.execute('COMMIT')
    while seqs:
        db.execute('BEGIN IMMEDIATE')
        seqs = [row[0] for row in db.execute(claim, (now, now + 10000, 1, 32)).fetchall()]
        for q in seqs:
            for sql in done:
                db.execute(sql, (q, 1))
        db.execute('COMMIT')
life = (time.perf_counter() - t0) * 1e6 / (rounds * 4 * 32)
print('SQL %s schema=%d claim_us=%.1f due_us=%.1f job_us=%.1f'
      % (kind, len(schema), c, d, life))
EOF
        done 2>&1 | sed "s/^SQL /SQL $label /"
    done
}

# ---------------------------------------------------------------- part 2

nginx_part() {
    local label mod kind dir port pid h th0 th1 s0 s1 hreq
    check_env
    start_fast_sink claims-sink
    local mods=("after=$MODULE")
    if [ -n "${BEFORE_MODULE:-}" ]; then
        [ -f "$BEFORE_MODULE" ] || die "no module at $BEFORE_MODULE"
        cp "$BEFORE_MODULE" "$BENCH_DIR/tmp-module/before.so"
        mods=("before=$BENCH_DIR/tmp-module/before.so" "${mods[@]}")
    else
        note "BEFORE_MODULE not set: this tree's module only"
    fi
    for m in "${mods[@]}"; do
        label=${m%%=*}
        mod=${m#*=}
        for kind in $BACKLOGS; do
            dir=$(bench_tmp "claims-$label-$kind")
            port=$(free_port)
            MODULE=$mod write_conf "$dir" "$port" "$SINK_URL" normal
            pid=$(nginx_start "$dir" "$port")
            BENCH_PIDS+=("$pid")
            stop_nginx_pid "$pid"
            fill_sql "$kind" "$(sqlite3 "$dir/bench.db" 'PRAGMA user_version')" \
                | sqlite3 "$dir/bench.db"
            pid=$(nginx_start "$dir" "$port")
            BENCH_PIDS+=("$pid")

            run_wrk "http://127.0.0.1:$port/hook" 1s >/dev/null     # warm-up
            s0=$(status_kv "$port")
            th0=$(workers_ticks "$pid")
            h=$(run_wrk "http://127.0.0.1:$port/hook" "$DURATION" | grep '^BENCH')
            th1=$(workers_ticks "$pid")
            s1=$(status_kv "$port")
            stop_nginx_pid "$pid"

            hreq=$(kv "$h" requests)
            awk -v l="$label" -v k="$kind" -v rps="$(kv "$h" rps)" \
                -v p99="$(kv "$h" p99_us)" -v d="$(( $(kv "$s1" delivered) - $(kv "$s0" delivered) ))" \
                -v dur="${DURATION%s}" -v t="$(( th1 - th0 ))" -v n="$hreq" -v hz="$CLK_TCK" \
                -v pend="$(kv "$s1" pending)" 'BEGIN {
                printf "NGINX %s %s accepted_per_s=%.0f p99_us=%s delivered_per_s=%.0f cpu_us_per_webhook=%.1f pending_after=%s\n",
                    l, k, rps, p99, d / dur, t * 1e6 / hz / (n ? n : 1), pend }'
        done
    done
}

{
    echo "# claims: backlog $BACKLOG, $(date -u '+%Y-%m-%d %H:%M UTC')"
    case " $PART " in *" sql "*) sql_part ;; esac
    case " $PART " in *" nginx "*) nginx_part ;; esac
} | tee "$OUT"
