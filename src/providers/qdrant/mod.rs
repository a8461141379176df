//! Qdrant Cloud management API (`https://api.cloud.qdrant.io`, the REST/JSON gateway of the
//! gRPC services, `Authorization: apikey <management key>`): a cluster's IP allowlist, its TLS,
//! its database API keys' expiry (read only) and its built-in alerts (read only); the
//! account's clusters, its boundary assets ([`inventory`]).
//!
//! The allowlist is written with one `UpdateCluster` whose update mask names it alone
//! ([`model::ranges_update`] is the only way to build the request): without a mask the API
//! replaces the whole cluster with the body.

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
use serde_json::Value;

use self::model::{NETWORK, QdrantScope, RANGES};
use super::{ApplyError, Observation, Provider, Purpose, Target};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::Change;
use crate::core::normalize::Invalid;
use crate::error::{Category, Error, ProviderError};
use crate::http::RateLimiter;
use crate::http::{Auth, HttpClient, HttpSettings, Request, spec_segment};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub use kit::Kit;
pub use model::{firewall_target, monitoring_target};

pub const DEFAULT_ENDPOINT: &str = "https://api.cloud.qdrant.io";

/// Qdrant documents no rate limit for the management API (our notes found none: UNCONFIRMED);
/// one request a second with a small burst keeps a policy's reads (one to three requests)
/// well clear of any plausible limit, and a 429 (`RESOURCE_EXHAUSTED`) is retried as usual.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 60;
pub const DEFAULT_BURST: u32 = 5;
/// Clusters per page of `ListClusters`: the API's maximum.
const CLUSTERS_PAGE: u32 = 250;
/// A guard against a provider that keeps announcing more pages.
const MAX_PAGES: u32 = 100;

pub struct Qdrant {
    http: HttpClient,
    /// The CloudProvider's `accountId`: a management key is account-scoped, so a policy that
    /// names another account is refused before any request.
    account_id: Option<String>,
}

impl crate::providers::OnHttp for Qdrant {
    fn http_mut(&mut self) -> &mut HttpClient {
        &mut self.http
    }
}

