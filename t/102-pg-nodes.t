# Several nginx nodes on one PostgreSQL store: one throwaway PostgreSQL 15
# cluster (t/lib/VoPg.pm), two nginx instances (two workers each, their
# own node_id) with the same integration on one database, the mock Rootly:
#
#   a. An alert triggered at node A, its ACKNOWLEDGEMENT posted to node B:
#      one alert at Rootly, acknowledged (B's job found the link A's
#      delivery wrote, read with its claim).
#   b. The same delivery posted to A and then to B (and to A again): one
#      job, one alert at Rootly; the later posts are answered as
#      duplicates (the database decides across nodes); ten deliveries
#      each posted to A and B at the same moment: one 202 and one
#      duplicate each, one alert each.
#   c. Node A SIGKILLed (master and workers, by pid) while it holds leased
#      jobs (Rootly slow to answer): node B, started after, returns them
#      to the queue once their lease ran out and delivers each exactly
#      once.
#   d. Incidents whose events are posted alternately to A and B, while
#      Rootly fails the first requests: each incident's alert, ack and
#      recovery reach Rootly in arrival order, though both nodes claim.
#   e. One node: a batch the database refuses (a trigger) answers 503,
#      writes nothing and leaves the session usable (the next webhook on
#      the same worker is stored and delivered); PostgreSQL stopped: the
#      webhook is spooled (202); started again: it is delivered.
#   f. Retention: dead letters and links older than retention (30 days)
#      are deleted by the chores' EXPIRE, not those a job waits for, not
#      recent ones, not another integration's.
#   g. A reload (SIGHUP) of node A during a burst of new alerts posted to
#      both nodes (a client each, new connections, a delivery retried
#      after a 503 or a refused connection as VictorOps would): every
#      delivery answered 2xx in the end, each alert at Rootly once.
#
# Skipped, with the reason, when PostgreSQL's server is not installed.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use JSON::PP;
use POSIX ();
use VoPg;
use VoMock;
use VoNginx qw(wait_for dedup_key delivered_keys rootly_successes no_alerts_logged);

VoPg::require_server();

my $pg = VoPg->start;
my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');
my $FIXTURES = "$ENV{PWD}/t/fixtures/victorops";

sub fixture {
    my ($name) = @_;
    open my $fh, '<', "$FIXTURES/$name" or die "$FIXTURES/$name: $!";
    local $/;
    return scalar <$fh>;
}

sub node {
    my ($db, $id, %opt) = @_;
    return VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url,
        store => $pg->uri(db => $db),
        node_id => $id,
        store_timeout => '2s',
        rootly_timeout => $opt{rootly_timeout} // '2s',
        retry_max_delay => '2s',
        alert_limit => 100000,
    });
}

sub event {
    my ($type, $entity, $number) = @_;
    my %body = (entity_id => $entity, incident_number => "$number",
                entity_display_name => "nodes $entity");
    $body{notification_type} = $type if $type ne 'ALERT';
    $body{ack_user} = 'jdoe' if $type eq 'ACKNOWLEDGEMENT';
    $body{state_message} = "$type for $entity";
    return \%body;
}

sub timeline {
    my ($reqs) = @_;
    return join "\n", map {
        sprintf '#%d %.3f %s %s -> %s %s', $_->{seq}, $_->{time}, $_->{method},
            $_->{path}, $_->{status}, dedup_key($_) // ''
    } @$reqs;
}

sub evidence {
    my ($db, $what, @nodes) = @_;
    diag "---- $what: mock timeline";
    diag timeline($rootly->requests(timeout => 0));
    diag "---- jobs";
    diag $pg->sql($db, 'select seq, kind, class, key, state, attempts, lease_owner, '
                       . 'lease_until - victorops_now_ms() from jobs order by seq');
    diag "---- links";
    diag $pg->sql($db, 'select key, incident, rootly_alert, vo_state from links');
    for my $ng (@nodes) {
        diag $ng->log_tail(qr/victorops integration|\[(?:warn|error|crit|alert|emerg)\]/);
    }
}

$pg->createdb('ab');
my $A = node('ab', 'node-a');
my $B = node('ab', 'node-b');

