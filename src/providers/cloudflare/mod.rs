//! Cloudflare API v4: rulesets (replaced atomically per phase entry point), IP access rules,
//! zone settings (one setting per call), alerting v3 policies and Logpush jobs.
//! Every answer is the `{success, errors, messages, result, result_info}` envelope.

pub mod api;
pub mod audit;
#[cfg(feature = "demo")]
mod demo;
pub mod inventory;
mod kit;
pub mod model;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};

use self::model::{ACCESS, CloudflareScope, LOGPUSH, POLICIES, SETTINGS};
use super::{ApplyError, Finding, Observation, Provider, Target};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::attribution::{LOOKBACK, OwnWrites, Trail};
use crate::core::inventory::Asset;
use crate::core::{Change, Item, Section, SectionKind};
use crate::error::{Category, Error, ProviderError};
use crate::http::RateLimiter;
use crate::http::{
    Auth, HttpClient, HttpSettings, Request, answer_segment, sanitize, spec_segment,
};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub use kit::Kit;
pub use model::{firewall_target, monitoring_target};

pub const DEFAULT_ENDPOINT: &str = "https://api.cloudflare.com/client/v4";
/// Access rules per page; the API allows up to 1000, fewer pages mean fewer calls.
const ACCESS_RULES_PER_PAGE: u32 = 500;
const POLICIES_PER_PAGE: u32 = 100;
/// The most `GET /zones` returns per page.
const ZONES_PER_PAGE: u32 = 50;
/// A guard against a provider that keeps announcing more pages.
const MAX_PAGES: u32 = 200;

pub struct Cloudflare {
    http: HttpClient,
    account_id: Option<String>,
    /// The writes this client sent, so the audit log's entries for them are Perimeter's.
    own: std::sync::Mutex<OwnWrites>,
}

impl crate::providers::OnHttp for Cloudflare {
    fn http_mut(&mut self) -> &mut HttpClient {
        &mut self.http
    }
}

impl Cloudflare {
    pub fn new(
        spec: &CloudProviderSpec,
        token: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let mut settings = HttpSettings::new(
            "cloudflare",
            spec.endpoint
                .clone()
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
        );
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
        account_id: Option<String>,
        token: SecretString,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let http = HttpClient::new(settings, Auth::Bearer(token), metrics)?;
        Ok(Self {
            http,
            account_id,
            own: std::sync::Mutex::new(OwnWrites::default()),
        })
    }

    /// The account id as a path segment.
    fn account(&self, operation: &'static str) -> Result<String, ProviderError> {
        let id = self.account_id.as_deref().ok_or_else(|| {
            ProviderError::new(
                Category::InvalidSpec,
                operation,
                "the CloudProvider has no accountId",
            )
        })?;
        spec_segment(operation, "accountId", id)
    }

    /// Sends a request and unwraps the envelope. `Ok(None)` for a 404 (absent).
    async fn call(&self, req: Request) -> Result<Option<(Value, Value)>, ProviderError> {
        let (status, body) = self.http.send_json(&req).await?;
        if status == 404 {
            return Ok(None);
        }
        if body.get("success").and_then(Value::as_bool) != Some(true) {
            return Err(ProviderError::new(
                Category::BadResponse,
                req.operation,
                format!("HTTP {status}: answer without success=true"),
            ));
        }
        let result = body.get("result").cloned().unwrap_or(Value::Null);
        let info = body.get("result_info").cloned().unwrap_or(Value::Null);
        Ok(Some((result, info)))
    }

    /// Like [`Self::call`] but a 404 is an error (the zone or account does not exist).
    async fn call_present(&self, req: Request) -> Result<(Value, Value), ProviderError> {
        let op = req.operation;
        self.call(req).await?.ok_or_else(|| {
            ProviderError::new(
                Category::BadResponse,
                op,
                "HTTP 404: not found (check the zone and account ids)",
            )
        })
    }

    async fn list_all(
        &self,
        operation: &'static str,
        path: &str,
        per_page: u32,
    ) -> Result<Vec<Value>, ProviderError> {
        self.list_all_where(operation, path, &[], per_page).await
    }

