# A PostgreSQL store's spool: while PostgreSQL is unavailable a node
# accepts into its local SQLite spool (store_spool), and moves what it
# spooled to PostgreSQL when it returns.  One throwaway PostgreSQL 15
# cluster (t/lib/VoPg.pm), stopped and started again by its pid; the mock
# Rootly.
#
#   a. One node, PostgreSQL down from its start: webhooks answered 202
#      and spooled (status: the depth, the connection not ready, nothing
#      at Rootly, nothing in the database); PostgreSQL started: every job
#      moved, then delivered once, the spool empty.
#   b. Two nodes (two workers each; one with the default spool path, one
#      with its own): PostgreSQL stopped during a burst of 1,000 new-alert
#      webhooks spread over both, started again before its end: all
#      answered 2xx (none 503), each alert delivered exactly once by
#      deduplication key, both spools empty, nothing left in the database.
#      Then one delivery posted to both nodes while PostgreSQL is down
#      again: each spools it, the second moved is dropped as a duplicate
#      (its hash), Rootly gets one alert.
#   c. A spooled job PostgreSQL refuses (a key that is not UTF-8, put in
#      the spool by hand): its batch is moved one job at a time, the
#      others delivered, the refused one kept in the spool as a dead
#      letter and logged; the session is usable after (the failed
#      transaction rolled back): a later alert goes through.
#   d. What the spool cannot keep (a Rootly event: its event id, the
#      escalation's link and follow-up jobs) is answered 503 while
#      PostgreSQL is down, not spooled (Rootly retries); a VictorOps
#      webhook meanwhile is spooled (202); PostgreSQL back: the alert is
#      delivered, the same Rootly event again is accepted (202) and its
#      VictorOps incident created once.
#   e. Deliveries that finish while PostgreSQL is down (a slow Rootly):
#      their outcomes are kept and written once it is back, long before
#      the jobs' leases run out, so nothing is delivered twice (without
#      that, each job went back to the queue after its lease, delivered
#      again: seen in b under load).
#
# Skipped, with the reason, when PostgreSQL's server is not installed.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use POSIX ();
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP;
use IO::Handle;
use VoPg;
use VoMock;
use VoNginx qw(wait_for dedup_key delivered_keys store_sql no_alerts_logged);

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
        alert_limit => 100000,
        %{ $opt{integration} // {} },
    });
}

sub alert {
    my ($tag, $i) = @_;
    return { entity_id => "$tag/$i", entity_display_name => "$tag alert $i",
             incident_number => "$i", state_message => "scenario $tag, alert $i" };
}

sub key_of { "victorops:acme:$_[0]/$_[1]" }

sub store_of { $_[0]->integration_status->{store} }

sub evidence {
    my ($what, @nodes) = @_;
    for my $ng (@nodes) {
        diag "---- $what: store status of " . $ng->url;
        diag explain eval { store_of($ng) } // $@;
        my @log = grep { /spool|PostgreSQL|\[(?:warn|error|crit|alert|emerg)\]/ }
                  split /\n/, $ng->error_log;
        diag "---- error.log (last 30 of " . @log . ")";
        diag join "\n", @log > 30 ? @log[-30 .. -1] : @log;
    }
}

