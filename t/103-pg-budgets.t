# Budgets shared by several nginx nodes on one PostgreSQL store: one
# throwaway PostgreSQL 15 cluster (t/lib/VoPg.pm), two nginx instances
# (two workers each, their own node_id) with the same integration on one
# database, the mock Rootly:
#
#   a. alert_limit 5 holds for both nodes together: 12 new alerts posted
#      alternately to A and B; Rootly receives exactly 5 within the
#      first seconds, the 7 others wait in the queue (the jobs table);
#      what the nodes spent adds up to 5, granted by the budgets row.
#   b. ... and the rest is not lost: one more alert goes out once the
#      shared bucket refilled one token (12 s after the first grant), not
#      before; the others still wait.
#   c. a burst under concurrent grants: alert_limit 30 (blocks of 3), 45
#      alerts over both nodes' four workers: at least the 30 of the
#      bucket go out, never more than the bucket plus its refill over the
#      time they took, and the nodes' spent adds up to what Rootly got.
#   d. a 429 seen by one node pauses both: Rootly answers A's alert 429
#      (X-RateLimit-Reset in 4 s); an alert posted to B 1.5 s later does
#      not reach Rootly before the reset, B's status shows the pause.
#
# api_rate's budget is shared the same way (ngx_http_victorops_budget.c),
# but no VictorOps call runs on a PostgreSQL store yet (api_id is refused
# at nginx -t): a. only checks its status.
#
# Skipped, with the reason, when PostgreSQL's server is not installed.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use VoPg;
use VoMock;
use VoNginx qw(wait_for dedup_key delivered_keys no_alerts_logged);

VoPg::require_server();

my $pg = VoPg->start;
my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');

sub node {
    my ($db, $id, %opt) = @_;
    return VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url,
        store => $pg->uri(db => $db),
        node_id => $id,
        store_timeout => '2s',
        rootly_timeout => '2s',
        retry_max_delay => '2s',
        alert_limit => $opt{alert_limit},
    });
}

sub alert {
    my ($tag, $i) = @_;
    return { entity_id => "$tag/$i", entity_display_name => "$tag alert $i",
             incident_number => "$i", state_message => "scenario $tag, alert $i" };
}

sub alerts_at_rootly {
    return [ grep { $_->{method} eq 'POST' && $_->{path} eq '/v1/alerts' }
             @{ $rootly->requests(timeout => 0) } ];
}

sub timeline {
    my ($t0, $reqs) = @_;
    return join "\n", map {
        sprintf '#%d +%.3f %s %s -> %s %s', $_->{seq}, $_->{time} - $t0, $_->{method},
            $_->{path}, $_->{status}, dedup_key($_) // ''
    } @$reqs;
}

sub evidence {
    my ($db, $what, $t0, @nodes) = @_;
    diag "---- $what: mock timeline";
    diag timeline($t0, $rootly->requests(timeout => 0));
    diag "---- jobs";
    diag $pg->sql($db, 'select seq, key, state, attempts, lease_owner, '
                       . 'next_at - victorops_now_ms() from jobs order by seq');
    diag "---- budgets";
    diag $pg->sql($db, 'select name, capacity, per_ms, tokens, '
                       . 'victorops_now_ms() - updated_at, paused_until - victorops_now_ms() '
                       . 'from budgets');
    for my $ng (@nodes) {
        diag "---- status of " . $ng->url;
        diag explain $ng->integration_status->{alert_limit};
        diag $ng->log_tail();
    }
}

# ------------------------------------------------------------------ a, b

$pg->createdb('lim');
my $A = node('lim', 'node-a', alert_limit => 5);
my $B = node('lim', 'node-b', alert_limit => 5);
my ($t0, $first);

