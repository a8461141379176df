//! Stateful emulator of the AWS APIs Perimeter uses, on one port, answering each service in the
//! protocol its official SDK speaks, so a client configured with one endpoint override works
//! unchanged:
//!
//! | Service | Protocol | Recognised by |
//! |---|---|---|
//! | EC2 | Query (`Action=…&Version=2016-11-15` form, XML answers) | `POST /` with an `Action` |
//! | WAFv2 | awsJson1.1 | `X-Amz-Target: AWSWAF_20190729.<Op>` |
//! | GuardDuty | REST-JSON | `/detector…` paths |
//! | CloudWatch | Smithy RPCv2 CBOR | `POST /service/GraniteServiceVersion20100801/operation/<Op>` |
//! | CloudTrail | awsJson1.1 | `X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Op>` |
//!
//! Operations: EC2 `DescribeRegions`, `DescribeVpcs`, `DescribeSecurityGroups`,
//! `DescribeSecurityGroupRules`, `AuthorizeSecurityGroupIngress`/`Egress`,
//! `RevokeSecurityGroupIngress`/`Egress`, `ModifySecurityGroupRules`, `DescribeNetworkAcls`,
//! `Create`/`Replace`/`DeleteNetworkAclEntry`, `DescribeFlowLogs`, `CreateFlowLogs` (with
//! `Unsuccessful` items), `DeleteFlowLogs`, `DescribeNatGateways` (filters `nat-gateway-id`,
//! `state`, `subnet-id`, `vpc-id`); GuardDuty `ListDetectors`, `GetDetector`,
//! `CreateDetector`, `UpdateDetector`; WAFv2 `ListWebACLs`, `GetWebACL`, `CreateWebACL`,
//! `UpdateWebACL`, `ListIPSets`, `GetIPSet`, `CreateIPSet`, `UpdateIPSet`, `DeleteIPSet` (writes
//! need the current `LockToken`, else `WAFOptimisticLockException`); CloudWatch
//! `DescribeAlarms`, `PutMetricAlarm`, `DeleteAlarms`; CloudTrail `LookupEvents`, whose history
//! records every write accepted here under the signing key's user (see [`cloudtrail`]). A
//! key's `denied` actions (`cloudtrail:LookupEvents`) are answered `AccessDeniedException`
//! (EC2: `UnauthorizedOperation`).
//!
//! Every list pages (`NextToken`/`MaxResults`, `NextMarker`/`Limit`, `nextToken`/`maxResults`)
//! with at most [`Seed::page_size`] items per page.
//!
//! Authentication: a SigV4 `Authorization` header is required and its `Credential` must name
//! one of [`Seed::access_keys`] (any id when the list is empty); otherwise the protocol's
//! authentication error (`AuthFailure` 401, `UnrecognizedClientException` 400/403,
//! `InvalidClientTokenId` 403). When the seed gives the key's secret, the signature is verified
//! as well (`SignatureDoesNotMatch` / `InvalidSignatureException`, 403); the request time is
//! not checked.
//!
//! The request log records each call as `POST /<service>/<Operation>` (`/ec2/DescribeVpcs`,
//! `/cloudwatch/PutMetricAlarm`, `/guardduty/GetDetector`, `/wafv2/UpdateWebACL`) with the
//! decoded input as JSON, and fault rules match that path, so a test can throttle one operation.
//! Faults answer in the protocol's own error shape (`RequestLimitExceeded`, `Throttling`,
//! `ThrottlingException`, `TooManyRequestsException`).
//!
//! ```
//! use perimeter_emulators::aws::{AwsEmulator, Seed};
//!
//! let seed: Seed = serde_json::from_value(serde_json::json!({
//!     "accessKeys": [{"accessKeyId": "AKIDEXAMPLE"}],
//!     "vpcs": [{"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/16"}],
//!     "securityGroups": [{"groupName": "web", "vpcId": "vpc-1",
//!         "ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}]}],
//! })).unwrap();
//! let emulator = AwsEmulator::new(seed);
//! let state = emulator.snapshot();
//! assert!(state.security_groups[0].group_id.starts_with("sg-"));
//! assert!(state.security_groups[0].ingress[0].rule_id.starts_with("sgr-"));
//! ```

