//! The Kubernetes controllers: `CloudProvider` (credentials and reachability) and the two
//! policy kinds, whose reconcile wraps [`crate::reconcile::sync`] with everything Kubernetes:
//! reading the provider and its Secret, finalizers, status, Events and requeueing.

pub mod account;
pub mod addressset;
pub mod assessment;
pub mod events;
pub mod guard;
pub mod leader;
pub mod pace;
pub mod policy;
pub mod provider;
pub mod shard;
pub mod watch;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use tokio::sync::Mutex;

pub use crate::api::common::parse_interval;
pub use policy::PolicyKind;

use self::guard::Parsed;
use self::watch::{Feed, Scope};
use crate::api::{
    AddressSet, CloudProvider, ClusterCloudProvider, FirewallPolicy, MonitoringPolicy, ProviderKind,
};
use crate::core::hostnames::Served;
use crate::core::inventory::Asset;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::providers::Provider;
use crate::trust::{CREDENTIAL_LABEL, CREDENTIAL_LABEL_VALUE, Trust};

/// The field manager of every write the operator makes (server-side apply).
pub const FIELD_MANAGER: &str = "perimeter";
/// Added only to policies whose deletion must clean up the provider (`deletionPolicy: Delete`
/// in `Enforce` mode); every other policy is deleted without waiting on the operator.
pub const FINALIZER: &str = "perimeter.dev/cleanup";
/// `perimeter.dev/cleanup: skip` on a policy being deleted: give up the provider cleanup and
/// let the policy go (the admin's way out when the provider can no longer be cleaned).
pub const SKIP_CLEANUP_ANNOTATION: &str = "perimeter.dev/cleanup";

/// What the operator's admin decided (flags, Helm values).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The namespaces served.
    pub scope: Scope,
    /// Where `ClusterCloudProvider` credentials and the evidence trail live: the operator's own
    /// namespace.
    pub cluster_namespace: String,
    pub trust: Trust,
    /// The longest one sync of one policy (reads, writes, confirming read) may take.
    pub sync_deadline: Duration,
    /// Where Perimeter's own alerts go (the chart's Alertmanager Slack receiver), verified
    /// by the assessments like any provider's route.
    pub own_alerts: Vec<crate::core::routing::AlertRoute>,
    /// Which policies this process reconciles and whether it runs the cluster-wide
    /// controllers (see [`shard`]).
    pub shard: shard::Shard,
    /// How long one account's read answers are handed to its other policies' identical reads
    /// (`--share-reads-for`, see [`crate::http::share`]).
    pub share_reads: Duration,
    /// How many objects of one kind reconcile at once (the others wait in the controller's
    /// queue, costing a key, not a running sync); one account's policies take at most a
    /// sixteenth of it (see [`Shares`]).
    pub max_concurrent_reconciles: u16,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            scope: Scope::Cluster,
            cluster_namespace: assessment::operator_namespace(),
            trust: Trust::default(),
            sync_deadline: DEFAULT_SYNC_DEADLINE,
            own_alerts: Vec::new(),
            shard: shard::Shard::all(),
            share_reads: Duration::ZERO,
            max_concurrent_reconciles: DEFAULT_MAX_CONCURRENT_RECONCILES,
        }
    }
}

pub use crate::reconcile::DEFAULT_DEADLINE as DEFAULT_SYNC_DEADLINE;

/// Reconciles of one kind at once, by default. Measured on the fleet bench (1,000 policies over
/// 75 accounts, debug build): unbounded, all synced in 82 s at 212 MiB; 64, in 107 s at 186 MiB;
/// 32, in 121 s at 166 MiB. Since a sync reserves its calls on its account's rate limit before
/// it starts, and waits in the queue rather than in a slot while they are not there, 64 slots
/// sync 10,000 policies (release build) within about 5 s of what the accounts' limits allow
/// (README, Fleet scale); before, syncs waited on the limit inside their slots, and 64 slots
/// took 116-127 s where 256 took 52-92 s.
pub const DEFAULT_MAX_CONCURRENT_RECONCILES: u16 = 64;

/// `--max-concurrent-reconciles`: a whole number from 1 to 65535.
pub fn parse_max_concurrent_reconciles(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(0) => Err("must be at least 1 (0 would reconcile nothing)".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number from 1 to 65535")),
    }
}

/// The controllers' settings from the admin's: at most `max_concurrent_reconciles` at once.
fn controller_config(settings: &Settings) -> kube::runtime::controller::Config {
    kube::runtime::controller::Config::default().concurrency(settings.max_concurrent_reconciles)
}

/// How many policy reconciles of each account run now, against a share of the controller's
/// slots: an account whose provider hangs holds each of its syncs until the sync deadline,
/// and without a share its policies could take every slot and stall every other account for
/// as long. A policy whose account has used its share waits in the account's queue, without
/// holding a slot: when one of the account's reconciles ends, the first in the queue is
/// reconciled ([`Shares::wakes`]). It is also tried again after [`SHARE_RETRY`], in case the
/// one woken no longer needed it.
pub struct Shares {
    per_account: usize,
    running: std::sync::Mutex<HashMap<AccountKey, Running>>,
    /// Per policy kind, where its controller takes the policies to reconcile now.
    wakes: std::sync::Mutex<HashMap<&'static str, futures::channel::mpsc::UnboundedSender<Waiter>>>,
}

