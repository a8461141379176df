//! `CloudProvider` and `ClusterCloudProvider` reconcile: the admin's rules, the Secret, the
//! client, a verify call, and `Ready`.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, CustomResourceExt, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::account::{Account, client_for};
use super::guard::{Invalid, Parsed};
use super::{Context, backoff_for, measured};
use crate::api::{CloudProvider, CloudProviderStatus, ClusterCloudProvider, ProviderKind};
use crate::core::hostnames::Served;
use crate::error::Error;

/// Re-verify credentials this often even when nothing changed (tokens expire).
const VERIFY_INTERVAL: Duration = Duration::from_secs(600);

/// How soon a monitoring account looks again while the accounts it speaks for have not had
/// their first inventory read (after a start, every account is read within a few reconciles).
const PENDING_INTERVAL: Duration = Duration::from_secs(30);

/// What the reconcile needs of an account kind.
pub trait AccountKind:
    Resource<DynamicType = ()>
    + CustomResourceExt
    + Clone
    + std::fmt::Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
    const PROVIDER_KIND: ProviderKind;
    fn account(&self) -> Account<'_>;
    fn status(&self) -> Option<&CloudProviderStatus>;
    /// Whether a policy in `namespace` may use the account (its own namespace for a
    /// `CloudProvider`, the namespaces it is shared with for a `ClusterCloudProvider`).
    fn shared_with(&self, namespace: &str) -> bool;
    /// Writes go through [`Parsed`]: the answer to a write may be an object the types refuse.
    fn api(client: kube::Client, namespace: Option<&str>) -> Api<Parsed<Self>>;
}

impl AccountKind for CloudProvider {
    const KIND: &'static str = "CloudProvider";
    const PROVIDER_KIND: ProviderKind = ProviderKind::CloudProvider;
    fn account(&self) -> Account<'_> {
        Account::namespaced(self)
    }
    fn status(&self) -> Option<&CloudProviderStatus> {
        self.status.as_ref()
    }
    fn shared_with(&self, namespace: &str) -> bool {
        self.metadata.namespace.as_deref() == Some(namespace)
    }
    fn api(client: kube::Client, namespace: Option<&str>) -> Api<Parsed<Self>> {
        Api::namespaced(client, namespace.unwrap_or_default())
    }
}

impl AccountKind for ClusterCloudProvider {
    const KIND: &'static str = "ClusterCloudProvider";
    const PROVIDER_KIND: ProviderKind = ProviderKind::ClusterCloudProvider;
    fn account(&self) -> Account<'_> {
        Account::cluster(self)
    }
    fn status(&self) -> Option<&CloudProviderStatus> {
        self.status.as_ref()
    }
    fn shared_with(&self, namespace: &str) -> bool {
        self.spec.shared_with(namespace)
    }
    fn api(client: kube::Client, _namespace: Option<&str>) -> Api<Parsed<Self>> {
        Api::all(client)
    }
}

/// Whether an account's `Ready` condition is True (policies re-sync when it flips).
pub fn is_ready<K: AccountKind>(p: &Parsed<K>) -> bool {
    match &p.0 {
        Ok(k) => k
            .status()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True"),
        Err(invalid) => {
            invalid
                .status
                .as_ref()
                .and_then(|s| s.get("conditions"))
                .and_then(|c| c.as_array())
                .and_then(|c| {
                    c.iter()
                        .find(|c| c.get("type").and_then(|t| t.as_str()) == Some("Ready"))
                })
                .and_then(|c| c.get("status"))
                .and_then(|s| s.as_str())
                == Some("True")
        }
    }
}

pub async fn reconcile<K: AccountKind>(
    p: Arc<Parsed<K>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    // Every log line of the reconcile, provider HTTP calls included, carries the account.
    let span = tracing::info_span!(
        "reconcile",
        kind = K::KIND,
        namespace = p.meta().namespace.as_deref().unwrap_or_default(),
        name = p.meta().name.as_deref().unwrap_or_default(),
        provider = p
            .ok()
            .map_or("unknown", |a| a.account().spec.provider_type.as_str()),
    );
    tracing::Instrument::instrument(reconcile_parsed(p, ctx), span).await
}

async fn reconcile_parsed<K: AccountKind>(
    p: Arc<Parsed<K>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    match &p.0 {
        Ok(obj) => measured(&ctx.metrics, K::KIND, reconcile_inner(obj, &ctx)).await,
        Err(invalid) => {
            measured(&ctx.metrics, K::KIND, async {
                report_invalid::<K>(invalid, &ctx).await?;
                Ok(Action::await_change())
            })
            .await
        }
    }
}