subtest 'a. alert_limit 5 holds for both nodes together' => sub {
    $rootly->reset;
    $t0 = time;

    my %codes;
    for my $i (1 .. 12) {
        my $ng = $i % 2 ? $A : $B;
        my $res = $ng->post_webhook(alert('limit', $i), fresh => 1);
        $codes{ $res->{status} }++;
        diag "limit/$i: $res->{status} $res->{content}" if $res->{status} != 202;
    }
    is($codes{202} // 0, 12, 'all 12 alerts answered 202 (6 by each node)');

    wait_for(sub { @{ alerts_at_rootly() } >= 5 }, 8, 0.1);
    sleep 0.1 while time < $t0 + 7;

    my $reqs = alerts_at_rootly();
    my $elapsed = time - $t0;
    is(scalar @$reqs, 5, sprintf('exactly 5 alerts reached Rootly in the first %.1f s', $elapsed))
        or diag timeline($t0, $reqs);
    is(scalar(grep { $_->{status} == 201 || $_->{status} == 200 } @$reqs), 5,
       '... all 5 accepted');
    $first = (sort { $a->{time} <=> $b->{time} } @$reqs)[0];

    is($pg->sql('lim', 'select count(*) from jobs where state in (0, 1)'), 7,
            'the 7 others wait in the queue (jobs table)');
    is($pg->sql('lim', 'select count(*) from jobs where state = 2'), 0, 'none dead-lettered');

    my (%spent, %granted, %returned, $ok);
    for my $ng ($A, $B) {
        my $st = $ng->integration_status;
        my $b = $st->{alert_limit}{budget} // {};
        $spent{ $ng->url } = $b->{spent} // 0;
        $granted{ $ng->url } = $b->{granted} // 0;
        $returned{ $ng->url } = $b->{returned} // 0;
        is($b->{source}, 'shared', $ng->url . ': alert_limit budget "shared"');
        is($st->{alert_limit}{per_minute}, 5, $ng->url . ': per_minute 5');
        is($st->{victorops}{budget}{source}, 'shared', $ng->url . ': api_rate budget "shared"');
        is($st->{victorops}{budget}{grants}, 0, $ng->url . ': no api_rate grant (no VictorOps call)');
    }
    my $spent = 0;
    $spent += $_ for values %spent;
    my $granted = 0;
    $granted += $_ for values %granted;
    $granted -= $_ for values %returned;
    note 'spent by node: ' . join ', ', map { "$_ $spent{$_}" } sort keys %spent;
    note 'given back by node: ' . join ', ', map { "$_ $returned{$_}" } sort keys %returned;
    is($spent, 5, 'the nodes spent 5 tokens together');

    # a token a node left unspent for 1 s goes back and may be granted again
    is($granted, 5, 'the database granted 5 tokens in all, less those given back');

    my ($cap, $per_min, $tokens) = split /\|/, $pg->sql('lim',
        "select capacity, round((per_ms * 60000)::numeric, 6), tokens "
        . "from budgets where integration = 'acme' and name = 'alert_limit'");
    is($cap, 5, 'budgets row: capacity 5');
    is($per_min + 0, 5, 'budgets row: 5 a minute');
    cmp_ok($tokens, '<', 1, "budgets row: no whole token left ($tokens)");

    evidence('lim', 'a', $t0, $A, $B) unless @$reqs == 5 && $spent == 5;
};

subtest 'b. the rest waits for the shared bucket, and is not lost' => sub {
    plan skip_all => 'no first alert' unless $first;

    my $got = wait_for(sub { @{ alerts_at_rootly() } >= 6 }, 20, 0.1);
    ok($got, 'a 6th alert reached Rootly');
    sleep 1.5;

    my $reqs = [ sort { $a->{time} <=> $b->{time} } @{ alerts_at_rootly() } ];
    is(scalar @$reqs, 6, 'exactly 6 alerts in all by then') or diag timeline($t0, $reqs);

    my $after = $reqs->[5] ? $reqs->[5]{time} - $first->{time} : 0;
    cmp_ok($after, '>=', 11.5,
           sprintf 'the 6th came when the bucket refilled a token: %.1f s after the first', $after);
    cmp_ok($after, '<=', 12 + 5, '... and without waiting much longer');

    my $keys = delivered_keys($reqs);
    is(scalar(grep { $_ > 1 } values %$keys), 0, 'none delivered twice');
    is($pg->sql('lim', 'select count(*) from jobs where state in (0, 1)'), 6,
            'the 6 others still wait in the queue');

    evidence('lim', 'b', $t0, $A, $B) unless @$reqs == 6 && $after >= 11.5;
    no_alerts_logged('a, b', $A, $B);
    $A->stop;
    $B->stop;
};

# ------------------------------------------------------------------ c

subtest 'c. a burst over four workers never exceeds the shared bucket' => sub {
    my ($limit, $n) = (30, 45);

    $pg->createdb('burst');
    $rootly->reset;
    my $na = node('burst', 'node-a', alert_limit => $limit);
    my $nb = node('burst', 'node-b', alert_limit => $limit);
    my $t = time;

    my %codes;
    for my $i (1 .. $n) {
        my $res = ($i % 2 ? $na : $nb)->post_webhook(alert('burst', $i), fresh => 1);
        $codes{ $res->{status} }++;
    }
    is($codes{202} // 0, $n, "all $n alerts answered 202");

    wait_for(sub { @{ alerts_at_rootly() } >= $limit }, 15, 0.1);
    sleep 2;

    my $reqs = [ sort { $a->{time} <=> $b->{time} } @{ alerts_at_rootly() } ];
    my $got = @$reqs;
    my $span = $got ? $reqs->[-1]{time} - $reqs->[0]{time} : 0;

    # a token every 60/$limit s after the first grant, which came a
    # little before the first alert arrived (0.5 s of slack)
    my $allowed = $limit + int(($span + 0.5) * $limit / 60);
    cmp_ok($got, '>=', $limit, "the bucket's $limit went out ($got in all)");
    cmp_ok($got, '<=', $allowed,
           sprintf 'no more than the bucket and its refill over %.1f s (%d)', $span, $allowed)
        or diag timeline($t, $reqs);

    my ($spent, $held, %by) = (0, 0);
    for my $ng ($na, $nb) {
        my $b = $ng->integration_status->{alert_limit}{budget};
        $spent += $b->{spent};
        $held += $b->{held};
        $by{ $ng->url } = "spent $b->{spent}, granted $b->{granted}, held $b->{held}, "
                          . "returned $b->{returned}, grants $b->{grants}";
    }
    note join "\n", map { "$_: $by{$_}" } sort keys %by;
    is($spent, $got, 'the nodes spent what Rootly received');
    cmp_ok($held, '<=', 2 * 3, 'each node holds at most a block (3) unspent');
    is(scalar(grep { $_ > 1 } values %{ delivered_keys($reqs) }), 0, 'none delivered twice');
    is($pg->sql('burst', 'select count(*) from jobs where state in (0, 1)'), $n - $got,
            'the others wait in the queue');

    evidence('burst', 'c', $t, $na, $nb) unless $got >= $limit && $got <= $allowed;
    no_alerts_logged('c', $na, $nb);
    $na->stop;
    $nb->stop;
};

# ------------------------------------------------------------------ d

subtest 'd. a 429 seen by one node pauses both' => sub {
    my $reset_in = 4;
    my $grace = 0.15;       # a request already on the wire
    my $tolerance = 0.25;

    $pg->createdb('pause');
    $rootly->reset;
    my $na = node('pause', 'node-a', alert_limit => 100000);
    my $nb = node('pause', 'node-b', alert_limit => 100000);

    $rootly->fault({ mode => 'ratelimit', reset_in => $reset_in, count => 1,
                     path => '/v1/alerts' });

    my $t = time;
    my $r1 = $na->post_webhook(alert('pause', 1), fresh => 1);
    is($r1->{status}, 202, 'A: alert 1 answered 202');

    my $r429 = $rootly->requests(path => '/v1/alerts', wait => 1, timeout => 5);
    is($r429->[0]{status}, 429, 'Rootly answered the first send 429');
    my $t429 = $r429->[0]{time} // time;

    my $shared = wait_for(sub {
        $pg->sql('pause', "select count(*) from budgets where integration = 'acme' "
                          . "and name = 'alert_limit' and paused_until > victorops_now_ms()") == 1
         }, 3, 0.05);
    ok($shared, 'the pause is in the budgets row');

    sleep 0.05 while time < $t429 + 1.5;
    my $st = $nb->integration_status;
    cmp_ok($st->{rootly}{paused_for_ms}, '>', 0,
           "B's status: rootly paused ($st->{rootly}{paused_for_ms} ms left)");

    my $r2 = $nb->post_webhook(alert('pause', 2), fresh => 1);
    is($r2->{status}, 202, 'B: alert 2 answered 202, 1.5 s after the 429');

    my $done = wait_for(sub { keys %{ delivered_keys(alerts_at_rootly()) } >= 2 }, 20, 0.1);
    ok($done, 'both alerts delivered after the pause');
    sleep 0.5;

    my $reqs = alerts_at_rootly();
    my @early = grep { $_->{time} > $t429 + $grace
                       && $_->{time} < $t429 + $reset_in - $tolerance } @$reqs;
    is(scalar @early, 0, 'nothing reached Rootly from either node before the reset')
        or diag timeline($t, $reqs);
    is_deeply(delivered_keys($reqs),
              { 'victorops:acme:pause/1' => 1, 'victorops:acme:pause/2' => 1 },
              'each alert delivered once');
    ok(scalar $nb->log_lines(qr/rootly paused by another node for \d+ ms/),
       'B logged the pause it learnt')
        or diag join "\n", $nb->log_lines(qr/victorops/);

    evidence('pause', 'd', $t, $na, $nb) unless $done && !@early;
    no_alerts_logged('d', $na, $nb);
    $na->stop;
    $nb->stop;
};

done_testing();
