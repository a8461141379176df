//! One module per provider, all behind the [`Provider`] trait. The controller, `check` and
//! `demo` only ever see this trait; each module owns its API shapes, auth and quirks, and
//! calls its API through the shared [`crate::http`] layer.

pub mod aws;
pub mod cloudflare;
pub mod fake;
pub mod gcp;
pub mod registry;

pub use registry::{Declared, Kit};

use std::sync::Arc;

use async_trait::async_trait;

use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::{Change, State};
use crate::error::{Error, ProviderError};
use crate::metrics::Metrics;
use crate::secret::SecretString;
use crate::trust::{Principal, Trust};

/// Whether a target is a policy's firewall or its monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Purpose {
    #[default]
    Firewall,
    Monitoring,
}

/// What a policy declares at one provider, mapped into the neutral model.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// Set once, from the policy's kind ([`Declared::target`]); providers read it instead of
    /// guessing from section names.
    pub purpose: Purpose,
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
    match registry::connect_registered(spec, credential, metrics, access).await {
        Some(client) => client,
        None => Err(Error::ProviderNotSupported(format!(
            "provider type {} has no client in this version of Perimeter",
            spec.provider_type
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
