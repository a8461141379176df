//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas only one
//! runs the controllers and writes (kube 5.0 and kube-runtime ship no election helper).
//!
//! The rules are client-go's: a candidate reads the Lease and [`decide`]s; every write is a
//! replace carrying the read's `resourceVersion`, so of two candidates racing for a free Lease
//! one gets 409 Conflict and stays standby. Another replica's clock is never trusted: a Lease
//! held by someone else counts as expired only once *this* process has seen the same record
//! unchanged for the Lease's duration. The leader renews every retry period; if it cannot
//! renew for the renew deadline, or finds the Lease taken, it has lost ([`still_leading`]):
//! it stops its controllers and the process exits non-zero, to come back as a standby. On
//! SIGTERM the leader releases the Lease (empty holder), so a standby takes over at its next
//! try instead of waiting for the Lease to expire.
//!
//! Between two renewals the leader writes only while its [`Fence`] is open: until the renew
//! deadline after the start of its last successful renewal, by its own monotonic clock. A
//! leader that was paused (SIGSTOP, a frozen VM, a long GC-like stall) and wakes up after a
//! standby took over finds its fence closed before its renewal loop had the chance to notice:
//! it sends no write (status, Event, finalizer, provider change) and then exits.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};

use crate::metrics::Metrics;

pub const DEFAULT_LEASE_NAME: &str = "perimeter-leader";
/// How long a Lease stays valid without renewal (client-go's defaults throughout).
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long a leader keeps trying to renew before it gives up leading.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often candidates try to acquire and the leader renews.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);
/// After SIGTERM, how long the leader waits for its controllers to finish what they are doing
/// before it stops them anyway and releases the Lease (well within Kubernetes' default 30 s
/// termination grace period).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub lease_name: String,
    pub namespace: String,
    /// This replica's name in `spec.holderIdentity` (the pod name).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Config {
    pub fn new(lease_name: String, namespace: String, identity: String) -> Self {
        Self {
            lease_name,
            namespace,
            identity,
            lease_duration: LEASE_DURATION,
            renew_deadline: RENEW_DEADLINE,
            retry_period: RETRY_PERIOD,
        }
    }
}

/// This replica's identity: `POD_NAME`, else the host name with a random suffix (two
/// processes on one machine must never both think they hold the Lease).
pub fn identity(pod_name: Option<String>) -> String {
    if let Some(name) = pod_name.filter(|n| !n.trim().is_empty()) {
        return name;
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "perimeter".to_string());
    format!("{host}_{:08x}", rand::random::<u32>())
}

/// Whether this replica may write now. Open for good without leader election; with it, open
/// only until the renew deadline after the start of the last successful Lease write: a
/// standby takes over no earlier than the Lease duration after it saw that write, so a
/// leader's writes stop at least `lease duration - renew deadline` (5 s) before anyone else's
/// can start, whatever happened to this process in between.
#[derive(Clone, Debug, Default)]
pub struct Fence(Option<Arc<Mutex<Option<Instant>>>>);

impl Fence {
    /// No election: writes are always allowed.
    pub fn open() -> Self {
        Self(None)
    }

    /// Elected: closed until [`Fence::renewed`].
    pub fn elected() -> Self {
        Self(Some(Arc::new(Mutex::new(None))))
    }

    /// The Lease was written by a try that started at `started`.
    pub fn renewed(&self, started: Instant, renew_deadline: Duration) {
        if let Some(until) = &self.0 {
            *until.lock().unwrap_or_else(PoisonError::into_inner) = Some(started + renew_deadline);
        }
    }

    pub fn close(&self) {
        if let Some(until) = &self.0 {
            *until.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    pub fn allows_writes(&self) -> bool {
        self.allows_writes_at(Instant::now())
    }

    fn allows_writes_at(&self, now: Instant) -> bool {
        match &self.0 {
            None => true,
            Some(until) => until
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some_and(|until| now < until),
        }
    }
}

/// What a candidate saw of the Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// `spec.holderIdentity`; `None` (or empty) once released.
    pub holder: Option<String>,
    /// `spec.leaseDurationSeconds`, or ours when absent.
    pub lease_duration: Duration,
    /// How long this process has seen this same record (same `resourceVersion`).
    pub unchanged_for: Duration,
}

/// What to do about the Lease, on one try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// There is no Lease: create it, holding it.
    Create,
    /// We hold it: renew it.
    Renew,
    /// Released, or not renewed for its whole duration: take it over.
    TakeOver,
    /// Another replica holds it and renews it: stay standby.
    Wait,
}

