//! Vercel REST API: a project's firewall configuration (read from `config/active`, written
//! whole with one PUT), Attack Challenge Mode (read from the project, set with one POST),
//! system-mitigation bypass entries (one call each), the team's drains and legacy log drains,
//! and attack status (observed only); the projects of the account, its boundary assets
//! ([`inventory`]). Every call carries `teamId` when the CloudProvider names
//! a team (`accountId`); without it, calls address the token's personal account.

pub mod api;
#[cfg(feature = "demo")]
mod demo;
pub mod inventory;
mod kit;
pub mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};

use self::model::{
    ANY, ATTACK_MODE, BYPASS, CONFIG_SECTIONS, DRAINS, VercelScope, attack_findings, drain_finding,
    legacy_drain_finding, observed_drain, observed_firewall, put_body,
};
use super::{ApplyError, Finding, Observation, Provider, Target};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::{Change, Item, Section, SectionKind};
use crate::error::{Category, Error, ProviderError};
use crate::http::RateLimiter;
use crate::http::{Auth, HttpClient, HttpSettings, Request, answer_segment, spec_segment};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub use kit::Kit;
pub use model::{firewall_target, monitoring_target};

pub const DEFAULT_ENDPOINT: &str = "https://api.vercel.com";
/// Vercel publishes no per-endpoint limit for these APIs (it answers 429 with `Retry-After`,
/// which the HTTP layer honours); this default stays below the lowest general figure reported
/// for its REST API (100 requests per minute).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 90;
/// Bypass entries per page: the API's maximum.
const BYPASS_PAGE: u32 = 256;
/// A guard against a provider that keeps announcing more pages.
const MAX_PAGES: u32 = 100;
/// Projects per page of `GET /v10/projects`: the API's maximum.
const PROJECTS_PAGE: u32 = 100;

pub struct Vercel {
    http: HttpClient,
    /// `teamId` of every call; `None` for a personal account.
    team_id: Option<String>,
    /// The configuration writes this client sent: the managed rule sets they stamp with the
    /// token's user are Perimeter's.
    own: std::sync::Mutex<crate::core::attribution::OwnWrites>,
}

impl crate::providers::OnHttp for Vercel {
    fn http_mut(&mut self) -> &mut HttpClient {
        &mut self.http
    }
}

impl Vercel {
    pub fn new(
        spec: &CloudProviderSpec,
        token: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let mut settings = HttpSettings::new(
            "vercel",
            spec.endpoint
                .clone()
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
        );
        settings.requests_per_minute = DEFAULT_REQUESTS_PER_MINUTE;
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
        team_id: Option<String>,
        token: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let http = HttpClient::new(settings, Auth::Bearer(token), metrics)?;
        Ok(Self {
            http,
            team_id,
            own: std::sync::Mutex::new(Default::default()),
        })
    }

    /// A request with `teamId` when the account is a team.
    fn request(&self, method: Method, operation: &'static str, path: impl Into<String>) -> Request {
        let req = Request::new(method, operation, path);
        match &self.team_id {
            Some(team) => req.query("teamId", team),
            None => req,
        }
    }

    /// Sends a request; `Ok(None)` for a 404.
    async fn call(&self, req: Request) -> Result<Option<Value>, ProviderError> {
        let (status, body) = self.http.send_json(&req).await?;
        Ok((status != 404).then_some(body))
    }

    async fn call_present(&self, req: Request, what: &str) -> Result<Value, ProviderError> {
        let op = req.operation;
        self.call(req).await?.ok_or_else(|| {
            ProviderError::new(
                Category::BadResponse,
                op,
                format!(
                    "HTTP 404: {what} not found (check the ids and the CloudProvider's accountId)"
                ),
            )
        })
    }

