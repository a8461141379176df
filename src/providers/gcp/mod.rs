//! GCP: Compute v1 (VPC firewall rules, Cloud Armor security policies, subnet flow logs),
//! Network Management v1 (`vpcFlowLogsConfigs`, read only) and Monitoring v3 (alert policies,
//! uptime checks), Logging v2 (`entries.list` on the Admin Activity audit log, who changed
//! what drifted: [`audit`]); Compute's router status for an `AddressSet`'s `gcpCloudNat` source
//! ([`nat`]); Compute's networks, the project's boundary assets ([`inventory`]). Compute
//! writes return an `Operation` that is waited on; Cloud Armor policy and subnet writes carry
//! the resource's `fingerprint` (optimistic locking; a stale one gives 412 and is re-read
//! once).

pub mod api;
pub mod audit;
pub mod auth;
#[cfg(feature = "demo")]
mod demo;
pub mod inventory;
mod kit;
pub mod model;
pub mod nat;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};

use self::auth::{Authenticator, Source};
use self::model::{ALERTS, ARMOR, FIREWALLS, FLOW_LOGS, GcpScope, UPTIME};
use super::{ApplyError, Observation, Provider, Purpose, Target};
use crate::api::provider::CredentialSource;
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::attribution::{LOOKBACK, OwnWrites, Trail};
use crate::core::{Change, Item, Section, SectionKind};
use crate::error::{Category, Error, ProviderError};
use crate::http::RateLimiter;
use crate::http::{
    Auth, HttpClient, HttpSettings, Request, answer_segment, answer_segments, sanitize,
    spec_segment,
};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub use kit::Kit;
pub use model::{firewall_target, monitoring_target};

pub const COMPUTE_ENDPOINT: &str = "https://compute.googleapis.com/compute/v1";
pub const MONITORING_ENDPOINT: &str = "https://monitoring.googleapis.com";
pub const NETWORK_MANAGEMENT_ENDPOINT: &str = "https://networkmanagement.googleapis.com";
pub const LOGGING_ENDPOINT: &str = "https://logging.googleapis.com";
/// Compute's maximum page size.
const MAX_RESULTS: u32 = 500;
const PAGE_SIZE: u32 = 100;
/// A guard against a provider that keeps announcing more pages.
const MAX_PAGES: u32 = 200;

/// Overrides for tests and the demo; production uses [`Gcp::connect`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `GCE_METADATA_HOST`: host[:port] (or URL) of the metadata server for `source: Ambient`.
    pub metadata_host: Option<String>,
    /// `GOOGLE_APPLICATION_CREDENTIALS`: for `source: Ambient`, a credential file used instead
    /// of the metadata server (typically an `external_account` configuration mounted from a
    /// ConfigMap, as Google's libraries read it).
    pub credentials_file: Option<String>,
    /// How long to wait for a Compute operation; default 120 s.
    pub operation_timeout: Option<Duration>,
    /// Overrides the HTTP settings (retries, backoff) of every client.
    pub settings: Option<HttpSettings>,
    /// What the admin allows the credential to name (token hosts, credential files and URLs).
    pub trust: crate::trust::Trust,
    /// Who supplied the credential.
    pub principal: Option<crate::trust::Principal>,
}

pub struct Gcp {
    project: String,
    /// `project` as a path segment.
    project_segment: String,
    regions: Vec<String>,
    compute: HttpClient,
    monitoring: HttpClient,
    netmgmt: HttpClient,
    logging: HttpClient,
    auth: Authenticator,
    operation_timeout: Duration,
    /// The service account the credential acts as, when it says: an audit entry is only
    /// Perimeter's by the moment of a write if it was made with this account.
    principal: Option<String>,
    /// The writes this client sent and the Compute operations they started, so the audit
    /// log's entries for them are Perimeter's.
    own: std::sync::Mutex<(OwnWrites, audit::OwnOperations)>,
}