pub fn decide(me: &str, seen: Option<&Seen>) -> Decision {
    let Some(seen) = seen else {
        return Decision::Create;
    };
    match seen.holder.as_deref() {
        None | Some("") => Decision::TakeOver,
        Some(holder) if holder == me => Decision::Renew,
        Some(_) if seen.unchanged_for >= seen.lease_duration => Decision::TakeOver,
        Some(_) => Decision::Wait,
    }
}

/// The result of one renewal attempt by the leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    Renewed,
    /// The Lease names someone else: they took over.
    TakenBy(String),
    /// The API did not answer, answered an error, or a write conflicted.
    Failed,
}

/// Whether the leader still leads after an attempt, `since_renewed` after its last renewal.
pub fn still_leading(attempt: &Attempt, since_renewed: Duration, renew_deadline: Duration) -> bool {
    match attempt {
        Attempt::Renewed => true,
        Attempt::TakenBy(_) => false,
        Attempt::Failed => since_renewed < renew_deadline,
    }
}

/// One candidate: reads, decides and writes the Lease.
pub struct Elector {
    api: Api<Lease>,
    config: Config,
    /// The `resourceVersion` last seen, and when this process first saw it.
    observed: Option<(String, Instant)>,
}

/// How one try went, for the loops below.
enum Tried {
    Holding,
    HeldBy(String),
    Failed(String),
}

impl Elector {
    pub fn new(client: Client, config: Config) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    fn seen(&mut self, lease: &Lease, now: Instant) -> Seen {
        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        let since = match &self.observed {
            Some((seen_rv, at)) if *seen_rv == rv => *at,
            _ => {
                self.observed = Some((rv, now));
                now
            }
        };
        let spec = lease.spec.as_ref();
        Seen {
            holder: spec.and_then(|s| s.holder_identity.clone()),
            lease_duration: spec
                .and_then(|s| s.lease_duration_seconds)
                .and_then(|s| u64::try_from(s).ok())
                .map_or(self.config.lease_duration, Duration::from_secs),
            unchanged_for: now.saturating_duration_since(since),
        }
    }

    fn spec(&self, acquired: bool, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(jiff::Timestamp::now());
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: i32::try_from(self.config.lease_duration.as_secs()).ok(),
            acquire_time: if acquired {
                Some(now.clone())
            } else {
                previous.and_then(|p| p.acquire_time.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if acquired && previous.is_some() {
                transitions + 1
            } else {
                transitions
            }),
            ..LeaseSpec::default()
        }
    }

