//! The Turso client against the stateful Turso emulator: Observe and Enforce of a database's
//! allow rules and delete protection (one PATCH, omitted = unchanged, `[]` = clear), audit-log
//! changes outside Perimeter, the organisation sweep (open databases, unscoped tokens, a plan
//! without audit logs), injected faults and a bad token.

mod support;

use std::sync::Arc;
use std::time::Duration;

use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::error::Category;
use perimeter::http::HttpSettings;
use perimeter::providers::turso::api::{TursoFirewall, TursoMonitoring};
use perimeter::providers::turso::{Turso, firewall_target, monitoring_target};
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::{SyncOutcome, sync};
use perimeter::{Metrics, SecretString};
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::server::RunningEmulator;
use perimeter_emulators::turso::{Seed, TursoEmulator};
use serde_json::json;

const TOKEN: &str = "turso-eyJhbGciOiJFZERTQSJ9.perimeter-test-token";
const ORG: &str = "acme";
const CONFIG: &str = "/v1/organizations/acme/databases/orders/configuration";

/// An instant `hours` ago, as the audit log writes it.
fn ago(hours: i64) -> String {
    jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(hours))
        .expect("instant")
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Perimeter's token (its own member, `perimeter-bot`), an unrestricted token of the same
/// user, and organisation `acme`: `orders` open and unprotected, changed by mallory an hour
/// ago; `billing` restricted; `scratch` open.
fn seed() -> Seed {
    serde_json::from_value(json!({
        "tokens": [
            {"value": TOKEN, "name": "perimeter", "id": "tok1", "user": "perimeter-bot", "organization": ORG},
            {"value": "turso-old-laptop", "name": "laptop", "id": "tok2", "user": "perimeter-bot", "created_at": "2024-03-01"}
        ],
        "organizations": [{
            "slug": ORG,
            "databases": [
                {"name": "orders", "allowed_ips": ["0.0.0.0/0"], "allowed_aws_vpc_ids": ["vpce-0fe6c8807461bba49"]},
                {"name": "billing", "allowed_ips": ["203.0.113.0/24"], "delete_protection": true},
                {"name": "scratch"}
            ],
            "audit_logs": [
                {"code": "db-unprotect", "author": "mallory", "origin": "web", "created_at": ago(1), "data": {"name": "orders"}},
                {"code": "db-unprotect", "author": "mallory", "created_at": ago(30), "data": {"name": "orders"}},
                {"code": "db-token-create", "author": "mallory", "created_at": ago(2), "data": {"name": "orders"}}
            ]
        }]
    }))
    .expect("seed")
}

struct Env {
    emulator: TursoEmulator,
    running: RunningEmulator,
    client: Turso,
    metrics: Arc<Metrics>,
}

fn settings(base: String, timeout: Duration) -> HttpSettings {
    let mut settings = HttpSettings::new("turso", base);
    settings.timeout = timeout;
    settings.backoff = Duration::from_millis(5);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    settings
}

async fn env(seed: Seed, timeout: Duration) -> Env {
    seed.validate().expect("valid seed");
    let emulator = TursoEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .expect("emulator starts");
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let client = Turso::with_settings(
        settings(running.base_url(), timeout),
        Some(ORG.to_string()),
        SecretString::new(TOKEN),
        Some(metrics.clone()),
    )
    .expect("client");
    Env {
        emulator,
        running,
        client,
        metrics,
    }
}

fn firewall(block: &str) -> Target {
    let fw: TursoFirewall = serde_json::from_value(
        perimeter::manifests::yaml_to_json(&format!(
            "organization: {ORG}\ndatabase: orders\n{block}"
        ))
        .expect("yaml"),
    )
    .expect("block");
    firewall_target(&fw).expect("valid target")
}

fn monitoring(block: &str) -> Target {
    let mon: TursoMonitoring = serde_json::from_value(
        perimeter::manifests::yaml_to_json(&format!("organization: {ORG}\n{block}")).expect("yaml"),
    )
    .expect("block");
    monitoring_target(&mon).expect("valid target")
}

const DECLARED: &str = "allowedIps: [\"203.0.113.0/24\"]\ndeleteProtection: true\n";

fn drift_paths(out: &SyncOutcome) -> Vec<String> {
    out.remaining
        .as_ref()
        .map(|d| d.drift.iter().map(|x| x.path.clone()).collect())
        .unwrap_or_default()
}

fn codes(out: &SyncOutcome) -> Vec<&'static str> {
    out.findings.iter().map(|f| f.code).collect()
}

