//! Request and answer conformance: every request the Qdrant client can send (verify, the
//! cluster read, the database API keys read, the alerts read and the masked UpdateCluster) goes
//! through Prism as a proxy in front of the Qdrant emulator (seeded as the demo account), and
//! Prism validates each request and each emulator answer against Qdrant's official Swagger
//! documents (trimmed copies in tests/conformance/qdrant; origin and quirks in SOURCE.md).
//!
//! Documented quirks: the three documents (one per proto file) are merged into one temporary
//! copy here (their shared definitions are identical); `scripts/fix-openapi-for-prism.py` moves
//! UpdateCluster's dotted template (`{cluster.accountId}`/`{cluster.id}`) onto the GetCluster
//! template, where Prism can route it. No violation is tolerated.

mod support;

use std::time::Duration;

use perimeter::SecretString;
use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::http::HttpSettings;
use perimeter::providers::Provider;
use perimeter::providers::qdrant::api::{QdrantFirewall, QdrantMonitoring};
use perimeter::providers::qdrant::{Qdrant, firewall_target, monitoring_target};
use perimeter_emulators::qdrant::{QdrantEmulator, Seed};
use serde_json::{Map, Value, json};

const DOCUMENTS: [&str; 3] = [
    "cluster.swagger.json",
    "database_api_key.swagger.json",
    "monitoring.swagger.json",
];
const ACCOUNT: &str = "0b3c3f6e-5e0f-4b8a-9d39-3f1f2a9c7d10";
const KEY: &str = "qdrant-demo-management-key";

/// The three trimmed documents as one: paths and definitions together.
fn merged_spec(dir: &std::path::Path) -> std::path::PathBuf {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    let mut merged = Value::Null;
    for name in DOCUMENTS {
        let path = support::repo_root()
            .join("tests/conformance/qdrant")
            .join(name);
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("spec")).expect("json");
        for (k, v) in doc["paths"].as_object().expect("paths") {
            assert!(paths.insert(k.clone(), v.clone()).is_none(), "{k} twice");
        }
        for (k, v) in doc["definitions"].as_object().expect("definitions") {
            if let Some(old) = definitions.insert(k.clone(), v.clone()) {
                assert_eq!(&old, v, "definition {k} differs between documents");
            }
        }
        if merged.is_null() {
            merged = doc;
        }
    }
    merged["paths"] = Value::Object(paths);
    merged["definitions"] = Value::Object(definitions);
    merged["info"]["title"] =
        json!("qdrant cloud (merged: cluster, database api keys, monitoring)");
    let out = dir.join("qdrant.swagger.json");
    std::fs::write(&out, merged.to_string()).expect("write merged spec");
    out
}

fn example_block<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let text = std::fs::read_to_string(support::repo_root().join(file)).expect("example");
    let doc = perimeter::manifests::yaml_to_json(&text).expect("yaml");
    serde_json::from_value(doc["spec"]["qdrant"].clone()).expect("qdrant block")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_qdrant_request_and_emulator_answer_conforms_to_the_official_spec() {
    let seed_text =
        std::fs::read_to_string(support::repo_root().join("examples/demo/qdrant-account.yaml"))
            .expect("demo seed");
    let seed: Seed =
        serde_json::from_value(perimeter::manifests::yaml_to_json(&seed_text).expect("yaml"))
            .expect("seed");
    let emulator = QdrantEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = merged_spec(dir.path());
    let upstream = running.base_url();
    let prism = tokio::task::spawn_blocking(move || support::start_prism_proxy(&spec, &upstream))
        .await
        .expect("prism");
    let mut settings = HttpSettings::new("qdrant", prism.url.clone());
    settings.max_retries = 0;
    settings.timeout = Duration::from_secs(20);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    let client = Qdrant::with_settings(
        settings,
        SecretString::new(KEY),
        Some(ACCOUNT.to_string()),
        None,
    )
    .expect("client");

    let offset = prism.log_len();
    client.verify().await.expect("verify");
    let search: QdrantFirewall = example_block("examples/qdrant/firewall-search.yaml");
    let out = perimeter::reconcile::sync(
        &client,
        &firewall_target(&search).expect("target"),
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
    assert_eq!(out.applied.len(), 1, "{:?}", out.applied);
    let staging: QdrantFirewall = example_block("examples/qdrant/firewall-staging.yaml");
    let mon: QdrantMonitoring = example_block("examples/qdrant/monitoring.yaml");
    for target in [
        firewall_target(&staging).expect("target"),
        monitoring_target(&mon).expect("target"),
    ] {
        let out =
            perimeter::reconcile::sync(&client, &target, Mode::Observe, UnmanagedPolicy::Report)
                .await;
        assert!(out.error.is_none(), "{:?}", out.error);
    }
    // The inventory: the account's clusters, a page of up to 250.
    let clusters = client.inventory().await.expect("clusters").expect("listed");
    assert_eq!(clusters.len(), 2, "{clusters:?}");
    let seen = prism.assert_exchanges_conform_since(offset);
    // Every operation went through Prism: the PUT, and each of the four reads.
    let log = emulator.log();
    assert_eq!(log.count("PUT", "/clusters/"), 1);
    for (path, what) in [
        ("/clusters", "list or get cluster"),
        ("/database-api-keys", "keys"),
        ("/alerts", "alerts"),
    ] {
        assert!(log.count("GET", path) > 0, "{what}");
    }
    println!("Prism checked {seen} Qdrant request(s) and answer(s)");

    // The check can fail: a body of the wrong shape is a violation.
    let offset = prism.log_len();
    let url = format!(
        "{}/api/cluster/v1/accounts/{ACCOUNT}/clusters/7e6f2a4c-1b2d-4c3e-8f90-a1b2c3d4e5f6",
        prism.url
    );
    let _ = reqwest::Client::new()
        .put(url)
        .header("authorization", format!("apikey {KEY}"))
        .json(&json!({"cluster": {"name": 7}, "updateMask": 5}))
        .send()
        .await
        .expect("answer");
    assert!(
        !prism.violations_since(offset).is_empty(),
        "Prism must flag a malformed UpdateCluster:\n{}",
        prism.log()
    );
}
