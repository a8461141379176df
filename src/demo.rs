//! `perimeter demo`: the whole loop on one machine, with no cluster and no credentials.
//! Each registered provider's emulator (`src/providers/<name>/demo.rs`) starts on loopback, seeded with an account that has drifted from the
//! example manifests; the manifests are reconciled (Observe and Enforce), `/metrics` is
//! served, and a summary says what drifted, what was enforced and what remains.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::api::CloudProvider;
use crate::local::{CredentialSource, Options, PolicyState, Report, Runner};
use crate::manifests::Manifests;
use crate::metrics::{self, Metrics};
use crate::report::EvidenceFile;

/// The ControlAssessment the demo evaluates; each provider's account brings its own example
/// manifests.
const ASSESSMENT: (&str, &str) = (
    "examples/compliance/de-cm-1.yaml",
    include_str!("../examples/compliance/de-cm-1.yaml"),
);

/// Address sets shared across providers: Better Stack's probe addresses feeding the status
/// zone's Cloudflare allowlist (they need two accounts, so no one provider's examples hold them).
const ADDRESS_SETS: [(&str, &str); 2] = [
    (
        "examples/addresssets/betterstack-probes.yaml",
        include_str!("../examples/addresssets/betterstack-probes.yaml"),
    ),
    (
        "examples/addresssets/cloudflare-uptime-probes.yaml",
        include_str!("../examples/addresssets/cloudflare-uptime-probes.yaml"),
    ),
];

/// A provider's demo account: its emulator, running on loopback and seeded with an account that
/// has drifted from the provider's examples. Each provider makes its own
/// (`src/providers/<name>/demo.rs`, through its registry `Kit`), so a new provider cannot be
/// wired to another's emulator.
pub trait Account: Send + Sync {
    /// The type of the CloudProviders it stands in for.
    fn provider_type(&self) -> crate::api::ProviderType;
    /// Its line of the demo's banner, e.g. `Cloudflare emulator: URL (seeded from FILE)`.
    fn banner(&self) -> String;
    /// The provider's example manifests, `(origin, text)`, built into the binary so the demo
    /// runs from any directory.
    fn examples(&self) -> &'static [(&'static str, &'static str)];
    /// Points a CloudProvider of its type at the emulator, with demo credentials in a local
    /// Secret (the examples use the workload's identity, which the demo does not have).
    fn wire(
        &self,
        provider: &mut CloudProvider,
        credentials: &mut CredentialSource,
        options: &mut Options,
    ) -> Result<(), String>;
    /// The emulator's request log.
    fn requests(&self) -> perimeter_emulators::server::RequestLog;
    /// Requests the emulator received so far.
    fn calls(&self) -> usize {
        self.requests().entries().len()
    }
    /// Of those, the ones that change state (by default, every method but GET).
    fn writes(&self) -> usize {
        self.requests().writes().len()
    }
    /// Hand-made changes ("dashboard edits") it can apply between passes, by description.
    fn edits(&self) -> &'static [&'static str];
    /// Applies edit `i` of [`Account::edits`].
    fn edit(&self, i: usize);
    /// How to check this account the way a CI pipeline would, if its examples allow it.
    fn check_hint(&self) -> Option<String> {
        None
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
    /// Where Perimeter's own alerts go (as the chart's Alertmanager receiver would say).
    pub own_alerts: Vec<crate::core::routing::AlertRoute>,
}

