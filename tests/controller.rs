//! The policy reconcile against a mocked Kubernetes API (tower-test): the exact requests it
//! sends — finalizer patch, the server-side-apply status patch with its field manager, the
//! Event — and that an unchanged status is not written. The CloudProvider and its Secret come
//! from the watch caches, so a reconcile reads nothing from the API server.

use std::sync::Arc;

use http::{Method, Request, Response};
use kube::client::Body;
use kube::runtime::controller::Action;
use perimeter::api::{CloudProvider, FirewallPolicy};
use perimeter::controller::Context;
use perimeter::controller::guard::Parsed;
use perimeter::controller::policy::reconcile;
use perimeter::{Error, Metrics};
use perimeter_emulators::cloudflare::{CloudflareEmulator, Seed};
use serde_json::{Value, json};
use tower_test::mock::{Handle, SendResponse};

const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const ACCOUNT: &str = "01a7362d577a6c3019a474fd6f485823";

type MockHandle = Handle<Request<Body>, Response<Body>>;

fn seed() -> Seed {
    let yaml = format!(
        "tokens: [tok-123456]\naccounts: [{{id: {ACCOUNT}}}]\nzones:\n  - id: {ZONE}\n    account_id: {ACCOUNT}\n    rulesets:\n      http_request_firewall_custom:\n        rules: [{{ref: block-admin, expression: '(http.request.uri.path contains \"/admin\")', action: log}}]\n"
    );
    serde_json::from_value(perimeter::manifests::yaml_to_json(&yaml).expect("yaml")).expect("seed")
}

fn policy(mode: &str, deletion: &str, status: Option<Value>) -> FirewallPolicy {
    let mut v = json!({
        "apiVersion": "perimeter.dev/v1alpha1",
        "kind": "FirewallPolicy",
        "metadata": {"name": "edge", "namespace": "team", "generation": 2, "resourceVersion": "10", "uid": "u1"},
        "spec": {
            "providerRef": {"name": "cf"},
            "mode": mode,
            "deletionPolicy": deletion,
            "cloudflare": {"zoneId": ZONE, "wafCustomRules": [
                {"ref": "block-admin", "expression": "(http.request.uri.path contains \"/admin\")", "action": "block"}
            ]}
        }
    });
    if let Some(s) = status {
        v["status"] = s;
    }
    serde_json::from_value(v).expect("policy")
}

fn provider(endpoint: &str) -> Value {
    json!({
        "apiVersion": "perimeter.dev/v1alpha1", "kind": "CloudProvider",
        "metadata": {"name": "cf", "namespace": "team", "generation": 1, "resourceVersion": "5"},
        "spec": {"type": "cloudflare", "accountId": ACCOUNT, "endpoint": endpoint,
                 "credentials": {"secretRef": {"name": "cf-api", "key": "token"}}}
    })
}

fn secret() -> Value {
    // base64("tok-123456")
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cf-api", "namespace": "team", "resourceVersion": "7",
               "labels": {"perimeter.dev/credential": "true"}},
           "data": {"token": "dG9rLTEyMzQ1Ng=="}})
}

/// A context whose watch caches hold `providers` and the labelled Secret, and whose admin
/// allows endpoints on loopback (the emulator).
fn context(client: kube::Client, providers: Vec<Value>) -> Arc<Context> {
    use perimeter::controller::guard::Parsed;
    use perimeter::controller::watch::Feed;
    use perimeter::controller::{Feeds, Settings};
    let parsed = providers
        .into_iter()
        .map(|p| serde_json::from_value::<Parsed<CloudProvider>>(p).expect("provider"));
    let secret: k8s_openapi::api::core::v1::Secret =
        serde_json::from_value(secret()).expect("secret");
    let feeds = Feeds {
        secrets: Feed::filled([secret]),
        providers: Feed::filled(parsed),
        ..Feeds::default()
    };
    let settings = Settings {
        trust: perimeter::trust::Trust {
            endpoint_hosts: vec![
                perimeter::trust::HostPattern::parse("127.0.0.1").expect("pattern"),
            ],
            ..Default::default()
        },
        ..Settings::default()
    };
    Context::with(
        client,
        Arc::new(Metrics::new().expect("metrics")),
        settings,
        Arc::new(feeds),
    )
}

