//! Gcp: being built. Until then a Gcp CloudProvider reports `ProviderNotSupported`.

use std::sync::Arc;

use async_trait::async_trait;

use super::{ApplyError, Observation, Provider, Target};
use crate::api::gcp::{GcpFirewall, GcpMonitoring};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::Change;
use crate::core::normalize::Invalid;
use crate::error::{Error, ProviderError};
use crate::metrics::Metrics;
use crate::secret::SecretString;

pub struct Gcp;

impl Gcp {
    pub async fn connect(
        _spec: &CloudProviderSpec,
        _credential: Option<SecretString>,
        _metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, Error> {
        Err(Error::ProviderNotSupported(
            "the gcp client is not built yet".into(),
        ))
    }
}

pub fn firewall_target(_fw: &GcpFirewall) -> Result<Target, Invalid> {
    Err(Invalid(
        "gcp firewall policies are not supported yet".into(),
    ))
}

pub fn monitoring_target(_mon: &GcpMonitoring) -> Result<Target, Invalid> {
    Err(Invalid(
        "gcp monitoring policies are not supported yet".into(),
    ))
}

#[async_trait]
impl Provider for Gcp {
    fn provider_type(&self) -> ProviderType {
        ProviderType::Gcp
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        unreachable!("never constructed")
    }

    async fn observe(&self, _target: &Target) -> Result<Observation, ProviderError> {
        unreachable!("never constructed")
    }

    async fn apply(
        &self,
        _t: &Target,
        _o: &Observation,
        _p: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        unreachable!("never constructed")
    }
}
