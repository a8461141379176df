//! Fleet (fleetdm), the open-source osquery manager, through its REST API
//! (`/api/v1/fleet/…`, an API token as `Authorization: Bearer`): endpoint firewalls verified
//! through the organisation's own endpoint management.
//!
//! Fleet is self-hosted, so it has no official API host: `spec.endpoint` is required, and the
//! operator's admin must allow its host (`--allow-endpoint-host`) before the token is sent
//! there (see `trust::hosts`). Reads: global and team policies, the hosts failing each managed
//! policy (`policy_id` + `policy_response=failing`, paged), and the hosts of each scope with
//! their `seen_time`. Writes: a managed policy is created (`POST …/policies`) or its query put
//! back (`PATCH …/policies/{id}`); with `unmanaged: Remove`, a `Perimeter: …` policy no longer
//! declared is deleted (`POST …/policies/delete`). No other Fleet policy is ever read as
//! Perimeter's or written. Fleet checks hosts; it does not switch firewalls on, so failing
//! hosts stay drift that only a person (or an MDM profile) fixes.

pub mod api;
pub mod audit;
#[cfg(feature = "demo")]
mod demo;
pub mod inventory;
mod kit;
pub mod model;
pub mod queries;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};

use self::model::{FleetScope, Host, Place, Policy};
use super::{ApplyError, Observation, Provider, Purpose, Target};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::Change;
use crate::core::attribution::{LOOKBACK, OwnWrites, Trail};
use crate::core::normalize::Invalid;
use crate::error::{Category, Error, ProviderError};
use crate::http::RateLimiter;
use crate::http::{Auth, HttpClient, HttpSettings, Request};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub use kit::Kit;

/// Fleet's API rate limits are the server operator's (none by default, besides the login
/// endpoints); Perimeter keeps to a modest pace on a server it shares with every agent.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 120;
pub const DEFAULT_BURST: u32 = 10;
/// Hosts per page.
pub const PER_PAGE: usize = 100;
/// Pages read per list at most (10,000 hosts per policy): beyond it the read is refused as
/// incomplete rather than reported as fewer failing hosts than there are.
pub const MAX_PAGES: usize = 100;

pub struct Fleet {
    http: HttpClient,
    /// The policy sections this client wrote, so their activities read as Perimeter's.
    own: std::sync::Mutex<OwnWrites>,
}

fn shape(operation: &'static str, e: Invalid) -> ProviderError {
    ProviderError::new(Category::BadResponse, operation, e.0)
}

fn not_found(operation: &'static str) -> ProviderError {
    ProviderError::new(
        Category::BadResponse,
        operation,
        "HTTP 404: not found (check the endpoint, and that the team exists and the token may read it)",
    )
}

impl crate::providers::OnHttp for Fleet {
    fn http_mut(&mut self) -> &mut HttpClient {
        &mut self.http
    }
}

impl Fleet {
    pub fn new(
        spec: &CloudProviderSpec,
        token: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let endpoint = spec.endpoint.clone().ok_or_else(|| {
            Error::InvalidSpec(
                "spec.endpoint: Fleet is self-hosted: set the server's URL (and have the \
                 operator's admin allow its host with --allow-endpoint-host)"
                    .into(),
            )
        })?;
        let mut settings = HttpSettings::new("fleet", endpoint);
        settings.requests_per_minute = DEFAULT_REQUESTS_PER_MINUTE;
        settings.burst = DEFAULT_BURST;
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
        let token = token.expose().trim();
        // Fleet's tokens are base64 text; anything else (a line break, a space) would end up
        // in a header, so it is refused without being quoted.
        let ok = !token.is_empty()
            && token.len() <= 1024
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=_-.".contains(c));
        if !ok {
            return Err(Error::CredentialsMissing(
                "the Fleet credential must be an API token (from My account > Get API token, \
                 or an API-only user's)"
                    .into(),
            ));
        }
        let http = HttpClient::new(
            settings,
            Auth::Bearer(SecretString::new(token.to_string())),
            metrics,
        )?;
        Ok(Self {
            http,
            own: std::sync::Mutex::new(OwnWrites::default()),
        })
    }

    async fn get(&self, req: Request) -> Result<Value, ProviderError> {
        let op = req.operation;
        let (status, answer) = self.http.send_json(&req).await?;
        if status == 404 {
            return Err(not_found(op));
        }
        Ok(answer)
    }

