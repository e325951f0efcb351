package VoNginx;

# A real multi-process nginx (master + N workers) for scenario tests that
# Test::Nginx cannot express: SIGKILL, SIGHUP reloads, bursts of
# webhooks, several workers sharing one store.
#
#   my $ng = VoNginx->start(
#       workers     => 2,                       # worker_processes (default 2)
#       integration => { rootly_url => $rootly->url, retry_max_delay => '2s' },
#       http_extra  => 'victorops_max_connections 1;',   # optional, http{}
#       server_extra => '...',                  # optional, server{}
#   );                                          # (or config => full text)
#   my $res = $ng->post_webhook({entity_id => 'svc/1', incident_number => '1'},
#                               fresh => 1);    # fresh: new connection
#   $res->{status};            # 202 (599: connection failed)
#   $res->{json}{id};          # the job id
#   my $bg = $ng->post_in_background('/import', headers => {...});
#   my $res = $bg->();         # waits: {status, content, json}
#   $ng->status;               # GET /status, decoded
#   $ng->integration_status;   # ->{integrations}{acme} of it
#   $ng->reload;               # SIGHUP, waits for the new generation of workers
#   my @old = $ng->reload(nowait => 1);  $ng->wait_new_workers(\@old);
#   $ng->worker_pids;          # children of the master
#   $ng->kill9;                # SIGKILL master and workers
#   $ng->start_again;          # same prefix, config, port and store
#   $ng->stop;                 # SIGQUIT (SIGTERM, SIGKILL as fallbacks)
#   $ng->error_log;            # contents of logs/error.log
#   $ng->log_lines(qr/.../);   # matching lines of it
#   $ng->log_tail;             # its last 30 module, warn and worse lines, for diag
#   VoNginx::no_alerts_logged('a', @nodes);  # a test: no [alert] or worse
#   $ng->store_dump;           # the jobs table, through the sqlite3 CLI
#   VoNginx::wait_for(sub { ... }, 10);
#   VoNginx::delivered_keys($rootly->requests(...));  # dedup key => 2xx count
#
# webhooks go through a small keep-alive HTTP/1.1 client (TCP_NODELAY, one
# write per request): 1,000 webhooks take well under a second.
#
# Everything lives in t/servroot-scenario-<pid>[-<n>]/ (ignored by git),
# removed at the end if every test passed (VONGINX_KEEP=1 keeps it).
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
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More ();
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(wait_for dedup_key delivered_keys alive store_sql
                    rootly_successes no_alerts_logged);

my $ROOT = abs_path(dirname(__FILE__) . '/../..');
my $JSON = JSON::PP->new->utf8->canonical;

my $START_TIMEOUT = 15;
my $STOP_TIMEOUT  = 15;

my %RUNNING;    # master pid => object
my @DIRS;       # [prefix, pid of the test]: removed at the end if all passed
my $serial = 0;
my $handlers_installed;

