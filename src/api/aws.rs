//! The AWS blocks of `FirewallPolicy` and `MonitoringPolicy`.
//! (Being built: security groups, network ACLs, WAFv2; flow logs, GuardDuty, CloudWatch alarms.)

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// AWS firewall state in one region.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsFirewall {
    /// Region, e.g. `eu-west-1`.
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"))]
    pub region: String,
}

/// AWS network monitoring in one region.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsMonitoring {
    /// Region, e.g. `eu-west-1`.
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"))]
    pub region: String,
}
