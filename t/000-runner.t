# Self-test of the project's own Test::Nginx::Socket (t/runner).  It only needs a
# plain nginx binary (no project module) and exercises every section the
# runner supports.  The second half runs small .t files in a child perl to
# check that the runner really reports failures (wrong body, wrong status,
# missing log lines, nginx dying, ...).

use Test::Nginx::Socket;
use File::Spec ();
use File::Temp ();

# This file tests the t/runner runner itself; with the real Test::Nginx
# installed there is nothing to test here.
if ($INC{'Test/Nginx/Socket.pm'} !~ m{(?:^|/)t/runner/Test/Nginx/Socket\.pm$}) {
    plan skip_all => 'the real Test::Nginx is in use; '
                     . 'this file tests the t/runner runner only';
}
plan 'no_plan';

$ENV{TEST_NGINX_FOO} = 'foo-value';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('debug');
worker_connections(128);
env_to_nginx('RUNNER_SELF_TEST=yes');

# Blocks with a "--- master_mode" section run with a master process and two
# workers; all others with a single process.
add_block_preprocessor(sub {
    my $block = shift;
    if (defined $block->master_mode) {
        master_on();
        workers(2);
    } else {
        master_off();
        workers(1);
    }
});

# used from "--- init" sections
sub conf_like {
    my $conf = do {
        local $/;
        open my $in, '<', server_root() . '/conf/nginx.conf' or die $!;
        <$in>;
    };
    like($conf, $_, "nginx.conf matches $_") for @_;
}

run_tests();

# ---------------------------------------------------------------------------
# meta tests: the runner must report what is wrong

my $LibDir = File::Spec->rel2abs(
    ($INC{'Test/Nginx/Socket.pm'} =~ m{^(.*)/Test/Nginx/Socket\.pm$})[0]);
# outside t/, so that "prove -r t/" does not pick the scripts up
my $MetaDir = File::Temp::tempdir('nginx-runner-meta-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);

# Run $script (a .t file body) with a child perl; returns its exit status,
# its whole output, and {test name => 1 (ok) / 0 (not ok)}.
sub run_child {
    my ($tag, $script, %env) = @_;

    my $file = "$MetaDir/$tag.t";
    open my $out, '>', $file or die "$file: $!";
    print {$out} $script;
    close $out;

    local $ENV{TEST_NGINX_SERVROOT} = "$MetaDir/$tag";
    local %ENV = %ENV;
    delete @ENV{qw(TEST_NGINX_SERVER_PORT TEST_NGINX_USE_VALGRIND
                   TEST_NGINX_LOAD_MODULES HARNESS_ACTIVE)};
    @ENV{keys %env} = values %env;

    my $pid = open my $fh, '-|';
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec $^X, "-I$LibDir", $file or die "exec: $!";
    }
    my $output = do { local $/; <$fh> };
    close $fh;
    my $status = $?;

    my %results;
    my $count = 0;
    while ($output =~ /^(not ok|ok) \d+ - (.*)$/mg) {
        $results{$2} = $1 eq 'ok' ? 1 : 0;
        $count++;
    }
    return ($status, $output, \%results, $count);
}

# Check that exactly the tests matching @$failing failed (and something
# matching each pattern was run), and that the others passed.
sub check_child {
    my ($tag, $results, $output, $failing, $passing) = @_;

    for my $pat (@$failing) {
        my @hits = grep { /$pat/ } keys %$results;
        ok(@hits && !grep({ $results->{$_} } @hits),
           "$tag: reported as failing: $pat")
            or diag($output);
    }
    for my $pat (@$passing) {
        my @hits = grep { /$pat/ } keys %$results;
        ok(@hits && !grep({ !$results->{$_} } @hits),
           "$tag: reported as passing: $pat")
            or diag($output);
    }

    my @unexpected = grep {
        my $name = $_;
        !$results->{$name} && !grep { $name =~ /$_/ } @$failing;
    } sort keys %$results;
    is("@unexpected", '', "$tag: no unexpected failures") or diag($output);
}

