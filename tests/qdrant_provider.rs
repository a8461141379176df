//! The Qdrant Cloud client against the stateful Qdrant emulator: Observe and Enforce of the
//! allowlist (one masked UpdateCluster, nothing else of the cluster touched), TLS, expiring
//! database API keys and firing alerts; injected faults on reads and on the write; a bad key.

mod support;

use std::time::Duration;

use perimeter::SecretString;
use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::error::Category;
use perimeter::http::HttpSettings;
use perimeter::providers::qdrant::api::{QdrantFirewall, QdrantMonitoring};
use perimeter::providers::qdrant::model::RANGES_MASK;
use perimeter::providers::qdrant::{Qdrant, firewall_target, monitoring_target};
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::sync;
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::qdrant::{QdrantEmulator, Seed};
use perimeter_emulators::server::RunningEmulator;
use serde_json::json;

const ACCOUNT: &str = "0b3c3f6e-5e0f-4b8a-9d39-3f1f2a9c7d10";
const CLUSTER: &str = "7e6f2a4c-1b2d-4c3e-8f90-a1b2c3d4e5f6";
const KEY: &str = "qdrant-mgmt-0123456789abcdef0123456789abcdef";

fn yaml(text: &str) -> serde_json::Value {
    perimeter::manifests::yaml_to_json(text).expect("valid YAML")
}

/// One cluster (open to the world, on AWS); `extra` is more of its seed fields, indented by
/// four spaces; `keys` the database API keys' seed.
fn seed(extra: &str, keys: &str) -> Seed {
    serde_json::from_value(yaml(&format!(
        "keys: [{{key: {KEY}, account_id: {ACCOUNT}}}]\n\
         clusters:\n  - id: {CLUSTER}\n    account_id: {ACCOUNT}\n    name: search-prod\n{extra}\
         database_api_keys: {keys}\n"
    )))
    .expect("seed")
}

struct Env {
    emulator: QdrantEmulator,
    running: RunningEmulator,
    client: Qdrant,
}

fn settings(base: String, timeout: Duration) -> HttpSettings {
    let mut settings = HttpSettings::new("qdrant", base);
    settings.timeout = timeout;
    settings.backoff = Duration::from_millis(5);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    settings
}

async fn env(seed: Seed, timeout: Duration) -> Env {
    seed.validate().expect("valid seed");
    let emulator = QdrantEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .expect("emulator starts");
    let client = Qdrant::with_settings(
        settings(running.base_url(), timeout),
        SecretString::new(KEY),
        Some(ACCOUNT.to_string()),
        None,
    )
    .expect("client");
    Env {
        emulator,
        running,
        client,
    }
}

fn firewall(block: &str) -> Target {
    let fw: QdrantFirewall = serde_json::from_value(yaml(&format!(
        "accountId: {ACCOUNT}\nclusterId: {CLUSTER}\n{block}"
    )))
    .expect("block");
    firewall_target(&fw).expect("valid target")
}

fn monitoring(block: &str) -> Target {
    let mon: QdrantMonitoring = serde_json::from_value(yaml(&format!(
        "accountId: {ACCOUNT}\nclusterId: {CLUSTER}\n{block}"
    )))
    .expect("block");
    monitoring_target(&mon).expect("valid target")
}

/// A cluster open to the world with one of the app's two ranges.
const OPEN: &str = "    allowed_ip_source_ranges: [0.0.0.0/0, 203.0.113.0/24]\n";
const DECLARED: &str =
    "allowedIpSourceRanges: [\"203.0.113.0/24\", \"198.51.100.0/24\"]\nrequireTls: true";

fn drift_paths(out: &perimeter::reconcile::SyncOutcome) -> Vec<String> {
    out.remaining
        .as_ref()
        .map(|d| d.drift.iter().map(|x| x.path.clone()).collect())
        .unwrap_or_default()
}

/// A sync reads the cluster alone; the API keys only when `apiKeyExpiry` asks for them.
#[tokio::test]
async fn api_keys_are_read_only_when_declared() {
    let e = env(seed(OPEN, "[]"), Duration::from_secs(5)).await;
    for (block, keys) in [
        (DECLARED.to_string(), 0),
        (format!("{DECLARED}\napiKeyExpiry: {{mode: Ignore}}\n"), 0),
        (format!("{DECLARED}\napiKeyExpiry: {{}}\n"), 1),
    ] {
        let log = e.emulator.log();
        support::calls::observe_alone(&e.client, &firewall(&block), &log).await;
        assert_eq!(log.count("GET", "/database-api-keys"), keys, "{block}");
        assert_eq!(log.len(), 1 + keys, "the cluster, then the keys: {block}");
    }
}

