//! The `ControlAssessment` controller: evaluates the control whenever a CloudProvider or a
//! policy changes (and at least every heartbeat), appends evidence to the trail kept in a
//! ConfigMap of the operator's namespace, and writes a small status.
//!
//! Storage: ConfigMap `perimeter-evidence-<assessment>` with `trail.json` (the newest
//! `spec.evidence.maxRecords` records, under 900 KiB, plus the anchor of the last record
//! dropped) and `assessment.json` (the full latest result, for `perimeter report --cluster`).
//! The ConfigMap is written only when a record is appended, with optimistic concurrency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use super::guard::{Invalid, Parsed};
use super::watch::Feed;
use super::{Context, FIELD_MANAGER, measured};
use crate::api::compliance::{
    ControlAssessment, ControlAssessmentStatus, CoverageRow, EvidenceHead, GapStatus,
    MaturityStatus, RequirementStatus,
};
use crate::api::{
    CloudProvider, ClusterCloudProvider, FirewallPolicy, MonitoringPolicy, PolicyStatus,
};
use crate::compliance::evidence::{self, Trail};
use crate::compliance::report::{ControlReport, Export};
use crate::compliance::{
    Assessment, ImplementationState, MAX_STATUS_GAPS, PolicyFacts, PolicyKind, ProviderFacts,
    Snapshot,
};
use crate::error::Error;

pub const KIND: &str = "ControlAssessment";
const TRAIL_KEY: &str = "trail.json";
const RESULT_KEY: &str = "assessment.json";

/// Name of the ConfigMap holding an assessment's evidence.
pub fn evidence_configmap(assessment: &str) -> String {
    format!("perimeter-evidence-{assessment}")
}

/// The namespace the operator keeps evidence in: its own.
pub fn operator_namespace() -> String {
    std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "perimeter".into())
}

/// The objects an assessment reads: the operator's watch caches, so an evaluation costs no
/// API call. Objects that do not parse are left out (their policies are reported by their
/// own controllers; a provider without readable policies shows as a gap).
#[derive(Clone)]
pub struct Sources {
    pub providers: Store<Parsed<CloudProvider>>,
    pub cluster_providers: Store<Parsed<ClusterCloudProvider>>,
    pub firewalls: Store<Parsed<FirewallPolicy>>,
    pub monitors: Store<Parsed<MonitoringPolicy>>,
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
            providers: feeds.providers.store(),
            cluster_providers: feeds.cluster_providers.store(),
            firewalls: feeds.firewalls.store(),
            monitors: feeds.monitors.store(),
        }
    }

    async fn ready(&self) -> bool {
        let all = async {
            self.providers.wait_until_ready().await.is_ok()
                && self.cluster_providers.wait_until_ready().await.is_ok()
                && self.firewalls.wait_until_ready().await.is_ok()
                && self.monitors.wait_until_ready().await.is_ok()
        };
        tokio::time::timeout(Duration::from_secs(30), all)
            .await
            .unwrap_or(false)
    }
}

