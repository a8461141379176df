//! The AWS client against a real moto server (`moto[server]`, pinned in tests/requirements.txt),
//! seeded through the SDK itself: Observe (drift field by field, findings with AWS ids, no
//! writes), Enforce (security-group rules, world-open ingress revoked, flow logs for every VPC,
//! GuardDuty, alarms, WAFv2 with lock tokens), `CreateFlowLogs` partial failure, throttling (a
//! tiny fake, since moto never throttles), and credentials that never reach an error message.

mod support;

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::types::{IpPermission, IpRange};
use perimeter::api::{CloudProviderSpec, Mode, UnmanagedPolicy};
use perimeter::error::Category;
use perimeter::providers::aws::api::{AwsFirewall, AwsMonitoring};
use perimeter::providers::aws::{Aws, firewall_target, monitoring_target};
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::sync;
use perimeter::{Metrics, SecretString};
use serde_json::{Value, json};

const REGION: &str = "eu-west-1";
const SECRET_KEY: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
const ROLE: &str = "arn:aws:iam::123456789012:role/flow-logs";

fn credential() -> SecretString {
    SecretString::new(
        json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "secretAccessKey": SECRET_KEY}).to_string(),
    )
}

fn spec(endpoint: &str) -> CloudProviderSpec {
    serde_json::from_value(json!({
        "type": "aws",
        "accountId": "123456789012",
        "credentials": {"source": "Secret", "secretRef": {"name": "aws", "key": "credentials"}},
        "endpoint": endpoint,
        "regions": [REGION],
        "rateLimit": {"requestsPerMinute": 60000, "burst": 1000},
        "requestTimeoutSeconds": 5,
    }))
    .expect("spec")
}

async fn client(endpoint: &str, metrics: Arc<Metrics>) -> Aws {
    Aws::connect(&spec(endpoint), Some(credential()), Some(metrics))
        .await
        .expect("connect")
}

/// The SDK configuration the tests seed moto with (not Perimeter's client).
async fn seeder(endpoint: &str) -> SdkConfig {
    seeder_in(endpoint, REGION).await
}

/// The same, in another region (moto keeps each region's state apart on one endpoint).
async fn seeder_in(endpoint: &str, region: &'static str) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .endpoint_url(endpoint)
        .http_client(http)
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "seed",
            None,
            None,
            "test",
        ))
        .load()
        .await
}

fn firewall(block: Value) -> Target {
    let fw: AwsFirewall = serde_json::from_value(block).expect("firewall block");
    firewall_target(&fw).expect("valid target")
}

fn monitoring(block: Value) -> Target {
    let mon: AwsMonitoring = serde_json::from_value(block).expect("monitoring block");
    monitoring_target(&mon).expect("valid target")
}

