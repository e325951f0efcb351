# Rootly outgoing webhooks: X-Rootly-Signature (HMAC-SHA256 of the
# timestamp and the raw body), the replay window, rotation, and one
# answer per event id.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256_hex);
use VoTest;

vo_setup();

vo_defaults(
    http_config => <<'_EOC_',
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        rootly_signing_secret whsec-old;
        rootly_signing_secret whsec-new;
        rootly_replay_window 300s;
    }
_EOC_
    config => "location = /rootly { victorops_rootly_events acme; }\n",
);

sub event {
    my ($id, $type) = @_;
    return '{"event":{"id":"' . $id . '","type":"' . $type
           . '","issued_at":"2026-11-26T10:00:00Z"},'
           . '"data":{"id":"inc-1","title":"Checkout down","severity":{"slug":"sev1"}}}';
}

# headers for a body signed at time $t (now by default) with $secret
sub signed {
    my ($body, $secret, $t) = @_;
    $t //= time;
    return "Content-Type: application/json\n"
           . "X-Rootly-Signature: t=$t,v1=" . hmac_sha256_hex($t . $body, $secret // 'whsec-new') . "\n";
}

eval_helpers(qw(event signed));

run_tests();

__DATA__

=== TEST 1: a correctly signed event is answered once
--- request eval: "POST /rootly\n" . event('evt-1', 'incident.mitigated')
--- more_headers eval: signed(event('evt-1', 'incident.mitigated'))
--- error_code: 200
--- response_body
{"result":"ignored","event":"evt-1","type":"incident.mitigated","reason":"no action for this event type"}
--- error_log
rootly event "evt-1" (incident.mitigated) not acted on



=== TEST 2: the same event again is a duplicate
--- request eval
["POST /rootly\n" . event('evt-2', 'incident.mitigated'), "POST /rootly\n" . event('evt-2', 'incident.mitigated')]
--- more_headers eval: signed(event('evt-2', 'incident.mitigated'))
--- error_code eval: [200, 200]
--- response_body eval
[qq{{"result":"ignored","event":"evt-2","type":"incident.mitigated","reason":"no action for this event type"}\n},
 qq{{"result":"duplicate","event":"evt-2","type":"incident.mitigated"}\n}]



=== TEST 3: the previous secret still verifies (rotation)
--- request eval: "POST /rootly\n" . event('evt-3', 'incident.resolved')
--- more_headers eval: signed(event('evt-3', 'incident.resolved'), 'whsec-old')
--- error_code: 200



=== TEST 4: no signature
--- request eval: "POST /rootly\n" . event('evt-4', 'incident.created')
--- more_headers
Content-Type: application/json
--- error_code: 401
--- response_body
{"error":"unauthorized"}
--- error_log
rootly event from 127.0.0.1 unauthorized: no X-Rootly-Signature



=== TEST 5: a wrong secret
--- request eval: "POST /rootly\n" . event('evt-5', 'incident.created')
--- more_headers eval: signed(event('evt-5', 'incident.created'), 'whsec-wrong')
--- error_code: 401
--- error_log
unauthorized: bad signature



=== TEST 6: a body changed after signing
--- request eval: "POST /rootly\n" . event('evt-6', 'incident.cancelled')
--- more_headers eval: signed(event('evt-6', 'incident.created'))
--- error_code: 401



=== TEST 7: a timestamp older than the replay window
--- request eval: "POST /rootly\n" . event('evt-7', 'incident.created')
--- more_headers eval: signed(event('evt-7', 'incident.created'), 'whsec-new', time - 301)
--- error_code: 401
--- error_log
unauthorized: timestamp outside the replay window



=== TEST 8: a timestamp within the window is fine
--- request eval: "POST /rootly\n" . event('evt-8', 'incident.created')
--- more_headers eval: signed(event('evt-8', 'incident.created'), 'whsec-new', time - 250)
--- error_code: 200



=== TEST 9: signed but not a Rootly event
--- request eval: "POST /rootly\n" . '{"hello":"world"}'
--- more_headers eval: signed('{"hello":"world"}')
--- error_code: 400
--- response_body
{"error":"not a Rootly event: no event.id"}



=== TEST 10: signed but not JSON
--- request eval: "POST /rootly\n" . '{"event":'
--- more_headers eval: signed('{"event":')
--- error_code: 400
--- response_body
{"error":"invalid JSON"}



=== TEST 11: GET is not allowed
--- request
GET /rootly
--- error_code: 405
--- response_headers
Allow: POST



=== TEST 12: victorops_rootly_events needs a signing secret
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
    }
--- config
    location = /rootly { victorops_rootly_events acme; }
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has no rootly_signing_secret or rootly_signing_secret_file, needed by "victorops_rootly_events" in \S+nginx\.conf:\d+/
