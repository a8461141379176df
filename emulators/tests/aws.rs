//! Behaviour of the AWS emulator over real HTTP, one protocol at a time: SigV4 key checks and
//! each protocol's auth error, EC2 XML and paging, CloudWatch CBOR, WAFv2 lock tokens, GuardDuty
//! REST paths, fault injection by operation, the request log.

use perimeter_emulators::aws::{AwsEmulator, Seed, cbor};
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::server::RunningEmulator;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const KEY: &str = "AKIDEXAMPLE";

fn seed() -> Seed {
    serde_json::from_value(json!({
        "accessKeys": [{"accessKeyId": KEY}],
        "pageSize": 2,
        "vpcs": [{"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/16"},
                 {"vpcId": "vpc-2", "cidrBlock": "10.1.0.0/16"},
                 {"vpcId": "vpc-3", "cidrBlock": "10.2.0.0/16"}],
        "securityGroups": [{"groupId": "sg-1", "groupName": "web", "vpcId": "vpc-1",
            "ingress": [{"ruleId": "sgr-1", "protocol": "6", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}]}],
        "networkAcls": [{"networkAclId": "acl-1", "vpcId": "vpc-1",
            "entries": [{"ruleNumber": 100, "protocol": "all", "ruleAction": "allow", "cidrBlock": "0.0.0.0/0"}]}],
        "detectors": [{"detectorId": "d1", "status": "DISABLED"}],
        "ipSets": [{"name": "office", "id": "set-1", "addresses": ["198.51.100.0/24"], "lockToken": "t1"}],
        "alarms": [{"alarmName": "a", "namespace": "N", "metricName": "M", "statistic": "Sum",
            "period": 60, "evaluationPeriods": 1, "threshold": 5, "comparisonOperator": "GreaterThanThreshold"}]
    }))
    .expect("seed")
}

async fn start() -> (AwsEmulator, RunningEmulator) {
    let emulator = AwsEmulator::new(seed());
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    (emulator, running)
}

