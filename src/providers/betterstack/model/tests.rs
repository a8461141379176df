//! Table tests of the Better Stack mapping, from answer shapes as Better Stack's API
//! documentation and its Terraform provider show them.

use super::*;
use crate::core::routing::{AlertRoute, SlackChannelRef};
use crate::core::{Undeclared, diff};
use serde_json::json;

fn block(yaml: &str) -> BetterstackMonitoring {
    serde_yaml::from_str(yaml).expect("block")
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("test instant")
}

/// A monitor as `GET /api/v2/monitors` lists it.
fn monitor(id: &str, url: &str, extra: Value) -> Value {
    let mut attributes = json!({
        "url": url, "pronounceable_name": "Homepage", "monitor_type": "status",
        "monitor_group_id": null, "last_checked_at": "2026-11-29T10:00:00.000Z",
        "status": "up", "policy_id": "41", "expiration_policy_id": null,
        "required_keyword": null, "verify_ssl": true, "check_frequency": 180,
        "call": false, "sms": false, "email": true, "push": true, "team_wait": null,
        "http_method": "get", "request_timeout": 30, "recovery_period": 180,
        "request_headers": [], "request_body": "", "follow_redirects": true,
        "remember_cookies": true, "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-11-01T00:00:00.000Z", "ssl_expiration": 14,
        "domain_expiration": null, "regions": ["us", "eu", "as", "au"],
        "expected_status_codes": [], "port": null, "confirmation_period": 0,
        "paused_at": null, "paused": false, "maintenance_from": null,
        "maintenance_to": null, "maintenance_timezone": "UTC", "maintenance_days": []
    });
    if let (Some(a), Value::Object(e)) = (attributes.as_object_mut(), extra) {
        a.extend(e);
    }
    json!({"id": id, "type": "monitor", "attributes": attributes})
}

fn policy(id: &str, name: &str, steps: Value) -> Value {
    json!({"id": id, "type": "policy", "attributes": {
        "name": name, "repeat_count": 3, "repeat_delay": 60, "incident_token": "itok",
        "policy_group_id": null, "team_name": "Acme", "steps": steps
    }})
}

fn integration(id: &str, channel: &str, status: &str) -> SlackIntegration {
    SlackIntegration {
        id: id.into(),
        team_id: Some("T0123ABCD".into()),
        channel_id: Some(channel.into()),
        channel_name: Some("alerts".into()),
        status: status.into(),
    }
}

fn names() -> Names {
    let policies = [
        resource(&policy("41", "On-call", json!([]))).expect("p"),
        resource(&policy("42", "Business hours", json!([]))).expect("p"),
    ];
    Names::new(
        &policies,
        vec![
            integration("7", "C0123ABCD", "active"),
            integration("8", "C0999ZZZZ", "account_inactive"),
        ],
    )
}

fn observe(section: &str, answers: &[Value]) -> State {
    let resources: Vec<Resource> = answers.iter().map(|a| resource(a).expect("r")).collect();
    State {
        sections: vec![observed_section(section, &resources, &names()).expect("section")],
    }
}

fn drift(target: &Target, observed: &State) -> Vec<(String, Option<String>, Option<String>)> {
    diff(&target.desired, observed, Undeclared::Report)
        .drift
        .into_iter()
        .map(|d| (d.path, d.desired, d.observed))
        .collect()
}

const MONITORS_YAML: &str = r#"
monitors:
  - url: https://example.com
    monitorType: status
    checkFrequency: 180
    regions: [eu, us, as, au]
    sslExpiration: 14
    escalationPolicy: On-call
"#;

#[test]
fn an_account_as_declared_has_no_drift() {
    let target = monitoring_target(&block(MONITORS_YAML)).expect("valid");
    let observed = observe(MONITORS, &[monitor("1", "https://example.com", json!({}))]);
    assert!(
        drift(&target, &observed).is_empty(),
        "{:?}",
        drift(&target, &observed)
    );
    let item = &observed.sections[0].items[0];
    assert_eq!(item.key, "status:https://example.com");
    assert_eq!(item.handle.as_deref(), Some("1"));
}