impl Qdrant {
    pub fn new(
        spec: &CloudProviderSpec,
        key: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let mut settings = HttpSettings::new(
            "qdrant",
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
        Self::with_settings(settings, key, spec.account_id.clone(), metrics)
    }

    pub fn with_settings(
        settings: HttpSettings,
        key: SecretString,
        account_id: Option<String>,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let http = HttpClient::new(settings, Auth::Scheme("apikey", key), metrics)?;
        Ok(Self { http, account_id })
    }

    /// Sends a request and returns its JSON answer; a 404 is an error (the cluster does not
    /// exist, or is in another account).
    async fn call(&self, req: Request) -> Result<Value, ProviderError> {
        let (status, body) = self.http.send_json(&req).await?;
        if status == 404 {
            return Err(ProviderError::new(
                Category::BadResponse,
                req.operation,
                "HTTP 404: not found (check the account and cluster ids)",
            ));
        }
        Ok(body)
    }

    /// The scope's account and cluster as path segments, checked against the CloudProvider's
    /// account.
    fn segments(
        &self,
        scope: &QdrantScope,
        op: &'static str,
    ) -> Result<(String, String), ProviderError> {
        if let Some(account) = &self.account_id
            && !account.eq_ignore_ascii_case(&scope.account_id)
        {
            return Err(ProviderError::new(
                Category::InvalidSpec,
                op,
                "accountId is not the CloudProvider's account",
            ));
        }
        Ok((
            spec_segment(op, "accountId", &scope.account_id)?,
            spec_segment(op, "clusterId", &scope.cluster_id)?,
        ))
    }

    /// The cluster, checked to be the one asked for.
    async fn read_cluster(
        &self,
        scope: &QdrantScope,
        op: &'static str,
    ) -> Result<Value, ProviderError> {
        let (account, cluster) = self.segments(scope, op)?;
        let answer = self
            .call(Request::get(
                op,
                format!("/api/cluster/v1/accounts/{account}/clusters/{cluster}"),
            ))
            .await?;
        model::answer_cluster(&answer, scope)
            .cloned()
            .map_err(|e| shape(op, e))
    }

    async fn observe_firewall(
        &self,
        target: &Target,
        scope: &QdrantScope,
    ) -> Result<Observation, ProviderError> {
        let mut obs = Observation::default();
        let cluster = self.read_cluster(scope, "get_cluster").await?;
        let (sections, findings) =
            model::observed_cluster(&cluster).map_err(|e| shape("get_cluster", e))?;
        for section in sections {
            if target.desired.section(&section.name).is_some() {
                obs.state.push(section);
            }
        }
        obs.findings.extend(findings);
        obs.findings
            .extend(crate::providers::manual_change_findings(
                &target.desired,
                &obs.state,
                model::READ_ONLY,
            ));
        obs.revision = model::cluster_revision(&cluster);
        if let Some(days) = scope.key_expiry_days {
            let op = "list_database_api_keys";
            let (account, cluster_id) = self.segments(scope, op)?;
            let answer = self
                .call(
                    Request::get(
                        op,
                        format!("/api/cluster/auth/v2/accounts/{account}/database-api-keys"),
                    )
                    .query("clusterId", &cluster_id),
                )
                .await?;
            let findings =
                model::expiring_keys(&answer, &scope.cluster_id, jiff::Timestamp::now(), days)
                    .map_err(|e| shape(op, e))?;
            obs.findings.extend(findings);
        }
        Ok(obs)
    }

    async fn observe_monitoring(&self, scope: &QdrantScope) -> Result<Observation, ProviderError> {
        let mut obs = Observation::default();
        let Some(threshold) = scope.alert_threshold else {
            return Ok(obs);
        };
        let op = "list_cluster_alerts";
        let (account, cluster) = self.segments(scope, op)?;
        let answer = self
            .call(
                Request::get(
                    op,
                    format!("/api/monitoring/v1/accounts/{account}/cluster/{cluster}/alerts"),
                )
                .query("state", "CLUSTER_ALERT_STATE_FIRING"),
            )
            .await?;
        let (section, findings) =
            model::observed_alerts(&answer, threshold).map_err(|e| shape(op, e))?;
        obs.state.push(section);
        obs.findings.extend(findings);
        Ok(obs)
    }

    /// Replaces the allowlist in one masked `UpdateCluster`, from the cluster read again just
    /// before (so the body holds no stale copy of what the mask leaves alone), and counts it
    /// as done only when the answer shows the new list.
    async fn write_ranges(
        &self,
        target: &Target,
        scope: &QdrantScope,
    ) -> Result<(), ProviderError> {
        let op = "update_cluster";
        let want: Vec<String> = target
            .desired
            .section(NETWORK)
            .and_then(|s| s.get(RANGES))
            .and_then(|i| i.raw.clone())
            .and_then(|raw| serde_json::from_value(raw).ok())
            .ok_or_else(|| {
                ProviderError::new(Category::InvalidSpec, op, "no allowlist declared")
            })?;
        let cluster = self.read_cluster(scope, "get_cluster").await?;
        let update = model::ranges_update(scope, &cluster, &want)
            .map_err(|e| ProviderError::new(Category::InvalidSpec, op, e.0))?;
        let (account, cluster_id) = self.segments(scope, op)?;
        let answer = self
            .call(
                Request::new(
                    Method::PUT,
                    op,
                    format!("/api/cluster/v1/accounts/{account}/clusters/{cluster_id}"),
                )
                .json(update.body().clone()),
            )
            .await?;
        let unknown = |e: Invalid| {
            let mut e = shape(op, e);
            e.message = format!("{} (whether the allowlist changed is unknown)", e.message);
            e
        };
        let seen = model::answer_cluster(&answer, scope).map_err(unknown)?;
        let (sections, _) = model::observed_cluster(seen).map_err(unknown)?;
        let got = sections
            .iter()
            .find(|s| s.name == NETWORK)
            .and_then(|s| s.get(RANGES))
            .map(|i| &i.fields["value"]);
        if got != Some(&Value::from(want)) {
            return Err(ProviderError::new(
                Category::ProviderError,
                op,
                "Qdrant answered without applying the allowlist",
            ));
        }
        Ok(())
    }
}

/// An answer that is not the documented shape: the model's reason, which quotes no provider
/// text beyond sanitised values.
fn shape(operation: &'static str, e: Invalid) -> ProviderError {
    ProviderError::new(Category::BadResponse, operation, e.0)
}

#[async_trait]
impl Provider for Qdrant {
    fn rate_limiters(&self, _target: &Target) -> Vec<Arc<RateLimiter>> {
        vec![self.http.limiter().clone()]
    }

