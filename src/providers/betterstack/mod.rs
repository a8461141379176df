//! Better Stack Uptime (`https://uptime.betterstack.com`, a team's Uptime API token as a bearer
//! token): monitors, heartbeats, escalation policies (`/api/v3/policies`) and status pages,
//! read and written; Slack integrations and the probe address list, read.
//!
//! Answers are JSON:API-like (`{"data": {"id", "type", "attributes"}}`); lists are paged and
//! carry `pagination.next`, an absolute URL that is followed only while it stays on the
//! configured endpoint and the same list ([`model::next_request`]). Better Stack publishes no
//! machine-readable API description: the shapes come from its documentation and its official
//! Terraform provider (see `emulators/src/betterstack/`, which names each source).

pub mod api;
#[cfg(feature = "demo")]
mod demo;
mod kit;
pub mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use reqwest::Method;
use serde_json::Value;

use self::model::{
    BetterstackScope, HEARTBEATS, MONITORS, Names, POLICIES, Resource, STATUS_PAGES,
};
use super::{ApplyError, Observation, Provider, Target};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::normalize::Invalid;
use crate::core::routing::AlertRoute;
use crate::core::{Change, Item};
use crate::error::{Category, Error, ProviderError};
use crate::http::RateLimiter;
use crate::http::{Auth, HttpClient, HttpSettings, Request, answer_segment};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub use kit::Kit;
pub use model::{firewall_target, monitoring_target};

pub const DEFAULT_ENDPOINT: &str = "https://uptime.betterstack.com";

/// Better Stack publishes no rate limit for the Uptime API and documents no rate-limit
/// headers, only that a 429 may come (its Terraform provider retries those with back-off).
/// One request a second on average, with a burst of 10, keeps a reconcile (two reads for
/// names, one per declared list and page) well clear of any sensible limit.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 60;
pub const DEFAULT_BURST: u32 = 10;

/// How many pages one list may take (50 resources each by default): a `next` chain longer
/// than this is refused rather than followed forever.
const MAX_PAGES: usize = 200;

/// Creates and updates go in this order, so that what a monitor or heartbeat refers to (its
/// escalation policy, by name) exists first.
const WRITE_ORDER: [&str; 4] = [POLICIES, STATUS_PAGES, MONITORS, HEARTBEATS];
/// Deletes go in this order: what refers to a policy goes before the policy.
const DELETE_ORDER: [&str; 4] = [MONITORS, HEARTBEATS, STATUS_PAGES, POLICIES];

/// The list path of a section.
fn path_of(section: &str) -> Option<&'static str> {
    match section {
        MONITORS => Some("/api/v2/monitors"),
        HEARTBEATS => Some("/api/v2/heartbeats"),
        POLICIES => Some("/api/v3/policies"),
        STATUS_PAGES => Some("/api/v2/status-pages"),
        _ => None,
    }
}

/// Bounded operation names for the metrics.
fn ops(section: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    match section {
        MONITORS => (
            "list_monitors",
            "create_monitor",
            "update_monitor",
            "delete_monitor",
        ),
        HEARTBEATS => (
            "list_heartbeats",
            "create_heartbeat",
            "update_heartbeat",
            "delete_heartbeat",
        ),
        POLICIES => (
            "list_policies",
            "create_policy",
            "update_policy",
            "delete_policy",
        ),
        _ => (
            "list_status_pages",
            "create_status_page",
            "update_status_page",
            "delete_status_page",
        ),
    }
}

pub struct Betterstack {
    http: HttpClient,
    /// The configured endpoint, which `pagination.next` links must stay on.
    base: url::Url,
    /// The time staleness is judged against (injectable for tests).
    clock: fn() -> Timestamp,
}

impl crate::providers::OnHttp for Betterstack {
    fn http_mut(&mut self) -> &mut HttpClient {
        &mut self.http
    }
}

impl Betterstack {
    pub fn new(
        spec: &CloudProviderSpec,
        credential: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let mut settings = HttpSettings::new(
            "betterstack",
            spec.endpoint
                .clone()
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
        );
        settings.requests_per_minute = DEFAULT_REQUESTS_PER_MINUTE;
        settings.burst = DEFAULT_BURST;
        if let Some(t) = spec.request_timeout_seconds {
            settings.timeout = Duration::from_secs(u64::from(t));
        }
        if let Some(rl) = &spec.rate_limit {
            settings.requests_per_minute = rl.requests_per_minute;
            settings.burst = rl.burst.unwrap_or(settings.burst);
        }
        Self::with_settings(settings, credential, metrics)
    }