    /// Team name → id, from `GET /api/v1/fleet/teams` (paged).
    async fn team_ids(&self, names: &[&str]) -> Result<BTreeMap<String, u64>, ProviderError> {
        let op = "list_teams";
        let mut found = BTreeMap::new();
        if names.is_empty() {
            return Ok(found);
        }
        for page in 0..MAX_PAGES {
            let answer = self
                .get(
                    Request::get(op, "/api/v1/fleet/teams")
                        .query("page", page)
                        .query("per_page", PER_PAGE),
                )
                .await?;
            let teams = match answer.get("teams") {
                Some(Value::Array(a)) => a.clone(),
                Some(Value::Null) => Vec::new(),
                _ => return Err(shape(op, Invalid("the answer has no teams list".into()))),
            };
            for t in &teams {
                let (Some(id), Some(name)) = (
                    t.get("id").and_then(Value::as_u64),
                    t.get("name").and_then(Value::as_str),
                ) else {
                    return Err(shape(op, Invalid("a team without id or name".into())));
                };
                if names.contains(&name) {
                    found.insert(name.to_string(), id);
                }
            }
            if teams.len() < PER_PAGE {
                break;
            }
        }
        for (i, n) in names.iter().enumerate() {
            if !found.contains_key(*n) {
                return Err(ProviderError::new(
                    Category::InvalidSpec,
                    op,
                    format!("teams[{i}]: no Fleet team named {n:?} is visible to this token"),
                ));
            }
        }
        Ok(found)
    }

    fn policies_path(team: Option<u64>) -> String {
        match team {
            None => "/api/v1/fleet/global/policies".into(),
            Some(id) => format!("/api/v1/fleet/teams/{id}/policies"),
        }
    }

    async fn list_policies(&self, team: Option<u64>) -> Result<Vec<Policy>, ProviderError> {
        let op = "list_policies";
        let answer = self
            .get(Request::get(op, Self::policies_path(team)))
            .await?;
        model::policies(&answer).map_err(|e| shape(op, e))
    }

    /// Every host of a listing (`page` from 0 until a short page).
    async fn list_hosts(
        &self,
        op: &'static str,
        filters: &[(&str, String)],
    ) -> Result<Vec<Host>, ProviderError> {
        let mut out = Vec::new();
        for page in 0..MAX_PAGES {
            let mut req = Request::get(op, "/api/v1/fleet/hosts")
                .query("page", page)
                .query("per_page", PER_PAGE);
            for (k, v) in filters {
                req = req.query(k, v);
            }
            let answer = self.get(req).await?;
            let hosts = model::hosts(&answer).map_err(|e| shape(op, e))?;
            let short = hosts.len() < PER_PAGE;
            out.extend(hosts);
            if short {
                return Ok(out);
            }
        }
        Err(ProviderError::new(
            Category::BadResponse,
            op,
            format!(
                "more than {} hosts: the list was not read whole",
                MAX_PAGES * PER_PAGE
            ),
        ))
    }

    fn team_filter(team: Option<u64>) -> Vec<(&'static str, String)> {
        team.map(|t| vec![("team_id", t.to_string())])
            .unwrap_or_default()
    }

    async fn resolve_places(
        &self,
        scope: &FleetScope,
    ) -> Result<Vec<(Place, Option<u64>)>, ProviderError> {
        let names: Vec<&str> = scope
            .places
            .iter()
            .filter_map(|p| p.team.as_deref())
            .collect();
        let ids = self.team_ids(&names).await?;
        Ok(scope
            .places
            .iter()
            .map(|p| (p.clone(), p.team.as_ref().and_then(|t| ids.get(t).copied())))
            .collect())
    }

    async fn observe_firewall(&self, scope: &FleetScope) -> Result<Observation, ProviderError> {
        let now = jiff::Timestamp::now();
        let mut obs = Observation::default();
        for (place, team) in self.resolve_places(scope).await? {
            let listed = self.list_policies(team).await?;
            obs.state.push(model::observed_policies(&place, &listed));
            let mut failing = Vec::new();
            for check in &scope.checks {
                let Some(p) = listed.iter().find(|p| p.name == check.name) else {
                    continue;
                };
                obs.findings.push(model::pass_ratio(&place, p));
                let mut filters = Self::team_filter(team);
                filters.push(("policy_id", p.id.to_string()));
                filters.push(("policy_response", "failing".into()));
                let hosts = self.list_hosts("list_failing_hosts", &filters).await?;
                failing.push((p.name.clone(), hosts));
            }
            let (section, findings) =
                model::failing_hosts(&place, &failing, &scope.exceptions, now);
            obs.state.push(section);
            obs.findings.extend(findings);
            let all = self
                .list_hosts("list_hosts", &Self::team_filter(team))
                .await?;
            obs.findings.extend(model::stale_hosts(
                &place,
                &all,
                scope.stale_after_days,
                now,
            ));
        }
        let fix: Vec<(String, &str)> = scope
            .places
            .iter()
            .map(|p| (p.section(model::FAILING_HOSTS), model::FIX_HOSTS))
            .collect();
        let read_only: Vec<(&str, &str)> = fix.iter().map(|(s, w)| (s.as_str(), *w)).collect();
        obs.findings
            .extend(crate::providers::manual_change_findings(
                &desired_of(scope),
                &obs.state,
                &read_only,
            ));
        Ok(obs)
    }

