//! Supabase in the provider registry.

use std::sync::Arc;

use super::api::{SupabaseFirewall, SupabaseMonitoring};
use super::{Supabase, model};
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
    const TYPE: ProviderType = ProviderType::Supabase;
    const INFO: Info = Info {
        firewall: Boundary::Manages(
            "database allowed CIDRs (v4, v6), database SSL enforcement, Auth rate limits",
        ),
        monitoring: Monitoring::Reads("service health of declared services"),
        alerting: Alerting::NoApi(
            "the Management API has no alerting endpoint: pair the project with a provider that alerts",
        ),
        firewall_api: "Supabase Management API v1: network-restrictions, ssl-enforcement, config/auth, network-bans",
        monitoring_api: "Supabase Management API v1: health",
        finding_codes: model::FINDING_CODES,
    };
    type Firewall = SupabaseFirewall;
    type Monitoring = SupabaseMonitoring;

    fn covers(block: &SupabaseFirewall, asset: &Asset, _all: &[Asset]) -> bool {
        super::inventory::covers(block, asset)
    }

    fn firewall_target(block: &SupabaseFirewall) -> Result<Target, Invalid> {
        model::firewall_target(block)
    }

    fn with_address_sets(
        block: &SupabaseFirewall,
        sets: &mut Resolver,
    ) -> Result<SupabaseFirewall, SetError> {
        model::with_address_sets(block, sets)
    }

    fn monitoring_target(block: &SupabaseMonitoring) -> Result<Target, Invalid> {
        model::monitoring_target(block)
    }

    /// The Management API has no alerting: a Supabase MonitoringPolicy routes no alert.
    fn alert_routes(_block: &SupabaseMonitoring) -> usize {
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
                "Supabase has no ambient identity: it needs an access token in a Secret".into(),
            )
        })?;
        Ok(Arc::new(Supabase::new(spec, token, metrics)?.operated(access)) as Arc<dyn Provider>)
    }

    #[cfg(feature = "demo")]
    async fn demo() -> Result<Box<dyn crate::demo::Account>, String> {
        super::demo::start().await
    }
}