    /// [`Self::list_all`] with a filter (`account.id`) on every page.
    async fn list_all_where(
        &self,
        operation: &'static str,
        path: &str,
        filter: &[(&str, &str)],
        per_page: u32,
    ) -> Result<Vec<Value>, ProviderError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut req = Request::get(operation, path);
            for (key, value) in filter {
                req = req.query(key, value);
            }
            let req = req.query("page", page).query("per_page", per_page);
            let (result, info) = self.call_present(req).await?;
            let Value::Array(items) = result else {
                return Err(ProviderError::new(
                    Category::BadResponse,
                    operation,
                    "result is not a list",
                ));
            };
            let got = items.len();
            out.extend(items);
            let total_pages = info.get("total_pages").and_then(Value::as_u64).or_else(|| {
                let total = info.get("total_count").and_then(Value::as_u64)?;
                let per = info
                    .get("per_page")
                    .and_then(Value::as_u64)
                    .filter(|p| *p > 0)?;
                Some(total.div_ceil(per))
            });
            let more = match total_pages {
                Some(t) => u64::from(page) < t,
                None => got as u64 >= u64::from(per_page),
            };
            if !more || got == 0 {
                return Ok(out);
            }
        }
        Err(ProviderError::new(
            Category::BadResponse,
            operation,
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    /// `zone` is already a path segment.
    async fn read_ruleset(&self, zone: &str, section: &str) -> Result<Section, ProviderError> {
        let phase = model::phase_of(section).unwrap_or_default();
        let path = format!("/zones/{zone}/rulesets/phases/{phase}/entrypoint");
        let rules = match self
            .call(Request::get("get_entrypoint_ruleset", path))
            .await?
        {
            None => Vec::new(),
            Some((result, _)) if !result.is_object() => {
                return Err(ProviderError::new(
                    Category::BadResponse,
                    "get_entrypoint_ruleset",
                    "result is not a ruleset object",
                ));
            }
            Some((result, _)) => match result.get("rules") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(rules)) => rules.clone(),
                Some(_) => {
                    return Err(ProviderError::new(
                        Category::BadResponse,
                        "get_entrypoint_ruleset",
                        "rules is not a list",
                    ));
                }
            },
        };
        let items = rules
            .iter()
            .map(|r| model::observed_rule(section, r))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ProviderError::new(
                    Category::BadResponse,
                    "get_entrypoint_ruleset",
                    "a rule has neither ref nor id",
                )
            })?;
        Ok(Section::new(section, SectionKind::Ordered, items))
    }

    fn list_of(
        operation: &'static str,
        values: &[Value],
        f: fn(&Value) -> Option<Item>,
    ) -> Result<Vec<Item>, ProviderError> {
        values
            .iter()
            .map(f)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ProviderError::new(
                    Category::BadResponse,
                    operation,
                    "an item lacks its id or key fields",
                )
            })
    }

    /// Reads one declared section; for notification policies, also where they route alerts
    /// (into `routes`).
    async fn read_section(
        &self,
        target: &Target,
        section: &Section,
        routes: &mut Vec<crate::core::routing::AlertRoute>,
    ) -> Result<(Section, Vec<Finding>), ProviderError> {
        let zone = |op: &'static str| zone_segment(target, op);
        let name = section.name.as_str();
        let mut findings = Vec::new();
        let observed = match name {
            model::WAF | model::RATE_LIMIT => {
                self.read_ruleset(&zone("get_entrypoint_ruleset")?, name)
                    .await?
            }
            ACCESS => {
                let op = "list_access_rules";
                let rules = self
                    .list_all(
                        op,
                        &format!("/zones/{}/firewall/access_rules/rules", zone(op)?),
                        ACCESS_RULES_PER_PAGE,
                    )
                    .await?;
                Section::new(
                    name,
                    SectionKind::Unordered,
                    Self::list_of(op, &rules, model::observed_access_rule)?,
                )
            }
            SETTINGS => {
                // One GET per declared setting: the all-settings endpoint is deprecated, and a
                // policy declares a handful of settings at most.
                let op = "get_zone_setting";
                let zone = zone(op)?;
                let mut items = Vec::new();
                for wanted in &section.items {
                    let setting = spec_segment(op, "setting", &wanted.key)?;
                    let req = Request::get(op, format!("/zones/{zone}/settings/{setting}"));
                    let (result, _) = self.call_present(req).await?;
                    items.push(model::observed_setting(&result).ok_or_else(|| {
                        ProviderError::new(Category::BadResponse, op, "setting without id")
                    })?);
                }
                Section::new(name, SectionKind::Settings, items)
            }
            POLICIES => {
                let op = "list_alerting_policies";
                let policies = self
                    .list_all(
                        op,
                        &format!("/accounts/{}/alerting/v3/policies", self.account(op)?),
                        POLICIES_PER_PAGE,
                    )
                    .await?;
                let observed = Section::new(
                    name,
                    SectionKind::Unordered,
                    Self::list_of(op, &policies, model::observed_policy)?,
                );
                let uses_webhooks = policies.iter().any(|p| {
                    p.pointer("/mechanisms/webhooks")
                        .and_then(Value::as_array)
                        .is_some_and(|w| !w.is_empty())
                });
                // The destinations are read only when a policy uses one: one more call.
                let webhooks = if uses_webhooks {
                    self.read_webhooks().await?
                } else {
                    Vec::new()
                };
                let empty = model::SlackChannels::default();
                let channels = section.locator::<model::SlackChannels>().unwrap_or(&empty);
                routes.extend(model::alert_routes(&policies, &webhooks, channels));
                observed
            }
            LOGPUSH => {
                let op = "list_logpush_jobs";
                let (result, _) = self
                    .call_present(Request::get(
                        op,
                        format!("/zones/{}/logpush/jobs", zone(op)?),
                    ))
                    .await?;
                let Value::Array(jobs) = result else {
                    return Err(ProviderError::new(
                        Category::BadResponse,
                        op,
                        "result is not a list",
                    ));
                };
                for job in &jobs {
                    let failing = job
                        .get("error_message")
                        .and_then(Value::as_str)
                        .filter(|m| !m.is_empty());
                    if let Some(msg) = failing {
                        let job_name = job.get("name").and_then(Value::as_str).unwrap_or("unnamed");
                        // Cloudflare's message quotes the failed delivery, destination and
                        // headers included.
                        findings.push(Finding {
                            code: kit::LOG_JOB_FAILING,
                            subject: format!("{LOGPUSH}[{}]", sanitize(job_name, 100)),
                            message: format!("Logpush reports: {}", sanitize(msg, 200)),
                        });
                    }
                }
                Section::new(
                    name,
                    SectionKind::Unordered,
                    Self::list_of(op, &jobs, model::observed_logpush_job)?,
                )
            }
            other => {
                return Err(ProviderError::new(
                    Category::InvalidSpec,
                    "observe",
                    format!("unknown section {other}"),
                ));
            }
        };
        Ok((observed, findings))
    }

    /// The account's webhook destinations (one page: the API documents no paging for them).
    async fn read_webhooks(&self) -> Result<Vec<Value>, ProviderError> {
        let op = "list_webhook_destinations";
        let account = self.account(op)?;
        let (result, _) = self
            .call_present(Request::get(
                op,
                format!("/accounts/{account}/alerting/v3/destinations/webhooks"),
            ))
            .await?;
        match result {
            Value::Array(list) => Ok(list),
            _ => Err(ProviderError::new(
                Category::BadResponse,
                op,
                "result is not a list",
            )),
        }
    }

    /// Replaces a phase entry point with the declared rules in order, followed by the
    /// undeclared rules that are kept. One PUT: the ruleset is never half-written.
    async fn put_ruleset(
        &self,
        target: &Target,
        observed: &Observation,
        section: &str,
        deleted: &[&str],
    ) -> Result<(), ProviderError> {
        let op = "put_entrypoint_ruleset";
        let zone = zone_segment(target, op)?;
        let phase = model::phase_of(section).unwrap_or_default();
        let want = target.desired.section(section);
        let have = observed.state.section(section);
        let mut rules = Vec::new();
        for item in want.map(|s| s.items.as_slice()).unwrap_or_default() {
            let mut body = item.raw.clone().unwrap_or(Value::Null);
            // Keeping the rule id lets Cloudflare keep the rule's history and analytics.
            if let Some(id) = have
                .and_then(|h| h.get(&item.key))
                .and_then(|o| o.handle.clone())
            {
                body["id"] = Value::from(id);
            }
            rules.push(body);
        }
        for item in have.map(|s| s.items.as_slice()).unwrap_or_default() {
            let declared = want.and_then(|w| w.get(&item.key)).is_some();
            if declared || deleted.contains(&item.key.as_str()) {
                continue;
            }
            if let Some(Value::Object(raw)) = &item.raw {
                let mut kept = raw.clone();
                for read_only in ["version", "last_updated", "categories"] {
                    kept.remove(read_only);
                }
                rules.push(Value::Object(kept));
            }
        }
        let req = Request::new(
            Method::PUT,
            op,
            format!("/zones/{zone}/rulesets/phases/{phase}/entrypoint"),
        )
        .json(json!({ "rules": rules }));
        self.call_present(req).await.map(|_| ())
    }

    async fn apply_item(
        &self,
        target: &Target,
        observed: &Observation,
        change: &Change,
    ) -> Result<(), ProviderError> {
        let section = change.section();
        let zone = || zone_segment(target, "apply");
        let desired = |key: &str| {
            target
                .desired
                .section(section)
                .and_then(|s| s.get(key))
                .and_then(|i| i.raw.clone())
                .unwrap_or(Value::Null)
        };
        let handle = |key: &str| -> Result<String, ProviderError> {
            let id = observed
                .state
                .section(section)
                .and_then(|s| s.get(key))
                .and_then(|i| i.handle.clone())
                .ok_or_else(|| {
                    ProviderError::new(
                        Category::BadResponse,
                        "apply",
                        format!("{section}[{key}] has no id"),
                    )
                })?;
            answer_segment("apply", "id", &id)
        };
        let req = match (section, change) {
            (ACCESS, Change::Create { key, .. }) => Request::new(
                Method::POST,
                "create_access_rule",
                format!("/zones/{}/firewall/access_rules/rules", zone()?),
            )
            .json(desired(key)),
            (ACCESS, Change::Update { key, .. }) => {
                let body = desired(key);
                Request::new(
                    Method::PATCH,
                    "update_access_rule",
                    format!(
                        "/zones/{}/firewall/access_rules/rules/{}",
                        zone()?,
                        handle(key)?
                    ),
                )
                .json(json!({"mode": body["mode"], "notes": body["notes"]}))
            }
            // `cascade: none` deletes this zone's rule only, never look-alikes in other zones.
            (ACCESS, Change::Delete { key, .. }) => Request::new(
                Method::DELETE,
                "delete_access_rule",
                format!(
                    "/zones/{}/firewall/access_rules/rules/{}",
                    zone()?,
                    handle(key)?
                ),
            )
            .json(json!({"cascade": "none"})),
            (POLICIES, Change::Create { key, .. }) => {
                let account = self.account("create_alerting_policy")?;
                Request::new(
                    Method::POST,
                    "create_alerting_policy",
                    format!("/accounts/{account}/alerting/v3/policies"),
                )
                .json(desired(key))
            }
            (POLICIES, Change::Update { key, .. }) => {
                let account = self.account("update_alerting_policy")?;
                Request::new(
                    Method::PUT,
                    "update_alerting_policy",
                    format!("/accounts/{account}/alerting/v3/policies/{}", handle(key)?),
                )
                .json(desired(key))
            }
            (POLICIES, Change::Delete { key, .. }) => {
                let account = self.account("delete_alerting_policy")?;
                Request::new(
                    Method::DELETE,
                    "delete_alerting_policy",
                    format!("/accounts/{account}/alerting/v3/policies/{}", handle(key)?),
                )
            }
            (LOGPUSH, Change::Create { key, .. }) => Request::new(
                Method::POST,
                "create_logpush_job",
                format!("/zones/{}/logpush/jobs", zone()?),
            )
            .json(desired(key)),
            (LOGPUSH, Change::Update { key, .. }) => Request::new(
                Method::PUT,
                "update_logpush_job",
                format!("/zones/{}/logpush/jobs/{}", zone()?, handle(key)?),
            )
            .json(desired(key)),
            // The spec requires a JSON body (empty) on this DELETE.
            (LOGPUSH, Change::Delete { key, .. }) => Request::new(
                Method::DELETE,
                "delete_logpush_job",
                format!("/zones/{}/logpush/jobs/{}", zone()?, handle(key)?),
            )
            .json(json!({})),
            _ => {
                return Err(ProviderError::new(
                    Category::InvalidSpec,
                    "apply",
                    format!("cannot apply {}", change.describe()),
                ));
            }
        };
        self.call_present(req).await.map(|_| ())
    }
}

