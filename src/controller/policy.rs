//! Policy reconcile (FirewallPolicy and MonitoringPolicy):
//! finalizer → pause → provider → target → sync → status → Events → metrics → requeue.

use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, CustomResourceExt, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::ObjectMeta;
use kube::runtime::reflector::ObjectRef;

use super::account::{Account, client_for};
use super::guard::{Invalid, Parsed};
use super::{Context, FINALIZER, SKIP_CLEANUP_ANNOTATION, backoff_for, measured, parse_interval};
use crate::api::{
    DeletionPolicy, FirewallPolicy, Mode, MonitoringPolicy, PolicyControls, PolicyStatus,
    ProviderKind,
};
use crate::core::addresses::Resolver;
use crate::error::{Category, Error};
use crate::http::ratelimit::Reservation;
use crate::providers::Declared;
use crate::reconcile;
use crate::status::{self, Blocked};

/// What the controller needs of a policy kind.
pub trait PolicyKind:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + CustomResourceExt
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
    fn controls(&self) -> &PolicyControls;
    fn declared(&self) -> Result<Declared<'_>, Error>;
    fn policy_status(&self) -> Option<&PolicyStatus>;
    /// The policy with the address sets it names replaced by their addresses.
    fn with_address_sets(&self, sets: &mut Resolver) -> Result<Self, Error>;
}

/// The names of the address sets a policy references (what a set's change requeues).
pub fn address_set_names<K: PolicyKind>(policy: &K) -> Vec<String> {
    let mut collect = Resolver::collecting();
    let _ = policy.with_address_sets(&mut collect);
    collect.referenced().to_vec()
}

impl PolicyKind for FirewallPolicy {
    const KIND: &'static str = "FirewallPolicy";
    fn controls(&self) -> &PolicyControls {
        &self.spec.controls
    }
    fn declared(&self) -> Result<Declared<'_>, Error> {
        Declared::from_firewall(&self.spec)
    }
    fn policy_status(&self) -> Option<&PolicyStatus> {
        self.status.as_ref()
    }
    fn with_address_sets(&self, sets: &mut Resolver) -> Result<Self, Error> {
        let mut out = self.clone();
        out.spec = crate::providers::registry::with_address_sets(&self.spec, sets)?;
        Ok(out)
    }
}

impl PolicyKind for MonitoringPolicy {
    const KIND: &'static str = "MonitoringPolicy";
    fn controls(&self) -> &PolicyControls {
        &self.spec.controls
    }
    fn declared(&self) -> Result<Declared<'_>, Error> {
        Declared::from_monitoring(&self.spec)
    }
    fn policy_status(&self) -> Option<&PolicyStatus> {
        self.status.as_ref()
    }
    /// Monitoring blocks take no addresses.
    fn with_address_sets(&self, _sets: &mut Resolver) -> Result<Self, Error> {
        Ok(self.clone())
    }
}

pub async fn reconcile<K: PolicyKind>(
    obj: Arc<Parsed<K>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    // Every log line of the reconcile, provider HTTP calls included, carries the policy.
    let span = tracing::info_span!(
        "reconcile",
        kind = K::KIND,
        namespace = obj.meta().namespace.as_deref().unwrap_or_default(),
        name = obj.meta().name.as_deref().unwrap_or_default(),
        provider = obj.ok().map_or("unknown", provider_label),
    );
    let work = async {
        match &obj.0 {
            Ok(o) => {
                let started = std::time::Instant::now();
                let (label, result) = match reconcile_inner(o, &ctx).await {
                    Ok(Step::Done(action)) => ("success", Ok(action)),
                    Ok(Step::Deferred(wait)) => {
                        // Counted, not timed: no sync ran.
                        ctx.metrics.count_reconcile(K::KIND, "deferred");
                        return Ok(Action::requeue(wait));
                    }
                    Err(e) => (e.category().label(), Err(e)),
                };
                ctx.metrics
                    .observe_reconcile(K::KIND, label, started.elapsed());
                result
            }
            Err(invalid) => {
                measured(&ctx.metrics, K::KIND, report_invalid::<K>(invalid, &ctx)).await
            }
        }
    };
    let _running = ctx.pace(K::KIND).started(
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default(),
    );
    // Taken before the reconcile is measured: a policy put back in the queue did no work.
    let waiter = (
        K::KIND,
        obj.meta().namespace.clone().unwrap_or_default(),
        obj.meta().name.clone().unwrap_or_default(),
    );
    let _share = match obj.ok().map(|p| share_key(p)) {
        Some(key) => match ctx.shares.take(key, waiter) {
            Some(share) => Some(share),
            None => {
                tracing::debug!(parent: &span, "the account's share of reconciles is in use; waiting");
                return Ok(Action::requeue(super::SHARE_RETRY));
            }
        },
        None => None,
    };
    tracing::Instrument::instrument(work, span).await
}