/// A policy waiting for its account's share: kind, namespace, name.
pub type Waiter = (&'static str, String, String);

#[derive(Default)]
struct Running {
    now: usize,
    /// In the order they first found the share in use, each once.
    waiting: std::collections::VecDeque<Waiter>,
}

/// When a policy whose account had no share left is tried again, if its turn in the queue
/// has not come before.
pub const SHARE_RETRY: Duration = Duration::from_secs(2);

/// How long a reader waits for a watch cache's first list before it goes on without it (a
/// reconcile reports "not listed yet" and is retried; the controllers start anyway).
pub const LISTED_LIMIT: Duration = Duration::from_secs(30);

impl Shares {
    /// A sixteenth of `slots` per account (at least one): sixteen accounts that all hang are
    /// needed to stall the others, and a sync waiting on its account's rate limit holds few
    /// slots that another account could use.
    pub fn new(slots: u16) -> Self {
        Self {
            per_account: usize::from(slots / 16).max(1),
            running: std::sync::Mutex::new(HashMap::new()),
            wakes: std::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn per_account(&self) -> usize {
        self.per_account
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<AccountKey, Running>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One of the account's slots, held until the guard is dropped; `None` while its share is
    /// in use, and then `waiter` is in the account's queue.
    pub fn take(self: &Arc<Self>, key: AccountKey, waiter: Waiter) -> Option<Share> {
        let mut running = self.running();
        let account = running.entry(key.clone()).or_default();
        if account.now >= self.per_account {
            if !account.waiting.contains(&waiter) {
                account.waiting.push_back(waiter);
            }
            return None;
        }
        account.waiting.retain(|w| *w != waiter);
        account.now += 1;
        Some(Share {
            shares: self.clone(),
            key,
        })
    }

    /// The policies of `kind` whose turn came (see [`Shares::take`]): what its controller
    /// reconciles now. One receiver a kind; a later call replaces the earlier.
    pub fn wakes(&self, kind: &'static str) -> futures::channel::mpsc::UnboundedReceiver<Waiter> {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        self.wakes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(kind, tx);
        rx
    }

    /// A reconcile of `key` ended: the first in its queue is woken.
    fn give_back(&self, key: &AccountKey) {
        let next = {
            let mut running = self.running();
            let Some(account) = running.get_mut(key) else {
                return;
            };
            account.now = account.now.saturating_sub(1);
            let next = account.waiting.pop_front();
            if account.now == 0 && account.waiting.is_empty() {
                running.remove(key);
            }
            next
        };
        if let Some(waiter) = next {
            self.wake(waiter);
        }
    }

    /// `waiter` is reconciled now by its kind's controller.
    fn wake(&self, waiter: Waiter) {
        let wakes = self
            .wakes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tx) = wakes.get(waiter.0) {
            // A controller that stopped takes none: its policies' retries do.
            let _ = tx.unbounded_send(waiter);
        }
    }

    /// `waiter` is reconciled after `after` (when its account's rate limit holds its calls:
    /// see [`crate::http::ratelimit::Wake`]) if it is `still` waiting then: a policy woken
    /// twice, that took its calls at the first wake, is not synced again at the second.
    pub fn wake_after(
        self: &Arc<Self>,
        waiter: Waiter,
        after: Duration,
        still: impl FnOnce() -> bool + Send + 'static,
    ) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if !after.is_zero() => {
                let shares = self.clone();
                runtime.spawn(async move {
                    tokio::time::sleep(after).await;
                    if still() {
                        shares.wake(waiter);
                    }
                });
            }
            _ => {
                if still() {
                    self.wake(waiter);
                }
            }
        }
    }
}

/// A running reconcile of one account's policy (see [`Shares::take`]).
pub struct Share {
    shares: Arc<Shares>,
    key: AccountKey,
}

impl Drop for Share {
    fn drop(&mut self) {
        self.shares.give_back(&self.key);
    }
}

/// The caches every controller reads, one watch per kind.
#[derive(Default)]
pub struct Feeds {
    /// Only Secrets labelled `perimeter.dev/credential: "true"`.
    pub secrets: Feed<Secret>,
    pub providers: Feed<Parsed<CloudProvider>>,
    pub cluster_providers: Feed<Parsed<ClusterCloudProvider>>,
    /// Every policy where the cluster-wide controllers run (account coverage and the
    /// assessment need them all); elsewhere only the shard's.
    pub firewalls: Feed<Parsed<FirewallPolicy>>,
    pub monitors: Feed<Parsed<MonitoringPolicy>>,
    pub address_sets: Feed<Parsed<AddressSet>>,
    /// The shard's own policies, watched with its selector, where they differ from the
    /// policies above (the cluster-controllers shard with a selector).
    pub own_firewalls: Option<Feed<Parsed<FirewallPolicy>>>,
    pub own_monitors: Option<Feed<Parsed<MonitoringPolicy>>>,
}

impl Feeds {
    /// Waits, at most `limit` in all, until every cache has listed once; whether they all did.
    ///
    /// The controllers start only then, as controller-runtime's `WaitForCacheSync`: a reconcile
    /// that began earlier would hold one of its controller's slots while it waited.
    pub async fn listed(&self, limit: Duration) -> bool {
        let all = async {
            self.secrets.cache().listed(limit).await
                && self.providers.cache().listed(limit).await
                && self.cluster_providers.cache().listed(limit).await
                && self.firewalls.cache().listed(limit).await
                && self.monitors.cache().listed(limit).await
                && self.address_sets.cache().listed(limit).await
                && match &self.own_firewalls {
                    Some(f) => f.cache().listed(limit).await,
                    None => true,
                }
                && match &self.own_monitors {
                    Some(f) => f.cache().listed(limit).await,
                    None => true,
                }
        };
        tokio::time::timeout(limit, all).await.unwrap_or(false)
    }

    /// The caches a shard needs (every one, undriven, until [`Feeds::run`]).
    pub fn for_shard(shard: &shard::Shard) -> Self {
        let own = shard.needs_own_policy_watch();
        Self {
            own_firewalls: own.then(Feed::new),
            own_monitors: own.then(Feed::new),
            ..Self::default()
        }
    }

    /// The FirewallPolicies this process reconciles.
    pub fn shard_firewalls(&self) -> &Feed<Parsed<FirewallPolicy>> {
        self.own_firewalls.as_ref().unwrap_or(&self.firewalls)
    }

    /// The MonitoringPolicies this process reconciles.
    pub fn shard_monitors(&self) -> &Feed<Parsed<MonitoringPolicy>> {
        self.own_monitors.as_ref().unwrap_or(&self.monitors)
    }

    /// Drives every watch until the process stops.
    pub async fn run(&self, client: &Client, settings: &Settings) {
        let labelled = watcher::Config::default()
            .labels(&format!("{CREDENTIAL_LABEL}={CREDENTIAL_LABEL_VALUE}"));
        let all = watcher::Config::default();
        let secret_scope = settings.scope.with(&settings.cluster_namespace);
        let shard = &settings.shard;
        // Where the cluster-wide controllers run, the policies are watched unfiltered (and the
        // shard's own share a second time, below); elsewhere only the shard's share is cached.
        let policies = if shard.cluster_controllers {
            all.clone()
        } else {
            shard.policy_watch()
        };
        let own_firewalls = async {
            if let Some(feed) = &self.own_firewalls {
                feed.run(watch::namespaced(
                    client,
                    &settings.scope,
                    shard.policy_watch(),
                ))
                .await;
            }
        };
        let own_monitors = async {
            if let Some(feed) = &self.own_monitors {
                feed.run(watch::namespaced(
                    client,
                    &settings.scope,
                    shard.policy_watch(),
                ))
                .await;
            }
        };
        tokio::join!(
            own_firewalls,
            own_monitors,
            self.secrets
                .run(watch::namespaced(client, &secret_scope, labelled)),
            self.providers
                .run(watch::namespaced(client, &settings.scope, all.clone())),
            self.cluster_providers
                .run(watch::cluster(client, all.clone())),
            self.firewalls
                .run(watch::namespaced(client, &settings.scope, policies.clone())),
            self.monitors
                .run(watch::namespaced(client, &settings.scope, policies)),
            self.address_sets
                .run(watch::namespaced(client, &settings.scope, all)),
        );
    }
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub metrics: Arc<Metrics>,
    pub recorder: events::Events,
    /// When this process started reconciling (a verdict can only be called stale after the
    /// policies had the time to be read once).
    pub started: std::time::Instant,
    pub config: Settings,
    pub feeds: Arc<Feeds>,
    /// Credential Secrets (labelled ones only), from the watch cache.
    pub secrets: watch::Cache<Secret>,
    /// Provider clients, kept across reconciles so each account's rate limit is shared.
    /// Keyed by kind/namespace/name; rebuilt when the account's uid, spec or Secret changes,
    /// dropped when it is deleted. Each account has its own slot: a connect (an AWS SDK
    /// configuration, a token exchange) holds only its account's, so one account's slow
    /// provider never holds another's syncs.
    clients: std::sync::Mutex<HashMap<AccountKey, ClientSlot>>,
    /// The keep-alive connections every account's client sends through: one pool per API
    /// host, not one per account (see [`crate::http::Connections`]). `None` if it could not
    /// be built; each connect then builds its own and says why it failed.
    pub connections: Option<crate::http::Connections>,
    /// Statuses written and not yet seen back through the watch.
    pub written: Written,
    /// The last attribution of each policy's drift (by uid), reused while it stays the same.
    pub attributions: crate::reconcile::AttributionMemo,
    /// What each account's last inventory read said of its public hostnames, for the
    /// monitoring accounts that speak for it.
    pub hostnames: Hostnames,
    /// The assets each account's last inventory read listed, so a FirewallPolicy change
    /// recomputes the account's coverage without reading the provider again.
    pub assets: Assets,
    /// Open while this replica may write (always without leader election). `client` already
    /// refuses Kubernetes writes while it is closed; provider writes check it themselves.
    pub fence: leader::Fence,
    /// Each account's share of the policy controllers' slots.
    pub shares: Arc<Shares>,
    /// What each account's last syncs cost, so that a sync reserves what it will send.
    pub costs: SyncCosts,
    /// The policies (by uid) put back in the queue for their account's rate limit and told
    /// when to come back.
    pub told: Arc<Told>,
    /// The FirewallPolicies and MonitoringPolicies handed to their controllers a few at a time,
    /// in turn by account.
    paces: [Arc<pace::Pace>; 2],
}

/// Policies told when to come back for their account's rate limit (see
/// [`crate::http::ratelimit::Reservation::take`]), by uid, until their sync starts or they
/// are deleted.
#[derive(Default)]
pub struct Told(std::sync::Mutex<std::collections::HashSet<String>>);

impl Told {
    fn set(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn was(&self, uid: &str) -> bool {
        self.set().contains(uid)
    }

    pub fn tell(&self, uid: &str) {
        self.set().insert(uid.to_string());
    }

    pub fn forget(&self, uid: &str) {
        self.set().remove(uid);
    }
}

/// What each account's last syncs cost, in calls sent per read
/// ([`crate::providers::Target::reads`]): of the syncs that wrote and of those that did not
/// (a moving mean, half the last sync's). A sync reserves on its account's rate limit what
/// syncs like it sent (`policy::expected_calls`); before the first, a writing sync is
/// taken to read, write and read again once a read, and a reading one to read. In memory
/// only, a few bytes an account.
#[derive(Default)]
pub struct SyncCosts(std::sync::Mutex<HashMap<AccountKey, Cost>>);

/// Calls sent per read by an account's syncs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cost {
    pub writing: f32,
    pub reading: f32,
}

impl Default for Cost {
    fn default() -> Self {
        Self {
            writing: 3.0,
            reading: 1.0,
        }
    }
}

impl SyncCosts {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<AccountKey, Cost>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn of(&self, account: &AccountKey) -> Cost {
        self.map().get(account).copied().unwrap_or_default()
    }

    /// A finished sync of `account` that read `reads` sections and sent `sent` calls.
    pub fn learn(&self, account: AccountKey, wrote: bool, reads: u32, sent: u32) {
        // Reads are at least one (a target declares a section).
        #[allow(clippy::cast_precision_loss)]
        let per_read = sent as f32 / reads.max(1) as f32;
        let mut map = self.map();
        let cost = map.entry(account).or_default();
        let kind = if wrote {
            &mut cost.writing
        } else {
            &mut cost.reading
        };
        *kind = (*kind + per_read) / 2.0;
    }
}

/// The assets of each account's last successful inventory read, with the uid of the object
/// read. In memory only: after a restart an account's coverage follows its next read.
#[derive(Default)]
pub struct Assets(std::sync::Mutex<HashMap<AccountKey, ReadAssets>>);

/// The uid of the object read, and what its read listed.
type ReadAssets = (String, Arc<Vec<Asset>>);

impl Assets {
    pub fn record(&self, key: AccountKey, uid: &str, assets: Vec<Asset>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, (uid.to_string(), Arc::new(assets)));
    }

    /// The last read of this object, if any.
    pub fn of(&self, key: &AccountKey, uid: &str) -> Option<Arc<Vec<Asset>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .filter(|(read_uid, _)| read_uid == uid)
            .map(|(_, a)| a.clone())
    }

    pub fn forget(&self, key: &AccountKey) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }
}

