# Slack's /page and the team import on one PostgreSQL store shared by two
# nginx nodes (two workers each, their own node_id): one throwaway
# PostgreSQL 15 cluster (t/lib/VoPg.pm), the mock Rootly, the mock
# VictorOps and the mock Slack (response_url).
#
#   a. A /page command at A: answered at once (ephemeral), one VictorOps
#      incident, the outcome posted to response_url once; the same signed
#      request replayed at B (and at A) is refused as a replay (401), its
#      signature in the shared "signatures" table; nothing paged again.
#   b. The team import at A creates each VictorOps team as a Rootly team
#      once; run again at B it creates nothing new (all unchanged).
#   c. The clean-up deletes signatures older than slack_replay_window and
#      a minute, keeps the newer ones.
#   d. A store slower than Slack's 3 s (a trigger sleeps 3.5 s in the
#      INSERT): answered at 2.5 s all the same.  The signature's INSERT
#      slow: "could not be checked in time", nothing paged.  The page's
#      INSERT slow (being written): "being queued"; once written, paged
#      once and its outcome posted to response_url.
#   e. One team import at a time across the nodes: one running at A (a
#      slow Rootly), another at B or at A meanwhile is answered 409 and
#      creates nothing; the lease ("leases", task import) let go at the
#      end, the next at B runs.
#   f. PostgreSQL stopped: an import is answered 503 (its lease cannot
#      be taken), nothing asked of VictorOps or Rootly.
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
my $slack = VoMock->start(kind => 'slack');

my $SECRET = 'slack-test-secret';

sub node {
    my ($db, $id) = @_;
    return VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, api_url => $vo->url,
        api_id => 'vo-id', api_key => 'vo-key', api_user => 'alice',
        slack_signing_secret => $SECRET,
        slack_response_hosts => '127.0.0.1:' . $slack->port,
        admin_token => 'admin-test-token',
        store => $pg->uri(db => $db), node_id => $id, store_timeout => '5s',
        rootly_timeout => '4s', retry_max_delay => '1s', sync_interval => 0,
    }, server_extra => <<'_EOC_');
        location = /slack  { victorops_slack_command acme; }
        location = /import { victorops_import_teams acme; }
_EOC_
}

sub form {
    my (%f) = @_;
    my $enc = sub { my $s = shift; utf8::encode($s); $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge; $s };
    return join '&', map { "$_=" . $enc->($f{$_}) } sort keys %f;
}

# a signed command: the body, the timestamp and the signature, to replay
sub signed {
    my ($text) = @_;
    my $body = form(token => 'ignored', team_id => 'T1', channel_id => 'C-ops',
        user_id => 'U-alice', user_name => 'alice', command => '/page',
        text => $text, trigger_id => "tr.$$",
        response_url => $slack->url . "/commands/T1/$$/xyz");
    my $t = int time;
    return { body => $body, ts => $t,
             sig => 'v0=' . hmac_sha256_hex("v0:$t:$body", $SECRET) };
}

sub post_signed {
    my ($ng, $req) = @_;
    return $ng->post_webhook($req->{body}, path => '/slack', secret => undef,
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                     'X-Slack-Request-Timestamp' => $req->{ts},
                     'X-Slack-Signature' => $req->{sig} });
}