    fn provider_type(&self) -> ProviderType {
        ProviderType::Qdrant
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        let op = "list_clusters";
        let Some(account) = &self.account_id else {
            return Ok("no accountId on the CloudProvider: the management key is checked by the first read".into());
        };
        let account = spec_segment(op, "accountId", account)?;
        let answer = self
            .call(
                Request::get(op, format!("/api/cluster/v1/accounts/{account}/clusters"))
                    .query("pageSize", "1"),
            )
            .await?;
        if !answer.is_object() {
            return Err(shape(
                op,
                Invalid("the cluster list is not an object".into()),
            ));
        }
        Ok("management key accepted".into())
    }

    /// The clusters of the CloudProvider's account (`ListClusters`, paged by `pageToken`).
    async fn inventory(&self) -> Result<Option<Vec<crate::core::inventory::Asset>>, ProviderError> {
        let op = "list_clusters";
        let bad = |message: &str| ProviderError::new(Category::BadResponse, op, message);
        let Some(account) = &self.account_id else {
            return Err(ProviderError::new(
                Category::InvalidSpec,
                op,
                "spec.accountId: not set, so the account's clusters cannot be listed",
            ));
        };
        let segment = spec_segment(op, "accountId", account)?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut req = Request::get(op, format!("/api/cluster/v1/accounts/{segment}/clusters"))
                .query("pageSize", CLUSTERS_PAGE);
            if let Some(t) = &token {
                req = req.query("pageToken", t);
            }
            let answer = self.call(req).await?;
            let items: &[Value] = match answer.get("items") {
                // proto3 JSON leaves an empty list out.
                None | Some(Value::Null) if answer.is_object() => &[],
                Some(Value::Array(items)) => items,
                _ => return Err(bad("the cluster list has no list of items")),
            };
            for c in items {
                out.push(
                    inventory::cluster_asset(c, account)
                        .ok_or_else(|| bad("a cluster has no id"))?,
                );
            }
            let next = answer
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            match next {
                Some(t) if token.as_deref() == Some(t.as_str()) => {
                    return Err(bad("the next page is the page just read"));
                }
                Some(t) if !items.is_empty() => token = Some(t),
                _ => return Ok(Some(out)),
            }
        }
        Err(bad(&format!("more than {MAX_PAGES} pages of clusters")))
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        let scope = target.scope_of::<QdrantScope>("observe")?;
        match target.purpose {
            Purpose::Firewall => self.observe_firewall(target, scope).await,
            Purpose::Monitoring => self.observe_monitoring(scope).await,
        }
    }

    async fn apply(
        &self,
        target: &Target,
        _observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let scope = match target.scope_of::<QdrantScope>("apply") {
            Ok(s) => s,
            Err(error) => {
                return Err(ApplyError {
                    applied: Vec::new(),
                    error,
                });
            }
        };
        let changes: Vec<&Change> = plan.iter().filter(|c| c.section() == NETWORK).collect();
        if changes.is_empty() {
            // TLS (`tls`) and alerts (`alerts`) are observed only: their drift stays until
            // the cluster's owner changes them.
            return Ok(Vec::new());
        }
        // One call replaces the whole list: it is applied whole or not at all.
        self.write_ranges(target, scope)
            .await
            .map_err(|error| ApplyError {
                applied: Vec::new(),
                error,
            })?;
        Ok(changes.iter().map(|c| c.describe()).collect())
    }
}
