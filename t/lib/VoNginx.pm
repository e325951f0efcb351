package VoNginx;

# A real multi-process nginx (master + N workers) for scenario tests that
# Test::Nginx cannot express: SIGKILL, SIGHUP reloads, bursts of
# webhooks, several workers sharing one store.
#
#   my $ng = VoNginx->start(
#       workers     => 2,
#       integration => { rootly_url => $rootly->url, retry_max_delay => '2s' },
#   );
#   my $res = $ng->post_webhook({entity_id => 'svc/1', incident_number => '1'});
#   $res->{status};            # 202
#   $res->{json}{id};          # the job id
#   $ng->status;               # GET /status, decoded
#   $ng->integration_status;   # ->{integrations}{acme} of it
#   $ng->reload;               # SIGHUP, waits for the new generation of workers
#   $ng->kill9;                # SIGKILL master and workers
#   $ng->start_again;          # same prefix, config, port and store
#   $ng->stop;                 # SIGQUIT (SIGTERM, SIGKILL as fallbacks)
#   $ng->error_log;            # contents of logs/error.log
#   $ng->store_dump;           # the jobs table, through the sqlite3 CLI
#   VoNginx::wait_for(sub { ... }, 10);
#
# Everything lives in t/servroot-scenario-<pid>[-<n>]/ (ignored by git).
# Processes are tracked and signalled by pid only; whatever is still
# running is stopped when the test ends or gets SIGINT/SIGTERM.
#
# The integration block gets these defaults, any key can be overridden
# (undef drops it):  rootly_token rootly-test-token, webhook_secret s3cret,
# store <prefix>/acme.db, rootly_timeout 1s.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More ();
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(wait_for);

my $ROOT = abs_path(dirname(__FILE__) . '/../..');
my $JSON = JSON::PP->new->utf8->canonical;

my $START_TIMEOUT = 15;
my $STOP_TIMEOUT  = 15;

my %RUNNING;    # master pid => object
my $serial = 0;
my $handlers_installed;

