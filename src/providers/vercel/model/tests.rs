//! Table tests of the Vercel mapping. The API answers are shaped after Vercel's OpenAPI
//! document (`getFirewallConfig`, `getBypassIp`, `getDrains`, `getActiveAttackStatus`, the
//! project's `security` object of `getProject`): every field name and type is the spec's.

use super::*;
use crate::core::{Undeclared, diff};

const PROJECT: &str = "prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB";

fn fw(yaml: &str) -> VercelFirewall {
    serde_yaml::from_str(&format!("projectId: {PROJECT}\n{yaml}")).expect("test fixture parses")
}

fn mon(yaml: &str) -> VercelMonitoring {
    serde_yaml::from_str(yaml).expect("test fixture parses")
}

/// An active configuration as `getFirewallConfig` answers it.
fn active_config() -> Value {
    let crs: Map<String, Value> = CRS_IDS
        .iter()
        .map(|id| ((*id).to_string(), json!({"active": true, "action": "deny"})))
        .collect();
    json!({
        "ownerId": "team_a1b2c3",
        "projectKey": "pk_1",
        "id": "fw_cfg_1",
        "version": 42,
        "updatedAt": "2026-11-28T09:12:00.000Z",
        "firewallEnabled": true,
        "botIdEnabled": false,
        "crs": crs,
        "rules": [
            {
                "id": "rule_admin_3f9",
                "name": "block admin",
                "description": "",
                "active": true,
                "conditionGroup": [{"conditions": [
                    {"type": "path", "op": "pre", "value": "/admin"},
                    {"type": "geo_as_number", "op": "eq", "neg": true, "value": 64496.0}
                ]}],
                "action": {"mitigate": {"action": "deny", "rateLimit": null, "redirect": null, "actionDuration": null, "bypassSystem": null}}
            },
            {
                "id": "rule_login_77a",
                "name": "login rate limit",
                "active": true,
                "conditionGroup": [{"conditions": [{"type": "method", "op": "inc", "value": ["PUT", "POST"]}]}],
                "action": {"mitigate": {"action": "rate_limit", "rateLimit": {"algo": "fixed_window", "window": 60.0, "limit": 10, "keys": ["ja4", "ip"], "action": null}, "actionDuration": "1h"}}
            },
            {
                "id": "rule_console_1",
                "name": "added in the dashboard",
                "active": true,
                "conditionGroup": [{"conditions": [{"type": "host", "op": "eq", "value": "old.example.com"}]}],
                "action": {"mitigate": {"action": "redirect", "redirect": {"location": "https://example.com", "permanent": true}}}
            }
        ],
        "ips": [
            {"id": "ip_1", "hostname": "app.example.com", "ip": "203.0.113.9", "notes": "scraper", "action": "deny"},
            {"id": "ip_2", "hostname": "app.example.com", "ip": "2001:db8::/32", "action": "challenge"}
        ],
        "changes": [],
        "managedRules": {
            "owasp": {"active": true, "action": "deny", "updatedAt": "2026-11-01T00:00:00Z", "userId": "u_1", "username": "ops"},
            "bot_protection": {"active": false, "action": "challenge"},
            "ai_bots": {"active": true, "action": "log"}
        }
    })
}

/// The block that says what `active_config` holds (except the dashboard's redirect rule).
const MATCHING: &str = r#"
firewallEnabled: true
botIdEnabled: false
rules:
  - name: block admin
    conditionGroup:
      - conditions:
          - {type: path, op: pre, value: /admin}
          - {type: geo_as_number, op: eq, neg: true, value: "64496"}
    action: {action: deny}
  - name: login rate limit
    conditionGroup:
      - conditions: [{type: method, op: inc, values: [POST, PUT]}]
    action:
      action: rate_limit
      rateLimit: {algo: fixed_window, window: 60, limit: 10, keys: [ip, ja4]}
      actionDuration: 1h
ipRules:
  - {hostname: App.Example.com, ip: 203.0.113.9/32, action: deny, notes: scraper}
  - {hostname: app.example.com, ip: "2001:DB8:0::/32", action: challenge}
