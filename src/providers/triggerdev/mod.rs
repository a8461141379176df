//! Trigger.dev's public REST API (`https://api.trigger.dev`, or a self-hosted webapp; one
//! environment's secret key, `tr_prod_…`, as a bearer token): failed runs
//! (`GET /api/v1/runs`) and unresolved error groups (`GET /api/v1/errors`), read only.
//!
//! The API has no network controls and no alert channel API (alerts are set up in the
//! dashboard): the registry marks those parts `AttestedOnly`, so only an attestation covers
//! them. Lists are cursor-paged (`page[after]` ← `pagination.next`), followed for at most
//! [`MAX_PAGES`] pages. A 429 carries `x-ratelimit-reset` (epoch milliseconds) rather than
//! `Retry-After`; the shared HTTP layer waits for it.

pub mod api;
#[cfg(feature = "demo")]
mod demo;
mod kit;
pub mod model;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use self::model::TriggerdevScope;
use super::{ApplyError, Observation, Provider, Purpose, Target};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::Change;
use crate::core::normalize::Invalid;
use crate::error::{Category, Error, ProviderError};
use crate::http::RateLimiter;
use crate::http::{Auth, HttpClient, HttpSettings, Request};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub use kit::Kit;
pub use model::monitoring_target;

pub const DEFAULT_ENDPOINT: &str = "https://api.trigger.dev";

/// Trigger.dev documents 1,500 requests a minute per API key; Perimeter takes a fifth of it,
/// so the workloads that share the key keep the rest.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 300;
pub const DEFAULT_BURST: u32 = 10;

/// The page size asked for (the API's maximum).
pub const PAGE_SIZE: &str = "100";
/// How many pages one list may take: beyond it the count is reported as "at least".
pub const MAX_PAGES: usize = 20;

/// The rate-limit reset header (epoch milliseconds).
pub const RESET_HEADER: &str = "x-ratelimit-reset";

pub struct Triggerdev {
    http: HttpClient,
}

impl crate::providers::OnHttp for Triggerdev {
    fn http_mut(&mut self) -> &mut HttpClient {
        &mut self.http
    }
}

impl Triggerdev {
    pub fn new(
        spec: &CloudProviderSpec,
        key: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let mut settings = HttpSettings::new(
            "triggerdev",
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
        Self::with_settings(settings, key, metrics)
    }

    pub fn with_settings(
        mut settings: HttpSettings,
        key: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let token = key.expose().trim();
        // A personal access token would work for some routes but is user-wide: only an
        // environment's secret key is taken, so the reads stay in one environment.
        let ok = ["tr_dev_", "tr_prod_", "tr_stg_", "tr_preview_"]
            .iter()
            .any(|p| token.starts_with(p))
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(Error::CredentialsMissing(
                "the Trigger.dev credential must be an environment's secret key (tr_dev_…, \
                 tr_stg_… or tr_prod_…; a personal access token is refused)"
                    .into(),
            ));
        }
        settings.reset_epoch_ms_header = Some(RESET_HEADER);
        let http = HttpClient::new(
            settings,
            Auth::Bearer(SecretString::new(token.to_string())),
            metrics,
        )?;
        Ok(Self { http })
    }

    /// Every item of a list (following `pagination.next` for at most [`MAX_PAGES`] pages), and
    /// whether more pages were left unread.
    async fn list(
        &self,
        op: &'static str,
        path: &str,
        prefix: &str,
        filters: &[(&str, String)],
    ) -> Result<(Vec<Value>, bool), ProviderError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        let mut seen = BTreeSet::new();
        for _ in 0..MAX_PAGES {
            let mut req = Request::get(op, path).query("page[size]", PAGE_SIZE);
            for (k, v) in filters {
                req = req.query(k, v);
            }
            if let Some(a) = &after {
                req = req.query("page[after]", a);
            }
            let (status, answer) = self.http.send_json(&req).await?;
            if status == 404 {
                return Err(ProviderError::new(
                    Category::BadResponse,
                    op,
                    "HTTP 404: not found (check the endpoint)",
                ));
            }
            let page = model::page(&answer, prefix).map_err(|e| shape(op, e))?;
            out.extend(page.data.iter().cloned());
            match page.next {
                None => return Ok((out, false)),
                Some(next) if !seen.insert(next.clone()) => {
                    return Err(shape(
                        op,
                        Invalid("pagination.next repeats a page already read".into()),
                    ));
                }
                Some(next) => after = Some(next),
            }
        }
        Ok((out, true))
    }

    async fn observe_monitoring(
        &self,
        target: &Target,
        scope: &TriggerdevScope,
    ) -> Result<Observation, ProviderError> {
        let mut obs = Observation::default();
        if let Some((window, max, tasks)) = &scope.failed_runs {
            let op = "list_runs";
            let mut filters = vec![
                ("filter[status]", model::FAILED_STATUSES.join(",")),
                ("filter[createdAt][period]", window.clone()),
            ];
            if !tasks.is_empty() {
                filters.push(("filter[taskIdentifier]", tasks.join(",")));
            }
            let (runs, more) = self.list(op, "/api/v1/runs", "run_", &filters).await?;
            let (section, findings) =
                model::observed_runs(&runs, *max, window, more).map_err(|e| shape(op, e))?;
            obs.state.push(section);
            obs.findings.extend(findings);
        }
        if let Some(max) = scope.max_unresolved {
            let op = "list_errors";
            let filters = [("filter[status]", "unresolved".to_string())];
            let (groups, more) = self.list(op, "/api/v1/errors", "error_", &filters).await?;
            let (section, findings) =
                model::observed_errors(&groups, max, more).map_err(|e| shape(op, e))?;
            obs.state.push(section);
            obs.findings.extend(findings);
        }
        obs.findings
            .extend(crate::providers::manual_change_findings(
                &target.desired,
                &obs.state,
                model::READ_ONLY,
            ));
        Ok(obs)
    }
}

/// An answer that is not the documented shape: the model's reason, which quotes no provider
/// text beyond sanitised values.
fn shape(operation: &'static str, e: Invalid) -> ProviderError {
    ProviderError::new(Category::BadResponse, operation, e.0)
}

#[async_trait]
impl Provider for Triggerdev {
    fn rate_limiters(&self, _target: &Target) -> Vec<Arc<RateLimiter>> {
        vec![self.http.limiter().clone()]
    }

    fn provider_type(&self) -> ProviderType {
        ProviderType::Triggerdev
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        let op = "list_runs";
        let req = Request::get(op, "/api/v1/runs").query("page[size]", "10");
        let (status, answer) = self.http.send_json(&req).await?;
        if status == 404 {
            return Err(ProviderError::new(
                Category::BadResponse,
                op,
                "HTTP 404: not found (check the endpoint)",
            ));
        }
        model::page(&answer, "run_").map_err(|e| shape(op, e))?;
        Ok("secret key accepted".into())
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        let scope = target.scope_of::<TriggerdevScope>("observe")?;
        match target.purpose {
            Purpose::Monitoring => self.observe_monitoring(target, scope).await,
            Purpose::Firewall => Err(ProviderError::new(
                Category::InvalidSpec,
                "observe",
                "Trigger.dev has no firewall API",
            )),
        }
    }

    /// Nothing is written: failed runs and error groups are not configuration (their drift
    /// carries a `ManualChangeNeeded` finding saying what a person does).
    async fn apply(
        &self,
        target: &Target,
        _observed: &Observation,
        _plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        target
            .scope_of::<TriggerdevScope>("apply")
            .map_err(|error| ApplyError {
                applied: Vec::new(),
                error,
            })?;
        Ok(Vec::new())
    }
}
