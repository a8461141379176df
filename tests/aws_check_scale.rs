//! The acceptance run, as a new user would try it: a moto account of 51 VPCs (50 + moto's
//! default) and 301 security groups, seeded by `scripts/seed-moto-aws.py`; `perimeter check`
//! (the real binary) must name exactly the world-open groups and exactly the VPCs without flow
//! logs, exit 2, and never print the secret; `Enforce` (through the library, as the operator
//! would) then creates the missing flow logs and revokes the world-open rules, checked from
//! moto's side, and a second `check` exits 0.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_perimeter");
const SECRET_ENV: &str = "PERIMETER_SECRET_AWS_MOTO_CREDENTIALS";
/// The secret access key: must never appear in any output.
const SECRET_KEY: &str = "testing-secret-9f3e1c";

fn credential() -> String {
    format!(r#"{{"accessKeyId":"testing","secretAccessKey":"{SECRET_KEY}"}}"#)
}

/// Runs `scripts/seed-moto-aws.py` with the venv's Python and parses its JSON.
fn seed_script(endpoint: &str, args: &[&str]) -> Value {
    let root = support::repo_root();
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "run scripts/setup first");
    let out = Command::new(python)
        .arg(root.join("scripts/seed-moto-aws.py"))
        .args(["--endpoint", endpoint])
        .args(args)
        .output()
        .expect("run seed-moto-aws.py");
    assert!(
        out.status.success(),
        "seed-moto-aws.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("seed JSON")
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn write_manifests(dir: &Path, endpoint: &str, seeded: &Value, mode: &str) {
    let region = seeded["region"].as_str().expect("region");
    let group = seeded["flowLogGroup"].as_str().expect("group");
    let role = seeded["flowLogRole"].as_str().expect("role");
    std::fs::write(
        dir.join("provider.yaml"),
        format!(
            r#"apiVersion: perimeter.dev/v1alpha1
kind: CloudProvider
metadata: {{name: aws-moto, namespace: perimeter}}
spec:
  type: aws
  accountId: "123456789012"
  endpoint: {endpoint}
  credentials:
    source: Secret
    secretRef: {{name: aws-moto, key: credentials}}
  regions: [{region}]
  rateLimit: {{requestsPerMinute: 60000, burst: 1000}}
"#
        ),
    )
    .expect("provider.yaml");
    std::fs::write(
        dir.join("firewall.yaml"),
        format!(
            r#"apiVersion: perimeter.dev/v1alpha1
kind: FirewallPolicy
metadata: {{name: no-world-open, namespace: perimeter}}
spec:
  providerRef: {{name: aws-moto}}
  mode: {mode}
  aws:
    region: {region}
    findings:
      worldOpenIngress: Forbid
"#
        ),
    )
    .expect("firewall.yaml");
    std::fs::write(
        dir.join("monitoring.yaml"),
        format!(
            r#"apiVersion: perimeter.dev/v1alpha1
kind: MonitoringPolicy
metadata: {{name: flow-logs-everywhere, namespace: perimeter}}
spec:
  providerRef: {{name: aws-moto}}
  mode: {mode}
  aws:
    region: {region}
    flowLogs:
      allVpcs: true
      trafficType: ALL
      destinationType: cloud-watch-logs
      destination: arn:aws:logs:{region}:123456789012:log-group:{group}
      deliverLogsPermissionArn: {role}
"#
        ),
    )
    .expect("monitoring.yaml");
}

/// `perimeter check` on the folder: (exit code, stdout, stderr).
fn check(dir: &Path, json: bool) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    // The manifests name moto on loopback as their endpoint: allowed explicitly, as an
    // admin would allow a private endpoint.
    cmd.arg("check")
        .arg("--manifests")
        .arg(dir)
        .args(["--allow-endpoint-host", "127.0.0.1"]);
    if json {
        cmd.args(["--output", "json"]);
    }
    let out = cmd
        .env(SECRET_ENV, credential())
        .output()
        .expect("run perimeter");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn policy<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("policy {name} in {report}"))
}

