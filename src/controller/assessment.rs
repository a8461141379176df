//! The `ControlAssessment` controller: evaluates the control whenever a CloudProvider or a
//! policy changes (and at least every heartbeat), appends evidence to the trail kept in a
//! ConfigMap of the operator's namespace, and writes a small status.
//!
//! Only the Kubernetes shell lives here: watches, the reconcile pipeline (caches → snapshot →
//! evaluation → evidence store → status → Event → metrics) and the error policy. What it
//! computes is in [`crate::compliance`]: the facts ([`snapshot`]), the status and Events
//! ([`status`]), and the evidence ConfigMap ([`configmap`]), written only when a record is
//! appended, with optimistic concurrency.
//!
//! [`snapshot`]: crate::compliance::snapshot
//! [`status`]: crate::compliance::status
//! [`configmap`]: crate::compliance::evidence::configmap

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use super::guard::{Invalid, Parsed};
use super::watch::{Cache, Feed};
use super::{Context, measured};
use crate::api::compliance::{ControlAssessment, ControlAssessmentStatus};
use crate::api::{CloudProvider, ClusterCloudProvider, FirewallPolicy, MonitoringPolicy};
use crate::compliance::evidence::configmap::{ConfigMapStore, TRAIL_KEY};
use crate::compliance::snapshot::{Freshness, snapshot_from};
use crate::compliance::status::{
    StateChange, held_status, invalid_status, state_event, state_note, status_from,
};
use crate::error::Error;

pub const KIND: &str = "ControlAssessment";

/// The namespace the operator keeps evidence in: its own.
pub fn operator_namespace() -> String {
    std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "perimeter".into())
}

/// The objects an assessment reads: the operator's watch caches, so an evaluation costs no
/// API call. Objects that do not parse are left out (their policies are reported by their
/// own controllers; a provider without readable policies shows as a gap).
#[derive(Clone)]
pub struct Sources {
    pub providers: Cache<Parsed<CloudProvider>>,
    pub cluster_providers: Cache<Parsed<ClusterCloudProvider>>,
    pub firewalls: Cache<Parsed<FirewallPolicy>>,
    pub monitors: Cache<Parsed<MonitoringPolicy>>,
}

impl Sources {
    /// Caches filled from lists of objects (tests and tools without watches).
    pub fn from_objects(
        providers: Vec<CloudProvider>,
        firewalls: Vec<FirewallPolicy>,
        monitors: Vec<MonitoringPolicy>,
    ) -> Self {
        Self::with_cluster_providers(providers, Vec::new(), firewalls, monitors)
    }

    pub fn with_cluster_providers(
        providers: Vec<CloudProvider>,
        cluster_providers: Vec<ClusterCloudProvider>,
        firewalls: Vec<FirewallPolicy>,
        monitors: Vec<MonitoringPolicy>,
    ) -> Self {
        Self {
            providers: filled(providers),
            cluster_providers: filled(cluster_providers),
            firewalls: filled(firewalls),
            monitors: filled(monitors),
        }
    }

    fn from_feeds(feeds: &super::Feeds) -> Self {
        Self {
            providers: feeds.providers.cache(),
            cluster_providers: feeds.cluster_providers.cache(),
            firewalls: feeds.firewalls.cache(),
            monitors: feeds.monitors.cache(),
        }
    }

    async fn ready(&self) -> bool {
        let limit = super::LISTED_LIMIT;
        let all = async {
            self.providers.listed(limit).await
                && self.cluster_providers.listed(limit).await
                && self.firewalls.listed(limit).await
                && self.monitors.listed(limit).await
        };
        tokio::time::timeout(limit, all).await.unwrap_or(false)
    }
}

fn filled<K>(objects: Vec<K>) -> Cache<Parsed<K>>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    Feed::filled(objects.into_iter().map(|o| Parsed(Ok(o)))).cache()
}

/// What the ControlAssessment reconcile gets: the shared context and the caches.
pub struct AssessmentContext {
    pub ctx: Arc<Context>,
    pub sources: Sources,
}

