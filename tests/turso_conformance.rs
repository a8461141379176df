//! Request and answer conformance of the Turso client: every request it sends is validated by
//! Prism against the official Platform API document, and the emulator's answers through
//! Prism's proxy (trimmed copy in tests/conformance/turso; see SOURCE.md there for its origin
//! and quirks). The document declares a bearer scheme but requires it nowhere, so Prism does
//! not judge the `Authorization` header (the emulator does). No violation is tolerated.

mod support;

use std::time::Duration;

use perimeter::SecretString;
use perimeter::core::Change;
use perimeter::http::HttpSettings;
use perimeter::providers::turso::api::{TursoFirewall, TursoMonitoring};
use perimeter::providers::turso::{Turso, firewall_target, model, monitoring_target};
use perimeter::providers::{Observation, Provider, Target};

/// The organisation and database of the spec's examples (`my-org`, `my-db`).
const ORG: &str = "my-org";

fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_value(perimeter::manifests::yaml_to_json(text).expect("yaml")).expect("block")
}

fn firewall(settings: &str) -> Target {
    let fw: TursoFirewall = yaml(&format!("organization: {ORG}\ndatabase: my-db\n{settings}"));
    firewall_target(&fw).expect("target")
}

fn settings(url: String) -> HttpSettings {
    let mut settings = HttpSettings::new("turso", url);
    settings.max_retries = 0;
    settings.timeout = Duration::from_secs(20);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    settings
}

#[tokio::test(flavor = "multi_thread")]
async fn every_turso_request_conforms_to_the_official_spec() {
    let spec = support::repo_root().join("tests/conformance/turso/openapi.json");
    let prism = tokio::task::spawn_blocking(move || support::start_prism(&spec))
        .await
        .expect("prism");
    let client = Turso::with_settings(
        settings(prism.url.clone()),
        Some(ORG.into()),
        SecretString::new("turso_conformance"),
        None,
    )
    .expect("client");

    let mut ledger = support::RequestLedger::default();

    let offset = prism.log_len();
    let _ = client.verify().await;
    ledger.record("verify", offset, &prism);

    let offset = prism.log_len();
    let _ = client.inventory().await;
    ledger.record("inventory", offset, &prism);

    let mon: TursoMonitoring = yaml(&format!("organization: {ORG}\nauditLogRequired: true"));
    let every = "allowedIps: [203.0.113.7, \"2001:db8::/32\"]\nallowedAwsVpcIds: [vpce-0fe6c8807461bba49]\ndeleteProtection: true";
    for target in [firewall(every), monitoring_target(&mon).expect("target")] {
        let offset = prism.log_len();
        let _ = client.observe(&target).await;
        ledger.record(format!("observe {:?}", target.purpose), offset, &prism);
    }
    // Every shape of the PATCH body: each setting alone (the lists cleared), and all three.
    for declared in [
        "allowedIps: []",
        "allowedAwsVpcIds: []",
        "deleteProtection: false",
        every,
    ] {
        let target = firewall(declared);
        let change = Change::Update {
            section: model::CONFIG.into(),
            key: target.desired.sections[0].items[0].key.clone(),
            fields: vec!["value".into()],
        };
        let offset = prism.log_len();
        // Prism answers the spec's example, which applies nothing: only the request is judged.
        let _ = client
            .apply(&target, &Observation::default(), &[change])
            .await;
        ledger.record(format!("PATCH with {declared}"), offset, &prism);
    }

    let total = ledger.total();
    println!(
        "Prism checked {total} Turso request(s): {:?}",
        ledger.checked
    );
    ledger.assert_clean(&prism);
    // verify 2; firewall: configuration, user is cached, audit log; monitoring: audit log,
    // databases, one configuration per database, tokens; 4 PATCHes.
    assert!(total >= 11, "{:?}", ledger.checked);
}

