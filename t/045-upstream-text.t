# What Rootly, VictorOps and Slack answer is never trusted to be short or
# well-formed: error texts are cut on a character boundary wherever they
# are cut (Rootly's reason at 200 bytes, VictorOps' at 200, a Slack
# answer at 100, the recorded last error at 160), bytes that are not
# UTF-8 (a Latin-1 error page) are replaced when the error is recorded,
# so victorops_status, the dead_letters list, the team-import report and
# the Slack replies built from them stay valid JSON; and a Retry-After or
# X-RateLimit-Reset far ahead pauses sends for at most an hour.
#
# Each text puts a character of 2, 3 or 4 bytes across every cut point.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use Encode ();
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(sleep time);
use VoMock;
use VoNginx qw(wait_for);

my $JSON = JSON::PP->new->utf8->canonical;

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');
my $vo = VoMock->start(kind => 'victorops', api_id => 'vo-id', api_key => 'vo-key');
my $slack = VoMock->start(kind => 'slack');

my $HOUR_MS = 3600 * 1000;
my $YEAR = 365 * 86400;
my $SLACK_SECRET = 'slack-test-secret';
my %CHAR = (2 => "\x{e9}", 3 => "\x{20ac}", 4 => "\x{1f600}");

my $http = HTTP::Tiny->new(timeout => 10);
my $ng;

sub fresh {
    $ng->stop if $ng;
    $_->reset for $rootly, $vo, $slack;
    $ng = VoNginx->start(workers => 1, integration => {
        rootly_url => $rootly->url, api_url => $vo->url,
        api_id => 'vo-id', api_key => 'vo-key', api_user => 'alice',
        admin_token => 'adm1n', escalate_token => 'esc-token',
        rootly_signing_secret => 'whsec-test',
        escalate => 'severity=sev1 policy=pol-dba-primary',
        slack_signing_secret => $SLACK_SECRET,
        slack_response_hosts => '127.0.0.1:' . $slack->port,
        oncall_responders => 'off', sync_interval => 0, api_rate => 20,
        rootly_timeout => '2s', retry_max_delay => '1s',
    }, server_extra => <<'_EOC_');
        location = /escalate { victorops_escalate acme; }
        location = /rootly   { victorops_rootly_events acme; }
        location = /slack    { victorops_slack_command acme; }
        location = /import   { victorops_import_teams acme; }
_EOC_
    return $ng;
}

