# Rootly to VictorOps on one PostgreSQL store shared by two nginx nodes
# (two workers each, their own node_id): one throwaway PostgreSQL 15
# cluster (t/lib/VoPg.pm), the mock Rootly and the mock VictorOps.
#
#   a. An escalation accepted at A (a Rootly event), VictorOps slow to
#      answer its create; VictorOps' own webhook for the new incident
#      posted to B meanwhile: it is held while the create is under way
#      (the create's mark, written before the call), then becomes
#      activity on the Rootly incident once the link is written; never a
#      Rootly alert.
#   b. The same Rootly event (same id) at A and at B: one VictorOps
#      create, B answers "duplicate"; an ignored event too is answered
#      once across nodes.
#   c. 20 escalations spread over both nodes, both claiming: 20 creates
#      at the mock, one per Rootly incident, each linked once.
#   e. Jobs of one Rootly incident at both nodes read and write the one
#      link: an update with the same targets does nothing, an escalate
#      request reroutes, a resolve resolves the linked incident.
#   d. 50 escalations over both nodes never exceed api_rate at the mock
#      VictorOps: api_rate is one budget for both nodes (budget.c).
#   f. Node A SIGKILLed while VictorOps has not answered its create: B
#      takes the job over once its lease runs out, looks before creating
#      and finds the incident (no second create); VictorOps' webhook for
#      it, posted to B meanwhile, is held by the create's mark (which
#      outlived A) and becomes activity.
#
# Skipped, with the reason, when PostgreSQL's server is not installed.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(sleep time);
use VoPg;
use VoMock;
use VoNginx qw(wait_for no_alerts_logged);

VoPg::require_server();

my $JSON = JSON::PP->new->utf8->canonical;

my $pg = VoPg->start;
my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');
my $vo = VoMock->start(kind => 'victorops', api_id => 'vo-id',
                       api_key => 'vo-key');

my $RULES = 'severity=sev1 policy=pol-payments-primary';

sub node {
    my ($db, $id, %extra) = @_;
    return VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, api_url => $vo->url,
        api_id => 'vo-id', api_key => 'vo-key', api_user => 'alice',
        rootly_signing_secret => 'whsec-test', escalate_token => 'esc-token',
        escalate => $RULES, api_rate => 20,
        store => $pg->uri(db => $db), node_id => $id, store_timeout => '5s',
        rootly_timeout => '8s', retry_max_delay => '1s',
        alert_limit => 100000,
        %extra,
    }, server_extra => <<'_EOC_');
        location = /rootly   { victorops_rootly_events acme; }
        location = /escalate { victorops_escalate acme; }
_EOC_
}

sub incident {
    my (%o) = @_;
    my $sev = $o{sev} // 'sev1';
    return { id => $o{id}, title => $o{title} // "Checkout down ($o{id})",
             url => "https://rootly.example/incidents/$o{id}",
             status => 'started',
             severity => { slug => $sev, name => uc $sev }, groups => [] };
}

my $serial = 0;

sub event {
    my ($ng, $type, $data, %o) = @_;
    my $id = $o{id} // 'evt-' . $$ . '-' . ++$serial;
    my $body = $JSON->encode({ event => { id => $id, type => $type,
                                          issued_at => '2026-11-26T10:00:00Z' },
                               data => $data });
    my $t = int time;
    return $ng->post_webhook($body, path => '/rootly', secret => undef,
        headers => { 'X-Rootly-Signature' =>
                     "t=$t,v1=" . hmac_sha256_hex($t . $body, 'whsec-test') });
}

sub seed_rootly {
    my (@ids) = @_;
    $rootly->seed({ incidents => [ map { { id => $_, title => "Checkout down ($_)" } } @ids ] });
}

