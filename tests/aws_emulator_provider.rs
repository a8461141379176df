//! The AWS client (official SDK, one endpoint override) against the in-process Rust AWS
//! emulator (`perimeter_emulators::aws`): CloudWatch alarms over Smithy RPCv2 CBOR (which moto
//! does not route), paging across several pages (page size 2), flow logs with `Unsuccessful`
//! items, GuardDuty, throttling, and an access key the account does not know. moto stays the
//! independent reference in tests/aws_provider.rs.

use std::sync::Arc;

use perimeter::api::{CloudProviderSpec, Mode, UnmanagedPolicy};
use perimeter::error::Category;
use perimeter::providers::aws::api::AwsFirewall;
use perimeter::providers::aws::api::AwsMonitoring;
use perimeter::providers::aws::{Aws, firewall_target, monitoring_target};
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::sync;
use perimeter::{Metrics, SecretString};
use perimeter_emulators::aws::{AwsEmulator, Seed};
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::server::RunningEmulator;
use serde_json::{Value, json};

const REGION: &str = "eu-west-1";
const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
const ROLE: &str = "arn:aws:iam::123456789012:role/flow-logs";
const LOG_GROUP: &str = "arn:aws:logs:eu-west-1:123456789012:log-group:vpc-flow:*";
const SNS: &str = "arn:aws:sns:eu-west-1:123456789012:security-alerts";

