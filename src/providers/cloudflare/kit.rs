//! Cloudflare in the provider registry.

use std::sync::Arc;

use super::api::{CloudflareFirewall, CloudflareMonitoring};
use super::{Cloudflare, model};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::addresses::{Resolver, SetError};
use crate::core::inventory::Asset;
use crate::core::normalize::Invalid;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::providers::OnHttp;
use crate::providers::registry::{self, Alerting, Boundary, Info, Monitoring};
use crate::providers::{Access, Provider, Target};
use crate::secret::SecretString;

/// A Logpush job whose last delivery failed.
pub const LOG_JOB_FAILING: &str = "LogJobFailing";

#[derive(Debug)]
pub struct Kit;

impl registry::Kit for Kit {
    const TYPE: ProviderType = ProviderType::Cloudflare;
    const INFO: Info = Info {
        firewall: Boundary::Manages("WAF custom rules, rate limits, IP access rules"),
        monitoring: Monitoring::Reads("Logpush jobs, notification policies"),
        alerting: Alerting::Routes("notificationPolicies with a mechanism"),
        firewall_api: "Cloudflare API v4: rulesets, firewall/access_rules, zone settings",
        monitoring_api: "Cloudflare API v4: alerting/v3/policies, logpush/jobs",
        finding_codes: &[LOG_JOB_FAILING],
    };
    type Firewall = CloudflareFirewall;
    type Monitoring = CloudflareMonitoring;

    fn firewall_target(block: &CloudflareFirewall) -> Result<Target, Invalid> {
        model::firewall_target(block)
    }

    fn with_address_sets(
        block: &CloudflareFirewall,
        sets: &mut Resolver,
    ) -> Result<CloudflareFirewall, SetError> {
        model::with_address_sets(block, sets)
    }

    fn monitoring_target(block: &CloudflareMonitoring) -> Result<Target, Invalid> {
        model::monitoring_target(block)
    }

    /// Every enabled notification policy (each has a mechanism).
    fn alert_routes(block: &CloudflareMonitoring) -> usize {
        block
            .notification_policies
            .as_deref()
            .map_or(0, |p| p.iter().filter(|p| p.enabled != Some(false)).count())
    }

    fn covers(block: &CloudflareFirewall, asset: &Asset, _all: &[Asset]) -> bool {
        super::inventory::covers(block, asset)
    }

    async fn connect(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        access: Access<'_>,
    ) -> Result<Arc<dyn Provider>, Error> {
        let token = credential
            .ok_or_else(|| Error::CredentialsMissing("Cloudflare needs an API token".into()))?;
        Ok(Arc::new(Cloudflare::new(spec, token, metrics)?.operated(access)) as Arc<dyn Provider>)
    }

    #[cfg(feature = "demo")]
    async fn demo() -> Result<Box<dyn crate::demo::Account>, String> {
        super::demo::start().await
    }
}