#[tokio::test]
async fn observe_reports_drift_and_outside_changes_and_never_writes() {
    let e = env(seed(), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &firewall(&format!("{DECLARED}auditLog: Report\n")),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        drift_paths(&out),
        [
            "configuration[allowedIps]",
            "configuration[deleteProtection]"
        ],
        "the undeclared VPC list is not compared"
    );
    assert!(!out.in_sync());
    assert_eq!(
        codes(&out),
        ["ChangedOutsidePerimeter"],
        "{:?}",
        out.findings
    );
    let message = &out.findings[0].message;
    assert!(
        message.starts_with("db-unprotect by mallory (web) at "),
        "{message}"
    );
    assert!(e.emulator.log().writes().is_empty());
}

/// Without `auditLog`, a sync reads the declared configuration alone; the audit log only when
/// drift is found, to say who made it (the `ChangedOutsidePerimeter` finding, which also
/// reports changes since undone, is `auditLog: Report`'s).
#[tokio::test]
async fn without_audit_log_the_log_is_read_only_to_attribute_drift() {
    let e = env(seed(), Duration::from_secs(5)).await;
    let target = firewall(DECLARED);
    let out = sync(&e.client, &target, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(codes(&out).is_empty(), "{:?}", out.findings);
    let by = out
        .attribution
        .as_ref()
        .and_then(|a| a.get("configuration[deleteProtection]"))
        .map(|a| a.by.clone());
    assert_eq!(
        by.as_deref(),
        Some("mallory via web"),
        "{:?}",
        out.attribution
    );
    assert_eq!(e.emulator.log().count("GET", "/audit-logs"), 1);
    let reads = support::calls::settled_reads(&e.client, &target, &e.emulator.log()).await;
    assert_eq!(reads.len(), 1, "one read, the configuration: {reads:?}");
    assert!(reads[0].ends_with("/orders/configuration"), "{reads:?}");
}

/// One PATCH carries every declared setting: the declared empty list as `[]`, the undeclared
/// one not at all (so the emulator keeps it). Perimeter's own audit entry is not a finding.
#[tokio::test]
async fn enforce_sends_one_patch_that_clears_declared_empty_lists_and_omits_the_others() {
    let e = env(seed(), Duration::from_secs(5)).await;
    let target = firewall("allowedIps: []\ndeleteProtection: true\nauditLog: Report\n");
    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(
        out.in_sync(),
        "{:?} {:?}",
        out.error.map(|e| e.to_string()),
        out.remaining
    );
    let writes = e.emulator.log().writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.as_str()),
        ("PATCH", CONFIG)
    );
    assert_eq!(
        writes[0].body,
        Some(json!({"allowed_ips": [], "delete_protection": true}))
    );
    let db = &e.emulator.snapshot().organizations[0].databases[0];
    assert!(db.allowed_ips.is_empty() && db.delete_protection);
    assert_eq!(
        db.allowed_aws_vpc_ids,
        ["vpce-0fe6c8807461bba49"],
        "omitted: unchanged"
    );
    // The emulator audited the write under Perimeter's user: only mallory's change remains.
    let log = &e.emulator.snapshot().organizations[0].audit_logs;
    assert!(
        log.iter()
            .any(|x| x.code == "db-protect" && x.author == "perimeter-bot")
    );
    assert_eq!(codes(&out), ["ChangedOutsidePerimeter"]);
    assert!(out.findings[0].message.contains("mallory"));

    let again = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(again.in_sync() && again.applied.is_empty());
    assert_eq!(
        e.emulator.log().writes().len(),
        1,
        "a settled database is not written"
    );
}

