use super::*;
use crate::faults::{Fault, FaultRule};

const TOKEN: &str = "emulated-betterstack-token";

fn emulator(extra: Value) -> BetterstackEmulator {
    let mut seed = json!({
        "tokens": [TOKEN],
        "policies": [{"id": 41, "name": "On-call", "repeat_count": 1, "repeat_delay": 60,
                      "incident_token": "t", "steps": []}],
        "slack_integrations": [{"id": 7, "slack_team_id": "T0123ABCD", "slack_channel_id": "C0123ABCD",
                                "slack_channel_name": "alerts", "slack_status": "active"}],
        "ips_by_cluster": {"us": ["45.79.122.169"], "eu": ["172.104.155.117"]}
    });
    if let (Some(s), Value::Object(e)) = (seed.as_object_mut(), extra) {
        s.extend(e);
    }
    let seed: Seed = serde_json::from_value(seed).expect("seed");
    seed.validate().expect("valid seed");
    BetterstackEmulator::new(seed)
}

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("answer");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[test]
fn seeds_are_checked() {
    for bad in [
        json!({"monitors": [{"id": 1, "url": "a", "monitor_type": "status"}, {"id": 1, "url": "b", "monitor_type": "status"}]}),
        json!({"monitors": [{"id": 1, "url": "a", "monitor_type": "http"}]}),
        json!({"monitors": [{"id": 1, "url": "a", "colour": "red"}]}),
        json!({"status_pages": [{"id": 1, "ip_allowlist": ["nope"]}]}),
        json!({"ips_by_cluster": {"us": ["nope"]}}),
        json!({"tokens": [" "]}),
    ] {
        let seed: Seed = serde_json::from_value(bad.clone()).expect("parses");
        assert!(seed.validate().is_err(), "{bad}");
    }
}

