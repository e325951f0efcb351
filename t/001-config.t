# Configuration: what "nginx -t" accepts and what it refuses, with the
# file and line of the mistake.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use VoTest;

$ENV{TEST_NGINX_SECRET_FILE} = secret_file('webhook.secret', "from-a-file\n");
$ENV{TEST_NGINX_TOKEN_FILE} = secret_file('rootly.token', "token-from-file\n");
$ENV{TEST_NGINX_EMPTY_FILE} = secret_file('empty.secret', "\n \n");
$ENV{TEST_NGINX_MISSING_FILE} = "$ENV{PWD}/t/servroot-data/does-not-exist";

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a complete integration loads; secrets and token from files
--- http_config
    victorops_integration acme {
        rootly_url          http://127.0.0.1:1;
        rootly_token_file   $TEST_NGINX_TOKEN_FILE;
        webhook_secret_file $TEST_NGINX_SECRET_FILE;
        webhook_secret      rotated-secret;
        api_url             https://api.victorops.com;
        api_id              0123abcd;
        api_key             k3y;
        api_user            rootly-bot;
        store               logs/victorops/acme.db;
        rootly_timeout      3s;
        json_max_depth      16;
    }
    victorops_integration other {
        rootly_token t;
        webhook_secret s;
    }
    victorops_max_connections 8;
--- config
    location = /hook { victorops_webhook acme; }
    location = /other { victorops_webhook other; }
--- request
GET /hook
--- error_code: 405
--- no_error_log
[emerg]



=== TEST 2: an integration may be defined after the location that uses it
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location = /hook { victorops_webhook late; }
    }
    victorops_integration late {
        rootly_token t;
        webhook_secret s;
    }
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok



=== TEST 3: unknown integration name
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
    }
--- config
    location = /hook { victorops_webhook acmee; }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown victorops integration "acmee" in "victorops_webhook" directive in \S+nginx\.conf:\d+/