/// The `spec.turso` block of an example manifest.
fn example_block<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let text = std::fs::read_to_string(support::repo_root().join(file)).expect("example");
    let doc = perimeter::manifests::yaml_to_json(&text).expect("yaml");
    serde_json::from_value(doc["spec"]["turso"].clone()).expect("turso block")
}

/// Answer conformance: the Turso emulator, seeded as the demo organisation, behind Prism as a
/// proxy. The orders example is enforced (one PATCH) and read again; the analytics example
/// and the organisation sweep are read, so every answer the client reads is validated against
/// the official spec.
#[tokio::test(flavor = "multi_thread")]
async fn every_turso_emulator_answer_conforms_to_the_official_spec() {
    use perimeter::api::{Mode, UnmanagedPolicy};
    use perimeter_emulators::turso::{Seed, TursoEmulator};

    let seed_text =
        std::fs::read_to_string(support::repo_root().join("examples/demo/turso-organisation.yaml"))
            .expect("demo seed");
    let seed: Seed =
        serde_json::from_value(perimeter::manifests::yaml_to_json(&seed_text).expect("yaml"))
            .expect("seed");
    seed.validate().expect("valid seed");
    let emulator = TursoEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let spec = support::repo_root().join("tests/conformance/turso/openapi.json");
    let upstream = running.base_url();
    let prism = tokio::task::spawn_blocking(move || support::start_prism_proxy(&spec, &upstream))
        .await
        .expect("prism");
    let client = Turso::with_settings(
        settings(prism.url.clone()),
        Some("acme-shop".into()),
        SecretString::new("turso_demo_token"),
        None,
    )
    .expect("client");

    let orders: TursoFirewall = example_block("examples/turso/firewall-orders.yaml");
    // The orders example names the declared set `compute-egress`: resolve it from its example,
    // as the operator would, so the PATCH carries its addresses.
    let set_text = std::fs::read_to_string(
        support::repo_root().join("examples/turso/addressset-compute-egress.yaml"),
    )
    .expect("set example");
    let set: perimeter::api::AddressSet =
        serde_json::from_value(perimeter::manifests::yaml_to_json(&set_text).expect("yaml"))
            .expect("AddressSet");
    let addresses = perimeter::core::addresses::normalise(
        "spec.addresses",
        set.spec.addresses.as_deref().expect("declared addresses"),
    )
    .expect("valid addresses");
    let mut sets = perimeter::core::addresses::Resolver::new(
        "perimeter",
        [(
            "compute-egress".to_string(),
            perimeter::core::addresses::SetState::ready(addresses),
        )]
        .into(),
    );
    let orders = model::with_address_sets(&orders, &mut sets).expect("the example's set");
    let analytics: TursoFirewall = example_block("examples/turso/firewall-analytics.yaml");
    let mon: TursoMonitoring = example_block("examples/turso/monitoring.yaml");
    let offset = prism.log_len();
    let _ = client.verify().await;
    let target = firewall_target(&orders).expect("target");
    let out =
        perimeter::reconcile::sync(&client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(
        out.error.is_none() && out.in_sync(),
        "{:?} {:?}",
        out.error,
        out.remaining
    );
    let applied = out.applied;
    for target in [
        firewall_target(&analytics).expect("target"),
        monitoring_target(&mon).expect("target"),
    ] {
        let out =
            perimeter::reconcile::sync(&client, &target, Mode::Observe, UnmanagedPolicy::Report)
                .await;
        assert!(out.error.is_none(), "{:?}", out.error);
    }
    let databases = client
        .inventory()
        .await
        .expect("databases")
        .expect("listed");
    assert_eq!(databases.len(), 3, "{databases:?}");
    let answers = prism.assert_exchanges_conform_since(offset);
    println!("answers checked: {answers}; changes applied: {applied:?}");
    assert_eq!(applied.len(), 2, "{applied:?}");
    assert!(answers >= 12, "{answers}");
}
