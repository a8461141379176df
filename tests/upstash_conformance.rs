//! Request conformance: every request the Upstash client sends is validated by Prism against
//! the official Developer API document (trimmed copy in tests/conformance/upstash; see
//! SOURCE.md there for its origin and quirks) — every request the document covers, that is.
//!
//! Also the AddressSet source `upstashQstash` (`GET /v2/qstash/ipv4`), which is in the document.
//!
//! Honest coverage: the allowlist write (`POST /v2/redis/update-allowlist/{id}`) is not in the
//! document (Upstash's Terraform provider uses it), so no validator can judge it. The test
//! proves that it is the only request Prism cannot route, and counts it apart; its body's shape
//! is checked against the Terraform provider's in `tests/upstash_provider.rs`.
//!
//! Documented quirk, fixed in a temporary copy only: Prism ignores the path of `servers`, so
//! the document's paths (`/redis/…`, served under `https://api.upstash.com/v2`) are prefixed
//! with their server's path — `/v2` for all but `/auditlogs`, whose operation overrides
//! `servers` with the bare host. No violation is tolerated.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use perimeter::SecretString;
use perimeter::core::Change;
use perimeter::http::HttpSettings;
use perimeter::providers::upstash::api::{UpstashFirewall, UpstashMonitoring};
use perimeter::providers::upstash::{Upstash, firewall_target, model, monitoring_target};
use perimeter::providers::{Observation, Provider, Target};
use serde_json::{Value, json};

const ID: &str = "96ad0856-03b1-4ee7-9666-e81abd0349e1";

/// The one request the official document does not cover.
const NOT_IN_SPEC: &str = "/v2/redis/update-allowlist/";

fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_value(perimeter::manifests::yaml_to_json(text).expect("yaml")).expect("block")
}

fn firewall() -> Target {
    let fw: UpstashFirewall = yaml(&format!(
        r#"
databaseId: {ID}
allowedIps: [203.0.113.0/24, 198.51.100.7]
tls: Required
securityAddons: [ipWhitelisting, vpcPeering, privateLink, tlsMutualAuth, encryptionAtRest]
auditLog: Report
"#
    ));
    firewall_target(&fw).expect("target")
}

fn qstash_source() -> perimeter::api::addressset::AddressSource {
    serde_json::from_value(json!({"upstashQstash": {"providerRef": {"name": "upstash-main"}}}))
        .expect("source")
}

fn monitoring() -> Target {
    let mon: UpstashMonitoring = yaml(&format!("databaseId: {ID}\nprometheus: Required"));
    monitoring_target(&mon).expect("target")
}

/// What the database looked like before the writes: open, on a paid plan.
fn observed() -> Observation {
    let (allowlist, _) = model::observed_allowlist(&json!({
        "type": "paid", "allowed_ip_ranges": ["0.0.0.0/0"]
    }))
    .expect("allowlist");
    let mut obs = Observation::default();
    obs.state.push(allowlist);
    obs
}

/// Each path of the trimmed document under its server's path (see the module comment), in a
/// temporary copy next to Prism's own.
fn spec_with_server_paths(dir: &Path) -> PathBuf {
    let trimmed = support::repo_root().join("tests/conformance/upstash/openapi.json");
    let mut spec: Value =
        serde_json::from_str(&std::fs::read_to_string(trimmed).expect("spec")).expect("json");
    let base = server_path(&spec["servers"]);
    let paths = spec["paths"].as_object().expect("paths").clone();
    let mut moved = serde_json::Map::new();
    for (path, item) in paths {
        let prefix = match item.get("servers") {
            Some(servers) => server_path(servers),
            None => base.clone(),
        };
        moved.insert(format!("{prefix}{path}"), item);
    }
    spec["paths"] = Value::Object(moved);
    std::fs::create_dir_all(dir).expect("temp dir");
    let out = dir.join("upstash-openapi.json");
    std::fs::write(&out, spec.to_string()).expect("write spec");
    out
}

/// The path part of the first server's URL (`https://api.upstash.com/v2` → `/v2`).
fn server_path(servers: &Value) -> String {
    let url = servers[0]["url"].as_str().expect("a server URL");
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or(String::new(), |i| {
        rest[i..].trim_end_matches('/').to_string()
    })
}

