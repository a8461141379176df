//! Behaviour of the Cloudflare emulator over real HTTP, as the operator's client sees it.

use std::time::{Duration, Instant};

use perimeter_emulators::cloudflare::{
    AccessRule, AccessRuleConfiguration, CloudflareEmulator, Seed,
};
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::server::RunningEmulator;
use reqwest::Method;
use serde_json::{Value, json};

const TOKEN: &str = "test-token-s3cr3t";
const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const ZONE: &str = "fedcba9876543210fedcba9876543210";
const CUSTOM: &str = "http_request_firewall_custom";
const RATELIMIT: &str = "http_ratelimit";

fn seed() -> Seed {
    serde_json::from_value(json!({
        "tokens": [TOKEN],
        "accounts": [{
            "id": ACCOUNT,
            "name": "Example",
            "alerting_policies": [{
                "name": "L7 DDoS",
                "alert_type": "dos_attack_l7",
                "enabled": true,
                "mechanisms": {"email": [{"id": "ops@example.com"}]},
                "alert_interval": "30m"
            }],
            "logpush_jobs": [{"id": 7, "dataset": "audit_logs", "destination_conf": "https://logs.example.com/cf"}]
        }],
        "zones": [{
            "id": ZONE,
            "name": "example.com",
            "account_id": ACCOUNT,
            "settings": {"security_level": "high", "ssl": "full"},
            "rulesets": {
                CUSTOM: {"rules": [
                    {"ref": "block-admin", "expression": "http.request.uri.path eq \"/admin\"", "action": "block"},
                    {"expression": "ip.src eq 198.51.100.7", "action": "managed_challenge", "description": "suspicious"}
                ]},
                RATELIMIT: {"rules": [{
                    "ref": "login-rl",
                    "expression": "http.request.uri.path eq \"/login\"",
                    "action": "block",
                    "ratelimit": {"characteristics": ["cf.colo.id", "ip.src"], "period": 60, "requests_per_period": 100, "mitigation_timeout": 600}
                }]}
            },
            "access_rules": [{"mode": "block", "configuration": {"target": "ip", "value": "198.51.100.4"}, "notes": "scanner"}],
            "logpush_jobs": [{"dataset": "firewall_events", "destination_conf": "s3://logs/cf?region=us-east-1", "enabled": true}]
        }]
    }))
    .expect("test seed parses")
}

struct Harness {
    emulator: CloudflareEmulator,
    running: RunningEmulator,
    client: reqwest::Client,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    fn result(&self) -> Value {
        self.json()["result"].clone()
    }
    fn error_codes(&self) -> Vec<u64> {
        let body = self.json();
        assert_eq!(body["success"], false, "{body}");
        assert!(body["result"].is_null(), "{body}");
        body["errors"]
            .as_array()
            .expect("errors array")
            .iter()
            .map(|e| e["code"].as_u64().expect("numeric code"))
            .collect()
    }
}

impl Harness {
    async fn start(seed: Seed) -> Self {
        let emulator = CloudflareEmulator::new(seed);
        let running = emulator.start("127.0.0.1:0").await.expect("binds");
        Self {
            emulator,
            running,
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/client/v4{path}", self.running.base_url())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request completes");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body readable");
        Answer {
            status,
            headers,
            text,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }
}

fn entrypoint(phase: &str) -> String {
    format!("/zones/{ZONE}/rulesets/phases/{phase}/entrypoint")
}

#[tokio::test]
async fn seed_reads_back_with_generated_ids_and_defaults() {
    let h = Harness::start(seed()).await;

    let verify = h.get("/user/tokens/verify").await;
    assert_eq!(verify.status, 200);
    assert_eq!(verify.result()["status"], "active");
    assert_eq!(verify.result()["id"].as_str().map(str::len), Some(32));

    let zone = h.get(&format!("/zones/{ZONE}")).await;
    assert_eq!(zone.status, 200);
    let body = zone.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["errors"], json!([]));
    assert_eq!(body["messages"], json!([]));
    assert_eq!(body["result"]["name"], "example.com");
    assert_eq!(body["result"]["status"], "active");
    assert_eq!(
        body["result"]["account"],
        json!({"id": ACCOUNT, "name": "Example"})
    );

    let zones = h.get("/zones?name=example.com").await.json();
    assert_eq!(zones["result"][0]["id"], ZONE);
    assert_eq!(zones["result_info"]["total_count"], 1);

