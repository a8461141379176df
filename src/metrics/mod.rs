//! Prometheus series and the `/metrics`, `/healthz`, `/readyz` server.
//!
//! Labels are bounded: provider type, kind, operation names from code, HTTP status codes,
//! error categories, and — for per-policy series — namespace and name of the object.
//! No error text and no secret ever becomes a label.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::compliance::{
    Assessment, FRAMEWORKS, ImplementationState, Requirement, RequirementState,
};

pub mod policies;
pub use policies::PolicySeries;

/// All series of the operator, registered in one registry.
pub struct Metrics {
    registry: Registry,
    /// The per-policy series (in sync, drift, unmanaged, last sync, findings), outside the
    /// registry: see [`policies`].
    pub policies: PolicySeries,
    /// The length of the last `/metrics` answer, to size the next one.
    rendered: std::sync::atomic::AtomicUsize,
    pub reconcile_total: IntCounterVec,
    pub reconcile_duration: HistogramVec,
    pub provider_requests_total: IntCounterVec,
    /// Reads answered by an identical read of the same account instead of a request.
    pub provider_requests_shared_total: IntCounterVec,
    pub provider_up: IntGaugeVec,
    pub address_set_ready: IntGaugeVec,
    pub address_set_addresses: IntGaugeVec,
    pub changes_applied_total: IntCounterVec,
    /// Boundary assets of an account by kind, covered by a FirewallPolicy or not.
    pub assets: IntGaugeVec,
    /// Kinds of assets recorded per account (provider, namespace, name), so a kind no longer
    /// listed, or an inventory that could not be read, drops its series.
    asset_kinds: std::sync::Mutex<std::collections::HashMap<[String; 3], Vec<String>>>,
    /// 1 while this replica holds the leader Lease and runs the controllers.
    pub leader: IntGauge,
    /// Which shard this process serves (`perimeter_shard_info`).
    pub shard_info: IntGaugeVec,
    pub compliance_state: IntGaugeVec,
    pub compliance_score: GaugeVec,
    pub compliance_requirement_state: IntGaugeVec,
    pub compliance_maturity_level: IntGaugeVec,
    pub compliance_coverage: IntGaugeVec,
    pub compliance_evidence_timestamp: IntGaugeVec,
    /// Assessments published (name → control), so deleted ones can be dropped.
    known_assessments: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Hosts of each endpoint manager in scope by state (passing, failing, excepted).
    pub endpoint_hosts: IntGaugeVec,
    /// Endpoint accounts (namespace, name) written per assessment, so removed or unread ones
    /// drop their series.
    endpoint_rows: std::sync::Mutex<std::collections::HashMap<String, Vec<[String; 2]>>>,
    /// Coverage label sets written per assessment, so rows of removed providers are dropped.
    coverage_rows: std::sync::Mutex<std::collections::HashMap<String, Vec<[String; 4]>>>,
    /// Set once the process can serve its purpose (controllers started, or demo seeded).
    ready: AtomicBool,
}

