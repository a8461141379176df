//! Supabase Management API (`https://api.supabase.com/v1`): a project's database network
//! restrictions (replaced whole by `/network-restrictions/apply`, then applied by Supabase in
//! the background), database SSL enforcement, the Auth server's rate limits, network bans and
//! service health (both read only); the projects the token sees, its boundary assets
//! ([`inventory`]). Answers are bare JSON documents, no envelope.

pub mod api;
#[cfg(feature = "demo")]
mod demo;
pub mod inventory;
mod kit;
pub mod model;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Map, Value};

use self::model::{AUTH, HEALTH, NETWORK, SSL, SupabaseScope};
use super::{ApplyError, Finding, Observation, Provider, Purpose, Target};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::normalize::Invalid;
use crate::core::{Change, Section};
use crate::error::{Category, Error, ProviderError};
use crate::http::RateLimiter;
use crate::http::{Auth, HttpClient, HttpSettings, Request, spec_segment};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub use kit::Kit;
pub use model::{firewall_target, monitoring_target};

pub const DEFAULT_ENDPOINT: &str = "https://api.supabase.com";

/// Supabase documents 60 Management API requests per minute per user, and blocks every call
/// for the next minute once it is exceeded. A token bucket lets `burst + rate` requests
/// through in any minute, so the two add up to 60.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 55;
pub const DEFAULT_BURST: u32 = 5;

/// How long an apply waits for Supabase to report network restrictions `applied`, and how
/// often it looks. Each look is one request of the per-minute budget.
/// How long a 429 without `Retry-After` holds the account (see [`HttpSettings::throttled_wait`]).
pub const THROTTLED_WAIT: Duration = Duration::from_secs(60);
const APPLY_WAIT: Duration = Duration::from_secs(30);
const APPLY_POLL: Duration = Duration::from_secs(3);

/// The order sections are written in: SSL enforcement and rate limits only close; the network
/// lists go last, so a stop part-way never leaves the project more open than it found it
/// because of a later step.
const WRITE_ORDER: [&str; 3] = [SSL, AUTH, NETWORK];

/// One section as read: its state, its findings, and its revision if the answer has one.
type Read = (Section, Vec<Finding>, Option<String>);

pub struct Supabase {
    http: HttpClient,
    apply_wait: Duration,
    apply_poll: Duration,
}

impl crate::providers::OnHttp for Supabase {
    fn http_mut(&mut self) -> &mut HttpClient {
        &mut self.http
    }
}

impl Supabase {
    pub fn new(
        spec: &CloudProviderSpec,
        token: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let mut settings = HttpSettings::new(
            "supabase",
            spec.endpoint
                .clone()
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
        );
        settings.requests_per_minute = DEFAULT_REQUESTS_PER_MINUTE;
        settings.burst = DEFAULT_BURST;
        // Once the minute's budget is spent Supabase refuses the account until the next
        // minute, with a 429 that may carry no Retry-After: wait the minute, not a backoff.
        settings.throttled_wait = Some(THROTTLED_WAIT);
        if let Some(t) = spec.request_timeout_seconds {
            settings.timeout = Duration::from_secs(u64::from(t));
        }
        if let Some(rl) = &spec.rate_limit {
            settings.requests_per_minute = rl.requests_per_minute;
            settings.burst = rl.burst.unwrap_or(settings.burst);
        }
        Self::with_settings(settings, token, metrics)
    }

    pub fn with_settings(
        settings: HttpSettings,
        token: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let http = HttpClient::new(settings, Auth::Bearer(token), metrics)?;
        Ok(Self {
            http,
            apply_wait: APPLY_WAIT,
            apply_poll: APPLY_POLL,
        })
    }

    /// How long an apply waits for network restrictions to be applied, and how often it looks.
    pub fn with_apply_wait(mut self, wait: Duration, poll: Duration) -> Self {
        self.apply_wait = wait;
        self.apply_poll = poll.max(Duration::from_millis(1));
        self
    }

