package VoPg;

# A throwaway PostgreSQL 15 cluster for the PostgreSQL store's tests:
# initdb into a temporary folder, postgres started as a child of the test
# (its pid recorded, signalled by pid only), listening on 127.0.0.1 on a
# free port and on a Unix socket in the folder; stopped (fast shutdown)
# and removed when the test ends.  Start one per .t file and share it.
#
#   use VoPg;
#   VoPg::require_server();                 # skip_all unless installed
#   my $pg = VoPg->start;                   # trust authentication
#   my $pg = VoPg->start(password => 'pw'); # scram-sha-256, user postgres
#   $pg->uri;               # postgresql://postgres@127.0.0.1:PORT/postgres
#                           #   ?sslmode=disable
#   $pg->uri(db => 'x', user => 'u', password => 'pw', query => 'a=b');
#   $pg->psql('select 1');  # rows as a list of "a|b" lines (dies on error)
#   $pg->psql_ok('...');    # (exit status 0, output) without dying
#   $pg->sql($db, $sql);    # the same lines joined by "\n", in database $db
#   $pg->createdb('name');
#   $pg->stop;              # SIGINT (fast shutdown), waits for the pid
#   $pg->start_again;       # same folder, port and password
#   $pg->running;  $pg->pid;  $pg->port;  $pg->dir;  $pg->server_log;
#
# As root (initdb and postgres refuse to run as root) the folder is given
# to the "postgres" user, initdb runs through runuser and the server's
# child drops to that user before exec, so the recorded pid is the
# postmaster's own.  fsync is off: a test cluster, never a benchmark.
#
# VOPG_BIN overrides /usr/lib/postgresql/15/bin; VOPG_KEEP=1 keeps the
# folder.

use strict;
use warnings;

use Carp qw(croak);
use File::Temp qw(tempdir);
use File::Path qw(remove_tree);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Test::More ();
use Time::HiRes qw(sleep time);

my $BIN = $ENV{VOPG_BIN} // '/usr/lib/postgresql/15/bin';
my $START_TIMEOUT = 30;
my $STOP_TIMEOUT  = 15;

my %RUNNING;    # pid => cluster
my @ALL;        # every cluster of this test, for END
my $handlers_installed;

sub bin { "$BIN/$_[0]" }

# The reason the server cannot be used, or undef.
sub unavailable {
    for my $b (qw(initdb postgres pg_isready psql)) {
        return "PostgreSQL server binaries not installed ($BIN/$b missing:"
             . ' apt-get install postgresql-15, or tools/deps.sh test)'
            unless -x bin($b);
    }
    if ($> == 0 && !defined getpwnam('postgres')) {
        return 'running as root and no "postgres" user to run the server as';
    }
    return undef;
}

# plan skip_all, with the reason, unless a cluster can be started.
sub require_server {
    my $why = unavailable() or return 1;
    Test::More::plan(skip_all => $why);
    exit 0;
}

sub free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or croak "VoPg: cannot bind a free port: $!";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

sub start {
    my ($class, %opt) = @_;

    my $why = unavailable();
    croak "VoPg: $why" if $why;

    my $self = bless {
        owner    => $$,
        password => $opt{password},
        port     => $opt{port} // free_port(),
        user     => 'postgres',
    }, $class;

    $self->{dir} = tempdir('vopg-XXXXXX', TMPDIR => 1);
    $self->{data} = "$self->{dir}/data";
    push @ALL, $self;

    if ($> == 0) {
        my ($uid, $gid) = (getpwnam 'postgres')[2, 3];
        $self->{uid} = $uid;
        $self->{gid} = $gid;
        chown $uid, $gid, $self->{dir} or croak "VoPg: chown $self->{dir}: $!";
    }
    chmod 0700, $self->{dir};

    my @initdb = (bin('initdb'), '-D', $self->{data}, '-U', 'postgres',
                  '--no-sync', '-E', 'UTF8', '--locale=C');
    if (defined $self->{password}) {
        my $pwfile = "$self->{dir}/pwfile";
        open my $fh, '>', $pwfile or croak "VoPg: $pwfile: $!";
        print $fh "$self->{password}\n";
        close $fh;
        chown $self->{uid}, $self->{gid}, $pwfile if $> == 0;
        chmod 0600, $pwfile;
        push @initdb, "--pwfile=$pwfile", '--auth=scram-sha-256';
    } else {
        push @initdb, '--auth=trust';
    }

    my $out = $self->_run_as_owner(@initdb);
    croak "VoPg: initdb failed:\n$out" if $?;
    unlink "$self->{dir}/pwfile";

    _install_signal_handlers();
    $self->start_again;
    return $self;
}

# a command as the cluster's owner, its output
sub _run_as_owner {
    my ($self, @cmd) = @_;
    unshift @cmd, 'runuser', '-u', 'postgres', '--' if $> == 0;
    my $pid = open(my $ph, '-|') // croak "VoPg: fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec @cmd; }
        print "VoPg: cannot exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$ph> // '';
    close $ph;
    return $out;
}

