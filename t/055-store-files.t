# The store's folder and files under a master running as root with
# "user nobody": the folder belongs to the worker user, who may put
# anything in it, so the master must never follow a name there.
#
#   1. A normal start: the folder is the worker user's, mode 0700; the
#      database, its -wal and -shm are the worker user's, mode 0600;
#      nothing in the folder is root's.  A store left by an older nginx
#      (root's, 0644, folder 0755) is taken over on the next start.
#   2. Planted in the folder: the database (alone or with -wal), -wal,
#      -shm or -journal as a symbolic link to a file outside, -wal as a
#      hard link, -shm as a folder, or the folder itself a symbolic link
#      to a folder: nginx -t fails and
#      nginx does not start, with an [emerg] naming the file, and what is
#      outside keeps its owner, mode, size and content.
#   3. A store the worker user cannot reach (a parent folder closed to it):
#      the master's SQLite work runs as that user, so nginx -t fails
#      naming the user instead of workers failing later.

use strict;
use warnings;

use lib 't/lib';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Digest::SHA qw(sha1_hex);
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Test::More;
use VoNginx qw(wait_for);

plan skip_all => 'needs root: the master hands the store to the worker user'
    if $> != 0;

my ($wuid, $wgid) = (getpwnam 'nobody')[2, 3];
plan skip_all => 'no user "nobody"' unless defined $wuid;
my $wgroup = getgrgid $wgid;
plan skip_all => "no group for gid $wgid" unless defined $wgroup;

my $ROOT = abs_path(dirname(__FILE__) . '/..');

# can "nobody" walk down to $path? (the workers open the store there)
sub reachable {
    my ($path) = @_;
    my $p = '';
    for my $dir ('/', map { $p .= "/$_" } grep { length } split m{/}, $path) {
        my @st = stat $dir or return 0;
        my $bit = $st[4] == $wuid ? 0100 : $st[5] == $wgid ? 0010 : 0001;
        return 0 unless $st[2] & $bit;
    }
    return 1;
}