    /// Sends a request and returns its JSON answer; a 404 is an error (the project does not
    /// exist, or the token cannot see it).
    async fn call(&self, req: Request) -> Result<Value, ProviderError> {
        let (status, body) = self.http.send_json(&req).await?;
        if status == 404 {
            return Err(ProviderError::new(
                Category::BadResponse,
                req.operation,
                "HTTP 404: not found (check the project ref)",
            ));
        }
        Ok(body)
    }

    /// The network restrictions, their findings and their revision.
    async fn read_network(&self, project: &str) -> Result<Read, ProviderError> {
        let op = "get_network_restrictions";
        let answer = self
            .call(Request::get(
                op,
                format!("/v1/projects/{project}/network-restrictions"),
            ))
            .await?;
        let (section, findings) = model::observed_network(&answer).map_err(|e| shape(op, e))?;
        Ok((section, findings, model::network_revision(&answer)))
    }

    async fn read_section(&self, project: &str, section: &Section) -> Result<Read, ProviderError> {
        match section.name.as_str() {
            NETWORK => self.read_network(project).await,
            SSL => {
                let op = "get_ssl_enforcement";
                let answer = self
                    .call(Request::get(
                        op,
                        format!("/v1/projects/{project}/ssl-enforcement"),
                    ))
                    .await?;
                Ok((
                    model::observed_ssl(&answer).map_err(|e| shape(op, e))?,
                    Vec::new(),
                    None,
                ))
            }
            AUTH => {
                let op = "get_auth_config";
                let answer = self
                    .call(Request::get(
                        op,
                        format!("/v1/projects/{project}/config/auth"),
                    ))
                    .await?;
                Ok((
                    model::observed_auth(&answer).map_err(|e| shape(op, e))?,
                    Vec::new(),
                    None,
                ))
            }
            HEALTH => {
                let op = "get_services_health";
                let wanted: Vec<&str> = section.items.iter().map(|i| i.key.as_str()).collect();
                let mut req = Request::get(op, format!("/v1/projects/{project}/health"));
                for service in &wanted {
                    req = req.query("services", service);
                }
                let answer = self.call(req).await?;
                let (section, findings) =
                    model::observed_health(&answer, &wanted).map_err(|e| shape(op, e))?;
                Ok((section, findings, None))
            }
            other => Err(ProviderError::new(
                Category::InvalidSpec,
                "observe",
                format!("unknown section {other}"),
            )),
        }
    }

    async fn read_bans(&self, project: &str) -> Result<Option<Finding>, ProviderError> {
        let op = "list_network_bans";
        // A read sent as POST (the API's choice): the shared layer does not retry it on 5xx,
        // but shares it like any read.
        let answer = self
            .call(
                Request::new(
                    Method::POST,
                    op,
                    format!("/v1/projects/{project}/network-bans/retrieve"),
                )
                .reads(),
            )
            .await?;
        model::bans_finding(&answer).map_err(|e| shape(op, e))
    }

    /// Replaces both CIDR lists in one call (a list the policy does not declare is sent back
    /// as observed), then waits until Supabase reports them applied.
    async fn write_network(
        &self,
        project: &str,
        target: &Target,
        observed: &Observation,
        changes: &[&Change],
    ) -> Result<Vec<String>, Partial> {
        let op = "apply_network_restrictions";
        let have = observed.state.section(NETWORK);
        let entitlement = have
            .and_then(|s| s.get(model::ENTITLEMENT))
            .and_then(|i| i.fields.get("value"))
            .and_then(Value::as_str);
        if entitlement != Some(model::ALLOWED) {
            return Err((
                Vec::new(),
                ProviderError::new(
                    Category::WriteRejected,
                    op,
                    format!("{}: nothing was written", model::NOT_ENTITLED_MESSAGE),
                ),
            ));
        }
        let lists_changed = changes.iter().any(|c| {
            matches!(c, Change::Update { key, .. } | Change::Create { key, .. }
                if key == model::V4 || key == model::V6)
        });
        let mut applied = Vec::new();
        if lists_changed {
            let want = target.desired.section(NETWORK);
            let mut body = Map::new();
            for key in [model::V4, model::V6] {
                let list = want
                    .and_then(|s| s.get(key))
                    .or_else(|| have.and_then(|s| s.get(key)))
                    .and_then(|i| i.raw.clone())
                    .ok_or_else(|| {
                        (
                            Vec::new(),
                            ProviderError::new(
                                Category::BadResponse,
                                op,
                                format!("the project's {key} was not read; nothing was written"),
                            ),
                        )
                    })?;
                body.insert(key.to_string(), list);
            }
            let answer = self
                .call(
                    Request::new(
                        Method::POST,
                        op,
                        format!("/v1/projects/{project}/network-restrictions/apply"),
                    )
                    .json(Value::Object(body)),
                )
                .await
                .map_err(|e| (Vec::new(), e))?;
            // Counted as done only on the documented answer; on any other, the next read
            // shows whether the lists were stored.
            model::observed_network(&answer).map_err(|e| {
                let mut e = shape(op, e);
                e.message = format!("{} (whether the lists were stored is unknown)", e.message);
                (Vec::new(), e)
            })?;
            applied.extend(changes.iter().map(|c| c.describe()));
        }
        if let Err(e) = self.wait_applied(project).await {
            return Err((applied, e));
        }
        if !lists_changed {
            applied.extend(changes.iter().map(|c| c.describe()));
        }
        Ok(applied)
    }