/// Create (201, Better Stack's defaults filled in), read, update (200), pause, delete (204),
/// then 404.
#[tokio::test]
async fn resources_are_created_read_updated_and_deleted() {
    let emu = emulator(json!({}));
    let running = emu.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let (status, created) = call(
        &base,
        reqwest::Method::POST,
        "/api/v2/monitors",
        Some(json!({"url": "https://example.com", "monitor_type": "status", "policy_id": "41"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().expect("id").to_string();
    assert_eq!(created["data"]["type"], json!("monitor"));
    let attrs = &created["data"]["attributes"];
    assert_eq!(attrs["check_frequency"], json!(180));
    assert_eq!(attrs["status"], json!("pending"));
    let (status, updated) = call(
        &base,
        reqwest::Method::PATCH,
        &format!("/api/v2/monitors/{id}"),
        Some(json!({"check_frequency": 60, "paused": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(updated["data"]["attributes"]["check_frequency"], json!(60));
    assert_eq!(updated["data"]["attributes"]["status"], json!("paused"));
    assert!(updated["data"]["attributes"]["paused_at"].is_string());
    let (status, read) = call(
        &base,
        reqwest::Method::GET,
        &format!("/api/v2/monitors/{id}"),
        None,
    )
    .await;
    assert_eq!(
        (status, &read["data"]["attributes"]["paused"]),
        (200, &json!(true))
    );
    let resp = reqwest::Client::new()
        .delete(format!("{base}/api/v2/monitors/{id}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 204);
    let (status, body) = call(
        &base,
        reqwest::Method::GET,
        &format!("/api/v2/monitors/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert!(body["errors"].is_string());
    // Escalation policies are v3; Slack integrations are read only.
    let (status, _) = call(&base, reqwest::Method::GET, "/api/v2/policies", None).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &base,
        reqwest::Method::POST,
        "/api/v2/slack-integrations",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 405);
}

/// Pages of `per_page` (default 50) with absolute `next` links, `null` on the last page; the
/// link base can be pointed elsewhere.
#[tokio::test]
async fn lists_are_paged_with_absolute_next_links() {
    let monitors: Vec<Value> = (1..=120)
        .map(|i| json!({"id": i, "url": format!("https://{i}.example"), "monitor_type": "status", "paused": false}))
        .collect();
    let emu = emulator(json!({ "monitors": monitors }));
    let running = emu.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let mut path = "/api/v2/monitors".to_string();
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let (status, page) = call(&base, reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200);
        seen += page["data"].as_array().map_or(0, Vec::len);
        pages += 1;
        match page["pagination"]["next"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&base), "{next}");
                path = next.trim_start_matches(&base).to_string();
            }
            None => break,
        }
    }
    assert_eq!((seen, pages), (120, 3));
    let (_, big) = call(
        &base,
        reqwest::Method::GET,
        "/api/v2/monitors?per_page=1000",
        None,
    )
    .await;
    assert_eq!(
        big["data"].as_array().map(Vec::len),
        Some(120),
        "capped at 250"
    );
    emu.set_link_base(Some("http://evil.example:1".into()));
    let (_, page) = call(&base, reqwest::Method::GET, "/api/v2/monitors", None).await;
    assert_eq!(
        page["pagination"]["next"],
        json!("http://evil.example:1/api/v2/monitors?page=2&per_page=50")
    );
    let (status, _) = call(&base, reqwest::Method::GET, "/api/v2/monitors?page=0", None).await;
    assert_eq!(status, 422);
}

/// Unknown, read-only and mistyped attributes, missing required ones, references to nothing
/// and a taken subdomain are refused with 422 and field errors; nothing changes.
#[tokio::test]
async fn invalid_writes_are_refused_with_field_errors() {
    let emu = emulator(
        json!({"status_pages": [{"id": 5, "company_name": "Acme", "subdomain": "acme", "published": true}]}),
    );
    let running = emu.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let cases = [
        (
            "/api/v2/monitors",
            json!({"url": "https://e", "monitor_type": "status", "checkFrequency": 60}),
            "checkFrequency",
        ),
        (
            "/api/v2/monitors",
            json!({"url": "https://e", "monitor_type": "status", "status": "up"}),
            "status",
        ),
        (
            "/api/v2/monitors",
            json!({"url": "https://e", "monitor_type": "status", "regions": "eu"}),
            "regions",
        ),
        (
            "/api/v2/monitors",
            json!({"url": "https://e", "monitor_type": "status", "policy_id": 41}),
            "policy_id",
        ),
        (
            "/api/v2/monitors",
            json!({"url": "https://e", "monitor_type": "status", "policy_id": "99"}),
            "policy_id",
        ),
        ("/api/v2/monitors", json!({"monitor_type": "status"}), "url"),
        ("/api/v2/heartbeats", json!({"name": "n"}), "period"),
        (
            "/api/v3/policies",
            json!({"name": "p", "steps": [{"type": "escalation", "step_members": [{"type": "slack_integration", "id": 99}]}]}),
            "steps",
        ),
        (
            "/api/v3/policies",
            json!({"name": "p", "steps": [{"type": "escalation", "step_members": [{"type": "slack_integration", "slackChannel": "C1"}]}]}),
            "steps",
        ),
        (
            "/api/v2/status-pages",
            json!({"company_name": "B", "subdomain": "acme"}),
            "subdomain",
        ),
        (
            "/api/v2/status-pages",
            json!({"company_name": "B", "subdomain": "b", "ip_allowlist": ["10.0.0.0/40"]}),
            "ip_allowlist",
        ),
    ];
    let before = emu.snapshot();
    for (path, body, field) in cases {
        let (status, answer) = call(&base, reqwest::Method::POST, path, Some(body.clone())).await;
        assert_eq!(status, 422, "{path} {body}: {answer}");
        assert!(
            answer["errors"][field].is_array(),
            "{path} {body}: {answer}"
        );
    }
    let (status, _) = call(
        &base,
        reqwest::Method::PATCH,
        "/api/v2/status-pages/5",
        Some(json!({"published": "yes"})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = call(
        &base,
        reqwest::Method::PATCH,
        "/api/v2/status-pages/5",
        Some(json!([])),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(emu.snapshot(), before, "nothing changed");
}

#[tokio::test]
async fn tokens_are_checked_and_never_echoed() {
    let emu = emulator(json!({}));
    let running = emu.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    for auth in [
        None,
        Some("Bearer wrong-betterstack-token"),
        Some("Basic wrong-betterstack-token"),
    ] {
        let mut req = reqwest::Client::new().get(format!("{base}/api/v2/monitors"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.expect("answer");
        assert_eq!(resp.status().as_u16(), 401);
        let text = resp.text().await.expect("body");
        assert!(!text.contains("wrong-betterstack-token"), "{text}");
        assert!(serde_json::from_str::<Value>(&text).is_ok_and(|v| v["errors"].is_string()));
    }
    // The probe list is public, as at uptime.betterstack.com.
    let resp = reqwest::get(format!("{base}/ips-by-cluster.json"))
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 200);
    let ips: Value = resp.json().await.expect("json");
    assert_eq!(ips["us"], json!(["45.79.122.169"]));
}

/// Faults answer in the `errors` envelope; a throttled write changes nothing.
#[tokio::test]
async fn faults_answer_in_the_error_envelope() {
    let emu = emulator(json!({}));
    emu.faults().inject(
        FaultRule::new(
            "/api/v2/monitors",
            Fault::RateLimited {
                retry_after_secs: 7,
            },
        )
        .method("POST")
        .times(1),
    );
    emu.faults()
        .inject(FaultRule::new("/api/v3/policies", Fault::WrongShape).times(1));
    let running = emu.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v2/monitors"))
        .bearer_auth(TOKEN)
        .json(&json!({"url": "https://e", "monitor_type": "status"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    let body: Value = resp.json().await.expect("json");
    assert!(body["errors"].is_string(), "{body}");
    assert!(emu.snapshot().monitors.is_empty());
    let (status, body) = call(&base, reqwest::Method::GET, "/api/v3/policies", None).await;
    assert_eq!((status, body), (200, json!({"data": 42})));
}
