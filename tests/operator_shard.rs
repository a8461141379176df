//! Sharding end to end: three real `perimeter operator --leader-elect` processes against the
//! Kubernetes API emulator and the Cloudflare emulator, split as the chart splits them with
//! `shards: [a, b]`:
//! - shard `a`: `--shard a --shard-selector perimeter.dev/shard=a`;
//! - shard `b`: `--shard b --shard-selector perimeter.dev/shard=b`;
//! - the main one: `--shard-selector 'perimeter.dev/shard notin (a,b)' --cluster-controllers`.
//!
//! Each talks to the API server through its own recording proxy, so the test sees who wrote
//! what: every policy's status comes from exactly its shard, the account status and the
//! ControlAssessment from the main one alone; the shards list and watch the policies with
//! their selector (they cache only their share); each shard leads its own Lease; and the
//! assessment, run by the main shard, counts the drift of every policy, whichever shard
//! reconciled it.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};
use support::kube::{
    KillOnDrop, RecordingProxy, cloudflare_example, create, manifest, operator, try_get, wait_for,
};

const NS: &str = "perimeter";
const GROUP: &str = "/apis/perimeter.dev/v1alpha1";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/perimeter/leases";

struct Shard {
    name: &'static str,
    proxy: RecordingProxy,
    metrics: u16,
    _process: KillOnDrop,
}

async fn start(
    name: &'static str,
    env: &[(&str, &str)],
    kube: &str,
    dir: &std::path::Path,
) -> Shard {
    let proxy = RecordingProxy::start(kube).await;
    let own = dir.join(name);
    std::fs::create_dir_all(&own).expect("dir");
    let kubeconfig = support::write_kubeconfig(&own, &proxy.url, NS);
    let metrics = support::free_port();
    let mut vars = vec![
        ("POD_NAME", name),
        ("POD_NAMESPACE", NS),
        ("PERIMETER_LEADER_ELECT", "true"),
        ("PERIMETER_LOG", "info"),
    ];
    vars.extend_from_slice(env);
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file");
    let process = operator(&kubeconfig, &format!("127.0.0.1:{metrics}"), &vars, log);
    Shard {
        name,
        proxy,
        metrics,
        _process: process,
    }
}

/// `kind/name` of every status this operator wrote (PATCH or PUT on `/status`).
fn status_writes(shard: &Shard) -> BTreeSet<String> {
    shard
        .proxy
        .requests()
        .into_iter()
        .filter(|(method, _)| method == "PATCH" || method == "PUT")
        .filter_map(|(_, target)| {
            let path = target.split('?').next()?.to_string();
            let rest = path.strip_suffix("/status")?;
            let mut parts = rest.rsplit('/');
            let name = parts.next()?;
            let plural = parts.next()?;
            Some(format!("{plural}/{name}"))
        })
        .collect()
}

/// The query strings of this operator's lists and watches of one policy kind.
fn policy_reads(shard: &Shard, plural: &str) -> Vec<String> {
    shard
        .proxy
        .requests()
        .into_iter()
        .filter(|(method, target)| {
            method == "GET"
                && target
                    .split('?')
                    .next()
                    .is_some_and(|p| p.ends_with(plural))
        })
        .map(|(_, target)| {
            target
                .split_once('?')
                .map(|(_, q)| q.to_string())
                .unwrap_or_default()
        })
        .collect()
}

fn has_status(obj: &Value) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .is_some_and(|c| !c.is_empty())
}

