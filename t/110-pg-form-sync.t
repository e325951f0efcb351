# Signed escalation-policy webhooks and reconciliation's resolves on a
# PostgreSQL store shared by two nginx nodes (two workers each, their own
# node_id), against the mock Rootly and VictorOps APIs and one throwaway
# PostgreSQL 15 cluster (t/lib/VoPg.pm):
#
#   a. A signed escalation-policy webhook (escalation_auth_code) accepted
#      by node A: the same signed request at node B is a replay, answered
#      200 "duplicate" as on SQLite (t/024), and Rootly gets one alert.
#      A has duplicate_window 0 (only the signature decides), B 1s (the
#      signature, then the digest), both ways round.  Four copies posted
#      at once to both nodes: one accepted.  An ignored delivery (INFO)
#      remembered at A: its replay at B is a duplicate.
#   b. Reconciliation: Rootly resolved an incident whose linked VictorOps
#      incident is still open: one resolve at VictorOps, whichever node
#      ran the round, over several rounds of both nodes.
#   c. The same while VictorOps refuses the resolve for a while (503s):
#      the rounds meanwhile find the link open but add no second resolve
#      job (one of its key is unfinished); VictorOps resolves it once.
#
# Skipped, with the reason, when PostgreSQL's server is not installed.

use strict;
use warnings;

use lib 't/lib';
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);
use VoPg;
use VoMock;
use VoNginx qw(wait_for no_alerts_logged);

VoPg::require_server();

my $INTERVAL = 2;
my $URL = 'https://hooks.example.com/victorops/escalation';
my $CODE = 'vo-auth-code-5b1e';

my $pg = VoPg->start;
my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');
my $vo = VoMock->start(kind => 'victorops', api_id => 'vo-id',
                       api_key => 'vo-key');

sub node {
    my ($id, $window) = @_;
    return VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url,
        api_url => $vo->url,
        api_id => 'vo-id',
        api_key => 'vo-key',
        api_user => 'alice',
        store => $pg->uri(db => 'form'),
        node_id => $id,
        store_timeout => '1s',
        rootly_timeout => '1s',
        retry_max_delay => '1s',
        sync_interval => "${INTERVAL}s",
        alert_limit => 100000,
        escalation_auth_code => $CODE,
        escalation_url => $URL,
        duplicate_window => $window,
    });
}

sub sql { $pg->sql('form', @_) }

sub signature { VoMock::form_signature($URL, $CODE, $_[0]) }

# an escalation-policy delivery as VictorOps sends it: its own vo_uuid
sub delivery {
    my ($entity, $uuid, $type) = @_;
    $type //= 'CRITICAL';
    return "entity_id=%22$entity%22&entity_display_name=%22$entity+down%22"
         . "&message_type=%22$type%22&vo_uuid=%22$uuid%22";
}

sub post_signed {
    my ($ng, $body) = @_;
    return $ng->post_webhook($body, secret => undef, fresh => 1, headers => {
        'Content-Type' => 'application/x-www-form-urlencoded',
        'X-VictorOps-Signature' => signature($body),
    });
}

# POST /v1/alerts answered 2xx for one deduplication key
sub alerts_for {
    my ($entity) = @_;
    return VoNginx::delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0))
        ->{"victorops:acme:$entity"} // 0;
}

