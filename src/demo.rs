//! `perimeter demo`: the whole loop on one machine, with no cluster and no credentials.
//! Provider emulators (Cloudflare, GCP, AWS) start on loopback, seeded with an account that has drifted from the
//! example manifests; the manifests are reconciled (Observe and Enforce), `/metrics` is
//! served, and a summary says what drifted, what was enforced and what remains.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use perimeter_emulators::aws::{AwsEmulator, Seed as AwsSeed, SgRule};
use perimeter_emulators::cloudflare::{CloudflareEmulator, Seed};
use perimeter_emulators::gcp::{GcpEmulator, Seed as GcpSeed, ServiceAccount};

use crate::api::ProviderType;
use crate::api::provider::{CredentialSource as Source, SecretKeyRef};

use crate::local::{CredentialSource, Options, PolicyState, Report, Runner};
use crate::manifests::Manifests;
use crate::metrics::{self, Metrics};
use crate::report::EvidenceFile;

/// The example manifests and the drifted account, built into the binary so the demo runs
/// from any directory.
const EXAMPLES: [(&str, &str); 10] = [
    (
        "examples/cloudflare/provider.yaml",
        include_str!("../examples/cloudflare/provider.yaml"),
    ),
    (
        "examples/cloudflare/firewall-edge.yaml",
        include_str!("../examples/cloudflare/firewall-edge.yaml"),
    ),
    (
        "examples/cloudflare/firewall-access.yaml",
        include_str!("../examples/cloudflare/firewall-access.yaml"),
    ),
    (
        "examples/cloudflare/monitoring.yaml",
        include_str!("../examples/cloudflare/monitoring.yaml"),
    ),
    (
        "examples/gcp/provider.yaml",
        include_str!("../examples/gcp/provider.yaml"),
    ),
    (
        "examples/gcp/firewall.yaml",
        include_str!("../examples/gcp/firewall.yaml"),
    ),
    (
        "examples/gcp/monitoring.yaml",
        include_str!("../examples/gcp/monitoring.yaml"),
    ),
    (
        "examples/aws/provider.yaml",
        include_str!("../examples/aws/provider.yaml"),
    ),
    (
        "examples/aws/firewall.yaml",
        include_str!("../examples/aws/firewall.yaml"),
    ),
    (
        "examples/aws/monitoring.yaml",
        include_str!("../examples/aws/monitoring.yaml"),
    ),
];
const ASSESSMENT: (&str, &str) = (
    "examples/compliance/de-cm-1.yaml",
    include_str!("../examples/compliance/de-cm-1.yaml"),
);
const GCP_SEED: &str = include_str!("../examples/demo/gcp-project.yaml");
const GCP_DEMO_SA: &str = "perimeter-demo@demo.iam.gserviceaccount.com";
const CLOUDFLARE_SEED: &str = include_str!("../examples/demo/cloudflare-account.yaml");
const DEMO_TOKEN: &str = "demo-token";
const AWS_SEED: &str = include_str!("../examples/demo/aws-account.yaml");
/// Static keys the demo's AWS emulator accepts (its seed lists the id). Never valid anywhere
/// real; the examples use the workload's ambient identity instead.
const AWS_DEMO_KEY_ID: &str = "AKIAPERIMETERDEMO000";
const AWS_DEMO_SECRET: &str = "perimeter-demo-secret-not-valid-anywhere";

/// The demo's GCP service-account key pair, made afresh at each start: the demo's GCP provider
/// signs its token request with the private half, the emulator's token endpoint knows the public
/// half. Generated rather than built in, so that no binary carries a private key (image scanners
/// rightly flag one) and the key dies with the process.
struct DemoKey {
    /// PKCS#8 PEM, as in a service-account key JSON's `private_key`.
    private_pem: rsa::pkcs8::der::zeroize::Zeroizing<String>,
    /// PKCS#1 PEM, as the emulator's seed takes it.
    public_pem: String,
}

impl DemoKey {
    /// 2048-bit RSA, as GCP makes service-account keys.
    fn generate() -> Result<Self, String> {
        use rsa::PrivateKey;
        use rsa::pkcs1::EncodeRsaPublicKey;
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};