pub mod cbor;
mod cloudtrail;
mod cloudwatch;
mod ec2;
mod guardduty;
pub mod seed;
mod sigv4;
mod waf;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub use cloudtrail::console_change;
pub use seed::{
    AccessKey, Alarm, Detector, FlowLog, IpSet, NaclEntry, NatGateway, NatGatewayAddress,
    NetworkAcl, SecurityGroup, Seed, SgRule, TrailEvent, TrailResource, Vpc, WebAcl,
};

use crate::faults::{Fault, Faults};
use crate::server::{self, IdGen, RecordedRequest, RequestLog, RunningEmulator};

const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// An AWS emulator. Clones share state, faults and log.
#[derive(Clone)]
pub struct AwsEmulator {
    shared: Arc<Shared>,
}

struct Shared {
    store: Mutex<Store>,
    faults: Faults,
    log: RequestLog,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) struct Store {
    pub(crate) seed: Seed,
    ids: IdGen,
    /// VPC id → (code, message) that `CreateFlowLogs` reports in `Unsuccessful`.
    pub(crate) refused_flow_logs: BTreeMap<String, (String, String)>,
}

impl Store {
    /// `prefix` and 17 hex characters, the look of EC2 ids.
    pub(crate) fn ec2_id(&mut self, prefix: &str) -> String {
        format!("{prefix}-{}", &self.ids.hex32()[..17])
    }

    pub(crate) fn uuid(&mut self) -> String {
        self.ids.uuid()
    }

    pub(crate) fn hex32(&mut self) -> String {
        self.ids.hex32()
    }

    fn normalize(&mut self) {
        let mut seed = std::mem::take(&mut self.seed);
        if seed.page_size == 0 {
            seed.page_size = 100;
        }
        for vpc in &mut seed.vpcs {
            if vpc.vpc_id.is_empty() {
                vpc.vpc_id = self.ec2_id("vpc");
            }
        }
        for group in &mut seed.security_groups {
            if group.group_id.is_empty() {
                group.group_id = self.ec2_id("sg");
            }
            for rule in group.ingress.iter_mut().chain(group.egress.iter_mut()) {
                ec2::normalize_rule(rule);
                if rule.rule_id.is_empty() {
                    rule.rule_id = self.ec2_id("sgr");
                }
            }
        }
        for gw in &mut seed.nat_gateways {
            if gw.nat_gateway_id.is_empty() {
                gw.nat_gateway_id = self.ec2_id("nat");
            }
            if gw.state.is_empty() {
                gw.state = "available".into();
            }
            if gw.connectivity_type.is_empty() {
                gw.connectivity_type = "public".into();
            }
            let primary = gw.addresses.iter().any(|a| a.is_primary);
            for (i, a) in gw.addresses.iter_mut().enumerate() {
                a.is_primary |= !primary && i == 0;
                if a.status.is_empty() {
                    a.status = "succeeded".into();
                }
                if a.network_interface_id.is_empty() {
                    a.network_interface_id = self.ec2_id("eni");
                }
                if a.public_ip.is_some() && a.allocation_id.is_none() {
                    a.allocation_id = Some(self.ec2_id("eipalloc"));
                }
            }
        }
        for acl in &mut seed.network_acls {
            if acl.network_acl_id.is_empty() {
                acl.network_acl_id = self.ec2_id("acl");
            }
            for e in &mut acl.entries {
                e.protocol = ec2::nacl_protocol(&e.protocol);
            }
            for egress in [false, true] {
                if !acl
                    .entries
                    .iter()
                    .any(|e| e.rule_number == 32767 && e.egress == egress)
                {
                    acl.entries.push(NaclEntry {
                        rule_number: 32767,
                        egress,
                        protocol: "-1".into(),
                        rule_action: "deny".into(),
                        cidr_block: Some("0.0.0.0/0".into()),
                        ..NaclEntry::default()
                    });
                }
            }
        }
        for fl in &mut seed.flow_logs {
            if fl.flow_log_id.is_empty() {
                fl.flow_log_id = self.ec2_id("fl");
            }
            if fl.log_destination_type.is_empty() {
                fl.log_destination_type = "cloud-watch-logs".into();
            }
        }
        for d in &mut seed.detectors {
            if d.detector_id.is_empty() {
                d.detector_id = self.hex32();
            }
            if d.status.is_empty() {
                d.status = "ENABLED".into();
            }
            if d.finding_publishing_frequency.is_empty() {
                d.finding_publishing_frequency = "SIX_HOURS".into();
            }
        }
        for set in &mut seed.ip_sets {
            if set.id.is_empty() {
                set.id = self.uuid();
            }
            if set.scope.is_empty() {
                set.scope = "REGIONAL".into();
            }
            if set.ip_address_version.is_empty() {
                set.ip_address_version = "IPV4".into();
            }
            if set.lock_token.is_empty() {
                set.lock_token = self.uuid();
            }
        }
        for acl in &mut seed.web_acls {
            if acl.id.is_empty() {
                acl.id = self.uuid();
            }
            if acl.scope.is_empty() {
                acl.scope = "REGIONAL".into();
            }
            if acl.lock_token.is_empty() {
                acl.lock_token = self.uuid();
            }
            if acl.default_action.is_null() {
                acl.default_action = json!({"Allow": {}});
            }
            if acl.visibility_config.is_null() {
                acl.visibility_config = json!({"SampledRequestsEnabled": true,
                    "CloudWatchMetricsEnabled": true, "MetricName": acl.name});
            }
        }
        for e in &mut seed.cloud_trail {
            if e.event_id.is_empty() {
                e.event_id = self.uuid();
                if let Some(r) = e.record.as_object_mut() {
                    r.insert("eventID".into(), json!(e.event_id));
                }
            }
        }
        self.seed = seed;
    }
}