sub ephemeral {
    my ($res) = @_;
    return undef unless $res->{status} == 200 && $res->{json};
    return undef unless ($res->{json}{response_type} // '') eq 'ephemeral';
    return $res->{json}{text};
}

sub slack_messages { @{ $slack->state->{messages} } }

my $http = HTTP::Tiny->new(timeout => 30);

sub import_teams {
    my ($ng) = @_;
    my $res = $http->post($ng->url . '/import',
        { headers => { Authorization => 'Bearer admin-test-token' } });
    $res->{json} = eval { $JSON->decode($res->{content}) };
    return $res;
}

sub team_writes {
    return [ grep { $_->{method} ne 'GET' }
             @{ $rootly->requests(path => '/v1/teams', timeout => 0) } ];
}

sub evidence {
    my ($db, @nodes) = @_;
    diag "---- jobs";
    diag $pg->sql($db, 'select seq, kind, key, state, attempts, lease_owner, last_error from jobs order by seq');
    for my $ng (@nodes) {
        diag $ng->log_tail();
    }
}

$pg->createdb('slack');
my $A = node('slack', 'node-a');
my $B = node('slack', 'node-b');

subtest 'a. /page at A pages once and answers Slack; replayed at B: refused' => sub {
    $vo->reset;
    $slack->reset;

    my $req = signed('team-payments checkout is down');
    my $res = post_signed($A, $req);
    like(ephemeral($res) // '', qr/^Paging team-payments in VictorOps \(job [0-9a-f]{16}\); the incident number follows here\.$/,
         'A: answered at once, ephemeral') or diag $res->{content};

    ok(wait_for(sub { slack_messages() >= 1 }, 20, 0.1), 'the outcome reached response_url')
        or return evidence('slack', $A, $B);
    is_deeply((slack_messages())[0], { response_type => 'in_channel',
        text => 'Paged VictorOps policy pol-payments-primary, policy pol-payments-secondary: incident #2201 (checkout is down)' },
        'with the incident number');
    is($pg->sql('slack', 'select count(*) from signatures'), 1, 'its signature is in the shared store');

    $res = post_signed($B, $req);
    is($res->{status}, 401, 'B: the same signed request: 401') or diag $res->{content};
    like($B->error_log, qr/slack command from 127\.0\.0\.1 unauthorized: replayed request/,
         'B: logged as a replay');
    is(post_signed($A, $req)->{status}, 401, 'A: replayed there too: 401');

    $res = post_signed($B, signed('help'));
    like(ephemeral($res) // '', qr{`/page team-payments checkout is down`},
         'B: a new signed command is answered');

    sleep 1;
    my $creates = [ grep { $_->{path} eq '/api-public/v1/incidents' }
                    @{ $vo->requests(path => '/api-public/v1/incidents', method => 'POST', timeout => 0) } ];
    is(scalar @$creates, 1, 'one VictorOps create') or evidence('slack', $A, $B);
    is(scalar @{ $vo->state->{incidents} }, 1, 'one VictorOps incident');
    is(scalar(slack_messages()), 1, 'one message to response_url');
    ok(wait_for(sub { $pg->sql('slack', 'select count(*) from jobs') == 0 }, 10, 0.2), 'no job left')
        or evidence('slack', $A, $B);
    unlike(join("\n", map { $_->error_log } $A, $B), qr/\Q$SECRET\E/, 'the secret is never logged');
    no_alerts_logged('a', $A, $B);
};

subtest 'b. the team import at A, then at B: each team created once' => sub {
    $rootly->reset;
    $vo->reset;

    my $res = import_teams($A);
    is($res->{status}, 200, 'A: 200') or diag $res->{content};
    is_deeply($res->{json}, { dry_run => JSON::PP::false, created => [qw(Payments Database)],
                              updated => [], unchanged => [], failed => [] }, 'A: created both')
        or diag $res->{content};
    is(scalar @{ team_writes() }, 2, 'two writes to Rootly');

    $res = import_teams($B);
    is($res->{status}, 200, 'B: 200') or diag $res->{content};
    is_deeply($res->{json}, { dry_run => JSON::PP::false, created => [], updated => [],
                              unchanged => [qw(Payments Database)], failed => [] },
              'B: nothing new, both unchanged') or diag $res->{content};
    is(scalar @{ team_writes() }, 2, 'no new writes');

    my %t = map { $_->{attributes}{name} => $_->{attributes} } @{ $rootly->state->{teams} // [] };
    is(scalar keys %t, 2, 'two Rootly teams');
    is($t{Payments}{victor_ops_id}, 'team-payments', 'Payments carries team-payments');
    is($t{Database}{victor_ops_id}, 'team-dba', 'Database carries team-dba');
    no_alerts_logged('b', $A, $B);
};

subtest 'c. signatures older than slack_replay_window are deleted, newer ones kept' => sub {
    $pg->sql('slack', q{insert into signatures (integration, sig, seen_at) values
                        ('acme', 'v0=old'::bytea, victorops_now_ms() - 400000),
                   ('acme', 'v0=new'::bytea, victorops_now_ms() - 200000)});

    # new workers: their first chores include the once-a-minute clean-up
    $B->reload;
    ok(wait_for(sub { $pg->sql('slack', q{select count(*) from signatures where sig = 'v0=old'::bytea}) == 0 },
                     20, 0.2),
       'one 400 s old (slack_replay_window 300 s and a minute) is deleted')
        or return evidence('slack', $B);
    is($pg->sql('slack', q{select count(*) from signatures where sig = 'v0=new'::bytea}), 1,
            'one 200 s old is kept');
    no_alerts_logged('c', $A, $B);
};

subtest "d. a store slower than Slack's 3 s: answered in time, said what happened" => sub {
    $vo->reset;
    $slack->reset;

    # a slow INSERT, for the rows "which" picks, until dropped
    my $slow = sub {
        my ($table, $when) = @_;
        $pg->sql('slack', qq{create or replace function slow_$table() returns trigger
                        language plpgsql as \$\$ begin
                        if $when then perform pg_sleep(3.5); end if;
                        return new; end \$\$});
        $pg->sql('slack', qq{create trigger slow before insert on $table
                        for each row execute function slow_$table()});
    };
    my $fast = sub { $pg->sql('slack', "drop trigger slow on $_[0]") };

    # the signature is not recorded in time: nothing done
    $slow->('signatures', 'true');
    my $t0 = time;
    my $res = post_signed($A, signed('team-payments the store is slow'));
    my $took = time - $t0;
    $fast->('signatures');
    is(ephemeral($res), 'Sorry, the command could not be checked in time; nothing was paged. Try again.',
       'signature late: answered, nothing paged') or diag $res->{content};
    cmp_ok($took, '<', 3.2, sprintf 'before the store answered (%.2f s)', $took);
    ok(wait_for(sub { $A->log_lines(qr/slack command answered after 2500 ms without its store: the command not checked/) },
                5, 0.1), 'logged');
    sleep 2;
    is(scalar @{ $vo->requests(path => '/api-public/v1/incidents', method => 'POST', timeout => 0) }, 0,
       'no VictorOps create');
    is(scalar(slack_messages()), 0, 'nothing posted to response_url');
    is($pg->sql('slack', "select count(*) from jobs where key like 'slack:%'"), 0, 'no job');

    # the page is being written: it goes on, its outcome to response_url
    $slow->('jobs', q{new.key like 'slack:%'});
    $t0 = time;
    $res = post_signed($B, signed('team-payments the store is slow'));
    $took = time - $t0;
    is(ephemeral($res), 'Your page is being queued; the incident number follows here once it is sent.',
       'page being written: answered, the outcome to follow') or diag $res->{content};
    cmp_ok($took, '<', 3.2, sprintf 'before the store answered (%.2f s)', $took);
    ok(wait_for(sub { slack_messages() >= 1 }, 20, 0.1), 'the outcome reached response_url')
        or evidence('slack', $A, $B);
    $fast->('jobs');
    like((slack_messages())[0]{text} // '', qr/^Paged VictorOps policy pol-payments-primary, .*: incident #\d+ \(the store is slow\)$/,
         'with the incident number');
    sleep 1;
    is(scalar @{ $vo->requests(path => '/api-public/v1/incidents', method => 'POST', timeout => 0) }, 1,
       'one VictorOps create');
    is(scalar(slack_messages()), 1, 'one message');
    ok($B->log_lines(qr/slack command answered after 2500 ms without its store: the page still being queued/),
       'logged');
    no_alerts_logged('d', $A, $B);
};

subtest 'e. one team import at a time across the nodes' => sub {
    $rootly->reset;
    $vo->reset;

    # (whether it is held, imports finished)
    my $lease = sub { $pg->sql('slack', q{select until > victorops_now_ms(), rounds from leases
                                          where integration = 'acme' and task = 'import'}) };
    my ($held, $rounds) = split /\|/, $lease->();
    is($held, 'f', 'the lease of b.\'s imports was let go');

    # Rootly answering each call 1 s late: the import takes about 4 s
    $rootly->fault({ mode => 'slow', delay => 1, count => -1, path => '/v1/teams' });
    my $started = () = $A->log_lines(qr/team import started/);
    my $first = $A->post_in_background('/import',
        headers => { Authorization => 'Bearer admin-test-token' });
    ok(wait_for(sub { $A->log_lines(qr/team import started/) > $started }, 10, 0.05),
       'A: an import under way') or return evidence('slack', $A, $B);
    is((split /\|/, $lease->())[0], 't', 'A holds the lease');

    my $res = import_teams($B);
    is($res->{status}, 409, 'B meanwhile: 409') or diag $res->{content};
    is_deeply($res->{json}, { error => 'a team import is already running' }, 'saying why');
    ok($B->log_lines(qr/team import refused: another one is running \(node "node-a"\)/),
       'B: logged, naming the node that holds it') or diag $B->log_tail;
    is(import_teams($A)->{status}, 409, 'A meanwhile: 409 too');

    $res = $first->();
    is($res->{status}, 200, 'the import at A: 200') or diag $res->{content};
    is_deeply($res->{json}{created}, [qw(Payments Database)], 'it created both') or diag $res->{content};
    is(scalar(grep { $_->{method} eq 'POST' } @{ team_writes() }), 2, 'each team created once');
    is($lease->(), 'f|' . ($rounds + 1), 'the lease let go, the import counted');

    $res = import_teams($B);
    is($res->{status}, 200, 'the next at B: 200') or diag $res->{content};
    is_deeply($res->{json}{unchanged}, [qw(Payments Database)], 'both unchanged');
    no_alerts_logged('e', $A, $B);
};

subtest 'f. PostgreSQL stopped: an import is answered 503' => sub {
    $rootly->reset;
    $vo->reset;
    $pg->stop;

    my $res = import_teams($A);
    is($res->{status}, 503, 'answered 503') or diag $res->{content};
    is_deeply($res->{json}, { error => 'the store is unavailable: run the team import again' },
              'saying why');
    ok($A->log_lines(qr/team import not started: its lease in PostgreSQL could not be taken/), 'logged')
        or diag $A->log_tail;
    is(scalar @{ $vo->requests(timeout => 0) }, 0, 'VictorOps not asked');
    is(scalar @{ $rootly->requests(timeout => 0) }, 0, 'Rootly not asked');
};

$_->stop for grep { $_->pid } $A, $B;
$pg->stop;

done_testing();
