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

use super::{
    Context, FIELD_MANAGER, FINALIZER, backoff_for, measured, parse_interval, provider::client_for,
};
use crate::api::{
    CloudProvider, DeletionPolicy, FirewallPolicy, Mode, MonitoringPolicy, PolicyControls,
    PolicyStatus,
};
use crate::error::Error;
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
}

pub async fn reconcile<K: PolicyKind>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    measured(&ctx.metrics, K::KIND, reconcile_inner(obj.as_ref(), &ctx)).await
}

pub fn error_policy<K: PolicyKind>(obj: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(kind = K::KIND, name = %obj.name_any(), reason = error.category().reason(), error = %error, "reconcile failed");
    backoff_for(error)
}

fn needs_finalizer(c: &PolicyControls) -> bool {
    c.deletion_policy == DeletionPolicy::Delete && c.mode == Mode::Enforce
}

async fn reconcile_inner<K: PolicyKind>(obj: &K, ctx: &Context) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let controls = obj.controls();
    let has_finalizer = obj.finalizers().iter().any(|f| f == FINALIZER);

    if obj.meta().deletion_timestamp.is_some() {
        if has_finalizer {
            if needs_finalizer(controls) && !controls.paused {
                cleanup(obj, ctx).await?;
            }
            remove_finalizer(&api, obj).await?;
        }
        forget_metrics(obj, ctx);
        return Ok(Action::await_change());
    }
    // The finalizer exists only while deleting the policy must clean up the provider.
    match (needs_finalizer(controls), has_finalizer) {
        (true, false) => add_finalizer(&api, obj).await?,
        (false, true) => remove_finalizer(&api, obj).await?,
        _ => {}
    }

    let generation = obj.meta().generation;
    let previous = obj.policy_status();
    let now = Time(jiff::Timestamp::now());
    if controls.paused {
        let st = status::blocked(previous, generation, &Blocked::paused(), &now);
        write_status(&api, obj, ctx, st).await?;
        return Ok(Action::await_change());
    }
    let interval = parse_interval(controls.sync_interval.as_deref());

    let (client, target) = match prepare(obj, ctx, &ns).await {
        Ok(x) => x,
        Err(e) => {
            let st = status::blocked(
                previous,
                generation,
                &Blocked::new(e.category(), e.to_string()),
                &now,
            );
            write_status(&api, obj, ctx, st).await?;
            set_unknown(obj, ctx);
            return Err(e);
        }
    };
    let outcome =
        reconcile::sync(client.as_ref(), &target, controls.mode, controls.unmanaged).await;
    let provider = client.provider_type();
    outcome.record(
        &ctx.metrics,
        [provider.as_str(), K::KIND, &ns, &name],
        &obj.controls().provider_ref.name,
        crate::metrics::unix_now(),
    );
    let st = status::from_outcome(previous, generation, controls.mode, &outcome, &now);
    if !outcome.applied.is_empty() {
        publish(
            ctx,
            obj,
            EventType::Normal,
            "Enforced",
            "Enforce",
            format!(
                "{} change(s) applied: {}",
                outcome.applied.len(),
                outcome.applied.join("; ")
            ),
        )
        .await;
    }
    write_status(&api, obj, ctx, st).await?;
    match outcome.error {
        Some(e) => Err(Error::Provider(e)),
        None => Ok(Action::requeue(interval)),
    }
}

/// Resolves the CloudProvider and its client, and maps the policy into the neutral model.
async fn prepare<K: PolicyKind>(
    obj: &K,
    ctx: &Context,
    ns: &str,
) -> Result<
    (
        Arc<dyn crate::providers::Provider>,
        crate::providers::Target,
    ),
    Error,
> {
    let declared = obj.declared()?;
    let target = declared.target()?;
    let providers: Api<CloudProvider> = Api::namespaced(ctx.client.clone(), ns);
    let provider_name = &obj.controls().provider_ref.name;
    let provider = providers
        .get_opt(provider_name)
        .await?
        .ok_or_else(|| Error::ProviderNotFound(provider_name.clone()))?;
    if provider.spec.provider_type != declared.provider_type() {
        return Err(Error::ProviderMismatch(format!(
            "the policy has a {} block but CloudProvider {provider_name:?} is of type {}",
            declared.provider_type(),
            provider.spec.provider_type
        )));
    }
    let client = client_for(ctx, &provider).await?;
    Ok((client, target))
}

/// `deletionPolicy: Delete`: removes the rules this policy manages, keeping unmanaged ones.
async fn cleanup<K: PolicyKind>(obj: &K, ctx: &Context) -> Result<(), Error> {
    let ns = obj.namespace().unwrap_or_default();
    let (client, target) = prepare(obj, ctx, &ns).await?;
    let target = client.resolve(&target)?;
    let observed = client.observe(&target).await?;
    let (emptied_state, plan) = crate::core::cleanup(&target.desired, &observed.state);
    let emptied = crate::providers::Target {
        desired: emptied_state,
        ..target.clone()
    };
    if plan.is_empty() {
        return Ok(());
    }
    let applied = client
        .apply(&emptied, &observed, &plan)
        .await
        .map_err(|e| Error::Provider(e.error))?;
    publish(
        ctx,
        obj,
        EventType::Normal,
        "CleanedUp",
        "Delete",
        format!("deletionPolicy Delete: {} change(s) applied", applied.len()),
    )
    .await;
    Ok(())
}

/// Writes the status with server-side apply, only when it differs from the current one, and
/// publishes an Event when `Ready` changes.
async fn write_status<K: PolicyKind>(
    api: &Api<K>,
    obj: &K,
    ctx: &Context,
    new: PolicyStatus,
) -> Result<(), Error> {
    let previous = obj.policy_status();
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
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    if let Some((status, reason, message)) = new_ready
        && old_ready.as_ref() != Some(&(status.clone(), reason.clone()))
    {
        let type_ = if status == "True" {
            EventType::Normal
        } else {
            EventType::Warning
        };
        publish(ctx, obj, type_, &reason, "Reconcile", message).await;
    }
    Ok(())
}

async fn publish<K: PolicyKind>(
    ctx: &Context,
    obj: &K,
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
    if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, "publishing an Event failed");
    }
}

async fn add_finalizer<K: PolicyKind>(api: &Api<K>, obj: &K) -> Result<(), Error> {
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

async fn remove_finalizer<K: PolicyKind>(api: &Api<K>, obj: &K) -> Result<(), Error> {
    let finalizers: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
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

fn provider_label<K: PolicyKind>(obj: &K) -> &'static str {
    obj.declared()
        .map(|d| d.provider_type().as_str())
        .unwrap_or("unknown")
}

/// The provider was not read: the policy is not in sync (never "compliant" by default).
fn set_unknown<K: PolicyKind>(obj: &K, ctx: &Context) {
    let labels = [
        provider_label(obj),
        K::KIND,
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
    ];
    ctx.metrics.policy_in_sync.with_label_values(&labels).set(0);
}

fn forget_metrics<K: PolicyKind>(obj: &K, ctx: &Context) {
    ctx.metrics.forget_policy(
        provider_label(obj),
        K::KIND,
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
    );
}
