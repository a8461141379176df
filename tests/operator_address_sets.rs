//! End to end: the real `perimeter operator` binary against the Kubernetes API emulator and
//! the Cloudflare emulator, with an Enforce policy whose allow rules come from an AddressSet.
//! While the set is missing the policy is not Ready and nothing is written; once the set is
//! Ready the policy follows it; when the set's addresses change, the policy is requeued by the
//! set's watch (its own sync interval is far away), drifts and follows, and its status records
//! the digest it used.

mod support;

use std::process::Stdio;

use serde_json::{Value, json};
use support::kube::{condition, create, get_any, merge_patch, wait_for};

const NS: &str = "perimeter";
const GROUP: &str = "/apis/perimeter.dev/v1alpha1";
const ZONE: &str = "7c5dae5552338874e5053f2534d2767a";

fn zone_rules(cloudflare: &perimeter_emulators::cloudflare::CloudflareEmulator) -> Vec<String> {
    let snapshot = serde_json::to_value(cloudflare.snapshot()).expect("json");
    let mut out: Vec<String> = snapshot["zones"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|z| z["id"] == ZONE)
        .flat_map(|z| z["access_rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["configuration"]["value"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_set_change_requeues_its_policies_which_follow() {
    let cluster = support::kube::Cluster::start().await;
    let (http, k) = (cluster.http.clone(), cluster.k.clone());
    let (cloudflare, kubeconfig) = (&cluster.cloudflare, &cluster.kubeconfig);

    let mut policy = support::kube::manifest("examples/addresssets/cloudflare-uptime-probes.yaml");
    policy["spec"]["cloudflare"]["ipAccessRuleSets"][0]["addressSet"] = json!("egress");
    let policies = format!("{k}{GROUP}/namespaces/{NS}/firewallpolicies");
    create(&http, &policies, &policy).await;

    let metrics_addr = format!("127.0.0.1:{}", support::free_port());
    let _operator = support::kube::operator(kubeconfig, &metrics_addr, &[], Stdio::null());
    let url = format!("{policies}/edge-uptime-probes");

    // The set does not exist: not Ready, naming the set and the field; nothing written.
    let blocked = wait_for("the policy blocked on its set", async || {
        let obj = get_any(&http, &url).await;
        (condition(&obj, "Ready")?["reason"] == "AddressSetNotReady").then_some(obj)
    })
    .await;
    let message = condition(&blocked, "Ready").map(|c| c["message"].clone());
    assert_eq!(
        message,
        Some(json!(
            "spec.cloudflare.ipAccessRuleSets[0].addressSet: AddressSet \"egress\" not found in namespace \"perimeter\""
        ))
    );
    assert!(
        cloudflare.log().writes().is_empty(),
        "no write without the set"
    );

    // The set appears: it resolves, and the policy (requeued by it) follows.
    let sets = format!("{k}{GROUP}/namespaces/{NS}/addresssets");
    create(
        &http,
        &sets,
        &json!({"apiVersion": "perimeter.dev/v1alpha1", "kind": "AddressSet",
                "metadata": {"name": "egress", "namespace": NS},
                "spec": {"addresses": ["192.0.2.1", "192.0.2.2"]}}),
    )
    .await;
    let set = wait_for("the set Ready", async || {
        let obj = get_any(&http, &format!("{sets}/egress")).await;
        (condition(&obj, "Ready")?["status"] == "True").then_some(obj)
    })
    .await;
    assert_eq!(set["status"]["count"], 2);
    assert_eq!(
        set["status"]["addresses"],
        json!(["192.0.2.1/32", "192.0.2.2/32"])
    );
    let digest = set["status"]["digest"].clone();
    let synced = |want: Value| {
        let http = http.clone();
        let url = url.clone();
        async move {
            wait_for("the policy in sync with the set", async || {
                let obj = get_any(&http, &url).await;
                (condition(&obj, "InSync")?["status"] == "True"
                    && obj["status"]["addressSets"][0]["digest"] == want)
                    .then_some(obj)
            })
            .await
        }
    };
    let first = synced(digest.clone()).await;
    assert_eq!(first["status"]["addressSets"][0]["name"], "egress");
    assert_eq!(zone_rules(cloudflare), ["192.0.2.1", "192.0.2.2"]);

    // The set's addresses change: the policy drifts and follows (unmanaged: Remove removes
    // the address that left the set), long before its 5 minute sync interval.
    merge_patch(
        &http,
        &format!("{sets}/egress"),
        &json!({"spec": {"addresses": ["192.0.2.1", "192.0.2.3"]}}),
    )
    .await;
    let changed = wait_for("the set's new digest", async || {
        let obj = get_any(&http, &format!("{sets}/egress")).await;
        let d = obj["status"]["digest"].clone();
        (d != digest && condition(&obj, "Ready")?["status"] == "True").then_some(d)
    })
    .await;
    let second = synced(changed).await;
    assert!(
        second["status"]["lastApplied"]
            .as_array()
            .is_some_and(|a| a.len() == 2),
        "{}",
        second["status"]
    );
    assert_eq!(zone_rules(cloudflare), ["192.0.2.1", "192.0.2.3"]);

    // The set's story is told in Events (resolved, then changed) and in its series.
    let events_url = format!("{k}/apis/events.k8s.io/v1/namespaces/{NS}/events");
    let reasons = wait_for("the set's Events", async || {
        let reasons: Vec<(String, String)> = get_any(&http, &events_url).await["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                e["regarding"]["kind"] == "AddressSet" && e["regarding"]["name"] == "egress"
            })
            .map(|e| {
                (
                    e["reason"].as_str().unwrap_or_default().to_string(),
                    e["note"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        (reasons.len() >= 2).then_some(reasons)
    })
    .await;
    assert_eq!(reasons[0].0, "Resolved", "{reasons:?}");
    assert_eq!(reasons[1].0, "AddressesChanged", "{reasons:?}");
    assert!(reasons[1].1.starts_with("2 → 2 address(es)"), "{reasons:?}");
    let body = http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    for series in [
        r#"perimeter_address_set_ready{name="egress",namespace="perimeter",source="declared"} 1"#,
        r#"perimeter_address_set_addresses{name="egress",namespace="perimeter",source="declared"} 2"#,
        r#"perimeter_reconcile_total{kind="AddressSet",result="success"}"#,
    ] {
        assert!(body.contains(series), "missing {series}\n{body}");
    }
}
