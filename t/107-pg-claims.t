# The PostgreSQL store's CLAIM: its plan must not depend on statistics.
# On a jobs table never analyzed, the former claim's head-of-key check
# (NOT EXISTS) was planned as an anti-join that compared each candidate
# with every pending job (205 ms for one claim with 6,931 pending, 0.24 ms
# once analyzed).  Against a throwaway PostgreSQL 15 cluster
# (t/lib/VoPg.pm):
#
#   1. nginx (1 worker, Rootly on a closed port) migrates a fresh
#      database; 20 webhooks are accepted and claimed (attempts > 0 on
#      some, the others released by the circuit breaker: the claim
#      statement runs as the module sends it); autovacuum is
#      off for jobs, nginx stopped, and jobs is checked to be never analyzed
#      (pg_class.reltuples = -1, no last_analyze / last_autoanalyze).
#      The server's log (log_statement = all): the APPEND and its commit
#      check run as prepared statements (execute vo_N), the claim
#      unnamed, no "prepared statement ... does not exist".
#   2. 5,000 jobs more are pending behind a dead Rootly: 50 keys whose
#      heads wait for a retry (next_at in an hour), 99 jobs due behind
#      each, and 50 due heads of keys of their own.
#   3. The claim's SQL, read from src/ngx_http_victorops_store_pg.c
#      (ngx_http_victorops_pg_claim[], the C string literals joined),
#      prepared in psql; its plan, custom and generic
#      (plan_cache_mode): the due index walked (Index Scan using
#      jobs_due), the head of each candidate probed in jobs_key, the
#      leased rows by jobs_pkey; no Seq Scan on jobs, no anti-join, no
#      hash join.  Then EXPLAIN ANALYZE of the claim, in a transaction
#      rolled back: it leases the 50 due heads of their own keys and no
#      job behind a head (per-key order); its plan and times are shown
#      (diag), not asserted.
#
# Skipped, with the reason, when PostgreSQL's server is not installed.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use VoPg;
use VoNginx qw(wait_for);

VoPg::require_server();

# the claim, as the module sends it

sub claim_sql {
    my $src = 'src/ngx_http_victorops_store_pg.c';
    open my $fh, '<', $src or die "$src: $!";
    local $/;
    my $all = <$fh>;
    close $fh;
    my ($body) = $all =~ /ngx_http_victorops_pg_claim\[\]\s*=\s*(.*?);\s*\n/s
        or die "no ngx_http_victorops_pg_claim[] in $src";
    my $sql = join '', $body =~ /"((?:[^"\\]|\\.)*)"/g;
    $sql =~ s/\\(.)/$1/g;
    return $sql;
}

my $pg = VoPg->start;
my $db = $pg->createdb('claims');

sub sql { $pg->sql($db, @_) }

my $SQL = claim_sql();
like($SQL, qr/^WITH cand AS MATERIALIZED .*FOR UPDATE SKIP LOCKED/s,
     'the claim read from the source');

# statements logged as executed: prepared ones by their name (vo_N)
sql(qq{ALTER DATABASE "$db" SET log_statement = 'all'});

my $ng = VoNginx->start(
    workers => 1,
    integration => {
        rootly_url => 'http://127.0.0.1:1',
        store => $pg->uri(db => $db),
        store_timeout => '5s',
        retry_max_delay => '60s',
    },
);