sub ready {
    my ($ng) = @_;
    my $st = eval { $ng->integration_status->{store} } // {};
    return ($st->{state} // '') eq 'ready';
}

sub evidence {
    my ($what, @nodes) = @_;
    diag "---- $what: links\n" . sql('select key, incident, rootly_incident, vo_state, '
                                     . 'rootly_state, synced_at from links');
    diag "---- jobs\n" . sql('select seq, kind, class, key, state, attempts from jobs');
    diag "---- signatures\n" . sql('select count(*) from signatures');
    for my $ng (@nodes) {
        diag $ng->log_tail();
    }
}

$pg->createdb('form');
my $A = node('node-a', 0);
my $B = node('node-b', '1s');

ok(wait_for(sub { ready($A) && ready($B) }, 30, 0.2), 'both nodes connected')
    or diag explain [$A->integration_status, $B->integration_status];

subtest 'a. a signed webhook taken by one node is a replay at the other' => sub {
    for my $case ([$A, $B, 'form/1', 'A then B'], [$B, $A, 'form/2', 'B then A']) {
        my ($first, $second, $entity, $label) = @$case;
        my $body = delivery($entity, "7a2b3c4d-$entity");

        my $res = post_signed($first, $body);
        is($res->{status}, 202, "$label: accepted by the first node") or diag $res->{content};
        is($res->{json}{result}, 'accepted', "$label: accepted");
        ok(wait_for(sub { alerts_for($entity) == 1 }, 10), "$label: one alert reached Rootly")
            or evidence($label, $A, $B);

        $res = post_signed($second, $body);
        is($res->{status}, 200, "$label: the replay at the other node: 200") or diag $res->{content};
        is($res->{json}{result}, 'duplicate', "$label: answered duplicate");

        sleep 1.5;      # past B's duplicate_window: the signature alone
        $res = post_signed($second, $body);
        is($res->{json}{result}, 'duplicate', "$label: again after duplicate_window: duplicate");
        $res = post_signed($first, $body);
        is($res->{json}{result}, 'duplicate', "$label: and at the first node: duplicate");

        sleep 0.5;
        is(alerts_for($entity), 1, "$label: Rootly got one alert in all");
    }
    is(sql('select count(*) from signatures'), 2, 'two signatures kept');

    # a new delivery of the same alert (another vo_uuid) is not a replay
    my $res = post_signed($B, delivery('form/1', '7a2b3c4d-again'));
    is($res->{status}, 202, 'another vo_uuid: accepted') or diag $res->{content};
    ok(wait_for(sub { alerts_for('form/1') == 2 }, 10), 'a second alert');

    # four copies at once, two to each node: one accepted
    my $body = delivery('form/3', '7a2b3c4d-0003');
    my $req = "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            . "Content-Type: application/x-www-form-urlencoded\r\n"
            . 'X-VictorOps-Signature: ' . signature($body) . "\r\n"
            . 'Content-Length: ' . length($body) . "\r\n\r\n" . $body;
    my @socks = map {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $_->port,
                              Proto => 'tcp', Timeout => 5) or die "connect: $!"
    } $A, $B, $A, $B;
    syswrite $_, $req for @socks;
    my @results;
    for my $sock (@socks) {
        local $/;
        my $r = <$sock> // '';
        push @results, $r =~ /"result":"(\w+)"/ ? $1 : "no result: $r";
    }
    is_deeply([sort @results], ['accepted', ('duplicate') x 3],
              'concurrent copies at both nodes: one accepted, three duplicates')
        or diag explain \@results;
    ok(wait_for(sub { alerts_for('form/3') == 1 }, 10), 'one alert');
    sleep 0.5;
    is(alerts_for('form/3'), 1, 'only one');

    # an ignored delivery's signature is remembered too
    my $info = delivery('form/4', '7a2b3c4d-0004', 'INFO');
    $res = post_signed($A, $info);
    is($res->{status}, 200, 'an INFO delivery at A: 200') or diag $res->{content};
    is($res->{json}{result}, 'ignored', '... ignored');
    ok(wait_for(sub { sql('select count(*) from signatures') == 5 }, 5, 0.2),
       '... its signature kept');
    $res = post_signed($B, $info);
    is($res->{status}, 200, 'its replay at B: 200') or diag $res->{content};
    is($res->{json}{result}, 'duplicate', '... a duplicate');
    ok(scalar $B->log_lines(qr/replayed escalation-policy webhook from 127\.0\.0\.1 \(signature seen before\) not forwarded again/),
       '... logged as a replay');

    ok(wait_for(sub { sql('select count(*) from jobs') == 0 }, 10, 0.2), 'no job left')
        or evidence('a', $A, $B);
    no_alerts_logged('a', $A, $B);
};