#[tokio::test]
async fn observe_reports_drift_and_findings_and_never_writes() {
    let keys = format!(
        "[{{id: k-soon, account_id: {ACCOUNT}, cluster_id: {CLUSTER}, name: ingest, \
         expires_at: '{}'}}]",
        jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(72))
            .expect("in range")
    );
    let e = env(
        seed(&format!("{OPEN}    cloud_provider_id: hybrid\n"), &keys),
        Duration::from_secs(5),
    )
    .await;
    let out = sync(
        &e.client,
        &firewall(&format!("{DECLARED}\napiKeyExpiry: {{}}\n")),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        drift_paths(&out),
        ["network[allowedIpSourceRanges]", "tls[enabled]"]
    );
    let drift = &out.remaining.as_ref().expect("read").drift[0];
    assert_eq!(
        drift.observed.as_deref(),
        Some(r#"["0.0.0.0/0","203.0.113.0/24"]"#)
    );
    let codes: Vec<&str> = out.findings.iter().map(|f| f.code).collect();
    assert_eq!(
        codes,
        ["NetworkOpen", "ManualChangeNeeded", "ApiKeyExpiring"],
        "{:?}",
        out.findings
    );
    assert!(out.findings[2].message.contains("\"ingest\" (k-soon)"));
    assert!(
        out.revision
            .as_deref()
            .is_some_and(|r| r.starts_with("configuration modified"))
    );
    assert!(e.emulator.log().writes().is_empty());
}