        let fail = |e: &dyn std::fmt::Display| format!("generating the demo GCP key: {e}");
        let key = PrivateKey::new(&mut getrandom::SysRng, 2048).map_err(|e| fail(&e))?;
        let private_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| fail(&e))?;
        let public_pem = key
            .to_public_key()
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| fail(&e))?;
        Ok(Self {
            private_pem,
            public_pem,
        })
    }
}

pub struct DemoOptions {
    pub metrics_addr: SocketAddr,
    pub once: bool,
    pub interval: Duration,
    /// Read manifests from this folder instead of the built-in examples.
    pub manifests: Option<PathBuf>,
    /// Where the evidence trail of this run is written (a fresh trail each run).
    pub evidence: PathBuf,
}

/// Runs the demo; returns the process exit code.
pub async fn run(opts: DemoOptions) -> Result<i32, String> {
    let seed: Seed =
        serde_yaml::from_str(CLOUDFLARE_SEED).map_err(|e| format!("demo seed: {e}"))?;
    let emulator = CloudflareEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the Cloudflare emulator: {e}"))?;
    let endpoint = format!("{}/client/v4", running.base_url());

    let gcp_key = tokio::task::spawn_blocking(DemoKey::generate)
        .await
        .map_err(|e| format!("generating the demo GCP key: {e}"))??;
    let mut gcp_seed: GcpSeed =
        serde_yaml::from_str(GCP_SEED).map_err(|e| format!("gcp demo seed: {e}"))?;
    gcp_seed.service_accounts.push(ServiceAccount {
        client_email: GCP_DEMO_SA.into(),
        public_key_pem: gcp_key.public_pem.clone(),
    });
    let gcp = GcpEmulator::new(gcp_seed);
    let gcp_running = gcp
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the GCP emulator: {e}"))?;
    let gcp_endpoint = gcp_running.base_url();

    let aws_seed: AwsSeed =
        serde_yaml::from_str(AWS_SEED).map_err(|e| format!("aws demo seed: {e}"))?;
    let aws = AwsEmulator::new(aws_seed);
    let aws_running = aws
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the AWS emulator: {e}"))?;
    let aws_endpoint = aws_running.base_url();

    let mut manifests = match &opts.manifests {
        Some(dir) => Manifests::load_dir(dir).map_err(|e| e.to_string())?,
        None => {
            let mut m = Manifests::default();
            for (origin, text) in EXAMPLES.into_iter().chain([ASSESSMENT]) {
                m.add_yaml(origin, text).map_err(|e| e.to_string())?;
            }
            m
        }
    };
    let mut credentials = CredentialSource::default();
    let mut options = Options::default();
    for p in &mut manifests.providers {
        let name = p.metadata.name.clone().unwrap_or_default();
        match p.spec.provider_type {
            ProviderType::Gcp => {
                // The examples use Workload Identity; here a key in a (local) Secret stands in.
                let secret = SecretKeyRef {
                    name: "gcp-demo".into(),
                    key: "key.json".into(),
                };
                let key = serde_json::json!({
                    "type": "service_account", "client_email": GCP_DEMO_SA, "private_key": gcp_key.private_pem.as_str(),
                    "token_uri": format!("{gcp_endpoint}/token"),
                });
                credentials.insert(&secret.name, &secret.key, &key.to_string());
                p.spec.credentials.source = Source::Secret;
                p.spec.credentials.secret_ref = Some(secret);
                options.endpoints.insert(name, gcp_endpoint.clone());
                // The emulator also serves the token endpoint the key names.
                let token_host =
                    crate::trust::url::parse(&gcp_endpoint, crate::trust::url::Rules::TOKEN)
                        .and_then(|u| crate::trust::HostPattern::parse(&u.authority()))?;
                options.trust.token_hosts.push(token_host);
            }
            ProviderType::Aws => {
                // The examples use the workload's identity (IRSA); here static demo keys in a
                // (local) Secret stand in.
                let secret = SecretKeyRef {
                    name: "aws-demo".into(),
                    key: "credentials".into(),
                };
                let keys = serde_json::json!({
                    "accessKeyId": AWS_DEMO_KEY_ID, "secretAccessKey": AWS_DEMO_SECRET,
                });
                credentials.insert(&secret.name, &secret.key, &keys.to_string());
                p.spec.credentials.source = Source::Secret;
                p.spec.credentials.secret_ref = Some(secret);
                options.endpoints.insert(name, aws_endpoint.clone());
            }
            _ => {
                if let Some(secret) = &p.spec.credentials.secret_ref {
                    credentials.insert(&secret.name, &secret.key, DEMO_TOKEN);
                }
                options.endpoints.insert(name, endpoint.clone());
            }
        }
    }

    let metrics = Arc::new(Metrics::new().map_err(|e| e.to_string())?);
    let (addr, _server) = metrics::serve(metrics.clone(), opts.metrics_addr)
        .await
        .map_err(|e| format!("serving metrics on {}: {e}", opts.metrics_addr))?;
    metrics.set_ready(true);
    // One process that reconciles: it leads (the dashboard shows the leader panel as in a cluster).
    metrics.leader.set(1);

    println!("Perimeter demo");
    println!(
        "  Cloudflare emulator: {endpoint} (seeded from examples/demo/cloudflare-account.yaml)"
    );
    println!("  GCP emulator:        {gcp_endpoint} (seeded from examples/demo/gcp-project.yaml)");
    println!("  AWS emulator:        {aws_endpoint} (seeded from examples/demo/aws-account.yaml)");
    println!("  metrics:             http://{addr}/metrics");
    println!();

    let runner = Runner::new(manifests, &credentials, options, Some(metrics.clone())).await;
    let report = runner.run_once().await;
    print_first_pass(&report);
    let accounts = Accounts {
        cloudflare: &emulator,
        gcp: &gcp,
        aws: &aws,
    };
    println!(
        "Provider calls: {} ({} writes)",
        accounts.calls(),
        accounts.writes()
    );
    let mut evidence = EvidenceFile::default();
    let export = assess(&runner, &report, &mut evidence, &opts.evidence, &metrics)?;
    println!();
    print!("{}", crate::report::markdown(&export, 3));
    println!(
        "Evidence trail written to {0}. Verify it (and see tampering caught by editing a record):\n  cargo run -- evidence verify {0}",
        opts.evidence.display()
    );
    let healthy = report.providers.iter().all(|p| p.readable)
        && report
            .policies
            .iter()
            .all(|p| matches!(p.state, PolicyState::InSync | PolicyState::Drifted));
    if opts.once {
        return Ok(if healthy { 0 } else { 1 });
    }
    println!();
    println!(
        "Check this account the way a CI pipeline would (exit code 0 in sync, 2 drift, 1 error):"
    );
    println!(
        "  PERIMETER_SECRET_CLOUDFLARE_API_TOKEN={DEMO_TOKEN} cargo run -- check --manifests examples/cloudflare --endpoint cloudflare-main={endpoint}"
    );
    println!();
    println!(
        "Reconciling every {}s; before each pass someone \"edits the dashboard\". Try `curl -s http://{addr}/metrics | grep perimeter_`. Ctrl-C to stop.",
        opts.interval.as_secs()
    );
    let mut pass = 0usize;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(0),
            _ = tokio::time::sleep(opts.interval) => {
                let edit = DASHBOARD_EDITS[pass % DASHBOARD_EDITS.len()];
                pass += 1;
                (edit.1)(&accounts);
                println!("dashboard edit: {}", edit.0);
                let before = accounts.calls();
                let report = runner.run_once().await;
                let calls = accounts.calls().saturating_sub(before);
                let drifted = report.policies.iter().filter(|p| p.state == PolicyState::Drifted).count();
                let in_sync = report.policies.iter().filter(|p| p.state == PolicyState::InSync).count();
                let enforced: usize = report.policies.iter().map(|p| p.applied.len()).sum();
                println!("pass: {in_sync} in sync, {drifted} drifted, {enforced} change(s) enforced, {calls} provider calls");
                match assess(&runner, &report, &mut evidence, &opts.evidence, &metrics) {
                    Ok(export) => {
                        for r in &export.reports {
                            println!(
                                "      {} {}: {} ({}/{}), maturity {}, evidence #{}",
                                r.assessment,
                                r.result.control,
                                r.result.state,
                                r.result.satisfied,
                                r.result.total,
                                r.result.maturity.level,
                                r.evidence.head().map_or(0, |h| h.seq)
                            );
                        }
                    }
                    Err(e) => println!("      assessment: {e}"),
                }
            }
        }
    }
}