/// An error answer, before the protocol renders it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The wire protocols served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Ec2Query,
    RpcV2Cbor,
    AwsJson11,
    RestJson,
    /// CloudTrail's awsJson1.1 (errors and faults as [`Protocol::AwsJson11`]).
    CloudTrail,
}

impl Protocol {
    fn service(self) -> &'static str {
        match self {
            Protocol::Ec2Query => "ec2",
            Protocol::RpcV2Cbor => "cloudwatch",
            Protocol::AwsJson11 => "wafv2",
            Protocol::RestJson => "guardduty",
            Protocol::CloudTrail => "cloudtrail",
        }
    }

    fn auth_failure(self) -> Failure {
        match self {
            Protocol::Ec2Query => Failure::new(
                401,
                "AuthFailure",
                "AWS was not able to validate the provided access credentials",
            ),
            Protocol::RpcV2Cbor => Failure::new(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ),
            Protocol::AwsJson11 | Protocol::CloudTrail => Failure::new(
                400,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            Protocol::RestJson => Failure::new(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
        }
    }

    fn bad_signature(self) -> Failure {
        let message =
            "The request signature we calculated does not match the signature you provided.";
        match self {
            Protocol::Ec2Query | Protocol::RpcV2Cbor => {
                Failure::new(403, "SignatureDoesNotMatch", message)
            }
            Protocol::AwsJson11 | Protocol::RestJson | Protocol::CloudTrail => {
                Failure::new(403, "InvalidSignatureException", message)
            }
        }
    }

    fn throttled(self) -> Failure {
        let message = "Rate exceeded";
        match self {
            Protocol::Ec2Query => {
                Failure::new(503, "RequestLimitExceeded", "Request limit exceeded.")
            }
            Protocol::RpcV2Cbor => Failure::new(400, "Throttling", message),
            Protocol::AwsJson11 | Protocol::CloudTrail => {
                Failure::new(400, "ThrottlingException", message)
            }
            Protocol::RestJson => Failure::new(429, "TooManyRequestsException", message),
        }
    }

    fn server_error(self, status: u16) -> Failure {
        let code = match (self, status) {
            (Protocol::Ec2Query, 503) => "Unavailable",
            (Protocol::Ec2Query, _) => "InternalError",
            (_, 503) => "ServiceUnavailable",
            (Protocol::RestJson, _) => "InternalServerErrorException",
            _ => "InternalFailure",
        };
        Failure::new(
            status,
            code,
            "An internal error has occurred (injected fault)",
        )
    }

    /// Renders an error the way this protocol's SDK parses it.
    fn error(self, failure: &Failure, request_id: &str) -> Response {
        let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_REQUEST);
        match self {
            Protocol::Ec2Query => ec2::error_response(status, failure, request_id),
            Protocol::RpcV2Cbor => {
                let body =
                    cbor::encode(&json!({"__type": failure.code, "message": failure.message}));
                let mut response = cbor::response(status, body, request_id);
                let sender = if failure.status >= 500 {
                    "Receiver"
                } else {
                    "Sender"
                };
                if let Ok(v) = HeaderValue::from_str(&format!("{};{sender}", failure.code)) {
                    response
                        .headers_mut()
                        .insert(HeaderName::from_static("x-amzn-query-error"), v);
                }
                response
            }
            Protocol::AwsJson11 | Protocol::CloudTrail => json_response(
                status,
                &json!({"__type": failure.code, "Message": failure.message}),
                "application/x-amz-json-1.1",
                request_id,
            ),
            Protocol::RestJson => {
                let mut response = json_response(
                    status,
                    &json!({"__type": failure.code, "message": failure.message}),
                    "application/json",
                    request_id,
                );
                if let Ok(v) = HeaderValue::from_str(&failure.code) {
                    response
                        .headers_mut()
                        .insert(HeaderName::from_static("x-amzn-errortype"), v);
                }
                response
            }
        }
    }

    /// A `200` whose body is not in the protocol's format at all.
    fn malformed(self) -> Response {
        let content_type = match self {
            Protocol::Ec2Query => "text/xml",
            Protocol::RpcV2Cbor => "application/cbor",
            Protocol::AwsJson11 | Protocol::CloudTrail => "application/x-amz-json-1.1",
            Protocol::RestJson => "application/json",
        };
        let mut response = (StatusCode::OK, "<html>oops").into_response();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        response
    }

    /// A `200` in the protocol's format whose members have the wrong types.
    fn wrong_shape(self, operation: &str, request_id: &str) -> Response {
        match self {
            Protocol::Ec2Query => ec2::wrong_shape(operation, request_id),
            Protocol::RpcV2Cbor => cbor::response(
                StatusCode::OK,
                cbor::encode(&json!({"MetricAlarms": 7, "NextToken": 42})),
                request_id,
            ),
            Protocol::CloudTrail => json_response(
                StatusCode::OK,
                &json!({"Events": "none", "NextToken": 5}),
                "application/x-amz-json-1.1",
                request_id,
            ),
            Protocol::AwsJson11 => json_response(
                StatusCode::OK,
                &json!({"WebACLs": "none", "IPSets": 3, "WebACL": [], "LockToken": 5}),
                "application/x-amz-json-1.1",
                request_id,
            ),
            Protocol::RestJson => json_response(
                StatusCode::OK,
                &json!({"detectorIds": "d", "status": 1}),
                "application/json",
                request_id,
            ),
        }
    }
}

