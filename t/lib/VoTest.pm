package VoTest;

# Shared set-up for the module's Test::Nginx suites: mock Rootly and
# VictorOps servers (t/mock/vomock.py through VoMock), fixtures, secret
# files, and two block sections that work with both the real
# Test::Nginx::Socket and the project's own runner:
#
#   --- rootly_fault eval
#   {mode => 'status', status => 500}          # or an array ref of rules
#
#   --- rootly_seed eval
#   {incidents => [{id => 'inc-1', title => 'Checkout down'}]}
#
#   --- rootly_received eval
#   {count => 1, path => '/v1/alerts', attributes => {summary => '...'},
#    labels => {routing_key => 'payments'}, status => 201}
#
# rootly_received is checked after the request with index `after`
# (default: the last one).  count => 0 waits `quiet` seconds (default
# 0.5) and checks that nothing arrived.

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use JSON::PP;
use Test::More;
use VoMock;

our @EXPORT = qw(fixture fixture_request expected rootly victorops
                 rootly_requests secret_file vo_setup eval_helpers slow
                 vo_defaults);

my $ROOT = abs_path(dirname(__FILE__) . '/../..');
my $FIXTURES = "$ROOT/t/fixtures/victorops";
my $SLOW = $ENV{TEST_NGINX_USE_VALGRIND} ? 6 : 1;

my ($rootly, $victorops, %expected);

sub vo_setup {
    my (%opt) = @_;

    $rootly = VoMock->start(kind => 'rootly', token => 'rootly-test-token');
    $ENV{TEST_NGINX_ROOTLY_URL} = $rootly->url;
    $ENV{TEST_NGINX_ROOTLY_PORT} = $rootly->port;

    if ($opt{victorops}) {
        $victorops = VoMock->start(kind => 'victorops', api_id => 'vo-id',
                                   api_key => 'vo-key');
        $ENV{TEST_NGINX_VO_URL} = $victorops->url;
    }

    $ENV{TEST_NGINX_FIXTURES} = $FIXTURES;

    Test::Nginx::Socket::add_block_preprocessor(sub {
        my ($block) = @_;

        $rootly->reset;
        $victorops->reset if $victorops;

        if (my $seed = _section($block, 'rootly_seed')) {
            $rootly->seed($seed);
        }

        my $faults = _section($block, 'rootly_fault') or return;
        $faults = [$faults] if ref $faults eq 'HASH';
        $rootly->fault($_) for @$faults;
    });

    # every block: nginx logged no [alert] or [crit] (an epoll_ctl() on a
    # descriptor curl closed, a socket left open, ...) unless it says so
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my ($block) = @_;

        return if defined $block->must_die;

        my $v = $block->no_error_log;

        if (!defined $v) {
            $block->set_value('no_error_log', "[alert]\n[crit]\n");

        } elsif (!ref $v && $v !~ /\[(?:alert|crit)\]/) {
            $block->set_value('no_error_log', "$v\n[alert]\n[crit]\n");
        }
    });

    Test::Nginx::Socket::add_response_body_check(sub {
        my ($block, $body, $i, $rep, $dry_run) = @_;

        return if $dry_run;

        my $want = _section($block, 'rootly_received') or return;
        my $last = _request_count($block) - 1;

        return if $i != ($want->{after} // $last);

        _check_received($block->name, $want);
    });

    return;
}

# "--- section eval" code runs in package Test::Base::Filter (with the
# real Test::Nginx too): make the named subs of the caller, and ours,
# callable there.

sub eval_helpers {
    my (@names) = @_;
    my $caller = caller;

    no strict 'refs';

    for my $name (@EXPORT) {
        *{"Test::Base::Filter::$name"} = \&{"VoTest::$name"};
    }

    for my $name (@names) {
        *{"Test::Base::Filter::$name"} = \&{"${caller}::$name"};
    }

    return;
}

# Sections every block of a file gets unless it has its own.

sub vo_defaults {
    my (%sections) = @_;

    Test::Nginx::Socket::add_block_preprocessor(sub {
        my ($block) = @_;

        for my $name (sort keys %sections) {
            my $has = $block->can($name) && defined $block->$name;
            $block->set_value($name, $sections{$name}) unless $has;
        }
    });

    return;
}

# seconds to wait for something asynchronous, longer under valgrind

sub slow { $_[0] * $SLOW }

sub rootly { $rootly }
sub victorops { $victorops }

sub rootly_requests { $rootly->requests(@_) }

# The raw bytes of a fixture, and a webhook request carrying it.

sub fixture {
    my ($name) = @_;
    open my $fh, '<:raw', "$FIXTURES/$name" or die "fixture $name: $!\n";
    local $/;
    return scalar <$fh>;
}