ok(wait_for(sub {
       ($ng->integration_status->{store}{state} // '') eq 'ready' }, 20),
   'nginx connected and migrated') or diag $ng->error_log;

sql('ALTER TABLE jobs SET (autovacuum_enabled = false)');

my $accepted = 0;
for my $i (1 .. 20) {
    my $r = $ng->post_webhook({ entity_id => "claims-$i",
                                incident_number => "$i",
                                entity_display_name => "claims $i",
                                state_message => "claim test $i" });
    $accepted++ if $r->{status} == 202;
}
is($accepted, 20, '20 webhooks accepted');

ok(wait_for(sub {
       sql("SELECT count(*) FROM jobs WHERE attempts > 0") >= 1 }, 20),
   'claimed by the module (failed sends to the dead Rootly)')
    or diag sql('SELECT seq, key, state, attempts FROM jobs'), $ng->error_log;

# prepared statements (pg.c): the APPEND by name, the claim unnamed

my $log = $pg->server_log;
like($log, qr/execute vo_\d+: (WITH d AS \(INSERT INTO dedup|INSERT INTO jobs)/,
     'the APPEND runs prepared (execute vo_N)');
like($log, qr/execute vo_\d+: SELECT 1/, 'its commit check too');
like($log, qr/execute <unnamed>: WITH cand AS MATERIALIZED/,
     'the claim is planned each time (unnamed)');
unlike($log, qr/prepared statement "vo_\d+" (does not exist|already exists)/,
       'no prepared statement missing or prepared twice');

$ng->stop;     # nothing claims the jobs below meanwhile

# 50 blocked keys (head retrying in an hour, 99 due behind it), 50 due
# heads of keys of their own: 5,000 jobs

sql(q{INSERT INTO jobs (integration, id, kind, class, key, body,
      created_at, next_at)
      SELECT 'acme', 'blocked-' || k || '-' || n, 0, 0, 'blocked-' || k,
        '\x7b7d'::bytea, victorops_now_ms(),
        CASE WHEN n = 0 THEN victorops_now_ms() + 3600000
             ELSE victorops_now_ms() - 1000 END
      FROM generate_series(1, 50) k, generate_series(0, 99) n
      ORDER BY n, k});
sql(q{INSERT INTO jobs (integration, id, kind, class, key, body,
      created_at, next_at)
      SELECT 'acme', 'free-' || k, 0, 0, 'free-' || k, '\x7b7d'::bytea,
        victorops_now_ms(), victorops_now_ms()
      FROM generate_series(1, 50) k});

is(sql(q{SELECT count(*) FROM jobs WHERE id LIKE 'blocked-%'
         OR id LIKE 'free-%'}), 5050, '5,050 jobs added');

is(sql(q{SELECT reltuples FROM pg_class WHERE relname = 'jobs'}), -1,
   'jobs never analyzed (reltuples -1)');
is(sql(q{SELECT coalesce(last_analyze::text, '')
         || coalesce(last_autoanalyze::text, '')
         FROM pg_stat_user_tables WHERE relname = 'jobs'}), '',
   'no analyze, no autoanalyze');

my $prepare = "PREPARE claim(text, integer, bigint, text, bigint) AS $SQL;";
my $execute = "EXECUTE claim('acme', 100, 30000, 'explain', 4242)";

for my $mode (qw(force_custom_plan force_generic_plan)) {
    my $plan = sql("SET plan_cache_mode = $mode; $prepare"
                   . " EXPLAIN (COSTS OFF) $execute");

    like($plan, qr/Index Scan using jobs_due on jobs j/,
         "$mode: the due index walked");
    like($plan, qr/Index (Only )?Scan using jobs_key on jobs e/,
         "$mode: each head probed in jobs_key");
    like($plan, qr/(Bitmap )?Index Scan (using|on) jobs_pkey/,
         "$mode: the leased rows by their key");
    unlike($plan, qr/Seq Scan on jobs/, "$mode: no Seq Scan on jobs");
    unlike($plan, qr/Anti Join/, "$mode: no anti-join");
    unlike($plan, qr/Hash Join|Hash Anti|Hash Semi/, "$mode: no hash join");
    diag "---- $mode plan:\n$plan" if $ENV{TEST_VERBOSE} || !Test::More->builder->is_passing;
}

# what the claim leases: the due heads only

my ($rc, $out) = $pg->psql_ok("BEGIN; $prepare"
    . " CREATE TEMP TABLE got ON COMMIT DROP AS $execute;"
    . " SELECT count(*) FILTER (WHERE key LIKE 'free-%'),"
    . " count(*) FILTER (WHERE key LIKE 'blocked-%') FROM got;"
    . " ROLLBACK", db => $db);
is($rc, 0, 'the claim runs') or diag $out;
like($out, qr/^50\|0$/m, 'it leases the 50 due heads, none behind a head');

($rc, $out) = $pg->psql_ok("BEGIN; $prepare"
    . " EXPLAIN (ANALYZE, BUFFERS) $execute; ROLLBACK", db => $db);
unlike($out, qr/Seq Scan on jobs/, 'EXPLAIN ANALYZE: no Seq Scan on jobs');
diag "---- EXPLAIN ANALYZE of the claim, 5,070 jobs, never analyzed:\n$out";

is(sql(q{SELECT reltuples FROM pg_class WHERE relname = 'jobs'}), -1,
   'still never analyzed');

done_testing;
