//! End to end, as a user meets the compliance rollup: the real `perimeter operator` binary
//! against the Kubernetes API emulator (tests/kube-emulator) and the Cloudflare emulator seeded
//! with the drifted demo account, with the example policies and the example DE.CM-1
//! `ControlAssessment` (cluster-scoped).
//!
//! The assessment names the Observe policy's drift as its one gap; its evidence ConfigMap holds
//! a trail whose head is the status' digest. Switching that policy to Enforce makes the control
//! Implemented, and a rejected credential makes it regress: each change appends a record linked
//! to the previous one and sends an Event. `perimeter report --cluster` exits with the
//! documented code and exports a trail that `perimeter evidence verify` accepts. A settled
//! operator writes nothing. A record edited inside the ConfigMap shows up in both commands, and
//! the operator stops extending that trail (`Ready=False`, `EvidenceTampered`).

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use perimeter::compliance::ImplementationState;
use perimeter::compliance::evidence::Trail;
use serde_json::{Value, json};
use support::kube::{get, manifest, merge_patch, send, try_get, wait_for};

const NS: &str = "perimeter";
const GROUP: &str = "/apis/perimeter.dev/v1alpha1";
const ASSESSMENTS: &str = "/apis/perimeter.dev/v1alpha1/controlassessments";
const CM: &str = "perimeter-evidence-de-cm-1";
const DRIFTED: &str = "FirewallPolicy perimeter/edge-access-rules";
const SLACK_TOKEN: &str = "xoxb-e2e-0123456789abcdef";

/// The assessment and the trail in its ConfigMap, once the ConfigMap's head is the status'
/// head (they are written one after the other).
async fn consistent(http: &reqwest::Client, k: &str) -> Option<(Value, Trail)> {
    let obj = try_get(http, &format!("{k}{ASSESSMENTS}/de-cm-1")).await?;
    let cm = try_get(http, &format!("{k}/api/v1/namespaces/{NS}/configmaps/{CM}")).await?;
    let trail: Trail = serde_json::from_str(cm["data"]["trail.json"].as_str()?).ok()?;
    let head = trail.head()?;
    (obj["status"]["evidence"]["digest"] == head.digest.as_str()
        && obj["status"]["evidence"]["seq"] == head.seq)
        .then_some((obj, trail))
}

/// Waits for a state of the assessment, its trail consistent with the status.
async fn wait_state(
    http: &reqwest::Client,
    k: &str,
    what: &str,
    ok: impl Fn(&Value, &Trail) -> bool,
) -> (Value, Trail) {
    let found = wait_for(what, async || {
        let (obj, trail) = consistent(http, k).await?;
        if !ok(&obj["status"], &trail) {
            return None;
        }
        Some(json!([obj, serde_json::to_value(trail).ok()?]))
    })
    .await;
    let trail = serde_json::from_value(found[1].clone()).expect("trail");
    (found[0].clone(), trail)
}

/// The record after `previous` links to it, and the whole trail verifies.
fn assert_linked(trail: &Trail, previous_seq: u64, previous_digest: &str) {
    let next = trail
        .records
        .iter()
        .find(|r| r.seq == previous_seq + 1)
        .expect("a record after the previous head");
    assert_eq!(
        next.previous, previous_digest,
        "the new record links to the previous head"
    );
    let verification = trail.verify(Duration::from_secs(3600), None);
    assert!(verification.ok(), "{:?}", verification.problems);
}

fn cli(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perimeter"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("POD_NAMESPACE")
        .output()
        .expect("run perimeter")
}

