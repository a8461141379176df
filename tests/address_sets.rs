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