managedRules:
  owasp: {active: true}
  aiBots: {active: true, action: log}
crs:
  sqli: {active: true, action: deny}
  xss: {active: true, action: deny}
"#;

fn observe(target: &Target, config: &Value) -> State {
    observed_firewall(&target.desired, config, None, &[])
}

fn paths(d: &crate::core::Diff) -> Vec<&str> {
    d.drift.iter().map(|x| x.path.as_str()).collect()
}

#[test]
fn targets_carry_their_project_or_the_team() {
    let firewall = firewall_target(&fw("firewallEnabled: true")).expect("valid");
    assert_eq!(
        firewall.scope.get::<VercelScope>(),
        Some(&VercelScope::Project(PROJECT.into()))
    );
    assert_eq!(firewall.scope.to_string(), format!("project {PROJECT}"));
    assert_eq!(firewall.purpose, Purpose::Firewall);
    let monitoring =
        monitoring_target(&mon("drains: []\nattackStatusProjectIds: [prj_a]")).expect("valid");
    assert_eq!(
        monitoring.scope.get::<VercelScope>(),
        Some(&VercelScope::Team {
            attack_status_projects: vec!["prj_a".into()]
        })
    );
    assert_eq!(monitoring.scope.to_string(), "team");
    assert_eq!(monitoring.purpose, Purpose::Monitoring);
}

/// The same configuration written differently (host routes, letter case, list order, float
/// numbers, nulls, Vercel's defaults) shows no drift; the dashboard's rule is unmanaged.
#[test]
fn an_active_config_equal_to_the_block_shows_no_drift() {
    let target = firewall_target(&fw(MATCHING)).expect("valid");
    let observed = observe(&target, &active_config());
    let d = diff(&target.desired, &observed, Undeclared::Report);
    assert!(d.in_sync(), "{:#?}", d.drift);
    assert_eq!(d.unmanaged, ["rules[added in the dashboard]"]);
    // 2 settings + 2 rules + 2 IP rules + 2 managed rulesets + 2 core rules.
    assert_eq!(d.managed, 10);
}

/// The drift real projects have, field by field.
#[test]
fn drift_is_reported_field_by_field() {
    let target = firewall_target(&fw(MATCHING)).expect("valid");
    let mut config = active_config();
    config["firewallEnabled"] = json!(false);
    config["managedRules"]["owasp"]["active"] = json!(false);
    config["crs"]["sqli"] = json!({"active": true, "action": "log"});
    config["rules"][0]["action"]["mitigate"]["action"] = json!("log");
    config["rules"][1]["action"]["mitigate"]["rateLimit"]["limit"] = json!(1000);
    config["ips"]
        .as_array_mut()
        .expect("ips")
        .retain(|r| r["id"] != "ip_1");
    let d = diff(
        &target.desired,
        &observe(&target, &config),
        Undeclared::Report,
    );
    assert_eq!(
        paths(&d),
        [
            "settings[firewallEnabled]",
            "rules[block admin].action",
            "rules[login rate limit].rateLimit",
            "ipRules[app.example.com|203.0.113.9]",
            "managedRules[owasp].active",
            "crs[sqli].action",
        ]
    );
}

#[test]
fn rule_order_is_drift() {
    let target = firewall_target(&fw(MATCHING)).expect("valid");
    let mut config = active_config();
    config["rules"].as_array_mut().expect("rules").swap(0, 1);
    let d = diff(
        &target.desired,
        &observe(&target, &config),
        Undeclared::Report,
    );
    assert_eq!(paths(&d), ["rules.order"]);
}

