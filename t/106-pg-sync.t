# Reconciliation on a PostgreSQL store shared by two nginx nodes (two
# workers each, their own node_id), against the mock Rootly and VictorOps
# APIs and one throwaway PostgreSQL 15 cluster (t/lib/VoPg.pm):
#
#   a. With sync_interval 2s, over several intervals: one round at a time
#      across both nodes and all their workers: the rounds (one GET
#      /api-public/v1/incidents each) are at least an interval apart, as
#      many as the nodes counted and as the lease row counted, each
#      reading the open link's Rootly incident once.
#   b. A repair found by a round (VictorOps acknowledged, the webhook
#      lost): one Rootly timeline event, whichever node ran the round, the
#      link's VictorOps state written (a Rootly incident resolved while
#      VictorOps is open: the resolve job, t/110 b).
#   d. The admin API through either node: a job dead-lettered by one node
#      is listed and replayed through the other, then delivered; the
#      status' queue numbers are the database's (every node's); links
#      set and deleted.
#   e. A dead letter replayed while a newer job of its key is in flight
#      (leased by a third node): claims go on for other keys, the
#      replayed job waits for the one in flight, then goes out before it
#      (arrival order).
#   f. A round's repairs the database refuses (a trigger, twice): the
#      batch rolled back whole, logged, the lease let go all the same;
#      the next rounds (same connections) reconcile the link.
#   c. The node holding the lease in the middle of a round (Rootly slow)
#      is SIGKILLed (master and workers, by pid): the other node runs the
#      next round once the lease ran out, not before, and goes on.
#
# Skipped, with the reason, when PostgreSQL's server is not installed.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use HTTP::Tiny;
use JSON::PP;
use VoPg;
use VoMock;
use VoNginx qw(wait_for dedup_key rootly_successes no_alerts_logged);

VoPg::require_server();

my $INTERVAL = 2;

my $pg = VoPg->start;
my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');
my $vo = VoMock->start(kind => 'victorops', api_id => 'vo-id',
                       api_key => 'vo-key');

sub node {
    my ($db, $id) = @_;
    return VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url,
        api_url => $vo->url,
        api_id => 'vo-id',
        api_key => 'vo-key',
        api_user => 'alice',
        store => $pg->uri(db => $db),
        node_id => $id,
        store_timeout => '1s',
        rootly_timeout => '1s',
        retry_max_delay => '1s',
        sync_interval => "${INTERVAL}s",
        alert_limit => 100000,
        admin_token => 'adm1n',
    });
}

sub admin {
    my ($ng, $query) = @_;
    return $ng->post_webhook('', path => "/status?integration=acme&$query",
                             secret => undef,
                             headers => { Authorization => 'Bearer adm1n' });
}

sub sql { $pg->sql('sync', @_) }

# the rounds: VictorOps' incident list, read once by each
sub rounds {
    return [ grep { $_->{method} eq 'GET' && $_->{path} eq '/api-public/v1/incidents' }
             @{ $vo->requests(timeout => 0) } ];
}

sub rootly_reads {
    my ($id) = @_;
    return [ grep { $_->{method} eq 'GET' && $_->{path} eq "/v1/incidents/$id" }
             @{ $rootly->requests(timeout => 0) } ];
}

