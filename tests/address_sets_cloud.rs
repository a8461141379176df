//! Address sets end to end in local mode for the two clouds the issue names: an `AddressSet`
//! feeds an AWS security group's rules and a GCP firewall rule's source ranges in Enforce,
//! against the Rust emulators. The set changes between runs; the dependent policy drifts (one
//! address added, one retired), Enforce follows, and the policy records the new digest.

mod support;

use perimeter::local::{CredentialSource, Options, PolicyState, Report, Runner};
use perimeter::manifests::Manifests;
use perimeter_emulators::aws::{AwsEmulator, Seed as AwsSeed};
use perimeter_emulators::gcp::{GcpEmulator, Seed as GcpSeed};
use serde_json::json;

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
const GCP_SA: &str = "perimeter@demo-project.iam.gserviceaccount.com";
const GCP_KEY: &str = include_str!("fixtures/gcp/test-sa.key.pem");
const GCP_PUB: &str = include_str!("fixtures/gcp/test-sa.pub.pem");

fn address_set(addresses: &[&str]) -> String {
    format!(
        "apiVersion: perimeter.dev/v1alpha1
kind: AddressSet
metadata: {{name: office, namespace: perimeter}}
spec:
  addresses: {addresses:?}
"
    )
}

fn manifests(docs: &[&str]) -> Manifests {
    let mut m = Manifests::default();
    for (i, text) in docs.iter().enumerate() {
        m.add_yaml(&format!("doc-{i}.yaml"), text).expect("valid");
    }
    m
}

fn policy_of<'a>(report: &'a Report, name: &str) -> &'a perimeter::local::PolicyReport {
    report
        .policies
        .iter()
        .find(|p| p.name == name)
        .expect("policy")
}

/// Two runs against the same account: the first with the set as `first`, the second with the
/// set as `second`. Returns both reports.
async fn two_runs(
    docs: &[&str],
    first: &[&str],
    second: &[&str],
    credentials: &CredentialSource,
    options: &Options,
) -> (Report, Report) {
    let mut reports = Vec::new();
    for set in [first, second] {
        let set = address_set(set);
        let mut all = docs.to_vec();
        all.push(&set);
        let runner = Runner::new(manifests(&all), credentials, options.clone(), None).await;
        reports.push(runner.run_once().await);
    }
    let second = reports.pop().expect("second");
    let first = reports.pop().expect("first");
    (first, second)
}

/// The set's digests: the policy records the one of what it used, and it changes with the set.
fn assert_digests_follow(first: &Report, second: &Report, name: &str) {
    for report in [first, second] {
        let p = policy_of(report, name);
        assert_eq!(p.address_sets.len(), 1, "{p:?}");
        assert_eq!(
            Some(&p.address_sets[0].digest),
            report.address_sets[0].digest.as_ref()
        );
    }
    assert_ne!(first.address_sets[0].digest, second.address_sets[0].digest);
}

fn drift_found(report: &Report, name: &str) -> Vec<String> {
    let mut out: Vec<String> = policy_of(report, name)
        .drift_found
        .iter()
        .map(|d| d.field.clone())
        .collect();
    out.sort();
    out
}

const AWS_PROVIDER: &str = "apiVersion: perimeter.dev/v1alpha1
kind: CloudProvider
metadata: {name: aws-main, namespace: perimeter}
spec:
  type: aws
  accountId: \"123456789012\"
  credentials:
    source: Secret
    secretRef: {name: aws, key: credentials}
  regions: [eu-west-1]
  rateLimit: {requestsPerMinute: 60000, burst: 1000}
";

const AWS_POLICY: &str = "apiVersion: perimeter.dev/v1alpha1
kind: FirewallPolicy
metadata: {name: office-ssh, namespace: perimeter}
spec:
  providerRef: {name: aws-main}
  mode: Enforce
  unmanaged: Remove
  aws:
    region: eu-west-1
    securityGroups:
      - groupId: sg-0a1b2c3d4e5f60718
        ingress:
          - {protocol: tcp, fromPort: 443, toPort: 443, cidr: 10.0.0.0/8, description: internal}
          - {protocol: tcp, fromPort: 22, toPort: 22, addressSet: office, description: office}
";