/// Each monitor attribute that differs is named, field by field; an undeclared monitor is
/// unmanaged, not drift, unless `unmanaged: Remove`.
#[test]
fn monitor_drift_is_reported_field_by_field() {
    let target = monitoring_target(&block(MONITORS_YAML)).expect("valid");
    let observed = observe(
        MONITORS,
        &[
            monitor(
                "1",
                "https://example.com",
                json!({"check_frequency": 900, "regions": ["us"], "ssl_expiration": null,
                       "policy_id": "42", "paused": true}),
            ),
            monitor("2", "https://other.example", json!({})),
        ],
    );
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        drift(&target, &observed),
        [
            (
                "monitors[status:https://example.com].checkFrequency".into(),
                s("180"),
                s("900")
            ),
            (
                "monitors[status:https://example.com].escalationPolicy".into(),
                s("On-call"),
                s("Business hours")
            ),
            (
                "monitors[status:https://example.com].paused".into(),
                s("false"),
                s("true")
            ),
            (
                "monitors[status:https://example.com].regions".into(),
                s(r#"["as","au","eu","us"]"#),
                s(r#"["us"]"#)
            ),
            (
                "monitors[status:https://example.com].sslExpiration".into(),
                s("14"),
                None
            ),
        ]
    );
    let d = diff(&target.desired, &observed, Undeclared::Report);
    assert_eq!(d.unmanaged, ["monitors[status:https://other.example]"]);
    let d = diff(&target.desired, &observed, Undeclared::Remove);
    assert!(
        d.plan
            .iter()
            .any(|c| c.describe() == "delete monitors[status:https://other.example]")
    );
}

/// The same URL with another type is another monitor: the key is URL + type, never the id.
#[test]
fn monitors_are_keyed_by_url_and_type() {
    let target = monitoring_target(&block(MONITORS_YAML)).expect("valid");
    let observed = observe(
        MONITORS,
        &[monitor(
            "1",
            "https://example.com",
            json!({"monitor_type": "keyword", "required_keyword": "ok"}),
        )],
    );
    let d = diff(&target.desired, &observed, Undeclared::Report);
    assert_eq!(d.plan.len(), 1);
    assert_eq!(
        d.plan[0].describe(),
        "create monitors[status:https://example.com]"
    );
    assert_eq!(d.unmanaged, ["monitors[keyword:https://example.com]"]);
}

/// A policy id no policy has is named, not dropped; a monitor without a policy has none.
#[test]
fn escalation_policy_references_resolve_by_name() {
    let observed = observe(
        MONITORS,
        &[
            monitor("1", "https://a.example", json!({"policy_id": 99})),
            monitor("2", "https://b.example", json!({"policy_id": null})),
        ],
    );
    let items = &observed.sections[0].items;
    assert_eq!(
        items[0].fields[ESCALATION_POLICY],
        json!("unknown policy 99")
    );
    assert!(!items[1].fields.contains_key(ESCALATION_POLICY));
}

const POLICY_YAML: &str = r#"
escalationPolicies:
  - name: On-call
    repeatCount: 3
    steps:
      - waitBefore: 0
        members:
          - {type: slack_integration, slackChannel: C0123ABCD}
          - {type: current_on_call}
      - waitBefore: 300
        members: [{type: entire_team}]
"#;

/// Steps compare in order, members as a set; a Slack member is compared by its channel.
#[test]
fn policy_steps_compare_by_channel_and_in_order() {
    let target = monitoring_target(&block(POLICY_YAML)).expect("valid");
    let same = policy(
        "41",
        "On-call",
        json!([
            {"type": "escalation", "wait_before": 0, "urgency_id": 12,
             "step_members": [{"type": "current_on_call", "id": null}, {"type": "slack_integration", "id": 7}]},
            {"type": "escalation", "wait_before": 300, "urgency_id": 12,
             "step_members": [{"type": "entire_team", "id": null}]}
        ]),
    );
    assert!(drift(&target, &observe(POLICIES, &[same])).is_empty());
    let other = policy(
        "41",
        "On-call",
        json!([
            {"type": "escalation", "wait_before": 0,
             "step_members": [{"type": "current_on_call"}, {"type": "slack_integration", "id": 8}]},
            {"type": "time_branching", "timezone": "UTC"}
        ]),
    );
    let got = drift(&target, &observe(POLICIES, &[other]));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "escalationPolicies[On-call].steps");
    let seen = got[0].2.as_deref().unwrap_or_default();
    assert!(
        seen.contains("C0999ZZZZ") && seen.contains("time_branching"),
        "{seen}"
    );
}

