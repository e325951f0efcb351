# The PostgreSQL store's connection, against a throwaway PostgreSQL 15
# cluster (t/lib/VoPg.pm, one for the whole file, password
# authentication):
#
#   1. Workers connect and migrate: the status shows backend "postgresql",
#      state "ready", the node and schema version 2; schema_version has
#      a row per migration, the tables are there with their comments; one
#      worker logged the migration; a webhook is accepted into the jobs
#      table; the password is in no log.
#   2. A password in the URI: masked in the status and the log.
#   3. A host list whose first host refuses: libpq opens a second
#      socket while connecting, the worker follows it and connects.
#   4. Two nginx instances (two workers each, node_id set) started
#      together on a fresh database: the schema is migrated once (one
#      log line over both, a schema_version row per migration), each node has its
#      nodes row.
#   5. PostgreSQL stopped: every worker logs the lost connection and
#      retries with a growing backoff (status: backoff or connecting,
#      failures, last_error), a webhook meanwhile is spooled (202, spool
#      depth 1); started again: every worker connects again (status
#      ready, connects 2), without an nginx restart, and the spooled job
#      is moved to the database.
#   6. A session terminated by the server (pg_terminate_backend): each
#      worker logs the loss once and connects again at once.
#   7. A session that stops answering (its backend SIGSTOPped): the
#      heartbeat (nodes.seen_at, every 5 s, status last_heartbeat) gets
#      no answer within store_timeout + 1 s, the worker reconnects.
#   8. A migration that fails (a role that may not create tables): the
#      error logged and in the status, nothing left behind, retried with
#      backoff until the role may; then migrated.
#   9. A reload (SIGHUP): the new workers connect, the old ones close
#      their sessions as they exit.
#  10. nginx stops promptly while its workers wait to reconnect.
#
# All of it also ran clean under valgrind (memcheck) once, nginx started
# through a wrapper: TEST_NGINX_BINARY=/path/to/wrapper (exec valgrind
# ... /usr/sbin/nginx "$@"), see docs/postgresql.md.
#
# Skipped, with the reason, when PostgreSQL's server is not installed.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use VoPg;
use VoNginx qw(wait_for);
use Time::HiRes qw(time);

VoPg::require_server();

my $PASSWORD = 'pg-S3cret-' . int(rand 1e9);
my $pg = VoPg->start(password => $PASSWORD);

my $pwdir = "$ENV{PWD}/t/servroot-data";
mkdir $pwdir;
my $pwfile = "$pwdir/pg-password-$$";
open my $fh, '>', $pwfile or die "$pwfile: $!";
print $fh "$PASSWORD\n";
close $fh;
chmod 0600, $pwfile;
END { unlink $pwfile if $pwfile }

sub start_nginx {
    my (%opt) = @_;
    return VoNginx->start(
        workers => $opt{workers} // 2,
        integration => {
            rootly_url => 'http://127.0.0.1:1',
            store => $opt{store},
            store_password_file => $opt{password_file},
            node_id => $opt{node_id},
            store_timeout => '2s',
        },
    );
}

sub connected_lines {
    my ($ng) = @_;
    return scalar $ng->log_lines(qr/\[notice\] .*PostgreSQL store \S+ connected/);
}

# every file nginx wrote under its prefix, for the password
sub leaks {
    my ($ng, $secret) = @_;
    my @found;
    for my $f (glob("$ng->{dir}/logs/*")) {
        open my $in, '<', $f or next;
        local $/;
        my $all = <$in> // '';
        push @found, $f if index($all, $secret) >= 0;
    }
    return @found;
}


