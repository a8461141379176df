//! Request and answer conformance for AWS, against the official service models (botocore's
//! `service-2.json`, trimmed copies in tests/conformance/aws/, see SOURCE.md there).
//!
//! The real AWS client reconciles the demo account (examples/demo/aws-account.yaml) against
//! examples/aws/ and a few extra targets that reach the remaining write calls, through the Rust
//! AWS emulator. Then:
//! - every request the client sent (as the emulator recorded it) must use the model's names:
//!   EC2 query keys (`IpPermissions.1.IpRanges.1.CidrIp`, resolved through `queryName` /
//!   `locationName`), CBOR and JSON members; values must have the member's type and be one of
//!   its enum values; required members must be there;
//! - every answer the emulator gives to those reads, replayed, must use only the model's output
//!   members with the right types (EC2 XML elements, CBOR with doubles as doubles, JSON).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use perimeter::api::{CloudProviderSpec, Mode, UnmanagedPolicy};
use perimeter::providers::Provider;
use perimeter::providers::aws::api::{AwsFirewall, AwsMonitoring};
use perimeter::providers::aws::{Aws, firewall_target, monitoring_target};
use perimeter::reconcile::sync;
use perimeter::{Metrics, SecretString};
use perimeter_emulators::aws::{AwsEmulator, Seed, cbor};
use perimeter_emulators::server::{RecordedRequest, RunningEmulator};
use serde_json::{Map, Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Model {
    api_version: String,
    operations: Map<String, Value>,
    shapes: Map<String, Value>,
}

#[derive(Clone, Copy, PartialEq)]
enum Wire {
    /// EC2 query input keys and EC2 XML output elements.
    Ec2,
    /// Smithy RPCv2 CBOR: member names; doubles must be encoded as floats.
    Cbor,
    /// awsJson1.1 and REST-JSON bodies: `locationName` when given, else the member name.
    Json,
}

impl Model {
    fn load(file: &str) -> Self {
        let v: Value = serde_json::from_str(&read(&format!("tests/conformance/aws/{file}")))
            .expect("model JSON");
        let obj = |k: &str| v[k].as_object().cloned().expect("model section");
        Self {
            api_version: v["metadata"]["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .into(),
            operations: obj("operations"),
            shapes: obj("shapes"),
        }
    }

    fn shape(&self, name: &str) -> &Value {
        self.shapes
            .get(name)
            .unwrap_or_else(|| panic!("shape {name} in the trimmed model"))
    }

    fn io(&self, op: &str, key: &str) -> Option<String> {
        self.operations
            .get(op)?
            .get(key)?
            .get("shape")?
            .as_str()
            .map(str::to_string)
    }

    fn wire_name(member: &str, spec: &Value, wire: Wire, input: bool) -> String {
        let s = |k: &str| spec.get(k).and_then(Value::as_str).map(str::to_string);
        match wire {
            Wire::Ec2 if input => s("queryName")
                .or_else(|| {
                    s("locationName").map(|l| {
                        let mut c = l.chars();
                        c.next()
                            .map(|f| f.to_uppercase().chain(c).collect())
                            .unwrap_or_default()
                    })
                })
                .unwrap_or_else(|| member.to_string()),
            Wire::Ec2 | Wire::Json => s("locationName").unwrap_or_else(|| member.to_string()),
            Wire::Cbor => member.to_string(),
        }
    }

    fn member<'a>(
        &'a self,
        shape: &'a Value,
        wire_key: &str,
        wire: Wire,
        input: bool,
    ) -> Option<&'a str> {
        shape["members"]
            .as_object()?
            .iter()
            .find(|(name, spec)| Self::wire_name(name, spec, wire, input) == wire_key)
            .and_then(|(_, spec)| spec["shape"].as_str())
    }

    /// Checks a scalar given as text (EC2 query values, XML text).
    fn scalar_text(&self, shape_name: &str, text: &str, at: &str, errors: &mut Vec<String>) {
        let shape = self.shape(shape_name);
        let ok = match shape["type"].as_str().unwrap_or_default() {
            "integer" | "long" => text.parse::<i64>().is_ok(),
            "double" | "float" => text.parse::<f64>().is_ok(),
            "boolean" => text == "true" || text == "false",
            "string" => shape["enum"]
                .as_array()
                .is_none_or(|e| e.iter().any(|v| v.as_str() == Some(text))),
            "timestamp" | "blob" => true,
            other => {
                errors.push(format!("{at}: a {other} given as text"));
                return;
            }
        };
        if !ok {
            errors.push(format!("{at}: {text:?} is not a valid {shape_name}"));
        }
    }

    /// An EC2 query key (`IpPermissions.1.FromPort`) and its value against an input shape.
    fn query_key(
        &self,
        shape_name: &str,
        key: &[&str],
        value: &str,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let shape = self.shape(shape_name);
        match (
            shape["type"].as_str().unwrap_or_default(),
            key.split_first(),
        ) {
            ("structure", Some((first, rest))) => {
                match self.member(shape, first, Wire::Ec2, true) {
                    Some(m) => self.query_key(m, rest, value, at, errors),
                    None => errors.push(format!("{at}: {first} is not a member of {shape_name}")),
                }
            }
            ("list", Some((index, rest))) => {
                if index.parse::<u32>().map_or(true, |i| i == 0) {
                    errors.push(format!("{at}: list index {index} is not 1-based"));
                }
                let member = shape["member"]["shape"].as_str().unwrap_or_default();
                self.query_key(member, rest, value, at, errors);
            }
            (_, None) => self.scalar_text(shape_name, value, at, errors),
            (kind, Some(_)) => errors.push(format!("{at}: {kind} {shape_name} has no members")),
        }
    }

    /// A decoded body (JSON or CBOR) against a shape.
    fn value(
        &self,
        shape_name: &str,
        v: &Value,
        wire: Wire,
        input: bool,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let shape = self.shape(shape_name);
        let kind = shape["type"].as_str().unwrap_or_default();
        match (kind, v) {
            ("structure", Value::Object(map)) => {
                for (k, item) in map {
                    match self.member(shape, k, wire, input) {
                        Some(m) => self.value(m, item, wire, input, &format!("{at}.{k}"), errors),
                        None => errors.push(format!("{at}: {k} is not a member of {shape_name}")),
                    }
                }
                self.required(
                    shape,
                    |name| map.contains_key(name),
                    wire,
                    input,
                    at,
                    errors,
                );
            }
            ("list", Value::Array(items)) => {
                let member = shape["member"]["shape"].as_str().unwrap_or_default();
                for (i, item) in items.iter().enumerate() {
                    self.value(member, item, wire, input, &format!("{at}[{i}]"), errors);
                }
            }
            ("map", Value::Object(map)) => {
                let member = shape["value"]["shape"].as_str().unwrap_or_default();
                for (k, item) in map {
                    self.value(member, item, wire, input, &format!("{at}.{k}"), errors);
                }
            }
            ("string", Value::String(s)) => self.scalar_text(shape_name, s, at, errors),
            ("integer" | "long", Value::Number(n)) if n.is_i64() || n.is_u64() => {}
            ("double" | "float", Value::Number(n)) if n.is_f64() || wire != Wire::Cbor => {}
            ("boolean", Value::Bool(_)) | ("timestamp" | "blob", _) => {}
            _ => errors.push(format!("{at}: {v} is not a {kind} ({shape_name})")),
        }
    }

    fn required(
        &self,
        shape: &Value,
        present: impl Fn(&str) -> bool,
        wire: Wire,
        input: bool,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        for name in shape["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            let wire_name = Self::wire_name(name, &shape["members"][name], wire, input);
            if !present(&wire_name) {
                errors.push(format!("{at}: required {wire_name} is missing"));
            }
        }
    }

    /// EC2 XML answer elements against an output shape.
    fn xml(&self, shape_name: &str, node: &Node, at: &str, errors: &mut Vec<String>) {
        let shape = self.shape(shape_name);
        match shape["type"].as_str().unwrap_or_default() {
            "structure" => {
                for child in &node.children {
                    match self.member(shape, &child.name, Wire::Ec2, false) {
                        Some(m) => self.xml(m, child, &format!("{at}.{}", child.name), errors),
                        None if at.is_empty() && child.name == "requestId" => {}
                        None => errors.push(format!(
                            "{at}: <{}> is not a member of {shape_name}",
                            child.name
                        )),
                    }
                }
            }
            "list" => {
                let member = &shape["member"];
                let item = member["locationName"].as_str().unwrap_or("member");
                for child in &node.children {
                    if child.name != item {
                        errors.push(format!(
                            "{at}: list element <{}> instead of <{item}>",
                            child.name
                        ));
                    }
                    let m = member["shape"].as_str().unwrap_or_default();
                    self.xml(m, child, &format!("{at}[]"), errors);
                }
            }
            _ if !node.children.is_empty() => {
                errors.push(format!("{at}: scalar {shape_name} with child elements"));
            }
            _ => self.scalar_text(shape_name, &node.text, at, errors),
        }
    }
}