/// The organisation sweep reads every database, declared or not, and the token owner's tokens;
/// a plan without audit logs is drift and `NotEntitled`, and nothing is ever written.
#[tokio::test]
async fn the_organisation_sweep_reports_open_databases_unscoped_tokens_and_the_plan() {
    let mut s = seed();
    s.organizations[0].audit_logs_enabled = false;
    let e = env(s, Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &monitoring("auditLogRequired: true"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(drift_paths(&out), ["auditLog[available]"]);
    let found: Vec<(&str, &str)> = out
        .findings
        .iter()
        .map(|f| (f.code, f.subject.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("NotEntitled", "auditLog"),
            ("NetworkOpen", "databases[scratch]"),
            ("ApiTokenUnscoped", "apiTokens[laptop]"),
        ],
        "orders is behind a VPC endpoint rule, billing behind an address rule"
    );
    assert!(e.emulator.log().writes().is_empty());
    e.emulator.log().clear();
    sync(
        &e.client,
        &monitoring(""),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        e.emulator.log().count("GET", "/configuration"),
        3,
        "one read per database in a pass"
    );
}

#[tokio::test]
async fn a_firewall_policy_on_a_plan_without_audit_logs_says_it_cannot_check() {
    let mut s = seed();
    s.organizations[0].audit_logs_enabled = false;
    let e = env(s, Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &firewall("auditLog: Report"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(codes(&out), ["NotEntitled"]);
    assert!(out.findings[0].message.contains("auditLog: Ignore"));
    let quiet = sync(
        &e.client,
        &firewall("auditLog: Ignore"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(quiet.findings.is_empty() && quiet.in_sync());
}

/// The audit log is read page after page until the window's edge.
#[tokio::test]
async fn the_audit_log_is_paged_to_the_window() {
    let mut s = seed();
    let org = &mut s.organizations[0];
    for i in 0..250 {
        org.audit_logs.push(
            serde_json::from_value(json!({
                "code": "db-token-create", "author": "ci", "created_at": ago(3),
                "data": {"name": format!("n{i}")}
            }))
            .expect("entry"),
        );
    }
    org.audit_logs.push(
        serde_json::from_value(json!({
            "code": "db-delete", "author": "eve", "created_at": ago(4), "data": {"database": "orders"}
        }))
        .expect("entry"),
    );
    let e = env(s, Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &firewall("auditLog: Report"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    let authors: Vec<bool> = ["mallory", "eve"]
        .iter()
        .map(|a| out.findings.iter().any(|f| f.message.contains(a)))
        .collect();
    assert_eq!(authors, [true, true], "{:?}", out.findings);
    assert_eq!(
        e.emulator.log().count("GET", "/audit-logs"),
        3,
        "254 entries: three pages of 100, the last one reaching the window's edge"
    );
}

#[tokio::test]
async fn a_policy_cannot_reach_another_organisation_than_the_cloud_providers() {
    let e = env(seed(), Duration::from_secs(5)).await;
    let fw: TursoFirewall = serde_json::from_value(json!({
        "organization": "other", "database": "orders", "deleteProtection": true
    }))
    .expect("block");
    let out = sync(
        &e.client,
        &firewall_target(&fw).expect("target"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::InvalidSpec)
    );
    assert!(
        e.emulator.log().entries().is_empty(),
        "refused before any request"
    );
}

/// Every persistent fault on a read, in Observe and in Enforce: unknown, never in sync, nothing
/// written, no token in the error.
#[tokio::test]
async fn persistent_read_faults_leave_the_state_unknown_never_in_sync() {
    let faults = support::cells::persistent_faults();
    // The other reads (the main read's cells are in tests/fault_matrix.rs).
    for path in ["/audit-logs", "/v1/user"] {
        for mode in support::cells::MODES {
            for (fault, category) in &faults {
                let e = env(seed(), Duration::from_millis(300)).await;
                e.emulator
                    .faults()
                    .inject(FaultRule::new(path, fault.clone()).method("GET"));
                let out = sync(
                    &e.client,
                    &firewall(&format!("{DECLARED}auditLog: Report\n")),
                    mode,
                    UnmanagedPolicy::Report,
                )
                .await;
                support::cells::assert_failed_read(
                    &out,
                    *category,
                    e.emulator.log().writes().len(),
                    TOKEN,
                    &format!("{fault:?} on {path}"),
                );
            }
        }
    }
}

/// A faulted PATCH: nothing counted as applied, never in sync, and the database as it was
/// (the fault answers instead of the handler). A hang may land after the timeout: only the
/// next read can tell.
#[tokio::test]
async fn write_faults_leave_nothing_half_written() {
    let faults = support::cells::persistent_faults();
    for (fault, category) in faults {
        let e = env(seed(), Duration::from_millis(300)).await;
        let before = e.emulator.snapshot().organizations[0].databases[0].clone();
        e.emulator
            .faults()
            .inject(FaultRule::new("/configuration", fault.clone()).method("PATCH"));
        let out = sync(
            &e.client,
            &firewall(DECLARED),
            Mode::Enforce,
            UnmanagedPolicy::Report,
        )
        .await;
        support::cells::assert_failed_write(&out, category, TOKEN, &format!("{fault:?}"));
        assert!(out.applied.is_empty(), "{fault:?}");
        if !matches!(fault, Fault::Hang { .. }) {
            assert_eq!(
                e.emulator.snapshot().organizations[0].databases[0],
                before,
                "{fault:?}"
            );
        }
    }
}

#[tokio::test]
async fn throttling_with_retry_after_is_retried_and_counted() {
    let e = env(seed(), Duration::from_secs(5)).await;
    e.emulator.faults().inject(
        FaultRule::new(
            "/configuration",
            Fault::RateLimited {
                retry_after_secs: 1,
            },
        )
        .method("GET")
        .times(1),
    );
    let out = sync(
        &e.client,
        &firewall(DECLARED),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.remaining.map(|d| d.drift.len()), Some(2));
    let text = e.metrics.render().expect("metrics");
    assert!(
        text.contains(r#"perimeter_provider_requests_total{code="429",operation="getDatabaseConfiguration",provider="turso"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_rejected_token_is_reported_without_leaking_it() {
    let e = env(seed(), Duration::from_secs(5)).await;
    let wrong = "turso-ffffffffffffffffffffffffffffffff";
    let bad = Turso::with_settings(
        settings(e.running.base_url(), Duration::from_secs(5)),
        Some(ORG.to_string()),
        SecretString::new(wrong),
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
    assert!(!out.in_sync() && e.emulator.log().writes().is_empty());
    assert_eq!(
        e.client.verify().await.expect("accepted"),
        "platform API token accepted; acting as perimeter-bot; 3 database(s) in acme"
    );
}

/// `deletionPolicy: Delete` changes nothing at Turso: every managed field is a setting of the
/// database's configuration, and removing a policy must never lift a restriction or delete
/// protection, so the cleanup plan is empty.
#[tokio::test]
async fn deletion_never_lifts_a_restriction() {
    let e = env(seed(), Duration::from_secs(5)).await;
    let target =
        firewall("allowedIps: [203.0.113.0/24]\ndeleteProtection: true\nauditLog: Ignore\n");
    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.error.map(|e| e.to_string()));
    let observed = e.client.observe(&target).await.expect("observed");
    let (_, plan) = perimeter::core::cleanup(&target.desired, &observed.state);
    assert!(plan.is_empty(), "{plan:?}");
}

/// The inventory is every database of the CloudProvider's organisation (one
/// `listDatabases`, counted); only the database a FirewallPolicy names is covered.
#[tokio::test]
async fn inventory_lists_the_organisation_s_databases_and_the_named_one_is_covered() {
    let e = env(seed(), Duration::from_secs(5)).await;
    let assets = e
        .client
        .inventory()
        .await
        .expect("read")
        .expect("Turso lists its databases");
    let names: Vec<&str> = assets.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(names, ["orders", "billing", "scratch"]);
    // Each serves its `Hostname` (the emulator's, as the spec's example: `<db>-<org>.turso.io`).
    let hosts: Vec<&[String]> = assets.iter().map(|a| a.hosts.as_slice()).collect();
    assert_eq!(
        hosts,
        [
            [format!("orders-{ORG}.turso.io")],
            [format!("billing-{ORG}.turso.io")],
            [format!("scratch-{ORG}.turso.io")]
        ]
    );
    assert!(
        assets
            .iter()
            .all(|a| a.kind == "database" && a.parent.as_deref() == Some(ORG))
    );
    let text = e.metrics.render().expect("metrics");
    assert!(
        text.contains(r#"perimeter_provider_requests_total{code="200",operation="listDatabases",provider="turso"} 1"#),
        "{text}"
    );
    let policy: perimeter::api::FirewallPolicySpec = serde_json::from_value(json!({
        "providerRef": {"name": "turso"},
        "turso": {"organization": ORG, "database": "orders"}
    }))
    .expect("policy");
    let status = perimeter::inventory::status(
        perimeter::api::ProviderType::Turso,
        Ok(Some(assets)),
        &[&policy],
        "2026-11-30T08:00:00Z".into(),
    )
    .expect("an inventory");
    assert_eq!((status.total, status.covered), (Some(3), Some(1)));
    let uncovered: Vec<&str> = status.uncovered.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(uncovered, ["billing", "scratch"]);
}

/// A database list that cannot be read, or a CloudProvider without the organisation to list,
/// is an error, never an empty (fully covered) inventory; the error carries no token.
#[tokio::test]
async fn an_unreadable_database_list_is_an_error_never_an_empty_list() {
    for (fault, category) in support::cells::persistent_faults() {
        let e = env(seed(), Duration::from_millis(300)).await;
        e.emulator.faults().inject(FaultRule::new(
            "/v1/organizations/acme/databases",
            fault.clone(),
        ));
        let err = e.client.inventory().await.expect_err("unreadable");
        assert_eq!(err.category, category, "{fault:?}: {err}");
        assert!(!err.to_string().contains(TOKEN), "{fault:?}");
    }
    let e = env(seed(), Duration::from_secs(5)).await;
    let no_org = Turso::with_settings(
        settings(e.running.base_url(), Duration::from_secs(5)),
        None,
        SecretString::new(TOKEN),
        None,
    )
    .expect("client");
    let err = no_org.inventory().await.expect_err("no organization");
    assert_eq!(err.category, Category::InvalidSpec, "{err}");
    assert!(err.message.contains("spec.accountId"), "{err}");
    assert!(e.emulator.log().entries().is_empty());
}