sub binary { $ENV{TEST_NGINX_BINARY} // '/usr/sbin/nginx' }

sub module_path {
    my $m = $ENV{TEST_NGINX_LOAD_MODULES}
        // 'build/nginx/objs/ngx_http_victorops_module.so';
    $m = (split ' ', $m)[0];
    $m = "$ROOT/$m" unless $m =~ m{^/};
    return $m;
}

sub free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or croak "VoNginx: cannot bind a free port: $!";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

# Poll $cond every $interval seconds (default 0.1) until it returns a
# true value (returned) or $timeout seconds pass (undef).
sub wait_for {
    my ($cond, $timeout, $interval) = @_;
    my $deadline = time + ($timeout // 10);
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return undef if time > $deadline;
        sleep($interval // 0.1);
    }
}

sub start {
    my ($class, %opt) = @_;

    my $self = bless {
        workers     => $opt{workers} // 2,
        name        => $opt{name} // 'acme',
        owner       => $$,
        secret      => $opt{secret} // 's3cret',
    }, $class;

    my $tag = $$ . ($serial++ ? "-$serial" : '');
    $self->{dir} = $opt{dir} // "$ROOT/t/servroot-scenario-$tag";
    remove_tree($self->{dir}) if -d $self->{dir} && !$opt{keep_dir};
    make_path("$self->{dir}/conf", "$self->{dir}/logs");

    $self->{port} = $opt{port} // free_port();
    $self->{url} = "http://127.0.0.1:$self->{port}";

    my %directives = (
        rootly_token   => 'rootly-test-token',
        webhook_secret => $self->{secret},
        store          => "$self->{dir}/$self->{name}.db",
        rootly_timeout => '1s',
        %{ $opt{integration} // {} },
    );
    croak 'VoNginx->start: integration => {rootly_url => ...} is required'
        unless defined $directives{rootly_url} || defined $opt{config};
    $self->{store} = $directives{store};

    my $block = join '', map { "        $_ $directives{$_};\n" }
        grep { defined $directives{$_} } sort keys %directives;

    my $user = $> == 0 ? "user root;\n" : '';
    my $config = $opt{config} // <<"_EOC_";
load_module @{[ module_path() ]};
${user}daemon off;
master_process on;
worker_processes $self->{workers};
worker_shutdown_timeout 10s;
error_log logs/error.log info;
pid logs/nginx.pid;

events {
    worker_connections 1024;
}

http {
    access_log off;
    keepalive_requests 100000;
    keepalive_timeout 60s;

    victorops_integration $self->{name} {
$block    }
@{[ $opt{http_extra} // '' ]}
    server {
        listen 127.0.0.1:$self->{port} reuseport;
        location = /hook   { victorops_webhook $self->{name}; }
        location = /status { victorops_status; }
@{[ $opt{server_extra} // '' ]}
    }
}
_EOC_
    $self->{config} = $config;

    open my $fh, '>', "$self->{dir}/conf/nginx.conf"
        or croak "VoNginx: $self->{dir}/conf/nginx.conf: $!";
    print $fh $config;
    close $fh;

    _install_signal_handlers();
    $self->_launch;
    return $self;
}

# Start nginx again in the same prefix (config, port and store) after
# stop() or kill9().
sub start_again {
    my ($self) = @_;
    croak 'VoNginx->start_again: nginx is still running' if $self->{pid};
    $self->_launch;
    return $self;
}

sub _launch {
    my ($self) = @_;
    my $dir = $self->{dir};
    my $stderr = "$dir/logs/stderr.log";
    my @cmd = (binary(), '-p', "$dir/", '-c', 'conf/nginx.conf',
               '-e', "$dir/logs/error.log");

    $self->{log_offset_at_start} = -s "$dir/logs/error.log" // 0;

    my $pid = fork // croak "VoNginx: fork failed: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $stderr or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        { no warnings 'exec'; exec @cmd; }
        print STDERR "VoNginx: cannot exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $RUNNING{$pid} = $self;
    $self->_new_http;

    my $deadline = time + $START_TIMEOUT;
    my $probe = HTTP::Tiny->new(timeout => 1, keep_alive => 0);
    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $?;
            delete $RUNNING{$pid};
            delete $self->{pid};
            croak "VoNginx: nginx exited during start-up (status $status):\n"
                . _tail($stderr) . _tail("$dir/logs/error.log");
        }
        if (scalar($self->worker_pids) >= $self->{workers}) {
            my $res = $probe->get("$self->{url}/status");
            last if $res->{status} == 200;
        }
        if (time > $deadline) {
            $self->stop;
            croak "VoNginx: nginx did not answer on $self->{url} within "
                . "$START_TIMEOUT s:\n" . _tail("$dir/logs/error.log");
        }
        sleep 0.05;
    }
    return;
}

sub _new_http {
    my ($self) = @_;
    $self->{http} = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
    return;
}

sub pid    { $_[0]{pid} }
sub port   { $_[0]{port} }
sub url    { $_[0]{url} }
sub dir    { $_[0]{dir} }
sub store  { $_[0]{store} }
sub name   { $_[0]{name} }
sub config { $_[0]{config} }

# pids of the master's children (the workers; also old workers that are
# still shutting down after a reload)
sub worker_pids {
    my ($self, $master) = @_;
    $master //= $self->{pid} or return ();
    my @pids = grep { /^\d+$/ } map { s/\s+//gr } `ps -o pid= --ppid $master`;
    return grep { _alive($_) } @pids;
}

# POST a webhook. $body: hash ref (JSON-encoded) or string.  Options:
# secret => S (default the configured one; undef: none), headers => {...},
# fresh => 1 (a new connection instead of the keep-alive one),
# path => '/hook'.  Returns HTTP::Tiny's response plus json (decoded body
# or undef).
sub post_webhook {
    my ($self, $body, %opt) = @_;
    my $content = ref $body ? $JSON->encode($body) : $body;
    my $secret = exists $opt{secret} ? $opt{secret} : $self->{secret};
    my $path = $opt{path} // '/hook';
    $path .= ($path =~ /\?/ ? '&' : '?') . "secret=$secret" if defined $secret;
    my $http = $opt{fresh} ? HTTP::Tiny->new(timeout => 30, keep_alive => 0)
                           : $self->{http};
    my $res = $http->request(POST => "$self->{url}$path", {
        headers => { 'Content-Type' => 'application/json', %{ $opt{headers} // {} } },
        content => $content,
    });
    $res->{json} = eval { $JSON->decode($res->{content}) }
        if ($res->{headers}{'content-type'} // '') =~ /json/;
    return $res;
}

sub status {
    my ($self, %opt) = @_;
    my $res = HTTP::Tiny->new(timeout => 10)->get("$self->{url}/status");
    croak "VoNginx: GET /status: $res->{status} $res->{reason}: $res->{content}"
        unless $res->{success};
    return $JSON->decode($res->{content});
}

sub integration_status {
    my ($self) = @_;
    return $self->status->{integrations}{ $self->{name} };
}

# SIGHUP; returns once $workers new worker processes run (and, with
# wait_old => 1, the old ones are gone).
sub reload {
    my ($self, %opt) = @_;
    my $master = $self->{pid} or croak 'VoNginx->reload: not running';
    my %old = map { $_ => 1 } $self->worker_pids;
    kill 'HUP', $master or croak "VoNginx->reload: kill HUP $master: $!";
    my $timeout = $opt{timeout} // $START_TIMEOUT;
    my $new = wait_for(sub {
        my @new = grep { !$old{$_} } $self->worker_pids;
        @new >= $self->{workers} ? \@new : undef;
    }, $timeout, 0.02)
        or croak "VoNginx->reload: no new workers after $timeout s:\n"
                 . _tail("$self->{dir}/logs/error.log");
    if ($opt{wait_old}) {
        wait_for(sub { !grep { _alive($_) } keys %old }, $timeout)
            or Test::More::diag("VoNginx->reload: old workers still running: "
                                . join ' ', grep { _alive($_) } keys %old);
    }
    return @$new;
}

# SIGKILL the master and its workers, reap the master, wait until the
# workers are gone.
sub kill9 {
    my ($self) = @_;
    my $master = delete $self->{pid} or return;
    delete $RUNNING{$master};
    my @workers = $self->worker_pids($master);
    kill 'KILL', $master, @workers;
    waitpid $master, 0 if $self->{owner} == $$;
    wait_for(sub { !grep { _alive($_) } @workers }, 5, 0.02)
        or Test::More::diag("VoNginx->kill9: workers still alive: "
                            . join ' ', grep { _alive($_) } @workers);
    return;
}

sub stop {
    my ($self) = @_;
    my $master = delete $self->{pid} or return;
    delete $RUNNING{$master};
    return unless $self->{owner} == $$;
    my @workers = $self->worker_pids($master);
    for my $sig (qw(QUIT TERM KILL)) {
        kill $sig, $master;
        kill 'KILL', @workers if $sig eq 'KILL';
        my $deadline = time + ($sig eq 'KILL' ? 5 : $STOP_TIMEOUT);
        while (time < $deadline) {
            if (waitpid($master, WNOHANG) != 0) {
                wait_for(sub { !grep { _alive($_) } @workers }, 5, 0.02);
                return;
            }
            sleep 0.05;
        }
        Test::More::diag("VoNginx->stop: master $master ignored SIG$sig");
    }
    return;
}

sub error_log {
    my ($self, %opt) = @_;
    open my $fh, '<', "$self->{dir}/logs/error.log" or return '';
    local $/;
    my $all = <$fh> // '';
    return $all;
}

# error.log lines matching a regexp
sub log_lines {
    my ($self, $re) = @_;
    return grep { $_ =~ $re } split /\n/, $self->error_log;
}

# The jobs table (or another query) through the sqlite3 CLI.
sub store_dump {
    my ($self, $sql) = @_;
    $sql //= 'select seq,id,kind,class,key,state,attempts,next_at,lease_until,'
           . 'last_status,last_error from jobs';
    my $store = $self->{store};
    return "(no store at $store)\n" unless -f $store;
    open my $ph, '-|', 'sqlite3', '-header', $store, $sql
        or return "(sqlite3: $!)\n";
    local $/;
    my $out = <$ph> // '';
    close $ph;
    return $out;
}

sub _alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$fh> // '';
    return $stat =~ /^\d+ \(.*\) ([A-Z])/ && $1 ne 'Z' ? 1 : 0;
}

sub _tail {
    my ($file, $n) = @_;
    $n //= 30;
    open my $fh, '<', $file or return "(no $file)\n";
    my @lines = <$fh>;
    @lines = @lines[-$n .. -1] if @lines > $n;
    return join '', "--- $file\n", @lines;
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

END { _stop_all() }

1;