=== TEST 4: duplicate integration
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
    }
    victorops_integration acme {
        rootly_token t2;
        webhook_secret s2;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate victorops integration "acme", first defined in \S+nginx\.conf:\d+ in \S+nginx\.conf:\d+/



=== TEST 5: missing Rootly token
--- http_config
    victorops_integration acme {
        webhook_secret s;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has no rootly_token or rootly_token_file in \S+nginx\.conf:\d+/



=== TEST 6: unreadable secret file
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret_file $TEST_NGINX_MISSING_FILE;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*cannot read "\S+does-not-exist" \(2: No such file or directory\) in \S+nginx\.conf:\d+/



=== TEST 7: empty secret file
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret_file $TEST_NGINX_EMPTY_FILE;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"\S+empty\.secret" is empty in \S+nginx\.conf:\d+/



=== TEST 8: invalid Rootly URL (scheme)
--- http_config
    victorops_integration acme {
        rootly_url ftp://api.rootly.com;
        rootly_token t;
        webhook_secret s;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid URL "ftp:\/\/api\.rootly\.com" in "rootly_url" directive: .* in \S+nginx\.conf:\d+/



=== TEST 9: invalid VictorOps URL (not a URL)
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        api_url "http://exa mple.com";
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid URL "http:\/\/exa mple\.com" in "api_url" directive/



=== TEST 10: a URL with a query string is refused
--- http_config
    victorops_integration acme {
        rootly_url https://api.rootly.com/?x=1;
        rootly_token t;
        webhook_secret s;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid URL .* in "rootly_url" directive/



=== TEST 11: unknown directive inside the block
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        rootly_tokne t;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown directive "rootly_tokne" in victorops_integration "acme" in \S+nginx\.conf:\d+/



=== TEST 12: nested blocks are refused
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        api_user { x; }
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*unexpected "\{" in \S+nginx\.conf:\d+/



=== TEST 13: wrong number of arguments
--- http_config
    victorops_integration acme {
        rootly_token t u;
        webhook_secret s;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid number of arguments in "rootly_token" directive in \S+nginx\.conf:\d+/



=== TEST 14: duplicate token, inline and from a file
--- http_config
    victorops_integration acme {
        rootly_token t;
        rootly_token_file $TEST_NGINX_TOKEN_FILE;
        webhook_secret s;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"rootly_token_file" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 15: an integration used by victorops_webhook needs a secret
--- http_config
    victorops_integration acme {
        rootly_token t;
    }
--- config
    location = /hook { victorops_webhook acme; }
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has no webhook_secret, webhook_secret_file or escalation_auth_code, needed by "victorops_webhook" in \S+nginx\.conf:\d+/



=== TEST 16: api_id without api_key
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        api_id abc;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" needs both api_id and api_key/



=== TEST 17: victorops_integration is not allowed in a server block
--- config
    victorops_integration acme {
        rootly_token t;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"victorops_integration" directive is not allowed here in \S+nginx\.conf:\d+/



=== TEST 18: control characters in a token are refused (header injection)
--- http_config
    victorops_integration acme {
        rootly_token "a\rb";
        webhook_secret s;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"rootly_token" directive has a value with control characters/



=== TEST 19: json_max_depth out of range
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        json_max_depth 0;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has a json_max_depth outside 1\.\.1024/



=== TEST 20: escalation rules, tokens and switches load
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        api_id abc;
        api_key k3y;
        api_user rootly-bot;
        escalate severity=sev0,sev1 policy=pol-payments-primary user=alice;
        escalate team=payments,database policy=pol-payments,pol-dba;
        escalate_token_file $TEST_NGINX_TOKEN_FILE;
        auto_resolve off;
        oncall_responders off;
        sync_interval 5m;
        api_rate 5;
        rootly_signing_secret whsec;
    }
--- config
    location = /escalate { victorops_escalate acme; }
    location = /rootly { victorops_rootly_events acme; }
--- request
GET /escalate
--- error_code: 405
--- no_error_log
[emerg]



=== TEST 21: an escalation rule without a target
--- http_config
    victorops_integration acme {
        rootly_token t;
        api_id abc;
        api_key k3y;
        api_user bot;
        escalate severity=sev1;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"escalate" needs severity= or team=, and policy= or user= in \S+nginx\.conf:\d+/



=== TEST 22: an escalation rule with an unknown parameter
--- http_config
    victorops_integration acme {
        rootly_token t;
        api_id abc;
        api_key k3y;
        api_user bot;
        escalate priority=p1 policy=pol-a;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "priority=p1" in "escalate": expected severity=, team=, policy= or user= with a comma-separated list in \S+nginx\.conf:\d+/



=== TEST 23: an empty item in a list
--- http_config
    victorops_integration acme {
        rootly_token t;
        api_id abc;
        api_key k3y;
        api_user bot;
        escalate severity=sev0,,sev1 policy=pol-a;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "severity=sev0,,sev1" in "escalate"/



=== TEST 24: escalating needs the VictorOps API credentials and user
--- http_config
    victorops_integration acme {
        rootly_token t;
        api_id abc;
        api_key k3y;
        escalate severity=sev1 policy=pol-a;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" needs api_id, api_key and api_user to escalate to VictorOps in \S+nginx\.conf:\d+/



=== TEST 25: victorops_escalate needs an escalate_token
--- http_config
    victorops_integration acme {
        rootly_token t;
        api_id abc;
        api_key k3y;
        api_user bot;
    }
--- config
    location = /escalate { victorops_escalate acme; }
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has no escalate_token or escalate_token_file, needed by "victorops_escalate" in \S+nginx\.conf:\d+/



=== TEST 26: api_rate of 0 is refused
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        api_rate 0;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has an api_rate of 0/



=== TEST 27: victorops_slack_command needs the Slack signing secret
--- http_config
    victorops_integration acme {
        rootly_token t;
        api_id abc;
        api_key k3y;
        api_user bot;
    }
--- config
    location = /slack { victorops_slack_command acme; }
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" needs slack_signing_secret \(or _file\), api_id, api_key and api_user for "victorops_slack_command" in \S+nginx\.conf:\d+/



=== TEST 28: victorops_import_teams needs the admin token
--- http_config
    victorops_integration acme {
        rootly_token t;
        api_id abc;
        api_key k3y;
    }
--- config
    location = /import { victorops_import_teams acme; }
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" needs admin_token \(or _file\), api_id and api_key for "victorops_import_teams" in \S+nginx\.conf:\d+/



=== TEST 29: Slack directives load
--- http_config
    victorops_integration acme {
        rootly_token t;
        api_id abc;
        api_key k3y;
        api_user bot;
        admin_token adm;
        slack_signing_secret s1;
        slack_signing_secret_file $TEST_NGINX_SECRET_FILE;
        slack_replay_window 2m;
        slack_response_hosts hooks.slack.com 127.0.0.1:9999;
        slack_allowed_channels C1 C2;
        slack_allowed_users U1;
    }
--- config
    location = /slack { victorops_slack_command acme; }
    location = /import { victorops_import_teams acme; }
--- request
GET /slack
--- error_code: 405
--- no_error_log
[emerg]



=== TEST 30: slack_response_hosts given twice
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        slack_response_hosts hooks.slack.com;
        slack_response_hosts example.com;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"slack_response_hosts" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 31: escalation_auth_code needs escalation_url (the signed URL is never taken from Host)
--- http_config
    victorops_integration acme {
        rootly_token t;
        escalation_auth_code c0de;
    }
--- config
    location = /hook { victorops_webhook acme; }
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has escalation_auth_code but no escalation_url \(the webhook URL exactly as configured in VictorOps, which the signature covers\) in \S+nginx\.conf:\d+/



=== TEST 32: escalation_auth_code_file needs it too
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        escalation_auth_code_file $TEST_NGINX_SECRET_FILE;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has escalation_auth_code but no escalation_url/



=== TEST 33: escalation caps and repeated credentials load
--- http_config
    victorops_integration acme {
        rootly_token t;
        api_id a;
        api_key k;
        api_user u;
        escalation_auth_code c1;
        escalation_auth_code_file $TEST_NGINX_SECRET_FILE;
        escalation_url https://hooks.example.com/victorops;
        escalation_max_body 16k;
        escalation_max_fields 64;
        admin_token a1;
        admin_token_file $TEST_NGINX_SECRET_FILE;
        escalate_token e1;
        escalate_token e2;
    }
--- config
    location = /hook { victorops_webhook acme; }
    location = /escalate { victorops_escalate acme; }
--- request
GET /hook
--- error_code: 405
--- no_error_log
[emerg]



=== TEST 34: escalation_max_fields of 0
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        escalation_max_fields 0;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has an escalation_max_fields of 0 in \S+nginx\.conf:\d+/



=== TEST 35: escalation_max_body is a size
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        escalation_max_body lots;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"escalation_max_body" directive invalid value in \S+nginx\.conf:\d+/



=== TEST 36: escalation_max_body of 0
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        escalation_max_body 0;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has an escalation_max_body of 0 in \S+nginx\.conf:\d+/



=== TEST 37: retry_max_delay under a second
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        retry_max_delay 500ms;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has a retry_max_delay under 1s in \S+nginx\.conf:\d+/



=== TEST 38: an escalation rule matches by severity= or team=, once
--- http_config
    victorops_integration acme {
        rootly_token t;
        api_id abc;
        api_key k3y;
        api_user bot;
        escalate severity=sev0 team=payments policy=pol-a;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"escalate" matches by severity= or team=, once in \S+nginx\.conf:\d+/



=== TEST 39: a target slug with URL syntax
--- http_config
    victorops_integration acme {
        rootly_token t;
        api_id abc;
        api_key k3y;
        api_user bot;
        escalate severity=sev0 user=alice,bob/../x;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "user=alice,bob\/\.\.\/x" in "escalate": expected severity=, team=, policy= or user= with a comma-separated list in \S+nginx\.conf:\d+/



=== TEST 40: a store needs a folder of its own and a file name
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store logs/victorops/;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme": store "\S+\/logs\/victorops\/" needs a folder of its own and a file name/



=== TEST 41: duplicate_index has a lower bound
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        duplicate_index 8;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*value must be between 16 and 16777216 in \S+nginx\.conf:\d+/



=== TEST 42: the store's writers run in the thread pool named
--- main_config
    thread_pool victorops threads=2;
--- http_config
    victorops_thread_pool victorops;
    victorops_integration acme {
        rootly_url http://127.0.0.1:1;
        rootly_token t;
        webhook_secret s;
        store logs/acme.db;
    }
--- config
    location = /hook { victorops_webhook acme; }
--- request
POST /hook?secret=s
{"entity_id": "edge-lb-3/5xx-rate", "entity_display_name": "edge-lb-3 5xx rate 12%", "state_message": "5xx ratio 0.12 over 3m", "routing_key": "edge", "incident_number": "3101"}
--- more_headers
Content-Type: application/json
--- error_code: 202
--- no_error_log
[alert]
[emerg]



=== TEST 43: a thread pool no thread_pool defines
--- http_config
    victorops_thread_pool nosuch;
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown thread pool "nosuch"/