fn seed() -> Seed {
    serde_json::from_value(json!({
        "accountId": "123456789012",
        "region": REGION,
        "accessKeys": [{"accessKeyId": KEY_ID, "secretAccessKey": SECRET_KEY}],
        "pageSize": 2,
        "vpcs": [{"vpcId": "vpc-a", "cidrBlock": "10.0.0.0/16"},
                 {"vpcId": "vpc-b", "cidrBlock": "10.1.0.0/16"},
                 {"vpcId": "vpc-c", "cidrBlock": "10.2.0.0/16"}],
        "securityGroups": [
            {"groupId": "sg-web", "groupName": "web", "vpcId": "vpc-a", "ingress": [
                {"ruleId": "sgr-ssh", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"},
                {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "10.0.0.0/8", "description": "old"}]},
            {"groupName": "db", "vpcId": "vpc-a", "ingress": [
                {"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": "10.0.0.0/16"}]},
            {"groupName": "default", "vpcId": "vpc-b", "egress": [{"protocol": "-1", "cidrIpv4": "0.0.0.0/0"}]},
            {"groupName": "default", "vpcId": "vpc-c", "egress": [{"protocol": "-1", "cidrIpv4": "0.0.0.0/0"}]}
        ],
        "networkAcls": [{"networkAclId": "acl-a", "vpcId": "vpc-a", "entries": []},
                        {"networkAclId": "acl-b", "vpcId": "vpc-b", "entries": []},
                        {"networkAclId": "acl-c", "vpcId": "vpc-c", "entries": []}],
        "flowLogs": [{"resourceId": "vpc-a", "trafficType": "ALL", "logDestinationType": "cloud-watch-logs",
                      "logGroupName": "vpc-flow", "deliverLogsPermissionArn": ROLE}],
        "detectors": [{"detectorId": "d0", "status": "DISABLED", "findingPublishingFrequency": "SIX_HOURS"}],
        "alarms": [
            {"alarmName": "rejected", "namespace": "Perimeter/FlowLogs", "metricName": "RejectedPackets",
             "statistic": "Sum", "period": 60, "evaluationPeriods": 1, "threshold": 5000,
             "comparisonOperator": "GreaterThanThreshold", "alarmActions": [SNS], "treatMissingData": "notBreaching"},
            {"alarmName": "legacy-1", "namespace": "AWS/EC2", "metricName": "CPUUtilization", "statistic": "Average",
             "period": 300, "evaluationPeriods": 2, "threshold": 90, "comparisonOperator": "GreaterThanThreshold"},
            {"alarmName": "legacy-2", "namespace": "AWS/EC2", "metricName": "CPUUtilization", "statistic": "Average",
             "period": 300, "evaluationPeriods": 2, "threshold": 95, "comparisonOperator": "GreaterThanThreshold"},
            {"alarmName": "legacy-3", "namespace": "AWS/EC2", "metricName": "StatusCheckFailed", "statistic": "Maximum",
             "period": 60, "evaluationPeriods": 1, "threshold": 1, "comparisonOperator": "GreaterThanOrEqualToThreshold"}
        ]
    }))
    .expect("seed")
}

fn spec(endpoint: &str) -> CloudProviderSpec {
    spec_with_timeout(endpoint, 5)
}

fn spec_with_timeout(endpoint: &str, seconds: u32) -> CloudProviderSpec {
    serde_json::from_value(json!({
        "type": "aws",
        "accountId": "123456789012",
        "credentials": {"source": "Secret", "secretRef": {"name": "aws", "key": "credentials"}},
        "endpoint": endpoint,
        "regions": [REGION],
        "rateLimit": {"requestsPerMinute": 60000, "burst": 1000},
        "requestTimeoutSeconds": seconds,
    }))
    .expect("spec")
}

async fn client_with(running: &RunningEmulator, key_id: &str) -> Aws {
    client_with_secret(running, key_id, SECRET_KEY).await
}

async fn client_with_secret(running: &RunningEmulator, key_id: &str, secret: &str) -> Aws {
    let credential =
        SecretString::new(json!({"accessKeyId": key_id, "secretAccessKey": secret}).to_string());
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    Aws::connect(&spec(&running.base_url()), Some(credential), Some(metrics))
        .await
        .expect("connect")
}

async fn start() -> (AwsEmulator, RunningEmulator, Aws) {
    let emulator = AwsEmulator::new(seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let aws = client_with(&running, KEY_ID).await;
    (emulator, running, aws)
}

fn monitoring(block: Value) -> Target {
    let mon: AwsMonitoring = serde_json::from_value(block).expect("monitoring block");
    monitoring_target(&mon).expect("valid target")
}

fn firewall(block: Value) -> Target {
    let fw: AwsFirewall = serde_json::from_value(block).expect("firewall block");
    firewall_target(&fw).expect("valid target")
}

fn alarm(name: &str, threshold: f64) -> Value {
    json!({"name": name, "namespace": "Perimeter/FlowLogs", "metricName": "RejectedPackets",
        "statistic": "Sum", "period": 300, "evaluationPeriods": 1, "threshold": threshold,
        "comparisonOperator": "GreaterThanThreshold", "treatMissingData": "notBreaching",
        "alarmActions": [SNS]})
}

fn alarms_target() -> Target {
    monitoring(json!({"region": REGION,
        "cloudWatchAlarms": [alarm("rejected", 1000.0), alarm("accepted-spike", 100000.0)]}))
}

/// Requests the emulator received for one operation (`/cloudwatch/PutMetricAlarm`, …).
fn count(emulator: &AwsEmulator, path: &str) -> usize {
    emulator.log().count("POST", path) + emulator.log().count("GET", path)
}

fn drift(out: &perimeter::reconcile::SyncOutcome) -> Vec<(String, Option<String>, Option<String>)> {
    out.remaining
        .as_ref()
        .expect("read")
        .drift
        .iter()
        .map(|d| (d.path.clone(), d.desired.clone(), d.observed.clone()))
        .collect()
}

#[tokio::test]
async fn alarms_drift_field_by_field_in_observe_across_pages_and_nothing_is_written() {
    let (emulator, _running, aws) = start().await;
    let out = sync(
        &aws,
        &alarms_target(),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let drift = drift(&out);
    let paths: Vec<&str> = drift.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(
        paths,
        [
            "cloudWatchAlarms[rejected].period",
            "cloudWatchAlarms[rejected].threshold",
            "cloudWatchAlarms[accepted-spike]",
        ],
        "{drift:?}"
    );
    assert_eq!(drift[0].1.as_deref(), Some("300"));
    assert_eq!(drift[0].2.as_deref(), Some("60"));
    assert_eq!(drift[1].1.as_deref(), Some("1000.0"));
    assert_eq!(drift[1].2.as_deref(), Some("5000.0"));
    assert!(
        drift[2]
            .1
            .as_deref()
            .is_some_and(|d| d.contains("100000.0")),
        "{drift:?}"
    );
    assert_eq!(drift[2].2, None, "a missing alarm is observed as absent");
    assert_eq!(
        out.remaining.as_ref().expect("read").unmanaged,
        [
            "cloudWatchAlarms[legacy-1]",
            "cloudWatchAlarms[legacy-2]",
            "cloudWatchAlarms[legacy-3]"
        ]
    );
    // Four alarms, two per page.
    assert_eq!(count(&emulator, "/cloudwatch/DescribeAlarms"), 2);
    assert!(
        emulator
            .log()
            .entries()
            .iter()
            .all(|e| { !e.path.contains("PutMetricAlarm") && !e.path.contains("DeleteAlarms") })
    );
    assert_eq!(
        emulator.snapshot().alarms,
        seed().alarms,
        "Observe changes nothing"
    );
}

#[tokio::test]
async fn enforce_puts_missing_and_drifted_alarms_and_removes_undeclared_only_when_told() {
    let (emulator, _running, aws) = start().await;
    let out = sync(
        &aws,
        &alarms_target(),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert_eq!(count(&emulator, "/cloudwatch/PutMetricAlarm"), 2);
    assert_eq!(count(&emulator, "/cloudwatch/DeleteAlarms"), 0);
    let state = emulator.snapshot();
    let rejected = state
        .alarms
        .iter()
        .find(|a| a.alarm_name == "rejected")
        .expect("kept");
    assert_eq!((rejected.period, rejected.threshold), (300, 1000.0));
    assert_eq!(rejected.alarm_actions, [SNS]);
    assert!(
        state
            .alarms
            .iter()
            .any(|a| a.alarm_name == "accepted-spike")
    );
    assert_eq!(
        state.alarms.len(),
        5,
        "undeclared alarms are reported, not deleted"
    );

    let out = sync(
        &aws,
        &alarms_target(),
        Mode::Enforce,
        UnmanagedPolicy::Remove,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert_eq!(count(&emulator, "/cloudwatch/DeleteAlarms"), 3);
    let names: Vec<String> = emulator
        .snapshot()
        .alarms
        .into_iter()
        .map(|a| a.alarm_name)
        .collect();
    assert_eq!(names, ["rejected", "accepted-spike"]);
}

#[tokio::test]
async fn security_groups_page_and_world_open_ingress_is_revoked() {
    let (emulator, _running, aws) = start().await;
    let fw = firewall(
        json!({"region": REGION, "findings": {"worldOpenIngress": "Forbid"},
        "securityGroups": [{"groupId": "sg-web", "ingress": [
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "10.0.0.0/8", "description": "https"}]}]}),
    );
    let observed = sync(&aws, &fw, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(observed.error.is_none(), "{:?}", observed.error);
    let paths: Vec<String> = drift(&observed).into_iter().map(|d| d.0).collect();
    assert_eq!(
        paths,
        [
            "securityGroups[sg-web].ingress[tcp:443:10.0.0.0/8].description",
            "findings[worldOpenIngress].openIngress",
        ]
    );
    let world: Vec<_> = observed
        .findings
        .iter()
        .filter(|f| f.code == "WorldOpenIngress")
        .collect();
    assert_eq!(world.len(), 1, "{:?}", observed.findings);
    assert!(world[0].message.contains("sgr-ssh"), "{}", world[0].message);
    // Six rules, two per page; of the four groups only the declared one is asked for (a
    // `group-id` filter), so one page.
    assert_eq!(count(&emulator, "/ec2/DescribeSecurityGroups"), 1);
    assert_eq!(count(&emulator, "/ec2/DescribeSecurityGroupRules"), 3);

    let out = sync(&aws, &fw, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.in_sync(), "{:?}", out.remaining);
    let web = emulator
        .snapshot()
        .security_groups
        .into_iter()
        .find(|g| g.group_id == "sg-web")
        .expect("web");
    assert!(
        web.ingress
            .iter()
            .all(|r| r.cidr_ipv4.as_deref() != Some("0.0.0.0/0")),
        "{:?}",
        web.ingress
    );
    let https = web
        .ingress
        .iter()
        .find(|r| r.from_port == Some(443))
        .expect("https");
    assert_eq!(https.description.as_deref(), Some("https"));
    assert_eq!(count(&emulator, "/ec2/RevokeSecurityGroupIngress"), 1);
    assert_eq!(count(&emulator, "/ec2/ModifySecurityGroupRules"), 1);
}

fn flow_log_target() -> Target {
    monitoring(json!({"region": REGION,
        "flowLogs": {"allVpcs": true, "trafficType": "ALL", "destinationType": "cloud-watch-logs",
            "destination": LOG_GROUP, "deliverLogsPermissionArn": ROLE},
        "guardDuty": {"enabled": true, "findingPublishingFrequency": "FIFTEEN_MINUTES"}}))
}

#[tokio::test]
async fn flow_logs_cover_every_vpc_in_one_call_and_guardduty_is_enabled() {
    let (emulator, _running, aws) = start().await;
    let out = sync(
        &aws,
        &flow_log_target(),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    let mut uncovered: Vec<&str> = out
        .findings
        .iter()
        .filter(|f| f.code == "VpcWithoutFlowLogs")
        .map(|f| f.subject.as_str())
        .collect();
    uncovered.sort_unstable();
    assert_eq!(uncovered, ["vpc-b", "vpc-c"]);
    let paths: Vec<String> = drift(&out).into_iter().map(|d| d.0).collect();
    assert_eq!(
        paths,
        [
            "flowLogs[allVpcs].vpcsWithoutFlowLog",
            "guardDuty[detector].enabled",
            "guardDuty[detector].findingPublishingFrequency"
        ]
    );
    assert_eq!(
        count(&emulator, "/ec2/DescribeVpcs"),
        2,
        "three VPCs, two per page"
    );

    let out = sync(
        &aws,
        &flow_log_target(),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert_eq!(count(&emulator, "/ec2/CreateFlowLogs"), 1);
    let state = emulator.snapshot();
    let mut covered: Vec<&str> = state
        .flow_logs
        .iter()
        .map(|f| f.resource_id.as_str())
        .collect();
    covered.sort_unstable();
    assert_eq!(covered, ["vpc-a", "vpc-b", "vpc-c"]);
    assert_eq!(state.detectors[0].status, "ENABLED");
    assert_eq!(
        state.detectors[0].finding_publishing_frequency,
        "FIFTEEN_MINUTES"
    );
    assert_eq!(count(&emulator, "/guardduty/UpdateDetector"), 1);
}

#[tokio::test]
async fn unsuccessful_flow_log_items_are_a_write_rejection_naming_the_vpc() {
    let (emulator, _running, aws) = start().await;
    emulator.refuse_flow_logs(
        "vpc-c",
        "FlowLogsLimitExceeded",
        "You have reached the limit for flow logs",
    );
    let out = sync(
        &aws,
        &flow_log_target(),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    let error = out.error.clone().expect("the write failed in part");
    assert_eq!(error.category, Category::WriteRejected);
    assert!(
        error.message.contains("vpc-c") && error.message.contains("FlowLogsLimitExceeded"),
        "{}",
        error.message
    );
    assert!(!out.in_sync());
    assert!(
        emulator
            .snapshot()
            .flow_logs
            .iter()
            .any(|f| f.resource_id == "vpc-b"),
        "the other VPC was covered"
    );
}

#[tokio::test]
async fn throttling_and_outages_leave_the_state_unknown_never_compliant() {
    let (emulator, _running, aws) = start().await;
    emulator.faults().inject(FaultRule::new(
        "/cloudwatch/DescribeAlarms",
        Fault::RateLimited {
            retry_after_secs: 0,
        },
    ));
    let out = sync(
        &aws,
        &alarms_target(),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    let error = out.error.as_ref().expect("throttled");
    assert_eq!(error.category, Category::Throttled, "{error:?}");
    assert!(out.remaining.is_none() && !out.in_sync());
    assert_eq!(count(&emulator, "/cloudwatch/PutMetricAlarm"), 0);
    assert_eq!(
        count(&emulator, "/cloudwatch/DescribeAlarms"),
        3,
        "the SDK's standard retry tries three times"
    );

    emulator.faults().clear();
    emulator.faults().inject(FaultRule::new(
        "/ec2/DescribeSecurityGroupRules",
        Fault::RateLimited {
            retry_after_secs: 0,
        },
    ));
    let fw = firewall(json!({"region": REGION, "findings": {"worldOpenIngress": "Forbid"}}));
    let out = sync(&aws, &fw, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::Throttled)
    );
    assert!(!out.in_sync());
    assert_eq!(count(&emulator, "/ec2/RevokeSecurityGroupIngress"), 0);

    emulator.faults().clear();
    emulator.faults().inject(FaultRule::new(
        "/guardduty/",
        Fault::ServerError { status: 500 },
    ));
    let out = sync(
        &aws,
        &flow_log_target(),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::ProviderError)
    );
    assert!(!out.in_sync());

    emulator.faults().clear();
    emulator
        .faults()
        .inject(FaultRule::new("/cloudwatch/", Fault::Malformed));
    let out = sync(
        &aws,
        &alarms_target(),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::BadResponse)
    );
}

#[tokio::test]
async fn an_unknown_access_key_is_rejected_in_every_protocol_without_the_secret() {
    let (emulator, running, _aws) = start().await;
    let stranger = client_with(&running, "AKIAUNKNOWNKEY000000").await;
    let verify = stranger.verify().await.expect_err("unknown key");
    assert_eq!(verify.category, Category::CredentialsRejected);
    assert!(verify.message.contains("AuthFailure"), "{}", verify.message);
    for target in [
        alarms_target(),
        flow_log_target(),
        monitoring(json!({"region": REGION, "guardDuty": {"enabled": true}})),
        firewall(
            json!({"region": REGION, "webAcls": [{"name": "edge", "scope": "REGIONAL",
            "defaultAction": "Allow", "rules": []}]}),
        ),
    ] {
        let out = sync(&stranger, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
        let error = out.error.clone().expect("rejected");
        assert_eq!(error.category, Category::CredentialsRejected, "{error:?}");
        assert!(!error.message.contains(SECRET_KEY), "{}", error.message);
        assert!(!out.in_sync());
    }
    assert!(emulator.log().entries().iter().all(|e| e.status >= 400));
}

/// The emulator knows the key's secret, so it checks every SigV4 signature the SDK makes (the
/// other tests prove the SDK's signatures verify in all four protocols); a right key id with a
/// wrong secret is refused.
#[tokio::test]
async fn a_wrong_secret_fails_the_signature_check_without_leaking_either_secret() {
    let (emulator, running, _aws) = start().await;
    let wrong = "not-the-secret-0123456789abcdefghijklmn";
    let forger = client_with_secret(&running, KEY_ID, wrong).await;
    let verify = forger.verify().await.expect_err("bad signature");
    assert_eq!(verify.category, Category::CredentialsRejected);
    assert!(
        verify.message.contains("SignatureDoesNotMatch"),
        "{}",
        verify.message
    );
    for target in [alarms_target(), flow_log_target()] {
        let out = sync(&forger, &target, Mode::Observe, UnmanagedPolicy::Report).await;
        let error = out.error.clone().expect("rejected");
        assert_eq!(error.category, Category::CredentialsRejected, "{error:?}");
        assert!(
            !error.message.contains(wrong) && !error.message.contains(SECRET_KEY),
            "{}",
            error.message
        );
    }
    assert!(emulator.log().entries().iter().all(|e| e.status == 403));
}

#[tokio::test]
async fn web_acls_are_created_then_written_whole_with_the_current_lock_token() {
    let (emulator, _running, aws) = start().await;
    let fw = firewall(
        json!({"region": REGION, "webAcls": [{"name": "edge", "scope": "REGIONAL",
        "defaultAction": "Block", "rules": [
        {"name": "flood", "priority": 1, "action": "Block", "statement": {"rateBased": {"limit": 1000}}},
        {"name": "common", "priority": 2, "statement": {"managedRuleGroup": {"vendorName": "AWS", "name": "AWSManagedRulesCommonRuleSet"}}}]}]}),
    );
    let out = sync(&aws, &fw, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert_eq!(count(&emulator, "/wafv2/CreateWebACL"), 1);
    let token = emulator.snapshot().web_acls[0].lock_token.clone();
    // Someone else writes: the token moves on; Perimeter reads it fresh before writing.
    emulator.touch_web_acl("edge");
    emulator.mutate(|s| s.web_acls[0].default_action = json!({"Allow": {}}));
    let out = sync(&aws, &fw, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert_eq!(count(&emulator, "/wafv2/UpdateWebACL"), 1);
    let acl = emulator.snapshot().web_acls[0].clone();
    assert_ne!(acl.lock_token, token);
    assert_eq!(acl.default_action, json!({"Block": {}}));
    assert_eq!(acl.rules.len(), 2);
}

/// Answers of the right protocol but the wrong shape (numbers that are not numbers, a list
/// that is a scalar) are `BadResponse`, whichever service sent them: never an empty, compliant
/// account.
#[tokio::test]
async fn wrongly_shaped_answers_are_bad_responses_in_every_protocol() {
    let (emulator, _running, aws) = start().await;
    let fw = firewall(json!({"region": REGION, "findings": {"worldOpenIngress": "Forbid"}}));
    // The groups are read only when the policy declares one.
    let group = firewall(json!({"region": REGION,
        "securityGroups": [{"groupId": "sg-web", "ingress": []}]}));
    for (path, target) in [
        ("/ec2/DescribeSecurityGroups", group),
        ("/ec2/DescribeSecurityGroupRules", fw.clone()),
        ("/ec2/DescribeVpcs", flow_log_target()),
        ("/ec2/DescribeFlowLogs", flow_log_target()),
        ("/guardduty/ListDetectors", flow_log_target()),
        ("/cloudwatch/DescribeAlarms", alarms_target()),
        (
            "/wafv2/ListWebACLs",
            firewall(
                json!({"region": REGION, "webAcls": [{"name": "edge", "scope": "REGIONAL",
                "defaultAction": "Allow", "rules": []}]}),
            ),
        ),
    ] {
        emulator.faults().clear();
        emulator
            .faults()
            .inject(FaultRule::new(path, Fault::WrongShape));
        let out = sync(&aws, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
        assert_eq!(
            out.error.as_ref().map(|e| e.category),
            Some(Category::BadResponse),
            "{path}: {:?}",
            out.error
        );
        assert!(!out.in_sync() && out.applied.is_empty(), "{path}");
    }
}

/// An answer slower than `requestTimeoutSeconds` is a `Timeout`, after the SDK's retries.
#[tokio::test]
async fn a_hanging_endpoint_times_out_and_the_state_is_unknown() {
    let (emulator, running, _aws) = start().await;
    let credential = SecretString::new(
        json!({"accessKeyId": KEY_ID, "secretAccessKey": SECRET_KEY}).to_string(),
    );
    let aws = Aws::connect(
        &spec_with_timeout(&running.base_url(), 1),
        Some(credential),
        None,
    )
    .await
    .expect("connect");
    emulator.faults().inject(FaultRule::new(
        "/cloudwatch/DescribeAlarms",
        Fault::Hang { millis: 1500 },
    ));
    let out = sync(
        &aws,
        &alarms_target(),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::Timeout),
        "{:?}",
        out.error
    );
    assert!(out.remaining.is_none() && out.applied.is_empty());
    assert_eq!(count(&emulator, "/cloudwatch/PutMetricAlarm"), 0);
}

/// Calls queued on the account's rate limit are not timed out while they wait: the
/// `requestTimeoutSeconds` of an attempt starts when the limiter lets it go. With one call a
/// second and a 1 s timeout, five concurrent reads that differ (so none shares another's
/// answer) wait up to 4 s in the queue; each is sent once and answered. (The SDK's own attempt
/// timeout counted the wait: the later ones timed out unsent, were retried and queued again.)
#[tokio::test]
async fn a_call_waiting_on_the_rate_limit_is_not_timed_out_by_the_wait() {
    let vpcs = ["vpc-a", "vpc-b", "vpc-c", "vpc-d", "vpc-e"];
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let (emulator, _running, aws) =
        nat_gateways_at_60_a_minute(&vpcs, 1, 1, Some(metrics.clone())).await;
    let sets: Vec<_> = vpcs
        .into_iter()
        .map(|vpc| nat_set(json!({"providerRef": {"name": "aws"}, "vpcIds": [vpc]})))
        .collect();
    let reads = sets
        .iter()
        .map(|set| perimeter::addressset::resolve(set, Some(&aws)));
    let results = futures::future::join_all(reads).await;
    for (i, result) in results.iter().enumerate() {
        assert!(result.is_ok(), "read {i}: {:?}", result.as_ref().err());
    }
    assert_eq!(count(&emulator, "/ec2/DescribeNatGateways"), 5);
    // Every attempt counted was sent and answered: none timed out in the queue.
    let attempts = metrics.provider_requests();
    assert!(
        attempts.iter().all(|(_, _, code, _)| code == "200"),
        "{attempts:?}"
    );
    let counted: u64 = attempts.iter().map(|(_, _, _, n)| n).sum();
    assert_eq!(counted, 5, "{attempts:?}");
}

/// The calls a sync reserved on the account's limit before it started (as the operator does)
/// are spent by the SDK's requests without waiting, and only by that sync: five reads on a
/// bucket of five at 60 a minute answer at once inside the reservation, while a read outside
/// it waits for the bucket to refill.
#[tokio::test]
async fn the_sdks_requests_spend_the_calls_their_sync_reserved() {
    use perimeter::http::ratelimit::{Reservation, Wake};
    let nobody: Wake = std::sync::Arc::new(|_| {});
    let vpcs = ["vpc-a", "vpc-b", "vpc-c", "vpc-d", "vpc-e", "vpc-f"];
    let (emulator, _running, aws) = nat_gateways_at_60_a_minute(&vpcs, 5, 5, None).await;
    let target = firewall(json!({"region": REGION, "findings": {"worldOpenIngress": "Forbid"}}));
    let limiters = aws.rate_limiters(&target);
    assert_eq!(limiters.len(), 1);
    let reserved = Reservation::take(&limiters, 5, "the sync", &nobody).expect("the burst is free");
    assert!(
        Reservation::take(&limiters, 1, "another", &nobody).is_err(),
        "the bucket is empty now"
    );
    let sets: Vec<_> = vpcs
        .iter()
        .map(|vpc| nat_set(json!({"providerRef": {"name": "aws"}, "vpcIds": [vpc]})))
        .collect();
    let started = std::time::Instant::now();
    let (inside, left) = reserved
        .scope(async {
            for set in &sets[..5] {
                perimeter::addressset::resolve(set, Some(&aws))
                    .await
                    .expect("read");
            }
            (
                started.elapsed(),
                perimeter::http::ratelimit::Reservation::left_in_scope(),
            )
        })
        .await;
    assert!(
        inside < std::time::Duration::from_millis(900),
        "five reserved reads took {inside:?}"
    );
    assert_eq!(left, Some(vec![0]), "all five spent");
    perimeter::addressset::resolve(&sets[5], Some(&aws))
        .await
        .expect("read");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "the sixth waited for the bucket: {:?}",
        started.elapsed()
    );
    assert_eq!(count(&emulator, "/ec2/DescribeNatGateways"), 6);
}

/// An emulator where each of `vpcs` has one available NAT gateway, and a client of it whose
/// attempts time out after `timeout` seconds, limited to 60 calls a minute with `burst`.
async fn nat_gateways_at_60_a_minute(
    vpcs: &[&str],
    timeout: u32,
    burst: u32,
    metrics: Option<Arc<Metrics>>,
) -> (AwsEmulator, RunningEmulator, Aws) {
    let mut s = seed();
    s.nat_gateways = serde_json::from_value(Value::Array(
        vpcs.iter()
            .enumerate()
            .map(|(i, vpc)| {
                json!({"natGatewayId": format!("nat-{i}"), "vpcId": vpc,
                       "addresses": [{"publicIp": format!("192.0.2.{i}")}]})
            })
            .collect(),
    ))
    .expect("gateways");
    let emulator = AwsEmulator::new(s);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let credential = SecretString::new(
        json!({"accessKeyId": KEY_ID, "secretAccessKey": SECRET_KEY}).to_string(),
    );
    let mut spec = spec_with_timeout(&running.base_url(), timeout);
    spec.rate_limit = Some(
        serde_json::from_value(json!({"requestsPerMinute": 60, "burst": burst})).expect("limit"),
    );
    let aws = Aws::connect(&spec, Some(credential), metrics)
        .await
        .expect("connect");
    (emulator, running, aws)
}

/// An `awsNatGateways` source over `DescribeNatGateways`, as an AddressSet resolves it.
fn nat_set(block: Value) -> perimeter::api::addressset::AddressSetSpec {
    serde_json::from_value(json!({"source": {"awsNatGateways": block}})).expect("set")
}

/// The Elastic IPs of the `available` NAT gateways, across pages (page size 2), of the VPCs
/// named; a gateway pending, deleting or failed is left out, and so is a private one (no
/// Elastic IP). A region the CloudProvider does not list is refused before any request.
#[tokio::test]
async fn nat_gateway_addresses_are_read_across_pages_and_only_from_available_gateways() {
    let mut s = seed();
    s.nat_gateways = serde_json::from_value(json!([
        {"natGatewayId": "nat-0a", "vpcId": "vpc-a", "subnetId": "subnet-1",
         "addresses": [{"publicIp": "203.0.113.10", "privateIp": "10.0.1.5"},
                       {"publicIp": "203.0.113.11", "privateIp": "10.0.1.6"}]},
        {"natGatewayId": "nat-0b", "vpcId": "vpc-a", "state": "pending",
         "addresses": [{"publicIp": "203.0.113.20"}]},
        {"natGatewayId": "nat-0c", "vpcId": "vpc-b", "state": "deleting",
         "addresses": [{"publicIp": "203.0.113.30"}]},
        {"natGatewayId": "nat-0d", "vpcId": "vpc-b", "state": "failed",
         "addresses": [{"publicIp": "203.0.113.40"}]},
        {"natGatewayId": "nat-0e", "vpcId": "vpc-b",
         "addresses": [{"publicIp": "198.51.100.7", "privateIp": "10.1.1.5"}]},
        {"natGatewayId": "nat-0f", "vpcId": "vpc-c", "connectivityType": "private",
         "addresses": [{"privateIp": "10.2.1.5"}]},
        {"natGatewayId": "nat-10", "vpcId": "vpc-c",
         "addresses": [{"publicIp": "192.0.2.50"}]}
    ]))
    .expect("gateways");
    let emulator = AwsEmulator::new(s);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let aws = client_with(&running, KEY_ID).await;
    let read = |block: Value| {
        let spec = nat_set(block);
        let aws = &aws;
        async move { perimeter::addressset::resolve(&spec, Some(aws)).await }
    };
    let all = read(json!({"providerRef": {"name": "aws"}})).await;
    assert_eq!(
        all.expect("resolved"),
        [
            "192.0.2.50/32",
            "198.51.100.7/32",
            "203.0.113.10/32",
            "203.0.113.11/32"
        ]
    );
    assert!(
        count(&emulator, "/ec2/DescribeNatGateways") >= 2,
        "paged: several calls"
    );
    let some = read(json!({"providerRef": {"name": "aws"}, "regions": [REGION],
                           "vpcIds": ["vpc-a", "vpc-b"]}))
    .await;
    assert_eq!(
        some.expect("resolved"),
        ["198.51.100.7/32", "203.0.113.10/32", "203.0.113.11/32"]
    );
    // The request names the filters EC2 documents (state and VPC).
    let last = emulator
        .log()
        .entries()
        .into_iter()
        .rev()
        .find(|r| r.path == "/ec2/DescribeNatGateways")
        .and_then(|r| r.body)
        .expect("a request");
    let values: Vec<&str> = last
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("Filter."))
        .filter_map(|(_, v)| v.as_str())
        .collect();
    for want in ["state", "available", "vpc-id", "vpc-a", "vpc-b"] {
        assert!(values.contains(&want), "{want} in {values:?}");
    }

    let before = count(&emulator, "/ec2/DescribeNatGateways");
    let e = read(json!({"providerRef": {"name": "aws"}, "regions": ["us-east-1"]}))
        .await
        .expect_err("not the account's region");
    assert_eq!(e.reason, "SourceUnreadable");
    assert!(
        e.message.contains("spec.source.awsNatGateways.regions[0]"),
        "{}",
        e.message
    );
    assert_eq!(count(&emulator, "/ec2/DescribeNatGateways"), before);
}

/// No NAT gateway is `Empty`; an outage, throttling or a malformed or wrongly shaped answer
/// leaves the set not Ready with the reason, never a shorter list; the key never shows.
#[tokio::test]
async fn nat_gateway_reads_that_fail_or_find_nothing_leave_the_set_not_ready() {
    let (emulator, _running, aws) = start().await;
    let spec = nat_set(json!({"providerRef": {"name": "aws"}}));
    let e = perimeter::addressset::resolve(&spec, Some(&aws))
        .await
        .expect_err("no gateway");
    assert_eq!(e.reason, "Empty", "{}", e.message);
    emulator.mutate(|s| {
        s.nat_gateways = serde_json::from_value(json!([
            {"natGatewayId": "nat-0a", "vpcId": "vpc-a", "state": "available",
             "addresses": [{"publicIp": "203.0.113.10"}]}
        ]))
        .expect("gateway");
    });
    assert_eq!(
        perimeter::addressset::resolve(&spec, Some(&aws)).await,
        Ok(vec!["203.0.113.10/32".to_string()])
    );
    let faults = [
        (Fault::ServerError { status: 503 }, "ProviderError"),
        (Fault::Malformed, "BadResponse"),
        (Fault::WrongShape, "BadResponse"),
        (
            Fault::RateLimited {
                retry_after_secs: 0,
            },
            "Throttled",
        ),
    ];
    for (fault, category) in faults {
        emulator.faults().clear();
        emulator
            .faults()
            .inject(FaultRule::new("/ec2/DescribeNatGateways", fault.clone()));
        let e = perimeter::addressset::resolve(&spec, Some(&aws))
            .await
            .expect_err("fault");
        assert_eq!(e.reason, "SourceUnreadable", "{fault:?}");
        let direct = aws
            .source_addresses(spec.source.as_ref().expect("source"))
            .await
            .expect_err("fault");
        assert_eq!(direct.category.reason(), category, "{fault:?}: {direct}");
        assert!(
            !e.message.contains(SECRET_KEY) && !e.message.contains(KEY_ID),
            "{}",
            e.message
        );
    }
}

/// The inventory lists every VPC and security group of the region across pages (page size
/// 2 here), each group with its VPC and each VPC with its network ACLs (so a block that
/// manages only an ACL covers its VPC); a throttled or failing list is an error of its
/// category, never a shorter list.
#[tokio::test]
async fn inventory_lists_vpcs_and_security_groups_across_pages() {
    let (emulator, _running, aws) = start().await;
    let assets = aws
        .inventory()
        .await
        .expect("read")
        .expect("AWS lists its assets");
    let of = |kind: &str| -> Vec<(String, Option<String>)> {
        assets
            .iter()
            .filter(|a| a.kind == kind)
            .map(|a| (a.name.clone(), a.parent.clone()))
            .collect()
    };
    assert_eq!(
        of("vpc"),
        [
            ("vpc-a".to_string(), None),
            ("vpc-b".to_string(), None),
            ("vpc-c".to_string(), None)
        ]
    );
    let groups = of("securityGroup");
    assert_eq!(groups.len(), 4, "{groups:?}");
    assert!(groups.contains(&("web".to_string(), Some("vpc-a".to_string()))));
    assert!(assets.iter().all(|a| a.region.as_deref() == Some(REGION)));
    assert_eq!(count(&emulator, "/ec2/DescribeVpcs"), 2, "two pages of two");
    assert_eq!(count(&emulator, "/ec2/DescribeSecurityGroups"), 2);
    assert_eq!(count(&emulator, "/ec2/DescribeNetworkAcls"), 2);
    let acl_only: AwsFirewall = serde_json::from_value(json!({"region": REGION,
        "networkAcls": [{"networkAclId": "acl-c", "entries": []}]}))
    .expect("block");
    let covered: Vec<&str> = assets
        .iter()
        .filter(|a| perimeter::providers::aws::inventory::covers(&acl_only, a, &assets))
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(covered, ["vpc-c"], "the ACL's VPC, read across pages");

    for (path, fault, category) in [
        (
            "/ec2/DescribeVpcs",
            Fault::RateLimited {
                retry_after_secs: 0,
            },
            Category::Throttled,
        ),
        (
            "/ec2/DescribeSecurityGroups",
            Fault::ServerError { status: 500 },
            Category::ProviderError,
        ),
        (
            "/ec2/DescribeNetworkAcls",
            Fault::ServerError { status: 500 },
            Category::ProviderError,
        ),
    ] {
        emulator.faults().clear();
        emulator.faults().inject(FaultRule::new(path, fault));
        let e = aws.inventory().await.expect_err("unreadable");
        assert_eq!(e.category, category, "{path}: {e}");
        assert!(e.message.contains(REGION), "{path}: {e}");
        assert!(!e.to_string().contains(SECRET_KEY));
    }
}

// ---- drift attribution from CloudTrail ----------------------------------------------------

const SSO_ROLE: &str = "AWSReservedSSO_Admin_0a1b2c3d4e5f6a7b";
const SSO_SHOWN: &str = "AWSReservedSSO_Admin";

/// The web group's firewall: HTTPS from 10/8 described `https`, nothing open to the world.
fn web_firewall(description: &str) -> Target {
    firewall(
        json!({"region": REGION, "findings": {"worldOpenIngress": "Forbid"},
        "securityGroups": [{"groupId": "sg-web", "ingress": [
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "10.0.0.0/8",
             "description": description}]}]}),
    )
}

/// What CloudTrail records of a console edit opening SSH on the web group to the world.
fn ssh_opened_in_console(who: &str, seconds_ago: i64) -> perimeter_emulators::aws::TrailEvent {
    perimeter_emulators::aws::console_change(
        who,
        SSO_ROLE,
        "ec2",
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": "sg-web", "ipPermissions": {"items": [{"ipProtocol": "tcp",
            "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
        seconds_ago,
    )
}

fn changed_by(out: &perimeter::reconcile::SyncOutcome, path: &str) -> Option<(String, bool)> {
    out.attribution
        .as_ref()
        .and_then(|a| a.get(path))
        .map(|a| (a.by.clone(), a.perimeter))
}

/// Edits made in the console are attributed to the person CloudTrail names, with how; a
/// change CloudTrail files under the group's id (a rule modified by id) names the group's
/// rules as a whole, and says so.
#[tokio::test]
async fn drift_is_attributed_to_the_person_cloudtrail_names() {
    let (emulator, _running, aws) = start().await;
    emulator.mutate(|seed| {
        seed.cloud_trail
            .push(ssh_opened_in_console("dana@example.com", 3600));
        seed.cloud_trail
            .push(perimeter_emulators::aws::console_change(
                "lee@example.com",
                SSO_ROLE,
                "ec2",
                "ModifySecurityGroupRules",
                json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-web",
                    "SecurityGroupRule": {"SecurityGroupRuleId": "sgr-x", "SecurityGroupRule": {
                        "Description": "old"}}}}),
                1800,
            ));
        // Another group's change names nothing of this policy.
        seed.cloud_trail
            .push(perimeter_emulators::aws::console_change(
                "zed@example.com",
                SSO_ROLE,
                "ec2",
                "RevokeSecurityGroupIngress",
                json!({"groupId": "sg-other"}),
                60,
            ));
    });
    let out = sync(
        &aws,
        &web_firewall("https"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(
        changed_by(&out, "findings[worldOpenIngress].openIngress"),
        Some((format!("dana@example.com ({SSO_SHOWN}) via console"), false))
    );
    assert_eq!(
        changed_by(
            &out,
            "securityGroups[sg-web].ingress[tcp:443:10.0.0.0/8].description"
        ),
        Some((
            format!(
                "lee@example.com ({SSO_SHOWN}) via console (last change to securityGroups[sg-web].ingress)"
            ),
            false
        ))
    );
    let by = out.attribution.as_ref().expect("attributed");
    assert_eq!(
        by.summary,
        "2 of 2 drifted field(s) attributed from AWS CloudTrail event history (last 7 days)"
    );
    // One lookup by the group's id, one by event name for the region's world-open finding.
    let lookups = emulator.log().entries();
    let lookups: Vec<&Value> = lookups
        .iter()
        .filter(|e| e.path == "/cloudtrail/LookupEvents")
        .filter_map(|e| e.body.as_ref())
        .collect();
    assert_eq!(lookups.len(), 2, "{lookups:?}");
    assert!(lookups.iter().all(|b| {
        b["MaxResults"] == json!(50)
            && b["LookupAttributes"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
            && b["StartTime"].is_number()
    }));
}

/// Perimeter's own write, then a person's: the person's is the newest and is the one named;
/// Perimeter's write is never blamed on anyone.
#[tokio::test]
async fn a_persons_change_after_perimeters_write_is_the_persons() {
    let (emulator, _running, aws) = start().await;
    let out = sync(
        &aws,
        &web_firewall("https"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    let written = emulator.snapshot().cloud_trail;
    assert!(
        written
            .iter()
            .any(|e| e.event_name == "RevokeSecurityGroupIngress"),
        "the emulator records Perimeter's writes: {written:?}"
    );
    // Perimeter's writes ten minutes ago; then someone re-opens SSH in the console.
    emulator.mutate(|seed| {
        for e in &mut seed.cloud_trail {
            let earlier = e
                .event_time
                .parse::<jiff::Timestamp>()
                .map(|t| t - jiff::SignedDuration::from_secs(600))
                .expect("stamped")
                .to_string();
            e.record["eventTime"] = json!(earlier);
            e.event_time = earlier;
        }
        if let Some(web) = seed
            .security_groups
            .iter_mut()
            .find(|g| g.group_id == "sg-web")
        {
            web.ingress.push(perimeter_emulators::aws::SgRule {
                protocol: "tcp".into(),
                from_port: Some(22),
                to_port: Some(22),
                cidr_ipv4: Some("0.0.0.0/0".into()),
                ..Default::default()
            });
        }
        seed.cloud_trail
            .push(ssh_opened_in_console("dana@example.com", 60));
    });
    let out = sync(
        &aws,
        &web_firewall("https"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        changed_by(&out, "findings[worldOpenIngress].openIngress"),
        Some((format!("dana@example.com ({SSO_SHOWN}) via console"), false))
    );
}

/// A change only Perimeter made is Perimeter's, even though CloudTrail names the key's owner
/// (a person) as the caller; a client that did not make it (another process, a restart) sees
/// what CloudTrail says: the key's owner, through the API.
#[tokio::test]
async fn a_perimeter_only_change_is_perimeters_never_the_key_owners() {
    let mut seed = seed();
    seed.access_keys[0].user_name = Some("dana-admin".into());
    let emulator = AwsEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let aws = client_with(&running, KEY_ID).await;
    let out = sync(
        &aws,
        &web_firewall("https"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    let modified = emulator
        .snapshot()
        .cloud_trail
        .into_iter()
        .find(|e| e.event_name == "ModifySecurityGroupRules")
        .expect("recorded");
    assert_eq!(
        modified.username, "dana-admin",
        "CloudTrail names the key's owner"
    );
    // The policy changes its mind: what Perimeter wrote is now drift, and Perimeter's own.
    let path = "securityGroups[sg-web].ingress[tcp:443:10.0.0.0/8].description";
    let out = sync(
        &aws,
        &web_firewall("web"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        changed_by(&out, path),
        Some((
            "Perimeter (last change to securityGroups[sg-web].ingress)".to_string(),
            true
        ))
    );
    let fresh = client_with(&running, KEY_ID).await;
    let out = sync(
        &fresh,
        &web_firewall("web"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        changed_by(&out, path),
        Some((
            "dana-admin via API (last change to securityGroups[sg-web].ingress)".to_string(),
            false
        ))
    );
}

/// Without `cloudtrail:LookupEvents` (or with CloudTrail throttling or down) the drift is
/// still read and reported, unattributed, the reason naming the permission; the secret is
/// never quoted.
#[tokio::test]
async fn no_lookup_permission_leaves_drift_unattributed_and_the_sync_whole() {
    let mut seed = seed();
    seed.access_keys[0].denied = vec!["cloudtrail:LookupEvents".into()];
    let emulator = AwsEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let aws = client_with(&running, KEY_ID).await;
    let out = sync(
        &aws,
        &web_firewall("https"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(drift(&out).len(), 2, "the drift is read and reported");
    let by = out.attribution.as_ref().expect("said why");
    assert!(by.by_path.is_empty());
    assert!(
        by.summary
            .starts_with("unattributed: the audit log could not be read")
            && by.summary.contains("AccessDeniedException")
            && by
                .summary
                .contains("the credential needs cloudtrail:LookupEvents"),
        "{}",
        by.summary
    );
    assert!(!by.summary.contains(SECRET_KEY));
    // Enforce still writes: attribution never stops the sync.
    let out = sync(
        &aws,
        &web_firewall("https"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "{:?}", out.remaining);

    let (emulator, _running, aws) = start().await;
    for fault in [
        Fault::ServerError { status: 503 },
        Fault::RateLimitedSilently,
    ] {
        emulator.faults().clear();
        emulator
            .faults()
            .inject(FaultRule::new("/cloudtrail/LookupEvents", fault).times(10));
        let out = sync(
            &aws,
            &web_firewall("https"),
            Mode::Observe,
            UnmanagedPolicy::Report,
        )
        .await;
        assert!(out.error.is_none(), "{:?}", out.error);
        assert_eq!(drift(&out).len(), 2);
        let by = out.attribution.as_ref().expect("said why");
        assert!(by.summary.starts_with("unattributed"), "{}", by.summary);
    }
}

/// Issue 14, "policies sharing an account+region share its reads": five policies on one
/// account and region observed at once read the account's rule listing once (three pages),
/// not five times; within the window a later policy's read is shared too, and a policy's
/// Enforce write ends that, so the next policy sees what was written.
#[tokio::test]
async fn policies_on_one_account_and_region_share_the_rule_listing() {
    let emulator = AwsEmulator::new(seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let (aws, metrics) = sharing_client(&running, 600).await;
    let findings_only =
        firewall(json!({"region": REGION, "findings": {"worldOpenIngress": "Forbid"}}));
    let web = |description: &str| {
        firewall(
            json!({"region": REGION, "findings": {"worldOpenIngress": "Forbid"},
            "securityGroups": [{"groupId": "sg-web", "ingress": [
                {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "10.0.0.0/8", "description": description}]}]}),
        )
    };
    let policies = [
        findings_only.clone(),
        findings_only.clone(),
        findings_only.clone(),
        web("https"),
        web("old"),
    ];
    let outcomes = futures::future::join_all(
        policies
            .iter()
            .map(|p| sync(&aws, p, Mode::Observe, UnmanagedPolicy::Report)),
    )
    .await;
    for out in &outcomes {
        assert!(out.error.is_none(), "{:?}", out.error);
        assert!(
            out.findings.iter().any(|f| f.code == "WorldOpenIngress"),
            "{:?}",
            out.findings
        );
    }
    // Six rules, two a page: one listing for the five policies.
    assert_eq!(count(&emulator, "/ec2/DescribeSecurityGroupRules"), 3);
    // The two policies naming sg-web ask the same filtered question: once.
    assert_eq!(count(&emulator, "/ec2/DescribeSecurityGroups"), 1);
    let shared = metrics
        .provider_requests_shared_total
        .with_label_values(&["aws", "DescribeSecurityGroupRules"])
        .get();
    assert_eq!(shared, 12, "four sharers, three pages");
    let sent = metrics
        .provider_requests_total
        .with_label_values(&["aws", "DescribeSecurityGroupRules", "200"])
        .get();
    assert_eq!(sent, 3, "a shared answer is not counted as a request");

    // Within the window, a later policy's read is shared as well.
    let later = sync(&aws, &findings_only, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(later.error.is_none(), "{:?}", later.error);
    assert_eq!(count(&emulator, "/ec2/DescribeSecurityGroupRules"), 3);

    // One policy enforces (revoking the world-open SSH rule): the next policy reads fresh.
    let enforced = sync(&aws, &web("https"), Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(enforced.in_sync(), "{:?}", enforced.remaining);
    assert_eq!(count(&emulator, "/ec2/RevokeSecurityGroupIngress"), 1);
    let next = sync(&aws, &findings_only, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(next.error.is_none(), "{:?}", next.error);
    assert!(
        next.findings.iter().all(|f| f.code != "WorldOpenIngress"),
        "the revoked rule is gone for the next policy: {:?}",
        next.findings
    );
    assert!(count(&emulator, "/ec2/DescribeSecurityGroupRules") > 3);
}

/// An account's client whose reads are kept for `window` (the operator's `--share-reads-for`).
async fn sharing_client(running: &RunningEmulator, window: u64) -> (Aws, Arc<Metrics>) {
    let credential = SecretString::new(
        json!({"accessKeyId": KEY_ID, "secretAccessKey": SECRET_KEY}).to_string(),
    );
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let aws = Aws::connect_sharing(
        &spec(&running.base_url()),
        Some(credential),
        Some(metrics.clone()),
        std::time::Duration::from_secs(window),
    )
    .await
    .expect("connect");
    (aws, metrics)
}

fn attributed(out: &perimeter::reconcile::SyncOutcome) -> Vec<(String, String, bool, bool)> {
    out.attribution
        .as_ref()
        .map(|a| {
            a.by_path
                .iter()
                .map(|(p, a)| (p.clone(), a.by.clone(), a.perimeter, a.whole_section))
                .collect()
        })
        .unwrap_or_default()
}

/// The (attribute, value) each `LookupEvents` after the first `from` asked, first pages only.
fn lookups_asked(emulator: &AwsEmulator, from: usize) -> Vec<(String, String)> {
    emulator
        .log()
        .entries()
        .iter()
        .filter(|e| e.path == "/cloudtrail/LookupEvents")
        .skip(from)
        .filter_map(|e| e.body.as_ref())
        .filter(|b| b.get("NextToken").is_none())
        .map(|b| {
            let a = &b["LookupAttributes"][0];
            (
                a["AttributeKey"].as_str().unwrap_or_default().to_string(),
                a["AttributeValue"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Issue 14: CloudTrail answers two lookups a second per account and region. Policies sharing
/// an account read its security-group changes from listings by event name, one per name for
/// all of them, and each finds exactly what looking its own groups up one by one finds.
#[tokio::test]
async fn policies_on_one_account_share_cloudtrail_listings_and_attribute_alike() {
    let emulator = AwsEmulator::new(seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let groups = emulator.snapshot().security_groups;
    let id = |vpc: &str, name: &str| {
        groups
            .iter()
            .find(|g| g.vpc_id == vpc && g.group_name == name)
            .map(|g| g.group_id.clone())
            .expect("group")
    };
    let (db, default_b) = (id("vpc-a", "db"), id("vpc-b", "default"));
    let https_out = json!({"items": [{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]});
    emulator.mutate(|seed| {
        let change = |who: &str, name: &str, params: Value, ago: i64| {
            perimeter_emulators::aws::console_change(who, SSO_ROLE, "ec2", name, params, ago)
        };
        seed.cloud_trail
            .push(ssh_opened_in_console("dana@example.com", 3600));
        // The rules the policies declare were revoked: by lee on the db group, by zed on
        // vpc-b's default group.
        seed.cloud_trail.push(change(
            "lee@example.com",
            "RevokeSecurityGroupIngress",
            json!({"groupId": db, "ipPermissions": {"items": [{"ipProtocol": "tcp",
                "fromPort": 5433, "toPort": 5433, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/16"}]}}]}}),
            1800,
        ));
        seed.cloud_trail.push(change(
            "zed@example.com",
            "RevokeSecurityGroupEgress",
            json!({"groupId": default_b, "ipPermissions": https_out}),
            600,
        ));
        // Changes to groups no policy names, in every listing.
        for name in [
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupIngress",
            "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupEgress",
        ] {
            seed.cloud_trail.push(change(
                "kim@example.com",
                name,
                json!({"groupId": "sg-other"}),
                60,
            ));
        }
        seed.cloud_trail.push(change(
            "kim@example.com",
            "ModifySecurityGroupRules",
            json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-other"}}),
            60,
        ));
    });
    let ingress = |group: &str, port: u16, cidr: &str| {
        firewall(
            json!({"region": REGION, "securityGroups": [{"groupId": group, "ingress": [
            {"protocol": "tcp", "fromPort": port, "toPort": port, "cidr": cidr}]}]}),
        )
    };
    let egress_https = |group: &str| {
        firewall(
            json!({"region": REGION, "securityGroups": [{"groupId": group, "egress": [
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "0.0.0.0/0"}]}]}),
        )
    };
    let policies = [
        web_firewall("https"),
        web_firewall("old"),
        ingress(&db, 5433, "10.0.0.0/16"),
        egress_https(&default_b),
        egress_https(&id("vpc-c", "default")),
    ];

    // Looked up one by one (a client that keeps nothing, as `check`): the reference.
    let alone = client_with(&running, KEY_ID).await;
    let mut one_by_one = Vec::new();
    for p in &policies {
        let out = sync(&alone, p, Mode::Observe, UnmanagedPolicy::Report).await;
        assert!(out.error.is_none(), "{:?}", out.error);
        one_by_one.push(attributed(&out));
    }
    let lookups_alone = count(&emulator, "/cloudtrail/LookupEvents");
    // Four groups by id and the findings' event name, for each policy that drifted.
    assert!(lookups_alone >= 6, "{lookups_alone}");
    let named: Vec<&str> = one_by_one
        .iter()
        .flatten()
        .map(|(_, by, _, _)| by.as_str())
        .collect();
    for who in ["dana@example.com", "lee@example.com", "zed@example.com"] {
        assert!(
            named.iter().any(|n| n.starts_with(who)),
            "{who} in {one_by_one:?}"
        );
    }
    assert!(
        !named.iter().any(|n| n.starts_with("kim@")),
        "{one_by_one:?}"
    );

    // Shared, all at once: one listing per event name for the five policies.
    let (aws, metrics) = sharing_client(&running, 600).await;
    let outcomes = futures::future::join_all(
        policies
            .iter()
            .map(|p| sync(&aws, p, Mode::Observe, UnmanagedPolicy::Report)),
    )
    .await;
    for (out, want) in outcomes.iter().zip(&one_by_one) {
        assert!(out.error.is_none(), "{:?}", out.error);
        assert_eq!(&attributed(out), want);
    }
    let mut asked = lookups_asked(&emulator, lookups_alone);
    asked.sort_unstable();
    let by_name = |n: &str| ("EventName".to_string(), n.to_string());
    assert_eq!(
        asked,
        [
            by_name("AuthorizeSecurityGroupEgress"),
            by_name("AuthorizeSecurityGroupIngress"),
            by_name("ModifySecurityGroupRules"),
            by_name("RevokeSecurityGroupEgress"),
            by_name("RevokeSecurityGroupIngress"),
        ],
        "one lookup per event name, none by group"
    );
    assert_eq!(
        count(&emulator, "/cloudtrail/LookupEvents"),
        lookups_alone + 5
    );
    assert!(
        metrics
            .provider_requests_shared_total
            .with_label_values(&["aws", "LookupEvents"])
            .get()
            > 0
    );

    // Within the window a later policy reads nothing more; a write through the account does not
    // end it (CloudTrail would not have the write's event yet either).
    let before = count(&emulator, "/cloudtrail/LookupEvents");
    let enforced = sync(&aws, &policies[2], Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(enforced.in_sync(), "{:?}", enforced.remaining);
    let later = sync(&aws, &policies[0], Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(attributed(&later), one_by_one[0]);
    assert_eq!(count(&emulator, "/cloudtrail/LookupEvents"), before);
}

/// A listing cut short (more events of its name than `MAX_PAGES` pages hold) is not taken for
/// the whole history: the policy's groups are looked up one by one as well, so an older change
/// is still found; and the region is looked up one by one for a while, not listed again.
#[tokio::test]
async fn a_listing_cut_short_falls_back_to_lookups_by_group() {
    let emulator = AwsEmulator::new(seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    emulator.mutate(|seed| {
        seed.cloud_trail.push(perimeter_emulators::aws::console_change(
            "lee@example.com",
            SSO_ROLE,
            "ec2",
            "RevokeSecurityGroupIngress",
            json!({"groupId": "sg-web", "ipPermissions": {"items": [{"ipProtocol": "tcp",
                "fromPort": 443, "toPort": 443, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}}),
            7200,
        ));
        // Newer revocations elsewhere: four pages of 50 do not reach lee's.
        for i in 0..210 {
            seed.cloud_trail
                .push(perimeter_emulators::aws::console_change(
                    "kim@example.com",
                    SSO_ROLE,
                    "ec2",
                    "RevokeSecurityGroupIngress",
                    json!({"groupId": format!("sg-noise{i}")}),
                    60,
                ));
        }
    });
    let path = "securityGroups[sg-web].ingress[tcp:443:10.0.0.0/8].description";
    let (aws, _metrics) = sharing_client(&running, 600).await;
    let lee = Some((format!("lee@example.com ({SSO_SHOWN}) via console"), false));
    let web = web_firewall("https");
    let attributed = || async {
        let out = sync(&aws, &web, Mode::Observe, UnmanagedPolicy::Report).await;
        assert!(out.error.is_none(), "{:?}", out.error);
        changed_by(&out, path)
    };
    assert_eq!(attributed().await, lee);
    let first = lookups_asked(&emulator, 0);
    assert!(
        first.contains(&("ResourceName".into(), "sg-web".into())),
        "{first:?}"
    );
    // Revocations: four pages, then cut short.
    assert_eq!(count(&emulator, "/cloudtrail/LookupEvents"), 1 + 4 + 1 + 1);

    // The region is busy: the next policy looks its group up by id again, though the listings
    // are still kept.
    let before = count(&emulator, "/cloudtrail/LookupEvents");
    assert_eq!(attributed().await, lee);
    let next = lookups_asked(&emulator, before);
    assert_eq!(
        next.iter().filter(|(k, _)| k == "ResourceName").count(),
        1,
        "{next:?}"
    );
}
