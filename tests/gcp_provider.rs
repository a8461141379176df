//! The GCP client against the stateful GCP emulator: Observe and Enforce (firewall rules,
//! Cloud Armor with fingerprints, subnet flow logs, alert policies, uptime checks), paging,
//! long-running operations, every injected fault, and both ways of getting a token.

mod support;

use std::time::Duration;

use perimeter::SecretString;
use perimeter::api::{CloudProviderSpec, Mode, UnmanagedPolicy};
use perimeter::core::{Undeclared, diff};
use perimeter::error::Category;
use perimeter::http::HttpSettings;
use perimeter::providers::gcp::api::{GcpFirewall, GcpMonitoring};
use perimeter::providers::gcp::{Gcp, Options, firewall_target, monitoring_target};
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::sync;
use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::gcp::{GcpEmulator, Seed};
use perimeter_emulators::server::RunningEmulator;
use serde_json::{Value, json};

const PROJECT: &str = "demo-project";
const SA: &str = "perimeter@demo-project.iam.gserviceaccount.com";
const TEST_KEY: &str = include_str!("fixtures/gcp/test-sa.key.pem");
const TEST_PUB: &str = include_str!("fixtures/gcp/test-sa.pub.pem");
const OTHER_KEY: &str = include_str!("fixtures/gcp/other-sa.key.pem");

fn yaml(text: &str) -> Value {
    perimeter::manifests::yaml_to_json(text).expect("valid YAML")
}

fn seed(resources_yaml: &str) -> Seed {
    let mut v = yaml(resources_yaml);
    if v.is_null() {
        v = json!({});
    }
    v["project"] = json!(PROJECT);
    v["serviceAccounts"] = json!([{"clientEmail": SA, "publicKeyPem": TEST_PUB}]);
    v["metadataServer"] = json!(true);
    serde_json::from_value(v).expect("seed")
}

fn key_json(private_key: &str, base: &str) -> SecretString {
    SecretString::new(
        json!({
            "type": "service_account", "project_id": PROJECT, "private_key_id": "k1",
            "private_key": private_key, "client_email": SA, "token_uri": format!("{base}/token"),
        })
        .to_string(),
    )
}

fn spec(base: &str, source: &str) -> CloudProviderSpec {
    let credentials = if source == "Ambient" {
        json!({"source": "Ambient"})
    } else {
        json!({"secretRef": {"name": "gcp", "key": "key.json"}})
    };
    serde_json::from_value(json!({
        "type": "gcp", "accountId": PROJECT, "endpoint": base, "credentials": credentials,
        "regions": ["europe-west1"],
    }))
    .expect("spec")
}

fn options(timeout: Duration, metadata_host: Option<String>) -> Options {
    let mut settings = HttpSettings::new("gcp", "");
    settings.timeout = timeout;
    settings.backoff = Duration::from_millis(5);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    Options {
        metadata_host,
        operation_timeout: Some(Duration::from_secs(5)),
        settings: Some(settings),
        credentials_file: None,
        trust: lab_trust(),
        // As from a ClusterCloudProvider: token files are the operator's own.
        principal: Some(perimeter::trust::Principal::Admin),
    }
}

/// The emulator serves the token endpoints on loopback, and token files live in the temp dir:
/// what an admin would allow for private endpoints.
fn lab_trust() -> perimeter::trust::Trust {
    let loopback = perimeter::trust::HostPattern::parse("127.0.0.1").expect("pattern");
    perimeter::trust::Trust {
        token_hosts: vec![loopback.clone()],
        credential_url_hosts: vec![loopback],
        credential_dirs: vec![std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))],
        ..Default::default()
    }
}

struct Env {
    emulator: GcpEmulator,
    running: RunningEmulator,
    client: Gcp,
}

async fn env_with(seed: Seed, timeout: Duration) -> Env {
    let emulator = GcpEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .expect("emulator starts");
    let base = running.base_url();
    let client = Gcp::connect_with(
        &spec(&base, "Secret"),
        Some(key_json(TEST_KEY, &base)),
        None,
        options(timeout, None),
    )
    .expect("client");
    Env {
        emulator,
        running,
        client,
    }
}

async fn env(resources_yaml: &str) -> Env {
    env_with(seed(resources_yaml), Duration::from_secs(5)).await
}

fn firewall(block_yaml: &str) -> Target {
    let fw: GcpFirewall = serde_json::from_value(yaml(block_yaml)).expect("firewall block");
    firewall_target(&fw).expect("valid target")
}

fn monitoring(block_yaml: &str) -> Target {
    let mon: GcpMonitoring = serde_json::from_value(yaml(block_yaml)).expect("monitoring block");
    monitoring_target(&mon).expect("valid target")
}

const FIREWALLS_SEEDED: &str = r#"
firewalls:
  - {name: allow-ssh-anywhere, network: default, sourceRanges: [0.0.0.0/0], allowed: [{IPProtocol: tcp, ports: ["22"]}]}
  - {name: allow-internal, network: default, sourceRanges: [10.128.0.0/9], allowed: [{IPProtocol: "6"}, {IPProtocol: "17"}, {IPProtocol: icmp}], priority: 65534}
  - {name: allow-https, network: default, sourceRanges: [0.0.0.0/0], allowed: [{IPProtocol: tcp, ports: ["443"]}], targetTags: [web]}
  - {name: other-net-open, network: other, sourceRanges: [0.0.0.0/0], allowed: [{IPProtocol: all}]}
"#;

const FIREWALL_DECLARED: &str = r#"
network: default
firewallRules:
  - {name: allow-internal, priority: 65534, sourceRanges: [10.128.0.0/9], allowed: [{IPProtocol: tcp}, {IPProtocol: udp}, {IPProtocol: icmp}]}
  - {name: allow-https, sourceRanges: [0.0.0.0/0], allowed: [{IPProtocol: tcp, ports: ["443"]}], targetTags: [web], logConfig: {enable: true}}
  - {name: allow-iap-ssh, sourceRanges: [35.235.240.0/20], allowed: [{IPProtocol: tcp, ports: ["22"]}]}
"#;