    pub fn with_settings(
        settings: HttpSettings,
        credential: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let token = credential.expose().trim();
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::CredentialsMissing(
                "the Better Stack credential must be a team's Uptime API token (one word)".into(),
            ));
        }
        let base = url::Url::parse(&settings.base_url)
            .map_err(|_| Error::InvalidSpec("the Better Stack endpoint is not a URL".into()))?;
        let http = HttpClient::new(
            settings,
            Auth::Bearer(SecretString::new(token.to_string())),
            metrics,
        )?;
        Ok(Self {
            http,
            base,
            clock: Timestamp::now,
        })
    }

    /// The same client judging staleness against `clock` (tests).
    pub fn with_clock(mut self, clock: fn() -> Timestamp) -> Self {
        self.clock = clock;
        self
    }

    /// Every resource of a list, following `pagination.next` while it stays on the endpoint
    /// and on the same list.
    async fn list(&self, op: &'static str, path: &str) -> Result<Vec<Resource>, ProviderError> {
        let mut req = Request::get(op, path);
        let mut out = Vec::new();
        let mut followed = BTreeSet::new();
        for _ in 0..MAX_PAGES {
            let (status, answer) = self.http.send_json(&req).await?;
            if status == 404 {
                return Err(ProviderError::new(
                    Category::BadResponse,
                    op,
                    "HTTP 404: not found (check the endpoint)",
                ));
            }
            let page = model::page(&answer).map_err(|e| shape(op, e))?;
            out.extend(page.items);
            let Some(next) = page.next else {
                return Ok(out);
            };
            let (next_path, query) =
                model::next_request(&next, &self.base).map_err(|e| shape(op, e))?;
            if next_path != path {
                return Err(shape(
                    op,
                    Invalid(format!(
                        "pagination.next leaves {path} for another list: not followed"
                    )),
                ));
            }
            if !followed.insert(query.clone()) {
                return Err(shape(
                    op,
                    Invalid("pagination.next repeats a page already read".into()),
                ));
            }
            req = Request::get(op, path);
            req.query = query;
        }
        Err(shape(
            op,
            Invalid(format!(
                "the list has more than {MAX_PAGES} pages: not read further"
            )),
        ))
    }

    /// Escalation policies and Slack integrations: what ids in other answers resolve to. The
    /// integrations are read only when a policy's step names one (or all of them), or when
    /// `writing` (a declared step may name a Slack channel): otherwise no answer refers to them.
    async fn names(&self, writing: bool) -> Result<(Vec<Resource>, Names), ProviderError> {
        let policies = self.list("list_policies", "/api/v3/policies").await?;
        let op = "list_slack_integrations";
        let integrations = if writing || model::refers_to_slack(&policies) {
            self.list(op, "/api/v2/slack-integrations")
                .await?
                .iter()
                .map(model::slack_integration)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| shape(op, e))?
        } else {
            Vec::new()
        };
        let names = Names::new(&policies, integrations);
        Ok((policies, names))
    }

    /// The team's alert routes to Slack (escalation steps whose members are Slack
    /// integrations), for the alert-routing requirement.
    pub async fn alert_routes(&self) -> Result<Vec<AlertRoute>, ProviderError> {
        let (policies, names) = self.names(false).await?;
        Ok(model::alert_routes(&policies, &names))
    }

    /// Better Stack's probe addresses by cluster (`GET /ips-by-cluster.json`), validated.
    pub async fn probe_ips(&self) -> Result<BTreeMap<String, Vec<String>>, ProviderError> {
        let op = "list_probe_ips";
        let (status, answer) = self
            .http
            .send_json(&Request::get(op, "/ips-by-cluster.json"))
            .await?;
        if status == 404 {
            return Err(ProviderError::new(
                Category::BadResponse,
                op,
                "HTTP 404: not found",
            ));
        }
        model::probe_ips(&answer).map_err(|e| shape(op, e))
    }

    async fn create(
        &self,
        section: &str,
        want: &Item,
        names: &mut Names,
    ) -> Result<(), ProviderError> {
        let (_, op, _, _) = ops(section);
        let path = path_of(section).ok_or_else(|| unknown(section))?;
        let body = model::write_body(section, want, names).map_err(|e| invalid(op, e))?;
        let req = Request::new(Method::POST, op, path).json(body);
        let (status, answer) = self.http.send_json(&req).await?;
        if status != 201 && status != 200 {
            return Err(ProviderError::new(
                Category::WriteRejected,
                op,
                format!("HTTP {status}: not created"),
            ));
        }
        let created = self.check_answer(op, section, want, &answer, names)?;
        if section == POLICIES {
            names.policies.insert(created, want.key.clone());
        }
        Ok(())
    }

    async fn update(
        &self,
        section: &str,
        want: &Item,
        handle: &str,
        names: &Names,
    ) -> Result<(), ProviderError> {
        let (_, _, op, _) = ops(section);
        let path = path_of(section).ok_or_else(|| unknown(section))?;
        let id = answer_segment(op, "id", handle)?;
        let mut body = model::write_body(section, want, names).map_err(|e| invalid(op, e))?;
        if let Some(obj) = body.as_object_mut() {
            // Only set on create: an update keeps the page's own time zone.
            obj.remove("timezone");
        }
        let req = Request::new(Method::PATCH, op, format!("{path}/{id}")).json(body);
        let (status, answer) = self.http.send_json(&req).await?;
        if status == 404 {
            return Err(ProviderError::new(
                Category::WriteRejected,
                op,
                format!(
                    "HTTP 404: {section}[{}] is gone; nothing was written",
                    want.key
                ),
            ));
        }
        self.check_answer(op, section, want, &answer, names)?;
        Ok(())
    }

    /// A write counts only when its answer is the object written, showing every declared
    /// value. Returns the object's id.
    fn check_answer(
        &self,
        op: &'static str,
        section: &str,
        want: &Item,
        answer: &Value,
        names: &Names,
    ) -> Result<String, ProviderError> {
        let r = model::single(answer).map_err(|e| shape(op, e))?;
        let seen = model::observed_section(section, std::slice::from_ref(&r), names)
            .map_err(|e| shape(op, e))?;
        let item = seen.items.first().ok_or_else(|| unknown(section))?;
        if item.key != want.key {
            return Err(ProviderError::new(
                Category::ProviderError,
                op,
                format!(
                    "Better Stack answered with {section}[{}], not [{}]",
                    item.key, want.key
                ),
            ));
        }
        let missing = model::unwritten_fields(want, item);
        if !missing.is_empty() {
            return Err(ProviderError::new(
                Category::ProviderError,
                op,
                format!(
                    "Better Stack accepted {section}[{}] but answered other values for {}",
                    want.key,
                    missing.join(", ")
                ),
            ));
        }
        Ok(r.id)
    }

    async fn delete(&self, section: &str, handle: &str) -> Result<(), ProviderError> {
        let (_, _, _, op) = ops(section);
        let path = path_of(section).ok_or_else(|| unknown(section))?;
        let id = answer_segment(op, "id", handle)?;
        // 204, or 404 when it is already gone: both leave it absent. Anything else is not
        // Better Stack's answer (its Terraform provider's `resourceDelete` accepts only those).
        let status = self
            .http
            .send(&Request::new(Method::DELETE, op, format!("{path}/{id}")))
            .await?
            .status;
        if status != 204 && status != 404 {
            return Err(ProviderError::new(
                Category::BadResponse,
                op,
                format!("HTTP {status}: a delete answers 204; not counted as deleted"),
            ));
        }
        Ok(())
    }

    async fn apply_change(
        &self,
        change: &Change,
        target: &Target,
        observed: &Observation,
        names: &mut Names,
    ) -> Result<(), ProviderError> {
        let section = change.section();
        let desired = |key: &str| {
            target
                .desired
                .section(section)
                .and_then(|s| s.get(key))
                .ok_or_else(|| {
                    ProviderError::new(
                        Category::InvalidSpec,
                        "apply",
                        format!("{section}[{key}] is not declared"),
                    )
                })
        };
        let handle = |key: &str| {
            observed
                .state
                .section(section)
                .and_then(|s| s.get(key))
                .and_then(|i| i.handle.clone())
        };
        match change {
            Change::Create { key, .. } => self.create(section, desired(key)?, names).await,
            Change::Update { key, .. } => {
                let id = handle(key).ok_or_else(|| {
                    ProviderError::new(
                        Category::WriteRejected,
                        "apply",
                        format!("{section}[{key}] was not found at Better Stack when read"),
                    )
                })?;
                self.update(section, desired(key)?, &id, names).await
            }
            Change::Delete { key, .. } => match handle(key) {
                Some(id) => self.delete(section, &id).await,
                None => Ok(()),
            },
            Change::Reorder { .. } => Ok(()),
        }
    }
}

