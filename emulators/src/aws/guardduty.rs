//! GuardDuty (REST-JSON): detectors.

use axum::http::{Method, Uri};
use serde_json::{Map, Value, json};

use super::seed::Detector;
use super::{Failure, Store, page};

const FREQUENCIES: [&str; 3] = ["FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"];

/// The operation a REST path and method name, and its input: the JSON body plus the path's
/// detector id (`detectorId`) and the query parameters.
pub(crate) fn classify(method: &Method, uri: &Uri, body: &[u8]) -> (String, Value) {
    let mut input = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            _ => return (operation(method, uri.path()), Value::Null),
        }
    };
    for pair in uri.query().unwrap_or_default().split('&') {
        if let Some((k, v)) = pair.split_once('=') {
            input.insert(k.to_string(), json!(super::ec2::percent_decode(v)));
        }
    }
    if let Some(id) = uri
        .path()
        .strip_prefix("/detector/")
        .filter(|s| !s.is_empty())
    {
        input.insert("detectorId".into(), json!(id));
    }
    (operation(method, uri.path()), Value::Object(input))
}

fn operation(method: &Method, path: &str) -> String {
    let one = path
        .strip_prefix("/detector/")
        .is_some_and(|id| !id.contains('/'));
    match (method.as_str(), path == "/detector", one) {
        ("GET", true, _) => "ListDetectors",
        ("POST", true, _) => "CreateDetector",
        ("GET", _, true) => "GetDetector",
        ("POST", _, true) => "UpdateDetector",
        ("DELETE", _, true) => "DeleteDetector",
        _ => "Unknown",
    }
    .to_string()
}

fn bad_request(message: impl Into<String>) -> Failure {
    Failure::new(400, "BadRequestException", message)
}

fn frequency(input: &Value) -> Result<Option<String>, Failure> {
    match input
        .get("findingPublishingFrequency")
        .and_then(Value::as_str)
    {
        None => Ok(None),
        Some(f) if FREQUENCIES.contains(&f) => Ok(Some(f.to_string())),
        Some(f) => Err(bad_request(format!(
            "The request is rejected because an invalid or out-of-range value is specified as an input parameter: {f}"
        ))),
    }
}

fn find<'a>(store: &'a mut Store, input: &Value) -> Result<&'a mut Detector, Failure> {
    let id = input
        .get("detectorId")
        .and_then(Value::as_str)
        .unwrap_or("");
    store
        .seed
        .detectors
        .iter_mut()
        .find(|d| d.detector_id == id)
        .ok_or_else(|| {
            bad_request("The request is rejected because the input detectorId is not owned by the current account.")
        })
}

pub(crate) fn handle(store: &mut Store, operation: &str, input: &Value) -> Result<Value, Failure> {
    match operation {
        "ListDetectors" => {
            let ids: Vec<String> = store
                .seed
                .detectors
                .iter()
                .map(|d| d.detector_id.clone())
                .collect();
            let limit = input
                .get("maxResults")
                .and_then(Value::as_str)
                .and_then(|n| n.parse::<usize>().ok());
            let token = input.get("nextToken").and_then(Value::as_str);
            let (ids, next) = page(&ids, token, limit, store.seed.page_size)
                .map_err(|()| bad_request("The nextToken is invalid."))?;
            let mut out = json!({"detectorIds": ids});
            if let Some(next) = next {
                out["nextToken"] = json!(next);
            }
            Ok(out)
        }
        "CreateDetector" => {
            let Some(enable) = input.get("enable").and_then(Value::as_bool) else {
                return Err(bad_request("enable is required"));
            };
            if !store.seed.detectors.is_empty() {
                return Err(bad_request(
                    "The request is rejected because a detector already exists for the current account.",
                ));
            }
            let frequency = frequency(input)?.unwrap_or_else(|| "SIX_HOURS".into());
            let id = store.hex32();
            store.seed.detectors.push(Detector {
                detector_id: id.clone(),
                status: if enable { "ENABLED" } else { "DISABLED" }.into(),
                finding_publishing_frequency: frequency,
            });
            Ok(json!({"detectorId": id}))
        }
        "GetDetector" => {
            let account = store.seed.account_id.clone();
            let d = find(store, input)?;
            Ok(json!({
                "createdAt": "2026-01-01T00:00:00.000Z",
                "updatedAt": "2026-01-01T00:00:00.000Z",
                "findingPublishingFrequency": d.finding_publishing_frequency,
                "serviceRole": format!("arn:aws:iam::{account}:role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty"),
                "status": d.status,
                "tags": {},
            }))
        }
        "UpdateDetector" => {
            let frequency = frequency(input)?;
            let enable = input.get("enable").and_then(Value::as_bool);
            let d = find(store, input)?;
            if let Some(enable) = enable {
                d.status = if enable { "ENABLED" } else { "DISABLED" }.into();
            }
            if let Some(f) = frequency {
                d.finding_publishing_frequency = f;
            }
            Ok(json!({}))
        }
        "DeleteDetector" => {
            let id = find(store, input)?.detector_id.clone();
            store.seed.detectors.retain(|d| d.detector_id != id);
            Ok(json!({}))
        }
        _ => Err(Failure::new(404, "NotFoundException", "no such operation")),
    }
}