/// Evaluates the ControlAssessments for a pass, keeps the evidence in `path`, and publishes
/// the compliance metrics.
fn assess(
    runner: &Runner,
    report: &Report,
    evidence: &mut EvidenceFile,
    path: &std::path::Path,
    metrics: &Metrics,
) -> Result<crate::compliance::report::Export, String> {
    let store = format!("file {}", path.display());
    let export = crate::report::assess_all(
        runner.manifests(),
        report,
        evidence,
        &store,
        jiff::Timestamp::now(),
    );
    evidence.save(path)?;
    for r in &export.reports {
        let at = r
            .evidence
            .head()
            .and_then(|h| h.recorded_at.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_second());
        metrics.observe_assessment(&r.assessment, &r.result, at);
    }
    Ok(export)
}

/// The emulated accounts of one demo run.
struct Accounts<'a> {
    cloudflare: &'a CloudflareEmulator,
    gcp: &'a GcpEmulator,
    aws: &'a AwsEmulator,
}

impl Accounts<'_> {
    /// Requests every emulator received so far.
    fn calls(&self) -> usize {
        self.cloudflare.log().entries().len()
            + self.gcp.log().entries().len()
            + self.aws.log().entries().len()
    }

    /// Requests that change state. Every AWS call is a POST (EC2 Query, CBOR, JSON-RPC), so
    /// AWS writes are counted by operation name.
    fn writes(&self) -> usize {
        const READS: [&str; 3] = ["/Describe", "/List", "/Get"];
        self.cloudflare.log().writes().len()
            + self.gcp.log().writes().len()
            + self
                .aws
                .log()
                .entries()
                .iter()
                .filter(|e| !READS.iter().any(|r| e.path.contains(r)))
                .count()
    }
}