/// The subjects of one finding code, `securityGroups[sg-…]` unwrapped to `sg-…`.
fn finding_subjects(policy: &Value, code: &str) -> BTreeSet<String> {
    policy["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == code)
        .map(|f| {
            let s = f["subject"].as_str().expect("subject");
            s.strip_prefix("securityGroups[")
                .and_then(|s| s.strip_suffix(']'))
                .unwrap_or(s)
                .to_string()
        })
        .collect()
}

/// Every `prefix…` id (hex) in a text.
fn ids_in(text: &str, prefix: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .collect()
}

/// The observed side of one drift entry.
fn drift_observed(policy: &Value, field: &str) -> String {
    policy["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .find(|d| d["field"] == field)
        .unwrap_or_else(|| panic!("drift {field} in {policy}"))["observed"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_then_enforce_on_a_50_vpc_300_group_account() {
    let moto = support::start_moto();
    let seeded = seed_script(&moto.url, &[]);
    let open = strings(&seeded["worldOpenGroups"]);
    let no_flow = strings(&seeded["vpcsWithoutFlowLogs"]);
    assert_eq!(open.len(), 7);
    assert_eq!(no_flow.len(), 13, "12 seeded VPCs + moto's default VPC");
    assert!(seeded["securityGroups"].as_u64() >= Some(300), "{seeded}");
    assert!(open.contains(seeded["sshGroup"].as_str().expect("ssh group")));

    let dir = tempfile::tempdir().expect("tempdir");
    write_manifests(dir.path(), &moto.url, &seeded, "Observe");

    // JSON: exit 2, findings and drift name exactly the seeded ids.
    let (code, stdout, stderr) = check(dir.path(), true);
    assert_eq!(code, 2, "drift → 2\n{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["providers"][0]["readable"], true, "{report}");
    let fw = policy(&report, "no-world-open");
    assert_eq!(fw["state"], "Drifted");
    assert_eq!(finding_subjects(fw, "WorldOpenIngress"), open);
    let open_drift = drift_observed(fw, "findings[worldOpenIngress].openIngress");
    assert_eq!(ids_in(&open_drift, "sg-"), open, "{open_drift}");
    assert!(
        open_drift.contains(&format!(
            "{}:tcp:22:0.0.0.0/0",
            seeded["sshGroup"].as_str().unwrap()
        )),
        "SSH open to the world is named with its port: {open_drift}"
    );
    let mon = policy(&report, "flow-logs-everywhere");
    assert_eq!(mon["state"], "Drifted");
    assert_eq!(finding_subjects(mon, "VpcWithoutFlowLogs"), no_flow);
    let flow_drift = drift_observed(mon, "flowLogs[allVpcs].vpcsWithoutFlowLog");
    assert_eq!(ids_in(&flow_drift, "vpc-"), no_flow, "{flow_drift}");
    assert!(!stdout.contains(SECRET_KEY) && !stderr.contains(SECRET_KEY));

    // Text: the same ids, the same exit code.
    let (code, text, stderr) = check(dir.path(), false);
    assert_eq!(code, 2, "{text}\n{stderr}");
    for id in open.iter().chain(&no_flow) {
        assert!(
            text.contains(id.as_str()),
            "{id} missing from the text output:\n{text}"
        );
    }
    assert!(text.contains("DRIFTED"), "{text}");
    assert!(!text.contains(SECRET_KEY) && !stderr.contains(SECRET_KEY));

    // Enforce through the library, as `demo` and the operator run it.
    write_manifests(dir.path(), &moto.url, &seeded, "Enforce");
    let manifests = perimeter::manifests::Manifests::load_dir(dir.path()).expect("manifests");
    let mut creds = perimeter::local::CredentialSource::default();
    creds.insert("aws-moto", "credentials", &credential());
    let options = perimeter::local::Options {
        force_observe: false,
        trust: perimeter::trust::Trust {
            endpoint_hosts: vec![
                perimeter::trust::HostPattern::parse("127.0.0.1").expect("pattern"),
            ],
            ..Default::default()
        },
        ..Default::default()
    };
    let enforced = perimeter::local::Runner::new(manifests, &creds, options, None)
        .await
        .run_once()
        .await;
    for p in &enforced.policies {
        assert_eq!(
            p.state,
            perimeter::local::PolicyState::InSync,
            "{}: {:?} {:?}",
            p.name,
            p.message,
            p.drift
        );
        assert!(!p.applied.is_empty(), "{}: nothing applied", p.name);
    }

    // From moto's side: every VPC has a flow log, no group is open to the world.
    let after = seed_script(&moto.url, &["--report"]);
    assert_eq!(
        strings(&after["vpcsWithoutFlowLogs"]),
        BTreeSet::new(),
        "{after}"
    );
    assert_eq!(
        strings(&after["worldOpenGroups"]),
        BTreeSet::new(),
        "{after}"
    );
    assert_eq!(after["vpcs"].as_array().map(Vec::len), Some(51));

    // And `check` agrees: in sync, exit 0.
    let (code, stdout, stderr) = check(dir.path(), false);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}