/// The write body resolves names to ids and refuses what does not resolve.
#[test]
fn write_bodies_resolve_references() {
    let target =
        monitoring_target(&block(&format!("{MONITORS_YAML}{}", &POLICY_YAML[1..]))).expect("valid");
    let monitors = target.desired.section(MONITORS).expect("monitors");
    let body = write_body(MONITORS, &monitors.items[0], &names()).expect("body");
    assert_eq!(
        body,
        json!({"url": "https://example.com", "monitor_type": "status", "check_frequency": 180,
               "regions": ["as", "au", "eu", "us"], "ssl_expiration": 14, "paused": false,
               "policy_id": "41"})
    );
    let policies = target.desired.section(POLICIES).expect("policies");
    let body = write_body(POLICIES, &policies.items[0], &names()).expect("body");
    assert_eq!(
        body,
        json!({"name": "On-call", "repeat_count": 3, "steps": [
            {"type": "escalation", "wait_before": 0, "step_members": [
                {"type": "slack_integration", "id": 7}, {"type": "current_on_call"}]},
            {"type": "escalation", "wait_before": 300, "step_members": [{"type": "entire_team"}]}
        ]})
    );
    let empty = Names::default();
    let e = write_body(MONITORS, &monitors.items[0], &empty).expect_err("unresolved");
    assert!(
        e.0.contains("no escalation policy is named \"On-call\""),
        "{}",
        e.0
    );
    let e = write_body(POLICIES, &policies.items[0], &empty).expect_err("unresolved");
    assert!(
        e.0.contains("no Slack integration posts to channel C0123ABCD"),
        "{}",
        e.0
    );
    // Two policies of one name: ambiguous, refused.
    let twice = Names::new(
        &[
            resource(&policy("41", "On-call", json!([]))).expect("p"),
            resource(&policy("43", "On-call", json!([]))).expect("p"),
        ],
        vec![],
    );
    assert_eq!(twice.policy_id("On-call"), None);
}

#[test]
fn status_pages_and_heartbeats_compare_field_by_field() {
    let target = monitoring_target(&block(
        r#"
statusPages:
  - subdomain: status-acme
    companyName: Acme
    published: true
    ipAllowlist: ["203.0.113.7", "2001:db8::/32"]
heartbeats:
  - name: nightly-backup
    period: 86400
    grace: 3600
"#,
    ))
    .expect("valid");
    let page = json!({"id": "5", "type": "status_page", "attributes": {
        "company_name": "Acme", "company_url": null, "subdomain": "status-acme",
        "custom_domain": null, "timezone": "UTC", "published": false, "ip_allowlist": null,
        "aggregate_state": "operational"}});
    let beat = json!({"id": "9", "type": "heartbeat", "attributes": {
        "url": "https://uptime.betterstack.com/api/v1/heartbeat/abc", "name": "nightly-backup",
        "period": 86400, "grace": 300, "policy_id": null, "status": "up", "paused": false}});
    let mut observed = observe(STATUS_PAGES, &[page]);
    observed
        .sections
        .extend(observe(HEARTBEATS, &[beat]).sections);
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        drift(&target, &observed),
        [
            (
                "heartbeats[nightly-backup].grace".into(),
                s("3600"),
                s("300")
            ),
            (
                "statusPages[status-acme].ipAllowlist".into(),
                s(r#"["2001:db8::/32","203.0.113.7/32"]"#),
                s("[]")
            ),
            (
                "statusPages[status-acme].published".into(),
                s("true"),
                s("false")
            ),
        ]
    );
}

