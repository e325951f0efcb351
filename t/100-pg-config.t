# The PostgreSQL store's configuration: "store postgresql://..." (libpq's
# URI, parsed by libpq at nginx -t), store_password_file, store_timeout,
# node_id, store_spool.  A bad URI, password file or spool is an nginx -t
# error naming the file and line; the password is never logged (the URI is
# shown masked).
# No PostgreSQL server is needed: nothing listens on port 1, so workers
# only try to connect.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use VoTest;

$ENV{TEST_NGINX_PG_PASSWORD_FILE} = secret_file('pg.password', "hunter2-file\n");
chmod 0600, $ENV{TEST_NGINX_PG_PASSWORD_FILE};
$ENV{TEST_NGINX_PG_OPEN_FILE} = secret_file('pg-open.password', "hunter2-open\n");
chmod 0644, $ENV{TEST_NGINX_PG_OPEN_FILE};
$ENV{TEST_NGINX_SLACK_FILE} = secret_file('slack.secret', "slack-secret\n");
chmod 0600, $ENV{TEST_NGINX_SLACK_FILE};
$ENV{TEST_NGINX_MISSING_FILE} = "$ENV{PWD}/t/servroot-data/does-not-exist";

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a PostgreSQL store loads; the status shows it, masked; the password is not logged
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo:hunter2-uri@127.0.0.1:1/victorops?sslmode=disable;
        store_timeout 1s;
        node_id edge-1;
    }
--- config
    location = /status { victorops_status; }
--- request
GET /status
--- response_body_like: "store":\{"backend":"postgresql","uri":"postgresql://vo:\*\*\*@127\.0\.0\.1:1/victorops\?sslmode=disable","state":"(connecting|backoff)","node":"edge-1","schema_version":0,
--- no_error_log
hunter2
[emerg]



=== TEST 2: postgres:// and a password file
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgres://vo@127.0.0.1:1/victorops?sslmode=disable&application_name=x;
        store_password_file $TEST_NGINX_PG_PASSWORD_FILE;
    }
--- config
    location = /status { victorops_status; }
--- request
GET /status
--- response_body_like: "store":\{"backend":"postgresql","uri":"postgres://vo@127\.0\.0\.1:1/victorops\?sslmode=disable&application_name=x","state":"(connecting|backoff)","node":"[^"]+:\d+"
--- no_error_log
hunter2
[emerg]



=== TEST 3: an invalid URI is an nginx -t error, the password masked in libpq's message
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo:hunter2-uri@[::1/victorops;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme": invalid PostgreSQL store "postgresql:\/\/vo:\*\*\*@\[::1\/victorops": .*in \S+nginx\.conf:\d+/
--- no_error_log
hunter2



=== TEST 4: an unknown URI parameter is an nginx -t error
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1/victorops?password=hunter2-q&bogus=1;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid PostgreSQL store "postgresql:\/\/vo\@127\.0\.0\.1\/victorops\?password=\*\*\*&bogus=1": invalid URI query parameter: "bogus" in \S+nginx\.conf:\d+/
--- no_error_log
hunter2



=== TEST 5: a password file others may read is refused
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        store_password_file $TEST_NGINX_PG_OPEN_FILE;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*pg-open\.password" may be read by others than its owner \(mode 0644\): chmod 600 it in \S+nginx\.conf:\d+/
--- no_error_log
hunter2



=== TEST 6: a missing password file is an nginx -t error
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        store_password_file $TEST_NGINX_MISSING_FILE;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*cannot read ".*does-not-exist" .*in \S+nginx\.conf:\d+/



=== TEST 7: store_password_file needs a PostgreSQL store
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store logs/acme.db;
        store_password_file $TEST_NGINX_PG_PASSWORD_FILE;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has a store_password_file without a PostgreSQL store in \S+nginx\.conf:\d+/



=== TEST 8: store_timeout under 100ms
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        store_timeout 50ms;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme" has a store_timeout under 100ms in \S+nginx\.conf:\d+/



=== TEST 9: while the PostgreSQL store is unreachable a webhook is spooled (202), the status shows the spool's depth
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
    }
--- config
    location = /hook { victorops_webhook acme; }
    location = /status { victorops_status; }
--- request eval
["POST /hook?secret=s\n{\"entity_id\":\"svc/1\",\"message_type\":\"CRITICAL\"}", "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval
[202, 200]
--- response_body_like eval
[qr/accepted/, qr/"state":"(connecting|backoff)",.*"spool":\{"path":"[^"]+\/logs\/victorops\/acme-spool\.db","depth":1,"moved":0,"dropped":0,"last_moved_at":0\}\}/]
--- no_error_log
[emerg]



=== TEST 10: signed escalation-policy webhooks with the VictorOps API load with a PostgreSQL store (nothing is refused but alert_limit_overflow reject, TEST 18)
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        api_id vo-id;
        api_key vo-key;
        api_user alice;
        escalation_url https://hooks.example.com/vo;
        escalation_auth_code c0de;
    }
--- config
    location = /t { return 200; }
--- request
GET /t
--- error_code: 200
--- no_error_log
[emerg]



=== TEST 11: Slack's secret file before the store loads too (the order of the directives does not matter)
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        slack_signing_secret_file $TEST_NGINX_SLACK_FILE;
        store postgresql://vo@127.0.0.1:1/victorops;
    }
--- config
    location = /t { return 200; }
--- request
GET /t
--- error_code: 200
--- no_error_log
[emerg]



=== TEST 12: Slack's /page and the team import are ported: their directives load with a PostgreSQL store
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        api_id vo-id;
        api_key vo-key;
        api_user alice;
        slack_signing_secret slack-secret;
        admin_token admin-token;
    }
