# victorops_max_connections against a real nginx (one worker) and a slow
# mock Rootly: the transfers beyond the limit wait their turn in the
# worker, and each gets its whole rootly_timeout once it runs.
#
#   a. One connection, Rootly answering each alert after 1.2 s,
#      rootly_timeout 2 s: three alerts go out one after the other, each
#      answered (none timed out, none sent twice). Handed to libcurl all
#      at once (before), the second waited 1.2 s in libcurl's queue with
#      its 2 s running, and timed out at Rootly 0.8 s later: an answer
#      lost, a retry, and a duplicate whenever Rootly had taken it.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use POSIX ();
use VoMock;
use VoNginx qw(wait_for delivered_keys no_alerts_logged);

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');

sub alert {
    my ($i) = @_;
    return { entity_id => "conn/$i", entity_display_name => "conn alert $i",
             incident_number => "$i", state_message => "connections, alert $i" };
}

subtest 'a. beyond victorops_max_connections: waiting, then the whole timeout' => sub {
    my $n = 3;
    my $delay = 1.2;

    my $ng = VoNginx->start(workers => 1,
        http_extra => '    victorops_max_connections 1;',
        integration => {
            rootly_url => $rootly->url, rootly_timeout => '2s',
            retry_max_delay => '1s', alert_limit => 100000,
        });

    $rootly->fault({ mode => 'slow', delay => $delay, count => -1, path => '/v1/alerts' });

    # one batch: the three jobs are claimed and dispatched together
    my @kids;
    for my $i (1 .. $n) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            delete $ng->{sock};
            my $res = $ng->post_webhook(alert($i), fresh => 1);
            POSIX::_exit($res->{status} == 202 ? 0 : 1);
        }
        push @kids, $pid;
    }
    my $accepted = 0;
    for (@kids) { waitpid $_, 0; $accepted++ if $? == 0 }
    is($accepted, $n, "$n alerts accepted");

    my $got;
    ok(wait_for(sub {
        $got = delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0));
        keys %$got >= $n }, 20, 0.2), "all $n delivered");
    sleep 0.5;
    $got = delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0));
    is_deeply([ sort values %$got ], [ (1) x $n ], 'each sent once')
        or diag explain $got;

    is(scalar $ng->log_lines(qr/timed out/), 0, 'no send timed out')
        or diag join "\n", $ng->log_lines(qr/timed out/);

    # one at a time: each answered about $delay after the one before
    my @t = sort { $a <=> $b } map { $_->{time} }
            grep { $_->{status} >= 200 && $_->{status} < 300 }
            @{ $rootly->requests(path => '/v1/alerts', timeout => 0) };
    my @gaps = map { $t[$_] - $t[$_ - 1] } 1 .. $#t;
    ok(!grep({ $_ < $delay - 0.2 } @gaps), 'one at a time, over the one connection')
        or diag "gaps: @gaps";

    no_alerts_logged('a', $ng);
    $ng->stop;
};

$rootly->stop;
done_testing();
