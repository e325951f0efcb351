package Test::Nginx::Socket;

# A small, self-contained implementation of the block format of openresty's
# Test::Nginx::Socket, written from scratch on top of Test::Base.  It is
# what "make test" runs with (t/runner); "make test-compat" runs the same
# files with the real one (see the Makefile and t/README).
#
#   use Test::Nginx::Socket 'no_plan';
#   run_tests();
#   __DATA__
#   === TEST 1: hello
#   --- config
#       location = /t { return 200 "ok\n"; }
#   --- request
#   GET /t
#   --- response_body
#   ok
#
# Every block gets a fresh server root (t/servroot, or $TEST_NGINX_SERVROOT)
# and its own nginx process, started with "daemon off" and stopped
# (SIGQUIT, then SIGTERM, then SIGKILL) before the next block.

use strict;
use warnings;

# Become a Test::Base subclass (lower-case -base: no Spiffy source filter).
# This also gives this package and its users Test::More's functions,
# blocks(), filters() and friends.
use Test::Base -base;

use Cwd ();
use File::Path ();
use File::Spec ();
use List::Util ();
use POSIX ();
use Scalar::Util ();
use Time::HiRes ();

use Test::Nginx::Util qw(
    find_free_port port_is_listening
    spawn_process run_capture reap_process stop_process
    build_request build_packets send_request parse_response header_value
    slurp file_size read_from parse_time
);

our $VERSION = '0.01';

our @EXPORT = qw(
    run_tests run_test
    repeat_each no_shuffle no_long_string log_level
    master_on master_off master_process_enabled
    workers worker_connections env_to_nginx config_preamble
    add_block_preprocessor add_cleanup_handler add_response_body_check
    no_root_location check_accum_error_log
    server_port server_port_for_client port server_addr server_name
    server_root html_dir timeout bail_out is_str
);

# ---------------------------------------------------------------------------
# settings (mostly changed through the exported functions)

our $RepeatEach        = 1;
our $NoShuffle         = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoLongString      = 0;
our $LogLevel          = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $Workers           = 1;
our $WorkerConnections = 64;
our $Timeout           = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $ServerAddr        = '127.0.0.1';
our $ServerName        = 'localhost';
our $NoRootLocation    = 0;
our $ConfigPreamble    = '';
our $CheckAccumErrLog  = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG} || 0;
our $NginxBinary       = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $UseValgrind       = $ENV{TEST_NGINX_USE_VALGRIND};
our $LoadModules       = $ENV{TEST_NGINX_LOAD_MODULES};
our $Verbose           = $ENV{TEST_NGINX_VERBOSE};
our $LogSleep          = $ENV{TEST_NGINX_SLEEP} || 0.015;

our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;
our @ResponseBodyChecks;

our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                  || find_free_port();
$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT};

# TEST_NGINX_RANDOMIZE (as in Test::Nginx): a server root of its own per
# test file, so that several files can run at once (prove -j).
our $ServRoot = File::Spec->rel2abs(
    $ENV{TEST_NGINX_SERVROOT}
    || ($ENV{TEST_NGINX_RANDOMIZE} ? "t/servroot_$ServerPort" : 't/servroot'));
$ServRoot =~ s{/+\z}{};
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir      = "$ServRoot/logs";
our $ConfDir     = "$ServRoot/conf";
our $HtmlDir     = "$ServRoot/html";
our $ConfFile    = "$ConfDir/nginx.conf";
our $ErrLogFile  = "$LogDir/error.log";
our $AccLogFile  = "$LogDir/access.log";
our $StderrFile  = "$LogDir/stderr.log";
our $PidFile     = "$LogDir/nginx.pid";
$ENV{TEST_NGINX_HTML_DIR} //= $HtmlDir;

our $NginxVersion;      # canonical, e.g. 1.022001; only computed on demand

# state of the block being run
our $ChildPid;          # nginx (or valgrind) process we started
our %LogPos;            # read offsets into stderr.log / error.log
our $LogDumped;         # error log context already printed for this block
our %LogEnd;            # log sizes when the requests were done

# ---------------------------------------------------------------------------
# exported configuration functions (prototypes as in Test::Nginx::Socket)

sub repeat_each (@) {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub no_shuffle () { $NoShuffle = 1 }

sub no_long_string () { $NoLongString = 1 }

sub no_root_location () { $NoRootLocation = 1 }

sub check_accum_error_log () { $CheckAccumErrLog = 1 }

sub log_level (@) {
    $LogLevel = shift if @_;
    return $LogLevel;
}

sub master_on () { $MasterProcessEnabled = 'on' }

sub master_off () { $MasterProcessEnabled = 'off' }

sub master_process_enabled (@) {
    $MasterProcessEnabled = shift() ? 'on' : 'off' if @_;
    return $MasterProcessEnabled;
}

sub workers (@) {
    $Workers = shift if @_;
    return $Workers;
}

sub worker_connections (@) {
    $WorkerConnections = shift if @_;
    return $WorkerConnections;
}

sub timeout (@) {
    $Timeout = shift if @_;
    return $Timeout;
}

sub config_preamble ($) { $ConfigPreamble = shift }

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }

sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }

sub add_response_body_check ($) { push @ResponseBodyChecks, shift }

sub server_port (@) {
    if (@_) {
        $ServerPort = shift;
        $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
    }
    return $ServerPort;
}

sub port (@) { goto &server_port }

sub server_port_for_client (@) {
    $ServerPortForClient = shift if @_;
    return $ServerPortForClient // $ServerPort;
}