async fn reconcile_inner<K: AccountKind>(p: &K, ctx: &Context) -> Result<Action, Error> {
    let account = p.account();
    let ns = account.namespace.unwrap_or_default().to_string();
    let name = account.name.to_string();
    let (outcome, client) = match client_for(ctx, &account).await {
        Ok(client) => (client.verify().await.map_err(Error::from), Some(client)),
        Err(e) => (Err(e), None),
    };
    ctx.metrics
        .record_provider_up(account.spec.provider_type, &ns, &name, outcome.is_ok());
    let (status, reason, message) = match &outcome {
        Ok(msg) => ("True", "Ready", msg.clone()),
        Err(e) => ("False", e.category().reason(), e.to_string()),
    };
    let written: Option<CloudProviderStatus> = ctx.written.over(p.meta());
    let current = written.as_ref().or(p.status());
    let previous = current
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .cloned();
    let observed = current.and_then(|s| s.observed_generation);
    let previous_inventory = current.and_then(|s| s.inventory.clone());
    let inventory = match (&outcome, client) {
        (Ok(_), Some(client))
            if crate::inventory::due(
                previous_inventory.as_ref(),
                observed != p.meta().generation,
                jiff::Timestamp::now(),
                VERIFY_INTERVAL,
            ) =>
        {
            match inventory_of(p, ctx, client.as_ref()).await {
                Some(read) => {
                    ctx.metrics.record_inventory(
                        account.spec.provider_type.as_str(),
                        &ns,
                        &name,
                        read.as_ref(),
                    );
                    read
                }
                None => previous_inventory.clone(),
            }
        }
        (Ok(_), _) => match recomputed(p, ctx, previous_inventory.as_ref()) {
            Some(now) if Some(&now) != previous_inventory.as_ref() => {
                ctx.metrics.record_inventory(
                    account.spec.provider_type.as_str(),
                    &ns,
                    &name,
                    Some(&now),
                );
                Some(now)
            }
            _ => previous_inventory.clone(),
        },
        // Not ready: the last inventory stays in status with its time, but no series claims
        // a coverage that cannot be checked now, and no monitoring account counts its
        // hostnames as known.
        (Err(e), _) => {
            ctx.metrics
                .record_inventory(account.spec.provider_type.as_str(), &ns, &name, None);
            ctx.hostnames.record(
                (account.kind, ns.clone(), name.clone()),
                account.uid,
                Served::Failed(e.category().reason().to_string()),
            );
            previous_inventory.clone()
        }
    };
    let pending = inventory
        .as_ref()
        .is_some_and(|i| i.reason.as_deref() == Some(crate::inventory::PENDING));
    let ready = Ready {
        previous,
        observed_generation: observed,
        status,
        reason,
        message: &message,
    };
    write_ready::<K>(ctx, p.meta(), ready, previous_inventory.as_ref(), inventory).await?;
    match outcome {
        Ok(_) if pending => Ok(Action::requeue(PENDING_INTERVAL)),
        Ok(_) => Ok(Action::requeue(VERIFY_INTERVAL)),
        Err(e) => {
            tracing::info!(kind = K::KIND, namespace = %ns, name = %name, reason = e.category().reason(), error = %e, "provider account not ready");
            // Returned so it is counted by category; `error_policy` backs off by category.
            Err(e)
        }
    }
}

/// An account object that does not parse: `Ready=False/InvalidSpec` naming the field.
async fn report_invalid<K: AccountKind>(invalid: &Invalid, ctx: &Context) -> Result<(), Error> {
    let status: Option<CloudProviderStatus> = ctx.written.over(&invalid.metadata).or_else(|| {
        invalid
            .status
            .clone()
            .and_then(|s| serde_json::from_value(s).ok())
    });
    let previous = status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .cloned();
    let observed = status.and_then(|s| s.observed_generation);
    tracing::warn!(kind = K::KIND, namespace = ?invalid.metadata.namespace, name = ?invalid.metadata.name, field = %invalid.field, "stored object does not parse");
    let message = invalid.message();
    let ready = Ready {
        previous,
        observed_generation: observed,
        status: "False",
        reason: crate::error::Category::InvalidSpec.reason(),
        message: &message,
    };
    write_ready::<K>(ctx, &invalid.metadata, ready, None, None).await
}

