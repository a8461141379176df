//! Behaviour of the Vercel emulator over real HTTP, as the operator's client sees it.

use std::time::Duration;

use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::server::RunningEmulator;
use perimeter_emulators::vercel::{Seed, VercelEmulator};
use reqwest::Method;
use serde_json::{Value, json};

const TOKEN: &str = "vercel-test-token-s3cr3t";
const TEAM: &str = "team_acme";
const PRO_TEAM: &str = "team_small";
const PROJECT: &str = "prj_web";

fn seed() -> Seed {
    serde_json::from_value(json!({
        "tokens": [TOKEN],
        "teams": [
            {
                "id": TEAM, "slug": "acme", "plan": "enterprise",
                "projects": [{
                    "id": PROJECT, "name": "web",
                    "firewall": {
                        "firewallEnabled": true,
                        "rules": [{"name": "block admin", "active": true,
                                   "conditionGroup": [{"conditions": [{"type": "path", "op": "pre", "value": "/admin"}]}],
                                   "action": {"mitigate": {"action": "deny"}}}],
                        "ips": [{"hostname": "web.example.com", "ip": "203.0.113.9", "action": "deny"}],
                        "managedRules": {"owasp": {"active": true, "action": "deny"}}
                    },
                    "bypass": [
                        {"Domain": "web.example.com", "Ip": "198.51.100.1", "IsProjectRule": false, "Note": "a"},
                        {"Domain": "web.example.com", "Ip": "198.51.100.2", "IsProjectRule": false, "Note": "b"},
                        {"Domain": "", "Ip": "198.51.100.3", "IsProjectRule": true, "Note": "c"}
                    ],
                    "anomalies": [{"projectId": PROJECT, "ownerId": TEAM, "startTime": 1_796_083_200_000_i64, "endTime": null,
                                   "atMinute": 1_796_083_200_000_i64, "state": "active", "affectedHostMap": {}}]
                }],
                "drains": [{"name": "siem", "projects": "all", "schemas": {"log": {"version": "v1"}},
                            "delivery": {"type": "http", "endpoint": "https://siem.example.com/in", "encoding": "json", "headers": {}}}],
                "logDrains": [{"name": "old", "url": "https://logs.example.com/?key=k", "deliveryFormat": "json"}]
            },
            {"id": PRO_TEAM, "slug": "small", "plan": "pro", "projects": [{"id": "prj_small", "name": "small"}]}
        ]
    }))
    .expect("test seed parses")
}

struct Harness {
    emulator: VercelEmulator,
    running: RunningEmulator,
    http: reqwest::Client,
}

impl Harness {
    async fn start() -> Self {
        let seed = seed();
        seed.validate().expect("valid seed");
        let emulator = VercelEmulator::new(seed);
        let running = emulator.start("127.0.0.1:0").await.expect("binds");
        Self {
            emulator,
            running,
            http: reqwest::Client::new(),
        }
    }