fn auth(key: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20260101/eu-west-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
    )
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("answer");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn ec2(running: &RunningEmulator, key: Option<&str>, form: &str) -> Answer {
    let mut req = reqwest::Client::new()
        .post(format!("{}/", running.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{form}&Version=2016-11-15"));
    if let Some(key) = key {
        req = req.header("authorization", auth(key, "ec2"));
    }
    send(req).await
}

async fn cloudwatch(running: &RunningEmulator, op: &str, input: &Value) -> Answer {
    let req = reqwest::Client::new()
        .post(format!(
            "{}/service/GraniteServiceVersion20100801/operation/{op}",
            running.base_url()
        ))
        .header("smithy-protocol", "rpc-v2-cbor")
        .header("content-type", "application/cbor")
        .header("authorization", auth(KEY, "monitoring"))
        .body(cbor::encode(input));
    send(req).await
}

async fn waf(running: &RunningEmulator, op: &str, input: &Value) -> Answer {
    let req = reqwest::Client::new()
        .post(format!("{}/", running.base_url()))
        .header("x-amz-target", format!("AWSWAF_20190729.{op}"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("authorization", auth(KEY, "wafv2"))
        .body(input.to_string());
    send(req).await
}

#[tokio::test]
async fn ec2_needs_a_known_access_key_and_answers_auth_failure_in_xml() {
    let (_e, running) = start().await;
    for key in [None, Some("AKIDUNKNOWN")] {
        let a = ec2(&running, key, "Action=DescribeVpcs").await;
        assert_eq!(a.status, 401);
        let text = a.text();
        assert!(
            text.contains("<Response><Errors><Error><Code>AuthFailure</Code>"),
            "{text}"
        );
    }
    let a = ec2(&running, Some(KEY), "Action=DescribeVpcs").await;
    assert_eq!(a.status, 200);
    let text = a.text();
    assert!(
        text.contains(r#"<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">"#),
        "{text}"
    );
    assert!(
        text.contains("<vpcSet><item><vpcId>vpc-1</vpcId>"),
        "{text}"
    );
    let a = ec2(&running, Some(KEY), "Action=RunInstances").await;
    assert_eq!(a.status, 400);
    assert!(a.text().contains("<Code>InvalidAction</Code>"));
}

#[tokio::test]
async fn ec2_lists_page_with_next_token_and_refuse_foreign_tokens() {
    let (_e, running) = start().await;
    let first = ec2(&running, Some(KEY), "Action=DescribeVpcs").await.text();
    assert!(first.contains("vpc-1") && first.contains("vpc-2") && !first.contains("vpc-3"));
    assert!(first.contains("<nextToken>page-2</nextToken>"), "{first}");
    let second = ec2(&running, Some(KEY), "Action=DescribeVpcs&NextToken=page-2")
        .await
        .text();
    assert!(
        second.contains("vpc-3") && !second.contains("nextToken"),
        "{second}"
    );
    let bad = ec2(&running, Some(KEY), "Action=DescribeVpcs&NextToken=xyz").await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("InvalidNextToken"));
    let small = ec2(&running, Some(KEY), "Action=DescribeVpcs&MaxResults=4").await;
    assert!(small.text().contains("InvalidParameterValue"));
}

#[tokio::test]
async fn security_group_rules_are_authorized_once_and_revoked_by_id() {
    let (e, running) = start().await;
    let add = "Action=AuthorizeSecurityGroupIngress&GroupId=sg-1&IpPermissions.1.IpProtocol=tcp\
        &IpPermissions.1.FromPort=443&IpPermissions.1.ToPort=443\
        &IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0%2F8&IpPermissions.1.IpRanges.1.Description=https+in";
    let a = ec2(&running, Some(KEY), add).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(
        a.text()
            .contains("<return>true</return><securityGroupRuleSet><item><securityGroupRuleId>sgr-")
    );
    let again = ec2(&running, Some(KEY), add).await;
    assert!(again.text().contains("InvalidPermission.Duplicate"));
    let rules = &e.snapshot().security_groups[0].ingress;
    assert_eq!(rules[0].protocol, "tcp", "6 is shown as tcp");
    assert_eq!(rules[1].cidr_ipv4.as_deref(), Some("10.0.0.0/8"));
    assert_eq!(rules[1].description.as_deref(), Some("https in"));

    let gone = ec2(
        &running,
        Some(KEY),
        "Action=RevokeSecurityGroupIngress&GroupId=sg-1&SecurityGroupRuleId.1=sgr-nope",
    )
    .await;
    assert!(gone.text().contains("InvalidSecurityGroupRuleId.NotFound"));
    let ok = ec2(
        &running,
        Some(KEY),
        "Action=RevokeSecurityGroupIngress&GroupId=sg-1&SecurityGroupRuleId.1=sgr-1",
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(e.snapshot().security_groups[0].ingress.len(), 1);
}

#[tokio::test]
async fn network_acl_entries_keep_protocol_numbers_and_the_fixed_default() {
    let (e, running) = start().await;
    let create = "Action=CreateNetworkAclEntry&NetworkAclId=acl-1&RuleNumber=90&Egress=false\
        &Protocol=tcp&RuleAction=deny&CidrBlock=0.0.0.0%2F0&PortRange.From=3389&PortRange.To=3389";
    assert_eq!(ec2(&running, Some(KEY), create).await.status, 200);
    assert!(
        ec2(&running, Some(KEY), create)
            .await
            .text()
            .contains("NetworkAclEntryAlreadyExists")
    );
    let text = ec2(
        &running,
        Some(KEY),
        "Action=DescribeNetworkAcls&NetworkAclId.1=acl-1",
    )
    .await
    .text();
    assert!(
        text.contains(
            "<ruleNumber>90</ruleNumber><protocol>6</protocol><ruleAction>deny</ruleAction>"
        ),
        "{text}"
    );
    assert!(text.contains("<portRange><from>3389</from><to>3389</to></portRange>"));
    assert!(
        text.contains("<ruleNumber>32767</ruleNumber>"),
        "AWS's fixed entry"
    );
    let missing = ec2(
        &running,
        Some(KEY),
        "Action=DescribeNetworkAcls&NetworkAclId.1=acl-x",
    )
    .await;
    assert!(missing.text().contains("InvalidNetworkAclID.NotFound"));
    let acl = &e.snapshot().network_acls[0];
    assert!(
        acl.entries
            .iter()
            .any(|x| x.rule_number == 100 && x.protocol == "-1")
    );
}

#[tokio::test]
async fn flow_logs_report_unsuccessful_items_with_http_200() {
    let (e, running) = start().await;
    e.refuse_flow_logs("vpc-3", "FlowLogsLimitExceeded", "limit reached");
    let a = ec2(
        &running,
        Some(KEY),
        "Action=CreateFlowLogs&ResourceId.1=vpc-1&ResourceId.2=vpc-3&ResourceId.3=vpc-404\
        &ResourceType=VPC&TrafficType=ALL&LogDestinationType=cloud-watch-logs&LogGroupName=g\
        &DeliverLogsPermissionArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr",
    )
    .await;
    assert_eq!(a.status, 200);
    let text = a.text();
    assert!(text.contains("<flowLogIdSet><item>fl-"), "{text}");
    assert!(
        text.contains("<resourceId>vpc-3</resourceId><error><code>FlowLogsLimitExceeded</code>")
    );
    assert!(
        text.contains("<resourceId>vpc-404</resourceId><error><code>InvalidVpcID.NotFound</code>")
    );
    assert_eq!(e.snapshot().flow_logs.len(), 1);
    let no_role = ec2(
        &running,
        Some(KEY),
        "Action=CreateFlowLogs&ResourceId.1=vpc-2&ResourceType=VPC&TrafficType=ALL&LogGroupName=g",
    )
    .await;
    assert_eq!(no_role.status, 400);
}

#[tokio::test]
async fn cloudwatch_speaks_cbor_pages_alarms_and_keeps_thresholds_as_doubles() {
    let (e, running) = start().await;
    let put = cloudwatch(
        &running,
        "PutMetricAlarm",
        &json!({"AlarmName": "b", "Namespace": "N", "MetricName": "M", "Statistic": "Sum",
            "Period": 300, "EvaluationPeriods": 2, "Threshold": 1000.5,
            "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": ["arn:sns"]}),
    )
    .await;
    assert_eq!(put.status, 200);
    assert_eq!(put.header("smithy-protocol"), Some("rpc-v2-cbor"));
    assert_eq!(put.header("content-type"), Some("application/cbor"));
    let _ = cloudwatch(
        &running,
        "PutMetricAlarm",
        &json!({"AlarmName": "c", "EvaluationPeriods": 1, "ComparisonOperator": "LessThanThreshold"}),
    )
    .await;
    let page1 = cbor::decode(
        &cloudwatch(&running, "DescribeAlarms", &json!({}))
            .await
            .body,
    )
    .expect("cbor");
    let names: Vec<&str> = page1["MetricAlarms"]
        .as_array()
        .expect("alarms")
        .iter()
        .filter_map(|a| a["AlarmName"].as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(page1["MetricAlarms"][1]["Threshold"], json!(1000.5));
    assert_eq!(
        page1["MetricAlarms"][0]["Threshold"],
        json!(5.0),
        "seeded as 5"
    );
    let token = page1["NextToken"].as_str().expect("more pages");
    let page2 = cbor::decode(
        &cloudwatch(&running, "DescribeAlarms", &json!({"NextToken": token}))
            .await
            .body,
    )
    .expect("cbor");
    assert_eq!(page2["MetricAlarms"][0]["AlarmName"], json!("c"));
    assert!(page2.get("NextToken").is_none());

    let invalid = cloudwatch(&running, "PutMetricAlarm", &json!({"AlarmName": "x"})).await;
    assert_eq!(invalid.status, 400);
    let error = cbor::decode(&invalid.body).expect("cbor error");
    assert_eq!(error["__type"], json!("ValidationError"));
    let missing = cloudwatch(&running, "DeleteAlarms", &json!({"AlarmNames": ["zz"]})).await;
    assert_eq!(
        cbor::decode(&missing.body).expect("cbor")["__type"],
        json!("ResourceNotFound")
    );
    let deleted = cloudwatch(&running, "DeleteAlarms", &json!({"AlarmNames": ["a", "c"]})).await;
    assert_eq!(deleted.status, 200);
    let left: Vec<String> = e
        .snapshot()
        .alarms
        .into_iter()
        .map(|a| a.alarm_name)
        .collect();
    assert_eq!(left, ["b"]);
}

#[tokio::test]
async fn waf_writes_need_the_current_lock_token() {
    let (e, running) = start().await;
    let base = json!({"Name": "office", "Scope": "REGIONAL", "Id": "set-1",
        "Addresses": ["198.51.100.0/24", "203.0.113.10/32"]});
    let mut stale = base.clone();
    stale["LockToken"] = json!("old");
    let a = waf(&running, "UpdateIPSet", &stale).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["__type"], json!("WAFOptimisticLockException"));
    let mut fresh = base.clone();
    fresh["LockToken"] = json!("t1");
    let a = waf(&running, "UpdateIPSet", &fresh).await;
    assert_eq!(a.status, 200);
    let next = a.json()["NextLockToken"]
        .as_str()
        .expect("token")
        .to_string();
    assert_ne!(next, "t1");
    assert_eq!(e.snapshot().ip_sets[0].addresses.len(), 2);
    let got = waf(
        &running,
        "GetIPSet",
        &json!({"Name": "office", "Scope": "REGIONAL", "Id": "set-1"}),
    )
    .await
    .json();
    assert_eq!(got["LockToken"], json!(next));
    assert!(
        got["IPSet"]["ARN"]
            .as_str()
            .is_some_and(|a| a.contains(":regional/ipset/office/set-1"))
    );
    let unknown = reqwest::Client::new()
        .post(format!("{}/", running.base_url()))
        .header("x-amz-target", "AWSWAF_20190729.ListWebACLs")
        .header("authorization", auth("AKIDUNKNOWN", "wafv2"))
        .body(r#"{"Scope":"REGIONAL"}"#);
    let a = send(unknown).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["__type"], json!("UnrecognizedClientException"));
}

#[tokio::test]
async fn guardduty_rest_paths_and_auth_error_header() {
    let (e, running) = start().await;
    let client = reqwest::Client::new();
    let list = send(
        client
            .get(format!("{}/detector", running.base_url()))
            .header("authorization", auth(KEY, "guardduty")),
    )
    .await;
    assert_eq!(list.json(), json!({"detectorIds": ["d1"]}));
    let update = send(
        client
            .post(format!("{}/detector/d1", running.base_url()))
            .header("authorization", auth(KEY, "guardduty"))
            .body(r#"{"enable":true,"findingPublishingFrequency":"FIFTEEN_MINUTES"}"#),
    )
    .await;
    assert_eq!(update.status, 200);
    assert_eq!(e.snapshot().detectors[0].status, "ENABLED");
    let got = send(
        client
            .get(format!("{}/detector/d1", running.base_url()))
            .header("authorization", auth(KEY, "guardduty")),
    )
    .await
    .json();
    assert_eq!(got["findingPublishingFrequency"], json!("FIFTEEN_MINUTES"));
    let denied = send(
        client
            .get(format!("{}/detector", running.base_url()))
            .header("authorization", auth("AKIDUNKNOWN", "guardduty")),
    )
    .await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.header("x-amzn-errortype"),
        Some("UnrecognizedClientException")
    );
}

#[tokio::test]
async fn faults_hit_one_operation_in_its_protocols_shape_and_the_log_records_it() {
    let (e, running) = start().await;
    e.faults().inject(
        FaultRule::new(
            "/ec2/DescribeVpcs",
            Fault::RateLimited {
                retry_after_secs: 2,
            },
        )
        .times(1),
    );
    e.faults().inject(
        FaultRule::new(
            "/cloudwatch/",
            Fault::RateLimited {
                retry_after_secs: 1,
            },
        )
        .times(1),
    );
    let throttled = ec2(&running, Some(KEY), "Action=DescribeVpcs").await;
    assert_eq!(throttled.status, 503);
    assert_eq!(throttled.header("retry-after"), Some("2"));
    assert!(
        throttled
            .text()
            .contains("<Code>RequestLimitExceeded</Code>")
    );
    assert_eq!(
        ec2(&running, Some(KEY), "Action=DescribeVpcs").await.status,
        200
    );
    assert_eq!(
        ec2(&running, Some(KEY), "Action=DescribeSecurityGroups")
            .await
            .status,
        200
    );
    let cw = cloudwatch(&running, "DescribeAlarms", &json!({})).await;
    assert_eq!(cw.status, 400);
    assert_eq!(cw.header("x-amzn-query-error"), Some("Throttling;Sender"));
    assert_eq!(
        cbor::decode(&cw.body).expect("cbor")["__type"],
        json!("Throttling")
    );
    e.faults()
        .inject(FaultRule::new("/wafv2/", Fault::Malformed).times(1));
    let junk = waf(&running, "ListWebACLs", &json!({"Scope": "REGIONAL"})).await;
    assert_eq!(junk.status, 200);
    assert_eq!(junk.json(), Value::Null, "not JSON");

    let log = e.log().entries();
    let vpcs: Vec<u16> = log
        .iter()
        .filter(|r| r.path == "/ec2/DescribeVpcs")
        .map(|r| r.status)
        .collect();
    assert_eq!(vpcs, [503, 200]);
    assert_eq!(
        log[0].body.as_ref().and_then(|b| b.get("Action")),
        Some(&json!("DescribeVpcs"))
    );
    assert_eq!(e.log().count("POST", "/cloudwatch/DescribeAlarms"), 1);
    assert!(e.faults().rules().is_empty());
}
