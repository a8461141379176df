//! Address sets end to end in local mode (`check`/`demo`'s engine): a set read from Better
//! Stack's emulator feeds a Cloudflare allow list in Enforce; the source changes between passes
//! and the policy drifts and follows; a missing or unusable set never lets the policy write.

mod support;

use perimeter::local::{CredentialSource, Options, PolicyState, Report, Runner};
use perimeter::manifests::Manifests;
use perimeter_emulators::betterstack::{BetterstackEmulator, Seed as BetterstackSeed};
use perimeter_emulators::cloudflare::{CloudflareEmulator, Seed as CloudflareSeed};
use perimeter_emulators::server::RunningEmulator;

const ZONE: &str = "7c5dae5552338874e5053f2534d2767a";

struct Accounts {
    cloudflare: CloudflareEmulator,
    betterstack: BetterstackEmulator,
    _running: (RunningEmulator, RunningEmulator),
    options: Options,
    credentials: CredentialSource,
}

async fn accounts() -> Accounts {
    let mut cf: CloudflareSeed = serde_json::from_value(support::kube::manifest(
        "examples/demo/cloudflare-account.yaml",
    ))
    .expect("seed");
    cf.tokens = vec!["cf-token".into()];
    let mut bs: BetterstackSeed = serde_json::from_value(support::kube::manifest(
        "examples/demo/betterstack-team.yaml",
    ))
    .expect("seed");
    bs.tokens = vec!["bs-token".into()];
    let cloudflare = CloudflareEmulator::new(cf);
    let betterstack = BetterstackEmulator::new(bs);
    let cf_run = cloudflare.start("127.0.0.1:0").await.expect("cloudflare");
    let bs_run = betterstack.start("127.0.0.1:0").await.expect("betterstack");
    let options = Options {
        endpoints: [
            (
                "cloudflare-main".to_string(),
                format!("{}/client/v4", cf_run.base_url()),
            ),
            ("betterstack-main".to_string(), bs_run.base_url()),
        ]
        .into(),
        ..Default::default()
    };
    let mut credentials = CredentialSource::default();
    credentials.insert("cloudflare-api", "token", "cf-token");
    credentials.insert("betterstack-api", "token", "bs-token");
    Accounts {
        cloudflare,
        betterstack,
        _running: (cf_run, bs_run),
        options,
        credentials,
    }
}

/// The two CloudProviders and the probe policy of the examples, plus `extra` documents.
fn manifests(extra: &[&str]) -> Manifests {
    let mut m = Manifests::default();
    for file in [
        "examples/cloudflare/provider.yaml",
        "examples/betterstack/provider.yaml",
        "examples/addresssets/cloudflare-uptime-probes.yaml",
    ] {
        let text = std::fs::read_to_string(support::repo_root().join(file)).expect("example");
        m.add_yaml(file, &text).expect("valid example");
    }
    for (i, text) in extra.iter().enumerate() {
        m.add_yaml(&format!("extra-{i}.yaml"), text)
            .expect("valid extra");
    }
    m
}

fn probes_example() -> String {
    std::fs::read_to_string(
        support::repo_root().join("examples/addresssets/betterstack-probes.yaml"),
    )
    .expect("example")
}

fn policy<'a>(report: &'a Report, name: &str) -> &'a perimeter::local::PolicyReport {
    report
        .policies
        .iter()
        .find(|p| p.name == name)
        .expect("policy")
}

/// Access rules of the status zone, as `(value, mode)`.
fn zone_rules(cloudflare: &CloudflareEmulator) -> Vec<String> {
    let snapshot = serde_json::to_value(cloudflare.snapshot()).expect("json");
    let mut out: Vec<String> = snapshot["zones"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|z| z["id"] == ZONE)
        .flat_map(|z| z["access_rules"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            format!(
                "{} {}",
                r["configuration"]["value"].as_str().unwrap_or_default(),
                r["mode"].as_str().unwrap_or_default()
            )
        })
        .collect();
    out.sort();
    out
}

