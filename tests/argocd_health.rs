//! The Argo CD health checks in `deploy/argocd/argocd-cm.yaml`, run with `lua5.1` (Argo CD's
//! gopher-lua has Lua 5.1 semantics) against sample objects: status → expected health.
//! `lua5.1` comes from `scripts/setup` (Debian package `lua5.1`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const KEY_PREFIX: &str = "resource.customizations.health.perimeter.dev_";

fn scripts() -> serde_json::Map<String, Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/argocd/argocd-cm.yaml");
    let text = std::fs::read_to_string(&path).expect("read deploy/argocd/argocd-cm.yaml");
    let cm: Value = serde_yaml::from_str(&text).expect("argocd-cm.yaml is YAML");
    cm["data"].as_object().expect("argocd-cm has data").clone()
}

/// A JSON value as a Lua table constructor (what Argo CD hands the script as `obj`).
fn lua_literal(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        // JSON string escapes are valid Lua escapes for the characters used here.
        Value::String(s) => serde_json::to_string(s).expect("string serialises"),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(lua_literal).collect();
            format!("{{{}}}", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("[{}] = {}", lua_literal(&json!(k)), lua_literal(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Runs the health script of `kind` against `obj`; returns (status, message).
fn health(kind: &str, obj: &Value) -> (String, String) {
    let all = scripts();
    let script = all
        .get(&format!("{KEY_PREFIX}{kind}"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("argocd-cm.yaml has no health check for {kind}"));
    // Argo CD runs the script as a chunk with the global `obj` and uses the table it returns.
    let program = format!(
        "obj = {}\nlocal check = assert(loadstring({}))\nlocal hs = check()\n\
         io.write(tostring(hs.status), \"\\n\", tostring(hs.message))\n",
        lua_literal(obj),
        lua_literal(&json!(script)),
    );
    let mut child = Command::new("lua5.1")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("lua5.1 is missing ({e}): run scripts/setup first"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(program.as_bytes())
        .expect("write the program");
    let out = child.wait_with_output().expect("lua5.1 runs");
    assert!(
        out.status.success(),
        "{kind}: lua5.1 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (status, message) = text.split_once('\n').unwrap_or((&text, ""));
    (status.to_string(), message.to_string())
}

fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message})
}

fn policy(paused: bool, generation: i64, status: Option<Value>) -> Value {
    let mut obj = json!({
        "apiVersion": "perimeter.dev/v1alpha1",
        "metadata": {"name": "edge", "namespace": "net", "generation": generation},
        "spec": {"providerRef": {"name": "cf"}, "paused": paused},
    });
    if let Some(s) = status {
        obj["status"] = s;
    }
    obj
}

fn conditions(observed: i64, list: Vec<Value>) -> Option<Value> {
    Some(json!({"observedGeneration": observed, "driftCount": 0, "conditions": list}))
}

#[test]
fn every_kind_has_a_health_check() {
    let all = scripts();
    let mut kinds: Vec<_> = all
        .keys()
        .filter_map(|k| k.strip_prefix(KEY_PREFIX))
        .collect();
    kinds.sort_unstable();
    // Every kind of the CRDs, so a new kind cannot ship without one.
    let mut crds: Vec<String> = perimeter::api::crds()
        .iter()
        .map(|c| c.spec.names.kind.clone())
        .collect();
    crds.sort_unstable();
    assert_eq!(kinds, crds);
}

#[test]
fn policies_map_conditions_to_health() {
    let ready = cond("Ready", "True", "Ready", "in sync with the provider");
    let synced = cond("Synced", "True", "ReconcileSuccess", "provider read");
    let in_sync = cond(
        "InSync",
        "True",
        "InSync",
        "the provider matches the policy",
    );
    let drifted = cond("InSync", "False", "Drifted", "2 field(s) drifted");
    let not_ready_drift = cond("Ready", "False", "Drifted", "2 field(s) drifted");
    let unreadable = cond(
        "Synced",
        "False",
        "ProviderUnauthorized",
        "provider could not be read",
    );
    let unknown = cond("InSync", "Unknown", "ProviderUnreadable", "state unknown");
    let ready_unreadable = cond(
        "Ready",
        "False",
        "ProviderUnauthorized",
        "provider could not be read",
    );
    let paused_ready = cond("Ready", "False", "Paused", "spec.paused is true");
    let paused_synced = cond("Synced", "False", "Paused", "spec.paused is true");
    let paused_in_sync = cond("InSync", "Unknown", "Paused", "the provider was not read");
    let ready_unknown = cond("Ready", "Unknown", "NotChecked", "not checked yet");
    let in_sync_unknown = cond("InSync", "Unknown", "NotChecked", "not checked yet");

    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "no status yet",
            policy(false, 1, None),
            "Progressing",
            "Waiting",
        ),
        (
            "status of an older generation",
            policy(
                false,
                3,
                conditions(2, vec![ready.clone(), synced.clone(), in_sync.clone()]),
            ),
            "Progressing",
            "latest spec",
        ),
        (
            "ready",
            policy(
                false,
                2,
                conditions(2, vec![ready.clone(), synced.clone(), in_sync.clone()]),
            ),
            "Healthy",
            "in sync with the provider",
        ),
        (
            "drifted",
            policy(
                false,
                2,
                conditions(
                    2,
                    vec![not_ready_drift.clone(), synced.clone(), drifted.clone()],
                ),
            ),
            "Degraded",
            "Drifted: 2 field(s) drifted",
        ),
        (
            "provider unreadable",
            policy(
                false,
                2,
                conditions(2, vec![ready_unreadable, unreadable, unknown]),
            ),
            "Degraded",
            "ProviderUnauthorized",
        ),
        (
            "paused in spec",
            policy(
                true,
                2,
                conditions(2, vec![ready.clone(), synced.clone(), in_sync.clone()]),
            ),
            "Suspended",
            "spec.paused",
        ),
        (
            "paused reported by the operator",
            policy(
                false,
                2,
                conditions(2, vec![paused_ready, paused_synced, paused_in_sync]),
            ),
            "Suspended",
            "Paused",
        ),
        (
            "not checked yet",
            policy(
                false,
                1,
                conditions(1, vec![ready_unknown, in_sync_unknown]),
            ),
            "Progressing",
            "Waiting",
        ),
        (
            "empty conditions",
            policy(false, 1, conditions(1, vec![])),
            "Progressing",
            "Waiting",
        ),
    ];
    for kind in ["FirewallPolicy", "MonitoringPolicy"] {
        for (name, obj, want, message) in &cases {
            let (got, got_message) = health(kind, obj);
            assert_eq!(&got, want, "{kind} / {name}: message {got_message:?}");
            assert!(
                got_message.contains(message),
                "{kind} / {name}: {got_message:?} should contain {message:?}"
            );
        }
    }
}

#[test]
fn cloud_provider_health_follows_ready() {
    let provider = |generation: i64, status: Option<Value>| {
        let mut obj = json!({"metadata": {"name": "cf", "generation": generation}, "spec": {"type": "Cloudflare"}});
        if let Some(s) = status {
            obj["status"] = s;
        }
        obj
    };
    let cases = [
        ("no status", provider(1, None), "Progressing"),
        (
            "verified",
            provider(
                1,
                conditions(1, vec![cond("Ready", "True", "Ready", "account reachable")]),
            ),
            "Healthy",
        ),
        (
            "bad credentials",
            provider(
                1,
                conditions(
                    1,
                    vec![cond("Ready", "False", "ProviderUnauthorized", "401")],
                ),
            ),
            "Degraded",
        ),
        (
            "unknown",
            provider(
                1,
                conditions(1, vec![cond("Ready", "Unknown", "Checking", "")]),
            ),
            "Progressing",
        ),
        (
            "older generation",
            provider(2, conditions(1, vec![cond("Ready", "True", "Ready", "ok")])),
            "Progressing",
        ),
    ];
    // An AddressSet follows its Ready condition the same way (not Ready blocks its policies).
    for kind in ["CloudProvider", "ClusterCloudProvider", "AddressSet"] {
        for (name, obj, want) in &cases {
            let (got, message) = health(kind, obj);
            assert_eq!(&got, want, "{kind} {name}: {message}");
        }
    }
}

#[test]
fn control_assessment_is_healthy_only_when_implemented() {
    let assessment = |paused: bool, state: Option<&str>| {
        let mut obj = json!({
            "metadata": {"name": "de-cm-1", "generation": 1},
            "spec": {"control": "DE.CM-1", "paused": paused},
        });
        if let Some(s) = state {
            obj["status"] = json!({"observedGeneration": 1, "state": s, "score": "3/4"});
        }
        obj
    };
    let cases = [
        ("not evaluated", assessment(false, None), "Progressing"),
        (
            "implemented",
            assessment(false, Some("Implemented")),
            "Healthy",
        ),
        (
            "partially implemented",
            assessment(false, Some("PartiallyImplemented")),
            "Degraded",
        ),
        (
            "not implemented",
            assessment(false, Some("NotImplemented")),
            "Degraded",
        ),
        ("paused", assessment(true, Some("Implemented")), "Suspended"),
        (
            "not evaluable",
            {
                let mut obj = assessment(false, None);
                obj["status"] = json!({"conditions": [
                    cond("Ready", "False", "EvidenceUnreadable", "ConfigMap perimeter/x unreadable")
                ]});
                obj
            },
            "Degraded",
        ),
        (
            "evaluating",
            {
                let mut obj = assessment(false, None);
                obj["status"] = json!({"conditions": [cond("Ready", "Unknown", "Pending", "")]});
                obj
            },
            "Progressing",
        ),
    ];
    for (name, obj, want) in &cases {
        let (got, message) = health("ControlAssessment", obj);
        assert_eq!(&got, want, "{name}: {message}");
    }
    let (_, message) = health(
        "ControlAssessment",
        &assessment(false, Some("PartiallyImplemented")),
    );
    assert_eq!(message, "PartiallyImplemented (score 3/4)");
}