#[test]
fn invalid_blocks_are_rejected_with_a_reason() {
    let cases = [
        (
            "ipRules: [{hostname: a.example.com, ip: 10.0.0.0/99, action: deny}]",
            "not a CIDR",
        ),
        (
            "ipRules: [{hostname: a.example.com, ip: 10.0.0.1, action: deny}, {hostname: a.example.com, ip: 10.0.0.1/32, action: log}]",
            "declared twice",
        ),
        (
            "systemBypass: [{domain: a.example.com, sourceIp: not-an-ip}]",
            "not an IP address",
        ),
        (
            "attackChallengeMode: {enabled: true, activeUntil: tomorrow}",
            "not an RFC 3339 time",
        ),
    ];
    for (block, want) in cases {
        match firewall_target(&fw(block)) {
            Ok(_) => panic!("{block} should be invalid"),
            Err(e) => assert!(e.0.contains(want), "{block}: {} should mention {want}", e.0),
        }
    }
    let sampling = mon(
        "drains: [{name: d, delivery: {type: http, endpoint: \"https://siem.example.com\", encoding: json}, schemas: {log: v1}, sampling: [{rate: 1.5}]}]",
    );
    let e = monitoring_target(&sampling).expect_err("rate above 1");
    assert!(e.0.contains("sampling[0].rate"), "{}", e.0);
}

/// Attack Challenge Mode: the expiry Vercel stores in milliseconds compares with the declared
/// RFC 3339 time; an expiry on a mode that is off is not compared.
#[test]
fn attack_mode_compares_its_expiry() {
    let until_ms = 1_796_083_200_000_i64; // 2026-12-01T00:00:00Z
    let cases = [
        (
            "{enabled: true, activeUntil: \"2026-12-01T01:00:00+01:00\"}",
            json!({"attackModeEnabled": true, "attackModeActiveUntil": until_ms}),
            vec![],
        ),
        (
            "{enabled: true}",
            json!({"attackModeEnabled": true, "attackModeActiveUntil": until_ms}),
            vec!["attackChallengeMode[activeUntil]"],
        ),
        (
            "{enabled: true, activeUntil: \"2026-12-01T00:00:00Z\"}",
            json!({"attackModeEnabled": false, "attackModeActiveUntil": until_ms}),
            vec![
                "attackChallengeMode[enabled]",
                "attackChallengeMode[activeUntil]",
            ],
        ),
        (
            "{enabled: false}",
            json!({"attackModeEnabled": false, "attackModeActiveUntil": until_ms}),
            vec![],
        ),
    ];
    for (block, security, want) in cases {
        let target = firewall_target(&fw(&format!("attackChallengeMode: {block}"))).expect("valid");
        let observed = observed_firewall(&target.desired, &Value::Null, Some(&security), &[]);
        let d = diff(&target.desired, &observed, Undeclared::Report);
        assert_eq!(paths(&d), want, "{block} vs {security}");
    }
}

/// Bypass entries are keyed by domain and source; a project-wide entry is `*`, as declared.
#[test]
fn bypass_entries_are_keyed_by_domain_and_source() {
    let target = firewall_target(&fw(
        "systemBypass:\n  - {domain: \"*\", sourceIp: 198.51.100.7, note: uptime probe}\n  - {domain: api.example.com, sourceIp: 192.0.2.0/24}",
    ))
    .expect("valid");
    let listed = [
        json!({"OwnerId": "team_a1b2c3", "Id": "byp_1", "Domain": "", "Ip": "198.51.100.7/32", "ProjectId": PROJECT, "IsProjectRule": true, "Note": "uptime probe", "CreatedAt": "2026-11-01", "UpdatedAt": "2026-11-01", "UpdatedAtHour": "2026-11-01T00"}),
        json!({"OwnerId": "team_a1b2c3", "Id": "byp_2", "Domain": "old.example.com", "Ip": "203.0.113.1", "ProjectId": PROJECT, "IsProjectRule": false, "Note": "", "CreatedAt": "2026-11-01", "UpdatedAt": "2026-11-01", "UpdatedAtHour": "2026-11-01T00"}),
    ];
    let observed = observed_firewall(&target.desired, &Value::Null, None, &listed);
    let d = diff(&target.desired, &observed, Undeclared::Remove);
    assert_eq!(
        paths(&d),
        [
            "systemBypass[api.example.com|192.0.2.0/24]",
            "systemBypass[old.example.com|203.0.113.1]"
        ]
    );
    let raw = target.desired.sections[0].items[0].raw.clone();
    assert_eq!(
        raw,
        Some(json!({"projectScope": true, "sourceIp": "198.51.100.7", "note": "uptime probe"}))
    );
}