    let custom = h.get(&entrypoint(CUSTOM)).await.result();
    assert_eq!(custom["phase"], CUSTOM);
    assert_eq!(custom["kind"], "zone");
    assert_eq!(custom["version"], "1");
    let rules = custom["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["ref"], "block-admin");
    let generated = rules[1]["id"].as_str().expect("id");
    assert_eq!(generated.len(), 32);
    assert!(
        generated
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(rules[1]["ref"], generated, "ref defaults to the id");
    assert_eq!(rules[1]["version"], "1");
    assert_eq!(rules[1]["enabled"], true);
    assert!(
        rules[1]["last_updated"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let rl = h.get(&entrypoint(RATELIMIT)).await.result();
    assert_eq!(rl["rules"][0]["ratelimit"]["period"], 60);

    let list = h.get(&format!("/zones/{ZONE}/rulesets")).await.result();
    let list = list.as_array().expect("list");
    assert!(list.iter().all(|r| r.get("rules").is_none()));
    assert!(
        list.iter()
            .any(|r| r["phase"] == RATELIMIT && r["kind"] == "zone")
    );
    assert!(list.iter().any(|r| r["kind"] == "managed"));

    let settings = h.get(&format!("/zones/{ZONE}/settings")).await.result();
    let value_of = |id: &str| {
        settings
            .as_array()
            .and_then(|s| s.iter().find(|s| s["id"] == id))
            .map(|s| s["value"].clone())
    };
    assert_eq!(value_of("security_level"), Some(json!("high")));
    assert_eq!(value_of("ssl"), Some(json!("full")));
    assert_eq!(
        value_of("min_tls_version"),
        Some(json!("1.0")),
        "default filled in"
    );
    assert_eq!(value_of("browser_check"), Some(json!("on")));
    let one = h.get(&format!("/zones/{ZONE}/settings/ssl")).await.result();
    assert_eq!(
        one,
        json!({"id": "ssl", "value": "full", "editable": true, "modified_on": null})
    );

    let rules = h
        .get(&format!("/zones/{ZONE}/firewall/access_rules/rules"))
        .await
        .result();
    assert_eq!(
        rules[0]["configuration"],
        json!({"target": "ip", "value": "198.51.100.4"})
    );
    assert_eq!(rules[0]["notes"], "scanner");
    assert!(
        rules[0]["allowed_modes"]
            .as_array()
            .is_some_and(|m| m.len() == 5)
    );

    let policies = h
        .get(&format!("/accounts/{ACCOUNT}/alerting/v3/policies"))
        .await
        .json();
    assert_eq!(policies["result_info"]["total_count"], 1);
    let policy = &policies["result"][0];
    assert_eq!(policy["alert_type"], "dos_attack_l7");
    assert_eq!(policy["alert_interval"], "30m");
    assert_eq!(
        policy["id"].as_str().map(str::len),
        Some(36),
        "policy ids are UUIDs"
    );
    assert!(policy["created"].is_string() && policy["modified"].is_string());

    let jobs = h.get(&format!("/zones/{ZONE}/logpush/jobs")).await.result();
    let job = &jobs[0];
    assert!(job["id"].is_u64());
    assert_ne!(
        job["id"], 7,
        "generated ids do not collide with seeded ones"
    );
    assert_eq!(job["dataset"], "firewall_events");
    assert_eq!(job["enabled"], true);
    for health in ["last_complete", "last_error", "error_message"] {
        assert!(job[health].is_null(), "{health} defaults to null");
    }
    let account_jobs = h
        .get(&format!("/accounts/{ACCOUNT}/logpush/jobs"))
        .await
        .result();
    assert_eq!(account_jobs[0]["id"], 7);

    assert!(seed().validate().is_ok());
}

#[tokio::test]
async fn put_entrypoint_replaces_rules_atomically_and_bumps_versions() {
    let h = Harness::start(seed()).await;
    let before = h.get(&entrypoint(CUSTOM)).await.result();
    let kept_id = before["rules"][0]["id"].clone();
    let dropped_id = before["rules"][1]["id"].clone();

    // Echo the first rule back as read (read-only fields included) and add a new one.
    let mut unchanged = before["rules"][0].clone();
    unchanged["categories"] = json!(["ignored"]);
    let put = h
        .call(
            Method::PUT,
            &entrypoint(CUSTOM),
            Some(json!({"rules": [
                unchanged,
                {"ref": "challenge-bots", "expression": "cf.client.bot", "action": "managed_challenge", "enabled": false}
            ]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let after = put.result();
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["version"], "2");
    assert_ne!(after["last_updated"], before["last_updated"]);
    let rules = after["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["id"], kept_id);
    assert_eq!(rules[0]["version"], "1", "untouched rule keeps its version");
    assert_eq!(rules[0]["last_updated"], before["rules"][0]["last_updated"]);
    assert!(rules[0].get("categories").is_none());
    assert!(
        rules.iter().all(|r| r["id"] != dropped_id),
        "omitted rules are deleted"
    );
    assert_eq!(rules[1]["ref"], "challenge-bots");
    assert_eq!(rules[1]["enabled"], false);
    assert_eq!(rules[1]["id"].as_str().map(str::len), Some(32));

    // Changing a kept rule bumps that rule's version; GET returns what PUT returned.
    let mut edited = rules[0].clone();
    edited["expression"] = json!("http.request.uri.path contains \"/admin\"");
    let third = h
        .call(
            Method::PUT,
            &entrypoint(CUSTOM),
            Some(
                json!({"description": "managed by perimeter", "rules": [edited, rules[1].clone()]}),
            ),
        )
        .await
        .result();
    assert_eq!(third["version"], "3");
    assert_eq!(third["description"], "managed by perimeter");
    assert_eq!(third["rules"][0]["version"], "2");
    assert_eq!(third["rules"][1]["version"], "1");
    assert_eq!(h.get(&entrypoint(CUSTOM)).await.result(), third);

    // A phase with no entry point yet: 404, then PUT creates version 1.
    let managed = entrypoint("http_request_firewall_managed");
    let missing = h.get(&managed).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_codes(), vec![10003]);
    let created = h
        .call(
            Method::PUT,
            &managed,
            Some(json!({"rules": [{"expression": "true", "action": "execute",
                "action_parameters": {"id": "efb7b8c949ac4650a09736fc376e9aee"}}]})),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.result()["version"], "1");
    assert_eq!(created.result()["name"], "default");
}

#[tokio::test]
async fn invalid_rules_are_rejected_and_nothing_changes() {
    let h = Harness::start(seed()).await;
    let before = h.get(&entrypoint(CUSTOM)).await.result();
    let snapshot = h.emulator.snapshot();

    let bad = h
        .call(
            Method::PUT,
            &entrypoint(CUSTOM),
            Some(json!({"rules": [
                {"ref": "fine", "expression": "ip.src eq 192.0.2.1", "action": "block"},
                {"ref": "no-expression", "action": "block"},
                {"ref": "bad-action", "expression": "true", "action": "explode"},
                {"ref": "fine", "expression": "true", "action": "log"},
                {"id": "00000000000000000000000000000000", "expression": "true", "action": "log"}
            ]})),
        )
        .await;
    assert_eq!(bad.status, 400);
    let body = bad.json();
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["source"]["pointer"].as_str())
        .collect();
    assert!(pointers.contains(&"/rules/1/expression"), "{body}");
    assert!(pointers.contains(&"/rules/2/action"), "{body}");
    assert!(pointers.contains(&"/rules/3/ref"), "duplicate ref: {body}");
    assert!(pointers.contains(&"/rules/4/id"), "unknown id: {body}");
    assert_eq!(h.get(&entrypoint(CUSTOM)).await.result(), before);
    assert_eq!(h.emulator.snapshot(), snapshot);

    // Rate-limit rules need a ratelimit object with cf.colo.id and positive numbers.
    for ratelimit in [
        None,
        Some(json!({"characteristics": ["ip.src"], "period": 60, "requests_per_period": 10})),
        Some(json!({"characteristics": ["cf.colo.id"], "period": 0, "requests_per_period": 10})),
        Some(json!({"characteristics": ["cf.colo.id"], "period": 60, "requests_per_period": -1})),
    ] {
        let mut rule = json!({"expression": "true", "action": "block"});
        if let Some(rl) = ratelimit {
            rule["ratelimit"] = rl;
        }
        let answer = h
            .call(
                Method::PUT,
                &entrypoint(RATELIMIT),
                Some(json!({"rules": [rule]})),
            )
            .await;
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert_eq!(answer.error_codes(), vec![20021]);
    }
    // Actions must suit the phase; missing rules list and bad JSON are refused too.
    let wrong_phase = h
        .call(
            Method::PUT,
            &entrypoint(CUSTOM),
            Some(json!({"rules": [{"expression": "true", "action": "execute", "action_parameters": {"id": "efb7b8c949ac4650a09736fc376e9aee"}}]})),
        )
        .await;
    assert_eq!(wrong_phase.status, 400);
    let no_rules = h
        .call(Method::PUT, &entrypoint(CUSTOM), Some(json!({})))
        .await;
    assert_eq!(no_rules.status, 400);
    let garbage = h
        .send(
            h.client
                .put(h.url(&entrypoint(CUSTOM)))
                .bearer_auth(TOKEN)
                .body("{not json"),
        )
        .await;
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.error_codes(), vec![6007]);
    let bad_phase = h.get(&entrypoint("http_request_nonsense")).await;
    assert_eq!(bad_phase.status, 400);
    assert_eq!(h.emulator.snapshot(), snapshot);
}

#[tokio::test]
async fn access_rules_paginate_filter_and_edit() {
    let mut seed = seed();
    seed.zones[0].access_rules = (0..45)
        .map(|i| AccessRule {
            mode: if i % 3 == 0 { "challenge" } else { "block" }.to_owned(),
            configuration: AccessRuleConfiguration {
                target: "ip".to_owned(),
                value: format!("192.0.2.{i}"),
            },
            notes: format!("rule {i}"),
            ..AccessRule::default()
        })
        .collect();
    let h = Harness::start(seed).await;
    let path = format!("/zones/{ZONE}/firewall/access_rules/rules");

    let mut seen = std::collections::BTreeSet::new();
    for (page, expected) in [(1, 20), (2, 20), (3, 5)] {
        let answer = h
            .get(&format!("{path}?page={page}&per_page=20"))
            .await
            .json();
        assert_eq!(answer["result"].as_array().map(Vec::len), Some(expected));
        assert_eq!(
            answer["result_info"],
            json!({"page": page, "per_page": 20, "count": expected, "total_count": 45, "total_pages": 3})
        );
        for rule in answer["result"].as_array().expect("page") {
            seen.insert(rule["id"].as_str().expect("id").to_owned());
        }
    }
    assert_eq!(seen.len(), 45, "pages do not overlap");
    let beyond = h.get(&format!("{path}?page=4&per_page=20")).await.json();
    assert_eq!(beyond["result"], json!([]));
    let default = h.get(&path).await.json();
    assert_eq!(default["result_info"]["per_page"], 20);
    assert_eq!(default["result_info"]["total_pages"], 3);
    assert_eq!(h.get(&format!("{path}?page=zero")).await.status, 400);

    let challenges = h
        .get(&format!("{path}?mode=challenge&per_page=100"))
        .await
        .json();
    assert_eq!(challenges["result_info"]["total_count"], 15);
    let exact = h
        .get(&format!(
            "{path}?configuration.target=ip&configuration.value=192.0.2.44"
        ))
        .await
        .result();
    assert_eq!(exact.as_array().map(Vec::len), Some(1));
    assert_eq!(exact[0]["notes"], "rule 44");

    let create = |value: &str| json!({"mode": "block", "configuration": {"target": "ip", "value": value}, "notes": "new"});
    let created = h
        .call(Method::POST, &path, Some(create("203.0.113.9")))
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let id = created.result()["id"].as_str().expect("id").to_owned();
    let duplicate = h
        .call(Method::POST, &path, Some(create("203.0.113.9")))
        .await;
    assert_eq!(duplicate.status, 400);
    assert_eq!(duplicate.error_codes(), vec![10009]);
    let invalid = h
        .call(
            Method::POST,
            &path,
            Some(
                json!({"mode": "nuke", "configuration": {"target": "ip", "value": "203.0.113.10"}}),
            ),
        )
        .await;
    assert_eq!(invalid.status, 400);
    let bad_value = h.call(Method::POST, &path, Some(create("not-an-ip"))).await;
    assert_eq!(bad_value.status, 400);

    let patched = h
        .call(
            Method::PATCH,
            &format!("{path}/{id}"),
            Some(json!({"mode": "challenge", "notes": "softened"})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.result()["mode"], "challenge");
    assert_eq!(patched.result()["notes"], "softened");
    assert_eq!(patched.result()["configuration"]["value"], "203.0.113.9");
    let retarget = h
        .call(
            Method::PATCH,
            &format!("{path}/{id}"),
            Some(json!({"configuration": {"target": "ip", "value": "203.0.113.10"}})),
        )
        .await;
    assert_eq!(retarget.status, 400, "only mode and notes are editable");

    let deleted = h.call(Method::DELETE, &format!("{path}/{id}"), None).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.result(), json!({"id": id}));
    let again = h.call(Method::DELETE, &format!("{path}/{id}"), None).await;
    assert_eq!(again.status, 404);
    assert_eq!(h.get(&path).await.json()["result_info"]["total_count"], 45);
}

#[tokio::test]
async fn authentication_failures_do_not_echo_the_token() {
    let h = Harness::start(seed()).await;
    let url = h.url(&format!("/zones/{ZONE}"));
    let secret = "wrong-token-value-9f8e7d";
    for request in [
        h.client.get(&url),
        h.client.get(&url).bearer_auth(secret),
        h.client
            .get(&url)
            .header("X-Auth-Email", "a@example.com")
            .header("X-Auth-Key", secret),
    ] {
        let answer = h.send(request).await;
        assert_eq!(answer.status, 401);
        assert_eq!(
            answer.json(),
            json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": [], "result": null})
        );
        assert!(!answer.text.contains(secret));
    }
    // The log records the refusals, and never headers.
    assert_eq!(h.emulator.log().count("GET", "/zones/"), 3);
    assert!(h.emulator.log().entries().iter().all(|e| e.status == 401));
}

#[tokio::test]
async fn rate_limit_fault_answers_429_then_recovers() {
    let h = Harness::start(seed()).await;
    h.emulator.faults().inject(
        FaultRule::new(
            "/rulesets/phases/",
            Fault::RateLimited {
                retry_after_secs: 3,
            },
        )
        .method("GET")
        .times(2),
    );
    for _ in 0..2 {
        let answer = h.get(&entrypoint(CUSTOM)).await;
        assert_eq!(answer.status, 429);
        assert_eq!(
            answer
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("3")
        );
        assert_eq!(answer.error_codes(), vec![971]);
    }
    // Other paths were never affected, and the rule is exhausted now.
    assert_eq!(h.get(&format!("/zones/{ZONE}")).await.status, 200);
    assert_eq!(h.get(&entrypoint(CUSTOM)).await.status, 200);
    assert!(h.emulator.faults().rules().is_empty());
    let statuses: Vec<u16> = h
        .emulator
        .log()
        .entries()
        .iter()
        .filter(|e| e.path.contains("/rulesets/phases/"))
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, vec![429, 429, 200]);
}

#[tokio::test]
async fn server_error_malformed_and_wrong_shape_faults() {
    let h = Harness::start(seed()).await;
    let faults = h.emulator.faults();

    faults.inject(FaultRule::new("/settings", Fault::ServerError { status: 503 }).times(1));
    let outage = h.get(&format!("/zones/{ZONE}/settings")).await;
    assert_eq!(outage.status, 503);
    assert_eq!(outage.error_codes(), vec![10002]);

    faults.inject(FaultRule::new("/settings", Fault::Malformed).times(1));
    let malformed = h.get(&format!("/zones/{ZONE}/settings")).await;
    assert_eq!(malformed.status, 200);
    assert_eq!(
        malformed
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert!(serde_json::from_str::<Value>(&malformed.text).is_err());

    faults.inject(FaultRule::new("/settings", Fault::WrongShape).times(1));
    let wrong = h.get(&format!("/zones/{ZONE}/settings")).await;
    assert_eq!(wrong.status, 200);
    assert_eq!(wrong.json()["success"], true);
    assert!(
        wrong.result().is_string(),
        "result is neither object nor array"
    );

    // Faults consumed: a normal answer again. A write fault does not touch state.
    assert!(
        h.get(&format!("/zones/{ZONE}/settings"))
            .await
            .result()
            .is_array()
    );
    faults.inject(FaultRule::new("", Fault::ServerError { status: 500 }).method("PATCH"));
    let failed_write = h
        .call(
            Method::PATCH,
            &format!("/zones/{ZONE}/settings/ssl"),
            Some(json!({"value": "strict"})),
        )
        .await;
    assert_eq!(failed_write.status, 500);
    assert_eq!(h.emulator.snapshot().zones[0].settings["ssl"], "full");
    faults.clear();
    assert!(faults.rules().is_empty());
}

#[tokio::test]
async fn hang_fault_delays_and_can_time_out_a_client() {
    let h = Harness::start(seed()).await;
    h.emulator
        .faults()
        .inject(FaultRule::new(format!("/zones/{ZONE}"), Fault::Hang { millis: 300 }).times(1));
    let started = Instant::now();
    let slow = h.get(&format!("/zones/{ZONE}")).await;
    assert_eq!(slow.status, 200, "a hang answers normally in the end");
    assert!(started.elapsed() >= Duration::from_millis(300));

    h.emulator
        .faults()
        .inject(FaultRule::new(format!("/zones/{ZONE}"), Fault::Hang { millis: 1500 }).times(1));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .expect("client");
    let err = impatient
        .get(h.url(&format!("/zones/{ZONE}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect_err("times out");
    assert!(err.is_timeout());
    // Shutdown does not wait for the parked request beyond its grace period.
    let started = Instant::now();
    h.running.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn settings_bulk_patch_is_atomic() {
    let h = Harness::start(seed()).await;
    let path = format!("/zones/{ZONE}/settings");

    let rejected = h
        .call(
            Method::PATCH,
            &path,
            Some(json!({"items": [
                {"id": "min_tls_version", "value": "1.2"},
                {"id": "ssl", "value": "extreme"},
                {"id": "no_such_setting", "value": "on"}
            ]})),
        )
        .await;
    assert_eq!(rejected.status, 400);
    assert_eq!(rejected.error_codes(), vec![1007, 1006]);
    let settings = h.emulator.snapshot().zones[0].settings.clone();
    assert_eq!(
        settings["min_tls_version"], "1.0",
        "valid item not applied either"
    );
    assert_eq!(settings["ssl"], "full");

    let accepted = h
        .call(
            Method::PATCH,
            &path,
            Some(json!({"items": [
                {"id": "min_tls_version", "value": "1.2"},
                {"id": "ssl", "value": "strict"},
                {"id": "always_use_https", "value": "on"}
            ]})),
        )
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let result = accepted.result();
    assert_eq!(result.as_array().map(Vec::len), Some(3));
    assert!(result[0]["modified_on"].is_string());
    let one = h.get(&format!("{path}/min_tls_version")).await.result();
    assert_eq!(one["value"], "1.2");
    assert!(one["modified_on"].is_string());

    // The 2024 spec's bare-array body is accepted too.
    let bare = h
        .call(
            Method::PATCH,
            &path,
            Some(json!([{"id": "tls_1_3", "value": "zrt"}])),
        )
        .await;
    assert_eq!(bare.status, 200, "{}", bare.text);

    let single_bad = h
        .call(
            Method::PATCH,
            &format!("{path}/security_level"),
            Some(json!({"value": "paranoid"})),
        )
        .await;
    assert_eq!(single_bad.status, 400);
    let unknown = h.get(&format!("{path}/no_such_setting")).await;
    assert_eq!(unknown.status, 404);
    let no_value = h
        .call(
            Method::PATCH,
            &format!("{path}/ssl"),
            Some(json!({"val": "strict"})),
        )
        .await;
    assert_eq!(no_value.status, 400);
}

#[tokio::test]
async fn notification_policies_crud() {
    let h = Harness::start(seed()).await;
    let path = format!("/accounts/{ACCOUNT}/alerting/v3/policies");
    let policy = json!({
        "name": "Firewall anomalies",
        "alert_type": "clickhouse_alert_fw_anomaly",
        "enabled": true,
        "mechanisms": {"email": [{"id": "sec@example.com"}], "webhooks": [{"id": "14cc1190-5d2b-4b98-a696-c424cb2ad05f"}]},
        "filters": {"zones": [ZONE]},
        "description": "managed"
    });
    let created = h.call(Method::POST, &path, Some(policy.clone())).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let result = created.result();
    assert_eq!(
        result.as_object().map(|o| o.len()),
        Some(1),
        "create returns only {{id}}"
    );
    let id = result["id"].as_str().expect("id").to_owned();

    let read = h.get(&format!("{path}/{id}")).await.result();
    assert_eq!(read["name"], "Firewall anomalies");
    assert_eq!(read["filters"]["zones"], json!([ZONE]));
    assert_eq!(
        read["mechanisms"]["webhooks"][0]["id"],
        "14cc1190-5d2b-4b98-a696-c424cb2ad05f"
    );
    let created_at = read["created"].clone();

    let page = h.get(&format!("{path}?per_page=1&page=2")).await.json();
    assert_eq!(page["result_info"]["total_count"], 2);
    assert_eq!(page["result_info"]["total_pages"], 2);
    assert_eq!(page["result"][0]["id"], id.as_str());

    let mut replacement = policy.clone();
    replacement["enabled"] = json!(false);
    let replaced = h
        .call(Method::PUT, &format!("{path}/{id}"), Some(replacement))
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.result(), json!({"id": id}));
    let read = h.get(&format!("{path}/{id}")).await.result();
    assert_eq!(read["enabled"], false);
    assert_eq!(read["created"], created_at);

    for missing in ["name", "alert_type", "enabled", "mechanisms"] {
        let mut body = policy.clone();
        body.as_object_mut().expect("object").remove(missing);
        let answer = h.call(Method::POST, &path, Some(body.clone())).await;
        assert_eq!(answer.status, 400, "missing {missing}");
        let answer = h
            .call(Method::PUT, &format!("{path}/{id}"), Some(body))
            .await;
        assert_eq!(answer.status, 400, "missing {missing} on PUT");
    }
    let mut bad_type = policy.clone();
    bad_type["alert_type"] = json!("made_up_alert");
    assert_eq!(
        h.call(Method::POST, &path, Some(bad_type)).await.status,
        400
    );

    let deleted = h.call(Method::DELETE, &format!("{path}/{id}"), None).await;
    assert_eq!(deleted.status, 200);
    let gone = h.get(&format!("{path}/{id}")).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.error_codes(), vec![17002]);
    let other_account = h
        .get("/accounts/ffffffffffffffffffffffffffffffff/alerting/v3/policies")
        .await;
    assert_eq!(other_account.status, 404);
    assert_eq!(other_account.error_codes(), vec![7003]);
}

#[tokio::test]
async fn logpush_jobs_crud_at_both_scopes() {
    let h = Harness::start(seed()).await;
    let path = format!("/zones/{ZONE}/logpush/jobs");
    let created = h
        .call(
            Method::POST,
            &path,
            Some(json!({
                "name": "example.com",
                "dataset": "http_requests",
                "destination_conf": "datadog://http-intake.logs.datadoghq.com?header_DD-API-KEY=x",
                "output_options": {"output_type": "ndjson", "field_names": ["ClientIP", "EdgeResponseStatus"]}
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let job = created.result();
    let id = job["id"].as_u64().expect("integer id");
    assert_eq!(job["enabled"], false);
    assert_eq!(job["frequency"], "high");
    assert!(job["last_error"].is_null() && job["error_message"].is_null());

    let updated = h
        .call(
            Method::PUT,
            &format!("{path}/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.result()["enabled"], true);
    assert_eq!(updated.result()["dataset"], "http_requests");
    let dataset_change = h
        .call(
            Method::PUT,
            &format!("{path}/{id}"),
            Some(json!({"dataset": "dns_logs"})),
        )
        .await;
    assert_eq!(dataset_change.status, 400);
    assert_eq!(
        h.get(&format!("{path}/{id}")).await.result()["enabled"],
        true
    );

    let missing_dest = h
        .call(
            Method::POST,
            &path,
            Some(json!({"dataset": "firewall_events"})),
        )
        .await;
    assert_eq!(missing_dest.status, 400);
    assert_eq!(missing_dest.error_codes(), vec![1004]);
    let missing_dataset = h
        .call(
            Method::POST,
            &path,
            Some(json!({"destination_conf": "s3://b/p"})),
        )
        .await;
    assert_eq!(missing_dataset.status, 400);
    assert_eq!(h.get(&format!("{path}/not-a-number")).await.status, 400);
    assert_eq!(h.get(&format!("{path}/999")).await.status, 404);

    let deleted = h.call(Method::DELETE, &format!("{path}/{id}"), None).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(h.get(&format!("{path}/{id}")).await.status, 404);

    let account_path = format!("/accounts/{ACCOUNT}/logpush/jobs");
    let account_job = h
        .call(
            Method::POST,
            &account_path,
            Some(json!({"dataset": "audit_logs", "destination_conf": "r2://bucket/audit"})),
        )
        .await;
    assert_eq!(account_job.status, 200, "{}", account_job.text);
    assert_eq!(
        h.get(&account_path).await.result().as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn routing_errors_use_the_envelope() {
    let h = Harness::start(seed()).await;
    let unknown_zone = h
        .get("/zones/ffffffffffffffffffffffffffffffff/rulesets")
        .await;
    assert_eq!(unknown_zone.status, 404);
    assert_eq!(unknown_zone.error_codes(), vec![7003]);
    let no_route = h.get("/zones/nope/dns_records/whatever/else").await;
    assert_eq!(no_route.status, 404);
    assert_eq!(no_route.error_codes(), vec![7000]);
    let wrong_method = h
        .call(Method::DELETE, &format!("/zones/{ZONE}/settings"), None)
        .await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.error_codes(), vec![7001]);
    let bad_query = h
        .get(&format!(
            "/zones/{ZONE}/firewall/access_rules/rules?mode=obliterate"
        ))
        .await;
    assert_eq!(bad_query.status, 400);
    assert_eq!(bad_query.error_codes(), vec![1001]);
}

#[tokio::test]
async fn request_log_records_paths_relative_to_the_prefix() {
    let h = Harness::start(seed()).await;
    let log = h.emulator.log();
    h.get(&format!("/zones/{ZONE}/settings?page=1")).await;
    h.call(
        Method::PATCH,
        &format!("/zones/{ZONE}/settings/ssl"),
        Some(json!({"value": "strict"})),
    )
    .await;
    let entries = log.entries();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].method, "GET");
    assert_eq!(entries[0].path, format!("/zones/{ZONE}/settings"));
    assert_eq!(entries[0].query.as_deref(), Some("page=1"));
    assert_eq!(entries[0].body, None);
    assert_eq!(entries[0].status, 200);
    let writes = log.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].body, Some(json!({"value": "strict"})));
    assert_eq!(log.count("patch", "/settings/ssl"), 1);
    log.clear();
    assert!(log.entries().is_empty());
}

#[tokio::test]
async fn configured_rate_limit_throttles_with_retry_after() {
    let h = Harness::start(seed()).await;
    h.emulator.set_rate_limit_window(2, Duration::from_secs(30));
    assert_eq!(h.get(&format!("/zones/{ZONE}")).await.status, 200);
    assert_eq!(h.get(&format!("/zones/{ZONE}")).await.status, 200);
    let throttled = h.get(&format!("/zones/{ZONE}")).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.error_codes(), vec![971]);
    let retry_after: u64 = throttled
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("retry-after seconds");
    assert!((1..=30).contains(&retry_after));
    assert!(throttled.headers.contains_key("ratelimit-policy"));
    h.emulator.set_rate_limit(0);
    assert_eq!(h.get(&format!("/zones/{ZONE}")).await.status, 200);
}

#[tokio::test]
async fn snapshot_reseeds_and_mutate_emulates_drift() {
    let first = CloudflareEmulator::new(seed());
    let snapshot = first.snapshot();
    let second = CloudflareEmulator::new(snapshot.clone());
    assert_eq!(
        second.snapshot(),
        snapshot,
        "a snapshot seeds an identical emulator"
    );
    // Same seed, same generated ids: runs are reproducible.
    let again = CloudflareEmulator::new(seed()).snapshot();
    assert_eq!(
        again.zones[0].rulesets[CUSTOM].rules[1].id,
        snapshot.zones[0].rulesets[CUSTOM].rules[1].id
    );

    let h = Harness::start(snapshot).await;
    h.emulator.mutate(|state| {
        state.zones[0]
            .settings
            .insert("security_level".into(), json!("low"));
        state.zones[0].access_rules.push(AccessRule {
            mode: "whitelist".into(),
            configuration: AccessRuleConfiguration {
                target: "country".into(),
                value: "NZ".into(),
            },
            ..AccessRule::default()
        });
    });
    let level = h
        .get(&format!("/zones/{ZONE}/settings/security_level"))
        .await
        .result();
    assert_eq!(level["value"], "low");
    let rules = h
        .get(&format!(
            "/zones/{ZONE}/firewall/access_rules/rules?configuration.value=NZ"
        ))
        .await
        .result();
    assert_eq!(rules[0]["mode"], "whitelist");
    assert!(rules[0]["id"].is_string());
}

#[test]
fn seed_validation_reports_problems() {
    let mut bad = seed();
    bad.zones[0].settings.insert("ssl".into(), json!("maximum"));
    bad.zones[0].account_id = "nobody".into();
    bad.zones[0]
        .rulesets
        .get_mut(RATELIMIT)
        .expect("ratelimit ruleset")
        .rules[0]
        .ratelimit = None;
    let problems = bad.validate().expect_err("invalid seed");
    assert_eq!(problems.len(), 3, "{problems:?}");
}
