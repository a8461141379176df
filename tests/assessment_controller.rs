//! The ControlAssessment reconcile against a mocked Kubernetes API (tower-test): providers and
//! policies come from the watch caches (any other request is recorded and fails the counts);
//! the evidence ConfigMap it creates and then replaces (with the resourceVersion it read), the
//! server-side-apply status, the Event when compliance regresses, and no write at all when
//! nothing changed or when the stored trail cannot be read, and no evidence write when the trail
//! was edited since the status published its head.

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use perimeter::Metrics;
use perimeter::api::ControlAssessment;
use perimeter::controller::Context;
use perimeter::controller::assessment::{AssessmentContext, Sources, reconcile};
use serde_json::{Value, json};
use tower_test::mock::{Handle, SendResponse};

type MockHandle = Handle<Request<Body>, Response<Body>>;

const CM_PATH: &str = "/api/v1/namespaces/perimeter/configmaps";
const CM_NAME: &str = "perimeter-evidence-de-cm-1";

fn assessment(status: Option<Value>) -> ControlAssessment {
    let mut v = json!({
        "apiVersion": "perimeter.dev/v1alpha1", "kind": "ControlAssessment",
        "metadata": {"name": "de-cm-1", "generation": 1, "resourceVersion": "3", "uid": "a1"},
        "spec": {"control": "DE.CM-1", "attestations": [{
            "requirement": "EndpointFirewall",
            "statement": "Host firewalls enforced by MDM everywhere",
            "attestedBy": "ciso@example.com",
            "evidenceUrl": "https://grc.example.com/e/1",
            "expires": "2099-01-01T00:00:00Z"
        }]}
    });
    if let Some(s) = status {
        v["status"] = s;
    }
    serde_json::from_value(v).expect("assessment")
}

fn cond(type_: &str, status: &str) -> Value {
    json!([{"type": type_, "status": status, "reason": "R", "message": "", "lastTransitionTime": "2026-11-28T10:00:00Z"}])
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "perimeter.dev/v1alpha1", "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1"}, "items": items})
}

/// One Cloudflare account with a firewall and a monitoring policy (with an alert route that
/// reaches a live channel).
fn cluster(firewall_in_sync: &str) -> (Value, Value, Value) {
    let provider = json!({
        "apiVersion": "perimeter.dev/v1alpha1", "kind": "CloudProvider",
        "metadata": {"name": "cf", "namespace": "team"},
        "spec": {"type": "cloudflare", "accountId": "a1", "credentials": {"secretRef": {"name": "s", "key": "k"}}},
        "status": {"conditions": cond("Ready", "True")}
    });
    let firewall = json!({
        "apiVersion": "perimeter.dev/v1alpha1", "kind": "FirewallPolicy",
        "metadata": {"name": "edge", "namespace": "team"},
        "spec": {"providerRef": {"name": "cf"}, "mode": "Enforce", "cloudflare": {"zoneId": "023e105f4ecef8ad9ca31a8372d0c353"}},
        "status": {"conditions": cond("InSync", firewall_in_sync), "driftCount": if firewall_in_sync == "True" { 0 } else { 3 },
                   "lastSyncTime": "2026-11-28T11:00:00Z"}
    });
    let monitoring = json!({
        "apiVersion": "perimeter.dev/v1alpha1", "kind": "MonitoringPolicy",
        "metadata": {"name": "alerts", "namespace": "team"},
        "spec": {"providerRef": {"name": "cf"}, "mode": "Enforce", "cloudflare": {"notificationPolicies": [
            {"name": "ddos", "alertType": "dos_attack_l7", "mechanisms": {"email": ["soc@example.com"]}}
        ]}},
        // The route its last read showed, to a channel a Slack read vouched for (carried on
        // this policy's status for brevity: any policy's alertChannels count).
        "status": {"conditions": cond("InSync", "True"),
                   "alertRoutes": [{"route": "notification policy 'ddos'", "slack": {"channel": "C0ALERTS01"}}],
                   "alertChannels": [{"team": "T0DEM0ACME", "id": "C0ALERTS01", "name": "ops-alerts", "live": true}]}
    });
    (
        list("CloudProvider", vec![provider]),
        list("FirewallPolicy", vec![firewall]),
        list("MonitoringPolicy", vec![monitoring]),
    )
}

