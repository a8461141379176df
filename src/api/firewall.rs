//! `FirewallPolicy`: the firewall state one provider account must have.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::aws::AwsFirewall;
use super::cloudflare::CloudflareFirewall;
use super::common::{PolicyControls, PolicyStatus};
use super::gcp::GcpFirewall;

/// Declared firewall state (WAF and rate-limit rules, IP access rules, security settings)
/// for one provider account, observed or enforced.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "perimeter.dev",
    version = "v1alpha1",
    kind = "FirewallPolicy",
    namespaced,
    status = "PolicyStatus",
    shortname = "fwp",
    category = "perimeter",
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.providerRef.name"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"InSync","type":"string","jsonPath":".status.conditions[?(@.type==\"InSync\")].status"}"#,
    printcolumn = r#"{"name":"Drift","type":"integer","jsonPath":".status.driftCount"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("[has(self.cloudflare), has(self.aws), has(self.gcp)].filter(b, b).size() == 1").message("exactly one provider block (spec.cloudflare, spec.aws or spec.gcp) must be set").reason(Reason::FieldValueRequired))]
#[serde(rename_all = "camelCase")]
pub struct FirewallPolicySpec {
    #[serde(flatten)]
    pub controls: PolicyControls,
    /// Cloudflare zone firewall: WAF custom rules, rate limiting, IP access rules, settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudflare: Option<CloudflareFirewall>,
    /// AWS (one region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsFirewall>,
    /// GCP (the CloudProvider's project).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<GcpFirewall>,
}
