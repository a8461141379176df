//! One sync of one policy, as a pipeline:
//! read observed → diff (pure) → apply (only in `Enforce`) → read again to confirm.
//! Shared by the operator, `perimeter check` and `perimeter demo`; it knows nothing of
//! Kubernetes, so its callers decide where the outcome is written.

use crate::api::{Mode, UnmanagedPolicy};
use crate::core::attribution::{Attributions, Trail, attribute};
use crate::core::{Diff, Drift, Undeclared, diff};
use std::time::Duration;

use crate::error::{Category, ProviderError};
use crate::metrics::Metrics;
use crate::providers::{Finding, Observation, Provider, Target};

/// What one sync found and did.
#[derive(Debug, Default)]
pub struct SyncOutcome {
    /// Drift before any write; `None` when the provider could not be read.
    pub found: Option<Diff>,
    /// Changes written (Enforce mode).
    pub applied: Vec<String>,
    /// Drift left after the sync; `None` when the provider state is unknown.
    pub remaining: Option<Diff>,
    pub findings: Vec<Finding>,
    /// The provider's revision of the newest successful read (see [`Observation::revision`]).
    pub revision: Option<String>,
    /// Alert routes and channels of the newest successful read (see
    /// [`Observation::alerting`]); empty when the provider could not be read after a write.
    pub alerting: crate::core::routing::AlertingFacts,
    /// The error that stopped the sync, if any (read, write or confirmation read).
    pub error: Option<ProviderError>,
    /// A write was attempted and failed or timed out. `error` is then that write's error,
    /// also when the confirming read failed too (`remaining` is `None`).
    pub write_failed: bool,
    /// The address sets the target was built from (set by the caller, which resolved them).
    pub address_sets: Vec<crate::api::addressset::UsedAddressSet>,
    /// Who changed the drifted fields found (before any write), from the provider's audit
    /// log; `None` when nothing drifted or the provider could not be read.
    pub attribution: Option<Attributions>,
}

impl SyncOutcome {
    /// True only when the provider was read and nothing differs. Unknown is never in sync.
    pub fn in_sync(&self) -> bool {
        self.remaining.as_ref().is_some_and(Diff::in_sync)
    }

    pub fn drift_count(&self) -> usize {
        self.remaining.as_ref().map_or(0, |d| d.drift.len())
    }

    /// Publishes this outcome as the policy's series. `labels` are provider, kind, namespace,
    /// name; `account` is the CloudProvider's name (for `perimeter_provider_up`). Unknown state
    /// counts as not in sync; drift gauges keep their last known value.
    pub fn record(&self, metrics: &Metrics, labels: [&str; 4], account: &str, now_unix: i64) {
        let [provider, kind, namespace, _] = labels;
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        // Only failed reads mean "down": a failed write still got an answer, and the
        // confirming read after it says whether the provider can be read.
        let up = match &self.error {
            None => true,
            Some(_) if self.remaining.is_some() => true,
            Some(_) if self.write_failed => false,
            Some(e) => !e.category.is_provider_read_failure(),
        };
        metrics
            .provider_up
            .with_label_values(&[provider, namespace, account])
            .set(i64::from(up));
        let read = self.remaining.as_ref().map(|remaining| {
            let mut by_code = std::collections::BTreeMap::new();
            for f in &self.findings {
                *by_code.entry(f.code).or_insert(0) += 1;
            }
            crate::metrics::policies::Read {
                drift_fields: count(remaining.drift.len()),
                unmanaged_items: count(remaining.unmanaged.len()),
                at: now_unix,
                findings: by_code.into_iter().collect(),
            }
        });
        metrics.policies.record(labels, self.in_sync(), read);
        if !self.applied.is_empty() {
            metrics
                .changes_applied_total
                .with_label_values(&[provider, kind, "success"])
                .inc_by(self.applied.len() as u64);
        }
        if self.write_failed {
            metrics
                .changes_applied_total
                .with_label_values(&[provider, kind, "error"])
                .inc();
        }
    }
}