async fn metric_lines(http: &reqwest::Client, shard: &Shard, prefix: &str) -> Vec<String> {
    let text = http
        .get(format!("http://127.0.0.1:{}/metrics", shard.metrics))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_split_the_policies_each_with_its_own_lease_and_one_assessment_sees_all() {
    let cluster = support::kube::Cluster::start().await;
    let (http, k, dir) = (cluster.http.clone(), cluster.k.clone(), &cluster.dir);

    // Observe-only copies of the drifted access-rules example, one per shard plus one for the
    // main Deployment (no label) and one whose label no shard lists; a monitoring policy in a.
    let firewalls = format!("{k}{GROUP}/namespaces/{NS}/firewallpolicies");
    let monitors = format!("{k}{GROUP}/namespaces/{NS}/monitoringpolicies");
    let owner: BTreeMap<&str, &str> = [
        ("firewallpolicies/fw-a", "shard-a"),
        ("firewallpolicies/fw-b", "shard-b"),
        ("firewallpolicies/fw-main", "main"),
        ("firewallpolicies/fw-other", "main"),
        ("monitoringpolicies/mon-a", "shard-a"),
    ]
    .into();
    for (name, label) in [
        ("fw-a", Some("a")),
        ("fw-b", Some("b")),
        ("fw-main", None),
        ("fw-other", Some("c")),
    ] {
        let mut policy = cloudflare_example("firewall-access.yaml");
        policy["metadata"]["name"] = json!(name);
        if let Some(l) = label {
            policy["metadata"]["labels"] = json!({"perimeter.dev/shard": l});
        }
        create(&http, &firewalls, &policy).await;
    }
    let mut monitoring = cloudflare_example("monitoring.yaml");
    monitoring["metadata"]["name"] = json!("mon-a");
    monitoring["metadata"]["labels"] = json!({"perimeter.dev/shard": "a"});
    monitoring["spec"]["mode"] = json!("Observe");
    create(&http, &monitors, &monitoring).await;
    create(
        &http,
        &format!("{k}{GROUP}/controlassessments"),
        &manifest("examples/compliance/de-cm-1.yaml"),
    )
    .await;

    let shards = [
        start(
            "shard-a",
            &[
                ("PERIMETER_SHARD", "a"),
                ("PERIMETER_SHARD_SELECTOR", "perimeter.dev/shard=a"),
            ],
            &k,
            dir.path(),
        )
        .await,
        start(
            "shard-b",
            &[
                ("PERIMETER_SHARD", "b"),
                ("PERIMETER_SHARD_SELECTOR", "perimeter.dev/shard=b"),
            ],
            &k,
            dir.path(),
        )
        .await,
        start(
            "main",
            &[
                (
                    "PERIMETER_SHARD_SELECTOR",
                    "perimeter.dev/shard notin (a,b)",
                ),
                ("PERIMETER_CLUSTER_CONTROLLERS", "true"),
            ],
            &k,
            dir.path(),
        )
        .await,
    ];

    // Every policy gets a status, and the assessment counts the drift of every firewall policy
    // (each is a drifted copy of the Observe example), whoever reconciled it.
    let policy_url = |key: &str| {
        let (plural, name) = key.split_once('/').expect("kind/name");
        format!("{k}{GROUP}/namespaces/{NS}/{plural}/{name}")
    };
    for key in owner.keys() {
        let url = policy_url(key);
        wait_for(&format!("{key} status"), async || {
            has_status(&try_get(&http, &url).await?).then_some(())
        })
        .await;
    }
    let gaps = wait_for("the assessment to name every drifted policy", async || {
        let a = try_get(&http, &format!("{k}{GROUP}/controlassessments/de-cm-1")).await?;
        let subjects: BTreeSet<String> = a["status"]["gaps"]
            .as_array()?
            .iter()
            .filter_map(|g| g["subject"].as_str())
            .flat_map(|s| s.split(", ").map(str::to_string))
            .collect();
        let all = ["fw-a", "fw-b", "fw-main", "fw-other"]
            .iter()
            .all(|n| subjects.contains(&format!("FirewallPolicy {NS}/{n}")))
            && subjects.contains(&format!("MonitoringPolicy {NS}/mon-a"));
        all.then_some(subjects)
    })
    .await;
    eprintln!("assessment gaps: {gaps:?}");

    // Each shard leads its own Lease; the main one keeps the unsharded name.
    for (lease, holder) in [
        ("perimeter-leader-a", "shard-a"),
        ("perimeter-leader-b", "shard-b"),
        ("perimeter-leader", "main"),
    ] {
        wait_for(&format!("{lease} held by {holder}"), async || {
            let l = try_get(&http, &format!("{k}{LEASES}/{lease}")).await?;
            (l["spec"]["holderIdentity"] == holder).then_some(())
        })
        .await;
    }

    // Let a sync round pass, then read who wrote what.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for shard in &shards {
        let wrote = status_writes(shard);
        let policies: BTreeSet<String> = wrote
            .iter()
            .filter(|w| w.starts_with("firewallpolicies/") || w.starts_with("monitoringpolicies/"))
            .cloned()
            .collect();
        let mine: BTreeSet<String> = owner
            .iter()
            .filter(|(_, o)| **o == shard.name)
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(
            policies, mine,
            "{} wrote the statuses of exactly its policies",
            shard.name
        );
        let cluster_wide: Vec<&String> = wrote
            .iter()
            .filter(|w| w.starts_with("cloudproviders/") || w.starts_with("controlassessments/"))
            .collect();
        if shard.name == "main" {
            assert!(
                wrote.contains("cloudproviders/cloudflare-main")
                    && wrote.contains("controlassessments/de-cm-1"),
                "the main shard writes the account and the assessment: {wrote:?}"
            );
        } else {
            assert!(
                cluster_wide.is_empty(),
                "{} writes no account or assessment status: {cluster_wide:?}",
                shard.name
            );
            // Only its share is listed and watched: the selector goes to the API server.
            for plural in ["firewallpolicies", "monitoringpolicies"] {
                let reads = policy_reads(shard, plural);
                let selector =
                    format!("labelSelector=perimeter.dev%2Fshard%3D{}", &shard.name[6..]);
                assert!(
                    !reads.is_empty() && reads.iter().all(|q| q.contains(&selector)),
                    "{} reads {plural} only with its selector: {reads:?}",
                    shard.name
                );
            }
        }
        let info = metric_lines(&http, shard, "perimeter_shard_info{").await;
        assert_eq!(info.len(), 1, "{}: {info:?}", shard.name);
        let cluster = if shard.name == "main" {
            "true"
        } else {
            "false"
        };
        assert!(
            info[0].contains(&format!("cluster_controllers=\"{cluster}\"")),
            "{}: {info:?}",
            shard.name
        );
    }
}
