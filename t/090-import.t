# Importing VictorOps teams as Rootly teams (victorops_import_teams),
# against the mock APIs: authorization, dry run, create, unchanged on a
# second run, update of a team that exists with other values, a Rootly
# failure for one team, VictorOps failing, Rootly's 429 honoured, one
# import at a time (another meanwhile: 409; a dry run goes on), an import
# stopped by a reload, its hold let go.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(sleep time);
use VoMock;
use VoNginx qw(wait_for);

my $JSON = JSON::PP->new->utf8->canonical;

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');
my $vo = VoMock->start(kind => 'victorops', api_id => 'vo-id', api_key => 'vo-key');

my $ng = VoNginx->start(workers => 2, integration => {
    rootly_url => $rootly->url, api_url => $vo->url,
    api_id => 'vo-id', api_key => 'vo-key', admin_token => 'admin-test-token',
    sync_interval => 0, rootly_timeout => '2s',
}, server_extra => "        location = /import { victorops_import_teams acme; }\n");

my $http = HTTP::Tiny->new(timeout => 30);

sub import_teams {
    my (%o) = @_;
    my $res = $http->post($ng->url . '/import' . ($o{query} // ''),
        { headers => { Authorization => 'Bearer ' . ($o{token} // 'admin-test-token') } });
    $res->{json} = eval { $JSON->decode($res->{content}) };
    return $res;
}

sub rootly_teams {
    my %t = map { $_->{attributes}{name} => $_->{attributes} } @{ $rootly->state->{teams} // [] };
    return \%t;
}

sub writes { [ grep { $_->{method} ne 'GET' } @{ $rootly->requests(path => '/v1/teams', timeout => 0) } ] }

subtest 'authorization and method' => sub {
    is(import_teams(token => 'wrong')->{status}, 401, 'a wrong token: 401');
    is($http->get($ng->url . '/import')->{status}, 405, 'GET: 405');
    like($ng->error_log, qr/team import from 127\.0\.0\.1 unauthorized/, 'logged');
    unlike($ng->error_log, qr/admin-test-token|wrong/, 'tokens never logged');
    is(scalar @{ $vo->requests(timeout => 0) }, 0, 'VictorOps not asked');
};

subtest 'dry run, create, unchanged' => sub {
    $rootly->reset;
    $vo->reset;

    my $res = import_teams(query => '?dry_run=1');
    is($res->{status}, 200, 'dry run: 200') or diag $res->{content};
    is_deeply($res->{json}, { dry_run => JSON::PP::true, created => [qw(Payments Database)],
                              updated => [], unchanged => [], failed => [] }, 'the plan');
    is(scalar @{ writes() }, 0, 'nothing written to Rootly');

    $res = import_teams();
    is_deeply($res->{json}, { dry_run => JSON::PP::false, created => [qw(Payments Database)],
                              updated => [], unchanged => [], failed => [] }, 'created both')
        or diag $res->{content};
    my $teams = rootly_teams();
    is($teams->{Payments}{victor_ops_id}, 'team-payments', 'Payments carries victor_ops_id team-payments');
    is($teams->{Database}{victor_ops_id}, 'team-dba', 'Database carries team-dba');
    is($teams->{Payments}{description}, 'VictorOps team team-payments', 'and a description');
    my @posts = grep { $_->{method} eq 'POST' } @{ writes() };
    is(scalar(grep { $_->{status} == 201 } @posts), 2, 'two POST /v1/teams, valid for the OpenAPI schema');

    $rootly->requests(timeout => 0);
    $res = import_teams();
    is_deeply($res->{json}, { dry_run => JSON::PP::false, created => [], updated => [],
                              unchanged => [qw(Payments Database)], failed => [] }, 'again: unchanged');
    is(scalar(grep { $_->{method} ne 'GET' } @{ $rootly->requests(path => '/v1/teams', timeout => 0) }),
       2, 'no new writes (idempotent)');
    like($ng->error_log, qr/team import: 0 created, 0 updated, 2 unchanged, 0 failed/, 'logged');
};

subtest 'update, a failure, VictorOps failing, Rootly 429' => sub {
    $rootly->reset;
    $vo->reset;
    $rootly->seed({ teams => [ { name => 'Payments', victor_ops_id => 'old-id', description => 'mine' } ] });
    $rootly->fault({ mode => 'status', status => 500, path => '/v1/teams', method => 'POST' });

    my $res = import_teams();
    is($res->{status}, 200, 'answered 200') or diag $res->{content};
    is_deeply($res->{json}{updated}, ['Payments'], 'the existing team is updated');
    is(scalar @{ $res->{json}{failed} }, 1, 'the one Rootly refused is listed as failed');
    is($res->{json}{failed}[0]{name}, 'Database', 'by name');
    like($res->{json}{failed}[0]{error}, qr/^rootly answered 500/, 'with the error');
    my $put = [ grep { $_->{method} eq 'PUT' } @{ writes() } ];
    is(scalar @$put, 1, 'one PUT /v1/teams/{id}');
    is(rootly_teams()->{Payments}{victor_ops_id}, 'team-payments', 'victor_ops_id corrected');

    $rootly->fault({ mode => 'ratelimit', reset_in => 2, path => '/v1/teams', method => 'GET' });
    my $t0 = time;
    $res = import_teams();
    is_deeply($res->{json}{created}, ['Database'], 'after a 429 the import goes on') or diag $res->{content};
    ok(time - $t0 >= 1.5, sprintf('and waited for the reset (%.1f s)', time - $t0));

    $vo->fault({ mode => 'auth' });
    $res = import_teams();
    is($res->{status}, 502, 'VictorOps refusing the credentials: 502');
    like($res->{json}{error} // '', qr/VictorOps teams could not be read/, 'saying so');
};

sub import_in_background {
    return $ng->post_in_background('/import' . ($_[0] // ''),
        headers => { Authorization => 'Bearer admin-test-token' });
}

subtest 'one import at a time: another meanwhile gets 409, a dry run goes on' => sub {
    $rootly->reset;
    $vo->reset;

    # Rootly answering each call 1 s late: the import takes about 4 s
    $rootly->fault({ mode => 'slow', delay => 1, count => -1, path => '/v1/teams' });
    my $started = () = $ng->log_lines(qr/team import started/);
    my $first = import_in_background();
    ok(wait_for(sub { $ng->log_lines(qr/team import started/) > $started }, 10, 0.05),
       'the first import is under way') or diag $ng->log_tail;

    # both workers: whichever takes them, the hold is the integration's
    for my $n (1 .. 2) {
        my $res = import_teams(query => ($n == 1 ? '' : '?x=1'));
        is($res->{status}, 409, "import $n meanwhile: 409") or diag $res->{content};
        is_deeply($res->{json}, { error => 'a team import is already running' }, 'saying why');
    }
    is(scalar($ng->log_lines(qr/team import refused: another one is running/)), 2, 'logged');

    my $res = import_teams(query => '?dry_run=1');
    is($res->{status}, 200, 'a dry run meanwhile: 200, not held back') or diag $res->{content};
    is($res->{json}{dry_run}, JSON::PP::true, 'a dry run');

    $res = $first->();
    is($res->{status}, 200, 'the first import: 200') or diag $res->{content};
    is_deeply($res->{json}, { dry_run => JSON::PP::false, created => [qw(Payments Database)],
                              updated => [], unchanged => [], failed => [] }, 'it created both')
        or diag $res->{content};
    is(scalar(grep { $_->{method} eq 'POST' } @{ writes() }), 2, 'each team created once');

    $res = import_teams();
    is($res->{status}, 200, 'the next import, after it: 200') or diag $res->{content};
    is_deeply($res->{json}{unchanged}, [qw(Payments Database)], 'both unchanged');
};

subtest 'a reload stops a running import at once, and says so' => sub {
    $rootly->reset;
    $vo->reset;

    # 6 VictorOps teams, Rootly answering each call 1.5 s late: the import
    # would take about 18 s
    $vo->seed({ teams => [ map { { name => "Team $_", slug => "team-$_" } } 1 .. 6 ] });
    $rootly->fault({ mode => 'slow', delay => 1.5, count => -1, path => '/v1/teams' });

    my $client = import_in_background();

    ok(wait_for(sub { $ng->error_log =~ /team import: 6 VictorOps teams/ }, 10), 'the import is under way')
        or diag $ng->error_log;
    sleep 0.5;    # a Rootly call is in flight

    my $t0 = time;
    my @old = $ng->reload(nowait => 1);
    my $gone = wait_for(sub { !grep { VoNginx::alive($_) } @old }, 15, 0.05);
    my $took = time - $t0;
    ok($gone && $took < 3, sprintf('the old workers are gone within 3 s (%.1f s)', $took));
    like($ng->error_log, qr/team import stopped: nginx is shutting down \(\d of 6 teams done\)/,
         'logged: the import stopped');

    my $res = $client->();
    is($res->{status}, 503, 'the waiting client got 503') or diag explain $res;
    like($res->{content} // '', qr/"error":"nginx is shutting down: the team import stopped, run it again"/,
         'saying why');
    ok(scalar(keys %{ rootly_teams() }) < 6, 'not every team was imported');
    $ng->wait_new_workers(\@old);

    # the stopped import let its hold go: the next one runs
    $rootly->reset;
    $vo->reset;
    $res = import_teams();
    is($res->{status}, 200, 'an import after the reload: 200, not 409') or diag $res->{content};
    is_deeply($res->{json}{created}, [qw(Payments Database)], 'and it ran');
};

$ng->stop;

done_testing();