# Each accepted alert delivered, and once: a key answered 2xx twice is
# allowed only where a node logged an attempt of it timing out (Rootly
# took it, its answer came too late: sent again, as any HTTP client
# must), and Rootly holds one alert for each key all the same (alerts
# sharing a deduplication key are one alert).
sub check_delivered_once {
    my ($label, $want, @nodes) = @_;
    my $got = delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0));
    my @missing = grep { !$got->{$_} } sort keys %$want;
    my %late = map { /alert for incident "([^"]+)".* not delivered.* timed out/ ? ($1 => 1) : () }
               map { $_->log_lines(qr/not delivered/) } @nodes;
    my @twice = grep { $got->{$_} > 1 } sort keys %$got;
    my @unexplained = grep { !(m{/([^/]+)$} && $late{$1}) } @twice;
    my @extra = grep { !$want->{$_} } sort keys %$got;
    my %alerts;
    $alerts{ $_->{attributes}{deduplication_key} // '(none)' }++
        for @{ $rootly->state->{alerts} // [] };
    my @merged = grep { $alerts{$_} > 1 } sort keys %alerts;
    is(scalar @missing, 0, "$label: every accepted alert reached Rootly")
        or diag "missing (" . @missing . "): @missing[0 .. ($#missing > 19 ? 19 : $#missing)]";
    is(scalar @unexplained, 0, "$label: no deduplication key answered 2xx twice"
       . (@twice ? ', but for ' . @twice . ' sent again after a timed-out attempt' : ''))
        or diag join "\n", map { "$_: $got->{$_} times" }
                    @unexplained[0 .. ($#unexplained > 19 ? 19 : $#unexplained)];
    is(scalar @merged, 0, "$label: one Rootly alert for each deduplication key")
        or diag "@merged";
    is(scalar @extra, 0, "$label: nothing else was delivered") or diag "@extra";
    return !@missing && !@unexplained && !@merged && !@extra;
}

# ------------------------------------------------------------------ a

subtest 'a. PostgreSQL down from the start: spooled, then moved and delivered' => sub {
    my $n = 20;

    $pg->createdb('solo');
    $pg->stop;
    $rootly->reset;

    my $ng = node('solo', 'node-solo');
    my $spool = $ng->dir . '/logs/victorops/acme-spool.db';

    my %want;
    my %codes;
    for my $i (1 .. $n) {
        my $res = $ng->post_webhook(alert('solo', $i));
        $codes{ $res->{status} }++;
        $want{ key_of('solo', $i) } = 1 if $res->{status} == 202;
        diag "solo/$i: $res->{status} $res->{content}" if $res->{status} != 202;
    }
    is($codes{202} // 0, $n, "all $n alerts answered 202 with PostgreSQL down");

    my $st = store_of($ng);
    is($st->{backend}, 'postgresql', 'status: backend postgresql');
    isnt($st->{state}, 'ready', "status: the connection is not ready ($st->{state})");
    is($st->{node}, 'node-solo', 'status: the node');
    is($st->{spool}{path}, $spool, 'status: the spool, at its default path');
    is($st->{spool}{depth}, $n, "status: spool depth $n");
    is($st->{spool}{moved}, 0, 'status: nothing moved yet');
    ok(-f $spool, 'the spool file exists');
    is(store_sql($spool, 'select count(*) from jobs'), $n, "the spool holds $n jobs");

    sleep 1;
    is(scalar @{ $rootly->requests(timeout => 0) }, 0, 'nothing reached Rootly');

    $pg->start_again;
    my $t0 = time;

    my $done = wait_for(sub {
        keys %{ delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0)) } >= $n
    }, 40, 0.2);
    ok($done, sprintf 'delivered %.1f s after PostgreSQL started', time - $t0);
    sleep 1;
    check_delivered_once('a', \%want, $ng) or evidence('a', $ng);

    $st = wait_for(sub { my $s = store_of($ng); $s->{spool}{depth} == 0 ? $s : undef }, 10)
          // store_of($ng);
    is($st->{spool}{depth}, 0, 'status: spool depth 0');
    is($st->{spool}{moved}, $n, "status: $n moved");
    cmp_ok($st->{spool}{last_moved_at}, '>=', int($t0) - 1, 'status: last_moved_at set');
    is(store_sql($spool, 'select count(*) from jobs'), 0, 'the spool is empty');
    is($pg->sql('solo', 'select count(*) from jobs'), 0, 'no job left in the database');
    ok(scalar $ng->log_lines(qr/spooled jobs moved to PostgreSQL/), 'the moves were logged');
    no_alerts_logged('a', $ng);
    $ng->stop;
};

# ------------------------------------------------------------------ b

subtest 'b. PostgreSQL stopped during a 1,000-webhook burst over two nodes' => sub {
    my $n = 1000;

    $pg->createdb('burst');
    $rootly->reset;

    my $A = node('burst', 'node-a');
    my $own = $A->dir . '/spool-b/b.db';
    my $B = node('burst', 'node-b', integration => { store_spool => $own });

    wait_for(sub { store_of($A)->{state} eq 'ready' && store_of($B)->{state} eq 'ready' }, 20);

    # four clients at once, each posting every fourth alert to A or B in
    # turn (so that APPENDs are in flight when PostgreSQL goes); each
    # writes "i status" lines to a file of its own
    my $clients = 4;
    my (@kids, %codes, %want);
    for my $c (0 .. $clients - 1) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            delete $_->{sock} for $A, $B;   # the parent's connections
            open my $out, '>', $A->dir . "/client-$c.txt" or POSIX::_exit(1);
            $out->autoflush(1);
            for (my $i = $c + 1; $i <= $n; $i += $clients) {
                my $res = ($i % 2 ? $A : $B)->post_webhook(alert('burst', $i));
                print $out "$i $res->{status}\n";
                sleep 0.01;
            }
            close $out;
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }

    sleep 0.8;
    $pg->stop;
    my $stopped = time;
    sleep 2.5;
    $pg->start_again;
    my $started = time;
    note sprintf 'PostgreSQL was down for %.1f s', $started - $stopped;
    waitpid $_, 0 for @kids;

    my %answered;
    for my $c (0 .. $clients - 1) {
        open my $in, '<', $A->dir . "/client-$c.txt" or die "client $c: $!";
        while (<$in>) {
            my ($i, $status) = split;
            $answered{$i} = $status;
            $codes{$status}++;
            $want{ key_of('burst', $i) } = 1;
        }
    }
    is(scalar keys %answered, $n, "$n webhooks posted");
    note 'answers: ' . join ' ', map { "$_ x $codes{$_}" } sort keys %codes;
    is($codes{202} // 0, $n, "all $n webhooks answered 202");
    is($codes{503} // 0, 0, 'none answered 503');


    my $done = wait_for(sub {
        keys %{ delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0)) } >= $n
    }, 60, 0.5);
    ok($done, sprintf 'all delivered %.1f s after PostgreSQL started', time - $started);
    sleep 1.5;      # anything delivered twice would show now
    check_delivered_once('b', \%want, $A, $B) or evidence('b', $A, $B);

    for my $ng ($A, $B) {
        my $name = $ng == $A ? 'A' : 'B';
        my $st = wait_for(sub { my $s = store_of($ng); $s->{spool}{depth} == 0 ? $s : undef }, 10)
                 // store_of($ng);
        is($st->{spool}{depth}, 0, "$name: spool depth 0");
        is($st->{state}, 'ready', "$name: connection ready");
        cmp_ok($st->{spool}{moved}, '>=', 1,
               "$name: moved $st->{spool}{moved} spooled jobs, "
               . "$st->{spool}{dropped} dropped as duplicates");
        cmp_ok(scalar $ng->log_lines(qr/accepted jobs go to the spool/), '>=', 1,
               "$name: its workers spooled while PostgreSQL was down");
    }
    is(store_of($B)->{spool}{path}, $own, 'B: its own spool path');
    is(store_sql($own, 'select count(*) from jobs'), 0, "B's spool is empty");
    is(store_sql($A->dir . '/logs/victorops/acme-spool.db', 'select count(*) from jobs'), 0,
       "A's spool is empty");
    my $left = wait_for(sub { $pg->sql('burst', 'select count(*) from jobs') == 0 }, 10);
    ok($left, 'no job left in the database')
        or diag $pg->sql('burst', 'select seq, key, state, attempts, lease_owner, last_status, '
                                  . 'last_error from jobs order by seq limit 20');
    no_alerts_logged('b', $A, $B);

    # d. one delivery posted to both nodes while PostgreSQL is down:
    # spooled by each, one job once moved (the copy dropped by its hash)
    $rootly->reset;
    $pg->stop;
    ok(wait_for(sub { store_of($A)->{state} ne 'ready' && store_of($B)->{state} ne 'ready' }, 20),
       'd: both nodes see PostgreSQL down');
    my %before = map { $_ => store_of($_)->{spool}{dropped} } $A, $B;
    my $same = alert('twice', 1);
    is($A->post_webhook($same)->{status}, 202, 'd: A spooled the delivery');
    is($B->post_webhook($same)->{status}, 202, 'd: B spooled it too');
    $pg->start_again;
    ok(wait_for(sub {
        (grep { store_of($_)->{spool}{depth} == 0 } $A, $B) == 2
            && (store_of($A)->{spool}{dropped} - $before{$A}
                + store_of($B)->{spool}{dropped} - $before{$B}) == 1
    }, 30, 0.2), 'd: both spools moved, one copy dropped in PostgreSQL as a duplicate')
        or evidence('d', $A, $B);
    sleep 1.5;
    is_deeply(delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0)),
              { key_of('twice', 1) => 1 }, 'd: delivered once');
    $A->stop;
    $B->stop;
};

