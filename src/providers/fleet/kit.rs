//! Fleet in the provider registry.

use std::sync::Arc;

use super::api::{FleetFirewall, FleetMonitoring};
use super::{Fleet, model};
use crate::api::{CloudProviderSpec, ProviderType};
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
    const TYPE: ProviderType = ProviderType::Fleet;
    const INFO: Info = Info {
        firewall: Boundary::Endpoints(
            "endpoint host firewalls (macOS application firewall, Windows Defender Firewall on every profile, a Linux host firewall) checked by Fleet policies Perimeter keeps, counted under EndpointFirewall; failing hosts are observed, never fixed (Fleet only checks)",
        ),
        monitoring: Monitoring::Reads("hosts that stopped checking in with Fleet"),
        alerting: Alerting::NoApi(
            "Perimeter reads no alert routes from Fleet (its policy automations are webhooks and tickets set per policy); failing hosts reach Perimeter's own status, Events and metrics",
        ),
        firewall_api: "Fleet REST API: GET/POST /api/v1/fleet/global/policies, /api/v1/fleet/teams/{id}/policies, GET /api/v1/fleet/hosts?policy_id&policy_response=failing",
        monitoring_api: "Fleet REST API: GET /api/v1/fleet/hosts (seen_time)",
        finding_codes: model::FINDING_CODES,
    };
    type Firewall = FleetFirewall;
    type Monitoring = FleetMonitoring;

    fn covers(block: &FleetFirewall, asset: &Asset, _all: &[Asset]) -> bool {
        super::inventory::covers(block, asset)
    }

    fn firewall_target(block: &FleetFirewall) -> Result<Target, Invalid> {
        model::firewall_target(block)
    }

    fn monitoring_target(block: &FleetMonitoring) -> Result<Target, Invalid> {
        model::monitoring_target(block)
    }

    fn alert_routes(_block: &FleetMonitoring) -> usize {
        0
    }

    async fn connect(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        access: Access<'_>,
    ) -> Result<Arc<dyn Provider>, Error> {
        let token = credential.ok_or_else(|| {
            Error::CredentialsMissing(
                "Fleet has no ambient identity: it needs an API token in a Secret".into(),
            )
        })?;
        Ok(Arc::new(Fleet::new(spec, token, metrics)?.operated(access)) as Arc<dyn Provider>)
    }

    #[cfg(feature = "demo")]
    async fn demo() -> Result<Box<dyn crate::demo::Account>, String> {
        super::demo::start().await
    }
}