#[tokio::test]
async fn observe_reports_firewall_drift_field_by_field_and_world_open_findings_without_writing() {
    let e = env(FIREWALLS_SEEDED).await;
    let out = sync(
        &e.client,
        &firewall(FIREWALL_DECLARED),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let drift: Vec<String> = out
        .remaining
        .as_ref()
        .expect("read")
        .drift
        .iter()
        .map(|d| d.path.clone())
        .collect();
    assert_eq!(
        drift,
        [
            "firewallRules[allow-https].logging",
            "firewallRules[allow-iap-ssh]"
        ]
    );
    let mut findings: Vec<(&str, &str)> = out
        .findings
        .iter()
        .map(|f| (f.code, f.subject.as_str()))
        .collect();
    findings.sort();
    assert_eq!(
        findings,
        [
            ("UnmanagedRule", "firewallRules[allow-ssh-anywhere]"),
            ("WorldOpenIngress", "firewallRules[allow-https]"),
            ("WorldOpenIngress", "firewallRules[allow-ssh-anywhere]"),
        ],
        "rules of other networks are not looked at"
    );
    let writes: Vec<String> = e
        .emulator
        .log()
        .writes()
        .iter()
        // Reads by POST: the token, and the audit log the drift is attributed from.
        .filter(|w| w.path != "/token" && w.path != "/v2/entries:list")
        .map(|w| format!("{} {}", w.method, w.path))
        .collect();
    assert!(writes.is_empty(), "Observe never writes: {writes:?}");
}

#[tokio::test]
async fn enforce_inserts_patches_and_deletes_firewall_rules_waiting_on_each_operation() {
    let e = env(FIREWALLS_SEEDED).await;
    e.emulator.set_operation_polls(2);
    let out = sync(
        &e.client,
        &firewall(FIREWALL_DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Remove,
    )
    .await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    assert_eq!(out.applied.len(), 3, "{:?}", out.applied);
    let log = e.emulator.log();
    assert_eq!(log.count("POST", "/global/firewalls"), 1);
    assert_eq!(log.count("PATCH", "/global/firewalls/allow-https"), 1);
    assert_eq!(
        log.count("DELETE", "/global/firewalls/allow-ssh-anywhere"),
        1
    );
    assert_eq!(log.count("POST", "/wait"), 6, "two polls per operation");
    let state = e.emulator.snapshot();
    let names: Vec<&str> = state
        .firewalls
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "allow-internal",
            "allow-https",
            "other-net-open",
            "allow-iap-ssh"
        ]
    );
    let https = &state.firewalls[1];
    assert_eq!(https["logConfig"]["enable"], true);
    // A second pass writes nothing.
    log.clear();
    let again = sync(
        &e.client,
        &firewall(FIREWALL_DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Remove,
    )
    .await;
    assert!(again.in_sync() && again.applied.is_empty());
    assert!(log.writes().iter().all(|w| w.path == "/token"));
}

#[tokio::test]
async fn an_operation_that_ends_with_an_error_is_a_write_rejection() {
    let e = env(FIREWALLS_SEEDED).await;
    e.emulator
        .fail_next_operation("Invalid value for field 'resource.sourceRanges[0]'");
    let out = sync(
        &e.client,
        &firewall(FIREWALL_DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    let err = out.error.clone().expect("the write failed");
    assert_eq!(err.category, Category::WriteRejected);
    assert!(
        err.message.contains("INVALID_USAGE") && err.message.contains("sourceRanges[0]"),
        "{err}"
    );
    assert!(!out.in_sync());
}

const ARMOR_SEEDED: &str = r#"
securityPolicies:
  - name: edge
    description: old
    rules:
      - {priority: 1000, action: "deny(403)", match: {versionedExpr: SRC_IPS_V1, config: {srcIpRanges: [198.51.100.0/24]}}}
      - {priority: 3000, action: allow, match: {expr: {expression: "origin.region_code == 'CH'"}}}
"#;

const ARMOR_DECLARED: &str = r#"
network: default
cloudArmorPolicies:
  - name: edge
    description: managed by perimeter
    rules:
      - {priority: 1000, action: "deny(404)", match: {versionedExpr: SRC_IPS_V1, config: {srcIpRanges: [198.51.100.0/24, 203.0.113.9/32]}}}
      - {priority: 2000, action: "deny(403)", description: block a region, match: {expr: {expression: "origin.region_code  == 'XX'"}}}
"#;

#[tokio::test]
async fn cloud_armor_rules_are_enforced_and_a_stale_fingerprint_is_reread_once() {
    let e = env(ARMOR_SEEDED).await;
    let target = firewall(ARMOR_DECLARED);
    let observed = e.client.observe(&target).await.expect("observe");
    let found = diff(&target.desired, &observed.state, Undeclared::Remove);
    let paths: Vec<&str> = found.drift.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "cloudArmorPolicies[edge].description",
            "cloudArmorPolicies[edge/1000].action",
            "cloudArmorPolicies[edge/1000].srcIpRanges",
            "cloudArmorPolicies[edge/2000]",
            "cloudArmorPolicies[edge/3000]",
        ]
    );
    // Someone else writes the policy between our read and our write.
    e.emulator.touch_security_policy("edge");
    let applied = e
        .client
        .apply(&target, &observed, &found.plan)
        .await
        .expect("applied");
    assert_eq!(applied.len(), 4);
    let log = e.emulator.log().entries();
    let patches: Vec<u16> = log
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.status)
        .collect();
    assert_eq!(patches, [412, 200], "stale fingerprint, re-read, retried");
    for verb in ["addRule", "patchRule", "removeRule"] {
        assert_eq!(e.emulator.log().count("POST", verb), 1, "{verb}");
    }
    let again = e.client.observe(&target).await.expect("observe");
    let left = diff(&target.desired, &again.state, Undeclared::Remove);
    assert!(left.in_sync(), "{:?}", left.drift);
    let state = e.emulator.snapshot();
    let priorities: Vec<u64> = state.security_policies[0]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["priority"].as_u64())
        .collect();
    assert_eq!(priorities, [1000, 2000, 2_147_483_647], "default rule kept");
}