# ------------------------------------------------------------------ c

subtest 'c. a spooled job PostgreSQL refuses is kept aside, the others move' => sub {
    $pg->createdb('refused');
    $pg->stop;
    $rootly->reset;

    my $ng = node('refused', 'node-c');
    my $spool = $ng->dir . '/logs/victorops/acme-spool.db';

    my $r1 = $ng->post_webhook(alert('refused', 1));
    is($r1->{status}, 202, 'the first alert spooled');

    # a job whose key is not UTF-8 (as no webhook makes), between two others
    system('sqlite3', '-cmd', '.timeout 5000', $spool,
           "INSERT INTO jobs (id, kind, class, key, body, created_at, next_at)"
           . " SELECT 'badbadbadbadbad1', kind, class, CAST(X'C328' AS TEXT), body,"
           . " created_at, next_at FROM jobs LIMIT 1") == 0
        or die 'sqlite3 failed';

    my $r2 = $ng->post_webhook(alert('refused', 2));
    is($r2->{status}, 202, 'the second alert spooled');
    is(store_of($ng)->{spool}{depth}, 2, 'status: depth 2 (the row added by hand not counted)');

    $pg->start_again;

    my $done = wait_for(sub {
        keys %{ delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0)) } >= 2
    }, 30, 0.2);
    ok($done, 'the two alerts delivered');
    sleep 1;
    check_delivered_once('c', { key_of('refused', 1) => 1, key_of('refused', 2) => 1 }, $ng)
        or evidence('c', $ng);

    ok(scalar $ng->log_lines(qr/PostgreSQL refused a batch of 3 spooled jobs, moved one by one/),
       'the refused batch logged') or evidence('c', $ng);
    ok(scalar $ng->log_lines(qr/spooled job badbadbadbadbad1 for incident "\S+" refused by PostgreSQL, kept in the spool "\Q$spool\E" as a dead letter/),
       'the refused job logged');
    is(store_sql($spool, 'select id, state from jobs'), 'badbadbadbadbad1|2',
       'the spool keeps it alone, dead');
    my $st = store_of($ng);
    is($st->{spool}{depth}, 0, 'status: spool depth 0');
    is($st->{spool}{moved}, 2, 'status: 2 moved');
    is($pg->sql('refused', "select count(*) from jobs where id = 'badbadbadbadbad1'"), 0,
            'not in the database');

    # the refused batch left no aborted transaction behind on the session
    my $r3 = $ng->post_webhook(alert('refused', 3));
    is($r3->{status}, 202, 'a later alert accepted');
    ok(wait_for(sub {
        delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0))
            ->{ key_of('refused', 3) } }, 20, 0.2), '... and delivered');
    is(store_sql($spool, 'select count(*) from jobs'), 1, '... not through the spool');
    no_alerts_logged('c', $ng);
    $ng->stop;
};

