# Retention: dead letters and links do not pile up for ever.
#
#   1. A store seeded (sqlite3 CLI) with 1,203 dead letters dead 40 days
#      ago, 2 dead a day ago, links unchanged for 40 days, one for a day,
#      and an old link a waiting job still needs: with the default
#      retention (30d) the old dead letters and links are deleted, in
#      batches of at most 500, with a log line; the rest stays.
#   2. The status endpoint counts at most 100,000 rows of a table.
#   3. nginx -t refuses a retention that is not a time, or under 1h.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use VoNginx qw(wait_for);

my $DAY = 86_400_000;

my $ng = VoNginx->start(workers => 2,
                        integration => { rootly_url => 'http://127.0.0.1:1' });
$ng->stop;    # the store now has its schema

sub sql {
    my ($sql) = @_;
    open my $ph, '|-', 'sqlite3', $ng->store or die "sqlite3: $!";
    print $ph $sql;
    close $ph or die "sqlite3 failed ($?) on: $sql";
}

sub query {
    my ($sql) = @_;
    my $out = $ng->store_dump($sql);
    $out =~ s/^[^\n]*\n//;      # the header line
    return [split /\n/, $out];
}

# dead letters: kind 1 (alert), class 1, refused by Rootly
sub dead_letters {
    my ($prefix, $n, $dead_at) = @_;
    sql(<<"_SQL_");
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)
INSERT INTO jobs (id, kind, class, key, body, state, attempts, created_at,
                  next_at, last_status, last_error, dead_at)
SELECT '$prefix-' || i, 1, 1, 'svc/$prefix-' || i, '{}', 2, 1,
       $dead_at - 1000, $dead_at - 1000, 422, 'refused', $dead_at FROM n;
_SQL_
}

# ------------------------------------------------------------------ 1

my $now = int(time * 1000);
my $old = $now - 40 * $DAY;
my $fresh = $now - $DAY;

dead_letters('old-dead', 1203, $old);
dead_letters('fresh-dead', 2, $fresh);

sql(<<"_SQL_");
INSERT INTO jobs (id, kind, class, key, body, state, created_at, next_at)
VALUES ('waiting', 2, 2, 'svc/waiting', '{}', 0, $now - 60 * $DAY, $now + $DAY);
INSERT INTO links (key, incident, entity, rootly_alert, updated_at) VALUES
  ('svc/old-1', '1', 'svc/old-1', 'alert-1', $old),
  ('svc/old-2', '2', 'svc/old-2', 'alert-2', $old - 100 * $DAY),
  ('svc/old-3', '3', 'svc/old-3', 'alert-3', $now - 31 * $DAY),
  ('svc/fresh', '4', 'svc/fresh', 'alert-4', $fresh),
  ('svc/waiting', '5', 'svc/waiting', 'alert-5', $old);
_SQL_

is(query('select count(*) from jobs where state = 2')->[0], 1205,
   'seeded: 1,205 dead letters');

$ng->start_again;

ok(wait_for(sub { query('select count(*) from jobs where state = 2')->[0] == 2 }, 15),
   'the dead letters older than 30 days are deleted')
    or diag query('select count(*), min(dead_at), max(dead_at) from jobs where state = 2')->[0];

is_deeply(query("select id from jobs where state = 2 order by id"),
          ['fresh-dead-1', 'fresh-dead-2'], 'the recent dead letters stay');
is_deeply(query("select id from jobs where state < 2"), ['waiting'],
          'a waiting job is not retention\'s business');
is_deeply(query('select key from links order by key'), ['svc/fresh', 'svc/waiting'],
          'old links are deleted; a recent one, and one a waiting job needs, stay');

my @lines = $ng->log_lines(qr/victorops integration "acme": retention: \d+ dead letters and \d+ links older than 2592000 s deleted/);
my ($dead, $links, $biggest) = (0, 0, 0);
for (@lines) {
    /retention: (\d+) dead letters and (\d+) links/;
    $dead += $1;
    $links += $2;
    $biggest = $1 if $1 > $biggest;
}
ok(scalar(grep { /\[notice\] / } @lines) == @lines && @lines >= 3,
   'notice lines say what retention deleted, batch by batch')
    or diag explain \@lines;
is($dead, 1203, 'they add up to the dead letters deleted');
is($links, 3, 'and to the links deleted');
ok($biggest <= 500, 'no batch over 500 rows') or diag $biggest;

my $queue = $ng->integration_status->{queue};
is($queue->{dead_letters}, 2, 'status: 2 dead letters');
is($queue->{links}, 2, 'status: 2 links');
cmp_ok($queue->{oldest_pending_age_ms}, '>=', 60 * $DAY,
       'status: the waiting job is 60 days old');

# ------------------------------------------------------------------ 2

$ng->stop;
dead_letters('many', 100_005, $fresh);
$ng->start_again;

$queue = $ng->integration_status->{queue};
is($queue->{dead_letters}, 100_000, 'status counts stop at 100,000 rows');
is($queue->{pending}, 1, 'status: 1 job pending');
$ng->stop;

# ------------------------------------------------------------------ 3

sub nginx_t {
    my ($value) = @_;
    my $config = $ng->config =~ s/(\n\s*store )/\n        retention $value;$1/r;
    my $file = $ng->dir . '/conf/retention.conf';
    open my $fh, '>', $file or die "$file: $!";
    print $fh $config;
    close $fh;
    my $out = `@{[ VoNginx::binary() ]} -t -p @{[ $ng->dir ]}/ -c conf/retention.conf -e logs/retention-t.log 2>&1`;
    return ($? >> 8, $out);
}

for my $case (['0', qr/has a retention outside 1h\.\.100y in \S+retention\.conf:\d+/],
              ['30m', qr/has a retention outside 1h\.\.100y/],
              ['forever', qr/"retention" directive invalid value/]) {
    my ($value, $re) = @$case;
    my ($rc, $out) = nginx_t($value);
    isnt($rc, 0, "nginx -t refuses retention $value");
    like($out, $re, "and says why (retention $value)");
}

my ($rc, $out) = nginx_t('90d');
is($rc, 0, 'nginx -t accepts retention 90d') or diag $out;

done_testing();
