//! The Better Stack client against the stateful Better Stack emulator: Observe and Enforce of
//! monitors, heartbeats, escalation policies and status pages; findings (down, paused, not
//! checked within three periods, heartbeat down); paging and its guard; every request the
//! client sends accepted by the emulator's strict attribute tables; faults; a bad token.

mod support;

use std::time::Duration;

use jiff::Timestamp;
use perimeter::SecretString;
use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::error::Category;
use perimeter::http::HttpSettings;
use perimeter::providers::betterstack::api::BetterstackMonitoring;
use perimeter::providers::betterstack::{Betterstack, monitoring_target};
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::{SyncOutcome, sync};
use perimeter_emulators::betterstack::{BetterstackEmulator, Seed};
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::server::RunningEmulator;
use serde_json::{Value, json};

const TOKEN: &str = "bs-uptime-token-4b5a69780f1e2d3c";

fn yaml(text: &str) -> Value {
    perimeter::manifests::yaml_to_json(text).expect("valid YAML")
}

/// The instant findings are judged at: the seed's checks are stamped around it.
fn test_now() -> Timestamp {
    "2026-11-29T10:10:00Z".parse().expect("instant")
}

/// A team as it is found: an on-call policy posting to Slack; the homepage monitor checked
/// every 15 minutes from one region and down; the API monitor not checked for an hour; a
/// paused monitor; an old monitor nobody declared; a backup heartbeat that is down; an
/// unpublished status page open to everyone.
const TEAM: &str = r#"
tokens: [bs-uptime-token-4b5a69780f1e2d3c]
slack_integrations:
  - {id: 7, slack_team_id: T0123ABCD, slack_team_name: Acme, slack_channel_id: C0123ABCD, slack_channel_name: alerts, slack_status: active}
  - {id: 8, slack_team_id: T0123ABCD, slack_team_name: Acme, slack_channel_id: C0999ZZZZ, slack_channel_name: ops, slack_status: account_inactive}
policies:
  - id: 41
    name: On-call
    repeat_count: 3
    repeat_delay: 60
    incident_token: itok
    steps:
      - {type: escalation, wait_before: 0, urgency_id: 12, step_members: [{type: slack_integration, id: 7}, {type: current_on_call}]}
monitors:
  - {id: 1, url: "https://example.com", monitor_type: status, check_frequency: 900, regions: [us], paused: false, status: down, policy_id: "41", last_checked_at: "2026-11-29T10:05:00Z", created_at: "2026-01-01T00:00:00Z"}
  - {id: 2, url: "https://api.example.com/health", monitor_type: expected_status_code, expected_status_codes: [200], check_frequency: 60, regions: [us, eu], paused: false, status: up, policy_id: "41", last_checked_at: "2026-11-29T09:10:00Z", created_at: "2026-01-01T00:00:00Z"}
  - {id: 3, url: "db.example.com", monitor_type: tcp, port: "5432", check_frequency: 180, paused: true, status: paused, paused_at: "2026-11-20T00:00:00Z", policy_id: null, created_at: "2026-01-01T00:00:00Z"}
  - {id: 4, url: "https://old.example.com", monitor_type: status, check_frequency: 180, paused: false, status: up, last_checked_at: "2026-11-29T10:09:00Z", created_at: "2026-01-01T00:00:00Z"}
heartbeats:
  - {id: 9, name: nightly-backup, period: 86400, grace: 300, paused: false, status: down, policy_id: null}
status_pages:
  - {id: 5, company_name: Acme, subdomain: status-acme, timezone: Europe/Berlin, published: false, ip_allowlist: []}
ips_by_cluster:
  us: [45.79.122.169, "2600:3c00::f03c:93ff:fe49:8f06"]
  eu: [172.104.155.117]
"#;

/// What the team should be.
const DECLARED: &str = r#"
escalationPolicies:
  - name: On-call
    repeatCount: 3
    repeatDelay: 60
    steps:
      - waitBefore: 0
        members: [{type: slack_integration, slackChannel: C0123ABCD}, {type: current_on_call}]
  - name: Business hours
    steps:
      - members: [{type: entire_team}]