subtest 'a. triggered at A, acknowledged at B: one alert, acknowledged' => sub {
    $rootly->reset;

    my $r1 = $A->post_webhook(fixture('flat-triggered.json'));
    is($r1->{status}, 202, 'A: the alert answered 202') or diag $r1->{content};
    my $r2 = $B->post_webhook(fixture('flat-acknowledged.json'));
    is($r2->{status}, 202, 'B: the acknowledgement answered 202') or diag $r2->{content};

    # the fixtures' organization is acme-corp: the alert's deduplication key
    my $key = 'victorops:acme-corp:checkout-api/latency-p99';
    wait_for(sub { grep { $_->{path} =~ m{/acknowledge$} && $_->{status} == 200 }
                   @{ $rootly->requests(timeout => 0) } }, 20, 0.2);
    sleep 1;    # anything sent twice would show now

    my $reqs = $rootly->requests(timeout => 0);
    my @ok = grep { $_->{status} >= 200 && $_->{status} < 300 } @$reqs;
    my $alert_id = (($rootly->state->{alerts} // [])->[0] // {})->{id} // '?';
    is_deeply([map { "$_->{method} $_->{path} " . (dedup_key($_) // '') } @ok],
              ["POST /v1/alerts $key", "POST /v1/alerts/$alert_id/acknowledge "],
              'Rootly: one alert (2xx), then its acknowledgement, nothing else')
        or evidence('ab', 'a', $A, $B);

    my $alerts = $rootly->state->{alerts};
    is(scalar @$alerts, 1, 'Rootly holds one alert');
    is($alerts->[0]{attributes}{status}, 'acknowledged', 'the alert is acknowledged')
        or diag explain $alerts->[0]{attributes};

    is($pg->sql('ab', 'select count(*) from jobs'), 0, 'no job left in the store');
    is($pg->sql('ab', "select rootly_alert from links where key like '%checkout-api/latency-p99'"),
       $alerts->[0]{id}, 'the link holds the alert');
};

subtest 'b. the same delivery at A and at B: one alert, then duplicates' => sub {
    $rootly->reset;

    my $body = fixture('nested-triggered.json');
    my $r1 = $A->post_webhook($body);
    is($r1->{status}, 202, 'A: first post answered 202') or diag $r1->{content};

    my $r2 = $B->post_webhook($body);
    is($r2->{status}, 200, 'B: the same delivery answered 200') or diag $r2->{content};
    like($r2->{content}, qr/duplicate/, 'B: ... as a duplicate');

    my $r3 = $A->post_webhook($body, fresh => 1);
    is($r3->{status}, 200, 'A again: 200');
    like($r3->{content}, qr/duplicate/, 'A again: ... as a duplicate');

    wait_for(sub { keys %{ delivered_keys($rootly->requests(timeout => 0)) } >= 1 }, 20, 0.2);
    sleep 1.5;
    my $got = delivered_keys($rootly->requests(timeout => 0));
    is_deeply($got, { 'victorops:acme-corp:db-prod-002/memory' => 1 },
              'Rootly got one alert for it')
        or do { diag explain $got; evidence('ab', 'b', $A, $B) };

    is($pg->sql('ab', 'select count(*) from dedup'), 3,
            'dedup: the three deliveries taken (a: 2, b: 1)');
    my $dups = 0;
    $dups += $_->integration_status->{duplicate} // 0 for $A, $B;
    is($dups, 2, 'status: two duplicates over both nodes');
};

subtest 'b2. the same deliveries posted to A and B at the same moment: each taken once' => sub {
    my $n = 10;

    $rootly->reset;
    my (%codes, %dups);
    for my $i (1 .. $n) {
        my $body = JSON::PP->new->canonical->encode(event('ALERT', "race/$i", 700 + $i));
        my $pid = open(my $kid, '-|') // die "fork: $!";
        if ($pid == 0) {
            my $res = $B->post_webhook($body, fresh => 1);
            print "$res->{status}\n";
            POSIX::_exit(0);
        }
        my $res = $A->post_webhook($body, fresh => 1);
        chomp(my $other = <$kid> // '');
        close $kid;
        my @two = sort ($res->{status}, $other);
        $codes{"@two"}++;
    }
    is_deeply(\%codes, { '200 202' => $n },
              "each of the $n deliveries: one 202 and one duplicate (200)")
        or diag explain \%codes;

    wait_for(sub { keys %{ delivered_keys($rootly->requests(timeout => 0)) } >= $n }, 20, 0.2);
    sleep 1.5;
    my $got = delivered_keys($rootly->requests(timeout => 0));
    is_deeply($got, { map { ("victorops:acme:race/$_" => 1) } 1 .. $n },
              'Rootly got one alert for each') or diag explain $got;
};

subtest 'd. per-incident order while both nodes claim' => sub {
    my $n = 4;

    $rootly->reset;
    $rootly->fault({ mode => 'status', status => 503, count => 2, path => '/v1/alerts/' });
    $rootly->fault({ mode => 'status', status => 500, count => 3 });

    # a1 a2 k1 a3 k2 r1 ...: every incident's events interleaved with the
    # others', posted alternately to A and to B
    my @events;
    for my $step (0 .. $n + 1) {
        push @events, ['ALERT', $step + 1] if $step < $n;
        push @events, ['ACKNOWLEDGEMENT', $step] if $step >= 1 && $step <= $n;
        push @events, ['RECOVERY', $step - 1] if $step >= 2;
    }
    my %codes;
    for my $i (0 .. $#events) {
        my ($type, $k) = @{ $events[$i] };
        my $ng = $i % 2 ? $B : $A;
        my $res = $ng->post_webhook(event($type, "order/$k", 400 + $k));
        $codes{ $res->{status} }++;
        diag "$type order/$k: $res->{status} $res->{content}" if $res->{status} != 202;
    }
    is($codes{202} // 0, 3 * $n, sprintf('all %d events answered 202', 3 * $n));

    wait_for(sub {
        my $s = rootly_successes($rootly, $rootly->requests(timeout => 0));
        (grep { @{ $s->{"order/$_"} // [] } >= 3 } 1 .. $n) == $n;
    }, 40, 0.2);
    sleep 1;

    my $reqs = $rootly->requests(timeout => 0);
    my $seq = rootly_successes($rootly, $reqs);
    my $ok = 1;
    for my $k (1 .. $n) {
        $ok &&= is_deeply($seq->{"order/$k"}, [qw(alert acknowledge resolve)],
                          "order/$k: alert, acknowledge, resolve in order")
            || diag explain $seq->{"order/$k"};
    }
    is_deeply([sort keys %$seq], [sort map { "order/$_" } 1 .. $n],
              'nothing else reached Rootly') or diag explain $seq;
    is(scalar(grep { $_->{status} >= 500 } @$reqs), 5, 'Rootly failed 5 requests');

    my %sent;
    for my $ng ($A, $B) {
        $sent{ $ng->url } = () = $ng->log_lines(qr/delivered: rootly answered 2/);
    }
    note 'deliveries by node: ' . join ', ', map { "$_ $sent{$_}" } sort keys %sent;
    is($pg->sql('ab', 'select count(*) from jobs'), 0, 'no job left in the store');
    evidence('ab', 'd', $A, $B) unless $ok;
    no_alerts_logged('a, b, d', $A, $B);
    $A->stop;
    $B->stop;
};

subtest 'c. A killed holding leases: B takes its jobs over, each delivered once' => sub {
    my $n = 5;

    $pg->createdb('kill');
    $rootly->reset;
    $rootly->fault({ mode => 'slow', delay => 30, count => -1, path => '/v1/alerts' });

    # lease: rootly_timeout + 5 s
    my $na = node('kill', 'node-a', rootly_timeout => '4s');
    my %want;
    for my $i (1 .. $n) {
        my $res = $na->post_webhook(event('ALERT', "kill/$i", 500 + $i));
        is($res->{status}, 202, "alert kill/$i answered 202 by A");
        $want{"victorops:acme:kill/$i"} = 1;
    }

    my $leased = wait_for(sub {
        $pg->sql('kill', "select count(*) from jobs where state = 1 and lease_owner = 'node-a'") == $n
         }, 5, 0.05);
    ok($leased, "A holds all $n jobs leased")
        or diag $pg->sql('kill', 'select seq, key, state, lease_owner from jobs');
    my $until = $pg->sql('kill', 'select max(lease_until) from jobs');

    $na->kill9;
    $rootly->reset;     # A's requests still in the mock are forgotten
    my $killed = time;

    my $nb = node('kill', 'node-b');
    my $done = wait_for(sub { keys %{ delivered_keys($rootly->requests(timeout => 0)) } >= $n },
                        30, 0.2);
    ok($done, sprintf 'B delivered them %.1f s after the kill', time - $killed);
    sleep 1.5;

    my $reqs = $rootly->requests(timeout => 0);
    my $got = delivered_keys($reqs);
    is_deeply($got, { map { $_ => 1 } keys %want }, 'each of them reached Rootly exactly once')
        or do { diag explain $got; evidence("kill", "c", $nb) };

    my $first = (sort { $a->{time} <=> $b->{time} } @$reqs)[0];
    cmp_ok(int($first->{time} * 1000), '>=', $until - 50,
           'not before their lease ran out') if $first;

    # both of B's workers may expire some of them (SKIP LOCKED): summed
    my $queued = 0;
    $queued += $_ for map { /(\d+) jobs? leased by a worker that exited are queued again/ ? $1 : () }
                      $nb->log_lines(qr/leased by a worker that exited are queued again/);
    is($queued, $n, 'B logged the jobs it queued again')
        or diag join "\n", $nb->log_lines(qr/victorops/);
    is($pg->sql('kill', 'select count(*) from jobs'), 0, 'no job left in the store');
    no_alerts_logged("c", $nb);
    $nb->stop;
};

subtest 'e. a statement that fails: 503, then back to normal; PostgreSQL stopped: spooled' => sub {
    $pg->createdb('fail');
    $rootly->reset;
    my $ng = node('fail', 'node-e');
    ok(wait_for(sub { $pg->sql('fail', "select to_regclass('jobs') is not null") eq 't' }, 20, 0.1),
       'the schema is migrated');

    # a trigger refuses one entity's jobs: that batch fails whole
    $pg->psql(q{CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
                $$BEGIN IF NEW.entity = 'poison' THEN
                RAISE EXCEPTION 'refused by the test'; END IF;
                RETURN NEW; END$$}, db => 'fail');
    $pg->psql('CREATE TRIGGER refuse BEFORE INSERT ON jobs FOR EACH ROW'
              . ' EXECUTE FUNCTION refuse()', db => 'fail');

    my $res = $ng->post_webhook(event('ALERT', 'poison', 601));
    is($res->{status}, 503, 'a job the database refuses: 503') or diag $res->{content};
    ok(scalar $ng->log_lines(qr/PostgreSQL store: refused by the test/),
       'the error logged');

    # the same connection (keep-alive: the same worker) goes on
    $res = $ng->post_webhook(event('ALERT', 'fine/1', 602));
    is($res->{status}, 202, 'the next webhook on that worker: 202') or diag $res->{content};
    ok(wait_for(sub { delivered_keys($rootly->requests(timeout => 0))->{'victorops:acme:fine/1'} },
                10, 0.2), '... delivered');
    is($pg->sql('fail', "select count(*) from jobs where entity = 'poison'"), 0,
            'nothing of the refused batch was written');

    # PostgreSQL stopped: accepted into the node's spool (t/105), then
    # moved and delivered once it is back
    $pg->stop;
    $res = $ng->post_webhook(event('ALERT', 'fine/2', 603));
    is($res->{status}, 202, 'PostgreSQL stopped: 202, spooled') or diag $res->{content};

    $pg->start_again;
    ok(wait_for(sub { delivered_keys($rootly->requests(timeout => 0))->{'victorops:acme:fine/2'} },
                30, 0.2), 'PostgreSQL back: delivered');
    ok(wait_for(sub { $pg->sql('fail', 'select count(*) from jobs') == 0 }, 10, 0.2),
       'delivered jobs leave the store');
    is($pg->sql('fail', 'select count(*) from jobs'), 0, 'no job left in the store');
    $ng->stop;
};

subtest 'f. retention on PostgreSQL: old dead letters and links go, the rest stays' => sub {
    $pg->createdb('retain');
    my $ng = node('retain', 'node-f');
    ok(wait_for(sub { $pg->sql('retain', "select to_regclass('jobs') is not null") eq 't' }, 20, 0.1),
       'the schema is migrated');
    $ng->stop;

    my $day = '86400000::bigint';
    my $now = 'victorops_now_ms()';
    my $job = "INSERT INTO jobs (integration, id, kind, class, key, body, state,"
              . " created_at, next_at, dead_at) VALUES ";
    $pg->psql($job . join(', ',
        (map { "('acme', 'old$_', 1, 1, 'k-old$_', '', 2, $now - 41 * $day,"
               . " $now - 41 * $day, $now - 40 * $day)" } 1 .. 3),
        "('acme', 'recent', 1, 1, 'k-recent', '', 2, $now - $day, $now - $day, $now - $day)",
        "('acme', 'waiting', 9, 1, 'l-wait', '{}', 0, $now, $now + $day, 0)",
        "('other', 'elsewhere', 1, 1, 'k-other', '', 2, $now - 41 * $day,"
        . " $now - 41 * $day, $now - 40 * $day)"), db => 'retain');
    $pg->psql("INSERT INTO links (integration, key, updated_at) VALUES"
              . " ('acme', 'l-old', $now - 40 * $day), ('acme', 'l-new', $now - $day),"
              . " ('acme', 'l-wait', $now - 40 * $day), ('other', 'l-old', $now - 40 * $day)",
              db => 'retain');

    $ng->start_again;
    # both workers run retention: what they logged, summed
    my $deleted = sub {
        my ($dead, $links) = (0, 0);
        for ($ng->log_lines(qr/retention: \d+ dead letters and \d+ links older than 2592000 s/)) {
            /(\d+) dead letters and (\d+) links/;
            $dead += $1;
            $links += $2;
        }
        return "$dead/$links";
    };
    wait_for(sub { $deleted->() eq '3/1' }, 15, 0.2);
    is($deleted->(), '3/1', 'logged: 3 dead letters and 1 link deleted')
        or diag join "\n", $ng->log_lines(qr/victorops/);
    is(join(',', $pg->psql("select integration || '/' || id from jobs order by 1", db => 'retain')),
       'acme/recent,acme/waiting,other/elsewhere',
       'the recent dead letter, the waiting job and another integration\'s stay');
    is(join(',', $pg->psql("select integration || '/' || key from links order by 1", db => 'retain')),
       'acme/l-new,acme/l-wait,other/l-old',
       'the recent link, the one a job waits for and another integration\'s stay');
    no_alerts_logged('f', $ng);
    $ng->stop;
};

subtest 'g. A reloaded during a burst over both nodes: every delivery answered, each alert once' => sub {
    my $n = 120;

    $rootly->reset;
    $_->stop for $A, $B;
    $pg->createdb('reload');
    $A = node('reload', 'node-a');
    $B = node('reload', 'node-b');

    # one client per node, each delivery retried until answered 2xx (at
    # most 20 tries): "i status tries" per line
    my @kids;
    for my $side (['a', $A], ['b', $B]) {
        my ($tag, $ng) = @$side;
        my $pid = open(my $kid, '-|') // die "fork: $!";
        if ($pid == 0) {
            for my $i (1 .. $n) {
                my ($res, $tries) = (undef, 0);
                while ($tries++ < 20) {
                    $res = $ng->post_webhook(event('ALERT', "reload-$tag/$i", 900 + $i),
                                             fresh => 1);
                    last if $res->{status} == 202 || $res->{status} == 200;
                    sleep 0.1;
                }
                print "$tag $i $res->{status} $tries\n";
            }
            POSIX::_exit(0);
        }
        push @kids, $kid;
    }

    ok(wait_for(sub { $pg->sql('reload', 'select count(*) from jobs') > 0
                           || keys %{ delivered_keys($rootly->requests(timeout => 0)) } }, 20, 0.02),
       'the burst has begun');
    my @old = $A->reload(wait_old => 1);
    note 'A reloaded, old workers ' . join(' ', @old) . ' gone';

    my (%codes, $retried);
    for my $kid (@kids) {
        while (my $line = <$kid>) {
            my ($tag, $i, $status, $tries) = split ' ', $line;
            $codes{$status}++;
            $retried++ if $tries > 1;
        }
        close $kid;
    }
    note 'deliveries retried by the clients: ' . ($retried // 0);
    is(($codes{202} // 0) + ($codes{200} // 0), 2 * $n,
       "all @{[2 * $n]} deliveries answered 2xx") or diag explain \%codes;

    my %want = map { my $t = $_; map { ("victorops:acme:reload-$t/$_" => 1) } 1 .. $n } qw(a b);
    wait_for(sub { keys %{ delivered_keys($rootly->requests(timeout => 0)) } >= 2 * $n },
             40, 0.2);
    sleep 1.5;
    my $got = delivered_keys($rootly->requests(timeout => 0));
    is_deeply($got, \%want, 'Rootly got each alert once')
        or diag explain { map { $_ => $got->{$_} } grep { ($got->{$_} // 0) != 1 } keys %want };
    ok(wait_for(sub { $pg->sql('reload', 'select count(*) from jobs') == 0 }, 20, 0.2),
       'no job left in the store');
    no_alerts_logged('g', $A, $B);
    $_->stop for $A, $B;
};

done_testing();