#[tokio::test]
async fn a_missing_cloud_armor_policy_is_created_then_filled() {
    let e = env("").await;
    let out = sync(
        &e.client,
        &firewall(ARMOR_DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    assert_eq!(
        e.emulator.log().count("POST", "/global/securityPolicies"),
        3
    );
}

const SUBNETS_SEEDED: &str = r#"
subnetworks:
  - {name: logged, region: europe-west1, network: default, ipCidrRange: 10.0.0.0/24, logConfig: {enable: true}}
  - {name: by-config, region: europe-west1, network: default, ipCidrRange: 10.0.1.0/24}
  - {name: dark, region: europe-west1, network: default, ipCidrRange: 10.0.2.0/24, logConfig: {enable: false}}
  - {name: dark-too, region: europe-west1, network: default, ipCidrRange: 10.0.3.0/24}
  - {name: elsewhere, region: us-east1, network: default, ipCidrRange: 10.1.0.0/24}
vpcFlowLogsConfigs:
  - {subnet: "projects/demo-project/regions/europe-west1/subnetworks/by-config", state: ENABLED}
"#;

#[tokio::test]
async fn subnets_without_flow_logs_are_findings_then_drift_then_enforced_with_fingerprints() {
    let e = env(SUBNETS_SEEDED).await;
    // Without the requirement: findings for the CloudProvider's regions, no drift.
    let watch = monitoring("alertPolicies: []\n");
    let out = sync(&e.client, &watch, Mode::Observe, UnmanagedPolicy::Report).await;
    let subjects: Vec<&str> = out
        .findings
        .iter()
        .filter(|f| f.code == "SubnetWithoutFlowLogs")
        .map(|f| f.subject.as_str())
        .collect();
    assert_eq!(
        subjects,
        [
            "subnets[europe-west1/dark]",
            "subnets[europe-west1/dark-too]"
        ]
    );
    assert!(out.in_sync());

    let required = monitoring("flowLogs: {regions: [europe-west1]}\n");
    let observed = e.client.observe(&required).await.expect("observe");
    let found = diff(&required.desired, &observed.state, Undeclared::Report);
    assert_eq!(found.drift.len(), 1);
    assert_eq!(
        found.drift[0].path,
        "subnetFlowLogs[europe-west1].subnetsWithoutFlowLogs"
    );
    assert_eq!(
        found.drift[0].observed.as_deref(),
        Some(r#"["dark","dark-too"]"#)
    );
    e.emulator.touch_subnetwork("dark");
    e.client
        .apply(&required, &observed, &found.plan)
        .await
        .expect("applied");
    let statuses: Vec<u16> = e
        .emulator
        .log()
        .entries()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [412, 200, 200], "dark re-read once after a 412");
    let out = sync(&e.client, &required, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert!(out.findings.is_empty(), "{:?}", out.findings);
    let state = e.emulator.snapshot();
    assert_eq!(state.subnetworks[2]["logConfig"]["enable"], true);
}

const MONITORING_DECLARED: &str = r#"
alertPolicies:
  - displayName: Denied firewall connections
    combiner: OR
    conditions:
      - displayName: denied > 100/min
        conditionThreshold:
          filter: metric.type="logging.googleapis.com/user/firewall-denied" AND resource.type="gce_subnetwork"
          comparison: COMPARISON_GT
          thresholdValue: 100
          duration: 60s
          aggregations: [{alignmentPeriod: 60s, perSeriesAligner: ALIGN_RATE}]
    notificationChannels: [projects/demo-project/notificationChannels/123]
uptimeChecks:
  - displayName: www
    monitoredResource: {type: uptime_url, labels: {project_id: demo-project, host: www.example.com}}
    httpCheck: {path: /healthz, useSsl: true, validateSsl: true}
    period: 300s
    timeout: 10s
"#;

const MONITORING_SEEDED: &str = r#"
uptimeChecks:
  - displayName: www
    monitoredResource: {type: uptime_url, labels: {project_id: demo-project, host: www.example.com}}
    httpCheck: {path: /, useSsl: true, validateSsl: true}
    period: 60s
    timeout: 10s
"#;

#[tokio::test]
async fn alert_policies_and_uptime_checks_are_created_and_replaced() {
    let e = env(MONITORING_SEEDED).await;
    let target = monitoring(MONITORING_DECLARED);
    let out = sync(&e.client, &target, Mode::Observe, UnmanagedPolicy::Report).await;
    let drift: Vec<String> = out
        .remaining
        .expect("read")
        .drift
        .iter()
        .map(|d| d.path.clone())
        .collect();
    assert_eq!(
        drift,
        [
            "alertPolicies[Denied firewall connections]",
            "uptimeChecks[www].path",
            "uptimeChecks[www].period"
        ]
    );
    let out = sync(&e.client, &target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    let log = e.emulator.log();
    assert_eq!(
        log.count("POST", "/v3/projects/demo-project/alertPolicies"),
        1
    );
    assert_eq!(
        log.count("PATCH", "/v3/projects/demo-project/uptimeCheckConfigs/"),
        1
    );
}

#[tokio::test]
async fn lists_are_read_across_pages() {
    let mut resources = String::from("firewalls:\n");
    for i in 0..1203 {
        resources.push_str(&format!(
            "  - {{name: fw-{i}, network: default, sourceRanges: [10.0.0.0/8], allowed: [{{IPProtocol: tcp}}]}}\n"
        ));
    }
    resources.push_str("subnetworks:\n");
    for i in 0..510 {
        resources.push_str(&format!(
            "  - {{name: s-{i}, region: europe-west1, network: default, logConfig: {{enable: true}}}}\n"
        ));
    }
    resources.push_str("alertPolicies:\n");
    for i in 0..250 {
        resources.push_str(&format!("  - {{displayName: p-{i}, conditions: []}}\n"));
    }
    let e = env(&resources).await;
    let observed = e
        .client
        .observe(&firewall("network: default\nfirewallRules: []\n"))
        .await
        .expect("observe");
    assert_eq!(observed.state.sections[0].items.len(), 1203);
    assert_eq!(e.emulator.log().count("GET", "/global/firewalls"), 3);
    let observed = e
        .client
        .observe(&monitoring(
            "flowLogs: {regions: [europe-west1]}\nalertPolicies: []\n",
        ))
        .await
        .expect("observe");
    assert_eq!(e.emulator.log().count("GET", "/subnetworks"), 2);
    assert_eq!(e.emulator.log().count("GET", "/alertPolicies"), 3);
    assert_eq!(observed.state.sections[1].items.len(), 250);
    assert!(observed.findings.is_empty());
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_and_reads_that_fail_are_unknown() {
    let e = env(FIREWALLS_SEEDED).await;
    let target = firewall(FIREWALL_DECLARED);
    e.emulator.faults().inject(
        FaultRule::new(
            "/global/firewalls",
            Fault::RateLimited {
                retry_after_secs: 1,
            },
        )
        .times(1),
    );
    e.emulator
        .faults()
        .inject(FaultRule::new("/global/firewalls", Fault::ServerError { status: 503 }).times(1));
    let started = std::time::Instant::now();
    e.client.observe(&target).await.expect("retried");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );

    e.emulator
        .faults()
        .inject(FaultRule::new("/global/firewalls", Fault::Malformed));
    let out = sync(&e.client, &target, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        out.error.clone().expect("unknown").category,
        Category::BadResponse
    );
    assert!(!out.in_sync() && out.remaining.is_none());
    e.emulator.faults().clear();

    e.emulator
        .faults()
        .inject(FaultRule::new("/global/firewalls", Fault::WrongShape));
    let err = e.client.observe(&target).await.expect_err("wrong shape");
    assert_eq!(err.category, Category::BadResponse);
    e.emulator.faults().clear();

    e.emulator.faults().inject(FaultRule::new(
        "/global/firewalls",
        Fault::ServerError { status: 500 },
    ));
    let err = e.client.observe(&target).await.expect_err("5xx");
    assert_eq!(err.category, Category::ProviderError);
}

/// Through google-cloud-auth, a service-account key gives a self-signed JWT that the APIs
/// take as the bearer itself (as Google documents for service accounts): no token exchange
/// at `token_uri`, one JWT reused while it is valid, signed by the key and scoped to
/// cloud-platform.
#[tokio::test]
async fn a_service_account_key_signs_one_cached_jwt_bearer_without_a_token_exchange() {
    let e = env(FIREWALLS_SEEDED).await;
    let described = e.client.verify().await.expect("verified");
    assert!(described.contains(PROJECT));
    e.client
        .observe(&firewall(FIREWALL_DECLARED))
        .await
        .expect("observe");
    let log = e.emulator.log();
    assert_eq!(log.count("POST", "/token"), 0, "no exchange at token_uri");
    let jwts = e.emulator.accepted_jwts();
    assert_eq!(jwts.len(), 1, "one JWT, cached across calls");
    let claims: Value = jwts[0]
        .split('.')
        .nth(1)
        .and_then(|c| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
        })
        .and_then(|c| serde_json::from_slice(&c).ok())
        .expect("claims");
    assert_eq!(claims["iss"], SA);
    assert_eq!(claims["sub"], SA);
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
}

#[tokio::test]
async fn ambient_credentials_come_from_the_metadata_server() {
    let emulator = GcpEmulator::new(seed(FIREWALLS_SEEDED));
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let client = Gcp::connect_with(
        &spec(&base, "Ambient"),
        None,
        None,
        options(Duration::from_secs(5), Some(running.addr.to_string())),
    )
    .expect("client");
    client.verify().await.expect("verified");
    assert_eq!(emulator.log().count("GET", "/computeMetadata/v1/"), 1);

    let without = GcpEmulator::new(Seed {
        metadata_server: false,
        ..seed("")
    });
    let running = without.start("127.0.0.1:0").await.expect("starts");
    let client = Gcp::connect_with(
        &spec(&running.base_url(), "Ambient"),
        None,
        None,
        options(Duration::from_secs(5), Some(running.addr.to_string())),
    )
    .expect("client");
    let err = client.verify().await.expect_err("no identity");
    assert_eq!(err.category, Category::CredentialsRejected);
}

#[tokio::test]
async fn a_key_the_provider_does_not_know_is_rejected_without_printing_it() {
    let e = env("").await;
    let base = e.running.base_url();
    let client = Gcp::connect_with(
        &spec(&base, "Secret"),
        Some(key_json(OTHER_KEY, &base)),
        None,
        options(Duration::from_secs(5), None),
    )
    .expect("a well-formed key");
    let err = client.verify().await.expect_err("unknown key");
    // The API itself refuses the JWT bearer the unknown key signed.
    assert_eq!(err.category, Category::CredentialsRejected);
    assert!(err.message.contains("HTTP 401"), "{err}");
    let text = format!("{err} {err:?}");
    let key_line = OTHER_KEY.lines().nth(1).unwrap_or("x");
    assert!(!text.contains(key_line), "{text}");
    assert!(text.contains("Invalid JWT Signature"), "{text}");

    let broken = key_json(
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
        &base,
    );
    let err = Gcp::connect_with(
        &spec(&base, "Secret"),
        Some(broken),
        None,
        options(Duration::from_secs(5), None),
    )
    .err()
    .expect("unparsable key");
    assert_eq!(err.category(), Category::CredentialsRejected);
    assert!(!err.to_string().contains("bm90IGEga2V5"));

    // A request without a token is refused by the API itself.
    let resp = reqwest::get(format!(
        "{base}/compute/v1/projects/{PROJECT}/global/firewalls"
    ))
    .await
    .expect("answer");
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
}

/// `examples/gcp/` against the demo seed `examples/demo/gcp-project.yaml`: the drift the demo
/// shows, then Enforce brings the project in line.
#[tokio::test]
async fn the_examples_find_the_demo_drift_and_enforce_fixes_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifests =
        perimeter::manifests::Manifests::load_dir(&root.join("examples/gcp")).expect("examples");
    let text =
        std::fs::read_to_string(root.join("examples/demo/gcp-project.yaml")).expect("demo seed");
    let mut demo: Seed = serde_json::from_value(yaml(&text)).expect("demo seed");
    demo.service_accounts = seed("").service_accounts;
    let emulator = GcpEmulator::new(demo);
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let mut provider_spec = manifests.providers[0].spec.clone();
    provider_spec.endpoint = Some(base.clone());
    let client = Gcp::connect_with(
        &provider_spec,
        None,
        None,
        options(Duration::from_secs(5), Some(running.addr.to_string())),
    )
    .expect("client");
    let fw = perimeter::providers::Declared::from_firewall(&manifests.firewalls[0].spec)
        .and_then(|d| d.target())
        .expect("firewall target");
    let mon = perimeter::providers::Declared::from_monitoring(&manifests.monitors[0].spec)
        .and_then(|d| d.target())
        .expect("monitoring target");
    let mut drift = Vec::new();
    let mut findings = Vec::new();
    for target in [&fw, &mon] {
        let out = sync(&client, target, Mode::Observe, UnmanagedPolicy::Report).await;
        assert!(out.error.is_none(), "{:?}", out.error);
        drift.extend(
            out.remaining
                .expect("read")
                .drift
                .into_iter()
                .map(|d| d.path),
        );
        findings.extend(
            out.findings
                .into_iter()
                .map(|f| format!("{} {}", f.code, f.subject)),
        );
    }
    assert_eq!(
        drift,
        [
            "firewallRules[default-allow-ssh].description",
            "firewallRules[default-allow-ssh].logging",
            "firewallRules[default-allow-ssh].priority",
            "firewallRules[default-allow-ssh].sourceRanges",
            "firewallRules[allow-lb-health-checks].allowed",
            "firewallRules[allow-lb-health-checks].description",
            "firewallRules[deny-egress-smtp]",
            "cloudArmorPolicies[web-edge/1000].srcIpRanges",
            "cloudArmorPolicies[web-edge/2000]",
            "subnetFlowLogs[europe-west1].subnetsWithoutFlowLogs",
            "alertPolicies[Denied firewall connections spike]",
            "uptimeChecks[www.example.com].path",
        ]
    );
    findings.sort();
    assert_eq!(
        findings,
        [
            "SubnetWithoutFlowLogs subnets[europe-west1/gke-nodes]",
            "UnmanagedRule firewallRules[default-allow-rdp]",
            "WorldOpenIngress firewallRules[default-allow-rdp]",
            "WorldOpenIngress firewallRules[default-allow-ssh]",
        ]
    );
    for target in [&fw, &mon] {
        let out = sync(&client, target, Mode::Enforce, UnmanagedPolicy::Report).await;
        assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    }
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_call_repeated() {
    let e = env(FIREWALLS_SEEDED).await;
    e.client.verify().await.expect("verified");
    e.emulator.revoke_tokens();
    // A JWT signed in the same second as the revoked one would be the same bytes (RS256 is
    // deterministic): the refreshed one must carry a later `iat`.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    e.client.verify().await.expect("refreshed");
    let log = e.emulator.log();
    assert_eq!(log.count("POST", "/token"), 0);
    assert_eq!(
        e.emulator.accepted_jwts().len(),
        1,
        "a new JWT after the 401"
    );
    let statuses: Vec<u16> = log
        .entries()
        .iter()
        .filter(|r| r.path.ends_with("/global/firewalls"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 401, 200]);
}

#[tokio::test]
async fn an_operation_that_never_finishes_times_out() {
    let emulator = GcpEmulator::new(seed(FIREWALLS_SEEDED));
    emulator.set_operation_polls(u32::MAX);
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let mut opts = options(Duration::from_secs(5), None);
    opts.operation_timeout = Some(Duration::from_millis(300));
    let client = Gcp::connect_with(
        &spec(&base, "Secret"),
        Some(key_json(TEST_KEY, &base)),
        None,
        opts,
    )
    .expect("client");
    let out = sync(
        &client,
        &firewall(FIREWALL_DECLARED),
        Mode::Enforce,
        UnmanagedPolicy::Report,
    )
    .await;
    let err = out.error.clone().expect("timed out");
    assert_eq!(err.category, Category::Timeout, "{err}");
    assert!(err.message.contains("not done after"), "{err}");
}

/// `perimeter check` as a user runs it: the examples, Workload Identity through the metadata
/// server named by `GCE_METADATA_HOST`, and exit code 2 for drift.
#[tokio::test]
async fn check_runs_the_examples_with_ambient_credentials_and_exits_2_on_drift() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text =
        std::fs::read_to_string(root.join("examples/demo/gcp-project.yaml")).expect("demo seed");
    let demo: Seed = serde_json::from_value(yaml(&text)).expect("demo seed");
    let emulator = GcpEmulator::new(demo);
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_perimeter"));
    cmd.arg("check")
        .arg("--manifests")
        .arg(root.join("examples/gcp"))
        .arg("--endpoint")
        .arg(format!("gcp-prod={}", running.base_url()))
        .env("GCE_METADATA_HOST", running.addr.to_string());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run perimeter"))
        .await
        .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "firewallRules[default-allow-ssh].sourceRanges",
        "subnetFlowLogs[europe-west1].subnetsWithoutFlowLogs",
        "WorldOpenIngress",
        // The console edits behind the demo project's drift, from its Admin Activity log.
        "— changed by sam@acme.example via console at ",
        "— changed by dana@acme.example via console at ",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected} missing from:\n{stdout}"
        );
    }
    let writes: Vec<_> = emulator
        .log()
        .writes()
        .into_iter()
        // A read by POST: the audit log the drift is attributed from.
        .filter(|w| w.path != "/v2/entries:list")
        .collect();
    assert!(writes.is_empty(), "check never writes: {:?}", writes);
}

