# Rootly to VictorOps against the mock Rootly and VictorOps APIs:
# escalation rules, incident creation and its timeline events, reroute,
# resolve (both races), on-call responders, the victorops_escalate
# endpoint, VictorOps rate limits and credentials, a burst of 50
# escalations within api_rate, a SIGKILL in the middle of an escalation,
# and reconciliation repairing dropped webhooks.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(sleep time);
use VoMock;
use VoNginx qw(wait_for);

my $JSON = JSON::PP->new->utf8->canonical;

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');
my $vo = VoMock->start(kind => 'victorops', api_id => 'vo-id',
                       api_key => 'vo-key');

my $RULES = join ";\n        escalate ",
    'severity=sev0 policy=pol-payments-primary,pol-dba-primary',
    'severity=sev1 policy=pol-payments-primary',
    'team=database policy=pol-dba-primary';

my $ng;

# a fresh nginx (and store) for each scenario, so incident numbers the
# mock hands out again after a reset never meet old links
sub fresh {
    my (%extra) = @_;
    $ng->stop if $ng;
    $rootly->reset;
    $vo->reset;
    $ng = VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, api_url => $vo->url,
        api_id => 'vo-id', api_key => 'vo-key', api_user => 'alice',
        rootly_signing_secret => 'whsec-test', escalate_token => 'esc-token',
        escalate => $RULES, api_rate => 20, sync_interval => '1h',
        rootly_timeout => '2s', retry_max_delay => '1s',
        %extra,
    }, server_extra => <<'_EOC_');
        location = /rootly   { victorops_rootly_events acme; }
        location = /escalate { victorops_escalate acme; }
_EOC_
    return $ng;
}