/// `(peer, ports)` of the group's ingress rules in the emulator.
fn aws_ingress(emulator: &AwsEmulator) -> Vec<String> {
    let state = serde_json::to_value(emulator.snapshot()).expect("json");
    let mut out: Vec<String> = state["securityGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["groupId"] == "sg-0a1b2c3d4e5f60718")
        .flat_map(|g| g["ingress"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            let peer = r["cidrIpv4"].as_str().or(r["cidrIpv6"].as_str());
            format!("{}:{}", r["fromPort"], peer.unwrap_or("?"))
        })
        .collect();
    out.sort();
    out
}

/// The set's IPv4 and IPv6 addresses become one SSH rule each (CidrIpv4 / CidrIpv6); the world
/// open rule nobody declared is revoked; the set changes and the group follows.
#[tokio::test(flavor = "multi_thread")]
async fn aws_security_group_follows_its_address_set() {
    let seed: AwsSeed = serde_json::from_value(json!({
        "accountId": "123456789012",
        "region": "eu-west-1",
        "accessKeys": [{"accessKeyId": KEY_ID, "secretAccessKey": SECRET_KEY}],
        "vpcs": [{"vpcId": "vpc-0a1b2c3d", "cidrBlock": "10.0.0.0/16"}],
        "securityGroups": [
            {"groupId": "sg-0a1b2c3d4e5f60718", "groupName": "bastion", "vpcId": "vpc-0a1b2c3d", "ingress": [
                {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"},
                {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "10.0.0.0/8", "description": "internal"}]}
        ]
    }))
    .expect("seed");
    let emulator = AwsEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let mut credentials = CredentialSource::default();
    credentials.insert(
        "aws",
        "credentials",
        &json!({"accessKeyId": KEY_ID, "secretAccessKey": SECRET_KEY}).to_string(),
    );
    let options = Options {
        endpoints: [("aws-main".to_string(), running.base_url())].into(),
        ..Default::default()
    };

    let (first, second) = two_runs(
        &[AWS_PROVIDER, AWS_POLICY],
        &["198.51.100.7", "203.0.113.0/28", "2001:db8::1"],
        &["198.51.100.7", "203.0.113.64/28", "2001:db8::1"],
        &credentials,
        &options,
    )
    .await;

    let p = policy_of(&first, "office-ssh");
    assert_eq!(p.state, PolicyState::InSync, "{p:?}");
    // Three rules created, the world-open one revoked.
    assert_eq!(p.applied.len(), 4, "{p:?}");
    let p = policy_of(&second, "office-ssh");
    assert_eq!(p.state, PolicyState::InSync, "{p:?}");
    assert_eq!(
        drift_found(&second, "office-ssh"),
        [
            "securityGroups[sg-0a1b2c3d4e5f60718].ingress[tcp:22:203.0.113.0/28]",
            "securityGroups[sg-0a1b2c3d4e5f60718].ingress[tcp:22:203.0.113.64/28]",
        ]
    );
    assert_eq!(
        aws_ingress(&emulator),
        [
            "22:198.51.100.7/32",
            "22:2001:db8::1/128",
            "22:203.0.113.64/28",
            "443:10.0.0.0/8",
        ]
    );
    assert_digests_follow(&first, &second, "office-ssh");
}

const GCP_POLICY: &str = "apiVersion: perimeter.dev/v1alpha1
kind: FirewallPolicy
metadata: {name: office-https, namespace: perimeter}
spec:
  providerRef: {name: gcp-main}
  mode: Enforce
  gcp:
    network: default
    firewallRules:
      - name: allow-office-https
        allowed: [{IPProtocol: tcp, ports: [\"443\"]}]
        sourceRanges: [192.0.2.10]
        sourceAddressSets: [office]
        targetTags: [web]
";

fn gcp_provider() -> String {
    "apiVersion: perimeter.dev/v1alpha1
kind: CloudProvider
metadata: {name: gcp-main, namespace: perimeter}
spec:
  type: gcp
  accountId: demo-project
  credentials:
    secretRef: {name: gcp, key: key.json}
  regions: [europe-west1]
"
    .to_string()
}

fn gcp_source_ranges(emulator: &GcpEmulator) -> serde_json::Value {
    let state = serde_json::to_value(emulator.snapshot()).expect("json");
    state["firewalls"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == "allow-office-https")
        .map(|f| f["sourceRanges"].clone())
        .unwrap_or_default()
}

/// The set's addresses join the rule's declared range; the set changes and the rule follows.
/// A set that would make the rule mix IPv4 and IPv6 stops the policy before any write.
#[tokio::test(flavor = "multi_thread")]
async fn gcp_firewall_rule_follows_its_address_set() {
    let seed: GcpSeed = serde_json::from_value(json!({
        "project": "demo-project",
        "serviceAccounts": [{"clientEmail": GCP_SA, "publicKeyPem": GCP_PUB}],
        "firewalls": [{"name": "allow-office-https", "network": "default", "direction": "INGRESS",
            "priority": 1000, "allowed": [{"IPProtocol": "tcp", "ports": ["443"]}],
            "sourceRanges": ["192.0.2.10/32", "198.51.100.7/32"], "targetTags": ["web"]}]
    }))
    .expect("seed");
    let emulator = GcpEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let base = running.base_url();
    let mut credentials = CredentialSource::default();
    credentials.insert(
        "gcp",
        "key.json",
        &json!({"type": "service_account", "project_id": "demo-project", "private_key_id": "k1",
            "private_key": GCP_KEY, "client_email": GCP_SA, "token_uri": format!("{base}/token")})
        .to_string(),
    );
    let mut options = Options {
        endpoints: [("gcp-main".to_string(), base.clone())].into(),
        ..Default::default()
    };
    options
        .trust
        .token_hosts
        .push(perimeter::trust::HostPattern::parse("127.0.0.1").expect("pattern"));
    let provider = gcp_provider();

    let (first, second) = two_runs(
        &[&provider, GCP_POLICY],
        &["198.51.100.7", "203.0.113.0/28"],
        &["198.51.100.7", "203.0.113.64/28"],
        &credentials,
        &options,
    )
    .await;
    let p = policy_of(&first, "office-https");
    assert_eq!(p.state, PolicyState::InSync, "{p:?}");
    assert_eq!(
        drift_found(&first, "office-https"),
        ["firewallRules[allow-office-https].sourceRanges"]
    );
    let p = policy_of(&second, "office-https");
    assert_eq!(p.state, PolicyState::InSync, "{p:?}");
    assert_eq!(
        drift_found(&second, "office-https"),
        ["firewallRules[allow-office-https].sourceRanges"]
    );
    assert_eq!(
        gcp_source_ranges(&emulator),
        // The declared range is sent as written; the set's in canonical form.
        json!(["192.0.2.10", "198.51.100.7/32", "203.0.113.64/28"])
    );
    assert_digests_follow(&first, &second, "office-https");

    // An IPv6 address in the set: refused naming the field, nothing written.
    let writes = emulator.log().writes().len();
    let set = address_set(&["198.51.100.7", "2001:db8::1"]);
    let runner = Runner::new(
        manifests(&[&provider, GCP_POLICY, &set]),
        &credentials,
        options.clone(),
        None,
    )
    .await;
    let report = runner.run_once().await;
    let p = policy_of(&report, "office-https");
    assert_eq!(p.state, PolicyState::Unknown, "{p:?}");
    let message = p.message.clone().unwrap_or_default();
    assert!(
        message.starts_with(
            "spec.gcp.firewallRules[0].sourceAddressSets[0]: AddressSet \"office\" makes the rule mix IPv4"
        ),
        "{message}"
    );
    assert_eq!(emulator.log().writes().len(), writes);
}

fn demo_seed<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let text = std::fs::read_to_string(support::repo_root().join(file)).expect("seed");
    serde_json::from_value(perimeter::manifests::yaml_to_json(&text).expect("yaml")).expect("seed")
}

const QDRANT_CLUSTER: &str = "7e6f2a4c-1b2d-4c3e-8f90-a1b2c3d4e5f6";

/// Qdrant: the cluster's allowlist in Enforce is the declared range plus the set's.
#[tokio::test(flavor = "multi_thread")]
async fn qdrant_allowlist_in_enforce_carries_the_set() {
    let emulator = perimeter_emulators::qdrant::QdrantEmulator::new(demo_seed(
        "examples/demo/qdrant-account.yaml",
    ));
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let mut credentials = CredentialSource::default();
    credentials.insert("qdrant-api", "key", "qdrant-demo-management-key");
    let options = Options {
        endpoints: [("qdrant-main".to_string(), running.base_url())].into(),
        ..Default::default()
    };
    let provider =
        std::fs::read_to_string(support::repo_root().join("examples/qdrant/provider.yaml"))
            .expect("example");
    let policy = format!(
        "apiVersion: perimeter.dev/v1alpha1
kind: FirewallPolicy
metadata: {{name: search, namespace: perimeter}}
spec:
  providerRef: {{name: qdrant-main}}
  mode: Enforce
  qdrant:
    accountId: 0b3c3f6e-5e0f-4b8a-9d39-3f1f2a9c7d10
    clusterId: {QDRANT_CLUSTER}
    allowedIpSourceRanges: [198.51.100.0/24]
    allowedAddressSets: [office]
    apiKeyExpiry: {{mode: Ignore}}
"
    );
    let set = address_set(&["203.0.113.7", "198.51.100.0/24"]);
    let runner = Runner::new(
        manifests(&[&provider, &policy, &set]),
        &credentials,
        options,
        None,
    )
    .await;
    let report = runner.run_once().await;
    let p = policy_of(&report, "search");
    assert_eq!(p.state, PolicyState::InSync, "{p:?}");
    assert_eq!(p.address_sets.len(), 1, "{p:?}");
    let state = serde_json::to_value(emulator.snapshot()).expect("json");
    let cluster = state["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["id"] == QDRANT_CLUSTER)
        .expect("cluster");
    assert_eq!(
        cluster["allowed_ip_source_ranges"],
        json!(["198.51.100.0/24", "203.0.113.7/32"])
    );
}

/// Vercel: one system-bypass entry per address of the set reaches the project in Enforce; the
/// entry declared by hand is kept, the stale one nobody declared is removed.
#[tokio::test(flavor = "multi_thread")]
async fn vercel_bypass_in_enforce_carries_the_set() {
    let emulator = perimeter_emulators::vercel::VercelEmulator::new(demo_seed(
        "examples/demo/vercel-team.yaml",
    ));
    let running = emulator.start("127.0.0.1:0").await.expect("emulator");
    let mut credentials = CredentialSource::default();
    credentials.insert("vercel-api", "token", "demo-token");
    let options = Options {
        endpoints: [("vercel-main".to_string(), running.base_url())].into(),
        ..Default::default()
    };
    let provider =
        std::fs::read_to_string(support::repo_root().join("examples/vercel/provider.yaml"))
            .expect("example");
    let policy = "apiVersion: perimeter.dev/v1alpha1
kind: FirewallPolicy
metadata: {name: shop, namespace: perimeter}
spec:
  providerRef: {name: vercel-main}
  mode: Enforce
  unmanaged: Remove
  vercel:
    projectId: prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB
    systemBypass:
      - {domain: shop.example.com, sourceIp: 192.0.2.10, note: uptime probe}
    systemBypassSets:
      - {domain: shop.example.com, addressSet: office}
";
    let set = address_set(&["203.0.113.7", "2001:db8::/48"]);
    let runner = Runner::new(
        manifests(&[&provider, policy, &set]),
        &credentials,
        options,
        None,
    )
    .await;
    let report = runner.run_once().await;
    let p = policy_of(&report, "shop");
    assert_eq!(p.state, PolicyState::InSync, "{p:?}");
    let state = serde_json::to_value(emulator.snapshot()).expect("json");
    let mut bypass: Vec<String> = state["teams"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["projects"].as_array().cloned().unwrap_or_default())
        .filter(|p| p["id"] == "prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB")
        .flat_map(|p| p["bypass"].as_array().cloned().unwrap_or_default())
        .map(|e| format!("{} {} {}", e["Domain"], e["Ip"], e["Note"]))
        .collect();
    bypass.sort();
    assert_eq!(
        bypass,
        [
            "\"shop.example.com\" \"192.0.2.10\" \"uptime probe\"",
            "\"shop.example.com\" \"2001:db8::/48\" \"address set office\"",
            "\"shop.example.com\" \"203.0.113.7\" \"address set office\"",
        ]
    );
}