// ---- Workload Identity Federation (external_account) --------------------------------------

const POOL_PROVIDER: &str = "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/eks/providers/prod";

/// A project whose pool provider trusts EKS tokens and may act as the operator's account.
fn federated_seed() -> Seed {
    let mut s = seed(FIREWALLS_SEEDED);
    s.metadata_server = false;
    s.workload_identity_providers = vec![perimeter_emulators::gcp::WorkloadIdentityProvider {
        audience: POOL_PROVIDER.into(),
        subject_tokens: Vec::new(),
        service_accounts: vec![SA.into()],
        aws_access_keys: Vec::new(),
    }];
    s
}

fn external_config(base: &str, source: Value, impersonate: Option<&str>) -> SecretString {
    let mut v = json!({
        "type": "external_account", "audience": POOL_PROVIDER,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{base}/v1/token"), "credential_source": source,
    });
    if let Some(email) = impersonate {
        v["service_account_impersonation_url"] = json!(format!(
            "{base}/v1/projects/-/serviceAccounts/{email}:generateAccessToken"
        ));
    }
    SecretString::new(v.to_string())
}

fn federated_client(base: &str, config: SecretString) -> Gcp {
    Gcp::connect_with(
        &spec(base, "Secret"),
        Some(config),
        None,
        options(Duration::from_secs(5), None),
    )
    .expect("client")
}

