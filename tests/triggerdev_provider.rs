//! The Trigger.dev client against the stateful Trigger.dev emulator: failed runs and
//! unresolved error groups as findings (never written), cursor paging, every fault cell
//! Unknown in both modes, the 429 that says when to come back only in `x-ratelimit-reset`,
//! and a bad key that is never printed.

mod support;

use std::time::Duration;

use perimeter::SecretString;
use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::error::Category;
use perimeter::http::HttpSettings;
use perimeter::providers::triggerdev::api::TriggerdevMonitoring;
use perimeter::providers::triggerdev::{Triggerdev, monitoring_target};
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::sync;
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::server::RunningEmulator;
use perimeter_emulators::triggerdev::{ErrorGroup, Run, SecretKey, Seed, TriggerdevEmulator};

const KEY: &str = "tr_prod_0123456789abcdefghijklmnopqrstuv";

fn run(i: usize, task: &str, status: &str, minutes_ago: u64) -> Run {
    Run {
        id: format!("run_{i:06}"),
        environment: "prod".into(),
        task_identifier: task.into(),
        status: status.into(),
        created_minutes_ago: minutes_ago,
    }
}

fn group(id: &str, status: &str) -> ErrorGroup {
    ErrorGroup {
        id: id.into(),
        environment: "prod".into(),
        task_identifier: "charge".into(),
        error_type: "TimeoutError".into(),
        error_message: "card processor timed out".into(),
        status: status.into(),
        count: 3,
        last_seen_minutes_ago: 10,
    }
}

fn seed(runs: Vec<Run>, errors: Vec<ErrorGroup>) -> Seed {
    Seed {
        keys: vec![
            SecretKey {
                key: KEY.into(),
                environment: "prod".into(),
            },
            SecretKey {
                key: "tr_dev_otherenvironmentkey000000".into(),
                environment: "dev".into(),
            },
        ],
        runs,
        errors,
        rate_limit_per_minute: 1500,
    }
}

fn settings(base: String, timeout: Duration) -> HttpSettings {
    let mut settings = HttpSettings::new("triggerdev", base);
    settings.timeout = timeout;
    settings.backoff = Duration::from_millis(5);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    settings
}

struct Env {
    emulator: TriggerdevEmulator,
    running: RunningEmulator,
    client: Triggerdev,
}

async fn env(seed: Seed, timeout: Duration) -> Env {
    seed.validate().expect("valid seed");
    let emulator = TriggerdevEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .expect("emulator starts");
    let client = Triggerdev::with_settings(
        settings(running.base_url(), timeout),
        SecretString::new(KEY),
        None,
    )
    .expect("client");
    Env {
        emulator,
        running,
        client,
    }
}

fn target(block: serde_json::Value) -> Target {
    let m: TriggerdevMonitoring = serde_json::from_value(block).expect("block");
    monitoring_target(&m).expect("valid")
}

fn both() -> Target {
    target(serde_json::json!({"failedRuns": {"window": "24h"}, "errorGroups": {}}))
}

fn drifted() -> Seed {
    let mut runs = vec![
        run(1, "charge", "FAILED", 30),
        run(2, "charge", "CRASHED", 90),
        run(3, "email", "SYSTEM_FAILURE", 300),
        run(4, "charge", "COMPLETED", 5),
        // Outside the window.
        run(5, "charge", "FAILED", 3000),
    ];
    // Another environment's failure is not this key's.
    runs.push(Run {
        environment: "dev".into(),
        ..run(6, "charge", "FAILED", 5)
    });
    seed(
        runs,
        vec![
            group("error_aaa", "unresolved"),
            group("error_bbb", "ignored"),
        ],
    )
}

