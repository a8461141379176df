//! CloudTrail's event history (`LookupEvents`, awsJson1.1,
//! `X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`, or
//! `CloudTrail_20131101.LookupEvents` as the Rust SDK sends it).
//!
//! Stateful: every write the emulator's EC2, WAFv2, GuardDuty and CloudWatch handlers accept is
//! recorded ([`recorded`]) with the identity of the access key that signed it (the seed's
//! [`AccessKey::user_name`](super::seed::AccessKey)), its request id (the `x-amzn-RequestId`
//! of the answer) and its parameters in CloudTrail's form (EC2's `{"items": [...]}` lists,
//! camelCase names). [`console_change`] is an event for a change a person made in the console,
//! which tests and the demo add next to their direct edits.
//!
//! `LookupEvents` answers newest first, filtered by at most one `LookupAttributes` entry (the
//! keys the model lists), `StartTime`/`EndTime` and paged by `MaxResults` (1–50, default 50)
//! and `NextToken`; errors in the JSON 1.1 shape (`InvalidLookupAttributesException`,
//! `InvalidMaxResultsException`, `InvalidNextTokenException`, `InvalidTimeRangeException`).

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::seed::TrailEvent;
use super::{Failure, Store, page};

/// The operation an `X-Amz-Target` names: botocore's model gives the target prefix
/// `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101`, while the Smithy model the Rust
/// SDK is generated from names the service shape `CloudTrail_20131101` alone; CloudTrail
/// answers both.
pub(crate) fn target_operation(target: &str) -> Option<&str> {
    target
        .strip_prefix("com.amazonaws.cloudtrail.v20131101.")
        .unwrap_or(target)
        .strip_prefix("CloudTrail_20131101.")
}

/// The `AttributeKey` values of the model's `LookupAttributeKey` enum.
const ATTRIBUTE_KEYS: [&str; 8] = [
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
];

pub(crate) fn handle(store: &mut Store, operation: &str, input: &Value) -> Result<Value, Failure> {
    match operation {
        "LookupEvents" => lookup_events(store, input),
        other => Err(Failure::new(
            400,
            "UnknownOperationException",
            format!("{other} is not emulated"),
        )),
    }
}

/// Seconds since the epoch, as awsJson1.1 sends a timestamp (a number, maybe fractional).
fn epoch(v: Option<&Value>) -> Result<Option<Timestamp>, Failure> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let bad = || Failure::new(400, "SerializationException", "a timestamp is not a number");
    let secs = v.as_f64().ok_or_else(bad)?;
    Timestamp::from_second(secs.floor() as i64)
        .map(Some)
        .map_err(|_| bad())
}

fn lookup_events(store: &mut Store, input: &Value) -> Result<Value, Failure> {
    let attributes = input
        .get("LookupAttributes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if attributes.len() > 1 {
        return Err(Failure::new(
            400,
            "InvalidLookupAttributesException",
            "You cannot specify more than one lookup attribute.",
        ));
    }
    let filter = match attributes.first() {
        None => None,
        Some(a) => {
            let key = a.get("AttributeKey").and_then(Value::as_str).unwrap_or("");
            let value = a
                .get("AttributeValue")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !ATTRIBUTE_KEYS.contains(&key) || value.is_empty() || value.len() > 2000 {
                return Err(Failure::new(
                    400,
                    "InvalidLookupAttributesException",
                    format!("Invalid lookup attribute: {key}"),
                ));
            }
            Some((key.to_string(), value.to_string()))
        }
    };
    let start = epoch(input.get("StartTime"))?;
    let end = epoch(input.get("EndTime"))?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(Failure::new(
            400,
            "InvalidTimeRangeException",
            "Start time must be before end time.",
        ));
    }
    let max = match input.get("MaxResults").and_then(Value::as_i64) {
        None => 50,
        Some(n @ 1..=50) => n as usize,
        Some(_) => {
            return Err(Failure::new(
                400,
                "InvalidMaxResultsException",
                "MaxResults must be between 1 and 50.",
            ));
        }
    };
    let mut found: Vec<&TrailEvent> = store
        .seed
        .cloud_trail
        .iter()
        .filter(|e| {
            let at = e.event_time.parse::<Timestamp>().ok();
            start.is_none_or(|s| at.is_some_and(|t| t >= s))
                && end.is_none_or(|en| at.is_some_and(|t| t <= en))
        })
        .filter(|e| filter.as_ref().is_none_or(|(k, v)| e.matches(k, v)))
        .collect();
    found.sort_by(|a, b| b.event_time.cmp(&a.event_time));
    let token = input.get("NextToken").and_then(Value::as_str);
    let (events, next) = page(&found, token, Some(max), max).map_err(|()| {
        Failure::new(
            400,
            "InvalidNextTokenException",
            "Invalid NextToken provided.",
        )
    })?;
    let mut out = json!({"Events": events.iter().map(|e| e.to_api()).collect::<Vec<_>>()});
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

