//! Better Stack has no official machine-readable spec (see tests/conformance/betterstack/
//! SOURCE.md): every request kind the client can send is sent to the emulator, whose attribute
//! tables come from Better Stack's Terraform provider and refuse any attribute outside them,
//! mistyped or read-only (422). All must be accepted, and every answer read back by the
//! client's own model.

use std::collections::BTreeSet;
use std::time::Duration;

use perimeter::SecretString;
use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::http::HttpSettings;
use perimeter::providers::Provider;
use perimeter::providers::betterstack::api::BetterstackMonitoring;
use perimeter::providers::betterstack::{Betterstack, monitoring_target};
use perimeter::reconcile::sync;
use perimeter_emulators::betterstack::{BetterstackEmulator, Seed};

const TOKEN: &str = "bs-conformance-token-0123456789";

fn yaml(text: &str) -> serde_json::Value {
    perimeter::manifests::yaml_to_json(text).expect("yaml")
}

/// The path with its id replaced by `{id}`.
fn template(path: &str) -> String {
    path.split('/')
        .map(|p| {
            if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                p
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_request_kind_is_one_the_documented_tables_accept() {
    let mut seed: Seed = serde_json::from_value(yaml(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/demo/betterstack-team.yaml"),
        )
        .expect("seed"),
    ))
    .expect("seed");
    seed.tokens = vec![TOKEN.into()];
    for m in &mut seed.monitors {
        m.attributes.insert(
            "last_checked_at".into(),
            serde_json::json!("2026-11-29T10:00:00Z"),
        );
    }
    seed.validate().expect("valid");
    let emulator = BetterstackEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let mut settings = HttpSettings::new("betterstack", running.base_url());
    settings.timeout = Duration::from_secs(5);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    let client =
        Betterstack::with_settings(settings, SecretString::new(TOKEN), None).expect("client");
    client.verify().await.expect("verify");
    client.probe_ips().await.expect("probe ips");
    // The example, then a second declaration that changes every kind, creates one of each
    // and removes what it no longer names.
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/betterstack/monitoring.yaml"),
    )
    .expect("example");
    let block: BetterstackMonitoring =
        serde_json::from_value(yaml(&example)["spec"]["betterstack"].clone()).expect("block");
    let out = sync(
        &client,
        &monitoring_target(&block).expect("target"),
        Mode::Enforce,
        UnmanagedPolicy::Remove,
    )
    .await;
    assert!(
        out.in_sync(),
        "{:?} {:?}",
        out.error.map(|e| e.to_string()),
        out.remaining
    );
    let next: BetterstackMonitoring = serde_json::from_value(yaml(
        r#"
escalationPolicies:
  - {name: Weekend, steps: [{members: [{type: entire_team}]}]}
monitors:
  - {url: "https://checkout.example.com", monitorType: status, escalationPolicy: Weekend}
heartbeats:
  - {name: hourly-sync, period: 3600, escalationPolicy: Weekend}
statusPages:
  - {subdomain: status-shop, companyName: Shop, published: true}
"#,
    ))
    .expect("block");
    let out = sync(
        &client,
        &monitoring_target(&next).expect("target"),
        Mode::Enforce,
        UnmanagedPolicy::Remove,
    )
    .await;
    assert!(
        out.in_sync(),
        "{:?} {:?}",
        out.error.map(|e| e.to_string()),
        out.remaining
    );
    let log = emulator.log().entries();
    let refused: Vec<_> = log.iter().filter(|r| r.status >= 300).collect();
    assert!(refused.is_empty(), "refused: {refused:?}");
    let kinds: BTreeSet<(String, String)> = log
        .iter()
        .map(|r| (r.method.clone(), template(&r.path)))
        .collect();
    let mut want = BTreeSet::new();
    for list in [
        "/api/v2/monitors",
        "/api/v2/heartbeats",
        "/api/v3/policies",
        "/api/v2/status-pages",
    ] {
        want.insert(("GET".to_string(), list.to_string()));
        want.insert(("POST".to_string(), list.to_string()));
        want.insert(("PATCH".to_string(), format!("{list}/{{id}}")));
        want.insert(("DELETE".to_string(), format!("{list}/{{id}}")));
    }
    want.insert(("GET".into(), "/api/v2/slack-integrations".into()));
    want.insert(("GET".into(), "/ips-by-cluster.json".into()));
    assert_eq!(
        kinds, want,
        "every request kind the client has, and only those"
    );
}