type Edit = (&'static str, fn(&Accounts<'_>));

/// Hand-made changes applied to the emulated accounts between passes, so the loop has
/// something to find: Enforce policies put them back, Observe ones report them.
const DASHBOARD_EDITS: [Edit; 4] = [
    ("WAF rule block-known-scanners disabled", |a| {
        a.cloudflare.mutate(cloudflare_waf_rule_disabled)
    }),
    (
        "AWS: SSH on security group web re-opened to 0.0.0.0/0",
        |a| a.aws.mutate(aws_ssh_reopened),
    ),
    ("security level lowered to essentially_off", |a| {
        a.cloudflare.mutate(|seed| {
            for zone in &mut seed.zones {
                zone.settings.insert(
                    "security_level".into(),
                    serde_json::Value::from("essentially_off"),
                );
            }
        })
    }),
    ("abuse ASN AS64496 unblocked", |a| {
        a.cloudflare.mutate(|seed| {
            for zone in &mut seed.zones {
                zone.access_rules
                    .retain(|r| r.configuration.value != "AS64496");
            }
        })
    }),
];

/// The first dashboard edit: the scanner-blocking WAF rule switched off.
fn cloudflare_waf_rule_disabled(seed: &mut Seed) {
    for zone in &mut seed.zones {
        for rs in zone.rulesets.values_mut() {
            for rule in rs
                .rules
                .iter_mut()
                .filter(|r| r.reference.as_deref() == Some("block-known-scanners"))
            {
                rule.enabled = Some(false);
            }
        }
    }
}

