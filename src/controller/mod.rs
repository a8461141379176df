//! The Kubernetes controllers: `CloudProvider` (credentials and reachability) and the two
//! policy kinds, whose reconcile wraps [`crate::reconcile::sync`] with everything Kubernetes:
//! reading the provider and its Secret, finalizers, status, Events and requeueing.

pub mod assessment;
pub mod leader;
pub mod policy;
pub mod provider;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::Mutex;

pub use policy::PolicyKind;

use crate::api::{CloudProvider, FirewallPolicy, MonitoringPolicy};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::providers::Provider;

/// The field manager of every write the operator makes (server-side apply).
pub const FIELD_MANAGER: &str = "perimeter";
/// Added only to policies whose deletion must clean up the provider (`deletionPolicy: Delete`
/// in `Enforce` mode); every other policy is deleted without waiting on the operator.
pub const FINALIZER: &str = "perimeter.dev/cleanup";

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// When this process started reconciling (a verdict can only be called stale after the
    /// policies had the time to be read once).
    pub started: std::time::Instant,
    /// Provider clients, kept across reconciles so each account's rate limit is shared.
    /// Keyed by namespace/name; rebuilt when the CloudProvider or its Secret changes.
    clients: Mutex<HashMap<(String, String), CachedClient>>,
}

struct CachedClient {
    fingerprint: String,
    client: Arc<dyn Provider>,
}

