# The webhook endpoint: methods, content types, authentication, body
# handling and JSON errors.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha1_base64);
use VoTest;

vo_setup();

my $http_config = <<'_EOC_';
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        webhook_secret s3cret;
        webhook_secret "n3xt secret&";
        escalation_auth_code vo-auth-code-5b1e;
        escalation_url https://hooks.example.com/victorops/hook;
        json_max_depth 3;
    }
_EOC_

vo_defaults(
    http_config => $http_config,
    config => "location = /hook { victorops_webhook acme; }\n",
);

# X-VictorOps-Signature for a form body: it covers escalation_url (the URL
# as configured in VictorOps), never the request's own Host
sub signature {
    my ($body, $key) = @_;
    my %form = map { my ($k, $v) = split /=/, $_, 2; (unescape($k), unescape($v // '')) }
               split /&/, $body;
    my $data = 'https://hooks.example.com/victorops/hook'
             . join '', map { $_ . $form{$_} } sort keys %form;
    my $sig = hmac_sha1_base64($data, $key // 'vo-auth-code-5b1e');
    return $sig . '=' x ((4 - length($sig) % 4) % 4);
}

sub unescape {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

my $form = 'entity_id=%22web-1%2Fdisk%22&entity_display_name=%22web-1+disk+full%22&message_type=%22CRITICAL%22';
$ENV{TEST_NGINX_FORM_SIG} = signature($form);
$ENV{TEST_NGINX_FORM_BAD_SIG} = signature($form, 'not-the-code');

eval_helpers(qw(fixture_request));

run_tests();

__DATA__

=== TEST 1: GET is not allowed
--- request
GET /hook?secret=s3cret
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/json
--- response_body
{"error":"method not allowed, use POST"}



=== TEST 2: PUT is not allowed either
--- request
PUT /hook?secret=s3cret
{}
--- more_headers
Content-Type: application/json
--- error_code: 405
--- response_headers
Allow: POST



=== TEST 3: no secret at all
--- request eval: fixture_request('simple-unset.json', '/hook')
--- more_headers
Content-Type: application/json
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="victorops"
--- response_body
{"error":"unauthorized"}
--- error_log
victorops integration "acme": webhook from 127.0.0.1 unauthorized: no secret
--- rootly_received eval: {count => 0}



=== TEST 4: wrong secret in the query
--- request eval: fixture_request('simple-unset.json', '/hook?secret=s3cre')
--- more_headers
Content-Type: application/json
--- error_code: 401
--- response_body
{"error":"unauthorized"}
--- error_log
unauthorized: wrong secret
--- rootly_received eval: {count => 0}



=== TEST 5: wrong bearer token, right length
--- request eval: fixture_request('simple-unset.json', '/hook')
--- more_headers
Content-Type: application/json
Authorization: Bearer s3creT
--- error_code: 401
--- error_log
unauthorized: wrong secret



=== TEST 6: secret as a bearer token
--- request eval: fixture_request('simple-unset.json', '/hook')
--- more_headers
Content-Type: application/json
Authorization: Bearer s3cret
--- error_code: 202
--- response_body_like: ^\{"result":"accepted","class":"alert","incident":"3101","id":"[0-9a-f]{16}"\}$
--- rootly_received eval: {count => 1, status => 201}



=== TEST 7: secret in X-Webhook-Secret
--- request eval: fixture_request('simple-unset.json', '/hook')
--- more_headers
Content-Type: application/json; charset=utf-8
X-Webhook-Secret: s3cret
--- error_code: 202
--- rootly_received eval: {count => 1, status => 201}



=== TEST 8: the rotated secret works too, percent-encoded in the query
--- request eval: fixture_request('simple-unset.json', '/hook?secret=n3xt%20secret%26')
--- more_headers
Content-Type: application/json
--- error_code: 202
--- rootly_received eval: {count => 1, status => 201}



=== TEST 9: a wrong header does not hide a right query secret
--- request eval: fixture_request('simple-unset.json', '/hook?secret=s3cret')
--- more_headers
Content-Type: application/json
X-Webhook-Secret: nope
--- error_code: 202



=== TEST 10: text/plain is refused with 415
--- request
POST /hook?secret=s3cret
{"entity_id":"x"}
--- more_headers
Content-Type: text/plain
--- error_code: 415
--- response_body
{"error":"unsupported content type, use application/json or application/x-www-form-urlencoded"}
--- rootly_received eval: {count => 0}



=== TEST 11: a missing content type is refused with 415
--- raw_request eval
"POST /hook?secret=s3cret HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 17\r\n\r\n{\"entity_id\":\"x\"}"
--- error_code: 415



=== TEST 12: authentication comes before the content type
--- request
POST /hook
{"entity_id":"x"}
--- more_headers
Content-Type: text/plain
--- error_code: 401



=== TEST 13: application/vnd.api+json is JSON
--- request
POST /hook?secret=s3cret
{"entity_id":"x"}
--- more_headers
Content-Type: application/vnd.victorops+json
--- error_code: 202



=== TEST 14: a body over client_max_body_size gets 413
--- config
    location = /hook { client_max_body_size 64; victorops_webhook acme; }
--- request eval
"POST /hook?secret=s3cret\n{\"entity_id\":\"" . ("x" x 100) . "\"}"
--- more_headers
Content-Type: application/json
--- error_code: 413
--- rootly_received eval: {count => 0}



=== TEST 15: malformed JSON: 400 with the byte offset, no echo
--- request
POST /hook?secret=s3cret
{"entity_id": "SENSITIVE-VALUE", "x": }
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"invalid JSON at byte 39: parse error: unallowed token at this point in JSON text"}
--- error_log
victorops integration "acme": invalid JSON at byte 39
--- rootly_received eval: {count => 0}



=== TEST 16: invalid UTF-8 in a string
--- request eval
"POST /hook?secret=s3cret\n{\"entity_id\": \"caf\xc3\x28\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like: ^\{"error":"invalid JSON at byte \d+: lexical error: invalid bytes in UTF8 string"\}$



=== TEST 17: nesting deeper than json_max_depth
--- request
POST /hook?secret=s3cret
{"a":{"b":{"c":{"d":1}}}}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"invalid JSON at byte 16: nesting deeper than 3"}



=== TEST 18: nesting at json_max_depth is fine
--- request
POST /hook?secret=s3cret
{"entity_id":"x","a":{"b":{"c":1}}}
--- more_headers
Content-Type: application/json
--- error_code: 202



=== TEST 19: a JSON array is not a payload
--- request
POST /hook?secret=s3cret
[{"entity_id":"x"}]
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"payload is not a JSON object"}



=== TEST 20: an empty body
--- request
POST /hook?secret=s3cret
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"empty body"}



=== TEST 21: two JSON texts in one body
--- request
POST /hook?secret=s3cret
{"entity_id":"x"} {"entity_id":"y"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like: ^\{"error":"invalid JSON at byte \d+: parse error: trailing garbage"\}$



=== TEST 22: a chunked body, split inside a string
--- raw_request eval
"POST /hook?secret=s3cret HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Transfer-Encoding: chunked\r
\r
c\r
{\"entity_id\"\r
1b\r
:\"chunked/one\",\"summary\":\"c\r
9\r
hunked\"}\n\r
0\r
\r
"
--- error_code: 202
--- rootly_received eval
{count => 1, status => 201, attributes => {summary => 'chunked', deduplication_key => 'victorops:acme:chunked/one'}}



=== TEST 23: a body in a temporary file
--- config
    client_body_in_file_only clean;
    client_body_buffer_size 1k;
    location = /hook { victorops_webhook acme; }
--- request eval
"POST /hook?secret=s3cret\n{\"entity_id\":\"file/one\",\"state_message\":\"" . ("0123456789" x 3000) . "\"}"
--- more_headers
Content-Type: application/json
--- error_code: 202
--- rootly_received eval
{count => 1, status => 201, attributes => {description => "0123456789" x 3000}}
--- error_log
a client request body is buffered to a temporary file



=== TEST 24: $victorops_request_uri masks every secret argument
--- config
    location = /echo { return 200 "$victorops_request_uri\n"; }
--- request
GET /echo?a=1&secret=abc&SECRET=&b=2&secretive=keep
--- response_body
/echo?a=1&secret=***&SECRET=***&b=2&secretive=keep



=== TEST 25: escalation-policy webhook with a valid signature and no secret
--- request eval
"POST /hook\nentity_id=%22web-1%2Fdisk%22&entity_display_name=%22web-1+disk+full%22&message_type=%22CRITICAL%22"
--- more_headers eval
"Content-Type: application/x-www-form-urlencoded\nX-VictorOps-Signature: $ENV{TEST_NGINX_FORM_SIG}\n"
--- error_code: 202
--- rootly_received eval
{count => 1, status => 201, attributes => {summary => 'web-1 disk full', deduplication_key => 'victorops:acme:web-1/disk'}}



=== TEST 26: escalation-policy webhook with a wrong signature
--- request eval
"POST /hook\nentity_id=%22web-1%2Fdisk%22&entity_display_name=%22web-1+disk+full%22&message_type=%22CRITICAL%22"
--- more_headers eval
"Content-Type: application/x-www-form-urlencoded\nX-VictorOps-Signature: $ENV{TEST_NGINX_FORM_BAD_SIG}\n"
--- error_code: 401
--- error_log
unauthorized: bad X-VictorOps-Signature
--- rootly_received eval: {count => 0}



=== TEST 27: a signature on a JSON body is not a credential
--- request
POST /hook
{"entity_id":"x"}
--- more_headers eval
"Content-Type: application/json\nX-VictorOps-Signature: $ENV{TEST_NGINX_FORM_SIG}\n"
--- error_code: 401



=== TEST 28: a signed body that was changed in transit
--- request eval
"POST /hook\nentity_id=%22web-1%2Fdisk%22&entity_display_name=%22web-2+disk+full%22&message_type=%22CRITICAL%22"
--- more_headers eval
"Content-Type: application/x-www-form-urlencoded\nX-VictorOps-Signature: $ENV{TEST_NGINX_FORM_SIG}\n"
--- error_code: 401



=== TEST 29: a form-encoded webhook with the shared secret
--- request
POST /hook?secret=s3cret
entity_id=%22web-1%2Fdisk%22&message_type=%22RECOVERY%22&incident=77
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 202
--- response_body_like
^\{"result":"accepted","class":"recovery","incident":"77","id":"[0-9a-f]{16}"\}$
--- wait eval: slow(0.3)
--- error_log eval
qr/recovery for incident "77" \(job [0-9a-f]{16}\) ignored: no linked Rootly incident or alert/



=== TEST 30: invalid UTF-8 in a form field
--- request
POST /hook?secret=s3cret
entity_id=%C3%28
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 400
--- response_body
{"error":"invalid UTF-8 in form body"}



=== TEST 31: a lead byte followed by another lead byte is not UTF-8 (fuzzer find)
--- request
POST /hook?secret=s3cret
entity_id=%D6%D6
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 400
--- response_body
{"error":"invalid UTF-8 in form body"}



=== TEST 32: an INFO message_type is ignored
--- request
POST /hook?secret=s3cret
{"entity_id":"x","message_type":"INFO"}
--- more_headers
Content-Type: application/json
--- response_body
{"result":"ignored","class":"ignored","reason":"informational message"}