/// Any provider or policy change (including a deletion) re-evaluates every assessment (there
/// are few, cluster-wide).
pub async fn run(client: Client, ctx: Arc<Context>) {
    let feeds = &ctx.feeds;
    // Parsed: one assessment the types refuse is reported on itself, not the end of the watch.
    let api: Api<Parsed<ControlAssessment>> = Api::all(client);
    let controller = Controller::new(api, watcher::Config::default());
    let store = controller.store();
    // Series of deleted assessments are dropped (no reconcile runs for a deleted object).
    let metrics = ctx.metrics.clone();
    let known = store.clone();
    let sweeper = tokio::spawn(async move {
        if known.wait_until_ready().await.is_err() {
            return;
        }
        loop {
            let names: Vec<String> = known.state().iter().map(|a| a.name_any()).collect();
            metrics.retain_assessments(&names);
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    });
    let all = move || {
        store
            .state()
            .into_iter()
            .map(|a| ObjectRef::from_obj(&*a))
            .collect::<Vec<_>>()
    };
    let (a1, a2, a3, a4) = (all.clone(), all.clone(), all.clone(), all);
    let actx = Arc::new(AssessmentContext {
        sources: Sources::from_feeds(feeds),
        ctx: ctx.clone(),
    });
    use super::watch::{any_change, as_watch_results};
    controller
        .watches_stream(
            as_watch_results(any_change(feeds.providers.subscribe())),
            move |_| a1(),
        )
        .watches_stream(
            as_watch_results(any_change(feeds.cluster_providers.subscribe())),
            move |_| a2(),
        )
        .watches_stream(
            as_watch_results(any_change(feeds.firewalls.subscribe())),
            move |_| a3(),
        )
        .watches_stream(
            as_watch_results(any_change(feeds.monitors.subscribe())),
            move |_| a4(),
        )
        .with_config(kube::runtime::controller::Config::default().debounce(Duration::from_secs(1)))
        .shutdown_on_signal()
        .run(reconcile_parsed, error_policy_parsed, actx)
        .for_each(|_| futures::future::ready(()))
        .await;
    sweeper.abort();
}

async fn reconcile_parsed(
    obj: Arc<Parsed<ControlAssessment>>,
    actx: Arc<AssessmentContext>,
) -> Result<Action, Error> {
    match &obj.0 {
        Ok(a) => reconcile(Arc::new(a.clone()), actx).await,
        Err(invalid) => measured(&actx.ctx.metrics, KIND, report_invalid(invalid, &actx.ctx)).await,
    }
}

fn error_policy_parsed(
    obj: Arc<Parsed<ControlAssessment>>,
    error: &Error,
    ctx: Arc<AssessmentContext>,
) -> Action {
    match &obj.0 {
        Ok(a) => error_policy(Arc::new(a.clone()), error, ctx),
        Err(_) => Action::requeue(Duration::from_secs(300)),
    }
}

/// A stored assessment that does not parse: `Ready=False/InvalidSpec` naming the field, once
/// per change; no evidence written.
async fn report_invalid(invalid: &Invalid, ctx: &Context) -> Result<Action, Error> {
    let meta = &invalid.metadata;
    let previous: Option<ControlAssessmentStatus> = invalid
        .status
        .clone()
        .and_then(|s| serde_json::from_value(s).ok());
    let message = invalid.message();
    let Some(status) = invalid_status(previous.as_ref(), message.clone(), meta.generation) else {
        return Ok(Action::await_change());
    };
    tracing::warn!(assessment = ?meta.name, field = %invalid.field, "stored ControlAssessment does not parse");
    let api: Api<Parsed<ControlAssessment>> = Api::all(ctx.client.clone());
    let body = json!({
        "apiVersion": ControlAssessment::api_version(&()),
        "kind": KIND,
        "status": status,
    });
    super::apply_status(&api, meta.name.as_deref().unwrap_or_default(), &body).await?;
    let event = Event {
        type_: EventType::Warning,
        reason: crate::error::Category::InvalidSpec.reason().into(),
        note: Some(message.chars().take(1000).collect()),
        action: "Assess".into(),
        secondary: None,
    };
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(ControlAssessment::api_version(&()).into_owned()),
        kind: Some(KIND.into()),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        ..Default::default()
    };
    if let Err(e) = ctx.recorder.publish(&event, &reference).await {
        tracing::warn!(error = %e, "publishing an Event failed");
    }
    Ok(Action::await_change())
}

pub async fn reconcile(
    obj: Arc<ControlAssessment>,
    actx: Arc<AssessmentContext>,
) -> Result<Action, Error> {
    measured(&actx.ctx.metrics, KIND, reconcile_inner(obj, actx.clone())).await
}

pub fn error_policy(
    _obj: Arc<ControlAssessment>,
    error: &Error,
    _ctx: Arc<AssessmentContext>,
) -> Action {
    tracing::warn!(category = error.category().label(), error = %error, "assessment failed");
    Action::requeue(Duration::from_secs(30))
}

