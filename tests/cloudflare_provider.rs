//! The Cloudflare client against the stateful Cloudflare emulator: Observe and Enforce,
//! pagination, and every injected fault (429 + Retry-After, 5xx, timeouts, malformed bodies).

mod support;

use std::time::Duration;

use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::error::Category;
use perimeter::http::HttpSettings;
use perimeter::providers::cloudflare::api::{CloudflareFirewall, CloudflareMonitoring};
use perimeter::providers::cloudflare::{Cloudflare, firewall_target, monitoring_target};
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::sync;
use perimeter::{Metrics, SecretString};
use perimeter_emulators::cloudflare::{CloudflareEmulator, Seed, Webhook, dashboard_change};
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::server::RunningEmulator;
use std::sync::Arc;

const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const ACCOUNT: &str = "01a7362d577a6c3019a474fd6f485823";
const TOKEN: &str = "test-token-5f1c2b9e";

fn seed(extra_zone_yaml: &str) -> Seed {
    let yaml = format!(
        "tokens: [{TOKEN}]\naccounts: [{{id: {ACCOUNT}, name: Test}}]\nzones:\n  - id: {ZONE}\n    name: example.com\n    account_id: {ACCOUNT}\n{extra_zone_yaml}"
    );
    serde_json::from_value(serde_yaml_value(&yaml)).expect("seed")
}

fn serde_yaml_value(yaml: &str) -> serde_json::Value {
    perimeter::manifests::yaml_to_json(yaml).expect("valid YAML")
}

struct Env {
    emulator: CloudflareEmulator,
    _running: RunningEmulator,
    client: Cloudflare,
    metrics: Arc<Metrics>,
}

async fn env(seed: Seed, timeout: Duration) -> Env {
    env_sharing(seed, timeout, Duration::ZERO).await
}

/// [`env`] with a client that keeps read answers for `share_window`.
async fn env_sharing(seed: Seed, timeout: Duration, share_window: Duration) -> Env {
    let emulator = CloudflareEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .expect("emulator starts");
    let mut settings = HttpSettings::new("cloudflare", format!("{}/client/v4", running.base_url()));
    settings.timeout = timeout;
    settings.backoff = Duration::from_millis(5);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    settings.share_window = share_window;
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let client = Cloudflare::with_settings(
        settings,
        Some(ACCOUNT.into()),
        SecretString::new(TOKEN),
        Some(metrics.clone()),
    )
    .expect("client");
    Env {
        emulator,
        _running: running,
        client,
        metrics,
    }
}

fn firewall(yaml: &str) -> Target {
    let fw: CloudflareFirewall =
        serde_json::from_value(serde_yaml_value(&format!("zoneId: {ZONE}\n{yaml}")))
            .expect("firewall block");
    firewall_target(&fw).expect("valid target")
}

const WAF_DECLARED: &str = r#"
wafCustomRules:
  - {ref: block-admin, expression: '(http.request.uri.path contains "/admin")', action: block}
  - {ref: challenge-bots, expression: '(cf.client.bot)', action: managed_challenge}
"#;

const WAF_SEEDED: &str = r#"    rulesets:
      http_request_firewall_custom:
        rules:
          - {ref: hand-made, expression: '(ip.src eq 192.0.2.1)', action: skip, action_parameters: {ruleset: current}}
          - {ref: block-admin, expression: '(http.request.uri.path contains "/admin")', action: log}
"#;

