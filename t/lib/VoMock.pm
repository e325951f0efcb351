package VoMock;

# Start, steer and stop the mock Rootly / VictorOps API servers
# (t/mock/vomock.py) from test scripts. Core Perl modules only.
#
#   my $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');
#   my $vo     = VoMock->start(kind => 'victorops', api_id => 'vo-id', api_key => 'vo-key');
#   $rootly->url;                                   # http://127.0.0.1:PORT
#   $rootly->fault({mode => 'status', status => 500, count => 1});
#   my $reqs = $rootly->requests(wait => 1, timeout => 5, path => '/v1/alerts');
#   $rootly->stop;
#
# Every mock is stopped (by pid) when the test ends or gets SIGINT/SIGTERM.
# Its stdout/stderr go to t/servroot-mock/<kind>.<port>.log.

use strict;
use Digest::SHA ();
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $ROOT    = abs_path(dirname(__FILE__) . '/../..');
my $PYTHON  = '/usr/bin/python3';
my $SCRIPT  = "$ROOT/t/mock/vomock.py";
my $LOG_DIR = "$ROOT/t/servroot-mock";
my $JSON    = JSON::PP->new->utf8->canonical;

my $START_TIMEOUT = 10;
my $STOP_TIMEOUT  = 5;

my %RUNNING;    # pid => mock, so END and signal handlers can stop them
my $serial = 0;
my $handlers_installed;

sub start {
    my ($class, %opt) = @_;
    my $kind = $opt{kind} // croak 'VoMock->start: kind is required';
    my @args = ('--kind', $kind, '--listen', '127.0.0.1', '--port', 0);
    if ($kind eq 'rootly') {
        my $token = $opt{token} // croak 'VoMock->start: a rootly mock needs token';
        push @args, '--token', $token, '--openapi', _openapi_path($opt{openapi});
    } elsif ($kind eq 'victorops') {
        croak 'VoMock->start: a victorops mock needs api_id and api_key'
            unless defined $opt{api_id} && defined $opt{api_key};
        push @args, '--api-id', $opt{api_id}, '--api-key', $opt{api_key};
    } elsif ($kind ne 'slack') {
        croak "VoMock->start: unknown kind '$kind' (rootly, victorops or slack)";
    }

    make_path($LOG_DIR);
    my $tag = join '.', $kind, $$, ++$serial;
    my $port_file = "$LOG_DIR/$tag.port";
    my $log = "$LOG_DIR/$tag.log";
    unlink $port_file;

    my $pid = fork // croak "VoMock->start: fork failed: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        { no warnings 'exec'; exec $PYTHON, $SCRIPT, @args, '--port-file', $port_file; }
        print STDERR "VoMock: cannot exec $PYTHON: $!\n";
        POSIX::_exit(127);
    }

    my $self = bless { kind => $kind, pid => $pid, owner => $$, log => $log }, $class;
    $RUNNING{$pid} = $self;
    _install_signal_handlers();

    my $deadline = time + $START_TIMEOUT;
    until (-s $port_file) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $RUNNING{$pid};
            delete $self->{pid};
            croak "VoMock: $kind mock exited during start-up (status $?):\n" . _tail($log);
        }
        $self->_give_up("no port file after $START_TIMEOUT s") if time > $deadline;
        sleep 0.05;
    }
    open my $fh, '<', $port_file or $self->_give_up("cannot read $port_file: $!");
    chomp(my $port = <$fh> // '');
    close $fh;
    unlink $port_file;
    $self->_give_up("bad port file content '$port'") unless $port =~ /^\d+$/;

    $self->{port} = $port;
    $self->{url} = "http://127.0.0.1:$port";
    my $named_log = "$LOG_DIR/$kind.$port.log";
    $self->{log} = $named_log if rename $log, $named_log;

    my $http = HTTP::Tiny->new(timeout => 2);
    until ($http->get("$self->{url}/_mock/health")->{status} == 200) {
        $self->_give_up('no answer on /_mock/health') if time > $deadline;
        sleep 0.05;
    }
    return $self;
}

