# 6. Order per incident under retries, against a real master + 2 workers
#    nginx: alert, acknowledgement and recovery of an incident reach Rootly
#    (2xx) in that order while Rootly fails the first requests, for one
#    incident and for several interleaved ones.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use VoMock;
use VoNginx qw(wait_for dedup_key rootly_successes);

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');

sub event {
    my ($type, $entity, $number) = @_;
    my %body = (entity_id => $entity, incident_number => "$number",
                entity_display_name => "ordering $entity");
    $body{notification_type} = $type if $type ne 'ALERT';
    $body{ack_user} = 'jdoe' if $type eq 'ACKNOWLEDGEMENT';
    $body{state_message} = "$type for $entity";
    return \%body;
}

sub timeline {
    my ($reqs) = @_;
    return join "\n", map {
        sprintf '#%d %.3f %s %s -> %s %s', $_->{seq}, $_->{time}, $_->{method}, $_->{path},
            $_->{status}, dedup_key($_) // ''
    } @$reqs;
}

sub evidence {
    my ($ng, $what) = @_;
    diag "---- $what: mock timeline";
    diag timeline($rootly->requests(timeout => 0));
    diag "---- store jobs";
    diag $ng->store_dump;
    diag "---- store links";
    diag $ng->store_dump('select * from links');
    my @log = grep { /victorops integration|\[(?:warn|error|crit|alert|emerg)\]/ }
              split /\n/, $ng->error_log;
    diag "---- error.log (last 40)";
    diag join "\n", @log > 40 ? @log[-40 .. -1] : @log;
}

sub resolved_count {
    my ($reqs) = @_;
    return scalar grep { $_->{path} =~ m{/resolve$} && $_->{status} >= 200 && $_->{status} < 300 }
        @$reqs;
}

subtest 'one incident: alert, ack, recovery in order while Rootly fails the first 3 requests' => sub {
    $rootly->reset;
    $rootly->fault({ mode => 'status', status => 500, count => 3 });

    my $ng = VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, retry_max_delay => '2s', rootly_timeout => '2s',
        alert_limit => 100000,
    });

    my @codes = map { $ng->post_webhook(event($_, 'order/1', 101))->{status} }
                qw(ALERT ACKNOWLEDGEMENT RECOVERY);
    is_deeply(\@codes, [202, 202, 202], 'alert, ack and recovery answered 202');

    wait_for(sub { resolved_count($rootly->requests(timeout => 0)) >= 1 }, 20, 0.2);
    sleep 1;

    my $reqs = $rootly->requests(timeout => 0);
    my $seq = rootly_successes($rootly, $reqs);
    is(scalar(grep { $_->{status} == 500 } @$reqs), 3, 'Rootly failed 3 requests');
    is_deeply($seq, { 'order/1' => [qw(alert acknowledge resolve)] },
              'Rootly got POST /v1/alerts, then /acknowledge, then /resolve (2xx)')
        or do { diag explain $seq; evidence($ng, 'one incident') };

    my $st = $ng->integration_status;
    is($st->{queue}{pending}, 0, 'status: pending 0');
    is($st->{dead_lettered}, 0, 'status: nothing dead-lettered');
    $ng->stop;
};

subtest 'several interleaved incidents keep their own order under retries' => sub {
    my $n = 6;

    $rootly->reset;
    # the first 3 acknowledge/resolve requests fail, and the first 6 alerts
    $rootly->fault({ mode => 'status', status => 503, count => 3, path => '/v1/alerts/' });
    $rootly->fault({ mode => 'status', status => 500, count => 6 });

    my $ng = VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, retry_max_delay => '2s', rootly_timeout => '2s',
        alert_limit => 100000,
    });

    # a1 a2 k1 a3 k2 r1 a4 k3 r2 ... : every incident's events interleaved
    # with the others', on two connections (both workers)
    my @events;
    for my $step (0 .. $n + 1) {
        push @events, ['ALERT', $step + 1] if $step < $n;
        push @events, ['ACKNOWLEDGEMENT', $step] if $step >= 1 && $step <= $n;
        push @events, ['RECOVERY', $step - 1] if $step >= 2;
    }
    my %codes;
    for my $i (0 .. $#events) {
        my ($type, $k) = @{ $events[$i] };
        my $res = $ng->post_webhook(event($type, "inter/$k", 200 + $k), fresh => $i % 2);
        $codes{ $res->{status} }++;
        diag "$type inter/$k: $res->{status} $res->{content}" if $res->{status} != 202;
    }
    is($codes{202} // 0, 3 * $n, sprintf('all %d events answered 202', 3 * $n));

    wait_for(sub { resolved_count($rootly->requests(timeout => 0)) >= $n }, 30, 0.2);
    sleep 1;

    my $reqs = $rootly->requests(timeout => 0);
    my $seq = rootly_successes($rootly, $reqs);
    is(scalar(grep { $_->{status} == 500 } @$reqs), 6, 'Rootly failed 6 alert requests');
    is(scalar(grep { $_->{status} == 503 } @$reqs), 3, 'Rootly failed 3 acknowledge/resolve requests');
    my $ok = 1;
    for my $k (1 .. $n) {
        $ok &&= is_deeply($seq->{"inter/$k"}, [qw(alert acknowledge resolve)],
                          "incident inter/$k: alert, acknowledge, resolve in order")
            || diag explain $seq->{"inter/$k"};
    }
    is_deeply([sort keys %$seq], [sort map { "inter/$_" } 1 .. $n], 'nothing else reached Rootly')
        or diag explain $seq;

    my $st = $ng->integration_status;
    is($st->{queue}{pending}, 0, 'status: pending 0');
    is($st->{dead_lettered}, 0, 'status: nothing dead-lettered');
    evidence($ng, 'interleaved incidents') unless $ok;
    $ng->stop;
};

done_testing();