impl Gcp {
    pub async fn connect(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        access: crate::providers::Access<'_>,
    ) -> Result<Self, Error> {
        let options = Options {
            trust: access.trust.clone(),
            principal: Some(access.principal),
            metadata_host: std::env::var("GCE_METADATA_HOST").ok(),
            credentials_file: std::env::var("GOOGLE_APPLICATION_CREDENTIALS")
                .ok()
                .filter(|p| !p.trim().is_empty()),
            settings: Some(HttpSettings {
                share_window: access.share_reads,
                connections: access.connections.cloned(),
                ..HttpSettings::new("gcp", "")
            }),
            ..Options::default()
        };
        Self::connect_with(spec, credential, metrics, options)
    }

    pub fn connect_with(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        options: Options,
    ) -> Result<Self, Error> {
        let project = spec
            .account_id
            .clone()
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| Error::InvalidSpec("GCP needs accountId (the project id)".into()))?;
        let project_segment = spec_segment("connect", "accountId", &project)?;
        let rules = auth::Rules {
            trust: &options.trust,
            principal: options.principal.unwrap_or(crate::trust::Principal::Tenant),
        };
        let source = match (&spec.credentials.source, credential) {
            (CredentialSource::Ambient, _) => match &options.credentials_file {
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        Error::CredentialsMissing(format!(
                            "GOOGLE_APPLICATION_CREDENTIALS {path}: cannot be read ({})",
                            e.kind()
                        ))
                    })?;
                    // The operator's own environment: the admin's credential.
                    let admin = auth::Rules {
                        principal: crate::trust::Principal::Admin,
                        ..rules
                    };
                    Source::from_key_json(&SecretString::new(text), admin)?
                }
                None => Source::metadata(options.metadata_host.as_deref()),
            },
            (CredentialSource::Secret, Some(key)) => Source::from_key_json(&key, rules)?,
            (CredentialSource::Secret, None) => {
                return Err(Error::CredentialsMissing(
                    "GCP needs a service-account key JSON".into(),
                ));
            }
        };
        let mut base = options
            .settings
            .clone()
            .unwrap_or_else(|| HttpSettings::new("gcp", ""));
        if let Some(t) = spec.request_timeout_seconds {
            base.timeout = Duration::from_secs(u64::from(t));
        }
        if let Some(rl) = &spec.rate_limit {
            base.requests_per_minute = rl.requests_per_minute;
            base.burst = rl.burst.unwrap_or(base.burst);
        }
        let endpoint = spec
            .endpoint
            .as_deref()
            .map(|e| e.trim_end_matches('/').to_string());
        let with_base = |url: String| HttpSettings {
            base_url: url,
            ..base.clone()
        };
        let principal = source.principal();
        let auth = Authenticator::new(source, with_base(String::new()), metrics.clone())?;
        let client = |url: String| {
            HttpClient::new(with_base(url), Auth::Shared(auth.shared()), metrics.clone())
        };
        let compute = client(
            endpoint
                .as_ref()
                .map(|e| format!("{e}/compute/v1"))
                .unwrap_or_else(|| COMPUTE_ENDPOINT.into()),
        )?;
        let monitoring = client(
            endpoint
                .clone()
                .unwrap_or_else(|| MONITORING_ENDPOINT.into()),
        )?;
        let netmgmt = client(
            endpoint
                .clone()
                .unwrap_or_else(|| NETWORK_MANAGEMENT_ENDPOINT.into()),
        )?;
        // Like the other APIs: Google's host, or `spec.endpoint` (which the trust rules have
        // checked) for them all; no field names a host of its own for the log.
        let logging = client(endpoint.clone().unwrap_or_else(|| LOGGING_ENDPOINT.into()))?;
        Ok(Self {
            project,
            project_segment,
            regions: spec.regions.clone().unwrap_or_default(),
            compute,
            monitoring,
            netmgmt,
            logging,
            auth,
            principal,
            own: std::sync::Mutex::new(Default::default()),
            operation_timeout: options
                .operation_timeout
                .unwrap_or(Duration::from_secs(120)),
        })
    }

    /// Sends with a fresh token; a 401 drops the cached token and is tried once more.
    async fn call(
        &self,
        client: &HttpClient,
        req: &Request,
    ) -> Result<Option<Value>, ProviderError> {
        self.auth.refresh().await?;
        let outcome = match client.send_json(req).await {
            Err(e)
                if e.category == Category::CredentialsRejected
                    && e.message.contains("HTTP 401") =>
            {
                self.auth.invalidate().await;
                self.auth.refresh().await?;
                client.send_json(req).await
            }
            other => other,
        };
        let (status, body) = outcome?;
        Ok((status != 404).then_some(body))
    }

    async fn call_present(
        &self,
        client: &HttpClient,
        req: &Request,
    ) -> Result<Value, ProviderError> {
        self.call(client, req).await?.ok_or_else(|| {
            ProviderError::new(
                Category::BadResponse,
                req.operation,
                format!("HTTP 404: not found (check project {})", self.project),
            )
        })
    }

    /// Follows `nextPageToken` until the last page. `size_param` is `maxResults` (Compute)
    /// or `pageSize` (Monitoring, Network Management). A collection that is not found is
    /// empty.
    async fn list_all(
        &self,
        client: &HttpClient,
        operation: &'static str,
        path: &str,
        items_key: &str,
        size_param: (&str, u32),
    ) -> Result<Vec<Value>, ProviderError> {
        self.list_pages(client, operation, path, items_key, size_param, false)
            .await
    }

    /// [`Self::list_all`]; with `required`, a 404 is an error (a project that is not found
    /// has no empty inventory).
    async fn list_pages(
        &self,
        client: &HttpClient,
        operation: &'static str,
        path: &str,
        items_key: &str,
        size_param: (&str, u32),
        required: bool,
    ) -> Result<Vec<Value>, ProviderError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut req = Request::get(operation, path).query(size_param.0, size_param.1);
            if let Some(t) = &token {
                req = req.query("pageToken", t);
            }
            let page = if required {
                self.call_present(client, &req).await?
            } else {
                let Some(page) = self.call(client, &req).await? else {
                    return Ok(out);
                };
                page
            };
            match page.get(items_key) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => out.extend(items.iter().cloned()),
                Some(_) => {
                    return Err(ProviderError::new(
                        Category::BadResponse,
                        operation,
                        format!("{items_key} is not a list"),
                    ));
                }
            }
            token = page
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
        Err(ProviderError::new(
            Category::BadResponse,
            operation,
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    /// Waits for a Compute `Operation` to be DONE; an operation that ends with `error` is a
    /// `WriteRejected` carrying its error codes and messages.
    async fn wait(&self, operation: &'static str, op: Value) -> Result<(), ProviderError> {
        let deadline = tokio::time::Instant::now() + self.operation_timeout;
        let mut op = op;
        let mut polls = 0u32;
        loop {
            if op.get("status").and_then(Value::as_str) == Some("DONE") {
                return operation_outcome(operation, &op);
            }
            let name = op.get("name").and_then(Value::as_str).ok_or_else(|| {
                ProviderError::new(Category::BadResponse, operation, "operation without a name")
            })?;
            if tokio::time::Instant::now() >= deadline {
                return Err(ProviderError::new(
                    Category::Timeout,
                    operation,
                    format!(
                        "operation {name} not done after {}s",
                        self.operation_timeout.as_secs()
                    ),
                ));
            }
            let name = answer_segment(operation, "operation name", name)?;
            let scope = match op.get("region").and_then(Value::as_str) {
                Some(r) => format!(
                    "regions/{}",
                    answer_segment(operation, "operation region", model::last_segment(r))?
                ),
                None => "global".to_string(),
            };
            // `wait` returns when the operation is DONE or after a server-side timeout; a
            // server that answers sooner is not polled in a tight loop.
            if polls > 0 {
                let pause = Duration::from_millis(100)
                    .saturating_mul(polls)
                    .min(Duration::from_secs(2));
                tokio::time::sleep(
                    pause.min(deadline.saturating_duration_since(tokio::time::Instant::now())),
                )
                .await;
            }
            polls += 1;
            let req = Request::new(
                Method::POST,
                "wait_operation",
                format!(
                    "/projects/{}/{scope}/operations/{name}/wait",
                    self.project_segment
                ),
            );
            op = self.call_present(&self.compute, &req).await?;
        }
    }

    /// `rest` is made of constants and ids already encoded as segments.
    fn compute_path(&self, rest: &str) -> String {
        format!("/projects/{}/{rest}", self.project_segment)
    }

    async fn compute_write(&self, req: Request) -> Result<(), ProviderError> {
        let op = self.call_present(&self.compute, &req).await?;
        // Its audit entries carry the operation's name as `operation.id`.
        if let Some(name) = op.get("name").and_then(Value::as_str) {
            let mut own = self.own.lock().unwrap_or_else(|p| p.into_inner());
            own.1.record(name, jiff::Timestamp::now());
        }
        self.wait(req.operation, op).await
    }

    async fn read_firewalls(&self) -> Result<Vec<Value>, ProviderError> {
        self.list_all(
            &self.compute,
            "list_firewalls",
            &self.compute_path("global/firewalls"),
            "items",
            ("maxResults", MAX_RESULTS),
        )
        .await
    }

    async fn read_subnets(&self, region: &str) -> Result<Vec<Value>, ProviderError> {
        let region = spec_segment("list_subnetworks", "regions", region)?;
        self.list_all(
            &self.compute,
            "list_subnetworks",
            &self.compute_path(&format!("regions/{region}/subnetworks")),
            "items",
            ("maxResults", MAX_RESULTS),
        )
        .await
    }

    async fn read_flow_log_configs(&self) -> Result<Vec<Value>, ProviderError> {
        self.list_all(
            &self.netmgmt,
            "list_vpc_flow_logs_configs",
            &format!(
                "/v1/projects/{}/locations/global/vpcFlowLogsConfigs",
                self.project_segment
            ),
            "vpcFlowLogsConfigs",
            ("pageSize", PAGE_SIZE),
        )
        .await
    }

    async fn observe_firewall(
        &self,
        target: &Target,
        network: &str,
        obs: &mut Observation,
    ) -> Result<(), ProviderError> {
        let rules: Vec<Value> = self
            .read_firewalls()
            .await?
            .into_iter()
            .filter(|r| model::in_network(r, network))
            .collect();
        obs.findings
            .extend(rules.iter().filter_map(model::world_open_ingress));
        for section in &target.desired.sections {
            match section.name.as_str() {
                FIREWALLS => {
                    let items = rules
                        .iter()
                        .map(model::observed_firewall_rule)
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| bad("list_firewalls", "a firewall rule has no name"))?;
                    obs.state
                        .push(Section::new(FIREWALLS, SectionKind::Unordered, items));
                }
                ARMOR => {
                    let mut items = Vec::new();
                    for wanted in section.items.iter().filter(|i| !i.key.contains('/')) {
                        let policy = spec_segment(
                            "get_security_policy",
                            "cloudArmorPolicies.name",
                            &wanted.key,
                        )?;
                        let req = Request::get(
                            "get_security_policy",
                            self.compute_path(&format!("global/securityPolicies/{policy}")),
                        );
                        let Some(policy) = self.call(&self.compute, &req).await? else {
                            continue;
                        };
                        let keep_default = section
                            .get(&model::armor_rule_key(
                                &wanted.key,
                                model::DEFAULT_ARMOR_PRIORITY,
                            ))
                            .is_some();
                        items.extend(
                            model::observed_armor_policy(&policy, keep_default).ok_or_else(
                                || {
                                    bad(
                                        "get_security_policy",
                                        "a policy or rule lacks its name or priority",
                                    )
                                },
                            )?,
                        );
                    }
                    obs.state
                        .push(Section::new(ARMOR, SectionKind::Unordered, items));
                }
                other => return Err(unknown_section(other)),
            }
        }
        Ok(())
    }

    async fn observe_monitoring(
        &self,
        target: &Target,
        regions: &[String],
        flow_log_subnets: Option<&[String]>,
        obs: &mut Observation,
    ) -> Result<(), ProviderError> {
        let mut watched: Vec<String> = if regions.is_empty() {
            self.regions.clone()
        } else {
            regions.to_vec()
        };
        let required = target.desired.section(FLOW_LOGS);
        for item in required.map(|s| s.items.as_slice()).unwrap_or_default() {
            if !watched.contains(&item.key) {
                watched.push(item.key.clone());
            }
        }
        if !watched.is_empty() {
            let configs = self.read_flow_log_configs().await?;
            let mut items = Vec::new();
            for region in &watched {
                let subnets = self.read_subnets(region).await?;
                obs.findings
                    .extend(model::subnet_findings(region, &subnets, &configs));
                if required.is_some_and(|s| s.get(region).is_some()) {
                    items.push(model::observed_flow_logs(
                        region,
                        &subnets,
                        &configs,
                        flow_log_subnets,
                    ));
                }
            }
            if required.is_some() {
                obs.state
                    .push(Section::new(FLOW_LOGS, SectionKind::Settings, items));
            }
        }
        for section in &target.desired.sections {
            let (op, path, key, f): (_, _, _, fn(&Value) -> Option<Item>) =
                match section.name.as_str() {
                    FLOW_LOGS => continue,
                    ALERTS => (
                        "list_alert_policies",
                        format!("/v3/projects/{}/alertPolicies", self.project_segment),
                        "alertPolicies",
                        model::observed_alert_policy,
                    ),
                    UPTIME => (
                        "list_uptime_check_configs",
                        format!("/v3/projects/{}/uptimeCheckConfigs", self.project_segment),
                        "uptimeCheckConfigs",
                        model::observed_uptime_check,
                    ),
                    other => return Err(unknown_section(other)),
                };
            let values = self
                .list_all(&self.monitoring, op, &path, key, ("pageSize", PAGE_SIZE))
                .await?;
            if section.name == ALERTS {
                obs.alerting
                    .routes
                    .extend(self.alert_routes(&values).await?);
            }
            let items = values
                .iter()
                .map(f)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad(op, "an item lacks its name or displayName"))?;
            obs.state
                .push(Section::new(&section.name, SectionKind::Unordered, items));
        }
        Ok(())
    }

    /// Where the alert policies route notifications; the channels are read only when a policy
    /// names one.
    async fn alert_routes(
        &self,
        policies: &[Value],
    ) -> Result<Vec<crate::core::routing::AlertRoute>, ProviderError> {
        let named = policies.iter().any(|p| {
            p.get("notificationChannels")
                .and_then(Value::as_array)
                .is_some_and(|c| !c.is_empty())
        });
        if !named {
            return Ok(model::alert_routes(policies, &[]));
        }
        let channels = self
            .list_all(
                &self.monitoring,
                "list_notification_channels",
                &format!("/v3/projects/{}/notificationChannels", self.project_segment),
                "notificationChannels",
                ("pageSize", PAGE_SIZE),
            )
            .await?;
        Ok(model::alert_routes(policies, &channels))
    }

    /// PATCHes a fingerprinted resource; on 412 (someone else wrote it since) re-reads the
    /// fingerprint once and tries again.
    async fn patch_fingerprinted(
        &self,
        operation: &'static str,
        path: &str,
        mut body: Value,
        fingerprint: Option<&str>,
    ) -> Result<(), ProviderError> {
        let mut fingerprint = match fingerprint {
            Some(f) => f.to_string(),
            None => self.fingerprint(path).await?,
        };
        for attempt in 0..2 {
            body["fingerprint"] = json!(fingerprint);
            let req = Request::new(Method::PATCH, operation, path).json(body.clone());
            match self.compute_write(req).await {
                Err(e) if attempt == 0 && e.message.starts_with("HTTP 412") => {
                    tracing::debug!(operation, "stale fingerprint; re-reading once");
                    fingerprint = self.fingerprint(path).await?;
                }
                other => return other,
            }
        }
        Err(ProviderError::new(
            Category::WriteRejected,
            operation,
            "fingerprint kept changing",
        ))
    }

    async fn fingerprint(&self, path: &str) -> Result<String, ProviderError> {
        let current = self
            .call_present(&self.compute, &Request::get("get_fingerprint", path))
            .await?;
        current
            .get("fingerprint")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad("get_fingerprint", "resource without fingerprint"))
    }

    async fn apply_change(
        &self,
        target: &Target,
        observed: &Observation,
        change: &Change,
    ) -> Result<(), ProviderError> {
        let section = change.section();
        let desired = |key: &str| {
            target
                .desired
                .section(section)
                .and_then(|s| s.get(key))
                .and_then(|i| i.raw.clone())
                .unwrap_or(Value::Null)
        };
        let seen = |key: &str| observed.state.section(section).and_then(|s| s.get(key));
        // Provider names: one segment (Compute) or `projects/…/alertPolicies/…` (Monitoring),
        // each part encoded.
        let handle = |key: &str| -> Result<String, ProviderError> {
            let name = seen(key).and_then(|i| i.handle.clone()).ok_or_else(|| {
                bad(
                    "apply",
                    &format!("{section}[{key}] has no name at the provider"),
                )
            })?;
            answer_segments("apply", "name", &name)
        };
        let policy_segment =
            |policy: &str| spec_segment("apply", "cloudArmorPolicies.name", policy);
        let p = &self.project_segment;
        match (section, change) {
            (FIREWALLS, Change::Create { key, .. }) => {
                let req = Request::new(
                    Method::POST,
                    "insert_firewall",
                    self.compute_path("global/firewalls"),
                )
                .json(desired(key));
                self.compute_write(req).await
            }
            (FIREWALLS, Change::Update { key, .. }) => {
                let req = Request::new(
                    Method::PATCH,
                    "patch_firewall",
                    self.compute_path(&format!("global/firewalls/{}", handle(key)?)),
                )
                .json(model::firewall_patch_body(&desired(key)));
                self.compute_write(req).await
            }
            (FIREWALLS, Change::Delete { key, .. }) => {
                let req = Request::new(
                    Method::DELETE,
                    "delete_firewall",
                    self.compute_path(&format!("global/firewalls/{}", handle(key)?)),
                );
                self.compute_write(req).await
            }
            (ARMOR, Change::Create { key, .. }) => match model::split_armor_key(key) {
                None => {
                    let req = Request::new(
                        Method::POST,
                        "insert_security_policy",
                        self.compute_path("global/securityPolicies"),
                    )
                    .json(desired(key));
                    self.compute_write(req).await
                }
                Some((policy, _)) => {
                    let policy = policy_segment(policy)?;
                    let req = Request::new(
                        Method::POST,
                        "add_security_policy_rule",
                        self.compute_path(&format!("global/securityPolicies/{policy}/addRule")),
                    )
                    .json(desired(key));
                    self.compute_write(req).await
                }
            },
            (ARMOR, Change::Update { key, .. }) => match model::split_armor_key(key) {
                None => {
                    let fingerprint = seen(key)
                        .and_then(|i| i.raw.as_ref())
                        .and_then(|r| r.get("fingerprint"))
                        .and_then(Value::as_str);
                    let body = json!({"description": desired(key)["description"]});
                    let policy = policy_segment(key)?;
                    self.patch_fingerprinted(
                        "patch_security_policy",
                        &self.compute_path(&format!("global/securityPolicies/{policy}")),
                        body,
                        fingerprint,
                    )
                    .await
                }
                Some((policy, priority)) => {
                    let policy = policy_segment(policy)?;
                    let req = Request::new(
                        Method::POST,
                        "patch_security_policy_rule",
                        self.compute_path(&format!("global/securityPolicies/{policy}/patchRule")),
                    )
                    .query("priority", priority)
                    .json(desired(key));
                    self.compute_write(req).await
                }
            },
            (ARMOR, Change::Delete { key, .. }) => match model::split_armor_key(key) {
                // Only declared policies are read, so a whole policy is never "undeclared".
                None => Ok(()),
                Some((policy, priority)) => {
                    let policy = policy_segment(policy)?;
                    let req = Request::new(
                        Method::POST,
                        "remove_security_policy_rule",
                        self.compute_path(&format!("global/securityPolicies/{policy}/removeRule")),
                    )
                    .query("priority", priority);
                    self.compute_write(req).await
                }
            },
            (
                FLOW_LOGS,
                Change::Update { key: region, .. } | Change::Create { key: region, .. },
            ) => {
                let subnets = seen(region)
                    .and_then(|i| i.raw.as_ref())
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for subnet in &subnets {
                    let Some(name) = subnet.get("name").and_then(Value::as_str) else {
                        continue;
                    };
                    let name = answer_segment("patch_subnetwork", "subnet name", name)?;
                    let region = spec_segment("patch_subnetwork", "regions", region)?;
                    let mut log_config = subnet
                        .get("logConfig")
                        .cloned()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    log_config["enable"] = json!(true);
                    self.patch_fingerprinted(
                        "patch_subnetwork",
                        &self.compute_path(&format!("regions/{region}/subnetworks/{name}")),
                        json!({"logConfig": log_config}),
                        subnet.get("fingerprint").and_then(Value::as_str),
                    )
                    .await?;
                }
                Ok(())
            }
            (ALERTS | UPTIME, Change::Create { key, .. }) => {
                let (op, collection) = if section == ALERTS {
                    ("create_alert_policy", "alertPolicies")
                } else {
                    ("create_uptime_check_config", "uptimeCheckConfigs")
                };
                let req = Request::new(Method::POST, op, format!("/v3/projects/{p}/{collection}"))
                    .json(desired(key));
                self.call_present(&self.monitoring, &req).await.map(|_| ())
            }
            // Without `updateMask` the whole object is replaced by the declared one.
            (ALERTS | UPTIME, Change::Update { key, .. }) => {
                let op = if section == ALERTS {
                    "patch_alert_policy"
                } else {
                    "patch_uptime_check_config"
                };
                let req = Request::new(Method::PATCH, op, format!("/v3/{}", handle(key)?))
                    .json(desired(key));
                self.call_present(&self.monitoring, &req).await.map(|_| ())
            }
            (ALERTS | UPTIME, Change::Delete { key, .. }) => {
                let op = if section == ALERTS {
                    "delete_alert_policy"
                } else {
                    "delete_uptime_check_config"
                };
                let req = Request::new(Method::DELETE, op, format!("/v3/{}", handle(key)?));
                self.call(&self.monitoring, &req).await.map(|_| ())
            }
            _ => Err(ProviderError::new(
                Category::InvalidSpec,
                "apply",
                format!("cannot apply {}", change.describe()),
            )),
        }
    }
}