/// Whether a policy may use the provider account it names — the same rule for the operator,
/// `check` and `demo`: the account's type matches the policy's block; a ClusterCloudProvider is
/// shared with the policy's namespace and, for `Enforce`, allows it. `account` describes the
/// account for messages (`CloudProvider team-a/cf`).
pub fn admit(
    declared: crate::providers::Declared<'_>,
    account: &str,
    account_type: crate::api::ProviderType,
    cluster: Option<&crate::api::ClusterCloudProviderSpec>,
    namespace: &str,
    mode: Mode,
) -> Result<(), crate::error::Error> {
    use crate::error::Error;
    if let Some(shared) = cluster {
        if !shared.shared_with(namespace) {
            return Err(Error::Forbidden(format!(
                "{account} is not shared with namespace {namespace:?} (its spec.allowedNamespaces)"
            )));
        }
        if mode == Mode::Enforce && !shared.allow_enforce {
            return Err(Error::Forbidden(format!(
                "{account} may only be observed from other namespaces (its spec.allowEnforce is \
                 false): set spec.mode Observe"
            )));
        }
    }
    if account_type != declared.provider_type() {
        return Err(Error::ProviderMismatch(format!(
            "the policy has a {} block but {account} is of type {account_type}",
            declared.provider_type()
        )));
    }
    Ok(())
}

/// The credential an account names, found by `lookup` (a Secret of the cluster, or `check`'s
/// credential file and environment): `None` for `source: Ambient`.
pub async fn credential<T, F, Fut>(
    spec: &crate::api::CloudProviderSpec,
    lookup: F,
) -> Result<Option<T>, crate::error::Error>
where
    F: FnOnce(&crate::api::provider::SecretKeyRef) -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::error::Error>>,
{
    use crate::api::provider::CredentialSource;
    // A provider without an API is never called: whatever a stored object names, no Secret is
    // read for it.
    if crate::providers::registry::without_api(spec.provider_type).is_some() {
        return Ok(None);
    }
    match (&spec.credentials.source, &spec.credentials.secret_ref) {
        (CredentialSource::Ambient, _) => Ok(None),
        (CredentialSource::Secret, None) => Err(crate::error::Error::CredentialsMissing(
            "spec.credentials.secretRef is not set".into(),
        )),
        (CredentialSource::Secret, Some(r)) => lookup(r).await.map(Some),
    }
}

/// One sync with the default deadline ([`DEFAULT_DEADLINE`]).
pub async fn sync(
    provider: &dyn Provider,
    target: &Target,
    mode: Mode,
    unmanaged: UnmanagedPolicy,
) -> SyncOutcome {
    sync_within(provider, target, mode, unmanaged, DEFAULT_DEADLINE).await
}

/// Long enough for a multi-region AWS read with retries, short enough that a hanging provider
/// holds a policy for minutes, not forever.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(180);

/// One sync, bounded by `deadline` overall (reads, writes and the confirming read): a provider
/// that hangs costs at most that, and leaves the state `Unknown`.
pub async fn sync_within(
    provider: &dyn Provider,
    target: &Target,
    mode: Mode,
    unmanaged: UnmanagedPolicy,
    deadline: Duration,
) -> SyncOutcome {
    sync_remembering(provider, target, mode, unmanaged, deadline, None, &|| true).await
}

