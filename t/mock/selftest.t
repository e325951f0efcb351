# Self-test of the Rootly / VictorOps API mocks (t/mock/vomock.py) and their
# Perl driver (t/lib/VoMock.pm). Run from the project root: prove t/mock/selftest.t

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

use VoMock;

my $J = JSON::PP->new->utf8->canonical;
my $TOKEN = 'rootly-test-token';
my $http = HTTP::Tiny->new(timeout => 10);

my $rootly = VoMock->start(kind => 'rootly', token => $TOKEN);
my $vo = VoMock->start(kind => 'victorops', api_id => 'vo-id', api_key => 'vo-key');

# -- helpers

sub call {
    my ($client, $mock, $method, $path, $body, $headers) = @_;
    my %headers = map { defined $headers->{$_} ? ($_ => $headers->{$_}) : () } keys %$headers;
    my $res = $client->request($method, $mock->url . $path, {
        headers => \%headers,
        defined $body ? (content => ref $body ? $J->encode($body) : $body) : (),
    });
    $res->{json} = eval { $J->decode($res->{content}) };
    return $res;
}

# rootly(METHOD, PATH, BODY?, HEADER => VALUE...); a header set to undef is left out
sub rootly {
    my ($method, $path, $body, %headers) = @_;
    return call($http, $rootly, $method, $path, $body, {
        Authorization => "Bearer $TOKEN", 'Content-Type' => 'application/vnd.api+json', %headers });
}

sub vo {
    my ($method, $path, $body, %headers) = @_;
    return call($http, $vo, $method, $path, $body, {
        'X-VO-Api-Id' => 'vo-id', 'X-VO-Api-Key' => 'vo-key', 'Content-Type' => 'application/json', %headers });
}

sub new_alert {
    my (%attributes) = @_;
    return { data => { type => 'alerts', attributes => { summary => 'Disk full on db-1', %attributes } } };
}

sub create_alert {
    my $res = rootly(POST => '/v1/alerts', new_alert(@_));
    is $res->{status}, 201, 'alert created' or diag $res->{content};
    return $res->{json}{data};
}

