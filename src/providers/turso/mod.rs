//! Turso Platform API (`https://api.turso.tech`, bearer platform API token): a database's
//! access allow rules and delete protection (its configuration: one `PATCH` writes every
//! declared setting, so a write is never half-applied), and what the organisation's database
//! list, audit log and API tokens show (read only); the organisation's databases, its boundary
//! assets ([`inventory`]). Answers are bare JSON objects; errors are `{"error": "…"}`.

pub mod api;
#[cfg(feature = "demo")]
mod demo;
pub mod inventory;
mod kit;
pub mod model;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;

use crate::core::attribution::Trail;
use crate::http::RateLimiter;
use reqwest::Method;
use serde_json::Value;

use self::model::{AUDIT, CONFIG, TursoScope};
use super::{ApplyError, Finding, Observation, Provider, Purpose, Target};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::normalize::Invalid;
use crate::core::{Change, Section};
use crate::error::{Category, Error, ProviderError};
use crate::http::{
    Auth, HttpClient, HttpSettings, Request, answer_segment, sanitize, spec_segment,
};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub use kit::Kit;
pub use model::{firewall_target, monitoring_target};

pub const DEFAULT_ENDPOINT: &str = "https://api.turso.tech";

/// Turso publishes no rate limit for the Platform API (neither the spec nor the docs name one,
/// and no 429 is documented: UNCONFIRMED). Two requests a second with a burst of 20 keeps a
/// sweep of a large organisation (one request per database) from looking like abuse, and a 429
/// is still honoured (`Retry-After`, backoff) if Turso sends one.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 120;
pub const DEFAULT_BURST: u32 = 20;

/// How far back the audit log is read for changes outside Perimeter: a change stays a finding
/// for a day, long enough for a daily review, short enough that a corrected change goes.
pub const AUDIT_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Audit-log pages read at most per observation (of [`AUDIT_PAGE_SIZE`] entries each); an
/// organisation with more entries in the window is read only to that depth, and says so.
pub const AUDIT_MAX_PAGES: u32 = 10;
pub const AUDIT_PAGE_SIZE: u32 = 100;

pub struct Turso {
    http: HttpClient,
    /// The CloudProvider's `accountId`: the only organisation its policies may reach.
    organization: Option<String>,
    /// The user name of the token's user (`GET /v1/user`), read once: Perimeter's own
    /// audit-log entries carry it.
    own_user: OnceLock<String>,
}

impl crate::providers::OnHttp for Turso {
    fn http_mut(&mut self) -> &mut HttpClient {
        &mut self.http
    }
}

impl Turso {
    pub fn new(
        spec: &CloudProviderSpec,
        token: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let mut settings = HttpSettings::new(
            "turso",
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
        Self::with_settings(settings, spec.account_id.clone(), token, metrics)
    }

    pub fn with_settings(
        settings: HttpSettings,
        organization: Option<String>,
        token: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let http = HttpClient::new(settings, Auth::Bearer(token), metrics)?;
        Ok(Self {
            http,
            organization,
            own_user: OnceLock::new(),
        })
    }

    /// Sends a request and returns its JSON answer; a 404 is an error naming `what`.
    async fn call(&self, req: Request, what: &str) -> Result<Value, ProviderError> {
        let op = req.operation;
        let (status, body) = self.http.send_json(&req).await?;
        if status == 404 {
            return Err(ProviderError::new(
                Category::BadResponse,
                op,
                format!("HTTP 404: {what} not found (check the organization and database names)"),
            ));
        }
        Ok(body)
    }

    /// The target's scope, its organisation as a path segment (refused when the CloudProvider
    /// pins another one) and its database as one, if it has one.
    fn place<'t>(
        &self,
        target: &'t Target,
        op: &'static str,
    ) -> Result<(&'t TursoScope, String, Option<String>), ProviderError> {
        let scope = target.scope_of::<TursoScope>(op)?;
        if let Some(pinned) = &self.organization
            && *pinned != scope.organization
        {
            return Err(ProviderError::new(
                Category::InvalidSpec,
                op,
                format!(
                    "organization {:?} is not the CloudProvider's accountId {:?}",
                    sanitize(&scope.organization, 64),
                    sanitize(pinned, 64)
                ),
            ));
        }
        let org = spec_segment(op, "organization", &scope.organization)?;
        let db = scope
            .database
            .as_deref()
            .map(|d| spec_segment(op, "database", d))
            .transpose()?;
        Ok((scope, org, db))
    }