/// The outcome of a DONE operation: its `error.errors[]` as a `WriteRejected`.
fn operation_outcome(operation: &'static str, op: &Value) -> Result<(), ProviderError> {
    let Some(errors) = op.pointer("/error/errors").and_then(Value::as_array) else {
        return Ok(());
    };
    let text = errors
        .iter()
        .map(|e| {
            let code = e.get("code").and_then(Value::as_str).unwrap_or("");
            let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
            format!("{code} {msg}").trim().to_string()
        })
        .collect::<Vec<_>>()
        .join("; ");
    let text = sanitize(&text, 300);
    let status = op
        .get("httpErrorStatusCode")
        .and_then(Value::as_u64)
        .map(|s| format!("HTTP {s}: "))
        .unwrap_or_default();
    Err(ProviderError::new(
        Category::WriteRejected,
        operation,
        format!("operation failed: {status}{text}"),
    ))
}

fn bad(operation: &'static str, message: &str) -> ProviderError {
    ProviderError::new(Category::BadResponse, operation, message.to_string())
}

fn unknown_section(name: &str) -> ProviderError {
    ProviderError::new(
        Category::InvalidSpec,
        "observe",
        format!("unknown section {name}"),
    )
}

#[async_trait]
impl Provider for Gcp {
    /// Each API has its own limit: a firewall target reads Compute; a monitoring target reads
    /// Cloud Monitoring, and Compute's subnetworks with Network Management's flow-log
    /// configurations for its regions. (Logging is read only for drift's authors, after.)
    fn rate_limiters(&self, target: &Target) -> Vec<Arc<RateLimiter>> {
        match target.purpose {
            Purpose::Firewall => vec![self.compute.limiter().clone()],
            Purpose::Monitoring => vec![
                self.monitoring.limiter().clone(),
                self.compute.limiter().clone(),
                self.netmgmt.limiter().clone(),
            ],
        }
    }