/// The public hostnames of each account (kind/namespace/name) as its last inventory read gave
/// them, with the uid of the object read: an account deleted and created again under the same
/// name is not the one that was read. In memory only: after a restart every account is
/// pending until it is read again.
#[derive(Default)]
pub struct Hostnames(std::sync::Mutex<HashMap<AccountKey, (String, Served)>>);

/// An account by kind, namespace (empty for a ClusterCloudProvider) and name.
pub type AccountKey = (ProviderKind, String, String);

impl Hostnames {
    pub fn record(&self, key: AccountKey, uid: &str, served: Served) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, (uid.to_string(), served));
    }

    /// The last read of the account, `Pending` when it has not been read (by this process,
    /// for this object).
    pub fn of(&self, key: &AccountKey, uid: &str) -> Served {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .filter(|(read_uid, _)| read_uid == uid)
            .map_or(Served::Pending, |(_, s)| s.clone())
    }
}

struct CachedClient {
    fingerprint: String,
    client: Arc<dyn Provider>,
}

/// One account's client, locked while it is being built.
type ClientSlot = Arc<Mutex<Option<CachedClient>>>;

impl Context {
    /// The account's client slot, made on first use.
    fn client_slot(&self, key: &AccountKey) -> ClientSlot {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// Drops the account's client slot (a connect in progress keeps its own until it ends).
    fn forget_client(&self, key: &AccountKey) {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }
}

/// The last status this process wrote per object (by uid), with the resourceVersion the object
/// had when it was written. A reconcile that starts before the watch delivered that write sees
/// the object at the same resourceVersion, and takes the written status as the previous one
/// (otherwise it would write again, moving `lastTransitionTime` and repeating Events). Once a
/// reconcile sees a later version, or the watch brings one ([`Written::delivered`]), the watch
/// has delivered the write, and the entry goes: a fleet in sync holds none. Kept as compact
/// JSON, not a `serde_json::Value` tree.
#[derive(Default)]
pub struct Written(std::sync::Mutex<HashMap<String, (String, String)>>);

impl Written {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, String)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn remember(&self, meta: &kube::api::ObjectMeta, status: &impl serde::Serialize) {
        let (Some(uid), Ok(json)) = (meta.uid.clone(), serde_json::to_string(status)) else {
            return;
        };
        let rv = meta.resource_version.clone().unwrap_or_default();
        self.map().insert(uid, (rv, json));
    }

