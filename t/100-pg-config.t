# The PostgreSQL store's configuration: "store postgresql://..." (libpq's
# URI, parsed by libpq at nginx -t), store_password_file, store_timeout,
# node_id.  A bad URI or password file is an nginx -t error naming the
# file and line; the password is never logged (the URI is shown masked).
# No PostgreSQL server is needed: nothing listens on port 1, so workers
# only try to connect.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use VoTest;

$ENV{TEST_NGINX_PG_PASSWORD_FILE} = secret_file('pg.password', "hunter2-file\n");
chmod 0600, $ENV{TEST_NGINX_PG_PASSWORD_FILE};
$ENV{TEST_NGINX_PG_OPEN_FILE} = secret_file('pg-open.password', "hunter2-open\n");
chmod 0644, $ENV{TEST_NGINX_PG_OPEN_FILE};
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



=== TEST 9: the webhook answers 503 while the PostgreSQL store is unreachable (nothing acknowledged)
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
    }
--- config
    location = /hook { victorops_webhook acme; }
--- request
POST /hook?secret=s
{"entity_id":"svc/1","message_type":"CRITICAL"}
--- more_headers
Content-Type: application/json
--- error_code: 503
--- no_error_log
[emerg]



=== TEST 10: a feature not ported to PostgreSQL is an nginx -t error naming the directive, file and line
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
        api_id vo-id;
        api_key vo-key;
        api_user alice;
        slack_signing_secret slack-secret;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"slack_signing_secret" in \S+nginx\.conf:\d+ is not supported with a PostgreSQL store yet \(victorops integration "acme"\)/



=== TEST 11: signed escalation-policy webhooks are refused too, whatever the order of the directives
--- http_config
    victorops_integration acme {
        rootly_token t;
        escalation_auth_code c0de;
        escalation_url https://hooks.example.com/vo;
        store postgresql://vo@127.0.0.1:1/victorops;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"escalation_auth_code" in \S+nginx\.conf:\d+ is not supported with a PostgreSQL store yet/



=== TEST 12: a location directive not ported to PostgreSQL is refused, naming it, its file and line
--- http_config
    victorops_integration acme {
        rootly_token t;
        webhook_secret s;
        store postgresql://vo@127.0.0.1:1/victorops;
    }
--- config
    location = /rootly { victorops_rootly_events acme; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"victorops_rootly_events" in \S+nginx\.conf:\d+ is not supported with a PostgreSQL store yet \(victorops integration "acme"\)/



=== TEST 13: VictorOps credentials, reconciliation (sync_interval) and the admin API (admin_token) work with a PostgreSQL store
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