sub incident {
    my (%o) = @_;
    my $sev = $o{sev} // 'sev1';
    return { id => $o{id}, title => $o{title} // "Checkout down ($o{id})",
             url => "https://rootly.example/incidents/$o{id}",
             status => $o{status} // 'started',
             severity => { slug => $sev, name => uc $sev },
             groups => $o{groups} // [] };
}

my $serial = 0;

sub event {
    my ($type, $data, %o) = @_;
    my $id = $o{id} // 'evt-' . $$ . '-' . ++$serial;
    my $body = $JSON->encode({ event => { id => $id, type => $type,
                                          issued_at => '2026-11-26T10:00:00Z' },
                               data => $data });
    my $t = int time;
    my $res = $ng->post_webhook($body, path => '/rootly', secret => undef,
        headers => { 'X-Rootly-Signature' =>
                     "t=$t,v1=" . hmac_sha256_hex($t . $body, 'whsec-test') });
    return $res;
}

sub seed_rootly {
    my (@ids) = @_;
    $rootly->seed({ incidents => [ map { { id => $_, title => "Checkout down ($_)" } } @ids ] });
}

sub vo_requests {
    my (%o) = @_;
    return $vo->requests(timeout => $o{timeout} // 10, %o);
}

# timeline events posted to a Rootly incident, as text
sub timeline {
    my ($id, %o) = @_;
    my $reqs = $rootly->requests(path => "/v1/incidents/$id/events",
                                 timeout => $o{timeout} // 10, wait => $o{wait} // 1);
    return map { $_->{json}{data}{attributes}{event} }
           grep { ($_->{status} // 0) == 201 } @$reqs;
}

sub vo_incidents { @{ $vo->state->{incidents} } }

sub vo_api {
    my ($method, $path, $doc) = @_;
    my $res = HTTP::Tiny->new(timeout => 5)->request($method, $vo->url . $path, {
        headers => { 'X-VO-Api-Id' => 'vo-id', 'X-VO-Api-Key' => 'vo-key',
                     'Content-Type' => 'application/json' },
        content => $JSON->encode($doc) });
    return $res;
}

sub evidence {
    diag "---- error.log (last 40 lines)";
    my @log = split /\n/, $ng->error_log;
    diag join "\n", @log > 40 ? @log[-40 .. -1] : @log;
    diag "---- jobs\n" . $ng->store_dump;
    diag "---- links\n" . $ng->store_dump('select * from links');
}

# ONLY=regex runs the scenarios whose name matches, when working on one
sub scenario {
    my ($name, $code) = @_;
    return if $ENV{ONLY} && $name !~ /$ENV{ONLY}/;
    subtest $name => $code;
}

# ------------------------------------------------------------------

scenario 'a matching incident pages VictorOps, once, with timeline events' => sub {
    fresh();
    seed_rootly('inc-1');

    my $res = event('incident.created', incident(id => 'inc-1'), id => 'evt-a');
    is($res->{status}, 202, 'incident.created matching a rule: 202');
    is($res->{json}{result}, 'queued', 'queued') or diag $res->{content};
    like($res->{json}{job} // '', qr/^[0-9a-f]{16}$/, 'with the job id');

    my $again = event('incident.created', incident(id => 'inc-1'), id => 'evt-a');
    is($again->{status}, 200, 'the same event id again: 200');
    is($again->{json}{result}, 'duplicate', 'answered as a duplicate');

    my $creates = vo_requests(path => '/api-public/v1/incidents', method => 'POST', wait => 1);
    is(scalar @$creates, 1, 'one POST /api-public/v1/incidents') or evidence();
    my $c = $creates->[0];
    is($c->{status}, 200, 'VictorOps accepted it');
    is($c->{headers}{'x-vo-api-id'}, 'vo-id', 'X-VO-Api-Id sent');
    is_deeply($c->{json}{targets}, [{ type => 'EscalationPolicy', slug => 'pol-payments-primary' }],
              'sev1 pages pol-payments-primary');
    is($c->{json}{userName}, 'alice', 'userName is api_user');
    is($c->{json}{summary}, 'Checkout down (inc-1)', 'summary is the Rootly title');
    like($c->{json}{details}, qr{https://rootly\.example/incidents/inc-1}, 'details carry the Rootly URL');

    my @events = timeline('inc-1', wait => 2);
    ok((grep { $_ eq 'Paged VictorOps policy pol-payments-primary: incident #2201' } @events),
       'timeline: Paged VictorOps policy pol-payments-primary: incident #2201')
        or diag explain \@events;
    ok((grep { /^VictorOps on-call for Payments: alice \(Payments Primary\), bob \(Payments Secondary\)$/ } @events),
       'timeline: who is on call for Payments') or diag explain \@events;

    my $link = $ng->store_dump("select incident, rootly_incident, targets from links");
    like($link, qr/2201\|inc-1\|EscalationPolicy:pol-payments-primary/, 'the link is stored');

    sleep 0.5;
    is(scalar @{ vo_requests(path => '/api-public/v1/incidents', method => 'POST', timeout => 0) },
       1, 'still one incident created');

    # VictorOps' own outgoing webhook for the incident it just opened:
    # activity on the Rootly incident, not a second (alert) copy of it
    my $entity = $vo->state->{incidents}[0]{entityId};
    my $res2 = $ng->post_webhook({ entity_id => $entity, incident_number => '2201',
                                   entity_display_name => 'Checkout down (inc-1)',
                                   state_message => 'paged from Rootly' });
    is($res2->{status}, 202, "VictorOps' triggered webhook for it: 202");
    ok(wait_for(sub { timeline('inc-1', timeout => 0, wait => 0) >= 3 }, 10),
       'it becomes a timeline event on the Rootly incident');
    is(scalar @{ $rootly->requests(path => '/v1/alerts', timeout => 0) }, 0, 'and no Rootly alert');

    my $st = $ng->integration_status;
    is($st->{escalations}{paged}, 1, "status: escalations paged 1") or diag explain $st;
    ok($st->{victorops}{last_success}, "status: victorops last_success set");
    is($st->{victorops}{credentials}, "ok", "status: victorops credentials ok");
};

scenario 'rules: severity, team, victor_ops_id; no match is ignored' => sub {
    fresh();
    seed_rootly(qw(inc-low inc-team inc-vo));

    my $res = event('incident.created', incident(id => 'inc-low', sev => 'sev3'));
    is($res->{status}, 200, 'no rule matches: 200');
    is($res->{json}{reason}, 'no escalation rule matches', 'with the reason');

    $res = event('incident.created', incident(id => 'inc-team', sev => 'sev3',
                 groups => [{ id => 'g1', name => 'Database', slug => 'database' }]));
    is($res->{status}, 202, 'team=database matches');

    $res = event('incident.created', incident(id => 'inc-vo', sev => 'sev3',
                 groups => [{ id => 'g2', name => 'Payments', slug => 'payments',
                              victor_ops_id => 'team-payments' }]));
    is($res->{status}, 202, 'a team with a victor_ops_id matches');

    my $creates = vo_requests(path => '/api-public/v1/incidents', method => 'POST', wait => 2);
    is(scalar @$creates, 2, 'two incidents created') or evidence();
    my %by = map { $_->{json}{summary} => $_->{json}{targets} } @$creates;
    is_deeply($by{'Checkout down (inc-team)'}, [{ type => 'EscalationPolicy', slug => 'pol-dba-primary' }],
              'team rule: pol-dba-primary');
    is_deeply([ sort map { $_->{slug} } @{ $by{'Checkout down (inc-vo)'} // [] } ],
              [qw(pol-payments-primary pol-payments-secondary)],
              "victor_ops_id: the VictorOps team's policies");
    ok(@{ vo_requests(path => '/api-public/v1/team/team-payments/policies', wait => 1) },
       'the team policies were looked up');
    ok(!@{ vo_requests(path => '/api-public/v1/incidents', method => 'POST', timeout => 0)
           ->[2] // [] }, 'the unmatched incident paged nobody');
};

scenario 'updates: same targets do nothing, a raised severity reroutes' => sub {
    fresh();
    seed_rootly('inc-r');

    is(event('incident.created', incident(id => 'inc-r'))->{status}, 202, 'created');
    ok(wait_for(sub { grep { /^Paged/ } timeline('inc-r', timeout => 0, wait => 0) }, 10), 'paged')
        or evidence();

    is(event('incident.updated', incident(id => 'inc-r', title => 'Checkout down (inc-r)'))->{status},
       202, 'an update with the same severity is queued');
    sleep 1;
    is(scalar @{ vo_requests(timeout => 0, path => '/api-public/v1/incidents/reroute') }, 0,
       'and changes nothing in VictorOps');
    like($ng->error_log, qr/Rootly incident "inc-r" already pages VictorOps incident #2201/,
         'logged: already paged');

    is(event('incident.updated', incident(id => 'inc-r', sev => 'sev0'))->{status}, 202,
       'severity raised to sev0');
    my $rr = vo_requests(path => '/api-public/v1/incidents/reroute', wait => 1);
    is(scalar @$rr, 1, 'one reroute') or evidence();
    is($rr->[0]{json}{reroutes}[0]{incidentNumber}, '2201', 'of incident 2201');
    is_deeply([ sort map { $_->{slug} } @{ $rr->[0]{json}{reroutes}[0]{targets} } ],
              [qw(pol-dba-primary pol-payments-primary)], 'to the sev0 policies');
    ok(wait_for(sub { grep { /^Rerouted VictorOps incident #2201 to policy pol-payments-primary, policy pol-dba-primary$/ }
                      timeline('inc-r', timeout => 0, wait => 0) }, 10),
       'timeline: Rerouted VictorOps incident #2201 ...') or diag explain [timeline('inc-r', timeout => 0)];
    is(scalar(grep { $_->{json}{summary} } @{ vo_requests(path => '/api-public/v1/incidents',
                                                            method => 'POST', timeout => 0) }),
       1, 'still a single VictorOps incident');
};

scenario 'resolve: Rootly resolves, VictorOps follows' => sub {
    fresh();
    seed_rootly('inc-z');

    event('incident.created', incident(id => 'inc-z'));
    ok(wait_for(sub { grep { /^Paged/ } timeline('inc-z', timeout => 0, wait => 0) }, 10), 'paged')
        or evidence();

    my $res = event('incident.resolved', incident(id => 'inc-z', status => 'resolved'));
    is($res->{status}, 202, 'incident.resolved: 202');
    my $p = vo_requests(path => '/api-public/v1/incidents/resolve', wait => 1);
    is(scalar @$p, 1, 'PATCH /api-public/v1/incidents/resolve') or evidence();
    is($p->[0]{method}, 'PATCH', 'a PATCH');
    is_deeply($p->[0]{json}{incidentNames}, ['2201'], 'for incident 2201');
    like($p->[0]{json}{message}, qr/Resolved in Rootly: Checkout down \(inc-z\)/, 'message names the Rootly incident');
    is((vo_incidents())[0]{currentPhase}, 'RESOLVED', 'resolved in VictorOps');
    ok(wait_for(sub { grep { $_ eq 'Resolved VictorOps incident #2201' } timeline('inc-z', timeout => 0, wait => 0) }, 10),
       'timeline: Resolved VictorOps incident #2201');

    # VictorOps tells us it resolved (its RECOVERY webhook): activity, no loop
    my $entity = (vo_incidents())[0]{entityId};
    is($ng->post_webhook({ notification_type => 'RECOVERY', incident_number => '2201',
                           entity_id => $entity })->{status}, 202, 'the RECOVERY webhook comes back');
    sleep 1;
    is(scalar @{ vo_requests(path => '/api-public/v1/incidents/resolve', timeout => 0) }, 1,
       'no second resolve');

    is(event('incident.cancelled', incident(id => 'inc-z', status => 'cancelled'))->{status}, 202,
       'incident.cancelled after it');
    sleep 1;
    is(scalar @{ vo_requests(path => '/api-public/v1/incidents/resolve', timeout => 0) }, 1,
       'nothing more is sent: VictorOps has it resolved');
};

scenario 'resolve races: VictorOps first, and already resolved in VictorOps' => sub {
    fresh();
    seed_rootly(qw(inc-v inc-w));

    event('incident.created', incident(id => 'inc-v'));
    event('incident.created', incident(id => 'inc-w'));
    ok(wait_for(sub { @{ $vo->state->{incidents} } == 2 }, 10), 'two incidents paged') or evidence();
    ok(wait_for(sub { $ng->store_dump('select count(*) from links') =~ /^2$/m }, 10), 'both linked');
    my %by = map { $_->{entityDisplayName} => $_ } vo_incidents();
    my $v = $by{'Checkout down (inc-v)'};
    my $w = $by{'Checkout down (inc-w)'};

    # inc-v: VictorOps reports RECOVERY first, then Rootly resolves
    is($ng->post_webhook({ notification_type => 'RECOVERY', incident_number => $v->{incidentNumber},
                           entity_id => $v->{entityId} })->{status}, 202, 'RECOVERY from VictorOps');
    ok(wait_for(sub { grep { /resolved|RECOVERY|Recovery/i } timeline('inc-v', timeout => 0, wait => 0) }, 10),
       'activity on the Rootly incident') or diag explain [timeline('inc-v', timeout => 0)];
    is(event('incident.resolved', incident(id => 'inc-v', status => 'resolved'))->{status}, 202,
       'then incident.resolved');
    ok(wait_for(sub { $ng->error_log =~ /Rootly incident "inc-v" resolved, no open VictorOps incident linked/ }, 10),
       'logged: nothing open to resolve') or evidence();
    is(scalar @{ vo_requests(path => '/api-public/v1/incidents/resolve', timeout => 0) }, 0,
       'no resolve sent to VictorOps');

    # inc-w: resolved in VictorOps, its webhook lost; Rootly resolves
    is(vo_api(PATCH => '/api-public/v1/incidents/resolve',
              { userName => 'bob', incidentNames => [ $w->{incidentNumber} ], message => 'fixed' })->{status},
       200, 'bob resolves it in VictorOps (no webhook reaches us)');
    $vo->requests(timeout => 0);
    is(event('incident.resolved', incident(id => 'inc-w', status => 'resolved'))->{status}, 202,
       'incident.resolved');
    my $p = vo_requests(path => '/api-public/v1/incidents/resolve', wait => 2);
    is(scalar @$p, 2, 'the module sent its resolve') or evidence();
    ok(wait_for(sub { $ng->error_log =~ /resolved VictorOps incident #$w->{incidentNumber} of Rootly incident "inc-w"/ }, 10),
       'cmdAccepted:false "already resolved" counts as resolved') or evidence();
    ok(wait_for(sub { $ng->integration_status->{queue}{pending} == 0 }, 10), 'nothing left pending')
        or evidence();
    my $st = $ng->integration_status;
    is($st->{dead_lettered} // 0, 0, 'nothing dead-lettered') or diag explain $st;
};

scenario 'victorops_escalate: bearer token, validation, 202 with the job' => sub {
    fresh();
    seed_rootly(qw(inc-e inc-e2));
    my $http = HTTP::Tiny->new(timeout => 5);
    my $url = $ng->url . '/escalate';
    my $body = $JSON->encode({ incident_id => 'inc-e', summary => 'Payments API errors',
                               details => 'from a Rootly workflow',
                               targets => [{ type => 'EscalationPolicy', slug => 'pol-dba-primary' },
                                           { type => 'User', slug => 'carol' }] });

    my $res = $http->post($url, { content => $body });
    is($res->{status}, 401, 'no token: 401');
    $res = $http->post($url, { content => $body, headers => { Authorization => 'Bearer wrong' } });
    is($res->{status}, 401, 'wrong token: 401');
    unlike($ng->error_log, qr/wrong|esc-token/, 'tokens never logged');

    my %auth = (Authorization => 'Bearer esc-token', 'Content-Type' => 'application/json');
    $res = $http->post($url, { content => '{"incident_id":"inc-e"}', headers => \%auth });
    is($res->{status}, 400, 'no targets: 400');
    like($res->{content}, qr/targets/, 'saying so');
    $res = $http->post($url, { content => '{"incident_id":"inc-e","targets":[{"type":"Team","slug":"x"}]}',
                               headers => \%auth });
    is($res->{status}, 400, 'a target of an unknown type: 400');
    $res = $http->post($url, { content => '[1,2', headers => \%auth });
    is($res->{status}, 400, 'not JSON: 400');
    $res = $http->get($url, { headers => \%auth });
    is($res->{status}, 405, 'GET: 405');

    $res = $http->post($url, { content => $body, headers => \%auth });
    is($res->{status}, 202, 'a good escalation: 202');
    my $doc = eval { $JSON->decode($res->{content}) } // {};
    like($doc->{job} // '', qr/^[0-9a-f]{16}$/, 'with the job id');

    my $creates = vo_requests(path => '/api-public/v1/incidents', method => 'POST', wait => 1);
    is(scalar @$creates, 1, 'VictorOps incident created') or evidence();
    is($creates->[0]{json}{summary}, 'Payments API errors', 'summary as given');
    like($creates->[0]{json}{details}, qr/^from a Rootly workflow\n\n\[nginx job $doc->{job}\]$/,
         'details as given, marked with the job');
    is_deeply($creates->[0]{json}{targets}, [{ type => 'EscalationPolicy', slug => 'pol-dba-primary' },
                                              { type => 'User', slug => 'carol' }], 'targets as given');
    ok(wait_for(sub { grep { /^Paged VictorOps policy pol-dba-primary, user carol: incident #2201$/ }
                      timeline('inc-e', timeout => 0, wait => 0) }, 10), 'timeline event');

    # no summary, and VictorOps answers after the module gave up waiting:
    # the retry finds the incident ("Rootly incident inc-e2") it made
    $vo->fault({ mode => 'late', delay => 4, path => '/api-public/v1/incidents', method => 'POST' });
    $res = $http->post($url, { headers => \%auth, content => $JSON->encode({ incident_id => 'inc-e2',
        targets => [{ type => 'EscalationPolicy', slug => 'pol-dba-primary' }] }) });
    is($res->{status}, 202, 'an escalation without a summary');
    ok(wait_for(sub { $ng->error_log =~ /incident #2202 found, created by an earlier attempt/ }, 20),
       'its create timed out; the retry found the incident') or evidence();
    is(scalar(grep { $_->{entityDisplayName} eq 'Rootly incident inc-e2' } vo_incidents()), 1,
       'exactly one VictorOps incident for it');
    is(scalar(grep { ($_->{json}{details} // '') =~ /inc-e2/ }
              @{ vo_requests(path => '/api-public/v1/incidents', method => 'POST', timeout => 0) }), 1,
       'created once');
};

scenario 'VictorOps credentials refused, then rate limited' => sub {
    fresh();
    seed_rootly(qw(inc-a inc-b));

    $vo->fault({ mode => 'auth', path => '/api-public/v1/incidents', method => 'POST', count => 2 });
    event('incident.created', incident(id => 'inc-a'));
    ok(wait_for(sub { ($ng->integration_status->{victorops} // {})->{credentials} eq 'failing' }, 10),
       'status: victorops credentials failing') or evidence();
    like($ng->error_log, qr/victorops refused the credentials \(403\): check api_id and api_key/,
         'error log says which credentials');
    my $st = $ng->integration_status;
    is($st->{victorops}{last_error}{status}, 403, 'last_error: 403');
    unlike($ng->error_log, qr/vo-key/, 'the key is never logged');
    ok(wait_for(sub { @{ $vo->state->{incidents} } == 1 }, 15), 'created once the credentials work')
        or evidence();
    ok(wait_for(sub { $ng->integration_status->{victorops}{credentials} eq 'ok' }, 5),
       'credentials ok again');

    $vo->fault({ mode => 'ratelimit', path => '/api-public/v1/incidents', method => 'POST',
                 retry_after => 2 });
    my $t0 = time;
    event('incident.created', incident(id => 'inc-b'));
    my $creates = vo_requests(path => '/api-public/v1/incidents', method => 'POST', wait => 5, timeout => 15);
    my @b = grep { $_->{json}{summary} eq 'Checkout down (inc-b)' } @$creates;
    is(scalar @b, 2, 'a 429, then sent again') or evidence();
    is($b[0]{status}, 429, 'the first answer was 429');
    ok($b[1]{time} - $b[0]{time} >= 1.9, sprintf('Retry-After honoured (%.2f s later)', $b[1]{time} - $b[0]{time}))
        if @b == 2;
    ok($ng->integration_status->{victorops_rate_limited} >= 1, 'status counts the rate limit');

    # VictorOps documents 403 for "authentication failed or rate-limit reached"
    $vo->fault({ mode => 'status', status => 403, body => { message => 'Too Many Requests' },
                 path => '/api-public/v1/incidents', method => 'POST' });
    seed_rootly(qw(inc-c));
    event('incident.created', incident(id => 'inc-c'));
    $creates = vo_requests(path => '/api-public/v1/incidents', method => 'POST', wait => 7, timeout => 20);
    my @c = grep { $_->{json}{summary} eq 'Checkout down (inc-c)' } @$creates;
    is(scalar @c, 2, 'a 403 with a rate-limit body, then sent again') or evidence();
    is($c[0]{status}, 403, 'the first answer was 403');
    ok($c[1]{time} - $c[0]{time} >= 4.5, sprintf('paused (%.2f s)', $c[1]{time} - $c[0]{time}))
        if @c == 2;
    is($ng->integration_status->{victorops}{credentials}, 'ok',
       'a rate-limit 403 does not mark the credentials failing');
    like($ng->error_log, qr/victorops rate limit \(403\): calls paused for \d+ ms/, "logged as a rate limit");
};

scenario 'a burst of 50 escalations never exceeds api_rate at VictorOps' => sub {
    my $rate = 10;
    fresh(api_rate => $rate);
    my @ids = map { "inc-burst-$_" } 1 .. 50;
    seed_rootly(@ids);

    my %status;
    $status{ event('incident.created', incident(id => $_))->{status} }++ for @ids;
    is($status{202}, 50, 'all 50 accepted') or diag explain \%status;

    my $creates = vo_requests(path => '/api-public/v1/incidents', method => 'POST', wait => 50, timeout => 30);
    is(scalar(grep { $_->{status} == 200 } @$creates), 50, '50 VictorOps incidents created') or evidence();

    my @t = sort { $a <=> $b } map { $_->{time} } @{ $vo->requests(timeout => 0) };
    # tokens are spaced at 1/api_rate; the mock sees arrivals, later by
    # the time a send takes to reach the wire (much more under valgrind)
    my $jitter = $ENV{TEST_NGINX_USE_VALGRIND} ? 0.25 : 0.05;
    my $worst = 0;
    for my $i (0 .. $#t - $rate) {
        my $n = 0;
        $n++ while $i + $n <= $#t && $t[$i + $n] - $t[$i] < 1.0 - $jitter;
        $worst = $n if $n > $worst;
    }
    note sprintf '%d VictorOps calls in %.2f s', scalar @t, $t[-1] - $t[0];
    note join ' ', map { sprintf '%.2f', $_ - $t[0] } @t if $ENV{ONLY};
    ok($worst <= $rate, "at most $rate calls in any second (worst: $worst)");
    is(scalar(grep { $_->{status} == 429 } @{ $vo->requests(timeout => 0) }), 0, 'no 429');
    is(scalar(keys %{ { map { $_->{json}{summary} => 1 } @$creates } }), 50, 'each incident once');
};

scenario 'SIGKILL in the middle of an escalation leaves exactly one VictorOps incident' => sub {
    fresh();
    seed_rootly('inc-k');

    # VictorOps creates the incident at once but answers 4 s later
    $vo->fault({ mode => 'late', delay => 4, path => '/api-public/v1/incidents', method => 'POST' });
    is(event('incident.created', incident(id => 'inc-k'))->{status}, 202, 'accepted');
    ok(@{ vo_requests(path => '/api-public/v1/incidents', method => 'POST', wait => 1) },
       'the create reached VictorOps');
    $ng->kill9;
    is(scalar(vo_incidents()), 1, 'VictorOps has the incident; nginx never heard back');

    $ng->start_again;
    ok(wait_for(sub { $ng->store_dump('select incident from links') =~ /2201/ }, 25),
       'after the restart the link is recorded') or evidence();
    is(scalar(vo_incidents()), 1, 'exactly one VictorOps incident') or diag explain [vo_incidents()];
    is(scalar @{ vo_requests(path => '/api-public/v1/incidents', method => 'POST', timeout => 0) }, 1,
       'no second create was sent');
    like($ng->error_log, qr/incident #2201 found, created by an earlier attempt/,
         'logged: found the one the killed worker created');
    ok(wait_for(sub { grep { /^Paged VictorOps policy pol-payments-primary: incident #2201$/ }
                      timeline('inc-k', timeout => 0, wait => 0) }, 10), 'and told Rootly once');
};

# a retried create looks for the incident its lost answer was about: by
# the job's mark in the details VictorOps keeps (the first transition's
# message), never by title, in the whole list, and only in a list read
# to its end

sub creates { scalar @{ vo_requests(path => '/api-public/v1/incidents', method => 'POST', timeout => 0) } }

sub linked {
    my %link = map { split /\|/ } grep { /\|/ && !/^incident\|/ }
               split /\n/, $ng->store_dump('select incident, rootly_incident from links');
    return \%link;
}

scenario 'two escalations with the same title, an answer lost: one incident each' => sub {
    fresh();
    seed_rootly(qw(inc-t1 inc-t2));

    # inc-t1: VictorOps creates its incident, the answer comes after
    # the module gave up waiting (rootly_timeout 2 s)
    $vo->fault({ mode => 'late', delay => 4, path => '/api-public/v1/incidents', method => 'POST' });
    is(event('incident.created', incident(id => 'inc-t1', title => 'Checkout down'))->{status}, 202,
       'inc-t1 accepted');
    ok(@{ vo_requests(path => '/api-public/v1/incidents', method => 'POST', wait => 1) },
       'its create reached VictorOps');

    # inc-t2, same title: the answer is lost at once, so its retry looks
    # first, while the incident of inc-t1 is not linked yet
    $vo->fault({ mode => 'drop', path => '/api-public/v1/incidents', method => 'POST' });
    is(event('incident.created', incident(id => 'inc-t2', title => 'Checkout down'))->{status}, 202,
       'inc-t2 accepted');

    ok(wait_for(sub { keys %{ linked() } == 2 }, 25), 'both Rootly incidents linked') or evidence();
    is(scalar(vo_incidents()), 2, 'exactly two VictorOps incidents') or diag explain [vo_incidents()];
    is(creates(), 2, 'two creates, none repeated');

    my $link = linked();
    for my $i (vo_incidents()) {
        my ($rid) = ($i->{transitions}[0]{message} // '') =~ /Rootly incident (inc-t\d)/;
        is($link->{ $i->{incidentNumber} } // '(none)', $rid // '?',
           "VictorOps incident #$i->{incidentNumber}, created for $rid, is linked to it");
    }
    ok(wait_for(sub { grep { /: incident #2201$/ } timeline('inc-t1', timeout => 0, wait => 0) }, 10),
       'inc-t1 timeline: incident #2201') or diag explain [timeline('inc-t1', timeout => 0)];
    ok(wait_for(sub { grep { /: incident #2202$/ } timeline('inc-t2', timeout => 0, wait => 0) }, 10),
       'inc-t2 timeline: incident #2202') or diag explain [timeline('inc-t2', timeout => 0)];
};

scenario 'a retried create finds its incident in a list over 64 KiB' => sub {
    fresh();
    seed_rootly('inc-big');

    # 300 open incidents opened by others, with long alert messages
    $vo->seed({ incidents => [ map { { summary => "Disk full on db-$_",
        transitions => [ { name => 'UNACKED', at => '2026-11-26T10:00:00Z', by => 'bob',
                           message => "disk full on db-$_ " . ('x' x 600), manually => JSON::PP::false } ] } }
        1 .. 300 ] });
    my $list = vo_api(GET => '/api-public/v1/incidents');
    cmp_ok(length $list->{content}, '>', 3 * 65536, 'the incident list is over 192 KiB');
    $vo->requests(timeout => 0);

    $vo->fault({ mode => 'drop', path => '/api-public/v1/incidents', method => 'POST' });
    is(event('incident.created', incident(id => 'inc-big'))->{status}, 202, 'accepted');
    ok(wait_for(sub { linked()->{2501} }, 25), 'the incident VictorOps made (#2501) is linked')
        or evidence();
    is(linked()->{2501}, 'inc-big', 'to inc-big');
    is(creates(), 1, 'created once');
    is(scalar(vo_incidents()), 301, 'no second incident');
    like($ng->error_log, qr/incident #2501 found, created by an earlier attempt/,
         'logged: found after reading the whole list');
};

scenario 'an incomplete incident list never leads to a second create' => sub {
    fresh();
    seed_rootly('inc-part');

    $vo->fault({ mode => 'drop', path => '/api-public/v1/incidents', method => 'POST' });
    $vo->fault({ mode => 'invalid', path => '/api-public/v1/incidents', method => 'GET', count => 2 });
    $vo->fault({ mode => 'status', status => 503, path => '/api-public/v1/incidents', method => 'GET' });
    $vo->fault({ mode => 'slow', delay => 3, path => '/api-public/v1/incidents', method => 'GET' });
    is(event('incident.created', incident(id => 'inc-part'))->{status}, 202, 'accepted');

    ok(wait_for(sub { linked()->{2201} }, 30), 'linked once a whole list is read') or evidence();
    my @lists = @{ vo_requests(path => '/api-public/v1/incidents', method => 'GET', wait => 5, timeout => 5) };
    is(scalar @lists, 5, 'the list was read five times: half a JSON document twice, a 503, a timeout, '
                         . 'then whole') or diag explain [map { $_->{status} } @lists];
    is(creates(), 1, 'and the create was never repeated');
    is(scalar(vo_incidents()), 1, 'one VictorOps incident');
    like($ng->error_log, qr/incident lookup for incident "inc-part" \(job [0-9a-f]+\) not delivered, attempt \d+: victorops answered 200: "incomplete incident list: not a whole JSON document"/,
         'an unreadable list is retried, and logged') or evidence();
};

scenario 'a create answered with half a JSON document is looked for, not dead-lettered' => sub {
    fresh();
    seed_rootly('inc-half');

    $vo->fault({ mode => 'invalid', path => '/api-public/v1/incidents', method => 'POST' });
    is(event('incident.created', incident(id => 'inc-half'))->{status}, 202, 'accepted');
    ok(wait_for(sub { linked()->{2201} }, 20), 'the incident VictorOps made is linked') or evidence();
    is(creates(), 1, 'created once');
    like($ng->error_log, qr/incident #2201 found, created by an earlier attempt/, 'found by its mark');
    is($ng->integration_status->{dead_lettered} // 0, 0, 'nothing dead-lettered');
};

scenario 'reconciliation repairs what dropped webhooks missed' => sub {
    fresh(sync_interval => '1s');
    seed_rootly(qw(inc-s1 inc-s2));

    event('incident.created', incident(id => 'inc-s1'));
    event('incident.created', incident(id => 'inc-s2'));
    ok(wait_for(sub { $ng->store_dump('select count(*) from links') =~ /^2$/m }, 10), 'both paged')
        or evidence();
    my %by = map { $_->{entityDisplayName} => $_ } vo_incidents();
    my $s1 = $by{'Checkout down (inc-s1)'};

    # carol acknowledges inc-s1 in VictorOps: the webhook never arrives
    is(vo_api(PATCH => '/api-public/v1/incidents/ack',
              { userName => 'carol', incidentNames => [ $s1->{incidentNumber} ] })->{status}, 200,
       'acknowledged in VictorOps');
    ok(wait_for(sub { grep { /^VictorOps incident #$s1->{incidentNumber} acknowledged by carol \(found by reconciliation\)$/ }
                      timeline('inc-s1', timeout => 0, wait => 0) }, 15),
       'Rootly timeline gets the acknowledgement') or evidence();

    # inc-s2 is resolved in Rootly: the incident.resolved webhook is lost
    $rootly->seed({ incidents => [ { id => 'inc-s1', title => 'Checkout down (inc-s1)' },
                                   { id => 'inc-s2', title => 'Checkout down (inc-s2)', status => 'resolved' } ] });
    my $p = vo_requests(path => '/api-public/v1/incidents/resolve', wait => 1, timeout => 15);
    is(scalar @$p, 1, 'VictorOps resolve sent by reconciliation') or evidence();
    is_deeply($p->[0]{json}{incidentNames}, [ $by{'Checkout down (inc-s2)'}{incidentNumber} ],
              'for the incident of inc-s2');

    sleep 2.5;
    is(scalar @{ vo_requests(path => '/api-public/v1/incidents/resolve', timeout => 0) }, 1,
       'once');
    is(scalar(grep { /found by reconciliation/ } timeline('inc-s1', timeout => 0)), 1,
       'the acknowledgement is reported once');
    my $st = $ng->integration_status;
    ok($st->{sync}{runs} >= 2, 'status: sync runs') or diag explain $st;
    ok($st->{sync}{repairs} >= 2, 'status: sync repairs');
    like($ng->error_log, qr/reconciliation of \d+ links made \d+ repairs/, 'logged');
};

$ng->stop if $ng;

done_testing();