sub server_addr (@) {
    $ServerAddr = shift if @_;
    return $ServerAddr;
}

sub server_name (@) {
    $ServerName = shift if @_;
    return $ServerName;
}

sub server_root () { $ServRoot }

sub html_dir () { $HtmlDir }

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    return Test::More::like($got, $expected, $desc)
        if ref $expected && ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc);
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# process cleanup

sub cleanup () {
    $_->() for @CleanupHandlers;
    _stop_nginx();
}

# Stop the nginx we started; returns its wait status (undef if none was
# running) and, in list context, the last signal that had to be sent.
sub _stop_nginx {
    my ($grace) = @_;
    return unless defined $ChildPid;
    my $pid = $ChildPid;
    undef $ChildPid;
    return stop_process($pid, $grace // ($UseValgrind ? 30 : 5));
}

END {
    local $?;
    _stop_nginx() if defined $ChildPid;
}

# ---------------------------------------------------------------------------
# the main loop

sub run_tests () {
    _check_binary();

    $ServerPort = $ENV{TEST_NGINX_SERVER_PORT}
        if defined $ENV{TEST_NGINX_SERVER_PORT}
           && $ENV{TEST_NGINX_SERVER_PORT} =~ /^\d+$/;

    # Make sure Test::Base's END block does not try run_compare().
    Test::More::plan('no_plan') unless Test::More->builder->has_plan;

    local $SIG{INT}  = sub { cleanup(); exit 130 };
    local $SIG{TERM} = sub { cleanup(); exit 143 };
    local $SIG{HUP}  = sub { cleanup(); exit 129 };

    my @blocks = Test::Base::blocks();
    @blocks = List::Util::shuffle(@blocks) unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
    }

    cleanup();
}

sub run_test ($) {
    my ($block) = @_;
    my $name = $block->name;

    return if defined $block->SKIP;

    my ($skip_n, $skip_reason) = _skip_info($block);
    if ($skip_n) {
        SKIP: { Test::More::skip("$name - $skip_reason", $skip_n) }
        return;
    }

    my $todo = _todo_reason($block);
    my $tb = Test::More->builder;
    $tb->todo_start($todo) if defined $todo;

    my $failed_before = _failed_count();
    local $LogDumped = 0;
    local %LogEnd;
    my $ok = eval { _run_block($block); 1 };
    my $err = $@;
    _stop_nginx();
    if (!$ok) {
        chomp $err;
        Test::More::fail("$name - the test runner died: $err");
        _dump_error_log($name);
    } elsif (_failed_count() > $failed_before) {
        _dump_error_log($name);
    }

    $tb->todo_end if defined $todo;
}

sub _run_block {
    my ($block) = @_;
    my $name = $block->name;

    for my $s (qw(pipelined_requests tcp_listen udp_listen stap http2 http3
                  curl))
    {
        if (defined $block->{$s}) {
            Test::More::fail("$name - --- $s is not supported by the "
                             . "t/runner Test::Nginx::Socket replacement");
            return;
        }
    }

    local $LogLevel = $block->log_level // $LogLevel;
    $LogLevel =~ s/^\s+|\s+$//g;

    my $must_die = $block->must_die;
    local $UseValgrind = defined $must_die ? undef : $UseValgrind;
    local $MasterProcessEnabled = $UseValgrind ? 'off' : $MasterProcessEnabled;

    my $rand_ports = {};

    _setup_server_root();
    _write_user_files($block, $rand_ports);
    _write_config_file($block, $rand_ports);

    if (defined $must_die) {
        _run_must_die($block, $must_die);
        return;
    }

    _start_nginx($block) or return;

    if (defined $block->init) {
        eval "package main;\n" . $block->init;
        die "--- init failed: $@" if $@;
    }

    my $reqs = _requests_from_block($block, $rand_ports);
    my $timeout = parse_time(scalar $block->timeout) // $Timeout;
    $timeout = $timeout * 3 + 5 if $UseValgrind;
    my $wait = parse_time(scalar $block->wait);
    my $need_array = @$reqs > 1;

    for my $rep (0 .. $RepeatEach - 1) {
        for my $i (0 .. $#$reqs) {
            my $req = $reqs->[$i];
            my ($raw, $err) = send_request(
                addr         => $ServerAddr,
                port         => server_port_for_client(),
                packets      => $req->{packets},
                timeout      => $timeout,
                head         => $req->{head},
                middle_delay => scalar $block->raw_request_middle_delay,
            );

            if (defined $err) {
                if ($err eq 'timeout') {
                    Test::More::diag("$name - client socket timed out "
                                     . "(request $i, timeout ${timeout}s)")
                        unless defined $block->abort;
                } else {
                    Test::More::diag("$name - $err");
                }
            }

            my $res = parse_response($raw, $req->{head});
            if ($res->{error} && !($err && $err eq 'timeout')) {
                Test::More::diag("$name - $res->{error}");
            }

            unless (defined $block->ignore_response) {
                _check_error_code($block, $res, $i, $need_array);
                _check_raw_response_headers($block, $res, $i, $need_array);
                _check_response_headers($block, $res, $i, $need_array);
                _transform_response_body($block, $res, $i);
                _check_response_body($block, $res, $i, $rep, $need_array);
            }

            if ($i < $#$reqs) {
                Time::HiRes::sleep($wait) if $wait;
                _check_error_log($block, $rep);
                _check_access_log($block, $rep)
                    unless defined $block->ignore_response;
            }
        }

        Time::HiRes::sleep($wait) if $wait;
        _check_error_log($block, $rep);
        _check_access_log($block, $rep) unless defined $block->ignore_response;
    }

    # remember where the request phase ended, for _dump_error_log()
    %LogEnd = map { $_ => file_size($_) } $StderrFile, $ErrLogFile;

    # Did nginx die while we were talking to it?
    if (defined $ChildPid) {
        my $status = reap_process($ChildPid);
        if (defined $status) {
            undef $ChildPid;
            Test::More::fail("$name - nginx exited prematurely ("
                             . _describe_status($status) . ")");
            _dump_error_log($name, 1);
            return;
        }
    }

    my $grace = $UseValgrind ? 30 : 5;
    my ($status, $sig) = _stop_nginx($grace);
    if (defined $sig && $sig ne 'QUIT') {
        Test::More::diag("WARNING: $name - nginx did not exit within "
                         . "${grace}s of SIGQUIT; SIG$sig was needed");
    }
    if (defined $status && $status != 0) {
        Test::More::fail("$name - nginx did not exit cleanly on SIGQUIT ("
                         . _describe_status($status) . ")");
    }

    if (defined $block->shutdown_error_log
        || defined $block->no_shutdown_error_log)
    {
        _check_log_patterns($block, 'shutdown_error_log',
                            'no_shutdown_error_log', _read_error_log(),
                            'error.log', '');
    }

    _check_valgrind($block) if $UseValgrind;
}