/// The policy's `zoneId` as a path segment.
fn zone_segment(target: &Target, operation: &'static str) -> Result<String, ProviderError> {
    match target.scope_of::<CloudflareScope>(operation)? {
        CloudflareScope::Zone(zone) => spec_segment(operation, "zoneId", zone),
        CloudflareScope::Account => Err(ProviderError::new(
            Category::InvalidSpec,
            operation,
            "zone id missing",
        )),
    }
}

#[async_trait]
impl Provider for Cloudflare {
    fn rate_limiters(&self, _target: &Target) -> Vec<Arc<RateLimiter>> {
        vec![self.http.limiter().clone()]
    }

    fn provider_type(&self) -> ProviderType {
        ProviderType::Cloudflare
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        let (result, _) = self
            .call_present(Request::get("verify_token", "/user/tokens/verify"))
            .await?;
        // Only fixed words from the documented set: the answer is not quoted.
        match result.get("status").and_then(Value::as_str) {
            Some("active") => Ok("API token is active".to_string()),
            Some(other) => Err(ProviderError::new(
                Category::CredentialsRejected,
                "verify_token",
                match other {
                    "disabled" => "the API token is disabled",
                    "expired" => "the API token has expired",
                    _ => "the API token is not active (unrecognised status)",
                },
            )),
            None => Err(ProviderError::new(
                Category::BadResponse,
                "verify_token",
                "no token status in the answer",
            )),
        }
    }

