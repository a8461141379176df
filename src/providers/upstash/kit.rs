//! Upstash in the provider registry.

use std::sync::Arc;

use super::api::{UpstashFirewall, UpstashMonitoring};
use super::{Upstash, model};
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

#[derive(Debug)]
pub struct Kit;

impl registry::Kit for Kit {
    const TYPE: ProviderType = ProviderType::Upstash;
    const INFO: Info = Info {
        firewall: Boundary::Manages(
            "Redis database IP allowlist (an endpoint outside Upstash's published spec), TLS, security add-ons, allowlist changes made outside Perimeter (audit log)",
        ),
        monitoring: Monitoring::Reads("Prometheus integration of declared databases"),
        alerting: Alerting::NoApi(
            "the Developer API has no alerting endpoint: pair the database with a provider that alerts",
        ),
        firewall_api: "Upstash Developer API v2: redis/database, redis/enable-tls, redis/update-allowlist (Terraform provider's), auditlogs",
        monitoring_api: "Upstash Developer API v2: redis/database (prometheus_enabled)",
        finding_codes: model::FINDING_CODES,
    };
    type Firewall = UpstashFirewall;
    type Monitoring = UpstashMonitoring;

    fn covers(block: &UpstashFirewall, asset: &Asset, _all: &[Asset]) -> bool {
        super::inventory::covers(block, asset)
    }

    fn firewall_target(block: &UpstashFirewall) -> Result<Target, Invalid> {
        model::firewall_target(block)
    }

    fn with_address_sets(
        block: &UpstashFirewall,
        sets: &mut Resolver,
    ) -> Result<UpstashFirewall, SetError> {
        model::with_address_sets(block, sets)
    }

    fn monitoring_target(block: &UpstashMonitoring) -> Result<Target, Invalid> {
        model::monitoring_target(block)
    }

    /// The Developer API has no alerting: an Upstash MonitoringPolicy routes no alert.
    fn alert_routes(_block: &UpstashMonitoring) -> usize {
        0
    }

    async fn connect(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        access: Access<'_>,
    ) -> Result<Arc<dyn Provider>, Error> {
        let credential = credential.ok_or_else(|| {
            Error::CredentialsMissing(
                "Upstash has no ambient identity: it needs {\"email\", \"apiKey\"} in a Secret"
                    .into(),
            )
        })?;
        Ok(
            Arc::new(Upstash::new(spec, credential, metrics)?.operated(access))
                as Arc<dyn Provider>,
        )
    }

    #[cfg(feature = "demo")]
    async fn demo() -> Result<Box<dyn crate::demo::Account>, String> {
        super::demo::start().await
    }
}
