//! End to end: the real `perimeter operator` binary against a Kubernetes API emulator
//! (kmock, tests/kube-emulator) and the Cloudflare emulator seeded with the drifted demo
//! account. An Enforce policy reaches Ready/in sync; an Observe policy shows its drift; the
//! CloudProvider is Ready; Events and metrics are published; a settled operator writes no
//! status; a rejected credential and an unreadable provider are reported (never in sync, no
//! token anywhere) and recovered from; an Orphan policy is deleted without touching the
//! provider, and a `Delete` policy removes exactly the rules it manages.

mod support;

use std::time::Duration;

use perimeter_emulators::cloudflare::dashboard_change;
use perimeter_emulators::faults::{Fault, FaultRule};
use serde_json::{Value, json};
use support::kube::{
    cloudflare_example, condition, create, demo_cloudflare, get_any, merge_patch, wait_for,
};

const NS: &str = "perimeter";
const BAD_TOKEN: &str = "wrong-token-e2e-7781";
const GROUP: &str = "/apis/perimeter.dev/v1alpha1";

async fn status_patches(http: &reqwest::Client, kube: &str) -> usize {
    let recorded = get_any(http, &format!("{kube}/_emulator/requests")).await;
    recorded.as_array().map_or(0, |r| {
        r.iter()
            .filter(|q| {
                q["method"] == "PATCH" && q["path"].as_str().is_some_and(|p| p.ends_with("/status"))
            })
            .count()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_reconciles_policies_in_a_cluster() {
    let kube = tokio::task::spawn_blocking(support::start_kube_emulator)
        .await
        .expect("kube emulator");
    let cloudflare = demo_cloudflare();
    // Two dashboard edits behind the demo account's drift, for attribution.
    cloudflare.mutate(|seed| {
        let zone = serde_json::json!({"zone_name": "example.com"});
        let mut ssl = zone.clone();
        ssl["name"] = json!("ssl");
        let log = &mut seed.accounts[0].audit_logs;
        log.push(dashboard_change(
            "dana@example.com",
            "change_setting",
            ("zone", "023e105f4ecef8ad9ca31a8372d0c353"),
            ssl,
            7200,
        ));
        log.push(dashboard_change(
            "marc@example.com",
            "rule_update",
            ("firewall.access_rule", ""),
            zone,
            3600,
        ));
    });
    let running = cloudflare
        .start("127.0.0.1:0")
        .await
        .expect("cloudflare emulator");
    let http = reqwest::Client::new();
    let k = kube.url.clone();

    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = support::write_kubeconfig(dir.path(), &k, NS);

    create(
        &http,
        &format!("{k}/api/v1/namespaces/{NS}/secrets"),
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cloudflare-api", "namespace": NS, "labels": {"perimeter.dev/credential": "true"}}, "data": {"token": "ZGVtby10b2tlbg=="}}),
    )
    .await;
    create(
        &http,
        &format!("{k}/api/v1/namespaces/{NS}/secrets"),
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad-api", "namespace": NS, "labels": {"perimeter.dev/credential": "true"}}, "stringData": {"token": BAD_TOKEN}}),
    )
    .await;
    let mut provider = cloudflare_example("provider.yaml");
    provider["spec"]["endpoint"] = json!(format!("{}/client/v4", running.base_url()));
    let mut bad = provider.clone();
    bad["metadata"]["name"] = json!("cloudflare-bad");
    bad["spec"]["credentials"]["secretRef"]["name"] = json!("bad-api");
    // A short interval so the outage below is noticed quickly.
    let mut edge = cloudflare_example("firewall-edge.yaml");
    edge["spec"]["syncInterval"] = json!("10s");
    let providers_path = format!("{k}{GROUP}/namespaces/{NS}/cloudproviders");
    let policies_path = format!("{k}{GROUP}/namespaces/{NS}/firewallpolicies");
    create(&http, &providers_path, &provider).await;
    create(&http, &providers_path, &bad).await;
    create(&http, &policies_path, &edge).await;
    create(
        &http,
        &policies_path,
        &cloudflare_example("firewall-access.yaml"),
    )
    .await;

    let metrics_port = support::free_port();
    let log = dir.path().join("operator.log");
    // The HTTP layer's retries (debug) show which policy they belong to.
    let _operator = support::kube::operator(
        &kubeconfig,
        &format!("127.0.0.1:{metrics_port}"),
        &[("PERIMETER_LOG", "info,perimeter::http=debug")],
        std::fs::File::create(&log).expect("log file"),
    );

    let policies = format!("{k}{GROUP}/namespaces/{NS}/firewallpolicies");
    let edge = wait_for("edge-firewall Ready=True", async || {
        let obj = get_any(&http, &format!("{policies}/edge-firewall")).await;
        (condition(&obj, "Ready")?["status"] == "True").then_some(obj)
    })
    .await;
    assert_eq!(
        condition(&edge, "InSync").map(|c| c["status"].clone()),
        Some(json!("True"))
    );
    assert_eq!(edge["status"]["driftCount"], 0);
    assert_eq!(
        edge["status"]["observedGeneration"],
        edge["metadata"]["generation"]
    );
    assert!(
        edge["metadata"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "Orphan policies carry no finalizer"
    );

    let access = wait_for("edge-access-rules drift", async || {
        let obj = get_any(&http, &format!("{policies}/edge-access-rules")).await;
        (condition(&obj, "InSync")?["status"] == "False").then_some(obj)
    })
    .await;
    assert_eq!(access["status"]["driftCount"], 2);
    let fields: Vec<&str> = access["status"]["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "ipAccessRules[ip_range:198.51.100.0/24]",
            "ipAccessRules[ip_range:203.0.113.0/24].mode"
        ]
    );
    assert_eq!(
        condition(&access, "Ready").map(|c| c["reason"].clone()),
        Some(json!("Drifted"))
    );
    // Who changed it, from the account audit log; the missing office range was never there,
    // so nobody is blamed for it.
    let changed_by: Vec<&Value> = access["status"]["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .map(|d| &d["changedBy"])
        .collect();
    assert_eq!(
        changed_by,
        [
            &Value::Null,
            &json!("marc@example.com via UI (last change to ipAccessRules)")
        ]
    );
    assert_eq!(
        access["status"]["attribution"],
        "1 of 2 drifted field(s) attributed from the Cloudflare account audit log (last 7 days)"
    );

    let provider = wait_for("CloudProvider Ready", async || {
        let obj = get_any(
            &http,
            &format!("{k}{GROUP}/namespaces/{NS}/cloudproviders/cloudflare-main"),
        )
        .await;
        (condition(&obj, "Ready")?["status"] == "True").then_some(obj)
    })
    .await;
    assert_eq!(
        condition(&provider, "Ready").map(|c| c["reason"].clone()),
        Some(json!("Ready"))
    );
    // Its inventory: the demo account's three zones, of which only example.com has a
    // FirewallPolicy here (the status zone's policy is not created in this test).
    let inventory = &provider["status"]["inventory"];
    assert_eq!(
        (&inventory["total"], &inventory["covered"]),
        (&json!(3), &json!(1)),
        "{inventory}"
    );
    let uncovered: Vec<&str> = inventory["uncovered"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(
        uncovered,
        ["status.example.com", "promo.example.com"],
        "{inventory}"
    );

    let events = get_any(
        &http,
        &format!("{k}/apis/events.k8s.io/v1/namespaces/{NS}/events"),
    )
    .await;
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"Enforced") && reasons.contains(&"Drifted"),
        "{reasons:?}"
    );
    let message = |reason: &str| -> String {
        events["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["reason"] == reason)
            .filter_map(|e| e["note"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        message("Enforced").contains("(drift changed by dana@example.com via UI (settings[ssl]))"),
        "{}",
        message("Enforced")
    );
    assert!(
        message("DriftDetected").contains(
            "ipAccessRules[ip_range:203.0.113.0/24].mode [Changed] changed by marc@example.com via UI (last change to ipAccessRules) at "
        ),
        "{}",
        message("DriftDetected")
    );

    let metrics = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains(r#"perimeter_policy_in_sync{kind="FirewallPolicy",name="edge-firewall",namespace="perimeter",provider="cloudflare"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"perimeter_drift_fields{kind="FirewallPolicy",name="edge-access-rules",namespace="perimeter",provider="cloudflare"} 2"#));
    assert!(
        metrics.contains(r#"perimeter_assets{covered="false",kind="zone",name="cloudflare-main",namespace="perimeter",provider="cloudflare"} 2"#),
        "{metrics}"
    );
    assert!(!metrics.contains("demo-token"));

    let bad = wait_for("cloudflare-bad rejected", async || {
        let obj = get_any(
            &http,
            &format!("{k}{GROUP}/namespaces/{NS}/cloudproviders/cloudflare-bad"),
        )
        .await;
        (condition(&obj, "Ready")?["reason"] == "CredentialsRejected").then_some(obj)
    })
    .await;
    assert_eq!(
        condition(&bad, "Ready").map(|c| c["status"].clone()),
        Some(json!("False"))
    );

    // Settled: nothing changes, so nothing is written.
    let before = status_patches(&http, &k).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = status_patches(&http, &k).await;
    if after != before {
        let recorded = get_any(&http, &format!("{k}/_emulator/requests")).await;
        for r in recorded
            .as_array()
            .into_iter()
            .flatten()
            .filter(|q| q["method"] == "PATCH")
        {
            eprintln!("{} {}\n{}", r["method"], r["path"], r["body"]);
        }
    }
    assert_eq!(after, before, "no status writes once settled");

    // An unreadable provider: the policy becomes Unknown (never in sync), the process survives,
    // and a spec change after the outage brings it back.
    cloudflare.faults().inject(
        FaultRule::new("rulesets/phases", Fault::ServerError { status: 503 }).method("GET"),
    );
    let down = wait_for("edge-firewall unknown during the outage", async || {
        let obj = get_any(&http, &format!("{policies}/edge-firewall")).await;
        (condition(&obj, "InSync")?["status"] == "Unknown").then_some(obj)
    })
    .await;
    assert_eq!(
        condition(&down, "InSync").map(|c| c["reason"].clone()),
        Some(json!("ProviderUnreadable"))
    );
    assert_eq!(
        condition(&down, "Synced").map(|c| c["reason"].clone()),
        Some(json!("ProviderError"))
    );
    let metrics = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains(r#"perimeter_policy_in_sync{kind="FirewallPolicy",name="edge-firewall",namespace="perimeter",provider="cloudflare"} 0"#));
    cloudflare.faults().clear();
    merge_patch(
        &http,
        &format!("{policies}/edge-firewall"),
        &json!({"spec": {"syncInterval": "11s"}}),
    )
    .await;
    wait_for("edge-firewall back in sync", async || {
        let obj = get_any(&http, &format!("{policies}/edge-firewall")).await;
        (condition(&obj, "Ready")?["status"] == "True").then_some(obj)
    })
    .await;

    // Deleting an Orphan policy never touches the provider.
    let writes_before = cloudflare.log().writes().len();
    let resp = http
        .delete(format!("{policies}/edge-access-rules"))
        .send()
        .await
        .expect("delete");
    assert!(resp.status().is_success());
    wait_for("edge-access-rules gone", async || {
        let resp = http
            .get(format!("{policies}/edge-access-rules"))
            .send()
            .await
            .ok()?;
        (resp.status() == reqwest::StatusCode::NOT_FOUND).then_some(Value::Null)
    })
    .await;
    assert_eq!(
        cloudflare.log().writes().len(),
        writes_before,
        "Orphan: the provider is left as it is"
    );

    // deletionPolicy Delete: a finalizer appears; deleting removes the managed rules only.
    merge_patch(
        &http,
        &format!("{policies}/edge-firewall"),
        &json!({"spec": {"deletionPolicy": "Delete"}}),
    )
    .await;
    wait_for("the cleanup finalizer", async || {
        let obj = get_any(&http, &format!("{policies}/edge-firewall")).await;
        obj["metadata"]["finalizers"]
            .as_array()?
            .iter()
            .any(|f| f == "perimeter.dev/cleanup")
            .then_some(obj)
    })
    .await;
    let resp = http
        .delete(format!("{policies}/edge-firewall"))
        .send()
        .await
        .expect("delete");
    assert!(resp.status().is_success());
    wait_for("edge-firewall gone", async || {
        let resp = http
            .get(format!("{policies}/edge-firewall"))
            .send()
            .await
            .ok()?;
        (resp.status() == reqwest::StatusCode::NOT_FOUND).then_some(Value::Null)
    })
    .await;
    let zone = &cloudflare.snapshot().zones[0];
    let custom: Vec<String> = zone.rulesets["http_request_firewall_custom"]
        .rules
        .iter()
        .filter_map(|r| r.reference.clone())
        .collect();
    assert_eq!(
        custom,
        ["allow-partner-api"],
        "only the unmanaged rule is left"
    );
    assert!(zone.rulesets["http_ratelimit"].rules.is_empty());
    assert_eq!(
        zone.settings["ssl"],
        json!("strict"),
        "settings are never removed"
    );

    // Fixing the Secret is enough: its change re-verifies the CloudProvider that uses it.
    merge_patch(
        &http,
        &format!("{k}/api/v1/namespaces/{NS}/secrets/bad-api"),
        &json!({"data": {"token": "ZGVtby10b2tlbg=="}}),
    )
    .await;
    wait_for(
        "cloudflare-bad Ready after the Secret was fixed",
        async || {
            let obj = get_any(
                &http,
                &format!("{k}{GROUP}/namespaces/{NS}/cloudproviders/cloudflare-bad"),
            )
            .await;
            (condition(&obj, "Ready")?["status"] == "True").then_some(obj)
        },
    )
    .await;

    // No credential anywhere: logs, and everything the operator sent to the API server
    // (statuses, Events) — the test's own Secret creations aside.
    let logs = std::fs::read_to_string(&log).expect("operator log");
    assert!(
        logs.contains("provider account not ready"),
        "the rejected credential is logged: {logs}"
    );
    // A provider HTTP log line carries the reconcile's span: kind, namespace, name, provider.
    assert!(
        logs.lines().any(|l| l.contains("retrying")
            && l.contains("reconcile{kind=\"FirewallPolicy\" namespace=\"perimeter\"")
            && l.contains("provider=\"cloudflare\"")),
        "retries are tied to their policy: {logs}"
    );
    let sent = get_any(&http, &format!("{k}/_emulator/requests")).await;
    let by_operator: Vec<&Value> = sent
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| !r["path"].as_str().is_some_and(|p| p.ends_with("/secrets")))
        .collect();
    let everything = format!("{logs}{}", json!(by_operator));
    for secret in ["demo-token", BAD_TOKEN] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }

    // A FirewallPolicy for the campaign zone: the account's coverage follows at once (well
    // before the 10-minute inventory interval), from the zones it already read (no new list).
    let zone_lists = || {
        cloudflare
            .log()
            .entries()
            .iter()
            .filter(|e| e.method == "GET" && e.path.ends_with("/zones"))
            .count()
    };
    let lists_before = zone_lists();
    create(
        &http,
        &policies_path,
        &json!({"apiVersion": "perimeter.dev/v1alpha1", "kind": "FirewallPolicy",
                "metadata": {"name": "promo", "namespace": NS},
                "spec": {"providerRef": {"name": "cloudflare-main"}, "mode": "Observe",
                         "cloudflare": {"zoneId": "5d41402abc4b2a76b9719d911017c592", "ipAccessRules": []}}}),
    )
    .await;
    let inventory = wait_for("the promo zone covered", async || {
        let obj = get_any(
            &http,
            &format!("{k}{GROUP}/namespaces/{NS}/cloudproviders/cloudflare-main"),
        )
        .await;
        let i = obj["status"]["inventory"].clone();
        let listed = i["uncovered"].as_array().cloned().unwrap_or_default();
        (!listed.iter().any(|a| a["name"] == "promo.example.com")).then_some(i)
    })
    .await;
    // example.com's policies were deleted above: it is the uncovered one now.
    assert_eq!(
        (&inventory["total"], &inventory["covered"]),
        (&json!(3), &json!(1)),
        "{inventory}"
    );
    assert_eq!(zone_lists(), lists_before, "recomputed, not read again");
}
