#!/usr/bin/env bash
# Run every benchmark and print one results table (markdown).
#
#   bench/run-all.sh              targets, ingest, latency, rss, payload,
#                                 form-dos, and pg when PostgreSQL 15's
#                                 server is installed (~10 min)
#   PROFILE=1 bench/run-all.sh    also perf profiles (bench/profile.sh)
#   ONLY="ingest latency" bench/run-all.sh
#
# Each script also runs alone; their tables land in bench/tmp-results/.
# The knobs of each script (DURATION, CONNS, WORKERS, ...) pass through.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
check_env

if [ -z "${ONLY:-}" ]; then
    ONLY="targets ingest latency rss payload form-dos"
    # the PostgreSQL store's benchmark when PostgreSQL 15's server is there
    [ -x "${PGBIN:-/usr/lib/postgresql/15/bin}/postgres" ] && ONLY="$ONLY pg"
fi
rm -f "$RESULTS_DIR"/*.md "$RESULTS_DIR"/*.summary

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    note "load average is $load: other work on this machine skews the numbers"
fi

for b in $ONLY; do
    note "---- $b"
    start=$(date +%s)
    "$BENCH_DIR/$b.sh" >"$RESULTS_DIR/$b.log" 2>&1 || { tail -20 "$RESULTS_DIR/$b.log" >&2; die "$b.sh failed (log: $RESULTS_DIR/$b.log)"; }
    note "$b: $(( $(date +%s) - start )) s"
done

if [ -n "${PROFILE:-}" ]; then
    for v in "stalled 0" "sink 0" "closed 0" "stalled 1048576"; do
        set -- $v
        note "---- profile $1 PAD=$2"
        UPSTREAM=$1 PAD=$2 "$BENCH_DIR/profile.sh" >"$RESULTS_DIR/profile-$1-$2.log" 2>&1 || note "profile $1 $2 failed"
    done
fi

{
    echo "## Results"
    echo
    machine_info
    echo "- load average at start: $load"
    echo
    echo "| benchmark | measured | target | met |"
    echo "|---|---|---|---|"
    for b in $ONLY; do
        [ -f "$RESULTS_DIR/$b.summary" ] && cat "$RESULTS_DIR/$b.summary"
    done
    for b in $ONLY; do
        echo
        cat "$RESULTS_DIR/$b.md"
    done
    if [ -n "${PROFILE:-}" ]; then
        for f in "$RESULTS_DIR"/profile-*.md; do
            [ -f "$f" ] && { echo; cat "$f"; }
        done
    fi
} | tee "$RESULTS_DIR/all.md"