impl Context {
    pub fn new(client: Client, metrics: Arc<Metrics>) -> Arc<Self> {
        let reporter = Reporter {
            controller: "perimeter".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        let recorder = Recorder::new(client.clone(), reporter);
        Arc::new(Self {
            client,
            metrics,
            recorder,
            started: std::time::Instant::now(),
            clients: Mutex::new(HashMap::new()),
        })
    }
}

/// Runs all controllers until SIGTERM/SIGINT; with `election`, only while this replica holds
/// the leader Lease (an empty namespace there means the client's default namespace).
pub async fn run(metrics_addr: SocketAddr, election: Option<leader::Config>) -> Result<(), String> {
    let client = Client::try_default()
        .await
        .map_err(|e| format!("connecting to Kubernetes: {e}"))?;
    let metrics = Arc::new(Metrics::new().map_err(|e| e.to_string())?);
    let (addr, _server) = crate::metrics::serve(metrics.clone(), metrics_addr)
        .await
        .map_err(|e| format!("serving metrics on {metrics_addr}: {e}"))?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    let ctx = Context::new(client.clone(), metrics.clone());
    // A standby is ready too: it serves its probes and is one Lease away from working.
    metrics.set_ready(true);
    let controllers = {
        let client = client.clone();
        async move || {
            tokio::join!(
                run_providers(client.clone(), ctx.clone()),
                run_policies::<FirewallPolicy>(client.clone(), ctx.clone()),
                run_policies::<MonitoringPolicy>(client.clone(), ctx.clone()),
                assessment::run(client, ctx),
            );
        }
    };
    let result = match election {
        None => {
            metrics.leader.set(1);
            controllers().await;
            Ok(())
        }
        Some(mut config) => {
            if config.namespace.is_empty() {
                config.namespace = client.default_namespace().to_string();
            }
            leader::run_elected(client, config, metrics.clone(), controllers).await
        }
    };
    metrics.set_ready(false);
    tracing::info!("controllers stopped");
    result
}

/// A Secret change reconciles the CloudProviders that use it, so a fixed credential is
/// picked up at once.
async fn run_providers(client: Client, ctx: Arc<Context>) {
    let providers: Api<CloudProvider> = Api::all(client.clone());
    let secrets: Api<Secret> = Api::all(client);
    let controller = Controller::new(providers, watcher::Config::default());
    let store = controller.store();
    controller
        .watches(
            secrets,
            watcher::Config::default(),
            move |secret: Secret| {
                let ns = secret.namespace().unwrap_or_default();
                let name = secret.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|p| {
                        p.namespace().as_deref() == Some(ns.as_str())
                            && p.spec
                                .credentials
                                .secret_ref
                                .as_ref()
                                .is_some_and(|r| r.name == name)
                    })
                    .map(|p| ObjectRef::from_obj(&*p))
                    .collect::<Vec<_>>()
            },
        )
        .shutdown_on_signal()
        .run(provider::reconcile, provider::error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Policies reconcile on spec changes (not on their own status writes), on deletion, when
/// their CloudProvider changes, and on their sync interval.
async fn run_policies<K: PolicyKind>(client: Client, ctx: Arc<Context>) {
    let api: Api<K> = Api::all(client.clone());
    let providers: Api<CloudProvider> = Api::all(client);
    let (reader, writer) = reflector::store::<K>();
    let changes = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(spec_or_deletion, Default::default());
    let store = reader.clone();
    // Status writes of a CloudProvider matter only when its readiness flips.
    let provider_changes = watcher(providers, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .predicate_filter(spec_or_readiness, Default::default());
    Controller::for_stream(changes, reader)
        .watches_stream(provider_changes, move |p: CloudProvider| {
            let ns = p.namespace().unwrap_or_default();
            let name = p.name_any();
            store
                .state()
                .into_iter()
                .filter(|pol| {
                    pol.namespace().as_deref() == Some(ns.as_str())
                        && pol.controls().provider_ref.name == name
                })
                .map(|pol| ObjectRef::from_obj(&*pol))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(policy::reconcile::<K>, policy::error_policy::<K>, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Changes worth a reconcile: a new generation (spec) or the start of deletion.
fn spec_or_deletion<K: Resource>(obj: &K) -> Option<u64> {
    let generation = predicates::generation(obj).unwrap_or(0);
    Some(generation ^ u64::from(obj.meta().deletion_timestamp.is_some()).rotate_left(63))
}

/// A CloudProvider change worth re-syncing its policies: a new spec or a flip of `Ready`.
fn spec_or_readiness(p: &CloudProvider) -> Option<u64> {
    let ready = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True");
    let generation = predicates::generation(p).unwrap_or(0);
    Some(generation ^ u64::from(ready).rotate_left(62))
}

/// Runs one reconcile, counted and timed by kind and result.
async fn measured(
    metrics: &Metrics,
    kind: &str,
    work: impl std::future::Future<Output = Result<Action, Error>>,
) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let result = work.await;
    let label = match &result {
        Ok(_) => "success",
        Err(e) => e.category().label(),
    };
    metrics.observe_reconcile(kind, label, started.elapsed());
    result
}

/// How long to wait after an error: longer for errors a retry will not fix soon.
fn backoff_for(error: &Error) -> Action {
    use crate::error::Category::*;
    let secs = match error.category() {
        Throttled => 120,
        InvalidSpec | ProviderNotSupported | ProviderMismatch => 600,
        CredentialsMissing | CredentialsRejected | ProviderNotFound => 120,
        _ => 30,
    };
    Action::requeue(Duration::from_secs(secs))
}

/// Parses `30s`, `5m`, `1h` (the schema enforces the form).
pub fn parse_interval(s: Option<&str>) -> Duration {
    const DEFAULT: Duration = Duration::from_secs(300);
    let Some(s) = s else { return DEFAULT };
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let Ok(n) = num.parse::<u64>() else {
        return DEFAULT;
    };
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return DEFAULT,
    };
    Duration::from_secs(secs.clamp(10, 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        let cases = [
            (None, 300),
            (Some("30s"), 30),
            (Some("5m"), 300),
            (Some("2h"), 7200),
            (Some("1s"), 10),
            (Some("x"), 300),
            (Some("999h"), 86400),
        ];
        for (input, secs) in cases {
            assert_eq!(
                parse_interval(input),
                Duration::from_secs(secs),
                "{input:?}"
            );
        }
    }
}
