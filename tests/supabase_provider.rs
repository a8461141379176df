//! The Supabase client against the stateful Supabase emulator: Observe and Enforce of network
//! restrictions (with the wait for `applied`), SSL enforcement and Auth rate limits; the plan
//! without network restrictions; bans and service health; injected faults and a bad token.

mod support;

use std::sync::Arc;
use std::time::Duration;

use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::error::Category;
use perimeter::http::HttpSettings;
use perimeter::providers::supabase::api::{SupabaseFirewall, SupabaseMonitoring};
use perimeter::providers::supabase::{Supabase, firewall_target, monitoring_target};
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::sync;
use perimeter::{Metrics, SecretString};
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::server::RunningEmulator;
use perimeter_emulators::supabase::{Seed, SupabaseEmulator};

const REF: &str = "qwertyuiopasdfghjklz";
const TOKEN: &str = "sbp_0123456789abcdef0123456789abcdef01234567";

fn yaml(text: &str) -> serde_json::Value {
    perimeter::manifests::yaml_to_json(text).expect("valid YAML")
}

/// One project; `extra` is more of its seed fields, indented by four spaces.
fn seed(extra: &str) -> Seed {
    serde_json::from_value(yaml(&format!(
        "tokens: [{TOKEN}]\nprojects:\n  - ref: {REF}\n    name: shop-prod\n{extra}"
    )))
    .expect("seed")
}

struct Env {
    emulator: SupabaseEmulator,
    running: RunningEmulator,
    client: Supabase,
    metrics: Arc<Metrics>,
}

fn settings(base: String, timeout: Duration) -> HttpSettings {
    let mut settings = HttpSettings::new("supabase", base);
    settings.timeout = timeout;
    settings.backoff = Duration::from_millis(5);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    settings
}

async fn env(seed: Seed, timeout: Duration) -> Env {
    seed.validate().expect("valid seed");
    let emulator = SupabaseEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .expect("emulator starts");
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let client = Supabase::with_settings(
        settings(running.base_url(), timeout),
        SecretString::new(TOKEN),
        Some(metrics.clone()),
    )
    .expect("client")
    .with_apply_wait(Duration::from_millis(400), Duration::from_millis(10));
    Env {
        emulator,
        running,
        client,
        metrics,
    }
}

fn firewall(block: &str) -> Target {
    let fw: SupabaseFirewall =
        serde_json::from_value(yaml(&format!("projectRef: {REF}\n{block}"))).expect("block");
    firewall_target(&fw).expect("valid target")
}

fn monitoring(block: &str) -> Target {
    let mon: SupabaseMonitoring =
        serde_json::from_value(yaml(&format!("projectRef: {REF}\n{block}"))).expect("block");
    monitoring_target(&mon).expect("valid target")
}

/// The project as a new one is: open to the world, SSL not enforced, default limits; and two
/// addresses banned.
const OPEN: &str = "    banned_ipv4_addresses: [192.0.2.7, 198.51.100.3]\n";

const DECLARED: &str = r#"
dbAllowedCidrs: ["203.0.113.0/24", "198.51.100.0/25"]
sslEnforcement: {database: true}
authRateLimits: {emailSent: 30, tokenRefresh: 150}
"#;

