//! Request conformance: every request the Cloudflare client sends is validated by Prism
//! against Cloudflare's official OpenAPI document (trimmed copy in tests/conformance/cloudflare,
//! read-only properties taken out of `required` in a temporary copy; see SOURCE.md there).
//!
//! Documented exception: the 2024 document has no `ratelimit` object on rules; the live API
//! requires it for rate-limiting rules, so the client sends it. Prism accepts it because the
//! rule schemas do not forbid additional properties. The emulator (tests/cloudflare_provider.rs)
//! checks its shape and that every rule carries an `expression`, which the document omits.
//!
//! Documented exception: `aaa_mechanisms` types a mechanism `id` as `oneOf` [`aaa_uuid` (a
//! string of at most 36 characters, no format), an e-mail string], so every id short enough to
//! be valid matches both branches and fails `oneOf`. That one violation is tolerated.

mod support;

use std::time::Duration;

use perimeter::SecretString;
use perimeter::core::{Change, Item, Section, SectionKind};
use perimeter::http::HttpSettings;
use perimeter::providers::cloudflare::api::{CloudflareFirewall, CloudflareMonitoring};
use perimeter::providers::cloudflare::{Cloudflare, firewall_target, monitoring_target};
use perimeter::providers::{Observation, Provider, Target};
use serde_json::json;

const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const ACCOUNT: &str = "01a7362d577a6c3019a474fd6f485823";

fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_value(perimeter::manifests::yaml_to_json(text).expect("yaml")).expect("block")
}

fn firewall() -> Target {
    let fw: CloudflareFirewall = yaml(&format!(
        r#"
zoneId: {ZONE}
wafCustomRules:
  - {{ref: block-admin, description: admin, expression: '(http.request.uri.path contains "/admin")', action: block}}
  - {{ref: scanners, expression: '(http.user_agent contains "sqlmap")', action: block, actionParameters: {{response: {{statusCode: 403, content: no, contentType: text/plain}}}}}}
  - {{ref: skip-health, expression: '(http.request.uri.path eq "/health")', action: skip, actionParameters: {{ruleset: current}}}}
rateLimitRules:
  - {{ref: login, expression: '(http.request.uri.path eq "/login")', action: block, characteristics: [ip.src, cf.colo.id], period: 60, requestsPerPeriod: 10, mitigationTimeout: 600}}
ipAccessRules:
  - {{mode: block, target: ip_range, value: 203.0.113.0/24, notes: abuse}}
  - {{mode: whitelist, target: ip, value: 198.51.100.7}}
settings: {{ssl: strict, minTlsVersion: "1.2", securityLevel: high, alwaysUseHttps: "on"}}
"#
    ));
    firewall_target(&fw).expect("target")
}

fn monitoring() -> Target {
    let mon: CloudflareMonitoring = yaml(&format!(
        r#"
zoneId: {ZONE}
notificationPolicies:
  - {{name: ddos, alertType: dos_attack_l7, description: d, mechanisms: {{email: [oncall@example.com]}}, filters: {{zones: [{ZONE}]}}}}
logpushJobs:
  - {{name: fw-events, dataset: firewall_events, destinationConf: "s3://bucket/path?region=us-east-1", fields: [ClientIP, Action]}}
"#
    ));
    monitoring_target(&mon).expect("target")
}

/// An observed state in which every declared item exists with a provider id, so that
/// updates and deletes have something to address.
fn observed_with_handles(target: &Target) -> Observation {
    let mut obs = Observation::default();
    for section in &target.desired.sections {
        let items = section
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| Item { handle: Some(provider_id(&section.name, i)), ..item.clone() })
            .chain(std::iter::once(Item::new("extra").with_handle(provider_id(&section.name, 99)).with_raw(json!({
                "id": provider_id(&section.name, 99), "ref": "extra", "expression": "(true)", "action": "log"
            }))))
            .collect();
        obs.state
            .push(Section::new(section.name.clone(), section.kind, items));
    }
    obs
}

/// Ids in the provider's own formats: Logpush jobs are integers, alert policies UUIDs,
/// everything else 32 hex characters.
fn provider_id(section: &str, i: usize) -> String {
    match section {
        "logpushJobs" => format!("{}", 1000 + i),
        "notificationPolicies" => format!("0f6e2d7c-1b2a-4c3d-8e9f-{:012x}", i),
        _ => format!("{:032x}", 0xabc000 + i),
    }
}