    fn provider_type(&self) -> ProviderType {
        ProviderType::Gcp
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        let req = Request::get("list_firewalls", self.compute_path("global/firewalls"))
            .query("maxResults", 1);
        self.call_present(&self.compute, &req).await?;
        Ok(format!(
            "access token accepted for project {}",
            self.project
        ))
    }

    /// The project's VPC networks (`networks.list`, paged).
    async fn inventory(&self) -> Result<Option<Vec<crate::core::inventory::Asset>>, ProviderError> {
        let op = "list_networks";
        let networks = self
            .list_pages(
                &self.compute,
                op,
                &self.compute_path("global/networks"),
                "items",
                ("maxResults", MAX_RESULTS),
                true,
            )
            .await?;
        networks
            .iter()
            .map(inventory::network_asset)
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| bad(op, "a network has no name"))
    }

    /// The external addresses of a Cloud NAT, for a `gcpCloudNat` source.
    async fn source_addresses(
        &self,
        source: &crate::api::addressset::AddressSource,
    ) -> Result<Vec<String>, ProviderError> {
        let Some(nat) = &source.gcp_cloud_nat else {
            return Err(ProviderError::new(
                Category::InvalidSpec,
                "get_router_status",
                format!("{}: not a GCP source", source.field()),
            ));
        };
        self.cloud_nat_addresses(nat).await
    }

    /// The project's Admin Activity audit log in [`LOOKBACK`], newest first, filtered to the
    /// drifted resources (see [`audit`]). A credential without `logging.logEntries.list` leaves
    /// the drift unattributed, saying so.
    async fn audit_trail(
        &self,
        target: &Target,
        drift: &[crate::core::Drift],
    ) -> Result<Trail, ProviderError> {
        let op = "list_log_entries";
        target.scope_of::<GcpScope>(op)?;
        let since = jiff::Timestamp::now() - LOOKBACK;
        let filter = audit::filter(&self.project, since, drift);
        let mut entries = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..audit::MAX_PAGES {
            // A read sent as POST (a filter too long for a URL): shared like one.
            let req = Request::new(Method::POST, op, "/v2/entries:list")
                .json(audit::request(&self.project, &filter, token.as_deref()))
                .reads();
            let page = match self.call_present(&self.logging, &req).await {
                Ok(page) => page,
                Err(e) if e.status == Some(403) => {
                    return Ok(Trail::Unreadable(audit::denied(&self.project, &e.message)));
                }
                Err(e) => return Err(e),
            };
            match page.get("entries") {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => entries.extend(items.iter().cloned()),
                Some(_) => return Err(bad(op, "entries is not a list")),
            }
            token = page
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let (writes, operations) = self.own.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let own = audit::Own {
            project: &self.project,
            writes: &writes,
            operations: &operations,
            principal: self.principal.as_deref(),
        };
        Ok(Trail::Read {
            source: audit::SOURCE,
            since,
            events: audit::events(&entries, &own),
        })
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        let mut obs = Observation::default();
        match (target.purpose, target.scope_of::<GcpScope>("observe")?) {
            (Purpose::Firewall, GcpScope::Network(network)) => {
                self.observe_firewall(target, network, &mut obs).await?
            }
            (
                Purpose::Monitoring,
                GcpScope::Project {
                    regions,
                    flow_log_subnets,
                },
            ) => {
                self.observe_monitoring(target, regions, flow_log_subnets.as_deref(), &mut obs)
                    .await?
            }
            (purpose, scope) => {
                return Err(ProviderError::new(
                    Category::InvalidSpec,
                    "observe",
                    format!("a {purpose:?} target cannot cover {scope}"),
                ));
            }
        }
        Ok(obs)
    }

    async fn apply(
        &self,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let mut applied = Vec::new();
        if let Err(error) = target.scope_of::<GcpScope>("apply") {
            return Err(ApplyError { applied, error });
        }
        for change in plan {
            // Recorded before sending: the audit entry is stamped while the call is in flight.
            self.own.lock().unwrap_or_else(|p| p.into_inner()).0.record(
                &self.project,
                change.section(),
                jiff::Timestamp::now(),
            );
            if let Err(error) = self.apply_change(target, observed, change).await {
                return Err(ApplyError { applied, error });
            }
            applied.push(change.describe());
        }
        Ok(applied)
    }
}
