# Durability scenarios against a real master + 2 workers nginx:
#
#   1. Rootly down for 30 s while 1,000 webhooks arrive: all answered 202,
#      all delivered once Rootly is back, each exactly once.
#   2. nginx SIGKILLed (master and workers) with jobs pending: restarted on
#      the same store, every job is delivered after Rootly recovers.
#   3. SIGHUP reload in the middle of a burst: every accepted webhook is
#      delivered exactly once, nothing is lost.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use VoMock;
use VoNginx qw(wait_for dedup_key delivered_keys alive);

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');

sub alert {
    my ($tag, $i) = @_;
    return { entity_id => "$tag/$i", entity_display_name => "$tag alert $i",
             incident_number => "$i", state_message => "scenario $tag, alert $i" };
}

sub key_of { "victorops:acme:$_[0]/$_[1]" }

# evidence for the lead when something is off
sub evidence {
    my ($ng, $what) = @_;
    diag "---- $what: status";
    diag explain $ng->integration_status if $ng->pid;
    diag "---- store jobs (first 40 rows)";
    diag join "\n", grep { defined } (split /\n/, $ng->store_dump)[0 .. 40];
    diag "---- store jobs by state";
    diag $ng->store_dump('select state, count(*), min(attempts), max(attempts), '
                         . 'min(next_at), max(next_at), max(lease_until) from jobs group by state');
    my @log = grep { /\[(?:warn|error|crit|alert|emerg)\]/ } split /\n/, $ng->error_log;
    diag "---- error.log warnings and worse (" . @log . ", last 30)";
    diag join "\n", @log > 30 ? @log[-30 .. -1] : @log;
}