#[test]
fn invalid_blocks_are_rejected_with_a_reason() {
    let cases = [
        (
            "monitors: [{url: a, monitorType: status}, {url: a, monitorType: status}]",
            "declared twice",
        ),
        (
            "monitors: [{url: a, monitorType: status, regions: [eu, eu]}]",
            "declared twice",
        ),
        (
            "monitors: [{url: a, monitorType: expected_status_code, expectedStatusCodes: [200, 200]}]",
            "declared twice",
        ),
        (
            "statusPages: [{subdomain: s, companyName: c, ipAllowlist: [\"10.0.0.0/33\"]}]",
            "not a CIDR",
        ),
        (
            "statusPages: [{subdomain: s, companyName: c, ipAllowlist: [\"10.0.0.1\", \"10.0.0.1/32\"]}]",
            "declared twice",
        ),
        (
            "escalationPolicies: [{name: p, steps: [{members: [{type: slack_integration, id: 3}]}]}]",
            "slackChannel only",
        ),
        (
            "escalationPolicies: [{name: p, steps: [{members: [{type: user}]}]}]",
            "needs its Better Stack id",
        ),
        (
            "escalationPolicies: [{name: p, steps: [{members: [{type: entire_team, id: 3}]}]}]",
            "takes no id",
        ),
        (
            "escalationPolicies: [{name: p, steps: [{members: [{type: user, id: 1, slackChannel: C0123ABCD}]}]}]",
            "only for slack_integration",
        ),
    ];
    for (yaml, want) in cases {
        match monitoring_target(&block(yaml)) {
            Ok(_) => panic!("{yaml} should be invalid"),
            Err(e) => assert!(e.0.contains(want), "{yaml}: {}", e.0),
        }
    }
    assert!(firewall_target(&BetterstackFirewall {}).is_err());
    for yaml in [
        "monitors: [{url: a, monitorType: http}]",
        "monitors: [{url: a, monitorType: status, regions: [mars]}]",
    ] {
        assert!(
            serde_yaml::from_str::<BetterstackMonitoring>(yaml).is_err(),
            "{yaml}"
        );
    }
}

/// Paused, down, not checked within three periods (from the last check, or from creation when
/// never checked), and the statuses in which no schedule applies.
#[test]
fn monitor_findings_table() {
    let now = at("2026-11-29T10:10:00Z");
    // check_frequency 180 s: three periods are 9 minutes.
    let cases: [(Value, Option<&str>); 8] = [
        (json!({"last_checked_at": "2026-11-29T10:09:00Z"}), None),
        (json!({"last_checked_at": "2026-11-29T10:01:30Z"}), None),
        (
            json!({"last_checked_at": "2026-11-29T10:00:59Z"}),
            Some(MONITOR_NOT_CHECKED),
        ),
        (json!({"status": "down"}), Some(MONITOR_DOWN)),
        (
            json!({"paused": true, "status": "paused", "paused_at": "2026-11-20T00:00:00Z"}),
            Some(MONITOR_PAUSED),
        ),
        (
            json!({"status": "maintenance", "last_checked_at": "2026-11-01T00:00:00Z"}),
            None,
        ),
        (
            json!({"last_checked_at": null, "created_at": "2026-11-29T10:05:00Z", "status": "up"}),
            None,
        ),
        (
            json!({"last_checked_at": null, "created_at": "2026-11-28T00:00:00Z"}),
            Some(MONITOR_NOT_CHECKED),
        ),
    ];
    for (extra, want) in cases {
        let r = resource(&monitor("17", "https://example.com", extra.clone())).expect("r");
        let got = monitor_findings("status:https://example.com", &r, now).expect("valid");
        assert_eq!(got.first().map(|f| f.code), want, "{extra}");
        if let Some(f) = got.first() {
            assert_eq!(f.subject, "monitors[status:https://example.com]");
            assert!(f.message.contains("monitor 17"), "{}", f.message);
        }
    }
    let r = resource(&monitor(
        "17",
        "https://e",
        json!({"check_frequency": null}),
    ))
    .expect("r");
    assert!(
        monitor_findings("k", &r, now).is_err(),
        "no period: refused, not fresh"
    );
    let r = resource(&monitor(
        "17",
        "https://e",
        json!({"last_checked_at": "yesterday"}),
    ))
    .expect("r");
    assert!(monitor_findings("k", &r, now).is_err());
    let beat = |status: &str| {
        resource(
            &json!({"id": "9", "attributes": {"name": "n", "status": status, "paused": false}}),
        )
        .expect("r")
    };
    assert_eq!(
        heartbeat_findings("n", &beat("down")).expect("ok")[0].code,
        HEARTBEAT_DOWN
    );
    assert!(heartbeat_findings("n", &beat("up")).expect("ok").is_empty());
}

