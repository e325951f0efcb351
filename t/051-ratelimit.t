# Rate limits against a real master + 2 workers nginx:
#
#   4. A 429 storm from Rootly (X-RateLimit-Reset = now + 3): sends pause
#      until the reset, nothing is lost, the status counts rate_limited.
#   5. alert_limit is one budget for both workers: 5 alerts reach Rootly,
#      the rest wait in the queue; with alert_limit_overflow reject the
#      6th alert is answered 429 with Retry-After.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use POSIX qw(ceil);
use Time::HiRes qw(sleep time);
use VoMock;
use VoNginx qw(wait_for dedup_key delivered_keys);

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');

sub alert {
    my ($tag, $i) = @_;
    return { entity_id => "$tag/$i", entity_display_name => "$tag alert $i",
             incident_number => "$i", state_message => "scenario $tag, alert $i" };
}

sub key_of { "victorops:acme:$_[0]/$_[1]" }

sub evidence {
    my ($ng, $what) = @_;
    diag "---- $what: status";
    diag explain $ng->integration_status if $ng->pid;
    diag "---- store jobs";
    diag $ng->store_dump;
    diag "---- mock requests";
    diag $rootly->requests(format => 'text', timeout => 0);
    my @log = grep { /victorops|\[(?:warn|error|crit|alert|emerg)\]/ } split /\n/, $ng->error_log;
    diag "---- error.log (victorops lines and warnings, last 40)";
    diag join "\n", @log > 40 ? @log[-40 .. -1] : @log;
}

# pids of the workers that accepted jobs, from the "accepted" log lines
sub accepting_pids {
    my ($ng) = @_;
    my %pids = map { /\] (\d+)#\d+: / ? ($1 => 1) : () }
               $ng->log_lines(qr/accepted alert/);
    return sort keys %pids;
}

# ------------------------------------------------------------------ 4

subtest '429 storm: sends pause until X-RateLimit-Reset, nothing lost' => sub {
    my $reset_in = 3;
    my $grace = 0.15;   # a request already on the wire when the 429 came back
    my $tolerance = 0.25;

    $rootly->reset;
    $rootly->fault({ mode => 'ratelimit', reset_in => $reset_in, count => 4 });

    # One connection to Rootly per worker: at most one request per worker
    # is on the wire when a 429 comes back, so anything that reaches the
    # mock later than $grace after it was sent after the pause began.  (It
    # also keeps connects below the mock's listen backlog of 5, Python's
    # socketserver default: dropped SYNs come back 1 s later and would
    # blur the arrival times.)
    my $ng = VoNginx->start(workers => 2,
        http_extra => '    victorops_max_connections 1;',
        integration => {
            rootly_url => $rootly->url, retry_max_delay => '2s',
            rootly_timeout => '2s', alert_limit => 100000,
        });

    my %want;
    my $first = $ng->post_webhook(alert('storm', 0));
    $want{ key_of('storm', 0) } = 1 if $first->{status} == 202;

    my $r429 = $rootly->requests(path => '/v1/alerts', wait => 1, timeout => 5);
    is($r429->[0]{status}, 429, 'the first send was answered 429');
    my $t429 = $r429->[0]{time} // time;

    # more alerts arrive during the pause, on both workers
    for my $i (1 .. 20) {
        my $res = $ng->post_webhook(alert('storm', $i), fresh => 1);
        $want{ key_of('storm', $i) } = 1 if $res->{status} == 202;
        sleep 0.05 if $i == 10;
    }
    is(scalar keys %want, 21, 'all 21 webhooks answered 202');

    my $done = wait_for(sub {
        my $got = delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0));
        !grep { !$got->{$_} } keys %want;
    }, 30, 0.2);
    note sprintf 'all delivered %.1f s after the first 429', time - $t429;
    sleep 0.5;

    my $reqs = $rootly->requests(timeout => 0);
    my @api = grep { $_->{path} =~ m{^/v1/} } @$reqs;
    my @limited = grep { $_->{status} == 429 } @api;
    cmp_ok(scalar @limited, '>=', 2, 'Rootly answered 429 more than once (a storm)');
    note join "\n", map { sprintf '#%d %.3f %s %s -> %d', $_->{seq}, $_->{time} - $t429,
                          $_->{method}, $_->{path}, $_->{status} } @api;

    # after each 429, nothing may arrive between (t + grace) and the
    # reset (ceil(t + reset_in), at least t + reset_in) minus a tolerance
    my @early;
    for my $r (@api) {
        my ($l) = grep { $r->{time} > $_->{time} + $grace
                         && $r->{time} < $_->{time} + $reset_in - $tolerance } @limited
            or next;
        push @early, sprintf '#%d %s %s -> %d arrived %.3f s after the 429 #%d '
            . '(X-RateLimit-Reset >= +%.3f s)', $r->{seq}, $r->{method}, $r->{path},
            $r->{status}, $r->{time} - $l->{time}, $l->{seq}, $reset_in;
    }
    is(scalar @early, 0, 'no request reached Rootly before the rate-limit reset')
        or diag join "\n", @early;

    # sends resume once the limit resets (the module waits reset + 1 s)
    my $last429 = $limited[-1]{time};
    my ($next) = grep { $_->{time} > $last429 + $grace } @api;
    ok($next && $next->{time} <= ceil($last429 + $reset_in) + 3,
       'sends resume within a few seconds of the reset')
        or diag $next ? sprintf('next send %.3f s after the last 429', $next->{time} - $last429)
                      : 'no send after the last 429';

    my $got = delivered_keys($reqs);
    is(scalar(grep { $got->{$_} } keys %want), 21, 'nothing lost: all 21 alerts delivered');
    is(scalar(grep { $got->{$_} > 1 } keys %$got), 0, 'none delivered twice');

    my $st = $ng->integration_status;
    cmp_ok($st->{rate_limited}, '>', 0, "status: rate_limited > 0 ($st->{rate_limited})");
    is($st->{queue}{pending}, 0, 'status: pending 0 at the end');
    is($st->{dead_lettered}, 0, 'status: nothing dead-lettered');
    ok(scalar $ng->log_lines(qr/rootly rate limit: sends paused for \d+ ms/),
       'error.log: "rootly rate limit: sends paused"');

    evidence($ng, '429 storm') unless $done && !@early;
    $ng->stop;
};