subtest 'workers connect and migrate' => sub {
    my $db = $pg->createdb('one');
    my $ng = start_nginx(store => $pg->uri(db => $db),
                         password_file => $pwfile);

    ok(wait_for(sub { connected_lines($ng) >= 2 }, 15),
       'both workers connected') or diag $ng->error_log;

    my $st = wait_for(sub {
        my $s = $ng->integration_status->{store};
        $s->{state} eq 'ready' ? $s : undef }, 5);
    is($st->{backend}, 'postgresql', 'status: backend postgresql');
    is($st->{state}, 'ready', 'status: state ready');
    is($st->{schema_version}, 2, 'status: schema version 2');
    like($st->{node}, qr/^[^:]+:\d+$/, 'status: node hostname:pid');
    is($st->{uri}, $pg->uri(db => $db), 'status: the URI');
    is($st->{last_error}, undef, 'status: no error');

    my @rows = $pg->psql('SELECT version, node FROM schema_version ORDER BY 1', db => $db);
    is(scalar @rows, 2, 'one schema_version row per migration');
    like($rows[0] // '', qr/^1\|[^|]+:\d+$/, 'version 1, by a node');
    like($rows[1] // '', qr/^2\|[^|]+:\d+$/, 'version 2, by a node');

    my @tables = $pg->psql("SELECT c.relname FROM pg_class c JOIN pg_namespace n"
                           . " ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
                           . " AND c.relkind = 'r' AND obj_description(c.oid) IS NOT NULL"
                           . " ORDER BY 1", db => $db);
    is("@tables", 'budgets dedup jobs leases links nodes rootly_events schema_version signatures',
       'the tables, each with its comment');

    is(scalar $ng->log_lines(qr/schema migrated from version 0 to 2/), 1,
       'one worker migrated');

    # no query left the connection in a transaction, no lock held
    my @idle = $pg->psql("SELECT state FROM pg_stat_activity WHERE datname = '$db'"
                         . " AND application_name LIKE '%:%'", db => $db);
    is(join(',', sort @idle), 'idle,idle', 'two sessions, idle')
        or diag explain \@idle;

    # the queue is on PostgreSQL: the job is in the jobs table once the
    # webhook is answered (Rootly, on port 1, cannot be reached)
    my $res = $ng->post_webhook({ entity_id => 'svc/1', message_type => 'CRITICAL' });
    is($res->{status}, 202, 'a webhook is accepted: 202');
    is(join(',', $pg->psql("SELECT count(*) FROM jobs WHERE entity = 'svc/1'",
                           db => $db)),
       1, 'its job is in the jobs table');

    $ng->stop;
    is_deeply([leaks($ng, $PASSWORD)], [], 'the password is in no log');
    unlike($ng->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert') or diag $ng->error_log;
    unlike($ng->error_log, qr/open socket .* left in connection/,
           'the socket released at exit');
};


subtest 'a password in the URI is masked' => sub {
    my $db = $pg->createdb('inline');
    my $ng = start_nginx(store => $pg->uri(db => $db, password => $PASSWORD),
                         workers => 1);

    ok(wait_for(sub { connected_lines($ng) >= 1 }, 15), 'connected')
        or diag $ng->error_log;
    my $st = $ng->integration_status->{store};
    is($st->{uri}, $pg->uri(db => $db, password => '***'), 'status: masked');
    like($ng->error_log, qr/postgresql:\/\/postgres:\*\*\*\@127\.0\.0\.1/,
         'the log: masked');
    $ng->stop;
    is_deeply([leaks($ng, $PASSWORD)], [], 'the password is in no log');
};


subtest 'a host list: libpq changes sockets while connecting' => sub {
    # the first host refuses, libpq opens another socket for the second:
    # the worker wraps the new one (debug log) and connects
    my $db = $pg->createdb('hosts');
    my $dead = VoPg::free_port();
    my $port = $pg->port;
    my $ng = start_nginx(store => "postgresql://postgres\@127.0.0.1:$dead,"
                                  . "127.0.0.1:$port/$db?sslmode=disable",
                         password_file => $pwfile, workers => 1);
    ok(wait_for(sub { connected_lines($ng) >= 1 }, 15), 'connected')
        or diag $ng->error_log;
    is($ng->integration_status->{store}{state}, 'ready', 'status: ready');
    is(scalar $ng->log_lines(qr/\[(error|alert)\]/), 0, 'no error logged');
    $ng->stop;
};


subtest 'two instances started together migrate once' => sub {
    my $db = $pg->createdb('two');
    my @ng;
    for my $node (qw(node-a node-b)) {
        push @ng, start_nginx(store => $pg->uri(db => $db),
                              password_file => $pwfile, node_id => $node);
    }

    ok(wait_for(sub { (grep { connected_lines($_) >= 2 } @ng) == 2 }, 15),
       'four workers connected') or diag map { $_->error_log } @ng;

    my $migrated = 0;
    $migrated += scalar $_->log_lines(qr/schema migrated from version 0 to 2/) for @ng;
    is($migrated, 1, 'one migration over both instances');
    is(join(',', $pg->psql('SELECT version FROM schema_version ORDER BY 1', db => $db)), '1,2',
       'one schema_version row per migration');
    is(join(',', $pg->psql('SELECT node FROM nodes ORDER BY 1', db => $db)),
       'node-a,node-b', 'each node is in nodes');
    is($ng[0]->integration_status->{store}{node}, 'node-a', 'status: node_id');

    $_->stop for @ng;
};


subtest 'PostgreSQL restarted: workers reconnect with backoff' => sub {
    my $db = $pg->createdb('restart');
    my $ng = start_nginx(store => $pg->uri(db => $db), password_file => $pwfile);
    ok(wait_for(sub { connected_lines($ng) >= 2 }, 15), 'connected')
        or diag $ng->error_log;

    $pg->stop;

    ok(wait_for(sub { scalar($ng->log_lines(qr/\[error\] .*PostgreSQL store .*: connection lost: .*reconnecting in \d+ ms/)) >= 2 }, 10),
       'each worker lost its connection') or diag $ng->error_log;

    # attempts go on, further apart each time
    my $line = wait_for(sub { ($ng->log_lines(qr/cannot connect: .*reconnecting in \d+ ms \(3 failures in a row\)/))[0] }, 15);
    ok($line, 'attempts retried') or diag $ng->error_log;
    my ($w) = ($line // '') =~ / (\d+)#\d+: /;
    my @mine = map { /reconnecting in (\d+) ms/ ? $1 : () }
               $ng->log_lines(qr/ $w#\d+: .*reconnecting in/);
    ok(@mine >= 3 && $mine[2] > $mine[0], "the backoff grows (@mine ms)");

    my $st = $ng->integration_status->{store};
    like($st->{state}, qr/^(backoff|connecting)$/, "status: $st->{state}");
    ok($st->{failures} >= 1, "status: $st->{failures} failures");
    ok(defined $st->{last_error}, "status: last_error ($st->{last_error})");

    my $res = $ng->post_webhook({ entity_id => 'svc/1', message_type => 'CRITICAL' });
    is($res->{status}, 202, 'webhooks meanwhile: 202, spooled');
    is($ng->integration_status->{store}{spool}{depth}, 1, 'status: spool depth 1');

    $pg->start_again;
    my $t0 = time;

    ok(wait_for(sub { scalar($ng->log_lines(qr/PostgreSQL store \S+ connected again/)) >= 2 }, 20),
       'each worker connected again') or diag $ng->error_log;
    diag sprintf 'reconnected %.1f s after PostgreSQL started', time - $t0;

    $st = wait_for(sub {
        my $s = $ng->integration_status->{store};
        $s->{state} eq 'ready' ? $s : undef }, 5);
    is($st->{state}, 'ready', 'status: ready');
    is($st->{connects}, 2, 'status: connected twice');
    is($st->{failures}, 0, 'status: failures reset');
    is(join(',', $pg->psql('SELECT count(*) FROM schema_version', db => $db)), '2',
       'no migration again');
    ok(wait_for(sub { $ng->integration_status->{store}{spool}{depth} == 0 }, 10),
       'status: the spool moved (depth 0)');
    is(join(',', $pg->psql('SELECT count(*) FROM jobs', db => $db)), '1',
       'the spooled job is in the database');

    $ng->stop;
    is_deeply([leaks($ng, $PASSWORD)], [], 'the password is in no log');
};


subtest 'a session terminated: the worker reconnects at once' => sub {
    my $db = $pg->createdb('terminated');
    my $ng = start_nginx(store => $pg->uri(db => $db), password_file => $pwfile);
    ok(wait_for(sub { connected_lines($ng) >= 2 }, 15), 'connected')
        or diag $ng->error_log;

    my @killed = $pg->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           . " WHERE datname = '$db' AND pid <> pg_backend_pid()");
    is(scalar @killed, 2, 'both sessions terminated');

    ok(wait_for(sub { scalar($ng->log_lines(qr/connected again/)) >= 2 }, 10),
       'both workers connected again') or diag $ng->error_log;
    is(scalar $ng->log_lines(qr/connection lost: .*terminating connection due to administrator command|connection lost: server closed the connection/), 2,
       'the loss logged once per worker') or diag $ng->error_log;
    $ng->stop;
};


subtest 'a session that stops answering: heartbeat, answer timeout' => sub {
    my $db = $pg->createdb('silent');
    my $ng = start_nginx(store => $pg->uri(db => $db), password_file => $pwfile,
                         workers => 1);
    ok(wait_for(sub { connected_lines($ng) >= 1 }, 15), 'connected')
        or diag $ng->error_log;

    # the heartbeat moves nodes.seen_at every 5 s
    my ($seen) = $pg->psql('SELECT seen_at FROM nodes', db => $db);
    ok(wait_for(sub { ($pg->psql('SELECT seen_at FROM nodes', db => $db))[0] > $seen }, 8),
       'nodes.seen_at moves');
    my $st = $ng->integration_status->{store};
    ok($st->{last_heartbeat} >= $st->{state_since}, 'status: last_heartbeat');

    # the backend frozen: the next heartbeat gets no answer within
    # store_timeout (2s) + 1s, the worker closes and connects again
    my ($backend) = $pg->psql("SELECT pid FROM pg_stat_activity WHERE datname = '$db'"
                              . " AND pid <> pg_backend_pid()");
    ok($backend, "the session's backend: $backend");
    kill 'STOP', $backend;
    my $lost = wait_for(sub { ($ng->log_lines(qr/connection lost: no answer within 3000 ms/))[0] }, 12);
    kill 'CONT', $backend;
    ok($lost, 'no answer: connection closed') or diag $ng->error_log;
    ok(wait_for(sub { scalar($ng->log_lines(qr/connected again/)) >= 1 }, 10),
       'connected again') or diag $ng->error_log;
    $ng->stop;
};


subtest 'a migration that fails is retried, and nothing of it stays' => sub {
    # PostgreSQL 15: only the database owner may create in "public"
    my $db = $pg->createdb('denied');
    $pg->psql("CREATE ROLE vo_limited LOGIN PASSWORD '$PASSWORD'");
    my $ng = start_nginx(store => $pg->uri(db => $db, user => 'vo_limited'),
                         password_file => $pwfile, workers => 1);

    ok(wait_for(sub { scalar($ng->log_lines(qr/schema check failed: ERROR: +permission denied for schema public.*reconnecting in \d+ ms \(2 failures in a row\)/)) }, 10),
       'the migration fails, and is retried') or diag $ng->error_log;
    is(join(',', $pg->psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                           db => $db)), '0', 'nothing of it stays');
    my $st = $ng->integration_status->{store};
    like($st->{last_error} // '', qr/permission denied/, 'status: last_error');

    $pg->psql('GRANT CREATE ON SCHEMA public TO vo_limited', db => $db);
    ok(wait_for(sub { connected_lines($ng) >= 1 }, 20), 'migrated once allowed')
        or diag $ng->error_log;
    is(join(',', $pg->psql('SELECT version FROM schema_version ORDER BY 1', db => $db)), '1,2',
       'schema version 2');
    $ng->stop;
    unlike($ng->error_log, qr/\[alert\]/, 'no alert');
};


subtest 'a reload: new workers connect, old ones close theirs' => sub {
    my $db = $pg->createdb('reload');
    my $ng = start_nginx(store => $pg->uri(db => $db), password_file => $pwfile);
    ok(wait_for(sub { connected_lines($ng) >= 2 }, 15), 'connected')
        or diag $ng->error_log;

    $ng->reload(wait_old => 1);
    ok(wait_for(sub { connected_lines($ng) >= 4 }, 15), 'the new workers connected')
        or diag $ng->error_log;
    my @sessions = $pg->psql("SELECT application_name FROM pg_stat_activity"
                             . " WHERE datname = '$db' AND pid <> pg_backend_pid()");
    my %new = map { $_ => 1 } $ng->worker_pids;
    is(scalar(grep { /:(\d+)$/ && $new{$1} } @sessions), 2,
       'two sessions, of the new workers') or diag "@sessions";
    ok(wait_for(sub { my @s = $pg->psql("SELECT count(*) FROM pg_stat_activity"
                                        . " WHERE datname = '$db' AND pid <> pg_backend_pid()");
                      $s[0] == 2 }, 5), 'the old sessions are gone');
    $ng->stop;
    unlike($ng->error_log, qr/\[(alert|crit)\]|open socket/, 'no alert') or diag $ng->error_log;
};


subtest 'nginx stops while its workers wait to reconnect' => sub {
    my $db = $pg->createdb('stopping');
    my $ng = start_nginx(store => $pg->uri(db => $db), password_file => $pwfile);
    ok(wait_for(sub { connected_lines($ng) >= 2 }, 15), 'connected');

    $pg->stop;
    ok(wait_for(sub { scalar($ng->log_lines(qr/connection lost/)) >= 2 }, 10),
       'connections lost');

    my $t0 = time;
    $ng->stop;
    ok(time - $t0 < 5, sprintf 'stopped in %.1f s', time - $t0);
    unlike($ng->error_log, qr/\[alert\]/, 'no alert') or diag $ng->error_log;

    $pg->start_again;
};


done_testing;
