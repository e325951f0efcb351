# The PostgreSQL store's group commit: at most one APPEND batch in
# flight per worker and integration; webhooks that arrive meanwhile join
# the next batch, sent when that one is answered.  Against a throwaway
# PostgreSQL 15 cluster (t/lib/VoPg.pm), one nginx with one worker; a
# trigger holds the batch of entity "slow" in the database (pg_sleep)
# until the test has posted 40 more webhooks, one process each, 20 ms
# apart (so that they reach nginx in different passes of its event
# loop), while it is in flight (seen in pg_stat_activity: wait_event
# PgSleep, not a time):
#
#   a. All 41 answered 202; the 40 were written by few transactions
#      (txid_current() recorded by the trigger: at most 4; the code before the group commit
#      wrote them in about one transaction each).
#   b. One of the 40 refused by the database (a trigger): the batch it
#      joined fails whole: each of the 40 answered, 202 or 503, at least
#      one 503; exactly those answered 202 written; the slow one 202.
#   c. The connection lost (pg_terminate_backend) while the slow batch
#      is in flight and 40 wait behind it: every request answered (202
#      once spooled, or 503; nothing hangs); the worker connects again and
#      the next webhook is 202; every webhook answered 202 is in the table
#      (moved from the spool).
#
# Skipped, with the reason, when PostgreSQL's server is not installed.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use VoPg;
use VoNginx qw(wait_for);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

VoPg::require_server();

my $N = 40;

my $pg = VoPg->start;
my $db = $pg->createdb('group');

sub sql { $pg->sql($db, @_) }

my $ng = VoNginx->start(
    workers => 1,
    integration => {
        rootly_url => 'http://127.0.0.1:1',
        store => $pg->uri(db => $db),
        store_timeout => '10s',
        node_id => 'group-node',
    },
);

ok(wait_for(sub {
       ($ng->integration_status->{store}{state} // '') eq 'ready' }, 20),
   'nginx connected and migrated') or diag $ng->error_log;

# the transaction that wrote each job (xmin changes when a claim updates
# the row)
sql('CREATE TABLE written (entity text, xact bigint)');
sql(q{CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS
      $$BEGIN
        INSERT INTO written VALUES (NEW.entity, txid_current());
        IF NEW.entity LIKE 'slow%' THEN PERFORM pg_sleep(3); END IF;
        IF NEW.entity LIKE 'poison%' THEN
          RAISE EXCEPTION 'refused by the test'; END IF;
        RETURN NEW; END$$});
sql('CREATE TRIGGER hold BEFORE INSERT ON jobs FOR EACH ROW'
    . ' EXECUTE FUNCTION hold()');

sub event {
    my ($entity, $n) = @_;
    return { entity_id => $entity, incident_number => "$n",
             entity_display_name => "group $entity",
             state_message => "group commit $entity" };
}

# a webhook in a process of its own: its status as the exit code
# (202 -> 2, 503 -> 5, no answer or anything else -> 9)

sub post_async {
    my ($body) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $r = $ng->post_webhook($body, fresh => 1);
        POSIX::_exit($r->{status} == 202 ? 2 : $r->{status} == 503 ? 5 : 9);
    }
    return $pid;
}

sub statuses {
    my (@pids) = @_;
    my %by;
    for my $pid (@pids) {
        waitpid($pid, 0);
        my $code = $? >> 8;
        $by{ $code == 2 ? 202 : $code == 5 ? 503 : 'none' }++;
    }
    return \%by;
}

sub sleeping {
    sql(q{SELECT count(*) FROM pg_stat_activity
          WHERE application_name = 'group-node' AND wait_event = 'PgSleep'});
}

# the slow batch in flight, then $N more posted meanwhile

sub round {
    my ($tag, @poison) = @_;
    my $slow = post_async(event("slow-$tag", 1));
    ok(wait_for(sub { sleeping() >= 1 }, 20, 0.05),
       "$tag: the slow batch is in the database") or return;
    my %poison = map { $_ => 1 } @poison;

    # one after the other, so that they reach nginx in different passes
    # of its event loop (each pass's batch was sent at once before)
    my @pids = map {
        sleep 0.02;
        post_async(event(($poison{$_} ? 'poison' : 'many') . "-$tag-$_", $_ + 1))
    } 1 .. $N;
    return ($slow, @pids);
}

subtest 'a. the webhooks that arrive meanwhile join one batch' => sub {
    my ($slow, @pids) = round('a') or return;
    my $st = statuses(@pids);
    is_deeply($st, { 202 => $N }, "all $N answered 202") or diag explain $st;
    is_deeply(statuses($slow), { 202 => 1 }, 'the slow one 202');

    is(sql(q{SELECT count(*) FROM jobs WHERE entity LIKE 'many-a-%'}), $N,
       "$N jobs written");
    my $xacts = sql(q{SELECT count(DISTINCT xact) FROM written
                      WHERE entity LIKE 'many-a-%'});
    cmp_ok($xacts, '<=', 4, "by at most 4 transactions ($xacts)");
};

subtest 'b. a batch that fails: every request in it answered 503' => sub {
    my ($slow, @pids) = round('b', 7) or return;
    my $st = statuses(@pids);
    ok(!$st->{none}, 'every request answered') or diag explain $st;
    is(($st->{202} // 0) + ($st->{503} // 0), $N, '202 or 503 each')
        or diag explain $st;
    cmp_ok($st->{503} // 0, '>=', 1, 'the refused one and its batch: 503')
        or diag explain $st;
    is_deeply(statuses($slow), { 202 => 1 }, 'the slow one 202');
    is(sql(q{SELECT count(*) FROM jobs WHERE entity LIKE 'many-b-%'}),
       $st->{202} // 0, 'what was answered 202 is written, nothing else');
    is(sql(q{SELECT count(*) FROM jobs WHERE entity LIKE 'poison-b-%'}), 0,
       'not the refused one');
    ok(scalar $ng->log_lines(qr/refused by the test/), 'the error logged');
    diag 'b: ' . join ', ', map { "$_: $st->{$_}" } sort keys %$st;
};

subtest 'c. the connection lost meanwhile: every request answered' => sub {
    my ($slow, @pids) = round('c') or return;

    # the $N are held behind the slow batch (or on their way): the
    # session goes
    sql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'group-node'});

    my $st = statuses(@pids, $slow);
    ok(!$st->{none}, 'every request answered') or diag explain $st;
    is(($st->{202} // 0) + ($st->{503} // 0), $N + 1, '202 or 503 each')
        or diag explain $st;
    # those the lost connection could not take were spooled (202) and
    # are moved once the worker is connected again
    my $count = sub {
        sql(q{SELECT count(DISTINCT entity) FROM jobs
              WHERE entity LIKE 'many-c-%' OR entity LIKE 'slow-c%'});
    };
    ok(wait_for(sub { $count->() >= ($st->{202} // 0) }, 30, 0.2),
       'every 202 is in the table (moved from the spool if need be)')
        or diag 'stored: ' . $count->();
    note 'c: ' . join ', ', map { "$_: $st->{$_}" } sort keys %$st;

    ok(wait_for(sub {
           $ng->post_webhook(event('after-c', 99), fresh => 1)->{status} == 202 },
       30, 0.5), 'connected again: 202');
    ok(scalar $ng->log_lines(qr/PostgreSQL store \S+: connection lost/),
       'the lost connection logged');
};

$ng->stop;

done_testing;