    /// The zones of the account (`GET /zones?account.id=…`, paged).
    async fn inventory(&self) -> Result<Option<Vec<Asset>>, ProviderError> {
        let op = "list_zones";
        let account = self.account(op)?;
        let zones = self
            .list_all_where(op, "/zones", &[("account.id", &account)], ZONES_PER_PAGE)
            .await?;
        zones
            .iter()
            .map(inventory::zone_asset)
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| ProviderError::new(Category::BadResponse, op, "a zone has no id"))
    }

    /// The zone's entries of the account audit log in [`LOOKBACK`], newest first (see
    /// [`audit`]). Account-scope targets (notification policies) are not attributed.
    async fn audit_trail(
        &self,
        target: &Target,
        drift: &[crate::core::Drift],
    ) -> Result<Trail, ProviderError> {
        let op = "list_audit_logs";
        let CloudflareScope::Zone(_) = target.scope_of::<CloudflareScope>(op)? else {
            return Ok(Trail::NotKept);
        };
        let zone = zone_segment(target, op)?;
        let account = self.account(op)?;
        let (found, _) = self
            .call_present(Request::get("get_zone", format!("/zones/{zone}")))
            .await?;
        let zone_name = found
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ProviderError::new(Category::BadResponse, "get_zone", "no zone name"))?
            .to_string();
        let rulesets_drifted = drift.iter().any(|d| {
            let (section, _) = crate::core::attribution::split_path(&d.path);
            model::phase_of(section).is_some()
        });
        let rulesets = if rulesets_drifted {
            let (list, _) = self
                .call_present(Request::get(
                    "list_zone_rulesets",
                    format!("/zones/{zone}/rulesets"),
                ))
                .await?;
            audit::entrypoints(&list)
        } else {
            Default::default()
        };
        let since = jiff::Timestamp::now() - LOOKBACK;
        let own = self.own.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut events = Vec::new();
        for page in 1..=audit::MAX_PAGES {
            let req = Request::get(op, format!("/accounts/{account}/audit_logs"))
                .query("zone.name", &zone_name)
                .query("since", since.to_string())
                .query("direction", "desc")
                .query("per_page", audit::PER_PAGE)
                .query("page", page);
            let (result, _) = self.call_present(req).await?;
            let Value::Array(entries) = result else {
                return Err(ProviderError::new(
                    Category::BadResponse,
                    op,
                    "result is not a list",
                ));
            };
            events.extend(
                entries
                    .iter()
                    .filter_map(|e| audit::event(e, &zone, &rulesets, &own)),
            );
            if entries.len() < audit::PER_PAGE as usize {
                break;
            }
        }
        Ok(Trail::Read {
            source: audit::SOURCE,
            since,
            events,
        })
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        target.scope_of::<CloudflareScope>("observe")?;
        let mut obs = Observation::default();
        for section in &target.desired.sections {
            let (seen, findings) = self
                .read_section(target, section, &mut obs.alerting.routes)
                .await?;
            obs.state.push(seen);
            obs.findings.extend(findings);
        }
        Ok(obs)
    }

    async fn apply(
        &self,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        if let Err(error) = target.scope_of::<CloudflareScope>("apply") {
            return Err(ApplyError {
                applied: Vec::new(),
                error,
            });
        }
        // Recorded before sending: the audit entry is stamped while the call is in flight.
        if let Ok(zone) = zone_segment(target, "apply") {
            let now = jiff::Timestamp::now();
            let mut own = self.own.lock().unwrap_or_else(|p| p.into_inner());
            for change in plan {
                own.record(&zone, change.section(), now);
            }
        }
        let mut applied = Vec::new();
        let mut done_sections: Vec<&str> = Vec::new();
        for change in plan {
            let section = change.section();
            if section == SETTINGS {
                if done_sections.contains(&section) {
                    continue;
                }
                done_sections.push(section);
                let in_section: Vec<&Change> =
                    plan.iter().filter(|c| c.section() == section).collect();
                match self.patch_settings(target, &in_section).await {
                    Ok(done) => applied.extend(done),
                    Err(mut e) => {
                        applied.append(&mut e.applied);
                        return Err(ApplyError {
                            applied,
                            error: e.error,
                        });
                    }
                }
                continue;
            }
            let result = if model::phase_of(section).is_some() {
                // The whole ruleset in one PUT, whatever the number of changes in it.
                if done_sections.contains(&section) {
                    continue;
                }
                done_sections.push(section);
                let in_section: Vec<&Change> =
                    plan.iter().filter(|c| c.section() == section).collect();
                let deleted: Vec<&str> = in_section
                    .iter()
                    .filter_map(|c| {
                        if let Change::Delete { key, .. } = c {
                            Some(key.as_str())
                        } else {
                            None
                        }
                    })
                    .collect();
                self.put_ruleset(target, observed, section, &deleted)
                    .await
                    .map(|()| in_section.iter().map(|c| c.describe()).collect::<Vec<_>>())
            } else {
                self.apply_item(target, observed, change)
                    .await
                    .map(|()| vec![change.describe()])
            };
            match result {
                Ok(descriptions) => applied.extend(descriptions),
                Err(error) => return Err(ApplyError { applied, error }),
            }
        }
        Ok(applied)
    }
}