async fn next(handle: &mut MockHandle) -> (Request<Body>, SendResponse<Response<Body>>) {
    tokio::time::timeout(std::time::Duration::from_secs(10), handle.next_request())
        .await
        .expect("a request in time")
        .expect("service alive")
}

fn respond(send: SendResponse<Response<Body>>, body: &Value) {
    send.send_response(
        Response::builder()
            .body(Body::from(serde_json::to_vec(body).expect("json")))
            .expect("response"),
    );
}

async fn body_json(req: Request<Body>) -> Value {
    let bytes = req.into_body().collect_bytes().await.expect("body");
    serde_json::from_slice(&bytes).expect("json body")
}

/// Serves the reads and captures the writes of one reconcile.
struct Recorded {
    writes: Vec<(Method, String, Option<String>, Value)>,
}

async fn serve(mut handle: MockHandle, endpoint: String, current: FirewallPolicy) -> Recorded {
    let mut writes = Vec::new();
    loop {
        let Ok(Some((req, send))) =
            tokio::time::timeout(std::time::Duration::from_secs(3), handle.next_request()).await
        else {
            return Recorded { writes };
        };
        let method = req.method().clone();
        let uri = req.uri().to_string();
        let content_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match (method.clone(), uri.as_str()) {
            (Method::GET, u)
                if u.starts_with(
                    "/apis/perimeter.dev/v1alpha1/namespaces/team/cloudproviders/cf",
                ) =>
            {
                respond(send, &provider(&endpoint))
            }
            (Method::GET, u) if u.starts_with("/api/v1/namespaces/team/secrets/cf-api") => {
                respond(send, &secret())
            }
            _ => {
                let body = body_json(req).await;
                writes.push((method, uri.clone(), content_type, body.clone()));
                if uri.contains("/events") {
                    respond(send, &body);
                } else {
                    let mut obj = serde_json::to_value(&current).expect("json");
                    if let Some(st) = body.get("status") {
                        obj["status"] = st.clone();
                    }
                    respond(send, &obj);
                }
            }
        }
    }
}

async fn run_once(obj: FirewallPolicy, endpoint: &str) -> (Result<Action, Error>, Recorded) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let ctx = context(client, vec![provider(endpoint)]);
    let server = tokio::spawn(serve(handle, endpoint.to_string(), obj.clone()));
    let result = reconcile(Arc::new(Parsed(Ok(obj))), ctx).await;
    let recorded = server.await.expect("mock server");
    (result, recorded)
}

