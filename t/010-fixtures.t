# Every VictorOps fixture reaches its expected.tsv outcome, and each
# alert reaches the mock Rootly as a body that validates against
# new_alert (the mock answers 422 otherwise).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use JSON::PP;
use VoTest;

vo_setup();

my $http_config = <<'_EOC_';
    victorops_integration acme {
        rootly_url $TEST_NGINX_ROOTLY_URL;
        rootly_token rootly-test-token;
        store logs/acme.db;
        webhook_secret s3cret;
        escalation_auth_code vo-auth-code-5b1e;
        escalation_url https://hooks.example.com/victorops/escalation/;
    }
_EOC_

vo_defaults(
    http_config => $http_config,
    config => "location = /hook { victorops_webhook acme; }\n",
);

# what needs the store (is the incident linked?) is decided at dispatch:
# every incident event is accepted, only "ignored" ones answered so

sub status_of {
    return expected(shift)->{class} eq 'ignored' ? 200 : 202;
}

sub reply_like {
    my $e = expected(shift);
    my $taken = $e->{class} ne 'ignored';
    my $result = $taken ? 'accepted' : 'ignored';
    my $incident = defined $e->{incident}
                   ? qr/,"incident":"\Q$e->{incident}\E"/ : qr//;
    my $tail = $taken ? qr/,"id":"[0-9a-f]{16}"/ : qr/,"reason":"[^"]+"/;
    return qr/^\{"result":"$result","class":"$e->{class}"$incident$tail\}\n\z/;
}