/// Compliance Events about the assessment (a cluster-scoped object's Events go to `default`).
async fn assessment_events(http: &reqwest::Client, k: &str) -> Vec<(String, String)> {
    let url = format!("{k}/apis/events.k8s.io/v1/namespaces/default/events");
    let events = get(http, &url).await;
    events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["regarding"]["kind"] == "ControlAssessment")
        .map(|e| {
            (
                e["reason"].as_str().unwrap_or_default().to_string(),
                e["note"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Writes the operator made to ControlAssessment statuses and to ConfigMaps.
async fn assessment_writes(http: &reqwest::Client, k: &str) -> Vec<String> {
    let recorded = get(http, &format!("{k}/_emulator/requests")).await;
    recorded
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["method"] != "GET")
        .filter_map(|r| {
            let path = r["path"].as_str()?;
            (path.starts_with(ASSESSMENTS) || path.contains("/configmaps"))
                .then(|| format!("{} {path}", r["method"].as_str().unwrap_or_default()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn assessment_rolls_up_records_evidence_and_reports() {
    let kube = tokio::task::spawn_blocking(support::start_kube_emulator)
        .await
        .expect("kube emulator");
    // The demo account without the zones the example policies do not cover (the status
    // page's, whose policy is an AddressSet example, and the one left uncovered on purpose):
    // every listed zone covered, so the control can become Implemented.
    let mut seed: perimeter_emulators::cloudflare::Seed =
        serde_json::from_value(manifest("examples/demo/cloudflare-account.yaml")).expect("seed");
    seed.zones.retain(|z| z.name == "example.com");
    assert_eq!(seed.zones.len(), 1);
    let cloudflare = perimeter_emulators::cloudflare::CloudflareEmulator::new(seed);
    let running = cloudflare
        .start("127.0.0.1:0")
        .await
        .expect("cloudflare emulator");
    // The Slack workspace Cloudflare's alerts reach (#ops-alerts, through the webhook the
    // monitoring example declares): DE.CM-1's alert routing is verified against it.
    let mut slack_seed: perimeter_emulators::slack::Seed =
        serde_json::from_value(manifest("examples/demo/slack-workspace.yaml")).expect("seed");
    for t in &mut slack_seed.tokens {
        t.token = SLACK_TOKEN.into();
    }
    let slack = perimeter_emulators::slack::SlackEmulator::new(slack_seed);
    let slack_running = slack.start("127.0.0.1:0").await.expect("slack emulator");
    let http = reqwest::Client::new();
    let k = kube.url.clone();

    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = support::write_kubeconfig(dir.path(), &k, NS);

    let secrets = format!("{k}/api/v1/namespaces/{NS}/secrets");
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cloudflare-api", "labels": {"perimeter.dev/credential": "true"}},
                        "data": {"token": "ZGVtby10b2tlbg=="}});
    send(http.post(&secrets).json(&secret), "create the Secret").await;
    let slack_secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "slack-bot", "labels": {"perimeter.dev/credential": "true"}},
                              "stringData": {"token": SLACK_TOKEN}});
    send(
        http.post(&secrets).json(&slack_secret),
        "create the Slack Secret",
    )
    .await;
    let mut provider = manifest("examples/cloudflare/provider.yaml");
    provider["spec"]["endpoint"] = json!(format!("{}/client/v4", running.base_url()));
    let mut slack_provider = manifest("examples/slack/provider.yaml");
    slack_provider["spec"]["endpoint"] = json!(format!("{}/api", slack_running.base_url()));
    // Only the live channel: the example's archived one would be a monitoring gap of its own.
    let mut channels = manifest("examples/slack/monitoring-alert-channels.yaml");
    channels["spec"]["slack"]["channels"] = json!([{"id": "C0ALERTS01", "name": "ops-alerts"}]);
    for (plural, body) in [
        ("cloudproviders", provider),
        ("cloudproviders", slack_provider),
        ("monitoringpolicies", channels),
        (
            "firewallpolicies",
            manifest("examples/cloudflare/firewall-edge.yaml"),
        ),
        (
            "firewallpolicies",
            manifest("examples/cloudflare/firewall-access.yaml"),
        ),
        (
            "monitoringpolicies",
            manifest("examples/cloudflare/monitoring.yaml"),
        ),
    ] {
        let url = format!("{k}{GROUP}/namespaces/{NS}/{plural}");
        send(http.post(&url).json(&body), &format!("create {plural}")).await;
    }
    let created = send(
        http.post(format!("{k}{ASSESSMENTS}"))
            .json(&manifest("examples/compliance/de-cm-1.yaml")),
        "create the ControlAssessment",
    )
    .await;
    assert!(
        created["metadata"].get("namespace").is_none(),
        "cluster-scoped"
    );

    let log = dir.path().join("operator.log");
    let _operator = support::kube::operator(
        &kubeconfig,
        &format!("127.0.0.1:{}", support::free_port()),
        &[("POD_NAMESPACE", NS), ("PERIMETER_LOG", "info")],
        std::fs::File::create(&log).expect("log file"),
    );

    // 1. The Enforce policies get in sync, the Observe one stays drifted: one gap, named.
    let synced = |h: &perimeter::compliance::evidence::Record, want: &[(&str, &str)]| {
        want.iter().all(|(subject, result)| {
            h.observations
                .iter()
                .any(|o| o.subject == *subject && o.result == *result)
        })
    };
    let (partial, trail) = wait_state(&http, &k, "DE.CM-1 partially implemented", |_, t| {
        t.head().is_some_and(|h| {
            synced(
                h,
                &[
                    ("FirewallPolicy perimeter/edge-firewall", "True"),
                    ("MonitoringPolicy perimeter/edge-monitoring", "True"),
                    ("MonitoringPolicy perimeter/alert-channels", "True"),
                    (DRIFTED, "False"),
                ],
            )
        })
    })
    .await;
    let status = &partial["status"];
    assert_eq!(status["state"], "PartiallyImplemented");
    assert_eq!(status["maturity"]["level"], 1);
    assert_eq!(
        status["coverage"],
        json!([{"provider": "perimeter/cloudflare-main", "type": "cloudflare",
                "firewall": "Drifted", "monitoring": "Verified", "alerting": "Verified",
                "summary": "verified: monitoring, alerting; drifted: firewall"},
               {"provider": "perimeter/slack-main", "type": "slack",
                "firewall": "NotApplicable", "monitoring": "Verified", "alerting": "NotApplicable",
                "summary": "not applicable: firewall, alerting; verified: monitoring"}])
    );
    assert_eq!(status["gapCount"], 1);
    assert_eq!(status["gaps"][0]["requirement"], "BoundaryFirewall");
    assert_eq!(status["gaps"][0]["subject"], DRIFTED);
    let requirements: Vec<(&str, &str)> = status["requirements"]
        .as_array()
        .expect("requirements")
        .iter()
        .filter_map(|r| Some((r["id"].as_str()?, r["state"].as_str()?)))
        .collect();
    assert_eq!(
        requirements,
        [
            ("BoundaryFirewall", "Gap"),
            ("NetworkMonitoring", "Verified"),
            ("AlertRouting", "Verified"),
            ("EndpointFirewall", "Attested")
        ]
    );
    let ready = &status["conditions"][0];
    assert_eq!(
        (&ready["type"], &ready["status"]),
        (&json!("Ready"), &json!("False"))
    );
    assert_eq!(ready["reason"], "PartiallyImplemented");
    assert_eq!(
        status["observedGeneration"],
        partial["metadata"]["generation"]
    );
    assert_eq!(status["evidence"]["store"], format!("ConfigMap {NS}/{CM}"));
    let head = trail.head().expect("a head record").clone();
    assert!(
        head.observations
            .iter()
            .any(|o| o.subject == DRIFTED && o.result == "False"),
        "{:?}",
        head.observations
    );
    assert!(trail.verify(Duration::from_secs(3600), None).ok());
    let cm = get(
        &http,
        &format!("{k}/api/v1/namespaces/{NS}/configmaps/{CM}"),
    )
    .await;
    let stored: Value = serde_json::from_str(
        cm["data"]["assessment.json"]
            .as_str()
            .expect("assessment.json"),
    )
    .expect("json");
    assert_eq!(stored["state"], "PartiallyImplemented");
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "perimeter"
    );

    // 2. Enforcing the drifted policy fixes it at the provider: Implemented, maturity 3.
    merge_patch(
        &http,
        &format!("{k}{GROUP}/namespaces/{NS}/firewallpolicies/edge-access-rules"),
        &json!({"spec": {"mode": "Enforce"}}),
    )
    .await;
    let (implemented, trail) = wait_state(&http, &k, "DE.CM-1 implemented", |s, _| {
        s["state"] == "Implemented"
    })
    .await;
    let status = &implemented["status"];
    assert_eq!(
        (status["score"].as_str(), status["gapCount"].as_u64()),
        (Some("4/4"), Some(0))
    );
    assert_eq!(
        status["maturity"]["level"], 3,
        "every policy in Enforce mode"
    );
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_linked(&trail, head.seq, &head.digest);
    let head = trail.head().expect("head").clone();
    let events = wait_for("a ComplianceImplemented Event", async || {
        let events = assessment_events(&http, &k).await;
        events
            .iter()
            .any(|(reason, _)| reason == "ComplianceImplemented")
            .then(|| json!(events))
    })
    .await;
    assert!(
        events.to_string().contains(&head.digest),
        "the Event names the evidence record: {events}"
    );

    // 3. The report from the cluster: exit 0 (implemented), its export verifies.
    let out = cli(
        &kubeconfig,
        &["report", "--cluster", "--namespace", NS, "--format", "json"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export: Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    let report = &export["reports"][0];
    assert_eq!(report["assessment"], "de-cm-1");
    assert_eq!(report["result"]["state"], "Implemented");
    assert_eq!(report["verification"]["problems"], json!([]));
    // Checked against the status' head (no HeadMismatch above), and it holds what we saw.
    let exported: Trail = serde_json::from_value(report["evidence"].clone()).expect("trail");
    assert_eq!(
        report["verification"]["head"],
        exported.head().expect("head").digest.as_str()
    );
    assert!(exported.records.iter().any(|r| r.digest == head.digest));
    let export_file = dir.path().join("report.json");
    std::fs::write(&export_file, &out.stdout).expect("write export");
    let verify = cli(
        &kubeconfig,
        &["evidence", "verify", export_file.to_str().expect("path")],
    );
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(0), "{text}");
    assert!(text.contains("chain intact"), "{text}");

    // 4. A rejected credential: the provider cannot be read, so nothing it covers counts.
    merge_patch(
        &http,
        &format!("{secrets}/cloudflare-api"),
        &json!({"data": {"token": "YnJva2Vu"}}),
    )
    .await;
    // Settled once every policy has failed to read the provider, too.
    let (regressed, trail) = wait_state(&http, &k, "DE.CM-1 regressed", |s, trail| {
        // Coverage rows in name order: cloudflare-main, then slack-main.
        s["coverage"][0]["firewall"] == "Unknown"
            && trail.head().is_some_and(|h| {
                // Cloudflare's policies; Slack's stays readable.
                h.observations
                    .iter()
                    .filter(|o| {
                        o.subject.contains("Policy ") && !o.subject.contains("alert-channels")
                    })
                    .all(|o| o.result == "Unknown")
            })
    })
    .await;
    let status = &regressed["status"];
    assert_eq!(status["state"], "PartiallyImplemented");
    assert_eq!(status["score"], "1/4", "only the attestation still counts");
    assert_eq!(
        status["gaps"][0]["subject"],
        "cloudflare perimeter/cloudflare-main"
    );
    assert_linked(&trail, head.seq, &head.digest);
    let regressed_at = trail
        .records
        .iter()
        .find(|r| r.seq > head.seq && r.state != ImplementationState::Implemented)
        .expect("the regression record")
        .clone();
    assert_eq!(regressed_at.satisfied, 1);
    let head = trail.head().expect("head").clone();
    wait_for("a ComplianceRegressed Event", async || {
        let events = assessment_events(&http, &k).await;
        events
            .iter()
            .any(|(reason, note)| {
                reason == "ComplianceRegressed" && note.contains(&regressed_at.digest)
            })
            .then_some(Value::Null)
    })
    .await;
    let out = cli(&kubeconfig, &["report", "--cluster", "--namespace", NS]);
    let markdown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "not implemented: {markdown}");
    assert!(markdown.contains("Chain: intact"), "{markdown}");

    // 5. Settled: no status and no evidence writes.
    let settled = assessment_writes(&http, &k).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = assessment_writes(&http, &k).await;
    assert_eq!(
        later[settled.len()..],
        [] as [String; 0],
        "writes once settled"
    );

    // 6. A record edited in the ConfigMap (the oldest one made to look compliant): the report
    //    shows it, its export fails to verify, and the operator stops extending the trail.
    let url = format!("{k}/api/v1/namespaces/{NS}/configmaps/{CM}");
    let mut cm = get(&http, &url).await;
    let original = cm["data"]["trail.json"]
        .as_str()
        .expect("trail")
        .to_string();
    let mut edited: Value = serde_json::from_str(&original).expect("json");
    edited["records"][0]["state"] = json!("Implemented");
    edited["records"][0]["satisfied"] = json!(4);
    assert_ne!(edited.to_string(), original);
    cm["data"]["trail.json"] = json!(edited.to_string());
    send(http.put(&url).json(&cm), "edit the trail").await;
    let edited_at = assessment_writes(&http, &k).await.len();
    let out = cli(&kubeconfig, &["report", "--cluster", "--namespace", NS]);
    let markdown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "evidence that fails → 1: {markdown}"
    );
    assert!(markdown.contains("**1 problem(s)**"), "{markdown}");
    assert!(markdown.contains("Tampered at #1"), "{markdown}");
    let out = cli(
        &kubeconfig,
        &["report", "--cluster", "--namespace", NS, "--format", "json"],
    );
    std::fs::write(&export_file, &out.stdout).expect("write export");
    let verify = cli(
        &kubeconfig,
        &["evidence", "verify", export_file.to_str().expect("path")],
    );
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(1), "{text}");
    assert!(text.contains("Tampered at #1"), "{text}");

    // The credential fixed: the control would change, but the edited trail is not extended
    // (the next record would vouch for it); the assessment says why instead.
    merge_patch(
        &http,
        &format!("{secrets}/cloudflare-api"),
        &json!({"data": {"token": "ZGVtby10b2tlbg=="}}),
    )
    .await;
    let held = wait_for("Ready=False EvidenceTampered", async || {
        let obj = get(&http, &format!("{k}{ASSESSMENTS}/de-cm-1")).await;
        (obj["status"]["conditions"][0]["reason"] == "EvidenceTampered").then_some(obj)
    })
    .await;
    let ready = &held["status"]["conditions"][0];
    assert_eq!(ready["status"], "False");
    assert!(
        ready["message"]
            .as_str()
            .is_some_and(|m| m.contains("Tampered at #1")),
        "{ready}"
    );
    assert_eq!(held["status"]["evidence"]["digest"], head.digest.as_str());
    let writes = assessment_writes(&http, &k).await;
    assert!(
        writes[edited_at..]
            .iter()
            .all(|w| !w.contains("/configmaps")),
        "the edited trail is left as it is: {:?}",
        &writes[edited_at..]
    );
    assert_eq!(
        get(&http, &url).await["data"]["trail.json"],
        json!(edited.to_string())
    );

    let logs = std::fs::read_to_string(&log).expect("operator log");
    assert!(!logs.contains("assessment failed"), "{logs}");
}