    /// The status written over this very version of the object, if any. A later version
    /// carries the write itself: the entry is dropped.
    pub fn over<T: serde::de::DeserializeOwned>(&self, meta: &kube::api::ObjectMeta) -> Option<T> {
        let uid = meta.uid.as_deref()?;
        let rv = meta.resource_version.as_deref().unwrap_or_default();
        let mut map = self.map();
        let (written_over, json) = map.get(uid)?;
        if written_over == rv {
            serde_json::from_str(json).ok()
        } else {
            map.remove(uid);
            None
        }
    }

    /// The watch brought this version of the object: an entry written over another version
    /// is no longer needed (the cache has the write, or a later one). Without this, every
    /// status of a round stayed here until the object's next reconcile: 13 MiB of a
    /// 10,000-policy fleet's peak heap.
    pub fn delivered(&self, meta: &kube::api::ObjectMeta) {
        let Some(uid) = meta.uid.as_deref() else {
            return;
        };
        let rv = meta.resource_version.as_deref().unwrap_or_default();
        let mut map = self.map();
        if map.get(uid).is_some_and(|(over, _)| over != rv) {
            map.remove(uid);
        }
    }

    pub fn forget(&self, meta: &kube::api::ObjectMeta) {
        if let Some(uid) = &meta.uid {
            self.map().remove(uid);
        }
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.map().len()
    }
}

impl Context {
    /// A context with the default settings (cluster-wide, nothing trusted beyond the official
    /// API hosts) and caches that are not driven (tests fill them).
    pub fn new(client: Client, metrics: Arc<Metrics>) -> Arc<Self> {
        Self::with(
            client,
            metrics,
            Settings::default(),
            Arc::new(Feeds::default()),
        )
    }

    pub fn with(
        client: Client,
        metrics: Arc<Metrics>,
        config: Settings,
        feeds: Arc<Feeds>,
    ) -> Arc<Self> {
        Self::fenced(client, metrics, config, feeds, leader::Fence::open())
    }

    /// [`Context::with`] for an elected replica: `client` should come from [`fenced_client`]
    /// with the same `fence`.
    pub fn fenced(
        client: Client,
        metrics: Arc<Metrics>,
        config: Settings,
        feeds: Arc<Feeds>,
        fence: leader::Fence,
    ) -> Arc<Self> {
        let reporter = Reporter {
            controller: "perimeter".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        let recorder = events::Events::new(client.clone(), reporter);
        let shares = Arc::new(Shares::new(config.max_concurrent_reconciles));
        // Seven eighths of the controller's slots, running or handed: the rest are free for
        // the policies coming back for their turn (see `pace`).
        let slots = usize::from(config.max_concurrent_reconciles);
        let pace_limit = slots - slots / 8;
        Arc::new(Self {
            client,
            metrics,
            recorder,
            started: std::time::Instant::now(),
            secrets: feeds.secrets.cache(),
            config,
            feeds,
            clients: std::sync::Mutex::new(HashMap::new()),
            connections: crate::http::Connections::new().ok(),
            written: Written::default(),
            attributions: Default::default(),
            hostnames: Hostnames::default(),
            assets: Assets::default(),
            fence,
            shares,
            costs: SyncCosts::default(),
            told: Arc::default(),
            paces: [(); 2].map(|_| Arc::new(pace::Pace::new(pace_limit))),
        })
    }
}

impl Context {
    /// The hand-over of policies of `kind` to their controller (see [`pace`]).
    pub fn pace(&self, kind: &str) -> &Arc<pace::Pace> {
        match kind {
            "FirewallPolicy" => &self.paces[0],
            _ => &self.paces[1],
        }
    }
}

/// A write refused because this replica is not (or no longer surely) the leader.
#[derive(Debug, thiserror::Error)]
#[error("not writing: this replica does not hold the leader Lease (or has not renewed it in time)")]
pub struct NotLeading;

/// A client whose writes (every method but GET and HEAD) fail with [`NotLeading`] while
/// `fence` is closed, checked as each request leaves: reads and watches always pass.
pub fn fenced_client(config: kube::Config, fence: leader::Fence) -> Result<Client, kube::Error> {
    let filter = tower::filter::FilterLayer::new(
        move |req: http::Request<kube::client::Body>| -> Result<_, NotLeading> {
            let read = matches!(*req.method(), http::Method::GET | http::Method::HEAD);
            if read || fence.allows_writes() {
                Ok(req)
            } else {
                Err(NotLeading)
            }
        },
    );
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&filter)
        .build())
}