sub error_detail { $_[0]{json}{errors}[0]{detail} // '' }

# Runs CODE in a child process after DELAY seconds; returns the child's pid.
sub in_child {
    my ($delay, $code) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    sleep $delay;
    POSIX::_exit($code->() ? 0 : 1);
}

sub gone {
    my ($pid) = @_;
    for (1 .. 100) {
        return 1 unless kill 0, $pid;
        open my $fh, '<', "/proc/$pid/stat" or return 1;
        return 1 if (split ' ', scalar <$fh>)[2] eq 'Z';
        sleep 0.05;
    }
    return 0;
}

# -- tests

subtest 'start-up' => sub {
    for my $mock ($rootly, $vo) {
        like $mock->url, qr{^http://127\.0\.0\.1:\d+$}, $mock->kind . ' url';
        is $mock->url, 'http://127.0.0.1:' . $mock->port, 'url matches port';
        my $res = $http->get($mock->url . '/_mock/health');
        is "$res->{status} $res->{content}", '200 ok', 'health';
        ok -f $mock->log_file, 'log file ' . $mock->log_file;
    }
};

subtest 'rootly: authentication and rate-limit headers' => sub {
    my $res = rootly(GET => '/v1/teams', undef, Authorization => undef);
    is $res->{status}, 401, 'no token: 401';
    is $res->{json}{errors}[0]{code}, 'unauthorized', 'JSON:API error code';
    is $res->{json}{errors}[0]{status}, '401', 'status is a string';
    is $res->{headers}{'content-type'}, 'application/vnd.api+json', 'JSON:API content type';

    is rootly(GET => '/v1/teams', undef, Authorization => 'Bearer wrong')->{status}, 401, 'wrong token: 401';
    is rootly(GET => '/v1/teams', undef, Authorization => "Token $TOKEN")->{status}, 401, 'not Bearer: 401';

    my $first = rootly(GET => '/v1/teams');
    my $second = rootly(GET => '/v1/teams');
    is $first->{status}, 200, 'valid token: 200';
    is $first->{headers}{'x-ratelimit-limit'}, 3000, 'X-RateLimit-Limit';
    is $second->{headers}{'x-ratelimit-remaining'}, $first->{headers}{'x-ratelimit-remaining'} - 1,
        'X-RateLimit-Remaining decrements';
    is $second->{headers}{'x-ratelimit-used'}, $first->{headers}{'x-ratelimit-used'} + 1, 'X-RateLimit-Used';
    cmp_ok $first->{headers}{'x-ratelimit-reset'}, '>', time, 'X-RateLimit-Reset is in the future';
    cmp_ok $first->{headers}{'x-ratelimit-reset'}, '<=', time + 61, '... within the 60 s window';
};

subtest 'rootly: alert lifecycle' => sub {
    $rootly->reset;
    my $alert = create_alert(
        description => 'volume /data at 99%', external_id => 'vo-entity-1',
        labels => [{ key => 'host', value => 'db-1' }, { key => 'cpu', value => 97.5 }, { key => 'prod', value => JSON::PP::true }],
        data => { any => ['thing'] });
    like $alert->{id}, qr/^[0-9a-f-]{36}$/, 'uuid id';
    is $alert->{type}, 'alerts', 'type alerts';
    my $a = $alert->{attributes};
    like $a->{short_id}, qr/^[A-Z]{3}[0-9]{3}$/, 'short_id';
    is_deeply [@$a{qw(summary status source external_id)}], ['Disk full on db-1', 'triggered', 'api', 'vo-entity-1'],
        'attributes echoed, status triggered, source api';
    is $a->{url}, "https://rootly.com/account/alerts/$a->{short_id}", 'url';
    is $a->{labels}[1]{value}, 97.5, 'labels echoed';
    ok $a->{created_at} && $a->{updated_at}, 'timestamps';

    my $res = rootly(GET => "/v1/alerts/$alert->{id}");
    is $res->{status}, 200, 'GET alert';
    is $res->{json}{data}{attributes}{short_id}, $a->{short_id}, 'same alert';

    $res = rootly(POST => "/v1/alerts/$alert->{id}/acknowledge", undef, 'Content-Type' => undef);
    is $res->{status}, 200, 'acknowledge without body';
    is $res->{json}{data}{attributes}{status}, 'acknowledged', 'status acknowledged';

    $res = rootly(POST => "/v1/alerts/$alert->{id}/events",
                  { data => { type => 'alert_events', attributes => { kind => 'note', details => 'Acked in VictorOps' } } });
    is $res->{status}, 201, 'alert event created';
    is $res->{json}{data}{type}, 'alert_events', 'type alert_events';
    is $res->{json}{data}{attributes}{details}, 'Acked in VictorOps', 'details';

    $res = rootly(POST => "/v1/alerts/$alert->{id}/resolve",
                  { data => { type => 'alerts', attributes => { resolution_message => 'Recovered' } } });
    is $res->{status}, 200, 'resolve';
    is $res->{json}{data}{attributes}{status}, 'resolved', 'status resolved';
    ok $res->{json}{data}{attributes}{ended_at}, 'ended_at set';

    $res = rootly(POST => "/v1/alerts/$alert->{id}/acknowledge");
    is $res->{status}, 400, 'acknowledging a resolved alert: 400';
    like error_detail($res), qr/resolved/, '... says why';
    is rootly(POST => "/v1/alerts/$alert->{id}/resolve", undef, 'Content-Type' => undef)->{status}, 200,
        'resolving twice is fine, body optional';

    is rootly(POST => '/v1/alerts/00000000-0000-0000-0000-000000000000/acknowledge')->{status}, 404, 'ack unknown: 404';
    is rootly(GET => '/v1/alerts/nope')->{status}, 404, 'GET unknown: 404';
    is rootly(POST => '/v1/alerts/nope/events',
              { data => { type => 'alert_events', attributes => { kind => 'note', details => 'x' } } })->{status},
        404, 'event on unknown alert: 404';

    my $first = create_alert(deduplication_key => 'entity-7');
    my $again = create_alert(deduplication_key => 'entity-7');
    is $again->{id}, $first->{id}, 'same deduplication_key on an open alert: same alert';

    $res = rootly(GET => '/v1/alerts?filter[status]=resolved');
    is $res->{status}, 200, 'list alerts';
    is scalar @{ $res->{json}{data} }, 1, 'filter[status]';
    is $res->{json}{meta}{total_count}, 1, 'meta.total_count';
    $res = rootly(GET => "/v1/alerts/$alert->{id}/events?filter[kind]=note");
    is scalar @{ $res->{json}{data} }, 1, 'list alert events, filter[kind]';
};

subtest 'rootly: request validation against the OpenAPI schema' => sub {
    my %cases = (
        'unknown attribute' => [new_alert(bogus => 1), qr/'bogus' was unexpected\) at \$\.data\.attributes$/],
        'missing summary' => [{ data => { type => 'alerts', attributes => { description => 'x' } } },
                              qr/'summary' is a required property/],
        'label value object' => [new_alert(labels => [{ key => 'k', value => { a => 1 } }]),
                                 qr/labels\[0\]\.value/],
        'label without key' => [new_alert(labels => [{ value => 'v' }]), qr/'key' is a required property/],
        'status outside enum' => [new_alert(status => 'firing'), qr/'firing' is not one of/],
        'wrong type' => [{ data => { type => 'alert', attributes => { summary => 'x' } } }, qr/\$\.data\.type/],
        'summary not a string' => [new_alert(summary => 42), qr/is not of type 'string'/],
        'bad date-time' => [new_alert(started_at => 'yesterday'), qr/date-time/],
        'no data' => [{ type => 'alerts' }, qr/'data' is a required property/],
    );
    for my $name (sort keys %cases) {
        my ($body, $detail) = @{ $cases{$name} };
        my $res = rootly(POST => '/v1/alerts', $body);
        is $res->{status}, 422, "$name: 422";
        is $res->{json}{errors}[0]{code}, 'invalid', "$name: code invalid";
        like error_detail($res), $detail, "$name: detail";
    }
    is rootly(POST => '/v1/alerts', '')->{status}, 422, 'empty body for a required body: 422';

    my $res = rootly(POST => '/v1/alerts', new_alert(
        description => undef, noise => undef, external_url => undef, started_at => '2026-01-02T03:04:05Z',
        labels => [{ key => 's', value => 'x' }, { key => 'n', value => 3 }, { key => 'b', value => JSON::PP::false }]));
    is $res->{status}, 201, 'nullable fields accept null; label values string/number/boolean'
        or diag $res->{content};

    is rootly(POST => '/v1/alerts', new_alert(), 'Content-Type' => 'application/json')->{status}, 201,
        'application/json accepted too';
    $res = rootly(POST => '/v1/alerts', new_alert(), 'Content-Type' => 'text/plain');
    is $res->{status}, 415, 'other content type: 415';
    is $res->{json}{errors}[0]{status}, '415', '... JSON:API error';
    $res = rootly(POST => '/v1/alerts', '{"data":');
    is $res->{status}, 400, 'invalid JSON: 400';
    like error_detail($res), qr/not valid JSON/, '... says so';

    my $alert = create_alert();
    is rootly(POST => "/v1/alerts/$alert->{id}/events",
              { data => { type => 'alert_events', attributes => { kind => 'note' } } })->{status},
        422, 'alert event without details: 422';
    is rootly(POST => "/v1/alerts/$alert->{id}/resolve",
              { data => { type => 'alerts', attributes => { resolution_message => 'x', extra => 1 } } })->{status},
        422, 'resolve body validated too';
};

subtest 'rootly: incidents and timeline events' => sub {
    $rootly->reset;
    my $id = '3f1c2b9a-0d4e-4c8b-9f5a-1b2c3d4e5f60';
    $rootly->seed({ incidents => [
        { id => $id, title => 'Checkout errors', status => 'started', severity => 'SEV1',
          groups => ['Payments'], victor_ops_incident_id => '2201' },
        { title => 'Old outage', status => 'resolved' },
    ] });

    my $res = rootly(GET => "/v1/incidents/$id");
    is $res->{status}, 200, 'GET seeded incident';
    my $inc = $res->{json}{data};
    is $inc->{type}, 'incidents', 'type incidents';
    is_deeply [@{ $inc->{attributes} }{qw(title status slug victor_ops_incident_id)}],
        ['Checkout errors', 'started', 'checkout-errors', '2201'], 'attributes';
    is $inc->{attributes}{severity}{data}{attributes}{name}, 'SEV1', 'severity as nested JSON:API resource';
    is $inc->{attributes}{groups}[0]{slug}, 'payments', 'groups';
    is rootly(GET => '/v1/incidents/old-outage')->{json}{data}{attributes}{status}, 'resolved', 'GET by slug';
    is rootly(GET => '/v1/incidents/nope')->{status}, 404, 'unknown incident: 404';

    $res = rootly(POST => "/v1/incidents/$id/events",
                  { data => { type => 'incident_events', attributes => { event => 'VictorOps #2201 acknowledged by alice' } } });
    is $res->{status}, 201, 'incident event created';
    is $res->{json}{data}{type}, 'incident_events', 'type incident_events';
    my $ev = $res->{json}{data}{attributes};
    is_deeply [@$ev{qw(event visibility)}], ['VictorOps #2201 acknowledged by alice', 'internal'],
        'event, default visibility internal';
    ok $ev->{occurred_at} && $ev->{created_at}, 'occurred_at, created_at';

    is rootly(POST => "/v1/incidents/$id/events",
              { data => { type => 'incident_events', attributes => { event => 'x', visibility => 'external' } } })
        ->{json}{data}{attributes}{visibility}, 'external', 'visibility external';
    is rootly(POST => "/v1/incidents/$id/events",
              { data => { type => 'incident_events', attributes => { event => 'x', visibility => 'public' } } })
        ->{status}, 422, 'visibility outside enum: 422';
    is rootly(POST => '/v1/incidents/nope/events',
              { data => { type => 'incident_events', attributes => { event => 'x' } } })->{status},
        404, 'event on unknown incident: 404';
    is scalar @{ rootly(GET => "/v1/incidents/$id/events")->{json}{data} }, 2, 'list incident events';
    is scalar @{ $rootly->state->{incidents}[0]{events} }, 2, 'state dump shows the events';
};

subtest 'rootly: teams' => sub {
    $rootly->reset;
    my $res = rootly(POST => '/v1/teams',
                     { data => { type => 'groups', attributes => { name => 'Payments', victor_ops_id => 'team-payments' } } });
    is $res->{status}, 201, 'team created';
    my $team = $res->{json}{data};
    is $team->{type}, 'groups', 'type groups';
    is_deeply [@{ $team->{attributes} }{qw(name slug victor_ops_id)}], ['Payments', 'payments', 'team-payments'],
        'attributes';

    $res = rootly(GET => '/v1/teams?filter[name]=Payments');
    is scalar @{ $res->{json}{data} }, 1, 'filter[name] finds it';
    is $res->{json}{data}[0]{id}, $team->{id}, '... the same team';
    $res = rootly(GET => '/v1/teams?filter[name]=Nobody');
    is_deeply [$res->{json}{data}, $res->{json}{meta}{total_count}], [[], 0], 'filter[name] no match';

    $res = rootly(PUT => "/v1/teams/$team->{id}",
                  { data => { type => 'groups', attributes => { description => 'Payments on-call', victor_ops_id => 'team-pay2' } } });
    is $res->{status}, 200, 'PUT team';
    is $res->{json}{data}{attributes}{victor_ops_id}, 'team-pay2', 'updated';
    is rootly(PUT => '/v1/teams/payments', { data => { type => 'groups', attributes => { color => '#FF0000' } } })
        ->{json}{data}{attributes}{color}, '#FF0000', 'PUT by slug';
    is rootly(PUT => '/v1/teams/nope', { data => { type => 'groups', attributes => { color => '#FF0000' } } })->{status},
        404, 'PUT unknown team: 404';
    is rootly(POST => '/v1/teams', { data => { type => 'groups', attributes => { name => 'payments' } } })->{status},
        422, 'duplicate name: 422';
    is rootly(POST => '/v1/teams', { data => { type => 'teams', attributes => { name => 'X' } } })->{status},
        422, 'type must be groups';
    is rootly(POST => '/v1/teams', { data => { type => 'groups', attributes => { name => 'X', victor_ops => 1 } } })
        ->{status}, 422, 'unknown team attribute: 422';
};

subtest 'rootly: unknown routes' => sub {
    my $res = rootly(GET => '/v1/nothing-here');
    is $res->{status}, 404, 'unknown path: 404';
    is $res->{json}{errors}[0]{status}, '404', 'JSON:API error';
    is rootly(DELETE => '/v1/alerts')->{status}, 404, 'unknown method on a known path: 404';
    # in the whole document and in the part of it kept in t/mock
    $res = rootly(GET => '/v1/teams/properties');
    is $res->{status}, 501, 'operation in the spec but not simulated: 501';
    like error_detail($res), qr/listGroupCatalogProperties/,
        '... names the operation';
};

subtest 'faults' => sub {
    $rootly->reset;

    $rootly->fault({ mode => 'status', status => 500 });
    my $res = rootly(GET => '/v1/teams');
    is $res->{status}, 500, 'status fault: 500';
    is $res->{json}{errors}[0]{status}, '500', '... with a JSON:API error body';
    is rootly(GET => '/v1/teams')->{status}, 200, 'count defaults to 1';

    $rootly->fault({ mode => 'status', status => 503, path => '/v1/teams', body => { down => 'for maintenance' } });
    is rootly(GET => '/v1/alerts')->{status}, 200, 'path filter: other paths unaffected';
    $res = rootly(GET => '/v1/teams');
    is_deeply [$res->{status}, $res->{json}], [503, { down => 'for maintenance' }], 'custom status and body';

    $rootly->fault({ mode => 'status', status => 502, method => 'POST', path => '/v1/alerts' });
    is rootly(GET => '/v1/alerts')->{status}, 200, 'method filter: GET unaffected';
    is rootly(POST => '/v1/alerts', new_alert())->{status}, 502, '... POST gets the fault';

    $rootly->fault({ mode => 'status', status => 500, count => 2 });
    is_deeply [map { rootly(GET => '/v1/teams')->{status} } 1 .. 3], [500, 500, 200], 'count 2';

    $rootly->fault({ mode => 'status', status => 500, count => -1 });
    is_deeply [map { rootly(GET => '/v1/teams')->{status} } 1 .. 3], [500, 500, 500], 'count -1: forever';
    is scalar @{ $rootly->state->{faults} }, 1, 'state lists the pending fault';
    $rootly->reset;
    is rootly(GET => '/v1/teams')->{status}, 200, 'reset clears faults';

    $rootly->fault({ mode => 'ratelimit', reset_in => 30, retry_after => 7 });
    $res = rootly(GET => '/v1/teams');
    is $res->{status}, 429, 'ratelimit: 429';
    is_deeply $res->{json}, { error => 'Rate limit exceeded. Try again later.' }, 'Rootly 429 body';
    is $res->{headers}{'x-ratelimit-remaining'}, 0, 'X-RateLimit-Remaining: 0';
    cmp_ok abs($res->{headers}{'x-ratelimit-reset'} - (time + 30)), '<=', 2, 'X-RateLimit-Reset = now + reset_in';
    is $res->{headers}{'retry-after'}, 7, 'Retry-After when asked for';
    $rootly->fault({ mode => 'ratelimit' });
    $res = rootly(GET => '/v1/teams');
    ok !exists $res->{headers}{'retry-after'}, 'no Retry-After by default';
    cmp_ok abs($res->{headers}{'x-ratelimit-reset'} - (time + 2)), '<=', 2, 'reset_in defaults to 2';

    $rootly->fault({ mode => 'remaining0', reset_in => 10 });
    $res = rootly(GET => '/v1/teams');
    is $res->{status}, 200, 'remaining0: normal answer';
    is_deeply [@{ $res->{headers} }{qw(x-ratelimit-remaining x-ratelimit-used)}], [0, 3000], '... budget used up';

    $rootly->fault({ mode => 'auth' });
    $res = rootly(GET => '/v1/teams');
    is $res->{status}, 401, 'auth: 401 despite a valid token';
    is $res->{json}{errors}[0]{code}, 'unauthorized', '... Rootly body';

    $rootly->fault({ mode => 'invalid' });
    $res = rootly(POST => '/v1/alerts', new_alert(summary => 'half answer'));
    is $res->{status}, 201, 'invalid: real status';
    ok !defined $res->{json}, '... body is not valid JSON';
    is $rootly->state->{alerts}[-1]{attributes}{summary}, 'half answer', '... but the request was processed';

    $rootly->fault({ mode => 'reset' });
    $res = call(HTTP::Tiny->new(keep_alive => 0, timeout => 5), $rootly, GET => '/v1/teams', undef,
                { Authorization => "Bearer $TOKEN" });
    is $res->{status}, 599, 'reset: no HTTP answer';
    like $res->{content}, qr/reset|closed|unexpected end|broken/i, '... connection dropped';
    is $rootly->requests(path => '/v1/teams')->[-1]{status}, 0, '... recorded with status 0';
    is rootly(GET => '/v1/teams')->{status}, 200, 'next request fine';

    $rootly->fault({ mode => 'slow', delay => 1.5 });
    my $slow = in_child(0, sub {
        my $t0 = time;
        my $res = call(HTTP::Tiny->new(timeout => 10), $rootly, GET => '/v1/teams', undef,
                       { Authorization => "Bearer $TOKEN" });
        return $res->{status} == 200 && time - $t0 >= 1.4;
    });
    $rootly->requests(wait => 0);    # lets the child's request reach the mock first
    sleep 0.3;
    my $t0 = time;
    is rootly(GET => '/v1/alerts')->{status}, 200, 'slow: other requests still answered';
    cmp_ok time - $t0, '<', 1, '... without waiting for the slow one';
    waitpid $slow, 0;
    is $?, 0, 'slow request answered normally after the delay';

    # late: the request takes effect at once, the answer comes later
    $vo->fault({ mode => 'late', delay => 1.5, path => '/api-public/v1/incidents', method => 'POST' });
    my $late = in_child(0, sub {
        my $res = call(HTTP::Tiny->new(timeout => 0.5), $vo, POST => '/api-public/v1/incidents',
                       { summary => 'late one', details => 'd', userName => 'alice',
                         targets => [{ type => 'User', slug => 'bob' }] },
                       { 'X-VO-Api-Id' => 'vo-id', 'X-VO-Api-Key' => 'vo-key',
                         'Content-Type' => 'application/json' });
        return $res->{status} == 599;    # the client gave up waiting
    });
    waitpid $late, 0;
    is $?, 0, 'late: the client timed out before the answer';
    ok((grep { $_->{entityDisplayName} eq 'late one' } @{ $vo->state->{incidents} }),
       '... but the incident was created');
    $vo->reset;

    # drop: the request takes effect, the answer never comes
    $vo->fault({ mode => 'drop', path => '/api-public/v1/incidents', method => 'POST' });
    $res = call(HTTP::Tiny->new(keep_alive => 0, timeout => 5), $vo, POST => '/api-public/v1/incidents',
                { summary => 'dropped one', details => 'd', userName => 'alice',
                  targets => [{ type => 'User', slug => 'bob' }] },
                { 'X-VO-Api-Id' => 'vo-id', 'X-VO-Api-Key' => 'vo-key', 'Content-Type' => 'application/json' });
    is $res->{status}, 599, 'drop: no HTTP answer';
    ok((grep { $_->{entityDisplayName} eq 'dropped one' } @{ $vo->state->{incidents} }),
       '... but the incident was created');
    is $vo->requests(path => '/api-public/v1/incidents')->[-1]{status}, 200,
       '... recorded with the status it would have had';
    is vo(GET => '/api-public/v1/incidents')->{status}, 200, 'next request fine';
    $vo->reset;

    $vo->fault({ mode => 'status', status => 500 });
    $res = vo(GET => '/api-public/v1/team');
    is_deeply [$res->{status}, $res->{json}], [500, { message => 'Internal Server Error' }], 'VictorOps status fault body';
    $vo->fault({ mode => 'auth' });
    is_deeply vo(GET => '/api-public/v1/team')->{json}, { message => 'authentication failed' }, 'VictorOps auth fault';
    $vo->fault({ mode => 'ratelimit', reset_in => 3 });
    $res = vo(GET => '/api-public/v1/team');
    is_deeply [$res->{status}, $res->{json}, $res->{headers}{'retry-after'}], [429, { message => 'Too Many Requests' }, 3],
        'VictorOps 429 with Retry-After';

    # exact bytes (a Latin-1 error page), and extra headers on any answer
    $vo->fault({ mode => 'status', status => 502, body_base64 => 'PGgxPkVycmV1ciBk6XBhc3Pp6TwvaDE+',
                 content_type => 'text/html; charset=iso-8859-1' });
    $res = vo(GET => '/api-public/v1/team');
    is_deeply [$res->{status}, $res->{content}, $res->{headers}{'content-type'}],
        [502, "<h1>Erreur d\xe9pass\xe9\xe9</h1>", 'text/html; charset=iso-8859-1'], 'body_base64: the bytes as given';
    $vo->fault({ mode => 'ratelimit', retry_after => 999999, headers => { 'X-RateLimit-Reset' => '4102444800' } });
    $res = vo(GET => '/api-public/v1/team');
    is_deeply [$res->{status}, @{ $res->{headers} }{qw(retry-after x-ratelimit-reset)}], [429, 999999, 4102444800],
        'headers: set on the answer (VictorOps 429 with X-RateLimit-Reset)';
    $rootly->fault({ mode => 'ratelimit', headers => { 'X-RateLimit-Reset' => '4102444800' } });
    is rootly(GET => '/v1/teams')->{headers}{'x-ratelimit-reset'}, 4102444800, '... set last, over the mock\'s own';

    for my $bad ({ mode => 'bogus' }, { mode => 'status', count => 0 }, { mode => 'status', colour => 1 },
                 { mode => 'slow', delay => -1 }, { mode => 'status', status => 99 },
                 { mode => 'status', body_base64 => '!!' }, { mode => 'status', body => {}, body_base64 => '' },
                 { mode => 'status', headers => { 'X-A' => 1 } }) {
        ok !eval { $rootly->fault($bad); 1 }, 'bad fault rejected: ' . $J->encode($bad);
        like $@, qr/400/, '... with 400';
    }
    ok !eval { $vo->fault({ mode => 'remaining0' }); 1 }, 'remaining0 is Rootly-only';
    $rootly->reset;
    $vo->reset;
};

subtest 'recording and waiting' => sub {
    $rootly->reset;
    is_deeply $rootly->requests, [], 'reset clears records';
    rootly(POST => '/v1/alerts?source=test', new_alert(), 'X-Test-Header' => 'yes');
    rootly(GET => '/v1/teams');
    $rootly->requests;
    $rootly->state;

    my $all = $rootly->requests;
    is scalar @$all, 2, 'control requests are not recorded';
    my ($post) = @{ $rootly->requests(path => '/v1/alerts', method => 'POST') };
    is $post->{seq}, 1, 'seq';
    is_deeply [@$post{qw(method path status)}], ['POST', '/v1/alerts', 201], 'method, path, status';
    is_deeply $post->{query}, { source => 'test' }, 'query';
    is $post->{headers}{'x-test-header'}, 'yes', 'headers, lowercased names';
    is $post->{headers}{authorization}, "Bearer $TOKEN", 'authorization header';
    is $post->{headers}{'content-type'}, 'application/vnd.api+json', 'content-type header';
    is_deeply $J->decode($post->{body}), new_alert(), 'raw body';
    is $post->{json}{data}{attributes}{summary}, 'Disk full on db-1', 'parsed json';
    cmp_ok abs($post->{time} - time), '<', 10, 'time';
    is scalar @{ $rootly->requests(path => '/v1/t') }, 1, 'path is a prefix filter';
    is scalar @{ $rootly->requests(method => 'get') }, 1, 'method filter';

    my $t0 = time;
    my $got = $rootly->requests(wait => 3, timeout => 1);
    my $waited = time - $t0;
    is scalar @$got, 2, 'wait not satisfied: returns what there is';
    ok $waited >= 0.9 && $waited < 3, "... after the timeout (${waited}s)";

    my $child = in_child(0.5, sub { rootly(GET => '/v1/alerts')->{status} == 200 });
    $t0 = time;
    $got = $rootly->requests(wait => 1, path => '/v1/alerts', method => 'GET', timeout => 5);
    $waited = time - $t0;
    waitpid $child, 0;
    is scalar @$got, 1, 'wait satisfied by a later request';
    ok $waited >= 0.3 && $waited < 3, "... returned as soon as it arrived (${waited}s)";

    my $text = $rootly->requests(format => 'text');
    like $text, qr{^#1 +\d\d:\d\d:\d\d POST +/v1/alerts\?source=test -> 201 summary=Disk full on db-1$}m,
        'format=text';
};

subtest 'HTTP: keep-alive, chunked bodies, Expect: 100-continue' => sub {
    $rootly->reset;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $rootly->port, Timeout => 5)
        or die "connect: $!";
    my $read_reply = sub {
        my $head = '';
        $head .= $_ while defined($_ = <$sock>) && $_ ne "\r\n";
        my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
        my ($length) = $head =~ /^Content-Length: (\d+)/mi;
        read $sock, my $body, $length // 0;
        return ($status, $body, $head);
    };
    my $json = $J->encode(new_alert(summary => 'chunked'));
    my $half = int(length($json) / 2);
    print $sock "POST /v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $TOKEN\r\n"
        . "Content-Type: application/vnd.api+json\r\nTransfer-Encoding: chunked\r\n\r\n"
        . sprintf("%x\r\n%s\r\n%x;ext=1\r\n%s\r\n0\r\n\r\n", $half, substr($json, 0, $half),
                  length($json) - $half, substr($json, $half));
    my ($status, $body) = $read_reply->();
    is $status, 201, 'chunked request body accepted';
    is $J->decode($body)->{data}{attributes}{summary}, 'chunked', '... and parsed';

    print $sock "GET /v1/teams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $TOKEN\r\n\r\n";
    ($status) = $read_reply->();
    is $status, 200, 'second request on the same connection (keep-alive)';

    print $sock "POST /v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $TOKEN\r\n"
        . "Content-Type: application/json\r\nContent-Length: " . length($json) . "\r\nExpect: 100-continue\r\n\r\n";
    ($status) = $read_reply->();
    is $status, 100, '100 Continue';
    print $sock $json;
    ($status) = $read_reply->();
    is $status, 201, 'body after 100 Continue';
    close $sock;
    is $rootly->requests(path => '/v1/alerts')->[0]{body}, $json, 'chunked body recorded joined';
};

subtest 'victorops: authentication' => sub {
    my $res = vo(GET => '/api-public/v1/team', undef, 'X-VO-Api-Key' => undef);
    is_deeply [$res->{status}, $res->{json}], [401, { message => 'Unauthorized' }], 'missing key: 401';
    $res = vo(GET => '/api-public/v1/team', undef, 'X-VO-Api-Key' => 'wrong');
    is_deeply [$res->{status}, $res->{json}], [403, { message => 'authentication failed' }], 'wrong key: 403';
    is vo(GET => '/api-public/v1/team', undef, 'X-VO-Api-Id' => 'other')->{status}, 403, 'wrong id: 403';
    is $res->{headers}{'content-type'}, 'application/json', 'JSON content type';
};

subtest 'victorops: teams, policies and on-call (default seed)' => sub {
    $vo->reset;
    my $teams = vo(GET => '/api-public/v1/team')->{json};
    is ref $teams, 'ARRAY', 'bare array of teams';
    is_deeply [map { "$_->{name}/$_->{slug}/$_->{memberCount}" } @$teams], ['Payments/team-payments/2', 'Database/team-dba/2'],
        'name, slug, memberCount';
    is $teams->[0]{_selfUrl}, '/api-public/v1/team/team-payments', '_selfUrl';

    my $members = vo(GET => '/api-public/v1/team/team-payments/members')->{json}{members};
    is_deeply [map { $_->{username} } @$members], ['alice', 'bob'], 'members';
    my $policies = vo(GET => '/api-public/v1/team/team-payments/policies')->{json}{policies};
    is_deeply $policies->[0], { name => 'Payments Primary', slug => 'pol-payments-primary' }, 'policies';
    is vo(GET => '/api-public/v1/team/team-nope/members')->{status}, 404, 'unknown team: 404';

    my $oncall = vo(GET => '/api-public/v1/oncall/current')->{json}{teamsOnCall};
    is $oncall->[0]{team}{slug}, 'team-payments', 'teamsOnCall team';
    is $oncall->[0]{onCallNow}[0]{escalationPolicy}{slug}, 'pol-payments-primary', 'escalationPolicy';
    is $oncall->[0]{onCallNow}[0]{users}[0]{onCallUser}{username}, 'alice', 'onCallUser';
    is $oncall->[1]{onCallNow}[0]{users}[0]{onCallUser}{username}, 'bob', 'Database: bob';

    my $schedule = vo(GET => '/api-public/v2/team/team-dba/oncall/schedule?daysForward=1')->{json};
    is $schedule->{schedules}[0]{schedule}[0]{onCallUser}{username}, 'bob', 'v2 team on-call schedule';
    is vo(DELETE => '/api-public/v1/team')->{status}, 405, 'wrong method: 405';
    is vo(GET => '/api-public/v1/nothing')->{status}, 404, 'unknown path: 404';
};

subtest 'victorops: incidents' => sub {
    $vo->reset;
    my %create = (summary => 'Checkout errors', details => 'from Rootly', userName => 'alice',
                  targets => [{ type => 'EscalationPolicy', slug => 'pol-payments-primary' }]);
    my $res = vo(POST => '/api-public/v1/incidents', \%create);
    is $res->{status}, 200, 'create incident: 200';
    is $res->{json}{incidentNumber}, '2201', 'numbers start at 2201 (string)';
    ok $res->{json}{entityId}, 'entityId';
    is vo(POST => '/api-public/v1/incidents', { %create, targets => [{ type => 'User', slug => 'carol' }],
                                                 isMultiResponder => JSON::PP::true })->{json}{incidentNumber},
        '2202', 'then 2202';

    for my $missing (qw(summary details userName targets)) {
        my %body = %create;
        delete $body{$missing};
        $res = vo(POST => '/api-public/v1/incidents', \%body);
        is $res->{status}, 400, "missing $missing: 400";
        like $res->{json}{error}, qr/$missing/, '... error names it';
    }
    is vo(POST => '/api-public/v1/incidents', { %create, targets => [{ type => 'Team', slug => 'team-dba' }] })->{status},
        400, 'target type Team: 400';
    like vo(POST => '/api-public/v1/incidents', { %create, targets => [{ type => 'EscalationPolicy', slug => 'pol-x' }] })
        ->{json}{error}, qr/pol-x/, 'unknown policy: 400 naming it';
    is vo(POST => '/api-public/v1/incidents', { %create, userName => 'mallory' })->{status}, 400, 'unknown userName: 400';
    is vo(POST => '/api-public/v1/incidents', \%create, 'Content-Type' => 'text/plain')->{status}, 415,
        'not application/json: 415';
    is vo(POST => '/api-public/v1/incidents', '{oops')->{status}, 400, 'invalid JSON: 400';

    my $incidents = vo(GET => '/api-public/v1/incidents')->{json}{incidents};
    is scalar @$incidents, 2, 'list incidents';
    my $first = $incidents->[0];
    is_deeply [@$first{qw(incidentNumber currentPhase entityDisplayName)}], ['2201', 'UNACKED', 'Checkout errors'],
        'incidentNumber, currentPhase, entityDisplayName';
    is_deeply $first->{pagedTeams}, ['team-payments'], 'pagedTeams';
    is $first->{pagedPolicies}[0]{policy}{slug}, 'pol-payments-primary', 'pagedPolicies';
    is_deeply $first->{pagedUsers}, ['alice'], 'pagedUsers: the on-call user of the policy';

    my $ack = { userName => 'bob', incidentNames => ['2201', '4242'], message => 'looking' };
    my $results = vo(PATCH => '/api-public/v1/incidents/ack', $ack)->{json}{results};
    is_deeply [map { $_->{cmdAccepted} ? 1 : 0 } @$results], [1, 0], 'ack: accepted, unknown not';
    is $results->[0]{entityId}, $first->{entityId}, 'result entityId';
    like $results->[1]{message}, qr/not found/, 'unknown incident message';
    $results = vo(PATCH => '/api-public/v1/incidents/ack', $ack)->{json}{results};
    ok !$results->[0]{cmdAccepted}, 'ack twice: not accepted';
    like $results->[0]{message}, qr/already acknowledged/, '... already acknowledged';
    is vo(GET => '/api-public/v1/incidents')->{json}{incidents}[0]{currentPhase}, 'ACKED', 'phase ACKED';

    my $resolve = { userName => 'bob', incidentNames => ['2201'], message => 'fixed' };
    ok vo(PATCH => '/api-public/v1/incidents/resolve', $resolve)->{json}{results}[0]{cmdAccepted}, 'resolve accepted';
    $results = vo(PATCH => '/api-public/v1/incidents/resolve', $resolve)->{json}{results};
    ok !$results->[0]{cmdAccepted}, 'resolve twice: not accepted';
    is $results->[0]{message}, 'Incident is already resolved', '... already resolved';
    is vo(PATCH => '/api-public/v1/incidents/ack', $ack)->{json}{results}[0]{message}, 'Incident is already resolved',
        'ack after resolve: already resolved';
    ok vo(PATCH => '/api-public/v1/incidents/resolve', { userName => 'bob', incidentNames => ['2202'] })
        ->{json}{results}[0]{cmdAccepted}, 'an unacknowledged incident can be resolved';
    is vo(PATCH => '/api-public/v1/incidents/ack', { userName => 'bob' })->{status}, 400, 'ack without incidentNames: 400';
    is vo(PATCH => '/api-public/v1/incidents/ack', { %$ack, userName => 'mallory' })->{status}, 404, 'ack by unknown user: 404';
    is vo(POST => '/api-public/v1/incidents/ack', $ack)->{status}, 405, 'ack with POST: 405';

    my $number = vo(POST => '/api-public/v1/incidents', \%create)->{json}{incidentNumber};
    $res = vo(POST => '/api-public/v1/incidents/reroute', { userName => 'alice', reroutes => [
        { incidentNumber => $number, targets => [{ type => 'EscalationPolicy', slug => 'pol-dba-primary' }] },
        { incidentNumber => '2201', targets => [{ type => 'User', slug => 'carol' }] },
        { incidentNumber => '9999', targets => [{ type => 'User', slug => 'carol' }] },
    ] });
    is $res->{status}, 200, 'reroute: 200';
    my $statuses = $res->{json}{statuses};
    is_deeply [map { $_->{success} ? 1 : 0 } @$statuses], [1, 0, 0], 'open: success; resolved, unknown: not';
    is_deeply $statuses->[0]{targetStatus}, [{ slug => 'pol-dba-primary', success => JSON::PP::true, message => '' }],
        'targetStatus';
    my ($rerouted) = grep { $_->{incidentNumber} eq $number } @{ vo(GET => '/api-public/v1/incidents')->{json}{incidents} };
    is_deeply $rerouted->{pagedTeams}, ['team-payments', 'team-dba'], 'reroute pages the new team';
};

subtest 'slack: response_url messages' => sub {
    my $slack = VoMock->start(kind => 'slack');
    my $post = sub {
        my ($path, $body, $type) = @_;
        return $http->request('POST', $slack->url . $path,
            { headers => { 'Content-Type' => $type // 'application/json' }, content => $body });
    };
    my $res = $post->('/commands/T1/1/x', '{"text":"Paged","response_type":"in_channel"}');
    is_deeply [$res->{status}, $res->{content}], [200, 'ok'], 'a message: 200 ok';
    is $post->('/commands/T1/1/x', '{"response_type":"ephemeral"}')->{status}, 400, 'no text: 400';
    is $post->('/commands/T1/1/x', '{"text":"x","response_type":"loud"}')->{status}, 400, 'bad response_type: 400';
    is $post->('/commands/T1/1/x', 'text=x', 'application/x-www-form-urlencoded')->{status}, 400, 'a form: 400';
    is $post->('/elsewhere', '{"text":"x"}')->{status}, 404, 'not under /commands/: 404';
    is_deeply $slack->state->{messages}, [{ text => 'Paged', response_type => 'in_channel' }],
        'only the valid message is kept';
    $slack->reset;
    is_deeply $slack->state->{messages}, [], 'reset forgets them';
    $slack->stop;
};

subtest 'victorops: seeding and reset' => sub {
    $vo->seed({
        teams => [{ name => 'Search', slug => 'team-search', members => ['erin'],
                    policies => [{ name => 'Search Primary', slug => 'pol-search', onCall => ['erin'] }] }],
        incidents => [{ incidentNumber => '14', summary => 'Search slow', currentPhase => 'ACKED', policies => ['pol-search'] }],
    });
    is_deeply [map { $_->{slug} } @{ vo(GET => '/api-public/v1/team')->{json} }], ['team-search'], 'teams replaced';
    my $inc = vo(GET => '/api-public/v1/incidents')->{json}{incidents};
    is_deeply [@{ $inc->[0] }{qw(incidentNumber currentPhase)}], ['14', 'ACKED'], 'seeded incident';
    is_deeply $inc->[0]{pagedUsers}, ['erin'], 'seeded incident paged the policy on-call';
    ok vo(PATCH => '/api-public/v1/incidents/resolve', { userName => 'erin', incidentNames => ['14'] })
        ->{json}{results}[0]{cmdAccepted}, 'seeded users and incidents are usable';
    ok !eval { $vo->seed({ tems => [] }); 1 }, 'unknown seed key rejected';

    $vo->reset;
    is scalar @{ vo(GET => '/api-public/v1/team')->{json} }, 2, 'reset restores the default seed';
    is vo(POST => '/api-public/v1/incidents', { summary => 's', details => 'd', userName => 'alice',
                                                targets => [{ type => 'User', slug => 'bob' }] })->{json}{incidentNumber},
        '2201', 'numbering restarts';
    is_deeply $vo->state->{incidents}[0]{pagedUsers}, ['bob'], 'state dump';
};

subtest 'command line' => sub {
    my $script = "$FindBin::Bin/vomock.py";
    my $out = `/usr/bin/python3 $script --kind victorops --api-id a --api-key b --listen 0.0.0.0 2>&1`;
    isnt $? >> 8, 0, 'non-loopback listen address refused';
    like $out, qr/not a loopback address/, '... with a clear message';
    $out = `/usr/bin/python3 $script --kind rootly 2>&1`;
    like $out, qr/needs --token/, 'rootly needs --token';

    local $ENV{VOMOCK_OPENAPI} = '/nonexistent/rootly-openapi.json';
    ok !eval { VoMock->start(kind => 'rootly', token => 't'); 1 }, 'missing OpenAPI document';
    like $@, qr/OpenAPI document not found at \/nonexistent/, '... dies with a clear message';
};

subtest 'stopping' => sub {
    my @perl = ($^X, "-I$FindBin::Bin/../lib", '-MVoMock', '-e');
    my $start = 'local $| = 1; print VoMock->start(kind => "victorops", api_id => "a", api_key => "b")->pid, "\n";';

    open my $script, '-|', @perl, $start or die "cannot run perl: $!";
    chomp(my $mock_pid = <$script> // '');
    close $script;
    like $mock_pid, qr/^\d+$/, 'a script started a mock';
    ok gone($mock_pid), 'END stopped it when the script exited';

    my $script_pid = open $script, '-|', @perl, "$start sleep 30;" or die "cannot run perl: $!";
    chomp($mock_pid = <$script> // '');
    ok kill(0, $mock_pid), 'a long-running script started a mock';
    kill 'TERM', $script_pid;
    close $script;
    ok gone($mock_pid), 'SIGTERM to the script stopped its mock';

    my @pids = ($rootly->pid, $vo->pid);
    $_->stop for $rootly, $vo;
    ok gone($_), "mock $_ stopped" for @pids;
    ok !defined $rootly->pid, 'pid cleared';
    $rootly->stop;
    pass 'stopping twice is harmless';
};

done_testing;