sub fixture_request {
    my ($name, $uri) = @_;
    return "POST " . ($uri // '/hook?secret=s3cret') . "\n" . fixture($name);
}

# The expected.tsv row of a fixture: class, incident, entity_id, summary.

sub expected {
    my ($name) = @_;

    unless (%expected) {
        open my $fh, '<', "$FIXTURES/expected.tsv" or die "expected.tsv: $!\n";
        my $header = <$fh>;
        while (my $line = <$fh>) {
            chomp $line;
            my ($file, $class, $incident, $entity, $summary) = split /\t/, $line;
            $expected{$file} = {
                class => $class,
                incident => $incident eq '-' ? undef : $incident,
                entity_id => $entity eq '-' ? undef : $entity,
                summary => $summary eq '-' ? undef : $summary,
            };
        }
    }

    return $expected{$name} // die "no expected.tsv row for $name\n";
}

# A file under t/servroot-data/ with the given content, for *_file
# directives; returns its absolute path.

sub secret_file {
    my ($name, $content) = @_;
    my $dir = "$ROOT/t/servroot-data";
    make_path($dir);
    my $path = "$dir/$name";
    open my $fh, '>:raw', $path or die "$path: $!\n";
    print $fh $content;
    close $fh;
    return $path;
}

sub _section {
    my ($block, $name) = @_;
    return undef unless $block->can($name);
    return $block->$name;
}

sub _request_count {
    my ($block) = @_;
    my $req = $block->can('request') ? $block->request : undef;
    return ref $req eq 'ARRAY' ? scalar @$req : 1;
}

sub _check_received {
    my ($name, $want) = @_;

    my $count = $want->{count} // 1;
    my %query = (timeout => 5 * $SLOW);
    $query{path} = $want->{path} if $want->{path};
    $query{method} = $want->{method} if $want->{method};

    if ($count > 0) {
        $query{wait} = $count;
    } else {
        select undef, undef, undef, ($want->{quiet} // 0.5) * $SLOW;
        $query{timeout} = 0;
    }

    my $got = $rootly->requests(%query);

    if (defined $want->{distinct}) {

        # at-least-once: a request repeated (a retry, or libcurl re-sending
        # on a kept-alive connection the peer closed) is fine, a missing
        # alert is not; wait until the distinct alerts are all there

        my $distinct = sub {
            my %k = map { ((($_->{json} // {})->{data} // {})->{attributes}
                           // {})->{deduplication_key} // '' => 1 }
                    grep { $_->{status} >= 200 && $_->{status} < 300 } @{ $_[0] };
            return \%k;
        };

        my $deadline = time + 5 * $SLOW;
        my %keys = %{ $distinct->($got) };

        while (keys %keys < $want->{distinct} && time < $deadline) {
            select undef, undef, undef, 0.2;
            $got = $rootly->requests(%query, timeout => 0);
            %keys = %{ $distinct->($got) };
        }

        is(scalar keys %keys, $want->{distinct},
           "$name - rootly accepted $want->{distinct} distinct alerts")
            or diag explain [map { "$_->{method} $_->{path} $_->{status} $_->{body}" } @$got];
        return;
    }

    is(scalar @$got, $count, "$name - rootly received $count request(s)")
        or diag explain [map { "$_->{method} $_->{path} $_->{status}" } @$got];

    my $req = $got->[$want->{index} // 0] or return;

    if (defined $want->{request_path}) {
        _match($req->{path}, $want->{request_path}, "$name - request path");
    }

    if (defined $want->{event}) {
        _match(((($req->{json} // {})->{data} // {})->{attributes} // {})->{event},
               $want->{event}, "$name - incident event text");
    }

    if (defined $want->{status}) {
        is($req->{status}, $want->{status}, "$name - rootly answered $want->{status}")
            or diag $req->{body};
    }

    for my $h (sort keys %{ $want->{headers} // {} }) {
        _match($req->{headers}{lc $h}, $want->{headers}{$h}, "$name - header $h");
    }

    my $attrs = ($req->{json} // {})->{data}{attributes} // {};

    for my $key (sort keys %{ $want->{attributes} // {} }) {
        _match($attrs->{$key}, $want->{attributes}{$key}, "$name - attribute $key");
    }

    for my $key (@{ $want->{absent} // [] }) {
        ok(!exists $attrs->{$key}, "$name - attribute $key absent");
    }

    if ($want->{labels}) {
        my %labels = map { $_->{key} => $_->{value} } @{ $attrs->{labels} // [] };
        for my $key (sort keys %{ $want->{labels} }) {
            _match($labels{$key}, $want->{labels}{$key}, "$name - label $key");
        }
    }

    if ($want->{data}) {
        is_deeply($attrs->{data}, $want->{data}, "$name - data is the original payload");
    }

    return;
}

sub _match {
    my ($got, $want, $name) = @_;

    if (ref $want eq 'Regexp') {
        like($got // '', $want, $name);
    } elsif (ref $want) {
        is_deeply($got, $want, $name);
    } else {
        is($got, $want, $name);
    }
}

1;
