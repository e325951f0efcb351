package Test::Nginx::Util;

# Low-level helpers for the minimal Test::Nginx::Socket replacement that
# lives in t/runner: free-port discovery, child process management and a tiny
# HTTP/1.x client.  Nothing in here knows about Test::Base blocks.

use strict;
use warnings;

use Config ();
use Exporter 'import';
use Errno ();
use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();

our $VERSION = '0.01';

our @EXPORT_OK = qw(
    find_free_port port_is_listening
    spawn_process run_capture reap_process stop_process child_pids
    parse_more_headers build_request build_packets
    send_request parse_response header_value decode_chunked
    slurp file_size read_from parse_time
);

our $ServerAddr = '127.0.0.1';

# ---------------------------------------------------------------------------
# ports

my %HandedOut;

# The kernel's range for automatically chosen (ephemeral) local ports.
sub _ephemeral_range {
    if (open my $in, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
        my ($lo, $hi) = split ' ', scalar <$in> // '';
        close $in;
        return ($lo, $hi) if $lo && $hi;
    }
    return (32768, 60999);
}

sub _port_is_free {
    my ($port) = @_;
    # no SO_REUSEADDR: also refuses ports with connections in TIME_WAIT
    my $sock = IO::Socket::INET->new(
        LocalAddr => $ServerAddr,
        LocalPort => $port,
        Proto     => 'tcp',
        Listen    => 1,
    ) or return 0;
    close $sock;
    return 1;
}

# Find a free TCP port on the loopback interface.  Ports are picked at
# random below the kernel's ephemeral range, so that no outgoing
# connection (of this test or of anything else on the machine) can be
# holding them when nginx binds; ports already handed out by this process
# (and any given in @avoid) are skipped.  Falls back to a kernel-chosen
# port.
sub find_free_port {
    my (@avoid) = @_;
    my %avoid = map { $_ => 1 } grep { defined } @avoid;

    my ($eph_lo) = _ephemeral_range();
    my ($lo, $hi) = (10000, $eph_lo - 1);
    if ($hi - $lo >= 1000) {
        for (1 .. 200) {
            my $port = $lo + int rand($hi - $lo + 1);
            next if $avoid{$port} || $HandedOut{$port};
            next unless _port_is_free($port);
            $HandedOut{$port} = 1;
            return $port;
        }
    }

    for (1 .. 100) {
        my $sock = IO::Socket::INET->new(
            LocalAddr => $ServerAddr,
            LocalPort => 0,
            Proto     => 'tcp',
            Listen    => 1,
        ) or die "cannot bind a TCP socket on $ServerAddr: $!\n";
        my $port = $sock->sockport;
        close $sock;
        next if $avoid{$port} || $HandedOut{$port};
        $HandedOut{$port} = 1;
        return $port;
    }

    die "cannot find a free TCP port on $ServerAddr\n";
}

# True when something is listening on $addr:$port.  Uses /proc/net/tcp on
# Linux (so that no connection shows up in nginx's logs) and falls back to
# a connect() probe elsewhere.
sub port_is_listening {
    my ($port, $addr) = @_;
    $addr //= $ServerAddr;

    if (open my $in, '<', '/proc/net/tcp') {
        my $want_port = sprintf '%04X', $port;
        my $want_addr = join '', map { sprintf '%02X', $_ }
                        reverse split /\./, $addr;
        while (my $line = <$in>) {
            my (undef, $local, undef, $state) = split ' ', $line;
            next unless defined $state && $state eq '0A';    # TCP_LISTEN
            my ($a, $p) = split /:/, $local;
            next unless defined $p && $p eq $want_port;
            return 1 if $a eq $want_addr || $a eq '00000000';
        }
        close $in;
        return 0;
    }

    my $sock = IO::Socket::INET->new(
        PeerAddr => $addr,
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => 0.5,
    );
    return 0 unless $sock;
    close $sock;
    return 1;
}

# ---------------------------------------------------------------------------
# processes

