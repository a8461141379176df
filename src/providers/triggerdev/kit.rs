//! Trigger.dev in the provider registry.

use std::sync::Arc;

use super::api::{TriggerdevFirewall, TriggerdevMonitoring};
use super::{Triggerdev, model};
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
    const TYPE: ProviderType = ProviderType::Triggerdev;
    const INFO: Info = Info {
        firewall: Boundary::AttestedOnly(
            "Trigger.dev's API has no network controls (no IP allowlist or firewall endpoint); its static egress IPs are on the dashboard's Regions page and private networking is set up in the dashboard: attest what is in place",
        ),
        monitoring: Monitoring::Reads(
            "failed runs within a window and unresolved error groups of the secret key's environment",
        ),
        alerting: Alerting::AttestedOnly(
            "Trigger.dev's alert channels (e-mail, Slack, webhook) are dashboard-only: no public API lists them, so attest which channels receive run and deployment failures",
        ),
        firewall_api: "none (no network-control API)",
        monitoring_api: "Trigger.dev REST API v3: GET /api/v1/runs, GET /api/v1/errors",
        finding_codes: model::FINDING_CODES,
    };
    type Firewall = TriggerdevFirewall;
    type Monitoring = TriggerdevMonitoring;

    fn firewall_target(_block: &TriggerdevFirewall) -> Result<Target, Invalid> {
        model::firewall_target()
    }

    fn monitoring_target(block: &TriggerdevMonitoring) -> Result<Target, Invalid> {
        model::monitoring_target(block)
    }

    /// Trigger.dev's alerts cannot be read through its API: a MonitoringPolicy routes none.
    fn alert_routes(_block: &TriggerdevMonitoring) -> usize {
        0
    }

    async fn connect(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        access: Access<'_>,
    ) -> Result<Arc<dyn Provider>, Error> {
        let key = credential.ok_or_else(|| {
            Error::CredentialsMissing(
                "Trigger.dev has no ambient identity: it needs an environment's secret key in a Secret"
                    .into(),
            )
        })?;
        Ok(Arc::new(Triggerdev::new(spec, key, metrics)?.operated(access)) as Arc<dyn Provider>)
    }

    #[cfg(feature = "demo")]
    async fn demo() -> Result<Box<dyn crate::demo::Account>, String> {
        super::demo::start().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::registry::Kit as _;

    /// A FirewallPolicy naming Trigger.dev is refused in `check` too, where no API server ran
    /// the schema's rule.
    #[test]
    fn a_firewall_block_is_refused() {
        let err = Kit::firewall_target(&TriggerdevFirewall {}).expect_err("refused");
        assert!(err.0.contains("ProviderFirewall attestation"), "{err:?}");
    }
}