{
    my ($status, $output, $results) = run_child('failures', <<'_EOT_');
use Test::Nginx::Socket 'no_plan';
no_shuffle();
run_tests();
__DATA__

=== TEST 1: wrong body
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
not ok

=== TEST 2: wrong status
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- error_code: 404

=== TEST 3: headers
--- config
    location = /t { add_header X-Here 1; return 200 "ok\n"; }
--- request
GET /t
--- response_headers
!X-Here
X-Here: 2

=== TEST 4: error log
--- config
    location = /t { deny all; }
--- request
GET /t
--- error_code: 403
--- error_log
this text is never logged
--- no_error_log
access forbidden by rule

=== TEST 5: must_die but nginx starts
--- config
    location = /t { return 200; }
--- must_die

=== TEST 6: response_body_like
--- config
    location = /t { return 200 "abc\n"; }
--- request
GET /t
--- response_body_like: ^xyz$

=== TEST 7: bad config in a normal block
--- config
    bogus_directive_xyz;
--- request
GET /t

=== TEST 8: client timeout
--- config
    location = /t { limit_rate 1; return 200 "slow slow slow\n"; }
--- request
GET /t
--- timeout: 0.5
--- response_body
slow slow slow

=== TEST 9: nginx dies during the block
--- config
    location = /t { return 200 "ok\n"; }
--- init
kill 'KILL', $Test::Nginx::Socket::ChildPid;
--- request
GET /t

=== TEST 10: a block that passes
--- config
    location = /t { return 200 "fine\n"; }
--- request
GET /t
--- response_body
fine

=== TEST 11: checks the real runner does not make (undef, hashes)
--- config
    location = /t { return 200 "ok\n"; }
--- request eval
["GET /t", "GET /t"]
--- response_headers eval
["", {'Content-Type' => 'text/plain'}]
--- response_body_like eval
[undef, qr/ok/]

=== TEST 12: an emerg line as error.log has it, not as stderr shows it
--- config
    bogus_directive_xyz;
--- must_die
--- error_log eval
qr/\[emerg\] unknown directive "bogus_directive_xyz"/
_EOT_

    isnt($status, 0, 'failures: the child reports failure');
    check_child('failures', $results, $output,
        [
            qr/TEST 1: wrong body - response_body/,
            qr/TEST 2: wrong status - status code ok/,
            qr/TEST 3: headers - header X-Here not present/,
            qr/TEST 3: headers - header X-Here ok/,
            qr/TEST 4: error log - pattern "this text is never logged"/,
            qr/TEST 4: error log - pattern "access forbidden by rule"/,
            qr/TEST 5: must_die but nginx starts - die as expected/,
            qr/TEST 6: response_body_like - response_body_like/,
            qr/TEST 7: bad config in a normal block - nginx -t/,
            qr/TEST 8: client timeout - status code ok/,
            qr/TEST 8: client timeout - response_body/,
            qr/TEST 9: nginx dies during the block - status code ok/,
            qr/TEST 9: nginx dies during the block - nginx exited prematurely/,
            qr/TEST 11: .* - response_headers: "Name: value" lines expected/,
            qr/TEST 11: .* - response_body_like\/unlike: an undef entry/,
            qr/TEST 12: .* - pattern .* matches a line in error\.log/,
        ],
        [
            qr/TEST 1: wrong body - status code ok/,
            qr/TEST 4: error log - status code ok/,
            qr/TEST 10: a block that passes - /,
            qr/TEST 12: .* - die as expected/,
        ]);
    like($output, qr/client socket timed out/,
         'failures: the client timeout is reported');
    like($output, qr/unknown directive "bogus_directive_xyz"/,
         'failures: nginx -t output is shown');
}