/// The account a policy's share is counted against.
pub(super) fn share_key<K: PolicyKind>(p: &K) -> super::AccountKey {
    let r = &p.controls().provider_ref;
    let ns = match r.kind {
        ProviderKind::CloudProvider => p.meta().namespace.clone().unwrap_or_default(),
        ProviderKind::ClusterCloudProvider => String::new(),
    };
    (r.kind, ns, r.name.clone())
}

pub fn error_policy<K: PolicyKind>(
    obj: Arc<Parsed<K>>,
    error: &Error,
    _ctx: Arc<Context>,
) -> Action {
    tracing::warn!(kind = K::KIND, namespace = ?obj.meta().namespace, name = %obj.name_any(), reason = error.category().reason(), error = %error, "reconcile failed");
    backoff_for(error)
}

fn needs_finalizer(c: &PolicyControls) -> bool {
    c.deletion_policy == DeletionPolicy::Delete && c.mode == Mode::Enforce
}

/// What a policy's reconcile did.
enum Step {
    /// Synced, or found nothing to do: requeue as the action says.
    Done(Action),
    /// Not started: the account's rate limit would have held the sync in one of the
    /// controller's slots for this long; it waits in the queue instead.
    Deferred(std::time::Duration),
}

/// Whether the policy's last sync left it `Ready` at its generation (the status this process
/// wrote, when the watch has not brought it back yet).
pub fn is_ready<K: PolicyKind>(policy: &K, written: &super::Written) -> bool {
    let written: Option<PolicyStatus> = written.over(policy.meta());
    written
        .as_ref()
        .or(policy.policy_status())
        .is_some_and(|s| {
            s.observed_generation == policy.meta().generation
                && status::get(s, "Ready").is_some_and(|c| c.status == "True")
        })
}

/// The calls a sync is expected to send, reserved on its account's rate limit before it
/// starts: its reads ([`crate::providers::Target::reads`]) times what syncs of its account
/// like it sent per read ([`super::Cost`]). Like a sync that writes: in `Enforce`, unless the
/// last sync of this generation found it in sync. (More are sent as the limit allows; fewer
/// give the rest back.)
fn expected_calls(
    mode: Mode,
    previous: Option<&PolicyStatus>,
    generation: Option<i64>,
    reads: u32,
    cost: super::Cost,
) -> u32 {
    let in_sync = previous.is_some_and(|s| {
        s.observed_generation == generation
            && status::get(s, "InSync").is_some_and(|c| c.status == "True")
    });
    let per_read = match mode {
        Mode::Enforce if !in_sync => cost.writing,
        _ => cost.reading,
    };
    // At least one, at most what a u32 holds (the limiter takes at most its burst).
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let calls = (reads as f32 * per_read).ceil().clamp(1.0, u32::MAX as f32) as u32;
    calls
}

/// The longest a policy waits in the queue for its account's rate limit before it looks again.
/// Its turn comes after the policies put back before it ([`Reservation::take`]), so a busy
/// account's last policies wait long.
const RATE_LIMIT_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(15 * 60);

