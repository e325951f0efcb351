# Escalation-policy (form-encoded, X-VictorOps-Signature) webhooks are
# read before anybody is authenticated, so what they may cost is capped:
# escalation_max_body and escalation_max_fields, a signature header no
# body can match refused before the body is read, signatures checked in
# O(n log n).  A hostile body once kept the only worker busy for 23 s.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha1_base64);
use VoTest;

vo_setup();

my $URL = 'https://hooks.example.com/victorops/escalation';

my $http_config = <<"_EOC_";
    victorops_integration acme {
        rootly_url \$TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        webhook_secret s3cret;
        escalation_auth_code vo-auth-code-5b1e;
        escalation_url $URL;
    }
    victorops_integration roomy {
        rootly_url \$TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/roomy.db;
        escalation_auth_code vo-auth-code-5b1e;
        escalation_url $URL;
        escalation_max_body 2m;
        escalation_max_fields 1000000;
    }
    victorops_integration tight {
        rootly_url \$TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/tight.db;
        webhook_secret s3cret;
        escalation_auth_code vo-auth-code-5b1e;
        escalation_url $URL;
        escalation_max_body 100;
        escalation_max_fields 3;
    }
_EOC_

vo_defaults(
    http_config => $http_config,
    config => <<'_EOC_',
    location = /hook { client_max_body_size 4m; victorops_webhook acme; }
    location = /roomy { client_max_body_size 4m; victorops_webhook roomy; }
    location = /tight { client_max_body_size 4m; victorops_webhook tight; }
    location = /ping { return 200 "pong\n"; }
_EOC_
);

