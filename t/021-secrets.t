# Secrets stay out of the logs.  At log level info (debug logging of
# nginx's own request parsing would print any query string), neither a
# right nor a wrong secret appears in error.log or the access log, and
# the request line in error log context is masked.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use VoTest;

vo_setup();
log_level('info');

my $http_config = <<'_EOC_';
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        webhook_secret the-real-secret;
        admin_token the-admin-token;
    }
    log_format masked '$remote_addr "$request" $status uri=$victorops_request_uri';
_EOC_

vo_defaults(
    http_config => $http_config,
    config => <<'_EOC_',
    location = /hook {
        access_log logs/masked.log masked;
        victorops_webhook acme;
    }
    location = /masked-log {
        alias logs/masked.log;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

# After the last request: "--- logs_free_of": no file in logs/ (error
# log, access logs, whatever the block writes) contains any of the lines;
# "--- error_log_has": error.log has each of the lines.
Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $i, $rep, $dry_run) = @_;

    return if $dry_run || !defined $block->logs_free_of;

    my $reqs = $block->request;
    my $last = ref $reqs eq 'ARRAY' ? $#$reqs : 0;
    return if $i != $last;

    select undef, undef, undef, 0.3;    # the log phase of the last one

    my $dir = Test::Nginx::Socket::server_root() . '/logs';
    opendir my $dh, $dir or die "$dir: $!";
    my @files = grep { -f "$dir/$_" } readdir $dh;
    closedir $dh;

    ok(scalar(grep { /access|hook|masked/ } @files),
       $block->name . " - access logs were written (@files)");

    for my $secret (grep { length } split /\n/, $block->logs_free_of) {
        my @hits;
        for my $f (@files) {
            open my $in, '<', "$dir/$f" or die "$dir/$f: $!";
            push @hits, $f if grep { index($_, $secret) >= 0 } <$in>;
        }
        is("@hits", '', $block->name . " - \"$secret\" is in no log file");
    }

    open my $in, '<', "$dir/error.log" or die "$dir/error.log: $!";
    my @log = <$in>;

    for my $want (grep { length } split /\n/, $block->error_log_has // '') {
        ok(scalar(grep { index($_, $want) >= 0 } @log),
           $block->name . " - \"$want\" is in error.log");
    }
});

eval_helpers();

run_tests();

__DATA__

=== TEST 1: a wrong secret in the query is not logged
--- request eval
["POST /hook?secret=WRONG-QUERY-SECRET&x=1\n{\"entity_id\":\"a\"}", "GET /masked-log"]
--- error_code eval: [401, 200]
--- response_body eval
[qq{{"error":"unauthorized"}\n},
 qq{127.0.0.1 "POST /hook?secret=***&x=1 HTTP/1.1" 401 uri=/hook?secret=***&x=1\n}]
--- no_error_log
WRONG-QUERY-SECRET
[error]



=== TEST 2: the error log context shows the masked request line
--- request
POST /hook?secret=WRONG-QUERY-SECRET&x=1
{"entity_id":"a"}
--- error_code: 401
--- error_log
unauthorized: wrong secret, client: 127.0.0.1, server: localhost, request: "POST /hook?secret=***&x=1 HTTP/1.1"
--- no_error_log
WRONG-QUERY-SECRET



=== TEST 3: the right secret in the query is not logged either
--- request eval
["POST /hook?secret=the-real-secret\n{\"entity_id\":\"a\"}", "GET /masked-log"]
--- error_code eval: [202, 200]
--- response_body_like eval
[qr/"result":"accepted"/,
 qr{^127\.0\.0\.1 "POST /hook\?secret=\*\*\* HTTP/1\.1" 202 uri=/hook\?secret=\*\*\*\n\z}]
--- no_error_log
the-real-secret
rootly-test-token



=== TEST 4: wrong secrets in headers are not logged
--- request
POST /hook
{"entity_id":"a"}
--- more_headers
Content-Type: application/json
Authorization: Bearer WRONG-BEARER-SECRET
X-Webhook-Secret: WRONG-HEADER-SECRET
--- error_code: 401
--- error_log
webhook from 127.0.0.1 unauthorized: wrong secret
--- no_error_log
WRONG-BEARER-SECRET
WRONG-HEADER-SECRET



=== TEST 5: Rootly's refusal does not log the token
--- http_config
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token SECRET-ROOTLY-TOKEN;
        store logs/acme.db;
        webhook_secret the-real-secret;
    }
--- config
    location = /hook { victorops_webhook acme; }
--- request
POST /hook?secret=the-real-secret
{"entity_id":"a"}
--- error_code: 202
--- rootly_received eval: {count => 1, status => 401}
--- wait eval: slow(0.5)
--- error_log
rootly answered 401
--- no_error_log
SECRET-ROOTLY-TOKEN
the-real-secret



=== TEST 6: a wrong admin token is not logged
--- config
    location = /status { victorops_status; }
--- request
POST /status?integration=acme&action=dead_letters
--- more_headers
Authorization: Bearer WRONG-ADMIN-TOKEN
--- error_code: 401
--- error_log
admin request from 127.0.0.1 unauthorized
--- no_error_log
WRONG-ADMIN-TOKEN
the-admin-token



=== TEST 7: limit_req rejections, $request and every log file: no secret
--- http_config
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        webhook_secret the-real-secret;
    }
    limit_req_zone $binary_remote_addr zone=hooks:1m rate=1r/m;
    log_format masked '$remote_addr "$victorops_request" $status';
    log_format plain '$remote_addr "$request" $status';
--- config
    location = /hook {
        limit_req zone=hooks nodelay;
        access_log logs/hook-combined.log combined;
        access_log logs/hook-plain.log plain;
        access_log logs/masked.log masked;
        victorops_webhook acme;
    }
    location = /masked-log {
        alias logs/masked.log;
    }
--- request eval
["POST /hook?secret=the-real-secret\n{\"entity_id\":\"a\"}",
 "POST /hook?x=1&secret=the-real-secret\n{\"entity_id\":\"a\"}",
 "POST /hook?secret=WRONG-QUERY-SECRET\n{\"entity_id\":\"a\"}",
 "GET /masked-log"]
--- error_code eval: [202, 503, 503, 200]
--- response_body_like eval
[qr/"result":"accepted"/, qr/503/, qr/503/,
 qr{\A127\.0\.0\.1 "POST /hook\?secret=\*\*\* HTTP/1\.1" 202
127\.0\.0\.1 "POST /hook\?x=1&secret=\*\*\* HTTP/1\.1" 503
127\.0\.0\.1 "POST /hook\?secret=\*\*\* HTTP/1\.1" 503
\z}]
--- error_log_has
limiting requests, excess
request: "POST /hook?x=1&secret=*** HTTP/1.1"
--- logs_free_of
the-real-secret
WRONG-QUERY-SECRET
rootly-test-token