    async fn observe_monitoring(&self, scope: &FleetScope) -> Result<Observation, ProviderError> {
        let now = jiff::Timestamp::now();
        let mut obs = Observation::default();
        let max = scope.max_stale.unwrap_or(0);
        for (place, team) in self.resolve_places(scope).await? {
            let all = self
                .list_hosts("list_hosts", &Self::team_filter(team))
                .await?;
            let stale = model::stale_hosts(&place, &all, scope.stale_after_days, now);
            obs.state
                .push(model::observed_stale(&place, stale.len(), max));
            obs.findings.extend(stale);
        }
        Ok(obs)
    }

    async fn apply_change(
        &self,
        target: &Target,
        observed: &Observation,
        team_ids: &BTreeMap<String, u64>,
        change: &Change,
    ) -> Result<Option<String>, ProviderError> {
        let section = change.section();
        let Some(place) = target
            .desired
            .section(section)
            .and_then(|s| s.locator::<Place>())
        else {
            return Err(ProviderError::new(
                Category::InvalidSpec,
                "apply",
                format!("{section} is not a section of this policy"),
            ));
        };
        if section == place.section(model::FAILING_HOSTS) {
            // Nothing to write: a host passes when its firewall is on.
            return Ok(None);
        }
        let team = match &place.team {
            None => None,
            Some(t) => Some(*team_ids.get(t).ok_or_else(|| {
                ProviderError::new(
                    Category::InvalidSpec,
                    "apply",
                    format!("no Fleet team {t:?}"),
                )
            })?),
        };
        let base = Self::policies_path(team);
        let handle = |key: &str| -> Result<u64, ProviderError> {
            observed
                .state
                .section(section)
                .and_then(|s| s.get(key))
                .and_then(|i| i.handle.as_deref())
                .and_then(|h| h.parse().ok())
                .ok_or_else(|| {
                    ProviderError::new(
                        Category::BadResponse,
                        "apply",
                        format!("{section}[{key}] has no Fleet id"),
                    )
                })
        };
        let body = |key: &str| -> Result<Value, ProviderError> {
            queries::by_name(key)
                .map(|c| model::policy_body(&c))
                .ok_or_else(|| {
                    ProviderError::new(
                        Category::InvalidSpec,
                        "apply",
                        format!("{key} is not a policy Perimeter manages"),
                    )
                })
        };
        let (op, req) = match change {
            Change::Create { key, .. } => (
                "create_policy",
                Request::new(Method::POST, "create_policy", base).json(body(key)?),
            ),
            Change::Update { key, .. } => {
                let id = handle(key)?;
                let mut b = body(key)?;
                // The name is the key: only the checked fields are put back.
                if let Some(o) = b.as_object_mut() {
                    o.remove("name");
                }
                (
                    "update_policy",
                    Request::new(Method::PATCH, "update_policy", format!("{base}/{id}")).json(b),
                )
            }
            Change::Delete { key, .. } => {
                if !key.starts_with(queries::NAME_PREFIX) {
                    return Err(ProviderError::new(
                        Category::InvalidSpec,
                        "delete_policy",
                        format!("{key} is not Perimeter's: never deleted"),
                    ));
                }
                let id = handle(key)?;
                (
                    "delete_policy",
                    Request::new(Method::POST, "delete_policy", format!("{base}/delete"))
                        .json(json!({"ids": [id]})),
                )
            }
            Change::Reorder { .. } => return Ok(None),
        };
        self.own.lock().unwrap_or_else(|p| p.into_inner()).record(
            audit::SCOPE,
            section,
            jiff::Timestamp::now(),
        );
        let (status, answer) = self.http.send_json(&req).await?;
        if status == 404 {
            return Err(ProviderError::new(
                Category::WriteRejected,
                op,
                "HTTP 404: the policy or team is gone",
            ));
        }
        if matches!(change, Change::Create { .. } | Change::Update { .. })
            && answer.get("policy").and_then(|p| p.get("id")).is_none()
        {
            return Err(shape(op, Invalid("the answer has no policy".into())));
        }
        Ok(Some(change.describe()))
    }
}