sub start_again {
    my ($self) = @_;
    croak 'VoPg->start_again: the server is running' if $self->{pid};

    my $log = "$self->{dir}/server.log";
    my @cmd = (bin('postgres'), '-D', $self->{data}, '-k', $self->{dir},
               '-h', '127.0.0.1', '-p', $self->{port},
               '-c', 'fsync=off', '-c', 'full_page_writes=off',
               '-c', 'max_connections=100', '-c', 'log_connections=on',
               '-c', 'log_line_prefix=%m [%p] ');

    my $pid = fork // croak "VoPg: fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        if ($> == 0) {
            # the server refuses root: drop to its owner, then exec
            $) = "$self->{gid} $self->{gid}";
            $( = $self->{gid};
            POSIX::setgid($self->{gid});
            POSIX::setuid($self->{uid}) or POSIX::_exit(126);
        }
        { no warnings 'exec'; exec @cmd; }
        print STDERR "VoPg: cannot exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $RUNNING{$pid} = $self;

    my $deadline = time + $START_TIMEOUT;
    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $RUNNING{$pid};
            delete $self->{pid};
            croak "VoPg: postgres exited during start-up (status $?):\n"
                . $self->server_log;
        }
        system(bin('pg_isready'), '-q', '-h', '127.0.0.1',
               '-p', $self->{port}, '-t', '1');
        last if $? == 0;
        if (time > $deadline) {
            $self->stop;
            croak "VoPg: postgres not ready within $START_TIMEOUT s:\n"
                . $self->server_log;
        }
        sleep 0.1;
    }
    return $self;
}

sub pid     { $_[0]{pid} }
sub port    { $_[0]{port} }
sub dir     { $_[0]{dir} }
sub running { $_[0]{pid} ? 1 : 0 }

# postgresql://USER[:PASSWORD]@127.0.0.1:PORT/DB?sslmode=disable[&QUERY]
sub uri {
    my ($self, %opt) = @_;
    my $user = $opt{user} // $self->{user};
    my $auth = defined $opt{password} ? "$user:$opt{password}" : $user;
    my $db = $opt{db} // 'postgres';
    my $query = 'sslmode=disable' . (defined $opt{query} ? "&$opt{query}" : '');
    return "postgresql://$auth\@127.0.0.1:$self->{port}/$db?$query";
}

# (exit status, output) of psql -At, as the postgres user, over TCP
sub psql_ok {
    my ($self, $sql, %opt) = @_;
    local $ENV{PGPASSWORD} = $self->{password} if defined $self->{password};
    local $ENV{PGCONNECT_TIMEOUT} = 5;
    my @cmd = (bin('psql'), '-X', '-At', '-v', 'ON_ERROR_STOP=1',
               '-h', '127.0.0.1', '-p', $self->{port}, '-U', 'postgres',
               '-d', $opt{db} // 'postgres', '-c', $sql);
    my $pid = open(my $ph, '-|') // croak "VoPg: fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec @cmd; }
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$ph> // '';
    close $ph;
    return ($? >> 8, $out);
}

sub psql {
    my ($self, $sql, %opt) = @_;
    my ($rc, $out) = $self->psql_ok($sql, %opt);
    croak "VoPg: psql failed ($rc): $sql\n$out" if $rc;
    return split /\n/, $out;
}

# psql's lines joined: one value, or rows of |-separated columns
sub sql {
    my ($self, $db, $sql) = @_;
    return join "\n", $self->psql($sql, db => $db);
}

sub createdb {
    my ($self, $name) = @_;
    $self->psql(qq{CREATE DATABASE "$name"});
    return $name;
}

sub server_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/server.log" or return '';
    local $/;
    return <$fh> // '';
}

# fast shutdown (SIGINT), then SIGQUIT, then SIGKILL; waits for the pid
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    delete $RUNNING{$pid};
    return unless $self->{owner} == $$;
    for my $sig (qw(INT QUIT KILL)) {
        kill $sig, $pid;
        my $deadline = time + $STOP_TIMEOUT;
        while (time < $deadline) {
            return if waitpid($pid, WNOHANG) != 0;
            sleep 0.05;
        }
        Test::More::diag("VoPg->stop: postgres $pid ignored SIG$sig");
    }
    return;
}

sub _stop_all {
    local $?;
    $_->stop for grep { $_->{owner} == $$ } values %RUNNING;
    return;
}

sub _install_signal_handlers {
    return if $handlers_installed++;
    for my $signal (qw(INT TERM)) {
        my $previous = $SIG{$signal};
        next if defined $previous && $previous eq 'IGNORE';
        $SIG{$signal} = sub {
            _stop_all();
            return $previous->(@_) if ref $previous eq 'CODE';
            $SIG{$signal} = 'DEFAULT';
            kill $signal, $$;
        };
    }
    return;
}

END {
    _stop_all();
    unless ($ENV{VOPG_KEEP}) {
        remove_tree($_->{dir}) for grep { $_->{owner} == $$ && -d $_->{dir} } @ALL;
    }
}

1;