/// Answers that are not the documented shape are refused, never read as "nothing there".
#[test]
fn answers_of_the_wrong_shape_are_refused() {
    for answer in [
        json!({"data": {}}),
        json!({"data": [{"id": "1"}]}),
        json!({"data": [{"id": "../1", "attributes": {}}]}),
        json!({"data": [{"id": true, "attributes": {}}]}),
        json!({"data": [], "pagination": {"next": 3}}),
    ] {
        assert!(page(&answer).is_err(), "{answer}");
    }
    let p = page(&json!({"data": [], "pagination": {"next": null}})).expect("ok");
    assert_eq!(
        p,
        Page {
            items: vec![],
            next: None
        }
    );
    for (section, bad) in [
        (MONITORS, monitor("1", "https://e", json!({"paused": "no"}))),
        (
            MONITORS,
            monitor("1", "https://e", json!({"check_frequency": "180"})),
        ),
        (
            MONITORS,
            monitor("1", "https://e", json!({"regions": "us"})),
        ),
        (POLICIES, policy("1", "p", json!("none"))),
        (POLICIES, policy("1", "p", json!([{"wait_before": 0}]))),
        (
            STATUS_PAGES,
            json!({"id": "1", "attributes": {"subdomain": "s", "published": true, "ip_allowlist": "x"}}),
        ),
    ] {
        let r = resource(&bad).expect("resource");
        assert!(
            observed_section(section, &[r], &names()).is_err(),
            "{section}: {bad}"
        );
    }
}

/// Only links on the configured endpoint are followed.
#[test]
fn next_links_stay_on_the_endpoint() {
    let base = url::Url::parse("https://uptime.betterstack.com").expect("url");
    let ok = next_request(
        "https://uptime.betterstack.com/api/v2/monitors?page=2&per_page=50",
        &base,
    )
    .expect("same host");
    assert_eq!(ok.0, "/api/v2/monitors");
    assert_eq!(
        ok.1,
        [
            ("page".into(), "2".into()),
            ("per_page".into(), "50".into())
        ]
    );
    let ok = next_request(
        "https://uptime.betterstack.com:443/api/v2/monitors?page=3",
        &base,
    );
    assert!(
        ok.is_ok(),
        "the default port written out is the same origin"
    );
    for bad in [
        "http://uptime.betterstack.com/api/v2/monitors?page=2",
        "https://evil.example/api/v2/monitors?page=2",
        "https://uptime.betterstack.com:8443/api/v2/monitors?page=2",
        "https://user:pw@uptime.betterstack.com/api/v2/monitors?page=2",
        "/api/v2/monitors?page=2",
        "not a url",
    ] {
        assert!(next_request(bad, &base).is_err(), "{bad}");
    }
    let prefixed = url::Url::parse("http://127.0.0.1:8080/bs").expect("url");
    let ok =
        next_request("http://127.0.0.1:8080/bs/api/v2/monitors?page=2", &prefixed).expect("ok");
    assert_eq!(ok.0, "/api/v2/monitors");
    assert!(next_request("http://127.0.0.1:8080/other/api?page=2", &prefixed).is_err());
}