fn drift_paths(out: &perimeter::reconcile::SyncOutcome) -> Vec<String> {
    out.remaining
        .as_ref()
        .map(|d| d.drift.iter().map(|x| x.path.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn observe_reports_drift_field_by_field_and_never_writes() {
    let e = env(seed(OPEN), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &firewall(&format!("{DECLARED}networkBans: Report\n")),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        drift_paths(&out),
        [
            "networkRestrictions[dbAllowedCidrs]",
            "sslEnforcement[database]",
            "authRateLimits[emailSent]"
        ]
    );
    let drift = &out.remaining.as_ref().expect("read").drift[0];
    assert_eq!(drift.observed.as_deref(), Some(r#"["0.0.0.0/0"]"#));
    assert!(!out.in_sync());
    let bans: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.code == "NetworkBans")
        .collect();
    assert_eq!(bans.len(), 1, "{:?}", out.findings);
    assert!(
        bans[0].message.starts_with("2 address(es)")
            && bans[0].message.contains("192.0.2.7, 198.51.100.3"),
        "{}",
        bans[0].message
    );
    // Bans are read with POST (the API's choice): the request log does not count it as a
    // write, and it is the only POST an Observe sends.
    let log = e.emulator.log();
    assert!(log.writes().is_empty(), "{:?}", log.writes());
    assert_eq!(log.count("POST", ""), 1);
    assert_eq!(log.count("POST", "/network-bans/retrieve"), 1);
}

/// A sync reads what the policy declares, one request per section: the bans only when
/// `networkBans: Report` asks for them.
#[tokio::test]
async fn a_sync_reads_one_request_per_declared_section_and_bans_only_when_asked() {
    let e = env(seed(OPEN), Duration::from_secs(5)).await;
    for (block, bans) in [
        (DECLARED.to_string(), 0),
        (format!("{DECLARED}networkBans: Ignore\n"), 0),
        (format!("{DECLARED}networkBans: Report\n"), 1),
    ] {
        let log = e.emulator.log();
        let out = support::calls::observe_alone(&e.client, &firewall(&block), &log).await;
        assert_eq!(log.count("POST", "/network-bans/retrieve"), bans, "{block}");
        assert_eq!(log.len(), 3 + bans, "three sections, three reads: {block}");
        let found = out
            .findings
            .iter()
            .filter(|f| f.code == "NetworkBans")
            .count();
        assert_eq!(found, bans, "{block}");
    }
}

/// Enforce writes each section once, closing first (SSL, limits) and the network lists last,
/// carries the undeclared IPv6 list over, waits for `applied`, and is then in sync.
#[tokio::test]
async fn enforce_writes_each_section_once_and_waits_until_applied() {
    let e = env(
        seed(&format!(
            "{OPEN}    db_allowed_cidrs_v6: ['2001:db8::/32']\n    apply_after_reads: 3\n"
        )),
        Duration::from_secs(5),
    )
    .await;
    let out = sync(
        &e.client,
        &firewall(DECLARED),
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
    assert_eq!(out.applied.len(), 3, "{:?}", out.applied);
    let writes: Vec<(String, String)> = e
        .emulator
        .log()
        .writes()
        .into_iter()
        .map(|w| (w.method, w.path))
        .collect();
    let p = format!("/v1/projects/{REF}");
    assert_eq!(
        writes,
        [
            ("PUT".to_string(), format!("{p}/ssl-enforcement")),
            ("PATCH".to_string(), format!("{p}/config/auth")),
            (
                "POST".to_string(),
                format!("{p}/network-restrictions/apply")
            ),
        ]
    );
    let patch = e
        .emulator
        .log()
        .entries()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .and_then(|r| r.body)
        .expect("PATCH body");
    assert_eq!(
        patch,
        serde_json::json!({"rate_limit_email_sent": 30}),
        "only the changed limit"
    );
    let project = &e.emulator.snapshot().projects[0];
    assert_eq!(
        project.db_allowed_cidrs,
        ["198.51.100.0/25", "203.0.113.0/24"]
    );
    assert_eq!(
        project.db_allowed_cidrs_v6,
        ["2001:db8::/32"],
        "the undeclared list is kept"
    );
    assert!(project.ssl_enforced);
    assert!(
        e.emulator.log().count("GET", "/network-restrictions") >= 4,
        "the apply waited for `applied`"
    );
    // A second pass finds nothing to do and writes nothing.
    e.emulator.log().clear();
    let again = sync(
        &e.client,
        &firewall(DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(again.in_sync() && again.applied.is_empty());
    assert_eq!(e.emulator.log().count("POST", "/apply"), 0);
    assert_eq!(e.emulator.log().count("PUT", ""), 0);
    assert_eq!(e.emulator.log().count("PATCH", ""), 0);
}

/// A change Supabase only stores is reported as stored: an error after the bounded wait, the
/// write listed as done, and the status as drift.
#[tokio::test]
async fn a_change_still_stored_is_never_in_sync() {
    let e = env(seed("    apply_stuck: true\n"), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &firewall("dbAllowedCidrs: [203.0.113.0/24]"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    let err = out.error.as_ref().expect("the wait ran out");
    assert_eq!(err.category, Category::Timeout);
    assert!(err.message.contains("stored, not applied"), "{err}");
    assert_eq!(
        out.applied,
        ["update networkRestrictions[dbAllowedCidrs] (value)"]
    );
    assert!(!out.in_sync());
    // Observe sees the same: the lists match, the status does not.
    let again = sync(
        &e.client,
        &firewall("dbAllowedCidrs: [203.0.113.0/24]"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(drift_paths(&again), ["networkRestrictions[status]"]);
}

#[tokio::test]
async fn a_plan_without_restrictions_is_not_entitled_and_nothing_is_written() {
    let e = env(
        seed("    entitlement: disallowed\n"),
        Duration::from_secs(5),
    )
    .await;
    let target = firewall("dbAllowedCidrs: [203.0.113.0/24]\nnetworkBans: Ignore");
    let observed = sync(&e.client, &target, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        drift_paths(&observed),
        [
            "networkRestrictions[dbAllowedCidrs]",
            "networkRestrictions[entitlement]"
        ]
    );
    let codes: Vec<_> = observed.findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, ["NotEntitled"]);
    assert!(
        observed.findings[0]
            .message
            .contains("the plan does not allow network restrictions")
    );
    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    let err = out.error.as_ref().expect("refused");
    assert_eq!(err.category, Category::WriteRejected);
    assert!(
        err.message
            .contains("the plan does not allow network restrictions"),
        "{err}"
    );
    assert!(!out.in_sync() && out.applied.is_empty());
    assert!(
        e.emulator.log().writes().is_empty(),
        "nothing sent: {:?}",
        e.emulator.log().writes()
    );
}

#[tokio::test]
async fn unhealthy_services_are_drift_and_findings_and_never_written() {
    let e = env(
        seed("    services: {storage: UNHEALTHY, realtime: COMING_UP}\n"),
        Duration::from_secs(5),
    )
    .await;
    let target = monitoring("healthyServices: [auth, storage, db]");
    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert_eq!(drift_paths(&out), ["serviceHealth[storage].status"]);
    assert!(!out.in_sync());
    let findings: Vec<_> = out
        .findings
        .iter()
        .map(|f| (f.code, f.subject.as_str()))
        .collect();
    assert_eq!(findings, [("ServiceUnhealthy", "serviceHealth[storage]")]);
    assert!(
        e.emulator.log().writes().is_empty(),
        "health is observed only"
    );
    let query = e
        .emulator
        .log()
        .entries()
        .into_iter()
        .find(|r| r.path.ends_with("/health"))
        .and_then(|r| r.query)
        .expect("health query");
    assert_eq!(query, "services=auth&services=db&services=storage");
}

#[tokio::test]
async fn throttling_with_retry_after_is_retried_and_counted() {
    let e = env(seed(""), Duration::from_secs(5)).await;
    e.emulator.faults().inject(
        FaultRule::new(
            "/ssl-enforcement",
            Fault::RateLimited {
                retry_after_secs: 1,
            },
        )
        .times(1),
    );
    let out = sync(
        &e.client,
        &firewall("sslEnforcement: {database: false}\nnetworkBans: Ignore"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "{:?}", out.error);
    let text = e.metrics.render().expect("metrics");
    assert!(text.contains(r#"perimeter_provider_requests_total{code="429",operation="get_ssl_enforcement",provider="supabase"} 1"#), "{text}");
}

/// A failed network write after SSL and the limits went through: those are listed as
/// applied, the lists are exactly as they were.
#[tokio::test]
async fn a_failed_network_write_leaves_the_lists_as_they_were() {
    let e = env(seed(OPEN), Duration::from_secs(5)).await;
    e.emulator.faults().inject(
        FaultRule::new(
            "/network-restrictions/apply",
            Fault::ServerError { status: 500 },
        )
        .method("POST"),
    );
    let out = sync(
        &e.client,
        &firewall(DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::ProviderError)
    );
    assert_eq!(out.applied.len(), 2, "{:?}", out.applied);
    assert_eq!(
        e.emulator
            .log()
            .count("POST", "/network-restrictions/apply"),
        1,
        "a POST is not retried on 5xx"
    );
    let project = &e.emulator.snapshot().projects[0];
    assert_eq!(project.db_allowed_cidrs, ["0.0.0.0/0"]);
    assert!(project.ssl_enforced);
    assert!(!out.in_sync());
}

#[tokio::test]
async fn a_rejected_token_is_reported_without_leaking_it() {
    let e = env(seed(""), Duration::from_secs(5)).await;
    let wrong = "sbp_ffffffffffffffffffffffffffffffffffffffff";
    let bad = Supabase::with_settings(
        settings(e.running.base_url(), Duration::from_secs(5)),
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
    assert!(!out.in_sync());
    assert_eq!(
        e.client.verify().await.expect("accepted"),
        "access token accepted; 1 project(s) visible"
    );
}

/// Supabase allows 60 Management API requests per minute per user. A full sync of 50
/// projects (each: the firewall enforced on a drifted project, then its monitoring read; the
/// request count is measured on the emulator) goes through the client's default limiter on a
/// paused clock: no 60-second window holds more than 60 requests. Prints the figures.
#[tokio::test]
async fn a_full_sync_of_50_projects_stays_within_60_requests_per_minute() {
    use perimeter::http::RateLimiter;
    use perimeter::providers::supabase::{DEFAULT_BURST, DEFAULT_REQUESTS_PER_MINUTE};

    let per_project = {
        let e = env(
            seed(&format!("{OPEN}    apply_after_reads: 1\n")),
            Duration::from_secs(5),
        )
        .await;
        let fw = sync(
            &e.client,
            &firewall(DECLARED),
            Mode::Enforce,
            UnmanagedPolicy::Report,
        )
        .await;
        assert!(fw.in_sync(), "{:?}", fw.error);
        let mon = sync(
            &e.client,
            &monitoring("healthyServices: [auth, db, rest]"),
            Mode::Observe,
            UnmanagedPolicy::Report,
        )
        .await;
        assert!(mon.in_sync(), "{:?}", mon.error);
        e.emulator.log().entries().len()
    };
    assert!(per_project >= 10, "measured {per_project} requests");
    tokio::time::pause();
    let limiter = RateLimiter::new(DEFAULT_REQUESTS_PER_MINUTE, DEFAULT_BURST);
    let start = tokio::time::Instant::now();
    let mut sent = Vec::new();
    for _ in 0..50 * per_project {
        limiter.acquire().await;
        sent.push(start.elapsed());
    }
    let minute = Duration::from_secs(60);
    let busiest = (0..sent.len())
        .map(|i| {
            sent[i..]
                .iter()
                .take_while(|t| **t < sent[i] + minute)
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(busiest <= 60, "{busiest} requests in one minute");
    let total = sent.last().copied().unwrap_or_default();
    println!(
        "50 projects x {per_project} requests = {} requests in {:.1} min; busiest minute {busiest}",
        sent.len(),
        total.as_secs_f64() / 60.0
    );
    assert!(total >= Duration::from_secs(60) * (sent.len() as u32 - 60) / 60);
}

/// Every fault on each write, in turn: the sync is never in sync, the write that failed left
/// its setting exactly as it was, the later sections were not written, and no token appears.
#[tokio::test]
async fn faults_on_writes_leave_nothing_half_written() {
    let faults = support::cells::persistent_faults();
    // (method, path, what is left unwritten after it)
    let writes = [
        ("PUT", "/ssl-enforcement"),
        ("PATCH", "/config/auth"),
        ("POST", "/network-restrictions/apply"),
    ];
    for (step, (method, path)) in writes.iter().enumerate() {
        for (fault, category) in &faults {
            let e = env(seed(OPEN), Duration::from_millis(300)).await;
            e.emulator
                .faults()
                .inject(FaultRule::new(*path, fault.clone()).method(*method));
            let out = sync(
                &e.client,
                &firewall(DECLARED),
                Mode::Enforce,
                UnmanagedPolicy::Report,
            )
            .await;
            support::cells::assert_failed_write(
                &out,
                *category,
                TOKEN,
                &format!("{fault:?} on {method} {path}"),
            );
            assert_eq!(
                out.applied.len(),
                step,
                "{fault:?} {method} {path}: {:?}",
                out.applied
            );
            if matches!(fault, Fault::Hang { .. }) {
                // A write that timed out may still land (the emulator runs it after the
                // hang): only the next read can tell, and it does.
                continue;
            }
            // Every other fault answers instead of the handler: the faulted write did not
            // happen, the earlier ones did, the later ones were not sent.
            let project = &e.emulator.snapshot().projects[0];
            assert_eq!(project.ssl_enforced, step > 0, "{fault:?} {method} {path}");
            assert_eq!(
                project.auth["rate_limit_email_sent"],
                Some(if step > 1 { 30 } else { 2 }),
                "{fault:?} {method} {path}"
            );
            assert_eq!(
                project.db_allowed_cidrs,
                ["0.0.0.0/0"],
                "{fault:?} {method} {path}"
            );
        }
    }
}

/// Supabase refuses an account for the rest of the minute, possibly without `Retry-After`: the
/// client then waits the configured wait (60 s in production, 1 s here) before the one retry,
/// instead of spending its retries on a quick backoff inside the blocked minute.
#[tokio::test]
async fn a_429_without_retry_after_waits_the_throttled_wait_then_retries_once() {
    let e = env(seed(""), Duration::from_secs(5)).await;
    let mut s = settings(e.running.base_url(), Duration::from_secs(5));
    s.throttled_wait = Some(Duration::from_secs(1));
    let client = Supabase::with_settings(s, SecretString::new(TOKEN), Some(e.metrics.clone()))
        .expect("client");
    e.emulator
        .faults()
        .inject(FaultRule::new("/ssl-enforcement", Fault::RateLimitedSilently).times(1));
    let start = std::time::Instant::now();
    let out = sync(
        &client,
        &firewall("sslEnforcement: {database: false}\nnetworkBans: Ignore"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "{:?}", out.error);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let text = e.metrics.render().expect("metrics");
    assert!(text.contains(r#"perimeter_provider_requests_total{code="429",operation="get_ssl_enforcement",provider="supabase"} 1"#), "{text}");
    assert!(text.contains(r#"perimeter_provider_requests_total{code="200",operation="get_ssl_enforcement",provider="supabase"} 1"#), "{text}");
    assert_eq!(
        perimeter::providers::supabase::THROTTLED_WAIT,
        Duration::from_secs(60)
    );
}

/// `deletionPolicy: Delete` changes nothing at Supabase: every section is a setting (the
/// allowed CIDRs, SSL enforcement, the limits), and removing a policy must never lift a
/// restriction, so the cleanup plan is empty and the database stays as restricted as it was.
#[tokio::test]
async fn deletion_never_lifts_a_restriction() {
    let e = env(seed(""), Duration::from_secs(5)).await;
    let target = firewall(DECLARED);
    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    let observed = e.client.observe(&target).await.expect("observed");
    let (_, plan) = perimeter::core::cleanup(&target.desired, &observed.state);
    assert!(plan.is_empty(), "{plan:?}");
}

/// The inventory is every project the token sees (one `GET /v1/projects`, counted); only the
/// project a FirewallPolicy names is covered.
#[tokio::test]
async fn inventory_lists_the_projects_and_the_named_one_is_covered() {
    let seed: Seed = serde_json::from_value(yaml(&format!(
        "tokens: [{TOKEN}]\nprojects:\n  - {{ref: {REF}, name: shop-prod}}\n  - {{ref: abcdefghijklmnopqrst, name: forgotten-staging}}\n"
    )))
    .expect("seed");
    let e = env(seed, Duration::from_secs(5)).await;
    let assets = e
        .client
        .inventory()
        .await
        .expect("read")
        .expect("Supabase lists its projects");
    let got: Vec<(&str, &str, &str)> = assets
        .iter()
        .map(|a| (a.kind, a.id.as_str(), a.name.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("project", REF, "shop-prod"),
            ("project", "abcdefghijklmnopqrst", "forgotten-staging")
        ]
    );
    let text = e.metrics.render().expect("metrics");
    assert!(
        text.contains(r#"perimeter_provider_requests_total{code="200",operation="list_projects",provider="supabase"} 1"#),
        "{text}"
    );
    let policy: perimeter::api::FirewallPolicySpec = serde_json::from_value(
        serde_json::json!({"providerRef": {"name": "supabase"}, "supabase": {"projectRef": REF}}),
    )
    .expect("policy");
    let status = perimeter::inventory::status(
        perimeter::api::ProviderType::Supabase,
        Ok(Some(assets)),
        &[&policy],
        "2026-11-30T08:00:00Z".into(),
    )
    .expect("an inventory");
    assert_eq!((status.total, status.covered), (Some(2), Some(1)));
    let uncovered: Vec<&str> = status.uncovered.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(uncovered, ["abcdefghijklmnopqrst"]);
}

/// A project list that cannot be read is an error of its category, never an empty (fully
/// covered) inventory, and the error carries no token.
#[tokio::test]
async fn an_unreadable_project_list_is_an_error_never_an_empty_list() {
    for (fault, category) in support::cells::persistent_faults() {
        let e = env(seed(""), Duration::from_millis(300)).await;
        e.emulator
            .faults()
            .inject(FaultRule::new("/v1/projects", fault.clone()));
        let err = e.client.inventory().await.expect_err("unreadable");
        assert_eq!(err.category, category, "{fault:?}: {err}");
        assert!(!err.to_string().contains(TOKEN), "{fault:?}");
    }
}
