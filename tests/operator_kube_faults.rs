//! The real `perimeter operator` under a hostile Kubernetes API server (the kube emulator's
//! fault hooks, tests/kube-emulator/server.py) with the Cloudflare emulator seeded with the
//! drifted demo account: an API server unreachable then back, watches expired (410 Gone) and
//! resumed, 409 Conflict on status writes, and a restart in the middle of a provider write.
//! Each time the operator keeps running, converges, and makes no provider write twice.
//! (Leader failover, including a paused leader, is in tests/operator_leader.rs.)

mod support;

use std::time::Duration;

use perimeter_emulators::faults::{Fault, FaultRule};
use serde_json::{Value, json};
use support::kube::{
    Cluster, KillOnDrop, ZONE, cloudflare_example, condition, create, get, kube_requests,
    merge_patch, metrics_text, wait_for,
};

const SECURITY_LEVEL: &str = "/settings/security_level";

/// `perimeter_reconcile_total` for results other than `success` (and `deferred`: put back in
/// the queue for the account's rate limit, not a failure), over every kind.
async fn failed_reconciles(http: &reqwest::Client, metrics: &str) -> f64 {
    metrics_text(http, metrics)
        .await
        .lines()
        .filter(|l| {
            l.starts_with("perimeter_reconcile_total{")
                && !l.contains("result=\"success\"")
                && !l.contains("result=\"deferred\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn probe(http: &reqwest::Client, metrics: &str, path: &str) -> u16 {
    http.get(format!("http://{metrics}/{path}"))
        .send()
        .await
        .expect("probe")
        .status()
        .as_u16()
}

fn with_security_level(level: &str) -> Value {
    json!({"spec": {"cloudflare": {"settings": {"securityLevel": level}}}})
}

/// The operator running, edge-firewall (Enforce) in sync with the demo account.
async fn edge_in_sync() -> (Cluster, KillOnDrop, String) {
    let c = Cluster::start().await;
    create(
        &c.http,
        &c.policies,
        &cloudflare_example("firewall-edge.yaml"),
    )
    .await;
    let (op, metrics) = c.operator("operator");
    c.settled("edge-firewall", 1, "True").await;
    (c, op, metrics)
}

/// Starts an outage of `seconds` (connections reset, watches cut); meanwhile, from the other
/// side of the partition, edge-firewall's security level goes to `high` (generation 2) and
/// the Observe policy edge-access-rules is created.
async fn change_during_outage(c: &Cluster, seconds: u64) {
    c.hook("outage", json!({"seconds": seconds})).await;
    merge_patch(
        &c.bypass,
        &format!("{}/edge-firewall", c.policies),
        &with_security_level("high"),
    )
    .await;
    create(
        &c.bypass,
        &c.policies,
        &cloudflare_example("firewall-access.yaml"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_api_server_is_waited_out_and_changes_made_meanwhile_converge() {
    let (c, mut op, metrics) = edge_in_sync().await;

    // 10 s without an API server, while a policy changes and one is created.
    change_during_outage(&c, 10).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        op.0.try_wait().expect("try_wait").is_none(),
        "the operator exited during the outage; log:\n{}",
        c.log_of("operator")
    );
    // As README promises: alive, and ready keeps its last state (the caches keep serving).
    assert_eq!(probe(&c.http, &metrics, "healthz").await, 200);
    assert_eq!(probe(&c.http, &metrics, "readyz").await, 200);
    let refused = get(&c.http, &format!("{}/_emulator/outage", c.k)).await;
    assert!(
        refused["refused"].as_u64() > Some(0),
        "the operator kept trying: {refused}"
    );

    // Back: both converge without a restart.
    let edge = c.settled("edge-firewall", 2, "True").await;
    assert_eq!(
        condition(&edge, "InSync").map(|x| x["status"].clone()),
        Some(json!("True"))
    );
    assert_eq!(c.security_level(), Some(json!("high")));
    assert_eq!(c.provider_writes(SECURITY_LEVEL), 1, "written once");
    let access = c.settled("edge-access-rules", 1, "False").await;
    assert_eq!(
        condition(&access, "Ready").map(|x| x["reason"].clone()),
        Some(json!("Drifted")),
        "the Observe policy reports the demo account's drift"
    );
    assert!(
        op.0.try_wait().expect("try_wait").is_none(),
        "still running"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_watch_relists_and_sees_every_change_made_while_it_was_away() {
    let (c, _op, _) = edge_in_sync().await;
    let writes = c.cloudflare.log().writes().len();

    // The watches are cut and cannot come back; meanwhile a policy changes, another is
    // created, and the history they would resume from is compacted away.
    change_during_outage(&c, 5).await;
    c.hook("compact", json!({})).await;
    let since = kube_requests(&c.http, &c.k).await.len();

    c.settled("edge-firewall", 2, "True").await;
    c.settled("edge-access-rules", 1, "False").await; // Observe: drift reported
    // The resumed watch got 410 Gone and the operator listed again (a list, not a watch).
    let relisted = kube_requests(&c.http, &c.k).await[since..].iter().any(|q| {
        q["method"] == "GET"
            && q["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/firewallpolicies"))
            && q["query"]["watch"].is_null()
    });
    assert!(
        relisted,
        "no relist of firewallpolicies after the compaction"
    );
    assert_eq!(c.security_level(), Some(json!("high")));
    let new_writes: Vec<String> = c.cloudflare.log().writes()[writes..]
        .iter()
        .map(|w| format!("{} {}", w.method, w.path))
        .collect();
    assert_eq!(
        new_writes,
        [format!("PATCH /zones/{ZONE}{SECURITY_LEVEL}")],
        "exactly the one change, once (the Observe policy writes nothing)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_writes_answered_409_are_retried_without_repeating_the_provider_write() {
    let (c, _op, metrics) = edge_in_sync().await;
    let failed = failed_reconciles(&c.http, &metrics).await;
    let since = kube_requests(&c.http, &c.k).await.len();

    c.hook("conflicts", json!({"count": 2})).await;
    merge_patch(
        &c.http,
        &format!("{}/edge-firewall", c.policies),
        &with_security_level("high"),
    )
    .await;
    c.settled("edge-firewall", 2, "True").await;

    let status_writes: Vec<(Value, Value)> = kube_requests(&c.http, &c.k).await[since..]
        .iter()
        .filter(|q| {
            q["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/edge-firewall/status"))
        })
        .map(|q| (q["code"].clone(), q["injected"].clone()))
        .collect();
    assert_eq!(
        status_writes,
        [
            (json!(409), json!("conflict")),
            (json!(409), json!("conflict")),
            (json!(200), Value::Null)
        ],
        "two conflicts, then the same status lands"
    );
    assert_eq!(
        c.provider_writes(SECURITY_LEVEL),
        1,
        "the change is made once"
    );
    assert_eq!(c.security_level(), Some(json!("high")));
    assert_eq!(
        failed_reconciles(&c.http, &metrics).await,
        failed,
        "retried within the reconcile: no failed reconcile, no backoff, no second provider read"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_killed_during_a_provider_write_converges_after_restart_without_repeating_it() {
    const RULES: &str = "/firewall/access_rules/rules";
    let c = Cluster::start().await;
    // The write lands at the provider, but its answer never comes back: the operator dies
    // waiting for it.
    c.cloudflare.faults().inject(
        FaultRule::new(RULES, Fault::HangAfter { millis: 120_000 })
            .method("POST")
            .times(1),
    );
    let mut access = cloudflare_example("firewall-access.yaml");
    access["spec"]["mode"] = json!("Enforce");
    create(&c.http, &c.policies, &access).await;
    let (mut first, _) = c.operator("first");
    let office = "198.51.100.0/24";
    let office_rules = || {
        let seed = serde_json::to_value(c.cloudflare.snapshot()).expect("seed");
        seed["zones"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|z| z["id"] == ZONE)
            .flat_map(|z| z["access_rules"].as_array().cloned().unwrap_or_default())
            .filter(|r| r["configuration"]["value"] == office)
            .count()
    };
    wait_for("the create to land, unanswered", async || {
        let in_flight = c
            .cloudflare
            .log()
            .entries()
            .iter()
            .any(|e| e.method == "POST" && e.path.ends_with(RULES) && e.status == 0);
        (in_flight && office_rules() == 1).then_some(())
    })
    .await;
    first.0.kill().expect("SIGKILL");
    first.0.wait().expect("reaped");

    let (_second, _) = c.operator("second");
    let obj = c.settled("edge-access-rules", 1, "True").await;
    assert_eq!(
        condition(&obj, "InSync").map(|x| x["status"].clone()),
        Some(json!("True")),
        "{obj}"
    );
    assert_eq!(office_rules(), 1, "the rule exists once");
    let creates = c
        .cloudflare
        .log()
        .entries()
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with(RULES))
        .count();
    assert_eq!(
        creates,
        1,
        "the restarted operator read the rule back instead of creating it again; log:\n{}",
        c.log_of("second")
    );
}