fn filled<K>(objects: Vec<K>) -> Store<Parsed<K>>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    Feed::filled(objects.into_iter().map(|o| Parsed(Ok(o)))).store()
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
    let condition = ready_condition(
        previous.as_ref(),
        "False",
        crate::error::Category::InvalidSpec.reason(),
        message.clone(),
        meta.generation,
    );
    let unchanged = previous.as_ref().is_some_and(|p| {
        p.conditions.iter().any(|c| {
            c.type_ == "Ready"
                && c.reason == condition.reason
                && c.message == message
                && c.observed_generation == meta.generation
        })
    });
    if unchanged {
        return Ok(Action::await_change());
    }
    tracing::warn!(assessment = ?meta.name, field = %invalid.field, "stored ControlAssessment does not parse");
    let status = ControlAssessmentStatus {
        observed_generation: meta.generation,
        conditions: vec![condition],
        ..ControlAssessmentStatus::default()
    };
    let api: Api<Parsed<ControlAssessment>> = Api::all(ctx.client.clone());
    let body = json!({
        "apiVersion": ControlAssessment::api_version(&()),
        "kind": KIND,
        "status": status,
    });
    api.patch_status(
        meta.name.as_deref().unwrap_or_default(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
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
    let client = ctx.client.clone();
    let name = obj.name_any();
    let namespace = operator_namespace();
    let now_unix = crate::metrics::unix_now();
    let uptime = ctx.started.elapsed();
    let last_read = |kind: &str, ns: &str, name: &str| ctx.metrics.last_read(kind, ns, name);
    let freshness = Freshness {
        last_read: &last_read,
        now_unix,
        uptime,
    };
    let snapshot = snapshot_from(
        &freshness,
        &owned(&sources.providers),
        &owned(&sources.cluster_providers),
        &owned(&sources.firewalls),
        &owned(&sources.monitors),
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let cm_name = evidence_configmap(&name);
    let existing = cms.get_opt(&cm_name).await?;
    let store = format!("ConfigMap {namespace}/{cm_name}");
    let mut trail = match existing
        .as_ref()
        .and_then(|c| c.data.as_ref())
        .and_then(|d| d.get(TRAIL_KEY))
    {
        None => Trail::default(),
        Some(text) => match serde_json::from_str::<Trail>(text) {
            Ok(t) => t,
            Err(e) => {
                // Never overwrite a trail we cannot read: that would erase the evidence.
                let message = format!("{store}: {TRAIL_KEY} is not a trail ({e}); fix or move it");
                return hold(&obj, ctx, "EvidenceUnreadable", message).await;
            }
        },
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
        save_trail(&cms, existing, &cm_name, &trail, &report.result).await?;
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
    if let Some((type_, reason)) = change {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(format!(
                "{} is {} ({}/{}); evidence #{} {}",
                report.result.control,
                report.result.state,
                report.result.satisfied,
                report.result.total,
                head.map_or(0, |h| h.seq),
                head.map_or("", |h| h.digest.as_str())
            )),
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

/// The Event for a change of the implementation state: a Warning when it got worse, Normal
/// when it got better (`ComplianceImplemented` once it is implemented).
fn state_event(previous: &str, new: ImplementationState) -> Option<(EventType, &'static str)> {
    use ImplementationState::*;
    let rank = |s: ImplementationState| match s {
        NotImplemented => 0,
        PartiallyImplemented => 1,
        Implemented => 2,
    };
    let old = ImplementationState::ALL
        .into_iter()
        .find(|s| format!("{s:?}") == previous)?;
    match rank(new).cmp(&rank(old)) {
        std::cmp::Ordering::Less => Some((EventType::Warning, "ComplianceRegressed")),
        std::cmp::Ordering::Equal => None,
        _ if new == Implemented => Some((EventType::Normal, "ComplianceImplemented")),
        _ => Some((EventType::Normal, "ComplianceImproved")),
    }
}

/// Keeps the last result but marks the assessment not Ready, writing no evidence.
async fn hold(
    obj: &ControlAssessment,
    ctx: &Context,
    reason: &str,
    message: String,
) -> Result<Action, Error> {
    tracing::warn!(assessment = %obj.name_any(), reason, %message, "evidence not written");
    let status = ControlAssessmentStatus {
        observed_generation: obj.meta().generation,
        conditions: vec![ready_condition(
            obj.status.as_ref(),
            "False",
            reason,
            message,
            obj.meta().generation,
        )],
        ..obj.status.clone().unwrap_or_default()
    };
    write_status(obj, ctx, status).await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

async fn save_trail(
    cms: &Api<ConfigMap>,
    existing: Option<ConfigMap>,
    name: &str,
    trail: &Trail,
    result: &Assessment,
) -> Result<(), Error> {
    let encode =
        |v: serde_json::Result<String>| v.map_err(|e| Error::Kube(kube::Error::SerdeError(e)));
    let mut data = BTreeMap::new();
    data.insert(TRAIL_KEY.to_string(), encode(serde_json::to_string(trail))?);
    data.insert(
        RESULT_KEY.to_string(),
        encode(serde_json::to_string(result))?,
    );
    match existing {
        Some(mut cm) => {
            // Replace carries the resourceVersion read: a concurrent writer makes this fail
            // (409) instead of losing a record; the next reconcile starts over.
            cm.data = Some(data);
            cms.replace(name, &PostParams::default(), &cm).await?;
        }
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    labels: Some(BTreeMap::from([(
                        "app.kubernetes.io/managed-by".to_string(),
                        "perimeter".to_string(),
                    )])),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            };
            cms.create(&PostParams::default(), &cm).await?;
        }
    }
    Ok(())
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
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

fn ready_condition(
    previous: Option<&ControlAssessmentStatus>,
    status: &str,
    reason: &str,
    message: String,
    generation: Option<i64>,
) -> Condition {
    let carried = previous
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone());
    Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: carried.unwrap_or_else(|| Time(Timestamp::now())),
    }
}

/// The status for a report: small and free of timestamps that move without a change, so an
/// unchanged result writes nothing.
pub fn status_from(
    obj: &ControlAssessment,
    report: &ControlReport,
    trail: &Trail,
    store: &str,
) -> ControlAssessmentStatus {
    let a = &report.result;
    let generation = obj.meta().generation;
    let (ready, reason) = match a.state {
        ImplementationState::Implemented => ("True", "Implemented"),
        ImplementationState::PartiallyImplemented => ("False", "PartiallyImplemented"),
        ImplementationState::NotImplemented => ("False", "NotImplemented"),
    };
    let message = format!(
        "{} {}: {}/{} requirements satisfied, maturity {} ({}), {} gap(s)",
        a.control,
        a.state,
        a.satisfied,
        a.total,
        a.maturity.level,
        a.maturity.name,
        a.gaps.len()
    );
    ControlAssessmentStatus {
        observed_generation: generation,
        conditions: vec![ready_condition(
            obj.status.as_ref(),
            ready,
            reason,
            message,
            generation,
        )],
        state: Some(format!("{:?}", a.state)),
        score: Some(format!("{}/{}", a.satisfied, a.total)),
        maturity: Some(MaturityStatus {
            level: a.maturity.level,
            name: a.maturity.name.clone(),
            rule: a.maturity.rule.clone(),
        }),
        requirements: a
            .requirements
            .iter()
            .map(|r| RequirementStatus {
                id: r.requirement.to_string(),
                state: format!("{:?}", r.state),
                message: r.message.clone(),
            })
            .collect(),
        coverage: a
            .coverage
            .iter()
            .map(|c| CoverageRow {
                provider: c.provider.clone(),
                provider_type: c.provider_type.to_string(),
                firewall: format!("{:?}", c.firewall),
                monitoring: format!("{:?}", c.monitoring),
                alerting: format!("{:?}", c.alerting),
            })
            .collect(),
        gap_count: u32::try_from(a.gaps.len()).unwrap_or(u32::MAX),
        gaps: a
            .gaps
            .iter()
            .take(MAX_STATUS_GAPS)
            .map(|g| GapStatus {
                requirement: g.requirement.to_string(),
                subject: g.subject.clone(),
                action: g.action.clone(),
            })
            .collect(),
        evidence: trail.head().map(|h| EvidenceHead {
            seq: h.seq,
            digest: h.digest.clone(),
            recorded_at: h.recorded_at.clone(),
            store: store.to_string(),
        }),
    }
}

fn condition_status(conditions: &[Condition], type_: &str) -> Option<String> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
}

/// What the process knows of its own reads, to tell a fresh verdict from a stalled one.
pub struct Freshness<'a> {
    /// Unix time of the last successful provider read of (kind, namespace, name).
    pub last_read: &'a (dyn Fn(&str, &str, &str) -> Option<i64> + Sync),
    pub now_unix: i64,
    /// How long this process has been reconciling.
    pub uptime: Duration,
}

impl Freshness<'_> {
    /// A policy not read successfully within three sync intervals (plus two minutes) is stale,
    /// once the process has run that long. `status.lastSyncTime` cannot tell: it moves only
    /// when the status changes.
    fn stale(&self, kind: &str, meta: &ObjectMeta, controls: &crate::api::PolicyControls) -> bool {
        if controls.paused {
            return false;
        }
        let max_age =
            super::parse_interval(controls.sync_interval.as_deref()) * 3 + Duration::from_secs(120);
        if self.uptime < max_age {
            return false;
        }
        let ns = meta.namespace.as_deref().unwrap_or_default();
        let name = meta.name.as_deref().unwrap_or_default();
        (self.last_read)(kind, ns, name)
            .is_none_or(|t| u64::try_from(self.now_unix - t).unwrap_or(0) > max_age.as_secs())
    }
}