/// An answer that is not the documented shape: the model's reason.
fn shape(operation: &'static str, e: Invalid) -> ProviderError {
    ProviderError::new(Category::BadResponse, operation, e.0)
}

/// A declared reference that does not resolve: refused before anything is sent.
fn invalid(operation: &'static str, e: Invalid) -> ProviderError {
    ProviderError::new(Category::InvalidSpec, operation, e.0)
}

fn unknown(section: &str) -> ProviderError {
    ProviderError::new(
        Category::InvalidSpec,
        "apply",
        format!("unknown section {section}"),
    )
}

#[async_trait]
impl Provider for Betterstack {
    fn rate_limiters(&self, _target: &Target) -> Vec<Arc<RateLimiter>> {
        vec![self.http.limiter().clone()]
    }

    fn provider_type(&self) -> ProviderType {
        ProviderType::Betterstack
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        let op = "list_monitors";
        let (_, answer) = self
            .http
            .send_json(&Request::get(op, "/api/v2/monitors"))
            .await?;
        let page = model::page(&answer).map_err(|e| shape(op, e))?;
        Ok(format!(
            "API token accepted; {} monitor(s) on the first page",
            page.items.len()
        ))
    }

    /// The probe addresses of the clusters the source names (all when it names none); a
    /// named cluster Better Stack does not list is an error, never an empty part of the set.
    async fn source_addresses(
        &self,
        source: &crate::api::addressset::AddressSource,
    ) -> Result<Vec<String>, ProviderError> {
        let op = "list_probe_ips";
        let Some(probes) = &source.betterstack else {
            return Err(ProviderError::new(
                Category::InvalidSpec,
                op,
                format!("{}: not a Better Stack source", source.field()),
            ));
        };
        let by_cluster = self.probe_ips().await?;
        if probes.clusters.is_empty() {
            return Ok(by_cluster.into_values().flatten().collect());
        }
        let mut out = Vec::new();
        for (i, cluster) in probes.clusters.iter().enumerate() {
            let ips = by_cluster.get(cluster).ok_or_else(|| {
                ProviderError::new(
                    Category::BadResponse,
                    op,
                    format!(
                        "spec.source.betterstack.clusters[{i}]: Better Stack lists no cluster {:?} (it lists {})",
                        cluster,
                        by_cluster.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            out.extend(ips.iter().cloned());
        }
        Ok(out)
    }

    /// Every monitor of the team (`GET /api/v2/monitors`, paged), active ones' hosts.
    async fn monitored_hosts(&self) -> Result<Option<Vec<String>>, ProviderError> {
        let op = "list_monitors";
        let monitors = self.list(op, "/api/v2/monitors").await?;
        model::monitored_hosts(&monitors)
            .map(Some)
            .map_err(|e| shape(op, e))
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        target.scope_of::<BetterstackScope>("observe")?;
        let (policies, names) = self.names(false).await?;
        let now = (self.clock)();
        let mut obs = Observation::default();
        // Read on every pass anyway (names resolve through them): the routes come free.
        obs.alerting.routes = model::alert_routes(&policies, &names);
        for want in &target.desired.sections {
            let section = want.name.as_str();
            let (op, _, _, _) = ops(section);
            let resources = match section {
                POLICIES => policies.clone(),
                _ => {
                    let path = path_of(section).ok_or_else(|| unknown(section))?;
                    self.list(op, path).await?
                }
            };
            let seen =
                model::observed_section(section, &resources, &names).map_err(|e| shape(op, e))?;
            // Findings for the declared monitors and heartbeats only: the policy is about them.
            for (item, r) in seen.items.iter().zip(&resources) {
                if want.get(&item.key).is_none() {
                    continue;
                }
                let findings = match section {
                    MONITORS => model::monitor_findings(&item.key, r, now),
                    HEARTBEATS => model::heartbeat_findings(&item.key, r),
                    _ => Ok(Vec::new()),
                };
                obs.findings.extend(findings.map_err(|e| shape(op, e))?);
            }
            obs.state.push(seen);
        }
        Ok(obs)
    }

    async fn apply(
        &self,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let fail = |applied, error| Err(ApplyError { applied, error });
        if let Err(error) = target.scope_of::<BetterstackScope>("apply") {
            return fail(Vec::new(), error);
        }
        let writes: Vec<&Change> = WRITE_ORDER
            .iter()
            .flat_map(|s| {
                plan.iter()
                    .filter(move |c| c.section() == *s && !matches!(c, Change::Delete { .. }))
            })
            .chain(DELETE_ORDER.iter().flat_map(|s| {
                plan.iter()
                    .filter(move |c| c.section() == *s && matches!(c, Change::Delete { .. }))
            }))
            .collect();
        if writes.len()
            != plan
                .iter()
                .filter(|c| !matches!(c, Change::Reorder { .. }))
                .count()
        {
            return fail(Vec::new(), unknown("in the plan"));
        }
        // References are resolved against the team as it is now, not as it was observed.
        let needs_names = writes.iter().any(|c| !matches!(c, Change::Delete { .. }));
        let mut names = if needs_names {
            match self.names(true).await {
                Ok((_, names)) => names,
                Err(error) => return fail(Vec::new(), error),
            }
        } else {
            Names::default()
        };
        let mut applied = Vec::new();
        for change in writes {
            match self
                .apply_change(change, target, observed, &mut names)
                .await
            {
                Ok(()) => applied.push(change.describe()),
                Err(error) => return fail(applied, error),
            }
        }
        Ok(applied)
    }
}