/// Enforce sends exactly one PUT, with the mask naming the allowlist alone, and is then in
/// sync for the allowlist; TLS (observed only) stays drifted and is never written.
#[tokio::test]
async fn enforce_sends_one_masked_update_and_changes_nothing_else() {
    let e = env(seed(OPEN, "[]"), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &firewall("allowedIpSourceRanges: [\"203.0.113.0/24\", \"198.51.100.0/24\"]"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(
        out.in_sync(),
        "{:?} {:?}",
        out.error.map(|e| e.to_string()),
        out.remaining
    );
    assert_eq!(out.applied.len(), 1, "{:?}", out.applied);
    let writes = e.emulator.log().writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].method, "PUT");
    assert_eq!(
        writes[0].path,
        format!("/api/cluster/v1/accounts/{ACCOUNT}/clusters/{CLUSTER}")
    );
    let body = writes[0].body.as_ref().expect("a body");
    assert_eq!(body["updateMask"], json!(RANGES_MASK));
    assert_eq!(
        body["cluster"]["configuration"]["allowedIpSourceRanges"],
        json!(["198.51.100.0/24", "203.0.113.0/24"])
    );
    let cluster = &e.emulator.snapshot().clusters[0];
    assert_eq!(
        cluster.allowed_ip_source_ranges,
        ["198.51.100.0/24", "203.0.113.0/24"]
    );
    assert_eq!(cluster.name, "search-prod");

    let e = env(
        seed(&format!("{OPEN}    cloud_provider_id: hybrid\n"), "[]"),
        Duration::from_secs(5),
    )
    .await;
    let out = sync(
        &e.client,
        &firewall("requireTls: true"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(drift_paths(&out), ["tls[enabled]"]);
    assert!(out.applied.is_empty() && e.emulator.log().writes().is_empty());
    let manual: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.code == "ManualChangeNeeded")
        .map(|f| f.subject.as_str())
        .collect();
    assert_eq!(manual, ["tls"], "{:?}", out.findings);
}

#[tokio::test]
async fn firing_alerts_are_drift_and_findings_and_never_written() {
    let alerts = "    alerts:\n      - {id: a-1, type: OOM, severity: CRITICAL, title: Out of memory}\n      \
                  - {id: a-2, type: CLUSTER_CPU_HOTSPOT, severity: INFO}\n      \
                  - {id: a-3, type: OOD, severity: CRITICAL, state: RESOLVED}\n";
    let e = env(seed(alerts, "[]"), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &monitoring("noFiringAlerts: {}"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(drift_paths(&out), ["alerts[firing]"]);
    let subjects: Vec<&str> = out.findings.iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(subjects, ["alerts[a-1]"]);
    assert_eq!(out.findings[0].code, "ServiceUnhealthy");
    assert!(e.emulator.log().writes().is_empty());
    let quiet = env(seed("", "[]"), Duration::from_secs(5)).await;
    let out = sync(
        &quiet.client,
        &monitoring("noFiringAlerts: {}"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "{:?}", out.remaining);
}

/// Every fault on each read, in both modes: unknown, never in sync, nothing written, no key.
#[tokio::test]
async fn read_faults_leave_the_state_unknown_never_in_sync() {
    let faults = support::cells::persistent_faults();
    // The other read (the main read's cells are in tests/fault_matrix.rs).
    let reads = ["/database-api-keys"];
    for mode in support::cells::MODES {
        for path in reads {
            for (fault, category) in &faults {
                let e = env(seed(OPEN, "[]"), Duration::from_millis(300)).await;
                e.emulator
                    .faults()
                    .inject(FaultRule::new(path, fault.clone()).method("GET"));
                let out = sync(
                    &e.client,
                    &firewall(&format!("{DECLARED}\napiKeyExpiry: {{}}\n")),
                    mode,
                    UnmanagedPolicy::Report,
                )
                .await;
                support::cells::assert_failed_read(
                    &out,
                    *category,
                    e.emulator.log().writes().len(),
                    KEY,
                    &format!("{fault:?} on {path}"),
                );
            }
        }
    }
}

/// Every fault on the write: never in sync, nothing counted as applied, and the allowlist is
/// either the old one or (a hang, which the emulator serves late) the whole new one.
#[tokio::test]
async fn write_faults_leave_nothing_half_written() {
    let faults = support::cells::persistent_faults();
    for (fault, category) in faults {
        let e = env(seed(OPEN, "[]"), Duration::from_millis(300)).await;
        e.emulator
            .faults()
            .inject(FaultRule::new("/clusters/", fault.clone()).method("PUT"));
        let out = sync(
            &e.client,
            &firewall(DECLARED),
            Mode::Enforce,
            UnmanagedPolicy::Report,
        )
        .await;
        support::cells::assert_failed_write(&out, category, KEY, &format!("{fault:?}"));
        assert!(out.applied.is_empty(), "{fault:?}");
        let ranges = e.emulator.snapshot().clusters[0]
            .allowed_ip_source_ranges
            .clone();
        let old = ["0.0.0.0/0", "203.0.113.0/24"];
        let new = ["198.51.100.0/24", "203.0.113.0/24"];
        assert!(
            ranges == old || (matches!(fault, Fault::Hang { .. }) && ranges == new),
            "{fault:?}: {ranges:?}"
        );
    }
}

#[tokio::test]
async fn a_rejected_key_is_reported_without_leaking_it() {
    let e = env(seed("", "[]"), Duration::from_secs(5)).await;
    let wrong = "qdrant-mgmt-ffffffffffffffffffffffffffffffff";
    let bad = Qdrant::with_settings(
        settings(e.running.base_url(), Duration::from_secs(5)),
        SecretString::new(wrong),
        Some(ACCOUNT.to_string()),
        None,
    )
    .expect("client");
    let err = bad.verify().await.expect_err("rejected");
    assert_eq!(err.category, Category::CredentialsRejected);
    assert!(!err.to_string().contains(wrong));
    let out = sync(
        &bad,
        &firewall(DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::CredentialsRejected)
    );
    assert!(!out.in_sync());
    assert!(!format!("{:?}", out.error).contains(wrong));
    assert_eq!(
        e.client.verify().await.expect("accepted"),
        "management key accepted"
    );
}

/// A policy naming another account than the CloudProvider's is refused before any request.
#[tokio::test]
async fn another_account_is_refused_before_any_request() {
    let e = env(seed(OPEN, "[]"), Duration::from_secs(5)).await;
    let other = "11111111-1111-4111-8111-111111111111";
    let fw: QdrantFirewall = serde_json::from_value(yaml(&format!(
        "accountId: {other}\nclusterId: {CLUSTER}\n{DECLARED}"
    )))
    .expect("block");
    let out = sync(
        &e.client,
        &firewall_target(&fw).expect("valid"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::InvalidSpec)
    );
    assert!(e.emulator.log().entries().is_empty());
}

/// A 429 with a short `Retry-After` on the write (the idempotent, masked PUT) is waited for
/// and retried once; the write then lands whole and is counted with its code.
#[tokio::test]
async fn a_throttled_write_is_retried_after_the_wait_and_counted() {
    let seed = seed(OPEN, "[]");
    seed.validate().expect("valid seed");
    let emulator = QdrantEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .expect("emulator starts");
    let metrics = std::sync::Arc::new(perimeter::Metrics::new().expect("metrics"));
    let client = Qdrant::with_settings(
        settings(running.base_url(), Duration::from_secs(5)),
        SecretString::new(KEY),
        Some(ACCOUNT.to_string()),
        Some(metrics.clone()),
    )
    .expect("client");
    emulator.faults().inject(
        FaultRule::new(
            "/clusters/",
            Fault::RateLimited {
                retry_after_secs: 1,
            },
        )
        .method("PUT")
        .times(1),
    );
    let out = sync(
        &client,
        &firewall("allowedIpSourceRanges: [\"203.0.113.0/24\"]\napiKeyExpiry: {mode: Ignore}"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "{:?}", out.error);
    assert_eq!(emulator.log().count("PUT", "/clusters/"), 2);
    assert_eq!(
        emulator.snapshot().clusters[0].allowed_ip_source_ranges,
        ["203.0.113.0/24"]
    );
    let text = metrics.render().expect("metrics");
    assert!(
        text.contains(
            r#"perimeter_provider_requests_total{code="429",operation="update_cluster",provider="qdrant"} 1"#
        ),
        "{text}"
    );
}

/// `deletionPolicy: Delete` never lifts the allowlist: every section is a setting, so the
/// cleanup plan of an enforced cluster is empty (an empty list would open the cluster).
#[tokio::test]
async fn deletion_never_lifts_the_allowlist() {
    let e = env(seed(OPEN, "[]"), Duration::from_secs(5)).await;
    let target = firewall("allowedIpSourceRanges: [\"203.0.113.0/24\"]");
    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    let observed = e.client.observe(&target).await.expect("observed");
    let (_, plan) = perimeter::core::cleanup(&target.desired, &observed.state);
    assert!(plan.is_empty(), "{plan:?}");
}

/// The inventory is every cluster of the CloudProvider's account, across pages of 250 (a
/// cluster of another account is not listed); only the cluster a FirewallPolicy names is
/// covered.
#[tokio::test]
async fn inventory_lists_the_account_s_clusters_across_pages() {
    let mut extra = String::new();
    for i in 0..300 {
        extra.push_str(&format!(
            "  - {{id: 00000000-0000-4000-8000-{i:012x}, account_id: {ACCOUNT}, name: c{i}}}\n"
        ));
    }
    extra.push_str(
        "  - {id: 99999999-0000-4000-8000-000000000000, account_id: 9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a, name: theirs}\n",
    );
    let e = env(seed(&extra, "[]"), Duration::from_secs(5)).await;
    let assets = e
        .client
        .inventory()
        .await
        .expect("read")
        .expect("Qdrant lists its clusters");
    assert_eq!(assets.len(), 301);
    assert!(assets.iter().all(|a| a.kind == "cluster"));
    // Each serves the host of its endpoint URL.
    assert!(
        assets.iter().all(|a| a.hosts.len() == 1
            && a.hosts[0].starts_with(&a.id)
            && a.hosts[0].ends_with(".cloud.qdrant.io")),
        "{:?}",
        &assets[0]
    );
    assert!(!assets.iter().any(|a| a.name == "theirs"));
    assert_eq!(e.emulator.log().count("GET", "/clusters"), 2);
    let policy: perimeter::api::FirewallPolicySpec = serde_json::from_value(json!({
        "providerRef": {"name": "qdrant"},
        "qdrant": {"accountId": ACCOUNT, "clusterId": CLUSTER}
    }))
    .expect("policy");
    let status = perimeter::inventory::status(
        perimeter::api::ProviderType::Qdrant,
        Ok(Some(assets)),
        &[&policy],
        "2026-11-30T08:00:00Z".into(),
    )
    .expect("an inventory");
    assert_eq!((status.total, status.covered), (Some(301), Some(1)));
    assert!(!status.uncovered.iter().any(|a| a.id == CLUSTER));
}

/// A cluster list that cannot be read, or a CloudProvider without the account to list, is an
/// error, never an empty (fully covered) inventory; the error carries no key.
#[tokio::test]
async fn an_unreadable_cluster_list_is_an_error_never_an_empty_list() {
    for (fault, category) in support::cells::persistent_faults() {
        let e = env(seed("", "[]"), Duration::from_millis(300)).await;
        e.emulator
            .faults()
            .inject(FaultRule::new("/clusters", fault.clone()));
        let err = e.client.inventory().await.expect_err("unreadable");
        assert_eq!(err.category, category, "{fault:?}: {err}");
        assert!(!err.to_string().contains(KEY), "{fault:?}");
    }
    let e = env(seed("", "[]"), Duration::from_secs(5)).await;
    let no_account = Qdrant::with_settings(
        settings(e.running.base_url(), Duration::from_secs(5)),
        SecretString::new(KEY),
        None,
        None,
    )
    .expect("client");
    let err = no_account.inventory().await.expect_err("no account");
    assert_eq!(err.category, Category::InvalidSpec, "{err}");
    assert!(err.message.contains("spec.accountId"), "{err}");
    assert_eq!(e.emulator.log().count("GET", "/clusters"), 0);
}