# everything under one folder the worker user can reach: t/ when it can
# (CI), else a scratch folder under the system's temporary folder
my $dir = "$ROOT/t/servroot-scenario-$$-files";
unless (reachable("$ROOT/t")) {
    my $tmp = tempdir('vo-store-files-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $tmp;
    $dir = "$tmp/ng";
}
make_path("$dir/conf", "$dir/logs", { mode => 0755 });
chmod 0755, $dir;
BAIL_OUT("$dir is not reachable by nobody") unless reachable($dir);

my $port = VoNginx::free_port();

sub config {
    my ($store) = @_;
    my $module = VoNginx::module_path();
    return <<"_EOC_";
@{[ $module ? "load_module $module;" : '' ]}
user nobody $wgroup;
daemon off;
master_process on;
worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;

events {
    worker_connections 64;
}

http {
    access_log off;

    victorops_integration acme {
        rootly_url http://127.0.0.1:1;
        rootly_token rootly-test-token;
        webhook_secret s3cret;
        store $store;
    }

    server {
        listen 127.0.0.1:$port;
        location = /hook   { victorops_webhook acme; }
        location = /status { victorops_status; }
    }
}
_EOC_
}

sub log_since {
    my ($offset) = @_;
    open my $fh, '<', "$dir/logs/error.log" or return '';
    seek $fh, $offset, 0;
    local $/;
    return <$fh> // '';
}

# nginx -t: (exit code, what it and the error log said)
sub nginx_t {
    my ($store) = @_;
    open my $fh, '>', "$dir/conf/nginx.conf" or die "nginx.conf: $!";
    print $fh config($store);
    close $fh;
    my $offset = -s "$dir/logs/error.log" // 0;
    my $out = `@{[ VoNginx::binary() ]} -t -p $dir/ -c conf/nginx.conf -e logs/error.log 2>&1`;
    return ($? >> 8, $out . log_since($offset));
}

# a real start: (the nginx or undef, what the error log said)
sub start {
    my ($store) = @_;
    my $offset = -s "$dir/logs/error.log" // 0;
    my $ng = eval {
        VoNginx->start(config => config($store), dir => $dir, keep_dir => 1,
                       port => $port, workers => 1);
    };
    return ($ng, log_since($offset) . ($@ // ''));
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return undef;
    local $/;
    return scalar <$fh>;
}

# owner, group, mode, size and content (a folder: its entries)
sub snapshot {
    my ($path) = @_;
    my @st = lstat $path or return "(missing $path)";
    my $what = -d _ ? join(',', map { s{.*/}{}r } sort glob "$path/*")
                    : 'sha1 ' . sha1_hex(slurp($path) // '(unreadable)');
    return sprintf 'uid %d gid %d mode %o size %d: %s',
                   $st[4], $st[5], $st[2] & 07777, $st[7], $what;
}

sub owner_mode {
    my ($path) = @_;
    my @st = lstat $path or return "(missing $path)";
    return sprintf '%s:%s %o', scalar(getpwuid $st[4]) // $st[4],
                   scalar(getgrgid $st[5]) // $st[5], $st[2] & 07777;
}

# ------------------------------------------------------------------ 1

my $normal = "$dir/normal";
my ($ng, $log) = start("$normal/acme.db");
ok($ng, 'a normal start') or diag $log;

SKIP: {
    skip 'nginx did not start', 8 unless $ng;

    my $res = $ng->post_webhook({ entity_id => 'files/1', incident_number => '1',
                                  entity_display_name => 'store files' });
    is($res->{status}, 202, 'the workers (nobody) write the store')
        or diag explain $res;

    ok(wait_for(sub { -e "$normal/acme.db-wal" && -e "$normal/acme.db-shm" }, 5),
       'the database, its -wal and -shm exist');

    is(owner_mode($normal), "nobody:$wgroup 700",
       'the folder is the worker user\'s, mode 0700');

    my @files = map { s{.*/}{}r } sort glob "$normal/*";
    is_deeply([map { "$_ " . owner_mode("$normal/$_") } @files],
              [map { "$_ nobody:$wgroup 600" } @files],
              'every file in the folder is the worker user\'s, mode 0600')
        or diag explain \@files;

    $ng->stop;
    copy("$normal/acme.db", "$dir/golden.db") or die "copy: $!";

    # as an older nginx left it: root's, 0644 in a 0755 folder
    chown 0, 0, $normal, glob "$normal/*";
    chmod 0755, $normal;
    chmod 0644, glob "$normal/*";

    ($ng, $log) = start("$normal/acme.db");
    ok($ng, 'a start on a store root left behind') or diag $log;
    skip 'nginx did not start again', 3 unless $ng;

    is(owner_mode($normal), "nobody:$wgroup 700", 'the folder is taken over');
    is(owner_mode("$normal/acme.db"), "nobody:$wgroup 600",
       'the database is taken over');
    is($ng->integration_status->{queue}{pending}, 1,
       'the queued job is still there');
    $ng->stop;
}

# ------------------------------------------------------------------ 2

# a store folder as the worker user keeps it, with a database in it
sub store_folder {
    my ($folder, %opt) = @_;
    mkdir $folder or die "$folder: $!";
    unless ($opt{no_db}) {
        copy("$dir/golden.db", "$folder/acme.db") or die "copy: $!";
        chown $wuid, $wgid, "$folder/acme.db";
        chmod 0600, "$folder/acme.db";
    }
    chown $wuid, $wgid, $folder;
    chmod 0700, $folder;
}

# files outside the store, root's, that must not change
sub outside {
    my ($n) = @_;
    my $out = "$dir/outside-$n";
    make_path($out, { mode => 0755 });
    open my $fh, '>', "$out/empty" or die $!;
    close $fh;
    open $fh, '>', "$out/data" or die $!;
    print $fh "not a database, keep me\n" x 100;
    close $fh;
    chmod 0644, "$out/empty", "$out/data";
    return $out;
}

my $golden = -f "$dir/golden.db";

my @cases = (
    ['the database is a symbolic link to an empty file', sub {
        my ($folder, $out) = @_;
        store_folder($folder, no_db => 1);
        symlink "$out/empty", "$folder/acme.db" or die $!;
        return (["$out/empty"],
                qr/\[emerg\] .*store file "\Q$folder\E\/acme\.db" is a symbolic link, refused/);
    }],
    ['the database and -wal are symbolic links to files', sub {
        my ($folder, $out) = @_;
        store_folder($folder, no_db => 1);
        symlink "$out/empty", "$folder/acme.db" or die $!;
        symlink "$out/data", "$folder/acme.db-wal" or die $!;
        return (["$out/empty", "$out/data"],
                qr/\[emerg\] .*store file "\Q$folder\E\/acme\.db" is a symbolic link, refused/);
    }],
    ['-wal is a symbolic link to a file', sub {
        my ($folder, $out) = @_;
        store_folder($folder);
        symlink "$out/data", "$folder/acme.db-wal" or die $!;
        return (["$out/data"],
                qr/\[emerg\] .*store file "\Q$folder\E\/acme\.db-wal" is a symbolic link, refused/);
    }],
    ['-shm is a symbolic link to a file', sub {
        my ($folder, $out) = @_;
        store_folder($folder);
        symlink "$out/data", "$folder/acme.db-shm" or die $!;
        return (["$out/data"],
                qr/\[emerg\] .*store file "\Q$folder\E\/acme\.db-shm" is a symbolic link, refused/);
    }],
    ['-journal is a symbolic link to a file', sub {
        my ($folder, $out) = @_;
        store_folder($folder);
        symlink "$out/data", "$folder/acme.db-journal" or die $!;
        return (["$out/data"],
                qr/\[emerg\] .*store file "\Q$folder\E\/acme\.db-journal" is a symbolic link, refused/);
    }],
    ['-wal is a hard link to a file', sub {
        my ($folder, $out) = @_;
        store_folder($folder);
        link "$out/data", "$folder/acme.db-wal" or die $!;
        return (["$out/data"],
                qr/\[emerg\] .*store file "\Q$folder\E\/acme\.db-wal" has other hard links, refused/);
    }],
    ['-shm is a folder', sub {
        my ($folder, $out) = @_;
        store_folder($folder);
        mkdir "$folder/acme.db-shm" or die $!;
        return ([],
                qr/\[emerg\] .*store file "\Q$folder\E\/acme\.db-shm" is not a regular file, refused/);
    }],
    ['the folder is a symbolic link to a folder', sub {
        my ($folder, $out) = @_;
        symlink $out, $folder or die $!;
        return ([$out, "$out/data"],
                qr/\[emerg\] .*the folder "\Q$folder\E" of store "\Q$folder\E\/acme\.db" is a symbolic link, refused/);
    }],
);

my $n = 0;
for my $case (@cases) {
    my ($name, $setup) = @$case;
    $n++;

    SKIP: {
        skip "$name: no database from test 1", 5 unless $golden;

        my $folder = "$dir/case-$n";
        my $out = outside($n);
        my ($kept, $message) = $setup->($folder, $out);
        my %before = map { $_ => snapshot($_) } "$out/empty", "$out/data", $out, @$kept;

        my ($rc, $said) = nginx_t("$folder/acme.db");
        isnt($rc, 0, "$name: nginx -t fails");
        like($said, $message, "$name: nginx -t says which file") or diag $said;

        my ($started, $log) = start("$folder/acme.db");
        ok(!$started, "$name: nginx does not start");
        $started->stop if $started;
        like($log, $message, "$name: the error log says which file") or diag $log;

        is_deeply({map { $_ => snapshot($_) } keys %before}, \%before,
                  "$name: what is outside keeps owner, mode, size and content");
    }
}

# ------------------------------------------------------------------ 3

{
    my $locked = "$dir/locked";
    mkdir $locked, 0700 or die "$locked: $!";
    chmod 0700, $locked;

    my ($rc, $said) = nginx_t("$locked/store/acme.db");
    isnt($rc, 0, 'a store the worker user cannot reach: nginx -t fails');
    like($said, qr/\[emerg\] .*cannot open store "\Q$locked\E\/store\/acme\.db" as user "nobody"/,
         'it says the store cannot be opened as the worker user') or diag $said;
}

done_testing();
