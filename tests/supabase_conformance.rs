//! Request conformance: every request the Supabase client sends is validated by Prism against
//! the official Management API document (trimmed copy in tests/conformance/supabase; see
//! SOURCE.md there for its origin and quirks).
//!
//! Documented quirk, fixed in a temporary copy only: the document names the security schemes
//! `bearer` and `fga_permissions` but declares none; `scripts/fix-openapi-for-prism.py`
//! declares `bearer` as an HTTP bearer scheme and drops the `fga_permissions` alternative (a
//! permission list, not a credential). No violation is tolerated.

mod support;

use std::time::Duration;

use perimeter::SecretString;
use perimeter::core::Change;
use perimeter::http::HttpSettings;
use perimeter::providers::supabase::api::{SupabaseFirewall, SupabaseMonitoring};
use perimeter::providers::supabase::{Supabase, firewall_target, model, monitoring_target};
use perimeter::providers::{Observation, Provider, Target};
use serde_json::json;

const REF: &str = "abcdefghijklmnopqrst";

fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_value(perimeter::manifests::yaml_to_json(text).expect("yaml")).expect("block")
}

fn firewall() -> Target {
    let fw: SupabaseFirewall = yaml(&format!(
        r#"
projectRef: {REF}
dbAllowedCidrs: [203.0.113.0/24]
dbAllowedCidrsV6: ["2001:db8::/32"]
sslEnforcement: {{database: true}}
authRateLimits: {{anonymousUsers: 30, emailSent: 30, smsSent: 30, tokenRefresh: 150, verify: 30, otp: 30, web3: 30}}
"#
    ));
    firewall_target(&fw).expect("target")
}

fn monitoring() -> Target {
    let mon: SupabaseMonitoring = yaml(&format!(
        "projectRef: {REF}\nhealthyServices: [auth, db, db_postgres_user, pooler, realtime, rest, storage, pg_bouncer]"
    ));
    monitoring_target(&mon).expect("target")
}

/// What the project looked like before the writes: open, entitled, applied.
fn observed() -> Observation {
    let (network, _) = model::observed_network(&json!({
        "entitlement": "allowed", "status": "applied",
        "config": {"dbAllowedCidrs": ["0.0.0.0/0"], "dbAllowedCidrsV6": ["::/0"]}
    }))
    .expect("network");
    let mut obs = Observation::default();
    obs.state.push(network);
    obs
}