#[tokio::test]
async fn observe_reports_drift_and_never_writes() {
    let e = env(seed(WAF_SEEDED), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &firewall(WAF_DECLARED),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    let drift: Vec<_> = out
        .remaining
        .as_ref()
        .expect("read")
        .drift
        .iter()
        .map(|d| d.path.clone())
        .collect();
    assert_eq!(
        drift,
        [
            "wafCustomRules[block-admin].action",
            "wafCustomRules[challenge-bots]"
        ]
    );
    assert!(!out.in_sync());
    assert!(
        e.emulator.log().writes().is_empty(),
        "Observe mode never writes"
    );
    assert_eq!(
        out.findings.len(),
        1,
        "the undeclared rule is reported: {:?}",
        out.findings
    );
}

#[tokio::test]
async fn enforce_replaces_the_ruleset_in_one_put_and_keeps_unmanaged_rules() {
    let e = env(seed(WAF_SEEDED), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &firewall(WAF_DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert_eq!(out.applied.len(), 2);
    let writes = e.emulator.log().writes();
    assert_eq!(writes.len(), 1, "one atomic PUT: {writes:?}");
    assert_eq!(writes[0].method, "PUT");
    let snapshot = e.emulator.snapshot();
    let rules = &snapshot.zones[0].rulesets["http_request_firewall_custom"].rules;
    let refs: Vec<_> = rules
        .iter()
        .map(|r| r.reference.clone().unwrap_or_default())
        .collect();
    assert_eq!(refs, ["block-admin", "challenge-bots", "hand-made"]);
    // A second pass finds nothing to do and writes nothing.
    e.emulator.log().clear();
    let again = sync(
        &e.client,
        &firewall(WAF_DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(again.in_sync() && again.applied.is_empty());
    assert!(e.emulator.log().writes().is_empty());
}

#[tokio::test]
async fn enforce_with_remove_deletes_undeclared_rules() {
    let e = env(seed(WAF_SEEDED), Duration::from_secs(5)).await;
    let out = sync(
        &e.client,
        &firewall(WAF_DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Remove,
    )
    .await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    let snapshot = e.emulator.snapshot();
    let rules = &snapshot.zones[0].rulesets["http_request_firewall_custom"].rules;
    assert_eq!(rules.len(), 2);
}

#[tokio::test]
async fn access_rules_are_read_across_pages_and_enforced_item_by_item() {
    let mut rules = String::from("    access_rules:\n");
    for i in 0..1100 {
        rules.push_str(&format!(
            "      - {{mode: block, configuration: {{target: ip, value: 10.0.{}.{}}}, notes: n}}\n",
            i / 250,
            i % 250
        ));
    }
    let e = env(seed(&rules), Duration::from_secs(5)).await;
    let target = firewall(
        "ipAccessRules:\n  - {mode: whitelist, target: ip, value: 10.0.0.1, notes: n}\n  - {mode: block, target: ip_range, value: 198.51.100.0/24}\n",
    );
    let observed = e.client.observe(&target).await.expect("observe");
    assert_eq!(
        observed.state.sections[0].items.len(),
        1100,
        "all pages read"
    );
    assert_eq!(
        e.emulator.log().count("GET", "access_rules"),
        3,
        "1100 rules at 500 per page"
    );
    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.remaining.map(|d| d.drift));
    assert_eq!(e.emulator.log().count("POST", "access_rules"), 1);
    assert_eq!(e.emulator.log().count("PATCH", "access_rules"), 1);
    assert_eq!(out.remaining.map(|d| d.unmanaged.len()), Some(1099));
}

#[tokio::test]
async fn only_declared_settings_are_read_and_only_changed_ones_written() {
    let e = env(
        seed("    settings: {ssl: full, min_tls_version: \"1.0\", security_level: high}\n"),
        Duration::from_secs(5),
    )
    .await;
    let target = firewall("settings: {ssl: strict, minTlsVersion: \"1.2\", securityLevel: high}\n");
    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert_eq!(out.found.map(|d| d.drift.len()), Some(2));
    let writes: Vec<String> = e
        .emulator
        .log()
        .writes()
        .iter()
        .map(|w| format!("{} {}", w.method, w.path))
        .collect();
    assert_eq!(
        writes,
        [
            format!("PATCH /zones/{ZONE}/settings/ssl"),
            format!("PATCH /zones/{ZONE}/settings/min_tls_version")
        ]
    );
    assert_eq!(
        e.emulator.log().count("GET", "/settings/"),
        6,
        "3 declared settings, read twice (before and after the write)"
    );
}

#[tokio::test]
async fn monitoring_policies_and_logpush_jobs_are_enforced() {
    let e = env(seed("    logpush_jobs:\n      - {name: fw, dataset: firewall_events, destination_conf: \"s3://b/p?region=eu-west-1\", enabled: false}\n"), Duration::from_secs(5)).await;
    let mon: CloudflareMonitoring = serde_json::from_value(serde_yaml_value(&format!(
        "zoneId: {ZONE}\nnotificationPolicies:\n  - {{name: ddos, alertType: dos_attack_l7, mechanisms: {{email: [oncall@example.com]}}}}\nlogpushJobs:\n  - {{name: fw, dataset: firewall_events, destinationConf: \"s3://b/p?region=eu-west-1\"}}\n"
    )))
    .expect("monitoring block");
    let target = monitoring_target(&mon).expect("valid");
    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert_eq!(
        out.applied,
        [
            "create notificationPolicies[ddos]",
            "update logpushJobs[fw] (enabled)"
        ]
    );
}

/// Where the enforced notification policy sends alerts: through the Slack webhook to the
/// channel the policy declares for it (the webhook's URL, a credential, is never quoted).
/// Read again on the confirming read, so the outcome carries the routes as they are.
#[tokio::test]
async fn notification_policies_report_the_channel_their_slack_webhook_reaches() {
    const HOOK: &str = "14cc1190-5d2b-4b98-a696-c424cb2ad05f";
    let mut seed = seed("");
    seed.accounts[0].webhooks.push(Webhook {
        id: HOOK.into(),
        name: "alerts".into(),
        kind: "slack".into(),
        url: "https://hooks.slack.com/services/T0/B0/do-not-print".into(),
        ..Default::default()
    });
    let e = env(seed, Duration::from_secs(5)).await;
    let mon: CloudflareMonitoring = serde_json::from_value(serde_yaml_value(&format!(
        "notificationPolicies:\n  - {{name: ddos, alertType: dos_attack_l7, mechanisms: {{webhooks: [{HOOK}]}}}}\nslackWebhooks:\n  - {{webhook: {HOOK}, channel: C0ALERTS1, team: T0ABCDEFG}}\n"
    )))
    .expect("monitoring block");
    let target = monitoring_target(&mon).expect("valid");
    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    let routes = &out.alerting.routes;
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(
        routes[0].route,
        "notification policy 'ddos' via Slack webhook 'alerts'"
    );
    let slack = routes[0].slack.as_ref().expect("a Slack channel");
    assert_eq!(
        (slack.team.as_deref(), slack.channel.as_str()),
        (Some("T0ABCDEFG"), "C0ALERTS1")
    );
    assert!(!format!("{out:?}").contains("do-not-print"));
    assert_eq!(
        e.emulator
            .log()
            .count("GET", "/alerting/v3/destinations/webhooks"),
        1,
        "read only once a policy routes to a webhook: the first read found no policy"
    );
}

#[tokio::test]
async fn throttling_with_retry_after_is_retried_and_counted() {
    let e = env(seed(WAF_SEEDED), Duration::from_secs(5)).await;
    e.emulator.faults().inject(
        FaultRule::new(
            "rulesets",
            Fault::RateLimited {
                retry_after_secs: 1,
            },
        )
        .times(1),
    );
    let started = std::time::Instant::now();
    let out = sync(
        &e.client,
        &firewall(WAF_DECLARED),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After was honoured"
    );
    let text = e.metrics.render().expect("metrics");
    assert!(text.contains(r#"perimeter_provider_requests_total{code="429",operation="get_entrypoint_ruleset",provider="cloudflare"} 1"#), "{text}");
}

#[tokio::test]
async fn a_failed_ruleset_write_leaves_the_old_ruleset_whole() {
    let e = env(seed(WAF_SEEDED), Duration::from_secs(5)).await;
    e.emulator
        .faults()
        .inject(FaultRule::new("rulesets", Fault::ServerError { status: 500 }).method("PUT"));
    let before = e.emulator.snapshot();
    let out = sync(
        &e.client,
        &firewall(WAF_DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        out.error.as_ref().map(|e| e.category),
        Some(Category::ProviderError)
    );
    assert!(out.applied.is_empty());
    assert_eq!(
        e.emulator.snapshot(),
        before,
        "the ruleset is exactly as it was"
    );
    assert_eq!(
        out.remaining.map(|d| d.drift.len()),
        Some(2),
        "drift is still reported after the failed write"
    );
}

#[tokio::test]
async fn a_rejected_token_is_reported_without_leaking_it() {
    let e = env(seed(""), Duration::from_secs(5)).await;
    let bad = Cloudflare::with_settings(
        HttpSettings::new("cloudflare", e.client_base()),
        Some(ACCOUNT.into()),
        SecretString::new("wrong-token-0123456789"),
        None,
    )
    .expect("client");
    let err = bad.verify().await.expect_err("rejected");
    assert_eq!(err.category, Category::CredentialsRejected);
    assert!(!err.to_string().contains("wrong-token-0123456789"));
    assert!(e.client.verify().await.is_ok());
}

impl Env {
    fn client_base(&self) -> String {
        format!("{}/client/v4", self._running.base_url())
    }
}

#[tokio::test]
async fn a_failing_logpush_job_is_reported_as_a_finding() {
    let e = env(
        seed("    logpush_jobs:\n      - {name: fw, dataset: firewall_events, destination_conf: \"s3://b/p?region=eu-west-1\", enabled: true, error_message: \"access denied to bucket\"}\n"),
        Duration::from_secs(5),
    )
    .await;
    let mon: CloudflareMonitoring = serde_json::from_value(serde_yaml_value(&format!(
        "zoneId: {ZONE}\nlogpushJobs:\n  - {{name: fw, dataset: firewall_events, destinationConf: \"s3://b/p?region=eu-west-1\"}}\n"
    )))
    .expect("monitoring block");
    let out = sync(
        &e.client,
        &monitoring_target(&mon).expect("valid"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "configured as declared");
    let codes: Vec<(&str, &str)> = out
        .findings
        .iter()
        .map(|f| (f.code, f.subject.as_str()))
        .collect();
    assert_eq!(codes, [("LogJobFailing", "logpushJobs[fw]")]);
    assert!(out.findings[0].message.contains("access denied to bucket"));
}

/// The inventory lists the account's zones across pages (`account.id` on every page), and
/// only the account's: a zone of another account is left out. Each page is a counted call.
#[tokio::test]
async fn inventory_lists_the_account_s_zones_across_pages() {
    let mut extra = String::new();
    for i in 0..55 {
        extra.push_str(&format!(
            "  - {{id: 'a{:031x}', name: z{i}.example, account_id: {ACCOUNT}}}\n",
            i + 1
        ));
    }
    extra.push_str(&format!(
        "  - {{id: 'a{:031x}', name: other.example, account_id: 'b{:031x}'}}\n",
        999, 7
    ));
    let yaml = format!(
        "tokens: [{TOKEN}]\naccounts: [{{id: {ACCOUNT}, name: Test}}, {{id: 'b{:031x}', name: Other}}]\nzones:\n  - id: {ZONE}\n    name: example.com\n    account_id: {ACCOUNT}\n{extra}",
        7
    );
    let seed: Seed = serde_json::from_value(serde_yaml_value(&yaml)).expect("seed");
    let e = env(seed, Duration::from_secs(5)).await;
    let assets = e
        .client
        .inventory()
        .await
        .expect("read")
        .expect("Cloudflare lists its zones");
    assert_eq!(assets.len(), 56);
    assert!(assets.iter().all(|a| a.kind == "zone"));
    assert!(
        assets
            .iter()
            .any(|a| a.id == ZONE && a.name == "example.com")
    );
    assert!(!assets.iter().any(|a| a.name == "other.example"));
    let calls: Vec<String> = e
        .emulator
        .log()
        .entries()
        .iter()
        .filter(|r| r.path == "/zones")
        .map(|r| r.query.clone().unwrap_or_default())
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|q| q.contains(&format!("account.id={ACCOUNT}"))),
        "{calls:?}"
    );
    let text = e.metrics.render().expect("metrics");
    assert!(
        text.contains(r#"perimeter_provider_requests_total{code="200",operation="list_zones",provider="cloudflare"} 2"#),
        "{text}"
    );
}

/// A zone list that cannot be read is an error of its category, never an empty (fully
/// covered) inventory, and the error carries no credential.
#[tokio::test]
async fn an_unreadable_inventory_is_an_error_never_an_empty_list() {
    for (fault, category) in support::cells::persistent_faults() {
        let e = env(seed(""), Duration::from_millis(300)).await;
        e.emulator
            .faults()
            .inject(FaultRule::new("/zones", fault.clone()));
        let err = e.client.inventory().await.expect_err("unreadable");
        assert_eq!(err.category, category, "{fault:?}: {err}");
        assert!(!err.to_string().contains(TOKEN), "{fault:?}");
    }
}

/// Who changed each drifted field, from the account audit log: a dashboard edit names its
/// person, Perimeter's own write is Perimeter's (not the token owner's), a field nobody
/// changed stays unattributed, and a client that did not send the write (after a restart)
/// says what the log says: the token's owner, through the API.
#[tokio::test]
async fn drift_is_attributed_from_the_audit_log() {
    let e = env(
        seed("    settings: {ssl: full, min_tls_version: \"1.0\"}\n"),
        Duration::from_secs(5),
    )
    .await;
    e.emulator.mutate(|seed| {
        seed.token_owner.email = "platform-automation@example.com".into();
        seed.accounts[0].audit_logs.push(dashboard_change(
            "dana@example.com",
            "change_setting",
            ("zone", ZONE),
            serde_json::json!({"zone_name": "example.com", "name": "ssl", "value": "full"}),
            3600,
        ));
    });
    let strict = firewall("settings: {ssl: strict, minTlsVersion: \"1.2\"}\n");
    let out = sync(&e.client, &strict, Mode::Observe, UnmanagedPolicy::Report).await;
    let by = out.attribution.as_ref().expect("drift is attributed");
    assert_eq!(
        by.get("settings[ssl]").map(|a| a.by.as_str()),
        Some("dana@example.com via UI")
    );
    assert_eq!(by.get("settings[min_tls_version]"), None, "never changed");
    assert_eq!(
        by.summary,
        "1 of 2 drifted field(s) attributed from the Cloudflare account audit log (last 7 days)"
    );
    assert_eq!(
        e.emulator.log().count("GET", "/audit_logs"),
        1,
        "one page holds the zone's week"
    );

    let out = sync(&e.client, &strict, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    // The policy changes its mind: what Perimeter wrote is now drift, and Perimeter's own.
    let full = firewall("settings: {ssl: full, minTlsVersion: \"1.2\"}\n");
    let out = sync(&e.client, &full, Mode::Observe, UnmanagedPolicy::Report).await;
    let by = out.attribution.expect("attributed");
    let own = by.get("settings[ssl]").expect("the write is in the log");
    assert_eq!((own.by.as_str(), own.perimeter), ("Perimeter", true));

    let fresh = Cloudflare::with_settings(
        {
            let mut s =
                HttpSettings::new("cloudflare", format!("{}/client/v4", e._running.base_url()));
            s.backoff = Duration::from_millis(5);
            s
        },
        Some(ACCOUNT.into()),
        SecretString::new(TOKEN),
        None,
    )
    .expect("client");
    let out = sync(&fresh, &full, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        out.attribution
            .as_ref()
            .and_then(|a| a.get("settings[ssl]"))
            .map(|a| a.by.as_str()),
        Some("platform-automation@example.com via API")
    );
}

/// A policy that stays drifted (Observe) reads the audit log once, not at every sync: the
/// operator's memo reuses the attribution while the same fields drift the same way, and reads
/// again when the drift changes or for another policy.
#[tokio::test]
async fn a_drift_that_stays_the_same_is_attributed_from_one_read() {
    use perimeter::reconcile::{AttributionMemo, DEFAULT_DEADLINE, sync_remembering};
    let e = env(
        seed("    settings: {ssl: full, min_tls_version: \"1.0\"}\n"),
        Duration::from_secs(5),
    )
    .await;
    e.emulator.mutate(|seed| {
        seed.accounts[0].audit_logs.push(dashboard_change(
            "dana@example.com",
            "change_setting",
            ("zone", ZONE),
            serde_json::json!({"zone_name": "example.com", "name": "ssl", "value": "full"}),
            3600,
        ));
    });
    let strict = firewall("settings: {ssl: strict, minTlsVersion: \"1.2\"}\n");
    let memo = AttributionMemo::default();
    let reads = || e.emulator.log().count("GET", "/audit_logs");
    let observe = |key: &'static str| {
        sync_remembering(
            &e.client,
            &strict,
            Mode::Observe,
            UnmanagedPolicy::Report,
            DEFAULT_DEADLINE,
            Some((&memo, key)),
            &|| true,
        )
    };
    for _ in 0..3 {
        let out = observe("uid-a").await;
        let by = out.attribution.expect("attributed");
        assert_eq!(
            by.get("settings[ssl]").map(|a| a.by.as_str()),
            Some("dana@example.com via UI")
        );
    }
    assert_eq!(reads(), 1, "three syncs of the same drift, one read");
    observe("uid-b").await;
    assert_eq!(reads(), 2, "another policy reads for itself");
    e.emulator.mutate(|seed| {
        seed.zones[0]
            .settings
            .insert("ssl".into(), serde_json::json!("flexible"));
    });
    observe("uid-a").await;
    assert_eq!(reads(), 3, "the drift changed: read again");
}

/// An audit log that cannot be read (no permission, throttled, down, garbled, hanging)
/// leaves the drift unattributed, saying why, and never stops the sync: the drift is still
/// read and reported, the credential never quoted.
#[tokio::test]
async fn an_unreadable_audit_log_leaves_drift_unattributed_and_the_sync_whole() {
    let mut faults = support::cells::persistent_faults();
    faults.push((
        Fault::ServerError { status: 403 },
        Category::CredentialsRejected,
    ));
    for (fault, _) in faults {
        let e = env(
            seed("    settings: {ssl: full}\n"),
            Duration::from_millis(300),
        )
        .await;
        e.emulator
            .faults()
            .inject(FaultRule::new("/audit_logs", fault.clone()));
        let out = sync(
            &e.client,
            &firewall("settings: {ssl: strict}\n"),
            Mode::Observe,
            UnmanagedPolicy::Report,
        )
        .await;
        assert!(out.error.is_none(), "{fault:?}: {:?}", out.error);
        assert_eq!(
            out.remaining.as_ref().map(|d| d.drift.len()),
            Some(1),
            "{fault:?}"
        );
        let by = out.attribution.expect("drift found");
        assert!(by.by_path.is_empty(), "{fault:?}");
        assert!(
            by.summary
                .starts_with("unattributed: the audit log could not be read ("),
            "{fault:?}: {}",
            by.summary
        );
        assert!(!by.summary.contains(TOKEN), "{fault:?}");
    }
}

/// Issue 14, "policies sharing a zone share its reads within a round", through
/// `reconcile::sync`: within the client's window two policies on one zone read its ruleset
/// once; a policy's Enforce write ends the sharing, so the next policy sees the written state.
#[tokio::test]
async fn policies_on_one_zone_read_it_once_and_a_write_makes_the_next_read_fresh() {
    let Env {
        emulator,
        _running,
        client,
        metrics,
    } = env_sharing(
        seed(WAF_SEEDED),
        Duration::from_secs(5),
        Duration::from_secs(600),
    )
    .await;
    let ruleset_reads = || {
        emulator
            .log()
            .count("GET", "phases/http_request_firewall_custom/entrypoint")
    };
    // A team's Observe policy and the platform's Enforce policy on the same zone.
    let watch = firewall(WAF_DECLARED);
    let enforce = firewall(WAF_DECLARED);

    let first = sync(&client, &watch, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(first.error.is_none() && !first.in_sync(), "{first:?}");
    let second = sync(&client, &watch, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(!second.in_sync());
    assert_eq!(ruleset_reads(), 1, "the second policy's read was shared");

    let enforced = sync(&client, &enforce, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(enforced.in_sync(), "{:?}", enforced.remaining);
    assert_eq!(emulator.log().writes().len(), 1);
    // Its own read was shared too; its confirming read after the write was sent.
    assert_eq!(ruleset_reads(), 2);

    let after = sync(&client, &watch, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(
        after.in_sync(),
        "the next policy sees the write, not the answer from before it: {:?}",
        after.remaining
    );
    assert_eq!(
        ruleset_reads(),
        2,
        "the answer read after the write is shared"
    );
    let shared = metrics
        .provider_requests_shared_total
        .with_label_values(&["cloudflare", "get_entrypoint_ruleset"])
        .get();
    assert_eq!(shared, 3);
}

/// The operator's window reaches the client through `providers::connect` (`Access`), and
/// `check`'s (0) keeps every sequential read its own.
#[tokio::test]
async fn the_window_reaches_the_client_through_access() {
    for (window, want) in [(Duration::ZERO, 2), (Duration::from_secs(600), 1)] {
        let emulator = CloudflareEmulator::new(seed(WAF_SEEDED));
        let running = emulator.start("127.0.0.1:0").await.expect("emulator");
        let spec: perimeter::api::CloudProviderSpec = serde_json::from_value(serde_json::json!({
            "type": "cloudflare",
            "accountId": ACCOUNT,
            "endpoint": format!("{}/client/v4", running.base_url()),
            "credentials": {"source": "Secret", "secretRef": {"name": "cf", "key": "token"}},
        }))
        .expect("spec");
        let mut trust = perimeter::trust::Trust::default();
        trust
            .endpoint_hosts
            .push(perimeter::trust::hosts::HostPattern::parse("127.0.0.1").expect("host"));
        let access = perimeter::providers::Access {
            trust: &trust,
            principal: perimeter::trust::Principal::Admin,
            share_reads: window,
            connections: None,
        };
        let client =
            perimeter::providers::connect(&spec, Some(SecretString::new(TOKEN)), None, access)
                .await
                .expect("connect");
        for _ in 0..2 {
            sync(
                &*client,
                &firewall(WAF_DECLARED),
                Mode::Observe,
                UnmanagedPolicy::Report,
            )
            .await;
        }
        let reads = emulator
            .log()
            .count("GET", "phases/http_request_firewall_custom/entrypoint");
        assert_eq!(reads, want, "window {window:?}");
    }
}