async fn reconcile_inner<K: PolicyKind>(obj: &K, ctx: &Context) -> Result<Step, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let api: Api<Parsed<K>> = Api::namespaced(ctx.client.clone(), &ns);
    let controls = obj.controls();
    let has_finalizer = obj.finalizers().iter().any(|f| f == FINALIZER);

    if obj.meta().deletion_timestamp.is_some() {
        if has_finalizer {
            if needs_finalizer(controls) && !controls.paused {
                cleanup_or_give_up(obj, ctx).await?;
            }
            remove_finalizer(&api, obj.meta()).await?;
        }
        ctx.metrics
            .forget_policy(K::KIND, &ns, obj.meta().name.as_deref().unwrap_or_default());
        ctx.written.forget(obj.meta());
        return Ok(Step::Done(Action::await_change()));
    }
    // The finalizer exists only while deleting the policy must clean up the provider.
    match (needs_finalizer(controls), has_finalizer) {
        (true, false) => add_finalizer(&api, obj).await?,
        (false, true) => remove_finalizer(&api, obj.meta()).await?,
        _ => {}
    }

    let generation = obj.meta().generation;
    let written: Option<PolicyStatus> = ctx.written.over(obj.meta());
    let previous = written.as_ref().or(obj.policy_status());
    let now = Time(jiff::Timestamp::now());
    if controls.paused {
        let st = status::blocked(previous, generation, &Blocked::paused(), &now);
        write_status::<K>(ctx, obj.meta(), previous, st).await?;
        return Ok(Step::Done(Action::await_change()));
    }
    let interval = parse_interval(controls.sync_interval.as_deref());

    let (client, target, used) = match prepare(obj, ctx, &ns).await {
        Ok(x) => x,
        Err(e) => {
            let st = status::blocked(
                previous,
                generation,
                &Blocked::new(e.category(), e.to_string()),
                &now,
            );
            write_status::<K>(ctx, obj.meta(), previous, st).await?;
            set_unknown(obj.meta(), K::KIND, provider_label(obj), ctx);
            return Err(e);
        }
    };
    // A sync takes the calls it expects from its account's rate limit before it starts, and
    // while they are not there it waits in the queue, not in one of the controller's slots
    // that another account could use; the syncs put back come back one after the other. On the
    // fleet bench (10,000 policies, 64 slots, a first Enforce round) every policy was synced
    // in 50 s this way, within a few seconds of what the accounts' limits allow; checking
    // for the reads alone took 99 s, and waiting for any part of the sync in a slot 116-132 s.
    let account = share_key(obj);
    let cost = ctx.costs.of(&account);
    let calls = expected_calls(controls.mode, previous, generation, target.reads(), cost);
    let uid = obj.meta().uid.clone().unwrap_or_default();
    let wake: crate::http::ratelimit::Wake = {
        let (shares, told) = (ctx.shares.clone(), ctx.told.clone());
        let (waiter, uid) = ((K::KIND, ns.clone(), name.clone()), uid.clone());
        Arc::new(move |after| {
            let (told, uid) = (told.clone(), uid.clone());
            shares.wake_after(waiter.clone(), after, move || told.was(&uid));
        })
    };
    let reserved = match Reservation::take(&client.rate_limiters(&target), calls, &uid, &wake) {
        Ok(reserved) => {
            ctx.told.forget(&uid);
            tracing::debug!(calls, "took the account's calls; syncing");
            reserved
        }
        Err(wait) => {
            ctx.told.tell(&uid);
            tracing::debug!(
                calls,
                wait_ms = wait.as_millis(),
                "the account's rate limit is spent; waiting in the queue"
            );
            return Ok(Step::Deferred(wait.min(RATE_LIMIT_WAIT_MAX)));
        }
    };
    let sent = reserved.sent();
    let mut outcome = reserved
        .scope(reconcile::sync_remembering(
            client.as_ref(),
            &target,
            controls.mode,
            controls.unmanaged,
            ctx.config.sync_deadline,
            Some((&ctx.attributions, uid.as_str())),
            &|| ctx.fence.allows_writes(),
        ))
        .await;
    if outcome.error.is_none() {
        ctx.costs.learn(
            account,
            !outcome.applied.is_empty(),
            target.reads(),
            sent.load(std::sync::atomic::Ordering::Acquire),
        );
    }
    outcome.address_sets = used;
    let provider = client.provider_type();
    outcome.record(
        &ctx.metrics,
        [provider.as_str(), K::KIND, &ns, &name],
        &obj.controls().provider_ref.name,
        crate::metrics::unix_now(),
    );
    let st = status::from_outcome(previous, generation, controls.mode, &outcome, &now);
    let caused = outcome
        .attribution
        .as_ref()
        .filter(|a| !a.by_path.is_empty())
        .map(|a| format!(" (drift changed by {})", a.by_actor(3)))
        .unwrap_or_default();
    if !outcome.applied.is_empty() {
        publish::<K>(
            ctx,
            obj.meta(),
            EventType::Normal,
            "Enforced",
            "Enforce",
            format!(
                "{} change(s) applied: {}{caused}",
                outcome.applied.len(),
                outcome.applied.join("; ")
            ),
        )
        .await;
    } else if let Some(message) = status::new_drift_message(previous, &st) {
        publish::<K>(
            ctx,
            obj.meta(),
            EventType::Warning,
            "DriftDetected",
            "Sync",
            message,
        )
        .await;
    }
    write_status::<K>(ctx, obj.meta(), previous, st).await?;
    match outcome.error {
        Some(e) => Err(Error::Provider(e)),
        None => Ok(Step::Done(Action::requeue(interval))),
    }
}