#[tokio::test]
async fn enforce_with_delete_policy_adds_the_finalizer_patches_status_and_publishes_events() {
    let emulator = CloudflareEmulator::new(seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let endpoint = format!("{}/client/v4", running.base_url());
    let (result, rec) = run_once(policy("Enforce", "Delete", None), &endpoint).await;
    assert!(
        matches!(result, Ok(ref a) if *a == Action::requeue(std::time::Duration::from_secs(300))),
        "{result:?}"
    );

    let (m, uri, ct, body) = &rec.writes[0];
    assert_eq!(
        (m, uri.as_str()),
        (
            &Method::PATCH,
            "/apis/perimeter.dev/v1alpha1/namespaces/team/firewallpolicies/edge?"
        )
    );
    assert_eq!(ct.as_deref(), Some("application/merge-patch+json"));
    assert_eq!(
        body,
        &json!({"metadata": {"finalizers": ["perimeter.dev/cleanup"], "resourceVersion": "10"}})
    );

    let status_patch = rec
        .writes
        .iter()
        .find(|(_, u, _, _)| u.contains("/status"))
        .expect("a status patch");
    assert_eq!(
        status_patch.1,
        "/apis/perimeter.dev/v1alpha1/namespaces/team/firewallpolicies/edge/status?&force=true&fieldManager=perimeter"
    );
    assert_eq!(
        status_patch.2.as_deref(),
        Some("application/apply-patch+yaml")
    );
    let st = &status_patch.3;
    assert_eq!(st["apiVersion"], "perimeter.dev/v1alpha1");
    assert_eq!(st["kind"], "FirewallPolicy");
    assert_eq!(st["status"]["observedGeneration"], 2);
    assert_eq!(st["status"]["driftCount"], 0);
    assert_eq!(
        st["status"]["lastApplied"],
        json!(["update wafCustomRules[block-admin] (action)"])
    );
    let conditions: Vec<(String, String)> = st["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap_or("").to_string(),
                c["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        conditions,
        [
            ("Ready".into(), "True".into()),
            ("Synced".into(), "True".into()),
            ("InSync".into(), "True".into())
        ]
    );

    let events: Vec<&Value> = rec
        .writes
        .iter()
        .filter(|(_, u, _, _)| u.contains("/events"))
        .map(|(_, _, _, b)| b)
        .collect();
    let reasons: Vec<&str> = events.iter().filter_map(|e| e["reason"].as_str()).collect();
    assert_eq!(reasons, ["Enforced", "Ready"]);
    assert!(
        rec.writes
            .iter()
            .all(|(_, u, _, b)| !u.contains("tok-123456") && !b.to_string().contains("tok-123456")),
        "no credential in any write"
    );
}

#[tokio::test]
async fn an_unchanged_status_is_not_written_again() {
    let emulator = CloudflareEmulator::new(seed());
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let endpoint = format!("{}/client/v4", running.base_url());
    let (_, first) = run_once(policy("Observe", "Orphan", None), &endpoint).await;
    let status = first
        .writes
        .iter()
        .find(|(_, u, _, _)| u.contains("/status"))
        .map(|(_, _, _, b)| b["status"].clone())
        .expect("first status");
    assert_eq!(
        status["driftCount"], 1,
        "Observe leaves the drift: {status}"
    );
    assert!(
        first
            .writes
            .iter()
            .all(|(_, u, _, _)| !u.ends_with("edge?")),
        "no finalizer for Observe/Orphan"
    );

    let (_, second) = run_once(policy("Observe", "Orphan", Some(status)), &endpoint).await;
    assert!(
        second.writes.is_empty(),
        "nothing changed, nothing written: {:?}",
        second.writes
    );
    assert!(
        emulator.log().writes().is_empty(),
        "Observe never writes to the provider"
    );
}

#[tokio::test]
async fn a_missing_provider_is_reported_in_status_and_nothing_is_sent_to_a_provider() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let ctx = context(client, vec![]);
    let task = tokio::spawn(reconcile(
        Arc::new(Parsed(Ok(policy("Observe", "Orphan", None)))),
        ctx,
    ));
    // The provider is looked up in the watch cache: the first request is the status write.
    let (req, send) = next(&mut handle).await;
    assert!(
        req.uri().path().ends_with("/firewallpolicies/edge/status"),
        "{}",
        req.uri()
    );
    let body = body_json(req).await;
    let mut updated = serde_json::to_value(policy("Observe", "Orphan", None)).expect("json");
    updated["status"] = body["status"].clone();
    respond(send, &updated);
    let ready = &body["status"]["conditions"][0];
    assert_eq!(
        (
            ready["type"].as_str(),
            ready["status"].as_str(),
            ready["reason"].as_str()
        ),
        (Some("Ready"), Some("False"), Some("ProviderNotFound"))
    );
    assert_eq!(
        body["status"]["conditions"][2]["status"], "Unknown",
        "compliance is unknown, never assumed"
    );
    let (req, send) = next(&mut handle).await;
    assert!(req.uri().path().contains("/events"));
    let ev = body_json(req).await;
    assert_eq!(ev["reason"], "ProviderNotFound");
    respond(send, &ev);
    let result = task.await.expect("join");
    assert!(
        matches!(result, Err(ref e) if e.category() == perimeter::Category::ProviderNotFound),
        "{result:?}"
    );
}