/// The facts of the cluster's objects.
pub fn snapshot_from(
    freshness: &Freshness<'_>,
    providers: &[CloudProvider],
    cluster_providers: &[ClusterCloudProvider],
    firewalls: &[FirewallPolicy],
    monitors: &[MonitoringPolicy],
) -> Snapshot {
    let fact = |namespace: String,
                name: String,
                spec: &crate::api::CloudProviderSpec,
                status: Option<&crate::api::CloudProviderStatus>| {
        let ready = status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
        ProviderFacts {
            namespace,
            name,
            provider_type: spec.provider_type,
            ready: ready.and_then(|c| match c.status.as_str() {
                "True" => Some(true),
                "False" => Some(false),
                _ => None,
            }),
            reason: ready
                .filter(|c| c.status != "True")
                .map(|c| c.reason.clone()),
        }
    };
    let providers = providers
        .iter()
        .map(|p| {
            fact(
                p.namespace().unwrap_or_default(),
                p.name_any(),
                &p.spec,
                p.status.as_ref(),
            )
        })
        .chain(cluster_providers.iter().map(|p| {
            fact(
                String::new(),
                p.name_any(),
                &p.spec.account,
                p.status.as_ref(),
            )
        }))
        .collect();
    let facts = |kind: PolicyKind,
                 meta: &ObjectMeta,
                 controls: &crate::api::PolicyControls,
                 status: Option<&PolicyStatus>,
                 alert_routes: usize| {
        let empty = PolicyStatus::default();
        let s = status.unwrap_or(&empty);
        PolicyFacts {
            kind,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            provider: controls.provider_ref.name.clone(),
            provider_kind: controls.provider_ref.kind,
            mode: controls.mode,
            paused: controls.paused,
            in_sync: evidence::in_sync_of(condition_status(&s.conditions, "InSync").as_deref()),
            drift_count: s.drift_count,
            alert_routes,
            observed_at: (freshness.last_read)(
                kind_name(kind),
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default(),
            )
            .and_then(|t| jiff::Timestamp::from_second(t).ok())
            .map(crate::compliance::rfc3339)
            .or_else(|| s.last_sync_time.clone()),
            stale: freshness.stale(kind_name(kind), meta, controls),
            digest: evidence::digest_of(s),
        }
    };
    let mut policies: Vec<PolicyFacts> = firewalls
        .iter()
        .map(|p| {
            facts(
                PolicyKind::FirewallPolicy,
                &p.metadata,
                &p.spec.controls,
                p.status.as_ref(),
                0,
            )
        })
        .collect();
    policies.extend(monitors.iter().map(|p| {
        facts(
            PolicyKind::MonitoringPolicy,
            &p.metadata,
            &p.spec.controls,
            p.status.as_ref(),
            p.spec.alert_routes(),
        )
    }));
    Snapshot {
        providers,
        policies,
    }
}