fn form_of(entry: &perimeter_emulators::server::RecordedRequest) -> String {
    entry
        .body
        .as_ref()
        .and_then(|b| b.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[tokio::test]
async fn external_account_file_token_is_exchanged_at_sts_and_impersonates_the_account() {
    let emulator = GcpEmulator::new(federated_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let dir = tempfile_dir();
    let token_file = dir.join("eks-token");
    let subject = emulator.mint_subject_token(POOL_PROVIDER);
    // As Kubernetes projects a token: no trailing newline (google-cloud-auth sends a text
    // file's content as it is).
    std::fs::write(&token_file, &subject).expect("token file");

    let client = federated_client(
        &base,
        external_config(
            &base,
            json!({"file": token_file.to_string_lossy()}),
            Some(SA),
        ),
    );
    client.verify().await.expect("federated and impersonated");
    let log = emulator.log().entries();
    let sts: Vec<_> = log.iter().filter(|e| e.path == "/v1/token").collect();
    assert_eq!(sts.len(), 1, "one exchange");
    let form = form_of(sts[0]);
    // With impersonation, Google's library asks the STS for the IAM scope only (the
    // federated token's one use is generateAccessToken) and cloud-platform for the
    // impersonated token.
    for field in [
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange",
        "requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token",
        "subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt",
        "scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fiam",
        "audience=%2F%2Fiam.googleapis.com%2Fprojects%2F123456789",
    ] {
        assert!(form.contains(field), "{field} not in the STS form");
    }
    let impersonation = log
        .iter()
        .filter(|e| e.path.ends_with(":generateAccessToken"))
        .collect::<Vec<_>>();
    assert_eq!(impersonation.len(), 1);
    assert_eq!(impersonation[0].status, 200);
    let body = impersonation[0].body.clone().unwrap_or_default();
    assert_eq!(
        body["scope"],
        json!(["https://www.googleapis.com/auth/cloud-platform"])
    );

    // The token is cached: more calls, no new exchange.
    let out = sync(
        &client,
        &firewall("network: default\nfindings: {worldOpenIngress: Report}\n"),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(emulator.log().count("POST", "/v1/token"), 1);

    // Tokens expire (revoked here): the next call exchanges the file's current token again.
    emulator.revoke_tokens();
    let rotated = emulator.mint_subject_token(POOL_PROVIDER);
    std::fs::write(&token_file, &rotated).expect("rotated token");
    client.verify().await.expect("re-exchanged after a 401");
    assert_eq!(emulator.log().count("POST", "/v1/token"), 2);
    let last = emulator
        .log()
        .entries()
        .into_iter()
        .rfind(|e| e.path == "/v1/token")
        .map(|e| form_of(&e))
        .unwrap_or_default();
    assert!(
        last.contains(&rotated),
        "the file is read at every exchange"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn external_account_url_sourced_json_token_without_impersonation() {
    let emulator = GcpEmulator::new(federated_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let subject = emulator.mint_subject_token(POOL_PROVIDER);
    // A local token endpoint (as Azure IMDS or a sidecar serves one) that wants a header.
    let answer = json!({"access_token": subject, "token_type": "JWT"}).to_string();
    let app = axum::Router::new().route(
        "/token",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let answer = answer.clone();
            async move {
                if headers.get("metadata").and_then(|v| v.to_str().ok()) == Some("True") {
                    (axum::http::StatusCode::OK, answer)
                } else {
                    (
                        axum::http::StatusCode::BAD_REQUEST,
                        "Metadata header missing".to_string(),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let source = json!({"url": format!("http://{addr}/token"), "headers": {"Metadata": "True"},
        "format": {"type": "json", "subject_token_field_name": "access_token"}});
    let client = federated_client(&base, external_config(&base, source, None));
    client
        .verify()
        .await
        .expect("the federated token itself is used");
    assert_eq!(emulator.log().count("POST", "/v1/token"), 1);
    assert_eq!(emulator.log().count("POST", ":generateAccessToken"), 0);
}

#[tokio::test]
async fn external_account_refusals_are_credentials_rejected_and_never_show_tokens() {
    let emulator = GcpEmulator::new(federated_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let dir = tempfile_dir();
    let token_file = dir.join("token");
    let unknown = "eyJ.not-issued-by-the-idp.sekrit";
    std::fs::write(&token_file, unknown).expect("token file");
    let source = json!({"file": token_file.to_string_lossy()});

    let client = federated_client(&base, external_config(&base, source.clone(), Some(SA)));
    let err = client.verify().await.expect_err("unknown subject token");
    assert_eq!(err.category, Category::CredentialsRejected, "{err}");
    assert!(err.message.contains("invalid_grant"), "{err}");
    assert!(!err.to_string().contains("sekrit"), "{err}");

    // A known subject, but a service account the pool may not act as: the STS token works,
    // impersonation is refused, and neither token shows.
    let subject = emulator.mint_subject_token(POOL_PROVIDER);
    std::fs::write(&token_file, &subject).expect("token file");
    let other = "someone-else@demo-project.iam.gserviceaccount.com";
    let client = federated_client(&base, external_config(&base, source.clone(), Some(other)));
    let err = client
        .verify()
        .await
        .expect_err("not allowed to impersonate");
    assert_eq!(err.category, Category::CredentialsRejected, "{err}");
    assert!(err.message.contains("PERMISSION_DENIED"), "{err}");
    let text = err.to_string();
    assert!(
        !text.contains(&subject) && !text.contains("ya29."),
        "{text}"
    );

    // The token file is gone: a clear error naming the file, not the token.
    std::fs::remove_file(&token_file).expect("rm");
    let client = federated_client(&base, external_config(&base, source, Some(SA)));
    let err = client.verify().await.expect_err("no token file");
    assert_eq!(err.category, Category::CredentialsMissing, "{err}");
    assert!(err.message.contains("credential_source.file"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A `credential_source.url` is read by Perimeter's own HTTP layer, not the library's: a
/// listed host that answers with a redirect (say, to the metadata server) is not followed,
/// and the headers the configuration names go nowhere else.
#[tokio::test]
async fn a_url_subject_source_that_redirects_is_not_followed() {
    let emulator = GcpEmulator::new(federated_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let subject = emulator.mint_subject_token(POOL_PROVIDER);
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let target = axum::Router::new().route(
        "/identity",
        axum::routing::get(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let subject = subject.clone();
            async move { subject }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, target).await });
    let redirect = axum::Router::new().route(
        "/token",
        axum::routing::get(move || async move {
            (
                axum::http::StatusCode::FOUND,
                [("location", format!("http://{target_addr}/identity"))],
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, redirect).await });
    let source =
        json!({"url": format!("http://{addr}/token"), "headers": {"Metadata-Flavor": "Google"}});
    let client = federated_client(&base, external_config(&base, source, None));
    let err = client.verify().await.expect_err("redirect refused");
    assert!(err.message.contains("redirect"), "{err}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(emulator.log().count("POST", "/v1/token"), 0);
}

const AWS_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";
const AWS_KEY_ID: &str = "ASIAPERIMETERTEST";
const AWS_SECRET: &str = "aws-secret-sekrit";

/// A stand-in for the EC2 instance metadata service (IMDSv2) on loopback: a session token,
/// the zone, the role and its credentials, each only with the session token.
async fn imds_stub() -> std::net::SocketAddr {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, put};
    fn session(headers: &HeaderMap) -> bool {
        headers
            .get("x-aws-ec2-metadata-token")
            .and_then(|v| v.to_str().ok())
            == Some("imds-session")
    }
    let answer = |body: String| {
        move |headers: HeaderMap| {
            let body = body.clone();
            async move {
                if session(&headers) {
                    (StatusCode::OK, body)
                } else {
                    (StatusCode::UNAUTHORIZED, String::new())
                }
            }
        }
    };
    let credentials = json!({"Code": "Success", "AccessKeyId": AWS_KEY_ID,
        "SecretAccessKey": AWS_SECRET, "Token": "aws-session-sekrit"})
    .to_string();
    let app = axum::Router::new()
        .route(
            "/latest/api/token",
            put(|headers: HeaderMap| async move {
                if headers.contains_key("x-aws-ec2-metadata-token-ttl-seconds") {
                    (StatusCode::OK, "imds-session".to_string())
                } else {
                    (StatusCode::BAD_REQUEST, String::new())
                }
            }),
        )
        .route(
            "/latest/meta-data/placement/availability-zone",
            get(answer("eu-west-1b".into())),
        )
        .route(
            "/latest/meta-data/iam/security-credentials",
            get(answer("perimeter-role".into())),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/perimeter-role",
            get(answer(credentials)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn aws_source(imds: std::net::SocketAddr) -> Value {
    json!({"environment_id": "aws1",
        "region_url": format!("http://{imds}/latest/meta-data/placement/availability-zone"),
        "url": format!("http://{imds}/latest/meta-data/iam/security-credentials"),
        "imdsv2_session_token_url": format!("http://{imds}/latest/api/token"),
        "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"})
}

/// Issue 9: an AWS-sourced external account (the operator pod's AWS identity, from IMDSv2
/// here) through google-cloud-auth: the STS receives a SigV4-signed GetCallerIdentity
/// request it verifies against the role's keys, then the account is impersonated. The
/// metadata URLs point at a loopback stub through the configuration alone.
#[tokio::test]
async fn an_aws_sourced_external_account_signs_with_the_pods_aws_identity() {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() || std::env::var_os("AWS_REGION").is_some() {
        // The library prefers AWS_* from the environment to the metadata service; this test
        // is about the metadata service and cannot change the process environment.
        eprintln!("skipped: AWS_ACCESS_KEY_ID or AWS_REGION is set in the test environment");
        return;
    }
    let mut seed = federated_seed();
    seed.workload_identity_providers[0].aws_access_keys =
        vec![perimeter_emulators::gcp::AwsAccessKey {
            access_key_id: AWS_KEY_ID.into(),
            secret_access_key: AWS_SECRET.into(),
        }];
    let emulator = GcpEmulator::new(seed);
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let imds = imds_stub().await;
    let mut config: Value =
        serde_json::from_str(external_config(&base, aws_source(imds), Some(SA)).expose())
            .expect("json");
    config["subject_token_type"] = json!(AWS_TOKEN_TYPE);
    let client = federated_client(&base, SecretString::new(config.to_string()));
    client.verify().await.expect("AWS identity federated");
    let log = emulator.log().entries();
    let sts = log
        .iter()
        .find(|e| e.path == "/v1/token")
        .expect("an STS exchange");
    assert_eq!(sts.status, 200);
    let form = form_of(sts);
    assert!(
        form.contains("subject_token_type=urn%3Aietf%3Aparams%3Aaws%3Atoken-type%3Aaws4_request"),
        "{form}"
    );
    assert_eq!(emulator.log().count("POST", ":generateAccessToken"), 1);

    // A role key the pool provider does not trust: the STS refuses the signed request.
    let mut untrusted = federated_seed();
    untrusted.workload_identity_providers[0].aws_access_keys =
        vec![perimeter_emulators::gcp::AwsAccessKey {
            access_key_id: AWS_KEY_ID.into(),
            secret_access_key: "another-secret".into(),
        }];
    let emulator = GcpEmulator::new(untrusted);
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let mut config: Value =
        serde_json::from_str(external_config(&base, aws_source(imds), None).expose())
            .expect("json");
    config["subject_token_type"] = json!(AWS_TOKEN_TYPE);
    let client = federated_client(&base, SecretString::new(config.to_string()));
    let err = client.verify().await.expect_err("bad signature");
    assert_eq!(err.category, Category::CredentialsRejected, "{err}");
    assert!(err.message.contains("invalid_grant"), "{err}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("sekrit"), "{text}");
}

/// Issue 9: a tenant's credential may not borrow the operator pod's AWS identity nor run a
/// command in it; the refusal names the field and nothing is fetched or run.
#[tokio::test]
async fn a_tenant_external_account_cannot_use_aws_or_executable_sources() {
    let emulator = GcpEmulator::new(federated_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let imds = imds_stub().await;
    let tenant = |config: SecretString| {
        let mut o = options(Duration::from_secs(5), None);
        o.principal = Some(perimeter::trust::Principal::Tenant);
        o.trust.allow_credential_executables = true;
        Gcp::connect_with(&spec(&base, "Secret"), Some(config), None, o)
            .err()
            .expect("refused")
    };
    let mut aws: Value =
        serde_json::from_str(external_config(&base, aws_source(imds), None).expose())
            .expect("json");
    aws["subject_token_type"] = json!(AWS_TOKEN_TYPE);
    let err = tenant(SecretString::new(aws.to_string()));
    assert_eq!(err.category(), Category::Forbidden, "{err}");
    assert!(
        err.to_string().contains("credential_source.environment_id"),
        "{err}"
    );
    let exe = external_config(
        &base,
        json!({"executable": {"command": "/bin/sh -c id"}}),
        None,
    );
    let err = tenant(exe);
    assert_eq!(err.category(), Category::Forbidden, "{err}");
    assert!(
        err.to_string().contains("credential_source.executable"),
        "{err}"
    );
    assert!(emulator.log().entries().is_empty(), "nothing was called");
}

const EXECUTABLE_TEST: &str = "an_admins_executable_source_runs_only_with_both_switches";

/// Issue 9: an admin's `credential_source.executable` runs only with the operator's flag
/// (`--allow-credential-executables`) and Google's own environment switch; then the library
/// runs it and exchanges what it prints. The switch is process-wide and tests must not set
/// environment variables, so the positive half runs in a child process of this test binary
/// started with it.
#[tokio::test]
async fn an_admins_executable_source_runs_only_with_both_switches() {
    const SWITCH: &str = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES";
    let emulator = GcpEmulator::new(federated_seed());
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let dir = tempfile_dir();
    let script = dir.join("print-token");
    let subject = emulator.mint_subject_token(POOL_PROVIDER);
    let response = json!({"version": 1, "success": true,
        "token_type": "urn:ietf:params:oauth:token-type:jwt", "id_token": subject});
    std::fs::write(&script, format!("#!/bin/sh\nprintf '%s' '{response}'\n")).expect("script");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let config = || {
        external_config(
            &base,
            json!({"executable": {"command": script.to_string_lossy(), "timeout_millis": 5000}}),
            Some(SA),
        )
    };
    let admin = |flag: bool| {
        let mut o = options(Duration::from_secs(5), None);
        o.trust.allow_credential_executables = flag;
        Gcp::connect_with(&spec(&base, "Secret"), Some(config()), None, o)
    };
    let err = admin(false).err().expect("flag off");
    assert_eq!(err.category(), Category::Forbidden, "{err}");
    assert!(
        err.to_string().contains("--allow-credential-executables"),
        "{err}"
    );

    if std::env::var(SWITCH).as_deref() != Ok("1") {
        let err = admin(true).err().expect("no environment switch");
        assert!(err.to_string().contains(SWITCH), "{err}");
        let exe = std::env::current_exe().expect("test binary");
        let child = std::process::Command::new(exe)
            .args([EXECUTABLE_TEST, "--exact", "--nocapture"])
            .env(SWITCH, "1")
            .output()
            .expect("child test runs");
        let out = String::from_utf8_lossy(&child.stdout);
        assert!(
            child.status.success() && out.contains("1 passed"),
            "child: {out}\n{}",
            String::from_utf8_lossy(&child.stderr)
        );
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    let client = admin(true).expect("both switches on");
    client
        .verify()
        .await
        .expect("the executable's token exchanged");
    let sts = emulator
        .log()
        .entries()
        .into_iter()
        .find(|e| e.path == "/v1/token")
        .expect("STS");
    assert_eq!(sts.status, 200);
    assert!(
        form_of(&sts).contains(&subject),
        "the printed token was sent"
    );
    assert_eq!(emulator.log().count("POST", ":generateAccessToken"), 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// A fresh directory under the target dir (tests must not depend on /tmp layout).
fn tempfile_dir() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "gcp-external-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

const ROUTERS_SEEDED: &str = r#"
routerStatuses:
  - name: nat-router
    region: europe-west1
    network: default
    natStatus:
      - {name: egress, userAllocatedNatIps: [203.0.113.7, 203.0.113.8], drainUserAllocatedNatIps: [203.0.113.99]}
      - {name: batch, autoAllocatedNatIps: [198.51.100.4]}
  - {name: bare-router, region: europe-west1, network: default}
"#;

fn cloud_nat(block: Value) -> perimeter::api::addressset::AddressSetSpec {
    serde_json::from_value(json!({"source": {"gcpCloudNat": block}})).expect("set")
}

/// A Cloud NAT's addresses as an AddressSet resolves them: both allocation lists, one NAT
/// or all, draining addresses kept (existing connections still use them); a router without NAT is `Empty`; a NAT or router that
/// does not exist is an error naming the field; outages and wrong answers leave the set not
/// Ready with the reason.
#[tokio::test]
async fn cloud_nat_addresses_are_read_from_the_router_status() {
    use perimeter::addressset::resolve;
    let e = env(ROUTERS_SEEDED).await;
    let block = |nat: Option<&str>, router: &str| {
        let mut b =
            json!({"providerRef": {"name": "gcp"}, "region": "europe-west1", "router": router});
        if let Some(n) = nat {
            b["nat"] = json!(n);
        }
        cloud_nat(b)
    };
    assert_eq!(
        resolve(&block(None, "nat-router"), Some(&e.client)).await,
        Ok(vec![
            "198.51.100.4/32".to_string(),
            "203.0.113.7/32".into(),
            "203.0.113.8/32".into(),
            "203.0.113.99/32".into()
        ])
    );
    assert_eq!(
        resolve(&block(Some("batch"), "nat-router"), Some(&e.client)).await,
        Ok(vec!["198.51.100.4/32".to_string()])
    );
    let cases = [
        (block(None, "bare-router"), "Empty", "no address"),
        (
            block(Some("other"), "nat-router"),
            "SourceUnreadable",
            "spec.source.gcpCloudNat.nat: the router reports no NAT \"other\" (it reports egress, batch)",
        ),
        (
            block(None, "gone"),
            "SourceUnreadable",
            "spec.source.gcpCloudNat.router: project demo-project has no router \"gone\"",
        ),
    ];
    for (spec, reason, words) in cases {
        let u = resolve(&spec, Some(&e.client)).await.expect_err(words);
        assert_eq!(u.reason, reason, "{}", u.message);
        assert!(u.message.contains(words), "{}", u.message);
    }

    // Another party reallocates the NAT's addresses: the next read follows.
    e.emulator.mutate(|s| {
        s.router_statuses[0]["natStatus"][0]["userAllocatedNatIps"] = json!(["203.0.113.9"]);
    });
    assert_eq!(
        resolve(&block(Some("egress"), "nat-router"), Some(&e.client)).await,
        Ok(vec!["203.0.113.9/32".to_string(), "203.0.113.99/32".into()])
    );

    let nat = block(None, "nat-router");
    let source = nat.source.clone().expect("source");
    for (fault, category) in [
        (Fault::ServerError { status: 500 }, Category::ProviderError),
        (Fault::Malformed, Category::BadResponse),
        (Fault::WrongShape, Category::BadResponse),
    ] {
        e.emulator.faults().clear();
        e.emulator
            .faults()
            .inject(FaultRule::new("/getRouterStatus", fault.clone()));
        let err = e.client.source_addresses(&source).await.expect_err("fault");
        assert_eq!(err.category, category, "{fault:?}: {err}");
        let u = resolve(&nat, Some(&e.client)).await.expect_err("fault");
        assert_eq!(u.reason, "SourceUnreadable", "{fault:?}");
    }
    e.emulator.faults().clear();

    // A stored set past the schema: a router name that is a path is refused before any request.
    let before = e.emulator.log().count("GET", "/routers/");
    let u = resolve(&block(None, "../../global/firewalls"), Some(&e.client))
        .await
        .expect_err("not a name");
    assert!(
        u.message.contains("spec.source.gcpCloudNat.router"),
        "{}",
        u.message
    );
    assert_eq!(e.emulator.log().count("GET", "/routers/"), before);
}

/// The inventory is every VPC network of the project, across pages of at most 500 (a network
/// that only a firewall rule names is one too); a network is covered by a FirewallPolicy that
/// manages its firewall rules, not by one with only Cloud Armor policies.
#[tokio::test]
async fn inventory_lists_every_network_and_what_manages_its_rules_covers_it() {
    let mut networks =
        String::from("networks:\n  - {name: legacy, autoCreateSubnetworks: false}\n");
    for i in 0..500 {
        networks.push_str(&format!("  - {{name: net-{i}}}\n"));
    }
    let e = env(&format!("{networks}{FIREWALLS_SEEDED}")).await;
    let assets = e
        .client
        .inventory()
        .await
        .expect("read")
        .expect("GCP lists its networks");
    // 501 seeded, and `default` and `other` that the seeded rules name.
    assert_eq!(assets.len(), 503);
    assert!(assets.iter().all(|a| a.kind == "network" && a.id == a.name));
    let pages: Vec<Option<String>> = e
        .emulator
        .log()
        .entries()
        .iter()
        .filter(|r| r.path.ends_with("/global/networks"))
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(
        pages
            .iter()
            .all(|q| q.as_deref().is_some_and(|q| q.contains("maxResults=500"))),
        "{pages:?}"
    );

    let policy = |block: Value| -> perimeter::api::FirewallPolicySpec {
        serde_json::from_value(json!({"providerRef": {"name": "gcp"}, "gcp": block}))
            .expect("policy")
    };
    let rules = policy(json!({"network": "default", "firewallRules": []}));
    let armor = policy(json!({"network": "legacy", "cloudArmorPolicies": []}));
    let status = perimeter::inventory::status(
        perimeter::api::ProviderType::Gcp,
        Ok(Some(assets)),
        &[&rules, &armor],
        "2026-11-30T08:00:00Z".into(),
    )
    .expect("an inventory");
    assert_eq!((status.total, status.covered), (Some(503), Some(1)));
    let uncovered: Vec<&str> = status.uncovered.iter().map(|a| a.id.as_str()).collect();
    // In the order listed: `legacy` first (Cloud Armor alone covers nothing), never `default`.
    assert_eq!(uncovered[0], "legacy");
    assert!(!uncovered.contains(&"default"), "{uncovered:?}");
    assert_eq!(uncovered.len(), 50, "at most 50 listed");
}

/// A network list that cannot be read (every persistent fault, and a project that is not
/// found) is an error of its category, never an empty (fully covered) inventory.
#[tokio::test]
async fn an_unreadable_network_list_is_an_error_never_an_empty_list() {
    let faults = support::cells::persistent_faults()
        .into_iter()
        .chain([(Fault::ServerError { status: 404 }, Category::BadResponse)]);
    for (fault, category) in faults {
        let e = env_with(seed(FIREWALLS_SEEDED), Duration::from_millis(300)).await;
        e.emulator
            .faults()
            .inject(FaultRule::new("/global/networks", fault.clone()));
        let err = e.client.inventory().await.expect_err("unreadable");
        assert_eq!(err.category, category, "{fault:?}: {err}");
        assert!(!err.to_string().contains("PRIVATE KEY"), "{fault:?}");
    }
}

// ---- attribution: the Admin Activity audit log ------------------------------------------

const LOGGED_RULES: &str = r#"
firewalls:
  - {name: allow-https, network: default, sourceRanges: [0.0.0.0/0], allowed: [{IPProtocol: tcp, ports: ["443"]}], targetTags: [web], logConfig: {enable: true}}
"#;

const LOGGED_DECLARED: &str = r#"
network: default
firewallRules:
  - {name: allow-https, sourceRanges: [0.0.0.0/0], allowed: [{IPProtocol: tcp, ports: ["443"]}], targetTags: [web], logConfig: {enable: true}}
  - {name: allow-iap-ssh, sourceRanges: [35.235.240.0/20], allowed: [{IPProtocol: tcp, ports: ["22"]}]}
"#;

const HTTPS_RULE: &str = "projects/demo-project/global/firewalls/allow-https";

/// A person turns a rule's logging off in the Cloud Console.
fn logging_turned_off_by(e: &Env, who: &str) {
    e.emulator.console_change(
        who,
        "v1.compute.firewalls.patch",
        HTTPS_RULE,
        json!({"logConfig": {"enable": false}}),
        |seed| {
            for fw in &mut seed.firewalls {
                if fw["name"] == "allow-https" {
                    fw["logConfig"] = json!({"enable": false});
                }
            }
        },
    );
}

fn by<'a>(out: &'a perimeter::reconcile::SyncOutcome, path: &str) -> Option<(&'a str, bool)> {
    out.attribution
        .as_ref()
        .and_then(|a| a.get(path))
        .map(|a| (a.by.as_str(), a.perimeter))
}

/// The Logging request bodies the client sent.
fn log_queries(e: &Env) -> Vec<Value> {
    e.emulator
        .log()
        .entries()
        .iter()
        .filter(|r| r.path == "/v2/entries:list")
        .filter_map(|r| r.body.clone())
        .collect()
}

#[tokio::test]
async fn drift_is_attributed_to_the_person_who_made_it_in_the_console() {
    let e = env(LOGGED_RULES).await;
    logging_turned_off_by(&e, "sam@example.com");
    let out = sync(
        &e.client,
        &firewall(LOGGED_DECLARED),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(
        by(&out, "firewallRules[allow-https].logging"),
        Some(("sam@example.com via console", false))
    );
    assert_eq!(
        by(&out, "firewallRules[allow-iap-ssh]"),
        None,
        "a rule nobody ever made"
    );
    assert_eq!(
        out.attribution.as_ref().map(|a| a.summary.as_str()),
        Some(
            "1 of 2 drifted field(s) attributed from the GCP Admin Activity audit log (last 7 days)"
        )
    );
    // One page, in the project, newest first, restricted to the drifted rules' resources.
    let queries = log_queries(&e);
    assert_eq!(queries.len(), 1, "{queries:?}");
    let q = &queries[0];
    assert_eq!(q["resourceNames"], json!(["projects/demo-project"]));
    assert_eq!(q["orderBy"], "timestamp desc");
    let filter = q["filter"].as_str().expect("filter");
    for part in [
        "logName=\"projects/demo-project/logs/cloudaudit.googleapis.com%2Factivity\"",
        "timestamp>=\"",
        &format!("protoPayload.resourceName=\"{HTTPS_RULE}\""),
        "protoPayload.resourceName=\"projects/demo-project/global/firewalls/allow-iap-ssh\"",
    ] {
        assert!(filter.contains(part), "{part} in {filter}");
    }
    // Nothing to attribute without drift: the log is not read.
    let in_sync = firewall(&LOGGED_DECLARED.replace(
        "  - {name: allow-iap-ssh, sourceRanges: [35.235.240.0/20], allowed: [{IPProtocol: tcp, ports: [\"22\"]}]}\n",
        "",
    ).replace("logConfig: {enable: true}", "logConfig: {enable: false}"));
    let out = sync(&e.client, &in_sync, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.remaining);
    assert_eq!(log_queries(&e).len(), 1);
}

#[tokio::test]
async fn perimeters_own_writes_are_perimeters_and_never_the_service_accounts() {
    let e = env(LOGGED_RULES).await;
    logging_turned_off_by(&e, "sam@example.com");
    let declared = firewall(LOGGED_DECLARED);
    let out = sync(&e.client, &declared, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    // Every write is in the log, made by the key's service account, naming its operation.
    let log = e.emulator.audit_log();
    let ours: Vec<&Value> = log
        .iter()
        .filter(|l| l["protoPayload"]["authenticationInfo"]["principalEmail"] == SA)
        .collect();
    assert_eq!(ours.len(), 2, "{log:?}");
    assert!(ours.iter().all(|l| {
        l["operation"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("operation-"))
    }));
    // The policy changes its mind: what Perimeter wrote is now drift, and Perimeter's own.
    let changed = firewall(
        &LOGGED_DECLARED.replace("logConfig: {enable: true}", "logConfig: {enable: false}"),
    );
    let out = sync(&e.client, &changed, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        by(&out, "firewallRules[allow-https].logging"),
        Some(("Perimeter", true))
    );

    // Monitoring writes answer no operation: the moment of the write, with the key's account.
    let mon = monitoring(MONITORING_DECLARED);
    let out = sync(&e.client, &mon, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    let other = monitoring(&MONITORING_DECLARED.replace("/healthz", "/ready"));
    let out = sync(&e.client, &other, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        by(&out, "uptimeChecks[www].path"),
        Some(("Perimeter", true))
    );

    // Another process (or this one restarted) has no record of the writes: the log's word,
    // the service account and how, is all there is.
    let fresh = Gcp::connect_with(
        &spec(&e.running.base_url(), "Secret"),
        Some(key_json(TEST_KEY, &e.running.base_url())),
        None,
        options(Duration::from_secs(5), None),
    )
    .expect("client");
    let out = sync(&fresh, &changed, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        by(&out, "firewallRules[allow-https].logging"),
        Some((format!("{SA} via API").as_str(), false))
    );
    assert!(
        !format!("{:?}", out.attribution).contains("sam@example.com"),
        "the person who last changed it before Perimeter is not blamed for Perimeter's write"
    );
}

#[tokio::test]
async fn a_persons_change_after_perimeters_is_the_persons() {
    let e = env(LOGGED_RULES).await;
    let declared = firewall(LOGGED_DECLARED);
    let out = sync(&e.client, &declared, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
    // Within the moments of Perimeter's writes, from the console, as the service account
    // itself: the console is never Perimeter.
    logging_turned_off_by(&e, SA);
    let out = sync(&e.client, &declared, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        by(&out, "firewallRules[allow-https].logging"),
        Some((format!("{SA} via console").as_str(), false))
    );
    logging_turned_off_by(&e, "dana@example.com");
    let out = sync(&e.client, &declared, Mode::Observe, UnmanagedPolicy::Report).await;
    assert_eq!(
        by(&out, "firewallRules[allow-https].logging"),
        Some(("dana@example.com via console", false))
    );
}

/// A log that cannot be read (no `logging.logEntries.list`, an error, garbage) leaves the drift
/// unattributed, saying why, and never stops the sync.
#[tokio::test]
async fn an_unreadable_audit_log_leaves_drift_unattributed_and_the_sync_whole() {
    let e = env(LOGGED_RULES).await;
    logging_turned_off_by(&e, "sam@example.com");
    e.emulator.deny_permission("logging.logEntries.list");
    let declared = firewall(LOGGED_DECLARED);
    let out = sync(&e.client, &declared, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.remaining.as_ref().map(|d| d.drift.len()), Some(2));
    let a = out.attribution.as_ref().expect("drift found");
    assert!(a.by_path.is_empty());
    assert_eq!(
        a.summary,
        "unattributed: the audit log could not be read (PERMISSION_DENIED: the credential lacks \
         logging.logEntries.list on project demo-project (roles/logging.viewer has it))"
    );
    // Enforce goes on too.
    let out = sync(&e.client, &declared, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);

    for fault in [Fault::ServerError { status: 500 }, Fault::WrongShape] {
        let e = env(LOGGED_RULES).await;
        logging_turned_off_by(&e, "sam@example.com");
        e.emulator
            .faults()
            .inject(FaultRule::new("/v2/entries:list", fault.clone()));
        let out = sync(&e.client, &declared, Mode::Observe, UnmanagedPolicy::Report).await;
        assert!(out.error.is_none(), "{fault:?}: {:?}", out.error);
        assert_eq!(
            out.remaining.as_ref().map(|d| d.drift.len()),
            Some(2),
            "{fault:?}"
        );
        let a = out.attribution.expect("drift found");
        assert!(a.by_path.is_empty(), "{fault:?}");
        assert!(
            a.summary
                .starts_with("unattributed: the audit log could not be read ("),
            "{fault:?}: {}",
            a.summary
        );
    }
}

#[tokio::test]
async fn the_audit_log_is_read_across_pages_newest_first() {
    let e = env(LOGGED_RULES).await;
    e.emulator.console_change(
        "lee@example.com",
        "v1.compute.firewalls.delete",
        "projects/demo-project/global/firewalls/allow-iap-ssh",
        json!({}),
        |_| {},
    );
    // A busy week on the other rule: the deletion is on the second page.
    for _ in 0..300 {
        logging_turned_off_by(&e, "sam@example.com");
    }
    let out = sync(
        &e.client,
        &firewall(LOGGED_DECLARED),
        Mode::Observe,
        UnmanagedPolicy::Report,
    )
    .await;
    assert_eq!(
        by(&out, "firewallRules[allow-iap-ssh]"),
        Some(("lee@example.com via console", false))
    );
    assert_eq!(
        by(&out, "firewallRules[allow-https].logging"),
        Some(("sam@example.com via console", false))
    );
    let queries = log_queries(&e);
    assert_eq!(queries.len(), 2, "{queries:?}");
    assert!(queries[1]["pageToken"].is_string());
    assert_eq!(
        queries[0]["filter"], queries[1]["filter"],
        "the same query, paged"
    );
}