monitors:
  - url: https://example.com
    monitorType: status
    checkFrequency: 180
    regions: [us, eu]
    escalationPolicy: On-call
  - url: https://api.example.com/health
    monitorType: expected_status_code
    expectedStatusCodes: [200]
    checkFrequency: 60
    escalationPolicy: On-call
  - url: db.example.com
    monitorType: tcp
    port: "5432"
  - url: https://www.example.com
    monitorType: keyword
    requiredKeyword: Welcome
    escalationPolicy: Business hours
heartbeats:
  - name: nightly-backup
    period: 86400
    grace: 3600
statusPages:
  - subdomain: status-acme
    companyName: Acme
    published: true
    ipAllowlist: ["203.0.113.0/24"]
"#;

fn seed(text: &str) -> Seed {
    serde_json::from_value(yaml(text)).expect("seed")
}

struct Env {
    emulator: BetterstackEmulator,
    running: RunningEmulator,
    client: Betterstack,
}

fn settings(base: String, timeout: Duration) -> HttpSettings {
    let mut settings = HttpSettings::new("betterstack", base);
    settings.timeout = timeout;
    settings.backoff = Duration::from_millis(5);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    settings
}

async fn env(seed: Seed, timeout: Duration) -> Env {
    seed.validate().expect("valid seed");
    let emulator = BetterstackEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .expect("emulator starts");
    let client = Betterstack::with_settings(
        settings(running.base_url(), timeout),
        SecretString::new(TOKEN),
        None,
    )
    .expect("client")
    .with_clock(test_now);
    Env {
        emulator,
        running,
        client,
    }
}

fn target(block: &str) -> Target {
    let mon: BetterstackMonitoring = serde_json::from_value(yaml(block)).expect("block");
    monitoring_target(&mon).expect("valid target")
}

fn drift_paths(out: &SyncOutcome) -> Vec<String> {
    out.remaining
        .as_ref()
        .map(|d| d.drift.iter().map(|x| x.path.clone()).collect())
        .unwrap_or_default()
}

fn findings(out: &SyncOutcome) -> Vec<(&'static str, String)> {
    out.findings
        .iter()
        .map(|f| (f.code, f.subject.clone()))
        .collect()
}