async fn reconcile_inner(
    obj: Arc<ControlAssessment>,
    actx: Arc<AssessmentContext>,
) -> Result<Action, Error> {
    let ctx = &actx.ctx;
    let sources = &actx.sources;
    if !sources.ready().await {
        // Never evaluate from half-filled caches: that would record providers as missing.
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    let name = obj.name_any();
    let now_unix = crate::metrics::unix_now();
    let uptime = ctx.started.elapsed();
    let last_read = |kind: &str, ns: &str, name: &str| ctx.metrics.last_read(kind, ns, name);
    let freshness = Freshness {
        last_read: &last_read,
        now_unix,
        uptime,
    };
    let mut snapshot = snapshot_from(
        &freshness,
        &owned(&sources.providers),
        &owned(&sources.cluster_providers),
        &owned(&sources.firewalls),
        &owned(&sources.monitors),
    );
    snapshot.own_routes = ctx.config.own_alerts.clone();
    let evidence = ConfigMapStore::new(ctx.client.clone(), &operator_namespace());
    let stored = evidence.read(&name).await?;
    let store = evidence.location(&name);
    let mut trail = match stored.trail() {
        Ok(t) => t,
        Err(e) => {
            // Never overwrite a trail we cannot read: that would erase the evidence.
            let message = format!("{store}: {TRAIL_KEY} is not a trail ({e}); fix or move it");
            return hold(&obj, ctx, "EvidenceUnreadable", message).await;
        }
    };
    // Never extend a trail edited since the status published its head: the new head would
    // vouch for the edit (an edited, re-digested head would then verify).
    let published = obj
        .status
        .as_ref()
        .and_then(|s| s.evidence.as_ref())
        .map(|e| (e.seq, e.digest.as_str()));
    let problems = trail.extension_problems(
        crate::compliance::retention_of(&obj.spec).heartbeat,
        published,
    );
    if !problems.is_empty() {
        let found: Vec<String> = problems
            .iter()
            .map(|p| format!("{} at #{}", p.kind, p.seq))
            .collect();
        let message = format!(
            "{store}: the trail was changed outside the operator ({}); it is not extended \
             until restored (perimeter evidence verify shows the details)",
            found.join(", ")
        );
        return hold(&obj, ctx, "EvidenceTampered", message).await;
    }
    let now = Timestamp::now();
    let (report, written) = crate::compliance::assess(&obj, &snapshot, &mut trail, &store, now);
    if written {
        evidence
            .save(&name, &stored, &trail, &report.result)
            .await?;
    }
    let head = trail.head();
    let evidence_at = head
        .and_then(|h| h.recorded_at.parse::<Timestamp>().ok())
        .map(|t| t.as_second());
    ctx.metrics
        .observe_assessment(&name, &report.result, evidence_at);
    let previous_state = obj.status.as_ref().and_then(|s| s.state.clone());
    let status = status_from(&obj, &report, &trail, &store);
    let new_state = status.state.clone();
    write_status(&obj, ctx, status).await?;
    let change = previous_state
        .as_deref()
        .filter(|_| previous_state != new_state)
        .and_then(|previous| state_event(previous, report.result.state));
    if let Some(StateChange { reason, warning }) = change {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(state_note(&report.result, head)),
            action: "Assess".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, "publishing an Event failed");
        }
    }
    let heartbeat = u64::from(obj.spec.evidence.heartbeat_minutes) * 60;
    Ok(Action::requeue(Duration::from_secs(
        heartbeat.clamp(60, 300),
    )))
}

/// Keeps the last result but marks the assessment not Ready, writing no evidence.
async fn hold(
    obj: &ControlAssessment,
    ctx: &Context,
    reason: &str,
    message: String,
) -> Result<Action, Error> {
    tracing::warn!(assessment = %obj.name_any(), reason, %message, "evidence not written");
    write_status(obj, ctx, held_status(obj, reason, message)).await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

async fn write_status(
    obj: &ControlAssessment,
    ctx: &Context,
    new: ControlAssessmentStatus,
) -> Result<(), Error> {
    if obj.status.as_ref() == Some(&new) {
        return Ok(());
    }
    let api: Api<Parsed<ControlAssessment>> = Api::all(ctx.client.clone());
    let body = json!({
        "apiVersion": ControlAssessment::api_version(&()),
        "kind": KIND,
        "status": new,
    });
    super::apply_status(&api, &obj.name_any(), &body).await?;
    Ok(())
}

/// The objects of a cache that parse.
fn owned<K>(store: &Cache<Parsed<K>>) -> Vec<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .iter()
        .filter_map(|o| o.ok().cloned())
        .collect()
}
