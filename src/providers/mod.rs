//! One module per provider, all behind the [`Provider`] trait. The controller, `check` and
//! `demo` only ever see this trait; each module owns its API shapes, auth and quirks, and
//! calls its API through the shared [`crate::http`] layer.

pub mod aws;
pub mod cloudflare;
pub mod fake;
pub mod gcp;

use std::sync::Arc;

use async_trait::async_trait;

use crate::api::{CloudProviderSpec, FirewallPolicySpec, MonitoringPolicySpec, ProviderType};
use crate::core::{Change, State};
use crate::error::{Error, ProviderError};
use crate::metrics::Metrics;
use crate::secret::SecretString;
use crate::trust::{Principal, Trust};

/// What a policy declares at one provider, mapped into the neutral model.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// Human-readable scope for messages, e.g. `zone 023e…`.
    pub scope: String,
    /// Provider-specific scope identifiers (zone id, account id…).
    pub ids: std::collections::BTreeMap<String, String>,
    /// Declared sections; each desired item's `raw` is the API body that creates it.
    pub desired: State,
}

/// Something observed that is not drift but deserves attention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Bounded, CamelCase: `UnmanagedRule`, `LogJobFailing`, …
    pub code: &'static str,
    pub subject: String,
    pub message: String,
}

/// The provider's state for the declared sections, read in one pass.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    pub state: State,
    pub findings: Vec<Finding>,
}

/// A write that stopped part-way: what had been applied, and why it stopped.
/// Each applied change is whole (a ruleset is replaced in one call), so the provider is
/// never left with a half-written rule set — only with a plan that is partly done.
#[derive(Debug, thiserror::Error)]
#[error("{error} (after {} change(s) applied)", applied.len())]
pub struct ApplyError {
    pub applied: Vec<String>,
    pub error: ProviderError,
}

/// A provider account that can be read and, in `Enforce` mode, written.
#[async_trait]
pub trait Provider: Send + Sync {
    fn provider_type(&self) -> ProviderType;

    /// Checks that the credential is accepted and the API answers; returns a short description.
    async fn verify(&self) -> Result<String, ProviderError>;

    /// Resolves what a policy's target covers at this account, before it is read: AWS expands a
    /// block without a region into one set of sections per region of the `CloudProvider`.
    /// Most providers have nothing to resolve.
    fn resolve(&self, target: &Target) -> Result<Target, ProviderError> {
        Ok(target.clone())
    }

    /// Reads the provider's state for the sections `target` declares (and only those).
    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError>;

