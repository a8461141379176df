//! Conformance of the Trigger.dev client with the official OpenAPI 3.1 document (trimmed copy
//! in tests/conformance/triggerdev; SOURCE.md there gives its origin and quirks): every request
//! the client can send, validated by Prism; and the emulator's answers, through Prism's proxy.

mod support;

use std::time::Duration;

use perimeter::SecretString;
use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::http::HttpSettings;
use perimeter::providers::triggerdev::api::TriggerdevMonitoring;
use perimeter::providers::triggerdev::{Triggerdev, monitoring_target};
use perimeter::providers::{Provider, Target};
use perimeter_emulators::triggerdev::{ErrorGroup, Run, SecretKey, Seed, TriggerdevEmulator};
use serde_json::json;

const KEY: &str = "tr_prod_conformance0123456789abcdef";

fn settings(url: &str) -> HttpSettings {
    let mut settings = HttpSettings::new("triggerdev", url);
    settings.max_retries = 0;
    settings.timeout = Duration::from_secs(20);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    settings
}

fn target(block: serde_json::Value) -> Target {
    let m: TriggerdevMonitoring = serde_json::from_value(block).expect("block");
    monitoring_target(&m).expect("target")
}

/// Every shape of request the client sends: verify, and a read with each filter combination.
fn targets() -> Vec<(&'static str, Target)> {
    vec![
        (
            "observe all tasks",
            target(json!({"failedRuns": {"window": "24h"}, "errorGroups": {}})),
        ),
        (
            "observe named tasks",
            target(
                json!({"failedRuns": {"window": "7d", "maxFailed": 2, "tasks": ["charge-invoice", "send-receipt"]}}),
            ),
        ),
    ]
}

fn spec() -> std::path::PathBuf {
    support::repo_root().join("tests/conformance/triggerdev/openapi.json")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_triggerdev_request_conforms_to_the_spec() {
    let prism = tokio::task::spawn_blocking(|| support::start_prism(&spec()))
        .await
        .expect("prism");
    let client = Triggerdev::with_settings(settings(&prism.url), SecretString::new(KEY), None)
        .expect("client");
    let mut ledger = support::RequestLedger::default();
    let offset = prism.log_len();
    let _ = client.verify().await;
    ledger.record("verify", offset, &prism);
    for (what, t) in targets() {
        let offset = prism.log_len();
        let _ = client.observe(&t).await;
        ledger.record(what, offset, &prism);
    }
    // The validator is not blind to the paging parameter: a page size below the spec's
    // minimum is a violation. (It is blind to the comma-separated `filter[status]` values:
    // see SOURCE.md; `statuses_are_the_specs` checks them instead.)
    for bad in ["/api/v1/runs?page%5Bsize%5D=5"] {
        let offset = prism.log_len();
        let _ = reqwest::Client::new()
            .get(format!("{}{bad}", prism.url))
            .bearer_auth(KEY)
            .send()
            .await;
        assert!(
            !prism.violations_since(offset).is_empty(),
            "Prism accepted {bad}:\n{}",
            prism.log()
        );
    }
    let total = ledger.total();
    println!(
        "Prism checked {total} Trigger.dev request(s): {:?}",
        ledger.checked
    );
    ledger.assert_clean(&prism);
    // verify; runs and errors; runs with the task filter.
    assert!(total >= 4, "{:?}", ledger.checked);
}

/// The emulator behind Prism as a proxy: every answer (both lists, a second page, a refused
/// key) is validated against the official spec.
#[tokio::test(flavor = "multi_thread")]
async fn every_triggerdev_emulator_answer_conforms_to_the_spec() {
    let runs: Vec<Run> = (0..200)
        .map(|i| Run {
            id: format!("run_{i:05}"),
            environment: "prod".into(),
            task_identifier: if i % 2 == 0 {
                "charge-invoice"
            } else {
                "send-receipt"
            }
            .into(),
            status: ["FAILED", "CRASHED", "SYSTEM_FAILURE", "COMPLETED"][i % 4].into(),
            created_minutes_ago: i as u64,
        })
        .collect();
    let seed = Seed {
        keys: vec![SecretKey {
            key: KEY.into(),
            environment: "prod".into(),
        }],
        runs,
        errors: vec![ErrorGroup {
            id: "error_8f3b2a1c9d4e5f60".into(),
            environment: "prod".into(),
            task_identifier: "charge-invoice".into(),
            error_type: "TimeoutError".into(),
            error_message: "card processor timed out".into(),
            status: "unresolved".into(),
            count: 3,
            last_seen_minutes_ago: 5,
        }],
        rate_limit_per_minute: 1500,
    };
    seed.validate().expect("valid seed");
    let emulator = TriggerdevEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let upstream = running.base_url();
    let prism = tokio::task::spawn_blocking(move || support::start_prism_proxy(&spec(), &upstream))
        .await
        .expect("prism");
    let client = Triggerdev::with_settings(settings(&prism.url), SecretString::new(KEY), None)
        .expect("client");
    let offset = prism.log_len();
    client.verify().await.expect("verify");
    for (what, t) in targets() {
        let out =
            perimeter::reconcile::sync(&client, &t, Mode::Observe, UnmanagedPolicy::Report).await;
        assert!(out.error.is_none(), "{what}: {:?}", out.error);
        assert!(!out.findings.is_empty(), "{what}: the seed has failures");
    }
    let answers = prism.assert_exchanges_conform_since(offset);
    println!("answers checked: {answers}");
    // verify; runs (two pages) and errors; runs with the task filter (two pages).
    assert!(answers >= 6, "{answers}");
    assert!(emulator.log().count("GET", "/api/v1/runs") >= 5);
}

/// Prism reads `filter[status]=A,B` (the form the spec's description asks for) as one string
/// and does not check it against the array's enum (SOURCE.md, quirk 1): the values the client
/// sends are checked against the trimmed document's enums here instead.
#[test]
fn statuses_are_the_specs() {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(spec()).expect("spec")).expect("json");
    let schemas = &doc["components"]["schemas"];
    let runs = &schemas["CommonRunsFilter"]["properties"]["status"]["items"]["enum"];
    for s in perimeter::providers::triggerdev::model::FAILED_STATUSES {
        assert!(runs.as_array().expect("enum").contains(&json!(s)), "{s}");
    }
    let errors = &schemas["ErrorsFilter"]["properties"]["status"]["items"]["enum"];
    assert!(
        errors
            .as_array()
            .expect("enum")
            .contains(&json!("unresolved"))
    );
}