impl TrailEvent {
    fn matches(&self, key: &str, value: &str) -> bool {
        match key {
            "EventId" => self.event_id == value,
            "EventName" => self.event_name == value,
            "ReadOnly" => value == "false",
            "Username" => self.username == value,
            "EventSource" => self.event_source == value,
            "AccessKeyId" => self.access_key_id == value,
            "ResourceType" => self.resources.iter().any(|r| r.resource_type == value),
            "ResourceName" => self.resources.iter().any(|r| r.resource_name == value),
            _ => false,
        }
    }

    /// The `Event` shape of the answer: `CloudTrailEvent` is the record as a JSON string.
    fn to_api(&self) -> Value {
        let at = self
            .event_time
            .parse::<Timestamp>()
            .map(|t| t.as_second())
            .unwrap_or_default();
        json!({
            "EventId": self.event_id,
            "EventName": self.event_name,
            "ReadOnly": "false",
            "AccessKeyId": self.access_key_id,
            "EventTime": at,
            "EventSource": self.event_source,
            "Username": self.username,
            "Resources": self.resources.iter().map(|r| json!({
                "ResourceType": r.resource_type, "ResourceName": r.resource_name,
            })).collect::<Vec<_>>(),
            "CloudTrailEvent": self.record.to_string(),
        })
    }
}

/// `ec2.amazonaws.com`, … for a service the emulator answers.
pub(crate) fn event_source(service: &str) -> &'static str {
    match service {
        "ec2" => "ec2.amazonaws.com",
        "wafv2" => "wafv2.amazonaws.com",
        "guardduty" => "guardduty.amazonaws.com",
        "cloudwatch" => "monitoring.amazonaws.com",
        _ => "cloudtrail.amazonaws.com",
    }
}

/// `IpPermissions` → `ipPermissions`.
fn camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `groupId` → `GroupId`.
fn upper(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// A JSON request's members with CloudTrail's camelCase names.
fn camel_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (camel(k), camel_json(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(camel_json).collect()),
        other => other.clone(),
    }
}

/// An EC2 query form (`IpPermissions.1.IpRanges.1.CidrIp=…`) as CloudTrail records it: nested,
/// camelCase, lists as `{"items": [...]}`, numbers and booleans typed.
fn ec2_params(form: &Value) -> Value {
    let mut root = Value::Object(Map::new());
    let Some(form) = form.as_object() else {
        return root;
    };
    for (key, value) in form {
        if key == "Action" || key == "Version" {
            continue;
        }
        let text = value.as_str().unwrap_or_default();
        let typed = if let Ok(n) = text.parse::<i64>() {
            json!(n)
        } else if text == "true" || text == "false" {
            json!(text == "true")
        } else {
            json!(text)
        };
        insert(&mut root, &key.split('.').collect::<Vec<_>>(), typed);
    }
    root
}

fn insert(node: &mut Value, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *node = value;
        return;
    };
    if let Ok(i) = first.parse::<usize>() {
        // `.N.`: the N-th (from 1) entry of an `items` list.
        if !node.is_object() {
            *node = json!({});
        }
        let items = node
            .as_object_mut()
            .map(|o| o.entry("items").or_insert_with(|| json!([])));
        let Some(Value::Array(items)) = items else {
            return;
        };
        let i = i.saturating_sub(1).min(1000);
        while items.len() <= i {
            items.push(Value::Null);
        }
        if rest.is_empty() {
            items[i] = value;
        } else {
            if !items[i].is_object() {
                items[i] = json!({});
            }
            insert(&mut items[i], rest, value);
        }
        return;
    }
    if !node.is_object() {
        *node = json!({});
    }
    if let Some(o) = node.as_object_mut() {
        let child = o.entry(camel(first)).or_insert(Value::Null);
        insert(child, rest, value);
    }
}