/// Slack routes from escalation steps: resolved to team and channel, an inactive integration
/// named with its status, an unknown one named as such, `all_slack_integrations` fanned out.
#[test]
fn alert_routes_follow_slack_members() {
    let policies = [
        resource(&policy(
            "41",
            "On-call",
            json!([
                {"type": "escalation", "wait_before": 0,
                 "step_members": [{"type": "slack_integration", "id": 7}, {"type": "user", "id": 3}]},
                {"type": "escalation", "wait_before": 60,
                 "step_members": [{"type": "slack_integration", "id": "8"}, {"type": "slack_integration", "id": 99}]}
            ]),
        ))
        .expect("p"),
        resource(&policy(
            "42",
            "All",
            json!([{"type": "escalation", "step_members": [{"type": "all_slack_integrations"}]}]),
        ))
        .expect("p"),
    ];
    let routes = alert_routes(&policies, &names());
    let slack = |route: &str, c: &str, problem: Option<&str>| AlertRoute {
        route: route.into(),
        slack: Some(SlackChannelRef {
            team: Some("T0123ABCD".into()),
            channel: c.into(),
        }),
        other: None,
        problem: problem.map(str::to_string),
    };
    let inactive = Some("Slack integration 8 is account_inactive");
    let want = [
        slack("escalation policy 'On-call' step 1", "C0123ABCD", None),
        slack("escalation policy 'On-call' step 2", "C0999ZZZZ", inactive),
        AlertRoute {
            route: "escalation policy 'On-call' step 2".into(),
            slack: None,
            other: Some("Slack integration 99".into()),
            problem: Some("Slack integration 99 is not in Better Stack's list".into()),
        },
        slack("escalation policy 'All' step 1", "C0123ABCD", None),
        slack("escalation policy 'All' step 1", "C0999ZZZZ", inactive),
    ];
    assert_eq!(routes, want);
}

#[test]
fn slack_integrations_are_read_from_their_attributes() {
    let r = resource(
        &json!({"id": "7", "type": "slack_integration", "attributes": {
        "slack_team_id": "T0123ABCD", "slack_team_name": "Acme", "slack_channel_id": "C0123ABCD",
        "slack_channel_name": "alerts", "slack_status": "active", "integration_type": "verbose",
        "on_call_notifications": false}}),
    )
    .expect("r");
    assert_eq!(
        slack_integration(&r).expect("ok"),
        integration("7", "C0123ABCD", "active")
    );
    let r = resource(&json!({"id": "7", "attributes": {"slack_channel_id": 5}})).expect("r");
    assert!(slack_integration(&r).is_err());
}

/// Probe addresses: every value an address, canonical; anything else refuses the whole list.
#[test]
fn probe_ips_table() {
    let ok = probe_ips(&json!({
        "us": ["45.79.122.169", "2600:3c00::f03c:93ff:fe49:8f06"],
        "eu": ["172.104.155.117", "172.104.155.117/32"]
    }))
    .expect("valid");
    assert_eq!(
        ok,
        BTreeMap::from([
            ("eu".to_string(), vec!["172.104.155.117/32".to_string()]),
            (
                "us".to_string(),
                vec![
                    "2600:3c00::f03c:93ff:fe49:8f06/128".to_string(),
                    "45.79.122.169/32".to_string()
                ]
            ),
        ])
    );
    for bad in [
        json!([]),
        json!({}),
        json!({"us": []}),
        json!({"us": "45.79.122.169"}),
        json!({"us": ["45.79.122.300"]}),
        json!({"us": ["example.com"]}),
        json!({"us": [7]}),
        json!({"u s\n": ["45.79.122.169"]}),
    ] {
        assert!(probe_ips(&bad).is_err(), "{bad}");
    }
}