# ---------------------------------------------------------------------------
# nginx binary, server root and configuration

sub _check_binary {
    my $bin = $NginxBinary;
    if ($bin =~ m{/}) {
        bail_out("nginx binary $bin is not executable") unless -x $bin;
        return;
    }
    for my $dir (split /:/, $ENV{PATH} // '') {
        return if -x File::Spec->catfile($dir eq '' ? '.' : $dir, $bin);
    }
    bail_out("cannot find \"$bin\" in PATH (set TEST_NGINX_BINARY)");
}

my $VersionChecked;

sub _nginx_version {
    return $NginxVersion if $VersionChecked++;
    my $out = `$NginxBinary -V 2>&1`;
    if (defined $out && $out =~ m{nginx[^/]*/(\d+)\.(\d+)\.(\d+)}) {
        $NginxVersion = sprintf '%d.%03d%03d', $1, $2, $3;
    }
    return $NginxVersion;
}

sub _setup_server_root {
    if (-d $ServRoot) {
        # only remove what we create ourselves, in case TEST_NGINX_SERVROOT
        # points somewhere unexpected
        File::Path::remove_tree($ConfDir, $LogDir, $HtmlDir,
                                glob("$ServRoot/*_temp"),
                                glob("$ServRoot/*_cache"));
    }

    for my $dir ($ServRoot, $ConfDir, $LogDir, $HtmlDir,
                 map { "$ServRoot/${_}_temp" }
                     qw(client_body proxy fastcgi uwsgi scgi))
    {
        next if -d $dir;
        File::Path::make_path($dir)
            or bail_out("cannot create directory $dir: $!");
    }

    _write_file("$HtmlDir/index.html",
                '<html><head><title>It works!</title></head>'
                . '<body>It works!</body></html>');

    %LogPos = ();
}

sub _write_file {
    my ($path, $data) = @_;
    open my $out, '>:raw', $path or bail_out("cannot write $path: $!");
    print {$out} $data;
    close $out or bail_out("cannot write $path: $!");
}

# Replace $TEST_NGINX_XXX by $ENV{TEST_NGINX_XXX}.  $TEST_NGINX_RAND_PORT_N
# get free ports, allocated once per block.  Unknown variables are left
# alone (with a warning).
sub _expand_env {
    my ($text, $name, $rand_ports) = @_;
    return $text unless defined $text && !ref $text;

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $val = $rand_ports->{$var}
                //= find_free_port($ServerPort, values %$rand_ports);
            $ENV{$var} = $val;
        } elsif ($var eq 'TEST_NGINX_SERVER_PORT') {
            $val = $ServerPort;
        } elsif (defined $ENV{$var}) {
            $val = $ENV{$var};
        } else {
            Test::More::diag("$name - WARNING: no environment variable "
                             . "$var defined; left as is");
            $val = "\$$var";
        }
        $val;
    }ge;

    return $text;
}