/// An AWS dashboard edit: someone "temporarily" re-opens SSH on the web group to the world.
fn aws_ssh_reopened(seed: &mut AwsSeed) {
    for group in seed
        .security_groups
        .iter_mut()
        .filter(|g| g.group_name == "web")
    {
        group.ingress.push(SgRule {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            cidr_ipv4: Some("0.0.0.0/0".into()),
            description: Some("quick fix, remove later".into()),
            ..SgRule::default()
        });
    }
}

fn print_first_pass(report: &Report) {
    let mut found = 0;
    let mut enforced = 0;
    let mut remaining_observe = 0;
    for p in &report.policies {
        println!(
            "{} {}/{} [{}]",
            p.kind,
            p.namespace,
            p.name,
            p.mode.as_str()
        );
        if p.drift_found.is_empty() {
            println!("  drift found: none");
        } else {
            println!("  drift found ({}):", p.drift_found.len());
            for d in &p.drift_found {
                println!(
                    "    ~ {} [{}]: desired {}, observed {}",
                    d.field,
                    d.kind,
                    d.desired.as_deref().unwrap_or("(absent)"),
                    d.observed.as_deref().unwrap_or("(absent)")
                );
            }
        }
        found += p.drift_found.len();
        if !p.applied.is_empty() {
            println!("  enforced ({}):", p.applied.len());
            for a in &p.applied {
                println!("    ✔ {a}");
            }
            enforced += p.applied.len();
        }
        match p.state {
            PolicyState::InSync => println!("  now: in sync"),
            PolicyState::Drifted => {
                println!(
                    "  now: {} field(s) still drifted{}",
                    p.drift.len(),
                    if p.mode == crate::api::Mode::Observe {
                        " (Observe mode: reported, not changed)"
                    } else {
                        ""
                    }
                );
                if p.mode == crate::api::Mode::Observe {
                    remaining_observe += p.drift.len();
                }
            }
            PolicyState::Unknown | PolicyState::Invalid => {
                println!(
                    "  now: {:?} — {}",
                    p.state,
                    p.message.as_deref().unwrap_or("")
                );
            }
        }
        for f in &p.findings {
            println!("  ! {} {}: {}", f.code, f.subject, f.message);
        }
        println!();
    }
    println!(
        "Summary: {found} drifted field(s) found, {enforced} change(s) enforced, {remaining_observe} left in Observe mode."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AWS dashboard edit leaves what the AWS firewall example forbids: SSH open to the
    /// world on the web group, as a rule with an id like any other.
    #[test]
    fn the_aws_edit_reopens_ssh_to_the_world_on_the_web_group() {
        let seed: AwsSeed = serde_yaml::from_str(AWS_SEED).expect("the demo seed parses");
        let aws = AwsEmulator::new(seed);
        let open = |aws: &AwsEmulator| {
            aws.snapshot()
                .security_groups
                .iter()
                .filter(|g| g.group_name == "web")
                .flat_map(|g| g.ingress.clone())
                .filter(|r| r.cidr_ipv4.as_deref() == Some("0.0.0.0/0") && r.from_port == Some(22))
                .map(|r| r.rule_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(open(&aws).len(), 1, "the seed's own drift");
        aws.mutate(aws_ssh_reopened);
        let ids = open(&aws);
        assert_eq!(ids.len(), 2);
        assert!(ids.iter().all(|id| id.starts_with("sgr-")), "{ids:?}");
    }

    /// The generated key is one the GCP provider can sign with and the emulator's token
    /// endpoint verifies against the public half it is seeded with (both with ring, as they
    /// do it); and it is made afresh, not built in.
    #[test]
    fn generated_key_signs_what_the_emulator_verifies() {
        let key = DemoKey::generate().expect("key");
        let der = |pem: &str| {
            use base64::Engine;
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("PEM")
        };
        let pair = ring::signature::RsaKeyPair::from_pkcs8(&der(&key.private_pem)).expect("pkcs8");
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            b"header.claims",
            &mut sig,
        )
        .expect("sign");
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            der(&key.public_pem),
        );
        assert!(public.verify(b"header.claims", &sig).is_ok());
        assert!(public.verify(b"header.claimz", &sig).is_err());
        let other = DemoKey::generate().expect("key");
        assert_ne!(*other.private_pem, *key.private_pem);
    }
}
