//! Better Stack in the provider registry.

use std::sync::Arc;

use super::api::{BetterstackFirewall, BetterstackMonitoring};
use super::{Betterstack, model};
use crate::api::{CloudProviderSpec, ProviderType};
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
    const TYPE: ProviderType = ProviderType::Betterstack;
    const INFO: Info = Info {
        firewall: Boundary::NoFirewall(
            "Better Stack has no firewall (its probe addresses feed other providers' allowlists)",
        ),
        monitoring: Monitoring::Reads(
            "uptime monitors (keyed by URL and type), heartbeats, escalation policies, status pages (published, IP allowlist); monitors down, paused or not checked within three periods",
        ),
        alerting: Alerting::Routes(
            "escalation policies whose steps alert a Slack integration (channel and status from /api/v2/slack-integrations)",
        ),
        firewall_api: "none",
        monitoring_api: "Better Stack Uptime API: /api/v2/monitors, /api/v2/heartbeats, /api/v3/policies, /api/v2/status-pages, /api/v2/slack-integrations",
        finding_codes: model::FINDING_CODES,
    };
    type Firewall = BetterstackFirewall;
    type Monitoring = BetterstackMonitoring;

    fn firewall_target(block: &BetterstackFirewall) -> Result<Target, Invalid> {
        model::firewall_target(block)
    }

    fn monitoring_target(block: &BetterstackMonitoring) -> Result<Target, Invalid> {
        model::monitoring_target(block)
    }

    /// Declared escalation policies: each alerts somebody (a step has at least one member).
    fn alert_routes(block: &BetterstackMonitoring) -> usize {
        block.escalation_policies.as_ref().map_or(0, Vec::len)
    }

    async fn connect(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        access: Access<'_>,
    ) -> Result<Arc<dyn Provider>, Error> {
        let credential = credential.ok_or_else(|| {
            Error::CredentialsMissing(
                "Better Stack has no ambient identity: it needs a team's Uptime API token in a Secret"
                    .into(),
            )
        })?;
        Ok(
            Arc::new(Betterstack::new(spec, credential, metrics)?.operated(access))
                as Arc<dyn Provider>,
        )
    }

    #[cfg(feature = "demo")]
    async fn demo() -> Result<Box<dyn crate::demo::Account>, String> {
        super::demo::start().await
    }
}
