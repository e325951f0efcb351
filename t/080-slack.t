# Paging VictorOps from a Slack slash command, against mock VictorOps,
# Rootly and Slack (response_url) servers: X-Slack-Signature (Slack's
# published test vector, a stale timestamp, a wrong secret), ssl_check,
# each form of `text` (help, list, a team, a policy, an unknown slug),
# the response_url allow-list, channel and user allow-lists, errors
# answered as 200 ephemeral messages, and dead letters told to Slack
# while its response_url works.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP;
use Time::HiRes qw(sleep time);
use VoMock;
use VoNginx qw(wait_for);

my $JSON = JSON::PP->new->utf8->canonical;

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');
my $vo = VoMock->start(kind => 'victorops', api_id => 'vo-id', api_key => 'vo-key');
my $slack = VoMock->start(kind => 'slack');

my $SECRET = 'slack-test-secret';
my $VECTOR_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';

my $ng = VoNginx->start(workers => 2, integration => {
    rootly_url => $rootly->url, api_url => $vo->url,
    api_id => 'vo-id', api_key => 'vo-key', api_user => 'alice',
    slack_signing_secret => $SECRET, sync_interval => 0,
    slack_response_hosts => '127.0.0.1:' . $slack->port,
    slack_allowed_channels => 'C-ops C-db', slack_allowed_users => 'U-alice U-bob',
    rootly_timeout => '2s', retry_max_delay => '1s',
}, http_extra => <<"_EOC_", server_extra => <<'_EOC_');
    victorops_integration vector {
        rootly_token t;
        api_id vo-id;
        api_key vo-key;
        api_user alice;
        slack_signing_secret $VECTOR_SECRET;
        slack_replay_window 5000d;
        sync_interval 0;
    }
_EOC_
        location = /slack        { victorops_slack_command acme; }
        location = /slack-vector { victorops_slack_command vector; }
_EOC_

sub form {
    my (%f) = @_;
    my $enc = sub { my $s = shift; utf8::encode($s); $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge; $s };
    return join '&', map { "$_=" . $enc->($f{$_}) } sort keys %f;
}

my $serial = 0;

sub command {
    my ($text, %o) = @_;
    my $body = $o{body} // form(
        token => 'ignored', team_id => 'T1', channel_id => $o{channel} // 'C-ops',
        user_id => $o{user} // 'U-alice', user_name => $o{user_name} // 'alice', command => '/page',
        text => $text, trigger_id => 'tr.' . ++$serial,
        response_url => $o{response_url} // $slack->url . "/commands/T1/$serial/xyz",
    );
    my $t = $o{ts} // int time;
    my $sig = $o{sig} // 'v0=' . hmac_sha256_hex("v0:$t:$body", $o{secret} // $SECRET);
    my $res = $ng->post_webhook($body, path => $o{path} // '/slack', secret => undef,
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                     'X-Slack-Request-Timestamp' => $t, 'X-Slack-Signature' => $sig });
    return $res;
}