/// Every change the client can make, one per section and kind.
fn every_change(target: &Target) -> Vec<Change> {
    let mut plan = Vec::new();
    for section in &target.desired.sections {
        let key = section.items[0].key.clone();
        let name = section.name.clone();
        match section.kind {
            SectionKind::Ordered => plan.push(Change::Reorder { section: name }),
            // Hosts failing an endpoint check (Fleet): nothing is ever written for them.
            SectionKind::Violations => {}
            SectionKind::Settings => plan.push(Change::Update {
                section: name,
                key,
                fields: vec!["value".into()],
            }),
            SectionKind::Unordered => {
                plan.push(Change::Create {
                    section: name.clone(),
                    key: key.clone(),
                });
                plan.push(Change::Update {
                    section: name.clone(),
                    key: key.clone(),
                    fields: vec!["mode".into()],
                });
                plan.push(Change::Delete { section: name, key });
            }
        }
    }
    plan
}

#[tokio::test(flavor = "multi_thread")]
async fn every_cloudflare_request_conforms_to_the_official_spec() {
    let spec = support::repo_root().join("tests/conformance/cloudflare/openapi.json");
    let prism = tokio::task::spawn_blocking(move || support::start_prism(&spec))
        .await
        .expect("prism");
    let mut settings = HttpSettings::new("cloudflare", prism.url.clone());
    settings.max_retries = 0;
    settings.timeout = Duration::from_secs(20);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    let client = Cloudflare::with_settings(
        settings,
        Some(ACCOUNT.into()),
        SecretString::new("conformance-token"),
        None,
    )
    .expect("client");

    let mut ledger = support::RequestLedger::with_spec_quirks(|l| {
        l.contains("mechanisms.") && l.contains(".id must match exactly one schema in oneOf")
    });

    let offset = prism.log_len();
    let _ = client.verify().await;
    ledger.record("verify", offset, &prism);

    // The inventory: the account's zones (`GET /zones?account.id=…`, paged).
    let offset = prism.log_len();
    let _ = client.inventory().await;
    ledger.record("inventory", offset, &prism);

    // Drift attribution: the zone's name, its entry points, the account audit log.
    let offset = prism.log_len();
    let drifted = |path: &str| perimeter::core::Drift {
        path: path.into(),
        kind: perimeter::core::DriftKind::Changed,
        desired: None,
        observed: None,
    };
    let _ = client
        .audit_trail(
            &firewall(),
            &[
                drifted("wafCustomRules[a].action"),
                drifted("settings[ssl]"),
            ],
        )
        .await;
    ledger.record("audit", offset, &prism);

    for target in [firewall(), monitoring()] {
        // Reads: the answers are Prism's examples; only the requests are judged here.
        for section in &target.desired.sections {
            let one = Target {
                desired: perimeter::core::State {
                    sections: vec![section.clone()],
                },
                ..target.clone()
            };
            let offset = prism.log_len();
            let _ = client.observe(&one).await;
            ledger.record(format!("observe {}", section.name), offset, &prism);
        }
        let observed = observed_with_handles(&target);
        for change in every_change(&target) {
            let offset = prism.log_len();
            let _ = client
                .apply(&target, &observed, std::slice::from_ref(&change))
                .await;
            ledger.record(change.describe(), offset, &prism);
        }
    }
    ledger.assert_clean(&prism);
    println!("checked: {:?}", ledger.checked);
    assert!(ledger.checked.len() >= 18, "{:?}", ledger.checked);
    assert!(
        ledger.checked.get("inventory") >= Some(&1),
        "{:?}",
        ledger.checked
    );
    // GET /zones/{id}, GET /zones/{id}/rulesets, GET /accounts/{id}/audit_logs.
    assert!(
        ledger.checked.get("audit") >= Some(&3),
        "{:?}",
        ledger.checked
    );
    // The policies' example routes to a webhook, so their destinations are read too.
    assert!(
        ledger.checked.get("observe notificationPolicies") >= Some(&2),
        "{:?}",
        ledger.checked
    );
}