# ------------------------------------------------------------------ 5

subtest 'alert_limit 5 holds across 2 workers (queue)' => sub {
    $rootly->reset;

    my $ng = VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, alert_limit => 5, rootly_timeout => '2s',
    });

    my $t0 = time;
    my %status;
    for my $i (1 .. 12) {
        my $res = $ng->post_webhook(alert('limit', $i), fresh => 1);
        $status{ $res->{status} }++;
    }
    is($status{202} // 0, 12, 'all 12 alerts answered 202') or diag explain \%status;
    my @pids = accepting_pids($ng);
    note "accepted by workers @pids";
    is(scalar @pids, 2, 'both workers accepted alerts');

    $rootly->requests(path => '/v1/alerts', wait => 5, timeout => 4);
    sleep 0.1 while time < $t0 + 6;

    my $reqs = $rootly->requests(path => '/v1/alerts', timeout => 0);
    my $elapsed = time - $t0;
    is(scalar @$reqs, 5, sprintf('exactly 5 alerts reached Rootly in the first %.1f s', $elapsed))
        or diag join "\n", map { sprintf '%.3f %s %s', $_->{time} - $t0, $_->{status},
                                 dedup_key($_) } @$reqs;
    my $st = $ng->integration_status;
    is($st->{queue}{pending}, 7, 'status: queue.pending == 7');
    is($st->{alert_limit}{per_minute}, 5, 'status: alert_limit.per_minute 5');
    is($st->{alert_limit}{available}, 0, 'status: alert_limit.available 0');

    evidence($ng, 'alert_limit queue') unless @$reqs == 5 && $st->{queue}{pending} == 7;
    $ng->stop;
};

subtest 'alert_limit 5 with alert_limit_overflow reject across 2 workers' => sub {
    $rootly->reset;

    my $ng = VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, alert_limit => 5, alert_limit_overflow => 'reject',
        rootly_timeout => '2s',
    });

    my @res;
    for my $i (1 .. 8) {
        push @res, $ng->post_webhook(alert('reject', $i), fresh => 1);
    }
    my @codes = map { $_->{status} } @res;
    is_deeply([@codes[0 .. 4]], [(202) x 5], 'the first 5 alerts are accepted (202)')
        or diag "@codes";
    is($codes[5], 429, 'the 6th alert is answered 429')
        or diag "$res[5]{status} $res[5]{content}";
    like($res[5]{headers}{'retry-after'} // '', qr/^[1-9]\d*$/,
         'the 429 carries a Retry-After header (seconds)')
        or diag explain $res[5]{headers};
    is_deeply([@codes[6, 7]], [429, 429], 'the 7th and 8th too');
    my @pids = accepting_pids($ng);
    note "accepted by workers @pids";

    sleep 2;
    my $reqs = $rootly->requests(path => '/v1/alerts', timeout => 0);
    is(scalar @$reqs, 5, 'nothing beyond 5 alerts reached Rootly')
        or diag join "\n", map { "$_->{status} " . dedup_key($_) } @$reqs;
    my %got = map { dedup_key($_) => 1 } @$reqs;
    is_deeply([sort keys %got], [sort map { key_of('reject', $_) } 1 .. 5],
              'the 5 accepted ones');

    my $st = $ng->integration_status;
    is($st->{queue}{pending}, 0, 'status: nothing pending (rejected alerts are not queued)');
    note "status: rejected $st->{rejected}, alert_limit " . explain($st->{alert_limit});

    evidence($ng, 'alert_limit reject') unless @$reqs == 5;
    $ng->stop;
};

done_testing();