subtest 'b. reconciliation: Rootly resolved, VictorOps open: one resolve' => sub {
    $vo->seed({ incidents => [ { incidentNumber => '5101', entityId => 'sync/1',
                                 summary => 'Checkout down' } ] });
    $rootly->seed({ incidents => [ { id => 'inc-form-1', title => 'Checkout down',
                                     status => 'resolved' } ] });
    sql(q{insert into links (integration, key, incident, entity, rootly_incident, updated_at)
          values ('acme', 'victorops:acme:sync/1', '5101', 'sync/1', 'inc-form-1', 0)});

    my $resolves = sub { $vo->requests(path => '/api-public/v1/incidents/resolve', timeout => 0) };
    ok(wait_for(sub { @{ $resolves->() } }, 20, 0.2), 'VictorOps gets a resolve')
        or evidence('b', $A, $B);
    is_deeply($resolves->()->[0]{json}{incidentNames}, ['5101'], 'of the linked incident')
        or diag explain $resolves->();
    my $logged = () = map { $_->log_lines(qr/reconciliation: Rootly incident "inc-form-1" is resolved, VictorOps incident #5101 is open: resolving it/) } $A, $B;
    is($logged, 1, 'one round logged it');

    ok(wait_for(sub { sql("select vo_state from links where rootly_incident = 'inc-form-1'") eq '2' },
                20, 0.2), 'the link: resolved in VictorOps') or evidence('b', $A, $B);
    sleep 3 * $INTERVAL + 1;
    is(scalar @{ $resolves->() }, 1, 'once, over several rounds and both nodes')
        or evidence('b', $A, $B);
    ok(wait_for(sub { sql('select count(*) from jobs') == 0 }, 10, 0.2), 'no job left')
        or evidence('b', $A, $B);
    no_alerts_logged('b', $A, $B);
};

subtest 'c. a resolve VictorOps refuses for a while: rounds meanwhile add none' => sub {
    $vo->seed({ incidents => [
        { incidentNumber => '5101', entityId => 'sync/1', summary => 'Checkout down',
          currentPhase => 'RESOLVED' },
        { incidentNumber => '5102', entityId => 'sync/2', summary => 'Search down' } ] });
    $rootly->seed({ incidents => [
        { id => 'inc-form-1', title => 'Checkout down', status => 'resolved' },
        { id => 'inc-form-2', title => 'Search down', status => 'resolved' } ] });
    $vo->fault({ mode => 'status', status => 503, count => -1,
                 path => '/api-public/v1/incidents/resolve' });
    my $t0 = time;
    sql(q{insert into links (integration, key, incident, entity, rootly_incident, updated_at)
          values ('acme', 'victorops:acme:sync/2', '5102', 'sync/2', 'inc-form-2', 0)});

    my $resolves = sub {
        [ grep { (($_->{json}{incidentNames} // [])->[0] // '') eq '5102' }
          @{ $vo->requests(path => '/api-public/v1/incidents/resolve', timeout => 0) } ];
    };
    my $max = 0;
    my $jobs = sub {
        my $n = sql(q{select count(*) from jobs where incident = 'inc-form-2' and state < 2});
        $max = $n if $n > $max;
        return $n;
    };
    my $open = sub {
        my $n = () = map { $_->log_lines(qr/"inc-form-2" is resolved, VictorOps incident #5102 is open: resolving it/) } $A, $B;
        return $n;
    };

    # VictorOps refuses it until two rounds found the link open
    ok(wait_for(sub { $jobs->(); $open->() >= 2 }, 40, 0.1),
       'rounds found it open while its resolve was pending') or evidence('c', $A, $B);
    note sprintf '%d rounds in %.1f s, %d tries at VictorOps', $open->(), time - $t0,
                 scalar @{ $resolves->() };
    $vo->reset;
    $vo->seed({ incidents => [
        { incidentNumber => '5101', entityId => 'sync/1', summary => 'Checkout down',
          currentPhase => 'RESOLVED' },
        { incidentNumber => '5102', entityId => 'sync/2', summary => 'Search down' } ] });

    ok(wait_for(sub { $jobs->() == 0 && grep { ($_->{status} // 0) == 200 } @{ $resolves->() } },
                30, 0.1), 'resolved once VictorOps takes it, the job gone')
        or evidence('c', $A, $B);
    is($max, 1, 'never more than one resolve job of the incident unfinished');
    sleep 2 * $INTERVAL + 1;
    is(scalar(grep { ($_->{status} // 0) == 200 } @{ $resolves->() }), 1,
       'VictorOps resolved it once');
    no_alerts_logged('c', $A, $B);
};

$_->stop for $A, $B;
done_testing();