/// An XML element of the emulator's answers (no attributes kept, no mixed content).
#[derive(Debug, Default)]
struct Node {
    name: String,
    children: Vec<Node>,
    text: String,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn parse_xml(text: &str) -> Option<Node> {
    let mut stack: Vec<Node> = vec![Node::default()];
    let mut rest = text.trim_start();
    if rest.starts_with("<?") {
        rest = &rest[rest.find("?>")? + 2..];
    }
    while let Some(start) = rest.find('<') {
        let content = &rest[..start];
        if !content.trim().is_empty() {
            stack.last_mut()?.text.push_str(&unescape(content));
        }
        let end = rest[start..].find('>')? + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let node = stack.pop()?;
            if node.name != name {
                return None;
            }
            stack.last_mut()?.children.push(node);
        } else {
            let empty = tag.ends_with('/');
            let name = tag
                .trim_end_matches('/')
                .split_whitespace()
                .next()?
                .to_string();
            let node = Node {
                name,
                ..Node::default()
            };
            if empty {
                stack.last_mut()?.children.push(node);
            } else {
                stack.push(node);
            }
        }
    }
    let mut top = stack.pop()?;
    (stack.is_empty() && top.children.len() == 1).then(|| top.children.remove(0))
}

fn seed() -> Seed {
    let mut seed: Seed =
        serde_yaml::from_str(&read("examples/demo/aws-account.yaml")).expect("seed");
    // Any key id and no signature check, so answers can be replayed with a fixed header below.
    seed.access_keys.clear();
    seed.page_size = 2;
    // NAT gateways for the `awsNatGateways` source (the demo account has none): more than a
    // page, one not available.
    seed.nat_gateways = serde_json::from_value(json!([
        {"natGatewayId": "nat-0a1b2c3d4e5f60001", "vpcId": "vpc-0a1b2c3d4e5f60718",
         "subnetId": "subnet-0a1b2c3d4e5f60001",
         "addresses": [{"publicIp": "203.0.113.10", "privateIp": "10.20.1.5"}]},
        {"natGatewayId": "nat-0a1b2c3d4e5f60002", "vpcId": "vpc-0a1b2c3d4e5f60718",
         "state": "deleting", "addresses": [{"publicIp": "203.0.113.11"}]},
        {"natGatewayId": "nat-0a1b2c3d4e5f60003", "vpcId": "vpc-0a1b2c3d4e5f60718",
         "addresses": [{"publicIp": "203.0.113.12", "privateIp": "10.20.2.5"}]}
    ]))
    .expect("NAT gateways");
    seed
}

