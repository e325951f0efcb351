# examples/production.conf is a working configuration: with its secret
# files, certificate, store and log paths pointed at a scratch folder and
# free loopback ports, `nginx -t` accepts it, and nginx serves its status
# endpoint on localhost.

use strict;
use warnings;

use lib 't/lib';
use Cwd qw(abs_path);
use File::Path qw(make_path remove_tree);
use HTTP::Tiny;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);
use VoNginx qw(wait_for);

my $root = abs_path('.');
my $dir = "$root/t/servroot-examples-$$";
remove_tree($dir);
make_path("$dir/conf", "$dir/logs", "$dir/secrets");

END { remove_tree($dir) if $dir && Test::More->builder->is_passing }

for my $name (qw(rootly.token webhook.secret vo.key rootly-signing.secret
                 escalate.token slack-signing.secret admin.token)) {
    open my $fh, '>', "$dir/secrets/$name" or die "$name: $!";
    print $fh "example-$name\n";
    close $fh;
}

system('sh', '-c', 'exec "$@" 2>/dev/null', 'openssl', 'openssl', 'req',
       '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
       '-subj', '/CN=hooks.example.com', '-keyout', "$dir/secrets/key.pem",
       '-out', "$dir/secrets/cert.pem") == 0
    or BAIL_OUT('openssl could not make a certificate');

my ($tls, $admin) = (VoNginx::free_port(), VoNginx::free_port());

open my $in, '<', "$root/examples/production.conf" or die $!;
my $conf = do { local $/; <$in> };
close $in;

$conf =~ s{/etc/nginx/victorops/}{$dir/secrets/}g;
$conf =~ s{/etc/ssl/certs/hooks\.example\.com\.pem}{$dir/secrets/cert.pem}g;
$conf =~ s{/etc/ssl/private/hooks\.example\.com\.key}{$dir/secrets/key.pem}g;
$conf =~ s{/var/lib/nginx/victorops/}{$dir/}g;
$conf =~ s{/var/log/nginx/}{$dir/logs/}g;
$conf =~ s{listen 443 ssl;}{listen 127.0.0.1:$tls ssl;};
$conf =~ s{\n\s*listen \[::\]:443 ssl;}{};
$conf =~ s{listen 127\.0\.0\.1:8081;}{listen 127.0.0.1:$admin;};

unlike(join("\n", grep { !/^\s*#/ } split /\n/, $conf), qr{/etc/|/var/},
       'every system path was pointed at the scratch folder');

open my $out, '>', "$dir/conf/production.conf" or die $!;
print $out $conf;
close $out;

my $module = VoNginx::module_path();
my $user = $> == 0 ? "user root;\n" : '';

open $out, '>', "$dir/conf/nginx.conf" or die $!;
print $out <<"_EOC_";
@{[ $module ? "load_module $module;" : '' ]}
${user}daemon off;
worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events { worker_connections 64; }
http {
    include production.conf;
}
_EOC_
close $out;

my @nginx = (VoNginx::binary(), '-p', "$dir/", '-c', 'conf/nginx.conf', '-e', "$dir/logs/error.log");

my $t = qx{@nginx -t 2>&1};
is($?, 0, 'nginx -t accepts examples/production.conf') or diag $t;

my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>>', "$dir/logs/stderr.log";
    open STDERR, '>&', \*STDOUT;
    { no warnings 'exec'; exec @nginx; }
    POSIX::_exit(127);
}

my $http = HTTP::Tiny->new(timeout => 5);
my $res;
ok(wait_for(sub { $res = $http->get("http://127.0.0.1:$admin/victorops/status"); $res->{status} == 200 }, 10),
   'the status endpoint answers on localhost') or diag $res->{status}, $res->{content};
like($res->{content} // '', qr/"acme":\{/, 'with the integration');

$res = $http->post("http://127.0.0.1:$admin/victorops/import-teams");
is($res->{status}, 401, 'the import endpoint wants the admin token');

kill 'QUIT', $pid;
my $deadline = time + 10;
sleep 0.1 while waitpid($pid, WNOHANG) == 0 && time < $deadline;
if (kill 0, $pid) { kill 'KILL', $pid; waitpid($pid, 0); }

done_testing();