    async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.running.base_url()));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(Some(TOKEN), method, path, body).await
    }

    async fn active(&self) -> Value {
        let (status, body) = self
            .call(
                Method::GET,
                &format!("/v1/security/firewall/config/active?projectId={PROJECT}&teamId={TEAM}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

#[tokio::test]
async fn a_put_replaces_the_configuration_and_bumps_its_version() {
    let h = Harness::start().await;
    let before = h.active().await;
    assert_eq!(before["version"], 1);
    assert!(
        before["rules"][0]["id"].is_string(),
        "ids assigned: {before}"
    );
    assert_eq!(before["crs"].as_object().map(|m| m.len()), Some(11));
    let body = json!({
        "firewallEnabled": false,
        "rules": [],
        "ips": [{"id": before["ips"][0]["id"], "hostname": "web.example.com", "ip": "203.0.113.9", "action": "challenge"}],
        "crs": {"sqli": {"active": true, "action": "deny"}},
        "managedRules": {"owasp": {"active": false}}
    });
    let (status, answer) = h
        .call(
            Method::PUT,
            &format!("/v1/security/firewall/config?projectId={PROJECT}&teamId={TEAM}"),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let after = h.active().await;
    assert_eq!(answer["active"], after);
    assert_eq!(after["version"], 2);
    assert_eq!(after["firewallEnabled"], false);
    assert_eq!(after["ips"][0]["id"], before["ips"][0]["id"], "id kept");
    assert_eq!(after["ips"][0]["action"], "challenge");
    assert_eq!(after["rules"], json!([]));
    assert_eq!(after["id"], before["id"]);
    let (status, _) = h
        .call(
            Method::GET,
            &format!("/v1/security/firewall/config/2?projectId={PROJECT}&teamId={TEAM}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "the current version by number");
}

/// Bad bodies are refused naming the field; a plan without the feature answers 402 naming it;
/// neither changes anything.
#[tokio::test]
async fn invalid_and_unaffordable_writes_change_nothing() {
    let h = Harness::start().await;
    let before = h.active().await;
    let cases = [
        (
            TEAM,
            PROJECT,
            json!({"firewallEnabled": true, "version": 3}),
            400,
            "body.version is not allowed",
        ),
        (
            TEAM,
            PROJECT,
            json!({"firewallEnabled": true, "ips": [{"hostname": "a", "ip": "1.2.3.4", "action": "block"}]}),
            400,
            "ips[0].action",
        ),
        (
            TEAM,
            PROJECT,
            json!({"firewallEnabled": true, "rules": [{"name": "x", "active": true, "conditionGroup": [{"conditions": [{"type": "path", "op": "like"}]}], "action": {"mitigate": {"action": "deny"}}}]}),
            400,
            "conditions[0].op",
        ),
        (
            TEAM,
            PROJECT,
            json!({"rules": []}),
            400,
            "body.firewallEnabled is required",
        ),
        (
            PRO_TEAM,
            "prj_small",
            json!({"firewallEnabled": true, "managedRules": {"owasp": {"active": true, "action": "deny"}}}),
            402,
            "managedRules.owasp",
        ),
    ];
    for (team, project, body, want_status, want_message) in cases {
        let (status, answer) = h
            .call(
                Method::PUT,
                &format!("/v1/security/firewall/config?projectId={project}&teamId={team}"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, want_status, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(want_message), "{body}: {answer}");
    }
    assert_eq!(h.active().await, before);
    let small = h.emulator.snapshot().teams[1].projects[0].firewall.clone();
    assert_eq!(small["version"], 1, "the 402 wrote nothing");
    assert!(h.emulator.log().writes().iter().all(|w| w.status >= 400));
}

#[tokio::test]
async fn tokens_and_teams_are_checked_and_never_echoed() {
    let h = Harness::start().await;
    let path = format!("/v1/security/firewall/config/active?projectId={PROJECT}&teamId={TEAM}");
    for token in [None, Some("wrong-token-XYZ")] {
        let (status, body) = h.call_as(token, Method::GET, &path, None).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "forbidden");
        assert!(!body.to_string().contains("XYZ"), "{body}");
    }
    let (status, body) = h
        .call(
            Method::GET,
            &format!("/v1/security/firewall/config/active?projectId={PROJECT}&teamId=team_other"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _) = h
        .call(
            Method::GET,
            &format!("/v1/security/firewall/config/active?projectId=prj_none&teamId={TEAM}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = h
        .call(Method::GET, &format!("/v2/teams/{TEAM}"), None)
        .await;
    assert_eq!((status, body["id"].as_str()), (200, Some(TEAM)));
}

#[tokio::test]
async fn attack_mode_is_set_and_read_back_from_the_project() {
    let h = Harness::start().await;
    let until = 4_102_444_800_000_i64; // 2100-01-01
    let (status, body) = h
        .call(
            Method::POST,
            &format!("/v1/security/attack-mode?teamId={TEAM}"),
            Some(json!({"projectId": PROJECT, "attackModeEnabled": true, "attackModeActiveUntil": until})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["attackModeEnabled"], true);
    let (_, project) = h
        .call(
            Method::GET,
            &format!("/v9/projects/{PROJECT}?teamId={TEAM}"),
            None,
        )
        .await;
    assert_eq!(project["security"]["attackModeEnabled"], true);
    assert_eq!(project["security"]["attackModeActiveUntil"], until);
    let (status, body) = h
        .call(
            Method::POST,
            &format!("/v1/security/attack-mode?teamId={TEAM}"),
            Some(json!({"projectId": PROJECT, "attackModeEnabled": true, "attackModeActiveUntil": 1000})),
        )
        .await;
    assert_eq!(status, 400, "an expiry in the past: {body}");
}

#[tokio::test]
async fn bypass_entries_page_by_id_and_are_added_and_removed() {
    let h = Harness::start().await;
    let base = format!("/v1/security/firewall/bypass?projectId={PROJECT}&teamId={TEAM}");
    let (_, first) = h.call(Method::GET, &format!("{base}&limit=2"), None).await;
    assert_eq!(first["result"].as_array().map(Vec::len), Some(2));
    let after = first["pagination"]["Id"].as_str().expect("a next page");
    let (_, second) = h
        .call(Method::GET, &format!("{base}&limit=2&offset={after}"), None)
        .await;
    assert_eq!(second["result"].as_array().map(Vec::len), Some(1));
    assert!(second.get("pagination").is_none(), "{second}");
    assert_eq!(second["result"][0]["IsProjectRule"], true);

    let (status, added) = h
        .call(
            Method::POST,
            &base,
            Some(json!({"projectScope": true, "sourceIp": "192.0.2.10", "note": "probe"})),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["ok"], true);
    let (status, _) = h
        .call(
            Method::POST,
            &base,
            Some(json!({"domain": "web.example.com", "projectScope": true, "sourceIp": "1.2.3.4"})),
        )
        .await;
    assert_eq!(status, 400, "domain and projectScope together");
    let (status, _) = h
        .call(
            Method::DELETE,
            &base,
            Some(json!({"domain": "web.example.com", "sourceIp": "198.51.100.1"})),
        )
        .await;
    assert_eq!(status, 200);
    let left: Vec<Value> = h.emulator.snapshot().teams[0].projects[0].bypass.clone();
    let ips: Vec<&str> = left.iter().filter_map(|e| e["Ip"].as_str()).collect();
    assert_eq!(ips, ["198.51.100.2", "198.51.100.3", "192.0.2.10"]);
}

#[tokio::test]
async fn drains_are_created_updated_listed_and_deleted() {
    let h = Harness::start().await;
    let (_, listed) = h
        .call(Method::GET, &format!("/v1/drains?teamId={TEAM}"), None)
        .await;
    assert_eq!(listed["drains"][0]["status"], "enabled");
    assert!(listed["drains"][0].get("projects").is_none(), "{listed}");
    let (status, created) = h
        .call(
            Method::POST,
            &format!("/v1/drains?teamId={TEAM}"),
            Some(json!({"name": "traces", "projects": "some", "projectIds": [PROJECT],
                        "schemas": {"trace": {"version": "v1"}},
                        "delivery": {"type": "otlphttp", "endpoint": {"traces": "https://otel.example.com"}, "encoding": "proto", "headers": {}}})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let (status, bad) = h
        .call(
            Method::POST,
            &format!("/v1/drains?teamId={TEAM}"),
            Some(
                json!({"name": "x", "projects": "all", "schemas": {"log": {"version": "v1"}},
                        "delivery": {"type": "http", "endpoint": "https://a", "headers": {}}}),
            ),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("delivery.encoding")
    );
    let (status, updated) = h
        .call(
            Method::PATCH,
            &format!("/v1/drains/{id}?teamId={TEAM}"),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(
        (status, updated["status"].as_str()),
        (200, Some("disabled"))
    );
    let (status, _) = h
        .call(
            Method::DELETE,
            &format!("/v1/drains/{id}?teamId={TEAM}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = h
        .call(Method::GET, &format!("/v1/drains/{id}?teamId={TEAM}"), None)
        .await;
    assert_eq!(status, 404);
    let (_, legacy) = h
        .call(Method::GET, &format!("/v1/log-drains?teamId={TEAM}"), None)
        .await;
    assert!(legacy[0]["id"].is_string(), "{legacy}");
    let (_, attack) = h
        .call(
            Method::GET,
            &format!("/v1/security/firewall/attack-status?projectId={PROJECT}&teamId={TEAM}"),
            None,
        )
        .await;
    assert_eq!(attack["anomalies"][0]["state"], "active");
}

#[tokio::test]
async fn faults_and_throttling_answer_in_vercels_envelope() {
    let h = Harness::start().await;
    h.emulator.faults().inject(
        FaultRule::new(
            "/v1/drains",
            Fault::RateLimited {
                retry_after_secs: 3,
            },
        )
        .method("GET")
        .times(1),
    );
    let resp = h
        .http
        .get(format!("{}/v1/drains?teamId={TEAM}", h.running.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("3")
    );
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");

    h.emulator.set_rate_limit(2, Duration::from_secs(60));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, body) = h
            .call(Method::GET, &format!("/v1/drains?teamId={TEAM}"), None)
            .await;
        statuses.push(status);
        if status == 429 {
            assert_eq!(body["error"]["limit"]["total"], 2, "{body}");
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(h.emulator.log().count("GET", "/v1/drains"), 4);
}

#[tokio::test]
async fn attack_mode_reads_as_off_once_its_expiry_has_passed() {
    let h = Harness::start().await;
    h.emulator.mutate(|s| {
        s.teams[0].projects[0].attack_mode.enabled = true;
        s.teams[0].projects[0].attack_mode.active_until = Some(1_000);
    });
    let (_, project) = h
        .call(
            Method::GET,
            &format!("/v9/projects/{PROJECT}?teamId={TEAM}"),
            None,
        )
        .await;
    assert_eq!(project["security"]["attackModeEnabled"], false, "{project}");
}
