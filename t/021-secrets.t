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