/// Every change the client can make: each declared item of each section updated.
fn every_change(target: &Target) -> Vec<Change> {
    target
        .desired
        .sections
        .iter()
        .flat_map(|s| {
            s.items.iter().map(|i| Change::Update {
                section: s.name.clone(),
                key: i.key.clone(),
                fields: vec!["value".into()],
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_supabase_request_conforms_to_the_official_spec() {
    let spec = support::repo_root().join("tests/conformance/supabase/openapi.json");
    let prism = tokio::task::spawn_blocking(move || support::start_prism(&spec))
        .await
        .expect("prism");
    let mut settings = HttpSettings::new("supabase", prism.url.clone());
    settings.max_retries = 0;
    settings.timeout = Duration::from_secs(20);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    // Prism's answers are examples: the wait for `applied` is cut short, it is not judged.
    let client = Supabase::with_settings(settings, SecretString::new("sbp_conformance"), None)
        .expect("client")
        .with_apply_wait(Duration::from_millis(1), Duration::from_millis(1));

    let mut ledger = support::RequestLedger::default();

    let offset = prism.log_len();
    let _ = client.verify().await;
    ledger.record("verify", offset, &prism);

    let offset = prism.log_len();
    let _ = client.inventory().await;
    ledger.record("inventory", offset, &prism);

    for target in [firewall(), monitoring()] {
        // Reads (bans included with the firewall); only the requests are judged here.
        let offset = prism.log_len();
        let _ = client.observe(&target).await;
        ledger.record(format!("observe {:?}", target.purpose), offset, &prism);
    }
    let target = firewall();
    for change in every_change(&target) {
        if change.section() == model::NETWORK
            && !matches!(&change, Change::Update { key, .. } if key == model::V4)
        {
            continue; // one network write covers both lists; status is only waited for
        }
        let offset = prism.log_len();
        let _ = client
            .apply(&target, &observed(), std::slice::from_ref(&change))
            .await;
        ledger.record(change.describe(), offset, &prism);
    }

    let total = ledger.total();
    println!(
        "Prism checked {total} Supabase request(s): {:?}",
        ledger.checked
    );
    ledger.assert_clean(&prism);
    // verify, 4 firewall reads, 1 health read, then SSL, 7 limits, and the network write with
    // at least one read of its status.
    assert!(total >= 16, "{:?}", ledger.checked);
}

/// The `spec.supabase` block of an example manifest.
fn example_block<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let text = std::fs::read_to_string(support::repo_root().join(file)).expect("example");
    let doc = perimeter::manifests::yaml_to_json(&text).expect("yaml");
    serde_json::from_value(doc["spec"]["supabase"].clone()).expect("supabase block")
}

/// Answer conformance: the Supabase emulator, seeded as the demo organisation, behind Prism
/// as a proxy. The examples are enforced (SSL, Auth limits, network restrictions applied and
/// waited for) and read again, and the bans and health read, so every answer the client reads
/// is validated against the official spec; no violation is tolerated.
#[tokio::test(flavor = "multi_thread")]
async fn every_supabase_emulator_answer_conforms_to_the_official_spec() {
    use perimeter::api::{Mode, UnmanagedPolicy};
    use perimeter_emulators::supabase::{Seed, SupabaseEmulator};

    let seed_text = std::fs::read_to_string(
        support::repo_root().join("examples/demo/supabase-organisation.yaml"),
    )
    .expect("demo seed");
    let seed: Seed =
        serde_json::from_value(perimeter::manifests::yaml_to_json(&seed_text).expect("yaml"))
            .expect("seed");
    let emulator = SupabaseEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let spec = support::repo_root().join("tests/conformance/supabase/openapi.json");
    let upstream = running.base_url();
    let prism = tokio::task::spawn_blocking(move || support::start_prism_proxy(&spec, &upstream))
        .await
        .expect("prism");
    let mut settings = HttpSettings::new("supabase", prism.url.clone());
    settings.max_retries = 0;
    settings.timeout = Duration::from_secs(20);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    let client = Supabase::with_settings(settings, SecretString::new("sbp_demo_token"), None)
        .expect("client")
        .with_apply_wait(Duration::from_secs(20), Duration::from_millis(50));

    let fw: SupabaseFirewall = example_block("examples/supabase/firewall-database.yaml");
    let analytics: SupabaseFirewall = example_block("examples/supabase/firewall-analytics.yaml");
    let mon: SupabaseMonitoring = example_block("examples/supabase/monitoring.yaml");
    let offset = prism.log_len();
    let _ = client.verify().await;
    let fw = firewall_target(&fw).expect("target");
    let out =
        perimeter::reconcile::sync(&client, &fw, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(
        out.error.is_none() && out.in_sync(),
        "{:?} {:?}",
        out.error,
        out.remaining
    );
    let applied = out.applied;
    // The plan without network restrictions and the unhealthy storage: read, not written.
    for target in [
        firewall_target(&analytics).expect("target"),
        monitoring_target(&mon).expect("target"),
    ] {
        let out =
            perimeter::reconcile::sync(&client, &target, Mode::Observe, UnmanagedPolicy::Report)
                .await;
        assert!(out.error.is_none(), "{:?}", out.error);
    }
    let projects = client.inventory().await.expect("projects").expect("listed");
    assert_eq!(projects.len(), 2, "{projects:?}");
    let answers = prism.assert_exchanges_conform_since(offset);
    println!("answers checked: {answers}; changes applied: {applied:?}");
    for want in ["sslEnforcement", "authRateLimits", "networkRestrictions"] {
        assert!(
            applied.iter().any(|a| a.contains(want)),
            "{want}: {applied:?}"
        );
    }
    assert!(answers >= 12, "{answers}");
}