sub ephemeral {
    my ($res) = @_;
    return undef unless $res->{status} == 200 && $res->{json};
    return undef unless ($res->{json}{response_type} // '') eq 'ephemeral';
    return $res->{json}{text};
}

sub slack_messages { @{ $slack->state->{messages} } }

sub evidence {
    my @log = split /\n/, $ng->error_log;
    diag join "\n", @log > 30 ? @log[-30 .. -1] : @log;
    diag $ng->store_dump;
}

subtest 'signatures: the published vector, a stale timestamp, a wrong secret' => sub {
    my $body = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow'
        . '&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner'
        . '&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F'
        . 'commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN'
        . '&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    my $res = command(undef, path => '/slack-vector', body => $body, ts => 1531420618,
        sig => 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503');
    is($res->{status}, 200, "Slack's published test vector verifies");
    like(ephemeral($res) // '', qr{^Page a VictorOps team: `/webhook-collect <team or policy> \[summary\]`},
         'and, with an empty text, gets the help');

    $res = command(undef, path => '/slack-vector', body => $body, ts => 1531420618,
        sig => 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b504');
    is($res->{status}, 401, 'one hex digit off: 401');

    $res = command('help', ts => int(time) - 301);
    is($res->{status}, 401, 'a timestamp 301 s old: 401');
    like($ng->error_log, qr/slack command from 127\.0\.0\.1 unauthorized: timestamp outside the replay window/,
         'logged');
    is(command('help', ts => int(time) - 250)->{status}, 200, '250 s old is fine');

    $res = command('help', secret => 'not-the-secret');
    is($res->{status}, 401, 'a wrong secret: 401');
    like($ng->error_log, qr/slack command from 127\.0\.0\.1 unauthorized: bad signature/, 'logged');
    unlike($ng->error_log, qr/\Q$SECRET\E/, 'the secret is never logged');

    $res = $ng->post_webhook(form(text => 'help'), path => '/slack', secret => undef,
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded' });
    is($res->{status}, 401, 'no signature headers: 401');
};

subtest 'ssl_check, help and list' => sub {
    $vo->reset;
    my $res = command(undef, body => 'ssl_check=1&token=x');
    is($res->{status}, 200, 'ssl_check=1: 200');
    is($res->{content}, '', 'with an empty body');

    like(ephemeral(command('help')) // '', qr{`/page team-payments checkout is down`}, 'help: ephemeral usage');

    my $t0 = time;
    $res = command('list');
    my $text = ephemeral($res) // '';
    is($text, 'VictorOps teams: `team-payments` (Payments), `team-dba` (Database). '
              . 'Page one with `/page <team> [summary]`.', 'list: the VictorOps teams') or diag $res->{content};
    ok(time - $t0 < 3, 'answered within 3 s');
    is(scalar @{ $vo->requests(path => '/api-public/v1/team', timeout => 0) }, 1, 'read from VictorOps');

    $vo->fault({ mode => 'status', status => 500, path => '/api-public/v1/team' });
    $res = command('list');
    is($res->{status}, 200, 'VictorOps failing: still 200');
    like(ephemeral($res) // '', qr/could not be reached/, 'with an ephemeral error');
};

subtest 'paging a team, a policy, and an unknown slug' => sub {
    $vo->reset;
    $slack->reset;

    my $res = command('team-payments checkout is down');
    like(ephemeral($res) // '', qr/^Paging team-payments in VictorOps \(job [0-9a-f]{16}\); the incident number follows here\.$/,
         'team: answered at once, ephemeral') or diag $res->{content};
    my $creates = $vo->requests(path => '/api-public/v1/incidents', method => 'POST', wait => 1, timeout => 10);
    is(scalar @$creates, 1, 'one VictorOps incident created') or evidence();
    is($creates->[0]{json}{summary}, 'checkout is down', 'summary from the text');
    is_deeply([ sort map { $_->{slug} } @{ $creates->[0]{json}{targets} } ],
              [qw(pol-payments-primary pol-payments-secondary)], "the team's escalation policies");
    like($creates->[0]{json}{details}, qr/Paged from Slack by alice \(U-alice\) in channel C-ops/, 'details say who');
    ok(wait_for(sub { slack_messages() >= 1 }, 10), 'the outcome reached response_url') or evidence();
    is_deeply((slack_messages())[0], { response_type => 'in_channel',
        text => 'Paged VictorOps policy pol-payments-primary, policy pol-payments-secondary: incident #2201 (checkout is down)' },
        'with the incident number');

    $res = command('pol-dba-primary', user => 'U-bob', channel => 'C-db');
    like(ephemeral($res) // '', qr/^Paging pol-dba-primary in VictorOps/, 'a policy slug');
    ok(wait_for(sub { slack_messages() >= 2 }, 10), 'answered') or evidence();
    like((slack_messages())[1]{text}, qr/^Paged VictorOps policy pol-dba-primary: incident #2202 \(Paged from Slack by alice\)$/,
         'paged the policy, default summary');

    $res = command('team-nope something');
    like(ephemeral($res) // '', qr/^Paging team-nope/, 'an unknown slug is accepted');
    ok(wait_for(sub { slack_messages() >= 3 }, 10), 'and answered later') or evidence();
    my $m = (slack_messages())[2];
    is($m->{response_type}, 'ephemeral', 'with an ephemeral error');
    like($m->{text}, qr/^Could not page team-nope in VictorOps: Invalid target\(s\): team-nope \(Escalation policy not found\)$/,
         'saying why');
    is(scalar(@{ $vo->state->{incidents} }), 2, 'nothing else was paged');


    # a long user name and no summary: the default summary and the
    # details grow with it (this once overflowed its buffer)
    my $long = "\x{e9}" x 1500;
    $res = command('pol-dba-primary', user_name => $long);
    like(ephemeral($res) // '', qr/^Paging pol-dba-primary/, 'a 3000-byte user name');
    ok(wait_for(sub { slack_messages() >= 4 }, 10), 'answered') or evidence();
    like((slack_messages())[3]{text}, qr/incident #2203/, 'paged');

    my $st = $ng->integration_status;
    is($st->{slack}{paged}, 3, 'status: slack paged 3') or diag explain $st->{slack};
};

subtest 'response_url allow-list, channel and user allow-lists' => sub {
    $vo->reset;
    $slack->reset;
    my $before = $ng->integration_status->{slack}{refused};

    for my $url ('http://169.254.169.254/latest/meta-data', 'https://hooks.slack.com.evil.example/commands/1',
                 'http://127.0.0.1:1/commands/x', 'http://user@127.0.0.1:' . $slack->port . '/commands/x',
                 'file:///etc/passwd', '') {
        my $res = command('team-payments x', response_url => $url);
        is($res->{status}, 200, "response_url '$url': 200");
        like(ephemeral($res) // '', qr/response_url is not on an allowed host; nothing was paged/,
             'refused with an ephemeral message');
    }
    sleep 0.5;
    is(scalar @{ $vo->requests(timeout => 0) }, 0, 'nothing reached VictorOps');
    like($ng->error_log, qr/refused: response_url not on slack_response_hosts/, 'logged');

    my $res = command('team-payments x', channel => 'C-random');
    like(ephemeral($res) // '', qr/^This command is not allowed in this channel\.$/, 'a channel not allowed');
    $res = command('team-payments x', user => 'U-mallory');
    like(ephemeral($res) // '', qr/^You are not allowed to page with this command\.$/, 'a user not allowed');
    is($ng->integration_status->{slack}{refused} - $before, 8, 'status counts the refusals');

    $res = command('bad/slug! x');
    like(ephemeral($res) // '', qr/not a team or policy slug/, 'a slug with odd characters: ephemeral error')
        or diag $res->{content};
};

subtest 'an unreadable command is an ephemeral error, not a 5xx' => sub {
    my $res = command(undef, body => "text=%ZZ%ZZ&x=\xff\xfe");
    is($res->{status}, 200, 'an unreadable form: 200');
    like(ephemeral($res) // '', qr/could not be read/, 'ephemeral error');
};

# A page that becomes a dead letter says so on response_url while the
# URL works (Slack: 30 minutes after the command, 5 uses): stored jobs
# are aged through their body's reply_until, the time the URL expires.

sub store_exec {
    my ($sql) = @_;
    system('sqlite3', '-cmd', '.timeout 5000', $ng->store, $sql) == 0
        or diag "sqlite3: $?";
}

sub url_expires_in {
    my ($seconds) = @_;
    my $until = int(time) + $seconds;
    store_exec("UPDATE jobs SET body = CAST(json_set(CAST(body AS TEXT), '\$.reply_until', $until) AS BLOB)"
               . " WHERE kind = 7 AND state < 2");
}

# the messages response_url received whose text matches
sub slack_said {
    my ($re) = @_;
    return grep { ($_->{text} // '') =~ $re } slack_messages();
}

sub page_failing {
    my ($text) = @_;
    $vo->reset;
    $slack->reset;
    $vo->fault({ mode => 'status', status => 503, count => -1,
                 path => '/api-public/v1/incidents', method => 'POST' });
    my $res = command($text);
    like(ephemeral($res) // '', qr/^Paging /, "'$text': accepted") or diag $res->{content};
    ok(@{ $vo->requests(path => '/api-public/v1/incidents', method => 'POST', wait => 1, timeout => 10) },
       'VictorOps refuses to create (503)');
    return ($res->{content} =~ /job ([0-9a-f]{16})/)[0];
}

subtest 'a page still failing near the end of the response_url says so there' => sub {
    my $job = page_failing('team-payments checkout is down');
    sleep 0.5;
    is(scalar(slack_messages()), 0, 'nothing said while it retries');

    url_expires_in(200);
    ok(wait_for(sub { slack_said(qr/^Could not page team-payments/) }, 15),
       'with 200 s left on the URL, Slack is told') or evidence();
    is(scalar(slack_messages()), 1, 'once');
    my $m = (slack_messages())[0] // {};
    is($m->{response_type}, 'ephemeral', 'ephemeral');
    like($m->{text} // '', qr/^Could not page team-payments in VictorOps, gave up after \d+ attempts?: Service Unavailable$/,
         'that the page was given up, and why');
    like($ng->error_log, qr/slack page of "team-payments" \(job $job\) dead-lettered after \d+ attempts?, still failing/,
         'logged');
    my $posts = scalar @{ $vo->requests(path => '/api-public/v1/incidents', method => 'POST', timeout => 0) };
    sleep 2;
    is(scalar @{ $vo->requests(path => '/api-public/v1/incidents', method => 'POST', timeout => 0) }, $posts,
       'and no longer pages');
};

subtest 'after the response_url expired, nothing is posted to it' => sub {
    my $job = page_failing('team-dba db is slow');
    url_expires_in(-10);
    ok(wait_for(sub { $ng->error_log =~ /slack page of "team-dba" \(job $job\) dead-lettered after/ }, 15),
       'the page is given up') or evidence();
    ok(wait_for(sub { $ng->error_log =~ /slack reply \(job [0-9a-f]+\) dropped: response_url expired \(30 minutes after the command\)/ }, 10),
       'its reply is dropped, logged') or evidence();
    sleep 0.5;
    is(scalar @{ $slack->requests(timeout => 0) }, 0, 'nothing reached the expired response_url');
};

subtest 'a reply Slack keeps failing is tried 5 times, the most a response_url takes' => sub {
    $vo->reset;
    $slack->reset;
    $slack->fault({ mode => 'status', status => 500, count => -1, path => '/commands/' });
    like(ephemeral(command('pol-dba-primary disk full')) // '', qr/^Paging /, 'accepted');
    ok(wait_for(sub { $ng->error_log =~ /slack reply for incident "pol-dba-primary" \(job [0-9a-f]+\) dead-lettered after 5 attempts: slack answered 500/ }, 20),
       'the reply is dead-lettered after 5 attempts') or evidence();
    sleep 2;
    is(scalar @{ $slack->requests(timeout => 0) }, 5, 'response_url was posted to 5 times, no more');
};

subtest 'a page past max_age says so on response_url' => sub {
    my $ng2 = VoNginx->start(workers => 1, integration => {
        rootly_url => $rootly->url, api_url => $vo->url,
        api_id => 'vo-id', api_key => 'vo-key', api_user => 'alice',
        slack_signing_secret => $SECRET, sync_interval => 0,
        slack_response_hosts => '127.0.0.1:' . $slack->port,
        rootly_timeout => '2s', retry_max_delay => '1s', max_age => '3s',
    }, server_extra => "        location = /slack { victorops_slack_command acme; }\n");
    my $main = $ng;
    $ng = $ng2;
    my $job = page_failing('team-payments checkout is down');
    ok(wait_for(sub { slack_said(qr/^Could not page team-payments in VictorOps, gave up after \d+ attempts?: Service Unavailable$/) }, 15),
       'Slack is told that the page was given up') or evidence();
    like($ng->error_log, qr/slack page of "team-payments" \(job $job\) dead-lettered after/, 'logged');
    $ng->stop;
    $ng = $main;
};

$ng->stop;

done_testing();