fn spec_block(path: &str) -> Value {
    let doc: Value = serde_yaml::from_str(&read(path)).expect("manifest");
    doc["spec"]["aws"].clone()
}

async fn scenario(running: &RunningEmulator) {
    let spec: CloudProviderSpec = serde_json::from_value(json!({
        "type": "aws", "accountId": "123456789012",
        "credentials": {"source": "Secret", "secretRef": {"name": "aws", "key": "credentials"}},
        "endpoint": running.base_url(), "regions": ["eu-west-1"],
        "rateLimit": {"requestsPerMinute": 60000, "burst": 1000}, "requestTimeoutSeconds": 5,
    }))
    .expect("spec");
    let key = SecretString::new(r#"{"accessKeyId":"AKIACONFORMANCE00000","secretAccessKey":"s"}"#);
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let aws = Aws::connect(&spec, Some(key), Some(metrics))
        .await
        .expect("connect");
    assert!(aws.verify().await.is_ok());
    let fw: AwsFirewall =
        serde_json::from_value(spec_block("examples/aws/firewall.yaml")).expect("fw");
    let mon: AwsMonitoring =
        serde_json::from_value(spec_block("examples/aws/monitoring.yaml")).expect("mon");
    let mut calls = vec![
        (
            firewall_target(&fw).expect("target"),
            UnmanagedPolicy::Report,
        ),
        (
            monitoring_target(&mon).expect("target"),
            UnmanagedPolicy::Report,
        ),
    ];
    // The remaining writes: an egress rule added and one removed, a NACL entry replaced and
    // one deleted, a flow log replaced (create, then delete the old one), alarms deleted.
    let extra_fw: AwsFirewall = serde_json::from_value(json!({"region": "eu-west-1",
        "securityGroups": [{"vpcId": "vpc-0a1b2c3d4e5f60718", "groupName": "web",
            "egress": [{"protocol": "udp", "fromPort": 53, "toPort": 53, "cidr": "10.20.0.2/32", "description": "DNS"}]}],
        "networkAcls": [{"networkAclId": "acl-0f1e2d3c4b5a69788", "entries": [
            {"ruleNumber": 100, "protocol": "tcp", "ruleAction": "allow", "cidr": "10.0.0.0/8", "fromPort": 443, "toPort": 443}]}]}))
    .expect("extra firewall");
    calls.push((
        firewall_target(&extra_fw).expect("target"),
        UnmanagedPolicy::Remove,
    ));
    let extra_mon: AwsMonitoring = serde_json::from_value(json!({"region": "eu-west-1",
        "flowLogs": {"vpcIds": ["vpc-0a1b2c3d4e5f60718"], "trafficType": "REJECT",
            "destinationType": "s3", "destination": "arn:aws:s3:::flow-log-bucket"},
        "cloudWatchAlarms": []}))
    .expect("extra monitoring");
    calls.push((
        monitoring_target(&extra_mon).expect("target"),
        UnmanagedPolicy::Remove,
    ));
    for (target, unmanaged) in &calls {
        let out = sync(&aws, target, Mode::Enforce, *unmanaged).await;
        assert!(out.error.is_none(), "{:?}", out.error);
    }
    // An AddressSet's `awsNatGateways` source: DescribeNatGateways with its filters, paged.
    let nat: perimeter::api::addressset::AddressSource = serde_json::from_value(json!({
        "awsNatGateways": {"providerRef": {"name": "aws"}, "vpcIds": ["vpc-0a1b2c3d4e5f60718"]}
    }))
    .expect("source");
    let addresses = aws.source_addresses(&nat).await.expect("NAT gateways");
    assert_eq!(addresses, ["203.0.113.10/32", "203.0.113.12/32"]);
    // The inventory: DescribeVpcs and DescribeSecurityGroups, paged.
    let assets = aws.inventory().await.expect("inventory").expect("listed");
    assert!(assets.iter().any(|a| a.kind == "vpc"), "{assets:?}");
}

/// The recorded request sent again as the SDK sent it, with a fixed signature header.
async fn replay(running: &RunningEmulator, r: &RecordedRequest) -> (String, Vec<u8>) {
    let (service, op) = r.path[1..].split_once('/').expect("service/op");
    let input = r.body.clone().unwrap_or(Value::Null);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKIACONFORMANCE00000/20260101/eu-west-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
    );
    let client = reqwest::Client::new();
    let base = running.base_url();
    let req = match service {
        "ec2" => {
            let form: Vec<(String, String)> = input
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            client.post(format!("{base}/")).form(&form)
        }
        "cloudwatch" => client
            .post(format!(
                "{base}/service/GraniteServiceVersion20100801/operation/{op}"
            ))
            .header("smithy-protocol", "rpc-v2-cbor")
            .body(cbor::encode(&input)),
        "wafv2" => client
            .post(format!("{base}/"))
            .header("x-amz-target", format!("AWSWAF_20190729.{op}"))
            .body(input.to_string()),
        "cloudtrail" => client
            .post(format!("{base}/"))
            .header("x-amz-target", format!("CloudTrail_20131101.{op}"))
            .body(input.to_string()),
        _ => match input["detectorId"].as_str() {
            Some(id) => client.get(format!("{base}/detector/{id}")),
            None => client.get(format!("{base}/detector")),
        },
    };
    let resp = req
        .header("authorization", auth)
        .send()
        .await
        .expect("replay");
    assert_eq!(resp.status().as_u16(), 200, "replaying {}", r.path);
    (op.to_string(), resp.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn requests_and_answers_follow_the_aws_service_models() {
    let emulator = AwsEmulator::new(seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    scenario(&running).await;
    let log = emulator.log().entries();
    let ec2 = Model::load("ec2-2016-11-15.json");
    let models = [
        ("ec2", ec2),
        ("cloudwatch", Model::load("monitoring-2010-08-01.json")),
        ("wafv2", Model::load("wafv2-2019-07-29.json")),
        ("guardduty", Model::load("guardduty-2017-11-28.json")),
        ("cloudtrail", Model::load("cloudtrail-2013-11-01.json")),
    ];
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for r in &log {
        assert!(r.status < 400, "{} failed with {}", r.path, r.status);
        let (service, op) = r.path[1..].split_once('/').expect("service/op");
        let (_, model) = models.iter().find(|(s, _)| *s == service).expect("a model");
        seen.insert(r.path.clone());
        let Some(input) = model.io(op, "input") else {
            errors.push(format!("{op} is not an operation of {service}"));
            continue;
        };
        let body = r.body.clone().unwrap_or(Value::Null);
        match service {
            "ec2" => {
                let params = body.as_object().cloned().unwrap_or_default();
                if params.get("Version").and_then(Value::as_str) != Some(model.api_version.as_str())
                {
                    errors.push(format!("{op}: Version is not {}", model.api_version));
                }
                for (k, v) in params
                    .iter()
                    .filter(|(k, _)| *k != "Action" && *k != "Version")
                {
                    let key: Vec<&str> = k.split('.').collect();
                    model.query_key(
                        &input,
                        &key,
                        v.as_str().unwrap_or_default(),
                        &format!("{op} {k}"),
                        &mut errors,
                    );
                }
                model.required(
                    model.shape(&input),
                    |name| {
                        params
                            .keys()
                            .any(|k| k == name || k.starts_with(&format!("{name}.")))
                    },
                    Wire::Ec2,
                    true,
                    op,
                    &mut errors,
                );
            }
            "cloudwatch" => model.value(&input, &body, Wire::Cbor, true, op, &mut errors),
            "wafv2" | "cloudtrail" => model.value(&input, &body, Wire::Json, true, op, &mut errors),
            // REST-JSON inputs travel in the path, query and body; the body members only.
            _ => {
                let mut body = body.as_object().cloned().unwrap_or_default();
                body.remove("detectorId");
                let shape = model.shape(&input);
                for (k, v) in &body {
                    match model.member(shape, k, Wire::Json, true) {
                        Some(m) => {
                            model.value(m, v, Wire::Json, true, &format!("{op}.{k}"), &mut errors)
                        }
                        None => errors.push(format!("{op}: {k} is not a member of {input}")),
                    }
                }
            }
        }
    }
    // Answers: the reads, replayed.
    let reads: Vec<&RecordedRequest> = log
        .iter()
        .filter(|r| {
            ["/Describe", "/List", "/Get", "/LookupEvents"]
                .iter()
                .any(|p| r.path.contains(p))
        })
        .collect();
    for r in reads {
        let (op, body) = replay(&running, r).await;
        let service = r.path[1..].split('/').next().unwrap_or_default();
        let (_, model) = models.iter().find(|(s, _)| *s == service).expect("a model");
        let output = model.io(&op, "output").expect("output shape");
        match service {
            "ec2" => {
                let text = String::from_utf8_lossy(&body);
                let Some(root) = parse_xml(&text) else {
                    errors.push(format!("{op}: answer is not XML"));
                    continue;
                };
                if root.name != format!("{op}Response") {
                    errors.push(format!("{op}: root <{}>", root.name));
                }
                model.xml(&output, &root, "", &mut errors);
            }
            "cloudwatch" => match cbor::decode(&body) {
                Some(v) => model.value(
                    &output,
                    &v,
                    Wire::Cbor,
                    false,
                    &format!("{op} answer"),
                    &mut errors,
                ),
                None => errors.push(format!("{op}: answer is not CBOR")),
            },
            _ => match serde_json::from_slice::<Value>(&body) {
                Ok(v) => model.value(
                    &output,
                    &v,
                    Wire::Json,
                    false,
                    &format!("{op} answer"),
                    &mut errors,
                ),
                Err(_) => errors.push(format!("{op}: answer is not JSON")),
            },
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let expected = [
        "/ec2/DescribeRegions",
        "/ec2/DescribeVpcs",
        "/ec2/DescribeSecurityGroups",
        "/ec2/DescribeSecurityGroupRules",
        "/ec2/AuthorizeSecurityGroupIngress",
        "/ec2/AuthorizeSecurityGroupEgress",
        "/ec2/RevokeSecurityGroupIngress",
        "/ec2/RevokeSecurityGroupEgress",
        "/ec2/ModifySecurityGroupRules",
        "/ec2/DescribeNetworkAcls",
        "/ec2/CreateNetworkAclEntry",
        "/ec2/ReplaceNetworkAclEntry",
        "/ec2/DeleteNetworkAclEntry",
        "/ec2/DescribeFlowLogs",
        "/ec2/CreateFlowLogs",
        "/ec2/DeleteFlowLogs",
        "/ec2/DescribeNatGateways",
        "/cloudwatch/DescribeAlarms",
        "/cloudwatch/PutMetricAlarm",
        "/cloudwatch/DeleteAlarms",
        "/guardduty/ListDetectors",
        "/guardduty/GetDetector",
        "/guardduty/UpdateDetector",
        "/wafv2/ListWebACLs",
        "/wafv2/GetWebACL",
        "/wafv2/UpdateWebACL",
        "/wafv2/ListIPSets",
        "/wafv2/GetIPSet",
        "/wafv2/UpdateIPSet",
        "/cloudtrail/LookupEvents",
    ];
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|p| !seen.contains(*p))
        .collect();
    assert!(
        missing.is_empty(),
        "not exercised: {missing:?}; seen {seen:?}"
    );
}

#[test]
fn the_checker_catches_wrong_names_types_and_enum_values() {
    let ec2 = Model::load("ec2-2016-11-15.json");
    let input = ec2.io("CreateFlowLogs", "input").expect("input");
    let mut errors = Vec::new();
    ec2.query_key(&input, &["ResourceId", "1"], "vpc-1", "ok", &mut errors);
    ec2.query_key(&input, &["TrafficType"], "ALL", "ok", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    ec2.query_key(&input, &["ResourceIds", "1"], "vpc-1", "name", &mut errors);
    ec2.query_key(&input, &["TrafficType"], "EVERYTHING", "enum", &mut errors);
    ec2.query_key(
        &input,
        &["MaxAggregationInterval"],
        "ten",
        "type",
        &mut errors,
    );
    ec2.query_key(&input, &["ResourceId", "0"], "vpc-1", "index", &mut errors);
    assert_eq!(errors.len(), 4, "{errors:?}");

    let cw = Model::load("monitoring-2010-08-01.json");
    let output = cw.io("DescribeAlarms", "output").expect("output");
    let mut errors = Vec::new();
    cw.value(
        &output,
        &json!({"MetricAlarms": [{"Threshold": 5.0, "Period": 60}]}),
        Wire::Cbor,
        false,
        "ok",
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    cw.value(
        &output,
        &json!({"MetricAlarms": [{"Threshold": 5, "Periods": 60}]}),
        Wire::Cbor,
        false,
        "bad",
        &mut errors,
    );
    assert_eq!(
        errors.len(),
        2,
        "an integer threshold and an unknown member: {errors:?}"
    );

    let ct = Model::load("cloudtrail-2013-11-01.json");
    let lookup = ct.io("LookupEvents", "input").expect("input");
    let mut errors = Vec::new();
    let ok = json!({"LookupAttributes": [{"AttributeKey": "ResourceName",
        "AttributeValue": "sg-1"}], "StartTime": 1_764_000_000, "MaxResults": 50});
    ct.value(&lookup, &ok, Wire::Json, true, "ok", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    let bad = json!({"LookupAttributes": [{"AttributeKey": "GroupId"}], "Max": 50});
    ct.value(&lookup, &bad, Wire::Json, true, "bad", &mut errors);
    assert_eq!(
        errors.len(),
        3,
        "a key outside the enum, a missing AttributeValue, an unknown member: {errors:?}"
    );

    let describe = ec2.io("DescribeVpcs", "output").expect("output");
    let root = parse_xml("<?xml version=\"1.0\"?>\n<R xmlns=\"x\"><requestId>1</requestId><vpcSet><item><vpcId>v</vpcId><isDefault>maybe</isDefault></item><member/></vpcSet></R>")
        .expect("xml");
    let mut errors = Vec::new();
    ec2.xml(&describe, &root, "", &mut errors);
    assert_eq!(
        errors.len(),
        2,
        "a bad boolean and a wrong list element: {errors:?}"
    );
}