{
    my ($status, $output, $results, $count) = run_child('only', <<'_EOT_');
use Test::Nginx::Socket;
repeat_each(2);
plan tests => repeat_each() * 3 * blocks();
run_tests();
__DATA__

=== TEST 1: not run
--- config
    location = /t { return 200 "one\n"; }
--- request
GET /t
--- response_body
one

=== TEST 2: the only one
--- ONLY
--- config
    location = /t { return 200 "two\n"; }
--- request
GET /t
--- response_body
two
--- error_log
"GET /t HTTP/1.1"

=== TEST 3: not run either
--- config
    location = /t { return 200 "three\n"; }
--- request
GET /t
--- response_body
three
_EOT_

    is($status, 0, 'only: the child passes');
    is($count, 6,
       'only: 3 tests x repeat_each(2) for the ONLY block, as planned');
    ok(!grep({ !/TEST 2: the only one/ } keys %$results),
       'only: no other block ran');
    ok(exists $results->{"$MetaDir/only.t TEST 2: the only one - "
                         . "response_body - response is expected "
                         . "(repeated req 1, req 0)"},
       'only: the request was repeated') or diag($output);
    like($output, qr/^1\.\.6$/m, 'only: plan tests => N is passed through');
}

{
    my ($status, $output, $results) = run_child('modules', <<'_EOT_',
use Test::Nginx::Socket 'no_plan';
run_tests();
__DATA__

=== TEST 1: load_module lines come from TEST_NGINX_LOAD_MODULES
--- config
--- must_die
--- error_log
dlopen() "/nonexistent/ngx_fake_module.so" failed
_EOT_
        TEST_NGINX_LOAD_MODULES => '/nonexistent/ngx_fake_module.so');

    is($status, 0, 'modules: the child passes') or diag($output);
    is(scalar(grep { $_ } values %$results), 2, 'modules: 2 tests passed');
}

__DATA__

=== TEST 1: return, add_header and response_headers
--- config
    location = /t {
        add_header X-Foo bar;
        return 200 "hello\n";
    }
--- request
GET /t
--- response_headers
X-Foo: bar
Content-Type: text/plain
Content-Length: 6
!X-Absent
--- response_body
hello
--- no_error_log
[error]
[alert]



=== TEST 2: deny all gives 403 and a line in error.log
--- config
    location /denied { deny all; }
--- request
GET /denied
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log
access forbidden by rule
--- no_error_log
[alert]



=== TEST 3: 404 and response_body_like eval qr//
--- config
    location = /missing { return 404; }
--- request
GET /missing
--- error_code: 404
--- response_body_like eval
qr{<title>404 Not Found</title>}



=== TEST 4: POST body, more_headers and Content-Length (proxy echo)
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "$request_method len=$http_content_length ct=$http_content_type xfoo=$http_x_foo body=[$http_x_body]\n";
        }
    }
--- config
    location = /echo {
        client_body_in_single_buffer on;
        client_body_buffer_size 64k;
        proxy_set_header X-Body $request_body;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- request
POST /echo?x=1
{"a":1}
--- more_headers
Content-Type: application/json
X-Foo: bar
--- response_body
POST len=7 ct=application/json xfoo=bar body=[{"a":1}]



=== TEST 5: raw_request with a chunked request body (proxy echo)
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "$request_method len=$http_content_length body=[$http_x_body]\n";
        }
    }
--- config
    location = /echo {
        client_body_in_single_buffer on;
        client_body_buffer_size 64k;
        proxy_set_header X-Body $request_body;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- raw_request eval
"POST /echo HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
5\r
hello\r
6\r
 world\r
0\r
\r
"
--- response_body
POST len=11 body=[hello world]



=== TEST 6: comment lines in --- request, surrounding body whitespace
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "len=$http_content_length body=[$http_x_body]\n";
        }
    }