impl Cloudflare {
    /// One PATCH per changed setting, each carrying the whole value: a setting is never
    /// half-written, though a failure part-way leaves the later settings unchanged (reported).
    async fn patch_settings(
        &self,
        target: &Target,
        changes: &[&Change],
    ) -> Result<Vec<String>, ApplyError> {
        let op = "edit_zone_setting";
        let mut applied = Vec::new();
        let fail = |applied: &Vec<String>, error| ApplyError {
            applied: applied.clone(),
            error,
        };
        let zone = zone_segment(target, op).map_err(|e| fail(&applied, e))?;
        let wanted = target.desired.section(SETTINGS);
        for change in changes {
            let (Change::Update { key, .. } | Change::Create { key, .. }) = change else {
                continue;
            };
            let Some(value) = wanted
                .and_then(|s| s.get(key))
                .and_then(|i| i.fields.get("value"))
                .cloned()
            else {
                continue;
            };
            let setting = spec_segment(op, "setting", key).map_err(|e| fail(&applied, e))?;
            let req = Request::new(
                Method::PATCH,
                op,
                format!("/zones/{zone}/settings/{setting}"),
            )
            .json(json!({ "value": value }));
            self.call_present(req)
                .await
                .map_err(|e| fail(&applied, e))?;
            applied.push(change.describe());
        }
        Ok(applied)
    }
}
