//! `MonitoringPolicy`: the network monitoring one provider account must have.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::aws::AwsMonitoring;
use super::cloudflare::CloudflareMonitoring;
use super::common::{PolicyControls, PolicyStatus};
use super::gcp::GcpMonitoring;

/// Declared monitoring state (log pipelines, alert policies) for one provider account,
/// observed or enforced.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "perimeter.dev",
    version = "v1alpha1",
    kind = "MonitoringPolicy",
    namespaced,
    status = "PolicyStatus",
    shortname = "monp",
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
pub struct MonitoringPolicySpec {
    #[serde(flatten)]
    pub controls: PolicyControls,
    /// Cloudflare notification policies and Logpush jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudflare: Option<CloudflareMonitoring>,
    /// AWS (one region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsMonitoring>,
    /// GCP (the CloudProvider's project).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<GcpMonitoring>,
}

impl MonitoringPolicySpec {
    /// Declared alert rules that notify somebody: Cloudflare notification policies (each has a
    /// mechanism), GCP alert policies with notification channels, AWS alarms with actions.
    /// Disabled ones do not count.
    pub fn alert_routes(&self) -> usize {
        let cloudflare = self.cloudflare.as_ref().map_or(0, |c| {
            c.notification_policies
                .as_deref()
                .map_or(0, |p| p.iter().filter(|p| p.enabled != Some(false)).count())
        });
        let gcp = self.gcp.as_ref().map_or(0, |g| {
            g.alert_policies.as_deref().map_or(0, |p| {
                p.iter()
                    .filter(|p| p.enabled != Some(false))
                    .filter(|p| {
                        p.notification_channels
                            .as_ref()
                            .is_some_and(|c| !c.is_empty())
                    })
                    .count()
            })
        });
        let aws = self.aws.as_ref().map_or(0, |a| {
            a.cloud_watch_alarms.as_deref().map_or(0, |alarms| {
                alarms
                    .iter()
                    .filter(|a| a.alarm_actions.as_ref().is_some_and(|x| !x.is_empty()))
                    .count()
            })
        });
        cloudflare + gcp + aws
    }
}