--- config
    location = /echo {
        proxy_set_header X-Body $request_body;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- request
# this comment line is skipped
POST /echo
   padded body   
--- response_body
len=11 body=[padded body]



=== TEST 7: several requests in one block (request eval array)
--- config
    location = /a { return 200 "a\n"; }
    location = /b { add_header X-B yes; return 201 "b\n"; }
--- request eval
["GET /a", "GET /b", "HEAD /a"]
--- error_code eval
[200, 201, 200]
--- response_headers eval
["!X-B", "X-B: yes", "Content-Length: 2"]
--- response_body eval
["a\n", "b\n", ""]



=== TEST 8: $TEST_NGINX_SERVER_PORT and a custom $TEST_NGINX_FOO
--- config
    location = /env {
        return 200 "port=$TEST_NGINX_SERVER_PORT foo=$TEST_NGINX_FOO server_port=$server_port\n";
    }
--- request
GET /env
--- response_body eval
"port=$ENV{TEST_NGINX_SERVER_PORT} foo=foo-value server_port=$ENV{TEST_NGINX_SERVER_PORT}\n"



=== TEST 9: $ServerPort in expectations
--- config
    location = /p {
        add_header X-Port $server_port;
        return 200 "port $server_port\n";
    }
--- request
GET /p
--- response_headers
X-Port: $ServerPort
--- response_body
port $ServerPort



=== TEST 10: --- wait, and the debug log sees the request line
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- wait: 0.2
--- response_body
ok
--- error_log
"GET /t HTTP/1.1"



=== TEST 11: must_die on an unknown directive
--- config
    location = /t { foo_bar_baz; }
--- must_die
--- error_log
unknown directive "foo_bar_baz"



=== TEST 12: must_die with an exit code; main_config is the main context
--- main_config
    default_type text/html;
--- config
--- must_die: 1
--- error_log
"default_type" directive is not allowed here



=== TEST 13: master process with two workers (not under valgrind)
--- master_mode
--- skip_eval: 3: $ENV{TEST_NGINX_USE_VALGRIND}
--- config
    location = /t { return 200 "master ok\n"; }
--- request
GET /t
--- response_body
master ok
--- grep_error_log eval
qr/start worker process(?= \d)/
--- grep_error_log_out
start worker process
start worker process



=== TEST 14: SKIP blocks are not run
--- SKIP
--- config
    this_would_not_parse;
--- request
GET /t
--- response_body
never



=== TEST 15: --- timeout and a multi-line response_body_like
--- config
    location = /multi { return 200 "line1\nline2\n"; }
--- request
GET /multi
--- timeout: 2s
--- response_body_like: ^line1\nline2$



=== TEST 16: chunked responses are decoded
--- config
    location = /chunked {
        default_type text/html;
        sub_filter 'hello' 'HELLO';
        return 200 "hello world\n";
    }
--- request
GET /chunked
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
HELLO world



=== TEST 17: user_files and the default root location
--- user_files
>>> foo/bar.txt
file content
--- config
--- request eval
["GET /foo/bar.txt", "GET /"]
--- response_body eval
["file content\n", qr/It works!/]



=== TEST 18: more_headers can override Host and Connection (keep-alive)
--- config
    location = /host { return 200 "host=$host conn=$http_connection\n"; }
--- request
GET /host
--- more_headers
Host: example.com
Connection: keep-alive
--- timeout: 2
--- response_body
host=example.com conn=keep-alive



=== TEST 19: the chomp filter
--- config
    location = /t { return 200 "no newline"; }
--- request
GET /t
--- response_body chomp
no newline



=== TEST 20: error_log / no_error_log eval with qr// and strings
--- config
    location = /denied { deny all; }
--- request
GET /denied
--- error_code: 403
--- error_log eval
[qr/\[error\] \d+#\d+: \*\d+ access forbidden by rule/, "client: 127.0.0.1"]
--- no_error_log eval
[qr/\[alert\]/, "[crit]"]



=== TEST 21: env_to_nginx and worker_connections end up in nginx.conf
--- config
    location = /t { return 200 "ok\n"; }
--- init
conf_like(qr/^env RUNNER_SELF_TEST=yes;$/m,
          qr/^\s*worker_connections 128;$/m,
          qr/^master_process off;$/m);
--- request
GET /t
--- response_body
ok



=== TEST 22: per-block --- log_level and --- access_log
--- log_level: info
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t?q=1
--- response_body
ok
--- access_log
"GET /t?q=1 HTTP/1.1" 200
--- no_error_log
[debug]



=== TEST 23: response_body_filters and raw_response_headers_like
--- config
    location = /t { return 200 "MiXeD\n"; }
--- request
GET /t
--- response_body_filters
lc
--- response_body
mixed
--- raw_response_headers_like: ^HTTP/1\.1 200 OK\r\n



=== TEST 24: error_code_like and response_headers_like
--- config
    location = /t { add_header X-Num 12345; return 204; }
--- request
GET /t
--- error_code_like: ^20[04]$
--- response_headers_like
X-Num: \d+
--- response_body
