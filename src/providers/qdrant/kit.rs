//! Qdrant Cloud in the provider registry.

use std::sync::Arc;

use super::api::{QdrantFirewall, QdrantMonitoring};
use super::{Qdrant, model};
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
    const TYPE: ProviderType = ProviderType::Qdrant;
    const INFO: Info = Info {
        firewall: Boundary::Manages(
            "cluster allowed IP source ranges (IPv4, at most 40), TLS (observed), database API keys expiring soon (observed)",
        ),
        monitoring: Monitoring::Reads("firing cluster alerts at or above a severity"),
        alerting: Alerting::NoApi(
            "Qdrant's alerts are built in and e-mailed to the account owner; the API cannot create alert rules or channels: pair the cluster with a provider that routes alerts",
        ),
        firewall_api: "Qdrant Cloud API: ClusterService GetCluster/UpdateCluster (with update mask), DatabaseApiKeyService v2 ListDatabaseApiKeys",
        monitoring_api: "Qdrant Cloud API: MonitoringService ListClusterAlerts",
        finding_codes: model::FINDING_CODES,
    };
    type Firewall = QdrantFirewall;
    type Monitoring = QdrantMonitoring;

    fn covers(block: &QdrantFirewall, asset: &Asset, _all: &[Asset]) -> bool {
        super::inventory::covers(block, asset)
    }

    fn firewall_target(block: &QdrantFirewall) -> Result<Target, Invalid> {
        model::firewall_target(block)
    }

    fn with_address_sets(
        block: &QdrantFirewall,
        sets: &mut Resolver,
    ) -> Result<QdrantFirewall, SetError> {
        model::with_address_sets(block, sets)
    }

    fn monitoring_target(block: &QdrantMonitoring) -> Result<Target, Invalid> {
        model::monitoring_target(block)
    }

    /// Qdrant's alerts cannot be routed through its API: a Qdrant MonitoringPolicy routes none.
    fn alert_routes(_block: &QdrantMonitoring) -> usize {
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
                "Qdrant Cloud has no ambient identity: it needs a management key in a Secret"
                    .into(),
            )
        })?;
        Ok(Arc::new(Qdrant::new(spec, key, metrics)?.operated(access)) as Arc<dyn Provider>)
    }

    #[cfg(feature = "demo")]
    async fn demo() -> Result<Box<dyn crate::demo::Account>, String> {
        super::demo::start().await
    }
}