/// A monitors-only sync reads the escalation policies (monitors name them; their Slack steps
/// are the alert routes) and the monitors; the Slack integrations only when a policy's step
/// names one, or when Enforce writes a step that names a channel.
#[tokio::test]
async fn slack_integrations_are_read_only_when_a_step_names_them() {
    let monitors = "monitors:\n  - {url: https://example.com, monitorType: status, escalationPolicy: On-call}\n";
    let no_slack = TEAM.replace("{type: slack_integration, id: 7}, ", "");
    for (team, integrations) in [(TEAM.to_string(), 1), (no_slack.clone(), 0)] {
        let e = env(seed(&team), Duration::from_secs(5)).await;
        let log = e.emulator.log();
        let out = support::calls::observe_alone(&e.client, &target(monitors), &log).await;
        assert_eq!(log.count("GET", "/slack-integrations"), integrations);
        assert_eq!(log.count("GET", "/api/v3/policies"), 1);
        assert_eq!(log.count("GET", "/api/v2/monitors"), 1);
        assert_eq!(log.len(), 2 + integrations);
        assert_eq!(
            out.alerting.routes.len(),
            integrations,
            "{:?}",
            out.alerting
        );
    }
    // Enforce still resolves a declared step's Slack channel.
    let e = env(seed(&no_slack), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &target(DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    let policy = e.emulator.snapshot().policies[0].clone();
    assert!(
        serde_json::to_string(&policy)
            .expect("json")
            .contains("slack_integration"),
        "{policy:?} {:?}",
        out.error.map(|e| e.to_string())
    );
}

#[tokio::test]
async fn observe_reports_drift_and_findings_and_never_writes() {
    let e = env(seed(TEAM), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &target(DECLARED),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        drift_paths(&out),
        [
            "escalationPolicies[Business hours]",
            "monitors[status:https://example.com].checkFrequency",
            "monitors[status:https://example.com].regions",
            "monitors[tcp:db.example.com].paused",
            "monitors[keyword:https://www.example.com]",
            "heartbeats[nightly-backup].grace",
            "statusPages[status-acme].ipAllowlist",
            "statusPages[status-acme].published",
        ]
    );
    let f = |code: &'static str, subject: &str| (code, subject.to_string());
    assert_eq!(
        findings(&out),
        [
            f("MonitorDown", "monitors[status:https://example.com]"),
            f(
                "MonitorNotChecked",
                "monitors[expected_status_code:https://api.example.com/health]"
            ),
            f("MonitorPaused", "monitors[tcp:db.example.com]"),
            f("HeartbeatDown", "heartbeats[nightly-backup]"),
            f("UnmanagedRule", "monitors[status:https://old.example.com]"),
        ]
    );
    assert!(
        out.findings[0].message.contains("monitor 1 is down"),
        "{}",
        out.findings[0].message
    );
    assert!(
        out.findings[1]
            .message
            .contains("last checked 2026-11-29T09:10:00Z")
    );
    let found = out.found.as_ref().expect("read");
    assert_eq!(
        found.unmanaged,
        ["monitors[status:https://old.example.com]"]
    );
    assert!(!out.in_sync());
    assert!(e.emulator.log().writes().is_empty(), "Observe never writes");
}

/// Enforce with `unmanaged: Remove`: the new policy first, then the monitors that name it,
/// updates, and the undeclared monitor deleted last; every request is one the emulator's
/// strict tables accept. A second pass writes nothing.
#[tokio::test]
async fn enforce_writes_in_order_and_settles() {
    let e = env(seed(TEAM), Duration::from_secs(5)).await;
    let want = target(DECLARED);
    let out = sync(&e.client, &want, Mode::Enforce, UnmanagedPolicy::Remove).await;
    assert!(
        out.in_sync(),
        "{:?} {:?}",
        out.error.map(|e| e.to_string()),
        out.remaining
    );
    assert_eq!(
        out.applied,
        [
            "create escalationPolicies[Business hours]",
            "update statusPages[status-acme] (ipAllowlist, published)",
            "update monitors[status:https://example.com] (checkFrequency, regions)",
            "update monitors[tcp:db.example.com] (paused)",
            "create monitors[keyword:https://www.example.com]",
            "update heartbeats[nightly-backup] (grace)",
            "delete monitors[status:https://old.example.com]",
        ]
    );
    let log = e.emulator.log().entries();
    assert!(
        log.iter().all(|r| r.status < 300),
        "every request the client sent was accepted: {:?}",
        log.iter().filter(|r| r.status >= 300).collect::<Vec<_>>()
    );
    let snapshot = e.emulator.snapshot();
    let created = snapshot
        .monitors
        .iter()
        .find(|m| m.attributes["url"] == json!("https://www.example.com"))
        .expect("created");
    let business = snapshot
        .policies
        .iter()
        .find(|p| p.attributes["name"] == json!("Business hours"))
        .expect("created");
    assert_eq!(
        created.attributes["policy_id"],
        json!(business.id.to_string())
    );
    let page = &snapshot.status_pages[0].attributes;
    assert_eq!(
        page["timezone"],
        json!("Europe/Berlin"),
        "an update keeps the time zone"
    );
    assert_eq!(page["ip_allowlist"], json!(["203.0.113.0/24"]));
    assert!(
        !snapshot.monitors.iter().any(|m| m.id == 4),
        "undeclared monitor removed"
    );
    // Findings are about the monitors' checks, not their configuration: a down monitor stays down.
    assert!(
        findings(&out).contains(&("MonitorDown", "monitors[status:https://example.com]".into()))
    );
    e.emulator.log().clear();
    let again = sync(&e.client, &want, Mode::Enforce, UnmanagedPolicy::Remove).await;
    assert!(
        again.in_sync() && again.applied.is_empty(),
        "{:?}",
        again.applied
    );
    assert!(e.emulator.log().writes().is_empty());
}

/// A monitor naming a policy that exists nowhere is refused before anything is sent.
#[tokio::test]
async fn an_unresolved_reference_writes_nothing() {
    let e = env(seed(TEAM), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &target("monitors: [{url: 'https://new.example.com', monitorType: status, escalationPolicy: Nobody}]"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    let err = out.error.as_ref().expect("refused");
    assert_eq!(err.category, Category::InvalidSpec);
    assert!(
        err.message
            .contains("no escalation policy is named \"Nobody\""),
        "{err}"
    );
    assert!(e.emulator.log().writes().is_empty());
}

fn many_monitors(n: u64) -> String {
    let mut text = String::from("tokens: [bs-uptime-token-4b5a69780f1e2d3c]\nmonitors:\n");
    for i in 1..=n {
        text.push_str(&format!(
            "  - {{id: {i}, url: 'https://{i}.example.com', monitor_type: status, check_frequency: 180, paused: false, status: up, last_checked_at: '2026-11-29T10:09:00Z'}}\n"
        ));
    }
    text
}

/// Every page is read through `pagination.next`; a `next` that leaves the endpoint is never
/// followed and the read is unknown.
#[tokio::test]
async fn paging_follows_next_links_only_on_the_endpoint() {
    let e = env(seed(&many_monitors(120)), Duration::from_secs(5)).await;
    let want = target("monitors: [{url: 'https://7.example.com', monitorType: status}]");
    let out = sync(&e.client, &want, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.error.map(|e| e.to_string()));
    assert_eq!(out.found.as_ref().map(|d| d.unmanaged.len()), Some(119));
    assert_eq!(e.emulator.log().count("GET", "/api/v2/monitors"), 3);
    for base in ["http://evil.example:1", "https://127.0.0.1:1"] {
        e.emulator.set_link_base(Some(base.into()));
        let out = sync(&e.client, &want, Mode::Enforce, UnmanagedPolicy::Remove).await;
        let err = out.error.as_ref().expect("refused");
        assert_eq!(err.category, Category::BadResponse, "{err}");
        assert!(err.message.contains("not followed"), "{err}");
        assert!(out.remaining.is_none() && !out.in_sync());
        assert!(
            e.emulator.log().writes().is_empty(),
            "nothing removed on a partial read"
        );
    }
}

/// Every read fault, on a declared list or on the policies every pass reads, in either mode:
/// unknown, never in sync, nothing written, no token in the error.
#[tokio::test]
async fn read_faults_leave_the_state_unknown_never_in_sync() {
    // The other reads (the main read's cells are in tests/fault_matrix.rs).
    for path in ["/api/v3/policies", "/api/v2/slack-integrations"] {
        for mode in support::cells::MODES {
            for (fault, category) in &support::cells::persistent_faults() {
                let e = env(seed(TEAM), Duration::from_millis(300)).await;
                e.emulator
                    .faults()
                    .inject(FaultRule::new(path, fault.clone()).method("GET"));
                let out = sync(&e.client, &target(DECLARED), mode, UnmanagedPolicy::Remove).await;
                support::cells::assert_failed_read(
                    &out,
                    *category,
                    e.emulator.log().writes().len(),
                    TOKEN,
                    &format!("{fault:?} on {path} in {mode:?}"),
                );
            }
        }
    }
}

/// A fault on each kind of write (the monitor create, the status page update, the monitor
/// delete): what came before it in the plan is applied, it and what follows are not, and
/// the object it aimed at is as it was. POSTs are not retried.
#[tokio::test]
async fn write_faults_leave_nothing_half_written() {
    let cases = [
        ("POST", "/api/v2/monitors", 4),
        ("PATCH", "/api/v2/status-pages/", 1),
        ("DELETE", "/api/v2/monitors/", 6),
    ];
    for (method, path, before) in cases {
        for (fault, category) in &support::cells::persistent_faults() {
            let e = env(seed(TEAM), Duration::from_millis(300)).await;
            e.emulator
                .faults()
                .inject(FaultRule::new(path, fault.clone()).method(method));
            let start = e.emulator.snapshot();
            let out = sync(
                &e.client,
                &target(DECLARED),
                Mode::Enforce,
                UnmanagedPolicy::Remove,
            )
            .await;
            // A 2xx whose body is not the object written (or, for a delete, not a 204) does not
            // count as written: a bad response, like the others.
            let cell = format!("{fault:?} on {method} {path}");
            support::cells::assert_failed_write(&out, *category, TOKEN, &cell);
            assert_eq!(
                out.applied.len(),
                before,
                "{fault:?} {method} {path}: {:?}",
                out.applied
            );
            if method == "POST" {
                assert_eq!(
                    e.emulator.log().count("POST", path),
                    1,
                    "{fault:?}: not retried"
                );
            }
            if matches!(fault, Fault::Hang { .. }) {
                continue;
            }
            let now = e.emulator.snapshot();
            match path {
                "/api/v2/monitors" => {
                    assert_eq!(now.monitors.len(), start.monitors.len(), "{fault:?}")
                }
                "/api/v2/status-pages/" => {
                    assert_eq!(now.status_pages, start.status_pages, "{fault:?}")
                }
                _ => assert!(now.monitors.iter().any(|m| m.id == 4), "{fault:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_rejected_token_is_reported_without_leaking_it() {
    let e = env(seed(TEAM), Duration::from_secs(5)).await;
    let wrong = "bs-wrong-token-ffffffffffffffff";
    let bad = Betterstack::with_settings(
        settings(e.running.base_url(), Duration::from_secs(5)),
        SecretString::new(wrong),
        None,
    )
    .expect("client");
    let err = bad.verify().await.expect_err("rejected");
    assert_eq!(err.category, Category::CredentialsRejected);
    assert!(err.message.contains("Invalid Team API token"), "{err}");
    assert!(!err.to_string().contains(wrong));
    let out = sync(
        &bad,
        &target(DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Remove,
    )
    .await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::CredentialsRejected)
    );
    assert!(!out.in_sync());
    assert!(e.emulator.log().writes().is_empty());
    assert!(
        e.client
            .verify()
            .await
            .expect("accepted")
            .starts_with("API token accepted")
    );
    for token in ["", "two words", "tab\there"] {
        assert!(
            Betterstack::with_settings(
                settings(e.running.base_url(), Duration::from_secs(1)),
                SecretString::new(token),
                None
            )
            .is_err(),
            "{token:?}"
        );
    }
}

/// A write whose answer is not the object written does not count (the values check,
/// `model::unwritten_fields`, is table-tested in the model).
#[tokio::test]
async fn a_write_counts_only_when_its_answer_shows_it() {
    let e = env(seed(TEAM), Duration::from_secs(5)).await;
    e.emulator
        .faults()
        .inject(FaultRule::new("/api/v2/heartbeats/", Fault::WrongShape).method("PATCH"));
    let out = sync(
        &e.client,
        &target("heartbeats: [{name: nightly-backup, period: 86400, grace: 3600}]"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    let err = out.error.as_ref().expect("not counted");
    assert_eq!(err.category, Category::BadResponse, "{err}");
    assert!(out.applied.is_empty());
}

/// Slack routes and probe addresses, as the alert-routing and address-set work reads them.
#[tokio::test]
async fn alert_routes_and_probe_addresses_are_read() {
    let e = env(seed(TEAM), Duration::from_secs(5)).await;
    let routes = e.client.alert_routes().await.expect("routes");
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].route, "escalation policy 'On-call' step 1");
    let slack = routes[0].slack.as_ref().expect("a Slack route");
    assert_eq!(
        (slack.team.as_deref(), slack.channel.as_str()),
        (Some("T0123ABCD"), "C0123ABCD")
    );
    assert_eq!(routes[0].problem, None);
    let observed = e.client.observe(&target(DECLARED)).await.expect("observed");
    assert_eq!(
        observed.alerting.routes, routes,
        "every observation carries them"
    );
    let ips = e.client.probe_ips().await.expect("ips");
    assert_eq!(ips["eu"], ["172.104.155.117/32"]);
    assert_eq!(ips["us"].len(), 2);
    e.emulator.mutate(|s| {
        s.ips_by_cluster.insert("as".into(), vec![]);
    });
    let err = e
        .client
        .probe_ips()
        .await
        .expect_err("an empty cluster is refused");
    assert_eq!(err.category, Category::BadResponse);
}

/// `deletionPolicy: Delete` removes what the policy declared and only that.
#[tokio::test]
async fn deletion_removes_only_what_was_declared() {
    let e = env(seed(TEAM), Duration::from_secs(5)).await;
    let want = target(
        "monitors: [{url: 'https://example.com', monitorType: status}]\nheartbeats: [{name: nightly-backup, period: 86400}]",
    );
    let observed = e.client.observe(&want).await.expect("observed");
    let (emptied, plan) = perimeter::core::cleanup(&want.desired, &observed.state);
    let described: Vec<String> = plan.iter().map(|c| c.describe()).collect();
    assert_eq!(
        described,
        [
            "delete monitors[status:https://example.com]",
            "delete heartbeats[nightly-backup]"
        ]
    );
    let emptied = Target {
        desired: emptied,
        ..want.clone()
    };
    let applied = e
        .client
        .apply(&emptied, &observed, &plan)
        .await
        .expect("deleted");
    assert_eq!(applied, described);
    let s = e.emulator.snapshot();
    assert!(!s.monitors.iter().any(|m| m.id == 1) && s.monitors.len() == 3);
    assert!(s.heartbeats.is_empty());
    assert_eq!(s.policies.len(), 1, "the policy was not declared: kept");
}

/// The public hostnames of the accounts it speaks for, against its monitors as the emulator
/// lists them (paged): a hostname an active monitor checks is covered; one only a paused
/// monitor checks, or a subdomain's monitor, is not; a failed monitor list is unknown, never
/// covered, without the token in the reason.
#[tokio::test]
async fn public_hostnames_are_covered_by_active_monitors_and_unknown_when_unread() {
    use perimeter::core::hostnames::{HOSTNAME, Served, Source, hostname_assets};
    let sources = [Source {
        label: "vercel team-a/web".into(),
        served: Served::Read(vec![
            // Checked by monitor 2 (on a path, in another case).
            "API.example.com".into(),
            // Only the paused TCP monitor 3 checks it.
            "db.example.com".into(),
            // Apex of monitor 1: covered; `www.` of it is another name.
            "example.com".into(),
            "www.example.com".into(),
        ]),
    }];
    let hostnames = || hostname_assets(&sources).expect("known");
    let e = env(seed(TEAM), Duration::from_secs(5)).await;
    let monitored = e.client.monitored_hosts().await;
    let s = perimeter::inventory::hostname_status(monitored, Ok(hostnames()), "t".into())
        .expect("a monitoring account");
    assert_eq!((s.total, s.covered), (Some(4), Some(2)), "{s:?}");
    let uncovered: Vec<&str> = s.uncovered.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(uncovered, ["db.example.com", "www.example.com"]);
    assert!(s.uncovered.iter().all(|a| a.kind == HOSTNAME));
    assert_eq!(
        s.uncovered[0].name, "db.example.com (vercel team-a/web)",
        "the listed hostname says which account serves it"
    );

    // Paged: a hostname checked only by a monitor on the third page is covered.
    let many = env(seed(&many_monitors(120)), Duration::from_secs(5)).await;
    let far = [Source {
        label: "cloudflare cf".into(),
        served: Served::Read(vec!["117.example.com".into(), "121.example.com".into()]),
    }];
    let s = perimeter::inventory::hostname_status(
        many.client.monitored_hosts().await,
        hostname_assets(&far),
        "t".into(),
    )
    .expect("status");
    assert_eq!((s.total, s.covered), (Some(2), Some(1)), "{s:?}");
    assert_eq!(many.emulator.log().count("GET", "/api/v2/monitors"), 3);

    for (fault, category) in &support::cells::persistent_faults() {
        let e = env(seed(TEAM), Duration::from_millis(300)).await;
        e.emulator
            .faults()
            .inject(FaultRule::new("/api/v2/monitors", fault.clone()).method("GET"));
        let s = perimeter::inventory::hostname_status(
            e.client.monitored_hosts().await,
            Ok(hostnames()),
            "t".into(),
        )
        .expect("unknown");
        assert!(!s.read(), "{fault:?}: {s:?}");
        assert_eq!((s.total, s.covered), (None, None), "{fault:?}");
        assert_eq!(s.reason.as_deref(), Some(category.reason()), "{fault:?}");
        assert!(!format!("{s:?}").contains(TOKEN), "{fault:?}");
    }
}