pub(crate) fn json_response(
    status: StatusCode,
    body: &Value,
    content_type: &'static str,
    request_id: &str,
) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    response
}

/// Whether an operation changes state (and so is recorded in CloudTrail's event history).
/// Every AWS call is a POST: tests tell writes from reads in the request log with this (the
/// log's path is `/<service>/<Operation>`).
pub fn is_write(operation: &str) -> bool {
    !["Describe", "List", "Get", "LookupEvents"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// One page of `items` from the opaque `token` (an offset), at most `limit` (capped by the
/// configured page size). `Err` when the token is not one this emulator issued.
pub(crate) fn page<T: Clone>(
    items: &[T],
    token: Option<&str>,
    limit: Option<usize>,
    page_size: usize,
) -> Result<(Vec<T>, Option<String>), ()> {
    let start = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or(())?,
    };
    let size = limit
        .filter(|l| *l > 0)
        .map_or(page_size, |l| l.min(page_size))
        .max(1);
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| format!("page-{end}"));
    Ok((items[start..end].to_vec(), next))
}

/// What a request asks, whatever its protocol.
struct Call {
    protocol: Protocol,
    operation: String,
    input: Value,
}

fn classify(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Option<Call> {
    let path = uri.path();
    if let Some(target) = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AWSWAF_20190729."))
    {
        let input = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(body).unwrap_or(Value::Null)
        };
        return Some(Call {
            protocol: Protocol::AwsJson11,
            operation: target.to_string(),
            input,
        });
    }
    if let Some(target) = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(cloudtrail::target_operation)
    {
        let input = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(body).unwrap_or(Value::Null)
        };
        return Some(Call {
            protocol: Protocol::CloudTrail,
            operation: target.to_string(),
            input,
        });
    }
    if let Some(op) = path.strip_prefix("/service/GraniteServiceVersion20100801/operation/") {
        let input = if body.is_empty() {
            Some(json!({}))
        } else {
            cbor::decode(body)
        };
        return Some(Call {
            protocol: Protocol::RpcV2Cbor,
            operation: op.to_string(),
            input: input.unwrap_or(Value::Null),
        });
    }
    if path == "/detector" || path.starts_with("/detector/") {
        let (operation, input) = guardduty::classify(method, uri, body);
        return Some(Call {
            protocol: Protocol::RestJson,
            operation,
            input,
        });
    }
    if method == Method::POST && (path == "/" || path.is_empty()) {
        let params = ec2::parse_form(body);
        let operation = params.get("Action").cloned()?;
        let input = Value::Object(
            params
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        );
        return Some(Call {
            protocol: Protocol::Ec2Query,
            operation,
            input,
        });
    }
    None
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = shared.store().uuid();
    if body.len() > MAX_BODY_BYTES {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let Some(call) = classify(&method, &uri, &headers, &body) else {
        shared.log.record(RecordedRequest {
            method: method.as_str().to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            body: None,
            status: 404,
        });
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"message": "no emulated AWS operation here"}),
            "application/json",
            &request_id,
        );
    };
    let path = format!("/{}/{}", call.protocol.service(), call.operation);
    let seq = shared.log.start(RecordedRequest {
        method: method.as_str().to_string(),
        path: path.clone(),
        query: uri.query().map(str::to_string),
        body: Some(call.input.clone()),
        status: 0,
    });
    let request = Request {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    let fault = shared.faults.take(method.as_str(), &path);
    let hold = match fault {
        Some(Fault::HangAfter { millis }) => Some(Duration::from_millis(millis)),
        _ => None,
    };
    let response = answer(&shared, &request, &call, &request_id, fault).await;
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await; // done, but the answer is late (or lost)
    }
    shared.log.finish(seq, response.status().as_u16());
    response
}

