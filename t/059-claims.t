# Claims read the ready set (schema 7): only the head of each incident,
# its oldest unfinished job, is claimable.  Against a real master + 2
# workers: thousands of jobs blocked behind one incident's head (backing
# off) do not hold back other incidents, which go out in their own
# order; alerts held by alert_limit hold back their own incident only.
# (What a claim costs with a backlog is bench/claims.sh's: no timing
# here.)

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use VoMock;
use VoNginx qw(wait_for dedup_key store_sql rootly_successes);

plan skip_all => 'sqlite3 CLI not found (tools/deps.sh test)'
    unless grep { -x "$_/sqlite3" } split /:/, $ENV{PATH};

my $BLOCKED = 5000;

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');

sub event {
    my ($type, $entity, $number) = @_;
    my %body = (entity_id => $entity, incident_number => "$number",
                entity_display_name => "claims $entity",
                state_message => "$type for $entity");
    $body{notification_type} = $type if $type ne 'ALERT';
    $body{ack_user} = 'jdoe' if $type eq 'ACKNOWLEDGEMENT';
    return \%body;
}

# every incident with unfinished jobs has exactly one head
sub heads_ok {
    my ($db) = @_;
    return store_sql($db, 'SELECT count(*) FROM (SELECT key FROM jobs WHERE state < 2'
                  . ' GROUP BY key HAVING sum(ready) != 1)') eq '0';
}

subtest "$BLOCKED jobs blocked behind one incident's head do not hold back the others" => sub {
    $rootly->reset;

    my $ng = VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, alert_limit => 100000, retry_max_delay => '2s',
    });
    $ng->stop;

    # one incident: its head backs off for an hour, the rest wait behind
    # it (due by time, blocked by order)
    my $db = $ng->store;
    my $now = int(time * 1000);
    is(store_sql($db, <<"_SQL_"), '', 'a backlog queued behind one head');
WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $BLOCKED)
INSERT INTO jobs (id, kind, class, key, incident, entity, body, state, attempts,
                  created_at, next_at, ready, last_status)
SELECT printf('blocked%011d', i), 1, 0, 'claims/blocked', '500', 'claims/blocked',
       printf('{"data":{"type":"alerts","attributes":{"summary":"blocked %d",'
              || '"deduplication_key":"victorops:acme:claims/blocked"}}}', i),
       0, i = 1, $now - 60000 + i, CASE WHEN i = 1 THEN $now + 3600000 ELSE $now - 60000 + i END,
       i = 1, CASE WHEN i = 1 THEN 500 ELSE 0 END
FROM n;
_SQL_
    $ng->start_again;

    # a1 a2 k1 a3 k2 r1 ...: five incidents interleaved, on both workers
    my $n = 5;
    my @events;
    for my $step (0 .. $n + 1) {
        push @events, ['ALERT', $step + 1] if $step < $n;
        push @events, ['ACKNOWLEDGEMENT', $step] if $step >= 1 && $step <= $n;
        push @events, ['RECOVERY', $step - 1] if $step >= 2;
    }
    my $accepted = 0;
    for my $i (0 .. $#events) {
        my ($type, $k) = @{ $events[$i] };
        my $res = $ng->post_webhook(event($type, "claims/$k", 500 + $k), fresh => $i % 2);
        $accepted++ if $res->{status} == 202;
    }
    is($accepted, 3 * $n, 'every event accepted');

    my $seq;
    ok(wait_for(sub {
        $seq = rootly_successes($rootly, $rootly->requests(timeout => 0));
        $n == grep { @{ $seq->{"claims/$_"} // [] } == 3 } 1 .. $n
    }, 20, 0.2), 'every other incident delivered');
    is_deeply($seq, { map { ("claims/$_" => [qw(alert acknowledge resolve)]) } 1 .. $n },
              'each in its own order; nothing of the blocked incident sent')
        or diag explain $seq;

    is(store_sql($db, "SELECT count(*), sum(ready), sum(state) FROM jobs"
              . " WHERE key = 'claims/blocked'"),
       "$BLOCKED|1|0", "the blocked incident: $BLOCKED jobs queued, one head");
    ok(heads_ok($db), 'one head per incident with unfinished jobs');
    is($ng->integration_status->{queue}{pending}, $BLOCKED, "status: $BLOCKED pending");
    like(store_sql($db, "SELECT sql FROM sqlite_master WHERE name = 'jobs_ready'"),
         qr/ON jobs \(next_at, seq\) WHERE state = 0 AND ready = 1$/,
         'claims read a partial index of the heads');
    is(store_sql($db, "SELECT count(*) FROM sqlite_master"
              . " WHERE name IN ('jobs_due', 'jobs_state_seq')"), 0,
       'no index of every job by state');

    # the head's turn: the backlog goes out behind it, in arrival order
    $ng->stop;
    store_sql($db, "UPDATE jobs SET next_at = 0 WHERE key = 'claims/blocked' AND ready = 1");
    $rootly->reset;
    $ng->start_again;
    my @sent;
    wait_for(sub {
        @sent = map { $_->{json}{data}{attributes}{summary} // '' }
                grep { $_->{method} eq 'POST' }
                @{ $rootly->requests(timeout => 0, path => '/v1/alerts') };
        @sent >= 3
    }, 20, 0.2);
    is_deeply([@sent[0 .. 2]], ['blocked 1', 'blocked 2', 'blocked 3'],
              'then the blocked incident goes out from its head, in arrival order');
    $ng->stop;
    ok(heads_ok($db), 'one head per incident with unfinished jobs');
};

subtest 'alerts held by alert_limit hold back their own incidents only' => sub {
    $rootly->reset;

    my $ng = VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, alert_limit => 2,
    });

    # 4 alerts, 2 a minute: 3 and 4 wait, and so do their recoveries
    $ng->post_webhook(event('ALERT', "limit/$_", 600 + $_)) for 1 .. 4;
    $ng->post_webhook(event('RECOVERY', "limit/$_", 600 + $_)) for reverse 1 .. 4;

    my $seq;
    ok(wait_for(sub {
        $seq = rootly_successes($rootly, $rootly->requests(timeout => 0));
        @{ $seq->{'limit/1'} // [] } == 2 && @{ $seq->{'limit/2'} // [] } == 2
    }, 20, 0.2), 'the first two incidents delivered');
    sleep 1;
    $seq = rootly_successes($rootly, $rootly->requests(timeout => 0));
    is_deeply($seq, { 'limit/1' => [qw(alert resolve)], 'limit/2' => [qw(alert resolve)] },
              'alert before recovery; the held incidents sent nothing')
        or diag explain $seq;

    my $db = $ng->store;
    is(store_sql($db, "SELECT group_concat(key || ':' || class || ':' || ready, ' ')"
              . " FROM (SELECT * FROM jobs ORDER BY seq)"),
       'limit/3:0:1 limit/4:0:1 limit/4:2:0 limit/3:2:0',
       'held: the alerts of 3 and 4 are their heads, the recoveries wait');
    ok(heads_ok($db), 'one head per incident with unfinished jobs');
    $ng->stop;
};

done_testing();