/// The account's inventory with the coverage of the policies that may use it, from the watch
/// cache (a policy that does not parse covers nothing); `None` when it cannot be judged yet.
async fn inventory_of<K: AccountKind>(
    p: &K,
    ctx: &Context,
    client: &dyn crate::providers::Provider,
) -> Option<Option<crate::api::InventoryStatus>> {
    let account = p.account();
    // Before the policies' cache has its first list every asset would read as uncovered.
    if !ctx
        .feeds
        .firewalls
        .cache()
        .listed(super::LISTED_LIMIT)
        .await
    {
        tracing::warn!("the FirewallPolicy cache is not ready: the inventory is left for later");
        return None;
    }
    let read = client.inventory().await;
    let key = (
        account.kind,
        account.namespace.unwrap_or_default().to_string(),
        account.name.to_string(),
    );
    if let Ok(Some(assets)) = &read {
        ctx.assets.record(key.clone(), account.uid, assets.clone());
    }
    ctx.hostnames
        .record(key, account.uid, crate::inventory::served(&read));
    let monitored = client.monitored_hosts().await;
    if !matches!(monitored, Ok(None)) {
        let hostnames = hostnames_for::<K>(p, ctx).await?;
        return Some(crate::inventory::hostname_status(
            monitored,
            hostnames,
            crate::compliance::rfc3339(jiff::Timestamp::now()),
        ));
    }
    Some(coverage_of(
        p,
        ctx,
        read,
        crate::compliance::rfc3339(jiff::Timestamp::now()),
    ))
}

/// The account's `status.inventory` from `read` and the FirewallPolicies in the watch cache
/// that may use it (a policy that does not parse covers nothing).
fn coverage_of<K: AccountKind>(
    p: &K,
    ctx: &Context,
    read: Result<Option<Vec<crate::core::inventory::Asset>>, crate::error::ProviderError>,
    observed_at: String,
) -> Option<crate::api::InventoryStatus> {
    let account = p.account();
    let shared_with = |ns: &str| p.shared_with(ns);
    let account_ref = crate::inventory::AccountRef {
        kind: K::PROVIDER_KIND,
        namespace: account.namespace.unwrap_or_default(),
        name: account.name,
        shared_with: &shared_with,
    };
    let firewalls = ctx.feeds.firewalls.cache().state();
    let parsed = firewalls.iter().filter_map(|f| f.ok());
    let policies = crate::inventory::policies_of(&account_ref, parsed);
    crate::inventory::status(account.spec.provider_type, read, &policies, observed_at)
}

/// The coverage of the assets this process last read for the account, against the policies
/// as they are now: a FirewallPolicy change is reflected at once, without reading the provider
/// again. `None` when nothing was read (by this process, for this object) or the account's
/// inventory is not a plain asset list (a monitoring account's hostnames follow their own
/// sources); its time stays the read's, so the next read is due when it was.
fn recomputed<K: AccountKind>(
    p: &K,
    ctx: &Context,
    previous: Option<&crate::api::InventoryStatus>,
) -> Option<crate::api::InventoryStatus> {
    let previous = previous.filter(|i| i.read())?;
    let observed_at = previous.observed_at.clone()?;
    let account = p.account();
    let key = (
        account.kind,
        account.namespace.unwrap_or_default().to_string(),
        account.name.to_string(),
    );
    let assets = ctx.assets.of(&key, account.uid)?;
    let recomputed = coverage_of(p, ctx, Ok(Some(assets.to_vec())), observed_at)?;
    // Only a count of the same assets is recomputed: a status the hostname rules wrote (its
    // kinds are not this read's) is left to them.
    (recomputed.total == previous.total).then_some(recomputed)
}