/// The parts of a request that authentication looks at.
struct Request<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

async fn answer(
    shared: &Shared,
    request: &Request<'_>,
    call: &Call,
    request_id: &str,
    fault: Option<Fault>,
) -> Response {
    let Request {
        method,
        uri,
        headers,
        body,
    } = *request;
    let protocol = call.protocol;
    match fault {
        // Answered normally; the caller holds the answer back.
        None | Some(Fault::HangAfter { .. }) => {}
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut response = protocol.error(&protocol.throttled(), request_id);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return response;
        }
        Some(Fault::RateLimitedSilently) => {
            return protocol.error(&protocol.throttled(), request_id);
        }
        Some(Fault::ServerError { status }) => {
            let status = if (100..=599).contains(&status) {
                status
            } else {
                500
            };
            return protocol.error(&protocol.server_error(status), request_id);
        }
        Some(Fault::Hang { millis }) => tokio::time::sleep(Duration::from_millis(millis)).await,
        Some(Fault::Malformed) => return protocol.malformed(),
        Some(Fault::WrongShape) => return protocol.wrong_shape(&call.operation, request_id),
        Some(Fault::EchoRequest { status }) => {
            let message = crate::faults::echo(method.as_str(), uri, headers, body);
            let failure = Failure::new(status, "InvalidParameterValue", &message);
            return protocol.error(&failure, request_id);
        }
    }
    let mut store = shared.store();
    let Some(auth) = sigv4::parse(headers) else {
        return protocol.error(&protocol.auth_failure(), request_id);
    };
    let keys = &store.seed.access_keys;
    let key = keys.iter().find(|k| k.access_key_id == auth.key_id);
    if !keys.is_empty() && key.is_none() {
        return protocol.error(&protocol.auth_failure(), request_id);
    }
    if let Some(secret) = key.and_then(|k| k.secret_access_key.as_deref())
        && !sigv4::verify(&auth, secret, method, uri, headers, body)
    {
        return protocol.error(&protocol.bad_signature(), request_id);
    }
    if call.input.is_null() {
        let failure = Failure::new(
            400,
            "SerializationException",
            "the request body could not be read",
        );
        return protocol.error(&failure, request_id);
    }
    let service = protocol.service();
    let action = format!("{service}:{}", call.operation);
    let user_name = key
        .and_then(|k| k.user_name.clone())
        .unwrap_or_else(|| "perimeter".to_string());
    if key.is_some_and(|k| k.denied.iter().any(|d| d.eq_ignore_ascii_case(&action))) {
        let account = &store.seed.account_id;
        let message = format!(
            "User: arn:aws:iam::{account}:user/{user_name} is not authorized to perform: \
             {action} because no identity-based policy allows the {action} action"
        );
        let failure = match protocol {
            Protocol::Ec2Query => Failure::new(403, "UnauthorizedOperation", message),
            _ => Failure::new(400, "AccessDeniedException", message),
        };
        return protocol.error(&failure, request_id);
    }
    let access_key_id = auth.key_id.clone();
    let result = match protocol {
        Protocol::Ec2Query => ec2::handle(&mut store, &call.operation, &call.input)
            .map(|inner| ec2::ok_response(&call.operation, &inner, request_id)),
        Protocol::RpcV2Cbor => cloudwatch::handle(&mut store, &call.operation, &call.input)
            .map(|out| cbor::response(StatusCode::OK, cbor::encode(&out), request_id)),
        Protocol::AwsJson11 => waf::handle(&mut store, &call.operation, &call.input).map(|out| {
            json_response(
                StatusCode::OK,
                &out,
                "application/x-amz-json-1.1",
                request_id,
            )
        }),
        Protocol::RestJson => guardduty::handle(&mut store, &call.operation, &call.input)
            .map(|out| json_response(StatusCode::OK, &out, "application/json", request_id)),
        Protocol::CloudTrail => {
            cloudtrail::handle(&mut store, &call.operation, &call.input).map(|out| {
                json_response(
                    StatusCode::OK,
                    &out,
                    "application/x-amz-json-1.1",
                    request_id,
                )
            })
        }
    };
    if result.is_ok() && is_write(&call.operation) {
        let event_id = store.uuid();
        let account_id = store.seed.account_id.clone();
        let region = store.seed.region.clone();
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let signer = cloudtrail::Signer {
            account_id: &account_id,
            access_key_id: &access_key_id,
            user_name: &user_name,
            user_agent,
        };
        let event = cloudtrail::recorded(
            service,
            &call.operation,
            &call.input,
            &signer,
            &region,
            request_id,
            event_id,
        );
        store.seed.cloud_trail.push(event);
    }
    result.unwrap_or_else(|failure| protocol.error(&failure, request_id))
}