# $first (159) ASCII bytes ($fill), a character of $w bytes across byte
# $first + 1 (160), more, another one across byte 200
sub straddle {
    my ($w, $first, $fill) = @_;
    $first //= 159;
    my $c = $CHAR{$w};
    return (($fill // 'a') x $first) . $c . ('b' x (199 - $first - $w)) . $c . ('c' x 20);
}

sub utf8_bytes { my $s = shift; utf8::encode($s); return $s }

# the longest prefix of whole characters that fits in $max bytes
sub prefix {
    my ($text, $max) = @_;
    my ($out, $len) = ('', 0);
    for my $ch (split //, $text) {
        my $n = length utf8_bytes($ch);
        last if $len + $n > $max;
        $out .= $ch;
        $len += $n;
    }
    return $out;
}

# strict UTF-8 (no overlongs, surrogates), then JSON; undef if either fails
sub strict_json {
    my ($bytes) = @_;
    my $text = eval { Encode::decode('UTF-8', $bytes, Encode::FB_CROAK | Encode::LEAVE_SRC) };
    return undef unless defined $text;
    my $doc = eval { JSON::PP->new->decode($text) };
    return $doc;
}

sub status {
    my $res = $http->get($ng->url . '/status');
    return ($res->{status}, strict_json($res->{content}));
}

sub integration { my ($code, $doc) = status(); return $code == 200 && $doc ? $doc->{integrations}{acme} : undef }

sub dead_letters {
    my $res = $http->post($ng->url . '/status?integration=acme&action=dead_letters',
                          { headers => { Authorization => 'Bearer adm1n' } });
    return ($res->{status}, strict_json($res->{content}), $res->{content});
}

sub dead_letter {
    my ($match) = @_;
    my (undef, $doc) = dead_letters();
    return undef unless $doc;
    my @found = grep { $match->($_) } @{ $doc->{dead_letters} };
    return $found[-1];
}

# dead letters back to the queue (the fault is used up: they go through),
# so that each case starts with an empty store (asked through sqlite3:
# the listing may be what is broken)
sub replay_all {
    $http->post($ng->url . '/status?integration=acme&action=replay',
                { headers => { Authorization => 'Bearer adm1n' } });
    ok(wait_for(sub { ($ng->store_dump('select count(*) as n from jobs') =~ /^n\n(\d+)/)[0] eq '0' }, 5),
       'replayed: every job delivered') or evidence();
}

sub escalate {
    my ($id) = @_;
    my $res = $http->post($ng->url . '/escalate', {
        headers => { Authorization => 'Bearer esc-token', 'Content-Type' => 'application/json' },
        content => $JSON->encode({ incident_id => $id, summary => "page for $id",
                                   targets => [{ type => 'EscalationPolicy', slug => 'pol-dba-primary' }] }) });
    return eval { $JSON->decode($res->{content})->{job} };
}

my $serial = 0;

sub slack_command {
    my ($text) = @_;
    my $enc = sub { my $s = utf8_bytes(shift); $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge; $s };
    $serial++;
    my %f = (team_id => 'T1', channel_id => 'C-ops', user_id => 'U-alice', user_name => 'alice',
             command => '/page', text => $text, trigger_id => "tr.$serial",
             response_url => $slack->url . "/commands/T1/$serial/xyz");
    my $body = join '&', map { "$_=" . $enc->($f{$_}) } sort keys %f;
    my $t = int time;
    return $ng->post_webhook($body, path => '/slack', secret => undef, headers => {
        'Content-Type' => 'application/x-www-form-urlencoded', 'X-Slack-Request-Timestamp' => $t,
        'X-Slack-Signature' => 'v0=' . hmac_sha256_hex("v0:$t:$body", $SLACK_SECRET) });
}

sub slack_messages { @{ $slack->state->{messages} // [] } }

# the error log's lines matching $re, each checked for strict UTF-8
sub log_lines_utf8 {
    my ($re) = @_;
    my @lines = grep { /$re/ } split /\n/, $ng->error_log;
    my $bad = grep { !defined eval { Encode::decode('UTF-8', $_, Encode::FB_CROAK | Encode::LEAVE_SRC) } } @lines;
    return (scalar @lines, $bad);
}

# the last_error the store holds for a job, as bytes
sub stored_error {
    my ($id) = @_;
    my $hex = $ng->store_dump("select hex(last_error) from jobs where id = '$id'");
    $hex = (split /\n/, $hex)[1] // '';
    return pack 'H*', $hex;
}

sub evidence {
    my @log = split /\n/, $ng->error_log;
    diag join "\n", @log > 30 ? @log[-30 .. -1] : @log;
    diag $ng->store_dump;
}

# ONLY=regex runs the scenarios whose name matches
sub scenario {
    my ($name, $code) = @_;
    return if $ENV{ONLY} && $name !~ /$ENV{ONLY}/;
    subtest $name => $code;
}

# ------------------------------------------------------------------

scenario 'Rootly errors: status, dead letters and log cut on characters' => sub {
    fresh();

    for my $w (2, 3, 4) {
        my $text = straddle($w);
        $rootly->fault({ mode => 'status', status => 422, path => '/v1/alerts', method => 'POST',
                         body => { errors => [{ title => 'Unprocessable Entity', status => '422',
                                                detail => $text }] } });
        my $res = $ng->post_webhook({ entity_id => "svc/utf8-$w", incident_number => "70$w" });
        is($res->{status}, 202, "$w-byte characters: the alert is accepted");
        my $id = $res->{json}{id} // '';

        my $want = prefix($text, 160);
        my $dl = wait_for(sub { dead_letter(sub { $_[0]{id} eq $id }) }, 5);
        my ($code, $doc, $raw) = dead_letters();
        is($code, 200, "$w: dead_letters answers 200") or diag $raw;
        ok($doc, "$w: with valid JSON");
        ok($dl, "$w: listing the job") or evidence();
        is($dl->{error}, $want, "$w: its error cut on a character boundary") if $dl;
        is($dl->{status}, 422, "$w: status 422") if $dl;
        is(stored_error($id), utf8_bytes($want), "$w: so is the store's last_error");

        ($code, $doc) = status();
        is($code, 200, "$w: victorops_status answers 200");
        my $e = $doc ? $doc->{integrations}{acme}{rootly}{last_error} : undef;
        ok($doc, "$w: with valid JSON");
        is($e->{status}, 422, "$w: last_error status") if $e;
        is($e->{reason}, $want, "$w: last_error reason cut on a character boundary") if $e;
        replay_all();
    }

    my ($n, $bad) = log_lines_utf8(qr/dead-lettered after 1 attempt: rootly answered 422/);
    is($n, 3, 'three dead-letter log lines');
    is($bad, 0, 'each valid UTF-8');
};

scenario 'dead letters an older version recorded byte-wise' => sub {
    fresh();
    $rootly->fault({ mode => 'status', status => 422, path => '/v1/alerts', method => 'POST' });
    my $id = $ng->post_webhook({ entity_id => 'svc/old-row' })->{json}{id} // '';
    ok(wait_for(sub { dead_letter(sub { $_[0]{id} eq $id }) }, 5), 'a dead letter') or evidence();

    # Latin-1, and a 3-byte character cut short, as older versions could
    # leave in last_error
    $ng->store_dump("PRAGMA busy_timeout = 2000; UPDATE jobs SET last_error = "
                    . "CAST(X'64e96ae0207675e282' AS TEXT) WHERE id = '$id'");
    my ($code, $doc, $raw) = dead_letters();
    is($code, 200, 'dead_letters answers 200') or diag $raw;
    my ($dl) = grep { $_->{id} eq $id } @{ ($doc // {})->{dead_letters} // [] };
    is(($dl // {})->{error}, "d\x{fffd}j\x{fffd} vu\x{fffd}\x{fffd}", 'the bytes that are not UTF-8 replaced');
};

scenario 'VictorOps errors: status and dead letters' => sub {
    fresh();
    $rootly->seed({ incidents => [ map { { id => "inc-utf8-$_", title => "t$_" } } 2, 3, 4 ] });

    for my $w (2, 3, 4) {
        my $text = straddle($w);
        $vo->fault({ mode => 'status', status => 400, path => '/api-public/v1/incidents', method => 'POST',
                     body => { message => $text } });
        my $job = escalate("inc-utf8-$w") // '';
        like($job, qr/^[0-9a-f]{16}$/, "$w-byte characters: escalation queued");

        my $want = prefix($text, 160);
        my $dl = wait_for(sub { dead_letter(sub { $_[0]{id} eq $job }) }, 5);
        my ($code, $doc, $raw) = dead_letters();
        is($code, 200, "$w: dead_letters answers 200") or diag $raw;
        ok($dl, "$w: listing the job") or evidence();
        is($dl->{error}, $want, "$w: its error cut on a character boundary") if $dl;

        ($code, $doc) = status();
        is($code, 200, "$w: victorops_status answers 200");
        my $e = $doc ? $doc->{integrations}{acme}{victorops}{last_error} : undef;
        ok($doc, "$w: with valid JSON");
        is($e->{status}, 400, "$w: last_error status") if $e;
        is($e->{reason}, $want, "$w: last_error reason cut on a character boundary") if $e;
        replay_all();
    }
};

scenario 'Slack: a failed page is reported' => sub {
    fresh();

    # VictorOps refuses the page: its reason (cut at 200 bytes) goes to Slack
    for my $w (2, 3, 4) {
        my $text = straddle($w);
        my $before = () = slack_messages();
        $vo->fault({ mode => 'status', status => 400, path => '/api-public/v1/incidents', method => 'POST',
                     body => { message => $text } });
        my $res = slack_command("pol-dba-primary db $w");
        like(($res->{json} // {})->{text} // '', qr/^Paging pol-dba-primary/, "$w-byte characters: paging");
        ok(wait_for(sub { slack_messages() > $before }, 5), "$w: the failure reached response_url")
            or evidence();
        my $m = (slack_messages())[-1] // {};
        is($m->{response_type}, 'ephemeral', "$w: ephemeral");
        is($m->{text}, 'Could not page pol-dba-primary in VictorOps: ' . prefix($text, 200),
           "$w: VictorOps' reason cut on a character boundary");
    }
};

scenario 'Slack: failed replies are listed' => sub {
    fresh();

    # the page works, Slack refuses the reply: a UTF-8 answer across the
    # 100-byte cut, and a Latin-1 page
    my @answers = (map { [utf8_bytes(straddle($_, 99, $_)), prefix(straddle($_, 99, $_), 100)] } 2, 3, 4);
    push @answers, ["<p>Lien expir\xe9 \xe0 10h</p>", "<p>Lien expir\x{fffd} \x{fffd} 10h</p>"];

    for my $i (0 .. $#answers) {
        my ($bytes, $want) = @{ $answers[$i] };
        $slack->fault({ mode => 'status', status => 404, path => '/commands/',
                        body_base64 => encode_base64($bytes, ''),
                        content_type => 'text/html; charset=' . ($i == 3 ? 'iso-8859-1' : 'utf-8') });
        slack_command("pol-dba-primary reply $i");
        my $dl = wait_for(sub { dead_letter(sub { $_[0]{error} eq $want }) }, 5);
        my ($code, $doc, $raw) = dead_letters();
        is($code, 200, "answer $i: dead_letters answers 200") or diag $raw;
        ok($dl, "answer $i: the failed reply is listed, its error as valid UTF-8") or evidence();
        is(stored_error($dl->{id}), utf8_bytes($want), "answer $i: so is the store's last_error") if $dl;
        replay_all();
    }
};

scenario 'team import: a Rootly failure is reported' => sub {
    fresh();

    for my $w (2, 3, 4) {
        my $text = straddle($w);
        $rootly->reset;
        $rootly->fault({ mode => 'status', status => 422, path => '/v1/teams', method => 'POST',
                         body => { errors => [{ title => 'Unprocessable Entity', status => '422',
                                                detail => $text }] } });
        my $res = $http->post($ng->url . '/import', { headers => { Authorization => 'Bearer adm1n' } });
        is($res->{status}, 200, "$w-byte characters: the import answers 200") or diag $res->{content};
        my $doc = strict_json($res->{content});
        ok($doc, "$w: with valid JSON");
        is_deeply($doc->{created}, ['Database'], "$w: the other team is created") if $doc;
        is_deeply($doc->{failed}, [{ name => 'Payments',
                                     error => 'rootly answered 422: ' . prefix($text, 200) }],
                  "$w: the failure, Rootly's reason cut on a character boundary") if $doc;
    }
};

scenario 'incident bodies from long texts stay valid' => sub {
    fresh();

    # a Rootly title of 3-byte characters past VictorOps' details (4096
    # bytes) and the resolve message (512 bytes)
    my $title = "\x{20ac}" x 1400;
    my $url = 'https://rootly.example/incidents/inc-long';
    $rootly->seed({ incidents => [{ id => 'inc-long', title => 'long' }] });

    for my $type ('incident.created', 'incident.resolved') {
        my $body = $JSON->encode({ event => { id => "evt-$type", type => $type,
                                              issued_at => '2026-11-26T10:00:00Z' },
                                   data => { id => 'inc-long', title => $title, url => $url,
                                             status => $type eq 'incident.created' ? 'started' : 'resolved',
                                             severity => { slug => 'sev1', name => 'SEV1' } } });
        my $t = int time;
        my $res = $ng->post_webhook($body, path => '/rootly', secret => undef, headers => {
            'X-Rootly-Signature' => "t=$t,v1=" . hmac_sha256_hex($t . $body, 'whsec-test') });
        is($res->{status}, 202, "$type queued") or diag $res->{content};
        my $path = $type eq 'incident.created' ? '/api-public/v1/incidents' : '/api-public/v1/incidents/resolve';
        my $req = wait_for(sub { (grep { $_->{path} eq $path } @{ $vo->requests(timeout => 0) })[0] }, 10);
        ok($req, "$type: reached VictorOps") or evidence();
        next unless $req;
        is($req->{status}, 200, "$type: VictorOps read the body (valid JSON)");
        if ($type eq 'incident.created') {
            # the create's mark (its job id) ends the details
            (my $details = $req->{json}{details} // '') =~ s/\n\n\[nginx job [0-9a-f]{16}\]\z//;
            is($details, prefix("Rootly incident inc-long: $title\n$url", 4096), 'details cut on a character');
        } else {
            is($req->{json}{message}, prefix("Resolved in Rootly: $title $url", 512),
               'resolve message cut on a character');
        }
    }
};

# ---- rate limits: at most an hour, whatever the answer asks for

sub check_pause {
    my ($what, $which, $line) = @_;
    my $paused;
    ok(wait_for(sub { my $i = integration(); $paused = $i && $i->{$which}{paused_for_ms}; $paused }, 5),
       "$what: $which sends paused") or evidence();
    ok(($paused // 0) <= $HOUR_MS && ($paused // 0) > $HOUR_MS - 60000,
       "$what: for at most an hour (paused_for_ms $paused)") if $paused;
    return unless $line;
    my ($ms) = $ng->error_log =~ $line;
    ok(defined $ms && $ms <= $HOUR_MS && $ms > $HOUR_MS - 60000,
       "$what: the log line says at most an hour (" . ($ms // 'no line') . ' ms)') or evidence();
}

my $ROOTLY_LINE = qr/rootly rate limit: sends paused for (\d+) ms/;
my $VO_LINE = qr/victorops rate limit \(429\): calls paused for (\d+) ms/;

scenario 'Rootly: Retry-After 999999' => sub {
    fresh();
    $rootly->fault({ mode => 'ratelimit', retry_after => 999999, path => '/v1/alerts' });
    is($ng->post_webhook({ entity_id => 'svc/ra' })->{status}, 202, 'accepted');
    check_pause('Retry-After: 999999', 'rootly', $ROOTLY_LINE);
};

scenario 'Rootly: X-RateLimit-Reset a year ahead' => sub {
    fresh();
    $rootly->fault({ mode => 'ratelimit', reset_in => $YEAR, path => '/v1/alerts' });
    is($ng->post_webhook({ entity_id => 'svc/reset' })->{status}, 202, 'accepted');
    check_pause('429, X-RateLimit-Reset a year ahead', 'rootly', $ROOTLY_LINE);
};

scenario 'Rootly: 429 with an X-RateLimit-Reset already past' => sub {
    fresh();
    $rootly->fault({ mode => 'ratelimit', reset_in => -3600, count => 1, path => '/v1/alerts' });
    is($ng->post_webhook({ entity_id => 'svc/past' })->{status}, 202, 'accepted');
    my $ms;
    ok(wait_for(sub { ($ms) = $ng->error_log =~ $ROOTLY_LINE; defined $ms }, 5),
       'reset already past: the pause is logged') or evidence();
    ok(defined $ms && $ms >= 1000 && $ms <= 2000,
       'reset already past: a second, not a loop (' . ($ms // 'no line') . ' ms)');
    ok(wait_for(sub { grep { $_->{status} == 201 } @{ $rootly->requests(path => '/v1/alerts', timeout => 0) } }, 10),
       'reset already past: delivered after the pause') or evidence();
};

scenario 'Rootly: X-RateLimit-Remaining 0 with a reset a year ahead' => sub {
    fresh();
    $rootly->fault({ mode => 'remaining0', reset_in => $YEAR, path => '/v1/alerts' });
    is($ng->post_webhook({ entity_id => 'svc/rem0' })->{status}, 202, 'accepted');
    check_pause('2xx, remaining 0, reset a year ahead', 'rootly');
};

scenario 'Rootly during a team import: X-RateLimit-Reset a year ahead' => sub {
    fresh();
    $rootly->fault({ mode => 'ratelimit', reset_in => $YEAR, path => '/v1/teams', method => 'GET' });

    # the import waits (a minute at most) for the reset: do not wait for it
    my $res = HTTP::Tiny->new(timeout => 2)->post($ng->url . '/import',
                                                  { headers => { Authorization => 'Bearer adm1n' } });
    check_pause('team import, 429 with a reset a year ahead', 'rootly');
};

scenario 'VictorOps: Retry-After 999999' => sub {
    fresh();
    $vo->fault({ mode => 'ratelimit', retry_after => 999999, path => '/api-public/v1/incidents',
                 method => 'POST' });
    like(escalate('inc-ra') // '', qr/^[0-9a-f]{16}$/, 'escalation queued');
    check_pause('Retry-After: 999999', 'victorops', $VO_LINE);
};

scenario 'VictorOps: X-RateLimit-Reset a year ahead' => sub {
    fresh();
    $vo->fault({ mode => 'ratelimit', retry_after => 1, path => '/api-public/v1/incidents', method => 'POST',
                 headers => { 'Retry-After' => '', 'X-RateLimit-Reset' => '' . (int(time) + $YEAR) } });
    like(escalate('inc-reset') // '', qr/^[0-9a-f]{16}$/, 'escalation queued');
    ok(wait_for(sub { $ng->error_log =~ $VO_LINE }, 5), 'rate limited') or evidence();
    my ($ms) = $ng->error_log =~ $VO_LINE;
    ok(defined $ms && $ms <= $HOUR_MS, "paused for at most an hour ($ms ms)") if defined $ms;
    my $i = integration();
    ok($i && $i->{victorops}{paused_for_ms} <= $HOUR_MS, 'status: at most an hour');
};

$ng->stop if $ng;

done_testing();