sub unescape {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

# Base64(HMAC-SHA1(code, URL + each key and value sorted by key))
sub signature {
    my ($body, $code) = @_;
    my @pairs = map { my ($k, $v) = split /=/, $_, 2; [unescape($k), unescape($v // '')] }
                grep { length } split /&/, $body;
    my $data = $URL . join '', map { $_->[0] . $_->[1] }
                               sort { $a->[0] cmp $b->[0] } @pairs;
    my $sig = hmac_sha1_base64($data, $code // 'vo-auth-code-5b1e');
    return $sig . '=' x ((4 - length($sig) % 4) % 4);
}

# the body of the report: distinct keys in descending order, the worst
# case of an insertion sort; 60,000 members, 660 KB
sub hostile {
    my ($n) = @_;
    return join '&', map { sprintf 'k%06d=x', $_ } reverse 1 .. $n;
}

my $form = 'entity_id=%22web-1%2Fdisk%22&entity_display_name=%22web-1+disk+full%22'
         . '&message_type=%22CRITICAL%22&vo_uuid=%22a1%22';

$ENV{TEST_NGINX_FORM} = $form;
$ENV{TEST_NGINX_FORM_SIG} = signature($form);

# well-formed (base64 of 20 bytes), but made up
$ENV{TEST_NGINX_MADE_UP_SIG} = 'AAECAwQFBgcICQoLDA0ODxAREhM=';

eval_helpers(qw(hostile signature));

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a 660 KB hostile body with a made-up signature is refused at once (413, defaults)
--- timeout: 10
--- request eval
"POST /hook\n" . hostile(60000)
--- more_headers eval
"Content-Type: application/x-www-form-urlencoded\nX-VictorOps-Signature: $ENV{TEST_NGINX_MADE_UP_SIG}\n"
--- error_code: 413
--- response_body
{"error":"form body larger than 65536 bytes (escalation_max_body)"}
--- error_log
victorops integration "acme": form body larger than 65536 bytes (escalation_max_body) from 127.0.0.1 refused
--- rootly_received eval: {count => 0}



=== TEST 2: with the caps raised, the same body costs a sort in O(n log n): 401 within seconds
--- timeout: 10
--- request eval
"POST /roomy\n" . hostile(60000)
--- more_headers eval
"Content-Type: application/x-www-form-urlencoded\nX-VictorOps-Signature: $ENV{TEST_NGINX_MADE_UP_SIG}\n"
--- error_code: 401
--- response_body
{"error":"unauthorized"}
--- error_log
victorops integration "roomy": webhook from 127.0.0.1 unauthorized: bad X-VictorOps-Signature



=== TEST 3: a Content-Length over escalation_max_body is refused before the body is read
--- timeout: 10
--- raw_request eval
"POST /hook HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/x-www-form-urlencoded\r
X-VictorOps-Signature: $ENV{TEST_NGINX_MADE_UP_SIG}\r
Content-Length: 1048576\r
\r
k1=x&k2=y"
--- error_code: 413
--- response_body
{"error":"form body larger than 65536 bytes (escalation_max_body)"}



=== TEST 4: a signature header no body can match is refused before the body is read
--- timeout: 10
--- raw_request eval
"POST /hook HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/x-www-form-urlencoded\r
X-VictorOps-Signature: not base64 at all\r
Content-Length: 60000\r
\r
k1=x&k2=y"
--- error_code: 401
--- response_body
{"error":"unauthorized"}
--- error_log
webhook from 127.0.0.1 unauthorized: malformed X-VictorOps-Signature



=== TEST 5: base64 that is not 20 bytes is no HMAC-SHA1 either
--- request
POST /hook
a=b
--- more_headers
Content-Type: application/x-www-form-urlencoded
X-VictorOps-Signature: AAECAwQFBgcICQoLDA0ODxAREhMU
--- error_code: 401
--- error_log
unauthorized: malformed X-VictorOps-Signature



=== TEST 6: a chunked body is refused once it grows over the cap, before its end
--- timeout: 10
--- raw_request eval
my $chunk = 'k=' . ('x' x 16382);
"POST /hook HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/x-www-form-urlencoded\r
X-VictorOps-Signature: $ENV{TEST_NGINX_MADE_UP_SIG}\r
Transfer-Encoding: chunked\r
\r
" . CORE::join('', map { sprintf("%x\r\n%s\r\n", length $chunk, $chunk) } 1 .. 5)
--- error_code: 413
--- response_body
{"error":"form body larger than 65536 bytes (escalation_max_body)"}
--- error_log
form body larger than 65536 bytes (escalation_max_body) from 127.0.0.1 refused



=== TEST 7: one member over escalation_max_fields: 400, as soon as it starts
--- request
POST /tight?secret=s3cret
a=1&&b=2&c=3&d
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 400
--- response_body
{"error":"form body with more than 3 fields (escalation_max_fields)"}
--- error_log
victorops integration "tight": form body with more than 3 fields (escalation_max_fields) from 127.0.0.1 refused
--- rootly_received eval: {count => 0}



=== TEST 8: exactly escalation_max_fields members (empty ones not counted) are fine
--- request
POST /tight?secret=s3cret
&entity_id=x&&message_type=INFO&incident=7&
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 200
--- response_body
{"result":"ignored","class":"ignored","incident":"7","reason":"informational message"}



=== TEST 9: a body of exactly escalation_max_body bytes is read; one more byte is not
--- request eval
["POST /tight?secret=s3cret\nmessage_type=INFO&entity_id=" . ('x' x 72),
 "POST /tight?secret=s3cret\nmessage_type=INFO&entity_id=" . ('x' x 73)]
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code eval: [200, 413]
--- response_body eval
[qq{{"result":"ignored","class":"ignored","reason":"informational message"}\n},
 qq{{"error":"form body larger than 100 bytes (escalation_max_body)"}\n}]



=== TEST 10: a chunked body at the cap is read in full
--- raw_request eval
my $body = "message_type=INFO&entity_id=" . ('x' x 72);
"POST /tight?secret=s3cret HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/x-www-form-urlencoded\r
Transfer-Encoding: chunked\r
\r
" . CORE::join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) } substr($body, 0, 30), substr($body, 30)) . "0\r\n\r\n"
--- error_code: 200
--- response_body
{"result":"ignored","class":"ignored","reason":"informational message"}



=== TEST 11: the signed delivery still goes through, read in pieces
--- raw_request eval
my $f = $ENV{TEST_NGINX_FORM};
["POST /hook HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/x-www-form-urlencoded\r
X-VictorOps-Signature: $ENV{TEST_NGINX_FORM_SIG}\r
Content-Length: " . length($f) . "\r
\r
" . substr($f, 0, 20), substr($f, 20, 40), substr($f, 60)]
--- raw_request_middle_delay: 0.05
--- error_code: 202
--- rootly_received eval
{count => 1, status => 201, attributes => {summary => 'web-1 disk full', deduplication_key => 'victorops:acme:web-1/disk'}}



=== TEST 12: the worker still answers after the hostile bodies
--- request
GET /ping
--- response_body
pong