subtest 'd. a Rootly event is not spooled (503 while PostgreSQL is down), a webhook is' => sub {
    my $vo = VoMock->start(kind => 'victorops', api_id => 'vo-id',
                           api_key => 'vo-key');
    $pg->createdb('mixed');
    $rootly->reset;
    $rootly->seed({ incidents => [ { id => 'inc-d', title => 'Checkout down (inc-d)' } ] });

    my $ng = VoNginx->start(workers => 1, integration => {
        rootly_url => $rootly->url, api_url => $vo->url,
        api_id => 'vo-id', api_key => 'vo-key', api_user => 'alice',
        rootly_signing_secret => 'whsec-test',
        escalate => 'severity=sev1 policy=pol-payments-primary',
        store => $pg->uri(db => 'mixed'), node_id => 'node-mixed',
        store_timeout => '2s', rootly_timeout => '2s',
        retry_max_delay => '1s', alert_limit => 100000,
    }, server_extra => "        location = /rootly { victorops_rootly_events acme; }\n");
    ok(wait_for(sub { store_of($ng)->{state} eq 'ready' }, 20, 0.1), 'connected');

    my $json = JSON::PP->new->utf8->canonical;
    my $body = $json->encode({
        event => { id => 'evt-spool-d', type => 'incident.created',
                   issued_at => '2026-11-26T10:00:00Z' },
        data => { id => 'inc-d', title => 'Checkout down (inc-d)',
                  url => 'https://rootly.example/incidents/inc-d',
                  status => 'started', groups => [],
                  severity => { slug => 'sev1', name => 'SEV1' } } });
    my $rootly_event = sub {
        my $t = int time;
        return $ng->post_webhook($body, path => '/rootly', secret => undef,
            fresh => 1, headers => { 'X-Rootly-Signature' =>
                "t=$t,v1=" . hmac_sha256_hex($t . $body, 'whsec-test') });
    };

    $pg->stop;
    my $r = $rootly_event->();
    is($r->{status}, 503, 'a Rootly event while PostgreSQL is down: 503')
        or diag $r->{content};
    my $w = $ng->post_webhook(alert('mixed', 1), fresh => 1);
    is($w->{status}, 202, 'a VictorOps webhook meanwhile: 202') or diag $w->{content};
    is(store_of($ng)->{spool}{depth}, 1, 'status: spool depth 1 (the webhook only)');

    $pg->start_again;
    ok(wait_for(sub {
        delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0))
            ->{ key_of('mixed', 1) } }, 30, 0.2), 'the spooled alert delivered');
    ok(wait_for(sub { $rootly_event->()->{status} == 202 }, 30, 0.5),
       'the Rootly event again: 202');
    ok(wait_for(sub {
        scalar grep { $_->{path} eq '/api-public/v1/incidents' }
            @{ $vo->requests(path => '/api-public/v1/incidents', method => 'POST',
                             timeout => 0) } }, 30, 0.2),
       'its VictorOps incident created');
    sleep 1;
    is(scalar(grep { $_->{path} eq '/api-public/v1/incidents' }
              @{ $vo->requests(path => '/api-public/v1/incidents', method => 'POST',
                               timeout => 0) }), 1, '... once');
    no_alerts_logged('d', $ng);
    $ng->stop;
    $vo->stop;
};