/// A stored policy that does not parse: `Ready=False/InvalidSpec` naming the field, an Event,
/// nothing sent to any provider. Being deleted with our finalizer, it is let go (what it
/// declared cannot be read, so there is nothing to clean up by).
async fn report_invalid<K: PolicyKind>(invalid: &Invalid, ctx: &Context) -> Result<Action, Error> {
    let meta = &invalid.metadata;
    if meta.deletion_timestamp.is_some() {
        if meta.finalizers.iter().flatten().any(|f| f == FINALIZER) {
            publish::<K>(
                ctx,
                meta,
                EventType::Warning,
                "CleanupSkipped",
                "Delete",
                format!("{}; the provider is left as it is", invalid.message()),
            )
            .await;
            let api: Api<Parsed<K>> = Api::namespaced(
                ctx.client.clone(),
                meta.namespace.as_deref().unwrap_or_default(),
            );
            remove_finalizer(&api, meta).await?;
        }
        return Ok(Action::await_change());
    }
    tracing::warn!(kind = K::KIND, namespace = ?meta.namespace, name = ?meta.name, field = %invalid.field, "stored object does not parse");
    let previous: Option<PolicyStatus> = ctx.written.over(meta).or_else(|| {
        invalid
            .status
            .clone()
            .and_then(|s| serde_json::from_value(s).ok())
    });
    let now = Time(jiff::Timestamp::now());
    let st = status::blocked(
        previous.as_ref(),
        meta.generation,
        &Blocked::new(Category::InvalidSpec, invalid.message()),
        &now,
    );
    write_status::<K>(ctx, meta, previous.as_ref(), st).await?;
    set_unknown(meta, K::KIND, "unknown", ctx);
    Ok(Action::await_change())
}

/// Resolves the provider account and its client, and maps the policy into the neutral model.
async fn prepare<K: PolicyKind>(
    obj: &K,
    ctx: &Context,
    ns: &str,
) -> Result<
    (
        Arc<dyn crate::providers::Provider>,
        crate::providers::Target,
        Vec<crate::api::addressset::UsedAddressSet>,
    ),
    Error,
> {
    // Sets are resolved before anything is read: a policy naming a set that is missing, not
    // Ready or stale stops here, and writes nothing.
    let mut sets = address_sets(obj, ctx, ns).await?;
    let expanded = obj.with_address_sets(&mut sets)?;
    let used = sets
        .used()
        .into_iter()
        .map(|(name, digest)| crate::api::addressset::UsedAddressSet { name, digest })
        .collect();
    let declared = expanded.declared()?;
    let target = declared.target()?;
    let controls = obj.controls();
    let reference = &controls.provider_ref;
    let what = reference.describe(ns);
    let client = match reference.kind {
        ProviderKind::CloudProvider => {
            let key = ObjectRef::new(&reference.name).within(ns);
            let provider = parsed(cached(&ctx.feeds.providers.cache(), key).await?, &what)?;
            let t = provider.spec.provider_type;
            reconcile::admit(declared, &what, t, None, ns, controls.mode)?;
            client_for(ctx, &Account::namespaced(&provider)).await?
        }
        ProviderKind::ClusterCloudProvider => {
            let key = ObjectRef::new(&reference.name);
            let store = ctx.feeds.cluster_providers.cache();
            let provider = parsed(cached(&store, key).await?, &what)?;
            let t = provider.spec.account.provider_type;
            reconcile::admit(declared, &what, t, Some(&provider.spec), ns, controls.mode)?;
            client_for(ctx, &Account::cluster(&provider)).await?
        }
    };
    Ok((client, target, used))
}