sub _write_user_files {
    my ($block, $rand_ports) = @_;
    my $files = $block->user_files;
    return unless defined $files;
    my $name = $block->name;

    if (!ref $files) {
        my @list;
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, '', $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        die "--- user_files must be a string or an array ref\n";
    }

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        (my $dir = $path) =~ s{/[^/]*\z}{};
        File::Path::make_path($dir) unless -d $dir;
        _write_file($path, _expand_env($body // '', $name, $rand_ports));
        if ($date) {
            system('touch', '-t', $date, $path) == 0
                or die "touch -t $date $path failed\n";
        }
    }
}

sub _write_config_file {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;

    my %sec;
    for my $s (qw(config http_config main_config post_main_config)) {
        my $v = $block->$s;
        $sec{$s} = defined $v ? _expand_env($v, $name, $rand_ports) : '';
    }

    my $conf = "# generated by t/runner/Test/Nginx/Socket.pm\n";

    # load_module must come before anything that uses the modules
    for my $mod (grep { length } split ' ', $LoadModules // '') {
        $conf .= 'load_module ' . File::Spec->rel2abs($mod) . ";\n";
    }

    $conf .= <<"_EOC_";
worker_processes $Workers;
daemon off;
master_process $MasterProcessEnabled;
error_log $ErrLogFile $LogLevel;
pid $PidFile;
_EOC_

    for my $v (@EnvToNginx) {
        $conf .= $v =~ /\s/ ? "env '$v';\n" : "env $v;\n";
    }

    $conf .= "user root;\n" if $> == 0 && $sec{main_config} !~ /^\s*user\s/m;

    my $temp_paths = '';
    for my $t (qw(client_body proxy fastcgi uwsgi scgi)) {
        next if $sec{http_config} =~ /\b${t}_temp_path\b/;
        $temp_paths .= "    ${t}_temp_path $ServRoot/${t}_temp;\n";
    }

    my $server_name = $block->server_name // $ServerName;
    $server_name =~ s/^\s+|\s+$//g;
    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    $conf .= <<"_EOC_";

$sec{main_config}

http {
    access_log $AccLogFile;
    default_type text/plain;
    keepalive_timeout 68;
$temp_paths
$sec{http_config}

    server {
        listen $ServerAddr:$ServerPort;
        server_name '$server_name';
        client_max_body_size 30M;

$ConfigPreamble
        # begin test case config
$sec{config}
        # end test case config

$root_location    }
}

$sec{post_main_config}

events {
    accept_mutex off;
    worker_connections $WorkerConnections;
}
_EOC_

    _write_file($ConfFile, $conf);
}

# ---------------------------------------------------------------------------
# starting nginx

# nginx >= 1.19.5 gets "-e logs/error.log": messages logged before the
# configuration is read then go to error.log (not to stderr, the default
# of e.g. Debian's build), and stderr gets the short "nginx: [emerg] ..."
# copies -- just like with a default build under the real Test::Nginx.
sub _nginx_cmd {
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    my $ver = _nginx_version();
    push @cmd, '-e', $ErrLogFile if defined $ver && $ver >= 1.019005;
    return (@cmd, @_);
}

sub _valgrind_cmd {
    my @cmd = ('valgrind', '--tool=memcheck', '--leak-check=full',
               '--show-possibly-lost=no', '--num-callers=30',
               '--trace-children=no', "--log-file=$LogDir/valgrind.%p.log");
    my @supp = split ' ', $ENV{TEST_NGINX_VALGRIND_SUPPRESSIONS} // '';
    push @supp, 'valgrind.suppress' if -f 'valgrind.suppress';
    push @cmd, map { '--suppressions=' . File::Spec->rel2abs($_) } @supp;
    # TEST_NGINX_USE_VALGRIND may also carry extra valgrind options
    push @cmd, split ' ', $UseValgrind if $UseValgrind !~ /^\d+$/;
    return @cmd;
}

sub _start_nginx {
    my ($block) = @_;
    my $name = $block->name;

    my ($st, $out) = run_capture([_nginx_cmd('-t')], "$LogDir/nginx-t.log");
    if ($st != 0) {
        Test::More::fail("$name - nginx -t: configuration test passed");
        Test::More::diag("nginx -t output:\n$out");
        $LogDumped = 1;
        return 0;
    }

    # forget what "nginx -t" logged; the block only sees the real run
    unlink $ErrLogFile, $AccLogFile, $PidFile;
    %LogPos = ();

    my @cmd = _nginx_cmd();
    unshift @cmd, _valgrind_cmd() if $UseValgrind;
    warn "# starting: @cmd\n" if $Verbose;

    $ChildPid = spawn_process(\@cmd, $StderrFile);

    my $port = $ServerPort;
    my $deadline = Time::HiRes::time() + ($UseValgrind ? 30 : 5);
    while (1) {
        my $status = reap_process($ChildPid);
        if (defined $status) {
            undef $ChildPid;
            Test::More::fail("$name - nginx started ("
                             . _describe_status($status) . ")");
            _dump_error_log($name, 1);
            return 0;
        }
        return 1 if -s $PidFile && port_is_listening($port, $ServerAddr);
        last if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.02);
    }

    Test::More::fail("$name - nginx started listening on "
                     . "$ServerAddr:$port");
    _stop_nginx();
    _dump_error_log($name, 1);
    return 0;
}

sub _run_must_die {
    my ($block, $must_die) = @_;
    my $name = $block->name;
    $must_die =~ s/^\s+|\s+$//g;

    for my $rep (0 .. $RepeatEach - 1) {
        unlink $ErrLogFile, $StderrFile, $PidFile;
        %LogPos = ();

        my ($status) = run_capture([_nginx_cmd('-t')], $StderrFile);

        if ($status == 0) {
            # the configuration parses: maybe nginx dies while starting
            $ChildPid = spawn_process([_nginx_cmd()], $StderrFile);
            my $deadline = Time::HiRes::time() + 5;
            while (1) {
                my $st = reap_process($ChildPid);
                if (defined $st) {
                    undef $ChildPid;
                    $status = $st;
                    last;
                }
                if (Time::HiRes::time() > $deadline
                    || (-s $PidFile && port_is_listening($ServerPort)))
                {
                    Test::More::diag("$name - nginx must die but it does "
                                     . "not; stopping it");
                    _stop_nginx();
                    $status = 0;
                    last;
                }
                Time::HiRes::sleep(0.02);
            }
        }

        my $exit_code = $status == -1 ? -1 : $status >> 8;
        if ($status != -1 && $status & 127) {
            Test::More::fail("$name - nginx died on a signal ("
                             . _describe_status($status) . ")");
        } elsif (length $must_die
                 && Scalar::Util::looks_like_number($must_die))
        {
            Test::More::is($exit_code, $must_die,
                           "$name - die with the expected exit code");
        } else {
            Test::More::ok($status != 0, "$name - die as expected");
        }

        _check_error_log($block, $rep);
    }
}