/// [`sync_within`], reusing the attribution `memo` holds for `key` (a policy's uid) while the
/// same fields drift the same way (see [`AttributionMemo`]). `may_write` is asked just before
/// the writes: an operator replica that is no longer surely the leader (its
/// [`crate::controller::leader::Fence`] closed while it read) writes nothing and reports the
/// sync as failed.
pub async fn sync_remembering(
    provider: &dyn Provider,
    target: &Target,
    mode: Mode,
    unmanaged: UnmanagedPolicy,
    deadline: Duration,
    memo: Option<(&AttributionMemo, &str)>,
    may_write: &(dyn Fn() -> bool + Sync),
) -> SyncOutcome {
    let until = tokio::time::Instant::now() + deadline;
    let late = |step: &'static str| {
        ProviderError::new(
            Category::Timeout,
            step,
            format!(
                "the sync did not finish within {} s; the provider state is unknown until the next sync",
                deadline.as_secs()
            ),
        )
    };
    let resolved = match provider.resolve(target) {
        Ok(t) => t,
        Err(e) => {
            return SyncOutcome {
                error: Some(e),
                ..SyncOutcome::default()
            };
        }
    };
    let target = &resolved;
    let observed = match tokio::time::timeout_at(until, provider.observe(target)).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            return SyncOutcome {
                error: Some(e),
                ..SyncOutcome::default()
            };
        }
        Err(_) => {
            return SyncOutcome {
                error: Some(late("observe")),
                ..SyncOutcome::default()
            };
        }
    };
    let unmanaged = match unmanaged {
        UnmanagedPolicy::Report => Undeclared::Report,
        UnmanagedPolicy::Remove => Undeclared::Remove,
    };
    let found = diff(&target.desired, &observed.state, unmanaged);
    let attribution = attribution(provider, target, &observed, &found.drift, until, memo).await;
    if mode == Mode::Observe || found.plan.is_empty() {
        let mut outcome = settled(found.clone(), found, observed, Vec::new(), None);
        outcome.attribution = attribution;
        return outcome;
    }
    if !may_write() {
        return SyncOutcome {
            found: Some(found),
            findings: observed.findings,
            error: Some(ProviderError::new(
                Category::Kubernetes,
                "apply",
                "not writing: this replica no longer surely holds the leader Lease",
            )),
            attribution,
            ..SyncOutcome::default()
        };
    }
    let (applied, write_error) = match tokio::time::timeout_at(
        until,
        provider.apply(target, &observed, &found.plan),
    )
    .await
    {
        Ok(Ok(applied)) => (applied, None),
        Ok(Err(e)) => (e.applied, Some(e.error)),
        // Each change is one whole request; which of them landed is read below.
        Err(_) => (Vec::new(), Some(late("apply"))),
    };
    // Read again: the status must describe the provider as it is, not as we hoped it to be.
    // Even past the deadline a write was attempted, so one bounded confirming read is made.
    let confirm_until = until.max(tokio::time::Instant::now() + CONFIRM_GRACE);
    match tokio::time::timeout_at(confirm_until, provider.observe(target)).await {
        Ok(Ok(after)) => {
            let remaining = diff(&target.desired, &after.state, unmanaged);
            let mut outcome = settled(found, remaining, after, applied, write_error);
            outcome.attribution = attribution;
            outcome
        }
        Ok(Err(read_error)) => SyncOutcome {
            found: Some(found),
            applied,
            remaining: None,
            findings: observed.findings,
            // Written since: the revision read before the write no longer describes it.
            revision: None,
            alerting: Default::default(),
            write_failed: write_error.is_some(),
            error: Some(write_error.unwrap_or(read_error)),
            address_sets: Vec::new(),
            attribution,
        },
        Err(_) => SyncOutcome {
            found: Some(found),
            applied,
            remaining: None,
            findings: observed.findings,
            // Written since: the revision read before the write no longer describes it.
            revision: None,
            alerting: Default::default(),
            write_failed: write_error.is_some(),
            error: Some(write_error.unwrap_or_else(|| late("observe"))),
            address_sets: Vec::new(),
            attribution,
        },
    }
}

/// Who changed what drifted: the audit log read with the state, or asked for now. Never
/// fails the sync: an unreadable log (or one that does not answer before the deadline) leaves
/// the drift unattributed, saying why.
async fn attribution(
    provider: &dyn Provider,
    target: &Target,
    observed: &Observation,
    drift: &[Drift],
    until: tokio::time::Instant,
    memo: Option<(&AttributionMemo, &str)>,
) -> Option<Attributions> {
    if drift.is_empty() {
        return None;
    }
    if let Some(trail) = &observed.audit {
        return Some(attribute(drift, trail));
    }
    let now = std::time::Instant::now();
    if let Some((memo, key)) = memo
        && let Some(known) = memo.get(key, drift, now)
    {
        return Some(known);
    }
    let trail = match tokio::time::timeout_at(until, provider.audit_trail(target, drift)).await {
        Ok(Ok(trail)) => trail,
        Ok(Err(e)) => Trail::Unreadable(e.to_string()),
        Err(_) => Trail::Unreadable("it did not answer before the sync's deadline".into()),
    };
    let found = attribute(drift, &trail);
    // Only a log that was read is remembered: an error is asked again at the next sync.
    if let (Some((memo, key)), Trail::Read { .. }) = (memo, &trail) {
        memo.put(key, drift, found.clone(), now);
    }
    Some(found)
}

