//! End to end: the real `perimeter operator` binary against a Kubernetes API emulator
//! (kmock, tests/kube-emulator) and the Cloudflare emulator seeded with the drifted demo
//! account. An Enforce policy reaches Ready/in sync; an Observe policy shows its drift; the
//! CloudProvider is Ready; Events and metrics are published; a settled operator writes no
//! status; an Orphan policy is deleted without a finalizer and without touching the provider.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use perimeter_emulators::cloudflare::{CloudflareEmulator, Seed};
use serde_json::{Value, json};

const NS: &str = "perimeter";
const GROUP: &str = "/apis/perimeter.dev/v1alpha1";

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn example(file: &str) -> Value {
    let text = std::fs::read_to_string(support::repo_root().join("examples/cloudflare").join(file))
        .expect("example");
    perimeter::manifests::yaml_to_json(&text).expect("yaml")
}

async fn create(http: &reqwest::Client, base: &str, path: &str, body: &Value) {
    let resp = http
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .expect("create");
    assert!(
        resp.status().is_success(),
        "create {path}: {}",
        resp.text().await.unwrap_or_default()
    );
}

async fn get(http: &reqwest::Client, url: &str) -> Value {
    http.get(url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> Option<Value>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn status_patches(http: &reqwest::Client, kube: &str) -> usize {
    let recorded = get(http, &format!("{kube}/_emulator/requests")).await;
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
    let seed_text =
        std::fs::read_to_string(support::repo_root().join("examples/demo/cloudflare-account.yaml"))
            .expect("seed");
    let seed: Seed =
        serde_json::from_value(perimeter::manifests::yaml_to_json(&seed_text).expect("yaml"))
            .expect("seed");
    let cloudflare = CloudflareEmulator::new(seed);
    let running = cloudflare
        .start("127.0.0.1:0")
        .await
        .expect("cloudflare emulator");
    let http = reqwest::Client::new();
    let k = kube.url.clone();

    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: e, cluster: {{server: \"{k}\"}}}}]\nusers: [{{name: u, user: {{}}}}]\ncontexts: [{{name: c, context: {{cluster: e, user: u, namespace: {NS}}}}}]\ncurrent-context: c\n"
        ),
    )
    .expect("kubeconfig");

    create(
        &http,
        &k,
        &format!("/api/v1/namespaces/{NS}/secrets"),
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cloudflare-api", "namespace": NS}, "data": {"token": "ZGVtby10b2tlbg=="}}),
    )
    .await;
    let mut provider = example("provider.yaml");
    provider["spec"]["endpoint"] = json!(format!("{}/client/v4", running.base_url()));
    create(
        &http,
        &k,
        &format!("{GROUP}/namespaces/{NS}/cloudproviders"),
        &provider,
    )
    .await;
    for file in ["firewall-edge.yaml", "firewall-access.yaml"] {
        create(
            &http,
            &k,
            &format!("{GROUP}/namespaces/{NS}/firewallpolicies"),
            &example(file),
        )
        .await;
    }

    let metrics_port = support::free_port();
    let _operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_perimeter"))
            .args([
                "operator",
                "--metrics-addr",
                &format!("127.0.0.1:{metrics_port}"),
            ])
            .env("KUBECONFIG", &kubeconfig)
            .env("PERIMETER_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the operator"),
    );

    let policies = format!("{k}{GROUP}/namespaces/{NS}/firewallpolicies");
    let edge = wait_for("edge-firewall Ready=True", async || {
        let obj = get(&http, &format!("{policies}/edge-firewall")).await;
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
        let obj = get(&http, &format!("{policies}/edge-access-rules")).await;
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

    let provider = wait_for("CloudProvider Ready", async || {
        let obj = get(
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

    let events = get(
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
    assert!(!metrics.contains("demo-token"));

    // Settled: nothing changes, so nothing is written.
    let before = status_patches(&http, &k).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = status_patches(&http, &k).await;
    if after != before {
        let recorded = get(&http, &format!("{k}/_emulator/requests")).await;
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
}
