//! End to end: the real `perimeter operator` binary against the Kubernetes API emulator, the
//! demo Cloudflare account and a Better Stack team. The Better Stack account of namespace
//! `perimeter` lists the Cloudflare zones of its namespace as public hostnames, covered where
//! an active monitor checks them; the Better Stack account of another namespace sees none of
//! them (tenancy).

mod support;

use perimeter_emulators::betterstack::{BetterstackEmulator, Seed};
use serde_json::{Value, json};
use support::kube::{create, demo_cloudflare, get_any, manifest, wait_for};

const NS: &str = "perimeter";
const OTHER: &str = "team-b";
const GROUP: &str = "/apis/perimeter.dev/v1alpha1";
const BS_TOKEN: &str = "bs-e2e-token-5c1d0f9e8a7b6c5d";

#[tokio::test(flavor = "multi_thread")]
async fn better_stack_covers_its_namespace_s_public_hostnames_only() {
    let kube = tokio::task::spawn_blocking(support::start_kube_emulator)
        .await
        .expect("kube emulator");
    let cloudflare = demo_cloudflare();
    let cf = cloudflare.start("127.0.0.1:0").await.expect("cloudflare");
    // Monitors on the apex (active) and on the status zone (paused): only the apex counts.
    let seed: Seed = serde_json::from_value(json!({
        "tokens": [BS_TOKEN],
        "monitors": [
            {"id": 1, "url": "https://example.com/", "monitor_type": "status", "check_frequency": 180,
             "paused": false, "status": "up", "last_checked_at": "2026-11-29T10:00:00Z"},
            {"id": 2, "url": "https://status.example.com/", "monitor_type": "status", "check_frequency": 180,
             "paused": true, "status": "paused"}
        ]
    }))
    .expect("seed");
    let betterstack = BetterstackEmulator::new(seed);
    let bs = betterstack.start("127.0.0.1:0").await.expect("betterstack");
    let http = reqwest::Client::new();
    let k = kube.url.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = support::write_kubeconfig(dir.path(), &k, NS);

    for ns in [NS, OTHER] {
        create(
            &http,
            &format!("{k}/api/v1/namespaces/{ns}/secrets"),
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "betterstack-api", "namespace": ns, "labels": {"perimeter.dev/credential": "true"}}, "stringData": {"token": BS_TOKEN}}),
        )
        .await;
        let mut account = manifest("examples/betterstack/provider.yaml");
        account["metadata"]["namespace"] = json!(ns);
        account["spec"]["endpoint"] = json!(bs.base_url());
        create(
            &http,
            &format!("{k}{GROUP}/namespaces/{ns}/cloudproviders"),
            &account,
        )
        .await;
    }
    support::kube::cloudflare_account(&http, &k, NS, &cf.base_url()).await;

    let metrics_port = support::free_port();
    let log = dir.path().join("operator.log");
    let _operator = support::kube::operator(
        &kubeconfig,
        &format!("127.0.0.1:{metrics_port}"),
        &[],
        std::fs::File::create(&log).expect("log file"),
    );

    let inventory_of = |ns: &'static str| {
        let http = http.clone();
        let url = format!("{k}{GROUP}/namespaces/{ns}/cloudproviders/betterstack-main");
        async move { get_any(&http, &url).await["status"]["inventory"].clone() }
    };
    // Pending while the Cloudflare account is unread (never complete), then counted.
    let mine = wait_for("the Better Stack hostnames counted", async || {
        let i = inventory_of(NS).await;
        i.get("total").is_some().then_some(i)
    })
    .await;
    assert_eq!(
        (&mine["total"], &mine["covered"]),
        (&json!(3), &json!(1)),
        "{mine}"
    );
    let uncovered: Vec<&str> = mine["uncovered"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(
        uncovered,
        [
            "status.example.com (cloudflare perimeter/cloudflare-main)",
            "promo.example.com (cloudflare perimeter/cloudflare-main)"
        ],
        "{mine}"
    );
    let theirs: Value = wait_for("the other namespace's hostnames counted", async || {
        let i = inventory_of(OTHER).await;
        i.get("total").is_some().then_some(i)
    })
    .await;
    assert_eq!(theirs["total"], json!(0), "{theirs}");
    assert!(!theirs.to_string().contains("example.com"), "{theirs}");
}