/// The resources CloudTrail names for a request, by its parameters.
fn resources(params: &Value) -> Vec<super::seed::TrailResource> {
    let mut out = Vec::new();
    for (field, kind) in [
        ("groupId", "AWS::EC2::SecurityGroup"),
        ("networkAclId", "AWS::EC2::NetworkAcl"),
        ("detectorId", "AWS::GuardDuty::Detector"),
        ("alarmName", "AWS::CloudWatch::Alarm"),
    ] {
        // Newer EC2 calls are recorded inside a `…Request` member, capitalised
        // (`{"ModifySecurityGroupRulesRequest": {"GroupId": …}}`).
        let wrapped = params.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.ends_with("Request"))
                .and_then(|(_, v)| v.get(upper(field)))
        });
        if let Some(name) = params.get(field).or(wrapped).and_then(Value::as_str) {
            out.push(super::seed::TrailResource {
                resource_type: kind.into(),
                resource_name: name.into(),
            });
        }
    }
    out
}

/// Who signed a request: an IAM user's `userIdentity`.
pub(crate) struct Signer<'a> {
    pub account_id: &'a str,
    pub access_key_id: &'a str,
    pub user_name: &'a str,
    pub user_agent: &'a str,
}

/// The event of an accepted write.
pub(crate) fn recorded(
    service: &str,
    operation: &str,
    input: &Value,
    signer: &Signer<'_>,
    region: &str,
    request_id: &str,
    event_id: String,
) -> TrailEvent {
    let params = if service == "ec2" {
        ec2_params(input)
    } else {
        camel_json(input)
    };
    let at = second(Timestamp::now());
    let source = event_source(service);
    TrailEvent {
        event_id: event_id.clone(),
        event_name: operation.into(),
        event_time: at.clone(),
        event_source: source.into(),
        username: signer.user_name.into(),
        access_key_id: signer.access_key_id.into(),
        resources: resources(&params),
        record: json!({
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEMULATED",
                "arn": format!("arn:aws:iam::{}:user/{}", signer.account_id, signer.user_name),
                "accountId": signer.account_id,
                "accessKeyId": signer.access_key_id,
                "userName": signer.user_name,
            },
            "eventTime": at,
            "eventSource": source,
            "eventName": operation,
            "awsRegion": region,
            "sourceIPAddress": "192.0.2.20",
            "userAgent": signer.user_agent,
            "requestParameters": params,
            "responseElements": null,
            "requestID": request_id,
            "eventID": event_id,
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": signer.account_id,
        }),
    }
}

/// An event for a change a person made in the console, `seconds_ago` seconds ago: `who`
/// (an SSO user's e-mail) in a session of `role`, calling `event_name` of `service` (`ec2`,
/// `wafv2`, `guardduty`, `cloudwatch`) with `request_parameters` as CloudTrail records them.
/// Its event id is filled in when the emulator takes it.
pub fn console_change(
    who: &str,
    role: &str,
    service: &str,
    event_name: &str,
    request_parameters: Value,
    seconds_ago: i64,
) -> TrailEvent {
    let at = Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(seconds_ago))
        .unwrap_or_else(|_| Timestamp::now());
    let at = second(at);
    let account = "123456789012";
    let source = event_source(service);
    TrailEvent {
        event_id: String::new(),
        event_name: event_name.into(),
        event_time: at.clone(),
        event_source: source.into(),
        username: who.into(),
        access_key_id: "ASIAEMULATEDCONSOLE0".into(),
        resources: resources(&request_parameters),
        record: json!({
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": format!("AROAEMULATED:{who}"),
                "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{who}"),
                "accountId": account,
                "accessKeyId": "ASIAEMULATEDCONSOLE0",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": "AROAEMULATED",
                        "arn": format!("arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/{role}"),
                        "accountId": account,
                        "userName": role,
                    },
                    "attributes": {"creationDate": at, "mfaAuthenticated": "false"},
                },
            },
            "eventTime": at,
            "eventSource": source,
            "eventName": event_name,
            "awsRegion": "eu-west-1",
            "sourceIPAddress": "192.0.2.10",
            "userAgent": "AWS Internal",
            "requestParameters": request_parameters,
            "responseElements": null,
            "requestID": format!("console-{seconds_ago}-{event_name}"),
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": account,
            "sessionCredentialFromConsole": "true",
        }),
    }
}