/// The address sets of the policy's namespace, as the watch cache has them, judged now. A
/// policy that names none does not wait for the cache.
async fn address_sets<K: PolicyKind>(obj: &K, ctx: &Context, ns: &str) -> Result<Resolver, Error> {
    use crate::core::addresses::SetState;
    if address_set_names(obj).is_empty() {
        return Ok(Resolver::new(ns, Default::default()));
    }
    let store = ctx.feeds.address_sets.cache();
    let listed = store.listed(super::LISTED_LIMIT).await;
    let now = crate::metrics::unix_now();
    let sets = if listed {
        store
            .state()
            .iter()
            .filter(|s| s.meta().namespace.as_deref() == Some(ns))
            .map(|s| {
                let state = match &s.0 {
                    Ok(set) => crate::addressset::state_of(set, now),
                    Err(invalid) => SetState::NotReady(invalid.message()),
                };
                (s.name_any(), state)
            })
            .collect()
    } else {
        Default::default()
    };
    Ok(Resolver::new(ns, sets))
}

/// An object from a watch cache, waiting (bounded) for the cache's first list.
async fn cached<K>(
    store: &super::watch::Cache<Parsed<K>>,
    key: ObjectRef<Parsed<K>>,
) -> Result<Option<Arc<Parsed<K>>>, Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    match store.listed(super::LISTED_LIMIT).await {
        true => Ok(store.get(&key)),
        false => Err(Error::ProviderNotFound(format!(
            "{} (the provider accounts are not listed yet)",
            key.name
        ))),
    }
}

fn parsed<K: Clone>(found: Option<Arc<Parsed<K>>>, what: &str) -> Result<K, Error> {
    match found.as_deref() {
        None => Err(Error::ProviderNotFound(what.to_string())),
        Some(Parsed(Ok(p))) => Ok(p.clone()),
        Some(Parsed(Err(invalid))) => {
            Err(Error::InvalidSpec(format!("{what}: {}", invalid.message())))
        }
    }
}

/// `deletionPolicy: Delete` at deletion. A cleanup that can never succeed (the account or its
/// credential is gone, as when a whole namespace is deleted; the admin forbids it) gives up
/// with a Warning Event so the namespace can go; a cleanup that may succeed later is retried
/// until it does or an admin sets `perimeter.dev/cleanup: skip` on the policy.
async fn cleanup_or_give_up<K: PolicyKind>(obj: &K, ctx: &Context) -> Result<(), Error> {
    let skip = obj
        .annotations()
        .get(SKIP_CLEANUP_ANNOTATION)
        .is_some_and(|v| v == "skip");
    if skip {
        publish::<K>(
            ctx,
            obj.meta(),
            EventType::Warning,
            "CleanupSkipped",
            "Delete",
            format!("{SKIP_CLEANUP_ANNOTATION}: skip is set: the provider is left as it is"),
        )
        .await;
        return Ok(());
    }
    match cleanup(obj, ctx).await {
        Ok(()) => Ok(()),
        Err(e) if never_possible(&e) => {
            publish::<K>(
                ctx,
                obj.meta(),
                EventType::Warning,
                "CleanupSkipped",
                "Delete",
                format!("deletionPolicy Delete cannot be carried out ({e}); the provider is left as it is"),
            )
            .await;
            Ok(())
        }
        Err(e) => {
            publish::<K>(
                ctx,
                obj.meta(),
                EventType::Warning,
                "CleanupFailed",
                "Delete",
                format!(
                    "deletionPolicy Delete failed ({e}); retrying. To delete the policy without \
                     cleaning up: kubectl annotate {} {} {SKIP_CLEANUP_ANNOTATION}=skip",
                    K::KIND.to_lowercase(),
                    obj.name_any()
                ),
            )
            .await;
            Err(e)
        }
    }
}