/// Pass 1 creates one allow rule per probe address; the source changes; pass 2 shows the
/// policy drifted (one address missing, one retired) and Enforce follows; the policy records
/// the set's digest, which changes with the source.
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_source_makes_the_dependent_policy_drift_and_follow() {
    let a = accounts().await;
    let probes = probes_example();
    let runner = Runner::new(
        manifests(&[&probes]),
        &a.credentials,
        a.options.clone(),
        None,
    )
    .await;

    let first = runner.run_once().await;
    let set = &first.address_sets[0];
    assert!(set.ready, "{set:?}");
    assert_eq!(set.count, 7, "{set:?}");
    let p = policy(&first, "edge-uptime-probes");
    assert_eq!(p.state, PolicyState::InSync, "{p:?}");
    assert_eq!(p.applied.len(), 7, "{p:?}");
    assert_eq!(p.address_sets.len(), 1);
    assert_eq!(Some(&p.address_sets[0].digest), set.digest.as_ref());
    let rules = zone_rules(&a.cloudflare);
    assert_eq!(rules.len(), 7, "{rules:?}");
    assert!(rules.contains(&"139.162.156.157 whitelist".to_string()));
    assert!(rules.contains(&"2600:3c00::f03c:93ff:fe49:8f06 whitelist".to_string()));

    // Better Stack retires a probe and adds another.
    a.betterstack.mutate(|seed| {
        let eu = seed.ips_by_cluster.get_mut("eu").expect("eu");
        eu.retain(|ip| ip != "139.162.156.157");
        eu.push("139.162.156.201".into());
    });
    let second = runner.run_once().await;
    let p = policy(&second, "edge-uptime-probes");
    let found: Vec<String> = p.drift_found.iter().map(|d| d.field.clone()).collect();
    assert_eq!(found.len(), 2, "one address added, one retired: {found:?}");
    assert!(
        found.iter().any(|f| f.contains("139.162.156.201")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|f| f.contains("139.162.156.157")),
        "{found:?}"
    );
    assert_eq!(p.state, PolicyState::InSync, "{p:?}");
    let rules = zone_rules(&a.cloudflare);
    assert!(
        rules.contains(&"139.162.156.201 whitelist".to_string()),
        "{rules:?}"
    );
    assert!(
        !rules.iter().any(|r| r.starts_with("139.162.156.157 ")),
        "{rules:?}"
    );
    assert_ne!(
        second.address_sets[0].digest, first.address_sets[0].digest,
        "the digest shows the source changed"
    );
    assert_eq!(
        Some(&p.address_sets[0].digest),
        second.address_sets[0].digest.as_ref()
    );

    // Nothing changed: a third pass writes nothing.
    let writes = a.cloudflare.log().writes().len();
    let third = runner.run_once().await;
    assert_eq!(
        policy(&third, "edge-uptime-probes").state,
        PolicyState::InSync
    );
    assert_eq!(a.cloudflare.log().writes().len(), writes);
}

/// A missing set, a source that answers an empty list, a malformed address, and a source of
/// the wrong account type: the policy is Unknown with a reason naming the set and the field,
/// and nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_set_never_lets_a_policy_write() {
    let a = accounts().await;

    // Missing.
    let runner = Runner::new(manifests(&[]), &a.credentials, a.options.clone(), None).await;
    let report = runner.run_once().await;
    let p = policy(&report, "edge-uptime-probes");
    assert_eq!(p.state, PolicyState::Unknown);
    assert_eq!(p.reason.as_deref(), Some("AddressSetNotReady"));
    assert_eq!(
        p.message.as_deref(),
        Some(
            "spec.cloudflare.ipAccessRuleSets[0].addressSet: AddressSet \"betterstack-probes\" not found in namespace \"perimeter\""
        )
    );
    assert!(p.address_sets.is_empty());
    assert_eq!(report.exit_code(), 1);

    // Empty answer, then one malformed address.
    let probes = probes_example();
    let runner = Runner::new(
        manifests(&[&probes]),
        &a.credentials,
        a.options.clone(),
        None,
    )
    .await;
    a.betterstack.mutate(|seed| {
        for ips in seed.ips_by_cluster.values_mut() {
            ips.clear();
        }
    });
    let report = runner.run_once().await;
    let set = &report.address_sets[0];
    assert!(!set.ready);
    // Better Stack's answer is refused as a whole (a cluster without addresses).
    assert_eq!(set.reason.as_deref(), Some("SourceUnreadable"), "{set:?}");
    assert!(
        set.message
            .as_deref()
            .is_some_and(|m| m.contains("ips-by-cluster.json")),
        "{set:?}"
    );
    let p = policy(&report, "edge-uptime-probes");
    assert_eq!(p.state, PolicyState::Unknown);
    let message = p.message.clone().unwrap_or_default();
    assert!(
        message.contains("ipAccessRuleSets[0].addressSet")
            && message.contains("\"betterstack-probes\" is not ready")
            && message.contains("SourceUnreadable"),
        "{message}"
    );
    a.betterstack.mutate(|seed| {
        seed.ips_by_cluster.insert(
            "us".into(),
            vec!["45.79.122.169".into(), "999.1.1.1".into()],
        );
    });
    let report = runner.run_once().await;
    assert_eq!(
        report.address_sets[0].reason.as_deref(),
        Some("SourceUnreadable")
    );
    assert_eq!(
        policy(&report, "edge-uptime-probes").state,
        PolicyState::Unknown
    );

    // A source naming an account of another type.
    let wrong = probes.replace("name: betterstack-main", "name: cloudflare-main");
    let runner = Runner::new(
        manifests(&[&wrong]),
        &a.credentials,
        a.options.clone(),
        None,
    )
    .await;
    let report = runner.run_once().await;
    assert_eq!(
        report.address_sets[0].reason.as_deref(),
        Some("ProviderMismatch")
    );
    assert_eq!(
        policy(&report, "edge-uptime-probes").state,
        PolicyState::Unknown
    );

    assert!(
        a.cloudflare.log().writes().is_empty(),
        "no write from an unusable set"
    );
    assert!(zone_rules(&a.cloudflare).is_empty());
}