/// Runs the demo; returns the process exit code.
pub async fn run(opts: DemoOptions) -> Result<i32, String> {
    let accounts = Accounts(crate::providers::registry::demo_accounts().await?);

    let mut manifests = match &opts.manifests {
        Some(dir) => Manifests::load_dir(dir).map_err(|e| e.to_string())?,
        None => {
            let mut m = Manifests::default();
            let examples = accounts.0.iter().flat_map(|a| a.examples().iter().copied());
            for (origin, text) in examples.chain(ADDRESS_SETS).chain([ASSESSMENT]) {
                m.add_yaml(origin, text).map_err(|e| e.to_string())?;
            }
            m
        }
    };
    let mut credentials = CredentialSource::default();
    let mut options = Options {
        // As the operator (`--share-reads-for`): identical reads of one account within a pass
        // share one answer (until a write through the account), so a pass makes the same
        // calls however its reads overlap, on a busy machine too. The interval, so the next
        // pass reads the dashboard edits afresh.
        share_reads: opts.interval.min(Duration::from_secs(300)),
        ..Options::default()
    };
    for p in &mut manifests.providers {
        let t = p.spec.provider_type;
        let account = accounts
            .0
            .iter()
            .find(|a| a.provider_type() == t)
            .ok_or_else(|| {
                format!(
                    "the demo has no emulated {t} account (CloudProvider {})",
                    p.metadata.name.as_deref().unwrap_or_default()
                )
            })?;
        account.wire(p, &mut credentials, &mut options)?;
    }

    let metrics = Arc::new(Metrics::new().map_err(|e| e.to_string())?);
    let (addr, _server) = metrics::serve(metrics.clone(), opts.metrics_addr)
        .await
        .map_err(|e| format!("serving metrics on {}: {e}", opts.metrics_addr))?;
    metrics.set_ready(true);
    // One process that reconciles: it leads (the dashboard shows the leader panel as in a cluster).
    metrics.leader.set(1);

    println!("Perimeter demo");
    for a in &accounts.0 {
        println!("  {}", a.banner());
    }
    println!("  metrics:             http://{addr}/metrics");
    println!();

    let runner = Runner::new(manifests, &credentials, options, Some(metrics.clone())).await;
    let report = runner.run_once().await;
    print_first_pass(&report);
    println!(
        "Provider calls: {} ({} writes)",
        accounts.calls(),
        accounts.writes()
    );
    let mut evidence = EvidenceFile::default();
    let export = assess(
        &runner,
        &report,
        &opts.own_alerts,
        &mut evidence,
        &opts.evidence,
        &metrics,
    )?;
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
    let hints: Vec<String> = accounts.0.iter().filter_map(|a| a.check_hint()).collect();
    if !hints.is_empty() {
        println!(
            "Check this account the way a CI pipeline would (exit code 0 in sync, 2 drift, 1 error):"
        );
        for hint in hints {
            println!("  {hint}");
        }
    }
    println!();
    println!(
        "Reconciling every {}s; before each pass someone \"edits the dashboard\". Try `curl -s http://{addr}/metrics | grep perimeter_`. Ctrl-C to stop.",
        opts.interval.as_secs()
    );
    let mut pass = 0usize;
    let mut last_sets = report.address_sets.clone();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(0),
            _ = tokio::time::sleep(opts.interval) => {
                if let Some(edit) = accounts.edit(pass) {
                    println!("dashboard edit: {edit}");
                }
                pass += 1;
                let before = accounts.calls();
                let report = runner.run_once().await;
                for (now, then) in report.address_sets.iter().zip(&last_sets) {
                    if now.digest != then.digest {
                        println!(
                            "address set {}/{} changed: {} → {} address(es); the policies using it:",
                            now.namespace, now.name, then.count, now.count
                        );
                        let users = report.policies.iter().filter(|p| {
                            p.namespace == now.namespace && p.address_sets.iter().any(|u| u.name == now.name)
                        });
                        for p in users {
                            println!(
                                "      {}/{}: {} drifted field(s) found, {} change(s) enforced",
                                p.namespace, p.name, p.drift_found.len(), p.applied.len()
                            );
                        }
                    }
                }
                last_sets = report.address_sets.clone();
                let calls = accounts.calls().saturating_sub(before);
                let drifted = report.policies.iter().filter(|p| p.state == PolicyState::Drifted).count();
                let in_sync = report.policies.iter().filter(|p| p.state == PolicyState::InSync).count();
                let enforced: usize = report.policies.iter().map(|p| p.applied.len()).sum();
                println!("pass: {in_sync} in sync, {drifted} drifted, {enforced} change(s) enforced, {calls} provider calls");
                match assess(&runner, &report, &opts.own_alerts, &mut evidence, &opts.evidence, &metrics) {
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
    own_alerts: &[crate::core::routing::AlertRoute],
    evidence: &mut EvidenceFile,
    path: &std::path::Path,
    metrics: &Metrics,
) -> Result<crate::compliance::report::Export, String> {
    let store = format!("file {}", path.display());
    let export = crate::report::assess_all(
        runner.manifests(),
        report,
        own_alerts,
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

/// Points `provider` at `endpoint` with `value` as its credential, in a local Secret named by
/// `secret` (the examples use workload identities, which the demo does not have).
/// Wires a CloudProvider whose manifest already names its Secret (a token): the demo token goes
/// into that Secret, and the emulator becomes the endpoint.
pub fn wire_token(
    provider: &CloudProvider,
    token: &str,
    endpoint: &str,
    credentials: &mut CredentialSource,
    options: &mut Options,
) {
    if let Some(secret) = &provider.spec.credentials.secret_ref {
        credentials.insert(&secret.name, &secret.key, token);
    }
    let name = provider.metadata.name.clone().unwrap_or_default();
    options.endpoints.insert(name, endpoint.to_string());
}

pub fn wire_secret(
    provider: &mut CloudProvider,
    secret: crate::api::provider::SecretKeyRef,
    value: &str,
    endpoint: &str,
    credentials: &mut CredentialSource,
    options: &mut Options,
) {
    credentials.insert(&secret.name, &secret.key, value);
    provider.spec.credentials.source = crate::api::provider::CredentialSource::Secret;
    provider.spec.credentials.secret_ref = Some(secret);
    let name = provider.metadata.name.clone().unwrap_or_default();
    options.endpoints.insert(name, endpoint.to_string());
}

/// The emulated accounts of one demo run, in registration order.
struct Accounts(Vec<Box<dyn Account>>);

impl Accounts {
    /// Requests every emulator received so far.
    fn calls(&self) -> usize {
        self.0.iter().map(|a| a.calls()).sum()
    }

    /// Requests that change state.
    fn writes(&self) -> usize {
        self.0.iter().map(|a| a.writes()).sum()
    }

    /// Applies the `pass`-th dashboard edit: the accounts' edits taken in turn (first edit of
    /// each account, then the second of each, …), round and round. Returns its description.
    fn edit(&self, pass: usize) -> Option<&'static str> {
        let mut order = Vec::new();
        let longest = self.0.iter().map(|a| a.edits().len()).max().unwrap_or(0);
        for i in 0..longest {
            for a in &self.0 {
                if let Some(edit) = a.edits().get(i) {
                    order.push((a, i, *edit));
                }
            }
        }
        let (account, i, edit) = order.get(pass % order.len().max(1))?;
        account.edit(*i);
        Some(edit)
    }
}

/// One line per address set: what it resolved to.
fn print_address_sets(report: &Report) {
    for s in &report.address_sets {
        match (&s.digest, s.ready) {
            (Some(digest), true) => println!(
                "AddressSet {}/{} ({}): {} address(es), digest {}",
                s.namespace,
                s.name,
                s.source,
                s.count,
                &digest[..digest.len().min(12)]
            ),
            _ => println!(
                "AddressSet {}/{} ({}): not ready ({}) — no policy writes from it",
                s.namespace,
                s.name,
                s.source,
                s.message.as_deref().unwrap_or("")
            ),
        }
    }
    if !report.address_sets.is_empty() {
        println!();
    }
}

fn print_first_pass(report: &Report) {
    print_address_sets(report);
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
                println!("    {}", crate::status::drift_line(d));
            }
            if let Some(a) = &p.attribution {
                println!("    attribution: {a}");
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
    use std::sync::Mutex;

    use super::*;

    /// An account that records the edits applied to it.
    struct Stub(&'static [&'static str], Mutex<Vec<usize>>);

    impl Account for Stub {
        fn provider_type(&self) -> crate::api::ProviderType {
            crate::api::ProviderType::Vercel
        }
        fn banner(&self) -> String {
            String::new()
        }
        fn examples(&self) -> &'static [(&'static str, &'static str)] {
            &[]
        }
        fn wire(
            &self,
            _: &mut CloudProvider,
            _: &mut CredentialSource,
            _: &mut Options,
        ) -> Result<(), String> {
            Ok(())
        }
        fn requests(&self) -> perimeter_emulators::server::RequestLog {
            perimeter_emulators::server::RequestLog::default()
        }
        fn edits(&self) -> &'static [&'static str] {
            self.0
        }
        fn edit(&self, i: usize) {
            self.1.lock().expect("lock").push(i);
        }
    }

    /// The accounts' edits are taken in turn, round and round; an account without edits is
    /// skipped, and no accounts with edits means no edit.
    #[test]
    fn edits_take_turns_across_accounts() {
        let accounts = Accounts(vec![
            Box::new(Stub(&["a0", "a1", "a2"], Mutex::default())),
            Box::new(Stub(&[], Mutex::default())),
            Box::new(Stub(&["c0"], Mutex::default())),
        ]);
        let done: Vec<_> = (0..6).filter_map(|pass| accounts.edit(pass)).collect();
        assert_eq!(done, ["a0", "c0", "a1", "a2", "a0", "c0"]);
        assert!(
            Accounts(vec![Box::new(Stub(&[], Mutex::default()))])
                .edit(0)
                .is_none()
        );
        assert!(Accounts(Vec::new()).edit(3).is_none());
    }
}