impl AwsEmulator {
    pub fn new(seed: Seed) -> Self {
        let mut store = Store {
            seed,
            ids: IdGen::new(),
            refused_flow_logs: BTreeMap::new(),
        };
        store.normalize();
        Self {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
                faults: Faults::new(),
                log: RequestLog::new(),
            }),
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    pub fn log(&self) -> &RequestLog {
        &self.shared.log
    }

    /// The current state, in the seed's shape.
    pub fn snapshot(&self) -> Seed {
        self.shared.store().seed.clone()
    }

    /// Changes the account as someone else would (the console, another tool); missing ids are
    /// filled in afterwards.
    pub fn mutate(&self, edit: impl FnOnce(&mut Seed)) {
        let mut store = self.shared.store();
        edit(&mut store.seed);
        store.normalize();
    }

    /// From now on `CreateFlowLogs` lists this VPC in `Unsuccessful` with this error.
    pub fn refuse_flow_logs(&self, vpc_id: &str, code: &str, message: &str) {
        self.shared
            .store()
            .refused_flow_logs
            .insert(vpc_id.into(), (code.into(), message.into()));
    }

    /// Another writer changes the web ACL: its lock token moves on.
    pub fn touch_web_acl(&self, name: &str) {
        let mut store = self.shared.store();
        let token = store.uuid();
        if let Some(acl) = store.seed.web_acls.iter_mut().find(|a| a.name == name) {
            acl.lock_token = token;
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .fallback(dispatch)
            .with_state(self.shared.clone())
    }

    pub async fn start(&self, bind: &str) -> std::io::Result<RunningEmulator> {
        server::serve(self.router(), bind).await
    }
}