    async fn try_once(&mut self) -> Tried {
        let name = self.config.lease_name.clone();
        let current = match self.api.get_opt(&name).await {
            Ok(c) => c,
            Err(e) => return Tried::Failed(format!("reading Lease {name}: {e}")),
        };
        let now = Instant::now();
        let seen = current.as_ref().map(|l| self.seen(l, now));
        let decision = decide(&self.config.identity, seen.as_ref());
        let written = match (decision, current) {
            (Decision::Wait, _) => {
                let holder = seen.and_then(|s| s.holder).unwrap_or_default();
                return Tried::HeldBy(holder);
            }
            (Decision::Create, _) | (_, None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(self.config.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(true, None)),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            (decision, Some(mut lease)) => {
                // The read's resourceVersion stays in the body: a concurrent writer makes
                // this replace fail with 409 instead of being overwritten.
                lease.spec = Some(self.spec(decision == Decision::TakeOver, lease.spec.as_ref()));
                self.api
                    .replace(&name, &PostParams::default(), &lease)
                    .await
            }
        };
        match written {
            Ok(lease) => {
                if let Some(rv) = lease.metadata.resource_version {
                    self.observed = Some((rv, Instant::now()));
                }
                Tried::Holding
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                Tried::Failed(format!("Lease {name} changed under us (409)"))
            }
            Err(e) => Tried::Failed(format!("writing Lease {name}: {e}")),
        }
    }

    /// Tries every retry period until this replica holds the Lease; returns when the winning
    /// try started.
    pub async fn acquire(&mut self) -> Instant {
        let mut last_holder = None;
        loop {
            let started = Instant::now();
            match self.try_once().await {
                Tried::Holding => return started,
                Tried::HeldBy(holder) => {
                    if last_holder.as_ref() != Some(&holder) {
                        tracing::info!(%holder, lease = %self.config.lease_name, "standby: another replica leads");
                        last_holder = Some(holder);
                    }
                }
                Tried::Failed(e) => tracing::debug!(error = %e, "leader election try failed"),
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Renews every retry period, keeping `fence` open while it succeeds (`renewed`: when the
    /// acquiring try started); returns why leadership was lost.
    pub async fn keep(&mut self, mut renewed: Instant, fence: &Fence) -> String {
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let started = Instant::now();
            let attempt =
                match tokio::time::timeout(self.config.renew_deadline, self.try_once()).await {
                    Ok(Tried::Holding) => Attempt::Renewed,
                    Ok(Tried::HeldBy(holder)) => Attempt::TakenBy(holder),
                    Ok(Tried::Failed(e)) => {
                        tracing::warn!(error = %e, "renewing the leader Lease failed");
                        Attempt::Failed
                    }
                    Err(_) => Attempt::Failed,
                };
            if attempt == Attempt::Renewed {
                renewed = started;
                fence.renewed(started, self.config.renew_deadline);
            }
            if !still_leading(&attempt, renewed.elapsed(), self.config.renew_deadline) {
                return match attempt {
                    Attempt::TakenBy(holder) => format!("the Lease is now held by {holder}"),
                    _ => format!(
                        "the Lease could not be renewed for {} s",
                        self.config.renew_deadline.as_secs()
                    ),
                };
            }
        }
    }

    /// Gives the Lease up (graceful shutdown), if this replica still holds it.
    pub async fn release(&mut self) -> Result<(), kube::Error> {
        let name = self.config.lease_name.clone();
        let Some(mut lease) = self.api.get_opt(&name).await? else {
            return Ok(());
        };
        let ours = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.config.identity.as_str());
        if !ours {
            return Ok(());
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        }
        self.api
            .replace(&name, &PostParams::default(), &lease)
            .await
            .map(|_| ())
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs `controllers` only while this replica leads, with `fence` open while the Lease is
/// known to be ours. Returns `Ok` after a graceful shutdown (the Lease released), and an error
/// when leadership was lost, so the process exits non-zero and restarts as a standby.
/// `client` must not be fenced: it writes the Lease.
pub async fn run_elected<F, Fut>(
    client: Client,
    config: Config,
    metrics: Arc<Metrics>,
    fence: Fence,
    controllers: F,
) -> Result<(), String>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut elector = Elector::new(client, config.clone());
    metrics.leader.set(0);
    tracing::info!(identity = %config.identity, lease = %config.lease_name, namespace = %config.namespace, "standby: trying to acquire the leader Lease");
    fence.close();
    let acquired = tokio::select! {
        started = elector.acquire() => Some(started),
        () = shutdown_signal() => None,
    };
    let Some(acquired) = acquired else {
        tracing::info!("shutting down as standby");
        return Ok(());
    };
    fence.renewed(acquired, config.renew_deadline);
    metrics.leader.set(1);
    tracing::info!(identity = %config.identity, "leading: starting the controllers");
    let lost = {
        let run = controllers();
        // The controllers stop by themselves on SIGTERM; one that does not (e.g. a watch stuck
        // retrying) must not keep the Lease from being released.
        let overdue = async {
            shutdown_signal().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "controllers still running after SIGTERM; stopping them");
        };
        tokio::select! {
            () = run => None,
            () = overdue => None,
            why = elector.keep(acquired, &fence) => Some(why),
        }
    };
    fence.close();
    metrics.leader.set(0);
    match lost {
        Some(why) => {
            tracing::error!(reason = %why, "lost the leader Lease; controllers stopped");
            Err(format!("lost the leader Lease: {why}"))
        }
        None => {
            match elector.release().await {
                Ok(()) => tracing::info!("released the leader Lease"),
                Err(e) => tracing::warn!(error = %e, "releasing the leader Lease failed"),
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "perimeter-0";

    fn seen(holder: Option<&str>, unchanged_for: u64) -> Seen {
        Seen {
            holder: holder.map(str::to_string),
            lease_duration: LEASE_DURATION,
            unchanged_for: Duration::from_secs(unchanged_for),
        }
    }

    #[test]
    fn candidates_decide_from_what_they_saw() {
        let cases = [
            ("no Lease yet", None, Decision::Create),
            ("ours, fresh", Some(seen(Some(ME), 1)), Decision::Renew),
            (
                "ours, even if stale",
                Some(seen(Some(ME), 60)),
                Decision::Renew,
            ),
            (
                "other, fresh",
                Some(seen(Some("perimeter-1"), 3)),
                Decision::Wait,
            ),
            (
                "other, just under",
                Some(seen(Some("perimeter-1"), 14)),
                Decision::Wait,
            ),
            (
                "other, expired",
                Some(seen(Some("perimeter-1"), 15)),
                Decision::TakeOver,
            ),
            ("released", Some(seen(None, 0)), Decision::TakeOver),
            (
                "released (empty)",
                Some(seen(Some(""), 0)),
                Decision::TakeOver,
            ),
        ];
        for (case, seen, want) in cases {
            assert_eq!(decide(ME, seen.as_ref()), want, "{case}");
        }
        let short = Seen {
            lease_duration: Duration::from_secs(1),
            ..seen(Some("perimeter-1"), 1)
        };
        assert_eq!(
            decide(ME, Some(&short)),
            Decision::TakeOver,
            "the Lease's own duration counts"
        );
    }

    #[test]
    fn the_leader_gives_up_when_taken_over_or_past_the_renew_deadline() {
        let s = Duration::from_secs;
        let other = Attempt::TakenBy("perimeter-1".into());
        let cases = [
            (Attempt::Renewed, s(30), true),
            (Attempt::Failed, s(2), true),
            (Attempt::Failed, s(9), true),
            (Attempt::Failed, s(10), false),
            (other.clone(), s(0), false),
        ];
        for (attempt, since, want) in cases {
            assert_eq!(
                still_leading(&attempt, since, RENEW_DEADLINE),
                want,
                "{attempt:?} after {since:?}"
            );
        }
    }

    #[test]
    fn the_fence_is_open_until_the_renew_deadline_after_the_last_renewal() {
        let s = Duration::from_secs;
        let t0 = Instant::now();
        assert!(Fence::open().allows_writes_at(t0 + s(3600)), "no election");
        let fence = Fence::elected();
        assert!(
            !fence.allows_writes_at(t0),
            "closed before the Lease is held"
        );
        fence.renewed(t0, RENEW_DEADLINE);
        assert!(fence.allows_writes_at(t0 + s(9)));
        assert!(
            !fence.allows_writes_at(t0 + s(10)),
            "a paused leader wakes up fenced"
        );
        fence.renewed(t0 + s(8), RENEW_DEADLINE);
        assert!(fence.allows_writes_at(t0 + s(17)));
        let clone = fence.clone();
        fence.close();
        assert!(!clone.allows_writes_at(t0 + s(9)), "clones share the state");
    }

    #[test]
    fn identities_come_from_the_pod_name_or_a_unique_host_name() {
        assert_eq!(identity(Some("perimeter-7f9".into())), "perimeter-7f9");
        let a = identity(None);
        let b = identity(Some(" ".into()));
        assert!(a.contains('_') && b.contains('_'), "{a} {b}");
        assert_ne!(a, b, "two processes on one host differ");
    }
}