    async fn read_configuration(&self, org: &str, db: &str) -> Result<Value, ProviderError> {
        self.call(
            Request::get(
                "getDatabaseConfiguration",
                format!("/v1/organizations/{org}/databases/{db}/configuration"),
            ),
            "the database",
        )
        .await
    }

    /// Perimeter's own user name, read once.
    async fn own_user(&self) -> Result<String, ProviderError> {
        if let Some(user) = self.own_user.get() {
            return Ok(user.clone());
        }
        let op = "getCurrentUser";
        let answer = self.call(Request::get(op, "/v1/user"), "the user").await?;
        let user = answer
            .get("user")
            .and_then(|u| u.get("username"))
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| shape(op, Invalid("the answer has no user.username".into())))?
            .to_string();
        Ok(self.own_user.get_or_init(|| user).clone())
    }

    /// One page of the audit log, or `None` when the organisation's plan (or the token) may
    /// not read it: 402 and 403 are both documented for that, and neither says which.
    async fn audit_page(&self, org: &str, page: u32) -> Result<Option<Value>, ProviderError> {
        let req = Request::get(
            "listOrganizationAuditLogs",
            format!("/v1/organizations/{org}/audit-logs"),
        )
        .query("page", page)
        .query("page_size", AUDIT_PAGE_SIZE);
        match self.call(req, "the organization").await {
            Ok(answer) => Ok(Some(answer)),
            Err(e) if matches!(e.status, Some(402 | 403)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `ChangedOutsidePerimeter` findings for `db` in the audit window (see the model's notes
    /// on how Perimeter's own entries are told apart), or the `NotEntitled` finding when the
    /// log cannot be read.
    async fn audit_findings(
        &self,
        org: &str,
        database: &str,
    ) -> Result<(Vec<Finding>, Trail), ProviderError> {
        let own = self.own_user().await?;
        let since = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_secs(
                AUDIT_WINDOW.as_secs() as i64
            ))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let mut findings = Vec::new();
        let mut events = Vec::new();
        let trail = |events| Trail::Read {
            source: "the Turso audit log (delete protection, databases created or deleted; it has no entry for an allow-rule change)",
            since,
            events,
        };
        for page in 1..=AUDIT_MAX_PAGES {
            let Some(answer) = self.audit_page(org, page).await? else {
                let (_, finding) = model::observed_audit(false);
                findings.extend(finding.map(|mut f| {
                    f.message = format!(
                        "{}: changes to {database} outside Perimeter cannot be checked (set auditLog: Ignore to stop reading it)",
                        f.message
                    );
                    f
                }));
                return Ok((
                    findings,
                    Trail::Unreadable(
                        "the organisation's plan or the token may not read the audit log".into(),
                    ),
                ));
            };
            let read = model::audit_page(&answer, database, &own, since)
                .map_err(|e| shape("listOrganizationAuditLogs", e))?;
            findings.extend(read.findings);
            events.extend(read.events);
            if !read.more {
                return Ok((findings, trail(events)));
            }
        }
        tracing::info!(
            provider = "turso",
            pages = AUDIT_MAX_PAGES,
            "audit log read to its page limit before the end of the window"
        );
        Ok((findings, trail(events)))
    }

    /// `NetworkOpen` for every database of the organisation.
    async fn open_databases(&self, org: &str) -> Result<Vec<Finding>, ProviderError> {
        let op = "listDatabases";
        let answer = self
            .call(
                Request::get(op, format!("/v1/organizations/{org}/databases")),
                "the organization",
            )
            .await?;
        let names = model::database_names(&answer).map_err(|e| shape(op, e))?;
        let mut findings = Vec::new();
        for name in names {
            let db = answer_segment("getDatabaseConfiguration", "database name", &name)?;
            let config = self.read_configuration(org, &db).await?;
            findings.extend(
                model::network_open(&name, &config)
                    .map_err(|e| shape("getDatabaseConfiguration", e))?,
            );
        }
        Ok(findings)
    }

    async fn unscoped_tokens(&self) -> Result<Vec<Finding>, ProviderError> {
        let op = "listAPITokens";
        let answer = self
            .call(Request::get(op, "/v1/auth/api-tokens"), "the token list")
            .await?;
        model::unscoped_tokens(&answer).map_err(|e| shape(op, e))
    }

    async fn observe_database(
        &self,
        target: &Target,
        scope: &TursoScope,
        org: &str,
        db: &str,
    ) -> Result<Observation, ProviderError> {
        let mut obs = Observation::default();
        if target.desired.section(CONFIG).is_some() {
            let answer = self.read_configuration(org, db).await?;
            obs.state.push(
                model::observed_configuration(&answer)
                    .map_err(|e| shape("getDatabaseConfiguration", e))?,
            );
        }
        if scope.audit_changes {
            let database = scope.database.as_deref().unwrap_or_default();
            let (findings, trail) = self.audit_findings(org, database).await?;
            obs.findings.extend(findings);
            obs.audit = Some(trail);
        }
        Ok(obs)
    }

    async fn observe_organization(
        &self,
        target: &Target,
        scope: &TursoScope,
        org: &str,
    ) -> Result<Observation, ProviderError> {
        let mut obs = Observation::default();
        if target.desired.section(AUDIT).is_some() {
            let available = self.audit_page(org, 1).await?;
            if let Some(answer) = &available
                && !answer.get("audit_logs").is_some_and(Value::is_array)
            {
                return Err(shape(
                    "listOrganizationAuditLogs",
                    Invalid("audit_logs is not a list".into()),
                ));
            }
            let (section, finding) = model::observed_audit(available.is_some());
            obs.state.push(section);
            obs.findings.extend(finding);
        }
        if scope.open_databases {
            obs.findings.extend(self.open_databases(org).await?);
        }
        if scope.api_tokens {
            obs.findings.extend(self.unscoped_tokens().await?);
        }
        Ok(obs)
    }

    /// One `PATCH` with every declared setting (see [`model::configuration_patch`]), counted
    /// as applied only when the answer shows each of them as declared.
    async fn write_configuration(
        &self,
        org: &str,
        db: &str,
        desired: &Section,
        changes: &[&Change],
    ) -> Result<Vec<String>, ProviderError> {
        let op = "updateDatabaseConfiguration";
        let body = model::configuration_patch(desired)
            .map_err(|e| ProviderError::new(Category::InvalidSpec, op, e.0))?;
        let answer = self
            .call(
                Request::new(
                    Method::PATCH,
                    op,
                    format!("/v1/organizations/{org}/databases/{db}/configuration"),
                )
                .json(body),
                "the database",
            )
            .await?;
        let seen = model::observed_configuration(&answer).map_err(|e| {
            let mut e = shape(op, e);
            e.message = format!(
                "{} (whether the settings were stored is unknown)",
                e.message
            );
            e
        })?;
        for want in &desired.items {
            if seen.get(&want.key).map(|i| &i.fields) != Some(&want.fields) {
                return Err(ProviderError::new(
                    Category::ProviderError,
                    op,
                    format!("Turso answered without applying {}", want.key),
                ));
            }
        }
        Ok(changes.iter().map(|c| c.describe()).collect())
    }
}

/// An answer that is not the documented shape: the model's reason, which quotes no provider
/// text beyond sanitised values.
fn shape(operation: &'static str, e: Invalid) -> ProviderError {
    ProviderError::new(Category::BadResponse, operation, e.0)
}

#[async_trait]
impl Provider for Turso {
    fn rate_limiters(&self, _target: &Target) -> Vec<Arc<RateLimiter>> {
        vec![self.http.limiter().clone()]
    }

    fn provider_type(&self) -> ProviderType {
        ProviderType::Turso
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        let user = self.own_user().await?;
        let Some(org) = &self.organization else {
            return Ok(format!(
                "platform API token accepted; acting as {}",
                sanitize(&user, 64)
            ));
        };
        let op = "listDatabases";
        let segment = spec_segment(op, "accountId", org)?;
        let answer = self
            .call(
                Request::get(op, format!("/v1/organizations/{segment}/databases")),
                "the organization",
            )
            .await?;
        let count = model::database_names(&answer)
            .map_err(|e| shape(op, e))?
            .len();
        Ok(format!(
            "platform API token accepted; acting as {}; {count} database(s) in {}",
            sanitize(&user, 64),
            sanitize(org, 64)
        ))
    }

    /// The databases of the CloudProvider's organisation (`listDatabases`: one answer).
    async fn inventory(&self) -> Result<Option<Vec<crate::core::inventory::Asset>>, ProviderError> {
        let op = "listDatabases";
        let Some(org) = &self.organization else {
            return Err(ProviderError::new(
                Category::InvalidSpec,
                op,
                "spec.accountId: not set, so there is no organization whose databases to list",
            ));
        };
        let segment = spec_segment(op, "accountId", org)?;
        let answer = self
            .call(
                Request::get(op, format!("/v1/organizations/{segment}/databases")),
                "the organization",
            )
            .await?;
        let assets = inventory::database_assets(org, &answer).map_err(|e| shape(op, e))?;
        Ok(Some(assets))
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        let (scope, org, db) = self.place(target, "observe")?;
        match (target.purpose, db) {
            (Purpose::Firewall, Some(db)) => self.observe_database(target, scope, &org, &db).await,
            (Purpose::Monitoring, None) => self.observe_organization(target, scope, &org).await,
            _ => Err(ProviderError::new(
                Category::InvalidSpec,
                "observe",
                "a Turso firewall target names a database, a monitoring target none",
            )),
        }
    }

    /// The audit log, read now because a sync found drift and the policy does not have it read
    /// at every sync (`auditLog` absent).
    async fn audit_trail(
        &self,
        target: &Target,
        _drift: &[crate::core::Drift],
    ) -> Result<Trail, ProviderError> {
        let (scope, org, db) = self.place(target, "audit_trail")?;
        match (target.purpose, db) {
            (Purpose::Firewall, Some(_)) if scope.attribute_drift => {
                let database = scope.database.as_deref().unwrap_or_default();
                Ok(self.audit_findings(&org, database).await?.1)
            }
            _ => Ok(Trail::NotKept),
        }
    }

    async fn apply(
        &self,
        target: &Target,
        _observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let fail = |error| ApplyError {
            applied: Vec::new(),
            error,
        };
        let changes: Vec<&Change> = plan.iter().filter(|c| c.section() == CONFIG).collect();
        if changes.is_empty() {
            // The audit-log section is observed only: a plan without it has nothing to heal.
            return Ok(Vec::new());
        }
        let (_, org, db) = self.place(target, "apply").map_err(fail)?;
        let Some(db) = db else {
            return Err(fail(ProviderError::new(
                Category::InvalidSpec,
                "apply",
                "a configuration change without a database",
            )));
        };
        let Some(desired) = target.desired.section(CONFIG) else {
            return Err(fail(ProviderError::new(
                Category::InvalidSpec,
                "apply",
                "no configuration declared",
            )));
        };
        self.write_configuration(&org, &db, desired, &changes)
            .await
            .map_err(fail)
    }
}