fn respond(send: SendResponse<Response<Body>>, code: StatusCode, body: &Value) {
    send.send_response(
        Response::builder()
            .status(code)
            .body(Body::from(serde_json::to_vec(body).expect("json")))
            .expect("response"),
    );
}

struct World {
    lists: (Value, Value, Value),
    configmap: Option<Value>,
    current: ControlAssessment,
}

#[derive(Debug)]
struct Write {
    method: Method,
    uri: String,
    body: Value,
}

async fn serve(mut handle: MockHandle, world: World) -> Vec<Write> {
    let mut writes = Vec::new();
    loop {
        let Ok(Some((req, send))) =
            tokio::time::timeout(std::time::Duration::from_secs(3), handle.next_request()).await
        else {
            return writes;
        };
        let method = req.method().clone();
        let uri = req.uri().to_string();
        let path = uri.split('?').next().unwrap_or_default().to_string();
        match (method.clone(), path.as_str()) {
            (Method::GET, p) if p == format!("{CM_PATH}/{CM_NAME}") => match &world.configmap {
                Some(cm) => respond(send, StatusCode::OK, cm),
                None => respond(
                    send,
                    StatusCode::NOT_FOUND,
                    &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
                ),
            },
            _ => {
                let bytes = req.into_body().collect_bytes().await.expect("body");
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                writes.push(Write {
                    method,
                    uri: uri.clone(),
                    body: body.clone(),
                });
                if uri.contains("/status") {
                    let mut obj = serde_json::to_value(&world.current).expect("json");
                    obj["status"] = body["status"].clone();
                    respond(send, StatusCode::OK, &obj);
                } else {
                    respond(send, StatusCode::OK, &body);
                }
            }
        }
    }
}

fn items<K: serde::de::DeserializeOwned>(list: &Value) -> Vec<K> {
    serde_json::from_value(list["items"].clone()).expect("items")
}

async fn run_once(world: World) -> (Result<(), String>, Vec<Write>) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let ctx = Context::new(client, Arc::new(Metrics::new().expect("metrics")));
    // The controller reads providers and policies from its watch caches, not the API.
    let sources = Sources::from_objects(
        items(&world.lists.0),
        items(&world.lists.1),
        items(&world.lists.2),
    );
    let actx = Arc::new(AssessmentContext { ctx, sources });
    let obj = world.current.clone();
    let server = tokio::spawn(serve(handle, world));
    let result = reconcile(Arc::new(obj), actx)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    (result, server.await.expect("mock server"))
}

fn trail_of(write: &Write) -> Value {
    serde_json::from_str(
        write.body["data"]["trail.json"]
            .as_str()
            .expect("trail.json"),
    )
    .expect("trail json")
}