#[tokio::test]
async fn failed_runs_and_unresolved_groups_are_drift_and_findings_never_written() {
    let e = env(drifted(), Duration::from_secs(5)).await;
    for mode in support::cells::MODES {
        let out = sync(&e.client, &both(), mode, UnmanagedPolicy::Report).await;
        assert!(out.error.is_none(), "{:?}", out.error);
        let drift: Vec<(String, Option<String>)> = out
            .remaining
            .as_ref()
            .expect("read")
            .drift
            .iter()
            .map(|d| (d.path.clone(), d.observed.clone()))
            .collect();
        assert_eq!(
            drift,
            [
                ("runs[failed]".to_string(), Some("3".to_string())),
                ("errors[unresolved]".to_string(), Some("1".to_string())),
            ],
            "{mode:?}"
        );
        let found: Vec<(&str, &str)> = out
            .findings
            .iter()
            .map(|f| (f.code, f.subject.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("RunsFailing", "runs[charge]"),
                ("RunsFailing", "runs[email]"),
                ("ErrorGroupsUnresolved", "errors[error_aaa]"),
                ("ManualChangeNeeded", "runs"),
                ("ManualChangeNeeded", "errors"),
            ],
            "{mode:?}"
        );
        assert!(out.applied.is_empty());
        assert!(!out.in_sync());
    }
    assert!(e.emulator.log().writes().is_empty(), "never writes");
    // Limits the account is within: in sync.
    let relaxed = target(serde_json::json!({
        "failedRuns": {"window": "24h", "maxFailed": 3}, "errorGroups": {"maxUnresolved": 1}
    }));
    let out = sync(&e.client, &relaxed, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert!(out.findings.is_empty(), "{:?}", out.findings);
    // Only the named tasks: the filter goes to the API.
    let email = target(serde_json::json!({"failedRuns": {"window": "24h", "tasks": ["email"]}}));
    let out = sync(&e.client, &email, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(out.findings[0].subject, "runs[email]");
    assert!(e.emulator.log().count("GET", "/api/v1/runs") > 0);
    let last = e
        .emulator
        .log()
        .entries()
        .last()
        .cloned()
        .expect("a request");
    let query = last.query.unwrap_or_default();
    assert!(
        query.contains("filter%5BtaskIdentifier%5D=email"),
        "{query}"
    );
}

/// 250 failed runs come back in three pages of 100, followed by `page[after]`.
#[tokio::test]
async fn every_page_is_followed() {
    let runs: Vec<Run> = (0..250).map(|i| run(i, "bulk", "FAILED", 10)).collect();
    let e = env(seed(runs, Vec::new()), Duration::from_secs(5)).await;
    let t = target(serde_json::json!({"failedRuns": {"window": "1d", "maxFailed": 249}}));
    let out = sync(&e.client, &t, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(e.emulator.log().count("GET", "/api/v1/runs"), 3);
    let drift = &out.remaining.as_ref().expect("read").drift;
    assert_eq!(drift[0].observed.as_deref(), Some("250"));
    assert!(
        out.findings[0]
            .message
            .starts_with("250 failed run(s) of task bulk")
    );
}

/// Every fault on each read, in both modes: unknown, never in sync, nothing written, no key.
#[tokio::test]
async fn read_faults_leave_the_state_unknown_never_in_sync() {
    let e = env(drifted(), Duration::from_millis(500)).await;
    for mode in support::cells::MODES {
        // The other read (the main read's cells are in tests/fault_matrix.rs).
        for path in ["/api/v1/errors"] {
            for (fault, category) in support::cells::persistent_faults() {
                e.emulator.faults().clear();
                e.emulator
                    .faults()
                    .inject(FaultRule::new(path, fault.clone()).method("GET"));
                let out = sync(&e.client, &both(), mode, UnmanagedPolicy::Report).await;
                support::cells::assert_failed_read(
                    &out,
                    category,
                    e.emulator.log().writes().len(),
                    KEY,
                    &format!("{mode:?} {fault:?} on {path}"),
                );
            }
        }
    }
}

/// Trigger.dev's 429 has no `Retry-After`: the wait comes from `x-ratelimit-reset` (epoch
/// ms, about a second ahead in the emulator), and the retry then succeeds.
#[tokio::test]
async fn a_429_is_retried_after_the_reset_header() {
    let e = env(drifted(), Duration::from_secs(5)).await;
    e.emulator.faults().inject(
        FaultRule::new("/api/v1/errors", Fault::RateLimitedSilently)
            .method("GET")
            .times(1),
    );
    let started = std::time::Instant::now();
    let t = target(serde_json::json!({"errorGroups": {}}));
    let out = sync(&e.client, &t, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(e.emulator.log().count("GET", "/api/v1/errors"), 2);
    // Backoff alone is 5 ms here: the wait came from the header.
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

/// The key is refused by the API: CredentialsRejected, never printed; a personal access
/// token or a malformed key is refused before any request.
#[tokio::test]
async fn a_rejected_key_is_reported_without_leaking_it() {
    let e = env(drifted(), Duration::from_secs(5)).await;
    let wrong = "tr_prod_ffffffffffffffffffffffffffffffff";
    let bad = Triggerdev::with_settings(
        settings(e.running.base_url(), Duration::from_secs(5)),
        SecretString::new(wrong),
        None,
    )
    .expect("client");
    let err = bad.verify().await.expect_err("rejected");
    assert_eq!(err.category, Category::CredentialsRejected);
    assert!(!err.to_string().contains(wrong));
    let out = sync(&bad, &both(), Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::CredentialsRejected)
    );
    assert!(!out.in_sync());
    assert!(!format!("{:?}", out.error).contains("ffffffff"));
    let before = e.emulator.log().entries().len();
    for refused in ["tr_pat_abcdef0123456789", "Bearer x", ""] {
        let err = Triggerdev::with_settings(
            settings(e.running.base_url(), Duration::from_secs(5)),
            SecretString::new(refused),
            None,
        )
        .err()
        .expect("refused");
        assert_eq!(err.category(), Category::CredentialsMissing, "{refused}");
        if !refused.is_empty() {
            assert!(!err.to_string().contains(refused), "{err}");
        }
    }
    assert_eq!(e.emulator.log().entries().len(), before, "no request");
    assert_eq!(
        e.client.verify().await.expect("accepted"),
        "secret key accepted"
    );
}