    /// A write whose answer must carry its proof (`proof` names it in the error): an answer
    /// that is not JSON, or lacks the proof, is a `BadResponse`, never counted as applied.
    async fn send_checked(
        &self,
        req: Request,
        what: &str,
        proof: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Result<(), ProviderError> {
        let op = req.operation;
        match self.call(req).await? {
            None => Err(ProviderError::new(
                Category::WriteRejected,
                op,
                format!("HTTP 404: {what} not found"),
            )),
            Some(answer) if check(&answer) => Ok(()),
            Some(_) => Err(ProviderError::new(
                Category::BadResponse,
                op,
                format!("the answer has no {proof}; read again to see whether it was applied"),
            )),
        }
    }

    /// A write whose answer body is not needed (a 204 has none).
    async fn send(&self, req: Request, what: &str) -> Result<(), ProviderError> {
        let op = req.operation;
        let resp = self.http.send(&req).await?;
        if resp.status == 404 {
            return Err(ProviderError::new(
                Category::WriteRejected,
                op,
                format!("HTTP 404: {what} not found"),
            ));
        }
        Ok(())
    }

    /// The active firewall configuration. A project that never had one answers 404: it is
    /// read as an empty configuration once the project itself is confirmed to exist.
    async fn read_config(&self, project: &str) -> Result<Value, ProviderError> {
        let op = "getFirewallConfig";
        let req = self
            .request(Method::GET, op, "/v1/security/firewall/config/active")
            .query("projectId", project);
        let config = match self.call(req).await? {
            Some(config) => config,
            None => {
                self.read_project(project).await?;
                json!({"firewallEnabled": false, "rules": [], "ips": []})
            }
        };
        // The spec's required fields that the mapping reads: an answer without them is not a
        // configuration, never one with everything off.
        let shape_ok = config.get("firewallEnabled").is_some_and(Value::is_boolean)
            && ["rules", "ips"]
                .iter()
                .all(|k| config.get(*k).is_some_and(Value::is_array))
            && ["crs", "managedRules"]
                .iter()
                .all(|k| config.get(*k).is_none_or(|v| v.is_object() || v.is_null()));
        if !shape_ok {
            return Err(ProviderError::new(
                Category::BadResponse,
                op,
                "the firewall configuration is not in its documented shape",
            ));
        }
        Ok(config)
    }

    /// The project (`GET /v9/projects/{id}`), for its `security` object.
    async fn read_project(&self, project: &str) -> Result<Value, ProviderError> {
        let op = "getProject";
        let id = spec_segment(op, "projectId", project)?;
        let body = self
            .call_present(
                self.request(Method::GET, op, format!("/v9/projects/{id}")),
                "the project",
            )
            .await?;
        if !body.is_object() || body.get("security").is_some_and(|s| !s.is_object()) {
            return Err(ProviderError::new(
                Category::BadResponse,
                op,
                "the project is not in its documented shape",
            ));
        }
        Ok(body)
    }

    async fn read_bypass(&self, project: &str) -> Result<Vec<Value>, ProviderError> {
        let op = "getBypassIp";
        let mut out = Vec::new();
        let mut offset: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut req = self
                .request(Method::GET, op, "/v1/security/firewall/bypass")
                .query("projectId", project)
                .query("limit", BYPASS_PAGE);
            if let Some(after) = &offset {
                req = req.query("offset", after);
            }
            let body = self.call_present(req, "the project").await?;
            let Some(items) = body.get("result").and_then(Value::as_array) else {
                return Err(ProviderError::new(
                    Category::BadResponse,
                    op,
                    "result is not a list",
                ));
            };
            out.extend(items.iter().cloned());
            let next = body
                .get("pagination")
                .and_then(|p| p.get("Id"))
                .and_then(Value::as_str)
                .map(str::to_string);
            match next {
                Some(id) if !items.is_empty() && offset.as_deref() != Some(id.as_str()) => {
                    offset = Some(id);
                }
                _ => return Ok(out),
            }
        }
        Err(ProviderError::new(
            Category::BadResponse,
            op,
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    async fn observe_firewall(
        &self,
        target: &Target,
        project: &str,
    ) -> Result<Observation, ProviderError> {
        let declares = |names: &[&str]| {
            target
                .desired
                .sections
                .iter()
                .any(|s| names.contains(&s.name.as_str()))
        };
        let config = if declares(&CONFIG_SECTIONS) {
            self.read_config(project).await?
        } else {
            Value::Null
        };
        let security = if declares(&[ATTACK_MODE]) {
            let p = self.read_project(project).await?;
            Some(p.get("security").cloned().unwrap_or(Value::Null))
        } else {
            None
        };
        let bypass = if declares(&[BYPASS]) {
            self.read_bypass(project).await?
        } else {
            Vec::new()
        };
        let own = self.own.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(Observation {
            state: observed_firewall(&target.desired, &config, security.as_ref(), &bypass),
            findings: Vec::new(),
            revision: model::config_revision(&config),
            // The configuration names who last changed each managed rule set; nothing else
            // in it says who changed what.
            audit: declares(&[model::MANAGED]).then(|| {
                let since = jiff::Timestamp::now() - crate::core::attribution::LOOKBACK;
                let mut events = model::managed_changes(&config, project, &own);
                events.retain(|e| e.at >= since);
                crate::core::attribution::Trail::Read {
                    source: "the Vercel firewall configuration (managed rule sets)",
                    since,
                    events,
                }
            }),
            ..Default::default()
        })
    }

    async fn observe_monitoring(
        &self,
        target: &Target,
        attack_projects: &[String],
    ) -> Result<Observation, ProviderError> {
        let mut obs = Observation::default();
        if target.desired.section(DRAINS).is_some() {
            let op = "getDrains";
            let body = self
                .call_present(self.request(Method::GET, op, "/v1/drains"), "the team")
                .await?;
            let Some(drains) = body.get("drains").and_then(Value::as_array) else {
                return Err(ProviderError::new(
                    Category::BadResponse,
                    op,
                    "drains is not a list",
                ));
            };
            obs.state.push(Section::new(
                DRAINS,
                SectionKind::Unordered,
                drains.iter().filter_map(observed_drain).collect(),
            ));
            obs.findings.extend(drains.iter().filter_map(drain_finding));
            obs.findings.extend(self.legacy_drains().await?);
        }
        for project in attack_projects {
            let op = "getActiveAttackStatus";
            let req = self
                .request(Method::GET, op, "/v1/security/firewall/attack-status")
                .query("projectId", project);
            let status = self.call_present(req, "the project").await?;
            if !status.is_object() || status.get("anomalies").is_some_and(|a| !a.is_array()) {
                return Err(ProviderError::new(
                    Category::BadResponse,
                    op,
                    "the attack status is not in its documented shape",
                ));
            }
            obs.findings.extend(attack_findings(project, &status));
        }
        Ok(obs)
    }

    /// `LegacyLogDrain` findings. The spec allows a list or `{drains: [...]}` as the answer.
    async fn legacy_drains(&self) -> Result<Vec<Finding>, ProviderError> {
        let op = "getAllLogDrains";
        let body = self
            .call_present(self.request(Method::GET, op, "/v1/log-drains"), "the team")
            .await?;
        let list = match &body {
            Value::Array(items) => items,
            other => match other.get("drains").and_then(Value::as_array) {
                Some(items) => items,
                None => {
                    return Err(ProviderError::new(
                        Category::BadResponse,
                        op,
                        "the log drains are not a list",
                    ));
                }
            },
        };
        Ok(list.iter().filter_map(legacy_drain_finding).collect())
    }

    /// The one PUT for every change to the configuration's sections, built on a fresh read so
    /// that what changed since the observation is carried over, not overwritten.
    async fn put_config(
        &self,
        target: &Target,
        project: &str,
        changes: &[&Change],
    ) -> Result<(), ProviderError> {
        let mut removed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for change in changes {
            if let Change::Delete { section, key } = change {
                removed
                    .entry(section.clone())
                    .or_default()
                    .insert(key.clone());
            }
        }
        let current = self.read_config(project).await?;
        let body = put_body(&current, &target.desired, &removed);
        let op = "putFirewallConfig";
        // Recorded before sending: the rule sets are stamped while the call is in flight.
        self.own.lock().unwrap_or_else(|p| p.into_inner()).record(
            project,
            model::MANAGED,
            jiff::Timestamp::now(),
        );
        let req = self
            .request(Method::PUT, op, "/v1/security/firewall/config")
            .query("projectId", project)
            .json(body);
        let answer = self.call_present(req, "the project").await?;
        if !answer.get("active").is_some_and(Value::is_object) {
            return Err(ProviderError::new(
                Category::BadResponse,
                op,
                "the answer has no active configuration; read again to see what was applied",
            ));
        }
        Ok(())
    }

    async fn set_attack_mode(&self, target: &Target, project: &str) -> Result<(), ProviderError> {
        let op = "updateAttackChallengeMode";
        let section = target.desired.section(ATTACK_MODE);
        let value = |key: &str| {
            section
                .and_then(|s| s.get(key))
                .and_then(|i| i.fields.get("value"))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let enabled = value("enabled").as_bool().unwrap_or(false);
        let mut body = json!({"projectId": project, "attackModeEnabled": enabled});
        if let Some(until) = value("activeUntil").as_str() {
            let ts: jiff::Timestamp = until.parse().map_err(|_| {
                ProviderError::new(Category::InvalidSpec, op, "activeUntil is not a time")
            })?;
            if ts <= jiff::Timestamp::now() {
                return Err(ProviderError::new(
                    Category::InvalidSpec,
                    op,
                    format!(
                        "attackChallengeMode.activeUntil {until} has passed: not turning the mode on again"
                    ),
                ));
            }
            body["attackModeActiveUntil"] = Value::from(ts.as_millisecond());
        }
        let req = self
            .request(Method::POST, op, "/v1/security/attack-mode")
            .json(body);
        let answer = self.call_present(req, "the project").await?;
        if !answer
            .get("attackModeEnabled")
            .is_some_and(Value::is_boolean)
        {
            return Err(ProviderError::new(
                Category::BadResponse,
                op,
                "the answer has no attackModeEnabled; read again to see what was applied",
            ));
        }
        Ok(())
    }

    async fn apply_bypass(
        &self,
        target: &Target,
        observed: &Observation,
        project: &str,
        change: &Change,
    ) -> Result<(), ProviderError> {
        let path = "/v1/security/firewall/bypass";
        match change {
            Change::Create { key, .. } | Change::Update { key, .. } => {
                let op = "addBypassIp";
                let body = desired_raw(target, BYPASS, key, op)?;
                let req = self
                    .request(Method::POST, op, path)
                    .query("projectId", project)
                    .json(body);
                self.send_checked(req, "the project", "ok: true", |a| a["ok"] == true)
                    .await
            }
            Change::Delete { key, .. } => {
                let op = "removeBypassIp";
                let raw = observed
                    .state
                    .section(BYPASS)
                    .and_then(|s| s.get(key))
                    .and_then(|i| i.raw.clone())
                    .unwrap_or(Value::Null);
                let (domain, source) = key.split_once('|').unwrap_or((key, ""));
                let mut body = serde_json::Map::new();
                if domain == ANY {
                    body.insert("projectScope".into(), Value::from(true));
                } else {
                    body.insert("domain".into(), Value::from(domain));
                }
                // The address exactly as Vercel stored it, which the key may have normalised.
                match raw
                    .get("Ip")
                    .and_then(Value::as_str)
                    .filter(|ip| !ip.is_empty())
                {
                    Some(ip) => body.insert("sourceIp".into(), Value::from(ip)),
                    None if source == ANY => body.insert("allSources".into(), Value::from(true)),
                    None => body.insert("sourceIp".into(), Value::from(source)),
                };
                let req = self
                    .request(Method::DELETE, op, path)
                    .query("projectId", project)
                    .json(Value::Object(body));
                self.send_checked(req, "the bypass entry", "ok: true", |a| a["ok"] == true)
                    .await
            }
            Change::Reorder { .. } => Ok(()),
        }
    }

    async fn apply_drain(
        &self,
        target: &Target,
        observed: &Observation,
        change: &Change,
    ) -> Result<(), ProviderError> {
        let handle = |key: &str, op: &'static str| -> Result<(String, Item), ProviderError> {
            let item = observed
                .state
                .section(DRAINS)
                .and_then(|s| s.get(key))
                .cloned()
                .ok_or_else(|| {
                    ProviderError::new(
                        Category::InvalidSpec,
                        op,
                        format!("drain {key} not observed"),
                    )
                })?;
            let id = item.handle.clone().unwrap_or_default();
            Ok((answer_segment(op, "drain id", &id)?, item))
        };
        match change {
            Change::Create { key, .. } => {
                let op = "createDrain";
                let body = desired_raw(target, DRAINS, key, op)?;
                let created = self
                    .call_present(
                        self.request(Method::POST, op, "/v1/drains").json(body),
                        "the team",
                    )
                    .await?;
                // The created drain's id is what proves it was created.
                let Some(id) = created.get("id").and_then(Value::as_str) else {
                    return Err(ProviderError::new(
                        Category::BadResponse,
                        op,
                        "the answer has no drain id; read again to see whether it was created",
                    ));
                };
                if desired_enabled(target, key) {
                    return Ok(());
                }
                let id = answer_segment(op, "drain id", id)?;
                let req = self
                    .request(Method::PATCH, "updateDrain", format!("/v1/drains/{id}"))
                    .json(json!({"status": "disabled"}));
                self.send(req, "the drain").await
            }
            Change::Update { key, fields, .. } => {
                let op = "updateDrain";
                let (id, seen) = handle(key, op)?;
                let want = desired_raw(target, DRAINS, key, op)?;
                let body = drain_patch(&want, &seen, fields, desired_enabled(target, key));
                let req = self
                    .request(Method::PATCH, op, format!("/v1/drains/{id}"))
                    .json(body);
                self.send_checked(req, "the drain", "drain id", |a| a["id"] == id.as_str())
                    .await
            }
            Change::Delete { key, .. } => {
                let op = "deleteDrain";
                let (id, _) = handle(key, op)?;
                let req = self.request(Method::DELETE, op, format!("/v1/drains/{id}"));
                self.send(req, "the drain").await
            }
            Change::Reorder { .. } => Ok(()),
        }
    }
}

fn desired_raw(
    target: &Target,
    section: &str,
    key: &str,
    op: &'static str,
) -> Result<Value, ProviderError> {
    target
        .desired
        .section(section)
        .and_then(|s| s.get(key))
        .and_then(|i| i.raw.clone())
        .ok_or_else(|| {
            ProviderError::new(
                Category::InvalidSpec,
                op,
                format!("{section}[{key}] is not declared"),
            )
        })
}

fn desired_enabled(target: &Target, key: &str) -> bool {
    target
        .desired
        .section(DRAINS)
        .and_then(|s| s.get(key))
        .and_then(|i| i.fields.get("status"))
        .and_then(Value::as_str)
        != Some("disabled")
}

/// The PATCH of a drain: only what changed. A changed delivery keeps the headers and secret
/// Vercel holds (never declared: they are credentials), so updating an endpoint does not
/// drop the destination's authentication.
fn drain_patch(want: &Value, seen: &Item, fields: &[String], enabled: bool) -> Value {
    let mut body = serde_json::Map::new();
    let changed = |names: &[&str]| fields.iter().any(|f| names.contains(&f.as_str()));
    if changed(&[
        "type",
        "endpoint",
        "endpointDigest",
        "encoding",
        "compression",
    ]) {
        let mut delivery = want.get("delivery").cloned().unwrap_or(Value::Null);
        if let Some(old) = seen.raw.as_ref().and_then(|r| r.get("delivery")) {
            for key in ["headers", "secret"] {
                if let Some(v) = old.get(key).filter(|v| !v.is_null()) {
                    delivery[key] = v.clone();
                }
            }
        }
        body.insert("delivery".into(), delivery);
    }
    if changed(&["schemas"]) {
        body.insert("schemas".into(), want["schemas"].clone());
    }
    if changed(&["projects"]) {
        body.insert("projects".into(), want["projects"].clone());
        let ids = want.get("projectIds").cloned().unwrap_or(Value::Null);
        body.insert("projectIds".into(), ids);
    }
    if changed(&["sampling"]) {
        body.insert(
            "sampling".into(),
            want.get("sampling").cloned().unwrap_or(json!([])),
        );
    }
    if changed(&["status"]) {
        let status = if enabled { "enabled" } else { "disabled" };
        body.insert("status".into(), Value::from(status));
    }
    Value::Object(body)
}

/// The scope a target was built for, and the project id as a query value.
fn scope(target: &Target, operation: &'static str) -> Result<VercelScope, ProviderError> {
    let scope = target.scope_of::<VercelScope>(operation)?.clone();
    let ok = matches!(
        (&scope, target.purpose),
        (VercelScope::Project(_), super::Purpose::Firewall)
            | (VercelScope::Team { .. }, super::Purpose::Monitoring)
    );
    if !ok {
        return Err(ProviderError::new(
            Category::InvalidSpec,
            operation,
            format!("a {:?} target cannot address {scope}", target.purpose),
        ));
    }
    Ok(scope)
}

#[async_trait]
impl Provider for Vercel {
    fn rate_limiters(&self, _target: &Target) -> Vec<Arc<RateLimiter>> {
        vec![self.http.limiter().clone()]
    }

    fn provider_type(&self) -> ProviderType {
        ProviderType::Vercel
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        match &self.team_id {
            Some(team) => {
                let op = "getTeam";
                let id = spec_segment(op, "accountId", team)?;
                let body = self
                    .call_present(Request::get(op, format!("/v2/teams/{id}")), "the team")
                    .await?;
                let slug = body.get("slug").and_then(Value::as_str).unwrap_or("?");
                Ok(format!("Vercel team {}", crate::http::sanitize(slug, 64)))
            }
            None => {
                let op = "getAuthUser";
                let body = self
                    .call_present(Request::get(op, "/v2/user"), "the user")
                    .await?;
                if !body.get("user").is_some_and(Value::is_object) {
                    return Err(ProviderError::new(
                        Category::BadResponse,
                        op,
                        "the answer has no user",
                    ));
                }
                Ok("Vercel personal account".to_string())
            }
        }
    }

    /// The projects of the account (`GET /v10/projects`, paged by `pagination.next`).
    async fn inventory(&self) -> Result<Option<Vec<crate::core::inventory::Asset>>, ProviderError> {
        let op = "getProjects";
        let bad = |message: &str| ProviderError::new(Category::BadResponse, op, message);
        let mut out = Vec::new();
        let mut from: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut req = self
                .request(Method::GET, op, "/v10/projects")
                .query("limit", PROJECTS_PAGE);
            if let Some(f) = &from {
                req = req.query("from", f);
            }
            let body = self.call_present(req, "the account").await?;
            let Some(projects) = body.get("projects").and_then(Value::as_array) else {
                return Err(bad("projects is not a list"));
            };
            for p in projects {
                out.push(inventory::project_asset(p).ok_or_else(|| bad("a project has no id"))?);
            }
            match inventory::next_page(&body) {
                // A token that does not move would list the same page forever.
                Some(next) if from.as_deref() == Some(next.as_str()) => {
                    return Err(bad("the next page is the page just read"));
                }
                Some(next) if !projects.is_empty() => from = Some(next),
                _ => return Ok(Some(out)),
            }
        }
        Err(bad(&format!("more than {MAX_PAGES} pages of projects")))
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        match scope(target, "observe")? {
            VercelScope::Project(project) => self.observe_firewall(target, &project).await,
            VercelScope::Team {
                attack_status_projects,
            } => {
                self.observe_monitoring(target, &attack_status_projects)
                    .await
            }
        }
    }

    async fn apply(
        &self,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let fail = |applied: Vec<String>, error| Err(ApplyError { applied, error });
        let scope = match scope(target, "apply") {
            Ok(s) => s,
            Err(error) => return fail(Vec::new(), error),
        };
        let mut applied = Vec::new();
        let mut config_done = false;
        let mut attack_done = false;
        for change in plan {
            let section = change.section();
            let result = match &scope {
                VercelScope::Project(project) if CONFIG_SECTIONS.contains(&section) => {
                    // Every change to the configuration in one PUT, at the first of them.
                    if config_done {
                        continue;
                    }
                    config_done = true;
                    let changes: Vec<&Change> = plan
                        .iter()
                        .filter(|c| CONFIG_SECTIONS.contains(&c.section()))
                        .collect();
                    self.put_config(target, project, &changes)
                        .await
                        .map(|()| changes.iter().map(|c| c.describe()).collect())
                }
                VercelScope::Project(project) if section == ATTACK_MODE => {
                    if attack_done {
                        continue;
                    }
                    attack_done = true;
                    let changes: Vec<String> = plan
                        .iter()
                        .filter(|c| c.section() == ATTACK_MODE)
                        .map(Change::describe)
                        .collect();
                    self.set_attack_mode(target, project)
                        .await
                        .map(|()| changes)
                }
                VercelScope::Project(project) if section == BYPASS => self
                    .apply_bypass(target, observed, project, change)
                    .await
                    .map(|()| vec![change.describe()]),
                VercelScope::Team { .. } if section == DRAINS => self
                    .apply_drain(target, observed, change)
                    .await
                    .map(|()| vec![change.describe()]),
                _ => Err(ProviderError::new(
                    Category::InvalidSpec,
                    "apply",
                    format!("{section} cannot be written for {scope}"),
                )),
            };
            match result {
                Ok(done) => applied.extend(done),
                Err(error) => return fail(applied, error),
            }
        }
        Ok(applied)
    }
}
