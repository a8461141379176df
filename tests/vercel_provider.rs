//! The Vercel client against the stateful Vercel emulator: Observe and Enforce of a project's
//! firewall (one PUT for the whole configuration), Attack Challenge Mode, bypass entries and the
//! team's drains; findings; a plan that lacks a feature (402); every injected fault.

mod support;

use std::sync::Arc;
use std::time::Duration;

use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::error::Category;
use perimeter::http::HttpSettings;
use perimeter::providers::vercel::api::{VercelFirewall, VercelMonitoring};
use perimeter::providers::vercel::{Vercel, firewall_target, monitoring_target};
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::sync;
use perimeter::{Metrics, SecretString};
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::server::RunningEmulator;
use perimeter_emulators::vercel::{Seed, VercelEmulator};
use serde_json::{Value, json};

const TEAM: &str = "team_acme";
const PROJECT: &str = "prj_web";
const TOKEN: &str = "vercel-test-token-9c1d";

fn yaml(text: &str) -> Value {
    perimeter::manifests::yaml_to_json(text).expect("valid YAML")
}

/// A team with one project whose firewall has drifted: off, OWASP off, an IP rule missing,
/// plus a rule added in the dashboard.
fn seed(plan: &str) -> Seed {
    serde_json::from_value(json!({
        "tokens": [TOKEN],
        "teams": [{
            "id": TEAM, "slug": "acme", "plan": plan,
            "projects": [{
                "id": PROJECT, "name": "web", "domains": ["web.example.com", "web-acme.vercel.app"],
                "firewall": {
                    "firewallEnabled": false,
                    "rules": [
                        {"name": "block admin", "active": true,
                         "conditionGroup": [{"conditions": [{"type": "path", "op": "pre", "value": "/admin"}]}],
                         "action": {"mitigate": {"action": "deny"}}},
                        {"name": "dashboard rule", "active": true,
                         "conditionGroup": [{"conditions": [{"type": "user_agent", "op": "sub", "value": "curl"}]}],
                         "action": {"mitigate": {"action": "log"}}}
                    ],
                    "ips": [{"hostname": "web.example.com", "ip": "198.51.100.4", "action": "deny", "notes": "old scanner"}],
                    "managedRules": {"owasp": {"active": false, "action": "deny"}}
                },
                "bypass": [{"Domain": "web.example.com", "Ip": "192.0.2.200", "IsProjectRule": false, "Note": "forgotten"}],
                "anomalies": [{"projectId": PROJECT, "ownerId": TEAM, "startTime": 1_796_083_200_000_i64, "endTime": null,
                               "atMinute": 1_796_083_200_000_i64, "state": "active", "affectedHostMap": {"web.example.com": {}}}]
            }],
            "drains": [{"name": "siem", "projects": "all", "schemas": {"log": {"version": "v1"}}, "status": "errored",
                        "disabledReason": "disabled-by-admin", "firstErrorTimestamp": 1_796_083_200_000_i64,
                        "delivery": {"type": "http", "endpoint": "https://siem.example.com/in?key=OLDKEY", "encoding": "json",
                                     "headers": {"Authorization": "Bearer siem-secret"}}}],
            "logDrains": [{"name": "legacy", "url": "https://logs.example.com/?key=k", "deliveryFormat": "json"}]
        }]
    }))
    .expect("seed")
}

const FIREWALL: &str = r#"
firewallEnabled: true
rules:
  - name: block admin
    conditionGroup: [{conditions: [{type: path, op: pre, value: /admin}]}]
    action: {action: deny}
ipRules:
  - {hostname: web.example.com, ip: 198.51.100.4, action: deny, notes: old scanner}
  - {hostname: web.example.com, ip: 203.0.113.0/24, action: deny}
managedRules:
  owasp: {active: true, action: deny}
"#;

/// The seeded drain as declared: only its status (errored) differs.
const SIEM_DRAIN: &str = r#"
drains:
  - name: siem
    delivery: {type: http, endpoint: "https://siem.example.com/in?key=OLDKEY", encoding: json}
    schemas: {log: v1}
"#;

struct Env {
    emulator: VercelEmulator,
    running: RunningEmulator,
    client: Vercel,
}

async fn env(seed: Seed, timeout: Duration) -> Env {
    let emulator = VercelEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let client = client(&running, TOKEN, timeout, None);
    Env {
        emulator,
        running,
        client,
    }
}