    /// Reads the network restrictions until their status is `applied`, for at most the
    /// apply wait. Still `stored` after it: a `Timeout` that says so.
    async fn wait_applied(&self, project: &str) -> Result<(), ProviderError> {
        let deadline = tokio::time::Instant::now() + self.apply_wait;
        loop {
            let (section, _, _) = self.read_network(project).await?;
            let status = section
                .get(model::STATUS)
                .and_then(|i| i.fields.get("value"))
                .and_then(Value::as_str);
            if status == Some(model::APPLIED) {
                return Ok(());
            }
            if tokio::time::Instant::now() + self.apply_poll > deadline {
                return Err(ProviderError::new(
                    Category::Timeout,
                    "get_network_restrictions",
                    format!(
                        "Supabase still reports the network restrictions as stored, not applied, after {}s",
                        self.apply_wait.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(self.apply_poll).await;
        }
    }

    async fn write_ssl(
        &self,
        project: &str,
        target: &Target,
        changes: &[&Change],
    ) -> Result<Vec<String>, ProviderError> {
        let op = "update_ssl_enforcement";
        let want = target
            .desired
            .section(SSL)
            .and_then(|s| s.get(model::DATABASE))
            .ok_or_else(|| {
                ProviderError::new(Category::InvalidSpec, op, "no SSL setting declared")
            })?;
        let body = want.raw.clone().unwrap_or(Value::Null);
        let answer = self
            .call(
                Request::new(
                    Method::PUT,
                    op,
                    format!("/v1/projects/{project}/ssl-enforcement"),
                )
                .json(body),
            )
            .await?;
        let seen = model::observed_ssl(&answer).map_err(|e| shape(op, e))?;
        if seen.get(model::DATABASE).map(|i| &i.fields) != Some(&want.fields) {
            return Err(ProviderError::new(
                Category::ProviderError,
                op,
                "Supabase answered without applying the SSL enforcement setting",
            ));
        }
        Ok(changes.iter().map(|c| c.describe()).collect())
    }

    /// One PATCH with every changed limit.
    async fn write_auth(
        &self,
        project: &str,
        target: &Target,
        changes: &[&Change],
    ) -> Result<Vec<String>, ProviderError> {
        let op = "update_auth_config";
        let want = target.desired.section(AUTH);
        let mut body = Map::new();
        for change in changes {
            let (Change::Update { key, .. } | Change::Create { key, .. }) = change else {
                continue;
            };
            if let Some(Value::Object(raw)) =
                want.and_then(|s| s.get(key)).and_then(|i| i.raw.clone())
            {
                body.extend(raw);
            }
        }
        if body.is_empty() {
            return Ok(Vec::new());
        }
        let answer = self
            .call(
                Request::new(
                    Method::PATCH,
                    op,
                    format!("/v1/projects/{project}/config/auth"),
                )
                .json(Value::Object(body.clone())),
            )
            .await?;
        if !answer.is_object() {
            return Err(shape(
                op,
                Invalid("the Auth config is not an object".into()),
            ));
        }
        for (field, value) in &body {
            if answer.get(field) != Some(value) {
                return Err(ProviderError::new(
                    Category::ProviderError,
                    op,
                    format!("Supabase answered without applying {field}"),
                ));
            }
        }
        Ok(changes.iter().map(|c| c.describe()).collect())
    }
}

/// What a write had done when it stopped, and why it stopped.
type Partial = (Vec<String>, ProviderError);

/// An answer that is not the documented shape: the model's reason, which quotes no provider
/// text beyond sanitised values.
fn shape(operation: &'static str, e: Invalid) -> ProviderError {
    ProviderError::new(Category::BadResponse, operation, e.0)
}

/// The target's project ref as a path segment.
fn project_segment(target: &Target, operation: &'static str) -> Result<String, ProviderError> {
    let scope = target.scope_of::<SupabaseScope>(operation)?;
    spec_segment(operation, "projectRef", &scope.project_ref)
}

#[async_trait]
impl Provider for Supabase {
    fn rate_limiters(&self, _target: &Target) -> Vec<Arc<RateLimiter>> {
        vec![self.http.limiter().clone()]
    }

    fn provider_type(&self) -> ProviderType {
        ProviderType::Supabase
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        let op = "list_projects";
        let answer = self.call(Request::get(op, "/v1/projects")).await?;
        match answer.as_array() {
            Some(projects) => Ok(format!(
                "access token accepted; {} project(s) visible",
                projects.len()
            )),
            None => Err(ProviderError::new(
                Category::BadResponse,
                op,
                "the project list is not a list",
            )),
        }
    }

    /// The projects the token sees (`GET /v1/projects`: one answer, the API does not page it).
    async fn inventory(&self) -> Result<Option<Vec<crate::core::inventory::Asset>>, ProviderError> {
        let op = "list_projects";
        let bad = |message: &str| ProviderError::new(Category::BadResponse, op, message);
        let answer = self.call(Request::get(op, "/v1/projects")).await?;
        let projects = answer
            .as_array()
            .ok_or_else(|| bad("the project list is not a list"))?;
        projects
            .iter()
            .map(inventory::project_asset)
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| bad("a project has no ref"))
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        let scope = target.scope_of::<SupabaseScope>("observe")?;
        let project = project_segment(target, "observe")?;
        let mut obs = Observation::default();
        for section in &target.desired.sections {
            let (seen, findings, revision) = self.read_section(&project, section).await?;
            obs.state.push(seen);
            obs.findings.extend(findings);
            obs.revision = obs.revision.or(revision);
        }
        if target.purpose == Purpose::Firewall && scope.read_bans {
            obs.findings.extend(self.read_bans(&project).await?);
        }
        Ok(obs)
    }

    async fn apply(
        &self,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let project = match project_segment(target, "apply") {
            Ok(p) => p,
            Err(error) => {
                return Err(ApplyError {
                    applied: Vec::new(),
                    error,
                });
            }
        };
        let mut applied = Vec::new();
        for section in WRITE_ORDER {
            let changes: Vec<&Change> = plan.iter().filter(|c| c.section() == section).collect();
            if changes.is_empty() {
                continue;
            }
            let result = match section {
                SSL => self
                    .write_ssl(&project, target, &changes)
                    .await
                    .map_err(|e| (Vec::new(), e)),
                AUTH => self
                    .write_auth(&project, target, &changes)
                    .await
                    .map_err(|e| (Vec::new(), e)),
                _ => {
                    self.write_network(&project, target, observed, &changes)
                        .await
                }
            };
            match result {
                Ok(done) => applied.extend(done),
                Err((done, error)) => {
                    applied.extend(done);
                    return Err(ApplyError { applied, error });
                }
            }
        }
        // Service health (`serviceHealth`) is observed only: its drift stays, with its
        // `ServiceUnhealthy` findings, until the service recovers.
        Ok(applied)
    }
}