# POST /api-public/v1/incidents (the path is a prefix: not reroutes)
sub creates {
    my (%o) = @_;
    my $reqs = $vo->requests(path => '/api-public/v1/incidents', method => 'POST',
                             timeout => $o{timeout} // 0, %o);
    return [ grep { $_->{path} eq '/api-public/v1/incidents' } @$reqs ];
}

sub timeline {
    my ($id) = @_;
    my $reqs = $rootly->requests(path => "/v1/incidents/$id/events", timeout => 0);
    return map { $_->{json}{data}{attributes}{event} }
           grep { ($_->{status} // 0) == 201 } @$reqs;
}

sub evidence {
    my ($db, @nodes) = @_;
    diag "---- jobs";
    diag $pg->sql($db, 'select seq, kind, key, state, attempts, lease_owner, last_error from jobs order by seq');
    diag "---- links";
    diag $pg->sql($db, 'select key, incident, entity, rootly_incident, targets, vo_state from links');
    for my $ng (@nodes) {
        diag $ng->log_tail();
    }
}

$pg->createdb('esc');
my $A = node('esc', 'node-a');
my $B = node('esc', 'node-b');

subtest "a. escalation at A, VictorOps' webhook for it at B while the create is under way" => sub {
    $rootly->reset;
    $vo->reset;
    seed_rootly('inc-a');

    # the create takes effect at once, its answer comes 3 s later
    $vo->fault({ mode => 'late', delay => 3, path => '/api-public/v1/incidents',
                 method => 'POST' });

    my $res = event($A, 'incident.created', incident(id => 'inc-a'));
    is($res->{status}, 202, 'A: incident.created queued (202)') or diag $res->{content};

    ok(wait_for(sub { @{ $vo->state->{incidents} // [] } >= 1 }, 20, 0.05),
       'the VictorOps incident exists (its answer not yet sent)')
        or return evidence('esc', $A, $B);
    my $inc = $vo->state->{incidents}[0];
    is($pg->sql('esc', "select count(*) from links where incident = '~creating'"), 1,
            "the create's mark is in the store");
    is($pg->sql('esc', "select count(*) from links where rootly_incident = 'inc-a'"), 0,
            'no link yet');

    my $hook = $B->post_webhook({ entity_id => $inc->{entityId},
                                  incident_number => $inc->{incidentNumber},
                                  entity_display_name => 'Checkout down (inc-a)',
                                  state_message => 'paged from Rootly' });
    is($hook->{status}, 202, "B: VictorOps' webhook for it accepted (202)") or diag $hook->{content};

    ok(wait_for(sub { (join "\n", map { $_->error_log } $A, $B)
                      =~ /held: nothing linked while a VictorOps incident is being created/ }, 10, 0.1),
       'its job is held while the create is under way') or evidence('esc', $A, $B);

    ok(wait_for(sub { timeline('inc-a') >= 3 }, 30, 0.2),
       'timeline: paged, on call, and the webhook as activity') or evidence('esc', $A, $B);
    sleep 1;

    my @events = timeline('inc-a');
    is(scalar(grep { /^Paged VictorOps policy pol-payments-primary: incident #\Q$inc->{incidentNumber}\E$/ } @events),
       1, 'one "Paged VictorOps" event') or diag explain \@events;
    is(scalar @events, 3, 'three timeline events, nothing twice') or diag explain \@events;
    is(scalar @{ $rootly->requests(path => '/v1/alerts', timeout => 0) }, 0, 'no Rootly alert');
    is(scalar @{ creates() }, 1, 'one VictorOps create');
    is($pg->sql('esc', "select count(*) from links where incident = '~creating'"), 0,
            "the create's mark is gone");
    is($pg->sql('esc', "select incident || '|' || targets from links where rootly_incident = 'inc-a'"),
       "$inc->{incidentNumber}|EscalationPolicy:pol-payments-primary", 'the link is shared');
    ok(wait_for(sub { $pg->sql('esc', 'select count(*) from jobs') == 0 }, 10, 0.2), 'no job left')
        or evidence('esc', $A, $B);
};

subtest 'b. the same Rootly event at A and at B: one VictorOps create' => sub {
    $rootly->reset;
    $vo->reset;
    seed_rootly('inc-b');

    my $r1 = event($A, 'incident.created', incident(id => 'inc-b'), id => "evt-b-$$");
    is($r1->{status}, 202, 'A: queued (202)') or diag $r1->{content};
    my $r2 = event($B, 'incident.created', incident(id => 'inc-b'), id => "evt-b-$$");
    is($r2->{status}, 200, 'B: the same event id: 200') or diag $r2->{content};
    is($r2->{json}{result}, 'duplicate', 'B: answered as a duplicate');

    # an event acted on by nobody is answered once too
    my $i1 = event($B, 'incident.created', incident(id => 'inc-b3', sev => 'sev3'),
                   id => "evt-b3-$$");
    is($i1->{json}{result}, 'ignored', 'B: an event no rule matches: ignored');
    my $i2 = event($A, 'incident.created', incident(id => 'inc-b3', sev => 'sev3'),
                   id => "evt-b3-$$");
    is($i2->{json}{result}, 'duplicate', 'A: the same ignored event: duplicate');

    my $c = creates(wait => 1, timeout => 20);
    is(scalar @$c, 1, 'one create') or evidence('esc', $A, $B);
    ok(wait_for(sub { $pg->sql('esc', 'select count(*) from jobs') == 0 }, 20, 0.2), 'no job left');
    sleep 1;
    is(scalar @{ creates() }, 1, 'still one create');
    is($pg->sql('esc', "select count(*) from rootly_events where id in ('evt-b-$$', 'evt-b3-$$')"),
       2, 'both event ids recorded once');
};

subtest 'c. 20 escalations over both nodes: each created exactly once' => sub {
    $rootly->reset;
    $vo->reset;
    my @ids = map { "inc-c-$_" } 1 .. 20;
    seed_rootly(@ids);

    my %status;
    for my $i (0 .. $#ids) {
        my $ng = $i % 2 ? $B : $A;
        $status{ event($ng, 'incident.created', incident(id => $ids[$i]))->{status} }++;
    }
    is($status{202}, 20, 'all 20 accepted') or diag explain \%status;

    my $c = creates(wait => 20, timeout => 60);
    is(scalar(grep { $_->{status} == 200 } @$c), 20, '20 creates') or evidence('esc', $A, $B);
    ok(wait_for(sub { $pg->sql('esc', 'select count(*) from jobs') == 0 }, 60, 0.2), 'no job left')
        or evidence('esc', $A, $B);
    sleep 1;
    $c = creates();
    is(scalar @$c, 20, 'still 20 creates');
    my %by;
    $by{ $_->{json}{summary} }++ for @$c;
    is_deeply([sort grep { $by{$_} != 1 } keys %by], [], 'no incident created twice');
    is(scalar keys %by, 20, 'one create per Rootly incident');
    is($pg->sql('esc', "select count(distinct rootly_incident) from links where rootly_incident like 'inc-c-%'"),
       20, 'each linked');
    is($pg->sql('esc', "select count(*) from links where incident = '~creating'"), 0, 'no mark left');
    my @logs = map { $_->error_log } $A, $B;
    ok((grep { /paged VictorOps/ } split /\n/, $logs[0]) && (grep { /paged VictorOps/ } split /\n/, $logs[1]),
       'both nodes sent creates');
    no_alerts_logged('c', $A, $B);
};

subtest 'e. an update at B, a reroute requested at B, a resolve at A: on the shared link' => sub {
    $rootly->reset;
    $vo->reset;
    seed_rootly('inc-e');

    is(event($A, 'incident.created', incident(id => 'inc-e'))->{status}, 202, 'A: created');
    my $c = creates(wait => 1, timeout => 20);
    is(scalar @$c, 1, 'one create') or return evidence('esc', $A, $B);
    my $number = $c->[0]{json}{incidentNumber} // $vo->state->{incidents}[0]{incidentNumber};
    ok(wait_for(sub { $pg->sql('esc', "select count(*) from links where rootly_incident = 'inc-e'") == 1 },
                     20, 0.2), 'linked') or evidence('esc', $A, $B);

    # the same targets again, at the other node: nothing to do
    is(event($B, 'incident.updated', incident(id => 'inc-e'))->{status}, 202, 'B: updated (same severity)');
    ok(wait_for(sub { (join "\n", map { $_->error_log } $A, $B)
                      =~ /Rootly incident "inc-e" already pages VictorOps incident/ }, 20, 0.2),
       'B (or A) read the link: already paged') or evidence('esc', $A, $B);

    my $res = HTTP::Tiny->new(timeout => 10)->post($B->url . '/escalate', {
        headers => { Authorization => 'Bearer esc-token' },
        content => $JSON->encode({ incident_id => 'inc-e', summary => 'Checkout down (inc-e)',
                                   targets => [{ type => 'EscalationPolicy',
                                                 slug => 'pol-dba-primary' }] }) });
    is($res->{status}, 202, 'B: victorops_escalate to another policy: 202') or diag $res->{content};
    my $rr = $vo->requests(path => '/api-public/v1/incidents/reroute', wait => 1, timeout => 20);
    is(scalar @$rr, 1, 'one reroute') or evidence('esc', $A, $B);
    my $incident_number = $rr->[0]{json}{reroutes}[0]{incidentNumber} // '';
    ok($incident_number eq "$number", "of incident #$number");
    ok(wait_for(sub { $pg->sql('esc', "select targets from links where rootly_incident = 'inc-e'")
                      eq 'EscalationPolicy:pol-dba-primary' }, 20, 0.2), 'the link pages the new policy')
        or evidence('esc', $A, $B);

    is(event($A, 'incident.resolved', incident(id => 'inc-e', status => 'resolved'))->{status}, 202,
       'A: resolved');
    my $p = $vo->requests(path => '/api-public/v1/incidents/resolve', wait => 1, timeout => 20);
    is(scalar @$p, 1, 'one resolve sent') or evidence('esc', $A, $B);
    is_deeply($p->[0]{json}{incidentNames}, ["$number"], 'of the linked incident');
    ok(wait_for(sub { grep { /^Resolved VictorOps incident #\Q$number\E$/ } timeline('inc-e') }, 20, 0.2),
       'timeline: Resolved VictorOps incident') or evidence('esc', $A, $B);
    ok(wait_for(sub { $pg->sql('esc', "select vo_state || '|' || rootly_state from links where rootly_incident = 'inc-e'")
                      eq '2|1' }, 20, 0.2), 'the link: resolved on both sides')
        or evidence('esc', $A, $B);
    is(scalar @{ creates() }, 1, 'still one create');
    no_alerts_logged('e', $A, $B);
};

subtest 'd. 50 escalations over both nodes never exceed api_rate' => sub {
    $rootly->reset;
    $vo->reset;
    my $rate = 10;
    $_->stop for $A, $B;
    $pg->createdb('burst');
    $A = node('burst', 'node-a', api_rate => $rate);
    $B = node('burst', 'node-b', api_rate => $rate);

    my @ids = map { "inc-d-$_" } 1 .. 50;
    seed_rootly(@ids);

    my %status;
    for my $i (0 .. $#ids) {
        my $ng = $i % 2 ? $B : $A;
        $status{ event($ng, 'incident.created', incident(id => $ids[$i]))->{status} }++;
    }
    is($status{202}, 50, 'all 50 accepted') or diag explain \%status;

    my $c = creates(wait => 50, timeout => 60);
    is(scalar(grep { $_->{status} == 200 } @$c), 50, '50 creates') or evidence('burst', $A, $B);
    is(scalar(keys %{ { map { $_->{json}{summary} => 1 } @$c } }), 50, 'each incident once');

    my @t = sort { $a <=> $b } map { $_->{time} } @{ $vo->requests(timeout => 0) };
    my $worst = 0;
    for my $i (0 .. $#t) {
        my $n = 0;
        $n++ while $i + $n <= $#t && $t[$i + $n] - $t[$i] < 0.95;
        $worst = $n if $n > $worst;
    }
    note sprintf '%d VictorOps calls in %.2f s', scalar @t, @t ? $t[-1] - $t[0] : 0;

    my @b = map { $_->integration_status->{victorops}{budget} // {} } $A, $B;
    note join '; ', map { "spent $_->{spent}, dropped $_->{dropped}" } @b;

    ok($worst <= $rate, "at most $rate calls in any second over both nodes (worst: $worst)")
        or diag join "\n", map { sprintf '%.3f %s %s', $_->{time}, $_->{method}, $_->{path} }
                            sort { $a->{time} <=> $b->{time} } @{ $vo->requests(timeout => 0) };

    is(scalar(grep { $_->{status} == 429 } @{ $vo->requests(timeout => 0) }), 0, 'no 429');
    no_alerts_logged('d', $A, $B);
};

subtest 'f. A SIGKILLed mid-create: B takes the job over, finds the incident, never creates again' => sub {
    $rootly->reset;
    $vo->reset;
    $_->stop for $A, $B;
    $pg->createdb('kill');
    $A = node('kill', 'node-a', rootly_timeout => '3s');
    $B = node('kill', 'node-b', rootly_timeout => '3s');
    seed_rootly('inc-f');

    # VictorOps creates the incident at once, answers 10 s later
    $vo->fault({ mode => 'late', delay => 10, path => '/api-public/v1/incidents',
                 method => 'POST' });
    is(event($A, 'incident.created', incident(id => 'inc-f'))->{status}, 202, 'A: accepted');
    ok(wait_for(sub { @{ $vo->state->{incidents} // [] } >= 1 }, 20, 0.05),
       'the create reached VictorOps') or return evidence('kill', $A, $B);
    my $inc = $vo->state->{incidents}[0];
    $A->kill9;
    is($pg->sql('kill', "select count(*) from links where incident = '~creating'"), 1,
            "the killed create's mark stays");

    # VictorOps' webhook for it, at B: held until the job is taken over
    my $hook = $B->post_webhook({ entity_id => $inc->{entityId},
                                  incident_number => $inc->{incidentNumber},
                                  entity_display_name => 'Checkout down (inc-f)',
                                  state_message => 'paged from Rootly' });
    is($hook->{status}, 202, "B: VictorOps' webhook accepted (202)");

    ok(wait_for(sub { $pg->sql('kill', "select incident from links where rootly_incident = 'inc-f'")
                      eq $inc->{incidentNumber} }, 60, 0.2),
       'B took the job over once its lease ran out, and linked the incident')
        or return evidence('kill', $B);
    like($B->error_log, qr/incident #\Q$inc->{incidentNumber}\E found, created by an earlier attempt/,
         'B found the incident the killed node created');
    like($B->error_log, qr/held: nothing linked while a VictorOps incident is being created/,
         "B held VictorOps' webhook meanwhile");
    ok(wait_for(sub { timeline('inc-f') >= 3 }, 30, 0.2),
       'timeline: paged, on call, and the webhook as activity') or evidence('kill', $B);
    sleep 1;
    is(scalar @{ creates() }, 1, 'one create, ever');
    is(scalar @{ $vo->state->{incidents} }, 1, 'one VictorOps incident');
    is(scalar @{ $rootly->requests(path => '/v1/alerts', timeout => 0) }, 0, 'no Rootly alert');
    is($pg->sql('kill', "select count(*) from links where incident = '~creating'"), 0,
            "the mark is gone");
    no_alerts_logged('f', $B);
};

$_->stop for grep { $_->pid } $A, $B;
$pg->stop;

done_testing();
