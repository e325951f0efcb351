# A reload whose store cannot be prepared does not stop nginx.
#
# nginx exits when a module's initialisation fails, on a reload too.  A
# store made unusable between two reloads (a path whose folder cannot be
# created) used to take the running nginx down with it: now the master and
# the other integrations go on, this integration answers 503 with an
# [emerg] saying why, and a reload with the store fixed brings it back.
# "nginx -t" still fails on it.

use strict;
use warnings;

use lib 't/lib';
use Cwd ();
use Test::More;
use VoNginx qw(wait_for alive);
use VoMock;

my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');

my $dir = Cwd::abs_path('t') . "/servroot-scenario-reload-$$";
my $other_store = "$dir/other.db";
my $url = $rootly->url;

my $ng = VoNginx->start(
    workers     => 2,
    dir         => $dir,
    integration => { rootly_url => $url },
    http_extra  => <<"_EOC_",
    victorops_integration other {
        rootly_url $url;
        rootly_token rootly-test-token;
        webhook_secret s3cret;
        store $other_store;
    }
_EOC_
    server_extra => '        location = /other { victorops_webhook other; }',
);

my $conf_file = $ng->dir . '/conf/nginx.conf';

sub write_conf {
    my ($conf) = @_;
    open my $fh, '>', $conf_file or die "$conf_file: $!";
    print $fh $conf;
    close $fh;
}

my $n = 0;

sub post {
    my ($path) = @_;
    $n++;
    return $ng->post_webhook({ entity_id => "svc$path", incident_number => "$n" },
                             path => $path, fresh => 1)->{status};
}

is(post('/hook'), 202, 'acme accepts a webhook');
is(post('/other'), 202, 'other accepts a webhook');

my $good = $ng->config;
my $store = $ng->store;
(my $bad = $good) =~ s{store \Q$store\E;}{store /proc/victorops-cannot-be/acme.db;}
    or die 'no store line in the configuration';

write_conf($bad);

my $t = qx{@{[VoNginx::binary()]} -p @{[$ng->dir]}/ -c $conf_file -t 2>&1};
isnt($?, 0, 'nginx -t refuses the store') or diag $t;
like($t, qr/cannot create the folder of store/, 'nginx -t says why');

my $master = $ng->pid;
my @new = $ng->reload(wait_old => 1);
ok(alive($master), 'the master survived the reload');
is(scalar @new, 2, 'with new workers');

like($ng->error_log,
     qr/\[emerg\] .*victorops integration "acme": reloaded without its store, its endpoints answer 503/,
     'the reload says the integration goes without its store');

is(post('/hook'), 503, 'acme answers 503 without its store');
is(post('/other'), 202, 'other goes on');
ok(!grep({ /exited on signal/ } $ng->log_lines(qr/\[alert\]/)), 'no worker crashed');

write_conf($good);
$ng->reload(wait_old => 1);
ok(alive($master), 'the master survived the second reload');
is(post('/hook'), 202, 'acme is back with its store fixed');

ok(wait_for(sub {
    my %keys = map { $_->{json}{data}{attributes}{deduplication_key} // '' => 1 }
               @{ $rootly->requests(path => '/v1/alerts', timeout => 0) };
    scalar(grep { /svc\/hook/ } keys %keys) && scalar(grep { /svc\/other/ } keys %keys)
}, 10), 'Rootly got the alerts of both integrations');

$ng->stop;

done_testing();