/// Server-side apply of `.status`, tried again at once (up to 3 tries, 200 ms apart) when the
/// API server answers 409 Conflict: a status is recomputed from the provider only at the next
/// reconcile, so a conflict would otherwise cost a whole backoff and a provider read.
pub async fn apply_status<K>(
    api: &kube::Api<K>,
    name: &str,
    body: &serde_json::Value,
) -> Result<K, kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = kube::api::PatchParams::apply(FIELD_MANAGER).force();
    let mut tries = 0;
    loop {
        tries += 1;
        match api
            .patch_status(name, &params, &kube::api::Patch::Apply(body))
            .await
        {
            Err(kube::Error::Api(s)) if s.code == 409 && tries < 3 => {
                tracing::debug!(%name, tries, "status write conflicted (409); trying again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

/// Runs all controllers until SIGTERM/SIGINT; with `election`, only while this replica holds
/// the leader Lease (an empty namespace there means the client's default namespace). The
/// watch caches run in every replica, so a standby takes over with warm caches.
pub async fn run(
    metrics_addr: SocketAddr,
    election: Option<leader::Config>,
    settings: Settings,
) -> Result<(), String> {
    let kube_config = kube::Config::infer()
        .await
        .map_err(|e| format!("connecting to Kubernetes: {e}"))?;
    // The Lease is written through an unfenced client; everything else through the fenced one.
    let lease_client = Client::try_from(kube_config.clone())
        .map_err(|e| format!("connecting to Kubernetes: {e}"))?;
    let fence = match election {
        Some(_) => leader::Fence::elected(),
        None => leader::Fence::open(),
    };
    let client = fenced_client(kube_config, fence.clone())
        .map_err(|e| format!("connecting to Kubernetes: {e}"))?;
    let metrics = Arc::new(Metrics::new().map_err(|e| e.to_string())?);
    let (addr, _server) = crate::metrics::serve(metrics.clone(), metrics_addr)
        .await
        .map_err(|e| format!("serving metrics on {metrics_addr}: {e}"))?;
    tracing::info!(%addr, scope = ?settings.scope, "serving /metrics, /healthz and /readyz");
    crate::memory::tune();
    tokio::spawn(crate::memory::trim_periodically());
    let shard = settings.shard.clone();
    tracing::info!(
        shard = shard.label(),
        selector = %shard.selector_text(),
        cluster_controllers = shard.cluster_controllers,
        "policies served"
    );
    metrics.set_shard(
        shard.label(),
        &shard.selector_text(),
        shard.cluster_controllers,
    );
    let feeds = Arc::new(Feeds::for_shard(&shard));
    let ctx = Context::fenced(
        client.clone(),
        metrics.clone(),
        settings,
        feeds.clone(),
        fence.clone(),
    );
    // A standby is ready too: it serves its probes and is one Lease away from working.
    metrics.set_ready(true);
    let controllers = {
        let ctx = ctx.clone();
        async move || {
            // Each controller is a task of its own: they run on every core, and one with work
            // ready does not hold the others back (joined in one task, the MonitoringPolicies of
            // a 10,000-policy fleet sometimes began 25 s after the FirewallPolicies). Dropped
            // (the Lease lost), the set aborts them all.
            if !ctx.feeds.listed(LISTED_LIMIT).await {
                tracing::warn!(
                    "not every watch cache has listed after {} s; starting the controllers anyway",
                    LISTED_LIMIT.as_secs()
                );
            }
            let mut tasks = tokio::task::JoinSet::new();
            let c = ctx.clone();
            tasks.spawn(async move {
                run_policies::<FirewallPolicy>(c.clone(), c.feeds.shard_firewalls()).await;
            });
            let c = ctx.clone();
            tasks.spawn(async move {
                run_policies::<MonitoringPolicy>(c.clone(), c.feeds.shard_monitors()).await;
            });
            // One writer per object in the fleet: policies by their shard, the rest by the one
            // shard that runs the cluster-wide controllers.
            if ctx.config.shard.cluster_controllers {
                let c = ctx.clone();
                tasks.spawn(async move { run_accounts(c.clone(), &c.feeds.providers).await });
                let c = ctx.clone();
                tasks.spawn(async move {
                    run_accounts(c.clone(), &c.feeds.cluster_providers).await;
                });
                tasks.spawn(run_address_sets(ctx.clone()));
                tasks.spawn(assessment::run(client.clone(), ctx.clone()));
            }
            while let Some(ended) = tasks.join_next().await {
                // A controller that panicked takes the process down, as it did joined in one
                // task, rather than leaving the others running without it.
                if let Err(e) = ended
                    && e.is_panic()
                {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
    };
    let elected = async {
        match election {
            None => {
                metrics.leader.set(1);
                controllers().await;
                Ok(())
            }
            Some(mut config) => {
                if config.namespace.is_empty() {
                    config.namespace = lease_client.default_namespace().to_string();
                }
                leader::run_elected(lease_client, config, metrics.clone(), fence, controllers).await
            }
        }
    };
    let result = tokio::select! {
        r = elected => r,
        () = feeds.run(&ctx.client, &ctx.config) => Err("the watches stopped".to_string()),
    };
    metrics.set_ready(false);
    tracing::info!("controllers stopped");
    result
}

/// Provider accounts (CloudProviders, ClusterCloudProviders) reconcile on spec changes, on
/// deletion (to drop their client), when their Secret changes (a fixed credential is picked up
/// at once), when a FirewallPolicy naming them changes (its coverage of their assets) and every
/// verify interval.
async fn run_accounts<K: provider::AccountKind>(ctx: Arc<Context>, feed: &Feed<Parsed<K>>) {
    let store = feed.cache().store();
    let forget = ctx.clone();
    let changes = feed.subscribe().inspect(move |c| match c {
        watch::Change::Deleted(p) => account::forget(
            &forget,
            K::PROVIDER_KIND,
            p.meta().namespace.as_deref(),
            &p.name_any(),
        ),
        watch::Change::Applied(p) => forget.written.delivered(p.meta()),
    });
    let triggers = watch::when_changed(changes, spec_or_deletion_key);
    let by_secret = store.clone();
    let by_policy = store.clone();
    let lookup = ctx.clone();
    Controller::for_shared_stream(triggers, store)
        // A FirewallPolicy added, changed or deleted changes which of its account's assets are
        // covered: the account recomputes its coverage from the assets it last read.
        .watches_stream(
            watch::as_watch_results(watch::when_changed(
                ctx.feeds.firewalls.subscribe(),
                spec_or_deletion_key,
            )),
            move |policy: Parsed<FirewallPolicy>| {
                let Some(r) = policy.ok().map(|p| p.spec.controls.provider_ref.clone()) else {
                    return Vec::new();
                };
                if r.kind != K::PROVIDER_KIND {
                    return Vec::new();
                }
                // One lookup, not a scan of every account: at start every policy comes here.
                let account = match K::PROVIDER_KIND {
                    ProviderKind::CloudProvider => {
                        ObjectRef::new(&r.name).within(&policy.namespace().unwrap_or_default())
                    }
                    ProviderKind::ClusterCloudProvider => ObjectRef::new(&r.name),
                };
                by_policy
                    .get(&account)
                    .map(|a| ObjectRef::from_obj(&*a))
                    .into_iter()
                    .collect::<Vec<_>>()
            },
        )
        .watches_stream(
            watch::as_watch_results(watch::any_change(ctx.feeds.secrets.subscribe())),
            move |secret: Secret| {
                let ns = secret.namespace().unwrap_or_default();
                let name = secret.name_any();
                by_secret
                    .state()
                    .into_iter()
                    .filter(|p| {
                        p.ok().is_some_and(|p| {
                            let account = p.account();
                            account.secret_namespace(&lookup) == ns
                                && account
                                    .spec
                                    .credentials
                                    .secret_ref
                                    .as_ref()
                                    .is_some_and(|r| r.name == name)
                        })
                    })
                    .map(|p| ObjectRef::from_obj(&*p))
                    .collect::<Vec<_>>()
            },
        )
        .with_config(controller_config(&ctx.config))
        .shutdown_on_signal()
        .run(provider::reconcile::<K>, provider::error_policy::<K>, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Address sets reconcile on spec changes, when the CloudProvider of their namespace they
/// read changes (spec or readiness), and on their refresh interval.
async fn run_address_sets(ctx: Arc<Context>) {
    let feed = &ctx.feeds.address_sets;
    let store = feed.cache().store();
    let triggers = watch::when_changed(feed.subscribe(), spec_or_deletion_key);
    let by_provider = store.clone();
    Controller::for_shared_stream(triggers, store)
        .watches_stream(
            watch::as_watch_results(watch::when_changed(
                ctx.feeds.providers.subscribe(),
                spec_or_readiness_key,
            )),
            move |p: Parsed<CloudProvider>| {
                let ns = p.namespace().unwrap_or_default();
                let name = p.name_any();
                by_provider
                    .state()
                    .into_iter()
                    .filter(|s| {
                        s.meta().namespace.as_deref() == Some(ns.as_str())
                            && s.ok().is_some_and(|s| {
                                s.spec
                                    .source
                                    .as_ref()
                                    .and_then(|src| src.provider_ref())
                                    .is_some_and(|r| r.name == name)
                            })
                    })
                    .map(|s| ObjectRef::from_obj(&*s))
                    .collect::<Vec<_>>()
            },
        )
        .with_config(controller_config(&ctx.config))
        .shutdown_on_signal()
        .run(addressset::reconcile, addressset::error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// What of an address set its users depend on: its addresses (digest) and readiness.
fn set_content_key(s: &Parsed<AddressSet>) -> (Option<String>, bool, bool) {
    let status = s.ok().and_then(|s| s.status.as_ref());
    (
        status.and_then(|st| st.digest.clone()),
        status.is_some_and(|st| {
            st.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        }),
        s.meta().deletion_timestamp.is_some(),
    )
}

/// Policies reconcile on spec changes (not on their own status writes), on deletion, when
/// their provider account's spec changes or it stops being Ready, when it becomes Ready (the
/// policies not Ready then and not waiting for the account's rate limit: see [`users`]), when
/// an address set they name changes (its addresses or readiness), when their turn for their
/// account's share or rate limit comes ([`Shares`]), and on their sync interval.
async fn run_policies<K: PolicyKind>(ctx: Arc<Context>, feed: &Feed<Parsed<K>>) {
    let store = feed.cache().store();
    let forget = ctx.clone();
    let changes = feed.subscribe().inspect(move |c| match c {
        watch::Change::Deleted(p) => policy::forget(p, &forget),
        watch::Change::Applied(p) => forget.written.delivered(p.meta()),
    });
    // Policies whose turn in their account's share came (see `Shares`), as they are now.
    let waiting = store.clone();
    let woken = ctx.shares.wakes(K::KIND).filter_map(move |(_, ns, name)| {
        let policy = waiting.get(&ObjectRef::new(&name).within(&ns));
        futures::future::ready(policy)
    });
    // A policy's own changes (its first list included) are handed over a few at a time, in
    // turn by account (see `pace`); every policy listed waits there from the start, so that
    // the accounts' first triggers below (each account is "changed" when first seen) skip them.
    let pace = ctx.pace(K::KIND).clone();
    pace.clear();
    for policy in store.state() {
        pace.add(&policy);
    }
    let own = pace::paced(
        pace.clone(),
        watch::when_changed(changes, spec_or_deletion_key),
        store.clone(),
    );
    let triggers = futures::stream::select(own, woken);
    let held = [(); 5].map(|_| pace.clone());
    let [held_set, held_p, held_pr, held_c, held_cr] = held;
    let (by_provider, by_cluster_provider) = (store.clone(), store.clone());
    let (by_provider_ready, by_cluster_provider_ready) = (store.clone(), store.clone());
    let (ready_ctx, cluster_ready_ctx) = (ctx.clone(), ctx.clone());
    let by_set = store.clone();
    Controller::for_shared_stream(triggers, store)
        .watches_stream(
            watch::as_watch_results(watch::when_changed(
                ctx.feeds.address_sets.subscribe(),
                set_content_key,
            )),
            move |s: Parsed<AddressSet>| {
                let ns = s.namespace().unwrap_or_default();
                let name = s.name_any();
                by_set
                    .state()
                    .into_iter()
                    .filter(|pol| {
                        pol.meta().namespace.as_deref() == Some(ns.as_str())
                            && pol
                                .ok()
                                .is_some_and(|p| policy::address_set_names(p).contains(&name))
                            && !held_set.holds(&ns, pol.meta().name.as_deref().unwrap_or_default())
                    })
                    .map(|pol| ObjectRef::from_obj(&*pol))
                    .collect::<Vec<_>>()
            },
        )
        .watches_stream(
            watch::as_watch_results(watch::when_changed(
                ctx.feeds.providers.subscribe(),
                spec_or_deletion_key,
            )),
            move |p: Parsed<CloudProvider>| {
                let ns = p.namespace().unwrap_or_default();
                let name = p.name_any();
                users(&by_provider, &held_p, None, |pol, pol_ns| {
                    pol.kind == ProviderKind::CloudProvider && pol.name == name && pol_ns == ns
                })
            },
        )
        .watches_stream(
            watch::as_watch_results(watch::when_changed(
                ctx.feeds.providers.subscribe(),
                provider::is_ready,
            )),
            move |p: Parsed<CloudProvider>| {
                let ns = p.namespace().unwrap_or_default();
                let name = p.name_any();
                let unless =
                    provider::is_ready(&p).then_some((&ready_ctx.written, &*ready_ctx.told));
                users(&by_provider_ready, &held_pr, unless, |pol, pol_ns| {
                    pol.kind == ProviderKind::CloudProvider && pol.name == name && pol_ns == ns
                })
            },
        )
        .watches_stream(
            watch::as_watch_results(watch::when_changed(
                ctx.feeds.cluster_providers.subscribe(),
                spec_or_deletion_key,
            )),
            move |p: Parsed<ClusterCloudProvider>| {
                let name = p.name_any();
                users(&by_cluster_provider, &held_c, None, |pol, _| {
                    pol.kind == ProviderKind::ClusterCloudProvider && pol.name == name
                })
            },
        )
        .watches_stream(
            watch::as_watch_results(watch::when_changed(
                ctx.feeds.cluster_providers.subscribe(),
                provider::is_ready,
            )),
            move |p: Parsed<ClusterCloudProvider>| {
                let name = p.name_any();
                let unless = provider::is_ready(&p)
                    .then_some((&cluster_ready_ctx.written, &*cluster_ready_ctx.told));
                users(&by_cluster_provider_ready, &held_cr, unless, |pol, _| {
                    pol.kind == ProviderKind::ClusterCloudProvider && pol.name == name
                })
            },
        )
        .with_config(controller_config(&ctx.config))
        .shutdown_on_signal()
        .run(policy::reconcile::<K>, policy::error_policy::<K>, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// The policies of `store` whose provider `matches`, but for those `held` for their turn (their
/// reconcile is coming: see [`pace`]); with `unless_ready` (an account turned
/// Ready), not those a sync left Ready (see [`policy::is_ready`]) nor those told to come back
/// for the account's rate limit ([`Told`]), which will anyway: at start-up every account
/// turns Ready while its policies are first reconciled, and a second reconcile of each a
/// moment later only put it back in the queue again.
fn users<K: PolicyKind>(
    store: &Store<Parsed<K>>,
    held: &pace::Pace,
    unless_ready: Option<(&Written, &Told)>,
    matches: impl Fn(&crate::api::ProviderRef, &str) -> bool,
) -> Vec<ObjectRef<Parsed<K>>> {
    store
        .state()
        .into_iter()
        .filter(|pol| {
            pol.ok().is_some_and(|p| {
                matches(
                    &p.controls().provider_ref,
                    p.meta().namespace.as_deref().unwrap_or_default(),
                ) && !unless_ready.is_some_and(|(written, told)| {
                    policy::is_ready(p, written)
                        || told.was(p.meta().uid.as_deref().unwrap_or_default())
                }) && !held.holds(
                    p.meta().namespace.as_deref().unwrap_or_default(),
                    p.meta().name.as_deref().unwrap_or_default(),
                )
            })
        })
        .map(|pol| ObjectRef::from_obj(&*pol))
        .collect()
}

/// A new generation (spec), the start of deletion, or the admin's cleanup skip.
fn spec_or_deletion_key<K: Resource>(obj: &K) -> (i64, bool, bool) {
    let meta = obj.meta();
    (
        meta.generation.unwrap_or(0),
        meta.deletion_timestamp.is_some(),
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(SKIP_CLEANUP_ANNOTATION))
            .is_some_and(|v| v == "skip"),
    )
}

/// A new spec or a flip of `Ready` (an account's status write matters only then).
fn spec_or_readiness_key<K: provider::AccountKind>(p: &Parsed<K>) -> (i64, bool, bool) {
    (
        p.meta().generation.unwrap_or(0),
        p.meta().deletion_timestamp.is_some(),
        provider::is_ready(p),
    )
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
        InvalidSpec | ProviderNotSupported | ProviderMismatch | Forbidden => 600,
        CredentialsMissing | CredentialsRejected | ProviderNotFound => 120,
        _ => 30,
    };
    Action::requeue(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A policy woken for its turn on its account's rate limit is reconciled when woken, and
    /// only if it is still waiting then.
    #[tokio::test(start_paused = true)]
    async fn a_policy_is_woken_for_its_turn_only_while_it_waits() {
        let shares = Arc::new(Shares::new(64));
        let mut woken = shares.wakes("FirewallPolicy");
        let waiter = |name: &str| ("FirewallPolicy", "team".to_string(), name.to_string());
        let told = Arc::new(Told::default());
        told.tell("uid-a");
        let still = |uid: &'static str| {
            let told = told.clone();
            move || told.was(uid)
        };
        shares.wake_after(waiter("a"), Duration::from_secs(2), still("uid-a"));
        shares.wake_after(waiter("b"), Duration::ZERO, still("uid-b"));
        shares.wake_after(waiter("c"), Duration::from_secs(1), still("uid-c"));
        tokio::time::sleep(Duration::from_millis(1990)).await;
        assert!(
            woken.try_recv().is_err(),
            "nothing yet: b and c are not waiting, a's time has not come"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(woken.try_recv().ok(), Some(waiter("a")));
        told.forget("uid-a");
        shares.wake_after(waiter("a"), Duration::from_secs(1), still("uid-a"));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            woken.try_recv().is_err(),
            "a took its calls: a second wake is dropped"
        );
    }

    /// The controllers start once every cache has listed, and not before (bounded).
    #[tokio::test]
    async fn feeds_are_listed_only_when_every_cache_has_listed() {
        let all = Feeds {
            secrets: Feed::filled([]),
            providers: Feed::filled([]),
            cluster_providers: Feed::filled([]),
            firewalls: Feed::filled([]),
            monitors: Feed::filled([]),
            address_sets: Feed::filled([]),
            own_firewalls: None,
            own_monitors: None,
        };
        assert!(all.listed(Duration::from_secs(5)).await);
        let one_missing = Feeds {
            own_monitors: Some(Feed::new()),
            ..all
        };
        assert!(!one_missing.listed(Duration::from_millis(100)).await);
    }

    /// An object's metadata as the watch brings it: its uid and resourceVersion.
    fn version(uid: &str, rv: &str) -> kube::api::ObjectMeta {
        kube::api::ObjectMeta {
            uid: Some(uid.into()),
            resource_version: Some(rv.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_written_status_is_kept_until_the_watch_delivers_a_later_version() {
        let meta = |rv: &str| version("u1", rv);
        let written = Written::default();
        written.remember(&meta("5"), &serde_json::json!({"driftCount": 3}));
        let again: Option<serde_json::Value> = written.over(&meta("5"));
        assert_eq!(again, Some(serde_json::json!({"driftCount": 3})));
        assert_eq!(written.held(), 1, "kept while the watch may still lag");
        let later: Option<serde_json::Value> = written.over(&meta("6"));
        assert_eq!(later, None);
        assert_eq!(written.held(), 0, "the object carries the write now");
        let stale: Option<serde_json::Value> = written.over(&meta("5"));
        assert_eq!(stale, None);
    }

    /// The watch bringing the version written over keeps the entry (that is not the write
    /// yet); bringing any other version drops it, without waiting for a reconcile.
    #[test]
    fn a_written_status_goes_when_the_watch_brings_another_version() {
        let meta = |rv: &str| version("u1", rv);
        let written = Written::default();
        written.remember(&meta("5"), &serde_json::json!({"driftCount": 3}));
        written.delivered(&meta("5"));
        assert_eq!(
            written.held(),
            1,
            "the version written over is not the write"
        );
        written.delivered(&version("u2", "9"));
        assert_eq!(
            written.held(),
            1,
            "another object's version changes nothing"
        );
        written.delivered(&meta("6"));
        assert_eq!(
            written.held(),
            0,
            "the write (or a later one) is in the cache"
        );
    }

    #[test]
    fn max_concurrent_reconciles_is_a_whole_number_from_one() {
        assert_eq!(parse_max_concurrent_reconciles("32"), Ok(32));
        assert_eq!(parse_max_concurrent_reconciles(" 1 "), Ok(1));
        assert_eq!(parse_max_concurrent_reconciles("65535"), Ok(65535));
        let zero = parse_max_concurrent_reconciles("0").unwrap_err();
        assert!(zero.contains("at least 1"), "{zero}");
        for bad in ["", "-1", "65536", "4.5", "many"] {
            let e = parse_max_concurrent_reconciles(bad).unwrap_err();
            assert!(e.contains("1 to 65535"), "{bad}: {e}");
        }
    }

    fn account(name: &str) -> AccountKey {
        (ProviderKind::CloudProvider, "team".into(), name.into())
    }

    /// An account's syncs' costs are learned apart for syncs that wrote and those that did
    /// not, and from one account only.
    #[test]
    fn an_accounts_sync_costs_follow_what_its_syncs_sent() {
        let costs = SyncCosts::default();
        let a = (
            ProviderKind::CloudProvider,
            "team".to_string(),
            "a".to_string(),
        );
        let b = (
            ProviderKind::CloudProvider,
            "team".to_string(),
            "b".to_string(),
        );
        assert_eq!(costs.of(&a), Cost::default());
        // A writing sync of two reads that sent 14 calls: 7 a read; halfway from 3.
        costs.learn(a.clone(), true, 2, 14);
        assert_eq!(costs.of(&a).writing, 5.0);
        assert_eq!(costs.of(&a).reading, 1.0, "reading syncs are apart");
        costs.learn(a.clone(), true, 2, 14);
        assert_eq!(costs.of(&a).writing, 6.0);
        // Reading syncs answered from shared reads send less than a call a read.
        costs.learn(a.clone(), false, 2, 0);
        assert_eq!(costs.of(&a).reading, 0.5);
        assert_eq!(costs.of(&b), Cost::default(), "another account's own");
    }

    /// An account's policies take a sixteenth of the slots (at least one); a finished reconcile
    /// gives its slot back, and another account is never held up by a busy one.
    #[test]
    fn an_account_takes_at_most_its_share_of_the_slots() {
        assert_eq!(Shares::new(1).per_account(), 1);
        assert_eq!(Shares::new(31).per_account(), 1);
        assert_eq!(Shares::new(32).per_account(), 2);
        assert_eq!(Shares::new(256).per_account(), 16);
        let shares = Arc::new(Shares::new(32));
        let p = |name: &str| ("FirewallPolicy", "team".to_string(), name.to_string());
        let first = shares.take(account("a"), p("1")).expect("a's first");
        let second = shares.take(account("a"), p("2")).expect("a's second");
        assert!(
            shares.take(account("a"), p("3")).is_none(),
            "a's share is 2 of 32"
        );
        let other = shares
            .take(account("b"), p("b"))
            .expect("b is not held up by a");
        let cluster_wide = (
            ProviderKind::ClusterCloudProvider,
            String::new(),
            "a".into(),
        );
        let _cluster = shares
            .take(cluster_wide, p("c"))
            .expect("a different account");
        drop(first);
        let third = shares
            .take(account("a"), p("3"))
            .expect("a slot given back");
        assert!(shares.take(account("a"), p("4")).is_none());
        drop((second, third, other));
        assert!(
            shares
                .running
                .lock()
                .expect("lock")
                .keys()
                .all(|k| k.0 == ProviderKind::ClusterCloudProvider),
            "idle accounts are forgotten"
        );
    }

    /// A policy that found its account's share in use is woken when one of the account's
    /// reconciles ends, first come first woken, once however often it retried; its own kind's
    /// controller is told.
    #[test]
    fn a_policy_waiting_for_its_accounts_share_is_woken_in_turn() {
        let shares = Arc::new(Shares::new(16));
        let mut firewalls = shares.wakes("FirewallPolicy");
        let mut monitors = shares.wakes("MonitoringPolicy");
        let fw = |name: &str| ("FirewallPolicy", "team".to_string(), name.to_string());
        let mon = |name: &str| ("MonitoringPolicy", "team".to_string(), name.to_string());
        let running = shares.take(account("a"), fw("0")).expect("a's one");
        assert!(shares.take(account("a"), fw("1")).is_none());
        assert!(shares.take(account("a"), mon("2")).is_none());
        assert!(
            shares.take(account("a"), fw("1")).is_none(),
            "retried: still once"
        );
        assert!(shares.take(account("a"), fw("3")).is_none());
        assert!(firewalls.try_recv().is_err(), "nobody woken yet");
        drop(running);
        assert_eq!(
            firewalls.try_recv().ok(),
            Some(fw("1")),
            "the first to wait"
        );
        // fw-1 runs; its turn over, mon-2 is next.
        let one = shares.take(account("a"), fw("1")).expect("fw-1's turn");
        drop(one);
        assert_eq!(monitors.try_recv().ok(), Some(mon("2")));
        assert!(firewalls.try_recv().is_err());
        // fw-3 came back on its own retry before its turn: it leaves the queue.
        let three = shares.take(account("a"), fw("3")).expect("free");
        let two = shares.take(account("a"), mon("2"));
        assert!(two.is_none());
        drop(three);
        assert_eq!(monitors.try_recv().ok(), Some(mon("2")));
        assert!(firewalls.try_recv().is_err(), "fw-3 was not woken again");
    }

    /// An account turning Ready re-syncs its policies a sync has not left Ready at their
    /// generation (by the stored status, or the one this process wrote over the stored
    /// version while the watch has not brought it back); any other change of the account
    /// re-syncs them all; another account's policies are never named.
    #[test]
    fn an_account_turning_ready_names_only_its_policies_not_ready() {
        let policy = |name: &str, account: &str, generation: i64, ready: Option<(i64, &str)>| {
            let mut p: FirewallPolicy = serde_json::from_value(serde_json::json!({
                "apiVersion": "perimeter.dev/v1alpha1",
                "kind": "FirewallPolicy",
                "metadata": {"name": name, "namespace": "team", "uid": format!("uid-{name}"),
                             "resourceVersion": "7", "generation": generation},
                "spec": {"providerRef": {"name": account}, "mode": "Observe",
                         "cloudflare": {"zoneId": format!("zone-{name}")}},
            }))
            .expect("policy");
            if let Some((observed, status)) = ready {
                p.status = serde_json::from_value(serde_json::json!({
                    "observedGeneration": observed,
                    "conditions": [{"type": "Ready", "status": status, "reason": "x",
                                    "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                }))
                .expect("status");
            }
            p
        };
        let store = crate::controller::watch::Feed::filled(
            [
                policy("synced", "a", 2, Some((2, "True"))),
                policy("failed", "a", 2, Some((2, "False"))),
                policy("edited", "a", 3, Some((2, "True"))),
                policy("new", "a", 1, None),
                policy("written", "a", 1, Some((1, "False"))),
                policy("elsewhere", "b", 1, None),
            ]
            .into_iter()
            .map(|p| Parsed(Ok(p))),
        )
        .cache()
        .store();
        let written = Written::default();
        let ready_now: crate::api::PolicyStatus = serde_json::from_value(serde_json::json!({
            "observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "True", "reason": "Synced",
                            "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        }))
        .expect("status");
        written.remember(
            &kube::api::ObjectMeta {
                uid: Some("uid-written".into()),
                resource_version: Some("7".into()),
                ..Default::default()
            },
            &ready_now,
        );
        let of_a = |p: &crate::api::ProviderRef, ns: &str| {
            p.kind == ProviderKind::CloudProvider && p.name == "a" && ns == "team"
        };
        let names = |refs: Vec<ObjectRef<Parsed<FirewallPolicy>>>| {
            let mut n: Vec<String> = refs.into_iter().map(|r| r.name).collect();
            n.sort();
            n
        };
        let told = Told::default();
        let held = pace::Pace::new(8);
        assert_eq!(
            names(users(&store, &held, Some((&written, &told)), of_a)),
            ["edited", "failed", "new"],
            "turned Ready: only what a sync did not leave Ready"
        );
        told.tell("uid-new");
        assert_eq!(
            names(users(&store, &held, Some((&written, &told)), of_a)),
            ["edited", "failed"],
            "nor a policy told to come back for the account's rate limit"
        );
        assert_eq!(
            names(users(&store, &held, None, of_a)),
            ["edited", "failed", "new", "synced", "written"],
            "any other change: every policy of the account"
        );
        held.add(
            &*store
                .get(&ObjectRef::new("synced").within("team"))
                .expect("cached"),
        );
        assert_eq!(
            names(users(&store, &held, None, of_a)),
            ["edited", "failed", "new", "written"],
            "but not one waiting to be handed to the controller: its reconcile is coming"
        );
    }
}