/// The declared state of a scope (what `manual_change_findings` compares against).
fn desired_of(scope: &FleetScope) -> crate::core::State {
    let mut s = crate::core::State::default();
    for p in &scope.places {
        s.push(crate::core::Section::new(
            p.section(model::FAILING_HOSTS),
            crate::core::SectionKind::Violations,
            Vec::new(),
        ));
    }
    s
}

#[async_trait]
impl Provider for Fleet {
    fn rate_limiters(&self, _target: &Target) -> Vec<Arc<RateLimiter>> {
        vec![self.http.limiter().clone()]
    }

    fn provider_type(&self) -> ProviderType {
        ProviderType::Fleet
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        let op = "get_me";
        let answer = self.get(Request::get(op, "/api/v1/fleet/me")).await?;
        let user = answer
            .get("user")
            .filter(|u| u.get("id").is_some())
            .ok_or_else(|| shape(op, Invalid("the answer has no user".into())))?;
        let role = user.get("global_role").and_then(Value::as_str).map_or_else(
            || "team roles".to_string(),
            |r| format!("global role {}", crate::http::sanitize(r, 20)),
        );
        Ok(format!("API token accepted ({role})"))
    }

    /// Every host Fleet manages ([`inventory`]).
    async fn inventory(&self) -> Result<Option<Vec<crate::core::inventory::Asset>>, ProviderError> {
        let hosts = self.list_hosts("list_hosts", &[]).await?;
        Ok(Some(inventory::assets(&hosts)))
    }

    /// Fleet's activity feed in [`LOOKBACK`], newest first ([`audit`]), when a policy Perimeter
    /// keeps drifted; failing hosts alone are never attributed (no activity records a host's
    /// firewall).
    async fn audit_trail(
        &self,
        _target: &Target,
        drift: &[crate::core::Drift],
    ) -> Result<Trail, ProviderError> {
        let op = "list_activities";
        let policies_drifted = drift.iter().any(|d| {
            let (section, _) = crate::core::attribution::split_path(&d.path);
            section.split('@').next() == Some(model::POLICIES)
        });
        let since = jiff::Timestamp::now() - LOOKBACK;
        let mut events = Vec::new();
        if policies_drifted {
            let own = self.own.lock().unwrap_or_else(|p| p.into_inner()).clone();
            'pages: for page in 0..audit::MAX_PAGES {
                let answer = self
                    .get(
                        Request::get(op, "/api/v1/fleet/activities")
                            .query("page", page)
                            .query("per_page", audit::PER_PAGE)
                            .query("order_key", "created_at")
                            .query("order_direction", "desc"),
                    )
                    .await?;
                let list = match answer.get("activities") {
                    Some(Value::Array(a)) => a.clone(),
                    Some(Value::Null) => Vec::new(),
                    _ => {
                        return Err(shape(
                            op,
                            Invalid("the answer has no activities list".into()),
                        ));
                    }
                };
                for a in &list {
                    if audit::created_at(a).is_some_and(|t| t < since) {
                        break 'pages;
                    }
                    events.extend(audit::event(a, &own));
                }
                if list.len() < audit::PER_PAGE {
                    break;
                }
            }
        }
        Ok(Trail::Read {
            source: audit::SOURCE,
            since,
            events,
        })
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        let scope = target.scope_of::<FleetScope>("observe")?;
        match target.purpose {
            Purpose::Firewall => self.observe_firewall(scope).await,
            Purpose::Monitoring => self.observe_monitoring(scope).await,
        }
    }

    /// Policies one call each, in plan order (creates and query updates before deletes):
    /// a stop part-way leaves every policy whole and says which were written.
    async fn apply(
        &self,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let fail = |applied: Vec<String>, error| ApplyError { applied, error };
        let scope = target
            .scope_of::<FleetScope>("apply")
            .map_err(|e| fail(Vec::new(), e))?;
        if target.purpose == Purpose::Monitoring {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = scope
            .places
            .iter()
            .filter_map(|p| p.team.as_deref())
            .collect();
        let ids = self
            .team_ids(&names)
            .await
            .map_err(|e| fail(Vec::new(), e))?;
        let mut applied = Vec::new();
        for change in plan {
            match self.apply_change(target, observed, &ids, change).await {
                Ok(Some(done)) => applied.push(done),
                Ok(None) => {}
                Err(e) => return Err(fail(applied, e)),
            }
        }
        Ok(applied)
    }
}
