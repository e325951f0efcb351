# Rotation: admin_token, escalate_token and escalation_auth_code (inline
# or _file) are repeatable like webhook_secret; each configured value is
# accepted, any other refused.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha1_base64);
use VoTest;

vo_setup(victorops => 1);

# debug logging prints request headers, the tokens with them
log_level('info');

my $URL = 'https://hooks.example.com/victorops/escalation';

$ENV{TEST_NGINX_ADMIN_FILE} = secret_file('admin.token.next', "adm-new\n");
$ENV{TEST_NGINX_ESCALATE_FILE} = secret_file('escalate.token.next', "esc-new\n");
$ENV{TEST_NGINX_CODE_FILE} = secret_file('auth-code.next', "code-new\n");

my $http_config = <<"_EOC_";
    victorops_integration acme {
        rootly_url \$TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        api_url \$TEST_NGINX_VO_URL;
        api_id vo-id;
        api_key vo-key;
        api_user rootly-bot;
        sync_interval 0;
        oncall_responders off;
        admin_token adm-old;
        admin_token_file \$TEST_NGINX_ADMIN_FILE;
        escalate_token esc-old;
        escalate_token_file \$TEST_NGINX_ESCALATE_FILE;
        escalation_auth_code code-old;
        escalation_auth_code_file \$TEST_NGINX_CODE_FILE;
        escalation_url $URL;
    }
_EOC_

vo_defaults(
    http_config => $http_config,
    config => <<'_EOC_',
    location = /hook { victorops_webhook acme; }
    location = /status { victorops_status; }
    location = /escalate { victorops_escalate acme; }
    location = /import { victorops_import_teams acme; }
_EOC_
);

sub unescape {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

sub signature {
    my ($body, $code) = @_;
    my @pairs = map { my ($k, $v) = split /=/, $_, 2; [unescape($k), unescape($v // '')] }
                split /&/, $body;
    my $data = $URL . join '', map { $_->[0] . $_->[1] }
                               sort { $a->[0] cmp $b->[0] } @pairs;
    my $sig = hmac_sha1_base64($data, $code);
    return $sig . '=' x ((4 - length($sig) % 4) % 4);
}

# a signed escalation-policy delivery (each its own vo_uuid)
sub signed {
    my ($code, $uuid) = @_;
    my $body = "entity_id=%22rot-$uuid%22&message_type=%22CRITICAL%22&vo_uuid=%22$uuid%22";
    return ["POST /hook\n$body",
            "Content-Type: application/x-www-form-urlencoded\n"
            . "X-VictorOps-Signature: " . signature($body, $code) . "\n"];
}

my $escalation = '{"incident_id":"inc-rot","summary":"rotation",'
               . '"targets":[{"type":"EscalationPolicy","slug":"pol-dba-primary"}]}';
$ENV{TEST_NGINX_ESCALATION} = $escalation;

eval_helpers(qw(signed));

run_tests();

__DATA__

=== TEST 1: admin actions: the old and the new admin_token, nothing else
--- request eval
["POST /status?integration=acme&action=dead_letters",
 "POST /status?integration=acme&action=dead_letters",
 "POST /status?integration=acme&action=dead_letters",
 "POST /status?integration=acme&action=dead_letters"]
--- more_headers eval
["Authorization: Bearer adm-old", "Authorization: Bearer adm-new",
 "Authorization: Bearer adm-newer", "Authorization: Bearer esc-old"]
--- error_code eval: [200, 200, 401, 401]
--- response_body eval
[qq{{"dead_letters":[]}\n}, qq{{"dead_letters":[]}\n},
 qq{{"error":"unauthorized"}\n}, qq{{"error":"unauthorized"}\n}]
--- no_error_log
adm-new
adm-old



=== TEST 2: team import: the old and the new admin_token, nothing else
--- request eval
["POST /import?dry_run=1", "POST /import?dry_run=1", "POST /import?dry_run=1"]
--- more_headers eval
["Authorization: Bearer adm-old", "Authorization: Bearer adm-new",
 "Authorization: Bearer adm-ol"]
--- error_code eval: [200, 200, 401]
--- response_body_like eval
['^\{"dry_run":true,', '^\{"dry_run":true,', '^\{"error":"unauthorized"\}$']



=== TEST 3: escalation endpoint: the old and the new escalate_token, nothing else
--- request eval
["POST /escalate\n$ENV{TEST_NGINX_ESCALATION}",
 "POST /escalate\n$ENV{TEST_NGINX_ESCALATION}",
 "POST /escalate\n$ENV{TEST_NGINX_ESCALATION}",
 "POST /escalate\n$ENV{TEST_NGINX_ESCALATION}"]
--- more_headers eval
["Content-Type: application/json\nAuthorization: Bearer esc-old",
 "Content-Type: application/json\nAuthorization: Bearer esc-new",
 "Content-Type: application/json\nAuthorization: Bearer esc-ne",
 "Content-Type: application/json\nAuthorization: Bearer adm-old"]
--- error_code eval: [202, 202, 401, 401]
--- response_body_like eval
['^\{"result":"queued","job":"[0-9a-f]{16}"\}$',
 '^\{"result":"queued","job":"[0-9a-f]{16}"\}$',
 '^\{"error":"unauthorized"\}$', '^\{"error":"unauthorized"\}$']



=== TEST 4: escalation-policy webhooks: signed with the old or the new auth code, nothing else
--- request eval
[signed('code-old', 'u1')->[0], signed('code-new', 'u2')->[0],
 signed('code-newer', 'u3')->[0], signed('code-ol', 'u4')->[0]]
--- more_headers eval
[signed('code-old', 'u1')->[1], signed('code-new', 'u2')->[1],
 signed('code-newer', 'u3')->[1], signed('code-ol', 'u4')->[1]]
--- error_code eval: [202, 202, 401, 401]
--- response_body_like eval
['^\{"result":"accepted","class":"alert","id":"[0-9a-f]{16}"\}$',
 '^\{"result":"accepted","class":"alert","id":"[0-9a-f]{16}"\}$',
 '^\{"error":"unauthorized"\}$', '^\{"error":"unauthorized"\}$']
--- rootly_received eval
{count => 2, path => '/v1/alerts'}
--- no_error_log
code-new
code-old