/// The last attribution of each policy's drift, so a policy that stays drifted (Observe
/// mode, or a drift Enforce cannot fix such as a failing host) does not read the provider's
/// audit log at every sync. An entry is reused only while the same fields drift with the same
/// observed values (any other change to the drift reads the log again) and for at most
/// [`AttributionMemo::REUSE_FOR`], after which a late log entry (CloudTrail delivers within
/// about 15 minutes) can still attribute a field.
#[derive(Default)]
pub struct AttributionMemo {
    entries: std::sync::Mutex<std::collections::HashMap<String, Remembered>>,
}

/// The drift's digest, its attribution, and when the log was read.
type Remembered = ([u8; 32], Attributions, std::time::Instant);

impl AttributionMemo {
    pub const REUSE_FOR: Duration = Duration::from_secs(15 * 60);
    /// Policies remembered at most; past it, expired entries go first, then everything.
    const MAX_ENTRIES: usize = 20_000;

    fn digest(drift: &[Drift]) -> [u8; 32] {
        let mut lines: Vec<String> = drift
            .iter()
            .map(|d| serde_json::json!([d.path, format!("{:?}", d.kind), d.observed]).to_string())
            .collect();
        lines.sort();
        let d = ring::digest::digest(&ring::digest::SHA256, lines.join("\n").as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    pub fn get(&self, key: &str, drift: &[Drift], now: std::time::Instant) -> Option<Attributions> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (digest, found, at) = entries.get(key)?;
        (*digest == Self::digest(drift) && now.saturating_duration_since(*at) < Self::REUSE_FOR)
            .then(|| found.clone())
    }

    pub fn put(&self, key: &str, drift: &[Drift], found: Attributions, now: std::time::Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, (_, _, at)| now.saturating_duration_since(*at) < Self::REUSE_FOR);
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key.to_string(), (Self::digest(drift), found, now));
    }

    /// Forgets a policy (deleted, or its spec changed).
    pub fn forget(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// The confirming read after a write gets at least this long, even past the deadline.
const CONFIRM_GRACE: Duration = Duration::from_secs(30);

fn settled(
    found: Diff,
    remaining: Diff,
    observed: Observation,
    applied: Vec<String>,
    error: Option<ProviderError>,
) -> SyncOutcome {
    let revision = observed.revision;
    let alerting = observed.alerting;
    let mut findings = observed.findings;
    findings.extend(remaining.unmanaged.iter().map(|subject| Finding {
        code: crate::core::model::UNMANAGED_RULE,
        subject: subject.clone(),
        message:
            "present at the provider but not declared; left alone (unmanaged: Report)".to_string(),
    }));
    SyncOutcome {
        found: Some(found),
        applied,
        remaining: Some(remaining),
        findings,
        revision,
        alerting,
        write_failed: error.is_some(),
        error,
        address_sets: Vec::new(),
        attribution: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ClusterCloudProviderSpec, FirewallPolicySpec, ProviderType};
    use crate::providers::Declared;

    /// An attribution is reused for the same policy while the same fields drift with the same
    /// observed values, for at most `REUSE_FOR`; anything else reads the log again.
    #[test]
    fn attribution_memo_reuses_only_the_same_drift_while_fresh() {
        use crate::core::DriftKind;
        let d = |path: &str, observed: &str| Drift {
            path: path.into(),
            kind: DriftKind::Changed,
            desired: Some("x".into()),
            observed: Some(observed.into()),
        };
        let found = Attributions {
            summary: "1 of 1".into(),
            ..Attributions::default()
        };
        let memo = AttributionMemo::default();
        let t0 = std::time::Instant::now();
        let drift = [d("settings[ssl]", "off"), d("settings[tls]", "1.0")];
        memo.put("uid-1", &drift, found.clone(), t0);
        let later = t0 + Duration::from_secs(60);
        let reordered = [drift[1].clone(), drift[0].clone()];
        let desired_changed = [
            Drift {
                desired: Some("y".into()),
                ..drift[0].clone()
            },
            drift[1].clone(),
        ];
        let changed_value = [d("settings[ssl]", "flexible"), d("settings[tls]", "1.0")];
        let cases: Vec<(&str, &[Drift], std::time::Instant, bool)> = vec![
            ("uid-1", &drift, later, true),
            ("uid-1", &reordered, later, true),
            // Who changed the observed value does not depend on what is desired.
            ("uid-1", &desired_changed, later, true),
            ("uid-2", &drift, later, false),
            ("uid-1", &drift[..1], later, false),
            ("uid-1", &changed_value, later, false),
            ("uid-1", &drift, t0 + AttributionMemo::REUSE_FOR, false),
        ];
        for (key, drift, now, reused) in cases {
            assert_eq!(
                memo.get(key, drift, now).is_some(),
                reused,
                "{key} {drift:?}"
            );
        }
        memo.forget("uid-1");
        assert!(memo.get("uid-1", &drift, later).is_none());
    }

    /// The one rule of which account a policy may use, as the operator and `check` apply it.
    #[test]
    fn admission_table() {
        let spec: FirewallPolicySpec = serde_json::from_value(serde_json::json!({
            "providerRef": {"name": "x"},
            "cloudflare": {"zoneId": "023e105f4ecef8ad9ca31a8372d0c353"}}))
        .expect("spec");
        let declared = Declared::from_firewall(&spec).expect("declared");
        let shared = |namespaces: &[&str], enforce: bool| -> ClusterCloudProviderSpec {
            serde_json::from_value(serde_json::json!({
                "type": "cloudflare", "accountId": "a", "credentials": {"secretRef": {"name": "s", "key": "k"}},
                "allowedNamespaces": namespaces, "allowEnforce": enforce}))
            .expect("cluster spec")
        };
        let (team, other) = (shared(&["team-a"], false), shared(&["*"], true));
        type Case<'a> = (
            ProviderType,
            Option<&'a ClusterCloudProviderSpec>,
            &'a str,
            Mode,
            Result<(), &'a str>,
        );
        let cases: [Case; 7] = [
            (
                ProviderType::Cloudflare,
                None,
                "team-a",
                Mode::Enforce,
                Ok(()),
            ),
            (
                ProviderType::Aws,
                None,
                "team-a",
                Mode::Observe,
                Err("ProviderMismatch"),
            ),
            (
                ProviderType::Cloudflare,
                Some(&team),
                "team-a",
                Mode::Observe,
                Ok(()),
            ),
            (
                ProviderType::Cloudflare,
                Some(&team),
                "team-b",
                Mode::Observe,
                Err("Forbidden"),
            ),
            (
                ProviderType::Cloudflare,
                Some(&team),
                "team-a",
                Mode::Enforce,
                Err("Forbidden"),
            ),
            (
                ProviderType::Cloudflare,
                Some(&other),
                "anyone",
                Mode::Enforce,
                Ok(()),
            ),
            (
                ProviderType::Gcp,
                Some(&other),
                "anyone",
                Mode::Observe,
                Err("ProviderMismatch"),
            ),
        ];
        for (t, cluster, ns, mode, want) in cases {
            let got = admit(declared, "the account", t, cluster, ns, mode)
                .map_err(|e| e.category().reason());
            assert_eq!(got, want, "{t} {ns} {mode:?} cluster={}", cluster.is_some());
        }
        let msg = admit(
            declared,
            "ClusterCloudProvider shared",
            ProviderType::Cloudflare,
            Some(&team),
            "team-b",
            Mode::Observe,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            msg.contains("not shared with namespace \"team-b\""),
            "{msg}"
        );
    }
}