sub kind { $_[0]{kind} }
sub pid  { $_[0]{pid} }
sub port { $_[0]{port} }
sub url  { $_[0]{url} }
sub log_file { $_[0]{log} }

# Forget recorded requests, pending faults and state (VictorOps: back to the default seed).
sub reset { $_[0]->_control(POST => '/_mock/reset'); return }

# Queue a fault rule; see vomock.py (FaultRule) for the modes.
sub fault {
    my ($self, $rule) = @_;
    return $self->_control(POST => '/_mock/fault', $rule);
}

# Replace collections of the model (rootly: incidents, teams; victorops: users, teams, incidents).
sub seed {
    my ($self, $data) = @_;
    return $self->_control(POST => '/_mock/seed', $data);
}

sub state { $_[0]->_control(GET => '/_mock/state') }

# Recorded API requests, oldest first. Options: wait => N (block until N match),
# timeout => S (default 5), path => PREFIX, method => M, format => 'text'.
sub requests {
    my ($self, %query) = @_;
    my $qs = HTTP::Tiny->www_form_urlencode(\%query);
    return $self->_control(GET => '/_mock/requests' . ($qs ne '' ? "?$qs" : ''), undef,
                           ($query{timeout} // 5) + 10);
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    delete $RUNNING{$pid};
    return unless $self->{owner} == $$;    # a forked child must not reap its parent's mocks
    kill 'TERM', $pid;
    my $deadline = time + $STOP_TIMEOUT;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) != 0;    # reaped, or not our child any more
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return;
}

sub _control {
    my ($self, $method, $path, $body, $timeout) = @_;
    my $http = HTTP::Tiny->new(timeout => $timeout // 10);
    my %options = defined $body
        ? (headers => { 'Content-Type' => 'application/json' }, content => $JSON->encode($body))
        : ();
    my $res = $http->request($method, $self->{url} . $path, \%options);
    croak "VoMock $self->{kind}: $method $path: $res->{status} $res->{reason}: $res->{content}"
        unless $res->{success};
    my $type = $res->{headers}{'content-type'} // '';
    return $type =~ m{^application/json} ? $JSON->decode($res->{content}) : $res->{content};
}

sub _give_up {
    my ($self, $why) = @_;
    $self->stop;
    croak "VoMock: $self->{kind} mock did not start: $why\n" . _tail($self->{log});
}

sub _openapi_path {
    my ($given) = @_;
    my $path = $given // $ENV{VOMOCK_OPENAPI};

    # the published document beside the project, else the copy of the
    # parts the mock serves (tools/openapi-subset.py)
    $path //= -f "$ROOT/../shared/reference/rootly-openapi.json"
              ? "$ROOT/../shared/reference/rootly-openapi.json"
              : "$ROOT/t/mock/rootly-openapi.json";
    croak "VoMock: Rootly OpenAPI document not found at $path "
        . '(set VOMOCK_OPENAPI or pass openapi => PATH)' unless -f $path;
    return $path;
}

sub _tail {
    my ($file) = @_;
    open my $fh, '<', $file or return "(no log at $file)\n";
    my @lines = <$fh>;
    return join '', grep { defined } @lines[-20 .. -1];
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


# X-VictorOps-Signature of an escalation-policy webhook: base64
# HMAC-SHA1, keyed by the auth code, of the URL followed by each form
# field's name and value (decoded), sorted by name; padded to 4.
sub form_signature {
    my ($url, $code, $body) = @_;
    my $unescape = sub {
        my ($s) = @_;
        $s =~ tr/+/ /;
        $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
        return $s;
    };
    my @pairs = map { my ($k, $v) = split /=/, $_, 2;
                      [$unescape->($k), $unescape->($v // '')] }
                split /&/, $body;
    my $sig = Digest::SHA::hmac_sha1_base64(
        $url . join('', map { $_->[0] . $_->[1] }
                        sort { $a->[0] cmp $b->[0] } @pairs), $code);
    return $sig . '=' x ((4 - length($sig) % 4) % 4);
}

1;
