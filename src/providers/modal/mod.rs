//! Modal: a compute provider with no public management API.
//!
//! Modal's SDKs speak an internal gRPC contract that changes often, and there is no REST API
//! for a workspace's settings: network controls (`block_network` on a Function or Sandbox, a
//! Sandbox's `outbound_cidr_allowlist` / `inbound_cidr_allowlist`, Proxies with static egress
//! IPs) live in application code and the workspace settings, and logs and metrics leave Modal
//! only through its Datadog and OpenTelemetry integrations. Perimeter does not build on the internal contract. So a
//! `CloudProvider` of type `modal` takes no credential and Perimeter never calls Modal: the
//! registry marks all three parts `AttestedOnly`, and only unexpired `ProviderFirewall`,
//! `ProviderMonitoring` and `ProviderAlerting` attestations naming the CloudProvider cover them
//! (shown as Attested, never Verified). Modal's Proxy IPs feed other providers' allowlists
//! through a declared `AddressSet` (examples/modal/).
//!
//! There is no policy block for it (`spec.modal` does not exist): nothing could be read.

#[cfg(feature = "demo")]
pub(crate) mod demo;

use async_trait::async_trait;

use super::registry::{Alerting, Boundary, Info, Monitoring};
use super::{ApplyError, Observation, Provider, Target};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::Change;
use crate::error::{Category, Error, ProviderError};

pub const INFO: Info = Info {
    firewall: Boundary::AttestedOnly(
        "Modal's network controls (block_network per Function or Sandbox, a Sandbox's outbound and inbound CIDR allowlists, Proxies with static egress IPs) are set in application code at creation and in the workspace settings, and no public API reads them (a running Sandbox does not even report its policy): attest what is in place",
    ),
    monitoring: Monitoring::AttestedOnly(
        "Modal's audit logs, function logs and container metrics leave Modal only through its Datadog or OpenTelemetry integration (workspace settings), which no public API shows: attest the integration and where the logs land",
    ),
    alerting: Alerting::AttestedOnly(
        "Modal has no alert channels of its own: alerts on its exported logs and metrics are routed by the system they are exported to (Datadog, an OpenTelemetry backend); attest which channel receives them",
    ),
    firewall_api: "none (Modal has no public management API)",
    monitoring_api: "none (Modal has no public management API)",
    finding_codes: &[],
};

/// What a modal CloudProvider's `Ready` condition says.
pub const READY_MESSAGE: &str = "Modal has no public management API: Perimeter calls nothing and \
     holds no credential for it; its firewall, monitoring and alerting count only through \
     unexpired ProviderFirewall, ProviderMonitoring and ProviderAlerting attestations naming \
     this provider";

/// The "client" of a provider without an API: it answers `verify` with what covers the
/// account instead, and refuses every read (no policy block can reach it).
pub struct NoApi {
    provider_type: ProviderType,
    message: &'static str,
}

impl NoApi {
    /// Refuses, naming the field, what a stored object (written past the schema) sets but
    /// could never be used: the schema's rule, again.
    pub fn new(spec: &CloudProviderSpec, message: &'static str) -> Result<Self, Error> {
        let t = spec.provider_type;
        let given = [
            ("spec.credentials", !spec.credentials.is_unset()),
            ("spec.endpoint", spec.endpoint.is_some()),
            ("spec.rateLimit", spec.rate_limit.is_some()),
            ("spec.regions", spec.regions.is_some()),
            (
                "spec.requestTimeoutSeconds",
                spec.request_timeout_seconds.is_some(),
            ),
        ];
        if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
            return Err(Error::InvalidSpec(format!(
                "{field}: a {t} provider has no API, so it takes only type and accountId"
            )));
        }
        Ok(Self {
            provider_type: t,
            message,
        })
    }

    fn refuse(&self, op: &'static str) -> ProviderError {
        ProviderError::new(
            Category::ProviderNotSupported,
            op,
            format!(
                "{} has no public management API: nothing can be read or written",
                self.provider_type
            ),
        )
    }
}

#[async_trait]
impl Provider for NoApi {
    fn provider_type(&self) -> ProviderType {
        self.provider_type
    }

    async fn verify(&self) -> Result<String, ProviderError> {
        Ok(self.message.to_string())
    }

    async fn observe(&self, _target: &Target) -> Result<Observation, ProviderError> {
        Err(self.refuse("observe"))
    }

    async fn apply(
        &self,
        _target: &Target,
        _observed: &Observation,
        _plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        Err(ApplyError {
            applied: Vec::new(),
            error: self.refuse("apply"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: serde_json::Value) -> CloudProviderSpec {
        let mut v = serde_json::json!({"type": "modal", "accountId": "acme"});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::from_value(v).expect("spec")
    }

    #[tokio::test]
    async fn verify_says_what_covers_it_and_reads_are_refused() {
        let client = NoApi::new(&spec(serde_json::json!({})), READY_MESSAGE).expect("client");
        assert_eq!(client.verify().await.expect("verify"), READY_MESSAGE);
        let e = client
            .observe(&Target::default())
            .await
            .expect_err("no reads");
        assert_eq!(e.category, Category::ProviderNotSupported);
        let e = client
            .apply(&Target::default(), &Observation::default(), &[])
            .await
            .expect_err("no writes");
        assert!(e.applied.is_empty());
    }

    /// A stored object that bypassed the schema gets the schema's answer, naming the field.
    #[test]
    fn anything_but_type_and_account_is_refused_by_field() {
        let cases = [
            (
                serde_json::json!({"credentials": {"secretRef": {"name": "s", "key": "k"}}}),
                "spec.credentials",
            ),
            (
                serde_json::json!({"credentials": {"source": "Ambient"}}),
                "spec.credentials",
            ),
            (
                serde_json::json!({"endpoint": "https://api.modal.com"}),
                "spec.endpoint",
            ),
            (
                serde_json::json!({"rateLimit": {"requestsPerMinute": 1}}),
                "spec.rateLimit",
            ),
            (serde_json::json!({"regions": ["us-east"]}), "spec.regions"),
            (
                serde_json::json!({"requestTimeoutSeconds": 5}),
                "spec.requestTimeoutSeconds",
            ),
        ];
        for (extra, field) in cases {
            let e = NoApi::new(&spec(extra.clone()), READY_MESSAGE)
                .err()
                .unwrap_or_else(|| panic!("{extra} accepted"));
            assert!(e.to_string().contains(field), "{extra}: {e}");
        }
    }
}