/// Attempts counted by the interceptor for one operation, whatever the status.
fn calls(metrics: &Metrics, operation: &str) -> u64 {
    let text = metrics.render().expect("render");
    let needle = format!("operation=\"{operation}\"");
    text.lines()
        .filter(|l| l.starts_with("perimeter_provider_requests_total") && l.contains(&needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

const WRITES: [&str; 12] = [
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "CreateFlowLogs",
    "DeleteFlowLogs",
    "CreateDetector",
    "UpdateDetector",
    "PutMetricAlarm",
    "UpdateWebACL",
    "CreateWebACL",
];

struct Seeded {
    vpc_a: String,
    vpc_b: String,
    web: String,
    world_rule: String,
}

/// Two VPCs; a `web` group in A with SSH open to the world and HTTPS from 10/8 ("old");
/// a flow log on A only.
async fn seed_network(cfg: &SdkConfig) -> Seeded {
    let ec2 = aws_sdk_ec2::Client::new(cfg);
    let vpc = |cidr: &'static str| {
        let ec2 = ec2.clone();
        async move {
            ec2.create_vpc()
                .cidr_block(cidr)
                .send()
                .await
                .expect("vpc")
                .vpc()
                .and_then(|v| v.vpc_id())
                .expect("vpc id")
                .to_string()
        }
    };
    let vpc_a = vpc("10.0.0.0/16").await;
    let vpc_b = vpc("10.1.0.0/16").await;
    let web = ec2
        .create_security_group()
        .group_name("web")
        .description("web")
        .vpc_id(&vpc_a)
        .send()
        .await
        .expect("sg")
        .group_id()
        .expect("sg id")
        .to_string();
    let rule = |port: i32, cidr: &str, desc: Option<&str>| {
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip(cidr)
                    .set_description(desc.map(str::to_string))
                    .build(),
            )
            .build()
    };
    let out = ec2
        .authorize_security_group_ingress()
        .group_id(&web)
        .ip_permissions(rule(22, "0.0.0.0/0", None))
        .send()
        .await
        .expect("ssh rule");
    let world_rule = out.security_group_rules()[0]
        .security_group_rule_id()
        .expect("rule id")
        .to_string();
    ec2.authorize_security_group_ingress()
        .group_id(&web)
        .ip_permissions(rule(443, "10.0.0.0/8", Some("old")))
        .send()
        .await
        .expect("https rule");
    ec2.create_flow_logs()
        .resource_ids(&vpc_a)
        .resource_type(aws_sdk_ec2::types::FlowLogsResourceType::Vpc)
        .traffic_type(aws_sdk_ec2::types::TrafficType::All)
        .log_destination_type(aws_sdk_ec2::types::LogDestinationType::CloudWatchLogs)
        .log_group_name("vpc-flow")
        .deliver_logs_permission_arn(ROLE)
        .send()
        .await
        .expect("flow log");
    Seeded {
        vpc_a,
        vpc_b,
        web,
        world_rule,
    }
}

fn web_rules(vpc_a: &str) -> Value {
    json!([{"vpcId": vpc_a, "groupName": "web", "ingress": [
        {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "10.0.0.0/8", "description": "https"},
        {"protocol": "6", "fromPort": 80, "toPort": 80, "cidr": "10.0.0.0/8"}]}])
}

#[tokio::test]
async fn observe_reports_drift_and_findings_with_aws_ids_and_never_writes() {
    let moto = support::start_moto();
    let seeded = seed_network(&seeder(&moto.url).await).await;
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let aws = client(&moto.url, metrics.clone()).await;
    assert!(aws.verify().await.is_ok());

    let fw = firewall(json!({"region": REGION, "securityGroups": web_rules(&seeded.vpc_a)}));
    let out = sync(&aws, &fw, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let remaining = out.remaining.as_ref().expect("read");
    let section = format!("securityGroups[{}/web].ingress", seeded.vpc_a);
    let drift: Vec<(String, Option<String>, Option<String>)> = remaining
        .drift
        .iter()
        .map(|d| (d.path.clone(), d.desired.clone(), d.observed.clone()))
        .collect();
    assert_eq!(
        drift,
        [
            (
                format!("{section}[tcp:443:10.0.0.0/8].description"),
                Some("https".into()),
                Some("old".into())
            ),
            (
                format!("{section}[tcp:80:10.0.0.0/8]"),
                Some(r#"{"description":""}"#.into()),
                None
            ),
        ]
    );
    assert_eq!(
        remaining.unmanaged,
        [format!("{section}[tcp:22:0.0.0.0/0]")]
    );
    let world: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.code == "WorldOpenIngress")
        .collect();
    assert_eq!(world.len(), 1, "{:?}", out.findings);
    assert_eq!(world[0].subject, format!("securityGroups[{}]", seeded.web));
    assert!(
        world[0].message.contains("port(s) 22") && world[0].message.contains(&seeded.world_rule)
    );

    let mon = monitoring(json!({"region": REGION, "guardDuty": {"enabled": true}}));
    let out = sync(&aws, &mon, Mode::Observe, UnmanagedPolicy::Report).await;
    let no_flow: Vec<&str> = out
        .findings
        .iter()
        .filter(|f| f.code == "VpcWithoutFlowLogs")
        .map(|f| f.subject.as_str())
        .collect();
    assert!(no_flow.contains(&seeded.vpc_b.as_str()), "{no_flow:?}");
    assert!(!no_flow.contains(&seeded.vpc_a.as_str()), "{no_flow:?}");
    let drift: Vec<&str> = out
        .remaining
        .as_ref()
        .expect("read")
        .drift
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(drift, ["guardDuty[detector]"]);

    for op in WRITES {
        assert_eq!(calls(&metrics, op), 0, "Observe never writes ({op})");
    }
    assert!(
        calls(&metrics, "DescribeSecurityGroupRules") >= 1,
        "attempts are counted"
    );
}

#[tokio::test]
async fn enforce_fixes_rules_revokes_world_open_and_covers_every_vpc() {
    let moto = support::start_moto();
    let seeded = seed_network(&seeder(&moto.url).await).await;
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let aws = client(&moto.url, metrics.clone()).await;

    let fw = firewall(
        json!({"region": REGION, "securityGroups": web_rules(&seeded.vpc_a),
        "findings": {"worldOpenIngress": "Forbid"}}),
    );
    let before = sync(&aws, &fw, Mode::Observe, UnmanagedPolicy::Report).await;
    let drift: Vec<&str> = before
        .remaining
        .as_ref()
        .expect("read")
        .drift
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert!(
        drift.contains(&"findings[worldOpenIngress].openIngress"),
        "{drift:?}"
    );
    let out = sync(&aws, &fw, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert_eq!(out.applied.len(), 3, "{:?}", out.applied);
    assert_eq!(calls(&metrics, "RevokeSecurityGroupIngress"), 1);
    assert!(!out.findings.iter().any(|f| f.code == "WorldOpenIngress"));

    let mon = monitoring(json!({"region": REGION,
        "flowLogs": {"allVpcs": true, "trafficType": "ALL", "destinationType": "cloud-watch-logs",
            "destination": "arn:aws:logs:eu-west-1:123456789012:log-group:vpc-flow:*",
            "deliverLogsPermissionArn": ROLE},
        // cloudWatchAlarms are not exercised here: aws-sdk-cloudwatch speaks Smithy RPCv2
        // CBOR, which moto 5.2.5 does not route (HTTP 404); tests/aws_emulator_provider.rs covers them.
        "guardDuty": {"enabled": true, "findingPublishingFrequency": "FIFTEEN_MINUTES"}}));
    let out = sync(&aws, &mon, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert!(
        !out.findings.iter().any(|f| f.code == "VpcWithoutFlowLogs"),
        "{:?}",
        out.findings
    );
    assert_eq!(
        calls(&metrics, "CreateFlowLogs"),
        1,
        "one call for every uncovered VPC"
    );
    assert_eq!(calls(&metrics, "CreateDetector"), 1);
    let again = sync(&aws, &mon, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(again.in_sync() && again.applied.is_empty());
}

#[tokio::test]
async fn waf_rules_are_written_whole_with_the_lock_token() {
    use aws_sdk_wafv2::types as w;
    let moto = support::start_moto();
    let cfg = seeder(&moto.url).await;
    let waf = aws_sdk_wafv2::Client::new(&cfg);
    let vis = |n: &str| {
        w::VisibilityConfig::builder()
            .sampled_requests_enabled(true)
            .cloud_watch_metrics_enabled(true)
            .metric_name(n)
            .build()
            .expect("visibility")
    };
    let rate = |name: &str, limit: i64, priority: i32| {
        w::Rule::builder()
            .name(name)
            .priority(priority)
            .statement(
                w::Statement::builder()
                    .rate_based_statement(
                        w::RateBasedStatement::builder()
                            .limit(limit)
                            .aggregate_key_type(w::RateBasedStatementAggregateKeyType::Ip)
                            .build()
                            .expect("rate"),
                    )
                    .build(),
            )
            .action(
                w::RuleAction::builder()
                    .count(w::CountAction::builder().build())
                    .build(),
            )
            .visibility_config(vis(name))
            .build()
            .expect("rule")
    };
    waf.create_web_acl()
        .name("edge")
        .scope(w::Scope::Regional)
        .default_action(
            w::DefaultAction::builder()
                .allow(w::AllowAction::builder().build())
                .build(),
        )
        .rules(rate("flood", 2000, 1))
        .rules(rate("legacy", 5000, 9))
        .visibility_config(vis("edge"))
        .send()
        .await
        .expect("web acl");

    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let aws = client(&moto.url, metrics.clone()).await;
    let fw = firewall(
        json!({"region": REGION, "webAcls": [{"name": "edge", "scope": "REGIONAL", "defaultAction": "Allow", "rules": [
        {"name": "flood", "priority": 1, "action": "Block", "statement": {"rateBased": {"limit": 1000}}},
        {"name": "common", "priority": 2, "statement": {"managedRuleGroup": {"vendorName": "AWS", "name": "AWSManagedRulesCommonRuleSet"}}}]}]}),
    );
    let observed = aws.observe(&fw).await.expect("observe");
    let out = sync(&aws, &fw, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert_eq!(
        calls(&metrics, "UpdateWebACL"),
        1,
        "one atomic write for the whole rule list"
    );
    assert_eq!(
        out.remaining.as_ref().expect("read").unmanaged,
        ["webAcls[REGIONAL/edge].rules[legacy]"],
        "the undeclared rule is kept"
    );

    // Someone else writes in between: the token Perimeter read before is now stale. The write
    // re-reads the ACL (fresh token) right before writing, so the stale token never reaches
    // UpdateWebACL, and the concurrent change to an undeclared rule survives.
    let acls = waf
        .list_web_acls()
        .scope(w::Scope::Regional)
        .send()
        .await
        .expect("list");
    let id = acls.web_acls()[0].id().expect("id").to_string();
    let got = waf
        .get_web_acl()
        .name("edge")
        .scope(w::Scope::Regional)
        .id(&id)
        .send()
        .await
        .expect("get");
    let stale = got.lock_token().expect("token").to_string();
    let mut rules = got.web_acl().expect("acl").rules().to_vec();
    rules.retain(|r| r.name() != "flood");
    waf.update_web_acl()
        .name("edge")
        .scope(w::Scope::Regional)
        .id(&id)
        .default_action(
            w::DefaultAction::builder()
                .allow(w::AllowAction::builder().build())
                .build(),
        )
        .set_rules(Some(rules))
        .visibility_config(vis("edge"))
        .lock_token(&stale)
        .send()
        .await
        .expect("concurrent write");
    let err = waf
        .update_web_acl()
        .name("edge")
        .scope(w::Scope::Regional)
        .id(&id)
        .default_action(
            w::DefaultAction::builder()
                .allow(w::AllowAction::builder().build())
                .build(),
        )
        .visibility_config(vis("edge"))
        .lock_token(&stale)
        .send()
        .await
        .expect_err("moto refuses a stale token");
    assert_eq!(
        perimeter::providers::aws::interceptor::error_code(&err),
        Some("WAFOptimisticLockException")
    );
    let plan = perimeter::core::diff(
        &fw.desired,
        &aws.observe(&fw).await.expect("observe").state,
        perimeter::core::Undeclared::Report,
    )
    .plan;
    let applied = aws
        .apply(&fw, &observed, &plan)
        .await
        .expect("apply with a fresh token");
    assert_eq!(applied.len(), 1, "{applied:?}");
    let after = sync(&aws, &fw, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(after.in_sync(), "{:?}", after.remaining);
}

#[tokio::test]
async fn create_flow_logs_partial_failure_is_an_error_naming_the_vpc() {
    let moto = support::start_moto();
    let seeded = seed_network(&seeder(&moto.url).await).await;
    let aws = client(&moto.url, Arc::new(Metrics::new().expect("metrics"))).await;
    // moto answers 200 with `Unsuccessful` when the S3 bucket does not exist.
    let mon = monitoring(
        json!({"region": REGION, "flowLogs": {"vpcIds": [seeded.vpc_b],
        "trafficType": "REJECT", "destinationType": "s3", "destination": "arn:aws:s3:::no-such-bucket"}}),
    );
    let out = sync(&aws, &mon, Mode::Enforce, UnmanagedPolicy::Report).await;
    let err = out.error.as_ref().expect("a partial failure is an error");
    assert_eq!(err.category, Category::WriteRejected);
    assert_eq!(err.operation, "CreateFlowLogs");
    assert!(err.message.contains(&seeded.vpc_b), "{err}");
    assert!(!out.in_sync(), "still drifted after the failed write");
}

#[tokio::test]
async fn credentials_never_reach_errors() {
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let aws = client(&closed, Arc::new(Metrics::new().expect("metrics"))).await;
    let err = aws.verify().await.expect_err("nothing listens");
    assert_eq!(err.category, Category::Unreachable);
    assert!(!err.to_string().contains(SECRET_KEY));

    let bad = SecretString::new(format!(
        "{{\"accessKeyId\": \"AKIA\", \"secretAccessKey\": {SECRET_KEY}}}"
    ));
    let err = Aws::connect(&spec(&closed), Some(bad), None)
        .await
        .err()
        .expect("malformed JSON is refused");
    assert_eq!(err.category(), Category::CredentialsMissing);
    assert!(!err.to_string().contains(SECRET_KEY), "{err}");
}

/// moto never throttles: a fake EC2 that always answers `RequestLimitExceeded`.
#[tokio::test]
async fn throttling_is_retried_then_reported_as_throttled() {
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r1</RequestID></Response>",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let aws = client(&format!("http://{addr}"), metrics.clone()).await;
    let err = aws.verify().await.expect_err("throttled");
    assert_eq!(err.category, Category::Throttled);
    assert!(err.message.contains("RequestLimitExceeded"), "{err}");
    assert_eq!(
        calls(&metrics, "DescribeRegions"),
        3,
        "the SDK's standard mode retries twice"
    );
}

#[test]
fn examples_pass_the_schema_rules_and_map_to_targets() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/aws");
    let m = perimeter::manifests::Manifests::load_dir(&dir).expect("examples are valid");
    assert_eq!(
        (m.providers.len(), m.firewalls.len(), m.monitors.len()),
        (1, 1, 1)
    );
    let fw = firewall_target(m.firewalls[0].spec.aws.as_ref().expect("aws block")).expect("fw");
    assert_eq!(
        fw.desired.sections.len(),
        7,
        "{:?}",
        fw.desired
            .sections
            .iter()
            .map(|s| &s.name)
            .collect::<Vec<_>>()
    );
    monitoring_target(m.monitors[0].spec.aws.as_ref().expect("aws block")).expect("mon");
}

#[test]
fn schema_rules_refuse_bad_aws_blocks() {
    let cases = [
        // both ways of naming a group
        "securityGroups: [{groupId: sg-0123456789abcdef0, vpcId: vpc-0123456789abcdef0, groupName: web}]",
        // two peers
        "securityGroups: [{groupId: sg-0123456789abcdef0, ingress: [{protocol: tcp, fromPort: 22, toPort: 22, cidr: 10.0.0.0/8, prefixListId: pl-12345678}]}]",
        // tcp without ports, and a reversed range
        "securityGroups: [{groupId: sg-0123456789abcdef0, ingress: [{protocol: tcp, cidr: 10.0.0.0/8}]}]",
        "securityGroups: [{groupId: sg-0123456789abcdef0, ingress: [{protocol: tcp, fromPort: 90, toPort: 80, cidr: 10.0.0.0/8}]}]",
        // a managed rule group with an action
        "webAcls: [{name: a, scope: REGIONAL, defaultAction: Allow, rules: [{name: r, priority: 1, action: Block, statement: {managedRuleGroup: {vendorName: AWS, name: X}}}]}]",
    ];
    for case in cases {
        let yaml = format!(
            "apiVersion: perimeter.dev/v1alpha1\nkind: FirewallPolicy\nmetadata: {{name: p, namespace: ns}}\nspec:\n  providerRef: {{name: aws}}\n  aws:\n    region: eu-west-1\n    {case}\n"
        );
        let mut m = perimeter::manifests::Manifests::default();
        assert!(m.add_yaml("case", &yaml).is_err(), "accepted: {case}");
    }
}

/// moto ignores MaxResults and never pages: a fake that answers every list in two pages
/// (EC2 `NextToken`, WAFv2 `NextMarker`) proves each page is followed, and only once.
#[tokio::test]
async fn every_list_follows_its_pages() {
    use axum::http::{HeaderMap, StatusCode, header};
    const NS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
    async fn fake(
        headers: HeaderMap,
        body: String,
    ) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
        let xml = |b: String| (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], b);
        let json = |b: Value| {
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
                b.to_string(),
            )
        };
        let second = body.contains("NextToken=p2") || body.contains("\"NextMarker\":\"m2\"");
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if body.contains("Action=DescribeSecurityGroups&") {
            let (id, next) = if second {
                ("sg-00000002", "")
            } else {
                ("sg-00000001", "<nextToken>p2</nextToken>")
            };
            return xml(format!(
                "<DescribeSecurityGroupsResponse xmlns=\"{NS}\"><requestId>r</requestId><securityGroupInfo><item><groupId>{id}</groupId><groupName>g</groupName><vpcId>vpc-1</vpcId></item></securityGroupInfo>{next}</DescribeSecurityGroupsResponse>"
            ));
        }
        if body.contains("Action=DescribeSecurityGroupRules&") {
            let (id, port, cidr, next) = if second {
                ("sgr-2", 443, "10.0.0.0/8", "")
            } else {
                ("sgr-1", 22, "0.0.0.0/0", "<nextToken>p2</nextToken>")
            };
            return xml(format!(
                "<DescribeSecurityGroupRulesResponse xmlns=\"{NS}\"><requestId>r</requestId><securityGroupRuleSet><item><securityGroupRuleId>{id}</securityGroupRuleId><groupId>sg-00000002</groupId><isEgress>false</isEgress><ipProtocol>tcp</ipProtocol><fromPort>{port}</fromPort><toPort>{port}</toPort><cidrIpv4>{cidr}</cidrIpv4></item></securityGroupRuleSet>{next}</DescribeSecurityGroupRulesResponse>"
            ));
        }
        if target.ends_with(".ListIPSets") {
            return json(if second {
                json!({"IPSets": [{"Name": "b", "Id": "id-b", "ARN": "arn:aws:wafv2:eu-west-1:1:regional/ipset/b/id-b", "LockToken": "t"}]})
            } else {
                json!({"IPSets": [{"Name": "a", "Id": "id-a", "ARN": "arn:aws:wafv2:eu-west-1:1:regional/ipset/a/id-a", "LockToken": "t"}], "NextMarker": "m2"})
            });
        }
        if target.ends_with(".GetIPSet") {
            let name = if body.contains("id-b") { "b" } else { "a" };
            return json(
                json!({"IPSet": {"Name": name, "Id": format!("id-{name}"), "ARN": format!("arn:aws:wafv2:eu-west-1:1:regional/ipset/{name}/id-{name}"),
                "IPAddressVersion": "IPV4", "Addresses": ["192.0.2.0/24"]}, "LockToken": "t"}),
            );
        }
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("unexpected {target} {body}"),
        )
    }
    let app = axum::Router::new().fallback(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let aws = client(&format!("http://{addr}"), metrics.clone()).await;
    let fw = firewall(json!({"region": REGION,
        "securityGroups": [{"groupId": "sg-00000002", "ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "10.0.0.0/8"}]}],
        "ipSets": [{"name": "a", "scope": "REGIONAL", "ipAddressVersion": "IPV4", "addresses": ["192.0.2.0/24"]}]}));
    let obs = aws.observe(&fw).await.expect("observe");
    let rules = obs
        .state
        .section("securityGroups[sg-00000002].ingress")
        .expect("section");
    let keys: Vec<&str> = rules.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        ["tcp:22:0.0.0.0/0", "tcp:443:10.0.0.0/8"],
        "a rule from each page"
    );
    assert_eq!(obs.findings.len(), 1, "{:?}", obs.findings);
    assert_eq!(obs.state.section("ipSets").expect("ipSets").items.len(), 2);
    for (op, n) in [
        ("DescribeSecurityGroups", 2),
        ("DescribeSecurityGroupRules", 2),
        ("ListIPSets", 2),
        ("GetIPSet", 2),
    ] {
        assert_eq!(calls(&metrics, op), n, "{op}");
    }
}

#[tokio::test]
async fn nacl_entries_are_created_replaced_and_removed() {
    let moto = support::start_moto();
    let cfg = seeder(&moto.url).await;
    let ec2 = aws_sdk_ec2::Client::new(&cfg);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .expect("vpc");
    let vpc = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_string();
    let acl = ec2
        .create_network_acl()
        .vpc_id(&vpc)
        .send()
        .await
        .expect("acl");
    let acl = acl
        .network_acl()
        .and_then(|a| a.network_acl_id())
        .expect("acl id")
        .to_string();
    let entry = |n: i32, egress: bool, proto: &str, action: aws_sdk_ec2::types::RuleAction| {
        ec2.create_network_acl_entry()
            .network_acl_id(&acl)
            .rule_number(n)
            .egress(egress)
            .protocol(proto)
            .rule_action(action)
            .cidr_block("0.0.0.0/0")
            .port_range(
                aws_sdk_ec2::types::PortRange::builder()
                    .from(22)
                    .to(22)
                    .build(),
            )
            .send()
    };
    entry(100, false, "6", aws_sdk_ec2::types::RuleAction::Allow)
        .await
        .expect("entry 100");
    entry(200, true, "-1", aws_sdk_ec2::types::RuleAction::Allow)
        .await
        .expect("entry 200");

    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let aws = client(&moto.url, metrics.clone()).await;
    let fw = firewall(
        json!({"region": REGION, "networkAcls": [{"networkAclId": acl, "entries": [
        {"ruleNumber": 100, "protocol": "tcp", "ruleAction": "deny", "cidr": "0.0.0.0/0", "fromPort": 22, "toPort": 22},
        {"ruleNumber": 110, "protocol": "tcp", "ruleAction": "allow", "cidr": "10.0.0.0/8", "fromPort": 443, "toPort": 443}]}]}),
    );
    let out = sync(&aws, &fw, Mode::Enforce, UnmanagedPolicy::Remove).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.in_sync(), "{:?}", out.remaining);
    let found: Vec<&str> = out
        .found
        .as_ref()
        .expect("read")
        .drift
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(
        found,
        [
            format!("networkAcls[{acl}][ingress:100].ruleAction").as_str(),
            format!("networkAcls[{acl}][ingress:110]").as_str(),
            format!("networkAcls[{acl}][egress:200]").as_str(),
        ]
    );
    for op in [
        "ReplaceNetworkAclEntry",
        "CreateNetworkAclEntry",
        "DeleteNetworkAclEntry",
    ] {
        assert_eq!(calls(&metrics, op), 1, "{op}");
    }
}

const OTHER_REGION: &str = "us-east-1";

/// An account observed in two regions (moto serves both on one endpoint).
async fn two_region_client(endpoint: &str, metrics: Arc<Metrics>) -> Aws {
    let mut spec = spec(endpoint);
    spec.regions = Some(vec![REGION.into(), OTHER_REGION.into()]);
    Aws::connect(&spec, Some(credential()), Some(metrics))
        .await
        .expect("connect")
}

fn drift_paths(out: &perimeter::reconcile::SyncOutcome) -> Vec<String> {
    out.remaining
        .as_ref()
        .expect("read")
        .drift
        .iter()
        .map(|d| d.path.clone())
        .collect()
}

fn subjects(out: &perimeter::reconcile::SyncOutcome, code: &str) -> Vec<String> {
    out.findings
        .iter()
        .filter(|f| f.code == code)
        .map(|f| f.subject.clone())
        .collect()
}

#[tokio::test]
async fn a_block_without_region_covers_every_region_of_the_provider() {
    let moto = support::start_moto();
    let west = seed_network(&seeder(&moto.url).await).await;
    let east = seed_network(&seeder_in(&moto.url, OTHER_REGION).await).await;
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let aws = two_region_client(&moto.url, metrics.clone()).await;

    // "GuardDuty on and flow logs on every VPC, in every region."
    let mon = monitoring(json!({
        "flowLogs": {"allVpcs": true, "trafficType": "ALL", "destinationType": "cloud-watch-logs",
            "destination": "arn:aws:logs:eu-west-1:123456789012:log-group:vpc-flow:*",
            "deliverLogsPermissionArn": ROLE},
        "guardDuty": {"enabled": true}}));
    let out = sync(&aws, &mon, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let drift = drift_paths(&out);
    for region in [REGION, OTHER_REGION] {
        for path in [
            format!("{region}/guardDuty[detector]"),
            format!("{region}/flowLogs[allVpcs].vpcsWithoutFlowLog"),
        ] {
            assert!(drift.contains(&path), "{path} not in {drift:?}");
        }
    }
    let no_flow = subjects(&out, "VpcWithoutFlowLogs");
    for (region, seeded) in [(REGION, &west), (OTHER_REGION, &east)] {
        assert!(
            no_flow.contains(&format!("{region}/{}", seeded.vpc_b)),
            "{no_flow:?}"
        );
        assert!(
            !no_flow.contains(&format!("{region}/{}", seeded.vpc_a)),
            "{no_flow:?}"
        );
    }
    assert!(
        !no_flow.contains(&format!("{REGION}/{}", east.vpc_b)),
        "a VPC is reported in its own region only: {no_flow:?}"
    );

    let out = sync(&aws, &mon, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert!(
        out.applied.iter().any(|a| a.starts_with("us-east-1: ")),
        "{:?}",
        out.applied
    );
    assert_eq!(
        calls(&metrics, "CreateDetector"),
        2,
        "one detector per region"
    );
    assert_eq!(calls(&metrics, "CreateFlowLogs"), 2, "one call per region");
    for region in [REGION, OTHER_REGION] {
        let gd = aws_sdk_guardduty::Client::new(&seeder_in(&moto.url, region).await);
        let ids = gd.list_detectors().send().await.expect("detectors");
        assert_eq!(ids.detector_ids().len(), 1, "{region}");
    }

    // "No world-open ingress in any region", revoked in Enforce, in each region.
    let fw = firewall(json!({"findings": {"worldOpenIngress": "Forbid"}}));
    let before = sync(&aws, &fw, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        drift_paths(&before),
        [
            format!("{REGION}/findings[worldOpenIngress].openIngress"),
            format!("{OTHER_REGION}/findings[worldOpenIngress].openIngress"),
        ]
    );
    let open = subjects(&before, "WorldOpenIngress");
    assert!(
        open.contains(&format!("{REGION}/securityGroups[{}]", west.web)),
        "{open:?}"
    );
    assert!(
        open.contains(&format!("{OTHER_REGION}/securityGroups[{}]", east.web)),
        "{open:?}"
    );
    let out = sync(&aws, &fw, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(
        out.error.is_none() && out.in_sync(),
        "{:?} {:?}",
        out.error,
        out.remaining
    );
    assert_eq!(calls(&metrics, "RevokeSecurityGroupIngress"), 2);
    assert!(subjects(&out, "WorldOpenIngress").is_empty());
}

#[tokio::test]
async fn a_provider_without_regions_is_a_clear_error_for_a_block_without_region() {
    let moto = support::start_moto();
    let mut spec = spec(&moto.url);
    spec.regions = None;
    let aws = Aws::connect(&spec, Some(credential()), None)
        .await
        .expect("connect");
    let mon = monitoring(json!({"guardDuty": {"enabled": true}}));
    let out = sync(&aws, &mon, Mode::Enforce, UnmanagedPolicy::Report).await;
    let err = out.error.expect("refused");
    assert_eq!(err.category, Category::InvalidSpec);
    assert!(err.message.contains("spec.regions"), "{err}");
    assert!(out.remaining.is_none() && out.applied.is_empty());
}

/// One region answers, the other refuses: the policy is unknown (no drift list at all), and
/// the error names the region; nothing is half-reported as in sync.
#[tokio::test]
async fn one_unreadable_region_makes_the_whole_read_fail() {
    use axum::http::{HeaderMap, StatusCode, header};
    const NS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
    async fn fake(
        headers: HeaderMap,
        body: String,
    ) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let xml = |status, b: String| (status, [(header::CONTENT_TYPE, "text/xml")], b);
        if auth.contains("/us-east-1/") {
            return xml(
                StatusCode::FORBIDDEN,
                "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r</RequestID></Response>".into(),
            );
        }
        if body.contains("Action=DescribeVpcs&") {
            return xml(
                StatusCode::OK,
                format!(
                    "<DescribeVpcsResponse xmlns=\"{NS}\"><requestId>r</requestId><vpcSet/></DescribeVpcsResponse>"
                ),
            );
        }
        if body.contains("Action=DescribeFlowLogs&") {
            return xml(
                StatusCode::OK,
                format!(
                    "<DescribeFlowLogsResponse xmlns=\"{NS}\"><requestId>r</requestId><flowLogSet/></DescribeFlowLogsResponse>"
                ),
            );
        }
        xml(StatusCode::BAD_REQUEST, format!("unexpected {body}"))
    }
    let app = axum::Router::new().fallback(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let aws = two_region_client(
        &format!("http://{addr}"),
        Arc::new(Metrics::new().expect("m")),
    )
    .await;
    let mon = monitoring(json!({"flowLogs": {"allVpcs": true, "trafficType": "ALL",
        "destinationType": "s3", "destination": "arn:aws:s3:::central-flow-logs"}}));
    let one = aws
        .observe(&aws.resolve(&monitoring(json!({"region": REGION, "flowLogs": {"allVpcs": true,
            "trafficType": "ALL", "destinationType": "s3", "destination": "arn:aws:s3:::central-flow-logs"}}))).expect("resolve"))
        .await;
    assert!(one.is_ok(), "eu-west-1 alone reads: {:?}", one.err());
    let out = sync(&aws, &mon, Mode::Observe, UnmanagedPolicy::Report).await;
    let err = out.error.expect("unreadable region");
    assert_eq!(err.category, Category::CredentialsRejected, "{err}");
    assert!(err.message.starts_with("us-east-1: "), "{err}");
    assert!(
        out.found.is_none() && out.remaining.is_none(),
        "never partially in sync"
    );
}

#[test]
fn schema_rules_require_a_region_for_resources_addressed_by_id() {
    let cases = [
        (
            "FirewallPolicy",
            "findings: {worldOpenIngress: Forbid}",
            true,
        ),
        (
            "FirewallPolicy",
            "securityGroups: [{groupId: sg-0123456789abcdef0, ingress: []}]",
            false,
        ),
        ("FirewallPolicy", "ipSets: []", false),
        ("MonitoringPolicy", "guardDuty: {enabled: true}", true),
        (
            "MonitoringPolicy",
            "flowLogs: {allVpcs: true, trafficType: ALL, destinationType: s3, destination: 'arn:aws:s3:::b'}",
            true,
        ),
        (
            "MonitoringPolicy",
            "flowLogs: {vpcIds: [vpc-0a1b2c3d], trafficType: ALL, destinationType: s3, destination: 'arn:aws:s3:::b'}",
            false,
        ),
        (
            "MonitoringPolicy",
            "cloudWatchAlarms: [{name: a, namespace: Custom, metricName: M, statistic: Sum, period: 60, evaluationPeriods: 1, threshold: 1, comparisonOperator: GreaterThanThreshold}]",
            false,
        ),
    ];
    for (kind, case, ok) in cases {
        let yaml = format!(
            "apiVersion: perimeter.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: p, namespace: ns}}\nspec:\n  providerRef: {{name: aws}}\n  aws:\n    {case}\n"
        );
        let mut m = perimeter::manifests::Manifests::default();
        let got = m.add_yaml("case", &yaml);
        assert_eq!(got.is_ok(), ok, "{kind} {case}: {:?}", got.err());
    }
}

/// A NAT gateway in a new VPC of the region, with a new Elastic IP: (VPC id, public IP).
async fn seed_nat_gateway(cfg: &SdkConfig, cidr: &str) -> (String, String) {
    let ec2 = aws_sdk_ec2::Client::new(cfg);
    let vpc = ec2
        .create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .expect("vpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_string();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block(cidr.replace(".0.0/16", ".1.0/24"))
        .send()
        .await
        .expect("subnet")
        .subnet()
        .and_then(|s| s.subnet_id())
        .expect("subnet id")
        .to_string();
    let eip = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .expect("eip");
    let (allocation, ip) = (
        eip.allocation_id().expect("allocation").to_string(),
        eip.public_ip().expect("ip").to_string(),
    );
    ec2.create_nat_gateway()
        .subnet_id(&subnet)
        .allocation_id(&allocation)
        .send()
        .await
        .expect("nat gateway");
    (vpc, format!("{ip}/32"))
}

/// moto as an independent reference for the `awsNatGateways` source: NAT gateways in two
/// regions of the CloudProvider (moto keeps regions apart), all of them or a subset, and one
/// VPC's only.
#[tokio::test]
async fn nat_gateway_addresses_are_read_region_by_region() {
    use perimeter::api::addressset::AddressSource;
    let moto = support::start_moto();
    let (west_vpc, west_ip) = seed_nat_gateway(&seeder(&moto.url).await, "10.30.0.0/16").await;
    let (_, west_other_ip) = seed_nat_gateway(&seeder(&moto.url).await, "10.31.0.0/16").await;
    let (_, east_ip) =
        seed_nat_gateway(&seeder_in(&moto.url, OTHER_REGION).await, "10.40.0.0/16").await;
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let aws = two_region_client(&moto.url, metrics.clone()).await;
    let read = |block: Value| {
        let source: AddressSource =
            serde_json::from_value(json!({"awsNatGateways": block})).expect("source");
        let aws = &aws;
        async move {
            let mut got = aws.source_addresses(&source).await.expect("read");
            got.sort();
            got
        }
    };
    let mut all = vec![west_ip.clone(), west_other_ip.clone(), east_ip.clone()];
    all.sort();
    assert_eq!(read(json!({"providerRef": {"name": "aws"}})).await, all);
    assert_eq!(calls(&metrics, "DescribeNatGateways"), 2, "one per region");
    let mut west = vec![west_ip.clone(), west_other_ip];
    west.sort();
    assert_eq!(
        read(json!({"providerRef": {"name": "aws"}, "regions": [REGION]})).await,
        west
    );
    assert_eq!(
        read(json!({"providerRef": {"name": "aws"}, "regions": [REGION], "vpcIds": [west_vpc]}))
            .await,
        [west_ip]
    );
}

/// moto, independently of the Rust emulator: the inventory lists the region's VPCs (with their
/// `Name` tag) and security groups (with their VPC), and a block managing `web` covers the
/// group and its VPC, not the other VPC nor moto's default one.
#[tokio::test]
async fn inventory_lists_vpcs_and_groups_and_a_block_covers_its_own() {
    use perimeter::providers::aws::inventory::{SECURITY_GROUP, VPC, covers};
    let moto = support::start_moto();
    let cfg = seeder(&moto.url).await;
    let seeded = seed_network(&cfg).await;
    aws_sdk_ec2::Client::new(&cfg)
        .create_tags()
        .resources(&seeded.vpc_b)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Name")
                .value("staging")
                .build(),
        )
        .send()
        .await
        .expect("tag");
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let aws = client(&moto.url, metrics.clone()).await;
    let assets = aws.inventory().await.expect("read").expect("listed");
    let vpc = |id: &str| assets.iter().find(|a| a.kind == VPC && a.id == id);
    assert!(vpc(&seeded.vpc_a).is_some(), "{assets:?}");
    assert_eq!(vpc(&seeded.vpc_b).map(|a| a.name.as_str()), Some("staging"));
    let web = assets
        .iter()
        .find(|a| a.kind == SECURITY_GROUP && a.id == seeded.web)
        .expect("web group");
    assert_eq!(web.name, "web");
    assert_eq!(web.parent.as_deref(), Some(seeded.vpc_a.as_str()));
    let block: AwsFirewall = serde_json::from_value(
        json!({"region": REGION, "securityGroups": web_rules(&seeded.vpc_a)}),
    )
    .expect("block");
    let covered: Vec<&str> = assets
        .iter()
        .filter(|a| covers(&block, a, &assets))
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(covered, [seeded.vpc_a.as_str(), seeded.web.as_str()]);
    assert!(calls(&metrics, "DescribeVpcs") >= 1);
    assert!(calls(&metrics, "DescribeSecurityGroups") >= 1);
}