/// A write counts only when its answer shows every declared value.
#[test]
fn unwritten_fields_names_what_the_answer_lacks() {
    let target = monitoring_target(&block(MONITORS_YAML)).expect("valid");
    let want = &target.desired.sections[0].items[0];
    let same = observe(MONITORS, &[monitor("1", "https://example.com", json!({}))]);
    assert!(unwritten_fields(want, &same.sections[0].items[0]).is_empty());
    let other = observe(
        MONITORS,
        &[monitor(
            "1",
            "https://example.com",
            json!({"regions": ["us"], "paused": true}),
        )],
    );
    assert_eq!(
        unwritten_fields(want, &other.sections[0].items[0]),
        ["paused", "regions"]
    );
}

/// Credentials an answer may carry never reach an item: not in its fields, not in its raw.
#[test]
fn secrets_in_answers_are_not_kept() {
    let m = monitor(
        "1",
        "https://example.com",
        json!({"auth_username": "u-secret", "auth_password": "p-secret",
               "request_headers": [{"name": "Authorization", "value": "Bearer h-secret"}],
               "request_body": "token=b-secret"}),
    );
    let beat = json!({"id": "9", "attributes": {"name": "n", "period": 60, "paused": false,
        "status": "up", "url": "https://uptime.betterstack.com/api/v1/heartbeat/ping-secret"}});
    let pol = policy("41", "On-call", json!([]));
    let page = json!({"id": "5", "attributes": {"subdomain": "s", "published": true,
        "password": "page-secret"}});
    let text = [
        format!("{:?}", observe(MONITORS, &[m])),
        format!("{:?}", observe(HEARTBEATS, &[beat])),
        format!("{:?}", observe(POLICIES, &[pol])),
        format!("{:?}", observe(STATUS_PAGES, &[page])),
    ]
    .join(" ");
    for secret in [
        "u-secret",
        "p-secret",
        "h-secret",
        "b-secret",
        "ping-secret",
        "itok",
        "page-secret",
    ] {
        assert!(!text.contains(secret), "{secret} kept");
    }
    assert!(text.contains("check_frequency"), "the rest is kept");
}

/// A second monitor of the same URL and type does not hide behind the first: it is unmanaged.
#[test]
fn duplicates_at_better_stack_show_as_unmanaged() {
    let target = monitoring_target(&block(MONITORS_YAML)).expect("valid");
    let observed = observe(
        MONITORS,
        &[
            monitor("1", "https://example.com", json!({})),
            monitor("2", "https://example.com", json!({"check_frequency": 30})),
        ],
    );
    let d = diff(&target.desired, &observed, Undeclared::Remove);
    assert!(
        d.drift.iter().all(|x| x.path.contains("duplicate 2")),
        "{:?}",
        d.drift
    );
    assert_eq!(
        d.plan.iter().map(|c| c.describe()).collect::<Vec<_>>(),
        ["delete monitors[status:https://example.com (duplicate 2)]"]
    );
    assert_eq!(observed.sections[0].items[1].handle.as_deref(), Some("2"));
}

/// Active monitors' hosts, once each; paused ones and IP targets cover no hostname; a
/// monitor whose `paused` is not a boolean is refused.
#[test]
fn monitored_hosts_are_the_active_monitors_hosts() {
    let listed = [
        monitor("1", "https://Shop.Example.com/health", json!({})),
        monitor("2", "https://shop.example.com/", json!({})),
        monitor("3", "https://blog.example.com/", json!({"paused": true})),
        monitor(
            "4",
            "https://docs.example.com/",
            json!({"status": "paused"}),
        ),
        monitor(
            "5",
            "db.example.com",
            json!({"monitor_type": "tcp", "port": "5432"}),
        ),
        monitor("6", "https://192.0.2.7/", json!({})),
        monitor("7", "", json!({"monitor_type": "ping"})),
    ];
    let resources: Vec<Resource> = listed
        .iter()
        .map(|m| resource(m).expect("resource"))
        .collect();
    assert_eq!(
        monitored_hosts(&resources).expect("hosts"),
        ["shop.example.com", "db.example.com"]
    );
    let odd = resource(&monitor(
        "8",
        "https://x.example.com/",
        json!({"paused": "no"}),
    ))
    .expect("resource");
    assert!(monitored_hosts(&[odd]).is_err());
}