const ADDRESS_SET_LABELS: [&str; 3] = ["namespace", "name", "source"];

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let gauge =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
                let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(g.clone()))?;
                Ok(g)
            };
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let reconcile_total = counter(
            "perimeter_reconcile_total",
            "Reconciliations by kind and result.",
            &["kind", "result"],
        )?;
        let reconcile_duration = HistogramVec::new(
            HistogramOpts::new(
                "perimeter_reconcile_duration_seconds",
                "Duration of one reconciliation.",
            )
            .buckets(vec![
                0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["kind"],
        )?;
        registry.register(Box::new(reconcile_duration.clone()))?;
        let provider_requests_total = counter(
            "perimeter_provider_requests_total",
            "Provider API requests by provider, operation and HTTP status code (or timeout/error).",
            &["provider", "operation", "code"],
        )?;
        let provider_requests_shared_total = counter(
            "perimeter_provider_requests_shared_total",
            "Provider API reads answered by an identical read of the same account (one in flight, or one within the operator's --share-reads-for window) instead of a request of their own, by provider and operation.",
            &["provider", "operation"],
        )?;
        let provider_up = gauge(
            "perimeter_provider_up",
            "1 when the last call to this CloudProvider succeeded, 0 otherwise.",
            &["provider", "namespace", "name"],
        )?;
        let address_set_ready = gauge(
            "perimeter_address_set_ready",
            "1 when the AddressSet's source was read and every address is valid (policies may use it), 0 otherwise.",
            &ADDRESS_SET_LABELS,
        )?;
        let address_set_addresses = gauge(
            "perimeter_address_set_addresses",
            "Addresses the AddressSet holds (0 while it is not Ready).",
            &ADDRESS_SET_LABELS,
        )?;
        let changes_applied_total = counter(
            "perimeter_changes_applied_total",
            "Changes written to providers in Enforce mode, by provider, kind and result.",
            &["provider", "kind", "result"],
        )?;
        let assets = gauge(
            "perimeter_assets",
            "Boundary assets of a provider account (zones, VPCs, security groups…) by kind, covered=\"true\" when a FirewallPolicy manages them (a monitoring account's public hostnames, kind hostname: when an active monitor checks them); no series while the inventory cannot be read (coverage unknown).",
            &["provider", "namespace", "name", "kind", "covered"],
        )?;
        let leader = IntGauge::new(
            "perimeter_leader",
            "1 when this replica is the leader (runs the controllers and writes), 0 on standby.",
        )?;
        registry.register(Box::new(leader.clone()))?;
        let shard_info = gauge(
            "perimeter_shard_info",
            "1, labelled with the shard this process serves: its --shard name (empty when unsharded or unnamed), the label selector of the policies it reconciles (empty: every policy), and whether it runs the cluster-wide controllers (accounts, address sets, assessments).",
            &["shard", "selector", "cluster_controllers"],
        )?;
        let compliance_state = gauge(
            "perimeter_compliance_state",
            "1 for the control's current implementation state in each framework, 0 for the others.",
            &["assessment", "control", "framework", "reference", "state"],
        )?;
        let compliance_score = GaugeVec::new(
            Opts::new(
                "perimeter_compliance_score",
                "Fraction of the control's requirements satisfied (verified or attested), 0..1.",
            ),
            &["assessment", "control"],
        )?;
        registry.register(Box::new(compliance_score.clone()))?;
        let compliance_requirement_state = gauge(
            "perimeter_compliance_requirement_state",
            "1 for each requirement's current state (verified, attested, gap, unknown), 0 for the others.",
            &["assessment", "control", "requirement", "state"],
        )?;
        let compliance_maturity_level = gauge(
            "perimeter_compliance_maturity_level",
            "Maturity level of the control, 0 (none) to 4 (sustained); the rule is in the README.",
            &["assessment", "control"],
        )?;
        let compliance_coverage = gauge(
            "perimeter_compliance_coverage",
            "1 when a provider's area (firewall, monitoring, alerting) is verified by its API, 2 when only an unexpired attestation covers it (no API can show it; never counted as verified), 0 otherwise; no series for an area that does not apply to the provider.",
            &["assessment", "provider", "namespace", "name", "area"],
        )?;
        let endpoint_hosts = gauge(
            "perimeter_endpoint_hosts",
            "Hosts an endpoint manager (Fleet) checked for the host-firewall requirement, by state: passing, failing (without an exception), excepted (a named, unexpired exception) or unchecked (listed by the server, checked by no endpoint policy); no series while the server cannot be read.",
            &["assessment", "namespace", "name", "state"],
        )?;
        let compliance_evidence_timestamp = gauge(
            "perimeter_compliance_evidence_timestamp_seconds",
            "Unix time of the newest evidence record of the assessment.",
            &["assessment", "control"],
        )?;
        Ok(Self {
            registry,
            compliance_state,
            compliance_score,
            compliance_requirement_state,
            compliance_maturity_level,
            compliance_coverage,
            compliance_evidence_timestamp,
            coverage_rows: Default::default(),
            endpoint_hosts,
            endpoint_rows: Default::default(),
            known_assessments: Default::default(),
            policies: PolicySeries::default(),
            rendered: std::sync::atomic::AtomicUsize::new(0),
            reconcile_total,
            reconcile_duration,
            provider_requests_total,
            provider_requests_shared_total,
            provider_up,
            address_set_ready,
            address_set_addresses,
            changes_applied_total,
            assets,
            asset_kinds: Default::default(),
            leader,
            shard_info,
            ready: AtomicBool::new(false),
        })
    }

    /// Whether the account's API answered its last call. A provider without an API (Modal)
    /// has no such series: nothing answers for it.
    pub fn record_provider_up(
        &self,
        provider: crate::api::ProviderType,
        namespace: &str,
        name: &str,
        up: bool,
    ) {
        if crate::providers::registry::without_api(provider).is_none() {
            self.provider_up
                .with_label_values(&[provider.as_str(), namespace, name])
                .set(i64::from(up));
        }
    }

    /// An AddressSet's readiness and size; `source` is `declared` or the source's field name
    /// (`betterstack`, `upstashQstash`, …).
    pub fn record_address_set(
        &self,
        namespace: &str,
        name: &str,
        source: &str,
        ready: bool,
        count: usize,
    ) {
        let labels = [namespace, name, source];
        self.address_set_ready
            .with_label_values(&labels)
            .set(i64::from(ready));
        self.address_set_addresses
            .with_label_values(&labels)
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// An account's asset counts from its inventory; `None` (not listed, or not readable)
    /// drops its series, so no stale count reads as coverage.
    pub fn record_inventory(
        &self,
        provider: &str,
        namespace: &str,
        name: &str,
        inventory: Option<&crate::api::InventoryStatus>,
    ) {
        let key = [
            provider.to_string(),
            namespace.to_string(),
            name.to_string(),
        ];
        let mut kinds = self
            .asset_kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let listed = inventory.filter(|i| i.read()).map(|i| &i.kinds[..]);
        let now: Vec<String> = listed
            .unwrap_or_default()
            .iter()
            .map(|k| k.kind.clone())
            .collect();
        for gone in kinds
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|k| !now.contains(k))
        {
            for covered in ["true", "false"] {
                let _ = self
                    .assets
                    .remove_label_values(&[provider, namespace, name, gone, covered]);
            }
        }
        for k in listed.unwrap_or_default() {
            let set = |covered: &str, n: u32| {
                self.assets
                    .with_label_values(&[provider, namespace, name, &k.kind, covered])
                    .set(i64::from(n));
            };
            set("true", k.covered);
            set("false", k.total.saturating_sub(k.covered));
        }
        if now.is_empty() {
            kinds.remove(&key);
        } else {
            kinds.insert(key, now);
        }
    }

    /// Drops a deleted AddressSet's series.
    pub fn forget_address_set(&self, namespace: &str, name: &str, source: &str) {
        let labels = [namespace, name, source];
        let _ = self.address_set_ready.remove_label_values(&labels);
        let _ = self.address_set_addresses.remove_label_values(&labels);
    }

    /// The text exposition format: the registry's families, then the per-policy ones.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        let mut text = String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))?;
        // Sized from the last answer: at 10,000 policies the text is about 10 MiB, and grown
        // by doubling it held half as much again while copying.
        let last = self.rendered.load(std::sync::atomic::Ordering::Relaxed);
        text.reserve((last + last / 8).saturating_sub(text.len()));
        self.policies.render(&mut text);
        self.rendered
            .store(text.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(text)
    }

    /// `perimeter_provider_requests_total` as (provider, operation, code, count), sorted; what
    /// `perimeter check --stats` prints.
    pub fn provider_requests(&self) -> Vec<(String, String, String, u64)> {
        let text = self.render().unwrap_or_default();
        let mut out: Vec<(String, String, String, u64)> = text
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("perimeter_provider_requests_total{")?;
                let (labels, value) = rest.split_once("} ")?;
                let label = |name: &str| {
                    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
                    let len = labels[start..].find('"')?;
                    Some(labels[start..start + len].to_string())
                };
                Some((
                    label("provider")?,
                    label("operation")?,
                    label("code")?,
                    value.trim().parse::<f64>().ok()? as u64,
                ))
            })
            .collect();
        out.sort();
        out
    }

    /// Counts a reconciliation that did no work (`deferred`: put back in the queue).
    pub fn count_reconcile(&self, kind: &str, result: &str) {
        self.reconcile_total
            .with_label_values(&[kind, result])
            .inc();
    }

    /// Counts and times one reconciliation; `result` is `success` or an error category label.
    pub fn observe_reconcile(&self, kind: &str, result: &str, elapsed: std::time::Duration) {
        self.reconcile_total
            .with_label_values(&[kind, result])
            .inc();
        self.reconcile_duration
            .with_label_values(&[kind])
            .observe(elapsed.as_secs_f64());
    }

    /// Drops a deleted policy's series so they do not linger as stale values.
    pub fn forget_policy(&self, kind: &str, namespace: &str, name: &str) {
        self.policies.forget(kind, namespace, name);
    }

    /// Unix time of the last successful provider read of a policy by this process: how the
    /// assessment tells a continuously verified policy from a stalled one.
    pub fn last_read(&self, kind: &str, namespace: &str, name: &str) -> Option<i64> {
        self.policies
            .get(kind, namespace, name)
            .and_then(|v| v.read)
            .map(|r| r.at)
    }

    /// Publishes one assessment; `evidence_at` is the Unix time of its newest evidence record.
    pub fn observe_assessment(&self, name: &str, a: &Assessment, evidence_at: Option<i64>) {
        let control = a.control.as_str();
        if let Ok(mut m) = self.known_assessments.lock() {
            m.insert(name.to_string(), control.to_string());
        }
        for f in FRAMEWORKS {
            for s in ImplementationState::ALL {
                self.compliance_state
                    .with_label_values(&[name, control, f.id, f.reference, s.label()])
                    .set(i64::from(s == a.state));
            }
        }
        self.compliance_score
            .with_label_values(&[name, control])
            .set(a.score());
        for r in Requirement::ALL {
            let current = a.requirement(r).map(|x| x.state);
            for s in RequirementState::ALL {
                self.compliance_requirement_state
                    .with_label_values(&[name, control, r.label(), s.label()])
                    .set(i64::from(current == Some(s)));
            }
        }
        self.compliance_maturity_level
            .with_label_values(&[name, control])
            .set(i64::from(a.maturity.level));
        if let Some(t) = evidence_at {
            self.compliance_evidence_timestamp
                .with_label_values(&[name, control])
                .set(t);
        }
        let mut rows = Vec::new();
        for c in &a.coverage {
            let (ns, n) = c
                .provider
                .split_once('/')
                .unwrap_or(("", c.provider.as_str()));
            for (area, cell) in [
                ("firewall", c.firewall),
                ("monitoring", c.monitoring),
                ("alerting", c.alerting),
            ] {
                let labels = [name, c.provider_type.as_str(), ns, n, area];
                if cell == crate::compliance::Cell::NotApplicable {
                    // No series rather than a 0 that reads as a gap or a magic value.
                    let _ = self.compliance_coverage.remove_label_values(&labels);
                } else {
                    self.compliance_coverage
                        .with_label_values(&labels)
                        .set(coverage_value(cell));
                }
            }
            rows.push([
                c.provider_type.as_str().to_string(),
                ns.to_string(),
                n.to_string(),
                String::new(),
            ]);
        }
        self.observe_endpoints(name, a);
        let previous = match self.coverage_rows.lock() {
            Ok(mut m) => m.insert(name.to_string(), rows.clone()),
            Err(_) => None,
        };
        for old in previous.unwrap_or_default() {
            if !rows.contains(&old) {
                for area in ["firewall", "monitoring", "alerting"] {
                    let _ = self
                        .compliance_coverage
                        .remove_label_values(&[name, &old[0], &old[1], &old[2], area]);
                }
            }
        }
    }

    /// The endpoint rows of one assessment; rows no longer there, or not read, drop their
    /// series (a count from an unread server is not current).
    fn observe_endpoints(&self, name: &str, a: &Assessment) {
        let mut rows = Vec::new();
        for r in &a.endpoints {
            if r.state == crate::compliance::Cell::Unknown {
                continue;
            }
            let (ns, n) = r
                .provider
                .split_once('/')
                .unwrap_or(("", r.provider.as_str()));
            for (state, count) in [
                ("passing", r.passing),
                ("failing", r.failing),
                ("excepted", r.excepted),
                ("unchecked", r.unchecked),
            ] {
                self.endpoint_hosts
                    .with_label_values(&[name, ns, n, state])
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
            rows.push([ns.to_string(), n.to_string()]);
        }
        let previous = match self.endpoint_rows.lock() {
            Ok(mut m) => m.insert(name.to_string(), rows.clone()),
            Err(_) => None,
        };
        for old in previous.unwrap_or_default() {
            if !rows.contains(&old) {
                self.forget_endpoint(name, &old);
            }
        }
    }

    fn forget_endpoint(&self, name: &str, row: &[String; 2]) {
        for state in ["passing", "failing", "excepted", "unchecked"] {
            let _ = self
                .endpoint_hosts
                .remove_label_values(&[name, &row[0], &row[1], state]);
        }
    }

    /// Drops the series of every assessment not in `names` (deleted ones).
    pub fn retain_assessments(&self, names: &[String]) {
        let gone: Vec<(String, String)> = match self.known_assessments.lock() {
            Ok(mut m) => {
                let gone = m
                    .iter()
                    .filter(|(n, _)| !names.contains(n))
                    .map(|(n, c)| (n.clone(), c.clone()))
                    .collect();
                m.retain(|n, _| names.contains(n));
                gone
            }
            Err(_) => Vec::new(),
        };
        for (name, control) in gone {
            self.forget_assessment(&name, &control);
        }
    }

    /// Drops every series of a deleted assessment.
    pub fn forget_assessment(&self, name: &str, control: &str) {
        for f in FRAMEWORKS {
            for s in ImplementationState::ALL {
                let _ = self.compliance_state.remove_label_values(&[
                    name,
                    control,
                    f.id,
                    f.reference,
                    s.label(),
                ]);
            }
        }
        let _ = self.compliance_score.remove_label_values(&[name, control]);
        for r in Requirement::ALL {
            for s in RequirementState::ALL {
                let _ = self.compliance_requirement_state.remove_label_values(&[
                    name,
                    control,
                    r.label(),
                    s.label(),
                ]);
            }
        }
        let _ = self
            .compliance_maturity_level
            .remove_label_values(&[name, control]);
        let _ = self
            .compliance_evidence_timestamp
            .remove_label_values(&[name, control]);
        let endpoints = match self.endpoint_rows.lock() {
            Ok(mut m) => m.remove(name),
            Err(_) => None,
        };
        for old in endpoints.unwrap_or_default() {
            self.forget_endpoint(name, &old);
        }
        let previous = match self.coverage_rows.lock() {
            Ok(mut m) => m.remove(name),
            Err(_) => None,
        };
        for old in previous.unwrap_or_default() {
            for area in ["firewall", "monitoring", "alerting"] {
                let _ = self
                    .compliance_coverage
                    .remove_label_values(&[name, &old[0], &old[1], &old[2], area]);
            }
        }
    }

    /// Records the shard this process serves (one series; set once at start-up).
    pub fn set_shard(&self, name: &str, selector: &str, cluster_controllers: bool) {
        self.shard_info.reset();
        self.shard_info
            .with_label_values(&[
                name,
                selector,
                if cluster_controllers { "true" } else { "false" },
            ])
            .set(1);
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

async fn metrics_handler(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    match metrics.render() {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn ready_handler(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    if metrics.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

/// The HTTP routes of the operator: `/metrics`, `/healthz` (alive), `/readyz` (serving).
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready_handler))
        .with_state(metrics)
}

/// Binds `addr` and serves [`router`] until the task is dropped.
pub async fn serve(
    metrics: Arc<Metrics>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(metrics)).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok((local, handle))
}

/// Seconds since the Unix epoch, for timestamp gauges.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The coverage gauge's value of a cell: attested is a value of its own, so a query for `== 1`
/// (verified) never counts an attestation.
fn coverage_value(cell: crate::compliance::Cell) -> i64 {
    match cell {
        crate::compliance::Cell::Verified => 1,
        crate::compliance::Cell::Attested => 2,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::{Metrics, coverage_value};

    #[test]
    fn series_of_deleted_assessments_are_dropped() {
        use crate::api::ProviderType;
        use crate::compliance::{Snapshot, evaluate};
        let m = Metrics::new().expect("metrics");
        let spec: crate::api::ControlAssessmentSpec =
            serde_json::from_value(serde_json::json!({"control": "DE.CM-1"})).expect("spec");
        let snap = Snapshot {
            providers: vec![crate::compliance::ProviderFacts {
                namespace: "ns".into(),
                name: "cf".into(),
                provider_type: ProviderType::Cloudflare,
                ready: Some(true),
                reason: None,
                inventory: None,
            }],
            policies: vec![],
            own_routes: vec![],
        };
        let a = evaluate(&spec, &snap, None, jiff::Timestamp::UNIX_EPOCH);
        m.observe_assessment("kept", &a, Some(1));
        m.observe_assessment("deleted", &a, Some(1));
        m.retain_assessments(&["kept".to_string()]);
        let text = m.render().expect("render");
        assert!(text.contains(r#"assessment="kept""#), "{text}");
        assert!(!text.contains(r#"assessment="deleted""#), "{text}");
        assert!(text.contains(r#"perimeter_compliance_coverage{area="firewall",assessment="kept",name="cf",namespace="ns",provider="cloudflare"} 0"#), "{text}");
    }

    /// An endpoint server's hosts by state, from the assessment; a server not read, or an
    /// assessment deleted, leaves no series behind (a stale count would read as current).
    #[test]
    fn endpoint_series_follow_the_assessment_and_vanish_when_unread() {
        use crate::compliance::endpoints::{EndpointRow, FailingHost};
        use crate::compliance::{Assessment, Cell};
        let m = Metrics::new().expect("metrics");
        let spec: crate::api::ControlAssessmentSpec =
            serde_json::from_value(serde_json::json!({"control": "DE.CM-1"})).expect("spec");
        let mut a: Assessment = crate::compliance::evaluate(
            &spec,
            &crate::compliance::Snapshot::default(),
            None,
            jiff::Timestamp::UNIX_EPOCH,
        );
        let host = |excepted: Option<&str>| FailingHost {
            host: "h".into(),
            platform: "darwin".into(),
            last_seen: String::new(),
            excepted_until: excepted.map(str::to_string),
        };
        a.endpoints = vec![EndpointRow {
            provider: "ns/fleet".into(),
            provider_type: crate::api::ProviderType::Fleet,
            state: Cell::Drifted,
            passing: 248,
            total: 250,
            failing: 1,
            excepted: 1,
            hosts: vec![host(None), host(Some("2030-01-01T00:00:00Z"))],
            policies: vec![],
            unchecked: 2,
            unchecked_hosts: vec![],
            hosts_unlisted: None,
        }];
        let series = |m: &Metrics| -> Vec<String> {
            m.render()
                .expect("render")
                .lines()
                .filter(|l| l.starts_with("perimeter_endpoint_hosts{"))
                .map(str::to_string)
                .collect()
        };
        m.observe_assessment("de-cm-1", &a, None);
        assert_eq!(
            series(&m),
            [
                r#"perimeter_endpoint_hosts{assessment="de-cm-1",name="fleet",namespace="ns",state="excepted"} 1"#,
                r#"perimeter_endpoint_hosts{assessment="de-cm-1",name="fleet",namespace="ns",state="failing"} 1"#,
                r#"perimeter_endpoint_hosts{assessment="de-cm-1",name="fleet",namespace="ns",state="passing"} 248"#,
                r#"perimeter_endpoint_hosts{assessment="de-cm-1",name="fleet",namespace="ns",state="unchecked"} 2"#,
            ]
        );
        a.endpoints[0].state = Cell::Unknown;
        m.observe_assessment("de-cm-1", &a, None);
        assert!(series(&m).is_empty(), "{:?}", series(&m));
        a.endpoints[0].state = Cell::Verified;
        m.observe_assessment("de-cm-1", &a, None);
        assert_eq!(series(&m).len(), 4);
        m.retain_assessments(&[]);
        assert!(series(&m).is_empty(), "{:?}", series(&m));
    }

    /// Counts by kind and coverage; a kind no longer listed, or an inventory that could not be
    /// read, leaves no series behind (a stale count would read as known coverage).
    #[test]
    fn asset_series_follow_the_inventory_and_vanish_when_unknown() {
        use crate::api::{AssetKindCount, InventoryStatus};
        let m = Metrics::new().expect("metrics");
        let kind = |k: &str, total, covered| AssetKindCount {
            kind: k.into(),
            total,
            covered,
        };
        let listed = |kinds: Vec<AssetKindCount>| InventoryStatus {
            total: Some(kinds.iter().map(|k| k.total).sum()),
            covered: Some(kinds.iter().map(|k| k.covered).sum()),
            kinds,
            ..InventoryStatus::default()
        };
        let series = |m: &Metrics| -> Vec<String> {
            let text = m.render().expect("render");
            text.lines()
                .filter(|l| l.starts_with("perimeter_assets{"))
                .map(str::to_string)
                .collect()
        };
        let both = listed(vec![kind("vpc", 2, 1), kind("securityGroup", 3, 1)]);
        m.record_inventory("aws", "ns", "aws", Some(&both));
        assert_eq!(
            series(&m),
            [
                r#"perimeter_assets{covered="false",kind="securityGroup",name="aws",namespace="ns",provider="aws"} 2"#,
                r#"perimeter_assets{covered="false",kind="vpc",name="aws",namespace="ns",provider="aws"} 1"#,
                r#"perimeter_assets{covered="true",kind="securityGroup",name="aws",namespace="ns",provider="aws"} 1"#,
                r#"perimeter_assets{covered="true",kind="vpc",name="aws",namespace="ns",provider="aws"} 1"#,
            ]
        );
        m.record_inventory("aws", "ns", "aws", Some(&listed(vec![kind("vpc", 2, 2)])));
        assert_eq!(series(&m).len(), 2, "{:?}", series(&m));
        let unknown = InventoryStatus {
            reason: Some("Timeout".into()),
            ..InventoryStatus::default()
        };
        m.record_inventory("aws", "ns", "aws", Some(&unknown));
        assert!(series(&m).is_empty(), "{:?}", series(&m));
    }

    /// Attested is its own value: a query for verified (`== 1`) never counts it.
    #[test]
    fn coverage_values_keep_attested_apart_from_verified() {
        use crate::compliance::Cell;
        assert_eq!(coverage_value(Cell::Verified), 1);
        assert_eq!(coverage_value(Cell::Attested), 2);
        for c in [
            Cell::Missing,
            Cell::Drifted,
            Cell::Unknown,
            Cell::Paused,
            Cell::Unverified,
        ] {
            assert_eq!(coverage_value(c), 0, "{c:?}");
        }
    }

    #[test]
    fn provider_requests_lists_every_counter_sorted() {
        let m = Metrics::new().expect("metrics");
        m.provider_requests_total
            .with_label_values(&["aws", "DescribeVpcs", "200"])
            .inc_by(2);
        m.provider_requests_total
            .with_label_values(&["aws", "CreateFlowLogs", "timeout"])
            .inc();
        let row =
            |op: &str, code: &str, n: u64| ("aws".to_string(), op.to_string(), code.to_string(), n);
        assert_eq!(
            m.provider_requests(),
            [
                row("CreateFlowLogs", "timeout", 1),
                row("DescribeVpcs", "200", 2)
            ]
        );
    }
}
