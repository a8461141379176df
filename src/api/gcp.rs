//! The GCP blocks of `FirewallPolicy` and `MonitoringPolicy` (project from the CloudProvider's
//! `accountId`). (Being built: VPC firewall rules, Cloud Armor; flow logs, alert policies,
//! uptime checks.)

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// GCP firewall state of one VPC network.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpFirewall {
    /// VPC network name, e.g. `default`.
    #[schemars(regex(pattern = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"))]
    pub network: String,
}

/// GCP network monitoring of one project.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpMonitoring {
    /// Regions whose subnets are checked for flow logs.
    #[serde(default)]
    pub regions: Vec<String>,
}