# fork + exec @$cmd with stdin from /dev/null and stdout+stderr appended to
# $out_file.  Returns the child's pid.
sub spawn_process {
    my ($cmd, $out_file) = @_;

    my $parent = $$;
    my $pid = fork;
    die "fork() failed: $!\n" unless defined $pid;

    if ($pid == 0) {
        # child: never return into the test script
        _die_with_parent($parent);
        open STDIN, '<', '/dev/null';
        if (open STDOUT, '>>', $out_file) {
            open STDERR, '>&', \*STDOUT;
        }
        { no warnings q(exec); exec { $cmd->[0] } @$cmd; }
        print STDERR "exec $cmd->[0] failed: $!\n";
        POSIX::_exit(127);
    }

    return $pid;
}

# prctl(PR_SET_PDEATHSIG, SIGTERM) on Linux: nginx gets SIGTERM (fast
# shutdown) should the test process die without cleaning up (SIGKILL,
# SIGPIPE, ...).  Best effort; the syscall number depends on the CPU.
my %SYS_prctl = (x86_64 => 157, aarch64 => 167, i386 => 172, i486 => 172,
                 i586 => 172, i686 => 172, arm => 172, ppc64le => 171,
                 ppc64 => 171, s390x => 172, riscv64 => 167);

sub _die_with_parent {
    my ($parent) = @_;
    return unless $^O eq 'linux';
    my ($arch) = ($Config::Config{archname} // '') =~ /^([^-]+)/;
    my $nr = $SYS_prctl{$arch // ''} or return;
    eval { syscall($nr, 1, POSIX::SIGTERM(), 0, 0, 0) };
    POSIX::_exit(1) if getppid() != $parent;    # parent already gone
}

# Run @$cmd to completion, capturing stdout+stderr in $out_file (appended).
# Returns ($wait_status, $output_of_this_run).  Gives up after $timeout
# seconds (default 60) and kills the command.
sub run_capture {
    my ($cmd, $out_file, $timeout) = @_;
    $timeout //= 60;

    my $before = file_size($out_file);
    my $pid = spawn_process($cmd, $out_file);
    my $deadline = Time::HiRes::time() + $timeout;
    my $status;

    while (1) {
        $status = reap_process($pid);
        last if defined $status;
        if (Time::HiRes::time() > $deadline) {
            $status = stop_process($pid, 0);
            last;
        }
        Time::HiRes::sleep(0.01);
    }

    my ($out) = read_from($out_file, $before);
    return ($status // -1, $out);
}

# Non-blocking reap: returns the wait status if the child has exited (or
# is gone), undef while it is still running.
sub reap_process {
    my ($pid) = @_;
    my $r = waitpid $pid, POSIX::WNOHANG();
    return $? if $r == $pid;
    return -1 if $r == -1;      # not our child (any more)
    return undef;
}

# Pids whose parent is $ppid (e.g. nginx workers of a master we started).
sub child_pids {
    my ($ppid) = @_;
    my @kids;
    opendir my $dh, '/proc' or return;
    for my $ent (readdir $dh) {
        next unless $ent =~ /^\d+$/;
        open my $in, '<', "/proc/$ent/stat" or next;
        my $stat = <$in>;
        close $in;
        next unless defined $stat;
        # the comm field is parenthesised and may contain anything
        my $rest = substr $stat, rindex($stat, ')') + 2;
        my (undef, $parent) = split ' ', $rest;
        push @kids, $ent if defined $parent && $parent == $ppid;
    }
    closedir $dh;
    return @kids;
}

# Stop a child we started: SIGQUIT (graceful) and wait up to $grace seconds,
# then SIGTERM (3 s), then SIGKILL for it and its own children.  Always
# reaps the child.  Returns its wait status (-1 if it was already gone) and,
# in list context, also the last signal sent (undef if none was needed).
sub stop_process {
    my ($pid, $grace) = @_;
    $grace //= 5;

    my $status = reap_process($pid);
    return wantarray ? ($status, undef) : $status if defined $status;

    my @steps = (($grace > 0 ? ([QUIT => $grace]) : ()),
                 [TERM => 3],
                 [KILL => 5]);

    my $sig;
    for my $step (@steps) {
        ($sig, my $wait) = @$step;
        if ($sig eq 'KILL') {
            # workers of a master process that refused to die
            my @kids = child_pids($pid);
            kill 'KILL', @kids if @kids;
        }
        kill $sig, $pid;
        my $deadline = Time::HiRes::time() + $wait;
        while (Time::HiRes::time() < $deadline) {
            $status = reap_process($pid);
            return wantarray ? ($status, $sig) : $status if defined $status;
            Time::HiRes::sleep(0.02);
        }
    }

    waitpid $pid, 0;
    return wantarray ? ($?, $sig) : $?;
}

# ---------------------------------------------------------------------------
# files

sub slurp {
    my ($file) = @_;
    open my $in, '<:raw', $file or return undef;
    local $/;
    my $data = <$in>;
    close $in;
    return $data // '';
}

sub file_size {
    my ($file) = @_;
    my $size = -s $file;
    return $size // 0;
}

# Read $file from byte offset $pos; returns ($data, $new_pos).
sub read_from {
    my ($file, $pos) = @_;
    $pos //= 0;
    open my $in, '<:raw', $file or return ('', $pos);
    my $size = -s $in;
    $pos = 0 if $pos > $size;      # truncated/recreated
    seek $in, $pos, 0;
    local $/;
    my $data = <$in> // '';
    close $in;
    return ($data, $pos + length $data);
}

# "1.5", "1.5s", "300ms" -> seconds
sub parse_time {
    my ($tm) = @_;
    return undef unless defined $tm;
    $tm =~ s/^\s+|\s+$//g;
    if ($tm =~ /^([\d.]+)\s*ms$/) {
        return $1 / 1000;
    }
    if ($tm =~ /^([\d.]+)\s*s$/) {
        return $1 + 0;
    }
    return $tm;
}

# ---------------------------------------------------------------------------
# requests

# "--- more_headers" text -> ("Name: value\r\n"..., $is_chunked)
# Blank lines and lines starting with '#' are ignored.
sub parse_more_headers {
    my ($text) = @_;
    my ($out, $chunked) = ('', 0);

    for my $line (split /\n+/, $text // '') {
        $line =~ s/\r\z//;
        next if $line =~ /^\s*#/ || $line !~ /\S/;
        my ($key, $val) = split /:\s*/, $line, 2;
        $val //= '';
        $chunked = 1 if lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }

    return ($out, $chunked);
}

# Turn a Test::Nginx style "--- request" text into raw HTTP bytes:
#   METHOD [URI [VERSION]]
#   body...
# Leading blank and '#' comment lines are dropped.  Host and Connection
# headers are added unless --- more_headers has them.  When the body is
# non-empty and neither Content-Length nor chunked encoding is given by
# more_headers, the body is stripped of surrounding whitespace and a
# Content-Length header is added (this mirrors Test::Nginx::Socket).
sub build_request {
    my ($req, $more_headers, $host) = @_;
    $host //= 'localhost';

    $req //= '';
    1 while $req =~ s/\A\s*#[^\n]*\n// || $req =~ s/\A\s+//;

    my ($line, $body) = split /\n/, $req, 2;
    $line //= '';
    $line =~ s/\r\z//;
    die "request line should be \"METHOD [URI [VERSION]]\", got \"$line\"\n"
        unless $line =~ /^\s*(\S+)(?:\s+(\S+))?(?:\s+(\S+))?\s*$/;
    my ($method, $uri, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    $body //= '';

    my ($hdrs, $chunked) = parse_more_headers($more_headers);

    my $len_hdr = '';
    if (!$chunked && $body ne '' && $hdrs !~ /^Content-Length\s*:/mi) {
        $body =~ s/^\s+|\s+$//g;
        $len_hdr = 'Content-Length: ' . length($body) . "\r\n";
    }

    my $out = "$method $uri $ver\r\n";
    $out .= "Host: $host\r\n" unless $hdrs =~ /^Host\s*:/mi;
    $out .= "Connection: close\r\n" unless $hdrs =~ /^Connection\s*:/mi;
    $out .= "$hdrs$len_hdr\r\n$body";

    return $out;
}

# A request given as several packets (strings or {value => ..., delay =>
# ...}): build the request from their concatenation and split the result
# again so that the packet boundaries (and delays) are kept as far as
# possible.  Returns an array ref of {value, delay} hashes.
sub build_packets {
    my ($packets, $more_headers, $host) = @_;

    my @in = map { ref $_ eq 'HASH' ? {%$_} : { value => $_ } } @$packets;
    my $joined = join '', map { $_->{value} // '' } @in;
    my $full = build_request($joined, $more_headers, $host);

    return [{ %{ $in[0] // {} }, value => $full }] if @in <= 1;

    my @sizes = map { length($_->{value} // '') } @in;
    $sizes[0] += length($full) - length($joined);
    return [{ %{ $in[0] }, value => $full }] if $sizes[0] <= 0;

    my @out;
    my $off = 0;
    for my $i (0 .. $#in) {
        my $len = $i == $#in ? length($full) - $off : $sizes[$i];
        $len = length($full) - $off if $off + $len > length $full;
        push @out, { %{ $in[$i] }, value => substr($full, $off, $len) };
        $off += $len;
    }
    return \@out;
}

# Send the packets of one request over a fresh connection and read the
# response.  $timeout is an inactivity timeout in seconds.
# Returns ($raw_response, $error) where $error is undef, 'timeout' or a
# connection error message.
sub send_request {
    my (%args) = @_;
    my $addr    = $args{addr} // $ServerAddr;
    my $port    = $args{port};
    my $timeout = $args{timeout} // 3;
    my @packets = @{ $args{packets} };

    my $sock;
    for my $try (1 .. 5) {
        $sock = IO::Socket::INET->new(
            PeerAddr => $addr,
            PeerPort => $port,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        last if $sock;
        Time::HiRes::sleep(0.05 * $try);
    }
    return (undef, "cannot connect to $addr:$port: " . ($@ || $!))
        unless $sock;

    binmode $sock;
    local $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($sock);
    my $resp = '';
    my $err;

  WRITE:
    for my $i (0 .. $#packets) {
        my $pkt = $packets[$i];
        my $delay = $pkt->{delay} // ($i > 0 ? $args{middle_delay} : undef);
        Time::HiRes::sleep(parse_time($delay)) if $delay;
        my $buf = $pkt->{value} // '';
        while (length $buf) {
            if (!$sel->can_write($timeout)) {
                $err = 'timeout';
                last WRITE;
            }
            my $n = syswrite $sock, $buf;
            if (!defined $n) {
                next if $! == Errno::EINTR() || $! == Errno::EAGAIN();
                last WRITE;     # peer closed early: read what it said
            }
            substr($buf, 0, $n, '');
        }
    }

    if (!defined $err) {
        while (1) {
            if (!$sel->can_read($timeout)) {
                $err = 'timeout';
                last;
            }
            my $n = sysread $sock, $resp, 16384, length $resp;
            if (!defined $n) {
                next if $! == Errno::EINTR() || $! == Errno::EAGAIN();
                last;           # ECONNRESET and friends: use what we have
            }
            last if $n == 0;
            last if response_done($resp, $args{head});
        }
    }

    close $sock;
    return ($resp, $err);
}

# Whether a keep-alive response is complete (responses without
# "Connection: keep-alive" are read until the server closes).
sub response_done {
    my ($raw, $head) = @_;
    my $res = parse_response($raw, $head, 1);
    return 0 unless $res && $res->{complete};
    my $conn = header_value($res, 'Connection') // '';
    return $conn =~ /keep-alive/i;
}

# Parse a raw HTTP response.  Returns a hash ref:
#   code, reason, proto, headers ([name, value] pairs), raw_headers, body,
#   left (bytes after the message), complete (bool), error (message).
sub parse_response {
    my ($raw, $head, $quiet) = @_;
    $raw //= '';

    my %res = (headers => [], raw_headers => '', body => undef,
               complete => 0);

    my ($head_part, $rest);
    if ($raw =~ /\A(.*?\r\n)\r\n/s) {
        $head_part = $1;
        $rest = substr $raw, length($1) + 2;
        $res{raw_headers} = $head_part;
    } else {
        $head_part = $raw;
        $rest = '';
    }

    my @lines = split /\r\n/, $head_part;
    my $status_line = shift @lines // '';
    if ($status_line =~ m{^(HTTP/\d+(?:\.\d+)?)\s+(\d{3})(?:\s+(.*))?$}) {
        @res{qw(proto code reason)} = ($1, $2, $3 // '');
    } else {
        $res{error} = 'no valid status line in the response' if length $raw;
        return \%res;
    }

    for my $line (@lines) {
        if ($line =~ /^[ \t]/ && @{ $res{headers} }) {    # obs-fold
            (my $cont = $line) =~ s/^\s+//;
            $res{headers}[-1][1] .= " $cont";
            next;
        }
        my ($k, $v) = split /:[ \t]*/, $line, 2;
        next unless defined $k && length $k;
        $v //= '';
        $v =~ s/\s+\z//;
        push @{ $res{headers} }, [$k, $v];
    }

    return \%res unless defined $res{raw_headers} && length $res{raw_headers};

    my $code = $res{code};
    my $te = header_value(\%res, 'Transfer-Encoding');
    my $cl = header_value(\%res, 'Content-Length');

    if ($head || $code =~ /^(?:1\d\d|204|304)$/) {
        $res{body} = '';
        $res{left} = $rest if length $rest;
        $res{complete} = $code !~ /^1/;

    } elsif (defined $te && $te =~ /\bchunked\b/i) {
        my ($body, $cerr, $left) = decode_chunked($rest);
        $res{body} = $body;
        if (!defined $cerr) {
            $res{complete} = 1;
            $res{left} = $left if length $left;
        } elsif ($cerr ne 'incomplete') {
            $res{error} = $cerr;
        } else {
            $res{error} = 'incomplete chunked body' unless $quiet;
        }

    } elsif (defined $cl && $cl =~ /^\d+$/) {
        if (length($rest) >= $cl) {
            $res{body} = substr $rest, 0, $cl;
            $res{left} = substr $rest, $cl if length($rest) > $cl;
            $res{complete} = 1;
        } else {
            $res{body} = $rest;
            $res{error} = "response body truncated: $cl bytes expected, got "
                          . length($rest) unless $quiet;
        }

    } else {
        $res{body} = $rest;     # read until close
    }

    return \%res;
}

# Decode a chunked body.  Returns ($decoded, $error, $left) where $error is
# undef on success, 'incomplete' when more data is needed, or a message.
sub decode_chunked {
    my ($raw) = @_;
    my $out = '';
    my $pos = 0;

    while (1) {
        my $eol = index $raw, "\r\n", $pos;
        return ($out, 'incomplete') if $eol < 0;
        my $size_line = substr $raw, $pos, $eol - $pos;
        return ($out, "invalid chunk size line \"$size_line\"")
            unless $size_line =~ /^[ \t]*([0-9A-Fa-f]+)[ \t]*(?:;.*)?$/;
        my $size = hex $1;
        $pos = $eol + 2;

        if ($size == 0) {
            # optional trailer fields, then an empty line
            while (1) {
                my $e = index $raw, "\r\n", $pos;
                return ($out, 'incomplete') if $e < 0;
                my $trailer = substr $raw, $pos, $e - $pos;
                $pos = $e + 2;
                return ($out, undef, substr($raw, $pos)) if $trailer eq '';
            }
        }

        return ($out, 'incomplete') if length($raw) < $pos + $size + 2;
        $out .= substr $raw, $pos, $size;
        $pos += $size;
        return ($out, 'invalid chunked data (no CRLF after chunk data)')
            unless substr($raw, $pos, 2) eq "\r\n";
        $pos += 2;
    }
}

# All values of a (case-insensitive) header joined with ", ", or undef.
sub header_value {
    my ($res, $name) = @_;
    return undef unless $res;
    my @vals = map { $_->[1] }
               grep { lc $_->[0] eq lc $name } @{ $res->{headers} || [] };
    return undef unless @vals;
    return join ', ', @vals;
}

1;