/// Whole seconds, as CloudTrail stamps events.
fn second(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, resource: &str, seconds_ago: i64) -> TrailEvent {
        console_change(
            "dana@example.com",
            "AWSReservedSSO_Admin_0a1b",
            "ec2",
            name,
            json!({"groupId": resource}),
            seconds_ago,
        )
    }

    #[test]
    fn lookups_filter_page_newest_first_and_refuse_bad_input() {
        let seed = super::super::Seed {
            cloud_trail: vec![
                event("AuthorizeSecurityGroupIngress", "sg-1", 300),
                event("RevokeSecurityGroupIngress", "sg-1", 100),
                event("AuthorizeSecurityGroupIngress", "sg-2", 200),
                event("AuthorizeSecurityGroupIngress", "sg-1", 10 * 24 * 3600),
            ],
            ..Default::default()
        };
        let emulator = super::super::AwsEmulator::new(seed);
        let mut store = emulator.shared.store();
        let since = Timestamp::now().as_second() - 7 * 24 * 3600;
        let by_sg1 = json!({"LookupAttributes": [{"AttributeKey": "ResourceName",
            "AttributeValue": "sg-1"}], "StartTime": since, "MaxResults": 1});
        let first = handle(&mut store, "LookupEvents", &by_sg1).expect("page 1");
        assert_eq!(
            first["Events"][0]["EventName"],
            "RevokeSecurityGroupIngress"
        );
        assert!(first["Events"][0]["CloudTrailEvent"].is_string());
        assert!(first["Events"][0]["EventTime"].is_number());
        let mut next = by_sg1.clone();
        next["NextToken"] = first["NextToken"].clone();
        let second = handle(&mut store, "LookupEvents", &next).expect("page 2");
        assert_eq!(
            second["Events"][0]["EventName"],
            "AuthorizeSecurityGroupIngress"
        );
        assert_eq!(
            second.get("NextToken"),
            None,
            "the 10-day-old event is before StartTime"
        );
        let by_name = json!({"LookupAttributes": [{"AttributeKey": "EventName",
            "AttributeValue": "AuthorizeSecurityGroupIngress"}]});
        let all = handle(&mut store, "LookupEvents", &by_name).expect("by name");
        assert_eq!(all["Events"].as_array().map(Vec::len), Some(3));
        let bad = [
            (
                json!({"LookupAttributes": [
                    {"AttributeKey": "EventName", "AttributeValue": "a"},
                    {"AttributeKey": "Username", "AttributeValue": "b"}]}),
                "InvalidLookupAttributesException",
            ),
            (
                json!({"LookupAttributes": [{"AttributeKey": "GroupId", "AttributeValue": "a"}]}),
                "InvalidLookupAttributesException",
            ),
            (json!({"MaxResults": 51}), "InvalidMaxResultsException"),
            (json!({"NextToken": "forged"}), "InvalidNextTokenException"),
            (
                json!({"StartTime": 20, "EndTime": 10}),
                "InvalidTimeRangeException",
            ),
        ];
        for (input, code) in bad {
            let e = handle(&mut store, "LookupEvents", &input).expect_err(code);
            assert_eq!(e.code, code, "{input}");
        }
    }

    #[test]
    fn ec2_forms_become_cloudtrail_parameters() {
        let form = json!({
            "Action": "AuthorizeSecurityGroupIngress", "Version": "2016-11-15",
            "GroupId": "sg-1",
            "IpPermissions.1.IpProtocol": "tcp",
            "IpPermissions.1.FromPort": "22",
            "IpPermissions.1.ToPort": "22",
            "IpPermissions.1.IpRanges.1.CidrIp": "0.0.0.0/0",
        });
        assert_eq!(
            ec2_params(&form),
            json!({"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "tcp",
                "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}})
        );
        assert_eq!(
            camel_json(&json!({"Name": "edge", "Rules": [{"Name": "r"}]})),
            json!({"name": "edge", "rules": [{"name": "r"}]})
        );
    }
}