sub check_delivered_once {
    my ($label, $reqs, $want) = @_;
    my $got = delivered_keys($reqs);
    my @missing = grep { !$got->{$_} } sort keys %$want;
    my @twice = grep { $got->{$_} > 1 } sort keys %$got;
    my @extra = grep { !$want->{$_} } sort keys %$got;
    is(scalar(grep { $want->{$_} } keys %$got), scalar(keys %$want),
       "$label: every accepted webhook reached Rootly (2xx)")
        or diag "missing (" . @missing . "): @missing[0 .. ($#missing > 19 ? 19 : $#missing)]";
    is(scalar @twice, 0, "$label: no deduplication key answered 2xx twice")
        or diag join "\n", map { "$_: $got->{$_} times" } @twice[0 .. ($#twice > 19 ? 19 : $#twice)];
    is(scalar @extra, 0, "$label: nothing else was delivered") or diag "@extra";
    return !@missing && !@twice;
}

# ------------------------------------------------------------------ 1

subtest 'Rootly down for 30 s while 1,000 webhooks arrive' => sub {
    my $n = 1000;
    my $outage = 30;

    $rootly->reset;
    $rootly->fault({ mode => 'status', status => 503, count => -1 });

    my $ng = VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, retry_max_delay => '2s',
        rootly_timeout => '2s', alert_limit => 100000,
    });

    my $t_down = time;
    my (%status, %want);
    my $t0 = time;
    for my $i (1 .. $n) {
        my $res = $ng->post_webhook(alert('down', $i));
        $status{ $res->{status} }++;
        $want{ key_of('down', $i) } = 1 if $res->{status} == 202;
    }
    note sprintf '%d webhooks sent in %.2f s', $n, time - $t0;
    is($status{202} // 0, $n, "all $n webhooks answered 202 while Rootly is down")
        or diag explain \%status;

    my $st = $ng->integration_status;
    is($st->{accepted}{alert}, $n, "status: $n alerts accepted");

    sleep 0.2 while time < $t_down + $outage;

    my $during = $rootly->requests(path => '/v1/alerts', timeout => 0);
    my %seen = map { $_->{status} => 1 } @$during;
    note sprintf '%d requests reached Rootly during the outage, answers: %s',
        scalar @$during, join ' ', sort keys %seen;
    ok(!grep({ $_->{status} >= 200 && $_->{status} < 300 } @$during),
       'nothing was answered 2xx during the outage');
    $st = $ng->integration_status;
    is($st->{delivered}, 0, 'status: nothing delivered during the outage');
    is($st->{queue}{pending}, $n, "status: $n jobs pending during the outage")
        or evidence($ng, 'pending during the outage');
    note "status during the outage: retried $st->{retried}, rate_limited $st->{rate_limited}, "
        . "paused_for_ms $st->{rootly}{paused_for_ms}";

    # Rootly recovers; from now on only this run's records count
    $rootly->reset;
    my $t_up = time;

    my $done = wait_for(sub {
        my $reqs = $rootly->requests(path => '/v1/alerts', timeout => 0);
        keys(%{ delivered_keys($reqs) }) >= $n;
    }, 120, 0.5);
    note sprintf 'all delivered %.1f s after the recovery', time - $t_up if $done;
    sleep 1;    # late duplicates would show up now

    my $reqs = $rootly->requests(path => '/v1/alerts', timeout => 0);
    check_delivered_once('after the outage', $reqs, \%want)
        or evidence($ng, 'after the outage');

    $st = wait_for(sub {
        my $s = $ng->integration_status;
        $s->{queue}{pending} == 0 ? $s : undef;
    }, 10);
    $st //= $ng->integration_status;
    is($st->{queue}{pending}, 0, 'status: pending 0 at the end');
    cmp_ok($st->{delivered}, '>=', $n, "status: delivered >= $n");
    is($st->{dead_lettered}, 0, 'status: nothing dead-lettered');

    $ng->stop;
};

# ------------------------------------------------------------------ 2

subtest 'SIGKILL of master and workers with jobs pending, restart on the same store' => sub {
    my $n = 200;

    $rootly->reset;
    $rootly->fault({ mode => 'status', status => 503, count => -1 });

    my $ng = VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, retry_max_delay => '2s',
        rootly_timeout => '10s', alert_limit => 100000,
    });

    my %want;
    for my $i (1 .. $n) {
        my $res = $ng->post_webhook(alert('kill', $i));
        $want{ key_of('kill', $i) } = 1 if $res->{status} == 202;
    }
    is(scalar keys %want, $n, "all $n webhooks answered 202");

    # Rootly has been tried and failed (a failing Rootly holds the
    # integration's sends, so not every job gets an attempt)
    my $tried = wait_for(sub {
        @{ $rootly->requests(path => '/v1/alerts', timeout => 0) } >= 1;
    }, 15);
    ok($tried, 'jobs were attempted while Rootly fails');

    # then Rootly hangs: the next claimed jobs are in flight, leased by
    # the workers about to be killed (sends are held at most 5 s after
    # a failure, and time out after 10 s)
    $rootly->reset;
    $rootly->fault({ mode => 'slow', delay => 30, count => -1 });
    sleep 6;

    my @workers = $ng->worker_pids;
    my $master = $ng->pid;
    $ng->kill9;
    ok(!grep({ alive($_) } $master, @workers), "master $master and workers @workers are gone");

    my $now_ms = int(time * 1000);
    note 'store after SIGKILL:';
    note $ng->store_dump('select state, count(*), '
        . "sum(lease_until > $now_ms) as leased, max(attempts) from jobs group by state");
    my ($leased) = $ng->store_dump("select count(*) from jobs where lease_until > $now_ms")
        =~ /(\d+)\s*$/;
    $leased //= 0;
    cmp_ok($leased, '>', 0, "$leased job(s) leased by the killed workers");

    my ($stored) = $ng->store_dump('select count(*) from jobs where state < 2')
        =~ /(\d+)\s*$/;
    is($stored, $n, "after the kill the store holds all $n jobs");

    # Rootly recovers, nginx starts again on the same store
    $rootly->reset;
    $ng->start_again;
    my $t_up = time;

    # jobs merely pending are claimed at once, leased ones after their lease
    my $prompt = wait_for(sub {
        keys(%{ delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0)) })
            >= $n - $leased;
    }, 10, 0.2);
    ok($prompt, sprintf('the %d jobs not leased at the kill were delivered within 10 s '
                        . 'of the recovery', $n - $leased));
    note sprintf '%.1f s', time - $t_up;

    my $done = wait_for(sub {
        keys(%{ delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0)) }) >= $n;
    }, 50, 0.5);
    note sprintf 'all delivered %.1f s after the recovery', time - $t_up if $done;
    sleep 1;

    check_delivered_once('after SIGKILL and restart',
                         $rootly->requests(path => '/v1/alerts', timeout => 0), \%want)
        or evidence($ng, 'after SIGKILL and restart');

    my $st = wait_for(sub {
        my $s = $ng->integration_status;
        $s->{queue}{pending} == 0 ? $s : undef;
    }, 5) // $ng->integration_status;
    is($st->{queue}{pending}, 0, 'status: pending 0 at the end');

    $ng->stop;
};