/// The PUT carries every part of the configuration: declared parts as declared (keeping the ids
/// Vercel gave), undeclared rules after them unless removed, undeclared settings, managed
/// rulesets and core rules as they are; read-only fields are dropped.
#[test]
fn the_put_body_replaces_declared_parts_and_keeps_the_rest() {
    let target = firewall_target(&fw(r#"
firewallEnabled: true
rules:
  - name: login rate limit
    conditionGroup: [{conditions: [{type: path, op: eq, value: /login}]}]
    action: {action: deny}
ipRules: []
managedRules:
  owasp: {active: false}
crs:
  sqli: {active: true, action: log}
"#))
    .expect("valid");
    let mut current = active_config();
    current["firewallEnabled"] = json!(false);
    let removed: BTreeMap<String, BTreeSet<String>> = [(
        IP_RULES.to_string(),
        ["app.example.com|203.0.113.9".to_string()].into(),
    )]
    .into();
    let body = put_body(&current, &target.desired, &removed);
    assert_eq!(body["firewallEnabled"], json!(true));
    assert_eq!(body["botIdEnabled"], json!(false), "undeclared: kept");
    let names: Vec<&str> = body["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["login rate limit", "block admin", "added in the dashboard"]
    );
    assert_eq!(body["rules"][0]["id"], json!("rule_login_77a"), "id kept");
    assert_eq!(
        body["rules"][0]["action"]["mitigate"],
        json!({"action": "deny"})
    );
    assert!(
        body["rules"][1]["action"]["mitigate"]
            .get("rateLimit")
            .is_none(),
        "nulls dropped"
    );
    let ips: Vec<&str> = body["ips"]
        .as_array()
        .expect("ips")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ips, ["ip_2"], "the removed IP rule is gone, the other kept");
    assert_eq!(
        body["managedRules"],
        json!({
            "owasp": {"active": false, "action": "deny"},
            "bot_protection": {"active": false, "action": "challenge"},
            "ai_bots": {"active": true, "action": "log"}
        })
    );
    assert_eq!(
        body["crs"]["sqli"],
        json!({"active": true, "action": "log"})
    );
    assert_eq!(
        body["crs"]["xss"],
        json!({"active": true, "action": "deny"})
    );
    let allowed: BTreeSet<&str> = [
        "firewallEnabled",
        "managedRules",
        "crs",
        "rules",
        "ips",
        "botIdEnabled",
    ]
    .into();
    let keys: BTreeSet<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert!(keys.is_subset(&allowed), "{keys:?}");
}

const DRAIN: &str = r#"
drains:
  - name: siem
    delivery: {type: http, endpoint: "https://siem.example.com/ingest?token=TOPSECRET", encoding: ndjson}
    schemas: {log: v1}
    projectIds: [prj_b, prj_a]
"#;

fn listed_drain() -> Value {
    json!({
        "id": "drn_1", "ownerId": "team_a1b2c3", "name": "siem", "createdAt": 1764000000000_i64,
        "updatedAt": 1764000000000_i64, "projectIds": ["prj_a", "prj_b"],
        "schemas": {"log": {"version": "v1"}},
        "delivery": {"type": "http", "endpoint": "https://siem.example.com/ingest?token=TOPSECRET", "encoding": "ndjson", "compression": "none", "headers": {}},
        "status": "enabled", "source": {"kind": "self-served"}
    })
}

/// A drain's endpoint is masked in the model; a change in its masked part is still drift.
#[test]
fn drain_endpoints_are_masked_and_compared_by_digest() {
    let target = monitoring_target(&mon(DRAIN)).expect("valid");
    let item = &target.desired.sections[0].items[0];
    let shown = serde_json::to_string(&item.fields).expect("json");
    assert!(!shown.contains("TOPSECRET"), "{shown}");
    let obs = |d: Value| State {
        sections: vec![Section::new(
            DRAINS,
            SectionKind::Unordered,
            vec![observed_drain(&d).expect("drain")],
        )],
    };
    let d = diff(&target.desired, &obs(listed_drain()), Undeclared::Report);
    assert!(d.in_sync(), "{:#?}", d.drift);
    let mut other = listed_drain();
    other["delivery"]["endpoint"] = json!("https://siem.example.com/ingest?token=OTHER");
    other["status"] = json!("disabled");
    let d = diff(&target.desired, &obs(other), Undeclared::Report);
    assert_eq!(
        paths(&d),
        ["drains[siem].endpointDigest", "drains[siem].status"]
    );
    assert!(!format!("{:?}", d.drift).contains("OTHER"));
    // An errored drain delivers nothing: drift that Enforce re-enables, never in sync.
    let mut errored = listed_drain();
    errored["status"] = json!("errored");
    let d = diff(&target.desired, &obs(errored), Undeclared::Report);
    assert_eq!(paths(&d), ["drains[siem].status"]);
}

#[test]
fn findings_name_the_drain_the_legacy_drain_and_the_attack() {
    let mut errored = listed_drain();
    errored["status"] = json!("errored");
    errored["firstErrorTimestamp"] = json!(1_796_083_200_000_i64);
    errored["disabledReason"] = json!("feature-not-available");
    let f = drain_finding(&errored).expect("finding");
    assert_eq!(f.code, DRAIN_ERRORED);
    assert_eq!(f.subject, "drains[siem]");
    assert!(
        f.message.contains("feature-not-available") && f.message.contains("2026-12-01T00:00:00Z"),
        "{}",
        f.message
    );
    assert!(
        drain_finding(&listed_drain()).is_none(),
        "enabled: no finding"
    );

    let legacy = json!({"id": "ld_9", "name": "old", "url": "https://logs.example.com/?key=SECRET", "deliveryFormat": "json"});
    let f = legacy_drain_finding(&legacy).expect("finding");
    assert_eq!(
        (f.code, f.subject.as_str()),
        (LEGACY_LOG_DRAIN, "logDrains[old]")
    );
    assert!(!f.message.contains("SECRET"), "{}", f.message);

    let status = json!({"anomalies": [{"projectId": PROJECT, "ownerId": "team_a1b2c3", "startTime": 1_796_083_200_000_i64, "endTime": null, "atMinute": 1_796_083_200_000_i64, "state": "active", "affectedHostMap": {"app.example.com": {"ddosAlerts": {}}}}]});
    let found = attack_findings(PROJECT, &status);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].code, ATTACK_IN_PROGRESS);
    assert!(
        found[0].message.contains("app.example.com"),
        "{}",
        found[0].message
    );
    assert!(
        attack_findings(PROJECT, &json!({})).is_empty(),
        "no attack: {{}}"
    );
}

/// The configuration's revision goes to the evidence: only a whole version and a real instant
/// are quoted from the answer.
#[test]
fn config_revision_quotes_only_a_version_and_an_instant() {
    let table = [
        (
            json!({"version": 7, "updatedAt": "2026-11-29T10:00:00.000Z"}),
            Some("firewall config version 7, updated 2026-11-29T10:00:00Z"),
        ),
        (
            json!({"version": 3, "updatedAt": 1_796_083_200_000_i64}),
            Some("firewall config version 3, updated 2026-12-01T00:00:00Z"),
        ),
        (
            json!({"version": 2, "updatedAt": "<script>alert(1)</script>"}),
            Some("firewall config version 2"),
        ),
        (
            json!({"version": "7; drop", "updatedAt": "2026-11-29T10:00:00Z"}),
            None,
        ),
        (json!({"version": -1}), None),
        (
            json!({"firewallEnabled": false, "rules": [], "ips": []}),
            None,
        ),
    ];
    for (config, want) in table {
        assert_eq!(config_revision(&config).as_deref(), want, "{config}");
    }
}
