# Forwarding to Rootly through libcurl inside nginx's event loop: the
# JSON:API request, upstream failures logged with their status, and a
# worker that keeps serving whatever Rootly does.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use VoTest;

vo_setup();

my $http_config = <<'_EOC_';
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        webhook_secret s3cret;
        rootly_timeout 1s;
    }
_EOC_

vo_defaults(
    http_config => $http_config,
    config => "location = /hook { victorops_webhook acme; }\n",
    more_headers => "Content-Type: application/json\n",
);

eval_helpers();

run_tests();

__DATA__

=== TEST 1: the mock Rootly is a server{} of the same single-worker nginx
A blocking client would deadlock here: the worker that sends is the one
that must answer.
--- http_config
    victorops_integration acme {
        rootly_url http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        rootly_token same-worker-token;
        store logs/acme.db;
        webhook_secret s3cret;
        rootly_timeout 3s;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location = /v1/alerts {
            if ($http_authorization != "Bearer same-worker-token") {
                return 401 '{"errors":[{"title":"Unauthorized","status":"401"}]}';
            }
            if ($content_type != "application/vnd.api+json") {
                return 415;
            }
            return 201 '{"data":{"id":"7d3c0b6e-in-the-same-worker","type":"alerts"}}';
        }
    }
--- request eval: fixture_request('flat-triggered.json')
--- error_code: 202
--- wait eval: slow(0.5)
--- error_log
delivered: rootly answered 201, id "7d3c0b6e-in-the-same-worker"
--- no_error_log
[error]
[alert]



=== TEST 2: the request Rootly receives: method, path, JSON:API headers, bearer token
--- request eval: fixture_request('simple-unset.json')
--- error_code: 202
--- rootly_received eval
{count => 1, method => 'POST', path => '/v1/alerts', status => 201,
 headers => {authorization => 'Bearer rootly-test-token',
             'content-type' => 'application/vnd.api+json',
             accept => 'application/vnd.api+json',
             expect => undef,
             'user-agent' => qr{^ngx_http_victorops_module/\d}}}
--- wait eval: slow(0.5)
--- error_log eval
qr/alert for incident "3101" \(job [0-9a-f]{16}\) delivered: rootly answered 201, id "[0-9a-f-]{36}"/



=== TEST 3: Rootly refuses the token: 401 is logged with the status
--- http_config
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token not-the-token;
        store logs/acme.db;
        webhook_secret s3cret;
    }
--- request eval: fixture_request('simple-unset.json')
--- error_code: 202
--- rootly_received eval: {count => 1, status => 401}
--- wait eval: slow(0.3)
--- error_log
not delivered, attempt 1: rootly answered 401
rootly refused the credentials (401): check rootly_token
--- no_error_log
not-the-token



=== TEST 4: Rootly answers 500: logged with the status
--- rootly_fault eval: {mode => 'status', status => 500, count => 1}
--- request eval: fixture_request('simple-unset.json')
--- error_code: 202
--- rootly_received eval: {count => 1, status => 500}
--- wait eval: slow(0.5)
--- error_log
alert for incident "3101"
not delivered, attempt 1: rootly answered 500



=== TEST 5: after a 500 the worker keeps serving and sending
--- rootly_fault eval: {mode => 'status', status => 500, count => 1}
--- request eval
[fixture_request('simple-unset.json'), fixture_request('nested-triggered.json')]
--- error_code eval: [202, 202]
--- rootly_received eval: {count => 2, distinct => 2}



=== TEST 6: Rootly is slower than rootly_timeout
--- rootly_fault eval: {mode => 'slow', delay => 3, count => 1}
--- request eval: fixture_request('simple-unset.json')
--- error_code: 202
--- wait eval: slow(2)
--- error_log eval
qr/alert for incident "3101" \(job \w+\) not delivered, attempt 1: Operation timed out after 1\d\d\d milliseconds/



=== TEST 7: while one send hangs, the next is delivered
--- rootly_fault eval: {mode => 'slow', delay => 3, count => 1}
--- request eval
[fixture_request('simple-unset.json'), fixture_request('nested-triggered.json')]
--- error_code eval: [202, 202]
--- rootly_received eval: {count => 2, distinct => 2}



=== TEST 8: Rootly resets the connection
--- rootly_fault eval: {mode => 'reset', count => 2}
--- request eval: fixture_request('simple-unset.json')
--- error_code: 202
--- wait eval: slow(0.5)
--- error_log eval
qr/alert for incident "3101" \(job \w+\) not delivered, attempt 1: (Recv failure: Connection reset by peer|Empty reply from server)/



=== TEST 9: nothing listens at rootly_url
--- http_config
    victorops_integration acme {
        rootly_url http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        rootly_token t;
        store logs/acme.db;
        webhook_secret s3cret;
    }
--- request eval: fixture_request('simple-unset.json')
--- error_code: 202
--- wait eval: slow(0.5)
--- error_log eval
qr/not delivered, attempt 1: Failed to connect to 127\.0\.0\.1 port \d+/



=== TEST 10: Rootly rate limits: 429 is logged with its status
--- rootly_fault eval: {mode => 'ratelimit', count => 1}
--- request eval: fixture_request('simple-unset.json')
--- error_code: 202
--- rootly_received eval: {count => 1, status => 429}
--- wait eval: slow(0.3)
--- error_log
rootly rate limit: sends paused for



=== TEST 11: a body Rootly finds invalid is logged with its detail
The mock validates against new_alert: a started_at that is not a date
cannot be produced by the module, so the fault forces a 422 instead.
--- rootly_fault eval
{mode => 'status', status => 422, count => 1,
 body => {errors => [{title => 'Invalid', status => '422', detail => 'summary is too long'}]}}
--- request eval: fixture_request('simple-unset.json')
--- error_code: 202
--- rootly_received eval: {count => 1, status => 422}
--- wait eval: slow(0.3)
--- error_log
dead-lettered after 1 attempt: rootly answered 422: "summary is too long"



=== TEST 12: many webhooks at once are all delivered
--- request eval
[map { "POST /hook?secret=s3cret\n{\"entity_id\":\"burst/$_\"}" } 1 .. 20]
--- error_code eval: [(202) x 20]
--- rootly_received eval: {count => 20, distinct => 20, after => 19}
--- no_error_log
[error]