# ------------------------------------------------------------------ 3

subtest 'SIGHUP reload during a burst of 300 webhooks' => sub {
    my $n = 300;

    $rootly->reset;
    # slow answers keep sends in flight while the old workers shut down
    $rootly->fault({ mode => 'slow', delay => 0.3, count => 150 });

    my $ng = VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, retry_max_delay => '2s',
        rootly_timeout => '2s', alert_limit => 100000,
    });

    my (%status, %want, %sent, @old, @new);
    for my $i (1 .. $n) {
        if ($i == $n / 2) {
            @old = $ng->reload(nowait => 1);
            note "SIGHUP sent after webhook $i, old workers @old";
        }
        my $res = $ng->post_webhook(alert('hup', $i), fresh => $i % 3 == 0);
        $status{ $res->{status} }++;
        $sent{ key_of('hup', $i) } = 1;
        $want{ key_of('hup', $i) } = 1 if $res->{status} == 202;
        diag "webhook $i: $res->{status} $res->{content}" if $res->{status} != 202;
        sleep 0.005;
    }
    @new = $ng->wait_new_workers(\@old, wait_old => 1, timeout => 20);
    my %was_old = map { $_ => 1 } @old;
    note scalar(grep { /\] (\d+)#/ && $was_old{$1} } $ng->log_lines(qr/delivered: rootly answered/))
        . ' deliveries logged by the old workers, '
        . scalar($ng->log_lines(qr/released/)) . ' job(s) released by exiting workers';
    note "new workers @new; answers: " . join ' ', map { "$_ x $status{$_}" } sort keys %status;
    cmp_ok(scalar keys %want, '>=', $n - 5, 'nearly all webhooks answered 202 across the reload');

    my $done = wait_for(sub {
        my $got = delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0));
        !grep { !$got->{$_} } keys %want;
    }, 30, 0.5);
    sleep 1.5;

    my $reqs = $rootly->requests(path => '/v1/alerts', timeout => 0);
    my $got = delivered_keys($reqs);
    my @missing = grep { !$got->{$_} } sort keys %want;
    my @twice = grep { $got->{$_} > 1 } sort keys %$got;
    is(scalar @missing, 0, 'every 202-answered webhook was delivered')
        or diag "missing: @missing";
    is(scalar @twice, 0, 'none was delivered twice')
        or diag join "\n", map { "$_: $got->{$_} times" } @twice;
    is(scalar(grep { !$sent{$_} } keys %$got), 0, 'nothing unexpected was delivered');
    evidence($ng, 'after the reload burst') if @missing || @twice;

    my $st = wait_for(sub {
        my $s = $ng->integration_status;
        $s->{queue}{pending} == 0 ? $s : undef;
    }, 5) // $ng->integration_status;
    is($st->{queue}{pending}, 0, 'status: pending 0 at the end');

    $ng->stop;
};

done_testing();