#[tokio::test]
async fn assessment_lifecycle_writes_evidence_status_and_events_only_on_change() {
    // 1. First evaluation: everything verified or attested → Implemented; the evidence
    //    ConfigMap is created with record #1, the status applied; no Event (no previous state).
    let (result, writes) = run_once(World {
        lists: cluster("True"),
        configmap: None,
        current: assessment(None),
    })
    .await;
    assert_eq!(result, Ok(()));
    assert_eq!(writes.len(), 2, "{writes:#?}");
    assert_eq!(writes[0].method, Method::POST);
    assert!(writes[0].uri.starts_with(CM_PATH), "{}", writes[0].uri);
    assert_eq!(writes[0].body["metadata"]["name"], CM_NAME);
    let trail = trail_of(&writes[0]);
    assert_eq!(trail["records"][0]["seq"], 1);
    assert_eq!(trail["records"][0]["state"], "Implemented");
    let result: Value = serde_json::from_str(
        writes[0].body["data"]["assessment.json"]
            .as_str()
            .expect("assessment.json"),
    )
    .expect("json");
    assert_eq!(result["coverage"][0]["provider"], "team/cf");
    assert_eq!(writes[1].method, Method::PATCH);
    let uri = &writes[1].uri;
    assert!(
        uri.starts_with("/apis/perimeter.dev/v1alpha1/controlassessments/de-cm-1/status?")
            && uri.contains("fieldManager=perimeter")
            && uri.contains("force=true"),
        "{uri}"
    );
    let status = writes[1].body["status"].clone();
    assert_eq!(status["state"], "Implemented");
    assert_eq!(status["score"], "4/4");
    assert_eq!(status["maturity"]["level"], 3);
    assert_eq!(status["coverage"][0]["firewall"], "Verified");
    assert_eq!(status["evidence"]["seq"], 1);
    assert_eq!(
        status["evidence"]["store"],
        format!("ConfigMap perimeter/{CM_NAME}")
    );
    assert_eq!(status["conditions"][0]["status"], "True");

    // 2. Nothing changed: no write at all (kmock-style servers would emit MODIFIED otherwise).
    let stored_cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": CM_NAME, "namespace": "perimeter", "resourceVersion": "41"},
        "data": writes[0].body["data"].clone()
    });
    let (result, again) = run_once(World {
        lists: cluster("True"),
        configmap: Some(stored_cm.clone()),
        current: assessment(Some(status.clone())),
    })
    .await;
    assert_eq!(result, Ok(()));
    assert!(again.is_empty(), "{again:#?}");

    // 3. The firewall drifts: record #2 linked to #1, the ConfigMap replaced with the
    //    resourceVersion read, the status updated, a Warning Event with the evidence digest.
    let (result, drift) = run_once(World {
        lists: cluster("False"),
        configmap: Some(stored_cm.clone()),
        current: assessment(Some(status.clone())),
    })
    .await;
    assert_eq!(result, Ok(()));
    let methods: Vec<(&Method, &str)> = drift
        .iter()
        .map(|w| (&w.method, w.uri.split('?').next().unwrap_or_default()))
        .collect();
    assert_eq!(methods.len(), 3, "{drift:#?}");
    assert_eq!(
        methods[0],
        (&Method::PUT, format!("{CM_PATH}/{CM_NAME}").as_str())
    );
    assert_eq!(drift[0].body["metadata"]["resourceVersion"], "41");
    let trail2 = trail_of(&drift[0]);
    assert_eq!(trail2["records"][1]["seq"], 2);
    assert_eq!(
        trail2["records"][1]["previous"],
        trail["records"][0]["digest"]
    );
    assert_eq!(drift[1].body["status"]["state"], "PartiallyImplemented");
    assert_eq!(
        drift[1].body["status"]["gaps"][0]["requirement"],
        "BoundaryFirewall"
    );
    assert!(drift[2].uri.contains("/events"), "{}", drift[2].uri);
    assert_eq!(drift[2].body["reason"], "ComplianceRegressed");
    assert_eq!(drift[2].body["type"], "Warning");
    assert!(
        drift[2].body["note"]
            .as_str()
            .is_some_and(|n| n.contains("evidence #2 sha256:")),
        "{}",
        drift[2].body
    );

    // 4. A trail that does not parse is never overwritten: Ready=False, no ConfigMap write.
    let mut broken = stored_cm.clone();
    broken["data"]["trail.json"] = json!("{not json");
    let (result, writes) = run_once(World {
        lists: cluster("True"),
        configmap: Some(broken),
        current: assessment(Some(status.clone())),
    })
    .await;
    assert_eq!(result, Ok(()));
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert!(writes[0].uri.contains("/status"));
    let c = &writes[0].body["status"]["conditions"][0];
    assert_eq!(c["status"], "False");
    assert_eq!(c["reason"], "EvidenceUnreadable");

    // 5. Record #1 edited and re-digested since the status published it: the chain alone looks
    //    intact, but extending it would make record #2 vouch for the edit. The drift is not
    //    recorded; Ready=False says why; the ConfigMap is left as it is.
    let mut edited = trail.clone();
    let mut record: perimeter::compliance::evidence::Record =
        serde_json::from_value(edited["records"][0].clone()).expect("record");
    record.satisfied = 3;
    record.digest = record.compute_digest();
    edited["records"][0] = serde_json::to_value(&record).expect("json");
    let mut forged = stored_cm;
    forged["data"]["trail.json"] = json!(edited.to_string());
    let (result, writes) = run_once(World {
        lists: cluster("False"),
        configmap: Some(forged),
        current: assessment(Some(status)),
    })
    .await;
    assert_eq!(result, Ok(()));
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert!(writes[0].uri.contains("/status"));
    let held = &writes[0].body["status"];
    assert_eq!(held["conditions"][0]["status"], "False");
    assert_eq!(held["conditions"][0]["reason"], "EvidenceTampered");
    assert!(
        held["conditions"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("HeadMismatch at #1")),
        "{held}"
    );
    assert_eq!(held["evidence"]["seq"], 1);
    assert_eq!(held["state"], "Implemented", "the last result is kept");
}