fn client(
    running: &RunningEmulator,
    token: &str,
    timeout: Duration,
    metrics: Option<Arc<Metrics>>,
) -> Vercel {
    let mut settings = HttpSettings::new("vercel", running.base_url());
    settings.timeout = timeout;
    settings.backoff = Duration::from_millis(5);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    Vercel::with_settings(
        settings,
        Some(TEAM.into()),
        SecretString::new(token),
        metrics,
    )
    .expect("client")
}

fn firewall(block: &str) -> Target {
    let fw: VercelFirewall =
        serde_json::from_value(yaml(&format!("projectId: {PROJECT}\n{block}"))).expect("block");
    firewall_target(&fw).expect("valid target")
}

fn monitoring(block: &str) -> Target {
    let mon: VercelMonitoring = serde_json::from_value(yaml(block)).expect("block");
    monitoring_target(&mon).expect("valid target")
}

fn drift(out: &perimeter::reconcile::SyncOutcome) -> Vec<String> {
    out.remaining
        .as_ref()
        .map(|d| d.drift.iter().map(|x| x.path.clone()).collect())
        .unwrap_or_default()
}

fn active(e: &Env) -> Value {
    e.emulator.snapshot().teams[0].projects[0].firewall.clone()
}

#[tokio::test]
async fn observe_finds_the_drift_field_by_field_and_never_writes() {
    let e = env(seed("enterprise"), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &firewall(FIREWALL),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        drift(&out),
        [
            "settings[firewallEnabled]",
            "ipRules[web.example.com|203.0.113.0/24]",
            "managedRules[owasp].active",
        ]
    );
    assert!(!out.in_sync());
    assert!(e.emulator.log().writes().is_empty(), "Observe never writes");
    let unmanaged: Vec<&str> = out.findings.iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(unmanaged, ["rules[dashboard rule]"]);
    // Every call names the team.
    for r in e.emulator.log().entries() {
        assert!(
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("teamId=team_acme")),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn enforce_writes_the_whole_configuration_in_one_put_and_keeps_unmanaged_rules() {
    let e = env(seed("enterprise"), Duration::from_secs(5)).await;
    let before = active(&e);
    let out = sync(
        &e.client,
        &firewall(FIREWALL),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    assert_eq!(e.emulator.log().writes().len(), 1, "one PUT");
    let after = active(&e);
    assert_eq!(after["firewallEnabled"], true);
    assert_eq!(after["managedRules"]["owasp"]["active"], true);
    let names: Vec<&str> = after["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["block admin", "dashboard rule"], "unmanaged kept");
    assert_eq!(after["rules"][0]["id"], before["rules"][0]["id"], "id kept");
    assert_eq!(
        after["crs"], before["crs"],
        "undeclared core rules untouched"
    );
    let again = sync(
        &e.client,
        &firewall(FIREWALL),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(again.in_sync() && again.applied.is_empty());
    assert_eq!(e.emulator.log().writes().len(), 1, "nothing more to write");
}

#[tokio::test]
async fn enforce_with_remove_drops_undeclared_rules_in_the_same_put() {
    let e = env(seed("enterprise"), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &firewall(FIREWALL),
        Mode::Enforce,
        UnmanagedPolicy::Remove,
    )
    .await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert_eq!(e.emulator.log().writes().len(), 1);
    assert_eq!(active(&e)["rules"].as_array().map(Vec::len), Some(1));
}

/// A plan without the OWASP ruleset: a clear error naming the feature, not retried, nothing
/// written, never in sync.
#[tokio::test]
async fn a_plan_without_the_feature_is_a_clear_error_never_in_sync() {
    let e = env(seed("pro"), Duration::from_secs(5)).await;
    let before = active(&e);
    let out = sync(
        &e.client,
        &firewall(FIREWALL),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    let err = out.error.as_ref().expect("refused");
    assert_eq!(err.category, Category::WriteRejected, "{err}");
    assert!(
        err.to_string().contains("402") && err.to_string().contains("managedRules.owasp"),
        "{err}"
    );
    assert!(!out.in_sync() && out.write_failed);
    assert_eq!(
        e.emulator
            .log()
            .count("PUT", "/v1/security/firewall/config"),
        1,
        "not retried"
    );
    assert_eq!(active(&e), before);
}

#[tokio::test]
async fn attack_mode_and_bypass_entries_are_enforced() {
    let e = env(seed("enterprise"), Duration::from_secs(5)).await;
    let block = r#"
attackChallengeMode: {enabled: true, activeUntil: "2100-01-01T00:00:00Z"}
systemBypass:
  - {domain: "*", sourceIp: 198.51.100.7, note: uptime probe}
"#;
    let out = sync(
        &e.client,
        &firewall(block),
        Mode::Enforce,
        UnmanagedPolicy::Remove,
    )
    .await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    let project = &e.emulator.snapshot().teams[0].projects[0];
    assert!(project.attack_mode.enabled);
    assert_eq!(project.attack_mode.active_until, Some(4_102_444_800_000));
    let ips: Vec<&str> = project
        .bypass
        .iter()
        .filter_map(|b| b["Ip"].as_str())
        .collect();
    assert_eq!(ips, ["198.51.100.7"], "the forgotten entry is removed");

    let expired =
        firewall("attackChallengeMode: {enabled: true, activeUntil: \"2001-01-01T00:00:00Z\"}");
    e.emulator
        .mutate(|s| s.teams[0].projects[0].attack_mode.enabled = false);
    let out = sync(&e.client, &expired, Mode::Enforce, UnmanagedPolicy::Report).await;
    let err = out.error.expect("refused");
    assert_eq!(err.category, Category::InvalidSpec);
    assert!(err.message.contains("has passed"), "{err}");
}

#[tokio::test]
async fn drains_are_enforced_and_drain_health_legacy_drains_and_attacks_are_findings() {
    let e = env(seed("enterprise"), Duration::from_secs(5)).await;
    let block = format!(
        r#"
attackStatusProjectIds: [{PROJECT}]
drains:
  - name: siem
    delivery: {{type: http, endpoint: "https://siem.example.com/in?key=NEWKEY", encoding: ndjson}}
    schemas: {{log: v1}}
  - name: traces
    delivery: {{type: otlphttp, endpoint: "https://otel.example.com/v1/traces", encoding: proto}}
    schemas: {{trace: v1}}
    projectIds: [{PROJECT}]
    enabled: false
"#
    );
    let target = monitoring(&block);
    let observed = sync(&e.client, &target, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        drift(&observed),
        [
            "drains[siem].encoding",
            "drains[siem].endpointDigest",
            "drains[siem].status",
            "drains[traces]"
        ]
    );
    let shown = format!("{:?}", observed.remaining);
    assert!(
        !shown.contains("OLDKEY") && !shown.contains("NEWKEY"),
        "{shown}"
    );
    let mut codes: Vec<&str> = observed.findings.iter().map(|f| f.code).collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        ["AttackInProgress", "DrainErrored", "LegacyLogDrain"]
    );
    let errored = observed
        .findings
        .iter()
        .find(|f| f.code == "DrainErrored")
        .expect("finding");
    assert!(
        errored.message.contains("disabled-by-admin"),
        "{}",
        errored.message
    );

    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    let drains = e.emulator.snapshot().teams[0].drains.clone();
    let siem = drains.iter().find(|d| d["name"] == "siem").expect("siem");
    assert_eq!(
        siem["delivery"]["headers"]["Authorization"], "Bearer siem-secret",
        "the destination's credentials survive an endpoint change"
    );
    let traces = drains
        .iter()
        .find(|d| d["name"] == "traces")
        .expect("traces");
    assert_eq!(traces["status"], "disabled");
    // The errored drain was re-enabled in the same PATCH, and its error cleared.
    assert_eq!(siem["status"], "enabled");
    assert!(siem.get("disabledReason").is_none(), "{siem}");
    assert!(
        !out.findings.iter().any(|f| f.code == "DrainErrored"),
        "{:?}",
        out.findings
    );
}

#[tokio::test]
async fn persistent_faults_leave_the_state_unknown_and_write_nothing() {
    let faults = support::cells::persistent_faults();
    for (fault, category) in faults {
        // The firewall configuration's cells are in tests/fault_matrix.rs.
        for (path, target, mode) in [
            ("/v1/drains", monitoring("drains: []"), Mode::Observe),
            ("/v1/drains", monitoring("drains: []"), Mode::Enforce),
        ] {
            let e = env(seed("enterprise"), Duration::from_millis(300)).await;
            e.emulator
                .faults()
                .inject(FaultRule::new(path, fault.clone()).method("GET"));
            let out = sync(&e.client, &target, mode, UnmanagedPolicy::Report).await;
            support::cells::assert_failed_read(
                &out,
                category,
                e.emulator.log().writes().len(),
                TOKEN,
                &format!("{fault:?} on {path}"),
            );
        }
    }
}

#[tokio::test]
async fn a_failed_put_leaves_the_configuration_whole() {
    let e = env(seed("enterprise"), Duration::from_secs(5)).await;
    e.emulator.faults().inject(
        FaultRule::new(
            "/v1/security/firewall/config",
            Fault::ServerError { status: 500 },
        )
        .method("PUT"),
    );
    let before = active(&e);
    let out = sync(
        &e.client,
        &firewall(FIREWALL),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::ProviderError)
    );
    assert!(out.applied.is_empty() && !out.in_sync());
    assert_eq!(active(&e), before);
    assert_eq!(
        out.remaining.map(|d| d.drift.len()),
        Some(3),
        "drift still reported"
    );
}

#[tokio::test]
async fn a_rejected_token_is_reported_without_leaking_it() {
    let e = env(seed("enterprise"), Duration::from_secs(5)).await;
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let bad = client(
        &e.running,
        "wrong-token-0123456789",
        Duration::from_secs(5),
        Some(metrics.clone()),
    );
    let err = bad.verify().await.expect_err("rejected");
    assert_eq!(err.category, Category::CredentialsRejected);
    assert!(!err.to_string().contains("wrong-token-0123456789"));
    let out = sync(
        &bad,
        &firewall(FIREWALL),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(!out.in_sync());
    assert!(!format!("{out:?}").contains("wrong-token-0123456789"));
    assert!(!metrics.render().unwrap_or_default().contains("wrong-token"));
    assert_eq!(
        e.client.verify().await.expect("verified"),
        "Vercel team acme"
    );
}

/// Faults on the writes (the configuration's PUT, a drain's POST): never in sync, and nothing
/// half-written: the fault answers before the emulator applies anything.
#[tokio::test]
async fn write_faults_are_never_in_sync_and_write_nothing() {
    let faults = [
        (
            Fault::RateLimited {
                retry_after_secs: 3600,
            },
            Category::Throttled,
        ),
        (Fault::ServerError { status: 503 }, Category::ProviderError),
        (Fault::Malformed, Category::BadResponse),
        (Fault::WrongShape, Category::BadResponse),
    ];
    let drains = "drains: [{name: new, delivery: {type: syslog, endpoint: \"syslog+tls://logs.example.com:6514\"}, schemas: {log: v1}}]";
    for (fault, category) in faults {
        for (method, path, target) in [
            ("PUT", "/v1/security/firewall/config", firewall(FIREWALL)),
            ("POST", "/v1/drains", monitoring(drains)),
            // Re-enabling the errored drain.
            ("PATCH", "/v1/drains/", monitoring(SIEM_DRAIN)),
            (
                "POST",
                "/v1/security/attack-mode",
                firewall(
                    "attackChallengeMode: {enabled: true, activeUntil: \"2100-01-01T00:00:00Z\"}",
                ),
            ),
            (
                "POST",
                "/v1/security/firewall/bypass",
                firewall("systemBypass: [{domain: \"*\", sourceIp: 198.51.100.7, note: probe}]"),
            ),
        ] {
            let e = env(seed("enterprise"), Duration::from_secs(5)).await;
            let before = e.emulator.snapshot();
            e.emulator
                .faults()
                .inject(FaultRule::new(path, fault.clone()).method(method));
            let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
            support::cells::assert_failed_write(
                &out,
                category,
                TOKEN,
                &format!("{fault:?} on {method} {path}"),
            );
            assert_eq!(
                e.emulator.snapshot(),
                before,
                "{fault:?} on {method} {path}"
            );
        }
    }
}

/// A 429 with a short Retry-After is waited for and retried: the write goes through once.
#[tokio::test]
async fn a_throttled_put_is_retried_after_the_wait() {
    let e = env(seed("enterprise"), Duration::from_secs(5)).await;
    e.emulator.faults().inject(
        FaultRule::new(
            "/v1/security/firewall/config",
            Fault::RateLimited {
                retry_after_secs: 1,
            },
        )
        .method("PUT")
        .times(1),
    );
    let out = sync(
        &e.client,
        &firewall(FIREWALL),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "{:?}", out.error);
    let puts: Vec<u16> = e.emulator.log().writes().iter().map(|w| w.status).collect();
    assert_eq!(puts, [429, 200]);
}

/// A PUT that hangs past the client's timeout: never in sync, and the configuration is either
/// the old one or the whole new one (a PUT is never half-applied), never a mix.
#[tokio::test]
async fn a_hanging_put_is_a_timeout_and_never_a_mix() {
    let e = env(seed("enterprise"), Duration::from_millis(300)).await;
    let before = active(&e);
    e.emulator.faults().inject(
        FaultRule::new(
            "/v1/security/firewall/config",
            Fault::Hang { millis: 1_000 },
        )
        .method("PUT"),
    );
    let out = sync(
        &e.client,
        &firewall(FIREWALL),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::Timeout),
        "{:?}",
        out.error
    );
    assert!(!out.in_sync() && out.write_failed);
    // Let a PUT the server was still handling finish, then look.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let after = active(&e);
    let changed = ["firewallEnabled", "ips", "managedRules"]
        .iter()
        .filter(|k| after[**k] != before[**k])
        .count();
    assert!(changed == 0 || changed == 3, "a mix: {after}");
}

/// A personal account (no `accountId`): no call carries a `teamId`, the account is verified as
/// personal, and its project's firewall is observed and enforced like a team's.
#[tokio::test]
async fn a_personal_account_is_addressed_without_a_team_id() {
    let mut seed = seed("pro");
    seed.teams[0].personal = true;
    let emulator = VercelEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let mut settings = HttpSettings::new("vercel", running.base_url());
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    let client =
        Vercel::with_settings(settings, None, SecretString::new(TOKEN), None).expect("client");
    assert_eq!(
        client.verify().await.expect("verified"),
        "Vercel personal account"
    );
    let out = sync(
        &client,
        &firewall("firewallEnabled: true"),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    assert_eq!(out.applied, ["update settings[firewallEnabled] (value)"]);
    let log = emulator.log().entries();
    assert!(log.len() >= 3, "{log:?}");
    for r in &log {
        assert!(
            !r.query.as_deref().unwrap_or_default().contains("teamId"),
            "{} {} {:?}",
            r.method,
            r.path,
            r.query
        );
    }
    assert_eq!(
        emulator.snapshot().teams[0].projects[0].firewall["firewallEnabled"],
        true
    );
}

/// `deletionPolicy: Delete`, as the controller carries it out (`core::cleanup`, then one apply):
/// the declared custom rules, IP rules, bypass entries and drains are removed — the rules in
/// one PUT that keeps the undeclared ones — while settings (firewall on, managed rulesets) are
/// left as they are, so deleting a policy never switches the firewall off.
#[tokio::test]
async fn deletion_removes_the_declared_items_and_leaves_the_settings() {
    let e = env(seed("enterprise"), Duration::from_secs(5)).await;
    let block = r#"
firewallEnabled: true
rules:
  - name: block admin
    conditionGroup: [{conditions: [{type: path, op: pre, value: /admin}]}]
    action: {action: deny}
ipRules:
  - {hostname: web.example.com, ip: 203.0.113.0/24, action: deny}
systemBypass:
  - {domain: "*", sourceIp: 198.51.100.7, note: uptime probe}
"#;
    let target = firewall(block);
    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);

    let observed = e.client.observe(&target).await.expect("observed");
    let (emptied, plan) = perimeter::core::cleanup(&target.desired, &observed.state);
    let emptied = Target {
        desired: emptied,
        ..target.clone()
    };
    let applied = e
        .client
        .apply(&emptied, &observed, &plan)
        .await
        .expect("cleaned up");
    assert_eq!(
        applied,
        [
            "delete rules[block admin]",
            "delete ipRules[web.example.com|203.0.113.0/24]",
            "delete systemBypass[*|198.51.100.7]"
        ]
    );
    let fw = active(&e);
    let names: Vec<&str> = fw["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["dashboard rule"], "the undeclared rule stays");
    let ips: Vec<&str> = fw["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["ip"].as_str())
        .collect();
    assert_eq!(ips, ["198.51.100.4"], "the undeclared IP rule stays");
    assert_eq!(fw["firewallEnabled"], true, "settings are left as they are");
}

/// The configuration stamps who last changed each managed rule set: a person's change names
/// them, Perimeter's own PUT is Perimeter's, and a client that did not send it (a restart)
/// names the token's user, as the configuration does.
#[tokio::test]
async fn managed_rule_set_drift_is_attributed_from_the_configuration() {
    let e = env(seed("enterprise"), Duration::from_secs(5)).await;
    let recently = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2);
    e.emulator.mutate(|seed| {
        let owasp = &mut seed.teams[0].projects[0].firewall["managedRules"]["owasp"];
        owasp["updatedAt"] = json!(recently.to_string());
        owasp["username"] = json!("lee");
    });
    let on = firewall("managedRules:\n  owasp: {active: true, action: deny}\n");
    let out = sync(&e.client, &on, Mode::Observe, UnmanagedPolicy::Report).await;
    let by = out.attribution.expect("drift");
    assert_eq!(
        by.get("managedRules[owasp].active").map(|a| a.by.as_str()),
        Some("lee")
    );

    let out = sync(&e.client, &on, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    let off = firewall("managedRules:\n  owasp: {active: false, action: deny}\n");
    let out = sync(&e.client, &off, Mode::Observe, UnmanagedPolicy::Report).await;
    let own = out.attribution.expect("drift");
    let own = own.get("managedRules[owasp].active").expect("stamped");
    assert_eq!((own.by.as_str(), own.perimeter), ("Perimeter", true));

    let restarted = client(&e.running, TOKEN, Duration::from_secs(5), None);
    let out = sync(&restarted, &off, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        out.attribution
            .as_ref()
            .and_then(|a| a.get("managedRules[owasp].active"))
            .map(|a| a.by.as_str()),
        Some("emulated"),
        "the token's user, as the configuration names it"
    );
}

/// The inventory is every project of the team, across pages of 100 (`from` = the previous
/// page's `pagination.next`, `teamId` on every page), each page a counted call; only the
/// project a FirewallPolicy names is covered.
#[tokio::test]
async fn inventory_lists_the_team_s_projects_across_pages() {
    let mut s = seed("pro");
    for i in 0..120 {
        s.teams[0].projects.push(
            serde_json::from_value(
                json!({"id": format!("prj_extra{i}"), "name": format!("site-{i}")}),
            )
            .expect("project"),
        );
    }
    let emulator = VercelEmulator::new(s);
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let c = client(
        &running,
        TOKEN,
        Duration::from_secs(5),
        Some(metrics.clone()),
    );
    let assets = c
        .inventory()
        .await
        .expect("read")
        .expect("Vercel lists its projects");
    assert_eq!(assets.len(), 121);
    assert!(assets.iter().all(|a| a.kind == "project"));
    assert!(assets.iter().any(|a| a.id == PROJECT && a.name == "web"));
    // Its production aliases are the hostnames it serves; a project never deployed to
    // production serves none.
    let web = assets.iter().find(|a| a.id == PROJECT).expect("web");
    assert_eq!(web.hosts, ["web.example.com", "web-acme.vercel.app"]);
    assert!(
        assets
            .iter()
            .filter(|a| a.id != PROJECT)
            .all(|a| a.hosts.is_empty())
    );
    let pages: Vec<String> = emulator
        .log()
        .entries()
        .iter()
        .filter(|r| r.path == "/v10/projects")
        .map(|r| r.query.clone().unwrap_or_default())
        .collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(
        pages
            .iter()
            .all(|q| q.contains("teamId=team_acme") && q.contains("limit=100"))
    );
    assert!(pages[1].contains("from="), "{pages:?}");
    let text = metrics.render().expect("metrics");
    assert!(
        text.contains(r#"perimeter_provider_requests_total{code="200",operation="getProjects",provider="vercel"} 2"#),
        "{text}"
    );

    let policy: perimeter::api::FirewallPolicySpec = serde_json::from_value(
        json!({"providerRef": {"name": "vercel"}, "vercel": {"projectId": PROJECT}}),
    )
    .expect("policy");
    let status = perimeter::inventory::status(
        perimeter::api::ProviderType::Vercel,
        Ok(Some(assets)),
        &[&policy],
        "2026-11-30T08:00:00Z".into(),
    )
    .expect("an inventory");
    assert_eq!((status.total, status.covered), (Some(121), Some(1)));
    assert_eq!(status.uncovered[0].id, "prj_extra0");
    assert!(!status.uncovered.iter().any(|a| a.id == PROJECT));
}

/// A project list that cannot be read is an error of its category, never an empty (fully
/// covered) inventory, and the error carries no token.
#[tokio::test]
async fn an_unreadable_project_list_is_an_error_never_an_empty_list() {
    for (fault, category) in support::cells::persistent_faults() {
        let e = env(seed("pro"), Duration::from_millis(300)).await;
        e.emulator
            .faults()
            .inject(FaultRule::new("/v10/projects", fault.clone()));
        let err = e.client.inventory().await.expect_err("unreadable");
        assert_eq!(err.category, category, "{fault:?}: {err}");
        assert!(!err.to_string().contains(TOKEN), "{fault:?}");
    }
}
