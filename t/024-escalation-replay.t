# A captured escalation-policy webhook (form body + X-VictorOps-Signature)
# cannot be replayed: accepted signatures are remembered in the store
# (schema version 5), so the same request again is answered "duplicate"
# and queues nothing, also once duplicate_window has passed and after a
# restart.  A store of the schema version before (4 on this branch) is
# migrated on start.

use strict;
use warnings;

use lib 't/lib';
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);
use VoMock;
use VoNginx qw(wait_for);

my $URL = 'https://hooks.example.com/victorops/escalation';
my $CODE = 'vo-auth-code-5b1e';

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');

my $ng = VoNginx->start(workers => 2, integration => {
    rootly_url => $rootly->url,
    escalation_auth_code => $CODE,
    escalation_url => $URL,
    duplicate_window => '1s',
});

sub signature { VoMock::form_signature($URL, $CODE, $_[0]) }

# an escalation-policy delivery as VictorOps sends it: its own vo_uuid
sub delivery {
    my ($entity, $uuid) = @_;
    return "entity_id=%22$entity%22&entity_display_name=%22$entity+down%22"
         . "&message_type=%22CRITICAL%22&vo_uuid=%22$uuid%22";
}

sub post_signed {
    my ($body) = @_;
    return $ng->post_webhook($body, secret => undef, fresh => 1, headers => {
        'Content-Type' => 'application/x-www-form-urlencoded',
        'X-VictorOps-Signature' => signature($body),
    });
}

# POST /v1/alerts answered 2xx for one deduplication key
sub alerts_for {
    my ($entity) = @_;
    return VoNginx::delivered_keys($rootly->requests(path => '/v1/alerts', timeout => 0))
        ->{"victorops:acme:$entity"} // 0;
}

sub jobs_queued { $ng->store_dump('select count(*) from jobs') =~ /(\d+)/ ? $1 : -1 }

my $captured = delivery('replay/1', '6f1c2d3e-0001');

subtest 'the delivery is accepted once' => sub {
    my $res = post_signed($captured);
    is($res->{status}, 202, 'signed delivery: 202') or diag $res->{content};
    is($res->{json}{result}, 'accepted', 'accepted');
    ok(wait_for(sub { alerts_for('replay/1') == 1 }, 10), 'one alert reached Rootly');
};

subtest 'replayed at once: a duplicate' => sub {
    my $res = post_signed($captured);
    is($res->{status}, 200, 'replay: 200') or diag $res->{content};
    is($res->{json}{result}, 'duplicate', 'answered duplicate');
};

subtest 'replayed after duplicate_window: still a duplicate, nothing queued' => sub {
    sleep 1.5;
    my $res = post_signed($captured);
    is($res->{status}, 200, 'replay: 200') or diag $res->{content};
    is($res->{json}{result}, 'duplicate', 'answered duplicate');
    is($res->{json}{class}, 'alert', 'with its class');
    ok(scalar $ng->log_lines(qr/replayed escalation-policy webhook from 127\.0\.0\.1 \(signature seen before\) not forwarded again/),
       'an info line says so');
    sleep 1;
    is(alerts_for('replay/1'), 1, 'Rootly got one alert in all');
    is(jobs_queued(), 0, 'nothing left in the queue');
};

subtest 'a new delivery of the same alert (another vo_uuid) is not a replay' => sub {
    my $res = post_signed(delivery('replay/1', '6f1c2d3e-0002'));
    is($res->{status}, 202, 'accepted') or diag $res->{content};
    ok(wait_for(sub { alerts_for('replay/1') == 2 }, 10), 'a second alert');
};

subtest 'replayed after a restart: a duplicate' => sub {
    $ng->stop;
    $ng->start_again;
    my $res = post_signed($captured);
    is($res->{status}, 200, 'replay after restart: 200') or diag $res->{content};
    is($res->{json}{result}, 'duplicate', 'answered duplicate');
    sleep 1;
    is(alerts_for('replay/1'), 2, 'no alert for the replay');
};

subtest 'concurrent copies, duplicate_window 0: the batch takes one' => sub {

    # no content-based duplicate check: only the signature decides, when
    # the batch commits (in one transaction, or one worker after another)

    my $ng0 = VoNginx->start(workers => 2, integration => {
        rootly_url => $rootly->url, escalation_auth_code => $CODE,
        escalation_url => $URL, duplicate_window => 0,
    });

    my $body = delivery('replay/2', '6f1c2d3e-0003');
    my $req = "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            . "Content-Type: application/x-www-form-urlencoded\r\n"
            . 'X-VictorOps-Signature: ' . signature($body) . "\r\n"
            . 'Content-Length: ' . length($body) . "\r\n\r\n" . $body;

    my @socks = map {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ng0->port,
                              Proto => 'tcp', Timeout => 5) or die "connect: $!"
    } 1 .. 4;
    syswrite $_, $req for @socks;

    my @results;
    for my $sock (@socks) {
        local $/;
        my $res = <$sock> // '';
        push @results, $res =~ /"result":"(\w+)"/ ? $1 : "no result: $res";
    }

    is_deeply([sort @results], ['accepted', ('duplicate') x 3],
              'one accepted, three duplicates') or diag explain \@results;
    ok(wait_for(sub { alerts_for('replay/2') == 1 }, 10), 'one alert');
    sleep 0.5;
    is(alerts_for('replay/2'), 1, 'only one');

    $ng0->stop;
};

subtest 'a store of the version before signatures is migrated on start' => sub {
    $ng->stop;

    # what the release of schema 4 left, before the signatures table
    # (t/fixtures/store-v4.sql, see t/058-store-migrate.t), its jobs gone
    my ($version) = $ng->store_dump('PRAGMA user_version') =~ /(\d+)/;
    my $before = 4;
    unlink map { $ng->store . $_ } '', '-wal', '-shm';
    system('sqlite3 ' . $ng->store . ' < t/fixtures/store-v4.sql') == 0
        or die 'loading t/fixtures/store-v4.sql failed';
    $ng->store_dump('DELETE FROM jobs');
    like($ng->store_dump('PRAGMA user_version'), qr/^\D*$before\s*$/s,
         "the store is at version $before");

    $ng->start_again;

    like($ng->store_dump('PRAGMA user_version'), qr/^\D*$version\s*$/s,
         "migrated to version $version");
    ok(scalar $ng->log_lines(qr/schema migrated from version $before to $version/),
       'logged');

    my $body = delivery('replay/3', '6f1c2d3e-0004');
    is(post_signed($body)->{status}, 202, 'a delivery after the migration: 202');
    sleep 1.5;
    my $res = post_signed($body);
    is($res->{json}{result}, 'duplicate', 'its replay after duplicate_window: duplicate');
    like($ng->store_dump('select count(*) from signatures'), qr/\b1\b/, 'one signature remembered');
};

$ng->stop;
done_testing();