#[test]
fn server_paths_are_read_from_the_document() {
    assert_eq!(
        server_path(&json!([{"url": "https://api.upstash.com/v2"}])),
        "/v2"
    );
    assert_eq!(
        server_path(&json!([{"url": "https://api.upstash.com"}])),
        ""
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_upstash_request_the_spec_covers_conforms_to_it() {
    let dir = std::env::temp_dir().join(format!("perimeter-upstash-spec-{}", std::process::id()));
    let spec = spec_with_server_paths(&dir);
    let prism = tokio::task::spawn_blocking(move || support::start_prism(&spec))
        .await
        .expect("prism");
    let mut settings = HttpSettings::new("upstash", prism.url.clone());
    settings.max_retries = 0;
    settings.timeout = Duration::from_secs(20);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    let credential = json!({"email": "conformance@example.com", "apiKey": "conformance-key"});
    let client = Upstash::with_settings(settings, SecretString::new(credential.to_string()), None)
        .expect("client");

    let mut ledger = support::RequestLedger::outside_spec(|l| {
        l.contains(NOT_IN_SPEC) && l.contains("NO_PATH_MATCHED")
    });

    let offset = prism.log_len();
    let _ = client.verify().await;
    ledger.record("verify", offset, &prism);

    let offset = prism.log_len();
    let _ = client.inventory().await;
    ledger.record("inventory", offset, &prism);
    for target in [firewall(), monitoring()] {
        let offset = prism.log_len();
        let _ = client.observe(&target).await;
        ledger.record(format!("observe {:?}", target.purpose), offset, &prism);
    }
    // An AddressSet's `upstashQstash` source.
    let offset = prism.log_len();
    let _ = client.source_addresses(&qstash_source()).await;
    ledger.record("read QStash's egress addresses", offset, &prism);
    let target = firewall();
    for (section, key) in [
        (model::TLS, model::ENABLED),
        (model::ALLOWLIST, model::ALLOWED_IPS),
    ] {
        let change = Change::Update {
            section: section.into(),
            key: key.into(),
            fields: vec!["value".into()],
        };
        let offset = prism.log_len();
        let _ = client
            .apply(&target, &observed(), std::slice::from_ref(&change))
            .await;
        ledger.record(change.describe(), offset, &prism);
    }

    let total = ledger.total();
    println!(
        "Prism checked {total} Upstash request(s): {:?}; not in the spec: {}",
        ledger.checked,
        ledger.uncovered.len()
    );
    ledger.assert_clean(&prism);
    // verify, the firewall read (database and audit log), the monitoring read, QStash's
    // addresses, enable-tls.
    assert!(total >= 7, "{:?}", ledger.checked);
    assert_eq!(
        ledger.uncovered.len(),
        1,
        "only the allowlist write is outside the spec, and it was sent once: {:?}",
        ledger.uncovered
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Answer conformance: the Upstash emulator behind Prism as a proxy. Every answer the client
/// reads from a covered operation (the database list and object, the audit log, enable-tls) is
/// validated against the official spec; no violation is tolerated. The allowlist write cannot
/// go through the proxy (Prism does not route what the spec lacks), so TLS is the only write.
#[tokio::test(flavor = "multi_thread")]
async fn every_upstash_emulator_answer_the_spec_covers_conforms_to_it() {
    use perimeter::api::{Mode, UnmanagedPolicy};
    use perimeter_emulators::upstash::{Seed, UpstashEmulator};

    let seed: Seed = serde_json::from_value(json!({
        "keys": [{"email": "ops@example.com", "key": "proxy-key", "name": "perimeter"}],
        "databases": [
            {"database_id": ID, "database_name": "sessions", "tls": false,
             "allowed_ip_ranges": ["0.0.0.0/0"], "security_addons": {"ipWhitelisting": true}},
            {"database_id": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", "type": "free"}
        ],
        "qstash_ipv4": ["3.125.136.186/32", "18.198.95.233/32"],
        "audit_logs": [
            {"timestamp": 1764587058, "action_string": "Update IP Allowlist", "entity": "sessions",
             "actor": "dev@example.com", "source": "CONSOLE", "ip": "192.0.2.10"},
            {"timestamp": 1764587158, "action_string": "Rename Database", "entity": "sessions",
             "actor": "dev@example.com", "source": "CONSOLE"}
        ]
    }))
    .expect("seed");
    seed.validate().expect("valid seed");
    let emulator = UpstashEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let dir = std::env::temp_dir().join(format!("perimeter-upstash-proxy-{}", std::process::id()));
    let spec = spec_with_server_paths(&dir);
    let upstream = running.base_url();
    let prism = tokio::task::spawn_blocking(move || support::start_prism_proxy(&spec, &upstream))
        .await
        .expect("prism");
    let mut settings = HttpSettings::new("upstash", prism.url.clone());
    settings.max_retries = 0;
    settings.timeout = Duration::from_secs(20);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    let credential = json!({"email": "ops@example.com", "apiKey": "proxy-key"});
    let client = Upstash::with_settings(settings, SecretString::new(credential.to_string()), None)
        .expect("client");

    let offset = prism.log_len();
    client.verify().await.expect("verify");
    let fw: UpstashFirewall = yaml(&format!(
        "databaseId: {ID}\ntls: Required\nsecurityAddons: [ipWhitelisting]"
    ));
    let out = perimeter::reconcile::sync(
        &client,
        &firewall_target(&fw).expect("target"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(
        out.error.is_none() && out.in_sync(),
        "{:?} {:?}",
        out.error,
        out.remaining
    );
    let out = perimeter::reconcile::sync(
        &client,
        &monitoring(),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let qstash = client
        .source_addresses(&qstash_source())
        .await
        .expect("QStash's addresses");
    assert_eq!(qstash, ["3.125.136.186/32", "18.198.95.233/32"]);
    let databases = client
        .inventory()
        .await
        .expect("databases")
        .expect("listed");
    assert_eq!(databases.len(), 2, "{databases:?}");
    let answers = prism.assert_exchanges_conform_since(offset);
    println!("answers checked: {answers}");
    assert!(emulator.snapshot().databases[0].tls, "TLS was turned on");
    // verify; read, enable-tls, read again (each with the audit log); the monitoring read;
    // QStash's addresses.
    assert!(answers >= 8, "{answers}");
    let _ = std::fs::remove_dir_all(dir);
}
