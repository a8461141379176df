//! Vercel in the provider registry.

use std::sync::Arc;

use super::api::{VercelFirewall, VercelMonitoring};
use super::{Vercel, model};
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
    const TYPE: ProviderType = ProviderType::Vercel;
    const INFO: Info = Info {
        firewall: Boundary::Manages(
            "Vercel Firewall: custom rules, IP blocking, managed rulesets, OWASP core rules, BotID, Attack Challenge Mode, system bypass",
        ),
        monitoring: Monitoring::Reads("Drains, attack status"),
        alerting: Alerting::NoApi(
            "Vercel has no alerting API: its drains deliver events to an external system, which must alert",
        ),
        firewall_api: "Vercel REST API: /v1/security/firewall/config, /v1/security/attack-mode, /v1/security/firewall/bypass",
        monitoring_api: "Vercel REST API: /v1/drains, /v1/log-drains, /v1/security/firewall/attack-status",
        finding_codes: &[
            model::DRAIN_ERRORED,
            model::LEGACY_LOG_DRAIN,
            model::ATTACK_IN_PROGRESS,
        ],
    };
    type Firewall = VercelFirewall;
    type Monitoring = VercelMonitoring;

    fn covers(block: &VercelFirewall, asset: &Asset, _all: &[Asset]) -> bool {
        super::inventory::covers(block, asset)
    }

    fn firewall_target(block: &VercelFirewall) -> Result<Target, Invalid> {
        model::firewall_target(block)
    }

    fn with_address_sets(
        block: &VercelFirewall,
        sets: &mut Resolver,
    ) -> Result<VercelFirewall, SetError> {
        model::with_address_sets(block, sets)
    }

    fn monitoring_target(block: &VercelMonitoring) -> Result<Target, Invalid> {
        model::monitoring_target(block)
    }

    /// Vercel has no alert API: a drain delivers logs, it notifies nobody by itself.
    fn alert_routes(_block: &VercelMonitoring) -> usize {
        0
    }

    async fn connect(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        access: Access<'_>,
    ) -> Result<Arc<dyn Provider>, Error> {
        let token = credential
            .ok_or_else(|| Error::CredentialsMissing("Vercel needs an access token".into()))?;
        Ok(Arc::new(Vercel::new(spec, token, metrics)?.operated(access)) as Arc<dyn Provider>)
    }

    #[cfg(feature = "demo")]
    async fn demo() -> Result<Box<dyn crate::demo::Account>, String> {
        super::demo::start().await
    }
}
