//! AWS, through the official SDK: EC2 (security-group rules, network ACLs, VPCs, flow logs),
//! WAFv2 (web ACLs, IP sets), GuardDuty and CloudWatch alarms: one region per policy block, or
//! every region of the `CloudProvider` for a block without a region (see [`model::per_region`]).
//!
//! The SDK signs, retries (standard mode) and times out; [`interceptor`] adds the project's
//! per-account rate limit and call counter. Everything that decides *what* differs is pure
//! and lives in [`model`].

pub mod api;
pub mod interceptor;
mod kit;
pub mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Deserialize;

use self::interceptor::{CallCounter, Egress, RateLimitedClient, error_code, sdk_error};
use self::model::{
    ALARMS, ALL_VPCS, AlarmObs, FINDINGS, FLOW_LOGS, FlowLogObs, GUARD_DUTY, GroupObs, IP_SETS,
    NaclEntryObs, REGION, REGIONS, SgRuleObs, WEB_ACLS, WafRuleObs,
};
use super::{ApplyError, Observation, Provider, Purpose, Target};
use crate::api::provider::CredentialSource;
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::{Change, Item, Section, SectionKind, State};
use crate::error::{Category, Error, ProviderError};
use crate::http::RateLimiter;
use crate::metrics::Metrics;
use crate::providers::aws::api::{Alarm, FlowLogRequirement, GuardDuty, IpSet, WafRule, WebAcl};
use crate::secret::SecretString;

pub use kit::Kit;
pub use model::{firewall_target, monitoring_target};

/// AWS allows far more than Cloudflare: EC2 buckets refill at tens of Describe calls per
/// second. 1200/min with a burst of 50 keeps a full firewall read (a handful of paginated
/// calls per region) well under a second while leaving most of the account's budget to others.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 1200;
pub const DEFAULT_BURST: u32 = 50;
const DEFAULT_TIMEOUT_SECONDS: u32 = 30;
/// Used only to build the shared configuration; every call names the policy's region.
const FALLBACK_REGION: &str = "us-east-1";

/// `{"accessKeyId", "secretAccessKey", "sessionToken"?}` from the Secret.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StaticKeys {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
}

/// One SDK client per service and region, built on first use and kept: they share the config
/// (credentials, endpoint, rate-limited HTTP client) and the call-counting interceptor.
macro_rules! service_client {
    ($name:ident, $sdk:ident) => {
        fn $name(&self, region: &str) -> $sdk::Client {
            let mut cache = self
                .clients
                .$name
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cache
                .entry(region.to_string())
                .or_insert_with(|| {
                    let conf = $sdk::config::Builder::from(&self.config)
                        .region(Region::new(region.to_string()))
                        .interceptor(self.counter.clone())
                        .http_client(self.services.clone())
                        .build();
                    $sdk::Client::from_conf(conf)
                })
                .clone()
        }
    };
}

/// The clients built so far, by region.
#[derive(Default)]
struct Clients {
    ec2: Mutex<BTreeMap<String, aws_sdk_ec2::Client>>,
    waf: Mutex<BTreeMap<String, aws_sdk_wafv2::Client>>,
    guardduty: Mutex<BTreeMap<String, aws_sdk_guardduty::Client>>,
    cloudwatch: Mutex<BTreeMap<String, aws_sdk_cloudwatch::Client>>,
}

pub struct Aws {
    config: SdkConfig,
    /// The HTTP client of the service clients (checked egress).
    services: SharedHttpClient,
    clients: Clients,
    counter: CallCounter,
    /// The secret parts of a static credential, removed from every error message.
    secrets: Vec<SecretString>,
    /// The region `verify` asks: the first of `regions`, or a fallback.
    region: String,
    /// `CloudProvider.spec.regions`: what a policy block without a region covers.
    regions: Vec<String>,
}

impl Aws {
    pub async fn connect(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        let region = spec
            .regions
            .as_ref()
            .and_then(|r| r.first().cloned())
            .unwrap_or_else(|| FALLBACK_REGION.to_string());
        let (rpm, burst) = spec
            .rate_limit
            .as_ref()
            .map_or((DEFAULT_REQUESTS_PER_MINUTE, DEFAULT_BURST), |rl| {
                (rl.requests_per_minute, rl.burst.unwrap_or(DEFAULT_BURST))
            });
        let limiter = Arc::new(RateLimiter::new(rpm, burst));
        let tls = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let rate_limited =
            RateLimitedClient::new(tls, limiter, crate::http::DEFAULT_MAX_BODY_BYTES);
        // The service clients send signed requests only to AWS or the allowed endpoint; the
        // credential providers of `source: Ambient` (IMDS, ECS, STS) use the unchecked one.
        let endpoint = match spec.endpoint.as_deref() {
            Some(raw) => {
                let checked = crate::trust::url::parse(raw, crate::trust::url::Rules::ENDPOINT)
                    .map_err(|e| Error::InvalidSpec(format!("spec.endpoint: {e}")))?;
                Some((checked.host, checked.port))
            }
            None => None,
        };
        let services = SharedHttpClient::new(rate_limited.only_to(Egress { endpoint }));
        let http = SharedHttpClient::new(rate_limited);
        let timeout = Duration::from_secs(u64::from(
            spec.request_timeout_seconds
                .unwrap_or(DEFAULT_TIMEOUT_SECONDS),
        ));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .http_client(http)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(timeout.min(Duration::from_secs(10)))
                    .operation_attempt_timeout(timeout)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(endpoint) = &spec.endpoint {
            loader = loader.endpoint_url(endpoint.trim_end_matches('/'));
        }
        let mut secrets = Vec::new();
        match (spec.credentials.source, credential) {
            (CredentialSource::Secret, None) => {
                return Err(Error::CredentialsMissing(
                    "AWS credentials.source Secret needs the Secret key".into(),
                ));
            }
            (CredentialSource::Secret, Some(secret)) => {
                let keys = parse_keys(&secret)?;
                secrets.push(SecretString::new(keys.secret_access_key.clone()));
                if let Some(t) = &keys.session_token {
                    secrets.push(SecretString::new(t.clone()));
                }
                loader = loader.credentials_provider(Credentials::new(
                    keys.access_key_id,
                    keys.secret_access_key,
                    keys.session_token,
                    None,
                    "perimeter-secret",
                ));
            }
            // The SDK's default chain: web identity (IRSA), EKS Pod Identity, profile, IMDS.
            (CredentialSource::Ambient, _) => {}
        }
        Ok(Self {
            config: loader.load().await,
            services,
            clients: Clients::default(),
            counter: CallCounter::new(metrics),
            secrets,
            region,
            regions: spec.regions.clone().unwrap_or_default(),
        })
    }

    fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_string(), |t, s| s.redact(&t))
    }

    fn err<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        operation: &'static str,
        write: bool,
        e: &SdkError<E, HttpResponse>,
    ) -> ProviderError {
        sdk_error(operation, write, e, &|t| self.redact(t))
    }

    service_client!(ec2, aws_sdk_ec2);

    service_client!(waf, aws_sdk_wafv2);

    service_client!(guardduty, aws_sdk_guardduty);

    service_client!(cloudwatch, aws_sdk_cloudwatch);

    // ---- EC2 reads (paginators follow NextToken) ------------------------------------------

    async fn groups(&self, region: &str) -> Result<Vec<GroupObs>, ProviderError> {
        let op = "DescribeSecurityGroups";
        let mut pages = self
            .ec2(region)
            .describe_security_groups()
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            for g in page.security_groups() {
                out.push(GroupObs {
                    group_id: g.group_id().unwrap_or_default().to_string(),
                    group_name: g.group_name().unwrap_or_default().to_string(),
                    vpc_id: g.vpc_id().map(str::to_string),
                });
            }
        }
        Ok(out)
    }

    async fn sg_rules(&self, region: &str) -> Result<Vec<SgRuleObs>, ProviderError> {
        let op = "DescribeSecurityGroupRules";
        let mut pages = self
            .ec2(region)
            .describe_security_group_rules()
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            for r in page.security_group_rules() {
                let (Some(id), Some(group)) = (r.security_group_rule_id(), r.group_id()) else {
                    return Err(ProviderError::new(
                        Category::BadResponse,
                        op,
                        "a rule without id or group id",
                    ));
                };
                out.push(SgRuleObs {
                    rule_id: id.to_string(),
                    group_id: group.to_string(),
                    egress: r.is_egress().unwrap_or(false),
                    protocol: r.ip_protocol().unwrap_or("-1").to_string(),
                    from_port: r.from_port(),
                    to_port: r.to_port(),
                    cidr_v4: r.cidr_ipv4().map(str::to_string),
                    cidr_v6: r.cidr_ipv6().map(str::to_string),
                    prefix_list_id: r.prefix_list_id().map(str::to_string),
                    peer_group_id: r
                        .referenced_group_info()
                        .and_then(|g| g.group_id())
                        .map(str::to_string),
                    description: r
                        .description()
                        .filter(|d| !d.is_empty())
                        .map(str::to_string),
                });
            }
        }
        Ok(out)
    }

    async fn nacls(
        &self,
        region: &str,
        ids: Vec<String>,
    ) -> Result<BTreeMap<String, Vec<NaclEntryObs>>, ProviderError> {
        let op = "DescribeNetworkAcls";
        let mut pages = self
            .ec2(region)
            .describe_network_acls()
            // By id, not by the `network-acl-id` filter (moto answers that filter with a 500):
            // a declared ACL that does not exist is then an error naming it.
            .set_network_acl_ids(Some(ids))
            .into_paginator()
            .send();
        let mut out = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            for acl in page.network_acls() {
                let entries = acl
                    .entries()
                    .iter()
                    .map(|e| NaclEntryObs {
                        rule_number: e.rule_number().unwrap_or(32767),
                        egress: e.egress().unwrap_or(false),
                        protocol: e.protocol().unwrap_or("-1").to_string(),
                        rule_action: e
                            .rule_action()
                            .map(|a| a.as_str())
                            .unwrap_or("")
                            .to_string(),
                        cidr: e.cidr_block().or(e.ipv6_cidr_block()).map(str::to_string),
                        from_port: e.port_range().and_then(|p| p.from()),
                        to_port: e.port_range().and_then(|p| p.to()),
                    })
                    .collect();
                out.insert(
                    acl.network_acl_id().unwrap_or_default().to_string(),
                    entries,
                );
            }
        }
        Ok(out)
    }

    async fn vpcs(&self, region: &str) -> Result<Vec<String>, ProviderError> {
        let op = "DescribeVpcs";
        let mut pages = self.ec2(region).describe_vpcs().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            out.extend(
                page.vpcs()
                    .iter()
                    .filter_map(|v| v.vpc_id().map(str::to_string)),
            );
        }
        Ok(out)
    }

    async fn flow_logs(&self, region: &str) -> Result<Vec<FlowLogObs>, ProviderError> {
        let op = "DescribeFlowLogs";
        let mut pages = self
            .ec2(region)
            .describe_flow_logs()
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            for f in page.flow_logs() {
                let dtype = f
                    .log_destination_type()
                    .map_or("cloud-watch-logs", |t| t.as_str())
                    .to_string();
                out.push(FlowLogObs {
                    flow_log_id: f.flow_log_id().unwrap_or_default().to_string(),
                    resource_id: f.resource_id().unwrap_or_default().to_string(),
                    traffic_type: f
                        .traffic_type()
                        .map(|t| t.as_str())
                        .unwrap_or("")
                        .to_string(),
                    destination: f
                        .log_destination()
                        .or(f.log_group_name())
                        .unwrap_or_default()
                        .to_string(),
                    destination_type: dtype,
                    log_format: f.log_format().map(str::to_string),
                    max_aggregation_interval: f.max_aggregation_interval(),
                });
            }
        }
        Ok(out)
    }

    // ---- observe ---------------------------------------------------------------------------

    async fn observe_firewall(
        &self,
        region: &str,
        target: &Target,
    ) -> Result<Observation, ProviderError> {
        let mut obs = Observation::default();
        // Read every group and rule of the region: world-open ingress is reported whatever
        // the policy declares.
        let groups = self.groups(region).await?;
        let rules = self.sg_rules(region).await?;
        obs.state.sections.extend(model::observed_sg_sections(
            &target.desired,
            &groups,
            &rules,
        ));
        obs.findings.extend(model::world_open_findings(&rules));
        if target.desired.section(FINDINGS).is_some() {
            obs.state.push(model::observed_findings_section(&rules));
        }
        let acl_ids: Vec<String> = target
            .desired
            .sections
            .iter()
            .filter_map(|s| model::parse_nacl_section(&s.name).map(str::to_string))
            .collect();
        if !acl_ids.is_empty() {
            let acls = self.nacls(region, acl_ids).await?;
            for (id, entries) in acls {
                let items = entries
                    .iter()
                    .filter_map(model::observed_nacl_entry)
                    .collect();
                obs.state.push(Section::new(
                    model::nacl_section(&id),
                    SectionKind::Unordered,
                    items,
                ));
            }
        }
        if let Some(acls) = target.desired.section(WEB_ACLS) {
            let mut settings = Vec::new();
            for want in &acls.items {
                let acl: WebAcl = from_raw(want, "GetWebACL")?;
                let Some((id, web_acl, _)) = self.get_web_acl(region, &acl).await? else {
                    continue;
                };
                let default = match web_acl.default_action() {
                    Some(d) if d.block().is_some() => "Block",
                    _ => "Allow",
                };
                settings.push(
                    Item::new(&want.key)
                        .field("defaultAction", default)
                        .with_handle(id),
                );
                let rules = web_acl
                    .rules()
                    .iter()
                    .map(|r| model::observed_waf_rule(&waf_rule_obs(r)))
                    .collect();
                obs.state.push(Section::new(
                    model::waf_rules_section(&want.key),
                    SectionKind::Unordered,
                    rules,
                ));
            }
            obs.state
                .push(Section::new(WEB_ACLS, SectionKind::Settings, settings));
        }
        if let Some(sets) = target.desired.section(IP_SETS) {
            let mut scopes = BTreeSet::new();
            for want in &sets.items {
                let set: IpSet = from_raw(want, "ListIPSets")?;
                scopes.insert(set.scope.as_str());
            }
            let mut items = Vec::new();
            for scope in scopes {
                for (name, id) in self.list_ip_sets(region, scope).await? {
                    let got = self
                        .waf(region)
                        .get_ip_set()
                        .name(&name)
                        .scope(scope.into())
                        .id(&id)
                        .send()
                        .await
                        .map_err(|e| self.err("GetIPSet", false, &e))?;
                    let Some(set) = got.ip_set() else { continue };
                    items.push(
                        model::observed_ip_set(
                            scope,
                            &name,
                            set.ip_address_version().as_str(),
                            set.addresses(),
                        )
                        .with_handle(id),
                    );
                }
            }
            obs.state
                .push(Section::new(IP_SETS, SectionKind::Unordered, items));
        }
        Ok(obs)
    }

    async fn observe_monitoring(
        &self,
        region: &str,
        target: &Target,
    ) -> Result<Observation, ProviderError> {
        let mut obs = Observation::default();
        // Flow-log coverage is reported whatever the policy declares.
        let vpcs = self.vpcs(region).await?;
        let vpc_set: BTreeSet<&str> = vpcs.iter().map(String::as_str).collect();
        let flow_logs: Vec<FlowLogObs> = self
            .flow_logs(region)
            .await?
            .into_iter()
            .filter(|f| vpc_set.contains(f.resource_id.as_str()))
            .collect();
        obs.findings
            .extend(model::flow_log_findings(&vpcs, &flow_logs));
        if let Some(section) = target.desired.section(FLOW_LOGS) {
            let req: FlowLogRequirement = section
                .items
                .first()
                .map(|i| from_raw(i, "DescribeFlowLogs"))
                .transpose()?
                .ok_or_else(|| {
                    ProviderError::new(
                        Category::InvalidSpec,
                        "DescribeFlowLogs",
                        "no flow-log requirement",
                    )
                })?;
            obs.state
                .push(model::observed_flow_logs_section(&req, &vpcs, &flow_logs));
        }
        if target.desired.section(GUARD_DUTY).is_some() {
            let items = self.detector(region).await?.into_iter().collect();
            obs.state
                .push(Section::new(GUARD_DUTY, SectionKind::Settings, items));
        }
        if target.desired.section(ALARMS).is_some() {
            let op = "DescribeAlarms";
            let mut pages = self
                .cloudwatch(region)
                .describe_alarms()
                .into_paginator()
                .send();
            let mut items = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.err(op, false, &e))?;
                for a in page.metric_alarms() {
                    items.push(model::observed_alarm(&AlarmObs {
                        name: a.alarm_name().unwrap_or_default().to_string(),
                        namespace: a.namespace().unwrap_or_default().to_string(),
                        metric_name: a.metric_name().unwrap_or_default().to_string(),
                        statistic: a.statistic().map(|s| s.as_str()).unwrap_or("").to_string(),
                        period: a.period().unwrap_or_default(),
                        evaluation_periods: a.evaluation_periods().unwrap_or_default(),
                        threshold: a.threshold().unwrap_or_default(),
                        comparison_operator: a
                            .comparison_operator()
                            .map(|c| c.as_str())
                            .unwrap_or("")
                            .to_string(),
                        alarm_actions: a.alarm_actions().to_vec(),
                        treat_missing_data: a.treat_missing_data().map(str::to_string),
                    }));
                }
            }
            obs.state
                .push(Section::new(ALARMS, SectionKind::Unordered, items));
        }
        Ok(obs)
    }

    async fn detector(&self, region: &str) -> Result<Option<Item>, ProviderError> {
        let gd = self.guardduty(region);
        let mut pages = gd.list_detectors().into_paginator().send();
        let mut id = None;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err("ListDetectors", false, &e))?;
            if let Some(first) = page.detector_ids().first() {
                id = Some(first.clone());
                break;
            }
        }
        let Some(id) = id else { return Ok(None) };
        let got = gd
            .get_detector()
            .detector_id(&id)
            .send()
            .await
            .map_err(|e| self.err("GetDetector", false, &e))?;
        let enabled = got.status().is_some_and(|s| s.as_str() == "ENABLED");
        Ok(Some(
            Item::new(model::DETECTOR)
                .field("enabled", enabled)
                .opt_field(
                    "findingPublishingFrequency",
                    got.finding_publishing_frequency()
                        .map(|f| f.as_str().to_string()),
                )
                .with_handle(id),
        ))
    }

    // ---- WAFv2 -----------------------------------------------------------------------------

    async fn list_ip_sets(
        &self,
        region: &str,
        scope: &str,
    ) -> Result<Vec<(String, String)>, ProviderError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .waf(region)
                .list_ip_sets()
                .scope(scope.into())
                .limit(100)
                .set_next_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.err("ListIPSets", false, &e))?;
            for s in page.ip_sets() {
                if let (Some(n), Some(i)) = (s.name(), s.id()) {
                    out.push((n.to_string(), i.to_string()));
                }
            }
            marker = next_marker(page.next_marker(), page.ip_sets().is_empty());
            if marker.is_none() {
                return Ok(out);
            }
        }
        Err(too_many_pages("ListIPSets"))
    }

    async fn find_web_acl(
        &self,
        region: &str,
        scope: &str,
        name: &str,
    ) -> Result<Option<String>, ProviderError> {
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .waf(region)
                .list_web_acls()
                .scope(scope.into())
                .limit(100)
                .set_next_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.err("ListWebACLs", false, &e))?;
            if let Some(found) = page.web_acls().iter().find(|a| a.name() == Some(name)) {
                return Ok(found.id().map(str::to_string));
            }
            marker = next_marker(page.next_marker(), page.web_acls().is_empty());
            if marker.is_none() {
                return Ok(None);
            }
        }
        Err(too_many_pages("ListWebACLs"))
    }

    /// The web ACL with its id and lock token, or `None` when it does not exist.
    async fn get_web_acl(
        &self,
        region: &str,
        acl: &WebAcl,
    ) -> Result<Option<(String, aws_sdk_wafv2::types::WebAcl, String)>, ProviderError> {
        let scope = acl.scope.as_str();
        let Some(id) = self.find_web_acl(region, scope, &acl.name).await? else {
            return Ok(None);
        };
        let got = self
            .waf(region)
            .get_web_acl()
            .name(&acl.name)
            .scope(scope.into())
            .id(&id)
            .send()
            .await
            .map_err(|e| self.err("GetWebACL", false, &e))?;
        let (Some(web_acl), Some(token)) = (got.web_acl(), got.lock_token()) else {
            return Err(ProviderError::new(
                Category::BadResponse,
                "GetWebACL",
                "answer without WebACL or LockToken",
            ));
        };
        Ok(Some((id, web_acl.clone(), token.to_string())))
    }

    /// Writes one web ACL whole: declared rules as declared, undeclared rules kept unless the
    /// plan deletes them. A stale lock token (someone wrote in between) re-reads once.
    async fn write_web_acl(
        &self,
        region: &str,
        target: &Target,
        key: &str,
        removed: &BTreeSet<String>,
    ) -> Result<(), ProviderError> {
        let item = target
            .desired
            .section(WEB_ACLS)
            .and_then(|s| s.get(key))
            .ok_or_else(|| {
                ProviderError::new(Category::InvalidSpec, "UpdateWebACL", "undeclared web ACL")
            })?;
        let acl: WebAcl = from_raw(item, "UpdateWebACL")?;
        let declared = acl
            .rules
            .iter()
            .map(sdk_waf_rule)
            .collect::<Result<Vec<_>, _>>()?;
        let default = default_action(&acl.default_action)?;
        for attempt in 0..2 {
            let Some((id, current, token)) = self.get_web_acl(region, &acl).await? else {
                let visibility = visibility(&acl.name)?;
                self.waf(region)
                    .create_web_acl()
                    .name(&acl.name)
                    .scope(acl.scope.as_str().into())
                    .default_action(default.clone())
                    .set_rules(Some(declared.clone()))
                    .visibility_config(visibility)
                    .send()
                    .await
                    .map_err(|e| self.err("CreateWebACL", true, &e))?;
                return Ok(());
            };
            let names: BTreeSet<&str> = acl.rules.iter().map(|r| r.name.as_str()).collect();
            let mut rules = declared.clone();
            rules.extend(
                current
                    .rules()
                    .iter()
                    .filter(|r| !names.contains(r.name()) && !removed.contains(r.name()))
                    .cloned(),
            );
            let visibility = match current.visibility_config() {
                Some(v) => v.clone(),
                None => visibility(&acl.name)?,
            };
            let sent = self
                .waf(region)
                .update_web_acl()
                .name(&acl.name)
                .scope(acl.scope.as_str().into())
                .id(&id)
                .default_action(default.clone())
                .set_rules(Some(rules))
                .visibility_config(visibility)
                .lock_token(token)
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(e) if attempt == 0 && error_code(&e) == Some("WAFOptimisticLockException") => {
                    tracing::info!("web ACL {key} changed while being written; re-reading once");
                }
                Err(e) => return Err(self.err("UpdateWebACL", true, &e)),
            }
        }
        Err(ProviderError::new(
            Category::WriteRejected,
            "UpdateWebACL",
            "the web ACL kept changing (WAFOptimisticLockException twice)",
        ))
    }

    async fn write_ip_set(
        &self,
        region: &str,
        target: &Target,
        change: &Change,
        observed: &State,
    ) -> Result<(), ProviderError> {
        let waf = self.waf(region);
        match change {
            Change::Create { key, .. } | Change::Update { key, .. } => {
                let item = target
                    .desired
                    .section(IP_SETS)
                    .and_then(|s| s.get(key))
                    .ok_or_else(|| {
                        ProviderError::new(
                            Category::InvalidSpec,
                            "UpdateIPSet",
                            "undeclared IP set",
                        )
                    })?;
                let set: IpSet = from_raw(item, "UpdateIPSet")?;
                let addresses = item
                    .fields
                    .get("addresses")
                    .and_then(|a| serde_json::from_value::<Vec<String>>(a.clone()).ok())
                    .unwrap_or_default();
                let handle = observed
                    .section(IP_SETS)
                    .and_then(|s| s.get(key))
                    .and_then(|i| i.handle.clone());
                let Some(id) = handle else {
                    waf.create_ip_set()
                        .name(&set.name)
                        .scope(set.scope.as_str().into())
                        .ip_address_version(set.ip_address_version.as_str().into())
                        .set_addresses(Some(addresses))
                        .send()
                        .await
                        .map_err(|e| self.err("CreateIPSet", true, &e))?;
                    return Ok(());
                };
                for attempt in 0..2 {
                    let got = waf
                        .get_ip_set()
                        .name(&set.name)
                        .scope(set.scope.as_str().into())
                        .id(&id)
                        .send()
                        .await
                        .map_err(|e| self.err("GetIPSet", false, &e))?;
                    let token = got.lock_token().unwrap_or_default().to_string();
                    let sent = waf
                        .update_ip_set()
                        .name(&set.name)
                        .scope(set.scope.as_str().into())
                        .id(&id)
                        .set_addresses(Some(addresses.clone()))
                        .lock_token(token)
                        .send()
                        .await;
                    match sent {
                        Ok(_) => return Ok(()),
                        Err(e)
                            if attempt == 0
                                && error_code(&e) == Some("WAFOptimisticLockException") => {}
                        Err(e) => return Err(self.err("UpdateIPSet", true, &e)),
                    }
                }
                Err(ProviderError::new(
                    Category::WriteRejected,
                    "UpdateIPSet",
                    "the IP set kept changing (WAFOptimisticLockException twice)",
                ))
            }
            Change::Delete { key, .. } => {
                let Some(id) = observed
                    .section(IP_SETS)
                    .and_then(|s| s.get(key))
                    .and_then(|i| i.handle.clone())
                else {
                    return Ok(());
                };
                let (scope, name) = key.split_once('/').unwrap_or(("REGIONAL", key));
                let got = waf
                    .get_ip_set()
                    .name(name)
                    .scope(scope.into())
                    .id(&id)
                    .send()
                    .await
                    .map_err(|e| self.err("GetIPSet", false, &e))?;
                waf.delete_ip_set()
                    .name(name)
                    .scope(scope.into())
                    .id(&id)
                    .lock_token(got.lock_token().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| self.err("DeleteIPSet", true, &e))?;
                Ok(())
            }
            Change::Reorder { .. } => Ok(()),
        }
    }

    // ---- EC2 writes ------------------------------------------------------------------------

    async fn write_sg_rule(
        &self,
        region: &str,
        target: &Target,
        observed: &State,
        groups: &[GroupObs],
        change: &Change,
    ) -> Result<(), ProviderError> {
        use aws_sdk_ec2::types as t;
        let section = change.section();
        let Some((group, egress)) = model::parse_sg_section(section) else {
            return Ok(());
        };
        let op_auth = if egress {
            "AuthorizeSecurityGroupEgress"
        } else {
            "AuthorizeSecurityGroupIngress"
        };
        let group_id = model::resolve_group(group, groups).ok_or_else(|| {
            ProviderError::new(
                Category::WriteRejected,
                op_auth,
                format!("security group {group} does not exist"),
            )
        })?;
        let ec2 = self.ec2(region);
        let observed_item = |key: &str| observed.section(section).and_then(|s| s.get(key));
        match change {
            Change::Create { key, .. } => {
                let item = target
                    .desired
                    .section(section)
                    .and_then(|s| s.get(key))
                    .ok_or_else(|| {
                        ProviderError::new(Category::InvalidSpec, op_auth, "undeclared rule")
                    })?;
                let raw = item.raw.clone().unwrap_or_default();
                let s = |k: &str| raw.get(k).and_then(|v| v.as_str()).map(str::to_string);
                let n = |k: &str| {
                    raw.get(k)
                        .and_then(serde_json::Value::as_i64)
                        .and_then(|v| i32::try_from(v).ok())
                };
                let description = s("description");
                let peer = s("peer").unwrap_or_default();
                let mut perm = t::IpPermission::builder()
                    .ip_protocol(s("protocol").unwrap_or_else(|| "-1".into()))
                    .set_from_port(n("fromPort"))
                    .set_to_port(n("toPort"));
                perm = match s("peerKind").as_deref() {
                    Some("prefixListId") => perm.prefix_list_ids(
                        t::PrefixListId::builder()
                            .prefix_list_id(peer)
                            .set_description(description)
                            .build(),
                    ),
                    Some("groupId") => perm.user_id_group_pairs(
                        t::UserIdGroupPair::builder()
                            .group_id(peer)
                            .set_description(description)
                            .build(),
                    ),
                    _ if peer.contains(':') => perm.ipv6_ranges(
                        t::Ipv6Range::builder()
                            .cidr_ipv6(peer)
                            .set_description(description)
                            .build(),
                    ),
                    _ => perm.ip_ranges(
                        t::IpRange::builder()
                            .cidr_ip(peer)
                            .set_description(description)
                            .build(),
                    ),
                };
                let perm = perm.build();
                if egress {
                    ec2.authorize_security_group_egress()
                        .group_id(&group_id)
                        .ip_permissions(perm)
                        .send()
                        .await
                        .map_err(|e| self.err(op_auth, true, &e))?;
                } else {
                    ec2.authorize_security_group_ingress()
                        .group_id(&group_id)
                        .ip_permissions(perm)
                        .send()
                        .await
                        .map_err(|e| self.err(op_auth, true, &e))?;
                }
            }
            // ModifySecurityGroupRules carries the whole rule (identity + description), so the
            // rule keeps its id; the identity fields are unchanged by construction of the key.
            Change::Update { key, .. } => {
                let op = "ModifySecurityGroupRules";
                let rule_id = observed_item(key)
                    .and_then(|i| i.handle.clone())
                    .unwrap_or_default();
                let raw = target
                    .desired
                    .section(section)
                    .and_then(|s| s.get(key))
                    .and_then(|i| i.raw.clone())
                    .unwrap_or_default();
                let s = |k: &str| raw.get(k).and_then(|v| v.as_str()).map(str::to_string);
                let n = |k: &str| {
                    raw.get(k)
                        .and_then(serde_json::Value::as_i64)
                        .and_then(|v| i32::try_from(v).ok())
                };
                let peer = s("peer");
                let kind = s("peerKind").unwrap_or_default();
                let v6 = peer.as_deref().is_some_and(|p| p.contains(':'));
                let rule = t::SecurityGroupRuleRequest::builder()
                    .ip_protocol(s("protocol").unwrap_or_else(|| "-1".into()))
                    .set_from_port(n("fromPort").or(Some(-1)))
                    .set_to_port(n("toPort").or(Some(-1)))
                    .set_cidr_ipv4(peer.clone().filter(|_| kind == "cidr" && !v6))
                    .set_cidr_ipv6(peer.clone().filter(|_| kind == "cidr" && v6))
                    .set_prefix_list_id(peer.clone().filter(|_| kind == "prefixListId"))
                    .set_referenced_group_id(peer.filter(|_| kind == "groupId"))
                    .description(s("description").unwrap_or_default())
                    .build();
                ec2.modify_security_group_rules()
                    .group_id(&group_id)
                    .security_group_rules(
                        t::SecurityGroupRuleUpdate::builder()
                            .security_group_rule_id(rule_id)
                            .security_group_rule(rule)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| self.err(op, true, &e))?;
            }
            Change::Delete { key, .. } => {
                let rule_id = observed_item(key)
                    .and_then(|i| i.handle.clone())
                    .unwrap_or_default();
                self.revoke(region, &group_id, egress, vec![rule_id])
                    .await?;
            }
            Change::Reorder { .. } => {}
        }
        Ok(())
    }

    async fn revoke(
        &self,
        region: &str,
        group_id: &str,
        egress: bool,
        rule_ids: Vec<String>,
    ) -> Result<(), ProviderError> {
        let ec2 = self.ec2(region);
        if egress {
            let op = "RevokeSecurityGroupEgress";
            ec2.revoke_security_group_egress()
                .group_id(group_id)
                .set_security_group_rule_ids(Some(rule_ids))
                .send()
                .await
                .map_err(|e| self.err(op, true, &e))?;
        } else {
            let op = "RevokeSecurityGroupIngress";
            let out = ec2
                .revoke_security_group_ingress()
                .group_id(group_id)
                .set_security_group_rule_ids(Some(rule_ids))
                .send()
                .await
                .map_err(|e| self.err(op, true, &e))?;
            if !out.unknown_ip_permissions().is_empty() {
                return Err(ProviderError::new(
                    Category::WriteRejected,
                    op,
                    format!("{group_id}: some rules were not found (UnknownIpPermissions)"),
                ));
            }
        }
        Ok(())
    }

    async fn write_nacl_entry(
        &self,
        region: &str,
        target: &Target,
        change: &Change,
    ) -> Result<(), ProviderError> {
        let section = change.section();
        let Some(acl) = model::parse_nacl_section(section) else {
            return Ok(());
        };
        let ec2 = self.ec2(region);
        let desired = |key: &str| -> Result<serde_json::Value, ProviderError> {
            target
                .desired
                .section(section)
                .and_then(|s| s.get(key))
                .and_then(|i| i.raw.clone())
                .ok_or_else(|| {
                    ProviderError::new(
                        Category::InvalidSpec,
                        "CreateNetworkAclEntry",
                        "undeclared entry",
                    )
                })
        };
        match change {
            Change::Create { key, .. } | Change::Update { key, .. } => {
                let raw = desired(key)?;
                let e: NaclRaw = serde_json::from_value(raw).map_err(|_| {
                    ProviderError::new(Category::InvalidSpec, "CreateNetworkAclEntry", "bad entry")
                })?;
                let range = match (e.from_port, e.to_port) {
                    (Some(f), Some(t)) => Some(
                        aws_sdk_ec2::types::PortRange::builder()
                            .from(f)
                            .to(t)
                            .build(),
                    ),
                    _ => None,
                };
                let v6 = e.cidr.contains(':');
                if matches!(change, Change::Create { .. }) {
                    let op = "CreateNetworkAclEntry";
                    ec2.create_network_acl_entry()
                        .network_acl_id(acl)
                        .rule_number(e.rule_number)
                        .egress(e.egress)
                        .protocol(e.protocol)
                        .rule_action(e.rule_action.as_str().into())
                        .set_cidr_block((!v6).then(|| e.cidr.clone()))
                        .set_ipv6_cidr_block(v6.then(|| e.cidr.clone()))
                        .set_port_range(range)
                        .send()
                        .await
                        .map_err(|er| self.err(op, true, &er))?;
                } else {
                    let op = "ReplaceNetworkAclEntry";
                    ec2.replace_network_acl_entry()
                        .network_acl_id(acl)
                        .rule_number(e.rule_number)
                        .egress(e.egress)
                        .protocol(e.protocol)
                        .rule_action(e.rule_action.as_str().into())
                        .set_cidr_block((!v6).then(|| e.cidr.clone()))
                        .set_ipv6_cidr_block(v6.then(|| e.cidr.clone()))
                        .set_port_range(range)
                        .send()
                        .await
                        .map_err(|er| self.err(op, true, &er))?;
                }
            }
            Change::Delete { key, .. } => {
                let op = "DeleteNetworkAclEntry";
                let (dir, number) = key.split_once(':').unwrap_or(("ingress", key));
                let number: i32 = number.parse().map_err(|_| {
                    ProviderError::new(Category::BadResponse, op, format!("bad entry key {key}"))
                })?;
                ec2.delete_network_acl_entry()
                    .network_acl_id(acl)
                    .rule_number(number)
                    .egress(dir == "egress")
                    .send()
                    .await
                    .map_err(|er| self.err(op, true, &er))?;
            }
            Change::Reorder { .. } => {}
        }
        Ok(())
    }

    /// Creates flow logs for `vpcs`. AWS answers 200 even when some VPCs failed: those are in
    /// `Unsuccessful`, and become an error naming them (the others were created).
    async fn create_flow_logs(
        &self,
        region: &str,
        req: &FlowLogRequirement,
        vpcs: Vec<String>,
    ) -> Result<Vec<String>, ProviderError> {
        use aws_sdk_ec2::types as t;
        let op = "CreateFlowLogs";
        let dtype = req.destination_type.as_str();
        let mut call = self
            .ec2(region)
            .create_flow_logs()
            .set_resource_ids(Some(vpcs))
            .resource_type(t::FlowLogsResourceType::Vpc)
            .traffic_type(req.traffic_type.as_str().into())
            .log_destination_type(dtype.into())
            .set_deliver_logs_permission_arn(req.deliver_logs_permission_arn.clone())
            .set_log_format(req.log_format.clone())
            .max_aggregation_interval(req.max_aggregation_interval.unwrap_or(600));
        call = if dtype == "cloud-watch-logs" {
            call.log_group_name(model::flow_log_destination(dtype, &req.destination))
        } else {
            call.log_destination(&req.destination)
        };
        let out = call.send().await.map_err(|e| self.err(op, true, &e))?;
        let failed: Vec<String> = out
            .unsuccessful()
            .iter()
            .map(|u| {
                let err = u.error();
                format!(
                    "{}: {} {}",
                    u.resource_id().unwrap_or("?"),
                    err.and_then(|e| e.code()).unwrap_or("(no code)"),
                    err.and_then(|e| e.message()).unwrap_or("")
                )
            })
            .collect();
        if !failed.is_empty() {
            return Err(ProviderError::new(
                Category::WriteRejected,
                op,
                self.redact(&format!(
                    "created {} flow log(s); failed for {}",
                    out.flow_log_ids().len(),
                    crate::http::sanitize(&failed.join("; "), 300)
                )),
            ));
        }
        Ok(out.flow_log_ids().to_vec())
    }

    async fn write_flow_logs(
        &self,
        region: &str,
        target: &Target,
        observed: &State,
        change: &Change,
    ) -> Result<(), ProviderError> {
        let section = target.desired.section(FLOW_LOGS).ok_or_else(|| {
            ProviderError::new(
                Category::InvalidSpec,
                "CreateFlowLogs",
                "no flow logs declared",
            )
        })?;
        let req: FlowLogRequirement = section
            .items
            .first()
            .map(|i| from_raw(i, "CreateFlowLogs"))
            .transpose()?
            .ok_or_else(|| {
                ProviderError::new(
                    Category::InvalidSpec,
                    "CreateFlowLogs",
                    "no flow logs declared",
                )
            })?;
        let seen = |key: &str| observed.section(FLOW_LOGS).and_then(|s| s.get(key));
        match change {
            Change::Update { key, .. } if key == ALL_VPCS => {
                let vpcs: Vec<String> = seen(key)
                    .and_then(|i| i.raw.clone())
                    .and_then(|r| serde_json::from_value(r).ok())
                    .unwrap_or_default();
                if !vpcs.is_empty() {
                    self.create_flow_logs(region, &req, vpcs).await?;
                }
            }
            Change::Create { key, .. } => {
                self.create_flow_logs(region, &req, vec![key.clone()])
                    .await?;
            }
            // No update call exists: create the wanted flow log first, then delete the old one,
            // so the VPC is never left unmonitored.
            Change::Update { key, .. } => {
                self.create_flow_logs(region, &req, vec![key.clone()])
                    .await?;
                if let Some(old) = seen(key).and_then(|i| i.handle.clone()) {
                    self.ec2(region)
                        .delete_flow_logs()
                        .flow_log_ids(old)
                        .send()
                        .await
                        .map_err(|e| self.err("DeleteFlowLogs", true, &e))?;
                }
            }
            Change::Delete { .. } | Change::Reorder { .. } => {}
        }
        Ok(())
    }

    async fn write_detector(
        &self,
        region: &str,
        target: &Target,
        observed: &State,
        change: &Change,
    ) -> Result<(), ProviderError> {
        let item = target
            .desired
            .section(GUARD_DUTY)
            .and_then(|s| s.items.first())
            .ok_or_else(|| {
                ProviderError::new(
                    Category::InvalidSpec,
                    "UpdateDetector",
                    "no detector declared",
                )
            })?;
        let want: GuardDuty = from_raw(item, "UpdateDetector")?;
        let frequency = want.finding_publishing_frequency.map(|f| f.as_str().into());
        let gd = self.guardduty(region);
        let handle = observed
            .section(GUARD_DUTY)
            .and_then(|s| s.items.first())
            .and_then(|i| i.handle.clone());
        match (change, handle) {
            (Change::Update { .. }, Some(id)) => {
                gd.update_detector()
                    .detector_id(id)
                    .enable(want.enabled)
                    .set_finding_publishing_frequency(frequency)
                    .send()
                    .await
                    .map_err(|e| self.err("UpdateDetector", true, &e))?;
            }
            (Change::Create { .. } | Change::Update { .. }, _) => {
                gd.create_detector()
                    .enable(want.enabled)
                    .set_finding_publishing_frequency(frequency)
                    .send()
                    .await
                    .map_err(|e| self.err("CreateDetector", true, &e))?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn write_alarm(
        &self,
        region: &str,
        target: &Target,
        change: &Change,
    ) -> Result<(), ProviderError> {
        let cw = self.cloudwatch(region);
        match change {
            Change::Create { key, .. } | Change::Update { key, .. } => {
                let item = target
                    .desired
                    .section(ALARMS)
                    .and_then(|s| s.get(key))
                    .ok_or_else(|| {
                        ProviderError::new(
                            Category::InvalidSpec,
                            "PutMetricAlarm",
                            "undeclared alarm",
                        )
                    })?;
                let a: Alarm = from_raw(item, "PutMetricAlarm")?;
                cw.put_metric_alarm()
                    .alarm_name(&a.name)
                    .namespace(&a.namespace)
                    .metric_name(&a.metric_name)
                    .statistic(a.statistic.as_str().into())
                    .period(a.period)
                    .evaluation_periods(a.evaluation_periods)
                    .threshold(a.threshold)
                    .comparison_operator(a.comparison_operator.as_str().into())
                    .set_alarm_actions(a.alarm_actions.clone())
                    .set_treat_missing_data(a.treat_missing_data.clone())
                    .send()
                    .await
                    .map_err(|e| self.err("PutMetricAlarm", true, &e))?;
            }
            Change::Delete { key, .. } => {
                cw.delete_alarms()
                    .alarm_names(key)
                    .send()
                    .await
                    .map_err(|e| self.err("DeleteAlarms", true, &e))?;
            }
            Change::Reorder { .. } => {}
        }
        Ok(())
    }

    async fn revoke_world_open(&self, region: &str, observed: &State) -> Result<(), ProviderError> {
        let raw = observed
            .section(FINDINGS)
            .and_then(|s| s.get(model::WORLD_OPEN))
            .and_then(|i| i.raw.clone())
            .unwrap_or_default();
        let open: Vec<OpenRule> = serde_json::from_value(raw).unwrap_or_default();
        let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in open {
            by_group.entry(r.group_id).or_default().push(r.rule_id);
        }
        for (group, rules) in by_group {
            self.revoke(region, &group, false, rules).await?;
        }
        Ok(())
    }
}

const MAX_PAGES: u32 = 200;

fn next_marker(marker: Option<&str>, empty_page: bool) -> Option<String> {
    marker
        .filter(|m| !m.is_empty() && !empty_page)
        .map(str::to_string)
}

fn too_many_pages(operation: &'static str) -> ProviderError {
    ProviderError::new(
        Category::BadResponse,
        operation,
        format!("more than {MAX_PAGES} pages"),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenRule {
    group_id: String,
    rule_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NaclRaw {
    rule_number: i32,
    egress: bool,
    protocol: String,
    rule_action: String,
    cidr: String,
    from_port: Option<i32>,
    to_port: Option<i32>,
}

fn parse_keys(secret: &SecretString) -> Result<StaticKeys, Error> {
    // The parse error is not quoted: serde's messages can echo parts of the input.
    let keys: StaticKeys = serde_json::from_str(secret.expose()).map_err(|_| {
        Error::CredentialsMissing(
            "the AWS credential must be a JSON object {\"accessKeyId\", \"secretAccessKey\", \"sessionToken\"?}"
                .into(),
        )
    })?;
    if keys.access_key_id.trim().is_empty() || keys.secret_access_key.trim().is_empty() {
        return Err(Error::CredentialsMissing(
            "accessKeyId and secretAccessKey must not be empty".into(),
        ));
    }
    Ok(keys)
}

fn from_raw<T: serde::de::DeserializeOwned>(
    item: &Item,
    operation: &'static str,
) -> Result<T, ProviderError> {
    item.raw
        .clone()
        .and_then(|r| serde_json::from_value(r).ok())
        .ok_or_else(|| {
            ProviderError::new(
                Category::InvalidSpec,
                operation,
                format!("{}: the declared item could not be read back", item.key),
            )
        })
}

fn waf_rule_obs(r: &aws_sdk_wafv2::types::Rule) -> WafRuleObs {
    let action = if let Some(o) = r.override_action() {
        if o.count().is_some() {
            "override:Count"
        } else {
            "override:None"
        }
        .to_string()
    } else if let Some(a) = r.action() {
        if a.allow().is_some() {
            "Allow"
        } else if a.block().is_some() {
            "Block"
        } else if a.count().is_some() {
            "Count"
        } else {
            "other"
        }
        .to_string()
    } else {
        "none".to_string()
    };
    let statement = match r.statement() {
        Some(s) if s.ip_set_reference_statement().is_some() => format!(
            "ipSet:{}",
            s.ip_set_reference_statement()
                .map(|i| i.arn())
                .unwrap_or_default()
        ),
        Some(s) if s.rate_based_statement().is_some() => {
            let rb = s.rate_based_statement();
            let window = rb.map_or(0, |r| r.evaluation_window_sec());
            format!(
                "rateBased:{}/{}s",
                rb.map_or(0, |r| r.limit()),
                if window == 0 { 300 } else { window }
            )
        }
        Some(s) if s.managed_rule_group_statement().is_some() => {
            let m = s.managed_rule_group_statement();
            format!(
                "managed:{}/{}",
                m.map(|m| m.vendor_name()).unwrap_or_default(),
                m.map(|m| m.name()).unwrap_or_default()
            )
        }
        _ => "other".to_string(),
    };
    WafRuleObs {
        name: r.name().to_string(),
        priority: r.priority(),
        action,
        statement,
    }
}

fn invalid(operation: &'static str, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(Category::InvalidSpec, operation, e.to_string())
}

fn visibility(name: &str) -> Result<aws_sdk_wafv2::types::VisibilityConfig, ProviderError> {
    aws_sdk_wafv2::types::VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(name)
        .build()
        .map_err(|e| invalid("UpdateWebACL", e))
}

fn default_action(action: &str) -> Result<aws_sdk_wafv2::types::DefaultAction, ProviderError> {
    use aws_sdk_wafv2::types as w;
    let b = w::DefaultAction::builder();
    Ok(match action {
        "Block" => b.block(w::BlockAction::builder().build()).build(),
        _ => b.allow(w::AllowAction::builder().build()).build(),
    })
}

fn sdk_waf_rule(rule: &WafRule) -> Result<aws_sdk_wafv2::types::Rule, ProviderError> {
    use aws_sdk_wafv2::types as w;
    let op = "UpdateWebACL";
    let s = &rule.statement;
    let statement = if let Some(r) = &s.ip_set_reference {
        w::Statement::builder()
            .ip_set_reference_statement(
                w::IpSetReferenceStatement::builder()
                    .arn(&r.arn)
                    .build()
                    .map_err(|e| invalid(op, e))?,
            )
            .build()
    } else if let Some(r) = &s.rate_based {
        w::Statement::builder()
            .rate_based_statement(
                w::RateBasedStatement::builder()
                    .limit(r.limit)
                    .evaluation_window_sec(r.evaluation_window_sec.unwrap_or(300))
                    .aggregate_key_type(w::RateBasedStatementAggregateKeyType::Ip)
                    .build()
                    .map_err(|e| invalid(op, e))?,
            )
            .build()
    } else if let Some(m) = &s.managed_rule_group {
        w::Statement::builder()
            .managed_rule_group_statement(
                w::ManagedRuleGroupStatement::builder()
                    .vendor_name(&m.vendor_name)
                    .name(&m.name)
                    .build()
                    .map_err(|e| invalid(op, e))?,
            )
            .build()
    } else {
        return Err(invalid(
            op,
            format!("rule {} has no supported statement", rule.name),
        ));
    };
    let mut b = w::Rule::builder()
        .name(&rule.name)
        .priority(rule.priority)
        .statement(statement)
        .visibility_config(visibility(&rule.name)?);
    if s.managed_rule_group.is_some() {
        let o = w::OverrideAction::builder();
        b = b.override_action(if rule.override_to_count == Some(true) {
            o.count(w::CountAction::builder().build()).build()
        } else {
            o.none(w::NoneAction::builder().build()).build()
        });
    } else {
        let a = w::RuleAction::builder();
        b = b.action(match rule.action {
            Some(crate::providers::aws::api::WafAction::Block) => {
                a.block(w::BlockAction::builder().build()).build()
            }
            Some(crate::providers::aws::api::WafAction::Count) => {
                a.count(w::CountAction::builder().build()).build()
            }
            _ => a.allow(w::AllowAction::builder().build()).build(),
        });
    }
    b.build().map_err(|e| invalid(op, e))
}

fn region_of(target: &Target) -> Result<&str, ProviderError> {
    target
        .ids
        .get(REGION)
        .map(String::as_str)
        .ok_or_else(|| ProviderError::new(Category::InvalidSpec, "observe", "no region"))
}

/// Names the region in an error of a many-region read or write.
fn in_region(region: &str, mut e: ProviderError) -> ProviderError {
    e.message = format!("{region}: {}", e.message);
    e
}

/// The regions of a target expanded by [`model::per_region`], or `None` for a one-region target.
fn regions_of(target: &Target) -> Option<Vec<&str>> {
    (!target.ids.contains_key(REGION))
        .then(|| target.ids.get(REGIONS))
        .flatten()
        .map(|r| r.split(',').collect())
}

/// One region's part of an expanded target, as a one-region target.
fn region_target(target: &Target, region: &str) -> Target {
    let mut ids = target.ids.clone();
    ids.remove(REGIONS);
    ids.insert(REGION.to_string(), region.to_string());
    Target {
        purpose: target.purpose,
        scope: format!("region {region}"),
        ids,
        desired: model::region_state(&target.desired, region),
    }
}

impl Aws {
    async fn observe_region(
        &self,
        region: &str,
        target: &Target,
    ) -> Result<Observation, ProviderError> {
        match target.purpose {
            Purpose::Monitoring => self.observe_monitoring(region, target).await,
            Purpose::Firewall => self.observe_firewall(region, target).await,
        }
    }

    /// Reads every region at once; one failed region fails the whole read, so a policy is
    /// never reported in sync on the strength of the regions that happened to answer.
    async fn observe_regions(
        &self,
        regions: &[&str],
        target: &Target,
    ) -> Result<Observation, ProviderError> {
        let reads = regions.iter().map(|region| async move {
            let sub = region_target(target, region);
            self.observe_region(region, &sub)
                .await
                .map(|obs| model::tag_region(region, obs))
                .map_err(|e| in_region(region, e))
        });
        let mut out = Observation::default();
        for obs in futures::future::try_join_all(reads).await? {
            out.state.sections.extend(obs.state.sections);
            out.findings.extend(obs.findings);
        }
        Ok(out)
    }

    async fn apply_region(
        &self,
        region: &str,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let mut applied = Vec::new();
        let needs_groups = plan
            .iter()
            .any(|c| model::parse_sg_section(c.section()).is_some());
        let groups = if needs_groups {
            match self.groups(region).await {
                Ok(g) => g,
                Err(error) => return Err(ApplyError { applied, error }),
            }
        } else {
            Vec::new()
        };
        // Web ACLs are written once each, whole, whatever the number of changes in them.
        let mut acls_written = BTreeSet::new();
        for change in plan {
            let section = change.section();
            let acl_key = model::parse_waf_rules_section(section)
                .map(str::to_string)
                .or_else(|| {
                    (section == WEB_ACLS).then(|| match change {
                        Change::Create { key, .. }
                        | Change::Update { key, .. }
                        | Change::Delete { key, .. } => key.clone(),
                        Change::Reorder { .. } => String::new(),
                    })
                });
            let result = if let Some(key) = acl_key {
                if key.is_empty() || !acls_written.insert(key.clone()) {
                    continue;
                }
                let rules_section = model::waf_rules_section(&key);
                let removed: BTreeSet<String> = plan
                    .iter()
                    .filter_map(|c| match c {
                        Change::Delete { section, key } if *section == rules_section => {
                            Some(key.clone())
                        }
                        _ => None,
                    })
                    .collect();
                self.write_web_acl(region, target, &key, &removed)
                    .await
                    .map(|()| format!("write {WEB_ACLS}[{key}] (whole rule list, one call)"))
            } else if model::parse_sg_section(section).is_some() {
                self.write_sg_rule(region, target, &observed.state, &groups, change)
                    .await
                    .map(|()| change.describe())
            } else if model::parse_nacl_section(section).is_some() {
                self.write_nacl_entry(region, target, change)
                    .await
                    .map(|()| change.describe())
            } else {
                match section {
                    IP_SETS => {
                        self.write_ip_set(region, target, change, &observed.state)
                            .await
                    }
                    FINDINGS => self.revoke_world_open(region, &observed.state).await,
                    FLOW_LOGS => {
                        self.write_flow_logs(region, target, &observed.state, change)
                            .await
                    }
                    GUARD_DUTY => {
                        self.write_detector(region, target, &observed.state, change)
                            .await
                    }
                    ALARMS => self.write_alarm(region, target, change).await,
                    _ => Ok(()),
                }
                .map(|()| change.describe())
            };
            match result {
                Ok(done) => applied.push(done),
                Err(error) => return Err(ApplyError { applied, error }),
            }
        }
        Ok(applied)
    }

    /// Applies an expanded target's plan region by region (in the order of `spec.regions`),
    /// each with its own sections, and stops at the first region that fails.
    async fn apply_regions(
        &self,
        regions: &[&str],
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let mut applied = Vec::new();
        for region in regions {
            let local: Vec<Change> = plan
                .iter()
                .filter_map(|c| model::change_in_region(c, region))
                .collect();
            if local.is_empty() {
                continue;
            }
            let sub = region_target(target, region);
            let sub_observed = Observation {
                state: model::region_state(&observed.state, region),
                findings: Vec::new(),
            };
            match self.apply_region(region, &sub, &sub_observed, &local).await {
                Ok(done) => applied.extend(done.into_iter().map(|d| format!("{region}: {d}"))),
                Err(e) => {
                    applied.extend(e.applied.into_iter().map(|d| format!("{region}: {d}")));
                    return Err(ApplyError {
                        applied,
                        error: in_region(region, e.error),
                    });
                }
            }
        }
        Ok(applied)
    }
}

#[async_trait]
impl Provider for Aws {
    fn provider_type(&self) -> ProviderType {
        ProviderType::Aws
    }

    /// `DescribeRegions` is signed and authorised like any EC2 call, reads nothing sensitive,
    /// and works in moto (STS `GetCallerIdentity` would need one more service endpoint).
    async fn verify(&self) -> Result<String, ProviderError> {
        let out = self
            .ec2(&self.region)
            .describe_regions()
            .region_names(&self.region)
            .send()
            .await
            .map_err(|e| self.err("DescribeRegions", false, &e))?;
        Ok(format!(
            "credentials accepted; region {} answered ({} region(s) visible)",
            self.region,
            out.regions().len()
        ))
    }

    /// A block without a region becomes one set of sections per region of the account.
    fn resolve(&self, target: &Target) -> Result<Target, ProviderError> {
        model::per_region(target, &self.regions)
            .map_err(|e| ProviderError::new(Category::InvalidSpec, "resolve", e.0))
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        if let Some(regions) = regions_of(target) {
            return self.observe_regions(&regions, target).await;
        }
        let region = region_of(target)?;
        self.observe_region(region, target).await
    }

    async fn apply(
        &self,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        if let Some(regions) = regions_of(target) {
            return self.apply_regions(&regions, target, observed, plan).await;
        }
        match region_of(target) {
            Ok(region) => self.apply_region(region, target, observed, plan).await,
            Err(error) => Err(ApplyError {
                applied: Vec::new(),
                error,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_keys_parse_without_echoing_the_secret() {
        let bad = SecretString::new(r#"{"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": 42}"#);
        let err = parse_keys(&bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("JSON object") && !err.contains("AKIA") && !err.contains("42"),
            "{err}"
        );
        let empty = SecretString::new(r#"{"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": " "}"#);
        assert!(parse_keys(&empty).is_err());
        let ok = SecretString::new(
            r#"{"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "wJalr", "sessionToken": "tok"}"#,
        );
        assert!(parse_keys(&ok).is_ok_and(|k| k.session_token.as_deref() == Some("tok")));
    }

    #[test]
    fn waf_markers_stop_on_empty_pages_and_missing_markers() {
        assert_eq!(next_marker(Some("m2"), false), Some("m2".into()));
        assert_eq!(next_marker(Some(""), false), None);
        assert_eq!(next_marker(None, false), None);
        assert_eq!(next_marker(Some("m2"), true), None);
    }
}