/// The public hostnames of the accounts a monitoring account speaks for, from the accounts'
/// watch caches and their last inventory reads ([`crate::core::hostnames`] has the rules);
/// `None` while the accounts' caches have not listed once (every hostname would be missing).
async fn hostnames_for<K: AccountKind>(
    p: &K,
    ctx: &Context,
) -> Option<Result<Vec<crate::core::inventory::Asset>, crate::core::hostnames::Unknown>> {
    use crate::core::hostnames::Owner;
    let me = p.account();
    let namespaced = ctx.feeds.providers.cache();
    let cluster = ctx.feeds.cluster_providers.cache();
    if !(namespaced.listed(super::LISTED_LIMIT).await && cluster.listed(super::LISTED_LIMIT).await)
    {
        tracing::warn!("the account caches are not ready: the hostnames are left for later");
        return None;
    }
    type Shared<'a> = Box<dyn Fn(&str) -> bool + Sync + 'a>;
    let namespaced = namespaced.state();
    let cluster = cluster.state();
    // An account that does not parse has no inventory and says nothing of hostnames; its own
    // status says why.
    let accounts: Vec<(Account<'_>, Shared<'_>)> = namespaced
        .iter()
        .filter_map(|a| a.ok())
        .map(|a| (a.account(), Box::new(|_: &str| false) as Shared<'_>))
        .chain(cluster.iter().filter_map(|a| a.ok()).map(|a| {
            let shared: Shared<'_> = Box::new(move |ns: &str| a.spec.shared_with(ns));
            (a.account(), shared)
        }))
        .filter(|(a, _)| a.uid != me.uid)
        .collect();
    let peers = accounts
        .iter()
        .map(|(a, shared)| {
            let ns = a.namespace.unwrap_or_default();
            crate::inventory::Peer {
                owner: match a.kind {
                    ProviderKind::CloudProvider => Owner::Namespace(ns),
                    ProviderKind::ClusterCloudProvider => Owner::Cluster(shared.as_ref()),
                },
                provider_type: a.spec.provider_type,
                account: if ns.is_empty() {
                    a.name.to_string()
                } else {
                    format!("{ns}/{}", a.name)
                },
                served: ctx
                    .hostnames
                    .of(&(a.kind, ns.to_string(), a.name.to_string()), a.uid),
            }
        })
        .collect();
    let never = |_: &str| false;
    let owner = match me.kind {
        ProviderKind::CloudProvider => Owner::Namespace(me.namespace.unwrap_or_default()),
        ProviderKind::ClusterCloudProvider => Owner::Cluster(&never),
    };
    let sources = crate::inventory::sources_for(owner, peers);
    Some(crate::core::hostnames::hostname_assets(&sources))
}

/// The `Ready` condition to write, and what it was.
struct Ready<'a> {
    previous: Option<Condition>,
    observed_generation: Option<i64>,
    status: &'a str,
    reason: &'a str,
    message: &'a str,
}

/// Writes `Ready` and the inventory when either changed (server-side apply: both in one
/// write, so neither drops the other), with an Event on a transition of `Ready`.
async fn write_ready<K: AccountKind>(
    ctx: &Context,
    meta: &kube::api::ObjectMeta,
    ready: Ready<'_>,
    previous_inventory: Option<&crate::api::InventoryStatus>,
    inventory: Option<crate::api::InventoryStatus>,
) -> Result<(), Error> {
    let Ready {
        previous,
        observed_generation,
        status,
        reason,
        message,
    } = ready;
    let transition = previous
        .as_ref()
        .is_none_or(|c| c.status != status || c.reason != reason);
    let unchanged = previous
        .as_ref()
        .is_some_and(|c| c.status == status && c.reason == reason && c.message == message)
        && observed_generation == meta.generation
        && previous_inventory == inventory.as_ref();
    let name = meta.name.clone().unwrap_or_default();
    if !unchanged {
        let now = Time(jiff::Timestamp::now());
        let condition = Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: reason.into(),
            message: message.to_string(),
            observed_generation: meta.generation,
            last_transition_time: if transition {
                now
            } else {
                previous.map(|c| c.last_transition_time).unwrap_or(now)
            },
        };
        let new = CloudProviderStatus {
            observed_generation: meta.generation,
            conditions: vec![condition],
            inventory,
        };
        let body = json!({
            "apiVersion": K::api_resource().api_version,
            "kind": K::KIND,
            "status": new,
        });
        super::apply_status(
            &K::api(ctx.client.clone(), meta.namespace.as_deref()),
            &name,
            &body,
        )
        .await?;
        ctx.written.remember(meta, &new);
    }
    if transition {
        let event = Event {
            type_: if status == "True" {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: reason.to_string(),
            note: Some(message.chars().take(1000).collect()),
            action: "VerifyCredentials".into(),
            secondary: None,
        };
        let reference = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some(K::api_resource().api_version),
            kind: Some(K::KIND.to_string()),
            name: Some(name),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            ..Default::default()
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            tracing::warn!(error = %e, "publishing an Event failed");
        }
    }
    Ok(())
}

pub fn error_policy<K: AccountKind>(
    p: Arc<Parsed<K>>,
    error: &Error,
    _ctx: Arc<Context>,
) -> Action {
    // Provider-side failures were logged by the reconcile with their context.
    if error.category() == crate::error::Category::Kubernetes {
        tracing::warn!(kind = K::KIND, name = %p.name_any(), error = %error, "reconcile failed");
    }
    backoff_for(error)
}