--- config
    location = /slack { victorops_slack_command acme; }
    location = /import { victorops_import_teams acme; }
    location = /t { return 200; }
--- request
GET /t
--- response_body
--- error_code: 200
--- no_error_log
[emerg]



=== TEST 13: Rootly to VictorOps is ported: its directives load with a PostgreSQL store
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        api_id vo-id;
        api_key vo-key;
        api_user alice;
        rootly_signing_secret whsec;
        escalate_token esc;
        escalate severity=sev1 policy=pol-a;
    }
--- config
    location = /rootly { victorops_rootly_events acme; }
    location = /escalate { victorops_escalate acme; }
    location = /t { return 200; }
--- request
GET /t
--- response_body
--- error_code: 200
--- no_error_log
[emerg]
=== TEST 14: store_spool needs a PostgreSQL store
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store_spool $TEST_NGINX_SERVER_ROOT/logs/spool.db;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"store_spool" needs a PostgreSQL store \(victorops integration "acme" in \S+nginx\.conf:\d+\)/



=== TEST 15: store_spool is a SQLite file, not a PostgreSQL URI
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        store_spool postgresql://vo@127.0.0.1:1/spool;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"store_spool" is a SQLite file, not a PostgreSQL URI \(victorops integration "acme" in \S+nginx\.conf:\d+\)/



=== TEST 16: a spool that cannot be made is an nginx -t error, as a store is
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        store_spool $TEST_NGINX_PG_PASSWORD_FILE/spool/acme.db;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*victorops integration "acme": cannot create the folder of store "[^"]+pg\.password\/spool\/acme\.db"/



=== TEST 17: store_spool PATH: the spool made there, the status shows it
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        store_spool $TEST_NGINX_SERVER_ROOT/logs/spool-here/acme.db;
    }
--- config
    location = /status { victorops_status; }
--- request
GET /status
--- response_body_like: "spool":\{"path":"[^"]+/logs/spool-here/acme\.db","depth":0,"moved":0,"dropped":0,"last_moved_at":0\}
--- no_error_log
[emerg]



=== TEST 18: alert_limit_overflow reject is refused with a PostgreSQL store (a 429 at once would need a token at once: budgets are granted asynchronously)
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        alert_limit 5;
        alert_limit_overflow reject;
    }
--- config
    location = /victorops { victorops_webhook acme; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"alert_limit_overflow reject" is not supported with a PostgreSQL store yet \(victorops integration "acme" in \S+nginx\.conf:\d+\)/



=== TEST 19: the status of a PostgreSQL store's alert_limit: its budget is every node's ("shared")
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        alert_limit 7;
    }
--- config
    location = /status { victorops_status; }
--- request
GET /status
--- response_body_like: "alert_limit":\{"per_minute":7,"available":0,"overflow":"queue","budget":\{"source":"shared","granted":0,"spent":0,"held":0,"returned":0,"dropped":0,"grants":0,"grants_empty":0,"store_tokens_left":0\}\}
--- no_error_log
[emerg]



=== TEST 20: VictorOps credentials, reconciliation (sync_interval) and the admin API (admin_token) work with a PostgreSQL store
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        api_id vo-id;
        api_key vo-key;
        api_user alice;
        sync_interval 30s;
        admin_token adm1n;
    }
--- config
    location = /t { return 200; }
--- request
GET /t
--- error_code: 200
--- no_error_log
[emerg]



=== TEST 21: signed escalation-policy webhooks (escalation_auth_code) work with a PostgreSQL store
--- http_config
    victorops_integration acme {
        rootly_token t;
        escalation_auth_code c0de;
        escalation_url https://hooks.example.com/vo;
        store postgresql://vo@127.0.0.1:1/victorops;
    }
--- config
    location = /t { return 200; }
--- request
GET /t
--- error_code: 200
--- no_error_log
[emerg]
