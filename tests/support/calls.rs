//! Counting what one sync reads, on a provider's emulator ([`RequestLog`]): the provider
//! tests' checks that a sync reads one request per declared section and nothing undeclared.

use perimeter::api::{Mode, UnmanagedPolicy};
use perimeter::providers::{Provider, Target};
use perimeter::reconcile::{SyncOutcome, sync};
use perimeter_emulators::server::RequestLog;

/// One Observe sync of `target` on a cleared `log`, which must not fail; the log then holds
/// that sync's requests alone.
pub async fn observe_alone(
    provider: &dyn Provider,
    target: &Target,
    log: &RequestLog,
) -> SyncOutcome {
    log.clear();
    let out = sync(provider, target, Mode::Observe, UnmanagedPolicy::Report).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    out
}

/// The paths a settled policy's sync reads: `target` is enforced into line first, then the
/// log is cleared and one more Enforce sync must find nothing to do.
pub async fn settled_reads(
    provider: &dyn Provider,
    target: &Target,
    log: &RequestLog,
) -> Vec<String> {
    let out = sync(provider, target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(out.in_sync(), "{:?}", out.error.map(|e| e.to_string()));
    log.clear();
    let settled = sync(provider, target, Mode::Enforce, UnmanagedPolicy::Report).await;
    assert!(
        settled.in_sync() && settled.applied.is_empty(),
        "{:?}",
        settled.applied
    );
    log.entries().into_iter().map(|r| r.path).collect()
}