sub runs {
    my $n = 0;
    $n += ($_->integration_status->{sync} // {})->{runs} // 0 for @_;
    return $n;
}

sub ready {
    my ($ng) = @_;
    my $st = eval { $ng->integration_status->{store} } // {};
    return ($st->{state} // '') eq 'ready' && ($st->{schema_version} // 0) == 2;
}

sub evidence {
    my ($what, @nodes) = @_;
    diag "---- $what: VictorOps list calls";
    diag join "\n", map { sprintf '%.3f', $_->{time} } @{ rounds() };
    diag "---- leases\n" . sql('select owner, until - victorops_now_ms(), rounds from leases');
    diag "---- links\n" . sql('select key, incident, rootly_incident, vo_state, '
                              . 'rootly_state, synced_at from links');
    diag "---- jobs\n" . sql('select seq, kind, class, key, state, attempts from jobs');
    for my $ng (@nodes) {
        diag $ng->log_tail();
    }
}

sub gaps_ok {
    my ($label, $r) = @_;
    my @t = map { $_->{time} } @$r;
    my @short = grep { $t[$_] - $t[$_ - 1] < $INTERVAL - 0.05 } 1 .. $#t;
    is(scalar @short, 0, "$label: every round at least ${INTERVAL}s after the one before")
        or diag join ', ', map { sprintf '%.3f', $t[$_] - $t[$_ - 1] } 1 .. $#t;
}

$pg->createdb('sync');
my $A = node('sync', 'node-a');
my $B = node('sync', 'node-b');

ok(wait_for(sub { ready($A) && ready($B) }, 30, 0.2), 'both nodes connected, schema 2')
    or diag explain [$A->integration_status, $B->integration_status];

$rootly->seed({ incidents => [ { id => 'inc-sync-1', title => 'Checkout down' } ] });
sql(q{insert into links (integration, key, incident, entity, rootly_incident, updated_at)
      values ('acme', 'victorops:acme:sync/1', '4101', 'sync/1', 'inc-sync-1', 0)});

subtest 'a. one round per interval across both nodes' => sub {
    $vo->reset;
    $rootly->reset;
    $rootly->seed({ incidents => [ { id => 'inc-sync-1', title => 'Checkout down' } ] });

    my $runs0 = runs($A, $B);
    my $rounds0 = sql("select coalesce(sum(rounds), 0) from leases");
    my $t0 = time;

    sleep 6 * $INTERVAL + 1;

    # between two rounds (the last one at least 0.5 s old): all counted
    ok(wait_for(sub {
        my $r = rounds();
        @$r && time - $r->[-1]{time} > 0.5 && time - $r->[-1]{time} < $INTERVAL - 0.5;
    }, 10, 0.05), 'sampled between two rounds');

    my $r = rounds();
    my $elapsed = time - $t0;
    my $n = scalar @$r;
    note sprintf '%d rounds in %.1f s', $n, $elapsed;

    cmp_ok($n, '>=', int($elapsed / ($INTERVAL + 1.5)), 'rounds keep coming (a check a second at most)');
    cmp_ok($n, '<=', int($elapsed / $INTERVAL) + 1, 'no more than one per interval');
    gaps_ok('a', $r) or evidence('a', $A, $B);

    is(runs($A, $B) - $runs0, $n, 'the nodes counted as many rounds (status sync.runs)');
    is(sql("select coalesce(sum(rounds), 0) from leases") - $rounds0, $n,
       'the lease row counted as many');
    is(scalar @{ rootly_reads('inc-sync-1') }, $n, 'the open link read at Rootly once a round');
    is(sql("select count(*) from leases"), 1, 'one lease row');
    like(sql("select owner from leases"), qr/^node-[ab]$/, 'held by a node');
    cmp_ok(sql("select synced_at from links"), '>', 0, 'the link reconciled (synced_at)');
    note 'rounds by node: A ' . runs($A) . ', B ' . runs($B);
};

subtest 'b. a repair made once: VictorOps acknowledged, the webhook lost' => sub {
    $vo->seed({ incidents => [ { incidentNumber => '4101', entityId => 'sync/1',
                                 summary => 'Checkout down' } ] });
    my $res = HTTP::Tiny->new(timeout => 5)->request(PATCH => $vo->url . '/api-public/v1/incidents/ack', {
        headers => { 'X-VO-Api-Id' => 'vo-id', 'X-VO-Api-Key' => 'vo-key',
                     'Content-Type' => 'application/json' },
        content => JSON::PP->new->encode({ userName => 'carol', incidentNames => ['4101'] }) });
    is($res->{status}, 200, 'acknowledged in VictorOps');

    my $want = 'VictorOps incident #4101 acknowledged by carol (found by reconciliation)';
    my $events = sub {
        [ grep { ($_->{status} // 0) == 201
                 && ($_->{json}{data}{attributes}{event} // '') eq $want }
          @{ $rootly->requests(path => '/v1/incidents/inc-sync-1/events', timeout => 0) } ];
    };
    ok(wait_for(sub { @{ $events->() } }, 20, 0.2), 'Rootly timeline gets the acknowledgement')
        or evidence('b', $A, $B);
    sleep 2 * $INTERVAL + 1;
    is(scalar @{ $events->() }, 1, 'once, over several rounds and both nodes');
    is(sql("select vo_state from links"), 1, 'the link holds VictorOps\' state (acknowledged)');
    is(sql("select count(*) from jobs"), 0, 'no job left');
    my $logged = () = map { $_->log_lines(qr/reconciliation of 1 links made 1 repairs/) } $A, $B;
    is($logged, 1, 'one round logged the repair');

    no_alerts_logged('a, b', $A, $B);
};

subtest 'd. the admin API: a dead letter of one node replayed through the other' => sub {
    $rootly->reset;
    $rootly->seed({ incidents => [ { id => 'inc-sync-1', title => 'Checkout down' } ] });
    $rootly->fault({ mode => 'status', status => 422, count => 1, path => '/v1/alerts' });

    my $res = $A->post_webhook({ entity_id => 'dead/1', incident_number => '4201',
                                 entity_display_name => 'dead 1', state_message => 'down' });
    is($res->{status}, 202, 'an alert accepted by A');
    my $id = $res->{json}{id} // '?';
    ok(wait_for(sub { sql("select state from jobs where id = '$id'") eq '2' }, 20, 0.2),
       'Rootly refuses it: a dead letter') or evidence('d', $A, $B);
    my $dead = sub { $_[0]->integration_status->{dead_lettered} // 0 };
    my ($died, $other) = $dead->($A) ? ($A, $B) : ($B, $A);
    is($dead->($died) + $dead->($other), 1, 'one node counted it dead');
    note 'dead-lettered by ' . ($died == $A ? 'A' : 'B');

    my $st = wait_for(sub {
        my $q = $other->integration_status->{queue};
        ($q->{dead_letters} // 0) == 1 ? $q : undef }, 5, 0.3);
    is_deeply($st && { %$st, oldest_pending_age_ms => 0 },
              { pending => 0, oldest_pending_age_ms => 0, dead_letters => 1, links => 1 },
              'the other node\'s status: the database\'s queue (one dead letter, one link)')
        or diag explain $other->integration_status->{queue};

    my $list = admin($other, 'action=dead_letters');
    is($list->{status}, 200, 'dead letters listed by the other node');
    like($list->{content}, qr/^\{"dead_letters":\[\{"id":"$id","class":"alert","incident":"dead\/1","attempts":1,"created_ms":\d+,"dead_ms":\d+,"status":422,"error":"[^"]*"\}\]\}\n?$/,
         '... the one job, as the SQLite store lists it') or diag $list->{content};

    my $replay = admin($other, "action=replay&id=$id");
    is($replay->{status}, 200, 'replayed through the other node');
    is($replay->{content}, qq{{"replayed":1}\n}, '... one job');
    ok(wait_for(sub { sql("select count(*) from jobs where id = '$id'") eq '0' }, 20, 0.2),
       'then delivered (the job is gone)') or evidence('d', $A, $B);
    is(scalar(grep { $_->{method} eq 'POST' && $_->{path} eq '/v1/alerts' && $_->{status} == 201 }
              @{ $rootly->requests(timeout => 0) }), 1, 'Rootly got the alert once');
    is(admin($B, "action=replay&id=$id")->{content}, qq{{"replayed":0}\n}, 'nothing left to replay');

    # links, by hand, through either node
    my $l = admin($B, 'action=link&incident=4301&rootly_incident=inc-by-hand');
    is($l->{content}, qq{{"linked":"#4301"}\n}, 'linked through B') or diag $l->{content};
    is(sql("select incident, rootly_incident from links where key = '#4301'"), '4301|inc-by-hand',
       'the link is in the database');
    is(admin($A, 'action=unlink&incident=4301')->{content}, qq{{"unlinked":true}\n}, 'unlinked through A');
    is(admin($A, 'action=unlink&incident=4301')->{content}, qq{{"unlinked":false}\n}, 'nothing to unlink again');
    is(admin($A, 'action=dead_letters')->{content}, qq{{"dead_letters":[]}\n}, 'no dead letter left');
    is(admin($A, 'action=nope')->{status}, 400, 'an unknown action: 400');
    my $bad = $A->post_webhook('', path => '/status?integration=acme&action=dead_letters',
                               secret => undef, headers => { Authorization => 'Bearer wrong' });
    is($bad->{status}, 401, 'a wrong admin_token: 401');
    no_alerts_logged('d', $A, $B);
};

subtest 'e. a dead letter replayed while a newer job of its key is in flight' => sub {
    $rootly->reset;
    $rootly->seed({ incidents => [ { id => 'inc-sync-1', title => 'Checkout down' } ] });
    $rootly->fault({ mode => 'status', status => 422, count => 1, path => '/v1/alerts' });

    my $alert = { entity_id => 'order/1', incident_number => '4401',
                  entity_display_name => 'order 1', state_message => 'down' };
    my $r1 = $A->post_webhook($alert);
    my $j1 = $r1->{json}{id} // '?';
    ok(wait_for(sub { sql("select state from jobs where id = '$j1'") eq '2' }, 20, 0.2),
       'the alert is a dead letter');

    # its acknowledgement, leased by a node that is not there (in flight):
    # as an accepted one is stored (kind event, class 1, the payload)
    my $ack = JSON::PP->new->canonical->encode({ %$alert, notification_type => 'ACKNOWLEDGEMENT',
                                                 ack_user => 'jdoe' });
    my $j2 = 'ack-on-node-x';
    sql(qq{insert into jobs (integration, id, kind, class, key, incident, entity, body,
                             state, attempts, created_at, next_at, lease_until, lease_owner,
                             lease_token)
           select integration, '$j2', kind, 1, key, incident, entity,
                  convert_to('$ack', 'UTF8'), 1, 1, victorops_now_ms(), victorops_now_ms(),
                  victorops_now_ms() + 600000, 'node-x', 7 from jobs where id = '$j1'});
    is(sql("select state, lease_owner from jobs where id = '$j2'"), '1|node-x',
       'the acknowledgement is in flight on node-x');

    is(admin($B, "action=replay&id=$j1")->{content}, qq{{"replayed":1}\n}, 'the alert replayed');

    my $r3 = $A->post_webhook({ entity_id => 'order/2', incident_number => '4402',
                                entity_display_name => 'order 2', state_message => 'down' });
    is($r3->{status}, 202, 'an alert of another incident accepted');
    ok(wait_for(sub { @{ rootly_successes($rootly, $rootly->requests(timeout => 0))->{'order/2'} // [] } },
                15, 0.2), 'claims go on: the other incident\'s alert delivered')
        or evidence('e', $A, $B);
    sleep 1;
    is_deeply(rootly_successes($rootly, $rootly->requests(timeout => 0))->{'order/1'}, undef,
              'the replayed alert waits for the job in flight')
        or evidence('e', $A, $B);
    my @refused = map { $_->log_lines(qr/jobs_one_running/) } $A, $B;
    is(scalar @refused, 0, 'no claim refused by jobs_one_running') or diag join "\n", @refused[0 .. 2];

    # node-x's lease runs out: the alert first, then its acknowledgement
    sql(qq{update jobs set lease_until = 0 where id = '$j2'});
    ok(wait_for(sub { @{ rootly_successes($rootly, $rootly->requests(timeout => 0))->{'order/1'} // [] } >= 2 },
                30, 0.2), 'both delivered once the lease ran out') or evidence('e', $A, $B);
    is_deeply(rootly_successes($rootly, $rootly->requests(timeout => 0))->{'order/1'},
              [qw(alert acknowledge)], 'in arrival order: the alert, then its acknowledgement');
    # the acknowledgement's outcome is committed after Rootly answered it
    ok(wait_for(sub { sql('select count(*) from jobs') == 0 }, 10, 0.2), 'no job left')
        or evidence('e', $A, $B);
};

subtest 'f. repairs the database refuses: rolled back, the rounds go on' => sub {
    $vo->reset;
    $rootly->reset;
    $rootly->seed({ incidents => [ { id => 'inc-sync-1', title => 'Checkout down' } ] });

    sql(q{CREATE SEQUENCE refuse_seq});
    sql(q{CREATE FUNCTION refuse_sync() RETURNS trigger LANGUAGE plpgsql AS
          $$BEGIN IF nextval('refuse_seq') <= 2 THEN
          RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END$$});
    sql(q{CREATE TRIGGER refuse_sync BEFORE UPDATE OF synced_at ON links
          FOR EACH ROW EXECUTE FUNCTION refuse_sync()});
    my $synced = sql("select synced_at from links where key = 'victorops:acme:sync/1'");

    ok(wait_for(sub { sql("select last_value from refuse_seq") >= 3 }, 30, 0.2),
       'two rounds refused, a third one let through') or evidence('f', $A, $B);
    my @refused = map { $_->log_lines(qr/PostgreSQL store: refused by the test/) } $A, $B;
    is(scalar @refused, 2, 'each refusal logged once') or diag join "\n", @refused;
    ok(wait_for(sub { sql("select synced_at from links where key = 'victorops:acme:sync/1'") > $synced },
                10, 0.2), 'the link reconciled by the next round') or evidence('f', $A, $B);

    my $rounds = sql('select rounds from leases');
    ok(wait_for(sub { sql('select rounds from leases') >= $rounds + 2 }, 4 * $INTERVAL + 4, 0.2),
       'and the rounds go on') or evidence('f', $A, $B);
    is(sql("select count(*) from pg_stat_activity where datname = 'sync'"
           . " and state like 'idle in transaction%'"), 0, 'no session left in a transaction');
    sql(q{DROP TRIGGER refuse_sync ON links});
    no_alerts_logged('f', $A, $B);
};

subtest 'c. the node in a round killed: the other takes over once the lease ran out' => sub {
    $vo->reset;
    $rootly->reset;
    $rootly->seed({ incidents => [ { id => 'inc-sync-1', title => 'Checkout down' } ] });

    # a round now lasts rootly_timeout (1 s): the lease is held for
    # 21 x rootly_timeout + 3 x store_timeout = 24 s meanwhile
    $rootly->fault({ mode => 'slow', delay => 30, count => -1, path => '/v1/incidents/inc-sync-1' });

    my ($owner, $until);
    ok(wait_for(sub {
        my $row = sql('select owner, until from leases where until - victorops_now_ms() > 10000');
        ($owner, $until) = split /\|/, $row if $row;
        defined $owner;
    }, 20, 0.05), 'a node is in a round (the lease held for the round)')
        or evidence('c', $A, $B);
    my ($dead, $other) = $owner eq 'node-a' ? ($A, $B) : ($B, $A);

    # the round's VictorOps list call (made after the lease was taken, 24 s
    # before it runs out) recorded before counting: else the dead node's
    # call, landing after the count, passes for the other node's round
    ok(wait_for(sub { grep { $_->{time} * 1000 >= $until - 24000 - 100 } @{ rounds() } },
                10, 0.05), "the round's VictorOps call recorded") or evidence('c', $A, $B);
    my $dead_rounds = scalar @{ rounds() };

    $dead->kill9;
    my $killed = time;
    note sprintf '%s killed in a round; its lease runs out in %.1f s', $owner,
        $until / 1000 - $killed;

    ok(wait_for(sub { @{ rounds() } > $dead_rounds }, 40, 0.2), 'the other node runs a round')
        or evidence('c', $other);
    my $first = rounds()->[$dead_rounds];
    cmp_ok(int($first->{time} * 1000), '>=', $until - 50, 'not before the lease ran out');
    cmp_ok($first->{time}, '<', $until / 1000 + $INTERVAL + 2, 'soon after it ran out');

    $rootly->reset;     # rounds are quick again
    $rootly->seed({ incidents => [ { id => 'inc-sync-1', title => 'Checkout down' } ] });
    my $have = @{ rounds() };
    ok(wait_for(sub { @{ rounds() } >= $have + 3 }, 5 * $INTERVAL + 5, 0.2),
       'and goes on: three more rounds') or evidence('c', $other);
    gaps_ok('c', [ @{ rounds() }[$dead_rounds .. $#{ rounds() }] ]);
    like(sql('select owner from leases'), qr/^\Q${\ ($owner eq 'node-a' ? 'node-b' : 'node-a') }\E$/,
         'the lease is the surviving node\'s');
    no_alerts_logged('c', $other);
    $other->stop;
};

done_testing();