/// The objects of a cache that parse.
fn owned<K>(store: &Store<Parsed<K>>) -> Vec<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .iter()
        .filter_map(|o| o.ok().cloned())
        .collect()
}

fn kind_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::FirewallPolicy => "FirewallPolicy",
        PolicyKind::MonitoringPolicy => "MonitoringPolicy",
    }
}

/// `perimeter report --cluster`: every ControlAssessment with the result and trail the
/// operator stored, the trail checked against the head digest in the object's status.
pub async fn export_from_cluster(namespace: &str) -> Result<Export, String> {
    let client = Client::try_default()
        .await
        .map_err(|e| format!("connecting to Kubernetes: {e}"))?;
    let assessments: Api<ControlAssessment> = Api::all(client.clone());
    let cms: Api<ConfigMap> = Api::namespaced(client, namespace);
    let list = assessments
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing ControlAssessments: {e}"))?;
    let mut reports = Vec::new();
    for a in list.items {
        let mut report = report_of(&a, &cms, namespace).await?;
        // The operator writes the trail, then the status: read between the two, the trail's
        // head is one record ahead of the status. Read both again once before reporting it.
        if report
            .verification
            .problems
            .iter()
            .any(|p| p.kind == "HeadMismatch")
        {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let a = assessments
                .get(&a.name_any())
                .await
                .map_err(|e| format!("reading ControlAssessment {}: {e}", a.name_any()))?;
            report = report_of(&a, &cms, namespace).await?;
        }
        reports.push(report);
    }
    Ok(Export {
        generated_at: crate::compliance::rfc3339(Timestamp::now()),
        generated_by: format!("perimeter {} (cluster)", env!("CARGO_PKG_VERSION")),
        reports,
    })
}