/// Errors after which a cleanup can never succeed without a person changing something. An
/// address set that is gone (deleted with its namespace, say) is one; a set whose source is
/// only failing for now is not.
fn never_possible(e: &Error) -> bool {
    match e {
        Error::AddressSet(set) => !set.transient,
        _ => matches!(
            e.category(),
            Category::ProviderNotFound
                | Category::CredentialsMissing
                | Category::Forbidden
                | Category::InvalidSpec
                | Category::ProviderMismatch
                | Category::ProviderNotSupported
        ),
    }
}

/// Removes the rules this policy manages, keeping unmanaged ones.
async fn cleanup<K: PolicyKind>(obj: &K, ctx: &Context) -> Result<(), Error> {
    let ns = obj.namespace().unwrap_or_default();
    let (client, target, _) = prepare(obj, ctx, &ns).await?;
    let deadline = ctx.config.sync_deadline;
    let work = async {
        let target = client.resolve(&target)?;
        let observed = client.observe(&target).await?;
        let (emptied_state, plan) = crate::core::cleanup(&target.desired, &observed.state);
        let emptied = crate::providers::Target {
            desired: emptied_state,
            ..target.clone()
        };
        if plan.is_empty() {
            return Ok(0);
        }
        // As in a sync: a replica no longer surely leading deletes nothing.
        if !ctx.fence.allows_writes() {
            return Err(Error::Kube(kube::Error::Service(Box::new(
                super::NotLeading,
            ))));
        }
        client
            .apply(&emptied, &observed, &plan)
            .await
            .map(|applied| applied.len())
            .map_err(|e| Error::Provider(e.error))
    };
    let applied = tokio::time::timeout(deadline, work).await.map_err(|_| {
        Error::Provider(crate::error::ProviderError::new(
            Category::Timeout,
            "cleanup",
            format!("the cleanup did not finish within {} s", deadline.as_secs()),
        ))
    })??;
    if applied > 0 {
        publish::<K>(
            ctx,
            obj.meta(),
            EventType::Normal,
            "CleanedUp",
            "Delete",
            format!("deletionPolicy Delete: {applied} change(s) applied"),
        )
        .await;
    }
    Ok(())
}

/// Writes the status with server-side apply, only when it differs from the current one, and
/// publishes an Event when `Ready` changes.
async fn write_status<K: PolicyKind>(
    ctx: &Context,
    meta: &ObjectMeta,
    previous: Option<&PolicyStatus>,
    new: PolicyStatus,
) -> Result<(), Error> {
    if !status::needs_write(previous, &new) {
        return Ok(());
    }
    let old_ready = previous
        .and_then(|s| status::get(s, "Ready"))
        .map(|c| (c.status.clone(), c.reason.clone()));
    let new_ready =
        status::get(&new, "Ready").map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()));
    let body = json!({
        "apiVersion": K::api_resource().api_version,
        "kind": K::KIND,
        "status": new,
    });
    let api: Api<Parsed<K>> = Api::namespaced(
        ctx.client.clone(),
        meta.namespace.as_deref().unwrap_or_default(),
    );
    super::apply_status(&api, meta.name.as_deref().unwrap_or_default(), &body).await?;
    ctx.written.remember(meta, &new);
    if let Some((status, reason, message)) = new_ready
        && old_ready.as_ref() != Some(&(status.clone(), reason.clone()))
    {
        let type_ = if status == "True" {
            EventType::Normal
        } else {
            EventType::Warning
        };
        publish::<K>(ctx, meta, type_, &reason, "Reconcile", message).await;
    }
    Ok(())
}

async fn publish<K: PolicyKind>(
    ctx: &Context,
    meta: &ObjectMeta,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note.chars().take(1000).collect()),
        action: action.to_string(),
        secondary: None,
    };
    let reference = ObjectReference {
        api_version: Some(K::api_resource().api_version),
        kind: Some(K::KIND.to_string()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..ObjectReference::default()
    };
    if let Err(e) = ctx.recorder.publish(&event, &reference).await {
        tracing::warn!(error = %e, "publishing an Event failed");
    }
}