# ------------------------------------------------------------------ e

subtest 'e. outcomes of deliveries that end while PostgreSQL is down: kept, then written' => sub {
    my $n = 3;

    $pg->createdb('kept');
    $rootly->reset;

    # rootly_timeout 10 s: the claims' leases last 15 s
    my $ng = node('kept', 'node-e', integration => { rootly_timeout => '10s' });
    ok(wait_for(sub { store_of($ng)->{state} eq 'ready' }, 20, 0.1), 'connected');

    $rootly->fault({ mode => 'slow', delay => 2, count => $n, path => '/v1/alerts' });
    for my $i (1 .. $n) {
        is($ng->post_webhook(alert('kept', $i))->{status}, 202, "alert $i accepted");
    }
    ok(wait_for(sub { $pg->sql('kept', 'select count(*) from jobs where state = 1') == $n },
                5, 0.05), "all $n jobs claimed (leased), their deliveries under way");
    my $claimed = time;

    $pg->stop;
    sleep 3;        # Rootly answers each 2 s after it came
    is(scalar keys %{ delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0)) },
       $n, "Rootly answered all $n");
    ok(scalar $ng->log_lines(qr/job outcomes kept until it is back/),
       'the deliveries ended with PostgreSQL down: their outcomes kept');

    $pg->start_again;
    my $gone = wait_for(sub { $pg->sql('kept', 'select count(*) from jobs') == 0 }, 20, 0.1);
    ok($gone, 'PostgreSQL back: the kept outcomes written, no job left')
        or diag $pg->sql('kept', 'select seq, key, state, attempts, lease_owner from jobs');
    cmp_ok(time - $claimed, '<', 15, sprintf 'done %.1f s after the claim, before the '
           . 'leases (15 s) ran out', time - $claimed);
    sleep 1;
    is_deeply(delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0)),
              { map { key_of('kept', $_) => 1 } 1 .. $n }, 'each delivered once');
    is(scalar $ng->log_lines(qr/outcome came after its lease ran out|settled or no longer leased/),
       0, 'every kept outcome applied under its lease');
    no_alerts_logged('e', $ng);
    $ng->stop;
};

done_testing();