    /// Carries out `plan` (from [`crate::core::diff`]), in order. Returns what was applied.
    async fn apply(
        &self,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError>;
}

/// The provider block of a policy, whichever kind the policy is.
#[derive(Clone, Copy, Debug)]
pub enum Declared<'a> {
    CloudflareFirewall(&'a crate::api::cloudflare::CloudflareFirewall),
    CloudflareMonitoring(&'a crate::api::cloudflare::CloudflareMonitoring),
    AwsFirewall(&'a crate::api::aws::AwsFirewall),
    AwsMonitoring(&'a crate::api::aws::AwsMonitoring),
    GcpFirewall(&'a crate::api::gcp::GcpFirewall),
    GcpMonitoring(&'a crate::api::gcp::GcpMonitoring),
}

const ONE_BLOCK: &str =
    "exactly one provider block (spec.cloudflare, spec.aws or spec.gcp) must be set";

impl<'a> Declared<'a> {
    pub fn from_firewall(spec: &'a FirewallPolicySpec) -> Result<Self, Error> {
        match (&spec.cloudflare, &spec.aws, &spec.gcp) {
            (Some(cf), None, None) => Ok(Self::CloudflareFirewall(cf)),
            (None, Some(aws), None) => Ok(Self::AwsFirewall(aws)),
            (None, None, Some(gcp)) => Ok(Self::GcpFirewall(gcp)),
            _ => Err(Error::InvalidSpec(ONE_BLOCK.into())),
        }
    }

    pub fn from_monitoring(spec: &'a MonitoringPolicySpec) -> Result<Self, Error> {
        match (&spec.cloudflare, &spec.aws, &spec.gcp) {
            (Some(cf), None, None) => Ok(Self::CloudflareMonitoring(cf)),
            (None, Some(aws), None) => Ok(Self::AwsMonitoring(aws)),
            (None, None, Some(gcp)) => Ok(Self::GcpMonitoring(gcp)),
            _ => Err(Error::InvalidSpec(ONE_BLOCK.into())),
        }
    }

    pub fn provider_type(self) -> ProviderType {
        match self {
            Self::CloudflareFirewall(_) | Self::CloudflareMonitoring(_) => ProviderType::Cloudflare,
            Self::AwsFirewall(_) | Self::AwsMonitoring(_) => ProviderType::Aws,
            Self::GcpFirewall(_) | Self::GcpMonitoring(_) => ProviderType::Gcp,
        }
    }

    /// Maps the block into the neutral model, validating what the schema cannot.
    pub fn target(self) -> Result<Target, Error> {
        match self {
            Self::CloudflareFirewall(fw) => cloudflare::firewall_target(fw),
            Self::CloudflareMonitoring(mon) => cloudflare::monitoring_target(mon),
            Self::AwsFirewall(fw) => aws::firewall_target(fw),
            Self::AwsMonitoring(mon) => aws::monitoring_target(mon),
            Self::GcpFirewall(fw) => gcp::firewall_target(fw),
            Self::GcpMonitoring(mon) => gcp::monitoring_target(mon),
        }
        .map_err(|e| Error::InvalidSpec(e.0))
    }
}

/// What the operator's admin allows one account (see [`crate::trust`]); checked before the
/// client makes any request.
#[derive(Clone, Copy, Debug)]
pub struct Access<'a> {
    pub trust: &'a Trust,
    /// Who supplied the credential.
    pub principal: Principal,
}

/// Builds the client for a provider account. `credential` is `None` for `source: Ambient`.
/// Fails for provider types without a client yet, and for what `access` does not allow (an
/// endpoint that is not the provider's).
pub async fn connect(
    spec: &CloudProviderSpec,
    credential: Option<SecretString>,
    metrics: Option<Arc<Metrics>>,
    access: Access<'_>,
) -> Result<Arc<dyn Provider>, Error> {
    if let Some(endpoint) = &spec.endpoint {
        access
            .trust
            .check_endpoint(spec.provider_type, "spec.endpoint", endpoint)?;
    }
    // A region becomes part of a host name (`ec2.{region}.amazonaws.com`): the schema's rule,
    // again, for objects stored without it.
    for (i, region) in spec.regions.iter().flatten().enumerate() {
        let ok = region.len() <= 32
            && region.starts_with(|c: char| c.is_ascii_lowercase())
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(Error::InvalidSpec(format!(
                "spec.regions[{i}]: {:?} is not a region name",
                region.chars().take(40).collect::<String>()
            )));
        }
    }
    if credential.as_ref().is_some_and(SecretString::is_empty) {
        return Err(Error::CredentialsMissing("the credential is empty".into()));
    }
    match spec.provider_type {
        ProviderType::Cloudflare => {
            let token = credential
                .ok_or_else(|| Error::CredentialsMissing("Cloudflare needs an API token".into()))?;
            Ok(Arc::new(cloudflare::Cloudflare::new(spec, token, metrics)?))
        }
        ProviderType::Aws => Ok(Arc::new(
            aws::Aws::connect(spec, credential, metrics).await?,
        )),
        ProviderType::Gcp => Ok(Arc::new(
            gcp::Gcp::connect(spec, credential, metrics, access).await?,
        )),
        other => Err(Error::ProviderNotSupported(format!(
            "provider type {other} has no client in this version of Perimeter"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(provider_type: &str) -> CloudProviderSpec {
        serde_json::from_value(serde_json::json!({
            "type": provider_type, "accountId": "a", "credentials": {"secretRef": {"name": "s", "key": "k"}}
        }))
        .expect("spec")
    }

    #[tokio::test]
    async fn connect_reports_missing_credentials_and_unsupported_types_by_category() {
        let cases = [
            ("cloudflare", "token", None),
            (
                "cloudflare",
                "  ",
                Some(crate::Category::CredentialsMissing),
            ),
            (
                "vercel",
                "token",
                Some(crate::Category::ProviderNotSupported),
            ),
            ("vercel", "", Some(crate::Category::CredentialsMissing)),
        ];
        for (t, credential, want) in cases {
            let trust = Trust::default();
            let access = Access {
                trust: &trust,
                principal: Principal::Tenant,
            };
            let got = connect(&spec(t), Some(SecretString::new(credential)), None, access)
                .await
                .err()
                .map(|e| e.category());
            assert_eq!(got, want, "{t} with {credential:?}");
        }
    }
}
