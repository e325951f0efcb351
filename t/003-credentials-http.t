# nginx -t warns (and still accepts the configuration) when a credential
# would cross the network in clear: a user:password@ in a plain http://
# URL, and rootly_url / api_url in plain http:// to a host that is not
# loopback while a token or key is sent there.  The warning names the
# integration, the directive, file and line, never the credential.

use strict;
use warnings;

use lib 't/lib';
use Cwd qw(abs_path);
use File::Path qw(make_path remove_tree);
use Test::More;
use VoNginx;

my $root = abs_path('.');
my $dir = "$root/t/servroot-credentials-$$";
remove_tree($dir);
make_path("$dir/conf", "$dir/logs");

END { remove_tree($dir) if $dir && Test::More->builder->is_passing }

my $module = VoNginx::module_path();
my $user = $> == 0;

# nginx -t on an integration block; returns (exit status, output, the
# line number of each directive in nginx.conf)
sub nginx_t {
    my (@directives) = @_;
    my @lines = (($module ? ("load_module $module;") : ()),
                 ($user ? ('user root;') : ()),
                 'error_log logs/error.log info;', 'pid logs/nginx.pid;',
                 'events { worker_connections 64; }', 'http {',
                 '    victorops_integration acme {', "        store $dir/acme.db;");
    my %line;
    for my $d (@directives) {
        push @lines, "        $d;";
        $line{ (split ' ', $d)[0] } //= scalar @lines;
    }
    push @lines, '    }', '}';

    open my $fh, '>', "$dir/conf/nginx.conf" or die $!;
    print $fh join("\n", @lines), "\n";
    close $fh;

    my $out = qx{'${\ VoNginx::binary()}' -t -p '$dir/' -c conf/nginx.conf -e '$dir/logs/error.log' 2>&1};
    return ($? >> 8, $out, \%line);
}

sub warnings_in { [ grep { /\[warn\]/ } split /\n/, $_[0] ] }

my $conf_re = qr{\Q$dir\E/conf/nginx\.conf};

subtest 'rootly_url in plain http:// to a remote host' => sub {
    my ($rc, $out, $line) = nginx_t('rootly_token s3cr3t-rootly-token',
                                    'rootly_url http://rootly.example.com',
                                    'webhook_secret s');
    is($rc, 0, 'nginx -t accepts it') or diag $out;
    my $w = warnings_in($out);
    is(scalar @$w, 1, 'one warning') or diag $out;
    like($w->[0] // '', qr/\[warn\] .*victorops integration "acme": "rootly_url" is plain http:\/\/ to "rootly\.example\.com", the Rootly token crosses the network unencrypted in $conf_re:$line->{rootly_url}$/,
         'names the integration, the directive, the host, file and line');
    unlike($out, qr/s3cr3t-rootly-token/, 'never the token');
};

subtest 'api_url in plain http:// with the API key' => sub {
    my ($rc, $out, $line) = nginx_t('rootly_token t', 'webhook_secret s',
                                    'api_url http://api.victorops.example',
                                    'api_id vo-id', 'api_key s3cr3t-vo-key');
    is($rc, 0, 'accepted') or diag $out;
    my $w = warnings_in($out);
    is(scalar @$w, 1, 'one warning') or diag $out;
    like($w->[0] // '', qr/\[warn\] .*"api_url" is plain http:\/\/ to "api\.victorops\.example", the VictorOps API key crosses the network unencrypted in $conf_re:$line->{api_url}$/,
         'says so, with file and line');
    unlike($out, qr/s3cr3t-vo-key/, 'never the key');
};

subtest 'api_url in plain http:// but no key sent: no warning' => sub {
    my ($rc, $out) = nginx_t('rootly_token t', 'webhook_secret s',
                             'api_url http://api.victorops.example');
    is($rc, 0, 'accepted') or diag $out;
    is_deeply(warnings_in($out), [], 'no warning');
};

subtest 'credentials in a plain http:// URL' => sub {
    my ($rc, $out, $line) = nginx_t('rootly_token t', 'webhook_secret s',
                                    'rootly_url http://bob:pa55w0rd@127.0.0.1:1',
                                    'portal_url http://carol:hunter2@portal.example.com');
    is($rc, 0, 'accepted') or diag $out;
    my $w = warnings_in($out);
    is(scalar @$w, 2, 'one warning each (the loopback Rootly gets no other)') or diag $out;
    like($w->[0] // '', qr/\[warn\] .*victorops integration "acme": "rootly_url" carries credentials \(user:password\@\) in a plain http:\/\/ URL, they cross the network unencrypted in $conf_re:$line->{rootly_url}$/,
         'rootly_url, file and line');
    like($w->[1] // '', qr/"portal_url" carries credentials .* in $conf_re:$line->{portal_url}$/,
         'portal_url, file and line');
    unlike($out, qr/pa55w0rd|hunter2|bob|carol/, 'neither user nor password shown');
};

subtest 'https://, and loopback over http://: no warning' => sub {
    for my $url ('https://api.rootly.com', 'https://bob:pw@api.rootly.com',
                 'http://127.0.0.1:8080', 'http://127.9.9.9', 'http://localhost:3000',
                 'http://LOCALHOST', 'http://[::1]:8080') {
        my ($rc, $out) = nginx_t('rootly_token t', 'webhook_secret s', "rootly_url $url",
                                 'api_url http://127.0.0.1:9', 'api_id i', 'api_key k');
        is($rc, 0, "$url: accepted") or diag $out;
        is_deeply(warnings_in($out), [], "$url: no warning") or diag $out;
    }
};

subtest 'not loopback, though it looks close' => sub {
    for my $url ('http://128.0.0.1', 'http://localhost.example.com', 'http://[::2]',
                 'http://10.0.0.1') {
        my ($rc, $out) = nginx_t('rootly_token t', 'webhook_secret s', "rootly_url $url");
        is(scalar @{ warnings_in($out) }, 1, "$url: warned") or diag $out;
    }
};

done_testing();
