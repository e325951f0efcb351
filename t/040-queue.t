# The durable queue's visible behaviour: linked incident activity,
# duplicates, the status endpoint and its admin actions, credentials,
# rate limits and alert_limit.

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
        admin_token adm1n;
    }
_EOC_

vo_defaults(
    http_config => $http_config,
    config => "location = /hook { victorops_webhook acme; }\n"
              . "location = /status { victorops_status; }\n",
    more_headers => "Content-Type: application/json\nAuthorization: Bearer adm1n\n",
);

sub link_request {
    my (%args) = @_;
    my $q = join '&', map { "$_=$args{$_}" } sort keys %args;
    return "POST /status?integration=acme&action=link&$q\n";
}

eval_helpers(qw(link_request));

run_tests();

__DATA__

=== TEST 1: alert, then acknowledgement: POST /v1/alerts/{id}/acknowledge
--- request eval
[fixture_request('simple-unset.json'), fixture_request('simple-ack.json')]
--- error_code eval: [202, 202]
--- response_body_like eval
[qr/"class":"alert"/, qr/^\{"result":"accepted","class":"acknowledgement","incident":"3101","id":"[0-9a-f]{16}"\}$/]
--- rootly_received eval
{count => 1, path => '/v1/alerts/', request_path => qr{^/v1/alerts/[0-9a-f-]{36}/acknowledge$}, status => 200}



=== TEST 2: alert, then recovery: POST /v1/alerts/{id}/resolve with a message
--- request eval
[fixture_request('flat-triggered.json'), fixture_request('flat-resolved.json')]
--- error_code eval: [202, 202]
--- rootly_received eval
{count => 1, path => '/v1/alerts/', request_path => qr{/resolve$}, status => 200,
 attributes => {resolution_message => 'Resolved in VictorOps by jdoe'}}



=== TEST 3: an incident linked to a Rootly incident gets timeline events
--- rootly_seed eval: {incidents => [{id => 'inc-42', title => 'Checkout latency'}]}
--- request eval
[link_request(entity => 'checkout-api%2Flatency-p99', rootly_incident => 'inc-42'),
 fixture_request('flat-acknowledged.json')]
--- error_code eval: [200, 202]
--- response_body_like eval
[qr/^\{"linked":"checkout-api\/latency-p99"\}$/, qr/"class":"acknowledgement"/]
--- rootly_received eval
{count => 1, path => '/v1/incidents/inc-42/events', status => 201,
 event => 'Acknowledged in VictorOps by jdoe: looking at the canary'}



=== TEST 4: a new alert for a linked incident adds activity, not a duplicate alert
--- rootly_seed eval: {incidents => [{id => 'inc-42', title => 'Checkout latency'}]}
--- request eval
[link_request(entity => 'checkout-api%2Flatency-p99', rootly_incident => 'inc-42'),
 fixture_request('flat-triggered.json')]
--- error_code eval: [200, 202]
--- rootly_received eval
{count => 1, path => '/v1/incidents/inc-42/events', status => 201,
 event => 'Triggered again in VictorOps: checkout-api p99 latency above 2s'}



=== TEST 5: recovery of a linked incident
--- rootly_seed eval: {incidents => [{id => 'inc-42', title => 'Checkout latency'}]}
--- request eval
[link_request(incident => '1842', entity => 'checkout-api%2Flatency-p99', rootly_incident => 'inc-42'),
 fixture_request('flat-resolved.json')]
--- error_code eval: [200, 202]
--- rootly_received eval
{count => 1, path => '/v1/incidents/', status => 201, event => 'Resolved in VictorOps by jdoe'}



=== TEST 6: an acknowledgement waits behind its alert when Rootly fails first
--- rootly_fault eval: {mode => 'status', status => 500, count => 1, path => '/v1/alerts'}
--- request eval
[fixture_request('simple-unset.json'), fixture_request('simple-ack.json')]
--- error_code eval: [202, 202]
--- rootly_received eval
{count => 3, after => 1, index => 2, request_path => qr{/acknowledge$}, status => 200}



=== TEST 7: the same delivery twice: the second is a duplicate
--- request eval
[fixture_request('simple-unset.json'), fixture_request('simple-unset.json')]
--- error_code eval: [202, 200]
--- response_body_like eval
[qr/"result":"accepted"/, qr/^\{"result":"duplicate","class":"alert","incident":"3101"\}$/]
--- rootly_received eval: {count => 1, after => 1, path => '/v1/alerts'}



=== TEST 8: duplicate_window 0 forwards repeats
--- http_config
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        webhook_secret s3cret;
        duplicate_window 0;
    }
--- request eval
[fixture_request('simple-unset.json'), fixture_request('simple-unset.json')]
--- error_code eval: [202, 202]
--- rootly_received eval: {count => 2, after => 1, path => '/v1/alerts'}



=== TEST 9: the status endpoint counts by class and outcome
--- request eval
[fixture_request('simple-unset.json'), fixture_request('simple-unsupported.json'),
 "POST /hook?secret=nope\n{}", "POST /hook?secret=s3cret\n{", "GET /status"]
