//! One sync of one policy, as a pipeline:
//! read observed → diff (pure) → apply (only in `Enforce`) → read again to confirm.
//! Shared by the operator, `perimeter check` and `perimeter demo`; it knows nothing of
//! Kubernetes, so its callers decide where the outcome is written.

use crate::api::{Mode, UnmanagedPolicy};
use crate::core::{Diff, diff};
use crate::error::ProviderError;
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
    /// The error that stopped the sync, if any (read, write or confirmation read).
    pub error: Option<ProviderError>,
}

impl SyncOutcome {
    /// True only when the provider was read and nothing differs. Unknown is never in sync.
    pub fn in_sync(&self) -> bool {
        self.remaining.as_ref().is_some_and(Diff::in_sync)
    }

    pub fn drift_count(&self) -> usize {
        self.remaining.as_ref().map_or(0, |d| d.drift.len())
    }
}

pub async fn sync(
    provider: &dyn Provider,
    target: &Target,
    mode: Mode,
    unmanaged: UnmanagedPolicy,
) -> SyncOutcome {
    let observed = match provider.observe(target).await {
        Ok(o) => o,
        Err(e) => {
            return SyncOutcome {
                error: Some(e),
                ..SyncOutcome::default()
            };
        }
    };
    let found = diff(&target.desired, &observed.state, unmanaged);
    if mode == Mode::Observe || found.plan.is_empty() {
        return settled(found.clone(), found, observed, Vec::new(), None);
    }
    let (applied, write_error) = match provider.apply(target, &observed, &found.plan).await {
        Ok(applied) => (applied, None),
        Err(e) => (e.applied, Some(e.error)),
    };
    // Read again: the status must describe the provider as it is, not as we hoped it to be.
    match provider.observe(target).await {
        Ok(after) => {
            let remaining = diff(&target.desired, &after.state, unmanaged);
            settled(found, remaining, after, applied, write_error)
        }
        Err(read_error) => SyncOutcome {
            found: Some(found),
            applied,
            remaining: None,
            findings: observed.findings,
            error: Some(write_error.unwrap_or(read_error)),
        },
    }
}

fn settled(
    found: Diff,
    remaining: Diff,
    observed: Observation,
    applied: Vec<String>,
    error: Option<ProviderError>,
) -> SyncOutcome {
    let mut findings = observed.findings;
    findings.extend(remaining.unmanaged.iter().map(|subject| Finding {
        code: "UnmanagedRule",
        subject: subject.clone(),
        message:
            "present at the provider but not declared; left alone (unmanaged: Report)".to_string(),
    }));
    SyncOutcome {
        found: Some(found),
        applied,
        remaining: Some(remaining),
        findings,
        error,
    }
}