/// A set in another namespace is not found: a policy only sees its own namespace's sets.
#[tokio::test(flavor = "multi_thread")]
async fn a_set_of_another_namespace_is_not_used() {
    let a = accounts().await;
    let declared = "apiVersion: perimeter.dev/v1alpha1\nkind: AddressSet\nmetadata:\n  name: betterstack-probes\n  namespace: other\nspec:\n  addresses: [192.0.2.1]\n";
    let runner = Runner::new(
        manifests(&[declared]),
        &a.credentials,
        a.options.clone(),
        None,
    )
    .await;
    let report = runner.run_once().await;
    assert!(report.address_sets[0].ready);
    let p = policy(&report, "edge-uptime-probes");
    assert_eq!(p.state, PolicyState::Unknown);
    assert!(
        p.message
            .as_deref()
            .is_some_and(|m| m.contains("not found in namespace \"perimeter\"")),
        "{p:?}"
    );
    assert!(a.cloudflare.log().writes().is_empty());
}

/// The AWS account of the NAT test: the example CloudProvider with a key in a Secret (a local
/// run has no workload identity), and its endpoint given on the command line.
const AWS_ACCOUNT: &str = "apiVersion: perimeter.dev/v1alpha1
kind: CloudProvider
metadata:
  name: aws-prod
  namespace: perimeter
spec:
  type: aws
  accountId: \"123456789012\"
  credentials:
    secretRef: {name: aws-perimeter, key: credentials}
  regions: [eu-west-1]
  rateLimit: {requestsPerMinute: 60000, burst: 1000}
";

/// The status zone allows the AWS workers' NAT egress, and nothing else.
const NAT_POLICY: &str = "apiVersion: perimeter.dev/v1alpha1
kind: FirewallPolicy
metadata:
  name: edge-from-aws-nat
  namespace: perimeter
spec:
  providerRef: {name: cloudflare-main}
  mode: Enforce
  unmanaged: Remove
  cloudflare:
    zoneId: 7c5dae5552338874e5053f2534d2767a
    ipAccessRuleSets:
      - {mode: whitelist, addressSet: aws-nat-egress, notes: AWS NAT egress}
";

