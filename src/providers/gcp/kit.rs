//! GCP in the provider registry.

use std::sync::Arc;

use super::api::{GcpFirewall, GcpMonitoring};
use super::{Gcp, model};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::addresses::{Resolver, SetError};
use crate::core::inventory::Asset;
use crate::core::normalize::Invalid;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::providers::registry::{self, Alerting, Boundary, Info, Monitoring};
use crate::providers::{Access, Provider, Target};
use crate::secret::SecretString;

#[derive(Debug)]
pub struct Kit;

impl registry::Kit for Kit {
    const TYPE: ProviderType = ProviderType::Gcp;
    const INFO: Info = Info {
        firewall: Boundary::Manages("VPC firewall rules, Cloud Armor"),
        monitoring: Monitoring::Reads("subnet flow logs, alert policies, uptime checks"),
        alerting: Alerting::Routes("alertPolicies with notificationChannels"),
        firewall_api: "compute.googleapis.com v1: firewalls, securityPolicies",
        monitoring_api: "compute subnetworks, networkmanagement vpcFlowLogsConfigs, monitoring v3 \
                         alertPolicies/uptimeCheckConfigs",
        finding_codes: &[model::WORLD_OPEN_INGRESS, model::SUBNET_WITHOUT_FLOW_LOGS],
    };
    type Firewall = GcpFirewall;
    type Monitoring = GcpMonitoring;

    fn firewall_target(block: &GcpFirewall) -> Result<Target, Invalid> {
        model::firewall_target(block)
    }

    fn with_address_sets(
        block: &GcpFirewall,
        sets: &mut Resolver,
    ) -> Result<GcpFirewall, SetError> {
        model::with_address_sets(block, sets)
    }

    fn covers(block: &GcpFirewall, asset: &Asset, _all: &[Asset]) -> bool {
        super::inventory::covers(block, asset)
    }

    fn monitoring_target(block: &GcpMonitoring) -> Result<Target, Invalid> {
        model::monitoring_target(block)
    }

    /// Enabled alert policies with at least one notification channel.
    fn alert_routes(block: &GcpMonitoring) -> usize {
        block.alert_policies.as_deref().map_or(0, |p| {
            p.iter()
                .filter(|p| p.enabled != Some(false))
                .filter(|p| {
                    p.notification_channels
                        .as_ref()
                        .is_some_and(|c| !c.is_empty())
                })
                .count()
        })
    }

    async fn connect(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        access: Access<'_>,
    ) -> Result<Arc<dyn Provider>, Error> {
        Ok(Arc::new(Gcp::connect(spec, credential, metrics, access).await?) as Arc<dyn Provider>)
    }

    #[cfg(feature = "demo")]
    async fn demo() -> Result<Box<dyn crate::demo::Account>, String> {
        super::demo::start().await
    }
}