async fn add_finalizer<K: PolicyKind>(api: &Api<Parsed<K>>, obj: &K) -> Result<(), Error> {
    let mut finalizers = obj.finalizers().to_vec();
    finalizers.push(FINALIZER.to_string());
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": obj.resource_version()}});
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

async fn remove_finalizer<K: PolicyKind>(
    api: &Api<Parsed<K>>,
    meta: &ObjectMeta,
) -> Result<(), Error> {
    let finalizers: Vec<String> = meta
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": meta.resource_version}});
    api.patch(
        meta.name.as_deref().unwrap_or_default(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

fn provider_label<K: PolicyKind>(obj: &K) -> &'static str {
    obj.declared()
        .map(|d| d.provider_type().as_str())
        .unwrap_or("unknown")
}

/// The provider was not read: the policy is not in sync (never "compliant" by default).
fn set_unknown(meta: &ObjectMeta, kind: &str, provider: &str, ctx: &Context) {
    let labels = [
        provider,
        kind,
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    ];
    ctx.metrics.policies.record(labels, false, None);
}

/// A policy gone from this process's cache: deleted, or relabelled into another shard (whose
/// watch then has it). Its series and status memo go, so that only its own shard reports it.
pub(super) fn forget<K: PolicyKind>(obj: &Parsed<K>, ctx: &Context) {
    let meta = obj.meta();
    ctx.metrics.forget_policy(
        K::KIND,
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    );
    ctx.written.forget(meta);
    ctx.told.forget(meta.uid.as_deref().unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::addresses::SetError;

    /// A cleanup gives up (and lets the policy go) only on what retrying cannot fix.
    #[test]
    fn cleanup_gives_up_only_on_what_retrying_cannot_fix() {
        let set = |transient| {
            Error::AddressSet(SetError {
                field: "spec.turso.allowedAddressSets[0]".into(),
                name: "egress".into(),
                why: "x".into(),
                transient,
            })
        };
        let cases = [
            ("a set gone with its namespace", set(false), true),
            ("a set whose source fails for now", set(true), false),
            ("an invalid spec", Error::InvalidSpec("x".into()), true),
            (
                "a provider that times out",
                Error::Provider(crate::error::ProviderError::new(
                    Category::Timeout,
                    "observe",
                    "late",
                )),
                false,
            ),
        ];
        for (case, error, want) in cases {
            assert_eq!(never_possible(&error), want, "{case}");
        }
    }

    /// A sync reserves its reads; an Enforce sync that may write, three calls a read, until the
    /// account's syncs showed what they send.
    #[test]
    fn a_sync_reserves_its_reads_and_in_enforce_its_writes_until_it_was_in_sync() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
        let status = |generation: i64, in_sync: &str| PolicyStatus {
            observed_generation: Some(generation),
            conditions: vec![Condition {
                type_: "InSync".into(),
                status: in_sync.into(),
                reason: "x".into(),
                message: String::new(),
                last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
                observed_generation: Some(generation),
            }],
            ..PolicyStatus::default()
        };
        let in_sync = status(2, "True");
        let drifted = status(2, "False");
        let older = status(1, "True");
        let cases = [
            ("observe, never synced", Mode::Observe, None, 2, 2),
            ("observe, drifted", Mode::Observe, Some(&drifted), 2, 2),
            ("enforce, never synced", Mode::Enforce, None, 2, 6),
            ("enforce, drifted", Mode::Enforce, Some(&drifted), 1, 3),
            ("enforce, in sync", Mode::Enforce, Some(&in_sync), 2, 2),
            (
                "enforce, in sync at an older generation",
                Mode::Enforce,
                Some(&older),
                1,
                3,
            ),
        ];
        for (case, mode, previous, reads, want) in cases {
            let cost = super::super::Cost::default();
            assert_eq!(
                expected_calls(mode, previous, Some(2), reads, cost),
                want,
                "{case}"
            );
        }
        // What the account's syncs sent, once learned.
        let learned = super::super::Cost {
            writing: 4.5,
            reading: 0.4,
        };
        let cases = [
            ("writing, 2 reads", Mode::Enforce, None, 2, 9),
            ("writing, 1 read", Mode::Enforce, None, 1, 5),
            (
                "reading, shared mostly",
                Mode::Enforce,
                Some(&in_sync),
                2,
                1,
            ),
            ("reading, never less than one", Mode::Observe, None, 1, 1),
        ];
        for (case, mode, previous, reads, want) in cases {
            assert_eq!(
                expected_calls(mode, previous, Some(2), reads, learned),
                want,
                "{case}"
            );
        }
    }
}