/// A set read from the AWS emulator's NAT gateways (the example, examples/addresssets/
/// aws-nat-egress.yaml) feeds a Cloudflare allow list in Enforce. A NAT gateway's Elastic IP
/// changes and a new gateway is still `pending`: the set follows the first and leaves the
/// second out, the policy drifts and follows; the NAT gateways deleted, the set is `Empty`
/// and nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_nat_gateway_address_change_makes_the_allowlist_drift_and_follow() {
    use perimeter_emulators::aws::{AwsEmulator, Seed as AwsSeed};
    let a = accounts().await;
    let aws_seed: AwsSeed = serde_json::from_value(serde_json::json!({
        "region": "eu-west-1",
        "pageSize": 1,
        "natGateways": [
            {"natGatewayId": "nat-0a1b2c3d4e5f60001", "vpcId": "vpc-0a1b2c3d4e5f60718",
             "addresses": [{"publicIp": "203.0.113.10", "privateIp": "10.20.1.5"}]},
            {"natGatewayId": "nat-0a1b2c3d4e5f60002", "vpcId": "vpc-0a1b2c3d4e5f60718",
             "addresses": [{"publicIp": "203.0.113.11", "privateIp": "10.20.2.5"}]},
            {"natGatewayId": "nat-0a1b2c3d4e5f60003", "vpcId": "vpc-0fffffffffffffff0",
             "addresses": [{"publicIp": "198.51.100.99"}]}
        ]
    }))
    .expect("seed");
    let aws = AwsEmulator::new(aws_seed);
    let aws_run = aws.start("127.0.0.1:0").await.expect("aws");
    let mut options = a.options.clone();
    options
        .endpoints
        .insert("aws-prod".into(), aws_run.base_url());
    let mut credentials = CredentialSource::default();
    credentials.insert("cloudflare-api", "token", "cf-token");
    credentials.insert(
        "aws-perimeter",
        "credentials",
        r#"{"accessKeyId": "AKIANATEXAMPLE000000", "secretAccessKey": "nat-secret"}"#,
    );
    let set = std::fs::read_to_string(
        support::repo_root().join("examples/addresssets/aws-nat-egress.yaml"),
    )
    .expect("example");
    let mut m = Manifests::default();
    let cf =
        std::fs::read_to_string(support::repo_root().join("examples/cloudflare/provider.yaml"))
            .expect("example");
    for (name, text) in [
        ("cloudflare.yaml", cf.as_str()),
        ("aws.yaml", AWS_ACCOUNT),
        ("set.yaml", set.as_str()),
        ("policy.yaml", NAT_POLICY),
    ] {
        m.add_yaml(name, text).expect("valid manifest");
    }
    let runner = Runner::new(m, &credentials, options, None).await;

    let first = runner.run_once().await;
    let s = &first.address_sets[0];
    assert!(s.ready, "{s:?}");
    assert_eq!(s.source, "awsNatGateways");
    assert_eq!(s.addresses, ["203.0.113.10/32", "203.0.113.11/32"], "{s:?}");
    let p = policy(&first, "edge-from-aws-nat");
    assert_eq!(p.state, PolicyState::InSync, "{p:?}");
    assert_eq!(p.applied.len(), 2, "{p:?}");
    assert_eq!(
        zone_rules(&a.cloudflare),
        ["203.0.113.10 whitelist", "203.0.113.11 whitelist"]
    );

    // The first gateway gets another Elastic IP; a new gateway is still being created.
    aws.mutate(|seed| {
        seed.nat_gateways[0].addresses[0].public_ip = Some("203.0.113.20".into());
        let mut pending = seed.nat_gateways[1].clone();
        pending.nat_gateway_id = "nat-0a1b2c3d4e5f60004".into();
        pending.state = "pending".into();
        pending.addresses[0].public_ip = Some("203.0.113.30".into());
        seed.nat_gateways.push(pending);
    });
    let second = runner.run_once().await;
    let p = policy(&second, "edge-from-aws-nat");
    let found: Vec<String> = p.drift_found.iter().map(|d| d.field.clone()).collect();
    assert_eq!(found.len(), 2, "one address added, one retired: {found:?}");
    assert!(
        found.iter().any(|f| f.contains("203.0.113.20")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|f| f.contains("203.0.113.10")),
        "{found:?}"
    );
    assert_eq!(p.state, PolicyState::InSync, "{p:?}");
    assert_eq!(
        zone_rules(&a.cloudflare),
        ["203.0.113.11 whitelist", "203.0.113.20 whitelist"]
    );
    assert_ne!(second.address_sets[0].digest, first.address_sets[0].digest);

    // Every NAT gateway deleted: the set is Empty, the policy Unknown, nothing written.
    aws.mutate(|seed| {
        for g in &mut seed.nat_gateways {
            g.state = "deleted".into();
        }
    });
    let writes = a.cloudflare.log().writes().len();
    let third = runner.run_once().await;
    assert_eq!(third.address_sets[0].reason.as_deref(), Some("Empty"));
    let p = policy(&third, "edge-from-aws-nat");
    assert_eq!(p.state, PolicyState::Unknown, "{p:?}");
    assert_eq!(a.cloudflare.log().writes().len(), writes);
    assert_eq!(zone_rules(&a.cloudflare).len(), 2);
    drop(aws_run);
}