sub _describe_status {
    my ($status) = @_;
    return 'not our child any more' if $status == -1;
    my $sig = $status & 127;
    if ($sig) {
        return "killed by signal $sig"
               . ($status & 128 ? ', core dumped' : '');
    }
    return 'exit code ' . ($status >> 8);
}

# ---------------------------------------------------------------------------
# requests

sub _requests_from_block {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my @reqs;

    my $raw = $block->raw_request;
    if (defined $raw) {
        my @packets = ref $raw eq 'ARRAY'
            ? map { ref $_ eq 'HASH' ? {%$_} : { value => $_ } } @$raw
            : ({ value => $raw });
        my $all = join '', map { $_->{value} // '' } @packets;
        push @reqs, { packets => \@packets,
                      head    => scalar($all =~ /^\s*HEAD\s/) };
        return \@reqs;
    }

    my $request = $block->request;
    return \@reqs unless defined $request;

    my $more = $block->more_headers;
    my @list = ref $request eq 'ARRAY' ? @$request : ($request);

    for my $i (0 .. $#list) {
        my $one = $list[$i];
        # as the real Test::Nginx: no $TEST_NGINX_* expansion in a request
        # or its headers (only pipelined_requests get it): "--- ... eval"
        # and $ENV{...} instead
        my $hdrs = ref $more eq 'ARRAY' ? $more->[$i] : $more;
        $hdrs //= '';

        my $packets;
        if (ref $one eq 'ARRAY') {
            my @p = map { ref $_ eq 'HASH' ? {%$_} : $_ } @$one;
            $packets = build_packets(\@p, $hdrs, $ServerName);
        } elsif (!ref $one) {
            $packets = [{ value => build_request($one, $hdrs,
                                                 $ServerName) }];
        } else {
            die "--- request must be a string or an array ref\n";
        }

        my $all = join '', map { $_->{value} } @$packets;
        push @reqs, { packets => $packets,
                      head    => scalar($all =~ /^HEAD\s/) };
    }

    return \@reqs;
}

# An expectation for request $i: arrays are indexed, anything else applies
# to every request.
sub _indexed {
    my ($value, $i) = @_;
    return $value->[$i] if ref $value eq 'ARRAY';
    return $value;
}

sub _expand_port_vars {
    my ($s) = @_;
    return $s if !defined $s || ref $s;
    my $client_port = server_port_for_client();
    $s =~ s/\$ServerPortForClient\b/$client_port/g;
    $s =~ s/\$ServerPort\b/$ServerPort/g;
    return $s;
}

# ---------------------------------------------------------------------------
# response checks

sub _check_error_code {
    my ($block, $res, $i) = @_;
    my $name = $block->name;
    my $code = $res->{code} // '';

    if (defined $block->error_code_like) {
        my $pat = _indexed(scalar $block->error_code_like, $i);
        return unless defined $pat;
        Test::More::like($code, qr/$pat/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        my $exp = _indexed(scalar $block->error_code, $i);
        return unless defined $exp;
        $exp =~ s/^\s+|\s+$//g;
        Test::More::is($code, $exp, "$name - status code ok");
    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }
}

sub _check_raw_response_headers {
    my ($block, $res, $i) = @_;
    my $name = $block->name;
    my $raw = $res->{raw_headers} // '';

    my $like = _indexed(scalar $block->raw_response_headers_like, $i);
    if (defined $like) {
        Test::More::like($raw, qr/$like/s, "$name - raw resp headers like");
    }
    my $unlike = _indexed(scalar $block->raw_response_headers_unlike, $i);
    if (defined $unlike) {
        Test::More::unlike($raw, qr/$unlike/s,
                           "$name - raw resp headers unlike");
    }
}

# "Name: value" lines; "!Name" means the header must be absent.
sub _parse_header_spec {
    my ($text) = @_;
    my @spec;
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            push @spec, [$line, undef];
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            push @spec, [$k, $v // ''];
        }
    }
    return @spec;
}

sub _check_response_headers {
    my ($block, $res, $i) = @_;
    my $name = $block->name;

    for my $key (qw(response_headers response_headers_like)) {
        my $spec = _indexed(scalar $block->$key, $i);
        next unless ref $spec;
        # the real Test::Nginx reads "Name: value" lines only: a hash
        # would silently check nothing there
        Test::More::fail("$name - $key: \"Name: value\" lines expected for "
                         . "req $i, not a " . ref($spec));
        return;
    }

    if (defined $block->response_headers) {
        my $spec = _indexed(scalar $block->response_headers, $i);
        for my $h (_parse_header_spec($spec)) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                Test::More::unlike($res->{raw_headers} // '',
                                   qr/^\s*\Q$key\E\s*:/mi,
                                   "$name - header $key not present in the "
                                   . "raw headers");
                next;
            }
            Test::More::is(header_value($res, $key) // '',
                           _expand_port_vars($val),
                           "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $spec = _indexed(scalar $block->response_headers_like, $i);
        for my $h (_parse_header_spec($spec)) {
            my ($key, $val) = @$h;
            next unless defined $val;
            Test::More::like(header_value($res, $key) // '', qr/^$val$/,
                             "$name - header $key like ok");
        }
    }
}

sub _transform_response_body {
    my ($block, $res, $i) = @_;
    my $filters = $block->response_body_filters;
    return unless defined $filters && defined $res->{body};

    if (!ref $filters) {
        $filters = [split ' ', $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    $filters = $filters->[$i] if ref $filters->[0] eq 'ARRAY';
    $filters = [$filters] unless ref $filters eq 'ARRAY';

    my %builtin = (
        md5_hex  => sub { require Digest::MD5; Digest::MD5::md5_hex($_[0]) },
        sha1_hex => sub { require Digest::SHA; Digest::SHA::sha1_hex($_[0]) },
        uc       => sub { uc $_[0] },
        lc       => sub { lc $_[0] },
        ucfirst  => sub { ucfirst $_[0] },
        lcfirst  => sub { lcfirst $_[0] },
        length   => sub { length $_[0] },
    );

    my $body = $res->{body};
    for my $f (@$filters) {
        my $code = ref $f eq 'CODE' ? $f : $builtin{$f}
            or die "unknown --- response_body_filters filter \"$f\"\n";
        $body = $code->($body);
    }
    $res->{body} = $body;
}

sub _check_response_body {
    my ($block, $res, $i, $rep) = @_;
    my $name = $block->name;
    my $content = $res->{body};

    if (defined $block->response_body) {
        my $expected = _expand_port_vars(
            _indexed(scalar $block->response_body, $i));
        if (!defined $expected) {
            # the real Test::Nginx compares with undef and fails
            Test::More::fail("$name - response_body: an undef entry for "
                             . "req $i (use response_body_like)");
        } else {
            my $desc = "$name - response_body - response is expected "
                       . "(repeated req $rep, req $i)";
            if (ref $expected eq 'Regexp') {
                Test::More::like($content, $expected, $desc);
            } else {
                Test::Base::is($content, $expected, $desc);
            }
        }
    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $like = defined $block->response_body_like;
        my $pat = _expand_port_vars(_indexed(
            $like ? scalar $block->response_body_like
                  : scalar $block->response_body_unlike,
            $i));
        if (!defined $pat) {
            # the real Test::Nginx warns and matches anything
            Test::More::fail("$name - response_body_like/unlike: an undef "
                             . "entry for req $i checks nothing");
        } else {
            my $summary = $content // '';
            $summary =~ s/\s+/ /g;
            $summary =~ s/^ | $//g;
            $summary = substr($summary, 0, 60) . '...' if length $summary > 63;
            my $type = $like ? 'like' : 'unlike';
            my $desc = "$name - response_body_$type - response is expected "
                       . "($summary)";
            if ($like) {
                Test::More::like($content, qr/$pat/s, $desc);
            } else {
                Test::More::unlike($content, qr/$pat/s, $desc);
            }
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $i, $rep, 0);
    }
}

# ---------------------------------------------------------------------------
# error.log / access.log checks

# New lines of this block's logs/error.log, as the real Test::Nginx reads
# them: lines look like "... [emerg] 1234#1234: message", also for errors
# found while reading the configuration (nginx runs with "-e" there).  An
# nginx too old for "-e" writes those to stderr only: stderr is read too.
sub _read_error_log {
    Time::HiRes::sleep($LogSleep * 3);
    my @lines;
    for my $f (_error_log_files()) {
        my ($data, $pos) = read_from($f, $CheckAccumErrLog ? 0 : $LogPos{$f});
        $LogPos{$f} = $pos;
        push @lines, split /^/, $data;
    }
    return \@lines;
}

sub _error_log_files {
    my $ver = _nginx_version();
    return ($ErrLogFile) if defined $ver && $ver >= 1.019005;
    return ($StderrFile, $ErrLogFile);
}

sub _patterns {
    my ($pats) = @_;
    return [] unless defined $pats;
    return [$pats] if ref $pats eq 'Regexp';
    return [grep { defined } @$pats] if ref $pats eq 'ARRAY';
    return [grep { /\S/ } split /\n+/, $pats];
}

sub _line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? scalar($line =~ $pat) : index($line, $pat) >= 0;
}

sub _fmt {
    my ($s) = @_;
    $s = "$s";
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub _check_log_patterns {
    my ($block, $want_key, $unwant_key, $lines, $log, $suffix) = @_;
    my $name = $block->name;
    my $show_context;

    for my $pat (@{ _patterns(scalar $block->$want_key) }) {
        my $p = _fmt($pat);
        my $hit = List::Util::first { _line_matches($_, $pat) } @$lines;
        Test::More::ok(defined $hit,
            qq{$name - pattern "$p" matches a line in $log$suffix})
            or $show_context = 1;
    }

    for my $pat (@{ _patterns(scalar $block->$unwant_key) }) {
        my $p = _fmt($pat);
        my $hit = List::Util::first { _line_matches($_, $pat) } @$lines;
        if (defined $hit) {
            Test::More::fail(qq{$name - pattern "$p" should not match any }
                             . qq{line in $log but matches line "}
                             . _fmt($hit) . qq{"$suffix});
        } else {
            Test::More::pass(qq{$name - pattern "$p" does not match a line }
                             . qq{in $log$suffix});
        }
    }

    if ($show_context && !$LogDumped) {
        _diag_log_lines($log, $lines);
        $LogDumped = 1;
    }
}

sub _check_error_log {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $lines = _read_error_log();

    my $grep_pat = _indexed(scalar $block->grep_error_log, $rep);
    if (defined $grep_pat) {
        my $expected = _indexed(scalar $block->grep_error_log_out, $rep);
        die "--- grep_error_log needs --- grep_error_log_out\n"
            unless defined $expected;
        my $matched = '';
        for my $line (@$lines) {
            my $m;
            if (ref $grep_pat) {
                $m = $& if $line =~ $grep_pat;
            } elsif (index($line, $grep_pat) >= 0) {
                $m = $grep_pat;
            }
            $matched .= "$m\n" if defined $m && $m !~ /\n/;
        }
        my $desc = "$name - grep_error_log_out (req $rep)";
        if (ref $expected eq 'Regexp') {
            Test::More::like($matched, $expected, $desc);
        } else {
            Test::Base::is($matched, $expected, $desc);
        }
    }

    _check_log_patterns($block, 'error_log', 'no_error_log', $lines,
                        'error.log', " (req $rep)");

    # like Test::Nginx: point out serious messages nobody asked about
    # (not for --- must_die blocks, where they are the point)
    return if defined $block->must_die;
    my $all = join "\n", map { "$_" }
        @{ _patterns(scalar $block->error_log) },
        @{ _patterns(scalar $block->no_error_log) };
    for my $level (qw(alert crit emerg)) {
        next if index($all, "[$level") >= 0;
        for my $line (grep { /\[$level\]/ } @$lines) {
            Test::More::diag("WARNING: $name - " . _fmt($line));
        }
    }

    for my $line (@$lines) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            Test::More::fail("$name - " . _fmt($line));
        }
    }
}

sub _check_access_log {
    my ($block, $rep) = @_;
    return unless defined $block->access_log || defined $block->no_access_log;
    Time::HiRes::sleep($LogSleep * 3);
    my $data = slurp($AccLogFile) // '';
    _check_log_patterns($block, 'access_log', 'no_access_log',
                        [split /^/, $data], 'access.log', " (req $rep)");
}

sub _diag_log_lines {
    my ($what, $lines) = @_;

    # group continuation lines (multi-line debug messages) with their entry
    my @entries;
    for my $line (@$lines) {
        if (!@entries || $line =~ m{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[}
            || $line =~ /^nginx: /)
        {
            push @entries, $line;
        } else {
            $entries[-1] .= $line;
        }
    }

    # skip debug output and the usual start-up/shutdown chatter
    my @interesting = grep {
        !m{^\S+ \S+ \[(?:debug|notice)\]}
        && !/epoll_wait\(\) failed \(4: Interrupted system call\)/
    } @entries;
    my @show = @interesting > 40 ? @interesting[-40 .. -1] : @interesting;
    my @tail = @entries > 10 ? @entries[-10 .. -1] : @entries;
    my $msg = '';
    $msg .= "$what (entries above [debug]/[notice]):\n" . join('', @show)
        if @show;
    $msg .= "$what (last entries):\n" . join('', @tail)
        if @tail && (!@show || $tail[-1] ne $show[-1]);
    $msg = "$what is empty\n" if $msg eq '';
    Test::More::diag($msg);
}

# Print the useful part of this block's nginx logs (once per block; with
# $force also when something was printed already).  Unless $force is given,
# only what was logged until the requests were done is considered.
sub _dump_error_log {
    my ($name, $force) = @_;
    return if $LogDumped && !$force;
    $LogDumped = 1;
    my @lines;
    for my $f ($StderrFile, $ErrLogFile) {
        my $data = slurp($f);
        next unless defined $data;
        $data = substr $data, 0, $LogEnd{$f}
            if !$force && defined $LogEnd{$f} && $LogEnd{$f} < length $data;
        push @lines, split /^/, $data;
    }
    _diag_log_lines('nginx stderr + error.log', \@lines);
}

sub _failed_count {
    return scalar grep { !$_ } Test::More->builder->summary;
}

# ---------------------------------------------------------------------------
# valgrind

sub _check_valgrind {
    my ($block) = @_;
    my $name = $block->name;
    my @problems;
    my $definitely_lost = 0;
    my @files = glob "$LogDir/valgrind.*.log";

    for my $file (@files) {
        my $text = slurp($file) // '';
        # records are separated by "==PID== " lines with nothing else
        for my $rec (split /^==\d+==\s*\n/m, $text) {
            if ($rec =~ /^==\d+==\s+(?:Invalid (?:read|write|free)
                                      |Conditional\ jump
                                      |Syscall\ param
                                      |Mismatched\ free
                                      |Use\ of\ uninitialised
                                      |Source\ and\ destination\ overlap)/xm
                || $rec =~ /are definitely lost in loss record/)
            {
                push @problems, $rec;
            }
        }
        while ($text =~ /definitely lost: ([\d,]+) bytes/g) {
            (my $n = $1) =~ tr/,//d;
            $definitely_lost += $n;
        }
    }

    my $ok = @files && !@problems && !$definitely_lost;
    Test::More::ok($ok, "$name - valgrind: no errors") and return;

    if (!@files) {
        Test::More::diag("no valgrind log found in $LogDir");
        return;
    }
    my @lines = split /^/, join '', @problems;
    splice @lines, 200 if @lines > 200;
    Test::More::diag("valgrind reports ($definitely_lost bytes definitely "
                     . "lost) in @files:\n" . join '', @lines);
}

# ---------------------------------------------------------------------------
# --- skip_nginx / skip_eval / todo

sub _skip_info {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $spec = $block->skip_eval)) {
        $spec =~ /^\s*(\d+)\s*:\s*(.*)/s
            or die "invalid --- skip_eval spec: $spec\n";
        my ($n, $code) = ($1, $2);
        my $skip = eval "package main;\n$code";
        die "--- skip_eval failed: $@" if $@;
        return ($n, 'skip_eval') if $skip;
    }

    for my $key (qw(skip_nginx skip_nginx2)) {
        my $spec = $block->$key;
        next unless defined $spec;
        $spec =~ /^\s*(\d+)\s*:\s*(.*?)\s*$/s
            or die "invalid --- $key spec: $spec\n";
        my ($n, $rest) = ($1, $2);
        my ($cond, $reason) = split /\s*:\s*/, $rest, 2;
        my $ver = _nginx_version();
        my @terms = split /\s+(and|or)\s+/, $cond;
        my $result;
        my $joiner = 'or';
        for my $t (@terms) {
            if ($t eq 'and' || $t eq 'or') {
                $joiner = $t;
                next;
            }
            $t =~ /^([<>]=?)\s*(\d+)\.(\d+)\.(\d+)$/
                or die "invalid --- $key spec: $spec\n";
            my $want = sprintf '%d.%03d%03d', $2, $3, $4;
            my $r = !defined $ver ? 1
                  : $1 eq '<'  ? $ver <  $want
                  : $1 eq '<=' ? $ver <= $want
                  : $1 eq '>'  ? $ver >  $want
                  :              $ver >= $want;
            $result = !defined $result ? $r
                    : $joiner eq 'and' ? ($result && $r) : ($result || $r);
        }
        return ($n, $reason // "nginx version $cond") if $result;
    }

    return;
}

sub _todo_reason {
    my ($block) = @_;
    my $spec = $block->todo;
    return undef unless defined $spec;
    return $spec =~ /^\s*\d+\s*:\s*(.*?)\s*$/s ? $1 : $spec;
}

1;

__END__

=head1 NAME

Test::Nginx::Socket - minimal stand-in for openresty's Test::Nginx::Socket

=head1 SYNOPSIS

    use Test::Nginx::Socket 'no_plan';   # or: tests => N, or plan later
    no_shuffle();
    run_tests();

    __DATA__

    === TEST 1: hello
    --- config
        location = /t { return 200 "ok\n"; }
    --- request
    GET /t
    --- response_body
    ok

=head1 DESCRIPTION

Written from scratch on top of Test::Base for suites that must also run
where the real Test::Nginx is not installed.  Each block gets a fresh
server root (F<t/servroot>, C<$TEST_NGINX_SERVROOT>, or
F<t/servroot_PORT> with C<TEST_NGINX_RANDOMIZE>) and its own nginx
process ("daemon off", started with C<-p SERVROOT/ -c conf/nginx.conf>
after a successful C<nginx -t>), stopped with SIGQUIT, then SIGTERM, then
SIGKILL before the next block.  Every check is one Test::More test named
"C<$0 TEST n: name - ...>" as in Test::Nginx.

=head2 Functions

run_tests, run_test, repeat_each, no_shuffle, no_long_string, log_level,
master_on, master_off, master_process_enabled, workers,
worker_connections, env_to_nginx, config_preamble, add_block_preprocessor,
add_cleanup_handler, add_response_body_check, no_root_location,
check_accum_error_log, server_port (alias port), server_port_for_client,
server_addr, server_name, server_root, html_dir, timeout, bail_out,
is_str; plus Test::Base's blocks, filters, ... and Test::More's plan, is,
like, ok, diag, ...

=head2 Sections

Configuration: main_config, http_config, config, post_main_config,
user_files, log_level, server_name.  C<$TEST_NGINX_*> is replaced by the
environment variable of that name in these and in request and
more_headers; C<$TEST_NGINX_SERVER_PORT> and C<$TEST_NGINX_RAND_PORT_N>
are free loopback ports.

Requests: request (string or, with C<eval>, an array of requests, each a
string or an array of packets), more_headers (string or array), raw_request
(string or array of packets), raw_request_middle_delay, timeout, wait,
init (Perl run after nginx started), abort, ignore_response.

Checks: error_code, error_code_like, response_headers (C<!Name> = absent),
response_headers_like, raw_response_headers_like/unlike, response_body,
response_body_like/unlike, response_body_filters, error_log, no_error_log,
grep_error_log + grep_error_log_out, access_log, no_access_log,
shutdown_error_log, no_shutdown_error_log, must_die (optionally an exit
code).  Control: ONLY, SKIP, LAST, skip_eval, skip_nginx, skip_nginx2,
todo.

=head2 Environment

TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES, TEST_NGINX_SERVER_PORT (or
TEST_NGINX_PORT), TEST_NGINX_CLIENT_PORT, TEST_NGINX_SERVROOT,
TEST_NGINX_RANDOMIZE, TEST_NGINX_LOG_LEVEL, TEST_NGINX_MASTER_PROCESS,
TEST_NGINX_TIMEOUT, TEST_NGINX_NO_SHUFFLE, TEST_NGINX_CHECK_ACCUM_ERR_LOG,
TEST_NGINX_SLEEP, TEST_NGINX_VERBOSE, TEST_NGINX_USE_VALGRIND (adds a
"valgrind: no errors" test per block; master process forced off) and
TEST_NGINX_VALGRIND_SUPPRESSIONS.

=cut