--- error_code eval: [202, 200, 401, 400, 200]
--- response_headers_like eval
["", "", "", "", "Content-Type: application/json"]
--- response_body_like eval
[qr/"result":"accepted"/, qr/"result":"ignored"/, qr/"unauthorized"/,
 qr/"invalid JSON/,
 qr/^\{"version":"[\d.]+","integrations":\{"acme":\{"accepted":\{"alert":1,"acknowledgement":0,"recovery":0\},"ignored":\{"unsupported notification type":1,"informational message":0,"not an incident event":0,"no linked Rootly incident or alert":0\},"duplicate":0,"unauthorized":1,"invalid":1,"rejected":0,"delivered":[01],"retried":0,"dead_lettered":0,"rate_limited":0,"escalations":\{"paged":0,"rerouted":0,"resolved":0,"oncall_posted":0\},"victorops_failed":0,"victorops_rate_limited":0,"sync":\{"runs":0,"repairs":0\},"slack":\{"commands":0,"paged":0,"refused":0\},"queue":\{"pending":[01],"oldest_pending_age_ms":\d+,"dead_letters":0,"links":[01]\},"rootly":\{"credentials":"ok","paused_for_ms":0,"last_success":\d+,"last_error":null\},"victorops":\{"credentials":"not configured","api_rate":2,"paused_for_ms":0,"last_success":0,"last_sync":0,"last_sync_ok":false,"last_error":null\},"alert_limit":\{"per_minute":50,"available":49,"overflow":"queue"\},"store":\{"path":"[^"]+\/logs\/acme\.db","commits":1,"commit_avg_us":\d+,"commit_max_us":\d+,"lock_waits":\d+,"lock_wait_ms":\d+,"tasks":\d+,"thread_cpu_us":\d+,"wal_restarts":\d+\}\}\}\}\n\z/]



=== TEST 10: Prometheus text
--- request eval
[fixture_request('simple-unset.json'), "GET /status?format=prometheus"]
--- error_code eval: [202, 200]
--- response_headers_like eval
["", "Content-Type: text/plain; version=0\\.0\\.4"]
--- response_body_like eval
[qr/"result":"accepted"/, qr/\nvictorops_events_total\{integration="acme",outcome="accepted",detail="alert"\} 1\n.*\nvictorops_queue_pending\{integration="acme"\} [01]\n.*\nvictorops_rootly_credentials_ok\{integration="acme"\} 1\n.*\nvictorops_alert_limit_available\{integration="acme"\} 49\n/s]



=== TEST 11: Rootly refuses the token: credentials failing, in the status
--- http_config
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token wrong-token;
        store logs/acme.db;
        webhook_secret s3cret;
    }
--- request eval
[fixture_request('simple-unset.json'), "GET /status"]
--- error_code eval: [202, 200]
--- wait eval: slow(0.5)
--- response_body_like eval
[qr/"result":"accepted"/, qr/"retried":[1-9]\d*,.*"queue":\{"pending":1,.*"rootly":\{"credentials":"failing","paused_for_ms":0,"last_success":0,"last_error":\{"time":\d+,"status":401,"reason":"[^"]+"\}\}/]



=== TEST 12: a 429 pauses the integration's Rootly sends; the job waits
--- rootly_fault eval: {mode => 'ratelimit', count => 1, reset_in => 20}
--- request eval
[fixture_request('simple-unset.json'), "GET /status"]
--- error_code eval: [202, 200]
--- wait eval: slow(0.5)
--- response_body_like eval
[qr/"result":"accepted"/, qr/"rate_limited":1,.*"queue":\{"pending":1,.*"paused_for_ms":[12]\d{4},/]



=== TEST 13: alert_limit_overflow reject: 429 with Retry-After past the limit
--- http_config
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        webhook_secret s3cret;
        alert_limit 1;
        alert_limit_overflow reject;
    }
--- request eval
["POST /hook?secret=s3cret\n{\"entity_id\":\"a\"}", "POST /hook?secret=s3cret\n{\"entity_id\":\"b\"}"]
--- error_code eval: [202, 429]
--- response_headers_like eval
["", "Retry-After: (59|60|61)"]
--- response_body_like eval
[qr/"result":"accepted"/,
 qr/\A\{"error":"alert limit reached, retry later"\}\n\z/]
--- rootly_received eval: {count => 1, after => 1, path => '/v1/alerts'}



=== TEST 14: alert_limit queue (the default): the excess waits in the queue
--- http_config
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        webhook_secret s3cret;
        alert_limit 2;
        admin_token adm1n;
    }
--- request eval
["POST /hook?secret=s3cret\n{\"entity_id\":\"a\"}", "POST /hook?secret=s3cret\n{\"entity_id\":\"b\"}",
 "POST /hook?secret=s3cret\n{\"entity_id\":\"c\"}", "GET /status"]
--- error_code eval: [202, 202, 202, 200]
--- wait eval: slow(0.5)
--- response_body_like eval
[qr/"result":"accepted"/, qr/"result":"accepted"/, qr/"result":"accepted"/,
 qr/"delivered":2,.*"queue":\{"pending":1,.*"alert_limit":\{"per_minute":2,"available":0,"overflow":"queue"\}/]



=== TEST 15: a body Rootly refuses becomes a dead letter; listed, then replayed
--- rootly_fault eval: {mode => 'status', status => 422, count => 1}
--- request eval
[fixture_request('simple-unset.json'), "POST /status?integration=acme&action=dead_letters",
 "POST /status?integration=acme&action=replay", "GET /status"]
--- error_code eval: [202, 200, 200, 200]
--- wait eval: slow(0.5)
--- response_body_like eval
[qr/"result":"accepted"/,
 qr/^\{"dead_letters":\[\{"id":"[0-9a-f]{16}","class":"alert","incident":"edge-lb-3\/5xx-rate","attempts":1,"created_ms":\d+,"dead_ms":\d+,"status":422,"error":"[^"]*"\}\]\}$/,
 qr/^\{"replayed":1\}$/,
 qr/"delivered":1,"retried":0,"dead_lettered":1,.*"dead_letters":0/]



=== TEST 16: admin actions need the integration's admin_token
--- request eval
["POST /status?integration=acme&action=dead_letters", "POST /status?integration=acme&action=dead_letters",
 "POST /status?integration=nope&action=dead_letters"]
--- more_headers
Authorization: Bearer wrong
--- error_code eval: [401, 401, 404]
--- response_body eval
[qq{{"error":"unauthorized"}\n}, qq{{"error":"unauthorized"}\n}, qq{{"error":"unknown integration"}\n}]



=== TEST 17: a refused admin request is logged
--- request
POST /status?integration=acme&action=replay
--- more_headers
Authorization: Bearer WRONG-ADMIN-TOKEN
--- error_code: 401
--- error_log
admin request from 127.0.0.1 unauthorized



=== TEST 18: without admin_token the admin actions are off
--- http_config
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        webhook_secret s3cret;
    }
--- request
POST /status?integration=acme&action=dead_letters
--- error_code: 403
--- response_body
{"error":"no admin_token for this integration"}



=== TEST 19: unlink removes a link; activity then has nowhere to go
--- request eval
[link_request(entity => 'edge-lb-3%2F5xx-rate', rootly_alert => 'al-1'),
 "POST /status?integration=acme&action=unlink&entity=edge-lb-3%2F5xx-rate",
 fixture_request('simple-ack.json')]
--- error_code eval: [200, 200, 202]
--- response_body_like eval
[qr/^\{"linked":"edge-lb-3\/5xx-rate"\}\n\z/, qr/^\{"unlinked":true\}\n\z/,
 qr/^\{"result":"accepted","class":"acknowledgement","incident":"3101","id":"[0-9a-f]{16}"\}\n\z/]



=== TEST 20: a store folder nginx cannot create stops it from starting
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store /proc/victorops/acme.db;
    }
--- config
--- must_die
--- error_log eval
qr/victorops integration "acme": cannot create the folder of store "\/proc\/victorops\/acme\.db"/



=== TEST 21: a job still failing after max_age becomes a dead letter
--- http_config
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        webhook_secret s3cret;
        max_age 1s;
        retry_max_delay 1s;
    }
--- rootly_fault eval: {mode => 'status', status => 503, count => -1}
--- request eval
[fixture_request('simple-unset.json'), "GET /status"]
--- error_code eval: [202, 200]
--- wait eval: slow(3)
--- response_body_like eval
[qr/"result":"accepted"/, qr/"dead_lettered":1,.*"queue":\{"pending":0,"oldest_pending_age_ms":0,"dead_letters":1,/]



=== TEST 22: X-RateLimit-Remaining: 0 on a success pauses until the reset
--- rootly_fault eval: {mode => 'remaining0', count => 1, reset_in => 20}
--- request eval
[fixture_request('simple-unset.json'), "GET /status"]
--- error_code eval: [202, 200]
--- wait eval: slow(0.5)
--- response_body_like eval
[qr/"result":"accepted"/, qr/"delivered":1,.*"rate_limited":0,.*"paused_for_ms":[12]\d{4},/]



=== TEST 23: the status endpoint answers GET, HEAD and POST only
--- request
PUT /status
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD, POST
--- response_body
{"error":"method not allowed, use GET, HEAD, POST"}



=== TEST 24: an admin request refused for its arguments is answered once
--- request eval
["POST /status?integration=acme&action=nope",
 "POST /status?integration=acme&action=unlink",
 "POST /status?integration=acme&action=link&entity=x",
 "POST /status?integration=acme&action=unlink&entity=nothing-linked"]
--- error_code eval: [400, 400, 400, 200]
--- response_body eval
[qq{{"error":"action is one of dead_letters, replay, link, unlink"}\n},
 qq{{"error":"incident or entity is required"}\n},
 qq{{"error":"rootly_incident or rootly_alert is required"}\n},
 qq{{"unlinked":false}\n}]
