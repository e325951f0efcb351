# Stores written by earlier releases, migrated forward when nginx starts:
# t/fixtures/store-v4.sql and store-v6.sql (SQL text, made by
# t/fixtures/store-scenario.pl with the module of schema 4, commit
# a5ca827, and of schema 6, a90b607) hold links, dead letters and jobs
# still pending because Rootly was down.  Loaded into the store before
# nginx starts; afterwards nothing is lost: every pending job reaches
# Rootly in its incident's order, the links still answer, the dead
# letters are listed and can be replayed.

use strict;
use warnings;

use lib 't/lib';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use HTTP::Tiny;
use JSON::PP;
use Test::More;
use VoMock;
use VoNginx qw(wait_for dedup_key store_sql rootly_successes);

my $ROOT = abs_path(dirname(__FILE__) . '/..');

plan skip_all => 'sqlite3 CLI not found (tools/deps.sh test)'
    unless grep { -x "$_/sqlite3" } split /:/, $ENV{PATH};

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');

sub admin {
    my ($ng, $query) = @_;
    my $res = HTTP::Tiny->new->post($ng->url . "/status?integration=acme&$query",
        { headers => { Authorization => 'Bearer adm' } });
    return $res->{success} ? decode_json($res->{content}) : { error => $res->{status} };
}

for my $version (4, 6) {
    subtest "a store of schema $version, migrated to 8" => sub {
        my $fixture = "$ROOT/t/fixtures/store-v$version.sql";
        my $dir = "$ROOT/t/servroot-scenario-migrate-$$-v$version";
        remove_tree($dir);
        make_path($dir);
        my $db = "$dir/acme.db";
        system("sqlite3 '$db' < '$fixture'") == 0 or die "loading $fixture failed";
        is(store_sql($db, 'PRAGMA user_version'), $version, "fixture loaded: schema $version");
        my $before = store_sql($db, 'SELECT sum(state < 2), sum(state = 2) FROM jobs;'
                            . ' SELECT count(*) FROM links');
        is($before, "6|2\n2", 'before: 6 jobs pending, 2 dead letters, 2 links');
        my $maxseq = store_sql($db, "SELECT seq FROM sqlite_sequence WHERE name = 'jobs'");
        ok($maxseq > 0, "the fixture's job sequence: $maxseq");

        $rootly->reset;
        $rootly->seed({ incidents => [{ id => 'inc-migrate-1', title => 'Migrated link' }] });

        my $ng = VoNginx->start(workers => 1, dir => $dir, keep_dir => 1, integration => {
            rootly_url => $rootly->url, admin_token => 'adm', store => $db,
            retention => '3650d', max_age => '3650d', alert_limit => 100000,
        });

        ok(scalar $ng->log_lines(
               qr/\[notice\] .*store "\Q$db\E": schema migrated from version $version to 8/),
           "log: schema migrated from version $version to 8")
            or diag $ng->error_log;

        # every pending job, in its incident's order
        my $want = {
            'mig/pending-1' => [qw(alert acknowledge resolve)],
            'mig/pending-2' => [qw(alert resolve)],
            'mig/pending-3' => [qw(alert)],
        };
        my $seq;
        wait_for(sub {
            $seq = rootly_successes($rootly, $rootly->requests(timeout => 0));
            @{ $seq->{'mig/pending-1'} // [] } == 3 && @{ $seq->{'mig/pending-2'} // [] } == 2
                && @{ $seq->{'mig/pending-3'} // [] } == 1
        }, 20, 0.2);
        is_deeply($seq, $want, 'the 6 pending jobs reached Rootly, each incident in order')
            or diag explain $seq;

        my @alerts = grep { $_->{method} eq 'POST' && $_->{path} eq '/v1/alerts' }
                     @{ $rootly->requests(timeout => 0) };
        is_deeply([sort map { $_->{json}{data}{attributes}{summary} } @alerts],
                  [map { "migrate mig/pending-$_" } 1 .. 3],
                  'the alerts carry the bodies queued by the old release');

        wait_for(sub { $ng->integration_status->{queue}{pending} == 0 }, 10, 0.2);
        my $st = $ng->integration_status;
        is($st->{queue}{pending}, 0, 'status: nothing pending');
        is($st->{queue}{dead_letters}, 2, 'status: 2 dead letters');

        # a link to a Rootly incident: an acknowledgement is a timeline event
        my $res = $ng->post_webhook({ entity_id => 'mig/linked', incident_number => '399',
                                      notification_type => 'ACKNOWLEDGEMENT',
                                      ack_user => 'jdoe', state_message => 'after migration' });
        is($res->{status}, 202, 'ACKNOWLEDGEMENT of the linked incident accepted');
        my $events = $rootly->requests(wait => 1, path => '/v1/incidents/inc-migrate-1/events',
                                       timeout => 10);
        is(scalar(grep { $_->{status} == 201 || $_->{status} == 200 } @$events), 1,
           'it became a timeline event of Rootly incident inc-migrate-1');
        is(scalar(grep { (dedup_key($_) // '') =~ /mig\/linked/ }
                  @{ $rootly->requests(timeout => 0, path => '/v1/alerts') }), 0,
           'not a new alert');
        like(store_sql($db, "SELECT rootly_alert FROM links WHERE key = 'mig/alerted'"),
             qr/^[0-9a-f-]{36}$/, 'the link of the alert delivered before is kept');

        # dead letters: listed, replayed, delivered
        my $dead = admin($ng, 'action=dead_letters');
        is_deeply([sort map { "$_->{incident} $_->{status}" } @{ $dead->{dead_letters} // [] }],
                  ['mig/dead-1 422', 'mig/dead-2 422'], 'dead letters listed')
            or diag explain $dead;
        is(admin($ng, 'action=replay')->{replayed}, 2, 'dead letters replayed');
        wait_for(sub {
            my $s = rootly_successes($rootly, $rootly->requests(timeout => 0));
            $s->{'mig/dead-1'} && $s->{'mig/dead-2'}
        }, 10, 0.2);
        $seq = rootly_successes($rootly, $rootly->requests(timeout => 0));
        is_deeply([@$seq{'mig/dead-1', 'mig/dead-2'}], [['alert'], ['alert']],
                  'the replayed dead letters reached Rootly');

        $ng->stop;

        is(store_sql($db, 'PRAGMA user_version'), 8, 'the store is at schema 8');
        is(store_sql($db, "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master"
                  . " WHERE type = 'index' AND tbl_name = 'jobs' ORDER BY name)"),
           'jobs_dead jobs_key jobs_leased jobs_ready',
           'jobs indexes of schema 8 (none on the random job ids)');
        is(store_sql($db, "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master"
                  . " WHERE type = 'trigger' AND tbl_name = 'jobs' ORDER BY name)"),
           'jobs_died jobs_replayed', 'the triggers made again');
        ok(store_sql($db, "SELECT seq FROM sqlite_sequence WHERE name = 'jobs'") >= $maxseq,
           "the job sequence did not go back (at least $maxseq)");
        is(store_sql($db, 'SELECT count(*) FROM jobs'), 0, 'every job done');
    };
}

done_testing();
