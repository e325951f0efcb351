# The duplicate index shared by the workers (src/ngx_http_victorops_dedup.c):
# the same delivery within duplicate_window is answered "duplicate" by
# whichever worker takes it, without a commit; after nginx is stopped and
# started again the index is rebuilt from the store; a delivery whose
# batch failed to commit is accepted when retried, not called a duplicate.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use VoNginx qw(wait_for);
use VoMock;

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');

my $ng = VoNginx->start(
    workers     => 2,
    integration => { rootly_url => $rootly->url, store_busy_timeout => '100ms' },
);

sub post {
    my ($body) = @_;
    return $ng->post_webhook($body, fresh => 1);
}

sub commits { $ng->integration_status->{store}{commits} }

sub pid_of {
    my ($line) = @_;
    return $line =~ /\[\w+\] (\d+)#/ ? $1 : 0;
}

my $a = { entity_id => 'svc/dedup-a', incident_number => '9101',
          entity_display_name => 'dedup a' };

# the same delivery from many connections: both workers take some

my $first = post($a);
is($first->{status}, 202, 'the first delivery is accepted')
    or diag explain $first;

my $before = commits();
my @dup = map { post($a) } 1 .. 20;

is(scalar(grep { $_->{status} == 200 && ($_->{json}{result} // '') eq 'duplicate' } @dup),
   20, 'the same delivery again is answered duplicate, 20 times')
    or diag explain [map { "$_->{status} $_->{content}" } @dup];

is(commits(), $before, 'answered from the shared index: no commit');

my %pids = map { pid_of($_) => 1 }
           $ng->log_lines(qr/duplicate alert for incident "9101" not forwarded again/);
is(scalar(keys %pids), 2, 'by both workers') or diag join ' ', keys %pids;

# stopped and started: the index comes back from the store

$ng->stop;
$ng->start_again;

my $again = post($a);
is($again->{status}, 200, 'after a restart, still a duplicate');
is($again->{json}{result}, 'duplicate', '... answered "duplicate"');
ok(scalar($ng->log_lines(qr/duplicate index loaded from the store: 1 recent deliveries/)),
   'the index was loaded from the store');

# a batch that fails to commit: the store locked by another writer

my $b = { entity_id => 'svc/dedup-b', incident_number => '9102',
          entity_display_name => 'dedup b' };

my $lock = open(my $lh, '-|', 'python3', '-c', <<'_PY_', $ng->store, '3');
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("ROLLBACK")
_PY_
ok($lock, 'a writer holds the store') or BAIL_OUT("python3: $!");
my $locked = <$lh>;
is($locked, "locked\n", 'the store is locked');

my $failed = post($b);
is($failed->{status}, 503, 'the batch cannot commit: 503')
    or diag explain $failed;

close $lh;    # waits for the writer to let go

my $retry = post($b);
is($retry->{status}, 202, 'the retry is accepted, not a duplicate')
    or diag explain $retry;

my $third = post($b);
is($third->{json}{result}, 'duplicate', 'and the same delivery once more is a duplicate');

# what Rootly got: each alert once

sub delivered {
    return VoNginx::delivered_keys($rootly->requests(path => '/v1/alerts',
                                                     timeout => 0));
}

ok(wait_for(sub { my $d = delivered(); ($d->{'victorops:acme:svc/dedup-b'} // 0) >= 1 }, 10),
   'the retried delivery reached Rootly') or diag explain delivered();
sleep 1;    # late duplicates would show up now
is_deeply(delivered(), { 'victorops:acme:svc/dedup-a' => 1,
                         'victorops:acme:svc/dedup-b' => 1 },
          'each delivery reached Rootly once');

# jobs of the previous release (kinds alert and activity, bodies
# rendered at accept time) still go out as they were stored

my ($sent) = grep { (VoNginx::dedup_key($_) // '') eq 'victorops:acme:svc/dedup-a' }
             @{ $rootly->requests(path => '/v1/alerts', timeout => 0) };
ok($sent, 'the alert of dedup-a as Rootly got it') or BAIL_OUT('no alert');

my $old = JSON::PP->new->canonical->decode(JSON::PP->new->encode($sent->{json}));
$old->{data}{attributes}{$_} = 'victorops:acme:svc/old'
    for qw(deduplication_key external_id);
$old->{data}{attributes}{summary} = 'stored by the previous release';

$ng->stop;

my $now = int(time * 1000);
system('python3', '-c', <<'_PY_', $ng->store, JSON::PP->new->encode($old), $now) == 0
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
now = int(sys.argv[3])
# one key: the alert is its head (ready), the activity waits behind it
rows = [("0000000000000a01", 1, 0, sys.argv[2].encode(), 1),
        ("0000000000000a02", 2, 1, b"Acknowledged in VictorOps by jdoe", 0)]
for id, kind, cls, body, ready in rows:
    c.execute("INSERT INTO jobs (id, kind, class, key, incident, entity, body,"
              " created_at, next_at, ready) VALUES (?, ?, ?, 'svc/old', '9103',"
              " 'svc/old', ?, ?, ?, ?)", (id, kind, cls, body, now, now, ready))
c.commit()
_PY_
    or BAIL_OUT('cannot write the old jobs');

$ng->start_again;

ok(wait_for(sub { delivered()->{'victorops:acme:svc/old'} }, 10),
   'an old alert job is delivered as stored') or diag explain delivered();
ok(wait_for(sub {
       grep { $_->{path} =~ m{^/v1/alerts/[^/]+/acknowledge$} }
       @{ $rootly->requests(path => '/v1/alerts/', timeout => 0) }
   }, 10), 'an old activity job acknowledges the alert it is linked to')
    or diag $ng->error_log;

$ng->stop;

done_testing();
