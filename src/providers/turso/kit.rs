//! Turso in the provider registry.

use std::sync::Arc;

use super::api::{TursoFirewall, TursoMonitoring};
use super::{Turso, model};
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
    const TYPE: ProviderType = ProviderType::Turso;
    const INFO: Info = Info {
        firewall: Boundary::Manages(
            "database allowed IPs, allowed AWS VPC endpoints, delete protection; audit-log changes outside Perimeter",
        ),
        monitoring: Monitoring::Reads(
            "audit log availability, databases open to any address, API tokens without an organisation scope",
        ),
        alerting: Alerting::NoApi(
            "the Platform API has no alerting endpoint: pair the organisation with a provider that alerts",
        ),
        firewall_api: "Turso Platform API v1: database configuration, audit logs, user",
        monitoring_api: "Turso Platform API v1: databases, database configuration, audit logs, API tokens",
        finding_codes: model::FINDING_CODES,
    };
    type Firewall = TursoFirewall;
    type Monitoring = TursoMonitoring;

    fn covers(block: &TursoFirewall, asset: &Asset, _all: &[Asset]) -> bool {
        super::inventory::covers(block, asset)
    }

    fn firewall_target(block: &TursoFirewall) -> Result<Target, Invalid> {
        model::firewall_target(block)
    }

    fn with_address_sets(
        block: &TursoFirewall,
        sets: &mut Resolver,
    ) -> Result<TursoFirewall, SetError> {
        model::with_address_sets(block, sets)
    }

    fn monitoring_target(block: &TursoMonitoring) -> Result<Target, Invalid> {
        model::monitoring_target(block)
    }

    /// The Platform API has no alerting: a Turso MonitoringPolicy routes no alert.
    fn alert_routes(_block: &TursoMonitoring) -> usize {
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
                "Turso has no ambient identity: it needs a platform API token in a Secret".into(),
            )
        })?;
        Ok(Arc::new(Turso::new(spec, token, metrics)?.operated(access)) as Arc<dyn Provider>)
    }

    #[cfg(feature = "demo")]
    async fn demo() -> Result<Box<dyn crate::demo::Account>, String> {
        super::demo::start().await
    }
}