sub rootly_expect {
    my ($name, %extra) = @_;
    my $e = expected($name);

    return { count => 0 } unless $e->{class} eq 'alert';

    my $id = $e->{entity_id} // $e->{incident};
    my $org = $extra{org} // 'acme';
    my %labels;
    $labels{incident_number} = $e->{incident} if defined $e->{incident};
    $labels{entity_id} = $e->{entity_id} if defined $e->{entity_id};

    return {
        count => 1,
        path => '/v1/alerts',
        status => 201,
        headers => {
            authorization => 'Bearer rootly-test-token',
            'content-type' => 'application/vnd.api+json',
            accept => 'application/vnd.api+json',
        },
        attributes => {
            summary => $e->{summary},
            external_id => "victorops:$org:$id",
            deduplication_key => "victorops:$org:$id",
            %{ $extra{attributes} // {} },
        },
        labels => { %labels, %{ $extra{labels} // {} } },
        $name =~ /\.json$/ ? (data => decode_json(fixture($name))) : (),
    };
}

eval_helpers(qw(status_of reply_like rootly_expect));

run_tests();

__DATA__

=== TEST 1: flat-triggered.json: a new alert with every label
--- request eval: fixture_request('flat-triggered.json')
--- more_headers
Content-Type: application/json
--- error_code eval: status_of('flat-triggered.json')
--- response_body_like eval: reply_like('flat-triggered.json')
--- rootly_received eval
rootly_expect('flat-triggered.json', org => 'acme-corp',
    attributes => {
        description => 'p99 latency 2.7s over 5m (threshold 2s) on checkout-api in us-east-1',
        external_url => 'https://portal.victorops.com/ui/acme-corp/incident/1842/details',
        started_at => '2026-11-18T12:00:00.123Z',
    },
    labels => {
        routing_key => 'payments',
        monitoring_tool => 'prometheus',
        host => 'checkout-api-7d9f',
        message_type => 'CRITICAL',
    })
--- error_log
accepted alert for incident "1842"
rootly answered 201
--- no_error_log
[error]



=== TEST 2: flat-acknowledged.json: acknowledgement accepted, nothing forwarded without a link
--- request eval: fixture_request('flat-acknowledged.json')
--- more_headers
Content-Type: application/json
--- error_code eval: status_of('flat-acknowledged.json')
--- response_body_like eval: reply_like('flat-acknowledged.json')
--- rootly_received eval: rootly_expect('flat-acknowledged.json')
--- error_log eval
qr/acknowledgement for incident "1842" \(job [0-9a-f]{16}\) ignored: no linked Rootly incident or alert/



=== TEST 3: flat-resolved.json: recovery through ALERT.notificationtype
--- request eval: fixture_request('flat-resolved.json')
--- more_headers
Content-Type: application/json
--- error_code eval: status_of('flat-resolved.json')
--- response_body_like eval: reply_like('flat-resolved.json')
--- rootly_received eval: rootly_expect('flat-resolved.json')
--- error_log eval
qr/recovery for incident "1842" \(job [0-9a-f]{16}\) ignored: no linked Rootly incident or alert/



=== TEST 4: nested-triggered.json: nested objects name the same fields
--- request eval: fixture_request('nested-triggered.json')
--- more_headers
Content-Type: application/json
--- error_code eval: status_of('nested-triggered.json')
--- response_body_like eval: reply_like('nested-triggered.json')
--- rootly_received eval
rootly_expect('nested-triggered.json', org => 'acme-corp',
    attributes => {
        description => 'memory used 91.4% for 10m',
        external_url => 'https://portal.victorops.com/ui/acme-corp/incident/2077/details',
    },
    labels => { routing_key => 'database', monitoring_tool => 'datadog' })
--- no_error_log
[error]



=== TEST 5: nested-acknowledged.json
--- request eval: fixture_request('nested-acknowledged.json')
--- more_headers
Content-Type: application/json
--- error_code eval: status_of('nested-acknowledged.json')
--- response_body_like eval: reply_like('nested-acknowledged.json')
--- rootly_received eval: rootly_expect('nested-acknowledged.json')



=== TEST 6: simple-unset.json: no notification type is a new alert
--- request eval: fixture_request('simple-unset.json')
--- more_headers
Content-Type: application/json
--- error_code eval: status_of('simple-unset.json')
--- response_body_like eval: reply_like('simple-unset.json')
--- rootly_received eval
rootly_expect('simple-unset.json',
    attributes => { description => '5xx ratio 0.12 over 3m' },
    labels => { routing_key => 'edge' })
--- no_error_log
[error]



=== TEST 7: simple-ack.json
--- request eval: fixture_request('simple-ack.json')
--- more_headers
Content-Type: application/json
--- error_code eval: status_of('simple-ack.json')
--- response_body_like eval: reply_like('simple-ack.json')
--- rootly_received eval: rootly_expect('simple-ack.json')



=== TEST 8: simple-recovery.json
--- request eval: fixture_request('simple-recovery.json')
--- more_headers
Content-Type: application/json
--- error_code eval: status_of('simple-recovery.json')
--- response_body_like eval: reply_like('simple-recovery.json')
--- rootly_received eval: rootly_expect('simple-recovery.json')



=== TEST 9: simple-unsupported.json: other notification types are ignored with a reason
--- request eval: fixture_request('simple-unsupported.json')
--- more_headers
Content-Type: application/json
--- error_code eval: status_of('simple-unsupported.json')
--- response_body_like eval: reply_like('simple-unsupported.json')
--- response_body_like: "reason":"unsupported notification type PAGING_START"
--- rootly_received eval: rootly_expect('simple-unsupported.json')



=== TEST 10: oncall-change.json: not an incident event
--- request eval: fixture_request('oncall-change.json')
--- more_headers
Content-Type: application/json
--- error_code eval: status_of('oncall-change.json')
--- response_body
{"result":"ignored","class":"ignored","reason":"not an incident event"}
--- rootly_received eval: rootly_expect('oncall-change.json')
--- error_log
ignored delivery: not an incident event



=== TEST 11: unresolved-variables.json: ${{...}} counts as unset
--- request eval: fixture_request('unresolved-variables.json')
--- more_headers
Content-Type: application/json
--- error_code eval: status_of('unresolved-variables.json')
--- response_body_like eval: reply_like('unresolved-variables.json')
--- rootly_received eval
rootly_expect('unresolved-variables.json', absent => ['external_url'])
--- no_error_log
[error]



=== TEST 12: escalation-webhook.form: signed, form-encoded, quotes stripped
--- request eval: fixture_request('escalation-webhook.form', '/hook')
--- more_headers
Content-Type: application/x-www-form-urlencoded
X-VictorOps-Signature: H0JajLOFWDKldV6w6XSmqUDZzMU=
--- error_code eval: status_of('escalation-webhook.form')
--- response_body_like eval: reply_like('escalation-webhook.form')
--- rootly_received eval
rootly_expect('escalation-webhook.form', org => 'acme-corp',
    attributes => {
        description => 'disk /var 97% on build-01',
        external_url => 'https://portal.victorops.com/ui/acme-corp/incident/31/details',
        data => {
            incident => '31', created_by => 'ahpook', monitoring_tool => 'manual',
            message_type => 'CRITICAL', alert_type => 'CRITICAL',
            entity_id => 'vouser-ahpook--disk-full',
            state_message => 'disk /var 97% on build-01',
            entity_display_name => 'build-01 disk full',
            vo_uuid => '9c7d2f1e-3a4b-4c5d-8e9f-0a1b2c3d4e5f',
            vo_organization_id => 'acme-corp', message => '',
            summary => 'build-01 disk full',
        },
    },
    labels => { monitoring_tool => 'manual', message_type => 'CRITICAL' })
--- no_error_log
[error]