/// One assessment's stored result and trail, verified against the head in its status.
async fn report_of(
    a: &ControlAssessment,
    cms: &Api<ConfigMap>,
    namespace: &str,
) -> Result<ControlReport, String> {
    let name = a.name_any();
    let cm_name = evidence_configmap(&name);
    let cm = cms
        .get_opt(&cm_name)
        .await
        .map_err(|e| format!("reading ConfigMap {namespace}/{cm_name}: {e}"))?;
    let data = cm.and_then(|c| c.data).unwrap_or_default();
    let (Some(trail), Some(result)) = (data.get(TRAIL_KEY), data.get(RESULT_KEY)) else {
        return Err(format!(
            "ControlAssessment {name}: no evidence in ConfigMap {namespace}/{cm_name} yet"
        ));
    };
    let trail: Trail = serde_json::from_str(trail)
        .map_err(|e| format!("{namespace}/{cm_name}: {TRAIL_KEY}: {e}"))?;
    let result: Assessment = serde_json::from_str(result)
        .map_err(|e| format!("{namespace}/{cm_name}: {RESULT_KEY}: {e}"))?;
    let expected = a
        .status
        .as_ref()
        .and_then(|s| s.evidence.as_ref())
        .map(|e| e.digest.clone());
    let retention = crate::compliance::retention_of(&a.spec);
    let verification = trail.verify(retention.heartbeat, expected.as_deref());
    Ok(ControlReport::new(
        &name,
        result,
        format!("ConfigMap {namespace}/{cm_name}"),
        verification,
        trail,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_per_change_of_state_in_its_direction() {
        use ImplementationState::*;
        let rows = [
            (
                "PartiallyImplemented",
                Implemented,
                Some("ComplianceImplemented"),
            ),
            ("NotImplemented", Implemented, Some("ComplianceImplemented")),
            (
                "NotImplemented",
                PartiallyImplemented,
                Some("ComplianceImproved"),
            ),
            (
                "Implemented",
                PartiallyImplemented,
                Some("ComplianceRegressed"),
            ),
            (
                "PartiallyImplemented",
                NotImplemented,
                Some("ComplianceRegressed"),
            ),
            ("Implemented", Implemented, None),
            ("Whatever", NotImplemented, None),
        ];
        for (previous, new, want) in rows {
            let got = state_event(previous, new);
            assert_eq!(got.map(|(_, reason)| reason), want, "{previous} -> {new}");
            let warning = got.is_some_and(|(t, _)| t == EventType::Warning);
            assert_eq!(
                warning,
                want == Some("ComplianceRegressed"),
                "{previous} -> {new}"
            );
        }
    }

    fn policy(paused: bool) -> FirewallPolicy {
        serde_json::from_value(json!({
            "apiVersion": "perimeter.dev/v1alpha1", "kind": "FirewallPolicy",
            "metadata": {"name": "edge", "namespace": "team"},
            "spec": {"providerRef": {"name": "cf"}, "syncInterval": "1m", "paused": paused,
                     "cloudflare": {"zoneId": "023e105f4ecef8ad9ca31a8372d0c353"}},
            "status": {"conditions": [{"type": "InSync", "status": "True", "reason": "InSync",
                       "message": "", "lastTransitionTime": "2026-11-28T10:00:00Z"}]}
        }))
        .unwrap_or_else(|e| panic!("policy: {e}"))
    }

    #[test]
    fn staleness_needs_uptime_and_an_old_or_missing_read() {
        const NOW: i64 = 1_800_000_000;
        // syncInterval 1m → stale after 3 × 60 s + 120 s = 300 s.
        let cases: [(&str, bool, u64, Option<i64>, bool); 6] = [
            ("read a minute ago", false, 3600, Some(NOW - 60), false),
            ("read 301 s ago", false, 3600, Some(NOW - 301), true),
            ("never read, running an hour", false, 3600, None, true),
            ("never read, just started", false, 10, None, false),
            ("paused is never stale", true, 3600, None, false),
            (
                "read exactly at the limit",
                false,
                3600,
                Some(NOW - 300),
                false,
            ),
        ];
        for (name, paused, uptime, read, want) in cases {
            let last_read = move |_: &str, _: &str, _: &str| read;
            let f = Freshness {
                last_read: &last_read,
                now_unix: NOW,
                uptime: Duration::from_secs(uptime),
            };
            let snap = snapshot_from(&f, &[], &[], &[policy(paused)], &[]);
            assert_eq!(snap.policies[0].stale, want, "{name}");
        }
    }
}