sub binary { $ENV{TEST_NGINX_BINARY} // '/usr/sbin/nginx' }

# the module to load; none when TEST_NGINX_LOAD_MODULES is set but empty
# (an nginx with the module linked in, as `make test-static` runs)

sub module_path {
    my $m = $ENV{TEST_NGINX_LOAD_MODULES}
        // 'build/nginx/objs/ngx_http_victorops_module.so';
    $m = (split ' ', $m)[0] // return '';
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

# The deduplication_key of a recorded POST /v1/alerts (VoMock->requests).
# the answer of the sqlite3 CLI to query "q" on store "db", without the
# last newline
sub store_sql {
    my ($db, $q) = @_;
    open my $ph, '-|', 'sqlite3', $db, $q or die "sqlite3: $!";
    local $/;
    my $out = <$ph> // '';
    close $ph;
    $out =~ s/\n\z//;
    return $out;
}

# what the mock Rootly answered with a 2xx, in order, by entity:
# entity => [alert | acknowledge | resolve | call, ...]
sub rootly_successes {
    my ($rootly, $reqs) = @_;
    my %entity_of_alert = map {
        my $key = $_->{attributes}{deduplication_key} // '';
        $key =~ /^victorops:acme:(.+)$/ ? ($_->{id} => $1) : ()
    } @{ $rootly->state->{alerts} };
    my %seq;
    for my $r (sort { $a->{seq} <=> $b->{seq} } @$reqs) {
        next unless $r->{status} >= 200 && $r->{status} < 300;
        if ($r->{method} eq 'POST' && $r->{path} eq '/v1/alerts') {
            my ($e) = (dedup_key($r) // '') =~ /^victorops:acme:(.+)$/;
            push @{ $seq{ $e // '?' } }, 'alert';
        } elsif ($r->{path} =~ m{^/v1/alerts/([^/]+)/(acknowledge|resolve)$}) {
            push @{ $seq{ $entity_of_alert{$1} // "alert $1" } }, $2;
        } else {
            push @{ $seq{"$r->{method} $r->{path}"} }, 'call';
        }
    }
    return \%seq;
}


sub dedup_key {
    my ($req) = @_;
    return (($req->{json} // {})->{data} // {})->{attributes}{deduplication_key};
}

# { dedup key => number of 2xx answers } over recorded requests to /v1/alerts
sub delivered_keys {
    my ($reqs) = @_;
    my %n;
    for my $r (@$reqs) {
        next unless $r->{method} eq 'POST' && $r->{path} eq '/v1/alerts';
        next unless ($r->{status} // 0) >= 200 && $r->{status} < 300;
        $n{ dedup_key($r) // '(none)' }++;
    }
    return \%n;
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
    push @DIRS, [$self->{dir}, $$] unless grep { $_->[0] eq $self->{dir} } @DIRS;

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
@{[ module_path() ? 'load_module ' . module_path() . ';' : '' ]}
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
    $self->_forget_connection;

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

sub _forget_connection {
    my ($self) = @_;
    close delete $self->{sock} if $self->{sock};
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
    return grep { alive($_) } @pids;
}

# POST a webhook. $body: hash ref (JSON-encoded) or string.  Options:
# secret => S (default the configured one; undef: none), headers => {...},
# fresh => 1 (a new connection instead of the keep-alive one),
# path => '/hook'.  Returns {status, reason, headers, content, json}
# (json: the decoded body or undef); status 599 when the connection
# failed (content: the error).
#
# A raw keep-alive HTTP/1.1 client with TCP_NODELAY and one write per
# request: HTTP::Tiny writes head and body separately, which costs a
# delayed ACK (40 ms) per request.
sub post_webhook {
    my ($self, $body, %opt) = @_;
    my $content = ref $body ? $JSON->encode($body) : $body;
    my $secret = exists $opt{secret} ? $opt{secret} : $self->{secret};
    my $path = $opt{path} // '/hook';
    $path .= ($path =~ /\?/ ? '&' : '?') . "secret=$secret" if defined $secret;
    my %headers = ('Content-Type' => 'application/json', %{ $opt{headers} // {} });
    my $req = "POST $path HTTP/1.1\r\nHost: 127.0.0.1:$self->{port}\r\n"
        . ($opt{fresh} ? "Connection: close\r\n" : '')
        . join('', map { "$_: $headers{$_}\r\n" } sort keys %headers)
        . 'Content-Length: ' . length($content) . "\r\n\r\n" . $content;
    my $res = $self->_exchange($req, $opt{fresh});
    $res->{json} = eval { $JSON->decode($res->{content}) }
        if ($res->{headers}{'content-type'} // '') =~ /json/;
    return $res;
}

# A POST to $path (an empty body, %opt{headers}) made by a child process,
# while the test goes on; returns a closure that waits for the child and
# returns {status, content, json} (status 599 and the error if it failed).
sub post_in_background {
    my ($self, $path, %opt) = @_;
    my $out = "$self->{dir}/background-$$-" . ++$self->{background} . '.json';
    unlink $out;
    my $pid = fork // croak "VoNginx: fork: $!";
    if ($pid == 0) {
        my $res = HTTP::Tiny->new(timeout => $opt{timeout} // 60)->post(
            $self->{url} . $path, { headers => $opt{headers} // {} });
        if (open my $fh, '>', "$out.tmp") {
            print $fh $JSON->encode({ status => $res->{status},
                                      content => $res->{content} });
            close $fh;
            rename "$out.tmp", $out;
        }
        POSIX::_exit(0);    # no END blocks: the parent's servers stay up
    }
    return sub {
        waitpid $pid, 0;
        my $res = eval { open my $fh, '<', $out or die "$out: $!\n";
                         local $/; $JSON->decode(<$fh>) }
            // { status => 599, content => $@ };
        $res->{json} = eval { $JSON->decode($res->{content}) };
        return $res;
    };
}

sub _connect {
    my ($self) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                     Proto => 'tcp', Timeout => 10)
        or return undef;
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    binmode $sock;
    return $sock;
}

sub _exchange {
    my ($self, $req, $fresh) = @_;
    my $fail = sub { delete $self->{sock} unless $fresh;
                     return { status => 599, reason => 'Internal Exception',
                              headers => {}, content => $_[0], success => '' } };
    my $sock = $fresh ? undef : $self->{sock};

    # a kept-alive connection the server has closed (or that has stray
    # data) is not reused: a POST must not be sent twice
    if ($sock) {
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        undef $sock if select(my $rout = $rin, undef, undef, 0);
    }
    unless ($sock) {
        $sock = $self->_connect or return $fail->("connect: $!");
        $self->{sock} = $sock unless $fresh;
    }

    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($sock, $req, length($req) - $off, $off);
        return $fail->("write: $!") unless defined $n;
        $off += $n;
    }

    my $buf = '';
    my $deadline = time + 30;
    my $read = sub {
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        my $left = $deadline - time;
        return undef if $left <= 0 || !select(my $rout = $rin, undef, undef, $left);
        my $n = sysread($sock, $buf, 65536, length $buf);
        return $n;    # 0: EOF, undef: error
    };
    while ($buf !~ /\r\n\r\n/) {
        my $n = $read->();
        return $fail->(defined $n ? 'connection closed before the response' : "read: $!")
            unless $n;
    }
    my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
    my ($status_line, @lines) = split /\r\n/, $head;
    my ($status, $reason) = $status_line =~ m{^HTTP/1\.[01] (\d{3}) ?(.*)$}
        or return $fail->("bad status line: $status_line");
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
    }
    my $body;
    if (defined $h{'content-length'}) {
        $buf = $rest;
        while (length $buf < $h{'content-length'}) {
            my $n = $read->();
            return $fail->('connection closed in the body') unless $n;
        }
        $body = substr $buf, 0, $h{'content-length'};
    } elsif (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        $buf = $rest;
        $body = '';
        while (1) {
            while ($buf !~ /\r\n/) {
                my $n = $read->();
                return $fail->('connection closed in a chunk') unless $n;
            }
            $buf =~ s/^([0-9a-fA-F]+)[^\r]*\r\n// or return $fail->('bad chunk');
            my $len = hex $1;
            while (length $buf < $len + 2) {
                my $n = $read->();
                return $fail->('connection closed in a chunk') unless $n;
            }
            $body .= substr $buf, 0, $len;
            substr($buf, 0, $len + 2) = '';
            last if $len == 0;
        }
    } else {
        $buf = $rest;
        while (1) {
            my $n = $read->();
            last if defined $n && $n == 0;
            return $fail->("read: $!") unless $n;
        }
        $body = $buf;
        $h{connection} = 'close';
    }
    if ($fresh || ($h{connection} // '') =~ /close/i) {
        delete $self->{sock} unless $fresh;
        close $sock;
    }
    return { status => $status, reason => $reason, headers => \%h, content => $body,
             success => $status =~ /^2/ ? 1 : '' };
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

# SIGHUP; returns the pids of the new workers once $workers of them run
# (with wait_old => 1: and the old ones are gone).  nowait => 1 only
# sends the signal and returns the old workers' pids, for
# wait_new_workers(\@old, %opt) later.
sub reload {
    my ($self, %opt) = @_;
    my $master = $self->{pid} or croak 'VoNginx->reload: not running';
    my @old = $self->worker_pids;
    kill 'HUP', $master or croak "VoNginx->reload: kill HUP $master: $!";
    return @old if $opt{nowait};
    return $self->wait_new_workers(\@old, %opt);
}

sub wait_new_workers {
    my ($self, $old, %opt) = @_;
    my %old = map { $_ => 1 } @$old;
    my $timeout = $opt{timeout} // $START_TIMEOUT;
    my $new = wait_for(sub {
        my @new = grep { !$old{$_} } $self->worker_pids;
        @new >= $self->{workers} ? \@new : undef;
    }, $timeout, 0.02)
        or croak "VoNginx->reload: no new workers after $timeout s:\n"
                 . _tail("$self->{dir}/logs/error.log");
    if ($opt{wait_old}) {
        wait_for(sub { !grep { alive($_) } keys %old }, $timeout)
            or Test::More::diag("VoNginx->reload: old workers still running: "
                                . join ' ', grep { alive($_) } keys %old);
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
    wait_for(sub { !grep { alive($_) } @workers }, 5, 0.02)
        or Test::More::diag("VoNginx->kill9: workers still alive: "
                            . join ' ', grep { alive($_) } @workers);
    return;
}

# stops nginx; a debug build that logged a write on the event loop's
# store connection (or the writer's used outside its thread task) fails
sub stop {
    my ($self) = @_;
    my $running = $self->{pid} && $self->{owner} == $$;
    $self->_halt;
    return unless $running;
    my @bad = $self->log_lines(qr/victorops store .*(?:on the event loop's connection|the writer's connection used outside a task)/);
    Test::More::fail("a store write on the event loop: $bad[0]") if @bad;
    return;
}

sub _halt {
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
                wait_for(sub { !grep { alive($_) } @workers }, 5, 0.02);
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

# The last $n (30) error.log lines matching $re (the module's and warn or
# worse), headed by the node's URL: for diag when a test fails.
sub log_tail {
    my ($self, $re, $n) = @_;
    $re //= qr/victorops|\[(?:warn|error|crit|alert|emerg)\]/;
    $n //= 30;
    my @log = $self->log_lines($re);
    @log = @log[-$n .. -1] if @log > $n;
    return join "\n", "---- error.log of $self->{url} (last $n of "
                      . scalar($self->log_lines($re)) . ')', @log;
}

# A test: no [alert], [crit] or [emerg] line in the error.log of any of
# the nodes (the lines are shown when there is).
sub no_alerts_logged {
    my ($label, @nodes) = @_;
    my @bad = map { $_->log_lines(qr/\[(?:alert|crit|emerg)\]/) } @nodes;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::is(scalar @bad, 0, "$label: no [alert] or worse logged")
        || Test::More::diag(join "\n", @bad);
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

# true while the process exists and is not a zombie
sub alive {
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
    $_->_halt for grep { $_->{owner} == $$ } values %RUNNING;
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
    if ($$ == ($DIRS[0][1] // 0) && !$ENV{VONGINX_KEEP}
        && Test::More->builder->is_passing) {
        remove_tree($_->[0]) for @DIRS;
    }
}

1;
